/* The request-framing checks libevent 2.1 leaves undone: where a body ends must not be open to two readings. */
#ifndef WAGATE_HTTP_FRAMING_H
#define WAGATE_HTTP_FRAMING_H

#include <stddef.h>

struct evkeyvalq;

/*
 * Whether headers (a request's, as libevent parsed them) frame its body one way only (RFC 9112 sections 3.2,
 * 5.1, 6.1 and 6.3). Refused with 400: a header name that is not a token (whitespace before the colon, which
 * libevent keeps in the name, so "Content-Length :" would not count as one); more than one Content-Length,
 * even with equal values; a Content-Length that is not digits alone (libevent reads "+5" and "-0" with strtoll);
 * Transfer-Encoding together with Content-Length; more than one Host. Refused with 501: a Transfer-Encoding
 * other than one "chunked" (libevent would read such a body by Content-Length or not at all). Returns 0, or -1
 * with the status in *code and the reason in err; the caller answers and closes the connection, since the
 * client and libevent may disagree on where the next request starts.
 */
int http_framing_check(const struct evkeyvalq *headers, int *code, char *err, size_t errlen);

#endif
