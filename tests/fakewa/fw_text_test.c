/* Unit tests of the Message text reader and writer (fw_text.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fw_text.h"

/* conversation, round trip, including a two-byte length. */
static void
test_conversation(void **state)
{
	char big[300], out[FW_TEXT_MAX + 1];
	uint8_t *b;
	size_t n;

	(void)state;
	assert_int_equal(fw_text_encode("hello", &b, &n), 0);
	assert_int_equal(n, 7);
	assert_int_equal(fw_text_extract(b, n, out, sizeof(out)), 1);
	assert_string_equal(out, "hello");
	free(b);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(fw_text_encode(big, &b, &n), 0);
	assert_int_equal(fw_text_extract(b, n, out, sizeof(out)), 1);
	assert_string_equal(out, big);
	free(b);
}

/* extendedTextMessage.text and deviceSentMessage.message.conversation, with unrelated fields around. */
static void
test_nested(void **state)
{
	/* field 3 varint 1; extendedTextMessage (6) { text (1) "hi", field 2 fixed32 } */
	static const uint8_t ext[] = { 0x18, 0x01, 0x32, 0x09, 0x0a, 0x02, 'h', 'i', 0x15, 1, 2, 3, 4 };
	/* deviceSentMessage (31) { destinationJID (1) "a@b", message (2) { conversation "yo" } } */
	static const uint8_t dsm[] = { 0xfa, 0x01, 0x0b, 0x0a, 0x03, 'a', '@', 'b', 0x12, 0x04, 0x0a, 0x02, 'y', 'o' };
	static const uint8_t none[] = { 0x18, 0x05 };
	char out[64];

	(void)state;
	assert_int_equal(fw_text_extract(ext, sizeof(ext), out, sizeof(out)), 1);
	assert_string_equal(out, "hi");
	assert_int_equal(fw_text_extract(dsm, sizeof(dsm), out, sizeof(out)), 1);
	assert_string_equal(out, "yo");
	assert_int_equal(fw_text_extract(none, sizeof(none), out, sizeof(out)), 0);
	assert_int_equal(fw_text_extract(none, 0, out, sizeof(out)), 0);
}

/* Truncated, overlong, bad wire types, NUL in text, output too small. */
static void
test_malformed(void **state)
{
	static const uint8_t cut[] = { 0x0a, 0x05, 'a', 'b' }, wire[] = { 0x0b }, fixed[] = { 0x09, 1, 2 },
	    nul[] = { 0x0a, 0x02, 'a', 0 }, varint[] = { 0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0x01 }, zero[] = { 0x02, 0x00 }, nested_cut[] = { 0x32, 0x04, 0x0a, 0x05, 'a', 'b' };
	char out[64], tiny[2];
	uint8_t *b;
	size_t n;

	(void)state;
	assert_int_equal(fw_text_extract(cut, sizeof(cut), out, sizeof(out)), -1);
	assert_int_equal(fw_text_extract(wire, sizeof(wire), out, sizeof(out)), -1);
	assert_int_equal(fw_text_extract(fixed, sizeof(fixed), out, sizeof(out)), -1);
	assert_int_equal(fw_text_extract(nul, sizeof(nul), out, sizeof(out)), -1);
	assert_int_equal(fw_text_extract(varint, sizeof(varint), out, sizeof(out)), -1);
	assert_int_equal(fw_text_extract(zero, sizeof(zero), out, sizeof(out)), -1);
	assert_int_equal(fw_text_extract(nested_cut, sizeof(nested_cut), out, sizeof(out)), -1);
	assert_int_equal(fw_text_encode("hello", &b, &n), 0);
	assert_int_equal(fw_text_extract(b, n, tiny, sizeof(tiny)), -1);
	free(b);
	{
		char *huge = malloc(FW_TEXT_MAX + 2);
		memset(huge, 'y', FW_TEXT_MAX + 1);
		huge[FW_TEXT_MAX + 1] = '\0';
		assert_int_equal(fw_text_encode(huge, &b, &n), -1);
		free(huge);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conversation),
		cmocka_unit_test(test_nested),
		cmocka_unit_test(test_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
