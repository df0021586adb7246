/* /settings, /webhook and /proxy routes: one row per instance each, upserted and echoed. */
#include "app.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "registry.h"
#include "routes.h"
#include "sql.h"
#include "validate.h"
#include "workers.h"
#include "lifecycle.h"
#include "proxy_check.h"
#include "xmalloc.h"

#include <ctype.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A stored row as JSON text, or the literal null (Evolution answers null when there is none). */
static void
row_json_reply(struct http_call *c, int code, const struct db_result *r)
{

	if (r->unavailable) {
		http_reply_unavailable(c, "database");
		return;
	}
	if (r->err != NULL) {
		log_warnx("%s: %s", c->name, r->err);
		http_reply_error_msg(c, 500, "%s", r->err);
		return;
	}
	if (PQntuples(r->res[r->nres - 1]) == 0)
		http_reply_raw_json(c, code, "null");
	else
		http_reply_raw_json(c, code, PQgetvalue(r->res[r->nres - 1], 0, 0));
}

/* A find answered: 200 with the row. */
static void
row_json_cb(void *arg, const struct db_result *r)
{
	row_json_reply(arg, 200, r);
}

/* A /webhook/set committed: 201 with the stored row. */
static void
row_json_created_cb(void *arg, const struct db_result *r)
{
	row_json_reply(arg, 201, r);
}

/* Run a read of the calling instance's row. */
static void
find_row(struct http_call *c, const char *sql)
{
	const char *p[1] = { c->inst->id };

	db_query(c->app->db, sql, 1, p, row_json_cb, c);
}

/* GET /settings/find. */
void
route_settings_find(struct http_call *c)
{
	/* Evolution's find returns the flags only, not the row's bookkeeping. */
	find_row(c, "SELECT json_build_object('rejectCall', s.reject_call, 'msgCall', s.msg_call,"
	    " 'groupsIgnore', s.groups_ignore, 'alwaysOnline', s.always_online, 'readMessages', s.read_messages,"
	    " 'readStatus', s.read_status, 'syncFullHistory', s.sync_full_history,"
	    " 'wavoipToken', s.wavoip_token)::text FROM instance_setting s WHERE s.instance_id = $1");
}

/* GET /webhook/find. */
void
route_webhook_find(struct http_call *c)
{
	find_row(c, "SELECT " SQL_WEBHOOK_JSON("w") "::text FROM instance_webhook w WHERE w.instance_id = $1");
}

/* GET /proxy/find. */
void
route_proxy_find(struct http_call *c)
{
	find_row(c, "SELECT " SQL_PROXY_JSON("p") "::text FROM instance_proxy p WHERE p.instance_id = $1");
}

/* The reply of a settings or proxy change, sent once lifecycle committed it. */
struct set_ctx {
	struct http_call *c;
	struct json_object *reply;
};

/* The change is committed (registry and worker updated by lifecycle), or it failed. */
static void
set_committed_cb(void *arg, const struct db_result *r)
{
	struct set_ctx *s = arg;
	struct http_call *c = s->c;

	if (r->unavailable)
		http_reply_unavailable(c, "database");
	else if (r->err != NULL)
		http_reply_error_msg(c, 500, "%s", r->err);
	else
		http_reply_json(c, 201, json_object_get(s->reply));
	json_object_put(s->reply);
	free(s);
}

/* lifecycle refused the write: the instance is being deleted. */
static void
set_refused(struct http_call *c, struct set_ctx *s)
{
	json_object_put(s->reply);
	free(s);
	http_reply_error_msg(c, 404, "The \"%s\" instance does not exist", c->name);
}

/* POST /settings/set: validate, hand to lifecycle, echo the body once committed. */
void
route_settings_set(struct http_call *c)
{
	static const char *const req[] = { "rejectCall", "groupsIgnore", "alwaysOnline", "readMessages",
		"readStatus", "syncFullHistory", NULL };
	struct json_object *errs = json_object_new_array(), *o, *inner;
	struct set_ctx *s;
	struct settings st;
	size_t i;

	for (i = 0; req[i] != NULL; i++)
		v_field(errs, c->body, "", req[i], V_BOOL, 1);
	v_field(errs, c->body, "", "msgCall", V_SETTING, 0);
	v_field(errs, c->body, "", "wavoipToken", V_STRING, 0);
	if (json_object_array_length(errs) > 0) {
		http_reply_validation(c, errs);
		return;
	}
	json_object_put(errs);
	if (v_str(c->body, "wavoipToken", "")[0] != '\0') {
		http_reply_error_msg(c, 400, "wavoipToken is not supported by wagate");
		return;
	}
	memset(&st, 0, sizeof(st));
	st.reject_call = v_bool(c->body, "rejectCall", 0);
	st.groups_ignore = v_bool(c->body, "groupsIgnore", 0);
	st.always_online = v_bool(c->body, "alwaysOnline", 0);
	st.read_messages = v_bool(c->body, "readMessages", 0);
	st.read_status = v_bool(c->body, "readStatus", 0);
	st.sync_full_history = v_bool(c->body, "syncFullHistory", 0);
	/* msgCall is optional: not sent keeps the stored text, as in Evolution's upsert. */
	st.msg_call = (char *)v_str(c->body, "msgCall", c->inst->settings.msg_call != NULL ?
	    c->inst->settings.msg_call : "");
	/* Evolution echoes the body as sent. */
	o = json_object_new_object();
	inner = json_object_new_object();
	json_object_object_add(inner, "instanceName", json_object_new_string(c->inst->name));
	json_object_object_add(inner, "settings", json_object_get(c->body));
	json_object_object_add(o, "settings", inner);
	s = xcalloc(1, sizeof(*s));
	s->c = c;
	s->reply = o;
	if (lifecycle_settings_set(c->app, c->inst, &st, set_committed_cb, s) == -1)
		set_refused(c, s);
}

/* POST /webhook/set: validate, hand to lifecycle, answer with the stored row. */
void
route_webhook_set(struct http_call *c)
{
	struct json_object *errs = json_object_new_array(), *wh, *hdr = NULL;
	struct lifecycle_webhook lw;
	char *events = NULL;
	int bad_url = 0;

	wh = v_field(errs, c->body, "", "webhook", V_OBJECT, 1);
	if (wh != NULL)
		v_webhook(errs, wh, "webhook.", 1, &bad_url, &events);
	if (json_object_array_length(errs) > 0) {
		http_reply_validation(c, errs);
		return;
	}
	json_object_put(errs);
	if (bad_url) {
		http_reply_error_msg(c, 400, "Invalid \"url\" property");
		return;
	}
	json_object_object_get_ex(wh, "headers", &hdr);
	memset(&lw, 0, sizeof(lw));
	lw.enabled = v_bool(wh, "enabled", 1);
	lw.url = v_str(wh, "url", "");
	/* What was not sent keeps its stored value, as in Evolution's upsert. */
	lw.headers = hdr != NULL ? json_object_to_json_string_ext(hdr, JSON_C_TO_STRING_PLAIN) : NULL;
	lw.by_events = json_object_object_get_ex(wh, "byEvents", NULL) ? v_bool(wh, "byEvents", 0) : -1;
	lw.base64 = json_object_object_get_ex(wh, "base64", NULL) ? v_bool(wh, "base64", 0) : -1;
	lw.events = events;
	if (lifecycle_webhook_set(c->app, c->inst, &lw, row_json_created_cb, c) == -1)
		http_reply_error_msg(c, 404, "The \"%s\" instance does not exist", c->name);
	free(events);
}

static void proxy_store(struct http_call *c);

/* The proxy answered (or not): store it, or refuse. */
static void
proxy_checked_cb(void *arg, int ok, const char *reason)
{
	struct http_call *c = arg;

	if (!ok) {
		log_info("%s: proxy refused: %s", c->name, reason);
		http_reply_error_msg(c, 400, "Invalid proxy");
		return;
	}
	/* The instance may have been deleted while the check ran. */
	if ((c->inst = registry_find(c->app->reg, c->name)) == NULL || c->inst->deleting) {
		http_reply_error_msg(c, 404, "The \"%s\" instance does not exist", c->name);
		return;
	}
	proxy_store(c);
}

/* POST /proxy/set: validate, check an enabled proxy, then proxy_store. */
void
route_proxy_set(struct http_call *c)
{
	struct json_object *errs = json_object_new_array();

	v_field(errs, c->body, "", "enabled", V_BOOL, 1);
	v_field(errs, c->body, "", "host", V_SETTING, 1);
	v_field(errs, c->body, "", "port", V_SETTING, 1);
	v_field(errs, c->body, "", "protocol", V_SETTING, 1);
	v_field(errs, c->body, "", "username", V_SETTING, 0);
	v_field(errs, c->body, "", "password", V_SETTING, 0);
	if (json_object_array_length(errs) > 0) {
		http_reply_validation(c, errs);
		return;
	}
	json_object_put(errs);
	if (!v_bool(c->body, "enabled", 0)) {
		proxy_store(c);
		return;
	}
	if (v_proxy(v_str(c->body, "host", ""), v_str(c->body, "port", ""), v_str(c->body, "protocol", "")) == -1 ||
	    proxy_check_start(c->app->base, c->app->dns, v_str(c->body, "host", ""), v_str(c->body, "port", ""),
	    PROXY_CHECK_TIMEOUT_MS, proxy_checked_cb, c) == -1)
		http_reply_error_msg(c, 400, v_proxy_message(v_str(c->body, "protocol", "")));
}

/* Hand the checked proxy to lifecycle (row, registry, worker); set_committed_cb answers. */
static void
proxy_store(struct http_call *c)
{
	struct json_object *o, *inner, *px;
	struct set_ctx *s;
	struct proxy p;
	int enabled = v_bool(c->body, "enabled", 0);

	/* Disabling blanks every field, as Evolution does. */
	memset(&p, 0, sizeof(p));
	p.enabled = enabled;
	p.host = (char *)(enabled ? v_str(c->body, "host", "") : "");
	p.port = (char *)(enabled ? v_str(c->body, "port", "") : "");
	p.protocol = (char *)(enabled ? v_str(c->body, "protocol", "") : "");
	/* Optional credentials not sent keep the stored ones, as in Evolution's upsert. */
	p.username = (char *)(enabled ? v_str(c->body, "username", c->inst->proxy.username != NULL ?
	    c->inst->proxy.username : "") : "");
	p.password = (char *)(enabled ? v_str(c->body, "password", c->inst->proxy.password != NULL ?
	    c->inst->proxy.password : "") : "");
	o = json_object_new_object();
	inner = json_object_new_object();
	px = json_object_new_object();
	json_object_object_add(px, "enabled", json_object_new_boolean(enabled));
	json_object_object_add(px, "host", json_object_new_string(p.host));
	json_object_object_add(px, "port", json_object_new_string(p.port));
	json_object_object_add(px, "protocol", json_object_new_string(p.protocol));
	json_object_object_add(px, "username", json_object_new_string(p.username));
	json_object_object_add(px, "password", json_object_new_string(p.password));
	json_object_object_add(inner, "instanceName", json_object_new_string(c->inst->name));
	json_object_object_add(inner, "proxy", px);
	json_object_object_add(o, "proxy", inner);
	s = xcalloc(1, sizeof(*s));
	s->c = c;
	s->reply = o;
	if (lifecycle_proxy_set(c->app, c->inst, &p, set_committed_cb, s) == -1)
		set_refused(c, s);
}

/* The event transport of a /websocket, /rabbitmq or /sqs route: the first segment of its path. */
static const char *
transport_name(const struct http_call *c)
{
	static const char *const names[] = { "websocket", "rabbitmq", "sqs", NULL };
	size_t i, n;

	for (i = 0; names[i] != NULL; i++) {
		n = strlen(names[i]);
		if (c->path[0] == '/' && strncasecmp(c->path + 1, names[i], n) == 0 && c->path[n + 1] == '/')
			return names[i];
	}
	return "websocket";	/* not reached: the route table sends only these three here */
}

/* POST /{websocket,rabbitmq,sqs}/set: validated as Evolution does ({"<name>": {enabled, events}}); wagate has
 * no such transport, and Evolution with one disabled answers 201 with an empty body and stores nothing. */
void
route_transport_set(struct http_call *c)
{
	const char *name = transport_name(c);
	struct json_object *errs = json_object_new_array(), *t, *events;
	char prefix[32];

	t = v_field(errs, c->body, "", name, V_OBJECT, 1);
	if (t != NULL) {
		snprintf(prefix, sizeof(prefix), "%s.", name);
		v_field(errs, t, prefix, "enabled", V_BOOL, 1);
		events = v_field(errs, t, prefix, "events", V_ARRAY, 0);
		v_events(errs, events, prefix);
	}
	if (json_object_array_length(errs) > 0) {
		http_reply_validation(c, errs);
		return;
	}
	json_object_put(errs);
	http_reply_raw_json(c, 201, "");
}

/* GET /{websocket,rabbitmq,sqs}/find: Evolution with the transport disabled answers 200 with an empty body. */
void
route_transport_find(struct http_call *c)
{
	http_reply_raw_json(c, 200, "");
}
