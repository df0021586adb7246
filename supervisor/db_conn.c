/* One connection of the PostgreSQL pool (db_int.h): its state machine, driven by events on its socket, from
 * connecting through sending a job's statements (prepared, pipelined) to collecting their results. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "db_int.h"
#include "db_tx.h"
#include "log.h"
#include "xmalloc.h"

static void db_conn_io_cb(evutil_socket_t, short, void *);

/* Wait for fd readiness on the connection's socket. */
static int
db_conn_arm(struct db_conn *c, short what)
{
	int fd = PQsocket(c->pg);

	if (fd < 0)
		return -1;
	if (c->ev != NULL && (c->ev_fd != fd || c->ev_what != what)) {
		event_free(c->ev);
		c->ev = NULL;
	}
	if (c->ev == NULL) {
		if ((c->ev = event_new(c->db->base, fd, what, db_conn_io_cb, c)) == NULL)
			fatalx("event_new failed");
		c->ev_fd = fd;
		c->ev_what = what;
	}
	return 0;
}

/* Set the connection timer (ms). */
static void
db_conn_timer(struct db_conn *c, unsigned ms)
{
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(c->timer, &tv);
}

/* Close the libpq side of a connection and its socket event. */
void
db_conn_close(struct db_conn *c)
{
	/* The event goes before PQfinish closes the fd, so libevent never watches a recycled descriptor. */
	if (c->ev != NULL) {
		event_free(c->ev);
		c->ev = NULL;
	}
	if (c->timer != NULL)
		evtimer_del(c->timer);
	if (c->cur != NULL) {
		PQclear(c->cur);
		c->cur = NULL;
	}
	/* A new session starts with no prepared statements. */
	db_prep_free(c->prep);
	c->prep = NULL;
	c->preparing = 0;
	if (c->pg != NULL) {
		PQfinish(c->pg);
		c->pg = NULL;
	}
}

/* Schedule the next connection attempt with the common backoff (c->failures failed attempts so far). */
static void
db_conn_backoff(struct db_conn *c)
{
	c->state = DB_CONN_DOWN;
	db_conn_timer(c, backoff_ms(c->failures, DB_BACKOFF_MIN_MS, DB_BACKOFF_MAX_MS));
}

/* A connection attempt failed: back off and, if nothing is up any more, fail the waiting work. */
static void
db_conn_connect_failed(struct db_conn *c, const char *msg)
{
	struct db *db = c->db;
	char buf[DB_ERR_MAX];

	db_copy_msg(buf, sizeof(buf), msg);
	db_conn_close(c);
	if (!c->warned) {
		log_warnx("connection %u: %s", c->idx, buf);
		c->warned = 1;
	} else
		log_debug("connection %u: %s", c->idx, buf);
	c->failures++;
	if (c->first_attempt) {
		c->first_attempt = 0;
		db->initial--;
	}
	db_conn_backoff(c);
	if (db->up == 0 && db->initial == 0)
		db_fail_queue(db, "database unavailable");
}

/* The connection is established: put it to work. */
static void
db_conn_up(struct db_conn *c)
{
	struct db *db = c->db;

	evtimer_del(c->timer);
	if (PQsetnonblocking(c->pg, 1) == -1) {
		db_conn_connect_failed(c, PQerrorMessage(c->pg));
		return;
	}
	PQsetNoticeProcessor(c->pg, db_notice_cb, NULL);
	db_prep_free(c->prep);
	c->prep = db_prep_new();
	if (c->warned)
		log_info("connection %u is back", c->idx);
	else
		log_debug("connection %u up", c->idx);
	c->warned = 0;
	c->failures = 0;
	c->state = DB_CONN_IDLE;
	if (++db->up == 1 && db->up_cb != NULL)
		event_active(db->up_ev, 0, 0);
	if (c->first_attempt) {
		c->first_attempt = 0;
		db->initial--;
	}
	if (db_conn_arm(c, EV_READ) == -1) {
		db_conn_lost(c, "connection has no socket");
		return;
	}
	event_add(c->ev, NULL);
	db_pump(db);
}

/* Advance a connection attempt one step (PQconnectPoll). */
static void
db_conn_connect_step(struct db_conn *c)
{
	switch (PQconnectPoll(c->pg)) {
	case PGRES_POLLING_READING:
		if (db_conn_arm(c, EV_READ) == -1)
			goto fail;
		event_add(c->ev, NULL);
		return;
	case PGRES_POLLING_WRITING:
		if (db_conn_arm(c, EV_WRITE) == -1)
			goto fail;
		event_add(c->ev, NULL);
		return;
	case PGRES_POLLING_OK:
		db_conn_up(c);
		return;
	default:
		break;
	}
fail:
	db_conn_connect_failed(c, PQerrorMessage(c->pg));
}

/* Wait for the answer of the command just sent; -1 when the connection is broken. */
static int
db_conn_sent(struct db_conn *c)
{
	int r;

	db_conn_timer(c, DB_BACKSTOP_MS);
	if ((r = PQflush(c->pg)) == -1)
		return -1;
	if (db_conn_arm(c, EV_READ | (r == 1 ? EV_WRITE : 0)) == -1)
		return -1;
	event_add(c->ev, NULL);
	return 0;
}

/* Send one command; -1 when the connection is broken. */
static int
db_conn_send(struct db_conn *c, const char *sql, int nparams, char *const *values, const int *lengths,
    const int *formats)
{
	if (PQsendQueryParams(c->pg, sql, nparams, NULL, (const char *const *)values, lengths, formats, 0) == 0)
		return -1;
	return db_conn_sent(c);
}

/*
 * Send statement s: as the prepared statement of its text when this session has one, else prepare it first
 * (c->preparing: db_conn_step_done runs it once the server has it). Only texts with parameters: those are
 * the repeated ones (their values are parameters), and a text without any may be one-off DDL.
 */
static int
db_conn_send_stmt(struct db_conn *c, const struct db_stmt *s)
{
	char name[DB_PREP_NAME_MAX];

	if (s->nparams == 0 || c->prep == NULL)
		return db_conn_send(c, s->sql, s->nparams, s->values, s->lengths, s->formats);
	switch (db_prep_find(c->prep, s->sql, s->hash, name)) {
	case 1:
		if (PQsendQueryPrepared(c->pg, name, s->nparams, (const char *const *)s->values, s->lengths,
		    s->formats, 0) == 0)
			return -1;
		return db_conn_sent(c);
	case 0:
		if (PQsendPrepare(c->pg, name, s->sql, s->nparams, NULL) == 0)
			return -1;
		c->preparing = 1;
		return db_conn_sent(c);
	default:
		return db_conn_send(c, s->sql, s->nparams, s->values, s->lengths, s->formats);
	}
}

/* BEGIN and every statement of the job in one pipeline, then a sync point (which commits nothing: the block
 * is explicit). */
static int
db_conn_send_pipe(struct db_conn *c)
{
	struct db_job *job = c->job;
	const struct db_stmt *s;
	char name[DB_PREP_NAME_MAX];
	int i, rc;

	if (PQenterPipelineMode(c->pg) == 0 ||
	    PQsendQueryParams(c->pg, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) == 0)
		return -1;
	for (i = 0; i < job->tx->n; i++) {
		s = &job->tx->stmts[i];
		if (s->nparams > 0 && c->prep != NULL && db_prep_find(c->prep, s->sql, s->hash, name) == 1)
			rc = PQsendQueryPrepared(c->pg, name, s->nparams, (const char *const *)s->values, s->lengths,
			    s->formats, 0);
		else
			rc = PQsendQueryParams(c->pg, s->sql, s->nparams, NULL, (const char *const *)s->values,
			    s->lengths, s->formats, 0);
		if (rc == 0)
			return -1;
		c->db->queries++;
	}
	if (PQpipelineSync(c->pg) == 0)
		return -1;
	c->stmt = -1;
	return db_conn_sent(c);
}

/* Send the command the connection's job is at. */
static int
db_conn_send_step(struct db_conn *c)
{
	struct db_job *job = c->job;
	struct db_stmt *s;
	char name[DB_PREP_NAME_MAX];

	switch (c->step) {
	case DB_STEP_PREP:
		for (; c->stmt < job->tx->n; c->stmt++) {
			s = &job->tx->stmts[c->stmt];
			if (s->nparams == 0 || c->prep == NULL || db_prep_find(c->prep, s->sql, s->hash, name) != 0)
				continue;
			if (PQsendPrepare(c->pg, name, s->sql, s->nparams, NULL) == 0)
				return -1;
			c->preparing = 1;
			return db_conn_sent(c);
		}
		c->step = DB_STEP_PIPE;
		return db_conn_send_pipe(c);
	case DB_STEP_PIPE:
		return -1;	/* sent at once by PREP */
	case DB_STEP_COMMIT:
		if (db_conn_send(c, "COMMIT", 0, NULL, NULL, NULL) == -1)
			return -1;
		job->committing = 1;
		return 0;
	case DB_STEP_ROLLBACK:
		return db_conn_send(c, "ROLLBACK", 0, NULL, NULL, NULL);
	case DB_STEP_STMT:
		s = &job->tx->stmts[c->stmt];
		if (db_conn_send_stmt(c, s) == -1)
			return -1;
		if (c->preparing)
			return 0;	/* the statement itself goes once it is prepared */
		c->db->queries++;
		job->committing = 1;
		return 0;
	}
	return -1;
}

/* Start a job on an idle connection. */
void
db_conn_run(struct db_conn *c, struct db_job *job)
{
	c->job = job;
	c->state = DB_CONN_BUSY;
	c->preparing = 0;
	job->attempts++;
	db_job_clear(job);
	c->step = job->tx->n > 1 ? DB_STEP_PREP : DB_STEP_STMT;
	c->stmt = 0;
	if (db_conn_send_step(c) == -1)
		db_conn_lost(c, PQerrorMessage(c->pg));
}

/* The connection finished its job: report it and take the next one. */
static void
db_conn_finish(struct db_conn *c)
{
	struct db *db = c->db;
	struct db_job *job = c->job;

	c->job = NULL;
	c->state = DB_CONN_IDLE;
	evtimer_del(c->timer);
	if (job->retry && job->attempts < DB_RETRY_MAX) {
		/* The server rolled the whole batch back, so running it again cannot apply anything twice. */
		job->retry = 0;
		job->failed = 0;
		job->err[0] = '\0';
		job->sqlstate[0] = '\0';
		job->committing = 0;
		TAILQ_INSERT_HEAD(&db->queue, job, entry);
		db->queued++;
	} else
		db_job_done(db, job);
	if (db_conn_arm(c, EV_READ) == -1) {
		db_conn_lost(c, "connection has no socket");
		return;
	}
	event_add(c->ev, NULL);
	db_pump(db);
}

/* Record a failed statement's message and SQLSTATE in its job. */
static void
db_job_set_error(struct db_job *job, const PGresult *r)
{
	const char *primary, *detail, *state;

	primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
	state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	if (primary != NULL && detail != NULL) {
		char buf[DB_ERR_MAX];

		snprintf(buf, sizeof(buf), "%s (%s)", primary, detail);
		db_copy_msg(job->err, sizeof(job->err), buf);
	} else if (primary != NULL)
		db_copy_msg(job->err, sizeof(job->err), primary);
	else
		db_copy_msg(job->err, sizeof(job->err), PQresultErrorMessage(r));
	if (state != NULL && strlen(state) == 5)
		memcpy(job->sqlstate, state, 6);
	else
		job->sqlstate[0] = '\0';
	job->failed = 1;
}

/* A statement of job failed (r its result, NULL when there was none; state its SQLSTATE): the job's error, and
 * whether running it again may succeed (serialization failure or deadlock). */
static void
db_job_fail_stmt(struct db_job *job, PGresult *r, const char *state)
{
	db_job_clear(job);
	if (r != NULL)
		db_job_set_error(job, r);
	else {
		db_copy_msg(job->err, sizeof(job->err), "statement returned no result");
		job->failed = 1;
	}
	job->retry = state != NULL && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0);
}

/* One command of the job completed with result r (may be NULL): move to the next. */
static void
db_conn_step_done(struct db_conn *c, PGresult *r)
{
	struct db_job *job = c->job;
	ExecStatusType st = r != NULL ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	const char *state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY;
	char msg[DB_ERR_MAX];

	if (!ok && (PQstatus(c->pg) == CONNECTION_BAD ||
	    (state != NULL && (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)))) {
		/* The server went away (shutdown, crash, network): the retry policy of db_conn_lost applies. */
		db_copy_msg(msg, sizeof(msg), r != NULL ? PQresultErrorMessage(r) : PQerrorMessage(c->pg));
		PQclear(r);
		db_conn_lost(c, msg);
		return;
	}
	if (!ok && state != NULL && strcmp(state, "57014") == 0) {
		/* statement_timeout: the connection counts as broken; the work is rolled back with it. */
		db_job_clear(job);
		db_job_set_error(job, r);
		job->unavailable = 1;
		PQclear(r);
		c->job = NULL;
		db_job_done(c->db, job);
		db_conn_lost(c, "statement timeout");
		return;
	}
	switch (c->step) {
	case DB_STEP_PREP:
		/* A text the server refused fails the job: nothing ran yet, no transaction to roll back. */
		c->preparing = 0;
		if (!ok)
			goto failed;
		PQclear(r);
		db_prep_add(c->prep, job->tx->stmts[c->stmt].sql, job->tx->stmts[c->stmt].hash);
		c->stmt++;
		break;
	case DB_STEP_PIPE:
		PQclear(r);	/* db_conn_pipe_drain's */
		return;
	case DB_STEP_STMT:
		if (c->preparing) {
			/* The statement is prepared (or its text was refused: the job fails as if it had run). */
			c->preparing = 0;
			if (!ok)
				goto failed;
			PQclear(r);
			db_prep_add(c->prep, job->tx->stmts[c->stmt].sql, job->tx->stmts[c->stmt].hash);
			break;
		}
		if (!ok)
			goto failed;
		job->res[job->nres++] = r;
		db_conn_finish(c);
		return;
	case DB_STEP_COMMIT:
		if (!ok)
			goto failed;
		PQclear(r);
		db_conn_finish(c);
		return;
	case DB_STEP_ROLLBACK:
		PQclear(r);
		db_conn_finish(c);
		return;
	}
	if (db_conn_send_step(c) == -1)
		db_conn_lost(c, PQerrorMessage(c->pg));
	return;

failed:
	db_job_fail_stmt(job, r, state);
	PQclear(r);
	db_conn_finish(c);
}

/* Whether r says the server or the connection went away, or the statement ran past statement_timeout: then
 * the job and the connection are settled here (the connection is replaced) and 1 is returned. */
static int
db_conn_broken(struct db_conn *c, PGresult *r, int ok)
{
	struct db_job *job = c->job;
	const char *state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	char msg[DB_ERR_MAX];

	if (!ok && (PQstatus(c->pg) == CONNECTION_BAD ||
	    (state != NULL && (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)))) {
		db_copy_msg(msg, sizeof(msg), r != NULL ? PQresultErrorMessage(r) : PQerrorMessage(c->pg));
		PQclear(r);
		db_conn_lost(c, msg);
		return 1;
	}
	if (!ok && state != NULL && strcmp(state, "57014") == 0) {
		db_job_clear(job);
		db_job_set_error(job, r);
		job->unavailable = 1;
		PQclear(r);
		c->job = NULL;
		db_job_done(c->db, job);
		db_conn_lost(c, "statement timeout");
		return 1;
	}
	return 0;
}

/* The results of one pipelined command (r: its first result, may be NULL). -1: the connection is gone. */
static int
db_conn_pipe_result(struct db_conn *c, PGresult *r)
{
	struct db_job *job = c->job;
	ExecStatusType st = r != NULL ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	const char *state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY;
	int k = c->stmt++;

	if (st == PGRES_PIPELINE_ABORTED) {
		/* Skipped after an earlier error: that one is the job's. */
		PQclear(r);
		return 0;
	}
	if (db_conn_broken(c, r, ok))
		return -1;
	if (!ok) {
		if (!job->failed) {
			db_job_fail_stmt(job, r, state);
		}
		PQclear(r);
		return 0;
	}
	if (k < 0 || job->failed || job->nres >= job->tx->n)
		PQclear(r);	/* BEGIN's */
	else
		job->res[job->nres++] = r;
	return 0;
}

/* The pipeline's sync point: leave pipeline mode, then COMMIT, or ROLLBACK the failed block. */
static void
db_conn_pipe_end(struct db_conn *c)
{
	struct db_job *job = c->job;

	if (PQexitPipelineMode(c->pg) == 0) {
		db_conn_lost(c, PQerrorMessage(c->pg));
		return;
	}
	if (!job->failed && job->nres != job->tx->n) {
		db_job_clear(job);
		db_copy_msg(job->err, sizeof(job->err), "a statement returned no result");
		job->failed = 1;
	}
	c->step = job->failed ? DB_STEP_ROLLBACK : DB_STEP_COMMIT;
	if (db_conn_send_step(c) == -1) {
		if (job->failed) {
			/* Nothing committed: the job is finished with its own error, the connection is replaced. */
			c->job = NULL;
			db_job_done(c->db, job);
		}
		db_conn_lost(c, PQerrorMessage(c->pg));
	}
}

/* Collect the pipeline's results that are complete without blocking: each command's results end with a
 * NULL, the whole with the sync point. */
static void
db_conn_pipe_drain(struct db_conn *c)
{
	PGresult *r;

	while (c->state == DB_CONN_BUSY && c->step == DB_STEP_PIPE) {
		if (PQisBusy(c->pg))
			return;
		r = PQgetResult(c->pg);
		if (r != NULL && PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
			PQclear(r);
			if (c->cur != NULL) {
				PQclear(c->cur);
				c->cur = NULL;
			}
			db_conn_pipe_end(c);
			return;
		}
		if (r != NULL) {
			if (c->cur == NULL)
				c->cur = r;
			else
				PQclear(r);
			continue;
		}
		r = c->cur;
		c->cur = NULL;
		if (db_conn_pipe_result(c, r) == -1)
			return;
	}
}

/* Collect every result that is complete without blocking. */
static void
db_conn_drain(struct db_conn *c)
{
	PGresult *r;

	while (c->state == DB_CONN_BUSY) {
		if (c->step == DB_STEP_PIPE) {
			db_conn_pipe_drain(c);
			if (c->state != DB_CONN_BUSY || c->step == DB_STEP_PIPE)
				return;
			continue;
		}
		if (PQisBusy(c->pg))
			return;
		if ((r = PQgetResult(c->pg)) != NULL) {
			if (c->cur == NULL)
				c->cur = r;
			else
				PQclear(r);
			continue;
		}
		r = c->cur;
		c->cur = NULL;
		db_conn_step_done(c, r);
	}
}

/* Socket readiness on a connection. */
static void
db_conn_io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn *c = arg;
	PGnotify *n;
	int r;

	(void)fd;
	switch (c->state) {
	case DB_CONN_CONNECTING:
		db_conn_connect_step(c);
		return;
	case DB_CONN_IDLE:
		/* An idle connection only hears from the server when it is going away (or a NOTIFY). */
		if (PQconsumeInput(c->pg) == 0 || PQstatus(c->pg) == CONNECTION_BAD) {
			db_conn_lost(c, PQerrorMessage(c->pg));
			return;
		}
		while ((n = PQnotifies(c->pg)) != NULL)
			PQfreemem(n);
		event_add(c->ev, NULL);
		return;
	case DB_CONN_BUSY:
		if ((what & EV_READ) && PQconsumeInput(c->pg) == 0) {
			db_conn_lost(c, PQerrorMessage(c->pg));
			return;
		}
		if ((r = PQflush(c->pg)) == -1) {
			db_conn_lost(c, PQerrorMessage(c->pg));
			return;
		}
		db_conn_drain(c);
		if (c->state != DB_CONN_BUSY || c->ev == NULL)
			return;
		/* Still waiting on this command; the send path may have re-armed already with other flags. */
		r = PQflush(c->pg);
		if (r == -1) {
			db_conn_lost(c, PQerrorMessage(c->pg));
			return;
		}
		if (db_conn_arm(c, EV_READ | (r == 1 ? EV_WRITE : 0)) == -1) {
			db_conn_lost(c, "connection has no socket");
			return;
		}
		event_add(c->ev, NULL);
		return;
	case DB_CONN_DOWN:
		return;
	}
}

/* Timer: reconnect (DOWN), give up connecting (CONNECTING), or declare a hung query's connection broken. */
void
db_conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn *c = arg;

	(void)fd;
	(void)what;
	switch (c->state) {
	case DB_CONN_DOWN:
		db_conn_start(c);
		return;
	case DB_CONN_CONNECTING:
		db_conn_connect_failed(c, "timeout while connecting");
		return;
	case DB_CONN_BUSY:
		db_conn_lost(c, "query exceeded the client-side timeout");
		return;
	case DB_CONN_IDLE:
		return;
	}
}

/* Begin a non-blocking connection attempt. */
void
db_conn_start(struct db_conn *c)
{
	char opts[128];
	const char *keys[] = { "application_name", "options", "keepalives", "keepalives_idle",
	    "keepalives_interval", "keepalives_count", "dbname", NULL };
	const char *vals[8];

	/* conninfo goes last so an operator's own settings win over these defaults. */
	snprintf(opts, sizeof(opts), "-c statement_timeout=%d -c idle_in_transaction_session_timeout=%d",
	    DB_STATEMENT_TIMEOUT_MS, 2 * DB_STATEMENT_TIMEOUT_MS);
	vals[0] = "wagate";
	vals[1] = opts;
	vals[2] = "1";
	vals[3] = "30";
	vals[4] = "10";
	vals[5] = "3";
	vals[6] = c->db->conninfo;
	vals[7] = NULL;
	c->state = DB_CONN_CONNECTING;
	if ((c->pg = PQconnectStartParams(keys, vals, 1)) == NULL)
		fatalx("out of memory");
	if (PQstatus(c->pg) == CONNECTION_BAD) {
		db_conn_connect_failed(c, PQerrorMessage(c->pg));
		return;
	}
	db_conn_timer(c, DB_CONNECT_TIMEOUT_S * 1000);
	/* libpq's rule: behave as if PQconnectPoll had asked for writability first. */
	if (db_conn_arm(c, EV_WRITE) == -1) {
		db_conn_connect_failed(c, PQerrorMessage(c->pg));
		return;
	}
	event_add(c->ev, NULL);
}

/* The connection broke: fail or retry its job, and reconnect after a short pause. */
void
db_conn_lost(struct db_conn *c, const char *msg)
{
	struct db *db = c->db;
	struct db_job *job = c->job;
	char buf[DB_ERR_MAX];

	db_copy_msg(buf, sizeof(buf), msg);
	if (c->state == DB_CONN_IDLE || c->state == DB_CONN_BUSY)
		db->up--;
	c->job = NULL;
	db_conn_close(c);
	if (!c->warned) {
		log_warnx("connection %u: %s", c->idx, buf);
		c->warned = 1;
	}
	c->failures = 0;
	db_conn_backoff(c);
	if (job != NULL) {
		/* Work whose commit was never sent cannot have committed: another connection may run it. */
		if (!job->committing && job->attempts < DB_RETRY_MAX) {
			db_job_clear(job);
			TAILQ_INSERT_HEAD(&db->queue, job, entry);
			db->queued++;
		} else
			db_job_fail(db, job, buf, 1);
	}
	if (db->up == 0 && db->initial == 0)
		db_fail_queue(db, "database unavailable");
	else
		db_pump(db);
}

