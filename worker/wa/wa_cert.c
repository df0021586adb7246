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
 * Edwards25519 arithmetic for libsignal's "curve25519" signatures (mbedTLS 2.28 has X25519 but no
 * Ed25519). Field elements are five 51-bit limbs; points are extended coordinates (X:Y:Z:T) with
 * x = X/Z, y = Y/Z, T = XY/Z, and one complete addition formula (a = -1, d non-square) also doubles.
 * Scalars mod the group order use mbedTLS bignums. Everything here is variable-time: verification only
 * handles public data; signing is for the test server and tests, not for secrets on the worker.
 */

#define CHK(f) do { if ((f) != 0) goto fail; } while (0)
#define MASK51 ((UINT64_C(1) << 51) - 1)

typedef struct { uint64_t v[5]; } fe;
typedef unsigned __int128 u128;

struct ed_pt {
	fe x, y, z, t;
};

/* Curve constants, computed per use (no global mutable state). */
struct ed {
	fe d, d2, sqrtm1;
	struct ed_pt base;
};

/* Exponents, little-endian: p - 2, (p - 5) / 8, (p - 1) / 4. */
static const uint8_t exp_pm2[32] = {
	0xeb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
};
static const uint8_t exp_pm5d8[32] = {
	0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f,
};
static const uint8_t exp_pm1d4[32] = {
	0xfb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f,
};

/* A small field element. */
static void
fe_set(fe *h, uint64_t x)
{
	memset(h, 0, sizeof(*h));
	h->v[0] = x;
}

/* Propagate carries so every limb is below 2^51 (plus a little in limb 0). */
static void
fe_carry(fe *h)
{
	uint64_t c;

	c = h->v[0] >> 51; h->v[0] &= MASK51; h->v[1] += c;
	c = h->v[1] >> 51; h->v[1] &= MASK51; h->v[2] += c;
	c = h->v[2] >> 51; h->v[2] &= MASK51; h->v[3] += c;
	c = h->v[3] >> 51; h->v[3] &= MASK51; h->v[4] += c;
	c = h->v[4] >> 51; h->v[4] &= MASK51; h->v[0] += 19 * c;
}

/* h = f + g. */
static void
fe_add(fe *h, const fe *f, const fe *g)
{
	for (int i = 0; i < 5; i++)
		h->v[i] = f->v[i] + g->v[i];
	fe_carry(h);
}

/* h = f - g (adds 4p first so limbs stay non-negative). */
static void
fe_sub(fe *h, const fe *f, const fe *g)
{
	h->v[0] = f->v[0] + UINT64_C(0x1fffffffffffb4) - g->v[0];
	for (int i = 1; i < 5; i++)
		h->v[i] = f->v[i] + UINT64_C(0x1ffffffffffffc) - g->v[i];
	fe_carry(h);
}

/* h = f * g. */
static void
fe_mul(fe *h, const fe *f, const fe *g)
{
	const uint64_t *a = f->v, *b = g->v;
	uint64_t b1 = 19 * b[1], b2 = 19 * b[2], b3 = 19 * b[3], b4 = 19 * b[4], c;
	u128 r0, r1, r2, r3, r4;

	r0 = (u128)a[0] * b[0] + (u128)a[1] * b4 + (u128)a[2] * b3 + (u128)a[3] * b2 + (u128)a[4] * b1;
	r1 = (u128)a[0] * b[1] + (u128)a[1] * b[0] + (u128)a[2] * b4 + (u128)a[3] * b3 + (u128)a[4] * b2;
	r2 = (u128)a[0] * b[2] + (u128)a[1] * b[1] + (u128)a[2] * b[0] + (u128)a[3] * b4 + (u128)a[4] * b3;
	r3 = (u128)a[0] * b[3] + (u128)a[1] * b[2] + (u128)a[2] * b[1] + (u128)a[3] * b[0] + (u128)a[4] * b4;
	r4 = (u128)a[0] * b[4] + (u128)a[1] * b[3] + (u128)a[2] * b[2] + (u128)a[3] * b[1] + (u128)a[4] * b[0];
	r1 += (uint64_t)(r0 >> 51);
	r2 += (uint64_t)(r1 >> 51);
	r3 += (uint64_t)(r2 >> 51);
	r4 += (uint64_t)(r3 >> 51);
	c = (uint64_t)(r4 >> 51);
	h->v[0] = ((uint64_t)r0 & MASK51) + 19 * c;
	h->v[1] = (uint64_t)r1 & MASK51;
	h->v[2] = (uint64_t)r2 & MASK51;
	h->v[3] = (uint64_t)r3 & MASK51;
	h->v[4] = (uint64_t)r4 & MASK51;
	c = h->v[0] >> 51;
	h->v[0] &= MASK51;
	h->v[1] += c;
}

/* h = f^e for a little-endian 256-bit exponent. */
static void
fe_pow(fe *h, const fe *f, const uint8_t e[32])
{
	fe r, b = *f;
	int i;

	fe_set(&r, 1);
	for (i = 255; i >= 0; i--) {
		fe_mul(&r, &r, &r);
		if ((e[i / 8] >> (i % 8)) & 1)
			fe_mul(&r, &r, &b);
	}
	*h = r;
}

/* Load 32 little-endian bytes, ignoring bit 255 (values >= p are fine). */
static void
fe_frombytes(fe *h, const uint8_t s[32])
{
	uint64_t w[4];

	for (int i = 0; i < 4; i++) {
		w[i] = 0;
		for (int j = 7; j >= 0; j--)
			w[i] = w[i] << 8 | s[8 * i + j];
	}
	h->v[0] = w[0] & MASK51;
	h->v[1] = (w[0] >> 51 | w[1] << 13) & MASK51;
	h->v[2] = (w[1] >> 38 | w[2] << 26) & MASK51;
	h->v[3] = (w[2] >> 25 | w[3] << 39) & MASK51;
	h->v[4] = (w[3] >> 12) & MASK51;
}

/* Store the canonical (fully reduced) value as 32 little-endian bytes. */
static void
fe_tobytes(uint8_t s[32], const fe *f)
{
	fe h = *f;
	uint64_t q, w[4];

	fe_carry(&h);
	fe_carry(&h);
	/* q = 1 exactly when h >= p */
	q = (h.v[0] + 19) >> 51;
	q = (h.v[1] + q) >> 51;
	q = (h.v[2] + q) >> 51;
	q = (h.v[3] + q) >> 51;
	q = (h.v[4] + q) >> 51;
	/* h + 19q - 2^255 q = h - p q: carry upwards and drop bit 255 instead of folding it back. */
	h.v[0] += 19 * q;
	h.v[1] += h.v[0] >> 51;
	h.v[0] &= MASK51;
	h.v[2] += h.v[1] >> 51;
	h.v[1] &= MASK51;
	h.v[3] += h.v[2] >> 51;
	h.v[2] &= MASK51;
	h.v[4] += h.v[3] >> 51;
	h.v[3] &= MASK51;
	h.v[4] &= MASK51;
	w[0] = h.v[0] | h.v[1] << 51;
	w[1] = h.v[1] >> 13 | h.v[2] << 38;
	w[2] = h.v[2] >> 26 | h.v[3] << 25;
	w[3] = h.v[3] >> 39 | h.v[4] << 12;
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 8; j++)
			s[8 * i + j] = (uint8_t)(w[i] >> (8 * j));
}

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

/* r = k1 * a + k2 * b for little-endian 256-bit scalars (joint double-and-add). */
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

/* r = k * base. */
static void
ed_scalarmult_base(const struct ed *e, struct ed_pt *r, const uint8_t k[32])
{
	static const uint8_t zero[32];
	struct ed_pt id;

	ed_zero(&id);
	ed_double_scalarmult(e, r, k, &e->base, zero, &id);
}

/* The standard encoding: y little-endian with the low bit of x in bit 255. */
static void
ed_encode(uint8_t out[32], const struct ed_pt *a)
{
	fe zi, x, y;

	fe_pow(&zi, &a->z, exp_pm2);
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
ed_init(struct ed *e)
{
	fe a, b, zero;
	uint8_t bb[32];

	/* d = -121665 / 121666 */
	fe_set(&a, 121666);
	fe_pow(&b, &a, exp_pm2);
	fe_set(&a, 121665);
	fe_mul(&a, &a, &b);
	fe_set(&zero, 0);
	fe_sub(&e->d, &zero, &a);
	fe_add(&e->d2, &e->d, &e->d);
	fe_set(&a, 2);
	fe_pow(&e->sqrtm1, &a, exp_pm1d4);
	/* the base point: y = 4/5, x even */
	fe_set(&a, 5);
	fe_pow(&b, &a, exp_pm2);
	fe_set(&a, 4);
	fe_mul(&a, &a, &b);
	fe_tobytes(bb, &a);
	return ed_decode(e, &e->base, bb);
}

/* SHA-512 over up to three pieces. */
static int
cert_sha512(uint8_t out[64], const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
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

/* Reduce a 64-byte little-endian number mod the group order into 32 bytes. */
static int
cert_reduce(uint8_t out[32], const uint8_t in[64])
{
	mbedtls_mpi x, l;
	int rc = -1;

	mbedtls_mpi_init(&x);
	mbedtls_mpi_init(&l);
	CHK(mbedtls_mpi_read_string(&l, 16, "1000000000000000000000000000000014DEF9DEA2F79CD65812631A5CF5D3ED"));
	CHK(mbedtls_mpi_read_binary_le(&x, in, 64));
	CHK(mbedtls_mpi_mod_mpi(&x, &x, &l));
	CHK(mbedtls_mpi_write_binary_le(&x, out, 32));
	rc = 0;
fail:
	mbedtls_mpi_free(&x);
	mbedtls_mpi_free(&l);
	return rc;
}

/* s = (a * b + c) mod the group order, all 32-byte little-endian. */
static int
cert_muladd(uint8_t s[32], const uint8_t a[32], const uint8_t b[32], const uint8_t c[32])
{
	mbedtls_mpi x, y, z, l;
	int rc = -1;

	mbedtls_mpi_init(&x);
	mbedtls_mpi_init(&y);
	mbedtls_mpi_init(&z);
	mbedtls_mpi_init(&l);
	CHK(mbedtls_mpi_read_string(&l, 16, "1000000000000000000000000000000014DEF9DEA2F79CD65812631A5CF5D3ED"));
	CHK(mbedtls_mpi_read_binary_le(&x, a, 32));
	CHK(mbedtls_mpi_read_binary_le(&y, b, 32));
	CHK(mbedtls_mpi_read_binary_le(&z, c, 32));
	CHK(mbedtls_mpi_mul_mpi(&x, &x, &y));
	CHK(mbedtls_mpi_add_mpi(&x, &x, &z));
	CHK(mbedtls_mpi_mod_mpi(&x, &x, &l));
	CHK(mbedtls_mpi_write_binary_le(&x, s, 32));
	rc = 0;
fail:
	mbedtls_mpi_free(&x);
	mbedtls_mpi_free(&y);
	mbedtls_mpi_free(&z);
	mbedtls_mpi_free(&l);
	return rc;
}

/* Verify as libsignal's curve25519_verify does. */
int
wa_cert_verify(const uint8_t pub[WA_CERT_KEY_LEN], const uint8_t *msg, size_t len,
    const uint8_t sig[WA_CERT_SIG_LEN])
{
	struct ed e;
	struct ed_pt a, na, r;
	fe u, n, dn, y, one;
	uint8_t edpub[32], s[32], hash[64], h[32], check[32];

	if (ed_init(&e) != 0)
		return -1;
	/* Montgomery u to Edwards y = (u - 1) / (u + 1); u = -1 gives 0, as in libsignal. */
	fe_frombytes(&u, pub);
	fe_set(&one, 1);
	fe_sub(&n, &u, &one);
	fe_add(&dn, &u, &one);
	fe_pow(&dn, &dn, exp_pm2);
	fe_mul(&y, &n, &dn);
	fe_tobytes(edpub, &y);
	/* The signer moved its Edwards key's sign bit into the top bit of S. */
	edpub[31] = (uint8_t)((edpub[31] & 0x7f) | (sig[63] & 0x80));
	memcpy(s, sig + 32, 32);
	s[31] &= 0x7f;
	if (s[31] & 0xe0)
		return -1;
	if (ed_decode(&e, &a, edpub) != 0)
		return -1;
	if (cert_sha512(hash, sig, 32, edpub, 32, msg, len) != 0 || cert_reduce(h, hash) != 0)
		return -1;
	/* R' = S B - h A must encode to R. */
	ed_neg(&na, &a);
	ed_double_scalarmult(&e, &r, s, &e.base, h, &na);
	ed_encode(check, &r);
	return memcmp(check, sig, 32) == 0 ? 0 : -1;
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
	mbedtls_sha512_context ctx;
	struct ed e;
	struct ed_pt a, r;
	uint8_t sk[32], edpub[32], hash[64], nonce[32], h[32], out[64];
	int rc = -1;

	memcpy(sk, priv, 32);
	sk[0] &= 248;
	sk[31] &= 127;
	sk[31] |= 64;
	mbedtls_sha512_init(&ctx);
	if (ed_init(&e) != 0)
		goto fail;
	ed_scalarmult_base(&e, &a, sk);
	ed_encode(edpub, &a);
	/* nonce = SHA512(0xfe ff*31 || k || msg || random) mod l */
	CHK(mbedtls_sha512_starts_ret(&ctx, 0));
	CHK(mbedtls_sha512_update_ret(&ctx, prefix, 32));
	CHK(mbedtls_sha512_update_ret(&ctx, sk, 32));
	CHK(len > 0 ? mbedtls_sha512_update_ret(&ctx, msg, len) : 0);
	CHK(mbedtls_sha512_update_ret(&ctx, random, 64));
	CHK(mbedtls_sha512_finish_ret(&ctx, hash));
	CHK(cert_reduce(nonce, hash));
	ed_scalarmult_base(&e, &r, nonce);
	ed_encode(out, &r);
	/* h = SHA512(R || A || msg) mod l; S = nonce + h k mod l */
	CHK(cert_sha512(hash, out, 32, edpub, 32, msg, len));
	CHK(cert_reduce(h, hash));
	CHK(cert_muladd(out + 32, h, sk, nonce));
	out[63] = (uint8_t)((out[63] & 0x7f) | (edpub[31] & 0x80));
	memcpy(sig, out, 64);
	rc = 0;
fail:
	mbedtls_sha512_free(&ctx);
	explicit_wipe(sk, sizeof(sk));
	explicit_wipe(nonce, sizeof(nonce));
	explicit_wipe(hash, sizeof(hash));
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
