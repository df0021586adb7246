/* Messaging between the table and a worker (proto/ipc.proto 52..59, workers.h "Messaging"):
 *  - requests the worker waits on: SignalLoad (answered by workers_reply_signal with SignalRecords) and
 *    MessageStore (answered by workers_reply_store with StoreAck). A frame that breaks the limits is a protocol
 *    error: nothing is called and the worker is killed, as a worker that sends such a thing cannot be trusted
 *    with the store. A request nobody can serve (no callback) is refused with ok=false.
 *  - commands with an answer: SendMessage -> SendResult, CheckNumbers -> NumbersResult, MarkRead -> Result.
 *    They ride on ipc_peer's tracked requests (as SetPresence does), so each callback runs exactly once: the
 *    worker's validated answer; 504 after the deadline; 503 when the channel ends first (the process exited,
 *    was removed or restarted, or the table is freed: then during workers_free); or 500 when the answer is
 *    invalid (the worker is killed for it). */
#include "workers_int.h"
#include "worker_msg_check.h"
#include "ipc_peer.h"
#include "log.h"
#include "xmalloc.h"

#include <stdlib.h>
#include <string.h>

#define WORKER_MSG_GONE		503
#define WORKER_MSG_TIMEOUT	504
#define WORKER_MSG_INVALID	500

/* SignalLoad: records the worker needs before it can go on with a message. */
int
worker_msg_on_signal_load(void *arg, const IpcEnvelope *env)
{
	struct worker_rec *wk = arg;
	struct workers *w = wk->w;
	struct workers_sig_key *keys;
	struct worker_req *rq;
	const char *why;
	size_t n;

	if (worker_msg_check_signal_load(env->signal_load, &keys, &n, &why) == -1) {
		log_warnx("%s: invalid SignalLoad: %s", wk->name, why);
		return -1;
	}
	if (w->cbs.on_signal_load == NULL) {
		free(keys);
		worker_req_refuse(wk, env->request_id, WORKER_REQ_SIGNAL, "Signal records cannot be loaded");
		return 0;
	}
	rq = worker_req_new(wk, env->request_id, WORKER_REQ_SIGNAL, NULL, 0);
	rq->nkeys = n;
	/* The callback may answer at once, which frees rq: nothing below touches it. */
	w->cbs.on_signal_load(w->cbs.ctx, wk->id, rq->ticket, keys, n);
	free(keys);
	return 0;
}

/* MessageStore: Signal changes, messages, statuses and LID mappings to commit in one transaction. */
int
worker_msg_on_msg_store(void *arg, const IpcEnvelope *env)
{
	struct worker_rec *wk = arg;
	struct workers *w = wk->w;
	struct workers_msg_store m;
	struct worker_req *rq;
	const char *why;

	if (worker_msg_check_store(env->message_store, &m, &why) == -1) {
		log_warnx("%s: invalid MessageStore: %s", wk->name, why);
		return -1;
	}
	if (w->cbs.on_msg_store == NULL) {
		worker_msg_store_clear(&m);
		worker_req_refuse(wk, env->request_id, WORKER_REQ_STORE, "messages cannot be stored");
		return 0;
	}
	/* No creds: a MessageStore never changes what the next Start carries. */
	rq = worker_req_new(wk, env->request_id, WORKER_REQ_STORE, NULL, 0);
	w->cbs.on_msg_store(w->cbs.ctx, wk->id, rq->ticket, &m);
	worker_msg_store_clear(&m);
	return 0;
}

/* CallEvent: a call WhatsApp told the worker of; no answer. */
int
worker_msg_on_call(void *arg, const IpcEnvelope *env)
{
	struct worker_rec *wk = arg;
	struct workers *w = wk->w;
	struct workers_call c;
	const char *why;

	if (worker_msg_check_call(env->call_event, &c, &why) == -1) {
		log_warnx("%s: invalid CallEvent: %s", wk->name, why);
		return -1;
	}
	if (w->cbs.on_call != NULL)
		w->cbs.on_call(w->cbs.ctx, wk->id, &c);
	return 0;
}

/* Whether the caller's records can answer a SignalLoad of nkeys keys. */
static int
worker_msg_records_ok(const struct workers_sig_record *recs, size_t n, size_t nkeys)
{
	size_t i;

	if (n != nkeys || (n > 0 && recs == NULL))
		return 0;
	for (i = 0; i < n; i++)
		if (recs[i].found &&
		    (recs[i].len > WORKERS_SIG_RECORD_MAX || (recs[i].len > 0 && recs[i].data == NULL)))
			return 0;
	return 1;
}

int
workers_reply_signal(struct workers *w, const char *instance_id, uint64_t req, int ok, const char *error,
    const struct workers_sig_record *recs, size_t n)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__SignalRecords sr = WAGATE__IPC__SIGNAL_RECORDS__INIT;
	Wagate__Ipc__SignalRecord *rv = NULL, **rp = NULL;
	Wagate__Ipc__SignalKey *kv = NULL;
	struct worker_rec *wk = NULL;
	struct worker_req *rq = worker_req_find(w, instance_id, req, &wk);
	int rc = 0;
	size_t i;

	if (rq == NULL || rq->kind != WORKER_REQ_SIGNAL)
		return -1;
	if (ok && !worker_msg_records_ok(recs, n, rq->nkeys)) {
		/* The caller's bug; the worker still gets its one answer and does not wait forever. */
		log_warnx("%s: answer to SignalLoad %llu does not fit its keys (%zu records for %zu keys)", wk->name,
		    (unsigned long long)rq->request_id, n, rq->nkeys);
		ok = 0;
		error = "the supervisor could not load the records";
		rc = -1;
	}
	sr.ok = ok;
	sr.error = (char *)(error != NULL && !ok ? error : "");
	if (ok && n > 0) {
		rv = xcalloc(n, sizeof(*rv));
		rp = xcalloc(n, sizeof(*rp));
		kv = xcalloc(n, sizeof(*kv));
		for (i = 0; i < n; i++) {
			const struct workers_sig_record *r = &recs[i];

			wagate__ipc__signal_key__init(&kv[i]);
			kv[i].kind = (Wagate__Ipc__SignalKind)r->key.kind;
			kv[i].address = (char *)(r->key.address != NULL ? r->key.address : "");
			kv[i].group = (char *)(r->key.group != NULL ? r->key.group : "");
			kv[i].prekey_id = r->key.prekey_id;
			wagate__ipc__signal_record__init(&rv[i]);
			rv[i].key = &kv[i];
			rv[i].found = r->found;
			if (r->found) {
				rv[i].data.data = (uint8_t *)r->data;
				rv[i].data.len = r->len;
			}
			rp[i] = &rv[i];
		}
		sr.n_records = n;
		sr.records = rp;
	}
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_SIGNAL_RECORDS;
	env.signal_records = &sr;
	/* 512 records of up to 1 MiB each can outgrow one frame: say so, and the worker asks for fewer. */
	if (ok && ipc_frame_size(&env) == 0) {
		log_warnx("%s: answer to SignalLoad %llu is too large for one frame", wk->name,
		    (unsigned long long)rq->request_id);
		sr.ok = 0;
		sr.error = (char *)"the records do not fit in one answer; ask for fewer";
		sr.n_records = 0;
		sr.records = NULL;
	}
	worker_req_send(wk, rq, &env);
	free(rp);
	free(rv);
	free(kv);
	worker_req_free(wk, rq);
	return rc;
}

/* A command waiting for its answer: whom to tell, and what the answer must match. */
struct worker_msg_call {
	workers_send_cb send_cb;
	workers_numbers_cb numbers_cb;
	void *arg;
	size_t nasked;				/* CheckNumbers: numbers asked */
};

/* Tell a SendMessage's caller it failed (code, error). */
static void
worker_msg_send_fail(workers_send_cb cb, void *arg, int code, const char *error)
{
	struct workers_send_result r;

	memset(&r, 0, sizeof(r));
	r.code = code;
	r.error = error;
	r.id = r.remote_jid = r.remote_jid_alt = "";
	cb(arg, &r);
}

/* The SendResult of a SendMessage arrived (or will not). */
static int
worker_msg_send_done_cb(void *arg, enum ipc_peer_outcome how, const IpcEnvelope *reply)
{
	struct worker_msg_call *call = arg;
	workers_send_cb cb = call->send_cb;
	void *cbarg = call->arg;
	struct workers_send_result r;

	free(call);
	switch (how) {
	case IPC_PEER_REPLIED:
		if (worker_msg_check_send_result(reply->send_result, &r) == -1) {
			worker_msg_send_fail(cb, cbarg, WORKER_MSG_INVALID, "the worker sent an invalid answer");
			return -1;
		}
		cb(cbarg, &r);
		return 0;
	case IPC_PEER_TIMED_OUT:
		worker_msg_send_fail(cb, cbarg, WORKER_MSG_TIMEOUT, "timeout");
		return 0;
	default:
		/* Cancelled: possibly inside ipc_peer_free, so nothing here touches the peer. */
		worker_msg_send_fail(cb, cbarg, WORKER_MSG_GONE, "the worker went away");
		return 0;
	}
}

/* The NumbersResult of a CheckNumbers arrived (or will not). */
static int
worker_msg_numbers_done_cb(void *arg, enum ipc_peer_outcome how, const IpcEnvelope *reply)
{
	struct worker_msg_call *call = arg;
	workers_numbers_cb cb = call->numbers_cb;
	void *cbarg = call->arg;
	size_t nasked = call->nasked;
	struct workers_number *v;
	const char *error;
	int code;

	free(call);
	switch (how) {
	case IPC_PEER_REPLIED:
		if (worker_msg_check_numbers(reply->numbers_result, nasked, &v, &code, &error) == -1) {
			cb(cbarg, 0, WORKER_MSG_INVALID, "the worker sent an invalid answer", NULL, 0);
			return -1;
		}
		if (v != NULL)
			cb(cbarg, 1, 0, NULL, v, nasked);
		else
			cb(cbarg, 0, code, error, NULL, 0);
		free(v);
		return 0;
	case IPC_PEER_TIMED_OUT:
		cb(cbarg, 0, WORKER_MSG_TIMEOUT, "timeout", NULL, 0);
		return 0;
	default:
		cb(cbarg, 0, WORKER_MSG_GONE, "the worker went away", NULL, 0);
		return 0;
	}
}

/* The ready worker of an instance, or NULL. */
static struct worker_rec *
worker_msg_ready(const struct workers *w, const char *instance_id)
{
	struct worker_rec *wk = workers_find(w, instance_id);

	return wk != NULL && wk->phase == WK_READY && wk->peer != NULL ? wk : NULL;
}

/* Queue env as a request whose reply_case answer goes to done(call). 0, or -1 (call freed, done not called). */
static int
worker_msg_request(struct worker_rec *wk, IpcEnvelope *env, int reply_case, int timeout_ms,
    ipc_peer_reply_cb done, struct worker_msg_call *call)
{
	if (ipc_peer_request(wk->peer, env, reply_case, timeout_ms, done, call) == -1) {
		log_warnx("%s: could not queue %s", wk->name, ipc_msg_name((int)env->msg_case));
		free(call);
		return -1;
	}
	return 0;
}

/* A string the caller hands us for the worker: present, non-empty, bounded. */
static int
worker_msg_arg_ok(const char *s)
{
	return s != NULL && *s != '\0' && ipc_str_ok(s, WORKER_MSG_STR_MAX);
}

int
workers_send_message(struct workers *w, const char *instance_id, const struct workers_send *m,
    workers_send_cb cb, void *arg)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__SendMessage sm = WAGATE__IPC__SEND_MESSAGE__INIT;
	struct worker_rec *wk = worker_msg_ready(w, instance_id);
	struct worker_msg_call *call;

	if (wk == NULL || m == NULL || cb == NULL || !worker_msg_arg_ok(m->to) || m->message == NULL ||
	    m->message_len == 0 || m->message_len > WORKERS_MESSAGE_MAX ||
	    (m->id != NULL && !ipc_str_ok(m->id, WORKER_MSG_STR_MAX)))
		return -1;
	sm.to = (char *)m->to;
	sm.message.data = (uint8_t *)m->message;
	sm.message.len = m->message_len;
	sm.id = (char *)(m->id != NULL ? m->id : "");
	/* A third of the wait for the start leaves the rest for what follows it in the worker: the commit of the
	 * row, the stanza and WhatsApp's ack (worker: SEND_ACK_TIMEOUT_S, 30 of the 60 s). */
	sm.start_by_ms = (uint64_t)(workers_now_ms() + w->send_timeout_ms / WORKERS_SEND_START_PART);
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_SEND_MESSAGE;
	env.send_message = &sm;
	call = xcalloc(1, sizeof(*call));
	call->send_cb = cb;
	call->arg = arg;
	return worker_msg_request(wk, &env, WAGATE__IPC__ENVELOPE__MSG_SEND_RESULT, w->send_timeout_ms,
	    worker_msg_send_done_cb, call);
}

int
workers_check_numbers(struct workers *w, const char *instance_id, const char *const *numbers, size_t n,
    workers_numbers_cb cb, void *arg)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__CheckNumbers cn = WAGATE__IPC__CHECK_NUMBERS__INIT;
	struct worker_rec *wk = worker_msg_ready(w, instance_id);
	struct worker_msg_call *call;
	size_t i;

	if (wk == NULL || cb == NULL || numbers == NULL || n == 0 || n > WORKERS_NUMBERS_MAX)
		return -1;
	for (i = 0; i < n; i++)
		if (!worker_msg_arg_ok(numbers[i]))
			return -1;
	cn.n_numbers = n;
	cn.numbers = (char **)numbers;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_CHECK_NUMBERS;
	env.check_numbers = &cn;
	call = xcalloc(1, sizeof(*call));
	call->numbers_cb = cb;
	call->arg = arg;
	call->nasked = n;
	return worker_msg_request(wk, &env, WAGATE__IPC__ENVELOPE__MSG_NUMBERS_RESULT, w->query_timeout_ms,
	    worker_msg_numbers_done_cb, call);
}

int
workers_mark_read(struct workers *w, const char *instance_id, const struct workers_msg_key *keys, size_t n,
    workers_result_cb cb, void *arg)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__MarkRead mr = WAGATE__IPC__MARK_READ__INIT;
	struct worker_rec *wk = worker_msg_ready(w, instance_id);
	Wagate__Ipc__MessageKey *kv, **kp;
	size_t i;
	int rc;

	if (wk == NULL || cb == NULL || keys == NULL || n == 0 || n > WORKERS_READ_KEYS_MAX)
		return -1;
	for (i = 0; i < n; i++)
		if (!worker_msg_arg_ok(keys[i].remote_jid) || !worker_msg_arg_ok(keys[i].id) ||
		    (keys[i].participant != NULL && !ipc_str_ok(keys[i].participant, WORKER_MSG_STR_MAX)))
			return -1;
	kv = xcalloc(n, sizeof(*kv));
	kp = xcalloc(n, sizeof(*kp));
	for (i = 0; i < n; i++) {
		wagate__ipc__message_key__init(&kv[i]);
		kv[i].remote_jid = (char *)keys[i].remote_jid;
		kv[i].id = (char *)keys[i].id;
		kv[i].participant = (char *)(keys[i].participant != NULL ? keys[i].participant : "");
		kv[i].from_me = keys[i].from_me;
		kp[i] = &kv[i];
	}
	mr.n_keys = n;
	mr.keys = kp;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_MARK_READ;
	env.mark_read = &mr;
	/* The frame is packed while queued, so the key arrays can go right after. */
	rc = worker_ipc_call(wk, &env, w->query_timeout_ms, cb, arg);
	free(kp);
	free(kv);
	return rc;
}
