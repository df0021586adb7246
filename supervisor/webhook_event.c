/* Webhook events: Evolution's event names (filter name, byEvents suffix), which targets want an event, and
 * the enqueue of one event as rows of webhook_outbox inside the caller's transaction. */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <json-c/json.h>

#include "db.h"
#include "log.h"
#include "webhook_int.h"
#include "xmalloc.h"


/* Map a dotted event name to Evolution's filter name: '.' and '-' become '_', upper case. */
int
webhook_filter_name(const char *event, char *out, size_t outsz)
{
	size_t i, n;

	if (event == NULL || (n = strlen(event)) == 0 || n >= outsz)
		return -1;
	for (i = 0; i < n; i++)
		out[i] = (event[i] == '.' || event[i] == '-') ? '_' : (char)toupper((unsigned char)event[i]);
	out[n] = '\0';
	return 0;
}

/* Map a dotted event name to the byEvents URL suffix: the filter name lower-cased with '_' -> '-'. */
int
webhook_url_suffix(const char *event, char *out, size_t outsz)
{
	size_t i, n;

	if (event == NULL || (n = strlen(event)) == 0 || n >= outsz)
		return -1;
	for (i = 0; i < n; i++)
		out[i] = (event[i] == '.' || event[i] == '_') ? '-' : (char)tolower((unsigned char)event[i]);
	out[n] = '\0';
	return 0;
}

/* An event name's filter name and URL suffix (both WEBHOOK_NAME_MAX bytes); -1 if it is not a name. */
int
webhook_event_names(const char *event, char *filter, char *suffix)
{
	if (webhook_filter_name(event, filter, WEBHOOK_NAME_MAX) == -1 ||
	    webhook_url_suffix(event, suffix, WEBHOOK_NAME_MAX) == -1 ||
	    strspn(event, "abcdefghijklmnopqrstuvwxyz0123456789.-_") != strlen(event))
		return -1;
	return 0;
}

/* instance.create / instance.delete are not accepted in webhook.events: global webhook only. */
int
webhook_instance_may_want(const char *filter)
{
	return strcmp(filter, "INSTANCE_CREATE") != 0 && strcmp(filter, "INSTANCE_DELETE") != 0;
}

/* Real UTC wall clock in ISO-8601 with milliseconds and 'Z'. */
void
webhook_format_time(char *out, size_t outsz)
{
	struct timespec ts;
	struct tm tm;
	char buf[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, outsz, "%s.%03ldZ", buf, ts.tv_nsec / 1000000);
}

/* Whether the global webhook takes this filter name (groups.update answers to both spellings). */
int
webhook_global_wants(struct webhook *w, const char *filter)
{
	if (!w->global_enabled || w->global_url == NULL || w->global_url[0] == '\0')
		return 0;
	if (w->global_event_enabled == NULL)
		return 1;
	if (strcmp(filter, "GROUPS_UPDATE") == 0)
		return w->global_event_enabled("GROUPS_UPDATE", w->global_event_arg) &&
		    w->global_event_enabled("GROUP_UPDATE", w->global_event_arg);
	return w->global_event_enabled(filter, w->global_event_arg);
}

/* Whether text is exactly one JSON value (nesting up to 256 levels; jsonb has no lower limit). */
static int
webhook_json_valid(const char *text)
{
	struct json_tokener *tok;
	struct json_object *obj;
	size_t len = strlen(text);
	int ok;

	if (len >= INT_MAX || (tok = json_tokener_new_ex(256)) == NULL)
		return 0;
	/* Passing the NUL too makes a trailing number complete instead of "continue". */
	obj = json_tokener_parse_ex(tok, text, (int)len + 1);
	ok = json_tokener_get_error(tok) == json_tokener_success && json_tokener_get_parse_end(tok) >= len;
	json_object_put(obj);
	json_tokener_free(tok);
	return ok;
}

/* A copy of JSON text with every \u0000 escape turned into \ufffd, or NULL when there is none. */
char *
webhook_json_strip_nul(const char *text)
{
	char *copy = NULL;
	size_t i;

	for (i = 0; text[i] != '\0'; i++) {
		if (text[i] != '\\' || text[i + 1] == '\0')
			continue;
		if (text[i + 1] == 'u' && strncasecmp(text + i + 2, "0000", 4) == 0) {
			if (copy == NULL)
				copy = xstrdup(text);
			memcpy(copy + i + 2, "fffd", 4);
		}
		i++;	/* skip the escaped character, so "\\u0000" stays as it is */
	}
	return copy;
}

char *
webhook_json_text(struct json_object *o)
{
	char *text = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	char *stripped = webhook_json_strip_nul(text);

	if (stripped == NULL)
		return text;
	free(text);
	return stripped;
}

/*
 * One statement so it sees the caller's transaction: the instance's webhook row (if any) and the global
 * target become rows with the final URL, headers and the envelope. destination follows Evolution: the
 * instance webhook URL when one is stored, else the global URL with the suffix.
 */
#define WEBHOOK_EV_CTES \
    "ev AS (SELECT $1::uuid AS iid, $2::text AS iname, $3::text AS event, $4::text[] AS filters," \
    " $5::text AS suffix, $6::jsonb AS data, $7::text AS sender, $8::text AS server_url," \
    " $9::text AS date_time, $10::text AS gurl, $11::boolean AS gby, $12::boolean AS iallowed)," \
    " iw AS (SELECT w.url, w.headers, w.enabled, w.by_events, w.events FROM instance_webhook w, ev" \
    " WHERE w.instance_id = ev.iid)," \
    " tgt AS (SELECT CASE WHEN iw.by_events THEN iw.url || '/' || ev.suffix ELSE iw.url END AS url," \
    " iw.headers AS headers FROM iw, ev WHERE ev.iallowed AND iw.enabled AND iw.url <> ''" \
    " AND (cardinality(iw.events) = 0 OR iw.events && ev.filters)" \
    " UNION ALL SELECT CASE WHEN ev.gby THEN ev.gurl || '/' || ev.suffix ELSE ev.gurl END, '{}'::jsonb" \
    " FROM ev WHERE ev.gurl IS NOT NULL)"

/* The row insert of webhook_enqueue, with data as the event's data (the gated form, whose data takes the gate's
 * extra, is webhook_gated.c's). */
#define WEBHOOK_EV_INSERT(data) \
    " INSERT INTO webhook_outbox (instance_id, event, url, headers, body)" \
    " SELECT ev.iid, ev.event, tgt.url, tgt.headers," \
    " jsonb_build_object('event', ev.event, 'instance', ev.iname, 'data', " data "," \
    " 'destination', coalesce((SELECT nullif(iw.url, '') FROM iw), ev.gurl || '/' || ev.suffix)," \
    " 'date_time', ev.date_time)" \
    " || CASE WHEN ev.sender IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('sender', ev.sender) END" \
    " || CASE WHEN ev.server_url IS NULL THEN '{}'::jsonb" \
    " ELSE jsonb_build_object('server_url', ev.server_url) END" \
    " FROM ev, tgt"

static const char webhook_enqueue_sql[] = "WITH " WEBHOOK_EV_CTES " " WEBHOOK_EV_INSERT("ev.data");

/* Append the enqueue statement for one event to the caller's transaction. */
void
webhook_enqueue(struct webhook *w, struct db_tx *tx, const char *instance_id, const char *instance_name,
    const char *event, const char *data_json, const char *sender)
{
	char filter[WEBHOOK_NAME_MAX], suffix[WEBHOOK_NAME_MAX], filters[2 * WEBHOOK_NAME_MAX + 8];
	char date_time[40];
	const char *params[12];
	const char *data = "null";
	char *data_copy = NULL;
	int iallowed;

	if (tx == NULL || w == NULL)
		return;
	if (webhook_event_names(event, filter, suffix) == -1) {
		log_warnx("%s: bad event name, not queued", instance_name ? instance_name : "-");
		return;
	}
	/* Invalid JSON would abort the caller's whole transaction: send null instead. */
	if (data_json != NULL) {
		if (webhook_json_valid(data_json))
			data = data_json;
		else
			log_warnx("%s: %s: data is not JSON, sending null",
			    instance_name ? instance_name : "-", event);
		/* PostgreSQL's jsonb refuses \u0000 in strings; WhatsApp text can carry NULs. */
		if (data == data_json && (data_copy = webhook_json_strip_nul(data_json)) != NULL)
			data = data_copy;
	}
	if (strcmp(filter, "GROUPS_UPDATE") == 0)
		snprintf(filters, sizeof(filters), "{\"GROUPS_UPDATE\",\"GROUP_UPDATE\"}");
	else
		snprintf(filters, sizeof(filters), "{\"%s\"}", filter);
	iallowed = webhook_instance_may_want(filter);
	webhook_format_time(date_time, sizeof(date_time));

	params[0] = instance_id;
	params[1] = instance_name;
	params[2] = event;
	params[3] = filters;
	params[4] = suffix;
	params[5] = data;
	params[6] = sender;
	params[7] = w->server_url != NULL && w->server_url[0] != '\0' ? w->server_url : NULL;
	params[8] = date_time;
	params[9] = webhook_global_wants(w, filter) ? w->global_url : NULL;
	params[10] = w->global_by_events ? "true" : "false";
	params[11] = iallowed ? "true" : "false";
	db_tx_add(tx, webhook_enqueue_sql, 12, params);
	free(data_copy);
}
