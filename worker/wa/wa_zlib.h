/* Bounded zlib inflate for untrusted bytes: a compressed binary frame (wa_binary.c) and a history sync chunk
 * (worker/msg_history.c). Pure: no logging, no state. */
#ifndef WAGATE_WA_ZLIB_H
#define WAGATE_WA_ZLIB_H

#include <stddef.h>

/*
 * Inflate the zlib stream at p[0..len) into a new buffer (malloc'd; free it) of *outlen bytes, refusing output
 * beyond max bytes: the buffer grows as the stream inflates, so a small stream costs little and a bomb stops at
 * max. With whole set, bytes after the end of the stream are refused too. NULL with a reason in err for anything
 * else: not zlib, truncated, a bad checksum.
 */
unsigned char *wa_zlib_inflate(const unsigned char *p, size_t len, size_t max, int whole, size_t *outlen, char *err,
    size_t errlen);

#endif
