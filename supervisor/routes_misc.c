/* GET /, /health, /metrics and the /manager page. */
#include "app.h"
#include "config.h"
#include "db.h"
#include "http.h"
#include "http_guard.h"
#include "lifecycle.h"
#include "manager.h"
#include "registry.h"
#include "routes.h"
#include "webhook.h"
#include "workers.h"
#include "xmalloc.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* GET /: Evolution's welcome object; manager is this server's /manager page, on the host the client used. */
void
route_root(struct http_call *c)
{
	struct json_object *o = json_object_new_object();
	const char *host = evhttp_find_header(evhttp_request_get_input_headers(c->req), "Host");
	char *manager = NULL;

	if (host != NULL && *host != '\0' && strpbrk(host, "/\\ \t\r\n") == NULL)
		xasprintf(&manager, "http://%s/manager", host);
	else if (c->app->cfg->server_url != NULL && *c->app->cfg->server_url != '\0')
		xasprintf(&manager, "%s/manager", c->app->cfg->server_url);
	json_object_object_add(o, "status", json_object_new_int(200));
	json_object_object_add(o, "message", json_object_new_string("Welcome to the Evolution API, it is working!"));
	json_object_object_add(o, "version", json_object_new_string("2.2.1"));
	json_object_object_add(o, "clientName", json_object_new_string(c->app->cfg->client_name));
	if (manager != NULL)
		json_object_object_add(o, "manager", json_object_new_string(manager));
	json_object_object_add(o, "documentation", json_object_new_string("https://doc.evolution-api.com"));
	json_object_object_add(o, "server", json_object_new_string("wagate " WAGATE_VERSION));
	free(manager);
	http_reply_json(c, 200, o);
}

/* POST /verify-creds (global key only, checked by the route table): Evolution's manager logs in with it.
 * Evolution adds its Meta (Facebook) app settings; wagate has no Meta channel, so it has none to add. */
void
route_verify_creds(struct http_call *c)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "status", json_object_new_int(200));
	json_object_object_add(o, "message", json_object_new_string("Credentials are valid"));
	http_reply_json(c, 200, o);
}

/* The database answered (or not): the health body. A probe without the global key learns only that; the
 * counts (how many accounts this server holds, how long it has run) are for the operator. */
static void
health_cb(void *arg, const struct db_result *r)
{
	struct http_call *c = arg;
	struct json_object *o = json_object_new_object();
	int ok = r->err == NULL;

	json_object_object_add(o, "status", json_object_new_string(ok ? "ok" : "degraded"));
	json_object_object_add(o, "database", json_object_new_string(ok ? "up" : "down"));
	if (!c->global) {
		http_reply_json(c, ok ? 200 : 503, o);
		return;
	}
	json_object_object_add(o, "instances", json_object_new_int64((int64_t)registry_count(c->app->reg)));
	json_object_object_add(o, "workersReady", json_object_new_int64(workers_ready_count(c->app->workers)));
	json_object_object_add(o, "uptimeSeconds", json_object_new_int64((int64_t)(time(NULL) - c->app->started)));
	http_reply_json(c, ok ? 200 : 503, o);
}

/* GET /health (public; counts with the global key). */
void
route_health(struct http_call *c)
{
	db_query(c->app->db, "SELECT 1", 0, NULL, health_cb, c);
}

/* Label values escape backslash, quote and newline (Prometheus text format). */
static void
metrics_label(struct evbuffer *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			evbuffer_add_printf(b, "\\%c", *s);
		else if (*s == '\n')
			evbuffer_add(b, "\\n", 2);
		else
			evbuffer_add(b, s, 1);
	}
}

struct metrics_walk {
	struct app *app;
	struct evbuffer *b;
	unsigned by_state[3];
	int pass;
};

/* One instance's lines for the current registry pass of route_metrics (0: count, 1: state). */
static int
metrics_instance(struct instance *inst, void *arg)
{
	struct metrics_walk *w = arg;
	struct evbuffer *b = w->b;

	if (w->pass == 0) {
		if (conn_state_valid(inst->state))
			w->by_state[inst->state]++;
		return 0;
	}
	evbuffer_add_printf(b, "wagate_instance_state{instance=\"");
	metrics_label(b, inst->name);
	evbuffer_add_printf(b, "\",instance_id=\"%s\",state=\"%s\"} 1\n", inst->id, conn_state_name(inst->state));
	return 0;
}

/* One worker's line for the current worker-table pass of route_metrics (2: pid, 3: restarts). The walk goes over
 * the worker table with an O(1) registry lookup each, so /metrics stays linear in instances. */
static void
metrics_worker(const char *instance_id, pid_t pid, unsigned restarts, void *arg)
{
	struct metrics_walk *w = arg;
	struct evbuffer *b = w->b;
	struct instance *inst = registry_find_id(w->app->reg, instance_id);

	if (inst == NULL || (w->pass == 2 && pid <= 0))
		return;
	evbuffer_add_printf(b, "%s{instance=\"", w->pass == 2 ? "wagate_worker_pid" : "wagate_worker_restarts_total");
	metrics_label(b, inst->name);
	if (w->pass == 2)
		evbuffer_add_printf(b, "\",instance_id=\"%s\"} %d\n", inst->id, (int)pid);
	else
		evbuffer_add_printf(b, "\",instance_id=\"%s\"} %u\n", inst->id, restarts);
}

/* GET /metrics in the Prometheus text format (the global key or METRICS_USER's basic auth, checked by the route
 * table: instance names and worker pids are not for anyone who can reach the port). */
void
route_metrics(struct http_call *c)
{
	struct app *app = c->app;
	struct metrics_walk w = { app, evbuffer_new(), { 0, 0, 0 }, 0 };
	struct evbuffer *b = w.b;
	unsigned long posts, conns, write_tx, writes, writes_merged;
	size_t len;
	char *text;
	int s;

	registry_foreach(app->reg, metrics_instance, &w);
	evbuffer_add_printf(b, "# HELP wagate_instances Instances by connection state.\n# TYPE wagate_instances gauge\n");
	for (s = CONN_CLOSE; s <= CONN_OPEN; s++)
		evbuffer_add_printf(b, "wagate_instances{state=\"%s\"} %u\n", conn_state_name(s), w.by_state[s]);
	evbuffer_add_printf(b, "# HELP wagate_instance_state Connection state of each instance.\n"
	    "# TYPE wagate_instance_state gauge\n");
	w.pass = 1;
	registry_foreach(app->reg, metrics_instance, &w);
	evbuffer_add_printf(b, "# HELP wagate_worker_pid Process id of each running worker.\n# TYPE wagate_worker_pid gauge\n");
	w.pass = 2;
	workers_foreach(app->workers, metrics_worker, &w);
	evbuffer_add_printf(b, "# HELP wagate_worker_restarts_total Worker restarts after a crash or hang.\n"
	    "# TYPE wagate_worker_restarts_total counter\n");
	w.pass = 3;
	workers_foreach(app->workers, metrics_worker, &w);
	evbuffer_add_printf(b, "# HELP wagate_workers_ready Workers that answered Start.\n# TYPE wagate_workers_ready gauge\n"
	    "wagate_workers_ready %u\n", workers_ready_count(app->workers));
	evbuffer_add_printf(b, "# HELP wagate_ipc_latency_ms Worker heartbeat round trip.\n# TYPE wagate_ipc_latency_ms gauge\n"
	    "wagate_ipc_latency_ms %.3f\n", workers_ipc_latency_ms(app->workers));
	evbuffer_add_printf(b, "# HELP wagate_webhook_backlog Webhook deliveries waiting (counted up to %d, estimated"
	    " from the outbox's size above).\n# TYPE wagate_webhook_backlog gauge\nwagate_webhook_backlog %ld\n",
	    WEBHOOK_COUNT_CAP, webhook_backlog(app->webhook));
	evbuffer_add_printf(b, "# HELP wagate_webhook_delivered_total Webhook deliveries acknowledged.\n"
	    "# TYPE wagate_webhook_delivered_total counter\nwagate_webhook_delivered_total %lu\n",
	    webhook_delivered_total(app->webhook));
	evbuffer_add_printf(b, "# HELP wagate_webhook_failed_attempts_total Webhook attempts that failed.\n"
	    "# TYPE wagate_webhook_failed_attempts_total counter\nwagate_webhook_failed_attempts_total %lu\n",
	    webhook_failed_attempts_total(app->webhook));
	webhook_http_totals(app->webhook, &posts, &conns);
	evbuffer_add_printf(b, "# HELP wagate_webhook_http_posts_total Webhook POSTs sent by the own HTTP client (plain "
	    "http://).\n# TYPE wagate_webhook_http_posts_total counter\nwagate_webhook_http_posts_total %lu\n"
	    "# HELP wagate_webhook_http_connections_total TCP connections it opened (kept alive between POSTs).\n"
	    "# TYPE wagate_webhook_http_connections_total counter\nwagate_webhook_http_connections_total %lu\n",
	    posts, conns);
	evbuffer_add_printf(b, "# HELP wagate_db_connections_up PostgreSQL connections up.\n# TYPE wagate_db_connections_up gauge\n"
	    "wagate_db_connections_up %u\n", db_connections_up(app->db));
	evbuffer_add_printf(b, "# HELP wagate_db_queries_total Database statements run.\n# TYPE wagate_db_queries_total counter\n"
	    "wagate_db_queries_total %lu\n", db_queries_total(app->db));
	evbuffer_add_printf(b, "# HELP wagate_http_requests_total HTTP requests.\n# TYPE wagate_http_requests_total counter\n"
	    "wagate_http_requests_total %lu\n", app->http_requests);
	evbuffer_add_printf(b, "# HELP wagate_http_errors_total HTTP replies with status >= 400.\n"
	    "# TYPE wagate_http_errors_total counter\nwagate_http_errors_total %lu\n", app->http_errors);
	evbuffer_add_printf(b, "# HELP wagate_state_changes_total Instance connection state changes.\n"
	    "# TYPE wagate_state_changes_total counter\nwagate_state_changes_total %lu\n", app->state_changes);
	/* PostgreSQL outage (lifecycle_chain.c). */
	evbuffer_add_printf(b, "# HELP wagate_pending_writes State writes kept in memory for the database.\n"
	    "# TYPE wagate_pending_writes gauge\nwagate_pending_writes %u\n", lifecycle_writes_pending(app->lc));
	evbuffer_add_printf(b, "# HELP wagate_pending_writes_coalesced_total Transitions dropped past "
	    "WAGATE_PENDING_WRITES_MAX.\n# TYPE wagate_pending_writes_coalesced_total counter\n"
	    "wagate_pending_writes_coalesced_total %lu\n", lifecycle_writes_coalesced(app->lc));
	/* How the instances' writes are batched (lifecycle_chain.c): writes per transaction, the share that shared
	 * one, and against wagate_db_queries_total (every statement), statements per transaction. */
	lifecycle_write_stats(app->lc, &write_tx, &writes, &writes_merged);
	evbuffer_add_printf(b, "# HELP wagate_write_transactions_total Transactions run for instance writes (message"
	    " stores, statuses, state).\n# TYPE wagate_write_transactions_total counter\n"
	    "wagate_write_transactions_total %lu\n# HELP wagate_writes_total Instance writes those transactions"
	    " carried.\n# TYPE wagate_writes_total counter\nwagate_writes_total %lu\n"
	    "# HELP wagate_writes_merged_total Instance writes that shared their transaction with other writes.\n"
	    "# TYPE wagate_writes_merged_total counter\nwagate_writes_merged_total %lu\n", write_tx, writes,
	    writes_merged);
	/* The HTTP listener's guard (http_guard.c). */
	if (app->http_guard != NULL) {
		struct http_guard_stats gs;

		http_guard_get_stats(app->http_guard, &gs);
		evbuffer_add_printf(b, "# HELP wagate_http_connections HTTP connections held.\n"
		    "# TYPE wagate_http_connections gauge\nwagate_http_connections %lu\n", gs.open);
		evbuffer_add_printf(b, "# HELP wagate_http_connections_refused_total Connections closed at accept for "
		    "HTTP_MAX_CONNECTIONS[_PER_IP].\n# TYPE wagate_http_connections_refused_total counter\n"
		    "wagate_http_connections_refused_total %lu\n", gs.refused);
		evbuffer_add_printf(b, "# HELP wagate_http_request_timeouts_total Connections closed at "
		    "HTTP_REQUEST_TIMEOUT.\n# TYPE wagate_http_request_timeouts_total counter\n"
		    "wagate_http_request_timeouts_total %lu\n", gs.timed_out);
		evbuffer_add_printf(b, "# HELP wagate_http_accept_pauses_total Listener pauses after an accept error "
		    "(descriptors exhausted).\n# TYPE wagate_http_accept_pauses_total counter\n"
		    "wagate_http_accept_pauses_total %lu\n", gs.accept_pauses);
	}
	len = evbuffer_get_length(b);
	text = xmalloc(len + 1);
	evbuffer_remove(b, text, len);
	text[len] = '\0';
	evbuffer_free(b);
	http_reply_text(c, 200, "text/plain; version=0.0.4; charset=utf-8", text);
	free(text);
}

/* The page talks only to this origin and loads nothing from elsewhere; QR images arrive as data: URLs. */
#define MANAGER_CSP	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
	"connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

/* GET /manager, /manager/ and /manager/<file>: a file of the set loaded at start-up (no authentication: the
 * page holds no secret, the operator's key stays in the browser). */
void
route_manager(struct http_call *c)
{
	const struct manager_file *f;
	struct evkeyvalq *out;

	if (c->app->manager == NULL) {
		http_reply_error_msg(c, 404, "The manager page is not installed (WAGATE_MANAGER_DIR %s has no index.html)",
		    c->app->cfg->manager_dir != NULL ? c->app->cfg->manager_dir : "unset");
		return;
	}
	/* A file name with a trailing slash names a directory that does not exist (as express.static answers). */
	if (c->name != NULL && c->path[strlen(c->path) - 1] == '/')
		f = NULL;
	else
		f = manager_find(c->app->manager, c->name != NULL ? c->name : "index.html");
	if (f == NULL) {
		http_reply_error_msg(c, 404, "Cannot GET %s", c->path);
		return;
	}
	out = evhttp_request_get_output_headers(c->req);
	evhttp_add_header(out, "Content-Security-Policy", MANAGER_CSP);
	evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(out, "Referrer-Policy", "no-referrer");
	evhttp_add_header(out, "X-Frame-Options", "DENY");
	http_reply_text(c, 200, f->type, f->data);
}
