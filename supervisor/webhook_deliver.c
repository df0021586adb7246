/* Webhook delivery: claim due rows (per-URL ordering and shares), record each outcome (delete, retry later
 * with the common backoff, hold the receiver's other rows, drop), and the periodic backlog count and
 * max-age sweep. The POSTs themselves are webhook_curl.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Free a delivery's transfer and memory (not linked any more). */
void
webhook_delivery_free(struct webhook_delivery *d)
{
	if (d == NULL)
		return;
	webhook_curl_stop(d);
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
void
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
	/* d->attempts failures before this one: the first retry is failure 0 of the common rule. */
	delay = (long)backoff_ms((unsigned)d->attempts, (unsigned)w->retry_min_ms, (unsigned)w->retry_max_ms);
	log_debug("%s #%lld to %s failed (attempt %d): %s; retry in %ld ms", d->event, d->id, d->url,
	    attempts, error, delay);
	/* Network errors, timeouts, 5xx and 429 say the receiver is unwell, not this one event. */
	webhook_delivery_record(w, d, 0, error, delay, res != CURLE_OK || code >= 500 || code == 429);
	webhook_wake_after(w, delay);
}

/* Start the POST for one claimed row. */
static void
webhook_delivery_start(struct webhook *w, const PGresult *res, int row)
{
	struct webhook_delivery *d = xcalloc(1, sizeof(*d));

	d->w = w;
	d->id = strtoll(PQgetvalue(res, row, 0), NULL, 10);
	d->event = xstrdup(PQgetvalue(res, row, 1));
	d->url = xstrdup(PQgetvalue(res, row, 2));
	d->body = xstrdup(PQgetvalue(res, row, 4));
	d->attempts = atoi(PQgetvalue(res, row, 5));
	d->age_s = strtol(PQgetvalue(res, row, 6), NULL, 10);
	d->hdrs = webhook_curl_headers(d, PQgetisnull(res, row, 3) ? NULL : PQgetvalue(res, row, 3));
	TAILQ_INSERT_TAIL(&w->deliveries, d, entry);
	w->ndeliveries++;

	if (webhook_curl_start(w, d) == -1)
		webhook_delivery_finish(w, d, CURLE_FAILED_INIT, 0);
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
void
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
void
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
