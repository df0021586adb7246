/* The worker's credentials (contract "Credentials blob"): fresh registration material, and the blob that
 * the supervisor stores (proto/creds.proto). Pure computation: no logging, no events. */
#ifndef WAGATE_WORKER_CREDS_H
#define WAGATE_WORKER_CREDS_H

#include "wa_prekey.h"

#include <stddef.h>
#include <stdint.h>

#define CREDS_KEY_LEN		32
#define CREDS_VERSION		1
#define CREDS_BLOB_MAX		(64 * 1024)	/* a larger blob is refused unparsed */
#define CREDS_REGID_MAX		16380		/* libsignal's non-extended range, 1..16380 */
#define CREDS_SIGNED_PREKEY_ID	1

struct creds {
	uint8_t noise_priv[CREDS_KEY_LEN], noise_pub[CREDS_KEY_LEN];
	uint8_t identity_priv[CREDS_KEY_LEN], identity_pub[CREDS_KEY_LEN];
	uint32_t registration_id;
	struct wa_signed_prekey signed_prekey;
	uint8_t adv_secret[CREDS_KEY_LEN];
	uint32_t next_prekey_id;
	/* after pairing (jid NULL = not paired) */
	char *jid, *lid, *platform, *business_name, *push_name;
	uint8_t *account;
	size_t account_len;
	uint32_t key_index;
	int has_account_pub;
	uint8_t account_pub[CREDS_KEY_LEN];
};

/* Fresh registration material (section 2.1): Noise and identity key pairs, registration id, signed prekey
 * id 1, adv secret, next_prekey_id 1. NULL if the CSPRNG or the signer failed. */
struct creds *creds_generate(void);
/* Parse and check a stored blob. NULL with a reason in err if it is not a usable blob. */
struct creds *creds_decode(const uint8_t *buf, size_t len, char *err, size_t errlen);
/* Serialize. *out is malloc'd (wipe it when done). 0 or -1. */
int creds_encode(const struct creds *c, uint8_t **out, size_t *outlen);
/* Replace a string field (NULL or "" clears it). */
void creds_set_str(char **field, const char *value);
/* Wipe and free (NULL is fine). */
void creds_free(struct creds *c);

#endif
