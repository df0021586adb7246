/* WhatsApp media blobs (wa_media.h). Key layout, MAC length and check order were checked against whatsmeow
 * download.go (getMediaKeys, validateMedia), upload.go and util/cbcutil; the vectors in wa_media_test.c were
 * computed with Python's hashlib/hmac and openssl enc, not with this file. */
#include "wa_media.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/aes.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/sha256.h>

#include "errbuf.h"
#include "xmalloc.h"

#define MEDIA_BLOCK		16
#define MEDIA_IV_LEN		16
#define MEDIA_CIPHER_KEY_LEN	32
#define MEDIA_MAC_KEY_LEN	32
#define MEDIA_EXPANDED_LEN	112	/* iv || cipherKey || macKey || refKey (unused, but part of the layout) */
#define MEDIA_HMAC_LEN		32

struct media_keys {
	uint8_t iv[MEDIA_IV_LEN];
	uint8_t cipher[MEDIA_CIPHER_KEY_LEN];
	uint8_t mac[MEDIA_MAC_KEY_LEN];
};

/* HKDF-SHA256 of the media key with no salt (RFC 5869: a zero-filled block), split into the keys we use. */
static int
media_keys_derive(const uint8_t media_key[WA_MEDIA_KEY_LEN], const char *info, struct media_keys *k)
{
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	uint8_t okm[MEDIA_EXPANDED_LEN];
	int rc = -1;

	if (md != NULL && mbedtls_hkdf(md, NULL, 0, media_key, WA_MEDIA_KEY_LEN, (const unsigned char *)info,
	    strlen(info), okm, sizeof(okm)) == 0) {
		memcpy(k->iv, okm, MEDIA_IV_LEN);
		memcpy(k->cipher, okm + MEDIA_IV_LEN, MEDIA_CIPHER_KEY_LEN);
		memcpy(k->mac, okm + MEDIA_IV_LEN + MEDIA_CIPHER_KEY_LEN, MEDIA_MAC_KEY_LEN);
		rc = 0;
	}
	explicit_wipe(okm, sizeof(okm));
	return rc;
}

/* HMAC-SHA256(macKey, iv || ciphertext); the blob carries its first WA_MEDIA_MAC_LEN bytes. */
static int
media_mac(const struct media_keys *k, const uint8_t *ct, size_t len, uint8_t out[MEDIA_HMAC_LEN])
{
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	mbedtls_md_context_t ctx;
	int rc = -1;

	mbedtls_md_init(&ctx);
	if (md != NULL && mbedtls_md_setup(&ctx, md, 1) == 0 &&
	    mbedtls_md_hmac_starts(&ctx, k->mac, MEDIA_MAC_KEY_LEN) == 0 &&
	    mbedtls_md_hmac_update(&ctx, k->iv, MEDIA_IV_LEN) == 0 &&
	    mbedtls_md_hmac_update(&ctx, ct, len) == 0 &&
	    mbedtls_md_hmac_finish(&ctx, out) == 0)
		rc = 0;
	/* mbedtls_md_free wipes the HMAC pads, which hold the key */
	mbedtls_md_free(&ctx);
	return rc;
}

/* AES-256-CBC of len bytes (a multiple of 16) from in to out; iv is advanced, so two calls chain. The buffers
 * never overlap: mbedTLS does not promise that in-place CBC works. */
static int
media_cbc(const uint8_t key[MEDIA_CIPHER_KEY_LEN], int mode, uint8_t iv[MEDIA_IV_LEN], const uint8_t *in,
    size_t len, uint8_t *out)
{
	mbedtls_aes_context aes;
	int rc;

	mbedtls_aes_init(&aes);
	rc = mode == MBEDTLS_AES_ENCRYPT ? mbedtls_aes_setkey_enc(&aes, key, MEDIA_CIPHER_KEY_LEN * 8) :
	    mbedtls_aes_setkey_dec(&aes, key, MEDIA_CIPHER_KEY_LEN * 8);
	if (rc == 0)
		rc = mbedtls_aes_crypt_cbc(&aes, mode, len, iv, in, out);
	/* mbedtls_aes_free wipes the expanded key schedule */
	mbedtls_aes_free(&aes);
	return rc == 0 ? 0 : -1;
}

/* The length of PKCS#7 padding at the end of a decrypted block, or 0 when it is malformed. The MAC was checked
 * before decrypting, so a padding error here is no oracle and an early exit is fine. */
static size_t
media_pad_len(const uint8_t last[MEDIA_BLOCK])
{
	uint8_t n = last[MEDIA_BLOCK - 1];
	size_t i;

	if (n == 0 || n > MEDIA_BLOCK)
		return 0;
	for (i = MEDIA_BLOCK - n; i < MEDIA_BLOCK; i++)
		if (last[i] != n)
			return 0;
	return n;
}

/* Check in whatsmeow's order: blob hash (the cheap answer to a wrong download), MAC, padding, plaintext hash. */
int
wa_media_decrypt(const uint8_t media_key[WA_MEDIA_KEY_LEN], const char *info, const uint8_t *blob, size_t len,
    const uint8_t *enc_sha256, const uint8_t *sha256, uint8_t **out, size_t *outlen, char *err, size_t errlen)
{
	struct media_keys k;
	uint8_t mac[MEDIA_HMAC_LEN], sha[WA_MEDIA_SHA_LEN], iv[MEDIA_IV_LEN], *plain = NULL;
	size_t ctlen, pad;
	int rc = -1;

	*out = NULL;
	*outlen = 0;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (info == NULL)
		return errbuf_fail(err, errlen, "media: no info string");
	if (blob == NULL || len < WA_MEDIA_MAC_LEN + MEDIA_BLOCK || (len - WA_MEDIA_MAC_LEN) % MEDIA_BLOCK != 0)
		return errbuf_fail(err, errlen, "media: blob length %zu is not 10 + a multiple of 16", len);
	ctlen = len - WA_MEDIA_MAC_LEN;
	if (enc_sha256 != NULL) {
		if (mbedtls_sha256_ret(blob, len, sha, 0) != 0)
			return errbuf_fail(err, errlen, "media: SHA-256 failed");
		if (ct_memcmp(sha, enc_sha256, WA_MEDIA_SHA_LEN) != 0)
			return errbuf_fail(err, errlen, "media: fileEncSha256 mismatch");
	}
	if (media_keys_derive(media_key, info, &k) != 0) {
		errbuf_fail(err, errlen, "media: key derivation failed");
		goto out;
	}
	if (media_mac(&k, blob, ctlen, mac) != 0) {
		errbuf_fail(err, errlen, "media: HMAC failed");
		goto out;
	}
	if (ct_memcmp(mac, blob + ctlen, WA_MEDIA_MAC_LEN) != 0) {
		errbuf_fail(err, errlen, "media: MAC mismatch");
		goto out;
	}
	plain = xmalloc(ctlen);
	memcpy(iv, k.iv, MEDIA_IV_LEN);
	if (media_cbc(k.cipher, MBEDTLS_AES_DECRYPT, iv, blob, ctlen, plain) != 0) {
		errbuf_fail(err, errlen, "media: AES-CBC failed");
		goto out;
	}
	if ((pad = media_pad_len(plain + ctlen - MEDIA_BLOCK)) == 0) {
		errbuf_fail(err, errlen, "media: bad padding");
		goto out;
	}
	if (sha256 != NULL) {
		if (mbedtls_sha256_ret(plain, ctlen - pad, sha, 0) != 0) {
			errbuf_fail(err, errlen, "media: SHA-256 failed");
			goto out;
		}
		if (ct_memcmp(sha, sha256, WA_MEDIA_SHA_LEN) != 0) {
			errbuf_fail(err, errlen, "media: fileSha256 mismatch");
			goto out;
		}
	}
	/* the padding stays in the buffer past *outlen; it is no secret (its length is) */
	*out = plain;
	*outlen = ctlen - pad;
	plain = NULL;
	rc = 0;
out:
	free_wiped(plain, ctlen);
	explicit_wipe(&k, sizeof(k));
	explicit_wipe(mac, sizeof(mac));
	explicit_wipe(iv, sizeof(iv));
	return rc;
}

/* Full blocks go straight from the caller's buffer into the blob; only the padded last block is copied. */
int
wa_media_encrypt(const uint8_t media_key[WA_MEDIA_KEY_LEN], const char *info, const uint8_t *plain, size_t len,
    uint8_t **blob, size_t *bloblen, uint8_t enc_sha256[WA_MEDIA_SHA_LEN], uint8_t sha256[WA_MEDIA_SHA_LEN],
    char *err, size_t errlen)
{
	struct media_keys k;
	uint8_t mac[MEDIA_HMAC_LEN], iv[MEDIA_IV_LEN], last[MEDIA_BLOCK], *b = NULL;
	size_t full, ctlen;
	int rc = -1;

	*blob = NULL;
	*bloblen = 0;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (info == NULL)
		return errbuf_fail(err, errlen, "media: no info string");
	if (plain == NULL && len > 0)
		return errbuf_fail(err, errlen, "media: no plaintext");
	if (len > SIZE_MAX - MEDIA_BLOCK - WA_MEDIA_MAC_LEN)
		return errbuf_fail(err, errlen, "media: plaintext of %zu bytes is too long", len);
	full = len - len % MEDIA_BLOCK;
	ctlen = full + MEDIA_BLOCK;	/* PKCS#7 always pads, a whole block when len is a multiple of 16 */
	if (media_keys_derive(media_key, info, &k) != 0) {
		errbuf_fail(err, errlen, "media: key derivation failed");
		goto out;
	}
	memset(last, (int)(MEDIA_BLOCK - len % MEDIA_BLOCK), sizeof(last));
	if (len > full)
		memcpy(last, plain + full, len - full);
	b = xmalloc(ctlen + WA_MEDIA_MAC_LEN);
	memcpy(iv, k.iv, MEDIA_IV_LEN);
	if ((full > 0 && media_cbc(k.cipher, MBEDTLS_AES_ENCRYPT, iv, plain, full, b) != 0) ||
	    media_cbc(k.cipher, MBEDTLS_AES_ENCRYPT, iv, last, MEDIA_BLOCK, b + full) != 0) {
		errbuf_fail(err, errlen, "media: AES-CBC failed");
		goto out;
	}
	if (media_mac(&k, b, ctlen, mac) != 0) {
		errbuf_fail(err, errlen, "media: HMAC failed");
		goto out;
	}
	memcpy(b + ctlen, mac, WA_MEDIA_MAC_LEN);
	/* mbedTLS wants a non-NULL pointer even for zero bytes */
	if (mbedtls_sha256_ret(b, ctlen + WA_MEDIA_MAC_LEN, enc_sha256, 0) != 0 ||
	    mbedtls_sha256_ret(len > 0 ? plain : last, len, sha256, 0) != 0) {
		errbuf_fail(err, errlen, "media: SHA-256 failed");
		goto out;
	}
	*blob = b;
	*bloblen = ctlen + WA_MEDIA_MAC_LEN;
	b = NULL;
	rc = 0;
out:
	free(b);
	explicit_wipe(&k, sizeof(k));
	explicit_wipe(mac, sizeof(mac));
	explicit_wipe(iv, sizeof(iv));
	explicit_wipe(last, sizeof(last));
	return rc;
}
