/* Tests for wa_fetch (the response parser's are wa_fetch_parse_test.c): real
 * GETs on a libevent loop against a canned HTTP server thread (bodies by length, chunked, an error status, a
 * stall that must time out, a body over the limit), through a CONNECT proxy thread, over TLS to a server with
 * a self-signed certificate, and cancellation before the result (cb never runs, nothing leaks). Every test
 * ends only when the fetch threads are gone, so valgrind and ASan see all their memory freed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "wa_fetch.h"
#include "wa_proxy.h"
#include "wa_tls.h"

#define UA "wagate-test/1"

/* ---- servers ---- */

/* A listening socket on 127.0.0.1 with a kernel-chosen port. */
static int
listen_any(int *port)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* Read a request head, up to its empty line, one byte at a time (nothing after it is consumed). */
static size_t
read_head(int fd, char *buf, size_t cap)
{
	size_t n = 0;

	while (n + 1 < cap && recv(fd, buf + n, 1, 0) == 1) {
		n++;
		if (n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0)
			break;
	}
	buf[n] = '\0';
	return n;
}

/* Send all of buf (best effort: the client may have gone). */
static void
send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0 && (n = send(fd, p, len, MSG_NOSIGNAL)) > 0) {
		p += n;
		len -= (size_t)n;
	}
}

/* A one-connection HTTP server thread with a canned answer (NULL: stall until the client closes). The thread
 * uses no cmocka assertion: a failure there shows as a failed fetch in the main thread. */
struct srv {
	int lfd, port;
	pthread_t th;
	const char *resp;
	size_t resplen;
	char req[4096];
	atomic_int got_req, client_closed;
};

/* The server thread's life: one connection. */
static void *
srv_main(void *arg)
{
	struct srv *s = arg;
	char b[512];
	int fd;

	if ((fd = accept(s->lfd, NULL, NULL)) < 0)
		return NULL;
	read_head(fd, s->req, sizeof(s->req));
	atomic_store(&s->got_req, 1);
	if (s->resp != NULL)
		send_all(fd, s->resp, s->resplen);
	else
		while (recv(fd, b, sizeof(b), 0) > 0)
			;
	atomic_store(&s->client_closed, 1);
	close(fd);
	return NULL;
}

/* Start a server answering resp (of len bytes; NULL = stall). */
static void
srv_start(struct srv *s, const char *resp, size_t len)
{
	memset(s, 0, sizeof(*s));
	s->resp = resp;
	s->resplen = len;
	s->lfd = listen_any(&s->port);
	assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
}

/* Stop the server (an accept still waiting is woken by the shutdown). */
static void
srv_stop(struct srv *s)
{
	shutdown(s->lfd, SHUT_RDWR);
	pthread_join(s->th, NULL);
	close(s->lfd);
}

/* A one-connection HTTP CONNECT proxy thread to 127.0.0.1: it answers 200 and relays both ways. */
struct proxy {
	int lfd, port;
	pthread_t th;
	char req[1024];
};

/* The proxy thread's life: one tunnel. */
static void *
proxy_main(void *arg)
{
	struct proxy *p = arg;
	static const char ok[] = "HTTP/1.1 200 Connection established\r\nVia: test\r\n\r\n";
	struct sockaddr_in sin;
	struct pollfd pfd[2];
	char host[64], b[4096];
	unsigned port;
	ssize_t n;
	int c, t = -1, i;

	if ((c = accept(p->lfd, NULL, NULL)) < 0)
		return NULL;
	read_head(c, p->req, sizeof(p->req));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	if (sscanf(p->req, "CONNECT %63[^:]:%u HTTP/1.1\r\n", host, &port) != 2 ||
	    inet_pton(AF_INET, host, &sin.sin_addr) != 1 || port == 0 || port > 65535)
		goto done;
	sin.sin_port = htons((uint16_t)port);
	if ((t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(t, (struct sockaddr *)&sin, sizeof(sin)) != 0)
		goto done;
	send_all(c, ok, sizeof(ok) - 1);
	pfd[0] = (struct pollfd){ .fd = c, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = t, .events = POLLIN };
	/* Until either side closes: everything read from one side before its end has been passed on. */
	for (;;) {
		if (poll(pfd, 2, 20000) <= 0)
			goto done;
		for (i = 0; i < 2; i++) {
			if (pfd[i].revents == 0)
				continue;
			if ((n = recv(pfd[i].fd, b, sizeof(b), 0)) <= 0)
				goto done;
			send_all(pfd[1 - i].fd, b, (size_t)n);
		}
	}
done:
	if (t >= 0)
		close(t);
	close(c);
	return NULL;
}

/* Start the proxy. */
static void
proxy_start(struct proxy *p)
{
	memset(p, 0, sizeof(*p));
	p->lfd = listen_any(&p->port);
	assert_int_equal(pthread_create(&p->th, NULL, proxy_main, p), 0);
}

/* Stop the proxy. */
static void
proxy_stop(struct proxy *p)
{
	shutdown(p->lfd, SHUT_RDWR);
	pthread_join(p->th, NULL);
	close(p->lfd);
}

/* ---- fetches on a loop ---- */

struct res {
	int called, ok, status;
	uint8_t *body;
	size_t len;
	char err[256];
};

/* The fetch callback: record the result (the body is ours). */
static void
res_cb(void *arg, int ok, int status, uint8_t *body, size_t len, const char *err)
{
	struct res *r = arg;

	r->called++;
	r->ok = ok;
	r->status = status;
	r->body = body;
	r->len = len;
	snprintf(r->err, sizeof(r->err), "%s", err != NULL ? err : "");
}

/* The number of threads in this process. */
static int
thread_count(void)
{
	struct dirent *de;
	DIR *d = opendir("/proc/self/task");
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Threads before the test started (1, or more under a sanitizer with a helper thread of its own). */
static int idle_threads;

/* Per-test setup: count the threads that are not ours. */
static int
record_idle_threads(void **state)
{
	(void)state;
	idle_threads = thread_count();
	return 0;
}

/* Wait (a bounded time) until the test's threads are gone: the fetch thread has freed what it held. */
static void
wait_threads_gone(void)
{
	int i;

	for (i = 0; i < 2000 && thread_count() > idle_threads; i++)
		usleep(10000);
	assert_int_equal(thread_count(), idle_threads);
}

/* Run a GET of url on a fresh loop until cb ran (exactly once). */
static void
fetch(const char *url, const struct wa_fetch_proxy *px, const char *ca, size_t max_body, unsigned timeout_ms,
    struct event_base *base, struct res *r)
{
	struct wa_fetch_req req = { .url = url, .proxy = px, .extra_ca_file = ca, .max_body = max_body,
	    .timeout_ms = timeout_ms, .user_agent = UA };
	char err[256];
	struct wa_fetch *f;

	memset(r, 0, sizeof(*r));
	if ((f = wa_fetch_start(base, &req, res_cb, r, err, sizeof(err))) == NULL)
		fail_msg("wa_fetch_start: %s", err);
	assert_int_equal(r->called, 0);	/* never from inside wa_fetch_start */
	while (!r->called)
		assert_int_not_equal(event_base_loop(base, EVLOOP_ONCE), -1);
	/* Nothing else is left on the loop: a second callback would have nothing to come from. */
	assert_int_equal(event_base_loop(base, EVLOOP_NONBLOCK), 1);
	assert_int_equal(r->called, 1);
}

/* A GET against a canned answer; the server's view of the request is left in s. */
static void
fetch_canned(struct srv *s, const char *resp, size_t resplen, const char *path, size_t max_body,
    unsigned timeout_ms, struct res *r)
{
	struct event_base *base = event_base_new();
	char url[256];

	srv_start(s, resp, resplen);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", s->port, path);
	fetch(url, NULL, NULL, max_body, timeout_ms, base, r);
	srv_stop(s);
	event_base_free(base);
	wait_threads_gone();
}

/* A body by length, and the exact request that asked for it. */
static void
test_get_length(void **state)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world";
	char want[512];
	struct srv s;
	struct res r;

	(void)state;
	fetch_canned(&s, resp, sizeof(resp) - 1, "/a/b?c=d&e#frag", 1000, 5000, &r);
	assert_true(r.ok);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, 11);
	assert_memory_equal(r.body, "hello world", 11);
	free(r.body);
	snprintf(want, sizeof(want), "GET /a/b?c=d&e HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: " UA "\r\n"
	    "Accept-Encoding: identity\r\nConnection: close\r\n\r\n", s.port);
	assert_string_equal(s.req, want);
}

/* A chunked body, decoded. */
static void
test_get_chunked(void **state)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n"
	    "6\r\n world\r\n0\r\nX-T: 1\r\n\r\n";
	struct srv s;
	struct res r;

	(void)state;
	fetch_canned(&s, resp, sizeof(resp) - 1, "/", 1000, 5000, &r);
	assert_true(r.ok);
	assert_int_equal(r.len, 11);
	assert_memory_equal(r.body, "hello world", 11);
	free(r.body);
}

/* An error status is still an answer: ok with the status and the body. */
static void
test_get_404(void **state)
{
	static const char resp[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope";
	struct srv s;
	struct res r;

	(void)state;
	fetch_canned(&s, resp, sizeof(resp) - 1, "/missing", 1000, 5000, &r);
	assert_true(r.ok);
	assert_int_equal(r.status, 404);
	assert_int_equal(r.len, 4);
	assert_memory_equal(r.body, "nope", 4);
	free(r.body);
}

/* A large body to the end of the stream (the buffer grows), and the same over the limit. */
static void
test_get_eof_large(void **state)
{
	static const char head[] = "HTTP/1.0 200 OK\r\n\r\n";
	size_t n = 300000, i;
	char *resp = malloc(sizeof(head) - 1 + n);
	struct srv s;
	struct res r;

	(void)state;
	memcpy(resp, head, sizeof(head) - 1);
	for (i = 0; i < n; i++)
		resp[sizeof(head) - 1 + i] = (char)(i * 7);
	fetch_canned(&s, resp, sizeof(head) - 1 + n, "/big", n, 10000, &r);
	assert_true(r.ok);
	assert_int_equal(r.len, n);
	assert_memory_equal(r.body, resp + sizeof(head) - 1, n);
	free(r.body);
	fetch_canned(&s, resp, sizeof(head) - 1 + n, "/big", n - 1, 10000, &r);
	assert_false(r.ok);
	assert_null(r.body);
	assert_non_null(strstr(r.err, "limit"));
	free(resp);
}

/* A declared length over max_body fails from the head. */
static void
test_get_too_large(void **state)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
	struct srv s;
	struct res r;

	(void)state;
	fetch_canned(&s, resp, sizeof(resp) - 1, "/", 10, 5000, &r);
	assert_false(r.ok);
	assert_null(r.body);
	assert_non_null(strstr(r.err, "limit"));
}

/* A server that never answers: the fetch fails at its timeout and closes the connection. */
static void
test_get_timeout(void **state)
{
	struct srv s;
	struct res r;

	(void)state;
	fetch_canned(&s, NULL, 0, "/", 10, 300, &r);
	assert_false(r.ok);
	assert_non_null(strstr(r.err, "timed out"));
	assert_true(atomic_load(&s.client_closed));
}

/* An IPv6 literal: brackets in the URL and the Host field, none for the connection (skipped without ::1). */
static void
test_get_ipv6(void **state)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nv6";
	struct sockaddr_in6 sin6;
	socklen_t sl = sizeof(sin6);
	struct event_base *base;
	char url[128], want[128];
	struct srv s;
	struct res r;

	(void)state;
	memset(&s, 0, sizeof(s));
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr = in6addr_loopback;
	if ((s.lfd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(s.lfd, (struct sockaddr *)&sin6, sizeof(sin6)) != 0) {
		if (s.lfd >= 0)
			close(s.lfd);
		skip();
	}
	assert_int_equal(listen(s.lfd, 8), 0);
	assert_int_equal(getsockname(s.lfd, (struct sockaddr *)&sin6, &sl), 0);
	s.port = ntohs(sin6.sin6_port);
	s.resp = resp;
	s.resplen = sizeof(resp) - 1;
	assert_int_equal(pthread_create(&s.th, NULL, srv_main, &s), 0);
	base = event_base_new();
	snprintf(url, sizeof(url), "http://[::1]:%d/six", s.port);
	fetch(url, NULL, NULL, 10, 5000, base, &r);
	assert_true(r.ok);
	assert_memory_equal(r.body, "v6", 2);
	free(r.body);
	snprintf(want, sizeof(want), "GET /six HTTP/1.1\r\nHost: [::1]:%d\r\n", s.port);
	assert_memory_equal(s.req, want, strlen(want));
	srv_stop(&s);
	event_base_free(base);
	wait_threads_gone();
}

/* Nothing listens: the connect error is reported. */
static void
test_get_refused(void **state)
{
	struct event_base *base = event_base_new();
	char url[128];
	struct res r;
	int port, fd = listen_any(&port);

	(void)state;
	close(fd);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	fetch(url, NULL, NULL, 10, 5000, base, &r);
	assert_false(r.ok);
	assert_non_null(strstr(r.err, "connecting"));
	event_base_free(base);
	wait_threads_gone();
}

/* URLs refused before any thread starts. */
static void
test_bad_urls(void **state)
{
	static const char *const bad[] = {
		"ftp://host/x", "http://host", "http://host:0/", "http://host:65536/", "http://host:/",
		"http://ho st/", "http://host/a b", "http://host/a\r\nX: y", "http://user@host/", "http://[::1/",
		"http://[zz::1]/", "http://[::1]x/", "http://ho%st/", "https:///x",
	};
	struct event_base *base = event_base_new();
	struct wa_fetch_req req = { .max_body = 10, .timeout_ms = 1000 };
	char err[256], *huge;
	struct res r;
	size_t i;

	(void)state;
	memset(&r, 0, sizeof(r));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		req.url = bad[i];
		err[0] = '\0';
		if (wa_fetch_start(base, &req, res_cb, &r, err, sizeof(err)) != NULL)
			fail_msg("accepted: %s", bad[i]);
		assert_true(err[0] != '\0');
	}
	huge = malloc(WA_FETCH_URL_MAX + 20);
	memcpy(huge, "http://h/", 9);
	memset(huge + 9, 'a', WA_FETCH_URL_MAX);
	huge[WA_FETCH_URL_MAX + 9] = '\0';
	req.url = huge;
	assert_null(wa_fetch_start(base, &req, res_cb, &r, err, sizeof(err)));
	free(huge);
	req.url = "http://h/";
	req.user_agent = "x\r\nInjected: 1";
	assert_null(wa_fetch_start(base, &req, res_cb, &r, err, sizeof(err)));
	assert_int_equal(r.called, 0);
	assert_int_equal(thread_count(), idle_threads);
	event_base_free(base);
}

/* Through an HTTP CONNECT proxy: the tunnel goes to the target's host:port, the GET inside it. */
static void
test_get_via_proxy(void **state)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\ntunnel!";
	struct event_base *base = event_base_new();
	struct wa_fetch_proxy px = { .type = WA_PROXY_HTTP, .host = "127.0.0.1" };
	struct proxy p;
	struct srv s;
	struct res r;
	char url[128], want[128];

	(void)state;
	srv_start(&s, resp, sizeof(resp) - 1);
	proxy_start(&p);
	px.port = (unsigned)p.port;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/via", s.port);
	fetch(url, &px, NULL, 100, 5000, base, &r);
	assert_true(r.ok);
	assert_int_equal(r.len, 7);
	assert_memory_equal(r.body, "tunnel!", 7);
	free(r.body);
	snprintf(want, sizeof(want), "CONNECT 127.0.0.1:%d HTTP/1.1\r\n", s.port);
	assert_memory_equal(p.req, want, strlen(want));
	assert_non_null(strstr(s.req, "GET /via HTTP/1.1\r\n"));
	proxy_stop(&p);
	srv_stop(&s);
	event_base_free(base);
	wait_threads_gone();
}

/* A proxy that refuses the tunnel: the reason names the proxy. */
static void
test_proxy_refused(void **state)
{
	static const char resp[] = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
	struct event_base *base = event_base_new();
	struct wa_fetch_proxy px = { .type = WA_PROXY_HTTP, .host = "127.0.0.1" };
	struct srv s;
	struct res r;

	(void)state;
	srv_start(&s, resp, sizeof(resp) - 1);	/* plays the proxy */
	px.port = (unsigned)s.port;
	fetch("http://127.0.0.1:9/x", &px, NULL, 100, 5000, base, &r);
	assert_false(r.ok);
	assert_non_null(strstr(r.err, "proxy"));
	assert_memory_equal(s.req, "CONNECT 127.0.0.1:9 HTTP/1.1\r\n", 30);
	srv_stop(&s);
	event_base_free(base);
	wait_threads_gone();
}

/* A TLS server on the test's loop (wa_tls with a self-signed certificate): it answers the first request head. */
struct tls_srv {
	struct event_base *base;
	struct evconnlistener *lis;
	struct wa_tls_ctx *ctx;
	struct wa_tls *t;
	int port;
	char certfile[64];
	char req[2048];
	size_t reqlen;
	int answered;
};

/* Collect the request; answer once its head is complete. */
static void
tls_srv_read_cb(struct wa_tls *t, struct evbuffer *in, void *arg)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret";
	struct tls_srv *s = arg;
	size_t n = evbuffer_get_length(in);

	if (n > sizeof(s->req) - 1 - s->reqlen)
		n = sizeof(s->req) - 1 - s->reqlen;
	evbuffer_remove(in, s->req + s->reqlen, n);
	s->reqlen += n;
	s->req[s->reqlen] = '\0';
	if (!s->answered && strstr(s->req, "\r\n\r\n") != NULL) {
		s->answered = 1;
		wa_tls_write(t, resp, sizeof(resp) - 1);
		wa_tls_close_on_flush(t);
	}
}

/* Server stream events: nothing to do (the stream is freed with the server). */
static void
tls_srv_event_cb(struct wa_tls *t, int what, const char *reason, void *arg)
{
	(void)t;
	(void)what;
	(void)reason;
	(void)arg;
}

/* Accept the one client. */
static void
tls_srv_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg)
{
	struct tls_srv *s = arg;

	(void)l;
	(void)sa;
	(void)len;
	if (s->t != NULL) {
		close(fd);
		return;
	}
	s->t = wa_tls_new(s->base, fd, s->ctx, NULL, 0, tls_srv_read_cb, tls_srv_event_cb, s);
}

/* Start the TLS server on base; its certificate is written to s->certfile. */
static void
tls_srv_start(struct tls_srv *s, struct event_base *base)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	char err[256];

	memset(s, 0, sizeof(*s));
	s->base = base;
	snprintf(s->certfile, sizeof(s->certfile), "/tmp/wa_fetch_test.%d.pem", (int)getpid());
	if ((s->ctx = wa_tls_ctx_new_server("127.0.0.1", s->certfile, err, sizeof(err))) == NULL)
		fail_msg("%s", err);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lis = evconnlistener_new_bind(base, tls_srv_accept_cb, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 8,
	    (struct sockaddr *)&sin, sizeof(sin));
	assert_non_null(s->lis);
	getsockname(evconnlistener_get_fd(s->lis), (struct sockaddr *)&sin, &sl);
	s->port = ntohs(sin.sin_port);
}

/* Stop the TLS server. */
static void
tls_srv_stop(struct tls_srv *s)
{
	wa_tls_free(s->t);
	evconnlistener_free(s->lis);
	wa_tls_ctx_free(s->ctx);
	unlink(s->certfile);
}

/* Run a GET of url until cb ran, with the TLS server on the same loop (it stays registered, so the loop is
 * run one turn at a time). */
static void
fetch_tls(struct event_base *base, const char *url, const struct wa_fetch_proxy *px, const char *ca,
    struct res *r)
{
	struct wa_fetch_req req = { .url = url, .proxy = px, .extra_ca_file = ca, .max_body = 100,
	    .timeout_ms = 10000 };
	char err[256];

	memset(r, 0, sizeof(*r));
	if (wa_fetch_start(base, &req, res_cb, r, err, sizeof(err)) == NULL)
		fail_msg("wa_fetch_start: %s", err);
	while (!r->called)
		assert_int_not_equal(event_base_loop(base, EVLOOP_ONCE), -1);
}

/* HTTPS with the server's certificate as the extra CA; without it the certificate is refused. */
static void
test_get_https(void **state)
{
	struct event_base *base;
	struct tls_srv s;
	struct res r;
	char url[128];

	(void)state;
	if (access(WA_TLS_SYSTEM_CA_FILE, R_OK) != 0)
		skip();
	base = event_base_new();
	tls_srv_start(&s, base);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/s", s.port);
	fetch_tls(base, url, NULL, s.certfile, &r);
	if (!r.ok)
		fail_msg("%s", r.err);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, 6);
	assert_memory_equal(r.body, "secret", 6);
	free(r.body);
	assert_non_null(strstr(s.req, "GET /s HTTP/1.1\r\n"));
	wa_tls_free(s.t);
	s.t = NULL;
	fetch_tls(base, url, NULL, NULL, &r);
	assert_false(r.ok);
	assert_non_null(strstr(r.err, "verification"));
	tls_srv_stop(&s);
	event_base_free(base);
	wait_threads_gone();
}

/* HTTPS through the CONNECT proxy: TLS runs end to end inside the tunnel. */
static void
test_get_https_via_proxy(void **state)
{
	struct event_base *base;
	struct wa_fetch_proxy px = { .type = WA_PROXY_HTTP, .host = "127.0.0.1" };
	struct tls_srv s;
	struct proxy p;
	struct res r;
	char url[128];

	(void)state;
	if (access(WA_TLS_SYSTEM_CA_FILE, R_OK) != 0)
		skip();
	base = event_base_new();
	tls_srv_start(&s, base);
	proxy_start(&p);
	px.port = (unsigned)p.port;
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/p", s.port);
	fetch_tls(base, url, &px, s.certfile, &r);
	if (!r.ok)
		fail_msg("%s", r.err);
	assert_int_equal(r.len, 6);
	assert_memory_equal(r.body, "secret", 6);
	free(r.body);
	proxy_stop(&p);		/* the tunnel ended when the fetch closed its side */
	tls_srv_stop(&s);
	event_base_free(base);
	wait_threads_gone();
}

/* Cancel while the thread waits for the answer: cb never runs, the connection is dropped at once (not at the
 * timeout), and the thread frees everything on its own. */
static void
test_cancel_waiting(void **state)
{
	struct event_base *base = event_base_new();
	struct wa_fetch_req req = { .max_body = 10, .timeout_ms = 20000 };
	struct wa_fetch *f;
	struct srv s;
	struct res r;
	char url[128], err[256];
	int i;

	(void)state;
	memset(&r, 0, sizeof(r));
	srv_start(&s, NULL, 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
	req.url = url;
	assert_non_null(f = wa_fetch_start(base, &req, res_cb, &r, err, sizeof(err)));
	for (i = 0; i < 1000 && !atomic_load(&s.got_req); i++)
		usleep(5000);
	assert_true(atomic_load(&s.got_req));
	wa_fetch_cancel(f);
	for (i = 0; i < 1000 && !atomic_load(&s.client_closed); i++)
		usleep(5000);
	assert_true(atomic_load(&s.client_closed));
	srv_stop(&s);
	wait_threads_gone();
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(r.called, 0);
	event_base_free(base);
}

/* Cancel right after the start (the thread may not have connected yet), and after the thread has finished
 * but before the loop ran cb: either way cb never runs and nothing leaks. */
static void
test_cancel_early_and_late(void **state)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
	struct event_base *base = event_base_new();
	struct wa_fetch_req req = { .max_body = 10, .timeout_ms = 5000 };
	struct wa_fetch *f;
	struct srv s;
	struct res r;
	char url[128], err[256];

	(void)state;
	memset(&r, 0, sizeof(r));
	srv_start(&s, NULL, 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
	req.url = url;
	assert_non_null(f = wa_fetch_start(base, &req, res_cb, &r, err, sizeof(err)));
	wa_fetch_cancel(f);
	srv_stop(&s);		/* it ends when the fetch closes, or at the shutdown if it never connected */
	wait_threads_gone();

	srv_start(&s, resp, sizeof(resp) - 1);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
	assert_non_null(f = wa_fetch_start(base, &req, res_cb, &r, err, sizeof(err)));
	srv_stop(&s);		/* the answer was sent */
	wait_threads_gone();	/* the fetch thread has signalled and left: the result waits in the handle */
	wa_fetch_cancel(f);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(r.called, 0);
	event_base_free(base);
}

/* The body of a thread that does nothing. */
static void *
noop_thread(void *arg)
{
	return arg;
}

int
main(void)
{
	pthread_t th;

	/* ThreadSanitizer starts a helper thread with the first pthread_create: let that happen before any
	 * test takes its thread count. */
	if (pthread_create(&th, NULL, noop_thread, NULL) == 0)
		pthread_join(th, NULL);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_bad_urls, record_idle_threads),
		cmocka_unit_test_setup(test_get_length, record_idle_threads),
		cmocka_unit_test_setup(test_get_chunked, record_idle_threads),
		cmocka_unit_test_setup(test_get_404, record_idle_threads),
		cmocka_unit_test_setup(test_get_eof_large, record_idle_threads),
		cmocka_unit_test_setup(test_get_too_large, record_idle_threads),
		cmocka_unit_test_setup(test_get_timeout, record_idle_threads),
		cmocka_unit_test_setup(test_get_refused, record_idle_threads),
		cmocka_unit_test_setup(test_get_ipv6, record_idle_threads),
		cmocka_unit_test_setup(test_get_via_proxy, record_idle_threads),
		cmocka_unit_test_setup(test_proxy_refused, record_idle_threads),
		cmocka_unit_test_setup(test_get_https, record_idle_threads),
		cmocka_unit_test_setup(test_get_https_via_proxy, record_idle_threads),
		cmocka_unit_test_setup(test_cancel_waiting, record_idle_threads),
		cmocka_unit_test_setup(test_cancel_early_and_late, record_idle_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
