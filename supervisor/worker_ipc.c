/* The supervisor's end of one worker's channel: an ipc_peer on the socketpair, what we send (Start built from
 * the record and the table's config, commands, replies), and the dispatch table of what a worker may send,
 * with the per-field caps of its handlers (STYLE rules 14, 15). A protocol error kills only that worker. */
#include "workers_int.h"
#include "conn_state.h"
#include "ipc_peer.h"
#include "log.h"
#include "xmalloc.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Ready: the worker runs and took Start. */
static int
worker_ipc_on_ready(void *arg, const IpcEnvelope *env)
{
	struct worker_rec *wk = arg;

	if (!ipc_str_ok(env->ready->version, WORKERS_FIELD_MAX) || wk->adopted)
		return -1;
	if (env->ready->pid != wk->pid)
		log_warnx("%s: worker says pid %d, we forked %d", wk->name, env->ready->pid, (int)wk->pid);
	if (strcmp(env->ready->version, WAGATE_VERSION) != 0)
		log_warnx("%s: worker version %s, supervisor %s", wk->name, env->ready->version, WAGATE_VERSION);
	log_debug("%s: worker %d ready", wk->name, (int)wk->pid);
	workers_ready(wk);
	workers_ready_done(wk);
	return 0;
}

/* ConnectionUpdate: pass the state on. */
static int
worker_ipc_on_connection_update(void *arg, const IpcEnvelope *env)
{
	const Wagate__Ipc__ConnectionUpdate *cu = env->connection_update;
	struct worker_rec *wk = arg;
	struct workers *w = wk->w;
	struct workers_account acct;

	if (!conn_state_valid((int)cu->state) || !ipc_str_ok(cu->detail, WORKERS_DETAIL_MAX) ||
	    !ipc_str_ok(cu->jid, WORKERS_FIELD_MAX) || !ipc_str_ok(cu->lid, WORKERS_FIELD_MAX) ||
	    !ipc_str_ok(cu->push_name, WORKERS_FIELD_MAX))
		return -1;
	acct.jid = cu->jid;
	acct.lid = cu->lid;
	acct.push_name = cu->push_name;
	/* An adopted worker's exit status is not ours to read: remember that its end will be a logout. */
	if ((int)cu->state == CONN_CLOSE && cu->reason == REASON_LOGGED_OUT)
		wk->logged_out = 1;
	if (w->cbs.on_state != NULL)
		w->cbs.on_state(w->cbs.ctx, wk->id, (int)cu->state, cu->reason, cu->detail,
		    (int)cu->state == CONN_OPEN ? &acct : NULL);
	return 0;
}

/* Log: one line into our log, bounded and with control characters replaced. */
static int
worker_ipc_on_log(void *arg, const IpcEnvelope *env)
{
	struct worker_rec *wk = arg;
	char text[WORKERS_LOG_MAX + 1];
	size_t i;

	snprintf(text, sizeof(text), "%s", env->log->text);
	for (i = 0; text[i] != '\0'; i++)
		if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
			text[i] = '?';
	switch (env->log->level) {
	case LOG_LEVEL_ERROR:
	case LOG_LEVEL_WARN:
		log_warnx("worker %s: %s", wk->name, text);
		break;
	case LOG_LEVEL_INFO:
		log_info("worker %s: %s", wk->name, text);
		break;
	default:
		log_debug("worker %s: %s", wk->name, text);
		break;
	}
	return 0;
}

/* Result: the reply to a command sent without a callback (one with a callback, SetPresence or MarkRead, goes
 * to worker_ipc_call_done_cb instead); only failures are interesting. */
static int
worker_ipc_on_result(void *arg, const IpcEnvelope *env)
{
	struct worker_rec *wk = arg;

	if (!ipc_str_ok(env->result->error, WORKERS_DETAIL_MAX))
		return -1;
	if (!env->result->ok)
		log_warnx("%s: request %llu failed (%d): %s", wk->name, (unsigned long long)env->request_id,
		    env->result->code, env->result->error);
	return 0;
}

/* QrUpdate: a QR string or pairing code to show. */
static int
worker_ipc_on_qr_update(void *arg, const IpcEnvelope *env)
{
	const Wagate__Ipc__QrUpdate *q = env->qr_update;
	struct worker_rec *wk = arg;
	struct workers *w = wk->w;

	if (!ipc_str_ok(q->qr, WORKERS_QR_MAX) || !ipc_str_ok(q->pairing_code, WORKERS_FIELD_MAX))
		return -1;
	if (w->cbs.on_qr != NULL)
		w->cbs.on_qr(w->cbs.ctx, wk->id, q->qr, q->count, q->pairing_code);
	return 0;
}

/* Every message a worker may send, and in which phases (STYLE rule 15). */
static const struct ipc_peer_dispatch worker_ipc_table[] = {
	{ WAGATE__IPC__ENVELOPE__MSG_READY, WK_STARTING, worker_ipc_on_ready },
	{ WAGATE__IPC__ENVELOPE__MSG_PONG, WK_READY | WK_STOPPING, worker_heartbeat_on_pong },
	{ WAGATE__IPC__ENVELOPE__MSG_CONNECTION_UPDATE, WK_READY | WK_STOPPING, worker_ipc_on_connection_update },
	{ WAGATE__IPC__ENVELOPE__MSG_LOG, WK_STARTING | WK_READY | WK_STOPPING, worker_ipc_on_log },
	{ WAGATE__IPC__ENVELOPE__MSG_RESULT, WK_READY | WK_STOPPING, worker_ipc_on_result },
	{ WAGATE__IPC__ENVELOPE__MSG_QR_UPDATE, WK_READY, worker_ipc_on_qr_update },
	{ WAGATE__IPC__ENVELOPE__MSG_PAIR_SUCCESS, WK_READY, worker_req_on_pair_success },
	/* A stopping worker may still be saving what it has; storing it is always safe. */
	{ WAGATE__IPC__ENVELOPE__MSG_STORE_BATCH, WK_READY | WK_STOPPING, worker_req_on_store_batch },
	{ WAGATE__IPC__ENVELOPE__MSG_ADOPTED, WK_STARTING, worker_adopt_on_adopted },
	/* Messaging (worker_msg.c). A stopping worker may still need records to finish a message it is taking
	 * in, and may still be saving one; answers to our commands count until the process is gone. */
	{ WAGATE__IPC__ENVELOPE__MSG_SIGNAL_LOAD, WK_READY | WK_STOPPING, worker_msg_on_signal_load },
	{ WAGATE__IPC__ENVELOPE__MSG_MESSAGE_STORE, WK_READY | WK_STOPPING, worker_msg_on_msg_store },
	{ WAGATE__IPC__ENVELOPE__MSG_SEND_RESULT, WK_READY | WK_STOPPING, NULL },
	{ WAGATE__IPC__ENVELOPE__MSG_NUMBERS_RESULT, WK_READY | WK_STOPPING, NULL },
	/* Groups (worker_group.c): answers to our commands, as above. */
	{ WAGATE__IPC__ENVELOPE__MSG_GROUP_RESULT, WK_READY | WK_STOPPING, NULL },
	/* Calls (worker_msg.c): what a stopping worker still saw is still news. */
	{ WAGATE__IPC__ENVELOPE__MSG_CALL_EVENT, WK_READY | WK_STOPPING, worker_msg_on_call },
};

/* The phase the table is checked against. */
static unsigned
worker_ipc_phase_cb(void *arg)
{
	return ((struct worker_rec *)arg)->phase;
}

/* A worker broke the protocol: log it and kill it (it will be restarted). Never affects the supervisor. */
static void
worker_ipc_error_cb(void *arg, const char *what)
{
	struct worker_rec *wk = arg;
	char reason[128];

	log_warnx("%s: worker %d: %s; killing it", wk->name, (int)wk->pid, what);
	snprintf(reason, sizeof(reason), "protocol error: %s", what);
	wk->protocol_error = 1;
	worker_reap_kill(wk, reason);
}

/* The worker closed its end (or the socket failed): it should exit now; kill it if it does not. */
static void
worker_ipc_close_cb(void *arg, int error)
{
	struct worker_rec *wk = arg;

	(void)error;
	if (wk->phase == WK_STARTING || wk->phase == WK_READY) {
		log_debug("%s: worker %d closed its channel", wk->name, (int)wk->pid);
		workers_set_phase(wk, WK_STOPPING);
		workers_timer_ms(wk->timer, WORKERS_GRACE_MS);
	}
}

/* Put our end of a fresh process's socketpair in a peer. 0, or -1 (fd still the caller's). */
int
worker_ipc_open(struct worker_rec *wk, int fd)
{
	struct ipc_peer_cbs cbs = { worker_ipc_table, sizeof(worker_ipc_table) / sizeof(worker_ipc_table[0]),
	    worker_ipc_phase_cb, worker_ipc_error_cb, worker_ipc_close_cb, wk };

	return (wk->peer = ipc_peer_new(wk->w->base, fd, &cbs)) != NULL ? 0 : -1;
}

/* Release the channel (the reaper's job: never from inside the peer's own callbacks). */
void
worker_ipc_close(struct worker_rec *wk)
{
	struct ipc_peer *p = wk->peer;

	/* Pending commands hear "gone" from inside ipc_peer_free; a caller that sends again from that callback
	 * must find no channel, not queue on the one being freed (and be cancelled again, and again). */
	wk->peer = NULL;
	ipc_peer_free(p);
}

/* Queue one message to a live worker with a fresh request id (its Result is only logged). */
int
worker_ipc_send(struct worker_rec *wk, IpcEnvelope *env)
{
	if (wk->peer == NULL || !(wk->phase & WK_ALIVE))
		return -1;
	if (ipc_peer_request(wk->peer, env, 0, 0, NULL, NULL) == -1) {
		log_warnx("%s: could not queue %s", wk->name, ipc_msg_name((int)env->msg_case));
		return -1;
	}
	return 0;
}

/* Queue a reply to the worker's request request_id. */
int
worker_ipc_reply(struct worker_rec *wk, IpcEnvelope *env, uint64_t request_id)
{
	if (wk->peer == NULL || !(wk->phase & WK_ALIVE))
		return -1;
	env->request_id = request_id;
	if (ipc_peer_send(wk->peer, env) == -1) {
		log_warnx("%s: could not queue %s", wk->name, ipc_msg_name((int)env->msg_case));
		return -1;
	}
	return 0;
}

/* Send a message that has no fields of its own (Shutdown, Logout, DatabaseBack). */
int
worker_ipc_send_empty(struct worker_rec *wk, int msg_case)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Shutdown sd = WAGATE__IPC__SHUTDOWN__INIT;
	Wagate__Ipc__Logout lo = WAGATE__IPC__LOGOUT__INIT;
	Wagate__Ipc__DatabaseBack db = WAGATE__IPC__DATABASE_BACK__INIT;

	env.msg_case = (Wagate__Ipc__Envelope__MsgCase)msg_case;
	if (msg_case == WAGATE__IPC__ENVELOPE__MSG_SHUTDOWN)
		env.shutdown = &sd;
	else if (msg_case == WAGATE__IPC__ENVELOPE__MSG_DATABASE_BACK)
		env.database_back = &db;
	else
		env.logout = &lo;
	return worker_ipc_send(wk, &env);
}

/* Send Connect (number may be NULL). */
int
worker_ipc_send_connect(struct worker_rec *wk, const char *number)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Connect c = WAGATE__IPC__CONNECT__INIT;

	c.number = (char *)(number != NULL ? number : "");
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_CONNECT;
	env.connect = &c;
	return worker_ipc_send(wk, &env);
}

/* Fill Start from the record and the table's config (pointers into both; set and px are the caller's). */
static void
worker_ipc_fill_start(struct worker_rec *wk, Wagate__Ipc__Start *st_out, Wagate__Ipc__Settings *set,
    Wagate__Ipc__Proxy *px)
{
	struct workers *w = wk->w;
	Wagate__Ipc__Start *st = st_out;

	settings_to_ipc(&wk->settings, set);
	proxy_to_ipc(&wk->proxy, px);
	st->instance_id = wk->id;
	st->instance_name = wk->name;
	st->settings = set;
	st->proxy = px;
	st->wa_url = w->cfg.wa_url != NULL ? (char *)w->cfg.wa_url : (char *)"";
	st->wa_media_url = w->cfg.wa_media_url != NULL ? (char *)w->cfg.wa_media_url : (char *)"";
	st->wa_tls_ca_file = w->cfg.wa_tls_ca_file != NULL ? (char *)w->cfg.wa_tls_ca_file : (char *)"";
	st->wa_root_key.data = (uint8_t *)w->cfg.wa_root_key;
	st->wa_root_key.len = w->cfg.wa_root_key != NULL ? w->cfg.wa_root_key_len : 0;
	st->log_level = w->cfg.log_level;
	st->qrcode_limit = w->cfg.qrcode_limit;
	st->qr_first_ms = w->cfg.qr_first_ms;
	st->qr_next_ms = w->cfg.qr_next_ms;
	st->keepalive_ms = w->cfg.keepalive_ms;
	st->keepalive_deadline_ms = w->cfg.keepalive_deadline_ms;
	st->runtime_dir = w->cfg.runtime_dir != NULL ? (char *)w->cfg.runtime_dir : (char *)"";
	st->orphan_grace_s = w->cfg.orphan_grace_s;
}

/* Send Adopt: what a Start would carry now, without credentials (the worker keeps its session). */
int
worker_ipc_send_adopt(struct worker_rec *wk)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Adopt ad = WAGATE__IPC__ADOPT__INIT;
	Wagate__Ipc__Start st = WAGATE__IPC__START__INIT;
	Wagate__Ipc__Settings set;
	Wagate__Ipc__Proxy px;

	worker_ipc_fill_start(wk, &st, &set, &px);
	ad.start = &st;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_ADOPT;
	env.adopt = &ad;
	return worker_ipc_send(wk, &env);
}

/* Send Start, built from the record and the table's config. */
int
worker_ipc_send_start(struct worker_rec *wk)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Start st = WAGATE__IPC__START__INIT;
	Wagate__Ipc__Settings set;
	Wagate__Ipc__Proxy px;
	int rc;

	worker_ipc_fill_start(wk, &st, &set, &px);
	st.connect_now = wk->connect_now || wk->pending_connect;
	st.creds.data = wk->creds;
	st.creds.len = wk->creds_len;
	st.connect_number = wk->pending_connect && wk->pending_number != NULL ? wk->pending_number : (char *)"";
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_START;
	env.start = &st;
	rc = worker_ipc_send(wk, &env);
	/* Start carried the queued Connect. */
	wk->pending_connect = 0;
	free(wk->pending_number);
	wk->pending_number = NULL;
	return rc;
}

/* Send UpdateSettings and UpdateProxy with the record's current values. */
int
worker_ipc_send_update(struct worker_rec *wk)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__UpdateSettings us = WAGATE__IPC__UPDATE_SETTINGS__INIT;
	Wagate__Ipc__UpdateProxy up = WAGATE__IPC__UPDATE_PROXY__INIT;
	Wagate__Ipc__Settings set;
	Wagate__Ipc__Proxy px;

	settings_to_ipc(&wk->settings, &set);
	us.settings = &set;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_UPDATE_SETTINGS;
	env.update_settings = &us;
	if (worker_ipc_send(wk, &env) == -1)
		return -1;
	proxy_to_ipc(&wk->proxy, &px);
	up.proxy = &px;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_UPDATE_PROXY;
	env.update_proxy = &up;
	return worker_ipc_send(wk, &env);
}

/* A command waiting for its Result: whom to tell. */
struct worker_ipc_call {
	workers_result_cb cb;
	void *arg;
};

/* A refusing Result's code (a Reason) as workers_result_cb's status. */
static int
worker_ipc_result_status(int32_t code)
{
	switch (code) {
	case WAGATE__IPC__REASON__REASON_CONNECTION_CLOSED:
	case WAGATE__IPC__REASON__REASON_UNAVAILABLE:
		return 503;
	case WAGATE__IPC__REASON__REASON_TIMED_OUT:
	case 504:
		return 504;
	case WAGATE__IPC__REASON__REASON_NONE:
		return 400;
	default:
		return 500;
	}
}

/* The Result of a command sent with a callback arrived (or will not): tell the caller once. */
static int
worker_ipc_call_done_cb(void *arg, enum ipc_peer_outcome how, const IpcEnvelope *reply)
{
	struct worker_ipc_call *call = arg;
	workers_result_cb cb = call->cb;
	void *cbarg = call->arg;

	free(call);
	switch (how) {
	case IPC_PEER_REPLIED:
		if (!ipc_str_ok(reply->result->error, WORKERS_DETAIL_MAX)) {
			cb(cbarg, 0, 503, "the worker sent an invalid answer");
			return -1;
		}
		if (reply->result->ok)
			cb(cbarg, 1, 0, NULL);
		else
			cb(cbarg, 0, worker_ipc_result_status(reply->result->code),
			    *reply->result->error != '\0' ? reply->result->error : "the worker refused");
		return 0;
	case IPC_PEER_TIMED_OUT:
		cb(cbarg, 0, 504, "the worker did not answer in time");
		return 0;
	default:
		/* Cancelled: possibly inside ipc_peer_free, so nothing here touches the peer. */
		cb(cbarg, 0, 503, "the worker stopped before answering");
		return 0;
	}
}

/* Send a command answered by Result (SetPresence, MarkRead); the Result goes to cb. */
int
worker_ipc_call(struct worker_rec *wk, IpcEnvelope *env, int timeout_ms, workers_result_cb cb, void *arg)
{
	struct worker_ipc_call *call;

	if (wk->peer == NULL || !(wk->phase & WK_ALIVE))
		return -1;
	call = xcalloc(1, sizeof(*call));
	call->cb = cb;
	call->arg = arg;
	if (ipc_peer_request(wk->peer, env, WAGATE__IPC__ENVELOPE__MSG_RESULT, timeout_ms, worker_ipc_call_done_cb,
	    call) == -1) {
		log_warnx("%s: could not queue %s", wk->name, ipc_msg_name((int)env->msg_case));
		free(call);
		return -1;
	}
	return 0;
}

/* Send SetPresence; its Result goes to cb (see workers_set_presence). */
int
worker_ipc_send_presence(struct worker_rec *wk, const char *to, const char *presence, workers_result_cb cb,
    void *arg)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__SetPresence sp = WAGATE__IPC__SET_PRESENCE__INIT;

	sp.presence = (char *)presence;
	if (to != NULL)
		sp.to = (char *)to;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_SET_PRESENCE;
	env.set_presence = &sp;
	return worker_ipc_call(wk, &env, WORKERS_PRESENCE_TIMEOUT_MS, cb, arg);
}
