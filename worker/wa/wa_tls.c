/* Plain or TLS byte stream on a libevent base (see wa_tls.h). mbedTLS does the record layer through BIO
 * callbacks on the non-blocking fd; libevent only tells us when the fd is readable or writable.
 * Memory: a worker holds one client context for its whole life, idle most of the time. Parsed, the system CA
 * bundle is about 400 KB of heap (144 certificates), needed only to verify a server during a handshake: a
 * client context loads it when a handshake starts and drops it when the last one ends. The random generator
 * is seeded from the kernel (getrandom) rather than through an mbedtls_entropy_context, which is 37 KB. */
#include "wa_tls.h"

#include "random.h"
#include "xmalloc.h"

#include <event2/buffer.h>
#include <event2/event.h>

#include <mbedtls/asn1write.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Plaintext per TLS record written. mbedTLS encrypts a record in its output buffer, so the size of the largest
 * record written is how much of that buffer stays resident: 4 KB records keep an idle worker's to two pages
 * after a prekey upload (at 16 KB all five), for 29 bytes of framing per 4 KB. */
#define TLS_CHUNK 4096
#define TLS_READ_CHUNK 4096	/* plaintext per read: a larger stack buffer stays resident in an idle worker */
#define TLS_PLAIN_READ 65536	/* bytes per read without TLS */

struct wa_tls_ctx {
	int server;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_ssl_config conf;
	mbedtls_x509_crt chain;		/* trusted CAs (client, loaded while handshakes run) or own certificate */
	mbedtls_pk_context key;		/* server only */
	char *ca_file, *extra_ca_file;	/* client: what chain is loaded from */
	int ca_loaded;			/* client: chain holds the CAs */
	unsigned handshakes;		/* client: streams of this context in their handshake */
};

enum tls_state { TLS_CONNECTING, TLS_HANDSHAKE, TLS_OPEN, TLS_DEAD };

struct wa_tls {
	struct event_base *base;
	int fd;
	struct wa_tls_ctx *ctx;
	int use_tls;
	mbedtls_ssl_context ssl;
	enum tls_state state;
	struct event *ev_read, *ev_write, *ev_kick;
	struct event *ev_flush;		/* writes the output queued this loop turn (tls_flush_cb) */
	struct evbuffer *in, *out;
	size_t write_pending;		/* length passed to an ssl_write that said WANT_WRITE */
	int hs_wants_write;
	int reading;
	int closing, drained;
	int kick_connected;
	int resumed;		/* reading was just re-enabled: re-offer buffered input */
	int holds_ca;		/* counted in ctx->handshakes */
	wa_tls_read_cb readcb;
	wa_tls_event_cb eventcb;
	void *arg;
};

/* Describe an mbedTLS error code. */
static void
tls_strerror(int rc, const char *what, char *err, size_t errlen)
{
	char buf[160];

	mbedtls_strerror(rc, buf, sizeof(buf));
	snprintf(err, errlen, "%s: %s (-0x%04x)", what, buf, (unsigned)-rc);
}

/* Entropy for the random generator: the kernel's CSPRNG (random_bytes is fatal if the kernel refuses). */
static int
tls_entropy(void *arg, unsigned char *buf, size_t len)
{
	(void)arg;
	random_bytes(buf, len);
	return 0;
}

/* Seed the per-context random generator. */
static int
tls_ctx_seed(struct wa_tls_ctx *ctx, const char *pers, char *err, size_t errlen)
{
	int rc;

	mbedtls_ctr_drbg_init(&ctx->drbg);
	mbedtls_ssl_config_init(&ctx->conf);
	mbedtls_x509_crt_init(&ctx->chain);
	mbedtls_pk_init(&ctx->key);
	rc = mbedtls_ctr_drbg_seed(&ctx->drbg, tls_entropy, NULL, (const unsigned char *)pers, strlen(pers));
	if (rc != 0) {
		tls_strerror(rc, "seeding the random generator", err, errlen);
		return -1;
	}
	return 0;
}

/* Drop a client context's CAs (they are loaded again by the next handshake). */
static void
tls_ca_unload(struct wa_tls_ctx *ctx)
{
	mbedtls_x509_crt_free(&ctx->chain);
	mbedtls_x509_crt_init(&ctx->chain);
	ctx->ca_loaded = 0;
}

/* Parse a client context's CA files into its chain (the configuration points at it). 0, or -1 with err. */
static int
tls_ca_load(struct wa_tls_ctx *ctx, char *err, size_t errlen)
{
	char what[300];
	int rc;

	if (ctx->ca_loaded)
		return 0;
	/* A positive return means some certificates of a bundle did not parse; the rest are usable. */
	if ((rc = mbedtls_x509_crt_parse_file(&ctx->chain, ctx->ca_file)) < 0) {
		snprintf(what, sizeof(what), "reading CA file %s", ctx->ca_file);
		tls_strerror(rc, what, err, errlen);
		tls_ca_unload(ctx);
		return -1;
	}
	if (ctx->extra_ca_file != NULL && (rc = mbedtls_x509_crt_parse_file(&ctx->chain, ctx->extra_ca_file)) < 0) {
		snprintf(what, sizeof(what), "reading extra CA file %s", ctx->extra_ca_file);
		tls_strerror(rc, what, err, errlen);
		tls_ca_unload(ctx);
		return -1;
	}
	ctx->ca_loaded = 1;
	return 0;
}

/* A client stream's handshake is over (done, failed or abandoned): the last one out drops the CAs. */
static void
tls_ca_release(struct wa_tls *t)
{
	if (!t->holds_ca)
		return;
	t->holds_ca = 0;
	if (--t->ctx->handshakes == 0)
		tls_ca_unload(t->ctx);
}

/* Build a client configuration that verifies the server against the given CA files. */
struct wa_tls_ctx *
wa_tls_ctx_new_client(const char *ca_file, const char *extra_ca_file, char *err, size_t errlen)
{
	struct wa_tls_ctx *ctx = xcalloc(1, sizeof(*ctx));
	int rc;

	if (tls_ctx_seed(ctx, "wagate tls client", err, errlen) == -1)
		goto fail;
	ctx->ca_file = xstrdup(ca_file != NULL ? ca_file : WA_TLS_SYSTEM_CA_FILE);
	ctx->extra_ca_file = extra_ca_file != NULL ? xstrdup(extra_ca_file) : NULL;
	/* Read once now so that a missing or broken file is a configuration error, reported here; the chain
	 * stays for the first handshake, which comes next. */
	if (tls_ca_load(ctx, err, errlen) == -1)
		goto fail;
	if ((rc = mbedtls_ssl_config_defaults(&ctx->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
	    MBEDTLS_SSL_PRESET_DEFAULT)) != 0) {
		tls_strerror(rc, "TLS client defaults", err, errlen);
		goto fail;
	}
	mbedtls_ssl_conf_authmode(&ctx->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	mbedtls_ssl_conf_ca_chain(&ctx->conf, &ctx->chain, NULL);
	mbedtls_ssl_conf_rng(&ctx->conf, mbedtls_ctr_drbg_random, &ctx->drbg);
	mbedtls_ssl_conf_min_version(&ctx->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
	return ctx;
fail:
	wa_tls_ctx_free(ctx);
	return NULL;
}

/* Format a time as the X.509 "YYYYMMDDhhmmss" string mbedTLS wants. */
static void
tls_x509_time(time_t t, char out[16])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 16, "%Y%m%d%H%M%S", &tm);
}

/* Prepend one GeneralName ([tag] IMPLICIT, primitive) to the DER being written backwards at *p. The
 * length written, or a negative mbedTLS error. */
static int
tls_san_write_name(unsigned char **p, unsigned char *start, int tag, const void *data, size_t len)
{
	int rc, n = 0;

	if ((rc = mbedtls_asn1_write_raw_buffer(p, start, data, len)) < 0)
		return rc;
	n += rc;
	if ((rc = mbedtls_asn1_write_len(p, start, len)) < 0)
		return rc;
	n += rc;
	if ((rc = mbedtls_asn1_write_tag(p, start, MBEDTLS_ASN1_CONTEXT_SPECIFIC | tag)) < 0)
		return rc;
	return n + rc;
}

/* Add subjectAltName = DNS:localhost, IP:127.0.0.1 and the common name (as an IP when it is an address).
 * Standard clients (OpenSSL, Python, Node) match host names against the SAN only and never accept an IP
 * from the CN, so without it they refuse the certificate. mbedTLS 2.28 clients, once a SAN is present,
 * compare the host name byte for byte with each SAN entry whatever its type, so the common name is also
 * listed as a dNSName: a wagate worker dialing wss://127.0.0.1 keeps verifying. 0 or a mbedTLS error. */
static int
tls_crt_set_san(mbedtls_x509write_cert *crt, const char *cn)
{
	static const uint8_t loopback[4] = { 127, 0, 0, 1 };
	unsigned char der[600], *p = der + sizeof(der);
	uint8_t ip[16];
	int rc, len = 0, n;

	/* written backwards: the last name first */
	if (strcmp(cn, "localhost") != 0) {
		if (strlen(cn) > 255)
			return MBEDTLS_ERR_X509_BAD_INPUT_DATA;
		if ((rc = tls_san_write_name(&p, der, 2, cn, strlen(cn))) < 0)
			return rc;
		len += rc;
	}
	n = inet_pton(AF_INET, cn, ip) == 1 ? 4 : inet_pton(AF_INET6, cn, ip) == 1 ? 16 : 0;
	if (n != 0 && !(n == 4 && memcmp(ip, loopback, 4) == 0)) {
		if ((rc = tls_san_write_name(&p, der, 7, ip, (size_t)n)) < 0)
			return rc;
		len += rc;
	}
	if ((rc = tls_san_write_name(&p, der, 7, loopback, sizeof(loopback))) < 0)
		return rc;
	len += rc;
	if ((rc = tls_san_write_name(&p, der, 2, "localhost", 9)) < 0)
		return rc;
	len += rc;
	if ((rc = mbedtls_asn1_write_len(&p, der, (size_t)len)) < 0)
		return rc;
	len += rc;
	if ((rc = mbedtls_asn1_write_tag(&p, der, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) < 0)
		return rc;
	len += rc;
	return mbedtls_x509write_crt_set_extension(crt, MBEDTLS_OID_SUBJECT_ALT_NAME,
	    MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0, p, (size_t)len);
}

/* Generate a key pair and a self-signed certificate for a server configuration. */
static int
tls_ctx_selfsign(struct wa_tls_ctx *ctx, const char *cn, const char *cert_out, char *err, size_t errlen)
{
	mbedtls_x509write_cert crt;
	mbedtls_mpi serial;
	unsigned char pem[4096], sn[16];
	char subject[256], nb[16], na[16];
	time_t now = time(NULL);
	int rc;
	FILE *f;

	if ((rc = mbedtls_pk_setup(&ctx->key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY))) != 0 ||
	    (rc = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(ctx->key), mbedtls_ctr_drbg_random,
	    &ctx->drbg)) != 0) {
		tls_strerror(rc, "generating the TLS key", err, errlen);
		return -1;
	}
	mbedtls_x509write_crt_init(&crt);
	mbedtls_mpi_init(&serial);
	snprintf(subject, sizeof(subject), "CN=%s,O=wagate fakewa", cn);
	tls_x509_time(now - 86400, nb);
	tls_x509_time(now + 10L * 365 * 86400, na);
	mbedtls_ctr_drbg_random(&ctx->drbg, sn, sizeof(sn));
	sn[0] &= 0x7f;
	sn[0] |= 0x01;
	mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&crt, &ctx->key);
	mbedtls_x509write_crt_set_issuer_key(&crt, &ctx->key);
	if ((rc = mbedtls_mpi_read_binary(&serial, sn, sizeof(sn))) != 0 ||
	    (rc = mbedtls_x509write_crt_set_serial(&crt, &serial)) != 0 ||
	    (rc = mbedtls_x509write_crt_set_subject_name(&crt, subject)) != 0 ||
	    (rc = mbedtls_x509write_crt_set_issuer_name(&crt, subject)) != 0 ||
	    (rc = mbedtls_x509write_crt_set_validity(&crt, nb, na)) != 0 ||
	    (rc = mbedtls_x509write_crt_set_basic_constraints(&crt, 1, 0)) != 0 ||
	    (rc = tls_crt_set_san(&crt, cn)) != 0 ||
	    (rc = mbedtls_x509write_crt_pem(&crt, pem, sizeof(pem), mbedtls_ctr_drbg_random, &ctx->drbg)) != 0) {
		tls_strerror(rc, "writing the self-signed certificate", err, errlen);
		mbedtls_x509write_crt_free(&crt);
		mbedtls_mpi_free(&serial);
		return -1;
	}
	mbedtls_x509write_crt_free(&crt);
	mbedtls_mpi_free(&serial);
	if ((rc = mbedtls_x509_crt_parse(&ctx->chain, pem, strlen((char *)pem) + 1)) != 0) {
		tls_strerror(rc, "parsing our own certificate", err, errlen);
		return -1;
	}
	if (cert_out != NULL) {
		if ((f = fopen(cert_out, "w")) == NULL || fputs((char *)pem, f) == EOF) {
			snprintf(err, errlen, "writing %s: %s", cert_out, strerror(errno));
			if (f != NULL)
				fclose(f);
			return -1;
		}
		if (fclose(f) != 0) {
			snprintf(err, errlen, "writing %s: %s", cert_out, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Build a server configuration with a freshly generated self-signed certificate. */
struct wa_tls_ctx *
wa_tls_ctx_new_server(const char *cn, const char *cert_out, char *err, size_t errlen)
{
	struct wa_tls_ctx *ctx = xcalloc(1, sizeof(*ctx));
	int rc;

	ctx->server = 1;
	if (tls_ctx_seed(ctx, "wagate tls server", err, errlen) == -1 ||
	    tls_ctx_selfsign(ctx, cn, cert_out, err, errlen) == -1)
		goto fail;
	if ((rc = mbedtls_ssl_config_defaults(&ctx->conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
	    MBEDTLS_SSL_PRESET_DEFAULT)) != 0) {
		tls_strerror(rc, "TLS server defaults", err, errlen);
		goto fail;
	}
	mbedtls_ssl_conf_rng(&ctx->conf, mbedtls_ctr_drbg_random, &ctx->drbg);
	if ((rc = mbedtls_ssl_conf_own_cert(&ctx->conf, &ctx->chain, &ctx->key)) != 0) {
		tls_strerror(rc, "TLS server certificate", err, errlen);
		goto fail;
	}
	return ctx;
fail:
	wa_tls_ctx_free(ctx);
	return NULL;
}

/* Release a configuration (after every stream using it). */
void
wa_tls_ctx_free(struct wa_tls_ctx *ctx)
{
	if (ctx == NULL)
		return;
	mbedtls_ssl_config_free(&ctx->conf);
	mbedtls_x509_crt_free(&ctx->chain);
	mbedtls_pk_free(&ctx->key);
	mbedtls_ctr_drbg_free(&ctx->drbg);
	free(ctx->ca_file);
	free(ctx->extra_ca_file);
	free(ctx);
}

int
wa_tls_fd_send(void *fdp, const unsigned char *buf, size_t len)
{
	ssize_t n = send(*(const int *)fdp, buf, len, MSG_NOSIGNAL);

	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	return MBEDTLS_ERR_NET_SEND_FAILED;
}

int
wa_tls_fd_recv(void *fdp, unsigned char *buf, size_t len)
{
	ssize_t n = recv(*(const int *)fdp, buf, len, 0);

	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return MBEDTLS_ERR_SSL_WANT_READ;
	return errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_RECV_FAILED;
}

/* Arm or disarm the write event to match what is pending. */
static void
tls_update_write(struct wa_tls *t)
{
	int want = 0;

	if (t->state == TLS_CONNECTING)
		want = 1;
	else if (t->state == TLS_HANDSHAKE)
		want = t->hs_wants_write;
	else if (t->state == TLS_OPEN)
		want = evbuffer_get_length(t->out) > 0 || t->write_pending > 0 || (t->closing && !t->drained);
	if (want)
		event_add(t->ev_write, NULL);
	else
		event_del(t->ev_write);
}

/* Fail the stream: stop all I/O and report once. */
static void
tls_fail(struct wa_tls *t, int what, const char *reason)
{
	if (t->state == TLS_DEAD)
		return;
	t->state = TLS_DEAD;
	tls_ca_release(t);
	event_del(t->ev_read);
	event_del(t->ev_write);
	t->eventcb(t, what, reason, t->arg);
}

/* Give back the whole pages of buf (len bytes) that hold only zeros. For mbedTLS's record buffers right after
 * mbedtls_ssl_setup: it callocs both at their full compile-time size (16.7 KB each in Debian's build), and glibc
 * clears memory it reuses, so every page would stay resident although a connection that only sees small records
 * touches the first one or two. MADV_DONTNEED on private anonymous memory reads back as zeros, which is what
 * these pages hold; a page that is not all zeros is left alone. */
static void
tls_drop_zero_pages(void *buf, size_t len)
{
	static uintptr_t pg;
	uintptr_t p, end;
	const uint64_t *w;
	size_t i;

	if (pg == 0)
		pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	p = ((uintptr_t)buf + pg - 1) & ~(pg - 1);
	end = ((uintptr_t)buf + len) & ~(pg - 1);
	for (; p < end; p += pg) {
		w = (const uint64_t *)p;
		for (i = 0; i < pg / sizeof(*w) && w[i] == 0; i++)
			;
		if (i == pg / sizeof(*w))
			(void)madvise((void *)p, pg, MADV_DONTNEED);
	}
}

/* Mark the stream usable and tell the owner. */
static void
tls_open(struct wa_tls *t)
{
	t->state = TLS_OPEN;
	if (t->reading)
		event_add(t->ev_read, NULL);
	tls_update_write(t);
	t->eventcb(t, WA_TLS_EV_CONNECTED, t->use_tls ? "TLS established" : "connected", t->arg);
}

/* Advance the TLS handshake as far as the socket allows. */
static void
tls_handshake_step(struct wa_tls *t)
{
	char err[512], info[256];
	uint32_t flags;
	int rc = mbedtls_ssl_handshake(&t->ssl);

	if (rc == 0) {
		t->hs_wants_write = 0;
		tls_ca_release(t);
		tls_open(t);
		return;
	}
	if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
		t->hs_wants_write = rc == MBEDTLS_ERR_SSL_WANT_WRITE;
		tls_update_write(t);
		return;
	}
	if (rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED && !t->ctx->server &&
	    (flags = mbedtls_ssl_get_verify_result(&t->ssl)) != 0) {
		if (mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags) < 0)
			snprintf(info, sizeof(info), "flags 0x%x", flags);
		info[strcspn(info, "\n")] = '\0';
		snprintf(err, sizeof(err), "TLS certificate verification failed: %s", info);
		tls_fail(t, WA_TLS_EV_CERT_ERROR, err);
		return;
	}
	tls_strerror(rc, "TLS handshake", err, sizeof(err));
	tls_fail(t, WA_TLS_EV_ERROR, err);
}

/* Write as much queued output as the socket takes. 0, or -1 after failing the stream. */
static int
tls_flush(struct wa_tls *t)
{
	char err[256];

	while (evbuffer_get_length(t->out) > 0) {
		if (!t->use_tls) {
			int n = evbuffer_write(t->out, t->fd);
			if (n < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
					break;
				snprintf(err, sizeof(err), "send: %s", strerror(errno));
				tls_fail(t, WA_TLS_EV_ERROR, err);
				return -1;
			}
			if (n == 0)
				break;
			continue;
		}
		size_t len = evbuffer_get_length(t->out);
		if (len > TLS_CHUNK)
			len = TLS_CHUNK;
		/* After WANT_WRITE mbedTLS must see the same bytes again: they are still at the front. */
		if (t->write_pending > 0)
			len = t->write_pending;
		unsigned char *p = evbuffer_pullup(t->out, (ev_ssize_t)len);
		int rc = mbedtls_ssl_write(&t->ssl, p, len);
		if (rc == MBEDTLS_ERR_SSL_WANT_WRITE || rc == MBEDTLS_ERR_SSL_WANT_READ) {
			t->write_pending = len;
			break;
		}
		t->write_pending = 0;
		if (rc < 0) {
			tls_strerror(rc, "TLS write", err, sizeof(err));
			tls_fail(t, WA_TLS_EV_ERROR, err);
			return -1;
		}
		evbuffer_drain(t->out, (size_t)rc);
	}
	if (evbuffer_get_length(t->out) == 0 && t->closing && !t->drained) {
		if (t->use_tls) {
			int rc = mbedtls_ssl_close_notify(&t->ssl);
			if (rc == MBEDTLS_ERR_SSL_WANT_WRITE)
				return 0;
		}
		shutdown(t->fd, SHUT_WR);
		t->drained = 1;
		event_del(t->ev_write);
		t->eventcb(t, WA_TLS_EV_DRAINED, "flushed and closed", t->arg);
		return 0;
	}
	tls_update_write(t);
	return 0;
}

/* Read what the socket has into the input buffer and hand it to the owner. */
static void
tls_read(struct wa_tls *t)
{
	char err[256];
	size_t before = evbuffer_get_length(t->in);
	int eof = 0;

	for (int rounds = 0; rounds < 64; rounds++) {
		if (!t->use_tls) {
			int n = evbuffer_read(t->in, t->fd, TLS_PLAIN_READ);
			if (n > 0)
				continue;
			if (n == 0)
				eof = 1;
			else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				snprintf(err, sizeof(err), "recv: %s", strerror(errno));
				tls_fail(t, WA_TLS_EV_ERROR, err);
				return;
			}
			break;
		}
		unsigned char buf[TLS_READ_CHUNK];
		int rc = mbedtls_ssl_read(&t->ssl, buf, sizeof(buf));
		if (rc > 0) {
			evbuffer_add(t->in, buf, (size_t)rc);
			continue;
		}
		if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
			break;
		if (rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
			eof = 1;
			break;
		}
		tls_strerror(rc, "TLS read", err, sizeof(err));
		tls_fail(t, rc == MBEDTLS_ERR_NET_CONN_RESET ? WA_TLS_EV_EOF : WA_TLS_EV_ERROR, err);
		return;
	}
	if (evbuffer_get_length(t->in) > 0 && (evbuffer_get_length(t->in) > before || t->resumed)) {
		t->resumed = 0;
		t->readcb(t, t->in, t->arg);
		if (t->state == TLS_DEAD)
			return;
	}
	if (eof)
		tls_fail(t, WA_TLS_EV_EOF, "connection closed by peer");
	else if (t->use_tls && t->reading && mbedtls_ssl_get_bytes_avail(&t->ssl) > 0)
		event_active(t->ev_read, EV_READ, 0);	/* more decrypted data is buffered inside mbedTLS */
}

/* libevent: the socket is readable. */
static void
tls_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wa_tls *t = arg;

	if (t->state == TLS_HANDSHAKE)
		tls_handshake_step(t);
	else if (t->state == TLS_OPEN && t->reading)
		tls_read(t);
}

/* libevent: the socket is writable. */
static void
tls_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wa_tls *t = arg;
	char err[256];
	int soerr = 0;
	socklen_t sl = sizeof(soerr);

	switch (t->state) {
	case TLS_CONNECTING:
		if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == -1)
			soerr = errno;
		if (soerr != 0) {
			snprintf(err, sizeof(err), "connect: %s", strerror(soerr));
			tls_fail(t, WA_TLS_EV_ERROR, err);
			return;
		}
		if (t->use_tls) {
			t->state = TLS_HANDSHAKE;
			event_add(t->ev_read, NULL);
			tls_handshake_step(t);
		} else
			tls_open(t);
		return;
	case TLS_HANDSHAKE:
		tls_handshake_step(t);
		return;
	case TLS_OPEN:
		tls_flush(t);
		return;
	case TLS_DEAD:
		return;
	}
}

/*
 * libevent, at the end of the turn that queued output on an open stream: it goes straight to the socket, and only
 * what the socket does not take arms the write event. Armed on every write, the event cost an epoll_ctl, a loop
 * turn to learn that the socket was writable and an epoll_ctl to disarm it (bench/messages.sh, 50 pairs: ~2
 * epoll_ctl per write in each worker).
 */
static void
tls_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wa_tls *t = arg;

	(void)fd;
	(void)what;
	if (t->state == TLS_OPEN)
		tls_flush(t);
}

/* libevent: a deferred start (so CONNECTED never fires from inside wa_tls_new). */
static void
tls_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wa_tls *t = arg;

	if (t->state == TLS_HANDSHAKE) {
		event_add(t->ev_read, NULL);
		tls_handshake_step(t);
	} else if (t->state == TLS_OPEN && t->kick_connected) {
		t->kick_connected = 0;
		tls_open(t);
	}
}

/* Wrap a socket in a stream. */
struct wa_tls *
wa_tls_new(struct event_base *base, int fd, struct wa_tls_ctx *ctx, const char *hostname, int connecting,
    wa_tls_read_cb readcb, wa_tls_event_cb eventcb, void *arg)
{
	struct wa_tls *t = xcalloc(1, sizeof(*t));

	t->base = base;
	t->fd = fd;
	t->ctx = ctx;
	t->use_tls = ctx != NULL;
	t->readcb = readcb;
	t->eventcb = eventcb;
	t->arg = arg;
	t->reading = 1;
	t->in = evbuffer_new();
	t->out = evbuffer_new();
	t->ev_read = event_new(base, fd, EV_READ | EV_PERSIST, tls_read_cb, t);
	t->ev_write = event_new(base, fd, EV_WRITE | EV_PERSIST, tls_write_cb, t);
	t->ev_kick = event_new(base, -1, 0, tls_kick_cb, t);
	t->ev_flush = event_new(base, -1, 0, tls_flush_cb, t);
	if (t->in == NULL || t->out == NULL || t->ev_read == NULL || t->ev_write == NULL || t->ev_kick == NULL ||
	    t->ev_flush == NULL)
		goto fail;
	if (t->use_tls) {
		mbedtls_ssl_init(&t->ssl);
		if (!ctx->server) {
			char err[400];
			/* Loaded again if every earlier handshake is over (a failure is retried like a socket's). */
			if (tls_ca_load(ctx, err, sizeof(err)) == -1)
				goto fail;
			ctx->handshakes++;
			t->holds_ca = 1;
		}
		if (mbedtls_ssl_setup(&t->ssl, &ctx->conf) != 0)
			goto fail;
		/* Each buffer is at least its content length long. */
		tls_drop_zero_pages(t->ssl.in_buf, MBEDTLS_SSL_IN_CONTENT_LEN);
		tls_drop_zero_pages(t->ssl.out_buf, MBEDTLS_SSL_OUT_CONTENT_LEN);
		if (!ctx->server && hostname != NULL && mbedtls_ssl_set_hostname(&t->ssl, hostname) != 0)
			goto fail;
		mbedtls_ssl_set_bio(&t->ssl, &t->fd, wa_tls_fd_send, wa_tls_fd_recv, NULL);
	}
	if (connecting) {
		t->state = TLS_CONNECTING;
		event_add(t->ev_write, NULL);
	} else if (t->use_tls) {
		t->state = TLS_HANDSHAKE;
		event_active(t->ev_kick, EV_TIMEOUT, 0);
	} else {
		t->state = TLS_OPEN;
		t->kick_connected = 1;
		event_active(t->ev_kick, EV_TIMEOUT, 0);
	}
	return t;
fail:
	t->fd = -1;
	wa_tls_free(t);
	return NULL;
}

/* Close and release a stream. */
void
wa_tls_free(struct wa_tls *t)
{
	if (t == NULL)
		return;
	tls_ca_release(t);
	if (t->ev_read)
		event_free(t->ev_read);
	if (t->ev_write)
		event_free(t->ev_write);
	if (t->ev_kick)
		event_free(t->ev_kick);
	if (t->ev_flush)
		event_free(t->ev_flush);
	if (t->use_tls)
		mbedtls_ssl_free(&t->ssl);
	if (t->in)
		evbuffer_free(t->in);
	if (t->out)
		evbuffer_free(t->out);
	if (t->fd >= 0)
		close(t->fd);
	free(t);
}

/* Queue bytes and try to send them now. */
int
wa_tls_write(struct wa_tls *t, const void *data, size_t len)
{
	if (t->state == TLS_DEAD || t->closing)
		return -1;
	if (evbuffer_add(t->out, data, len) != 0)
		return -1;
	/* Armed, the write event sends it; otherwise the end of the turn does (tls_flush_cb). */
	if (t->state == TLS_OPEN && !event_pending(t->ev_write, EV_WRITE, NULL))
		event_active(t->ev_flush, EV_TIMEOUT, 0);
	return 0;
}

/* How much is still queued. */
size_t
wa_tls_output_length(const struct wa_tls *t)
{
	return evbuffer_get_length(t->out) + t->write_pending;
}

/* Pause or resume reading. */
void
wa_tls_set_reading(struct wa_tls *t, int on)
{
	t->reading = on;
	if (t->state != TLS_OPEN)
		return;
	if (on) {
		event_add(t->ev_read, NULL);
		t->resumed = 1;
		if (evbuffer_get_length(t->in) > 0 || (t->use_tls && mbedtls_ssl_get_bytes_avail(&t->ssl) > 0))
			event_active(t->ev_read, EV_READ, 0);
	} else
		event_del(t->ev_read);
}

/* Flush, then shut the stream. */
void
wa_tls_close_on_flush(struct wa_tls *t)
{
	if (t->state == TLS_DEAD || t->closing)
		return;
	t->closing = 1;
	if (t->state == TLS_OPEN)
		tls_update_write(t);
}

/* Is TLS in use? */
int
wa_tls_is_tls(const struct wa_tls *t)
{
	return t->use_tls;
}
