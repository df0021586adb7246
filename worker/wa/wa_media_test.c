/* Media crypto tests: known-answer vectors for two info strings (blob, fileEncSha256, fileSha256 computed
 * outside this code: RFC 5869 HKDF and the hashes in Python's hashlib/hmac, AES-256-CBC with `openssl enc`),
 * decrypt inverting them, every tampering refused with nothing returned, and the empty plaintext. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wa_media.h"

#define INFO_IMAGE	"WhatsApp Image Keys"

/* The plaintexts: 36 bytes (a partial last block) and 32 bytes (a whole block of padding). */
static const uint8_t hist_plain[] = "history sync chunk #1, 36 bytes long";
static const uint8_t img_plain[32] = {
	0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
	0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
};
#define HIST_PLAIN_LEN	(sizeof(hist_plain) - 1)

static const uint8_t hist_key[32] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
	0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};

static const uint8_t img_key[32] = {
	0xa5, 0xa4, 0xa7, 0xa6, 0xa1, 0xa0, 0xa3, 0xa2, 0xad, 0xac, 0xaf, 0xae, 0xa9, 0xa8, 0xab, 0xaa,
	0xb5, 0xb4, 0xb7, 0xb6, 0xb1, 0xb0, 0xb3, 0xb2, 0xbd, 0xbc, 0xbf, 0xbe, 0xb9, 0xb8, 0xbb, 0xba,
};

/* hist */
static const uint8_t hist_blob[58] = {
	0x61, 0x9f, 0x81, 0xd0, 0xc1, 0x7d, 0x91, 0x2a, 0x5c, 0xb9, 0xca, 0x93, 0x7e, 0x16, 0xa5, 0xc7,
	0xee, 0x33, 0x58, 0x8a, 0x56, 0xa4, 0x41, 0x47, 0xde, 0x30, 0x4f, 0xd4, 0x8c, 0xee, 0x2c, 0xa0,
	0xcb, 0xe8, 0x22, 0x25, 0x4b, 0xbd, 0x3b, 0x85, 0x0e, 0x45, 0x59, 0x1e, 0xdf, 0x11, 0x37, 0x5b,
	0x78, 0x1b, 0xf5, 0x97, 0x8e, 0xb9, 0xdc, 0xd0, 0x37, 0xbb,
};
static const uint8_t hist_enc_sha[32] = {
	0x22, 0xc0, 0x7b, 0x9a, 0x68, 0x79, 0x1d, 0x0a, 0xf2, 0x10, 0x06, 0x88, 0xa7, 0x86, 0x9b, 0x9e,
	0x43, 0xda, 0xab, 0xbe, 0xe3, 0xaf, 0x35, 0x00, 0x33, 0x93, 0xb6, 0xdb, 0x83, 0xb8, 0x60, 0x51,
};
static const uint8_t hist_sha[32] = {
	0x18, 0x92, 0x2a, 0x6d, 0x8f, 0xd0, 0x59, 0x1a, 0x4e, 0x76, 0xa3, 0x75, 0xc2, 0x84, 0x8a, 0xf7,
	0xa2, 0xef, 0xe9, 0x34, 0xa3, 0xc6, 0x6a, 0xd1, 0xa1, 0x27, 0x08, 0xc4, 0xa6, 0xd0, 0xb2, 0x32,
};
/* img */
static const uint8_t img_blob[58] = {
	0x9c, 0xa9, 0x68, 0x51, 0xe0, 0xc1, 0xa8, 0x56, 0x89, 0x43, 0x56, 0x91, 0x98, 0x1f, 0x3a, 0x86,
	0x21, 0xea, 0x4d, 0xd6, 0x6c, 0x94, 0x82, 0xce, 0x37, 0x9b, 0x6f, 0x7d, 0x17, 0x71, 0x56, 0x5c,
	0x07, 0x9c, 0xe6, 0x36, 0x6e, 0x14, 0xcb, 0x85, 0x04, 0x10, 0xd7, 0xf4, 0xc7, 0x91, 0xb7, 0x86,
	0x21, 0x90, 0xe0, 0x62, 0xd3, 0x80, 0xf8, 0xd5, 0x74, 0x43,
};
static const uint8_t img_enc_sha[32] = {
	0xb2, 0x29, 0x37, 0xc4, 0x8d, 0x9e, 0x88, 0x8a, 0xc2, 0xc0, 0x3f, 0x9f, 0x52, 0x15, 0xc4, 0xda,
	0xb4, 0xa9, 0xb3, 0x39, 0xd5, 0x06, 0x33, 0x69, 0x89, 0x73, 0x00, 0xa4, 0x2b, 0xf7, 0xaf, 0x1d,
};
static const uint8_t img_sha[32] = {
	0x24, 0x1b, 0xf8, 0xc6, 0x85, 0x58, 0xee, 0x6c, 0x2f, 0xa2, 0xe4, 0x3b, 0x89, 0x91, 0x9e, 0xe4,
	0x7b, 0xec, 0x95, 0xc3, 0xa0, 0x0f, 0xe5, 0xda, 0x1a, 0x2d, 0xfb, 0x91, 0x4c, 0x2f, 0x02, 0xda,
};
/* empty */
static const uint8_t empty_blob[26] = {
	0x43, 0xb0, 0xc8, 0xa6, 0xd3, 0x2e, 0x81, 0x56, 0x26, 0x75, 0xba, 0xcb, 0x27, 0xe3, 0x49, 0x20,
	0x09, 0x78, 0x8d, 0xa6, 0x40, 0x53, 0xaa, 0xaa, 0xad, 0xec,
};
static const uint8_t empty_enc_sha[32] = {
	0x05, 0xa4, 0xb9, 0x9b, 0xe3, 0xec, 0xbd, 0xdb, 0x1d, 0x60, 0x0b, 0x4d, 0xdc, 0x42, 0x5d, 0x95,
	0xdf, 0xed, 0x4f, 0xbf, 0x59, 0x6a, 0xdd, 0xa6, 0x4e, 0x82, 0x79, 0x2c, 0xa3, 0xac, 0x4d, 0x36,
};
static const uint8_t empty_sha[32] = {
	0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
	0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
};
static const uint8_t pad_zero_blob[42] = {
	0xd7, 0x74, 0x65, 0x79, 0xb7, 0xac, 0x2d, 0xc7, 0xba, 0xe9, 0x6e, 0xce, 0xd3, 0xad, 0x8f, 0x86,
	0xcd, 0x99, 0x25, 0x28, 0xa0, 0x07, 0x8e, 0x75, 0x3f, 0xda, 0x7b, 0xdb, 0x55, 0x51, 0x0c, 0x35,
	0x0a, 0x48, 0x9d, 0xf4, 0x8e, 0xbb, 0xdf, 0xbd, 0x73, 0x1d,
};
static const uint8_t pad_big_blob[42] = {
	0xd7, 0x74, 0x65, 0x79, 0xb7, 0xac, 0x2d, 0xc7, 0xba, 0xe9, 0x6e, 0xce, 0xd3, 0xad, 0x8f, 0x86,
	0x9c, 0x53, 0xc5, 0xb3, 0x86, 0x46, 0x0d, 0xb1, 0x51, 0xff, 0x74, 0x59, 0x61, 0xd1, 0x88, 0xc7,
	0x1c, 0x67, 0x3b, 0x56, 0xfb, 0x1f, 0x6c, 0xbb, 0x5b, 0x7f,
};
static const uint8_t pad_uneven_blob[42] = {
	0xd7, 0x74, 0x65, 0x79, 0xb7, 0xac, 0x2d, 0xc7, 0xba, 0xe9, 0x6e, 0xce, 0xd3, 0xad, 0x8f, 0x86,
	0x9e, 0xa0, 0x2b, 0x15, 0x95, 0xfd, 0x01, 0xfb, 0x8d, 0xeb, 0x7d, 0xae, 0xad, 0x25, 0x20, 0xd3,
	0xf4, 0x00, 0x0b, 0x3d, 0x6d, 0x26, 0x5c, 0x57, 0xb2, 0xfb,
};

/* Decrypt must refuse: -1, a reason, and nothing in *out. */
static void
refused(const uint8_t *key, const char *info, const uint8_t *blob, size_t len, const uint8_t *enc_sha,
    const uint8_t *sha, const char *why)
{
	uint8_t *out = (uint8_t *)"x";
	size_t outlen = 99;
	char err[128] = "";

	assert_int_equal(wa_media_decrypt(key, info, blob, len, enc_sha, sha, &out, &outlen, err, sizeof(err)), -1);
	assert_null(out);
	assert_int_equal(outlen, 0);
	assert_true(err[0] != '\0');
	if (why != NULL && strstr(err, why) == NULL)
		fail_msg("expected \"%s\" in \"%s\"", why, err);
}

/* Encrypt gives exactly the vector; decrypt gives the plaintext back, with and without the hashes. */
static void
known_answer(const uint8_t key[WA_MEDIA_KEY_LEN], const char *info, const uint8_t *plain, size_t len,
    const uint8_t *blob, size_t bloblen, const uint8_t enc_sha[WA_MEDIA_SHA_LEN], const uint8_t sha[WA_MEDIA_SHA_LEN])
{
	uint8_t *b, *p, es[WA_MEDIA_SHA_LEN], s[WA_MEDIA_SHA_LEN];
	size_t blen, plen;
	char err[128] = "";

	assert_int_equal(wa_media_encrypt(key, info, plain, len, &b, &blen, es, s, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(blen, bloblen);
	assert_memory_equal(b, blob, bloblen);
	assert_memory_equal(es, enc_sha, WA_MEDIA_SHA_LEN);
	assert_memory_equal(s, sha, WA_MEDIA_SHA_LEN);
	free(b);

	assert_int_equal(wa_media_decrypt(key, info, blob, bloblen, enc_sha, sha, &p, &plen, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_non_null(p);
	assert_int_equal(plen, len);
	if (len > 0)
		assert_memory_equal(p, plain, len);
	free(p);
	assert_int_equal(wa_media_decrypt(key, info, blob, bloblen, NULL, NULL, &p, &plen, err, sizeof(err)), 0);
	assert_int_equal(plen, len);
	if (len > 0)
		assert_memory_equal(p, plain, len);
	free(p);
}

static void
test_history_vector(void **state)
{
	(void)state;
	known_answer(hist_key, WA_MEDIA_INFO_HISTORY, hist_plain, HIST_PLAIN_LEN, hist_blob, sizeof(hist_blob),
	    hist_enc_sha, hist_sha);
}

static void
test_image_vector(void **state)
{
	(void)state;
	known_answer(img_key, INFO_IMAGE, img_plain, sizeof(img_plain), img_blob, sizeof(img_blob), img_enc_sha,
	    img_sha);
}

/* Empty plaintext: one whole block of padding, and a non-NULL buffer of zero length back. */
static void
test_empty(void **state)
{
	(void)state;
	assert_int_equal(sizeof(empty_blob), 16 + WA_MEDIA_MAC_LEN);
	known_answer(hist_key, WA_MEDIA_INFO_HISTORY, NULL, 0, empty_blob, sizeof(empty_blob), empty_enc_sha,
	    empty_sha);
	known_answer(hist_key, WA_MEDIA_INFO_HISTORY, (const uint8_t *)"", 0, empty_blob, sizeof(empty_blob),
	    empty_enc_sha, empty_sha);
}

/* Every flipped byte, in the ciphertext or the MAC, is refused by the MAC check (no hashes given) and by the
 * blob hash (given). */
static void
test_flipped_byte(void **state)
{
	uint8_t b[sizeof(hist_blob)];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(b); i++) {
		memcpy(b, hist_blob, sizeof(b));
		b[i] ^= 0x01;
		refused(hist_key, WA_MEDIA_INFO_HISTORY, b, sizeof(b), NULL, NULL, "MAC");
		refused(hist_key, WA_MEDIA_INFO_HISTORY, b, sizeof(b), hist_enc_sha, hist_sha, "fileEncSha256");
	}
}

/* A wrong expected hash, key or info string is refused. */
static void
test_wrong_inputs(void **state)
{
	uint8_t h[WA_MEDIA_SHA_LEN], k[WA_MEDIA_KEY_LEN];

	(void)state;
	memcpy(h, hist_enc_sha, sizeof(h));
	h[31] ^= 0x80;
	refused(hist_key, WA_MEDIA_INFO_HISTORY, hist_blob, sizeof(hist_blob), h, NULL, "fileEncSha256");
	memcpy(h, hist_sha, sizeof(h));
	h[0] ^= 0x01;
	refused(hist_key, WA_MEDIA_INFO_HISTORY, hist_blob, sizeof(hist_blob), hist_enc_sha, h, "fileSha256");
	refused(hist_key, WA_MEDIA_INFO_HISTORY, hist_blob, sizeof(hist_blob), NULL, h, "fileSha256");
	/* the other vector's hashes: each is a real SHA-256, just not this blob's */
	refused(hist_key, WA_MEDIA_INFO_HISTORY, hist_blob, sizeof(hist_blob), NULL, img_sha, "fileSha256");
	refused(hist_key, INFO_IMAGE, hist_blob, sizeof(hist_blob), NULL, NULL, "MAC");
	memcpy(k, hist_key, sizeof(k));
	k[5] ^= 0x20;
	refused(k, WA_MEDIA_INFO_HISTORY, hist_blob, sizeof(hist_blob), NULL, NULL, "MAC");
	refused(hist_key, NULL, hist_blob, sizeof(hist_blob), NULL, NULL, NULL);
}

/* Lengths that are not 10 + a non-zero multiple of 16, including a whole block cut off (MAC then wrong). */
static void
test_truncated(void **state)
{
	static const size_t lens[] = { 0, 1, 9, 10, 16, 25, 27, 41, 57 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		refused(hist_key, WA_MEDIA_INFO_HISTORY, hist_blob, lens[i], NULL, NULL, "length");
	refused(hist_key, WA_MEDIA_INFO_HISTORY, NULL, 0, NULL, NULL, "length");
	refused(hist_key, WA_MEDIA_INFO_HISTORY, hist_blob, sizeof(hist_blob) - 16, NULL, NULL, "MAC");
	refused(hist_key, WA_MEDIA_INFO_HISTORY, hist_blob + 16, sizeof(hist_blob) - 16, NULL, NULL, "MAC");
}

/* Blobs with a valid MAC over a ciphertext whose padding is wrong: last byte 0, last byte 17, and pad bytes
 * that disagree. The error names the padding, so the MAC did pass. */
static void
test_bad_padding(void **state)
{
	(void)state;
	refused(hist_key, WA_MEDIA_INFO_HISTORY, pad_zero_blob, sizeof(pad_zero_blob), NULL, NULL, "padding");
	refused(hist_key, WA_MEDIA_INFO_HISTORY, pad_big_blob, sizeof(pad_big_blob), NULL, NULL, "padding");
	refused(hist_key, WA_MEDIA_INFO_HISTORY, pad_uneven_blob, sizeof(pad_uneven_blob), NULL, NULL, "padding");
}

/* Every length across three blocks round-trips, and the blob is always 10 + the padded length. */
static void
test_roundtrip_lengths(void **state)
{
	uint8_t plain[50], *b, *p, es[WA_MEDIA_SHA_LEN], s[WA_MEDIA_SHA_LEN];
	size_t len, blen, plen;
	char err[128];

	(void)state;
	for (len = 0; len < sizeof(plain); len++)
		plain[len] = (uint8_t)(len * 37 + 11);
	for (len = 0; len <= sizeof(plain); len++) {
		assert_int_equal(wa_media_encrypt(img_key, INFO_IMAGE, plain, len, &b, &blen, es, s, err,
		    sizeof(err)), 0);
		assert_int_equal(blen, (len / 16 + 1) * 16 + WA_MEDIA_MAC_LEN);
		assert_int_equal(wa_media_decrypt(img_key, INFO_IMAGE, b, blen, es, s, &p, &plen, err, sizeof(err)),
		    0);
		assert_int_equal(plen, len);
		if (len > 0)
			assert_memory_equal(p, plain, len);
		free(p);
		free(b);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_history_vector),
		cmocka_unit_test(test_image_vector),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_flipped_byte),
		cmocka_unit_test(test_wrong_inputs),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_bad_padding),
		cmocka_unit_test(test_roundtrip_lengths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
