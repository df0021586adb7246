/* Known-answer tests for the base64 codec (RFC 4648 section 10) plus rejection of malformed input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "b64.h"

static const char *kat[][2] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

/* Encode and decode every RFC 4648 vector. */
static void
test_b64_kat(void **state)
{
	char enc[64];
	uint8_t dec[64];
	size_t i, n;

	for (i = 0; i < sizeof(kat) / sizeof(kat[0]); i++) {
		n = b64_encode(kat[i][0], strlen(kat[i][0]), enc);
		assert_int_equal(n, strlen(kat[i][1]));
		assert_string_equal(enc, kat[i][1]);
		assert_int_equal(b64_encoded_len(strlen(kat[i][0])), n);
		assert_int_equal(b64_decode(kat[i][1], n, dec, sizeof(dec), &n), 0);
		assert_int_equal(n, strlen(kat[i][0]));
		assert_memory_equal(dec, kat[i][0], n);
	}
}

/* Every byte value and every length up to 300 round-trips through the allocating encoder. */
static void
test_b64_roundtrip(void **state)
{
	uint8_t buf[300], dec[300];
	size_t len, n;
	char *enc;

	for (len = 0; len < sizeof(buf); len++)
		buf[len] = (uint8_t)(len * 7 + 3);
	for (len = 0; len <= sizeof(buf); len++) {
		enc = b64_encode_alloc(buf, len);
		assert_int_equal(strlen(enc), b64_encoded_len(len));
		assert_true(b64_decoded_max(strlen(enc)) >= len);
		assert_int_equal(b64_decode(enc, strlen(enc), dec, sizeof(dec), &n), 0);
		assert_int_equal(n, len);
		assert_memory_equal(dec, buf, len);
		free(enc);
	}
}

/* Binary KAT with the two characters outside [A-Za-z0-9]. */
static void
test_b64_binary(void **state)
{
	const uint8_t bin[] = { 0xfb, 0xff, 0xbf, 0x00, 0x10, 0x83 };
	char enc[16];
	uint8_t dec[8];
	size_t n;

	b64_encode(bin, sizeof(bin), enc);
	assert_string_equal(enc, "+/+/ABCD");
	assert_int_equal(b64_decode(enc, 8, dec, sizeof(dec), &n), 0);
	assert_int_equal(n, 6);
	assert_memory_equal(dec, bin, 6);
}

/* Malformed input and short output buffers are refused. */
static void
test_b64_reject(void **state)
{
	static const char *bad[] = { "Zg=", "Zg", "Z===", "Zh==", "Zm9=", "Zm9v\n", "Zm 9", "=Zm9", "Zg==Zg==",
		"Zm-v", "Zm_v" };
	uint8_t dec[16];
	size_t i, n;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(b64_decode(bad[i], strlen(bad[i]), dec, sizeof(dec), &n), -1);
	assert_int_equal(b64_decode("Zm9vYmFy", 8, dec, 5, &n), -1);
	assert_int_equal(b64_decode("Zm9vYmFy", 8, dec, 6, &n), 0);
	assert_int_equal(b64_decode("Zm9vYg==", 8, dec, 4, &n), 0);
	assert_int_equal(b64_decode("Zm9vYg==", 8, dec, 3, &n), -1);
}

/* Run the base64 tests. */
int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64_kat),
		cmocka_unit_test(test_b64_roundtrip),
		cmocka_unit_test(test_b64_binary),
		cmocka_unit_test(test_b64_reject),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
