/* Durable webhook delivery: events become rows of webhook_outbox in the caller's transaction, and a
 * libcurl-multi loop on the supervisor's event base POSTs them, retrying with the common backoff
 * (backoff.h) until a 2xx deletes the row. All state is the table, so pending deliveries survive restarts. */
#ifndef WAGATE_WEBHOOK_H
#define WAGATE_WEBHOOK_H

#include <stddef.h>

struct event_base;
struct db;
struct db_tx;
struct webhook;

struct webhook_config {
	const char *global_url;		/* WEBHOOK_GLOBAL_URL; NULL or "" = none */
	int global_enabled;		/* WEBHOOK_GLOBAL_ENABLED */
	int global_by_events;		/* WEBHOOK_GLOBAL_WEBHOOK_BY_EVENTS */
	const char *server_url;		/* SERVER_URL, may be NULL */
	/* WEBHOOK_EVENTS_<X>: whether the global webhook gets filter name X; NULL = every event. */
	int (*global_event_enabled)(const char *filter_name, void *arg);
	void *global_event_arg;
	int retry_min_ms, retry_max_ms;	/* backoff_ms() bounds of the retry delay; 0 = 1000, 300000 */
	int max_age_s;			/* rows older than this are dropped (and logged); 0 = 7 days */
	int concurrency;		/* parallel deliveries; 0 = 256 */
	int request_timeout_ms;		/* per POST; 0 = 15000 */
	int libcurl_only;		/* WAGATE_WEBHOOK_LIBCURL: libcurl sends plain http:// URLs too */
};

/* Header carrying the outbox row id: the same for every attempt, so receivers can de-duplicate. */
#define WEBHOOK_HEADER_DELIVERY	"X-Wagate-Delivery"
#define WEBHOOK_HEADER_EVENT	"X-Wagate-Event"

/* Start the delivery loop on base (strings in cfg are copied). db may be NULL: enqueue still works, nothing is sent. */
struct webhook *webhook_new(struct event_base *base, struct db *db, const struct webhook_config *cfg);
/* Stop delivering; in-flight attempts are abandoned and retried later from the table. NULL is fine. */
void webhook_free(struct webhook *w);
/*
 * A shutdown, before its drain: start no more POSTs (rows claimed, handed off or read ahead and not started stay
 * in the table for the next start), let those under way end, and write each outcome at once instead of batching
 * it. Run the loop while webhook_busy, up to a deadline: a row whose POST or DELETE is cut short is posted again
 * by the next start (at least once), where stopping without the drain posted again every row delivered in the
 * last moments. NULL ok.
 */
void webhook_stop(struct webhook *w);
/* A POST, or the write of its outcome, is under way (NULL: no). */
int webhook_busy(const struct webhook *w);

/* Append to tx the statement that enqueues one event: one row per target (the instance's own webhook
 * when enabled and the event passes its events filter, empty = all; plus the global URL when enabled for
 * that event), each with its final URL (byEvents suffix), headers and the full Evolution envelope
 * {event, instance, data, destination, date_time, sender?, server_url?} (never an apikey).
 * event is the dotted name ("connection.update"); data_json is JSON text (NULL = null); sender may be NULL.
 * Add it BEFORE a DELETE of the instance in the same transaction (instance.delete). */
void webhook_enqueue(struct webhook *w, struct db_tx *tx, const char *instance_id, const char *instance_name,
    const char *event, const char *data_json, const char *sender);
/*
 * An instance's own webhook (its instance_webhook row) as the supervisor holds it, so that the message path
 * resolves an event's targets in C instead of in every statement. The supervisor is the table's only writer
 * (create, /webhook/set): it loads the rows at start and takes each new one after its COMMIT. A row edited by
 * hand in psql reaches the message events at the next start (webhook_enqueue reads the table every time).
 */
struct webhook_inst {
	int enabled, by_events;
	char *url;			/* "" = none */
	char *headers;			/* a JSON object's text */
	char **events;			/* filter names; nevents 0 = every event */
	size_t nevents;
};
/* From the text of SQL_WEBHOOK_JSON (url, headers, enabled, events, webhookByEvents); NULL (logged) if the
 * text is not that shape. */
struct webhook_inst *webhook_inst_from_json(const char *text);
void webhook_inst_free(struct webhook_inst *iw);

/*
 * Gated enqueue, for events that exist only if the caller's write in the same statement happened (a message
 * row that was new, a chat row that was new, a status that moved up). The caller's write comes as CTEs without
 * WITH (g->sql) with parameters $1..$n; each event names its gate, one of those CTEs, with a jsonb column
 * "extra". The statement answers one row, count(*) of each gate in the order of evs, and the write runs
 * whether or not anything wants the events. An event's rows (targets from iw, the instance's own webhook or
 * NULL, and the global one of w, which may be NULL) are inserted only when its gate has a row, in the order
 * of evs. With extra WEBHOOK_EXTRA_FIRST, an object data gets the gate's first non-NULL extra merged in (row
 * values the caller only learns in SQL, such as a row id) and an array data gets it appended as jsonb's ||
 * does (an array extra's elements: messages.set lists the rows the statement inserted). With
 * WEBHOOK_EXTRA_EACH the event is one event per row of its gate, in the order of the gate's column "ord",
 * each with that row's extra (never NULL) merged or appended so: a statement that writes many rows, one
 * event each. data is lent (NULL = JSON null). The envelopes are built here; the text of the statement
 * depends only on g->sql and on the number of targets of each event (0, 1 or 2), so it stays prepared. -1
 * (nothing added) on NULL tx or g, a bad event name, an unknown extra mode, EACH with data that is neither
 * object nor array, more than WEBHOOK_GATE_PARAMS_MAX parameters, or nev outside 1..WEBHOOK_EVENTS_MAX.
 */
#define WEBHOOK_GATE_PARAMS_MAX	16
#define WEBHOOK_EVENTS_MAX	4
struct webhook_gate {
	const char *sql;
	int n;
	const char *const *params;
	const int *lens, *fmts;		/* as db_tx_add_bin; NULL = all text */
};
struct json_object;
enum webhook_extra { WEBHOOK_EXTRA_NONE, WEBHOOK_EXTRA_FIRST, WEBHOOK_EXTRA_EACH };
struct webhook_gated_event {
	const char *event;
	struct json_object *data;	/* lent; NULL = JSON null */
	const char *gate;		/* the name of its CTE */
	int extra;			/* enum webhook_extra */
};
int webhook_enqueue_gated(struct webhook *w, struct db_tx *tx, const struct webhook_inst *iw,
    const char *instance_id, const char *instance_name, const char *sender, const struct webhook_gate *g,
    const struct webhook_gated_event *evs, int nev);
/* JSON text of o as PostgreSQL's jsonb takes it: compact, and \u0000 (valid JSON, refused by jsonb) turned
 * into \ufffd. Caller frees. */
char *webhook_json_text(struct json_object *o);
/* Rows were committed: look for due work now (coalesced, runs on the next loop turn). */
void webhook_kick(struct webhook *w);

/* Rows pending in the outbox (refreshed every few seconds), for /metrics; -1 before the first count. Counted
 * exactly up to WEBHOOK_COUNT_CAP rows, estimated from the outbox's size above (a count of all of it every few
 * seconds would read a large backlog again and again). */
#define WEBHOOK_COUNT_CAP	100000
long webhook_backlog(const struct webhook *w);
/* Deliveries answered with 2xx since start. */
unsigned long webhook_delivered_total(const struct webhook *w);
/* Attempts that failed (non-2xx, timeout, network error) since start. */
unsigned long webhook_failed_attempts_total(const struct webhook *w);
/* Rows dropped because they exceeded max_age_s. */
unsigned long webhook_dropped_total(const struct webhook *w);
/* The own HTTP client's POSTs (those it took) and the TCP connections it opened for them, since start: far fewer
 * connections than POSTs means keep-alive works. Zeros when libcurl sends everything. */
void webhook_http_totals(const struct webhook *w, unsigned long *posts, unsigned long *connections);

/* Helpers, exposed for tests and for the HTTP layer's validation. */
/* "group-participants.update" -> "GROUP_PARTICIPANTS_UPDATE"; 0, or -1 if out is too small / name empty. */
int webhook_filter_name(const char *event, char *out, size_t outsz);
/* "group-participants.update" -> "group-participants-update"; 0 or -1. */
int webhook_url_suffix(const char *event, char *out, size_t outsz);
/* Current UTC time as "2025-01-22T15:39:14.123Z" (out needs 25 bytes). */
void webhook_format_time(char *out, size_t outsz);

#endif
