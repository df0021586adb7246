/* AES-256-GCM blobs for credentials at rest (format in seal.h). */
#include "seal.h"
#include "errbuf.h"
#include "hex.h"
#include "random.h"
#include "xmalloc.h"

#include <ctype.h>
#include <mbedtls/gcm.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char seal_magic[3] = { 'W', 'G', 'S' };

/* "<column>\0<lower-case instance id>": the id is lower-cased because PostgreSQL prints UUIDs that way while a
 * caller might hold another spelling of the same row. */
static size_t
seal_context(const char *column, const char *instance_id, unsigned char out[SEAL_CONTEXT_MAX])
{
	size_t n = 0, i;

	for (i = 0; column[i] != '\0' && n < SEAL_CONTEXT_MAX - 1; i++)
		out[n++] = (unsigned char)column[i];
	out[n++] = '\0';
	for (i = 0; instance_id[i] != '\0' && n < SEAL_CONTEXT_MAX - 5; i++)
		out[n++] = (unsigned char)tolower((unsigned char)instance_id[i]);
	return n;
}

size_t
seal_context_creds(const char *instance_id, unsigned char out[SEAL_CONTEXT_MAX])
{
	return seal_context("auth_creds.creds", instance_id, out);
}

size_t
seal_context_prekey(const char *instance_id, uint32_t key_id, unsigned char out[SEAL_CONTEXT_MAX])
{
	size_t n = seal_context("signal_prekey.record", instance_id, out);

	/* seal_context left room for the id, big-endian after a separator */
	out[n++] = '\0';
	out[n++] = (unsigned char)(key_id >> 24);
	out[n++] = (unsigned char)(key_id >> 16);
	out[n++] = (unsigned char)(key_id >> 8);
	out[n++] = (unsigned char)key_id;
	return n;
}

/* SHA-256 of len bytes. */
static void
seal_sha256(const unsigned char *buf, size_t len, unsigned char out[32])
{
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
	mbedtls_sha256(buf, len, out, 0);
#else
	mbedtls_sha256_ret(buf, len, out, 0);
#endif
}

/* column's context for a row named by variable-length text: the names enter as their SHA-256 (a, then NUL and
 * b when b is set), so any length fits and no name can run into another. */
static size_t
seal_context_named(const char *column, const char *instance_id, const char *a, const char *b,
    unsigned char out[SEAL_CONTEXT_MAX])
{
	size_t n = seal_context(column, instance_id, out), la = strlen(a), lb = b != NULL ? strlen(b) : 0;
	unsigned char *buf = xmalloc(la + lb + 2);

	memcpy(buf, a, la);
	buf[la] = '\0';
	if (b != NULL)
		memcpy(buf + la + 1, b, lb);
	if (n > SEAL_CONTEXT_MAX - 33)
		n = SEAL_CONTEXT_MAX - 33;
	out[n++] = '\0';
	seal_sha256(buf, b != NULL ? la + 1 + lb : la, out + n);
	free(buf);
	return n + 32;
}

size_t
seal_context_session(const char *instance_id, const char *address, unsigned char out[SEAL_CONTEXT_MAX])
{
	return seal_context_named("signal_session.record", instance_id, address, NULL, out);
}

size_t
seal_context_sender_key(const char *instance_id, const char *group, const char *sender,
    unsigned char out[SEAL_CONTEXT_MAX])
{
	return seal_context_named("signal_sender_key.record", instance_id, group, sender, out);
}

void
seal_key_id(const unsigned char key[SEAL_KEY_LEN], unsigned char id[SEAL_KEYID_LEN])
{
	/* Domain-separated, so the id is not the plain hash of the key another tool might also publish. */
	static const char label[] = "wagate creds key id";
	unsigned char buf[sizeof(label) - 1 + SEAL_KEY_LEN], digest[32];

	memcpy(buf, label, sizeof(label) - 1);
	memcpy(buf + sizeof(label) - 1, key, SEAL_KEY_LEN);
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
	mbedtls_sha256(buf, sizeof(buf), digest, 0);
#else
	mbedtls_sha256_ret(buf, sizeof(buf), digest, 0);
#endif
	memcpy(id, digest, SEAL_KEYID_LEN);
	explicit_wipe(buf, sizeof(buf));
}

int
seal_is_sealed(const unsigned char *data, size_t len)
{
	return len >= sizeof(seal_magic) && memcmp(data, seal_magic, sizeof(seal_magic)) == 0;
}

int
seal_is_sealed_with(const unsigned char *data, size_t len, const unsigned char key[SEAL_KEY_LEN])
{
	unsigned char id[SEAL_KEYID_LEN];

	if (len < SEAL_OVERHEAD || !seal_is_sealed(data, len) || data[3] != SEAL_VERSION)
		return 0;
	seal_key_id(key, id);
	return memcmp(data + 4, id, SEAL_KEYID_LEN) == 0;
}

/* The additional data: the header, then the row context. */
static unsigned char *
seal_aad(const unsigned char *header, const unsigned char *ctx, size_t ctxlen, size_t *aadlen)
{
	unsigned char *aad = xmalloc(SEAL_HEADER_LEN + ctxlen);

	memcpy(aad, header, SEAL_HEADER_LEN);
	if (ctxlen > 0)
		memcpy(aad + SEAL_HEADER_LEN, ctx, ctxlen);
	*aadlen = SEAL_HEADER_LEN + ctxlen;
	return aad;
}

int
seal_encrypt_nonce(const unsigned char key[SEAL_KEY_LEN], const unsigned char nonce[SEAL_NONCE_LEN],
    const unsigned char *ctx, size_t ctxlen, const unsigned char *plain, size_t len, unsigned char **out,
    size_t *outlen, char *err, size_t errlen)
{
	mbedtls_gcm_context gcm;
	unsigned char *blob, *aad;
	size_t aadlen;
	int rc;

	*out = NULL;
	*outlen = 0;
	if (len > SEAL_MAX - SEAL_OVERHEAD)
		return errbuf_fail(err, errlen, "%zu bytes is too much to seal", len);
	blob = xmalloc(len + SEAL_OVERHEAD);
	memcpy(blob, seal_magic, sizeof(seal_magic));
	blob[3] = SEAL_VERSION;
	seal_key_id(key, blob + 4);
	memcpy(blob + 4 + SEAL_KEYID_LEN, nonce, SEAL_NONCE_LEN);
	aad = seal_aad(blob, ctx, ctxlen, &aadlen);
	mbedtls_gcm_init(&gcm);
	rc = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key, 256);
	if (rc == 0)
		rc = mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, len, nonce, SEAL_NONCE_LEN, aad, aadlen,
		    plain, blob + SEAL_HEADER_LEN, SEAL_TAG_LEN, blob + SEAL_HEADER_LEN + len);
	mbedtls_gcm_free(&gcm);
	free(aad);
	if (rc != 0) {
		free_wiped(blob, len + SEAL_OVERHEAD);
		return errbuf_fail(err, errlen, "AES-GCM failed (mbedTLS error -0x%04x)", (unsigned)-rc);
	}
	*out = blob;
	*outlen = len + SEAL_OVERHEAD;
	return 0;
}

int
seal_encrypt(const unsigned char key[SEAL_KEY_LEN], const unsigned char *ctx, size_t ctxlen,
    const unsigned char *plain, size_t len, unsigned char **out, size_t *outlen, char *err, size_t errlen)
{
	unsigned char nonce[SEAL_NONCE_LEN];

	/* Random 96-bit nonces: far below the 2^32 messages per key where a repeat becomes a concern. */
	random_bytes(nonce, sizeof(nonce));
	return seal_encrypt_nonce(key, nonce, ctx, ctxlen, plain, len, out, outlen, err, errlen);
}

int
seal_decrypt(const struct seal_keys *keys, const unsigned char *ctx, size_t ctxlen,
    const unsigned char *data, size_t len, unsigned char **out, size_t *outlen, enum seal_which *which,
    char *err, size_t errlen)
{
	mbedtls_gcm_context gcm;
	unsigned char id[SEAL_KEYID_LEN], *plain, *aad;
	const unsigned char *key = NULL;
	char idhex[2 * SEAL_KEYID_LEN + 1];
	size_t plen, aadlen;
	int rc;

	*out = NULL;
	*outlen = 0;
	if (len > SEAL_MAX)
		return errbuf_fail(err, errlen, "stored value of %zu bytes is over the %d-byte cap", len, SEAL_MAX);
	if (!seal_is_sealed(data, len)) {
		*out = xmalloc(len > 0 ? len : 1);
		if (len > 0)
			memcpy(*out, data, len);
		*outlen = len;
		*which = SEAL_PLAIN;
		return 0;
	}
	if (len < 4)
		return errbuf_fail(err, errlen, "sealed value truncated (%zu bytes)", len);
	if (data[3] != SEAL_VERSION)
		return errbuf_fail(err, errlen, "sealed value of unknown format version %u", data[3]);
	if (len < SEAL_OVERHEAD)
		return errbuf_fail(err, errlen, "sealed value truncated (%zu bytes, at least %d needed)", len,
		    SEAL_OVERHEAD);
	if (keys->current != NULL) {
		seal_key_id(keys->current, id);
		if (memcmp(id, data + 4, SEAL_KEYID_LEN) == 0) {
			key = keys->current;
			*which = SEAL_CURRENT;
		}
	}
	if (key == NULL && keys->old != NULL) {
		seal_key_id(keys->old, id);
		if (memcmp(id, data + 4, SEAL_KEYID_LEN) == 0) {
			key = keys->old;
			*which = SEAL_OLD;
		}
	}
	if (key == NULL) {
		hex_encode(data + 4, SEAL_KEYID_LEN, idhex);
		return errbuf_fail(err, errlen, "sealed with key id %s, which is neither the current nor the old key%s",
		    idhex, keys->current == NULL && keys->old == NULL ? " (no key is configured)" : "");
	}
	plen = len - SEAL_OVERHEAD;
	plain = xmalloc(plen > 0 ? plen : 1);
	aad = seal_aad(data, ctx, ctxlen, &aadlen);
	mbedtls_gcm_init(&gcm);
	rc = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key, 256);
	if (rc == 0)
		rc = mbedtls_gcm_auth_decrypt(&gcm, plen, data + 4 + SEAL_KEYID_LEN, SEAL_NONCE_LEN, aad, aadlen,
		    data + SEAL_HEADER_LEN + plen, SEAL_TAG_LEN, data + SEAL_HEADER_LEN, plain);
	mbedtls_gcm_free(&gcm);
	free(aad);
	if (rc != 0) {
		free_wiped(plain, plen > 0 ? plen : 1);
		if (rc == MBEDTLS_ERR_GCM_AUTH_FAILED)
			return errbuf_fail(err, errlen, "sealed value fails its authentication tag (tampered, or"
			    " another row's value)");
		return errbuf_fail(err, errlen, "AES-GCM failed (mbedTLS error -0x%04x)", (unsigned)-rc);
	}
	*out = plain;
	*outlen = plen;
	return 0;
}
