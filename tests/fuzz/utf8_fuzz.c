/* Fuzz the table-driven UTF-8 validator against a decoder written the other way (arithmetic on code
 * points): both must agree on every input and on the offset of the first bad sequence. */
#include "utf8.h"

#include <stdint.h>
#include <stdlib.h>

/* The reference: decode each sequence, then refuse overlong forms, surrogates and code points past U+10FFFF. */
static int
ref_valid(const uint8_t *s, size_t n, size_t *bad)
{
	size_t i = 0, k, need;
	uint32_t cp, min;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0)
			need = 1, cp = s[i] & 0x1f, min = 0x80;
		else if ((s[i] & 0xf0) == 0xe0)
			need = 2, cp = s[i] & 0x0f, min = 0x800;
		else if ((s[i] & 0xf8) == 0xf0)
			need = 3, cp = s[i] & 0x07, min = 0x10000;
		else
			goto fail;
		if (n - i <= need)
			goto fail;
		for (k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				goto fail;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			goto fail;
		i += need + 1;
	}
	return 1;
fail:
	*bad = i;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t bad = 0, ref_bad = 0;
	int ok = utf8_valid(data, size, &bad);

	if (ok != ref_valid(data, size, &ref_bad) || (!ok && bad != ref_bad))
		abort();
	return 0;
}
