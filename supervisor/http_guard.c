/* Connection caps, request deadlines and accept-error pauses around the evhttp listener (contract: http_guard.h). */
#include "http_guard.h"
#include "log.h"
#include "xmalloc.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How long the listener rests after an accept error: long enough not to spin, short enough that a freed
 * descriptor is used within a tenth of a second. */
#define GUARD_PAUSE_MS		100
/* At most one line about refused connections per this many seconds (a flood must not flood the log). */
#define GUARD_LOG_EVERY_S	10

enum guard_state {
	GUARD_RECEIVING,	/* a request is being read; the deadline runs */
	GUARD_HANDLING,		/* a route has the request; no deadline (the client waits for us) */
	GUARD_IDLE,		/* between requests: evhttp's idle timeout applies until the next first byte */
};

/* Connections held by one client address: an IPv4 address (as v4-mapped IPv6) or an IPv6 /64. */
struct guard_addr {
	unsigned char key[16];
	unsigned count;
	struct guard_addr *next;
};

struct guard_conn {
	struct http_guard *g;
	struct evhttp_connection *evcon;
	struct bufferevent *bev;
	evutil_socket_t fd;
	struct guard_addr *addr;
	struct event *deadline;
	struct evbuffer_cb_entry *watch;	/* on the input buffer: a request's first byte */
	enum guard_state state;
	TAILQ_ENTRY(guard_conn) dead_entry;
};
TAILQ_HEAD(guard_conn_list, guard_conn);

struct http_guard {
	struct event_base *base;
	struct evhttp *http;
	struct evconnlistener *lev;
	struct http_guard_config cfg;
	struct timeval timeout;

	struct bufferevent **pending;	/* accepted, not yet looked at (each holds a reference) */
	size_t npending, cappending;
	struct event *admit_ev;

	struct guard_conn **by_fd;	/* admitted connections by descriptor */
	size_t nby_fd;
	struct guard_addr **buckets;
	size_t nbuckets;		/* a power of two */
	uint64_t seed;			/* per-process, so an attacker cannot aim addresses at one bucket */
	unsigned long open;

	struct guard_conn_list dead;	/* freed on the next loop turn (STYLE rule 10) */
	struct event *reap_ev;

	struct event *resume_ev;
	int paused;			/* an accept-error episode is running */
	int episode_logged;		/* its start was logged, so its end is too */
	unsigned long episode_pauses;
	struct timespec episode_start;
	time_t pause_logged;		/* when an episode start was last logged */
	unsigned long episodes_unlogged;

	time_t refused_logged;
	unsigned long refused_unlogged;
	struct http_guard_stats st;
	struct http_guard *next_guard;
};

/*
 * Every guard, to find one from its listener: an error callback gets the listener's user data, which is
 * evhttp's own (its accept callback's). One per listening socket, so a short list.
 */
static struct http_guard *guards;

/* See http_guard.h. */
int
http_guard_default_max(unsigned long nofile, unsigned long reserve)
{
	unsigned long n = nofile > reserve ? (nofile - reserve) / 2 : 0;

	if (n > 1000000)
		n = 1000000;
	return n < 16 ? 16 : (int)n;
}

/* Milliseconds since a CLOCK_MONOTONIC instant. */
static long
guard_elapsed_ms(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
}

/* The connection's client as a 16-byte key (see guard_addr); 0, or -1 when it has no IP address (then it is not
 * capped per address). */
static int
guard_addr_key(struct evhttp_connection *evcon, evutil_socket_t fd, unsigned char key[16])
{
	const struct sockaddr *sa = evhttp_connection_get_addr(evcon);
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (sa == NULL) {
		if (getpeername(fd, (struct sockaddr *)&ss, &len) == -1)
			return -1;
		sa = (const struct sockaddr *)&ss;
	}
	if (sa->sa_family == AF_INET) {
		memset(key, 0, 10);
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		static const unsigned char v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

		memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		/* one host gets a whole /64 and picks any address in it per connection: the /64 is the client */
		if (memcmp(key, v4mapped, 12) != 0)
			memset(key + 8, 0, 8);
		return 0;
	}
	return -1;
}

/* The hash bucket of an address key (FNV-1a, seeded). */
static size_t
guard_addr_bucket(const struct http_guard *g, const unsigned char key[16])
{
	uint64_t h = 0xcbf29ce484222325ULL ^ g->seed;
	int i;

	for (i = 0; i < 16; i++)
		h = (h ^ key[i]) * 0x100000001b3ULL;
	return (size_t)(h ^ (h >> 29)) & (g->nbuckets - 1);
}

/* The entry for key, created (with count 0) when create is set. */
static struct guard_addr *
guard_addr_find(struct http_guard *g, const unsigned char key[16], int create)
{
	size_t b = guard_addr_bucket(g, key);
	struct guard_addr *a;

	for (a = g->buckets[b]; a != NULL; a = a->next)
		if (memcmp(a->key, key, 16) == 0)
			return a;
	if (!create)
		return NULL;
	a = xcalloc(1, sizeof(*a));
	memcpy(a->key, key, 16);
	a->next = g->buckets[b];
	g->buckets[b] = a;
	return a;
}

/* One connection of the address is gone; the entry goes with its last one. */
static void
guard_addr_release(struct http_guard *g, struct guard_addr *a)
{
	struct guard_addr **pp;

	if (a == NULL || --a->count > 0)
		return;
	for (pp = &g->buckets[guard_addr_bucket(g, a->key)]; *pp != NULL; pp = &(*pp)->next)
		if (*pp == a) {
			*pp = a->next;
			break;
		}
	free(a);
}

/* An address key as text for the log. */
static void
guard_addr_text(const unsigned char key[16], char *buf, size_t len)
{
	static const unsigned char v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (memcmp(key, v4mapped, 12) == 0)
		inet_ntop(AF_INET, key + 12, buf, (socklen_t)len);
	else if (inet_ntop(AF_INET6, key, buf, (socklen_t)len) != NULL && strlen(buf) + 4 <= len)
		strcat(buf, "/64");
}

/* Stop watching a connection evhttp is closing; the record is freed on the next loop turn. */
static void
guard_conn_release(struct guard_conn *c)
{
	struct http_guard *g = c->g;

	if (c->watch != NULL)
		evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->watch);
	c->watch = NULL;
	event_del(c->deadline);
	if (c->fd >= 0 && (size_t)c->fd < g->nby_fd && g->by_fd[c->fd] == c)
		g->by_fd[c->fd] = NULL;
	guard_addr_release(g, c->addr);
	c->addr = NULL;
	g->open--;
	TAILQ_INSERT_TAIL(&g->dead, c, dead_entry);
	event_active(g->reap_ev, 0, 0);
}

/* Free the records of closed connections, outside any callback of theirs. */
static void
guard_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_guard *g = arg;
	struct guard_conn *c;

	(void)fd;
	(void)what;
	while ((c = TAILQ_FIRST(&g->dead)) != NULL) {
		TAILQ_REMOVE(&g->dead, c, dead_entry);
		event_free(c->deadline);
		free(c);
	}
}

/* evhttp is closing the connection (any reason: done, error, idle timeout, our deadline, server freed). */
static void
guard_close_cb(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	guard_conn_release(arg);
}

/* The whole request did not arrive in time: a slow client (slowloris) loses its connection. */
static void
guard_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct guard_conn *c = arg;
	char addr[INET6_ADDRSTRLEN + 4] = "?";

	(void)fd;
	(void)what;
	c->g->st.timed_out++;
	if (c->addr != NULL)
		guard_addr_text(c->addr->key, addr, sizeof(addr));
	log_debug("connection from %s closed: no whole request within %d s", addr, c->g->cfg.request_timeout_s);
	/* runs guard_close_cb, which only queues c for the next loop turn */
	evhttp_connection_free(c->evcon);
}

/* Start the deadline of the request being received. */
static void
guard_arm(struct guard_conn *c)
{
	c->state = GUARD_RECEIVING;
	event_add(c->deadline, &c->g->timeout);
}

/* Bytes arrived: the first of a request on an idle keep-alive connection starts its deadline. */
static void
guard_input_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct guard_conn *c = arg;

	(void)buf;
	if (info->n_added > 0 && c->state == GUARD_IDLE)
		guard_arm(c);
}

/* The record of an evhttp connection, or NULL (not admitted, or already gone). */
static struct guard_conn *
guard_conn_find(struct http_guard *g, struct evhttp_connection *evcon)
{
	struct bufferevent *bev;
	evutil_socket_t fd;
	struct guard_conn *c;

	if (evcon == NULL || (bev = evhttp_connection_get_bufferevent(evcon)) == NULL)
		return NULL;
	fd = bufferevent_getfd(bev);
	if (fd < 0 || (size_t)fd >= g->nby_fd || (c = g->by_fd[fd]) == NULL || c->evcon != evcon)
		return NULL;
	return c;
}

/* The reply to a request went out whole: the connection is idle until its next request's first byte. */
static void
guard_complete_cb(struct evhttp_request *req, void *arg)
{
	struct guard_conn *c = guard_conn_find(arg, evhttp_request_get_connection(req));

	if (c == NULL)
		return;
	c->state = GUARD_IDLE;
	/* a pipelined request already waiting: its deadline counts from now, the end of the previous reply */
	if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
		guard_arm(c);
}

void
http_guard_request_begin(struct http_guard *g, struct evhttp_request *req)
{
	struct guard_conn *c;

	if (g == NULL || (c = guard_conn_find(g, evhttp_request_get_connection(req))) == NULL)
		return;
	event_del(c->deadline);
	c->state = GUARD_HANDLING;
	evhttp_request_set_on_complete_cb(req, guard_complete_cb, g);
}

/* A refused connection gets a 503 if its socket buffer takes it at once (it always does when empty), then closes. */
static void
guard_refuse(struct http_guard *g, struct evhttp_connection *evcon, evutil_socket_t fd, const unsigned char *key,
    const char *why)
{
	static const char reply[] = "HTTP/1.1 503 Service Unavailable\r\n"
	    "Content-Type: application/json; charset=utf-8\r\nContent-Length: 111\r\nConnection: close\r\n\r\n"
	    "{\"status\":503,\"error\":\"Service Unavailable\","
	    "\"response\":{\"message\":[\"Too many connections, try again shortly\"]}}";
	time_t now = time(NULL);
	char addr[INET6_ADDRSTRLEN + 4] = "?";

	if (fd >= 0)
		(void)send(fd, reply, sizeof(reply) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	g->st.refused++;
	g->refused_unlogged++;
	if (now - g->refused_logged >= GUARD_LOG_EVERY_S) {
		if (key != NULL)
			guard_addr_text(key, addr, sizeof(addr));
		log_warnx("refused a connection from %s: %s (%lu refused since the last such line; %lu open)", addr,
		    why, g->refused_unlogged, g->open);
		g->refused_logged = now;
		g->refused_unlogged = 0;
	}
	evhttp_connection_free(evcon);
}

/* Admit or refuse one new connection, now that evhttp has set it up and before it reads a byte. */
static void
guard_admit(struct http_guard *g, struct bufferevent *bev)
{
	struct evhttp_connection *evcon;
	struct guard_conn *c;
	struct guard_addr *a = NULL;
	unsigned char key[16];
	void *arg = NULL;
	evutil_socket_t fd;
	int have_key;

	/* evhttp makes the connection the bufferevent's callback argument (libevent 2.1 and 2.2); a connection that
	 * failed during its setup had its callbacks cleared by bufferevent_free. */
	bufferevent_getcb(bev, NULL, NULL, NULL, &arg);
	evcon = arg;
	if (evcon == NULL || evhttp_connection_get_bufferevent(evcon) != bev)
		return;
	fd = bufferevent_getfd(bev);
	if (fd < 0)
		return;
	have_key = guard_addr_key(evcon, fd, key) == 0;
	if (g->open >= (unsigned long)g->cfg.max_connections) {
		guard_refuse(g, evcon, fd, have_key ? key : NULL, "HTTP_MAX_CONNECTIONS reached");
		return;
	}
	if (have_key && (a = guard_addr_find(g, key, 0)) != NULL && a->count >= (unsigned)g->cfg.max_per_address) {
		guard_refuse(g, evcon, fd, key, "HTTP_MAX_CONNECTIONS_PER_IP reached");
		return;
	}
	if ((size_t)fd >= g->nby_fd) {
		size_t n = g->nby_fd == 0 ? 64 : g->nby_fd;

		while (n <= (size_t)fd)
			n *= 2;
		g->by_fd = xreallocarray(g->by_fd, n, sizeof(*g->by_fd));
		memset(g->by_fd + g->nby_fd, 0, (n - g->nby_fd) * sizeof(*g->by_fd));
		g->nby_fd = n;
	}
	/* A descriptor number is unique among open ones: a record still under it lost its close callback. */
	if (g->by_fd[fd] != NULL) {
		log_warnx("descriptor %d reused while still counted; released", (int)fd);
		guard_conn_release(g->by_fd[fd]);
	}
	c = xcalloc(1, sizeof(*c));
	c->g = g;
	c->evcon = evcon;
	c->bev = bev;
	c->fd = fd;
	if (have_key) {
		c->addr = a != NULL ? a : guard_addr_find(g, key, 1);
		c->addr->count++;
	}
	c->deadline = evtimer_new(g->base, guard_deadline_cb, c);
	if (c->deadline == NULL)
		fatalx("evtimer_new failed");
	c->watch = evbuffer_add_cb(bufferevent_get_input(bev), guard_input_cb, c);
	g->by_fd[fd] = c;
	g->open++;
	evhttp_connection_set_closecb(evcon, guard_close_cb, c);
	/* a new connection is not idle: its first request is due within the deadline, bytes or not */
	guard_arm(c);
}

/* Decide on every connection accepted since the last turn. */
static void
guard_admit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_guard *g = arg;
	size_t i;

	(void)fd;
	(void)what;
	for (i = 0; i < g->npending; i++) {
		guard_admit(g, g->pending[i]);
		bufferevent_decref(g->pending[i]);
	}
	g->npending = 0;
}

/*
 * evhttp asks for each accepted connection's bufferevent. The descriptor and the connection do not exist yet,
 * so the decision waits for guard_admit_cb later in this loop turn; the reference keeps the bufferevent valid
 * even if evhttp drops the connection before then.
 */
static struct bufferevent *
guard_bev_cb(struct event_base *base, void *arg)
{
	struct http_guard *g = arg;
	struct bufferevent *bev;

	if (g->paused && g->episode_logged)
		log_info("accepting connections again after %ld ms (%lu pauses, %lu open)",
		    guard_elapsed_ms(&g->episode_start), g->episode_pauses, g->open);
	g->paused = 0;
	/* the options evhttp uses for its own: it closes the descriptor itself */
	if ((bev = bufferevent_socket_new(base, -1, 0)) == NULL)
		return NULL;
	if (g->npending == g->cappending) {
		g->cappending = g->cappending == 0 ? 16 : g->cappending * 2;
		g->pending = xreallocarray(g->pending, g->cappending, sizeof(*g->pending));
	}
	bufferevent_incref(bev);
	g->pending[g->npending++] = bev;
	event_active(g->admit_ev, 0, 0);
	return bev;
}

/* The pause after an accept error is over: try accepting again. */
static void
guard_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_guard *g = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(g->lev);
}

/*
 * accept failed for a reason retrying cannot fix at once (EMFILE, ENFILE, ENOBUFS, ENOMEM...): the socket stays
 * readable, so the listener would spin. Rest it briefly; the episode is logged once when it starts and once
 * when a connection is accepted again.
 */
static void
guard_accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct http_guard *g;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval tv = { 0, GUARD_PAUSE_MS * 1000 };

	(void)arg;
	for (g = guards; g != NULL && g->lev != lev; g = g->next_guard)
		;
	if (g == NULL)
		fatalx("no guard for listener %p", (void *)lev);
	g->st.accept_pauses++;
	if (!g->paused) {
		time_t now = time(NULL);

		g->paused = 1;
		g->episode_pauses = 0;
		clock_gettime(CLOCK_MONOTONIC, &g->episode_start);
		/* descriptors freed a few at a time end an episode and start the next one at once: a start line
		 * (and its end line) at most every GUARD_LOG_EVERY_S, counting the episodes in between */
		g->episode_logged = now - g->pause_logged >= GUARD_LOG_EVERY_S;
		if (g->episode_logged) {
			log_warnx("accept: %s; pausing new connections for %d ms at a time until it succeeds"
			    " (%lu open; %lu earlier pauses not logged)", evutil_socket_error_to_string(err),
			    GUARD_PAUSE_MS, g->open, g->episodes_unlogged);
			g->pause_logged = now;
			g->episodes_unlogged = 0;
		} else
			g->episodes_unlogged++;
	}
	g->episode_pauses++;
	evconnlistener_disable(lev);
	evtimer_add(g->resume_ev, &tv);
}

/* See http_guard.h. */
struct http_guard *
http_guard_new(struct event_base *base, struct evhttp *http, struct evconnlistener *lev,
    const struct http_guard_config *cfg)
{
	struct http_guard *g;

	if (cfg->max_connections <= 0 || cfg->max_per_address <= 0 || cfg->request_timeout_s <= 0)
		return NULL;
	g = xcalloc(1, sizeof(*g));
	g->base = base;
	g->http = http;
	g->lev = lev;
	g->cfg = *cfg;
	g->timeout.tv_sec = cfg->request_timeout_s;
	TAILQ_INIT(&g->dead);
	for (g->nbuckets = 64; g->nbuckets < (size_t)cfg->max_connections && g->nbuckets < (1U << 20);)
		g->nbuckets *= 2;
	g->buckets = xcalloc(g->nbuckets, sizeof(*g->buckets));
	evutil_secure_rng_get_bytes(&g->seed, sizeof(g->seed));
	g->admit_ev = event_new(base, -1, 0, guard_admit_cb, g);
	g->reap_ev = event_new(base, -1, 0, guard_reap_cb, g);
	g->resume_ev = evtimer_new(base, guard_resume_cb, g);
	if (g->admit_ev == NULL || g->reap_ev == NULL || g->resume_ev == NULL) {
		http_guard_free(g);
		return NULL;
	}
	evhttp_set_bevcb(http, guard_bev_cb, g);
	evconnlistener_set_error_cb(lev, guard_accept_error_cb);
	g->next_guard = guards;
	guards = g;
	return g;
}

void
http_guard_free(struct http_guard *g)
{
	struct http_guard **gp;
	size_t i;

	if (g == NULL)
		return;
	for (gp = &guards; *gp != NULL; gp = &(*gp)->next_guard)
		if (*gp == g) {
			*gp = g->next_guard;
			break;
		}
	for (i = 0; i < g->npending; i++)
		bufferevent_decref(g->pending[i]);
	free(g->pending);
	/* connections evhttp still holds (only when called before evhttp_free) stop reporting to us */
	for (i = 0; i < g->nby_fd; i++)
		if (g->by_fd[i] != NULL) {
			evhttp_connection_set_closecb(g->by_fd[i]->evcon, NULL, NULL);
			guard_conn_release(g->by_fd[i]);
		}
	guard_reap_cb(-1, 0, g);
	free(g->by_fd);
	for (i = 0; i < g->nbuckets; i++)
		while (g->buckets[i] != NULL) {
			struct guard_addr *a = g->buckets[i];

			g->buckets[i] = a->next;
			free(a);
		}
	free(g->buckets);
	if (g->admit_ev != NULL)
		event_free(g->admit_ev);
	if (g->reap_ev != NULL)
		event_free(g->reap_ev);
	if (g->resume_ev != NULL)
		event_free(g->resume_ev);
	free(g);
}

void
http_guard_get_stats(const struct http_guard *g, struct http_guard_stats *st)
{
	*st = g->st;
	st->open = g->open;
}
