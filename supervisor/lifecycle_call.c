/* Calls: the worker's CallEvent becomes Evolution's `call` webhook, whose data is Baileys' call event as
 * Evolution posts it (chatId, from, callerPn, id, date, offline, status; isVideo, isGroup, groupJid for an
 * offer, isVideo and isGroup for the later events of a call whose offer the worker saw; latencyMs for a relay
 * latency). Nothing is stored but the outbox row, as in Evolution. The worker has already acted on the
 * instance's rejectCall and msgCall (worker/msg_call.c). */
#include "app.h"
#include "db.h"
#include "lifecycle.h"
#include "lifecycle_int.h"
#include "log.h"
#include "registry.h"
#include "webhook.h"
#include "workers.h"
#include "xmalloc.h"

#include <json-c/json.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct lc_call {
	struct app *app;
	char *data;			/* the webhook's data, JSON text */
	char *id;			/* the call id, for the log */
};

static void
lc_call_free(void *arg)
{
	struct lc_call *cl = arg;

	free(cl->data);
	free(cl->id);
	free(cl);
}

static void
lc_call_done_cb(void *arg, const struct db_result *r)
{
	struct lc_call *cl = arg;

	if (r->err != NULL && !r->unavailable)
		log_warnx("call %s: queueing its webhook failed: %s", cl->id, r->err);
	else if (r->err == NULL)
		webhook_kick(cl->app->webhook);
	lc_call_free(cl);
}

/* Its turn among the instance's worker events: the outbox row, in the instance's order. */
static void
lc_call_run(struct app *app, struct instance *inst, void *payload)
{
	struct lc_call *cl = payload;
	struct db_tx *tx;

	if (inst == NULL) {
		lc_call_free(cl);
		return;
	}
	tx = db_tx_new();
	webhook_enqueue(app->webhook, tx, inst->id, inst->name, "call", cl->data, inst->owner_jid);
	if (db_tx_count(tx) == 0) {
		/* nothing was queued (webhook_enqueue refused the event) */
		db_tx_free(tx);
		lc_call_free(cl);
		return;
	}
	/* RETRY: the call happened; a COMMIT left unanswered by an outage may post it twice (at least once, as
	 * every webhook). */
	lc_chain_push(app->lc, inst->id, tx, LC_WRITE_RETRY | LC_WRITE_MERGE, NULL, lc_call_done_cb, cl);
}

/* Baileys' date: the call's time as JavaScript prints a Date in JSON (UTC, milliseconds). */
static struct json_object *
lc_call_date(int64_t t)
{
	time_t secs = t > 0 ? (time_t)t : time(NULL);
	struct tm tm;
	char buf[40];

	if (gmtime_r(&secs, &tm) == NULL || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S.000Z", &tm) == 0)
		return NULL;
	return json_object_new_string(buf);
}

void
lifecycle_on_call(void *ctx, const char *instance_id, const struct workers_call *c)
{
	struct app *app = ctx;
	struct json_object *o = json_object_new_object();
	struct lc_call *cl = xcalloc(1, sizeof(*cl));

	json_object_object_add(o, "chatId", json_object_new_string(c->chat_id));
	json_object_object_add(o, "from", json_object_new_string(c->from));
	if (*c->caller_pn != '\0')
		json_object_object_add(o, "callerPn", json_object_new_string(c->caller_pn));
	json_object_object_add(o, "id", json_object_new_string(c->id));
	json_object_object_add(o, "date", lc_call_date(c->timestamp));
	json_object_object_add(o, "offline", json_object_new_boolean(c->offline));
	json_object_object_add(o, "status", json_object_new_string(c->status));
	if (strcmp(c->status, "offer") == 0 || c->offer_known) {
		json_object_object_add(o, "isVideo", json_object_new_boolean(c->is_video));
		json_object_object_add(o, "isGroup", json_object_new_boolean(c->is_group));
	}
	if (strcmp(c->status, "offer") == 0 && *c->group_jid != '\0')
		json_object_object_add(o, "groupJid", json_object_new_string(c->group_jid));
	if (c->latency_ms >= 0)
		json_object_object_add(o, "latencyMs", json_object_new_int(c->latency_ms));
	cl->app = app;
	cl->data = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	cl->id = xstrdup(c->id);
	json_object_put(o);
	log_info("%s: call %s from %s: %s%s", instance_id, c->id, c->from, c->status, c->rejected ? ", rejected" : "");
	lc_pending_call(app, instance_id, lc_call_run, lc_call_free, cl);
}
