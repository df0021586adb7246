/* One HTTP(S) GET off the event loop: the worker downloads media (a history sync chunk) without stalling its
 * WhatsApp connection. The request runs in a thread of its own with blocking sockets (connect, an optional proxy
 * tunnel with wa_proxy, TLS with mbedTLS verifying the host against the system CAs plus an extra CA file, the
 * request, the response read to its end); the result is handed back on the caller's event loop through a pipe,
 * never from the thread. Bounded: at most max_body bytes of body, a response head of at most WA_FETCH_HEAD_MAX,
 * the whole exchange within timeout_ms.
 *
 * Contract:
 *  - cb runs exactly once, on the loop of base, on a later turn than wa_fetch_start, unless wa_fetch_cancel ran
 *    first (then never); after cb the handle is gone (do not cancel it);
 *  - cb gets ok=1 with the HTTP status (any 2xx-5xx the server answered; 2xx is the caller's to check; a 1xx
 *    interim response is refused as malformed) and the body (malloc'd even when empty, owned by cb: free it)
 *    and err NULL, or ok=0 with body NULL and a one-line reason (DNS, connect, proxy, TLS, timeout, a
 *    malformed or oversized response, a response with both Content-Length and Transfer-Encoding);
 *  - timeout_ms bounds everything but name resolution (getaddrinfo cannot be interrupted; the resolver's own
 *    timeouts bound it); a cancel ends the thread's socket wait at once;
 *  - Content-Length and chunked bodies are read; anything else is read until the server closes;
 *  - the URL is http://host[:port]/path or https://host[:port]/path (host a name or an IP literal, IPv6 in []).
 */
#ifndef WAGATE_WA_FETCH_H
#define WAGATE_WA_FETCH_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct wa_fetch;

#define WA_FETCH_HEAD_MAX	16384	/* response status line and headers */
#define WA_FETCH_URL_MAX	4096

/* Where to connect through (host NULL: directly). type as wa_proxy_type (WA_PROXY_HTTP, _SOCKS4, _SOCKS5). */
struct wa_fetch_proxy {
	int type;
	const char *host;
	unsigned port;
	const char *username, *password;	/* NULL or "" = none */
};

struct wa_fetch_req {
	const char *url;
	const struct wa_fetch_proxy *proxy;	/* NULL = direct */
	const char *extra_ca_file;		/* NULL = the system CAs only */
	size_t max_body;
	unsigned timeout_ms;
	const char *user_agent;			/* NULL = none sent */
	const char *origin;			/* NULL = none; else sent as Origin: X and Referer: X/ (WhatsApp
						 * Web's media requests carry both) */
};

typedef void (*wa_fetch_cb)(void *arg, int ok, int status, uint8_t *body, size_t len, const char *err);

/* Start a GET (every string of r is copied). NULL with err when it cannot start (a bad URL, no thread). */
struct wa_fetch *wa_fetch_start(struct event_base *base, const struct wa_fetch_req *r, wa_fetch_cb cb, void *arg,
    char *err, size_t errlen);
/* Drop a running GET: cb will not run; the thread finishes on its own (bounded by the timeout) and frees what it
 * holds. NULL is fine. */
void wa_fetch_cancel(struct wa_fetch *f);

/* The response parser (pure, for tests and fuzzing): feed the bytes read so far (the whole response, from its
 * first byte) and eof=1 once the peer closed. WA_FETCH_AGAIN: need more; WA_FETCH_DONE: *status set and the body
 * is [*body_off, *body_off + *body_len) of buf, except chunked bodies, which are decoded into *dechunked
 * (malloc'd, never NULL then; *body_off is 0); WA_FETCH_ERROR: err says why. *dechunked is NULL unless DONE
 * with a chunked body. wa_fetch_parse.h has the resumable form the fetch thread uses. */
enum { WA_FETCH_DONE = 0, WA_FETCH_AGAIN = 1, WA_FETCH_ERROR = -1 };
int wa_fetch_parse(const uint8_t *buf, size_t len, int eof, size_t max_body, int *status, size_t *body_off,
    size_t *body_len, uint8_t **dechunked, char *err, size_t errlen);

#endif
