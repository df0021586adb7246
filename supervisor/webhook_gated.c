/* The gated enqueue of the message path (webhook.h): events' targets and envelopes resolved in C from the
 * instance's webhook as the supervisor holds it (struct webhook_inst), so that the statement carrying the
 * caller's write adds only an INSERT of finished rows, or nothing at all when no target wants the events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <json-c/printbuf.h>

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
	char date_time[40], *text;

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
	text = webhook_json_text(env);
	json_object_put(env);
	return text;
}

/* One event's part of the statement: its rows, ready, when its gate has a row. */
struct webhook_part {
	char *body;
	char *urls[WEBHOOK_TARGETS_MAX];
	const char *headers[WEBHOOK_TARGETS_MAX];
	int nt;
	int merge;			/* the gate's extra is merged into the envelope's data: WEBHOOK_EXTRA_* */
};

/* Resolve ev's targets and envelope into part; -1 on a bad event name or extra mode. */
static int
webhook_part_build(struct webhook *w, const struct webhook_inst *iw, const char *instance_name,
    const char *sender, const struct webhook_gated_event *ev, struct webhook_part *part)
{
	char filter[WEBHOOK_NAME_MAX], suffix[WEBHOOK_NAME_MAX], *gdest = NULL;
	const char *dest;
	int mergeable;

	memset(part, 0, sizeof(*part));
	if (ev->event == NULL || ev->gate == NULL || webhook_event_names(ev->event, filter, suffix) == -1)
		return -1;
	if (iw != NULL && iw->enabled && iw->url[0] != '\0' && webhook_instance_may_want(filter) &&
	    webhook_inst_wants(iw, filter)) {
		part->urls[part->nt] = webhook_target_url(iw->url, iw->by_events, suffix);
		part->headers[part->nt++] = iw->headers;
	}
	if (w != NULL && webhook_global_wants(w, filter)) {
		part->urls[part->nt] = webhook_target_url(w->global_url, w->global_by_events, suffix);
		part->headers[part->nt++] = "{}";
		xasprintf(&gdest, "%s/%s", w->global_url, suffix);
	}
	/* Evolution's destination: the instance's URL when it has one, else the global URL with the suffix. */
	dest = iw != NULL && iw->url[0] != '\0' ? iw->url : gdest;
	if (part->nt > 0)
		part->body = webhook_envelope(w, instance_name, ev->event, ev->data, dest, sender);
	free(gdest);
	/* jsonb's || merges objects and concatenates arrays: an array event (messages.set) gets its elements. */
	mergeable = json_object_is_type(ev->data, json_type_object) || json_object_is_type(ev->data, json_type_array);
	switch (ev->extra) {
	case WEBHOOK_EXTRA_NONE:
		return 0;
	case WEBHOOK_EXTRA_FIRST:
		part->merge = mergeable ? WEBHOOK_EXTRA_FIRST : WEBHOOK_EXTRA_NONE;
		return 0;
	case WEBHOOK_EXTRA_EACH:
		/* One event per row needs somewhere to put each row's values. */
		part->merge = WEBHOOK_EXTRA_EACH;
		return mergeable ? 0 : -1;
	default:
		return -1;	/* the caller clears part */
	}
}

static void
webhook_part_clear(struct webhook_part *part)
{
	int i;

	for (i = 0; i < part->nt; i++)
		free(part->urls[i]);
	free(part->body);
	memset(part, 0, sizeof(*part));
}

/*
 * The statement: the caller's CTEs, then (when some event has targets) one INSERT of the finished rows of
 * every event whose gate has a row, in the events' order (one INSERT over a UNION ALL: the order in which
 * separate data-modifying CTEs run is not defined), then count(*) of each gate. A body is evaluated once,
 * not per target; with FIRST, the gate's first non-NULL extra is merged into the envelope's data. With EACH,
 * a body per gate row, merged with its extra, its targets in order; the branch is parenthesized so that its
 * ORDER BY holds (the outbox ids are drawn in the order the rows come, and Append keeps each branch's).
 * Parameters after the caller's n: the instance id, then per event with targets: its name, its body, and the
 * url and headers of each target.
 */
static char *
webhook_gated_sql(const char *ctes, int n, const struct webhook_gated_event *evs, const struct webhook_part *parts,
    int nev)
{
	struct printbuf *pb = printbuf_new();
	char *sql;
	int i, k, p = n + 2, first = 1;

	sprintbuf(pb, "WITH %s", ctes);
	for (i = 0; i < nev; i++) {
		if (parts[i].nt == 0)
			continue;
		if (first)
			sprintbuf(pb, ", wh AS (INSERT INTO webhook_outbox (instance_id, event, url, headers, body)"
			    " SELECT $%d::uuid, x.event, x.url, x.headers, x.body FROM (", n + 1);
		else
			sprintbuf(pb, " UNION ALL ");
		first = 0;
		if (parts[i].merge == WEBHOOK_EXTRA_EACH) {
			sprintbuf(pb, "(SELECT $%d::text AS event, t.url, t.headers, jsonb_set($%d::jsonb, '{data}',"
			    " ($%d::jsonb -> 'data') || g.extra) AS body FROM %s g, (VALUES ", p, p + 1, p + 1, evs[i].gate);
			p += 2;
			for (k = 0; k < parts[i].nt; k++, p += 2)
				sprintbuf(pb, "%s($%d::text, $%d::jsonb, %d)", k > 0 ? ", " : "", p, p + 1, k);
			sprintbuf(pb, ") t(url, headers, tord) ORDER BY g.ord, t.tord)");
			continue;
		}
		if (parts[i].merge == WEBHOOK_EXTRA_FIRST)
			sprintbuf(pb, "SELECT $%d::text AS event, t.url, t.headers, b.body FROM (SELECT"
			    " coalesce((SELECT jsonb_set($%d::jsonb, '{data}', ($%d::jsonb -> 'data') || g.extra) FROM %s g"
			    " WHERE g.extra IS NOT NULL LIMIT 1), $%d::jsonb) AS body) b, (VALUES ", p, p + 1, p + 1,
			    evs[i].gate, p + 1);
		else
			sprintbuf(pb, "SELECT $%d::text AS event, t.url, t.headers, b.body FROM (SELECT $%d::jsonb AS body)"
			    " b, (VALUES ", p, p + 1);
		p += 2;
		for (k = 0; k < parts[i].nt; k++, p += 2)
			sprintbuf(pb, "%s($%d::text, $%d::jsonb)", k > 0 ? ", " : "", p, p + 1);
		sprintbuf(pb, ") t(url, headers) WHERE EXISTS (SELECT 1 FROM %s)", evs[i].gate);
	}
	if (!first)
		sprintbuf(pb, ") x)");
	sprintbuf(pb, " SELECT ");
	for (i = 0; i < nev; i++)
		sprintbuf(pb, "%s(SELECT count(*) FROM %s)", i > 0 ? ", " : "", evs[i].gate);
	sql = xstrdup(pb->buf);
	printbuf_free(pb);
	return sql;
}

int
webhook_enqueue_gated(struct webhook *w, struct db_tx *tx, const struct webhook_inst *iw,
    const char *instance_id, const char *instance_name, const char *sender, const struct webhook_gate *g,
    const struct webhook_gated_event *evs, int nev)
{
	enum { MAXP = WEBHOOK_GATE_PARAMS_MAX + 1 + WEBHOOK_EVENTS_MAX * (2 + 2 * WEBHOOK_TARGETS_MAX) };
	struct webhook_part parts[WEBHOOK_EVENTS_MAX];
	const char *params[MAXP];
	int lens[MAXP], fmts[MAXP];
	char *sql;
	int i, k, np;

	if (tx == NULL || g == NULL || g->sql == NULL || g->n < 0 || g->n > WEBHOOK_GATE_PARAMS_MAX || evs == NULL ||
	    nev < 1 || nev > WEBHOOK_EVENTS_MAX)
		return -1;
	for (i = 0; i < nev; i++)
		if (webhook_part_build(w, iw, instance_name, sender, &evs[i], &parts[i]) == -1) {
			while (i >= 0)
				webhook_part_clear(&parts[i--]);
			return -1;
		}
	for (i = 0; i < g->n; i++) {
		params[i] = g->params[i];
		lens[i] = g->lens != NULL ? g->lens[i] : 0;
		fmts[i] = g->fmts != NULL ? g->fmts[i] : 0;
	}
	np = g->n;
	params[np++] = instance_id;
	for (i = 0; i < nev; i++) {
		if (parts[i].nt == 0)
			continue;
		params[np++] = evs[i].event;
		params[np++] = parts[i].body;
		for (k = 0; k < parts[i].nt; k++) {
			params[np++] = parts[i].urls[k];
			params[np++] = parts[i].headers[k];
		}
	}
	/* Without a target, the instance id is not referenced and must not be sent (its type is unknown). */
	if (np == g->n + 1)
		np = g->n;
	for (i = g->n; i < np; i++)
		lens[i] = fmts[i] = 0;
	sql = webhook_gated_sql(g->sql, g->n, evs, parts, nev);
	db_tx_add_bin(tx, sql, np, params, lens, fmts);
	free(sql);
	for (i = 0; i < nev; i++)
		webhook_part_clear(&parts[i]);
	return 0;
}
