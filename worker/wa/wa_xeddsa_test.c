/* curve25519 (XEdDSA) signature tests: a known answer made with libsignal-protocol-c; our signer is
 * byte-identical to libsignal's curve25519_sign for the same randomness (ordinary and extreme keys, every
 * message length class); each side verifies the other's signatures and refuses tampered ones.
 * "wa_xeddsa_test ct" instead signs, and derives X25519 public keys, with secrets that valgrind's memcheck
 * tracks (meson test wa-xeddsa-ct). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <signal/curve.h>
#include <signal/signal_protocol.h>

#include "wa_noise.h"
#include "wa_signal_check.h"
#include "wa_xeddsa.h"

#ifdef HAVE_VALGRIND_MEMCHECK_H
#include <valgrind/memcheck.h>
#else
#define VALGRIND_MAKE_MEM_UNDEFINED(p, n) ((void)(p), (void)(n))
#define VALGRIND_MAKE_MEM_DEFINED(p, n) ((void)(p), (void)(n))
#endif

/* libsignal-protocol-c exports these (src/curve25519/ed25519/additions/curve_sigs.h) without a public
 * header; declared here only to cross-check our implementation. */
int curve25519_sign(unsigned char *signature_out, const unsigned char *curve25519_privkey,
    const unsigned char *msg, const unsigned long msg_len, const unsigned char *random);
int curve25519_verify(const unsigned char *signature, const unsigned char *curve25519_pubkey,
    const unsigned char *msg, const unsigned long msg_len);

/* The certificate KAT's root key (reference/wa-transport.md 2.9) and its intermediate Details/signature. */
static const char *root_pub_hex = "6d549fc6053adf4b0938d7435b6afd34c31e7a26413f0c211efedf3fdd31e86d";
static const char *int_details_hex =
    "080110001a2094addfef13ff57a6c93033f0c7890e6dfa6d252919ed973f2cb5f1617d6164782080e2cfaa062880ae99a40f";
static const char *int_sig_hex =
    "d67ce40e2785ea453f35c6c6063ab6f2b2b35a0f8eb611ea8dc3d92467f2585cccdd600a0a46a62084922d559c597d3b677c"
    "9bb76871c50f85ece12db98f890c";
/* A clamped private key, a message and random bytes i * 7 + 3, signed by libsignal's curve25519_sign. */
static const char *kat_priv_hex = "08ab95bc386d3c61222bb2e814b23d56f7a2b1cbbd2d24af79965bb42a697364";
static const char *kat_msg = "wagate known answer";
static const char *kat_sig_hex =
    "1d0a3b9558a07ef1bafb0bfb4f8dde256b98acfc95045dd208baa9bd8e9b6f6b44c3a161fd9765d898231348cea9c0d364ab"
    "2d13d786ea405bbe2ca3757dbb04";

/* Decode hex into buf; returns the byte count. */
static size_t
unhex(const char *s, uint8_t *buf, size_t max)
{
	size_t n = strlen(s) / 2, i;

	assert_true(n <= max);
	for (i = 0; i < n; i++) {
		unsigned v;

		assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
		buf[i] = (uint8_t)v;
	}
	return n;
}

/* The fixed known answer, and the certificate KAT's intermediate signature. */
static void
test_known_answer(void **state)
{
	uint8_t priv[32], pub[32], rnd[64], sig[64], want[64], det[64], isig[64], root[32];
	size_t dlen, i;

	(void)state;
	unhex(kat_priv_hex, priv, sizeof(priv));
	assert_int_equal(wa_noise_pubkey(priv, pub), 0);
	for (i = 0; i < sizeof(rnd); i++)
		rnd[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(wa_xeddsa_sign_with_random(priv, (const uint8_t *)kat_msg, strlen(kat_msg), rnd, sig), 0);
	assert_int_equal(unhex(kat_sig_hex, want, sizeof(want)), 64);
	assert_memory_equal(sig, want, 64);
	assert_int_equal(wa_xeddsa_verify(pub, (const uint8_t *)kat_msg, strlen(kat_msg), sig), 0);
	/* deterministic for the same randomness */
	assert_int_equal(wa_xeddsa_sign_with_random(priv, (const uint8_t *)kat_msg, strlen(kat_msg), rnd, want), 0);
	assert_memory_equal(sig, want, 64);

	unhex(root_pub_hex, root, sizeof(root));
	dlen = unhex(int_details_hex, det, sizeof(det));
	unhex(int_sig_hex, isig, sizeof(isig));
	assert_int_equal(wa_xeddsa_verify(root, det, dlen, isig), 0);
	assert_int_equal(signal_verify(root, det, dlen, isig), 1);
	det[0] ^= 1;
	assert_int_equal(wa_xeddsa_verify(root, det, dlen, isig), -1);
}

/* Our signer equals libsignal's curve25519_sign for the same randomness, and each verifies the other. */
static void
test_sign_crosscheck(void **state)
{
	uint8_t priv[32], pub[32], rnd[64], mine[64], theirs[64], msg[300];
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 13 + 1);
	for (i = 0; i < 8; i++) {
		len = i * 37;
		assert_int_equal(wa_xeddsa_keypair_generate(priv, pub), 0);
		memset(rnd, (int)i, sizeof(rnd));
		assert_int_equal(wa_xeddsa_sign_with_random(priv, msg, len, rnd, mine), 0);
		assert_int_equal(curve25519_sign(theirs, priv, msg, len, rnd), 0);
		assert_memory_equal(mine, theirs, 64);
		assert_int_equal(curve25519_verify(mine, pub, msg, len), 0);
		assert_int_equal(wa_xeddsa_verify(pub, msg, len, theirs), 0);
		assert_int_equal(signal_verify(pub, msg, len, mine), 1);
		/* random nonce: still valid for both */
		assert_int_equal(wa_xeddsa_sign(priv, msg, len, mine), 0);
		assert_int_equal(signal_verify(pub, msg, len, mine), 1);
		assert_int_equal(wa_xeddsa_verify(pub, msg, len, mine), 0);
		/* a flipped bit anywhere (message, R, S, sign bit) is refused by both */
		mine[(i * 9) % 64] ^= (uint8_t)(1u << (i % 8));
		assert_int_equal(wa_xeddsa_verify(pub, msg, len, mine), -1);
		assert_int_equal(signal_verify(pub, msg, len, mine), 0);
		mine[(i * 9) % 64] ^= (uint8_t)(1u << (i % 8));
		if (len > 0) {
			msg[0] ^= 0x80;
			assert_int_equal(wa_xeddsa_verify(pub, msg, len, mine), -1);
			msg[0] ^= 0x80;
		}
		/* wrong key */
		memset(theirs, 0x42, 32);
		assert_int_equal(wa_noise_pubkey(theirs, theirs), 0);
		assert_int_equal(wa_xeddsa_verify(theirs, msg, len, mine), -1);
	}
	/* S with high bits set is refused (libsignal rejects sig[63] & 0x60) */
	assert_int_equal(wa_xeddsa_sign(priv, msg, 10, mine), 0);
	mine[63] |= 0x40;
	assert_int_equal(wa_xeddsa_verify(pub, msg, 10, mine), -1);
}

/* Keys at the edges of the clamped range (few or many bits set, alternating patterns) and nonces from
 * all-zero and all-one randomness still match libsignal byte for byte: the ladder and the reduction
 * have no special cases. */
static void
test_extreme_keys(void **state)
{
	static const uint8_t fills[] = { 0x00, 0xff, 0x55, 0xaa, 0x01, 0x80 };
	uint8_t priv[32], pub[32], rnd[64], mine[64], theirs[64], msg[64];
	size_t i, j;

	(void)state;
	memset(msg, 0x5a, sizeof(msg));
	for (i = 0; i < sizeof(fills); i++) {
		for (j = 0; j < 2; j++) {
			memset(priv, fills[i], sizeof(priv));
			priv[0] &= 248;
			priv[31] &= 127;
			priv[31] |= 64;
			assert_int_equal(wa_noise_pubkey(priv, pub), 0);
			memset(rnd, j == 0 ? 0x00 : 0xff, sizeof(rnd));
			assert_int_equal(wa_xeddsa_sign_with_random(priv, msg, i * 11, rnd, mine), 0);
			assert_int_equal(curve25519_sign(theirs, priv, msg, i * 11, rnd), 0);
			assert_memory_equal(mine, theirs, 64);
			assert_int_equal(wa_xeddsa_verify(pub, msg, i * 11, mine), 0);
			assert_int_equal(curve25519_verify(mine, pub, msg, i * 11), 0);
		}
	}
}

/* Sign with the private key and the nonce randomness marked undefined for valgrind's memcheck, which then
 * reports every branch and memory index that depends on them: the constant-time claim of wa_xeddsa.h,
 * checked on the machine code; the same for X25519 (wa_noise_pubkey: the ladder of wa_noise.c). Outside
 * valgrind this only signs and derives. 0 if every signature verifies and every public key matches. */
static int
ct_check(void)
{
	uint8_t priv[32], pub[32], pub2[32], rnd[64], sig[64], msg[100];
	int i, bad = 0;

	memset(msg, 0x33, sizeof(msg));
	for (i = 0; i < 4; i++) {
		memset(priv, 0x11 * (i + 1), sizeof(priv));
		priv[0] &= 248;
		priv[31] &= 127;
		priv[31] |= 64;
		if (wa_noise_pubkey(priv, pub) != 0)
			return 1;
		memset(rnd, 0x5c * i, sizeof(rnd));
		VALGRIND_MAKE_MEM_UNDEFINED(priv, sizeof(priv));
		VALGRIND_MAKE_MEM_UNDEFINED(rnd, sizeof(rnd));
		if (wa_noise_pubkey(priv, pub2) != 0)
			return 1;
		/* a public key is public */
		VALGRIND_MAKE_MEM_DEFINED(pub2, sizeof(pub2));
		bad |= memcmp(pub, pub2, sizeof(pub)) != 0;
		if (wa_xeddsa_sign_with_random(priv, msg, (size_t)i * 30, rnd, sig) != 0)
			return 1;
		/* the signature is public */
		VALGRIND_MAKE_MEM_DEFINED(sig, sizeof(sig));
		bad |= wa_xeddsa_verify(pub, msg, (size_t)i * 30, sig) != 0;
	}
	return bad;
}

int
main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "ct") == 0)
		return ct_check();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_answer),
		cmocka_unit_test(test_sign_crosscheck),
		cmocka_unit_test(test_extreme_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
