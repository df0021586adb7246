/* The HTTP front: evhttp server, route table, authentication, and Evolution-shaped replies. */
#ifndef WAGATE_HTTP_H
#define WAGATE_HTTP_H

#include <sys/queue.h>

#include <json-c/json.h>

struct app;
struct evbuffer;
struct evhttp_request;
struct instance;

/* One request in flight. Freed by the reply helpers. */
struct http_call {
	struct app *app;
	struct evhttp_request *req;	/* NULL once http_stop took the server away: a reply then only frees the call */
	LIST_ENTRY(http_call) entry;	/* app->http_calls, until answered or detached by http_stop */
	const char *method;		/* "GET", ... */
	char *path;			/* decoded path without query */
	char *name;			/* :instanceName, or NULL */
	struct json_object *body;	/* parsed JSON object, or NULL when there was no body */
	struct json_object *query;	/* query parameters as a JSON object of strings */
	struct instance *inst;		/* resolved instance for per-instance routes */
	int global;			/* authenticated with the global key */
	char *token;			/* the apikey presented (instance-token callers of fetchInstances) */
};

int http_start(struct app *app, const char *addr, int port);
/* Free the server and its connections. A call still waiting for its answer (a worker's, PostgreSQL's) is detached:
 * its reply, whenever it comes, sends nothing and frees the call (the client saw its connection close). */
void http_stop(struct app *app);

/* Replies; each frees the call. obj ownership passes to the helper. */
void http_reply_json(struct http_call *c, int code, struct json_object *obj);
/* text is JSON built elsewhere (PostgreSQL); it is sent compact, as JSON.stringify writes it */
void http_reply_raw_json(struct http_call *c, int code, const char *text);
/* JSON text already in buf (large bodies: no copy; buf is left empty, the caller frees it). */
void http_reply_json_buffer(struct http_call *c, int code, struct evbuffer *buf);
void http_reply_text(struct http_call *c, int code, const char *content_type, const char *text);
/* {"status":code,"error":"<phrase>","response":{"message":payload}} */
void http_reply_error(struct http_call *c, int code, struct json_object *payload);
/* payload = ["msg"] */
void http_reply_error_msg(struct http_call *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* 400 with payload = [[msgs...]] (schema failures). */
void http_reply_validation(struct http_call *c, struct json_object *msgs);
/* 503 for a database or worker outage. */
void http_reply_unavailable(struct http_call *c, const char *what);
void http_call_free(struct http_call *c);
/* Find a query parameter (NULL if absent). */
const char *http_query(const struct http_call *c, const char *key);

#endif
