/* The worker's own requests to the supervisor (StoreBatch -> StoreAck, PairSuccess -> Result, SignalLoad ->
 * SignalRecords, MessageStore -> StoreAck): ids and timeouts
 * are the IPC peer's; a request the supervisor's death cancelled waits (bounded) for the next supervisor when
 * this worker may be adopted, and is sent again from its packed copy. */
#include "worker_int.h"
#include "log.h"
#include "xmalloc.h"

#include <stdlib.h>

/* Release one request record. */
void
worker_call_free(struct worker_call *c)
{
	if (c == NULL)
		return;
	free_wiped(c->frame, c->len);
	free(c);
}

void
worker_call_fail(struct worker_call *c, const char *error)
{
	worker_reply_cb cb = c->cb;
	worker_signal_cb scb = c->scb;
	void *arg = c->arg;

	worker_call_free(c);
	if (scb != NULL)
		scb(arg, 0, error, NULL, 0);
	else
		cb(arg, 0, error);
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
void
worker_call_free_held(struct worker *w)
{
	struct worker_call *c;

	while ((c = TAILQ_FIRST(&w->held)) != NULL) {
		TAILQ_REMOVE(&w->held, c, entry);
		worker_call_free(c);
	}
	w->nheld = 0;
	w->held_bytes = 0;
}

/* SignalRecords for a SignalLoad: the supervisor's strings and count are checked here (the records' keys
 * against what was asked by the caller). 0, or -1 for an invalid reply. */
static int
worker_call_records(struct worker_call *c, const Wagate__Ipc__SignalRecords *r)
{
	worker_signal_cb scb = c->scb;
	void *arg = c->arg;
	size_t i;

	worker_call_free(c);
	if (!ipc_str_ok(r->error, WORKER_FIELD_MAX) || r->n_records > WORKER_SIGNAL_KEYS_MAX)
		return -1;
	for (i = 0; i < r->n_records; i++)
		if (r->records[i]->key == NULL || !ipc_str_ok(r->records[i]->key->address, WORKER_FIELD_MAX) ||
		    !ipc_str_ok(r->records[i]->key->group, WORKER_FIELD_MAX))
			return -1;
	if (!r->ok) {
		scb(arg, 0, *r->error != '\0' ? r->error : "failed", NULL, 0);
		return 0;
	}
	scb(arg, 1, NULL, r->records, r->n_records);
	return 0;
}

/* The end of one of our requests: the reply (StoreAck, Result or SignalRecords), a timeout, or a cancel at
 * exit. */
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
		if (worker_can_hold(w)) {
			if (worker_hold(w, c) == 0)
				return 0;
			/* The session goes on, so its callback must hear of it (the executor would wait forever);
			 * the callbacks only record the failure and never call into the peer from here. */
			log_warnx("%s: %s not kept for the next supervisor: the hold is full", worker_label(w),
			    c->what);
			worker_call_fail(c, "supervisor gone");
			return 0;
		}
		/* The session is going away: nothing is called back (worker.h). */
		worker_call_free(c);
		return 0;
	}
	if (how == IPC_PEER_TIMED_OUT) {
		log_warnx("%s: no reply to %s within %d s", worker_label(w), c->what, WORKER_REQUEST_TIMEOUT_S);
		worker_call_fail(c, "timeout");
		return 0;
	}
	if (env->msg_case == WAGATE__IPC__ENVELOPE__MSG_SIGNAL_RECORDS)
		return worker_call_records(c, env->signal_records);
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
int
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
worker_request_send(struct worker *w, IpcEnvelope *env, int reply_case, worker_reply_cb cb, worker_signal_cb scb,
    void *arg)
{
	struct worker_call *c;
	size_t len;

	if ((w->phase != WORKER_PHASE_RUNNING && w->phase != WORKER_PHASE_ORPHAN) || (cb == NULL) == (scb == NULL))
		return -1;
	c = xcalloc(1, sizeof(*c));
	c->w = w;
	c->what = ipc_msg_name((int)env->msg_case);
	c->reply_case = reply_case;
	c->cb = cb;
	c->scb = scb;
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
	rc = worker_request_send(w, &env, WAGATE__IPC__ENVELOPE__MSG_STORE_ACK, cb, NULL, arg);
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
	return worker_request_send(w, &env, WAGATE__IPC__ENVELOPE__MSG_RESULT, cb, NULL, arg);
}

int
worker_request_signal_load(struct worker *w, Wagate__Ipc__SignalKey **keys, size_t n, worker_signal_cb cb,
    void *arg)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__SignalLoad sl = WAGATE__IPC__SIGNAL_LOAD__INIT;

	if (n == 0 || n > WORKER_SIGNAL_KEYS_MAX || cb == NULL)
		return -1;
	sl.keys = keys;
	sl.n_keys = n;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_SIGNAL_LOAD;
	env.signal_load = &sl;
	return worker_request_send(w, &env, WAGATE__IPC__ENVELOPE__MSG_SIGNAL_RECORDS, NULL, cb, arg);
}

int
worker_request_msg_store(struct worker *w, const Wagate__Ipc__MessageStore *m, worker_reply_cb cb, void *arg)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;

	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_MESSAGE_STORE;
	env.message_store = (Wagate__Ipc__MessageStore *)m;
	return worker_request_send(w, &env, WAGATE__IPC__ENVELOPE__MSG_STORE_ACK, cb, NULL, arg);
}
