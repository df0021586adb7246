/* What a companion sends to register or log in (reference/wa-session.md sections 1.1-1.4, 2.3): the
 * ClientPayload for the Noise ClientFinish, its DeviceProps, the build hash, and the QR text. Pure
 * computation: no sockets, no events, no logging. Keys are X25519 (32 bytes, no 0x05 prefix). */
#ifndef WAGATE_WA_PAIR_H
#define WAGATE_WA_PAIR_H

#include <stddef.h>
#include <stdint.h>

#define WA_PAIR_KEY_LEN		32
#define WA_PAIR_SIG_LEN		64
#define WA_PAIR_HASH_LEN	16
/* The WhatsApp Web version we announce (userAgent.appVersion, buildHash). */
#define WA_PAIR_VERSION_PRIMARY		2
#define WA_PAIR_VERSION_SECONDARY	3000
#define WA_PAIR_VERSION_TERTIARY	1045649367u
#define WA_PAIR_VERSION_STRING		"2.3000.1045649367"
/* DeviceProps: what the phone lists under "Linked devices", and the QR client type it implies. */
#define WA_PAIR_DEVICE_OS		"wagate"
#define WA_PAIR_CLIENT_TYPE		'1'	/* platformType CHROME */
#define WA_PAIR_QR_PREFIX		"https://wa.me/settings/linked_devices#"
#define WA_PAIR_REF_MAX			1024	/* a pair-device ref longer than this is refused */

/* Registration material (section 1.2). */
struct wa_pair_reg {
	uint32_t registration_id;
	uint8_t identity_pub[WA_PAIR_KEY_LEN];
	uint32_t signed_prekey_id;		/* < 2^24: sent as 3 bytes */
	uint8_t signed_prekey_pub[WA_PAIR_KEY_LEN];
	uint8_t signed_prekey_sig[WA_PAIR_SIG_LEN];
	int full_sync;				/* DeviceProps.requireFullSync: ask the phone for all of the history
						 * (the instance's syncFullHistory, as Baileys sends it) */
};

/* MD5 of the version string (buildHash). 0 or -1. */
int wa_pair_build_hash(const char *version, uint8_t out[WA_PAIR_HASH_LEN]);
/* Serialized DeviceProps {os "wagate", version {0,1,0}, platformType CHROME, requireFullSync full_sync}.
 * *out is malloc'd. 0 or -1. */
int wa_pair_device_props(int full_sync, uint8_t **out, size_t *outlen);
/* Serialized registration ClientPayload (sections 1.1 and 1.2). *out is malloc'd. 0 or -1. */
int wa_pair_registration_payload(const struct wa_pair_reg *r, uint8_t **out, size_t *outlen);
/* Serialized login ClientPayload (sections 1.1 and 1.3) for the phone number user and device.
 * *out is malloc'd. 0 or -1. */
int wa_pair_login_payload(uint64_t user, uint32_t device, uint8_t **out, size_t *outlen);
/* The QR text "<prefix><ref>,<b64 noise>,<b64 identity>,<b64 adv>,<client type>" (section 2.3). ref must be
 * 1..WA_PAIR_REF_MAX printable ASCII bytes without a comma. A new string, or NULL if ref is unusable. */
char *wa_pair_qr_text(const uint8_t *ref, size_t reflen, const uint8_t noise_pub[WA_PAIR_KEY_LEN],
    const uint8_t identity_pub[WA_PAIR_KEY_LEN], const uint8_t adv_secret[WA_PAIR_KEY_LEN]);

#endif
