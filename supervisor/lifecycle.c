#include "lifecycle.h"
#include "app.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "registry.h"
#include "webhook.h"
#include "workers.h"
#include "xmalloc.h"

#include <event2/event.h>
#include <json-c/json.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

void
lifecycle_spec(const struct instance *inst, struct worker_spec *spec, int connect_now)
{
	memset(spec, 0, sizeof(*spec));
	spec->instance_id = inst->id;
	spec->instance_name = inst->name;
	spec->reject_call = inst->settings.reject_call;
	spec->groups_ignore = inst->settings.groups_ignore;
	spec->always_online = inst->settings.always_online;
	spec->read_messages = inst->settings.read_messages;
	spec->read_status = inst->settings.read_status;
	spec->sync_full_history = inst->settings.sync_full_history;
	spec->msg_call = inst->settings.msg_call;
	spec->proxy_enabled = inst->proxy.enabled;
	spec->proxy_host = inst->proxy.host;
	spec->proxy_port = inst->proxy.port;
	spec->proxy_protocol = inst->proxy.protocol;
	spec->proxy_username = inst->proxy.username;
	spec->proxy_password = inst->proxy.password;
	spec->connect_now = connect_now;
}

static int
pq_bool(const PGresult *r, int row, int col)
{
	return !PQgetisnull(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
}

static const char *
pq_str(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

int
lifecycle_load(struct app *app, char *err, size_t errlen)
{
	static const char *sql =
	    "SELECT i.id, i.name, i.token, i.integration, i.number, i.owner_jid, i.profile_name,"
	    " i.connection_status,"
	    " coalesce(s.reject_call, false), coalesce(s.groups_ignore, false), coalesce(s.always_online, false),"
	    " coalesce(s.read_messages, false), coalesce(s.read_status, false), coalesce(s.sync_full_history, false),"
	    " coalesce(s.msg_call, ''), coalesce(s.wavoip_token, ''),"
	    " coalesce(p.enabled, false), p.host, p.port, p.protocol, p.username, p.password,"
	    " EXISTS (SELECT 1 FROM auth_creds c WHERE c.instance_id = i.id)"
	    " FROM instance i LEFT JOIN instance_setting s ON s.instance_id = i.id"
	    " LEFT JOIN instance_proxy p ON p.instance_id = i.id"
	    " WHERE i.client_name = $1 ORDER BY i.created_at";
	const char *params[1] = { app->cfg->client_name };
	PGconn *conn = PQconnectdb(app->cfg->database_uri);
	PGresult *r;
	int i, n;

	if (PQstatus(conn) != CONNECTION_OK) {
		snprintf(err, errlen, "connecting to the database: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return -1;
	}
	r = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "loading instances: %s", PQresultErrorMessage(r));
		PQclear(r);
		PQfinish(conn);
		return -1;
	}
	n = PQntuples(r);
	for (i = 0; i < n; i++) {
		struct instance *inst = instance_new(PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
		struct worker_spec spec;

		instance_set_str(&inst->integration, PQgetvalue(r, i, 3));
		instance_set_str(&inst->number, pq_str(r, i, 4));
		instance_set_str(&inst->owner_jid, pq_str(r, i, 5));
		instance_set_str(&inst->profile_name, pq_str(r, i, 6));
		/* The stored state is history: until its worker reports, the instance is close. */
		inst->state = INSTANCE_CLOSE;
		inst->settings.reject_call = pq_bool(r, i, 8);
		inst->settings.groups_ignore = pq_bool(r, i, 9);
		inst->settings.always_online = pq_bool(r, i, 10);
		inst->settings.read_messages = pq_bool(r, i, 11);
		inst->settings.read_status = pq_bool(r, i, 12);
		inst->settings.sync_full_history = pq_bool(r, i, 13);
		instance_set_str(&inst->settings.msg_call, PQgetvalue(r, i, 14));
		instance_set_str(&inst->settings.wavoip_token, PQgetvalue(r, i, 15));
		inst->proxy.enabled = pq_bool(r, i, 16);
		instance_set_str(&inst->proxy.host, pq_str(r, i, 17));
		instance_set_str(&inst->proxy.port, pq_str(r, i, 18));
		instance_set_str(&inst->proxy.protocol, pq_str(r, i, 19));
		instance_set_str(&inst->proxy.username, pq_str(r, i, 20));
		instance_set_str(&inst->proxy.password, pq_str(r, i, 21));
		inst->app = app;
		registry_add(app->reg, inst);
		/* Paired instances reconnect by themselves; unpaired ones wait for /instance/connect. */
		lifecycle_spec(inst, &spec, pq_bool(r, i, 22));
		if (workers_add(app->workers, &spec) == -1)
			log_warnx("lifecycle_load: %s: could not register its worker", inst->name);
	}
	PQclear(r);
	/* Whatever the table said, nothing is connected until a worker reports it. */
	r = PQexecParams(conn, "UPDATE instance SET connection_status = 'close', updated_at = now()"
	    " WHERE client_name = $1 AND connection_status <> 'close'", 1, NULL, params, NULL, NULL, 0);
	PQclear(r);
	PQfinish(conn);
	log_info("lifecycle_load: %d instance(s) loaded", n);
	return 0;
}

void
lifecycle_on_ready(void *ctx, const char *instance_id, pid_t pid)
{
	struct app *app = ctx;
	struct instance *inst = registry_find_id(app->reg, instance_id);

	log_debug("lifecycle_on_ready: %s: worker %d ready", inst != NULL ? inst->name : instance_id, (int)pid);
}

struct state_commit {
	struct app *app;
	char *instance_id;
};

static void
lifecycle_state_committed_cb(void *arg, const struct db_result *r)
{
	struct state_commit *sc = arg;

	if (r->err != NULL)
		log_warnx("lifecycle_on_state: %s: storing the state change failed: %s", sc->instance_id, r->err);
	else
		webhook_kick(sc->app->webhook);
	free(sc->instance_id);
	free(sc);
}

void
lifecycle_on_state(void *ctx, const char *instance_id, int state, int reason, const char *detail)
{
	struct app *app = ctx;
	struct instance *inst = registry_find_id(app->reg, instance_id);
	struct db_tx *tx;
	struct json_object *data;
	struct state_commit *sc;
	char reason_s[16];
	const char *state_s;

	if (inst == NULL || inst->deleting)
		return;
	if (state < INSTANCE_CLOSE || state > INSTANCE_OPEN)
		state = INSTANCE_CLOSE;
	if ((int)inst->state == state) {
		/* Only transitions are stored and announced (Evolution emits no event for a repeat). */
		inst->reason = reason;
		return;
	}
	log_info("lifecycle_on_state: %s: %s -> %s (reason %d%s%s)", inst->name, instance_state_name(inst->state),
	    instance_state_name((enum instance_state)state), reason, detail && *detail ? ": " : "",
	    detail ? detail : "");
	inst->state = (enum instance_state)state;
	inst->reason = reason;
	app->state_changes++;
	state_s = instance_state_name(inst->state);
	snprintf(reason_s, sizeof(reason_s), "%d", reason);

	tx = db_tx_new();
	if (inst->state == INSTANCE_CLOSE) {
		const char *p[4] = { inst->id, state_s, reason_s, detail != NULL ? detail : "" };
		db_tx_add(tx, "UPDATE instance SET connection_status = $2, disconnection_reason_code = $3::int,"
		    " disconnection_object = nullif($4, ''), disconnection_at = now(), updated_at = now()"
		    " WHERE id = $1", 4, p);
	} else {
		const char *p[2] = { inst->id, state_s };
		db_tx_add(tx, "UPDATE instance SET connection_status = $2, updated_at = now() WHERE id = $1", 2, p);
	}
	data = json_object_new_object();
	json_object_object_add(data, "instance", json_object_new_string(inst->name));
	if (inst->owner_jid != NULL)
		json_object_object_add(data, "wuid", json_object_new_string(inst->owner_jid));
	if (inst->profile_name != NULL)
		json_object_object_add(data, "profileName", json_object_new_string(inst->profile_name));
	json_object_object_add(data, "state", json_object_new_string(state_s));
	json_object_object_add(data, "statusReason", json_object_new_int(inst->state == INSTANCE_CLOSE ? reason : 200));
	webhook_enqueue(app->webhook, tx, inst->id, inst->name, "connection.update",
	    json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
	    inst->owner_jid);
	json_object_put(data);
	if (inst->state == INSTANCE_CLOSE && reason == 401) {
		/* Logged out from the phone or by us: credentials are void; the instance stays. */
		const char *p[1] = { inst->id };
		db_tx_add(tx, "DELETE FROM auth_creds WHERE instance_id = $1", 1, p);
		webhook_enqueue(app->webhook, tx, inst->id, inst->name, "logout.instance", "null", inst->owner_jid);
	}
	sc = xcalloc(1, sizeof(*sc));
	sc->app = app;
	sc->instance_id = xstrdup(inst->id);
	db_tx_run(app->db, tx, lifecycle_state_committed_cb, sc);
}

void
lifecycle_on_exit(void *ctx, const char *instance_id, int wstatus, int will_restart)
{
	struct app *app = ctx;
	struct instance *inst = registry_find_id(app->reg, instance_id);
	char why[64];

	if (inst == NULL)
		return;
	if (WIFSIGNALED(wstatus))
		snprintf(why, sizeof(why), "killed by signal %d", WTERMSIG(wstatus));
	else
		snprintf(why, sizeof(why), "exited with code %d", WEXITSTATUS(wstatus));
	/* The worker table reports the resulting close (reason 600) through on_state. */
	log_info("lifecycle_on_exit: %s: worker %s%s", inst->name, why, will_restart ? "; restarting" : "");
}

struct delete_ctx {
	struct app *app;
	char *instance_id;
	void (*done)(void *, int, const struct db_result *);
	void *arg;
};

static void
lifecycle_deleted_cb(void *arg, const struct db_result *r)
{
	struct delete_ctx *d = arg;
	struct instance *inst = registry_find_id(d->app->reg, d->instance_id);

	if (r->err != NULL) {
		if (inst != NULL)
			inst->deleting = 0;
		log_warnx("lifecycle_delete: %s: %s", d->instance_id, r->err);
		if (d->done != NULL)
			d->done(d->arg, 0, r);
	} else {
		workers_remove(d->app->workers, d->instance_id);
		if (inst != NULL) {
			log_info("lifecycle_delete: %s: deleted", inst->name);
			registry_remove(d->app->reg, inst);
		}
		webhook_kick(d->app->webhook);
		if (d->done != NULL)
			d->done(d->arg, 1, r);
	}
	free(d->instance_id);
	free(d);
}

void
lifecycle_delete(struct app *app, struct instance *inst,
    void (*done)(void *arg, int ok, const struct db_result *r), void *arg)
{
	struct db_tx *tx = db_tx_new();
	struct delete_ctx *d = xcalloc(1, sizeof(*d));
	struct json_object *data = json_object_new_object();
	const char *p[1] = { inst->id };

	inst->deleting = 1;
	json_object_object_add(data, "instanceName", json_object_new_string(inst->name));
	json_object_object_add(data, "instanceId", json_object_new_string(inst->id));
	/* The events are queued before the rows go: they read the instance's webhook row. */
	webhook_enqueue(app->webhook, tx, inst->id, inst->name, "instance.delete",
	    json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN), inst->owner_jid);
	webhook_enqueue(app->webhook, tx, inst->id, inst->name, "remove.instance", "null", inst->owner_jid);
	json_object_put(data);
	db_tx_add(tx, "DELETE FROM instance WHERE id = $1", 1, p);
	d->app = app;
	d->instance_id = xstrdup(inst->id);
	d->done = done;
	d->arg = arg;
	db_tx_run(app->db, tx, lifecycle_deleted_cb, d);
}

static void
lifecycle_del_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct instance *inst = arg;
	struct app *app = inst->app;

	(void)fd;
	(void)what;
	if (inst->state == INSTANCE_OPEN || inst->deleting)
		return;
	log_info("lifecycle: %s: not connected %d minute(s) after creation (DEL_INSTANCE): deleting",
	    inst->name, app->cfg->del_instance_minutes);
	lifecycle_delete(app, inst, NULL, NULL);
}

void
lifecycle_arm_del_timer(struct app *app, struct instance *inst)
{
	struct timeval tv = { 0, 0 };

	if (app->cfg->del_instance_minutes <= 0)
		return;
	tv.tv_sec = (time_t)app->cfg->del_instance_minutes * 60;
	inst->del_timer = evtimer_new(app->base, lifecycle_del_timer_cb, inst);
	evtimer_add(inst->del_timer, &tv);
}
