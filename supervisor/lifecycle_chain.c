/* The per-instance write chains (every write of one instance commits in the order it was asked) and the QR
 * waits of HTTP requests (create with qrcode:true, connect). */
#include "lifecycle_int.h"
#include "app.h"
#include "backoff.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "registry.h"
#include "xmalloc.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

/* A retryable write waits this long after the first failed attempt, doubling up to the cap: short enough
 * that the writes follow the database within a couple of seconds of its return, long enough that a thousand
 * waiting instances cost a few hundred cheap refusals a second from a pool that knows it is down. */
#define LC_RETRY_MIN_MS		100
#define LC_RETRY_MAX_MS		2000

/* A merged transaction takes at most this many writes and statements (a MessageStore of many messages is a few
 * hundred statements by itself). */
#define LC_MERGE_JOBS		32
#define LC_MERGE_STMTS		1024

/* One write waiting for the earlier writes of its instance. */
struct lc_job {
	TAILQ_ENTRY(lc_job) entry;
	struct lc_chain *chain;
	struct db_tx *tx;		/* ONCE: handed to the pool when run; RETRY: kept, a copy runs each time */
	struct db_tx *check;		/* RETRY: did an unanswered COMMIT commit? (NULL: the write is idempotent) */
	unsigned flags;			/* LC_WRITE_* */
	int checking;			/* the next attempt runs check first */
	int nomerge;			/* runs alone: a transaction it shared failed on a statement */
	const char *fail_err;		/* ONCE jobs on lc->failed: why */
	db_cb cb;
	void *arg;
};

/* The writes of one instance, committed one after the other: two transactions of the same instance on two
 * pool connections could otherwise commit in either order (creds stored after the logout that voided them,
 * a settings row written after the delete that removed the instance). While the database is away the first
 * write waits on timer and the later ones wait behind it, so the order survives the outage too. */
struct lc_chain {
	LIST_ENTRY(lc_chain) entry;
	struct lifecycle *lc;
	char *instance_id;
	TAILQ_HEAD(, lc_job) jobs;	/* the first one is running or waiting */
	struct event *timer;		/* the first job's next attempt */
	unsigned failures;		/* failed attempts of the first job in a row */
	unsigned nretry;		/* RETRY jobs queued */
	int running;			/* the first job is in the pool */
	int waiting;			/* the first job waits for timer */
	int dispatching;		/* inside a job's callback: the chain must outlive it */
};

/*
 * MERGE writes run together in one transaction: those at the head of a chain (under load an instance's chain
 * queues its message stores and status writes faster than one transaction at a time commits them:
 * bench/messages.sh, one pair, the sender's chain ran three transactions per text and was the limit), and,
 * while every pool connection is busy, the heads of every chain that gets one ready in the same loop turn (they
 * would wait for a connection anyway; one transaction then costs PostgreSQL one BEGIN, one COMMIT and one
 * round trip for all of them). A chain is in at most one merge, its writes in order. Each write keeps its own
 * callback, with its own statements' results; the transaction commits all of them or none.
 */
struct lc_merge {
	LIST_ENTRY(lc_merge) entry;	/* lc->merges: submitted, not answered */
	struct lifecycle *lc;
	struct db_tx *tx;
	int n, stmts;
	struct lc_job *jobs[LC_MERGE_JOBS];	/* grouped by chain, in each chain's order */
	int nstmts[LC_MERGE_JOBS];
};

/* An HTTP request waiting for a QR. */
struct lc_wait {
	LIST_ENTRY(lc_wait) entry;
	struct lifecycle *lc;
	char *instance_id;
	struct event *timer;
	enum lifecycle_wake why;
	int woken;
	void (*cb)(void *, struct instance *, enum lifecycle_wake);
	void *arg;
};

static void lc_chain_run(struct lc_chain *ch);
static void lc_job_done_cb(void *arg, const struct db_result *r);
static void lc_merge_done_cb(void *arg, const struct db_result *r);

/* The instance's name for a log line (its id once it is gone from the registry). */
static const char *
lc_chain_name(const struct lc_chain *ch)
{
	const struct instance *inst = registry_find_id(ch->lc->app->reg, ch->instance_id);

	return inst != NULL ? inst->name : ch->instance_id;
}

/* Release a job that is out of its chain. */
static void
lc_job_free(struct lc_job *job)
{
	db_tx_free(job->tx);
	db_tx_free(job->check);
	free(job);
}

/* Take job out of its chain's books. */
static void
lc_job_unlink(struct lc_chain *ch, struct lc_job *job)
{
	TAILQ_REMOVE(&ch->jobs, job, entry);
	ch->lc->njobs--;
	if (job->flags & LC_WRITE_RETRY) {
		ch->nretry--;
		ch->lc->nretry--;
	}
}

/* Drop the chain once nothing is queued and no callback of it is running. */
static void
lc_chain_gc(struct lc_chain *ch)
{
	if (!TAILQ_EMPTY(&ch->jobs) || ch->dispatching || ch->running || ch->waiting)
		return;
	LIST_REMOVE(ch, entry);
	event_free(ch->timer);
	free(ch->instance_id);
	free(ch);
}

/* Fail job (already out of its chain) with an outage on a later loop turn: callbacks never run from the stack
 * of the push or of another job's callback. */
static void
lc_job_fail_later(struct lifecycle *lc, struct lc_job *job, const char *why)
{
	job->fail_err = why;
	TAILQ_INSERT_TAIL(&lc->failed, job, entry);
	lc->nfailed++;
	event_active(lc->fail_ev, EV_TIMEOUT, 0);
}

/* Answer the writes an outage failed without running them: nothing of them reached the database. */
static void
lc_fail_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lifecycle *lc = arg;
	struct lc_job *job;
	struct db_result r;

	(void)fd;
	(void)what;
	while ((job = TAILQ_FIRST(&lc->failed)) != NULL) {
		TAILQ_REMOVE(&lc->failed, job, entry);
		lc->nfailed--;
		memset(&r, 0, sizeof(r));
		r.err = job->fail_err;
		r.unavailable = 1;
		if (job->cb != NULL)
			job->cb(job->arg, &r);
		lc_job_free(job);
	}
}

/* The first job waits for the database: the API writes queued behind it would wait as long, so they fail
 * now, unrun (their callers answer 503 and nothing changed). */
static void
lc_chain_fail_once(struct lc_chain *ch)
{
	struct lc_job *job, *next;

	for (job = TAILQ_NEXT(TAILQ_FIRST(&ch->jobs), entry); job != NULL; job = next) {
		next = TAILQ_NEXT(job, entry);
		if (job->flags & LC_WRITE_RETRY)
			continue;
		lc_job_unlink(ch, job);
		lc_job_fail_later(ch->lc, job, "database unavailable");
	}
}

/* The chain's head was answered by the database: an outage it waited through is over for it. */
static void
lc_chain_written(struct lc_chain *ch)
{
	if (ch->failures > 0) {
		log_debug("%s: written after %u attempt(s); %u kept write(s) to go", lc_chain_name(ch),
		    ch->failures + 1, ch->nretry);
		/* One line for the outage, not one per instance. */
		if (--ch->lc->nstalled == 0)
			log_info("the database takes writes again; every kept write is queued for it");
	}
	ch->failures = 0;
}

/* Take job out of its chain and answer it with r. */
static void
lc_job_answer(struct lc_chain *ch, struct lc_job *job, const struct db_result *r)
{
	lc_job_unlink(ch, job);
	ch->dispatching++;
	if (job->cb != NULL)
		job->cb(job->arg, r);
	ch->dispatching--;
	lc_job_free(job);
}

/* The first job is done (committed, found committed, or failed for good): hand the result on, then start the
 * next one. */
static void
lc_job_finish(struct lc_chain *ch, struct lc_job *job, const struct db_result *r)
{
	lc_chain_written(ch);
	lc_job_answer(ch, job, r);
	lc_chain_run(ch);
	lc_chain_gc(ch);
}

/* The check of an unanswered COMMIT answered: done if it committed, else run the write again. */
static void
lc_check_done_cb(void *arg, const struct db_result *r)
{
	struct lc_job *job = arg;
	struct lc_chain *ch = job->chain;
	struct db_result ok;

	if (r->err == NULL && r->nres == 1 && PQntuples(r->res[0]) == 1 &&
	    PQgetvalue(r->res[0], 0, 0)[0] == 't') {
		/* It did commit: running it again would add its webhook rows twice. */
		ch->running = 0;
		memset(&ok, 0, sizeof(ok));
		lc_job_finish(ch, job, &ok);
		return;
	}
	if (r->err == NULL) {
		job->checking = 0;
		ch->running = 0;
		lc_chain_run(ch);
		return;
	}
	/* The check failed: its own outage retry applies (checking stays set), or a real error ends the write. */
	lc_job_done_cb(job, r);
}

/* The first job's wait is over: try again. */
static void
lc_chain_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lc_chain *ch = arg;

	(void)fd;
	(void)what;
	ch->waiting = 0;
	lc_chain_run(ch);
	lc_chain_gc(ch);
}

/* The pool reached PostgreSQL again: the chains waiting out their retry delay run now. */
void
lifecycle_db_back(struct lifecycle *lc)
{
	struct lc_chain *ch, *next;

	if (lc == NULL)
		return;
	for (ch = LIST_FIRST(&lc->chains); ch != NULL; ch = next) {
		next = LIST_NEXT(ch, entry);
		if (ch->waiting) {
			evtimer_del(ch->timer);
			lc_chain_timer_cb(-1, 0, ch);
		}
	}
}

/* A write of the chain finished: a RETRY write the database could not take waits and runs again, anything
 * else is done. */
static void
lc_job_done_cb(void *arg, const struct db_result *r)
{
	struct lc_job *job = arg;
	struct lc_chain *ch = job->chain;
	struct timeval tv;
	unsigned ms;

	ch->running = 0;
	if (r->err == NULL || !r->unavailable || !(job->flags & LC_WRITE_RETRY)) {
		lc_job_finish(ch, job, r);
		return;
	}
	/* A COMMIT sent and never answered may have committed: with a check, ask before running it again;
	 * without one the write is idempotent (a DELETE of what is gone) and simply runs again. */
	if (r->maybe_committed && job->check != NULL)
		job->checking = 1;
	if (ch->failures++ == 0) {
		log_debug("%s: %s; %u write(s) kept in memory", lc_chain_name(ch), r->err, ch->nretry);
		if (ch->lc->nstalled++ == 0)
			log_warnx("%s; state writes are kept in memory until it returns", r->err);
	}
	lc_chain_fail_once(ch);
	ms = backoff_ms(ch->failures - 1, LC_RETRY_MIN_MS, LC_RETRY_MAX_MS);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	ch->waiting = 1;
	evtimer_add(ch->timer, &tv);
}

/* Whether job may share a transaction with its neighbours (struct lc_merge). */
static int
lc_job_mergeable(const struct lc_job *job)
{
	return (job->flags & LC_WRITE_MERGE) && !(job->flags & LC_WRITE_COALESCE) && job->check == NULL &&
	    !job->checking && !job->nomerge;
}

/* Submit merge m (its chains are marked running). */
static void
lc_merge_submit(struct lifecycle *lc, struct lc_merge *m)
{
	struct db_tx *tx = m->tx;

	m->tx = NULL;
	LIST_INSERT_HEAD(&lc->merges, m, entry);
	lc->write_tx++;
	lc->writes += (unsigned long)m->n;
	if (m->n > 1) {
		lc->merged++;
		lc->writes_merged += (unsigned long)m->n;
	}
	if (db_tx_run(lc->app->db, tx, lc_merge_done_cb, m) == -1)
		fatalx("db_tx_run refused a merged transaction");
}

/* The end of the loop turn: the batch of chain heads collected while the pool was busy goes. */
static void
lc_batch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lifecycle *lc = arg;
	struct lc_merge *m = lc->batch;

	(void)fd;
	(void)what;
	lc->batch = NULL;
	if (m != NULL)
		lc_merge_submit(lc, m);
}

/*
 * Run first and the mergeable writes right behind it in a merge: submitted now when it holds two or more and a
 * pool connection is free, else added to the batch that goes at the end of this loop turn. 0 when first is
 * not mergeable, or runs alone now.
 */
static int
lc_chain_run_merged(struct lc_chain *ch, struct lc_job *first)
{
	struct lifecycle *lc = ch->lc;
	struct lc_merge *m;
	struct lc_job *job;
	int n = 0, stmts = 0, busy = db_pending(lc->app->db) >= db_connections_up(lc->app->db);

	for (job = first; job != NULL && n < LC_MERGE_JOBS && lc_job_mergeable(job); job = TAILQ_NEXT(job, entry)) {
		if (n > 0 && stmts + db_tx_count(job->tx) > LC_MERGE_STMTS)
			break;
		stmts += db_tx_count(job->tx);
		n++;
	}
	if (n == 0 || (n == 1 && !busy))
		return 0;
	if (busy && lc->batch != NULL &&
	    (lc->batch->n + n > LC_MERGE_JOBS || lc->batch->stmts + stmts > LC_MERGE_STMTS)) {
		m = lc->batch;
		lc->batch = NULL;
		lc_merge_submit(lc, m);
	}
	if ((m = busy ? lc->batch : NULL) == NULL) {
		m = xcalloc(1, sizeof(*m));
		m->lc = lc;
		m->tx = db_tx_new();
	}
	/* Copies: a write whose merged transaction failed on a statement runs again alone. */
	for (job = first; n-- > 0; job = TAILQ_NEXT(job, entry)) {
		m->jobs[m->n] = job;
		m->nstmts[m->n++] = db_tx_count(job->tx);
		m->stmts += db_tx_count(job->tx);
		db_tx_append(m->tx, job->tx);
	}
	ch->running = 1;
	if (!busy)
		lc_merge_submit(lc, m);
	else if (lc->batch == NULL) {
		lc->batch = m;
		event_active(lc->batch_ev, EV_TIMEOUT, 0);
	}
	return 1;
}

/*
 * A merged transaction finished. Committed: each write hears of its own statements. The database away: the
 * ONCE writes fail now as they would alone, the RETRY ones wait at the head of their chain (the first of each
 * takes the outage's backoff). Refused (a statement failed, all rolled back): the writes run again one by one,
 * so only the one at fault fails. Then each chain goes on.
 */
static void
lc_merge_done_cb(void *arg, const struct db_result *r)
{
	struct lc_merge *m = arg;
	struct lc_chain *ch;
	struct lc_job *retry[LC_MERGE_JOBS];
	struct lc_chain *chains[LC_MERGE_JOBS];
	struct db_result part;
	int i, k, nch = 0, off = 0;

	LIST_REMOVE(m, entry);
	/* The chains in the merge, each once (its writes are next to each other). */
	for (i = 0; i < m->n; i++)
		if (i == 0 || m->jobs[i]->chain != m->jobs[i - 1]->chain) {
			retry[nch] = NULL;
			chains[nch++] = m->jobs[i]->chain;
		}
	/* running stays set while the writes are answered: they are still queued, and a callback that pushes a
	 * write must not start them again. */
	if (r->err != NULL && !r->unavailable)
		log_debug("%d merged writes failed (%s); each runs alone", m->n, r->err);
	for (i = 0, k = -1; i < m->n; i++) {
		ch = m->jobs[i]->chain;
		if (k < 0 || chains[k] != ch) {
			k++;
			if (r->err == NULL)
				lc_chain_written(ch);
		}
		if (r->err == NULL) {
			part = *r;
			part.res = r->res + off;
			part.nres = m->nstmts[i];
			off += m->nstmts[i];
			lc_job_answer(ch, m->jobs[i], &part);
		} else if (!r->unavailable)
			m->jobs[i]->nomerge = 1;
		else if (!(m->jobs[i]->flags & LC_WRITE_RETRY))
			lc_job_answer(ch, m->jobs[i], r);
		else if (retry[k] == NULL)
			retry[k] = m->jobs[i];
	}
	free(m);
	for (k = 0; k < nch; k++) {
		if (retry[k] != NULL) {
			/* Now the head of its chain: it takes the wait (and fails the API writes queued behind it). */
			lc_job_done_cb(retry[k], r);
			continue;
		}
		chains[k]->running = 0;
		lc_chain_run(chains[k]);
		lc_chain_gc(chains[k]);
	}
}

/* Start the first queued write unless one is running or waiting. */
static void
lc_chain_run(struct lc_chain *ch)
{
	struct lc_job *job = TAILQ_FIRST(&ch->jobs);
	struct db_tx *tx;
	db_cb cb = lc_job_done_cb;

	if (job == NULL || ch->running || ch->waiting || lc_chain_run_merged(ch, job))
		return;
	if (job->checking) {
		tx = db_tx_dup(job->check);
		cb = lc_check_done_cb;
	} else if (job->flags & LC_WRITE_RETRY)
		tx = db_tx_dup(job->tx);
	else {
		tx = job->tx;
		job->tx = NULL;
	}
	if (!job->checking) {
		ch->lc->write_tx++;
		ch->lc->writes++;
	}
	ch->running = 1;
	/* db_tx_run fails only on misuse (an empty tx): lc_chain_push never queues one. */
	if (db_tx_run(ch->lc->app->db, tx, cb, job) == -1)
		fatalx("%s: db_tx_run refused a transaction", ch->instance_id);
}

/* The oldest transition of c that may go: not the first job (it may be in the pool), and one with a later
 * transition of its instance behind it (own: the one being pushed), which carries the state. */
static struct lc_job *
lc_chain_victim(struct lc_chain *c, int own)
{
	struct lc_job *job, *later;

	TAILQ_FOREACH(job, &c->jobs, entry) {
		if (job == TAILQ_FIRST(&c->jobs) || !(job->flags & LC_WRITE_COALESCE))
			continue;
		if (own)
			return job;
		for (later = TAILQ_NEXT(job, entry); later != NULL; later = TAILQ_NEXT(later, entry))
			if (later->flags & LC_WRITE_COALESCE)
				return job;
	}
	return NULL;
}

/* Past a cap: drop the oldest transition that a later one supersedes, from ch first, else (global cap only)
 * from any chain. Writes that are not plain transitions (a creds wipe, a logout, a delete) are never dropped:
 * they are at most a few per instance, since pairing again needs the database. */
static void
lc_chain_coalesce(struct lifecycle *lc, struct lc_chain *ch)
{
	struct lc_chain *c = ch;
	struct lc_job *job = lc_chain_victim(ch, 1);

	if (job == NULL && ch->nretry < LC_INSTANCE_WRITES_MAX)
		LIST_FOREACH(c, &lc->chains, entry)
			if (c != ch && (job = lc_chain_victim(c, 0)) != NULL)
				break;
	if (job == NULL)
		return;
	lc_job_unlink(c, job);
	lc->coalesced++;
	/* One line per hundred: an outage long enough to reach the cap would fill the log otherwise. */
	if (lc->coalesced % 100 == 1)
		log_warnx("%s: pending writes past the cap (%u for an instance, %u in all): oldest transitions "
		    "coalesced, %lu dropped so far", lc_chain_name(c), LC_INSTANCE_WRITES_MAX, lc->retry_max,
		    lc->coalesced);
	lc_job_fail_later(lc, job, "coalesced: past the pending-writes cap, a later transition carries the state");
}

/* Queue tx behind the writes of its instance (see struct lc_chain). */
void
lc_chain_push(struct lifecycle *lc, const char *instance_id, struct db_tx *tx, unsigned flags,
    struct db_tx *check, void (*cb)(void *arg, const struct db_result *r), void *arg)
{
	struct lc_chain *ch;
	struct lc_job *job;

	if (tx == NULL || db_tx_count(tx) == 0)
		fatalx("%s: an empty write", instance_id);
	LIST_FOREACH(ch, &lc->chains, entry)
		if (strcmp(ch->instance_id, instance_id) == 0)
			break;
	if (ch == NULL) {
		ch = xcalloc(1, sizeof(*ch));
		ch->lc = lc;
		ch->instance_id = xstrdup(instance_id);
		TAILQ_INIT(&ch->jobs);
		if ((ch->timer = evtimer_new(lc->app->base, lc_chain_timer_cb, ch)) == NULL)
			fatalx("evtimer_new");
		LIST_INSERT_HEAD(&lc->chains, ch, entry);
	}
	job = xcalloc(1, sizeof(*job));
	job->chain = ch;
	job->tx = tx;
	job->flags = flags;
	job->check = (flags & LC_WRITE_RETRY) ? check : NULL;
	if (!(flags & LC_WRITE_RETRY))
		db_tx_free(check);
	job->cb = cb;
	job->arg = arg;
	if (ch->waiting && !(flags & LC_WRITE_RETRY)) {
		/* It would wait for the outage behind the waiting write: refuse it now, unrun. */
		lc_job_fail_later(lc, job, "database unavailable");
		return;
	}
	if ((flags & LC_WRITE_COALESCE) && (ch->nretry >= LC_INSTANCE_WRITES_MAX || lc->nretry >= lc->retry_max))
		lc_chain_coalesce(lc, ch);
	TAILQ_INSERT_TAIL(&ch->jobs, job, entry);
	lc->njobs++;
	if (flags & LC_WRITE_RETRY) {
		ch->nretry++;
		lc->nretry++;
	}
	lc_chain_run(ch);
}

/* The failure queue and its event. */
void
lc_chain_init(struct lifecycle *lc)
{
	TAILQ_INIT(&lc->failed);
	if ((lc->fail_ev = event_new(lc->app->base, -1, 0, lc_fail_cb, lc)) == NULL ||
	    (lc->batch_ev = event_new(lc->app->base, -1, 0, lc_batch_cb, lc)) == NULL)
		fatalx("event_new");
	LIST_INIT(&lc->merges);
	lc->retry_max = lc->app->cfg != NULL && lc->app->cfg->pending_writes_max > 0 ?
	    (unsigned)lc->app->cfg->pending_writes_max : LC_PENDING_WRITES_DEFAULT;
}

/* Release every chain at exit. */
void
lc_chain_free_all(struct lifecycle *lc)
{
	struct lc_merge *m;
	struct lc_chain *ch;
	struct lc_job *job;

	if (lc->nretry > 0)
		log_warnx("%u write(s) kept through a database outage were never written", lc->nretry);
	while ((m = LIST_FIRST(&lc->merges)) != NULL) {
		LIST_REMOVE(m, entry);
		free(m);
	}
	if (lc->batch != NULL) {
		db_tx_free(lc->batch->tx);
		free(lc->batch);
		lc->batch = NULL;
	}
	if (lc->batch_ev != NULL)
		event_free(lc->batch_ev);
	lc->batch_ev = NULL;
	while ((ch = LIST_FIRST(&lc->chains)) != NULL) {
		/* A running first job's copy belongs to the (freed) pool; the job's own tx is ours either way. */
		while ((job = TAILQ_FIRST(&ch->jobs)) != NULL) {
			TAILQ_REMOVE(&ch->jobs, job, entry);
			lc_job_free(job);
		}
		LIST_REMOVE(ch, entry);
		event_free(ch->timer);
		free(ch->instance_id);
		free(ch);
	}
	while ((job = TAILQ_FIRST(&lc->failed)) != NULL) {
		TAILQ_REMOVE(&lc->failed, job, entry);
		lc_job_free(job);
	}
	if (lc->fail_ev != NULL)
		event_free(lc->fail_ev);
	lc->fail_ev = NULL;
	lc->njobs = lc->nretry = lc->nfailed = lc->nstalled = 0;
}

/* The wait ended (timer, or woken on the previous turn): tell the caller once and forget it. */
static void
lc_wait_fire_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lc_wait *wt = arg;
	struct app *app = wt->lc->app;
	struct instance *inst;

	(void)fd;
	(void)what;
	LIST_REMOVE(wt, entry);
	inst = registry_find_id(app->reg, wt->instance_id);
	if (inst != NULL && inst->deleting && wt->why != LIFECYCLE_WAKE_SHUTDOWN)
		inst = NULL;
	wt->cb(wt->arg, inst, wt->why);
	event_free(wt->timer);
	free(wt->instance_id);
	free(wt);
}

/* Register a QR wait; its timer doubles as the wake-up event. */
void
lifecycle_wait(struct app *app, const char *instance_id, int ms,
    void (*cb)(void *arg, struct instance *inst, enum lifecycle_wake why), void *arg)
{
	struct lifecycle *lc = app->lc;
	struct lc_wait *wt = xcalloc(1, sizeof(*wt));
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	wt->lc = lc;
	wt->instance_id = xstrdup(instance_id);
	wt->cb = cb;
	wt->arg = arg;
	wt->why = LIFECYCLE_WAKE_TIMEOUT;
	if ((wt->timer = evtimer_new(app->base, lc_wait_fire_cb, wt)) == NULL)
		fatalx("evtimer_new");
	LIST_INSERT_HEAD(&lc->waits, wt, entry);
	evtimer_add(wt->timer, &tv);
}

/* Wake the matching waits; each answers on the next loop turn. */
void
lc_wake(struct lifecycle *lc, const char *instance_id, enum lifecycle_wake why)
{
	struct lc_wait *wt;

	LIST_FOREACH(wt, &lc->waits, entry) {
		if (wt->woken || (instance_id != NULL && strcmp(wt->instance_id, instance_id) != 0))
			continue;
		wt->woken = 1;
		wt->why = why;
		/* Not from here: the caller may be deep in a database callback. */
		event_active(wt->timer, EV_TIMEOUT, 0);
	}
}

/* Answer every QR wait now. */
void
lifecycle_wait_shutdown(struct app *app)
{
	struct lc_wait *wt;

	if (app->lc == NULL)
		return;
	/* The HTTP server is freed right after this, so the answers go out now, not on a later turn. */
	while ((wt = LIST_FIRST(&app->lc->waits)) != NULL) {
		evtimer_del(wt->timer);
		wt->why = LIFECYCLE_WAKE_SHUTDOWN;
		lc_wait_fire_cb(-1, 0, wt);
	}
}

/* Release every wait without answering (its caller went with the HTTP server). */
void
lc_wait_free_all(struct lifecycle *lc)
{
	struct lc_wait *wt;

	while ((wt = LIST_FIRST(&lc->waits)) != NULL) {
		LIST_REMOVE(wt, entry);
		event_free(wt->timer);
		free(wt->instance_id);
		free(wt);
	}
}
