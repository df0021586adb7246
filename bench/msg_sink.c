/*
 * msg_sink: the webhook receiver of bench/messages.sh. It answers every POST wagate delivers with 200 and, for
 * each messages.upsert, appends "<instance> <data.key.id> <arrival time>" to a file the driver reads.
 *
 * Why C: the bench measures a CPU-bound path on a 2-core machine, and the receiver runs on the same cores. The
 * Python asyncio receiver it replaces used ~0.3 s of CPU per 2,000 texts (~4 webhook POSTs per text, all events
 * are delivered); this one is a libevent loop that parses only the few bytes it needs.
 *
 * HTTP: HTTP/1.1 keep-alive, requests answered in order per connection (pipelining-safe), bodies framed by
 * Content-Length (libcurl sends one for wagate's POSTs: the body's length is set). Transfer-Encoding gets 411
 * and the connection closed. A head over 64 KB or a body over 16 MB closes the connection.
 *
 * JSON: a structural scan, not a parser. It walks the top-level object (strings with escapes, nested objects and
 * arrays are skipped whole, so a quote inside the text cannot fool it) for "event", "instance" and data.key.id.
 * Assumed: the body is valid JSON (it is jsonb::text from PostgreSQL), keys are written without escapes, and
 * the instance name and the id need no escapes and hold no whitespace (wagate's ids are hex; the bench names
 * instances s<p>, r<p>); a value that does not fit is not recorded, so the driver times out instead of misreading.
 *
 * usage: msg_sink PORT OUTFILE   (prints "msg_sink ready" once listening; SIGTERM or SIGINT stop it)
 */
#define _GNU_SOURCE	/* memmem */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "msg_scan.h"

#define SINK_HEAD_MAX	(64 * 1024)
#define SINK_BODY_MAX	(16 * 1024 * 1024)

static const char sink_ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
static const char sink_411[] = "HTTP/1.1 411 Length Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

struct sink_conn {
	TAILQ_ENTRY(sink_conn) entry;
	struct bufferevent *bev;
	size_t head_len;	/* 0 until the current request's head is complete */
	size_t body_len;
	int closing;		/* answered for the last time: free once the answer is flushed */
};

static TAILQ_HEAD(, sink_conn) sink_conns = TAILQ_HEAD_INITIALIZER(sink_conns);
static struct event_base *sink_base;
static int sink_out = -1;

/* The string value at p as (s, len) when it needs no unescaping and holds no whitespace: 0, else -1. */
static int
js_plain_string(const char *p, const char *end, const char **s, int *len)
{
	const char *q;

	if (p == NULL || p >= end || *p != '"' || (q = js_string_end(p, end)) == NULL)
		return -1;
	*s = p + 1;
	*len = (int)(q - 1 - *s);
	if (*len == 0 || memchr(*s, '\\', *len) != NULL || memchr(*s, ' ', *len) != NULL)
		return -1;
	return 0;
}

/* Append the arrival line of a messages.upsert body; any other body is ignored. */
static void
sink_record(const char *body, size_t len, const struct timespec *ts)
{
	const char *end = body + len, *ev, *inst, *id;
	int evlen, ilen, idlen, n;
	char line[512];

	/* cheap rejection of the other events (most of the POSTs) before any walk */
	if (memmem(body, len, "messages.upsert", 15) == NULL)
		return;
	if (js_plain_string(js_member(body, end, "event"), end, &ev, &evlen) == -1 || evlen != 15 ||
	    memcmp(ev, "messages.upsert", 15) != 0)
		return;
	if (js_plain_string(js_member(body, end, "instance"), end, &inst, &ilen) == -1 ||
	    js_plain_string(js_member(js_member(js_member(body, end, "data"), end, "key"), end, "id"), end,
	    &id, &idlen) == -1)
		return;
	n = snprintf(line, sizeof(line), "%.*s %.*s %lld.%06ld\n", ilen, inst, idlen, id, (long long)ts->tv_sec,
	    ts->tv_nsec / 1000);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	/* one write per line (O_APPEND): the driver reads up to the last newline while we write */
	if (write(sink_out, line, n) != n)
		err(1, "write");
}

/* The deferred half of sink_conn_close. */
static void
sink_conn_free_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sink_conn *c = arg;

	bufferevent_free(c->bev);
	free(c);
}

/* Close c on the next loop turn: libevent may still be inside c's callback. */
static void
sink_conn_close(struct sink_conn *c)
{
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
	TAILQ_REMOVE(&sink_conns, c, entry);
	if (event_base_once(sink_base, -1, EV_TIMEOUT, sink_conn_free_cb, c, NULL) == -1)
		errx(1, "event_base_once");
}

/* Whether the header line at p (name ending at colon) is called name. */
static int
sink_header_is(const char *p, const char *colon, const char *name)
{
	return (size_t)(colon - p) == strlen(name) && strncasecmp(p, name, colon - p) == 0;
}

/*
 * Frame the request whose head (len bytes, through the blank line) is at h: its body length, 0 if none.
 * -1 for a bad or too large Content-Length, -2 for a Transfer-Encoding.
 */
static long long
sink_head_parse(const char *h, size_t len)
{
	const char *end = h + len, *p, *eol, *colon;
	long long clen = 0;

	for (p = memchr(h, '\n', len); p != NULL && ++p < end; p = eol) {
		if ((eol = memchr(p, '\n', end - p)) == NULL || (colon = memchr(p, ':', eol - p)) == NULL)
			continue;
		if (sink_header_is(p, colon, "transfer-encoding"))
			return -2;
		if (!sink_header_is(p, colon, "content-length"))
			continue;
		for (p = colon + 1; *p == ' ' || *p == '\t'; p++)
			;
		if (*p < '0' || *p > '9')
			return -1;
		for (clen = 0; *p >= '0' && *p <= '9'; p++)
			if ((clen = clen * 10 + (*p - '0')) > SINK_BODY_MAX)
				return -1;
		while (*p == ' ' || *p == '\t' || *p == '\r')
			p++;
		if (p != eol)
			return -1;
	}
	return clen;
}

/* Answer every complete request in the input, in order. */
static void
sink_read_cb(struct bufferevent *bev, void *arg)
{
	struct sink_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr at;
	struct timespec ts;
	long long clen;
	char *p;

	for (;;) {
		if (c->head_len == 0) {
			at = evbuffer_search(in, "\r\n\r\n", 4, NULL);
			if (at.pos < 0 || at.pos + 4 > SINK_HEAD_MAX) {
				if (at.pos >= 0 || evbuffer_get_length(in) > SINK_HEAD_MAX)
					sink_conn_close(c);
				return;
			}
			if ((p = (char *)evbuffer_pullup(in, at.pos + 4)) == NULL)
				errx(1, "evbuffer_pullup");
			if ((clen = sink_head_parse(p, at.pos + 4)) == -2) {
				/* no dechunking here: refuse it, and close since the body's framing is unknown */
				if (bufferevent_write(bev, sink_411, sizeof(sink_411) - 1) == -1)
					errx(1, "bufferevent_write");
				c->closing = 1;
				bufferevent_disable(bev, EV_READ);
				return;
			}
			if (clen < 0) {
				sink_conn_close(c);
				return;
			}
			c->head_len = at.pos + 4;
			c->body_len = clen;
		}
		if (evbuffer_get_length(in) < c->head_len + c->body_len)
			return;
		if ((p = (char *)evbuffer_pullup(in, c->head_len + c->body_len)) == NULL)
			errx(1, "evbuffer_pullup");
		clock_gettime(CLOCK_REALTIME, &ts);
		sink_record(p + c->head_len, c->body_len, &ts);
		evbuffer_drain(in, c->head_len + c->body_len);
		c->head_len = 0;
		if (bufferevent_write(bev, sink_ok, sizeof(sink_ok) - 1) == -1)
			errx(1, "bufferevent_write");
	}
}

/* The output drained: a connection answered for the last time goes. */
static void
sink_write_cb(struct bufferevent *bev, void *arg)
{
	struct sink_conn *c = arg;

	if (c->closing)
		sink_conn_close(c);
}

/* EOF or an error: the client went. */
static void
sink_event_cb(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		sink_conn_close(arg);
}

/* A new webhook connection (libcurl keeps up to wagate's webhook concurrency of them open). */
static void
sink_accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct sink_conn *c;
	int one = 1;

	/* small answers, one per request: never held back waiting for an ACK */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1)
		warn("setsockopt TCP_NODELAY");
	if ((c = calloc(1, sizeof(*c))) == NULL)
		err(1, "calloc");
	if ((c->bev = bufferevent_socket_new(sink_base, fd, BEV_OPT_CLOSE_ON_FREE)) == NULL)
		errx(1, "bufferevent_socket_new");
	TAILQ_INSERT_TAIL(&sink_conns, c, entry);
	bufferevent_setcb(c->bev, sink_read_cb, sink_write_cb, sink_event_cb, c);
	if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) == -1)
		errx(1, "bufferevent_enable");
}

/* SIGTERM or SIGINT: leave the loop, main frees everything. */
static void
sink_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopbreak(sink_base);
}

int
main(int argc, char *argv[])
{
	struct evconnlistener *lev;
	struct event *sigterm, *sigint;
	struct sockaddr_in sin;
	struct sink_conn *c;
	char *ep;
	long port;

	if (argc != 3)
		errx(2, "usage: msg_sink PORT OUTFILE");
	port = strtol(argv[1], &ep, 10);
	if (*argv[1] == '\0' || *ep != '\0' || port < 1 || port > 65535)
		errx(2, "bad port %s", argv[1]);
	if ((sink_out = open(argv[2], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) == -1)
		err(1, "%s", argv[2]);
	signal(SIGPIPE, SIG_IGN);
	if ((sink_base = event_base_new()) == NULL)
		errx(1, "event_base_new");
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((lev = evconnlistener_new_bind(sink_base, sink_accept_cb, NULL, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE |
	    LEV_OPT_CLOSE_ON_EXEC, 1024, (struct sockaddr *)&sin, sizeof(sin))) == NULL)
		err(1, "listen on 127.0.0.1:%ld", port);
	if ((sigterm = evsignal_new(sink_base, SIGTERM, sink_signal_cb, NULL)) == NULL ||
	    (sigint = evsignal_new(sink_base, SIGINT, sink_signal_cb, NULL)) == NULL ||
	    evsignal_add(sigterm, NULL) == -1 || evsignal_add(sigint, NULL) == -1)
		errx(1, "evsignal");
	printf("msg_sink ready\n");
	if (fflush(stdout) == EOF)
		err(1, "stdout");
	if (event_base_dispatch(sink_base) == -1)
		errx(1, "event_base_dispatch");
	/* stopped by a signal: everything freed, so a leak checker sees only real leaks */
	evconnlistener_free(lev);
	while ((c = TAILQ_FIRST(&sink_conns)) != NULL) {
		TAILQ_REMOVE(&sink_conns, c, entry);
		bufferevent_free(c->bev);
		free(c);
	}
	/* the frees sink_conn_close queued and the loop did not run yet */
	event_base_loop(sink_base, EVLOOP_NONBLOCK);
	event_free(sigterm);
	event_free(sigint);
	event_base_free(sink_base);
	close(sink_out);
	return 0;
}
