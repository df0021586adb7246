/* Arithmetic in GF(2^255 - 19) for X25519 (wa_noise.c) and XEdDSA (wa_xeddsa.c): five 51-bit limbs, every
 * result carried so that its limbs stay below 2^51 plus a little, which any operation here takes as input.
 * Internal to worker/wa: static inline, so each user gets its own copy and nothing is exported.
 *
 * Contract: no operation branches on or indexes memory by a field element's value (fe_pow branches only on
 * its exponent, always a public constant; fe_cswap steers by a mask). wa-xeddsa-ct checks both users under
 * valgrind's memcheck. */
#ifndef WAGATE_WA_FE_H
#define WAGATE_WA_FE_H

#include <stdint.h>
#include <string.h>

#define MASK51 ((UINT64_C(1) << 51) - 1)

typedef struct { uint64_t v[5]; } fe;
typedef unsigned __int128 u128;

/* A small field element. */
static inline void
fe_set(fe *h, uint64_t x)
{
	memset(h, 0, sizeof(*h));
	h->v[0] = x;
}

/* Propagate carries so every limb is below 2^51 (plus a little in limb 0). */
static inline void
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
static inline void
fe_add(fe *h, const fe *f, const fe *g)
{
	for (int i = 0; i < 5; i++)
		h->v[i] = f->v[i] + g->v[i];
	fe_carry(h);
}

/* h = f - g (adds 4p first so limbs stay non-negative). */
static inline void
fe_sub(fe *h, const fe *f, const fe *g)
{
	h->v[0] = f->v[0] + UINT64_C(0x1fffffffffffb4) - g->v[0];
	for (int i = 1; i < 5; i++)
		h->v[i] = f->v[i] + UINT64_C(0x1ffffffffffffc) - g->v[i];
	fe_carry(h);
}

/* h = f * g. */
static inline void
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
static inline void
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

/* h = 1/f as f^(p - 2) (0 for f = 0). */
static inline void
fe_invert(fe *h, const fe *f)
{
	static const uint8_t pm2[32] = {
		0xeb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
	};

	fe_pow(h, f, pm2);
}

/* Load 32 little-endian bytes, ignoring bit 255 (values >= p are fine). */
static inline void
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
static inline void
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

/* Hide a value from the optimizer so that masks built from it stay masks, not branches. */
static inline uint64_t
ct_barrier(uint64_t x)
{
	__asm__("" : "+r"(x));
	return x;
}

/* Swap a and b when bit is 1, without branching on bit. */
static inline void
fe_cswap(fe *a, fe *b, uint64_t bit)
{
	uint64_t mask = ct_barrier(0 - bit), t;

	for (int i = 0; i < 5; i++) {
		t = mask & (a->v[i] ^ b->v[i]);
		a->v[i] ^= t;
		b->v[i] ^= t;
	}
}

#endif
