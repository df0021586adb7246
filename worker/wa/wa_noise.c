/* Noise_XX_25519_AESGCM_SHA256 symmetric state and transport ciphers (reference/wa-transport.md section 2). */
#include "wa_noise.h"

#include <stdlib.h>
#include <string.h>

#include <mbedtls/gcm.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/sha256.h>

#include "random.h"
#include "wa_fe.h"
#include "xmalloc.h"

const uint8_t wa_noise_protocol_name[WA_NOISE_KEY_LEN] = "Noise_XX_25519_AESGCM_SHA256\0\0\0";

struct wa_noise {
	uint8_t h[WA_NOISE_KEY_LEN];
	uint8_t ck[WA_NOISE_KEY_LEN];
	uint8_t k[WA_NOISE_KEY_LEN];
	uint32_t n;
	int has_key;
	int broken;		/* a failed decrypt or internal error: refuse everything after */
	mbedtls_gcm_context gcm;
};

struct wa_noise_transport {
	uint32_t counter;
	int broken;
	mbedtls_gcm_context gcm;
};

/* The 12-byte nonce: 8 zero bytes, then the counter big-endian. */
static void
noise_nonce(uint32_t counter, uint8_t iv[12])
{
	memset(iv, 0, 12);
	iv[8] = (uint8_t)(counter >> 24);
	iv[9] = (uint8_t)(counter >> 16);
	iv[10] = (uint8_t)(counter >> 8);
	iv[11] = (uint8_t)counter;
}

/* Clamp an X25519 scalar as RFC 7748 says. */
static void
noise_clamp(uint8_t k[WA_NOISE_KEY_LEN])
{
	k[0] &= 248;
	k[31] &= 127;
	k[31] |= 64;
}

/*
 * X25519 scalar multiplication (RFC 7748 section 5): out = priv * point(u), the u-coordinate only, by the
 * Montgomery ladder over (x2:z2) and (x3:z3), whose difference stays the point u. Every bit costs the same
 * operations; the bit only steers conditional swaps (fe_cswap), so the time does not depend on priv. It
 * replaced mbedTLS's generic bignum X25519, about 0.7 ms a key pair here (bench/noise.sh: 1,462 /s, now
 * ~12,400): a paired instance generates 812 (its prekeys), so 50 pairs took 39 s to pair (bench/messages.sh).
 */
static void
noise_x25519(const uint8_t priv[WA_NOISE_KEY_LEN], const uint8_t u[WA_NOISE_KEY_LEN],
    uint8_t out[WA_NOISE_KEY_LEN])
{
	/* everything that depends on priv, wiped at the end */
	struct {
		uint8_t sk[WA_NOISE_KEY_LEN];
		fe x2, z2, x3, z3, a, aa, b, bb, e, c, d, da, cb;
	} l;
	fe x1, a24;
	uint64_t swap = 0, bit;
	int t;

	memcpy(l.sk, priv, sizeof(l.sk));
	noise_clamp(l.sk);
	fe_frombytes(&x1, u);		/* ignores bit 255, as the RFC asks */
	fe_set(&l.x2, 1);
	fe_set(&l.z2, 0);
	l.x3 = x1;
	fe_set(&l.z3, 1);
	fe_set(&a24, 121665);
	for (t = 254; t >= 0; t--) {
		bit = (uint64_t)(l.sk[t / 8] >> (t % 8)) & 1;
		swap ^= bit;
		fe_cswap(&l.x2, &l.x3, swap);
		fe_cswap(&l.z2, &l.z3, swap);
		swap = bit;
		fe_add(&l.a, &l.x2, &l.z2);
		fe_mul(&l.aa, &l.a, &l.a);
		fe_sub(&l.b, &l.x2, &l.z2);
		fe_mul(&l.bb, &l.b, &l.b);
		fe_sub(&l.e, &l.aa, &l.bb);
		fe_add(&l.c, &l.x3, &l.z3);
		fe_sub(&l.d, &l.x3, &l.z3);
		fe_mul(&l.da, &l.d, &l.a);
		fe_mul(&l.cb, &l.c, &l.b);
		fe_add(&l.x3, &l.da, &l.cb);
		fe_mul(&l.x3, &l.x3, &l.x3);
		fe_sub(&l.z3, &l.da, &l.cb);
		fe_mul(&l.z3, &l.z3, &l.z3);
		fe_mul(&l.z3, &l.z3, &x1);
		fe_mul(&l.x2, &l.aa, &l.bb);
		fe_mul(&l.z2, &a24, &l.e);
		fe_add(&l.z2, &l.z2, &l.aa);
		fe_mul(&l.z2, &l.z2, &l.e);
	}
	fe_cswap(&l.x2, &l.x3, swap);
	fe_cswap(&l.z2, &l.z3, swap);
	/* x2 / z2, with z2^(p - 2) as the inverse (0 for z2 = 0: a low-order u gives an all-zero result) */
	fe_invert(&l.z2, &l.z2);
	fe_mul(&l.x2, &l.x2, &l.z2);
	fe_tobytes(out, &l.x2);
	explicit_wipe(&l, sizeof(l));
}

/* X25519 with the all-zero check whatsmeow makes. */
int
wa_noise_dh(const uint8_t priv[WA_NOISE_KEY_LEN], const uint8_t pub[WA_NOISE_KEY_LEN],
    uint8_t out[WA_NOISE_KEY_LEN])
{
	uint8_t acc = 0;
	size_t i;

	noise_x25519(priv, pub, out);
	for (i = 0; i < WA_NOISE_KEY_LEN; i++)
		acc |= out[i];
	return acc == 0 ? -1 : 0;
}

/* The X25519 public key for a private scalar. */
int
wa_noise_pubkey(const uint8_t priv[WA_NOISE_KEY_LEN], uint8_t pub[WA_NOISE_KEY_LEN])
{
	static const uint8_t base[WA_NOISE_KEY_LEN] = { 9 };

	noise_x25519(priv, base, pub);
	return 0;
}

/* A fresh key pair. */
int
wa_noise_keypair_generate(uint8_t priv[WA_NOISE_KEY_LEN], uint8_t pub[WA_NOISE_KEY_LEN])
{
	random_bytes(priv, WA_NOISE_KEY_LEN);
	noise_clamp(priv);
	return wa_noise_pubkey(priv, pub);
}

/* A new handshake state with the prologue mixed in. */
struct wa_noise *
wa_noise_new(const uint8_t *prologue, size_t prologue_len)
{
	struct wa_noise *n = xcalloc(1, sizeof(*n));

	memcpy(n->h, wa_noise_protocol_name, WA_NOISE_KEY_LEN);
	memcpy(n->ck, wa_noise_protocol_name, WA_NOISE_KEY_LEN);
	mbedtls_gcm_init(&n->gcm);
	if (prologue_len > 0 && wa_noise_mix_hash(n, prologue, prologue_len) != 0) {
		wa_noise_free(n);
		return NULL;
	}
	return n;
}

/* Release a handshake state, wiping its keys. */
void
wa_noise_free(struct wa_noise *n)
{
	if (n == NULL)
		return;
	mbedtls_gcm_free(&n->gcm);
	free_wiped(n, sizeof(*n));
}

/* h = SHA256(h || data). */
int
wa_noise_mix_hash(struct wa_noise *n, const uint8_t *data, size_t len)
{
	mbedtls_sha256_context ctx;
	int rc = 0;

	mbedtls_sha256_init(&ctx);
	if (mbedtls_sha256_starts_ret(&ctx, 0) != 0 ||
	    mbedtls_sha256_update_ret(&ctx, n->h, sizeof(n->h)) != 0 ||
	    (len > 0 && mbedtls_sha256_update_ret(&ctx, data, len) != 0) ||
	    mbedtls_sha256_finish_ret(&ctx, n->h) != 0) {
		n->broken = 1;
		rc = -1;
	}
	mbedtls_sha256_free(&ctx);
	return rc;
}

/* HKDF-SHA256(salt = ck, ikm, info = empty) into 64 bytes. */
static int
noise_hkdf(const uint8_t ck[WA_NOISE_KEY_LEN], const uint8_t *ikm, size_t len, uint8_t okm[64])
{
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	static const uint8_t empty[1];

	if (md == NULL)
		return -1;
	return mbedtls_hkdf(md, ck, WA_NOISE_KEY_LEN, len > 0 ? ikm : empty, len, NULL, 0, okm, 64) == 0 ?
	    0 : -1;
}

/* (ck, k) = HKDF(ck, ikm); n = 0. */
int
wa_noise_mix_key(struct wa_noise *n, const uint8_t *ikm, size_t len)
{
	uint8_t okm[64];
	int rc = -1;

	if (n->broken)
		return -1;
	if (noise_hkdf(n->ck, ikm, len, okm) != 0)
		goto out;
	memcpy(n->ck, okm, 32);
	memcpy(n->k, okm + 32, 32);
	n->n = 0;
	if (mbedtls_gcm_setkey(&n->gcm, MBEDTLS_CIPHER_ID_AES, n->k, 256) != 0)
		goto out;
	n->has_key = 1;
	rc = 0;
out:
	explicit_wipe(okm, sizeof(okm));
	if (rc != 0)
		n->broken = 1;
	return rc;
}

/* Encrypt with the handshake key and the hash as associated data, then hash the ciphertext. */
int
wa_noise_encrypt_and_hash(struct wa_noise *n, const uint8_t *in, size_t len, uint8_t **out,
    size_t *outlen)
{
	uint8_t iv[12], *c;

	*out = NULL;
	*outlen = 0;
	if (n->broken || !n->has_key || len > WA_NOISE_MAX_PLAINTEXT || n->n == UINT32_MAX)
		return -1;
	c = xmalloc(len + WA_NOISE_TAG_LEN);
	noise_nonce(n->n, iv);
	if (mbedtls_gcm_crypt_and_tag(&n->gcm, MBEDTLS_GCM_ENCRYPT, len, iv, sizeof(iv), n->h, sizeof(n->h),
	    in, c, WA_NOISE_TAG_LEN, c + len) != 0) {
		free(c);
		n->broken = 1;
		return -1;
	}
	n->n++;
	if (wa_noise_mix_hash(n, c, len + WA_NOISE_TAG_LEN) != 0) {
		free(c);
		return -1;
	}
	*out = c;
	*outlen = len + WA_NOISE_TAG_LEN;
	return 0;
}

/* Decrypt with the handshake key and the hash as associated data, then hash the ciphertext. */
int
wa_noise_decrypt_and_hash(struct wa_noise *n, const uint8_t *in, size_t len, uint8_t **out,
    size_t *outlen)
{
	uint8_t iv[12], *p;
	size_t plen;

	*out = NULL;
	*outlen = 0;
	if (n->broken || !n->has_key || len < WA_NOISE_TAG_LEN || len - WA_NOISE_TAG_LEN > WA_NOISE_MAX_PLAINTEXT ||
	    n->n == UINT32_MAX)
		return -1;
	plen = len - WA_NOISE_TAG_LEN;
	p = xmalloc(plen > 0 ? plen : 1);
	noise_nonce(n->n, iv);
	if (mbedtls_gcm_auth_decrypt(&n->gcm, plen, iv, sizeof(iv), n->h, sizeof(n->h), in + plen,
	    WA_NOISE_TAG_LEN, in, p) != 0) {
		free_wiped(p, plen > 0 ? plen : 1);
		n->broken = 1;
		return -1;
	}
	n->n++;
	if (wa_noise_mix_hash(n, in, len) != 0) {
		free_wiped(p, plen > 0 ? plen : 1);
		return -1;
	}
	*out = p;
	*outlen = plen;
	return 0;
}

/* Derive the two transport ciphers from the final chaining key. */
int
wa_noise_split(struct wa_noise *n, struct wa_noise_transport **c2s, struct wa_noise_transport **s2c)
{
	uint8_t okm[64];

	*c2s = *s2c = NULL;
	if (n->broken || !n->has_key || noise_hkdf(n->ck, NULL, 0, okm) != 0)
		return -1;
	*c2s = wa_noise_transport_new(okm);
	*s2c = wa_noise_transport_new(okm + 32);
	explicit_wipe(okm, sizeof(okm));
	if (*c2s == NULL || *s2c == NULL) {
		wa_noise_transport_free(*c2s);
		wa_noise_transport_free(*s2c);
		*c2s = *s2c = NULL;
		return -1;
	}
	return 0;
}

/* Copy out h, ck and k. */
void
wa_noise_state(const struct wa_noise *n, uint8_t h[WA_NOISE_KEY_LEN], uint8_t ck[WA_NOISE_KEY_LEN],
    uint8_t k[WA_NOISE_KEY_LEN])
{
	if (h != NULL)
		memcpy(h, n->h, WA_NOISE_KEY_LEN);
	if (ck != NULL)
		memcpy(ck, n->ck, WA_NOISE_KEY_LEN);
	if (k != NULL)
		memcpy(k, n->k, WA_NOISE_KEY_LEN);
}

/* A transport cipher keyed with key. */
struct wa_noise_transport *
wa_noise_transport_new(const uint8_t key[WA_NOISE_KEY_LEN])
{
	struct wa_noise_transport *t = xcalloc(1, sizeof(*t));

	mbedtls_gcm_init(&t->gcm);
	if (mbedtls_gcm_setkey(&t->gcm, MBEDTLS_CIPHER_ID_AES, key, 256) != 0) {
		wa_noise_transport_free(t);
		return NULL;
	}
	return t;
}

/* Release a transport cipher, wiping its key schedule. */
void
wa_noise_transport_free(struct wa_noise_transport *t)
{
	if (t == NULL)
		return;
	mbedtls_gcm_free(&t->gcm);
	free_wiped(t, sizeof(*t));
}

/* Encrypt one frame payload into out. */
int
wa_noise_encrypt_into(struct wa_noise_transport *t, const uint8_t *in, size_t len, uint8_t *out,
    size_t outcap, size_t *outlen)
{
	uint8_t iv[12];

	*outlen = 0;
	/* Counters are 32-bit on the wire; never let one wrap (nonce reuse). */
	if (t->broken || len > WA_NOISE_MAX_PLAINTEXT || outcap < len + WA_NOISE_TAG_LEN ||
	    t->counter == UINT32_MAX)
		return -1;
	noise_nonce(t->counter, iv);
	if (mbedtls_gcm_crypt_and_tag(&t->gcm, MBEDTLS_GCM_ENCRYPT, len, iv, sizeof(iv), NULL, 0, in, out,
	    WA_NOISE_TAG_LEN, out + len) != 0) {
		t->broken = 1;
		return -1;
	}
	t->counter++;
	*outlen = len + WA_NOISE_TAG_LEN;
	return 0;
}

/* Decrypt one frame payload into out; fails closed. */
int
wa_noise_decrypt_into(struct wa_noise_transport *t, const uint8_t *in, size_t len, uint8_t *out,
    size_t outcap, size_t *outlen)
{
	uint8_t iv[12];
	size_t plen;

	*outlen = 0;
	if (t->broken || len < WA_NOISE_TAG_LEN || t->counter == UINT32_MAX)
		goto fail;
	plen = len - WA_NOISE_TAG_LEN;
	if (plen > WA_NOISE_MAX_PLAINTEXT || outcap < plen)
		goto fail;
	noise_nonce(t->counter, iv);
	/* Both reference clients advance the read counter even on failure; we stop the channel instead. */
	t->counter++;
	if (mbedtls_gcm_auth_decrypt(&t->gcm, plen, iv, sizeof(iv), NULL, 0, in + plen, WA_NOISE_TAG_LEN,
	    in, out) != 0) {
		explicit_wipe(out, plen);
		goto fail;
	}
	*outlen = plen;
	return 0;
fail:
	t->broken = 1;
	return -1;
}

/* Encrypt one frame payload into a new buffer. */
int
wa_noise_encrypt(struct wa_noise_transport *t, const uint8_t *in, size_t len, uint8_t **out,
    size_t *outlen)
{
	uint8_t *c;

	*out = NULL;
	*outlen = 0;
	if (len > WA_NOISE_MAX_PLAINTEXT)
		return -1;
	c = xmalloc(len + WA_NOISE_TAG_LEN);
	if (wa_noise_encrypt_into(t, in, len, c, len + WA_NOISE_TAG_LEN, outlen) != 0) {
		free(c);
		return -1;
	}
	*out = c;
	return 0;
}

/* Decrypt one frame payload into a new buffer. */
int
wa_noise_decrypt(struct wa_noise_transport *t, const uint8_t *in, size_t len, uint8_t **out,
    size_t *outlen)
{
	uint8_t *p;
	size_t cap;

	*out = NULL;
	*outlen = 0;
	if (len < WA_NOISE_TAG_LEN || len - WA_NOISE_TAG_LEN > WA_NOISE_MAX_PLAINTEXT) {
		t->broken = 1;
		return -1;
	}
	cap = len - WA_NOISE_TAG_LEN;
	p = xmalloc(cap > 0 ? cap : 1);
	if (wa_noise_decrypt_into(t, in, len, p, cap, outlen) != 0) {
		free(p);
		return -1;
	}
	*out = p;
	return 0;
}

/* The next nonce counter of this direction. */
uint32_t
wa_noise_transport_counter(const struct wa_noise_transport *t)
{
	return t->counter;
}
