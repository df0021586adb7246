/* Hexadecimal digits, for every parser that reads them (keys as text, percent-escapes) and every writer. */
#ifndef WAGATE_HEX_H
#define WAGATE_HEX_H

#include <stddef.h>

/* The value of one hex digit (either case), or -1. */
int hex_digit(int c);
/* Write len bytes as 2 * len lower-case hex digits and a NUL (out holds 2 * len + 1). */
void hex_encode(const void *in, size_t len, char *out);

#endif
