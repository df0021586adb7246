/* libFuzzer target: the HTTP response scanner of wa_fetch, one-shot (wa_fetch_parse) and resumed over growing
 * prefixes (wa_fetch_scan, as the fetch thread drives it). Both must agree, a body must lie inside the input or
 * be a decoded copy, and nothing may exceed max_body. The first input byte picks max_body and the size of the
 * pieces the response arrives in; the rest is the response. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wa_fetch.h"
#include "wa_fetch_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A finished parse. */
struct outcome {
	int r, status;
	size_t off, len;
	uint8_t *dechunked;
	char err[256];
};

/* Check what a DONE or ERROR result promises. */
static void
check(const struct outcome *o, size_t len, size_t max_body)
{
	if (o->r == WA_FETCH_ERROR && (o->err[0] == '\0' || o->dechunked != NULL))
		abort();
	if (o->r != WA_FETCH_DONE)
		return;
	if (o->status < 200 || o->status > 599 || o->len > max_body)
		abort();
	if (o->dechunked == NULL && (o->off > len || o->len > len - o->off))
		abort();
	if (o->dechunked != NULL) {
		/* Touch every byte: ASan catches a decoded length larger than the allocation. */
		volatile uint8_t sink = 0;
		for (size_t i = 0; i < o->len; i++)
			sink ^= o->dechunked[i];
		(void)sink;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t limits[] = { 0, 16, 4096, SIZE_MAX };
	struct wa_fetch_scan scan;
	struct outcome one, inc;
	const uint8_t *buf;
	size_t len, max_body, step, n;

	if (size < 1 || size > 1 << 16)
		return 0;
	max_body = limits[data[0] & 3];
	step = (size_t)(data[0] >> 2) + 1;
	buf = data + 1;
	len = size - 1;

	memset(&one, 0, sizeof(one));
	one.r = wa_fetch_parse(buf, len, 1, max_body, &one.status, &one.off, &one.len, &one.dechunked, one.err,
	    sizeof(one.err));
	check(&one, len, max_body);

	/* The same bytes arriving in pieces, the last piece with the end of the stream. */
	memset(&inc, 0, sizeof(inc));
	wa_fetch_scan_init(&scan);
	for (n = 0;; n = len - n > step ? n + step : len) {
		inc.r = wa_fetch_scan(&scan, buf, n, n == len, max_body, &inc.status, &inc.off, &inc.len,
		    &inc.dechunked, inc.err, sizeof(inc.err));
		if (inc.r != WA_FETCH_AGAIN || n == len)
			break;
	}
	if (inc.r == WA_FETCH_AGAIN)
		abort();	/* at the end of the stream there is always an answer */
	check(&inc, n, max_body);
	if (inc.r != one.r)
		abort();
	if (inc.r == WA_FETCH_DONE) {
		const uint8_t *a = one.dechunked != NULL ? one.dechunked : buf + one.off;
		const uint8_t *b = inc.dechunked != NULL ? inc.dechunked : buf + inc.off;
		if (inc.status != one.status || inc.len != one.len || (inc.len > 0 && memcmp(a, b, inc.len) != 0))
			abort();
	}
	free(one.dechunked);
	free(inc.dechunked);
	return 0;
}
