/* Keys as text (see keytext.h). */
#include "keytext.h"
#include "hex.h"
#include "b64.h"
#include "xmalloc.h"

#include <ctype.h>
#include <string.h>

/* n characters of hex into out (n even); -1 on a non-hex character. */
static int
keytext_hex(const char *s, size_t n, unsigned char *out)
{
	size_t i;
	int hi, lo;

	for (i = 0; i < n / 2; i++) {
		if ((hi = hex_digit((unsigned char)s[2 * i])) < 0 ||
		    (lo = hex_digit((unsigned char)s[2 * i + 1])) < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

int
keytext_parse(const char *text, unsigned char key[KEYTEXT_KEY_LEN])
{
	unsigned char buf[KEYTEXT_KEY_LEN + 16];
	size_t n, olen = 0;
	int rc = -1;

	while (isspace((unsigned char)*text))
		text++;
	for (n = strlen(text); n > 0 && isspace((unsigned char)text[n - 1]); n--)
		;
	/* 64 characters may also be base64 (of 48 bytes): the wrong length either way, so hex is tried first. */
	if ((n == 2 * KEYTEXT_KEY_LEN || n == 2 * (KEYTEXT_KEY_LEN + 1)) && keytext_hex(text, n, buf) == 0)
		olen = n / 2;
	else if (n == 0 || b64_decode(text, n, buf, sizeof(buf), &olen) == -1)
		goto out;
	if (olen == KEYTEXT_KEY_LEN + 1 && buf[0] == 0x05) {
		memcpy(key, buf + 1, KEYTEXT_KEY_LEN);
		rc = 0;
	} else if (olen == KEYTEXT_KEY_LEN) {
		memcpy(key, buf, KEYTEXT_KEY_LEN);
		rc = 0;
	}
out:
	explicit_wipe(buf, sizeof(buf));
	return rc;
}

void
keytext_format(const unsigned char key[KEYTEXT_KEY_LEN], char out[2 * KEYTEXT_KEY_LEN + 1])
{
	hex_encode(key, KEYTEXT_KEY_LEN, out);
}
