/* libFuzzer target: wa_media_decrypt on downloaded bytes (wa_media.h). The first input byte picks: 0 the rest is
 * the blob as is, 1 the rest is a ciphertext that the harness completes with the right MAC, so that the padding
 * and hash checks behind the MAC get fuzzed too. A blob that decrypts must encrypt back to the same bytes (the
 * IV comes from the key, so encryption is deterministic); any input must survive encrypt then decrypt. The key
 * is fixed: seeds in corpus/media are the history vector of wa_media_test.c, made with it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>

#include "wa_media.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MEDIA_FUZZ_MAX	65536

static const uint8_t media_key[WA_MEDIA_KEY_LEN] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
	0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};

/* ct || the blob's MAC, derived here by hand (HKDF-SHA256 to iv || cipherKey || macKey, then HMAC over
 * iv || ct) so that a bug in wa_media's own derivation does not hide behind itself. */
static uint8_t *
with_mac(const uint8_t *ct, size_t len, size_t *outlen)
{
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	mbedtls_md_context_t c;
	uint8_t keys[80], mac[32], *b;

	if (mbedtls_hkdf(md, NULL, 0, media_key, sizeof(media_key), (const unsigned char *)WA_MEDIA_INFO_HISTORY,
	    strlen(WA_MEDIA_INFO_HISTORY), keys, sizeof(keys)) != 0)
		abort();
	mbedtls_md_init(&c);
	if (mbedtls_md_setup(&c, md, 1) != 0 || mbedtls_md_hmac_starts(&c, keys + 48, 32) != 0 ||
	    mbedtls_md_hmac_update(&c, keys, 16) != 0 || (len > 0 && mbedtls_md_hmac_update(&c, ct, len) != 0) ||
	    mbedtls_md_hmac_finish(&c, mac) != 0)
		abort();
	mbedtls_md_free(&c);
	b = malloc(len + WA_MEDIA_MAC_LEN);
	if (b == NULL)
		abort();
	if (len > 0)
		memcpy(b, ct, len);
	memcpy(b + len, mac, WA_MEDIA_MAC_LEN);
	*outlen = len + WA_MEDIA_MAC_LEN;
	return b;
}

/* Decrypt; on success the plaintext must re-encrypt to the very same blob and hashes. */
static void
fuzz_decrypt(const uint8_t *blob, size_t len)
{
	uint8_t *out, *again, es[WA_MEDIA_SHA_LEN], s[WA_MEDIA_SHA_LEN];
	size_t outlen, againlen;
	char err[256];

	if (wa_media_decrypt(media_key, WA_MEDIA_INFO_HISTORY, blob, len, NULL, NULL, &out, &outlen, err,
	    sizeof(err)) != 0) {
		if (out != NULL || outlen != 0 || err[0] == '\0')
			abort();
		return;
	}
	if (out == NULL || len < 26 || outlen > len - WA_MEDIA_MAC_LEN - 1 ||
	    outlen < len - WA_MEDIA_MAC_LEN - 16)
		abort();
	if (wa_media_encrypt(media_key, WA_MEDIA_INFO_HISTORY, out, outlen, &again, &againlen, es, s, err,
	    sizeof(err)) != 0 || againlen != len || memcmp(again, blob, len) != 0)
		abort();
	free(again);
	/* and with the hashes the encryption reported, the same blob still decrypts */
	free(out);
	if (wa_media_decrypt(media_key, WA_MEDIA_INFO_HISTORY, blob, len, es, s, &out, &outlen, err,
	    sizeof(err)) != 0)
		abort();
	free(out);
}

/* Any plaintext survives encrypt then decrypt (with both hashes checked). */
static void
fuzz_roundtrip(const uint8_t *plain, size_t len)
{
	uint8_t *blob, *out, es[WA_MEDIA_SHA_LEN], s[WA_MEDIA_SHA_LEN];
	size_t bloblen, outlen;
	char err[256];

	if (wa_media_encrypt(media_key, WA_MEDIA_INFO_HISTORY, plain, len, &blob, &bloblen, es, s, err,
	    sizeof(err)) != 0 || bloblen != (len / 16 + 1) * 16 + WA_MEDIA_MAC_LEN)
		abort();
	if (wa_media_decrypt(media_key, WA_MEDIA_INFO_HISTORY, blob, bloblen, es, s, &out, &outlen, err,
	    sizeof(err)) != 0 || outlen != len || (len > 0 && memcmp(out, plain, len) != 0))
		abort();
	free(out);
	free(blob);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *b;
	size_t blen;

	if (size == 0 || size > MEDIA_FUZZ_MAX)
		return 0;
	if (data[0] == 1) {
		b = with_mac(data + 1, size - 1, &blen);
		fuzz_decrypt(b, blen);
		free(b);
	} else
		fuzz_decrypt(data + 1, size - 1);
	fuzz_roundtrip(data, size);
	return 0;
}
