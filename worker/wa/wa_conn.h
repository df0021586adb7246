/* The client connection to WhatsApp: URL, TCP, TLS, WebSocket upgrade, frame layer, Noise XX handshake, then
 * encrypted binary nodes; keepalive pings with an answer deadline; stream errors and reconnects with a policy
 * (wa-transport.md section 6): 515 reconnects at once; 401/403/516/device_removed and <failure> 401/403/406
 * close as logged out; replaced (440/409) closes; 500/503/xmlstreamend/transport errors/dead keepalive
 * reconnect with capped exponential backoff and jitter; a refused server certificate (TLS or Noise) closes
 * with reason 400 and is NOT retried automatically (retrying cannot help; wa_conn_start tries again).
 * With a proxy set (wa_conn_set_proxy), the TCP connection goes to the proxy and the tunnel handshake
 * (wa_proxy.h) comes before TLS; a proxy that cannot be reached or refuses closes with reason 604 and a
 * "proxy: ..." detail, retried with backoff like any transport failure. */
#ifndef WAGATE_WA_CONN_H
#define WAGATE_WA_CONN_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct wa_node;
struct wa_conn;
struct wa_tls_ctx;

#define WA_CONN_DEFAULT_URL "wss://web.whatsapp.com/ws/chat"
#define WA_CONN_ORIGIN "https://web.whatsapp.com"

/* Connection states (numbers as ConnState in proto/ipc.proto). */
enum wa_conn_state { WA_CONN_CLOSED = 0, WA_CONN_CONNECTING = 1, WA_CONN_OPEN = 2 };

/* Reason codes (Baileys DisconnectReason numbers, as Reason in proto/ipc.proto). */
enum {
	WA_CONN_REASON_NONE = 0,
	WA_CONN_REASON_BAD_CERT = 400,		/* TLS or Noise server certificate refused */
	WA_CONN_REASON_LOGGED_OUT = 401,
	WA_CONN_REASON_FORBIDDEN = 403,
	WA_CONN_REASON_TIMED_OUT = 408,		/* keepalive dead, connect/handshake timeout */
	WA_CONN_REASON_CLOSED = 428,		/* peer closed, xmlstreamend, transport error */
	WA_CONN_REASON_REPLACED = 440,
	WA_CONN_REASON_BAD_SESSION = 500,	/* stream:error 500 / unknown */
	WA_CONN_REASON_UNAVAILABLE = 503,
	WA_CONN_REASON_RESTART_REQUIRED = 515,
	WA_CONN_REASON_STOPPED = 1000,		/* wa_conn_stop was called */
	WA_CONN_REASON_CONFIG = 601,		/* bad URL / TLS configuration: nothing to retry */
	WA_CONN_REASON_PROXY = 604,		/* the proxy is unreachable, refused us or failed the tunnel */
};

/* A proxy to reach WhatsApp through (strings borrowed for the call only). */
struct wa_conn_proxy {
	const char *protocol;			/* "http", "socks4" or "socks5" (see wa_proxy_type_from_name) */
	const char *host, *port;
	const char *username, *password;	/* NULL or "" = no authentication */
};

/* state: the new state; reason: why (WA_CONN_REASON_*, or a stream-error/failure code); detail: short text.
 * retry_ms: for CLOSED, when the next attempt starts (-1 = none: the connection stays closed).
 * CONNECTING is reported at the start of every attempt, OPEN when the Noise handshake is done. May be
 * called from inside wa_conn_send_node / wa_conn_stop; must not free the connection. */
typedef void (*wa_conn_state_cb)(struct wa_conn *c, int state, int reason, const char *detail, long retry_ms,
    void *arg);
/* A decoded node from the server (keepalive answers and server pings are handled inside). The node belongs
 * to the connection and is freed after the callback returns. */
typedef void (*wa_conn_node_cb)(struct wa_conn *c, const struct wa_node *node, void *arg);

struct wa_conn_config {
	const char *url;			/* ws:// or wss://; NULL = WA_CONN_DEFAULT_URL */
	const uint8_t *root_key;		/* 32-byte trusted certificate root; NULL = WhatsApp's */
	const uint8_t *static_priv;		/* 32-byte Noise static private key; NULL = a random one */
	const uint8_t *payload;			/* ClientPayload bytes for ClientFinish (copied); may be NULL */
	size_t payload_len;
	const char *extra_ca_file;		/* extra trusted CA PEM for wss:// (tests), NULL = none */
	const char *ca_file;			/* CA bundle, NULL = the system one */
	struct wa_tls_ctx *tls_ctx;		/* a shared client TLS context to use instead (borrowed: it must
						 * outlive the connection); NULL = build one from the CA files */
	unsigned keepalive_min_ms, keepalive_max_ms;	/* ping interval range; 0 = 20000..30000 */
	unsigned keepalive_deadline_ms;		/* answer deadline; 0 = 20000 */
	unsigned connect_timeout_ms;		/* TCP+TLS+upgrade+handshake; 0 = 20000 */
	unsigned backoff_min_ms, backoff_max_ms;	/* 0 = 1000 .. 60000 */
	size_t max_message;			/* WebSocket message cap; 0 = 16 MiB */
	wa_conn_state_cb on_state;
	wa_conn_node_cb on_node;
	void *arg;
};

/* Create a connection (not started). NULL with a reason in err if the configuration is unusable. */
struct wa_conn *wa_conn_new(struct event_base *base, const struct wa_conn_config *cfg, char *err, size_t errlen);
/* Close everything without any callback (NULL is fine). */
void wa_conn_free(struct wa_conn *c);
/* Start connecting now (also after a fatal close); a running attempt or pending retry is restarted. */
void wa_conn_start(struct wa_conn *c);
/* Close the connection and stop reconnecting; reports CLOSED/STOPPED once if it was not closed. */
void wa_conn_stop(struct wa_conn *c);
/* Drop the current connection and reconnect at once (as for 515). */
void wa_conn_restart(struct wa_conn *c);
/* Encrypt and send a node. 0, or -1 if the connection is not OPEN or the node cannot be encoded. */
int wa_conn_send_node(struct wa_conn *c, const struct wa_node *node);
/* Replace the ClientPayload used by the next handshakes (copied). */
void wa_conn_set_payload(struct wa_conn *c, const uint8_t *payload, size_t len);
/* Use this proxy (copied) from the next attempt on; NULL = connect directly. The running connection is kept. */
void wa_conn_set_proxy(struct wa_conn *c, const struct wa_conn_proxy *proxy);
/* Current state and the number of completed handshakes so far. */
int wa_conn_state(const struct wa_conn *c);
unsigned wa_conn_handshakes(const struct wa_conn *c);
/* A fresh request id "<r1>.<r2>-<n>" for iqs sent on this connection (static buffer in c, valid until next call). */
const char *wa_conn_next_id(struct wa_conn *c);

#endif
