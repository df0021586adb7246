/* The supervisor's worker table: spawn (STYLE rule 11), reap (12), restart policy (13), IPC dispatch (14, 15). */
#include "workers.h"
#include "ipc.h"
#include "log.h"
#include "random.h"
#include "xmalloc.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WORKERS_SWEEP_MS	1000	/* backstop reaper period */
#define WORKERS_GRACE_MS	5000	/* Shutdown (or EOF) -> SIGKILL */
#define WORKERS_START_MIN_MS	10000	/* least time a spawned worker gets to answer Ready */
#define WORKERS_DETAIL_MAX	1024
#define WORKERS_LOG_MAX		4096
#define WORKERS_QR_MAX		4096
#define WORKERS_FIELD_MAX	256

/* Where a worker record is in its life; the bits are also the "allowed in" masks of the dispatch table. */
enum worker_phase {
	WK_IDLE = 1 << 0,	/* no process and none planned (logged out, or stopped for exit) */
	WK_BACKOFF = 1 << 1,	/* no process; the restart timer is running */
	WK_QUEUED = 1 << 2,	/* no process; waiting for a spawn slot */
	WK_STARTING = 1 << 3,	/* spawned and sent Start; no Ready yet */
	WK_READY = 1 << 4,
	WK_STOPPING = 1 << 5,	/* asked to stop, killed, or its channel closed: waiting to reap it */
};
#define WK_ALIVE (WK_STARTING | WK_READY | WK_STOPPING)

/* A PairSuccess or StoreBatch the worker waits on: answered once, by workers_reply_pair/_store. */
struct worker_req {
	TAILQ_ENTRY(worker_req) entry;
	uint64_t ticket;			/* table-wide handle given to the callback */
	uint64_t request_id;			/* the worker's id, echoed in the reply */
	unsigned gen;				/* spawn generation of the process that asked */
	int pair;				/* PairSuccess (Result) rather than StoreBatch (StoreAck) */
	unsigned char *creds;			/* creds to keep once committed (NULL = none or forgotten) */
	size_t creds_len;
};

TAILQ_HEAD(worker_req_list, worker_req);

struct worker_rec {
	TAILQ_ENTRY(worker_rec) entry;
	TAILQ_ENTRY(worker_rec) qentry;		/* in the spawn queue while WK_QUEUED */
	struct workers *w;
	char *id, *name, *msg_call;
	int settings[6];			/* reject_call .. sync_full_history, in worker_spec order */
	int proxy_enabled;
	char *proxy[5];				/* host, port, protocol, username, password */
	int connect_now;
	unsigned char *creds;
	size_t creds_len;

	enum worker_phase phase;
	pid_t pid;
	struct bufferevent *bev;
	struct event *timer;			/* backoff, Ready deadline or kill grace, by phase */
	int64_t started_ms;
	unsigned restarts;			/* lifetime restarts, for metrics */
	unsigned fails;				/* quick failures in a row, for the backoff */
	uint64_t next_request_id;
	uint64_t ping_seq;
	int64_t ping_sent_us;
	int ping_outstanding, misses;
	int pending_connect;
	char *pending_number;
	char kill_reason[128];			/* why we killed it, for on_state */
	int removed, restart_now, dead;
	unsigned gen;				/* bumped at every spawn: replies go only to the asker */
	struct worker_req_list reqs;		/* unanswered requests */
};

TAILQ_HEAD(worker_list, worker_rec);

struct workers {
	struct event_base *base;
	struct workers_config cfg;
	struct workers_cbs cbs;
	struct worker_list all;
	struct worker_list queue;
	unsigned nstarting, nready;
	struct event *sigchld, *sweep, *heartbeat, *gc, *done_ev;
	int shutting_down;
	void (*done)(void *);
	void *done_arg;
	double latency_ms;
	int have_latency;
	uint64_t next_ticket;
};

struct workers_dispatch {
	int msg_case;
	unsigned phases;
	int (*fn)(struct worker_rec *, const IpcEnvelope *);
};

static void workers_pump(struct workers *w);

/* Milliseconds on the monotonic clock. */
static int64_t
workers_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Microseconds on the monotonic clock. */
static int64_t
workers_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* (Re)arm a one-shot timer in milliseconds. */
static void
workers_timer_ms(struct event *ev, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(ev, &tv);
}

/* The live record of an instance (removed ones are forgotten already). */
static struct worker_rec *
workers_find(const struct workers *w, const char *id)
{
	struct worker_rec *wk;

	if (id == NULL)
		return NULL;
	TAILQ_FOREACH(wk, &w->all, entry)
		if (!wk->removed && strcmp(wk->id, id) == 0)
			return wk;
	return NULL;
}

/* The record whose process has this pid. */
static struct worker_rec *
workers_find_pid(const struct workers *w, pid_t pid)
{
	struct worker_rec *wk;

	TAILQ_FOREACH(wk, &w->all, entry)
		if (wk->pid == pid && (wk->phase & WK_ALIVE))
			return wk;
	return NULL;
}

/* Change phase, keeping the counters and the spawn queue in step. */
static void
workers_set_phase(struct worker_rec *wk, enum worker_phase phase)
{
	struct workers *w = wk->w;

	if (wk->phase == phase)
		return;
	if (wk->phase == WK_STARTING)
		w->nstarting--;
	else if (wk->phase == WK_READY)
		w->nready--;
	else if (wk->phase == WK_QUEUED)
		TAILQ_REMOVE(&w->queue, wk, qentry);
	wk->phase = phase;
	if (phase == WK_STARTING)
		w->nstarting++;
	else if (phase == WK_READY)
		w->nready++;
	else if (phase == WK_QUEUED)
		TAILQ_INSERT_TAIL(&w->queue, wk, qentry);
}

/* Copy a string field of the spec (NULL stays NULL). */
static char *
workers_dup(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

/* Release the copied spec fields. */
static void
workers_spec_clear(struct worker_rec *wk)
{
	size_t i;

	free(wk->name);
	free(wk->msg_call);
	for (i = 0; i < 5; i++) {
		if (i == 4 && wk->proxy[i] != NULL)
			explicit_wipe(wk->proxy[i], strlen(wk->proxy[i]));
		free(wk->proxy[i]);
		wk->proxy[i] = NULL;
	}
	free_wiped(wk->creds, wk->creds_len);
	wk->name = wk->msg_call = NULL;
	wk->creds = NULL;
	wk->creds_len = 0;
}

/* Take a copy of everything Start needs from spec. */
static void
workers_spec_copy(struct worker_rec *wk, const struct worker_spec *spec)
{
	workers_spec_clear(wk);
	wk->name = xstrdup(spec->instance_name != NULL ? spec->instance_name : spec->instance_id);
	wk->msg_call = workers_dup(spec->msg_call);
	wk->settings[0] = spec->reject_call;
	wk->settings[1] = spec->groups_ignore;
	wk->settings[2] = spec->always_online;
	wk->settings[3] = spec->read_messages;
	wk->settings[4] = spec->read_status;
	wk->settings[5] = spec->sync_full_history;
	wk->proxy_enabled = spec->proxy_enabled;
	wk->proxy[0] = workers_dup(spec->proxy_host);
	wk->proxy[1] = workers_dup(spec->proxy_port);
	wk->proxy[2] = workers_dup(spec->proxy_protocol);
	wk->proxy[3] = workers_dup(spec->proxy_username);
	wk->proxy[4] = workers_dup(spec->proxy_password);
	wk->connect_now = spec->connect_now;
	if (spec->creds != NULL && spec->creds_len > 0) {
		wk->creds = xmalloc(spec->creds_len);
		memcpy(wk->creds, spec->creds, spec->creds_len);
		wk->creds_len = spec->creds_len;
	}
}

/* Fill the Settings message from the record (strings are borrowed). */
static void
workers_fill_settings(const struct worker_rec *wk, Wagate__Ipc__Settings *s)
{
	wagate__ipc__settings__init(s);
	s->reject_call = wk->settings[0];
	s->groups_ignore = wk->settings[1];
	s->always_online = wk->settings[2];
	s->read_messages = wk->settings[3];
	s->read_status = wk->settings[4];
	s->sync_full_history = wk->settings[5];
	s->msg_call = wk->msg_call != NULL ? wk->msg_call : (char *)"";
}

/* Fill the Proxy message from the record (strings are borrowed). */
static void
workers_fill_proxy(const struct worker_rec *wk, Wagate__Ipc__Proxy *p)
{
	wagate__ipc__proxy__init(p);
	p->enabled = wk->proxy_enabled;
	p->host = wk->proxy[0] != NULL ? wk->proxy[0] : (char *)"";
	p->port = wk->proxy[1] != NULL ? wk->proxy[1] : (char *)"";
	p->protocol = wk->proxy[2] != NULL ? wk->proxy[2] : (char *)"";
	p->username = wk->proxy[3] != NULL ? wk->proxy[3] : (char *)"";
	p->password = wk->proxy[4] != NULL ? wk->proxy[4] : (char *)"";
}

/* Queue one message to a live worker with a fresh request id. */
static int
workers_send(struct worker_rec *wk, IpcEnvelope *env)
{
	if (wk->bev == NULL || !(wk->phase & WK_ALIVE))
		return -1;
	env->request_id = ++wk->next_request_id;
	if (ipc_write(wk->bev, env) == -1) {
		log_warnx("%s: could not queue %s", wk->name, ipc_msg_name((int)env->msg_case));
		return -1;
	}
	return 0;
}

/* Queue a reply to the worker's request request_id. */
static int
workers_send_reply(struct worker_rec *wk, IpcEnvelope *env, uint64_t request_id)
{
	if (wk->bev == NULL || !(wk->phase & WK_ALIVE))
		return -1;
	env->request_id = request_id;
	if (ipc_write(wk->bev, env) == -1) {
		log_warnx("%s: could not queue %s", wk->name, ipc_msg_name((int)env->msg_case));
		return -1;
	}
	return 0;
}

/* Send a message that has no fields of its own (Shutdown, Logout). */
static int
workers_send_empty(struct worker_rec *wk, int msg_case)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Shutdown sd = WAGATE__IPC__SHUTDOWN__INIT;
	Wagate__Ipc__Logout lo = WAGATE__IPC__LOGOUT__INIT;

	env.msg_case = (Wagate__Ipc__Envelope__MsgCase)msg_case;
	if (msg_case == WAGATE__IPC__ENVELOPE__MSG_SHUTDOWN)
		env.shutdown = &sd;
	else
		env.logout = &lo;
	return workers_send(wk, &env);
}

/* Send Connect (number may be NULL). */
static int
workers_send_connect(struct worker_rec *wk, const char *number)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Connect c = WAGATE__IPC__CONNECT__INIT;

	c.number = (char *)(number != NULL ? number : "");
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_CONNECT;
	env.connect = &c;
	return workers_send(wk, &env);
}

/* SIGKILL a live worker and wait for the reaper; reason goes into the close detail. */
static void
workers_kill(struct worker_rec *wk, const char *reason)
{
	if (!(wk->phase & WK_ALIVE) || wk->pid <= 0)
		return;
	if (reason != NULL && wk->kill_reason[0] == '\0')
		snprintf(wk->kill_reason, sizeof(wk->kill_reason), "%s", reason);
	kill(wk->pid, SIGKILL);
	/* Stop listening now; the bufferevent is freed by the reaper, never inside its own callback. */
	if (wk->bev != NULL)
		bufferevent_disable(wk->bev, EV_READ);
	evtimer_del(wk->timer);
	workers_set_phase(wk, WK_STOPPING);
}

/* Ask a live worker to stop; SIGKILL if it is still there after the grace. */
static void
workers_stop(struct worker_rec *wk)
{
	if (!(wk->phase & WK_ALIVE))
		return;
	if (wk->phase != WK_STOPPING) {
		if (workers_send_empty(wk, WAGATE__IPC__ENVELOPE__MSG_SHUTDOWN) == -1) {
			workers_kill(wk, "stopped");
			return;
		}
		workers_set_phase(wk, WK_STOPPING);
		workers_timer_ms(wk->timer, WORKERS_GRACE_MS);
	}
}

/* A worker broke the protocol: log it and kill it (it will be restarted). Never affects the supervisor. */
static void
workers_protocol_error(struct worker_rec *wk, const char *what)
{
	char reason[128];

	log_warnx("%s: worker %d: %s; killing it", wk->name, (int)wk->pid, what);
	snprintf(reason, sizeof(reason), "protocol error: %s", what);
	workers_kill(wk, reason);
}

/* Ready: the worker runs and took Start. */
static int
workers_on_ready(struct worker_rec *wk, const IpcEnvelope *env)
{
	struct workers *w = wk->w;

	if (!ipc_str_ok(env->ready->version, WORKERS_FIELD_MAX))
		return -1;
	if (env->ready->pid != wk->pid)
		log_warnx("%s: worker says pid %d, we forked %d", wk->name, env->ready->pid,
		    (int)wk->pid);
	if (strcmp(env->ready->version, WAGATE_VERSION) != 0)
		log_warnx("%s: worker version %s, supervisor %s", wk->name, env->ready->version,
		    WAGATE_VERSION);
	evtimer_del(wk->timer);
	workers_set_phase(wk, WK_READY);
	wk->misses = 0;
	wk->ping_outstanding = 0;
	log_debug("%s: worker %d ready", wk->name, (int)wk->pid);
	if (w->cbs.on_ready != NULL)
		w->cbs.on_ready(w->cbs.ctx, wk->id, wk->pid);
	if (wk->pending_connect && wk->phase == WK_READY) {
		wk->pending_connect = 0;
		workers_send_connect(wk, wk->pending_number);
		free(wk->pending_number);
		wk->pending_number = NULL;
	}
	workers_pump(w);
	return 0;
}

/* Pong: the answer to the outstanding Ping clears the misses and gives a round trip. */
static int
workers_on_pong(struct worker_rec *wk, const IpcEnvelope *env)
{
	struct workers *w = wk->w;
	double rtt;

	if (!wk->ping_outstanding || env->pong->seq != wk->ping_seq)
		return 0;	/* late answer to a ping already counted as missed */
	wk->ping_outstanding = 0;
	wk->misses = 0;
	rtt = (double)(workers_now_us() - wk->ping_sent_us) / 1000.0;
	w->latency_ms = w->have_latency ? 0.8 * w->latency_ms + 0.2 * rtt : rtt;
	w->have_latency = 1;
	return 0;
}

/* ConnectionUpdate: pass the state on. */
static int
workers_on_connection_update(struct worker_rec *wk, const IpcEnvelope *env)
{
	const Wagate__Ipc__ConnectionUpdate *cu = env->connection_update;
	struct workers *w = wk->w;

	struct workers_account acct;

	if ((int)cu->state < WORKER_STATE_CLOSE || (int)cu->state > WORKER_STATE_OPEN ||
	    !ipc_str_ok(cu->detail, WORKERS_DETAIL_MAX) || !ipc_str_ok(cu->jid, WORKERS_FIELD_MAX) ||
	    !ipc_str_ok(cu->lid, WORKERS_FIELD_MAX) || !ipc_str_ok(cu->push_name, WORKERS_FIELD_MAX))
		return -1;
	acct.jid = cu->jid;
	acct.lid = cu->lid;
	acct.push_name = cu->push_name;
	if (w->cbs.on_state != NULL)
		w->cbs.on_state(w->cbs.ctx, wk->id, (int)cu->state, cu->reason, cu->detail,
		    (int)cu->state == WORKER_STATE_OPEN ? &acct : NULL);
	return 0;
}

/* Log: one line into our log, bounded and with control characters replaced. */
static int
workers_on_log(struct worker_rec *wk, const IpcEnvelope *env)
{
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

/* Result: the reply to a request; only failures are interesting for now. */
static int
workers_on_result(struct worker_rec *wk, const IpcEnvelope *env)
{
	if (!ipc_str_ok(env->result->error, WORKERS_DETAIL_MAX))
		return -1;
	if (!env->result->ok)
		log_warnx("%s: request %llu failed (%d): %s", wk->name,
		    (unsigned long long)env->request_id, env->result->code, env->result->error);
	return 0;
}

/* QrUpdate: a QR string or pairing code to show. */
static int
workers_on_qr_update(struct worker_rec *wk, const IpcEnvelope *env)
{
	const Wagate__Ipc__QrUpdate *q = env->qr_update;
	struct workers *w = wk->w;

	if (!ipc_str_ok(q->qr, WORKERS_QR_MAX) || !ipc_str_ok(q->pairing_code, WORKERS_FIELD_MAX))
		return -1;
	if (w->cbs.on_qr != NULL)
		w->cbs.on_qr(w->cbs.ctx, wk->id, q->qr, q->count, q->pairing_code);
	return 0;
}

/* Remember an unanswered request; creds (copied) are what to keep once it is committed. */
static struct worker_req *
workers_req_new(struct worker_rec *wk, uint64_t request_id, int pair, const unsigned char *creds, size_t len)
{
	struct worker_req *rq = xcalloc(1, sizeof(*rq));

	rq->ticket = ++wk->w->next_ticket;
	rq->request_id = request_id;
	rq->gen = wk->gen;
	rq->pair = pair;
	if (creds != NULL && len > 0) {
		rq->creds = xmalloc(len);
		memcpy(rq->creds, creds, len);
		rq->creds_len = len;
	}
	TAILQ_INSERT_TAIL(&wk->reqs, rq, entry);
	return rq;
}

/* Unlink and free one request, wiping its creds. */
static void
workers_req_free(struct worker_rec *wk, struct worker_req *rq)
{
	TAILQ_REMOVE(&wk->reqs, rq, entry);
	free_wiped(rq->creds, rq->creds_len);
	free(rq);
}

/* Send Result or StoreAck for rq to the process that asked, if it is still there. */
static void
workers_req_answer(struct worker_rec *wk, const struct worker_req *rq, int ok, const char *error)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Result res = WAGATE__IPC__RESULT__INIT;
	Wagate__Ipc__StoreAck ack = WAGATE__IPC__STORE_ACK__INIT;
	char *err = (char *)(error != NULL ? error : "");

	if (rq->gen != wk->gen || !(wk->phase & (WK_READY | WK_STOPPING)) || wk->bev == NULL) {
		log_debug("%s: the worker that sent request %llu is gone; answer dropped", wk->name,
		    (unsigned long long)rq->request_id);
		return;
	}
	if (rq->pair) {
		res.ok = ok;
		res.code = ok ? 0 : WAGATE__IPC__REASON__REASON_BAD_SESSION;
		res.error = err;
		env.msg_case = WAGATE__IPC__ENVELOPE__MSG_RESULT;
		env.result = &res;
	} else {
		ack.ok = ok;
		ack.error = err;
		env.msg_case = WAGATE__IPC__ENVELOPE__MSG_STORE_ACK;
		env.store_ack = &ack;
	}
	workers_send_reply(wk, &env, rq->request_id);
}

/* Refuse a request at once (invalid, or nobody to store it). */
static void
workers_refuse(struct worker_rec *wk, uint64_t request_id, int pair, const char *error)
{
	struct worker_req *rq = workers_req_new(wk, request_id, pair, NULL, 0);

	log_warnx("%s: %s refused: %s", wk->name, pair ? "PairSuccess" : "StoreBatch", error);
	workers_req_answer(wk, rq, 0, error);
	workers_req_free(wk, rq);
}

/* PairSuccess: the phone linked this device; the caller stores creds and owner JID, then answers. */
static int
workers_on_pair_success(struct worker_rec *wk, const IpcEnvelope *env)
{
	const Wagate__Ipc__PairSuccess *p = env->pair_success;
	struct workers *w = wk->w;
	struct workers_pair pair;
	struct worker_req *rq;

	if (!ipc_str_ok(p->jid, WORKERS_FIELD_MAX) || !ipc_str_ok(p->lid, WORKERS_FIELD_MAX) ||
	    !ipc_str_ok(p->push_name, WORKERS_FIELD_MAX) || !ipc_str_ok(p->platform, WORKERS_FIELD_MAX) ||
	    !ipc_str_ok(p->business_name, WORKERS_FIELD_MAX))
		return -1;
	if (p->creds.len == 0 || p->creds.len > WORKERS_CREDS_MAX || *p->jid == '\0') {
		workers_refuse(wk, env->request_id, 1, p->creds.len == 0 ? "no credentials" :
		    *p->jid == '\0' ? "no jid" : "credentials too large");
		return 0;
	}
	if (w->cbs.on_pair_success == NULL) {
		workers_refuse(wk, env->request_id, 1, "credentials cannot be stored");
		return 0;
	}
	rq = workers_req_new(wk, env->request_id, 1, p->creds.data, p->creds.len);
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
workers_store_check(const Wagate__Ipc__StoreBatch *b)
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
static int
workers_on_store_batch(struct worker_rec *wk, const IpcEnvelope *env)
{
	const Wagate__Ipc__StoreBatch *b = env->store_batch;
	struct workers *w = wk->w;
	struct workers_store st;
	struct workers_prekey *keys = NULL;
	struct worker_req *rq;
	const char *why;
	size_t i;

	if ((why = workers_store_check(b)) != NULL) {
		workers_refuse(wk, env->request_id, 0, why);
		return 0;
	}
	if (w->cbs.on_store == NULL) {
		workers_refuse(wk, env->request_id, 0, "nothing can be stored");
		return 0;
	}
	rq = workers_req_new(wk, env->request_id, 0, b->creds.data, b->creds.len);
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

/* Every message a worker may send, and in which phases (STYLE rule 15). */
static const struct workers_dispatch workers_dispatch_table[] = {
	{ WAGATE__IPC__ENVELOPE__MSG_READY, WK_STARTING, workers_on_ready },
	{ WAGATE__IPC__ENVELOPE__MSG_PONG, WK_READY | WK_STOPPING, workers_on_pong },
	{ WAGATE__IPC__ENVELOPE__MSG_CONNECTION_UPDATE, WK_READY | WK_STOPPING, workers_on_connection_update },
	{ WAGATE__IPC__ENVELOPE__MSG_LOG, WK_STARTING | WK_READY | WK_STOPPING, workers_on_log },
	{ WAGATE__IPC__ENVELOPE__MSG_RESULT, WK_READY | WK_STOPPING, workers_on_result },
	{ WAGATE__IPC__ENVELOPE__MSG_QR_UPDATE, WK_READY, workers_on_qr_update },
	{ WAGATE__IPC__ENVELOPE__MSG_PAIR_SUCCESS, WK_READY, workers_on_pair_success },
	/* A stopping worker may still be saving what it has; storing it is always safe. */
	{ WAGATE__IPC__ENVELOPE__MSG_STORE_BATCH, WK_READY | WK_STOPPING, workers_on_store_batch },
};

/* Check one frame against the version and the table, then run its handler. -1 = the worker was killed. */
static int
workers_dispatch(struct worker_rec *wk, const IpcEnvelope *env)
{
	const struct workers_dispatch *d = NULL;
	char what[96];
	size_t i;

	if (env->version != IPC_VERSION) {
		snprintf(what, sizeof(what), "IPC version %u, expected %u", env->version, IPC_VERSION);
		workers_protocol_error(wk, what);
		return -1;
	}
	for (i = 0; i < sizeof(workers_dispatch_table) / sizeof(workers_dispatch_table[0]); i++)
		if (workers_dispatch_table[i].msg_case == (int)env->msg_case)
			d = &workers_dispatch_table[i];
	if (d == NULL) {
		snprintf(what, sizeof(what), "unknown message %d", (int)env->msg_case);
		workers_protocol_error(wk, what);
		return -1;
	}
	if (!(d->phases & wk->phase)) {
		snprintf(what, sizeof(what), "%s not allowed now", ipc_msg_name((int)env->msg_case));
		workers_protocol_error(wk, what);
		return -1;
	}
	if (d->fn(wk, env) == -1) {
		snprintf(what, sizeof(what), "invalid %s", ipc_msg_name((int)env->msg_case));
		workers_protocol_error(wk, what);
		return -1;
	}
	return 0;
}

/* Frames from a worker. */
static void
workers_read_cb(struct bufferevent *bev, void *arg)
{
	struct worker_rec *wk = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	IpcEnvelope *env;
	enum ipc_result r;

	while ((wk->phase & WK_ALIVE) && wk->kill_reason[0] == '\0' && !wk->dead) {
		if ((r = ipc_read(in, &env)) == IPC_AGAIN)
			return;
		if (r == IPC_ERROR) {
			workers_protocol_error(wk, "oversized or garbled frame");
			return;
		}
		r = workers_dispatch(wk, env) == -1 ? IPC_ERROR : IPC_OK;
		ipc_envelope_free(env);
		if (r == IPC_ERROR)
			return;
	}
}

/* The worker closed its end (or the socket failed): it should exit now; kill it if it does not. */
static void
workers_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct worker_rec *wk = arg;

	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	bufferevent_disable(bev, EV_READ | EV_WRITE);
	if (wk->phase == WK_STARTING || wk->phase == WK_READY) {
		log_debug("%s: worker %d closed its channel", wk->name, (int)wk->pid);
		workers_set_phase(wk, WK_STOPPING);
		workers_timer_ms(wk->timer, WORKERS_GRACE_MS);
	}
}

/* The environment a worker gets: only harmless variables (no secrets, no database URL). */
static char **
workers_child_env(void)
{
	static const char *keep[] = { "PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "RUNTIME_DIRECTORY",
	    "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS" };
	size_t i, n = 0;
	char **env = xcalloc(sizeof(keep) / sizeof(keep[0]) + 1, sizeof(char *));

	for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		const char *v = getenv(keep[i]);
		if (v != NULL)
			xasprintf(&env[n++], "%s=%s", keep[i], v);
	}
	if (getenv("PATH") == NULL)
		env[n++] = xstrdup("PATH=/usr/local/bin:/usr/bin:/bin");
	return env;
}

/* Free what workers_child_env made. */
static void
workers_child_env_free(char **env)
{
	size_t i;

	for (i = 0; env[i] != NULL; i++)
		free(env[i]);
	free(env);
}

/* In the forked child: only async-signal-safe calls from here to exec. */
static void __attribute__((noreturn))
workers_child(const struct workers *w, int fd, char *const argv[], char *const envp[])
{
	sigset_t none;
	struct rlimit rl;
	long fdmax;
	int i;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Its own session: a terminal's ^C reaches the supervisor only, which then stops workers in order. */
	setsid();
	if (fd == IPC_FD) {
		if (fcntl(fd, F_SETFD, 0) == -1)
			_exit(IPC_EXIT_EXEC_FAILED);
	} else if (dup2(fd, IPC_FD) == -1)
		_exit(IPC_EXIT_EXEC_FAILED);
#ifdef SYS_close_range
	if (syscall(SYS_close_range, IPC_FD + 1, ~0U, 0) == -1)
#endif
	{
		fdmax = sysconf(_SC_OPEN_MAX);
		if (fdmax < 0 || fdmax > 65536)
			fdmax = 65536;
		for (i = IPC_FD + 1; i < fdmax; i++)
			close(i);
	}
	if (w->cfg.rlimit_as_mb > 0) {
		rl.rlim_cur = rl.rlim_max = (rlim_t)w->cfg.rlimit_as_mb * 1024 * 1024;
		if (setrlimit(RLIMIT_AS, &rl) == -1)
			_exit(IPC_EXIT_EXEC_FAILED);
	}
	if (w->cfg.rlimit_nofile > 0) {
		rl.rlim_cur = rl.rlim_max = (rlim_t)w->cfg.rlimit_nofile;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			_exit(IPC_EXIT_EXEC_FAILED);
	}
	execve(w->cfg.worker_path, argv, envp);
	_exit(IPC_EXIT_EXEC_FAILED);
}

/* Send Start, built from the record and the table's config. */
static int
workers_send_start(struct worker_rec *wk)
{
	struct workers *w = wk->w;
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Start st = WAGATE__IPC__START__INIT;
	Wagate__Ipc__Settings set;
	Wagate__Ipc__Proxy px;
	int rc;

	workers_fill_settings(wk, &set);
	workers_fill_proxy(wk, &px);
	st.instance_id = wk->id;
	st.instance_name = wk->name;
	st.settings = &set;
	st.proxy = &px;
	st.wa_url = w->cfg.wa_url != NULL ? (char *)w->cfg.wa_url : (char *)"";
	st.wa_tls_ca_file = w->cfg.wa_tls_ca_file != NULL ? (char *)w->cfg.wa_tls_ca_file : (char *)"";
	st.wa_root_key.data = (uint8_t *)w->cfg.wa_root_key;
	st.wa_root_key.len = w->cfg.wa_root_key != NULL ? w->cfg.wa_root_key_len : 0;
	st.log_level = w->cfg.log_level;
	st.connect_now = wk->connect_now || wk->pending_connect;
	st.creds.data = wk->creds;
	st.creds.len = wk->creds_len;
	st.connect_number = wk->pending_connect && wk->pending_number != NULL ? wk->pending_number : (char *)"";
	st.qrcode_limit = w->cfg.qrcode_limit;
	st.qr_first_ms = w->cfg.qr_first_ms;
	st.qr_next_ms = w->cfg.qr_next_ms;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_START;
	env.start = &st;
	rc = workers_send(wk, &env);
	/* Start carried the queued Connect. */
	wk->pending_connect = 0;
	free(wk->pending_number);
	wk->pending_number = NULL;
	return rc;
}

/* Start the back-off clock for the next attempt. */
static void
workers_schedule_restart(struct worker_rec *wk)
{
	struct workers *w = wk->w;
	int64_t delay = w->cfg.backoff_min_ms;
	unsigned i;

	for (i = 0; i < wk->fails && delay < w->cfg.backoff_max_ms; i++)
		delay *= 2;
	if (delay > w->cfg.backoff_max_ms)
		delay = w->cfg.backoff_max_ms;
	/* "Equal jitter": half fixed, half random, so a crowd that failed together spreads out. */
	delay = delay / 2 + (int64_t)random_uniform((unsigned)(delay / 2 + 1));
	wk->fails++;
	workers_set_phase(wk, WK_BACKOFF);
	workers_timer_ms(wk->timer, (int)delay);
	log_debug("%s: restart in %lld ms", wk->name, (long long)delay);
}

/* fork+exec one worker with its socket on fd 3 (STYLE rule 11), then send Start. */
static int
workers_spawn(struct worker_rec *wk)
{
	struct workers *w = wk->w;
	char *argv[3] = { (char *)"wagate-worker", wk->id, NULL };
	char **envp;
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("%s: socketpair", wk->name);
		return -1;
	}
	envp = workers_child_env();
	if ((pid = fork()) == -1) {
		log_warn("%s: fork", wk->name);
		close(sv[0]);
		close(sv[1]);
		workers_child_env_free(envp);
		return -1;
	}
	if (pid == 0)
		workers_child(w, sv[1], argv, envp);
	close(sv[1]);
	workers_child_env_free(envp);
	wk->pid = pid;
	wk->gen++;
	wk->started_ms = workers_now_ms();
	wk->kill_reason[0] = '\0';
	wk->misses = 0;
	wk->ping_outstanding = 0;
	workers_set_phase(wk, WK_STARTING);
	if (evutil_make_socket_nonblocking(sv[0]) == -1 ||
	    (wk->bev = bufferevent_socket_new(w->base, sv[0], BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		close(sv[0]);
		workers_kill(wk, "IPC setup failed");
		return 0;
	}
	bufferevent_setcb(wk->bev, workers_read_cb, NULL, workers_event_cb, wk);
	bufferevent_enable(wk->bev, EV_READ | EV_WRITE);
	if (workers_send_start(wk) == -1) {
		workers_kill(wk, "could not send Start");
		return 0;
	}
	{
		int64_t limit = (int64_t)w->cfg.heartbeat_interval_ms * (w->cfg.heartbeat_misses + 1);
		workers_timer_ms(wk->timer, (int)(limit > WORKERS_START_MIN_MS ? limit : WORKERS_START_MIN_MS));
	}
	log_debug("%s: worker %d spawned", wk->name, (int)pid);
	return 0;
}

/* Spawn queued workers while fewer than spawn_concurrency are starting. */
static void
workers_pump(struct workers *w)
{
	struct worker_rec *wk;

	while (!w->shutting_down && w->nstarting < (unsigned)w->cfg.spawn_concurrency &&
	    (wk = TAILQ_FIRST(&w->queue)) != NULL) {
		workers_set_phase(wk, WK_IDLE);
		if (workers_spawn(wk) == -1)
			workers_schedule_restart(wk);
	}
}

/* Put a worker without a process in the spawn queue. */
static void
workers_enqueue(struct worker_rec *wk)
{
	evtimer_del(wk->timer);
	workers_set_phase(wk, WK_QUEUED);
	workers_pump(wk->w);
}

/* Everything stopped during workers_shutdown: tell the caller on a fresh loop turn. */
static void
workers_check_done(struct workers *w)
{
	struct worker_rec *wk;

	if (!w->shutting_down || w->done == NULL)
		return;
	TAILQ_FOREACH(wk, &w->all, entry)
		if (wk->phase & WK_ALIVE)
			return;
	event_active(w->done_ev, EV_TIMEOUT, 0);
}

/* A worker process is gone: report it and apply the restart policy (STYLE rule 13). */
static void
workers_exited(struct worker_rec *wk, int status)
{
	struct workers *w = wk->w;
	char detail[256];
	int will_restart, reason = WORKERS_REASON_CRASHED, uptime_ok;
	int no_restart = WIFEXITED(status) && WEXITSTATUS(status) == IPC_EXIT_NO_RESTART;

	if (WIFSIGNALED(status))
		snprintf(detail, sizeof(detail), "worker killed by signal %d%s%s", WTERMSIG(status),
		    wk->kill_reason[0] ? ": " : "", wk->kill_reason);
	else if (WEXITSTATUS(status) == IPC_EXIT_EXEC_FAILED)
		snprintf(detail, sizeof(detail), "worker could not be started (exit %d)", IPC_EXIT_EXEC_FAILED);
	else
		snprintf(detail, sizeof(detail), "worker exited with code %d%s%s", WEXITSTATUS(status),
		    wk->kill_reason[0] ? ": " : "", wk->kill_reason);
	if (no_restart) {
		reason = WORKERS_REASON_LOGGED_OUT;
		snprintf(detail, sizeof(detail), "logged out");
	}
	if (wk->bev != NULL) {
		bufferevent_free(wk->bev);
		wk->bev = NULL;
	}
	evtimer_del(wk->timer);
	wk->pid = 0;
	wk->ping_outstanding = 0;
	uptime_ok = workers_now_ms() - wk->started_ms >= w->cfg.stable_ms;
	workers_set_phase(wk, WK_IDLE);

	if (wk->removed) {
		wk->dead = 1;
		event_active(w->gc, EV_TIMEOUT, 0);
		workers_check_done(w);
		return;
	}
	if (w->shutting_down) {
		workers_check_done(w);
		return;
	}
	will_restart = !no_restart;
	if (uptime_ok || wk->restart_now)
		wk->fails = 0;
	if (will_restart)
		wk->restarts++;
	if (no_restart || WEXITSTATUS(status) != 0 || WIFSIGNALED(status))
		log_info("%s: %s%s", wk->name, detail, will_restart ? "; restarting" : "");
	if (!will_restart)
		;	/* stays idle until workers_connect or workers_restart */
	else if (wk->restart_now)
		workers_enqueue(wk);
	else
		workers_schedule_restart(wk);
	wk->restart_now = 0;
	if (w->cbs.on_exit != NULL)
		w->cbs.on_exit(w->cbs.ctx, wk->id, status, will_restart);
	if (w->cbs.on_state != NULL && !wk->removed)
		w->cbs.on_state(w->cbs.ctx, wk->id, WORKER_STATE_CLOSE, reason, detail, NULL);
}

/* Reap every exited child (signals merge, so one SIGCHLD may stand for several). */
static void
workers_sigchld_cb(evutil_socket_t sig, short what, void *arg)
{
	struct workers *w = arg;
	struct worker_rec *wk;
	pid_t pid;
	int status;

	(void)sig;
	(void)what;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if ((wk = workers_find_pid(w, pid)) != NULL)
			workers_exited(wk, status);
		else
			log_debug("reaped unknown child %d", (int)pid);
	}
}

/* Backstop: look at each live worker in case a SIGCHLD was missed. */
static void
workers_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct workers *w = arg;
	struct worker_rec *wk, *next;
	int status;

	(void)fd;
	(void)what;
	for (wk = TAILQ_FIRST(&w->all); wk != NULL; wk = next) {
		next = TAILQ_NEXT(wk, entry);
		if ((wk->phase & WK_ALIVE) && wk->pid > 0 && waitpid(wk->pid, &status, WNOHANG) == wk->pid)
			workers_exited(wk, status);
	}
	workers_pump(w);
}

/* Heartbeats: one Ping per interval to each ready worker; too many unanswered ones and it is killed. */
static void
workers_heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
	struct workers *w = arg;
	struct worker_rec *wk;

	(void)fd;
	(void)what;
	TAILQ_FOREACH(wk, &w->all, entry) {
		IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
		Wagate__Ipc__Ping ping = WAGATE__IPC__PING__INIT;

		if (wk->phase != WK_READY)
			continue;
		if (wk->ping_outstanding) {
			if (++wk->misses >= w->cfg.heartbeat_misses) {
				char why[64];
				snprintf(why, sizeof(why), "missed %d heartbeats", wk->misses);
				log_warnx("%s: worker %d %s; killing it", wk->name, (int)wk->pid, why);
				workers_kill(wk, why);
			}
			continue;
		}
		ping.seq = ++wk->ping_seq;
		ping.sent_us = wk->ping_sent_us = workers_now_us();
		env.msg_case = WAGATE__IPC__ENVELOPE__MSG_PING;
		env.ping = &ping;
		if (workers_send(wk, &env) == 0)
			wk->ping_outstanding = 1;
	}
}

/* Per-worker timer: the meaning depends on the phase. */
static void
workers_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker_rec *wk = arg;

	(void)fd;
	(void)what;
	switch (wk->phase) {
	case WK_BACKOFF:
		workers_enqueue(wk);
		break;
	case WK_STARTING:
		log_warnx("%s: worker %d did not answer Start; killing it", wk->name, (int)wk->pid);
		workers_kill(wk, "no Ready in time");
		break;
	case WK_STOPPING:
		log_warnx("%s: worker %d did not stop in time; killing it", wk->name, (int)wk->pid);
		workers_kill(wk, "did not stop in time");
		break;
	default:
		break;
	}
}

/* Release one record and everything it holds. */
static void
workers_rec_free(struct worker_rec *wk)
{
	struct worker_req *rq;

	while ((rq = TAILQ_FIRST(&wk->reqs)) != NULL)
		workers_req_free(wk, rq);
	if (wk->bev != NULL)
		bufferevent_free(wk->bev);
	event_free(wk->timer);
	workers_spec_clear(wk);
	free(wk->pending_number);
	free(wk->id);
	free(wk);
}

/* Free records marked dead, outside any of their callbacks (STYLE rule 10). */
static void
workers_gc_cb(evutil_socket_t fd, short what, void *arg)
{
	struct workers *w = arg;
	struct worker_rec *wk, *next;

	(void)fd;
	(void)what;
	for (wk = TAILQ_FIRST(&w->all); wk != NULL; wk = next) {
		next = TAILQ_NEXT(wk, entry);
		if (!wk->dead)
			continue;
		workers_set_phase(wk, WK_IDLE);
		TAILQ_REMOVE(&w->all, wk, entry);
		workers_rec_free(wk);
	}
}

/* workers_shutdown finished. */
static void
workers_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct workers *w = arg;
	void (*done)(void *) = w->done;

	(void)fd;
	(void)what;
	w->done = NULL;
	if (done != NULL)
		done(w->done_arg);
}

struct workers *
workers_new(struct event_base *base, const struct workers_config *cfg, const struct workers_cbs *cbs)
{
	struct workers *w;
	struct timeval sweep = { WORKERS_SWEEP_MS / 1000, (WORKERS_SWEEP_MS % 1000) * 1000 }, hb;

	if (cfg->worker_path == NULL)
		return NULL;
	w = xcalloc(1, sizeof(*w));
	w->base = base;
	w->cfg = *cfg;
	w->cfg.worker_path = xstrdup(cfg->worker_path);
	w->cfg.wa_url = cfg->wa_url != NULL && *cfg->wa_url != '\0' ? xstrdup(cfg->wa_url) : NULL;
	w->cfg.wa_tls_ca_file = cfg->wa_tls_ca_file != NULL && *cfg->wa_tls_ca_file != '\0' ?
	    xstrdup(cfg->wa_tls_ca_file) : NULL;
	if (cfg->wa_root_key != NULL && cfg->wa_root_key_len > 0) {
		unsigned char *k = xmalloc(cfg->wa_root_key_len);
		memcpy(k, cfg->wa_root_key, cfg->wa_root_key_len);
		w->cfg.wa_root_key = k;
	} else {
		w->cfg.wa_root_key = NULL;
		w->cfg.wa_root_key_len = 0;
	}
	if (w->cfg.heartbeat_interval_ms <= 0)
		w->cfg.heartbeat_interval_ms = 5000;
	if (w->cfg.heartbeat_misses <= 0)
		w->cfg.heartbeat_misses = 3;
	if (w->cfg.backoff_min_ms <= 0)
		w->cfg.backoff_min_ms = 1000;
	if (w->cfg.backoff_max_ms <= 0)
		w->cfg.backoff_max_ms = 60000;
	if (w->cfg.backoff_max_ms < w->cfg.backoff_min_ms)
		w->cfg.backoff_max_ms = w->cfg.backoff_min_ms;
	if (w->cfg.stable_ms <= 0)
		w->cfg.stable_ms = 60000;
	if (w->cfg.spawn_concurrency <= 0)
		w->cfg.spawn_concurrency = 16;
	if (w->cfg.rlimit_nofile == 0)
		w->cfg.rlimit_nofile = 256;
	if (cbs != NULL)
		w->cbs = *cbs;
	TAILQ_INIT(&w->all);
	TAILQ_INIT(&w->queue);
	hb.tv_sec = w->cfg.heartbeat_interval_ms / 1000;
	hb.tv_usec = (w->cfg.heartbeat_interval_ms % 1000) * 1000;
	w->sigchld = evsignal_new(base, SIGCHLD, workers_sigchld_cb, w);
	w->sweep = event_new(base, -1, EV_PERSIST, workers_sweep_cb, w);
	w->heartbeat = event_new(base, -1, EV_PERSIST, workers_heartbeat_cb, w);
	w->gc = event_new(base, -1, 0, workers_gc_cb, w);
	w->done_ev = event_new(base, -1, 0, workers_done_cb, w);
	if (w->sigchld == NULL || w->sweep == NULL || w->heartbeat == NULL || w->gc == NULL || w->done_ev == NULL ||
	    evsignal_add(w->sigchld, NULL) == -1 || event_add(w->sweep, &sweep) == -1 ||
	    event_add(w->heartbeat, &hb) == -1) {
		workers_free(w);
		return NULL;
	}
	return w;
}

void
workers_free(struct workers *w)
{
	struct worker_rec *wk;

	if (w == NULL)
		return;
	while ((wk = TAILQ_FIRST(&w->all)) != NULL) {
		if ((wk->phase & WK_ALIVE) && wk->pid > 0)
			kill(wk->pid, SIGTERM);
		workers_set_phase(wk, WK_IDLE);
		TAILQ_REMOVE(&w->all, wk, entry);
		workers_rec_free(wk);
	}
	if (w->sigchld != NULL)
		event_free(w->sigchld);
	if (w->sweep != NULL)
		event_free(w->sweep);
	if (w->heartbeat != NULL)
		event_free(w->heartbeat);
	if (w->gc != NULL)
		event_free(w->gc);
	if (w->done_ev != NULL)
		event_free(w->done_ev);
	free((char *)w->cfg.worker_path);
	free((char *)w->cfg.wa_url);
	free((char *)w->cfg.wa_tls_ca_file);
	free_wiped((void *)w->cfg.wa_root_key, w->cfg.wa_root_key_len);
	free(w);
}

int
workers_add(struct workers *w, const struct worker_spec *spec)
{
	struct worker_rec *wk;

	if (spec->instance_id == NULL || *spec->instance_id == '\0' || strlen(spec->instance_id) > 128 ||
	    workers_find(w, spec->instance_id) != NULL)
		return -1;
	wk = xcalloc(1, sizeof(*wk));
	wk->w = w;
	wk->id = xstrdup(spec->instance_id);
	TAILQ_INIT(&wk->reqs);
	if ((wk->timer = evtimer_new(w->base, workers_timer_cb, wk)) == NULL) {
		free(wk->id);
		free(wk);
		return -1;
	}
	workers_spec_copy(wk, spec);
	wk->phase = WK_IDLE;
	TAILQ_INSERT_TAIL(&w->all, wk, entry);
	if (!w->shutting_down)
		workers_enqueue(wk);
	return 0;
}

int
workers_update(struct workers *w, const struct worker_spec *spec)
{
	struct worker_rec *wk = workers_find(w, spec->instance_id);
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__UpdateSettings us = WAGATE__IPC__UPDATE_SETTINGS__INIT;
	Wagate__Ipc__UpdateProxy up = WAGATE__IPC__UPDATE_PROXY__INIT;
	Wagate__Ipc__Settings set;
	Wagate__Ipc__Proxy px;
	unsigned char *creds;
	size_t creds_len;
	int connect_now;

	if (wk == NULL)
		return -1;
	/* Credentials are not part of a settings update: keep the ones we hold unless new ones are given. */
	creds = wk->creds;
	creds_len = wk->creds_len;
	wk->creds = NULL;
	wk->creds_len = 0;
	connect_now = wk->connect_now;
	workers_spec_copy(wk, spec);
	/* Nor is connect_now: whether a paired instance reconnects after a restart is not a setting. */
	wk->connect_now = connect_now;
	if (wk->creds == NULL) {
		wk->creds = creds;
		wk->creds_len = creds_len;
	} else
		free_wiped(creds, creds_len);
	if (wk->phase != WK_READY)
		return 0;	/* the next Start carries the new values */
	workers_fill_settings(wk, &set);
	us.settings = &set;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_UPDATE_SETTINGS;
	env.update_settings = &us;
	if (workers_send(wk, &env) == -1)
		return -1;
	workers_fill_proxy(wk, &px);
	up.proxy = &px;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_UPDATE_PROXY;
	env.update_proxy = &up;
	return workers_send(wk, &env);
}

int
workers_remove(struct workers *w, const char *instance_id)
{
	struct worker_rec *wk = workers_find(w, instance_id);

	if (wk == NULL)
		return -1;
	wk->removed = 1;
	wk->pending_connect = 0;
	if (wk->phase & WK_ALIVE) {
		workers_stop(wk);
		return 0;
	}
	evtimer_del(wk->timer);
	workers_set_phase(wk, WK_IDLE);
	wk->dead = 1;
	event_active(w->gc, EV_TIMEOUT, 0);
	return 0;
}

int
workers_restart(struct workers *w, const char *instance_id)
{
	struct worker_rec *wk = workers_find(w, instance_id);

	if (wk == NULL || w->shutting_down)
		return -1;
	wk->fails = 0;
	switch (wk->phase) {
	case WK_STARTING:
	case WK_READY:
		wk->restart_now = 1;
		workers_stop(wk);
		break;
	case WK_STOPPING:
		wk->restart_now = 1;
		break;
	case WK_IDLE:
	case WK_BACKOFF:
		workers_enqueue(wk);
		break;
	case WK_QUEUED:
		break;
	}
	return 0;
}

int
workers_connect(struct workers *w, const char *instance_id, const char *number_or_null)
{
	struct worker_rec *wk = workers_find(w, instance_id);

	if (wk == NULL || w->shutting_down)
		return -1;
	switch (wk->phase) {
	case WK_READY:
		return workers_send_connect(wk, number_or_null);
	case WK_STOPPING:
		if (!wk->restart_now)
			return -1;
		/* A restart is under way: the successor's Start carries the Connect. */
		free(wk->pending_number);
		wk->pending_number = workers_dup(number_or_null);
		wk->pending_connect = 1;
		return 0;
	case WK_BACKOFF:
		return -1;
	case WK_IDLE:
	case WK_QUEUED:
	case WK_STARTING:
		/* Sent in Start (not spawned yet) or right after Ready (spawned). */
		free(wk->pending_number);
		wk->pending_number = workers_dup(number_or_null);
		wk->pending_connect = 1;
		if (wk->phase == WK_IDLE)
			workers_enqueue(wk);
		return 0;
	}
	return -1;
}

int
workers_logout(struct workers *w, const char *instance_id)
{
	struct worker_rec *wk = workers_find(w, instance_id);

	if (wk == NULL || wk->phase != WK_READY)
		return -1;
	/* The stored credentials are void from now on, whatever the worker manages to do. */
	workers_forget_creds(w, instance_id);
	return workers_send_empty(wk, WAGATE__IPC__ENVELOPE__MSG_LOGOUT);
}

pid_t
workers_pid(const struct workers *w, const char *instance_id)
{
	struct worker_rec *wk = workers_find(w, instance_id);

	return wk != NULL && (wk->phase & WK_ALIVE) ? wk->pid : 0;
}

unsigned
workers_restarts(const struct workers *w, const char *instance_id)
{
	struct worker_rec *wk = workers_find(w, instance_id);

	return wk != NULL ? wk->restarts : 0;
}

unsigned
workers_ready_count(const struct workers *w)
{
	return w != NULL ? w->nready : 0;
}

unsigned
workers_starting_count(const struct workers *w)
{
	return w != NULL ? w->nstarting : 0;
}

double
workers_ipc_latency_ms(const struct workers *w)
{
	return w != NULL ? w->latency_ms : 0.0;
}

void
workers_shutdown(struct workers *w, void (*done)(void *arg), void *arg)
{
	struct worker_rec *wk;

	w->shutting_down = 1;
	w->done = done;
	w->done_arg = arg;
	TAILQ_FOREACH(wk, &w->all, entry) {
		wk->pending_connect = 0;
		if (wk->phase & WK_ALIVE)
			workers_stop(wk);
		else {
			evtimer_del(wk->timer);
			workers_set_phase(wk, WK_IDLE);
		}
	}
	workers_check_done(w);
}

/* Find the unanswered request req of an instance. */
static struct worker_req *
workers_req_find(const struct workers *w, const char *instance_id, uint64_t req, struct worker_rec **wkp)
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
workers_reply(struct workers *w, const char *instance_id, uint64_t req, int pair, int ok, const char *error)
{
	struct worker_rec *wk = NULL;
	struct worker_req *rq = workers_req_find(w, instance_id, req, &wk);

	if (rq == NULL || rq->pair != pair)
		return -1;
	if (ok && rq->creds != NULL) {
		/* Committed: a successor process (kill -9, restart) must start from exactly these. */
		free_wiped(wk->creds, wk->creds_len);
		wk->creds = rq->creds;
		wk->creds_len = rq->creds_len;
		rq->creds = NULL;
		rq->creds_len = 0;
		if (pair)
			wk->connect_now = 1;
	}
	workers_req_answer(wk, rq, ok, error);
	workers_req_free(wk, rq);
	return 0;
}

int
workers_reply_pair(struct workers *w, const char *instance_id, uint64_t req, int ok, const char *error)
{
	return workers_reply(w, instance_id, req, 1, ok, error);
}

int
workers_reply_store(struct workers *w, const char *instance_id, uint64_t req, int ok, const char *error)
{
	return workers_reply(w, instance_id, req, 0, ok, error);
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
