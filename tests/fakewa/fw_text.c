/* Message text reader and writer (see fw_text.h). */
#include "fw_text.h"

#include "xmalloc.h"

#include <string.h>

#define FW_TEXT_DEPTH	2	/* deviceSentMessage.message is the only nesting followed */

/* A base-128 varint at *p (below end). 0 or -1. */
static int
fw_text_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (*p >= end)
			return -1;
		*v |= (uint64_t)(**p & 0x7f) << shift;
		if ((*(*p)++ & 0x80) == 0)
			return 0;
	}
	return -1;
}

/* Walk one message; want: the field holding the text directly (1 for Message, ExtendedTextMessage). */
static int
fw_text_walk(const uint8_t *p, const uint8_t *end, int depth, int kind, char *out, size_t outlen)
{
	int found = 0, rc;

	while (p < end) {
		uint64_t key, len;
		unsigned field, wire;

		if (fw_text_varint(&p, end, &key) == -1 || key >> 3 == 0 || key >> 3 > 0x1fffffff)
			return -1;
		field = (unsigned)(key >> 3);
		wire = (unsigned)(key & 7);
		switch (wire) {
		case 0:
			if (fw_text_varint(&p, end, &len) == -1)
				return -1;
			continue;
		case 1:
			if (end - p < 8)
				return -1;
			p += 8;
			continue;
		case 5:
			if (end - p < 4)
				return -1;
			p += 4;
			continue;
		case 2:
			break;
		default:
			return -1;
		}
		if (fw_text_varint(&p, end, &len) == -1 || len > (uint64_t)(end - p))
			return -1;
		rc = 0;
		/* kind 0: Message; 1: ExtendedTextMessage; 2: DeviceSentMessage */
		if (!found && ((kind <= 1 && field == 1))) {
			if (len >= outlen || len > FW_TEXT_MAX || memchr(p, '\0', len) != NULL)
				return -1;
			memcpy(out, p, len);
			out[len] = '\0';
			rc = 1;
		} else if (!found && kind == 0 && field == 6)
			rc = fw_text_walk(p, p + len, depth, 1, out, outlen);
		else if (!found && kind == 0 && field == 31 && depth < FW_TEXT_DEPTH)
			rc = fw_text_walk(p, p + len, depth + 1, 2, out, outlen);
		else if (!found && kind == 2 && field == 2)
			rc = fw_text_walk(p, p + len, depth, 0, out, outlen);
		if (rc == -1)
			return -1;
		found |= rc;
		p += len;
	}
	return found;
}

int
fw_text_extract(const uint8_t *buf, size_t len, char *out, size_t outlen)
{
	if (outlen == 0)
		return -1;
	out[0] = '\0';
	return fw_text_walk(buf, buf + len, 0, 0, out, outlen);
}

int
fw_text_encode(const char *text, uint8_t **out, size_t *outlen)
{
	size_t n = strlen(text), o = 0;
	uint8_t *b;

	if (n > FW_TEXT_MAX)
		return -1;
	b = xmalloc(n + 3);
	b[o++] = 0x0a;		/* field 1, length-delimited */
	if (n < 0x80)
		b[o++] = (uint8_t)n;
	else {
		b[o++] = (uint8_t)(n | 0x80);
		b[o++] = (uint8_t)(n >> 7);
	}
	memcpy(b + o, text, n);
	*out = b;
	*outlen = o + n;
	return 0;
}
