/* Webhook internals shared by its files: webhook.c (new/free, timers, metrics), webhook_event.c (names and
 * enqueue), webhook_deliver.c (claim, outcome, retry), webhook_sql.c (the outbox's hot statements) and
 * webhook_curl.c (libcurl multi on libevent) and webhook_http.c (our own client for plain http:// URLs).
 * Nothing outside supervisor/webhook*.c includes this. */
#ifndef WAGATE_WEBHOOK_INT_H
#define WAGATE_WEBHOOK_INT_H

#include <sys/queue.h>
#include <sys/time.h>

#include <curl/curl.h>

#include "webhook.h"

#define WEBHOOK_POLL_MS		1000	/* look for due rows at least this often */
#define WEBHOOK_MAINT_MS	2000	/* backlog count */
#define WEBHOOK_SWEEP_EVERY	30	/* max-age sweep every this many maintenance ticks */
#define WEBHOOK_MAX_HEADERS	64
#define WEBHOOK_MAX_HEADER_LEN	8192
#define WEBHOOK_MAX_ERROR_LEN	1000
#define WEBHOOK_NAME_MAX	64	/* longest event name we build filter names for */
#define WEBHOOK_PER_URL		4	/* least share of one URL in the delivery slots (webhook.per_url) */
#define WEBHOOK_HOLDS_MAX	64	/* receivers held after a transport failure, remembered at once */
#define WEBHOOK_HANDOFFS_MAX	256	/* hand-offs remembered during one claim (more: redo the claim) */
#define WEBHOOK_DEL_WAIT_MS	20	/* delivered rows wait this long for their plain DELETE to fill */
#define WEBHOOK_AHEAD		32	/* rows of a queue a hand-off reads: the next one and those behind it */
#define WEBHOOK_ANALYZE_MIN	16	/* a backlog this small is not worth an ANALYZE (webhook_analyze_due) */
#define WEBHOOK_VACUUM_ROWS	10000	/* rows gone from the outbox between two VACUUMs of our own */
#define WEBHOOK_HTTP_IDLE_MS	30000	/* the own HTTP client closes a connection idle this long */

enum webhook_op_kind {
	WEBHOOK_OP_CLAIM,
	WEBHOOK_OP_RESULT,
	WEBHOOK_OP_COUNT,
	WEBHOOK_OP_SWEEP,
	WEBHOOK_OP_DELETE,		/* the delivered rows of one loop turn */
	WEBHOOK_OP_HANDOFF,		/* the settled heads of one loop turn, with their queues' next rows */
	WEBHOOK_OP_ANALYZE,		/* statistics for a backlog that outgrew them */
	WEBHOOK_OP_VACUUM,		/* dead rows of delivered events out of the claim's way */
};

struct webhook_delivery {
	TAILQ_ENTRY(webhook_delivery) entry;
	struct webhook *w;
	long long id;
	char *instance_id;		/* NULL: an event of no instance */
	int posted;			/* the POST ended: only its outcome is being written */
	int expired;			/* past max age when claimed: deleted unsent */
	char *event;
	char *url;
	char *body;
	int attempts;			/* failed attempts before this one */
	long age_s;			/* row age when claimed */
	int plain_delete;		/* delivered, its queue's next row already started: delete without hand-off */
	int del_queued;			/* its plain DELETE waits for its batch (webhook_flush_deletes) */
	int hand_queued;		/* its hand-off waits for the turn's batch (webhook_flush_deletes) */
	struct webhook_delivery *ahead;	/* the due rows behind this one in its queue, read with it, not started */
	CURL *easy;
	struct curl_slist *hdrs;
	char errbuf[CURL_ERROR_SIZE];
	/* webhook_http.c's, when its URL is one that client sends */
	struct wh_conn *hconn;			/* the connection carrying its POST */
	struct wh_pool *hwait;			/* the pool whose address lookup it waits for */
	TAILQ_ENTRY(webhook_delivery) hwait_entry;
	char *hhead;				/* the request head */
	size_t hhead_len;
	int hretried;				/* sent again after a reused connection broke */
	struct timeval hdeadline;		/* the POST's end, over its tries */
};

/* What webhook_http.c did since start (tests, benches). */
struct webhook_http_stats {
	unsigned long requests;			/* POSTs it took (some handed to libcurl later: to_curl) */
	unsigned long conns;			/* connections it opened */
	unsigned long reused;			/* POSTs sent on a kept-alive connection */
	unsigned long retried;			/* POSTs sent again after a reused connection broke */
	unsigned long to_curl;			/* POSTs handed to libcurl: evdns found no address */
};

/* One database call in flight; survives the webhook so a late callback finds op->w == NULL. */
struct webhook_op {
	TAILQ_ENTRY(webhook_op) entry;
	struct webhook *w;
	enum webhook_op_kind kind;
	struct webhook_delivery *d;
	int limit;
	int capped;			/* claim skipped busy URLs: they may have due rows */
	struct webhook_delivery **ds;	/* DELETE, HANDOFF: the deliveries whose rows it deletes */
	int nds;
};

/* libevent watcher for one socket libcurl asked us to watch. */
struct webhook_sock {
	LIST_ENTRY(webhook_sock) entry;
	struct event *ev;
	struct webhook *w;
};

/* A receiver not to be tried before until: it refused, timed out or asked us to back off. */
struct webhook_hold {
	char *url;
	struct timeval until;
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
	int concurrency;			/* POSTs at once; rows whose outcome is being written: as many more */
	int per_url;			/* deliveries to one URL at once: half the slots, at least WEBHOOK_PER_URL */
	int request_timeout_ms;

	CURLM *multi;
	struct event *curl_timer;
	struct webhook_http *http;		/* NULL: libcurl sends every POST */
	int http_idle_ms;			/* WEBHOOK_HTTP_IDLE_MS (tests lower it) */
	struct event *poll_timer;
	struct event *kick_ev;
	struct event *wake_timer;
	struct event *maint_timer;
	struct event *del_ev;			/* flush the plain DELETEs and hand-offs queued this turn */
	struct event *del_timer;		/* the plain DELETEs' window is over (WEBHOOK_DEL_WAIT_MS) */
	int ndel_queued;
	int del_running;			/* a plain DELETE is in flight: the next batch waits for it */
	int del_due;				/* the window is over: the queued plain DELETEs go as soon as they may */
	int del_wait_ms;			/* the window: WEBHOOK_DEL_WAIT_MS (tests change it) */
	int del_batch;				/* this many queued go at once: half the slots (tests change it) */
	unsigned long ndel_stmts;		/* plain DELETE statements sent (tests) */
	int nhand_queued;
	struct timeval wake_at;

	struct webhook_deliveries deliveries;	/* claimed rows: in flight or result being written */
	int ndeliveries;
	int nposting;				/* of them, POSTs not ended: what the slots count */
	struct webhook_ops ops;
	struct webhook_socks socks;		/* watchers libcurl has not removed yet */
	struct webhook_hold holds[WEBHOOK_HOLDS_MAX];
	int nholds;
	int claiming;
	int stopping;			/* webhook_stop: no POST starts any more */
	long long handoffs[WEBHOOK_HANDOFFS_MAX];	/* rows handed off while the claim runs */
	int nhandoffs;			/* WEBHOOK_HANDOFFS_MAX + 1: too many, the claim is stale */
	int again;			/* more due rows may exist: claim again when a slot frees */
	int kick_pending;		/* a claim was asked for while one was running */
	int counting;
	int sweeping;
	int analyzing;
	int vacuuming;
	unsigned long vacuum_mark;		/* delivered + dropped at the last VACUUM */
	unsigned long vacuum_rows;		/* WEBHOOK_VACUUM_ROWS (tests lower it) */
	unsigned long nvacuums;			/* VACUUMs started (tests) */
	unsigned maint_ticks;
	int db_down_logged;

	long backlog;
	long count_cap;			/* WEBHOOK_COUNT_CAP (tests lower it) */
	unsigned long delivered;
	unsigned long failed;
	unsigned long dropped;
};

/* webhook.c */
/* Arm the one-shot wake timer to fire in ms unless it is already due sooner. */
void webhook_wake_after(struct webhook *w, long ms);

/* webhook_deliver.c */
/* Ask the database for due rows, up to the free delivery slots. */
void webhook_claim(struct webhook *w);
/* Count the backlog and, now and then, drop rows past max age. */
void webhook_maint(struct webhook *w);
/* Run ANALYZE or VACUUM (the kind) on the outbox. */
void webhook_utility(struct webhook *w, enum webhook_op_kind kind);
/* webhook_sql.c: the outbox's hot statements and the settings they run with (webhook_tx_indexed). */
#define WEBHOOK_TX_SETS	1
extern const char webhook_tx_settings[];
extern const char *const webhook_tx_settings_params[3];	/* $1, $2 (and $3 of the async form) */
extern const char webhook_claim_sql[];
extern const char webhook_handoff_sql[];
#define WEBHOOK_HANDOFF_DID	9	/* the hand-off's column of the deleted head's id */
extern const char webhook_delete_sql[];
extern const char webhook_sweep_sql[];
/* The ids of the rows in flight, as a PostgreSQL bigint[] literal (malloc'd). */
char *webhook_inflight_ids(struct webhook *w);
/* Append str to a PostgreSQL text[] literal being built in *buf (quoted, backslash-escaped). */
void webhook_array_add(char **buf, size_t *len, size_t *cap, const char *str);
/* Append the URLs whose POSTs in flight fill their share (per_url): whether there was one. */
int webhook_add_full_urls(struct webhook *w, char **urls, size_t *ulen, size_t *ucap);
/* A new transaction holding the settings, for one of those statements to follow (results after
 * WEBHOOK_TX_SETS); with async_commit, its COMMIT does not wait for the WAL flush. */
struct db_tx *webhook_tx_indexed(int async_commit);
/* Whether a backlog count calls for ANALYZE webhook_outbox, given the statistics' row count (reltuples). */
int webhook_analyze_due(long backlog, double reltuples);
extern const char webhook_count_sql[];
/* The backlog from a count stopped past cap and the statistics (reltuples, relpages) and size (pages) of the outbox. */
long webhook_backlog_estimate(long counted, long cap, double reltuples, double relpages, double pages);
/* Delete the rows delivered this loop turn in one statement. */
void webhook_flush_deletes(struct webhook *w);
/* The plain DELETEs' window is over (its timer, or a queue ran dry): they go as soon as no DELETE is in flight. */
void webhook_deletes_due(struct webhook *w);
/* A POST ended (res, HTTP code): delete the row, schedule a retry, or drop it. */
void webhook_delivery_finish(struct webhook *w, struct webhook_delivery *d, CURLcode res, long code);
/* Free a delivery (not linked any more), its transfer included. NULL is fine. */
void webhook_delivery_free(struct webhook_delivery *d);
/* Forget every receiver hold (webhook_free). */
void webhook_holds_clear(struct webhook *w);

/* webhook_curl.c */
/* Create w's multi handle and its timer on w->base; 0, or -1 with a reason in err. */
int webhook_curl_init(struct webhook *w, char *err, size_t errlen);
/* Drop the multi handle, its socket watchers and timer (deliveries must be freed first). */
void webhook_curl_cleanup(struct webhook *w);
/* webhook_event.c, shared with webhook_gated.c. */
int webhook_event_names(const char *event, char *filter, char *suffix);
int webhook_instance_may_want(const char *filter);
int webhook_global_wants(struct webhook *w, const char *filter);
char *webhook_json_strip_nul(const char *text);

/* The request headers for d: ours, then the row's custom ones (headers_json may be NULL). */
struct curl_slist *webhook_curl_headers(const struct webhook_delivery *d, const char *headers_json);
/* Start POSTing d (its url, body and hdrs are set) with webhook_http.c's client when it takes the URL, else with
 * libcurl; 0, or -1 if the transfer could not be started. The outcome always comes later, from the loop. */
int webhook_curl_start(struct webhook *w, struct webhook_delivery *d);
/* The same with libcurl alone. */
int webhook_curl_post(struct webhook *w, struct webhook_delivery *d);
/* Abandon d's transfer, if any (either client's). */
void webhook_curl_stop(struct webhook_delivery *d);

/* webhook_http_url.c */
#define WEBHOOK_HTTP_HOST_MAX	253
/* What a URL says for webhook_http.c's client: host, port and the request target. */
struct webhook_http_target {
	char host[WEBHOOK_HTTP_HOST_MAX + 1];
	int port;
	int ipv6;
	const char *path;			/* into the URL: starts with '/' or '?', or is empty */
	size_t path_len;
};
/* Whether the client sends to url (0 or 1), and its parts in *t. */
int webhook_http_target(const char *url, struct webhook_http_target *t);
/* The same without the parts (tests). */
int webhook_http_takes(const char *url);
/* Build d's request head (d->hhead) for the URL parts t. */
void webhook_http_head(struct webhook_delivery *d, const struct webhook_http_target *t);

/* webhook_http.c */
/* Set up the client on w unless every POST must go through libcurl (curl_only, or a proxy in the environment). */
void webhook_http_init(struct webhook *w, int curl_only);
/* Close its connections and free it (deliveries must be freed first). */
void webhook_http_free(struct webhook *w);
/* Start d's POST when its URL is the client's: 0 started, 1 not ours (libcurl's). */
int webhook_http_start(struct webhook *w, struct webhook_delivery *d);
/* Abandon d's POST, if the client has it. */
void webhook_http_stop(struct webhook_delivery *d);
/* Its counters; NULL when libcurl sends every POST. */
const struct webhook_http_stats *webhook_http_stats(const struct webhook *w);

/* Hand the pool now the DELETEs and hand-offs waiting to be batched (webhook_stop, webhook_free). NULL ok. */
void webhook_flush(struct webhook *w);

#endif
