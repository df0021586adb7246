/* Webhook delivery: claim the due heads of the (instance, url) queues (per-URL shares), record each
 * outcome (delete, retry later with the common backoff, hold an unreachable receiver, drop), and the
 * periodic backlog count and max-age sweep. The POSTs themselves are webhook_curl.c's, the statements and how
 * they are planned webhook_sql.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "backoff.h"
#include "db.h"
#include "log.h"
#include "webhook_int.h"
#include "xmalloc.h"

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

/* Free a delivery's transfer and memory (not linked any more), and the rows read ahead of it. */
void
webhook_delivery_free(struct webhook_delivery *d)
{
	struct webhook_delivery *a;

	if (d == NULL)
		return;
	while ((a = d->ahead) != NULL) {
		d->ahead = a->ahead;
		a->ahead = NULL;
		webhook_delivery_free(a);
	}
	webhook_curl_stop(d);
	curl_slist_free_all(d->hdrs);
	free(d->instance_id);
	free(d->event);
	free(d->url);
	free(d->body);
	free(d);
}

/*
 * d's POST ended (or it will never be sent): its slot is free for another POST while its outcome is being
 * written. A slot is a connection to a receiver; the write waits for the database, and holding the slot
 * through it made a busy pool cap the deliveries (bench/messages.sh, 50 pairs: a URL's 64 slots were mostly
 * rows waiting for their DELETE). The row stays in w->deliveries until then, so no claim takes it again.
 */
static void
webhook_delivery_settle(struct webhook *w, struct webhook_delivery *d)
{
	if (!d->posted) {
		d->posted = 1;
		w->nposting--;
		if (w->again)
			webhook_kick(w);
	}
}

/* Whether another POST may start: a free slot, and at most as many rows again waiting for their write. */
static int
webhook_room(const struct webhook *w)
{
	int a = w->concurrency - w->nposting, b = 2 * w->concurrency - w->ndeliveries;

	return a < b ? a : b;
}

static int webhook_handoff(struct webhook *w, const PGresult *res, int first, int end);

/* The result of a delivery has been written (or not): forget the row and look for more work. */
static void
webhook_delivery_release(struct webhook *w, struct webhook_delivery *d)
{
	webhook_delivery_settle(w, d);
	TAILQ_REMOVE(&w->deliveries, d, entry);
	w->ndeliveries--;
	webhook_delivery_free(d);
	if (w->again)
		webhook_kick(w);
}

static void webhook_db_cb(void *arg, const struct db_result *r);
static void webhook_delivery_go(struct webhook *w, struct webhook_delivery *d);
static void webhook_note_handoff(struct webhook *w, long long id);

/* Forget every receiver hold. */
void
webhook_holds_clear(struct webhook *w)
{
	int i;

	for (i = 0; i < w->nholds; i++)
		free(w->holds[i].url);
	w->nholds = 0;
}

/* Drop hold i (order does not matter). */
static void
webhook_hold_remove(struct webhook *w, int i)
{
	free(w->holds[i].url);
	w->holds[i] = w->holds[--w->nholds];
}

/* The index of url's hold, or -1. */
static int
webhook_hold_find(struct webhook *w, const char *url)
{
	int i;

	for (i = 0; i < w->nholds; i++)
		if (strcmp(w->holds[i].url, url) == 0)
			return i;
	return -1;
}

/*
 * The receiver at url refused, timed out or asked us to back off: claim none of its queues' heads for
 * delay_ms (the failed row's own retry delay), so they do not each spend a slot and a timeout on it. Kept
 * in memory: after a restart every head is due anyway. Bounded: when full, the hold ending first goes.
 */
static void
webhook_hold_url(struct webhook *w, const char *url, long delay_ms)
{
	struct timeval now, tv;
	int i, j;

	event_base_gettimeofday_cached(w->base, &now);
	tv.tv_sec = delay_ms / 1000;
	tv.tv_usec = (delay_ms % 1000) * 1000;
	if ((i = webhook_hold_find(w, url)) == -1) {
		if (w->nholds == WEBHOOK_HOLDS_MAX) {
			for (i = 0, j = 1; j < w->nholds; j++)
				if (timercmp(&w->holds[j].until, &w->holds[i].until, <))
					i = j;
			webhook_hold_remove(w, i);
		}
		i = w->nholds++;
		w->holds[i].url = xstrdup(url);
	}
	/* The latest failure says the most about the receiver now. */
	timeradd(&now, &tv, &w->holds[i].until);
}

/* The receiver at url answered: it is reachable again. */
static void
webhook_hold_clear_url(struct webhook *w, const char *url)
{
	int i;

	if ((i = webhook_hold_find(w, url)) != -1)
		webhook_hold_remove(w, i);
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
		webhook_hold_url(w, d->url, delay_ms);
	if (!d->plain_delete) {
		/* The hand-off (or the claim, after a failure) reads the queue again: what was read ahead goes. */
		struct webhook_delivery *a;

		while ((a = d->ahead) != NULL) {
			d->ahead = a->ahead;
			a->ahead = NULL;
			webhook_delivery_free(a);
		}
	}
	if (delete) {
		/* With the other rows settled this turn: one statement and one commit for all of them. */
		if (d->plain_delete) {
			d->del_queued = 1;
			w->ndel_queued++;
		} else {
			d->hand_queued = 1;
			w->nhand_queued++;
		}
		event_active(w->del_ev, EV_TIMEOUT, 0);
		return;
	}
	op = webhook_op_new(w, WEBHOOK_OP_RESULT);
	op->d = d;
	rc = db_query(w->db, DB_UNPREPARED "UPDATE webhook_outbox SET attempts = attempts + 1,"
	    " last_error = left($2, 1000), next_attempt_at = now() + $3::bigint * interval '1 millisecond'"
	    " WHERE id = $1::bigint", 3, params, webhook_db_cb, op);
	if (rc == -1) {
		/* The row stays as it was and is retried by the next claim. */
		TAILQ_REMOVE(&w->ops, op, entry);
		free(op);
		webhook_delivery_release(w, d);
	}
}

/* A POST ended: decide between done, retry later, and drop. */
void
webhook_delivery_finish(struct webhook *w, struct webhook_delivery *d, CURLcode res, long code)
{
	char error[WEBHOOK_MAX_ERROR_LEN];
	struct webhook_delivery *next;
	int attempts = d->attempts + 1;
	long delay;

	webhook_delivery_settle(w, d);
	if (res == CURLE_OK && code >= 200 && code <= 299) {
		w->delivered++;
		w->db_down_logged = 0;
		webhook_hold_clear_url(w, d->url);
		log_debug("delivered %s #%lld to %s (HTTP %ld, attempt %d)", d->event, d->id, d->url,
		    code, attempts);
		if ((next = d->ahead) != NULL && w->db != NULL) {
			/* Its queue's next row goes now; this one's DELETE runs beside it. */
			d->ahead = NULL;
			d->plain_delete = 1;
			webhook_delivery_record(w, d, 1, NULL, 0, 0);
			webhook_note_handoff(w, next->id);
			webhook_delivery_go(w, next);
			return;
		}
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
	/* d->attempts failures before this one: the first retry is failure 0 of the common rule. */
	delay = (long)backoff_ms((unsigned)d->attempts, (unsigned)w->retry_min_ms, (unsigned)w->retry_max_ms);
	log_debug("%s #%lld to %s failed (attempt %d): %s; retry in %ld ms", d->event, d->id, d->url,
	    attempts, error, delay);
	/*
	 * Network errors, timeouts, 429 and the gateway answers (502-504) say the receiver is unwell, not this
	 * one event: hold its other queues too. Any other error answer came fast and may be about this event
	 * alone (a receiver failing on one payload): only this queue waits, the instances beside it go on.
	 */
	webhook_delivery_record(w, d, 0, error, delay, res != CURLE_OK || code == 429 ||
	    (code >= 502 && code <= 504));
	webhook_wake_after(w, delay);
}

/* A delivery of row of a claim's or hand-off's answer, not started. */
static struct webhook_delivery *
webhook_delivery_new(struct webhook *w, const PGresult *res, int row)
{
	struct webhook_delivery *d = xcalloc(1, sizeof(*d));

	d->w = w;
	d->id = strtoll(PQgetvalue(res, row, 0), NULL, 10);
	d->event = xstrdup(PQgetvalue(res, row, 1));
	d->url = xstrdup(PQgetvalue(res, row, 2));
	d->body = xstrdup(PQgetvalue(res, row, 4));
	d->attempts = atoi(PQgetvalue(res, row, 5));
	d->age_s = strtol(PQgetvalue(res, row, 6), NULL, 10);
	d->instance_id = PQgetisnull(res, row, 7) ? NULL : xstrdup(PQgetvalue(res, row, 7));
	d->hdrs = webhook_curl_headers(d, PQgetisnull(res, row, 3) ? NULL : PQgetvalue(res, row, 3));
	return d;
}

/* Start the POST of d, or drop it unsent when it is past max age. */
static void
webhook_delivery_go(struct webhook *w, struct webhook_delivery *d)
{
	if (w->stopping) {	/* left in the table for the next start (webhook_stop) */
		webhook_delivery_free(d);
		return;
	}
	TAILQ_INSERT_TAIL(&w->deliveries, d, entry);
	w->ndeliveries++;
	w->nposting++;

	/* Expired before its turn came (its queue was blocked): never sent, and the queue moves on once the
	 * row is gone, which keeps the rows after it in order. */
	if (d->age_s >= w->max_age_s) {
		d->expired = 1;
		webhook_delivery_settle(w, d);
		webhook_delivery_record(w, d, 1, NULL, 0, 0);
		return;
	}
	if (webhook_curl_start(w, d) == -1)
		webhook_delivery_finish(w, d, CURLE_FAILED_INIT, 0);
}

/* Start the POST for one claimed row, or drop it unsent when it is past max age. */
static void
webhook_delivery_start(struct webhook *w, const PGresult *res, int row)
{
	webhook_delivery_go(w, webhook_delivery_new(w, res, row));
}

/* Row id of a queue starts outside a claim: a claim on its way may have seen it as its queue's head and must
 * not start it again (webhook_claim_done). */
static void
webhook_note_handoff(struct webhook *w, long long id)
{
	if (!w->claiming)
		return;
	if (w->nhandoffs < WEBHOOK_HANDOFFS_MAX)
		w->handoffs[w->nhandoffs] = id;
	if (w->nhandoffs <= WEBHOOK_HANDOFFS_MAX)
		w->nhandoffs++;
}

/* Whether a row of d's queue other than d is being posted: the claim never returns one (its head is in
 * flight), but a head deleted meanwhile (max-age sweep) would make the next row look like a head. */
static int
webhook_queue_posting(struct webhook *w, const char *instance_id, const char *url)
{
	struct webhook_delivery *d;

	TAILQ_FOREACH(d, &w->deliveries, entry)
		if (!d->posted && strcmp(d->url, url) == 0 && ((d->instance_id == NULL && instance_id == NULL) ||
		    (d->instance_id != NULL && instance_id != NULL && strcmp(d->instance_id, instance_id) == 0)))
			return 1;
	return 0;
}

/* POSTs in flight to url. */
static int
webhook_url_busy(struct webhook *w, const char *url)
{
	struct webhook_delivery *d;
	int n = 0;

	TAILQ_FOREACH(d, &w->deliveries, entry)
		if (!d->posted && strcmp(d->url, url) == 0)
			n++;
	return n;
}

/* Ask the database for due rows, up to the free delivery slots. */
void
webhook_claim(struct webhook *w)
{
	struct webhook_op *op;
	struct db_tx *tx;
	struct timeval now;
	char *ids, *urls, limit[16], per_url[16];
	const char *params[4];
	size_t ulen = 1, ucap = 64;
	int i, room, capped;

	if (w->db == NULL || w->stopping)
		return;
	if (w->claiming) {
		w->kick_pending = 1;
		return;
	}
	if ((room = webhook_room(w)) <= 0) {
		w->again = 1;
		return;
	}
	w->again = 0;
	ids = webhook_inflight_ids(w);
	urls = xmalloc(ucap);
	strcpy(urls, "{");
	capped = webhook_add_full_urls(w, &urls, &ulen, &ucap);
	/* Held receivers wait for their time (the wake timer is set for it); ended holds go. */
	event_base_gettimeofday_cached(w->base, &now);
	for (i = 0; i < w->nholds; ) {
		if (!timercmp(&w->holds[i].until, &now, >)) {
			webhook_hold_remove(w, i);
			continue;
		}
		webhook_array_add(&urls, &ulen, &ucap, w->holds[i].url);
		i++;
	}
	urls = xreallocarray(urls, ulen + 2, 1);
	urls[ulen++] = '}';
	urls[ulen] = '\0';
	snprintf(limit, sizeof(limit), "%d", room);
	snprintf(per_url, sizeof(per_url), "%d", w->per_url);
	params[0] = ids;
	params[1] = limit;
	params[2] = urls;
	params[3] = per_url;
	op = webhook_op_new(w, WEBHOOK_OP_CLAIM);
	op->limit = room;
	op->capped = capped;
	w->claiming = 1;
	tx = webhook_tx_indexed(0);
	db_tx_add(tx, webhook_claim_sql, 4, params);
	if (db_tx_run(w->db, tx, webhook_db_cb, op) == -1) {
		TAILQ_REMOVE(&w->ops, op, entry);
		free(op);
		w->claiming = 0;
	}
	free(ids);
	free(urls);
}

/* One statement for the deliveries queued this turn as kind (DELETE: plain deletes, HANDOFF: hand-offs). */
static void
webhook_flush_kind(struct webhook *w, enum webhook_op_kind kind, int queued)
{
	struct webhook_delivery *d;
	struct webhook_op *op;
	struct db_tx *tx;
	const char *params[1];
	size_t cap;
	char *ids, *p;
	int i, n = 0, *flag;

	op = webhook_op_new(w, kind);
	op->ds = xcalloc((size_t)queued, sizeof(*op->ds));
	cap = 3 + (size_t)queued * 22;
	ids = p = xmalloc(cap);
	*p++ = '{';
	TAILQ_FOREACH(d, &w->deliveries, entry) {
		flag = kind == WEBHOOK_OP_DELETE ? &d->del_queued : &d->hand_queued;
		if (!*flag || n == queued)
			continue;
		*flag = 0;
		p += snprintf(p, cap - (size_t)(p - ids), "%s%lld", n > 0 ? "," : "", d->id);
		op->ds[n++] = d;
	}
	*p++ = '}';
	*p = '\0';
	op->nds = n;
	params[0] = ids;
	/*
	 * Its COMMIT need not wait for the WAL flush: a DELETE of delivered rows that a crash loses only posts
	 * them again (at least once; receivers de-duplicate on the delivery id), so nothing waits for the disk.
	 * With fsync on, one queue's hand-offs otherwise follow each other at the disk's pace.
	 */
	tx = webhook_tx_indexed(1);
	db_tx_add(tx, kind == WEBHOOK_OP_DELETE ? webhook_delete_sql : webhook_handoff_sql, 1, params);
	if (db_tx_run(w->db, tx, webhook_db_cb, op) == -1) {
		/* The rows stay and are posted again later (at least once), as after a failed DELETE. */
		if (kind == WEBHOOK_OP_DELETE)
			w->del_running = 0;
		TAILQ_REMOVE(&w->ops, op, entry);
		for (i = 0; i < op->nds; i++)
			webhook_delivery_release(w, op->ds[i]);
		free(op->ds);
		free(op);
	}
	free(ids);
}

/* The plain DELETEs and hand-offs queued; now: the plain DELETEs go at once, whatever is in flight (a stop). */
static void
webhook_deletes_go(struct webhook *w, int now)
{
	int n;

	if (w->db == NULL)
		return;
	/*
	 * One plain DELETE at a time: the rows delivered while it runs wait for it and go together in the next.
	 * A busy queue delivers its rows one after another, a few per DELETE's round trip; flushed every turn,
	 * each row took a transaction of its own (bench/messages.sh, 1 pair: 9,458 DELETEs for 10,437 rows,
	 * nine tenths of all the transactions wagate ran). A row waiting here only holds a delivery slot's
	 * second half (webhook_room), never its queue: the next row is already being posted.
	 * One at a time still made a DELETE per 2.5 rows (4,086 transactions for 3,000 texts at 1 pair, most of
	 * PostgreSQL's), so the rows also wait for a window of del_wait_ms from the first one queued, until
	 * del_batch of them are, or until a queue runs dry (webhook_handoffs_done: a row waiting here is its
	 * queue's head for the claim, which skips the queue while the row is in flight, so the queue's next rows
	 * would wait for the window). A crash in the window posts them again, as at least once allows.
	 */
	now = now || w->stopping;
	if ((n = w->ndel_queued) > 0 && (now || !w->del_running)) {
		if (!now && !w->del_due && n < w->del_batch) {
			/* The window opens with the first row queued and does not move with the later ones. */
			if (!evtimer_pending(w->del_timer, NULL)) {
				struct timeval tv = { w->del_wait_ms / 1000, (w->del_wait_ms % 1000) * 1000 };

				evtimer_add(w->del_timer, &tv);
			}
		} else {
			evtimer_del(w->del_timer);
			w->del_due = 0;
			w->ndel_queued = 0;
			w->del_running = 1;
			w->ndel_stmts++;
			webhook_flush_kind(w, WEBHOOK_OP_DELETE, n);
		}
	}
	if ((n = w->nhand_queued) > 0) {
		w->nhand_queued = 0;
		webhook_flush_kind(w, WEBHOOK_OP_HANDOFF, n);
	}
}

void
webhook_flush_deletes(struct webhook *w)
{
	webhook_deletes_go(w, 0);
}

void
webhook_deletes_due(struct webhook *w)
{
	w->del_due = 1;
	webhook_deletes_go(w, 0);
}

void
webhook_flush(struct webhook *w)
{
	if (w != NULL)
		webhook_deletes_go(w, 1);
}

/* The hand-offs of one turn are written (or not): per head, count an expired one's drop, forget it, then
 * start its queue's next rows (the result is ordered by head id; the heads are in start order). */
static void
webhook_handoffs_done(struct webhook *w, struct webhook_op *op, const struct db_result *r)
{
	const PGresult *res = NULL;
	struct webhook_delivery *d;
	long long *dids = NULL;
	int i, lo, hi, mid, first, end, n = 0, dry = 0;

	if (r->err != NULL)
		webhook_db_error(w, "record results", r);
	else if (r->nres > WEBHOOK_TX_SETS && PQnfields(r->res[WEBHOOK_TX_SETS]) > WEBHOOK_HANDOFF_DID)
		res = r->res[WEBHOOK_TX_SETS];
	if (res != NULL && (n = PQntuples(res)) > 0) {
		dids = xcalloc((size_t)n, sizeof(*dids));
		for (i = 0; i < n; i++)
			dids[i] = strtoll(PQgetvalue(res, i, WEBHOOK_HANDOFF_DID), NULL, 10);
	}
	for (i = 0; i < op->nds; i++) {
		d = op->ds[i];
		/* The first row of its head, then the end of its rows. */
		for (lo = 0, hi = n; lo < hi; ) {
			mid = lo + (hi - lo) / 2;
			if (dids[mid] < d->id)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (first = end = lo; end < n && dids[end] == d->id; end++)
			;
		/* Counted here, once: the sweep may have deleted the same row meanwhile (then no row). */
		if (d->expired && end > first) {
			w->dropped++;
			log_warnx("dropping %s #%lld to %s after %d attempts: older than %d s", d->event, d->id, d->url,
			    d->attempts, w->max_age_s);
		}
		webhook_delivery_release(w, d);
		if (!webhook_handoff(w, res, first, end))
			dry = 1;
	}
	free(dids);
	free(op->ds);
	/* A queue that did not go on here is left to the claim, which skips it while a row of it waits for its
	 * plain DELETE: those go now. */
	if (dry && w->ndel_queued > 0)
		webhook_deletes_due(w);
}

/* ANALYZE webhook_outbox (webhook_analyze_due) or VACUUM it (webhook_maint_cb); neither takes a lock that the
 * outbox's writers wait for, and the VACUUM skips its turn while another holds the table (autovacuum). */
void
webhook_utility(struct webhook *w, enum webhook_op_kind kind)
{
	struct webhook_op *op = webhook_op_new(w, kind);
	int *busy = kind == WEBHOOK_OP_ANALYZE ? &w->analyzing : &w->vacuuming;

	*busy = 1;
	if (db_query(w->db, kind == WEBHOOK_OP_ANALYZE ? "ANALYZE webhook_outbox" :
	    "VACUUM (SKIP_LOCKED, TRUNCATE false) webhook_outbox", 0, NULL, webhook_db_cb, op) == -1) {
		TAILQ_REMOVE(&w->ops, op, entry);
		free(op);
		*busy = 0;
	}
}

/* Count the backlog and, now and then, drop rows past max age. */
void
webhook_maint(struct webhook *w)
{
	struct webhook_op *op;
	struct db_tx *tx;
	char age[32], limit[32], *ids;
	const char *params[2];

	if (w->db == NULL || w->stopping)
		return;
	if (!w->counting) {
		snprintf(limit, sizeof(limit), "%ld", w->count_cap + 1);
		params[0] = limit;
		op = webhook_op_new(w, WEBHOOK_OP_COUNT);
		w->counting = 1;
		if (db_query(w->db, webhook_count_sql, 1, params, webhook_db_cb, op) == -1) {
			TAILQ_REMOVE(&w->ops, op, entry);
			free(op);
			w->counting = 0;
		}
	}
	if (!w->sweeping && w->maint_ticks++ % WEBHOOK_SWEEP_EVERY == 0) {
		snprintf(age, sizeof(age), "%d", w->max_age_s);
		ids = webhook_inflight_ids(w);
		params[0] = age;
		params[1] = ids;
		op = webhook_op_new(w, WEBHOOK_OP_SWEEP);
		w->sweeping = 1;
		/*
		 * Rows whose retry is already scheduled are judged when they are claimed again; rows being posted
		 * by their outcome. Dropping an old row never reorders a queue: it is older than every row behind
		 * it, and an expired row is never sent, by the sweep or by the claim.
		 */
		tx = webhook_tx_indexed(0);
		db_tx_add(tx, webhook_sweep_sql, 2, params);
		if (db_tx_run(w->db, tx, webhook_db_cb, op) == -1) {
			TAILQ_REMOVE(&w->ops, op, entry);
			free(op);
			w->sweeping = 0;
		}
		free(ids);
	}
}

/*
 * A head was deleted and rows first..end-1 of res are its queue's next rows, if any: start the first now when
 * it is due and a slot, its URL's share and its queue are free (a claim may have started it meanwhile); else
 * let a claim look. Whether the next row started here.
 */
static int
webhook_handoff(struct webhook *w, const PGresult *res, int first, int end)
{
	struct webhook_delivery *d, **tail;
	struct timeval now;
	long long id;
	int i;

	if (first >= end || PQgetisnull(res, first, 0))
		return 0;
	if (strcmp(PQgetvalue(res, first, 8), "t") != 0)
		return 0;	/* only rows written before this rule (held then) wait: the poll finds them */
	id = strtoll(PQgetvalue(res, first, 0), NULL, 10);
	TAILQ_FOREACH(d, &w->deliveries, entry)
		if (d->id == id)
			return 1;	/* a claim started it */
	event_base_gettimeofday_cached(w->base, &now);
	i = webhook_hold_find(w, PQgetvalue(res, first, 2));
	if (webhook_room(w) <= 0 || webhook_url_busy(w, PQgetvalue(res, first, 2)) >= w->per_url ||
	    (i != -1 && timercmp(&w->holds[i].until, &now, >)) ||
	    webhook_queue_posting(w, PQgetisnull(res, first, 7) ? NULL : PQgetvalue(res, first, 7),
	    PQgetvalue(res, first, 2))) {
		w->again = 1;
		webhook_kick(w);
		return 0;
	}
	webhook_note_handoff(w, id);
	d = webhook_delivery_new(w, res, first);
	/* The due rows behind it, in order: each starts when the one before it was delivered. */
	tail = &d->ahead;
	for (i = first + 1; i < end && !PQgetisnull(res, i, 0) && strcmp(PQgetvalue(res, i, 8), "t") == 0; i++) {
		*tail = webhook_delivery_new(w, res, i);
		tail = &(*tail)->ahead;
	}
	webhook_delivery_go(w, d);
	return 1;
}

/* Whether row id is one of the first n handed off while the claim ran (the claim saw it as a head: stale). */
static int
webhook_handed_off(struct webhook *w, int n, long long id)
{
	int i;

	for (i = 0; i < n; i++)
		if (w->handoffs[i] == id)
			return 1;
	return 0;
}

/* Rows came back from a claim: start them. */
static void
webhook_claim_done(struct webhook *w, struct webhook_op *op, const struct db_result *r)
{
	const PGresult *res;
	int i, n, handoffs;

	w->claiming = 0;
	handoffs = w->nhandoffs;
	w->nhandoffs = 0;
	if (r->err != NULL || r->nres < 1) {
		webhook_db_error(w, "claim", r);
		return;
	}
	if (handoffs > WEBHOOK_HANDOFFS_MAX) {
		/* Too many to check: the rows may be stale, ask again. */
		w->again = 1;
		webhook_kick(w);
		return;
	}
	if (w->db_down_logged)
		log_info("database reachable again");
	w->db_down_logged = 0;
	res = r->res[r->nres - 1];
	n = PQntuples(res);
	if (PQnfields(res) < 8)
		return;
	for (i = 0; i < n; i++) {
		if (webhook_handed_off(w, handoffs, strtoll(PQgetvalue(res, i, 0), NULL, 10)))
			continue;
		if (webhook_queue_posting(w, PQgetisnull(res, i, 7) ? NULL : PQgetvalue(res, i, 7),
		    PQgetvalue(res, i, 2))) {
			op->capped = 1;	/* its turn comes when the POST in flight ends */
			continue;
		}
		webhook_delivery_start(w, res, i);
		/* A URL that reached its share may have more due rows: look again when a slot frees. */
		if (webhook_url_busy(w, PQgetvalue(res, i, 2)) >= w->per_url)
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
	double reltuples;
	int i;

	if (w == NULL) {
		/* The webhook was freed; whatever this was, the table still says what to do. */
		free(op->ds);
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
	case WEBHOOK_OP_HANDOFF:
		webhook_handoffs_done(w, op, r);
		break;
	case WEBHOOK_OP_DELETE:
		w->del_running = 0;
		if (r->err != NULL)
			webhook_db_error(w, "record results", r);
		for (i = 0; i < op->nds; i++)
			webhook_delivery_release(w, op->ds[i]);
		free(op->ds);
		if (w->ndel_queued > 0)
			event_active(w->del_ev, EV_TIMEOUT, 0);
		/* A claim that ran meanwhile skipped the queues these rows were heads of. */
		webhook_kick(w);
		break;
	case WEBHOOK_OP_COUNT:
		w->counting = 0;
		if (r->err == NULL && r->nres >= 1 && PQntuples(r->res[0]) == 1 && PQnfields(r->res[0]) == 4) {
			res = r->res[0];
			reltuples = strtod(PQgetvalue(res, 0, 1), NULL);
			w->backlog = webhook_backlog_estimate(strtol(PQgetvalue(res, 0, 0), NULL, 10), w->count_cap,
			    reltuples, strtod(PQgetvalue(res, 0, 2), NULL), strtod(PQgetvalue(res, 0, 3), NULL));
			if (!w->analyzing && webhook_analyze_due(w->backlog, reltuples))
				webhook_utility(w, WEBHOOK_OP_ANALYZE);
		}
		break;
	case WEBHOOK_OP_ANALYZE:
	case WEBHOOK_OP_VACUUM:
		*(op->kind == WEBHOOK_OP_ANALYZE ? &w->analyzing : &w->vacuuming) = 0;
		if (r->err != NULL)
			webhook_db_error(w, op->kind == WEBHOOK_OP_ANALYZE ? "analyze" : "vacuum", r);
		break;
	case WEBHOOK_OP_SWEEP:
		w->sweeping = 0;
		if (r->err != NULL || r->nres <= WEBHOOK_TX_SETS) {
			webhook_db_error(w, "sweep", r);
			break;
		}
		res = r->res[WEBHOOK_TX_SETS];
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
