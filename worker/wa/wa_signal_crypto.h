/* Internal to the Signal layer: libsignal-protocol-c's crypto provider: HMAC-SHA256 on wa_sha256.h, SHA-512 and
 * AES-CBC with PKCS#7 padding, AES-CTR on mbedTLS, with a replaceable random source. */
#ifndef WAGATE_WA_SIGNAL_CRYPTO_H
#define WAGATE_WA_SIGNAL_CRYPTO_H

#include <signal/signal_protocol.h>

#include <stddef.h>

/* Where random bytes come from: fn NULL means the kernel (common/random.h). */
struct wa_signal_rng {
	void (*fn)(void *buf, size_t n, void *arg);
	void *arg;
};

/* Fill p with the provider; its user data is rng, which must outlive the signal context. */
void wa_signal_crypto_provider(signal_crypto_provider *p, struct wa_signal_rng *rng);

#endif
