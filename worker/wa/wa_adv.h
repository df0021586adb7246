/* ADV device identity: what the phone signs when it links a companion, and what the companion checks and
 * countersigns (reference/wa-session.md sections 2.6-2.8 and 2.10; protobufs in proto/wa/adv.proto, field
 * numbers in wa-proto-fields.md section 4). Both roles live here: the worker is the companion, tests/fakewa
 * plays the phone. Pure computation: no sockets, no events, no logging. Every input that came off the wire
 * is parsed with length checks; nothing is trusted.
 *
 * Keys are X25519 (Montgomery u, 32 bytes, no 0x05 prefix); signatures are the 64-byte curve25519 (XEdDSA)
 * signatures of wa_xeddsa.h. */
#ifndef WAGATE_WA_ADV_H
#define WAGATE_WA_ADV_H

#include <stddef.h>
#include <stdint.h>

#define WA_ADV_KEY_LEN		32
#define WA_ADV_SIG_LEN		64
#define WA_ADV_MAX_MESSAGE	4096	/* a device-identity longer than this is refused unparsed */

enum wa_adv_type { WA_ADV_E2EE = 0, WA_ADV_HOSTED = 1 };	/* ADVEncryptionType */

/* Why a pair-success was refused; the companion answers the server's iq with this code and text. */
enum wa_adv_error {
	WA_ADV_OK = 0,
	WA_ADV_ERR_PARSE = -1,		/* 500 "internal-error": not the protobufs we expect, wrong lengths */
	WA_ADV_ERR_HMAC = -2,		/* 401 "hmac-mismatch" */
	WA_ADV_ERR_SIGNATURE = -3,	/* 401 "signature-mismatch" */
};

/* ADVDeviceIdentity. */
struct wa_adv_device {
	uint32_t raw_id;
	uint64_t timestamp;
	uint32_t key_index;
	enum wa_adv_type account_type;
	enum wa_adv_type device_type;
};

/* What a verified pair-success gives the companion (all heap buffers; wa_adv_result_clear frees them). */
struct wa_adv_result {
	uint8_t *account;		/* ADVSignedDeviceIdentity with accountSignatureKey and our deviceSignature:
					 * persist it; it is sent later as <device-identity> in messages */
	size_t account_len;
	uint8_t *reply;			/* the same without accountSignatureKey: content of <device-identity> in
					 * <pair-device-sign> */
	size_t reply_len;
	uint32_t key_index;		/* key-index attribute of that <device-identity> */
	uint8_t account_pub[WA_ADV_KEY_LEN];	/* the phone's identity key (its Signal identity, device 0) */
	struct wa_adv_device device;
};

/* Companion: check the <device-identity> bytes of pair-success (ADVSignedDeviceIdentityHMAC) against our
 * adv secret (HMAC, constant time; prefix 06 05 for hosted accounts) and the account signature over
 * prefix || details || identity_pub (prefix 06 00, or 06 05 for a hosted device), then compute our device
 * signature (06 01 || details || identity_pub || account key) with identity_priv. WA_ADV_OK with *out filled,
 * or a wa_adv_error with a reason in err.
 * *out is zeroed first, not freed: clear a reused result with wa_adv_result_clear before calling again. */
int wa_adv_companion_verify(const uint8_t *msg, size_t len, const uint8_t adv_secret[WA_ADV_KEY_LEN],
    const uint8_t identity_priv[WA_ADV_KEY_LEN], const uint8_t identity_pub[WA_ADV_KEY_LEN],
    struct wa_adv_result *out, char *err, size_t errlen);
/* Free and zero what a result holds (NULL is fine). */
void wa_adv_result_clear(struct wa_adv_result *r);
/* The iq error code and text for a wa_adv_error (500 "internal-error" for anything unknown). */
int wa_adv_error_code(int e);
const char *wa_adv_error_text(int e);

/* Phone: build the ADVSignedDeviceIdentityHMAC bytes for a companion whose QR (or link code) gave
 * companion_identity_pub and adv_secret: details = ADVDeviceIdentity(dev), account signature with
 * account_priv over 06 00 || details || companion_identity_pub (06 05 when dev->device_type is hosted), HMAC
 * with adv_secret (over 06 05 || details for a hosted account). *out is malloc'd. 0 or -1. */
int wa_adv_phone_issue(const uint8_t account_priv[WA_ADV_KEY_LEN], const uint8_t account_pub[WA_ADV_KEY_LEN],
    const uint8_t adv_secret[WA_ADV_KEY_LEN], const uint8_t companion_identity_pub[WA_ADV_KEY_LEN],
    const struct wa_adv_device *dev, uint8_t **out, size_t *outlen);
/* Phone: check the companion's <pair-device-sign> <device-identity> bytes (ADVSignedDeviceIdentity without
 * the account key): it parses, its details decode to an ADVDeviceIdentity whose key_index equals
 * expect_key_index, the account signature is ours (account_pub), and the device signature is valid for
 * companion_identity_pub. 0, or -1 with a reason in err. */
int wa_adv_phone_check_reply(const uint8_t *msg, size_t len, const uint8_t account_pub[WA_ADV_KEY_LEN],
    const uint8_t companion_identity_pub[WA_ADV_KEY_LEN], uint32_t expect_key_index, char *err, size_t errlen);

#endif
