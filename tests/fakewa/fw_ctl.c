/* fakewa's control API: connections, the route table and its dispatch, replies (see fw_ctl.h). */
#include "fw_ctl.h"

#include "fakewa_client.h"
#include "fw_http.h"
#include "fw_media.h"
#include "fw_pair.h"
#include "fw_routes.h"

#include "log.h"
#include "wa_tls.h"
#include "xmalloc.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FW_ROUTE_WS_PORT	0x1	/* also served on the WebSocket port */

/* One row of the route table. */
struct fw_ctl_route {
	const char *method;
	const char *path;		/* exact; or, ending in '/', a prefix */
	int flags;
	void (*fn)(struct fw_ctl_call *);
};

/* Every route of the control API (documented in fw_ctl.h). A new call is one row. */
static const struct fw_ctl_route fw_ctl_routes[] = {
	{ "GET", "/admin/clients", 0, fw_route_clients },
	{ "POST", "/admin/drop", 0, fw_route_drop },
	{ "POST", "/admin/stream-error", 0, fw_route_stream_error },
	{ "POST", "/admin/stream-end", 0, fw_route_stream_end },
	{ "POST", "/admin/stall", 0, fw_route_stall },
	{ "POST", "/admin/unstall", 0, fw_route_unstall },
	{ "POST", "/admin/companion-reg-refresh", 0, fw_route_reg_refresh },
	{ "POST", "/admin/mock-phone/scan-qr", FW_ROUTE_WS_PORT, fw_route_scan_qr },
	{ "POST", "/admin/mock-phone/pair-code", FW_ROUTE_WS_PORT, fw_route_pair_code },
	{ "POST", "/admin/remove-device", 0, fw_route_remove_device },
	{ "POST", "/admin/prekey-low", 0, fw_route_prekey_low },
	{ "GET", "/admin/accounts", 0, fw_route_accounts },
	{ "POST", "/phone/send", 0, fw_route_phone_send },
	{ "POST", "/phone/call", 0, fw_route_phone_call },
	{ "POST", "/phone/call-end", 0, fw_route_phone_call_end },
	{ "GET", "/phone/calls", 0, fw_route_phone_calls },
	{ "GET", "/phone/received", 0, fw_route_phone_received },
	{ "POST", "/phone/fail-next-decrypt", 0, fw_route_phone_fail_next },
	{ "POST", "/phone/group-create", 0, fw_route_phone_group_create },
	{ "POST", "/phone/group-add", 0, fw_route_phone_group_add },
	{ "GET", "/admin/groups", 0, fw_route_groups },
	{ "POST", "/phone/reinstall", 0, fw_route_phone_reinstall },
	{ "GET", "/phone/receipts", 0, fw_route_phone_receipts },
	{ "POST", "/phone/receipt", 0, fw_route_phone_receipt },
	{ "POST", "/phone/redeliver", 0, fw_route_phone_redeliver },
	{ "POST", "/phone/history", 0, fw_route_phone_history },
	{ "POST", "/admin/account", 0, fw_route_account_new },
	{ "GET", "/admin/media", 0, fw_route_media_list },
	/* the media host's paths: the query (the link's own, and the downloader's hash and mms-type) is not matched */
	{ "GET", FW_MEDIA_HISTORY_PREFIX, 0, fw_route_media_get },
};

/* The control port. */
struct fw_ctl {
	struct fw_server *s;
	struct evconnlistener *lis;
	TAILQ_HEAD(, fw_ctl_conn) conns;
	struct event *ev_reap;		/* frees dead connections outside their callbacks */
};

/* One HTTP connection: on the control port (its own plain stream), or the stream of a fw_client on the
 * WebSocket port whose first bytes were "POST ". */
struct fw_ctl_conn {
	struct fw_server *s;
	struct fw_ctl *ctl;		/* the control port's; NULL on the WebSocket port */
	struct fw_client *ws;		/* the WebSocket-port client whose stream this is, or NULL */
	struct wa_tls *stream;		/* owned when ctl != NULL */
	int taken;			/* a request was read: later input is dropped */
	int answered, gone;
	struct fw_pairing *wait;	/* a pairing that answers later */
	TAILQ_ENTRY(fw_ctl_conn) entry;
};

/* Write an answer (head, then len bytes of body) and close once it is written. The caller checked that it is
 * the first. */
static void
fw_ctl_send(struct fw_ctl_conn *conn, const char *head, const void *body, size_t len)
{
	conn->answered = 1;
	wa_tls_write(conn->stream, head, strlen(head));
	if (len > 0)
		wa_tls_write(conn->stream, body, len);
	/* on the WebSocket port the client is done too: nothing of the WebSocket may follow the answer */
	if (conn->ws != NULL)
		conn->ws->phase = FW_CLOSING;
	wa_tls_close_on_flush(conn->stream);
}

/* Write the answer (status, extra header lines, JSON) and close once it is written; the first answer only. */
static void
fw_ctl_answer(struct fw_ctl_conn *conn, int code, const char *extra, const char *json)
{
	char *resp;

	if (conn->answered || conn->gone)
		return;
	log_debug("control: answer %d%s%s", code, code != 200 ? " " : "", code != 200 ? json : "");
	resp = fw_http_response(code, extra, json);
	fw_ctl_send(conn, resp, NULL, 0);
	free(resp);
}

/* Answer a request (see fw_ctl.h). */
void
fw_ctl_reply(struct fw_ctl_conn *conn, int code, const char *json)
{
	fw_ctl_answer(conn, code, NULL, json);
}

/* Answer with a body that is not JSON (see fw_ctl.h). */
void
fw_ctl_reply_bytes(struct fw_ctl_conn *conn, int code, const char *type, const void *body, size_t len)
{
	char *head;

	if (conn->answered || conn->gone)
		return;
	log_debug("control: answer %d, %zu bytes of %s", code, len, type);
	head = fw_http_head(code, NULL, type, len);
	fw_ctl_send(conn, head, body, len);
	free(head);
}

/* Is the path one a route serves? */
static int
fw_ctl_route_match(const struct fw_ctl_route *r, const char *path)
{
	size_t n = strlen(r->path);

	if (n > 0 && r->path[n - 1] == '/')
		return strncmp(path, r->path, n) == 0;
	return strcmp(path, r->path) == 0;
}

/* Route one request: 404 for an unknown path (or one not served on this port), 405 with Allow for a known
 * path with another method, else its handler. */
static void
fw_ctl_dispatch(struct fw_ctl_conn *conn, const struct fw_http_req *req)
{
	static const size_t nroutes = sizeof(fw_ctl_routes) / sizeof(fw_ctl_routes[0]);
	const struct fw_ctl_route *r = NULL, *other = NULL;
	struct fw_ctl_call call;
	char allow[64], json[64];
	size_t i;

	log_debug("control%s: %s %s%s%s", conn->ws != NULL ? " (WebSocket port)" : "", req->method,
	    req->path, req->query != NULL ? "?" : "", req->query != NULL ? req->query : "");
	for (i = 0; i < nroutes; i++) {
		if (!fw_ctl_route_match(&fw_ctl_routes[i], req->path) ||
		    (conn->ws != NULL && !(fw_ctl_routes[i].flags & FW_ROUTE_WS_PORT)))
			continue;
		if (strcmp(fw_ctl_routes[i].method, req->method) == 0) {
			r = &fw_ctl_routes[i];
			break;
		}
		other = &fw_ctl_routes[i];
	}
	if (r == NULL && other != NULL) {
		snprintf(allow, sizeof(allow), "Allow: %s\r\n", other->method);
		snprintf(json, sizeof(json), "{\"error\":\"use %s\"}", other->method);
		fw_ctl_answer(conn, 405, allow, json);
		return;
	}
	if (r == NULL) {
		fw_ctl_reply(conn, 404, conn->ws != NULL ? "{\"error\":\"not found (use the control port)\"}" :
		    "{\"error\":\"not found\"}");
		return;
	}
	memset(&call, 0, sizeof(call));
	call.s = conn->s;
	call.conn = conn;
	call.req = req;
	TAILQ_INIT(&call.query);
	if (req->query != NULL)
		evhttp_parse_query_str(req->query, &call.query);
	r->fn(&call);
	evhttp_clear_headers(&call.query);
}

/* Read a request and dispatch it (see fw_ctl.h). */
void
fw_ctl_conn_input(struct fw_ctl_conn *conn, struct evbuffer *in)
{
	size_t len = evbuffer_get_length(in), used = 0;
	struct fw_http_req *req = NULL;
	char err[128], json[192];
	int status = 0, r;

	if (conn->taken || conn->gone) {
		evbuffer_drain(in, len);
		return;
	}
	/* the parser refuses an incomplete request this long, so it never needs more */
	if (len > FW_HTTP_MAX_REQUEST)
		len = FW_HTTP_MAX_REQUEST;
	r = fw_http_parse((const char *)evbuffer_pullup(in, (ev_ssize_t)len), len, &req, &used, &status, err,
	    sizeof(err));
	if (r == FW_HTTP_AGAIN)
		return;
	conn->taken = 1;
	if (r == FW_HTTP_ERROR) {
		log_debug("control: refused request: %s", err);
		evbuffer_drain(in, evbuffer_get_length(in));
		snprintf(json, sizeof(json), "{\"error\":\"%s\"}", err);
		fw_ctl_reply(conn, status, json);
		return;
	}
	evbuffer_drain(in, used);
	fw_ctl_dispatch(conn, req);
	fw_http_req_free(req);
}

/* A query parameter (see fw_ctl.h). */
const char *
fw_ctl_query(const struct fw_ctl_call *call, const char *key)
{
	return evhttp_find_header(&call->query, key);
}

/* Let a pairing answer later (see fw_ctl.h). */
void
fw_ctl_conn_wait(struct fw_ctl_conn *conn, struct fw_pairing *p)
{
	conn->wait = p;
}

/* The stream is going away (see fw_ctl.h). */
void
fw_ctl_conn_gone(struct fw_ctl_conn *conn)
{
	if (conn == NULL || conn->gone)
		return;
	conn->gone = 1;
	if (conn->wait != NULL)
		fw_pair_conn_gone(conn->wait);
	conn->wait = NULL;
}

/* Free a connection (see fw_ctl.h). */
void
fw_ctl_conn_free(struct fw_ctl_conn *conn)
{
	if (conn == NULL)
		return;
	fw_ctl_conn_gone(conn);
	if (conn->ctl != NULL) {
		TAILQ_REMOVE(&conn->ctl->conns, conn, entry);
		wa_tls_free(conn->stream);
	}
	free(conn);
}

/* A control request on the WebSocket port (see fw_ctl.h). */
struct fw_ctl_conn *
fw_ctl_conn_new_ws(struct fw_client *c)
{
	struct fw_ctl_conn *conn = xcalloc(1, sizeof(*conn));

	conn->s = c->s;
	conn->ws = c;
	conn->stream = c->stream;
	return conn;
}

/* Control port input. */
static void
fw_ctl_read_cb(struct wa_tls *t, struct evbuffer *in, void *arg)
{
	fw_ctl_conn_input(arg, in);
}

/* Control port stream events: once answered and written (or closed by the peer), free on the next turn. */
static void
fw_ctl_event_cb(struct wa_tls *t, int what, const char *reason, void *arg)
{
	struct fw_ctl_conn *conn = arg;

	if (what == WA_TLS_EV_CONNECTED)
		return;
	fw_ctl_conn_gone(conn);
	wa_tls_set_reading(conn->stream, 0);
	event_active(conn->ctl->ev_reap, EV_TIMEOUT, 0);
}

/* Deferred: free the connections that are gone (STYLE rule 10). */
static void
fw_ctl_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fw_ctl *ctl = arg;
	struct fw_ctl_conn *conn, *next;

	for (conn = TAILQ_FIRST(&ctl->conns); conn != NULL; conn = next) {
		next = TAILQ_NEXT(conn, entry);
		if (conn->gone)
			fw_ctl_conn_free(conn);
	}
}

/* libevent: a control connection arrived. */
static void
fw_ctl_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct fw_ctl *ctl = arg;
	struct fw_ctl_conn *conn = xcalloc(1, sizeof(*conn));

	evutil_make_socket_nonblocking(fd);
	conn->s = ctl->s;
	conn->ctl = ctl;
	if ((conn->stream = wa_tls_new(ctl->s->base, fd, NULL, NULL, 0, fw_ctl_read_cb, fw_ctl_event_cb,
	    conn)) == NULL) {
		log_warnx("cannot take a control connection");
		close(fd);
		free(conn);
		return;
	}
	TAILQ_INSERT_TAIL(&ctl->conns, conn, entry);
}

/* Listen for the control API (see fw_ctl.h). */
struct fw_ctl *
fw_ctl_new(struct fw_server *s, int port, int *bound)
{
	struct fw_ctl *ctl = xcalloc(1, sizeof(*ctl));
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	ctl->s = s;
	TAILQ_INIT(&ctl->conns);
	ctl->ev_reap = event_new(s->base, -1, 0, fw_ctl_reap_cb, ctl);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	ctl->lis = evconnlistener_new_bind(s->base, fw_ctl_accept_cb, ctl, LEV_OPT_CLOSE_ON_FREE |
	    LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 128, (struct sockaddr *)&sin, sizeof(sin));
	if (ctl->lis == NULL ||
	    getsockname(evconnlistener_get_fd(ctl->lis), (struct sockaddr *)&sin, &sl) == -1) {
		fw_ctl_free(ctl);
		return NULL;
	}
	*bound = ntohs(sin.sin_port);
	return ctl;
}

/* Close the control port (see fw_ctl.h). */
void
fw_ctl_free(struct fw_ctl *ctl)
{
	int saved = errno;

	if (ctl == NULL)
		return;
	while (!TAILQ_EMPTY(&ctl->conns))
		fw_ctl_conn_free(TAILQ_FIRST(&ctl->conns));
	if (ctl->lis != NULL)
		evconnlistener_free(ctl->lis);
	if (ctl->ev_reap != NULL)
		event_free(ctl->ev_reap);
	free(ctl);
	errno = saved;
}
