/* A blob run from C alone: load it with the C loader, run it on the C model with the C firmware
 * (allocator and DMA; HOST refused), write the outputs.
 *
 *   atalla_example BLOB INPUTS OUTPUTS
 *
 * INPUTS: the input tensors' values, 4-byte little-endian (fp32; int32 for row ids), in the blob's input
 * order, one after the other; OUTPUTS gets the (fp32) outputs the same way. Exit status 0 on success, 1 if the blob is refused or
 * the run faults (one line on stderr says why), 2 on bad usage or files.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atalla_runtime.h"

static uint8_t *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = malloc(n > 0 ? (size_t)n : 1);
    if (data && fread(data, 1, (size_t)n, f) != (size_t)n) free(data), data = NULL;
    fclose(f);
    *size = (size_t)n;
    return data;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s BLOB INPUTS OUTPUTS\n", argv[0]);
        return 2;
    }
    size_t blob_size, input_size;
    uint8_t *blob = read_file(argv[1], &blob_size), *input_bytes = read_file(argv[2], &input_size);
    if (!blob || !input_bytes) {
        fprintf(stderr, "atalla_example: cannot read %s\n", blob ? argv[2] : argv[1]);
        free(blob), free(input_bytes);
        return 2;
    }
    char message[ATALLA_MESSAGE_BYTES];
    atalla_program *program;
    if (atalla_load(blob, blob_size, NULL, &program, message, sizeof message) != ATALLA_LOAD_OK) {
        fprintf(stderr, "atalla_example: %s: %s\n", argv[1], message);
        free(blob), free(input_bytes);
        return 1;
    }
    const uint32_t n_in = atalla_program_count_role(program, ATALLA_ROLE_INPUT);
    const uint32_t n_out = atalla_program_count_role(program, ATALLA_ROLE_OUTPUT);
    const void **inputs = calloc(n_in + 1, sizeof *inputs);
    float **outputs = calloc(n_out + 1, sizeof *outputs);
    size_t in_elems = 0, out_elems = 0;
    for (uint32_t i = 0; i < atalla_program_num_tensors(program); i++) {
        const struct atalla_blob_tensor *t = atalla_program_tensor(program, i);
        if (t->role == ATALLA_ROLE_INPUT) in_elems += atalla_tensor_numel(t);
        if (t->role == ATALLA_ROLE_OUTPUT) out_elems += atalla_tensor_numel(t);
    }
    if (input_size != in_elems * sizeof(float)) {
        fprintf(stderr, "atalla_example: %s holds %zu bytes; the blob's %u inputs take %zu fp32 values (%zu bytes)\n",
                argv[2], input_size, n_in, in_elems, in_elems * sizeof(float));
        free(inputs), free(outputs), free(blob), free(input_bytes);
        atalla_program_free(program);
        return 2;
    }
    float *input_values = malloc(input_size + 1), *output_values = malloc(out_elems * sizeof(float) + 1);
    if (!inputs || !outputs || !input_values || !output_values) {
        fprintf(stderr, "atalla_example: out of memory for the tensors\n");
        return 2;
    }
    memcpy(input_values, input_bytes, input_size);
    size_t in_at = 0, out_at = 0;
    uint32_t in_i = 0, out_i = 0;
    for (uint32_t i = 0; i < atalla_program_num_tensors(program); i++) {
        const struct atalla_blob_tensor *t = atalla_program_tensor(program, i);
        if (t->role == ATALLA_ROLE_INPUT) inputs[in_i++] = input_values + in_at, in_at += atalla_tensor_numel(t);
        if (t->role == ATALLA_ROLE_OUTPUT) outputs[out_i++] = output_values + out_at, out_at += atalla_tensor_numel(t);
    }

    atalla_machine *machine = atalla_machine_new(program);
    atalla_c_firmware *fw = machine ? atalla_c_firmware_new(machine, atalla_program_config(program)->sp_bytes, NULL) : NULL;
    int status = 0;
    if (!fw) {
        fprintf(stderr, "atalla_example: out of memory for the machine\n");
        status = 2;
    } else {
        const atalla_firmware table = atalla_c_firmware_table(fw);
        if (atalla_execute(machine, &table, inputs, outputs) != ATALLA_RUN_OK) {
            fprintf(stderr, "atalla_example: %s: %s\n", argv[1], atalla_machine_message(machine));
            status = 1;
        } else {
            FILE *out = fopen(argv[3], "wb");
            int written = out && fwrite(output_values, sizeof(float), out_elems, out) == out_elems;
            if ((out && fclose(out) != 0) || !written) {
                fprintf(stderr, "atalla_example: cannot write %s\n", argv[3]);
                status = 2;
            } else {
                printf("%s: %u commands, %u firmware calls, %u outputs (%zu values) written to %s\n", argv[1],
                       atalla_program_num_commands(program), atalla_c_firmware_log_size(fw), n_out, out_elems, argv[3]);
            }
        }
    }
    atalla_c_firmware_free(fw);
    atalla_machine_free(machine);
    atalla_program_free(program);
    free(inputs), free(outputs), free(input_values), free(output_values), free(blob), free(input_bytes);
    return status;
}
