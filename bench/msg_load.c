/*
 * msg_load: the sender of bench/messages.sh. NMSGS texts through POST /message/sendText over CONCURRENCY
 * keep-alive HTTP/1.1 connections, one request in flight on each; message i goes to whichever connection is
 * free, for pair p = 1 + i % NPAIRS: sender instance s<p> to the number of r<p>'s phone, text "bench <i>".
 * Writes "<p> <key.id> <t0>" per accepted message (t0: the wall clock just before the request was written)
 * and prints "sent N failed F first_error <...>"; exits 1 if any failed.
 *
 * Why C: the bench measures a CPU-bound path on a 2-core machine, and the sender runs on the same cores. The
 * Python sender it replaces (a thread per connection, http.client) used ~0.5 s of CPU per 2,000 texts.
 *
 * Answers are framed by Content-Length (wagate's http.c sets it on every reply); a chunked answer or one
 * without a length counts as failed. "Connection: close" (or HTTP/1.0) makes the connection reconnect. A
 * transport error counts the message as failed (never sent again: it may have been accepted) and the
 * connection is replaced; connections are never idle during a run, so wagate has no reason to close one.
 *
 * The id is found by a structural scan of the answer's top-level "key" object (strings skipped whole); it
 * assumes what wagate writes: valid JSON, an id without escapes or whitespace.
 *
 * With RATE (texts per second), the load is offered at that rate instead (open loop): message i is due at
 * start + i / RATE and goes then on a free connection, CONCURRENCY being only the cap on requests in flight. Its
 * t0 is the time it was due, so a service that falls behind shows it in the latency even when the cap, not the
 * service, held the message back (no coordinated omission); the summary adds "late L max_lag_ms M": texts
 * written more than 1 ms after they were due, and the worst delay.
 *
 * usage: msg_load BASE_PORT APIKEY NPAIRS NMSGS CONCURRENCY OUTFILE [RATE]
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <err.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "msg_scan.h"

#define LOAD_HEAD_MAX	(64 * 1024)
#define LOAD_BODY_MAX	(16 * 1024 * 1024)
#define LOAD_TIMEOUT_S	120	/* for an answer (the Python sender's timeout) */

struct load_conn {
	struct bufferevent *bev;
	long msg;		/* the message in flight */
	struct timespec t0;
	size_t head_len;	/* 0 until the answer's head is complete */
	size_t body_len;
	int status;
	int close_after;	/* the server closes after this answer */
	int idle;		/* open loop: in L.idle, no request in flight */
};

static struct {
	struct event_base *base;
	struct sockaddr_in sin;
	const char *key;
	long npairs, nmsgs, next, sent, failed;
	long rate;			/* texts per second offered; 0: closed loop */
	struct timespec start;		/* when message 0 was due */
	struct load_conn **idle;	/* open loop: connections with nothing in flight, waiting for a due message */
	long nidle, late;
	double max_lag;			/* seconds */
	struct event *pace;		/* open loop: fires when the next message is due */
	FILE *out;
	char first_error[256];
} L;

static void load_conn_send(struct load_conn *);
static struct load_conn *load_conn_open(void);

/* Count a message as failed; the first failure's reason is kept for the summary. */
static void
load_fail(const char *fmt, ...)
{
	va_list ap;

	if (L.failed++ == 0) {
		va_start(ap, fmt);
		vsnprintf(L.first_error, sizeof(L.first_error), fmt, ap);
		va_end(ap);
	}
}

/* The deferred half of load_conn_close. */
static void
load_conn_free_cb(evutil_socket_t fd, short what, void *arg)
{
	struct load_conn *c = arg;

	bufferevent_free(c->bev);
	free(c);
}

/* Close c on the next loop turn (libevent may still be inside c's callback); with more to send, a new
 * connection takes over. The loop ends by itself once the last connection is gone. */
static void
load_conn_close(struct load_conn *c, int replace)
{
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
	if (event_base_once(L.base, -1, EV_TIMEOUT, load_conn_free_cb, c, NULL) == -1)
		errx(1, "event_base_once");
	if (replace && L.next < L.nmsgs)
		load_conn_send(load_conn_open());
}

/* Whether the header line at p (name ending at colon) is called name. */
static int
load_header_is(const char *p, const char *colon, const char *name)
{
	return (size_t)(colon - p) == strlen(name) && strncasecmp(p, name, colon - p) == 0;
}

/* Frame the answer whose head (len bytes, through the blank line) is at h into c; -1 with a reason if it is
 * not one we can read. */
static int
load_head_parse(struct load_conn *c, const char *h, size_t len, const char **why)
{
	const char *end = h + len, *l, *v, *eol, *colon;
	long long clen = -1;

	/* "HTTP/1.x NNN" (the head is not NUL-terminated: no sscanf) */
	if (len < 12 || memcmp(h, "HTTP/1.", 7) != 0 || h[8] != ' ' || h[9] < '1' || h[9] > '5' ||
	    h[10] < '0' || h[10] > '9' || h[11] < '0' || h[11] > '9')
		return (*why = "bad status line", -1);
	c->status = (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');
	c->close_after = h[7] == '0';
	for (l = memchr(h, '\n', len); l != NULL && ++l < end; l = eol) {
		if ((eol = memchr(l, '\n', end - l)) == NULL || (colon = memchr(l, ':', eol - l)) == NULL)
			continue;
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		if (load_header_is(l, colon, "transfer-encoding"))
			return (*why = "Transfer-Encoding in the answer (only Content-Length is read)", -1);
		/* evhttp writes a single token, as libcurl and most servers do */
		if (load_header_is(l, colon, "connection"))
			c->close_after = strncasecmp(v, "close", 5) == 0;
		if (!load_header_is(l, colon, "content-length"))
			continue;
		for (clen = 0; *v >= '0' && *v <= '9' && clen <= LOAD_BODY_MAX; v++)
			clen = clen * 10 + (*v - '0');
		if (clen > LOAD_BODY_MAX)
			return (*why = "Content-Length too large", -1);
	}
	if (clen < 0)
		return (*why = "no Content-Length in the answer", -1);
	c->body_len = clen;
	return 0;
}

/* One whole answer to c->msg: record it, then send the next message (or reconnect first). */
static void
load_conn_answered(struct load_conn *c, const char *body, size_t len)
{
	const char *end = body + len, *id, *q;

	id = js_member(js_member(body, end, "key"), end, "id");
	if (c->status != 201)
		load_fail("status %d: %.*s", c->status, (int)(len < 160 ? len : 160), body);
	else if (id == NULL || id >= end || *id != '"' || (q = js_string_end(id, end)) == NULL || q - id < 3 ||
	    memchr(id, '\\', q - id) != NULL || memchr(id, ' ', q - id) != NULL)
		load_fail("201 without a plain key.id: %.*s", (int)(len < 160 ? len : 160), body);
	else {
		if (fprintf(L.out, "%ld %.*s %lld.%06ld\n", 1 + c->msg % L.npairs, (int)(q - id - 2), id + 1,
		    (long long)c->t0.tv_sec, c->t0.tv_nsec / 1000) < 0)
			err(1, "write");
		L.sent++;
	}
	if (c->close_after)
		load_conn_close(c, 1);
	else
		load_conn_send(c);
}

/* Read c's answer as it arrives. */
static void
load_read_cb(struct bufferevent *bev, void *arg)
{
	struct load_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr at;
	const char *why;
	char *p;

	if (c->head_len == 0) {
		at = evbuffer_search(in, "\r\n\r\n", 4, NULL);
		if (at.pos < 0 || at.pos + 4 > LOAD_HEAD_MAX) {
			if (at.pos >= 0 || evbuffer_get_length(in) > LOAD_HEAD_MAX) {
				load_fail("answer head over %d bytes", LOAD_HEAD_MAX);
				load_conn_close(c, 1);
			}
			return;
		}
		if ((p = (char *)evbuffer_pullup(in, at.pos + 4)) == NULL)
			errx(1, "evbuffer_pullup");
		if (load_head_parse(c, p, at.pos + 4, &why) == -1) {
			load_fail("%s", why);
			load_conn_close(c, 1);
			return;
		}
		c->head_len = at.pos + 4;
	}
	if (evbuffer_get_length(in) < c->head_len + c->body_len)
		return;
	if ((p = (char *)evbuffer_pullup(in, c->head_len + c->body_len)) == NULL)
		errx(1, "evbuffer_pullup");
	load_conn_answered(c, p + c->head_len, c->body_len);
	evbuffer_drain(in, c->head_len + c->body_len);
	c->head_len = 0;
}

/* EOF or an error on c. */
static void
load_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct load_conn *c = arg;
	long i;

	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)))
		return;
	if (c->idle) {
		/* open loop: closed while waiting for a due message (an idle timeout): no message lost */
		for (i = 0; i < L.nidle && L.idle[i] != c; i++)
			;
		L.idle[i] = L.idle[--L.nidle];
		load_conn_close(c, 1);
		return;
	}
	/* a connection always has a request in flight until it is closed: that message failed */
	load_fail("transport: %s", (what & BEV_EVENT_TIMEOUT) ? "no answer in time" : (what & BEV_EVENT_ERROR) ?
	    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()) : "connection closed before the whole answer");
	load_conn_close(c, 1);
}

/* A new connection to wagate (connecting; requests written meanwhile wait in its output buffer). */
static struct load_conn *
load_conn_open(void)
{
	struct timeval timeout = { LOAD_TIMEOUT_S, 0 };
	struct load_conn *c;
	int fd, one = 1;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		err(1, "calloc");
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		err(1, "socket");
	/* one small request at a time: never held back waiting for an ACK */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1)
		err(1, "setsockopt TCP_NODELAY");
	if ((c->bev = bufferevent_socket_new(L.base, fd, BEV_OPT_CLOSE_ON_FREE)) == NULL)
		errx(1, "bufferevent_socket_new");
	bufferevent_setcb(c->bev, load_read_cb, NULL, load_event_cb, c);
	if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) == -1 ||
	    bufferevent_socket_connect(c->bev, (struct sockaddr *)&L.sin, sizeof(L.sin)) == -1)
		errx(1, "connect");
	if (bufferevent_set_timeouts(c->bev, &timeout, NULL) == -1)
		errx(1, "bufferevent_set_timeouts");
	return c;
}

/* When message i is due (open loop). */
static struct timespec
load_due(long i)
{
	struct timespec t = L.start;
	long long ns = (long long)t.tv_nsec + (long long)(i % L.rate) * 1000000000LL / L.rate;

	t.tv_sec += i / L.rate + ns / 1000000000LL;
	t.tv_nsec = ns % 1000000000LL;
	return t;
}

/* a - b in seconds */
static double
load_diff(const struct timespec *a, const struct timespec *b)
{
	return (double)(a->tv_sec - b->tv_sec) + (double)(a->tv_nsec - b->tv_nsec) / 1e9;
}

/* Write message c->msg's request on c; t0 is its start for the latency. */
static void
load_conn_write(struct load_conn *c, const struct timespec *t0)
{
	char body[64];
	long p = 1 + c->msg % L.npairs;
	int n;

	n = snprintf(body, sizeof(body), "{\"number\":\"15554%06ld\",\"text\":\"bench %ld\"}", p, c->msg);
	c->t0 = *t0;
	if (evbuffer_add_printf(bufferevent_get_output(c->bev), "POST /message/sendText/s%ld HTTP/1.1\r\n"
	    "Host: 127.0.0.1:%d\r\napikey: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
	    p, ntohs(L.sin.sin_port), L.key, n, body) == -1)
		errx(1, "evbuffer_add_printf");
}

/* Open loop: give every due message to an idle connection, then wait for the next one to fall due. */
static void
load_pace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timespec now, due;
	struct timeval tv;
	struct load_conn *c;
	double lag;

	clock_gettime(CLOCK_REALTIME, &now);
	while (L.next < L.nmsgs && L.nidle > 0) {
		due = load_due(L.next);
		if ((lag = load_diff(&now, &due)) < 0)
			break;
		if (lag > 0.001)
			L.late++;
		if (lag > L.max_lag)
			L.max_lag = lag;
		c = L.idle[--L.nidle];
		c->idle = 0;
		c->msg = L.next++;
		load_conn_write(c, &due);
	}
	if (L.next >= L.nmsgs) {
		while (L.nidle > 0)
			load_conn_close(L.idle[--L.nidle], 0);
		return;
	}
	if (L.nidle == 0)
		return;		/* an answer frees a connection and calls again */
	due = load_due(L.next);
	lag = -load_diff(&now, &due);
	tv.tv_sec = (time_t)lag;
	tv.tv_usec = (suseconds_t)((lag - (double)tv.tv_sec) * 1e6);
	if (evtimer_add(L.pace, &tv) == -1)
		errx(1, "evtimer_add");
}

/* Write the next unsent message's request on c (open loop: when it is due); none left: close c. */
static void
load_conn_send(struct load_conn *c)
{
	struct timespec now;

	if (L.next >= L.nmsgs) {
		load_conn_close(c, 0);
		return;
	}
	if (L.rate > 0) {
		c->idle = 1;
		L.idle[L.nidle++] = c;
		load_pace_cb(-1, 0, NULL);
		return;
	}
	c->msg = L.next++;
	clock_gettime(CLOCK_REALTIME, &now);
	load_conn_write(c, &now);
}

/* A positive number from a command-line argument, or exit 2. */
static long
load_arg(const char *s, const char *what, long max)
{
	char *ep;
	long v;

	errno = 0;
	v = strtol(s, &ep, 10);
	if (*s == '\0' || *ep != '\0' || errno != 0 || v < 1 || v > max)
		errx(2, "bad %s: %s", what, s);
	return v;
}

int
main(int argc, char *argv[])
{
	long conc, i;

	if (argc != 7 && argc != 8)
		errx(2, "usage: msg_load BASE_PORT APIKEY NPAIRS NMSGS CONCURRENCY OUTFILE [RATE]");
	L.sin.sin_family = AF_INET;
	L.sin.sin_port = htons(load_arg(argv[1], "port", 65535));
	L.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	L.key = argv[2];
	if (strpbrk(L.key, "\r\n") != NULL)
		errx(2, "bad APIKEY");
	L.npairs = load_arg(argv[3], "NPAIRS", 999999);
	L.nmsgs = load_arg(argv[4], "NMSGS", LONG_MAX / 2);
	conc = load_arg(argv[5], "CONCURRENCY", 10000);
	if ((L.out = fopen(argv[6], "w")) == NULL)
		err(1, "%s", argv[6]);
	signal(SIGPIPE, SIG_IGN);
	if ((L.base = event_base_new()) == NULL)
		errx(1, "event_base_new");
	if (argc == 8) {
		L.rate = load_arg(argv[7], "RATE", 1000000);
		if ((L.idle = calloc(conc, sizeof(*L.idle))) == NULL || (L.pace = evtimer_new(L.base, load_pace_cb,
		    NULL)) == NULL)
			errx(1, "open loop setup");
		clock_gettime(CLOCK_REALTIME, &L.start);
	}
	for (i = 0; i < conc && i < L.nmsgs; i++)
		load_conn_send(load_conn_open());
	if (event_base_dispatch(L.base) == -1)
		errx(1, "event_base_dispatch");
	event_base_free(L.base);
	if (fclose(L.out) == EOF)
		err(1, "%s", argv[6]);
	if (L.pace != NULL)
		event_free(L.pace);
	free(L.idle);
	printf("sent %ld failed %ld late %ld max_lag_ms %.1f first_error %s\n", L.sent, L.failed, L.late,
	    L.max_lag * 1000, L.failed ? L.first_error : "-");
	return L.failed == 0 ? 0 : 1;
}
