/* Known-answer tests for the Noise layer: the transcript of reference/wa-transport.md section 2.9
 * reproduced byte for byte (step by step on wa_noise, then through wa_handshake and wa_frame), and the
 * transport cipher KATs; X25519 against RFC 7748's vectors and libsignal-protocol-c. */
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

#include "random.h"
#include "wa_frame.h"
#include "wa_handshake.h"
#include "wa_noise.h"

#define KAT_NOW 1800000000u	/* inside the KAT chain's validity */

static const char *e_c_priv = "863902cfa4533a85959d2ed1b83eb093397598e108feceda754e54bfa0d4a48f";
static const char *e_c_pub = "149449808d4e9eb554ccea4b5b7fa0288108c5e6a5046f0988aaf68dd05b3b4f";
static const char *s_c_priv = "27f78af77a6333d128e1f82c5fa0801fb09df662c3657e4ec1fa73176bf61d78";
static const char *s_c_pub = "9631becd50c402cb51e6b238699bf9abc50ce7565ee68456ead5af4c0cdd562e";
static const char *e_s_priv = "f4bf2939416049055ac33c583a8de9637338b2cb20c8cfb87e1fd10e82724a71";
static const char *e_s_pub = "8e018da7d6a3594a55072c685850d56a86aaccb908d0f097efe3c713ff37f956";
static const char *s_s_priv = "fc5b305a9e72f2264a37dd6d282f70864ca115b852852f3c5a1d84cdb693c85b";
static const char *s_s_pub = "1e0e48c69840df98d8adc71e5f3dedbc0cc709a91fef2758add7beb5c8b16017";
static const char *root_pub = "6d549fc6053adf4b0938d7435b6afd34c31e7a26413f0c211efedf3fdd31e86d";
static const char *chain_hex =
    "0a760a32080210011a201e0e48c69840df98d8adc71e5f3dedbc0cc709a91fef2758add7beb5c8b160172080e2cfaa062880"
    "ae99a40f1240788efec7a5de6dc4ea85aa9434c34d0cae7507e2601c1e070a9813eadc4633b0a81a67cc9783d38f185248ee"
    "bb6a593e64f9cf77b3506be33a3ba99654d3200412760a32080110001a2094addfef13ff57a6c93033f0c7890e6dfa6d2529"
    "19ed973f2cb5f1617d6164782080e2cfaa062880ae99a40f1240d67ce40e2785ea453f35c6c6063ab6f2b2b35a0f8eb611ea"
    "8dc3d92467f2585cccdd600a0a46a62084922d559c597d3b677c9bb76871c50f85ece12db98f890c";
static const char *payload_hex = "000102030405060708090a0b0c0d0e0f";

static const char *h_prologue = "ffff0c9267310966f1311170c04b38c79504285bf5edf763e5c946492a50a755";
static const char *h_ec = "506869c7d7e9b494dee7b505a18fe4942591a81d524f2e83a6db9630d6b2efc3";
static const char *h_es = "89b6be998547571d829d3cb6baac5f440d0b95a7cbe91ee6826ccd0c5be1d405";
static const char *dh_ee = "096690630eb8783f6a0ea805ed91c9689223fb5f9437e44a24bfcfa627210b1f";
static const char *ck_ee = "81d7470171098b03740a06ca1e0afdbdae129dd9d7ca66f77a5c2e30e2cc3d05";
static const char *k_ee = "1666d82c0b10d0e036d968cb9f42f3f50f6777bfa3854fbb82e255d1596de1dc";
static const char *S_hex = "26afda4781f01ec0d6457749f1030bd7737e88e94c1055524597504f5231bfff0fc9c532d4b9fcff9911c2d815a791a9";
static const char *h_S = "38d40420dd877499c45b8bf1610f4ac2bba9745b7cf53292ad107e9f48d33a09";
static const char *dh_es = "f1872354686de6bb90a69c535ba6040c1ab052dc3172cac28416d40ad18bd64f";
static const char *ck_es = "0b361ce20174df7822e596ec9152230eefa88d9cf4cfeb8c996f5600c8ccb5d3";
static const char *k_es = "ce5b5bb8af56125ad3918402c72c4a4aa215607d41f69238e17464fc5f4ddf8f";
static const char *P_hex =
    "2da29845030f19f7427cbbd99c3d04582e7f0ea5d4894d25d4aecc38a9ca38c19f93fc09fa8836305c0963043af744e9e731"
    "9c683265eca865e2656e09907af7de07fec7c19dd72f2f3f573fc816a7e95249589ecc4c2321723786a719157e064b5de9e9"
    "913f8cb56378b459af527beab8a6ec8320910c0ef38eb21457d137689f3e4bc8ef943a53c30137ca6841257095104d92e834"
    "cf7a6e9d03c35cfd49434384e789ef58e165006ac1910dbdc87d03af34e249c8bf953ad3943c3ac37ffb04de92081780e7b7"
    "ef5903b43e300426dea14c2df759b8a52f80eb32563460f9a5e139151ebf2d31f9f8ca2ba5eedfa9ddedb180ae7eb649f039"
    "cb68cc472232";
static const char *h_P = "45c964c94efd05ef3d6e99c5d42e42f951b91a520d88661bbfd2637d9897c289";
static const char *C1_hex = "91abffc95890e706ab3036c27388db365f8bf20853264a635de43d65948ee11d14fc2184ae82a045dc30c1800a43c4c3";
static const char *h_C1 = "f12b7d9fb58de46bfb3613a42122c7e97bbbce8e2427381c3732a43fe5d35d8d";
static const char *dh_se = "914fa407cc6897dcc67fbbc7757d079333691de1851ef2bfe47570c4dbdda525";
static const char *ck_se = "a781c47af7d08fbc692b09707abaab21e6d90e95ca104de17384c4b5dcb70703";
static const char *k_se = "06acf3fe6d8db28da72803bd5028d6e454d5fd1fb63c909e4383f5accc97ab61";
static const char *C2_hex = "d863d5a43fe6079b94cc347279715bb4ad847ede40014caf9be8b5c42246e8ea";
static const char *h_final = "b9ba8193c5f02905265530ce38e6cd2521b31b204698df84b0c826306cf6cf8e";
static const char *k1_hex = "67e7c4b4f532645dd7d9bb5047c9c6c13cd683da2df86532aa19df4b5c3374b0";
static const char *k2_hex = "8f825fbdfc4511f35d85950cc673d91a5dc2378c500d5a44f45182e418cd4e83";

static const char *msg1 = "5741060300002412220a20149449808d4e9eb554ccea4b5b7fa0288108c5e6a5046f0988aaf68dd05b3b4f";
static const char *msg4 = "0000234d76e6646ded0756eb2b8213db3ab7054d95a1985d6a2e0b630d37d545ce146f72ff82";
static const char *msg5 = "000024552ff2052ee098ce6427f6d2e478fde421e22a54f2603cbb0ad9739b6a8cbb4da94bf2d4";
static const char *ping_plain = "00f80a19085511fa000304291657f801f80156";
static const char *pong_plain = "00f8091906fa0003085504141aff051700000000";

/* Decode hex into a fresh buffer. */
static uint8_t *
unhex(const char *s, size_t *len)
{
	size_t n = strlen(s) / 2, i;
	uint8_t *b = malloc(n + 1);

	assert_non_null(b);
	for (i = 0; i < n; i++) {
		unsigned v;

		assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
		b[i] = (uint8_t)v;
	}
	if (len != NULL)
		*len = n;
	return b;
}

/* Decode exactly 32 bytes of hex into k. */
static void
unhex32(const char *s, uint8_t k[32])
{
	size_t n;
	uint8_t *b = unhex(s, &n);

	assert_int_equal(n, 32);
	memcpy(k, b, 32);
	free(b);
}

/* Assert that buf equals the hex string. */
static void
assert_hex(const uint8_t *buf, size_t len, const char *hex)
{
	size_t n;
	uint8_t *want = unhex(hex, &n);

	assert_int_equal(len, n);
	assert_memory_equal(buf, want, n);
	free(want);
}

/* Assert h, ck or k of a state. */
static void
assert_state(struct wa_noise *n, const char *h, const char *ck, const char *k)
{
	uint8_t hh[32], cc[32], kk[32];

	wa_noise_state(n, hh, cc, kk);
	if (h != NULL)
		assert_hex(hh, 32, h);
	if (ck != NULL)
		assert_hex(cc, 32, ck);
	if (k != NULL)
		assert_hex(kk, 32, k);
}

/* The protocol name and the key derivations from the fixed private keys. */
static void
test_keys(void **state)
{
	uint8_t priv[32], pub[32], pub2[32], dh[32];

	(void)state;
	assert_memory_equal(wa_noise_protocol_name, "Noise_XX_25519_AESGCM_SHA256\0\0\0\0", 32);
	unhex32(e_c_priv, priv);
	assert_int_equal(wa_noise_pubkey(priv, pub), 0);
	assert_hex(pub, 32, e_c_pub);
	unhex32(s_c_priv, priv);
	assert_int_equal(wa_noise_pubkey(priv, pub), 0);
	assert_hex(pub, 32, s_c_pub);
	unhex32(e_s_priv, priv);
	assert_int_equal(wa_noise_pubkey(priv, pub), 0);
	assert_hex(pub, 32, e_s_pub);
	unhex32(s_s_priv, priv);
	assert_int_equal(wa_noise_pubkey(priv, pub), 0);
	assert_hex(pub, 32, s_s_pub);
	/* ee from both sides */
	unhex32(e_c_priv, priv);
	unhex32(e_s_pub, pub);
	assert_int_equal(wa_noise_dh(priv, pub, dh), 0);
	assert_hex(dh, 32, dh_ee);
	unhex32(e_s_priv, priv);
	unhex32(e_c_pub, pub);
	assert_int_equal(wa_noise_dh(priv, pub, dh), 0);
	assert_hex(dh, 32, dh_ee);
	/* low-order / zero public keys are refused */
	memset(pub, 0, 32);
	assert_int_equal(wa_noise_dh(priv, pub, dh), -1);
	memset(pub, 0, 32);
	pub[0] = 1;
	assert_int_equal(wa_noise_dh(priv, pub, dh), -1);
	/* fresh key pairs agree */
	assert_int_equal(wa_noise_keypair_generate(priv, pub), 0);
	assert_int_equal(wa_noise_pubkey(priv, pub2), 0);
	assert_memory_equal(pub, pub2, 32);
}

/* RFC 7748 section 5.2: the two scalar multiplications, then the iterated one (k, u = X25519(k, u), k) after
 * 1 and 1,000 rounds. The scalars are given unclamped and the second u has bit 255 set: both are ours to
 * handle. */
static void
test_x25519_rfc7748(void **state)
{
	uint8_t k[32], u[32], out[32];
	int i;

	(void)state;
	unhex32("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4", k);
	unhex32("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c", u);
	assert_int_equal(wa_noise_dh(k, u, out), 0);
	assert_hex(out, 32, "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");
	unhex32("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d", k);
	unhex32("e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493", u);
	assert_int_equal(wa_noise_dh(k, u, out), 0);
	assert_hex(out, 32, "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957");
	memset(k, 0, 32);
	k[0] = 9;
	memcpy(u, k, 32);
	for (i = 1; i <= 1000; i++) {
		assert_int_equal(wa_noise_dh(k, u, out), 0);
		memcpy(u, k, 32);
		memcpy(k, out, 32);
		if (i == 1)
			assert_hex(k, 32, "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079");
	}
	assert_hex(k, 32, "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51");
}

/* Random key pairs agree with libsignal-protocol-c's X25519 (curve25519-donna), public keys and secrets. */
static void
test_x25519_crosscheck(void **state)
{
	uint8_t a[32], b[32], apub[32], bpub[32], ours[32], pt[33];
	ec_private_key *spriv;
	ec_public_key *spub;
	signal_buffer *ser;
	uint8_t *theirs;
	int i;

	(void)state;
	for (i = 0; i < 200; i++) {
		random_bytes(a, sizeof(a));
		random_bytes(b, sizeof(b));
		assert_int_equal(wa_noise_keypair_generate(a, apub), 0);
		assert_int_equal(wa_noise_keypair_generate(b, bpub), 0);
		assert_int_equal(curve_decode_private_point(&spriv, a, 32, NULL), 0);
		assert_int_equal(curve_generate_public_key(&spub, spriv), 0);
		assert_int_equal(ec_public_key_serialize(&ser, spub), 0);
		assert_int_equal(signal_buffer_len(ser), 33);
		assert_memory_equal(signal_buffer_data(ser) + 1, apub, 32);
		signal_buffer_free(ser);
		SIGNAL_UNREF(spub);
		pt[0] = 0x05;
		memcpy(pt + 1, bpub, 32);
		assert_int_equal(curve_decode_point(&spub, pt, sizeof(pt), NULL), 0);
		assert_int_equal(curve_calculate_agreement(&theirs, spub, spriv), 32);
		assert_int_equal(wa_noise_dh(a, bpub, ours), 0);
		assert_memory_equal(ours, theirs, 32);
		assert_int_equal(wa_noise_dh(b, apub, ours), 0);
		assert_memory_equal(ours, theirs, 32);
		free(theirs);
		SIGNAL_UNREF(spub);
		SIGNAL_UNREF(spriv);
	}
}

/* Every public key whose result is all-zero for any scalar is refused: the points of small order and their
 * encodings above p (bit 255 is ignored, so each also with it set). */
static void
test_x25519_low_order(void **state)
{
	static const char *const low[] = {
		"0000000000000000000000000000000000000000000000000000000000000000",	/* 0 */
		"0100000000000000000000000000000000000000000000000000000000000000",	/* 1 */
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",	/* order 8 */
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",	/* order 8 */
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",	/* p - 1 */
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",	/* p (= 0) */
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",	/* p + 1 (= 1) */
	};
	uint8_t priv[32], pub[32], u[32], out[32];
	size_t i;

	(void)state;
	assert_int_equal(wa_noise_keypair_generate(priv, pub), 0);
	for (i = 0; i < sizeof(low) / sizeof(low[0]); i++) {
		unhex32(low[i], u);
		memset(out, 0x55, sizeof(out));
		assert_int_equal(wa_noise_dh(priv, u, out), -1);
		assert_memory_equal(out, (uint8_t[32]){ 0 }, 32);	/* wiped, not left half-computed */
		u[31] |= 0x80;
		assert_int_equal(wa_noise_dh(priv, u, out), -1);
	}
}

/* Section 2.6 step by step on the symmetric state, checking every intermediate value. */
static void
test_transcript_steps(void **state)
{
	uint8_t ec[32], es_pub[32], ss_pub[32], sc_pub[32], sc_priv[32], dh[32];
	uint8_t *c, *chain, *payload;
	size_t clen, chain_len, payload_len;
	struct wa_noise *n;
	struct wa_noise_transport *c2s, *s2c;
	uint8_t *ping, *out;
	size_t ping_len, outlen;

	(void)state;
	chain = unhex(chain_hex, &chain_len);
	payload = unhex(payload_hex, &payload_len);
	n = wa_noise_new(wa_frame_header_default, WA_FRAME_HEADER_LEN);
	assert_non_null(n);
	assert_state(n, h_prologue, NULL, NULL);
	unhex32(e_c_pub, ec);
	assert_int_equal(wa_noise_mix_hash(n, ec, 32), 0);
	assert_state(n, h_ec, NULL, NULL);
	/* no key yet: encryption must refuse */
	assert_int_equal(wa_noise_encrypt_and_hash(n, ec, 32, &c, &clen), -1);
	unhex32(e_s_pub, es_pub);
	assert_int_equal(wa_noise_mix_hash(n, es_pub, 32), 0);
	assert_state(n, h_es, NULL, NULL);
	unhex32(dh_ee, dh);
	assert_int_equal(wa_noise_mix_key(n, dh, 32), 0);
	assert_state(n, NULL, ck_ee, k_ee);
	unhex32(s_s_pub, ss_pub);
	assert_int_equal(wa_noise_encrypt_and_hash(n, ss_pub, 32, &c, &clen), 0);
	assert_hex(c, clen, S_hex);
	free(c);
	assert_state(n, h_S, NULL, NULL);
	unhex32(dh_es, dh);
	assert_int_equal(wa_noise_mix_key(n, dh, 32), 0);
	assert_state(n, NULL, ck_es, k_es);
	assert_int_equal(wa_noise_encrypt_and_hash(n, chain, chain_len, &c, &clen), 0);
	assert_hex(c, clen, P_hex);
	free(c);
	assert_state(n, h_P, NULL, NULL);
	unhex32(s_c_pub, sc_pub);
	assert_int_equal(wa_noise_encrypt_and_hash(n, sc_pub, 32, &c, &clen), 0);
	assert_hex(c, clen, C1_hex);
	free(c);
	assert_state(n, h_C1, NULL, NULL);
	unhex32(s_c_priv, sc_priv);
	assert_int_equal(wa_noise_dh(sc_priv, es_pub, dh), 0);
	assert_hex(dh, 32, dh_se);
	assert_int_equal(wa_noise_mix_key(n, dh, 32), 0);
	assert_state(n, NULL, ck_se, k_se);
	assert_int_equal(wa_noise_encrypt_and_hash(n, payload, payload_len, &c, &clen), 0);
	assert_hex(c, clen, C2_hex);
	free(c);
	assert_state(n, h_final, NULL, NULL);
	assert_int_equal(wa_noise_split(n, &c2s, &s2c), 0);
	wa_noise_free(n);

	/* The split keys, checked through their first frames (messages 4 and 5 without the length). */
	ping = unhex(ping_plain, &ping_len);
	assert_int_equal(wa_noise_encrypt(c2s, ping, ping_len, &out, &outlen), 0);
	assert_hex(out, outlen, msg4 + 6);
	free(out);
	free(ping);
	ping = unhex(pong_plain, &ping_len);
	assert_int_equal(wa_noise_encrypt(s2c, ping, ping_len, &out, &outlen), 0);
	assert_hex(out, outlen, msg5 + 6);
	free(out);
	free(ping);
	wa_noise_transport_free(c2s);
	wa_noise_transport_free(s2c);

	/* The same keys given directly. */
	{
		uint8_t k1[32];

		unhex32(k1_hex, k1);
		c2s = wa_noise_transport_new(k1);
		ping = unhex(ping_plain, &ping_len);
		assert_int_equal(wa_noise_encrypt(c2s, ping, ping_len, &out, &outlen), 0);
		assert_hex(out, outlen, msg4 + 6);
		free(out);
		free(ping);
		wa_noise_transport_free(c2s);
	}
	free(chain);
	free(payload);
}

/* Run both roles of wa_handshake with the KAT keys; every WebSocket message must match byte for byte. */
static void
test_transcript_handshake(void **state)
{
	uint8_t key[32], root[32], cs[32];
	uint8_t *chain, *payload, *m, *f, *got_payload;
	size_t chain_len, payload_len, mlen, flen, got_len;
	struct wa_handshake *cl, *sv;
	struct wa_frame_writer *cw, *sw;
	struct wa_frame_reader *cr, *sr;
	struct wa_noise_transport *csend, *crecv, *ssend, *srecv;
	const uint8_t *fr;
	size_t frlen;
	char err[256];
	uint8_t *ping, *out, *plain;
	size_t ping_len, outlen, plain_len;
	char *want2;
	size_t n2;

	(void)state;
	chain = unhex(chain_hex, &chain_len);
	payload = unhex(payload_hex, &payload_len);
	unhex32(root_pub, root);
	unhex32(s_c_priv, key);
	cl = wa_handshake_client_new(key, root, payload, payload_len);
	assert_non_null(cl);
	unhex32(e_c_priv, key);
	assert_int_equal(wa_handshake_set_ephemeral(cl, key), 0);
	wa_handshake_set_time(cl, KAT_NOW);
	unhex32(s_s_priv, key);
	unhex32(s_s_pub, cs);
	sv = wa_handshake_server_new(key, cs, chain, chain_len);
	assert_non_null(sv);
	unhex32(e_s_priv, key);
	assert_int_equal(wa_handshake_set_ephemeral(sv, key), 0);
	cw = wa_frame_writer_new(wa_frame_header_default, WA_FRAME_HEADER_LEN, 0);
	sw = wa_frame_writer_new(NULL, 0, 0);
	sr = wa_frame_reader_new(wa_frame_header_default, WA_FRAME_HEADER_LEN, 0);
	cr = wa_frame_reader_new(NULL, 0, 0);

	/* message 1 */
	assert_int_equal(wa_handshake_client_hello(cl, &m, &mlen), 0);
	assert_int_equal(wa_frame_encode(cw, m, mlen, &f, &flen), 0);
	assert_hex(f, flen, msg1);
	free(m);
	assert_int_equal(wa_frame_reader_feed(sr, f, flen), 0);
	free(f);
	assert_int_equal(wa_frame_reader_next(sr, &fr, &frlen, err, sizeof(err)), WA_FRAME_DONE);

	/* message 2 */
	assert_int_equal(wa_handshake_server_on_client_hello(sv, fr, frlen, &m, &mlen, err, sizeof(err)), 0);
	assert_int_equal(wa_frame_encode(sw, m, mlen, &f, &flen), 0);
	free(m);
	n2 = strlen("00015a1ad7020a20") + strlen(e_s_pub) + 4 + strlen(S_hex) + 6 + strlen(P_hex) + 1;
	want2 = malloc(n2);
	snprintf(want2, n2, "00015a1ad7020a20%s1230%s1a8002%s", e_s_pub, S_hex, P_hex);
	assert_hex(f, flen, want2);
	free(want2);
	assert_int_equal(wa_frame_reader_feed(cr, f, flen), 0);
	free(f);
	assert_int_equal(wa_frame_reader_next(cr, &fr, &frlen, err, sizeof(err)), WA_FRAME_DONE);

	/* message 3 */
	assert_int_equal(wa_handshake_client_on_server_hello(cl, fr, frlen, &m, &mlen, err, sizeof(err)), 0);
	assert_memory_equal(wa_handshake_peer_static(cl), cs, 32);
	assert_int_equal(wa_frame_encode(cw, m, mlen, &f, &flen), 0);
	free(m);
	{
		char want3[512];

		snprintf(want3, sizeof(want3), "00005622540a30%s1220%s", C1_hex, C2_hex);
		assert_hex(f, flen, want3);
	}
	assert_int_equal(wa_frame_reader_feed(sr, f, flen), 0);
	free(f);
	assert_int_equal(wa_frame_reader_next(sr, &fr, &frlen, err, sizeof(err)), WA_FRAME_DONE);
	assert_int_equal(wa_handshake_server_on_client_finish(sv, fr, frlen, cs, &got_payload, &got_len, err,
	    sizeof(err)), 0);
	assert_hex(cs, 32, s_c_pub);
	assert_hex(got_payload, got_len, payload_hex);
	free(got_payload);
	{
		uint8_t hh[32];

		wa_handshake_hash(cl, hh);
		assert_hex(hh, 32, h_final);
		wa_handshake_hash(sv, hh);
		assert_hex(hh, 32, h_final);
	}
	assert_int_equal(wa_handshake_split(cl, &csend, &crecv), 0);
	assert_int_equal(wa_handshake_split(sv, &ssend, &srecv), 0);
	{
		struct wa_noise_transport *x, *y;

		assert_int_equal(wa_handshake_split(cl, &x, &y), -1);	/* only once */
		assert_null(x);
		assert_null(y);
	}

	/* messages 4 and 5 */
	ping = unhex(ping_plain, &ping_len);
	assert_int_equal(wa_noise_encrypt(csend, ping, ping_len, &out, &outlen), 0);
	assert_int_equal(wa_frame_encode(cw, out, outlen, &f, &flen), 0);
	assert_hex(f, flen, msg4);
	free(out);
	assert_int_equal(wa_frame_reader_feed(sr, f, flen), 0);
	free(f);
	assert_int_equal(wa_frame_reader_next(sr, &fr, &frlen, err, sizeof(err)), WA_FRAME_DONE);
	assert_int_equal(wa_noise_decrypt(srecv, fr, frlen, &plain, &plain_len), 0);
	assert_int_equal(plain_len, ping_len);
	assert_memory_equal(plain, ping, ping_len);
	free(plain);
	free(ping);
	ping = unhex(pong_plain, &ping_len);
	assert_int_equal(wa_noise_encrypt(ssend, ping, ping_len, &out, &outlen), 0);
	assert_int_equal(wa_frame_encode(sw, out, outlen, &f, &flen), 0);
	assert_hex(f, flen, msg5);
	free(out);
	assert_int_equal(wa_frame_reader_feed(cr, f, flen), 0);
	free(f);
	assert_int_equal(wa_frame_reader_next(cr, &fr, &frlen, err, sizeof(err)), WA_FRAME_DONE);
	assert_int_equal(wa_noise_decrypt(crecv, fr, frlen, &plain, &plain_len), 0);
	assert_memory_equal(plain, ping, ping_len);
	free(plain);
	free(ping);

	wa_noise_transport_free(csend);
	wa_noise_transport_free(crecv);
	wa_noise_transport_free(ssend);
	wa_noise_transport_free(srecv);
	wa_frame_writer_free(cw);
	wa_frame_writer_free(sw);
	wa_frame_reader_free(cr);
	wa_frame_reader_free(sr);
	wa_handshake_free(cl);
	wa_handshake_free(sv);
	free(chain);
	free(payload);
}

/* Transport KATs: the nonce is 8 zero bytes + the big-endian counter, counters advance per frame, a
 * tampered frame fails and the direction stays closed, and round trips work at several sizes. */
static void
test_transport(void **state)
{
	uint8_t k1[32], k2[32], *ping, *out, *plain, big[70000], buf[70016];
	size_t ping_len, outlen, plain_len, i;
	struct wa_noise_transport *a, *b;

	(void)state;
	unhex32(k1_hex, k1);
	unhex32(k2_hex, k2);
	a = wa_noise_transport_new(k1);
	b = wa_noise_transport_new(k1);
	ping = unhex(ping_plain, &ping_len);
	assert_int_equal(wa_noise_encrypt(a, ping, ping_len, &out, &outlen), 0);
	assert_hex(out, outlen, msg4 + 6);
	assert_int_equal(wa_noise_transport_counter(a), 1);
	/* frame 1 with the same plaintext differs (nonce 1) */
	{
		uint8_t *out2;
		size_t out2len;

		assert_int_equal(wa_noise_encrypt(a, ping, ping_len, &out2, &out2len), 0);
		assert_int_equal(out2len, outlen);
		assert_memory_not_equal(out2, out, outlen);
		assert_int_equal(wa_noise_decrypt(b, out, outlen, &plain, &plain_len), 0);
		assert_memory_equal(plain, ping, ping_len);
		free(plain);
		assert_int_equal(wa_noise_decrypt(b, out2, out2len, &plain, &plain_len), 0);
		assert_memory_equal(plain, ping, ping_len);
		free(plain);
		/* a replay (now at counter 2) fails, and the direction is closed for good */
		assert_int_equal(wa_noise_decrypt(b, out2, out2len, &plain, &plain_len), -1);
		assert_null(plain);
		free(out2);
	}
	free(out);
	assert_int_equal(wa_noise_encrypt(a, ping, ping_len, &out, &outlen) == 0, 1);
	assert_int_equal(wa_noise_decrypt(b, out, outlen, &plain, &plain_len), -1);
	free(out);
	wa_noise_transport_free(b);
	free(ping);

	/* tamper with one bit: refused */
	b = wa_noise_transport_new(k2);
	wa_noise_transport_free(a);
	a = wa_noise_transport_new(k2);
	assert_int_equal(wa_noise_encrypt(a, (const uint8_t *)"hello", 5, &out, &outlen), 0);
	out[2] ^= 0x01;
	assert_int_equal(wa_noise_decrypt(b, out, outlen, &plain, &plain_len), -1);
	free(out);
	/* too short to hold a tag */
	wa_noise_transport_free(b);
	b = wa_noise_transport_new(k2);
	assert_int_equal(wa_noise_decrypt(b, (const uint8_t *)"short", 5, &plain, &plain_len), -1);
	wa_noise_transport_free(a);
	wa_noise_transport_free(b);

	/* round trips, empty to large, with the _into variants */
	a = wa_noise_transport_new(k1);
	b = wa_noise_transport_new(k1);
	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	for (i = 0; i <= sizeof(big); i = i * 3 + 1) {
		size_t n;

		assert_int_equal(wa_noise_encrypt_into(a, big, i, buf, sizeof(buf), &n), 0);
		assert_int_equal(n, i + 16);
		assert_int_equal(wa_noise_decrypt(b, buf, n, &plain, &plain_len), 0);
		assert_int_equal(plain_len, i);
		if (i > 0)
			assert_memory_equal(plain, big, i);
		free(plain);
	}
	/* output buffer too small */
	{
		size_t n;

		assert_int_equal(wa_noise_encrypt_into(a, big, 100, buf, 115, &n), -1);
	}
	wa_noise_transport_free(a);
	wa_noise_transport_free(b);
	wa_noise_transport_free(NULL);
	wa_noise_free(NULL);
}

/* A decrypt_and_hash failure during the handshake kills the state. */
static void
test_handshake_state_fail_closed(void **state)
{
	struct wa_noise *a, *b;
	uint8_t ikm[32] = { 1 }, *c, *p;
	size_t clen, plen;

	(void)state;
	a = wa_noise_new(wa_frame_header_default, 4);
	b = wa_noise_new(wa_frame_header_default, 4);
	assert_int_equal(wa_noise_mix_key(a, ikm, 32), 0);
	assert_int_equal(wa_noise_mix_key(b, ikm, 32), 0);
	assert_int_equal(wa_noise_encrypt_and_hash(a, (const uint8_t *)"", 0, &c, &clen), 0);
	assert_int_equal(clen, 16);
	c[0] ^= 1;
	assert_int_equal(wa_noise_decrypt_and_hash(b, c, clen, &p, &plen), -1);
	c[0] ^= 1;
	assert_int_equal(wa_noise_decrypt_and_hash(b, c, clen, &p, &plen), -1);
	free(c);
	wa_noise_free(a);
	wa_noise_free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_x25519_rfc7748),
		cmocka_unit_test(test_x25519_crosscheck),
		cmocka_unit_test(test_x25519_low_order),
		cmocka_unit_test(test_transcript_steps),
		cmocka_unit_test(test_transcript_handshake),
		cmocka_unit_test(test_transport),
		cmocka_unit_test(test_handshake_state_fail_closed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
