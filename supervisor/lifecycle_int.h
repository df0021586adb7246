/* lifecycle's private parts, shared by lifecycle.c (instances: load, create, delete, settings), lifecycle_chain.c
 * (the per-instance write chains and the QR waits) and lifecycle_worker.c (worker events, recorded in the IPC
 * callback and handled on a later loop turn). Nothing outside these three files includes it. */
#ifndef WAGATE_LIFECYCLE_INT_H
#define WAGATE_LIFECYCLE_INT_H

#include "lifecycle.h"

#include <event2/util.h>
#include <sys/queue.h>

struct db_tx;
struct event;
struct lc_chain;
struct lc_wait;
struct lc_pending;

struct lifecycle {
	struct app *app;
	LIST_HEAD(, lc_chain) chains;		/* instances with writes queued or running */
	LIST_HEAD(, lc_wait) waits;		/* HTTP requests waiting for a QR */
	TAILQ_HEAD(, lc_pending) pending;	/* worker events not handled yet, in arrival order */
	unsigned npending;
	struct event *deferred;			/* handles pending on the loop turn after they arrived */
	unsigned njobs;				/* writes queued or running in every chain */
};

/* Now in microseconds since the epoch, and as a timestamptz literal for a statement: writes store the time the
 * registry keeps (not now()), so fetchInstances from memory shows what the row holds. */
int64_t lc_now_us(void);
void lc_ts_text(int64_t us, char *buf, size_t len);

/* Rebuild inst->fetch_json after any change of what fetchInstances shows of it (every writer of those fields
 * calls it once it is done). */
void lc_fetch_refresh(struct app *app, struct instance *inst);

/* Queue tx behind the earlier writes of instance_id and run it when they are done (same contract as
 * db_tx_run: cb exactly once, never from inside this call). No check that the instance may be written: the
 * public writers do that first. */
void lc_chain_push(struct lifecycle *lc, const char *instance_id, struct db_tx *tx,
    void (*cb)(void *arg, const struct db_result *r), void *arg);
/* Forget every chain; queued writes never run and their callbacks are not called (at exit). */
void lc_chain_free_all(struct lifecycle *lc);
/* End the waits of one instance (every instance when instance_id is NULL) on the next loop turn. */
void lc_wake(struct lifecycle *lc, const char *instance_id, enum lifecycle_wake why);
/* Drop every wait without calling back (at exit, after the HTTP server that held the callers). */
void lc_wait_free_all(struct lifecycle *lc);
/* Drop worker events that were never handled (at exit); answers nobody. */
void lc_pending_free_all(struct lifecycle *lc);
/* Handle the worker events recorded so far. The writers a route calls run this first, so an event that
 * arrived before the request (a StoreBatch before a logout) is queued before the request's write. Never from
 * inside a worker-table callback. */
void lc_pending_run(struct lifecycle *lc);
/* The deferred event's callback (lifecycle_worker.c). */
void lc_deferred_cb(evutil_socket_t fd, short what, void *arg);

#endif
