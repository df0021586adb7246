/* SHA-256 and HMAC-SHA256; see wa_sha256.h. Written from FIPS 180-4 (the functions, the constants: the first 32
 * bits of the fractional parts of the cube roots of the first 64 primes, and of the square roots of the first 8
 * for the initial state) and Intel's description of the SHA extensions (SHA256RNDS2 does two rounds on the state
 * held as ABEF and CDGH; SHA256MSG1 and SHA256MSG2 compute the message schedule four words at a time). */
#include "wa_sha256.h"
#include "xmalloc.h"

#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define WA_SHA256_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

static const uint32_t wa_sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

typedef void (*wa_sha256_blocks_fn)(uint32_t h[8], const uint8_t *p, size_t nblocks);

static uint32_t
ror32(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n));
}

static uint32_t
load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void
store_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* FIPS 180-4 §6.2.2, one block at a time. */
static void
wa_sha256_blocks_c(uint32_t h[8], const uint8_t *p, size_t nblocks)
{
	uint32_t w[64], a, b, c, d, e, f, g, hh, t1, t2;
	size_t i;

	for (; nblocks > 0; nblocks--, p += WA_SHA256_BLOCK) {
		for (i = 0; i < 16; i++)
			w[i] = load_be32(p + 4 * i);
		for (; i < 64; i++)
			w[i] = (ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^ (w[i - 2] >> 10)) + w[i - 7] +
			    (ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^ (w[i - 15] >> 3)) + w[i - 16];
		a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
		for (i = 0; i < 64; i++) {
			t1 = hh + (ror32(e, 6) ^ ror32(e, 11) ^ ror32(e, 25)) + ((e & f) ^ (~e & g)) + wa_sha256_k[i] + w[i];
			t2 = (ror32(a, 2) ^ ror32(a, 13) ^ ror32(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
			hh = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
		}
		h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
	}
}

#ifdef WA_SHA256_X86
/*
 * The same with the SHA extensions. The state lives as ABEF (A in the top lane) and CDGH; each SHA256RNDS2 takes
 * two message-plus-constant words from the low lanes and returns the new ABEF, the old one being the new CDGH.
 * W[16..63] come four at a time: MSG1 adds sigma0 of the next words, then W[t-7..t-4] are added, then MSG2 adds
 * sigma1 of the two words before (the first two of this group's own for its last two).
 */
__attribute__((target("sha,sse4.1,ssse3")))
static void
wa_sha256_blocks_shani(uint32_t h[8], const uint8_t *p, size_t nblocks)
{
	const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
	__m128i abef, cdgh, abef0, cdgh0, t, wk, w[4];
	size_t i;

	t = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[0]), 0xb1);	/* B A D C */
	cdgh = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[4]), 0x1b);	/* H G F E */
	abef = _mm_alignr_epi8(t, cdgh, 8);		/* lanes 0..3: F E B A */
	cdgh = _mm_blend_epi16(cdgh, t, 0xf0);		/* lanes 0..3: H G D C */
	for (; nblocks > 0; nblocks--, p += WA_SHA256_BLOCK) {
		abef0 = abef;
		cdgh0 = cdgh;
		for (i = 0; i < 16; i++) {
			if (i < 4)
				w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), bswap);
			else {
				t = _mm_sha256msg1_epu32(w[i % 4], w[(i + 1) % 4]);
				t = _mm_add_epi32(t, _mm_alignr_epi8(w[(i + 3) % 4], w[(i + 2) % 4], 4));
				w[i % 4] = _mm_sha256msg2_epu32(t, w[(i + 3) % 4]);
			}
			wk = _mm_add_epi32(w[i % 4], _mm_loadu_si128((const __m128i *)&wa_sha256_k[4 * i]));
			cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
			abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0e));
		}
		abef = _mm_add_epi32(abef, abef0);
		cdgh = _mm_add_epi32(cdgh, cdgh0);
	}
	t = _mm_shuffle_epi32(abef, 0x1b);		/* A B E F */
	cdgh = _mm_shuffle_epi32(cdgh, 0xb1);		/* G H C D */
	_mm_storeu_si128((__m128i *)&h[0], _mm_blend_epi16(t, cdgh, 0xf0));	/* A B C D */
	_mm_storeu_si128((__m128i *)&h[4], _mm_alignr_epi8(cdgh, t, 8));	/* E F G H */
}

/* CPUID: SHA (leaf 7, EBX bit 29), SSE4.1 and SSSE3 (leaf 1, ECX bits 19 and 9). */
static int
wa_sha256_cpu_has_sha(void)
{
	unsigned a, b, c, d;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 19)) || !(c & (1u << 9)))
		return 0;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return 0;
	return (b >> 29) & 1;
}
#endif

static wa_sha256_blocks_fn wa_sha256_blocks = wa_sha256_blocks_c;

/* Chosen once, before main (no thread can race it). */
__attribute__((constructor))
static void
wa_sha256_pick(void)
{
#ifdef WA_SHA256_X86
	if (wa_sha256_cpu_has_sha())
		wa_sha256_blocks = wa_sha256_blocks_shani;
#endif
}

int
wa_sha256_accelerated(void)
{
	return wa_sha256_blocks != wa_sha256_blocks_c;
}

void
wa_sha256_force_portable(int force_portable)
{
	wa_sha256_blocks = wa_sha256_blocks_c;
	if (!force_portable)
		wa_sha256_pick();
}

void
wa_sha256_init(struct wa_sha256 *c)
{
	static const uint32_t iv[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};

	memcpy(c->h, iv, sizeof(iv));
	c->len = 0;
}

void
wa_sha256_update(struct wa_sha256 *c, const void *data, size_t n)
{
	const uint8_t *p = data;
	size_t have = (size_t)(c->len % WA_SHA256_BLOCK), take;

	c->len += n;
	if (have > 0) {
		take = WA_SHA256_BLOCK - have < n ? WA_SHA256_BLOCK - have : n;
		memcpy(c->buf + have, p, take);
		p += take;
		n -= take;
		if (have + take < WA_SHA256_BLOCK)
			return;
		wa_sha256_blocks(c->h, c->buf, 1);
	}
	if (n >= WA_SHA256_BLOCK) {
		wa_sha256_blocks(c->h, p, n / WA_SHA256_BLOCK);
		p += n - n % WA_SHA256_BLOCK;
		n %= WA_SHA256_BLOCK;
	}
	if (n > 0)
		memcpy(c->buf, p, n);
}

void
wa_sha256_final(struct wa_sha256 *c, uint8_t out[WA_SHA256_LEN])
{
	uint64_t bits = c->len * 8;
	size_t have = (size_t)(c->len % WA_SHA256_BLOCK);
	int i;

	/* 0x80, zeros to 56 mod 64, the length in bits big-endian */
	c->buf[have++] = 0x80;
	if (have > WA_SHA256_BLOCK - 8) {
		memset(c->buf + have, 0, WA_SHA256_BLOCK - have);
		wa_sha256_blocks(c->h, c->buf, 1);
		have = 0;
	}
	memset(c->buf + have, 0, WA_SHA256_BLOCK - 8 - have);
	store_be32(c->buf + 56, (uint32_t)(bits >> 32));
	store_be32(c->buf + 60, (uint32_t)bits);
	wa_sha256_blocks(c->h, c->buf, 1);
	for (i = 0; i < 8; i++)
		store_be32(out + 4 * i, c->h[i]);
}

void
wa_sha256(const void *data, size_t n, uint8_t out[WA_SHA256_LEN])
{
	struct wa_sha256 c;

	wa_sha256_init(&c);
	wa_sha256_update(&c, data, n);
	wa_sha256_final(&c, out);
}

void
wa_hmac_sha256_init(struct wa_hmac_sha256 *c, const void *key, size_t key_len)
{
	uint8_t k[WA_SHA256_BLOCK], pad[WA_SHA256_BLOCK];
	size_t i;

	memset(k, 0, sizeof(k));
	if (key_len > WA_SHA256_BLOCK)
		wa_sha256(key, key_len, k);
	else if (key_len > 0)
		memcpy(k, key, key_len);
	for (i = 0; i < WA_SHA256_BLOCK; i++)
		pad[i] = k[i] ^ 0x36;
	wa_sha256_init(&c->inner);
	wa_sha256_update(&c->inner, pad, sizeof(pad));
	for (i = 0; i < WA_SHA256_BLOCK; i++)
		pad[i] = k[i] ^ 0x5c;
	wa_sha256_init(&c->outer);
	wa_sha256_update(&c->outer, pad, sizeof(pad));
	explicit_wipe(k, sizeof(k));
	explicit_wipe(pad, sizeof(pad));
}

void
wa_hmac_sha256_update(struct wa_hmac_sha256 *c, const void *data, size_t n)
{
	wa_sha256_update(&c->inner, data, n);
}

void
wa_hmac_sha256_final(struct wa_hmac_sha256 *c, uint8_t out[WA_SHA256_LEN])
{
	uint8_t ih[WA_SHA256_LEN];

	wa_sha256_final(&c->inner, ih);
	wa_sha256_update(&c->outer, ih, sizeof(ih));
	wa_sha256_final(&c->outer, out);
	explicit_wipe(ih, sizeof(ih));
}

void
wa_hmac_sha256_wipe(struct wa_hmac_sha256 *c)
{
	explicit_wipe(c, sizeof(*c));
}
