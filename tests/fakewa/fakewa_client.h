/* One client connection inside fakewa: WebSocket upgrade, frame layer, Noise responder, then binary nodes
 * (keepalive answers, pair-device for an unregistered device, acks for other iqs) and injected faults. */
#ifndef WAGATE_FAKEWA_CLIENT_H
#define WAGATE_FAKEWA_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

struct event_base;
struct wa_tls_ctx;
struct fw_client;

/* What every connection shares: the Noise identity of the server and its certificate chain. */
struct fw_server {
	struct event_base *base;
	struct wa_tls_ctx *tls;			/* NULL = plain WebSocket */
	uint8_t static_priv[32], static_pub[32];
	uint8_t *chain;				/* encoded CertChain */
	size_t chain_len;
	unsigned next_id;
	unsigned long pings_answered;
	TAILQ_HEAD(, fw_client) clients;
	struct event *ev_reap;			/* frees dead clients outside their callbacks */
};

/* Take over an accepted socket. */
struct fw_client *fw_client_new(struct fw_server *s, int fd, const char *peer);
/* Close and free one client now (only from outside its callbacks: the reaper or shutdown). */
void fw_client_free(struct fw_client *c);
/* Free every client marked dead. */
void fw_server_reap(struct fw_server *s);

/* Iterate the clients: prev NULL gives the first; NULL at the end. */
struct fw_client *fw_client_next(struct fw_server *s, struct fw_client *prev);

/* Faults and queries for the control API. */
unsigned fw_client_id(const struct fw_client *c);
/* Append a JSON object describing c to a heap string buffer (xasprintf style). */
char *fw_client_json(const struct fw_client *c);
/* Drop the TCP connection at once (no close frame). */
void fw_client_drop(struct fw_client *c);
/* Send <stream:error code=...> (or a conflict child when conflict != NULL), then close the WebSocket. */
int fw_client_stream_error(struct fw_client *c, const char *code, const char *conflict);
/* Send <xmlstreamend/> and close. */
int fw_client_stream_end(struct fw_client *c);
/* Stop answering anything (1) or resume (0). */
void fw_client_stall(struct fw_client *c, int on);

#endif
