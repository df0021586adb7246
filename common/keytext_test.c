/* keytext: both text forms, the 0x05 prefix, whitespace, and what is refused. */
#include "keytext.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

static const char key_hex[] = "6d549fc6053adf4b0938d7435b6afd34c31e7a26413f0c211efedf3fdd31e86d";

/* Every accepted spelling of one key gives the same bytes, and formatting gives the hex back. */
static void
test_forms(void **state)
{
	static const char *ok[] = {
		"  6d549fc6053adf4b0938d7435b6afd34c31e7a26413f0c211efedf3fdd31e86d\n",
		"6D549FC6053ADF4B0938D7435B6AFD34C31E7A26413F0C211EFEDF3FDD31E86D",
		"bVSfxgU630sJONdDW2r9NMMeeiZBPwwhHv7fP90x6G0=",
		"056d549fc6053adf4b0938d7435b6afd34c31e7a26413f0c211efedf3fdd31e86d",
		"BW1Un8YFOt9LCTjXQ1tq/TTDHnomQT8MIR7+3z/dMeht",
	};
	unsigned char k[KEYTEXT_KEY_LEN], first[KEYTEXT_KEY_LEN];
	char hex[2 * KEYTEXT_KEY_LEN + 1];
	size_t i;

	(void)state;
	assert_int_equal(keytext_parse(ok[0], first), 0);
	keytext_format(first, hex);
	assert_string_equal(hex, key_hex);
	for (i = 1; i < sizeof(ok) / sizeof(ok[0]); i++) {
		memset(k, 0, sizeof(k));
		assert_int_equal(keytext_parse(ok[i], k), 0);
		assert_memory_equal(k, first, sizeof(k));
	}
}

/* Wrong lengths, bad digits, a 33-byte form without the 0x05 prefix: refused, the key untouched. */
static void
test_refused(void **state)
{
	static const char *bad[] = {
		"", "   ", "6d549f", "zz549fc6053adf4b0938d7435b6afd34c31e7a26413f0c211efedf3fdd31e86d",
		"066d549fc6053adf4b0938d7435b6afd34c31e7a26413f0c211efedf3fdd31e86d",
		"bVSfxgU630sJONdDW2r9NMMeeiZBPwwhHv7fP90x6G0", "bVSf xgU630sJONdDW2r9NMMeeiZBPwwhHv7fP90x6G0=",
	};
	unsigned char k[KEYTEXT_KEY_LEN], zero[KEYTEXT_KEY_LEN] = { 0 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(k, 0, sizeof(k));
		assert_int_equal(keytext_parse(bad[i], k), -1);
		assert_memory_equal(k, zero, sizeof(k));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
