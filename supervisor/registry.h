/* The supervisor's in-memory view of every instance: what auth, connectionState and the worker glue need
 * without a database round trip. The database stays the source of truth; this is updated after each commit. */
#ifndef WAGATE_REGISTRY_H
#define WAGATE_REGISTRY_H

#include "conn_state.h"
#include "settings.h"

#include <stddef.h>
#include <time.h>

struct event;

struct instance {
	char *id;
	char *name;
	char *token;
	char *integration;
	char *number;
	char *owner_jid;
	char *profile_name;
	int state;		/* CONN_* (conn_state.h) */
	int reason;		/* REASON_* of the last report */
	int deleting;		/* a delete is queued or in flight: lifecycle refuses other writes */
	int restarting;		/* an API restart is under way: its close is not a disconnection */
	struct settings settings;
	struct proxy proxy;
	/* Evolution's QR object: the offer being shown (NULL = not known yet), reset by open and close. */
	char *qr_code;			/* the QR text */
	char *qr_base64;		/* "data:image/png;base64,..." */
	char *qr_pairing_code;		/* 8 characters when pairing by number */
	unsigned qr_count;		/* QRs shown in this connect series; 0 = none yet */
	struct event *del_timer;	/* DEL_INSTANCE */
	void *app;		/* back pointer for timers */
};

struct registry;

struct registry *registry_new(void);
void registry_free(struct registry *r);
/* Takes ownership of inst; the name must not be present. Only lifecycle.c adds and removes instances. */
void registry_add(struct registry *r, struct instance *inst);
struct instance *registry_find(const struct registry *r, const char *name);
struct instance *registry_find_id(const struct registry *r, const char *id);
/* Unlinks and frees. */
void registry_remove(struct registry *r, struct instance *inst);
size_t registry_count(const struct registry *r);
/* Visit every instance; stops early when fn returns non-zero. */
void registry_foreach(const struct registry *r, int (*fn)(struct instance *, void *), void *arg);

struct instance *instance_new(const char *id, const char *name, const char *token);
void instance_free(struct instance *inst);
void instance_set_str(char **field, const char *value);
/* Back to "nothing offered" ({"count":0}). */
void instance_qr_reset(struct instance *inst);

#endif
