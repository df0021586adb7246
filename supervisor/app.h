/* The supervisor's modules, wired together once in main.c and passed to every handler. */
#ifndef WAGATE_APP_H
#define WAGATE_APP_H

#include <sys/queue.h>
#include <time.h>

struct event_base;
struct evhttp;
struct http_guard;
struct config;
struct db;
struct workers;
struct webhook;
struct registry;
struct evdns_base;
struct lifecycle;
struct manager;
struct http_call;
struct msg_typing;

struct app {
	struct event_base *base;
	struct config *cfg;
	struct db *db;
	struct workers *workers;
	struct webhook *webhook;
	struct registry *reg;
	struct evhttp *http;
	struct http_guard *http_guard;	/* connection caps and request deadlines of http (http_guard.h) */
	struct evdns_base *dns;
	struct lifecycle *lc;		/* the only writer of instance state (lifecycle_new) */
	struct manager *manager;	/* the /manager page, or NULL when its directory is unusable */
	LIST_HEAD(http_calls, http_call) http_calls;	/* requests not answered yet (http.c) */
	LIST_HEAD(msg_typings, msg_typing) typings;	/* typing delays under way (msg_typing.c) */
	time_t started;
	unsigned long http_requests;
	unsigned long http_errors;
	unsigned long state_changes;
	int shutting_down;
};

#endif
