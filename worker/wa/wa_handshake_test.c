/* Full in-memory client <-> server handshakes with fresh keys through the frame layer, and the ways a
 * handshake must fail (wrong root, wrong server key, tampered messages, garbage, wrong order). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "wa_cert.h"
#include "wa_frame.h"
#include "wa_handshake.h"
#include "wa_noise.h"
#include "wa_xeddsa.h"

struct world {
	uint8_t root_priv[32], root_pub[32];
	uint8_t server_priv[32], server_pub[32];
	uint8_t client_priv[32], client_pub[32];
	uint8_t *chain;
	size_t chain_len;
};

/* Fresh keys and a chain valid around now. */
static void
world_init(struct world *w)
{
	uint64_t now = (uint64_t)time(NULL);

	memset(w, 0, sizeof(*w));
	assert_int_equal(wa_xeddsa_keypair_generate(w->root_priv, w->root_pub), 0);
	assert_int_equal(wa_noise_keypair_generate(w->server_priv, w->server_pub), 0);
	assert_int_equal(wa_noise_keypair_generate(w->client_priv, w->client_pub), 0);
	assert_int_equal(wa_cert_chain_generate(w->root_priv, w->server_pub, now - 3600, now + 3600, &w->chain,
	    &w->chain_len), 0);
}

/* Move one handshake message through a writer and a reader, as the sockets would. */
static uint8_t *
through_frames(struct wa_frame_writer *fw, struct wa_frame_reader *fr, uint8_t *msg, size_t len,
    size_t *outlen)
{
	uint8_t *f, *copy;
	size_t flen, i;
	const uint8_t *p;
	char err[128];
	int rc = WA_FRAME_AGAIN;

	assert_int_equal(wa_frame_encode(fw, msg, len, &f, &flen), 0);
	free(msg);
	/* in 7-byte pieces, to exercise reassembly */
	for (i = 0; i < flen; i += 7) {
		assert_int_equal(rc, WA_FRAME_AGAIN);
		assert_int_equal(wa_frame_reader_feed(fr, f + i, flen - i < 7 ? flen - i : 7), 0);
		rc = wa_frame_reader_next(fr, &p, outlen, err, sizeof(err));
	}
	free(f);
	assert_int_equal(rc, WA_FRAME_DONE);
	copy = malloc(*outlen + 1);
	memcpy(copy, p, *outlen);
	return copy;
}

/* A complete handshake and traffic in both directions. */
static void
test_full(void **state)
{
	static const uint8_t payload[] = "client payload bytes";
	struct world w;
	struct wa_handshake *c, *s;
	struct wa_frame_writer *cw, *sw;
	struct wa_frame_reader *cr, *sr;
	struct wa_noise_transport *cs, *crx, *ss, *srx;
	uint8_t *m, *in, cstatic[32], *got, *ct, *pt, hc[32], hs[32];
	size_t mlen, inlen, glen, ctlen, ptlen;
	char err[256];
	int i;

	(void)state;
	world_init(&w);
	c = wa_handshake_client_new(w.client_priv, w.root_pub, payload, sizeof(payload));
	s = wa_handshake_server_new(w.server_priv, w.server_pub, w.chain, w.chain_len);
	assert_non_null(c);
	assert_non_null(s);
	cw = wa_frame_writer_new(wa_frame_header_default, WA_FRAME_HEADER_LEN, 0);
	sw = wa_frame_writer_new(NULL, 0, 0);
	cr = wa_frame_reader_new(NULL, 0, 0);
	sr = wa_frame_reader_new(wa_frame_header_default, WA_FRAME_HEADER_LEN, 0);

	assert_false(wa_handshake_done(c));
	assert_int_equal(wa_handshake_client_hello(c, &m, &mlen), 0);
	assert_int_equal(mlen, 36);
	in = through_frames(cw, sr, m, mlen, &inlen);
	assert_int_equal(wa_handshake_server_on_client_hello(s, in, inlen, &m, &mlen, err, sizeof(err)), 0);
	free(in);
	in = through_frames(sw, cr, m, mlen, &inlen);
	if (wa_handshake_client_on_server_hello(c, in, inlen, &m, &mlen, err, sizeof(err)) != 0)
		fail_msg("client refused: %s", err);
	free(in);
	assert_memory_equal(wa_handshake_peer_static(c), w.server_pub, 32);
	in = through_frames(cw, sr, m, mlen, &inlen);
	assert_int_equal(wa_handshake_server_on_client_finish(s, in, inlen, cstatic, &got, &glen, err,
	    sizeof(err)), 0);
	free(in);
	assert_memory_equal(cstatic, w.client_pub, 32);
	assert_memory_equal(wa_handshake_peer_static(s), w.client_pub, 32);
	assert_int_equal(glen, sizeof(payload));
	assert_memory_equal(got, payload, glen);
	free(got);
	assert_true(wa_handshake_done(c));
	assert_true(wa_handshake_done(s));
	wa_handshake_hash(c, hc);
	wa_handshake_hash(s, hs);
	assert_memory_equal(hc, hs, 32);
	assert_int_equal(wa_handshake_split(c, &cs, &crx), 0);
	assert_int_equal(wa_handshake_split(s, &ss, &srx), 0);

	for (i = 0; i < 50; i++) {
		char msg[64];
		size_t n = (size_t)snprintf(msg, sizeof(msg), "frame %d", i);

		assert_int_equal(wa_noise_encrypt(i % 2 ? cs : ss, (uint8_t *)msg, n, &ct, &ctlen), 0);
		assert_int_equal(wa_noise_decrypt(i % 2 ? srx : crx, ct, ctlen, &pt, &ptlen), 0);
		assert_int_equal(ptlen, n);
		assert_memory_equal(pt, msg, n);
		free(ct);
		free(pt);
	}
	/* keys are direction-specific: the client cannot read its own output */
	assert_int_equal(wa_noise_encrypt(cs, (const uint8_t *)"x", 1, &ct, &ctlen), 0);
	assert_int_equal(wa_noise_decrypt(crx, ct, ctlen, &pt, &ptlen), -1);
	free(ct);

	wa_noise_transport_free(cs);
	wa_noise_transport_free(crx);
	wa_noise_transport_free(ss);
	wa_noise_transport_free(srx);
	wa_frame_writer_free(cw);
	wa_frame_writer_free(sw);
	wa_frame_reader_free(cr);
	wa_frame_reader_free(sr);
	wa_handshake_free(c);
	wa_handshake_free(s);
	free(w.chain);
}

/* The client's wa_handshake_error after the last run_to_server_hello. */
static enum wa_hs_err last_code;

/* Run client hello + server hello and return the client's verdict on the server hello. */
static int
run_to_server_hello(const uint8_t *root, const uint8_t *srv_priv, const uint8_t *srv_pub, const uint8_t *chain,
    size_t chain_len, uint64_t now, void (*tamper)(uint8_t *, size_t), char *err, size_t errlen)
{
	struct wa_handshake *c, *s;
	uint8_t cpriv[32], cpub[32], *m, *fin;
	size_t mlen, finlen;
	char serr[256];
	int rc;

	assert_int_equal(wa_noise_keypair_generate(cpriv, cpub), 0);
	c = wa_handshake_client_new(cpriv, root, (const uint8_t *)"p", 1);
	s = wa_handshake_server_new(srv_priv, srv_pub, chain, chain_len);
	if (now != 0)
		wa_handshake_set_time(c, now);
	assert_int_equal(wa_handshake_client_hello(c, &m, &mlen), 0);
	assert_int_equal(wa_handshake_server_on_client_hello(s, m, mlen, &fin, &finlen, serr, sizeof(serr)), 0);
	free(m);
	if (tamper != NULL)
		tamper(fin, finlen);
	rc = wa_handshake_client_on_server_hello(c, fin, finlen, &m, &mlen, err, errlen);
	free(fin);
	last_code = wa_handshake_error(c);
	if (rc == 0) {
		assert_int_equal(last_code, WA_HS_ERR_NONE);
		free(m);
	} else {
		struct wa_noise_transport *a, *b;

		assert_null(m);
		assert_false(wa_handshake_done(c));
		assert_int_equal(wa_handshake_split(c, &a, &b), -1);
	}
	wa_handshake_free(c);
	wa_handshake_free(s);
	return rc;
}

/* Flip a bit in the last byte (inside the encrypted certificate). */
static void
flip_last(uint8_t *m, size_t len)
{
	m[len - 1] ^= 0x10;
}

/* Flip a bit inside the encrypted static key (after 2+2+2+32 bytes of framing and ephemeral, + 2). */
static void
flip_static(uint8_t *m, size_t len)
{
	(void)len;
	m[3 + 2 + 32 + 2 + 5] ^= 0x01;
}

/* Overwrite the whole server hello with 0xff bytes: it no longer parses. */
static void
garble(uint8_t *m, size_t len)
{
	memset(m, 0xff, len);
}

/* The client refuses bad certificates and tampered server hellos, each with its reason and its code. */
static void
test_client_refuses(void **state)
{
	struct world w;
	uint8_t other_priv[32], other_pub[32], *chain;
	size_t chain_len;
	uint64_t now = (uint64_t)time(NULL);
	char err[256];

	(void)state;
	world_init(&w);
	assert_int_equal(run_to_server_hello(w.root_pub, w.server_priv, w.server_pub, w.chain, w.chain_len, 0,
	    NULL, err, sizeof(err)), 0);
	/* wrong root (the default: WhatsApp's real one) */
	assert_int_equal(run_to_server_hello(NULL, w.server_priv, w.server_pub, w.chain, w.chain_len, 0, NULL,
	    err, sizeof(err)), -1);
	assert_string_equal(err, "certificate: intermediate signature invalid (not signed by the trusted root)");
	assert_int_equal(last_code, WA_HS_ERR_CERT);
	/* expired by the clock */
	assert_int_equal(run_to_server_hello(w.root_pub, w.server_priv, w.server_pub, w.chain, w.chain_len,
	    now + 7200, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "certificate: intermediate expired"));
	assert_int_equal(last_code, WA_HS_ERR_CERT);
	/* a server whose static key is not the certified one */
	assert_int_equal(wa_noise_keypair_generate(other_priv, other_pub), 0);
	assert_int_equal(run_to_server_hello(w.root_pub, other_priv, other_pub, w.chain, w.chain_len, 0, NULL,
	    err, sizeof(err)), -1);
	assert_string_equal(err, "certificate: leaf key does not match the server static key");
	assert_int_equal(last_code, WA_HS_ERR_CERT);
	/* a chain signed by another root */
	assert_int_equal(wa_cert_chain_generate(other_priv, w.server_pub, now - 10, now + 10, &chain,
	    &chain_len), 0);
	assert_int_equal(run_to_server_hello(w.root_pub, w.server_priv, w.server_pub, chain, chain_len, 0, NULL,
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "certificate: intermediate signature invalid"));
	assert_int_equal(last_code, WA_HS_ERR_CERT);
	free(chain);
	/* garbage instead of a chain */
	assert_int_equal(run_to_server_hello(w.root_pub, w.server_priv, w.server_pub, (const uint8_t *)"\xff", 1,
	    0, NULL, err, sizeof(err)), -1);
	assert_string_equal(err, "certificate: chain does not parse");
	assert_int_equal(last_code, WA_HS_ERR_CERT);
	/* tampered ciphertexts */
	assert_int_equal(run_to_server_hello(w.root_pub, w.server_priv, w.server_pub, w.chain, w.chain_len, 0,
	    flip_last, err, sizeof(err)), -1);
	assert_string_equal(err, "handshake: cannot decrypt the server certificate");
	assert_int_equal(last_code, WA_HS_ERR_CERT);
	assert_int_equal(run_to_server_hello(w.root_pub, w.server_priv, w.server_pub, w.chain, w.chain_len, 0,
	    flip_static, err, sizeof(err)), -1);
	assert_string_equal(err, "handshake: cannot decrypt the server static key");
	assert_int_equal(last_code, WA_HS_ERR_CRYPTO);
	/* a server hello that is not one */
	assert_int_equal(run_to_server_hello(w.root_pub, w.server_priv, w.server_pub, w.chain, w.chain_len, 0,
	    garble, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "handshake: server hello does not parse"));
	assert_int_equal(last_code, WA_HS_ERR_PROTO);
	free(w.chain);
}

/* Malformed messages and wrong order on both sides. */
static void
test_malformed(void **state)
{
	struct world w;
	struct wa_handshake *c, *s;
	uint8_t *m, *m2, cs[32], *pl;
	size_t mlen, m2len, pllen;
	char err[256];
	static const uint8_t empty_hello[] = { 0x12, 0x00 };
	static const uint8_t short_eph[] = { 0x12, 0x03, 0x0a, 0x01, 0x00 };
	static const uint8_t server_hello_only_eph[] = {
		0x1a, 0x22, 0x0a, 0x20, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
		9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
	};

	(void)state;
	world_init(&w);
	/* server: garbage, empty hello, short ephemeral */
	s = wa_handshake_server_new(w.server_priv, w.server_pub, w.chain, w.chain_len);
	assert_int_equal(wa_handshake_server_on_client_hello(s, (const uint8_t *)"\xff\xff", 2, &m, &mlen, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "does not parse"));
	assert_int_equal(wa_handshake_error(s), WA_HS_ERR_PROTO);
	wa_handshake_free(s);
	s = wa_handshake_server_new(w.server_priv, w.server_pub, w.chain, w.chain_len);
	assert_int_equal(wa_handshake_server_on_client_hello(s, empty_hello, sizeof(empty_hello), &m, &mlen, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "handshake: client hello lacks a 32-byte ephemeral key");
	assert_int_equal(wa_handshake_error(s), WA_HS_ERR_PROTO);
	wa_handshake_free(s);
	s = wa_handshake_server_new(w.server_priv, w.server_pub, w.chain, w.chain_len);
	assert_int_equal(wa_handshake_server_on_client_hello(s, short_eph, sizeof(short_eph), &m, &mlen, err,
	    sizeof(err)), -1);
	wa_handshake_free(s);
	/* server: finish before hello */
	s = wa_handshake_server_new(w.server_priv, w.server_pub, w.chain, w.chain_len);
	assert_int_equal(wa_handshake_server_on_client_finish(s, short_eph, sizeof(short_eph), cs, &pl, &pllen,
	    err, sizeof(err)), -1);
	assert_string_equal(err, "handshake: client finish out of order");
	assert_int_equal(wa_handshake_error(s), WA_HS_ERR_STATE);
	wa_handshake_free(s);

	/* client: a server hello missing parts; a server hello before the client hello */
	c = wa_handshake_client_new(w.client_priv, w.root_pub, NULL, 0);
	assert_int_equal(wa_handshake_client_on_server_hello(c, server_hello_only_eph,
	    sizeof(server_hello_only_eph), &m, &mlen, err, sizeof(err)), -1);
	assert_string_equal(err, "handshake: server hello out of order");
	assert_int_equal(wa_handshake_error(c), WA_HS_ERR_STATE);
	wa_handshake_free(c);
	c = wa_handshake_client_new(w.client_priv, w.root_pub, NULL, 0);
	assert_int_equal(wa_handshake_error(c), WA_HS_ERR_NONE);
	assert_int_equal(wa_handshake_client_hello(c, &m, &mlen), 0);
	free(m);
	assert_int_equal(wa_handshake_client_hello(c, &m, &mlen), -1);
	assert_int_equal(wa_handshake_error(c), WA_HS_ERR_STATE);
	assert_int_equal(wa_handshake_client_on_server_hello(c, server_hello_only_eph,
	    sizeof(server_hello_only_eph), &m, &mlen, err, sizeof(err)), -1);
	assert_string_equal(err, "handshake: server hello lacks ephemeral, static or payload");
	assert_int_equal(wa_handshake_error(c), WA_HS_ERR_PROTO);
	wa_handshake_free(c);

	/* server: a tampered client finish is refused */
	c = wa_handshake_client_new(w.client_priv, w.root_pub, (const uint8_t *)"abc", 3);
	s = wa_handshake_server_new(w.server_priv, w.server_pub, w.chain, w.chain_len);
	assert_int_equal(wa_handshake_client_hello(c, &m, &mlen), 0);
	assert_int_equal(wa_handshake_server_on_client_hello(s, m, mlen, &m2, &m2len, err, sizeof(err)), 0);
	free(m);
	assert_int_equal(wa_handshake_client_on_server_hello(c, m2, m2len, &m, &mlen, err, sizeof(err)), 0);
	free(m2);
	m[mlen - 1] ^= 1;
	assert_int_equal(wa_handshake_server_on_client_finish(s, m, mlen, cs, &pl, &pllen, err, sizeof(err)), -1);
	assert_string_equal(err, "handshake: cannot decrypt the client payload");
	assert_int_equal(wa_handshake_error(s), WA_HS_ERR_CRYPTO);
	assert_null(pl);
	free(m);
	wa_handshake_free(c);
	wa_handshake_free(s);

	/* oversized input is refused unparsed */
	s = wa_handshake_server_new(w.server_priv, w.server_pub, w.chain, w.chain_len);
	m = calloc(1, WA_HANDSHAKE_MAX_MESSAGE + 1);
	assert_int_equal(wa_handshake_server_on_client_hello(s, m, WA_HANDSHAKE_MAX_MESSAGE + 1, &m2, &m2len, err,
	    sizeof(err)), -1);
	free(m);
	wa_handshake_free(s);
	wa_handshake_free(NULL);
	free(w.chain);
}

/* A different prologue on the two sides makes the handshake fail (it is bound into h). */
static void
test_prologue_binding(void **state)
{
	static const uint8_t v2[] = { 'W', 'A', 6, 2 };
	struct world w;
	struct wa_handshake *c, *s;
	uint8_t *m, *m2;
	size_t mlen, m2len;
	char err[256];

	(void)state;
	world_init(&w);
	c = wa_handshake_client_new(w.client_priv, w.root_pub, NULL, 0);
	s = wa_handshake_server_new(w.server_priv, w.server_pub, w.chain, w.chain_len);
	assert_int_equal(wa_handshake_set_prologue(s, v2, sizeof(v2)), 0);
	assert_int_equal(wa_handshake_client_hello(c, &m, &mlen), 0);
	assert_int_equal(wa_handshake_set_prologue(c, v2, sizeof(v2)), -1);	/* too late */
	assert_int_equal(wa_handshake_server_on_client_hello(s, m, mlen, &m2, &m2len, err, sizeof(err)), 0);
	free(m);
	assert_int_equal(wa_handshake_client_on_server_hello(c, m2, m2len, &m, &mlen, err, sizeof(err)), -1);
	assert_string_equal(err, "handshake: cannot decrypt the server static key");
	free(m2);
	wa_handshake_free(c);
	wa_handshake_free(s);
	free(w.chain);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_client_refuses),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_prologue_binding),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
