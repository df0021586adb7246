/* webhook_http.c, the own HTTP/1.1 client for plain http:// webhooks, through the real delivery loop and outbox
 * (PostgreSQL) against a scripted TCP peer: keep-alive reuse, the answers' framings, a kept-alive connection the
 * server closed, bad answers, refused and silent receivers, an answer before the request is out, a host name,
 * and the URLs and settings that leave a POST to libcurl. */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "db.h"
#include "pgtest.h"
#include "webhook.h"
#include "webhook_int.h"
#include "webhook_testlib.h"
#include "xmalloc.h"

/* A TCP peer on T.base answering each whole request (head and Content-Length body) with a script. */
struct peer {
	evutil_socket_t lfd;
	int port;
	struct event *lev;
	int accepts;			/* connections accepted */
	int closes;			/* connections of this peer the client closed */
	int serial;			/* which peer_start: older connections are not counted */
	int requests;			/* whole requests read */
	const char *reply;		/* answered to each request; NULL: never answer */
	size_t piece;			/* write the answer in pieces of this size, one per timer tick (0: whole) */
	int close_after;		/* close the connection after each answer */
	int drop_nth;			/* read the drop_nth request (1-based), then close unanswered */
	int early;			/* answer as soon as the head is in, then read the body */
	char last_head[2048];		/* the head of the last request */
	size_t last_body;		/* the length of its body */
};

struct peer_conn {
	struct peer *p;
	int serial;
	evutil_socket_t fd;
	struct event *ev, *tick;
	char *buf;
	size_t len, cap;
	const char *out;		/* answer bytes still to write */
	size_t out_len;
	int answered;			/* the current request was answered early */
	int closing;
};

static struct peer P;

/* Close a peer connection (from its own callbacks: events are freed at once, nothing touches it after). */
static void
peer_conn_free(struct peer_conn *pc)
{
	event_free(pc->ev);
	event_free(pc->tick);
	close(pc->fd);
	free(pc->buf);
	free(pc);
}

/* Write the next piece of the answer; 1 when the connection was closed. */
static int
peer_write(struct peer_conn *pc)
{
	struct timeval tick = { 0, 2000 };
	size_t n = pc->out_len;
	ssize_t k;

	if (pc->p->piece > 0 && n > pc->p->piece)
		n = pc->p->piece;
	if (n > 0 && (k = send(pc->fd, pc->out, n, MSG_NOSIGNAL)) > 0) {
		pc->out += k;
		pc->out_len -= (size_t)k;
	}
	if (pc->out_len > 0) {
		evtimer_add(pc->tick, &tick);
		return 0;
	}
	if (pc->closing) {
		peer_conn_free(pc);
		return 1;
	}
	return 0;
}

/* Pace the answer's pieces. */
static void
peer_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	peer_write(arg);
}

/* Start answering the current request. */
static int
peer_answer(struct peer_conn *pc)
{
	if (pc->p->reply == NULL)
		return 0;
	pc->out = pc->p->reply;
	pc->out_len = strlen(pc->p->reply);
	pc->closing = pc->p->close_after;
	return peer_write(pc);
}

/* Bytes from the client: count whole requests and answer them. */
static void
peer_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct peer_conn *pc = arg;
	struct peer *p = pc->p;
	char *end, *cl;
	size_t head, body;
	ssize_t n;

	if (pc->cap - pc->len < 65536) {
		pc->cap = pc->cap * 2 + 65536;
		pc->buf = xreallocarray(pc->buf, pc->cap, 1);
	}
	n = recv(fd, pc->buf + pc->len, pc->cap - pc->len - 1, 0);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		if (pc->serial == p->serial)
			p->closes++;
		peer_conn_free(pc);
		return;
	}
	pc->len += (size_t)n;
	pc->buf[pc->len] = '\0';
	while ((end = strstr(pc->buf, "\r\n\r\n")) != NULL) {
		head = (size_t)(end - pc->buf) + 4;
		*end = '\0';
		cl = strcasestr(pc->buf, "\r\nContent-Length:");
		body = cl != NULL ? strtoul(cl + 17, NULL, 10) : 0;
		*end = '\r';
		if (p->early && !pc->answered) {
			pc->answered = 1;
			if (peer_answer(pc))
				return;
		}
		if (pc->len < head + body)
			return;
		p->requests++;
		snprintf(p->last_head, sizeof(p->last_head), "%.*s", (int)head, pc->buf);
		p->last_body = body;
		memmove(pc->buf, pc->buf + head + body, pc->len - head - body + 1);
		pc->len -= head + body;
		if (p->requests == p->drop_nth) {
			peer_conn_free(pc);
			return;
		}
		if (!pc->answered && peer_answer(pc))
			return;
		pc->answered = 0;
	}
}

/* A new connection. */
static void
peer_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct peer *p = arg;
	struct peer_conn *pc;
	evutil_socket_t fd;

	if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1)
		return;
	p->accepts++;
	pc = xcalloc(1, sizeof(*pc));
	pc->p = p;
	pc->serial = p->serial;
	pc->fd = fd;
	pc->ev = event_new(T.base, fd, EV_READ | EV_PERSIST, peer_read_cb, pc);
	pc->tick = evtimer_new(T.base, peer_tick_cb, pc);
	event_add(pc->ev, NULL);
}

/* Listen on 127.0.0.1 with a fresh script. */
static void
peer_start(const char *reply)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int one = 1;

	static int serial;

	memset(&P, 0, sizeof(P));
	P.serial = ++serial;
	P.reply = reply;
	P.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(P.lfd >= 0);
	setsockopt(P.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(P.lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(P.lfd, 16), 0);
	getsockname(P.lfd, (struct sockaddr *)&sin, &len);
	P.port = ntohs(sin.sin_port);
	P.lev = event_new(T.base, P.lfd, EV_READ | EV_PERSIST, peer_accept_cb, &P);
	event_add(P.lev, NULL);
}

/* Stop listening (connections already accepted live on until they close). */
static void
peer_stop(void)
{
	event_free(P.lev);
	close(P.lfd);
}

/* A webhook loop whose global URL is url. */
static struct webhook *
http_webhook(const char *url, int timeout_ms, int libcurl_only)
{
	struct webhook_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.global_url = url;
	cfg.global_enabled = 1;
	cfg.retry_min_ms = 50;
	cfg.retry_max_ms = 200;
	cfg.concurrency = 4;
	cfg.request_timeout_ms = timeout_ms;
	cfg.libcurl_only = libcurl_only;
	return webhook_new(T.base, T.db, &cfg);
}

/* A scripted peer answering reply, and a webhook loop whose global URL is path on it. */
static struct webhook *
peer_webhook(const char *reply, const char *path, int timeout_ms)
{
	char url[128];

	peer_start(reply);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", P.port, path);
	return http_webhook(url, timeout_ms, 0);
}

/* w has delivered *arg rows. */
static struct webhook *pred_w;
static int
pred_delivered(void *arg)
{
	return webhook_delivered_total(pred_w) >= (unsigned long)*(int *)arg;
}

/* Enqueue n events for w's global URL and wait until all are delivered, in order. */
static void
deliver_n(struct webhook *w, int n)
{
	int i, want = n + (int)webhook_delivered_total(w);

	for (i = 0; i < n; i++)
		enqueue(w, NULL, "x", "application.startup", "{\"n\":1}", NULL);
	pred_w = w;
	assert_true(run_until(pred_delivered, &want, 10000));
	assert_true(run_until(pred_outbox_empty, NULL, 10000));
}

/* The last error of the one row left, after it failed at least once. */
static char *
failed_error(void)
{
	int once = 1;

	assert_true(run_until(pred_attempts, &once, 10000));
	return sql_text("SELECT last_error FROM webhook_outbox");
}

/* Which URLs the client takes; the rest are libcurl's. */
static void
test_takes(void **state)
{
	static const struct {
		const char *url;
		int takes;
	} cases[] = {
		{ "http://127.0.0.1:8080/hook", 1 }, { "HTTP://Example.COM", 1 }, { "http://h", 1 },
		{ "http://h?x=1", 1 }, { "http://h/p#frag", 1 }, { "http://[::1]:9/x", 1 }, { "http://h:65535/", 1 },
		{ "http://a_b.example-1.com/x/y.z?q=a%20b&r=/../", 1 }, { "http://h/..x/.y/", 1 },
		{ "https://h/x", 0 }, { "ftp://h/x", 0 }, { "http://u:p@h/x", 0 }, { "http://@h/", 0 },
		{ "http://h:0/", 0 }, { "http://h:65536/", 0 }, { "http://h:/", 0 }, { "http://h:8a/", 0 },
		{ "http://h:0000080/", 0 }, { "http:///x", 0 }, { "http://[::1/", 0 }, { "http://[zz]/", 0 },
		{ "http://h/a/../b", 0 }, { "http://h/a/./b", 0 }, { "http://h/a/..", 0 }, { "http://h/.", 0 },
		{ "http://h/a b", 0 }, { "http://h/\xc3\xa4", 0 }, { "http://h\\x/", 0 }, { "http://h%41/", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (webhook_http_takes(cases[i].url) != cases[i].takes)
			fail_msg("%s: takes %d, want %d", cases[i].url, !cases[i].takes, cases[i].takes);
}

/* One queue's POSTs ride one kept-alive connection, and the request is what libcurl would send. */
static void
test_keep_alive(void **state)
{
	const struct webhook_http_stats *st;
	struct webhook *w;
	char url[128], host[64];

	peer_start("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d?from=wagate", P.port);
	w = http_webhook(url, 3000, 0);
	deliver_n(w, 10);
	assert_non_null(st = webhook_http_stats(w));
	assert_int_equal(P.accepts, 1);
	assert_int_equal(P.requests, 10);
	assert_int_equal(st->requests, 10);
	assert_int_equal(st->conns, 1);
	assert_int_equal(st->reused, 9);
	assert_int_equal(webhook_failed_attempts_total(w), 0);
	assert_true(strncmp(P.last_head, "POST /?from=wagate HTTP/1.1\r\n", 29) == 0);
	snprintf(host, sizeof(host), "\r\nHost: 127.0.0.1:%d\r\n", P.port);
	assert_non_null(strstr(P.last_head, host));
	assert_non_null(strstr(P.last_head, "\r\nContent-Type: application/json\r\n"));
	assert_non_null(strstr(P.last_head, "\r\nX-Wagate-Event: application.startup\r\n"));
	assert_non_null(strstr(P.last_head, "\r\nUser-Agent: wagate-webhook/1\r\n"));
	assert_null(strstr(P.last_head, "Expect"));
	assert_true(P.last_body > 20);
	webhook_free(w);
	peer_stop();
}

/* An interim 100, a chunked answer with extensions and trailers arriving in 3-byte pieces: delivered, and the
 * connection is kept. */
static void
test_chunked_interim(void **state)
{
	struct webhook *w;

	w = peer_webhook("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "5;x=1\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: 1\r\n\r\n", "/c", 3000);
	P.piece = 3;
	deliver_n(w, 3);
	assert_int_equal(P.accepts, 1);
	assert_int_equal(webhook_http_stats(w)->reused, 2);
	assert_int_equal(webhook_failed_attempts_total(w), 0);
	webhook_free(w);
	peer_stop();
}

/* HTTP/1.0 with the body running to the close, and an answer with bytes after it: delivered, never reused. */
static void
test_not_reused(void **state)
{
	struct webhook *w;

	w = peer_webhook("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nthanks", "/eof", 3000);
	P.close_after = 1;
	deliver_n(w, 3);
	assert_int_equal(P.accepts, 3);
	assert_int_equal(webhook_http_stats(w)->reused, 0);
	webhook_free(w);
	peer_stop();

	w = peer_webhook("HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", "/extra", 3000);
	deliver_n(w, 2);
	assert_int_equal(P.accepts, 2);
	assert_int_equal(webhook_http_stats(w)->reused, 0);
	assert_int_equal(webhook_failed_attempts_total(w), 0);
	webhook_free(w);
	peer_stop();
}

/* The server closed a kept-alive connection as the next request went out: sent again once on a new
 * connection, delivered, no failure recorded. */
static void
test_stale_connection(void **state)
{
	struct webhook *w;

	w = peer_webhook("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "/stale", 3000);
	P.drop_nth = 2;
	deliver_n(w, 1);
	deliver_n(w, 1);
	assert_int_equal(P.accepts, 2);
	assert_int_equal(P.requests, 3);
	assert_int_equal(webhook_http_stats(w)->retried, 1);
	assert_int_equal(webhook_failed_attempts_total(w), 0);
	webhook_free(w);
	peer_stop();
}

/* A connection idle past its expiry is closed by the client, and the next POST opens a new one. */
static int
pred_closed(void *arg)
{
	return P.closes >= *(int *)arg;
}

static void
test_idle_expiry(void **state)
{
	struct webhook *w;
	int one = 1;

	w = peer_webhook("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "/idle", 3000);
	w->http_idle_ms = 150;
	deliver_n(w, 2);
	assert_int_equal(P.accepts, 1);
	assert_true(run_until(pred_closed, &one, 5000));
	deliver_n(w, 1);
	assert_int_equal(P.accepts, 2);
	assert_int_equal(webhook_http_stats(w)->reused, 1);
	assert_int_equal(webhook_http_stats(w)->retried, 0);
	webhook_free(w);
	peer_stop();
}

/* Not HTTP: a failed attempt saying why, retried (by libcurl from then on), and delivered once the receiver
 * mends. */
static void
test_bad_answer(void **state)
{
	struct webhook *w;
	char *err;

	w = peer_webhook("HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n", "/bad", 3000);
	enqueue(w, NULL, "x", "application.startup", "{}", NULL);
	err = failed_error();
	assert_non_null(err);
	assert_string_equal(err, "Weird server reply: bad response: malformed status line");
	free(err);
	P.reply = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	pred_w = w;
	assert_true(run_until(pred_outbox_empty, NULL, 10000));
	assert_int_equal(webhook_delivered_total(w), 1);
	/* The retries went through libcurl: the host answered what our reader refuses once. */
	assert_int_equal(webhook_http_stats(w)->requests, 1);
	assert_true(P.requests >= 2);
	deliver_n(w, 1);
	assert_int_equal(webhook_http_stats(w)->requests, 1);
	webhook_free(w);
	peer_stop();
}

/* Nobody listening, and a receiver that never answers: the errors libcurl would give. */
static void
test_refused_and_silent(void **state)
{
	struct webhook *w;
	char url[128], want[128], *err;
	int port = pgtest_free_port();

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/none", port);
	w = http_webhook(url, 3000, 0);
	enqueue(w, NULL, "x", "application.startup", "{}", NULL);
	assert_non_null(err = failed_error());
	snprintf(want, sizeof(want), "Couldn't connect to server: Failed to connect to 127.0.0.1 port %d: "
	    "Connection refused", port);
	assert_string_equal(err, want);
	free(err);
	webhook_free(w);
	sql("DELETE FROM webhook_outbox");

	w = peer_webhook(NULL, "/silent", 300);
	enqueue(w, NULL, "x", "application.startup", "{}", NULL);
	assert_non_null(err = failed_error());
	assert_string_equal(err, "Timeout was reached: Operation timed out after 300 milliseconds with 0 bytes "
	    "received");
	free(err);
	assert_int_equal(P.requests, 1);
	webhook_free(w);
	peer_stop();
}

/* A 4 MB event answered 413 as soon as its head is in: the answer counts, whether or not the body was out. */
static void
test_early_answer(void **state)
{
	struct webhook *w;
	char *data, *err;
	size_t n = 4 << 20;

	w = peer_webhook("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n", "/big", 5000);
	P.early = 1;
	data = xmalloc(n + 16);
	snprintf(data, 8, "{\"b\":\"");
	memset(data + 6, 'a', n);
	snprintf(data + 6 + n, 8, "\"}");
	enqueue(w, NULL, "x", "application.startup", data, NULL);
	free(data);
	assert_non_null(err = failed_error());
	assert_string_equal(err, "HTTP 413");
	free(err);
	webhook_free(w);
	peer_stop();
}

/* A host name: evdns finds it in /etc/hosts (localhost may come as ::1 first, where nobody listens: the next
 * address is tried). */
static void
test_host_name(void **state)
{
	const struct webhook_http_stats *st;
	struct webhook *w;
	char url[128];

	peer_start("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	snprintf(url, sizeof(url), "http://localhost:%d/name", P.port);
	w = http_webhook(url, 3000, 0);
	deliver_n(w, 2);
	st = webhook_http_stats(w);
	assert_int_equal(st->requests, 2);
	assert_int_equal(st->to_curl, 0);
	assert_int_equal(st->reused, 1);
	assert_int_equal(P.requests, 2);
	webhook_free(w);
	peer_stop();
}

/* A host evdns cannot resolve (a label over 63 bytes, refused before any query) goes to libcurl, whose own
 * lookup fails too: a failed attempt, and the host stays libcurl's for the next try. */
static void
test_unresolvable(void **state)
{
	const struct webhook_http_stats *st;
	struct webhook *w;
	char url[192], *err;
	int twice = 2;

	snprintf(url, sizeof(url), "http://%s.invalid/x", "a123456789b123456789c123456789d123456789e123456789"
	    "f123456789g1234");
	w = http_webhook(url, 1000, 0);
	enqueue(w, NULL, "x", "application.startup", "{}", NULL);
	assert_true(run_until(pred_attempts, &twice, 15000));
	assert_non_null(err = sql_text("SELECT last_error FROM webhook_outbox"));
	free(err);
	st = webhook_http_stats(w);
	/* Taken once (then handed over); the retry went to libcurl at once. */
	assert_int_equal(st->requests, 1);
	assert_int_equal(st->to_curl, 1);
	assert_int_equal(st->conns, 0);
	webhook_free(w);
}

/* The VACUUM of our own once enough rows left the outbox: it runs (over the pool, outside a transaction
 * block), and PostgreSQL counts it. */
static long
vacuums(void)
{
	return sql_long("SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'webhook_outbox'");
}

static int
pred_vacuumed(void *arg)
{
	return vacuums() > *(long *)arg;
}

static void
test_vacuum(void **state)
{
	struct webhook *w;
	long before = vacuums();

	w = peer_webhook("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "/v", 3000);
	w->vacuum_rows = 5;
	deliver_n(w, 6);
	assert_true(run_until(pred_vacuumed, &before, 10000));
	assert_int_equal(w->nvacuums, 1);
	webhook_free(w);
	peer_stop();
}

/* WAGATE_WEBHOOK_LIBCURL and a proxy in the environment leave every POST to libcurl. */
static void
test_libcurl_only(void **state)
{
	struct webhook *w;
	char url[128];

	peer_start("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/curl", P.port);
	w = http_webhook(url, 3000, 1);
	assert_null(webhook_http_stats(w));
	deliver_n(w, 2);
	assert_int_equal(P.requests, 2);
	webhook_free(w);

	setenv("http_proxy", "http://127.0.0.1:1", 1);
	w = http_webhook(url, 3000, 0);
	assert_null(webhook_http_stats(w));
	webhook_free(w);
	unsetenv("http_proxy");
	peer_stop();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_takes),
		cmocka_unit_test_setup(test_keep_alive, webhook_test_reset),
		cmocka_unit_test_setup(test_chunked_interim, webhook_test_reset),
		cmocka_unit_test_setup(test_not_reused, webhook_test_reset),
		cmocka_unit_test_setup(test_stale_connection, webhook_test_reset),
		cmocka_unit_test_setup(test_idle_expiry, webhook_test_reset),
		cmocka_unit_test_setup(test_bad_answer, webhook_test_reset),
		cmocka_unit_test_setup(test_refused_and_silent, webhook_test_reset),
		cmocka_unit_test_setup(test_early_answer, webhook_test_reset),
		cmocka_unit_test_setup(test_host_name, webhook_test_reset),
		cmocka_unit_test_setup(test_unresolvable, webhook_test_reset),
		cmocka_unit_test_setup(test_vacuum, webhook_test_reset),
		cmocka_unit_test_setup(test_libcurl_only, webhook_test_reset),
	};

	unsetenv("http_proxy");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	return cmocka_run_group_tests(tests, webhook_test_setup, webhook_test_teardown);
}
