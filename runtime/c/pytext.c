/* Python's text rules for the C loader's messages (pytext.h). */
#include "pytext.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 900 /* about where CPython's recursion limit stops json.loads */
#define INT_MAX_STR_DIGITS 4300 /* sys.get_int_max_str_digits() */

/* ---- text ---- */

void text_free(text *t) {
    free(t->data);
    *t = (text){0};
}

void text_addn(text *t, const char *s, size_t n) {
    if (t->failed) return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 64;
        while (cap < t->len + n + 1) cap *= 2;
        char *grown = realloc(t->data, cap);
        if (!grown) {
            t->failed = 1;
            return;
        }
        t->data = grown, t->cap = cap;
    }
    memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = 0;
}

void text_add(text *t, const char *s) { text_addn(t, s, strlen(s)); }

void text_printf(text *t, const char *fmt, ...) {
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) {
        text_addn(t, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        t->failed = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    text_addn(t, big, (size_t)n);
    free(big);
}

/* ---- UTF-8 ---- */

int utf8_check(const uint8_t *s, size_t n, size_t *start, size_t *end, const char **reason) {
    size_t i = 0;
    while (i < n) {
        const uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c < 0xc2 || c > 0xf4) {
            *start = i, *end = i + 1, *reason = "invalid start byte";
            return 0;
        }
        const size_t need = c < 0xe0 ? 1 : c < 0xf0 ? 2 : 3;
        for (size_t k = 1; k <= need; k++) {
            if (i + k >= n) {
                *start = i, *end = n, *reason = "unexpected end of data";
                return 0;
            }
            const uint8_t b = s[i + k];
            int ok = (b & 0xc0) == 0x80;
            if (k == 1 && ok) {
                if (c == 0xe0) ok = b >= 0xa0;
                else if (c == 0xed) ok = b < 0xa0;
                else if (c == 0xf0) ok = b >= 0x90;
                else if (c == 0xf4) ok = b < 0x90;
            }
            if (!ok) {
                *start = i, *end = i + k, *reason = "invalid continuation byte";
                return 0;
            }
        }
        i += need + 1;
    }
    return 1;
}

void utf8_error_text(text *t, const uint8_t *s, size_t start, size_t end, const char *reason) {
    if (end - start == 1)
        text_printf(t, "'utf-8' codec can't decode byte 0x%02x in position %zu: %s", s[start], start, reason);
    else
        text_printf(t, "'utf-8' codec can't decode bytes in position %zu-%zu: %s", start, end - 1, reason);
}

/* Code points of valid UTF-8; *n_out of them. */
static uint32_t *utf8_decode(const uint8_t *s, size_t n, size_t *n_out) {
    uint32_t *out = malloc((n + 1) * sizeof *out);
    if (!out) return NULL;
    size_t i = 0, k = 0;
    while (i < n) {
        const uint8_t c = s[i];
        if (c < 0x80) out[k++] = c, i += 1;
        else if (c < 0xe0) out[k++] = (uint32_t)(c & 0x1f) << 6 | (s[i + 1] & 0x3f), i += 2;
        else if (c < 0xf0) out[k++] = (uint32_t)(c & 0x0f) << 12 | (uint32_t)(s[i + 1] & 0x3f) << 6 | (s[i + 2] & 0x3f), i += 3;
        else
            out[k++] = (uint32_t)(c & 0x07) << 18 | (uint32_t)(s[i + 1] & 0x3f) << 12 | (uint32_t)(s[i + 2] & 0x3f) << 6
                       | (s[i + 3] & 0x3f),
            i += 4;
    }
    *n_out = k;
    return out;
}

void text_add_char(text *t, uint32_t cp) {
    char b[4];
    if (cp < 0x80) b[0] = (char)cp, text_addn(t, b, 1);
    else if (cp < 0x800) b[0] = (char)(0xc0 | cp >> 6), b[1] = (char)(0x80 | (cp & 0x3f)), text_addn(t, b, 2);
    else if (cp < 0x10000)
        b[0] = (char)(0xe0 | cp >> 12), b[1] = (char)(0x80 | ((cp >> 6) & 0x3f)), b[2] = (char)(0x80 | (cp & 0x3f)),
        text_addn(t, b, 3);
    else
        b[0] = (char)(0xf0 | cp >> 18), b[1] = (char)(0x80 | ((cp >> 12) & 0x3f)), b[2] = (char)(0x80 | ((cp >> 6) & 0x3f)),
        b[3] = (char)(0x80 | (cp & 0x3f)), text_addn(t, b, 4);
}

/* ---- repr ---- */

void repr_bytes(text *t, const uint8_t *s, size_t n) {
    int single = 0, dbl = 0;
    for (size_t i = 0; i < n; i++) single |= s[i] == '\'', dbl |= s[i] == '"';
    const char quote = single && !dbl ? '"' : '\'';
    text_printf(t, "b%c", quote);
    for (size_t i = 0; i < n; i++) {
        const uint8_t c = s[i];
        if (c == quote || c == '\\') text_printf(t, "\\%c", c);
        else if (c == '\t') text_add(t, "\\t");
        else if (c == '\n') text_add(t, "\\n");
        else if (c == '\r') text_add(t, "\\r");
        else if (c < 0x20 || c >= 0x7f) text_printf(t, "\\x%02x", c);
        else text_addn(t, (const char *)&c, 1);
    }
    text_addn(t, &quote, 1);
}

/* str.isprintable() of a non-ASCII code point. Exact below U+0100; above it, the format, separator,
 * surrogate and private-use ranges are not printable and the rest is taken as printable (unassigned
 * code points are where this differs from Python's Unicode database). */
static int printable(uint32_t cp) {
    if (cp < 0xa1) return 0;
    if (cp == 0xad) return 0;
    if (cp < 0x100) return 1;
    if (cp == 0x61c || cp == 0x6dd || cp == 0x70f || cp == 0x180e || cp == 0x1680) return 0;
    if ((cp >= 0x2000 && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202f) || (cp >= 0x205f && cp <= 0x206f)) return 0;
    if (cp == 0x3000 || cp == 0xfeff || (cp >= 0xfff9 && cp <= 0xfffb)) return 0;
    if ((cp >= 0xd800 && cp <= 0xf8ff) || (cp >= 0xf0000)) return 0;
    if (cp == 0x110bd || cp == 0x110cd || (cp >= 0x13430 && cp <= 0x1343f) || (cp >= 0x1bca0 && cp <= 0x1bca3)) return 0;
    if ((cp >= 0x1d173 && cp <= 0x1d17a) || cp == 0xe0001 || (cp >= 0xe0020 && cp <= 0xe007f)) return 0;
    return 1;
}

static void repr_chars(text *t, const uint32_t *cps, size_t n) {
    int single = 0, dbl = 0;
    for (size_t i = 0; i < n; i++) single |= cps[i] == '\'', dbl |= cps[i] == '"';
    const char quote = single && !dbl ? '"' : '\'';
    text_addn(t, &quote, 1);
    for (size_t i = 0; i < n; i++) {
        const uint32_t c = cps[i];
        if (c == (uint32_t)quote || c == '\\') text_printf(t, "\\%c", (char)c);
        else if (c == '\t') text_add(t, "\\t");
        else if (c == '\n') text_add(t, "\\n");
        else if (c == '\r') text_add(t, "\\r");
        else if (c < 0x20 || c == 0x7f) text_printf(t, "\\x%02x", c);
        else if (c < 0x7f || printable(c)) text_add_char(t, c);
        else if (c < 0x100) text_printf(t, "\\x%02x", c);
        else if (c < 0x10000) text_printf(t, "\\u%04x", c);
        else text_printf(t, "\\U%08x", c);
    }
    text_addn(t, &quote, 1);
}

void repr_str_utf8(text *t, const uint8_t *s, size_t n) {
    size_t count;
    uint32_t *cps = utf8_decode(s, n, &count);
    if (!cps) {
        t->failed = 1;
        return;
    }
    repr_chars(t, cps, count);
    free(cps);
}

/* repr(float): the shortest digits that read back, in Python's 'r' layout. */
static void repr_float(text *t, double x) {
    if (isnan(x)) return text_add(t, "nan");
    if (isinf(x)) return text_add(t, x < 0 ? "-inf" : "inf");
    char buf[64];
    int precision = 1;
    for (; precision <= 17; precision++) {
        snprintf(buf, sizeof buf, "%.*e", precision - 1, x);
        if (strtod(buf, NULL) == x) break;
    }
    /* buf: [-]d.ddde[+-]XX */
    const char *p = buf;
    int negative = *p == '-';
    if (negative) p++;
    char digits[32];
    int nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[nd++] = *p;
    int exponent = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    if (negative) text_add(t, "-");
    if (exponent >= -4 && exponent < 16) {
        if (exponent < 0) {
            text_add(t, "0.");
            for (int i = -1; i > exponent; i--) text_add(t, "0");
            text_addn(t, digits, (size_t)nd);
        } else {
            for (int i = 0; i <= exponent; i++) text_addn(t, i < nd ? &digits[i] : "0", 1);
            text_add(t, ".");
            if (nd > exponent + 1) text_addn(t, digits + exponent + 1, (size_t)(nd - exponent - 1));
            else text_add(t, "0");
        }
    } else {
        text_addn(t, digits, 1);
        if (nd > 1) text_add(t, "."), text_addn(t, digits + 1, (size_t)(nd - 1));
        text_printf(t, "e%c%02d", exponent < 0 ? '-' : '+', exponent < 0 ? -exponent : exponent);
    }
}

void repr_json(text *t, const json_value *v) {
    switch (v->type) {
    case J_NULL: text_add(t, "None"); break;
    case J_BOOL: text_add(t, v->boolean ? "True" : "False"); break;
    case J_INT: text_add(t, v->digits); break;
    case J_FLOAT: repr_float(t, v->number); break;
    case J_STR: repr_chars(t, v->chars, v->len); break;
    case J_LIST:
        text_add(t, "[");
        for (size_t i = 0; i < v->count; i++) {
            if (i) text_add(t, ", ");
            repr_json(t, v->items[i]);
        }
        text_add(t, "]");
        break;
    case J_DICT:
        text_add(t, "{");
        for (size_t i = 0; i < v->count; i++) {
            if (i) text_add(t, ", ");
            repr_json(t, v->keys[i]);
            text_add(t, ": ");
            repr_json(t, v->items[i]);
        }
        text_add(t, "}");
        break;
    }
}

const char *json_type_name(const json_value *v) {
    static const char *const names[] = {"NoneType", "bool", "int", "float", "str", "list", "dict"};
    return names[v->type];
}

int json_str_equals(const json_value *v, const char *ascii) {
    if (v->type != J_STR || v->len != strlen(ascii)) return 0;
    for (size_t i = 0; i < v->len; i++)
        if (v->chars[i] != (uint8_t)ascii[i]) return 0;
    return 1;
}

const json_value *json_get(const json_value *dict, const char *key) {
    for (size_t i = 0; i < dict->count; i++)
        if (json_str_equals(dict->keys[i], key)) return dict->items[i];
    return NULL;
}

void json_free(json_value *v) {
    if (!v) return;
    free(v->digits);
    free(v->chars);
    for (size_t i = 0; i < v->count; i++) {
        json_free(v->items[i]);
        if (v->keys) json_free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v);
}

/* ---- json.loads (CPython 3.11, Modules/_json.c scan_once_unicode) ---- */

typedef struct {
    const uint32_t *s;
    size_t n;
    text *error;
    const char *message; /* the JSONDecodeError's msg, or a ValueError's whole text in error */
    size_t at;
    int failed;
} scanner;

static json_value *raise_at(scanner *sc, const char *message, size_t at) {
    if (!sc->failed) sc->failed = 1, sc->message = message, sc->at = at;
    return NULL;
}

static int ws(uint32_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static json_value *new_value(scanner *sc, json_type type) {
    json_value *v = calloc(1, sizeof *v);
    if (!v) raise_at(sc, "out of memory", 0);
    else v->type = type;
    return v;
}

static int append(json_value *v, json_value *item, json_value *key) {
    if ((v->count & (v->count - 1)) == 0) { /* grow at powers of two */
        size_t cap = v->count ? 2 * v->count : 1;
        json_value **items = realloc(v->items, cap * sizeof *items);
        if (!items) return 0;
        v->items = items;
        if (key) {
            json_value **keys = realloc(v->keys, cap * sizeof *keys);
            if (!keys) return 0;
            v->keys = keys;
        }
    }
    v->items[v->count] = item;
    if (key) v->keys[v->count] = key;
    v->count++;
    return 1;
}

static json_value *scan_once(scanner *sc, size_t idx, size_t *next, int depth);

static int hex_digit(uint32_t c) {
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return -1;
}

static json_value *scan_string(scanner *sc, size_t end, size_t *next_end) {
    const uint32_t *s = sc->s;
    const size_t len = sc->n, begin = end - 1;
    json_value *v = new_value(sc, J_STR);
    if (!v) return NULL;
    v->chars = malloc((len + 1) * sizeof *v->chars);
    if (!v->chars) return json_free(v), raise_at(sc, "out of memory", 0);
    for (;;) {
        size_t next = end;
        uint32_t c = 0;
        for (; next < len; next++) {
            c = s[next];
            if (c == '"' || c == '\\') break;
            if (c <= 0x1f) return json_free(v), raise_at(sc, "Invalid control character at", next);
        }
        if (next == len || (c != '"' && c != '\\')) return json_free(v), raise_at(sc, "Unterminated string starting at", begin);
        for (size_t i = end; i < next; i++) v->chars[v->len++] = s[i];
        next++;
        if (c == '"') {
            end = next;
            break;
        }
        if (next == len) return json_free(v), raise_at(sc, "Unterminated string starting at", begin);
        c = s[next];
        if (c != 'u') {
            end = next + 1;
            switch (c) {
            case '"': case '\\': case '/': break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            default: c = 0;
            }
            if (c == 0) return json_free(v), raise_at(sc, "Invalid \\escape", end - 2);
        } else {
            c = 0;
            next++;
            end = next + 4;
            if (end >= len) return json_free(v), raise_at(sc, "Invalid \\uXXXX escape", next - 1);
            for (; next < end; next++) {
                int d = hex_digit(s[next]);
                if (d < 0) return json_free(v), raise_at(sc, "Invalid \\uXXXX escape", end - 5);
                c = c << 4 | (uint32_t)d;
            }
            if (c >= 0xd800 && c <= 0xdbff && end + 6 < len && s[next++] == '\\' && s[next++] == 'u') {
                uint32_t c2 = 0;
                end += 6;
                for (; next < end; next++) {
                    int d = hex_digit(s[next]);
                    if (d < 0) return json_free(v), raise_at(sc, "Invalid \\uXXXX escape", end - 5);
                    c2 = c2 << 4 | (uint32_t)d;
                }
                if (c2 >= 0xdc00 && c2 <= 0xdfff) c = 0x10000 + ((c - 0xd800) << 10 | (c2 - 0xdc00));
                else end -= 6;
            }
        }
        v->chars[v->len++] = c;
    }
    *next_end = end;
    return v;
}

static json_value *scan_number(scanner *sc, size_t start, size_t *next) {
    const uint32_t *s = sc->s;
    const size_t end_idx = sc->n - 1;
    size_t idx = start;
    int is_float = 0;
    if (s[idx] == '-') {
        idx++;
        if (idx > end_idx) return raise_at(sc, NULL, start); /* StopIteration */
    }
    if (s[idx] >= '1' && s[idx] <= '9') {
        idx++;
        while (idx <= end_idx && s[idx] >= '0' && s[idx] <= '9') idx++;
    } else if (s[idx] == '0') {
        idx++;
    } else {
        return raise_at(sc, NULL, start);
    }
    if (idx < end_idx && s[idx] == '.' && s[idx + 1] >= '0' && s[idx + 1] <= '9') {
        is_float = 1;
        idx += 2;
        while (idx <= end_idx && s[idx] >= '0' && s[idx] <= '9') idx++;
    }
    if (idx < end_idx && (s[idx] == 'e' || s[idx] == 'E')) {
        const size_t e_start = idx;
        idx++;
        if (idx < end_idx && (s[idx] == '-' || s[idx] == '+')) idx++;
        while (idx <= end_idx && s[idx] >= '0' && s[idx] <= '9') idx++;
        if (s[idx - 1] >= '0' && s[idx - 1] <= '9') is_float = 1;
        else idx = e_start;
    }
    char *ascii = malloc(idx - start + 1);
    if (!ascii) return raise_at(sc, "out of memory", 0);
    for (size_t i = start; i < idx; i++) ascii[i - start] = (char)s[i];
    ascii[idx - start] = 0;
    json_value *v = new_value(sc, is_float ? J_FLOAT : J_INT);
    if (!v) return free(ascii), NULL;
    if (is_float) {
        v->number = strtod(ascii, NULL);
        free(ascii);
    } else {
        const char *digits = ascii[0] == '-' ? ascii + 1 : ascii;
        const size_t count = strlen(digits);
        if (count > INT_MAX_STR_DIGITS) {
            text_printf(sc->error, "Exceeds the limit (%d digits) for integer string conversion: value has %zu digits; "
                                   "use sys.set_int_max_str_digits() to increase the limit", INT_MAX_STR_DIGITS, count);
            free(ascii), json_free(v);
            return raise_at(sc, "", 0);
        }
        if (strcmp(ascii, "-0") == 0) memmove(ascii, ascii + 1, 2); /* int("-0") prints as 0 */
        v->digits = ascii;
        errno = 0;
        v->integer = strtoll(ascii, NULL, 10);
        v->fits = errno == 0;
    }
    *next = idx;
    return v;
}

static int literal(const scanner *sc, size_t idx, const char *word) {
    const size_t n = strlen(word);
    if (idx + n > sc->n) return 0;
    for (size_t i = 0; i < n; i++)
        if (sc->s[idx + i] != (uint8_t)word[i]) return 0;
    return 1;
}

static json_value *scan_container(scanner *sc, size_t idx, size_t *next, int depth, int object) {
    if (depth > JSON_MAX_DEPTH) {
        text_printf(sc->error, "maximum recursion depth exceeded while decoding a JSON %s from a unicode string",
                    object ? "object" : "array");
        return raise_at(sc, "", 0);
    }
    const uint32_t *s = sc->s;
    const size_t n = sc->n;
    json_value *v = new_value(sc, object ? J_DICT : J_LIST);
    if (!v) return NULL;
    while (idx < n && ws(s[idx])) idx++;
    const uint32_t close = object ? '}' : ']';
    if (idx >= n || s[idx] != close) {
        for (;;) {
            json_value *key = NULL;
            if (object) {
                if (idx >= n || s[idx] != '"')
                    return json_free(v), raise_at(sc, "Expecting property name enclosed in double quotes", idx);
                size_t after;
                if (!(key = scan_string(sc, idx + 1, &after))) return json_free(v), NULL;
                idx = after;
                while (idx < n && ws(s[idx])) idx++;
                if (idx >= n || s[idx] != ':') return json_free(key), json_free(v), raise_at(sc, "Expecting ':' delimiter", idx);
                idx++;
                while (idx < n && ws(s[idx])) idx++;
            }
            size_t after;
            json_value *item = scan_once(sc, idx, &after, depth + 1);
            if (!item) return json_free(key), json_free(v), NULL;
            size_t existing = v->count;
            for (size_t i = 0; key && i < v->count; i++)
                if (v->keys[i]->len == key->len && !memcmp(v->keys[i]->chars, key->chars, key->len * sizeof *key->chars))
                    existing = i;
            if (existing < v->count) { /* a repeated key keeps its place and takes the new value */
                json_free(v->items[existing]);
                v->items[existing] = item;
                json_free(key);
            } else if (!append(v, item, key)) {
                return json_free(item), json_free(key), json_free(v), raise_at(sc, "out of memory", 0);
            }
            idx = after;
            while (idx < n && ws(s[idx])) idx++;
            if (idx < n && s[idx] == close) break;
            if (idx >= n || s[idx] != ',') return json_free(v), raise_at(sc, "Expecting ',' delimiter", idx);
            idx++;
            while (idx < n && ws(s[idx])) idx++;
        }
    }
    *next = idx + 1;
    return v;
}

static json_value *scan_once(scanner *sc, size_t idx, size_t *next, int depth) {
    if (idx >= sc->n) return raise_at(sc, NULL, idx);
    json_value *v;
    switch (sc->s[idx]) {
    case '"': return scan_string(sc, idx + 1, next);
    case '{': return scan_container(sc, idx + 1, next, depth, 1);
    case '[': return scan_container(sc, idx + 1, next, depth, 0);
    case 'n':
        if (literal(sc, idx, "null") && (v = new_value(sc, J_NULL))) return *next = idx + 4, v;
        break;
    case 't':
        if (literal(sc, idx, "true") && (v = new_value(sc, J_BOOL))) return v->boolean = 1, *next = idx + 4, v;
        break;
    case 'f':
        if (literal(sc, idx, "false") && (v = new_value(sc, J_BOOL))) return *next = idx + 5, v;
        break;
    case 'N':
        if (literal(sc, idx, "NaN") && (v = new_value(sc, J_FLOAT))) return v->number = NAN, *next = idx + 3, v;
        break;
    case 'I':
        if (literal(sc, idx, "Infinity") && (v = new_value(sc, J_FLOAT))) return v->number = INFINITY, *next = idx + 8, v;
        break;
    case '-':
        if (literal(sc, idx, "-Infinity") && (v = new_value(sc, J_FLOAT))) return v->number = -INFINITY, *next = idx + 9, v;
        break;
    }
    if (sc->failed) return NULL;
    return scan_number(sc, idx, next);
}

json_value *json_parse(const uint8_t *utf8, size_t n, text *error) {
    size_t len;
    uint32_t *s = utf8_decode(utf8, n, &len);
    if (!s) return text_add(error, "out of memory"), NULL;
    scanner sc = {s, len, error, NULL, 0, 0};
    json_value *v = NULL;
    size_t idx = 0, end = 0;
    if (len && s[0] == 0xfeff) {
        raise_at(&sc, "Unexpected UTF-8 BOM (decode using utf-8-sig)", 0);
    } else {
        while (idx < len && ws(s[idx])) idx++;
        v = scan_once(&sc, idx, &end, 0);
        if (v) {
            while (end < len && ws(s[end])) end++;
            if (end != len) json_free(v), v = NULL, raise_at(&sc, "Extra data", end);
        }
    }
    if (!v && sc.message != NULL && sc.message[0] == 0) {
        /* a ValueError whose text is already in error */
    } else if (!v) {
        const char *message = sc.message ? sc.message : "Expecting value"; /* a StopIteration */
        size_t line = 1, last_newline = 0;
        int seen_newline = 0;
        for (size_t i = 0; i < sc.at && i < len; i++)
            if (s[i] == '\n') line++, last_newline = i, seen_newline = 1;
        const size_t column = seen_newline ? sc.at - last_newline : sc.at + 1;
        text_printf(error, "%s: line %zu column %zu (char %zu)", message, line, column, sc.at);
    }
    free(s);
    return v;
}
