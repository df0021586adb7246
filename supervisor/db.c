/* The supervisor's PostgreSQL pool: non-blocking libpq connections driven by events on their sockets. This file
 * holds the jobs (a transaction and its callback), their queue, the callbacks' dispatch and the public API;
 * db_conn.c runs one connection. */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "db.h"
#include "db_int.h"
#include "db_tx.h"
#include "log.h"
#include "xmalloc.h"

/* Copy a libpq message onto one line (libpq's are multi-line), without trailing blanks. */
void
db_copy_msg(char *dst, size_t len, const char *src)
{
	size_t n = 0;
	int blank = 0;

	if (src == NULL || *src == '\0')
		src = "unknown database error";
	for (; *src != '\0' && n + 1 < len; src++) {
		if (*src == '\n' || *src == '\r' || *src == '\t' || *src == ' ') {
			blank = 1;
			continue;
		}
		if (blank && n > 0 && n + 2 < len)
			dst[n++] = ' ';
		blank = 0;
		dst[n++] = *src;
	}
	dst[n] = '\0';
}

/* Swallow server notices: libpq would print them on stderr. */
void
db_notice_cb(void *arg, const char *msg)
{
	(void)arg;
	log_debug("%s", msg);
}

/* Drop the results a job collected (before a retry, or once its callback ran). */
void
db_job_clear(struct db_job *job)
{
	int i;

	for (i = 0; i < job->nres; i++)
		PQclear(job->res[i]);
	job->nres = 0;
}

/* Release a job without calling its callback. */
static void
db_job_free(struct db_job *job)
{
	if (job == NULL)
		return;
	db_job_clear(job);
	free(job->res);
	db_tx_free(job->tx);
	free(job);
}

/* Hand a finished job to the loop: its callback runs from done_ev, never from the caller's stack. */
void
db_job_done(struct db *db, struct db_job *job)
{
	TAILQ_INSERT_TAIL(&db->done, job, entry);
	event_active(db->done_ev, EV_TIMEOUT, 0);
}

/* Finish a job with an error. */
void
db_job_fail(struct db *db, struct db_job *job, const char *msg, int unavailable)
{
	db_job_clear(job);
	job->failed = 1;
	job->unavailable = unavailable;
	db_copy_msg(job->err, sizeof(job->err), msg);
	db_job_done(db, job);
}

/* Run the callbacks of finished jobs. */
static void
db_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db *db = arg;
	struct db_jobq batch;
	struct db_job *job;
	struct db_result r;

	(void)fd;
	(void)what;
	/* Jobs finished by these callbacks wait for the next activation, so one busy caller cannot starve the loop. */
	TAILQ_INIT(&batch);
	TAILQ_CONCAT(&batch, &db->done, entry);
	db->dispatching = 1;
	while ((job = TAILQ_FIRST(&batch)) != NULL) {
		TAILQ_REMOVE(&batch, job, entry);
		if (db->dead) {
			db_job_free(job);
			continue;
		}
		memset(&r, 0, sizeof(r));
		if (job->failed) {
			r.err = job->err;
			r.sqlstate = job->sqlstate[0] != '\0' ? job->sqlstate : NULL;
			r.unavailable = job->unavailable;
			r.maybe_committed = job->unavailable && job->committing;
		} else {
			r.res = job->res;
			r.nres = job->nres;
		}
		if (job->cb != NULL)
			job->cb(job->arg, &r);
		db_job_free(job);
	}
	db->dispatching = 0;
	if (db->dead)
		db_free(db);
}

/* The pool went from no connection up to one: tell db_on_up's caller, unless that changed meanwhile. */
static void
db_up_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db *db = arg;

	(void)fd;
	(void)what;
	if (db->up > 0 && db->up_cb != NULL)
		db->up_cb(db->up_arg);
}

/* Fail every queued job: no connection is up. */
void
db_fail_queue(struct db *db, const char *msg)
{
	struct db_job *job;

	while ((job = TAILQ_FIRST(&db->queue)) != NULL) {
		TAILQ_REMOVE(&db->queue, job, entry);
		db->queued--;
		db_job_fail(db, job, msg, 1);
	}
}

/* Give queued jobs to idle connections. */
void
db_pump(struct db *db)
{
	struct db_job *job;
	unsigned i;
	int found;

	if (db->pumping)
		return;
	db->pumping = 1;
	while ((job = TAILQ_FIRST(&db->queue)) != NULL) {
		found = 0;
		for (i = 0; i < db->nconns; i++) {
			if (db->conns[i].state == DB_CONN_IDLE) {
				TAILQ_REMOVE(&db->queue, job, entry);
				db->queued--;
				db_conn_run(&db->conns[i], job);
				found = 1;
				break;
			}
		}
		if (!found)
			break;
	}
	db->pumping = 0;
}

/* Start a pool of connections on base. */
struct db *
db_new(struct event_base *base, const char *conninfo, int pool_size)
{
	struct db *db;
	unsigned i;

	if (base == NULL || conninfo == NULL)
		return NULL;
	if (pool_size <= 0)
		pool_size = DB_POOL_DEFAULT;
	if (pool_size > DB_POOL_MAX)
		pool_size = DB_POOL_MAX;
	db = xcalloc(1, sizeof(*db));
	db->base = base;
	db->conninfo = xstrdup(conninfo);
	db->nconns = pool_size;
	db->queue_max = DB_QUEUE_DEFAULT;
	TAILQ_INIT(&db->queue);
	TAILQ_INIT(&db->done);
	if ((db->done_ev = event_new(base, -1, 0, db_done_cb, db)) == NULL ||
	    (db->up_ev = event_new(base, -1, 0, db_up_cb, db)) == NULL)
		fatalx("event_new failed");
	db->conns = xcalloc(db->nconns, sizeof(*db->conns));
	db->initial = db->nconns;
	for (i = 0; i < db->nconns; i++) {
		db->conns[i].db = db;
		db->conns[i].idx = i;
		db->conns[i].first_attempt = 1;
		db->conns[i].ev_fd = -1;
		if ((db->conns[i].timer = evtimer_new(base, db_conn_timer_cb, &db->conns[i])) == NULL)
			fatalx("evtimer_new failed");
	}
	for (i = 0; i < db->nconns; i++)
		db_conn_start(&db->conns[i]);
	return db;
}

/* Close every connection and drop pending work without calling back. */
void
db_free(struct db *db)
{
	struct db_job *job;
	unsigned i;

	if (db == NULL)
		return;
	for (i = 0; i < db->nconns; i++) {
		db_conn_close(&db->conns[i]);
		db_job_free(db->conns[i].job);
		db->conns[i].job = NULL;
		db->conns[i].state = DB_CONN_DOWN;
		if (db->conns[i].timer != NULL)
			event_free(db->conns[i].timer);
		db->conns[i].timer = NULL;
	}
	db->up = 0;
	while ((job = TAILQ_FIRST(&db->queue)) != NULL) {
		TAILQ_REMOVE(&db->queue, job, entry);
		db_job_free(job);
	}
	db->queued = 0;
	while ((job = TAILQ_FIRST(&db->done)) != NULL) {
		TAILQ_REMOVE(&db->done, job, entry);
		db_job_free(job);
	}
	/* Called from a callback: db_done_cb finishes the job once it unwinds (the rest of its batch is dropped). */
	if (db->dispatching) {
		db->dead = 1;
		return;
	}
	event_free(db->done_ev);
	event_free(db->up_ev);
	free(db->conns);
	free(db->conninfo);
	free(db);
}

/* Run a batch on one connection (see db.h). */
int
db_tx_run(struct db *db, struct db_tx *tx, db_cb cb, void *arg)
{
	struct db_job *job;

	if (db == NULL || db->dead || tx == NULL || tx->n == 0) {
		db_tx_free(tx);
		return -1;
	}
	job = xcalloc(1, sizeof(*job));
	job->tx = tx;
	job->cb = cb;
	job->arg = arg;
	job->res = xcalloc(tx->n, sizeof(PGresult *));
	if (db->up == 0 && db->initial == 0) {
		db_job_fail(db, job, "database unavailable", 1);
		return 0;
	}
	if (db->queued >= db->queue_max) {
		db_job_fail(db, job, "database busy: too many queued queries", 1);
		return 0;
	}
	TAILQ_INSERT_TAIL(&db->queue, job, entry);
	db->queued++;
	db_pump(db);
	return 0;
}

/* Run one statement. */
int
db_query(struct db *db, const char *sql, int nparams, const char *const *params, db_cb cb, void *arg)
{
	struct db_tx *tx;

	if (db == NULL || sql == NULL)
		return -1;
	tx = db_tx_new();
	db_tx_add(tx, sql, nparams, params);
	return db_tx_run(db, tx, cb, arg);
}

/* Change the bound of the wait queue. */
void
db_set_queue_max(struct db *db, unsigned max)
{
	db->queue_max = max;
}

/* At least one connection is up. */
int
db_available(const struct db *db)
{
	return db != NULL && db->up > 0;
}

void
db_on_up(struct db *db, void (*cb)(void *arg), void *arg)
{
	db->up_cb = cb;
	db->up_arg = arg;
}

/* Connections up now. */
unsigned
db_connections_up(const struct db *db)
{
	return db == NULL ? 0 : db->up;
}

/* Statements sent since start. */
unsigned long
db_queries_total(const struct db *db)
{
	return db == NULL ? 0 : db->queries;
}

/* Jobs waiting for a free connection. */
unsigned
db_queue_length(const struct db *db)
{
	return db == NULL ? 0 : db->queued;
}

/* Work not yet called back: queued, running on a connection, or finished and awaiting its callback. */
unsigned
db_pending(const struct db *db)
{
	unsigned n, i;

	if (db == NULL)
		return 0;
	n = db->queued;
	for (i = 0; i < db->nconns; i++)
		if (db->conns[i].job != NULL)
			n++;
	if (!TAILQ_EMPTY(&db->done))
		n++;
	return n;
}
