/* Unit tests for wa_conn without a server: URL validation, and the retry policy against a closed port
 * (transport errors back off with growing, jittered delays; stop ends everything). The full protocol is
 * tested end to end against fakewa (tests/fakewa/transport_e2e.py). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "wa_conn.h"

struct rec {
	int states[64], reasons[64];
	long retries[64];
	int n;
	struct event_base *base;
};

/* Record each transition; leave the loop after the third close. */
static void
rec_state_cb(struct wa_conn *c, int state, int reason, const char *detail, long retry_ms, void *arg)
{
	struct rec *r = arg;

	if (r->n < 64) {
		r->states[r->n] = state;
		r->reasons[r->n] = reason;
		r->retries[r->n] = retry_ms;
		r->n++;
	}
	if (state == WA_CONN_CLOSED && r->n >= 6)
		event_base_loopbreak(r->base);
}

/* Bad URLs are refused at creation with a reason. */
static void
test_urls(void **state)
{
	struct event_base *base = event_base_new();
	struct wa_conn_config cfg;
	struct wa_conn *c;
	char err[256];
	static const char *bad[] = { "http://x/", "ws://", "ws://host:0/", "ws://host:99999/", "wss://[::1/x",
	    "ws://host/pa th", "ws://host:12ab/" };
	static const char *good[] = { "wss://web.whatsapp.com/ws/chat", "ws://127.0.0.1:8080/ws/chat",
	    "wss://[::1]:8443/ws", "ws://localhost" };

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg.url = bad[i];
		err[0] = '\0';
		c = wa_conn_new(base, &cfg, err, sizeof(err));
		if (c != NULL)
			fail_msg("accepted %s", bad[i]);
		assert_true(strlen(err) > 0);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		cfg.url = good[i];
		c = wa_conn_new(base, &cfg, err, sizeof(err));
		if (c == NULL)
			fail_msg("refused %s: %s", good[i], err);
		assert_int_equal(wa_conn_state(c), WA_CONN_CLOSED);
		wa_conn_free(c);
	}
	event_base_free(base);
}

/* A closed port: connecting -> close(retry > 0) three times with growing delays, then stop. */
static void
test_backoff(void **state)
{
	struct rec r;
	struct wa_conn_config cfg;
	struct wa_conn *c;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);
	char url[64], err[256];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	(void)state;
	/* Find a free port, then close it so connecting is refused. */
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	getsockname(fd, (struct sockaddr *)&sin, &sl);
	close(fd);
	snprintf(url, sizeof(url), "ws://127.0.0.1:%d/ws/chat", ntohs(sin.sin_port));
	memset(&r, 0, sizeof(r));
	r.base = event_base_new();
	memset(&cfg, 0, sizeof(cfg));
	cfg.url = url;
	cfg.backoff_min_ms = 40;
	cfg.backoff_max_ms = 1000;
	cfg.on_state = rec_state_cb;
	cfg.arg = &r;
	c = wa_conn_new(r.base, &cfg, err, sizeof(err));
	assert_non_null(c);
	wa_conn_start(c);
	event_base_dispatch(r.base);
	assert_int_equal(r.n, 6);
	for (int i = 0; i < 6; i += 2) {
		assert_int_equal(r.states[i], WA_CONN_CONNECTING);
		assert_int_equal(r.states[i + 1], WA_CONN_CLOSED);
		assert_true(r.retries[i + 1] > 0);
	}
	/* 40 ms doubling with +-20 % jitter: 32..48, 64..96, 128..192. */
	assert_true(r.retries[1] >= 32 && r.retries[1] <= 48);
	assert_true(r.retries[3] >= 64 && r.retries[3] <= 96);
	assert_true(r.retries[5] >= 128 && r.retries[5] <= 192);
	/* Already closed (a retry is pending): stop cancels it without another report. */
	wa_conn_stop(c);
	assert_int_equal(r.n, 6);
	/* Nothing happens after a stop. */
	struct timeval tv = { 0, 300000 };
	event_base_loopexit(r.base, &tv);
	event_base_dispatch(r.base);
	assert_int_equal(r.n, 6);
	/* Stopping an attempt under way reports CLOSED/STOPPED once. */
	wa_conn_start(c);
	assert_int_equal(r.states[6], WA_CONN_CONNECTING);
	wa_conn_stop(c);
	assert_int_equal(r.n, 8);
	assert_int_equal(r.states[7], WA_CONN_CLOSED);
	assert_int_equal(r.reasons[7], WA_CONN_REASON_STOPPED);
	assert_int_equal(r.retries[7], -1);
	assert_int_equal(wa_conn_send_node(c, NULL), -1);
	wa_conn_free(c);
	event_base_free(r.base);
}

/* A missing extra CA file is a configuration error: closed for good, reason 601. */
static void
test_bad_ca(void **state)
{
	struct rec r;
	struct wa_conn_config cfg;
	struct wa_conn *c;
	char err[256];

	(void)state;
	memset(&r, 0, sizeof(r));
	r.base = event_base_new();
	memset(&cfg, 0, sizeof(cfg));
	cfg.url = "wss://127.0.0.1:1/ws/chat";
	cfg.extra_ca_file = "/nonexistent/ca.pem";
	cfg.on_state = rec_state_cb;
	cfg.arg = &r;
	c = wa_conn_new(r.base, &cfg, err, sizeof(err));
	assert_non_null(c);
	wa_conn_start(c);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.states[0], WA_CONN_CLOSED);
	assert_int_equal(r.reasons[0], WA_CONN_REASON_CONFIG);
	assert_int_equal(r.retries[0], -1);
	wa_conn_free(c);
	event_base_free(r.base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_urls),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_bad_ca),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
