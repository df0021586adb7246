/* The client side of a proxy tunnel: after a TCP connection to the proxy, ask it for a byte stream to the
 * target (WhatsApp's host and port), then hand the socket to TLS/WebSocket as if it were a direct connection.
 *
 *  - HTTP CONNECT (RFC 9110 section 9.3.6) with "Proxy-Authorization: Basic" when a username is given;
 *  - SOCKS5 (RFC 1928) with username/password authentication (RFC 1929) when a username is given; the target
 *    goes as a domain name (address type 3) unless it is an IP literal, so DNS happens at the proxy;
 *  - SOCKS4, and SOCKS4a for a target that is not an IPv4 literal (the username is the USERID; SOCKS4 has no
 *    password).
 *
 * Contract:
 *  - the state machine is process-free: wa_proxy_output/wa_proxy_sent give the bytes to send, wa_proxy_input
 *    takes reply bytes, wa_proxy_want says how many may be read next. It never asks for more bytes than the
 *    rest of the proxy's reply can hold, so nothing of the tunnelled stream is ever read by it: when DONE the
 *    socket is positioned exactly at the first tunnelled byte;
 *  - every reply is bounded (an HTTP reply head at most WA_PROXY_HTTP_HEAD_MAX bytes) and checked before use;
 *  - results are three-way (WA_PROXY_DONE / WA_PROXY_AGAIN / WA_PROXY_ERROR); an error has a class
 *    (wa_proxy_error) and a one-line text in the caller's buffer, without the "proxy: " prefix;
 *  - wa_proxy_io drives it on a connected non-blocking socket (send/recv only; the caller owns the fd and the
 *    events, and waits for what *want_write says before calling again). */
#ifndef WAGATE_WA_PROXY_H
#define WAGATE_WA_PROXY_H

#include <stddef.h>
#include <stdint.h>

enum wa_proxy_type { WA_PROXY_HTTP = 1, WA_PROXY_SOCKS4, WA_PROXY_SOCKS5 };

enum { WA_PROXY_DONE = 0, WA_PROXY_AGAIN = 1, WA_PROXY_ERROR = -1 };

/* What went wrong, for the caller's policy and for tests. */
enum wa_proxy_error {
	WA_PROXY_ERR_NONE = 0,
	WA_PROXY_ERR_IO,	/* the proxy closed the connection or the socket failed */
	WA_PROXY_ERR_PROTOCOL,	/* the reply is not the protocol we speak (or too long) */
	WA_PROXY_ERR_AUTH,	/* credentials missing or refused (HTTP 407, SOCKS5 auth) */
	WA_PROXY_ERR_REFUSED,	/* the proxy would not (or could not) connect to the target */
};

#define WA_PROXY_HTTP_HEAD_MAX	8192	/* an HTTP reply head longer than this is refused */
#define WA_PROXY_FIELD_MAX	255	/* host, username, password: SOCKS5 length bytes */

struct wa_proxy;

/* The protocol for a configuration name ("http", "socks4", "socks5", any case), or 0 for anything else
 * ("https" included: TLS to the proxy is not implemented). */
enum wa_proxy_type wa_proxy_type_from_name(const char *name);

/* A tunnel request to target_host:target_port through a proxy of this type. username/password may be NULL or
 * empty (no authentication). NULL with a reason in err when a field cannot be sent (too long, a CR/LF or NUL,
 * an IPv6 target for SOCKS4). */
struct wa_proxy *wa_proxy_new(enum wa_proxy_type type, const char *target_host, unsigned target_port,
    const char *username, const char *password, char *err, size_t errlen);
/* Free (NULL is fine); the request bytes (which carry the password) are wiped. */
void wa_proxy_free(struct wa_proxy *p);

/* Bytes to send now (*len 0 = nothing until more input arrives). The pointer is valid until the next call. */
const uint8_t *wa_proxy_output(struct wa_proxy *p, size_t *len);
/* n of those bytes were sent. */
void wa_proxy_sent(struct wa_proxy *p, size_t n);
/* How many reply bytes may be read next without reading past the reply (0 once done or failed). */
size_t wa_proxy_want(const struct wa_proxy *p);
/* Feed reply bytes (len <= wa_proxy_want). DONE: the tunnel is open; AGAIN: send/read more; ERROR: err says
 * why and wa_proxy_error the class. */
int wa_proxy_input(struct wa_proxy *p, const uint8_t *data, size_t len, char *err, size_t errlen);
/* The class of the last error (WA_PROXY_ERR_NONE while none). */
enum wa_proxy_error wa_proxy_error(const struct wa_proxy *p);

/* Send what is due and read what is wanted on a connected non-blocking socket until it would block. DONE, AGAIN
 * (*want_write says whether to wait for writability, else readability) or ERROR with err. */
int wa_proxy_io(struct wa_proxy *p, int fd, int *want_write, char *err, size_t errlen);

#endif
