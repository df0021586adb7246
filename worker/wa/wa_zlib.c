/* Bounded zlib inflate (wa_zlib.h has the contract). */
#include "wa_zlib.h"
#include "xmalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

unsigned char *
wa_zlib_inflate(const unsigned char *p, size_t len, size_t max, int whole, size_t *outlen, char *err, size_t errlen)
{
	z_stream zs;
	unsigned char *out;
	size_t cap;
	int r;

	if (len > UINT32_MAX || max == 0 || max > UINT32_MAX) {
		snprintf(err, errlen, "zlib input or limit out of range");
		return NULL;
	}
	memset(&zs, 0, sizeof(zs));
	if (inflateInit(&zs) != Z_OK) {
		snprintf(err, errlen, "zlib init failed");
		return NULL;
	}
	/* A first guess at 4:1, grown by doubling up to max. */
	cap = len < max / 4 ? len * 4 + 64 : max;
	if (cap > max)
		cap = max;
	out = xmalloc(cap);
	zs.next_in = (Bytef *)(uintptr_t)p;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	for (;;) {
		r = inflate(&zs, Z_NO_FLUSH);
		if (r == Z_STREAM_END)
			break;
		if (r == Z_BUF_ERROR && zs.avail_out == 0) {
			if (cap >= max) {
				snprintf(err, errlen, "inflates to more than %zu bytes", max);
				goto fail;
			}
			cap = cap * 2 > max ? max : cap * 2;
			out = xreallocarray(out, cap, 1);
			zs.next_out = out + zs.total_out;
			zs.avail_out = (uInt)(cap - zs.total_out);
			continue;
		}
		if (r == Z_OK) {
			if (zs.avail_out == 0)
				continue;	/* the next call reports Z_BUF_ERROR and we grow */
			if (zs.avail_in == 0) {
				snprintf(err, errlen, "truncated zlib stream");
				goto fail;
			}
			continue;
		}
		snprintf(err, errlen, "zlib: %s", zs.msg ? zs.msg : r == Z_BUF_ERROR ? "truncated stream" :
		    "inflate error");
		goto fail;
	}
	if (whole && zs.avail_in != 0) {
		snprintf(err, errlen, "%u bytes after the end of the zlib stream", zs.avail_in);
		goto fail;
	}
	*outlen = zs.total_out;
	inflateEnd(&zs);
	return out;
fail:
	inflateEnd(&zs);
	free(out);
	return NULL;
}
