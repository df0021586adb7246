/* The webhook outbox's hot statements (the claim, the hand-offs, the DELETEs of delivered rows) and how they
 * are planned: the transaction settings they run with and when the outbox wants new statistics. The delivery
 * loop that runs them is webhook_deliver.c's; the claim's parameters are built here too. */
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "webhook_int.h"
#include "xmalloc.h"

/* The queue key of a row: events of no instance (if any) form their own queue per URL. Spelled exactly as
 * in migrations/0003_webhook_order.sql's index, which the planner must match. */
#define WEBHOOK_QKEY(t)	"coalesce(" t ".instance_id, '00000000-0000-0000-0000-000000000000'::uuid)"
#define WEBHOOK_STR_(x)	#x
#define WEBHOOK_STR(x)	WEBHOOK_STR_(x)

/*
 * A transaction for one of the outbox's hot statements (the claim, the hand-offs, the DELETEs of delivered
 * rows), which follows: planned once per connection, with the indexes.
 *  - Generic plan only. Left to choose, PostgreSQL planned the hand-off afresh at almost every run: a custom
 *    plan knows how many ids $1 holds, the generic one assumes ten and looks dearer (pg_stat_statements,
 *    bench/messages.sh at 50 pairs: 2,564 plans in 2,583 hand-offs, 0.17 ms each, more than their execution).
 *  - Sequential scans off. A generic plan is made with the outbox's size and statistics of that moment and
 *    kept until the statistics change: made on a small outbox it scans the table, and it went on scanning while
 *    a backlog grew it: each DELETE read the whole backlog (1.3 ms per DELETE at ~5,000 rows instead of 0.05:
 *    draining a backlog went quadratic), and at 50 pairs the hand-off read the few hundred rows in flight
 *    (0.2 ms a run instead of 0.1). Without sequential scans the indexes remain; the statements are written so
 *    that the right one serves each part (the primary key the ids, the queue index the queues' order).
 *  - Statistics that fit (webhook_analyze_due). Statistics that say the outbox is empty (VACUUM of an empty
 *    outbox, a quiet hour) make every path look free, and the DELETE then took a whole scan of the queue index
 *    over the primary key's lookups (test_plans_indexed saw it). wagate analyzes the outbox itself when its
 *    backlog outgrows them, and the plans are made again.
 * Both are set local to the transaction (set_config's third argument): no other statement of the pool sees
 * either. One statement sets them, and synchronous_commit for the writes that need not wait for the disk
 * (webhook_flush_kind): each statement of a transaction costs the server a parse-bind-execute cycle, and these
 * transactions are most of wagate's (at 1 pair in bench/messages.sh, three SET LOCALs were half the
 * statements of a hand-off or DELETE). The results of the statement follow WEBHOOK_TX_SETS results of it.
 */
#define WEBHOOK_SETS_SQL "SELECT set_config('plan_cache_mode', $1, true), set_config('enable_seqscan', $2, true)"
const char webhook_tx_settings[] = WEBHOOK_SETS_SQL;
static const char webhook_tx_settings_async[] = WEBHOOK_SETS_SQL ", set_config('synchronous_commit', $3, true)";
const char *const webhook_tx_settings_params[3] = { "force_generic_plan", "off", "off" };

struct db_tx *
webhook_tx_indexed(int async_commit)
{
	struct db_tx *tx = db_tx_new();

	/* The values as parameters: a statement with parameters is prepared once per connection (db_conn.c),
	 * one without is parsed and planned at every run. */
	db_tx_add(tx, async_commit ? webhook_tx_settings_async : webhook_tx_settings, async_commit ? 3 : 2,
	    webhook_tx_settings_params);
	return tx;
}

/*
 * Delete the settled heads of one loop turn and, in the same statement, read each one's queue's next rows
 * (the new head and up to WEBHOOK_AHEAD - 1 behind it), with the claim's columns, whether each is due, and
 * last the deleted head's id: webhook_handoff starts each new head at once, without a claim round trip, and
 * keeps the others on it, so each of them starts the moment the one before it was delivered
 * (webhook_delivery_finish), while that one's DELETE runs beside it: a busy queue waits for its receiver
 * only, not for a statement per event. One queue has at most one head settling at a time, so the heads of
 * one statement are of different queues. The statement's snapshot still shows the deleted rows, hence
 * id > the head's. Per head: rows when it was deleted (one with the next row's columns all NULL when its
 * queue is now empty), none when it was already gone (the sweep): the claim finds the new head then.
 * "After the head" is written as a row comparison over the queue index's columns, which only that index can
 * serve: written as id > the head's, the primary key could serve it too (every later row of every queue,
 * filtered), and a plan made on a small outbox took that (webhook_tx_indexed). The equalities keep the scan
 * inside the head's queue: without them it read on into the next queues, past their deleted rows.
 */
const char webhook_delete_sql[] = "DELETE FROM webhook_outbox WHERE id = ANY($1::bigint[])";

const char webhook_handoff_sql[] =
    "WITH del AS (DELETE FROM webhook_outbox WHERE id = ANY($1::bigint[]) RETURNING id AS did, url, instance_id)"
    " SELECT n.*, del.did FROM del LEFT JOIN LATERAL (SELECT o.id, o.event, o.url, o.headers::text,"
    " o.body::text, o.attempts, floor(extract(epoch FROM now() - o.created_at))::bigint, o.instance_id::text,"
    " o.next_attempt_at <= now() FROM webhook_outbox o WHERE o.url = del.url"
    " AND " WEBHOOK_QKEY("o") " = " WEBHOOK_QKEY("del")
    " AND (o.url, " WEBHOOK_QKEY("o") ", o.id) > (del.url, " WEBHOOK_QKEY("del") ", del.did)"
    " ORDER BY o.url, " WEBHOOK_QKEY("o") ", o.id LIMIT " WEBHOOK_STR(WEBHOOK_AHEAD) ") n ON true"
    " ORDER BY del.did, n.id";

/*
 * Delivery order: the rows of one instance to one URL form a queue, delivered in outbox (id) order. Only a
 * queue's head (its lowest id) may be claimed; a failed head keeps its place and retries (backoff), and
 * every row behind it waits, so a later event never overtakes an earlier one (a receiver that saw the
 * backlog out of order took a stale connection.update for the instance's state). Other queues, to the
 * same URL too, are not held up, and a queue has at most one delivery in flight: its head is in $1 while
 * posted, so no other row of it is a head.
 *
 * The heads come from a loose index scan of webhook_outbox_queue_idx: one probe per queue, never the whole
 * backlog. Of the due heads, not in flight ($1) and not to busy or held URLs ($3), at most $4 per URL, $2
 * in all. Heads past max age are returned too and dropped unsent (webhook_delivery_start): skipping them
 * would let the rows behind go first. No lease is written: after a crash or restart every head is due at
 * once (at-least-once; receivers de-duplicate on the delivery id). Several supervisors sharing one outbox
 * would need a lease or per-instance ownership first (DESIGN.md, scale plan).
 *
 * Run on its generic plan with the queue index, as the hand-offs and DELETEs are (webhook_tx_indexed).
 */
const char webhook_claim_sql[] =
    "WITH RECURSIVE q AS ("
    "(SELECT o.url, " WEBHOOK_QKEY("o") " AS qkey, o.id, o.next_attempt_at FROM webhook_outbox o"
    " ORDER BY o.url, " WEBHOOK_QKEY("o") ", o.id LIMIT 1)"
    " UNION ALL SELECT n.url, n.qkey, n.id, n.next_attempt_at FROM q CROSS JOIN LATERAL"
    " (SELECT o.url, " WEBHOOK_QKEY("o") " AS qkey, o.id, o.next_attempt_at FROM webhook_outbox o"
    " WHERE (o.url, " WEBHOOK_QKEY("o") ") > (q.url, q.qkey)"
    " ORDER BY o.url, " WEBHOOK_QKEY("o") ", o.id LIMIT 1) n),"
    " due AS (SELECT id, next_attempt_at,"
    " row_number() OVER (PARTITION BY url ORDER BY next_attempt_at, id) AS rn FROM q"
    " WHERE next_attempt_at <= now() AND NOT (id = ANY($1::bigint[])) AND NOT (url = ANY($3::text[])))"
    " SELECT o.id, o.event, o.url, o.headers::text, o.body::text, o.attempts,"
    " floor(extract(epoch FROM now() - o.created_at))::bigint, o.instance_id::text"
    " FROM webhook_outbox o JOIN (SELECT id, next_attempt_at FROM due WHERE rn <= $4::int"
    " ORDER BY next_attempt_at, id LIMIT $2::int) h ON o.id = h.id"
    " ORDER BY h.next_attempt_at, h.id";

/*
 * The max-age sweep: rows created more than $1 seconds ago whose retry is due, not in flight ($2), deleted, with
 * what the log names. Read from the primary key's low end only: the oldest rows have the lowest ids (created_at
 * is the inserting transaction's start, so the two orders differ by at most a transaction's length), and the
 * walk stops at the first row young enough to keep. It was a filter over the whole table (a sequential scan
 * every WEBHOOK_SWEEP_EVERY ticks): ~1 s of PostgreSQL a minute with a million-row backlog, when a receiver is
 * down and the outbox is largest; now 0.1 ms. A row older than the cutoff behind a younger one waits for a
 * later sweep. Run with webhook_tx_indexed's settings.
 */
const char webhook_sweep_sql[] =
    "DELETE FROM webhook_outbox o WHERE o.id < coalesce((SELECT y.id FROM webhook_outbox y"
    " WHERE y.created_at >= now() - $1::bigint * interval '1 second' ORDER BY y.id LIMIT 1),"
    " 9223372036854775807)"
    " AND o.created_at < now() - $1::bigint * interval '1 second' AND o.next_attempt_at <= now()"
    " AND NOT (o.id = ANY($2::bigint[])) RETURNING o.id, o.event, o.url, o.attempts";

/*
 * The backlog, counted up to $1 rows (the cap plus one, to tell "more"), with what the statistics and the table's
 * size say for a larger one (webhook_backlog_estimate). A count(*) of the whole outbox every WEBHOOK_MAINT_MS read
 * all of it, and the outbox is largest exactly when a receiver is down: with 2 million rows (1.7 GB), 60-95 ms of
 * PostgreSQL every 2 s to feed a gauge, growing with the outage; counted to 100,001 rows, 6 ms.
 */
const char webhook_count_sql[] =
    "SELECT (SELECT count(*) FROM (SELECT 1 FROM webhook_outbox LIMIT $1::bigint) s), c.reltuples, c.relpages,"
    " pg_relation_size(c.oid) / current_setting('block_size')::int FROM pg_class c"
    " WHERE c.oid = 'webhook_outbox'::regclass";

/*
 * The backlog from webhook_count_sql's row: exact when counted is at most cap; above, the planner's own estimate
 * (the statistics' rows per page times the pages the table has now), never less than what was counted. Without
 * statistics (reltuples -1, or 0 pages) it is what was counted, cap + 1: a floor.
 */
long
webhook_backlog_estimate(long counted, long cap, double reltuples, double relpages, double pages)
{
	double est;

	if (counted <= cap || reltuples <= 0 || relpages <= 0 || pages <= 0)
		return counted;
	est = reltuples / relpages * pages;
	return est > (double)counted ? (est < (double)LONG_MAX / 2 ? (long)est : LONG_MAX / 2) : counted;
}

/*
 * Whether the outbox wants new statistics: its backlog has outgrown what they say (reltuples; -1 never
 * analyzed) by more than twice and is at least WEBHOOK_ANALYZE_MIN rows (below that every plan is cheap).
 * Autovacuum takes a minute or more to notice, and until then the generic plans of webhook_tx_indexed are
 * made on the old figures, at worst ones that say empty. Reading reltuples each time (with the count) covers
 * autovacuum's own resets and a start on stale statistics alike; a steady backlog analyzes nothing.
 */
int
webhook_analyze_due(long backlog, double reltuples)
{
	return backlog >= WEBHOOK_ANALYZE_MIN && (double)backlog > 2 * (reltuples > 0 ? reltuples : 0);
}

/* The claim's parameters: the rows in flight and the URLs it must skip. */

/* The ids of the rows in flight here, as a PostgreSQL bigint[] literal (malloc'd). */
char *
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

/* Append str to a PostgreSQL text[] literal being built in *buf (quoted, backslash-escaped). */
void
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

/* qsort's order of URL strings. */
static int
webhook_url_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Add to the claim's array the URLs whose POSTs in flight fill their share: whether there was one. Sorted, not
 * compared pairwise: a claim comes tens of times a second with up to 256 POSTs in flight.
 */
int
webhook_add_full_urls(struct webhook *w, char **urls, size_t *ulen, size_t *ucap)
{
	struct webhook_delivery *d;
	const char **v;
	size_t i, j, n = 0;
	int full = 0;

	if (w->nposting < w->per_url)
		return 0;
	v = xcalloc((size_t)w->nposting, sizeof(*v));
	TAILQ_FOREACH(d, &w->deliveries, entry)
		if (!d->posted && n < (size_t)w->nposting)
			v[n++] = d->url;
	qsort(v, n, sizeof(*v), webhook_url_cmp);
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && strcmp(v[j], v[i]) == 0; j++)
			;
		if (j - i >= (size_t)w->per_url) {
			webhook_array_add(urls, ulen, ucap, v[i]);
			full = 1;
		}
	}
	free(v);
	return full;
}
