/* UTF-8 well-formedness, as PROTOCOL.md section 1 requires of every str16 field. */
#ifndef SLUICE_UTF8_H
#define SLUICE_UTF8_H

#include <stddef.h>

/* 1 if p[0..len) is well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, at most U+10FFFF), else 0. */
int sluice_utf8_valid(const void *p, size_t len);

#endif
