/* Noise_XX_25519_AESGCM_SHA256 as WhatsApp uses it: the handshake symmetric state (h, ck, k, n) with
 * MixHash / MixKey / EncryptAndHash / DecryptAndHash / Split, the two transport ciphers it splits into, and
 * the X25519 primitive. Pure computation (mbedTLS for AES-GCM and SHA-256, wa_fe.h for X25519): no sockets,
 * no events, no logging.
 * Spec: reference/wa-transport.md section 2. Bump nothing here without re-running the section 2.9 KAT. */
#ifndef WAGATE_WA_NOISE_H
#define WAGATE_WA_NOISE_H

#include <stddef.h>
#include <stdint.h>

#define WA_NOISE_KEY_LEN 32	/* X25519 keys, AES-256 keys, SHA-256 hashes */
#define WA_NOISE_TAG_LEN 16	/* AES-GCM tag appended to every ciphertext */
/* Largest plaintext accepted by the encrypt/decrypt calls (a frame payload is at most 2^24 - 1 bytes). */
#define WA_NOISE_MAX_PLAINTEXT (0xffffffu - WA_NOISE_TAG_LEN)

/* "Noise_XX_25519_AESGCM_SHA256" padded with 4 zero bytes: exactly 32 bytes, used without hashing. */
extern const uint8_t wa_noise_protocol_name[WA_NOISE_KEY_LEN];

struct wa_noise;		/* handshake symmetric state */
struct wa_noise_transport;	/* one direction of the transport phase */

/* X25519 (RFC 7748): out = DH(priv, pub). priv is clamped here; an all-zero result is refused. 0 or -1. */
int wa_noise_dh(const uint8_t priv[WA_NOISE_KEY_LEN], const uint8_t pub[WA_NOISE_KEY_LEN],
    uint8_t out[WA_NOISE_KEY_LEN]);
/* The X25519 public key of priv (clamped here). 0 or -1. */
int wa_noise_pubkey(const uint8_t priv[WA_NOISE_KEY_LEN], uint8_t pub[WA_NOISE_KEY_LEN]);
/* A fresh X25519 key pair from the kernel CSPRNG (priv stored clamped). 0 or -1. */
int wa_noise_keypair_generate(uint8_t priv[WA_NOISE_KEY_LEN], uint8_t pub[WA_NOISE_KEY_LEN]);

/* Initialize: h = ck = protocol name, no key, n = 0, then MixHash(prologue) (WhatsApp: the 4-byte
 * connection header). prologue may be NULL when prologue_len is 0. */
struct wa_noise *wa_noise_new(const uint8_t *prologue, size_t prologue_len);
/* Wipe and release a handshake state (NULL is fine). */
void wa_noise_free(struct wa_noise *n);
/* h = SHA256(h || data). 0 or -1. */
int wa_noise_mix_hash(struct wa_noise *n, const uint8_t *data, size_t len);
/* (ck, k) = HKDF-SHA256(salt = ck, ikm) split in two halves; n = 0. 0 or -1. */
int wa_noise_mix_key(struct wa_noise *n, const uint8_t *ikm, size_t len);
/* c = AES-256-GCM(k, nonce(n), AD = h, in); n++; MixHash(c). *out is malloc'd (len + 16 bytes).
 * Fails (-1) when no key has been mixed in yet. */
int wa_noise_encrypt_and_hash(struct wa_noise *n, const uint8_t *in, size_t len, uint8_t **out,
    size_t *outlen);
/* p = AES-256-GCM-Decrypt(k, nonce(n), AD = h, in); n++; MixHash(in). *out is malloc'd (may be empty,
 * then *out is a valid 1-byte allocation). -1 on authentication failure (the state is then unusable). */
int wa_noise_decrypt_and_hash(struct wa_noise *n, const uint8_t *in, size_t len, uint8_t **out,
    size_t *outlen);
/* (k1, k2) = HKDF(salt = ck, empty). k1 is client->server, k2 server->client; both counters 0.
 * The client writes with *c2s and reads with *s2c; the server the other way round. 0 or -1. */
int wa_noise_split(struct wa_noise *n, struct wa_noise_transport **c2s, struct wa_noise_transport **s2c);
/* Copy out the current handshake hash h, chaining key ck and cipher key k (any may be NULL). For KATs and
 * for channel binding; k is all zero before the first MixKey. */
void wa_noise_state(const struct wa_noise *n, uint8_t h[WA_NOISE_KEY_LEN], uint8_t ck[WA_NOISE_KEY_LEN],
    uint8_t k[WA_NOISE_KEY_LEN]);

/* A transport cipher with key and its counter at 0. */
struct wa_noise_transport *wa_noise_transport_new(const uint8_t key[WA_NOISE_KEY_LEN]);
/* Wipe and release a transport cipher (NULL is fine). */
void wa_noise_transport_free(struct wa_noise_transport *t);
/* Encrypt one frame payload: AES-256-GCM(key, nonce(counter), AD = empty); counter++. *out is malloc'd
 * (len + 16 bytes). -1 when len is too large, the counter is exhausted or the cipher failed before. */
int wa_noise_encrypt(struct wa_noise_transport *t, const uint8_t *in, size_t len, uint8_t **out,
    size_t *outlen);
/* Decrypt one frame payload; counter++. *out is malloc'd (a valid allocation even when empty). Fails
 * closed: after one authentication failure every later call on t returns -1. */
int wa_noise_decrypt(struct wa_noise_transport *t, const uint8_t *in, size_t len, uint8_t **out,
    size_t *outlen);
/* As wa_noise_encrypt, into the caller's buffer out (outcap >= len + 16); *outlen = len + 16. */
int wa_noise_encrypt_into(struct wa_noise_transport *t, const uint8_t *in, size_t len, uint8_t *out,
    size_t outcap, size_t *outlen);
/* As wa_noise_decrypt, into the caller's buffer out (outcap >= len - 16); *outlen = len - 16. */
int wa_noise_decrypt_into(struct wa_noise_transport *t, const uint8_t *in, size_t len, uint8_t *out,
    size_t outcap, size_t *outlen);
/* How many frames this direction has processed (the next nonce counter). */
uint32_t wa_noise_transport_counter(const struct wa_noise_transport *t);

#endif
