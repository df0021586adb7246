/* Instance lifecycle, the only writer of instance state: start-up load, create, delete, logout, the
 * settings/proxy/webhook rows, worker events (state changes, QR codes, pairing and credential storage) and
 * the DEL_INSTANCE timer. Every write of one instance is committed in the order it was asked, each state
 * change with its webhook rows, and nothing of an instance commits after its delete. */
#ifndef WAGATE_LIFECYCLE_H
#define WAGATE_LIFECYCLE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct app;
struct instance;
struct lifecycle;
struct proxy;
struct settings;
struct worker_spec;
struct db_result;
struct workers_account;
struct workers_pair;
struct workers_store;
struct workers_call;
struct workers_sig_key;
struct workers_msg_store;

/* Why a QR wait ended (lifecycle_wait). */
enum lifecycle_wake {
	LIFECYCLE_WAKE_TIMEOUT = 0,
	LIFECYCLE_WAKE_QR,		/* a QR code arrived */
	LIFECYCLE_WAKE_OPEN,		/* the worker reported open */
	LIFECYCLE_WAKE_CLOSE,		/* the worker reported close (whatever the reason) */
	LIFECYCLE_WAKE_GONE,		/* the instance was deleted */
	LIFECYCLE_WAKE_SHUTDOWN,	/* the supervisor is stopping: answer now, the HTTP server goes next */
};

/* An instance's webhook row as a route validated it (create and /webhook/set); strings borrowed. */
struct lifecycle_webhook {
	int enabled;
	int by_events, base64;		/* 0 or 1; -1 = keep the stored value (false for a new row) */
	const char *url;
	const char *headers;		/* JSON object text; NULL = keep the stored one ("{}" for a new row) */
	const char *events;		/* PostgreSQL text[] literal; NULL = none */
};

/* A new instance as /instance/create validated it; everything borrowed for the call only. */
struct lifecycle_create {
	const char *name;
	const char *token;		/* NULL or "": a fresh one */
	const char *number;		/* NULL or "": none */
	const struct settings *settings;
	const struct proxy *proxy;	/* NULL or not enabled: no proxy row */
	const struct lifecycle_webhook *webhook;	/* NULL: no webhook row */
};

/* lifecycle's state on app (app->base, reg, db, workers and webhook are used as they are set); main.c keeps
 * it in app->lc. */
struct lifecycle *lifecycle_new(struct app *app);
/* Release it (NULL ok; at exit, after the HTTP server and the database pool are gone). */
void lifecycle_free(struct lifecycle *lc);
/* Worker events not handled yet plus writes not finished (0 when idle; for the exit drain and tests). */
unsigned lifecycle_pending(const struct lifecycle *lc);
/* PostgreSQL is reachable again (db_on_up): writes waiting out their retry delay go now, not up to 2 s later. */
void lifecycle_db_back(struct lifecycle *lc);
/* Writes kept in memory for the database: worker transitions and owed logout/delete writes, queued or
 * waiting through an outage (a /metrics gauge). */
unsigned lifecycle_writes_pending(const struct lifecycle *lc);
/* Transitions dropped since start because WAGATE_PENDING_WRITES_MAX or the per-instance cap was reached
 * during an outage (a /metrics counter; their webhooks are lost, the final state is kept). */
unsigned long lifecycle_writes_coalesced(const struct lifecycle *lc);
/* Transactions run for instance writes since start, the writes they carried, and those that shared theirs with
 * other writes (/metrics). */
void lifecycle_write_stats(const struct lifecycle *lc, unsigned long *tx, unsigned long *writes, unsigned long *merged);

/* Blocking, start-up only: load every instance of this client name with its stored credentials and register
 * its worker; instances with paired credentials connect at once. */
int lifecycle_load(struct app *app, char *err, size_t errlen);
/* Fill a worker spec from the registry entry (pointers borrow from inst). */
void lifecycle_spec(const struct instance *inst, struct worker_spec *spec, int connect_now);

/* Worker table callbacks (ctx = app). They copy what arrived and return; the work follows on a later loop
 * turn, in arrival order. PairSuccess and StoreBatch are answered after their COMMIT. */
void lifecycle_on_ready(void *ctx, const char *instance_id, pid_t pid);
void lifecycle_on_state(void *ctx, const char *instance_id, int state, int reason, const char *detail,
    const struct workers_account *acct);
void lifecycle_on_exit(void *ctx, const char *instance_id, int wstatus, int will_restart);
void lifecycle_on_qr(void *ctx, const char *instance_id, const char *qr, unsigned count, const char *pairing_code);
void lifecycle_on_pair_success(void *ctx, const char *instance_id, uint64_t req, const struct workers_pair *p);
void lifecycle_on_store(void *ctx, const char *instance_id, uint64_t req, const struct workers_store *b);

/* Messaging (lifecycle_msg.c; ctx = app). SignalLoad is answered from the Signal tables in one query, run in
 * the instance's write chain behind every store that arrived before it. MessageStore is committed in one
 * transaction (Signal changes, LID mappings, message rows with messages.upsert or send.message, chats with
 * chats.upsert, contacts with contacts.upsert/update, statuses with messages.update; a message id already
 * stored adds nothing and queues no webhook), then StoreAck. */
void lifecycle_on_signal_load(void *ctx, const char *instance_id, uint64_t req, const struct workers_sig_key *keys,
    size_t n);
void lifecycle_on_msg_store(void *ctx, const char *instance_id, uint64_t req, const struct workers_msg_store *m);
/* A call (CallEvent): Evolution's `call` webhook, in the instance's order (lifecycle_call.c). */
void lifecycle_on_call(void *ctx, const char *instance_id, const struct workers_call *c);
/* A send was acked by WhatsApp: raise message id of the instance to status (WORKERS_MSG_*), with its
 * messages.update, on a later loop turn in the instance's order; kept through an outage (safe to call from a
 * worker-table callback). */
void lifecycle_msg_sent(struct app *app, const char *instance_id, const char *id, int status);
/* Evolution's text of a WORKERS_MSG_* status ("SERVER_ACK"), NULL for 0 or an unknown value. */
const char *lifecycle_msg_status_name(int status);

/* Create: rows and instance.create in one transaction, then the registry entry, DEL_INSTANCE and the worker.
 * done gets the new entry, or NULL and the failed result (sqlstate "23505" when the name is taken). */
void lifecycle_create(struct app *app, const struct lifecycle_create *req,
    void (*done)(void *arg, struct instance *inst, const struct db_result *r), void *arg);
/* Writes of one existing instance, queued behind its earlier writes. done gets the result (for
 * lifecycle_webhook_set the last statement returns the stored row as JSON text); on success the registry and
 * the worker already have the new values. -1 with errno ENOENT when the instance is being deleted (done is
 * not called); lifecycle_logout also -1 with EAGAIN when the worker cannot take Logout now.
 * lifecycle_logout probes the database before it tells the worker: done gets unavailable=1 when the database
 * is away, err == lifecycle_worker_busy when the worker could not take Logout after all (in both cases
 * nothing changed), else the result of the creds wipe, which is kept through an outage once the worker was
 * told (done waits for it). */
int lifecycle_settings_set(struct app *app, struct instance *inst, const struct settings *s,
    void (*done)(void *arg, const struct db_result *r), void *arg);
int lifecycle_proxy_set(struct app *app, struct instance *inst, const struct proxy *p,
    void (*done)(void *arg, const struct db_result *r), void *arg);
int lifecycle_webhook_set(struct app *app, struct instance *inst, const struct lifecycle_webhook *wh,
    void (*done)(void *arg, const struct db_result *r), void *arg);
int lifecycle_logout(struct app *app, struct instance *inst, void (*done)(void *arg, const struct db_result *r),
    void *arg);
extern const char lifecycle_worker_busy[];
/* /instance/restart: a fresh worker process now (a paired one logs in again, one showing QR codes goes on
 * showing them). The old process's close is not a disconnection: not stored as one, not announced. -1 with
 * errno ENOENT when the instance is being deleted or unknown to the worker table. */
int lifecycle_restart(struct app *app, struct instance *inst);
/* Delete an instance everywhere: rows (with instance.delete / remove.instance events), worker, registry.
 * Runs after the instance's earlier writes; later ones are refused from this call on. done gets ok=1, or
 * ok=0 with the database result that failed (the instance then takes writes again, and a connected worker
 * was never told to log out: the database is probed first). Once the worker was told, the delete is kept
 * through an outage until written and done waits for it. -1 (ENOENT) when a delete is already queued. */
int lifecycle_delete(struct app *app, struct instance *inst,
    void (*done)(void *arg, int ok, const struct db_result *r), void *arg);

/* After the COMMIT of message/contact/chat rows of an instance: add the rows added (negative: removed) to its
 * fetchInstances _count in the registry (no COUNT(*) per request). Unknown instances are ignored. */
void lifecycle_count_add(struct app *app, const char *instance_id, int64_t messages, int64_t contacts,
    int64_t chats);

/* Call cb once, on a later loop turn: at the next QR, open or close of the instance, when it is deleted,
 * at shutdown, or after ms. inst is the registry entry then (NULL when gone). Never blocks the loop. */
void lifecycle_wait(struct app *app, const char *instance_id, int ms,
    void (*cb)(void *arg, struct instance *inst, enum lifecycle_wake why), void *arg);
/* End every wait now with LIFECYCLE_WAKE_SHUTDOWN (before the HTTP server is freed). */
void lifecycle_wait_shutdown(struct app *app);

/* Evolution's wuid: "15551234567:7@s.whatsapp.net" -> "15551234567@s.whatsapp.net" in out.
 * 0, or -1 if jid is not a phone-number device JID (or out is too small). */
int lifecycle_wuid(const char *jid, char *out, size_t outsz);

#endif
