/* Tests for the plain/TLS stream over loopback: handshake with a generated self-signed certificate (and its
 * subjectAltName), data both ways, refusal of an untrusted certificate or a wrong host name with a clear reason,
 * a client context that holds its CAs only while handshakes run, and more output than the sockets hold arriving
 * whole and in order once the peer reads (plain and TLS). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <mbedtls/x509_crt.h>

#include "wa_tls.h"

struct side {
	struct wa_tls *t;
	int connected, failed, eof;
	char reason[512];
	char got[256];
	size_t gotlen;
	int echo;
	size_t total;		/* bulk: bytes read, checked against bulk_byte */
	int bad;
};

struct fixture {
	struct event_base *base;
	struct evconnlistener *lis;
	struct wa_tls_ctx *sctx;
	struct side srv, cli, srv2;	/* srv2: a second accepted stream */
	int port;
	int bulk;			/* accepted streams count and check (bulk_read_cb), no echo */
	char certfile[64];
};

/* Reader: append, and echo on the server side. */
static void
side_read_cb(struct wa_tls *t, struct evbuffer *in, void *arg)
{
	struct side *s = arg;
	size_t n = evbuffer_get_length(in);

	if (n > sizeof(s->got) - s->gotlen)
		n = sizeof(s->got) - s->gotlen;
	evbuffer_remove(in, s->got + s->gotlen, n);
	if (s->echo)
		wa_tls_write(t, s->got + s->gotlen, n);
	s->gotlen += n;
}

/* Byte i of a bulk transfer. */
static unsigned char
bulk_byte(size_t i)
{
	return (unsigned char)((i * 131 + i / 251) & 0xff);
}

/* Bulk reader: count, and check every byte against bulk_byte. */
static void
bulk_read_cb(struct wa_tls *t, struct evbuffer *in, void *arg)
{
	struct side *s = arg;
	unsigned char buf[16384];
	size_t n, i;

	(void)t;
	while ((n = evbuffer_remove(in, buf, sizeof(buf))) > 0 && n <= sizeof(buf)) {
		for (i = 0; i < n; i++)
			if (buf[i] != bulk_byte(s->total + i))
				s->bad++;
		s->total += n;
	}
}

/* Event: record it. */
static void
side_event_cb(struct wa_tls *t, int what, const char *reason, void *arg)
{
	struct side *s = arg;

	if (what == WA_TLS_EV_CONNECTED)
		s->connected = 1;
	else if (what == WA_TLS_EV_EOF)
		s->eof = 1;
	else if (what == WA_TLS_EV_ERROR || what == WA_TLS_EV_CERT_ERROR)
		s->failed = what;
	snprintf(s->reason, sizeof(s->reason), "%s", reason);
}

/* Accept: wrap the socket with the server context. */
static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg)
{
	struct fixture *f = arg;

	struct side *s = f->srv.t == NULL ? &f->srv : &f->srv2;

	evutil_make_socket_nonblocking(fd);
	s->echo = !f->bulk;
	s->t = wa_tls_new(f->base, fd, f->sctx, NULL, 0, f->bulk ? bulk_read_cb : side_read_cb, side_event_cb, s);
}

/* Start a listener (TLS when tls != 0). */
static struct fixture *
fixture_new(int tls)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);
	char err[256];
	int fd;

	f->base = event_base_new();
	snprintf(f->certfile, sizeof(f->certfile), "/tmp/wa_tls_test.%d.pem", (int)getpid());
	if (tls) {
		f->sctx = wa_tls_ctx_new_server("127.0.0.1", f->certfile, err, sizeof(err));
		if (f->sctx == NULL)
			fail_msg("%s", err);
	}
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->lis = evconnlistener_new_bind(f->base, accept_cb, f, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
	    (struct sockaddr *)&sin, sizeof(sin));
	assert_non_null(f->lis);
	fd = evconnlistener_get_fd(f->lis);
	getsockname(fd, (struct sockaddr *)&sin, &sl);
	f->port = ntohs(sin.sin_port);
	return f;
}

/* Tear a fixture down. */
static void
fixture_free(struct fixture *f)
{
	wa_tls_free(f->srv.t);
	wa_tls_free(f->srv2.t);
	wa_tls_free(f->cli.t);
	evconnlistener_free(f->lis);
	wa_tls_ctx_free(f->sctx);
	event_base_free(f->base);
	unlink(f->certfile);
	free(f);
}

/* A stream for side s connecting to the fixture (NULL if wa_tls_new refused; the socket is then closed). */
static struct wa_tls *
side_connect(struct fixture *f, struct side *s, struct wa_tls_ctx *cctx, const char *host)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)f->port);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		assert_int_equal(errno, EINPROGRESS);
	s->t = wa_tls_new(f->base, fd, cctx, host, 1, side_read_cb, side_event_cb, s);
	if (s->t == NULL)
		close(fd);
	return s->t;
}

/* Connect a client stream to the fixture. */
static void
client_connect(struct fixture *f, struct wa_tls_ctx *cctx, const char *host)
{
	assert_non_null(side_connect(f, &f->cli, cctx, host));
}

/* Run the loop until cond or about 5 s. */
#define RUN_UNTIL(f, cond) do { \
	for (int _i = 0; _i < 500 && !(cond); _i++) { \
		struct timeval _tv = { 0, 10000 }; \
		event_base_loopexit((f)->base, &_tv); \
		event_base_dispatch((f)->base); \
	} \
} while (0)

/* Plain stream: connect, echo. */
static void
test_plain_echo(void **state)
{
	struct fixture *f = fixture_new(0);

	(void)state;
	client_connect(f, NULL, NULL);
	assert_int_equal(wa_tls_write(f->cli.t, "hello", 5), 0);	/* queued before connect */
	RUN_UNTIL(f, f->cli.gotlen == 5);
	assert_true(f->cli.connected);
	assert_memory_equal(f->cli.got, "hello", 5);
	assert_false(wa_tls_is_tls(f->cli.t));
	fixture_free(f);
}

/* TLS stream trusting the generated certificate: handshake and echo, then a clean close. */
static void
test_tls_echo(void **state)
{
	struct fixture *f = fixture_new(1);
	char err[256];
	struct wa_tls_ctx *cctx = wa_tls_ctx_new_client(f->certfile, NULL, err, sizeof(err));

	(void)state;
	assert_non_null(cctx);
	client_connect(f, cctx, "127.0.0.1");
	wa_tls_write(f->cli.t, "over tls", 8);
	RUN_UNTIL(f, f->cli.gotlen == 8 || f->cli.failed);
	assert_int_equal(f->cli.failed, 0);
	assert_true(f->cli.connected);
	assert_true(f->srv.connected);
	assert_memory_equal(f->cli.got, "over tls", 8);
	wa_tls_close_on_flush(f->cli.t);
	RUN_UNTIL(f, f->srv.eof);
	assert_true(f->srv.eof);
	fixture_free(f);
	wa_tls_ctx_free(cctx);
}

/* The written certificate names localhost and 127.0.0.1 in its subjectAltName (what OpenSSL, Python and
 * Node match), and still lists the common name as a dNSName, which mbedTLS 2.28 clients match. */
static void
test_tls_san(void **state)
{
	static const uint8_t loopback[4] = { 127, 0, 0, 1 };
	struct fixture *f = fixture_new(1);
	const mbedtls_x509_sequence *san;
	mbedtls_x509_crt crt;
	int dns_localhost = 0, dns_cn = 0, ip = 0;

	(void)state;
	mbedtls_x509_crt_init(&crt);
	assert_int_equal(mbedtls_x509_crt_parse_file(&crt, f->certfile), 0);
	for (san = &crt.subject_alt_names; san != NULL && san->buf.p != NULL; san = san->next) {
		if (san->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2) && san->buf.len == 9 &&
		    memcmp(san->buf.p, "localhost", 9) == 0)
			dns_localhost++;
		else if (san->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2) && san->buf.len == 9 &&
		    memcmp(san->buf.p, "127.0.0.1", 9) == 0)
			dns_cn++;
		else if (san->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) && san->buf.len == 4 &&
		    memcmp(san->buf.p, loopback, 4) == 0)
			ip++;
		else
			fail_msg("unexpected subjectAltName entry, tag %#x", san->buf.tag);
	}
	assert_int_equal(dns_localhost, 1);
	assert_int_equal(dns_cn, 1);
	assert_int_equal(ip, 1);
	mbedtls_x509_crt_free(&crt);
	fixture_free(f);
}

/* Our own client verifies the certificate for localhost too. */
static void
test_tls_localhost(void **state)
{
	struct fixture *f = fixture_new(1);
	char err[256];
	struct wa_tls_ctx *cctx = wa_tls_ctx_new_client(f->certfile, NULL, err, sizeof(err));

	(void)state;
	assert_non_null(cctx);
	client_connect(f, cctx, "localhost");
	wa_tls_write(f->cli.t, "by name", 7);
	RUN_UNTIL(f, f->cli.gotlen == 7 || f->cli.failed);
	assert_int_equal(f->cli.failed, 0);
	assert_memory_equal(f->cli.got, "by name", 7);
	fixture_free(f);
	wa_tls_ctx_free(cctx);
}

/* The system bundle does not trust the self-signed certificate: CERT_ERROR with a readable reason. */
static void
test_tls_untrusted(void **state)
{
	struct fixture *f = fixture_new(1);
	char err[256];
	struct wa_tls_ctx *cctx = wa_tls_ctx_new_client(NULL, NULL, err, sizeof(err));

	(void)state;
	if (cctx == NULL) {
		fixture_free(f);
		skip();
	}
	client_connect(f, cctx, "127.0.0.1");
	RUN_UNTIL(f, f->cli.failed);
	assert_int_equal(f->cli.failed, WA_TLS_EV_CERT_ERROR);
	assert_non_null(strstr(f->cli.reason, "certificate"));
	fixture_free(f);
	wa_tls_ctx_free(cctx);
}

/* A trusted certificate for another name is refused. */
static void
test_tls_wrong_name(void **state)
{
	struct fixture *f = fixture_new(1);
	char err[256];
	struct wa_tls_ctx *cctx = wa_tls_ctx_new_client(f->certfile, NULL, err, sizeof(err));

	(void)state;
	client_connect(f, cctx, "web.whatsapp.com");
	RUN_UNTIL(f, f->cli.failed);
	assert_int_equal(f->cli.failed, WA_TLS_EV_CERT_ERROR);
	assert_non_null(strstr(f->cli.reason, "CN"));
	fixture_free(f);
	wa_tls_ctx_free(cctx);
}

/* Copy the fixture's certificate to path (the client's CA file). */
static void
copy_cert(const struct fixture *f, const char *path)
{
	char buf[8192];
	FILE *in = fopen(f->certfile, "r"), *out = fopen(path, "w");
	size_t n;

	assert_non_null(in);
	assert_non_null(out);
	n = fread(buf, 1, sizeof(buf), in);
	assert_true(n > 0 && n < sizeof(buf));
	assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	assert_int_equal(fclose(out), 0);
}

/* Whether wa_tls_new refuses a client stream with cctx (on a socket never connected: no server end to clean). */
static int
client_refused(struct fixture *f, struct wa_tls_ctx *cctx)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct side s = { 0 };
	struct wa_tls *t = wa_tls_new(f->base, fd, cctx, "127.0.0.1", 1, side_read_cb, side_event_cb, &s);

	if (t == NULL) {
		close(fd);
		return 1;
	}
	wa_tls_free(t);
	return 0;
}

/* Drop both ends of the fixture's streams (the next connection starts clean). */
static void
fixture_reset_streams(struct fixture *f)
{
	wa_tls_free(f->cli.t);
	wa_tls_free(f->srv.t);
	wa_tls_free(f->srv2.t);
	memset(&f->cli, 0, sizeof(f->cli));
	memset(&f->srv, 0, sizeof(f->srv));
	memset(&f->srv2, 0, sizeof(f->srv2));
}

/* A client context keeps its CAs only while a handshake runs (they are most of an idle worker's heap): after a
 * handshake they are gone and read again by the next stream, which fails while the file is missing; two
 * handshakes under way keep them until both are done. */
static void
test_tls_ca_only_while_handshaking(void **state)
{
	struct fixture *f = fixture_new(1);
	struct wa_tls_ctx *cctx;
	struct side other = { 0 };
	char cafile[80], err[256];

	(void)state;
	snprintf(cafile, sizeof(cafile), "/tmp/wa_tls_test.%d.ca.pem", (int)getpid());
	copy_cert(f, cafile);
	cctx = wa_tls_ctx_new_client(cafile, NULL, err, sizeof(err));
	assert_non_null(cctx);
	client_connect(f, cctx, "127.0.0.1");
	wa_tls_write(f->cli.t, "one", 3);
	RUN_UNTIL(f, f->cli.gotlen == 3 || f->cli.failed);
	assert_int_equal(f->cli.failed, 0);
	fixture_reset_streams(f);

	/* The CAs were dropped: a new stream reads the file again, and cannot without it. */
	assert_int_equal(unlink(cafile), 0);
	assert_true(client_refused(f, cctx));
	copy_cert(f, cafile);

	/* Two handshakes at once: the file goes away after both started, and both still verify the server. */
	client_connect(f, cctx, "127.0.0.1");
	assert_non_null(side_connect(f, &other, cctx, "127.0.0.1"));
	assert_int_equal(unlink(cafile), 0);
	wa_tls_write(f->cli.t, "two", 3);
	wa_tls_write(other.t, "three", 5);
	RUN_UNTIL(f, (f->cli.gotlen == 3 && other.gotlen == 5) || f->cli.failed || other.failed);
	assert_int_equal(f->cli.failed, 0);
	assert_int_equal(other.failed, 0);
	assert_memory_equal(other.got, "three", 5);
	wa_tls_free(other.t);
	fixture_reset_streams(f);
	assert_true(client_refused(f, cctx));

	/* A stream freed in its handshake gives its hold back too. */
	copy_cert(f, cafile);
	client_connect(f, cctx, "127.0.0.1");
	assert_int_equal(unlink(cafile), 0);
	fixture_reset_streams(f);
	assert_true(client_refused(f, cctx));
	fixture_free(f);
	wa_tls_ctx_free(cctx);
}

/* More than the sockets hold, written at once while the peer does not read: what the end-of-turn flush could
 * not write waits for writability and follows in order once the peer reads (plain and TLS). */
static void
bulk_write(int tls)
{
	enum { BULK = 32 * 1024 * 1024, CHUNK = 65536 };
	struct fixture *f = fixture_new(tls);
	struct wa_tls_ctx *cctx = NULL;
	unsigned char *buf = malloc(CHUNK);
	char err[256];
	size_t off, i;

	assert_non_null(buf);
	f->bulk = 1;
	if (tls) {
		cctx = wa_tls_ctx_new_client(f->certfile, NULL, err, sizeof(err));
		assert_non_null(cctx);
	}
	client_connect(f, cctx, tls ? "127.0.0.1" : NULL);
	RUN_UNTIL(f, f->cli.connected && f->srv.t != NULL && f->srv.connected);
	assert_true(f->cli.connected && f->srv.connected);
	wa_tls_set_reading(f->srv.t, 0);
	for (off = 0; off < BULK; off += CHUNK) {
		for (i = 0; i < CHUNK; i++)
			buf[i] = bulk_byte(off + i);
		assert_int_equal(wa_tls_write(f->cli.t, buf, CHUNK), 0);
	}
	assert_int_equal(wa_tls_output_length(f->cli.t), BULK);
	RUN_UNTIL(f, wa_tls_output_length(f->cli.t) < BULK);
	assert_true(wa_tls_output_length(f->cli.t) > 0);	/* the rest waits for the peer */
	assert_int_equal(f->srv.total, 0);
	wa_tls_set_reading(f->srv.t, 1);
	RUN_UNTIL(f, f->srv.total == BULK || f->cli.failed || f->srv.failed);
	assert_int_equal(f->cli.failed, 0);
	assert_int_equal(f->srv.total, BULK);
	assert_int_equal(f->srv.bad, 0);
	assert_int_equal(wa_tls_output_length(f->cli.t), 0);
	free(buf);
	fixture_free(f);
	wa_tls_ctx_free(cctx);
}

static void
test_plain_bulk(void **state)
{
	(void)state;
	bulk_write(0);
}

static void
test_tls_bulk(void **state)
{
	(void)state;
	bulk_write(1);
}

/* Connecting to a closed port reports an error. */
static void
test_connect_refused(void **state)
{
	struct fixture *f = fixture_new(0);
	int port = f->port;

	(void)state;
	evconnlistener_free(f->lis);
	f->lis = NULL;
	f->port = port;
	client_connect(f, NULL, NULL);
	RUN_UNTIL(f, f->cli.failed);
	assert_int_equal(f->cli.failed, WA_TLS_EV_ERROR);
	assert_non_null(strstr(f->cli.reason, "connect"));
	wa_tls_free(f->cli.t);
	event_base_free(f->base);
	free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_echo),
		cmocka_unit_test(test_tls_echo),
		cmocka_unit_test(test_tls_san),
		cmocka_unit_test(test_tls_localhost),
		cmocka_unit_test(test_tls_untrusted),
		cmocka_unit_test(test_tls_wrong_name),
		cmocka_unit_test(test_tls_ca_only_while_handshaking),
		cmocka_unit_test(test_connect_refused),
		cmocka_unit_test(test_plain_bulk),
		cmocka_unit_test(test_tls_bulk),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
