/* The supervisor's PostgreSQL layer: a pool of non-blocking libpq connections driven by the libevent loop. */
#ifndef WAGATE_DB_H
#define WAGATE_DB_H

#include <libpq-fe.h>

struct event_base;
struct db;
struct db_tx;

struct db_result {
	PGresult **res;		/* one per statement, in order (NULL entries never); valid only during the callback */
	int nres;		/* 0 when err is set: a failed transaction was rolled back */
	const char *err;	/* NULL on success; else a human-readable message */
	const char *sqlstate;	/* SQLSTATE of the failing statement when the server reported one (e.g. "23505"), else NULL */
	int unavailable;	/* 1 when the database could not be reached / connection lost: callers answer 503 */
	int maybe_committed;	/* with unavailable: the statement that commits was sent and no answer came, so the
				 * work may have committed; 0 = it certainly did not */
};

typedef void (*db_cb)(void *arg, const struct db_result *r);

#define DB_POOL_DEFAULT		4
#define DB_QUEUE_DEFAULT	1024	/* jobs waiting for a free connection before db_tx_run fails them */
#define DB_STATEMENT_TIMEOUT_MS	30000	/* server-side statement_timeout; a connection past it is broken */

/*
 * Start a pool of pool_size connections (<= 0: DB_POOL_DEFAULT) on base; connecting is asynchronous.
 * Each connection gets application_name=wagate, TCP keepalives and statement_timeout=30s unless conninfo
 * (a URI or key=value string) sets its own.
 */
struct db *db_new(struct event_base *base, const char *conninfo, int pool_size);
/* Close every connection and drop queued work without calling its callbacks (NULL ok; not from a db callback). */
void db_free(struct db *db);
/* At least one connection is up. */
int db_available(const struct db *db);
/* Call cb(arg) on a later loop turn whenever the pool goes from no connection up to one (the database is back
 * after an outage, or reached for the first time). cb NULL: no more calls. */
void db_on_up(struct db *db, void (*cb)(void *arg), void *arg);

/* A batch of statements to run in one transaction. */
struct db_tx *db_tx_new(void);
/* Append a statement; copies sql and the text parameters (NULL parameter = SQL NULL). */
void db_tx_add(struct db_tx *tx, const char *sql, int nparams, const char *const *params);
/* Append a statement with binary parameters (bytea); lengths/formats as for PQexecParams (NULL = all text). */
void db_tx_add_bin(struct db_tx *tx, const char *sql, int nparams, const char *const *params,
    const int *lengths, const int *formats);
/* Number of statements added so far. */
int db_tx_count(const struct db_tx *tx);
/* A copy of a batch that was never run, for a caller that may have to run the same work again (the pool
 * takes the one it runs). */
struct db_tx *db_tx_dup(const struct db_tx *tx);
/* Append deep copies of src's statements to dst. */
void db_tx_append(struct db_tx *dst, const struct db_tx *src);
/* Release a batch that was never run (NULL ok). */
void db_tx_free(struct db_tx *tx);

/*
 * Run the statements on one connection; more than one statement is wrapped in BEGIN/COMMIT (rolled back on the
 * first error). Takes ownership of tx. cb is called exactly once, never synchronously from inside db_tx_run.
 * Returns 0, or -1 only on misuse (NULL db/tx or an empty tx; tx is freed and cb is not called).
 * When no connection is up cb gets unavailable=1 on the next loop turn. Work queues while every connection is
 * busy (bounded: overflow fails with unavailable=1). A batch whose COMMIT was never sent is retried on another
 * connection when its connection is lost; anything that might have committed fails with unavailable=1.
 */
int db_tx_run(struct db *db, struct db_tx *tx, db_cb cb, void *arg);
/*
 * Statements with parameters are prepared once per connection and run from PostgreSQL's plan cache, which keeps
 * a generic plan after a few runs. A text that starts with DB_UNPREPARED is never prepared: it is planned at
 * every run, with the table sizes of that moment. For rare statements on a table whose size swings (the webhook
 * outbox's retry UPDATE): a generic plan made while the table was empty (every path costs
 * nothing, a sequential scan wins) stays cached, and once a backlog has grown the table it scans all of it at
 * every run. Planning costs a hot statement more than that (the outbox's hot ones run on a generic plan without
 * sequential scans instead: webhook_tx_indexed).
 */
#define DB_UNPREPARED	"/* unprepared */ "
/* One statement, convenience wrapper of db_tx_run. */
int db_query(struct db *db, const char *sql, int nparams, const char *const *params, db_cb cb, void *arg);

/* Change the bound of the wait queue (tests; default DB_QUEUE_DEFAULT). */
void db_set_queue_max(struct db *db, unsigned max);

/* Metrics. */
unsigned db_connections_up(const struct db *db);
unsigned long db_queries_total(const struct db *db);
/* Jobs waiting for a free connection. */
unsigned db_queue_length(const struct db *db);
/* Jobs whose callback has not run yet (queued, running or finished); 0 when the pool is idle. */
unsigned db_pending(const struct db *db);

#endif
