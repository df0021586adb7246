/* Instance lifecycle glue between the worker table, the database and webhooks: state changes, start-up
 * load, delete, and the DEL_INSTANCE timer. Every state change is committed with its webhook rows. */
#ifndef WAGATE_LIFECYCLE_H
#define WAGATE_LIFECYCLE_H

#include <sys/types.h>

struct app;
struct instance;
struct worker_spec;
struct db_result;

/* Blocking, start-up only: load every instance of this client name and register its worker. */
int lifecycle_load(struct app *app, char *err, size_t errlen);
/* Fill a worker spec from the registry entry (pointers borrow from inst). */
void lifecycle_spec(const struct instance *inst, struct worker_spec *spec, int connect_now);
/* Worker table callbacks (ctx = app). */
void lifecycle_on_ready(void *ctx, const char *instance_id, pid_t pid);
void lifecycle_on_state(void *ctx, const char *instance_id, int state, int reason, const char *detail);
void lifecycle_on_exit(void *ctx, const char *instance_id, int wstatus, int will_restart);
/* Delete an instance everywhere: rows (with instance.delete / remove.instance events), worker, registry.
 * done gets ok=1, or ok=0 with the database result that failed. */
void lifecycle_delete(struct app *app, struct instance *inst,
    void (*done)(void *arg, int ok, const struct db_result *r), void *arg);
/* Arm DEL_INSTANCE for a freshly created instance (no-op when the option is off). */
void lifecycle_arm_del_timer(struct app *app, struct instance *inst);

#endif
