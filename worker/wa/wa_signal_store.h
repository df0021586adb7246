/* Internal to the Signal layer: the bounded cache of serialized records behind libsignal's store callbacks,
 * with staged writes (an operation is all or nothing), dirty tracking and a list of the records an operation
 * lacked. The contract the caller sees is in wa_signal.h. */
#ifndef WAGATE_WA_SIGNAL_STORE_H
#define WAGATE_WA_SIGNAL_STORE_H

#include "wa_signal.h"

#include <signal/signal_protocol.h>

#include <stddef.h>
#include <stdint.h>

/* What a store callback returns to libsignal for a record that is not cached: below SG_ERR_MINIMUM, so it
 * can never be mistaken for one of libsignal's own codes. The operation then ends with WA_SIGNAL_NEED. */
#define WA_SIGNAL_STORE_MISS	(-20001)

struct wa_signal_store;

/* An empty cache with these caps (both already checked by the caller). */
struct wa_signal_store *wa_signal_store_new(size_t max_records, size_t max_bytes);
/* Wipes every record and our own keys. NULL is fine. */
void wa_signal_store_free(struct wa_signal_store *st);
/* Our own device's material for the identity and signed prekey callbacks: the 33-byte public and 32-byte
 * private identity key, the registration id, the signed prekey's id and serialized record. Copied. */
void wa_signal_store_set_own(struct wa_signal_store *st, const uint8_t pub[33], const uint8_t priv[32],
    uint32_t regid, uint32_t spk_id, const uint8_t *spk_rec, size_t spk_len);
/* Our own material as set. */
struct wa_signal_store_own {
	uint8_t pub[33];
	uint8_t priv[32];
	uint32_t regid;
	uint32_t spk_id;
	uint8_t *spk_rec;
	size_t spk_len;
};
const struct wa_signal_store_own *wa_signal_store_own(const struct wa_signal_store *st);
/* Call fn for each cached, present session of user name (any device); fn may stage writes. */
void wa_signal_store_foreach_session(struct wa_signal_store *st, const char *name, size_t name_len,
    void (*fn)(const struct wa_signal_key *k, void *arg), void *arg);

/* Unlink and free every SESSION and IDENTITY entry of user name (any device), clean or dirty (see
 * wa_signal_forget_user); between operations only. */
void wa_signal_store_forget(struct wa_signal_store *st, const char *name, size_t name_len);

/* Register the callbacks (wa_signal_callbacks.c) with a libsignal store context. 0 or -1. */
int wa_signal_store_install(struct wa_signal_store *st, signal_protocol_store_context *sc);

/* A clean record loaded by the caller (data NULL: known absent); kept as is if it has unsaved changes. */
void wa_signal_store_put(struct wa_signal_store *st, const struct wa_signal_key *k, const uint8_t *data,
    size_t len);
/* Look a record up for the running operation: 1 found (*data, *len), 0 known absent, -1 not cached (the key
 * is added to the needed list). The operation's own staged writes are seen first. */
int wa_signal_store_get(struct wa_signal_store *st, const struct wa_signal_key *k, const uint8_t **data,
    size_t *len);
/* A write by the running operation (data NULL: delete); identity_changed is kept once set. */
void wa_signal_store_stage(struct wa_signal_store *st, const struct wa_signal_key *k, const uint8_t *data,
    size_t len, int identity_changed);

/* Operation boundaries: begin forgets the last needed list and any staged write; commit makes the staged
 * writes dirty records of the cache; abort drops them. Records put by the caller stay pinned until an
 * operation ends by commit or by abort without needed set (failed, not NEED). */
void wa_signal_store_begin(struct wa_signal_store *st);
void wa_signal_store_commit(struct wa_signal_store *st);
void wa_signal_store_abort(struct wa_signal_store *st, int needed);
/* The keys the running or last operation lacked. */
const struct wa_signal_key *wa_signal_store_needed(const struct wa_signal_store *st, size_t *n);

/* See wa_signal_take_changes, wa_signal_clear, wa_signal_cache_usage. */
void wa_signal_store_take(struct wa_signal_store *st, struct wa_signal_change **v, size_t *n);
void wa_signal_store_clear(struct wa_signal_store *st);
void wa_signal_store_usage(const struct wa_signal_store *st, size_t *records, size_t *bytes);

#endif
