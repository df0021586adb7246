/* Instance lifecycle: the only writer of instance state. Start-up load and create share one register path;
 * create, delete, logout and the settings, proxy and webhook rows go through the per-instance write chain
 * (lifecycle_chain.c) like the worker events (lifecycle_worker.c), so they commit in the order asked and
 * nothing commits after a delete. */
#include "lifecycle_int.h"
#include "app.h"
#include "config.h"
#include "db.h"
#include "instance_json.h"
#include "known.h"
#include "log.h"
#include "random.h"
#include "registry.h"
#include "sql.h"
#include "webhook.h"
#include "workers.h"
#include "xmalloc.h"

#include <ctype.h>
#include <errno.h>
#include <event2/event.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static void lc_del_timer_cb(evutil_socket_t fd, short what, void *arg);

/* lifecycle's state on app's loop; the worker events it defers run on that loop. */
struct lifecycle *
lifecycle_new(struct app *app)
{
	struct lifecycle *lc = xcalloc(1, sizeof(*lc));

	lc->app = app;
	lc->analyze_at = 64;
	LIST_INIT(&lc->chains);
	LIST_INIT(&lc->waits);
	TAILQ_INIT(&lc->pending);
	if ((lc->deferred = event_new(app->base, -1, 0, lc_deferred_cb, lc)) == NULL)
		fatalx("event_new");
	lc_chain_init(lc);
	return lc;
}

/* Release waits, chains and unhandled worker events (their callers are gone with the HTTP server and the
 * pool). */
void
lifecycle_free(struct lifecycle *lc)
{
	if (lc == NULL)
		return;
	lc_wait_free_all(lc);
	lc_chain_free_all(lc);
	lc_pending_free_all(lc);
	event_free(lc->deferred);
	free(lc);
}

/* Work not finished yet: worker events not handled plus writes queued or running. */
unsigned
lifecycle_pending(const struct lifecycle *lc)
{
	return lc != NULL ? lc->npending + lc->njobs + lc->nfailed : 0;
}

/* Writes kept for the database (queued or waiting for it to come back). */
unsigned
lifecycle_writes_pending(const struct lifecycle *lc)
{
	return lc != NULL ? lc->nretry : 0;
}

/* Transitions dropped past WAGATE_PENDING_WRITES_MAX or the per-instance cap since start. */
unsigned long
lifecycle_writes_coalesced(const struct lifecycle *lc)
{
	return lc != NULL ? lc->coalesced : 0;
}

/* Transactions the write chains ran (a check of an unanswered COMMIT not counted), the writes they carried (a
 * write run again counts again), and those that shared theirs with other writes (LC_WRITE_MERGE): with the
 * pool's statement count, how well writes are batched. */
void
lifecycle_write_stats(const struct lifecycle *lc, unsigned long *tx, unsigned long *writes, unsigned long *merged)
{
	*tx = lc != NULL ? lc->write_tx : 0;
	*writes = lc != NULL ? lc->writes : 0;
	*merged = lc != NULL ? lc->writes_merged : 0;
}

/* Whether inst may be written: it exists and no delete is queued. Sets errno = ENOENT when not. Worker
 * events that arrived before are handled first, so their writes come first in the chain. */
static int
lc_writable(struct app *app, const struct instance *inst)
{
	lc_pending_run(app->lc);
	if (inst == NULL || inst->deleting) {
		errno = ENOENT;
		return 0;
	}
	return 1;
}

/* Now, in microseconds since the epoch: the timestamp a write stores and the registry keeps. */
int64_t
lc_now_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* us as a timestamptz literal ("2026-01-02 03:04:05.678901+00"): writes pass the time they keep in the
 * registry instead of now(), so the row and the registry agree to the microsecond. */
void
lc_ts_text(int64_t us, char *buf, size_t len)
{
	time_t sec = (time_t)(us / 1000000);
	struct tm tm;

	gmtime_r(&sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02d %02d:%02d:%02d.%06d+00", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	    tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(us % 1000000));
}

/* Rebuild the compact fetchInstances text of inst: a poll of the full list then only joins these. */
void
lc_fetch_refresh(struct app *app, struct instance *inst)
{
	/* A reply still being written keeps its reference to the old text. */
	instance_json_text_unref(inst->fetch_json);
	inst->fetch_json = instance_json_text_new(inst, app->cfg->client_name);
}

/* "" for an unset string (the table columns are NOT NULL ''). */
static const char *
lc_str(const char *s)
{
	return s != NULL ? s : "";
}

/* Evolution's wuid of a device JID. */
int
lifecycle_wuid(const char *jid, char *out, size_t outsz)
{
	size_t n;
	const char *at;

	if (jid == NULL || (at = strchr(jid, '@')) == NULL || strcmp(at, "@s.whatsapp.net") != 0)
		return -1;
	/* user[.agent][:device]@s.whatsapp.net: the phone number is the run of digits before any of those. */
	for (n = 0; isdigit((unsigned char)jid[n]); n++)
		;
	if (n == 0 || n > 20 || (jid[n] != ':' && jid[n] != '.' && jid[n] != '@'))
		return -1;
	if ((size_t)snprintf(out, outsz, "%.*s@s.whatsapp.net", (int)n, jid) >= outsz)
		return -1;
	return 0;
}

/* Fill a worker spec from the registry entry: settings and proxy are lent (workers_add/update copy them). */
void
lifecycle_spec(const struct instance *inst, struct worker_spec *spec, int connect_now)
{
	memset(spec, 0, sizeof(*spec));
	spec->instance_id = inst->id;
	spec->instance_name = inst->name;
	spec->settings = &inst->settings;
	spec->proxy = &inst->proxy;
	spec->connect_now = connect_now;
}

/* The one register path (start-up load and create): build the registry entry from row, add it, arm
 * DEL_INSTANCE when asked, and register its worker with creds. Returns the entry. */
struct instance *
lc_register(struct app *app, const struct lc_row *row, const unsigned char *creds, size_t creds_len,
    int connect_now, int arm_del)
{
	struct instance *inst = instance_new(row->id, row->name, row->token);
	struct worker_spec spec;

	if (row->integration != NULL)
		instance_set_str(&inst->integration, row->integration);
	instance_set_str(&inst->number, row->number != NULL && *row->number != '\0' ? row->number : NULL);
	instance_set_str(&inst->owner_jid, row->owner_jid);
	instance_set_str(&inst->profile_name, row->profile_name);
	settings_copy(&inst->settings, row->settings);
	proxy_copy(&inst->proxy, row->proxy);
	inst->created_us = inst->updated_us = row->created_us;
	/* Whatever was stored, nothing is connected until a worker reports it. */
	inst->state = CONN_CLOSE;
	inst->app = app;
	registry_add(app->reg, inst);
	if (arm_del && app->cfg->del_instance_minutes > 0) {
		struct timeval tv = { (time_t)app->cfg->del_instance_minutes * 60, 0 };

		if ((inst->del_timer = evtimer_new(app->base, lc_del_timer_cb, inst)) == NULL)
			fatalx("evtimer_new");
		evtimer_add(inst->del_timer, &tv);
	}
	lifecycle_spec(inst, &spec, connect_now);
	spec.creds = creds;
	spec.creds_len = creds_len;
	if (row->creds_error == NULL && workers_add(app->workers, &spec) == -1)
		log_warnx("%s: could not register its worker", inst->name);
	return inst;
}

/* Add the webhook row of instance_id to tx (create and /webhook/set), RETURNING its JSON: the answer of
 * /webhook/set, and what the registry holds for the message events once it is committed. */
static void
lc_webhook_row(struct db_tx *tx, const char *instance_id, const struct lifecycle_webhook *wh)
{
	/* NULL parameters keep the stored value (Evolution's upsert leaves fields it was not sent alone). */
	const char *p[7] = { instance_id, wh->enabled ? "t" : "f", lc_str(wh->url), wh->headers,
		wh->by_events < 0 ? NULL : wh->by_events ? "t" : "f", wh->base64 < 0 ? NULL : wh->base64 ? "t" : "f",
		wh->events };

	db_tx_add(tx, "INSERT INTO instance_webhook AS w (instance_id, enabled, url, headers, by_events, base64, events)"
	    " VALUES ($1, $2, $3, COALESCE($4::jsonb, '{}'), COALESCE($5::boolean, false),"
	    " COALESCE($6::boolean, false), $7::text[]) ON CONFLICT (instance_id) DO UPDATE SET"
	    " enabled = EXCLUDED.enabled, url = EXCLUDED.url, headers = COALESCE($4::jsonb, w.headers),"
	    " by_events = COALESCE($5::boolean, w.by_events), base64 = COALESCE($6::boolean, w.base64),"
	    " events = EXCLUDED.events, updated_at = now()"
	    " RETURNING " SQL_WEBHOOK_JSON("w") "::text", 7, p);
}

/* Add the settings row of instance_id to tx, inserted or replaced, stamped ts_us. */
static void
lc_settings_row(struct db_tx *tx, const char *instance_id, const struct settings *s, int64_t ts_us)
{
	char ts[40];
	const char *p[9] = { instance_id, s->reject_call ? "t" : "f", lc_str(s->msg_call),
		s->groups_ignore ? "t" : "f", s->always_online ? "t" : "f", s->read_messages ? "t" : "f",
		s->read_status ? "t" : "f", s->sync_full_history ? "t" : "f", ts };

	lc_ts_text(ts_us, ts, sizeof(ts));
	db_tx_add(tx, "INSERT INTO instance_setting (instance_id, reject_call, msg_call, groups_ignore,"
	    " always_online, read_messages, read_status, sync_full_history, created_at, updated_at)"
	    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::timestamptz, $9::timestamptz)"
	    " ON CONFLICT (instance_id) DO UPDATE SET"
	    " reject_call = EXCLUDED.reject_call, msg_call = EXCLUDED.msg_call,"
	    " groups_ignore = EXCLUDED.groups_ignore, always_online = EXCLUDED.always_online,"
	    " read_messages = EXCLUDED.read_messages, read_status = EXCLUDED.read_status,"
	    " sync_full_history = EXCLUDED.sync_full_history, updated_at = EXCLUDED.updated_at", 9, p);
}

/* Add the proxy row of instance_id to tx, inserted or replaced, stamped ts_us. */
static void
lc_proxy_row(struct db_tx *tx, const char *instance_id, const struct proxy *px, int64_t ts_us)
{
	char ts[40];
	const char *p[8] = { instance_id, px->enabled ? "t" : "f", lc_str(px->host), lc_str(px->port),
		lc_str(px->protocol), lc_str(px->username), lc_str(px->password), ts };

	lc_ts_text(ts_us, ts, sizeof(ts));
	db_tx_add(tx, "INSERT INTO instance_proxy (instance_id, enabled, host, port, protocol, username, password,"
	    " created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::timestamptz, $8::timestamptz)"
	    " ON CONFLICT (instance_id) DO UPDATE SET"
	    " enabled = EXCLUDED.enabled, host = EXCLUDED.host, port = EXCLUDED.port,"
	    " protocol = EXCLUDED.protocol, username = EXCLUDED.username, password = EXCLUDED.password,"
	    " updated_at = EXCLUDED.updated_at", 8, p);
}

/* The settings row of inst was stored at ts_us (after its COMMIT). */
static void
lc_setting_stamp(struct instance *inst, int64_t ts_us)
{
	if (!inst->has_setting) {
		inst->has_setting = 1;
		inst->setting_created_us = ts_us;
	}
	inst->setting_updated_us = ts_us;
}

/* The proxy row of inst was stored at ts_us (after its COMMIT). */
static void
lc_proxy_stamp(struct instance *inst, int64_t ts_us)
{
	if (!inst->has_proxy) {
		inst->has_proxy = 1;
		inst->proxy_created_us = ts_us;
	}
	inst->proxy_updated_us = ts_us;
}

/* A create in flight: what lc_register needs once the rows are committed. */
struct lc_create_ctx {
	struct app *app;
	char *id, *name, *token, *number;
	int64_t ts_us;			/* created_at of every row */
	int webhook_stmt;		/* the webhook row's statement (RETURNING its JSON); -1 = none */
	struct settings settings;
	struct proxy proxy;
	void (*done)(void *, struct instance *, const struct db_result *);
	void *arg;
};

/* The rows of a new instance are committed (or not): register it and tell the caller. */
static void
lc_created_cb(void *arg, const struct db_result *r)
{
	struct lc_create_ctx *cc = arg;
	struct app *app = cc->app;
	struct instance *inst = NULL;
	struct lc_row row;

	if (r->err == NULL && registry_find(app->reg, cc->name) != NULL) {
		/* Cannot happen while names are unique in the table; refuse rather than shadow. */
		struct db_result dup;

		memset(&dup, 0, sizeof(dup));
		dup.err = "the name is already in use";
		dup.sqlstate = "23505";
		cc->done(cc->arg, NULL, &dup);
	} else if (r->err != NULL) {
		if (r->sqlstate == NULL || strcmp(r->sqlstate, "23505") != 0)
			log_warnx("%s: %s", cc->name, r->err);
		cc->done(cc->arg, NULL, r);
	} else {
		memset(&row, 0, sizeof(row));
		row.id = cc->id;
		row.name = cc->name;
		row.token = cc->token;
		row.number = cc->number;
		row.settings = &cc->settings;
		row.proxy = &cc->proxy;
		row.created_us = cc->ts_us;
		inst = lc_register(app, &row, NULL, 0, 0, 1);
		if (cc->webhook_stmt >= 0 && cc->webhook_stmt < r->nres && PQntuples(r->res[cc->webhook_stmt]) == 1)
			inst->webhook = webhook_inst_from_json(PQgetvalue(r->res[cc->webhook_stmt], 0, 0));
		lc_setting_stamp(inst, cc->ts_us);
		if (cc->proxy.enabled)
			lc_proxy_stamp(inst, cc->ts_us);
		lc_fetch_refresh(app, inst);
		webhook_kick(app->webhook);
		log_info("%s: created (%s)", inst->name, inst->id);
		cc->done(cc->arg, inst, r);
	}
	free(cc->id);
	free(cc->name);
	free_wiped(cc->token, strlen(cc->token));
	free(cc->number);
	settings_clear(&cc->settings);
	proxy_clear(&cc->proxy);
	free(cc);
}

/* Write a new instance and its rows in one transaction with instance.create, then register it. */
void
lifecycle_create(struct app *app, const struct lifecycle_create *req,
    void (*done)(void *arg, struct instance *inst, const struct db_result *r), void *arg)
{
	struct lc_create_ctx *cc = xcalloc(1, sizeof(*cc));
	struct json_object *data;
	struct db_tx *tx;
	char id[37], tok[37], ts[40];

	random_uuid(id, 0);
	if (req->token == NULL || *req->token == '\0')
		random_uuid(tok, 1);
	cc->app = app;
	cc->id = xstrdup(id);
	cc->name = xstrdup(req->name);
	cc->token = xstrdup(req->token != NULL && *req->token != '\0' ? req->token : tok);
	cc->number = req->number != NULL && *req->number != '\0' ? xstrdup(req->number) : NULL;
	settings_copy(&cc->settings, req->settings);
	if (req->proxy != NULL && req->proxy->enabled)
		proxy_copy(&cc->proxy, req->proxy);
	cc->done = done;
	cc->arg = arg;
	cc->ts_us = lc_now_us();
	lc_ts_text(cc->ts_us, ts, sizeof(ts));

	tx = db_tx_new();
	{
		const char *p[6] = { cc->id, cc->name, cc->token, cc->number, app->cfg->client_name, ts };
		db_tx_add(tx, "INSERT INTO instance (id, name, token, number, client_name, created_at, updated_at)"
		    " VALUES ($1, $2, $3, $4, $5, $6::timestamptz, $6::timestamptz)", 6, p);
	}
	lc_settings_row(tx, cc->id, &cc->settings, cc->ts_us);
	cc->webhook_stmt = -1;
	if (req->webhook != NULL) {
		lc_webhook_row(tx, cc->id, req->webhook);
		cc->webhook_stmt = db_tx_count(tx) - 1;
	}
	if (cc->proxy.enabled)
		lc_proxy_row(tx, cc->id, &cc->proxy, cc->ts_us);
	data = json_object_new_object();
	json_object_object_add(data, "instanceName", json_object_new_string(cc->name));
	json_object_object_add(data, "instanceId", json_object_new_string(cc->id));
	webhook_enqueue(app->webhook, tx, cc->id, cc->name, "instance.create",
	    json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN), NULL);
	json_object_put(data);
	/* A fresh id: the chain is empty, but every write goes the one way. */
	lc_chain_push(app->lc, cc->id, tx, LC_WRITE_ONCE, NULL, lc_created_cb, cc);
}

/* A settings, proxy, webhook or logout write in flight. */
struct lc_set_ctx {
	struct app *app;
	char *instance_id;
	enum { LC_SET_SETTINGS, LC_SET_PROXY, LC_SET_WEBHOOK, LC_SET_LOGOUT } what;
	int64_t ts_us;			/* SETTINGS, PROXY: the row's updated_at */
	struct settings settings;
	struct proxy proxy;
	void (*done)(void *, const struct db_result *);
	void *arg;
};

/* The write is committed (or not): the registry and the worker take the new values, then the caller hears. */
static void
lc_set_committed_cb(void *arg, const struct db_result *r)
{
	struct lc_set_ctx *s = arg;
	struct instance *inst = registry_find_id(s->app->reg, s->instance_id);
	struct worker_spec spec;

	/* The chain ran every earlier write first and a delete after this one waits for it, so the entry is
	 * still there; the check only guards against a future caller that forgets that. */
	if (r->err == NULL && inst != NULL) {
		switch (s->what) {
		case LC_SET_SETTINGS:
			settings_copy(&inst->settings, &s->settings);
			lc_setting_stamp(inst, s->ts_us);
			break;
		case LC_SET_PROXY:
			proxy_copy(&inst->proxy, &s->proxy);
			lc_proxy_stamp(inst, s->ts_us);
			break;
		case LC_SET_LOGOUT:
			webhook_kick(s->app->webhook);
			break;
		case LC_SET_WEBHOOK:
			/* What message events resolve their targets from (webhook_enqueue_gated). */
			webhook_inst_free(inst->webhook);
			inst->webhook = r->nres == 1 && PQntuples(r->res[0]) == 1 ?
			    webhook_inst_from_json(PQgetvalue(r->res[0], 0, 0)) : NULL;
			break;
		}
		if (s->what == LC_SET_SETTINGS || s->what == LC_SET_PROXY) {
			lc_fetch_refresh(s->app, inst);
			lifecycle_spec(inst, &spec, 0);
			workers_update(s->app->workers, &spec);
		}
	}
	s->done(s->arg, r);
	free(s->instance_id);
	settings_clear(&s->settings);
	proxy_clear(&s->proxy);
	free(s);
}

/* Queue a settings/proxy/webhook write of inst: an API write, refused by an outage (LC_WRITE_ONCE). */
static void
lc_set_push(struct app *app, struct instance *inst, struct lc_set_ctx *s, struct db_tx *tx,
    void (*done)(void *, const struct db_result *), void *arg)
{
	s->app = app;
	s->instance_id = xstrdup(inst->id);
	s->done = done;
	s->arg = arg;
	lc_chain_push(app->lc, inst->id, tx, LC_WRITE_ONCE, NULL, lc_set_committed_cb, s);
}

/* Queue one row write of inst (what: SETTINGS with st, PROXY with px, WEBHOOK with wh). */
static int
lc_set_row(struct app *app, struct instance *inst, int what, const struct settings *st, const struct proxy *px,
    const struct lifecycle_webhook *wh, void (*done)(void *arg, const struct db_result *r), void *arg)
{
	struct lc_set_ctx *s;
	struct db_tx *tx;

	if (!lc_writable(app, inst))
		return -1;
	s = xcalloc(1, sizeof(*s));
	s->what = what;
	s->ts_us = lc_now_us();
	tx = db_tx_new();
	switch (what) {
	case LC_SET_SETTINGS:
		settings_copy(&s->settings, st);
		lc_settings_row(tx, inst->id, &s->settings, s->ts_us);
		break;
	case LC_SET_PROXY:
		proxy_copy(&s->proxy, px);
		lc_proxy_row(tx, inst->id, &s->proxy, s->ts_us);
		break;
	default:
		lc_webhook_row(tx, inst->id, wh);
		break;
	}
	lc_set_push(app, inst, s, tx, done, arg);
	return 0;
}

/* /settings/set: the row, then the registry and the worker. */
int
lifecycle_settings_set(struct app *app, struct instance *inst, const struct settings *st,
    void (*done)(void *arg, const struct db_result *r), void *arg)
{
	return lc_set_row(app, inst, LC_SET_SETTINGS, st, NULL, NULL, done, arg);
}

/* /proxy/set: the row, then the registry and the worker. */
int
lifecycle_proxy_set(struct app *app, struct instance *inst, const struct proxy *px,
    void (*done)(void *arg, const struct db_result *r), void *arg)
{
	return lc_set_row(app, inst, LC_SET_PROXY, NULL, px, NULL, done, arg);
}

/* /webhook/set: the row, returned as JSON text. */
int
lifecycle_webhook_set(struct app *app, struct instance *inst, const struct lifecycle_webhook *wh,
    void (*done)(void *arg, const struct db_result *r), void *arg)
{
	return lc_set_row(app, inst, LC_SET_WEBHOOK, NULL, NULL, wh, done, arg);
}

/* /instance/restart: mark the coming close as ours, then restart the worker. */
int
lifecycle_restart(struct app *app, struct instance *inst)
{
	int connecting;

	if (!lc_writable(app, inst))
		return -1;
	connecting = inst->state == CONN_CONNECTING;
	/* Only a live process reports a close when it ends; an idle worker just starts. */
	inst->restarting = workers_pid(app->workers, inst->id) > 0;
	if (workers_restart(app->workers, inst->id) == -1) {
		inst->restarting = 0;
		errno = ENOENT;
		return -1;
	}
	/* Evolution reconnects both a paired instance and one showing QR codes. */
	if (connecting)
		workers_connect(app->workers, inst->id, NULL);
	return 0;
}

/* Why a logout changed nothing though the database took the probe: the worker could not take Logout. */
const char lifecycle_worker_busy[] = "the worker cannot take Logout now";

/* A probe of the database: a write that changes nothing but needs the instance row and a writable
 * primary. lifecycle_logout and lifecycle_delete run it before they tell the worker anything. */
static struct db_tx *
lc_probe_tx(const char *instance_id)
{
	struct db_tx *tx = db_tx_new();
	const char *p[1] = { instance_id };

	db_tx_add(tx, "UPDATE instance SET updated_at = updated_at WHERE id = $1", 1, p);
	return tx;
}

/* The logout's probe answered: tell the worker, then wipe the creds row. */
static void
lc_logout_probed_cb(void *arg, const struct db_result *r)
{
	struct lc_set_ctx *s = arg;
	struct app *app = s->app;
	struct instance *inst = registry_find_id(app->reg, s->instance_id);
	struct db_result busy;
	struct db_tx *tx;
	const char *p[1];

	if (r->err == NULL && (inst == NULL || inst->deleting || workers_logout(app->workers, inst->id) == -1)) {
		/* The worker went away in between (or a delete came first): nothing was told, nothing written. */
		memset(&busy, 0, sizeof(busy));
		busy.err = lifecycle_worker_busy;
		r = &busy;
	}
	if (r->err != NULL) {
		s->done(s->arg, r);
		free(s->instance_id);
		free(s);
		return;
	}
	/* The account is being unlinked at WhatsApp now, so this write records a fact, not a wish: it is kept
	 * through an outage like a worker transition (RETRY) and the caller hears once it is written. Behind any
	 * store the worker asked for before, so those creds cannot come back; the worker's close 401 wipes the
	 * keys too. DELETE is idempotent, so an unanswered COMMIT needs no check. */
	p[0] = inst->id;
	tx = db_tx_new();
	/* The Signal keys and LID mappings belong to the unlinked device too (issue 9): a new pairing starts
	 * with none of them. */
	db_tx_add(tx, "DELETE FROM auth_creds WHERE instance_id = $1", 1, p);
	db_tx_add(tx, "DELETE FROM signal_identity WHERE instance_id = $1", 1, p);
	db_tx_add(tx, "DELETE FROM signal_prekey WHERE instance_id = $1", 1, p);
	db_tx_add(tx, "DELETE FROM signal_signed_prekey WHERE instance_id = $1", 1, p);
	db_tx_add(tx, "DELETE FROM signal_session WHERE instance_id = $1", 1, p);
	db_tx_add(tx, "DELETE FROM signal_sender_key WHERE instance_id = $1", 1, p);
	db_tx_add(tx, "DELETE FROM lid_map WHERE instance_id = $1", 1, p);
	/* The stores queued before this wipe commit before it: what they would teach the known cache is wiped. */
	known_clear(&inst->known);
	lc_chain_push(app->lc, inst->id, tx, LC_WRITE_RETRY, NULL, lc_set_committed_cb, s);
}

/* /instance/logout. An answered error must mean nothing changed, and Logout cannot be taken back (the
 * device is unlinked at WhatsApp), so the database is probed first, in the instance's order: if it cannot
 * take a write the caller gets 503 and the worker is never told. Once it is told, the creds wipe is kept
 * until written (lc_logout_probed_cb). */
int
lifecycle_logout(struct app *app, struct instance *inst, void (*done)(void *arg, const struct db_result *r),
    void *arg)
{
	struct lc_set_ctx *s;

	if (!lc_writable(app, inst))
		return -1;
	/* Checked again after the probe; this only spares a probe when the answer is known. */
	if (workers_pid(app->workers, inst->id) <= 0) {
		errno = EAGAIN;
		return -1;
	}
	s = xcalloc(1, sizeof(*s));
	s->what = LC_SET_LOGOUT;
	s->app = app;
	s->instance_id = xstrdup(inst->id);
	s->done = done;
	s->arg = arg;
	lc_chain_push(app->lc, inst->id, lc_probe_tx(inst->id), LC_WRITE_ONCE, NULL, lc_logout_probed_cb, s);
	return 0;
}

/* A delete in flight. */
struct lc_delete_ctx {
	struct app *app;
	char *instance_id;
	void (*done)(void *, int, const struct db_result *);
	void *arg;
};

/* The rows are gone (or not): stop the worker, end the waits, drop the registry entry. */
static void
lc_deleted_cb(void *arg, const struct db_result *r)
{
	struct lc_delete_ctx *d = arg;
	struct instance *inst = registry_find_id(d->app->reg, d->instance_id);

	if (r->err != NULL) {
		/* Nothing was deleted: the instance takes writes again. */
		if (inst != NULL)
			inst->deleting = 0;
		log_warnx("%s: %s", d->instance_id, r->err);
		if (d->done != NULL)
			d->done(d->arg, 0, r);
	} else {
		workers_remove(d->app->workers, d->instance_id);
		lc_wake(d->app->lc, d->instance_id, LIFECYCLE_WAKE_GONE);
		if (inst != NULL) {
			log_info("%s: deleted", inst->name);
			registry_remove(d->app->reg, inst);
		}
		webhook_kick(d->app->webhook);
		if (d->done != NULL)
			d->done(d->arg, 1, r);
	}
	free(d->instance_id);
	free(d);
}

/* Queue the delete of inst behind its earlier writes; later writes are refused from now on. flags:
 * LC_WRITE_ONCE when nothing was done yet (an error changes nothing), LC_WRITE_RETRY once the worker was told
 * to log out (the delete is then owed and kept until written). */
static int
lc_delete(struct app *app, struct instance *inst, unsigned flags, void (*done)(void *, int, const struct db_result *),
    void *arg)
{
	struct db_tx *tx, *check = NULL;
	struct lc_delete_ctx *d;
	struct json_object *data;
	const char *p[1] = { inst->id };

	if (!lc_writable(app, inst))
		return -1;
	inst->deleting = LC_DELETE_QUEUED;
	tx = db_tx_new();
	data = json_object_new_object();
	json_object_object_add(data, "instanceName", json_object_new_string(inst->name));
	json_object_object_add(data, "instanceId", json_object_new_string(inst->id));
	/* The events are queued before the rows go: they read the instance's webhook row. */
	webhook_enqueue(app->webhook, tx, inst->id, inst->name, "instance.delete",
	    json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN), inst->owner_jid);
	webhook_enqueue(app->webhook, tx, inst->id, inst->name, "remove.instance", "null", inst->owner_jid);
	json_object_put(data);
	db_tx_add(tx, "DELETE FROM instance WHERE id = $1", 1, p);
	if (flags & LC_WRITE_RETRY) {
		/* Only this write removes the row: if it is gone, an unanswered COMMIT did commit (running it again
		 * would queue the two events twice). */
		check = db_tx_new();
		db_tx_add(check, "SELECT NOT EXISTS (SELECT 1 FROM instance WHERE id = $1)", 1, p);
	}
	d = xcalloc(1, sizeof(*d));
	d->app = app;
	d->instance_id = xstrdup(inst->id);
	d->done = done;
	d->arg = arg;
	lc_chain_push(app->lc, inst->id, tx, flags, check, lc_deleted_cb, d);
	return 0;
}

/* The delete's probe answered: log the account out, then delete. */
static void
lc_delete_probed_cb(void *arg, const struct db_result *r)
{
	struct lc_delete_ctx *d = arg;
	struct app *app = d->app;
	struct instance *inst = registry_find_id(app->reg, d->instance_id);
	unsigned flags = LC_WRITE_ONCE;
	struct db_result gone;

	if (inst != NULL && inst->deleting == LC_DELETE_PROBING)
		inst->deleting = 0;
	memset(&gone, 0, sizeof(gone));
	gone.err = "the instance is gone";
	if (r->err == NULL && inst != NULL) {
		/* Told to log out, the worker unlinks the device: from here the delete is owed. A worker that
		 * cannot take it (gone, restarting) was told nothing. */
		if (inst->state != CONN_CLOSE && workers_logout(app->workers, inst->id) == 0)
			flags = LC_WRITE_RETRY;
		if (lc_delete(app, inst, flags, d->done, d->arg) == 0)
			goto out;
		r = &gone;
	} else if (r->err == NULL)
		r = &gone;
	log_warnx("%s: not deleted: %s", inst != NULL ? inst->name : d->instance_id, r->err);
	if (d->done != NULL)
		d->done(d->arg, 0, r);
out:
	free(d->instance_id);
	free(d);
}

/* /instance/delete: log a connected account out first, then delete everything. Logging out cannot be taken
 * back, so for a connected account the database is probed first (as for lifecycle_logout): an answered error
 * means the worker was never told and nothing was written. */
int
lifecycle_delete(struct app *app, struct instance *inst,
    void (*done)(void *arg, int ok, const struct db_result *r), void *arg)
{
	struct lc_delete_ctx *d;

	if (!lc_writable(app, inst))
		return -1;
	if (inst->state == CONN_CLOSE)
		return lc_delete(app, inst, LC_WRITE_ONCE, done, arg);
	/* API calls see it gone meanwhile; worker events are still written (lc_handle), the probe may fail. */
	inst->deleting = LC_DELETE_PROBING;
	d = xcalloc(1, sizeof(*d));
	d->app = app;
	d->instance_id = xstrdup(inst->id);
	d->done = done;
	d->arg = arg;
	lc_chain_push(app->lc, inst->id, lc_probe_tx(inst->id), LC_WRITE_ONCE, NULL, lc_delete_probed_cb, d);
	return 0;
}

/* DEL_INSTANCE: still not connected some minutes after creation. */
static void
lc_del_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct instance *inst = arg;
	struct app *app = inst->app;

	(void)fd;
	(void)what;
	/* An open that already arrived counts. */
	lc_pending_run(app->lc);
	if (inst->state == CONN_OPEN || inst->deleting)
		return;
	log_info("%s: not connected %d minute(s) after creation (DEL_INSTANCE): deleting",
	    inst->name, app->cfg->del_instance_minutes);
	lc_delete(app, inst, LC_WRITE_ONCE, NULL, NULL);
}

/* Move the next ANALYZE past the rows there are; whether a threshold was crossed. */
int
lc_analyze_skip(struct lifecycle *lc)
{
	int crossed = 0;

	while (lc->analyze_at != 0 && lc->messages >= lc->analyze_at) {
		lc->analyze_at = lc->analyze_at * 2 > LC_ANALYZE_UNTIL ? 0 : lc->analyze_at * 2;
		crossed = 1;
	}
	return crossed;
}

static void
lc_analyze_cb(void *arg, const struct db_result *r)
{
	(void)arg;
	if (r->err != NULL)
		log_warnx("analyzing the message tables: %s", r->err);
}

/*
 * Every message statement is prepared, and PostgreSQL keeps a generic plan for it after five runs. Planned
 * on a table with no statistics yet (a fresh install), every index on message looks the same, and the status
 * UPDATE took the (instance_id, message_timestamp) index with key_id as a filter: it read every row of the
 * instance, and the plan stays until an ANALYZE, which autovacuum runs only after a minute or more. One pair of
 * instances at ~1,000 texts/s went to 0.7 ms per UPDATE and half the throughput (bench/messages.sh with 4,000
 * texts). Statistics from even a few dozen real rows pick the (instance_id, key_id) index, so wagate runs
 * ANALYZE itself while the tables are young: when its instances' rows first reach 64, 128, ... and
 * LC_ANALYZE_UNTIL. ANALYZE takes no lock that writes wait for.
 */
static void
lc_analyze_young(struct app *app, int64_t added)
{
	struct lifecycle *lc = app->lc;

	if (lc == NULL)
		return;
	lc->messages += added;
	if (!lc_analyze_skip(lc))
		return;
	if (db_query(app->db, "ANALYZE message, chat, contact", 0, NULL, lc_analyze_cb, NULL) == -1)
		log_warnx("analyzing the message tables: not queued");
}

/* The messaging writers call this after the COMMIT that added (positive) or removed (negative) message,
 * contact or chat rows of an instance: fetchInstances' _count stays current without a COUNT(*). */
void
lifecycle_count_add(struct app *app, const char *instance_id, int64_t messages, int64_t contacts, int64_t chats)
{
	struct instance *inst = registry_find_id(app->reg, instance_id);

	if (inst == NULL)
		return;
	inst->count_messages += messages;
	inst->count_contacts += contacts;
	inst->count_chats += chats;
	lc_analyze_young(app, messages);
	/* A removal of more rows than were counted would be a caller's bug; never show a negative count. */
	if (inst->count_messages < 0)
		inst->count_messages = 0;
	if (inst->count_contacts < 0)
		inst->count_contacts = 0;
	if (inst->count_chats < 0)
		inst->count_chats = 0;
	/* Counts change with every stored message: the text is rebuilt when a list next shows it, not here
	 * (rebuilding it per message was ~4 % of the supervisor's CPU under bench/messages.sh). */
	instance_json_text_unref(inst->fetch_json);
	inst->fetch_json = NULL;
}
