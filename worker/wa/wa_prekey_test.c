/* wa_prekey: records load with libsignal-protocol-c and give back the same id and keys; the signed prekey
 * signature verifies with curve_verify_signature; our decoder reads libsignal's own serialization and
 * refuses broken records. */
#include "wa_prekey.h"
#include "wa_noise.h"

#include <signal/curve.h>
#include <signal/session_pre_key.h>
#include <signal/signal_protocol.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* The 33-byte and 32-byte serializations of a libsignal key pair. */
static void
check_pair(ec_key_pair *kp, const uint8_t pub[32], const uint8_t priv[32])
{
	signal_buffer *b = NULL;

	assert_int_equal(ec_public_key_serialize(&b, ec_key_pair_get_public(kp)), 0);
	assert_int_equal(signal_buffer_len(b), 33);
	assert_int_equal(signal_buffer_data(b)[0], 0x05);
	assert_memory_equal(signal_buffer_data(b) + 1, pub, 32);
	signal_buffer_free(b);
	assert_int_equal(ec_private_key_serialize(&b, ec_key_pair_get_private(kp)), 0);
	assert_int_equal(signal_buffer_len(b), 32);
	assert_memory_equal(signal_buffer_data(b), priv, 32);
	signal_buffer_bzero_free(b);
}

static void
test_prekey_libsignal(void **state)
{
	signal_context *ctx = NULL;
	session_pre_key *pk = NULL;
	struct wa_prekey k, back;
	signal_buffer *ser = NULL;
	uint8_t *rec;
	size_t len;

	(void)state;
	assert_int_equal(signal_context_create(&ctx, NULL), 0);
	assert_int_equal(wa_prekey_generate(812, &k), 0);
	assert_int_equal(wa_prekey_encode(&k, &rec, &len), 0);
	assert_int_equal(session_pre_key_deserialize(&pk, rec, len, ctx), 0);
	assert_int_equal(session_pre_key_get_id(pk), 812);
	check_pair(session_pre_key_get_key_pair(pk), k.pub, k.priv);
	/* and back: libsignal's serialization reads with our decoder */
	assert_int_equal(session_pre_key_serialize(&ser, pk), 0);
	assert_int_equal(wa_prekey_decode(signal_buffer_data(ser), signal_buffer_len(ser), &back), 0);
	assert_int_equal(back.id, 812);
	assert_memory_equal(back.pub, k.pub, 32);
	assert_memory_equal(back.priv, k.priv, 32);
	assert_int_equal(wa_prekey_decode(rec, len, &back), 0);
	signal_buffer_bzero_free(ser);
	SIGNAL_UNREF(pk);
	free(rec);
	signal_context_destroy(ctx);
}

static void
test_signed_prekey_libsignal(void **state)
{
	signal_context *ctx = NULL;
	session_signed_pre_key *spk = NULL;
	struct wa_signed_prekey k, back;
	uint8_t ipriv[32], ipub[32], ipub33[33], msg[33], *rec;
	ec_public_key *ik = NULL;
	size_t len;

	(void)state;
	assert_int_equal(signal_context_create(&ctx, NULL), 0);
	assert_int_equal(wa_noise_keypair_generate(ipriv, ipub), 0);
	assert_int_equal(wa_prekey_signed_generate(1, ipriv, 1700000000123ull, &k), 0);
	assert_int_equal(wa_prekey_signed_verify(&k, ipub), 0);
	assert_int_equal(wa_prekey_signed_encode(&k, &rec, &len), 0);
	assert_int_equal(session_signed_pre_key_deserialize(&spk, rec, len, ctx), 0);
	assert_int_equal(session_signed_pre_key_get_id(spk), 1);
	assert_true(session_signed_pre_key_get_timestamp(spk) == 1700000000123ull);
	check_pair(session_signed_pre_key_get_key_pair(spk), k.pub, k.priv);
	assert_int_equal(session_signed_pre_key_get_signature_len(spk), 64);
	assert_memory_equal(session_signed_pre_key_get_signature(spk), k.sig, 64);
	/* the signature is over 0x05 || pub with the identity key, as libsignal checks it */
	ipub33[0] = 0x05;
	memcpy(ipub33 + 1, ipub, 32);
	assert_int_equal(curve_decode_point(&ik, ipub33, sizeof(ipub33), ctx), 0);
	msg[0] = 0x05;
	memcpy(msg + 1, k.pub, 32);
	assert_int_equal(curve_verify_signature(ik, msg, sizeof(msg), k.sig, 64), 1);
	msg[5] ^= 1;
	assert_int_not_equal(curve_verify_signature(ik, msg, sizeof(msg), k.sig, 64), 1);
	assert_int_equal(wa_prekey_signed_decode(rec, len, &back), 0);
	assert_int_equal(back.id, 1);
	assert_memory_equal(back.sig, k.sig, 64);
	assert_true(back.timestamp == 1700000000123ull);
	/* a wrong identity does not verify */
	ipub[0] ^= 1;
	assert_int_equal(wa_prekey_signed_verify(&k, ipub), -1);
	SIGNAL_UNREF(ik);
	SIGNAL_UNREF(spk);
	free(rec);
	signal_context_destroy(ctx);
}

static void
test_garbage(void **state)
{
	struct wa_prekey k, back;
	struct wa_signed_prekey sk;
	uint8_t *rec, bad[128];
	size_t len, i;

	(void)state;
	assert_int_equal(wa_prekey_generate(5, &k), 0);
	assert_int_equal(wa_prekey_encode(&k, &rec, &len), 0);
	/* every truncation is refused */
	for (i = 0; i < len; i++)
		assert_int_equal(wa_prekey_decode(rec, i, &back), -1);
	/* a public key that is not the private key's */
	memcpy(bad, rec, len);
	bad[len - 40] ^= 1;
	assert_int_equal(wa_prekey_decode(bad, len, &back), -1);
	/* a prekey record is not a signed prekey record */
	assert_int_equal(wa_prekey_signed_decode(rec, len, &sk), -1);
	/* id 0 and ids beyond 3 bytes */
	assert_int_equal(wa_prekey_generate(0, &k), -1);
	assert_int_equal(wa_prekey_generate(WA_PREKEY_ID_MAX + 1, &k), -1);
	/* random bytes */
	for (i = 0; i < sizeof(bad); i++)
		bad[i] = (uint8_t)(i * 37 + 11);
	assert_int_equal(wa_prekey_decode(bad, sizeof(bad), &back), -1);
	free(rec);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prekey_libsignal),
		cmocka_unit_test(test_signed_prekey_libsignal),
		cmocka_unit_test(test_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
