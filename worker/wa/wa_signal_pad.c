/* Plaintext padding of Signal payloads (reference/wa-session.md section 4.6). See wa_signal.h. */
#include "wa_signal.h"
#include "random.h"
#include "xmalloc.h"

#include <string.h>

int
wa_signal_pad(const uint8_t *in, size_t len, uint8_t **out, size_t *outlen)
{
	uint8_t r, n;

	if (len > WA_SIGNAL_MESSAGE_MAX - WA_SIGNAL_PAD_MAX)
		return -1;
	random_bytes(&r, 1);
	n = (uint8_t)((r & 0x0f) + 1);	/* Baileys' 1..16; whatsmeow's 1..15 is a subset receivers accept */
	*out = xmalloc(len + n);
	if (len > 0)
		memcpy(*out, in, len);
	memset(*out + len, n, n);
	*outlen = len + n;
	return 0;
}

int
wa_signal_unpad(const uint8_t *in, size_t len, size_t *outlen)
{
	uint8_t n, bad = 0;
	size_t i;

	if (len == 0)
		return -1;
	n = in[len - 1];
	if (n == 0 || n > len)
		return -1;
	for (i = len - n; i < len; i++)
		bad |= in[i] ^ n;
	if (bad != 0)
		return -1;
	*outlen = len - n;
	return 0;
}
