/* The C loader's verdict on every blob of a corpus: a test tool (tests/test_cloader.py).
 *
 *   atalla_verdicts CORPUS   CORPUS: blobs, each a little-endian u32 byte count then the bytes
 *
 * Prints one line per blob: the atalla_load_error code, a tab, the message with backslash and
 * newline escaped (\\, \n). Built with AddressSanitizer and UBSan by the test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atalla_runtime.h"

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
        putchar('\n');
        atalla_program_free(program);
        free(blob);
    }
    fclose(f);
    return 0;
}
