/* Credentials sealed at rest: AES-256-GCM blobs for the key material the supervisor stores (auth_creds.creds,
 * signal_prekey.record, and since issue 9 signal_session.record and signal_sender_key.record: all of them libsignal
 * protobuf records, so the magic below tells them from plaintext rows). A library: no logging, errors in the
 * caller's buffer.
 *
 * Blob format, version 1 (bump SEAL_VERSION if any of it changes; old versions must stay readable):
 *   "WGS"            3 bytes magic; 'W' (0x57) is wire type 7, which no protobuf message can start with, so a
 *                    blob and a plaintext row (written before a key was set) are told apart by the first byte
 *   0x01             version
 *   key id           8 bytes: the first bytes of SHA-256("wagate creds key id" || key)
 *   nonce            12 random bytes
 *   ciphertext       as long as the plaintext
 *   tag              16 bytes
 * The additional data is the 24-byte header followed by the row's context (seal_context_*), so a blob moved
 * to another instance, column or prekey id fails its tag. */
#ifndef WAGATE_SEAL_H
#define WAGATE_SEAL_H

#include <stddef.h>
#include <stdint.h>

#define SEAL_KEY_LEN		32
#define SEAL_KEYID_LEN		8
#define SEAL_NONCE_LEN		12
#define SEAL_TAG_LEN		16
#define SEAL_VERSION		1
#define SEAL_HEADER_LEN		(4 + SEAL_KEYID_LEN + SEAL_NONCE_LEN)
#define SEAL_OVERHEAD		(SEAL_HEADER_LEN + SEAL_TAG_LEN)
#define SEAL_MAX		(16 * 1024 * 1024)	/* largest blob (and plaintext) accepted */
#define SEAL_CONTEXT_MAX	128			/* a row context fits in this many bytes */

/* Which key opened a blob. */
enum seal_which { SEAL_PLAIN, SEAL_CURRENT, SEAL_OLD };

/* The keys a blob may be opened with; either may be NULL (lent, not copied). */
struct seal_keys {
	const unsigned char *current;	/* writes use it; NULL = store plaintext */
	const unsigned char *old;	/* still accepted for reading, during a rotation */
};

/* The context of auth_creds.creds of instance_id (a UUID, case ignored). Returns its length. */
size_t seal_context_creds(const char *instance_id, unsigned char out[SEAL_CONTEXT_MAX]);
/* The context of signal_prekey.record of (instance_id, key_id). Returns its length. */
size_t seal_context_prekey(const char *instance_id, uint32_t key_id, unsigned char out[SEAL_CONTEXT_MAX]);

/* The context of signal_session.record of (instance_id, address) and of signal_sender_key.record of
 * (instance_id, group_id, sender); the names enter hashed, so any length fits. Return their length. */
size_t seal_context_session(const char *instance_id, const char *address, unsigned char out[SEAL_CONTEXT_MAX]);
size_t seal_context_sender_key(const char *instance_id, const char *group, const char *sender,
    unsigned char out[SEAL_CONTEXT_MAX]);

/* The key id written in blobs sealed with key. */
void seal_key_id(const unsigned char key[SEAL_KEY_LEN], unsigned char id[SEAL_KEYID_LEN]);
/* Whether data is a sealed blob (starts with the magic), whatever its version or key. */
int seal_is_sealed(const unsigned char *data, size_t len);
/* Whether data is a blob of this version sealed with key (its header only; the tag is not checked). */
int seal_is_sealed_with(const unsigned char *data, size_t len, const unsigned char key[SEAL_KEY_LEN]);

/* Seal len bytes of plain for the row ctx: a new blob of len + SEAL_OVERHEAD bytes in *out (free_wiped not
 * needed: it holds no secret in clear). 0, or -1 if len is over SEAL_MAX. */
int seal_encrypt(const unsigned char key[SEAL_KEY_LEN], const unsigned char *ctx, size_t ctxlen,
    const unsigned char *plain, size_t len, unsigned char **out, size_t *outlen, char *err, size_t errlen);
/* seal_encrypt with a given nonce instead of a random one: known-answer tests only. */
int seal_encrypt_nonce(const unsigned char key[SEAL_KEY_LEN], const unsigned char nonce[SEAL_NONCE_LEN],
    const unsigned char *ctx, size_t ctxlen, const unsigned char *plain, size_t len, unsigned char **out,
    size_t *outlen, char *err, size_t errlen);
/* Open what was stored for the row ctx: a sealed blob with whichever key of keys its key id names, or a
 * plaintext row (anything without the magic) as it is. The plaintext goes in a new buffer *out (release with
 * free_wiped; never NULL on success, even for 0 bytes) and *which says how it was stored. -1 with the reason
 * in err: unknown version, truncated, a key that is not configured, or a failed tag (tampered, or another
 * row's blob); *out is then NULL. */
int seal_decrypt(const struct seal_keys *keys, const unsigned char *ctx, size_t ctxlen,
    const unsigned char *data, size_t len, unsigned char **out, size_t *outlen, enum seal_which *which,
    char *err, size_t errlen);

#endif
