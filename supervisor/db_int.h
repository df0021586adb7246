/* The insides of the PostgreSQL pool, shared by db.c (the jobs, their queue and callbacks, the public API) and
 * db_conn.c (one connection's state machine: connecting, sending a job's statements, collecting their
 * results). Internal to those two files. */
#ifndef WAGATE_DB_INT_H
#define WAGATE_DB_INT_H

#include <sys/queue.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "db.h"
#include "db_prep.h"

#define DB_POOL_MAX		64
#define DB_CONNECT_TIMEOUT_S	10
#define DB_BACKOFF_MIN_MS	200
#define DB_BACKOFF_MAX_MS	8000
/* Client-side backstop in case the server (or the network path to it) stops answering altogether. */
#define DB_BACKSTOP_MS		(DB_STATEMENT_TIMEOUT_MS + 15000)
#define DB_RETRY_MAX		3
#define DB_ERR_MAX		512


struct db_job {
	TAILQ_ENTRY(db_job) entry;
	struct db_tx *tx;
	db_cb cb;
	void *arg;
	PGresult **res;
	int nres;
	int attempts;
	int committing;		/* the statement that commits was sent: the work may have committed */
	int failed;
	int retry;		/* rolled back by a serialization failure or deadlock: run it again */
	int unavailable;
	char sqlstate[6];
	char err[DB_ERR_MAX];
};
TAILQ_HEAD(db_jobq, db_job);

enum db_conn_state { DB_CONN_DOWN, DB_CONN_CONNECTING, DB_CONN_IDLE, DB_CONN_BUSY };
/*
 * A single statement is one command (STMT). A batch of several goes in two round trips, not one per statement:
 * PREP prepares the texts this session lacks (one command each, once per session), PIPE sends BEGIN and every
 * statement in one pipeline and collects their results, then COMMIT (or ROLLBACK after an error) goes on its
 * own: work whose COMMIT was never sent still cannot have committed (db_conn_lost reruns it elsewhere).
 */
enum db_step { DB_STEP_STMT, DB_STEP_PREP, DB_STEP_PIPE, DB_STEP_COMMIT, DB_STEP_ROLLBACK };

struct db_conn {
	struct db *db;
	unsigned idx;
	PGconn *pg;
	enum db_conn_state state;
	struct event *ev;	/* one-shot event on PQsocket, re-armed after every wake-up */
	int ev_fd;
	short ev_what;
	struct event *timer;	/* backoff (DOWN), connect timeout (CONNECTING), backstop (BUSY) */
	unsigned failures;	/* consecutive failed connection attempts */
	int first_attempt;	/* still in the attempt db_new started */
	int warned;		/* this outage was logged */
	struct db_job *job;
	enum db_step step;
	int stmt;		/* STMT, PREP: the statement at hand; PIPE: whose results come next (-1: BEGIN's) */
	int preparing;		/* the command in flight prepares the statement stmt (then it runs) */
	struct db_prep *prep;	/* the statements this session prepared (NULL while down) */
	PGresult *cur;		/* first result of the command in flight */
};

struct db {
	struct event_base *base;
	char *conninfo;
	struct db_conn *conns;
	unsigned nconns;
	unsigned up;
	unsigned initial;	/* connections still in their first attempt: work queues meanwhile */
	struct db_jobq queue;
	unsigned queued;
	unsigned queue_max;
	struct db_jobq done;	/* finished jobs whose callbacks run from done_ev */
	struct event *done_ev;
	int pumping;
	int dispatching;	/* inside db_done_cb: db_free is deferred to its end */
	int dead;
	unsigned long queries;
	void (*up_cb)(void *arg);	/* db_on_up's, run from up_ev */
	void *up_arg;
	struct event *up_ev;
};

/* db.c */
/* Copy a libpq message onto one line, without trailing blanks. */
void db_copy_msg(char *dst, size_t len, const char *src);
/* Swallow server notices (libpq would print them on stderr). */
void db_notice_cb(void *arg, const char *msg);
/* Drop the results a job collected. */
void db_job_clear(struct db_job *job);
/* Hand a finished job to the loop: its callback runs from done_ev, never from the caller's stack. */
void db_job_done(struct db *db, struct db_job *job);
/* Finish a job with an error. */
void db_job_fail(struct db *db, struct db_job *job, const char *msg, int unavailable);
/* Fail every queued job: no connection is up. */
void db_fail_queue(struct db *db, const char *msg);
/* Give queued jobs to idle connections. */
void db_pump(struct db *db);

/* db_conn.c */
/* Connect (or reconnect) c. */
void db_conn_start(struct db_conn *c);
/* c's connection broke: its job runs elsewhere when it cannot have committed, else fails; c reconnects. */
void db_conn_lost(struct db_conn *c, const char *msg);
/* Run job on the idle connection c. */
void db_conn_run(struct db_conn *c, struct db_job *job);
/* Close c's connection and its events. */
void db_conn_close(struct db_conn *c);
/* c's timer: backoff over, connect timeout or backstop. */
void db_conn_timer_cb(evutil_socket_t fd, short what, void *arg);

#endif
