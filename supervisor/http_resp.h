/* A streaming reader of one HTTP/1.x response, for the webhook client (webhook_http.c). Process-free: no sockets,
 * no allocation, no logging.
 *
 * The webhook client never uses a response body, only its status and whether the connection may carry the next
 * request. So the reader is fed the bytes as they arrive, in pieces of any size, keeps only the line it is in
 * (bounded), and counts and drops the body. A response of any length costs the same small state.
 *
 * Contract:
 *  - http_resp_init before each response; after HTTP_RESP_DONE or HTTP_RESP_ERROR the state is spent and every
 *    further call answers HTTP_RESP_ERROR, until http_resp_init;
 *  - http_resp_feed consumes bytes from the start of buf: HTTP_RESP_MORE means all len were consumed and the
 *    response is not over; HTTP_RESP_DONE means it ended after *used bytes (a keep-alive connection must not have
 *    sent more: the caller treats leftovers as a broken connection); HTTP_RESP_ERROR means the bytes are not a
 *    response we accept, and r->err says why;
 *  - http_resp_eof: the peer closed. HTTP_RESP_DONE when that is how the body ends (no length given), otherwise
 *    HTTP_RESP_ERROR with r->err;
 *  - after DONE, r->status is the final status (200-599) and r->keep_alive whether the connection may be reused.
 *    Interim responses (1xx but 101) are read and skipped; 101 is refused, we never ask to switch protocols.
 *  - Lines end in LF with an optional CR before it. Framing that could be read two ways (two Content-Lengths, a
 *    length with chunking, a coding other than chunked) is refused rather than guessed. */
#ifndef WAGATE_HTTP_RESP_H
#define WAGATE_HTTP_RESP_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_RESP_LINE_MAX	8192	/* one line: status, field, chunk size with extensions, trailer */
#define HTTP_RESP_HEAD_MAX	65536	/* all heads of one response together (interim ones and trailers too) */
#define HTTP_RESP_HEADS_MAX	8	/* interim responses before the final one, at most this many minus one */

enum { HTTP_RESP_MORE = 0, HTTP_RESP_DONE = 1, HTTP_RESP_ERROR = -1 };

struct http_resp {
	int state;
	int status;		/* the final status once its head is read, else 0 */
	int keep_alive;		/* after DONE: the connection may carry another request */
	const char *err;	/* after ERROR: why (a static string) */

	/* The head being read. */
	int head_status;
	int http11;
	int have_length;
	int chunked;
	int conn_close;
	int conn_keep_alive;
	int heads;		/* status lines read */
	size_t head_bytes;	/* bytes of all heads and trailers so far */
	uint64_t left;		/* body or chunk bytes still to come */
	size_t line_len;
	char line[HTTP_RESP_LINE_MAX];
};

/* Start reading a new response. */
void http_resp_init(struct http_resp *r);
/* Read buf[0, len); see the contract above. *used is set on every result. */
int http_resp_feed(struct http_resp *r, const uint8_t *buf, size_t len, size_t *used);
/* The peer closed the connection after the bytes fed so far. */
int http_resp_eof(struct http_resp *r);

#endif
