#include "utf8.h"

#include <stdint.h>

/*
 * One row per range of lead bytes: how many bytes the sequence has and the range its second byte must be in.
 * The later bytes are always 80..BF. The narrowed second-byte ranges are what exclude overlong forms (E0, F0),
 * surrogates (ED) and code points above U+10FFFF (F4); C0, C1 and F5..FF have no row and never start a sequence.
 */
static const struct {
	uint8_t lead_lo, lead_hi;
	uint8_t len;
	uint8_t second_lo, second_hi;
} utf8_rows[] = {
	{ 0xc2, 0xdf, 2, 0x80, 0xbf },
	{ 0xe0, 0xe0, 3, 0xa0, 0xbf },
	{ 0xe1, 0xec, 3, 0x80, 0xbf },
	{ 0xed, 0xed, 3, 0x80, 0x9f },
	{ 0xee, 0xef, 3, 0x80, 0xbf },
	{ 0xf0, 0xf0, 4, 0x90, 0xbf },
	{ 0xf1, 0xf3, 4, 0x80, 0xbf },
	{ 0xf4, 0xf4, 4, 0x80, 0x8f },
};

int
utf8_valid(const void *s, size_t n, size_t *bad)
{
	const uint8_t *p = s;
	size_t i = 0, r, k;

	while (i < n) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		for (r = 0; r < sizeof(utf8_rows) / sizeof(utf8_rows[0]); r++)
			if (p[i] >= utf8_rows[r].lead_lo && p[i] <= utf8_rows[r].lead_hi)
				break;
		if (r == sizeof(utf8_rows) / sizeof(utf8_rows[0]) || n - i < utf8_rows[r].len ||
		    p[i + 1] < utf8_rows[r].second_lo || p[i + 1] > utf8_rows[r].second_hi)
			goto fail;
		for (k = 2; k < utf8_rows[r].len; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				goto fail;
		i += utf8_rows[r].len;
	}
	return 1;
fail:
	if (bad != NULL)
		*bad = i;
	return 0;
}
