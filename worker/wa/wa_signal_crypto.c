/* libsignal-protocol-c's crypto provider on mbedTLS. See wa_signal_crypto.h. Each callback returns 0 or a
 * negative libsignal error code, as signal_protocol.h asks. */
#include "wa_signal_crypto.h"
#include "wa_sha256.h"
#include "random.h"
#include "xmalloc.h"

#include <mbedtls/cipher.h>
#include <mbedtls/md.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Random bytes for keys, IVs and ratchet steps. */
static int
crypto_random_cb(uint8_t *data, size_t len, void *user_data)
{
	struct wa_signal_rng *rng = user_data;

	if (rng != NULL && rng->fn != NULL)
		rng->fn(data, len, rng->arg);
	else
		random_bytes(data, len);
	return 0;
}

/* A digest in progress; the size is kept because mbedTLS 2 has no accessor for it. */
struct crypto_md {
	mbedtls_md_context_t ctx;
	size_t size;
};

/* A fresh mbedTLS digest context (SHA-512, for libsignal's signatures). */
static int
crypto_md_start(void **out, mbedtls_md_type_t type)
{
	struct crypto_md *m = xmalloc(sizeof(*m));
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(type);

	mbedtls_md_init(&m->ctx);
	if (md == NULL || mbedtls_md_setup(&m->ctx, md, 0) != 0 || mbedtls_md_starts(&m->ctx) != 0) {
		mbedtls_md_free(&m->ctx);
		free(m);
		return SG_ERR_UNKNOWN;
	}
	m->size = mbedtls_md_get_size(md);
	*out = m;
	return 0;
}

/* The digest into a new signal buffer of the digest's size. */
static int
crypto_md_finish(void *c, signal_buffer **output)
{
	struct crypto_md *m = c;
	signal_buffer *b = signal_buffer_alloc(m->size);

	if (b == NULL)
		return SG_ERR_NOMEM;
	if (mbedtls_md_finish(&m->ctx, signal_buffer_data(b)) != 0) {
		signal_buffer_bzero_free(b);
		return SG_ERR_UNKNOWN;
	}
	*output = b;
	return 0;
}

/* mbedtls_md_free wipes the context. */
static void
crypto_md_cleanup_cb(void *c, void *user_data)
{
	struct crypto_md *m = c;

	(void)user_data;
	if (m == NULL)
		return;
	mbedtls_md_free(&m->ctx);
	free(m);
}

/* HMAC-SHA256 runs on wa_sha256.c (the CPU's SHA extensions when present): every message key, chain step and
 * MAC is one, and mbedTLS 2's portable SHA-256 was about a fifth of a busy worker's CPU. One allocation per
 * HMAC instead of mbedTLS's three. */
static int
crypto_hmac_init_cb(void **c, const uint8_t *key, size_t key_len, void *user_data)
{
	struct wa_hmac_sha256 *h = xmalloc(sizeof(*h));

	(void)user_data;
	wa_hmac_sha256_init(h, key, key_len);
	*c = h;
	return 0;
}

static int
crypto_hmac_update_cb(void *c, const uint8_t *data, size_t len, void *user_data)
{
	(void)user_data;
	wa_hmac_sha256_update(c, data, len);
	return 0;
}

static int
crypto_hmac_final_cb(void *c, signal_buffer **output, void *user_data)
{
	signal_buffer *b = signal_buffer_alloc(WA_SHA256_LEN);

	(void)user_data;
	if (b == NULL)
		return SG_ERR_NOMEM;
	wa_hmac_sha256_final(c, signal_buffer_data(b));
	*output = b;
	return 0;
}

/* The context is a function of the key: wiped before it is freed. */
static void
crypto_hmac_cleanup_cb(void *c, void *user_data)
{
	(void)user_data;
	free_wiped(c, sizeof(struct wa_hmac_sha256));
}

static int
crypto_sha512_init_cb(void **c, void *user_data)
{
	(void)user_data;
	return crypto_md_start(c, MBEDTLS_MD_SHA512);
}

static int
crypto_sha512_update_cb(void *c, const uint8_t *data, size_t len, void *user_data)
{
	(void)user_data;
	return mbedtls_md_update(&((struct crypto_md *)c)->ctx, data, len) == 0 ? 0 : SG_ERR_UNKNOWN;
}

static int
crypto_sha512_final_cb(void *c, signal_buffer **output, void *user_data)
{
	(void)user_data;
	return crypto_md_finish(c, output);
}

/* The mbedTLS cipher for libsignal's mode and key size, or NULL. */
static const mbedtls_cipher_info_t *
crypto_cipher_info(int cipher, size_t key_len)
{
	static const mbedtls_cipher_type_t cbc[] = { MBEDTLS_CIPHER_AES_128_CBC, MBEDTLS_CIPHER_AES_192_CBC,
	    MBEDTLS_CIPHER_AES_256_CBC };
	static const mbedtls_cipher_type_t ctr[] = { MBEDTLS_CIPHER_AES_128_CTR, MBEDTLS_CIPHER_AES_192_CTR,
	    MBEDTLS_CIPHER_AES_256_CTR };
	size_t i;

	if (key_len != 16 && key_len != 24 && key_len != 32)
		return NULL;
	i = (key_len - 16) / 8;
	if (cipher == SG_CIPHER_AES_CBC_PKCS5)
		return mbedtls_cipher_info_from_type(cbc[i]);
	if (cipher == SG_CIPHER_AES_CTR_NOPADDING)
		return mbedtls_cipher_info_from_type(ctr[i]);
	return NULL;
}

/* One whole AES operation; the output has room for a block of padding. A bad padding on decryption is an
 * invalid message (libsignal checks the MAC or signature first, so only a broken sender gets here). */
static int
crypto_aes(signal_buffer **output, int cipher, mbedtls_operation_t op, const uint8_t *key, size_t key_len,
    const uint8_t *iv, size_t iv_len, const uint8_t *in, size_t in_len)
{
	const mbedtls_cipher_info_t *info = crypto_cipher_info(cipher, key_len);
	mbedtls_cipher_context_t ctx;
	signal_buffer *b;
	size_t olen = 0;
	int rc;

	if (info == NULL || iv_len != 16 || in_len > SIZE_MAX - 16)
		return SG_ERR_UNKNOWN;
	if ((b = signal_buffer_alloc(in_len + 16)) == NULL)
		return SG_ERR_NOMEM;
	mbedtls_cipher_init(&ctx);
	rc = mbedtls_cipher_setup(&ctx, info);
	if (rc == 0)
		rc = mbedtls_cipher_setkey(&ctx, key, (int)key_len * 8, op);
	if (rc == 0 && cipher == SG_CIPHER_AES_CBC_PKCS5)
		rc = mbedtls_cipher_set_padding_mode(&ctx, MBEDTLS_PADDING_PKCS7);
	if (rc == 0)
		rc = mbedtls_cipher_crypt(&ctx, iv, iv_len, in, in_len, signal_buffer_data(b), &olen);
	mbedtls_cipher_free(&ctx);
	if (rc != 0) {
		signal_buffer_bzero_free(b);
		return op == MBEDTLS_DECRYPT ? SG_ERR_INVALID_MESSAGE : SG_ERR_UNKNOWN;
	}
	/* Shrink to the real length: a copy, then the wiped original (plaintexts are secrets too). */
	*output = signal_buffer_n_copy(b, olen);
	signal_buffer_bzero_free(b);
	return *output == NULL ? SG_ERR_NOMEM : 0;
}

static int
crypto_encrypt_cb(signal_buffer **output, int cipher, const uint8_t *key, size_t key_len, const uint8_t *iv,
    size_t iv_len, const uint8_t *plaintext, size_t plaintext_len, void *user_data)
{
	(void)user_data;
	return crypto_aes(output, cipher, MBEDTLS_ENCRYPT, key, key_len, iv, iv_len, plaintext, plaintext_len);
}

static int
crypto_decrypt_cb(signal_buffer **output, int cipher, const uint8_t *key, size_t key_len, const uint8_t *iv,
    size_t iv_len, const uint8_t *ciphertext, size_t ciphertext_len, void *user_data)
{
	(void)user_data;
	return crypto_aes(output, cipher, MBEDTLS_DECRYPT, key, key_len, iv, iv_len, ciphertext, ciphertext_len);
}

void
wa_signal_crypto_provider(signal_crypto_provider *p, struct wa_signal_rng *rng)
{
	memset(p, 0, sizeof(*p));
	p->random_func = crypto_random_cb;
	p->hmac_sha256_init_func = crypto_hmac_init_cb;
	p->hmac_sha256_update_func = crypto_hmac_update_cb;
	p->hmac_sha256_final_func = crypto_hmac_final_cb;
	p->hmac_sha256_cleanup_func = crypto_hmac_cleanup_cb;
	p->sha512_digest_init_func = crypto_sha512_init_cb;
	p->sha512_digest_update_func = crypto_sha512_update_cb;
	p->sha512_digest_final_func = crypto_sha512_final_cb;
	p->sha512_digest_cleanup_func = crypto_md_cleanup_cb;
	p->encrypt_func = crypto_encrypt_cb;
	p->decrypt_func = crypto_decrypt_cb;
	p->user_data = rng;
}
