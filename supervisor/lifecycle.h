/* Instance lifecycle glue between the worker table, the database and webhooks: state changes, QR codes,
 * pairing and credential storage, start-up load, delete, and the DEL_INSTANCE timer. Every state change is
 * committed with its webhook rows, and every write of one instance is committed in the order it was asked. */
#ifndef WAGATE_LIFECYCLE_H
#define WAGATE_LIFECYCLE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct app;
struct instance;
struct worker_spec;
struct db_result;
struct db_tx;
struct workers_account;
struct workers_pair;
struct workers_store;

/* Why a QR wait ended (lifecycle_wait). */
enum lifecycle_wake {
	LIFECYCLE_WAKE_TIMEOUT = 0,
	LIFECYCLE_WAKE_QR,		/* a QR code arrived */
	LIFECYCLE_WAKE_OPEN,		/* the worker reported open */
	LIFECYCLE_WAKE_CLOSE,		/* the worker reported close (whatever the reason) */
	LIFECYCLE_WAKE_GONE,		/* the instance was deleted */
	LIFECYCLE_WAKE_SHUTDOWN,	/* the supervisor is stopping: answer now, the HTTP server goes next */
};

/* Blocking, start-up only: load every instance of this client name with its stored credentials and register
 * its worker; instances with paired credentials connect at once. */
int lifecycle_load(struct app *app, char *err, size_t errlen);
/* Release lifecycle's state (at exit, after the database pool is gone). */
void lifecycle_free(struct app *app);
/* Fill a worker spec from the registry entry (pointers borrow from inst). */
void lifecycle_spec(const struct instance *inst, struct worker_spec *spec, int connect_now);
/* Worker table callbacks (ctx = app). */
void lifecycle_on_ready(void *ctx, const char *instance_id, pid_t pid);
void lifecycle_on_state(void *ctx, const char *instance_id, int state, int reason, const char *detail,
    const struct workers_account *acct);
void lifecycle_on_exit(void *ctx, const char *instance_id, int wstatus, int will_restart);
void lifecycle_on_qr(void *ctx, const char *instance_id, const char *qr, unsigned count, const char *pairing_code);
void lifecycle_on_pair_success(void *ctx, const char *instance_id, uint64_t req, const struct workers_pair *p);
void lifecycle_on_store(void *ctx, const char *instance_id, uint64_t req, const struct workers_store *b);
/* Run tx after every earlier write of this instance has finished (same contract as db_tx_run). */
int lifecycle_tx_run(struct app *app, const char *instance_id, struct db_tx *tx,
    void (*cb)(void *arg, const struct db_result *r), void *arg);
/* Call cb once, on a later loop turn: at the next QR, open or close of the instance, when it is deleted,
 * at shutdown, or after ms. inst is the registry entry then (NULL when gone). Never blocks the loop. */
void lifecycle_wait(struct app *app, const char *instance_id, int ms,
    void (*cb)(void *arg, struct instance *inst, enum lifecycle_wake why), void *arg);
/* End every wait now with LIFECYCLE_WAKE_SHUTDOWN (before the HTTP server is freed). */
void lifecycle_wait_shutdown(struct app *app);
/* Delete an instance everywhere: rows (with instance.delete / remove.instance events), worker, registry.
 * done gets ok=1, or ok=0 with the database result that failed. */
void lifecycle_delete(struct app *app, struct instance *inst,
    void (*done)(void *arg, int ok, const struct db_result *r), void *arg);
/* Arm DEL_INSTANCE for a freshly created instance (no-op when the option is off). */
void lifecycle_arm_del_timer(struct app *app, struct instance *inst);
/* Evolution's wuid: "15551234567:7@s.whatsapp.net" -> "15551234567@s.whatsapp.net" in out.
 * 0, or -1 if jid is not a phone-number device JID (or out is too small). */
int lifecycle_wuid(const char *jid, char *out, size_t outsz);

#endif
