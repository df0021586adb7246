/* libFuzzer target: the ADV parsers that face the network (wa_adv.h). The first input byte picks:
 * 0 the companion's check of a pair-success <device-identity> (the rest as is), 1 the phone's check of a
 * pair-device-sign reply, 2 the companion's check of an HMAC container that the harness builds around the rest
 * with the right HMAC, so that the parsing and signature checks behind the HMAC get fuzzed too. Keys are fixed
 * (seeds in corpus/adv were issued with them); whenever the companion accepts, its reply must pass the
 * phone's check. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/md.h>

#include "adv.pb-c.h"
#include "wa_adv.h"
#include "wa_noise.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The companion's identity private key, the adv secret and the phone's account private key; the seed
 * generator used the same bytes. */
static const uint8_t id_priv[32] = {
	0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f,
	0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f,
};
static const uint8_t adv_secret[32] = {
	0x61, 0x64, 0x76, 0x2d, 0x73, 0x65, 0x63, 0x72, 0x65, 0x74, 0x2d, 0x66, 0x6f, 0x72, 0x2d, 0x66,
	0x75, 0x7a, 0x7a, 0x69, 0x6e, 0x67, 0x2d, 0x6f, 0x6e, 0x6c, 0x79, 0x2d, 0x30, 0x30, 0x30, 0x31,
};
static const uint8_t acc_priv[32] = {
	0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
	0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf,
};
#define KEY_INDEX 7	/* the seeds' key index */

/* Run the companion's check; an accepted message must give a reply the phone accepts. */
static void
fuzz_companion(const uint8_t *msg, size_t len, const uint8_t id_pub[32], const uint8_t acc_pub[32])
{
	struct wa_adv_result r;
	char err[256];
	int rc;

	err[0] = '\0';
	rc = wa_adv_companion_verify(msg, len, adv_secret, id_priv, id_pub, &r, err, sizeof(err));
	if (rc == WA_ADV_OK) {
		/* only the seeds carry valid account signatures, all by acc_priv; the key may differ in bit 255,
		 * which X25519 and libsignal's verifier ignore (RFC 7748 5), so the companion accepts it as
		 * whatsmeow does and countersigns the key as received */
		if (r.reply == NULL || r.account == NULL || memcmp(r.account_pub, acc_pub, 31) != 0 ||
		    (r.account_pub[31] & 0x7f) != acc_pub[31] ||
		    wa_adv_phone_check_reply(r.reply, r.reply_len, r.account_pub, id_pub, r.key_index, err,
		    sizeof(err)) != 0)
			abort();
	} else if (rc != WA_ADV_ERR_PARSE && rc != WA_ADV_ERR_HMAC && rc != WA_ADV_ERR_SIGNATURE)
		abort();
	else if (err[0] == '\0' || r.reply != NULL || r.account != NULL)
		abort();
	wa_adv_result_clear(&r);
}

/* Wrap data as the details of an HMAC container with the correct HMAC (first byte: hosted or not). */
static void
fuzz_behind_hmac(const uint8_t *data, size_t size, const uint8_t id_pub[32], const uint8_t acc_pub[32])
{
	static const uint8_t hosted_prefix[2] = { 6, 5 };
	Wa__ADVSignedDeviceIdentityHMAC h = WA__ADVSIGNED_DEVICE_IDENTITY_HMAC__INIT;
	mbedtls_md_context_t c;
	uint8_t mac[32], *buf;
	size_t n;
	int hosted;

	if (size < 1)
		return;
	hosted = data[0] & 1;
	data++, size--;
	mbedtls_md_init(&c);
	if (mbedtls_md_setup(&c, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1) != 0 ||
	    mbedtls_md_hmac_starts(&c, adv_secret, 32) != 0 ||
	    (hosted && mbedtls_md_hmac_update(&c, hosted_prefix, 2) != 0) ||
	    mbedtls_md_hmac_update(&c, data, size) != 0 || mbedtls_md_hmac_finish(&c, mac) != 0)
		abort();
	mbedtls_md_free(&c);
	h.has_details = 1;
	h.details.data = (uint8_t *)data;
	h.details.len = size;
	h.has_hmac = 1;
	h.hmac.data = mac;
	h.hmac.len = 32;
	h.has_accounttype = hosted;
	h.accounttype = hosted ? WA__ADVENCRYPTION_TYPE__HOSTED : WA__ADVENCRYPTION_TYPE__E2EE;
	n = wa__advsigned_device_identity_hmac__get_packed_size(&h);
	buf = malloc(n + 1);
	if (buf == NULL)
		abort();
	n = wa__advsigned_device_identity_hmac__pack(&h, buf);
	fuzz_companion(buf, n, id_pub, acc_pub);
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t id_pub[32], acc_pub[32];
	static int have_pubs;
	char err[256];

	if (size < 1 || size > 2 * WA_ADV_MAX_MESSAGE)
		return 0;
	/* X25519 in mbedTLS bignums is slow under ASan: derive the fixed public keys once */
	if (!have_pubs) {
		if (wa_noise_pubkey(id_priv, id_pub) != 0 || wa_noise_pubkey(acc_priv, acc_pub) != 0)
			abort();
		have_pubs = 1;
	}
	switch (data[0] % 3) {
	case 0:
		fuzz_companion(data + 1, size - 1, id_pub, acc_pub);
		break;
	case 1:
		err[0] = '\0';
		if (wa_adv_phone_check_reply(data + 1, size - 1, acc_pub, id_pub, KEY_INDEX, err, sizeof(err)) != 0 &&
		    err[0] == '\0')
			abort();
		break;
	default:
		fuzz_behind_hmac(data + 1, size - 1, id_pub, acc_pub);
		break;
	}
	return 0;
}
