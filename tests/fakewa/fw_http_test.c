/* Tests for fakewa's HTTP request parser: requests split anywhere, Content-Length and chunked bodies, and the
 * 400/413 refusals with their bounds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fw_http.h"

/* Parse text (all of it given at once); the result, with *out, *used and *status. */
static int
parse(const char *text, size_t len, struct fw_http_req **out, size_t *used, int *status)
{
	char err[128] = "";

	*used = 0;
	*status = 0;
	return fw_http_parse(text, len, out, used, status, err, sizeof(err));
}

/* A GET with a query: method, path, query, empty body; every prefix is incomplete. */
static void
test_get_query(void **state)
{
	static const char req[] = "GET /admin/clients?client=all&x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nNEXT";
	struct fw_http_req *r;
	size_t used, n = strlen(req) - 4;
	int status;

	(void)state;
	for (size_t i = 0; i < n; i++)
		assert_int_equal(parse(req, i, &r, &used, &status), FW_HTTP_AGAIN);
	assert_int_equal(parse(req, sizeof(req) - 1, &r, &used, &status), FW_HTTP_DONE);
	assert_int_equal(used, n);
	assert_string_equal(r->method, "GET");
	assert_string_equal(r->path, "/admin/clients");
	assert_string_equal(r->query, "client=all&x=1");
	assert_int_equal(r->body_len, 0);
	assert_string_equal(r->body, "");
	fw_http_req_free(r);
}

/* A POST with Content-Length: the body is waited for, and bytes after it are left alone. */
static void
test_post_length(void **state)
{
	static const char req[] = "POST /admin/mock-phone/scan-qr HTTP/1.1\r\ncontent-length:  5 \r\n\r\nabcdeXYZ";
	struct fw_http_req *r;
	size_t used;
	int status;

	(void)state;
	assert_int_equal(parse(req, sizeof(req) - 1 - 4, &r, &used, &status), FW_HTTP_AGAIN);
	assert_int_equal(parse(req, sizeof(req) - 1, &r, &used, &status), FW_HTTP_DONE);
	assert_int_equal(used, sizeof(req) - 1 - 3);
	assert_null(r->query);
	assert_int_equal(r->body_len, 5);
	assert_string_equal(r->body, "abcde");
	fw_http_req_free(r);
}

/* A chunked body with an extension and a trailer field, complete only at the last CRLF. */
static void
test_post_chunked(void **state)
{
	static const char req[] = "POST /x HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n"
	    "3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: 1\r\n\r\n";
	struct fw_http_req *r;
	size_t used;
	int status;

	(void)state;
	for (size_t i = 0; i < sizeof(req) - 1; i++)
		assert_int_equal(parse(req, i, &r, &used, &status), FW_HTTP_AGAIN);
	assert_int_equal(parse(req, sizeof(req) - 1, &r, &used, &status), FW_HTTP_DONE);
	assert_int_equal(used, sizeof(req) - 1);
	assert_int_equal(r->body_len, 19);
	assert_string_equal(r->body, "abc0123456789abcdef");
	fw_http_req_free(r);
}

/* Malformed heads are refused with 400. */
static void
test_bad_requests(void **state)
{
	static const char *const bad[] = {
		"GET /a HTTP/2.0\r\n\r\n",
		"GET a HTTP/1.1\r\n\r\n",
		"GET  /a HTTP/1.1\r\n\r\n",
		"GET /a HTTP/1.1 \r\n\r\n",
		"/a HTTP/1.1\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost : x\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: x\ny: z\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: x\rz\r\n\r\n",
		"POST /a HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
		"POST /a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
		"POST /a HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"POST /a HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
		"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
		"VERYLONGMETHODNAME /a HTTP/1.1\r\n\r\n",
	};
	struct fw_http_req *r;
	size_t used;
	int status;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int res = parse(bad[i], strlen(bad[i]), &r, &used, &status);
		if (res != FW_HTTP_ERROR || status != 400)
			fail_msg("accepted or wrong status (%d, %d): %s", res, status, bad[i]);
		assert_null(r);
	}
}

/* The bounds: a head that never ends (400), a body over the cap by length or by chunks (413). */
static void
test_bounds(void **state)
{
	char *big = malloc(FW_HTTP_MAX_REQUEST + 64), *p;
	struct fw_http_req *r;
	size_t used;
	int status;

	(void)state;
	memset(big, 'a', FW_HTTP_MAX_REQUEST + 64);
	memcpy(big, "GET /", 5);
	assert_int_equal(parse(big, FW_HTTP_MAX_HEAD - 1, &r, &used, &status), FW_HTTP_AGAIN);
	assert_int_equal(parse(big, FW_HTTP_MAX_HEAD, &r, &used, &status), FW_HTTP_ERROR);
	assert_int_equal(status, 400);

	snprintf(big, 128, "POST /a HTTP/1.1\r\nContent-Length: %d\r\n\r\n", FW_HTTP_MAX_BODY + 1);
	assert_int_equal(parse(big, strlen(big), &r, &used, &status), FW_HTTP_ERROR);
	assert_int_equal(status, 413);
	snprintf(big, 128, "POST /a HTTP/1.1\r\nContent-Length: %d\r\n\r\n", FW_HTTP_MAX_BODY);
	assert_int_equal(parse(big, strlen(big), &r, &used, &status), FW_HTTP_AGAIN);

	/* one chunk too many */
	p = big + sprintf(big, "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (int i = 0; i < FW_HTTP_MAX_BODY / 256; i++)
		p += sprintf(p, "100\r\n%0256d\r\n", 0);
	assert_int_equal(parse(big, (size_t)(p - big), &r, &used, &status), FW_HTTP_AGAIN);
	p += sprintf(p, "1\r\nx\r\n0\r\n\r\n");
	assert_int_equal(parse(big, (size_t)(p - big), &r, &used, &status), FW_HTTP_ERROR);
	assert_int_equal(status, 413);

	/* tiny chunks: the framing on the wire is capped too */
	p = big + sprintf(big, "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
	while ((size_t)(p - big) < FW_HTTP_MAX_REQUEST)
		p += sprintf(p, "1;%040d\r\nx\r\n", 0);
	assert_int_equal(parse(big, (size_t)(p - big), &r, &used, &status), FW_HTTP_ERROR);
	assert_int_equal(status, 413);
	free(big);
}

/* The response carries the status, the JSON length with its newline, and Connection: close. */
static void
test_response(void **state)
{
	char *s = fw_http_response(405, "Allow: POST\r\n", "{\"error\":\"use POST\"}");

	(void)state;
	assert_string_equal(s, "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/json\r\n"
	    "Content-Length: 21\r\nConnection: close\r\nAllow: POST\r\n\r\n{\"error\":\"use POST\"}\n");
	free(s);
}

/* A head for a binary body: its type and length, and nothing after the blank line. */
static void
test_head(void **state)
{
	char *s = fw_http_head(200, NULL, "application/octet-stream", 42);

	(void)state;
	assert_string_equal(s, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 42\r\n"
	    "Connection: close\r\n\r\n");
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_query),
		cmocka_unit_test(test_post_length),
		cmocka_unit_test(test_post_chunked),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_response),
		cmocka_unit_test(test_head),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
