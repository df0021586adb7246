/* Base64 (RFC 4648, standard alphabet with padding): encoding for data URIs and JSON, bounded decoding. */
#ifndef WAGATE_B64_H
#define WAGATE_B64_H

#include <stddef.h>

/* Characters needed to encode n bytes, not counting the terminating NUL. */
size_t b64_encoded_len(size_t n);
/* Upper bound of the bytes that decoding n characters can produce. */
size_t b64_decoded_max(size_t n);
/* Encode len bytes into out (room for b64_encoded_len(len) + 1); NUL-terminates; returns characters written. */
size_t b64_encode(const void *in, size_t len, char *out);
/* Encode into a new NUL-terminated string (never NULL). */
char *b64_encode_alloc(const void *in, size_t len);
/* Decode len characters (padding required when the length is not a multiple of 4; no whitespace);
 * writes at most outsz bytes and the count to *outlen. Returns 0, or -1 on bad input or a short buffer. */
int b64_decode(const char *in, size_t len, void *out, size_t outsz, size_t *outlen);

#endif
