/* libsignal's "curve25519" signatures (XEdDSA-compatible; curve25519_sign / curve25519_verify in
 * libsignal-protocol-c): an X25519 private key signs, and the signature verifies against the X25519 public
 * key, through Ed25519 arithmetic (mbedTLS 2.28 has X25519 but no Ed25519). WhatsApp uses them for the
 * Noise certificate chain (wa_cert), ADV device signatures (wa_adv) and signed prekeys (wa_prekey).
 * Pure computation: no sockets, no events, no logging.
 *
 * Contract:
 * - Signing is constant time in the private key and the nonce: scalar multiplication is a Montgomery
 *   ladder of conditional swaps over one complete addition formula, and arithmetic mod the group order is
 *   a fixed-length shift-and-subtract; no branch and no memory index depends on a secret. Secrets on the
 *   stack are wiped before returning.
 * - Verification handles only public data and may take variable time.
 * - Signatures are byte-identical to libsignal-protocol-c's curve25519_sign(sig, priv, msg, len, random)
 *   for a clamped priv and the same 64 random bytes; verification accepts exactly what its
 *   curve25519_verify accepts. wa_xeddsa_test.c holds us to both.
 * - Keys are raw 32-byte X25519 keys (Montgomery u for public keys), without libsignal's 0x05 prefix. */
#ifndef WAGATE_WA_XEDDSA_H
#define WAGATE_WA_XEDDSA_H

#include <stddef.h>
#include <stdint.h>

#define WA_XEDDSA_KEY_LEN 32
#define WA_XEDDSA_SIG_LEN 64

/* Sign msg with an X25519 private key, 64 nonce bytes mixed in from the kernel CSPRNG. 0 or -1. */
int wa_xeddsa_sign(const uint8_t priv[WA_XEDDSA_KEY_LEN], const uint8_t *msg, size_t len,
    uint8_t sig[WA_XEDDSA_SIG_LEN]);
/* As wa_xeddsa_sign with caller-chosen nonce randomness (deterministic; for known-answer tests). 0 or -1. */
int wa_xeddsa_sign_with_random(const uint8_t priv[WA_XEDDSA_KEY_LEN], const uint8_t *msg, size_t len,
    const uint8_t random[64], uint8_t sig[WA_XEDDSA_SIG_LEN]);
/* Verify a signature against an X25519 public key: 0 valid, -1 invalid. */
int wa_xeddsa_verify(const uint8_t pub[WA_XEDDSA_KEY_LEN], const uint8_t *msg, size_t len,
    const uint8_t sig[WA_XEDDSA_SIG_LEN]);
/* A fresh X25519 key pair (clamped private key) for signing. 0 or -1. */
int wa_xeddsa_keypair_generate(uint8_t priv[WA_XEDDSA_KEY_LEN], uint8_t pub[WA_XEDDSA_KEY_LEN]);

#endif
