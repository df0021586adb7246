/* The worker process: its dispatch table on the shared IPC peer (common/ipc_peer.c, STYLE rule 15), settings
 * from Start, reports to the supervisor, and the worker's own requests (StoreBatch -> StoreAck, PairSuccess ->
 * Result), whose ids and timeouts the peer tracks.
 *
 * Adoption (DESIGN.md "Workers outlive a supervisor restart"): when Start named a runtime directory and the
 * supervisor goes away while the instance is paired and its connection is up or coming up, the worker keeps
 * the session, holds what it would have sent (the latest state; requests, bounded), listens on
 * adopt.h's socket and waits for Adopt, or exits cleanly after the grace. Anything else still exits on EOF. */
#include "worker.h"
#include "adopt.h"
#include "conn_state.h"
#include "ipc.h"
#include "ipc_peer.h"
#include "log.h"
#include "session.h"
#include "xmalloc.h"

#include <errno.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <unistd.h>

/* Caps on what the supervisor may send (it is trusted, but a bug must not become a crash). */
#define WORKER_ID_MAX		128
#define WORKER_NAME_MAX		256
#define WORKER_URL_MAX		2048
#define WORKER_FIELD_MAX	1024
#define WORKER_ROOT_KEY_LEN	32
#define WORKER_EXIT_GRACE_S	5
#define WORKER_KEEPALIVE_MAX_MS	3600000	/* a longer keepalive from Start is a bug: use the default */
#define WORKER_ORPHAN_GRACE_S	120	/* Start.orphan_grace_s = 0 */
#define WORKER_HELD_MAX		32	/* requests kept for the next supervisor while orphaned */
#define WORKER_HELD_BYTES_MAX	(4u * 1024 * 1024)
#define WORKER_SOCK_CHECK_MS	1000	/* how often an orphan checks that its socket file is still there */

enum worker_phase {
	WORKER_PHASE_WAIT_START = 1 << 0,	/* nothing but Start (or Shutdown) yet */
	WORKER_PHASE_RUNNING = 1 << 1,
	WORKER_PHASE_EXITING = 1 << 2,
	WORKER_PHASE_ORPHAN = 1 << 3,		/* the supervisor went away: waiting for Adopt on the socket */
};

/* A request of ours (StoreBatch, PairSuccess): the session's callback, kept until the peer ends it, and the
 * packed envelope, so that a request the supervisor's death cancelled can be sent again to the next one. */
struct worker_call {
	TAILQ_ENTRY(worker_call) entry;		/* in worker.held while orphaned */
	struct worker *w;
	const char *what;		/* for the timeout log line */
	int reply_case;
	uint8_t *frame;			/* packed Envelope (request_id replaced when sent again) */
	size_t len;
	worker_reply_cb cb;
	void *arg;
};

TAILQ_HEAD(worker_call_list, worker_call);

struct worker {
	struct event_base *base;
	struct ipc_peer *ipc;
	enum worker_phase phase;
	int exit_code;
	struct event *exit_timer;	/* leaves the loop if the supervisor stops reading */
	char *instance_id;
	char *instance_name;
	char *wa_url;
	char *tls_ca_file;
	unsigned char *root_key;
	size_t root_key_len;
	unsigned char *creds;
	size_t creds_len;
	struct settings settings;
	struct proxy proxy;
	struct session *session;
	unsigned qrcode_limit, qr_first_ms, qr_next_ms;
	unsigned keepalive_ms, keepalive_deadline_ms;
	char *connect_number;

	/* adoption */
	char *runtime_dir;		/* Start.runtime_dir; NULL = exit on EOF */
	unsigned orphan_grace_s;
	int was_open;			/* OPEN reported since Start: the instance is paired */
	int state, reason;		/* the last state reported (what Adopted carries) */
	char *detail, *jid, *lid, *push_name;
	char *sock_path;		/* set while the adoption socket exists */
	int lfd;
	struct event *ev_accept, *ev_grace, *ev_watch;
	struct worker_call_list held;	/* requests for the next supervisor */
	size_t nheld, held_bytes;
};

/* The instance's name for log lines (its id until Start arrived). */
static const char *
worker_label(const struct worker *w)
{
	return w->instance_name != NULL ? w->instance_name : w->instance_id;
}

/* Queue one message for the supervisor; a failure here means the channel is gone, and EOF handles that. */
static void
worker_send(struct worker *w, IpcEnvelope *env)
{
	/* Orphaned: nobody to tell; what the next supervisor needs travels in Adopted. */
	if (w->phase == WORKER_PHASE_ORPHAN)
		return;
	if (ipc_peer_send(w->ipc, env) == -1)
		log_warnx("%s: could not queue %s", worker_label(w), ipc_msg_name((int)env->msg_case));
}

/* Reply to a request with Result. */
static void
worker_send_result(struct worker *w, uint64_t request_id, int ok, int code, const char *error)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Result res = WAGATE__IPC__RESULT__INIT;

	res.ok = ok;
	res.code = code;
	res.error = (char *)(error != NULL ? error : "");
	env.request_id = request_id;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_RESULT;
	env.result = &res;
	worker_send(w, &env);
}

/* A keepalive time from Start: 0 (the library's default) when unset or out of range. */
static unsigned
worker_keepalive(uint32_t ms)
{
	return ms <= WORKER_KEEPALIVE_MAX_MS ? ms : 0;
}

/* Replace *field with a copy of s (NULL when s is empty). */
static void
worker_set_str(char **field, const char *s)
{
	free(*field);
	*field = s != NULL && *s != '\0' ? xstrdup(s) : NULL;
}

/* The parts of Start (or of Adopt's Start) that are configuration, not the session: checked, then applied.
 * 0, or -1 for an invalid message (nothing applied). */
static int
worker_take_config(struct worker *w, const Wagate__Ipc__Start *st)
{
	struct settings set;
	struct proxy px;
	enum log_level level;

	if (st == NULL || !ipc_str_ok(st->instance_id, WORKER_ID_MAX) ||
	    !ipc_str_ok(st->instance_name, WORKER_NAME_MAX) || !ipc_str_ok(st->wa_url, WORKER_URL_MAX) ||
	    !ipc_str_ok(st->connect_number, WORKER_FIELD_MAX) || !ipc_str_ok(st->wa_tls_ca_file, WORKER_URL_MAX) ||
	    !ipc_str_ok(st->runtime_dir, WORKER_URL_MAX)) {
		log_warnx("%s: Start has an oversized string", worker_label(w));
		return -1;
	}
	if (strcmp(st->instance_id, w->instance_id) != 0) {
		log_warnx("%s: Start is for instance %s", worker_label(w), st->instance_id);
		return -1;
	}
	if (st->wa_root_key.len != 0 && st->wa_root_key.len != WORKER_ROOT_KEY_LEN) {
		log_warnx("%s: root key of %zu bytes", worker_label(w), st->wa_root_key.len);
		return -1;
	}
	memset(&set, 0, sizeof(set));
	memset(&px, 0, sizeof(px));
	if (settings_from_ipc(&set, st->settings) == -1 || proxy_from_ipc(&px, st->proxy) == -1) {
		log_warnx("%s: Start has an oversized setting", worker_label(w));
		settings_clear(&set);
		proxy_clear(&px);
		return -1;
	}
	settings_clear(&w->settings);
	proxy_clear(&w->proxy);
	w->settings = set;
	w->proxy = px;
	level = st->log_level >= LOG_LEVEL_ERROR && st->log_level <= LOG_LEVEL_DEBUG ?
	    (enum log_level)st->log_level : LOG_LEVEL_INFO;
	log_init("wagate-worker", level);
	worker_set_str(&w->instance_name, st->instance_name);
	if (w->instance_name == NULL)
		w->instance_name = xstrdup(w->instance_id);
	worker_set_str(&w->wa_url, st->wa_url);
	worker_set_str(&w->tls_ca_file, st->wa_tls_ca_file);
	free_wiped(w->root_key, w->root_key_len);
	w->root_key = NULL;
	w->root_key_len = 0;
	if (st->wa_root_key.len != 0) {
		w->root_key = xmalloc(st->wa_root_key.len);
		memcpy(w->root_key, st->wa_root_key.data, st->wa_root_key.len);
		w->root_key_len = st->wa_root_key.len;
	}
	w->qrcode_limit = st->qrcode_limit;
	w->qr_first_ms = st->qr_first_ms != 0 ? st->qr_first_ms : WORKER_QR_FIRST_MS;
	w->qr_next_ms = st->qr_next_ms != 0 ? st->qr_next_ms : WORKER_QR_NEXT_MS;
	w->keepalive_ms = worker_keepalive(st->keepalive_ms);
	w->keepalive_deadline_ms = worker_keepalive(st->keepalive_deadline_ms);
	worker_set_str(&w->runtime_dir, st->runtime_dir);
	w->orphan_grace_s = st->orphan_grace_s != 0 ? st->orphan_grace_s : WORKER_ORPHAN_GRACE_S;
	return 0;
}

/* Start: take the instance's state, answer Ready, hand over to the session. */
static int
worker_on_start(void *arg, const IpcEnvelope *env)
{
	struct worker *w = arg;
	const Wagate__Ipc__Start *st = env->start;
	IpcEnvelope reply = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Ready ready = WAGATE__IPC__READY__INIT;

	if (worker_take_config(w, st) == -1)
		return -1;
	if (st->creds.len != 0) {
		w->creds = xmalloc(st->creds.len);
		memcpy(w->creds, st->creds.data, st->creds.len);
		w->creds_len = st->creds.len;
		/* The envelope is freed by the reader; do not leave a second copy of the secrets behind. */
		explicit_wipe(st->creds.data, st->creds.len);
	}
	if (*st->connect_number != '\0')
		w->connect_number = xstrdup(st->connect_number);
	w->phase = WORKER_PHASE_RUNNING;

	ready.pid = (int32_t)getpid();
	ready.version = (char *)WAGATE_VERSION;
	reply.request_id = env->request_id;
	reply.msg_case = WAGATE__IPC__ENVELOPE__MSG_READY;
	reply.ready = &ready;
	worker_send(w, &reply);
	log_debug("%s: ready (%s)", worker_label(w),
	    w->creds != NULL ? "with stored credentials" : "new");

	if ((w->session = worker_session_start(w)) == NULL)
		log_warnx("%s: the session could not be created", worker_label(w));
	if (st->connect_now) {
		if (w->session != NULL)
			worker_session_connect(w->session, *st->connect_number != '\0' ? st->connect_number : NULL);
		else
			worker_report_state(w, CONN_CLOSE, REASON_BAD_SESSION, "session could not be created");
	}
	return 0;
}

/* Ping: answer at once; the supervisor measures the round trip and counts misses. */
static int
worker_on_ping(void *arg, const IpcEnvelope *env)
{
	struct worker *w = arg;
	IpcEnvelope reply = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Pong pong = WAGATE__IPC__PONG__INIT;

	pong.seq = env->ping->seq;
	pong.sent_us = env->ping->sent_us;
	reply.request_id = env->request_id;
	reply.msg_case = WAGATE__IPC__ENVELOPE__MSG_PONG;
	reply.pong = &pong;
	worker_send(w, &reply);
	return 0;
}

/* Connect: start a QR or pairing-code login. */
static int
worker_on_connect(void *arg, const IpcEnvelope *env)
{
	struct worker *w = arg;
	const char *number = env->connect->number;

	if (!ipc_str_ok(number, WORKER_FIELD_MAX))
		return -1;
	worker_send_result(w, env->request_id, 1, 0, NULL);
	if (w->session != NULL)
		worker_session_connect(w->session, *number != '\0' ? number : NULL);
	else
		worker_report_state(w, CONN_CLOSE, REASON_BAD_SESSION, "session could not be created");
	return 0;
}

/* Logout: the session unlinks the device and ends the process with IPC_EXIT_NO_RESTART. */
static int
worker_on_logout(void *arg, const IpcEnvelope *env)
{
	struct worker *w = arg;
	worker_send_result(w, env->request_id, 1, 0, NULL);
	if (w->session != NULL)
		worker_session_logout(w->session);
	else {
		worker_report_state(w, CONN_CLOSE, REASON_LOGGED_OUT, "logged out");
		worker_exit(w, IPC_EXIT_NO_RESTART);
	}
	return 0;
}

/* Shutdown: close everything and exit 0. */
static int
worker_on_shutdown(void *arg, const IpcEnvelope *env)
{
	struct worker *w = arg;
	worker_send_result(w, env->request_id, 1, 0, NULL);
	worker_exit(w, IPC_EXIT_OK);
	return 0;
}

/* UpdateSettings: replace the settings; the session reads them when it needs them. */
static int
worker_on_update_settings(void *arg, const IpcEnvelope *env)
{
	struct worker *w = arg;
	if (settings_from_ipc(&w->settings, env->update_settings->settings) == -1)
		return -1;
	worker_send_result(w, env->request_id, 1, 0, NULL);
	if (w->session != NULL)
		worker_session_update(w->session);
	return 0;
}

/* UpdateProxy: replace the proxy; it applies from the next connection. */
static int
worker_on_update_proxy(void *arg, const IpcEnvelope *env)
{
	struct worker *w = arg;
	if (proxy_from_ipc(&w->proxy, env->update_proxy->proxy) == -1)
		return -1;
	worker_send_result(w, env->request_id, 1, 0, NULL);
	if (w->session != NULL)
		worker_session_update(w->session);
	return 0;
}

/* SetPresence: our global presence; refused (Result !ok) unless the session is open. */
static int
worker_on_set_presence(void *arg, const IpcEnvelope *env)
{
	struct worker *w = arg;
	const char *p = env->set_presence->presence;

	if (!ipc_str_ok(p, WORKER_FIELD_MAX))
		return -1;
	if (strcmp(p, "available") != 0 && strcmp(p, "unavailable") != 0)
		worker_send_result(w, env->request_id, 0, 0, "presence must be available or unavailable");
	else if (w->session == NULL || worker_session_presence(w->session, p) == -1)
		worker_send_result(w, env->request_id, 0, REASON_CONNECTION_CLOSED, "Connection Closed");
	else
		worker_send_result(w, env->request_id, 1, 0, NULL);
	return 0;
}

/* Release one request record. */
static void
worker_call_free(struct worker_call *c)
{
	if (c == NULL)
		return;
	free_wiped(c->frame, c->len);
	free(c);
}

/* Whether a request can wait for the next supervisor: adoption is configured and the session goes on. */
static int
worker_can_hold(const struct worker *w)
{
	return w->runtime_dir != NULL && (w->phase == WORKER_PHASE_RUNNING || w->phase == WORKER_PHASE_ORPHAN);
}

/* Keep c for the next supervisor (bounded). 0, or -1 when the hold is full (c untouched). */
static int
worker_hold(struct worker *w, struct worker_call *c)
{
	if (w->nheld >= WORKER_HELD_MAX || w->held_bytes + c->len > WORKER_HELD_BYTES_MAX)
		return -1;
	TAILQ_INSERT_TAIL(&w->held, c, entry);
	w->nheld++;
	w->held_bytes += c->len;
	return 0;
}

/* Drop every held request without calling back (the process is ending: worker.h's contract). */
static void
worker_held_free(struct worker *w)
{
	struct worker_call *c;

	while ((c = TAILQ_FIRST(&w->held)) != NULL) {
		TAILQ_REMOVE(&w->held, c, entry);
		worker_call_free(c);
	}
	w->nheld = 0;
	w->held_bytes = 0;
}

/* The end of one of our requests: the reply (StoreAck or Result), a timeout, or a cancel at exit. */
static int
worker_call_done(void *arg, enum ipc_peer_outcome how, const IpcEnvelope *env)
{
	struct worker_call *c = arg;
	struct worker *w = c->w;
	worker_reply_cb cb = c->cb;
	void *cbarg = c->arg;
	const char *error;
	int ok;

	if (how == IPC_PEER_CANCELLED) {
		/* The supervisor went away with the request unanswered: if this worker may be adopted, the next
		 * supervisor gets it again (its handling is idempotent for creds; see the report for prekeys). */
		if (worker_can_hold(w) && worker_hold(w, c) == 0)
			return 0;
		/* The session is going away: nothing is called back (worker.h). */
		worker_call_free(c);
		return 0;
	}
	if (how == IPC_PEER_TIMED_OUT) {
		log_warnx("%s: no reply to %s within %d s", worker_label(w), c->what, WORKER_REQUEST_TIMEOUT_S);
		worker_call_free(c);
		cb(cbarg, 0, "timeout");
		return 0;
	}
	worker_call_free(c);
	if (env->msg_case == WAGATE__IPC__ENVELOPE__MSG_STORE_ACK) {
		ok = env->store_ack->ok;
		error = env->store_ack->error;
	} else {
		ok = env->result->ok;
		error = env->result->error;
	}
	if (!ipc_str_ok(error, WORKER_FIELD_MAX))
		return -1;
	cb(cbarg, ok, *error != '\0' ? error : (ok ? NULL : "failed"));
	return 0;
}

/* Send a request record's envelope under a fresh id. 0, or -1 (c still the caller's). */
static int
worker_call_send(struct worker *w, struct worker_call *c)
{
	IpcEnvelope *env;
	int rc;

	if (c->frame == NULL)
		return -1;
	if ((env = wagate__ipc__envelope__unpack(NULL, c->len, c->frame)) == NULL)
		return -1;
	rc = ipc_peer_request(w->ipc, env, c->reply_case, WORKER_REQUEST_TIMEOUT_S * 1000, worker_call_done, c);
	wagate__ipc__envelope__free_unpacked(env, NULL);
	return rc;
}

/* Send env as a request answered by reply_case; cb gets the outcome. While orphaned it waits (bounded) for
 * the next supervisor. 0 or -1. */
static int
worker_request_send(struct worker *w, IpcEnvelope *env, int reply_case, worker_reply_cb cb, void *arg)
{
	struct worker_call *c;
	size_t len;

	if ((w->phase != WORKER_PHASE_RUNNING && w->phase != WORKER_PHASE_ORPHAN) || cb == NULL)
		return -1;
	c = xcalloc(1, sizeof(*c));
	c->w = w;
	c->what = ipc_msg_name((int)env->msg_case);
	c->reply_case = reply_case;
	c->cb = cb;
	c->arg = arg;
	/* A copy only where it may be needed again: a worker without adoption never sends a request twice. */
	if (w->runtime_dir != NULL) {
		env->version = IPC_VERSION;
		if ((len = wagate__ipc__envelope__get_packed_size(env)) == 0 || len > IPC_FRAME_MAX) {
			worker_call_free(c);
			return -1;
		}
		c->frame = xmalloc(len);
		c->len = wagate__ipc__envelope__pack(env, c->frame);
	}
	if (w->phase == WORKER_PHASE_ORPHAN) {
		if (worker_hold(w, c) == -1) {
			log_warnx("%s: %s not kept for the next supervisor: %zu requests wait already", worker_label(w),
			    c->what, w->nheld);
			worker_call_free(c);
			return -1;
		}
		return 0;
	}
	if (ipc_peer_request(w->ipc, env, reply_case, WORKER_REQUEST_TIMEOUT_S * 1000, worker_call_done, c) == -1) {
		log_warnx("%s: could not queue %s", worker_label(w), c->what);
		worker_call_free(c);
		return -1;
	}
	return 0;
}

int
worker_request_store(struct worker *w, const unsigned char *creds, size_t creds_len,
    const struct worker_prekey *prekeys, size_t nprekeys, uint32_t uploaded_upto, worker_reply_cb cb, void *arg)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__StoreBatch sb = WAGATE__IPC__STORE_BATCH__INIT;
	Wagate__Ipc__PreKey *pk = NULL, **pkp = NULL;
	size_t i;
	int rc;

	sb.creds.data = (uint8_t *)creds;
	sb.creds.len = creds != NULL ? creds_len : 0;
	if (nprekeys > 0) {
		pk = xreallocarray(NULL, nprekeys, sizeof(*pk));
		pkp = xreallocarray(NULL, nprekeys, sizeof(*pkp));
		for (i = 0; i < nprekeys; i++) {
			wagate__ipc__pre_key__init(&pk[i]);
			pk[i].id = prekeys[i].id;
			pk[i].record.data = (uint8_t *)prekeys[i].record;
			pk[i].record.len = prekeys[i].len;
			pkp[i] = &pk[i];
		}
	}
	sb.n_prekeys = nprekeys;
	sb.prekeys = pkp;
	sb.prekeys_uploaded_upto = uploaded_upto;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_STORE_BATCH;
	env.store_batch = &sb;
	rc = worker_request_send(w, &env, WAGATE__IPC__ENVELOPE__MSG_STORE_ACK, cb, arg);
	free(pk);
	free(pkp);
	return rc;
}

int
worker_request_paired(struct worker *w, const char *jid, const char *lid, const char *push_name,
    const char *platform, const char *business_name, const unsigned char *creds, size_t creds_len,
    worker_reply_cb cb, void *arg)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__PairSuccess p = WAGATE__IPC__PAIR_SUCCESS__INIT;

	p.jid = (char *)(jid != NULL ? jid : "");
	p.lid = (char *)(lid != NULL ? lid : "");
	p.push_name = (char *)(push_name != NULL ? push_name : "");
	p.platform = (char *)(platform != NULL ? platform : "");
	p.business_name = (char *)(business_name != NULL ? business_name : "");
	p.creds.data = (uint8_t *)creds;
	p.creds.len = creds_len;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_PAIR_SUCCESS;
	env.pair_success = &p;
	return worker_request_send(w, &env, WAGATE__IPC__ENVELOPE__MSG_RESULT, cb, arg);
}

/* Close the adoption socket and remove its file (nothing once it is gone). */
static void
worker_adopt_close(struct worker *w)
{
	if (w->ev_accept != NULL) {
		event_free(w->ev_accept);
		w->ev_accept = NULL;
	}
	if (w->lfd >= 0) {
		close(w->lfd);
		w->lfd = -1;
	}
	if (w->sock_path != NULL) {
		(void)unlink(w->sock_path);
		free(w->sock_path);
		w->sock_path = NULL;
	}
	if (w->ev_grace != NULL)
		evtimer_del(w->ev_grace);
	if (w->ev_watch != NULL)
		event_del(w->ev_watch);
}

/* Adopt: a new supervisor takes this orphan over. Apply its configuration, answer Adopted with what it
 * missed, and send it the requests that waited. */
static int
worker_on_adopt(void *arg, const IpcEnvelope *env)
{
	struct worker *w = arg;
	IpcEnvelope reply = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Adopted ad = WAGATE__IPC__ADOPTED__INIT;
	struct worker_call *c;

	if (worker_take_config(w, env->adopt->start) == -1)
		return -1;
	ad.pid = (int32_t)getpid();
	ad.version = (char *)WAGATE_VERSION;
	ad.state = (Wagate__Ipc__ConnState)w->state;
	ad.reason = w->reason;
	ad.detail = w->detail != NULL ? w->detail : (char *)"";
	ad.jid = w->jid != NULL ? w->jid : (char *)"";
	ad.lid = w->lid != NULL ? w->lid : (char *)"";
	ad.push_name = w->push_name != NULL ? w->push_name : (char *)"";
	reply.request_id = env->request_id;
	reply.msg_case = WAGATE__IPC__ENVELOPE__MSG_ADOPTED;
	reply.adopted = &ad;
	w->phase = WORKER_PHASE_RUNNING;
	worker_send(w, &reply);
	worker_adopt_close(w);
	log_info("%s: adopted (state %d)", worker_label(w), w->state);
	/* Settings or proxy changed while we were orphaned apply as an update would. */
	if (w->session != NULL)
		worker_session_update(w->session);
	while ((c = TAILQ_FIRST(&w->held)) != NULL) {
		TAILQ_REMOVE(&w->held, c, entry);
		w->nheld--;
		w->held_bytes -= c->len;
		if (worker_call_send(w, c) == -1) {
			worker_reply_cb cb = c->cb;
			void *cbarg = c->arg;

			log_warnx("%s: could not send the held %s", worker_label(w), c->what);
			worker_call_free(c);
			cb(cbarg, 0, "could not be sent");
		}
	}
	return 0;
}

/* Every message the supervisor may send, and when; a NULL handler is a reply to one of our requests. */
static const struct ipc_peer_dispatch worker_dispatch_table[] = {
	{ WAGATE__IPC__ENVELOPE__MSG_START, WORKER_PHASE_WAIT_START, worker_on_start },
	{ WAGATE__IPC__ENVELOPE__MSG_PING, WORKER_PHASE_RUNNING | WORKER_PHASE_EXITING, worker_on_ping },
	{ WAGATE__IPC__ENVELOPE__MSG_CONNECT, WORKER_PHASE_RUNNING, worker_on_connect },
	{ WAGATE__IPC__ENVELOPE__MSG_LOGOUT, WORKER_PHASE_RUNNING, worker_on_logout },
	{ WAGATE__IPC__ENVELOPE__MSG_SHUTDOWN, WORKER_PHASE_WAIT_START | WORKER_PHASE_RUNNING | WORKER_PHASE_ORPHAN,
	  worker_on_shutdown },
	{ WAGATE__IPC__ENVELOPE__MSG_UPDATE_SETTINGS, WORKER_PHASE_RUNNING, worker_on_update_settings },
	{ WAGATE__IPC__ENVELOPE__MSG_UPDATE_PROXY, WORKER_PHASE_RUNNING, worker_on_update_proxy },
	{ WAGATE__IPC__ENVELOPE__MSG_SET_PRESENCE, WORKER_PHASE_RUNNING, worker_on_set_presence },
	{ WAGATE__IPC__ENVELOPE__MSG_STORE_ACK, WORKER_PHASE_RUNNING, NULL },
	{ WAGATE__IPC__ENVELOPE__MSG_RESULT, WORKER_PHASE_RUNNING, NULL },
	{ WAGATE__IPC__ENVELOPE__MSG_ADOPT, WORKER_PHASE_ORPHAN, worker_on_adopt },
};

/* The phase the dispatch table is checked against. */
static unsigned
worker_phase_cb(void *arg)
{
	return ((struct worker *)arg)->phase;
}

/* The supervisor broke the protocol (bad frame, version, unknown, unexpected or invalid message): exit. */
static void
worker_protocol_error_cb(void *arg, const char *what)
{
	struct worker *w = arg;

	log_warnx("%s: %s", worker_label(w), what);
	worker_exit(w, 1);
}

static void worker_close_cb(void *arg, int error);

/* The callbacks of a channel to a supervisor (the spawning one on fd 3, or an adopting one). */
static struct ipc_peer *
worker_peer_new(struct worker *w, int fd)
{
	struct ipc_peer_cbs cbs = { worker_dispatch_table, sizeof(worker_dispatch_table) /
	    sizeof(worker_dispatch_table[0]), worker_phase_cb, worker_protocol_error_cb, worker_close_cb, w };

	return ipc_peer_new(w->base, fd, &cbs);
}

/* A supervisor connects to the adoption socket: take exactly one (our uid only), then wait for its Adopt. */
static void
worker_accept_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct ipc_peer *p;
	pid_t pid;
	int cfd;

	(void)fd;
	(void)what;
	if ((cfd = adopt_accept(w->lfd, &pid)) == -1) {
		if (errno == EPERM)
			log_warnx("%s: refused a connection from another user", worker_label(w));
		else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			log_warn("%s: accept", worker_label(w));
		return;
	}
	if ((p = worker_peer_new(w, cfd)) == NULL) {
		log_warnx("%s: cannot set up the adopting channel", worker_label(w));
		close(cfd);
		return;
	}
	/* The old channel ended long ago (its callbacks are over), so it can go now. */
	ipc_peer_free(w->ipc);
	w->ipc = p;
	event_del(w->ev_accept);
	log_debug("%s: supervisor %d connected", worker_label(w), (int)pid);
}

/* Nobody adopted us in time: exit cleanly (the next supervisor, if any, spawns a fresh worker). */
static void
worker_grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	log_info("%s: not adopted within %u s; exiting", worker_label(w), w->orphan_grace_s);
	worker_exit(w, IPC_EXIT_OK);
}

/* The socket file is gone: the runtime directory was removed (systemd removes RuntimeDirectory= on a full
 * stop, not on a restart) or someone cleaned up. Nobody can adopt us any more: exit now, not after the grace. */
static void
worker_watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct stat st;

	(void)fd;
	(void)what;
	if (w->phase != WORKER_PHASE_ORPHAN || w->sock_path == NULL)
		return;
	if (lstat(w->sock_path, &st) == -1 && errno == ENOENT) {
		log_info("%s: adoption socket removed; exiting", worker_label(w));
		free(w->sock_path);	/* not ours to unlink any more */
		w->sock_path = NULL;
		worker_exit(w, IPC_EXIT_OK);
	}
}

/* Whether this worker should wait to be adopted rather than exit on EOF: adoption is configured, the
 * instance is paired (it was open in this process) and its connection is up or coming up. A pairing in
 * progress has nothing worth keeping. */
static int
worker_adoptable(const struct worker *w)
{
	return w->runtime_dir != NULL && w->phase == WORKER_PHASE_RUNNING && w->session != NULL && w->was_open &&
	    w->state != CONN_CLOSE;
}

/* Become an orphan: keep the session, listen on the adoption socket, arm the grace. 0 or -1. */
static int
worker_orphan(struct worker *w)
{
	char path[256], err[256];
	struct timeval grace = { (time_t)w->orphan_grace_s, 0 };
	struct timeval check = { WORKER_SOCK_CHECK_MS / 1000, (WORKER_SOCK_CHECK_MS % 1000) * 1000 };

	if (adopt_path(w->runtime_dir, w->instance_id, path, sizeof(path)) == -1) {
		log_warnx("%s: adoption socket path too long", worker_label(w));
		return -1;
	}
	if ((w->lfd = adopt_listen(w->runtime_dir, path, err, sizeof(err))) == -1) {
		log_warnx("%s: %s", worker_label(w), err);
		return -1;
	}
	w->sock_path = xstrdup(path);
	if ((w->ev_accept = event_new(w->base, w->lfd, EV_READ | EV_PERSIST, worker_accept_cb, w)) == NULL ||
	    (w->ev_grace == NULL && (w->ev_grace = evtimer_new(w->base, worker_grace_cb, w)) == NULL) ||
	    (w->ev_watch == NULL && (w->ev_watch = event_new(w->base, -1, EV_PERSIST, worker_watch_cb, w)) == NULL) ||
	    event_add(w->ev_accept, NULL) == -1 || event_add(w->ev_watch, &check) == -1) {
		log_warnx("%s: cannot watch the adoption socket", worker_label(w));
		worker_adopt_close(w);
		return -1;
	}
	evtimer_add(w->ev_grace, &grace);
	w->phase = WORKER_PHASE_ORPHAN;
	log_info("%s: supervisor gone; waiting %u s to be adopted on %s (%zu requests held)", worker_label(w),
	    w->orphan_grace_s, path, w->nheld);
	return 0;
}

/* The supervisor went away: wait for the next one if this worker is worth adopting, else exit cleanly. */
static void
worker_close_cb(void *arg, int error)
{
	struct worker *w = arg;

	if (w->phase == WORKER_PHASE_ORPHAN) {
		/* The one supervisor we accepted left before Adopt. */
		log_info("%s: the adopting supervisor left; exiting", worker_label(w));
		worker_exit(w, IPC_EXIT_OK);
		return;
	}
	if (worker_adoptable(w) && worker_orphan(w) == 0)
		return;
	if (error)
		log_warnx("%s: IPC channel broken", worker_label(w));
	else
		log_debug("%s: supervisor closed the channel", worker_label(w));
	worker_exit(w, error ? 1 : IPC_EXIT_OK);
}

/* Everything queued was written (or the grace ran out): stop the session and leave the loop. */
static void
worker_exit_done_cb(void *arg)
{
	struct worker *w = arg;

	ipc_peer_cancel(w->ipc);
	worker_session_stop(w->session);
	w->session = NULL;
	worker_adopt_close(w);
	event_base_loopexit(w->base, NULL);
}

/* The grace for flushing ran out. */
static void
worker_exit_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	worker_exit_done_cb(arg);
}

struct worker *
worker_new(struct event_base *base, int fd, const char *instance_id)
{
	struct worker *w = xcalloc(1, sizeof(*w));

	w->base = base;
	w->phase = WORKER_PHASE_WAIT_START;
	w->instance_id = xstrdup(instance_id);
	w->lfd = -1;
	w->state = CONN_CLOSE;
	TAILQ_INIT(&w->held);
	if ((w->exit_timer = evtimer_new(base, worker_exit_timer_cb, w)) == NULL ||
	    (w->ipc = worker_peer_new(w, fd)) == NULL) {
		worker_free(w);
		return NULL;
	}
	return w;
}

void
worker_free(struct worker *w)
{
	if (w == NULL)
		return;
	/* Pending requests are cancelled first: their callbacks belong to the session (none is held now). */
	w->phase = WORKER_PHASE_EXITING;
	if (w->ipc != NULL)
		ipc_peer_cancel(w->ipc);
	worker_session_stop(w->session);
	ipc_peer_free(w->ipc);
	worker_held_free(w);
	worker_adopt_close(w);
	if (w->ev_grace != NULL)
		event_free(w->ev_grace);
	if (w->ev_watch != NULL)
		event_free(w->ev_watch);
	if (w->exit_timer != NULL)
		event_free(w->exit_timer);
	free(w->runtime_dir);
	free(w->detail);
	free(w->jid);
	free(w->lid);
	free(w->push_name);
	free(w->instance_id);
	free(w->instance_name);
	free(w->wa_url);
	free(w->tls_ca_file);
	free(w->connect_number);
	free_wiped(w->root_key, w->root_key_len);
	free_wiped(w->creds, w->creds_len);
	settings_clear(&w->settings);
	proxy_clear(&w->proxy);
	free(w);
}

int
worker_exit_code(const struct worker *w)
{
	return w->exit_code;
}

void
worker_exit(struct worker *w, int code)
{
	struct timeval grace = { WORKER_EXIT_GRACE_S, 0 };

	if (w->phase == WORKER_PHASE_EXITING)
		return;
	w->phase = WORKER_PHASE_EXITING;
	w->exit_code = code;
	/* The session is stopped from a fresh loop turn: we may be inside one of its own calls. */
	evtimer_add(w->exit_timer, &grace);
	ipc_peer_drain(w->ipc, worker_exit_done_cb, w);
}

struct event_base *
worker_base(const struct worker *w)
{
	return w->base;
}

const char *
worker_instance_id(const struct worker *w)
{
	return w->instance_id;
}

const char *
worker_instance_name(const struct worker *w)
{
	return worker_label(w);
}

const char *
worker_wa_url(const struct worker *w)
{
	return w->wa_url;
}

const char *
worker_wa_tls_ca_file(const struct worker *w)
{
	return w->tls_ca_file;
}

const unsigned char *
worker_wa_root_key(const struct worker *w, size_t *len)
{
	*len = w->root_key_len;
	return w->root_key;
}

const unsigned char *
worker_creds(const struct worker *w, size_t *len)
{
	*len = w->creds_len;
	return w->creds;
}

unsigned
worker_qrcode_limit(const struct worker *w)
{
	return w->qrcode_limit;
}

unsigned
worker_qr_first_ms(const struct worker *w)
{
	return w->qr_first_ms != 0 ? w->qr_first_ms : WORKER_QR_FIRST_MS;
}

unsigned
worker_qr_next_ms(const struct worker *w)
{
	return w->qr_next_ms != 0 ? w->qr_next_ms : WORKER_QR_NEXT_MS;
}

const char *
worker_connect_number(const struct worker *w)
{
	return w->connect_number;
}

const struct settings *
worker_settings(const struct worker *w)
{
	return &w->settings;
}

const struct proxy *
worker_proxy(const struct worker *w)
{
	return &w->proxy;
}

unsigned
worker_keepalive_ms(const struct worker *w)
{
	return w->keepalive_ms;
}

unsigned
worker_keepalive_deadline_ms(const struct worker *w)
{
	return w->keepalive_deadline_ms;
}

void
worker_report_state(struct worker *w, int state, int reason, const char *detail)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__ConnectionUpdate cu = WAGATE__IPC__CONNECTION_UPDATE__INIT;

	cu.state = (Wagate__Ipc__ConnState)state;
	cu.reason = reason;
	cu.detail = (char *)(detail != NULL ? detail : "");
	w->state = state;
	w->reason = reason;
	worker_set_str(&w->detail, detail);
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_CONNECTION_UPDATE;
	env.connection_update = &cu;
	log_debug("%s: state %d reason %d %s", worker_label(w), state, reason, cu.detail);
	worker_send(w, &env);
}

void
worker_report_open(struct worker *w, const char *jid, const char *lid, const char *push_name)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__ConnectionUpdate cu = WAGATE__IPC__CONNECTION_UPDATE__INIT;

	cu.state = CONN_OPEN;
	cu.reason = REASON_NONE;
	cu.detail = (char *)"logged in";
	cu.jid = (char *)(jid != NULL ? jid : "");
	cu.lid = (char *)(lid != NULL ? lid : "");
	cu.push_name = (char *)(push_name != NULL ? push_name : "");
	w->state = CONN_OPEN;
	w->reason = REASON_NONE;
	w->was_open = 1;
	worker_set_str(&w->detail, cu.detail);
	worker_set_str(&w->jid, cu.jid);
	worker_set_str(&w->lid, cu.lid);
	worker_set_str(&w->push_name, cu.push_name);
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_CONNECTION_UPDATE;
	env.connection_update = &cu;
	log_debug("%s: open as %s", worker_label(w), cu.jid);
	worker_send(w, &env);
}

void
worker_report_qr(struct worker *w, const char *qr, unsigned count, const char *pairing_code)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__QrUpdate q = WAGATE__IPC__QR_UPDATE__INIT;

	q.qr = (char *)(qr != NULL ? qr : "");
	q.count = count;
	q.pairing_code = (char *)(pairing_code != NULL ? pairing_code : "");
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_QR_UPDATE;
	env.qr_update = &q;
	worker_send(w, &env);
}

void
worker_report_log(struct worker *w, int level, const char *fmt, ...)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Log l = WAGATE__IPC__LOG__INIT;
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	l.level = level;
	l.text = text;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_LOG;
	env.log = &l;
	worker_send(w, &env);
}
