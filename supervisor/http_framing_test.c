/* http_framing_check on header sets as libevent hands them over. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>

#include "http_framing.h"

/* headers as "Name", "value" pairs (NULL-terminated), the expected status (0 = accepted), a piece of the reason */
static const struct {
	const char *h[8];
	int code;
	const char *msg;
} cases[] = {
	{ { "Host", "x", NULL }, 0, NULL },
	{ { "Content-Length", "5", NULL }, 0, NULL },
	{ { "content-length", "00012", NULL }, 0, NULL },
	{ { "Content-Length", "\t5 \t", NULL }, 0, NULL },		/* OWS around the value is allowed */
	{ { "Transfer-Encoding", "chunked", NULL }, 0, NULL },
	{ { "Transfer-Encoding", "Chunked", NULL }, 0, NULL },
	{ { "X-Odd.Name_1!#$%&'*+^`|~", "v", NULL }, 0, NULL },
	{ { "Content-Length", "5", "Content-Length", "5", NULL }, 400, "more than one Content-Length" },
	{ { "Content-Length", "5", "content-length", "6", NULL }, 400, "more than one Content-Length" },
	{ { "Content-Length", "+5", NULL }, 400, "decimal digits only" },
	{ { "Content-Length", "-0", NULL }, 400, "decimal digits only" },
	{ { "Content-Length", "-1", NULL }, 400, "decimal digits only" },
	{ { "Content-Length", "\v5", NULL }, 400, "decimal digits only" },
	{ { "Content-Length", "5 5", NULL }, 400, "decimal digits only" },
	{ { "Content-Length", "5,5", NULL }, 400, "decimal digits only" },
	{ { "Content-Length", "0x5", NULL }, 400, "decimal digits only" },
	{ { "Content-Length", "", NULL }, 400, "decimal digits only" },
	{ { "Content-Length ", "5", NULL }, 400, "\"Content-Length \" is not a token (no whitespace before the colon)" },
	{ { "Content\tLength", "5", NULL }, 400, "no whitespace before the colon" },
	{ { "", "5", NULL }, 400, "is not a token" },
	{ { "X(y)", "5", NULL }, 400, "\"X(y)\" is not a token" },
	{ { "X-\xc3\xa9", "5", NULL }, 400, "\"X-??\" is not a token" },
	{ { "Transfer-Encoding", "chunked", "Content-Length", "5", NULL }, 400, "Transfer-Encoding and Content-Length" },
	{ { "Host", "a", "host", "b", NULL }, 400, "more than one Host header" },
	{ { "Transfer-Encoding", "gzip, chunked", NULL }, 501, "other than chunked" },
	{ { "Transfer-Encoding", "identity", NULL }, 501, "other than chunked" },
	{ { "Transfer-Encoding", "chunked", "Transfer-Encoding", "chunked", NULL }, 501, "repeated" },
};

/* Every case: accepted, or refused with its status and reason. */
static void
test_http_framing_cases(void **state)
{
	struct evkeyvalq hq;
	char err[160];
	size_t i, k;
	int code, rc;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TAILQ_INIT(&hq);
		for (k = 0; cases[i].h[k] != NULL; k += 2)
			assert_int_equal(evhttp_add_header(&hq, cases[i].h[k], cases[i].h[k + 1]), 0);
		err[0] = '\0';
		code = 0;
		rc = http_framing_check(&hq, &code, err, sizeof(err));
		evhttp_clear_headers(&hq);
		if (cases[i].code == 0) {
			if (rc != 0)
				fail_msg("case %zu refused: %s", i, err);
			continue;
		}
		if (rc != -1)
			fail_msg("case %zu accepted", i);
		assert_int_equal(code, cases[i].code);
		if (strstr(err, cases[i].msg) == NULL)
			fail_msg("case %zu: \"%s\" does not contain \"%s\"", i, err, cases[i].msg);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http_framing_cases),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
