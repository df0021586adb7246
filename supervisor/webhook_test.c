/* Webhook outbox against a real PostgreSQL and a real HTTP receiver (evhttp in this process):
 * targets, byEvents, filters, headers, envelope, retries with a stable delivery id, outages, restarts. */
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <json-c/json.h>
#include <libpq-fe.h>

#include "db.h"
#include "log.h"
#include "pgtest.h"
#include "webhook.h"
#include "xmalloc.h"

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
};

struct receiver {
	struct evhttp *http;
	int port;
	int fail_next;			/* answer 500 to this many requests first */
	struct recv_req reqs[MAX_REQS];
	int n;
};

static struct {
	struct event_base *base;
	struct pgtest *pg;
	char *uri;
	PGconn *conn;
	struct db *db;
	struct receiver rx;
	int msgs_global_off;		/* global_event_enabled answers no for MESSAGES_UPSERT */
} T;

/* Run a statement on the test's own blocking connection; fail the test on error. */
static void
sql(const char *q)
{
	PGresult *r = PQexec(T.conn, q);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", q, PQerrorMessage(T.conn));
	PQclear(r);
}

/* First column of the first row as a number (-1 when no row). */
static long
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
static char *
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

/* The receiver: record the request, answer 500 while fail_next > 0, else 200. */
static void
receiver_cb(struct evhttp_request *req, void *arg)
{
	struct receiver *rx = arg;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	struct recv_req *r;
	size_t len;

	if (rx->n < MAX_REQS) {
		r = &rx->reqs[rx->n++];
		snprintf(r->path, sizeof(r->path), "%s", evhttp_request_get_uri(req));
		copy_header(h, "X-Wagate-Delivery", r->delivery, sizeof(r->delivery));
		copy_header(h, "X-Wagate-Event", r->event, sizeof(r->event));
		copy_header(h, "Authorization", r->auth, sizeof(r->auth));
		copy_header(h, "X-Custom", r->custom, sizeof(r->custom));
		copy_header(h, "Content-Type", r->ctype, sizeof(r->ctype));
		len = evbuffer_get_length(in);
		r->body = xmalloc(len + 1);
		evbuffer_remove(in, r->body, len);
		r->body[len] = '\0';
	}
	if (rx->fail_next > 0) {
		rx->fail_next--;
		evhttp_send_reply(req, 500, "Internal Server Error", NULL);
		return;
	}
	evhttp_send_reply(req, 200, "OK", NULL);
}

/* Start listening on port (0 = pick one). */
static void
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
static void
receiver_stop(void)
{
	if (T.rx.http != NULL)
		evhttp_free(T.rx.http);
	T.rx.http = NULL;
}

/* Forget recorded requests. */
static void
receiver_reset(void)
{
	int i;

	for (i = 0; i < T.rx.n; i++)
		free(T.rx.reqs[i].body);
	T.rx.n = 0;
	T.rx.fail_next = 0;
}

/* Run the loop until pred(arg) holds or timeout_ms passes; returns whether it holds. */
static int
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
static void
run_for(int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(T.base, &tv);
	event_base_dispatch(T.base);
}

/* An int flag became non-zero. */
static int
pred_flag(void *arg)
{
	return *(int *)arg != 0;
}

/* The receiver has seen at least *arg requests. */
static int
pred_reqs(void *arg)
{
	return T.rx.n >= *(int *)arg;
}

/* Every row was delivered or dropped. */
static int
pred_outbox_empty(void *arg)
{
	return sql_long("SELECT count(*) FROM webhook_outbox") == 0;
}

/* Some row has failed at least *arg times. */
static int
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
static void
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
static struct webhook *
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
static int
reset(void **state)
{
	sql("DELETE FROM webhook_outbox");
	sql("DELETE FROM instance");
	receiver_reset();
	T.msgs_global_off = 0;
	return 0;
}

/* Instance with its own webhook. */
static void
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
static struct recv_req *
find_req(const char *path)
{
	int i;

	for (i = 0; i < T.rx.n; i++)
		if (strcmp(T.rx.reqs[i].path, path) == 0)
			return &T.rx.reqs[i];
	return NULL;
}

/* Names: filter name and byEvents suffix per Evolution. */
static void
test_names(void **state)
{
	char out[64];

	assert_int_equal(webhook_filter_name("connection.update", out, sizeof(out)), 0);
	assert_string_equal(out, "CONNECTION_UPDATE");
	assert_int_equal(webhook_filter_name("group-participants.update", out, sizeof(out)), 0);
	assert_string_equal(out, "GROUP_PARTICIPANTS_UPDATE");
	assert_int_equal(webhook_url_suffix("group-participants.update", out, sizeof(out)), 0);
	assert_string_equal(out, "group-participants-update");
	assert_int_equal(webhook_url_suffix("typebot.change-status", out, sizeof(out)), 0);
	assert_string_equal(out, "typebot-change-status");
	assert_int_equal(webhook_url_suffix("call", out, sizeof(out)), 0);
	assert_string_equal(out, "call");
	assert_int_equal(webhook_filter_name("", out, sizeof(out)), -1);
	assert_int_equal(webhook_filter_name("connection.update", out, 5), -1);
}

/* date_time is real UTC ISO-8601 with milliseconds and Z. */
static void
test_time(void **state)
{
	char buf[40];
	regex_t re;

	webhook_format_time(buf, sizeof(buf));
	assert_int_equal(regcomp(&re, "^20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]\\.[0-9]{3}Z$",
	    REG_EXTENDED | REG_NOSUB), 0);
	assert_int_equal(regexec(&re, buf, 0, NULL, 0), 0);
	regfree(&re);
}

/* Rows per target: instance webhook (byEvents, filter) and global webhook (byEvents), envelope fields. */
static void
test_enqueue_rows(void **state)
{
	char url[128], gurl[128], q[512], *s;
	struct webhook *w;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/inst", T.rx.port);
	snprintf(gurl, sizeof(gurl), "http://127.0.0.1:%d/global", T.rx.port);
	add_instance(INST_ID, "sales", url, 1, "{CONNECTION_UPDATE,GROUP_UPDATE}", 1);
	w = new_webhook(NULL, gurl, 1, 100);	/* no db: rows stay for inspection */

	enqueue(w, INST_ID, "sales", "connection.update", "{\"instance\":\"sales\",\"state\":\"open\"}",
	    "5511999999999@s.whatsapp.net");
	assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox WHERE event = 'connection.update'"), 2);
	snprintf(q, sizeof(q), "SELECT count(*) FROM webhook_outbox WHERE url = '%s/connection-update'"
	    " AND headers->>'X-Custom' = '42'", url);
	assert_int_equal(sql_long(q), 1);
	snprintf(q, sizeof(q), "SELECT count(*) FROM webhook_outbox WHERE url = '%s/connection-update'"
	    " AND headers = '{}'::jsonb", gurl);
	assert_int_equal(sql_long(q), 1);
	/* Envelope: destination is the stored instance URL without suffix, for both rows (Evolution). */
	snprintf(q, sizeof(q), "SELECT count(*) FROM webhook_outbox WHERE body->>'destination' = '%s'"
	    " AND body->>'event' = 'connection.update' AND body->>'instance' = 'sales'"
	    " AND body->'data'->>'state' = 'open' AND body->>'sender' = '5511999999999@s.whatsapp.net'"
	    " AND body->>'server_url' = 'https://api.example.com' AND NOT body ? 'apikey'"
	    " AND body->>'date_time' ~ '^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z$'", url);
	assert_int_equal(sql_long(q), 2);

	/* Not in the instance filter: global only. */
	enqueue(w, INST_ID, "sales", "messages.upsert", "{\"key\":{\"id\":\"ABC\"}}", NULL);
	assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox WHERE event = 'messages.upsert'"), 1);
	s = sql_text("SELECT url FROM webhook_outbox WHERE event = 'messages.upsert'");
	snprintf(q, sizeof(q), "%s/messages-upsert", gurl);
	assert_string_equal(s, q);
	free(s);
	/* No sender: no sender field. null data stays null. */
	enqueue(w, INST_ID, "sales", "logout.instance", "null", NULL);
	assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox WHERE event = 'logout.instance'"
	    " AND NOT body ? 'sender' AND body->'data' = 'null'::jsonb"), 1);
	/* groups.update matches the enum's GROUP_UPDATE spelling. */
	enqueue(w, INST_ID, "sales", "groups.update", "[]", NULL);
	assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox WHERE event = 'groups.update'"), 2);
	/* instance.create never goes to an instance webhook. */
	enqueue(w, INST_ID, "sales", "instance.create", "{\"instanceName\":\"sales\"}", NULL);
	assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox WHERE event = 'instance.create'"), 1);
	/* Global WEBHOOK_EVENTS_MESSAGES_UPSERT=false. */
	T.msgs_global_off = 1;
	enqueue(w, INST_ID, "sales", "messages.upsert", "{}", NULL);
	assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox WHERE event = 'messages.upsert'"), 1);
	webhook_free(w);
}

/* Empty events = all; disabled webhook and no global = nothing; bad JSON and NULs do not break the tx. */
static void
test_enqueue_filters(void **state)
{
	char url[128], q[512];
	struct webhook *w, *wg;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/all/", T.rx.port);
	add_instance(INST_ID, "all", url, 0, "{}", 1);
	add_instance(INST2_ID, "off", "http://127.0.0.1:1/off", 0, "{}", 0);
	w = new_webhook(NULL, NULL, 0, 100);
	enqueue(w, INST_ID, "all", "messages.upsert", "{\"a\":1}", NULL);
	enqueue(w, INST_ID, "all", "presence.update", "{\"a\":1}", NULL);
	enqueue(w, INST2_ID, "off", "messages.upsert", "{\"a\":1}", NULL);
	assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox"), 2);
	snprintf(q, sizeof(q), "SELECT count(*) FROM webhook_outbox WHERE url = '%s'", url);
	assert_int_equal(sql_long(q), 2);
	/* byEvents off: the URL is used as stored (a trailing slash stays). */
	enqueue(w, INST_ID, "all", "messages.upsert", "{not json", NULL);
	assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox WHERE body->'data' = 'null'::jsonb"), 1);
	enqueue(w, INST_ID, "all", "messages.upsert", "{\"t\":\"a\\u0000b\\\\u0000\"}", NULL);
	assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox WHERE body->'data'->>'t' = "
	    "E'a\\uFFFDb\\\\u0000'"), 1);
	enqueue(w, INST_ID, "all", "messages.upsert", "12", NULL);
	assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox WHERE body->'data' = '12'::jsonb"), 1);
	/* Disabled instance webhook: destination still names it; the global URL gets the event. */
	wg = new_webhook(NULL, "http://127.0.0.1:1/g", 0, 100);
	enqueue(wg, INST2_ID, "off", "connection.update", "{}", NULL);
	assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox WHERE event = 'connection.update'"
	    " AND url = 'http://127.0.0.1:1/g' AND body->>'destination' = 'http://127.0.0.1:1/off'"), 1);
	/* Unknown instance: only the global row; destination is global + suffix. */
	sql("DELETE FROM instance WHERE id = '" INST_ID "'");
	enqueue(wg, INST_ID, "ghost", "instance.delete", "{}", NULL);
	assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox WHERE event = 'instance.delete'"
	    " AND body->>'destination' = 'http://127.0.0.1:1/g/instance-delete'"), 1);
	webhook_free(w);
	webhook_free(wg);
}

/* End to end: instance + global targets delivered once each, headers and envelope as sent. */
static void
test_deliver(void **state)
{
	char url[128], gurl[128], path[160];
	struct json_object *body, *v;
	struct recv_req *r;
	struct webhook *w;
	int want = 3;
	long id;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/inst", T.rx.port);
	snprintf(gurl, sizeof(gurl), "http://127.0.0.1:%d/global", T.rx.port);
	add_instance(INST_ID, "sales", url, 1, "{CONNECTION_UPDATE}", 1);
	/* Queue with a loop that has no database (so nothing is sent yet) to learn the row id first. */
	w = new_webhook(NULL, gurl, 0, 100);
	enqueue(w, INST_ID, "sales", "connection.update", "{\"state\":\"open\"}", "me@s.whatsapp.net");
	enqueue(w, INST_ID, "sales", "messages.upsert", "{\"key\":{\"id\":\"X1\"}}", NULL);
	webhook_free(w);
	id = sql_long("SELECT id FROM webhook_outbox WHERE url LIKE '%/inst/connection-update'");
	assert_true(id > 0);
	w = new_webhook(T.db, gurl, 0, 100);
	assert_true(run_until(pred_reqs, &want, 10000));
	assert_true(run_until(pred_outbox_empty, NULL, 10000));
	run_for(200);
	assert_int_equal(T.rx.n, 3);
	assert_int_equal(webhook_delivered_total(w), 3);
	assert_int_equal(webhook_failed_attempts_total(w), 0);

	snprintf(path, sizeof(path), "/inst/connection-update");
	assert_non_null(r = find_req(path));
	assert_int_equal(strtol(r->delivery, NULL, 10), id);
	assert_string_equal(r->event, "connection.update");
	assert_string_equal(r->auth, "Bearer s3cret");
	assert_string_equal(r->custom, "42");
	assert_string_equal(r->ctype, "application/json");
	assert_non_null(body = json_tokener_parse(r->body));
	assert_true(json_object_object_get_ex(body, "event", &v));
	assert_string_equal(json_object_get_string(v), "connection.update");
	assert_true(json_object_object_get_ex(body, "destination", &v));
	assert_string_equal(json_object_get_string(v), url);
	assert_true(json_object_object_get_ex(body, "sender", &v));
	assert_false(json_object_object_get_ex(body, "apikey", &v));
	assert_null(strstr(r->body, "tok-sales"));
	json_object_put(body);

	/* Global target: no custom headers. */
	assert_non_null(r = find_req("/global"));
	assert_string_equal(r->auth, "");
	assert_string_equal(r->custom, "");
	assert_true(strlen(r->delivery) > 0);
	webhook_free(w);
	/* The backlog gauge exists. */
}

/* 500 then 200: delivered exactly once more, with the same delivery id; failure recorded in between. */
static void
test_retry_500(void **state)
{
	char gurl[128];
	struct webhook *w;
	int want = 2;

	snprintf(gurl, sizeof(gurl), "http://127.0.0.1:%d/g", T.rx.port);
	w = new_webhook(T.db, gurl, 0, 100);
	T.rx.fail_next = 1;
	enqueue(w, NULL, "x", "application.startup", "{}", NULL);
	assert_true(run_until(pred_reqs, &want, 10000));
	assert_true(run_until(pred_outbox_empty, NULL, 10000));
	run_for(300);
	assert_int_equal(T.rx.n, 2);
	assert_string_equal(T.rx.reqs[0].delivery, T.rx.reqs[1].delivery);
	assert_string_equal(T.rx.reqs[0].body, T.rx.reqs[1].body);
	assert_int_equal(webhook_delivered_total(w), 1);
	assert_int_equal(webhook_failed_attempts_total(w), 1);
	webhook_free(w);
}

/* Receiver down: attempts and last_error pile up; receiver up: delivered. */
static void
test_receiver_down(void **state)
{
	char gurl[128];
	struct webhook *w;
	char *err;
	int port = pgtest_free_port(), attempts = 2, want = 1;

	receiver_stop();
	snprintf(gurl, sizeof(gurl), "http://127.0.0.1:%d/down", port);
	w = new_webhook(T.db, gurl, 0, 50);
	enqueue(w, INST_ID, "sales", "call", "{\"id\":\"c1\"}", NULL);
	assert_true(run_until(pred_attempts, &attempts, 15000));
	err = sql_text("SELECT last_error FROM webhook_outbox");
	assert_non_null(err);
	assert_non_null(strstr(err, "onnect"));
	free(err);
	assert_true(webhook_failed_attempts_total(w) >= 2);
	receiver_start(port);
	assert_true(run_until(pred_reqs, &want, 15000));
	assert_true(run_until(pred_outbox_empty, NULL, 10000));
	assert_string_equal(T.rx.reqs[0].path, "/down");
	assert_int_equal(webhook_delivered_total(w), 1);
	webhook_free(w);
}

/* The row outlives the webhook loop (supervisor restart) and a new loop delivers it. */
static void
test_restart(void **state)
{
	char gurl[128];
	struct webhook *w;
	int port = pgtest_free_port(), one = 1, want = 1;
	long id;

	receiver_stop();
	snprintf(gurl, sizeof(gurl), "http://127.0.0.1:%d/r", port);
	w = new_webhook(T.db, gurl, 0, 1500);
	enqueue(w, NULL, "x", "messages.update", "{\"k\":1}", NULL);
	id = sql_long("SELECT id FROM webhook_outbox");
	assert_true(run_until(pred_attempts, &one, 10000));
	/* Gone mid-flight (the next claim is on its way): nothing of it survives but the table. */
	sql("UPDATE webhook_outbox SET next_attempt_at = now()");
	webhook_kick(w);
	run_for(5);
	webhook_free(w);
	run_for(300);	/* answers to the freed loop's queries arrive and are ignored */
	assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox"), 1);

	receiver_start(port);
	w = new_webhook(T.db, gurl, 0, 100);
	/* No lease to wait out; at most the retry delay of an attempt that failed before the restart. */
	assert_true(run_until(pred_reqs, &want, 8000));
	assert_true(run_until(pred_outbox_empty, NULL, 10000));
	assert_int_equal(strtol(T.rx.reqs[0].delivery, NULL, 10), id);
	assert_true(webhook_backlog(w) >= 0);
	webhook_free(w);
}

/* Rows older than max age are dropped, not posted; a malformed URL is dropped at once. */
static void
test_max_age(void **state)
{
	struct webhook_config cfg;
	struct webhook *w;

	sql("INSERT INTO webhook_outbox (event, url, body, created_at) VALUES"
	    " ('old', 'http://127.0.0.1:1/never', '{}', now() - interval '8 days')");
	sql("INSERT INTO webhook_outbox (event, url, body) VALUES ('bad', 'ftp://127.0.0.1/x', '{}')");
	memset(&cfg, 0, sizeof(cfg));
	cfg.retry_min_ms = 50;
	cfg.retry_max_ms = 100;
	cfg.request_timeout_ms = 2000;
	w = webhook_new(T.base, T.db, &cfg);
	assert_true(run_until(pred_outbox_empty, NULL, 10000));
	run_for(100);
	assert_int_equal(webhook_dropped_total(w), 2);
	assert_int_equal(T.rx.n, 0);
	webhook_free(w);
}

/* Many rows with a receiver that is slow to come: concurrency cap respected, all delivered once. */
static void
test_many(void **state)
{
	char gurl[128], data[64];
	struct webhook *w;
	int i, want = 40, dup = 0, j;

	snprintf(gurl, sizeof(gurl), "http://127.0.0.1:%d/m", T.rx.port);
	w = new_webhook(T.db, gurl, 1, 50);
	T.rx.fail_next = 5;
	for (i = 0; i < 40; i++) {
		snprintf(data, sizeof(data), "{\"n\":%d}", i);
		enqueue(w, NULL, "x", "messages.upsert", data, NULL);
	}
	want = 45;
	assert_true(run_until(pred_reqs, &want, 20000));
	assert_true(run_until(pred_outbox_empty, NULL, 10000));
	run_for(200);
	assert_int_equal(T.rx.n, 45);
	for (i = 5; i < T.rx.n; i++)
		for (j = 5; j < i; j++)
			if (strcmp(T.rx.reqs[i].delivery, T.rx.reqs[j].delivery) == 0)
				dup++;
	assert_int_equal(dup, 0);
	assert_string_equal(T.rx.reqs[10].path, "/m/messages-upsert");
	assert_int_equal(webhook_delivered_total(w), 40);
	webhook_free(w);
}

/* Database unreachable: the loop keeps running and delivers nothing, without crashing. */
static void
test_db_down(void **state)
{
	struct db *bad;
	struct webhook *w;
	char uri[128];

	snprintf(uri, sizeof(uri), "postgresql://postgres@127.0.0.1:%d/none?connect_timeout=2", pgtest_free_port());
	bad = db_new(T.base, uri, 1);
	w = new_webhook(bad, "http://127.0.0.1:1/x", 0, 50);
	run_for(1500);
	assert_int_equal(webhook_delivered_total(w), 0);
	webhook_kick(w);
	run_for(200);
	webhook_free(w);
	run_for(300);	/* late database answers find the webhook gone */
	db_free(bad);
}

/* Every row has failed at least once. */
static int
pred_all_failed(void *arg)
{
	return sql_long("SELECT count(*) FROM webhook_outbox WHERE attempts >= 1") == *(long *)arg;
}

/* The first retry follows backoff_ms with failures 0: in [min/2, min], jittered (not always min). */
static void
test_retry_delay(void **state)
{
	char url[128], id[40], name[16];
	struct webhook *w;
	long rows = 12;
	int port = pgtest_free_port(), i;

	w = new_webhook(NULL, NULL, 0, 100);
	/* Nothing listens on port; one URL per row, so no row's hold sets another's time. */
	for (i = 0; i < rows; i++) {
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/d%d", port, i);
		snprintf(id, sizeof(id), "00000000-0000-4000-8000-%012d", i);
		snprintf(name, sizeof(name), "d%d", i);
		add_instance(id, name, url, 0, "{}", 1);
		enqueue(w, id, name, "call", "{}", NULL);
	}
	webhook_free(w);
	w = new_webhook(T.db, NULL, 0, 4000);
	assert_true(run_until(pred_all_failed, &rows, 15000));
	/* Scheduled from the failed attempt, which came after created_at: never before min/2. */
	assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox WHERE attempts = 1 AND"
	    " next_attempt_at >= created_at + interval '2000 milliseconds'"
	    " AND next_attempt_at <= now() + interval '4000 milliseconds'"), rows);
	/* The old rule gave exactly min for every first retry; jitter puts some below it. */
	assert_true(sql_long("SELECT count(*) FROM webhook_outbox"
	    " WHERE next_attempt_at < created_at + interval '4000 milliseconds'") >= 1);
	webhook_free(w);
}

/* A receiver that accepts connections and never answers holds at most a few slots; others flow. */
static void
test_fairness(void **state)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	struct webhook_config cfg;
	struct webhook *w;
	char hole[128], good[128];
	int fd, i, want = 5;
	struct timespec t0, t1;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 128), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	snprintf(hole, sizeof(hole), "http://127.0.0.1:%d/hole", ntohs(sa.sin_port));
	snprintf(good, sizeof(good), "http://127.0.0.1:%d/good", T.rx.port);

	memset(&cfg, 0, sizeof(cfg));
	cfg.global_url = hole;
	cfg.global_enabled = 1;
	/* First retry in [5 s, 10 s] (backoff_ms): not due again before the check below. */
	cfg.retry_min_ms = 10000;
	cfg.concurrency = 8;
	cfg.request_timeout_ms = 4000;
	w = webhook_new(T.base, NULL, &cfg);
	for (i = 0; i < 20; i++)
		enqueue(w, NULL, "x", "messages.upsert", "{}", NULL);
	webhook_free(w);
	add_instance(INST_ID, "good", good, 0, "{}", 1);
	w = new_webhook(NULL, NULL, 0, 100);
	for (i = 0; i < 5; i++)
		enqueue(w, INST_ID, "good", "messages.upsert", "{}", NULL);
	webhook_free(w);
	sql("UPDATE webhook_outbox SET next_attempt_at = now() - interval '1 minute' WHERE url LIKE '%/hole'");

	cfg.global_url = NULL;
	cfg.global_enabled = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	w = webhook_new(T.base, T.db, &cfg);
	assert_true(run_until(pred_reqs, &want, 3500));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* All five good ones arrived before the first hole timeout (4 s). */
	assert_true(t1.tv_sec - t0.tv_sec < 4);
	assert_int_equal(webhook_failed_attempts_total(w), 0);
	/* After the timeouts the hole's other rows wait for the retry instead of taking slots. */
	run_for(4600);
	assert_true(webhook_failed_attempts_total(w) >= 1);
	assert_true(webhook_failed_attempts_total(w) <= 8);
	assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox WHERE url LIKE '%/hole'"
	    " AND next_attempt_at <= now()"), 0);
	webhook_free(w);
	close(fd);
}

/* Start (or reuse) PostgreSQL, create this test's database and apply the schema. */
static int
setup(void **state)
{
	const char *src = getenv("WAGATE_SRCDIR") ? getenv("WAGATE_SRCDIR") : ".";
	char path[512], *schema;
	PGresult *r;
	FILE *f;
	long n;

	log_init("webhook_test", getenv("WAGATE_TEST_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN);
	T.base = event_base_new();
	if ((T.pg = pgtest_new(0)) == NULL ||
	    (T.uri = pgtest_db_create(T.pg, "webhook_test_%d", (int)getpid())) == NULL)
		return -1;
	T.conn = PQconnectdb(T.uri);
	if (PQstatus(T.conn) != CONNECTION_OK)
		return -1;
	snprintf(path, sizeof(path), "%s/migrations/0001_init.sql", src);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	schema = xmalloc((size_t)n + 1);
	schema[fread(schema, 1, (size_t)n, f)] = '\0';
	fclose(f);
	r = PQexec(T.conn, schema);
	free(schema);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		fprintf(stderr, "schema: %s", PQerrorMessage(T.conn));
		return -1;
	}
	PQclear(r);
	T.db = db_new(T.base, T.uri, 2);
	receiver_start(0);
	return 0;
}

/* Drop the database and stop the cluster we started. */
static int
teardown(void **state)
{
	receiver_stop();
	receiver_reset();
	db_free(T.db);
	PQfinish(T.conn);
	pgtest_free(T.pg);
	free(T.uri);
	event_base_free(T.base);
	return 0;
}

/* Unit tests first, then the ones against PostgreSQL and the receiver. */
int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_time),
		cmocka_unit_test_setup(test_enqueue_rows, reset),
		cmocka_unit_test_setup(test_enqueue_filters, reset),
		cmocka_unit_test_setup(test_deliver, reset),
		cmocka_unit_test_setup(test_retry_500, reset),
		cmocka_unit_test_setup(test_retry_delay, reset),
		cmocka_unit_test_setup(test_receiver_down, reset),
		cmocka_unit_test_setup(test_restart, reset),
		cmocka_unit_test_setup(test_max_age, reset),
		cmocka_unit_test_setup(test_many, reset),
		cmocka_unit_test_setup(test_fairness, reset),
		cmocka_unit_test_setup(test_db_down, reset),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
