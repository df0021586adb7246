/* The per-instance write chains (every write of one instance commits in the order it was asked) and the QR
 * waits of HTTP requests (create with qrcode:true, connect). */
#include "lifecycle_int.h"
#include "app.h"
#include "db.h"
#include "log.h"
#include "registry.h"
#include "xmalloc.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

/* One write waiting for the earlier writes of its instance. */
struct lc_job {
	TAILQ_ENTRY(lc_job) entry;
	struct lc_chain *chain;
	struct db_tx *tx;
	db_cb cb;
	void *arg;
};

/* The writes of one instance, committed one after the other: two transactions of the same instance on two
 * pool connections could otherwise commit in either order (creds stored after the logout that voided them,
 * a settings row written after the delete that removed the instance). */
struct lc_chain {
	LIST_ENTRY(lc_chain) entry;
	struct lifecycle *lc;
	char *instance_id;
	TAILQ_HEAD(, lc_job) jobs;	/* the first one is running */
};

/* An HTTP request waiting for a QR. */
struct lc_wait {
	LIST_ENTRY(lc_wait) entry;
	struct lifecycle *lc;
	char *instance_id;
	struct event *timer;
	enum lifecycle_wake why;
	int woken;
	void (*cb)(void *, struct instance *, enum lifecycle_wake);
	void *arg;
};

static void lc_chain_next(struct lc_chain *ch);

/* A write of the chain finished: hand the result on, then start the next one. */
static void
lc_job_done_cb(void *arg, const struct db_result *r)
{
	struct lc_job *job = arg;
	struct lc_chain *ch = job->chain;

	TAILQ_REMOVE(&ch->jobs, job, entry);
	ch->lc->njobs--;
	if (job->cb != NULL)
		job->cb(job->arg, r);
	free(job);
	lc_chain_next(ch);
}

/* Start the first queued write, or drop the chain when none is left. */
static void
lc_chain_next(struct lc_chain *ch)
{
	struct lc_job *job = TAILQ_FIRST(&ch->jobs);

	if (job == NULL) {
		LIST_REMOVE(ch, entry);
		free(ch->instance_id);
		free(ch);
		return;
	}
	/* db_tx_run fails only on misuse (an empty tx): lc_chain_push never queues one. */
	if (db_tx_run(ch->lc->app->db, job->tx, lc_job_done_cb, job) == -1)
		fatalx("%s: db_tx_run refused a transaction", ch->instance_id);
}

/* Queue tx behind the writes of its instance (see struct lc_chain). */
void
lc_chain_push(struct lifecycle *lc, const char *instance_id, struct db_tx *tx,
    void (*cb)(void *arg, const struct db_result *r), void *arg)
{
	struct lc_chain *ch;
	struct lc_job *job;
	int idle;

	if (tx == NULL || db_tx_count(tx) == 0)
		fatalx("%s: an empty write", instance_id);
	LIST_FOREACH(ch, &lc->chains, entry)
		if (strcmp(ch->instance_id, instance_id) == 0)
			break;
	if (ch == NULL) {
		ch = xcalloc(1, sizeof(*ch));
		ch->lc = lc;
		ch->instance_id = xstrdup(instance_id);
		TAILQ_INIT(&ch->jobs);
		LIST_INSERT_HEAD(&lc->chains, ch, entry);
	}
	job = xcalloc(1, sizeof(*job));
	job->chain = ch;
	job->tx = tx;
	job->cb = cb;
	job->arg = arg;
	idle = TAILQ_EMPTY(&ch->jobs);
	TAILQ_INSERT_TAIL(&ch->jobs, job, entry);
	lc->njobs++;
	if (idle)
		lc_chain_next(ch);
}

/* Release every chain at exit. */
void
lc_chain_free_all(struct lifecycle *lc)
{
	struct lc_chain *ch;
	struct lc_job *job;

	while ((ch = LIST_FIRST(&lc->chains)) != NULL) {
		/* The first job's tx belongs to the (freed) pool now; the queued ones never ran. */
		if ((job = TAILQ_FIRST(&ch->jobs)) != NULL) {
			TAILQ_REMOVE(&ch->jobs, job, entry);
			free(job);
		}
		while ((job = TAILQ_FIRST(&ch->jobs)) != NULL) {
			TAILQ_REMOVE(&ch->jobs, job, entry);
			db_tx_free(job->tx);
			free(job);
		}
		LIST_REMOVE(ch, entry);
		free(ch->instance_id);
		free(ch);
	}
	lc->njobs = 0;
}

/* The wait ended (timer, or woken on the previous turn): tell the caller once and forget it. */
static void
lc_wait_fire_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lc_wait *wt = arg;
	struct app *app = wt->lc->app;
	struct instance *inst;

	(void)fd;
	(void)what;
	LIST_REMOVE(wt, entry);
	inst = registry_find_id(app->reg, wt->instance_id);
	if (inst != NULL && inst->deleting && wt->why != LIFECYCLE_WAKE_SHUTDOWN)
		inst = NULL;
	wt->cb(wt->arg, inst, wt->why);
	event_free(wt->timer);
	free(wt->instance_id);
	free(wt);
}

/* Register a QR wait; its timer doubles as the wake-up event. */
void
lifecycle_wait(struct app *app, const char *instance_id, int ms,
    void (*cb)(void *arg, struct instance *inst, enum lifecycle_wake why), void *arg)
{
	struct lifecycle *lc = app->lc;
	struct lc_wait *wt = xcalloc(1, sizeof(*wt));
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	wt->lc = lc;
	wt->instance_id = xstrdup(instance_id);
	wt->cb = cb;
	wt->arg = arg;
	wt->why = LIFECYCLE_WAKE_TIMEOUT;
	if ((wt->timer = evtimer_new(app->base, lc_wait_fire_cb, wt)) == NULL)
		fatalx("evtimer_new");
	LIST_INSERT_HEAD(&lc->waits, wt, entry);
	evtimer_add(wt->timer, &tv);
}

/* Wake the matching waits; each answers on the next loop turn. */
void
lc_wake(struct lifecycle *lc, const char *instance_id, enum lifecycle_wake why)
{
	struct lc_wait *wt;

	LIST_FOREACH(wt, &lc->waits, entry) {
		if (wt->woken || (instance_id != NULL && strcmp(wt->instance_id, instance_id) != 0))
			continue;
		wt->woken = 1;
		wt->why = why;
		/* Not from here: the caller may be deep in a database callback. */
		event_active(wt->timer, EV_TIMEOUT, 0);
	}
}

/* Answer every QR wait now. */
void
lifecycle_wait_shutdown(struct app *app)
{
	struct lc_wait *wt;

	if (app->lc == NULL)
		return;
	/* The HTTP server is freed right after this, so the answers go out now, not on a later turn. */
	while ((wt = LIST_FIRST(&app->lc->waits)) != NULL) {
		evtimer_del(wt->timer);
		wt->why = LIFECYCLE_WAKE_SHUTDOWN;
		lc_wait_fire_cb(-1, 0, wt);
	}
}

/* Release every wait without answering (its caller went with the HTTP server). */
void
lc_wait_free_all(struct lifecycle *lc)
{
	struct lc_wait *wt;

	while ((wt = LIST_FIRST(&lc->waits)) != NULL) {
		LIST_REMOVE(wt, entry);
		event_free(wt->timer);
		free(wt->instance_id);
		free(wt);
	}
}
