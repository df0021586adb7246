/* libsignal-protocol-c's store callbacks on the Signal record cache (wa_signal_store.h): each turns libsignal's
 * address or sender key name into our key, reads through wa_signal_store_get (a record not cached ends the
 * operation with WA_SIGNAL_NEED) and writes through wa_signal_store_stage (kept only if the operation succeeds).
 * Return values are libsignal's: see signal_protocol.h for each callback. */
#include "wa_signal_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void
session_sub_device_cb(const struct wa_signal_key *k, void *arg)
{
	const char *dev = strrchr(k->address, ':') + 1;

	if (strcmp(dev, "0") != 0)
		signal_int_list_push_back(arg, atoi(dev));
}

/* Devices other than 0 of a user with a cached session (libsignal itself never asks). */
static int
session_sub_devices_cb(signal_int_list **sessions, const char *name, size_t name_len, void *ud)
{
	signal_int_list *l = signal_int_list_alloc();

	if (l == NULL)
		return SG_ERR_NOMEM;
	wa_signal_store_foreach_session(ud, name, name_len, session_sub_device_cb, l);
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

struct delete_all {
	struct wa_signal_store *st;
	int n;
};

static void
session_delete_one_cb(const struct wa_signal_key *k, void *arg)
{
	struct delete_all *d = arg;

	wa_signal_store_stage(d->st, k, NULL, 0, 0);
	d->n++;
}

/* Only the cached sessions of that user: the caller deletes the rest in the database (libsignal never asks). */
static int
session_delete_all_cb(const char *name, size_t name_len, void *ud)
{
	struct delete_all d = { ud, 0 };

	wa_signal_store_foreach_session(ud, name, name_len, session_delete_one_cb, &d);
	return d.n;
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
	const struct wa_signal_store_own *own = wa_signal_store_own(ud);

	if (id != own->spk_id)
		return SG_ERR_INVALID_KEY_ID;
	return store_give(record, own->spk_rec, own->spk_len);
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
	return id == wa_signal_store_own(ud)->spk_id;
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
	const struct wa_signal_store_own *own = wa_signal_store_own(ud);

	if (store_give(public_data, own->pub, sizeof(own->pub)) < 0)
		return SG_ERR_NOMEM;
	if (store_give(private_data, own->priv, sizeof(own->priv)) < 0) {
		signal_buffer_free(*public_data);
		return SG_ERR_NOMEM;
	}
	return 0;
}

static int
identity_regid_cb(void *ud, uint32_t *registration_id)
{
	*registration_id = wa_signal_store_own(ud)->regid;
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

/* The stored identity of k against key_data: *stored = whether one is stored, *same = whether it is this key.
 * 0, or the libsignal error to return (bad key, record not loaded). */
static int
identity_compare(void *ud, const uint8_t *key_data, size_t key_len, struct wa_signal_key *k, const uint8_t **raw,
    int *stored, int *same)
{
	const uint8_t *old;
	size_t oldlen;
	int rc;

	if (identity_raw(key_data, key_len, raw) == -1)
		return SG_ERR_INVALID_KEY;
	if ((rc = wa_signal_store_get(ud, k, &old, &oldlen)) < 0)
		return WA_SIGNAL_STORE_MISS;
	*stored = rc == 1;
	*same = *stored && oldlen == 32 && memcmp(old, *raw, 32) == 0;
	return 0;
}

static int
identity_save_cb(const signal_protocol_address *address, uint8_t *key_data, size_t key_len, void *ud)
{
	char a[ADDR_BUF];
	struct wa_signal_key k = { .kind = WA_SIGNAL_IDENTITY, .address = a };
	const uint8_t *raw;
	int rc, stored, same;

	if (store_address(address, a, sizeof(a)) == -1)
		return SG_ERR_INVAL;
	if (key_data == NULL) {
		wa_signal_store_stage(ud, &k, NULL, 0, 0);
		return 0;
	}
	if ((rc = identity_compare(ud, key_data, key_len, &k, &raw, &stored, &same)) != 0)
		return rc;
	if (!same)	/* unchanged: no write */
		wa_signal_store_stage(ud, &k, raw, 32, stored);
	return 0;
}

/* Trust on first use; a different key is refused here, and the caller replaces it (section 6.5). */
static int
identity_trusted_cb(const signal_protocol_address *address, uint8_t *key_data, size_t key_len, void *ud)
{
	char a[ADDR_BUF];
	struct wa_signal_key k = { .kind = WA_SIGNAL_IDENTITY, .address = a };
	const uint8_t *raw;
	int rc, stored, same;

	if (store_address(address, a, sizeof(a)) == -1)
		return SG_ERR_INVAL;
	if ((rc = identity_compare(ud, key_data, key_len, &k, &raw, &stored, &same)) != 0)
		return rc;
	return !stored || same;
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
