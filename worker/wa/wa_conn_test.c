/* Unit tests for wa_conn: URL validation, the retry policy against a closed port (transport errors back
 * off with growing, jittered delays; stop ends everything), and the handshake failure policy against a
 * minimal in-process Noise server (a refused certificate closes for good, a malformed server hello backs
 * off), also reached through an HTTP CONNECT proxy played by the same server; a proxy that refuses or is
 * down closes with 604 and backs off. The full protocol is tested end to end against fakewa (tests/fakewa/transport_e2e.py). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "wa_cert.h"
#include "wa_conn.h"
#include "wa_frame.h"
#include "wa_handshake.h"
#include "wa_noise.h"
#include "wa_ws.h"
#include "wa_xeddsa.h"

struct rec {
	int states[64], reasons[64];
	long retries[64];
	char detail[256];		/* of the first close (first_close_cb) */
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
	/* 40 ms doubling with backoff.h's equal jitter, [base/2, base]: 20..40, 40..80, 80..160. */
	assert_true(r.retries[1] >= 20 && r.retries[1] <= 40);
	assert_true(r.retries[3] >= 40 && r.retries[3] <= 80);
	assert_true(r.retries[5] >= 80 && r.retries[5] <= 160);
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

/* A one-connection server: WebSocket upgrade, then a Noise server hello for the client hello. */
struct hs_server {
	struct evconnlistener *lis;
	struct bufferevent *bev;
	struct wa_ws *ws;
	struct wa_frame_reader *frd;
	struct wa_frame_writer *fwr;
	struct wa_handshake *hs;
	int upgraded;
	int garbage;			/* answer with bytes that are no HandshakeMessage */
	int proxy;			/* PROXY_*: first play an HTTP proxy on the same connection */
	char connect_line[128];		/* the CONNECT request line it got */
};

enum { PROXY_NONE, PROXY_TUNNEL, PROXY_407 };

/* Answer one frame payload from the client (its hello) with a server hello. */
static void
srv_frame(struct hs_server *s, const uint8_t *p, size_t n)
{
	static const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff };
	uint8_t *out = NULL, *f = NULL, ws[512];
	size_t outlen = 0, flen = 0, wlen;
	char err[256];

	if (s->garbage) {
		assert_int_equal(wa_frame_encode(s->fwr, junk, sizeof(junk), &f, &flen), 0);
	} else {
		if (wa_handshake_server_on_client_hello(s->hs, p, n, &out, &outlen, err, sizeof(err)) != 0)
			fail_msg("server: %s", err);
		assert_int_equal(wa_frame_encode(s->fwr, out, outlen, &f, &flen), 0);
	}
	wlen = wa_ws_frame_encode(ws, sizeof(ws), WA_WS_OP_BINARY, 1, 0, f, flen);
	assert_true(wlen > 0);
	bufferevent_write(s->bev, ws, wlen);
	free(out);
	free(f);
}

/* Upgrade, then take WebSocket messages apart into frames. */
static void
srv_read_cb(struct bufferevent *bev, void *arg)
{
	struct hs_server *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct wa_ws_msg msg;
	const uint8_t *p;
	size_t len, used, need, n;
	char key[WA_WS_KEY_LEN + 1], path[64], err[256], *answer;
	uint8_t *buf;
	int r;

	if (!s->upgraded) {
		len = evbuffer_get_length(in);
		buf = evbuffer_pullup(in, -1);
		if (wa_ws_request_parse((const char *)buf, len, &used, key, path, sizeof(path), err,
		    sizeof(err)) != WA_WS_DONE)
			return;
		answer = wa_ws_response_build(key);
		bufferevent_write(bev, answer, strlen(answer));
		free(answer);
		evbuffer_drain(in, used);
		s->upgraded = 1;
	}
	while ((len = evbuffer_get_length(in)) > 0) {
		buf = evbuffer_pullup(in, -1);
		r = wa_ws_parse(s->ws, buf, len, &used, &need, &msg, err, sizeof(err));
		if (r == WA_WS_DONE && msg.opcode == WA_WS_OP_BINARY) {
			assert_int_equal(wa_frame_reader_feed(s->frd, msg.data, msg.len), 0);
			while (wa_frame_reader_next(s->frd, &p, &n, err, sizeof(err)) == WA_FRAME_DONE)
				srv_frame(s, p, n);
		}
		evbuffer_drain(in, used);
		if (r != WA_WS_DONE)
			break;
	}
}

/* The proxy's part: take the CONNECT head, answer, and (for a tunnel) be the server from then on. */
static void
srv_proxy_read_cb(struct bufferevent *bev, void *arg)
{
	struct hs_server *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	size_t eol;

	if (end.pos < 0)
		return;
	eol = (size_t)evbuffer_search(in, "\r\n", 2, NULL).pos;
	if (eol >= sizeof(s->connect_line))
		eol = sizeof(s->connect_line) - 1;
	evbuffer_remove(in, s->connect_line, eol);
	s->connect_line[eol] = '\0';
	evbuffer_drain(in, (size_t)end.pos + 4 - eol);
	if (s->proxy == PROXY_407) {
		static const char no[] = "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n";
		bufferevent_write(bev, no, strlen(no));
		return;
	}
	bufferevent_write(bev, "HTTP/1.1 200 Connection established\r\n\r\n", 39);
	bufferevent_setcb(bev, srv_read_cb, NULL, NULL, s);
	if (evbuffer_get_length(in) > 0)
		srv_read_cb(bev, s);
}

/* Take the one connection. */
static void
srv_accept_cb(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct hs_server *s = arg;

	(void)sa;
	(void)salen;
	if (s->bev != NULL) {
		close(fd);	/* a retry: one connection is all we serve */
		return;
	}
	s->bev = bufferevent_socket_new(evconnlistener_get_base(lis), fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(s->bev, s->proxy != PROXY_NONE ? srv_proxy_read_cb : srv_read_cb, NULL, NULL, s);
	bufferevent_enable(s->bev, EV_READ);
}

/* Leave the loop at the first close. */
static void
first_close_cb(struct wa_conn *c, int state, int reason, const char *detail, long retry_ms, void *arg)
{
	struct rec *r = arg;

	(void)c;
	if (state != WA_CONN_CLOSED || r->n > 0)
		return;
	r->states[0] = state;
	r->reasons[0] = reason;
	r->retries[0] = retry_ms;
	snprintf(r->detail, sizeof(r->detail), "%s", detail);
	r->n = 1;
	event_base_loopbreak(r->base);
}

/* Connect to a server presenting a chain from another root (or garbage) and record the first close; through
 * the server playing an HTTP proxy first when proxy is set (connect_line gets its CONNECT line). */
static void
run_handshake_failure(int garbage, int proxy, struct rec *r, char *connect_line, size_t cllen)
{
	struct hs_server s;
	struct wa_conn_proxy px = { "http", "127.0.0.1", NULL, "user", "pass" };
	char pxport[8];
	struct wa_conn_config cfg;
	struct wa_conn *c;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);
	uint8_t root_priv[32], root_pub[32], spriv[32], spub[32], *chain;
	size_t chain_len;
	struct timeval limit = { 10, 0 };
	char url[64], err[256];

	memset(&s, 0, sizeof(s));
	memset(r, 0, sizeof(*r));
	r->base = event_base_new();
	assert_int_equal(wa_xeddsa_keypair_generate(root_priv, root_pub), 0);
	assert_int_equal(wa_noise_keypair_generate(spriv, spub), 0);
	assert_int_equal(wa_cert_chain_generate(root_priv, spub, 1, UINT64_C(4000000000), &chain, &chain_len), 0);
	s.garbage = garbage;
	s.proxy = proxy;
	s.ws = wa_ws_new(WA_WS_SERVER, 0);
	s.frd = wa_frame_reader_new(wa_frame_header_default, WA_FRAME_HEADER_LEN, 0);
	s.fwr = wa_frame_writer_new(NULL, 0, 0);
	s.hs = wa_handshake_server_new(spriv, spub, chain, chain_len);
	assert_non_null(s.hs);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s.lis = evconnlistener_new_bind(r->base, srv_accept_cb, &s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 1,
	    (struct sockaddr *)&sin, sizeof(sin));
	assert_non_null(s.lis);
	getsockname(evconnlistener_get_fd(s.lis), (struct sockaddr *)&sin, &sl);
	/* Through the proxy the target is a name only the proxy would resolve. */
	if (proxy != PROXY_NONE)
		snprintf(url, sizeof(url), "ws://wa.invalid:8443/ws/chat");
	else
		snprintf(url, sizeof(url), "ws://127.0.0.1:%d/ws/chat", ntohs(sin.sin_port));
	snprintf(pxport, sizeof(pxport), "%d", ntohs(sin.sin_port));
	px.port = pxport;
	memset(&cfg, 0, sizeof(cfg));
	cfg.url = url;
	cfg.root_key = NULL;		/* WhatsApp's real root: our chain is not signed by it */
	cfg.backoff_min_ms = 40;
	cfg.on_state = first_close_cb;
	cfg.arg = r;
	c = wa_conn_new(r->base, &cfg, err, sizeof(err));
	assert_non_null(c);
	if (proxy != PROXY_NONE)
		wa_conn_set_proxy(c, &px);
	wa_conn_start(c);
	event_base_loopexit(r->base, &limit);
	event_base_dispatch(r->base);
	assert_int_equal(r->n, 1);
	if (connect_line != NULL)
		snprintf(connect_line, cllen, "%s", s.connect_line);
	wa_conn_free(c);
	if (s.bev != NULL)
		bufferevent_free(s.bev);
	evconnlistener_free(s.lis);
	wa_handshake_free(s.hs);
	wa_frame_writer_free(s.fwr);
	wa_frame_reader_free(s.frd);
	wa_ws_free(s.ws);
	free(chain);
	event_base_free(r->base);
}

/* The retry decision comes from the handshake's error code: a certificate that does not verify closes for
 * good (reason 400, no retry); a server hello that does not parse is a bad session that backs off. */
static void
test_handshake_failures(void **state)
{
	struct rec r;

	(void)state;
	run_handshake_failure(0, PROXY_NONE, &r, NULL, 0);
	assert_int_equal(r.states[0], WA_CONN_CLOSED);
	assert_int_equal(r.reasons[0], WA_CONN_REASON_BAD_CERT);
	assert_int_equal(r.retries[0], -1);
	run_handshake_failure(1, PROXY_NONE, &r, NULL, 0);
	assert_int_equal(r.states[0], WA_CONN_CLOSED);
	assert_int_equal(r.reasons[0], WA_CONN_REASON_BAD_SESSION);
	assert_true(r.retries[0] > 0);
}

/* Through an HTTP proxy: the WebSocket upgrade and the Noise handshake run inside the tunnel (the certificate
 * refusal proves the server hello came through), the target goes to the proxy by name; a 407 and a proxy that
 * is down close with 604, a "proxy: " detail and a retry. */
static void
test_proxy(void **state)
{
	struct rec r;
	struct wa_conn_config cfg;
	struct wa_conn *c;
	struct wa_conn_proxy px = { "http", "127.0.0.1", NULL, NULL, NULL };
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);
	char line[128], port[8], want[128], err[256];
	int fd;

	(void)state;
	run_handshake_failure(0, PROXY_TUNNEL, &r, line, sizeof(line));
	assert_string_equal(line, "CONNECT wa.invalid:8443 HTTP/1.1");
	assert_int_equal(r.reasons[0], WA_CONN_REASON_BAD_CERT);
	assert_int_equal(r.retries[0], -1);

	run_handshake_failure(0, PROXY_407, &r, line, sizeof(line));
	assert_int_equal(r.reasons[0], WA_CONN_REASON_PROXY);
	assert_string_equal(r.detail, "proxy: 407 Proxy Authentication Required");
	assert_true(r.retries[0] > 0);

	/* Nothing listens on the proxy's port. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	getsockname(fd, (struct sockaddr *)&sin, &sl);
	close(fd);
	snprintf(port, sizeof(port), "%d", ntohs(sin.sin_port));
	px.port = port;
	memset(&r, 0, sizeof(r));
	r.base = event_base_new();
	memset(&cfg, 0, sizeof(cfg));
	cfg.url = "ws://wa.invalid/ws/chat";
	cfg.backoff_min_ms = 40;
	cfg.on_state = first_close_cb;
	cfg.arg = &r;
	c = wa_conn_new(r.base, &cfg, err, sizeof(err));
	assert_non_null(c);
	wa_conn_set_proxy(c, &px);
	wa_conn_start(c);
	event_base_dispatch(r.base);
	assert_int_equal(r.reasons[0], WA_CONN_REASON_PROXY);
	snprintf(want, sizeof(want), "proxy: connect to http 127.0.0.1:%s: Connection refused", port);
	assert_string_equal(r.detail, want);
	assert_true(r.retries[0] > 0);
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
		cmocka_unit_test(test_handshake_failures),
		cmocka_unit_test(test_proxy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
