/* What the connection state machine (wa_conn.c) and its dialing (wa_conn_dial.c) share. Inside worker/wa only. */
#ifndef WAGATE_WA_CONN_INT_H
#define WAGATE_WA_CONN_INT_H

#include "wa_conn.h"
#include "wa_frame.h"
#include "wa_handshake.h"
#include "wa_noise.h"
#include "wa_tls.h"
#include "wa_ws.h"

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>

#include <stddef.h>
#include <stdint.h>

enum conn_phase { PH_IDLE, PH_RESOLVING, PH_CONNECTING, PH_PROXY, PH_UPGRADING, PH_HANDSHAKE, PH_OPEN };
enum conn_retry { RETRY_NOW, RETRY_BACKOFF, RETRY_NONE };

/* A proxy as the connection keeps it (host NULL = connect directly). */
struct conn_proxy {
	char *protocol, *host, *port, *user, *pass;
	char *hostport;			/* "host:port" for messages */
};

struct wa_conn {
	struct event_base *base;
	struct wa_conn_config cfg;	/* callbacks and timings; pointers below are our own copies */
	char *url, *host, *hostport, *path, *port;
	int use_tls;
	uint8_t root_key[32];
	uint8_t static_priv[32];
	uint8_t *payload;
	size_t payload_len;
	char *extra_ca_file, *ca_file;
	struct wa_tls_ctx *tlsctx;
	int own_tlsctx;			/* tlsctx was built here (else borrowed from the config) */
	struct evdns_base *dns;
	/* The proxy for the next attempts, and the one the current attempt took at its start (a change in the
	 * middle of an attempt must not make it dial the proxy and then talk to it as if it were WhatsApp). */
	struct conn_proxy px_next, pxa;

	/* The current attempt. */
	enum conn_phase phase;
	unsigned gen;			/* bumped by every attempt end: detects teardown inside callbacks */
	struct evdns_getaddrinfo_request *dnsreq;
	struct wa_tls *stream;
	/* Through a proxy: the socket and its events until the tunnel is open, then the stream owns the socket. */
	int px_fd;
	int px_connected;			/* the TCP connect to the proxy finished */
	int px_tunnel;				/* the tunnel is open: what fails now is not the proxy's doing */
	struct wa_proxy *px;
	struct event *px_rd, *px_wr;
	struct event *px_zombie[2];		/* a finished attempt's proxy events, freed on the next loop turn */
	struct wa_tls *zombie;		/* a finished attempt's stream, freed on the next loop turn */
	struct wa_ws *ws;
	char wskey[WA_WS_KEY_LEN + 1];
	struct wa_frame_reader *frd;
	struct wa_frame_writer *fwr;
	struct wa_handshake *hs;
	struct wa_noise_transport *tx, *rx;
	int ws_close_sent;

	struct event *ev_timeout, *ev_ping, *ev_deadline, *ev_retry, *ev_reap;
	char ping_id[32];
	int state;
	int stopped;
	unsigned failures, handshakes, idn;
	uint8_t idr[2];
	char idbuf[32];
};

/* wa_conn.c */
void conn_fail(struct wa_conn *c, int reason, const char *detail, enum conn_retry retry);
void conn_stream_read_cb(struct wa_tls *t, struct evbuffer *in, void *arg);
void conn_stream_event_cb(struct wa_tls *t, int what, const char *reason, void *arg);

/* wa_conn_dial.c */
void conn_dial(struct wa_conn *c);
void conn_proxy_end(struct wa_conn *c);
void conn_proxy_clear(struct conn_proxy *p);
void conn_proxy_copy(struct conn_proxy *dst, const struct conn_proxy *src);

#endif
