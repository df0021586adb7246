/* Tests for the generated token tables: known indices from the reference and lookup round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "wa_tokens.h"

/* Indices listed in reference/wa-transport.md section 5. */
static void
test_tokens_known(void **state)
{
	static const struct { const char *s; int dict; unsigned idx; } known[] = {
		{ "xmlstreamstart", -1, 1 }, { "xmlstreamend", -1, 2 }, { "s.whatsapp.net", -1, 3 },
		{ "type", -1, 4 }, { "participant", -1, 5 }, { "from", -1, 6 }, { "receipt", -1, 7 },
		{ "id", -1, 8 }, { "notification", -1, 9 }, { "status", -1, 11 }, { "broadcast", -1, 13 },
		{ "to", -1, 17 }, { "offline", -1, 18 }, { "message", -1, 19 }, { "result", -1, 20 },
		{ "class", -1, 21 }, { "xmlns", -1, 22 }, { "iq", -1, 25 }, { "t", -1, 26 }, { "ack", -1, 27 },
		{ "g.us", -1, 28 }, { "enc", -1, 29 }, { "get", -1, 41 }, { "urn:xmpp:ping", -1, 43 },
		{ "0", -1, 45 }, { "text", -1, 56 }, { "count", -1, 65 }, { "2", -1, 69 }, { "success", -1, 76 },
		{ "msg", -1, 77 }, { "v", -1, 81 }, { "1", -1, 85 }, { "ping", -1, 86 }, { "w:p", -1, 87 },
		{ "set", -1, 90 }, { "code", -1, 112 }, { "lid", -1, 118 }, { "401", -1, 141 },
		{ "stream:error", -1, 157 }, { "error", -1, 168 },
		{ "active", 0, 1 }, { "conflict", 0, 14 }, { "replaced", 0, 17 }, { "passive", 0, 24 },
		{ "reason", 0, 46 }, { "ref", 1, 80 }, { "pair-device", 1, 238 }, { "failure", 2, 60 },
		{ "503", 2, 208 },
	};
	uint8_t dict, idx;
	size_t i;
	int r;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		r = wa_token_find(known[i].s, strlen(known[i].s), &dict, &idx);
		if (known[i].dict < 0) {
			assert_int_equal(r, 1);
			assert_string_equal(wa_token_single(known[i].idx, NULL), known[i].s);
		} else {
			assert_int_equal(r, 2);
			assert_int_equal(dict, known[i].dict);
			assert_string_equal(wa_token_double(dict, known[i].idx, NULL), known[i].s);
		}
		assert_int_equal(idx, known[i].idx);
	}
}

/* Every token is found at its own index; non-tokens are not found. */
static void
test_tokens_roundtrip(void **state)
{
	const char *s;
	uint8_t dict, idx;
	size_t len;
	unsigned i, d;

	assert_null(wa_token_single(0, NULL));
	assert_null(wa_token_single(WA_TOKEN_SINGLE_COUNT, NULL));
	assert_null(wa_token_single(240, NULL));
	assert_null(wa_token_double(4, 0, NULL));
	assert_null(wa_token_double(0, 256, NULL));
	for (i = 1; i < WA_TOKEN_SINGLE_COUNT; i++) {
		s = wa_token_single(i, &len);
		assert_non_null(s);
		assert_int_equal(strlen(s), len);
		assert_int_equal(wa_token_find(s, len, &dict, &idx), 1);
		assert_int_equal(idx, i);
	}
	for (d = 0; d < WA_TOKEN_DOUBLE_DICTS; d++)
		for (i = 0; i < WA_TOKEN_DOUBLE_COUNT; i++) {
			s = wa_token_double(d, i, &len);
			assert_non_null(s);
			assert_true(len > 0);
			assert_int_equal(wa_token_find(s, len, &dict, &idx), 2);
			assert_int_equal(dict, d);
			assert_int_equal(idx, i);
		}
	assert_int_equal(wa_token_find("", 0, &dict, &idx), 0);
	assert_int_equal(wa_token_find("device_removed", 14, &dict, &idx), 0);
	assert_int_equal(wa_token_find("515", 3, &dict, &idx), 0);
	assert_int_equal(wa_token_find("typ", 3, &dict, &idx), 0);
	assert_int_equal(wa_token_find("types", 5, &dict, &idx), 0);
	assert_int_equal(wa_token_find("type", 3, &dict, &idx), 0);	/* length counts */
}

/* Run the token table tests. */
int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tokens_known),
		cmocka_unit_test(test_tokens_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
