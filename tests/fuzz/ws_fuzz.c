/* libFuzzer target: the WebSocket frame parser in both roles (masked and unmasked paths), plus the
 * upgrade head parsers. The first input byte picks the role and the message size limit. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wa_ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Feed buf to a parser until it errors or wants more bytes than there are. */
static void
fuzz_frames(enum wa_ws_role role, size_t max, uint8_t *buf, size_t len)
{
	struct wa_ws *ws = wa_ws_new(role, max);
	struct wa_ws_msg m;
	size_t off = 0, consumed, need;
	char err[128];
	int r;

	for (int rounds = 0; rounds < 10000 && off <= len; rounds++) {
		r = wa_ws_parse(ws, buf + off, len - off, &consumed, &need, &m, err, sizeof(err));
		if (consumed > len - off)
			abort();
		off += consumed;
		if (r == WA_WS_ERROR)
			break;
		if (r == WA_WS_AGAIN) {
			if (need <= len - off)
				abort();	/* AGAIN must ask for more than is present */
			break;
		}
		if (m.opcode == WA_WS_OP_CONT || (m.len > 0 && m.data == NULL) || m.len > max)
			abort();
		/* Touch the message so ASan sees out-of-bounds views. */
		volatile uint8_t sink = 0;
		for (size_t i = 0; i < m.len; i++)
			sink ^= m.data[i];
		(void)sink;
	}
	wa_ws_free(ws);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf;
	size_t max, consumed;
	char key[WA_WS_KEY_LEN + 1], path[64], err[128];
	int status;

	if (size < 1 || size > 1 << 20)
		return 0;
	max = (data[0] & 0x80) ? 300 : 1 << 20;
	buf = malloc(size);
	memcpy(buf, data + 1, size - 1);
	fuzz_frames((data[0] & 1) ? WA_WS_SERVER : WA_WS_CLIENT, max, buf, size - 1);
	memcpy(buf, data + 1, size - 1);
	if (data[0] & 2)
		wa_ws_request_parse((const char *)buf, size - 1, &consumed, key, path, sizeof(path), err, sizeof(err));
	else
		wa_ws_response_parse((const char *)buf, size - 1, "dGhlIHNhbXBsZSBub25jZQ==", &consumed, &status,
		    err, sizeof(err));
	free(buf);
	return 0;
}
