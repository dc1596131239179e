/* The Atalla C runtime: load a blob (validated exactly as runtime/loader.py does), run it on the C
 * functional model (bit-exact with runtime/emulator), with system services behind a firmware table.
 *
 *   atalla_load      blob bytes -> program, or an atalla_load_error code and the loader's message
 *   atalla_machine   DRAM and scratchpad of one run; atalla_execute writes the inputs, runs the
 *                    commands, reads the outputs (fp32 buffers the caller owns)
 *   atalla_firmware  the mailbox: one request callback serving ALLOC, FREE, DMA and HOST, so the
 *                    Python firmware (through ctypes) or a C firmware (atalla_c_firmware) plugs in
 *
 * Constants and records come from the generated include/atalla_abi.h (atalla/codegen.py).
 */
#ifndef ATALLA_RUNTIME_H
#define ATALLA_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "atalla_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ATALLA_MESSAGE_BYTES 1024 /* room for any loader, run or firmware message */

/* ---- Loading ---- */

typedef struct atalla_program atalla_program;

/* Validate and parse a blob. expect: refuse a blob compiled for another config (NULL: any).
 * Returns ATALLA_LOAD_OK and *out, or the failure class with the message in message[]. */
int atalla_load(const uint8_t *data, size_t size, const struct atalla_hw_config *expect, atalla_program **out,
                char *message, size_t message_size);
void atalla_program_free(atalla_program *program);

const struct atalla_hw_config *atalla_program_config(const atalla_program *program);
uint32_t atalla_program_num_tensors(const atalla_program *program);
const struct atalla_blob_tensor *atalla_program_tensor(const atalla_program *program, uint32_t index);
const char *atalla_program_tensor_name(const atalla_program *program, uint32_t index); /* NUL-terminated */
uint32_t atalla_program_num_commands(const atalla_program *program);
uint32_t atalla_program_num_host_ops(const atalla_program *program);
/* Tensors of a role in table order: the order execute takes inputs and gives outputs. */
uint32_t atalla_program_count_role(const atalla_program *program, uint32_t role);
uint64_t atalla_tensor_numel(const struct atalla_blob_tensor *tensor);

/* ---- Firmware ---- */

/* Serve one mailbox request: call is an atalla_mailbox_call, words its ATALLA_MAILBOX_MAX_ARGS argument
 * words (as many used as the call has arguments). Returns an atalla_status; *value is ALLOC's address.
 * On a status other than OK the firmware writes why into message[]. */
typedef uint32_t (*atalla_request_fn)(void *ctx, uint32_t call, const uint32_t *words, uint32_t *value,
                                      char *message, size_t message_size);

typedef struct atalla_firmware {
    void *ctx;
    atalla_request_fn request;
} atalla_firmware;

/* ---- Running ---- */

typedef struct atalla_machine atalla_machine;

atalla_machine *atalla_machine_new(const atalla_program *program); /* NULL if out of host memory */
void atalla_machine_free(atalla_machine *machine);
const atalla_program *atalla_machine_program(const atalla_machine *machine);
/* Config dram_bytes. The caller may read it, and write tensors' bytes (below dram_bytes_used) only: the
 * next run zeroes what the last one could have written, not all of DRAM. */
uint8_t *atalla_machine_dram(atalla_machine *machine);
uint8_t *atalla_machine_scratchpad(atalla_machine *machine); /* config sp_bytes */

/* Zero DRAM and the scratchpad, place constants and the command stream, write the inputs (one buffer
 * per input tensor in table order, numel elements each: fp32 for a BF16 tensor, rounded to bf16; int32
 * row ids for an INT32 one, each checked against its index_bound), run to END, and widen the outputs
 * (BF16) into outputs[]. Returns ATALLA_RUN_OK or the failure class; atalla_machine_message says what
 * went wrong in the emulator's words ("command 12 (VEC.ADD): ..."). */
int atalla_execute(atalla_machine *machine, const atalla_firmware *firmware, const void *const *inputs,
                   float *const *outputs);
const char *atalla_machine_message(const atalla_machine *machine);
int64_t atalla_machine_fault_index(const atalla_machine *machine); /* the failing command, -1 if none */
uint32_t atalla_machine_fault_status(const atalla_machine *machine); /* the firmware's status of a FIRMWARE fault */
/* Commands executed in the last run, by opcode and (VEC) function; func 0 for the others. */
uint64_t atalla_machine_command_count(const atalla_machine *machine, uint32_t opcode, uint32_t func);

/* The DMA engine: one validated transfer (DMA mailbox argument words), done at once. */
void atalla_dma_transfer(atalla_machine *machine, const uint32_t *args);

/* ---- A C firmware: the allocator and DMA rules of firmware/ in C; HOST goes to a delegate ---- */

typedef struct atalla_c_firmware atalla_c_firmware;

/* sp_capacity: bytes the allocator manages (the config's sp_bytes, or less to inject faults).
 * host: serves HOST calls (NULL: HOST is refused with HOST_FAILED). */
atalla_c_firmware *atalla_c_firmware_new(atalla_machine *machine, uint64_t sp_capacity,
                                         const atalla_firmware *host);
void atalla_c_firmware_free(atalla_c_firmware *firmware);
atalla_firmware atalla_c_firmware_table(atalla_c_firmware *firmware);
void atalla_c_firmware_reset(atalla_c_firmware *firmware); /* a fresh allocator and an empty log */
uint64_t atalla_c_firmware_peak_bytes(const atalla_c_firmware *firmware);
/* The call log: kind, argument count and words, status, value, message. */
uint32_t atalla_c_firmware_log_size(const atalla_c_firmware *firmware);
uint32_t atalla_c_firmware_log_entry(const atalla_c_firmware *firmware, uint32_t index, uint32_t *args,
                                     uint32_t *nargs, uint32_t *status, uint32_t *value, const char **message);

#ifdef __cplusplus
}
#endif

#endif /* ATALLA_RUNTIME_H */
