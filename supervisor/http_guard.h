/*
 * The HTTP listener's defences (issue 11): a total and a per-address connection cap checked as each connection
 * is accepted, a deadline for receiving each whole request, and accept errors (EMFILE and friends) turned into
 * short pauses of the listener instead of a busy loop.
 *
 * It hooks evhttp (libevent 2.1) from outside: evhttp_set_bevcb hands it every new connection's bufferevent,
 * the connection is looked at once evhttp has finished setting it up (same loop turn, before any byte is read),
 * evhttp_connection_set_closecb tells it when the connection goes, and http.c reports each request it starts
 * handling (http_guard_request_begin).
 */
#ifndef WAGATE_HTTP_GUARD_H
#define WAGATE_HTTP_GUARD_H

struct event_base;
struct evhttp;
struct evhttp_request;
struct evconnlistener;

struct http_guard_config {
	int max_connections;		/* > 0 */
	int max_per_address;		/* > 0 */
	int request_timeout_s;		/* > 0: from accept, or from a request's first byte, to the whole request */
};

struct http_guard_stats {
	unsigned long open;		/* connections held now */
	unsigned long refused;		/* connections closed at accept for a cap */
	unsigned long timed_out;	/* connections closed at the request deadline */
	unsigned long accept_pauses;	/* times the listener paused after an accept error */
};

/* Attach to http (before the loop runs) and to its listener. NULL on failure (nothing attached). */
struct http_guard *http_guard_new(struct event_base *base, struct evhttp *http, struct evconnlistener *lev,
    const struct http_guard_config *cfg);
/* Call after evhttp_free: evhttp calls back into the guard while it closes its connections. */
void http_guard_free(struct http_guard *g);
/* The request has been read whole and is handed to a route: its deadline stops; the next one starts with the
 * next request's first byte. */
void http_guard_request_begin(struct http_guard *g, struct evhttp_request *req);
void http_guard_get_stats(const struct http_guard *g, struct http_guard_stats *st);

/*
 * The default connection cap for a process allowed nofile descriptors, keeping reserve for everything else
 * (PostgreSQL, webhook transfers, workers' sockets): half of what is left, so workers keep the other half;
 * at least 16.
 */
int http_guard_default_max(unsigned long nofile, unsigned long reserve);

#endif
