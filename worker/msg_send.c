/* Sending a 1:1 message (reference/wa-session.md section 4): device lists by usync (cached per user, dropped on
 * a devices notification), prekey bundles for devices without a session, one executor job that builds the
 * sessions, encrypts for every device and stores the row PENDING with the ratchet changes, then (only after
 * that COMMIT, the durability rule) the <message> stanza, and SendResult when the server acks it.
 *
 * An op's executor job first probes which devices lack a session (read-only); if some do, the job ends
 * without changes, the bundles are fetched, and the job runs again with them. The common case (sessions
 * exist) is one job.
 *
 * A SendMessage to a group goes through msg_send_group.c for its participants and devices, then the same job
 * (with the group parts in send_step) and the same stanza, ack and retry handling. */
#include "msg.h"
#include "msg_group.h"
#include "msg_send_int.h"
#include "session.h"
#include "session_int.h"

#include "iq.h"
#include "log.h"
#include "wa_conn.h"
#include "wa_jid.h"
#include "wa_node.h"
#include "worker.h"
#include "xmalloc.h"

#include <event2/event.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct msg_job_ops send_job_ops;

struct msg_send_state *
send_state(struct session *s)
{
	if (s->send == NULL) {
		s->send = xcalloc(1, sizeof(*s->send));
		TAILQ_INIT(&s->send->ops);
		TAILQ_INIT(&s->send->reads);
		TAILQ_INIT(&s->send->sent);
		TAILQ_INIT(&s->send->cache);
		TAILQ_INIT(&s->send->checks);
	}
	return s->send;
}

int
send_is_open(const struct session *s)
{
	return s != NULL && s->open && s->conn != NULL && s->exec != NULL && s->creds != NULL &&
	    s->creds->jid != NULL && wa_conn_state(s->conn) == WA_CONN_OPEN;
}

const uint8_t *
send_identity(const struct session *s, size_t *len)
{
	*len = s->creds != NULL ? s->creds->account_len : 0;
	return s->creds != NULL ? s->creds->account : NULL;
}

void
send_op_free(struct send_op *op)
{
	if (op == NULL)
		return;
	if (op->timer != NULL)
		event_free(op->timer);
	for (size_t i = 0; i < op->ntargets; i++)
		free(op->targets[i].ct);
	free(op->targets);
	free(op->msg);
	free(op->pt);
	free(op->pt_own);
	send_group_free(op);
	free(op);
}

/* The SERVER_ACK of the worker's own message (msg_send_own): no SendResult carries it to the supervisor, so it is
 * stored as a receipt's status is, through the executor (after the PENDING row, which went before the stanza). */
struct send_own_ack {
	char id[MSG_WIRE_ID_LEN + 128];
	char to[MSG_WIRE_JID_MAX];
	int64_t t;
};

static int
send_own_ack_step(struct session *s, void *arg, struct wa_signal *sig, struct msg_batch *b)
{
	struct send_own_ack *a = arg;
	Wagate__Ipc__StatusChange st = WAGATE__IPC__STATUS_CHANGE__INIT;

	(void)s;
	(void)sig;
	st.id = a->id;
	st.remote_jid = a->to;
	st.from_me = 1;
	st.status = WAGATE__IPC__MSG_STATUS__MSG_STATUS_SERVER_ACK;
	st.timestamp = a->t;
	msg_batch_add_status(b, &st);
	return WA_SIGNAL_DONE;
}

static void
send_own_ack_committed(struct session *s, void *arg, int ok, const char *error, int stopping)
{
	struct send_own_ack *a = arg;

	if (!ok && !stopping)
		log_warnx("%s: the server ack of own message %s not stored: %s", worker_instance_name(s->w), a->id,
		    error);
	free(a);
}

static const struct msg_job_ops send_own_ack_ops = { send_own_ack_step, send_own_ack_committed, 0, 1 };

/* Answer the op's SendMessage (retries answer nobody) and free it; op must be in the list. */
void
send_finish(struct send_op *op, int code, const char *error)
{
	struct session *s = op->s;
	Wagate__Ipc__SendResult r = WAGATE__IPC__SEND_RESULT__INIT;

	TAILQ_REMOVE(&send_state(s)->ops, op, entry);
	if (op->kind == SEND_KIND_RETRY) {
		if (code != 0)
			log_info("%s: resend of %s to %s failed: %s", worker_instance_name(s->w), op->id,
			    op->targets[0].dev.jid, error);
		send_op_free(op);
		return;
	}
	if (op->own) {
		struct send_own_ack *a;

		if (code != 0)
			log_warnx("%s: own message %s to %s failed: %d %s", worker_instance_name(s->w), op->id, op->to,
			    code, error != NULL ? error : "");
		else {
			a = xcalloc(1, sizeof(*a));
			snprintf(a->id, sizeof(a->id), "%s", op->id);
			snprintf(a->to, sizeof(a->to), "%s", op->to);
			a->t = op->t;
			if (msg_exec_submit(s, &send_own_ack_ops, a) == -1)
				free(a);
		}
		send_op_free(op);
		return;
	}
	r.ok = code == 0;
	r.code = code;
	r.error = (char *)(error != NULL ? error : "");
	r.id = op->id;
	r.remote_jid = op->to;
	r.remote_jid_alt = op->to_alt;
	r.timestamp = op->t;
	r.status = code == 0 ? WAGATE__IPC__MSG_STATUS__MSG_STATUS_SERVER_ACK :
	    WAGATE__IPC__MSG_STATUS__MSG_STATUS_ERROR;
	if (code != 0)
		log_info("%s: message %s to %s: %d %s", worker_instance_name(s->w), op->id, op->to, code, r.error);
	worker_reply_send(s->w, op->request_id, &r);
	send_op_free(op);
}

/* The device list cache entry of user (moved to the front), or NULL. */
struct send_devcache *
send_cache_find(struct msg_send_state *st, const char *user)
{
	struct send_devcache *c;

	TAILQ_FOREACH(c, &st->cache, entry)
		if (strcmp(c->user, user) == 0) {
			TAILQ_REMOVE(&st->cache, c, entry);
			TAILQ_INSERT_HEAD(&st->cache, c, entry);
			return c;
		}
	return NULL;
}

/* Remember user's devices (the least recently used entry goes when full). */
void
send_cache_put(struct msg_send_state *st, const char *user, const char *lid, const uint16_t *devs, size_t n)
{
	struct send_devcache *c = send_cache_find(st, user);

	if (c == NULL) {
		if (st->ncache >= SEND_CACHE_USERS) {
			c = TAILQ_LAST(&st->cache, send_devcache_list);
			TAILQ_REMOVE(&st->cache, c, entry);
		} else {
			c = xcalloc(1, sizeof(*c));
			st->ncache++;
		}
		TAILQ_INSERT_HEAD(&st->cache, c, entry);
	}
	snprintf(c->user, sizeof(c->user), "%s", user);
	snprintf(c->lid, sizeof(c->lid), "%s", lid != NULL ? lid : "");
	memcpy(c->devs, devs, n * sizeof(*devs));
	c->ndevs = n;
}

/* Forget the device list of user (NULL: every user). */
void
send_cache_drop(struct msg_send_state *st, const char *user)
{
	struct send_devcache *c, *next;

	for (c = TAILQ_FIRST(&st->cache); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		/* a user named by its LID drops the entry asked for by phone number too */
		if (user == NULL || strcmp(c->user, user) == 0 || strcmp(c->lid, user) == 0) {
			TAILQ_REMOVE(&st->cache, c, entry);
			free(c);
			st->ncache--;
		}
	}
}

/* Add the devices of one cached user to op's targets (own: every device but ours). */
static void
send_add_targets(struct send_op *op, const struct send_devcache *c, int own)
{
	struct send_target *t;

	for (size_t i = 0; i < c->ndevs; i++) {
		/* never our own device (a message to ourselves lists it among the peer's) */
		if (c->devs[i] == op->own_device && strcmp(c->user, op->own_user) == 0)
			continue;
		op->targets = xreallocarray(op->targets, op->ntargets + 1, sizeof(*op->targets));
		t = &op->targets[op->ntargets];
		memset(t, 0, sizeof(*t));
		if (msg_wire_device_set(&t->dev, c->user, c->devs[i]) == -1)
			continue;
		t->own = own;
		op->ntargets++;
	}
}

/* Both device lists are known: list the targets and hand the op to the executor. */
static void
send_devices_ready(struct send_op *op)
{
	struct msg_send_state *st = send_state(op->s);
	struct send_devcache *peer = send_cache_find(st, op->to), *own = send_cache_find(st, op->own_user);

	if (peer == NULL || peer->ndevs == 0) {
		send_finish(op, 400, "not on WhatsApp");
		return;
	}
	if (*peer->lid != '\0' && strcmp(peer->lid, op->to) != 0)
		snprintf(op->to_alt, sizeof(op->to_alt), "%s", peer->lid);
	send_add_targets(op, peer, 0);
	/* a message to ourselves reaches our other devices through the peer list already */
	if (own != NULL && strcmp(op->to, op->own_user) != 0)
		send_add_targets(op, own, 1);
	if (send_op_submit(op) == -1)
		send_finish(op, 503, "Connection Closed");
}

/* The usync answer for the users op lacked. */
static void
send_usync_cb(void *arg, const struct wa_node *reply)
{
	struct send_op *op = arg;
	struct msg_send_state *st = send_state(op->s);
	const char *users[2] = { op->to, op->own_user };
	uint16_t devs[MSG_WIRE_DEVICES_MAX];
	char lid[MSG_WIRE_JID_MAX];
	size_t n;
	int rc;

	if (reply == NULL) {
		send_finish(op, send_is_open(op->s) ? 504 : 503, "no answer to the device query");
		return;
	}
	for (size_t i = 0; i < 2; i++) {
		if (send_cache_find(st, users[i]) != NULL)
			continue;
		if ((rc = msg_usync_devices(reply, users[i], devs, MSG_WIRE_DEVICES_MAX, &n)) == -1 ||
		    msg_usync_lid(reply, users[i], lid, sizeof(lid)) == -1) {
			send_finish(op, 500, "malformed device list from the server");
			return;
		}
		/* "not on WhatsApp" is not cached: the number may register any time, with no notification to us */
		if (rc == 1)
			send_cache_put(st, users[i], lid, devs, n);
	}
	send_devices_ready(op);
}

/* The op's copy of the Message and the two padded plaintexts: the Message for the recipient's devices, the
 * DeviceSentMessage for our own (section 4.7). 0, or -1 when msg is no protobuf message. */
static int
send_plaintexts(struct send_op *op, const uint8_t *msg, size_t len)
{
	uint8_t *dsm;
	size_t dlen;
	int rc;

	op->msg = xmalloc(len);
	memcpy(op->msg, msg, len);
	op->len = len;
	if (msg_stanza_dsm(op->to, msg, len, &dsm, &dlen) == -1)
		return -1;
	rc = wa_signal_pad(msg, len, &op->pt, &op->ptlen) == 0 &&
	    wa_signal_pad(dsm, dlen, &op->pt_own, &op->pt_ownlen) == 0 ? 0 : -1;
	free(dsm);
	return rc;
}

/* A send for request_id (own: the worker's own, msg_send_own). */
static void
send_start(struct session *s, uint64_t request_id, int own, const char *to, const uint8_t *msg, size_t len,
    const char *id, uint64_t start_by_ms)
{
	struct msg_send_state *st = send_state(s);
	struct send_op *op = xcalloc(1, sizeof(*op));
	const char *need[2];
	struct wa_node *iq;
	struct wa_jid j;
	char sid[32];
	size_t nneed = 0;

	op->s = s;
	op->kind = SEND_KIND_MESSAGE;
	op->request_id = request_id;
	op->own = own;
	op->t = (int64_t)time(NULL);
	op->start_by_ms = start_by_ms;
	snprintf(op->to, sizeof(op->to), "%s", to);
	TAILQ_INSERT_TAIL(&st->ops, op, entry);
	if (!send_is_open(s)) {
		snprintf(op->id, sizeof(op->id), "%s", id);
		send_finish(op, 503, "Connection Closed");
		return;
	}
	if (wa_jid_parse(s->creds->jid, &j) == -1 || msg_wire_user(s->creds->jid, op->own_user,
	    sizeof(op->own_user)) == -1) {
		send_finish(op, 500, "own JID unreadable");
		return;
	}
	op->own_device = j.device;
	if (*id != '\0')
		snprintf(op->id, sizeof(op->id), "%s", id);
	else
		msg_stanza_make_id(j.user, op->t, op->id);
	if (wa_jid_parse(to, &j) == 0 && wa_jid_is_group(&j) && *j.user != '\0' && strlen(to) < sizeof(op->to)) {
		send_group_begin(op, msg, len);
		return;
	}
	/* a 1:1 chat: the to must be a user JID without a device (groups went to send_group_begin above) */
	if (wa_jid_parse(to, &j) == -1 || !wa_jid_is_user(&j) || j.is_ad || strlen(to) >= sizeof(op->to)) {
		send_finish(op, 400, "to must be a user or group JID");
		return;
	}
	if (send_plaintexts(op, msg, len) == -1) {
		send_finish(op, 400, "message is no valid protobuf message");
		return;
	}
	if (send_cache_find(st, op->to) == NULL)
		need[nneed++] = op->to;
	if (strcmp(op->to, op->own_user) != 0 && send_cache_find(st, op->own_user) == NULL)
		need[nneed++] = op->own_user;
	if (nneed == 0) {
		send_devices_ready(op);
		return;
	}
	op->stage = SEND_STAGE_USYNC;
	snprintf(sid, sizeof(sid), "wagate-%u", ++st->sid);
	iq = msg_usync_devices_query(need, nneed, sid);
	if (iq_table_send(s->iq, s->conn, iq, SEND_QUERY_TIMEOUT_S * 1000, send_usync_cb, op) == -1)
		send_finish(op, 503, "Connection Closed");
	wa_node_free(iq);
}

void
worker_session_send(struct session *s, uint64_t request_id, const char *to, const uint8_t *msg, size_t len,
    const char *id, uint64_t start_by_ms)
{
	send_start(s, request_id, 0, to, msg, len, id, start_by_ms);
}

void
msg_send_own(struct session *s, const char *to, const uint8_t *msg, size_t len)
{
	send_start(s, 0, 1, to, msg, len, "", 0);
}

int
send_op_submit(struct send_op *op)
{
	struct session *s = op->s;

	if (!send_is_open(s))
		return -1;
	op->stage = SEND_STAGE_EXEC;
	op->batch_id = 0;
	TAILQ_REMOVE(&send_state(s)->ops, op, entry);
	if (msg_exec_submit(s, &send_job_ops, op) == -1) {
		TAILQ_INSERT_TAIL(&send_state(s)->ops, op, entry);
		return -1;
	}
	return 0;
}

/* Forget every result of a step that must run again from the start (msg.h). */
static void
send_step_restart(struct send_op *op)
{
	for (size_t i = 0; i < op->ntargets; i++) {
		struct send_target *t = &op->targets[i];
		free(t->ct);
		t->ct = NULL;
		t->ctlen = 0;
		t->sub = 0;
		t->dropped = 0;
		t->has_session = 0;
	}
	op->pos = 0;
	op->probed = 0;
	op->need_keys = 0;
	op->code = 0;
	op->error[0] = '\0';
	if (op->group)
		send_group_restart(op);
}

/* Which targets lack a session (read-only). WA_SIGNAL_DONE, _NEED or _FAILED. */
static int
send_step_probe(struct send_op *op, struct wa_signal *sig)
{
	char err[160];
	int rc, has;

	for (; op->pos < op->ntargets; op->pos++) {
		struct send_target *t = &op->targets[op->pos];
		if (t->has_bundle) {
			t->has_session = 1;	/* the encrypt pass decides */
			continue;
		}
		if ((rc = wa_signal_has_session(sig, t->dev.address, &has, err, sizeof(err))) != WA_SIGNAL_DONE)
			return rc;
		t->has_session = has;
		if (!has)
			op->need_keys = !op->keys_fetched;
	}
	op->probed = 1;
	op->pos = 0;
	return WA_SIGNAL_DONE;
}

/* Build (when needed) and encrypt for one target; a device that cannot be had is dropped. */
static int
send_step_target(struct send_op *op, struct send_target *t, struct wa_signal *sig)
{
	char err[160];
	int rc, has = 0;

	if (t->sub == 0) {
		if (!t->rebuild &&
		    (rc = wa_signal_has_session(sig, t->dev.address, &has, err, sizeof(err))) != WA_SIGNAL_DONE)
			return rc;
		if (t->rebuild || (!has && t->has_bundle)) {
			rc = wa_signal_session_build(sig, t->dev.address, &t->b, err, sizeof(err));
			if (rc == WA_SIGNAL_NEED)
				return rc;
			has = rc == WA_SIGNAL_DONE;
			if (!has)
				snprintf(op->error, sizeof(op->error), "%s", err);
		}
		if (!has) {
			t->dropped = 1;
			return WA_SIGNAL_DONE;
		}
		t->sub = 1;
	}
	if (t->sub == 1) {
		rc = wa_signal_encrypt(sig, t->dev.address, t->own ? op->pt_own : op->pt, t->own ? op->pt_ownlen :
		    op->ptlen, &t->type, &t->ct, &t->ctlen, err, sizeof(err));
		if (rc == WA_SIGNAL_NEED)
			return rc;
		if (rc != WA_SIGNAL_DONE) {
			snprintf(op->error, sizeof(op->error), "%s", err);
			t->dropped = 1;
			return WA_SIGNAL_DONE;
		}
		t->sub = 2;
	}
	return WA_SIGNAL_DONE;
}

/* The row of an outgoing message, PENDING until WhatsApp acks it: from us, sent through the API (send.message),
 * committed with the ratchet changes before the stanza is written. participant: ours in a group, "" in 1:1. */
void
send_add_pending_row(const struct send_op *op, struct msg_batch *b, const char *remote_alt, const char *participant)
{
	Wagate__Ipc__StoredMessage m = WAGATE__IPC__STORED_MESSAGE__INIT;

	m.id = (char *)op->id;
	m.remote_jid = (char *)op->to;
	m.remote_jid_alt = (char *)remote_alt;
	m.participant = (char *)participant;
	m.from_me = 1;
	m.timestamp = op->t;
	m.status = WAGATE__IPC__MSG_STATUS__MSG_STATUS_PENDING;
	m.message.data = op->msg;
	m.message.len = op->len;
	m.source = (char *)"web";
	m.sent_by_api = !op->own;
	msg_batch_add_message(b, &m);
}

/* The executor job: probe, then (unless bundles are missing) build, encrypt and store the row. */
static int
send_step(struct session *s, void *arg, struct wa_signal *sig, struct msg_batch *b)
{
	struct send_op *op = arg;
	size_t peers = 0;
	int rc;

	(void)s;
	if (op->batch_id != msg_batch_id(b)) {
		/* a new batch, or this one again after another job FAILED: start over (msg.h) */
		op->batch_id = msg_batch_id(b);
		send_step_restart(op);
		/* Too late to start: the caller has waited most of its time (behind a history download, say). A
		 * run that starts has nothing of the send in its batch yet (a resumed one may: not here), so refusing
		 * leaves no row and no stanza behind the 504. */
		if (op->kind == SEND_KIND_MESSAGE && op->start_by_ms != 0 && msg_now_ms() > op->start_by_ms) {
			op->code = 504;
			snprintf(op->error, sizeof(op->error), "not sent: the instance was busy with earlier work past"
			    " the send's deadline; nothing was stored or sent");
			return WA_SIGNAL_DONE;
		}
	}
	if (op->group && (rc = send_group_step_key(op, sig)) != WA_SIGNAL_DONE)
		return rc;
	if (op->code != 0)
		return WA_SIGNAL_DONE;
	if (!op->probed && (rc = send_step_probe(op, sig)) != WA_SIGNAL_DONE)
		return rc;
	if (op->need_keys)
		return WA_SIGNAL_DONE;	/* the bundles come first (a group's new sender key is kept) */
	for (; op->pos < op->ntargets; op->pos++)
		if ((rc = send_step_target(op, &op->targets[op->pos], sig)) != WA_SIGNAL_DONE)
			return rc;
	if (op->group && op->kind == SEND_KIND_MESSAGE)
		return send_group_step_final(op, sig, b);
	/* a message needs at least one device of the recipient; a resend its one device */
	for (size_t i = 0; i < op->ntargets; i++)
		peers += (op->kind == SEND_KIND_RETRY || !op->targets[i].own) && op->targets[i].sub == 2;
	if (peers == 0) {
		op->code = 500;
		if (op->error[0] == '\0')
			snprintf(op->error, sizeof(op->error), "no session with any device of the recipient");
	} else if (op->kind == SEND_KIND_MESSAGE) {
		send_add_pending_row(op, b, op->to_alt, "");
	}
	return WA_SIGNAL_DONE;
}

/* No <ack> for our stanza in time. */
static void
send_ack_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	send_finish(arg, 504, "no server ack in time; the message may still arrive");
}

/* The bundles for the targets without a session; then the job runs again. */
static void
send_keys_cb(void *arg, const struct wa_node *reply)
{
	struct send_op *op = arg;
	int rc;

	if (reply == NULL) {
		send_finish(op, send_is_open(op->s) ? 504 : 503, "no answer to the prekey query");
		return;
	}
	for (size_t i = 0; i < op->ntargets; i++) {
		struct send_target *t = &op->targets[i];
		if (t->has_session)
			continue;
		if ((rc = msg_keys_bundle(reply, t->dev.jid, &t->b)) == -1) {
			send_finish(op, 500, "malformed prekey bundle from the server");
			return;
		}
		t->has_bundle = rc == 1;
	}
	/* the job runs again from its probe, now with the bundles */
	op->keys_fetched = 1;
	op->probed = 0;
	op->need_keys = 0;
	op->pos = 0;
	if (send_op_submit(op) == -1)
		send_finish(op, 503, "Connection Closed");
}

/* Ask for the bundles of the targets the probe found without a session. */
static void
send_fetch_keys(struct send_op *op)
{
	struct msg_wire_device *devs = xreallocarray(NULL, op->ntargets, sizeof(*devs));
	struct wa_node *iq;
	size_t n = 0;

	for (size_t i = 0; i < op->ntargets; i++)
		if (!op->targets[i].has_session)
			devs[n++] = op->targets[i].dev;
	op->stage = SEND_STAGE_KEYS;
	iq = msg_keys_query(devs, n);
	free(devs);
	if (iq_table_send(op->s->iq, op->s->conn, iq, SEND_QUERY_TIMEOUT_S * 1000, send_keys_cb, op) == -1)
		send_finish(op, 503, "Connection Closed");
	wa_node_free(iq);
}

/* The row and the ratchets are committed: write the stanza and wait for the server's ack. */
static void
send_write(struct send_op *op)
{
	struct session *s = op->s;
	struct msg_stanza_enc *encs = xreallocarray(NULL, op->ntargets + 1, sizeof(*encs));	/* a group send may have none */
	struct timeval tv = { SEND_ACK_TIMEOUT_S, 0 };
	const uint8_t *ident;
	struct wa_node *m;
	size_t n = 0, ilen;
	int rc;

	for (size_t i = 0; i < op->ntargets; i++)
		if (op->targets[i].sub == 2) {
			encs[n].jid = op->targets[i].dev.jid;
			encs[n].type = op->targets[i].type;
			encs[n].ct = op->targets[i].ct;
			encs[n].len = op->targets[i].ctlen;
			n++;
		}
	ident = send_identity(s, &ilen);
	if (op->group)
		m = send_group_stanza(op, encs, n);
	else
		m = msg_stanza_message(op->id, op->to, encs, n, ident, ilen);
	free(encs);
	rc = wa_conn_send_node(s->conn, m);
	wa_node_free(m);
	if (rc == -1) {
		send_finish(op, 503, "Connection Closed");
		return;
	}
	send_sent_add(s, op);
	op->stage = SEND_STAGE_ACK;
	if ((op->timer = evtimer_new(worker_base(s->w), send_ack_timeout_cb, op)) == NULL) {
		send_finish(op, 500, "out of timers");
		return;
	}
	evtimer_add(op->timer, &tv);
}

/* The job's batch committed (or failed): go on with the op. */
static void
send_committed(struct session *s, void *arg, int ok, const char *error, int stopping)
{
	struct send_op *op = arg;

	if (stopping) {
		/* the session is going away (s may be mid-free): nobody to answer */
		send_op_free(op);
		return;
	}
	(void)s;
	TAILQ_INSERT_TAIL(&send_state(op->s)->ops, op, entry);
	if (!ok) {
		send_finish(op, 500, error != NULL ? error : "storing the message failed");
		return;
	}
	if (op->code != 0) {
		send_finish(op, op->code, op->error);
		return;
	}
	if (!send_is_open(op->s)) {
		send_finish(op, 503, "Connection Closed");
		return;
	}
	if (op->need_keys) {
		send_fetch_keys(op);
		return;
	}
	if (op->kind == SEND_KIND_RETRY)
		send_retry_write(op);
	else
		send_write(op);
}

static const struct msg_job_ops send_job_ops = { send_step, send_committed, 0, 0 };

int
msg_send_on_ack(struct session *s, const struct wa_node *n)
{
	const char *class = wa_node_attr(n, "class"), *id = wa_node_attr(n, "id"), *error = wa_node_attr(n, "error");
	struct send_op *op;
	char why[64];

	if (s->send == NULL || class == NULL || id == NULL)
		return 0;
	if (strcmp(class, "receipt") == 0)
		return send_read_on_ack(s, id);
	if (strcmp(class, "message") != 0)
		return 0;
	TAILQ_FOREACH(op, &s->send->ops, entry)
		if (op->stage == SEND_STAGE_ACK && strcmp(op->id, id) == 0)
			break;
	if (op == NULL)
		return send_sent_is_ours(s, id);
	if (error != NULL) {
		/* 479: stanza refused, 463: privacy token missing (section 4.9) */
		snprintf(why, sizeof(why), "the server refused the message (error %.16s)", error);
		send_finish(op, 500, why);
	} else {
		if (op->group)
			send_group_acked(op, wa_node_attr(n, "phash"));
		send_finish(op, 0, NULL);
	}
	return 1;
}

void
msg_send_on_devices_notification(struct session *s, const struct wa_node *n)
{
	const struct wa_node *ch;
	const char *jid;
	char user[MSG_WIRE_JID_MAX];

	/* a device added or removed may come back under the same number with new keys: it must get our group
	 * sender keys again (whatever the notification's shape, only <device jid> children are read) */
	for (size_t i = 0; n->ctype == WA_CONTENT_NODES && i < n->nchildren; i++) {
		ch = n->children[i];
		for (size_t k = 0; ch->ctype == WA_CONTENT_NODES && k < ch->nchildren; k++)
			if (strcmp(ch->children[k]->tag, "device") == 0 &&
			    (jid = wa_node_attr(ch->children[k], "jid")) != NULL)
				msg_group_skdm_forget(s, NULL, jid);
	}
	if (s->send == NULL)
		return;
	/* the user's device list changed: ask again on the next send */
	if (msg_wire_user(wa_node_attr(n, "from"), user, sizeof(user)) == 0) {
		log_info("%s: devices of %s changed: their list is asked again", worker_instance_name(s->w), user);
		send_cache_drop(s->send, user);
	}
}

void
msg_send_reset_connection(struct session *s)
{
	struct send_op *op, *next;

	if (s->send == NULL)
		return;
	/* the iq table fails the queries; what waits for an ack will not get it on this connection */
	for (op = TAILQ_FIRST(&s->send->ops); op != NULL; op = next) {
		next = TAILQ_NEXT(op, entry);
		if (op->stage == SEND_STAGE_ACK)
			send_finish(op, 503, "connection closed before the server ack; the message may still arrive");
	}
	send_read_fail_all(s, 503, "Connection Closed");
	/* notifications missed while away would leave stale device lists */
	send_cache_drop(s->send, NULL);
}

void
msg_send_free(struct session *s)
{
	struct send_op *op;

	if (s->send == NULL)
		return;
	/* no answers: the process is stopping (ops held by the executor are its to free) */
	while ((op = TAILQ_FIRST(&s->send->ops)) != NULL) {
		TAILQ_REMOVE(&s->send->ops, op, entry);
		send_op_free(op);
	}
	send_read_fail_all(s, 0, NULL);
	send_check_free_all(s->send);
	send_sent_free_all(s->send);
	send_cache_drop(s->send, NULL);
	free(s->send);
	s->send = NULL;
}
