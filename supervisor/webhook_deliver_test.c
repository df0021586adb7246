/* Webhook delivery against a real PostgreSQL and a real HTTP receiver (evhttp in this process): retries
 * with a stable delivery id and the common backoff, outages, restarts, max age, fairness between URLs,
 * order per (instance, url) queue, the plans of the hot statements (indexes at any outbox size), and the
 * throughput with the receiver up (printed). */
#include <sys/socket.h>
#include <netinet/in.h>

#include <fcntl.h>
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
#include <json-c/json.h>

#include "db.h"
#include "pgtest.h"
#include "webhook.h"
#include "webhook_int.h"
#include "webhook_testlib.h"
#include "xmalloc.h"

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

/* Connections waiting on a listening socket that never accepts by itself (non-blocking); kept open. */
static int
hole_accept_all(int fd, int *open_fds, int max)
{
	int n = 0, c;

	while (n < max && (c = accept(fd, NULL, NULL)) >= 0)
		open_fds[n++] = c;
	return n;
}

/* A receiver that accepts connections and never answers holds at most a few slots; others flow. After its
 * timeouts it is held: its other queues wait for the retry instead of each spending a slot and a timeout. */
static void
test_fairness(void **state)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	struct webhook_config cfg;
	struct webhook *w;
	char hole[128], good[128], id[40];
	int fd, i, want = 5, conns[64], nconn;
	struct timespec t0, t1;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 128), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
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
	/* 20 instances' events to the global URL: 20 queues, so the per-URL share is what limits them. */
	for (i = 0; i < 20; i++) {
		snprintf(id, sizeof(id), "00000000-0000-4000-8000-%012d", i + 1);
		enqueue(w, id, "x", "messages.upsert", "{}", NULL);
	}
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
	/* After the timeouts (4 s) the hole is held until the retry (5 s or more later): no new connection. */
	run_for(4600);
	assert_int_equal(webhook_failed_attempts_total(w), 4);
	nconn = hole_accept_all(fd, conns, 64);
	assert_int_equal(nconn, 4);
	assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox WHERE url LIKE '%/hole' AND attempts = 1"
	    " AND next_attempt_at > now()"), 4);
	webhook_free(w);
	for (i = 0; i < nconn; i++)
		close(conns[i]);
	close(fd);
}

/* The "n" of the requests of one instance, in arrival order; accepted only when ok_only. */
static int
hol_seq(const char *instance, int ok_only, int *out, int max)
{
	char key[96];
	const char *p;
	int i, n = 0;

	snprintf(key, sizeof(key), "\"instance\": \"%s\"", instance);
	for (i = 0; i < T.rx.n && n < max; i++) {
		if (strstr(T.rx.reqs[i].body, key) == NULL || (ok_only && T.rx.reqs[i].status != 200))
			continue;
		if ((p = strstr(T.rx.reqs[i].body, "\"n\": ")) != NULL)
			out[n++] = atoi(p + 5);
	}
	return n;
}

/* Instance holb has *arg requests accepted. */
static int
pred_holb(void *arg)
{
	int seq[MAX_REQS];

	return hol_seq("holb", 1, seq, MAX_REQS) >= *(int *)arg;
}

/* One queue per (instance, url): a failing head blocks its own queue (retried, then the rest in order,
 * one at a time) and not another instance's queue to the same URL. */
static void
test_order_per_queue(void **state)
{
	char url[128], data[32];
	struct webhook *w;
	int i, n, seq[MAX_REQS], four = 4;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/same", T.rx.port);
	add_instance(INST_ID, "hola", url, 0, "{}", 1);
	add_instance(INST2_ID, "holb", url, 0, "{}", 1);
	w = new_webhook(NULL, NULL, 0, 100);
	for (i = 1; i <= 4; i++) {
		snprintf(data, sizeof(data), "{\"n\":%d}", i);
		enqueue(w, INST_ID, "hola", "connection.update", data, NULL);
		enqueue(w, INST2_ID, "holb", "connection.update", data, NULL);
	}
	webhook_free(w);
	/* hola's first event fails twice (a fast 500: only its queue waits); every answer comes 30 ms late. */
	T.rx.fail_match = "\"instance\": \"hola\"";
	T.rx.fail_match_n = 2;
	T.rx.delay_ms = 30;
	/* Retries after [500, 1000] ms then [1000, 2000] ms: hola's first success is 1.5 s away at least. */
	w = new_webhook(T.db, NULL, 0, 1000);
	assert_true(run_until(pred_holb, &four, 10000));
	/* holb went on while hola's head was failing. */
	assert_int_equal(hol_seq("hola", 1, seq, MAX_REQS), 0);
	assert_int_equal(hol_seq("hola", 0, seq, MAX_REQS), 1);
	assert_true(run_until(pred_outbox_empty, NULL, 15000));
	/* hola: its head three times (500, 500, 200), then the rest in order, nothing overtaking. */
	n = hol_seq("hola", 0, seq, MAX_REQS);
	assert_int_equal(n, 6);
	assert_int_equal(seq[0], 1);
	assert_int_equal(seq[1], 1);
	assert_int_equal(seq[2], 1);
	for (i = 3; i < 6; i++)
		assert_int_equal(seq[i], i - 1);
	n = hol_seq("holb", 0, seq, MAX_REQS);
	assert_int_equal(n, 4);
	for (i = 0; i < 4; i++)
		assert_int_equal(seq[i], i + 1);
	/* Never two deliveries of one instance in flight at once. */
	assert_int_equal(T.rx.overlaps, 0);
	assert_int_equal(webhook_failed_attempts_total(w), 2);
	webhook_free(w);
}

/* A queue whose head expired (max age) drops it unsent and delivers the rest in order. */
static void
test_expired_head(void **state)
{
	char url[128], q[1024];
	struct webhook *w;
	int seq[MAX_REQS], two = 2;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/exp", T.rx.port);
	add_instance(INST_ID, "exp", url, 0, "{}", 1);
	snprintf(q, sizeof(q), "INSERT INTO webhook_outbox (instance_id, event, url, body, created_at) VALUES"
	    " ('%s', 'connection.update', '%s', '{\"instance\": \"exp\", \"n\": 0}', now() - interval '8 days'),"
	    " ('%s', 'connection.update', '%s', '{\"instance\": \"exp\", \"n\": 1}', now()),"
	    " ('%s', 'connection.update', '%s', '{\"instance\": \"exp\", \"n\": 2}', now())",
	    INST_ID, url, INST_ID, url, INST_ID, url);
	sql(q);
	w = new_webhook(T.db, NULL, 0, 100);
	assert_true(run_until(pred_reqs, &two, 10000));
	assert_true(run_until(pred_outbox_empty, NULL, 10000));
	run_for(100);
	assert_int_equal(T.rx.n, 2);
	assert_int_equal(hol_seq("exp", 1, seq, MAX_REQS), 2);
	assert_int_equal(seq[0], 1);
	assert_int_equal(seq[1], 2);
	assert_int_equal(webhook_dropped_total(w), 1);
	webhook_free(w);
}

/* A throughput run: its loop and how many deliveries end it. */
struct tput {
	struct webhook *w;
	long want;
};

/* The run delivered its count. */
static int
pred_delivered(void *arg)
{
	struct tput *t = arg;

	return (long)webhook_delivered_total(t->w) >= t->want;
}

/* Queue n rows for each of ninst instances, instance i posting to url_fmt with i, in one statement. */
static void
tput_fill(int ninst, int n, const char *url_fmt)
{
	char q[1024], url[256];

	snprintf(url, sizeof(url), url_fmt, T.rx.port);
	snprintf(q, sizeof(q), "INSERT INTO webhook_outbox (instance_id, event, url, body)"
	    " SELECT ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'messages.upsert',"
	    " replace('%s', '%%d', i::text), jsonb_build_object('i', i, 'n', k)"
	    " FROM generate_series(1, %d) k, generate_series(1, %d) i ORDER BY k, i", url, n, ninst);
	sql(q);
}

/* Deliver every queued row with the receiver up; events per second. */
static double
tput_run(long want)
{
	struct webhook_config cfg;
	struct timespec t0, t1;
	struct tput t;
	double s;

	memset(&cfg, 0, sizeof(cfg));
	cfg.retry_min_ms = 100;
	cfg.request_timeout_ms = 5000;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	t.w = webhook_new(T.base, T.db, &cfg);
	t.want = want;
	assert_true(run_until(pred_delivered, &t, 60000));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	webhook_free(t.w);
	s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	return (double)want / s;
}

/* One queue of n rows, {"n":1} to {"n":n}: the instance "hola" posting to the receiver's /path, not delivered
 * yet (no webhook runs). */
static void
fill_queue(const char *path, int n)
{
	char url[128], data[32];
	struct webhook *w;
	int i;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/%s", T.rx.port, path);
	add_instance(INST_ID, "hola", url, 0, "{}", 1);
	w = new_webhook(NULL, NULL, 0, 100);
	for (i = 1; i <= n; i++) {
		snprintf(data, sizeof(data), "{\"n\":%d}", i);
		enqueue(w, INST_ID, "hola", "connection.update", data, NULL);
	}
	webhook_free(w);
}

/* A busy queue's rows are read ahead and posted one after the other: a failure in their middle holds every
 * row behind it until its retry succeeded (nothing overtakes it), and no two POSTs of the queue overlap. */
static void
test_order_ahead(void **state)
{
	struct webhook *w;
	int i, n, seq[MAX_REQS];

	(void)state;
	fill_queue("ahead", 20);
	/* The sixth is the hand-off's second row ahead: it fails once, fast. */
	T.rx.fail_match = "\"n\": 6}";
	T.rx.fail_match_n = 1;
	w = new_webhook(T.db, NULL, 0, 100);
	assert_true(run_until(pred_outbox_empty, NULL, 15000));
	run_for(100);
	n = hol_seq("hola", 0, seq, MAX_REQS);
	assert_int_equal(n, 21);
	for (i = 0; i < 6; i++)
		assert_int_equal(seq[i], i + 1);
	for (i = 6; i < 21; i++)
		assert_int_equal(seq[i], i);
	assert_int_equal(T.rx.overlaps, 0);
	assert_int_equal(webhook_failed_attempts_total(w), 1);
	webhook_free(w);
}

/* The rows of a busy queue that were delivered while the next was already posting wait for one plain DELETE
 * together, and go at once when their queue runs dry: the claim skips a queue whose head waits for its
 * DELETE, so a later row of it would wait out the window. Here the window and the batch are too long to end
 * it: 40 rows, read ahead 32 at a time, are 37 plain DELETEs in one statement, sent when the last hand-off
 * finds the queue empty. */
static void
test_delete_window(void **state)
{
	struct webhook *w;
	int i, n, seq[MAX_REQS];

	(void)state;
	fill_queue("window", 40);
	w = new_webhook(T.db, NULL, 0, 100);
	w->del_wait_ms = 600000;
	w->del_batch = 1000;
	w->concurrency = 64;	/* room for the rows waiting (webhook_room), as del_batch leaves it by default */
	assert_true(run_until(pred_outbox_empty, NULL, 15000));
	n = hol_seq("hola", 0, seq, MAX_REQS);
	assert_int_equal(n, 40);
	for (i = 0; i < n; i++)
		assert_int_equal(seq[i], i + 1);
	assert_int_equal(w->ndel_stmts, 1);
	webhook_free(w);
}

/* The plan a pool connection makes of stmt (n parameters of types types) under webhook_tx_indexed's settings,
 * as text: a generic plan, made on the outbox as it is now. */
static char *
plan_of(const char *stmt, int n, const char *args)
{
	PGresult *res;
	char q[256];
	size_t len = 0, cap = 4096;
	char *out = xmalloc(cap);
	int i;

	out[0] = '\0';
	sql("BEGIN");
	res = PQexecParams(T.conn, webhook_tx_settings, 2, NULL, webhook_tx_settings_params, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	PQclear(res);
	res = PQprepare(T.conn, "plan_probe", stmt, n, NULL);
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	snprintf(q, sizeof(q), "EXPLAIN EXECUTE plan_probe(%s)", args);
	res = PQexec(T.conn, q);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	for (i = 0; i < PQntuples(res); i++) {
		const char *line = PQgetvalue(res, i, 0);

		if (len + strlen(line) + 2 > cap)
			out = xreallocarray(out, cap = 2 * (len + strlen(line) + 2), 1);
		len += (size_t)snprintf(out + len, cap - len, "%s\n", line);
	}
	PQclear(res);
	sql("ROLLBACK");	/* the prepared statement stays: drop it */
	sql("DEALLOCATE plan_probe");
	return out;
}

/* The outbox's hot statements plan on the indexes, with no sequential scan, whether the plan is made on a small
 * outbox or on a backlog, once the statistics fit the table (webhook_tx_indexed). With statistics that say
 * empty, the DELETE's plan scanned the whole queue index instead of looking the ids up in the primary key:
 * that is what webhook_analyze_due is for. */
static void
test_plans_indexed(void **state)
{
	static const char *const shapes[] = {
		"INSERT INTO webhook_outbox (event, url, body) SELECT 'e', 'u', '{}' FROM generate_series(1, 20)",
		"INSERT INTO webhook_outbox (instance_id, event, url, body) SELECT gen_random_uuid(), 'e', 'u' || (g % 7),"
		" '{}' FROM generate_series(1, 3000) g",
	};
	char *p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		sql(shapes[i]);
		sql("ANALYZE webhook_outbox");
		p = plan_of(webhook_delete_sql, 1, "'{1,2,3}'");
		if (strstr(p, "Seq Scan") != NULL || strstr(p, "webhook_outbox_pkey") == NULL)
			fail_msg("DELETE plan (outbox shape %zu):\n%s", i, p);
		free(p);
		p = plan_of(webhook_handoff_sql, 1, "'{1,2,3}'");
		if (strstr(p, "Seq Scan") != NULL || strstr(p, "webhook_outbox_queue_idx") == NULL)
			fail_msg("hand-off plan (outbox shape %zu):\n%s", i, p);
		free(p);
		p = plan_of(webhook_claim_sql, 4, "'{}', 10, '{}', 5");
		if (strstr(p, "Seq Scan") != NULL || strstr(p, "webhook_outbox_queue_idx") == NULL)
			fail_msg("claim plan (outbox shape %zu):\n%s", i, p);
		free(p);
		/* the max-age sweep reads the primary key from its low end, not the whole table */
		p = plan_of(webhook_sweep_sql, 2, "604800, '{}'");
		if (strstr(p, "Seq Scan") != NULL || strstr(p, "Index Scan using webhook_outbox_pkey") == NULL)
			fail_msg("sweep plan (outbox shape %zu):\n%s", i, p);
		free(p);
	}
	sql("DELETE FROM webhook_outbox");
}

/* The max-age sweep deletes the old rows whose retry is due and that are not in flight, and keeps the rest: an
 * old row whose retry is later, an old row in flight, a young row. */
static void
test_sweep_rows(void **state)
{
	const char *params[2];
	char ids[64], *v;
	PGresult *res;

	(void)state;
	sql("INSERT INTO webhook_outbox (event, url, body, created_at) VALUES ('old-due', 'http://127.0.0.1:1/s', '{}',"
	    " now() - interval '8 days')");
	sql("INSERT INTO webhook_outbox (event, url, body, created_at, next_attempt_at) VALUES ('old-later',"
	    " 'http://127.0.0.1:1/s', '{}', now() - interval '8 days', now() + interval '1 hour')");
	sql("INSERT INTO webhook_outbox (event, url, body, created_at) VALUES ('old-inflight', 'http://127.0.0.1:1/s',"
	    " '{}', now() - interval '8 days')");
	sql("INSERT INTO webhook_outbox (event, url, body) VALUES ('young', 'http://127.0.0.1:1/s', '{}')");
	v = sql_text("SELECT id FROM webhook_outbox WHERE event = 'old-inflight'");
	snprintf(ids, sizeof(ids), "{%s}", v);
	free(v);
	params[0] = "604800";
	params[1] = ids;
	res = PQexecParams(T.conn, webhook_sweep_sql, 2, NULL, params, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_int_equal(PQntuples(res), 1);
	assert_string_equal(PQgetvalue(res, 0, 1), "old-due");
	PQclear(res);
	v = sql_text("SELECT string_agg(event, ',' ORDER BY id) FROM webhook_outbox");
	assert_string_equal(v, "old-later,old-inflight,young");
	free(v);
	sql("DELETE FROM webhook_outbox");
}

/* When a backlog count calls for ANALYZE: from WEBHOOK_ANALYZE_MIN rows, when it is more than twice what the
 * statistics say (never analyzed: -1; said empty: 0). */
static void
test_analyze_due(void **state)
{
	(void)state;
	assert_false(webhook_analyze_due(0, -1));
	assert_false(webhook_analyze_due(WEBHOOK_ANALYZE_MIN - 1, 0));
	assert_true(webhook_analyze_due(WEBHOOK_ANALYZE_MIN, 0));
	assert_true(webhook_analyze_due(WEBHOOK_ANALYZE_MIN, -1));
	assert_false(webhook_analyze_due(200, 100));
	assert_true(webhook_analyze_due(201, 100));
	assert_false(webhook_analyze_due(5, 100000));
}

static int
pred_analyzed(void *arg)
{
	return sql_long("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'webhook_outbox'") >
	    *(long *)arg;
}

/* A backlog (receiver down) the statistics say nothing of (the outbox just vacuumed empty) gets the outbox
 * analyzed by wagate, without waiting for autovacuum (analyze_count counts only ANALYZEs run by a client). */
static void
test_analyze_backlog(void **state)
{
	char gurl[128];
	struct webhook *w;
	long before;
	int i, port = pgtest_free_port();

	(void)state;
	sql("VACUUM ANALYZE webhook_outbox");
	snprintf(gurl, sizeof(gurl), "http://127.0.0.1:%d/down", port);
	w = new_webhook(NULL, gurl, 0, 1000);
	for (i = 0; i < 2 * WEBHOOK_ANALYZE_MIN; i++)
		enqueue(w, INST_ID, "sales", "call", "{}", NULL);
	webhook_free(w);
	before = sql_long("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'webhook_outbox'");
	assert_true(before >= 0);
	w = new_webhook(T.db, gurl, 0, 1000);
	assert_true(run_until(pred_analyzed, &before, 10000));
	assert_true(sql_long("SELECT reltuples::bigint FROM pg_class WHERE relname = 'webhook_outbox'") >=
	    2 * WEBHOOK_ANALYZE_MIN);
	webhook_free(w);
}

static void
test_backlog_estimate(void **state)
{
	(void)state;
	assert_int_equal(webhook_backlog_estimate(0, 50, -1, 0, 0), 0);
	assert_int_equal(webhook_backlog_estimate(50, 50, 10, 1, 9), 50);		/* counted, not past the cap */
	assert_int_equal(webhook_backlog_estimate(51, 50, 200, 10, 30), 600);	/* 20 rows a page, 30 pages */
	assert_int_equal(webhook_backlog_estimate(51, 50, 20, 10, 10), 51);	/* never below what was counted */
	assert_int_equal(webhook_backlog_estimate(51, 50, -1, 0, 30), 51);	/* no statistics: the floor */
	assert_int_equal(webhook_backlog_estimate(51, 50, 200, 10, 0), 51);
}

struct backlog_range {
	struct webhook *w;
	long lo, hi;
};

static int
pred_backlog(void *arg)
{
	struct backlog_range *b = arg;

	return webhook_backlog(b->w) >= b->lo && webhook_backlog(b->w) <= b->hi;
}

/* Past its cap the backlog is not counted but estimated from the outbox's size: the statistics' rows per page
 * times the pages now. Below the cap, counted. The receiver is down throughout: the rows stay. */
static void
test_backlog_capped(void **state)
{
	char gurl[128];
	struct backlog_range b;
	struct webhook *w;
	int i, port = pgtest_free_port();

	(void)state;
	snprintf(gurl, sizeof(gurl), "http://127.0.0.1:%d/down", port);
	w = new_webhook(NULL, gurl, 0, 1000);
	for (i = 0; i < 600; i++) {
		if (i == 200)
			sql("VACUUM ANALYZE webhook_outbox");
		enqueue(w, INST_ID, "sales", "call", "{}", NULL);
	}
	webhook_free(w);
	/* Statistics of 200 rows, a table three times their size: ~600, not the 200 they say. */
	b.w = w = new_webhook(T.db, gurl, 0, 1000);
	w->count_cap = 50;
	b.lo = 450, b.hi = 800;
	assert_true(run_until(pred_backlog, &b, 10000));
	webhook_free(w);
	/* Statistics of 600 rows, 400 of them deleted since (the pages remain): the estimate says ~600, a count
	 * 200; each is what it claims to be. */
	sql("ANALYZE webhook_outbox");
	sql("DELETE FROM webhook_outbox WHERE id > (SELECT min(id) + 199 FROM webhook_outbox)");
	b.w = w = new_webhook(T.db, gurl, 0, 1000);
	w->count_cap = 50;
	b.lo = 540, b.hi = 700;
	assert_true(run_until(pred_backlog, &b, 10000));
	w->count_cap = 1000;
	b.lo = b.hi = 200;
	assert_true(run_until(pred_backlog, &b, 10000));
	webhook_free(w);
}

/* Throughput with the receiver up (printed, not asserted: shared machine): 20 instances x 25 rows, first to
 * one URL each, then all to one URL (the per-URL share is the limit there); then 64 instances x 8 rows, one
 * URL each (more queues than delivery slots). */
static void
test_throughput(void **state)
{
	double own, shared, many;

	tput_fill(20, 25, "http://127.0.0.1:%d/t%%d");
	own = tput_run(500);
	assert_true(run_until(pred_outbox_empty, NULL, 10000));
	tput_fill(20, 25, "http://127.0.0.1:%d/shared");
	shared = tput_run(500);
	assert_true(run_until(pred_outbox_empty, NULL, 10000));
	tput_fill(64, 8, "http://127.0.0.1:%d/u%%d");
	many = tput_run(512);
	assert_true(run_until(pred_outbox_empty, NULL, 10000));
	fprintf(stderr, "webhook throughput: %.0f events/s (20 instances, own URLs), %.0f events/s (one URL),"
	    " %.0f events/s (64 instances, own URLs)\n", own, shared, many);
}

/* Every delivery test runs against PostgreSQL and the receiver, on clean tables. */
int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_deliver, webhook_test_reset),
		cmocka_unit_test_setup(test_retry_500, webhook_test_reset),
		cmocka_unit_test_setup(test_retry_delay, webhook_test_reset),
		cmocka_unit_test_setup(test_receiver_down, webhook_test_reset),
		cmocka_unit_test_setup(test_restart, webhook_test_reset),
		cmocka_unit_test_setup(test_max_age, webhook_test_reset),
		cmocka_unit_test_setup(test_many, webhook_test_reset),
		cmocka_unit_test_setup(test_fairness, webhook_test_reset),
		cmocka_unit_test_setup(test_db_down, webhook_test_reset),
		cmocka_unit_test_setup(test_order_per_queue, webhook_test_reset),
		cmocka_unit_test_setup(test_expired_head, webhook_test_reset),
		cmocka_unit_test_setup(test_order_ahead, webhook_test_reset),
		cmocka_unit_test_setup(test_delete_window, webhook_test_reset),
		cmocka_unit_test_setup(test_plans_indexed, webhook_test_reset),
		cmocka_unit_test_setup(test_sweep_rows, webhook_test_reset),
		cmocka_unit_test(test_analyze_due),
		cmocka_unit_test_setup(test_analyze_backlog, webhook_test_reset),
		cmocka_unit_test(test_backlog_estimate),
		cmocka_unit_test_setup(test_backlog_capped, webhook_test_reset),
		cmocka_unit_test_setup(test_throughput, webhook_test_reset),
	};

	return cmocka_run_group_tests(tests, webhook_test_setup, webhook_test_teardown);
}
