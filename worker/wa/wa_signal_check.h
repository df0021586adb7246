/* Test-only: check a curve25519 (XEdDSA) signature with libsignal-protocol-c's public API, the library the
 * Signal layer will use, so our own signer and the ADV code are held to its verifier. Include after cmocka.h
 * (it asserts) and link signal_dep. */
#ifndef WAGATE_WA_SIGNAL_CHECK_H
#define WAGATE_WA_SIGNAL_CHECK_H

#include <signal/curve.h>
#include <signal/signal_protocol.h>

#include <stdint.h>
#include <string.h>

/* curve_decode_point(0x05 || pub) + curve_verify_signature: 1 valid, 0 invalid. */
static int
signal_verify(const uint8_t pub[32], const uint8_t *msg, size_t len, const uint8_t sig[64])
{
	signal_context *ctx = NULL;
	ec_public_key *key = NULL;
	uint8_t buf[33];
	int rc;

	assert_int_equal(signal_context_create(&ctx, NULL), 0);
	buf[0] = 0x05;
	memcpy(buf + 1, pub, 32);
	assert_int_equal(curve_decode_point(&key, buf, sizeof(buf), ctx), 0);
	rc = curve_verify_signature(key, msg, len, sig, 64);
	SIGNAL_UNREF(key);
	signal_context_destroy(ctx);
	return rc;
}

#endif
