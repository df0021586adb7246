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

static void
row_json_cb(void *arg, const struct db_result *r)
{
	row_json_reply(arg, 200, r);
}

static void
row_json_created_cb(void *arg, const struct db_result *r)
{
	row_json_reply(arg, 201, r);
}

static void
find_row(struct http_call *c, const char *sql)
{
	const char *p[1] = { c->inst->id };

	db_query(c->app->db, sql, 1, p, row_json_cb, c);
}

void
route_settings_find(struct http_call *c)
{
	/* Evolution's find returns the flags only, not the row's bookkeeping. */
	find_row(c, "SELECT json_build_object('rejectCall', s.reject_call, 'msgCall', s.msg_call,"
	    " 'groupsIgnore', s.groups_ignore, 'alwaysOnline', s.always_online, 'readMessages', s.read_messages,"
	    " 'readStatus', s.read_status, 'syncFullHistory', s.sync_full_history,"
	    " 'wavoipToken', s.wavoip_token)::text FROM instance_setting s WHERE s.instance_id = $1");
}

void
route_webhook_find(struct http_call *c)
{
	find_row(c, "SELECT " SQL_WEBHOOK_JSON("w") "::text FROM instance_webhook w WHERE w.instance_id = $1");
}

void
route_proxy_find(struct http_call *c)
{
	find_row(c, "SELECT " SQL_PROXY_JSON("p") "::text FROM instance_proxy p WHERE p.instance_id = $1");
}

/* After a settings or proxy change is committed: the registry and the worker take the new values. */
struct set_ctx {
	struct http_call *c;
	char *instance_id;
	struct instance_settings settings;
	struct instance_proxy proxy;
	int is_proxy;
	struct json_object *reply;
};

static void
set_ctx_free(struct set_ctx *s)
{
	instance_settings_clear(&s->settings);
	instance_proxy_clear(&s->proxy);
	json_object_put(s->reply);
	free(s->instance_id);
	free(s);
}

static void
set_committed_cb(void *arg, const struct db_result *r)
{
	struct set_ctx *s = arg;
	struct http_call *c = s->c;
	struct instance *inst;
	struct worker_spec spec;

	if (r->unavailable) {
		http_reply_unavailable(c, "database");
		set_ctx_free(s);
		return;
	}
	if (r->err != NULL) {
		http_reply_error_msg(c, 500, "%s", r->err);
		set_ctx_free(s);
		return;
	}
	/* The instance may have been deleted while the write was in flight. */
	if ((inst = registry_find_id(c->app->reg, s->instance_id)) != NULL) {
		if (s->is_proxy) {
			instance_proxy_clear(&inst->proxy);
			inst->proxy = s->proxy;
			memset(&s->proxy, 0, sizeof(s->proxy));
		} else {
			instance_settings_clear(&inst->settings);
			inst->settings = s->settings;
			memset(&s->settings, 0, sizeof(s->settings));
		}
		lifecycle_spec(inst, &spec, 0);
		workers_update(c->app->workers, &spec);
	}
	http_reply_json(c, 201, json_object_get(s->reply));
	set_ctx_free(s);
}

void
route_settings_set(struct http_call *c)
{
	static const char *const req[] = { "rejectCall", "groupsIgnore", "alwaysOnline", "readMessages",
		"readStatus", "syncFullHistory", NULL };
	struct json_object *errs = json_object_new_array(), *o, *inner;
	struct set_ctx *s;
	struct db_tx *tx;
	size_t i;

	for (i = 0; req[i] != NULL; i++)
		v_field(errs, c->body, "", req[i], V_BOOL, 1);
	v_field(errs, c->body, "", "msgCall", V_STRING, 0);
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
	s = xcalloc(1, sizeof(*s));
	s->c = c;
	s->instance_id = xstrdup(c->inst->id);
	s->settings.reject_call = v_bool(c->body, "rejectCall", 0);
	s->settings.groups_ignore = v_bool(c->body, "groupsIgnore", 0);
	s->settings.always_online = v_bool(c->body, "alwaysOnline", 0);
	s->settings.read_messages = v_bool(c->body, "readMessages", 0);
	s->settings.read_status = v_bool(c->body, "readStatus", 0);
	s->settings.sync_full_history = v_bool(c->body, "syncFullHistory", 0);
	s->settings.msg_call = xstrdup(v_str(c->body, "msgCall", ""));
	s->settings.wavoip_token = xstrdup("");
	{
		const struct instance_settings *st = &s->settings;
		const char *p[8] = { s->instance_id, st->reject_call ? "t" : "f", st->msg_call,
			st->groups_ignore ? "t" : "f", st->always_online ? "t" : "f", st->read_messages ? "t" : "f",
			st->read_status ? "t" : "f", st->sync_full_history ? "t" : "f" };
		tx = db_tx_new();
		db_tx_add(tx, "INSERT INTO instance_setting (instance_id, reject_call, msg_call, groups_ignore,"
		    " always_online, read_messages, read_status, sync_full_history)"
		    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (instance_id) DO UPDATE SET"
		    " reject_call = EXCLUDED.reject_call, msg_call = EXCLUDED.msg_call,"
		    " groups_ignore = EXCLUDED.groups_ignore, always_online = EXCLUDED.always_online,"
		    " read_messages = EXCLUDED.read_messages, read_status = EXCLUDED.read_status,"
		    " sync_full_history = EXCLUDED.sync_full_history, updated_at = now()", 8, p);
	}
	/* Evolution echoes the body as sent. */
	o = json_object_new_object();
	inner = json_object_new_object();
	json_object_object_add(inner, "instanceName", json_object_new_string(c->inst->name));
	json_object_object_add(inner, "settings", json_object_get(c->body));
	json_object_object_add(o, "settings", inner);
	s->reply = o;
	db_tx_run(c->app->db, tx, set_committed_cb, s);
}

void
route_webhook_set(struct http_call *c)
{
	struct json_object *errs = json_object_new_array(), *wh, *hdr = NULL;
	char *events = NULL;
	int bad_url = 0;
	const char *p[7];

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
	p[0] = c->inst->id;
	p[1] = v_bool(wh, "enabled", 1) ? "t" : "f";
	p[2] = v_str(wh, "url", "");
	p[3] = hdr != NULL ? json_object_to_json_string_ext(hdr, JSON_C_TO_STRING_PLAIN) : "{}";
	p[4] = v_bool(wh, "byEvents", 0) ? "t" : "f";
	p[5] = v_bool(wh, "base64", 0) ? "t" : "f";
	p[6] = events;
	db_query(c->app->db,
	    "INSERT INTO instance_webhook AS w (instance_id, enabled, url, headers, by_events, base64, events)"
	    " VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7::text[]) ON CONFLICT (instance_id) DO UPDATE SET"
	    " enabled = EXCLUDED.enabled, url = EXCLUDED.url, headers = EXCLUDED.headers,"
	    " by_events = EXCLUDED.by_events, base64 = EXCLUDED.base64, events = EXCLUDED.events, updated_at = now()"
	    " RETURNING " SQL_WEBHOOK_JSON("w") "::text", 7, p, row_json_created_cb, c);
	free(events);
}

static void proxy_store(struct http_call *c);

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

void
route_proxy_set(struct http_call *c)
{
	struct json_object *errs = json_object_new_array();

	v_field(errs, c->body, "", "enabled", V_BOOL, 1);
	v_field(errs, c->body, "", "host", V_STRING, 1);
	v_field(errs, c->body, "", "port", V_STRING, 1);
	v_field(errs, c->body, "", "protocol", V_STRING, 1);
	v_field(errs, c->body, "", "username", V_STRING, 0);
	v_field(errs, c->body, "", "password", V_STRING, 0);
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
		http_reply_error_msg(c, 400, "Invalid proxy");
}

/* Upsert the checked proxy row, then hand it to the registry and the worker. */
static void
proxy_store(struct http_call *c)
{
	struct json_object *o, *inner, *px;
	struct set_ctx *s;
	struct db_tx *tx;
	int enabled = v_bool(c->body, "enabled", 0);

	s = xcalloc(1, sizeof(*s));
	s->c = c;
	s->is_proxy = 1;
	s->instance_id = xstrdup(c->inst->id);
	s->proxy.enabled = enabled;
	/* Disabling blanks every field, as Evolution does. */
	s->proxy.host = xstrdup(enabled ? v_str(c->body, "host", "") : "");
	s->proxy.port = xstrdup(enabled ? v_str(c->body, "port", "") : "");
	s->proxy.protocol = xstrdup(enabled ? v_str(c->body, "protocol", "") : "");
	s->proxy.username = xstrdup(enabled ? v_str(c->body, "username", "") : "");
	s->proxy.password = xstrdup(enabled ? v_str(c->body, "password", "") : "");
	{
		const char *p[7] = { s->instance_id, enabled ? "t" : "f", s->proxy.host, s->proxy.port,
			s->proxy.protocol, s->proxy.username, s->proxy.password };
		tx = db_tx_new();
		db_tx_add(tx, "INSERT INTO instance_proxy (instance_id, enabled, host, port, protocol, username, password)"
		    " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (instance_id) DO UPDATE SET"
		    " enabled = EXCLUDED.enabled, host = EXCLUDED.host, port = EXCLUDED.port,"
		    " protocol = EXCLUDED.protocol, username = EXCLUDED.username, password = EXCLUDED.password,"
		    " updated_at = now()", 7, p);
	}
	o = json_object_new_object();
	inner = json_object_new_object();
	px = json_object_new_object();
	json_object_object_add(px, "enabled", json_object_new_boolean(enabled));
	json_object_object_add(px, "host", json_object_new_string(s->proxy.host));
	json_object_object_add(px, "port", json_object_new_string(s->proxy.port));
	json_object_object_add(px, "protocol", json_object_new_string(s->proxy.protocol));
	json_object_object_add(px, "username", json_object_new_string(s->proxy.username));
	json_object_object_add(px, "password", json_object_new_string(s->proxy.password));
	json_object_object_add(inner, "instanceName", json_object_new_string(c->inst->name));
	json_object_object_add(inner, "proxy", px);
	json_object_object_add(o, "proxy", inner);
	s->reply = o;
	db_tx_run(c->app->db, tx, set_committed_cb, s);
}
