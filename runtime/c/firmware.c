/* A C firmware for the C model: the scratchpad allocator of atalla/allocator.py (page-granular,
 * first-fit over contiguous free pages) and the DMA rules of firmware/dma.py (GATHER too), with the same messages,
 * so its call log equals the Python firmware's (tests/test_cmodel.py checks it on every zoo model).
 * HOST calls go to a delegate (the Python firmware, which runs ATen ops) or are refused.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "program.h"

typedef struct {
    uint64_t first, end; /* free pages [first, end) */
} page_run;

typedef struct {
    uint64_t addr, size;
    uint32_t handle; /* the owner, "handle N" */
} live_buffer;

typedef struct {
    uint32_t kind, nargs, status, value;
    uint32_t args[ATALLA_MAILBOX_MAX_ARGS];
    char *message; /* NULL on success */
} call_record;

struct atalla_c_firmware {
    atalla_machine *machine;
    const struct atalla_hw_config *cfg;
    const atalla_firmware *host;
    uint64_t page_bytes, capacity_bytes, used_bytes, peak_bytes;
    page_run *runs;
    uint64_t num_runs;
    live_buffer *live; /* in allocation order */
    uint64_t num_live, max_buffers;
    call_record *log;
    uint32_t log_size, log_capacity;
};

typedef __int128 wide;

static uint32_t refuse(char *message, size_t size, uint32_t status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, size, fmt, ap);
    va_end(ap);
    return status;
}

atalla_c_firmware *atalla_c_firmware_new(atalla_machine *machine, uint64_t sp_capacity, const atalla_firmware *host) {
    atalla_c_firmware *fw = calloc(1, sizeof *fw);
    if (!fw) return NULL;
    fw->machine = machine;
    fw->cfg = atalla_program_config(atalla_machine_program(machine));
    fw->host = host;
    fw->page_bytes = fw->cfg->sp_page_bytes;
    fw->capacity_bytes = sp_capacity / fw->page_bytes * fw->page_bytes; /* floored to whole pages */
    fw->max_buffers = fw->capacity_bytes / fw->page_bytes + 1;
    fw->runs = calloc(fw->max_buffers + 1, sizeof *fw->runs);
    fw->live = calloc(fw->max_buffers, sizeof *fw->live);
    if (!fw->runs || !fw->live) {
        atalla_c_firmware_free(fw);
        return NULL;
    }
    atalla_c_firmware_reset(fw);
    return fw;
}

void atalla_c_firmware_reset(atalla_c_firmware *fw) {
    const uint64_t pages = fw->capacity_bytes / fw->page_bytes;
    fw->num_runs = pages ? 1 : 0;
    fw->runs[0] = (page_run){0, pages};
    fw->num_live = 0;
    fw->used_bytes = fw->peak_bytes = 0;
    for (uint32_t i = 0; i < fw->log_size; i++) free(fw->log[i].message);
    fw->log_size = 0;
}

void atalla_c_firmware_free(atalla_c_firmware *fw) {
    if (!fw) return;
    for (uint32_t i = 0; i < fw->log_size; i++) free(fw->log[i].message);
    free(fw->log);
    free(fw->runs);
    free(fw->live);
    free(fw);
}

uint64_t atalla_c_firmware_peak_bytes(const atalla_c_firmware *fw) { return fw->peak_bytes; }
uint32_t atalla_c_firmware_log_size(const atalla_c_firmware *fw) { return fw->log_size; }

uint32_t atalla_c_firmware_log_entry(const atalla_c_firmware *fw, uint32_t index, uint32_t *args, uint32_t *nargs,
                                     uint32_t *status, uint32_t *value, const char **message) {
    const call_record *r = &fw->log[index];
    memcpy(args, r->args, sizeof r->args);
    *nargs = r->nargs, *status = r->status, *value = r->value;
    *message = r->message ? r->message : "";
    return r->kind;
}

/* ---- the allocator (atalla/allocator.py) ---- */

static uint32_t alloc(atalla_c_firmware *fw, uint32_t handle, uint32_t nbytes, uint32_t *addr, char *msg, size_t size) {
    if (nbytes == 0)
        return refuse(msg, size, ATALLA_STATUS_BAD_CALL, "scratchpad alloc by handle %u: asked 0 bytes; must be positive",
                      handle);
    const uint64_t pages = (nbytes + fw->page_bytes - 1) / fw->page_bytes;
    uint64_t i = 0;
    while (i < fw->num_runs && fw->runs[i].end - fw->runs[i].first < pages) i++;
    if (i == fw->num_runs) {
        uint64_t largest = 0;
        for (uint64_t j = 0; j < fw->num_runs; j++)
            if (fw->runs[j].end - fw->runs[j].first > largest) largest = fw->runs[j].end - fw->runs[j].first;
        return refuse(msg, size, ATALLA_STATUS_OUT_OF_MEMORY,
                      "scratchpad out of memory: handle %u asked %u bytes; %llu of %llu bytes free, largest free run "
                      "%llu bytes", handle, nbytes, (unsigned long long)(fw->capacity_bytes - fw->used_bytes),
                      (unsigned long long)fw->capacity_bytes, (unsigned long long)(largest * fw->page_bytes));
    }
    const uint64_t first = fw->runs[i].first;
    if (fw->runs[i].end - first == pages) {
        memmove(&fw->runs[i], &fw->runs[i + 1], (fw->num_runs - i - 1) * sizeof *fw->runs);
        fw->num_runs--;
    } else {
        fw->runs[i].first = first + pages;
    }
    const uint64_t bytes = pages * fw->page_bytes;
    fw->live[fw->num_live++] = (live_buffer){first * fw->page_bytes, bytes, handle};
    fw->used_bytes += bytes;
    if (fw->used_bytes > fw->peak_bytes) fw->peak_bytes = fw->used_bytes;
    *addr = (uint32_t)(first * fw->page_bytes);
    return ATALLA_STATUS_OK;
}

static uint32_t free_buffer(atalla_c_firmware *fw, uint32_t handle, uint32_t addr, char *msg, size_t size) {
    uint64_t i = 0;
    while (i < fw->num_live && fw->live[i].addr != addr) i++;
    if (i == fw->num_live)
        return refuse(msg, size, ATALLA_STATUS_BAD_FREE, "free of 0x%x by handle %u: not an allocated buffer (double free?)",
                      addr, handle);
    const live_buffer b = fw->live[i];
    if (b.handle != handle)
        return refuse(msg, size, ATALLA_STATUS_BAD_FREE, "free of 0x%x by handle %u: the buffer belongs to handle %u",
                      addr, handle, b.handle);
    memmove(&fw->live[i], &fw->live[i + 1], (fw->num_live - i - 1) * sizeof *fw->live);
    fw->num_live--;
    fw->used_bytes -= b.size;
    const uint64_t first = b.addr / fw->page_bytes, end = first + b.size / fw->page_bytes;
    uint64_t j = 0;
    while (j < fw->num_runs && fw->runs[j].first < first) j++; /* the first free run after the buffer */
    if (j < fw->num_runs && fw->runs[j].first == end) {
        fw->runs[j].first = first;
    } else {
        memmove(&fw->runs[j + 1], &fw->runs[j], (fw->num_runs - j) * sizeof *fw->runs);
        fw->runs[j] = (page_run){first, end};
        fw->num_runs++;
    }
    if (j > 0 && fw->runs[j - 1].end == first) {
        fw->runs[j - 1].end = fw->runs[j].end;
        memmove(&fw->runs[j], &fw->runs[j + 1], (fw->num_runs - j - 1) * sizeof *fw->runs);
        fw->num_runs--;
    }
    return ATALLA_STATUS_OK;
}

/* ---- the DMA rules (firmware/dma.py) ---- */

static void hex_wide(char *buf, size_t size, wide v) { /* Python's f"{v:#x}" of a non-negative integer */
    char digits[40];
    int n = 0;
    unsigned __int128 u = (unsigned __int128)v;
    do {
        digits[n++] = "0123456789abcdef"[(int)(u & 15)];
        u >>= 4;
    } while (u);
    size_t at = (size_t)snprintf(buf, size, "0x");
    while (n && at + 1 < size) buf[at++] = digits[--n];
    buf[at] = 0;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Whether the block's elements are distinct DRAM elements (firmware.dma.distinct_elements). */
static int distinct_elements(const uint32_t *a) {
    const uint64_t rows = a[ATALLA_DMA_ARG_ROWS], cols = a[ATALLA_DMA_ARG_COLS];
    const uint64_t rs = a[ATALLA_DMA_ARG_ROW_STRIDE], cs = a[ATALLA_DMA_ARG_COL_STRIDE];
    if (rows == 1 || cols == 1) return (cols == 1 || cs > 0) && (rows == 1 || rs > 0);
    if ((cs > 0 && rs >= cols * cs) || (rs > 0 && cs >= rows * rs)) return 1;
    int64_t *elems = malloc(rows * cols * sizeof *elems);
    if (!elems) return 0;
    size_t n = 0;
    for (uint64_t r = 0; r < rows; r++)
        for (uint64_t c = 0; c < cols; c++) elems[n++] = (int64_t)(r * rs + c * cs);
    qsort(elems, n, sizeof *elems, cmp_i64);
    int distinct = 1;
    for (size_t i = 1; i < n && distinct; i++) distinct = elems[i] != elems[i - 1];
    free(elems);
    return distinct;
}

/* Python's f"{v:#x}" of any integer (a negative one as -0x...). */
static void hex_signed(char *buf, size_t size, int64_t v) {
    if (v < 0) snprintf(buf, size, "-0x%llx", (unsigned long long)-(uint64_t)v);
    else snprintf(buf, size, "0x%llx", (unsigned long long)v);
}

/* A GATHER's row ids: aligned, inside DRAM, and every table row they name inside DRAM (firmware/dma.py
 * _validate_gather). why[] stays empty if they are. */
static void gather_problem(atalla_c_firmware *fw, const uint32_t *a, char *why, size_t size) {
    const struct atalla_hw_config *cfg = fw->cfg;
    const uint64_t lo = a[ATALLA_DMA_ARG_COL_STRIDE], hi = lo + (uint64_t)ATALLA_INDEX_BYTES * a[ATALLA_DMA_ARG_ROWS] - 1;
    if (lo % ATALLA_INDEX_BYTES) {
        snprintf(why, size, "row ids at 0x%llx are not %d-byte aligned", (unsigned long long)lo, ATALLA_INDEX_BYTES);
        return;
    }
    if (hi >= cfg->dram_bytes) {
        snprintf(why, size, "row ids [0x%llx, 0x%llx] are outside DRAM of 0x%x bytes", (unsigned long long)lo,
                 (unsigned long long)hi, cfg->dram_bytes);
        return;
    }
    const uint8_t *dram = atalla_machine_dram(fw->machine);
    const int64_t row_bytes = (int64_t)ATALLA_BF16_BYTES * a[ATALLA_DMA_ARG_COLS];
    for (uint32_t r = 0; r < a[ATALLA_DMA_ARG_ROWS]; r++) {
        int32_t id;
        memcpy(&id, dram + lo + (uint64_t)ATALLA_INDEX_BYTES * r, sizeof id);
        const int64_t start = (int64_t)a[ATALLA_DMA_ARG_DRAM_ADDR] + (int64_t)ATALLA_BF16_BYTES * id * a[ATALLA_DMA_ARG_ROW_STRIDE];
        if (id < 0 || start + row_bytes > (int64_t)cfg->dram_bytes) {
            char from[32], to[32];
            hex_signed(from, sizeof from, start), hex_signed(to, sizeof to, start + row_bytes - 1);
            snprintf(why, size, "row id %d (row %u) reads [%s, %s], outside DRAM of 0x%x bytes", id, r, from, to,
                     cfg->dram_bytes);
            return;
        }
    }
}

static uint32_t dma(atalla_c_firmware *fw, const uint32_t *a, char *msg, size_t size) {
    const struct atalla_hw_config *cfg = fw->cfg;
    const uint32_t direction = a[ATALLA_DMA_ARG_DIRECTION], sp_addr = a[ATALLA_DMA_ARG_SP_ADDR];
    const uint32_t dram_addr = a[ATALLA_DMA_ARG_DRAM_ADDR], rows = a[ATALLA_DMA_ARG_ROWS], cols = a[ATALLA_DMA_ARG_COLS];
    const uint32_t rs = a[ATALLA_DMA_ARG_ROW_STRIDE], cs = a[ATALLA_DMA_ARG_COL_STRIDE], ticket = a[ATALLA_DMA_ARG_TICKET];
    if (!atalla_dma_direction_name(direction))
        return refuse(msg, size, ATALLA_STATUS_BAD_CALL, "DMA direction %u is not one of LOAD, STORE, GATHER", direction);
    const int gather = direction == ATALLA_DMA_DIR_GATHER;
    char desc[256], where[96], why[512], lo_text[48], hi_text[48];
    if (gather) snprintf(where, sizeof where, "ids=0x%08x row_stride=%u", cs, rs);
    else snprintf(where, sizeof where, "stride=(%u,%u)", rs, cs);
    snprintf(desc, sizeof desc, "DMA %s sp=0x%04x dram=0x%08x rows=%u cols=%u %s ticket=%u",
             gather ? "gather" : direction == ATALLA_DMA_DIR_LOAD ? "load" : "store", sp_addr, dram_addr, rows, cols,
             where, ticket);
    const wide r = ((wide)rows - 1) * rs, c = ((wide)cols - 1) * cs;
    const wide lo = dram_addr + 2 * ((r < 0 ? r : 0) + (c < 0 ? c : 0));
    const wide hi = dram_addr + 2 * ((r > 0 ? r : 0) + (c > 0 ? c : 0)) + 1;
    const uint64_t sp_end = sp_addr + (uint64_t)rows * cfg->sp_row_bytes;
    /* No store may write the program's commands (the command processor fetches them ahead of time). */
    const atalla_program *program = atalla_machine_program(fw->machine);
    const wide stream_start = program->program_dram_offset;
    const wide stream_end = stream_start + (wide)program->num_commands * ATALLA_COMMAND_BYTES;
    why[0] = 0;
    if (rows == 0 || cols == 0) {
        snprintf(why, sizeof why, "empty block (rows=%u, cols=%u)", rows, cols);
    } else if (cols > cfg->sp_row_bytes / ATALLA_BF16_BYTES) {
        snprintf(why, sizeof why, "cols %u > lanes %u", cols, cfg->sp_row_bytes / ATALLA_BF16_BYTES);
    } else if (ticket >= cfg->num_tickets) {
        snprintf(why, sizeof why, "ticket %u >= num_tickets %u", ticket, cfg->num_tickets);
    } else if (dram_addr % ATALLA_BF16_BYTES) {
        snprintf(why, sizeof why, "dram_addr 0x%x is odd (not bf16-aligned)", dram_addr);
    } else if (gather) {
        gather_problem(fw, a, why, sizeof why);
    } else if (lo < 0 || hi >= cfg->dram_bytes) {
        hex_wide(lo_text, sizeof lo_text, lo), hex_wide(hi_text, sizeof hi_text, hi);
        snprintf(why, sizeof why, "DRAM span [%s, %s] is outside DRAM of 0x%x bytes", lo_text, hi_text, cfg->dram_bytes);
    } else if (direction == ATALLA_DMA_DIR_STORE && lo < stream_end && stream_start <= hi) {
        hex_wide(lo_text, sizeof lo_text, lo), hex_wide(hi_text, sizeof hi_text, hi);
        snprintf(why, sizeof why, "DRAM span [%s, %s] overlaps the command stream [0x%llx, 0x%llx)", lo_text, hi_text,
                 (unsigned long long)stream_start, (unsigned long long)stream_end);
    }
    if (!why[0] && sp_addr % cfg->sp_row_bytes) {
        snprintf(why, sizeof why, "sp_addr 0x%x is not a multiple of sp_row_bytes %u", sp_addr, cfg->sp_row_bytes);
    } else if (!why[0]) {
        uint64_t i = 0;
        while (i < fw->num_live && !(fw->live[i].addr <= sp_addr && sp_addr < fw->live[i].addr + fw->live[i].size)) i++;
        if (i == fw->num_live) {
            snprintf(why, sizeof why, "scratchpad span [0x%x, 0x%llx) is not inside any live buffer", sp_addr,
                     (unsigned long long)sp_end);
        } else if (sp_end > fw->live[i].addr + fw->live[i].size) {
            snprintf(why, sizeof why, "scratchpad span [0x%x, 0x%llx) overruns the buffer of handle %u [0x%llx, 0x%llx)",
                     sp_addr, (unsigned long long)sp_end, fw->live[i].handle, (unsigned long long)fw->live[i].addr,
                     (unsigned long long)(fw->live[i].addr + fw->live[i].size));
        } else if (direction == ATALLA_DMA_DIR_STORE && !distinct_elements(a)) {
            snprintf(why, sizeof why, "store writes some DRAM elements more than once (overlapping strides)");
        }
    }
    if (why[0]) return refuse(msg, size, ATALLA_STATUS_DMA_OUT_OF_BOUNDS, "%s: %s", desc, why);
    atalla_dma_transfer(fw->machine, a);
    return ATALLA_STATUS_OK;
}

/* ---- the mailbox ---- */

static uint32_t serve(atalla_c_firmware *fw, uint32_t call, const uint32_t *w, uint32_t *value, char *msg, size_t size) {
    switch (call) {
    case ATALLA_CALL_ALLOC:
    case ATALLA_CALL_FREE:
        if (w[0] >= fw->cfg->num_handles)
            return refuse(msg, size, ATALLA_STATUS_BAD_CALL, "%s handle %u >= num_handles %u",
                          atalla_mailbox_call_name(call), w[0], fw->cfg->num_handles);
        return call == ATALLA_CALL_ALLOC ? alloc(fw, w[0], w[1], value, msg, size) : free_buffer(fw, w[0], w[1], msg, size);
    case ATALLA_CALL_DMA: return dma(fw, w, msg, size);
    case ATALLA_CALL_HOST:
        if (fw->host) return fw->host->request(fw->host->ctx, call, w, value, msg, size);
        return refuse(msg, size, ATALLA_STATUS_HOST_FAILED, "HOST %u: this firmware runs no host ops", w[0]);
    default: return refuse(msg, size, ATALLA_STATUS_BAD_CALL, "unknown mailbox call kind %u", call);
    }
}

static uint32_t nargs_of(uint32_t call) {
    switch (call) {
    case ATALLA_CALL_ALLOC: return ATALLA_ALLOC_ARG_COUNT;
    case ATALLA_CALL_FREE: return ATALLA_FREE_ARG_COUNT;
    case ATALLA_CALL_DMA: return ATALLA_DMA_ARG_COUNT;
    case ATALLA_CALL_HOST: return ATALLA_HOST_ARG_COUNT;
    default: return ATALLA_MAILBOX_MAX_ARGS; /* an unknown call is logged with every word, as Python logs it */
    }
}

static uint32_t request(void *ctx, uint32_t call, const uint32_t *words, uint32_t *value, char *msg, size_t size) {
    atalla_c_firmware *fw = ctx;
    uint32_t out = 0;
    msg[0] = 0;
    const uint32_t status = serve(fw, call, words, &out, msg, size);
    if (fw->log_size == fw->log_capacity) {
        uint32_t capacity = fw->log_capacity ? 2 * fw->log_capacity : 256;
        call_record *grown = realloc(fw->log, capacity * sizeof *grown);
        if (!grown) return refuse(msg, size, ATALLA_STATUS_BAD_CALL, "firmware out of host memory for its call log");
        fw->log = grown, fw->log_capacity = capacity;
    }
    call_record *r = &fw->log[fw->log_size++];
    memset(r, 0, sizeof *r);
    r->kind = call, r->nargs = nargs_of(call), r->status = status, r->value = status == ATALLA_STATUS_OK ? out : 0;
    memcpy(r->args, words, r->nargs * sizeof *words);
    r->message = status == ATALLA_STATUS_OK ? NULL : strdup(msg);
    *value = r->value;
    return status;
}

atalla_firmware atalla_c_firmware_table(atalla_c_firmware *fw) { return (atalla_firmware){fw, request}; }
