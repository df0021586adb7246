/* urlencoded: bodies read as Express's extended urlencoded parser (qs) reads them. */
#include "urlencoded.h"

#include <json-c/json.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* Parse body and compare the compact JSON text with want. */
static void
expect(const char *body, const char *want)
{
	struct json_object *o;
	char err[256];

	if (urlencoded_parse(body, strlen(body), &o, err, sizeof(err)) != 0)
		fail_msg("%s: %s", body, err);
	assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE), want);
	json_object_put(o);
}

/* Parse body and expect a refusal with errno e. */
static void
expect_error(const char *body, int e)
{
	struct json_object *o = (struct json_object *)1;
	char err[256] = "";

	assert_int_equal(urlencoded_parse(body, strlen(body), &o, err, sizeof(err)), -1);
	assert_int_equal(errno, e);
	assert_null(o);
	assert_true(err[0] != '\0');
}

static void
test_flat(void **state)
{
	(void)state;
	expect("", "{}");
	expect("&&", "{}");
	expect("instanceName=sales&integration=WHATSAPP-BAILEYS",
	    "{\"instanceName\":\"sales\",\"integration\":\"WHATSAPP-BAILEYS\"}");
	expect("a", "{\"a\":\"\"}");
	expect("a=", "{\"a\":\"\"}");
	expect("=x&b=1", "{\"b\":\"1\"}");
	expect("a=b=c", "{\"a\":\"b=c\"}");
}

static void
test_decoding(void **state)
{
	(void)state;
	expect("n=%2B55+11+99999-0001", "{\"n\":\"+55 11 99999-0001\"}");
	expect("url=https%3A%2F%2Fexample.com%2Fhook", "{\"url\":\"https://example.com/hook\"}");
	expect("s=caf%C3%A9", "{\"s\":\"caf\xc3\xa9\"}");
	/* malformed escapes keep the text as sent, as decodeURIComponent's failure does in qs */
	expect("s=100%25+a%zz", "{\"s\":\"100%25 a%zz\"}");
	expect("s=a%zz%00", "{\"s\":\"a%zz%00\"}");	/* kept as sent: no NUL in it */
	/* where qs keeps invalid UTF-8 as sent or lets a NUL through, wagate refuses (issue 11) */
	expect_error("s=%C3", EINVAL);
	expect_error("s=%C0%80", EINVAL);
	expect_error("s=%ED%A0%80", EINVAL);
	expect_error("s=caf\xe9", EINVAL);
	expect_error("instanceName=nul%00evil", EINVAL);
	expect_error("a=1&nul%00=x", EINVAL);
	expect_error("a[%FF]=x", EINVAL);
	expect("s=%", "{\"s\":\"%\"}");
	expect("k%5Bx%5D=1", "{\"k\":{\"x\":\"1\"}}");
}

static void
test_nesting(void **state)
{
	(void)state;
	expect("webhook[url]=https://h.example/x&webhook[enabled]=true",
	    "{\"webhook\":{\"url\":\"https://h.example/x\",\"enabled\":\"true\"}}");
	expect("a[b][c]=d", "{\"a\":{\"b\":{\"c\":\"d\"}}}");
	expect("a[b]x[c]=d", "{\"a\":{\"b\":{\"c\":\"d\"}}}");
	expect("a[b=c", "{\"a[b\":\"c\"}");
	expect("[a]=b", "{\"a\":\"b\"}");
	expect("a[b][c][d][e][f][g][h]=i",
	    "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":\"i\"}}}}}}}}");
}

static void
test_arrays(void **state)
{
	(void)state;
	expect("a=1&a=2&a=3", "{\"a\":[\"1\",\"2\",\"3\"]}");
	expect("events[]=QRCODE_UPDATED&events[]=CONNECTION_UPDATE",
	    "{\"events\":[\"QRCODE_UPDATED\",\"CONNECTION_UPDATE\"]}");
	expect("a[1]=y&a[0]=x", "{\"a\":[\"x\",\"y\"]}");
	expect("a[5]=x", "{\"a\":[\"x\"]}");
	expect("a[101]=x", "{\"a\":{\"101\":\"x\"}}");
	expect("a[01]=x", "{\"a\":{\"01\":\"x\"}}");
	expect("a[]=1&a=2", "{\"a\":[\"1\",\"2\"]}");
	expect("a[0]=x&a[0]=y", "{\"a\":[\"x\",\"y\"]}");
	expect("a[]=1&a[b]=2", "{\"a\":{\"0\":\"1\",\"b\":\"2\"}}");
	expect("a[b]=1&a[]=2", "{\"a\":{\"b\":\"1\",\"0\":\"2\"}}");
	expect("a[0][b]=1&a[0][c]=2", "{\"a\":[{\"b\":\"1\",\"c\":\"2\"}]}");
	expect("a=1&a[]=2", "{\"a\":[\"1\",\"2\"]}");
}

static void
test_refusals(void **state)
{
	char *big;
	size_t i;

	(void)state;
	expect("a=1&a[b]=2", "{\"a\":[\"1\",{\"b\":\"2\"}]}");
	expect_error("a[b]=1&a=2", EINVAL);
	big = malloc(4 * URLENCODED_MAX_PARAMS + 1);
	for (i = 0; i < URLENCODED_MAX_PARAMS; i++)
		memcpy(big + 4 * i, "a=1&", 4);
	big[4 * URLENCODED_MAX_PARAMS] = '\0';
	expect_error(big, E2BIG);
	big[4 * URLENCODED_MAX_PARAMS - 1] = '\0';	/* 999 separators: accepted */
	expect(big + 4 * (URLENCODED_MAX_PARAMS - 1), "{\"a\":\"1\"}");
	{
		struct json_object *o;
		char err[64];

		assert_int_equal(urlencoded_parse(big, strlen(big), &o, err, sizeof(err)), 0);
		assert_int_equal(json_object_array_length(json_object_object_get(o, "a")), URLENCODED_MAX_PARAMS);
		json_object_put(o);
	}
	free(big);
	{
		char deep[8 * (URLENCODED_MAX_DEPTH + 2)] = "a";

		for (i = 0; i <= URLENCODED_MAX_DEPTH; i++)
			strcat(deep, "[x]");
		strcat(deep, "=1");
		expect_error(deep, EINVAL);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flat),
		cmocka_unit_test(test_decoding),
		cmocka_unit_test(test_nesting),
		cmocka_unit_test(test_arrays),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
