/* The /instance routes: create, connect, state, restart, fetch, presence, logout, delete. */
#include "app.h"
#include "config.h"
#include "db.h"
#include "http.h"
#include "instance_json.h"
#include "lifecycle.h"
#include "log.h"
#include "proxy_check.h"
#include "registry.h"
#include "routes.h"
#include "validate.h"
#include "workers.h"
#include "xmalloc.h"

#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define QR_WAIT_MS	10000	/* create(qrcode:true) and connect wait this long for the first QR */

/* ---- create ---- */

/* A create waiting for its commit: what the 201 body needs beyond the new entry. */
struct create_ctx {
	struct http_call *c;
	int qrcode;
	char *number;
	struct json_object *webhook_resp;
};

/* Release a create's reply state. */
static void
create_free(struct create_ctx *cc)
{
	free(cc->number);
	json_object_put(cc->webhook_resp);
	free(cc);
}

/* Evolution's settings object. */
static struct json_object *
settings_json(const struct settings *s)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "rejectCall", json_object_new_boolean(s->reject_call));
	json_object_object_add(o, "msgCall", json_object_new_string(s->msg_call != NULL ? s->msg_call : ""));
	json_object_object_add(o, "groupsIgnore", json_object_new_boolean(s->groups_ignore));
	json_object_object_add(o, "alwaysOnline", json_object_new_boolean(s->always_online));
	json_object_object_add(o, "readMessages", json_object_new_boolean(s->read_messages));
	json_object_object_add(o, "readStatus", json_object_new_boolean(s->read_status));
	json_object_object_add(o, "syncFullHistory", json_object_new_boolean(s->sync_full_history));
	json_object_object_add(o, "wavoipToken", json_object_new_string(s->wavoip_token != NULL ? s->wavoip_token : ""));
	return o;
}

/* Evolution's QR object: {"pairingCode","code","base64","count"}, members absent while unknown. */
static struct json_object *
qrcode_json(const struct instance *inst)
{
	struct json_object *q = json_object_new_object();

	if (inst != NULL && inst->qr_code != NULL) {
		json_object_object_add(q, "pairingCode", inst->qr_pairing_code != NULL ?
		    json_object_new_string(inst->qr_pairing_code) : NULL);
		json_object_object_add(q, "code", json_object_new_string(inst->qr_code));
		if (inst->qr_base64 != NULL)
			json_object_object_add(q, "base64", json_object_new_string(inst->qr_base64));
	}
	json_object_object_add(q, "count", json_object_new_int(inst != NULL ? (int)inst->qr_count : 0));
	return q;
}

/* A create or connect waiting for the first QR. */
struct qr_wait {
	struct http_call *c;
	struct json_object *resp;	/* create: the 201 body without status and qrcode */
};

static struct json_object *state_json(const struct instance *inst);

/* The QR wait of create(qrcode:true) ended: answer with whatever is there now. */
static void
create_qr_done_cb(void *arg, struct instance *inst, enum lifecycle_wake why)
{
	struct qr_wait *qw = arg;
	struct json_object *io = json_object_object_get(qw->resp, "instance");

	(void)why;
	json_object_object_add(io, "status", json_object_new_string(inst != NULL ?
	    conn_state_name(inst->state) : "close"));
	json_object_object_add(qw->resp, "qrcode", qrcode_json(inst));
	http_reply_json(qw->c, 201, qw->resp);
	free(qw);
}

/* The QR wait of connect ended. */
static void
connect_qr_done_cb(void *arg, struct instance *inst, enum lifecycle_wake why)
{
	struct qr_wait *qw = arg;
	struct http_call *c = qw->c;

	free(qw);
	if (why == LIFECYCLE_WAKE_SHUTDOWN)
		http_reply_error_msg(c, 503, "wagate is shutting down; try again shortly");
	else if (inst == NULL)
		http_reply_error_msg(c, 404, "The \"%s\" instance does not exist", c->name);
	else if (inst->state == CONN_OPEN)
		http_reply_json(c, 200, state_json(inst));
	else
		http_reply_json(c, 200, qrcode_json(inst));
}

/* Evolution's create echo of a transport it has disabled: {"enabled": <as sent>}, or {} when not sent. */
static struct json_object *
transport_echo(struct json_object *body, const char *name)
{
	struct json_object *o = json_object_new_object(), *t, *en;

	if (json_object_object_get_ex(body, name, &t) && json_object_is_type(t, json_type_object) &&
	    json_object_object_get_ex(t, "enabled", &en))
		json_object_object_add(o, "enabled", json_object_get(en));
	return o;
}

/* The new instance is committed and registered (or not): start connecting when asked, answer 201. */
static void
create_done_cb(void *arg, struct instance *inst, const struct db_result *r)
{
	struct create_ctx *cc = arg;
	struct http_call *c = cc->c;
	struct app *app = c->app;
	struct json_object *o, *io;
	static const char *const transports[] = { "websocket", "rabbitmq", "sqs", NULL };
	size_t i;

	if (inst == NULL) {
		if (r->unavailable)
			http_reply_unavailable(c, "database");
		else if (r->sqlstate != NULL && strcmp(r->sqlstate, "23505") == 0)
			http_reply_error_msg(c, 403, "This name \"%s\" is already in use.", v_str(c->body, "instanceName", ""));
		else
			http_reply_error_msg(c, 500, "Could not create the instance: %s", r->err);
		create_free(cc);
		return;
	}
	if (cc->qrcode && workers_connect(app->workers, inst->id, cc->number) == -1) {
		log_warnx("%s: could not start connecting", inst->name);
		cc->qrcode = -1;	/* answer at once with {"count":0} */
	}

	o = json_object_new_object();
	io = json_object_new_object();
	json_object_object_add(io, "instanceName", json_object_new_string(inst->name));
	json_object_object_add(io, "instanceId", json_object_new_string(inst->id));
	json_object_object_add(io, "integration", json_object_new_string(inst->integration));
	json_object_object_add(io, "webhookWaBusiness", NULL);
	json_object_object_add(io, "accessTokenWaBusiness", json_object_new_string(""));
	if (cc->qrcode != 1)
		json_object_object_add(io, "status", json_object_new_string(conn_state_name(inst->state)));
	json_object_object_add(o, "instance", io);
	json_object_object_add(o, "hash", json_object_new_string(inst->token));
	json_object_object_add(o, "webhook", cc->webhook_resp != NULL ? json_object_get(cc->webhook_resp) :
	    json_object_new_object());
	for (i = 0; transports[i] != NULL; i++)
		json_object_object_add(o, transports[i], transport_echo(c->body, transports[i]));
	json_object_object_add(o, "settings", settings_json(&inst->settings));
	if (cc->qrcode == 1) {
		/* Answered by create_qr_done_cb at the first QR (or open, close, 10 s); the loop goes on. */
		struct qr_wait *qw = xcalloc(1, sizeof(*qw));

		qw->c = c;
		qw->resp = o;
		lifecycle_wait(app, inst->id, QR_WAIT_MS, create_qr_done_cb, qw);
		create_free(cc);
		return;
	}
	if (cc->qrcode)
		json_object_object_add(o, "qrcode", qrcode_json(NULL));
	http_reply_json(c, 201, o);
	create_free(cc);
}

/* Answer 400 in Evolution's schema form for a number that cannot be one. */
static void
number_refuse(struct http_call *c)
{
	struct json_object *errs = json_object_new_array();

	json_object_array_add(errs, json_object_new_string(V_NUMBER_PATTERN_MSG));
	http_reply_validation(c, errs);
}

static void create_store(struct http_call *c);

/* The proxy of a create answered (or not): go on storing, or refuse. */
static void
create_proxy_checked_cb(void *arg, int ok, const char *reason)
{
	struct http_call *c = arg;

	if (!ok) {
		log_info("proxy refused: %s", reason);
		http_reply_error_msg(c, 400, "Invalid proxy");
		return;
	}
	if (registry_find(c->app->reg, v_str(c->body, "instanceName", "")) != NULL) {
		http_reply_error_msg(c, 403, "This name \"%s\" is already in use.", v_str(c->body, "instanceName", ""));
		return;
	}
	create_store(c);
}

/* POST /instance/create: validate, check the proxy, then create_store. */
void
route_instance_create(struct http_call *c)
{
	struct app *app = c->app;
	struct json_object *errs = json_object_new_array(), *b = c->body, *name_o, *wh;
	const char *name, *integration, *number;
	const char *phost, *pport, *pproto;
	char *events = NULL, digits[V_NUMBER_MAX + 1];
	int bad_url = 0, check_proxy = 0;
	static const char *const bool_fields[] = { "rejectCall", "groupsIgnore", "alwaysOnline", "readMessages",
		"readStatus", "syncFullHistory", "qrcode", NULL };
	size_t i;

	if (b == NULL)
		b = c->body = json_object_new_object();
	name_o = v_field(errs, b, "", "instanceName", V_STRING, 1);
	v_field(errs, b, "", "token", V_STRING, 0);
	v_field(errs, b, "", "number", V_STRING, 0);
	v_field(errs, b, "", "integration", V_STRING, 0);
	v_field(errs, b, "", "msgCall", V_SETTING, 0);
	v_field(errs, b, "", "wavoipToken", V_STRING, 0);
	for (i = 0; bool_fields[i] != NULL; i++)
		v_field(errs, b, "", bool_fields[i], V_BOOL, 0);
	v_field(errs, b, "", "proxyHost", V_SETTING, 0);
	v_field(errs, b, "", "proxyPort", V_SETTING, 0);
	v_field(errs, b, "", "proxyProtocol", V_SETTING, 0);
	v_field(errs, b, "", "proxyUsername", V_SETTING, 0);
	v_field(errs, b, "", "proxyPassword", V_SETTING, 0);
	wh = v_field(errs, b, "", "webhook", V_OBJECT, 0);
	if (name_o != NULL && !v_instance_name_ok(json_object_get_string(name_o)))
		json_object_array_add(errs, json_object_new_string(
		    "instanceName must be 1-100 characters without '/', '?', '#', '%', '\\' or control characters"));
	if (json_object_array_length(errs) > 0) {
		http_reply_validation(c, errs);
		return;
	}
	json_object_put(errs);
	errs = NULL;
	name = json_object_get_string(name_o);
	integration = v_str(b, "integration", "");
	if (strcmp(integration, "WHATSAPP-BAILEYS") != 0) {
		if (strcmp(integration, "WHATSAPP-BUSINESS") == 0 || strcmp(integration, "EVOLUTION") == 0)
			http_reply_error_msg(c, 400, "Integration %s is not supported by wagate", integration);
		else
			http_reply_error_msg(c, 400, "Invalid integration");
		return;
	}
	number = v_str(b, "number", NULL);
	if (number != NULL && *number != '\0') {
		/* Stored and used as digits, whatever punctuation it was typed with. */
		if (v_number(number, digits, sizeof(digits)) == -1) {
			number_refuse(c);
			return;
		}
		json_object_object_add(b, "number", json_object_new_string(digits));
	}
	if (v_str(b, "wavoipToken", "")[0] != '\0') {
		http_reply_error_msg(c, 400, "wavoipToken is not supported by wagate");
		return;
	}
	phost = v_str(b, "proxyHost", NULL);
	pport = v_str(b, "proxyPort", NULL);
	pproto = v_str(b, "proxyProtocol", NULL);
	if (phost != NULL && *phost != '\0') {
		if (pport == NULL || pproto == NULL || v_proxy(phost, pport, pproto) == -1) {
			http_reply_error_msg(c, 400, v_proxy_message(pproto));
			return;
		}
		check_proxy = 1;
	}
	if (wh != NULL) {
		errs = json_object_new_array();
		/* Evolution forces enabled on create. */
		json_object_object_add(wh, "enabled", json_object_new_boolean(1));
		if (v_webhook(errs, wh, "webhook.", 0, &bad_url, &events) == -1) {
			if (bad_url) {
				json_object_put(errs);
				http_reply_error_msg(c, 400, "Invalid \"url\" property");
			} else
				http_reply_validation(c, errs);
			return;
		}
		json_object_put(errs);
		free(events);
	}
	if (registry_find(app->reg, name) != NULL) {
		http_reply_error_msg(c, 403, "This name \"%s\" is already in use.", name);
		return;
	}
	if (check_proxy) {
		if (proxy_check_start(app->base, app->dns, phost, pport, PROXY_CHECK_TIMEOUT_MS,
		    create_proxy_checked_cb, c) == -1)
			http_reply_error_msg(c, 400, "Invalid proxy");
		return;
	}
	create_store(c);
}

/* Hand the validated instance to lifecycle; create_done_cb answers. */
static void
create_store(struct http_call *c)
{
	struct app *app = c->app;
	struct json_object *b = c->body, *wh = NULL, *hdr = NULL;
	const char *number = v_str(b, "number", NULL), *phost = v_str(b, "proxyHost", NULL);
	char *events = NULL;
	struct lifecycle_create req;
	struct lifecycle_webhook lw;
	struct settings st;
	struct proxy px;
	struct create_ctx *cc;

	memset(&req, 0, sizeof(req));
	memset(&st, 0, sizeof(st));
	memset(&px, 0, sizeof(px));
	st.reject_call = v_bool(b, "rejectCall", 0);
	st.groups_ignore = v_bool(b, "groupsIgnore", 0);
	st.always_online = v_bool(b, "alwaysOnline", 0);
	st.read_messages = v_bool(b, "readMessages", 0);
	st.read_status = v_bool(b, "readStatus", 0);
	st.sync_full_history = v_bool(b, "syncFullHistory", 0);
	st.msg_call = (char *)v_str(b, "msgCall", "");
	if (phost != NULL && *phost != '\0') {
		px.enabled = 1;
		px.host = (char *)phost;
		px.port = (char *)v_str(b, "proxyPort", NULL);
		px.protocol = (char *)v_str(b, "proxyProtocol", NULL);
		px.username = (char *)v_str(b, "proxyUsername", "");
		px.password = (char *)v_str(b, "proxyPassword", "");
		req.proxy = &px;
	}
	req.name = v_str(b, "instanceName", "");
	req.token = v_str(b, "token", "");
	req.number = number;
	req.settings = &st;
	cc = xcalloc(1, sizeof(*cc));
	if (json_object_object_get_ex(b, "webhook", &wh) && wh != NULL) {
		struct json_object *errs = json_object_new_array();
		int bad_url = 0;

		/* Validated by the route already; this only extracts the events literal. */
		v_webhook(errs, wh, "webhook.", 0, &bad_url, &events);
		json_object_put(errs);
		json_object_object_get_ex(wh, "headers", &hdr);
		memset(&lw, 0, sizeof(lw));
		lw.enabled = 1;
		lw.url = v_str(wh, "url", "");
		lw.headers = hdr != NULL ? json_object_to_json_string_ext(hdr, JSON_C_TO_STRING_PLAIN) : "{}";
		lw.by_events = v_bool(wh, "byEvents", 0);
		lw.base64 = v_bool(wh, "base64", 0);
		lw.events = events;
		req.webhook = &lw;
		cc->webhook_resp = json_object_new_object();
		/* Evolution echoes what was sent: members not sent are absent. */
		json_object_object_add(cc->webhook_resp, "webhookUrl", json_object_new_string(lw.url));
		if (hdr != NULL)
			json_object_object_add(cc->webhook_resp, "webhookHeaders", json_object_get(hdr));
		if (json_object_object_get_ex(wh, "byEvents", NULL))
			json_object_object_add(cc->webhook_resp, "webhookByEvents", json_object_new_boolean(lw.by_events));
		if (json_object_object_get_ex(wh, "base64", NULL))
			json_object_object_add(cc->webhook_resp, "webhookBase64", json_object_new_boolean(lw.base64));
	}
	cc->c = c;
	cc->qrcode = v_bool(b, "qrcode", 0);
	cc->number = number != NULL && *number != '\0' ? xstrdup(number) : NULL;
	lifecycle_create(app, &req, create_done_cb, cc);
	free(events);
}

/* ---- state, connect, restart ---- */

/* Evolution's connectionState body. */
static struct json_object *
state_json(const struct instance *inst)
{
	struct json_object *o = json_object_new_object(), *i = json_object_new_object();

	json_object_object_add(i, "instanceName", json_object_new_string(inst->name));
	json_object_object_add(i, "state", json_object_new_string(conn_state_name(inst->state)));
	json_object_object_add(o, "instance", i);
	return o;
}

/* GET /instance/connectionState. */
void
route_instance_state(struct http_call *c)
{
	http_reply_json(c, 200, state_json(c->inst));
}

/* GET /instance/connect: the state when open, else the QR (waiting for the first one). */
void
route_instance_connect(struct http_call *c)
{
	struct instance *inst = c->inst;
	const char *number = http_query(c, "number");
	char digits[V_NUMBER_MAX + 1];

	if (number != NULL && *number != '\0') {
		if (v_number(number, digits, sizeof(digits)) == -1) {
			number_refuse(c);
			return;
		}
		number = digits;
	}
	switch (inst->state) {
	case CONN_OPEN:
		http_reply_json(c, 200, state_json(inst));
		return;
	case CONN_CONNECTING:
		http_reply_json(c, 200, qrcode_json(inst));
		return;
	default:
		if (workers_connect(c->app->workers, inst->id, number != NULL && *number ? number : NULL) == -1) {
			http_reply_error_msg(c, 503, "The worker of \"%s\" is restarting; try again shortly", inst->name);
			return;
		}
		/* Answered by connect_qr_done_cb at the first QR (or open, close, 10 s); the loop goes on. */
		{
			struct qr_wait *qw = xcalloc(1, sizeof(*qw));
			qw->c = c;
			lifecycle_wait(c->app, inst->id, QR_WAIT_MS, connect_qr_done_cb, qw);
		}
		return;
	}
}

/* POST /instance/restart: a fresh worker; answered as Evolution does right after its restart: the state when
 * open or close, the current QR object when connecting. */
void
route_instance_restart(struct http_call *c)
{
	struct instance *inst = c->inst;
	struct json_object *o = inst->state == CONN_CONNECTING ? qrcode_json(inst) : state_json(inst);

	if (lifecycle_restart(c->app, inst) == -1) {
		json_object_put(o);
		http_reply_error_msg(c, 404, "The \"%s\" instance does not exist", c->name);
		return;
	}
	http_reply_json(c, 200, o);
}

/* ---- fetchInstances ---- */

/* What a fetchInstances call selects: the number filter (global key only) and the token (instance key). */
struct fetch_filter {
	const char *number;		/* NULL = any */
	const char *token;		/* NULL = the global key: every instance */
	const char *client_name;
	struct evbuffer *out;		/* the array's text */
	size_t n;			/* elements in it */
};

/* Add inst to the answer when the filters keep it. */
static int
fetch_add_cb(struct instance *inst, void *arg)
{
	struct fetch_filter *f = arg;

	if (f->number != NULL && (inst->number == NULL || strcmp(inst->number, f->number) != 0))
		return 0;
	if (f->token != NULL && strcmp(inst->token, f->token) != 0)
		return 0;
	/* lifecycle rebuilds the text after each change but a count's (lifecycle_count_add drops it): build it
	 * once here then, for the lists that follow too. */
	if (inst->fetch_json == NULL)
		inst->fetch_json = instance_json_text_new(inst, f->client_name);
	instance_json_text_add(f->out, inst->fetch_json, f->n == 0);
	f->n++;
	return 0;
}

/* s as PostgreSQL's uuid input reads it (hex digits, an optional hyphen after any group of four, optional
 * braces) in the canonical lower-case form the registry keys on. 0, or -1 when it is not a uuid. */
static int
fetch_uuid_canon(const char *s, char out[37])
{
	size_t len = strlen(s), i, n = 0, o = 0;
	int braces = len > 0 && s[0] == '{';

	if (braces) {
		if (len < 2 || s[len - 1] != '}')
			return -1;
		s++;
		len -= 2;
	}
	for (i = 0; i < len; i++) {
		if (s[i] == '-' && n > 0 && n % 4 == 0 && i + 1 < len && s[i + 1] != '-')
			continue;
		if (!isxdigit((unsigned char)s[i]) || n == 32)
			return -1;
		if (n == 8 || n == 12 || n == 16 || n == 20)
			out[o++] = '-';
		out[o++] = (char)tolower((unsigned char)s[i]);
		n++;
	}
	out[o] = '\0';
	return n == 32 ? 0 : -1;
}

/* GET /instance/fetchInstances, answered from the registry: ?instanceId= (which wins over ?instanceName=, as in
 * Evolution) and ?instanceName= are one lookup, the full list one walk in (createdAt, name) order joining each
 * entry's JSON text (kept by lifecycle). */
void
route_instance_fetch(struct http_call *c)
{
	struct app *app = c->app;
	const char *id = http_query(c, "instanceId"), *name = http_query(c, "instanceName");
	const char *number = http_query(c, "number");
	struct fetch_filter f;
	struct instance *inst;
	char uuid[37];

	/* The registry only mirrors the tables: with no connection to them, answer as the query did. */
	if (!db_available(app->db)) {
		http_reply_unavailable(c, "database");
		return;
	}
	/* For the global key instanceId, then number, wins over instanceName (Evolution). */
	if (id != NULL || (c->global && number != NULL))
		name = NULL;
	memset(&f, 0, sizeof(f));
	/* Evolution ignores the number filter for token callers. */
	f.number = c->global ? number : NULL;
	f.token = c->global ? NULL : c->token;
	f.client_name = app->cfg->client_name;
	if (id != NULL) {
		/* Not a uuid: the query used to fail on the cast, answered as not found. */
		if (fetch_uuid_canon(id, uuid) == -1) {
			http_reply_error_msg(c, 404, "Instance \"%s\" not found", id);
			return;
		}
	}
	if ((f.out = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	evbuffer_add(f.out, "[", 1);
	if (id != NULL) {
		if ((inst = registry_find_id(app->reg, uuid)) != NULL)
			fetch_add_cb(inst, &f);
	} else if (name != NULL) {
		if ((inst = registry_find(app->reg, name)) != NULL)
			fetch_add_cb(inst, &f);
	} else
		registry_foreach(app->reg, fetch_add_cb, &f);
	if (f.n == 0) {
		evbuffer_free(f.out);
		if (!c->global)
			http_reply_error(c, 401, json_object_new_string("Unauthorized"));
		else if (id != NULL || name != NULL || number != NULL)
			http_reply_error_msg(c, 404, "Instance \"%s\" not found",
			    id != NULL ? id : number != NULL ? number : name);
		else
			http_reply_raw_json(c, 200, "[]");
		return;
	}
	evbuffer_add(f.out, "]", 1);
	http_reply_json_buffer(c, 200, f.out);
	evbuffer_free(f.out);
}

/* ---- presence, logout, delete ---- */

/* The worker sent the presence (or could not): Evolution's 201 {"presence": ...}, or 400 with why not. */
static void
presence_done_cb(void *arg, int ok, int status, const char *error)
{
	struct http_call *c = arg;
	struct json_object *o;

	if (!ok) {
		/* Evolution's 400 for what the worker refused or could not send; no answer in time is ours. */
		http_reply_error_msg(c, status == 504 ? 504 : 400, "%s", error);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "presence", json_object_new_string(v_str(c->body, "presence", "")));
	http_reply_json(c, 201, o);
}

/* POST /instance/setPresence: our global presence, sent by the worker; presence_done_cb answers. */
void
route_instance_presence(struct http_call *c)
{
	struct json_object *errs = json_object_new_array(), *p;
	static const char *const ok[] = { "unavailable", "available", "composing", "recording", "paused", NULL };
	const char *v = NULL;
	size_t i;

	p = v_field(errs, c->body, "", "presence", V_STRING, 1);
	if (p != NULL) {
		v = json_object_get_string(p);
		for (i = 0; ok[i] != NULL && strcmp(ok[i], v) != 0; i++)
			;
		if (ok[i] == NULL)
			json_object_array_add(errs, json_object_new_string(
			    "presence is not one of enum values: unavailable,available,composing,recording,paused"));
	}
	if (json_object_array_length(errs) > 0) {
		http_reply_validation(c, errs);
		return;
	}
	json_object_put(errs);
	if (c->inst->state != CONN_OPEN) {
		http_reply_error_msg(c, 400, "The \"%s\" instance is not connected", c->inst->name);
		return;
	}
	/* Typing states belong to a chat: Evolution's global setPresence fails on them (no recipient). */
	if (strcmp(v, "available") != 0 && strcmp(v, "unavailable") != 0) {
		http_reply_error_msg(c, 400, "Presence \"%s\" needs a chat: use /chat/sendPresence", v);
		return;
	}
	if (workers_set_presence(c->app->workers, c->inst->id, NULL, v, presence_done_cb, c) == -1)
		http_reply_error_msg(c, 503, "The worker of \"%s\" is restarting; try again shortly", c->inst->name);
}

/* The logout is committed (or not): answer. */
static void
logout_committed_cb(void *arg, const struct db_result *r)
{
	struct http_call *c = arg;
	struct json_object *o;

	if (r->unavailable) {
		http_reply_unavailable(c, "database");
		return;
	}
	if (r->err == lifecycle_worker_busy) {
		/* The worker could not take Logout after the probe: nothing changed, as for EAGAIN below. */
		http_reply_error_msg(c, 503, "The worker of \"%s\" is restarting; try again shortly", c->name);
		return;
	}
	if (r->err != NULL) {
		http_reply_error_msg(c, 500, "Could not log out: %s", r->err);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "status", json_object_new_string("SUCCESS"));
	json_object_object_add(o, "error", json_object_new_boolean(0));
	json_object_object_add(o, "response", json_object_new_object());
	json_object_object_add(json_object_object_get(o, "response"), "message",
	    json_object_new_string("Instance logged out"));
	http_reply_json(c, 200, o);
}

/* DELETE /instance/logout. */
void
route_instance_logout(struct http_call *c)
{
	struct instance *inst = c->inst;

	if (inst->state == CONN_CLOSE) {
		http_reply_error_msg(c, 400, "The \"%s\" instance is not connected", inst->name);
		return;
	}
	if (lifecycle_logout(c->app, inst, logout_committed_cb, c) == -1) {
		if (errno == EAGAIN)
			http_reply_error_msg(c, 503, "The worker of \"%s\" is restarting; try again shortly", inst->name);
		else
			http_reply_error_msg(c, 404, "The \"%s\" instance does not exist", c->name);
	}
}

/* The delete is committed (or not): answer. */
static void
delete_done_cb(void *arg, int ok, const struct db_result *r)
{
	struct http_call *c = arg;
	struct json_object *o, *resp;

	if (!ok) {
		if (r->unavailable)
			http_reply_unavailable(c, "database");
		else
			http_reply_error_msg(c, 400, "%s", r->err);
		return;
	}
	o = json_object_new_object();
	resp = json_object_new_object();
	json_object_object_add(o, "status", json_object_new_string("SUCCESS"));
	json_object_object_add(o, "error", json_object_new_boolean(0));
	json_object_object_add(resp, "message", json_object_new_string("Instance deleted"));
	json_object_object_add(o, "response", resp);
	http_reply_json(c, 200, o);
}

/* DELETE /instance/delete. */
void
route_instance_delete(struct http_call *c)
{
	if (lifecycle_delete(c->app, c->inst, delete_done_cb, c) == -1)
		http_reply_error_msg(c, 404, "The \"%s\" instance does not exist", c->name);
}
