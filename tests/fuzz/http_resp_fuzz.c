/* libFuzzer target: the webhook client's response reader (http_resp), fed the same bytes whole and in pieces, the
 * close after the last byte in both. The two must agree on the answer, the status, keep_alive, the bytes used and
 * the reason of an error; every answer must keep its promises (MORE used everything, DONE a final status and no
 * more than it was given, ERROR a reason) and the state is spent after it. The first input byte picks the size of
 * the pieces (1 to 256 bytes, each in a buffer of its own exact size, so ASan sees a read past one); the rest is
 * the response. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A finished read. */
struct outcome {
	int rc;
	int status;
	int keep_alive;
	size_t used;		/* bytes consumed in all, DONE only */
	const char *err;
};

/* Feed one piece, copied into a buffer of exactly n bytes, and check what the answer promises. */
static int
feed(struct http_resp *r, const uint8_t *p, size_t n, size_t *used)
{
	uint8_t *copy = malloc(n > 0 ? n : 1);
	int rc;

	if (copy == NULL)
		abort();
	memcpy(copy, p, n);
	*used = SIZE_MAX;
	rc = http_resp_feed(r, copy, n, used);
	free(copy);
	if (rc == HTTP_RESP_MORE && *used != n)
		abort();
	if (rc == HTTP_RESP_DONE && *used > n)
		abort();
	if (rc != HTTP_RESP_MORE && rc != HTTP_RESP_DONE && rc != HTTP_RESP_ERROR)
		abort();
	return rc;
}

/* Read buf[0, len) in pieces of step bytes (len: whole), then the close if every feed answered MORE. */
static void
run(const uint8_t *buf, size_t len, size_t step, struct outcome *o)
{
	struct http_resp r;
	size_t off = 0, n, used;
	int rc;

	memset(o, 0, sizeof(*o));
	http_resp_init(&r);
	do {
		n = len - off < step ? len - off : step;
		rc = feed(&r, buf + off, n, &used);
		if (rc == HTTP_RESP_DONE)
			o->used += used;
		else if (rc == HTTP_RESP_MORE)
			o->used += n;
		off += n;
	} while (rc == HTTP_RESP_MORE && off < len);
	if (rc == HTTP_RESP_MORE)
		rc = http_resp_eof(&r);
	o->rc = rc;
	if (rc == HTTP_RESP_DONE) {
		if (r.status < 200 || r.status > 599 || (r.keep_alive != 0 && r.keep_alive != 1) || o->used > len)
			abort();
		o->status = r.status;
		o->keep_alive = r.keep_alive;
	} else if (rc == HTTP_RESP_ERROR) {
		if (r.err == NULL || r.err[0] == '\0')
			abort();
		o->err = r.err;
	} else {
		abort();	/* the close always answers */
	}
	/* Spent: the rest of the input, or the close, answers ERROR with a reason. */
	if (feed(&r, buf + o->used, len - o->used, &used) != HTTP_RESP_ERROR || http_resp_eof(&r) != HTTP_RESP_ERROR)
		abort();
	if (r.err == NULL || r.err[0] == '\0')
		abort();
}

/* One input: the first byte the piece size, the rest the response, read whole and in pieces. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcome whole, pieces;
	const uint8_t *buf;
	size_t len, step;

	if (size < 1 || size > 1 << 17)
		return 0;
	step = (size_t)data[0] + 1;
	buf = data + 1;
	len = size - 1;
	run(buf, len, len > 0 ? len : 1, &whole);
	run(buf, len, step, &pieces);
	if (whole.rc != pieces.rc)
		abort();
	if (whole.rc == HTTP_RESP_DONE &&
	    (whole.status != pieces.status || whole.keep_alive != pieces.keep_alive || whole.used != pieces.used))
		abort();
	if (whole.rc == HTTP_RESP_ERROR && strcmp(whole.err, pieces.err) != 0)
		abort();
	return 0;
}
