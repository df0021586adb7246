/* Hexadecimal digits, for every parser that reads them (keys as text, percent-escapes). */
#ifndef WAGATE_HEX_H
#define WAGATE_HEX_H

/* The value of one hex digit (either case), or -1. */
int hex_digit(int c);

#endif
