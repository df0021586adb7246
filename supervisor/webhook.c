/* Webhook outbox: the delivery loop's life (new/free, poll, kick, wake-up and maintenance timers) and its
 * metrics. Events are enqueued in webhook_event.c, claimed and settled in webhook_deliver.c, and POSTed by
 * webhook_curl.c. */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "webhook_int.h"
#include "xmalloc.h"

/* Arm the one-shot wake timer to fire in ms unless it is already due sooner. */
void
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
	struct webhook *w = arg;
	unsigned long gone = w->delivered + w->dropped;

	webhook_maint(w);
	/*
	 * Every delivered row is deleted, and until a VACUUM its dead index entries stay where the claim and the
	 * hand-off look for each queue's head. Autovacuum comes a minute apart at best (autovacuum_naptime): at one
	 * busy pair (8,000 rows/s), claims read 278 buffers each and hand-offs 183, 15 % of PostgreSQL's time in a
	 * 20,000-text run; with a VACUUM every 10,000 rows gone (16 ms each), 80 and 50 (bench/messages.sh).
	 */
	if (w->db != NULL && !w->vacuuming && gone - w->vacuum_mark >= w->vacuum_rows) {
		w->vacuum_mark = gone;
		w->nvacuums++;
		webhook_utility(w, WEBHOOK_OP_VACUUM);
	}
}

/* The plain DELETEs queued during the last turn go now, together. */
static void
webhook_del_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	webhook_flush_deletes(arg);
}

/* The plain DELETEs' window is over: the rows queued go as soon as no DELETE is in flight. */
static void
webhook_del_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	webhook_deletes_due(arg);
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
	char err[256];

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
	w->concurrency = cfg->concurrency > 0 ? cfg->concurrency : 256;
	/* One URL's share of the slots. Every instance's queue to a URL has at most one POST in flight, so with
	 * one receiver for all instances (the global webhook) this share is the whole parallelism: at 4, a
	 * hundred busy instances waited behind four POSTs (bench/messages.sh, 50 pairs: row -> webhook 7 s).
	 * Half the slots keep the other half for the other receivers while a slow one fills its share. */
	w->per_url = w->concurrency / 2 > WEBHOOK_PER_URL ? w->concurrency / 2 : WEBHOOK_PER_URL;
	w->request_timeout_ms = cfg->request_timeout_ms > 0 ? cfg->request_timeout_ms : 15000;
	w->backlog = -1;
	w->count_cap = WEBHOOK_COUNT_CAP;
	TAILQ_INIT(&w->deliveries);
	TAILQ_INIT(&w->ops);
	LIST_INIT(&w->socks);

	if (webhook_curl_init(w, err, sizeof(err)) == -1)
		fatalx("%s", err);
	webhook_http_init(w, cfg->libcurl_only);
	w->poll_timer = event_new(base, -1, EV_PERSIST, webhook_poll_cb, w);
	w->kick_ev = evtimer_new(base, webhook_poll_cb, w);
	w->wake_timer = evtimer_new(base, webhook_poll_cb, w);
	w->maint_timer = event_new(base, -1, EV_PERSIST, webhook_maint_cb, w);
	w->del_ev = event_new(base, -1, 0, webhook_del_cb, w);
	w->del_timer = evtimer_new(base, webhook_del_timer_cb, w);
	w->del_wait_ms = WEBHOOK_DEL_WAIT_MS;
	w->vacuum_rows = WEBHOOK_VACUUM_ROWS;
	w->http_idle_ms = WEBHOOK_HTTP_IDLE_MS;
	/* Half the room for rows being written, so the window never holds back a POST (webhook_room). */
	w->del_batch = w->concurrency / 2 > 0 ? w->concurrency / 2 : 1;
	if (w->poll_timer == NULL || w->kick_ev == NULL || w->wake_timer == NULL || w->maint_timer == NULL ||
	    w->del_ev == NULL || w->del_timer == NULL)
		fatalx("event_new failed");
	if (db != NULL) {
		evtimer_add(w->poll_timer, &poll);
		evtimer_add(w->maint_timer, &maint);
		webhook_kick(w);
		webhook_maint(w);
	}
	return w;
}

void
webhook_stop(struct webhook *w)
{
	if (w == NULL)
		return;
	w->stopping = 1;
	evtimer_del(w->poll_timer);
	evtimer_del(w->maint_timer);
	webhook_flush(w);
}

int
webhook_busy(const struct webhook *w)
{
	return w != NULL && (!TAILQ_EMPTY(&w->deliveries) || w->ndel_queued > 0 || w->nhand_queued > 0);
}

/* Stop the loop; rows being posted stay in the table and are posted again by the next loop. */
void
webhook_free(struct webhook *w)
{
	struct webhook_delivery *d;
	struct webhook_op *op;

	if (w == NULL)
		return;
	webhook_flush(w);
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
	webhook_holds_clear(w);
	webhook_http_free(w);
	webhook_curl_cleanup(w);
	event_free(w->poll_timer);
	event_free(w->kick_ev);
	event_free(w->wake_timer);
	event_free(w->maint_timer);
	event_free(w->del_ev);
	event_free(w->del_timer);
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

