/* What the vector suites share: the loaded vectors of proto-spec/vectors/frames.tsv
 * (test_vectors.c loads them) and their helpers. */
#ifndef SLUICE_TEST_VECTORS_H
#define SLUICE_TEST_VECTORS_H

#include <stddef.h>
#include <stdint.h>

#include "harness.h"

extern t_vector *V; /* the vectors, while vector_tests() runs */
extern size_t NV;

/* The vector called name; a test failure when it is missing. */
const t_vector *need(const char *name);
/* Checks got == want byte for byte, printing both in hex when they differ. */
void check_bytes(const char *what, const uint8_t *got, size_t got_len, const uint8_t *want, size_t want_len);

/* Suites run by vector_tests() once the vectors are loaded. */
void vector_c2s_tests(void);     /* test_vectors_c2s.c: the encoder, byte-exact */
void vector_payload_tests(void); /* test_vectors_payload.c: payload decoding, local validation */

#endif
