/* The gated enqueue of the message path (webhook.h): an event's targets and envelope resolved in C from the
 * instance's webhook as the supervisor holds it (struct webhook_inst), so that the statement carrying the
 * caller's write adds only an INSERT of finished rows, or nothing at all when no target wants the event. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "db.h"
#include "log.h"
#include "webhook_int.h"
#include "xmalloc.h"

/* Most rows one event becomes: the instance's own webhook and the global one. */
#define WEBHOOK_TARGETS_MAX	2

struct webhook_inst *
webhook_inst_from_json(const char *text)
{
	struct json_object *o = text != NULL ? json_tokener_parse(text) : NULL, *v;
	struct webhook_inst *iw = NULL;
	size_t i, n;

	if (o == NULL || !json_object_is_type(o, json_type_object))
		goto bad;
	iw = xcalloc(1, sizeof(*iw));
	if (!json_object_object_get_ex(o, "url", &v) || !json_object_is_type(v, json_type_string))
		goto bad;
	iw->url = xstrdup(json_object_get_string(v));
	if (!json_object_object_get_ex(o, "headers", &v) || !json_object_is_type(v, json_type_object))
		goto bad;
	iw->headers = xstrdup(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	if (!json_object_object_get_ex(o, "enabled", &v) || !json_object_is_type(v, json_type_boolean))
		goto bad;
	iw->enabled = json_object_get_boolean(v);
	if (!json_object_object_get_ex(o, "webhookByEvents", &v) || !json_object_is_type(v, json_type_boolean))
		goto bad;
	iw->by_events = json_object_get_boolean(v);
	if (!json_object_object_get_ex(o, "events", &v) || !json_object_is_type(v, json_type_array))
		goto bad;
	n = json_object_array_length(v);
	iw->events = xcalloc(n + 1, sizeof(*iw->events));
	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);

		if (!json_object_is_type(e, json_type_string))
			goto bad;
		iw->events[iw->nevents++] = xstrdup(json_object_get_string(e));
	}
	json_object_put(o);
	return iw;
bad:
	log_warnx("an instance_webhook row is not in the expected shape");
	json_object_put(o);
	webhook_inst_free(iw);
	return NULL;
}

void
webhook_inst_free(struct webhook_inst *iw)
{
	size_t i;

	if (iw == NULL)
		return;
	for (i = 0; i < iw->nevents; i++)
		free(iw->events[i]);
	free(iw->events);
	free(iw->url);
	free(iw->headers);
	free(iw);
}

/* Whether iw's events filter lets filter through (empty = all; groups.update answers to both spellings, as
 * webhook_enqueue's overlap with {GROUPS_UPDATE, GROUP_UPDATE} does). */
static int
webhook_inst_wants(const struct webhook_inst *iw, const char *filter)
{
	size_t i;

	if (iw->nevents == 0)
		return 1;
	for (i = 0; i < iw->nevents; i++)
		if (strcmp(iw->events[i], filter) == 0 ||
		    (strcmp(filter, "GROUPS_UPDATE") == 0 && strcmp(iw->events[i], "GROUP_UPDATE") == 0))
			return 1;
	return 0;
}

/* url, or url + "/" + suffix with by_events. Caller frees. */
static char *
webhook_target_url(const char *url, int by_events, const char *suffix)
{
	char *s;

	if (!by_events)
		return xstrdup(url);
	xasprintf(&s, "%s/%s", url, suffix);
	return s;
}

/* The envelope's text, as jsonb takes it: {event, instance, data, destination, date_time, sender?,
 * server_url?}, \u0000 turned into \ufffd. Caller frees. */
static char *
webhook_envelope(struct webhook *w, const char *instance_name, const char *event, struct json_object *data,
    const char *destination, const char *sender)
{
	struct json_object *env = json_object_new_object();
	char date_time[40], *text, *stripped;

	webhook_format_time(date_time, sizeof(date_time));
	json_object_object_add(env, "event", json_object_new_string(event));
	json_object_object_add(env, "instance", instance_name != NULL ? json_object_new_string(instance_name) : NULL);
	json_object_object_add(env, "data", json_object_get(data));
	json_object_object_add(env, "destination", destination != NULL ? json_object_new_string(destination) : NULL);
	json_object_object_add(env, "date_time", json_object_new_string(date_time));
	if (sender != NULL)
		json_object_object_add(env, "sender", json_object_new_string(sender));
	if (w != NULL && w->server_url != NULL && w->server_url[0] != '\0')
		json_object_object_add(env, "server_url", json_object_new_string(w->server_url));
	text = xstrdup(json_object_to_json_string_ext(env, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(env);
	if ((stripped = webhook_json_strip_nul(text)) != NULL) {
		free(text);
		text = stripped;
	}
	return text;
}

/*
 * The statement: the gate, then (with targets) one INSERT of the finished rows that runs only when gate has
 * a row. The body is evaluated once, not per target; with extra, the gate's first non-NULL extra is merged
 * into the envelope's data. Parameters after the gate's: instance id, event, body, then url and headers of
 * each target.
 */
static char *
webhook_gated_sql(const struct webhook_gate *g, int ntargets, int merge)
{
	char values[128], body[256];
	int n = g->n, b = n + 3;
	char *sql;

	if (ntargets == 0) {
		xasprintf(&sql, "WITH %s SELECT count(*) FROM gate", g->sql);
		return sql;
	}
	snprintf(values, sizeof(values), "($%d::text, $%d::jsonb)", n + 4, n + 5);
	if (ntargets == 2)
		snprintf(values + strlen(values), sizeof(values) - strlen(values), ", ($%d::text, $%d::jsonb)", n + 6,
		    n + 7);
	if (merge)
		snprintf(body, sizeof(body), "coalesce((SELECT jsonb_set($%d::jsonb, '{data}', ($%d::jsonb -> 'data')"
		    " || g.extra) FROM gate g WHERE g.extra IS NOT NULL LIMIT 1), $%d::jsonb)", b, b, b);
	else
		snprintf(body, sizeof(body), "$%d::jsonb", b);
	xasprintf(&sql, "WITH %s, wh AS (INSERT INTO webhook_outbox (instance_id, event, url, headers, body)"
	    " SELECT $%d::uuid, $%d, t.url, t.headers, b.body FROM (SELECT %s AS body) b, (VALUES %s) t(url, headers)"
	    " WHERE EXISTS (SELECT 1 FROM gate)) SELECT count(*) FROM gate", g->sql, n + 1, n + 2, body, values);
	return sql;
}

int
webhook_enqueue_gated(struct webhook *w, struct db_tx *tx, const struct webhook_inst *iw,
    const char *instance_id, const char *instance_name, const char *event, struct json_object *data,
    const char *sender, const struct webhook_gate *g)
{
	char filter[WEBHOOK_NAME_MAX], suffix[WEBHOOK_NAME_MAX];
	const char *params[WEBHOOK_GATE_PARAMS_MAX + 3 + 2 * WEBHOOK_TARGETS_MAX];
	int lens[WEBHOOK_GATE_PARAMS_MAX + 3 + 2 * WEBHOOK_TARGETS_MAX];
	int fmts[WEBHOOK_GATE_PARAMS_MAX + 3 + 2 * WEBHOOK_TARGETS_MAX];
	char *urls[WEBHOOK_TARGETS_MAX], *gdest = NULL, *body = NULL, *sql;
	const char *dest = NULL;
	int i, nt = 0, np;

	if (tx == NULL || g == NULL || g->sql == NULL || g->n < 0 || g->n > WEBHOOK_GATE_PARAMS_MAX ||
	    webhook_event_names(event, filter, suffix) == -1)
		return -1;
	for (i = 0; i < g->n; i++) {
		params[i] = g->params[i];
		lens[i] = g->lens != NULL ? g->lens[i] : 0;
		fmts[i] = g->fmts != NULL ? g->fmts[i] : 0;
	}
	np = g->n + 3;
	if (iw != NULL && iw->enabled && iw->url[0] != '\0' && webhook_instance_may_want(filter) &&
	    webhook_inst_wants(iw, filter)) {
		urls[nt] = webhook_target_url(iw->url, iw->by_events, suffix);
		params[np++] = urls[nt++];
		params[np++] = iw->headers;
	}
	if (w != NULL && webhook_global_wants(w, filter)) {
		urls[nt] = webhook_target_url(w->global_url, w->global_by_events, suffix);
		params[np++] = urls[nt++];
		params[np++] = "{}";
		xasprintf(&gdest, "%s/%s", w->global_url, suffix);
	}
	/* Evolution's destination: the instance's URL when it has one, else the global URL with the suffix. */
	dest = iw != NULL && iw->url[0] != '\0' ? iw->url : gdest;
	if (nt > 0) {
		body = webhook_envelope(w, instance_name, event, data, dest, sender);
		params[g->n] = instance_id;
		params[g->n + 1] = event;
		params[g->n + 2] = body;
	} else
		np = g->n;
	for (i = g->n; i < np; i++)
		lens[i] = fmts[i] = 0;
	sql = webhook_gated_sql(g, nt, g->extra && json_object_is_type(data, json_type_object));
	db_tx_add_bin(tx, sql, np, params, lens, fmts);
	free(sql);
	free(body);
	free(gdest);
	for (i = 0; i < nt; i++)
		free(urls[i]);
	return 0;
}
