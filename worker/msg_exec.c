/* The worker's Signal executor (msg.h has the contract): jobs queued by msg_recv.c and msg_send.c run in
 * batches; a job's NEED is answered with a SignalLoad, a batch's Signal changes and rows commit in one
 * MessageStore, and each job hears of the COMMIT before it tells WhatsApp anything. One thing at a time:
 * while a SignalLoad or a MessageStore is in flight no step runs (wa_signal.h: taken changes are clean and
 * evictable until their transaction committed). */
#include "msg.h"
#include "ipc.h"
#include "msg_history.h"
#include "msg_identity.h"
#include "session_int.h"
#include "log.h"
#include "wa_jid.h"
#include "wa_prekey.h"
#include "worker.h"
#include "xmalloc.h"

#include <event2/event.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#define MSG_LOAD_KEYS_MAX	512	/* keys of one SignalLoad (ipc.proto) */
#define MSG_PAUSE_MIN_MS	1000	/* the first wait after the database was away, doubled up to the max */
#define MSG_PAUSE_MAX_MS	10000
#define MSG_PAUSED_JOBS_MAX	2000	/* jobs kept through a pause; past it they fail (sent again at next login) */

struct msg_job {
	TAILQ_ENTRY(msg_job) entry;
	const struct msg_job_ops *ops;
	void *arg;
};

TAILQ_HEAD(msg_job_list, msg_job);

struct msg_batch {
	uint64_t id;
	Wagate__Ipc__StoredMessage **msgs;
	size_t nmsgs, capmsgs;
	Wagate__Ipc__StatusChange **sts;
	size_t nsts, capsts;
	Wagate__Ipc__LidMapping **lids;
	size_t nlids, caplids;
	Wagate__Ipc__HistoryName **hchats, **hcontacts;	/* a history chunk's (solo jobs: one chunk at most) */
	size_t nhchats, nhcontacts;
	char **forget;			/* user JIDs whose rows this batch deletes (forget_users) */
	char **forget_names;		/* their Signal names ("user" / "user_1"), same order */
	size_t nforget, capforget;
};

enum msg_exec_state {
	MSG_EXEC_IDLE,
	MSG_EXEC_LOADING,	/* a SignalLoad for the current job is in flight */
	MSG_EXEC_STORING,	/* the batch's MessageStore is in flight */
	MSG_EXEC_WAITING,	/* the current (solo) job waits for outside work (MSG_STEP_WAIT) */
	MSG_EXEC_PAUSED,	/* the database was away: the queue waits for ev_pause (msg_exec_pause) */
};

struct msg_exec {
	struct session *s;
	struct wa_signal *sig;
	struct event *ev_run;
	struct event *ev_pause;		/* the end of a pause */
	unsigned pause_ms;		/* the next pause (0: MSG_PAUSE_MIN_MS) */
	struct msg_job_list queue;	/* submitted, not started */
	struct msg_job_list batch;	/* the running batch, in order */
	struct msg_job *cur;		/* the job being stepped (NULL: all done) */
	struct msg_batch *b;
	enum msg_exec_state state;
	uint64_t next_batch_id;
	char *last_need;		/* the keys the current job's last NEED asked for (loop guard) */
	Wagate__Ipc__SignalKey **load;	/* the keys in flight */
	size_t nload;
	size_t stored;			/* the batch's messages already committed by rows-only parts (msg_exec_store) */
	size_t part;			/* messages of the part in flight */
};

static void msg_exec_schedule(struct msg_exec *e);

/* --- batches --- */

static struct msg_batch *
msg_batch_new(struct msg_exec *e)
{
	struct msg_batch *b = xcalloc(1, sizeof(*b));

	b->id = ++e->next_batch_id;
	return b;
}

static void
msg_batch_free(struct msg_batch *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < b->nmsgs; i++)
		wagate__ipc__stored_message__free_unpacked(b->msgs[i], NULL);
	for (i = 0; i < b->nsts; i++)
		wagate__ipc__status_change__free_unpacked(b->sts[i], NULL);
	for (i = 0; i < b->nlids; i++)
		wagate__ipc__lid_mapping__free_unpacked(b->lids[i], NULL);
	for (i = 0; i < b->nhchats; i++)
		wagate__ipc__history_name__free_unpacked(b->hchats[i], NULL);
	for (i = 0; i < b->nhcontacts; i++)
		wagate__ipc__history_name__free_unpacked(b->hcontacts[i], NULL);
	free(b->hchats);
	free(b->hcontacts);
	for (i = 0; i < b->nforget; i++) {
		free(b->forget[i]);
		free(b->forget_names[i]);
	}
	free(b->forget);
	free(b->forget_names);
	free(b->msgs);
	free(b->sts);
	free(b->lids);
	free(b);
}

uint64_t
msg_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
msg_batch_id(const struct msg_batch *b)
{
	return b->id;
}

/* A deep copy of a protobuf-c message through its wire form: the copy owns everything and is freed with
 * the type's free_unpacked. The rows come from our own steps, so a failure here is a broken invariant. */
static void *
msg_copy(const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = xmalloc(len > 0 ? len : 1);
	ProtobufCMessage *c;

	protobuf_c_message_pack(m, buf);
	if ((c = protobuf_c_message_unpack(m->descriptor, NULL, len, buf)) == NULL)
		fatalx("%s: cannot copy a %s", __func__, m->descriptor->name);
	free(buf);
	return c;
}

/* Append p to the array *v of *n entries (capacity *cap). */
static void
msg_append(void ***v, size_t *n, size_t *cap, void *p)
{
	if (*n == *cap) {
		*cap = *cap != 0 ? *cap * 2 : 8;
		*v = xreallocarray(*v, *cap, sizeof(**v));
	}
	(*v)[(*n)++] = p;
}

void
msg_batch_add_message(struct msg_batch *b, const Wagate__Ipc__StoredMessage *m)
{
	msg_append((void ***)&b->msgs, &b->nmsgs, &b->capmsgs, msg_copy(&m->base));
}

void
msg_batch_add_status(struct msg_batch *b, const Wagate__Ipc__StatusChange *st)
{
	msg_append((void ***)&b->sts, &b->nsts, &b->capsts, msg_copy(&st->base));
}

void
msg_batch_add_lid(struct msg_batch *b, const char *lid, const char *pn)
{
	Wagate__Ipc__LidMapping *l;
	size_t i;

	if (lid == NULL || pn == NULL || *lid == '\0' || *pn == '\0')
		return;
	/* A stanza repeats its mapping in every <enc>, and a batch may hold many stanzas of one chat. */
	for (i = 0; i < b->nlids; i++)
		if (strcmp(b->lids[i]->lid, lid) == 0 && strcmp(b->lids[i]->pn, pn) == 0)
			return;
	l = xcalloc(1, sizeof(*l));
	wagate__ipc__lid_mapping__init(l);
	l->lid = xstrdup(lid);
	l->pn = xstrdup(pn);
	msg_append((void ***)&b->lids, &b->nlids, &b->caplids, l);
}

void
msg_batch_take_history(struct msg_batch *b, struct msg_history *h)
{
	size_t i;

	for (i = 0; i < h->nmsgs; i++)
		msg_append((void ***)&b->msgs, &b->nmsgs, &b->capmsgs, h->msgs[i]);
	h->nmsgs = 0;
	for (i = 0; i < h->nlids; i++)
		msg_batch_add_lid(b, h->lids[i]->lid, h->lids[i]->pn);
	/* A solo job's batch holds no other chunk: the names are handed over whole. */
	if (b->nhchats == 0 && b->nhcontacts == 0) {
		b->hchats = h->chats;
		b->nhchats = h->nchats;
		b->hcontacts = h->contacts;
		b->nhcontacts = h->ncontacts;
		h->chats = h->contacts = NULL;
		h->nchats = h->ncontacts = 0;
	}
}

int
msg_batch_add_forget(struct msg_batch *b, const char *user, const char *name)
{
	size_t i, cap;

	for (i = 0; i < b->nforget; i++)
		if (strcmp(b->forget[i], user) == 0)
			return 0;
	if (b->nforget >= MSG_FORGET_USERS_MAX)
		return -1;
	if (b->nforget == b->capforget) {
		cap = b->capforget != 0 ? b->capforget * 2 : 4;
		b->forget = xreallocarray(b->forget, cap, sizeof(*b->forget));
		b->forget_names = xreallocarray(b->forget_names, cap, sizeof(*b->forget_names));
		b->capforget = cap;
	}
	b->forget[b->nforget] = xstrdup(user);
	b->forget_names[b->nforget++] = xstrdup(name);
	return 0;
}

/* Whether k is a session or identity of a user this batch forgets: its rows are still in the database until
 * the batch commits, so a NEED for it is answered as absent, never loaded (wa_signal_forget_user). */
static int
msg_batch_forgets(const struct msg_batch *b, const struct wa_signal_key *k)
{
	const char *colon;
	size_t i;

	if ((k->kind != WA_SIGNAL_SESSION && k->kind != WA_SIGNAL_IDENTITY) || k->address == NULL ||
	    (colon = strrchr(k->address, ':')) == NULL)
		return 0;
	for (i = 0; i < b->nforget; i++)
		if (strlen(b->forget_names[i]) == (size_t)(colon - k->address) &&
		    strncmp(b->forget_names[i], k->address, (size_t)(colon - k->address)) == 0)
			return 1;
	return 0;
}

int
msg_signal_address(const char *jid, char *buf, size_t len)
{
	struct wa_jid j;
	const char *suffix;
	int n;

	if (jid == NULL || wa_jid_parse(jid, &j) == -1 || j.user[0] == '\0')
		return -1;
	if (strcmp(j.server, WA_SERVER_USER) == 0)
		suffix = "";
	else if (strcmp(j.server, WA_SERVER_LID) == 0)
		suffix = "_1";
	else if (strcmp(j.server, WA_SERVER_HOSTED) == 0)
		suffix = "_128";
	else if (strcmp(j.server, WA_SERVER_HOSTED_LID) == 0)
		suffix = "_129";
	else
		return -1;
	n = snprintf(buf, len, "%s%s:%u", j.user, suffix, (unsigned)j.device);
	return n > 0 && (size_t)n < len && (size_t)n <= WA_SIGNAL_ADDRESS_MAX ? 0 : -1;
}

/* --- jobs --- */

/* Tell a job how its batch ended and free the record (the job frees itself in committed). */
static void
msg_job_end(struct msg_exec *e, struct msg_job *j, int ok, const char *error, int stopping)
{
	j->ops->committed(e->s, j->arg, ok, error, stopping);
	free(j);
}

static void
msg_exec_load_free(struct msg_exec *e)
{
	size_t i;

	for (i = 0; i < e->nload; i++) {
		free(e->load[i]->address);
		free(e->load[i]->group);
		free(e->load[i]);
	}
	free(e->load);
	e->load = NULL;
	e->nload = 0;
}

/* The current batch is over: forget its bookkeeping and look at the queue again. */
static void
msg_exec_batch_done(struct msg_exec *e)
{
	msg_batch_free(e->b);
	e->b = NULL;
	e->cur = NULL;
	e->stored = e->part = 0;
	free(e->last_need);
	e->last_need = NULL;
	e->state = MSG_EXEC_IDLE;
	if (!TAILQ_EMPTY(&e->queue))
		msg_exec_schedule(e);
}

/* Put the batch's jobs back at the head of the queue, in their order; with error, a job without retry (msg.h)
 * is ended with it instead. */
static void
msg_exec_requeue(struct msg_exec *e, const char *error)
{
	struct msg_job *j;

	while ((j = TAILQ_LAST(&e->batch, msg_job_list)) != NULL) {
		TAILQ_REMOVE(&e->batch, j, entry);
		if (error == NULL || j->ops->retry)
			TAILQ_INSERT_HEAD(&e->queue, j, entry);
		else
			msg_job_end(e, j, 0, error, 0);
	}
}

/* The current job failed (FAILED step, an unanswerable NEED, a failed SignalLoad): its batch's dirty records
 * cannot be told apart, so the cache goes, the job hears of it, and the batch's other jobs start again as a
 * fresh batch on the next loop turn (in their order, before anything queued since). */
static void
msg_exec_fail_current(struct msg_exec *e, const char *error)
{
	struct msg_job *j = e->cur;

	wa_signal_clear(e->sig);
	TAILQ_REMOVE(&e->batch, j, entry);
	e->cur = NULL;
	msg_job_end(e, j, 0, error, 0);
	msg_exec_requeue(e, NULL);
	msg_exec_batch_done(e);
}

/* While paused: end the queued jobs that may not wait (no retry, past MSG_PAUSED_JOBS_MAX); the number kept. */
static size_t
msg_exec_shed(struct msg_exec *e)
{
	struct msg_job *j, *next;
	size_t kept = 0;

	for (j = TAILQ_FIRST(&e->queue); j != NULL; j = next) {
		next = TAILQ_NEXT(j, entry);
		if (j->ops->retry && kept < MSG_PAUSED_JOBS_MAX) {
			kept++;
			continue;
		}
		TAILQ_REMOVE(&e->queue, j, entry);
		msg_job_end(e, j, 0, IPC_ERR_DB_UNAVAILABLE, 0);
	}
	return kept;
}

/*
 * The database was away (a SignalLoad or MessageStore failed with IPC_ERR_DB_UNAVAILABLE). The batch's retry jobs
 * go back to the head of the queue in order, the jobs someone waits on fail now, and nothing runs until the
 * pause is over (1 s, doubling up to 10 s while the database stays away; a new job someone waits on ends it at
 * once). The cache goes, as after any failure: it may be ahead of the database. A job whose COMMIT went
 * unanswered may have committed after all: run again, it finds its rows stored and its ratchet step taken, as
 * when WhatsApp sends a stanza twice. (Failing it instead leaves it unacked until the next login: days, maybe.)
 */
static void
msg_exec_pause(struct msg_exec *e, const char *error)
{
	struct timeval tv;
	size_t kept;

	wa_signal_clear(e->sig);
	msg_exec_requeue(e, error);
	msg_exec_batch_done(e);
	e->state = MSG_EXEC_PAUSED;	/* a run already scheduled finds it so and only sheds */
	kept = msg_exec_shed(e);
	/* one line when it goes away (and one when it is back, msg_exec_stored_cb), not one per pause */
	if (e->pause_ms == 0) {
		e->pause_ms = MSG_PAUSE_MIN_MS;
		log_warnx("%s: the database is away: %zu job(s) wait for it", worker_instance_name(e->s->w), kept);
	} else
		log_debug("%s: the database is still away: %zu job(s) wait %u ms", worker_instance_name(e->s->w),
		    kept, e->pause_ms);
	tv.tv_sec = (time_t)(e->pause_ms / 1000);
	tv.tv_usec = (suseconds_t)(e->pause_ms % 1000) * 1000;
	evtimer_add(e->ev_pause, &tv);
	e->pause_ms = e->pause_ms * 2 > MSG_PAUSE_MAX_MS ? MSG_PAUSE_MAX_MS : e->pause_ms * 2;
}

/* The pause is over (its timer, or msg_exec_db_back): run the queue again. */
static void
msg_exec_pause_cb(evutil_socket_t fd, short what, void *arg)
{
	struct msg_exec *e = arg;

	(void)fd;
	(void)what;
	if (e->state != MSG_EXEC_PAUSED)
		return;
	evtimer_del(e->ev_pause);
	e->state = MSG_EXEC_IDLE;
	if (!TAILQ_EMPTY(&e->queue))
		msg_exec_schedule(e);
}

void
msg_exec_db_back(struct session *s)
{
	if (s->exec != NULL)
		msg_exec_pause_cb(-1, 0, s->exec);
}

/* A canonical spelling of a set of needed keys, for the loop guard. */
static char *
msg_need_string(const struct wa_signal_key *k, size_t n)
{
	size_t i, len = 1, off = 0;
	char *s;

	for (i = 0; i < n; i++)
		len += 32 + (k[i].address != NULL ? strlen(k[i].address) : 0) +
		    (k[i].group != NULL ? strlen(k[i].group) : 0);
	s = xmalloc(len);
	s[0] = '\0';
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(s + off, len - off, "%d|%s|%s|%u;", (int)k[i].kind,
		    k[i].address != NULL ? k[i].address : "", k[i].group != NULL ? k[i].group : "", k[i].prekey_id);
	return s;
}

/* A SignalLoad or MessageStore failed because the database was away (IPC_ERR_DB_UNAVAILABLE). */
static int
msg_db_away(int ok, const char *error)
{
	return !ok && error != NULL && strcmp(error, IPC_ERR_DB_UNAVAILABLE) == 0;
}

static void msg_exec_loaded_cb(void *arg, int ok, const char *error, Wagate__Ipc__SignalRecord **recs,
    size_t n);

/* The current job needs records: ask the supervisor for them. 0, 1 when every key was answered here (step
 * again), or -1 (the job has failed). */
static int
msg_exec_load(struct msg_exec *e)
{
	const struct wa_signal_key *k;
	char *need, err[256];
	size_t n, i, nremote = 0;

	k = wa_signal_needed(e->sig, &n);
	if (n == 0) {
		msg_exec_fail_current(e, "internal error: NEED without keys");
		return -1;
	}
	if (n > MSG_LOAD_KEYS_MAX)
		n = MSG_LOAD_KEYS_MAX;	/* the rest comes with the next NEED */
	need = msg_need_string(k, n);
	if (e->last_need != NULL && strcmp(e->last_need, need) == 0) {
		free(need);
		log_warnx("%s: the same records needed twice in a row", worker_instance_name(e->s->w));
		msg_exec_fail_current(e, "internal error: Signal records needed again after loading them");
		return -1;
	}
	free(e->last_need);
	e->last_need = need;
	for (i = 0; i < n; i++) {
		if (!msg_batch_forgets(e->b, &k[i])) {
			nremote++;
			continue;
		}
		if (wa_signal_put(e->sig, &k[i], NULL, 0, err, sizeof(err)) == -1) {
			msg_exec_fail_current(e, err);
			return -1;
		}
	}
	if (nremote == 0)
		return 1;
	e->load = xcalloc(nremote, sizeof(*e->load));
	for (i = 0; i < n; i++) {
		Wagate__Ipc__SignalKey *sk;

		if (msg_batch_forgets(e->b, &k[i]))
			continue;
		sk = xcalloc(1, sizeof(*sk));
		wagate__ipc__signal_key__init(sk);
		/* wa_signal_kind and SignalKind keep the same numbers (checked in msg.h). */
		sk->kind = (Wagate__Ipc__SignalKind)k[i].kind;
		sk->address = xstrdup(k[i].address != NULL ? k[i].address : "");
		sk->group = xstrdup(k[i].group != NULL ? k[i].group : "");
		sk->prekey_id = k[i].prekey_id;
		e->load[e->nload++] = sk;
	}
	if (worker_request_signal_load(e->s->w, e->load, e->nload, msg_exec_loaded_cb, e) == -1) {
		msg_exec_load_free(e);
		msg_exec_fail_current(e, "cannot ask the supervisor for Signal records");
		return -1;
	}
	e->state = MSG_EXEC_LOADING;
	return 0;
}

static void msg_exec_store(struct msg_exec *e);
static void msg_exec_stored_cb(void *arg, int ok, const char *error);
static void msg_exec_part_cb(void *arg, int ok, const char *error);

/*
 * A batch with more messages than one MessageStore takes (MSG_STORE_PART_MSGS, or MSG_STORE_PART_BYTES of them
 * packed: a history sync chunk brings thousands) first commits them in rows-only MessageStores that size, one
 * after the other; the last store carries the rest with the Signal changes and every other row, as below. Rows
 * before their ratchet step are safe where the reverse is not: if a later part fails, the stanza is not acked,
 * WhatsApp delivers it again, the same ratchet state decrypts it again, and the rows already committed are found
 * and neither stored nor posted twice. Returns 1 when a part went (or failed).
 */
static int
msg_exec_store_part(struct msg_exec *e)
{
	Wagate__Ipc__MessageStore ms = WAGATE__IPC__MESSAGE_STORE__INIT;
	size_t n = 0, bytes = 0, one;

	/* As many as fit in a part; all of the rest fitting, they go with the last store. */
	while (e->stored + n < e->b->nmsgs && n < MSG_STORE_PART_MSGS) {
		one = wagate__ipc__stored_message__get_packed_size(e->b->msgs[e->stored + n]);
		if (n > 0 && bytes + one > MSG_STORE_PART_BYTES)
			break;
		bytes += one;
		n++;
	}
	if (e->stored + n == e->b->nmsgs)
		return 0;
	ms.messages = e->b->msgs + e->stored;
	ms.n_messages = n;
	e->part = n;
	e->state = MSG_EXEC_STORING;
	if (worker_request_msg_store(e->s->w, &ms, msg_exec_part_cb, e) == -1) {
		log_warnx("%s: cannot send MessageStore", worker_instance_name(e->s->w));
		msg_exec_stored_cb(e, 0, "cannot send MessageStore");
	}
	return 1;
}

/* A rows-only part committed: the next part, or the last store; or it failed, and so has the batch. */
static void
msg_exec_part_cb(void *arg, int ok, const char *error)
{
	struct msg_exec *e = arg;

	if (!ok) {
		msg_exec_stored_cb(e, 0, error);
		return;
	}
	e->stored += e->part;
	msg_exec_store(e);
}

/* Every job of the batch is DONE: commit its changes and rows in one MessageStore (after rows-only parts, see
 * msg_exec_store_part), or, with nothing to write, tell the jobs at once. */
static void
msg_exec_store(struct msg_exec *e)
{
	Wagate__Ipc__MessageStore ms = WAGATE__IPC__MESSAGE_STORE__INIT;
	Wagate__Ipc__SignalChange *ch = NULL, **chp = NULL;
	Wagate__Ipc__SignalKey *keys = NULL;
	struct wa_signal_change *v;
	struct msg_job *j;
	size_t n, i;
	int rc;

	if (msg_exec_store_part(e))
		return;
	wa_signal_take_changes(e->sig, &v, &n);
	if (n == 0 && e->b->nmsgs == e->stored && e->b->nsts == 0 && e->b->nlids == 0 && e->b->nforget == 0 &&
	    e->b->nhchats == 0 && e->b->nhcontacts == 0) {
		while ((j = TAILQ_FIRST(&e->batch)) != NULL) {
			TAILQ_REMOVE(&e->batch, j, entry);
			msg_job_end(e, j, 1, NULL, 0);
		}
		msg_exec_batch_done(e);
		return;
	}
	if (n > 0) {
		ch = xcalloc(n, sizeof(*ch));
		chp = xcalloc(n, sizeof(*chp));
		keys = xcalloc(n, sizeof(*keys));
	}
	for (i = 0; i < n; i++) {
		wagate__ipc__signal_key__init(&keys[i]);
		keys[i].kind = (Wagate__Ipc__SignalKind)v[i].key.kind;
		keys[i].address = (char *)(v[i].key.address != NULL ? v[i].key.address : "");
		keys[i].group = (char *)(v[i].key.group != NULL ? v[i].key.group : "");
		keys[i].prekey_id = v[i].key.prekey_id;
		wagate__ipc__signal_change__init(&ch[i]);
		ch[i].key = &keys[i];
		ch[i].deleted = v[i].data == NULL;
		ch[i].data.data = v[i].data;
		ch[i].data.len = v[i].data != NULL ? v[i].len : 0;
		ch[i].identity_changed = v[i].identity_changed;
		if (v[i].identity_changed)
			log_info("%s: identity of %s changed", worker_instance_name(e->s->w), keys[i].address);
		chp[i] = &ch[i];
	}
	ms.changes = chp;
	ms.n_changes = n;
	ms.messages = e->b->msgs + e->stored;
	ms.n_messages = e->b->nmsgs - e->stored;
	ms.statuses = e->b->sts;
	ms.n_statuses = e->b->nsts;
	ms.lids = e->b->lids;
	ms.n_lids = e->b->nlids;
	ms.forget_users = e->b->forget;
	ms.n_forget_users = e->b->nforget;
	ms.history_chats = e->b->hchats;
	ms.n_history_chats = e->b->nhchats;
	ms.history_contacts = e->b->hcontacts;
	ms.n_history_contacts = e->b->nhcontacts;
	/* The request packs the message now; the changes are not needed afterwards (no operation runs until
	 * the ack, and a failure clears the cache). */
	rc = worker_request_msg_store(e->s->w, &ms, msg_exec_stored_cb, e);
	wa_signal_changes_free(v, n);
	free(ch);
	free(chp);
	free(keys);
	if (rc == -1) {
		log_warnx("%s: cannot send MessageStore", worker_instance_name(e->s->w));
		msg_exec_stored_cb(e, 0, "cannot send MessageStore");
		return;
	}
	e->state = MSG_EXEC_STORING;
}

/* StoreAck (or its failure): the jobs may now tell WhatsApp (or must not). */
static void
msg_exec_stored_cb(void *arg, int ok, const char *error)
{
	struct msg_exec *e = arg;
	struct msg_job *j;

	if (msg_db_away(ok, error)) {
		msg_exec_pause(e, error);
		return;
	}
	if (!ok) {
		log_warnx("%s: MessageStore failed: %s", worker_instance_name(e->s->w), error);
		/* The cache is ahead of the database now. */
		wa_signal_clear(e->sig);
	} else if (e->pause_ms != 0) {
		log_info("%s: the database is back: storing again", worker_instance_name(e->s->w));
		e->pause_ms = 0;
	}
	while ((j = TAILQ_FIRST(&e->batch)) != NULL) {
		TAILQ_REMOVE(&e->batch, j, entry);
		msg_job_end(e, j, ok, ok ? NULL : error, 0);
	}
	msg_exec_batch_done(e);
}

/* Step the batch's jobs from the current one until one needs records, or all are done. */
static void
msg_exec_step(struct msg_exec *e)
{
	char err[256];
	int rc;

	while (e->cur != NULL) {
		rc = e->cur->ops->step(e->s, e->cur->arg, e->sig, e->b);
		if (rc == WA_SIGNAL_NEED) {
			/* answered here (forgotten users): step the same job again */
			if (msg_exec_load(e) == 1)
				continue;
			return;
		}
		if (rc == MSG_STEP_WAIT && e->cur->ops->solo) {
			e->state = MSG_EXEC_WAITING;
			return;
		}
		if (rc != WA_SIGNAL_DONE) {
			snprintf(err, sizeof(err), "Signal operation failed (error %d)", (int)wa_signal_error(e->sig));
			msg_exec_fail_current(e, err);
			return;
		}
		free(e->last_need);
		e->last_need = NULL;
		e->cur = TAILQ_NEXT(e->cur, entry);
	}
	msg_exec_store(e);
}

/* The records the current job needed, or why not. */
static void
msg_exec_loaded_cb(void *arg, int ok, const char *error, Wagate__Ipc__SignalRecord **recs, size_t n)
{
	struct msg_exec *e = arg;
	struct wa_signal_key k;
	struct wa_prekey pk;
	char err[256];
	size_t i;

	e->state = MSG_EXEC_IDLE;
	if (msg_db_away(ok, error)) {
		msg_exec_load_free(e);
		msg_exec_pause(e, error);
		return;
	}
	if (!ok || n != e->nload) {
		log_warnx("%s: SignalLoad failed: %s", worker_instance_name(e->s->w), ok ? "wrong record count" :
		    error);
		msg_exec_load_free(e);
		msg_exec_fail_current(e, ok ? "SignalLoad answered the wrong record count" : error);
		return;
	}
	for (i = 0; i < n; i++) {
		const Wagate__Ipc__SignalKey *want = e->load[i], *got = recs[i]->key;
		const uint8_t *data = recs[i]->found ? recs[i]->data.data : NULL;
		size_t len = recs[i]->found ? recs[i]->data.len : 0;

		if (got->kind != want->kind || got->prekey_id != want->prekey_id ||
		    strcmp(got->address, want->address) != 0 || strcmp(got->group, want->group) != 0) {
			snprintf(err, sizeof(err), "SignalLoad answered another key than asked (record %zu)", i);
			break;
		}
		memset(&k, 0, sizeof(k));
		k.kind = (enum wa_signal_kind)want->kind;
		k.address = *want->address != '\0' ? want->address : NULL;
		k.group = *want->group != '\0' ? want->group : NULL;
		k.prekey_id = want->prekey_id;
		if (k.kind == WA_SIGNAL_PREKEY && data != NULL) {
			/* The database keeps the whole PreKeyRecordStructure; the Signal layer wants the private key.
			 * A record that does not parse is as good as none (the pkmsg then asks for a retry). */
			if (wa_prekey_decode(data, len, &pk) == -1 || pk.id != k.prekey_id) {
				log_warnx("%s: stored prekey %u unreadable", worker_instance_name(e->s->w),
				    k.prekey_id);
				data = NULL;
				len = 0;
			} else {
				data = pk.priv;
				len = sizeof(pk.priv);
			}
		}
		if (wa_signal_put(e->sig, &k, data, len, err, sizeof(err)) == -1)
			break;
	}
	explicit_wipe(&pk, sizeof(pk));
	msg_exec_load_free(e);
	if (i < n) {
		log_warnx("%s: %s", worker_instance_name(e->s->w), err);
		msg_exec_fail_current(e, err);
		return;
	}
	msg_exec_step(e);
}

/* Start a batch from the queue (a later loop turn than the submissions, so a burst becomes one batch). */
static void
msg_exec_run_cb(evutil_socket_t fd, short what, void *arg)
{
	struct msg_exec *e = arg;
	struct msg_job *j;
	size_t n = 0;

	(void)fd;
	(void)what;
	if (e->state == MSG_EXEC_PAUSED)
		msg_exec_shed(e);
	if (e->state != MSG_EXEC_IDLE || TAILQ_EMPTY(&e->queue))
		return;
	e->b = msg_batch_new(e);
	while (n < MSG_EXEC_BATCH_MAX && (j = TAILQ_FIRST(&e->queue)) != NULL) {
		if (n > 0 && j->ops->solo)
			break;
		TAILQ_REMOVE(&e->queue, j, entry);
		TAILQ_INSERT_TAIL(&e->batch, j, entry);
		n++;
		if (j->ops->solo)
			break;
	}
	e->cur = TAILQ_FIRST(&e->batch);
	msg_exec_step(e);
}

static void
msg_exec_schedule(struct msg_exec *e)
{
	struct timeval now = { 0, 0 };

	/* A timer, not event_active: it runs after the loop polled again, so stanzas that arrived meanwhile
	 * join the batch. */
	evtimer_add(e->ev_run, &now);
}

struct msg_exec *
msg_exec_new(struct session *s)
{
	struct msg_exec *e;
	struct wa_signal_own own;
	char err[256];

	if (s->creds == NULL)
		return NULL;
	memset(&own, 0, sizeof(own));
	own.registration_id = s->creds->registration_id;
	memcpy(own.identity_priv, s->creds->identity_priv, sizeof(own.identity_priv));
	own.signed_prekey_id = s->creds->signed_prekey.id;
	memcpy(own.signed_prekey_priv, s->creds->signed_prekey.priv, sizeof(own.signed_prekey_priv));
	memcpy(own.signed_prekey_sig, s->creds->signed_prekey.sig, sizeof(own.signed_prekey_sig));
	own.signed_prekey_timestamp = s->creds->signed_prekey.timestamp;
	e = xcalloc(1, sizeof(*e));
	e->s = s;
	TAILQ_INIT(&e->queue);
	TAILQ_INIT(&e->batch);
	e->sig = wa_signal_new(&own, MSG_CACHE_RECORDS, MSG_CACHE_BYTES, err, sizeof(err));
	explicit_wipe(&own, sizeof(own));
	if (e->sig == NULL) {
		log_warnx("%s: Signal layer: %s", worker_instance_name(s->w), err);
		free(e);
		return NULL;
	}
	if ((e->ev_run = evtimer_new(worker_base(s->w), msg_exec_run_cb, e)) == NULL ||
	    (e->ev_pause = evtimer_new(worker_base(s->w), msg_exec_pause_cb, e)) == NULL) {
		if (e->ev_run != NULL)
			event_free(e->ev_run);
		wa_signal_free(e->sig);
		free(e);
		return NULL;
	}
	return e;
}

void
msg_exec_free(struct msg_exec *e)
{
	struct msg_job *j;

	if (e == NULL)
		return;
	/* A request still in flight never calls back: the session stops only after the IPC peer cancelled
	 * everything (worker.h), which is why this is called from worker_session_stop only. */
	while ((j = TAILQ_FIRST(&e->batch)) != NULL) {
		TAILQ_REMOVE(&e->batch, j, entry);
		msg_job_end(e, j, 0, "session stopped", 1);
	}
	while ((j = TAILQ_FIRST(&e->queue)) != NULL) {
		TAILQ_REMOVE(&e->queue, j, entry);
		msg_job_end(e, j, 0, "session stopped", 1);
	}
	msg_exec_load_free(e);
	msg_batch_free(e->b);
	free(e->last_need);
	if (e->ev_run != NULL)
		event_free(e->ev_run);
	if (e->ev_pause != NULL)
		event_free(e->ev_pause);
	wa_signal_free(e->sig);
	free(e);
}

void
msg_exec_resume(struct session *s)
{
	struct msg_exec *e = s->exec;

	if (e == NULL || e->state != MSG_EXEC_WAITING)
		return;
	e->state = MSG_EXEC_IDLE;
	msg_exec_step(e);
}

int
msg_exec_submit(struct session *s, const struct msg_job_ops *ops, void *arg)
{
	struct msg_exec *e = s->exec;
	struct msg_job *j;

	if (e == NULL)
		return -1;
	j = xcalloc(1, sizeof(*j));
	j->ops = ops;
	j->arg = arg;
	TAILQ_INSERT_TAIL(&e->queue, j, entry);
	/* someone waits: try now (the database may be back) rather than at the pause's end */
	if (!ops->retry)
		msg_exec_pause_cb(-1, 0, e);
	/* paused, the run only sheds what is past MSG_PAUSED_JOBS_MAX */
	if (e->state == MSG_EXEC_IDLE || e->state == MSG_EXEC_PAUSED)
		msg_exec_schedule(e);
	return 0;
}
