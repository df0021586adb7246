/* Worker events become committed rows and webhook outbox entries (DESIGN.md durability). The worker table
 * calls in from its IPC read callback, so each callback only copies what arrived into a pending record; the
 * rendering, JSON and SQL happen on the next loop turn, in arrival order (STYLE rule 15). */
#include "lifecycle_int.h"
#include "hex.h"
#include "app.h"
#include "db.h"
#include "known.h"
#include "log.h"
#include "qr.h"
#include "registry.h"
#include "seal_store.h"
#include "webhook.h"
#include "workers.h"
#include "xmalloc.h"

#include <event2/event.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define LIFECYCLE_QR_LIMIT_MSG	"QR code limit reached, please login again"

enum lc_kind { LC_STATE, LC_QR, LC_PAIR, LC_STORE, LC_EXIT, LC_CALL };

/* One worker event as it arrived; every pointer is owned (the callback's own die with the callback). */
struct lc_pending {
	TAILQ_ENTRY(lc_pending) entry;
	enum lc_kind kind;
	char *instance_id;
	uint64_t req;			/* PAIR, STORE: the request to answer */
	int state, reason;		/* STATE */
	int wstatus, will_restart;	/* EXIT */
	unsigned count;			/* QR */
	char *text;			/* STATE: detail; QR: the QR text */
	char *code;			/* QR: pairing code */
	int has_acct;			/* STATE: OPEN reported with the account */
	char *jid, *lid, *push_name;	/* STATE (account), PAIR */
	char *platform;			/* PAIR */
	unsigned char *creds;		/* PAIR, STORE (wiped when freed) */
	size_t creds_len;
	struct workers_prekey *prekeys;	/* STORE: records point into records */
	size_t nprekeys;
	unsigned char *records;		/* wiped when freed */
	size_t records_len;
	unsigned upto;			/* STORE */
	lc_call_fn fn;			/* CALL: runs with payload (which it then owns) */
	void (*free_fn)(void *);
	void *payload;
};

/* A copy of a string the callback only lends (NULL stays NULL). */
static char *
lc_dup(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

/* Release a pending record, wiping the key material. */
static void
lc_pending_free(struct lc_pending *pd)
{
	if (pd == NULL)
		return;
	free(pd->instance_id);
	free(pd->text);
	free(pd->code);
	free(pd->jid);
	free(pd->lid);
	free(pd->push_name);
	free(pd->platform);
	if (pd->creds != NULL)
		free_wiped(pd->creds, pd->creds_len);
	if (pd->records != NULL)
		free_wiped(pd->records, pd->records_len);
	free(pd->prekeys);
	if (pd->payload != NULL)
		pd->free_fn(pd->payload);
	free(pd);
}

/* A new record of kind for instance_id. */
static struct lc_pending *
lc_pending_new(enum lc_kind kind, const char *instance_id)
{
	struct lc_pending *pd = xcalloc(1, sizeof(*pd));

	pd->kind = kind;
	pd->instance_id = xstrdup(instance_id);
	return pd;
}

/* Queue a record; the deferred event handles the queue after the IPC callback returns. */
static void
lc_pending_add(struct app *app, struct lc_pending *pd)
{
	struct lifecycle *lc = app->lc;

	TAILQ_INSERT_TAIL(&lc->pending, pd, entry);
	if (lc->npending++ == 0)
		event_active(lc->deferred, EV_TIMEOUT, 0);
}

/* Drop what was never handled (at exit). */
void
lc_pending_free_all(struct lifecycle *lc)
{
	struct lc_pending *pd;

	while ((pd = TAILQ_FIRST(&lc->pending)) != NULL) {
		TAILQ_REMOVE(&lc->pending, pd, entry);
		lc_pending_free(pd);
	}
	lc->npending = 0;
}

/* Worker table callback: the worker answered Start. Only a log line, so it needs no deferral. */
void
lifecycle_on_ready(void *ctx, const char *instance_id, pid_t pid)
{
	struct app *app = ctx;
	struct instance *inst = registry_find_id(app->reg, instance_id);

	log_debug("%s: worker %d ready", inst != NULL ? inst->name : instance_id, (int)pid);
}

/* Worker table callback: ConnectionUpdate, or the table's own close after an exit. */
void
lifecycle_on_state(void *ctx, const char *instance_id, int state, int reason, const char *detail,
    const struct workers_account *acct)
{
	struct lc_pending *pd = lc_pending_new(LC_STATE, instance_id);

	pd->state = state;
	pd->reason = reason;
	pd->text = lc_dup(detail);
	if (acct != NULL) {
		pd->has_acct = 1;
		pd->jid = lc_dup(acct->jid);
		pd->lid = lc_dup(acct->lid);
		pd->push_name = lc_dup(acct->push_name);
	}
	lc_pending_add(ctx, pd);
}

/* Worker table callback: QrUpdate. */
void
lifecycle_on_qr(void *ctx, const char *instance_id, const char *qr, unsigned count, const char *pairing_code)
{
	struct lc_pending *pd = lc_pending_new(LC_QR, instance_id);

	pd->text = lc_dup(qr);
	pd->code = lc_dup(pairing_code);
	pd->count = count;
	lc_pending_add(ctx, pd);
}

/* Worker table callback: PairSuccess (answered after its COMMIT). */
void
lifecycle_on_pair_success(void *ctx, const char *instance_id, uint64_t req, const struct workers_pair *p)
{
	struct lc_pending *pd = lc_pending_new(LC_PAIR, instance_id);

	pd->req = req;
	pd->jid = lc_dup(p->jid);
	pd->platform = lc_dup(p->platform);
	pd->creds = seal_store_creds(((struct app *)ctx)->cfg, instance_id, p->creds, p->creds_len, &pd->creds_len);
	lc_pending_add(ctx, pd);
}

/* Worker table callback: StoreBatch (answered after its COMMIT). */
void
lifecycle_on_store(void *ctx, const char *instance_id, uint64_t req, const struct workers_store *b)
{
	struct lc_pending *pd = lc_pending_new(LC_STORE, instance_id);
	size_t i, off = 0;

	pd->req = req;
	pd->creds = seal_store_creds(((struct app *)ctx)->cfg, instance_id, b->creds, b->creds_len, &pd->creds_len);
	pd->upto = b->prekeys_uploaded_upto;
	if (b->nprekeys > 0) {
		/* The worker table capped both (WORKERS_PREKEYS_MAX, WORKERS_PREKEY_RECORD_MAX). */
		for (i = 0; i < b->nprekeys; i++)
			pd->records_len += b->prekeys[i].len;
		pd->records = xmalloc(pd->records_len > 0 ? pd->records_len : 1);
		pd->prekeys = xcalloc(b->nprekeys, sizeof(*pd->prekeys));
		pd->nprekeys = b->nprekeys;
		for (i = 0; i < b->nprekeys; i++) {
			memcpy(pd->records + off, b->prekeys[i].record, b->prekeys[i].len);
			pd->prekeys[i].id = b->prekeys[i].id;
			pd->prekeys[i].record = pd->records + off;
			pd->prekeys[i].len = b->prekeys[i].len;
			off += b->prekeys[i].len;
		}
		seal_store_prekeys(((struct app *)ctx)->cfg, instance_id, pd->prekeys, pd->nprekeys, &pd->records,
		    &pd->records_len);
	}
	lc_pending_add(ctx, pd);
}

/* A request of lifecycle_msg.c, queued with the worker events. */
void
lc_pending_call(struct app *app, const char *instance_id, lc_call_fn fn, void (*free_fn)(void *), void *payload)
{
	struct lc_pending *pd = lc_pending_new(LC_CALL, instance_id);

	pd->fn = fn;
	pd->free_fn = free_fn;
	pd->payload = payload;
	lc_pending_add(app, pd);
}

void *
lc_pending_last_call(struct app *app, const char *instance_id, lc_call_fn fn)
{
	struct lc_pending *pd;
	int n = 0;

	TAILQ_FOREACH_REVERSE(pd, &app->lc->pending, lc_pending_head, entry) {
		if (pd->instance_id != NULL && strcmp(pd->instance_id, instance_id) == 0)
			return pd->kind == LC_CALL && pd->fn == fn ? pd->payload : NULL;
		if (++n == LC_PENDING_LOOK)
			break;
	}
	return NULL;
}

/* Worker table callback: the process ended. */
void
lifecycle_on_exit(void *ctx, const char *instance_id, int wstatus, int will_restart)
{
	struct lc_pending *pd = lc_pending_new(LC_EXIT, instance_id);

	pd->wstatus = wstatus;
	pd->will_restart = will_restart;
	lc_pending_add(ctx, pd);
}

/* A state or QR write in flight. */
struct lc_commit {
	struct app *app;
	char *what;			/* "<instance>: <change>" for the failure log */
};

/* After a state/QR write: log a failure, or let the webhook loop look at the new outbox rows. */
static void
lc_committed_cb(void *arg, const struct db_result *r)
{
	struct lc_commit *cm = arg;

	if (r->err != NULL && r->unavailable)
		log_debug("%s: %s", cm->what, r->err);	/* coalesced: lifecycle_chain.c logged it */
	else if (r->err != NULL)
		log_warnx("%s: storing it failed: %s", cm->what, r->err);
	else
		webhook_kick(cm->app->webhook);
	free(cm->what);
	free(cm);
}

/* Run a state/QR transaction of inst in its order; what names it in a failure log. It records what already
 * happened at the worker, so it is kept through a database outage (LC_WRITE_RETRY); coalesce: a later
 * transition supersedes it (not a creds wipe). Every such write stamps the instance row with inst->updated_us,
 * unique per instance (lc_stamp), so whether an unanswered COMMIT committed is one look at the row. */
static void
lc_commit(struct app *app, struct instance *inst, struct db_tx *tx, const char *what, int coalesce)
{
	struct lc_commit *cm = xcalloc(1, sizeof(*cm));
	struct db_tx *check = db_tx_new();
	char ts[40];
	const char *p[2] = { inst->id, ts };

	lc_ts_text(inst->updated_us, ts, sizeof(ts));
	db_tx_add(check, "SELECT EXISTS (SELECT 1 FROM instance WHERE id = $1 AND updated_at = $2::timestamptz)",
	    2, p);
	cm->app = app;
	xasprintf(&cm->what, "%s: %s", inst->name, what);
	lc_chain_push(app->lc, inst->id, tx, LC_WRITE_RETRY | (coalesce ? LC_WRITE_COALESCE : 0), check,
	    lc_committed_cb, cm);
}

/* Queue one event of inst on tx with data as JSON text. */
static void
lc_event(struct app *app, struct db_tx *tx, struct instance *inst, const char *event, struct json_object *data)
{
	webhook_enqueue(app->webhook, tx, inst->id, inst->name, event,
	    data != NULL ? json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) :
	    "null", inst->owner_jid);
}

/* A string member, or null when unknown. */
static struct json_object *
lc_json_str(const char *s)
{
	return s != NULL ? json_object_new_string(s) : NULL;
}

/* The instance row is written now: keep its updated_at in the registry (with the state, which the registry
 * takes when the report arrives) and its literal in ts. */
static void
lc_stamp(struct instance *inst, char *ts, size_t tslen)
{
	int64_t now = lc_now_us();

	/* Strictly increasing per instance: the stamp tells whether a write committed (lc_commit). */
	inst->updated_us = now > inst->updated_us ? now : inst->updated_us + 1;
	lc_ts_text(inst->updated_us, ts, tslen);
}

/* A close is written now: the disconnection columns as the row gets them (object NULL when empty). */
static void
lc_stamp_close(struct instance *inst, int reason, const char *object, char *ts, size_t tslen)
{
	lc_stamp(inst, ts, tslen);
	inst->has_disconnection = 1;
	inst->disconnection_code = reason;
	instance_set_str(&inst->disconnection_object, object != NULL && *object != '\0' ? object : NULL);
	inst->disconnection_us = inst->updated_us;
}

/* The disconnection columns as the registry has them (all NULL without one), for the writes that are not a
 * close: they restate them, so a close coalesced away during an outage (lifecycle_chain.c) cannot leave the
 * row with an older disconnection than the registry shows. */
struct lc_disc {
	char code[16], at[40];
	const char *p[3];		/* code, object, at: parameters of LC_DISC_SET */
};

#define LC_DISC_SET(c, o, a) "disconnection_reason_code = $" #c "::int, disconnection_object = $" #o ", " \
	"disconnection_at = $" #a "::timestamptz"

/* Fill d from inst. */
static void
lc_disc(const struct instance *inst, struct lc_disc *d)
{
	memset(d, 0, sizeof(*d));
	if (!inst->has_disconnection)
		return;
	snprintf(d->code, sizeof(d->code), "%d", inst->disconnection_code);
	d->p[0] = d->code;
	d->p[1] = inst->disconnection_object;
	if (inst->disconnection_us != 0) {
		lc_ts_text(inst->disconnection_us, d->at, sizeof(d->at));
		d->p[2] = d->at;
	}
}

/* QRCODE_LIMIT codes went unscanned (CLOSE/REASON_QR_LIMIT): Evolution's "refused" pair of events, state close. */
static void
lc_qr_limit(struct app *app, struct instance *inst, const char *detail)
{
	struct db_tx *tx = db_tx_new();
	struct json_object *data;
	char reason_s[16], ts[40];
	const char *p[4] = { inst->id, reason_s, detail != NULL && *detail ? detail : "QR code limit reached", ts };

	snprintf(reason_s, sizeof(reason_s), "%d", REASON_QR_LIMIT);
	lc_stamp_close(inst, REASON_QR_LIMIT, p[2], ts, sizeof(ts));
	db_tx_add(tx, "UPDATE instance SET connection_status = 'close', disconnection_reason_code = $2::int,"
	    " disconnection_object = $3, disconnection_at = $4::timestamptz, updated_at = $4::timestamptz"
	    " WHERE id = $1", 4, p);
	data = json_object_new_object();
	json_object_object_add(data, "message", json_object_new_string(LIFECYCLE_QR_LIMIT_MSG));
	json_object_object_add(data, "statusCode", json_object_new_int(500));
	lc_event(app, tx, inst, "qrcode.updated", data);
	json_object_put(data);
	data = json_object_new_object();
	json_object_object_add(data, "instance", json_object_new_string(inst->name));
	json_object_object_add(data, "state", json_object_new_string("refused"));
	json_object_object_add(data, "statusReason", json_object_new_int(428));
	json_object_object_add(data, "wuid", lc_json_str(inst->owner_jid));
	json_object_object_add(data, "profileName", lc_json_str(inst->profile_name));
	json_object_object_add(data, "profilePictureUrl", NULL);
	lc_event(app, tx, inst, "connection.update", data);
	json_object_put(data);
	lc_commit(app, inst, tx, "QR limit", 1);
}

/* The account is open: store who we are, announce it. */
static void
lc_open(struct app *app, struct instance *inst, const struct lc_pending *pd)
{
	struct db_tx *tx = db_tx_new();
	struct json_object *data;
	char wuid[64], ts[40];

	if (pd->has_acct) {
		if (lifecycle_wuid(pd->jid, wuid, sizeof(wuid)) == 0)
			instance_set_str(&inst->owner_jid, wuid);
		else if (pd->jid != NULL && pd->jid[0] != '\0')
			log_warnx("%s: open with an unusable jid \"%s\"", inst->name, pd->jid);
		/* A push name arrives with every login; an empty one means the account has none. */
		instance_set_str(&inst->profile_name, pd->push_name != NULL && pd->push_name[0] != '\0' ?
		    pd->push_name : NULL);
	}
	lc_stamp(inst, ts, sizeof(ts));
	{
		struct lc_disc d;
		const char *p[7] = { inst->id, inst->owner_jid, inst->profile_name, ts, NULL, NULL, NULL };

		lc_disc(inst, &d);
		memcpy(&p[4], d.p, sizeof(d.p));
		db_tx_add(tx, "UPDATE instance SET connection_status = 'open', owner_jid = $2, profile_name = $3,"
		    " updated_at = $4::timestamptz, " LC_DISC_SET(5, 6, 7) " WHERE id = $1", 7, p);
	}
	data = json_object_new_object();
	json_object_object_add(data, "instance", json_object_new_string(inst->name));
	json_object_object_add(data, "wuid", lc_json_str(inst->owner_jid));
	json_object_object_add(data, "profileName", lc_json_str(inst->profile_name));
	json_object_object_add(data, "profilePictureUrl", NULL);
	json_object_object_add(data, "state", json_object_new_string("open"));
	json_object_object_add(data, "statusReason", json_object_new_int(200));
	lc_event(app, tx, inst, "connection.update", data);
	json_object_put(data);
	lc_commit(app, inst, tx, "open", 1);
}

/* connecting, or close for any reason but the QR limit. */
static void
lc_transition(struct app *app, struct instance *inst, int reason, const char *detail, int void_creds)
{
	struct db_tx *tx = db_tx_new();
	struct json_object *data;
	char reason_s[16], ts[40];
	const char *state_s = conn_state_name(inst->state);

	snprintf(reason_s, sizeof(reason_s), "%d", reason);
	if (inst->state == CONN_CLOSE) {
		const char *p[5] = { inst->id, state_s, reason_s, detail != NULL ? detail : "", ts };
		lc_stamp_close(inst, reason, detail, ts, sizeof(ts));
		db_tx_add(tx, "UPDATE instance SET connection_status = $2, disconnection_reason_code = $3::int,"
		    " disconnection_object = nullif($4, ''), disconnection_at = $5::timestamptz,"
		    " updated_at = $5::timestamptz WHERE id = $1", 5, p);
	} else {
		struct lc_disc d;
		const char *p[6] = { inst->id, state_s, ts, NULL, NULL, NULL };

		lc_disc(inst, &d);
		memcpy(&p[3], d.p, sizeof(d.p));
		lc_stamp(inst, ts, sizeof(ts));
		db_tx_add(tx, "UPDATE instance SET connection_status = $2, updated_at = $3::timestamptz, "
		    LC_DISC_SET(4, 5, 6) " WHERE id = $1", 6, p);
	}
	data = json_object_new_object();
	json_object_object_add(data, "instance", json_object_new_string(inst->name));
	if (inst->owner_jid != NULL)
		json_object_object_add(data, "wuid", json_object_new_string(inst->owner_jid));
	if (inst->profile_name != NULL)
		json_object_object_add(data, "profileName", json_object_new_string(inst->profile_name));
	json_object_object_add(data, "state", json_object_new_string(state_s));
	json_object_object_add(data, "statusReason", json_object_new_int(inst->state == CONN_CLOSE ? reason : 200));
	lc_event(app, tx, inst, "connection.update", data);
	json_object_put(data);
	if (void_creds) {
		/* Logged out from the phone or by us: credentials and every key are void; the instance stays. */
		static const char *const tables[] = { "auth_creds", "signal_identity", "signal_prekey",
		    "signal_signed_prekey", "signal_session", "signal_sender_key", "lid_map" };
		const char *p[1] = { inst->id };
		char sql[128];
		size_t i;

		for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
			snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE instance_id = $1", tables[i]);
			db_tx_add(tx, sql, 1, p);
		}
		/* As the logout route's wipe: what earlier stores would teach the known cache is wiped. */
		known_clear(&inst->known);
		lc_event(app, tx, inst, "logout.instance", NULL);
	}
	lc_commit(app, inst, tx, state_s, !void_creds);
}

/* The old process of an API restart ended: close in memory and in connection_status, but no disconnection
 * columns and no connection.update (DESIGN.md: a restart requested through the API is not a disconnection). */
static void
lc_restarted(struct app *app, struct instance *inst)
{
	struct db_tx *tx;
	struct lc_disc d;
	const char *p[5] = { inst->id, NULL, NULL, NULL, NULL };
	char ts[40];

	log_info("%s: %s -> close (restarted on request)", inst->name, conn_state_name(inst->state));
	instance_qr_reset(inst);
	inst->reason = REASON_NONE;
	if (inst->state == CONN_CLOSE)
		return;
	inst->state = CONN_CLOSE;
	app->state_changes++;
	lc_stamp(inst, ts, sizeof(ts));
	lc_disc(inst, &d);
	p[1] = ts;
	p[2] = d.p[0];
	p[3] = d.p[1];
	p[4] = d.p[2];
	tx = db_tx_new();
	db_tx_add(tx, "UPDATE instance SET connection_status = 'close', updated_at = $2::timestamptz, "
	    LC_DISC_SET(3, 4, 5) " WHERE id = $1", 5, p);
	lc_commit(app, inst, tx, "close", 1);
}

/* A state report: store, announce, void creds on a logout. */
static void
lc_handle_state(struct app *app, struct instance *inst, const struct lc_pending *pd)
{
	int state = pd->state, reason = pd->reason, old = inst->state;
	int repeat, logged_out, qr_limit;
	const char *detail = pd->text;

	if (!conn_state_valid(state))
		state = CONN_CLOSE;
	if (state == CONN_OPEN)
		lc_wake(app->lc, inst->id, LIFECYCLE_WAKE_OPEN);
	else if (state == CONN_CLOSE)
		lc_wake(app->lc, inst->id, LIFECYCLE_WAKE_CLOSE);
	if (state == CONN_CLOSE && inst->restarting) {
		inst->restarting = 0;
		if (reason == REASON_WORKER_CRASHED) {
			lc_restarted(app, inst);
			return;
		}
	}
	logged_out = state == CONN_CLOSE && reason == REASON_LOGGED_OUT;
	qr_limit = state == CONN_CLOSE && reason == REASON_QR_LIMIT;
	/* Only transitions are stored and announced (Evolution emits no event for a repeat); a logout or the
	 * QR limit counts as new unless it is the same close repeated (the worker's report, then its exit 3). */
	repeat = old == state && !((logged_out || qr_limit) && inst->reason != reason);
	if (state != CONN_CONNECTING)
		instance_qr_reset(inst);
	if (repeat) {
		inst->reason = reason;
		if (state == CONN_OPEN && pd->has_acct) {
			char wuid[64];
			if (lifecycle_wuid(pd->jid, wuid, sizeof(wuid)) == 0)
				instance_set_str(&inst->owner_jid, wuid);
		}
		return;
	}
	log_info("%s: %s -> %s (reason %d%s%s)", inst->name, conn_state_name(old), conn_state_name(state),
	    reason, detail && *detail ? ": " : "", detail ? detail : "");
	inst->state = state;
	inst->reason = reason;
	app->state_changes++;
	if (logged_out)
		workers_forget_creds(app->workers, inst->id);
	if (qr_limit)
		lc_qr_limit(app, inst, detail);
	else if (state == CONN_OPEN)
		lc_open(app, inst, pd);
	else
		lc_transition(app, inst, reason, detail, logged_out);
}

/* A QR to show: keep the QR object, mark the instance connecting, announce qrcode.updated. */
static void
lc_handle_qr(struct app *app, struct instance *inst, struct lc_pending *pd)
{
	struct json_object *data, *q;
	struct db_tx *tx;
	struct lc_disc d;
	char *uri = NULL, ts[40];
	const char *p[5];

	if (pd->text == NULL || *pd->text == '\0') {
		log_warnx("%s: empty QR text ignored", inst->name);
		return;
	}
	if (inst->state == CONN_CLOSE) {
		/* The worker always says connecting first; if that got lost, say it for it. */
		struct lc_pending st;

		memset(&st, 0, sizeof(st));
		st.kind = LC_STATE;
		st.state = CONN_CONNECTING;
		st.reason = REASON_NONE;
		st.text = (char *)"QR code";
		lc_handle_state(app, inst, &st);
	}
	if (qr_render_data_uri(pd->text, &uri) == -1)
		log_warnx("%s: could not render the QR code (%zu bytes)", inst->name, strlen(pd->text));
	free(inst->qr_code);
	inst->qr_code = pd->text;
	pd->text = NULL;
	free(inst->qr_base64);
	inst->qr_base64 = uri;
	instance_set_str(&inst->qr_pairing_code, pd->code != NULL && *pd->code ? pd->code : NULL);
	inst->qr_count = pd->count > 0 ? pd->count : inst->qr_count + 1;
	log_debug("%s: QR code %u%s%s", inst->name, inst->qr_count,
	    inst->qr_pairing_code ? ", pairing code " : "", inst->qr_pairing_code ? inst->qr_pairing_code : "");

	tx = db_tx_new();
	lc_stamp(inst, ts, sizeof(ts));
	lc_disc(inst, &d);
	p[0] = inst->id;
	p[1] = ts;
	p[2] = d.p[0];
	p[3] = d.p[1];
	p[4] = d.p[2];
	db_tx_add(tx, "UPDATE instance SET connection_status = 'connecting', updated_at = $2::timestamptz, "
	    LC_DISC_SET(3, 4, 5) " WHERE id = $1", 5, p);
	data = json_object_new_object();
	q = json_object_new_object();
	json_object_object_add(q, "instance", json_object_new_string(inst->name));
	json_object_object_add(q, "pairingCode", lc_json_str(inst->qr_pairing_code));
	json_object_object_add(q, "code", json_object_new_string(inst->qr_code));
	json_object_object_add(q, "base64", lc_json_str(inst->qr_base64));
	json_object_object_add(data, "qrcode", q);
	lc_event(app, tx, inst, "qrcode.updated", data);
	json_object_put(data);
	lc_commit(app, inst, tx, "QR code", 1);
	lc_wake(app->lc, inst->id, LIFECYCLE_WAKE_QR);
}

/* A request of a worker, waiting for its commit. */
struct lc_request {
	struct app *app;
	char *instance_id;
	uint64_t req;
	int pair;
	char *wuid;			/* PairSuccess: the owner JID to keep once committed */
	int64_t ts_us;			/* PairSuccess: the instance row's updated_at */
};

/* The pairing or store transaction finished: answer the worker (it waits for this). */
static void
lc_request_done_cb(void *arg, const struct db_result *r)
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
		/* A transition queued after the pairing committed after it, with a later stamp. */
		if (rq->ts_us > inst->updated_us)
			inst->updated_us = rq->ts_us;
		lc_fetch_refresh(app, inst);
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
lc_request(struct app *app, struct instance *inst, uint64_t req, int pair, const char *wuid, int64_t ts_us,
    struct db_tx *tx)
{
	struct lc_request *rq = xcalloc(1, sizeof(*rq));

	rq->app = app;
	rq->instance_id = xstrdup(inst->id);
	rq->req = req;
	rq->pair = pair;
	rq->wuid = wuid != NULL ? xstrdup(wuid) : NULL;
	rq->ts_us = ts_us;
	/* The worker waits for the answer and keeps its keys until then: an outage fails it now (ONCE). */
	lc_chain_push(app->lc, inst->id, tx, LC_WRITE_ONCE, NULL, lc_request_done_cb, rq);
}

/* PairSuccess: creds (paired) and owner JID in one transaction, then Result to the worker. */
static void
lc_handle_pair(struct app *app, struct instance *inst, const struct lc_pending *pd)
{
	struct db_tx *tx;
	char wuid[64], ts[40];
	int64_t ts_us = lc_now_us();

	if (lifecycle_wuid(pd->jid, wuid, sizeof(wuid)) == -1) {
		log_warnx("%s: not a phone JID: \"%s\"", inst->name, pd->jid != NULL ? pd->jid : "");
		workers_reply_pair(app->workers, inst->id, pd->req, 0, "jid is not a phone-number device JID");
		return;
	}
	tx = db_tx_new();
	{
		const char *p[2] = { inst->id, (const char *)pd->creds };
		int len[2] = { 0, (int)pd->creds_len }, fmt[2] = { 0, 1 };
		db_tx_add_bin(tx, "INSERT INTO auth_creds (instance_id, creds, paired, updated_at)"
		    " VALUES ($1, $2, true, now()) ON CONFLICT (instance_id) DO UPDATE"
		    " SET creds = EXCLUDED.creds, paired = true, updated_at = now()", 2, p, len, fmt);
	}
	lc_ts_text(ts_us, ts, sizeof(ts));
	{
		const char *p[3] = { inst->id, wuid, ts };
		db_tx_add(tx, "UPDATE instance SET owner_jid = $2, updated_at = $3::timestamptz WHERE id = $1", 3, p);
	}
	log_info("%s: phone linked %s (platform %s)", inst->name, pd->jid,
	    pd->platform != NULL && pd->platform[0] ? pd->platform : "?");
	lc_request(app, inst, pd->req, 1, wuid, ts_us, tx);
}

/* The prekeys of a batch as two PostgreSQL array literals: ids and hex records (caller frees; recs wiped). */
static void
lc_prekey_arrays(const struct lc_pending *pd, char **idsp, char **recsp, size_t *reclenp)
{
	size_t i, idlen = pd->nprekeys * 11 + 3, reclen = 3;
	char *ids, *recs, *ip, *rp;

	for (i = 0; i < pd->nprekeys; i++)
		reclen += pd->prekeys[i].len * 2 + 1;
	ip = ids = xmalloc(idlen);
	rp = recs = xmalloc(reclen);
	*ip++ = '{';
	*rp++ = '{';
	for (i = 0; i < pd->nprekeys; i++) {
		if (i > 0) {
			*ip++ = ',';
			*rp++ = ',';
		}
		ip += snprintf(ip, idlen - (size_t)(ip - ids), "%u", pd->prekeys[i].id);
		/* its NUL lands where the next ',' or the closing '}' goes */
		hex_encode(pd->prekeys[i].record, pd->prekeys[i].len, rp);
		rp += 2 * pd->prekeys[i].len;
	}
	*ip++ = '}';
	*ip = '\0';
	*rp++ = '}';
	*rp = '\0';
	*idsp = ids;
	*recsp = recs;
	*reclenp = reclen;
}

/* StoreBatch: creds, prekeys and the uploaded mark in one transaction, then StoreAck. */
static void
lc_handle_store(struct app *app, struct instance *inst, const struct lc_pending *pd)
{
	struct db_tx *tx = db_tx_new();

	if (pd->creds_len > 0) {
		/* paired stays what it was: a fresh row is an unpaired registration. */
		const char *p[2] = { inst->id, (const char *)pd->creds };
		int len[2] = { 0, (int)pd->creds_len }, fmt[2] = { 0, 1 };
		db_tx_add_bin(tx, "INSERT INTO auth_creds (instance_id, creds) VALUES ($1, $2)"
		    " ON CONFLICT (instance_id) DO UPDATE SET creds = EXCLUDED.creds, updated_at = now()",
		    2, p, len, fmt);
	}
	if (pd->nprekeys > 0) {
		/* One statement for the whole batch. The same ids again, not yet uploaded, are a replay: a worker
		 * whose supervisor died between COMMIT and StoreAck re-sends its batch to the supervisor that adopts
		 * it, and the rows take the same keys again (sealed anew). A conflict with an uploaded prekey is a
		 * worker bug: the count check divides by zero and fails the batch, so nothing is overwritten. */
		char *ids, *recs;
		size_t reclen;
		const char *p[3];

		lc_prekey_arrays(pd, &ids, &recs, &reclen);
		p[0] = inst->id;
		p[1] = ids;
		p[2] = recs;
		db_tx_add(tx, "WITH ins AS (INSERT INTO signal_prekey (instance_id, key_id, record)"
		    " SELECT $1::uuid, k, decode(r, 'hex') FROM unnest($2::int[], $3::text[]) AS t(k, r)"
		    " ON CONFLICT (instance_id, key_id) DO UPDATE SET record = EXCLUDED.record"
		    " WHERE NOT signal_prekey.uploaded RETURNING 1)"
		    " SELECT 1 / (count(*) = cardinality($2::int[]))::int FROM ins", 3, p);
		free(ids);
		free_wiped(recs, reclen);
	}
	if (pd->upto > 0) {
		char upto[16];
		const char *p[2] = { inst->id, upto };

		snprintf(upto, sizeof(upto), "%u", pd->upto);
		db_tx_add(tx, "UPDATE signal_prekey SET uploaded = true"
		    " WHERE instance_id = $1 AND key_id <= $2::int AND NOT uploaded", 2, p);
	}
	if (db_tx_count(tx) == 0) {
		db_tx_free(tx);
		workers_reply_store(app->workers, inst->id, pd->req, 1, NULL);
		return;
	}
	log_debug("%s: creds %zu bytes, %zu prekeys, uploaded up to %u", inst->name,
	    pd->creds_len, pd->nprekeys, pd->upto);
	lc_request(app, inst, pd->req, 0, NULL, 0, tx);
}

/* A worker process ended: only logged; the table reports the resulting close (REASON_WORKER_CRASHED). */
static void
lc_handle_exit(struct instance *inst, const struct lc_pending *pd)
{
	char why[64];

	if (WIFSIGNALED(pd->wstatus))
		snprintf(why, sizeof(why), "killed by signal %d", WTERMSIG(pd->wstatus));
	else
		snprintf(why, sizeof(why), "exited with code %d", WEXITSTATUS(pd->wstatus));
	log_info("%s: worker %s%s", inst->name, why, pd->will_restart ? "; restarting" : "");
}

/* Handle one record; an instance that is gone or being deleted takes no more writes. */
static void
lc_handle(struct app *app, struct lc_pending *pd)
{
	struct instance *inst = registry_find_id(app->reg, pd->instance_id);
	/* A delete still probing the database may fail: until it is queued the instance's events are written. */
	int gone = inst == NULL || inst->deleting == LC_DELETE_QUEUED;

	switch (pd->kind) {
	case LC_STATE:
		if (!gone)
			lc_handle_state(app, inst, pd);
		break;
	case LC_QR:
		if (!gone)
			lc_handle_qr(app, inst, pd);
		break;
	case LC_PAIR:
		if (gone)
			workers_reply_pair(app->workers, pd->instance_id, pd->req, 0, "the instance is being deleted");
		else
			lc_handle_pair(app, inst, pd);
		break;
	case LC_STORE:
		if (gone)
			workers_reply_store(app->workers, pd->instance_id, pd->req, 0, "the instance is being deleted");
		else
			lc_handle_store(app, inst, pd);
		break;
	case LC_EXIT:
		if (inst != NULL)
			lc_handle_exit(inst, pd);
		break;
	case LC_CALL:
		pd->fn(app, gone ? NULL : inst, pd->payload);
		pd->payload = NULL;
		break;
	}
	/* State, owner, profile name, disconnection and updatedAt change here (pairing's owner on its commit). */
	if (!gone && (pd->kind == LC_STATE || pd->kind == LC_QR))
		lc_fetch_refresh(app, inst);
}

/* Handle every recorded worker event, in arrival order. */
void
lc_pending_run(struct lifecycle *lc)
{
	struct lc_pending *pd;

	while ((pd = TAILQ_FIRST(&lc->pending)) != NULL) {
		TAILQ_REMOVE(&lc->pending, pd, entry);
		lc->npending--;
		lc_handle(lc->app, pd);
		lc_pending_free(pd);
	}
}

/* The loop turn after worker events arrived. */
void
lc_deferred_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	lc_pending_run(arg);
}
