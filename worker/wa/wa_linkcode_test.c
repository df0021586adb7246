/* Link-code crypto tests: mbedTLS called the way wa_linkcode.c calls it gives the RFC/NIST answers; fixed-input
 * vectors computed independently (Python hashlib + cryptography, see the note at each) unwrap and finish
 * byte for byte; codes, round trips and every refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <mbedtls/gcm.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>

#include "wa_linkcode.h"
#include "wa_noise.h"

static const char alphabet[] = "123456789ABCDEFGHJKLMNPQRSTVWXYZ";

/* Decode hex into buf (exactly n bytes). */
static void
unhex(const char *s, uint8_t *buf, size_t n)
{
	size_t i;

	assert_int_equal(strlen(s), 2 * n);
	for (i = 0; i < n; i++) {
		unsigned v;

		assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
		buf[i] = (uint8_t)v;
	}
}

/* Fill a 32-byte key with base, base+1, ... (the Python generator uses the same). */
static void
seq32(uint8_t k[32], uint8_t base)
{
	int i;

	for (i = 0; i < 32; i++)
		k[i] = (uint8_t)(base + i);
}

/* PBKDF2-HMAC-SHA256 as lc_code_key calls it (md context with HMAC). */
static void
pbkdf2(const char *pw, const char *salt, unsigned iter, uint8_t *out, size_t outlen)
{
	mbedtls_md_context_t ctx;

	mbedtls_md_init(&ctx);
	assert_int_equal(mbedtls_md_setup(&ctx, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1), 0);
	assert_int_equal(mbedtls_pkcs5_pbkdf2_hmac(&ctx, (const unsigned char *)pw, strlen(pw),
	    (const unsigned char *)salt, strlen(salt), iter, (uint32_t)outlen, out), 0);
	mbedtls_md_free(&ctx);
}

/* PBKDF2-HMAC-SHA256 vectors (the RFC 6070 inputs with SHA-256, and RFC 7914 section 11). */
static void
test_kat_pbkdf2(void **state)
{
	uint8_t got[64], want[64];

	(void)state;
	pbkdf2("password", "salt", 1, got, 32);
	unhex("120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b", want, 32);
	assert_memory_equal(got, want, 32);
	pbkdf2("password", "salt", 2, got, 32);
	unhex("ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43", want, 32);
	assert_memory_equal(got, want, 32);
	pbkdf2("password", "salt", 4096, got, 32);
	unhex("c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a", want, 32);
	assert_memory_equal(got, want, 32);
	pbkdf2("passwd", "salt", 1, got, 64);
	unhex("55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
	    "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783", want, 64);
	assert_memory_equal(got, want, 64);
}

/* RFC 5869 test case 1, through mbedtls_hkdf as lc_hkdf calls it. */
static void
test_kat_hkdf(void **state)
{
	uint8_t ikm[22], salt[13], info[10], got[42], want[42];
	size_t i;

	(void)state;
	memset(ikm, 0x0b, sizeof(ikm));
	for (i = 0; i < sizeof(salt); i++)
		salt[i] = (uint8_t)i;
	for (i = 0; i < sizeof(info); i++)
		info[i] = (uint8_t)(0xf0 + i);
	assert_int_equal(mbedtls_hkdf(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), salt, sizeof(salt), ikm,
	    sizeof(ikm), info, sizeof(info), got, sizeof(got)), 0);
	unhex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865", want, 42);
	assert_memory_equal(got, want, 42);
}

/* GCM spec (McGrew-Viega) test case 15: AES-256, 96-bit IV, no additional data, as the bundle uses it. */
static void
test_kat_gcm(void **state)
{
	mbedtls_gcm_context g;
	uint8_t key[32], iv[12], pt[64], ct[64], tag[16], want[80], back[64];

	(void)state;
	unhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", key, 32);
	unhex("cafebabefacedbaddecaf888", iv, 12);
	unhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255", pt, 64);
	unhex("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad"
	    "b094dac5d93471bdec1a502270e3cc6c", want, 80);
	mbedtls_gcm_init(&g);
	assert_int_equal(mbedtls_gcm_setkey(&g, MBEDTLS_CIPHER_ID_AES, key, 256), 0);
	assert_int_equal(mbedtls_gcm_crypt_and_tag(&g, MBEDTLS_GCM_ENCRYPT, 64, iv, 12, NULL, 0, pt, ct, 16,
	    tag), 0);
	assert_memory_equal(ct, want, 64);
	assert_memory_equal(tag, want + 64, 16);
	assert_int_equal(mbedtls_gcm_auth_decrypt(&g, 64, iv, 12, NULL, 0, tag, 16, ct, back), 0);
	assert_memory_equal(back, pt, 64);
	tag[0] ^= 1;
	assert_int_not_equal(mbedtls_gcm_auth_decrypt(&g, 64, iv, 12, NULL, 0, tag, 16, ct, back), 0);
	mbedtls_gcm_free(&g);
}

/* Codes: 8 characters of the alphabet; validation; normalization. */
static void
test_codes(void **state)
{
	char code[WA_LINKCODE_LEN + 1], out[WA_LINKCODE_LEN + 1];
	int seen[32] = { 0 }, i, j, n = 0;

	(void)state;
	for (i = 0; i < 200; i++) {
		assert_int_equal(wa_linkcode_generate(code), 0);
		assert_int_equal(strlen(code), WA_LINKCODE_LEN);
		assert_true(wa_linkcode_valid(code));
		for (j = 0; j < WA_LINKCODE_LEN; j++) {
			const char *p = strchr(alphabet, code[j]);

			assert_non_null(p);
			seen[p - alphabet] = 1;
		}
	}
	for (i = 0; i < 32; i++)
		n += seen[i];
	assert_true(n > 28);	/* 1600 draws over 32 symbols: all but a freak run hit every one */

	assert_true(wa_linkcode_valid("R6J2PQ8T"));
	assert_false(wa_linkcode_valid("R6J2PQ8"));
	assert_false(wa_linkcode_valid("R6J2PQ8TX"));
	assert_false(wa_linkcode_valid("R6J2-PQ8"));
	assert_false(wa_linkcode_valid("r6j2pq8t"));
	assert_false(wa_linkcode_valid("R6J2PQ80"));	/* 0, I, O, U are not in the alphabet */
	assert_false(wa_linkcode_valid("R6J2PQ8I"));
	assert_false(wa_linkcode_valid("R6J2PQ8O"));
	assert_false(wa_linkcode_valid("R6J2PQ8U"));
	assert_false(wa_linkcode_valid(""));
	assert_false(wa_linkcode_valid(NULL));

	assert_int_equal(wa_linkcode_normalize("r6j2-pq8t", out), 0);
	assert_string_equal(out, "R6J2PQ8T");
	assert_int_equal(wa_linkcode_normalize(" R6J2 PQ8T ", out), 0);
	assert_string_equal(out, "R6J2PQ8T");
	assert_int_equal(wa_linkcode_normalize("R6J2PQ8T", out), 0);
	assert_string_equal(out, "R6J2PQ8T");
	assert_int_equal(wa_linkcode_normalize("R6J2-PQ8", out), -1);
	assert_int_equal(wa_linkcode_normalize("R6J2-PQ8TT", out), -1);
	assert_int_equal(wa_linkcode_normalize("R6J2-PQ8TTTTTTTTTTTTTTTTTTTTTTTTTTTTT", out), -1);
	assert_int_equal(wa_linkcode_normalize("R6J2-PQ0T", out), -1);
	assert_int_equal(wa_linkcode_normalize("R6J2_PQ8T", out), -1);
	assert_int_equal(wa_linkcode_normalize("", out), -1);
	assert_int_equal(wa_linkcode_normalize(NULL, out), -1);
}

/*
 * Independent vectors, computed once with Python 3 (hashlib.pbkdf2_hmac, cryptography's HKDF, AES-CTR,
 * AESGCM and X25519), following whatsmeow pair-code.go:
 *   code "R6J2PQ8T", salt 00..1f, iv 10 ff*15 (the counter carries across the whole block),
 *   companion ephemeral priv 40..5f, primary ephemeral priv 80..9f, companion identity priv 20..3f,
 *   primary identity priv a0..bf, bundle salt 33*32, nonce 50..5b, adv random 77 76 .. 58.
 */
static const char *v_ceph_pub = "79a631eede1bf9c98f12032cdeadd0e7a079398fc786b88cc846ec89af85a51a";
static const char *v_wrapped =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f10ffffffffffffffffffffffffffffff"
    "2aaad2810447ca62a34f207423d3ed6366bfd8d7e7c85c8a4358257091e94696";
static const char *v_peph_pub = "493e82fc74464a59268817623d2053c5eb8e2cc4a988b4fee179ec6b010d531d";
static const char *v_cid_pub = "358072d6365880d1aeea329adf9121383851ed21a28e3b75e965d0d2cd166254";
static const char *v_pid_pub = "605a725d2a4adfeeb1a29e17edd621c1b7593ee8cdbc44ac6c4ab6e2f805d23c";
static const char *v_bundle =
    "3333333333333333333333333333333333333333333333333333333333333333505152535455565758595a5b48e3cf32"
    "4717560132eb4bb9e055bbe477c33437bc1ca22919e42999aefc3a15965b8e3f2b0f6d9a4d4958eddb76f5f5c7d8d64a"
    "3cb7342bc6b5822277bf1f16a91fd3ae65bdda271fe51137252e74e9095d1cae533b4a186a92b7780b04a7070d3a445c"
    "bf8b080be3bca5031f52272f";
static const char *v_adv = "cb4badd1e1828ef7b635d44374f5b8a6e9b821095c581aadfb6fe44dcb6488b6";

/* The fixed wrap unwraps to the companion's ephemeral key; the fixed bundle finishes on the primary. */
static void
test_vectors(void **state)
{
	uint8_t wrapped[80], bundle[156], want[32], got[32], priv[32], ppriv[32], pub[32], adv[32];
	char err[128];

	(void)state;
	unhex(v_wrapped, wrapped, 80);
	unhex(v_ceph_pub, want, 32);
	seq32(priv, 0x40);
	assert_int_equal(wa_noise_pubkey(priv, pub), 0);
	assert_memory_equal(pub, want, 32);
	assert_int_equal(wa_linkcode_unwrap("R6J2PQ8T", wrapped, sizeof(wrapped), got), 0);
	assert_memory_equal(got, want, 32);

	unhex(v_bundle, bundle, 156);
	seq32(priv, 0x80);	/* primary ephemeral */
	assert_int_equal(wa_noise_pubkey(priv, pub), 0);
	unhex(v_peph_pub, want, 32);
	assert_memory_equal(pub, want, 32);
	seq32(ppriv, 0xa0);	/* primary identity */
	assert_int_equal(wa_noise_pubkey(ppriv, pub), 0);
	unhex(v_pid_pub, want, 32);
	assert_memory_equal(pub, want, 32);
	unhex(v_ceph_pub, want, 32);
	assert_int_equal(wa_linkcode_primary_finish(priv, want, ppriv, pub, bundle, sizeof(bundle), got, adv, err,
	    sizeof(err)), 0);
	unhex(v_cid_pub, want, 32);
	assert_memory_equal(got, want, 32);
	unhex(v_adv, want, 32);
	assert_memory_equal(adv, want, 32);
}

/* wrap/unwrap round trip; a wrong code gives another key; bad arguments are refused. */
static void
test_wrap(void **state)
{
	uint8_t priv[32], pub[32], w[WA_LINKCODE_WRAPPED_LEN], w2[WA_LINKCODE_WRAPPED_LEN], got[32];
	char code[WA_LINKCODE_LEN + 1], other[WA_LINKCODE_LEN + 1];

	(void)state;
	assert_int_equal(wa_noise_keypair_generate(priv, pub), 0);
	assert_int_equal(wa_linkcode_generate(code), 0);
	assert_int_equal(wa_linkcode_wrap(code, pub, w), 0);
	assert_memory_not_equal(w + 48, pub, 32);
	assert_int_equal(wa_linkcode_unwrap(code, w, sizeof(w), got), 0);
	assert_memory_equal(got, pub, 32);
	/* fresh salt and iv each time */
	assert_int_equal(wa_linkcode_wrap(code, pub, w2), 0);
	assert_memory_not_equal(w, w2, 48);
	/* whatsmeow reads the first 80 bytes of a longer field */
	{
		uint8_t longer[81];

		memcpy(longer, w, 80);
		longer[80] = 0xaa;
		assert_int_equal(wa_linkcode_unwrap(code, longer, sizeof(longer), got), 0);
		assert_memory_equal(got, pub, 32);
	}
	/* a wrong code (one character changed) gives a different key */
	memcpy(other, code, sizeof(other));
	other[3] = other[3] == 'A' ? 'B' : 'A';
	assert_int_equal(wa_linkcode_unwrap(other, w, sizeof(w), got), 0);
	assert_memory_not_equal(got, pub, 32);
	/* refusals */
	assert_int_equal(wa_linkcode_unwrap(code, w, 79, got), -1);
	assert_int_equal(wa_linkcode_unwrap(code, NULL, 80, got), -1);
	assert_int_equal(wa_linkcode_unwrap("r6j2pq8t", w, 80, got), -1);
	assert_int_equal(wa_linkcode_wrap("R6J2-PQ8T", pub, w2), -1);
	assert_int_equal(wa_linkcode_wrap("R6J2PQ8", pub, w2), -1);
}

/* Both sides of a whole exchange; then a tampered bundle, a bundle for another primary, a wrong code. */
static void
test_exchange(void **state)
{
	uint8_t c_eph[32], c_eph_pub[32], p_eph[32], p_eph_pub[32], c_id[32], c_id_pub[32], p_id[32], p_id_pub[32];
	uint8_t x_id[32], x_id_pub[32], w[80], got_c_eph[32], got_p_eph[32], adv_c[32], adv_p[32], cid[32];
	uint8_t *bundle = NULL;
	size_t blen, i;
	char code[WA_LINKCODE_LEN + 1], typed[WA_LINKCODE_LEN + 1], err[128];

	(void)state;
	assert_int_equal(wa_noise_keypair_generate(c_eph, c_eph_pub), 0);
	assert_int_equal(wa_noise_keypair_generate(p_eph, p_eph_pub), 0);
	assert_int_equal(wa_noise_keypair_generate(c_id, c_id_pub), 0);
	assert_int_equal(wa_noise_keypair_generate(p_id, p_id_pub), 0);
	assert_int_equal(wa_noise_keypair_generate(x_id, x_id_pub), 0);

	/* companion_hello; the phone's user types the code shown as XXXX-XXXX, in lower case */
	assert_int_equal(wa_linkcode_generate(code), 0);
	assert_int_equal(wa_linkcode_wrap(code, c_eph_pub, w), 0);
	snprintf(typed, sizeof(typed), "%s", code);
	for (i = 0; i < WA_LINKCODE_LEN; i++)
		if (typed[i] >= 'A' && typed[i] <= 'Z')
			typed[i] = (char)(typed[i] - 'A' + 'a');
	{
		char dashed[16], norm[WA_LINKCODE_LEN + 1];

		snprintf(dashed, sizeof(dashed), "%.4s-%.4s", typed, typed + 4);
		assert_int_equal(wa_linkcode_normalize(dashed, norm), 0);
		assert_string_equal(norm, code);
		assert_int_equal(wa_linkcode_unwrap(norm, w, sizeof(w), got_c_eph), 0);
	}
	assert_memory_equal(got_c_eph, c_eph_pub, 32);
	/* primary_hello */
	assert_int_equal(wa_linkcode_wrap(code, p_eph_pub, w), 0);
	assert_int_equal(wa_linkcode_unwrap(code, w, sizeof(w), got_p_eph), 0);
	assert_memory_equal(got_p_eph, p_eph_pub, 32);
	/* companion_finish */
	assert_int_equal(wa_linkcode_companion_finish(c_eph, got_p_eph, c_id, c_id_pub, p_id_pub, &bundle, &blen,
	    adv_c), 0);
	assert_non_null(bundle);
	assert_int_equal(blen, WA_LINKCODE_BUNDLE_LEN);
	assert_int_equal(wa_linkcode_primary_finish(p_eph, got_c_eph, p_id, p_id_pub, bundle, blen, cid, adv_p, err,
	    sizeof(err)), 0);
	assert_memory_equal(cid, c_id_pub, 32);
	assert_memory_equal(adv_c, adv_p, 32);

	/* every flipped bit of the bundle is refused (the salt feeds the key, the rest is GCM) */
	for (i = 0; i < blen * 8; i += 7) {
		bundle[i / 8] ^= (uint8_t)(1u << (i % 8));
		err[0] = '\0';
		assert_int_equal(wa_linkcode_primary_finish(p_eph, got_c_eph, p_id, p_id_pub, bundle, blen, cid,
		    adv_p, err, sizeof(err)), -1);
		assert_true(err[0] != '\0');
		bundle[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	/* wrong lengths */
	assert_int_equal(wa_linkcode_primary_finish(p_eph, got_c_eph, p_id, p_id_pub, bundle, blen - 1, cid, adv_p,
	    err, sizeof(err)), -1);
	assert_int_equal(wa_linkcode_primary_finish(p_eph, got_c_eph, p_id, p_id_pub, NULL, 0, cid, adv_p,
	    err, sizeof(err)), -1);
	free(bundle);

	/* a bundle naming another primary identity is refused even though it decrypts */
	assert_int_equal(wa_linkcode_companion_finish(c_eph, got_p_eph, c_id, c_id_pub, x_id_pub, &bundle, &blen,
	    adv_c), 0);
	assert_int_equal(wa_linkcode_primary_finish(p_eph, got_c_eph, p_id, p_id_pub, bundle, blen, cid, adv_p, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "another primary"));
	free(bundle);

	/* a wrong code: the phone unwraps a different companion key, the bundle does not decrypt */
	{
		char other[WA_LINKCODE_LEN + 1];
		uint8_t bad_c_eph[32];

		assert_int_equal(wa_linkcode_wrap(code, c_eph_pub, w), 0);
		memcpy(other, code, sizeof(other));
		other[0] = other[0] == 'Z' ? 'Y' : 'Z';
		assert_int_equal(wa_linkcode_unwrap(other, w, sizeof(w), bad_c_eph), 0);
		assert_int_equal(wa_linkcode_companion_finish(c_eph, got_p_eph, c_id, c_id_pub, p_id_pub, &bundle,
		    &blen, adv_c), 0);
		if (wa_noise_dh(p_eph, bad_c_eph, x_id) == 0)	/* a random point, almost surely fine */
			assert_int_equal(wa_linkcode_primary_finish(p_eph, bad_c_eph, p_id, p_id_pub, bundle, blen,
			    cid, adv_p, err, sizeof(err)), -1);
		free(bundle);
	}

	/* an all-zero (low order) ephemeral key is refused, not turned into a zero secret */
	memset(got_p_eph, 0, sizeof(got_p_eph));
	assert_int_equal(wa_linkcode_companion_finish(c_eph, got_p_eph, c_id, c_id_pub, p_id_pub, &bundle, &blen,
	    adv_c), -1);
	assert_null(bundle);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kat_pbkdf2),
		cmocka_unit_test(test_kat_hkdf),
		cmocka_unit_test(test_kat_gcm),
		cmocka_unit_test(test_codes),
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_wrap),
		cmocka_unit_test(test_exchange),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
