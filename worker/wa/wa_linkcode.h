/* Pairing with a phone-number code ("link code", reference/wa-session.md section 2.11), both roles: the
 * companion (worker) and the primary (tests/fakewa's mock phone). Pure computation: no sockets, no events,
 * no logging. Keys are X25519, 32 bytes. Ground truth for every constant: whatsmeow pair-code.go.
 *
 * Companion                                     Primary (phone)
 *   wa_linkcode_generate -> code, shown to user
 *   wa_linkcode_wrap(code, ephemeral pub) ------>  wa_linkcode_unwrap(code) -> companion ephemeral pub
 *                                          <------ wa_linkcode_wrap(code, primary ephemeral pub), identity pub
 *   wa_linkcode_unwrap(code) -> primary eph pub
 *   wa_linkcode_companion_finish -> bundle ----->  wa_linkcode_primary_finish(bundle) -> companion identity
 *   and the new adv secret                         and the same adv secret
 * after which pair-success is HMAC'd with that adv secret. */
#ifndef WAGATE_WA_LINKCODE_H
#define WAGATE_WA_LINKCODE_H

#include <stddef.h>
#include <stdint.h>

#define WA_LINKCODE_LEN		8	/* characters, shown as XXXX-XXXX */
#define WA_LINKCODE_KEY_LEN	32
#define WA_LINKCODE_WRAPPED_LEN	80	/* salt 32 || iv 16 || AES-256-CTR(pub) 32 */
#define WA_LINKCODE_PBKDF2_ITER	131072	/* PBKDF2-HMAC-SHA256 rounds (2 << 16) */
#define WA_LINKCODE_BUNDLE_LEN	156	/* salt 32 || nonce 12 || AES-256-GCM(96 bytes) || tag 16 */

/* A fresh code: 5 random bytes in the alphabet "123456789ABCDEFGHJKLMNPQRSTVWXYZ", NUL-terminated. 0 or -1. */
int wa_linkcode_generate(char code[WA_LINKCODE_LEN + 1]);
/* Whether code is 8 characters of that alphabet (the mock phone also accepts lower case and a dash, after
 * wa_linkcode_normalize). */
int wa_linkcode_valid(const char *code);
/* Copy code without dashes/spaces and upper-cased into out. 0, or -1 if the result is not valid. */
int wa_linkcode_normalize(const char *code, char out[WA_LINKCODE_LEN + 1]);

/* Wrap a public key with the code: random salt and iv, key = PBKDF2-HMAC-SHA256(code, salt, 131072, 32).
 * 0 or -1. */
int wa_linkcode_wrap(const char *code, const uint8_t pub[WA_LINKCODE_KEY_LEN], uint8_t out[WA_LINKCODE_WRAPPED_LEN]);
/* Unwrap it (AES-CTR has no authentication: a wrong code gives a wrong key, caught later). 0 or -1. */
int wa_linkcode_unwrap(const char *code, const uint8_t *in, size_t len, uint8_t pub[WA_LINKCODE_KEY_LEN]);

/* Companion, after the primary's notification: shared secret E = X25519(eph_priv, primary_eph_pub); the
 * key bundle (identity_pub || primary_identity_pub || adv_random) encrypted with
 * HKDF(E, salt, "link_code_pairing_key_bundle_encryption_key") into *bundle (malloc'd,
 * WA_LINKCODE_BUNDLE_LEN bytes); and the new adv secret HKDF(E || X25519(identity_priv, primary_identity_pub)
 * || adv_random, no salt, "adv_secret"). 0 or -1. */
int wa_linkcode_companion_finish(const uint8_t eph_priv[WA_LINKCODE_KEY_LEN],
    const uint8_t primary_eph_pub[WA_LINKCODE_KEY_LEN], const uint8_t identity_priv[WA_LINKCODE_KEY_LEN],
    const uint8_t identity_pub[WA_LINKCODE_KEY_LEN], const uint8_t primary_identity_pub[WA_LINKCODE_KEY_LEN],
    uint8_t **bundle, size_t *bundle_len, uint8_t adv_secret[WA_LINKCODE_KEY_LEN]);
/* Primary: decrypt and check a companion's bundle (authenticated; the second key must be our identity),
 * giving the companion's identity key and the same adv secret. 0, or -1 with a reason in err. */
int wa_linkcode_primary_finish(const uint8_t eph_priv[WA_LINKCODE_KEY_LEN],
    const uint8_t companion_eph_pub[WA_LINKCODE_KEY_LEN], const uint8_t primary_identity_priv[WA_LINKCODE_KEY_LEN],
    const uint8_t primary_identity_pub[WA_LINKCODE_KEY_LEN], const uint8_t *bundle, size_t len,
    uint8_t companion_identity_pub[WA_LINKCODE_KEY_LEN], uint8_t adv_secret[WA_LINKCODE_KEY_LEN],
    char *err, size_t errlen);

#endif
