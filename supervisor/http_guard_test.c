/* http_guard: the default cap's rule, and on a private event base with a real evhttp: the total and per-address
 * caps (503 at accept), the request deadline, and a request that arrives in time being served. */
#include "http_guard.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

struct server {
	struct event_base *base;
	struct evhttp *http;
	struct http_guard *guard;
	int port;
};

static void
test_default_max(void **state)
{
	(void)state;
	assert_int_equal(http_guard_default_max(1024, 228), 398);
	assert_int_equal(http_guard_default_max(65536, 228), 32654);
	assert_int_equal(http_guard_default_max(100, 228), 16);
	assert_int_equal(http_guard_default_max(1UL << 40, 228), 1000000);
}

static void
server_request_cb(struct evhttp_request *req, void *arg)
{
	struct server *s = arg;
	struct evbuffer *b = evbuffer_new();

	http_guard_request_begin(s->guard, req);
	evbuffer_add(b, "ok", 2);
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

static void
server_start(struct server *s, int max, int per_address, int timeout_s)
{
	struct http_guard_config gc = { max, per_address, timeout_s };
	struct evhttp_bound_socket *bound;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	assert_non_null(s->base = event_base_new());
	assert_non_null(s->http = evhttp_new(s->base));
	evhttp_set_gencb(s->http, server_request_cb, s);
	assert_non_null(bound = evhttp_bind_socket_with_handle(s->http, "127.0.0.1", 0));
	assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&sin, &len), 0);
	s->port = ntohs(sin.sin_port);
	assert_non_null(s->guard = http_guard_new(s->base, s->http, evhttp_bound_socket_get_listener(bound), &gc));
}

static void
server_stop(struct server *s)
{
	evhttp_free(s->http);
	http_guard_free(s->guard);
	event_base_free(s->base);
}

/* A connection from loopback address src (the handshake completes in the kernel, before any accept). */
static int
client_open(struct server *s, const char *src)
{
	struct sockaddr_in a;
	struct linger lg = { 1, 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	/* closed with a reset: no TIME_WAIT holding a port on a shared machine */
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, src, &a.sin_addr), 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	a.sin_port = htons((uint16_t)s->port);
	assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &a.sin_addr), 1);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* What the server did to fd so far: 0 nothing, 1 closed it without a word, 2 answered 503, 3 answered 200. */
static int
client_seen(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };
	char buf[512];
	ssize_t n;

	if (poll(&p, 1, 0) != 1)
		return 0;
	n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	if (n <= 0)
		return n < 0 && errno == EAGAIN ? 0 : 1;
	buf[n] = '\0';
	if (strncmp(buf, "HTTP/1.1 503", 12) == 0)
		return 2;
	return strncmp(buf, "HTTP/1.1 200", 12) == 0 ? 3 : 1;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run the loop until fd shows want, for at most limit seconds; returns what fd showed last. */
static int
loop_until_seen(struct server *s, int fd, int want, double limit)
{
	double end = now_s() + limit;
	int seen = 0;

	while (now_s() < end) {
		struct timeval tv = { 0, 20000 };

		event_base_loopexit(s->base, &tv);
		event_base_dispatch(s->base);
		if ((seen = client_seen(fd)) == want)
			break;
	}
	return seen;
}

static void
test_caps_and_deadline(void **state)
{
	struct server s;
	struct http_guard_stats st;
	int a1, a2, a3, b1, c1, d1;
	double t0;

	(void)state;
	memset(&s, 0, sizeof(s));
	server_start(&s, 3, 2, 1);

	a1 = client_open(&s, "127.0.0.1");
	a2 = client_open(&s, "127.0.0.1");
	a3 = client_open(&s, "127.0.0.1");
	t0 = now_s();
	/* the third from one address is over HTTP_MAX_CONNECTIONS_PER_IP */
	assert_int_equal(loop_until_seen(&s, a3, 2, 2.0), 2);
	assert_int_equal(client_seen(a1), 0);
	assert_int_equal(client_seen(a2), 0);
	b1 = client_open(&s, "127.0.0.2");
	c1 = client_open(&s, "127.0.0.3");
	/* b1 takes the last slot; c1 is over HTTP_MAX_CONNECTIONS */
	assert_int_equal(loop_until_seen(&s, c1, 2, 2.0), 2);
	assert_int_equal(client_seen(b1), 0);
	http_guard_get_stats(s.guard, &st);
	assert_int_equal(st.open, 3);
	assert_int_equal(st.refused, 2);

	/* nothing sent: each held connection is closed at the 1 s deadline, not before */
	assert_int_equal(send(b1, "GET / HT", 8, 0), 8);
	assert_int_equal(loop_until_seen(&s, a1, 1, 3.0), 1);
	assert_true(now_s() - t0 > 0.8);
	assert_int_equal(loop_until_seen(&s, a2, 1, 1.0), 1);
	assert_int_equal(loop_until_seen(&s, b1, 1, 1.0), 1);
	http_guard_get_stats(s.guard, &st);
	assert_int_equal(st.open, 0);
	assert_int_equal(st.timed_out, 3);

	/* a request sent at once is served, and the slot is counted again */
	d1 = client_open(&s, "127.0.0.1");
	assert_int_equal(send(d1, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27, 0), 27);
	assert_int_equal(loop_until_seen(&s, d1, 3, 2.0), 3);
	http_guard_get_stats(s.guard, &st);
	assert_int_equal(st.open, 1);

	close(a1);
	close(a2);
	close(a3);
	close(b1);
	close(c1);
	close(d1);
	server_stop(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_max),
		cmocka_unit_test(test_caps_and_deadline),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
