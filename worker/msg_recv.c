/* Receiving (reference/wa-session.md section 5): each <message> becomes an executor job that decrypts its
 * <enc> children in document order, stores the content and the LID mappings it reveals, and only after the
 * COMMIT sends the delivery receipt and the ack (or a retry receipt when it could not decrypt). Receipts for
 * our own messages are msg_receipt.c's. Several stanzas of one loop turn share a
 * batch (msg_exec.c), so nothing here forces one MessageStore per stanza.
 *
 * What is stored: one row per stanza, for the last <enc> whose plaintext carries content (msg_content.h);
 * protocol-only plaintexts (a sender key distribution alone, history-sync and app-state key messages) are
 * decrypted (their ratchet and sender keys are stored) but make no row. A history sync notification from our
 * own phone with its chunk inline is the exception: the chunk's messages, chats and contacts go into the
 * stanza's batch (a batch of its own: peer messages are solo jobs), and after the COMMIT a hist_sync receipt
 * follows the usual ones, as whatsmeow sends it. */
#include "msg.h"
#include "msg_content.h"
#include "msg_identity.h"
#include "msg_recv_int.h"
#include "msg_wire.h"
#include "session_int.h"
#include "log.h"
#include "wa_conn.h"
#include "wa_jid.h"
#include "wa_node.h"
#include "wa_prekey.h"
#include "worker.h"
#include "xmalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#define RECV_ENC_MAX		8	/* <enc> children of one stanza we look at */
#define RECV_RETRY_IDS		256	/* messages whose retry count we remember */
#define RECV_RETRY_MAX		4	/* retry receipts per message (whatsmeow stops after 4) */

struct recv_retry {
	char id[MSG_RECV_ID_MAX + 1];
	unsigned count;
};

/* A retry receipt with <keys>, waiting for the StoreAck of the fresh prekey it hands out (the durability rule:
 * a key is used only after its COMMIT). */
struct recv_keyed {
	TAILQ_ENTRY(recv_keyed) entry;
	struct session *s;
	uint64_t gen;
	struct wa_node *receipt;
	struct wa_prekey pk;
};

struct msg_recv_state {
	uint64_t gen;				/* connection generation: a reset drops what waits to be sent */
	struct recv_retry *retry;		/* a ring of RECV_RETRY_IDS (~34 KB): allocated at the first
						 * retry receipt, since most workers never send one */
	size_t retry_next;
	TAILQ_HEAD(, recv_keyed) keyed;		/* retry receipts whose prekey is being stored */
};

enum recv_enc_type { RECV_PKMSG, RECV_MSG, RECV_SKMSG };

struct recv_enc {
	enum recv_enc_type type;
	const uint8_t *ct;			/* in the job's node */
	size_t len;
};

/* One received <message>. Strings point into node (a copy of the stanza) or are the job's own buffers. */
struct recv_job {
	uint64_t gen;
	struct wa_node *node;
	const char *id, *from, *participant_attr, *notify;
	int64_t t;
	int group;				/* from a group or broadcast: skmsg possible, participant set */
	int broadcast;				/* from a broadcast (status@broadcast, a list) */
	int from_me;
	int peer;				/* category="peer": a solo job (msg.h), the only kind that takes history */
	char sender[WA_SIGNAL_ADDRESS_MAX + 1];	/* the sending device's Signal address */
	char chat[MSG_RECV_JID_MAX], chat_alt[MSG_RECV_JID_MAX];
	char participant[MSG_RECV_JID_MAX], participant_alt[MSG_RECV_JID_MAX];
	char lid[MSG_RECV_JID_MAX], pn[MSG_RECV_JID_MAX];	/* a mapping the stanza reveals */
	struct recv_enc enc[RECV_ENC_MAX];
	size_t nenc;
	/* progress, valid for batch bid only (msg.h: restart on another batch) */
	uint64_t bid;
	size_t next;
	int stage;				/* 0: decrypt enc[next]; 1: its SKDM */
	struct msg_content cur;
	/* results */
	struct msg_content content;		/* what is stored (message NULL: nothing) */
	struct msg_content history;		/* a history sync notification (history set), else empty */
	struct msg_recv_history hist;		/* its chunk's download (msg_recv_history.c) */
	int ok, dup, fail;
	enum wa_signal_error err;
};

/* --- helpers --- */

static struct msg_recv_state *
recv_state(struct session *s)
{
	if (s->recv == NULL) {
		s->recv = xcalloc(1, sizeof(*s->recv));
		TAILQ_INIT(&s->recv->keyed);
	}
	return s->recv;
}

int
msg_recv_can_send(struct session *s, uint64_t gen)
{
	return s->conn != NULL && s->recv != NULL && s->recv->gen == gen && wa_conn_state(s->conn) == WA_CONN_OPEN;
}

int
msg_recv_user_jid(const char *jid, char *buf, size_t len, struct wa_jid *out)
{
	struct wa_jid j, u;

	if (jid == NULL || wa_jid_parse(jid, &j) == -1)
		return -1;
	wa_jid_to_non_ad(&j, &u);
	if (out != NULL)
		*out = j;
	return wa_jid_format(&u, buf, len) < 0 ? -1 : 0;
}

int
msg_recv_is_own(const struct session *s, const char *jid)
{
	char a[MSG_RECV_JID_MAX], b[MSG_RECV_JID_MAX];

	if (msg_recv_user_jid(jid, a, sizeof(a), NULL) == -1)
		return 0;
	if (s->creds->jid != NULL && msg_recv_user_jid(s->creds->jid, b, sizeof(b), NULL) == 0 && strcmp(a, b) == 0)
		return 1;
	return s->creds->lid != NULL && msg_recv_user_jid(s->creds->lid, b, sizeof(b), NULL) == 0 && strcmp(a, b) == 0;
}

int64_t
msg_recv_num(const char *v, int64_t dflt)
{
	char *end;
	long long x;

	if (v == NULL || *v == '\0')
		return dflt;
	errno = 0;
	x = strtoll(v, &end, 10);
	return errno == 0 && *end == '\0' && x >= 0 ? (int64_t)x : dflt;
}

/* Put a PN/LID pair into (main, alt) with the phone number first when known, and remember the mapping. */
static void
recv_pair(struct recv_job *j, const char *jid, const char *other, char *main, char *alt)
{
	char a[MSG_RECV_JID_MAX], b[MSG_RECV_JID_MAX];
	struct wa_jid ja, jb;

	if (msg_recv_user_jid(jid, a, MSG_RECV_JID_MAX, &ja) == -1)
		return;
	snprintf(main, MSG_RECV_JID_MAX, "%s", a);
	if (other == NULL || msg_recv_user_jid(other, b, sizeof(b), &jb) == -1 || !wa_jid_is_user(&jb) ||
	    !wa_jid_is_user(&ja) || wa_jid_is_lid(&ja) == wa_jid_is_lid(&jb))
		return;
	if (wa_jid_is_lid(&ja)) {
		snprintf(main, MSG_RECV_JID_MAX, "%s", b);
		snprintf(alt, MSG_RECV_JID_MAX, "%s", a);
	} else
		snprintf(alt, MSG_RECV_JID_MAX, "%s", b);
	snprintf(j->lid, sizeof(j->lid), "%s", wa_jid_is_lid(&ja) ? a : b);
	snprintf(j->pn, sizeof(j->pn), "%s", wa_jid_is_lid(&ja) ? b : a);
}

static void
recv_job_free(struct recv_job *j)
{
	if (j == NULL)
		return;
	msg_content_clear(&j->cur);
	msg_content_clear(&j->content);
	msg_content_clear(&j->history);
	msg_recv_history_clear(&j->hist);
	wa_node_free(j->node);
	free(j);
}

/*
 * Whether the instance's settings have the stanza left alone, as Evolution has Baileys ignore it
 * (shouldIgnoreJid): a group's with groupsIgnore, a broadcast's (statuses) without readStatus. It is acked and
 * nothing else: not decrypted, no receipt, nothing stored.
 */
static int
recv_ignored(struct session *s, const struct recv_job *j)
{
	const struct settings *st = worker_settings(s->w);

	if (j->broadcast)
		return !st->read_status;
	return j->group && st->groups_ignore;
}

/* --- what goes back to WhatsApp --- */

/* <ack class="message" id to [participant] [error]/>: the stanza is done with (whatsmeow acks every message;
 * the type is not copied for messages). */
static void
recv_send_ack(struct session *s, const struct wa_node *n, const char *error)
{
	struct wa_node *ack = wa_node_new("ack");
	const char *p = wa_node_attr(n, "participant"), *r = wa_node_attr(n, "recipient");

	if (s->conn == NULL) {
		wa_node_free(ack);
		return;
	}
	wa_node_set_attr(ack, "class", "message");
	wa_node_set_attr(ack, "id", wa_node_attr(n, "id"));
	wa_node_set_attr(ack, "to", wa_node_attr(n, "from"));
	if (p != NULL)
		wa_node_set_attr(ack, "participant", p);
	if (r != NULL)
		wa_node_set_attr(ack, "recipient", r);
	if (error != NULL)
		wa_node_set_attr(ack, "error", error);
	wa_conn_send_node(s->conn, ack);
	wa_node_free(ack);
}

/* The delivery receipt (5.3): type omitted = delivered; "sender" for a copy from our own device, with the
 * chat as recipient; "peer_msg" for peer protocol messages. */
static void
recv_send_delivery(struct session *s, const struct recv_job *j)
{
	struct wa_node *r = wa_node_new("receipt");
	const char *category = wa_node_attr(j->node, "category"), *recipient = wa_node_attr(j->node, "recipient");

	wa_node_set_attr(r, "id", j->id);
	wa_node_set_attr(r, "to", j->from);
	if (j->participant_attr != NULL)
		wa_node_set_attr(r, "participant", j->participant_attr);
	if (category != NULL && strcmp(category, "peer") == 0)
		wa_node_set_attr(r, "type", "peer_msg");
	else if (j->from_me && !j->group) {
		wa_node_set_attr(r, "type", "sender");
		if (recipient != NULL)
			wa_node_set_attr(r, "recipient", recipient);
	} else if (j->from_me)
		wa_node_set_attr(r, "type", "sender");
	wa_conn_send_node(s->conn, r);
	wa_node_free(r);
}

/*
 * The instance's readMessages / readStatus settings, after the delivery receipt of a stored message: the read
 * receipt, as Evolution has Baileys mark every stored message read. Not for our own messages (from another
 * device of ours: nobody to tell), and statuses only with readStatus (they are not even stored without it).
 */
static void
recv_send_read(struct session *s, const struct recv_job *j)
{
	const struct settings *st = worker_settings(s->w);
	const char *ids[1] = { j->id };
	struct wa_node *r;

	if (j->from_me || j->content.message == NULL ||
	    !(j->broadcast ? st->read_status : st->read_messages))
		return;
	r = msg_stanza_read(j->from, j->participant_attr, ids, 1, (int64_t)time(NULL));
	wa_conn_send_node(s->conn, r);
	wa_node_free(r);
}

/* <receipt id type="hist_sync" to=our own user JID/>: the chunk is stored (whatsmeow's protocol message receipt). */
static void
recv_send_hist_sync(struct session *s, const struct recv_job *j)
{
	char own[MSG_RECV_JID_MAX];
	struct wa_node *r;

	if (msg_recv_user_jid(s->creds->jid, own, sizeof(own), NULL) == -1)
		return;
	r = wa_node_new("receipt");
	wa_node_set_attr(r, "id", j->id);
	wa_node_set_attr(r, "type", "hist_sync");
	wa_node_set_attr(r, "to", own);
	wa_conn_send_node(s->conn, r);
	wa_node_free(r);
}

/* How many retry receipts this message has had, counting this one (bounded memory: a ring of ids). */
static unsigned
recv_retry_count(struct msg_recv_state *st, const char *id)
{
	size_t i;

	if (st->retry == NULL)
		st->retry = xcalloc(RECV_RETRY_IDS, sizeof(*st->retry));
	for (i = 0; i < RECV_RETRY_IDS; i++)
		if (strcmp(st->retry[i].id, id) == 0)
			return ++st->retry[i].count;
	i = st->retry_next;
	st->retry_next = (st->retry_next + 1) % RECV_RETRY_IDS;
	snprintf(st->retry[i].id, sizeof(st->retry[i].id), "%s", id);
	st->retry[i].count = 1;
	return 1;
}

/* A 3-byte big-endian key id child. */
static void
recv_key_id(struct wa_node *parent, uint32_t id)
{
	uint8_t b[3] = { (uint8_t)(id >> 16), (uint8_t)(id >> 8), (uint8_t)id };

	wa_node_set_bytes(wa_node_add_child(parent, wa_node_new("id")), b, sizeof(b));
}

/* <keys>: our identity, the fresh one-time prekey, the signed prekey and our device identity (5.4). */
static void
recv_add_keys(const struct session *s, struct wa_node *r, const struct wa_prekey *pk)
{
	struct wa_node *keys = wa_node_add_child(r, wa_node_new("keys")), *k;
	const struct creds *c = s->creds;
	uint8_t type = 0x05;

	wa_node_set_bytes(wa_node_add_child(keys, wa_node_new("type")), &type, 1);
	wa_node_set_bytes(wa_node_add_child(keys, wa_node_new("identity")), c->identity_pub, CREDS_KEY_LEN);
	k = wa_node_add_child(keys, wa_node_new("key"));
	recv_key_id(k, pk->id);
	wa_node_set_bytes(wa_node_add_child(k, wa_node_new("value")), pk->pub, WA_PREKEY_KEY_LEN);
	k = wa_node_add_child(keys, wa_node_new("skey"));
	recv_key_id(k, c->signed_prekey.id);
	wa_node_set_bytes(wa_node_add_child(k, wa_node_new("value")), c->signed_prekey.pub, WA_PREKEY_KEY_LEN);
	wa_node_set_bytes(wa_node_add_child(k, wa_node_new("signature")), c->signed_prekey.sig, WA_PREKEY_SIG_LEN);
	if (c->account != NULL)
		wa_node_set_bytes(wa_node_add_child(keys, wa_node_new("device-identity")), c->account, c->account_len);
}

static void
recv_keyed_free(struct recv_keyed *k)
{
	wa_node_free(k->receipt);
	explicit_wipe(&k->pk, sizeof(k->pk));
	free(k);
}

/* The fresh prekey is stored (or not): send the retry receipt, with <keys> only if it is. */
static void
recv_keyed_stored_cb(void *arg, int ok, const char *error)
{
	struct recv_keyed *k = arg;
	struct session *s = k->s;

	TAILQ_REMOVE(&s->recv->keyed, k, entry);
	if (!ok)
		log_warnx("%s: prekey %u for a retry receipt not stored: %s", worker_instance_name(s->w), k->pk.id,
		    error);
	else
		recv_add_keys(s, k->receipt, &k->pk);
	if (msg_recv_can_send(s, k->gen))
		wa_conn_send_node(s->conn, k->receipt);
	recv_keyed_free(k);
}

/* Store a fresh one-time prekey (and the advanced next id in the creds), then send r with it. 0, or -1 when
 * that cannot be done now (the caller sends r as it is). */
static int
recv_retry_with_keys(struct session *s, uint64_t gen, struct wa_node *r)
{
	struct recv_keyed *k;
	struct worker_prekey wp;
	uint8_t *blob = NULL, *rec = NULL;
	size_t len = 0, reclen = 0;
	int rc = -1;

	/* A prekey refill hands out ids from the same counter right now: leave the keys out this time. */
	if (s->prekey_busy || s->creds->next_prekey_id == 0 || s->creds->next_prekey_id > WA_PREKEY_ID_MAX)
		return -1;
	k = xcalloc(1, sizeof(*k));
	if (wa_prekey_generate(s->creds->next_prekey_id, &k->pk) == -1 || wa_prekey_encode(&k->pk, &rec,
	    &reclen) == -1) {
		recv_keyed_free(k);
		return -1;
	}
	s->creds->next_prekey_id++;
	if (creds_encode(s->creds, &blob, &len) == 0) {
		wp.id = k->pk.id;
		wp.record = rec;
		wp.len = reclen;
		rc = worker_request_store(s->w, blob, len, &wp, 1, 0, recv_keyed_stored_cb, k);
	}
	free_wiped(blob, len);
	free_wiped(rec, reclen);
	if (rc == -1) {
		s->creds->next_prekey_id--;
		recv_keyed_free(k);
		return -1;
	}
	k->s = s;
	k->gen = gen;
	k->receipt = r;
	TAILQ_INSERT_TAIL(&s->recv->keyed, k, entry);
	return 0;
}

/* The retry receipt (5.4): ask the sender to encrypt the message again. From the second one on it carries
 * <keys> with a fresh one-time prekey (as whatsmeow), sent once that prekey is stored. */
static void
recv_send_retry(struct session *s, const struct recv_job *j, unsigned count)
{
	struct wa_node *r = wa_node_new("receipt"), *rt, *reg;
	const char *recipient = wa_node_attr(j->node, "recipient"), *category = wa_node_attr(j->node, "category");
	uint32_t id = s->creds->registration_id;
	uint8_t be[4] = { (uint8_t)(id >> 24), (uint8_t)(id >> 16), (uint8_t)(id >> 8), (uint8_t)id };

	wa_node_set_attr(r, "id", j->id);
	wa_node_set_attr(r, "to", j->from);
	if (j->participant_attr != NULL)
		wa_node_set_attr(r, "participant", j->participant_attr);
	if (recipient != NULL)
		wa_node_set_attr(r, "recipient", recipient);
	wa_node_set_attr(r, "type", "retry");
	if (category != NULL && strcmp(category, "peer") == 0)
		wa_node_set_attr(r, "category", "peer");
	rt = wa_node_add_child(r, wa_node_new("retry"));
	wa_node_set_attrf(rt, "count", "%u", count);
	wa_node_set_attr(rt, "id", j->id);
	wa_node_set_attrf(rt, "t", "%lld", (long long)j->t);
	wa_node_set_attr(rt, "v", "1");
	reg = wa_node_add_child(r, wa_node_new("registration"));
	wa_node_set_bytes(reg, be, sizeof(be));
	if (count >= 2 && recv_retry_with_keys(s, j->gen, r) == 0)
		return;		/* r is sent (and freed) once the prekey is stored */
	wa_conn_send_node(s->conn, r);
	wa_node_free(r);
}

/* --- the job --- */

/* Forget the progress and results of an earlier batch run (its Signal results were cleared). */
static void
recv_job_restart(struct recv_job *j, uint64_t bid)
{
	j->bid = bid;
	j->next = 0;
	j->stage = 0;
	msg_content_clear(&j->cur);
	msg_content_clear(&j->content);
	msg_content_clear(&j->history);
	msg_recv_history_clear(&j->hist);
	j->ok = j->dup = j->fail = 0;
	j->err = WA_SIGNAL_E_NONE;
}

/* An <enc> failed: a duplicate is ignored, anything else asks for a retry (unless content came anyway). */
static void
recv_enc_failed(struct session *s, struct recv_job *j, enum wa_signal_error e, const char *why)
{
	if (e == WA_SIGNAL_E_DUPLICATE) {
		j->dup = 1;
		log_debug("%s: message %s from %s: duplicate", worker_instance_name(s->w), j->id, j->from);
		return;
	}
	j->fail = 1;
	j->err = e;
	log_info("%s: message %s from %s: %s", worker_instance_name(s->w), j->id, j->from, why);
}

/* Decrypt enc[next] into j->cur. DONE (j->stage 1 on success), NEED, or DONE with the failure recorded. */
static int
recv_decrypt(struct session *s, struct recv_job *j, struct wa_signal *sig)
{
	const struct recv_enc *e = &j->enc[j->next];
	uint8_t *pt = NULL;
	size_t ptlen = 0, unpadded;
	char err[256];
	int rc;

	if (e->type == RECV_SKMSG)
		rc = wa_signal_group_decrypt(sig, j->chat, j->sender, e->ct, e->len, &pt, &ptlen, err, sizeof(err));
	else
		rc = wa_signal_decrypt(sig, j->sender, e->type == RECV_PKMSG ? WA_SIGNAL_PKMSG : WA_SIGNAL_MSG, e->ct,
		    e->len, &pt, &ptlen, err, sizeof(err));
	if (rc == WA_SIGNAL_NEED)
		return rc;
	if (rc != WA_SIGNAL_DONE) {
		recv_enc_failed(s, j, wa_signal_error(sig), err);
		j->next++;
		return WA_SIGNAL_DONE;
	}
	if (wa_signal_unpad(pt, ptlen, &unpadded) == -1)
		recv_enc_failed(s, j, WA_SIGNAL_E_INVALID, "bad padding");
	else if (msg_content_parse(pt, unpadded, &j->cur, err, sizeof(err)) == -1)
		recv_enc_failed(s, j, WA_SIGNAL_E_INVALID, err);
	else
		j->stage = 1;
	explicit_wipe(pt, ptlen);
	free(pt);
	if (j->stage == 0)
		j->next++;
	return WA_SIGNAL_DONE;
}

/* A decrypted plaintext: process its sender key distribution (groups only, as whatsmeow), keep its content. */
static int
recv_use(struct session *s, struct recv_job *j, struct wa_signal *sig)
{
	char err[256];
	int rc;

	if (j->cur.skdm != NULL && j->group && (*j->cur.skdm_group == '\0' || strcmp(j->cur.skdm_group,
	    j->chat) == 0)) {
		rc = wa_signal_group_process(sig, j->chat, j->sender, j->cur.skdm, j->cur.skdm_len, err, sizeof(err));
		if (rc == WA_SIGNAL_NEED)
			return rc;
		if (rc != WA_SIGNAL_DONE)
			log_info("%s: message %s: sender key of %s refused: %s", worker_instance_name(s->w), j->id,
			    j->sender, err);
	}
	j->ok = 1;
	if (j->cur.history && j->cur.message == NULL) {
		msg_content_clear(&j->history);
		j->history = j->cur;
		memset(&j->cur, 0, sizeof(j->cur));
	} else if (j->cur.message != NULL) {
		msg_content_clear(&j->content);
		j->content = j->cur;
		memset(&j->cur, 0, sizeof(j->cur));
	} else
		msg_content_clear(&j->cur);
	j->stage = 0;
	j->next++;
	return WA_SIGNAL_DONE;
}

/* The rows of a decrypted stanza. */
static void
recv_rows(struct session *s, struct recv_job *j, struct msg_batch *b)
{
	Wagate__Ipc__StoredMessage m = WAGATE__IPC__STORED_MESSAGE__INIT;
	char chat[MSG_RECV_JID_MAX], chat_alt[MSG_RECV_JID_MAX];

	if (j->lid[0] != '\0')
		msg_batch_add_lid(b, j->lid, j->pn);
	/* Only a peer message runs alone in its batch: a chunk anywhere else could overflow the store's caps. */
	if (j->history.history && (!j->from_me || !j->peer))
		log_info("%s: message %s: a history sync from %s, not our own phone's peer message: ignored",
		    worker_instance_name(s->w), j->id, j->from);
	else if (j->history.history)
		msg_recv_history_rows(s, &j->hist, &j->history, j->id, b);
	if (j->content.message == NULL)
		return;
	snprintf(chat, sizeof(chat), "%s", j->chat);
	snprintf(chat_alt, sizeof(chat_alt), "%s", j->chat_alt);
	/* Our phone's copy of what it sent names the chat inside (when the stanza did not). */
	if (j->from_me && !j->group && j->content.dsm_dest != NULL && wa_node_attr(j->node, "recipient") == NULL &&
	    msg_recv_user_jid(j->content.dsm_dest, chat, sizeof(chat), NULL) == 0)
		chat_alt[0] = '\0';
	m.id = (char *)j->id;
	m.remote_jid = chat;
	m.remote_jid_alt = chat_alt;
	m.from_me = j->from_me;
	m.participant = j->participant;
	m.participant_alt = j->participant_alt;
	m.push_name = (char *)(j->notify != NULL && !j->from_me ? j->notify : "");
	m.timestamp = j->t;
	m.status = j->from_me ? WAGATE__IPC__MSG_STATUS__MSG_STATUS_SERVER_ACK :
	    WAGATE__IPC__MSG_STATUS__MSG_STATUS_NONE;
	m.message.data = j->content.message;
	m.message.len = j->content.len;
	m.source = (char *)msg_content_source(j->id);
	msg_batch_add_message(b, &m);
	(void)s;
}

static int
recv_step(struct session *s, void *arg, struct wa_signal *sig, struct msg_batch *b)
{
	struct recv_job *j = arg;
	int rc;

	if (j->bid != msg_batch_id(b))
		recv_job_restart(j, msg_batch_id(b));
	while (j->next < j->nenc) {
		rc = j->stage == 0 ? recv_decrypt(s, j, sig) : recv_use(s, j, sig);
		if (rc != WA_SIGNAL_DONE)
			return rc;
	}
	if (j->history.history && j->from_me && j->peer &&
	    msg_recv_history_fetch(s, &j->hist, &j->history, j->id) == MSG_STEP_WAIT)
		return MSG_STEP_WAIT;
	recv_rows(s, j, b);
	return WA_SIGNAL_DONE;
}

/* After the COMMIT: the receipt and the ack (or the retry receipt); nothing if the commit failed (WhatsApp
 * delivers the stanza again) or the connection it came on is gone. */
static void
recv_committed(struct session *s, void *arg, int ok, const char *error, int stopping)
{
	struct recv_job *j = arg;
	unsigned count;

	if (stopping) {
		recv_job_free(j);
		return;
	}
	if (!ok)
		log_warnx("%s: message %s from %s not stored: %s", worker_instance_name(s->w), j->id, j->from, error);
	else if (!msg_recv_can_send(s, j->gen))
		log_debug("%s: message %s: connection gone, WhatsApp sends it again", worker_instance_name(s->w),
		    j->id);
	else if (j->fail && j->content.message == NULL) {
		count = recv_retry_count(s->recv, j->id);
		if (count <= RECV_RETRY_MAX)
			recv_send_retry(s, j, count);
		else
			log_warnx("%s: message %s from %s: giving up after %u retries", worker_instance_name(s->w),
			    j->id, j->from, RECV_RETRY_MAX);
		recv_send_ack(s, j->node, NULL);
	} else {
		if (j->content.message != NULL)
			log_debug("%s: message %s from %s stored", worker_instance_name(s->w), j->id, j->from);
		recv_send_delivery(s, j);
		recv_send_ack(s, j->node, NULL);
		recv_send_read(s, j);
		if (j->history.history && j->from_me && j->peer)
			recv_send_hist_sync(s, j);
	}
	recv_job_free(j);
}

static const struct msg_job_ops recv_ops = { recv_step, recv_committed, 0, 1 };
/* Peer messages (history sync chunks among them) run alone in their batch (msg.h). */
static const struct msg_job_ops recv_peer_ops = { recv_step, recv_committed, 1, 1 };

/* Read a <message> into a job: who sent it, which chat, the <enc> children. NULL, or the reason it is
 * unusable (then nothing is decrypted). */
static const char *
recv_parse(struct session *s, struct recv_job *j)
{
	const struct wa_node *n = j->node;
	const char *from, *part, *sender_jid;
	struct wa_jid jf;
	size_t i;

	j->id = wa_node_attr(n, "id");
	j->from = from = wa_node_attr(n, "from");
	j->participant_attr = part = wa_node_attr(n, "participant");
	j->notify = wa_node_attr(n, "notify");
	j->t = msg_recv_num(wa_node_attr(n, "t"), (int64_t)time(NULL));
	if (j->id == NULL || *j->id == '\0' || strlen(j->id) > MSG_RECV_ID_MAX)
		return "bad id";
	if (from == NULL || wa_jid_parse(from, &jf) == -1)
		return "bad from";
	if (j->notify != NULL && strlen(j->notify) > 256)
		j->notify = NULL;
	j->broadcast = wa_jid_is_broadcast(&jf);
	j->group = wa_jid_is_group(&jf) || j->broadcast;
	if (j->group) {
		if (part == NULL || msg_recv_user_jid(part, j->participant, sizeof(j->participant), NULL) == -1)
			return "group message without a participant";
		if (wa_jid_format(&jf, j->chat, sizeof(j->chat)) < 0)
			return "bad from";
		sender_jid = part;
		recv_pair(j, part, wa_node_attr(n, wa_node_attr(n, "participant_pn") != NULL ? "participant_pn" :
		    "participant_lid"), j->participant, j->participant_alt);
		j->from_me = msg_recv_is_own(s, part);
	} else if (wa_jid_is_user(&jf)) {
		sender_jid = from;
		j->from_me = msg_recv_is_own(s, from);
		if (j->from_me) {
			const char *rcpt = wa_node_attr(n, "recipient");
			const char *alt = wa_node_attr(n, "peer_recipient_pn") != NULL ?
			    wa_node_attr(n, "peer_recipient_pn") : wa_node_attr(n, "peer_recipient_lid") != NULL ?
			    wa_node_attr(n, "peer_recipient_lid") : wa_node_attr(n, "recipient_pn");

			/* No recipient: a note to self, or a DSM naming the chat inside (recv_rows). */
			recv_pair(j, rcpt != NULL ? rcpt : from, rcpt != NULL ? alt : NULL, j->chat, j->chat_alt);
		} else
			recv_pair(j, from, wa_node_attr(n, wa_node_attr(n, "sender_pn") != NULL ? "sender_pn" :
			    "sender_lid"), j->chat, j->chat_alt);
	} else
		return "from is neither a user nor a group";
	if (j->chat[0] == '\0')
		return "bad chat";
	if (msg_signal_address(sender_jid, j->sender, sizeof(j->sender)) == -1)
		return "bad sender address";
	for (i = 0; n->ctype == WA_CONTENT_NODES && i < n->nchildren; i++) {
		const struct wa_node *e = n->children[i];
		const char *type = wa_node_attr(e, "type"), *v = wa_node_attr(e, "v");

		if (strcmp(e->tag, "enc") != 0 || type == NULL || e->ctype != WA_CONTENT_BYTES)
			continue;
		if (v != NULL && strcmp(v, "2") != 0)
			continue;	/* v="3" is another payload format (out of scope) */
		if (j->nenc == RECV_ENC_MAX)
			return "too many <enc>";
		if (strcmp(type, "pkmsg") == 0)
			j->enc[j->nenc].type = RECV_PKMSG;
		else if (strcmp(type, "msg") == 0)
			j->enc[j->nenc].type = RECV_MSG;
		else if (strcmp(type, "skmsg") == 0 && j->group)
			j->enc[j->nenc].type = RECV_SKMSG;
		else
			continue;	/* msmsg (bot secrets) and the unknown */
		j->enc[j->nenc].ct = e->bytes;
		j->enc[j->nenc].len = e->nbytes;
		j->nenc++;
	}
	return NULL;
}

void
msg_recv_message(struct session *s, const struct wa_node *n)
{
	struct recv_job *j;
	const char *why, *category;

	if (s->exec == NULL || s->creds == NULL) {
		/* Not logged in (or no Signal layer): not acked, so WhatsApp delivers it again. */
		log_warnx("%s: <message> before the Signal layer is up, ignored", worker_instance_name(s->w));
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->gen = recv_state(s)->gen;
	j->node = wa_node_clone(n);
	if ((why = recv_parse(s, j)) != NULL) {
		log_info("%s: message %s refused: %s", worker_instance_name(s->w),
		    j->id != NULL && strlen(j->id) <= MSG_RECV_ID_MAX ? j->id : "-", why);
		if (j->id != NULL && strlen(j->id) <= MSG_RECV_ID_MAX && wa_node_attr(n, "from") != NULL)
			recv_send_ack(s, n, "487");
		recv_job_free(j);
		return;
	}
	if (recv_ignored(s, j)) {
		log_debug("%s: message %s in %s ignored (settings)", worker_instance_name(s->w), j->id, j->chat);
		recv_send_ack(s, n, NULL);
		recv_job_free(j);
		return;
	}
	if (j->nenc == 0) {
		/* <unavailable/>, a newsletter's plaintext, or only kinds we do not read: nothing to store. */
		log_debug("%s: message %s from %s has nothing to decrypt", worker_instance_name(s->w), j->id, j->from);
		recv_send_ack(s, n, NULL);
		recv_job_free(j);
		return;
	}
	category = wa_node_attr(n, "category");
	j->peer = category != NULL && strcmp(category, "peer") == 0;
	if (msg_exec_submit(s, j->peer ? &recv_peer_ops : &recv_ops, j) == -1) {
		recv_job_free(j);
		log_warnx("%s: message %s dropped: no executor", worker_instance_name(s->w), wa_node_attr(n, "id"));
	}
}

uint64_t
msg_recv_gen(struct session *s)
{
	return recv_state(s)->gen;
}

void
msg_recv_reset_connection(struct session *s)
{
	recv_state(s)->gen++;
}

void
msg_recv_free(struct session *s)
{
	struct recv_keyed *k;

	msg_receipt_free(s);
	if (s->recv == NULL)
		return;
	/* Their StoreBatch never answers now (worker.h: nothing is called back once the session stops). */
	while ((k = TAILQ_FIRST(&s->recv->keyed)) != NULL) {
		TAILQ_REMOVE(&s->recv->keyed, k, entry);
		recv_keyed_free(k);
	}
	free(s->recv->retry);
	free(s->recv);
	s->recv = NULL;
}
