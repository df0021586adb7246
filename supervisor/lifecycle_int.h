/* lifecycle's private parts, shared by lifecycle.c (instances: load, create, delete, settings), lifecycle_chain.c
 * (the per-instance write chains and the QR waits) and lifecycle_worker.c (worker events, recorded in the IPC
 * callback and handled on a later loop turn), plus lifecycle_msg.c (the messaging requests, queued with the worker
 * events through lc_pending_call). Nothing else includes it but lifecycle_test.c (the chain's outage paths) and
 * lifecycle_msg_test.c. */
#ifndef WAGATE_LIFECYCLE_INT_H
#define WAGATE_LIFECYCLE_INT_H

#include "lifecycle.h"

#include <event2/util.h>
#include <sys/queue.h>

struct db_tx;
struct workers_sig_change;
struct event;
struct lc_chain;
struct lc_wait;
struct lc_pending;
struct lc_job;

struct lifecycle {
	struct app *app;
	LIST_HEAD(, lc_chain) chains;		/* instances with writes queued or running */
	LIST_HEAD(, lc_wait) waits;		/* HTTP requests waiting for a QR */
	TAILQ_HEAD(lc_pending_head, lc_pending) pending;	/* worker events not handled yet, in arrival order */
	unsigned npending;
	struct event *deferred;			/* handles pending on the loop turn after they arrived */
	unsigned njobs;				/* writes queued or running in every chain */
	/* Pending writes through a database outage (lifecycle_chain.c). */
	TAILQ_HEAD(, lc_job) failed;		/* LC_WRITE_ONCE jobs failed by an outage, answered from fail_ev */
	struct event *fail_ev;
	unsigned nfailed;			/* on failed, not answered yet (lifecycle_pending counts them) */
	unsigned nstalled;			/* chains whose first write waits for the database */
	unsigned nretry;			/* LC_WRITE_RETRY jobs in every chain (the global cap counts these) */
	unsigned retry_max;			/* WAGATE_PENDING_WRITES_MAX */
	unsigned long coalesced;		/* transitions dropped past a cap (/metrics) */
	unsigned long merged;			/* transactions that carried several MERGE writes */
	unsigned long write_tx;			/* transactions run for writes, alone or merged (/metrics) */
	unsigned long writes;			/* writes those carried (/metrics) */
	unsigned long writes_merged;		/* writes that shared one of them with others (/metrics) */
	LIST_HEAD(, lc_merge) merges;		/* merged transactions in the pool */
	struct lc_merge *batch;			/* chain heads collected this loop turn while the pool was busy */
	struct event *batch_ev;			/* submits batch at the end of the turn */
	int64_t messages;			/* message rows of every instance (the _counts' sum) */
	int64_t analyze_at;			/* ANALYZE the message tables when messages reaches it (0: never) */
};

/* The message tables are analyzed by wagate when the rows of its instances first reach 64, 128, ... up to
 * this; past it, autovacuum's own rule keeps the statistics (lifecycle.c, lc_analyze_young, says why). */
#define LC_ANALYZE_UNTIL	65536
/* Move lc->analyze_at past lc->messages; whether a threshold was crossed (start-up skips those it had). */
int lc_analyze_skip(struct lifecycle *lc);

/* How a chained write behaves when the database is away (lc_chain_push). */
#define LC_WRITE_ONCE		0	/* an API write: fails with the outage, its caller answers the error and nothing
					 * changed (also when it was queued behind a write waiting for the database) */
#define LC_WRITE_RETRY		0x1	/* records something that already happened (a worker transition, a logout
					 * the worker was told): kept in memory and retried until it is written */
#define LC_WRITE_COALESCE	0x2	/* with RETRY: a state transition that a later one of its instance supersedes;
					 * the oldest such may be dropped past the caps */
#define LC_WRITE_MERGE		0x4	/* may share one transaction with the MERGE writes queued next to it (without
					 * COALESCE or a check); its callback sees its own statements' results */
/* Retryable writes one instance may have waiting before its oldest transitions are coalesced. */
#define LC_INSTANCE_WRITES_MAX	64
/* WAGATE_PENDING_WRITES_MAX when the configuration does not say (tests without a config). */
#define LC_PENDING_WRITES_DEFAULT	10000

/* inst->deleting while the database is probed before the worker is told to log out (lifecycle_delete): API
 * calls already see the instance as gone, but worker events are still written (the delete may fail). */
#define LC_DELETE_QUEUED	1
#define LC_DELETE_PROBING	2

/* An instance to register, as its database row or its create request has it (everything borrowed). */
struct lc_row {
	const char *id, *name, *token, *integration, *number, *owner_jid, *profile_name;
	const struct settings *settings;
	const struct proxy *proxy;
	int64_t created_us;		/* the registry orders by it */
	const char *creds_error;	/* set: the stored creds cannot be opened (seal_store.h), no worker */
};

/* The one register path (start-up load and create): build the registry entry from row, add it, arm
 * DEL_INSTANCE when asked (arm_del), and register its worker with creds. Returns the entry. */
struct instance *lc_register(struct app *app, const struct lc_row *row, const unsigned char *creds,
    size_t creds_len, int connect_now, int arm_del);

/* Now in microseconds since the epoch, and as a timestamptz literal for a statement: writes store the time the
 * registry keeps (not now()), so fetchInstances from memory shows what the row holds. */
int64_t lc_now_us(void);
void lc_ts_text(int64_t us, char *buf, size_t len);

/* Rebuild inst->fetch_json after any change of what fetchInstances shows of it (every writer of those fields
 * calls it once it is done; the counts only drop it, and fetchInstances rebuilds it: lifecycle_count_add). */
void lc_fetch_refresh(struct app *app, struct instance *inst);

/* Queue tx behind the earlier writes of instance_id and run it when they are done (same contract as
 * db_tx_run: cb exactly once, never from inside this call). No check that the instance may be written: the
 * public writers do that first. flags: LC_WRITE_*. A RETRY write that fails because the database is away is
 * run again with backoff until it commits (or fails for another reason); its cb must not need the results,
 * since a retry found committed by check gets an empty success. check (RETRY only, may be NULL, taken) is
 * one statement answering a boolean, true when the write already committed: it runs before the write again
 * after an attempt whose COMMIT was sent but never answered. Without a check the write must be idempotent. */
void lc_chain_push(struct lifecycle *lc, const char *instance_id, struct db_tx *tx, unsigned flags,
    struct db_tx *check, void (*cb)(void *arg, const struct db_result *r), void *arg);
/* Set up the outage machinery on lc (lifecycle_new). */
void lc_chain_init(struct lifecycle *lc);
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
/* A worker request handled outside lifecycle_worker.c (lifecycle_msg.c: SignalLoad, MessageStore, the
 * SERVER_ACK of a send): fn runs on a later loop turn in arrival order with every other worker event, so a
 * MessageStore cannot overtake a StoreBatch or a logout's wipe that arrived before it. inst is NULL when the
 * instance is gone or being deleted. fn owns payload from the call on; free_fn releases one that never ran
 * (at exit). */
typedef void (*lc_call_fn)(struct app *app, struct instance *inst, void *payload);
void lc_pending_call(struct app *app, const char *instance_id, lc_call_fn fn, void (*free_fn)(void *),
    void *payload);
/* The payload of instance_id's latest event not handled yet when it is a call of fn (nothing of that instance
 * came after it, so what is added to it runs in its place, in order), else NULL. Looks at the last
 * LC_PENDING_LOOK events only. */
#define LC_PENDING_LOOK	64
void *lc_pending_last_call(struct app *app, const char *instance_id, lc_call_fn fn);
/* A growing string, for PostgreSQL array literals (lifecycle_msg_sig.c). */
struct lm_buf {
	char *p;
	size_t len, cap;
};
void lm_put(struct lm_buf *b, const char *s, size_t n);
/* One element of an array literal, double-quoted so commas, braces and NULL mean nothing (s NULL: the element
 * NULL); first: no comma. */
void lm_put_elem(struct lm_buf *b, const char *s, int first);
/* A MessageStore's Signal changes (lifecycle_msg_sig.c), in order, appended to tx; -1 with err for a change the
 * contract does not allow (the caller drops tx). */
int lm_sig_add_changes(struct app *app, struct instance *inst, struct db_tx *tx,
    const struct workers_sig_change *c, size_t n, char *err, size_t errlen);
/* Drop the sessions and identities of every device of user jid (its identity changed); -1 with err. */
int lm_sig_add_forget(struct instance *inst, struct db_tx *tx, const char *jid, char *err, size_t errlen);
/* The deferred event's callback (lifecycle_worker.c). */
void lc_deferred_cb(evutil_socket_t fd, short what, void *arg);

#endif
