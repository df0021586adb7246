/* Link-code pairing crypto (reference/wa-session.md 2.11). Every constant and byte layout was checked against
 * whatsmeow pair-code.go (generateCompanionEphemeralKey, handleCodePairNotification) and Baileys
 * (socket.ts requestPairingCode / generatePairingKey, messages-recv.ts link_code_companion_reg). */
#include "wa_linkcode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/aes.h>
#include <mbedtls/gcm.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>

#include "errbuf.h"
#include "random.h"
#include "wa_noise.h"
#include "xmalloc.h"

#define LC_SALT_LEN	32
#define LC_IV_LEN	16
#define LC_NONCE_LEN	12
#define LC_TAG_LEN	16
#define LC_PLAIN_LEN	(3 * WA_LINKCODE_KEY_LEN)	/* identity || primary identity || adv random */

static const char lc_alphabet[] = "123456789ABCDEFGHJKLMNPQRSTVWXYZ";
static const char lc_bundle_info[] = "link_code_pairing_key_bundle_encryption_key";
static const char lc_adv_info[] = "adv_secret";

/* 5 bytes -> 8 characters, big-endian 5-bit groups (Go's base32 with that alphabet, Baileys'
 * bytesToCrockford). */
int
wa_linkcode_generate(char code[WA_LINKCODE_LEN + 1])
{
	uint8_t b[5];
	uint64_t v = 0;
	int i;

	random_bytes(b, sizeof(b));
	for (i = 0; i < 5; i++)
		v = (v << 8) | b[i];
	for (i = 0; i < WA_LINKCODE_LEN; i++)
		code[i] = lc_alphabet[(v >> (35 - 5 * i)) & 31];
	code[WA_LINKCODE_LEN] = '\0';
	explicit_wipe(b, sizeof(b));
	explicit_wipe(&v, sizeof(v));
	return 0;
}

int
wa_linkcode_valid(const char *code)
{
	size_t i;

	if (code == NULL)
		return 0;
	for (i = 0; i < WA_LINKCODE_LEN; i++)
		if (code[i] == '\0' || strchr(lc_alphabet, code[i]) == NULL)
			return 0;
	return code[WA_LINKCODE_LEN] == '\0';
}

int
wa_linkcode_normalize(const char *code, char out[WA_LINKCODE_LEN + 1])
{
	size_t n = 0;
	const char *p;

	out[0] = '\0';
	if (code == NULL)
		return -1;
	for (p = code; *p != '\0'; p++) {
		char c = *p;

		if (c == '-' || c == ' ' || c == '\t')
			continue;
		if (n == WA_LINKCODE_LEN) {
			out[0] = '\0';
			return -1;
		}
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		out[n++] = c;
	}
	out[n] = '\0';
	if (!wa_linkcode_valid(out)) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

/* key = PBKDF2-HMAC-SHA256(code as ASCII, salt, 2 << 16 rounds, 32 bytes). 0 or -1. */
static int
lc_code_key(const char *code, const uint8_t salt[LC_SALT_LEN], uint8_t key[WA_LINKCODE_KEY_LEN])
{
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	mbedtls_md_context_t ctx;
	int rc = -1;

	mbedtls_md_init(&ctx);
	if (md != NULL && mbedtls_md_setup(&ctx, md, 1) == 0 &&
	    mbedtls_pkcs5_pbkdf2_hmac(&ctx, (const unsigned char *)code, WA_LINKCODE_LEN, salt, LC_SALT_LEN,
	    WA_LINKCODE_PBKDF2_ITER, WA_LINKCODE_KEY_LEN, key) == 0)
		rc = 0;
	mbedtls_md_free(&ctx);
	return rc;
}

/* AES-256-CTR over one 32-byte key with a full 16-byte initial counter block (Go cipher.NewCTR and node's
 * aes-256-ctr both increment the whole block big-endian, as mbedTLS does). */
static int
lc_ctr(const uint8_t key[WA_LINKCODE_KEY_LEN], const uint8_t iv[LC_IV_LEN], const uint8_t in[WA_LINKCODE_KEY_LEN],
    uint8_t out[WA_LINKCODE_KEY_LEN])
{
	mbedtls_aes_context aes;
	uint8_t nc[LC_IV_LEN], block[16];
	size_t off = 0;
	int rc = -1;

	mbedtls_aes_init(&aes);
	memcpy(nc, iv, LC_IV_LEN);
	if (mbedtls_aes_setkey_enc(&aes, key, 256) == 0 &&
	    mbedtls_aes_crypt_ctr(&aes, WA_LINKCODE_KEY_LEN, &off, nc, block, in, out) == 0)
		rc = 0;
	mbedtls_aes_free(&aes);
	explicit_wipe(block, sizeof(block));
	return rc;
}

/* salt(32) || iv(16) || AES-256-CTR(PBKDF2(code, salt), iv, pub). */
int
wa_linkcode_wrap(const char *code, const uint8_t pub[WA_LINKCODE_KEY_LEN], uint8_t out[WA_LINKCODE_WRAPPED_LEN])
{
	uint8_t key[WA_LINKCODE_KEY_LEN];
	int rc;

	/* the password is exactly the 8 characters shown (upper case, no dash): a dashed or lower-case code
	 * would derive another key silently */
	if (!wa_linkcode_valid(code))
		return -1;
	random_bytes(out, LC_SALT_LEN + LC_IV_LEN);
	rc = lc_code_key(code, out, key);
	if (rc == 0)
		rc = lc_ctr(key, out + LC_SALT_LEN, pub, out + LC_SALT_LEN + LC_IV_LEN);
	explicit_wipe(key, sizeof(key));
	return rc;
}

int
wa_linkcode_unwrap(const char *code, const uint8_t *in, size_t len, uint8_t pub[WA_LINKCODE_KEY_LEN])
{
	uint8_t key[WA_LINKCODE_KEY_LEN];
	int rc;

	/* whatsmeow only insists on at least 80 bytes and reads the first 80 */
	if (!wa_linkcode_valid(code) || in == NULL || len < WA_LINKCODE_WRAPPED_LEN)
		return -1;
	rc = lc_code_key(code, in, key);
	if (rc == 0)
		rc = lc_ctr(key, in + LC_SALT_LEN, in + LC_SALT_LEN + LC_IV_LEN, pub);
	explicit_wipe(key, sizeof(key));
	return rc;
}

/* HKDF-SHA256 to 32 bytes; salt may be NULL (RFC 5869: a hash-length string of zeros). 0 or -1. */
static int
lc_hkdf(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len, const char *info,
    uint8_t out[WA_LINKCODE_KEY_LEN])
{
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);

	if (md == NULL)
		return -1;
	return mbedtls_hkdf(md, salt, salt_len, ikm, ikm_len, (const unsigned char *)info, strlen(info), out,
	    WA_LINKCODE_KEY_LEN) == 0 ? 0 : -1;
}

/* adv secret = HKDF(E || identity DH || adv random, no salt, "adv_secret"). */
static int
lc_adv_secret(const uint8_t e[WA_LINKCODE_KEY_LEN], const uint8_t id_dh[WA_LINKCODE_KEY_LEN],
    const uint8_t adv_random[WA_LINKCODE_KEY_LEN], uint8_t adv_secret[WA_LINKCODE_KEY_LEN])
{
	uint8_t ikm[3 * WA_LINKCODE_KEY_LEN];
	int rc;

	memcpy(ikm, e, WA_LINKCODE_KEY_LEN);
	memcpy(ikm + WA_LINKCODE_KEY_LEN, id_dh, WA_LINKCODE_KEY_LEN);
	memcpy(ikm + 2 * WA_LINKCODE_KEY_LEN, adv_random, WA_LINKCODE_KEY_LEN);
	rc = lc_hkdf(NULL, 0, ikm, sizeof(ikm), lc_adv_info, adv_secret);
	explicit_wipe(ikm, sizeof(ikm));
	return rc;
}

int
wa_linkcode_companion_finish(const uint8_t eph_priv[WA_LINKCODE_KEY_LEN],
    const uint8_t primary_eph_pub[WA_LINKCODE_KEY_LEN], const uint8_t identity_priv[WA_LINKCODE_KEY_LEN],
    const uint8_t identity_pub[WA_LINKCODE_KEY_LEN], const uint8_t primary_identity_pub[WA_LINKCODE_KEY_LEN],
    uint8_t **bundle, size_t *bundle_len, uint8_t adv_secret[WA_LINKCODE_KEY_LEN])
{
	mbedtls_gcm_context gcm;
	uint8_t e[WA_LINKCODE_KEY_LEN], id_dh[WA_LINKCODE_KEY_LEN], key[WA_LINKCODE_KEY_LEN];
	uint8_t plain[LC_PLAIN_LEN], *b;
	int rc = -1;

	*bundle = NULL;
	*bundle_len = 0;
	mbedtls_gcm_init(&gcm);
	b = xmalloc(WA_LINKCODE_BUNDLE_LEN);
	if (wa_noise_dh(eph_priv, primary_eph_pub, e) != 0 ||
	    wa_noise_dh(identity_priv, primary_identity_pub, id_dh) != 0)
		goto out;
	/* plaintext: our identity || the primary's identity || adv random (whatsmeow and Baileys agree) */
	memcpy(plain, identity_pub, WA_LINKCODE_KEY_LEN);
	memcpy(plain + WA_LINKCODE_KEY_LEN, primary_identity_pub, WA_LINKCODE_KEY_LEN);
	random_bytes(plain + 2 * WA_LINKCODE_KEY_LEN, WA_LINKCODE_KEY_LEN);
	/* bundle: salt(32) || nonce(12) || AES-256-GCM(plain) || tag(16), no additional data */
	random_bytes(b, LC_SALT_LEN + LC_NONCE_LEN);
	if (lc_hkdf(b, LC_SALT_LEN, e, sizeof(e), lc_bundle_info, key) != 0)
		goto out;
	if (mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key, 256) != 0 ||
	    mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, LC_PLAIN_LEN, b + LC_SALT_LEN, LC_NONCE_LEN,
	    NULL, 0, plain, b + LC_SALT_LEN + LC_NONCE_LEN, LC_TAG_LEN,
	    b + LC_SALT_LEN + LC_NONCE_LEN + LC_PLAIN_LEN) != 0)
		goto out;
	if (lc_adv_secret(e, id_dh, plain + 2 * WA_LINKCODE_KEY_LEN, adv_secret) != 0)
		goto out;
	*bundle = b;
	*bundle_len = WA_LINKCODE_BUNDLE_LEN;
	b = NULL;
	rc = 0;
out:
	mbedtls_gcm_free(&gcm);
	free(b);
	explicit_wipe(e, sizeof(e));
	explicit_wipe(id_dh, sizeof(id_dh));
	explicit_wipe(key, sizeof(key));
	explicit_wipe(plain, sizeof(plain));
	return rc;
}

int
wa_linkcode_primary_finish(const uint8_t eph_priv[WA_LINKCODE_KEY_LEN],
    const uint8_t companion_eph_pub[WA_LINKCODE_KEY_LEN], const uint8_t primary_identity_priv[WA_LINKCODE_KEY_LEN],
    const uint8_t primary_identity_pub[WA_LINKCODE_KEY_LEN], const uint8_t *bundle, size_t len,
    uint8_t companion_identity_pub[WA_LINKCODE_KEY_LEN], uint8_t adv_secret[WA_LINKCODE_KEY_LEN],
    char *err, size_t errlen)
{
	mbedtls_gcm_context gcm;
	uint8_t e[WA_LINKCODE_KEY_LEN], id_dh[WA_LINKCODE_KEY_LEN], key[WA_LINKCODE_KEY_LEN];
	uint8_t plain[LC_PLAIN_LEN], d = 0;
	size_t i;
	int rc = -1;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	mbedtls_gcm_init(&gcm);
	if (bundle == NULL || len != WA_LINKCODE_BUNDLE_LEN) {
		errbuf_fail(err, errlen, "key bundle: %zu bytes, expected %d", len, WA_LINKCODE_BUNDLE_LEN);
		goto out;
	}
	if (wa_noise_dh(eph_priv, companion_eph_pub, e) != 0) {
		errbuf_fail(err, errlen, "key bundle: bad companion ephemeral key");
		goto out;
	}
	if (lc_hkdf(bundle, LC_SALT_LEN, e, sizeof(e), lc_bundle_info, key) != 0 ||
	    mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key, 256) != 0) {
		errbuf_fail(err, errlen, "key bundle: key derivation failed");
		goto out;
	}
	if (mbedtls_gcm_auth_decrypt(&gcm, LC_PLAIN_LEN, bundle + LC_SALT_LEN, LC_NONCE_LEN, NULL, 0,
	    bundle + LC_SALT_LEN + LC_NONCE_LEN + LC_PLAIN_LEN, LC_TAG_LEN, bundle + LC_SALT_LEN + LC_NONCE_LEN,
	    plain) != 0) {
		/* a wrong code gives both sides other ephemeral keys, so this is where it shows */
		errbuf_fail(err, errlen, "key bundle: does not decrypt (wrong code?)");
		goto out;
	}
	for (i = 0; i < WA_LINKCODE_KEY_LEN; i++)
		d |= plain[WA_LINKCODE_KEY_LEN + i] ^ primary_identity_pub[i];
	if (d != 0) {
		errbuf_fail(err, errlen, "key bundle: names another primary identity");
		goto out;
	}
	if (wa_noise_dh(primary_identity_priv, plain, id_dh) != 0) {
		errbuf_fail(err, errlen, "key bundle: bad companion identity key");
		goto out;
	}
	if (lc_adv_secret(e, id_dh, plain + 2 * WA_LINKCODE_KEY_LEN, adv_secret) != 0) {
		errbuf_fail(err, errlen, "key bundle: adv secret derivation failed");
		goto out;
	}
	memcpy(companion_identity_pub, plain, WA_LINKCODE_KEY_LEN);
	rc = 0;
out:
	mbedtls_gcm_free(&gcm);
	explicit_wipe(e, sizeof(e));
	explicit_wipe(id_dh, sizeof(id_dh));
	explicit_wipe(key, sizeof(key));
	explicit_wipe(plain, sizeof(plain));
	return rc;
}
