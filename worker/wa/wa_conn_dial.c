/* How one attempt of the connection (wa_conn.c) reaches the server: resolve, TCP connect, and through the
 * instance's proxy (HTTP CONNECT, SOCKS: wa_proxy.h) when it has one; then the stream (wa_tls.h) takes the
 * socket and wa_conn.c goes on with TLS, WebSocket and Noise. */
#include "wa_conn_int.h"
#include "wa_proxy.h"
#include "xmalloc.h"

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Free the proxy handshake of the attempt. Its events go to the reaper: we may be inside one of them. */
void
conn_proxy_end(struct wa_conn *c)
{
	int i;

	wa_proxy_free(c->px);
	c->px = NULL;
	for (i = 0; i < 2; i++) {
		struct event **ev = i == 0 ? &c->px_rd : &c->px_wr;
		if (*ev == NULL)
			continue;
		event_del(*ev);
		if (c->px_zombie[i] != NULL)
			event_free(c->px_zombie[i]);
		c->px_zombie[i] = *ev;
		*ev = NULL;
		event_active(c->ev_reap, EV_TIMEOUT, 0);
	}
	if (c->px_fd >= 0)
		close(c->px_fd);
	c->px_fd = -1;
	c->px_connected = 0;
	c->px_tunnel = 0;
}

/* The proxy failed this attempt: reason 604 with "proxy: " and what went wrong. */
static void
conn_proxy_fail(struct wa_conn *c, const char *what)
{
	char detail[600];

	snprintf(detail, sizeof(detail), "proxy: %s", what);
	conn_fail(c, WA_CONN_REASON_PROXY, detail, RETRY_BACKOFF);
}

/* The tunnel is open: TLS (or plain WebSocket) runs inside it exactly as on a direct connection. */
static void
conn_proxy_open(struct wa_conn *c)
{
	int fd = c->px_fd;

	c->px_fd = -1;
	conn_proxy_end(c);
	c->px_tunnel = 1;
	c->phase = PH_CONNECTING;
	c->stream = wa_tls_new(c->base, fd, c->use_tls ? c->tlsctx : NULL, c->host, 0, conn_stream_read_cb,
	    conn_stream_event_cb, c);
	if (c->stream == NULL) {
		close(fd);
		conn_fail(c, WA_CONN_REASON_CLOSED, "cannot set up the stream", RETRY_BACKOFF);
	}
}

/* The proxy socket is ready: finish the TCP connect, then advance the proxy handshake. */
static void
conn_proxy_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wa_conn *c = arg;
	char err[300], msg[400];
	int soerr = 0, want_write = 0, r;
	socklen_t sl = sizeof(soerr);

	(void)what;
	if (c->px == NULL || fd != c->px_fd)
		return;
	if (!c->px_connected) {
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == -1)
			soerr = errno;
		if (soerr != 0) {
			snprintf(msg, sizeof(msg), "connect to %s %s: %s", c->pxa.protocol, c->pxa.hostport,
			    strerror(soerr));
			conn_proxy_fail(c, msg);
			return;
		}
		c->px_connected = 1;
	}
	r = wa_proxy_io(c->px, fd, &want_write, err, sizeof(err));
	if (r == WA_PROXY_DONE)
		conn_proxy_open(c);
	else if (r == WA_PROXY_AGAIN)
		event_add(want_write ? c->px_wr : c->px_rd, NULL);
	else
		conn_proxy_fail(c, err);
}

/* Connected socket to the proxy under way: set up the handshake and wait for the connect to finish. */
static void
conn_proxy_begin(struct wa_conn *c, int fd)
{
	char err[300];
	struct wa_proxy *px = wa_proxy_new(wa_proxy_type_from_name(c->pxa.protocol), c->host,
	    (unsigned)strtoul(c->port, NULL, 10), c->pxa.user, c->pxa.pass, err, sizeof(err));

	c->px_fd = fd;
	c->phase = PH_PROXY;
	if (px == NULL) {
		conn_proxy_fail(c, err);
		return;
	}
	c->px = px;
	c->px_rd = event_new(c->base, fd, EV_READ, conn_proxy_cb, c);
	c->px_wr = event_new(c->base, fd, EV_WRITE, conn_proxy_cb, c);
	if (c->px_rd == NULL || c->px_wr == NULL) {
		conn_proxy_fail(c, "cannot create socket events");
		return;
	}
	event_add(c->px_wr, NULL);
}

/* Open the TCP connection to one resolved address (WhatsApp's, or the proxy's). */
static void
conn_connect_addr(struct wa_conn *c, const struct sockaddr *sa, socklen_t salen)
{
	char detail[400];
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

	/* Every stanza leaves in one write the moment it is ready; Nagle would hold the next one (a send right
	 * behind another, a receipt behind an ack) until the server's delayed ACK, up to 40 ms. Best effort. */
	if (fd != -1)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (fd == -1 || (connect(fd, sa, salen) == -1 && errno != EINPROGRESS)) {
		if (c->pxa.host != NULL)
			snprintf(detail, sizeof(detail), "connect to %s %s: %s", c->pxa.protocol, c->pxa.hostport,
			    strerror(errno));
		else
			snprintf(detail, sizeof(detail), "connect to %s: %s", c->hostport, strerror(errno));
		if (fd != -1)
			close(fd);
		if (c->pxa.host != NULL)
			conn_proxy_fail(c, detail);
		else
			conn_fail(c, WA_CONN_REASON_TIMED_OUT, detail, RETRY_BACKOFF);
		return;
	}
	if (c->pxa.host != NULL) {
		conn_proxy_begin(c, fd);
		return;
	}
	c->phase = PH_CONNECTING;
	c->stream = wa_tls_new(c->base, fd, c->use_tls ? c->tlsctx : NULL, c->host, 1, conn_stream_read_cb,
	    conn_stream_event_cb, c);
	if (c->stream == NULL) {
		close(fd);
		conn_fail(c, WA_CONN_REASON_CLOSED, "cannot set up the stream", RETRY_BACKOFF);
	}
}

/* DNS answer. */
static void
conn_dns_cb(int result, struct evutil_addrinfo *res, void *arg)
{
	struct wa_conn *c = arg;
	char detail[400];

	if (result == EVUTIL_EAI_CANCEL)
		return;
	c->dnsreq = NULL;
	if (result != 0 || res == NULL) {
		snprintf(detail, sizeof(detail), "resolving %s: %s", c->pxa.host ? c->pxa.host : c->host,
		    evutil_gai_strerror(result));
		if (res)
			evutil_freeaddrinfo(res);
		if (c->pxa.host != NULL)
			conn_proxy_fail(c, detail);
		else
			conn_fail(c, WA_CONN_REASON_TIMED_OUT, detail, RETRY_BACKOFF);
		return;
	}
	conn_connect_addr(c, res->ai_addr, res->ai_addrlen);
	evutil_freeaddrinfo(res);
}

/* Open this attempt's connection: to the proxy it took at its start, or straight to WhatsApp. */
void
conn_dial(struct wa_conn *c)
{
	struct evutil_addrinfo hints, *res = NULL;
	const char *host = c->pxa.host ? c->pxa.host : c->host;
	const char *port = c->pxa.host ? c->pxa.port : c->port;
	char err[400];

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	hints.ai_flags = EVUTIL_AI_NUMERICHOST | EVUTIL_AI_NUMERICSERV;
	if (c->pxa.host != NULL && wa_proxy_type_from_name(c->pxa.protocol) == 0) {
		snprintf(err, sizeof(err), "protocol %s is not supported (use http, socks4 or socks5)",
		    c->pxa.protocol);
		conn_proxy_fail(c, err);
		return;
	}
	if (evutil_getaddrinfo(host, port, &hints, &res) == 0 && res != NULL) {
		conn_connect_addr(c, res->ai_addr, res->ai_addrlen);
		evutil_freeaddrinfo(res);
		return;
	}
	if (c->dns == NULL && (c->dns = evdns_base_new(c->base, EVDNS_BASE_INITIALIZE_NAMESERVERS)) == NULL) {
		conn_fail(c, WA_CONN_REASON_TIMED_OUT, "no DNS resolver configured", RETRY_BACKOFF);
		return;
	}
	hints.ai_flags = EVUTIL_AI_NUMERICSERV | EVUTIL_AI_ADDRCONFIG;
	c->phase = PH_RESOLVING;
	c->dnsreq = evdns_getaddrinfo(c->dns, host, port, &hints, conn_dns_cb, c);
}

/* Forget a proxy, wiping the credentials. */
void
conn_proxy_clear(struct conn_proxy *p)
{
	free(p->protocol);
	free(p->host);
	free(p->port);
	free(p->hostport);
	if (p->user != NULL)
		free_wiped(p->user, strlen(p->user));
	if (p->pass != NULL)
		free_wiped(p->pass, strlen(p->pass));
	memset(p, 0, sizeof(*p));
}

/* dst = a copy of src (strings NULL stay NULL). */
void
conn_proxy_copy(struct conn_proxy *dst, const struct conn_proxy *src)
{
	conn_proxy_clear(dst);
	if (src->host == NULL)
		return;
	dst->protocol = xstrdup(src->protocol);
	dst->host = xstrdup(src->host);
	dst->port = xstrdup(src->port);
	dst->hostport = xstrdup(src->hostport);
	dst->user = src->user ? xstrdup(src->user) : NULL;
	dst->pass = src->pass ? xstrdup(src->pass) : NULL;
}

/* Replace the proxy for the next attempts. */
void
wa_conn_set_proxy(struct wa_conn *c, const struct wa_conn_proxy *proxy)
{
	struct conn_proxy *p = &c->px_next;

	conn_proxy_clear(p);
	if (proxy == NULL || proxy->host == NULL || *proxy->host == '\0')
		return;
	p->protocol = xstrdup(proxy->protocol ? proxy->protocol : "");
	p->host = xstrdup(proxy->host);
	p->port = xstrdup(proxy->port ? proxy->port : "");
	p->user = proxy->username && *proxy->username ? xstrdup(proxy->username) : NULL;
	p->pass = proxy->password && *proxy->password ? xstrdup(proxy->password) : NULL;
	xasprintf(&p->hostport, strchr(p->host, ':') ? "[%s]:%s" : "%s:%s", p->host, p->port);
}
