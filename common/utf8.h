/* UTF-8 well-formedness (RFC 3629, the Unicode standard's table of well-formed byte sequences). */
#ifndef WAGATE_UTF8_H
#define WAGATE_UTF8_H

#include <stddef.h>

/*
 * Whether the n bytes at s are well-formed UTF-8: no stray continuation bytes, no truncated sequences, no
 * overlong forms, no surrogates (U+D800..U+DFFF) and nothing above U+10FFFF. A NUL byte is well-formed (callers
 * that cannot hold one check for it themselves). Returns 1, or 0 with the offset of the first byte of the
 * first ill-formed sequence in *bad when bad is not NULL.
 */
int utf8_valid(const void *s, size_t n, size_t *bad);

#endif
