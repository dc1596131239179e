/* The C loader: validates a blob exactly as runtime/loader.py does, check for check, in the same
 * order, with the same messages and the same failure class (atalla/runtime_abi.py LoadError), and
 * copies what it holds into an atalla_program. tests/test_cloader.py holds the two loaders to the same
 * verdict on a mutation corpus, under AddressSanitizer and UBSan.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atalla_host_ops.h"
#include "program.h"
#include "pytext.h"

#define HEADER_SIZE sizeof(struct atalla_blob_header)
#define SECTION_SIZE sizeof(struct atalla_blob_section)
#define DECIMAL_(x) #x
#define DECIMAL(x) DECIMAL_(x) /* a numeric macro as a string literal, for messages */
#define NUM_SECTION_KINDS 6 /* SectionKind: 1..6, checked by the static assert below */
ATALLA_STATIC_ASSERT(ATALLA_SECTION_STRINGS == NUM_SECTION_KINDS, "section kinds are 1..NUM_SECTION_KINDS");

typedef struct {
    const uint8_t *data;
    size_t size;
    text msg;
    atalla_program *p;
    const uint8_t *body[NUM_SECTION_KINDS + 1];
    uint32_t body_size[NUM_SECTION_KINDS + 1];
    struct atalla_blob_header h;
} loader;

static uint32_t crc_table[256];

static uint32_t crc32_of(uint32_t crc, const uint8_t *s, size_t n) { /* zlib.crc32 */
    if (!crc_table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
            crc_table[i] = c;
        }
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = crc_table[(crc ^ s[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static const char *section_name(uint32_t kind) { return atalla_section_kind_name(kind); }

/* Python's f"[{start:#x}, {start + size:#x})". */
static void add_range(text *t, uint64_t start, uint64_t size) {
    text_printf(t, "[0x%llx, 0x%llx)", (unsigned long long)start, (unsigned long long)(start + size));
}

/* ---- small unsigned big integers: a tensor's element count and strides are Python ints ---- */

#define BIG_LIMBS 8
typedef struct {
    uint32_t limb[BIG_LIMBS]; /* little-endian */
} big;

static big big_of(uint64_t v) {
    big b = {{0}};
    b.limb[0] = (uint32_t)v, b.limb[1] = (uint32_t)(v >> 32);
    return b;
}

static big big_mul(big a, uint32_t m) {
    uint64_t carry = 0;
    for (int i = 0; i < BIG_LIMBS; i++) {
        uint64_t x = (uint64_t)a.limb[i] * m + carry;
        a.limb[i] = (uint32_t)x, carry = x >> 32;
    }
    return a;
}

static int big_equals_u32(big a, uint32_t v) {
    for (int i = 1; i < BIG_LIMBS; i++)
        if (a.limb[i]) return 0;
    return a.limb[0] == v;
}

static void add_big(text *t, big a) {
    char digits[80];
    int n = 0;
    do {
        uint64_t rem = 0;
        for (int i = BIG_LIMBS - 1; i >= 0; i--) {
            uint64_t x = rem << 32 | a.limb[i];
            a.limb[i] = (uint32_t)(x / 10), rem = x % 10;
        }
        digits[n++] = (char)('0' + rem);
    } while (!big_equals_u32(a, 0));
    while (n) text_addn(t, &digits[--n], 1);
}

/* ---- failing ---- */

static int fail(loader *L, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(loader *L, int code, const char *fmt, ...) {
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    text where = L->msg; /* a prefix already built by the caller */
    L->msg = (text){0};
    if (where.data) text_add(&L->msg, where.data);
    text_add(&L->msg, buf);
    text_free(&where);
    return code;
}

/* The message so far in L->msg plus this text: for messages that hold reprs. */
#define PREFIX(...) text_printf(&L->msg, __VA_ARGS__)

/* ---- header and section table ---- */

static int read_header(loader *L) {
    const uint8_t *d = L->data;
    if (L->size < 4)
        return fail(L, ATALLA_LOAD_TRUNCATED, "truncated blob: expected at least %zu header bytes, got %zu", HEADER_SIZE,
                    L->size);
    if (memcmp(d, ATALLA_BLOB_MAGIC, 4) != 0) {
        PREFIX("bad magic ");
        repr_bytes(&L->msg, d, 4);
        return fail(L, ATALLA_LOAD_BAD_MAGIC, ": expected b'%s', this is not an Atalla blob", ATALLA_BLOB_MAGIC);
    }
    if (L->size < HEADER_SIZE)
        return fail(L, ATALLA_LOAD_TRUNCATED, "truncated blob: expected at least %zu header bytes, got %zu", HEADER_SIZE,
                    L->size);
    memcpy(&L->h, d, HEADER_SIZE);
    const struct atalla_blob_header *h = &L->h;
    if (h->version_major != ATALLA_BLOB_VERSION_MAJOR)
        return fail(L, ATALLA_LOAD_BAD_VERSION,
                    "unsupported blob major version: blob is version %u.%u, this loader reads %d.%d", h->version_major,
                    h->version_minor, ATALLA_BLOB_VERSION_MAJOR, ATALLA_BLOB_VERSION_MINOR);
    if (h->version_minor > ATALLA_BLOB_VERSION_MINOR)
        return fail(L, ATALLA_LOAD_BAD_VERSION,
                    "unsupported blob minor version: blob is version %u.%u, newer than this loader's %d.%d",
                    h->version_major, h->version_minor, ATALLA_BLOB_VERSION_MAJOR, ATALLA_BLOB_VERSION_MINOR);
    const uint64_t expected = HEADER_SIZE + (uint64_t)h->section_count * SECTION_SIZE;
    if (h->header_bytes != expected)
        return fail(L, ATALLA_LOAD_BAD_HEADER, "header: header_bytes %u != %llu for section_count %u", h->header_bytes,
                    (unsigned long long)expected, h->section_count);
    if (L->size < expected)
        return fail(L, ATALLA_LOAD_TRUNCATED, "truncated blob: header and section table need %llu bytes, got %zu",
                    (unsigned long long)expected, L->size);
    struct atalla_blob_header zeroed = *h;
    zeroed.header_crc32 = 0;
    uint32_t crc = crc32_of(0, (const uint8_t *)&zeroed, HEADER_SIZE);
    crc = crc32_of(crc, d + HEADER_SIZE, expected - HEADER_SIZE);
    if (crc != h->header_crc32)
        return fail(L, ATALLA_LOAD_BAD_CRC, "header CRC mismatch: stored 0x%08x, computed 0x%08x", h->header_crc32, crc);
    return ATALLA_LOAD_OK;
}

static int read_sections(loader *L) {
    const struct atalla_blob_header *h = &L->h;
    struct atalla_blob_section s[NUM_SECTION_KINDS + 1];
    int order[NUM_SECTION_KINDS + 1]; /* entries in table order: their kinds */
    int have[NUM_SECTION_KINDS + 1] = {0};
    int count = 0;
    for (uint32_t i = 0; i < h->section_count; i++) {
        struct atalla_blob_section e;
        memcpy(&e, L->data + HEADER_SIZE + (size_t)i * SECTION_SIZE, SECTION_SIZE);
        const char *name = e.kind >= 1 && e.kind <= NUM_SECTION_KINDS ? section_name(e.kind) : NULL;
        if (!name) return fail(L, ATALLA_LOAD_BAD_SECTION_TABLE, "section table entry %u: unknown section kind %u", i, e.kind);
        if (have[e.kind])
            return fail(L, ATALLA_LOAD_BAD_SECTION_TABLE, "section table entry %u: duplicated section %s", i, name);
        if (e.offset % ATALLA_BLOB_SECTION_ALIGN)
            return fail(L, ATALLA_LOAD_BAD_SECTION_TABLE, "section %s: offset 0x%x is not aligned to %d", name, e.offset,
                        ATALLA_BLOB_SECTION_ALIGN);
        if (e.offset < h->header_bytes)
            return fail(L, ATALLA_LOAD_BAD_SECTION_TABLE, "section %s: offset 0x%x is inside the header (header_bytes 0x%x)",
                        name, e.offset, h->header_bytes);
        const uint64_t end = (uint64_t)e.offset + e.size;
        if (end > L->size) {
            PREFIX("truncated blob: section %s ", name);
            add_range(&L->msg, e.offset, e.size);
            return fail(L, ATALLA_LOAD_TRUNCATED, " needs %llu bytes, got %zu", (unsigned long long)end, L->size);
        }
        have[e.kind] = 1, s[e.kind] = e, order[count++] = (int)e.kind;
    }
    if (count < NUM_SECTION_KINDS) {
        PREFIX("section table: missing section(s) ");
        int first = 1;
        for (uint32_t k = 1; k <= NUM_SECTION_KINDS; k++)
            if (!have[k]) PREFIX("%s%s", first ? "" : ", ", section_name(k)), first = 0;
        return fail(L, ATALLA_LOAD_BAD_SECTION_TABLE, "%s", "");
    }
    /* Sections must not overlap; every byte between them (alignment padding) must be zero. */
    int sorted[NUM_SECTION_KINDS];
    memcpy(sorted, order, sizeof sorted);
    for (int i = 1; i < NUM_SECTION_KINDS; i++) /* by (offset, size); stable like Python's sort */
        for (int j = i; j > 0; j--) {
            const struct atalla_blob_section *a = &s[sorted[j - 1]], *b = &s[sorted[j]];
            if (a->offset > b->offset || (a->offset == b->offset && a->size > b->size)) {
                int t = sorted[j];
                sorted[j] = sorted[j - 1], sorted[j - 1] = t;
            } else {
                break;
            }
        }
    uint64_t pos = h->header_bytes;
    char prev[32] = "header";
    for (int i = 0; i < NUM_SECTION_KINDS; i++) {
        const struct atalla_blob_section *e = &s[sorted[i]];
        const char *name = section_name((uint32_t)sorted[i]);
        if (e->offset < pos) {
            PREFIX("section %s ", name);
            add_range(&L->msg, e->offset, e->size);
            return fail(L, ATALLA_LOAD_BAD_SECTION_TABLE, " overlaps %s (which ends at 0x%llx)", prev,
                        (unsigned long long)pos);
        }
        for (uint64_t b = pos; b < e->offset; b++)
            if (L->data[b])
                return fail(L, ATALLA_LOAD_BAD_SECTION_TABLE, "non-zero padding byte at offset 0x%llx between %s and section %s",
                            (unsigned long long)b, prev, name);
        pos = (uint64_t)e->offset + e->size;
        snprintf(prev, sizeof prev, "section %s", name);
    }
    if (L->size != pos)
        return fail(L, ATALLA_LOAD_BAD_SECTION_TABLE, "%llu unexpected trailing bytes after %s (blob should end at 0x%llx)",
                    (unsigned long long)(L->size - pos), prev, (unsigned long long)pos);
    for (int i = 0; i < NUM_SECTION_KINDS; i++) {
        const struct atalla_blob_section *e = &s[order[i]];
        const uint32_t crc = crc32_of(0, L->data + e->offset, e->size);
        if (crc != e->crc32)
            return fail(L, ATALLA_LOAD_BAD_CRC, "section %s: CRC mismatch (stored 0x%08x, computed 0x%08x)",
                        section_name((uint32_t)order[i]), e->crc32, crc);
        L->body[order[i]] = L->data + e->offset, L->body_size[order[i]] = e->size;
    }
    return ATALLA_LOAD_OK;
}

/* ---- the config record ---- */

static int need(loader *L, int ok, const char *what) {
    if (ok) return ATALLA_LOAD_OK;
    const char *name = L->p->config.name;
    PREFIX("config record is not a valid hardware config: hardware config ");
    repr_str_utf8(&L->msg, (const uint8_t *)name, strnlen(name, ATALLA_BLOB_CONFIG_NAME_BYTES));
    return fail(L, ATALLA_LOAD_BAD_CONFIG, ": %s", what);
}

static void add_config_name(text *t, const struct atalla_hw_config *c) {
    repr_str_utf8(t, (const uint8_t *)c->name, strnlen(c->name, ATALLA_BLOB_CONFIG_NAME_BYTES));
}

static int read_config(loader *L, const struct atalla_hw_config *expect) {
    const struct atalla_blob_header *h = &L->h;
    struct atalla_hw_config *c = &L->p->config;
    size_t raw = ATALLA_BLOB_CONFIG_NAME_BYTES;
    while (raw && h->config_name[raw - 1] == 0) raw--;
    if (!raw || memchr(h->config_name, 0, raw)) {
        PREFIX("config record: config_name ");
        repr_bytes(&L->msg, (const uint8_t *)h->config_name, ATALLA_BLOB_CONFIG_NAME_BYTES);
        return fail(L, ATALLA_LOAD_BAD_CONFIG, " is not a NUL-padded name");
    }
    size_t start, end;
    const char *reason;
    if (!utf8_check((const uint8_t *)h->config_name, raw, &start, &end, &reason)) {
        PREFIX("config record is not a valid hardware config: ");
        utf8_error_text(&L->msg, (const uint8_t *)h->config_name, start, end, reason);
        return fail(L, ATALLA_LOAD_BAD_CONFIG, "%s", "");
    }
    memset(c->name, 0, sizeof c->name);
    memcpy(c->name, h->config_name, raw);
    /* The fields in blob order: the header's cfg_ fields and atalla_hw_config's follow CONFIG_FIELDS. */
    memcpy(&c->array_rows, (const uint8_t *)h + offsetof(struct atalla_blob_header, cfg_array_rows),
           sizeof *c - offsetof(struct atalla_hw_config, array_rows));
    ATALLA_STATIC_ASSERT(sizeof(struct atalla_hw_config) - offsetof(struct atalla_hw_config, array_rows)
                             == HEADER_SIZE - offsetof(struct atalla_blob_header, cfg_array_rows),
                         "the config record and atalla_hw_config hold the same fields");
    /* HardwareConfig.__post_init__, rule by rule. */
    static const struct {
        size_t offset;
        const char *what;
    } positive[] = {
        {offsetof(struct atalla_hw_config, array_rows), "array_rows must be positive"},
        {offsetof(struct atalla_hw_config, array_cols), "array_cols must be positive"},
        {offsetof(struct atalla_hw_config, sp_bytes), "sp_bytes must be positive"},
        {offsetof(struct atalla_hw_config, sp_row_bytes), "sp_row_bytes must be positive"},
        {offsetof(struct atalla_hw_config, sp_banks), "sp_banks must be positive"},
        {offsetof(struct atalla_hw_config, sp_page_bytes), "sp_page_bytes must be positive"},
        {offsetof(struct atalla_hw_config, dram_bytes), "dram_bytes must be positive"},
        {offsetof(struct atalla_hw_config, dram_align), "dram_align must be positive"},
        {offsetof(struct atalla_hw_config, dma_bytes_per_cycle), "dma_bytes_per_cycle must be positive"},
        {offsetof(struct atalla_hw_config, num_handles), "num_handles must be positive"},
        {offsetof(struct atalla_hw_config, num_tickets), "num_tickets must be positive"},
    };
    int rc;
    for (size_t i = 0; i < sizeof positive / sizeof positive[0]; i++) {
        uint32_t v;
        memcpy(&v, (const uint8_t *)c + positive[i].offset, sizeof v);
        if ((rc = need(L, v > 0, positive[i].what))) return rc;
    }
    const uint32_t lanes = c->sp_row_bytes / ATALLA_BF16_BYTES;
    const uint64_t sp_rows = c->sp_bytes / c->sp_row_bytes;
    if ((rc = need(L, c->sp_row_bytes % ATALLA_BF16_BYTES == 0 && lanes > 0, "sp_row_bytes must hold whole bf16 elements"))
        || (rc = need(L, c->array_rows <= lanes && c->array_cols <= lanes,
                      "a scratchpad row must hold one array row and one array column of bf16"))
        || (rc = need(L, c->dma_bytes_per_cycle % ATALLA_INDEX_BYTES == 0, "dma_bytes_per_cycle must hold whole int32 row ids"))
        || (rc = need(L, c->sp_page_bytes % c->sp_row_bytes == 0, "sp_page_bytes must be whole rows"))
        || (rc = need(L, c->sp_bytes % c->sp_page_bytes == 0, "sp_bytes must be whole pages"))
        || (rc = need(L, sp_rows < (1u << 24), "scratchpad rows must fit the 24-bit row field of a buffer reference"))
        || (rc = need(L, sp_rows % c->sp_banks == 0, "sp rows must split evenly into banks"))
        || (rc = need(L, c->sp_banks >= 2, "sp_banks must be at least 2 (a two-row access spans two banks)"))
        || (rc = need(L, c->sp_bank_read_ports >= 2 && c->sp_bank_read_ports <= 8,
                      "sp_bank_read_ports must be 2..8 (the vector unit reads two operands of one bank in a cycle)"))
        || (rc = need(L, c->sp_bank_write_ports >= 1 && c->sp_bank_write_ports <= 8, "sp_bank_write_ports must be 1..8"))
        || (rc = need(L, (c->dram_align & (c->dram_align - 1)) == 0, "dram_align must be a power of two"))
        || (rc = need(L, c->dram_bytes % c->dram_align == 0, "dram_bytes must be aligned and <= 4 GiB"))
        || (rc = need(L, c->num_handles <= 256, "num_handles must be 1..256 (8-bit handle field)"))
        || (rc = need(L, c->vec_div_latency >= 1 && c->vec_div_latency <= ATALLA_DIV_QUOTIENT_BITS,
                      "vec_div_latency must be 1.." DECIMAL(ATALLA_DIV_QUOTIENT_BITS) " (each stage of the divider retires a quotient bit)"))
        || (rc = need(L, c->vec_reduce_latency >= 1 && c->vec_reduce_latency <= (lanes > 1 ? lanes - 1 : 1),
                      "vec_reduce_latency must be 1..max(1, lanes - 1) (each stage of the reduction adds a lane)")))
        return rc;
    if (expect && memcmp(c, expect, sizeof *c) != 0) {
        PREFIX("blob was compiled for config ");
        add_config_name(&L->msg, c);
        PREFIX(" but this run uses ");
        add_config_name(&L->msg, expect);
        const uint32_t *mine = &c->array_rows, *theirs = &expect->array_rows;
        for (uint32_t i = 0; atalla_hw_config_field(i); i++)
            if (mine[i] != theirs[i])
                return fail(L, ATALLA_LOAD_CONFIG_MISMATCH, " (%s %u != %u)", atalla_hw_config_field(i), mine[i], theirs[i]);
        PREFIX(" (name ");
        add_config_name(&L->msg, c);
        PREFIX(" != ");
        add_config_name(&L->msg, expect);
        return fail(L, ATALLA_LOAD_CONFIG_MISMATCH, ")");
    }
    return ATALLA_LOAD_OK;
}

/* ---- metadata and strings ---- */

static int read_metadata(loader *L) {
    const uint8_t *body = L->body[ATALLA_SECTION_METADATA];
    const size_t n = L->body_size[ATALLA_SECTION_METADATA];
    size_t start, end;
    const char *reason;
    if (!utf8_check(body, n, &start, &end, &reason)) {
        PREFIX("section METADATA: not valid UTF-8 JSON: ");
        utf8_error_text(&L->msg, body, start, end, reason);
        return fail(L, ATALLA_LOAD_BAD_METADATA, "%s", "");
    }
    text error = {0};
    json_value *v = json_parse(body, n, &error);
    if (!v) {
        PREFIX("section METADATA: not valid UTF-8 JSON: %s", error.data ? error.data : "");
        text_free(&error);
        return fail(L, ATALLA_LOAD_BAD_METADATA, "%s", "");
    }
    const json_type type = v->type;
    const char *type_name = json_type_name(v);
    json_free(v);
    if (type != J_DICT) return fail(L, ATALLA_LOAD_BAD_METADATA, "section METADATA: expected a JSON object, got %s", type_name);
    return ATALLA_LOAD_OK;
}

/* A string of STRINGS; what names it in errors ("tensor 3 name"), already in L->msg's prefix form. */
static int read_string(loader *L, uint32_t offset, uint32_t length, const char *what, const uint8_t **out) {
    const uint32_t size = L->body_size[ATALLA_SECTION_STRINGS];
    if ((uint64_t)offset + length > size) {
        PREFIX("%s: string ", what);
        add_range(&L->msg, offset, length);
        return fail(L, ATALLA_LOAD_BAD_STRING, " is outside STRINGS (%u bytes)", size);
    }
    const uint8_t *s = L->body[ATALLA_SECTION_STRINGS] + offset;
    size_t start, end;
    const char *reason;
    if (!utf8_check(s, length, &start, &end, &reason))
        return fail(L, ATALLA_LOAD_BAD_STRING, "%s: string at STRINGS offset 0x%x is not valid UTF-8: %s", what, offset,
                    reason);
    *out = s;
    return ATALLA_LOAD_OK;
}

static int records(loader *L, uint32_t kind, size_t record_size, const char *record_name, int code, uint32_t *count) {
    const uint32_t n = L->body_size[kind];
    if (n % record_size)
        return fail(L, code, "section %s: size %u is not a multiple of the %zu-byte %s record", section_name(kind), n,
                    record_size, record_name);
    *count = (uint32_t)(n / record_size);
    return ATALLA_LOAD_OK;
}

/* ---- tensors ---- */

static void tensor_where(loader *L, uint32_t i) {
    PREFIX("tensor %u (", i);
    repr_str_utf8(&L->msg, (const uint8_t *)L->p->names[i], strlen(L->p->names[i]));
    PREFIX("): ");
}

static int read_tensors(loader *L) {
    atalla_program *p = L->p;
    const struct atalla_hw_config *c = &p->config;
    uint32_t count = 0;
    int rc = records(L, ATALLA_SECTION_TENSORS, sizeof(struct atalla_blob_tensor), "atalla_blob_tensor",
                     ATALLA_LOAD_BAD_TENSOR, &count);
    if (rc) return rc;
    p->tensors = calloc(count + 1, sizeof *p->tensors);
    p->names = calloc(count + 1, sizeof *p->names);
    if (!p->tensors || !p->names) return fail(L, ATALLA_LOAD_HOST_MEMORY, "out of host memory");
    for (uint32_t i = 0; i < count; i++) {
        struct atalla_blob_tensor r;
        memcpy(&r, L->body[ATALLA_SECTION_TENSORS] + (size_t)i * sizeof r, sizeof r);
        char what[48];
        snprintf(what, sizeof what, "tensor %u name", i);
        const uint8_t *name;
        if ((rc = read_string(L, r.name_offset, r.name_len, what, &name))) return rc;
        if (!(p->names[i] = malloc((size_t)r.name_len + 1))) return fail(L, ATALLA_LOAD_HOST_MEMORY, "out of host memory");
        memcpy(p->names[i], name, r.name_len);
        p->names[i][r.name_len] = 0;
        p->tensors[i] = r;
        p->num_tensors = i + 1; /* freed with the program from here on */
        for (uint32_t j = 0; j < i; j++)
            if (strlen(p->names[j]) == r.name_len && memcmp(p->names[j], name, r.name_len) == 0) {
                tensor_where(L, i);
                return fail(L, ATALLA_LOAD_BAD_TENSOR, "name already used by tensor %u", j);
            }
        if (!atalla_dtype_name(r.dtype)) return tensor_where(L, i), fail(L, ATALLA_LOAD_BAD_TENSOR, "unknown dtype %u", r.dtype);
        if (!atalla_role_name(r.role)) return tensor_where(L, i), fail(L, ATALLA_LOAD_BAD_TENSOR, "unknown role %u", r.role);
        const uint32_t ndim = r.ndim;
        if (ndim > ATALLA_BLOB_MAX_DIMS)
            return tensor_where(L, i), fail(L, ATALLA_LOAD_BAD_TENSOR, "ndim %u > MAX_DIMS %d", ndim, ATALLA_BLOB_MAX_DIMS);
        int tail = r.reserved != 0;
        for (uint32_t d = ndim; d < ATALLA_BLOB_MAX_DIMS; d++) tail |= r.shape[d] || r.strides[d];
        if (tail)
            return tensor_where(L, i),
                   fail(L, ATALLA_LOAD_BAD_TENSOR, "reserved byte or shape/strides beyond ndim %u are not zero", ndim);
        if (r.dtype == ATALLA_DTYPE_INT32 && (r.role != ATALLA_ROLE_INPUT || r.index_bound == 0))
            return tensor_where(L, i), fail(L, ATALLA_LOAD_BAD_TENSOR,
                                            "an INT32 tensor holds an input's row ids: it must be an INPUT with an "
                                            "index_bound (it is %s, index_bound %u)", atalla_role_name(r.role),
                                            r.index_bound);
        if (r.dtype != ATALLA_DTYPE_INT32 && r.index_bound)
            return tensor_where(L, i), fail(L, ATALLA_LOAD_BAD_TENSOR,
                                            "index_bound %u on a %s tensor (only INT32 row ids have one)", r.index_bound,
                                            atalla_dtype_name(r.dtype));
        big nbytes = big_of(atalla_dtype_bytes(r.dtype));
        for (uint32_t d = 0; d < ndim; d++) nbytes = big_mul(nbytes, r.shape[d]);
        if (!big_equals_u32(nbytes, r.nbytes)) {
            tensor_where(L, i);
            PREFIX("nbytes %u != ", r.nbytes);
            add_big(&L->msg, nbytes);
            PREFIX(" for shape [");
            for (uint32_t d = 0; d < ndim; d++) PREFIX("%s%u", d ? ", " : "", r.shape[d]);
            return fail(L, ATALLA_LOAD_BAD_TENSOR, "] %s", atalla_dtype_name(r.dtype));
        }
        big strides[ATALLA_BLOB_MAX_DIMS];
        big acc = big_of(1);
        int contiguous = 1;
        for (int d = (int)ndim - 1; d >= 0; d--) {
            strides[d] = acc;
            contiguous &= big_equals_u32(acc, r.strides[d]);
            acc = big_mul(acc, r.shape[d]);
        }
        if (!contiguous) {
            tensor_where(L, i);
            PREFIX("strides [");
            for (uint32_t d = 0; d < ndim; d++) PREFIX("%s%u", d ? ", " : "", r.strides[d]);
            PREFIX("] are not contiguous [");
            for (uint32_t d = 0; d < ndim; d++) {
                if (d) PREFIX(", ");
                add_big(&L->msg, strides[d]);
            }
            return fail(L, ATALLA_LOAD_BAD_TENSOR, "]");
        }
        if (r.dram_offset % c->dram_align)
            return tensor_where(L, i), fail(L, ATALLA_LOAD_BAD_TENSOR, "dram_offset 0x%x is not aligned to dram_align %u",
                                            r.dram_offset, c->dram_align);
        if ((uint64_t)r.dram_offset + r.nbytes > c->dram_bytes) {
            tensor_where(L, i);
            PREFIX("DRAM range ");
            add_range(&L->msg, r.dram_offset, r.nbytes);
            PREFIX(" is outside DRAM (config ");
            add_config_name(&L->msg, c);
            return fail(L, ATALLA_LOAD_BAD_TENSOR, " has 0x%x bytes)", c->dram_bytes);
        }
        const int has_data = r.const_offset != ATALLA_BLOB_NO_CONSTANT;
        if (r.role == ATALLA_ROLE_CONSTANT && !has_data)
            return tensor_where(L, i),
                   fail(L, ATALLA_LOAD_BAD_TENSOR, "CONSTANT tensor has no data (const_offset is NO_CONSTANT)");
        if (r.role != ATALLA_ROLE_CONSTANT && has_data)
            return tensor_where(L, i), fail(L, ATALLA_LOAD_BAD_TENSOR,
                                            "only CONSTANT tensors may have constant data, this one is %s",
                                            atalla_role_name(r.role));
        if (has_data && (uint64_t)r.const_offset + r.nbytes > L->body_size[ATALLA_SECTION_CONSTANTS]) {
            tensor_where(L, i);
            PREFIX("constant data ");
            add_range(&L->msg, r.const_offset, r.nbytes);
            return fail(L, ATALLA_LOAD_BAD_TENSOR, " is outside CONSTANTS (%u bytes)", L->body_size[ATALLA_SECTION_CONSTANTS]);
        }
    }
    p->num_tensors = count;
    return ATALLA_LOAD_OK;
}

/* ---- host ops ---- */

static const atalla_host_op_rule *host_rule(const uint8_t *target, uint32_t len) {
    for (size_t i = 0; i < ATALLA_NUM_HOST_OP_RULES; i++)
        if (strlen(atalla_host_op_rules[i].target) == len && memcmp(atalla_host_op_rules[i].target, target, len) == 0)
            return &atalla_host_op_rules[i];
    return NULL;
}

static int is_tensor_ref(const json_value *v) {
    return v->type == J_DICT && v->count == 1 && json_str_equals(v->keys[0], "tensor");
}

static int is_id(const json_value *v, uint32_t count) {
    return v->type == J_INT && v->fits && v->integer >= 0 && v->integer < count;
}

/* A leaf argument (atalla/host_ops.py _leaves): its path and value. */
typedef struct {
    char *path;
    const json_value *value;
} leaf;

typedef struct {
    leaf *items;
    size_t count, cap;
    int failed;
} leaves;

static void add_leaves(leaves *out, const char *path, const json_value *v) {
    if (v->type == J_LIST) {
        for (size_t i = 0; i < v->count; i++) {
            text sub = {0};
            text_printf(&sub, "%s[%zu]", path, i);
            if (sub.failed) out->failed = 1;
            else add_leaves(out, sub.data, v->items[i]);
            text_free(&sub);
        }
        return;
    }
    if (out->count == out->cap) {
        size_t cap = out->cap ? 2 * out->cap : 16;
        leaf *grown = realloc(out->items, cap * sizeof *grown);
        if (!grown) {
            out->failed = 1;
            return;
        }
        out->items = grown, out->cap = cap;
    }
    char *copy = strdup(path);
    if (!copy) {
        out->failed = 1;
        return;
    }
    out->items[out->count++] = (leaf){copy, v};
}

static void free_leaves(leaves *l) {
    for (size_t i = 0; i < l->count; i++) free(l->items[i].path);
    free(l->items);
}

/* The key of a kwargs entry as a path: the Python str itself. */
static char *key_text(const json_value *key) {
    text t = {0};
    for (size_t i = 0; i < key->len; i++) text_add_char(&t, key->chars[i]);
    return t.data ? t.data : strdup("");
}

static int host_op_checks(loader *L, uint32_t i, const uint8_t *target, uint32_t target_len, const json_value *spec) {
    const uint32_t num_tensors = L->p->num_tensors;
#define WHERE()                                                  \
    do {                                                         \
        PREFIX("host op %u (", i);                               \
        repr_str_utf8(&L->msg, target, target_len);              \
        PREFIX("): ");                                           \
    } while (0)
    const json_value *args = spec->type == J_DICT ? json_get(spec, "args") : NULL;
    const json_value *kwargs = spec->type == J_DICT ? json_get(spec, "kwargs") : NULL;
    const json_value *outputs = spec->type == J_DICT ? json_get(spec, "outputs") : NULL;
    if (!(spec->type == J_DICT && spec->count == 3 && args && kwargs && outputs && args->type == J_LIST
          && kwargs->type == J_DICT && outputs->type == J_LIST)) {
        WHERE();
        return fail(L, ATALLA_LOAD_BAD_HOST_OP,
                    "args JSON must be {\"args\": [...], \"kwargs\": {...}, \"outputs\": [...]}");
    }
    const atalla_host_op_rule *rule = host_rule(target, target_len);
    if (!rule) {
        WHERE();
        return fail(L, ATALLA_LOAD_BAD_HOST_OP, "not an op the host may run (the allow-list is atalla/host_ops.py)");
    }
    leaves all = {0};
    for (size_t a = 0; a < args->count; a++) {
        char path[32];
        snprintf(path, sizeof path, "%zu", a);
        add_leaves(&all, path, args->items[a]);
    }
    for (size_t k = 0; k < kwargs->count; k++) {
        char *path = key_text(kwargs->keys[k]);
        if (!path) all.failed = 1;
        else add_leaves(&all, path, kwargs->items[k]), free(path);
    }
    int rc = ATALLA_LOAD_OK;
    if (all.failed) rc = fail(L, ATALLA_LOAD_HOST_MEMORY, "out of host memory");
    for (size_t k = 0; k < all.count && !rc; k++) {
        const json_value *v = all.items[k].value;
        if (v->type == J_STR) {
            int allowed = 0;
            for (const char *const *s = rule->strings; *s; s++) allowed |= json_str_equals(v, *s);
            if (!allowed) {
                WHERE();
                PREFIX("argument %s is the string ", all.items[k].path);
                repr_json(&L->msg, v);
                PREFIX("; the op's string arguments are only: ");
                if (!rule->strings[0]) PREFIX("none");
                for (const char *const *s = rule->strings; *s; s++) PREFIX("%s%s", s == rule->strings ? "" : ", ", *s);
                rc = fail(L, ATALLA_LOAD_BAD_HOST_OP, "%s", "");
            }
        } else if (!(v->type == J_NULL || v->type == J_BOOL || v->type == J_INT || v->type == J_FLOAT || is_tensor_ref(v))) {
            WHERE();
            rc = fail(L, ATALLA_LOAD_BAD_HOST_OP, "argument %s is a %s, not a tensor, number, boolean or None",
                      all.items[k].path, json_type_name(v));
        }
    }
    for (size_t k = 0; k < all.count && !rc; k++) {
        const json_value *v = all.items[k].value;
        if (is_tensor_ref(v) && !is_id(v->items[0], num_tensors)) {
            WHERE();
            PREFIX("tensor reference ");
            repr_json(&L->msg, v->items[0]);
            rc = fail(L, ATALLA_LOAD_BAD_HOST_OP, " is not a tensor id (< %u)", num_tensors);
        }
    }
    free_leaves(&all);
    for (size_t k = 0; k < outputs->count && !rc; k++)
        if (!is_id(outputs->items[k], num_tensors)) {
            WHERE();
            PREFIX("output ");
            repr_json(&L->msg, outputs->items[k]);
            rc = fail(L, ATALLA_LOAD_BAD_HOST_OP, " is not a tensor id (< %u)", num_tensors);
        }
    return rc;
#undef WHERE
}

static int read_host_ops(loader *L) {
    uint32_t count = 0;
    int rc = records(L, ATALLA_SECTION_HOST_OPS, sizeof(struct atalla_blob_host_op), "atalla_blob_host_op",
                     ATALLA_LOAD_BAD_HOST_OP, &count);
    if (rc) return rc;
    for (uint32_t i = 0; i < count; i++) {
        struct atalla_blob_host_op r;
        memcpy(&r, L->body[ATALLA_SECTION_HOST_OPS] + (size_t)i * sizeof r, sizeof r);
        char what[48];
        snprintf(what, sizeof what, "host op %u target", i);
        const uint8_t *target, *args;
        if ((rc = read_string(L, r.target_offset, r.target_len, what, &target))) return rc;
        if (r.target_len == 0) return fail(L, ATALLA_LOAD_BAD_HOST_OP, "host op %u: empty target", i);
        text where = {0};
        text_printf(&where, "host op %u (", i);
        repr_str_utf8(&where, target, r.target_len);
        text_add(&where, ") args");
        if (where.failed) return text_free(&where), fail(L, ATALLA_LOAD_HOST_MEMORY, "out of host memory");
        rc = read_string(L, r.args_offset, r.args_len, where.data, &args);
        text_free(&where);
        if (rc) return rc;
        text error = {0};
        json_value *spec = json_parse(args, r.args_len, &error);
        if (!spec) {
            PREFIX("host op %u (", i);
            repr_str_utf8(&L->msg, target, r.target_len);
            PREFIX("): args are not valid JSON: %s", error.data ? error.data : "");
            text_free(&error);
            return fail(L, ATALLA_LOAD_BAD_HOST_OP, "%s", "");
        }
        rc = host_op_checks(L, i, target, r.target_len, spec);
        json_free(spec);
        if (rc) return rc;
    }
    L->p->num_host_ops = count;
    return ATALLA_LOAD_OK;
}

/* ---- commands ---- */

static const char *kind_name(uint32_t op, uint32_t func, char *buf, size_t size) {
    if (op != ATALLA_OP_VEC) return atalla_opcode_name(op);
    snprintf(buf, size, "VEC.%s", atalla_vec_func_name(func));
    return buf;
}

typedef struct {
    const char *name;
    uint32_t handle;
} handle_field;

static int check_command(loader *L, uint32_t i, const uint32_t *w) {
    const struct atalla_hw_config *c = &L->p->config;
    const uint32_t op = w[0] & 0xffu, func = (w[0] >> ATALLA_FUNC_SHIFT) & 0xffu, flags = w[0] >> ATALLA_FLAGS_SHIFT;
    char kind_buf[32], where[64];
    snprintf(where, sizeof where, "command %u (%s)", i, kind_name(op, func, kind_buf, sizeof kind_buf));
    if (op != ATALLA_OP_VEC && op != ATALLA_OP_GEMM && func)
        return fail(L, ATALLA_LOAD_BAD_COMMAND, "%s: func %u must be 0 outside VEC and GEMM", where, func);
    const uint32_t allowed = op == ATALLA_OP_GEMM       ? ATALLA_GEMM_FLAGS
                             : op == ATALLA_OP_DMA_LOAD ? ATALLA_FLAG_GATHER
                             : op == ATALLA_OP_VEC ? ATALLA_FLAG_DST_FP32 | ATALLA_FLAG_A_FP32 | ATALLA_FLAG_B_FP32
                                                         | ATALLA_BMODE_MASK
                                                   : 0;
    if (flags & ~allowed) return fail(L, ATALLA_LOAD_BAD_COMMAND, "%s: undefined flag bits 0x%x", where, flags & ~allowed);
    handle_field handles[4];
    int n = 0;
    switch (op) {
    case ATALLA_OP_ALLOC: case ATALLA_OP_FREE: handles[n++] = (handle_field){"handle", w[1]}; break;
    case ATALLA_OP_DMA_LOAD: case ATALLA_OP_DMA_STORE:
        handles[n++] = (handle_field){"sp", w[ATALLA_DMA_LOAD_SP_WORD] >> ATALLA_REF_HANDLE_SHIFT};
        break;
    case ATALLA_OP_GEMM:
        handles[n++] = (handle_field){"a", w[ATALLA_GEMM_A_WORD] >> ATALLA_REF_HANDLE_SHIFT};
        handles[n++] = (handle_field){"b", w[ATALLA_GEMM_B_WORD] >> ATALLA_REF_HANDLE_SHIFT};
        handles[n++] = (handle_field){"c", w[ATALLA_GEMM_C_WORD] >> ATALLA_REF_HANDLE_SHIFT};
        handles[n++] = (handle_field){"d", w[ATALLA_GEMM_D_WORD] >> ATALLA_REF_HANDLE_SHIFT};
        break;
    case ATALLA_OP_VEC:
        handles[n++] = (handle_field){"dst", w[ATALLA_VEC_DST_WORD] >> ATALLA_REF_HANDLE_SHIFT};
        handles[n++] = (handle_field){"a", w[ATALLA_VEC_A_WORD] >> ATALLA_REF_HANDLE_SHIFT};
        if (!atalla_is_unary_func(func) && ((flags & ATALLA_BMODE_MASK) >> ATALLA_BMODE_SHIFT) != ATALLA_BMODE_SCALAR)
            handles[n++] = (handle_field){"b", w[ATALLA_VEC_B_WORD] >> ATALLA_REF_HANDLE_SHIFT};
        break;
    }
    for (int k = 0; k < n; k++)
        if (handles[k].handle >= c->num_handles)
            return fail(L, ATALLA_LOAD_BAD_COMMAND, "%s: %s handle %u >= num_handles %u", where, handles[k].name,
                        handles[k].handle, c->num_handles);
    const uint32_t ticket = op == ATALLA_OP_WAIT ? w[ATALLA_WAIT_TICKET_WORD] : w[ATALLA_DMA_LOAD_TICKET_WORD];
    if ((op == ATALLA_OP_WAIT || op == ATALLA_OP_DMA_LOAD || op == ATALLA_OP_DMA_STORE) && ticket >= c->num_tickets)
        return fail(L, ATALLA_LOAD_BAD_COMMAND, "%s: ticket %u >= num_tickets %u", where, ticket, c->num_tickets);
    if (op == ATALLA_OP_HOST && w[ATALLA_HOST_INDEX_WORD] >= L->p->num_host_ops)
        return fail(L, ATALLA_LOAD_BAD_COMMAND, "%s: host op index %u >= %u host ops", where, w[ATALLA_HOST_INDEX_WORD],
                    L->p->num_host_ops);
    return ATALLA_LOAD_OK;
}

static int read_commands(loader *L) {
    atalla_program *p = L->p;
    const struct atalla_hw_config *c = &p->config;
    const uint32_t size = L->body_size[ATALLA_SECTION_COMMANDS];
    if (size % ATALLA_COMMAND_BYTES)
        return fail(L, ATALLA_LOAD_BAD_COMMAND, "section COMMANDS: size %u is not a multiple of COMMAND_BYTES %d", size,
                    ATALLA_COMMAND_BYTES);
    const uint32_t count = size / ATALLA_COMMAND_BYTES;
    if (count != L->h.command_count)
        return fail(L, ATALLA_LOAD_BAD_COMMAND, "section COMMANDS holds %u commands but header command_count is %u", count,
                    L->h.command_count);
    if (count == 0) return fail(L, ATALLA_LOAD_BAD_COMMAND, "section COMMANDS is empty: the stream must end with END");
    const uint32_t start = L->h.program_dram_offset;
    if (start % 4)
        return fail(L, ATALLA_LOAD_BAD_COMMAND, "command stream: program_dram_offset 0x%x is not word aligned", start);
    if ((uint64_t)start + size > c->dram_bytes) {
        PREFIX("command stream: DRAM range ");
        add_range(&L->msg, start, size);
        PREFIX(" is outside DRAM (config ");
        add_config_name(&L->msg, c);
        return fail(L, ATALLA_LOAD_BAD_COMMAND, " has 0x%x bytes)", c->dram_bytes);
    }
    for (uint32_t i = 0; i < p->num_tensors; i++) {
        const struct atalla_blob_tensor *t = &p->tensors[i];
        if (t->nbytes && start < (uint64_t)t->dram_offset + t->nbytes && t->dram_offset < (uint64_t)start + size) {
            PREFIX("command stream: DRAM range ");
            add_range(&L->msg, start, size);
            PREFIX(" overlaps tensor %u (", i);
            repr_str_utf8(&L->msg, (const uint8_t *)p->names[i], strlen(p->names[i]));
            PREFIX(") ");
            add_range(&L->msg, t->dram_offset, t->nbytes);
            return fail(L, ATALLA_LOAD_BAD_COMMAND, "%s", "");
        }
    }
    if (!(p->commands = malloc((size_t)size))) return fail(L, ATALLA_LOAD_HOST_MEMORY, "out of host memory");
    memcpy(p->commands, L->body[ATALLA_SECTION_COMMANDS], size);
    p->num_commands = count;
    uint32_t last_op = 0, last_func = 0;
    for (uint32_t i = 0; i < count; i++) {
        const uint32_t *w = p->commands[i].words;
        const uint32_t op = w[0] & 0xffu, func = (w[0] >> ATALLA_FUNC_SHIFT) & 0xffu;
        if (!atalla_opcode_name(op)) return fail(L, ATALLA_LOAD_BAD_COMMAND, "command %u: unknown opcode %u", i, op);
        if (op == ATALLA_OP_VEC && !atalla_vec_func_name(func))
            return fail(L, ATALLA_LOAD_BAD_COMMAND, "command %u: unknown vector function %u", i, func);
        for (uint32_t k = 1 + atalla_field_count(op); k < ATALLA_COMMAND_WORDS; k++)
            if (w[k])
                return fail(L, ATALLA_LOAD_BAD_COMMAND, "command %u: %s has non-zero unused words", i, atalla_opcode_name(op));
        if (op == ATALLA_OP_END && i != count - 1)
            return fail(L, ATALLA_LOAD_BAD_COMMAND, "command %u: END before the last command (%u)", i, count - 1);
        int rc = check_command(L, i, w);
        if (rc) return rc;
        last_op = op, last_func = func;
    }
    if (last_op != ATALLA_OP_END) {
        char kind_buf[32];
        return fail(L, ATALLA_LOAD_BAD_COMMAND, "command %u: the last command is %s, not END", count - 1,
                    kind_name(last_op, last_func, kind_buf, sizeof kind_buf));
    }
    return ATALLA_LOAD_OK;
}

/* ---- the whole ---- */

int atalla_load(const uint8_t *data, size_t size, const struct atalla_hw_config *expect, atalla_program **out,
                char *message, size_t message_size) {
    loader state = {.data = data, .size = size}, *L = &state;
    L->p = calloc(1, sizeof *L->p);
    int rc = L->p ? ATALLA_LOAD_OK : fail(L, ATALLA_LOAD_HOST_MEMORY, "out of host memory");
    if (!rc) rc = read_header(L);
    if (!rc) rc = read_sections(L);
    if (!rc) rc = read_config(L, expect);
    if (!rc) rc = read_metadata(L);
    if (!rc) rc = read_tensors(L);
    if (!rc && L->h.dram_bytes_used > L->p->config.dram_bytes) {
        PREFIX("header: dram_bytes_used 0x%x exceeds config ", L->h.dram_bytes_used);
        add_config_name(&L->msg, &L->p->config);
        rc = fail(L, ATALLA_LOAD_BAD_HEADER, " DRAM of 0x%x bytes", L->p->config.dram_bytes);
    }
    for (uint32_t i = 0; !rc && i < L->p->num_tensors; i++) {
        const struct atalla_blob_tensor *t = &L->p->tensors[i];
        if ((uint64_t)t->dram_offset + t->nbytes > L->h.dram_bytes_used) {
            tensor_where(L, i);
            PREFIX("DRAM range ");
            add_range(&L->msg, t->dram_offset, t->nbytes);
            rc = fail(L, ATALLA_LOAD_BAD_TENSOR, " ends beyond dram_bytes_used 0x%x", L->h.dram_bytes_used);
        }
    }
    if (!rc) rc = read_host_ops(L);
    if (!rc) rc = read_commands(L);
    if (!rc) {
        L->p->constants_size = L->body_size[ATALLA_SECTION_CONSTANTS];
        L->p->constants = malloc(L->p->constants_size + 1);
        if (!L->p->constants) rc = fail(L, ATALLA_LOAD_HOST_MEMORY, "out of host memory");
        else memcpy(L->p->constants, L->body[ATALLA_SECTION_CONSTANTS], L->p->constants_size);
        L->p->program_dram_offset = L->h.program_dram_offset;
        L->p->dram_bytes_used = L->h.dram_bytes_used;
    }
    if (message_size) {
        snprintf(message, message_size, "%s", rc && L->msg.data ? L->msg.data : "");
    }
    text_free(&L->msg);
    if (rc) {
        atalla_program_free(L->p);
        *out = NULL;
        return rc;
    }
    *out = L->p;
    return ATALLA_LOAD_OK;
}

void atalla_program_free(atalla_program *p) {
    if (!p) return;
    for (uint32_t i = 0; i < p->num_tensors; i++) free(p->names[i]);
    free(p->names);
    free(p->tensors);
    free(p->constants);
    free(p->commands);
    free(p);
}

const struct atalla_hw_config *atalla_program_config(const atalla_program *p) { return &p->config; }
uint32_t atalla_program_num_tensors(const atalla_program *p) { return p->num_tensors; }
const struct atalla_blob_tensor *atalla_program_tensor(const atalla_program *p, uint32_t i) { return &p->tensors[i]; }
const char *atalla_program_tensor_name(const atalla_program *p, uint32_t i) { return p->names[i]; }
uint32_t atalla_program_num_commands(const atalla_program *p) { return p->num_commands; }
uint32_t atalla_program_num_host_ops(const atalla_program *p) { return p->num_host_ops; }

uint32_t atalla_program_count_role(const atalla_program *p, uint32_t role) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < p->num_tensors; i++) n += p->tensors[i].role == role;
    return n;
}

uint64_t atalla_tensor_numel(const struct atalla_blob_tensor *t) { return t->nbytes / atalla_dtype_bytes(t->dtype); }
