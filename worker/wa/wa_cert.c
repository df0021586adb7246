/* Noise server certificate chain and libsignal-compatible curve25519 signatures (wa-transport.md section 3). */
#include "wa_cert.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/base64.h>
#include <mbedtls/bignum.h>
#include <mbedtls/sha512.h>

#include "cert.pb-c.h"
#include "random.h"
#include "wa_noise.h"
#include "xmalloc.h"

const uint8_t wa_cert_whatsapp_root_pub[WA_CERT_KEY_LEN] = {
	0x14, 0x23, 0x75, 0x57, 0x4d, 0x0a, 0x58, 0x71, 0x66, 0xaa, 0xe7, 0x1e, 0xbe, 0x51, 0x64, 0x37,
	0xc4, 0xa2, 0x8b, 0x73, 0xe3, 0x69, 0x5c, 0x6c, 0xe1, 0xf7, 0xf9, 0x54, 0x5d, 0xa8, 0xee, 0x6b,
};

/*
 * Edwards25519 arithmetic on mbedTLS bignums (mbedTLS 2.28 has X25519 but no Ed25519). Only public data
 * goes through the variable-time paths below except in signing, which runs in the fake server and tests;
 * the worker only verifies. Points are in extended coordinates (X:Y:Z:T) with x = X/Z, y = Y/Z, T = XY/Z,
 * and one complete addition formula (a = -1, d non-square) serves for doubling too.
 */

#define CHK(f) do { if ((f) != 0) goto fail; } while (0)

struct ed_pt {
	mbedtls_mpi x, y, z, t;
};

struct ed {
	mbedtls_mpi p, d, d2, sqrtm1, l, pm2, pm5d8, rr;
	mbedtls_mpi t[10];
	struct ed_pt base;
};

/* Initialise a point's numbers. */
static void
ed_pt_init(struct ed_pt *a)
{
	mbedtls_mpi_init(&a->x);
	mbedtls_mpi_init(&a->y);
	mbedtls_mpi_init(&a->z);
	mbedtls_mpi_init(&a->t);
}

/* Release a point's numbers. */
static void
ed_pt_free(struct ed_pt *a)
{
	mbedtls_mpi_free(&a->x);
	mbedtls_mpi_free(&a->y);
	mbedtls_mpi_free(&a->z);
	mbedtls_mpi_free(&a->t);
}

/* r = a * b mod p. */
static int
fe_mul(struct ed *e, mbedtls_mpi *r, const mbedtls_mpi *a, const mbedtls_mpi *b)
{
	CHK(mbedtls_mpi_mul_mpi(r, a, b));
	CHK(mbedtls_mpi_mod_mpi(r, r, &e->p));
	return 0;
fail:
	return -1;
}

/* r = a + b mod p, for a, b in [0, p). */
static int
fe_add(struct ed *e, mbedtls_mpi *r, const mbedtls_mpi *a, const mbedtls_mpi *b)
{
	CHK(mbedtls_mpi_add_mpi(r, a, b));
	if (mbedtls_mpi_cmp_mpi(r, &e->p) >= 0)
		CHK(mbedtls_mpi_sub_mpi(r, r, &e->p));
	return 0;
fail:
	return -1;
}

/* r = a - b mod p, for a, b in [0, p). */
static int
fe_sub(struct ed *e, mbedtls_mpi *r, const mbedtls_mpi *a, const mbedtls_mpi *b)
{
	CHK(mbedtls_mpi_sub_mpi(r, a, b));
	if (mbedtls_mpi_cmp_int(r, 0) < 0)
		CHK(mbedtls_mpi_add_mpi(r, r, &e->p));
	return 0;
fail:
	return -1;
}

/* r = a^k mod p. */
static int
fe_pow(struct ed *e, mbedtls_mpi *r, const mbedtls_mpi *a, const mbedtls_mpi *k)
{
	return mbedtls_mpi_exp_mod(r, a, k, &e->p, &e->rr) == 0 ? 0 : -1;
}

/* r = a + b (r may alias a or b). */
static int
ed_add(struct ed *e, struct ed_pt *r, const struct ed_pt *a, const struct ed_pt *b)
{
	mbedtls_mpi *A = &e->t[0], *B = &e->t[1], *C = &e->t[2], *D = &e->t[3], *E = &e->t[4];
	mbedtls_mpi *F = &e->t[5], *G = &e->t[6], *H = &e->t[7], *u = &e->t[8], *v = &e->t[9];

	CHK(fe_sub(e, u, &a->y, &a->x));
	CHK(fe_sub(e, v, &b->y, &b->x));
	CHK(fe_mul(e, A, u, v));
	CHK(fe_add(e, u, &a->y, &a->x));
	CHK(fe_add(e, v, &b->y, &b->x));
	CHK(fe_mul(e, B, u, v));
	CHK(fe_mul(e, C, &a->t, &b->t));
	CHK(fe_mul(e, C, C, &e->d2));
	CHK(fe_mul(e, D, &a->z, &b->z));
	CHK(fe_add(e, D, D, D));
	CHK(fe_sub(e, E, B, A));
	CHK(fe_sub(e, F, D, C));
	CHK(fe_add(e, G, D, C));
	CHK(fe_add(e, H, B, A));
	CHK(fe_mul(e, &r->x, E, F));
	CHK(fe_mul(e, &r->y, G, H));
	CHK(fe_mul(e, &r->t, E, H));
	CHK(fe_mul(e, &r->z, F, G));
	return 0;
fail:
	return -1;
}

/* r = the neutral element (0, 1). */
static int
ed_zero(struct ed_pt *r)
{
	CHK(mbedtls_mpi_lset(&r->x, 0));
	CHK(mbedtls_mpi_lset(&r->y, 1));
	CHK(mbedtls_mpi_lset(&r->z, 1));
	CHK(mbedtls_mpi_lset(&r->t, 0));
	return 0;
fail:
	return -1;
}

/* r = k * a by double-and-add over the bits of the non-negative scalar k. */
static int
ed_scalarmult(struct ed *e, struct ed_pt *r, const mbedtls_mpi *k, const struct ed_pt *a)
{
	struct ed_pt q;
	size_t i = mbedtls_mpi_bitlen(k);
	int rc = -1;

	ed_pt_init(&q);
	CHK(ed_zero(&q));
	while (i-- > 0) {
		CHK(ed_add(e, &q, &q, &q));
		if (mbedtls_mpi_get_bit(k, i))
			CHK(ed_add(e, &q, &q, a));
	}
	CHK(mbedtls_mpi_copy(&r->x, &q.x));
	CHK(mbedtls_mpi_copy(&r->y, &q.y));
	CHK(mbedtls_mpi_copy(&r->z, &q.z));
	CHK(mbedtls_mpi_copy(&r->t, &q.t));
	rc = 0;
fail:
	ed_pt_free(&q);
	return rc;
}

/* The standard encoding: y little-endian with the low bit of x in bit 255. */
static int
ed_encode(struct ed *e, uint8_t out[32], const struct ed_pt *a)
{
	mbedtls_mpi *zi = &e->t[0], *x = &e->t[1], *y = &e->t[2];

	CHK(fe_pow(e, zi, &a->z, &e->pm2));
	CHK(fe_mul(e, x, &a->x, zi));
	CHK(fe_mul(e, y, &a->y, zi));
	CHK(mbedtls_mpi_write_binary_le(y, out, 32));
	out[31] |= (uint8_t)(mbedtls_mpi_get_bit(x, 0) << 7);
	return 0;
fail:
	return -1;
}

/* Decode an encoded point (y reduced mod p as ref10 does; x recovered with the sign bit). -1 if there is
 * no such point. */
static int
ed_decode(struct ed *e, struct ed_pt *r, const uint8_t in[32])
{
	mbedtls_mpi *y2 = &e->t[0], *u = &e->t[1], *v = &e->t[2], *v3 = &e->t[3], *w = &e->t[4];
	mbedtls_mpi *x = &e->t[5], *chk = &e->t[6], *nu = &e->t[7];
	uint8_t b[32];
	int sign = in[31] >> 7;

	memcpy(b, in, 32);
	b[31] &= 0x7f;
	CHK(mbedtls_mpi_read_binary_le(&r->y, b, 32));
	CHK(mbedtls_mpi_mod_mpi(&r->y, &r->y, &e->p));
	/* x^2 = (y^2 - 1) / (d y^2 + 1); x = u v^3 (u v^7)^((p-5)/8), then fix up by sqrt(-1). */
	CHK(fe_mul(e, y2, &r->y, &r->y));
	CHK(mbedtls_mpi_lset(w, 1));
	CHK(fe_sub(e, u, y2, w));
	CHK(fe_mul(e, v, y2, &e->d));
	CHK(fe_add(e, v, v, w));
	CHK(fe_mul(e, v3, v, v));
	CHK(fe_mul(e, v3, v3, v));		/* v^3 */
	CHK(fe_mul(e, w, v3, v3));
	CHK(fe_mul(e, w, w, v));		/* v^7 */
	CHK(fe_mul(e, w, w, u));		/* u v^7 */
	CHK(fe_pow(e, x, w, &e->pm5d8));
	CHK(fe_mul(e, x, x, v3));
	CHK(fe_mul(e, x, x, u));
	CHK(fe_mul(e, chk, x, x));
	CHK(fe_mul(e, chk, chk, v));		/* v x^2 */
	if (mbedtls_mpi_cmp_mpi(chk, u) != 0) {
		CHK(mbedtls_mpi_lset(w, 0));
		CHK(fe_sub(e, nu, w, u));
		if (mbedtls_mpi_cmp_mpi(chk, nu) != 0)
			return -1;
		CHK(fe_mul(e, x, x, &e->sqrtm1));
	}
	if (mbedtls_mpi_get_bit(x, 0) != sign) {
		CHK(mbedtls_mpi_lset(w, 0));
		CHK(fe_sub(e, x, w, x));
	}
	CHK(mbedtls_mpi_copy(&r->x, x));
	CHK(mbedtls_mpi_lset(&r->z, 1));
	CHK(fe_mul(e, &r->t, &r->x, &r->y));
	return 0;
fail:
	return -1;
}

/* Release the curve constants. */
static void
ed_free(struct ed *e)
{
	size_t i;

	mbedtls_mpi_free(&e->p);
	mbedtls_mpi_free(&e->d);
	mbedtls_mpi_free(&e->d2);
	mbedtls_mpi_free(&e->sqrtm1);
	mbedtls_mpi_free(&e->l);
	mbedtls_mpi_free(&e->pm2);
	mbedtls_mpi_free(&e->pm5d8);
	mbedtls_mpi_free(&e->rr);
	for (i = 0; i < sizeof(e->t) / sizeof(e->t[0]); i++)
		mbedtls_mpi_free(&e->t[i]);
	ed_pt_free(&e->base);
}

/* Set up p, d, 2d, sqrt(-1), the group order and the base point. */
static int
ed_init(struct ed *e)
{
	/* The base point's y = 4/5, x even. */
	uint8_t bb[32];
	size_t i;

	mbedtls_mpi_init(&e->p);
	mbedtls_mpi_init(&e->d);
	mbedtls_mpi_init(&e->d2);
	mbedtls_mpi_init(&e->sqrtm1);
	mbedtls_mpi_init(&e->l);
	mbedtls_mpi_init(&e->pm2);
	mbedtls_mpi_init(&e->pm5d8);
	mbedtls_mpi_init(&e->rr);
	for (i = 0; i < sizeof(e->t) / sizeof(e->t[0]); i++)
		mbedtls_mpi_init(&e->t[i]);
	ed_pt_init(&e->base);

	/* p = 2^255 - 19 */
	CHK(mbedtls_mpi_lset(&e->p, 1));
	CHK(mbedtls_mpi_shift_l(&e->p, 255));
	CHK(mbedtls_mpi_sub_int(&e->p, &e->p, 19));
	CHK(mbedtls_mpi_sub_int(&e->pm2, &e->p, 2));
	CHK(mbedtls_mpi_sub_int(&e->pm5d8, &e->p, 5));
	CHK(mbedtls_mpi_shift_r(&e->pm5d8, 3));
	/* l = 2^252 + 27742317777372353535851937790883648493 */
	CHK(mbedtls_mpi_read_string(&e->l, 16,
	    "1000000000000000000000000000000014DEF9DEA2F79CD65812631A5CF5D3ED"));
	/* d = -121665 / 121666 */
	CHK(mbedtls_mpi_lset(&e->t[0], 121666));
	CHK(fe_pow(e, &e->t[1], &e->t[0], &e->pm2));
	CHK(mbedtls_mpi_lset(&e->t[0], 121665));
	CHK(fe_mul(e, &e->t[2], &e->t[0], &e->t[1]));
	CHK(mbedtls_mpi_lset(&e->t[0], 0));
	CHK(fe_sub(e, &e->d, &e->t[0], &e->t[2]));
	CHK(fe_add(e, &e->d2, &e->d, &e->d));
	/* sqrt(-1) = 2^((p-1)/4) */
	CHK(mbedtls_mpi_sub_int(&e->t[3], &e->p, 1));
	CHK(mbedtls_mpi_shift_r(&e->t[3], 2));
	CHK(mbedtls_mpi_lset(&e->t[4], 2));
	CHK(fe_pow(e, &e->sqrtm1, &e->t[4], &e->t[3]));
	/* base point: y = 4 * 5^-1 */
	CHK(mbedtls_mpi_lset(&e->t[0], 5));
	CHK(fe_pow(e, &e->t[1], &e->t[0], &e->pm2));
	CHK(mbedtls_mpi_lset(&e->t[0], 4));
	CHK(fe_mul(e, &e->t[8], &e->t[0], &e->t[1]));
	CHK(mbedtls_mpi_write_binary_le(&e->t[8], bb, sizeof(bb)));
	CHK(ed_decode(e, &e->base, bb));
	return 0;
fail:
	return -1;
}

/* SHA-512 over up to four pieces. */
static int
cert_sha512(uint8_t out[64], const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
    const uint8_t *c, size_t clen, const uint8_t *d, size_t dlen)
{
	mbedtls_sha512_context ctx;
	int rc = -1;

	mbedtls_sha512_init(&ctx);
	CHK(mbedtls_sha512_starts_ret(&ctx, 0));
	CHK(alen > 0 ? mbedtls_sha512_update_ret(&ctx, a, alen) : 0);
	CHK(blen > 0 ? mbedtls_sha512_update_ret(&ctx, b, blen) : 0);
	CHK(clen > 0 ? mbedtls_sha512_update_ret(&ctx, c, clen) : 0);
	CHK(dlen > 0 ? mbedtls_sha512_update_ret(&ctx, d, dlen) : 0);
	CHK(mbedtls_sha512_finish_ret(&ctx, out));
	rc = 0;
fail:
	mbedtls_sha512_free(&ctx);
	return rc;
}

/* Convert an X25519 public key to its Edwards y encoding: y = (u - 1) / (u + 1) (u = -1 gives 0). */
static int
cert_mont_to_ed(struct ed *e, const uint8_t pub[32], uint8_t out[32])
{
	mbedtls_mpi *u = &e->t[0], *n = &e->t[1], *dn = &e->t[2], *one = &e->t[3], *y = &e->t[4];
	uint8_t b[32];

	memcpy(b, pub, 32);
	b[31] &= 0x7f;
	CHK(mbedtls_mpi_read_binary_le(u, b, 32));
	CHK(mbedtls_mpi_mod_mpi(u, u, &e->p));
	CHK(mbedtls_mpi_lset(one, 1));
	CHK(fe_sub(e, n, u, one));
	CHK(fe_add(e, dn, u, one));
	CHK(fe_pow(e, dn, dn, &e->pm2));
	CHK(fe_mul(e, y, n, dn));
	CHK(mbedtls_mpi_write_binary_le(y, out, 32));
	return 0;
fail:
	return -1;
}

/* Verify as libsignal's curve25519_verify does. */
int
wa_cert_verify(const uint8_t pub[WA_CERT_KEY_LEN], const uint8_t *msg, size_t len,
    const uint8_t sig[WA_CERT_SIG_LEN])
{
	struct ed e;
	struct ed_pt a, sb, ha;
	mbedtls_mpi s, h;
	uint8_t edpub[32], sbytes[32], hash[64], check[32];
	int rc = -1;

	ed_pt_init(&a);
	ed_pt_init(&sb);
	ed_pt_init(&ha);
	mbedtls_mpi_init(&s);
	mbedtls_mpi_init(&h);
	if (ed_init(&e) != 0)
		goto fail;
	CHK(cert_mont_to_ed(&e, pub, edpub));
	/* The signer moved its Edwards key's sign bit into the top bit of S. */
	edpub[31] = (uint8_t)((edpub[31] & 0x7f) | (sig[63] & 0x80));
	memcpy(sbytes, sig + 32, 32);
	sbytes[31] &= 0x7f;
	if (sbytes[31] & 0xe0)
		goto fail;
	CHK(ed_decode(&e, &a, edpub));
	CHK(mbedtls_mpi_read_binary_le(&s, sbytes, 32));
	CHK(cert_sha512(hash, sig, 32, edpub, 32, msg, len, NULL, 0));
	CHK(mbedtls_mpi_read_binary_le(&h, hash, 64));
	CHK(mbedtls_mpi_mod_mpi(&h, &h, &e.l));
	/* R' = S B - h A must encode to R. */
	CHK(ed_scalarmult(&e, &sb, &s, &e.base));
	CHK(ed_scalarmult(&e, &ha, &h, &a));
	CHK(mbedtls_mpi_lset(&e.t[9], 0));
	CHK(fe_sub(&e, &ha.x, &e.t[9], &ha.x));
	CHK(fe_sub(&e, &ha.t, &e.t[9], &ha.t));
	CHK(ed_add(&e, &sb, &sb, &ha));
	CHK(ed_encode(&e, check, &sb));
	if (memcmp(check, sig, 32) != 0)
		goto fail;
	rc = 0;
fail:
	mbedtls_mpi_free(&s);
	mbedtls_mpi_free(&h);
	ed_pt_free(&a);
	ed_pt_free(&sb);
	ed_pt_free(&ha);
	ed_free(&e);
	return rc;
}

/* Sign as libsignal's curve25519_sign does, with the given nonce randomness. */
int
wa_cert_sign_with_random(const uint8_t priv[WA_CERT_KEY_LEN], const uint8_t *msg, size_t len,
    const uint8_t random[64], uint8_t sig[WA_CERT_SIG_LEN])
{
	static const uint8_t prefix[32] = {
		0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	};
	struct ed e;
	struct ed_pt a, r;
	mbedtls_mpi k, n, h, s;
	uint8_t sk[32], edpub[32], hash[64], out[64];
	uint8_t *km = NULL;
	int rc = -1;

	ed_pt_init(&a);
	ed_pt_init(&r);
	mbedtls_mpi_init(&k);
	mbedtls_mpi_init(&n);
	mbedtls_mpi_init(&h);
	mbedtls_mpi_init(&s);
	memcpy(sk, priv, 32);
	sk[0] &= 248;
	sk[31] &= 127;
	sk[31] |= 64;
	if (ed_init(&e) != 0)
		goto fail;
	CHK(mbedtls_mpi_read_binary_le(&k, sk, 32));
	CHK(ed_scalarmult(&e, &a, &k, &e.base));
	CHK(ed_encode(&e, edpub, &a));
	/* nonce = SHA512(0xfe ff*31 || k || msg || random) mod l */
	km = xmalloc(32 + len + 64);
	memcpy(km, sk, 32);
	if (len > 0)
		memcpy(km + 32, msg, len);
	memcpy(km + 32 + len, random, 64);
	CHK(cert_sha512(hash, prefix, 32, km, 32 + len + 64, NULL, 0, NULL, 0));
	CHK(mbedtls_mpi_read_binary_le(&n, hash, 64));
	CHK(mbedtls_mpi_mod_mpi(&n, &n, &e.l));
	CHK(ed_scalarmult(&e, &r, &n, &e.base));
	CHK(ed_encode(&e, out, &r));
	/* h = SHA512(R || A || msg) mod l; S = nonce + h k mod l */
	CHK(cert_sha512(hash, out, 32, edpub, 32, msg, len, NULL, 0));
	CHK(mbedtls_mpi_read_binary_le(&h, hash, 64));
	CHK(mbedtls_mpi_mod_mpi(&h, &h, &e.l));
	CHK(mbedtls_mpi_mul_mpi(&s, &h, &k));
	CHK(mbedtls_mpi_add_mpi(&s, &s, &n));
	CHK(mbedtls_mpi_mod_mpi(&s, &s, &e.l));
	CHK(mbedtls_mpi_write_binary_le(&s, out + 32, 32));
	out[63] = (uint8_t)((out[63] & 0x7f) | (edpub[31] & 0x80));
	memcpy(sig, out, 64);
	rc = 0;
fail:
	if (km != NULL)
		free_wiped(km, 32 + len + 64);
	explicit_wipe(sk, sizeof(sk));
	explicit_wipe(hash, sizeof(hash));
	mbedtls_mpi_free(&k);
	mbedtls_mpi_free(&n);
	mbedtls_mpi_free(&h);
	mbedtls_mpi_free(&s);
	ed_pt_free(&a);
	ed_pt_free(&r);
	ed_free(&e);
	return rc;
}

/* Sign with fresh nonce randomness. */
int
wa_cert_sign(const uint8_t priv[WA_CERT_KEY_LEN], const uint8_t *msg, size_t len, uint8_t sig[WA_CERT_SIG_LEN])
{
	uint8_t rnd[64];
	int rc;

	random_bytes(rnd, sizeof(rnd));
	rc = wa_cert_sign_with_random(priv, msg, len, rnd, sig);
	explicit_wipe(rnd, sizeof(rnd));
	return rc;
}

/* A root or intermediate key pair. */
int
wa_cert_keypair_generate(uint8_t priv[WA_CERT_KEY_LEN], uint8_t pub[WA_CERT_KEY_LEN])
{
	return wa_noise_keypair_generate(priv, pub);
}

/* Pack a protobuf-c message into a new buffer. */
static int
cert_pack(const ProtobufCMessage *m, uint8_t **out, size_t *outlen)
{
	size_t n = protobuf_c_message_get_packed_size(m);

	*out = xmalloc(n > 0 ? n : 1);
	*outlen = protobuf_c_message_pack(m, *out);
	return 0;
}

/* Serialize Details with every field present. */
int
wa_cert_details_encode(const struct wa_cert_details *d, uint8_t **out, size_t *outlen)
{
	Wa__CertChain__NoiseCertificate__Details m = WA__CERT_CHAIN__NOISE_CERTIFICATE__DETAILS__INIT;

	m.has_serial = 1;
	m.serial = d->serial;
	m.has_issuerserial = 1;
	m.issuerserial = d->issuer_serial;
	m.has_key = 1;
	m.key.data = (uint8_t *)d->key;
	m.key.len = WA_CERT_KEY_LEN;
	m.has_notbefore = 1;
	m.notbefore = d->not_before;
	m.has_notafter = 1;
	m.notafter = d->not_after;
	return cert_pack(&m.base, out, outlen);
}

/* Parse Details; absent numbers read as 0 (as in Go). */
int
wa_cert_details_decode(const uint8_t *buf, size_t len, struct wa_cert_details *d)
{
	Wa__CertChain__NoiseCertificate__Details *m;

	memset(d, 0, sizeof(*d));
	if (len > WA_CERT_MAX_CHAIN)
		return -1;
	m = (Wa__CertChain__NoiseCertificate__Details *)protobuf_c_message_unpack(
	    &wa__cert_chain__noise_certificate__details__descriptor, NULL, len, buf);
	if (m == NULL)
		return -1;
	if (!m->has_key || m->key.len != WA_CERT_KEY_LEN) {
		protobuf_c_message_free_unpacked(&m->base, NULL);
		return -1;
	}
	d->serial = m->has_serial ? m->serial : 0;
	d->issuer_serial = m->has_issuerserial ? m->issuerserial : 0;
	memcpy(d->key, m->key.data, WA_CERT_KEY_LEN);
	d->not_before = m->has_notbefore ? m->notbefore : 0;
	d->not_after = m->has_notafter ? m->notafter : 0;
	protobuf_c_message_free_unpacked(&m->base, NULL);
	return 0;
}

/* Serialize a chain {leaf = 1, intermediate = 2}. */
int
wa_cert_chain_encode(const uint8_t *leaf_details, size_t leaf_len, const uint8_t leaf_sig[WA_CERT_SIG_LEN],
    const uint8_t *int_details, size_t int_len, const uint8_t int_sig[WA_CERT_SIG_LEN], uint8_t **out,
    size_t *outlen)
{
	Wa__CertChain chain = WA__CERT_CHAIN__INIT;
	Wa__CertChain__NoiseCertificate leaf = WA__CERT_CHAIN__NOISE_CERTIFICATE__INIT;
	Wa__CertChain__NoiseCertificate inter = WA__CERT_CHAIN__NOISE_CERTIFICATE__INIT;

	leaf.has_details = leaf.has_signature = 1;
	leaf.details.data = (uint8_t *)leaf_details;
	leaf.details.len = leaf_len;
	leaf.signature.data = (uint8_t *)leaf_sig;
	leaf.signature.len = WA_CERT_SIG_LEN;
	inter.has_details = inter.has_signature = 1;
	inter.details.data = (uint8_t *)int_details;
	inter.details.len = int_len;
	inter.signature.data = (uint8_t *)int_sig;
	inter.signature.len = WA_CERT_SIG_LEN;
	chain.leaf = &leaf;
	chain.intermediate = &inter;
	return cert_pack(&chain.base, out, outlen);
}

/* Sign both certificates and serialize the chain. */
int
wa_cert_chain_issue(const uint8_t root_priv[WA_CERT_KEY_LEN], const uint8_t int_priv[WA_CERT_KEY_LEN],
    const struct wa_cert_details *intermediate, const struct wa_cert_details *leaf, uint8_t **out,
    size_t *outlen)
{
	uint8_t *idet = NULL, *ldet = NULL, isig[WA_CERT_SIG_LEN], lsig[WA_CERT_SIG_LEN];
	size_t ilen, llen;
	int rc = -1;

	*out = NULL;
	*outlen = 0;
	if (wa_cert_details_encode(intermediate, &idet, &ilen) != 0 ||
	    wa_cert_details_encode(leaf, &ldet, &llen) != 0 ||
	    wa_cert_sign(root_priv, idet, ilen, isig) != 0 ||
	    wa_cert_sign(int_priv, ldet, llen, lsig) != 0)
		goto out;
	rc = wa_cert_chain_encode(ldet, llen, lsig, idet, ilen, isig, out, outlen);
out:
	free(idet);
	free(ldet);
	return rc;
}

/* The usual test chain for a server static key. */
int
wa_cert_chain_generate(const uint8_t root_priv[WA_CERT_KEY_LEN],
    const uint8_t server_static_pub[WA_CERT_KEY_LEN], uint64_t not_before, uint64_t not_after, uint8_t **out,
    size_t *outlen)
{
	struct wa_cert_details inter, leaf;
	uint8_t ipriv[WA_CERT_KEY_LEN];
	int rc;

	*out = NULL;
	*outlen = 0;
	memset(&inter, 0, sizeof(inter));
	memset(&leaf, 0, sizeof(leaf));
	if (wa_cert_keypair_generate(ipriv, inter.key) != 0)
		return -1;
	inter.serial = 1;
	inter.issuer_serial = WA_CERT_ROOT_ISSUER_SERIAL;
	inter.not_before = leaf.not_before = not_before;
	inter.not_after = leaf.not_after = not_after;
	leaf.serial = 2;
	leaf.issuer_serial = inter.serial;
	memcpy(leaf.key, server_static_pub, WA_CERT_KEY_LEN);
	rc = wa_cert_chain_issue(root_priv, ipriv, &inter, &leaf, out, outlen);
	explicit_wipe(ipriv, sizeof(ipriv));
	return rc;
}

/* Fill err with a reason and fail. */
static int
cert_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
cert_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Whether a certificate message has both its parts. */
static int
cert_complete(const Wa__CertChain__NoiseCertificate *c)
{
	return c != NULL && c->has_details && c->has_signature;
}

/* Check notBefore <= now <= notAfter for one certificate. */
static int
cert_check_time(const char *which, const struct wa_cert_details *d, uint64_t now, char *err, size_t errlen)
{
	if (now < d->not_before)
		return cert_fail(err, errlen, "certificate: %s not yet valid (notBefore %llu, now %llu)", which,
		    (unsigned long long)d->not_before, (unsigned long long)now);
	if (now > d->not_after)
		return cert_fail(err, errlen, "certificate: %s expired (notAfter %llu, now %llu)", which,
		    (unsigned long long)d->not_after, (unsigned long long)now);
	return 0;
}

/* Verify a chain with whatsmeow's checks in whatsmeow's order. */
int
wa_cert_chain_verify(const uint8_t *chain, size_t len, const uint8_t root_pub[WA_CERT_KEY_LEN],
    const uint8_t server_static[WA_CERT_KEY_LEN], uint64_t now, char *err, size_t errlen)
{
	Wa__CertChain *m = NULL;
	const Wa__CertChain__NoiseCertificate *leaf, *inter;
	struct wa_cert_details id, ld;
	uint8_t diff = 0;
	size_t i;
	int rc = -1;

	if (len > WA_CERT_MAX_CHAIN)
		return cert_fail(err, errlen, "certificate: chain too long (%zu bytes)", len);
	m = wa__cert_chain__unpack(NULL, len, chain);
	if (m == NULL)
		return cert_fail(err, errlen, "certificate: chain does not parse");
	leaf = m->leaf;
	inter = m->intermediate;
	if (!cert_complete(leaf)) {
		cert_fail(err, errlen, "certificate: leaf missing details or signature");
		goto out;
	}
	if (!cert_complete(inter)) {
		cert_fail(err, errlen, "certificate: intermediate missing details or signature");
		goto out;
	}
	if (inter->signature.len != WA_CERT_SIG_LEN) {
		cert_fail(err, errlen, "certificate: intermediate signature is %zu bytes, want 64",
		    inter->signature.len);
		goto out;
	}
	if (leaf->signature.len != WA_CERT_SIG_LEN) {
		cert_fail(err, errlen, "certificate: leaf signature is %zu bytes, want 64", leaf->signature.len);
		goto out;
	}
	if (wa_cert_verify(root_pub, inter->details.data, inter->details.len, inter->signature.data) != 0) {
		cert_fail(err, errlen, "certificate: intermediate signature invalid (not signed by the trusted root)");
		goto out;
	}
	if (wa_cert_details_decode(inter->details.data, inter->details.len, &id) != 0) {
		cert_fail(err, errlen, "certificate: intermediate details do not parse or key is not 32 bytes");
		goto out;
	}
	if (id.issuer_serial != WA_CERT_ROOT_ISSUER_SERIAL) {
		cert_fail(err, errlen, "certificate: intermediate issuer serial %u, want %u", id.issuer_serial,
		    WA_CERT_ROOT_ISSUER_SERIAL);
		goto out;
	}
	if (wa_cert_verify(id.key, leaf->details.data, leaf->details.len, leaf->signature.data) != 0) {
		cert_fail(err, errlen, "certificate: leaf signature invalid (not signed by the intermediate)");
		goto out;
	}
	if (cert_check_time("intermediate", &id, now, err, errlen) != 0)
		goto out;
	if (wa_cert_details_decode(leaf->details.data, leaf->details.len, &ld) != 0) {
		cert_fail(err, errlen, "certificate: leaf details do not parse or key is not 32 bytes");
		goto out;
	}
	if (ld.issuer_serial != id.serial) {
		cert_fail(err, errlen, "certificate: leaf issuer serial %u does not match intermediate serial %u",
		    ld.issuer_serial, id.serial);
		goto out;
	}
	for (i = 0; i < WA_CERT_KEY_LEN; i++)
		diff |= (uint8_t)(ld.key[i] ^ server_static[i]);
	if (diff != 0) {
		cert_fail(err, errlen, "certificate: leaf key does not match the server static key");
		goto out;
	}
	if (cert_check_time("leaf", &ld, now, err, errlen) != 0)
		goto out;
	rc = 0;
out:
	wa__cert_chain__free_unpacked(m, NULL);
	return rc;
}

/* Value of a hex digit, or -1. */
static int
cert_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parse a hex or base64 key. */
int
wa_cert_key_parse(const char *text, uint8_t key[WA_CERT_KEY_LEN])
{
	uint8_t buf[48];
	size_t start = 0, end = strlen(text), n, i, olen = 0;

	while (start < end && isspace((unsigned char)text[start]))
		start++;
	while (end > start && isspace((unsigned char)text[end - 1]))
		end--;
	n = end - start;
	text += start;
	if (n == 2 * WA_CERT_KEY_LEN || n == 2 * (WA_CERT_KEY_LEN + 1)) {
		for (i = 0; i < n / 2; i++) {
			int hi = cert_hexval(text[2 * i]), lo = cert_hexval(text[2 * i + 1]);

			if (hi < 0 || lo < 0)
				goto b64;
			buf[i] = (uint8_t)(hi << 4 | lo);
		}
		olen = n / 2;
		goto done;
	}
b64:
	if (n == 0 || n > 64 || mbedtls_base64_decode(buf, sizeof(buf), &olen, (const unsigned char *)text, n) != 0)
		return -1;
done:
	if (olen == WA_CERT_KEY_LEN + 1 && buf[0] == 0x05) {
		memcpy(key, buf + 1, WA_CERT_KEY_LEN);
		return 0;
	}
	if (olen != WA_CERT_KEY_LEN)
		return -1;
	memcpy(key, buf, WA_CERT_KEY_LEN);
	explicit_wipe(buf, sizeof(buf));
	return 0;
}

/* Format a key as hex. */
void
wa_cert_key_format(const uint8_t key[WA_CERT_KEY_LEN], char out[2 * WA_CERT_KEY_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < WA_CERT_KEY_LEN; i++) {
		out[2 * i] = hex[key[i] >> 4];
		out[2 * i + 1] = hex[key[i] & 15];
	}
	out[2 * WA_CERT_KEY_LEN] = '\0';
}

/* Read a key file. */
int
wa_cert_key_read_file(const char *path, uint8_t key[WA_CERT_KEY_LEN], char *err, size_t errlen)
{
	char buf[1025];
	size_t n;
	FILE *f;
	int bad;

	if ((f = fopen(path, "re")) == NULL)
		return cert_fail(err, errlen, "%s: %s", path, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	bad = ferror(f) || !feof(f);
	fclose(f);
	if (bad)
		return cert_fail(err, errlen, "%s: read error or longer than 1 KiB", path);
	buf[n] = '\0';
	if (strlen(buf) != n || wa_cert_key_parse(buf, key) != 0) {
		explicit_wipe(buf, sizeof(buf));
		return cert_fail(err, errlen, "%s: not a 32-byte key in hex or base64", path);
	}
	explicit_wipe(buf, sizeof(buf));
	return 0;
}

/* Write a key file atomically (temporary file + rename). */
int
wa_cert_key_write_file(const char *path, const uint8_t key[WA_CERT_KEY_LEN], int secret)
{
	char line[2 * WA_CERT_KEY_LEN + 2], *tmp = NULL;
	int fd, saved;
	ssize_t w;

	wa_cert_key_format(key, line);
	line[2 * WA_CERT_KEY_LEN] = '\n';
	line[2 * WA_CERT_KEY_LEN + 1] = '\0';
	xasprintf(&tmp, "%s.tmpXXXXXX", path);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
		goto fail;
	if (fchmod(fd, secret ? 0600 : 0644) != 0)
		goto fail_fd;
	w = write(fd, line, strlen(line));
	if (w != (ssize_t)strlen(line)) {
		if (w >= 0)
			errno = EIO;
		goto fail_fd;
	}
	if (fsync(fd) != 0)
		goto fail_fd;
	if (close(fd) != 0)
		goto fail_unlink;
	if (rename(tmp, path) != 0)
		goto fail_unlink;
	explicit_wipe(line, sizeof(line));
	free(tmp);
	return 0;
fail_fd:
	saved = errno;
	close(fd);
	errno = saved;
fail_unlink:
	saved = errno;
	unlink(tmp);
	errno = saved;
fail:
	explicit_wipe(line, sizeof(line));
	free(tmp);
	return -1;
}
