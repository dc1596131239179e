/* What the C loader needs of Python's text rules to give the Python loader's messages word for word:
 * UTF-8 decoding errors as bytes.decode() reports them, repr() of bytes, str and JSON values, and
 * json.loads (CPython 3.11's C scanner: the same errors at the same positions). Internal to runtime/c.
 */
#ifndef ATALLA_PYTEXT_H
#define ATALLA_PYTEXT_H

#include <stddef.h>
#include <stdint.h>

/* A growable NUL-terminated string; on out of memory it stays truncated and sets failed. */
typedef struct {
    char *data;
    size_t len, cap;
    int failed;
} text;

void text_free(text *t);
void text_add(text *t, const char *s);
void text_addn(text *t, const char *s, size_t n);
void text_add_char(text *t, uint32_t code_point); /* as UTF-8 */
void text_printf(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* UTF-8 validation as CPython decodes: 1 if valid; else 0 with the error span [*start, *end) and the
 * reason ("invalid start byte", "invalid continuation byte", "unexpected end of data"). */
int utf8_check(const uint8_t *s, size_t n, size_t *start, size_t *end, const char **reason);
/* str(UnicodeDecodeError): "'utf-8' codec can't decode byte 0x80 in position 3: invalid start byte". */
void utf8_error_text(text *t, const uint8_t *s, size_t start, size_t end, const char *reason);

void repr_bytes(text *t, const uint8_t *s, size_t n);
void repr_str_utf8(text *t, const uint8_t *s, size_t n); /* s valid UTF-8 */

/* ---- JSON values as json.loads builds them ---- */

typedef enum { J_NULL, J_BOOL, J_INT, J_FLOAT, J_STR, J_LIST, J_DICT } json_type;

typedef struct json_value json_value;
struct json_value {
    json_type type;
    int boolean;
    char *digits; /* J_INT: as Python prints it (sign, no leading zeros) */
    int fits; /* J_INT: the value fits int64 */
    int64_t integer;
    double number; /* J_FLOAT */
    uint32_t *chars; /* J_STR: code points (lone surrogates kept, as Python keeps them) */
    size_t len;
    json_value **items; /* J_LIST items; J_DICT values */
    json_value **keys; /* J_DICT keys (J_STR), in insertion order */
    size_t count;
};

/* json.loads(text): the value, or NULL with str(the exception) in error. */
json_value *json_parse(const uint8_t *utf8, size_t n, text *error);
void json_free(json_value *v);
void repr_json(text *t, const json_value *v);
const char *json_type_name(const json_value *v); /* type(v).__name__ */
const json_value *json_get(const json_value *dict, const char *key); /* ASCII key; NULL if absent */
int json_str_equals(const json_value *v, const char *ascii);

#endif /* ATALLA_PYTEXT_H */
