/* The supervisor's in-memory view of every instance: what auth, connectionState, fetchInstances and the worker
 * glue need without a database round trip. The database stays the source of truth; lifecycle updates this
 * alongside each write. */
#ifndef WAGATE_REGISTRY_H
#define WAGATE_REGISTRY_H

#include "conn_state.h"
#include "settings.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct event;
struct known;
struct instance_json_text;

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
	/* Row timestamps in microseconds since the epoch (UTC), as stored; fetchInstances shows them. */
	int64_t created_us, updated_us;
	int has_setting, has_proxy;	/* whether the instance_setting / instance_proxy row exists */
	int64_t setting_created_us, setting_updated_us;
	int64_t proxy_created_us, proxy_updated_us;
	/* The last stored disconnection (has_disconnection 0 = none yet: the columns are NULL). */
	int has_disconnection;
	int disconnection_code;
	char *disconnection_object;	/* NULL = SQL NULL */
	int64_t disconnection_us;
	/* Rows of the message, contact and chat tables (fetchInstances' _count), kept by lifecycle_count_add. */
	int64_t count_messages, count_contacts, count_chats;
	/* This entry's fetchInstances element as compact JSON text (instance_json.h), rebuilt by lifecycle after
	 * every change of the fields above; NULL until the first. */
	struct instance_json_text *fetch_json;
	/* Evolution's QR object: the offer being shown (NULL = not known yet), reset by open and close. */
	char *qr_code;			/* the QR text */
	char *qr_base64;		/* "data:image/png;base64,..." */
	char *qr_pairing_code;		/* 8 characters when pairing by number */
	unsigned qr_count;		/* QRs shown in this connect series; 0 = none yet */
	struct event *del_timer;	/* DEL_INSTANCE */
	struct webhook_inst *webhook;	/* its instance_webhook row after COMMIT; NULL = none (webhook.h) */
	struct known *known;		/* the message path's contact and LID rows known stored (known.h) */
	void *app;		/* back pointer for timers */
};

struct registry;

struct registry *registry_new(void);
void registry_free(struct registry *r);
/* Takes ownership of inst; the name must not be present. Only lifecycle.c adds and removes instances.
 * created_us must be set first: the registry keeps instances in fetchInstances' order (created_us, name). */
void registry_add(struct registry *r, struct instance *inst);
struct instance *registry_find(const struct registry *r, const char *name);
struct instance *registry_find_id(const struct registry *r, const char *id);
/* Unlinks and frees. */
void registry_remove(struct registry *r, struct instance *inst);
size_t registry_count(const struct registry *r);
/* Visit every instance in (created_us, name) order; stops early when fn returns non-zero. fn may not add or
 * remove instances. */
void registry_foreach(const struct registry *r, int (*fn)(struct instance *, void *), void *arg);

struct instance *instance_new(const char *id, const char *name, const char *token);
void instance_free(struct instance *inst);
void instance_set_str(char **field, const char *value);
/* Back to "nothing offered" ({"count":0}). */
void instance_qr_reset(struct instance *inst);

#endif
