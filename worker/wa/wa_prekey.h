/* Signal key material of a companion (reference/wa-session.md sections 6.1, 6.4): X25519 key pairs with
 * clamped private keys, one-time prekeys and the signed prekey, and their records in libsignal's storage
 * format (LocalStorageProtocol.proto: PreKeyRecordStructure {1 id, 2 publicKey (33 bytes, 0x05 || pub),
 * 3 privateKey (32)}, SignedPreKeyRecordStructure {the same, 4 signature (64), 5 timestamp fixed64}), so the
 * Signal layer can load them with session_pre_key_deserialize / session_signed_pre_key_deserialize.
 * Pure computation: no sockets, no events, no logging. Decoders check every length. */
#ifndef WAGATE_WA_PREKEY_H
#define WAGATE_WA_PREKEY_H

#include <stddef.h>
#include <stdint.h>

#define WA_PREKEY_KEY_LEN	32
#define WA_PREKEY_SIG_LEN	64
#define WA_PREKEY_ID_MAX	0xffffffu	/* ids travel as 3 bytes */
#define WA_PREKEY_RECORD_MAX	512		/* a record longer than this is refused unparsed */

struct wa_prekey {
	uint32_t id;
	uint8_t priv[WA_PREKEY_KEY_LEN];
	uint8_t pub[WA_PREKEY_KEY_LEN];
};

struct wa_signed_prekey {
	uint32_t id;
	uint8_t priv[WA_PREKEY_KEY_LEN];
	uint8_t pub[WA_PREKEY_KEY_LEN];
	uint8_t sig[WA_PREKEY_SIG_LEN];	/* curve25519 signature by the identity key over 0x05 || pub */
	uint64_t timestamp;		/* Unix milliseconds, as libsignal */
};

/* A fresh X25519 key pair (private key clamped) from the kernel CSPRNG. 0 or -1. */
int wa_prekey_keypair(uint8_t priv[WA_PREKEY_KEY_LEN], uint8_t pub[WA_PREKEY_KEY_LEN]);
/* A fresh one-time prekey with this id (1..WA_PREKEY_ID_MAX). 0 or -1. */
int wa_prekey_generate(uint32_t id, struct wa_prekey *k);
/* A fresh signed prekey with this id, signed by identity_priv over 0x05 || pub. 0 or -1. */
int wa_prekey_signed_generate(uint32_t id, const uint8_t identity_priv[WA_PREKEY_KEY_LEN],
    uint64_t timestamp_ms, struct wa_signed_prekey *k);
/* Whether the signed prekey's signature verifies with identity_pub: 0 valid, -1 not. */
int wa_prekey_signed_verify(const struct wa_signed_prekey *k, const uint8_t identity_pub[WA_PREKEY_KEY_LEN]);

/* PreKeyRecordStructure bytes. *out is malloc'd. 0 or -1. */
int wa_prekey_encode(const struct wa_prekey *k, uint8_t **out, size_t *outlen);
/* Parse PreKeyRecordStructure: id in range, a 33-byte 0x05 public key, a 32-byte private key whose public
 * key it is. 0, or -1 on anything else. */
int wa_prekey_decode(const uint8_t *buf, size_t len, struct wa_prekey *k);
/* SignedPreKeyRecordStructure bytes. *out is malloc'd. 0 or -1. */
int wa_prekey_signed_encode(const struct wa_signed_prekey *k, uint8_t **out, size_t *outlen);
/* Parse SignedPreKeyRecordStructure with the checks of wa_prekey_decode and a 64-byte signature (not
 * verified here). 0 or -1. */
int wa_prekey_signed_decode(const uint8_t *buf, size_t len, struct wa_signed_prekey *k);

#endif
