/* Webhook outbox: enqueue rows inside the caller's transaction, deliver them with libcurl multi on the
 * event loop, delete on 2xx, retry with capped exponential backoff otherwise. */
#include "webhook.h"

#include <sys/queue.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <json-c/json.h>
#include <libpq-fe.h>

#include "db.h"
#include "log.h"
#include "random.h"
#include "xmalloc.h"

#define WEBHOOK_POLL_MS		1000	/* look for due rows at least this often */
#define WEBHOOK_MAINT_MS	2000	/* backlog count */
#define WEBHOOK_SWEEP_EVERY	30	/* max-age sweep every this many maintenance ticks */
#define WEBHOOK_MAX_HEADERS	64
#define WEBHOOK_MAX_HEADER_LEN	8192
#define WEBHOOK_MAX_ERROR_LEN	1000
#define WEBHOOK_NAME_MAX	64	/* longest event name we build filter names for */
#define WEBHOOK_PER_URL		4	/* deliveries to one URL claimed at once */

enum webhook_op_kind {
	WEBHOOK_OP_CLAIM,
	WEBHOOK_OP_RESULT,
	WEBHOOK_OP_COUNT,
	WEBHOOK_OP_SWEEP,
	WEBHOOK_OP_HOLD,
};

struct webhook_delivery {
	TAILQ_ENTRY(webhook_delivery) entry;
	struct webhook *w;
	long long id;
	char *event;
	char *url;
	char *body;
	int attempts;			/* failed attempts before this one */
	long age_s;			/* row age when claimed */
	CURL *easy;
	struct curl_slist *hdrs;
	char errbuf[CURL_ERROR_SIZE];
};

/* One database call in flight; survives the webhook so a late callback finds op->w == NULL. */
struct webhook_op {
	TAILQ_ENTRY(webhook_op) entry;
	struct webhook *w;
	enum webhook_op_kind kind;
	struct webhook_delivery *d;
	int limit;
	int capped;			/* claim skipped busy URLs: they may have due rows */
};

/* libevent watcher for one socket libcurl asked us to watch. */
struct webhook_sock {
	LIST_ENTRY(webhook_sock) entry;
	struct event *ev;
	struct webhook *w;
};

TAILQ_HEAD(webhook_deliveries, webhook_delivery);
TAILQ_HEAD(webhook_ops, webhook_op);
LIST_HEAD(webhook_socks, webhook_sock);

struct webhook {
	struct event_base *base;
	struct db *db;
	char *global_url;
	char *server_url;
	int global_enabled;
	int global_by_events;
	int (*global_event_enabled)(const char *, void *);
	void *global_event_arg;
	int retry_min_ms;
	int retry_max_ms;
	int max_age_s;
	int concurrency;
	int request_timeout_ms;

	CURLM *multi;
	struct event *curl_timer;
	struct event *poll_timer;
	struct event *kick_ev;
	struct event *wake_timer;
	struct event *maint_timer;
	struct timeval wake_at;

	struct webhook_deliveries deliveries;	/* claimed rows: in flight or result being written */
	int ndeliveries;
	struct webhook_ops ops;
	struct webhook_socks socks;		/* watchers libcurl has not removed yet */
	int claiming;
	int again;			/* more due rows may exist: claim again when a slot frees */
	int kick_pending;		/* a claim was asked for while one was running */
	int counting;
	int sweeping;
	unsigned maint_ticks;
	int db_down_logged;

	long backlog;
	unsigned long delivered;
	unsigned long failed;
	unsigned long dropped;
};

static void webhook_claim(struct webhook *w);
static void webhook_delivery_free(struct webhook_delivery *d);

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

/* Capped exponential backoff with jitter for the attempt after `attempts` failures. */
long
webhook_backoff_ms(int attempts, int min_ms, int max_ms)
{
	long d = min_ms > 0 ? min_ms : 1;
	int i;

	if (max_ms < min_ms)
		max_ms = min_ms;
	for (i = 1; i < attempts && d < max_ms; i++)
		d *= 2;
	if (d > max_ms)
		d = max_ms;
	/* Jitter in [d/2, d] spreads retries of many rows that failed together (receiver outage). */
	d = d / 2 + (long)random_uniform((unsigned)(d / 2) + 1);
	if (d < min_ms)
		d = min_ms;
	return d;
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
static int
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
static char *
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

/*
 * One statement so it sees the caller's transaction: the instance's webhook row (if any) and the global
 * target become rows with the final URL, headers and the envelope. destination follows Evolution: the
 * instance webhook URL when one is stored, else the global URL with the suffix.
 */
static const char webhook_enqueue_sql[] =
    "WITH ev AS (SELECT $1::uuid AS iid, $2::text AS iname, $3::text AS event, $4::text[] AS filters,"
    " $5::text AS suffix, $6::jsonb AS data, $7::text AS sender, $8::text AS server_url,"
    " $9::text AS date_time, $10::text AS gurl, $11::boolean AS gby, $12::boolean AS iallowed),"
    " iw AS (SELECT w.url, w.headers, w.enabled, w.by_events, w.events FROM instance_webhook w, ev"
    " WHERE w.instance_id = ev.iid),"
    " tgt AS (SELECT CASE WHEN iw.by_events THEN iw.url || '/' || ev.suffix ELSE iw.url END AS url,"
    " iw.headers AS headers FROM iw, ev WHERE ev.iallowed AND iw.enabled AND iw.url <> ''"
    " AND (cardinality(iw.events) = 0 OR iw.events && ev.filters)"
    " UNION ALL SELECT CASE WHEN ev.gby THEN ev.gurl || '/' || ev.suffix ELSE ev.gurl END, '{}'::jsonb"
    " FROM ev WHERE ev.gurl IS NOT NULL)"
    " INSERT INTO webhook_outbox (instance_id, event, url, headers, body)"
    " SELECT ev.iid, ev.event, tgt.url, tgt.headers,"
    " jsonb_build_object('event', ev.event, 'instance', ev.iname, 'data', ev.data,"
    " 'destination', coalesce((SELECT nullif(iw.url, '') FROM iw), ev.gurl || '/' || ev.suffix),"
    " 'date_time', ev.date_time)"
    " || CASE WHEN ev.sender IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('sender', ev.sender) END"
    " || CASE WHEN ev.server_url IS NULL THEN '{}'::jsonb"
    " ELSE jsonb_build_object('server_url', ev.server_url) END"
    " FROM ev, tgt";

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

	if (w == NULL || tx == NULL)
		return;
	if (webhook_filter_name(event, filter, sizeof(filter)) == -1 ||
	    webhook_url_suffix(event, suffix, sizeof(suffix)) == -1 ||
	    strspn(event, "abcdefghijklmnopqrstuvwxyz0123456789.-_") != strlen(event)) {
		log_warnx("%s: %s: bad event name, not queued", __func__, instance_name ? instance_name : "-");
		return;
	}
	/* Invalid JSON would abort the caller's whole transaction (messages, Signal state): send null instead. */
	if (data_json != NULL) {
		if (webhook_json_valid(data_json))
			data = data_json;
		else
			log_warnx("%s: %s: %s: data is not JSON, sending null", __func__,
			    instance_name ? instance_name : "-", event);
		/* PostgreSQL's jsonb refuses \u0000 in strings; WhatsApp text can carry NULs. */
		if (data == data_json && (data_copy = webhook_json_strip_nul(data_json)) != NULL)
			data = data_copy;
	}
	if (strcmp(filter, "GROUPS_UPDATE") == 0)
		snprintf(filters, sizeof(filters), "{\"GROUPS_UPDATE\",\"GROUP_UPDATE\"}");
	else
		snprintf(filters, sizeof(filters), "{\"%s\"}", filter);
	/* instance.create / instance.delete are not accepted in webhook.events: global webhook only. */
	iallowed = strcmp(filter, "INSTANCE_CREATE") != 0 && strcmp(filter, "INSTANCE_DELETE") != 0;
	webhook_format_time(date_time, sizeof(date_time));

	params[0] = instance_id;
	params[1] = instance_name;
	params[2] = event;
	params[3] = filters;
	params[4] = suffix;
	params[5] = data;
	params[6] = sender;
	params[7] = (w->server_url != NULL && w->server_url[0] != '\0') ? w->server_url : NULL;
	params[8] = date_time;
	params[9] = webhook_global_wants(w, filter) ? w->global_url : NULL;
	params[10] = w->global_by_events ? "true" : "false";
	params[11] = iallowed ? "true" : "false";
	db_tx_add(tx, webhook_enqueue_sql, 12, params);
	free(data_copy);
}

/* Allocate a database-call record owned by w's list. */
static struct webhook_op *
webhook_op_new(struct webhook *w, enum webhook_op_kind kind)
{
	struct webhook_op *op = xcalloc(1, sizeof(*op));

	op->w = w;
	op->kind = kind;
	TAILQ_INSERT_TAIL(&w->ops, op, entry);
	return op;
}

/* Log a database failure once per outage (the loop retries every poll). */
static void
webhook_db_error(struct webhook *w, const char *what, const struct db_result *r)
{
	if (r->unavailable) {
		if (!w->db_down_logged)
			log_warnx("%s: database unavailable, will retry", what);
		w->db_down_logged = 1;
		return;
	}
	log_warnx("%s: %s", what, r->err ? r->err : "unknown error");
}

/* Arm the one-shot wake timer to fire in ms unless it is already due sooner. */
static void
webhook_wake_after(struct webhook *w, long ms)
{
	struct timeval now, tv, at;

	if (ms < 0)
		ms = 0;
	event_base_gettimeofday_cached(w->base, &now);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	timeradd(&now, &tv, &at);
	if (evtimer_pending(w->wake_timer, NULL) && timercmp(&w->wake_at, &at, <=))
		return;
	w->wake_at = at;
	evtimer_add(w->wake_timer, &tv);
}

/* Free a delivery's curl state and memory (not linked any more). */
static void
webhook_delivery_free(struct webhook_delivery *d)
{
	if (d == NULL)
		return;
	if (d->easy != NULL) {
		curl_multi_remove_handle(d->w->multi, d->easy);
		curl_easy_cleanup(d->easy);
	}
	curl_slist_free_all(d->hdrs);
	free(d->event);
	free(d->url);
	free(d->body);
	free(d);
}

/* The result of a delivery has been written (or not): forget the row and look for more work. */
static void
webhook_delivery_release(struct webhook *w, struct webhook_delivery *d)
{
	TAILQ_REMOVE(&w->deliveries, d, entry);
	w->ndeliveries--;
	webhook_delivery_free(d);
	if (w->again)
		webhook_kick(w);
}

/* The ids of the rows in flight here, as a PostgreSQL bigint[] literal (malloc'd). */
static char *
webhook_inflight_ids(struct webhook *w)
{
	struct webhook_delivery *d;
	size_t cap = 3 + (size_t)w->ndeliveries * 22;
	char *ids, *p;

	ids = p = xmalloc(cap);
	*p++ = '{';
	TAILQ_FOREACH(d, &w->deliveries, entry)
		p += snprintf(p, cap - (size_t)(p - ids), "%s%lld", p == ids + 1 ? "" : ",", d->id);
	*p++ = '}';
	*p = '\0';
	return ids;
}

static void webhook_db_cb(void *arg, const struct db_result *r);

/*
 * Hold the receiver's other due rows (not in flight here) until the failed row's retry time, so they do
 * not each spend a slot and a timeout on a receiver that is down. Its own statement, with SKIP LOCKED,
 * so it never waits on (or deadlocks with) a concurrent result write; best effort.
 */
static void
webhook_hold_url(struct webhook *w, const char *url, const char *delay)
{
	struct webhook_op *op;
	const char *params[3];
	char *ids;

	ids = webhook_inflight_ids(w);
	params[0] = url;
	params[1] = delay;
	params[2] = ids;
	op = webhook_op_new(w, WEBHOOK_OP_HOLD);
	if (db_query(w->db, "UPDATE webhook_outbox SET next_attempt_at = now() + $2::bigint * interval '1 millisecond'"
	    " WHERE id IN (SELECT id FROM webhook_outbox WHERE url = $1 AND next_attempt_at <= now()"
	    " AND NOT (id = ANY($3::bigint[])) FOR UPDATE SKIP LOCKED)", 3, params, webhook_db_cb, op) == -1) {
		TAILQ_REMOVE(&w->ops, op, entry);
		free(op);
	}
	free(ids);
}

/* Write a delivery's outcome: delete the row, or record the failure and when to try again. */
static void
webhook_delivery_record(struct webhook *w, struct webhook_delivery *d, int delete, const char *error,
    long delay_ms, int hold_url)
{
	struct webhook_op *op;
	char id[32], delay[32];
	const char *params[3];
	int rc;

	if (w->db == NULL) {
		webhook_delivery_release(w, d);
		return;
	}
	snprintf(id, sizeof(id), "%lld", d->id);
	snprintf(delay, sizeof(delay), "%ld", delay_ms);
	params[0] = id;
	params[1] = error;
	params[2] = delay;
	if (!delete && hold_url)
		webhook_hold_url(w, d->url, delay);
	op = webhook_op_new(w, WEBHOOK_OP_RESULT);
	op->d = d;
	if (delete)
		rc = db_query(w->db, "DELETE FROM webhook_outbox WHERE id = $1::bigint", 1, params, webhook_db_cb, op);
	else
		rc = db_query(w->db, "UPDATE webhook_outbox SET attempts = attempts + 1, last_error = left($2, 1000),"
		    " next_attempt_at = now() + $3::bigint * interval '1 millisecond' WHERE id = $1::bigint",
		    3, params, webhook_db_cb, op);
	if (rc == -1) {
		/* The row stays as it was and is retried by the next claim. */
		TAILQ_REMOVE(&w->ops, op, entry);
		free(op);
		webhook_delivery_release(w, d);
	}
}

/* A POST ended: decide between done, retry later, and drop. */
static void
webhook_delivery_finish(struct webhook *w, struct webhook_delivery *d, CURLcode res, long code)
{
	char error[WEBHOOK_MAX_ERROR_LEN];
	int attempts = d->attempts + 1;
	long delay;

	if (res == CURLE_OK && code >= 200 && code <= 299) {
		w->delivered++;
		w->db_down_logged = 0;
		log_debug("delivered %s #%lld to %s (HTTP %ld, attempt %d)", d->event, d->id, d->url,
		    code, attempts);
		webhook_delivery_record(w, d, 1, NULL, 0, 0);
		return;
	}
	w->failed++;
	if (res != CURLE_OK)
		snprintf(error, sizeof(error), "%s%s%s", curl_easy_strerror(res), d->errbuf[0] ? ": " : "",
		    d->errbuf);
	else
		snprintf(error, sizeof(error), "HTTP %ld", code);
	/* A URL that can never work is not worth a week of retries. */
	if (res == CURLE_URL_MALFORMAT || res == CURLE_UNSUPPORTED_PROTOCOL) {
		log_warnx("dropping %s #%lld to %s: %s", d->event, d->id, d->url, error);
		w->dropped++;
		webhook_delivery_record(w, d, 1, NULL, 0, 0);
		return;
	}
	if (d->age_s >= w->max_age_s) {
		log_warnx("dropping %s #%lld to %s after %d attempts over %ld s: %s", d->event, d->id,
		    d->url, attempts, d->age_s, error);
		w->dropped++;
		webhook_delivery_record(w, d, 1, NULL, 0, 0);
		return;
	}
	delay = webhook_backoff_ms(attempts, w->retry_min_ms, w->retry_max_ms);
	log_debug("%s #%lld to %s failed (attempt %d): %s; retry in %ld ms", d->event, d->id, d->url,
	    attempts, error, delay);
	/* Network errors, timeouts, 5xx and 429 say the receiver is unwell, not this one event. */
	webhook_delivery_record(w, d, 0, error, delay, res != CURLE_OK || code >= 500 || code == 429);
	webhook_wake_after(w, delay);
}

/* Collect finished transfers from libcurl. */
static void
webhook_check_done(struct webhook *w)
{
	struct webhook_delivery *d;
	CURLMsg *msg;
	CURLcode res;
	CURL *easy;
	long code;
	int left;

	while ((msg = curl_multi_info_read(w->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		easy = msg->easy_handle;
		res = msg->data.result;
		d = NULL;
		code = 0;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&d);
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
		curl_multi_remove_handle(w->multi, easy);
		curl_easy_cleanup(easy);
		if (d == NULL)
			continue;
		d->easy = NULL;
		webhook_delivery_finish(w, d, res, code);
	}
}

/* libevent saw activity on a socket libcurl watches. */
static void
webhook_sock_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct webhook *w = arg;
	int running, action = 0;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	curl_multi_socket_action(w->multi, fd, action, &running);
	webhook_check_done(w);
	if (running <= 0 && evtimer_pending(w->curl_timer, NULL))
		evtimer_del(w->curl_timer);
}

/* libcurl's timeout expired. */
static void
webhook_curl_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct webhook *w = arg;
	int running;

	curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	webhook_check_done(w);
}

/* CURLMOPT_SOCKETFUNCTION: (re)register or drop the libevent watcher for one socket. */
static int
webhook_curl_sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct webhook *w = userp;
	struct webhook_sock *ws = socketp;
	short kind = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		if (ws != NULL) {
			LIST_REMOVE(ws, entry);
			event_free(ws->ev);
			free(ws);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (ws == NULL) {
		ws = xcalloc(1, sizeof(*ws));
		ws->w = w;
		LIST_INSERT_HEAD(&w->socks, ws, entry);
		curl_multi_assign(w->multi, s, ws);
	} else
		event_free(ws->ev);
	if ((ws->ev = event_new(w->base, s, kind, webhook_sock_event_cb, w)) == NULL)
		fatalx("%s: event_new", __func__);
	event_add(ws->ev, NULL);
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: one timer for the whole multi handle. */
static int
webhook_curl_timer_fn(CURLM *multi, long timeout_ms, void *userp)
{
	struct webhook *w = userp;
	struct timeval tv;

	if (timeout_ms < 0) {
		evtimer_del(w->curl_timer);
		return 0;
	}
	/* Zero means "act now": run it on the next loop turn, never from inside libcurl. */
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(w->curl_timer, &tv);
	return 0;
}

/* Response bodies are not used: count and drop them. */
static size_t
webhook_curl_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	return size * nmemb;
}

/* Whether a stored header name may be sent (a valid token, not one we set ourselves). */
static int
webhook_header_allowed(const char *name)
{
	static const char *reserved[] = { "content-type", "content-length", "host", "transfer-encoding",
		"expect", "connection", "x-wagate-delivery", "x-wagate-event" };
	size_t i, n = strlen(name);

	if (n == 0 || n > 128 || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789!#$%&'*+-.^_`|~") != n)
		return 0;
	for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strcasecmp(name, reserved[i]) == 0)
			return 0;
	return 1;
}

/* Build the header list: ours first, then the row's custom headers (bounded, no CR/LF injection). */
static struct curl_slist *
webhook_build_headers(struct webhook_delivery *d, const char *headers_json)
{
	struct curl_slist *h = NULL, *n;
	struct json_object *obj;
	char *line;
	int count = 0;

	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, "Expect:");
	xasprintf(&line, "%s: %lld", WEBHOOK_HEADER_DELIVERY, d->id);
	h = curl_slist_append(h, line);
	free(line);
	xasprintf(&line, "%s: %s", WEBHOOK_HEADER_EVENT, d->event);
	h = curl_slist_append(h, line);
	free(line);
	if (headers_json == NULL || (obj = json_tokener_parse(headers_json)) == NULL)
		return h;
	if (json_object_is_type(obj, json_type_object)) {
		json_object_object_foreach(obj, key, val) {
			const char *v;

			if (count >= WEBHOOK_MAX_HEADERS)
				break;
			if (json_object_is_type(val, json_type_object) || json_object_is_type(val, json_type_array) ||
			    json_object_is_type(val, json_type_null))
				continue;
			v = json_object_get_string(val);
			if (!webhook_header_allowed(key) || v == NULL || strlen(v) > WEBHOOK_MAX_HEADER_LEN ||
			    strpbrk(v, "\r\n") != NULL)
				continue;
			xasprintf(&line, "%s: %s", key, v);
			n = curl_slist_append(h, line);
			free(line);
			if (n != NULL)
				h = n;
			count++;
		}
	}
	json_object_put(obj);
	return h;
}

/* Start the POST for one claimed row. */
static void
webhook_delivery_start(struct webhook *w, const PGresult *res, int row)
{
	struct webhook_delivery *d = xcalloc(1, sizeof(*d));
	CURL *easy;

	d->w = w;
	d->id = strtoll(PQgetvalue(res, row, 0), NULL, 10);
	d->event = xstrdup(PQgetvalue(res, row, 1));
	d->url = xstrdup(PQgetvalue(res, row, 2));
	d->body = xstrdup(PQgetvalue(res, row, 4));
	d->attempts = atoi(PQgetvalue(res, row, 5));
	d->age_s = strtol(PQgetvalue(res, row, 6), NULL, 10);
	d->hdrs = webhook_build_headers(d, PQgetisnull(res, row, 3) ? NULL : PQgetvalue(res, row, 3));
	TAILQ_INSERT_TAIL(&w->deliveries, d, entry);
	w->ndeliveries++;

	if ((easy = curl_easy_init()) == NULL) {
		webhook_delivery_finish(w, d, CURLE_FAILED_INIT, 0);
		return;
	}
	curl_easy_setopt(easy, CURLOPT_URL, d->url);
	curl_easy_setopt(easy, CURLOPT_POST, 1L);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDS, d->body);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long)strlen(d->body));
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, d->hdrs);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, d);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, d->errbuf);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, webhook_curl_write_cb);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)w->request_timeout_ms);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)(w->request_timeout_ms < 10000 ? w->request_timeout_ms : 10000));
	curl_easy_setopt(easy, CURLOPT_USERAGENT, "wagate-webhook/1");
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	d->easy = easy;
	if (curl_multi_add_handle(w->multi, easy) != CURLM_OK) {
		curl_easy_cleanup(easy);
		d->easy = NULL;
		webhook_delivery_finish(w, d, CURLE_FAILED_INIT, 0);
	}
}

/*
 * Due rows not already in flight here ($1), at most $4 per URL and none for URLs already busy ($3), so
 * one slow receiver cannot take every slot; rows past max age ($5) are left to the sweep. No lease is written: after a crash or restart every row
 * is due at once (at-least-once; receivers de-duplicate on the delivery id). Several supervisors
 * sharing one outbox would need a lease or per-instance ownership first (DESIGN.md, scale plan).
 */
static const char webhook_claim_sql[] =
    "SELECT o.id, o.event, o.url, o.headers::text, o.body::text, o.attempts,"
    " floor(extract(epoch FROM now() - o.created_at))::bigint"
    " FROM webhook_outbox o JOIN (SELECT c.id FROM (SELECT id, next_attempt_at,"
    " row_number() OVER (PARTITION BY url ORDER BY next_attempt_at, id) AS rn FROM webhook_outbox"
    " WHERE next_attempt_at <= now() AND NOT (id = ANY($1::bigint[])) AND NOT (url = ANY($3::text[]))"
    " AND created_at >= now() - $5::bigint * interval '1 second') c"
    " WHERE c.rn <= $4::int ORDER BY c.next_attempt_at, c.id LIMIT $2::int) due ON o.id = due.id"
    " ORDER BY o.next_attempt_at, o.id";

/* Append s to a PostgreSQL array literal being built in *buf (quoted, backslash-escaped). */
static void
webhook_array_add(char **buf, size_t *len, size_t *cap, const char *str)
{
	size_t need = *len + 2 * strlen(str) + 4;

	if (need > *cap) {
		*cap = need * 2;
		*buf = xreallocarray(*buf, *cap, 1);
	}
	if (*len > 1)
		(*buf)[(*len)++] = ',';
	(*buf)[(*len)++] = '"';
	for (; *str != '\0'; str++) {
		if (*str == '"' || *str == '\\')
			(*buf)[(*len)++] = '\\';
		(*buf)[(*len)++] = *str;
	}
	(*buf)[(*len)++] = '"';
	(*buf)[*len] = '\0';
}

/* Deliveries in flight to url. */
static int
webhook_url_busy(struct webhook *w, const char *url)
{
	struct webhook_delivery *d;
	int n = 0;

	TAILQ_FOREACH(d, &w->deliveries, entry)
		if (strcmp(d->url, url) == 0)
			n++;
	return n;
}

/* Ask the database for due rows, up to the free delivery slots. */
static void
webhook_claim(struct webhook *w)
{
	struct webhook_delivery *d, *e;
	struct webhook_op *op;
	char *ids, *urls, limit[16], per_url[16], max_age[16];
	const char *params[5];
	size_t ulen = 1, ucap = 64;
	int room, seen, capped = 0;

	if (w->db == NULL)
		return;
	if (w->claiming) {
		w->kick_pending = 1;
		return;
	}
	if ((room = w->concurrency - w->ndeliveries) <= 0) {
		w->again = 1;
		return;
	}
	w->again = 0;
	ids = webhook_inflight_ids(w);
	urls = xmalloc(ucap);
	strcpy(urls, "{");
	TAILQ_FOREACH(d, &w->deliveries, entry) {
		seen = 0;
		for (e = TAILQ_FIRST(&w->deliveries); e != d; e = TAILQ_NEXT(e, entry))
			if (strcmp(e->url, d->url) == 0)
				seen = 1;
		if (!seen && webhook_url_busy(w, d->url) >= WEBHOOK_PER_URL) {
			webhook_array_add(&urls, &ulen, &ucap, d->url);
			capped = 1;
		}
	}
	urls = xreallocarray(urls, ulen + 2, 1);
	urls[ulen++] = '}';
	urls[ulen] = '\0';
	snprintf(limit, sizeof(limit), "%d", room);
	snprintf(per_url, sizeof(per_url), "%d", WEBHOOK_PER_URL);
	snprintf(max_age, sizeof(max_age), "%d", w->max_age_s);
	params[0] = ids;
	params[1] = limit;
	params[2] = urls;
	params[3] = per_url;
	params[4] = max_age;
	op = webhook_op_new(w, WEBHOOK_OP_CLAIM);
	op->limit = room;
	op->capped = capped;
	w->claiming = 1;
	if (db_query(w->db, webhook_claim_sql, 5, params, webhook_db_cb, op) == -1) {
		TAILQ_REMOVE(&w->ops, op, entry);
		free(op);
		w->claiming = 0;
	}
	free(ids);
	free(urls);
}

/* Count the backlog and, now and then, drop rows past max age. */
static void
webhook_maint(struct webhook *w)
{
	struct webhook_op *op;
	char age[32];
	const char *params[1];

	if (w->db == NULL)
		return;
	if (!w->counting) {
		op = webhook_op_new(w, WEBHOOK_OP_COUNT);
		w->counting = 1;
		if (db_query(w->db, "SELECT count(*) FROM webhook_outbox", 0, NULL, webhook_db_cb, op) == -1) {
			TAILQ_REMOVE(&w->ops, op, entry);
			free(op);
			w->counting = 0;
		}
	}
	if (!w->sweeping && w->maint_ticks++ % WEBHOOK_SWEEP_EVERY == 0) {
		snprintf(age, sizeof(age), "%d", w->max_age_s);
		params[0] = age;
		op = webhook_op_new(w, WEBHOOK_OP_SWEEP);
		w->sweeping = 1;
		/* Rows whose retry is already scheduled are judged when their next attempt ends. */
		if (db_query(w->db, "DELETE FROM webhook_outbox WHERE created_at < now() - $1::bigint * interval '1 second'"
		    " AND next_attempt_at <= now() RETURNING id, event, url, attempts", 1, params, webhook_db_cb, op) == -1) {
			TAILQ_REMOVE(&w->ops, op, entry);
			free(op);
			w->sweeping = 0;
		}
	}
}

/* Rows came back from a claim: start them. */
static void
webhook_claim_done(struct webhook *w, struct webhook_op *op, const struct db_result *r)
{
	const PGresult *res;
	int i, n;

	w->claiming = 0;
	if (r->err != NULL || r->nres < 1) {
		webhook_db_error(w, "claim", r);
		return;
	}
	if (w->db_down_logged)
		log_info("database reachable again");
	w->db_down_logged = 0;
	res = r->res[r->nres - 1];
	n = PQntuples(res);
	if (PQnfields(res) < 7)
		return;
	for (i = 0; i < n; i++) {
		webhook_delivery_start(w, res, i);
		/* A URL that reached its share may have more due rows: look again when a slot frees. */
		if (webhook_url_busy(w, PQgetvalue(res, i, 2)) >= WEBHOOK_PER_URL)
			op->capped = 1;
	}
	if (n >= op->limit || op->capped)
		w->again = 1;
	if (w->kick_pending) {
		w->kick_pending = 0;
		webhook_kick(w);
	}
}

/* Dispatch one database answer to the part of the loop that asked. */
static void
webhook_db_cb(void *arg, const struct db_result *r)
{
	struct webhook_op *op = arg;
	struct webhook *w = op->w;
	const PGresult *res;
	int i;

	if (w == NULL) {
		/* The webhook was freed; whatever this was, the table still says what to do. */
		free(op);
		return;
	}
	TAILQ_REMOVE(&w->ops, op, entry);
	switch (op->kind) {
	case WEBHOOK_OP_CLAIM:
		webhook_claim_done(w, op, r);
		break;
	case WEBHOOK_OP_RESULT:
		if (r->err != NULL)
			webhook_db_error(w, "record result", r);
		webhook_delivery_release(w, op->d);
		break;
	case WEBHOOK_OP_COUNT:
		w->counting = 0;
		if (r->err == NULL && r->nres >= 1 && PQntuples(r->res[0]) == 1)
			w->backlog = strtol(PQgetvalue(r->res[0], 0, 0), NULL, 10);
		break;
	case WEBHOOK_OP_HOLD:
		if (r->err != NULL && !r->unavailable)
			webhook_db_error(w, "hold", r);
		break;
	case WEBHOOK_OP_SWEEP:
		w->sweeping = 0;
		if (r->err != NULL || r->nres < 1) {
			webhook_db_error(w, "sweep", r);
			break;
		}
		res = r->res[0];
		for (i = 0; i < PQntuples(res) && PQnfields(res) >= 4; i++) {
			w->dropped++;
			if (i < 20)
				log_warnx("dropping %s #%s to %s after %s attempts: older than %d s",
				    PQgetvalue(res, i, 1), PQgetvalue(res, i, 0), PQgetvalue(res, i, 2),
				    PQgetvalue(res, i, 3), w->max_age_s);
		}
		if (i > 20)
			log_warnx("dropped %d old rows in all", i);
		break;
	}
	free(op);
}

/* Periodic poll, wake-up after a retry delay, and kicks all end here. */
static void
webhook_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	webhook_claim(arg);
}

/* Periodic maintenance timer. */
static void
webhook_maint_cb(evutil_socket_t fd, short what, void *arg)
{
	webhook_maint(arg);
}

/* Ask for a claim on the next loop turn (several kicks in one turn make one query). */
void
webhook_kick(struct webhook *w)
{
	if (w == NULL || w->kick_ev == NULL)
		return;
	event_active(w->kick_ev, EV_TIMEOUT, 0);
}

/* Create the delivery loop. */
struct webhook *
webhook_new(struct event_base *base, struct db *db, const struct webhook_config *cfg)
{
	struct webhook *w = xcalloc(1, sizeof(*w));
	struct timeval poll = { WEBHOOK_POLL_MS / 1000, (WEBHOOK_POLL_MS % 1000) * 1000 };
	struct timeval maint = { WEBHOOK_MAINT_MS / 1000, (WEBHOOK_MAINT_MS % 1000) * 1000 };

	w->base = base;
	w->db = db;
	w->global_url = cfg->global_url != NULL ? xstrdup(cfg->global_url) : NULL;
	w->server_url = cfg->server_url != NULL ? xstrdup(cfg->server_url) : NULL;
	w->global_enabled = cfg->global_enabled;
	w->global_by_events = cfg->global_by_events;
	w->global_event_enabled = cfg->global_event_enabled;
	w->global_event_arg = cfg->global_event_arg;
	w->retry_min_ms = cfg->retry_min_ms > 0 ? cfg->retry_min_ms : 1000;
	w->retry_max_ms = cfg->retry_max_ms > 0 ? cfg->retry_max_ms : 300000;
	if (w->retry_max_ms < w->retry_min_ms)
		w->retry_max_ms = w->retry_min_ms;
	w->max_age_s = cfg->max_age_s > 0 ? cfg->max_age_s : 7 * 24 * 3600;
	w->concurrency = cfg->concurrency > 0 ? cfg->concurrency : 32;
	w->request_timeout_ms = cfg->request_timeout_ms > 0 ? cfg->request_timeout_ms : 15000;
	w->backlog = -1;
	TAILQ_INIT(&w->deliveries);
	TAILQ_INIT(&w->ops);
	LIST_INIT(&w->socks);

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("%s: curl_global_init", __func__);
	if ((w->multi = curl_multi_init()) == NULL)
		fatalx("%s: curl_multi_init", __func__);
	curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, webhook_curl_sock_cb);
	curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w);
	curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, webhook_curl_timer_fn);
	curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, w);
	curl_multi_setopt(w->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)w->concurrency);

	w->curl_timer = evtimer_new(base, webhook_curl_timer_cb, w);
	w->poll_timer = event_new(base, -1, EV_PERSIST, webhook_poll_cb, w);
	w->kick_ev = evtimer_new(base, webhook_poll_cb, w);
	w->wake_timer = evtimer_new(base, webhook_poll_cb, w);
	w->maint_timer = event_new(base, -1, EV_PERSIST, webhook_maint_cb, w);
	if (w->curl_timer == NULL || w->poll_timer == NULL || w->kick_ev == NULL || w->wake_timer == NULL ||
	    w->maint_timer == NULL)
		fatalx("%s: event_new", __func__);
	if (db != NULL) {
		evtimer_add(w->poll_timer, &poll);
		evtimer_add(w->maint_timer, &maint);
		webhook_kick(w);
		webhook_maint(w);
	}
	return w;
}

/* Stop the loop; rows being posted stay in the table and are posted again by the next loop. */
void
webhook_free(struct webhook *w)
{
	struct webhook_delivery *d;
	struct webhook_sock *ws;
	struct webhook_op *op;

	if (w == NULL)
		return;
	/* Pending database callbacks outlive us: they see op->w == NULL and only free themselves. */
	while ((op = TAILQ_FIRST(&w->ops)) != NULL) {
		TAILQ_REMOVE(&w->ops, op, entry);
		op->w = NULL;
		op->d = NULL;
	}
	while ((d = TAILQ_FIRST(&w->deliveries)) != NULL) {
		TAILQ_REMOVE(&w->deliveries, d, entry);
		webhook_delivery_free(d);
	}
	curl_multi_cleanup(w->multi);
	/* Cached keep-alive connections may close without a CURL_POLL_REMOVE. */
	while ((ws = LIST_FIRST(&w->socks)) != NULL) {
		LIST_REMOVE(ws, entry);
		event_free(ws->ev);
		free(ws);
	}
	curl_global_cleanup();
	event_free(w->curl_timer);
	event_free(w->poll_timer);
	event_free(w->kick_ev);
	event_free(w->wake_timer);
	event_free(w->maint_timer);
	free(w->global_url);
	free(w->server_url);
	free(w);
}

/* Pending rows, for /metrics. */
long
webhook_backlog(const struct webhook *w)
{
	return w != NULL ? w->backlog : -1;
}

/* Successful deliveries since start. */
unsigned long
webhook_delivered_total(const struct webhook *w)
{
	return w != NULL ? w->delivered : 0;
}

/* Failed attempts since start. */
unsigned long
webhook_failed_attempts_total(const struct webhook *w)
{
	return w != NULL ? w->failed : 0;
}

/* Rows dropped for age or for a URL that can never work. */
unsigned long
webhook_dropped_total(const struct webhook *w)
{
	return w != NULL ? w->dropped : 0;
}
