/*
 * Webhook transport for plain http:// URLs: an HTTP/1.1 client of our own on libevent, with keep-alive
 * connections pooled per host and port, and addresses from evdns (its answers kept a minute).
 *
 * Why not libcurl for these: libcurl's multi interface cost 51-60 us of CPU per POST on one connection, about
 * half of wagate's CPU with a busy instance, and an instance's one ordered queue cannot go faster than a POST
 * and its answer. This client sends a POST with one sendmsg and reads the answer with a watcher that stays
 * registered for the connection's life (14-21 us per POST, same machine). libcurl keeps everything this client
 * does not do: https, URLs with credentials or anything unusual (webhook_http_target), a host evdns cannot
 * resolve (getaddrinfo knows NSS sources evdns does not), and every URL when a proxy is set in the environment
 * or WAGATE_WEBHOOK_LIBCURL is on.
 *
 * Outcomes reach webhook_delivery_finish with the CURLcode libcurl would have given, so the retry, hold and drop
 * rules are the same for both transports. An outcome is never delivered from inside webhook_http_start: a
 * failure found there waits for the connection's timer at zero delay.
 */
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "http_resp.h"
#include "log.h"
#include "webhook_int.h"
#include "xmalloc.h"

#define WH_DNS_KEEP_MS		60000	/* an evdns answer (or failure) is used this long */
#define WH_CONNECT_MS		10000	/* connect timeout, when the request timeout is longer */
#define WH_READ_BUF		16384
#define WH_READS_PER_TURN	64	/* 1 MB of answer per loop turn and connection at most */
#define WH_POOLS_MAX		64	/* hosts with state at once; more go to libcurl while all are busy */

enum wh_state {
	WH_CONNECTING,		/* non-blocking connect in progress */
	WH_SENDING,		/* request partly written */
	WH_READING,		/* request written, answer being read */
	WH_IDLE,		/* in its pool, waiting for the next request */
	WH_DEAD,		/* closed, freed on the next loop turn */
};

struct wh_pool;

/* One TCP connection to a pool's host. */
struct wh_conn {
	TAILQ_ENTRY(wh_conn) entry;		/* its pool's idle list, or the dead list */
	struct wh_pool *pool;
	evutil_socket_t fd;
	enum wh_state state;
	struct event *rev;			/* read watcher, persistent from connect to close */
	struct event *wev;			/* connect completion, or room to write the rest */
	struct event *timer;			/* request deadline, idle expiry, or a deferred failure */
	struct webhook_delivery *d;		/* the POST it carries (NULL when idle or dead) */
	int ai_index;				/* the address being tried (WH_CONNECTING) */
	int reused;				/* it carried a request before this one */
	size_t got;				/* answer bytes received for this request */
	size_t body_len, sent;			/* of d's request: its body, and what of head and body is out */
	CURLcode fail_res;			/* a failure waiting for the timer at zero delay */
	struct timeval deadline;		/* the request's end (its connect's is sooner) */
	struct http_resp resp;
};

TAILQ_HEAD(wh_conns, wh_conn);

/* Everything sent to one host and port: its addresses and idle connections. */
struct wh_pool {
	LIST_ENTRY(wh_pool) entry;
	struct webhook_http *h;
	char *host;				/* as in the URL; IPv6 without brackets */
	int port;
	int numeric;				/* host is an address: ai never expires */
	struct evutil_addrinfo *ai;		/* addresses, NULL before the first answer */
	struct timeval ai_at;
	int dns_failed;				/* the last lookup failed (at ai_at): libcurl takes the host */
	int refused;				/* we refused an answer of the host: libcurl takes it from now on */
	struct evdns_getaddrinfo_request *dns;	/* lookup in flight, when evdns did not answer at once */
	struct event *dns_ev;			/* starts the lookup on the next loop turn */
	int resolving;				/* a lookup is asked for or in flight */
	struct webhook_deliveries waiting;	/* deliveries waiting for the lookup (hwait_entry) */
	struct wh_conns idle;
	int nbusy;				/* connections carrying a request */
};

struct webhook_http {
	struct webhook *w;
	struct evdns_base *dns;			/* created at the first name to resolve */
	LIST_HEAD(, wh_pool) pools;
	int npools;
	int nconns;				/* connections open, busy or idle, over all pools */
	struct wh_conns dead;
	struct event *reap_ev;
	struct webhook_http_stats stats;
};

/* The n-th address of a list, or NULL. */
static struct evutil_addrinfo *
wh_ai_nth(struct evutil_addrinfo *ai, int n)
{
	while (ai != NULL && n-- > 0)
		ai = ai->ai_next;
	return ai;
}

/* Free the connections closed during the last loop turn (never inside their own callbacks). */
static void
wh_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct webhook_http *h = arg;
	struct wh_conn *c;

	while ((c = TAILQ_FIRST(&h->dead)) != NULL) {
		TAILQ_REMOVE(&h->dead, c, entry);
		event_free(c->rev);
		event_free(c->wev);
		event_free(c->timer);
		free(c);
	}
}

/* Close c (off its pool's idle list, or away from its request); its memory goes on the next loop turn. */
static void
wh_conn_close(struct wh_conn *c)
{
	struct webhook_http *h = c->pool->h;

	if (c->state == WH_DEAD)
		return;
	if (c->d != NULL) {
		c->d->hconn = NULL;
		c->d = NULL;
	}
	if (c->state == WH_IDLE)
		TAILQ_REMOVE(&c->pool->idle, c, entry);
	else
		c->pool->nbusy--;
	h->nconns--;
	if (c->rev != NULL)
		event_del(c->rev);
	if (c->wev != NULL)
		event_del(c->wev);
	event_del(c->timer);
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	c->state = WH_DEAD;
	TAILQ_INSERT_TAIL(&h->dead, c, entry);
	event_active(h->reap_ev, 0, 0);
}

/* Hand d to libcurl after all (its host has no address evdns could find); from a callback only. */
static void
wh_to_curl(struct webhook *w, struct webhook_delivery *d)
{
	w->http->stats.to_curl++;
	if (webhook_curl_post(w, d) == -1)
		webhook_delivery_finish(w, d, CURLE_FAILED_INIT, 0);
}

/* The request is over for c: the connection goes back to its pool when the answer left it clean (and the pool
 * has room), and is closed otherwise; then the outcome goes to the delivery logic. */
static void
wh_finish(struct wh_conn *c, CURLcode res, long code, int reusable, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
wh_finish(struct wh_conn *c, CURLcode res, long code, int reusable, const char *fmt, ...)
{
	struct webhook_delivery *d = c->d;
	struct wh_pool *pool = c->pool;
	struct webhook *w = pool->h->w;
	struct timeval idle = { w->http_idle_ms / 1000, (w->http_idle_ms % 1000) * 1000 };
	va_list ap;

	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(d->errbuf, sizeof(d->errbuf), fmt, ap);
		va_end(ap);
	}
	/* Busy and idle connections together stay within the webhook's share of descriptors (its concurrency, which
	 * HTTP_MAX_CONNECTIONS reserves): one past it is closed rather than kept. */
	if (reusable && pool->h->nconns <= w->concurrency) {
		c->d = NULL;
		d->hconn = NULL;
		pool->nbusy--;
		c->state = WH_IDLE;
		c->reused = 1;
		evtimer_add(c->timer, &idle);
		/* Most recently used first: the warmest connection goes next, and the others age out. */
		TAILQ_INSERT_HEAD(&pool->idle, c, entry);
	} else
		wh_conn_close(c);
	webhook_delivery_finish(w, d, res, code);
}

static int wh_pool_connect(struct wh_pool *pool, struct webhook_delivery *d);

/* The answer broke off or never came (or the request could not be written). A connection that carried requests
 * before may have been closed by the server just as we reused it: that one request goes again, once, on a new
 * connection, as libcurl does. */
static void
wh_broken(struct wh_conn *c, CURLcode res, const char *what)
{
	struct webhook_delivery *d = c->d;
	struct wh_pool *pool = c->pool;

	if (c->reused && c->got == 0 && !d->hretried) {
		d->hretried = 1;
		pool->h->stats.retried++;
		wh_conn_close(c);
		if (wh_pool_connect(pool, d) == 1)
			wh_to_curl(pool->h->w, d);
		return;
	}
	if (c->got == 0 && res == CURLE_RECV_ERROR)
		wh_finish(c, CURLE_GOT_NOTHING, 0, 0, "Empty reply from server");
	else
		wh_finish(c, res, 0, 0, "%s", what);
}

/* A failure found where no outcome may be delivered yet (inside webhook_http_start), or a failed connect: the
 * timer delivers it. */
static void
wh_fail_later(struct wh_conn *c, CURLcode res, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
wh_fail_later(struct wh_conn *c, CURLcode res, const char *fmt, ...)
{
	struct timeval now = { 0, 0 };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->d->errbuf, sizeof(c->d->errbuf), fmt, ap);
	va_end(ap);
	c->fail_res = res;
	if (c->wev != NULL)
		event_del(c->wev);
	if (c->rev != NULL)
		event_del(c->rev);
	evtimer_add(c->timer, &now);
}

/* No address of c's host took the connection (err, the last one's reason): delivered by the timer. */
static void
wh_connect_failed(struct wh_conn *c, int err)
{
	wh_fail_later(c, CURLE_COULDNT_CONNECT, "Failed to connect to %s port %d: %s", c->pool->host, c->pool->port,
	    strerror(err));
}

/* Write what is left of the request: 0 when it is out or the kernel is full (c->wev waits), -1 after a failure
 * (delivered at once from a callback, deferred otherwise). */
static int
wh_send(struct wh_conn *c, int in_cb)
{
	struct webhook_delivery *d = c->d;
	struct iovec iov[2];
	struct msghdr msg;
	size_t total = d->hhead_len + c->body_len;
	ssize_t n;

	while (c->sent < total) {
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = iov;
		if (c->sent < d->hhead_len) {
			iov[0].iov_base = d->hhead + c->sent;
			iov[0].iov_len = d->hhead_len - c->sent;
			iov[1].iov_base = d->body;
			iov[1].iov_len = c->body_len;
			msg.msg_iovlen = 2;
		} else {
			iov[0].iov_base = d->body + (c->sent - d->hhead_len);
			iov[0].iov_len = total - c->sent;
			msg.msg_iovlen = 1;
		}
		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			event_add(c->wev, NULL);
			return 0;
		}
		if (n < 0) {
			if (in_cb)
				wh_broken(c, CURLE_SEND_ERROR, strerror(errno));
			else
				wh_fail_later(c, CURLE_SEND_ERROR, "%s", strerror(errno));
			return -1;
		}
		c->sent += (size_t)n;
	}
	c->state = WH_READING;
	return 0;
}

/* Arm c's timer for the request's deadline, or for its connect's when that comes sooner. */
static void
wh_arm_deadline(struct wh_conn *c)
{
	struct timeval now, left, cap = { WH_CONNECT_MS / 1000, (WH_CONNECT_MS % 1000) * 1000 };

	event_base_gettimeofday_cached(c->pool->h->w->base, &now);
	if (timercmp(&c->deadline, &now, >))
		timersub(&c->deadline, &now, &left);
	else
		timerclear(&left);
	if (c->state == WH_CONNECTING && timercmp(&cap, &left, <))
		left = cap;
	evtimer_add(c->timer, &left);
}

/* Connected: write the request, and read from now until the connection closes. */
static void
wh_connected(struct wh_conn *c, int in_cb)
{
	c->state = WH_SENDING;
	event_add(c->rev, NULL);
	wh_arm_deadline(c);
	wh_send(c, in_cb);
}

/* Bytes (or the end) on a connection: the answer to its request, or an idle connection closing. */
static void
wh_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wh_conn *c = arg;
	uint8_t buf[WH_READ_BUF];
	ssize_t n;
	size_t used;
	int rc, reads;

	/* A bounded number of reads per turn: a receiver streaming a long body does not hold the loop. */
	for (reads = 0; reads < WH_READS_PER_TURN; reads++) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (c->state == WH_IDLE) {
			/* The server closed it, or sent what no request asked for: either way it is done. */
			wh_conn_close(c);
			return;
		}
		if (n < 0) {
			wh_broken(c, CURLE_RECV_ERROR, strerror(errno));
			return;
		}
		if (n == 0) {
			if (http_resp_eof(&c->resp) == HTTP_RESP_DONE)
				wh_finish(c, CURLE_OK, c->resp.status, 0, NULL);
			else
				wh_broken(c, CURLE_RECV_ERROR, c->resp.err);
			return;
		}
		c->got += (size_t)n;
		rc = http_resp_feed(&c->resp, buf, (size_t)n, &used);
		if (rc == HTTP_RESP_ERROR) {
			/* Our reader is stricter than libcurl's (two lengths, a coding other than chunked, ...): the
			 * attempt fails, and libcurl has the host from the retry on, so that a receiver libcurl could
			 * talk to keeps working. */
			if (!c->pool->refused)
				log_warnx("webhook: %s port %d answered what we refuse (%s); libcurl takes it from now on",
				    c->pool->host, c->pool->port, c->resp.err);
			c->pool->refused = 1;
			wh_finish(c, CURLE_WEIRD_SERVER_REPLY, 0, 0, "bad response: %s", c->resp.err);
			return;
		}
		if (rc == HTTP_RESP_DONE) {
			/* An answer before the whole request was out, or bytes after it: not a connection to reuse. */
			wh_finish(c, CURLE_OK, c->resp.status, c->resp.keep_alive && used == (size_t)n &&
			    c->state == WH_READING, NULL);
			return;
		}
	}
}

static void wh_conn_open(struct wh_pool *pool, struct webhook_delivery *d, int index, int in_cb);

/* The connect finished or failed, or the kernel has room for the rest of the request. */
static void
wh_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wh_conn *c = arg;
	struct wh_pool *pool = c->pool;
	struct webhook_delivery *d = c->d;
	socklen_t len = sizeof(int);
	int err = 0, index = c->ai_index;

	if (c->state == WH_SENDING) {
		wh_send(c, 1);
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err == 0) {
		wh_connected(c, 1);
		return;
	}
	if (wh_ai_nth(pool->ai, index + 1) == NULL) {
		wh_connect_failed(c, err);
		return;
	}
	wh_conn_close(c);
	wh_conn_open(pool, d, index + 1, 1);
}

/* The deadline passed, an idle connection aged out, or a failure found earlier is due. */
static void
wh_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wh_conn *c = arg;
	struct webhook *w = c->pool->h->w;
	CURLcode res = c->fail_res;
	char what_s[CURL_ERROR_SIZE];

	if (c->state == WH_IDLE) {
		wh_conn_close(c);
		return;
	}
	if (res != CURLE_OK) {
		c->fail_res = CURLE_OK;
		if (res == CURLE_SEND_ERROR) {
			snprintf(what_s, sizeof(what_s), "%s", c->d->errbuf);
			wh_broken(c, res, what_s);
		} else
			wh_finish(c, res, 0, 0, NULL);
		return;
	}
	if (c->state == WH_CONNECTING)
		wh_finish(c, CURLE_OPERATION_TIMEDOUT, 0, 0, "Connection to %s port %d timed out", c->pool->host,
		    c->pool->port);
	else
		wh_finish(c, CURLE_OPERATION_TIMEDOUT, 0, 0, "Operation timed out after %d milliseconds with %zu "
		    "bytes received", w->request_timeout_ms, c->got);
}

/* c carries d from now: its answer reader reset, its deadline the request's (set at d's first try: a retry on
 * a new connection does not get more time). */
static void
wh_conn_attach(struct wh_conn *c, struct webhook_delivery *d)
{
	struct webhook *w = c->pool->h->w;
	struct timeval now, tmo = { w->request_timeout_ms / 1000, (w->request_timeout_ms % 1000) * 1000 };

	c->pool->nbusy++;
	c->d = d;
	d->hconn = c;
	c->got = c->sent = 0;
	c->body_len = strlen(d->body);
	http_resp_init(&c->resp);
	if (!timerisset(&d->hdeadline)) {
		event_base_gettimeofday_cached(w->base, &now);
		timeradd(&now, &tmo, &d->hdeadline);
	}
	c->deadline = d->hdeadline;
}

/* A connection record for pool, carrying d, with its timer (and no socket yet). */
static struct wh_conn *
wh_conn_new(struct wh_pool *pool, struct webhook_delivery *d)
{
	struct wh_conn *c = xcalloc(1, sizeof(*c));

	c->pool = pool;
	c->fd = -1;
	c->state = WH_CONNECTING;
	if ((c->timer = evtimer_new(pool->h->w->base, wh_timer_cb, c)) == NULL)
		fatalx("evtimer_new");
	pool->h->stats.conns++;
	pool->h->nconns++;
	wh_conn_attach(c, d);
	return c;
}

/* Open a connection to pool's address index (or the next that works at once) for d. A failure to connect is
 * delivered by the timer; in_cb says whether a write failure may be delivered at once. */
static void
wh_conn_open(struct wh_pool *pool, struct webhook_delivery *d, int index, int in_cb)
{
	struct webhook *w = pool->h->w;
	struct wh_conn *c = wh_conn_new(pool, d);
	struct evutil_addrinfo *ai;
	int one = 1, err = 0, pending = 0;

	for (ai = wh_ai_nth(pool->ai, index); ai != NULL; ai = ai->ai_next, index++) {
		c->ai_index = index;
		if ((c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
			err = errno;
			continue;
		}
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			pending = 1;
			break;
		}
		err = errno;
		close(c->fd);
		c->fd = -1;
	}
	if (c->fd == -1) {
		wh_connect_failed(c, err);
		return;
	}
	if ((c->rev = event_new(w->base, c->fd, EV_READ | EV_PERSIST, wh_read_cb, c)) == NULL ||
	    (c->wev = event_new(w->base, c->fd, EV_WRITE, wh_write_cb, c)) == NULL)
		fatalx("event_new");
	if (!pending) {
		wh_connected(c, in_cb);
		return;
	}
	event_add(c->wev, NULL);
	wh_arm_deadline(c);
}

/* Whether pool's addresses (or its failed lookup) are recent enough to use. */
static int
wh_pool_fresh(struct wh_pool *pool)
{
	struct timeval now, age;

	if (pool->numeric)
		return 1;
	if (pool->ai == NULL && !pool->dns_failed)
		return 0;
	event_base_gettimeofday_cached(pool->h->w->base, &now);
	timersub(&now, &pool->ai_at, &age);
	return age.tv_sec * 1000 + age.tv_usec / 1000 < WH_DNS_KEEP_MS;
}

/* A new connection for d: 0 when it is on its way (connecting, or waiting for the host's addresses), 1 when
 * libcurl must take d (evdns found no address for the host lately). Never delivers an outcome itself. */
static int
wh_pool_connect(struct wh_pool *pool, struct webhook_delivery *d)
{
	if (wh_pool_fresh(pool)) {
		if (pool->dns_failed)
			return 1;
		wh_conn_open(pool, d, 0, 0);
		return 0;
	}
	TAILQ_INSERT_TAIL(&pool->waiting, d, hwait_entry);
	d->hwait = pool;
	if (!pool->resolving) {
		pool->resolving = 1;
		event_active(pool->dns_ev, 0, 0);
	}
	return 0;
}

/* evdns answered for pool: connect its waiting deliveries, or hand them to libcurl. */
static void
wh_dns_cb(int result, struct evutil_addrinfo *res, void *arg)
{
	struct wh_pool *pool = arg;
	struct webhook *w = pool->h->w;
	struct webhook_delivery *d;

	if (result == EVUTIL_EAI_CANCEL)
		return;		/* webhook_http_free: the pool is going */
	pool->resolving = 0;
	pool->dns = NULL;
	event_base_gettimeofday_cached(w->base, &pool->ai_at);
	if (result == 0 && res != NULL) {
		if (pool->ai != NULL)
			evutil_freeaddrinfo(pool->ai);
		pool->ai = res;
		pool->dns_failed = 0;
	} else {
		/* Kept as it was: connections in flight index it. A minute of libcurl for this host. */
		log_debug("webhook: evdns found no address for %s (%s); libcurl takes it", pool->host,
		    evutil_gai_strerror(result));
		pool->dns_failed = 1;
	}
	while ((d = TAILQ_FIRST(&pool->waiting)) != NULL) {
		TAILQ_REMOVE(&pool->waiting, d, hwait_entry);
		d->hwait = NULL;
		if (pool->dns_failed)
			wh_to_curl(w, d);
		else
			wh_conn_open(pool, d, 0, 1);
	}
}

/* Start pool's lookup, from the loop (evdns answers some names, /etc/hosts ones, before it returns). */
static void
wh_dns_start_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wh_pool *pool = arg;
	struct webhook_http *h = pool->h;
	struct evutil_addrinfo hints;
	struct evdns_getaddrinfo_request *req;
	char port[8];

	if (h->dns == NULL) {
		if ((h->dns = evdns_base_new(h->w->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
		    EVDNS_BASE_DISABLE_WHEN_INACTIVE)) == NULL) {
			log_warnx("webhook: evdns_base_new failed; libcurl resolves webhook hosts");
			wh_dns_cb(EVUTIL_EAI_FAIL, NULL, pool);
			return;
		}
		/* The deliveries wait for the answer outside their request timeout: 2 tries of 2 s, then libcurl
		 * (whose getaddrinfo has its own sources and timeout) takes the host for a minute. */
		evdns_base_set_option(h->dns, "timeout:", "2");
		evdns_base_set_option(h->dns, "attempts:", "2");
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
	snprintf(port, sizeof(port), "%d", pool->port);
	req = evdns_getaddrinfo(h->dns, pool->host, port, &hints, wh_dns_cb, pool);
	if (pool->resolving)
		pool->dns = req;
}

/* Free pool (no delivery waits in it, no connection is busy). */
static void
wh_pool_free(struct wh_pool *pool)
{
	struct wh_conn *c;

	LIST_REMOVE(pool, entry);
	pool->h->npools--;
	if (pool->dns != NULL)
		evdns_getaddrinfo_cancel(pool->dns);
	while ((c = TAILQ_FIRST(&pool->idle)) != NULL)
		wh_conn_close(c);
	if (pool->ai != NULL)
		evutil_freeaddrinfo(pool->ai);
	event_free(pool->dns_ev);
	free(pool->host);
	free(pool);
}

/* The pool for t's host and port: found, made, or NULL when WH_POOLS_MAX pools are all in use. */
static struct wh_pool *
wh_pool_get(struct webhook_http *h, const struct webhook_http_target *t)
{
	struct wh_pool *pool, *spare = NULL;
	struct evutil_addrinfo hints;

	LIST_FOREACH(pool, &h->pools, entry) {
		if (pool->port == t->port && strcasecmp(pool->host, t->host) == 0)
			return pool;
		if (pool->nbusy == 0 && TAILQ_EMPTY(&pool->idle) && !pool->resolving && !pool->refused)
			spare = pool;
	}
	if (h->npools >= WH_POOLS_MAX) {
		if (spare == NULL)
			return NULL;
		wh_pool_free(spare);
	}
	pool = xcalloc(1, sizeof(*pool));
	pool->h = h;
	pool->host = xstrdup(t->host);
	pool->port = t->port;
	TAILQ_INIT(&pool->waiting);
	TAILQ_INIT(&pool->idle);
	if ((pool->dns_ev = event_new(h->w->base, -1, 0, wh_dns_start_cb, pool)) == NULL)
		fatalx("event_new");
	/* An address in the URL needs no lookup: parsed once, kept for the pool's life. */
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = t->ipv6 ? AF_INET6 : AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	hints.ai_flags = EVUTIL_AI_NUMERICHOST | EVUTIL_AI_NUMERICSERV;
	{
		char port[8];

		snprintf(port, sizeof(port), "%d", t->port);
		if (evutil_getaddrinfo(t->host, port, &hints, &pool->ai) == 0)
			pool->numeric = 1;
		else
			pool->ai = NULL;
	}
	LIST_INSERT_HEAD(&h->pools, pool, entry);
	h->npools++;
	return pool;
}

/* Start d's POST here when its URL is ours: 0 started, 1 not ours (libcurl's). Never delivers an outcome. */
int
webhook_http_start(struct webhook *w, struct webhook_delivery *d)
{
	struct webhook_http *h = w->http;
	struct webhook_http_target t;
	struct wh_pool *pool;
	struct wh_conn *c;

	if (h == NULL || !webhook_http_target(d->url, &t) || (pool = wh_pool_get(h, &t)) == NULL)
		return 1;
	if (pool->refused || (pool->dns_failed && wh_pool_fresh(pool)))
		return 1;
	if (d->hhead == NULL)
		webhook_http_head(d, &t);
	h->stats.requests++;
	d->hretried = 0;
	timerclear(&d->hdeadline);
	if ((c = TAILQ_FIRST(&pool->idle)) != NULL) {
		TAILQ_REMOVE(&pool->idle, c, entry);
		h->stats.reused++;
		wh_conn_attach(c, d);
		wh_connected(c, 0);
		return 0;
	}
	if (wh_pool_connect(pool, d) == 1) {
		h->stats.requests--;
		return 1;
	}
	return 0;
}

/* Abandon d's POST: off its pool's waiting list, or its connection closed mid-request. */
void
webhook_http_stop(struct webhook_delivery *d)
{
	if (d->hwait != NULL) {
		TAILQ_REMOVE(&d->hwait->waiting, d, hwait_entry);
		d->hwait = NULL;
	}
	if (d->hconn != NULL)
		wh_conn_close(d->hconn);
	free(d->hhead);
	d->hhead = NULL;
}

/* The client for w, unless every POST must go through libcurl (curl_only, or a proxy in the environment, which
 * libcurl honours and we do not). */
void
webhook_http_init(struct webhook *w, int curl_only)
{
	static const char *proxy_env[] = { "http_proxy", "all_proxy", "ALL_PROXY" };
	struct webhook_http *h;
	const char *v;
	size_t i;

	if (curl_only)
		return;
	for (i = 0; i < sizeof(proxy_env) / sizeof(proxy_env[0]); i++)
		if ((v = getenv(proxy_env[i])) != NULL && *v != '\0') {
			log_info("webhook: %s is set: every webhook goes through libcurl", proxy_env[i]);
			return;
		}
	h = xcalloc(1, sizeof(*h));
	h->w = w;
	LIST_INIT(&h->pools);
	TAILQ_INIT(&h->dead);
	if ((h->reap_ev = event_new(w->base, -1, 0, wh_reap_cb, h)) == NULL)
		fatalx("event_new");
	w->http = h;
}

/* Close every connection and free the client (its deliveries are freed already). */
void
webhook_http_free(struct webhook *w)
{
	struct webhook_http *h = w->http;
	struct wh_pool *pool;

	if (h == NULL)
		return;
	while ((pool = LIST_FIRST(&h->pools)) != NULL)
		wh_pool_free(pool);
	wh_reap_cb(-1, 0, h);
	if (h->dns != NULL)
		evdns_base_free(h->dns, 0);
	event_free(h->reap_ev);
	free(h);
	w->http = NULL;
}

/* Counters of the client, NULL when libcurl carries every POST (tests). */
const struct webhook_http_stats *
webhook_http_stats(const struct webhook *w)
{
	return w->http != NULL ? &w->http->stats : NULL;
}

void
webhook_http_totals(const struct webhook *w, unsigned long *posts, unsigned long *connections)
{
	const struct webhook_http_stats *st = w != NULL ? webhook_http_stats(w) : NULL;

	*posts = st != NULL ? st->requests : 0;
	*connections = st != NULL ? st->conns : 0;
}
