/* Proxy handshakes against a scripted peer on a socketpair: the exact request bytes of each protocol, the
 * answers that open the tunnel (with the tunnelled bytes left unread on the socket), and each refusal. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wa_proxy.h"

struct pair {
	int client;	/* non-blocking, driven by wa_proxy_io */
	int peer;	/* blocking, the scripted proxy */
};

/* A connected socketpair with the client end non-blocking. */
static void
pair_open(struct pair *sp)
{
	int fds[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	sp->client = fds[0];
	sp->peer = fds[1];
	assert_int_equal(fcntl(sp->client, F_SETFL, fcntl(sp->client, F_GETFL) | O_NONBLOCK), 0);
}

/* Close what is still open of the pair. */
static void
pair_close(struct pair *sp)
{
	if (sp->client >= 0)
		close(sp->client);
	if (sp->peer >= 0)
		close(sp->peer);
}

/* The peer reads exactly len bytes and they must be these. */
static void
peer_expect(struct pair *sp, const void *want, size_t len)
{
	uint8_t buf[2048];
	size_t got = 0;

	assert_true(len <= sizeof(buf));
	while (got < len) {
		ssize_t n = recv(sp->peer, buf + got, len - got, 0);
		assert_true(n > 0);
		got += (size_t)n;
	}
	assert_memory_equal(buf, want, len);
}

/* Nothing more was sent to the peer. */
static void
peer_expect_nothing(struct pair *sp)
{
	uint8_t b;

	assert_int_equal(recv(sp->peer, &b, 1, MSG_DONTWAIT), -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
}

/* The peer answers these bytes. */
static void
peer_send(struct pair *sp, const void *data, size_t len)
{
	assert_int_equal(send(sp->peer, data, len, 0), (ssize_t)len);
}

/* Drive the client once; returns the result. */
static int
step(struct wa_proxy *p, struct pair *sp, char *err, size_t errlen)
{
	int ww = -1, r;

	err[0] = '\0';
	r = wa_proxy_io(p, sp->client, &ww, err, errlen);
	if (r == WA_PROXY_AGAIN)
		assert_int_equal(ww, 0);	/* a socketpair never fills up with these few bytes */
	return r;
}

/* What the client can still read must be exactly the tunnelled bytes. */
static void
client_expect_tunnel(struct pair *sp, const char *want)
{
	char buf[64];
	ssize_t n = recv(sp->client, buf, sizeof(buf), 0);

	assert_int_equal(n, (ssize_t)strlen(want));
	assert_memory_equal(buf, want, strlen(want));
}

/* HTTP CONNECT with Basic credentials; the answer's head is consumed and nothing after it. */
static void
test_http_connect_ok(void **state)
{
	static const char req[] = "CONNECT web.whatsapp.com:443 HTTP/1.1\r\nHost: web.whatsapp.com:443\r\n"
	    "Proxy-Authorization: Basic dXNlcjpwYXNz\r\nUser-Agent: wagate\r\n\r\n";
	static const char ans[] = "HTTP/1.1 200 Connection established\r\nProxy-agent: tinyproxy/1.11.1\r\n\r\nTUNNEL";
	struct pair sp;
	struct wa_proxy *p;
	char err[256];

	(void)state;
	pair_open(&sp);
	p = wa_proxy_new(WA_PROXY_HTTP, "web.whatsapp.com", 443, "user", "pass", err, sizeof(err));
	assert_non_null(p);
	assert_int_equal(step(p, &sp, err, sizeof(err)), WA_PROXY_AGAIN);
	peer_expect(&sp, req, strlen(req));
	peer_expect_nothing(&sp);
	/* The answer arrives in two pieces, the first ending inside the terminator. */
	peer_send(&sp, ans, 40);
	assert_int_equal(step(p, &sp, err, sizeof(err)), WA_PROXY_AGAIN);
	peer_send(&sp, ans + 40, strlen(ans) - 40);
	assert_int_equal(step(p, &sp, err, sizeof(err)), WA_PROXY_DONE);
	assert_int_equal(wa_proxy_error(p), WA_PROXY_ERR_NONE);
	client_expect_tunnel(&sp, "TUNNEL");
	wa_proxy_free(p);
	pair_close(&sp);
}

/* An IPv6 target is bracketed; no credentials, no Proxy-Authorization. */
static void
test_http_connect_ipv6_noauth(void **state)
{
	static const char req[] = "CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\nUser-Agent: wagate\r\n\r\n";
	struct pair sp;
	struct wa_proxy *p;
	char err[256];

	(void)state;
	pair_open(&sp);
	p = wa_proxy_new(WA_PROXY_HTTP, "::1", 8443, "", NULL, err, sizeof(err));
	assert_non_null(p);
	assert_int_equal(step(p, &sp, err, sizeof(err)), WA_PROXY_AGAIN);
	peer_expect(&sp, req, strlen(req));
	peer_send(&sp, "HTTP/1.0 200 OK\r\n\r\n", 19);
	assert_int_equal(step(p, &sp, err, sizeof(err)), WA_PROXY_DONE);
	wa_proxy_free(p);
	pair_close(&sp);
}

/* The HTTP refusals, each with its class and text. */
static void
test_http_refusals(void **state)
{
	static const struct {
		const char *answer;
		int error;
		const char *text;
	} cases[] = {
		{ "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"x\"\r\n\r\n",
		    WA_PROXY_ERR_AUTH, "407 Proxy Authentication Required" },
		{ "HTTP/1.1 403 Access violation\r\n\r\n", WA_PROXY_ERR_REFUSED, "403 Access violation" },
		{ "HTTP/1.0 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"Tinyproxy\"\r\n\r\n",
		    WA_PROXY_ERR_AUTH, "401 Unauthorized" },
		{ "HTTP/1.1 407\r\n\r\n", WA_PROXY_ERR_AUTH, "407 Proxy Authentication Required" },
		{ "HTTP/1.1 502 Bad\x01Gateway\r\n\r\n", WA_PROXY_ERR_REFUSED, "502 Bad?Gateway" },
		{ "SSH-2.0-OpenSSH_9.2\r\n\r\n", WA_PROXY_ERR_PROTOCOL, "not an HTTP proxy answer" },
		{ "HTTP/1.1 20\r\n\r\n", WA_PROXY_ERR_PROTOCOL, "not an HTTP proxy answer" },
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pair sp;
		struct wa_proxy *p;

		pair_open(&sp);
		p = wa_proxy_new(WA_PROXY_HTTP, "example.net", 443, "u", "p", err, sizeof(err));
		assert_int_equal(step(p, &sp, err, sizeof(err)), WA_PROXY_AGAIN);
		peer_send(&sp, cases[i].answer, strlen(cases[i].answer));
		assert_int_equal(step(p, &sp, err, sizeof(err)), WA_PROXY_ERROR);
		assert_int_equal(wa_proxy_error(p), cases[i].error);
		assert_string_equal(err, cases[i].text);
		/* A failed handshake stays failed. */
		assert_int_equal(step(p, &sp, err, sizeof(err)), WA_PROXY_ERROR);
		wa_proxy_free(p);
		pair_close(&sp);
	}
}

/* A head that never ends is refused at the cap; the want never exceeds the room left. */
static void
test_http_head_cap(void **state)
{
	struct wa_proxy *p;
	char err[256];
	uint8_t x = 'a';
	size_t fed = 0;
	int r = WA_PROXY_AGAIN;

	(void)state;
	p = wa_proxy_new(WA_PROXY_HTTP, "example.net", 443, NULL, NULL, err, sizeof(err));
	while (r == WA_PROXY_AGAIN) {
		assert_true(wa_proxy_want(p) >= 1 && wa_proxy_want(p) <= 4);
		r = wa_proxy_input(p, &x, 1, err, sizeof(err));
		fed++;
	}
	assert_int_equal(r, WA_PROXY_ERROR);
	assert_int_equal(fed, WA_PROXY_HTTP_HEAD_MAX);
	assert_int_equal(wa_proxy_error(p), WA_PROXY_ERR_PROTOCOL);
	wa_proxy_free(p);
	/* More bytes than wanted are a caller bug, refused. */
	p = wa_proxy_new(WA_PROXY_HTTP, "example.net", 443, NULL, NULL, err, sizeof(err));
	assert_int_equal(wa_proxy_input(p, (const uint8_t *)"HTTP/", 5, err, sizeof(err)), WA_PROXY_ERROR);
	wa_proxy_free(p);
}

/* SOCKS5 with username/password and a domain-name target; the bound address is read and nothing after. */
static void
test_socks5_auth_ok(void **state)
{
	static const uint8_t greet[] = { 5, 2, 0, 2 };
	static const uint8_t auth[] = { 1, 4, 'u', 's', 'e', 'r', 4, 'p', 'a', 's', 's' };
	static const uint8_t conn[] = { 5, 1, 0, 3, 16, 'w', 'e', 'b', '.', 'w', 'h', 'a', 't', 's', 'a', 'p', 'p',
	    '.', 'c', 'o', 'm', 0x01, 0xbb };
	static const uint8_t reply[] = { 5, 0, 0, 1, 10, 0, 0, 1, 0x9c, 0x40, 'T', 'U', 'N', 'N', 'E', 'L' };
	struct pair sp;
	struct wa_proxy *p;
	char err[256];

	(void)state;
	pair_open(&sp);
	p = wa_proxy_new(WA_PROXY_SOCKS5, "web.whatsapp.com", 443, "user", "pass", err, sizeof(err));
	assert_non_null(p);
	assert_int_equal(step(p, &sp, err, sizeof(err)), WA_PROXY_AGAIN);
	peer_expect(&sp, greet, sizeof(greet));
	peer_send(&sp, "\x05\x02", 2);
	assert_int_equal(step(p, &sp, err, sizeof(err)), WA_PROXY_AGAIN);
	peer_expect(&sp, auth, sizeof(auth));
	peer_expect_nothing(&sp);
	peer_send(&sp, "\x01\x00", 2);
	assert_int_equal(step(p, &sp, err, sizeof(err)), WA_PROXY_AGAIN);
	peer_expect(&sp, conn, sizeof(conn));
	/* The reply in two pieces: the head, then the address with tunnel bytes behind it. */
	peer_send(&sp, reply, 3);
	assert_int_equal(step(p, &sp, err, sizeof(err)), WA_PROXY_AGAIN);
	peer_send(&sp, reply + 3, sizeof(reply) - 3);
	assert_int_equal(step(p, &sp, err, sizeof(err)), WA_PROXY_DONE);
	client_expect_tunnel(&sp, "TUNNEL");
	wa_proxy_free(p);
	pair_close(&sp);
}

/* SOCKS5 without credentials, IPv4 and IPv6 literals as addresses, a domain-name bound address. */
static void
test_socks5_noauth_literals(void **state)
{
	static const uint8_t conn4[] = { 5, 1, 0, 1, 127, 0, 0, 1, 0x1f, 0x90 };
	static const uint8_t conn6[] = { 5, 1, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x1f, 0x90 };
	static const uint8_t reply[] = { 5, 0, 0, 3, 3, 'a', 'b', 'c', 0, 80, 'X' };
	const char *hosts[] = { "127.0.0.1", "::1" };
	struct pair sp;
	struct wa_proxy *p;
	char err[256];

	(void)state;
	for (int i = 0; i < 2; i++) {
		pair_open(&sp);
		p = wa_proxy_new(WA_PROXY_SOCKS5, hosts[i], 8080, NULL, NULL, err, sizeof(err));
		assert_int_equal(step(p, &sp, err, sizeof(err)), WA_PROXY_AGAIN);
		peer_expect(&sp, "\x05\x01\x00", 3);
		peer_send(&sp, "\x05\x00", 2);
		assert_int_equal(step(p, &sp, err, sizeof(err)), WA_PROXY_AGAIN);
		if (i == 0)
			peer_expect(&sp, conn4, sizeof(conn4));
		else
			peer_expect(&sp, conn6, sizeof(conn6));
		peer_send(&sp, reply, sizeof(reply));
		assert_int_equal(step(p, &sp, err, sizeof(err)), WA_PROXY_DONE);
		client_expect_tunnel(&sp, "X");
		wa_proxy_free(p);
		pair_close(&sp);
	}
}

/* SOCKS5 refusals: bad credentials, no acceptable method, a failed CONNECT, a method we did not offer. */
static void
test_socks5_refusals(void **state)
{
	static const struct {
		const char *user;
		const char *script;	/* answers, in order, each 2 bytes (the last may be a 5-byte reply head) */
		size_t len;
		int error;
		const char *text;
	} cases[] = {
		{ "user", "\x05\x02\x01\x01", 4, WA_PROXY_ERR_AUTH, "SOCKS5 auth refused" },
		{ "user", "\x05\xff", 2, WA_PROXY_ERR_AUTH, "SOCKS5 proxy accepts none of our authentication methods" },
		{ NULL, "\x05\xff", 2, WA_PROXY_ERR_AUTH,
		    "SOCKS5 proxy accepts none of our authentication methods (it wants a username and password)" },
		{ NULL, "\x05\x02", 2, WA_PROXY_ERR_PROTOCOL,
		    "SOCKS5 proxy chose authentication method 2, which we did not offer" },
		{ NULL, "\x05\x00\x05\x05\x00\x01\x00", 7, WA_PROXY_ERR_REFUSED, "SOCKS5 connection refused (5)" },
		{ NULL, "\x05\x00\x05\x00\x00\x07\x00", 7, WA_PROXY_ERR_PROTOCOL, "SOCKS5 reply with address type 7" },
		{ NULL, "\x04\x00", 2, WA_PROXY_ERR_PROTOCOL, "not a SOCKS5 proxy answer" },
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pair sp;
		struct wa_proxy *p;
		int r;

		pair_open(&sp);
		p = wa_proxy_new(WA_PROXY_SOCKS5, "example.net", 443, cases[i].user, "pw", err, sizeof(err));
		assert_int_equal(step(p, &sp, err, sizeof(err)), WA_PROXY_AGAIN);
		peer_send(&sp, cases[i].script, cases[i].len);
		while ((r = step(p, &sp, err, sizeof(err))) == WA_PROXY_AGAIN)
			;
		assert_int_equal(r, WA_PROXY_ERROR);
		assert_int_equal(wa_proxy_error(p), cases[i].error);
		assert_string_equal(err, cases[i].text);
		wa_proxy_free(p);
		pair_close(&sp);
	}
}

/* SOCKS4 for an IPv4 literal, SOCKS4a for a name (the USERID is the username); grant and reject. */
static void
test_socks4(void **state)
{
	static const uint8_t req4[] = { 4, 1, 0x01, 0xbb, 10, 1, 2, 3, 'b', 'o', 'b', 0 };
	static const uint8_t req4a[] = { 4, 1, 0x01, 0xbb, 0, 0, 0, 1, 0, 'e', 'x', '.', 'n', 'e', 't', 0 };
	struct pair sp;
	struct wa_proxy *p;
	char err[256];

	(void)state;
	pair_open(&sp);
	p = wa_proxy_new(WA_PROXY_SOCKS4, "10.1.2.3", 443, "bob", "ignored", err, sizeof(err));
	assert_int_equal(step(p, &sp, err, sizeof(err)), WA_PROXY_AGAIN);
	peer_expect(&sp, req4, sizeof(req4));
	peer_send(&sp, "\x00\x5a\x00\x00\x00\x00\x00\x00TUNNEL", 14);
	assert_int_equal(step(p, &sp, err, sizeof(err)), WA_PROXY_DONE);
	client_expect_tunnel(&sp, "TUNNEL");
	wa_proxy_free(p);
	pair_close(&sp);

	pair_open(&sp);
	p = wa_proxy_new(WA_PROXY_SOCKS4, "ex.net", 443, NULL, NULL, err, sizeof(err));
	assert_int_equal(step(p, &sp, err, sizeof(err)), WA_PROXY_AGAIN);
	peer_expect(&sp, req4a, sizeof(req4a));
	peer_send(&sp, "\x00\x5b\x00\x00\x00\x00\x00\x00", 8);
	assert_int_equal(step(p, &sp, err, sizeof(err)), WA_PROXY_ERROR);
	assert_int_equal(wa_proxy_error(p), WA_PROXY_ERR_REFUSED);
	assert_string_equal(err, "SOCKS4 request rejected or failed");
	wa_proxy_free(p);
	pair_close(&sp);
}

/* The proxy hangs up mid-handshake: an I/O error, not a hang. */
static void
test_eof(void **state)
{
	struct pair sp;
	struct wa_proxy *p;
	char err[256];

	(void)state;
	pair_open(&sp);
	p = wa_proxy_new(WA_PROXY_HTTP, "example.net", 443, NULL, NULL, err, sizeof(err));
	assert_int_equal(step(p, &sp, err, sizeof(err)), WA_PROXY_AGAIN);
	peer_expect(&sp, "CONNECT", 7);
	while (recv(sp.peer, err, sizeof(err), MSG_DONTWAIT) > 0)
		;	/* read all of it: unread data would turn the close into a reset */
	peer_send(&sp, "HTTP/1.1 200", 12);
	close(sp.peer);
	sp.peer = -1;
	assert_int_equal(step(p, &sp, err, sizeof(err)), WA_PROXY_ERROR);
	assert_int_equal(wa_proxy_error(p), WA_PROXY_ERR_IO);
	assert_string_equal(err, "connection closed by the proxy");
	wa_proxy_free(p);
	pair_close(&sp);
}

/* Requests that cannot be sent are refused up front. */
static void
test_new_refusals(void **state)
{
	char err[256], longname[300];

	(void)state;
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(wa_proxy_type_from_name("HTTP"), WA_PROXY_HTTP);
	assert_int_equal(wa_proxy_type_from_name("socks5"), WA_PROXY_SOCKS5);
	assert_int_equal(wa_proxy_type_from_name("Socks4"), WA_PROXY_SOCKS4);
	assert_int_equal(wa_proxy_type_from_name("https"), 0);
	assert_int_equal(wa_proxy_type_from_name(NULL), 0);
	assert_null(wa_proxy_new(0, "example.net", 443, NULL, NULL, err, sizeof(err)));
	assert_null(wa_proxy_new(WA_PROXY_HTTP, "example.net\r\nX: y", 443, NULL, NULL, err, sizeof(err)));
	assert_null(wa_proxy_new(WA_PROXY_HTTP, "example.net", 0, NULL, NULL, err, sizeof(err)));
	assert_null(wa_proxy_new(WA_PROXY_HTTP, "example.net", 65536, NULL, NULL, err, sizeof(err)));
	assert_null(wa_proxy_new(WA_PROXY_SOCKS5, longname, 443, NULL, NULL, err, sizeof(err)));
	assert_null(wa_proxy_new(WA_PROXY_SOCKS5, "example.net", 443, longname, "p", err, sizeof(err)));
	assert_null(wa_proxy_new(WA_PROXY_HTTP, "example.net", 443, "a:b", "p", err, sizeof(err)));
	assert_string_equal(err, "an HTTP proxy username cannot contain ':'");
	assert_null(wa_proxy_new(WA_PROXY_SOCKS4, "::1", 443, NULL, NULL, err, sizeof(err)));
	assert_string_equal(err, "SOCKS4 cannot reach an IPv6 address");
	wa_proxy_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http_connect_ok),
		cmocka_unit_test(test_http_connect_ipv6_noauth),
		cmocka_unit_test(test_http_refusals),
		cmocka_unit_test(test_http_head_cap),
		cmocka_unit_test(test_socks5_auth_ok),
		cmocka_unit_test(test_socks5_noauth_literals),
		cmocka_unit_test(test_socks5_refusals),
		cmocka_unit_test(test_socks4),
		cmocka_unit_test(test_eof),
		cmocka_unit_test(test_new_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
