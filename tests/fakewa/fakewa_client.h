/* One client connection inside fakewa: WebSocket upgrade, frame layer, Noise responder, then binary nodes
 * (the ClientPayload decides between pairing and login, see fw_session.h; iqs in fw_iq.h) and injected
 * faults. A plain HTTP POST to /admin/mock-phone/scan-qr or /admin/mock-phone/pair-code on this port is
 * served too, through the same parser and route table as the control port (fw_ctl.h): Baileys' e2e suite
 * posts the QR to the socket's own host and port (src/__tests__/e2e/helpers/mock-phone.ts). The struct is
 * shared with fw_session.c, fw_iq.c, fw_pair.c and fw_ctl.c, which act on a connection. */
#ifndef WAGATE_FAKEWA_CLIENT_H
#define WAGATE_FAKEWA_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <time.h>

#include "fw_account.h"

struct event_base;
struct wa_tls_ctx;
struct wa_tls;
struct wa_ws;
struct wa_frame_reader;
struct wa_frame_writer;
struct wa_handshake;
struct wa_noise_transport;
struct wa_node;
struct fw_pairing;
struct fw_ctl_conn;
struct fw_groups;
struct fw_calls;
struct fw_media;

#define FW_REFS		6	/* refs per pair-device, as WhatsApp */
#define FW_REF_MAX	64

/* What every connection shares: the Noise identity of the server and its certificate chain, and the mock
 * WhatsApp's accounts. */
struct fw_server {
	struct event_base *base;
	struct wa_tls_ctx *tls;			/* NULL = plain WebSocket */
	uint8_t static_priv[32], static_pub[32];
	uint8_t *chain;				/* encoded CertChain */
	size_t chain_len;
	unsigned next_id;
	unsigned long next_stanza;		/* ids of server-initiated stanzas */
	unsigned long pings_answered;
	TAILQ_HEAD(, fw_client) clients;
	struct event *ev_reap;			/* frees dead clients outside their callbacks */
	struct fw_accounts accounts;
	struct fw_groups *groups;		/* fw_group.h */
	struct fw_calls *calls;			/* what clients sent as <call> (fw_call.h) */
	struct fw_media *media;			/* the media host's blobs (fw_media.h) */
};

enum fw_phase { FW_UPGRADE, FW_HELLO, FW_FINISH, FW_OPEN, FW_CLOSING };
enum fw_payload { FW_PAYLOAD_NONE, FW_PAYLOAD_REGISTRATION, FW_PAYLOAD_LOGIN, FW_PAYLOAD_INVALID };

#define FW_CHATSTATES		16
#define FW_CHATSTATE_MAX	160

struct fw_client {
	struct fw_server *s;
	unsigned id;
	char peer[64];
	struct wa_tls *stream;
	enum fw_phase phase;
	struct wa_ws *ws;
	struct wa_frame_reader *frd;
	struct wa_frame_writer *fwr;
	struct wa_handshake *hs;
	struct wa_noise_transport *tx, *rx;
	uint8_t client_static[32];
	int stalled, dead;
	unsigned long nodes_in, nodes_out;
	char presence[16];			/* type of the last <presence/> the client sent ("" = none) */
	unsigned presences;			/* <presence/> nodes received */
	unsigned messages_in;			/* <message/> nodes received */
	/* The last FW_CHATSTATES <chatstate/> nodes received, oldest first: "STATE TO N" (N: messages_in then;
	 * STATE "composing-audio" for composing media=audio; anything unexpected as "?"). */
	char chatstates[FW_CHATSTATES][FW_CHATSTATE_MAX];
	unsigned nchatstates;
	time_t since;

	enum fw_payload payload;
	struct fw_reg reg;			/* registration material (payload REGISTRATION) */
	char refs[FW_REFS][FW_REF_MAX];		/* the refs of the last pair-device */
	unsigned refs_offered;
	int registered;				/* paired on this connection, or logged in */
	char jid[64];				/* device JID once registered */
	struct fw_device *dev;			/* logged-in device (NULL once it is removed) */
	struct fw_pairing *pairing;		/* a control call waiting on this client */
	struct fw_ctl_conn *ctl;		/* a plain HTTP control request, not a WebSocket (fw_ctl.h) */
	/* link_code_companion_reg companion_hello, waiting for the phone to type the code */
	int lc_pending;
	char lc_phone[FW_PHONE_MAX];
	char lc_ref[FW_REF_MAX];
	uint8_t lc_wrapped[80];

	TAILQ_ENTRY(fw_client) entry;
};

/* Take over an accepted socket. */
struct fw_client *fw_client_new(struct fw_server *s, int fd, const char *peer);
/* Close and free one client now (only from outside its callbacks: the reaper or shutdown). */
void fw_client_free(struct fw_client *c);
/* Free every client marked dead. */
void fw_server_reap(struct fw_server *s);

/* Iterate the clients: prev NULL gives the first; NULL at the end. */
struct fw_client *fw_client_next(struct fw_server *s, struct fw_client *prev);

/* Encode, encrypt and send a node. 0 or -1. */
int fw_client_send(struct fw_client *c, const struct wa_node *n);
/* Close the WebSocket politely after what is queued. */
void fw_client_close(struct fw_client *c);
/* A fresh id for a stanza the server starts ("<n>.<client>-<k>"), in a static buffer. */
const char *fw_client_stanza_id(struct fw_client *c);
/* Send <notification from=s.whatsapp.net type=... id t> with child (taken over; may be NULL). 0 or -1. */
int fw_client_notify(struct fw_client *c, const char *type, struct wa_node *child);

/* Faults and queries for the control API. */
unsigned fw_client_id(const struct fw_client *c);
/* A JSON object describing c (heap string). */
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
