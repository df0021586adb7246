/* Internal to the worker's WhatsApp session (session.c, pair.c, login.c): the session state they share.
 * Nothing outside those files includes this. */
#ifndef WAGATE_WORKER_SESSION_INT_H
#define WAGATE_WORKER_SESSION_INT_H

#include "creds.h"
#include "wa_adv.h"
#include "wa_linkcode.h"

#include <stddef.h>
#include <stdint.h>

struct event;
struct iq_table;
struct wa_conn;
struct wa_node;
struct worker;

#define SESSION_PAIR_REFS_MAX	16	/* refs kept from one pair-device (WhatsApp sends 6) */
#define SESSION_LOGOUT_MS	5000	/* how long logout waits for remove-companion-device */
#define SESSION_PREKEY_LOW	5	/* server count below this: upload more */
#define SESSION_PREKEY_FIRST	812	/* first upload */
#define SESSION_PREKEY_REFILL	50	/* later uploads */
#define SESSION_PREKEY_CHUNK	25	/* keys generated per loop turn */

/* Deferred actions, run from a fresh loop turn (never inside wa_conn's callbacks). */
enum {
	SESSION_DO_RESTART = 1 << 0,	/* refs exhausted: reconnect now, keep the QR count */
	SESSION_DO_QR_LIMIT = 1 << 1,	/* qrcode_limit reached: stop, report CLOSE/603 */
	SESSION_DO_EXIT = 1 << 2,	/* server-side logout reported: exit with IPC_EXIT_NO_RESTART */
	SESSION_DO_LOGOUT = 1 << 3,	/* our logout finished: report CLOSE/401, exit */
};

struct session_ref {
	uint8_t *ref;
	size_t len;
};

struct session {
	struct worker *w;
	struct wa_conn *conn;
	struct iq_table *iq;
	struct event *ev_defer;		/* runs the SESSION_DO_* bits */
	unsigned todo;

	struct creds *creds;		/* NULL until loaded or generated and stored */
	int creds_bad;			/* Start carried unreadable creds: never connect */
	int storing_fresh;		/* fresh registration material waiting for its StoreAck */
	uint8_t adv_secret[CREDS_KEY_LEN];	/* current one (companion_reg_refresh replaces it in memory) */

	/* QR pairing */
	char *number;			/* pairing code requested for this phone number (NULL = QR only) */
	struct session_ref refs[SESSION_PAIR_REFS_MAX];
	size_t nrefs, ref_idx;		/* ref_idx: the ref shown now */
	int showing;			/* a QR of refs[ref_idx] is shown */
	unsigned qr_count;		/* QRs shown in this connect series */
	struct event *ev_qr;		/* the shown QR expires */

	/* pairing code (per connect series; the hello is re-sent on each connection) */
	char link_code[WA_LINKCODE_LEN + 1];
	uint8_t link_eph_priv[WA_LINKCODE_KEY_LEN], link_eph_pub[WA_LINKCODE_KEY_LEN];
	uint8_t *link_ref;
	size_t link_ref_len;

	/* pair-success waiting for the supervisor's Result */
	int pairing;
	char *pair_iq_id;
	struct wa_adv_result pair_adv;
	struct creds *pair_creds;

	/* logged in */
	int logged_in;			/* <success> arrived on this connection */
	int open;			/* OPEN reported on this connection */
	int logging_out, logout_done;
	int prekey_busy;

	/* one-time prekeys being stored/uploaded */
	struct wa_prekey *upload;
	size_t nupload, nwant;		/* generated so far, wanted */
	struct event *ev_gen;		/* generates them a chunk per loop turn */
	void (*upload_then)(struct session *);

	/* messaging (msg.h) */
	struct msg_exec *exec;		/* the Signal executor, from login on */
	struct msg_recv_state *recv;	/* msg_recv.c's state */
	struct msg_receipt_state *receipt;	/* msg_receipt.c's state (NULL until the first receipt) */
	struct msg_send_state *send;	/* msg_send.c's state (device cache, stanzas waiting for their ack) */
	struct msg_group_state *group;	/* msg_group_cmd.c's state (group iqs, participants, sender keys given) */
	struct msg_call_offer *call_offers;	/* msg_call.c: recent offers (NULL until the first) */
	unsigned call_offer_next;
};

/* session.c */
void session_defer(struct session *s, unsigned what);
void session_send_ack(struct session *s, const struct wa_node *n);
void session_iq_reply_error(struct session *s, const char *id, int code, const char *text);
int session_creds_paired(const struct session *s);

/* pair.c: QR rotation, pairing code, pair-success. */
void pair_on_pair_device(struct session *s, const struct wa_node *iq);
void pair_on_pair_success(struct session *s, const struct wa_node *iq);
void pair_on_refresh(struct session *s, const struct wa_node *n);
void pair_on_link_code(struct session *s, const struct wa_node *n);
void pair_show_qr(struct session *s);
/* The connection closed: QRs stop, pending pairing is dropped. */
void pair_reset_connection(struct session *s);
/* A new connect series: QR count and pairing code start over. */
void pair_reset_series(struct session *s, const char *number);
void pair_free(struct session *s);

/* login.c: <success>, prekeys, passive, OPEN, presence, notifications. */
void login_on_success(struct session *s, const struct wa_node *n);
void login_on_encrypt_notification(struct session *s, const struct wa_node *n);
void login_refill_prekeys(struct session *s, unsigned count, void (*then)(struct session *));
int login_payload(const struct creds *c, uint8_t **out, size_t *outlen);
int login_send_presence(struct session *s, const char *type);
/* Send our typing state in the chat to (a user or group JID without device): composing, recording (composing
 * media=audio) or paused, as a <chatstate/>. 0, -1 while not logged in, -2 for a bad to or state. */
int login_send_chatstate(struct session *s, const char *to, const char *state);
void login_reset_connection(struct session *s);
void login_free(struct session *s);

#endif
