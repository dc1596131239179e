/* A loaded program as the C runtime holds it (internal to runtime/c): a copy of what the blob holds,
 * validated by atalla_load, owned by the program. */
#ifndef ATALLA_PROGRAM_H
#define ATALLA_PROGRAM_H

#include "atalla_runtime.h"

struct atalla_program {
    struct atalla_hw_config config;
    uint32_t num_tensors;
    struct atalla_blob_tensor *tensors;
    char **names; /* NUL-terminated UTF-8 */
    uint8_t *constants;
    size_t constants_size;
    uint32_t num_commands;
    atalla_command *commands;
    uint32_t num_host_ops;
    uint32_t program_dram_offset;
    uint32_t dram_bytes_used;
};

#endif /* ATALLA_PROGRAM_H */
