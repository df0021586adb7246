/* A byte stream over one non-blocking socket on a libevent base, plain or TLS (mbedTLS), used by the WhatsApp
 * client (wa_conn) and by fakewa. Client TLS trusts the system CA bundle (plus an optional extra CA file for
 * tests), sends SNI and verifies the host name. Server TLS uses a self-signed certificate generated at start. */
#ifndef WAGATE_WA_TLS_H
#define WAGATE_WA_TLS_H

#include <stddef.h>

struct event_base;
struct evbuffer;
struct wa_tls_ctx;
struct wa_tls;

#define WA_TLS_SYSTEM_CA_FILE "/etc/ssl/certs/ca-certificates.crt"

/* What the event callback reports. */
enum wa_tls_event {
	WA_TLS_EV_CONNECTED = 1,	/* TCP connected and (for TLS) handshake done: writes now go out */
	WA_TLS_EV_EOF,			/* the peer closed (TCP FIN or TLS close_notify) */
	WA_TLS_EV_ERROR,		/* I/O or TLS failure; reason says which */
	WA_TLS_EV_CERT_ERROR,		/* the peer's certificate was refused; retrying cannot help */
	WA_TLS_EV_DRAINED,		/* after wa_tls_close_on_flush: everything was written, stream shut */
};

/* Called when new bytes were appended to the input buffer (drain what you use). Must not free t. */
typedef void (*wa_tls_read_cb)(struct wa_tls *t, struct evbuffer *in, void *arg);
/* Called on a state event; reason is a human-readable explanation (never NULL). Must not free t. */
typedef void (*wa_tls_event_cb)(struct wa_tls *t, int what, const char *reason, void *arg);

/* Client configuration: trust ca_file (NULL = WA_TLS_SYSTEM_CA_FILE) plus extra_ca_file if not NULL.
 * NULL with a reason in err on failure (the files are read here). The parsed CAs are kept only while a
 * handshake runs: a later wa_tls_new reads the files again, and fails if they have become unreadable. */
struct wa_tls_ctx *wa_tls_ctx_new_client(const char *ca_file, const char *extra_ca_file, char *err,
    size_t errlen);
/* Server configuration with a fresh self-signed ECDSA P-256 certificate for common name cn; its PEM is
 * written to cert_out when not NULL. NULL with a reason in err on failure. */
struct wa_tls_ctx *wa_tls_ctx_new_server(const char *cn, const char *cert_out, char *err, size_t errlen);
void wa_tls_ctx_free(struct wa_tls_ctx *ctx);

/* Wrap fd (non-blocking; taken over and closed by wa_tls_free). ctx NULL = plain TCP. For a client ctx,
 * hostname is used for SNI and verification. connecting != 0 when a non-blocking connect() is under way.
 * CONNECTED is always reported from the loop (never from inside wa_tls_new). */
struct wa_tls *wa_tls_new(struct event_base *base, int fd, struct wa_tls_ctx *ctx, const char *hostname,
    int connecting, wa_tls_read_cb readcb, wa_tls_event_cb eventcb, void *arg);
/* Close the socket and free everything (NULL is fine). No callbacks are made afterwards. */
void wa_tls_free(struct wa_tls *t);
/* mbedTLS BIO callbacks on a non-blocking socket (fdp points to the int fd): what send/recv did, or
 * MBEDTLS_ERR_SSL_WANT_WRITE / _WANT_READ when the socket would block. wa_tls and wa_fetch (its own thread's
 * blocking-with-poll TLS) share them. */
int wa_tls_fd_send(void *fdp, const unsigned char *buf, size_t len);
int wa_tls_fd_recv(void *fdp, unsigned char *buf, size_t len);
/* Queue bytes for sending: once connected, what a loop turn queued is written at its end, and what the socket
 * does not take then waits for writability. Never calls back. 0, or -1 if the stream is closed or closing. */
int wa_tls_write(struct wa_tls *t, const void *data, size_t len);
/* Bytes queued and not yet written. */
size_t wa_tls_output_length(const struct wa_tls *t);
/* Resume (1) or stop (0) reading from the socket. */
void wa_tls_set_reading(struct wa_tls *t, int on);
/* Write what is queued, then shut the stream (TLS close_notify + TCP FIN) and report DRAINED. */
void wa_tls_close_on_flush(struct wa_tls *t);
/* Is this stream using TLS? */
int wa_tls_is_tls(const struct wa_tls *t);

#endif
