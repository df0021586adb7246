#include "http.h"
#include "app.h"
#include "b64.h"
#include "http_guard.h"
#include "config.h"
#include "http_framing.h"
#include "json_strict.h"
#include "log.h"
#include "registry.h"
#include "routes.h"
#include "urlencoded.h"
#include "utf8.h"
#include "xmalloc.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum auth_kind {
	AUTH_NONE,	/* public */
	AUTH_GLOBAL,	/* global key only */
	AUTH_FETCH,	/* global key, or any instance token (narrowed by the handler) */
	AUTH_INSTANCE,	/* global key or this instance's token; :instanceName required */
	AUTH_METRICS,	/* global key, or METRICS_USER/METRICS_PASSWORD by HTTP basic auth when configured */
};

struct route {
	enum evhttp_cmd_type method;
	const char *prefix;	/* exact path, or prefix followed by the instance name when AUTH_INSTANCE */
	enum auth_kind auth;
	void (*fn)(struct http_call *);
};

static const struct route routes[] = {
	{ EVHTTP_REQ_GET, "/", AUTH_NONE, route_root },
	{ EVHTTP_REQ_GET, "/health", AUTH_NONE, route_health },
	{ EVHTTP_REQ_GET, "/metrics", AUTH_METRICS, route_metrics },
	{ EVHTTP_REQ_GET, "/manager", AUTH_NONE, route_manager },
	{ EVHTTP_REQ_GET, "/manager/", AUTH_NONE, route_manager },	/* /manager/<file>: the name in c->name */
	{ EVHTTP_REQ_POST, "/instance/create", AUTH_GLOBAL, route_instance_create },
	{ EVHTTP_REQ_GET, "/instance/fetchInstances", AUTH_FETCH, route_instance_fetch },
	{ EVHTTP_REQ_GET, "/instance/connect/", AUTH_INSTANCE, route_instance_connect },
	{ EVHTTP_REQ_GET, "/instance/connectionState/", AUTH_INSTANCE, route_instance_state },
	{ EVHTTP_REQ_POST, "/instance/restart/", AUTH_INSTANCE, route_instance_restart },
	{ EVHTTP_REQ_POST, "/instance/setPresence/", AUTH_INSTANCE, route_instance_presence },
	{ EVHTTP_REQ_DELETE, "/instance/logout/", AUTH_INSTANCE, route_instance_logout },
	{ EVHTTP_REQ_DELETE, "/instance/delete/", AUTH_INSTANCE, route_instance_delete },
	{ EVHTTP_REQ_POST, "/settings/set/", AUTH_INSTANCE, route_settings_set },
	{ EVHTTP_REQ_GET, "/settings/find/", AUTH_INSTANCE, route_settings_find },
	{ EVHTTP_REQ_POST, "/webhook/set/", AUTH_INSTANCE, route_webhook_set },
	{ EVHTTP_REQ_GET, "/webhook/find/", AUTH_INSTANCE, route_webhook_find },
	{ EVHTTP_REQ_POST, "/proxy/set/", AUTH_INSTANCE, route_proxy_set },
	{ EVHTTP_REQ_GET, "/proxy/find/", AUTH_INSTANCE, route_proxy_find },
	/* issue 10: what Evolution answers for its other transports (disabled) and its manager's login */
	{ EVHTTP_REQ_POST, "/websocket/set/", AUTH_INSTANCE, route_transport_set },
	{ EVHTTP_REQ_GET, "/websocket/find/", AUTH_INSTANCE, route_transport_find },
	{ EVHTTP_REQ_POST, "/rabbitmq/set/", AUTH_INSTANCE, route_transport_set },
	{ EVHTTP_REQ_GET, "/rabbitmq/find/", AUTH_INSTANCE, route_transport_find },
	{ EVHTTP_REQ_POST, "/sqs/set/", AUTH_INSTANCE, route_transport_set },
	{ EVHTTP_REQ_GET, "/sqs/find/", AUTH_INSTANCE, route_transport_find },
	{ EVHTTP_REQ_POST, "/verify-creds", AUTH_GLOBAL, route_verify_creds },
	/* issue 9: the chat read routes over the stored tables */
	{ EVHTTP_REQ_POST, "/chat/findMessages/", AUTH_INSTANCE, route_chat_find_messages },
	{ EVHTTP_REQ_POST, "/chat/findChats/", AUTH_INSTANCE, route_chat_find_chats },
	{ EVHTTP_REQ_POST, "/chat/findContacts/", AUTH_INSTANCE, route_chat_find_contacts },
	/* issue 9: messaging through the instance's worker */
	{ EVHTTP_REQ_POST, "/message/sendText/", AUTH_INSTANCE, route_message_send_text },
	{ EVHTTP_REQ_POST, "/chat/whatsappNumbers/", AUTH_INSTANCE, route_chat_whatsapp_numbers },
	{ EVHTTP_REQ_POST, "/chat/markMessageAsRead/", AUTH_INSTANCE, route_chat_mark_read },
	{ EVHTTP_REQ_POST, "/chat/sendPresence/", AUTH_INSTANCE, route_chat_send_presence },
	/* issue 9: groups (routes_group.c) */
	{ EVHTTP_REQ_POST, "/group/create/", AUTH_INSTANCE, route_group_create },
	{ EVHTTP_REQ_GET, "/group/findGroupInfos/", AUTH_INSTANCE, route_group_find_info },
	{ EVHTTP_REQ_GET, "/group/fetchAllGroups/", AUTH_INSTANCE, route_group_fetch_all },
	{ EVHTTP_REQ_GET, "/group/participants/", AUTH_INSTANCE, route_group_participants },
};

static const char *
http_method_name(enum evhttp_cmd_type t)
{
	switch (t) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_PATCH: return "PATCH";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	default: return "OTHER";
	}
}

/* Every status we send with its standard reason phrase (Node's http.STATUS_CODES, which Express sends). */
static const struct {
	int code;
	const char *phrase;
} http_reasons[] = {
	{ 200, "OK" }, { 201, "Created" }, { 202, "Accepted" }, { 204, "No Content" },
	{ 301, "Moved Permanently" }, { 302, "Found" }, { 304, "Not Modified" },
	{ 400, "Bad Request" }, { 401, "Unauthorized" }, { 403, "Forbidden" }, { 404, "Not Found" },
	{ 405, "Method Not Allowed" }, { 406, "Not Acceptable" }, { 408, "Request Timeout" }, { 409, "Conflict" },
	{ 410, "Gone" }, { 411, "Length Required" }, { 412, "Precondition Failed" }, { 413, "Payload Too Large" },
	{ 414, "URI Too Long" }, { 415, "Unsupported Media Type" }, { 422, "Unprocessable Entity" },
	{ 423, "Locked" }, { 425, "Too Early" }, { 428, "Precondition Required" }, { 429, "Too Many Requests" },
	{ 431, "Request Header Fields Too Large" },
	{ 500, "Internal Server Error" }, { 501, "Not Implemented" }, { 502, "Bad Gateway" },
	{ 503, "Service Unavailable" }, { 504, "Gateway Timeout" }, { 507, "Insufficient Storage" },
};

/* The reason phrase of code, for the status line and the error body's "error". */
static const char *
http_reason(int code)
{
	size_t i;

	for (i = 0; i < sizeof(http_reasons) / sizeof(http_reasons[0]); i++)
		if (http_reasons[i].code == code)
			return http_reasons[i].phrase;
	return "Unknown";
}

/* Constant-time string equality: the time depends only on the presented key's length. */
static int
http_key_equal(const char *presented, const char *expected)
{
	size_t pl = strlen(presented), el = strlen(expected), i;
	unsigned char diff = (unsigned char)(pl != el);

	for (i = 0; i < pl; i++)
		diff |= (unsigned char)presented[i] ^ (unsigned char)(i < el ? expected[i] : 0);
	return diff == 0;
}

void
http_call_free(struct http_call *c)
{
	if (c == NULL)
		return;
	if (c->entry.le_prev != NULL)
		LIST_REMOVE(c, entry);
	free(c->path);
	free(c->name);
	free(c->token);
	json_object_put(c->body);
	json_object_put(c->query);
	free(c);
}

/*
 * Whether a browser page from origin may call us: CORS_ORIGIN allows it, or it is our own origin (a page the
 * supervisor serves calls the API with an Origin header that names the Host it was loaded from).
 */
static int
http_origin_allowed(struct evhttp_request *req, const struct config *cfg, const char *origin)
{
	const char *host = evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
	const char *p = strstr(origin, "://");

	if (config_cors_origin_allowed(cfg, origin))
		return 1;
	return host != NULL && p != NULL && strcasecmp(p + 3, host) == 0;
}

/*
 * The CORS headers as Evolution's cors middleware sets them: an allowed request Origin echoed (with the
 * credentials flag "*" cannot be sent), the credentials flag, and Vary: Origin; a preflight adds the
 * methods and echoes the requested headers.
 */
static void
http_add_cors(struct http_call *c, int preflight)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(c->req);
	struct evkeyvalq *out = evhttp_request_get_output_headers(c->req);
	const struct config *cfg = c->app->cfg;
	const char *origin = evhttp_find_header(in, "Origin"), *asked;

	if (origin != NULL && http_origin_allowed(c->req, cfg, origin))
		evhttp_add_header(out, "Access-Control-Allow-Origin", origin);
	if (cfg->cors_credentials)
		evhttp_add_header(out, "Access-Control-Allow-Credentials", "true");
	if (!preflight) {
		evhttp_add_header(out, "Vary", "Origin");
		return;
	}
	evhttp_add_header(out, "Access-Control-Allow-Methods", cfg->cors_methods);
	if ((asked = evhttp_find_header(in, "Access-Control-Request-Headers")) != NULL && *asked != '\0')
		evhttp_add_header(out, "Access-Control-Allow-Headers", asked);
	evhttp_add_header(out, "Vary", "Origin, Access-Control-Request-Headers");
}

/*
 * Send the reply and free the call. Content-Length is always set by us: libevent leaves it out of HEAD and
 * 204 answers, and a keep-alive client needs it. HEAD gets GET's headers without the body.
 */
static void
http_send_buffer(struct http_call *c, int code, const char *content_type, struct evbuffer *buf)
{
	struct evkeyvalq *out;
	char clen[24];

	if (c->req == NULL) {	/* detached by http_stop: the request went with the server */
		evbuffer_drain(buf, evbuffer_get_length(buf));
		http_call_free(c);
		return;
	}
	out = evhttp_request_get_output_headers(c->req);
	if (content_type != NULL) {
		evhttp_add_header(out, "Content-Type", content_type);
		evhttp_add_header(out, "Cache-Control", "no-store");
	}
	http_add_cors(c, 0);
	snprintf(clen, sizeof(clen), "%zu", evbuffer_get_length(buf));
	evhttp_remove_header(out, "Content-Length");
	evhttp_add_header(out, "Content-Length", clen);
	if (evhttp_request_get_command(c->req) == EVHTTP_REQ_HEAD)
		evbuffer_drain(buf, evbuffer_get_length(buf));
	if (code >= 400)
		c->app->http_errors++;
	evhttp_send_reply(c->req, code, http_reason(code), buf);
	http_call_free(c);
}

/* Send len bytes of data as the body (see http_send_buffer). */
static void
http_send(struct http_call *c, int code, const char *content_type, const char *data, size_t len)
{
	struct evbuffer *buf = evbuffer_new();

	evbuffer_add(buf, data, len);
	http_send_buffer(c, code, content_type, buf);
	evbuffer_free(buf);
}

void
http_reply_json_buffer(struct http_call *c, int code, struct evbuffer *buf)
{
	struct evhttp_connection *conn = c->req != NULL ? evhttp_request_get_connection(c->req) : NULL;
	struct bufferevent *bev = conn != NULL ? evhttp_connection_get_bufferevent(conn) : NULL;
	size_t len = evbuffer_get_length(buf);

	/* libevent writes 16 KiB per loop turn by default: a 1 MB list would take 64 turns, each with its own
	 * epoll_wait, interleaved with every other connection's. */
	if (bev != NULL && len > 16384)
		bufferevent_set_max_single_write(bev, len > (1U << 22) ? (ev_ssize_t)(1U << 22) : (ev_ssize_t)len);
	http_send_buffer(c, code, "application/json; charset=utf-8", buf);
}

/* OPTIONS on any path: the CORS preflight, answered before routing and authentication as the cors middleware does. */
static void
http_reply_preflight(struct http_call *c)
{
	struct evbuffer *buf = evbuffer_new();
	struct evkeyvalq *out = evhttp_request_get_output_headers(c->req);

	http_add_cors(c, 1);
	evhttp_add_header(out, "Content-Length", "0");
	evhttp_send_reply(c->req, 204, http_reason(204), buf);
	evbuffer_free(buf);
	http_call_free(c);
}

/*
 * JSON text as Express's JSON.stringify writes it: PostgreSQL's json_build_object writes "k" : v, ", ";
 * dropping the whitespace outside strings is enough, keeps key order and number spelling, and costs one pass.
 * The text is our own queries' output, so it is valid JSON.
 */
static char *
http_json_compact(const char *text, size_t *outlen)
{
	size_t n = strlen(text), i, o = 0;
	char *out = xmalloc(n + 1);
	int in_str = 0;

	for (i = 0; i < n; i++) {
		char ch = text[i];

		if (in_str) {
			out[o++] = ch;
			if (ch == '\\' && i + 1 < n)
				out[o++] = text[++i];
			else if (ch == '"')
				in_str = 0;
			continue;
		}
		if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t')
			continue;
		if (ch == '"')
			in_str = 1;
		out[o++] = ch;
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

/* JSON text built elsewhere (PostgreSQL), sent compact. */
void
http_reply_raw_json(struct http_call *c, int code, const char *text)
{
	size_t len;
	char *compact = http_json_compact(text, &len);

	http_send(c, code, "application/json; charset=utf-8", compact, len);
	free(compact);
}

void
http_reply_text(struct http_call *c, int code, const char *content_type, const char *text)
{
	http_send(c, code, content_type, text, strlen(text));
}

void
http_reply_json(struct http_call *c, int code, struct json_object *obj)
{
	size_t len;
	const char *s = json_object_to_json_string_length(obj,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);

	http_send(c, code, "application/json; charset=utf-8", s, len);
	json_object_put(obj);
}

void
http_reply_error(struct http_call *c, int code, struct json_object *payload)
{
	struct json_object *o = json_object_new_object(), *r = json_object_new_object();

	json_object_object_add(o, "status", json_object_new_int(code));
	json_object_object_add(o, "error", json_object_new_string(http_reason(code)));
	json_object_object_add(r, "message", payload);
	json_object_object_add(o, "response", r);
	http_reply_json(c, code, o);
}

void
http_reply_error_msg(struct http_call *c, int code, const char *fmt, ...)
{
	struct json_object *arr = json_object_new_array();
	char *msg;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		fatal("vasprintf");
	va_end(ap);
	json_object_array_add(arr, json_object_new_string(msg));
	free(msg);
	http_reply_error(c, code, arr);
}

void
http_reply_validation(struct http_call *c, struct json_object *msgs)
{
	struct json_object *outer = json_object_new_array();

	json_object_array_add(outer, msgs);
	http_reply_error(c, 400, outer);
}

void
http_reply_unavailable(struct http_call *c, const char *what)
{
	http_reply_error_msg(c, 503, "%s unavailable, try again shortly", what);
}

const char *
http_query(const struct http_call *c, const char *key)
{
	struct json_object *v;

	if (c->query == NULL || !json_object_object_get_ex(c->query, key, &v))
		return NULL;
	return json_object_get_string(v);
}

/*
 * The query parameters into *out as a JSON object of strings. Returns -1 (and no object) when one would not
 * arrive whole: %00 decodes to a NUL that would cut it short, and a value that is not UTF-8 cannot be
 * matched, stored or echoed in a JSON reply.
 */
static int
http_parse_query(const char *query, struct json_object **out)
{
	struct json_object *q;
	struct evkeyvalq kv;
	struct evkeyval *p;
	int bad = 0;

	*out = json_object_new_object();
	if (query == NULL)
		return 0;
	if (strcasestr(query, "%00") != NULL)
		bad = 1;
	q = *out;
	TAILQ_INIT(&kv);
	if (!bad && evhttp_parse_query_str(query, &kv) == 0)
		TAILQ_FOREACH(p, &kv, next) {
			if (!utf8_valid(p->key, strlen(p->key), NULL) || !utf8_valid(p->value, strlen(p->value), NULL)) {
				bad = 1;
				break;
			}
			json_object_object_add(q, p->key, json_object_new_string(p->value));
		}
	evhttp_clear_headers(&kv);
	if (bad) {
		json_object_put(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* Whether the body is declared a form (the media type only: "; charset=..." and case do not matter). */
static int
http_body_is_form(struct evhttp_request *req)
{
	static const char form[] = "application/x-www-form-urlencoded";
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");

	if (ct == NULL)
		return 0;
	ct += strspn(ct, " \t");
	if (strncasecmp(ct, form, sizeof(form) - 1) != 0)
		return 0;
	ct += sizeof(form) - 1;
	ct += strspn(ct, " \t");
	return *ct == '\0' || *ct == ';';
}

/* A form body read into the JSON object the routes validate. Returns -1 after replying when it is refused. */
static int
http_parse_form(struct http_call *c, const char *data, size_t len)
{
	char err[160];

	if (urlencoded_parse(data, len, &c->body, err, sizeof(err)) == 0)
		return 0;
	/* body-parser answers 413 for too many parameters */
	if (errno == E2BIG)
		http_reply_error_msg(c, 413, "Invalid urlencoded body: %s", err);
	else
		http_reply_error_msg(c, 400, "Invalid urlencoded body: %s", err);
	return -1;
}

/*
 * Parse the body into a JSON object: a form when the Content-Type says so (Evolution's urlencoded parser),
 * JSON otherwise, held to RFC 8259 (json_strict.h). A "form" that starts with '{' is read as JSON, since curl -d
 * sends JSON with the form type and wagate always accepted that. Returns -1 after replying 400 when the body
 * is neither.
 */
static int
http_parse_body(struct http_call *c)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(c->req);
	size_t len = evbuffer_get_length(in);
	const char *data;
	char err[160];

	if (len == 0)
		return 0;
	data = (const char *)evbuffer_pullup(in, -1);
	if (http_body_is_form(c->req)) {
		size_t lead = 0;

		while (lead < len && strchr(" \t\r\n", data[lead]) != NULL && data[lead] != '\0')
			lead++;
		if (lead == len || data[lead] != '{')
			return http_parse_form(c, data, len);
	}
	if (json_strict_parse(data, len, &c->body, err, sizeof(err)) == -1) {
		http_reply_error_msg(c, 400, "Invalid JSON body: %s", err);
		return -1;
	}
	if (c->body == NULL || !json_object_is_type(c->body, json_type_object)) {
		http_reply_error_msg(c, 400, "The request body must be a JSON object");
		return -1;
	}
	return 0;
}

/*
 * Whether path is route r's, as Express 4's router defaults match: letters in any case, one trailing slash
 * ignored. A prefix ending in '/' (but "/") takes one more segment into *name, case kept: the instance name or
 * the manager file.
 */
static int
http_route_match(const struct route *r, const char *path, char **name)
{
	size_t pl = strlen(r->prefix), n;
	const char *rest;

	if (strncasecmp(path, r->prefix, pl) != 0)
		return 0;
	rest = path + pl;
	if (pl == 1 || r->prefix[pl - 1] != '/')
		return *rest == '\0' || (pl > 1 && strcmp(rest, "/") == 0);
	n = strcspn(rest, "/");
	if (n == 0 || (rest[n] != '\0' && strcmp(rest + n, "/") != 0))
		return 0;
	*name = xstrndup(rest, n);
	return 1;
}

static void
http_unauthorized(struct http_call *c)
{
	http_reply_error(c, 401, json_object_new_string("Unauthorized"));
}

/* A request whose framing is in doubt: the error, then the connection closed, since what follows on it cannot be
 * trusted to start a request. */
static void
http_reply_close(struct http_call *c, int code, const char *msg)
{
	evhttp_add_header(evhttp_request_get_output_headers(c->req), "Connection", "close");
	http_reply_error_msg(c, code, "%s", msg);
}

#define HTTP_BASIC_MAX	1024	/* longest Authorization: Basic credential decoded */

/* Whether the request carries METRICS_USER and METRICS_PASSWORD by HTTP basic auth (RFC 7617), when configured. */
static int
http_metrics_basic_ok(struct http_call *c)
{
	const struct config *cfg = c->app->cfg;
	const char *auth = evhttp_find_header(evhttp_request_get_input_headers(c->req), "Authorization");
	char buf[HTTP_BASIC_MAX + 1], *colon;
	size_t n, len;
	int ok;

	if (cfg->metrics_user == NULL || auth == NULL || strncasecmp(auth, "Basic", 5) != 0 ||
	    (auth[5] != ' ' && auth[5] != '\t'))
		return 0;
	auth += 5 + strspn(auth + 5, " \t");
	n = strlen(auth);
	if (b64_decoded_max(n) > HTTP_BASIC_MAX || b64_decode(auth, n, buf, HTTP_BASIC_MAX, &len) == -1)
		return 0;
	buf[len] = '\0';
	/* a NUL would end the user or the password early for the comparison below */
	if (memchr(buf, '\0', len) != NULL || (colon = strchr(buf, ':')) == NULL) {
		explicit_bzero(buf, sizeof(buf));
		return 0;
	}
	*colon = '\0';
	/* both compared every time, so the time does not tell which one was wrong */
	ok = http_key_equal(buf, cfg->metrics_user);
	ok &= http_key_equal(colon + 1, cfg->metrics_password);
	explicit_bzero(buf, sizeof(buf));
	return ok;
}

static void
http_request_cb(struct evhttp_request *req, void *arg)
{
	struct app *app = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *rawpath = evhttp_uri_get_path(uri), *key, *origin;
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	struct http_call *c = xcalloc(1, sizeof(*c));
	const struct route *rt = NULL;
	char err[160];
	size_t i, plen = 0;
	int code;

	/* read whole: the request deadline stops here */
	http_guard_request_begin(app->http_guard, req);
	app->http_requests++;
	c->app = app;
	c->req = req;
	LIST_INSERT_HEAD(&app->http_calls, c, entry);
	c->method = http_method_name(method);
	/* before anything else: libevent has read the body one way, the client may have meant another */
	if (http_framing_check(evhttp_request_get_input_headers(req), &code, err, sizeof(err)) == -1) {
		c->path = xstrdup("/");
		http_reply_close(c, code, err);
		return;
	}
	c->path = evhttp_uridecode(rawpath != NULL && *rawpath != '\0' ? rawpath : "/", 0, &plen);
	if (c->path == NULL)
		c->path = xstrdup("/");
	else if (strlen(c->path) != plen || !utf8_valid(c->path, plen, NULL)) {
		/* %00 would cut an instance name short; other bytes could not be matched or echoed in JSON */
		free(c->path);
		c->path = xstrdup("/");
		http_reply_error_msg(c, 400, "The request path must be UTF-8 without NUL characters (%%00)");
		return;
	}
	if (method == EVHTTP_REQ_OPTIONS) {
		http_reply_preflight(c);
		return;
	}
	if ((origin = evhttp_find_header(evhttp_request_get_input_headers(req), "Origin")) != NULL &&
	    !http_origin_allowed(req, app->cfg, origin)) {
		/* Evolution's cors callback fails the request (500, this message as a string); 403 says why */
		http_reply_error(c, 403, json_object_new_string("Not allowed by CORS"));
		return;
	}
	/* before routing: the 404 message echoes the query */
	if (http_parse_query(evhttp_uri_get_query(uri), &c->query) == -1) {
		http_reply_error_msg(c, 400, "Query parameters must be UTF-8 without NUL characters (%%00)");
		return;
	}
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct route *r = &routes[i];

		/* Express answers HEAD with the GET route */
		if (r->method != method && !(method == EVHTTP_REQ_HEAD && r->method == EVHTTP_REQ_GET))
			continue;
		if (http_route_match(r, c->path, &c->name)) {
			rt = r;
			break;
		}
	}
	if (rt == NULL) {
		const char *full = evhttp_request_get_uri(req);
		http_reply_error_msg(c, 404, "Cannot %s %s", c->method, full != NULL ? full : c->path);
		return;
	}

	/* Authentication comes before existence, so an unauthenticated caller cannot probe names. The global key
	 * is noted on public routes too: /health shows counts only to it. */
	key = evhttp_find_header(evhttp_request_get_input_headers(req), "apikey");
	c->global = key != NULL && *key != '\0' && http_key_equal(key, app->cfg->api_key);
	if (rt->auth == AUTH_METRICS) {
		if (!c->global && !http_metrics_basic_ok(c)) {
			if (app->cfg->metrics_user != NULL)
				evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
				    "Basic realm=\"wagate metrics\", charset=\"UTF-8\"");
			http_unauthorized(c);
			return;
		}
	} else if (rt->auth != AUTH_NONE) {
		int is_global = c->global;

		if (key == NULL || *key == '\0') {
			http_unauthorized(c);
			return;
		}
		c->token = xstrdup(key);
		switch (rt->auth) {
		case AUTH_GLOBAL:
			if (!is_global) {
				http_unauthorized(c);
				return;
			}
			break;
		case AUTH_FETCH:
			break;	/* the handler narrows token callers to their own instances */
		case AUTH_INSTANCE:
			c->inst = registry_find(app->reg, c->name);
			if (!is_global && (c->inst == NULL || !http_key_equal(key, c->inst->token))) {
				http_unauthorized(c);
				return;
			}
			if (c->inst == NULL || c->inst->deleting) {
				http_reply_error_msg(c, 404, "The \"%s\" instance does not exist", c->name);
				return;
			}
			break;
		default:
			break;
		}
	}
	if (http_parse_body(c) == -1)
		return;
	rt->fn(c);
}

/*
 * The connection caps in effect: the configured ones, or HTTP_MAX_CONNECTIONS from RLIMIT_NOFILE less a reserve
 * of 64 descriptors for the process itself (log, epoll, signals, DNS), 128 for one accept burst (connections
 * evhttp accepts in one loop turn before the guard refuses the surplus), one per PostgreSQL connection and one
 * per parallel webhook transfer; workers' sockets share the other half (http_guard_default_max).
 */
static void
http_guard_config_get(const struct config *cfg, struct http_guard_config *gc)
{
	unsigned long reserve = 64 + 128 + (unsigned long)cfg->db_pool_size + (unsigned long)cfg->webhook_concurrency;
	struct rlimit rl;
	unsigned long nofile = 1024;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		nofile = rl.rlim_cur == RLIM_INFINITY ? 1UL << 20 : (unsigned long)rl.rlim_cur;
	gc->max_connections = cfg->http_max_connections > 0 ? cfg->http_max_connections :
	    http_guard_default_max(nofile, reserve);
	gc->max_per_address = cfg->http_max_connections_per_ip > 0 ? cfg->http_max_connections_per_ip :
	    (gc->max_connections + 1) / 2;
	if (gc->max_per_address > gc->max_connections)
		gc->max_per_address = gc->max_connections;
	gc->request_timeout_s = cfg->http_request_timeout_s;
	if ((unsigned long)gc->max_connections + reserve > nofile)
		log_warnx("HTTP_MAX_CONNECTIONS %d with RLIMIT_NOFILE %lu leaves fewer than %lu descriptors for the rest:"
		    " accepts may fail (EMFILE) and pause the listener", gc->max_connections, nofile, reserve);
	log_info("HTTP: at most %d connections, %d per client address, %d s per request", gc->max_connections,
	    gc->max_per_address, gc->request_timeout_s);
}

int
http_start(struct app *app, const char *addr, int port)
{
	struct evhttp_bound_socket *bound;
	struct http_guard_config gc;
	int one = 1;

	LIST_INIT(&app->http_calls);
	app->http = evhttp_new(app->base);
	if (app->http == NULL)
		return -1;
	evhttp_set_max_body_size(app->http, (ev_ssize_t)app->cfg->max_body_bytes);
	evhttp_set_max_headers_size(app->http, 64 * 1024);
	evhttp_set_timeout(app->http, 60);
	evhttp_set_allowed_methods(app->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
	    EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD | EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
	evhttp_set_gencb(app->http, http_request_cb, app);
	if ((bound = evhttp_bind_socket_with_handle(app->http, addr, (ev_uint16_t)port)) == NULL) {
		evhttp_free(app->http);
		app->http = NULL;
		return -1;
	}
	/* Accepted connections inherit it (Linux): a large reply's last segment must not wait for the client's
	 * delayed ACK (40 ms per fetchInstances of 1,000 instances on a keep-alive connection). */
	if (setsockopt(evhttp_bound_socket_get_fd(bound), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1)
		log_warn("TCP_NODELAY");
	http_guard_config_get(app->cfg, &gc);
	if ((app->http_guard = http_guard_new(app->base, app->http, evhttp_bound_socket_get_listener(bound),
	    &gc)) == NULL) {
		evhttp_free(app->http);
		app->http = NULL;
		return -1;
	}
	return 0;
}

void
http_stop(struct app *app)
{
	struct http_call *c;

	/* evhttp_free frees the requests that were not answered yet, and their routes answer later (a worker's
	 * Result, one cancelled by the worker's exit, a query): those calls forget their request first. */
	while ((c = LIST_FIRST(&app->http_calls)) != NULL) {
		LIST_REMOVE(c, entry);
		c->entry.le_prev = NULL;
		c->req = NULL;
	}
	/* evhttp reports each connection it closes to the guard, so the guard goes second */
	if (app->http != NULL)
		evhttp_free(app->http);
	app->http = NULL;
	http_guard_free(app->http_guard);
	app->http_guard = NULL;
}
