/* json_strict_parse: what RFC 8259 allows is read as json-c reads it; what it does not, and what json-c would
 * change without a word, is refused with a message naming the byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "json_strict.h"

/* A text json_strict_parse accepts, and its value as json-c writes it back. */
static const struct {
	const char *in;
	const char *out;
} good[] = {
	{ "{}", "{}" },
	{ " \t\r\n{ \"a\" : 1 , \"b\" : [ ] } \n", "{\"a\":1,\"b\":[]}" },
	{ "[1,-0,0.5,-1.25e+3,1E-2,18446744073709551615,-9223372036854775808]",
	  "[1,0,0.5,-1.25e+3,1E-2,18446744073709551615,-9223372036854775808]" },
	{ "{\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\"}", NULL },
	{ "{\"caf\xc3\xa9\":\"\xf0\x9f\x98\x80\"}", "{\"caf\xc3\xa9\":\"\xf0\x9f\x98\x80\"}" },
	{ "{\"a\":true,\"b\":false,\"c\":null}", "{\"a\":true,\"b\":false,\"c\":null}" },
	{ "\"text\"", "\"text\"" },
	{ "12", "12" },
	{ "-0.5e-3 ", "-0.5e-3" },
	{ "true", "true" },
	{ "\xef\xbb\xbf{\"bom\":1}", "{\"bom\":1}" },
	{ "{\"a\":null,\"a\":2}", "{\"a\":2}" },			/* the last duplicate wins, as JSON.parse does */
	{ "{\"del\":\"x\x7fy\"}", "{\"del\":\"x\x7fy\"}" },		/* DEL is not a control character in RFC 8259 */
};

/* A text json_strict_parse refuses, and a piece of the message it gives. */
static const struct {
	const char *in;
	size_t len;	/* 0 = strlen */
	const char *msg;
} bad[] = {
	{ "", 0, "unexpected end of the text" },
	{ "   ", 0, "unexpected end of the text" },
	{ "{\"a\":1,}", 0, "a trailing comma is not JSON at byte 7" },
	{ "[1,]", 0, "a trailing comma is not JSON at byte 3" },
	{ "{'a':1}", 0, "single quotes are not JSON (strings and names take double quotes) at byte 1" },
	{ "{\"a\":'x'}", 0, "single quotes are not JSON" },
	{ "{/*c*/\"a\":1}", 0, "comments are not JSON at byte 1" },
	{ "{\"a\":1}//x", 0, "comments are not JSON at byte 7" },
	{ "{\"a\":1}#", 0, "unexpected '#', the end of the text expected at byte 7" },
	{ "{\"a\":NaN}", 0, "unexpected 'N', a value expected at byte 5" },
	{ "{\"a\":Infinity}", 0, "unexpected 'I'" },
	{ "{\"a\":-Infinity}", 0, "unexpected 'I', a digit expected at byte 6" },
	{ "{\"a\":01}", 0, "leading zero" },
	{ "{\"a\":-01}", 0, "leading zero" },
	{ "{\"a\":+1}", 0, "unexpected '+'" },
	{ "{\"a\":.5}", 0, "unexpected '.'" },
	{ "{\"a\":1.}", 0, "a digit after the decimal point expected at byte 7" },
	{ "{\"a\":1e}", 0, "a digit in the exponent" },
	{ "{\"a\":0x10}", 0, "unexpected 'x'" },
	{ "{a:1}", 0, "a name in double quotes expected at byte 1" },
	{ "{\"a\":True}", 0, "unexpected 'T'" },
	{ "{\"a\":nul}", 0, "unexpected 'n'" },
	{ "{\"a\":1 \"b\":2}", 0, "',' or '}' expected at byte 7" },
	{ "{\"a\" 1}", 0, "':' expected" },
	{ "[1 2]", 0, "',' or ']' expected" },
	{ "{\"a\":\"x\ty\"}", 0, "a control character in a string must be escaped at byte 7" },
	{ "{\"a\":\"x\ny\"}", 0, "control character" },
	{ "{\"a\":\"\\x41\"}", 0, "invalid escape at byte 6" },
	{ "{\"a\":\"\\'\"}", 0, "invalid escape" },
	{ "{\"a\":\"\\U0041\"}", 0, "invalid escape" },
	{ "{\"a\":\"\\u12G4\"}", 0, "four hex digits" },
	{ "{\"a\":\"\\u12\"}", 0, "four hex digits" },
	{ "{\"instanceName\":\"nul\\u0000evil\"}", 0, "a NUL character (\\u0000) in a string at byte 20" },
	{ "{\"a\\u0000b\":1}", 0, "NUL character" },
	{ "{\"a\":\"x\0y\"}", 11, "a NUL byte in a string at byte 7" },
	{ "{\"a\":1}\0", 8, "unexpected byte 0x00, the end of the text expected at byte 7" },
	{ "{\"a\":\"\\ud800\"}", 0, "a high surrogate escape without a low one" },
	{ "{\"a\":\"\\ud800\\u0041\"}", 0, "a high surrogate escape without a low one" },
	{ "{\"a\":\"\\ud800\\ud800\"}", 0, "a high surrogate escape without a low one" },
	{ "{\"a\":\"\\udc00x\"}", 0, "a low surrogate escape without a high one" },
	{ "{\"a\":\"\xff\"}", 0, "invalid UTF-8 at byte 6" },
	{ "{\"a\":\"\xc0\x80\"}", 0, "invalid UTF-8 at byte 6" },
	{ "{\"a\":\"\xed\xa0\x80\"}", 0, "invalid UTF-8 at byte 6" },
	{ "{\"\xe9t\xe9\":1}", 0, "invalid UTF-8 at byte 2" },		/* Latin-1 */
	{ "{\"a\":123456789012345678901234567890}", 0, "a number out of range at byte 5" },
	{ "{\"a\":18446744073709551616}", 0, "out of range" },
	{ "{\"a\":-9223372036854775809}", 0, "out of range" },
	{ "{\"a\":1e999}", 0, "out of range" },
	{ "{\"a\":-1e400}", 0, "out of range" },
	{ "\xef\xbb\xbf", 0, "unexpected end of the text" },
	{ "{\"a\":1}{}", 0, "the end of the text expected" },
	{ "\"unterminated", 0, "unterminated string" },
	{ "{\"a\":[1,2}", 0, "',' or ']' expected" },
	{ "{\"a\":\xc2\xa0", 0, "unexpected byte 0xc2" },			/* a no-break space is not whitespace */
};

/* Every accepted text, read back as json-c writes it. */
static void
test_json_strict_good(void **state)
{
	struct json_object *o;
	char err[160];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		o = (struct json_object *)1;
		if (json_strict_parse(good[i].in, strlen(good[i].in), &o, err, sizeof(err)) != 0)
			fail_msg("refused %s: %s", good[i].in, err);
		if (good[i].out != NULL)
			assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
			    JSON_C_TO_STRING_NOSLASHESCAPE), good[i].out);
		json_object_put(o);
	}
}

/* Escapes decode to the characters they name; a name with escapes keeps its full length. */
static void
test_json_strict_escapes(void **state)
{
	static const char in[] = "{\"k\\u00e9y\":\"\\ud83d\\ude00\\u0041\\n\"}";
	struct json_object *o, *v;
	char err[160];

	(void)state;
	assert_int_equal(json_strict_parse(in, sizeof(in) - 1, &o, err, sizeof(err)), 0);
	assert_true(json_object_object_get_ex(o, "k\xc3\xa9y", &v));
	assert_int_equal(json_object_get_string_len(v), 6);
	assert_string_equal(json_object_get_string(v), "\xf0\x9f\x98\x80" "A\n");
	json_object_put(o);
	assert_int_equal(json_strict_parse("null", 4, &o, err, sizeof(err)), 0);
	assert_null(o);
}

/* Every refused text, with its message; *out stays NULL. */
static void
test_json_strict_bad(void **state)
{
	struct json_object *o;
	char err[160];
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		len = bad[i].len != 0 ? bad[i].len : strlen(bad[i].in);
		o = (struct json_object *)1;
		if (json_strict_parse(bad[i].in, len, &o, err, sizeof(err)) != -1)
			fail_msg("accepted case %zu: %s", i, bad[i].in);
		assert_null(o);
		if (strstr(err, bad[i].msg) == NULL)
			fail_msg("case %zu (%s): \"%s\" does not contain \"%s\"", i, bad[i].in, err, bad[i].msg);
	}
}

/* JSON_STRICT_MAX_DEPTH levels are read (json-c agrees); one more is refused before json-c sees it. */
static void
test_json_strict_depth(void **state)
{
	char buf[2 * (JSON_STRICT_MAX_DEPTH + 1) + 1], err[160];
	struct json_object *o;
	int d, k;

	(void)state;
	for (d = JSON_STRICT_MAX_DEPTH; d <= JSON_STRICT_MAX_DEPTH + 1; d++) {
		for (k = 0; k < d; k++)
			buf[k] = '[', buf[2 * d - 1 - k] = ']';
		if (d == JSON_STRICT_MAX_DEPTH) {
			assert_int_equal(json_strict_parse(buf, (size_t)(2 * d), &o, err, sizeof(err)), 0);
			json_object_put(o);
		} else {
			assert_int_equal(json_strict_parse(buf, (size_t)(2 * d), &o, err, sizeof(err)), -1);
			assert_non_null(strstr(err, "nested more than 64 levels deep at byte 64"));
		}
	}
}

/* A long number is checked from a heap copy; a long valid string costs nothing special. */
static void
test_json_strict_long_tokens(void **state)
{
	size_t n = 100000, i;
	char *buf = malloc(n + 16), err[160];
	struct json_object *o;

	(void)state;
	memcpy(buf, "[0.", 3);
	for (i = 3; i < n; i++)
		buf[i] = '1';
	buf[n] = ']';
	assert_int_equal(json_strict_parse(buf, n + 1, &o, err, sizeof(err)), 0);
	json_object_put(o);
	buf[1] = '1', buf[2] = '1';	/* a 100,000-digit integer */
	assert_int_equal(json_strict_parse(buf, n + 1, &o, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "out of range at byte 1"));
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_strict_good),
		cmocka_unit_test(test_json_strict_escapes),
		cmocka_unit_test(test_json_strict_bad),
		cmocka_unit_test(test_json_strict_depth),
		cmocka_unit_test(test_json_strict_long_tokens),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
