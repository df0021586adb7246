/* SHA-256 and HMAC-SHA256 (FIPS 180-4, RFC 2104) for the Signal layer's hot path: every message key, chain
 * step and message MAC is an HMAC-SHA256, about a fifth of a busy worker's CPU on mbedTLS 2's portable code.
 * The compression runs on the CPU's SHA extensions when it has them (checked once, by CPUID), else on portable
 * C; both give the same digests (wa_sha256_test.c: FIPS and RFC 4231 vectors, and each path against mbedTLS).
 * Not constant-time concerns beyond SHA-256's own (no secret-dependent branches or indexes in either path).
 * No allocation; a context is plain memory the caller owns and wipes (wa_hmac_sha256_wipe). */
#ifndef WAGATE_WA_SHA256_H
#define WAGATE_WA_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define WA_SHA256_LEN	32
#define WA_SHA256_BLOCK	64

struct wa_sha256 {
	uint32_t h[8];
	uint64_t len;				/* bytes hashed so far */
	uint8_t buf[WA_SHA256_BLOCK];		/* a partial block: len % 64 bytes */
};

void wa_sha256_init(struct wa_sha256 *c);
void wa_sha256_update(struct wa_sha256 *c, const void *data, size_t n);
/* The digest into out; c is spent (init it again to reuse). */
void wa_sha256_final(struct wa_sha256 *c, uint8_t out[WA_SHA256_LEN]);
/* One-shot. */
void wa_sha256(const void *data, size_t n, uint8_t out[WA_SHA256_LEN]);

/* HMAC-SHA256: the inner hash running, the outer one keyed and waiting for it. */
struct wa_hmac_sha256 {
	struct wa_sha256 inner, outer;
};

/* Key of any length (longer than a block: hashed first, as RFC 2104 says). */
void wa_hmac_sha256_init(struct wa_hmac_sha256 *c, const void *key, size_t key_len);
void wa_hmac_sha256_update(struct wa_hmac_sha256 *c, const void *data, size_t n);
/* The MAC into out; c is spent. */
void wa_hmac_sha256_final(struct wa_hmac_sha256 *c, uint8_t out[WA_SHA256_LEN]);
/* Zero c (its states are functions of the key). */
void wa_hmac_sha256_wipe(struct wa_hmac_sha256 *c);

/* Tests: 1 when the SHA extensions are used; force_portable != 0 makes every later call use portable C. */
int wa_sha256_accelerated(void);
void wa_sha256_force_portable(int force_portable);

#endif
