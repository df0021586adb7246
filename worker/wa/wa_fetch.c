/* One HTTP(S) GET in a thread of its own (see wa_fetch.h). The thread never touches libevent: it fills in the
 * result and writes a byte to a pipe whose read end is an event on the caller's loop, and the loop runs cb.
 *
 * Ownership: the handle has two owners, the loop side (until cb or wa_fetch_cancel) and the thread (until it
 * has signalled). Each drops its reference under the mutex and the last one frees, so cancel may come before,
 * during or after the thread's work without a use after free or a leak. The result fields are written by the
 * thread before it takes the mutex to signal and read by the loop after it took the mutex in cb, which orders
 * them. The socket is published under the mutex too, so that a cancel can shut it down and end a wait at once
 * instead of after the timeout.
 *
 * I/O: the socket is non-blocking and every wait is a poll() bounded by what is left of timeout_ms, so the
 * whole exchange (connect, proxy, TLS, request, response) shares one deadline. Name resolution is the one step
 * outside it: getaddrinfo cannot be interrupted, and is bounded by the resolver's own timeouts.
 *
 * Memory: the worker's idle footprint is measured, so everything here lives only while a fetch runs: the thread
 * has a small stack, and the TLS configuration and the parsed CAs (about 400 KB for the system bundle) are
 * built per fetch and freed with it, as wa_tls does for its handshakes. */
#include "wa_fetch.h"
#include "wa_fetch_parse.h"
#include "wa_proxy.h"
#include "wa_tls.h"

#include "errbuf.h"
#include "random.h"
#include "xmalloc.h"

#include <event2/event.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The handshake's deepest path (certificate chain verification, ECDHE) needs a few tens of KB, and
 * wa_proxy_io keeps its reply buffer (8 KB) on the stack: 256 KB leaves a wide margin and is reserved only
 * while a fetch runs. */
#define FETCH_STACK	(256 * 1024)
#define FETCH_READ_FIRST 16384	/* first size of the response buffer; it doubles as needed */
#define FETCH_HOST_MAX	255	/* as a DNS name, and as much as a SOCKS5 request can carry */

struct wa_fetch {
	pthread_mutex_t mu;
	int refs;		/* the loop side and the thread; the last to drop its reference frees */
	int cancelled;
	int sock;		/* the thread's socket while open, for cancel to shut down */

	/* loop side */
	struct event *ev;
	int pipe_r;
	wa_fetch_cb cb;
	void *arg;

	/* thread side (the request, copied) */
	int pipe_w;
	int tls;
	char *host;		/* without brackets: for DNS, SNI and the certificate check */
	char *authority;	/* the Host field: host as written in the URL, and the port unless the default */
	char *port;
	char *path;
	char *user_agent;
	char *origin;
	char *extra_ca_file;
	char *proxy_host;	/* NULL: direct */
	char *proxy_port;
	struct wa_proxy *proxy;	/* the tunnel request, built (and its fields checked) by wa_fetch_start */
	size_t max_body;
	unsigned timeout_ms;

	/* the result, handed from the thread to the loop */
	int ok, status;
	uint8_t *body;
	size_t len;
	char err[256];
};

/* The thread's connection: socket, deadline and, for https, the TLS session. */
struct fetch_conn {
	struct wa_fetch *f;
	int fd;
	struct timespec deadline;	/* CLOCK_MONOTONIC */
	int timed_out;
	int use_tls;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_x509_crt ca;
	mbedtls_ssl_config conf;
	mbedtls_ssl_context ssl;
};

/* Release everything the handle holds (both owners are gone). */
static void
fetch_free(struct wa_fetch *f)
{
	pthread_mutex_destroy(&f->mu);
	free(f->host);
	free(f->authority);
	free(f->port);
	free(f->path);
	free(f->user_agent);
	free(f->origin);
	free(f->extra_ca_file);
	free(f->proxy_host);
	free(f->proxy_port);
	wa_proxy_free(f->proxy);
	free(f->body);
	free(f);
}

/* A host as it may appear in the URL's authority: a name or IPv4 literal of safe characters, or (bracketed) an
 * IPv6 literal without a zone. */
static int
fetch_host_ok(const char *h, int bracketed)
{
	struct in6_addr a6;
	size_t n = strlen(h);

	if (n == 0 || n > FETCH_HOST_MAX)
		return 0;
	if (bracketed)
		return inet_pton(AF_INET6, h, &a6) == 1;
	return strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") == n;
}

/* Split url into the request's scheme, host, port, Host field and path. 0, or -1 with err. */
static int
fetch_parse_url(struct wa_fetch *f, const char *url, char *err, size_t errlen)
{
	const char *auth, *end, *p, *hs, *he, *ps = NULL;
	unsigned long port;
	size_t n;
	char *q;

	if ((n = strlen(url)) > WA_FETCH_URL_MAX)
		return errbuf_fail(err, errlen, "URL over %d bytes", WA_FETCH_URL_MAX);
	if (strncasecmp(url, "https://", 8) == 0) {
		f->tls = 1;
		auth = url + 8;
	} else if (strncasecmp(url, "http://", 7) == 0)
		auth = url + 7;
	else
		return errbuf_fail(err, errlen, "URL scheme is not http or https");
	/* Every byte goes onto the request line as it is: a space or a control would split or end it. */
	for (p = auth; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return errbuf_fail(err, errlen, "space or control character in the URL");
	if ((end = strchr(auth, '/')) == NULL)
		return errbuf_fail(err, errlen, "URL has no path");
	if (memchr(auth, '@', (size_t)(end - auth)) != NULL || memchr(auth, '?', (size_t)(end - auth)) != NULL ||
	    memchr(auth, '#', (size_t)(end - auth)) != NULL)
		return errbuf_fail(err, errlen, "URL authority has user information, a query or a fragment");
	if (*auth == '[') {
		hs = auth + 1;
		if ((he = memchr(hs, ']', (size_t)(end - hs))) == NULL)
			return errbuf_fail(err, errlen, "unterminated IPv6 literal in the URL");
		if (he + 1 < end && he[1] != ':')
			return errbuf_fail(err, errlen, "malformed URL authority");
		if (he + 1 < end)
			ps = he + 2;
	} else {
		hs = auth;
		if ((he = memchr(hs, ':', (size_t)(end - hs))) != NULL)
			ps = he + 1;
		else
			he = end;
	}
	f->host = xstrndup(hs, (size_t)(he - hs));
	if (!fetch_host_ok(f->host, *auth == '['))
		return errbuf_fail(err, errlen, "bad host in the URL");
	port = f->tls ? 443 : 80;
	if (ps != NULL) {
		if (ps == end || end - ps > 5 || strspn(ps, "0123456789") < (size_t)(end - ps))
			return errbuf_fail(err, errlen, "bad port in the URL");
		port = strtoul(ps, NULL, 10);
		if (port == 0 || port > 65535)
			return errbuf_fail(err, errlen, "bad port in the URL");
	}
	xasprintf(&f->port, "%lu", port);
	if (port == (f->tls ? 443ul : 80ul))
		f->authority = xstrndup(auth, (size_t)((*auth == '[' ? he + 1 : he) - auth));
	else
		f->authority = xstrndup(auth, (size_t)(end - auth));
	/* The fragment is the client's own business (RFC 9110 section 4.2.5): it is never sent. */
	f->path = xstrdup(end);
	if ((q = strchr(f->path, '#')) != NULL)
		*q = '\0';
	return 0;
}

/* Milliseconds left before the deadline (0 once it passed). */
static int
fetch_left_ms(const struct fetch_conn *c)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(c->deadline.tv_sec - now.tv_sec) * 1000 + (c->deadline.tv_nsec - now.tv_nsec) / 1000000;
	if (ms <= 0)
		return 0;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Has the loop side cancelled the fetch? */
static int
fetch_cancelled(struct wa_fetch *f)
{
	int c;

	pthread_mutex_lock(&f->mu);
	c = f->cancelled;
	pthread_mutex_unlock(&f->mu);
	return c;
}

/* Wait until the socket is ready for events (POLLIN or POLLOUT). 0, or -1 on timeout or cancel (c->timed_out
 * says which). A hangup or an error counts as ready: the next send or recv reports it. */
static int
fetch_wait(struct fetch_conn *c, short events)
{
	struct pollfd pfd = { .fd = c->fd, .events = events };
	int left, n;

	for (;;) {
		if (fetch_cancelled(c->f))
			return -1;
		if ((left = fetch_left_ms(c)) == 0) {
			c->timed_out = 1;
			return -1;
		}
		n = poll(&pfd, 1, left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return 0;	/* cannot happen with one valid fd; let the I/O call report */
	}
}

/* Publish the thread's socket (or -1 before closing it) so a cancel can shut it down; -1 if cancelled. */
static int
fetch_set_sock(struct wa_fetch *f, int fd)
{
	int cancelled;

	pthread_mutex_lock(&f->mu);
	f->sock = fd;
	cancelled = f->cancelled;
	pthread_mutex_unlock(&f->mu);
	return cancelled ? -1 : 0;
}

/* The reason for a failed wait. */
static int
fetch_wait_fail(struct fetch_conn *c, const char *during, char *err, size_t errlen)
{
	if (c->timed_out)
		return errbuf_fail(err, errlen, "timed out after %u ms %s", c->f->timeout_ms, during);
	return errbuf_fail(err, errlen, "cancelled");
}

/* Connect c->fd to host:port (the first address that answers). 0, or -1 with err. */
static int
fetch_connect(struct fetch_conn *c, const char *host, const char *port, char *err, size_t errlen)
{
	struct addrinfo hints, *res, *ai;
	socklen_t sl;
	int rc, soerr = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0)
		return errbuf_fail(err, errlen, "resolving %s: %s", host,
		    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol)) == -1) {
			soerr = errno;
			continue;
		}
		if (fetch_set_sock(c->f, c->fd) == -1)
			break;
		if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			freeaddrinfo(res);
			return 0;
		}
		if (errno == EINPROGRESS) {
			if (fetch_wait(c, POLLOUT) == -1)
				break;
			sl = sizeof(soerr);
			if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0) {
				freeaddrinfo(res);
				return 0;
			}
		} else
			soerr = errno;
		fetch_set_sock(c->f, -1);
		close(c->fd);
		c->fd = -1;
	}
	freeaddrinfo(res);
	if (c->fd != -1) {
		fetch_set_sock(c->f, -1);
		close(c->fd);
		c->fd = -1;
		return fetch_wait_fail(c, "connecting", err, errlen);
	}
	return errbuf_fail(err, errlen, "connecting to %s port %s: %s", host, port,
	    soerr != 0 ? strerror(soerr) : "no address");
}

/* Open the tunnel through the proxy on the connected socket. 0, or -1 with err. */
static int
fetch_tunnel(struct fetch_conn *c, char *err, size_t errlen)
{
	char why[200];
	int ww, r;

	while ((r = wa_proxy_io(c->f->proxy, c->fd, &ww, why, sizeof(why))) == WA_PROXY_AGAIN)
		if (fetch_wait(c, ww ? POLLOUT : POLLIN) == -1)
			return fetch_wait_fail(c, "in the proxy handshake", err, errlen);
	if (r == WA_PROXY_ERROR)
		return errbuf_fail(err, errlen, "proxy: %s", why);
	return 0;
}

/* Entropy for the random generator: the kernel's CSPRNG, as wa_tls seeds its own. */
static int
fetch_entropy(void *arg, unsigned char *buf, size_t len)
{
	(void)arg;
	random_bytes(buf, len);
	return 0;
}

/* Describe an mbedTLS error. Always -1. */
static int
fetch_tls_fail(int rc, const char *what, char *err, size_t errlen)
{
	char buf[160];

	mbedtls_strerror(rc, buf, sizeof(buf));
	return errbuf_fail(err, errlen, "%s: %s (-0x%04x)", what, buf, (unsigned)-rc);
}

/* Set up TLS on the connected socket and run the handshake: the system CAs plus the extra file, the host name
 * checked against the certificate, TLS 1.2 at least (the trust choices of wa_tls_ctx_new_client). */
static int
fetch_tls_open(struct fetch_conn *c, char *err, size_t errlen)
{
	struct wa_fetch *f = c->f;
	char info[200];
	uint32_t flags;
	int rc;

	c->use_tls = 1;
	mbedtls_ctr_drbg_init(&c->drbg);
	mbedtls_x509_crt_init(&c->ca);
	mbedtls_ssl_config_init(&c->conf);
	mbedtls_ssl_init(&c->ssl);
	if ((rc = mbedtls_ctr_drbg_seed(&c->drbg, fetch_entropy, NULL, (const unsigned char *)"wagate fetch",
	    12)) != 0)
		return fetch_tls_fail(rc, "seeding the random generator", err, errlen);
	/* A positive return means some certificates of a bundle did not parse; the rest are usable. */
	if ((rc = mbedtls_x509_crt_parse_file(&c->ca, WA_TLS_SYSTEM_CA_FILE)) < 0)
		return fetch_tls_fail(rc, "reading CA file " WA_TLS_SYSTEM_CA_FILE, err, errlen);
	if (f->extra_ca_file != NULL && (rc = mbedtls_x509_crt_parse_file(&c->ca, f->extra_ca_file)) < 0)
		return fetch_tls_fail(rc, "reading the extra CA file", err, errlen);
	if ((rc = mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
	    MBEDTLS_SSL_PRESET_DEFAULT)) != 0)
		return fetch_tls_fail(rc, "TLS client defaults", err, errlen);
	mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, NULL);
	mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
	mbedtls_ssl_conf_min_version(&c->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
	if ((rc = mbedtls_ssl_setup(&c->ssl, &c->conf)) != 0)
		return fetch_tls_fail(rc, "TLS setup", err, errlen);
	if ((rc = mbedtls_ssl_set_hostname(&c->ssl, f->host)) != 0)
		return fetch_tls_fail(rc, "TLS host name", err, errlen);
	mbedtls_ssl_set_bio(&c->ssl, &c->fd, wa_tls_fd_send, wa_tls_fd_recv, NULL);
	while ((rc = mbedtls_ssl_handshake(&c->ssl)) != 0) {
		if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
			if (fetch_wait(c, rc == MBEDTLS_ERR_SSL_WANT_WRITE ? POLLOUT : POLLIN) == -1)
				return fetch_wait_fail(c, "in the TLS handshake", err, errlen);
			continue;
		}
		if (rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED &&
		    (flags = mbedtls_ssl_get_verify_result(&c->ssl)) != 0) {
			if (mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags) < 0)
				snprintf(info, sizeof(info), "flags 0x%x", flags);
			info[strcspn(info, "\n")] = '\0';
			return errbuf_fail(err, errlen, "TLS certificate verification failed: %s", info);
		}
		return fetch_tls_fail(rc, "TLS handshake", err, errlen);
	}
	return 0;
}

/* Send all of buf. 0, or -1 with err. */
static int
fetch_send_all(struct fetch_conn *c, const char *buf, size_t len, char *err, size_t errlen)
{
	size_t off = 0;
	ssize_t n;
	int rc;

	while (off < len) {
		if (c->use_tls) {
			rc = mbedtls_ssl_write(&c->ssl, (const unsigned char *)buf + off, len - off);
			if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
				if (fetch_wait(c, rc == MBEDTLS_ERR_SSL_WANT_WRITE ? POLLOUT : POLLIN) == -1)
					return fetch_wait_fail(c, "sending the request", err, errlen);
				continue;
			}
			if (rc < 0)
				return fetch_tls_fail(rc, "TLS write", err, errlen);
			off += (size_t)rc;
			continue;
		}
		n = send(c->fd, buf + off, len - off, MSG_NOSIGNAL);
		if (n >= 0) {
			off += (size_t)n;
			continue;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return errbuf_fail(err, errlen, "send: %s", strerror(errno));
		if (fetch_wait(c, POLLOUT) == -1)
			return fetch_wait_fail(c, "sending the request", err, errlen);
	}
	return 0;
}

/* Read into buf up to len bytes: the count, 0 at the end of the stream, or -1 with err. */
static ssize_t
fetch_recv(struct fetch_conn *c, uint8_t *buf, size_t len, char *err, size_t errlen)
{
	ssize_t n;
	int rc;

	for (;;) {
		if (c->use_tls) {
			rc = mbedtls_ssl_read(&c->ssl, buf, len);
			if (rc >= 0)
				return rc;
			/* Many servers close without close_notify. A truncated framed body is still caught by
			 * the parser; only a body read to EOF could be cut short, as with any HTTP client. */
			if (rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || rc == MBEDTLS_ERR_SSL_CONN_EOF)
				return 0;
			if (rc != MBEDTLS_ERR_SSL_WANT_READ && rc != MBEDTLS_ERR_SSL_WANT_WRITE)
				return fetch_tls_fail(rc, "TLS read", err, errlen);
			if (fetch_wait(c, rc == MBEDTLS_ERR_SSL_WANT_WRITE ? POLLOUT : POLLIN) == -1)
				return fetch_wait_fail(c, "reading the response", err, errlen);
			continue;
		}
		if ((n = recv(c->fd, buf, len, 0)) >= 0)
			return n;
		if (errno == ECONNRESET)
			return errbuf_fail(err, errlen, "connection reset by the server");
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return errbuf_fail(err, errlen, "recv: %s", strerror(errno));
		if (fetch_wait(c, POLLIN) == -1)
			return fetch_wait_fail(c, "reading the response", err, errlen);
	}
}

/* Read and parse the response to its end; on success f->status, f->body and f->len are set. 0, or -1. */
static int
fetch_response(struct fetch_conn *c, char *err, size_t errlen)
{
	struct wa_fetch *f = c->f;
	struct wa_fetch_scan scan;
	uint8_t *buf, *dechunked;
	size_t cap = FETCH_READ_FIRST, len = 0, limit, off, blen;
	ssize_t n;
	int eof = 0, r;

	/* Raw bytes may exceed the body by the head and the chunk framing; half the body again covers chunks of
	 * 16 bytes or more, so only a server framing absurdly is refused for it. */
	limit = WA_FETCH_HEAD_MAX + 65536;
	limit = f->max_body > SIZE_MAX - limit ? SIZE_MAX : limit + f->max_body;
	limit = f->max_body / 2 > SIZE_MAX - limit ? SIZE_MAX : limit + f->max_body / 2;
	buf = xmalloc(cap);
	wa_fetch_scan_init(&scan);
	for (;;) {
		if (len == cap) {
			if (cap == limit) {
				free(buf);
				return errbuf_fail(err, errlen, "response framing over %zu bytes", limit);
			}
			cap = cap > limit / 2 ? limit : cap * 2;
			buf = xreallocarray(buf, 1, cap);
		}
		if ((n = fetch_recv(c, buf + len, cap - len, err, errlen)) < 0) {
			free(buf);
			return -1;
		}
		if (n == 0)
			eof = 1;
		len += (size_t)n;
		r = wa_fetch_scan(&scan, buf, len, eof, f->max_body, &f->status, &off, &blen, &dechunked, err,
		    errlen);
		if (r == WA_FETCH_ERROR) {
			free(buf);
			return -1;
		}
		if (r == WA_FETCH_DONE)
			break;
	}
	if (dechunked != NULL) {
		free(buf);
		f->body = dechunked;
	} else {
		/* The body goes to cb in the buffer it arrived in, trimmed, rather than copied. */
		memmove(buf, buf + off, blen);
		if ((f->body = realloc(buf, blen > 0 ? blen : 1)) == NULL)
			f->body = buf;
	}
	f->len = blen;
	return 0;
}

/* The exchange from connect to the last byte. 0 with the result in f, or -1 with err. */
static int
fetch_run(struct fetch_conn *c, char *err, size_t errlen)
{
	struct wa_fetch *f = c->f;
	char *req, *ua = NULL, *og = NULL;
	int n, rc;

	if (f->proxy_host != NULL) {
		if (fetch_connect(c, f->proxy_host, f->proxy_port, err, errlen) == -1 ||
		    fetch_tunnel(c, err, errlen) == -1)
			return -1;
	} else if (fetch_connect(c, f->host, f->port, err, errlen) == -1)
		return -1;
	if (f->tls && fetch_tls_open(c, err, errlen) == -1)
		return -1;
	if (f->user_agent != NULL)
		xasprintf(&ua, "User-Agent: %s\r\n", f->user_agent);
	if (f->origin != NULL)
		xasprintf(&og, "Origin: %s\r\nReferer: %s/\r\n", f->origin, f->origin);
	n = xasprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\n%s%sAccept-Encoding: identity\r\nConnection: close\r\n\r\n",
	    f->path, f->authority, ua != NULL ? ua : "", og != NULL ? og : "");
	free(ua);
	free(og);
	rc = fetch_send_all(c, req, (size_t)n, err, errlen);
	free(req);
	if (rc == -1)
		return -1;
	return fetch_response(c, err, errlen);
}

/* The thread: run the exchange, then hand the result to the loop (or drop it if the fetch was cancelled). */
static void *
fetch_thread(void *arg)
{
	struct fetch_conn c;
	struct wa_fetch *f = arg;
	int last, ms = (int)(f->timeout_ms % 1000);

	memset(&c, 0, sizeof(c));
	c.f = f;
	c.fd = -1;
	clock_gettime(CLOCK_MONOTONIC, &c.deadline);
	c.deadline.tv_sec += (time_t)(f->timeout_ms / 1000);
	c.deadline.tv_nsec += (long)ms * 1000000;
	if (c.deadline.tv_nsec >= 1000000000) {
		c.deadline.tv_sec++;
		c.deadline.tv_nsec -= 1000000000;
	}
	f->ok = fetch_run(&c, f->err, sizeof(f->err)) == 0;
	if (c.use_tls) {
		mbedtls_ssl_free(&c.ssl);
		mbedtls_ssl_config_free(&c.conf);
		mbedtls_x509_crt_free(&c.ca);
		mbedtls_ctr_drbg_free(&c.drbg);
	}
	if (c.fd != -1) {
		fetch_set_sock(f, -1);
		close(c.fd);
	}
	wa_proxy_free(f->proxy);	/* its request bytes carry the proxy password: wiped now, not at free */
	f->proxy = NULL;
	if (!f->ok) {
		free(f->body);
		f->body = NULL;
	}
#ifdef __GLIBC__
	/* This thread allocated from a malloc arena of its own, and the body it hands over can sit above the
	 * freed CA chain and TLS buffers, so trimming from the top alone would leave those pages resident in an
	 * idle worker. malloc_trim also returns whole free pages from the middle of every arena. */
	malloc_trim(0);
#endif
	pthread_mutex_lock(&f->mu);
	/* Checked under the mutex: once cancelled, the read end is (or is about to be) closed and a write would
	 * raise SIGPIPE. The pipe is empty, so one byte never blocks. */
	if (!f->cancelled)
		while (write(f->pipe_w, "", 1) == -1 && errno == EINTR)
			;
	close(f->pipe_w);
	f->pipe_w = -1;
	last = --f->refs == 0;
	pthread_mutex_unlock(&f->mu);
	if (last)
		fetch_free(f);
	return NULL;
}

/* The thread is done: hand its result to cb (the handle is gone before cb runs). */
static void
fetch_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wa_fetch *f = arg;
	wa_fetch_cb cb = f->cb;
	void *cbarg = f->arg;
	uint8_t *body;
	size_t len;
	char err[sizeof(f->err)];
	int ok, status, last;

	(void)fd;
	(void)what;
	/* Safe inside its own callback: the event is not persistent, so libevent is done with it by now. */
	event_free(f->ev);
	close(f->pipe_r);
	pthread_mutex_lock(&f->mu);
	ok = f->ok;
	status = f->status;
	body = f->body;
	len = f->len;
	f->body = NULL;
	memcpy(err, f->err, sizeof(err));
	last = --f->refs == 0;
	pthread_mutex_unlock(&f->mu);
	if (last)
		fetch_free(f);
	if (ok)
		cb(cbarg, 1, status, body, len, NULL);
	else
		cb(cbarg, 0, 0, NULL, 0, err);
}

/* Check the request, copy it, and start the thread. */
struct wa_fetch *
wa_fetch_start(struct event_base *base, const struct wa_fetch_req *r, wa_fetch_cb cb, void *arg, char *err,
    size_t errlen)
{
	const struct wa_fetch_proxy *px = r->proxy;
	struct wa_fetch *f;
	pthread_attr_t attr;
	sigset_t all, old;
	size_t stack = FETCH_STACK;
	int fds[2], rc;

	if (r->url == NULL || cb == NULL || r->timeout_ms == 0) {
		errbuf_fail(err, errlen, "no URL, callback or timeout");
		return NULL;
	}
	/* The User-Agent goes into the request as it is: a line break would inject fields. */
	if ((r->user_agent != NULL && strpbrk(r->user_agent, "\r\n") != NULL) ||
	    (r->origin != NULL && strpbrk(r->origin, "\r\n") != NULL)) {
		errbuf_fail(err, errlen, "line break in the User-Agent or the Origin");
		return NULL;
	}
	f = xcalloc(1, sizeof(*f));
	pthread_mutex_init(&f->mu, NULL);
	f->sock = f->pipe_r = f->pipe_w = -1;
	f->cb = cb;
	f->arg = arg;
	f->max_body = r->max_body;
	f->timeout_ms = r->timeout_ms;
	if (fetch_parse_url(f, r->url, err, errlen) == -1)
		goto fail;
	f->user_agent = r->user_agent != NULL ? xstrdup(r->user_agent) : NULL;
	f->origin = r->origin != NULL ? xstrdup(r->origin) : NULL;
	f->extra_ca_file = r->extra_ca_file != NULL ? xstrdup(r->extra_ca_file) : NULL;
	if (px != NULL && px->host != NULL) {
		if (px->port == 0 || px->port > 65535 || !fetch_host_ok(px->host, strchr(px->host, ':') != NULL)) {
			errbuf_fail(err, errlen, "bad proxy address");
			goto fail;
		}
		f->proxy_host = xstrdup(px->host);
		xasprintf(&f->proxy_port, "%u", px->port);
		if ((f->proxy = wa_proxy_new(px->type, f->host, (unsigned)strtoul(f->port, NULL, 10), px->username,
		    px->password, err, errlen)) == NULL)
			goto fail;
	}
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) == -1) {
		errbuf_fail(err, errlen, "pipe: %s", strerror(errno));
		goto fail;
	}
	f->pipe_r = fds[0];
	f->pipe_w = fds[1];
	f->ev = event_new(base, f->pipe_r, EV_READ, fetch_done_cb, f);
	if (f->ev == NULL || event_add(f->ev, NULL) == -1) {
		errbuf_fail(err, errlen, "cannot watch the result pipe");
		goto fail;
	}
	f->refs = 2;
	if (stack < (size_t)PTHREAD_STACK_MIN)
		stack = (size_t)PTHREAD_STACK_MIN;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, stack);
	/* Signals stay with the loop thread (libevent's handlers, the worker's SIGTERM): the new thread starts
	 * with all of them blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&(pthread_t){ 0 }, &attr, fetch_thread, f);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		errbuf_fail(err, errlen, "starting the fetch thread: %s", strerror(rc));
		goto fail;
	}
	return f;
fail:
	if (f->ev != NULL)
		event_free(f->ev);
	if (f->pipe_r != -1)
		close(f->pipe_r);
	if (f->pipe_w != -1)
		close(f->pipe_w);
	fetch_free(f);
	return NULL;
}

/* Forget a running fetch: cb will not run, and the thread frees what it holds when it ends. */
void
wa_fetch_cancel(struct wa_fetch *f)
{
	struct event *ev;
	int pipe_r, last;

	if (f == NULL)
		return;
	/* Copied first: once our reference is dropped the thread may free f. */
	ev = f->ev;
	pipe_r = f->pipe_r;
	pthread_mutex_lock(&f->mu);
	f->cancelled = 1;
	/* Ends a wait in connect, the proxy, TLS or the response now rather than at the timeout. */
	if (f->sock != -1)
		shutdown(f->sock, SHUT_RDWR);
	last = --f->refs == 0;
	pthread_mutex_unlock(&f->mu);
	event_free(ev);
	close(pipe_r);
	if (last)
		fetch_free(f);
}
