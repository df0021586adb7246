/* The webhook tests' shared harness: a private PostgreSQL database with the schema, a blocking connection
 * for checks, the real db pool, an in-process HTTP receiver (evhttp) and helpers to run the loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <sys/time.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <libpq-fe.h>

#include "db.h"
#include "log.h"
#include "migrate.h"
#include "pgtest.h"
#include "webhook.h"
#include "webhook_testlib.h"
#include "xmalloc.h"

struct webhook_test T;

/* Run a statement on the test's own blocking connection; fail the test on error. */
void
sql(const char *q)
{
	PGresult *r = PQexec(T.conn, q);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", q, PQerrorMessage(T.conn));
	PQclear(r);
}

/* First column of the first row as a number (-1 when no row). */
long
sql_long(const char *q)
{
	PGresult *r = PQexec(T.conn, q);
	long v = -1;

	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", q, PQerrorMessage(T.conn));
	if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
		v = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return v;
}

/* First column of the first row as a new string (NULL when no row or SQL NULL). */
char *
sql_text(const char *q)
{
	PGresult *r = PQexec(T.conn, q);
	char *v = NULL;

	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", q, PQerrorMessage(T.conn));
	if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
		v = xstrdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

/* Copy one request header into a fixed buffer. */
static void
copy_header(struct evkeyvalq *h, const char *name, char *out, size_t outsz)
{
	const char *v = evhttp_find_header(h, name);

	snprintf(out, outsz, "%s", v ? v : "");
}

/* An answer the receiver sends delay_ms late. */
struct recv_later {
	struct evhttp_request *req;
	struct event *ev;
	char instance[64];
	int code;
	struct recv_later *next;
};

static struct recv_later *recv_pending;

/* The body's "instance" value (jsonb text form), or "" when it has none. */
static void
body_instance(const char *body, char *out, size_t outsz)
{
	const char *p = strstr(body, "\"instance\": \"");
	size_t n;

	out[0] = '\0';
	if (p == NULL)
		return;
	p += strlen("\"instance\": \"");
	n = strcspn(p, "\"");
	if (n < outsz) {
		memcpy(out, p, n);
		out[n] = '\0';
	}
}

/* Send a delayed answer and forget it. */
static void
receiver_later_cb(evutil_socket_t fd, short what, void *arg)
{
	struct recv_later *l = arg, **pp;

	for (pp = &recv_pending; *pp != NULL; pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	T.rx.pending--;
	evhttp_send_reply(l->req, l->code, l->code == 200 ? "OK" : "Internal Server Error", NULL);
	event_free(l->ev);
	free(l);
}

/* The receiver: record the request, answer 500 while fail_next > 0 or to a fail_match body, else 200;
 * delay_ms late when set, counting requests of an instance that already has one waiting. */
static void
receiver_cb(struct evhttp_request *req, void *arg)
{
	struct receiver *rx = arg;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	struct recv_req *r = NULL;
	struct recv_later *l, *o;
	struct timeval tv;
	char *body;
	size_t len;
	int code = 200;

	len = evbuffer_get_length(in);
	body = xmalloc(len + 1);
	evbuffer_remove(in, body, len);
	body[len] = '\0';
	if (rx->fail_next > 0) {
		rx->fail_next--;
		code = 500;
	} else if (rx->fail_match != NULL && rx->fail_match_n > 0 && strstr(body, rx->fail_match) != NULL) {
		rx->fail_match_n--;
		code = 500;
	}
	if (rx->n < MAX_REQS) {
		r = &rx->reqs[rx->n++];
		snprintf(r->path, sizeof(r->path), "%s", evhttp_request_get_uri(req));
		copy_header(h, "X-Wagate-Delivery", r->delivery, sizeof(r->delivery));
		copy_header(h, "X-Wagate-Event", r->event, sizeof(r->event));
		copy_header(h, "Authorization", r->auth, sizeof(r->auth));
		copy_header(h, "X-Custom", r->custom, sizeof(r->custom));
		copy_header(h, "Content-Type", r->ctype, sizeof(r->ctype));
		r->body = body;
		r->status = code;
		body = NULL;
	}
	if (rx->delay_ms <= 0) {
		free(body);
		evhttp_send_reply(req, code, code == 200 ? "OK" : "Internal Server Error", NULL);
		return;
	}
	l = xcalloc(1, sizeof(*l));
	l->req = req;
	l->code = code;
	body_instance(r != NULL ? r->body : body, l->instance, sizeof(l->instance));
	free(body);
	for (o = recv_pending; o != NULL; o = o->next)
		if (l->instance[0] != '\0' && strcmp(o->instance, l->instance) == 0)
			rx->overlaps++;
	l->next = recv_pending;
	recv_pending = l;
	rx->pending++;
	l->ev = evtimer_new(T.base, receiver_later_cb, l);
	tv.tv_sec = rx->delay_ms / 1000;
	tv.tv_usec = (rx->delay_ms % 1000) * 1000;
	evtimer_add(l->ev, &tv);
}

/* Start listening on port (0 = pick one). */
void
receiver_start(int port)
{
	T.rx.http = evhttp_new(T.base);
	assert_non_null(T.rx.http);
	evhttp_set_gencb(T.rx.http, receiver_cb, &T.rx);
	if (port == 0)
		port = pgtest_free_port();
	assert_int_equal(evhttp_bind_socket(T.rx.http, "127.0.0.1", (unsigned short)port), 0);
	T.rx.port = port;
}

/* Stop listening and drop open connections (keep-alive ones too). */
void
receiver_stop(void)
{
	struct recv_later *l;

	/* Unanswered delayed requests die with their connections. */
	while ((l = recv_pending) != NULL) {
		recv_pending = l->next;
		event_free(l->ev);
		free(l);
	}
	T.rx.pending = 0;
	if (T.rx.http != NULL)
		evhttp_free(T.rx.http);
	T.rx.http = NULL;
}

/* Forget recorded requests. */
void
receiver_reset(void)
{
	int i;

	for (i = 0; i < T.rx.n; i++)
		free(T.rx.reqs[i].body);
	T.rx.n = 0;
	T.rx.fail_next = 0;
	T.rx.fail_match = NULL;
	T.rx.fail_match_n = 0;
	T.rx.delay_ms = 0;
	T.rx.overlaps = 0;
}

/* Run the loop until pred(arg) holds or timeout_ms passes; returns whether it holds. */
int
run_until(int (*pred)(void *), void *arg, int timeout_ms)
{
	struct timespec t0, t;
	struct timeval tick = { 0, 20000 };

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!pred(arg)) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > timeout_ms)
			return 0;
		event_base_loopexit(T.base, &tick);
		event_base_dispatch(T.base);
	}
	return 1;
}

/* Let the loop run for ms regardless. */
void
run_for(int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(T.base, &tv);
	event_base_dispatch(T.base);
}

/* An int flag became non-zero. */
int
pred_flag(void *arg)
{
	return *(int *)arg != 0;
}

/* The receiver has seen at least *arg requests. */
int
pred_reqs(void *arg)
{
	return T.rx.n >= *(int *)arg;
}

/* Every row was delivered or dropped. */
int
pred_outbox_empty(void *arg)
{
	return sql_long("SELECT count(*) FROM webhook_outbox") == 0;
}

/* Some row has failed at least *arg times. */
int
pred_attempts(void *arg)
{
	return sql_long("SELECT coalesce(max(attempts), 0) FROM webhook_outbox") >= *(int *)arg;
}

struct tx_wait {
	int done;
	char err[512];
};

/* Callback for enqueue transactions. */
static void
tx_done_cb(void *arg, const struct db_result *r)
{
	struct tx_wait *tw = arg;

	tw->done = 1;
	snprintf(tw->err, sizeof(tw->err), "%s", r->err ? r->err : "");
}

/* Commit one event through the real db layer and kick the loop. */
void
enqueue(struct webhook *w, const char *id, const char *name, const char *event, const char *data, const char *sender)
{
	struct db_tx *tx = db_tx_new();
	struct tx_wait tw = { 0, "" };

	webhook_enqueue(w, tx, id, name, event, data, sender);
	assert_int_equal(db_tx_run(T.db, tx, tx_done_cb, &tw), 0);
	assert_true(run_until(pred_flag, &tw.done, 10000));
	if (tw.err[0] != '\0')
		fail_msg("enqueue %s: %s", event, tw.err);
	webhook_kick(w);
}

/* WEBHOOK_EVENTS_<X> stand-in. */
static int
global_event_enabled(const char *filter, void *arg)
{
	if (T.msgs_global_off && strcmp(filter, "MESSAGES_UPSERT") == 0)
		return 0;
	return 1;
}

/* A webhook with test-sized timings; global URL on the receiver unless global is NULL. */
struct webhook *
new_webhook(struct db *db, const char *global, int by_events, int retry_min_ms)
{
	struct webhook_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.global_url = global;
	cfg.global_enabled = global != NULL;
	cfg.global_by_events = by_events;
	cfg.server_url = "https://api.example.com";
	cfg.global_event_enabled = global_event_enabled;
	cfg.retry_min_ms = retry_min_ms;
	cfg.retry_max_ms = retry_min_ms * 4;
	cfg.concurrency = 4;
	cfg.request_timeout_ms = 3000;
	return webhook_new(T.base, db, &cfg);
}

/* Reset tables and receiver between tests. */
int
webhook_test_reset(void **state)
{
	sql("DELETE FROM webhook_outbox");
	sql("DELETE FROM instance");
	receiver_reset();
	T.msgs_global_off = 0;
	return 0;
}

/* Instance with its own webhook. */
void
add_instance(const char *id, const char *name, const char *url, int by_events, const char *events, int enabled)
{
	char q[1024];

	snprintf(q, sizeof(q), "INSERT INTO instance (id, name, token) VALUES ('%s', '%s', 'tok-%s')", id, name, name);
	sql(q);
	if (url == NULL)
		return;
	snprintf(q, sizeof(q), "INSERT INTO instance_webhook (instance_id, url, headers, by_events, events, enabled)"
	    " VALUES ('%s', '%s', '{\"Authorization\": \"Bearer s3cret\", \"X-Custom\": \"42\", \"Bad Name\": \"x\","
	    " \"X-Inject\": \"a\\r\\nX-Evil: 1\"}', %s, '%s', %s)", id, url, by_events ? "true" : "false", events,
	    enabled ? "true" : "false");
	sql(q);
}

/* Find a recorded request by path. */
struct recv_req *
find_req(const char *path)
{
	int i;

	for (i = 0; i < T.rx.n; i++)
		if (strcmp(T.rx.reqs[i].path, path) == 0)
			return &T.rx.reqs[i];
	return NULL;
}

/* Start (or reuse) PostgreSQL, create this test's database and apply the schema. */
int
webhook_test_setup(void **state)
{
	const char *src = getenv("WAGATE_SRCDIR") ? getenv("WAGATE_SRCDIR") : ".";
	char path[512], err[512];

	log_init("webhook_test", getenv("WAGATE_TEST_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN);
	T.base = event_base_new();
	if ((T.pg = pgtest_new(0)) == NULL ||
	    (T.uri = pgtest_db_create(T.pg, "webhook_test_%d", (int)getpid())) == NULL)
		return -1;
	T.conn = PQconnectdb(T.uri);
	if (PQstatus(T.conn) != CONNECTION_OK)
		return -1;
	/* Every migration, as the supervisor applies them (0003 adds the index the claim walks). */
	snprintf(path, sizeof(path), "%s/migrations", src);
	if (migrate_run(T.uri, path, err, sizeof(err)) == -1) {
		fprintf(stderr, "schema: %s\n", err);
		return -1;
	}
	T.db = db_new(T.base, T.uri, 2);
	receiver_start(0);
	return 0;
}

/* Drop the database and stop the cluster we started. */
int
webhook_test_teardown(void **state)
{
	struct timeval deadline, now;

	receiver_stop();
	receiver_reset();
	/* A freed webhook's queries still in flight free their records from their callbacks (webhook_free): let
	 * them run before db_free drops them unanswered, as main() does at exit. */
	gettimeofday(&deadline, NULL);
	deadline.tv_sec += 5;
	while (db_pending(T.db) > 0 && db_available(T.db)) {
		event_base_loop(T.base, EVLOOP_ONCE);
		gettimeofday(&now, NULL);
		if (timercmp(&now, &deadline, >))
			break;
	}
	db_free(T.db);
	PQfinish(T.conn);
	pgtest_free(T.pg);
	free(T.uri);
	event_base_free(T.base);
	return 0;
}
