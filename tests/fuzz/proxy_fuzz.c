/* libFuzzer target: the proxy reply parsers (HTTP CONNECT answer head, SOCKS5 method/auth/reply, SOCKS4 reply)
 * through the wa_proxy state machine, fed in pieces never larger than it asks for. The first input byte picks
 * the protocol, whether credentials are set, and how the rest is chunked. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "wa_proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum wa_proxy_type types[] = { WA_PROXY_HTTP, WA_PROXY_SOCKS5, WA_PROXY_SOCKS4,
	    WA_PROXY_HTTP };
	struct wa_proxy *p;
	const uint8_t *out;
	size_t off = 1, n, want, chunk;
	char err[256];
	int r = WA_PROXY_AGAIN;

	if (size < 1 || size > 1 << 16)
		return 0;
	p = wa_proxy_new(types[data[0] & 3], (data[0] & 4) ? "web.whatsapp.com" : "10.0.0.1", 443,
	    (data[0] & 8) ? "user" : NULL, (data[0] & 8) ? "pass" : NULL, err, sizeof(err));
	if (p == NULL)
		abort();
	chunk = (data[0] >> 4) + 1;
	while (r == WA_PROXY_AGAIN) {
		/* Everything the client has to say goes out before it reads (as wa_proxy_io does). */
		if ((out = wa_proxy_output(p, &n)) != NULL) {
			volatile uint8_t sink = 0;
			for (size_t i = 0; i < n; i++)
				sink ^= out[i];
			(void)sink;
			wa_proxy_sent(p, n);
			continue;
		}
		want = wa_proxy_want(p);
		if (want == 0 || want > 1 << 16)
			abort();	/* AGAIN must leave something to read, and a bounded amount */
		if (off >= size)
			break;
		n = want < chunk ? want : chunk;
		if (n > size - off)
			n = size - off;
		r = wa_proxy_input(p, data + off, n, err, sizeof(err));
		off += n;
	}
	if (r == WA_PROXY_ERROR && wa_proxy_error(p) == WA_PROXY_ERR_NONE)
		abort();
	if (r == WA_PROXY_DONE && wa_proxy_want(p) != 0)
		abort();
	wa_proxy_free(p);
	return 0;
}
