/* The webhook tests' shared harness (webhook_testlib.c): PostgreSQL, a receiver, loop helpers. */
#ifndef WAGATE_WEBHOOK_TESTLIB_H
#define WAGATE_WEBHOOK_TESTLIB_H

#include <libpq-fe.h>

struct db;
struct event_base;
struct evhttp;
struct pgtest;
struct webhook;

#define INST_ID		"6f1c1d2e-3b4a-4c5d-8e9f-0a1b2c3d4e5f"
#define INST2_ID	"7a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
#define MAX_REQS	128

struct recv_req {
	char path[256];
	char delivery[32];
	char event[64];
	char auth[128];
	char custom[64];
	char ctype[64];
	char *body;
	int status;			/* what the receiver answered */
};

struct receiver {
	struct evhttp *http;
	int port;
	int fail_next;			/* answer 500 to this many requests first */
	const char *fail_match;		/* answer 500 to fail_match_n requests whose body contains this */
	int fail_match_n;
	int delay_ms;			/* answer this late (0: at once) */
	int pending;			/* answers waiting for delay_ms */
	int overlaps;			/* requests that came while another of the same instance was pending */
	struct recv_req reqs[MAX_REQS];
	int n;
};

struct webhook_test {
	struct event_base *base;
	struct pgtest *pg;
	char *uri;
	PGconn *conn;
	struct db *db;
	struct receiver rx;
	int msgs_global_off;		/* global_event_enabled answers no for MESSAGES_UPSERT */
};

extern struct webhook_test T;

/* Group setup: start (or reuse) PostgreSQL, create this test's database, apply the schema, start the receiver. */
int webhook_test_setup(void **state);
/* Group teardown: drop everything webhook_test_setup made. */
int webhook_test_teardown(void **state);
/* Per-test setup: empty tables, forget received requests. */
int webhook_test_reset(void **state);

/* Run a statement on the test's own blocking connection; fail the test on error. */
void sql(const char *q);
/* First column of the first row as a number (-1 when no row). */
long sql_long(const char *q);
/* First column of the first row as a new string (NULL when no row or SQL NULL). */
char *sql_text(const char *q);
/* Start listening on port (0 = pick one). */
void receiver_start(int port);
/* Stop listening and drop open connections (keep-alive ones too). */
void receiver_stop(void);
/* Forget recorded requests. */
void receiver_reset(void);
/* Run the loop until pred(arg) holds or timeout_ms passes; returns whether it holds. */
int run_until(int (*pred)(void *), void *arg, int timeout_ms);
/* Let the loop run for ms regardless. */
void run_for(int ms);
/* Predicates for run_until: an int flag set, *arg requests received, outbox empty, a row failed *arg times. */
int pred_flag(void *arg);
int pred_reqs(void *arg);
int pred_outbox_empty(void *arg);
int pred_attempts(void *arg);
/* Commit one event through the real db layer and kick the loop. */
void enqueue(struct webhook *w, const char *id, const char *name, const char *event, const char *data,
    const char *sender);
/* A webhook with test-sized timings; global URL on the receiver unless global is NULL. */
struct webhook *new_webhook(struct db *db, const char *global, int by_events, int retry_min_ms);
/* Instance with its own webhook (url NULL = none). */
void add_instance(const char *id, const char *name, const char *url, int by_events, const char *events,
    int enabled);
/* Find a recorded request by path. */
struct recv_req *find_req(const char *path);

#endif
