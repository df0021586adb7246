/* seal: the AES-256-GCM primitive against a published vector, the blob format against a vector computed
 * outside this code (Python's cryptography package), and one refusal per tampered field. */
#include "seal.h"
#include "hex.h"
#include "xmalloc.h"

#include <mbedtls/gcm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define IID "0f8fad5b-d9cb-469f-a165-70867728950e"

/* Hex to bytes (test vectors only; the length is the caller's). */
static void
unhex(const char *h, unsigned char *out)
{
	size_t i;

	for (i = 0; h[2 * i] != '\0'; i++)
		out[i] = (unsigned char)(hex_digit(h[2 * i]) << 4 | hex_digit(h[2 * i + 1]));
}

/* The GCM specification's test case 16 (AES-256, 60-byte plaintext, 20-byte AAD): what seal builds on. */
static void
test_gcm_vector(void **state)
{
	static const char k[] = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
	static const char p[] = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
	static const char a[] = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
	static const char iv[] = "cafebabefacedbaddecaf888";
	static const char c[] = "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662";
	static const char t[] = "76fc6ece0f4e1768cddf8853bb2d551b";
	unsigned char key[32], plain[60], aad[20], nonce[12], want[60], tag[16], got[60], gtag[16];
	mbedtls_gcm_context gcm;

	(void)state;
	unhex(k, key);
	unhex(p, plain);
	unhex(a, aad);
	unhex(iv, nonce);
	unhex(c, want);
	unhex(t, tag);
	mbedtls_gcm_init(&gcm);
	assert_int_equal(mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key, 256), 0);
	assert_int_equal(mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, sizeof(plain), nonce, sizeof(nonce),
	    aad, sizeof(aad), plain, got, sizeof(gtag), gtag), 0);
	mbedtls_gcm_free(&gcm);
	assert_memory_equal(got, want, sizeof(want));
	assert_memory_equal(gtag, tag, sizeof(tag));
}

/* The blob vector: key 00..1f, nonce a0..ab, creds context of IID. */
static const char blob_hex[] = "57475301d277be388b1eeaaba0a1a2a3a4a5a6a7a8a9aaab"
    "ec383c6c078846fa2422cf9a4d318c933ee30941c0e41639ca597edf25f0295c8c29"
    "ee1eaabf04a66e1f04f6e7a9dd3b7023";
#define BLOB_LEN 74

static void
vector_key(unsigned char key[SEAL_KEY_LEN])
{
	size_t i;

	for (i = 0; i < SEAL_KEY_LEN; i++)
		key[i] = (unsigned char)i;
}

/* The plaintext of the vector: a protobuf-like 0a 20 and 40..5f. */
static void
vector_plain(unsigned char plain[34])
{
	size_t i;

	plain[0] = 0x0a;
	plain[1] = 0x20;
	for (i = 0; i < 32; i++)
		plain[2 + i] = (unsigned char)(0x40 + i);
}

/* A fixed key, nonce and row give exactly the vector, which opens to the plaintext with the current key. */
static void
test_blob_vector(void **state)
{
	unsigned char key[SEAL_KEY_LEN], nonce[SEAL_NONCE_LEN], plain[34], want[BLOB_LEN], ctx[SEAL_CONTEXT_MAX];
	unsigned char *blob, *out;
	size_t ctxlen, len, outlen, i;
	struct seal_keys keys = { key, NULL };
	enum seal_which which;
	char err[256];

	(void)state;
	vector_key(key);
	vector_plain(plain);
	for (i = 0; i < SEAL_NONCE_LEN; i++)
		nonce[i] = (unsigned char)(0xa0 + i);
	unhex(blob_hex, want);
	ctxlen = seal_context_creds(IID, ctx);
	assert_int_equal(seal_encrypt_nonce(key, nonce, ctx, ctxlen, plain, sizeof(plain), &blob, &len, err,
	    sizeof(err)), 0);
	assert_int_equal(len, BLOB_LEN);
	assert_memory_equal(blob, want, BLOB_LEN);
	assert_true(seal_is_sealed_with(blob, len, key));
	assert_int_equal(seal_decrypt(&keys, ctx, ctxlen, blob, len, &out, &outlen, &which, err, sizeof(err)), 0);
	assert_int_equal(which, SEAL_CURRENT);
	assert_int_equal(outlen, sizeof(plain));
	assert_memory_equal(out, plain, sizeof(plain));
	free_wiped(out, outlen);
	/* the same id spelt in upper case is the same row */
	ctxlen = seal_context_creds("0F8FAD5B-D9CB-469F-A165-70867728950E", ctx);
	assert_int_equal(seal_decrypt(&keys, ctx, ctxlen, blob, len, &out, &outlen, &which, err, sizeof(err)), 0);
	free_wiped(out, outlen);
	free(blob);
}

/* The prekey context binds the key id: the vector of prekey 7, refused as prekey 8. */
static void
test_prekey_context(void **state)
{
	static const char want_hex[] = "57475301d277be388b1eeaaba0a1a2a3a4a5a6a7a8a9aaab"
	    "ee1fb8f0d3f0e6d4f12ee3137221828bbd73";
	unsigned char key[SEAL_KEY_LEN], want[42], ctx[SEAL_CONTEXT_MAX], *out;
	size_t ctxlen, outlen;
	struct seal_keys keys = { key, NULL };
	enum seal_which which;
	char err[256];

	(void)state;
	vector_key(key);
	unhex(want_hex, want);
	ctxlen = seal_context_prekey(IID, 7, ctx);
	assert_int_equal(seal_decrypt(&keys, ctx, ctxlen, want, sizeof(want), &out, &outlen, &which, err,
	    sizeof(err)), 0);
	assert_int_equal(outlen, 2);
	assert_memory_equal(out, "\x08\x07", 2);
	free_wiped(out, outlen);
	ctxlen = seal_context_prekey(IID, 8, ctx);
	assert_int_equal(seal_decrypt(&keys, ctx, ctxlen, want, sizeof(want), &out, &outlen, &which, err,
	    sizeof(err)), -1);
	assert_null(out);
	assert_non_null(strstr(err, "authentication tag"));
}

/* Flip one bit in each field of the vector (magic, version, key id, nonce, ciphertext, tag), cut it short,
 * and open it for another instance or column: every one is refused with its own reason. */
static void
test_tamper(void **state)
{
	static const struct { size_t at; const char *why; } flips[] = {
		{ 0, NULL },			/* magic: no longer a blob, so a plaintext row */
		{ 3, "unknown format version" },
		{ 4, "neither the current nor the old key" },
		{ 11, "neither the current nor the old key" },
		{ 12, "authentication tag" },	/* nonce */
		{ 23, "authentication tag" },
		{ 24, "authentication tag" },	/* ciphertext */
		{ 57, "authentication tag" },
		{ 58, "authentication tag" },	/* tag */
		{ 73, "authentication tag" },
	};
	unsigned char key[SEAL_KEY_LEN], blob[BLOB_LEN], ctx[SEAL_CONTEXT_MAX], *out;
	size_t ctxlen, outlen, i;
	struct seal_keys keys = { key, NULL };
	enum seal_which which;
	char err[256];

	(void)state;
	vector_key(key);
	ctxlen = seal_context_creds(IID, ctx);
	for (i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
		unhex(blob_hex, blob);
		blob[flips[i].at] ^= 0x01;
		err[0] = '\0';
		if (flips[i].why == NULL) {
			assert_int_equal(seal_decrypt(&keys, ctx, ctxlen, blob, BLOB_LEN, &out, &outlen, &which, err,
			    sizeof(err)), 0);
			assert_int_equal(which, SEAL_PLAIN);
			assert_memory_equal(out, blob, BLOB_LEN);
			free_wiped(out, outlen);
			continue;
		}
		assert_int_equal(seal_decrypt(&keys, ctx, ctxlen, blob, BLOB_LEN, &out, &outlen, &which, err,
		    sizeof(err)), -1);
		assert_null(out);
		assert_non_null(strstr(err, flips[i].why));
	}
	unhex(blob_hex, blob);
	for (i = 3; i < SEAL_OVERHEAD; i++) {
		assert_int_equal(seal_decrypt(&keys, ctx, ctxlen, blob, i, &out, &outlen, &which, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "truncated"));
	}
	assert_int_equal(seal_decrypt(&keys, ctx, ctxlen, blob, BLOB_LEN - 1, &out, &outlen, &which, err,
	    sizeof(err)), -1);
	ctxlen = seal_context_creds("0f8fad5b-d9cb-469f-a165-70867728950f", ctx);
	assert_int_equal(seal_decrypt(&keys, ctx, ctxlen, blob, BLOB_LEN, &out, &outlen, &which, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "authentication tag"));
	ctxlen = seal_context_prekey(IID, 0, ctx);
	assert_int_equal(seal_decrypt(&keys, ctx, ctxlen, blob, BLOB_LEN, &out, &outlen, &which, err, sizeof(err)), -1);
}

/* Rotation: a blob of the old key opens as SEAL_OLD; without that key it names the key id; plaintext rows
 * (anything not starting with the magic) come back as they are, even with no key. */
static void
test_keys(void **state)
{
	unsigned char k1[SEAL_KEY_LEN], k2[SEAL_KEY_LEN], ctx[SEAL_CONTEXT_MAX], *blob, *out;
	size_t ctxlen, len, outlen;
	enum seal_which which;
	char err[256];
	struct seal_keys rotating = { k2, k1 }, newonly = { k2, NULL }, none = { NULL, NULL };

	(void)state;
	memset(k1, 0x11, sizeof(k1));
	memset(k2, 0x22, sizeof(k2));
	ctxlen = seal_context_creds(IID, ctx);
	assert_int_equal(seal_encrypt(k1, ctx, ctxlen, (const unsigned char *)"secret", 6, &blob, &len, err,
	    sizeof(err)), 0);
	assert_int_equal(len, 6 + SEAL_OVERHEAD);
	assert_null(memmem(blob, len, "secret", 6));
	assert_true(seal_is_sealed_with(blob, len, k1));
	assert_false(seal_is_sealed_with(blob, len, k2));
	assert_int_equal(seal_decrypt(&rotating, ctx, ctxlen, blob, len, &out, &outlen, &which, err, sizeof(err)), 0);
	assert_int_equal(which, SEAL_OLD);
	assert_memory_equal(out, "secret", 6);
	free_wiped(out, outlen);
	assert_int_equal(seal_decrypt(&newonly, ctx, ctxlen, blob, len, &out, &outlen, &which, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "key id"));
	assert_int_equal(seal_decrypt(&none, ctx, ctxlen, blob, len, &out, &outlen, &which, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no key is configured"));
	free(blob);
	assert_int_equal(seal_decrypt(&none, ctx, ctxlen, (const unsigned char *)"\x0a\x01x", 3, &out, &outlen, &which,
	    err, sizeof(err)), 0);
	assert_int_equal(which, SEAL_PLAIN);
	assert_int_equal(outlen, 3);
	free_wiped(out, outlen);
	/* two seals of one plaintext differ (random nonces) */
	{
		unsigned char *b2;
		size_t l2;

		assert_int_equal(seal_encrypt(k1, ctx, ctxlen, (const unsigned char *)"x", 1, &blob, &len, err,
		    sizeof(err)), 0);
		assert_int_equal(seal_encrypt(k1, ctx, ctxlen, (const unsigned char *)"x", 1, &b2, &l2, err,
		    sizeof(err)), 0);
		assert_memory_not_equal(blob, b2, len);
		free(blob);
		free(b2);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gcm_vector),
		cmocka_unit_test(test_blob_vector),
		cmocka_unit_test(test_prekey_context),
		cmocka_unit_test(test_tamper),
		cmocka_unit_test(test_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
