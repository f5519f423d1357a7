#ifndef SLUICE_JSON_H
#define SLUICE_JSON_H

/* A C face of simdjson for topic contracts: parse one JSON document, fully validated, on the
 * calling thread's parser, and resolve a list of JSON pointers (RFC 6901) in it. */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What a JSON pointer resolved to. */
typedef enum sluice_json_kind {
    SLUICE_JSON_MISSING = 0, /* the pointer names nothing in the document */
    SLUICE_JSON_STRING = 1,
    SLUICE_JSON_INTEGER = 2, /* a number without fraction or exponent that fits 64 bits */
    SLUICE_JSON_NUMBER = 3,  /* any other number */
    SLUICE_JSON_BOOLEAN = 4,
    SLUICE_JSON_NULL = 5,
    SLUICE_JSON_OBJECT = 6,
    SLUICE_JSON_ARRAY = 7
} sluice_json_kind;

/* One resolved pointer. */
typedef struct sluice_json_found {
    /* a sluice_json_kind */
    int kind;
    /* STRING: its unescaped UTF-8 bytes, valid until this thread's next sluice_json_find;
     * INTEGER: its decimal digits (in `digits`); otherwise NULL */
    const char *text;
    /* bytes at `text` */
    size_t length;
    /* INTEGER: the decimal digits `text` points to */
    char digits[24];
} sluice_json_found;

/* Parses `length` bytes at `document` with this thread's parser and resolves `count` pointers,
 * given as one buffer `pointers` cut by `lengths`, into `found`.
 * Returns 0 when the document is a JSON object (then `found` is filled); the document's
 * sluice_json_kind (> 0) when it is valid JSON but not an object; or a negative simdjson
 * error code when it is not valid JSON (see sluice_json_error_text). */
int sluice_json_find(const uint8_t *document, size_t length, const char *pointers, const uint32_t *lengths,
                     size_t count, sluice_json_found *found);

/* simdjson's text for a negative result of sluice_json_find. */
const char *sluice_json_error_text(int result);

/* The simdjson version and the implementation it chose for this CPU, e.g. "3.0.1 icelake". */
const char *sluice_json_version(void);

#ifdef __cplusplus
}
#endif

#endif
