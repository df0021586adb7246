/* WhatsApp's Noise server certificate chain (reference/wa-transport.md section 3): the CertChain protobuf
 * (leaf signed by an intermediate, intermediate signed by the root), its verification with every check
 * whatsmeow makes, issuing chains for a test server, and root key files. The signatures are libsignal's
 * "curve25519" signatures of wa_xeddsa.h (root and intermediate key pairs: wa_xeddsa_keypair_generate).
 * Pure computation: no sockets, no events, no logging.
 *
 * Key file format (WA_ROOT_KEY, fakewa --root-key-out / --root-key): one line holding the 32-byte key as
 * 64 hex digits (what we write), or as standard base64 (44 characters with padding); leading/trailing
 * whitespace is ignored. Public keys are X25519 (Montgomery u) keys with no 0x05 prefix; a 33-byte form
 * starting with 0x05 is accepted and the prefix dropped. Private key files hold the X25519 scalar in the
 * same encodings and are written mode 0600. */
#ifndef WAGATE_WA_CERT_H
#define WAGATE_WA_CERT_H

#include <stddef.h>
#include <stdint.h>

#define WA_CERT_KEY_LEN 32
#define WA_CERT_SIG_LEN 64
#define WA_CERT_ROOT_ISSUER_SERIAL 0	/* the intermediate's issuerSerial must be this (whatsmeow) */
#define WA_CERT_MAX_CHAIN 8192		/* a CertChain longer than this is refused unparsed */

/* WhatsApp's real root public key ("WhatsAppLongTerm1", serial 0). */
extern const uint8_t wa_cert_whatsapp_root_pub[WA_CERT_KEY_LEN];

/* The fields of CertChain.NoiseCertificate.Details (all encoded explicitly, even zeros). */
struct wa_cert_details {
	uint32_t serial;
	uint32_t issuer_serial;
	uint8_t key[WA_CERT_KEY_LEN];	/* the certified X25519 public key */
	uint64_t not_before;		/* Unix seconds */
	uint64_t not_after;
};

/* Serialize Details as WhatsApp does (fields 1..5 in order). *out is malloc'd. 0 or -1. */
int wa_cert_details_encode(const struct wa_cert_details *d, uint8_t **out, size_t *outlen);
/* Parse serialized Details (absent fields read as 0, a key that is not 32 bytes is an error). 0 or -1. */
int wa_cert_details_decode(const uint8_t *buf, size_t len, struct wa_cert_details *d);
/* Serialize a CertChain from already signed parts. *out is malloc'd. 0 or -1. */
int wa_cert_chain_encode(const uint8_t *leaf_details, size_t leaf_len, const uint8_t leaf_sig[WA_CERT_SIG_LEN],
    const uint8_t *int_details, size_t int_len, const uint8_t int_sig[WA_CERT_SIG_LEN], uint8_t **out,
    size_t *outlen);
/* Sign and serialize a chain: intermediate Details signed by root_priv, leaf Details signed by int_priv.
 * (Nothing is checked: tests use this to build broken chains too.) *out is malloc'd. 0 or -1. */
int wa_cert_chain_issue(const uint8_t root_priv[WA_CERT_KEY_LEN], const uint8_t int_priv[WA_CERT_KEY_LEN],
    const struct wa_cert_details *intermediate, const struct wa_cert_details *leaf, uint8_t **out,
    size_t *outlen);
/* The usual test chain for a server static key: a fresh intermediate key pair, intermediate {serial 1,
 * issuerSerial 0}, leaf {serial 2, issuerSerial 1, key = server_static_pub}, both valid
 * [not_before, not_after]. *out is malloc'd. 0 or -1. */
int wa_cert_chain_generate(const uint8_t root_priv[WA_CERT_KEY_LEN],
    const uint8_t server_static_pub[WA_CERT_KEY_LEN], uint64_t not_before, uint64_t not_after, uint8_t **out,
    size_t *outlen);
/* Verify a serialized CertChain as whatsmeow does, in its order: parse; both certificates complete;
 * 64-byte signatures; intermediate signed by root_pub; intermediate issuerSerial 0 and a 32-byte key; leaf
 * signed by the intermediate key; intermediate valid at now; leaf issuerSerial == intermediate serial;
 * leaf key == server_static (constant time); leaf valid at now. 0, or -1 with a reason in err such as
 * "certificate: intermediate signature invalid". */
int wa_cert_chain_verify(const uint8_t *chain, size_t len, const uint8_t root_pub[WA_CERT_KEY_LEN],
    const uint8_t server_static[WA_CERT_KEY_LEN], uint64_t now, char *err, size_t errlen);

/* Read a key file (common/keytext.h's text forms; at most 1 KiB). 0, or -1 with a reason in err. */
int wa_cert_key_read_file(const char *path, uint8_t key[WA_CERT_KEY_LEN], char *err, size_t errlen);
/* Write a key file: hex and a newline, created mode 0600 if secret else 0644, replaced atomically.
 * 0, or -1 with errno set. */
int wa_cert_key_write_file(const char *path, const uint8_t key[WA_CERT_KEY_LEN], int secret);

#endif
