/* Base64 codec: standard alphabet, '=' padding, strict decoder (rejects bad characters and bits). */
#include "b64.h"

#include <stdint.h>

#include "xmalloc.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Characters needed to encode n bytes. */
size_t
b64_encoded_len(size_t n)
{
	return ((n + 2) / 3) * 4;
}

/* Upper bound of the decoded size of n characters. */
size_t
b64_decoded_max(size_t n)
{
	return ((n + 3) / 4) * 3;
}

/* Encode len bytes to out, NUL-terminated. */
size_t
b64_encode(const void *in, size_t len, char *out)
{
	const uint8_t *p = in;
	size_t i, o = 0;
	uint32_t v;

	for (i = 0; i + 3 <= len; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = b64_alphabet[v >> 18 & 63];
		out[o++] = b64_alphabet[v >> 12 & 63];
		out[o++] = b64_alphabet[v >> 6 & 63];
		out[o++] = b64_alphabet[v & 63];
	}
	if (len - i == 1) {
		v = (uint32_t)p[i] << 16;
		out[o++] = b64_alphabet[v >> 18 & 63];
		out[o++] = b64_alphabet[v >> 12 & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (len - i == 2) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		out[o++] = b64_alphabet[v >> 18 & 63];
		out[o++] = b64_alphabet[v >> 12 & 63];
		out[o++] = b64_alphabet[v >> 6 & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

/* Encode into a freshly allocated string. */
char *
b64_encode_alloc(const void *in, size_t len)
{
	char *out = xmalloc(b64_encoded_len(len) + 1);

	b64_encode(in, len, out);
	return out;
}

/* Value of one alphabet character, or -1. */
static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict decode; see b64.h. */
int
b64_decode(const char *in, size_t len, void *out, size_t outsz, size_t *outlen)
{
	uint8_t *o = out;
	size_t i, n = 0, pad = 0;
	uint32_t v;
	int k, d;

	if (len % 4 != 0)
		return -1;
	if (len >= 1 && in[len - 1] == '=')
		pad++;
	if (len >= 2 && in[len - 2] == '=')
		pad++;
	for (i = 0; i < len; i += 4) {
		int last = (i + 4 == len);
		size_t valid = last ? 4 - pad : 4;

		v = 0;
		for (k = 0; k < 4; k++) {
			if ((size_t)k >= valid) {
				if (in[i + k] != '=')
					return -1;
				v <<= 6;
				continue;
			}
			if ((d = b64_value((unsigned char)in[i + k])) < 0)
				return -1;
			v = v << 6 | (uint32_t)d;
		}
		/* Unused low bits must be zero so every byte string has one encoding. */
		if ((valid == 2 && (v & 0xffff) != 0) || (valid == 3 && (v & 0xff) != 0))
			return -1;
		if (n + valid - 1 > outsz)
			return -1;
		o[n++] = v >> 16 & 0xff;
		if (valid >= 3)
			o[n++] = v >> 8 & 0xff;
		if (valid == 4)
			o[n++] = v & 0xff;
	}
	if (outlen != NULL)
		*outlen = n;
	return 0;
}
