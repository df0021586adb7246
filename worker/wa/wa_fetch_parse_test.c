/* Tests for wa_fetch_parse: the response parser on framed, unframed, oversized, malformed and split responses. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wa_fetch.h"
#include "wa_fetch_parse.h"

struct parsed {
	int r, status;
	size_t off, len;
	uint8_t *dechunked;
	char err[256];
};

/* Parse a whole string (eof as given). */
static int
parse(const char *s, int eof, size_t max_body, struct parsed *p)
{
	memset(p, 0, sizeof(*p));
	p->r = wa_fetch_parse((const uint8_t *)s, strlen(s), eof, max_body, &p->status, &p->off, &p->len,
	    &p->dechunked, p->err, sizeof(p->err));
	return p->r;
}

/* A body by Content-Length: it ends at the length, whatever follows. */
static void
test_parse_length(void **state)
{
	const char *r = "HTTP/1.1 200 OK\r\nServer: x\r\ncontent-length:  5 \r\n\r\nhelloEXTRA";
	struct parsed p;

	(void)state;
	assert_int_equal(parse(r, 0, 100, &p), WA_FETCH_DONE);
	assert_int_equal(p.status, 200);
	assert_int_equal(p.len, 5);
	assert_memory_equal(r + p.off, "hello", 5);
	assert_null(p.dechunked);
	/* Over the limit, known from the head alone. */
	assert_int_equal(parse(r, 0, 4, &p), WA_FETCH_ERROR);
	assert_non_null(strstr(p.err, "limit"));
	/* Cut short by the server. */
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", 1, 100, &p), WA_FETCH_ERROR);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", 0, 100, &p), WA_FETCH_AGAIN);
	/* No body by definition, even with a length. */
	assert_int_equal(parse("HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n", 0, 100, &p), WA_FETCH_DONE);
	assert_int_equal(p.status, 204);
	assert_int_equal(p.len, 0);
	/* A status line without a reason phrase, HTTP/1.0. */
	assert_int_equal(parse("HTTP/1.0 404\r\nContent-Length: 0\r\n\r\n", 0, 0, &p), WA_FETCH_DONE);
	assert_int_equal(p.status, 404);
}

/* A chunked body: sizes in hex, extensions ignored, trailers read and dropped. */
static void
test_parse_chunked(void **state)
{
	const char *r = "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n5;name=\"v\"\r\nhello\r\n6 \r\n world\r\n"
	    "A\r\n0123456789\r\n0\r\nX-Trailer: yes\r\n\r\n";
	struct parsed p;

	(void)state;
	assert_int_equal(parse(r, 0, 100, &p), WA_FETCH_DONE);
	assert_int_equal(p.status, 200);
	assert_int_equal(p.len, 21);
	assert_non_null(p.dechunked);
	assert_memory_equal(p.dechunked, "hello world0123456789", 21);
	free(p.dechunked);
	/* Empty: still a buffer to own. */
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0, 0, &p),
	    WA_FETCH_DONE);
	assert_int_equal(p.len, 0);
	assert_non_null(p.dechunked);
	free(p.dechunked);
	/* Over the limit in total, though each chunk is under it. */
	assert_int_equal(parse(r, 0, 20, &p), WA_FETCH_ERROR);
	assert_null(p.dechunked);
	/* Broken framing. */
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n", 0, 100,
	    &p), WA_FETCH_ERROR);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0, 100, &p),
	    WA_FETCH_ERROR);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n11111111111111111\r\n", 0,
	    SIZE_MAX, &p), WA_FETCH_ERROR);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", 0, 100,
	    &p), WA_FETCH_ERROR);
	/* Closed before the last chunk. */
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", 1, 100, &p),
	    WA_FETCH_ERROR);
	/* Codings we did not ask for. */
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 0, 100, &p),
	    WA_FETCH_ERROR);
}

/* No framing: the body runs to the end of the stream, within the limit. */
static void
test_parse_eof(void **state)
{
	const char *r = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\nabcdef";
	struct parsed p;

	(void)state;
	assert_int_equal(parse(r, 0, 100, &p), WA_FETCH_AGAIN);
	assert_int_equal(parse(r, 1, 100, &p), WA_FETCH_DONE);
	assert_int_equal(p.len, 6);
	assert_memory_equal(r + p.off, "abcdef", 6);
	assert_int_equal(parse(r, 0, 5, &p), WA_FETCH_ERROR);
	assert_int_equal(parse("", 1, 100, &p), WA_FETCH_ERROR);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\n", 1, 100, &p), WA_FETCH_ERROR);
}

/* Heads we refuse rather than guess at. */
static void
test_parse_malformed(void **state)
{
	static const char *const bad[] = {
		"HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1 20 OK\r\n\r\n",
		"HTTP/1.1 200OK\r\n\r\n",
		"HTTP/1.1 600 Odd\r\n\r\n",
		"ICY 200 OK\r\n\r\n",
		"HTTP/1.1 200 O\x01K\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nContent-Length: 3 3\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX-A: b\r\n folded\r\n\r\n",
		"HTTP/1.1 200 OK\r\nNo colon\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX-A: b\rc\r\n\r\n",
		"HTTP/1.1 200 OK\nX-A: b\r\n\r\n",
	};
	struct parsed p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i], 0, SIZE_MAX, &p) != WA_FETCH_ERROR)
			fail_msg("accepted: %s", bad[i]);
		assert_true(p.err[0] != '\0');
		assert_null(p.dechunked);
	}
}

/* A head that never ends is refused at WA_FETCH_HEAD_MAX. */
static void
test_parse_head_max(void **state)
{
	char *r = malloc(WA_FETCH_HEAD_MAX + 100);
	struct parsed p;
	size_t n;

	(void)state;
	n = (size_t)sprintf(r, "HTTP/1.1 200 OK\r\n");
	while (n < WA_FETCH_HEAD_MAX + 50)
		n += (size_t)sprintf(r + n, "X: y\r\n");
	assert_int_equal(parse(r, 0, 100, &p), WA_FETCH_ERROR);
	assert_non_null(strstr(p.err, "head"));
	free(r);
}

/* Every prefix of a response is AGAIN and the whole of it DONE, one-shot and resumed byte by byte. */
static void
test_parse_split(void **state)
{
	static const char *const resp[] = {
		"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;e\r\n world\r\n0\r\nT: 1\r\n\r\n",
	};
	struct wa_fetch_scan scan;
	uint8_t *dechunked;
	size_t i, k, n, off, len;
	char err[256];
	int status, r;

	(void)state;
	for (k = 0; k < 2; k++) {
		n = strlen(resp[k]);
		wa_fetch_scan_init(&scan);
		for (i = 0; i <= n; i++) {
			r = wa_fetch_parse((const uint8_t *)resp[k], i, 0, 100, &status, &off, &len, &dechunked, err,
			    sizeof(err));
			assert_int_equal(r, i < n ? WA_FETCH_AGAIN : WA_FETCH_DONE);
			if (r == WA_FETCH_DONE) {
				assert_int_equal(len, 11);
				assert_memory_equal(dechunked != NULL ? dechunked : (uint8_t *)resp[k] + off,
				    "hello world", 11);
				free(dechunked);
			}
			r = wa_fetch_scan(&scan, (const uint8_t *)resp[k], i, 0, 100, &status, &off, &len, &dechunked,
			    err, sizeof(err));
			assert_int_equal(r, i < n ? WA_FETCH_AGAIN : WA_FETCH_DONE);
			if (r == WA_FETCH_DONE) {
				assert_int_equal(status, 200);
				assert_int_equal(len, 11);
				assert_memory_equal(dechunked != NULL ? dechunked : (uint8_t *)resp[k] + off,
				    "hello world", 11);
				free(dechunked);
			}
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_length),
		cmocka_unit_test(test_parse_chunked),
		cmocka_unit_test(test_parse_eof),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_parse_head_max),
		cmocka_unit_test(test_parse_split),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
