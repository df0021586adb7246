/* Tests of the asynchronous PostgreSQL pool against a real server (WAGATE_TEST_PGURI, or a private cluster). */
#include <sys/time.h>

#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <libpq-fe.h>

#include "db.h"
#include "log.h"
#include "pgtest.h"
#include "xmalloc.h"

static struct pgtest *pg;		/* the server the tests use */
static char *conninfo;			/* conninfo of this process's scratch database */

/* Does nothing: keeps the loop waking while a test waits. */
static void
test_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* Run the loop until *flag reaches want or timeout_s passes; returns whether it did. */
static int
test_run_until(struct event_base *base, const int *flag, int want, int timeout_s)
{
	struct timeval tick = { 0, 20000 };
	struct timespec start, now;
	struct event *ev;

	ev = event_new(base, -1, EV_PERSIST, test_tick_cb, NULL);
	event_add(ev, &tick);
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (*flag < want) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec >= timeout_s)
			break;
		event_base_loop(base, EVLOOP_ONCE);
	}
	event_free(ev);
	return *flag >= want;
}

/* Run the loop for ms milliseconds. */
static void
test_run_for(struct event_base *base, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* Run the loop until the pool has n connections up. */
static int
test_wait_up(struct event_base *base, struct db *db, unsigned n, int timeout_s)
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (db_connections_up(db) < n) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec >= timeout_s)
			return 0;
		test_run_for(base, 20);
	}
	return 1;
}

/* What a callback saw. */
struct rec {
	int called;
	int failed;
	int unavailable;
	int maybe_committed;
	int nres;
	int ntuples;		/* rows in the last result */
	int sync;		/* called while db_tx_run was still on the stack */
	char err[512];
	char sqlstate[8];
	char val[512];		/* first column of the first row of the last result */
	int *counter;		/* shared count of completions */
};

static int in_run;		/* set around db_tx_run calls: callbacks must never see it */

/* Record a result. */
static void
test_rec_cb(void *arg, const struct db_result *r)
{
	struct rec *rec = arg;
	PGresult *last;

	rec->called++;
	rec->sync = in_run;
	rec->failed = r->err != NULL;
	rec->unavailable = r->unavailable;
	rec->maybe_committed = r->maybe_committed;
	rec->nres = r->nres;
	snprintf(rec->err, sizeof(rec->err), "%s", r->err ? r->err : "");
	snprintf(rec->sqlstate, sizeof(rec->sqlstate), "%s", r->sqlstate ? r->sqlstate : "");
	rec->val[0] = '\0';
	if (r->err == NULL) {
		assert_true(r->nres > 0);
		assert_non_null(r->res);
		last = r->res[r->nres - 1];
		assert_non_null(last);
		rec->ntuples = PQntuples(last);
		if (PQntuples(last) > 0 && PQnfields(last) > 0)
			snprintf(rec->val, sizeof(rec->val), "%s", PQgetvalue(last, 0, 0));
	}
	if (rec->counter != NULL)
		(*rec->counter)++;
}

/* db_query that records into rec. */
static void
test_query(struct db *db, struct rec *rec, const char *sql, int nparams, const char *const *params)
{
	memset(rec->err, 0, sizeof(rec->err));
	in_run = 1;
	assert_int_equal(db_query(db, sql, nparams, params, test_rec_cb, rec), 0);
	in_run = 0;
}

/* db_tx_run that records into rec. */
static void
test_tx(struct db *db, struct rec *rec, struct db_tx *tx)
{
	in_run = 1;
	assert_int_equal(db_tx_run(db, tx, test_rec_cb, rec), 0);
	in_run = 0;
}

/* A query, waited for: a convenience for setting up state. */
static void
test_sync(struct event_base *base, struct db *db, struct rec *rec, const char *sql)
{
	memset(rec, 0, sizeof(*rec));
	test_query(db, rec, sql, 0, NULL);
	assert_true(test_run_until(base, &rec->called, 1, 60));
	if (rec->failed)
		fail_msg("%s: %s", sql, rec->err);
}

/* Queries run on the loop; results arrive asynchronously, in text format. */
static void
test_basic(void **state)
{
	struct event_base *base = event_base_new();
	struct db *db = db_new(base, conninfo, 2);
	const char *p[2] = { "41", NULL };
	struct rec rec = { 0 }, nul = { 0 };
	unsigned long before;

	(void)state;
	assert_non_null(db);
	/* Work submitted while the first connections are still being made waits for them. */
	test_query(db, &rec, "SELECT $1::int + 1", 1, p);
	assert_int_equal(rec.called, 0);
	assert_true(test_run_until(base, &rec.called, 1, 60));
	assert_int_equal(rec.called, 1);
	assert_false(rec.sync);
	assert_false(rec.failed);
	assert_int_equal(rec.nres, 1);
	assert_string_equal(rec.val, "42");
	assert_true(db_available(db));
	assert_true(test_wait_up(base, db, 2, 60));

	/* NULL parameter is SQL NULL. */
	test_query(db, &nul, "SELECT coalesce($1::text, 'was null'), $2::text", 2, (const char *const *)(const char *[]){ NULL, NULL });
	assert_true(test_run_until(base, &nul.called, 1, 60));
	assert_false(nul.failed);
	assert_string_equal(nul.val, "was null");

	/* A statement error is reported with its SQLSTATE and leaves the connection usable. */
	before = db_queries_total(db);
	memset(&rec, 0, sizeof(rec));
	test_query(db, &rec, "SELECT * FROM no_such_table", 0, NULL);
	assert_true(test_run_until(base, &rec.called, 1, 60));
	assert_true(rec.failed);
	assert_false(rec.unavailable);
	assert_string_equal(rec.sqlstate, "42P01");
	assert_non_null(strstr(rec.err, "no_such_table"));
	assert_int_equal(rec.nres, 0);
	assert_true(db_queries_total(db) > before);
	assert_int_equal(db_connections_up(db), 2);

	/* Misuse. */
	assert_int_equal(db_tx_run(db, db_tx_new(), test_rec_cb, &rec), -1);
	assert_int_equal(db_tx_run(NULL, NULL, test_rec_cb, &rec), -1);
	db_free(db);
	event_base_free(base);
}

/* Batches commit together; the first error rolls everything back and reports its SQLSTATE. */
static void
test_transactions(void **state)
{
	struct event_base *base = event_base_new();
	struct db *db = db_new(base, conninfo, 3);
	struct rec rec = { 0 };
	struct db_tx *tx;
	const char *p[2];
	const char bin[] = { 'a', '\0', '\377', 'z' };
	const char *bp[2] = { "7", bin };
	const int blen[2] = { 0, 4 }, bfmt[2] = { 0, 1 };

	(void)state;
	assert_true(test_wait_up(base, db, 1, 60));
	test_sync(base, db, &rec, "CREATE TABLE t (k text PRIMARY KEY, v integer NOT NULL, b bytea)");

	tx = db_tx_new();
	p[0] = "a"; p[1] = "1";
	db_tx_add(tx, "INSERT INTO t (k, v) VALUES ($1, $2::int)", 2, p);
	p[0] = "b"; p[1] = "2";
	db_tx_add(tx, "INSERT INTO t (k, v) VALUES ($1, $2::int)", 2, p);
	db_tx_add(tx, "SELECT sum(v) FROM t", 0, NULL);
	assert_int_equal(db_tx_count(tx), 3);
	memset(&rec, 0, sizeof(rec));
	test_tx(db, &rec, tx);
	assert_true(test_run_until(base, &rec.called, 1, 60));
	assert_false(rec.failed);
	assert_int_equal(rec.nres, 3);
	assert_string_equal(rec.val, "3");

	/* Second insert violates the primary key: the first must not survive. */
	tx = db_tx_new();
	p[0] = "c"; p[1] = "3";
	db_tx_add(tx, "INSERT INTO t (k, v) VALUES ($1, $2::int)", 2, p);
	p[0] = "a"; p[1] = "4";
	db_tx_add(tx, "INSERT INTO t (k, v) VALUES ($1, $2::int)", 2, p);
	db_tx_add(tx, "SELECT 1", 0, NULL);
	memset(&rec, 0, sizeof(rec));
	test_tx(db, &rec, tx);
	assert_true(test_run_until(base, &rec.called, 1, 60));
	assert_true(rec.failed);
	assert_false(rec.unavailable);
	assert_string_equal(rec.sqlstate, "23505");
	assert_int_equal(rec.nres, 0);
	test_sync(base, db, &rec, "SELECT count(*) FROM t");
	assert_string_equal(rec.val, "2");
	/* And the connection is not left inside a failed transaction. */
	test_sync(base, db, &rec, "SELECT count(*) FROM t WHERE k = 'c'");
	assert_string_equal(rec.val, "0");

	/* A NOT NULL violation in a single statement. */
	memset(&rec, 0, sizeof(rec));
	p[0] = "d"; p[1] = NULL;
	test_query(db, &rec, "INSERT INTO t (k, v) VALUES ($1, $2::int)", 2, p);
	assert_true(test_run_until(base, &rec.called, 1, 60));
	assert_string_equal(rec.sqlstate, "23502");

	/* Binary parameters keep NUL and high bytes. */
	tx = db_tx_new();
	db_tx_add_bin(tx, "INSERT INTO t (k, v, b) VALUES ('bin', $1::int, $2)", 2, bp, blen, bfmt);
	db_tx_add(tx, "SELECT encode(b, 'hex') || ':' || v FROM t WHERE k = 'bin'", 0, NULL);
	memset(&rec, 0, sizeof(rec));
	test_tx(db, &rec, tx);
	assert_true(test_run_until(base, &rec.called, 1, 60));
	assert_false(rec.failed);
	assert_string_equal(rec.val, "6100ff7a:7");

	/* A parameter far larger than the socket buffers goes out in pieces as the socket drains. */
	{
		size_t big = 8 * 1024 * 1024, i;
		char *blob = xmalloc(big);
		const char *bigp[1] = { blob };
		const int biglen[1] = { (int)big }, bigfmt[1] = { 1 };

		for (i = 0; i < big; i++)
			blob[i] = (char)(i * 7);
		tx = db_tx_new();
		db_tx_add_bin(tx, "SELECT length($1::bytea) || ':' || md5($1::bytea)", 1, bigp, biglen, bigfmt);
		free(blob);
		memset(&rec, 0, sizeof(rec));
		test_tx(db, &rec, tx);
		assert_true(test_run_until(base, &rec.called, 1, 60));
		assert_false(rec.failed);
		assert_true(strncmp(rec.val, "8388608:", 8) == 0);
		/* And a result far larger than one read. */
		test_sync(base, db, &rec, "SELECT length(string_agg(md5(g::text), '')) FROM generate_series(1, 200000) g");
		assert_string_equal(rec.val, "6400000");
		test_sync(base, db, &rec, "SELECT repeat('x', 100) || g FROM generate_series(1, 100000) g");
		assert_int_equal(rec.ntuples, 100000);
		assert_string_equal(rec.val, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx1");
	}
	db_free(db);
	event_base_free(base);
}

/* Many callers at once share the pool; every callback runs exactly once. */
static void
test_concurrency(void **state)
{
	struct event_base *base = event_base_new();
	struct db *db = db_new(base, conninfo, 4);
	struct rec recs[200];
	char num[200][16];
	const char *p[1];
	int done = 0, i;

	(void)state;
	assert_true(test_wait_up(base, db, 4, 60));
	memset(recs, 0, sizeof(recs));
	for (i = 0; i < 200; i++) {
		snprintf(num[i], sizeof(num[i]), "%d", i);
		p[0] = num[i];
		recs[i].counter = &done;
		test_query(db, &recs[i], "SELECT $1::int * 2", 1, p);
	}
	assert_true(db_queue_length(db) > 0);
	assert_true(test_run_until(base, &done, 200, 120));
	for (i = 0; i < 200; i++) {
		assert_int_equal(recs[i].called, 1);
		assert_false(recs[i].failed);
		assert_int_equal(atoi(recs[i].val), i * 2);
	}
	assert_int_equal(db_queue_length(db), 0);
	test_run_for(base, 100);
	assert_int_equal(done, 200);
	db_free(db);
	event_base_free(base);
}

/* Work beyond the queue bound fails at once with unavailable; the rest completes. */
static void
test_queue_bound(void **state)
{
	struct event_base *base = event_base_new();
	struct db *db = db_new(base, conninfo, 1);
	struct rec slow = { 0 }, recs[6];
	int done = 0, i, nfail = 0, nok = 0;

	(void)state;
	assert_true(test_wait_up(base, db, 1, 60));
	db_set_queue_max(db, 2);
	test_query(db, &slow, "SELECT pg_sleep(0.5)", 0, NULL);
	memset(recs, 0, sizeof(recs));
	for (i = 0; i < 6; i++) {
		recs[i].counter = &done;
		test_query(db, &recs[i], "SELECT 1", 0, NULL);
	}
	assert_int_equal(db_queue_length(db), 2);
	/* The overflow is answered on the next loop turn, long before the slow query ends. */
	test_run_for(base, 50);
	assert_int_equal(done, 4);
	assert_int_equal(slow.called, 0);
	assert_true(test_run_until(base, &done, 6, 60));
	assert_int_equal(slow.called, 1);
	assert_false(slow.failed);
	for (i = 0; i < 6; i++) {
		assert_int_equal(recs[i].called, 1);
		if (recs[i].failed) {
			assert_true(recs[i].unavailable);
			nfail++;
		} else
			nok++;
	}
	assert_int_equal(nok, 2);
	assert_int_equal(nfail, 4);
	assert_false(recs[0].failed);
	assert_false(recs[1].failed);
	db_free(db);
	event_base_free(base);
}

/* A batch whose connection dies before COMMIT is retried elsewhere; one that keeps dying fails unavailable. */
static void
test_retry(void **state)
{
	struct event_base *base = event_base_new();
	struct db *db = db_new(base, conninfo, 2);
	struct rec rec = { 0 };
	struct db_tx *tx;

	(void)state;
	assert_true(test_wait_up(base, db, 2, 60));
	test_sync(base, db, &rec, "CREATE TABLE r (n integer)");
	test_sync(base, db, &rec, "CREATE SEQUENCE r_seq");

	/* The first attempt's session is killed after its INSERT: nothing of it may survive, the retry commits. */
	tx = db_tx_new();
	db_tx_add(tx, "INSERT INTO r VALUES (1)", 0, NULL);
	db_tx_add(tx, "SELECT CASE WHEN nextval('r_seq') = 1 THEN pg_terminate_backend(pg_backend_pid()) "
	    "ELSE true END", 0, NULL);
	db_tx_add(tx, "SELECT count(*) FROM r", 0, NULL);
	memset(&rec, 0, sizeof(rec));
	test_tx(db, &rec, tx);
	assert_true(test_run_until(base, &rec.called, 1, 60));
	assert_false(rec.failed);
	assert_string_equal(rec.val, "1");
	test_sync(base, db, &rec, "SELECT last_value FROM r_seq");
	assert_string_equal(rec.val, "2");

	/* Always killed: gives up after a few attempts with unavailable, and nothing committed. */
	tx = db_tx_new();
	db_tx_add(tx, "INSERT INTO r VALUES (2)", 0, NULL);
	db_tx_add(tx, "SELECT pg_terminate_backend(pg_backend_pid())", 0, NULL);
	memset(&rec, 0, sizeof(rec));
	test_tx(db, &rec, tx);
	assert_true(test_run_until(base, &rec.called, 1, 60));
	assert_true(rec.failed);
	assert_true(rec.unavailable);
	assert_false(rec.maybe_committed);	/* COMMIT was never sent */
	assert_true(test_wait_up(base, db, 1, 60));
	test_sync(base, db, &rec, "SELECT count(*) FROM r WHERE n = 2");
	assert_string_equal(rec.val, "0");

	/* A single statement that was sent is never retried: it might have committed. */
	memset(&rec, 0, sizeof(rec));
	test_query(db, &rec, "SELECT nextval('r_seq'), pg_terminate_backend(pg_backend_pid())", 0, NULL);
	assert_true(test_run_until(base, &rec.called, 1, 60));
	assert_true(rec.unavailable);
	assert_true(rec.maybe_committed);
	assert_true(test_wait_up(base, db, 1, 60));
	test_sync(base, db, &rec, "SELECT last_value FROM r_seq");
	assert_string_equal(rec.val, "3");
	db_free(db);
	event_base_free(base);
}

/* A batch rolled back by a serialization failure runs again; a persistent one reports its SQLSTATE. */
static void
test_serialization_retry(void **state)
{
	struct event_base *base = event_base_new();
	struct db *db = db_new(base, conninfo, 1);
	struct rec rec = { 0 };
	struct db_tx *tx;

	(void)state;
	assert_true(test_wait_up(base, db, 1, 60));
	test_sync(base, db, &rec, "CREATE TABLE s (n integer)");
	test_sync(base, db, &rec, "CREATE SEQUENCE s_seq");
	test_sync(base, db, &rec, "CREATE FUNCTION s_conflict(fail_until integer) RETURNS integer AS $$ "
	    "BEGIN IF nextval('s_seq') <= fail_until THEN "
	    "RAISE EXCEPTION 'simulated conflict' USING ERRCODE = '40001'; END IF; RETURN 1; END $$ LANGUAGE plpgsql");
	tx = db_tx_new();
	db_tx_add(tx, "INSERT INTO s VALUES (1)", 0, NULL);
	db_tx_add(tx, "SELECT s_conflict(1)", 0, NULL);
	memset(&rec, 0, sizeof(rec));
	test_tx(db, &rec, tx);
	assert_true(test_run_until(base, &rec.called, 1, 60));
	assert_false(rec.failed);
	test_sync(base, db, &rec, "SELECT count(*) FROM s");
	assert_string_equal(rec.val, "1");

	tx = db_tx_new();
	db_tx_add(tx, "INSERT INTO s VALUES (2)", 0, NULL);
	db_tx_add(tx, "SELECT s_conflict(1000)", 0, NULL);
	memset(&rec, 0, sizeof(rec));
	test_tx(db, &rec, tx);
	assert_true(test_run_until(base, &rec.called, 1, 60));
	assert_true(rec.failed);
	assert_false(rec.unavailable);
	assert_string_equal(rec.sqlstate, "40001");
	test_sync(base, db, &rec, "SELECT count(*) FROM s");
	assert_string_equal(rec.val, "1");
	db_free(db);
	event_base_free(base);
}

static struct db *free_me;
static int free_calls;

/* Free the pool from inside a callback: the other finished jobs must not be reported. */
static void
test_free_cb(void *arg, const struct db_result *r)
{
	(void)arg;
	(void)r;
	free_calls++;
	db_free(free_me);
	free_me = NULL;
}

/* Links of the query chain still to run. */
static int chain_left;

/* Submit the next link of a chain of queries from inside a callback. */
static void
test_chain_cb(void *arg, const struct db_result *r)
{
	struct db *db = arg;

	assert_null(r->err);
	if (--chain_left > 0)
		assert_int_equal(db_query(db, "SELECT 1", 0, NULL, test_chain_cb, db), 0);
}

/* Callbacks may submit more work; db_free drops pending work silently, even when called from a callback. */
static void
test_reentrancy_and_free(void **state)
{
	struct event_base *base = event_base_new();
	struct db *db = db_new(base, conninfo, 2);
	struct rec rec = { 0 }, pending[3];
	int i;

	(void)state;
	assert_true(test_wait_up(base, db, 2, 60));
	chain_left = 20;
	assert_int_equal(db_query(db, "SELECT 1", 0, NULL, test_chain_cb, db), 0);
	for (i = 0; i < 6000 && chain_left > 0; i++)
		test_run_for(base, 10);
	assert_int_equal(chain_left, 0);

	/* In flight, queued and finished-but-not-reported work: all dropped silently. */
	memset(pending, 0, sizeof(pending));
	for (i = 0; i < 3; i++)
		test_query(db, &pending[i], "SELECT pg_sleep(0.2)", 0, NULL);
	test_query(db, &rec, "SELECT 1", 0, NULL);
	db_free(db);
	test_run_for(base, 300);
	for (i = 0; i < 3; i++)
		assert_int_equal(pending[i].called, 0);
	assert_int_equal(rec.called, 0);
	db_free(NULL);

	/* Freed by its own callback while other results wait in the same batch. */
	free_me = db_new(base, conninfo, 2);
	assert_true(test_wait_up(base, free_me, 1, 60));
	db_set_queue_max(free_me, 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(db_query(free_me, "SELECT 1", 0, NULL, test_free_cb, NULL), 0);
	test_run_for(base, 200);
	assert_int_equal(free_calls, 1);
	assert_null(free_me);
	event_base_free(base);
}

/* A statement past statement_timeout fails with unavailable; the pool replaces the connection. */
static void
test_statement_timeout(void **state)
{
	struct event_base *base = event_base_new();
	char *ci = pgtest_conninfo(conninfo, NULL, "options='-c statement_timeout=300'");
	struct db *db = db_new(base, ci, 1);
	struct rec rec = { 0 };

	(void)state;
	assert_true(test_wait_up(base, db, 1, 60));
	test_query(db, &rec, "SELECT pg_sleep(5)", 0, NULL);
	assert_true(test_run_until(base, &rec.called, 1, 30));
	assert_true(rec.failed);
	assert_true(rec.unavailable);
	assert_string_equal(rec.sqlstate, "57014");
	assert_true(test_wait_up(base, db, 1, 60));
	test_sync(base, db, &rec, "SELECT 'again'");
	assert_string_equal(rec.val, "again");
	db_free(db);
	free(ci);
	event_base_free(base);
}

/* libpq may switch sockets while connecting (several hosts, IPv6 then IPv4): the pool follows. */
static void
test_multi_host(void **state)
{
	struct event_base *base = event_base_new();
	PQconninfoOption *opts, *o;
	const char *port = NULL;
	char *extra, *ci;
	struct db *db;
	struct rec rec = { 0 };

	(void)state;
	assert_non_null(opts = PQconninfoParse(conninfo, NULL));
	for (o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, "port") == 0 && o->val != NULL)
			port = o->val;
	assert_non_null(port);
	xasprintf(&extra, "host=127.0.0.1,localhost port=%d,%s", pgtest_free_port(), port);
	PQconninfoFree(opts);
	ci = pgtest_conninfo(conninfo, NULL, extra);
	db = db_new(base, ci, 2);
	assert_true(test_wait_up(base, db, 2, 60));
	test_sync(base, db, &rec, "SELECT 'via second host'");
	assert_string_equal(rec.val, "via second host");
	db_free(db);
	free(ci);
	free(extra);
	event_base_free(base);
}

/* Nothing listening: work fails quickly with unavailable instead of hanging. */
static void
test_no_server(void **state)
{
	struct event_base *base = event_base_new();
	char *ci;
	struct db *db;
	struct rec early = { 0 }, late = { 0 };
	struct timespec t0, t1;

	(void)state;
	xasprintf(&ci, "host=127.0.0.1 port=%d dbname=x user=x", pgtest_free_port());
	db = db_new(base, ci, 2);
	assert_non_null(db);
	assert_false(db_available(db));
	test_query(db, &early, "SELECT 1", 0, NULL);
	assert_true(test_run_until(base, &early.called, 1, 30));
	assert_true(early.failed);
	assert_true(early.unavailable);
	assert_false(early.maybe_committed);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	test_query(db, &late, "SELECT 1", 0, NULL);
	assert_int_equal(late.called, 0);
	assert_true(test_run_until(base, &late.called, 1, 30));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(late.unavailable);
	assert_true(t1.tv_sec - t0.tv_sec <= 2);
	assert_int_equal(db_connections_up(db), 0);
	db_free(db);
	free(ci);
	event_base_free(base);
}

/* db_on_up's callback: counts the calls. */
static void
test_up_cb(void *arg)
{
	(*(int *)arg)++;
}

/* The server stops mid-test: in-flight work fails with unavailable, new work fails fast, and the pool recovers;
 * db_on_up hears of the first connection up, once at the start and once per recovery. */
static void
test_outage(void **state)
{
	struct pgtest *tmp = NULL, *c;
	struct event_base *base = event_base_new();
	struct db *db;
	struct rec inflight = { 0 }, during = { 0 }, after = { 0 };
	char *ci;
	struct timespec t0, t1;
	int i, ups = 0;

	(void)state;
	/* A shared server (WAGATE_TEST_PGURI) must not be stopped: take a private cluster down instead. */
	if (pgtest_is_private(pg))
		c = pg;
	else if ((c = tmp = pgtest_new(1)) == NULL)
		fail_msg("could not start a private cluster for the outage test");
	ci = pgtest_db_create(c, "db_outage");
	assert_non_null(ci);
	db = db_new(base, ci, 3);
	db_on_up(db, test_up_cb, &ups);
	assert_true(test_wait_up(base, db, 3, 60));
	test_sync(base, db, &after, "CREATE TABLE w (n integer)");
	assert_int_equal(ups, 1);		/* the first connection, not each of the three */

	/* Let the slow query reach the server, then stop the server under it. */
	test_query(db, &inflight, "SELECT pg_sleep(30)", 0, NULL);
	test_run_for(base, 300);
	assert_int_equal(inflight.called, 0);
	pgtest_cluster_stop(c);
	assert_true(test_run_until(base, &inflight.called, 1, 30));
	assert_true(inflight.failed);
	assert_true(inflight.unavailable);
	/* Idle connections notice the shutdown by themselves. */
	for (i = 0; i < 1500 && db_connections_up(db) > 0; i++)
		test_run_for(base, 20);
	assert_int_equal(db_connections_up(db), 0);
	assert_false(db_available(db));
	assert_int_equal(ups, 1);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	test_query(db, &during, "INSERT INTO w VALUES (1)", 0, NULL);
	assert_true(test_run_until(base, &during.called, 1, 30));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(during.unavailable);
	assert_true(t1.tv_sec - t0.tv_sec <= 2);
	/* Several backoff rounds while down. */
	test_run_for(base, 1500);

	assert_int_equal(pgtest_cluster_start(c), 0);
	assert_true(test_wait_up(base, db, 3, 60));
	memset(&after, 0, sizeof(after));
	test_query(db, &after, "SELECT count(*) FROM w", 0, NULL);
	assert_true(test_run_until(base, &after.called, 1, 60));
	assert_false(after.failed);
	assert_string_equal(after.val, "0");
	assert_int_equal(ups, 2);		/* back: once more */
	db_free(db);
	event_base_free(base);
	pgtest_db_drop(c, "db_outage");
	free(ci);
	pgtest_free(tmp);
}

/* A text with parameters is prepared once per connection and then only executed: the session lists it in
 * pg_prepared_statements, with as many runs as were asked. A text the server refuses fails its transaction
 * like any statement error, and the connection goes on. */
static void
test_prepared(void **state)
{
	struct event_base *base = event_base_new();
	struct db *db = db_new(base, conninfo, 1);
	const char *sql = "SELECT $1::int * 2 AS prep_probe";
	const char *p[1] = { "21" }, *q[1] = { sql };
	struct rec rec = { 0 };
	struct db_tx *tx;
	int i;

	(void)state;
	assert_non_null(db);
	for (i = 0; i < 5; i++) {
		memset(&rec, 0, sizeof(rec));
		test_query(db, &rec, sql, 1, p);
		assert_true(test_run_until(base, &rec.called, 1, 60));
		assert_false(rec.failed);
		assert_string_equal(rec.val, "42");
	}
	/* One connection: this runs in the same session. */
	memset(&rec, 0, sizeof(rec));
	test_query(db, &rec, "SELECT count(*) || ':' || coalesce(sum(generic_plans + custom_plans), 0)"
	    " FROM pg_prepared_statements WHERE statement = $1", 1, q);
	assert_true(test_run_until(base, &rec.called, 1, 60));
	assert_false(rec.failed);
	assert_string_equal(rec.val, "1:5");

	/* A text marked DB_UNPREPARED runs as often, alone or in a pipelined transaction, and is never prepared
	 * (planned at every run, with the table sizes of that moment). */
	for (i = 0; i < 6; i++) {
		memset(&rec, 0, sizeof(rec));
		if (i % 2 == 0)
			test_query(db, &rec, DB_UNPREPARED "SELECT $1::int * 3 AS unprep_probe", 1, p);
		else {
			tx = db_tx_new();
			db_tx_add(tx, DB_UNPREPARED "SELECT $1::int * 3 AS unprep_probe", 1, p);
			db_tx_add(tx, DB_UNPREPARED "SELECT $1::int * 3 AS unprep_probe", 1, p);
			test_tx(db, &rec, tx);
		}
		assert_true(test_run_until(base, &rec.called, 1, 60));
		assert_false(rec.failed);
		assert_string_equal(rec.val, "63");
	}
	memset(&rec, 0, sizeof(rec));
	test_query(db, &rec, "SELECT count(*)::text FROM pg_prepared_statements WHERE statement LIKE $1", 1,
	    (const char *[]){ "%unprep_probe%" });
	assert_true(test_run_until(base, &rec.called, 1, 60));
	assert_false(rec.failed);
	assert_string_equal(rec.val, "0");

	/* A refused text inside a transaction: the earlier statement is rolled back, nothing is cached. */
	test_sync(base, db, &rec, "CREATE TABLE prep_t (n integer)");
	tx = db_tx_new();
	db_tx_add(tx, "INSERT INTO prep_t VALUES ($1::int)", 1, p);
	db_tx_add(tx, "INSERT INTO prep_no_such_table VALUES ($1::int)", 1, p);
	memset(&rec, 0, sizeof(rec));
	test_tx(db, &rec, tx);
	assert_true(test_run_until(base, &rec.called, 1, 60));
	assert_true(rec.failed);
	assert_string_equal(rec.sqlstate, "42P01");
	test_sync(base, db, &rec, "SELECT count(*) FROM prep_t");
	assert_string_equal(rec.val, "0");
	memset(&rec, 0, sizeof(rec));
	test_query(db, &rec, sql, 1, p);
	assert_true(test_run_until(base, &rec.called, 1, 60));
	assert_string_equal(rec.val, "42");

	/* A new session (the server ended this one) prepares again instead of naming a statement it lacks. */
	memset(&rec, 0, sizeof(rec));
	test_query(db, &rec, "SELECT pg_terminate_backend(pg_backend_pid()) FROM (SELECT $1::int) x", 1, p);
	assert_true(test_run_until(base, &rec.called, 1, 60));
	assert_true(test_wait_up(base, db, 1, 60));
	for (i = 0; i < 2; i++) {
		memset(&rec, 0, sizeof(rec));
		test_query(db, &rec, sql, 1, p);
		assert_true(test_run_until(base, &rec.called, 1, 60));
		assert_false(rec.failed);
		assert_string_equal(rec.val, "42");
	}
	test_sync(base, db, &rec, "DROP TABLE prep_t");
	db_free(db);
	event_base_free(base);
}

/* Pick the server and create this process's scratch database. */
static int
test_setup(void **state)
{
	(void)state;
	if ((pg = pgtest_new(0)) == NULL)
		return -1;
	conninfo = pgtest_db_create(pg, "db_test_%d", (int)getpid());
	return conninfo != NULL ? 0 : -1;
}

/* Drop the scratch database and any private cluster. */
static int
test_teardown(void **state)
{
	(void)state;
	pgtest_free(pg);
	free(conninfo);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_prepared),
		cmocka_unit_test(test_transactions),
		cmocka_unit_test(test_concurrency),
		cmocka_unit_test(test_queue_bound),
		cmocka_unit_test(test_retry),
		cmocka_unit_test(test_serialization_retry),
		cmocka_unit_test(test_reentrancy_and_free),
		cmocka_unit_test(test_statement_timeout),
		cmocka_unit_test(test_multi_host),
		cmocka_unit_test(test_no_server),
		cmocka_unit_test(test_outage),
	};

	signal(SIGPIPE, SIG_IGN);
	log_init("db_test", getenv("WAGATE_TEST_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, test_setup, test_teardown);
}
