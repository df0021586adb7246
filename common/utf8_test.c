/* utf8_valid against known well-formed and ill-formed sequences, and every code point encoded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "utf8.h"

/* bytes, length, expected offset of the first bad sequence (-1 = well-formed) */
static const struct {
	const char *s;
	size_t n;
	long bad;
} cases[] = {
	{ "", 0, -1 },
	{ "plain ascii", 11, -1 },
	{ "a\0b", 3, -1 },				/* NUL is well-formed; callers refuse it */
	{ "\xc2\x80", 2, -1 },				/* U+0080 */
	{ "\xdf\xbf", 2, -1 },				/* U+07FF */
	{ "\xe0\xa0\x80", 3, -1 },			/* U+0800 */
	{ "\xed\x9f\xbf", 3, -1 },			/* U+D7FF, the last before the surrogates */
	{ "\xee\x80\x80", 3, -1 },			/* U+E000, the first after them */
	{ "\xef\xbf\xbf", 3, -1 },			/* U+FFFF */
	{ "\xf0\x90\x80\x80", 4, -1 },			/* U+10000 */
	{ "\xf4\x8f\xbf\xbf", 4, -1 },			/* U+10FFFF */
	{ "na\xc3\xafve \xe2\x82\xac \xf0\x9f\x98\x80", 15, -1 },
	{ "\x80", 1, 0 },				/* a lone continuation byte */
	{ "ab\xbf", 3, 2 },
	{ "\xc0\x80", 2, 0 },				/* overlong NUL */
	{ "\xc1\xbf", 2, 0 },				/* overlong U+007F */
	{ "\xe0\x80\x80", 3, 0 },			/* overlong 3-byte */
	{ "\xe0\x9f\xbf", 3, 0 },			/* overlong U+07FF */
	{ "\xed\xa0\x80", 3, 0 },			/* U+D800 */
	{ "\xed\xbf\xbf", 3, 0 },			/* U+DFFF */
	{ "\xf0\x80\x80\x80", 4, 0 },			/* overlong 4-byte */
	{ "\xf0\x8f\xbf\xbf", 4, 0 },			/* overlong U+FFFF */
	{ "\xf4\x90\x80\x80", 4, 0 },			/* U+110000 */
	{ "\xf5\x80\x80\x80", 4, 0 },
	{ "\xf8\x88\x80\x80\x80", 5, 0 },		/* the old 5-byte form */
	{ "\xfe", 1, 0 },
	{ "\xff", 1, 0 },
	{ "x\xc2", 2, 1 },				/* truncated at the end */
	{ "x\xe1\x80", 3, 1 },
	{ "x\xf1\x80\x80", 4, 1 },
	{ "ab\xc2\x41", 4, 2 },				/* a lead byte followed by ASCII */
	{ "\xe1\x80\x41", 3, 0 },
	{ "\xf1\x80\x80\x41", 4, 0 },
	{ "ok\xc3\xa9\xc3", 5, 4 },			/* the offset is the bad sequence's, not the last good one's */
};

/* Every case in the table, with its offset. */
static void
test_utf8_cases(void **state)
{
	size_t i, bad;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bad = 999;
		if (cases[i].bad < 0) {
			assert_int_equal(utf8_valid(cases[i].s, cases[i].n, &bad), 1);
			assert_int_equal(bad, 999);
		} else {
			assert_int_equal(utf8_valid(cases[i].s, cases[i].n, &bad), 0);
			assert_int_equal(bad, (size_t)cases[i].bad);
			assert_int_equal(utf8_valid(cases[i].s, cases[i].n, NULL), 0);
		}
	}
}

/* The shortest encoding of cp into out; returns its length. */
static size_t
encode(uint32_t cp, uint8_t *out)
{
	if (cp < 0x80) {
		out[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (uint8_t)(0xc0 | cp >> 6), out[1] = (uint8_t)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (uint8_t)(0xe0 | cp >> 12), out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (uint8_t)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (uint8_t)(0xf0 | cp >> 18), out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f)), out[3] = (uint8_t)(0x80 | (cp & 0x3f));
	return 4;
}

/* Every code point's shortest form is well-formed but the surrogates'; every overlong form is not. */
static void
test_utf8_every_code_point(void **state)
{
	uint8_t b[4];
	uint32_t cp;
	size_t n, bad;

	(void)state;
	for (cp = 0; cp <= 0x10ffff; cp++) {
		n = encode(cp, b);
		assert_int_equal(utf8_valid(b, n, &bad), !(cp >= 0xd800 && cp <= 0xdfff));
	}
	/* the same code points one byte longer than needed */
	for (cp = 0; cp < 0x10000; cp++) {
		if (cp < 0x80) {
			b[0] = (uint8_t)(0xc0 | cp >> 6), b[1] = (uint8_t)(0x80 | (cp & 0x3f));
			n = 2;
		} else if (cp < 0x800) {
			b[0] = 0xe0, b[1] = (uint8_t)(0x80 | cp >> 6), b[2] = (uint8_t)(0x80 | (cp & 0x3f));
			n = 3;
		} else {
			b[0] = 0xf0, b[1] = (uint8_t)(0x80 | cp >> 12), b[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
			b[3] = (uint8_t)(0x80 | (cp & 0x3f));
			n = 4;
		}
		assert_int_equal(utf8_valid(b, n, &bad), 0);
		assert_int_equal(bad, 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_cases),
		cmocka_unit_test(test_utf8_every_code_point),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
