/* libsignal-compatible curve25519 (XEdDSA) signatures on Ed25519 arithmetic; constant-time signing. */
#include "wa_xeddsa.h"

#include <string.h>

#include <mbedtls/sha512.h>

#include "random.h"
#include "wa_fe.h"
#include "wa_noise.h"
#include "xmalloc.h"

/*
 * Field elements (wa_fe.h) are five 51-bit limbs; points are extended coordinates (X:Y:Z:T) with x = X/Z,
 * y = Y/Z, T = XY/Z, and one complete addition formula (a = -1, d non-square) also doubles, so a ladder step
 * has the same operations whatever the scalar bit.
 */

#define CHK(f) do { if ((f) != 0) goto fail; } while (0)

struct ed_pt {
	fe x, y, z, t;
};

/* Curve constants, computed per use (no global mutable state). */
struct ed {
	fe d, d2, sqrtm1;
	struct ed_pt base;
};

/* Exponents, little-endian: (p - 5) / 8, (p - 1) / 4. */
static const uint8_t exp_pm5d8[32] = {
	0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f,
};
static const uint8_t exp_pm1d4[32] = {
	0xfb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f,
};

/* Whether two field elements are equal. */
static int
fe_equal(const fe *a, const fe *b)
{
	uint8_t x[32], y[32];

	fe_tobytes(x, a);
	fe_tobytes(y, b);
	return memcmp(x, y, 32) == 0;
}

/* The low bit of the canonical value. */
static int
fe_isodd(const fe *a)
{
	uint8_t x[32];

	fe_tobytes(x, a);
	return x[0] & 1;
}

/* r = a + b (r may alias a or b). */
static void
ed_add(const struct ed *e, struct ed_pt *r, const struct ed_pt *a, const struct ed_pt *b)
{
	fe A, B, C, D, E, F, G, H, u, v;

	fe_sub(&u, &a->y, &a->x);
	fe_sub(&v, &b->y, &b->x);
	fe_mul(&A, &u, &v);
	fe_add(&u, &a->y, &a->x);
	fe_add(&v, &b->y, &b->x);
	fe_mul(&B, &u, &v);
	fe_mul(&C, &a->t, &b->t);
	fe_mul(&C, &C, &e->d2);
	fe_mul(&D, &a->z, &b->z);
	fe_add(&D, &D, &D);
	fe_sub(&E, &B, &A);
	fe_sub(&F, &D, &C);
	fe_add(&G, &D, &C);
	fe_add(&H, &B, &A);
	fe_mul(&r->x, &E, &F);
	fe_mul(&r->y, &G, &H);
	fe_mul(&r->t, &E, &H);
	fe_mul(&r->z, &F, &G);
}

/* r = the neutral element (0, 1). */
static void
ed_zero(struct ed_pt *r)
{
	fe_set(&r->x, 0);
	fe_set(&r->y, 1);
	fe_set(&r->z, 1);
	fe_set(&r->t, 0);
}

/* r = -a. */
static void
ed_neg(struct ed_pt *r, const struct ed_pt *a)
{
	fe zero;

	fe_set(&zero, 0);
	*r = *a;
	fe_sub(&r->x, &zero, &a->x);
	fe_sub(&r->t, &zero, &a->t);
}

/* r = k1 * a + k2 * b for little-endian 256-bit scalars (joint double-and-add). Variable time: it branches on
 * the scalar bits, so it serves verification only, where every input is public. */
static void
ed_double_scalarmult(const struct ed *e, struct ed_pt *r, const uint8_t k1[32], const struct ed_pt *a,
    const uint8_t k2[32], const struct ed_pt *b)
{
	struct ed_pt q, ab;
	int i, x, y;

	ed_add(e, &ab, a, b);
	ed_zero(&q);
	for (i = 255; i >= 0; i--) {
		ed_add(e, &q, &q, &q);
		x = (k1[i / 8] >> (i % 8)) & 1;
		y = (k2[i / 8] >> (i % 8)) & 1;
		if (x && y)
			ed_add(e, &q, &q, &ab);
		else if (x)
			ed_add(e, &q, &q, a);
		else if (y)
			ed_add(e, &q, &q, b);
	}
	*r = q;
}

/* The standard encoding: y little-endian with the low bit of x in bit 255. */
static void
ed_encode(uint8_t out[32], const struct ed_pt *a)
{
	fe zi, x, y;

	fe_invert(&zi, &a->z);
	fe_mul(&x, &a->x, &zi);
	fe_mul(&y, &a->y, &zi);
	fe_tobytes(out, &y);
	out[31] |= (uint8_t)(fe_isodd(&x) << 7);
}

/* Decode an encoded point (y taken mod p as ref10 does; x recovered with the sign bit). -1 if there is
 * no such point. */
static int
ed_decode(const struct ed *e, struct ed_pt *r, const uint8_t in[32])
{
	fe y2, u, v, v3, w, x, chk, nu, one, zero;
	int sign = in[31] >> 7;

	fe_frombytes(&r->y, in);
	fe_set(&one, 1);
	fe_set(&zero, 0);
	/* x^2 = (y^2 - 1) / (d y^2 + 1); x = u v^3 (u v^7)^((p-5)/8), then fixed up by sqrt(-1). */
	fe_mul(&y2, &r->y, &r->y);
	fe_sub(&u, &y2, &one);
	fe_mul(&v, &y2, &e->d);
	fe_add(&v, &v, &one);
	fe_mul(&v3, &v, &v);
	fe_mul(&v3, &v3, &v);
	fe_mul(&w, &v3, &v3);
	fe_mul(&w, &w, &v);
	fe_mul(&w, &w, &u);
	fe_pow(&x, &w, exp_pm5d8);
	fe_mul(&x, &x, &v3);
	fe_mul(&x, &x, &u);
	fe_mul(&chk, &x, &x);
	fe_mul(&chk, &chk, &v);
	if (!fe_equal(&chk, &u)) {
		fe_sub(&nu, &zero, &u);
		if (!fe_equal(&chk, &nu))
			return -1;
		fe_mul(&x, &x, &e->sqrtm1);
	}
	if (fe_isodd(&x) != sign)
		fe_sub(&x, &zero, &x);
	r->x = x;
	fe_set(&r->z, 1);
	fe_mul(&r->t, &r->x, &r->y);
	return 0;
}

/* Set up d, 2d, sqrt(-1) and the base point. */
static int
ed_setup(struct ed *e)
{
	fe a, b, zero;
	uint8_t bb[32];

	/* d = -121665 / 121666 */
	fe_set(&a, 121666);
	fe_invert(&b, &a);
	fe_set(&a, 121665);
	fe_mul(&a, &a, &b);
	fe_set(&zero, 0);
	fe_sub(&e->d, &zero, &a);
	fe_add(&e->d2, &e->d, &e->d);
	fe_set(&a, 2);
	fe_pow(&e->sqrtm1, &a, exp_pm1d4);
	/* the base point: y = 4/5, x even */
	fe_set(&a, 5);
	fe_invert(&b, &a);
	fe_set(&a, 4);
	fe_mul(&a, &a, &b);
	fe_tobytes(bb, &a);
	return ed_decode(e, &e->base, bb);
}

/* The curve constants, computed once per process: they cost a quarter of a verification. Public values only; the
 * wa library runs on one thread per process (worker and fakewa alike). */
static const struct ed *
ed_params(void)
{
	static struct ed e;
	static int state;	/* 0 not yet, 1 ready, -1 failed */

	if (state == 0)
		state = ed_setup(&e) == 0 ? 1 : -1;
	return state == 1 ? &e : NULL;
}

/* SHA-512 over up to three pieces. */
static int
xeddsa_sha512(uint8_t out[64], const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
    const uint8_t *c, size_t clen)
{
	mbedtls_sha512_context ctx;
	int rc = -1;

	mbedtls_sha512_init(&ctx);
	CHK(mbedtls_sha512_starts_ret(&ctx, 0));
	CHK(alen > 0 ? mbedtls_sha512_update_ret(&ctx, a, alen) : 0);
	CHK(blen > 0 ? mbedtls_sha512_update_ret(&ctx, b, blen) : 0);
	CHK(clen > 0 ? mbedtls_sha512_update_ret(&ctx, c, clen) : 0);
	CHK(mbedtls_sha512_finish_ret(&ctx, out));
	rc = 0;
fail:
	mbedtls_sha512_free(&ctx);
	return rc;
}

/* Swap two points when bit is 1, without branching on bit. */
static void
ed_cswap(struct ed_pt *a, struct ed_pt *b, uint64_t bit)
{
	fe_cswap(&a->x, &b->x, bit);
	fe_cswap(&a->y, &b->y, bit);
	fe_cswap(&a->z, &b->z, bit);
	fe_cswap(&a->t, &b->t, bit);
}

/* r = k * p for a secret little-endian 256-bit k: a Montgomery ladder, the same two additions for every
 * bit, with the bit only steering conditional swaps. */
static void
ed_scalarmult_ct(const struct ed *e, struct ed_pt *r, const uint8_t k[32], const struct ed_pt *p)
{
	struct ed_pt r0, r1;
	uint64_t bit;
	int i;

	ed_zero(&r0);
	r1 = *p;
	/* invariant: r1 = r0 + p */
	for (i = 255; i >= 0; i--) {
		bit = (uint64_t)(k[i / 8] >> (i % 8)) & 1;
		ed_cswap(&r0, &r1, bit);
		ed_add(e, &r1, &r0, &r1);
		ed_add(e, &r0, &r0, &r0);
		ed_cswap(&r0, &r1, bit);
	}
	*r = r0;
	explicit_wipe(&r0, sizeof(r0));
	explicit_wipe(&r1, sizeof(r1));
}

/* The group order l = 2^252 + 27742317777372353535851937790883648493, 32-bit limbs, little-endian. */
static const uint32_t sc_l[8] = {
	0x5cf5d3ed, 0x5812631a, 0xa2f79cd6, 0x14def9de, 0x00000000, 0x00000000, 0x00000000, 0x10000000,
};

/* out = w mod l for a little-endian number of n 32-bit limbs. Bit by bit from the top: r = 2r + bit, then
 * subtract l unless that borrows; the select is a mask, so the time depends only on n. */
static void
sc_reduce_limbs(uint8_t out[32], const uint32_t *w, size_t n)
{
	uint32_t r[8] = { 0 }, t[8], bit, borrow, mask;
	uint64_t d;
	size_t i;
	int j;

	for (i = 32 * n; i-- > 0;) {
		bit = (w[i / 32] >> (i % 32)) & 1;
		/* r < l < 2^253, so 2r + 1 fits in 254 bits */
		for (j = 7; j > 0; j--)
			r[j] = r[j] << 1 | r[j - 1] >> 31;
		r[0] = r[0] << 1 | bit;
		borrow = 0;
		for (j = 0; j < 8; j++) {
			d = (uint64_t)r[j] - sc_l[j] - borrow;
			t[j] = (uint32_t)d;
			borrow = (uint32_t)(d >> 63);
		}
		/* borrow 0: r >= l, take t; borrow 1: keep r */
		mask = (uint32_t)ct_barrier(borrow) - 1;
		for (j = 0; j < 8; j++)
			r[j] = (t[j] & mask) | (r[j] & ~mask);
	}
	for (j = 0; j < 8; j++)
		for (i = 0; i < 4; i++)
			out[4 * j + i] = (uint8_t)(r[j] >> (8 * i));
	explicit_wipe(r, sizeof(r));
	explicit_wipe(t, sizeof(t));
}

/* Load little-endian bytes (a multiple of 4) into 32-bit limbs. */
static void
sc_load(uint32_t *w, const uint8_t *b, size_t nlimbs)
{
	for (size_t i = 0; i < nlimbs; i++)
		w[i] = (uint32_t)b[4 * i] | (uint32_t)b[4 * i + 1] << 8 | (uint32_t)b[4 * i + 2] << 16 |
		    (uint32_t)b[4 * i + 3] << 24;
}

/* Reduce a 64-byte little-endian number (a SHA-512 output) mod l into 32 bytes, in constant time. */
static void
sc_reduce(uint8_t out[32], const uint8_t in[64])
{
	uint32_t w[16];

	sc_load(w, in, 16);
	sc_reduce_limbs(out, w, 16);
	explicit_wipe(w, sizeof(w));
}

/* s = (a * b + c) mod l for 32-byte little-endian a, b, c (a, c < l; b < 2^255, so the sum stays below
 * 2^512), in constant time: schoolbook product, then the reduction above. */
static void
sc_muladd(uint8_t s[32], const uint8_t a[32], const uint8_t b[32], const uint8_t c[32])
{
	uint32_t x[8], y[8], z[8], p[16] = { 0 };
	uint64_t acc, carry;
	int i, j;

	sc_load(x, a, 8);
	sc_load(y, b, 8);
	sc_load(z, c, 8);
	for (i = 0; i < 8; i++) {
		carry = 0;
		for (j = 0; j < 8; j++) {
			acc = (uint64_t)x[i] * y[j] + p[i + j] + carry;
			p[i + j] = (uint32_t)acc;
			carry = acc >> 32;
		}
		p[i + 8] = (uint32_t)carry;
	}
	carry = 0;
	for (i = 0; i < 16; i++) {
		acc = (uint64_t)p[i] + (i < 8 ? z[i] : 0) + carry;
		p[i] = (uint32_t)acc;
		carry = acc >> 32;
	}
	sc_reduce_limbs(s, p, 16);
	explicit_wipe(x, sizeof(x));
	explicit_wipe(y, sizeof(y));
	explicit_wipe(z, sizeof(z));
	explicit_wipe(p, sizeof(p));
}

/* Verify as libsignal's curve25519_verify does (public data only: variable time is fine). */
int
wa_xeddsa_verify(const uint8_t pub[WA_XEDDSA_KEY_LEN], const uint8_t *msg, size_t len,
    const uint8_t sig[WA_XEDDSA_SIG_LEN])
{
	const struct ed *e;
	struct ed_pt a, na, r;
	fe u, n, dn, y, one;
	uint8_t edpub[32], s[32], hash[64], h[32], check[32];

	if ((e = ed_params()) == NULL)
		return -1;
	/* Montgomery u to Edwards y = (u - 1) / (u + 1); u = -1 gives 0, as in libsignal. */
	fe_frombytes(&u, pub);
	fe_set(&one, 1);
	fe_sub(&n, &u, &one);
	fe_add(&dn, &u, &one);
	fe_invert(&dn, &dn);
	fe_mul(&y, &n, &dn);
	fe_tobytes(edpub, &y);
	/* The signer moved its Edwards key's sign bit into the top bit of S. */
	edpub[31] = (uint8_t)((edpub[31] & 0x7f) | (sig[63] & 0x80));
	memcpy(s, sig + 32, 32);
	s[31] &= 0x7f;
	if (s[31] & 0xe0)
		return -1;
	if (ed_decode(e, &a, edpub) != 0)
		return -1;
	if (xeddsa_sha512(hash, sig, 32, edpub, 32, msg, len) != 0)
		return -1;
	sc_reduce(h, hash);
	/* R' = S B - h A must encode to R. */
	ed_neg(&na, &a);
	ed_double_scalarmult(e, &r, s, &e->base, h, &na);
	ed_encode(check, &r);
	return memcmp(check, sig, 32) == 0 ? 0 : -1;
}

/* Sign as libsignal's curve25519_sign does, with the given nonce randomness, in constant time. */
int
wa_xeddsa_sign_with_random(const uint8_t priv[WA_XEDDSA_KEY_LEN], const uint8_t *msg, size_t len,
    const uint8_t random[64], uint8_t sig[WA_XEDDSA_SIG_LEN])
{
	static const uint8_t prefix[32] = {
		0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	};
	mbedtls_sha512_context ctx;
	const struct ed *e;
	struct ed_pt a, r;
	uint8_t sk[32], edpub[32], hash[64], nonce[32], h[32], out[64];
	int rc = -1;

	memcpy(sk, priv, 32);
	sk[0] &= 248;
	sk[31] &= 127;
	sk[31] |= 64;
	mbedtls_sha512_init(&ctx);
	if ((e = ed_params()) == NULL)
		goto fail;
	ed_scalarmult_ct(e, &a, sk, &e->base);
	ed_encode(edpub, &a);
	/* nonce = SHA512(0xfe ff*31 || k || msg || random) mod l */
	CHK(mbedtls_sha512_starts_ret(&ctx, 0));
	CHK(mbedtls_sha512_update_ret(&ctx, prefix, 32));
	CHK(mbedtls_sha512_update_ret(&ctx, sk, 32));
	CHK(len > 0 ? mbedtls_sha512_update_ret(&ctx, msg, len) : 0);
	CHK(mbedtls_sha512_update_ret(&ctx, random, 64));
	CHK(mbedtls_sha512_finish_ret(&ctx, hash));
	sc_reduce(nonce, hash);
	ed_scalarmult_ct(e, &r, nonce, &e->base);
	ed_encode(out, &r);
	/* h = SHA512(R || A || msg) mod l; S = nonce + h k mod l */
	CHK(xeddsa_sha512(hash, out, 32, edpub, 32, msg, len));
	sc_reduce(h, hash);
	sc_muladd(out + 32, h, sk, nonce);
	out[63] = (uint8_t)((out[63] & 0x7f) | (edpub[31] & 0x80));
	memcpy(sig, out, 64);
	rc = 0;
fail:
	mbedtls_sha512_free(&ctx);
	explicit_wipe(sk, sizeof(sk));
	explicit_wipe(nonce, sizeof(nonce));
	explicit_wipe(hash, sizeof(hash));
	explicit_wipe(&r, sizeof(r));
	explicit_wipe(out, sizeof(out));
	return rc;
}

/* Sign with fresh nonce randomness. */
int
wa_xeddsa_sign(const uint8_t priv[WA_XEDDSA_KEY_LEN], const uint8_t *msg, size_t len,
    uint8_t sig[WA_XEDDSA_SIG_LEN])
{
	uint8_t rnd[64];
	int rc;

	random_bytes(rnd, sizeof(rnd));
	rc = wa_xeddsa_sign_with_random(priv, msg, len, rnd, sig);
	explicit_wipe(rnd, sizeof(rnd));
	return rc;
}

/* A signing key pair is an X25519 key pair. */
int
wa_xeddsa_keypair_generate(uint8_t priv[WA_XEDDSA_KEY_LEN], uint8_t pub[WA_XEDDSA_KEY_LEN])
{
	return wa_noise_keypair_generate(priv, pub);
}
