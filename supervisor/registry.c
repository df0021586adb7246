#include "registry.h"
#include "instance_json.h"
#include "known.h"
#include "webhook.h"
#include "xmalloc.h"

#include <event2/event.h>
#include <sys/queue.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Two chained hash tables, by name and by id; sizes grow by doubling. A list keeps fetchInstances' order
 * (created_us, name) so the full list needs no sort per request. */
struct entry {
	struct instance *inst;
	struct entry *next_name;
	struct entry *next_id;
	TAILQ_ENTRY(entry) order;
};

struct registry {
	struct entry **by_name;
	struct entry **by_id;
	TAILQ_HEAD(entry_list, entry) ordered;
	size_t nbuckets;
	size_t count;
};

/* FNV-1a of a name or id. */
static uint64_t
hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	while (*s != '\0') {
		h ^= (unsigned char)*s++;
		h *= 1099511628211ULL;
	}
	return h;
}

/* An empty registry. */
struct registry *
registry_new(void)
{
	struct registry *r = xcalloc(1, sizeof(*r));

	r->nbuckets = 64;
	r->by_name = xcalloc(r->nbuckets, sizeof(*r->by_name));
	r->by_id = xcalloc(r->nbuckets, sizeof(*r->by_id));
	TAILQ_INIT(&r->ordered);
	return r;
}

/* Free the registry and every instance in it. */
void
registry_free(struct registry *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nbuckets; i++) {
		struct entry *e = r->by_name[i], *next;
		for (; e != NULL; e = next) {
			next = e->next_name;
			instance_free(e->inst);
			free(e);
		}
	}
	free(r->by_name);
	free(r->by_id);
	free(r);
}

/* Put an entry in both tables. */
static void
registry_link(struct registry *r, struct entry *e)
{
	size_t bn = hash_str(e->inst->name) % r->nbuckets;
	size_t bi = hash_str(e->inst->id) % r->nbuckets;

	e->next_name = r->by_name[bn];
	r->by_name[bn] = e;
	e->next_id = r->by_id[bi];
	r->by_id[bi] = e;
}

/* Double the buckets and rehash every entry. */
static void
registry_grow(struct registry *r)
{
	struct entry **old = r->by_name, *e, *next;
	size_t oldn = r->nbuckets, i;

	free(r->by_id);
	r->nbuckets *= 2;
	r->by_name = xcalloc(r->nbuckets, sizeof(*r->by_name));
	r->by_id = xcalloc(r->nbuckets, sizeof(*r->by_id));
	for (i = 0; i < oldn; i++)
		for (e = old[i]; e != NULL; e = next) {
			next = e->next_name;
			registry_link(r, e);
		}
	free(old);
}

/* Whether a sorts before b in fetchInstances' order. */
static int
registry_before(const struct instance *a, const struct instance *b)
{
	if (a->created_us != b->created_us)
		return a->created_us < b->created_us;
	return strcmp(a->name, b->name) < 0;
}

/* Add inst (owned from now on). */
void
registry_add(struct registry *r, struct instance *inst)
{
	struct entry *e = xcalloc(1, sizeof(*e)), *at;

	if (r->count + 1 > r->nbuckets)
		registry_grow(r);
	e->inst = inst;
	registry_link(r, e);
	/* New instances are the newest, so the walk from the tail stops at once. */
	at = TAILQ_LAST(&r->ordered, entry_list);
	while (at != NULL && registry_before(inst, at->inst))
		at = TAILQ_PREV(at, entry_list, order);
	if (at == NULL)
		TAILQ_INSERT_HEAD(&r->ordered, e, order);
	else
		TAILQ_INSERT_AFTER(&r->ordered, at, e, order);
	r->count++;
}

/* The instance of this name, or NULL. */
struct instance *
registry_find(const struct registry *r, const char *name)
{
	struct entry *e;

	for (e = r->by_name[hash_str(name) % r->nbuckets]; e != NULL; e = e->next_name)
		if (strcmp(e->inst->name, name) == 0)
			return e->inst;
	return NULL;
}

/* The instance of this id, or NULL. */
struct instance *
registry_find_id(const struct registry *r, const char *id)
{
	struct entry *e;

	for (e = r->by_id[hash_str(id) % r->nbuckets]; e != NULL; e = e->next_id)
		if (strcmp(e->inst->id, id) == 0)
			return e->inst;
	return NULL;
}

/* Unlink inst from both tables and free it. */
void
registry_remove(struct registry *r, struct instance *inst)
{
	struct entry **pp, *e = NULL;

	for (pp = &r->by_id[hash_str(inst->id) % r->nbuckets]; *pp != NULL; pp = &(*pp)->next_id)
		if ((*pp)->inst == inst) {
			*pp = (*pp)->next_id;
			break;
		}
	for (pp = &r->by_name[hash_str(inst->name) % r->nbuckets]; *pp != NULL; pp = &(*pp)->next_name)
		if ((*pp)->inst == inst) {
			e = *pp;
			*pp = e->next_name;
			break;
		}
	if (e == NULL)
		return;
	TAILQ_REMOVE(&r->ordered, e, order);
	r->count--;
	instance_free(e->inst);
	free(e);
}

/* How many instances there are. */
size_t
registry_count(const struct registry *r)
{
	return r->count;
}

/* Visit every instance, oldest first, until fn returns non-zero. */
void
registry_foreach(const struct registry *r, int (*fn)(struct instance *, void *), void *arg)
{
	struct entry *e;

	TAILQ_FOREACH(e, &r->ordered, order)
		if (fn(e->inst, arg) != 0)
			return;
}

/* A closed instance with no settings, proxy or QR yet. */
struct instance *
instance_new(const char *id, const char *name, const char *token)
{
	struct instance *inst = xcalloc(1, sizeof(*inst));

	inst->id = xstrdup(id);
	inst->name = xstrdup(name);
	inst->token = xstrdup(token);
	inst->integration = xstrdup("WHATSAPP-BAILEYS");
	inst->state = CONN_CLOSE;
	return inst;
}

/* Free inst with its timer, wiping the token and the proxy password. */
void
instance_free(struct instance *inst)
{
	if (inst == NULL)
		return;
	if (inst->del_timer != NULL)
		event_free(inst->del_timer);
	free(inst->id);
	free(inst->name);
	if (inst->token != NULL)
		free_wiped(inst->token, strlen(inst->token));
	free(inst->integration);
	free(inst->number);
	free(inst->owner_jid);
	free(inst->profile_name);
	free(inst->disconnection_object);
	instance_json_text_unref(inst->fetch_json);
	instance_qr_reset(inst);
	settings_clear(&inst->settings);
	proxy_clear(&inst->proxy);
	known_free(inst->known);
	webhook_inst_free(inst->webhook);
	free(inst);
}

/* Replace an owned string field with a copy of value (NULL clears it). */
void
instance_set_str(char **field, const char *value)
{
	free(*field);
	*field = value != NULL ? xstrdup(value) : NULL;
}

/* Forget the QR being shown. */
void
instance_qr_reset(struct instance *inst)
{
	free(inst->qr_code);
	free(inst->qr_base64);
	free(inst->qr_pairing_code);
	inst->qr_code = inst->qr_base64 = inst->qr_pairing_code = NULL;
	inst->qr_count = 0;
}
