/* What msg_recv.c shares with the other receiving files (msg_receipt.c, msg_identity.c). Internal to the
 * worker's messaging. */
#ifndef WAGATE_MSG_RECV_INT_H
#define WAGATE_MSG_RECV_INT_H

#include <stddef.h>
#include <stdint.h>

#include "wa_jid.h"

#define MSG_RECV_ID_MAX			128	/* message ids longer than this are refused */
#define MSG_RECV_RECEIPT_IDS_MAX	256	/* ids of one receipt's <list> */
#define MSG_RECV_JID_MAX		WA_JID_USER_MAX

struct session;

/* The connection generation (a reset makes answers prepared on the old connection moot). */
uint64_t msg_recv_gen(struct session *s);
/* Whether WhatsApp can be told something now: the connection of generation gen is still the open one. */
int msg_recv_can_send(struct session *s, uint64_t gen);
/* The user JID (no device) of jid into buf, and the parsed jid into out (NULL ok); -1 if it is none. */
int msg_recv_user_jid(const char *jid, char *buf, size_t len, struct wa_jid *out);
/* Whether jid is one of our own devices (phone number or LID). */
int msg_recv_is_own(const struct session *s, const char *jid);
/* A decimal attribute (t): its value, or dflt when absent, negative or malformed. */
int64_t msg_recv_num(const char *v, int64_t dflt);
struct msg_batch;
struct msg_content;
struct wa_fetch;
struct event;

/* msg_recv_history.c: the history chunk of one received peer message from our own phone. */
struct msg_recv_history {
	struct session *s;
	struct wa_fetch *fetch;			/* the media blob's download, while in flight */
	struct event *retry;			/* the next attempt's wait, after one that may go better */
	int tries;				/* attempts started */
	uint64_t first_ms;			/* when the first started (CLOCK_MONOTONIC ms) */
	int fetched;				/* the download is over: blob, or err says why */
	uint8_t *blob;
	size_t blob_len;
	char err[160];
};
/* c's chunk as a media blob: start its download (from WA_MEDIA_URL, through the instance's proxy) and answer
 * MSG_STEP_WAIT until it is over (msg_exec_resume). A failure that may pass (no answer, 408, 429, 5xx) is tried
 * again after 1 s, then 2 s, up to 3 attempts within the download's 60 s. WA_SIGNAL_DONE when it is over,
 * inline, or cannot start (err says why: the stanza is then acked without rows, like an unreadable chunk). */
int msg_recv_history_fetch(struct session *s, struct msg_recv_history *rh, const struct msg_content *c,
    const char *id);
/* c's chunk (inline, or the downloaded blob checked and decrypted) as rows into b; logged, nothing added, when
 * it cannot be had or read. */
void msg_recv_history_rows(struct session *s, const struct msg_recv_history *rh, const struct msg_content *c,
    const char *id, struct msg_batch *b);
/* Cancel the download and free what rh holds (zeroed, reusable). */
void msg_recv_history_clear(struct msg_recv_history *rh);

/* msg_receipt.c: forget its state (msg_recv_free calls it). */
void msg_receipt_free(struct session *s);

#endif
