/* The Signal layer (reference/wa-session.md sections 4.4-4.6, 5.2, 6; wa-proto-fields.md section 8): pairwise
 * sessions and group sender keys on libsignal-protocol-c, with a bounded in-memory cache of serialized records
 * in front of the database. Pure computation: no sockets, no events, no logging, no process state.
 *
 * The contract with the caller (the worker):
 *  - Records live in PostgreSQL. Before an operation the caller loads what it knows the stanza needs with
 *    wa_signal_put(); an operation that meets a record neither cached nor known to be absent stops without
 *    changing anything and returns WA_SIGNAL_NEED; wa_signal_needed() then lists the keys, the caller loads
 *    each (or puts it as absent: data NULL) and runs the same operation again.
 *  - An operation is all or nothing: a failed or NEED operation leaves the cache exactly as it was.
 *  - A successful operation leaves its writes in the cache, dirty. wa_signal_take_changes() hands every dirty
 *    record to the caller (to write in one transaction with the message row) and marks them clean. If that
 *    transaction fails, the cache is ahead of the database: drop it with wa_signal_clear() (or free it).
 *    Taken records are clean, so evictable: until that transaction has committed, answer a NEED for one of
 *    them from the change list, not from the database (or run no operation meanwhile, as the worker does
 *    when it waits for the supervisor's ack).
 *  - Eviction (least recently used first) drops only clean records, whenever a cap is exceeded, and never
 *    the records put since the last operation ended (DONE or FAILED): those are for the next run, so a NEED
 *    answered always makes progress even when dirty records fill the cache.
 *
 * Store keys: addresses in whatsmeow's string form "name:device" (section 6.2), sender keys by (group JID,
 * sender address), one-time prekeys by id. Identities are stored as the 32 raw bytes (no 0x05 type byte).
 * Identity trust (section 6.5): a changed identity is accepted, the old session for that address is dropped,
 * and the identity change is flagged in the change list so the caller can log it and notify. */
#ifndef WAGATE_WA_SIGNAL_H
#define WAGATE_WA_SIGNAL_H

#include <stddef.h>
#include <stdint.h>

#define WA_SIGNAL_KEY_LEN	32
#define WA_SIGNAL_SIG_LEN	64
#define WA_SIGNAL_ADDRESS_MAX	128		/* "name:device" and group JIDs longer than this are refused */
#define WA_SIGNAL_RECORD_MAX	(1024u * 1024)	/* a session record with every archived state and skipped key */
#define WA_SIGNAL_MESSAGE_MAX	(4u * 1024 * 1024)	/* ciphertext or plaintext of one operation */
#define WA_SIGNAL_PAD_MAX	16

/* What an operation returned (STYLE rule 6). */
enum wa_signal_result {
	WA_SIGNAL_DONE = 0,
	WA_SIGNAL_NEED = 1,		/* load wa_signal_needed() and run it again; nothing changed */
	WA_SIGNAL_FAILED = -1,		/* wa_signal_error() says why; nothing changed */
};

/* Why an operation failed: messaging maps these to retry receipts (section 5.4). */
enum wa_signal_error {
	WA_SIGNAL_E_NONE = 0,
	WA_SIGNAL_E_INVALID,		/* bad MAC or signature, malformed or wrong-version message */
	WA_SIGNAL_E_NO_PREKEY,		/* pkmsg names a one-time (or signed) prekey we do not have */
	WA_SIGNAL_E_NO_SESSION,		/* msg or encrypt without a session, skmsg without a sender key */
	WA_SIGNAL_E_DUPLICATE,		/* counter or iteration already used: ignore, do not ask for a retry */
	WA_SIGNAL_E_UNTRUSTED,		/* identity still refused after replacing it once */
	WA_SIGNAL_E_INTERNAL,		/* argument, size limit, memory or a broken stored record */
};

enum wa_signal_kind {
	WA_SIGNAL_SESSION = 1,		/* address -> serialized session record */
	WA_SIGNAL_IDENTITY,		/* address -> 32-byte public identity key */
	WA_SIGNAL_PREKEY,		/* id -> 32-byte private key of our one-time prekey */
	WA_SIGNAL_SENDER_KEY,		/* (group, address) -> serialized sender key record */
};

struct wa_signal_key {
	enum wa_signal_kind kind;
	const char *address;		/* SESSION, IDENTITY, SENDER_KEY: "name:device" */
	const char *group;		/* SENDER_KEY: the group JID */
	uint32_t prekey_id;		/* PREKEY */
};

/* One record to write. data NULL: delete the row. A PREKEY change is always a deletion (a one-time prekey
 * was used); an IDENTITY change with identity_changed set replaced a different key we had. */
struct wa_signal_change {
	struct wa_signal_key key;
	uint8_t *data;
	size_t len;
	int identity_changed;
};

/* Our own device (the worker has these from registration, wa_prekey.h). Private keys are raw and clamped. */
struct wa_signal_own {
	uint32_t registration_id;
	uint8_t identity_priv[WA_SIGNAL_KEY_LEN];
	uint32_t signed_prekey_id;
	uint8_t signed_prekey_priv[WA_SIGNAL_KEY_LEN];
	uint8_t signed_prekey_sig[WA_SIGNAL_SIG_LEN];
	uint64_t signed_prekey_timestamp;	/* Unix milliseconds */
};

/* A peer device's prekey bundle as on the wire (section 4.4): raw 32-byte keys, type byte implied. */
struct wa_signal_bundle {
	uint32_t registration_id;
	uint32_t device_id;
	int has_prekey;			/* the one-time prekey pool may be empty */
	uint32_t prekey_id;
	uint8_t prekey_pub[WA_SIGNAL_KEY_LEN];
	uint32_t signed_prekey_id;
	uint8_t signed_prekey_pub[WA_SIGNAL_KEY_LEN];
	uint8_t signed_prekey_sig[WA_SIGNAL_SIG_LEN];
	uint8_t identity_pub[WA_SIGNAL_KEY_LEN];
};

/* The <enc type> of a pairwise message. */
enum wa_signal_type {
	WA_SIGNAL_MSG = 2,		/* "msg": SignalMessage */
	WA_SIGNAL_PKMSG = 3,		/* "pkmsg": PreKeySignalMessage */
};

struct wa_signal;

/* A Signal layer for our own device, with a cache capped at max_records records and max_bytes bytes (records,
 * keys and bookkeeping; both at least 16 records' worth, so one operation's records always fit). Copies own.
 * NULL with err set on bad keys. */
struct wa_signal *wa_signal_new(const struct wa_signal_own *own, size_t max_records, size_t max_bytes, char *err,
    size_t errlen);
/* Wipes every record and key. NULL is fine. */
void wa_signal_free(struct wa_signal *s);
/* Test and benchmark hook: draw random bytes from fn instead of the kernel (deterministic exchanges). */
void wa_signal_set_random(struct wa_signal *s, void (*fn)(void *buf, size_t n, void *arg), void *arg);

/* Load a record from the database into the cache, clean; data NULL records that the database has none. A
 * record with unsaved changes is kept (the cache is newer). Data per kind as in enum wa_signal_kind. 0 or -1. */
int wa_signal_put(struct wa_signal *s, const struct wa_signal_key *k, const uint8_t *data, size_t len, char *err,
    size_t errlen);
/* The keys the last operation returning WA_SIGNAL_NEED lacked; valid until the next operation (wa_signal_put
 * leaves it, so the caller can put while walking it). */
const struct wa_signal_key *wa_signal_needed(const struct wa_signal *s, size_t *n);
/* Why the last operation failed. */
enum wa_signal_error wa_signal_error(const struct wa_signal *s);
/* Every record changed since the last call (*v NULL and *n 0 if none), in the order first changed; marks them
 * clean. Free with wa_signal_changes_free. */
void wa_signal_take_changes(struct wa_signal *s, struct wa_signal_change **v, size_t *n);
void wa_signal_changes_free(struct wa_signal_change *v, size_t n);
/* Drop every cached record, clean or dirty (after a failed database write). */
void wa_signal_clear(struct wa_signal *s);
/* A user's identity changed (<notification type="encrypt"><identity/>, wa-session.md 6.5): drop every cached
 * SESSION and IDENTITY record whose address is "name:<device>" (any device), clean or dirty, and record nothing
 * to write for them: the caller deletes the rows itself, in the transaction that takes the changes made from
 * now on (a later dirty record for one of those addresses is newer than the deletion). Later operations NEED
 * those records again; until that transaction has committed, answer such a NEED as absent, not from the
 * database. Not during an operation. 0, or -1 for an empty name, one with a colon or too long. */
int wa_signal_forget_user(struct wa_signal *s, const char *name);
/* Records and bytes in the cache now. */
void wa_signal_cache_usage(const struct wa_signal *s, size_t *records, size_t *bytes);

/* The operations: WA_SIGNAL_DONE, WA_SIGNAL_NEED or WA_SIGNAL_FAILED (err says why in words). Outputs are
 * malloc'd and set only on DONE. */

/* Start a session with a peer device from its bundle (signature checked; X3DH as initiator). */
int wa_signal_session_build(struct wa_signal *s, const char *address, const struct wa_signal_bundle *b,
    char *err, size_t errlen);
/* Whether a session with the device exists (*has 1 or 0), without changing anything: a sender learns which
 * devices need a prekey bundle (section 4.4) before its first operation that changes state. */
int wa_signal_has_session(struct wa_signal *s, const char *address, int *has, char *err, size_t errlen);
/* Encrypt for a device we have a session with: *type is PKMSG until the peer has answered, then MSG. */
int wa_signal_encrypt(struct wa_signal *s, const char *address, const uint8_t *pt, size_t ptlen,
    enum wa_signal_type *type, uint8_t **ct, size_t *ctlen, char *err, size_t errlen);
/* Decrypt a pkmsg (building the session and consuming the one-time prekey it names) or a msg. */
int wa_signal_decrypt(struct wa_signal *s, const char *address, enum wa_signal_type type, const uint8_t *ct,
    size_t ctlen, uint8_t **pt, size_t *ptlen, char *err, size_t errlen);
/* Our sender key for a group (created if we have none) as SenderKeyDistributionMessage bytes (version byte and
 * protobuf: the axolotlSenderKeyDistributionMessage of section 5). own is our own address. */
int wa_signal_group_create(struct wa_signal *s, const char *group, const char *own, uint8_t **skdm,
    size_t *skdmlen, char *err, size_t errlen);
/* Store a sender's distribution message for a group. */
int wa_signal_group_process(struct wa_signal *s, const char *group, const char *sender, const uint8_t *skdm,
    size_t skdmlen, char *err, size_t errlen);
/* An skmsg from our sender key for the group (create it first). */
int wa_signal_group_encrypt(struct wa_signal *s, const char *group, const char *own, const uint8_t *pt,
    size_t ptlen, uint8_t **ct, size_t *ctlen, char *err, size_t errlen);
/* Decrypt a sender's skmsg. */
int wa_signal_group_decrypt(struct wa_signal *s, const char *group, const char *sender, const uint8_t *ct,
    size_t ctlen, uint8_t **pt, size_t *ptlen, char *err, size_t errlen);

/* Padding of plaintexts (section 4.6): n = 1..16 random bytes each of value n. *out malloc'd. 0 or -1. */
int wa_signal_pad(const uint8_t *in, size_t len, uint8_t **out, size_t *outlen);
/* The unpadded length: the last byte n must be 1..len and the last n bytes all n. 0 or -1. */
int wa_signal_unpad(const uint8_t *in, size_t len, size_t *outlen);

#endif
