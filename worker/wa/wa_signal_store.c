/* The Signal record cache; the callbacks libsignal calls are in wa_signal_callbacks.c. See wa_signal_store.h.
 * Lookups go through a chained hash; recency is a list (head = most recent); dirty records are also on a list
 * of their own, in the order first changed, so taking the changes does not walk the cache. */
#include "wa_signal_store.h"
#include "xmalloc.h"

#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

struct entry {
	struct entry *hnext;
	TAILQ_ENTRY(entry) lru;
	TAILQ_ENTRY(entry) dlink;
	struct wa_signal_key key;	/* strings owned */
	uint32_t hash;
	uint8_t *data;			/* NULL: known absent (cache) or deleted (staged, dirty) */
	size_t len;
	int dirty;
	int identity_changed;
	uint64_t pin;			/* put in generation pin: kept until the operation that needed it ends */
	struct entry *snext;		/* staged writes only */
};
TAILQ_HEAD(entry_list, entry);

struct wa_signal_store {
	struct entry **buckets;
	size_t nbuckets;
	size_t count;
	size_t bytes;
	size_t max_records;
	size_t max_bytes;
	struct entry_list lru;
	struct entry_list dirty;
	struct entry *staged, **staged_tail;
	struct wa_signal_key *needed;
	size_t nneeded;
	uint64_t gen;			/* operations ended (done or failed) */
	struct wa_signal_store_own own;
};

/* FNV-1a over the kind, the strings and the prekey id. */
static uint32_t
store_hash(const struct wa_signal_key *k)
{
	uint32_t h = 2166136261u;
	const char *s;
	int i;

	h = (h ^ (uint32_t)k->kind) * 16777619u;
	for (s = k->address; s != NULL && *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	h = (h ^ 0xff) * 16777619u;
	for (s = k->group; s != NULL && *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	for (i = 0; i < 4; i++)
		h = (h ^ ((k->prekey_id >> (8 * i)) & 0xff)) * 16777619u;
	return h;
}

static int
str_eq(const char *a, const char *b)
{
	return strcmp(a == NULL ? "" : a, b == NULL ? "" : b) == 0;
}

static int
key_eq(const struct wa_signal_key *a, const struct wa_signal_key *b)
{
	return a->kind == b->kind && a->prekey_id == b->prekey_id && str_eq(a->address, b->address) &&
	    str_eq(a->group, b->group);
}

/* A deep copy of a key into dst. */
static void
key_copy(struct wa_signal_key *dst, const struct wa_signal_key *src)
{
	dst->kind = src->kind;
	dst->prekey_id = src->prekey_id;
	dst->address = src->address != NULL ? xstrdup(src->address) : NULL;
	dst->group = src->group != NULL ? xstrdup(src->group) : NULL;
}

static void
key_clear(struct wa_signal_key *k)
{
	free((char *)k->address);
	free((char *)k->group);
	memset(k, 0, sizeof(*k));
}

/* What an entry costs, for the byte cap. */
static size_t
entry_bytes(const struct entry *e)
{
	return sizeof(*e) + (e->key.address ? strlen(e->key.address) + 1 : 0) +
	    (e->key.group ? strlen(e->key.group) + 1 : 0) + e->len;
}

static struct entry *
entry_new(const struct wa_signal_key *k, const uint8_t *data, size_t len)
{
	struct entry *e = xcalloc(1, sizeof(*e));

	key_copy(&e->key, k);
	e->hash = store_hash(k);
	if (data != NULL) {
		e->data = xmalloc(len > 0 ? len : 1);
		memcpy(e->data, data, len);
		e->len = len;
	}
	return e;
}

/* Records hold ratchet and chain keys: wiped. */
static void
entry_set_data(struct entry *e, const uint8_t *data, size_t len)
{
	free_wiped(e->data, e->len);
	e->data = NULL;
	e->len = 0;
	if (data != NULL) {
		e->data = xmalloc(len > 0 ? len : 1);
		memcpy(e->data, data, len);
		e->len = len;
	}
}

static void
entry_free(struct entry *e)
{
	free_wiped(e->data, e->len);
	key_clear(&e->key);
	free(e);
}

static void store_drop_staged(struct wa_signal_store *st);

static struct entry *
store_find(const struct wa_signal_store *st, const struct wa_signal_key *k)
{
	uint32_t h = store_hash(k);
	struct entry *e;

	for (e = st->buckets[h & (st->nbuckets - 1)]; e != NULL; e = e->hnext)
		if (e->hash == h && key_eq(&e->key, k))
			return e;
	return NULL;
}

/* Twice the buckets once the table is as full as it is wide, to keep chains short. */
static void
store_grow(struct wa_signal_store *st)
{
	size_t n = st->nbuckets * 2, i;
	struct entry **b = xcalloc(n, sizeof(*b)), *e, *next;

	for (i = 0; i < st->nbuckets; i++)
		for (e = st->buckets[i]; e != NULL; e = next) {
			next = e->hnext;
			e->hnext = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	free(st->buckets);
	st->buckets = b;
	st->nbuckets = n;
}

static void
store_link(struct wa_signal_store *st, struct entry *e)
{
	if (st->count >= st->nbuckets)
		store_grow(st);
	e->hnext = st->buckets[e->hash & (st->nbuckets - 1)];
	st->buckets[e->hash & (st->nbuckets - 1)] = e;
	TAILQ_INSERT_HEAD(&st->lru, e, lru);
	st->count++;
	st->bytes += entry_bytes(e);
}

static void
store_unlink(struct wa_signal_store *st, struct entry *e)
{
	struct entry **pp;

	for (pp = &st->buckets[e->hash & (st->nbuckets - 1)]; *pp != e; pp = &(*pp)->hnext)
		;
	*pp = e->hnext;
	TAILQ_REMOVE(&st->lru, e, lru);
	if (e->dirty)
		TAILQ_REMOVE(&st->dirty, e, dlink);
	st->count--;
	st->bytes -= entry_bytes(e);
}

/* Least recently used clean records go until both caps hold; dirty ones stay whatever the caps say, since the
 * database does not have them yet, and so do records put since the last operation ended: the caller loaded
 * them for the next run, and evicting them would make it ask again forever. */
static void
store_evict(struct wa_signal_store *st)
{
	struct entry *e, *prev;

	for (e = TAILQ_LAST(&st->lru, entry_list); e != NULL &&
	    (st->count > st->max_records || st->bytes > st->max_bytes); e = prev) {
		prev = TAILQ_PREV(e, entry_list, lru);
		if (e->dirty || e->pin == st->gen)
			continue;
		store_unlink(st, e);
		entry_free(e);
	}
}

struct wa_signal_store *
wa_signal_store_new(size_t max_records, size_t max_bytes)
{
	struct wa_signal_store *st = xcalloc(1, sizeof(*st));

	st->nbuckets = 64;
	st->buckets = xcalloc(st->nbuckets, sizeof(*st->buckets));
	st->max_records = max_records;
	st->max_bytes = max_bytes;
	TAILQ_INIT(&st->lru);
	TAILQ_INIT(&st->dirty);
	st->staged_tail = &st->staged;
	st->gen = 1;
	return st;
}

static void
store_needed_clear(struct wa_signal_store *st)
{
	size_t i;

	for (i = 0; i < st->nneeded; i++)
		key_clear(&st->needed[i]);
	free(st->needed);
	st->needed = NULL;
	st->nneeded = 0;
}

void
wa_signal_store_clear(struct wa_signal_store *st)
{
	struct entry *e;

	store_drop_staged(st);
	store_needed_clear(st);
	while ((e = TAILQ_FIRST(&st->lru)) != NULL) {
		store_unlink(st, e);
		entry_free(e);
	}
}

void
wa_signal_store_free(struct wa_signal_store *st)
{
	if (st == NULL)
		return;
	wa_signal_store_clear(st);
	free(st->buckets);
	free_wiped(st->own.spk_rec, st->own.spk_len);
	explicit_wipe(st, sizeof(*st));
	free(st);
}

void
wa_signal_store_set_own(struct wa_signal_store *st, const uint8_t pub[33], const uint8_t priv[32],
    uint32_t regid, uint32_t spk_id, const uint8_t *spk_rec, size_t spk_len)
{
	memcpy(st->own.pub, pub, 33);
	memcpy(st->own.priv, priv, 32);
	st->own.regid = regid;
	st->own.spk_id = spk_id;
	free_wiped(st->own.spk_rec, st->own.spk_len);
	st->own.spk_rec = xmalloc(spk_len);
	memcpy(st->own.spk_rec, spk_rec, spk_len);
	st->own.spk_len = spk_len;
}

const struct wa_signal_store_own *
wa_signal_store_own(const struct wa_signal_store *st)
{
	return &st->own;
}

/* Whether e's address is "name:<device>". */
static int
store_is_user(const struct entry *e, const char *name, size_t name_len)
{
	const char *colon;

	return e->key.address != NULL && (colon = strrchr(e->key.address, ':')) != NULL &&
	    (size_t)(colon - e->key.address) == name_len && memcmp(e->key.address, name, name_len) == 0;
}

void
wa_signal_store_foreach_session(struct wa_signal_store *st, const char *name, size_t name_len,
    void (*fn)(const struct wa_signal_key *k, void *arg), void *arg)
{
	struct entry *e, *next;

	/* fn may stage writes, never touch the cache itself, so the list stays as it is */
	for (e = TAILQ_FIRST(&st->lru); e != NULL; e = next) {
		next = TAILQ_NEXT(e, lru);
		if (e->key.kind == WA_SIGNAL_SESSION && e->data != NULL && store_is_user(e, name, name_len))
			fn(&e->key, arg);
	}
}

void
wa_signal_store_forget(struct wa_signal_store *st, const char *name, size_t name_len)
{
	struct entry *e, *next;

	for (e = TAILQ_FIRST(&st->lru); e != NULL; e = next) {
		next = TAILQ_NEXT(e, lru);
		if ((e->key.kind == WA_SIGNAL_SESSION || e->key.kind == WA_SIGNAL_IDENTITY) &&
		    store_is_user(e, name, name_len)) {
			store_unlink(st, e);	/* off the dirty list too: nothing is written for it */
			entry_free(e);
		}
	}
}

void
wa_signal_store_put(struct wa_signal_store *st, const struct wa_signal_key *k, const uint8_t *data, size_t len)
{
	struct entry *e = store_find(st, k);

	if (e != NULL && e->dirty)
		return;
	if (e != NULL) {
		st->bytes -= entry_bytes(e);
		entry_set_data(e, data, len);
		st->bytes += entry_bytes(e);
		TAILQ_REMOVE(&st->lru, e, lru);
		TAILQ_INSERT_HEAD(&st->lru, e, lru);
	} else
		store_link(st, e = entry_new(k, data, len));
	e->pin = st->gen;
	store_evict(st);
}

/* Remember a key the running operation lacked, once. */
static void
store_need(struct wa_signal_store *st, const struct wa_signal_key *k)
{
	size_t i;

	for (i = 0; i < st->nneeded; i++)
		if (key_eq(&st->needed[i], k))
			return;
	st->needed = xreallocarray(st->needed, st->nneeded + 1, sizeof(*st->needed));
	key_copy(&st->needed[st->nneeded++], k);
}

static struct entry *
store_find_staged(const struct wa_signal_store *st, const struct wa_signal_key *k)
{
	struct entry *e;

	for (e = st->staged; e != NULL; e = e->snext)
		if (key_eq(&e->key, k))
			return e;
	return NULL;
}

int
wa_signal_store_get(struct wa_signal_store *st, const struct wa_signal_key *k, const uint8_t **data, size_t *len)
{
	struct entry *e;

	if ((e = store_find_staged(st, k)) == NULL) {
		if ((e = store_find(st, k)) == NULL) {
			store_need(st, k);
			return -1;
		}
		TAILQ_REMOVE(&st->lru, e, lru);
		TAILQ_INSERT_HEAD(&st->lru, e, lru);
	}
	*data = e->data;
	*len = e->len;
	return e->data != NULL;
}

void
wa_signal_store_stage(struct wa_signal_store *st, const struct wa_signal_key *k, const uint8_t *data, size_t len,
    int identity_changed)
{
	struct entry *e = store_find_staged(st, k);

	if (e == NULL) {
		e = entry_new(k, data, len);
		*st->staged_tail = e;
		st->staged_tail = &e->snext;
	} else
		entry_set_data(e, data, len);
	e->identity_changed |= identity_changed;
}

static void
store_drop_staged(struct wa_signal_store *st)
{
	struct entry *e, *next;

	for (e = st->staged; e != NULL; e = next) {
		next = e->snext;
		entry_free(e);
	}
	st->staged = NULL;
	st->staged_tail = &st->staged;
}

void
wa_signal_store_begin(struct wa_signal_store *st)
{
	store_drop_staged(st);
	store_needed_clear(st);
}

void
wa_signal_store_abort(struct wa_signal_store *st, int needed)
{
	store_drop_staged(st);
	if (!needed) {
		st->gen++;
		store_evict(st);
	}
}

void
wa_signal_store_commit(struct wa_signal_store *st)
{
	struct entry *s, *e, *next;

	for (s = st->staged; s != NULL; s = next) {
		next = s->snext;
		if ((e = store_find(st, &s->key)) == NULL) {
			e = entry_new(&s->key, NULL, 0);
			store_link(st, e);
		} else {
			TAILQ_REMOVE(&st->lru, e, lru);
			TAILQ_INSERT_HEAD(&st->lru, e, lru);
		}
		st->bytes -= entry_bytes(e);
		entry_set_data(e, s->data, s->len);
		st->bytes += entry_bytes(e);
		e->identity_changed |= s->identity_changed;
		if (!e->dirty) {
			e->dirty = 1;
			TAILQ_INSERT_TAIL(&st->dirty, e, dlink);
		}
		entry_free(s);
	}
	st->staged = NULL;
	st->staged_tail = &st->staged;
	st->gen++;
	store_evict(st);
}

const struct wa_signal_key *
wa_signal_store_needed(const struct wa_signal_store *st, size_t *n)
{
	*n = st->nneeded;
	return st->needed;
}

void
wa_signal_store_take(struct wa_signal_store *st, struct wa_signal_change **v, size_t *n)
{
	struct entry *e;
	size_t i = 0, count = 0;

	TAILQ_FOREACH(e, &st->dirty, dlink)
		count++;
	*v = count > 0 ? xcalloc(count, sizeof(**v)) : NULL;
	*n = count;
	while ((e = TAILQ_FIRST(&st->dirty)) != NULL) {
		struct wa_signal_change *c = &(*v)[i++];

		key_copy(&c->key, &e->key);
		if (e->data != NULL && e->key.kind != WA_SIGNAL_PREKEY) {
			c->data = xmalloc(e->len > 0 ? e->len : 1);
			memcpy(c->data, e->data, e->len);
			c->len = e->len;
		}
		c->identity_changed = e->identity_changed;
		TAILQ_REMOVE(&st->dirty, e, dlink);
		e->dirty = 0;
		e->identity_changed = 0;
	}
	store_evict(st);
}

void
wa_signal_store_usage(const struct wa_signal_store *st, size_t *records, size_t *bytes)
{
	*records = st->count;
	*bytes = st->bytes;
}
