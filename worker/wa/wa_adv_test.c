/* ADV tests: the phone's pair-success verifies on the companion and the companion's reply on the phone; every
 * tampering is refused with the right wa_adv_error; hosted accounts use the 06 05 prefixes; the signatures
 * verify with libsignal-protocol-c; hostile input is refused without a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <mbedtls/md.h>
#include <signal/curve.h>
#include <signal/signal_protocol.h>

#include "adv.pb-c.h"
#include "wa_adv.h"
#include "wa_cert.h"
#include "wa_signal_check.h"
#include "wa_noise.h"

struct keys {
	uint8_t acc_priv[32], acc_pub[32];	/* the phone's account (identity) key */
	uint8_t id_priv[32], id_pub[32];	/* the companion's identity key */
	uint8_t adv[32];			/* adv secret from the QR */
};

static const struct wa_adv_device dev_e2ee = {
	.raw_id = 424242, .timestamp = 1800000000u, .key_index = 7,
	.account_type = WA_ADV_E2EE, .device_type = WA_ADV_E2EE,
};
static const struct wa_adv_device dev_hosted = {
	.raw_id = 99, .timestamp = 1800000001u, .key_index = 2,
	.account_type = WA_ADV_HOSTED, .device_type = WA_ADV_HOSTED,
};

/* Fresh keys and adv secret. */
static void
keys_init(struct keys *k)
{
	assert_int_equal(wa_noise_keypair_generate(k->acc_priv, k->acc_pub), 0);
	assert_int_equal(wa_noise_keypair_generate(k->id_priv, k->id_pub), 0);
	{
		uint8_t unused[32];

		/* any 32 random bytes do; a key pair generator is the CSPRNG at hand */
		assert_int_equal(wa_noise_keypair_generate(unused, k->adv), 0);
	}
}

/* HMAC-SHA256(key, [prefix] || data) for building and checking messages by hand. */
static void
hmac(const uint8_t key[32], const uint8_t *prefix, const uint8_t *data, size_t len, uint8_t out[32])
{
	mbedtls_md_context_t c;

	mbedtls_md_init(&c);
	assert_int_equal(mbedtls_md_setup(&c, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1), 0);
	assert_int_equal(mbedtls_md_hmac_starts(&c, key, 32), 0);
	if (prefix != NULL)
		assert_int_equal(mbedtls_md_hmac_update(&c, prefix, 2), 0);
	assert_int_equal(mbedtls_md_hmac_update(&c, data, len), 0);
	assert_int_equal(mbedtls_md_hmac_finish(&c, out), 0);
	mbedtls_md_free(&c);
}

/* a || b || c || d into a fresh buffer (c, d may be NULL). */
static uint8_t *
cat(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, const uint8_t *c, size_t clen,
    const uint8_t *d, size_t dlen, size_t *outlen)
{
	uint8_t *m;

	*outlen = alen + blen + (c != NULL ? clen : 0) + (d != NULL ? dlen : 0);
	m = malloc(*outlen);
	assert_non_null(m);
	memcpy(m, a, alen);
	memcpy(m + alen, b, blen);
	if (c != NULL)
		memcpy(m + alen + blen, c, clen);
	if (d != NULL)
		memcpy(m + alen + blen + (c != NULL ? clen : 0), d, dlen);
	return m;
}

/* Wrap S bytes into an HMAC container keyed by adv (hosted: prefix 06 05 and accountType). */
static uint8_t *
wrap_hmac(const uint8_t adv[32], const uint8_t *s, size_t slen, int hosted, size_t *outlen)
{
	static const uint8_t hp[2] = { 6, 5 };
	Wa__ADVSignedDeviceIdentityHMAC h = WA__ADVSIGNED_DEVICE_IDENTITY_HMAC__INIT;
	uint8_t mac[32], *out;

	hmac(adv, hosted ? hp : NULL, s, slen, mac);
	h.has_details = 1;
	h.details.data = (uint8_t *)s;
	h.details.len = slen;
	h.has_hmac = 1;
	h.hmac.data = mac;
	h.hmac.len = 32;
	if (hosted) {
		h.has_accounttype = 1;
		h.accounttype = WA__ADVENCRYPTION_TYPE__HOSTED;
	}
	out = malloc(wa__advsigned_device_identity_hmac__get_packed_size(&h) + 1);
	assert_non_null(out);
	*outlen = wa__advsigned_device_identity_hmac__pack(&h, out);
	return out;
}

/* Issue, verify, answer, check; both signatures also verify with libsignal; the reply lacks the account key,
 * the stored account keeps it. */
static void
roundtrip(const struct wa_adv_device *dev, int hosted)
{
	static const uint8_t p_acc[2] = { 6, 0 }, p_dev[2] = { 6, 1 }, p_host[2] = { 6, 5 };
	struct keys k;
	struct wa_adv_result r;
	Wa__ADVSignedDeviceIdentityHMAC *h;
	Wa__ADVSignedDeviceIdentity *s, *reply, *acct;
	Wa__ADVDeviceIdentity *d;
	uint8_t *msg, *m, mac[32];
	size_t len, mlen;
	char err[128] = "";

	keys_init(&k);
	assert_int_equal(wa_adv_phone_issue(k.acc_priv, k.acc_pub, k.adv, k.id_pub, dev, &msg, &len), 0);
	assert_true(len > 0 && len <= WA_ADV_MAX_MESSAGE);

	/* the issued message as the wire sees it */
	h = wa__advsigned_device_identity_hmac__unpack(NULL, len, msg);
	assert_non_null(h);
	assert_true(h->has_details && h->has_hmac && h->hmac.len == 32);
	assert_int_equal(h->has_accounttype, hosted);
	hmac(k.adv, hosted ? p_host : NULL, h->details.data, h->details.len, mac);
	assert_memory_equal(mac, h->hmac.data, 32);
	if (hosted) {	/* the prefix matters */
		hmac(k.adv, NULL, h->details.data, h->details.len, mac);
		assert_memory_not_equal(mac, h->hmac.data, 32);
	}
	s = wa__advsigned_device_identity__unpack(NULL, h->details.len, h->details.data);
	assert_non_null(s);
	assert_true(s->has_accountsignaturekey && s->accountsignaturekey.len == 32);
	assert_memory_equal(s->accountsignaturekey.data, k.acc_pub, 32);
	assert_false(s->has_devicesignature);
	d = wa__advdevice_identity__unpack(NULL, s->details.len, s->details.data);
	assert_non_null(d);
	assert_int_equal(d->rawid, dev->raw_id);
	assert_int_equal(d->timestamp, dev->timestamp);
	assert_int_equal(d->keyindex, dev->key_index);
	assert_int_equal(d->devicetype, hosted ? WA__ADVENCRYPTION_TYPE__HOSTED : WA__ADVENCRYPTION_TYPE__E2EE);
	m = cat(hosted ? p_host : p_acc, 2, s->details.data, s->details.len, k.id_pub, 32, NULL, 0, &mlen);
	assert_int_equal(signal_verify(k.acc_pub, m, mlen, s->accountsignature.data), 1);
	free(m);
	wa__advdevice_identity__free_unpacked(d, NULL);

	/* companion */
	assert_int_equal(wa_adv_companion_verify(msg, len, k.adv, k.id_priv, k.id_pub, &r, err, sizeof(err)),
	    WA_ADV_OK);
	assert_int_equal(r.key_index, dev->key_index);
	assert_int_equal(r.device.key_index, dev->key_index);
	assert_int_equal(r.device.raw_id, dev->raw_id);
	assert_int_equal(r.device.timestamp, dev->timestamp);
	assert_int_equal(r.device.account_type, dev->account_type);
	assert_int_equal(r.device.device_type, dev->device_type);
	assert_memory_equal(r.account_pub, k.acc_pub, 32);

	reply = wa__advsigned_device_identity__unpack(NULL, r.reply_len, r.reply);
	acct = wa__advsigned_device_identity__unpack(NULL, r.account_len, r.account);
	assert_non_null(reply);
	assert_non_null(acct);
	assert_false(reply->has_accountsignaturekey);
	assert_true(acct->has_accountsignaturekey);
	assert_memory_equal(acct->accountsignaturekey.data, k.acc_pub, 32);
	assert_true(reply->has_devicesignature && reply->devicesignature.len == 64);
	assert_true(acct->has_devicesignature && acct->devicesignature.len == 64);
	assert_memory_equal(reply->devicesignature.data, acct->devicesignature.data, 64);
	assert_int_equal(reply->details.len, s->details.len);
	assert_memory_equal(reply->details.data, s->details.data, s->details.len);
	assert_memory_equal(reply->accountsignature.data, s->accountsignature.data, 64);
	/* libsignal agrees with our device signature (always 06 01, also for hosted) */
	m = cat(p_dev, 2, s->details.data, s->details.len, k.id_pub, 32, k.acc_pub, 32, &mlen);
	assert_int_equal(signal_verify(k.id_pub, m, mlen, reply->devicesignature.data), 1);
	m[mlen - 1] ^= 1;
	assert_int_equal(signal_verify(k.id_pub, m, mlen, reply->devicesignature.data), 0);
	free(m);
	/* the reply is exactly the account without field 2 */
	{
		Wa__ADVSignedDeviceIdentity x = *acct;
		uint8_t buf[1024];

		x.has_accountsignaturekey = 0;
		assert_int_equal(wa__advsigned_device_identity__pack(&x, buf), r.reply_len);
		assert_memory_equal(buf, r.reply, r.reply_len);
	}

	/* phone */
	assert_int_equal(wa_adv_phone_check_reply(r.reply, r.reply_len, k.acc_pub, k.id_pub, dev->key_index, err,
	    sizeof(err)), 0);
	err[0] = '\0';
	assert_int_equal(wa_adv_phone_check_reply(r.reply, r.reply_len, k.acc_pub, k.id_pub, dev->key_index + 1,
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "key index"));
	assert_int_equal(wa_adv_phone_check_reply(r.account, r.account_len, k.acc_pub, k.id_pub, dev->key_index,
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "accountSignatureKey"));
	assert_int_equal(wa_adv_phone_check_reply(r.reply, r.reply_len, k.id_pub, k.id_pub, dev->key_index, err,
	    sizeof(err)), -1);
	assert_int_equal(wa_adv_phone_check_reply(r.reply, r.reply_len, k.acc_pub, k.acc_pub, dev->key_index, err,
	    sizeof(err)), -1);
	{
		uint8_t *bad = malloc(r.reply_len);
		size_t i;

		assert_non_null(bad);
		for (i = 0; i < r.reply_len * 8; i += 5) {
			memcpy(bad, r.reply, r.reply_len);
			bad[i / 8] ^= (uint8_t)(1u << (i % 8));
			assert_int_equal(wa_adv_phone_check_reply(bad, r.reply_len, k.acc_pub, k.id_pub,
			    dev->key_index, err, sizeof(err)), -1);
		}
		free(bad);
	}

	wa__advsigned_device_identity__free_unpacked(reply, NULL);
	wa__advsigned_device_identity__free_unpacked(acct, NULL);
	wa__advsigned_device_identity__free_unpacked(s, NULL);
	wa__advsigned_device_identity_hmac__free_unpacked(h, NULL);
	wa_adv_result_clear(&r);
	assert_null(r.account);
	assert_null(r.reply);
	wa_adv_result_clear(NULL);
	free(msg);
}

static void
test_roundtrip(void **state)
{
	(void)state;
	roundtrip(&dev_e2ee, 0);
}

/* Hosted account and device: HMAC and account signature both use 06 05. */
static void
test_hosted(void **state)
{
	struct keys k;
	struct wa_adv_result r;
	Wa__ADVSignedDeviceIdentityHMAC *h;
	uint8_t *msg, buf[2048];
	size_t len, n;
	char err[128];

	(void)state;
	roundtrip(&dev_hosted, 1);

	/* the same message with accountType dropped no longer matches its HMAC */
	keys_init(&k);
	assert_int_equal(wa_adv_phone_issue(k.acc_priv, k.acc_pub, k.adv, k.id_pub, &dev_hosted, &msg, &len), 0);
	h = wa__advsigned_device_identity_hmac__unpack(NULL, len, msg);
	assert_non_null(h);
	h->has_accounttype = 0;
	n = wa__advsigned_device_identity_hmac__pack(h, buf);
	assert_int_equal(wa_adv_companion_verify(buf, n, k.adv, k.id_priv, k.id_pub, &r, err, sizeof(err)),
	    WA_ADV_ERR_HMAC);
	/* and an E2EE message claiming to be hosted neither */
	free(msg);
	wa__advsigned_device_identity_hmac__free_unpacked(h, NULL);
	assert_int_equal(wa_adv_phone_issue(k.acc_priv, k.acc_pub, k.adv, k.id_pub, &dev_e2ee, &msg, &len), 0);
	h = wa__advsigned_device_identity_hmac__unpack(NULL, len, msg);
	assert_non_null(h);
	h->has_accounttype = 1;
	h->accounttype = WA__ADVENCRYPTION_TYPE__HOSTED;
	n = wa__advsigned_device_identity_hmac__pack(h, buf);
	assert_int_equal(wa_adv_companion_verify(buf, n, k.adv, k.id_priv, k.id_pub, &r, err, sizeof(err)),
	    WA_ADV_ERR_HMAC);
	wa__advsigned_device_identity_hmac__free_unpacked(h, NULL);
	free(msg);

	/* a hosted account (HMAC 06 05) with an E2EE device (signature 06 00) also verifies */
	{
		struct wa_adv_device mixed = dev_hosted;

		mixed.device_type = WA_ADV_E2EE;
		assert_int_equal(wa_adv_phone_issue(k.acc_priv, k.acc_pub, k.adv, k.id_pub, &mixed, &msg, &len), 0);
		assert_int_equal(wa_adv_companion_verify(msg, len, k.adv, k.id_priv, k.id_pub, &r, err,
		    sizeof(err)), WA_ADV_OK);
		assert_int_equal(r.device.account_type, WA_ADV_HOSTED);
		assert_int_equal(r.device.device_type, WA_ADV_E2EE);
		assert_int_equal(wa_adv_phone_check_reply(r.reply, r.reply_len, k.acc_pub, k.id_pub, 2, err,
		    sizeof(err)), 0);
		wa_adv_result_clear(&r);
		free(msg);
	}
}

/* Every single-bit flip is refused: HMAC inside the details and HMAC values, PARSE or HMAC elsewhere. */
static void
test_bitflips(void **state)
{
	struct keys k;
	struct wa_adv_result r;
	Wa__ADVSignedDeviceIdentityHMAC *h;
	uint8_t *msg, *bad;
	size_t len, i, det_off, det_len, mac_off;
	char err[128];
	int rc;

	(void)state;
	keys_init(&k);
	assert_int_equal(wa_adv_phone_issue(k.acc_priv, k.acc_pub, k.adv, k.id_pub, &dev_e2ee, &msg, &len), 0);
	h = wa__advsigned_device_identity_hmac__unpack(NULL, len, msg);
	assert_non_null(h);
	det_len = h->details.len;
	det_off = (size_t)((uint8_t *)memmem(msg, len, h->details.data, det_len) - msg);
	mac_off = (size_t)((uint8_t *)memmem(msg, len, h->hmac.data, 32) - msg);
	assert_true(det_off < len && mac_off < len && mac_off > det_off + det_len - 1);
	wa__advsigned_device_identity_hmac__free_unpacked(h, NULL);

	bad = malloc(len);
	assert_non_null(bad);
	for (i = 0; i < len * 8; i++) {
		size_t byte = i / 8;

		memcpy(bad, msg, len);
		bad[byte] ^= (uint8_t)(1u << (i % 8));
		err[0] = '\0';
		rc = wa_adv_companion_verify(bad, len, k.adv, k.id_priv, k.id_pub, &r, err, sizeof(err));
		if ((byte >= det_off && byte < det_off + det_len) || (byte >= mac_off && byte < mac_off + 32))
			assert_int_equal(rc, WA_ADV_ERR_HMAC);
		else
			assert_true(rc == WA_ADV_ERR_PARSE || rc == WA_ADV_ERR_HMAC);
		assert_true(err[0] != '\0');
		assert_null(r.account);
		assert_null(r.reply);
	}
	free(bad);

	/* wrong adv secret */
	k.adv[31] ^= 0x80;
	assert_int_equal(wa_adv_companion_verify(msg, len, k.adv, k.id_priv, k.id_pub, &r, err, sizeof(err)),
	    WA_ADV_ERR_HMAC);
	assert_non_null(strstr(err, "HMAC"));
	free(msg);
}

/* A valid HMAC over a bad account signature is a signature mismatch, as are wrong-length keys. */
static void
test_signature(void **state)
{
	struct keys k;
	struct wa_adv_result r;
	Wa__ADVSignedDeviceIdentityHMAC *h;
	Wa__ADVSignedDeviceIdentity *s;
	uint8_t *msg, *re, sbuf[1024], other_priv[32], other_pub[32];
	size_t len, relen, n;
	char err[128];

	(void)state;
	keys_init(&k);
	assert_int_equal(wa_noise_keypair_generate(other_priv, other_pub), 0);

	/* signed for another companion identity, HMAC'd with our secret */
	assert_int_equal(wa_adv_phone_issue(k.acc_priv, k.acc_pub, k.adv, other_pub, &dev_e2ee, &msg, &len), 0);
	assert_int_equal(wa_adv_companion_verify(msg, len, k.adv, k.id_priv, k.id_pub, &r, err, sizeof(err)),
	    WA_ADV_ERR_SIGNATURE);
	assert_non_null(strstr(err, "account signature"));
	assert_null(r.reply);
	free(msg);

	assert_int_equal(wa_adv_phone_issue(k.acc_priv, k.acc_pub, k.adv, k.id_pub, &dev_e2ee, &msg, &len), 0);
	h = wa__advsigned_device_identity_hmac__unpack(NULL, len, msg);
	assert_non_null(h);
	s = wa__advsigned_device_identity__unpack(NULL, h->details.len, h->details.data);
	assert_non_null(s);

	/* a flipped signature bit, re-HMAC'd */
	s->accountsignature.data[10] ^= 4;
	n = wa__advsigned_device_identity__pack(s, sbuf);
	re = wrap_hmac(k.adv, sbuf, n, 0, &relen);
	assert_int_equal(wa_adv_companion_verify(re, relen, k.adv, k.id_priv, k.id_pub, &r, err, sizeof(err)),
	    WA_ADV_ERR_SIGNATURE);
	free(re);
	s->accountsignature.data[10] ^= 4;
	/* another account key */
	{
		ProtobufCBinaryData keep = s->accountsignaturekey;

		s->accountsignaturekey.data = other_pub;
		n = wa__advsigned_device_identity__pack(s, sbuf);
		re = wrap_hmac(k.adv, sbuf, n, 0, &relen);
		assert_int_equal(wa_adv_companion_verify(re, relen, k.adv, k.id_priv, k.id_pub, &r, err,
		    sizeof(err)), WA_ADV_ERR_SIGNATURE);
		free(re);
		/* 31-byte key, absent key */
		s->accountsignaturekey = keep;
		s->accountsignaturekey.len = 31;
		n = wa__advsigned_device_identity__pack(s, sbuf);
		re = wrap_hmac(k.adv, sbuf, n, 0, &relen);
		assert_int_equal(wa_adv_companion_verify(re, relen, k.adv, k.id_priv, k.id_pub, &r, err,
		    sizeof(err)), WA_ADV_ERR_SIGNATURE);
		free(re);
		s->accountsignaturekey.len = 32;
		s->has_accountsignature = 0;
		n = wa__advsigned_device_identity__pack(s, sbuf);
		re = wrap_hmac(k.adv, sbuf, n, 0, &relen);
		assert_int_equal(wa_adv_companion_verify(re, relen, k.adv, k.id_priv, k.id_pub, &r, err,
		    sizeof(err)), WA_ADV_ERR_SIGNATURE);
		free(re);
		s->has_accountsignature = 1;
	}
	/* hosted HMAC prefix but an E2EE device signature prefix claimed as hosted device: signature fails */
	{
		Wa__ADVDeviceIdentity *d = wa__advdevice_identity__unpack(NULL, s->details.len, s->details.data);
		uint8_t dbuf[256];
		ProtobufCBinaryData keep = s->details;

		assert_non_null(d);
		d->devicetype = WA__ADVENCRYPTION_TYPE__HOSTED;
		s->details.data = dbuf;
		s->details.len = wa__advdevice_identity__pack(d, dbuf);
		n = wa__advsigned_device_identity__pack(s, sbuf);
		re = wrap_hmac(k.adv, sbuf, n, 1, &relen);
		assert_int_equal(wa_adv_companion_verify(re, relen, k.adv, k.id_priv, k.id_pub, &r, err,
		    sizeof(err)), WA_ADV_ERR_SIGNATURE);
		free(re);
		s->details = keep;
		wa__advdevice_identity__free_unpacked(d, NULL);
	}
	/* a deviceSignature already present is replaced by ours (and nothing leaks) */
	{
		uint8_t junk[64];

		memset(junk, 0x5a, sizeof(junk));
		s->has_devicesignature = 1;
		s->devicesignature.data = junk;
		s->devicesignature.len = 64;
		n = wa__advsigned_device_identity__pack(s, sbuf);
		s->has_devicesignature = 0;
		s->devicesignature.data = NULL;
		s->devicesignature.len = 0;
		re = wrap_hmac(k.adv, sbuf, n, 0, &relen);
		assert_int_equal(wa_adv_companion_verify(re, relen, k.adv, k.id_priv, k.id_pub, &r, err,
		    sizeof(err)), WA_ADV_OK);
		assert_int_equal(wa_adv_phone_check_reply(r.reply, r.reply_len, k.acc_pub, k.id_pub,
		    dev_e2ee.key_index, err, sizeof(err)), 0);
		wa_adv_result_clear(&r);
		free(re);
	}
	wa__advsigned_device_identity__free_unpacked(s, NULL);
	wa__advsigned_device_identity_hmac__free_unpacked(h, NULL);
	free(msg);
}

/* Truncated, oversize and garbage input; valid HMACs over contents that do not parse. */
static void
test_parse(void **state)
{
	struct keys k;
	struct wa_adv_result r;
	uint8_t *msg, *big, *re, garbage[300];
	size_t len, i, relen;
	char err[128];
	int rc;

	(void)state;
	keys_init(&k);
	assert_int_equal(wa_adv_phone_issue(k.acc_priv, k.acc_pub, k.adv, k.id_pub, &dev_e2ee, &msg, &len), 0);
	for (i = 0; i < len; i++) {
		err[0] = '\0';
		assert_int_equal(wa_adv_companion_verify(msg, i, k.adv, k.id_priv, k.id_pub, &r, err, sizeof(err)),
		    WA_ADV_ERR_PARSE);
		assert_true(err[0] != '\0');
		assert_int_equal(wa_adv_phone_check_reply(msg, i, k.acc_pub, k.id_pub, 7, err, sizeof(err)), -1);
	}
	assert_int_equal(wa_adv_companion_verify(NULL, 0, k.adv, k.id_priv, k.id_pub, &r, err, sizeof(err)),
	    WA_ADV_ERR_PARSE);
	assert_int_equal(wa_adv_phone_check_reply(NULL, 0, k.acc_pub, k.id_pub, 7, err, sizeof(err)), -1);

	/* oversize: refused before parsing, even when the prefix is a valid message */
	big = calloc(1, WA_ADV_MAX_MESSAGE + 1);
	assert_non_null(big);
	memcpy(big, msg, len);
	assert_int_equal(wa_adv_companion_verify(big, WA_ADV_MAX_MESSAGE + 1, k.adv, k.id_priv, k.id_pub, &r, err,
	    sizeof(err)), WA_ADV_ERR_PARSE);
	assert_int_equal(wa_adv_phone_check_reply(big, WA_ADV_MAX_MESSAGE + 1, k.acc_pub, k.id_pub, 7, err,
	    sizeof(err)), -1);
	free(big);

	/* garbage */
	memset(garbage, 0xff, sizeof(garbage));
	assert_int_equal(wa_adv_companion_verify(garbage, sizeof(garbage), k.adv, k.id_priv, k.id_pub, &r, err,
	    sizeof(err)), WA_ADV_ERR_PARSE);
	for (i = 0; i < 200; i++) {
		size_t j;

		for (j = 0; j < sizeof(garbage); j++)
			garbage[j] = (uint8_t)((i * 131 + j * 29 + (j * j) % 7) & 0xff);
		rc = wa_adv_companion_verify(garbage, 1 + i, k.adv, k.id_priv, k.id_pub, &r, err, sizeof(err));
		assert_true(rc == WA_ADV_ERR_PARSE || rc == WA_ADV_ERR_HMAC);
		assert_int_equal(wa_adv_phone_check_reply(garbage, 1 + i, k.acc_pub, k.id_pub, 7, err,
		    sizeof(err)), -1);
	}

	/* a correct HMAC over bytes that are no ADVSignedDeviceIdentity */
	memset(garbage, 0xff, 40);
	re = wrap_hmac(k.adv, garbage, 40, 0, &relen);
	assert_int_equal(wa_adv_companion_verify(re, relen, k.adv, k.id_priv, k.id_pub, &r, err, sizeof(err)),
	    WA_ADV_ERR_PARSE);
	free(re);
	/* ... over an ADVSignedDeviceIdentity whose details are no ADVDeviceIdentity */
	{
		static const uint8_t s_bad[] = { 0x0a, 0x03, 0xff, 0xff, 0xff };

		re = wrap_hmac(k.adv, s_bad, sizeof(s_bad), 0, &relen);
		assert_int_equal(wa_adv_companion_verify(re, relen, k.adv, k.id_priv, k.id_pub, &r, err,
		    sizeof(err)), WA_ADV_ERR_PARSE);
		free(re);
	}
	/* ... over an empty ADVSignedDeviceIdentity (no details) */
	re = wrap_hmac(k.adv, garbage, 0, 0, &relen);
	assert_int_equal(wa_adv_companion_verify(re, relen, k.adv, k.id_priv, k.id_pub, &r, err, sizeof(err)),
	    WA_ADV_ERR_PARSE);
	free(re);
	/* an HMAC of the wrong length is a mismatch */
	{
		Wa__ADVSignedDeviceIdentityHMAC *h = wa__advsigned_device_identity_hmac__unpack(NULL, len, msg);
		uint8_t buf[1024];
		size_t n;

		assert_non_null(h);
		h->hmac.len = 31;
		n = wa__advsigned_device_identity_hmac__pack(h, buf);
		assert_int_equal(wa_adv_companion_verify(buf, n, k.adv, k.id_priv, k.id_pub, &r, err, sizeof(err)),
		    WA_ADV_ERR_HMAC);
		h->hmac.len = 32;
		wa__advsigned_device_identity_hmac__free_unpacked(h, NULL);
	}
	free(msg);
}

/* The iq error codes and texts whatsmeow sends. */
static void
test_error_codes(void **state)
{
	(void)state;
	assert_int_equal(wa_adv_error_code(WA_ADV_ERR_HMAC), 401);
	assert_string_equal(wa_adv_error_text(WA_ADV_ERR_HMAC), "hmac-mismatch");
	assert_int_equal(wa_adv_error_code(WA_ADV_ERR_SIGNATURE), 401);
	assert_string_equal(wa_adv_error_text(WA_ADV_ERR_SIGNATURE), "signature-mismatch");
	assert_int_equal(wa_adv_error_code(WA_ADV_ERR_PARSE), 500);
	assert_string_equal(wa_adv_error_text(WA_ADV_ERR_PARSE), "internal-error");
	assert_int_equal(wa_adv_error_code(-99), 500);
	assert_string_equal(wa_adv_error_text(-99), "internal-error");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_hosted),
		cmocka_unit_test(test_bitflips),
		cmocka_unit_test(test_signature),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_error_codes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
