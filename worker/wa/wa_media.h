/* WhatsApp's media encryption (reference: whatsmeow download.go / upload.go, Baileys Utils/messages-media.ts): a
 * media blob (an image, a history sync chunk, ...) is AES-256-CBC (PKCS#7) of the plaintext, followed by the
 * first 10 bytes of HMAC-SHA256(macKey, iv || ciphertext). The keys come from the message's 32-byte mediaKey:
 * HKDF-SHA256 (no salt) with the media type's info string expanded to 112 bytes = iv (16) || cipherKey (32) ||
 * macKey (32) || refKey (32, unused here). fileEncSha256 is SHA-256 of the whole blob, fileSha256 of the
 * plaintext. Both roles, process-free: the worker decrypts what it downloads, fakewa encrypts what it serves. */
#ifndef WAGATE_WA_MEDIA_H
#define WAGATE_WA_MEDIA_H

#include <stddef.h>
#include <stdint.h>

#define WA_MEDIA_KEY_LEN	32
#define WA_MEDIA_SHA_LEN	32
#define WA_MEDIA_MAC_LEN	10
#define WA_MEDIA_INFO_HISTORY	"WhatsApp History Keys"

/*
 * Decrypt a downloaded blob of len bytes. enc_sha256 / sha256 (WA_MEDIA_SHA_LEN bytes each) are checked when
 * not NULL: the blob's and the plaintext's hashes as the message gives them. 0 with the plaintext in *out
 * (malloc'd, *outlen bytes), or -1 with a reason in err (a hash or the MAC does not match, bad padding, a length
 * that is not 10 + a non-zero multiple of 16): nothing is returned then.
 */
int wa_media_decrypt(const uint8_t media_key[WA_MEDIA_KEY_LEN], const char *info, const uint8_t *blob, size_t len,
    const uint8_t *enc_sha256, const uint8_t *sha256, uint8_t **out, size_t *outlen, char *err, size_t errlen);

/*
 * Encrypt len bytes of plaintext as WhatsApp's sender does: 0 with the blob in *blob (malloc'd, *bloblen bytes)
 * and the hashes a message carries in enc_sha256 and sha256, or -1 with err.
 */
int wa_media_encrypt(const uint8_t media_key[WA_MEDIA_KEY_LEN], const char *info, const uint8_t *plain, size_t len,
    uint8_t **blob, size_t *bloblen, uint8_t enc_sha256[WA_MEDIA_SHA_LEN], uint8_t sha256[WA_MEDIA_SHA_LEN],
    char *err, size_t errlen);

#endif
