/* The Signal record cache and libsignal's store callbacks. See wa_signal_store.h. Lookups go through a
 * chained hash; recency is a list (head = most recent); dirty records are also on a list of their own, in the
 * order first changed, so taking the changes does not walk the cache. */
#include "wa_signal_store.h"
#include "xmalloc.h"

#include <sys/queue.h>

#include <stdio.h>
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
	/* our own device */
	uint8_t own_pub[33];
	uint8_t own_priv[32];
	uint32_t regid;
	uint32_t spk_id;
	uint8_t *spk_rec;
	size_t spk_len;
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
	return (a == NULL ? "" : a)[0] == (b == NULL ? "" : b)[0] && strcmp(a == NULL ? "" : a, b == NULL ? "" : b) == 0;
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
	free_wiped(st->spk_rec, st->spk_len);
	explicit_wipe(st, sizeof(*st));
	free(st);
}

void
wa_signal_store_set_own(struct wa_signal_store *st, const uint8_t pub[33], const uint8_t priv[32],
    uint32_t regid, uint32_t spk_id, const uint8_t *spk_rec, size_t spk_len)
{
	memcpy(st->own_pub, pub, 33);
	memcpy(st->own_priv, priv, 32);
	st->regid = regid;
	st->spk_id = spk_id;
	free_wiped(st->spk_rec, st->spk_len);
	st->spk_rec = xmalloc(spk_len);
	memcpy(st->spk_rec, spk_rec, spk_len);
	st->spk_len = spk_len;
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

/* --- libsignal's callbacks --- */

/* "name:device" from a libsignal address into buf; -1 if it does not fit. */
static int
store_address(const signal_protocol_address *a, char *buf, size_t size)
{
	int n;

	if (a == NULL || a->name == NULL || a->name_len == 0 || a->name_len > WA_SIGNAL_ADDRESS_MAX ||
	    memchr(a->name, '\0', a->name_len) != NULL)
		return -1;
	n = snprintf(buf, size, "%.*s:%d", (int)a->name_len, a->name, a->device_id);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

#define ADDR_BUF (WA_SIGNAL_ADDRESS_MAX + 16)

/* A found record as the signal buffer libsignal takes ownership of. */
static int
store_give(signal_buffer **out, const uint8_t *data, size_t len)
{
	if ((*out = signal_buffer_create(data, len)) == NULL)
		return SG_ERR_NOMEM;
	return 0;
}

/* The common shape of a lookup callback: 1 found (record handed over), 0 absent, or a negative code. */
static int
store_load(struct wa_signal_store *st, const struct wa_signal_key *k, signal_buffer **record)
{
	const uint8_t *data;
	size_t len;
	int rc = wa_signal_store_get(st, k, &data, &len);

	if (rc < 0)
		return WA_SIGNAL_STORE_MISS;
	if (rc == 0)
		return 0;
	return store_give(record, data, len) < 0 ? SG_ERR_NOMEM : 1;
}

static int
session_load_cb(signal_buffer **record, signal_buffer **user_record, const signal_protocol_address *address,
    void *ud)
{
	char a[ADDR_BUF];
	struct wa_signal_key k = { .kind = WA_SIGNAL_SESSION, .address = a };

	(void)user_record;
	if (store_address(address, a, sizeof(a)) == -1)
		return SG_ERR_INVAL;
	return store_load(ud, &k, record);
}

/* Devices of a user with a cached session (libsignal itself never asks). */
static int
session_sub_devices_cb(signal_int_list **sessions, const char *name, size_t name_len, void *ud)
{
	struct wa_signal_store *st = ud;
	signal_int_list *l = signal_int_list_alloc();
	struct entry *e;
	const char *colon;

	if (l == NULL)
		return SG_ERR_NOMEM;
	TAILQ_FOREACH(e, &st->lru, lru)
		if (e->key.kind == WA_SIGNAL_SESSION && e->data != NULL &&
		    (colon = strrchr(e->key.address, ':')) != NULL && (size_t)(colon - e->key.address) == name_len &&
		    memcmp(e->key.address, name, name_len) == 0 && strcmp(colon + 1, "0") != 0)
			signal_int_list_push_back(l, atoi(colon + 1));
	*sessions = l;
	return (int)signal_int_list_size(l);
}

static int
session_store_cb(const signal_protocol_address *address, uint8_t *record, size_t record_len, uint8_t *user_record,
    size_t user_record_len, void *ud)
{
	char a[ADDR_BUF];
	struct wa_signal_key k = { .kind = WA_SIGNAL_SESSION, .address = a };

	(void)user_record;
	(void)user_record_len;
	if (store_address(address, a, sizeof(a)) == -1 || record_len > WA_SIGNAL_RECORD_MAX)
		return SG_ERR_INVAL;
	wa_signal_store_stage(ud, &k, record, record_len, 0);
	return 0;
}

static int
session_contains_cb(const signal_protocol_address *address, void *ud)
{
	char a[ADDR_BUF];
	struct wa_signal_key k = { .kind = WA_SIGNAL_SESSION, .address = a };
	const uint8_t *data;
	size_t len;
	int rc;

	if (store_address(address, a, sizeof(a)) == -1)
		return SG_ERR_INVAL;
	rc = wa_signal_store_get(ud, &k, &data, &len);
	return rc < 0 ? WA_SIGNAL_STORE_MISS : rc;
}

static int
session_delete_cb(const signal_protocol_address *address, void *ud)
{
	char a[ADDR_BUF];
	struct wa_signal_key k = { .kind = WA_SIGNAL_SESSION, .address = a };

	if (store_address(address, a, sizeof(a)) == -1)
		return SG_ERR_INVAL;
	wa_signal_store_stage(ud, &k, NULL, 0, 0);
	return 1;
}

/* Only the cached sessions of that user: the caller deletes the rest in the database (libsignal never asks). */
static int
session_delete_all_cb(const char *name, size_t name_len, void *ud)
{
	struct wa_signal_store *st = ud;
	struct entry *e;
	const char *colon;
	int n = 0;

	TAILQ_FOREACH(e, &st->lru, lru)
		if (e->key.kind == WA_SIGNAL_SESSION && e->data != NULL &&
		    (colon = strrchr(e->key.address, ':')) != NULL && (size_t)(colon - e->key.address) == name_len &&
		    memcmp(e->key.address, name, name_len) == 0) {
			wa_signal_store_stage(st, &e->key, NULL, 0, 0);
			n++;
		}
	return n;
}

/* Ids travel as 3 bytes (section 6.4): one outside that range is unknown without asking the caller, who
 * could not load it. */
static int
prekey_id_ok(uint32_t id)
{
	return id != 0 && id <= 0xffffff;
}

static int
prekey_load_cb(signal_buffer **record, uint32_t id, void *ud)
{
	struct wa_signal_key k = { .kind = WA_SIGNAL_PREKEY, .prekey_id = id };
	int rc = prekey_id_ok(id) ? store_load(ud, &k, record) : 0;

	return rc == 0 ? SG_ERR_INVALID_KEY_ID : rc < 0 ? rc : SG_SUCCESS;
}

/* Our one-time prekeys are made by the worker (wa_prekey.c), never by libsignal. */
static int
prekey_store_cb(uint32_t id, uint8_t *record, size_t record_len, void *ud)
{
	(void)id;
	(void)record;
	(void)record_len;
	(void)ud;
	return SG_ERR_INVAL;
}

static int
prekey_contains_cb(uint32_t id, void *ud)
{
	struct wa_signal_key k = { .kind = WA_SIGNAL_PREKEY, .prekey_id = id };
	const uint8_t *data;
	size_t len;
	int rc;

	if (!prekey_id_ok(id))
		return 0;
	rc = wa_signal_store_get(ud, &k, &data, &len);
	return rc < 0 ? WA_SIGNAL_STORE_MISS : rc;
}

static int
prekey_remove_cb(uint32_t id, void *ud)
{
	struct wa_signal_key k = { .kind = WA_SIGNAL_PREKEY, .prekey_id = id };

	wa_signal_store_stage(ud, &k, NULL, 0, 0);
	return 0;
}

static int
spk_load_cb(signal_buffer **record, uint32_t id, void *ud)
{
	struct wa_signal_store *st = ud;

	if (id != st->spk_id)
		return SG_ERR_INVALID_KEY_ID;
	return store_give(record, st->spk_rec, st->spk_len);
}

/* The signed prekey is the worker's (rotation included); libsignal only reads it. */
static int
spk_store_cb(uint32_t id, uint8_t *record, size_t record_len, void *ud)
{
	(void)id;
	(void)record;
	(void)record_len;
	(void)ud;
	return SG_ERR_INVAL;
}

static int
spk_contains_cb(uint32_t id, void *ud)
{
	return id == ((struct wa_signal_store *)ud)->spk_id;
}

static int
spk_remove_cb(uint32_t id, void *ud)
{
	(void)id;
	(void)ud;
	return SG_ERR_INVAL;
}

static int
identity_pair_cb(signal_buffer **public_data, signal_buffer **private_data, void *ud)
{
	struct wa_signal_store *st = ud;

	if (store_give(public_data, st->own_pub, sizeof(st->own_pub)) < 0)
		return SG_ERR_NOMEM;
	if (store_give(private_data, st->own_priv, sizeof(st->own_priv)) < 0) {
		signal_buffer_free(*public_data);
		return SG_ERR_NOMEM;
	}
	return 0;
}

static int
identity_regid_cb(void *ud, uint32_t *registration_id)
{
	*registration_id = ((struct wa_signal_store *)ud)->regid;
	return 0;
}

/* libsignal hands over 0x05 || key; we keep the 32 raw bytes as whatsmeow does. */
static int
identity_raw(const uint8_t *key_data, size_t key_len, const uint8_t **raw)
{
	if (key_data == NULL || key_len != 33 || key_data[0] != 0x05)
		return -1;
	*raw = key_data + 1;
	return 0;
}

static int
identity_save_cb(const signal_protocol_address *address, uint8_t *key_data, size_t key_len, void *ud)
{
	char a[ADDR_BUF];
	struct wa_signal_key k = { .kind = WA_SIGNAL_IDENTITY, .address = a };
	const uint8_t *raw, *old;
	size_t oldlen;
	int rc;

	if (store_address(address, a, sizeof(a)) == -1)
		return SG_ERR_INVAL;
	if (key_data == NULL) {
		wa_signal_store_stage(ud, &k, NULL, 0, 0);
		return 0;
	}
	if (identity_raw(key_data, key_len, &raw) == -1)
		return SG_ERR_INVALID_KEY;
	if ((rc = wa_signal_store_get(ud, &k, &old, &oldlen)) < 0)
		return WA_SIGNAL_STORE_MISS;
	if (rc == 1 && oldlen == 32 && memcmp(old, raw, 32) == 0)
		return 0;	/* unchanged: no write */
	wa_signal_store_stage(ud, &k, raw, 32, rc == 1);
	return 0;
}

/* Trust on first use; a different key is refused here, and the caller replaces it (section 6.5). */
static int
identity_trusted_cb(const signal_protocol_address *address, uint8_t *key_data, size_t key_len, void *ud)
{
	char a[ADDR_BUF];
	struct wa_signal_key k = { .kind = WA_SIGNAL_IDENTITY, .address = a };
	const uint8_t *raw, *old;
	size_t oldlen;
	int rc;

	if (store_address(address, a, sizeof(a)) == -1)
		return SG_ERR_INVAL;
	if (identity_raw(key_data, key_len, &raw) == -1)
		return SG_ERR_INVALID_KEY;
	if ((rc = wa_signal_store_get(ud, &k, &old, &oldlen)) < 0)
		return WA_SIGNAL_STORE_MISS;
	return rc == 0 || (oldlen == 32 && memcmp(old, raw, 32) == 0);
}

/* The (group, sender) key of a libsignal sender key name. */
static int
sender_key_of(const signal_protocol_sender_key_name *n, char *group, size_t gsize, char *a, size_t asize,
    struct wa_signal_key *k)
{
	if (n == NULL || n->group_id == NULL || n->group_id_len == 0 || n->group_id_len >= gsize ||
	    memchr(n->group_id, '\0', n->group_id_len) != NULL || store_address(&n->sender, a, asize) == -1)
		return -1;
	memcpy(group, n->group_id, n->group_id_len);
	group[n->group_id_len] = '\0';
	k->kind = WA_SIGNAL_SENDER_KEY;
	k->address = a;
	k->group = group;
	k->prekey_id = 0;
	return 0;
}

static int
sender_key_store_cb(const signal_protocol_sender_key_name *name, uint8_t *record, size_t record_len,
    uint8_t *user_record, size_t user_record_len, void *ud)
{
	char a[ADDR_BUF], g[WA_SIGNAL_ADDRESS_MAX + 1];
	struct wa_signal_key k;

	(void)user_record;
	(void)user_record_len;
	if (sender_key_of(name, g, sizeof(g), a, sizeof(a), &k) == -1 || record_len > WA_SIGNAL_RECORD_MAX)
		return SG_ERR_INVAL;
	wa_signal_store_stage(ud, &k, record, record_len, 0);
	return 0;
}

static int
sender_key_load_cb(signal_buffer **record, signal_buffer **user_record, const signal_protocol_sender_key_name *name,
    void *ud)
{
	char a[ADDR_BUF], g[WA_SIGNAL_ADDRESS_MAX + 1];
	struct wa_signal_key k;

	(void)user_record;
	if (sender_key_of(name, g, sizeof(g), a, sizeof(a), &k) == -1)
		return SG_ERR_INVAL;
	return store_load(ud, &k, record);
}

int
wa_signal_store_install(struct wa_signal_store *st, signal_protocol_store_context *sc)
{
	signal_protocol_session_store ss = {
		.load_session_func = session_load_cb, .get_sub_device_sessions_func = session_sub_devices_cb,
		.store_session_func = session_store_cb, .contains_session_func = session_contains_cb,
		.delete_session_func = session_delete_cb, .delete_all_sessions_func = session_delete_all_cb,
		.user_data = st,
	};
	signal_protocol_pre_key_store ps = {
		.load_pre_key = prekey_load_cb, .store_pre_key = prekey_store_cb,
		.contains_pre_key = prekey_contains_cb, .remove_pre_key = prekey_remove_cb, .user_data = st,
	};
	signal_protocol_signed_pre_key_store sps = {
		.load_signed_pre_key = spk_load_cb, .store_signed_pre_key = spk_store_cb,
		.contains_signed_pre_key = spk_contains_cb, .remove_signed_pre_key = spk_remove_cb, .user_data = st,
	};
	signal_protocol_identity_key_store is = {
		.get_identity_key_pair = identity_pair_cb, .get_local_registration_id = identity_regid_cb,
		.save_identity = identity_save_cb, .is_trusted_identity = identity_trusted_cb, .user_data = st,
	};
	signal_protocol_sender_key_store sks = {
		.store_sender_key = sender_key_store_cb, .load_sender_key = sender_key_load_cb, .user_data = st,
	};

	if (signal_protocol_store_context_set_session_store(sc, &ss) != 0 ||
	    signal_protocol_store_context_set_pre_key_store(sc, &ps) != 0 ||
	    signal_protocol_store_context_set_signed_pre_key_store(sc, &sps) != 0 ||
	    signal_protocol_store_context_set_identity_key_store(sc, &is) != 0 ||
	    signal_protocol_store_context_set_sender_key_store(sc, &sks) != 0)
		return -1;
	return 0;
}
