/* The C functional model: executes a program's commands bit for bit as runtime/emulator does.
 *
 * The emulator (runtime/emulator/machine.py and units.py) is the readable specification; this file
 * follows it step by step, with the same checks in the same order and the same messages, so a program
 * that misbehaves stops at the same command for the same reason. DMA is modelled as the emulator
 * models it: a transfer copies at once (atalla_dma_transfer), but owns its scratchpad rows and DRAM
 * bytes from its command until the WAIT on its ticket.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numerics.h"

#if defined(__SSE2__)
#include <xmmintrin.h>
#define ATALLA_HW_FLUSH 1 /* x86: GEMM flushes through MXCSR's FTZ and DAZ bits */
#endif
#include "program.h"
#include "pytext.h"

typedef __int128 wide;

#define ATALLA_MAX_VEC_LANES 4096 /* the widest scratchpad row the VEC loops hold on the stack */

typedef struct {
    uint32_t direction, sp_addr, dram_addr, rows, cols, row_stride, col_stride, ticket;
} dma_desc;

/* The DRAM elements (byte address / 2) a transfer touches, listed when two transfers' ranges meet. */
typedef struct {
    dma_desc d;
    int32_t *ids; /* GATHER: the row ids (owned) */
    int with_ids; /* GATHER: the ids' own elements count too */
} dma_block;

typedef struct {
    uint64_t index; /* the DMA command */
    uint32_t ticket;
    int64_t sp_lo, sp_hi; /* byte range [lo, hi) */
    wide dram_lo, dram_hi; /* as the emulator keeps it: [lowest, highest] byte, compared as [lo, hi) */
    dma_block block;
} in_flight;

typedef struct {
    int bound;
    int64_t addr, nbytes;
} handle_entry;

struct atalla_machine {
    const atalla_program *program;
    struct atalla_hw_config cfg;
    uint8_t *dram, *sp;
    handle_entry handles[256];
    in_flight *flights; /* in the order they started, as the emulator's dict iterates */
    uint32_t num_flights, flights_capacity;
    int ran; /* DRAM and scratchpad have been used */
    uint64_t dram_dirty_end; /* no byte at or beyond it has been written since DRAM was last zero */
    const atalla_firmware *firmware;
    uint64_t counts[ATALLA_NUM_OPCODES][256];
    int64_t fault_index;
    uint32_t fault_status;
    char message[ATALLA_MESSAGE_BYTES];
    /* The command being run, for messages. */
    uint64_t index;
    const char *kind;
    char kind_buf[32];
};

/* ---- messages ---- */

static int fail(atalla_machine *m, int failure, const char *fmt, ...) {
    int n = snprintf(m->message, sizeof m->message, "command %llu (%s): ", (unsigned long long)m->index, m->kind);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->message + n, sizeof m->message - (size_t)n, fmt, ap);
    va_end(ap);
    m->fault_index = (int64_t)m->index;
    return failure;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The tickets in flight as Python prints sorted(list): "[1, 4]" (cut short if it would not fit). */
static const char *tickets_text(atalla_machine *m, char *buf, size_t size) {
    const uint32_t n = m->num_flights;
    uint32_t *tickets = malloc((n + 1) * sizeof *tickets);
    if (!tickets) return "[...]";
    for (uint32_t i = 0; i < n; i++) tickets[i] = m->flights[i].ticket;
    qsort(tickets, n, sizeof tickets[0], cmp_u32);
    size_t at = (size_t)snprintf(buf, size, "[");
    for (uint32_t i = 0; i < n && at < size; i++) at += (size_t)snprintf(buf + at, size - at, "%s%u", i ? ", " : "", tickets[i]);
    if (at < size) snprintf(buf + at, size - at, "]");
    free(tickets);
    return buf;
}

/* ---- the machine ---- */

atalla_machine *atalla_machine_new(const atalla_program *program) {
    atalla_machine *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->program = program;
    m->cfg = program->config;
    m->dram = calloc(m->cfg.dram_bytes, 1);
    m->sp = calloc(m->cfg.sp_bytes, 1);
    if (!m->dram || !m->sp) {
        atalla_machine_free(m);
        return NULL;
    }
    m->fault_index = -1;
    return m;
}

void atalla_machine_free(atalla_machine *m) {
    if (!m) return;
    for (uint32_t i = 0; i < m->num_flights; i++) free(m->flights[i].block.ids);
    free(m->dram);
    free(m->sp);
    free(m->flights);
    free(m);
}

const atalla_program *atalla_machine_program(const atalla_machine *m) { return m->program; }
uint8_t *atalla_machine_dram(atalla_machine *m) { return m->dram; }
uint8_t *atalla_machine_scratchpad(atalla_machine *m) { return m->sp; }
const char *atalla_machine_message(const atalla_machine *m) { return m->message; }
int64_t atalla_machine_fault_index(const atalla_machine *m) { return m->fault_index; }
uint32_t atalla_machine_fault_status(const atalla_machine *m) { return m->fault_status; }

uint64_t atalla_machine_command_count(const atalla_machine *m, uint32_t opcode, uint32_t func) {
    return opcode < ATALLA_NUM_OPCODES && func < 256 ? m->counts[opcode][func] : 0;
}

/* ---- the DMA engine: the one place a block is addressed ---- */

static int32_t read_i32(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Element (r, c) is DRAM bf16 at dram_addr + 2*(r*row_stride + c*col_stride) and scratchpad tile row r,
 * column c; loads zero the rest of each scratchpad row; a GATHER's row r is table row ids[r] (atalla/dma.py). */
void atalla_dma_transfer(atalla_machine *m, const uint32_t *args) {
    const uint32_t row_bytes = m->cfg.sp_row_bytes;
    uint16_t *dram = (uint16_t *)m->dram;
    const uint32_t direction = args[ATALLA_DMA_ARG_DIRECTION], sp_addr = args[ATALLA_DMA_ARG_SP_ADDR];
    const uint64_t base = args[ATALLA_DMA_ARG_DRAM_ADDR] / ATALLA_BF16_BYTES;
    const uint64_t rows = args[ATALLA_DMA_ARG_ROWS], cols = args[ATALLA_DMA_ARG_COLS];
    const uint64_t row_stride = args[ATALLA_DMA_ARG_ROW_STRIDE], col_stride = args[ATALLA_DMA_ARG_COL_STRIDE];
    for (uint64_t r = 0; r < rows; r++) {
        uint16_t *sp_row = (uint16_t *)(m->sp + sp_addr + r * row_bytes);
        if (direction == ATALLA_DMA_DIR_GATHER) { /* row r is table row ids[r]; the ids at col_stride */
            const int64_t id = read_i32(m->dram + col_stride + (uint64_t)ATALLA_INDEX_BYTES * r);
            memset(sp_row, 0, row_bytes);
            memcpy(sp_row, dram + base + id * (int64_t)row_stride, cols * sizeof *sp_row);
            continue;
        }
        const uint64_t row_base = base + r * row_stride;
        if (direction == ATALLA_DMA_DIR_LOAD) {
            memset(sp_row, 0, row_bytes);
            for (uint64_t c = 0; c < cols; c++) sp_row[c] = dram[row_base + c * col_stride];
        } else {
            for (uint64_t c = 0; c < cols; c++) {
                const uint64_t e = row_base + c * col_stride;
                dram[e] = sp_row[c];
                if (2 * e + 2 > m->dram_dirty_end) m->dram_dirty_end = 2 * e + 2;
            }
        }
    }
}

/* ---- hazards (Emulator._no_conflict) ---- */

static int overlap64(int64_t lo1, int64_t hi1, int64_t lo2, int64_t hi2) { return lo1 < hi2 && lo2 < hi1; }
static int overlap_wide(wide lo1, wide hi1, wide lo2, wide hi2) { return lo1 < hi2 && lo2 < hi1; }

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* atalla/runtime_abi.py MAX_LISTED_ELEMENTS, kept by hand (tests/test_fuzz.py checks): generated into
 * atalla_abi.h it would change every co-simulation build's hash. */
#define MAX_LISTED_ELEMENTS (1u << 26)

/* A block's DRAM elements, sorted; NULL if too many to list (or out of memory). */
static int64_t *block_elements(const dma_block *b, size_t *count) {
    const dma_desc *d = &b->d;
    const uint64_t n = (uint64_t)d->rows * d->cols + (b->with_ids ? 2ull * d->rows : 0);
    if (n > MAX_LISTED_ELEMENTS) return NULL;
    int64_t *e = malloc((n + 1) * sizeof *e);
    if (!e) return NULL;
    const int64_t base = d->dram_addr / ATALLA_BF16_BYTES;
    size_t k = 0;
    for (uint64_t r = 0; r < d->rows; r++) {
        const int64_t row = d->direction == ATALLA_DMA_DIR_GATHER ? base + (int64_t)b->ids[r] * d->row_stride
                                                                  : base + (int64_t)(r * d->row_stride);
        for (uint64_t c = 0; c < d->cols; c++)
            e[k++] = row + (int64_t)(d->direction == ATALLA_DMA_DIR_GATHER ? c : c * d->col_stride);
    }
    if (b->with_ids)
        for (uint64_t t = 0; t < 2ull * d->rows; t++) e[k++] = d->col_stride / ATALLA_BF16_BYTES + (int64_t)t;
    qsort(e, k, sizeof *e, cmp_i64);
    *count = k;
    return e;
}

/* Whether two blocks share a DRAM element (the emulator's np.intersect1d of their elements). */
static int blocks_share_element(const dma_block *x, const dma_block *y) {
    size_t nx = 0, ny = 0;
    int64_t *ex = block_elements(x, &nx), *ey = ex ? block_elements(y, &ny) : NULL;
    int shared = !ex || !ey; /* too large to list: taken as sharing, the safe side */
    for (size_t i = 0, j = 0; !shared && i < nx && j < ny;) {
        if (ex[i] == ey[j]) shared = 1;
        else if (ex[i] < ey[j]) i++;
        else j++;
    }
    free(ex);
    free(ey);
    return shared;
}

/* A command touching scratchpad [sp_lo, sp_hi) and DRAM [dram_lo, dram_hi) may not touch what a transfer
 * in flight still owns (Emulator._no_conflict). has_sp, has_dram: that side is touched; elements: the
 * DRAM side's elements, compared element by element with the transfer's (NULL: the whole range). */
static int no_conflict(atalla_machine *m, int has_sp, int64_t sp_lo, int64_t sp_hi, int writes_sp, int has_dram,
                       wide dram_lo, wide dram_hi, int writes_dram, const dma_block *elements) {
    for (uint32_t i = 0; i < m->num_flights; i++) {
        const in_flight *f = &m->flights[i];
        const uint32_t direction = f->block.d.direction;
        int sp_clash = has_sp && overlap64(sp_lo, sp_hi, f->sp_lo, f->sp_hi)
                       && (writes_sp || direction != ATALLA_DMA_DIR_STORE);
        int dram_clash = !sp_clash && has_dram && overlap_wide(dram_lo, dram_hi, f->dram_lo, f->dram_hi)
                         && (writes_dram || direction == ATALLA_DMA_DIR_STORE)
                         && (!elements || blocks_share_element(elements, &f->block));
        if (sp_clash || dram_clash)
            return fail(m, ATALLA_RUN_HAZARD,
                        "touches %s that DMA command %llu (ticket %u) still owns: WAIT for it first",
                        sp_clash ? "scratchpad" : "DRAM", (unsigned long long)f->index, f->ticket);
    }
    return ATALLA_RUN_OK;
}

static in_flight *find_flight(atalla_machine *m, uint32_t ticket) {
    for (uint32_t i = 0; i < m->num_flights; i++)
        if (m->flights[i].ticket == ticket) return &m->flights[i];
    return NULL;
}

/* ---- firmware and handles ---- */

static int call(atalla_machine *m, uint32_t kind, const uint32_t *args, uint32_t nargs, uint32_t *value) {
    uint32_t words[ATALLA_MAILBOX_MAX_ARGS] = {0};
    char why[ATALLA_MESSAGE_BYTES] = "";
    memcpy(words, args, nargs * sizeof *args);
    uint32_t out = 0;
    uint32_t status = m->firmware->request(m->firmware->ctx, kind, words, &out, why, sizeof why);
    if (status != ATALLA_STATUS_OK) {
        const char *name = atalla_status_name(status);
        char unknown[16];
        if (!name) snprintf(unknown, sizeof unknown, "%u", status), name = unknown;
        m->fault_status = status;
        return fail(m, ATALLA_RUN_FIRMWARE, "firmware %s call failed with %s: %s", atalla_mailbox_call_name(kind), name,
                    why);
    }
    if (value) *value = out;
    return ATALLA_RUN_OK;
}

static int bound(atalla_machine *m, uint32_t handle, const handle_entry **entry) {
    if (!m->handles[handle].bound)
        return fail(m, ATALLA_RUN_UNBOUND_HANDLE,
                    "handle %u is not bound to a scratchpad buffer (no ALLOC, or already freed)", handle);
    *entry = &m->handles[handle];
    return ATALLA_RUN_OK;
}

/* Byte range of `rows` scratchpad rows from a buffer reference: inside its buffer, and not written by a
 * DMA in flight (Emulator._rows). what: "A's rows", or the rows and format of a tile. */
static int rows_span(atalla_machine *m, uint32_t ref, int64_t rows, const char *what, int64_t *lo, int64_t *hi) {
    const uint32_t handle = ref >> ATALLA_REF_HANDLE_SHIFT, row = ref & ATALLA_REF_ROW_MASK;
    const handle_entry *h = NULL;
    int rc = bound(m, handle, &h);
    if (rc) return rc;
    const int64_t row_bytes = m->cfg.sp_row_bytes;
    *lo = h->addr + row * row_bytes;
    *hi = h->addr + (row + rows) * row_bytes;
    if (*hi > h->addr + h->nbytes)
        return fail(m, ATALLA_RUN_OPERAND, "%s from row %u overrun handle %u (%lld rows)", what, row, handle,
                    (long long)(h->nbytes / row_bytes));
    return no_conflict(m, 1, *lo, *hi, 0, 0, 0, 0, 0, NULL);
}

static int64_t tile_sp_rows(int64_t rows, int fp32) { return fp32 ? rows * ATALLA_SP_ROWS_PER_FP32_ROW : rows; }

static int tile_span(atalla_machine *m, uint32_t ref, int64_t rows, int fp32, int64_t *lo, int64_t *hi) {
    char what[64];
    snprintf(what, sizeof what, "%lld %s rows", (long long)rows, fp32 ? "fp32" : "bf16");
    return rows_span(m, ref, tile_sp_rows(rows, fp32), what, lo, hi);
}

/* ---- commands ---- */

static int do_alloc(atalla_machine *m, const uint32_t *w) {
    const uint32_t handle = w[ATALLA_ALLOC_HANDLE_WORD], nbytes = w[ATALLA_ALLOC_BYTES_WORD];
    if (m->handles[handle].bound)
        return fail(m, ATALLA_RUN_HANDLE_IN_USE, "handle %u is already bound to scratchpad 0x%llx", handle,
                    (unsigned long long)m->handles[handle].addr);
    const uint32_t args[] = {handle, nbytes};
    uint32_t addr;
    int rc = call(m, ATALLA_CALL_ALLOC, args, 2, &addr);
    if (rc) return rc;
    m->handles[handle] = (handle_entry){1, addr, nbytes};
    return ATALLA_RUN_OK;
}

static int do_free(atalla_machine *m, const uint32_t *w) {
    const uint32_t handle = w[ATALLA_FREE_HANDLE_WORD];
    const handle_entry *h = NULL;
    int rc = bound(m, handle, &h);
    if (rc || (rc = no_conflict(m, 1, h->addr, h->addr + h->nbytes, 1, 0, 0, 0, 0, NULL))) return rc;
    const uint32_t args[] = {handle, (uint32_t)h->addr};
    if ((rc = call(m, ATALLA_CALL_FREE, args, 2, NULL))) return rc;
    m->handles[handle].bound = 0;
    return ATALLA_RUN_OK;
}

ATALLA_STATIC_ASSERT(ATALLA_DMA_STORE_SP_WORD == ATALLA_DMA_LOAD_SP_WORD && ATALLA_DMA_STORE_TICKET_WORD == ATALLA_DMA_LOAD_TICKET_WORD
                         && ATALLA_DMA_STORE_COL_STRIDE_WORD == ATALLA_DMA_LOAD_COL_STRIDE_WORD,
                     "DMA_LOAD and DMA_STORE lay out their fields alike");

static int do_dma(atalla_machine *m, const uint32_t *w, int load, uint32_t flags) {
    const uint32_t ref = w[ATALLA_DMA_LOAD_SP_WORD], handle = ref >> ATALLA_REF_HANDLE_SHIFT;
    const uint32_t row = ref & ATALLA_REF_ROW_MASK, rows = w[ATALLA_DMA_LOAD_ROWS_WORD];
    const uint32_t ticket = w[ATALLA_DMA_LOAD_TICKET_WORD];
    const handle_entry *h = NULL;
    int rc = bound(m, handle, &h);
    if (rc) return rc;
    const int64_t row_bytes = m->cfg.sp_row_bytes;
    const int64_t sp_lo = h->addr + row * row_bytes, sp_hi = h->addr + ((int64_t)row + rows) * row_bytes;
    if (sp_hi > h->addr + h->nbytes)
        return fail(m, ATALLA_RUN_OPERAND, "rows %u..%lld lie beyond the %lld rows of handle %u", row,
                    (long long)row + rows - 1, (long long)(h->nbytes / row_bytes), handle);
    const in_flight *busy = find_flight(m, ticket);
    if (busy)
        return fail(m, ATALLA_RUN_TICKET, "ticket %u is still in flight from command %llu", ticket,
                    (unsigned long long)busy->index);
    const int gather = (flags & ATALLA_FLAG_GATHER) != 0;
    if (gather && !load) return fail(m, ATALLA_RUN_OPERAND, "GATHER is a flag of DMA_LOAD only");
    dma_block block = {{gather ? ATALLA_DMA_DIR_GATHER : load ? ATALLA_DMA_DIR_LOAD : ATALLA_DMA_DIR_STORE,
                        (uint32_t)sp_lo, w[ATALLA_DMA_LOAD_DRAM_ADDR_WORD], rows, w[ATALLA_DMA_LOAD_COLS_WORD],
                        w[ATALLA_DMA_LOAD_ROW_STRIDE_WORD], w[ATALLA_DMA_LOAD_COL_STRIDE_WORD], ticket},
                       NULL, 0};
    const dma_desc *d = &block.d;
    const uint32_t args[] = {d->direction, d->sp_addr, d->dram_addr, d->rows, d->cols, d->row_stride, d->col_stride,
                             d->ticket};
    wide dram_lo, dram_hi;
    if (gather) {
        /* The ids first (read as the engine reads them, once the firmware has checked them), then the
         * table rows they name (emulator: machine.py, _dma). */
        const wide ids_lo = d->col_stride, ids_hi = (wide)d->col_stride + (wide)ATALLA_INDEX_BYTES * d->rows - 1;
        if ((rc = no_conflict(m, 1, sp_lo, sp_hi, 1, 1, ids_lo, ids_hi + 1, 0, NULL))) return rc;
        if ((rc = call(m, ATALLA_CALL_DMA, args, ATALLA_DMA_ARG_COUNT, NULL))) return rc;
        if (!(block.ids = malloc(((size_t)d->rows + 1) * sizeof *block.ids)))
            return fail(m, ATALLA_RUN_HOST_MEMORY, "out of host memory for row ids");
        int64_t first = 0, last = 0;
        for (uint32_t r = 0; r < d->rows; r++) {
            block.ids[r] = read_i32(m->dram + d->col_stride + (size_t)ATALLA_INDEX_BYTES * r);
            if (r == 0 || block.ids[r] < first) first = block.ids[r];
            if (r == 0 || block.ids[r] > last) last = block.ids[r];
        }
        const wide a = (wide)first * d->row_stride, b = (wide)last * d->row_stride;
        const wide table_lo = d->dram_addr + ATALLA_BF16_BYTES * (a < b ? a : b);
        const wide table_hi = d->dram_addr + ATALLA_BF16_BYTES * ((a > b ? a : b) + d->cols) - 1;
        if ((rc = no_conflict(m, 0, 0, 0, 0, 1, table_lo, table_hi, 0, &block))) return free(block.ids), rc;
        dram_lo = ids_lo < table_lo ? ids_lo : table_lo;
        dram_hi = ids_hi > table_hi ? ids_hi : table_hi;
        block.with_ids = 1;
    } else {
        /* DmaDescriptor.dram_span(); the strides are unsigned words, so only rows or cols of 0 reach below. */
        const wide r = ((wide)d->rows - 1) * d->row_stride, c = ((wide)d->cols - 1) * d->col_stride;
        dram_lo = d->dram_addr + ATALLA_BF16_BYTES * ((r < 0 ? r : 0) + (c < 0 ? c : 0));
        dram_hi = d->dram_addr + ATALLA_BF16_BYTES * ((r > 0 ? r : 0) + (c > 0 ? c : 0)) + ATALLA_BF16_BYTES - 1;
        if ((rc = no_conflict(m, 1, sp_lo, sp_hi, load, 1, dram_lo, dram_hi, !load, &block))) return rc;
        if ((rc = call(m, ATALLA_CALL_DMA, args, ATALLA_DMA_ARG_COUNT, NULL))) return rc;
    }
    if (m->num_flights == m->flights_capacity) { /* at most one per ticket, and few tickets are used at once */
        const uint32_t capacity = m->flights_capacity ? 2 * m->flights_capacity : 16;
        in_flight *grown = realloc(m->flights, capacity * sizeof *grown);
        if (!grown) return free(block.ids), fail(m, ATALLA_RUN_HOST_MEMORY, "out of host memory for DMA tickets");
        m->flights = grown, m->flights_capacity = capacity;
    }
    m->flights[m->num_flights++] = (in_flight){m->index, ticket, sp_lo, sp_hi, dram_lo, dram_hi, block};
    return ATALLA_RUN_OK;
}

static int do_wait(atalla_machine *m, const uint32_t *w) {
    const uint32_t ticket = w[ATALLA_WAIT_TICKET_WORD];
    in_flight *f = find_flight(m, ticket);
    if (!f) return fail(m, ATALLA_RUN_TICKET, "ticket %u has no DMA in flight", ticket);
    free(f->block.ids);
    memmove(f, f + 1, (size_t)(m->flights + m->num_flights - (f + 1)) * sizeof *f);
    m->num_flights--;
    return ATALLA_RUN_OK;
}

/* ---- GEMM (units.gemm, numerics.gemm) ---- */

static float read_elem(const uint8_t *sp, int64_t addr, int64_t r, int64_t c, int fp32, int64_t row_bytes) {
    if (fp32) {
        float x;
        memcpy(&x, sp + addr + r * ATALLA_SP_ROWS_PER_FP32_ROW * row_bytes + 4 * c, sizeof x);
        return x;
    }
    uint16_t b;
    memcpy(&b, sp + addr + r * row_bytes + 2 * c, sizeof b);
    return nu_from_bf16(b);
}

static void write_elem(uint8_t *sp, int64_t addr, int64_t r, int64_t c, float x, int fp32, int64_t row_bytes) {
    if (fp32) {
        memcpy(sp + addr + r * ATALLA_SP_ROWS_PER_FP32_ROW * row_bytes + 4 * c, &x, sizeof x);
    } else {
        uint16_t b = nu_to_bf16(x);
        memcpy(sp + addr + r * row_bytes + 2 * c, &b, sizeof b);
    }
}

static void read_row(const uint8_t *sp, int64_t addr, int64_t r, uint32_t cols, int fp32, int64_t row_bytes, float *out) {
    if (fp32) {
        memcpy(out, sp + addr + r * ATALLA_SP_ROWS_PER_FP32_ROW * row_bytes, cols * sizeof *out);
        return;
    }
    const uint8_t *row = sp + addr + r * row_bytes;
    for (uint32_t c = 0; c < cols; c++) {
        uint16_t b;
        memcpy(&b, row + 2 * c, sizeof b);
        out[c] = nu_from_bf16(b);
    }
}

static void write_row(uint8_t *sp, int64_t addr, int64_t r, uint32_t cols, int fp32, int64_t row_bytes, const float *in) {
    if (fp32) {
        memcpy(sp + addr + r * ATALLA_SP_ROWS_PER_FP32_ROW * row_bytes, in, cols * sizeof *in);
        return;
    }
    uint8_t *row = sp + addr + r * row_bytes;
    for (uint32_t c = 0; c < cols; c++) {
        const uint16_t b = nu_to_bf16(in[c]);
        memcpy(row + 2 * c, &b, sizeof b);
    }
}

/* One row of D: sum[j] = fp32(sum[j] + fp32(a[kk] * b[kk][j])) for kk = 0..k-1, flushing (do_gemm says why
 * fp32 is exact here). Compiled for AVX2 too where the CPU has it: the same IEEE operations, wider. */
#if defined(ATALLA_HW_FLUSH) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
__attribute__((target_clones("avx2", "default")))
#endif
static void gemm_row(const float *a, const float *b, float *sum, uint32_t k, uint32_t n) {
    for (uint32_t kk = 0; kk < k; kk++) {
        const float av = a[kk], *row = b + (size_t)kk * n;
#ifdef ATALLA_HW_FLUSH
        for (uint32_t j = 0; j < n; j++) sum[j] = sum[j] + av * row[j]; /* the FPU flushes; NaNs made canonical below */
#else
        for (uint32_t j = 0; j < n; j++) sum[j] = flush_fast(sum[j] + flush_fast(av * row[j]));
#endif
    }
#ifdef ATALLA_HW_FLUSH
    for (uint32_t j = 0; j < n; j++) sum[j] = flush_fast(sum[j]);
#endif
}

static int do_gemm(atalla_machine *m, const uint32_t *w, uint32_t a_step, uint32_t flags) {
    const uint32_t a_ref = w[ATALLA_GEMM_A_WORD], b_ref = w[ATALLA_GEMM_B_WORD], c_ref = w[ATALLA_GEMM_C_WORD];
    const uint32_t d_ref = w[ATALLA_GEMM_D_WORD], mm = w[ATALLA_GEMM_M_WORD], k = w[ATALLA_GEMM_K_WORD];
    const uint32_t n = w[ATALLA_GEMM_N_WORD];
    if (!(k > 0 && k <= m->cfg.array_rows && n > 0 && n <= m->cfg.array_cols && mm > 0))
        return fail(m, ATALLA_RUN_OPERAND, "tile %ux%ux%u does not fit the %ux%u array", mm, k, n, m->cfg.array_rows,
                    m->cfg.array_cols);
    const int accumulate = flags & ATALLA_FLAG_ACCUMULATE, c_bf16 = (flags & ATALLA_FLAG_C_BF16) != 0;
    const int c_row = (flags & ATALLA_FLAG_C_ROW) != 0, d_bf16 = (flags & ATALLA_FLAG_D_BF16) != 0;
    int64_t a_lo, a_hi, b_lo, b_hi, d_lo, d_hi, c_lo = 0, c_hi = 0;
    int rc;
    if ((rc = rows_span(m, a_ref, ((int64_t)mm - 1) * a_step + 1, "A's rows", &a_lo, &a_hi))) return rc;
    if ((rc = rows_span(m, b_ref, k, "B's rows", &b_lo, &b_hi))) return rc;
    if ((rc = rows_span(m, d_ref, tile_sp_rows(mm, !d_bf16), "D's rows", &d_lo, &d_hi))) return rc;
    if (accumulate && (rc = rows_span(m, c_ref, tile_sp_rows(c_row ? 1 : mm, !c_bf16), "C's rows", &c_lo, &c_hi)))
        return rc;
    if (overlap64(d_lo, d_hi, a_lo, a_hi)) return fail(m, ATALLA_RUN_OPERAND, "D overlaps A");
    if (overlap64(d_lo, d_hi, b_lo, b_hi)) return fail(m, ATALLA_RUN_OPERAND, "D overlaps B");
    if (accumulate && overlap64(c_lo, c_hi, d_lo, d_hi) && (c_lo != d_lo || c_hi != d_hi || c_bf16 != d_bf16))
        return fail(m, ATALLA_RUN_OPERAND, "D partially overlaps C (in place is fine: the same rows, the same format)");
    if ((rc = no_conflict(m, 1, d_lo, d_hi, 1, 0, 0, 0, 0, NULL))) return rc;

    /* Each output is a column of PEs: s = +0, then s = fp32(s + fp32(a*b)) for kk = 0..k-1; with C,
     * fp32(c + s). D's rows are written whole: columns n..array_cols-1 become +0. In fp32 arithmetic,
     * flushing each result, this is exactly numerics.gemm's double-then-round: a bf16 x bf16 product has
     * at most 16 significant bits, so fp32 rounds it as it rounds the exact product and it lies below
     * 2**-126 exactly when the exact one does; an fp32 sum is the correctly rounded sum, which the
     * double rounding of the emulator also gives (53 >= 2*24 + 2 bits), and a sum below 2**-126 is exact.
     * On x86 the FPU's flush-to-zero mode does the flushing (so products and sums below 2**-126 become
     * zeros of their sign, tininess being unambiguous here), and NaNs are made canonical at the end:
     * once NaN, a sum stays NaN. */
    const int64_t row_bytes = m->cfg.sp_row_bytes;
    const uint32_t cols = m->cfg.array_cols;
    float *b_all = malloc(((size_t)k * n + k + cols) * sizeof *b_all);
    if (!b_all) return fail(m, ATALLA_RUN_HOST_MEMORY, "out of host memory");
    float *a_val = b_all + (size_t)k * n, *sum = a_val + k;
#ifdef ATALLA_HW_FLUSH
    const unsigned int csr = _mm_getcsr();
    _mm_setcsr(csr | _MM_FLUSH_ZERO_ON | 0x0040u /* DAZ */);
#endif
    for (uint32_t kk = 0; kk < k; kk++)
        for (uint32_t j = 0; j < n; j++) b_all[(size_t)kk * n + j] = nu_flush(read_elem(m->sp, b_lo, kk, j, 0, row_bytes));
    for (uint32_t i = 0; i < mm; i++) {
        const int64_t a_row = a_lo + (int64_t)i * a_step * row_bytes;
        for (uint32_t kk = 0; kk < k; kk++) a_val[kk] = nu_flush(read_elem(m->sp, a_row, 0, kk, 0, row_bytes));
        for (uint32_t j = 0; j < cols; j++) sum[j] = 0.0f;
        gemm_row(a_val, b_all, sum, k, n);
        if (accumulate)
            for (uint32_t j = 0; j < n; j++) sum[j] = nu_add(read_elem(m->sp, c_lo, c_row ? 0 : i, j, !c_bf16, row_bytes), sum[j]);
        for (uint32_t j = 0; j < cols; j++) write_elem(m->sp, d_lo, i, j, sum[j], !d_bf16, row_bytes);
    }
#ifdef ATALLA_HW_FLUSH
    _mm_setcsr(csr); /* the caller's floating-point mode back */
#endif
    free(b_all);
    return ATALLA_RUN_OK;
}

/* ---- VEC (units.vec) ---- */

static int do_vec(atalla_machine *m, const uint32_t *w, uint32_t func, uint32_t flags) {
    const uint32_t dst_ref = w[ATALLA_VEC_DST_WORD], a_ref = w[ATALLA_VEC_A_WORD], b_word = w[ATALLA_VEC_B_WORD];
    const uint32_t rows = w[ATALLA_VEC_ROWS_WORD], cols = w[ATALLA_VEC_COLS_WORD];
    const uint32_t mode = (flags & ATALLA_BMODE_MASK) >> ATALLA_BMODE_SHIFT;
    const int64_t row_bytes = m->cfg.sp_row_bytes;
    const uint32_t lanes = m->cfg.sp_row_bytes / ATALLA_BF16_BYTES;
    if (!(cols > 0 && cols <= lanes && rows > 0))
        return fail(m, ATALLA_RUN_OPERAND, "%ux%u is not a tile of at most %u lanes", rows, cols, lanes);
    const int dst_fp32 = (flags & ATALLA_FLAG_DST_FP32) != 0, a_fp32 = (flags & ATALLA_FLAG_A_FP32) != 0;
    const int b_fp32 = (flags & ATALLA_FLAG_B_FP32) != 0;
    int64_t a_lo, a_hi, d_lo, d_hi, b_lo = 0, b_hi = 0;
    int rc;
    if ((rc = tile_span(m, a_ref, rows, a_fp32, &a_lo, &a_hi))) return rc;
    if ((rc = tile_span(m, dst_ref, rows, dst_fp32, &d_lo, &d_hi))) return rc;
    const int has_b = !atalla_is_unary_func(func) && mode != ATALLA_BMODE_SCALAR;
    if (has_b && (rc = tile_span(m, b_word, mode == ATALLA_BMODE_ROW ? 1 : rows, b_fp32, &b_lo, &b_hi))) return rc;
    /* In place is fine; a partial overlap would make the RTL's row order visible. */
    if ((overlap64(d_lo, d_hi, a_lo, a_hi) && (d_lo != a_lo || d_hi != a_hi))
        || (has_b && overlap64(d_lo, d_hi, b_lo, b_hi) && (d_lo != b_lo || d_hi != b_hi || mode != ATALLA_BMODE_TILE)))
        return fail(m, ATALLA_RUN_OPERAND, "the destination partially overlaps an operand");
    if ((rc = no_conflict(m, 1, d_lo, d_hi, 1, 0, 0, 0, 0, NULL))) return rc;

    /* Row by row: the operands' row read whole before the destination's row is written (in place is
     * fine), each function's loop apart so that it compiles tight. */
    float x[ATALLA_MAX_VEC_LANES], y[ATALLA_MAX_VEC_LANES], out[ATALLA_MAX_VEC_LANES];
    if (lanes > ATALLA_MAX_VEC_LANES) return fail(m, ATALLA_RUN_HOST_MEMORY, "more than %d lanes", ATALLA_MAX_VEC_LANES);
    const float scalar = bits_f32(b_word);
    if (!has_b)
        for (uint32_t c = 0; c < cols; c++) y[c] = scalar;
    else if (mode == ATALLA_BMODE_ROW)
        read_row(m->sp, b_lo, 0, cols, b_fp32, row_bytes, y);
    for (uint32_t r = 0; r < rows; r++) {
        read_row(m->sp, a_lo, r, cols, a_fp32, row_bytes, x);
        if (mode == ATALLA_BMODE_TILE && has_b) read_row(m->sp, b_lo, r, cols, b_fp32, row_bytes, y);
        if (mode == ATALLA_BMODE_COL && has_b) {
            const float v = read_elem(m->sp, b_lo, r, 0, b_fp32, row_bytes);
            for (uint32_t c = 0; c < cols; c++) y[c] = v;
        }
        uint32_t n = cols;
        switch (func) {
        case ATALLA_VEC_COPY: for (uint32_t c = 0; c < n; c++) out[c] = nu_flush(x[c]); break;
        case ATALLA_VEC_ADD: for (uint32_t c = 0; c < n; c++) out[c] = nu_add(x[c], y[c]); break;
        case ATALLA_VEC_SUB: for (uint32_t c = 0; c < n; c++) out[c] = nu_sub(x[c], y[c]); break;
        case ATALLA_VEC_MUL: for (uint32_t c = 0; c < n; c++) out[c] = nu_mul(x[c], y[c]); break;
        case ATALLA_VEC_DIV: for (uint32_t c = 0; c < n; c++) out[c] = nu_div(x[c], y[c]); break;
        case ATALLA_VEC_MAX: for (uint32_t c = 0; c < n; c++) out[c] = nu_max(x[c], y[c]); break;
        case ATALLA_VEC_MIN: for (uint32_t c = 0; c < n; c++) out[c] = nu_min(x[c], y[c]); break;
        case ATALLA_VEC_RELU: for (uint32_t c = 0; c < n; c++) out[c] = nu_relu(x[c]); break;
        case ATALLA_VEC_ROUND: for (uint32_t c = 0; c < n; c++) out[c] = nu_round(x[c]); break;
        case ATALLA_VEC_LDEXP: for (uint32_t c = 0; c < n; c++) out[c] = nu_ldexp(x[c], y[c]); break;
        case ATALLA_VEC_SQRT: for (uint32_t c = 0; c < n; c++) out[c] = nu_sqrt(x[c]); break;
        case ATALLA_VEC_EXP: for (uint32_t c = 0; c < n; c++) out[c] = nu_exp(x[c]); break;
        default: { /* ROWSUM, ROWMAX: in column order, op(op(a0, a1), a2) ...; one column out */
            float acc = nu_flush(x[0]);
            for (uint32_t c = 1; c < n; c++) acc = func == ATALLA_VEC_ROWSUM ? nu_add(acc, x[c]) : nu_max(acc, x[c]);
            out[0] = acc, n = 1;
        }
        }
        write_row(m->sp, d_lo, r, n, dst_fp32, row_bytes, out);
    }
    return ATALLA_RUN_OK;
}

/* ---- a run ---- */

static int execute_one(atalla_machine *m, const atalla_command *cmd, int *ended) {
    const uint32_t *w = cmd->words;
    const uint32_t op = w[0] & ((1u << ATALLA_OPCODE_BITS) - 1);
    const uint32_t func = (w[0] >> ATALLA_FUNC_SHIFT) & ((1u << ATALLA_FUNC_BITS) - 1);
    const uint32_t flags = (w[0] >> ATALLA_FLAGS_SHIFT) & ((1u << ATALLA_FLAGS_BITS) - 1);
    char tickets[ATALLA_MESSAGE_BYTES - 128];
    if (op == ATALLA_OP_VEC) {
        snprintf(m->kind_buf, sizeof m->kind_buf, "VEC.%s", atalla_vec_func_name(func));
        m->kind = m->kind_buf;
    } else {
        m->kind = atalla_opcode_name(op);
    }
    if (op < ATALLA_NUM_OPCODES) m->counts[op][op == ATALLA_OP_VEC ? func : 0]++;
    switch (op) {
    case ATALLA_OP_END:
        if (m->num_flights)
            return fail(m, ATALLA_RUN_HAZARD, "program ends with DMA tickets %s never waited for",
                        tickets_text(m, tickets, sizeof tickets));
        *ended = 1;
        return ATALLA_RUN_OK;
    case ATALLA_OP_NOP: return ATALLA_RUN_OK;
    case ATALLA_OP_ALLOC: return do_alloc(m, w);
    case ATALLA_OP_FREE: return do_free(m, w);
    case ATALLA_OP_DMA_LOAD: return do_dma(m, w, 1, flags);
    case ATALLA_OP_DMA_STORE: return do_dma(m, w, 0, flags);
    case ATALLA_OP_WAIT: return do_wait(m, w);
    case ATALLA_OP_GEMM: return do_gemm(m, w, func, flags);
    case ATALLA_OP_VEC: return do_vec(m, w, func, flags);
    default: /* HOST: the loader admits no other opcode */
        if (m->num_flights)
            return fail(m, ATALLA_RUN_HAZARD, "host op runs while DMA tickets %s are in flight",
                        tickets_text(m, tickets, sizeof tickets));
        return call(m, ATALLA_CALL_HOST, &w[ATALLA_HOST_INDEX_WORD], 1, NULL);
    }
}

static void reset(atalla_machine *m) {
    const atalla_program *p = m->program;
    /* A new machine's memory is zero already (calloc). After a run only the bytes below dram_dirty_end can
     * be other than zero: the image, the tensors (inputs, host ops' results) and what DMA stores wrote. */
    if (m->ran) {
        memset(m->dram, 0, m->dram_dirty_end);
        memset(m->sp, 0, m->cfg.sp_bytes);
    }
    m->ran = 1;
    const uint64_t stream_end = p->program_dram_offset + (uint64_t)p->num_commands * ATALLA_COMMAND_BYTES;
    m->dram_dirty_end = stream_end > p->dram_bytes_used ? stream_end : p->dram_bytes_used;
    memset(m->handles, 0, sizeof m->handles);
    memset(m->counts, 0, sizeof m->counts);
    for (uint32_t i = 0; i < m->num_flights; i++) free(m->flights[i].block.ids); /* a fault left them */
    m->num_flights = 0;
    m->fault_index = -1;
    m->fault_status = ATALLA_STATUS_OK;
    m->message[0] = 0;
    for (uint32_t i = 0; i < p->num_tensors; i++) {
        const struct atalla_blob_tensor *t = &p->tensors[i];
        if (t->const_offset != ATALLA_BLOB_NO_CONSTANT)
            memcpy(m->dram + t->dram_offset, p->constants + t->const_offset, t->nbytes);
    }
    memcpy(m->dram + p->program_dram_offset, p->commands, (size_t)p->num_commands * ATALLA_COMMAND_BYTES);
}

/* An INT32 input's row ids, each in [0, index_bound) (runtime/image.py check_row_ids, its message). */
static int check_row_ids(atalla_machine *m, const struct atalla_blob_tensor *t, const char *name, const int32_t *ids) {
    const uint64_t numel = atalla_tensor_numel(t);
    uint64_t bad = 0, first = 0;
    for (uint64_t e = 0; e < numel; e++)
        if (ids[e] < 0 || (uint32_t)ids[e] >= t->index_bound) first = bad++ ? first : e;
    if (!bad) return ATALLA_RUN_OK;
    text msg = {0};
    text_add(&msg, "input ");
    repr_str_utf8(&msg, (const uint8_t *)name, strlen(name));
    text_printf(&msg, ": row id %d at [", ids[first]);
    uint64_t at[ATALLA_BLOB_MAX_DIMS], rest = first;
    for (int d = (int)t->ndim - 1; d >= 0; d--) at[d] = rest % t->shape[d], rest /= t->shape[d];
    for (uint32_t d = 0; d < t->ndim; d++) text_printf(&msg, "%s%llu", d ? ", " : "", (unsigned long long)at[d]);
    text_printf(&msg, "] is out of range: the table it indexes has %u rows (%llu ids out of range)", t->index_bound,
                (unsigned long long)bad);
    snprintf(m->message, sizeof m->message, "%s", msg.data ? msg.data : "input row ids out of range");
    text_free(&msg);
    return ATALLA_RUN_BAD_INPUT;
}

int atalla_execute(atalla_machine *m, const atalla_firmware *firmware, const void *const *inputs,
                   float *const *outputs) {
    const atalla_program *p = m->program;
    reset(m);
    m->firmware = firmware;
    uint32_t in = 0, out = 0;
    for (uint32_t i = 0; i < p->num_tensors; i++) {
        const struct atalla_blob_tensor *t = &p->tensors[i];
        if (t->role != ATALLA_ROLE_INPUT) continue;
        const uint64_t numel = atalla_tensor_numel(t);
        if (t->dtype == ATALLA_DTYPE_INT32) {
            int rc = check_row_ids(m, t, p->names[i], inputs[in]);
            if (rc) return rc;
            memcpy(m->dram + t->dram_offset, inputs[in], numel * ATALLA_INDEX_BYTES);
        } else {
            uint16_t *dst = (uint16_t *)(m->dram + t->dram_offset);
            const float *values = inputs[in];
            for (uint64_t e = 0; e < numel; e++) dst[e] = nu_to_bf16(values[e]);
        }
        in++;
    }
    int ended = 0, rc = ATALLA_RUN_OK;
    for (uint32_t i = 0; i < p->num_commands && !ended && rc == ATALLA_RUN_OK; i++) {
        m->index = i;
        rc = execute_one(m, &p->commands[i], &ended);
    }
    if (rc != ATALLA_RUN_OK) return rc;
    for (uint32_t i = 0; i < p->num_tensors; i++) {
        const struct atalla_blob_tensor *t = &p->tensors[i];
        if (t->role != ATALLA_ROLE_OUTPUT) continue;
        const uint16_t *src = (const uint16_t *)(m->dram + t->dram_offset);
        const uint64_t numel = atalla_tensor_numel(t);
        for (uint64_t e = 0; e < numel; e++) outputs[out][e] = nu_from_bf16(src[e]);
        out++;
    }
    return ATALLA_RUN_OK;
}
