/* Instance lifecycle: worker events become committed rows and webhook outbox entries (DESIGN.md durability). */
#include "lifecycle.h"
#include "app.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "qr.h"
#include "registry.h"
#include "webhook.h"
#include "workers.h"
#include "xmalloc.h"

#include <ctype.h>
#include <event2/event.h>
#include <json-c/json.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/wait.h>

#define LIFECYCLE_QR_LIMIT_MSG	"QR code limit reached, please login again"

/* One write waiting for the earlier writes of its instance. */
struct lc_job {
	TAILQ_ENTRY(lc_job) entry;
	struct lc_chain *chain;
	struct db_tx *tx;
	db_cb cb;
	void *arg;
};

/* The writes of one instance, committed one after the other: two transactions of the same instance on two
 * pool connections could otherwise commit in either order (creds stored after the logout that voided them). */
struct lc_chain {
	LIST_ENTRY(lc_chain) entry;
	struct lifecycle *lc;
	char *instance_id;
	TAILQ_HEAD(, lc_job) jobs;	/* the first one is running */
};

/* An HTTP request waiting for a QR (create with qrcode:true, connect). */
struct lc_wait {
	LIST_ENTRY(lc_wait) entry;
	struct lifecycle *lc;
	char *instance_id;
	struct event *timer;
	enum lifecycle_wake why;
	int woken;
	void (*cb)(void *, struct instance *, enum lifecycle_wake);
	void *arg;
};

struct lifecycle {
	struct app *app;
	LIST_HEAD(, lc_chain) chains;
	LIST_HEAD(, lc_wait) waits;
};

/* lifecycle's state, made on first use. */
static struct lifecycle *
lc_get(struct app *app)
{
	if (app->lc == NULL) {
		app->lc = xcalloc(1, sizeof(*app->lc));
		app->lc->app = app;
		LIST_INIT(&app->lc->chains);
		LIST_INIT(&app->lc->waits);
	}
	return app->lc;
}

static void lc_chain_next(struct lc_chain *ch);

/* A write of the chain finished: hand the result on, then start the next one. */
static void
lc_job_done_cb(void *arg, const struct db_result *r)
{
	struct lc_job *job = arg;
	struct lc_chain *ch = job->chain;

	TAILQ_REMOVE(&ch->jobs, job, entry);
	if (job->cb != NULL)
		job->cb(job->arg, r);
	free(job);
	lc_chain_next(ch);
}

/* Start the first queued write, or drop the chain when none is left. */
static void
lc_chain_next(struct lc_chain *ch)
{
	struct lc_job *job = TAILQ_FIRST(&ch->jobs);

	if (job == NULL) {
		LIST_REMOVE(ch, entry);
		free(ch->instance_id);
		free(ch);
		return;
	}
	/* db_tx_run fails only on misuse (an empty tx): callers never queue one. */
	if (db_tx_run(ch->lc->app->db, job->tx, lc_job_done_cb, job) == -1)
		fatalx("%s: db_tx_run refused a transaction", ch->instance_id);
}

/* Queue tx behind the writes of its instance (see struct lc_chain). */
int
lifecycle_tx_run(struct app *app, const char *instance_id, struct db_tx *tx,
    void (*cb)(void *arg, const struct db_result *r), void *arg)
{
	struct lifecycle *lc = lc_get(app);
	struct lc_chain *ch;
	struct lc_job *job;
	int idle;

	if (tx == NULL || db_tx_count(tx) == 0) {
		db_tx_free(tx);
		return -1;
	}
	LIST_FOREACH(ch, &lc->chains, entry)
		if (strcmp(ch->instance_id, instance_id) == 0)
			break;
	if (ch == NULL) {
		ch = xcalloc(1, sizeof(*ch));
		ch->lc = lc;
		ch->instance_id = xstrdup(instance_id);
		TAILQ_INIT(&ch->jobs);
		LIST_INSERT_HEAD(&lc->chains, ch, entry);
	}
	job = xcalloc(1, sizeof(*job));
	job->chain = ch;
	job->tx = tx;
	job->cb = cb;
	job->arg = arg;
	idle = TAILQ_EMPTY(&ch->jobs);
	TAILQ_INSERT_TAIL(&ch->jobs, job, entry);
	if (idle)
		lc_chain_next(ch);
	return 0;
}

/* The wait ended (timer, or woken on the previous turn): tell the caller once and forget it. */
static void
lc_wait_fire_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lc_wait *wt = arg;
	struct app *app = wt->lc->app;
	struct instance *inst;

	(void)fd;
	(void)what;
	LIST_REMOVE(wt, entry);
	inst = registry_find_id(app->reg, wt->instance_id);
	if (inst != NULL && inst->deleting && wt->why != LIFECYCLE_WAKE_SHUTDOWN)
		inst = NULL;
	wt->cb(wt->arg, inst, wt->why);
	event_free(wt->timer);
	free(wt->instance_id);
	free(wt);
}

/* Register a QR wait; its timer doubles as the wake-up event. */
void
lifecycle_wait(struct app *app, const char *instance_id, int ms,
    void (*cb)(void *arg, struct instance *inst, enum lifecycle_wake why), void *arg)
{
	struct lifecycle *lc = lc_get(app);
	struct lc_wait *wt = xcalloc(1, sizeof(*wt));
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	wt->lc = lc;
	wt->instance_id = xstrdup(instance_id);
	wt->cb = cb;
	wt->arg = arg;
	wt->why = LIFECYCLE_WAKE_TIMEOUT;
	if ((wt->timer = evtimer_new(app->base, lc_wait_fire_cb, wt)) == NULL)
		fatalx("evtimer_new");
	LIST_INSERT_HEAD(&lc->waits, wt, entry);
	evtimer_add(wt->timer, &tv);
}

/* End the waits of one instance (all when instance_id is NULL) on the next loop turn. */
static void
lc_wake(struct app *app, const char *instance_id, enum lifecycle_wake why)
{
	struct lc_wait *wt;

	if (app->lc == NULL)
		return;
	LIST_FOREACH(wt, &app->lc->waits, entry) {
		if (wt->woken || (instance_id != NULL && strcmp(wt->instance_id, instance_id) != 0))
			continue;
		wt->woken = 1;
		wt->why = why;
		/* Not from here: the caller may be deep in a worker's IPC callback. */
		event_active(wt->timer, EV_TIMEOUT, 0);
	}
}

/* Answer every QR wait now. */
void
lifecycle_wait_shutdown(struct app *app)
{
	struct lc_wait *wt;

	if (app->lc == NULL)
		return;
	/* The HTTP server is freed right after this, so the answers go out now, not on a later turn. */
	while ((wt = LIST_FIRST(&app->lc->waits)) != NULL) {
		evtimer_del(wt->timer);
		wt->why = LIFECYCLE_WAKE_SHUTDOWN;
		lc_wait_fire_cb(-1, 0, wt);
	}
}

/* Release chains and waits (their callers are gone with the HTTP server and the pool). */
void
lifecycle_free(struct app *app)
{
	struct lifecycle *lc = app->lc;
	struct lc_chain *ch;
	struct lc_job *job;
	struct lc_wait *wt;

	if (lc == NULL)
		return;
	while ((wt = LIST_FIRST(&lc->waits)) != NULL) {
		LIST_REMOVE(wt, entry);
		event_free(wt->timer);
		free(wt->instance_id);
		free(wt);	/* its caller's state went with the HTTP server */
	}
	while ((ch = LIST_FIRST(&lc->chains)) != NULL) {
		/* The first job's tx belongs to the (freed) pool now; the queued ones never ran. */
		if ((job = TAILQ_FIRST(&ch->jobs)) != NULL) {
			TAILQ_REMOVE(&ch->jobs, job, entry);
			free(job);
		}
		while ((job = TAILQ_FIRST(&ch->jobs)) != NULL) {
			TAILQ_REMOVE(&ch->jobs, job, entry);
			db_tx_free(job->tx);
			free(job);
		}
		LIST_REMOVE(ch, entry);
		free(ch->instance_id);
		free(ch);
	}
	free(lc);
	app->lc = NULL;
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

/* Copy the settings and proxy a worker needs (strings borrowed). The registry is still flat here, so they
 * are lent through static copies: workers_add/workers_update copy them at once. */
void
lifecycle_spec(const struct instance *inst, struct worker_spec *spec, int connect_now)
{
	static struct settings set;
	static struct proxy px;

	memset(spec, 0, sizeof(*spec));
	set.reject_call = inst->settings.reject_call;
	set.groups_ignore = inst->settings.groups_ignore;
	set.always_online = inst->settings.always_online;
	set.read_messages = inst->settings.read_messages;
	set.read_status = inst->settings.read_status;
	set.sync_full_history = inst->settings.sync_full_history;
	set.msg_call = inst->settings.msg_call;
	px.enabled = inst->proxy.enabled;
	px.host = inst->proxy.host;
	px.port = inst->proxy.port;
	px.protocol = inst->proxy.protocol;
	px.username = inst->proxy.username;
	px.password = inst->proxy.password;
	spec->instance_id = inst->id;
	spec->instance_name = inst->name;
	spec->settings = &set;
	spec->proxy = &px;
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

/* Start-up: every instance of our client name, with its credentials, into the registry and the worker table. */
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
	    " coalesce(c.paired, false), c.creds"
	    " FROM instance i LEFT JOIN instance_setting s ON s.instance_id = i.id"
	    " LEFT JOIN instance_proxy p ON p.instance_id = i.id"
	    " LEFT JOIN auth_creds c ON c.instance_id = i.id"
	    " WHERE i.client_name = $1 ORDER BY i.created_at";
	const char *params[1] = { app->cfg->client_name };
	PGconn *conn = PQconnectdb(app->cfg->database_uri);
	PGresult *r;
	unsigned char *creds;
	size_t creds_len;
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
		/* Paired instances log in by themselves; unpaired ones wait for /instance/connect but keep their
		 * registration keys (the worker gets the blob either way). */
		lifecycle_spec(inst, &spec, pq_bool(r, i, 22));
		creds = NULL;
		creds_len = 0;
		if (!PQgetisnull(r, i, 23) &&
		    (creds = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 23), &creds_len)) == NULL)
			log_warnx("%s: could not decode the stored credentials", inst->name);
		spec.creds = creds;
		spec.creds_len = creds_len;
		if (workers_add(app->workers, &spec) == -1)
			log_warnx("%s: could not register its worker", inst->name);
		if (creds != NULL) {
			explicit_wipe(creds, creds_len);
			PQfreemem(creds);
		}
		/* The text form of the blob is in the result too. */
		if (!PQgetisnull(r, i, 23))
			explicit_wipe(PQgetvalue(r, i, 23), (size_t)PQgetlength(r, i, 23));
	}
	PQclear(r);
	/* Whatever the table said, nothing is connected until a worker reports it. */
	r = PQexecParams(conn, "UPDATE instance SET connection_status = 'close', updated_at = now()"
	    " WHERE client_name = $1 AND connection_status <> 'close'", 1, NULL, params, NULL, NULL, 0);
	PQclear(r);
	PQfinish(conn);
	log_info("%d instance(s) loaded", n);
	return 0;
}

void
lifecycle_on_ready(void *ctx, const char *instance_id, pid_t pid)
{
	struct app *app = ctx;
	struct instance *inst = registry_find_id(app->reg, instance_id);

	log_debug("%s: worker %d ready", inst != NULL ? inst->name : instance_id, (int)pid);
}

/* A state or QR write in flight. */
struct lc_commit {
	struct app *app;
	char *what;			/* "<instance>: <change>" for the failure log */
};

/* After a state/QR write: log a failure, or let the webhook loop look at the new outbox rows. */
static void
lifecycle_committed_cb(void *arg, const struct db_result *r)
{
	struct lc_commit *cm = arg;

	if (r->err != NULL)
		log_warnx("%s: storing it failed: %s", cm->what, r->err);
	else
		webhook_kick(cm->app->webhook);
	free(cm->what);
	free(cm);
}

/* Run a state/QR transaction of inst in its order; what names it in a failure log. */
static void
lifecycle_commit(struct app *app, struct instance *inst, struct db_tx *tx, const char *what)
{
	struct lc_commit *cm = xcalloc(1, sizeof(*cm));

	cm->app = app;
	xasprintf(&cm->what, "%s: %s", inst->name, what);
	lifecycle_tx_run(app, inst->id, tx, lifecycle_committed_cb, cm);
}

/* Queue one event of inst on tx with data as JSON text. */
static void
lifecycle_event(struct app *app, struct db_tx *tx, struct instance *inst, const char *event, struct json_object *data)
{
	webhook_enqueue(app->webhook, tx, inst->id, inst->name, event,
	    data != NULL ? json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) :
	    "null", inst->owner_jid);
}

/* A string member, or null when unknown. */
static struct json_object *
lifecycle_json_str(const char *s)
{
	return s != NULL ? json_object_new_string(s) : NULL;
}

/* QRCODE_LIMIT codes went unscanned (CLOSE/603): Evolution's "refused" pair of events, state close. */
static void
lifecycle_qr_limit(struct app *app, struct instance *inst, const char *detail)
{
	struct db_tx *tx = db_tx_new();
	struct json_object *data;
	const char *p[3] = { inst->id, "603", detail != NULL && *detail ? detail : "QR code limit reached" };

	db_tx_add(tx, "UPDATE instance SET connection_status = 'close', disconnection_reason_code = $2::int,"
	    " disconnection_object = $3, disconnection_at = now(), updated_at = now() WHERE id = $1", 3, p);
	data = json_object_new_object();
	json_object_object_add(data, "message", json_object_new_string(LIFECYCLE_QR_LIMIT_MSG));
	json_object_object_add(data, "statusCode", json_object_new_int(500));
	lifecycle_event(app, tx, inst, "qrcode.updated", data);
	json_object_put(data);
	data = json_object_new_object();
	json_object_object_add(data, "instance", json_object_new_string(inst->name));
	json_object_object_add(data, "state", json_object_new_string("refused"));
	json_object_object_add(data, "statusReason", json_object_new_int(428));
	json_object_object_add(data, "wuid", lifecycle_json_str(inst->owner_jid));
	json_object_object_add(data, "profileName", lifecycle_json_str(inst->profile_name));
	json_object_object_add(data, "profilePictureUrl", NULL);
	lifecycle_event(app, tx, inst, "connection.update", data);
	json_object_put(data);
	lifecycle_commit(app, inst, tx, "QR limit");
}

/* The account is open: store who we are, announce it. */
static void
lifecycle_open(struct app *app, struct instance *inst, const struct workers_account *acct)
{
	struct db_tx *tx = db_tx_new();
	struct json_object *data;
	char wuid[64];

	if (acct != NULL) {
		if (lifecycle_wuid(acct->jid, wuid, sizeof(wuid)) == 0)
			instance_set_str(&inst->owner_jid, wuid);
		else if (acct->jid[0] != '\0')
			log_warnx("%s: open with an unusable jid \"%s\"", inst->name, acct->jid);
		/* A push name arrives with every login; an empty one means the account has none. */
		instance_set_str(&inst->profile_name, acct->push_name[0] != '\0' ? acct->push_name : NULL);
	}
	{
		const char *p[3] = { inst->id, inst->owner_jid, inst->profile_name };
		db_tx_add(tx, "UPDATE instance SET connection_status = 'open', owner_jid = $2, profile_name = $3,"
		    " updated_at = now() WHERE id = $1", 3, p);
	}
	data = json_object_new_object();
	json_object_object_add(data, "instance", json_object_new_string(inst->name));
	json_object_object_add(data, "wuid", lifecycle_json_str(inst->owner_jid));
	json_object_object_add(data, "profileName", lifecycle_json_str(inst->profile_name));
	json_object_object_add(data, "profilePictureUrl", NULL);
	json_object_object_add(data, "state", json_object_new_string("open"));
	json_object_object_add(data, "statusReason", json_object_new_int(200));
	lifecycle_event(app, tx, inst, "connection.update", data);
	json_object_put(data);
	lifecycle_commit(app, inst, tx, "open");
}

/* connecting, or close for any reason but the QR limit. */
static void
lifecycle_transition(struct app *app, struct instance *inst, int reason, const char *detail, int void_creds)
{
	struct db_tx *tx = db_tx_new();
	struct json_object *data;
	char reason_s[16];
	const char *state_s = instance_state_name(inst->state);

	snprintf(reason_s, sizeof(reason_s), "%d", reason);
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
	lifecycle_event(app, tx, inst, "connection.update", data);
	json_object_put(data);
	if (void_creds) {
		/* Logged out from the phone or by us: credentials and every key are void; the instance stays. */
		static const char *const tables[] = { "auth_creds", "signal_identity", "signal_prekey",
		    "signal_signed_prekey", "signal_session", "signal_sender_key" };
		const char *p[1] = { inst->id };
		char sql[128];
		size_t i;

		for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
			snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE instance_id = $1", tables[i]);
			db_tx_add(tx, sql, 1, p);
		}
		lifecycle_event(app, tx, inst, "logout.instance", NULL);
	}
	lifecycle_commit(app, inst, tx, state_s);
}

/* ConnectionUpdate (or the table's own close after an exit): store, announce, void creds on 401. */
void
lifecycle_on_state(void *ctx, const char *instance_id, int state, int reason, const char *detail,
    const struct workers_account *acct)
{
	struct app *app = ctx;
	struct instance *inst = registry_find_id(app->reg, instance_id);
	enum instance_state old;
	int repeat, logged_out, qr_limit;

	if (inst == NULL || inst->deleting)
		return;
	if (state < INSTANCE_CLOSE || state > INSTANCE_OPEN)
		state = INSTANCE_CLOSE;
	if (state == INSTANCE_OPEN)
		lc_wake(app, inst->id, LIFECYCLE_WAKE_OPEN);
	else if (state == INSTANCE_CLOSE)
		lc_wake(app, inst->id, LIFECYCLE_WAKE_CLOSE);
	old = inst->state;
	logged_out = state == INSTANCE_CLOSE && reason == WORKERS_REASON_LOGGED_OUT;
	qr_limit = state == INSTANCE_CLOSE && reason == 603;
	/* Only transitions are stored and announced (Evolution emits no event for a repeat); a logout or the
	 * QR limit counts as new unless it is the same close repeated (the worker's report, then its exit 3). */
	repeat = (int)old == state && !((logged_out || qr_limit) && inst->reason != reason);
	if (state != INSTANCE_CONNECTING)
		instance_qr_reset(inst);
	if (repeat) {
		inst->reason = reason;
		if (state == INSTANCE_OPEN && acct != NULL) {
			char wuid[64];
			if (lifecycle_wuid(acct->jid, wuid, sizeof(wuid)) == 0)
				instance_set_str(&inst->owner_jid, wuid);
		}
		return;
	}
	log_info("%s: %s -> %s (reason %d%s%s)", inst->name, instance_state_name(old),
	    instance_state_name((enum instance_state)state), reason, detail && *detail ? ": " : "",
	    detail ? detail : "");
	inst->state = (enum instance_state)state;
	inst->reason = reason;
	app->state_changes++;
	if (logged_out)
		workers_forget_creds(app->workers, inst->id);
	if (qr_limit)
		lifecycle_qr_limit(app, inst, detail);
	else if (state == INSTANCE_OPEN)
		lifecycle_open(app, inst, acct);
	else
		lifecycle_transition(app, inst, reason, detail, logged_out);
}

/* QrUpdate: keep the QR object, mark the instance connecting, announce qrcode.updated. */
void
lifecycle_on_qr(void *ctx, const char *instance_id, const char *qr, unsigned count, const char *pairing_code)
{
	struct app *app = ctx;
	struct instance *inst = registry_find_id(app->reg, instance_id);
	struct json_object *data, *q;
	struct db_tx *tx;
	char *uri = NULL;
	const char *p[1];

	if (inst == NULL || inst->deleting)
		return;
	if (*qr == '\0') {
		log_warnx("%s: empty QR text ignored", inst->name);
		return;
	}
	if (inst->state == INSTANCE_CLOSE)
		/* The worker always says connecting first; if that got lost, say it for it. */
		lifecycle_on_state(app, instance_id, INSTANCE_CONNECTING, 0, "QR code", NULL);
	if (qr_render_data_uri(qr, &uri) == -1)
		log_warnx("%s: could not render the QR code (%zu bytes)", inst->name, strlen(qr));
	instance_set_str(&inst->qr_code, qr);
	free(inst->qr_base64);
	inst->qr_base64 = uri;
	instance_set_str(&inst->qr_pairing_code, pairing_code != NULL && *pairing_code ? pairing_code : NULL);
	inst->qr_count = count > 0 ? count : inst->qr_count + 1;
	log_debug("%s: QR code %u%s%s", inst->name, inst->qr_count,
	    inst->qr_pairing_code ? ", pairing code " : "", inst->qr_pairing_code ? inst->qr_pairing_code : "");

	tx = db_tx_new();
	p[0] = inst->id;
	db_tx_add(tx, "UPDATE instance SET connection_status = 'connecting', updated_at = now() WHERE id = $1", 1, p);
	data = json_object_new_object();
	q = json_object_new_object();
	json_object_object_add(q, "instance", json_object_new_string(inst->name));
	json_object_object_add(q, "pairingCode", lifecycle_json_str(inst->qr_pairing_code));
	json_object_object_add(q, "code", json_object_new_string(inst->qr_code));
	json_object_object_add(q, "base64", lifecycle_json_str(inst->qr_base64));
	json_object_object_add(data, "qrcode", q);
	lifecycle_event(app, tx, inst, "qrcode.updated", data);
	json_object_put(data);
	lifecycle_commit(app, inst, tx, "QR code");
	lc_wake(app, inst->id, LIFECYCLE_WAKE_QR);
}

/* A request of a worker, waiting for its commit. */
struct lc_request {
	struct app *app;
	char *instance_id;
	uint64_t req;
	int pair;
	char *wuid;			/* PairSuccess: the owner JID to keep once committed */
};

/* The pairing or store transaction finished: answer the worker (it waits for this). */
static void
lifecycle_request_done_cb(void *arg, const struct db_result *r)
{
	struct lc_request *rq = arg;
	struct app *app = rq->app;
	struct instance *inst = registry_find_id(app->reg, rq->instance_id);
	const char *name = inst != NULL ? inst->name : rq->instance_id;
	char err[256];

	if (r->err != NULL) {
		log_warnx("%s: storing %s failed: %s", name, rq->pair ? "the pairing" : "a batch", r->err);
		snprintf(err, sizeof(err), "%s", r->unavailable ? "database unavailable" : r->err);
	} else if (rq->pair && inst != NULL) {
		instance_set_str(&inst->owner_jid, rq->wuid);
		log_info("%s: paired as %s", inst->name, rq->wuid);
	}
	if (rq->pair)
		workers_reply_pair(app->workers, rq->instance_id, rq->req, r->err == NULL, r->err != NULL ? err : NULL);
	else
		workers_reply_store(app->workers, rq->instance_id, rq->req, r->err == NULL, r->err != NULL ? err : NULL);
	free(rq->instance_id);
	free(rq->wuid);
	free(rq);
}

/* Queue a worker request's transaction in the instance's order. */
static void
lifecycle_request(struct app *app, struct instance *inst, uint64_t req, int pair, const char *wuid, struct db_tx *tx)
{
	struct lc_request *rq = xcalloc(1, sizeof(*rq));

	rq->app = app;
	rq->instance_id = xstrdup(inst->id);
	rq->req = req;
	rq->pair = pair;
	rq->wuid = wuid != NULL ? xstrdup(wuid) : NULL;
	lifecycle_tx_run(app, inst->id, tx, lifecycle_request_done_cb, rq);
}

/* PairSuccess: creds (paired) and owner JID in one transaction, then Result to the worker. */
void
lifecycle_on_pair_success(void *ctx, const char *instance_id, uint64_t req, const struct workers_pair *pr)
{
	struct app *app = ctx;
	struct instance *inst = registry_find_id(app->reg, instance_id);
	struct db_tx *tx;
	char wuid[64];

	if (inst == NULL || inst->deleting) {
		workers_reply_pair(app->workers, instance_id, req, 0, "the instance is being deleted");
		return;
	}
	if (lifecycle_wuid(pr->jid, wuid, sizeof(wuid)) == -1) {
		log_warnx("%s: not a phone JID: \"%s\"", inst->name, pr->jid);
		workers_reply_pair(app->workers, instance_id, req, 0, "jid is not a phone-number device JID");
		return;
	}
	tx = db_tx_new();
	{
		const char *p[2] = { inst->id, (const char *)pr->creds };
		int len[2] = { 0, (int)pr->creds_len }, fmt[2] = { 0, 1 };
		db_tx_add_bin(tx, "INSERT INTO auth_creds (instance_id, creds, paired, updated_at)"
		    " VALUES ($1, $2, true, now()) ON CONFLICT (instance_id) DO UPDATE"
		    " SET creds = EXCLUDED.creds, paired = true, updated_at = now()", 2, p, len, fmt);
	}
	{
		const char *p[2] = { inst->id, wuid };
		db_tx_add(tx, "UPDATE instance SET owner_jid = $2, updated_at = now() WHERE id = $1", 2, p);
	}
	log_info("%s: phone linked %s (platform %s)", inst->name, pr->jid,
	    pr->platform[0] ? pr->platform : "?");
	lifecycle_request(app, inst, req, 1, wuid, tx);
}

/* StoreBatch: creds, prekeys and the uploaded mark in one transaction, then StoreAck. */
void
lifecycle_on_store(void *ctx, const char *instance_id, uint64_t req, const struct workers_store *b)
{
	struct app *app = ctx;
	struct instance *inst = registry_find_id(app->reg, instance_id);
	struct db_tx *tx;

	if (inst == NULL || inst->deleting) {
		workers_reply_store(app->workers, instance_id, req, 0, "the instance is being deleted");
		return;
	}
	tx = db_tx_new();
	if (b->creds_len > 0) {
		/* paired stays what it was: a fresh row is an unpaired registration. */
		const char *p[2] = { inst->id, (const char *)b->creds };
		int len[2] = { 0, (int)b->creds_len }, fmt[2] = { 0, 1 };
		db_tx_add_bin(tx, "INSERT INTO auth_creds (instance_id, creds) VALUES ($1, $2)"
		    " ON CONFLICT (instance_id) DO UPDATE SET creds = EXCLUDED.creds, updated_at = now()",
		    2, p, len, fmt);
	}
	if (b->nprekeys > 0) {
		/* One statement for the whole batch: ids and hex records as two parallel arrays. A conflict with a
		 * stored id is a worker bug and fails the batch (nothing is overwritten). */
		size_t i, idlen = b->nprekeys * 10 + 3, reclen = 3;
		char *ids, *recs, *ip, *rp;
		const char *p[3];

		for (i = 0; i < b->nprekeys; i++)
			reclen += b->prekeys[i].len * 2 + 1;
		ip = ids = xmalloc(idlen);
		rp = recs = xmalloc(reclen);
		*ip++ = '{';
		*rp++ = '{';
		for (i = 0; i < b->nprekeys; i++) {
			static const char hex[] = "0123456789abcdef";
			size_t j;

			if (i > 0) {
				*ip++ = ',';
				*rp++ = ',';
			}
			ip += snprintf(ip, idlen - (size_t)(ip - ids), "%u", b->prekeys[i].id);
			for (j = 0; j < b->prekeys[i].len; j++) {
				*rp++ = hex[b->prekeys[i].record[j] >> 4];
				*rp++ = hex[b->prekeys[i].record[j] & 15];
			}
		}
		*ip++ = '}';
		*ip = '\0';
		*rp++ = '}';
		*rp = '\0';
		p[0] = inst->id;
		p[1] = ids;
		p[2] = recs;
		db_tx_add(tx, "INSERT INTO signal_prekey (instance_id, key_id, record)"
		    " SELECT $1::uuid, k, decode(r, 'hex') FROM unnest($2::int[], $3::text[]) AS t(k, r)", 3, p);
		free(ids);
		free_wiped(recs, reclen);
	}
	if (b->prekeys_uploaded_upto > 0) {
		char upto[16];
		const char *p[2] = { inst->id, upto };

		snprintf(upto, sizeof(upto), "%u", b->prekeys_uploaded_upto);
		db_tx_add(tx, "UPDATE signal_prekey SET uploaded = true"
		    " WHERE instance_id = $1 AND key_id <= $2::int AND NOT uploaded", 2, p);
	}
	if (db_tx_count(tx) == 0) {
		db_tx_free(tx);
		workers_reply_store(app->workers, instance_id, req, 1, NULL);
		return;
	}
	log_debug("%s: creds %zu bytes, %zu prekeys, uploaded up to %u", inst->name,
	    b->creds_len, b->nprekeys, b->prekeys_uploaded_upto);
	lifecycle_request(app, inst, req, 0, NULL, tx);
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
	log_info("%s: worker %s%s", inst->name, why, will_restart ? "; restarting" : "");
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
		log_warnx("%s: %s", d->instance_id, r->err);
		if (d->done != NULL)
			d->done(d->arg, 0, r);
	} else {
		workers_remove(d->app->workers, d->instance_id);
		lc_wake(d->app, d->instance_id, LIFECYCLE_WAKE_GONE);
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
	log_info("%s: not connected %d minute(s) after creation (DEL_INSTANCE): deleting",
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
