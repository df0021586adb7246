/* Requests a worker waits on (PairSuccess -> Result, StoreBatch and MessageStore -> StoreAck, SignalLoad ->
 * SignalRecords; the messaging ones are taken in by worker_msg.c): checked against the limits, handed to the
 * caller under a table-wide ticket, answered exactly once to the process that asked; and custody of the
 * credentials the next Start carries (only committed ones, forgotten on logout). */
#include "workers_int.h"
#include "conn_state.h"
#include "log.h"
#include "xmalloc.h"

#include <stdlib.h>
#include <string.h>

/* Remember an unanswered request; creds (copied) are what to keep once it is committed. */
struct worker_req *
worker_req_new(struct worker_rec *wk, uint64_t request_id, enum worker_req_kind kind, const unsigned char *creds,
    size_t len)
{
	struct worker_req *rq = xcalloc(1, sizeof(*rq));

	rq->ticket = ++wk->w->next_ticket;
	rq->request_id = request_id;
	rq->gen = wk->gen;
	rq->kind = kind;
	if (creds != NULL && len > 0) {
		rq->creds = xmalloc(len);
		memcpy(rq->creds, creds, len);
		rq->creds_len = len;
	}
	TAILQ_INSERT_TAIL(&wk->reqs, rq, entry);
	return rq;
}

/* Unlink and free one request, wiping its creds. */
void
worker_req_free(struct worker_rec *wk, struct worker_req *rq)
{
	TAILQ_REMOVE(&wk->reqs, rq, entry);
	free_wiped(rq->creds, rq->creds_len);
	free(rq);
}

/* Send env as the answer to rq, to the process that asked, if it is still there. */
void
worker_req_send(struct worker_rec *wk, const struct worker_req *rq, IpcEnvelope *env)
{
	if (rq->gen != wk->gen || !(wk->phase & (WK_READY | WK_STOPPING)) || wk->peer == NULL) {
		log_debug("%s: the worker that sent request %llu is gone; answer dropped", wk->name,
		    (unsigned long long)rq->request_id);
		return;
	}
	worker_ipc_reply(wk, env, rq->request_id);
}

/* Send Result, StoreAck or (failed) SignalRecords for rq, by its kind. */
static void
worker_req_answer(struct worker_rec *wk, const struct worker_req *rq, int ok, const char *error)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Result res = WAGATE__IPC__RESULT__INIT;
	Wagate__Ipc__StoreAck ack = WAGATE__IPC__STORE_ACK__INIT;
	Wagate__Ipc__SignalRecords recs = WAGATE__IPC__SIGNAL_RECORDS__INIT;
	char *err = (char *)(error != NULL ? error : "");

	switch (rq->kind) {
	case WORKER_REQ_PAIR:
		res.ok = ok;
		res.code = ok ? 0 : REASON_BAD_SESSION;
		res.error = err;
		env.msg_case = WAGATE__IPC__ENVELOPE__MSG_RESULT;
		env.result = &res;
		break;
	case WORKER_REQ_STORE:
		ack.ok = ok;
		ack.error = err;
		env.msg_case = WAGATE__IPC__ENVELOPE__MSG_STORE_ACK;
		env.store_ack = &ack;
		break;
	case WORKER_REQ_SIGNAL:
		/* Records are sent by workers_reply_signal; this path only ever says no. */
		recs.ok = 0;
		recs.error = err;
		env.msg_case = WAGATE__IPC__ENVELOPE__MSG_SIGNAL_RECORDS;
		env.signal_records = &recs;
		break;
	}
	worker_req_send(wk, rq, &env);
}

/* Refuse a request at once (invalid, or nobody to store it). */
void
worker_req_refuse(struct worker_rec *wk, uint64_t request_id, enum worker_req_kind kind, const char *error)
{
	static const char *const names[] = { "StoreBatch", "PairSuccess", "SignalLoad" };
	struct worker_req *rq = worker_req_new(wk, request_id, kind, NULL, 0);

	log_warnx("%s: %s refused: %s", wk->name, names[kind], error);
	worker_req_answer(wk, rq, 0, error);
	worker_req_free(wk, rq);
}

/* PairSuccess: the phone linked this device; the caller stores creds and owner JID, then answers. */
int
worker_req_on_pair_success(void *arg, const IpcEnvelope *env)
{
	const Wagate__Ipc__PairSuccess *p = env->pair_success;
	struct worker_rec *wk = arg;
	struct workers *w = wk->w;
	struct workers_pair pair;
	struct worker_req *rq;

	if (!ipc_str_ok(p->jid, WORKERS_FIELD_MAX) || !ipc_str_ok(p->lid, WORKERS_FIELD_MAX) ||
	    !ipc_str_ok(p->push_name, WORKERS_FIELD_MAX) || !ipc_str_ok(p->platform, WORKERS_FIELD_MAX) ||
	    !ipc_str_ok(p->business_name, WORKERS_FIELD_MAX))
		return -1;
	if (p->creds.len == 0 || p->creds.len > WORKERS_CREDS_MAX || *p->jid == '\0') {
		worker_req_refuse(wk, env->request_id, WORKER_REQ_PAIR, p->creds.len == 0 ? "no credentials" :
		    *p->jid == '\0' ? "no jid" : "credentials too large");
		return 0;
	}
	if (w->cbs.on_pair_success == NULL) {
		worker_req_refuse(wk, env->request_id, WORKER_REQ_PAIR, "credentials cannot be stored");
		return 0;
	}
	rq = worker_req_new(wk, env->request_id, WORKER_REQ_PAIR, p->creds.data, p->creds.len);
	pair.jid = p->jid;
	pair.lid = p->lid;
	pair.push_name = p->push_name;
	pair.platform = p->platform;
	pair.business_name = p->business_name;
	pair.creds = p->creds.data;
	pair.creds_len = p->creds.len;
	w->cbs.on_pair_success(w->cbs.ctx, wk->id, rq->ticket, &pair);
	return 0;
}

/* Check a StoreBatch against the limits; NULL if fine, else why not. */
static const char *
worker_req_store_check(const Wagate__Ipc__StoreBatch *b)
{
	size_t i, j;

	if (b->creds.len > WORKERS_CREDS_MAX)
		return "credentials too large";
	if (b->n_prekeys > WORKERS_PREKEYS_MAX)
		return "too many prekeys in one batch";
	if (b->prekeys_uploaded_upto > WORKERS_PREKEY_ID_MAX)
		return "prekeys_uploaded_upto out of range";
	for (i = 0; i < b->n_prekeys; i++) {
		const Wagate__Ipc__PreKey *k = b->prekeys[i];

		if (k->id < 1 || k->id > WORKERS_PREKEY_ID_MAX)
			return "prekey id out of range";
		if (k->record.len == 0 || k->record.len > WORKERS_PREKEY_RECORD_MAX)
			return "prekey record size out of range";
		/* A repeated id is a worker bug; batches are small enough for a quadratic look. */
		for (j = 0; j < i; j++)
			if (b->prekeys[j]->id == k->id)
				return "prekey id repeated in the batch";
	}
	return NULL;
}

/* StoreBatch: creds and prekeys to commit before the worker may use them. */
int
worker_req_on_store_batch(void *arg, const IpcEnvelope *env)
{
	const Wagate__Ipc__StoreBatch *b = env->store_batch;
	struct worker_rec *wk = arg;
	struct workers *w = wk->w;
	struct workers_store st;
	struct workers_prekey *keys = NULL;
	struct worker_req *rq;
	const char *why;
	size_t i;

	if ((why = worker_req_store_check(b)) != NULL) {
		worker_req_refuse(wk, env->request_id, WORKER_REQ_STORE, why);
		return 0;
	}
	if (w->cbs.on_store == NULL) {
		worker_req_refuse(wk, env->request_id, WORKER_REQ_STORE, "nothing can be stored");
		return 0;
	}
	rq = worker_req_new(wk, env->request_id, WORKER_REQ_STORE, b->creds.data, b->creds.len);
	if (b->n_prekeys > 0)
		keys = xcalloc(b->n_prekeys, sizeof(*keys));
	for (i = 0; i < b->n_prekeys; i++) {
		keys[i].id = b->prekeys[i]->id;
		keys[i].record = b->prekeys[i]->record.data;
		keys[i].len = b->prekeys[i]->record.len;
	}
	st.creds = b->creds.len > 0 ? b->creds.data : NULL;
	st.creds_len = b->creds.len;
	st.prekeys = keys;
	st.nprekeys = b->n_prekeys;
	st.prekeys_uploaded_upto = b->prekeys_uploaded_upto;
	w->cbs.on_store(w->cbs.ctx, wk->id, rq->ticket, &st);
	free(keys);
	return 0;
}

/* Find the unanswered request req of an instance. */
struct worker_req *
worker_req_find(const struct workers *w, const char *instance_id, uint64_t req, struct worker_rec **wkp)
{
	struct worker_rec *wk = workers_find(w, instance_id);
	struct worker_req *rq;

	if (wk == NULL)
		return NULL;
	TAILQ_FOREACH(rq, &wk->reqs, entry)
		if (rq->ticket == req) {
			*wkp = wk;
			return rq;
		}
	return NULL;
}

/* Answer a request; on success its creds (if any, and not forgotten since) become the record's. */
static int
worker_req_reply(struct workers *w, const char *instance_id, uint64_t req, enum worker_req_kind kind, int ok,
    const char *error)
{
	struct worker_rec *wk = NULL;
	struct worker_req *rq = worker_req_find(w, instance_id, req, &wk);

	if (rq == NULL || rq->kind != kind)
		return -1;
	if (ok && rq->creds != NULL) {
		/* Committed: a successor process (kill -9, restart) must start from exactly these. */
		free_wiped(wk->creds, wk->creds_len);
		wk->creds = rq->creds;
		wk->creds_len = rq->creds_len;
		rq->creds = NULL;
		rq->creds_len = 0;
		if (kind == WORKER_REQ_PAIR)
			wk->connect_now = 1;
	}
	worker_req_answer(wk, rq, ok, error);
	worker_req_free(wk, rq);
	return 0;
}

int
workers_reply_pair(struct workers *w, const char *instance_id, uint64_t req, int ok, const char *error)
{
	return worker_req_reply(w, instance_id, req, WORKER_REQ_PAIR, ok, error);
}

int
workers_reply_store(struct workers *w, const char *instance_id, uint64_t req, int ok, const char *error)
{
	return worker_req_reply(w, instance_id, req, WORKER_REQ_STORE, ok, error);
}

int
workers_forget_creds(struct workers *w, const char *instance_id)
{
	struct worker_rec *wk = workers_find(w, instance_id);
	struct worker_req *rq;

	if (wk == NULL)
		return -1;
	free_wiped(wk->creds, wk->creds_len);
	wk->creds = NULL;
	wk->creds_len = 0;
	wk->connect_now = 0;
	/* A batch committed after this point must not bring them back into the next Start. */
	TAILQ_FOREACH(rq, &wk->reqs, entry) {
		free_wiped(rq->creds, rq->creds_len);
		rq->creds = NULL;
		rq->creds_len = 0;
	}
	return 0;
}

const unsigned char *
workers_creds(const struct workers *w, const char *instance_id, size_t *len, int *connect_now)
{
	struct worker_rec *wk = workers_find(w, instance_id);

	*len = wk != NULL ? wk->creds_len : 0;
	if (connect_now != NULL)
		*connect_now = wk != NULL ? wk->connect_now : 0;
	return wk != NULL ? wk->creds : NULL;
}

/* Drop every unanswered request of a record that is being freed (their tickets become unknown). */
void
worker_req_free_all(struct worker_rec *wk)
{
	struct worker_req *rq;

	while ((rq = TAILQ_FIRST(&wk->reqs)) != NULL)
		worker_req_free(wk, rq);
}
