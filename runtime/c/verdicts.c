/* The C loader's verdict on every blob of a corpus: a test tool (tests/test_cloader.py).
 *
 *   atalla_verdicts CORPUS   CORPUS: blobs, each a little-endian u32 byte count then the bytes
 *
 * Prints one line per blob: the atalla_load_error code, a tab, the message with backslash and
 * newline escaped (\\, \n), a tab, and for a blob that loads the atalla_run_failure of a run on the
 * C model with zero inputs and the C firmware (which refuses host ops), else -1. Built with
 * AddressSanitizer and UBSan by the test, so the loader and the C model run under both.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atalla_runtime.h"

/* A run with every input zero; the failure class, or -2 if the machine could not be allocated. */
static int run_zeros(const atalla_program *program) {
    const uint32_t n = atalla_program_num_tensors(program);
    float **buffers = calloc(n + 1, sizeof *buffers);
    const void **inputs = calloc(n + 1, sizeof *inputs);
    float **outputs = calloc(n + 1, sizeof *outputs);
    atalla_machine *machine = atalla_machine_new(program);
    atalla_c_firmware *fw = machine ? atalla_c_firmware_new(machine, atalla_program_config(program)->sp_bytes, NULL) : NULL;
    int rc = -2;
    uint32_t in = 0, out = 0, ok = buffers && inputs && outputs && fw;
    for (uint32_t i = 0; i < n && ok; i++) {
        const struct atalla_blob_tensor *t = atalla_program_tensor(program, i);
        if (t->role != ATALLA_ROLE_INPUT && t->role != ATALLA_ROLE_OUTPUT) continue;
        ok = (buffers[i] = calloc(atalla_tensor_numel(t) + 1, sizeof(float))) != NULL;
        if (t->role == ATALLA_ROLE_INPUT) inputs[in++] = buffers[i];
        else outputs[out++] = buffers[i];
    }
    if (ok) {
        const atalla_firmware table = atalla_c_firmware_table(fw);
        rc = atalla_execute(machine, &table, inputs, outputs);
    }
    for (uint32_t i = 0; buffers && i < n; i++) free(buffers[i]);
    free(buffers), free(inputs), free(outputs);
    atalla_c_firmware_free(fw);
    atalla_machine_free(machine);
    return rc;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    uint8_t size_bytes[4];
    char message[ATALLA_MESSAGE_BYTES];
    while (fread(size_bytes, 1, 4, f) == 4) {
        const size_t size = (size_t)size_bytes[0] | (size_t)size_bytes[1] << 8 | (size_t)size_bytes[2] << 16
                            | (size_t)size_bytes[3] << 24;
        uint8_t *blob = malloc(size ? size : 1); /* a blob of its exact size: ASan sees any read past it */
        if (!blob || fread(blob, 1, size, f) != size) {
            fprintf(stderr, "%s: truncated corpus\n", argv[1]);
            return 2;
        }
        atalla_program *program = NULL;
        const int code = atalla_load(blob, size, NULL, &program, message, sizeof message);
        printf("%d\t", code);
        for (const char *c = message; *c; c++) {
            if (*c == '\\') fputs("\\\\", stdout);
            else if (*c == '\n') fputs("\\n", stdout);
            else putchar(*c);
        }
        printf("\t%d\n", program ? run_zeros(program) : -1);
        atalla_program_free(program);
        free(blob);
    }
    fclose(f);
    return 0;
}
