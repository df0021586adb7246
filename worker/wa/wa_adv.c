/* ADV device identities (reference/wa-session.md 2.6-2.8, 2.10): the companion's check and countersignature
 * of pair-success, and the phone's side for the test server. Constants checked against whatsmeow pair.go and
 * Baileys validate-connection.ts. */
#include "wa_adv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/md.h>

#include "adv.pb-c.h"
#include "errbuf.h"
#include "wa_xeddsa.h"
#include "xmalloc.h"

#define ADV_HMAC_LEN	32
#define ADV_PREFIX_LEN	2

/* Signature and HMAC prefixes (whatsmeow AdvAccountSignaturePrefix and friends). The hosted device prefix
 * 06 06 exists upstream but neither library uses it, so neither do we. */
static const uint8_t adv_account_prefix[ADV_PREFIX_LEN] = { 6, 0 };
static const uint8_t adv_device_prefix[ADV_PREFIX_LEN] = { 6, 1 };
static const uint8_t adv_hosted_prefix[ADV_PREFIX_LEN] = { 6, 5 };

/* HMAC-SHA256(key, prefix || data); prefix may be NULL. 0 or -1. */
static int
adv_hmac(const uint8_t key[WA_ADV_KEY_LEN], const uint8_t *prefix, const uint8_t *data, size_t len,
    uint8_t out[ADV_HMAC_LEN])
{
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	mbedtls_md_context_t ctx;
	int rc = -1;

	mbedtls_md_init(&ctx);
	if (md == NULL || mbedtls_md_setup(&ctx, md, 1) != 0 ||
	    mbedtls_md_hmac_starts(&ctx, key, WA_ADV_KEY_LEN) != 0)
		goto out;
	if (prefix != NULL && mbedtls_md_hmac_update(&ctx, prefix, ADV_PREFIX_LEN) != 0)
		goto out;
	/* mbedTLS accepts a zero-length update, but not a NULL pointer with it on every build */
	if (len > 0 && mbedtls_md_hmac_update(&ctx, data, len) != 0)
		goto out;
	if (mbedtls_md_hmac_finish(&ctx, out) != 0)
		goto out;
	rc = 0;
out:
	mbedtls_md_free(&ctx);
	return rc;
}

/* prefix(2) || a || b [|| c]: the signed messages of ADV. c may be NULL. *out is malloc'd. */
static uint8_t *
adv_concat(const uint8_t prefix[ADV_PREFIX_LEN], const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
    const uint8_t *c, size_t clen, size_t *outlen)
{
	uint8_t *m;

	*outlen = ADV_PREFIX_LEN + alen + blen + (c != NULL ? clen : 0);
	m = xmalloc(*outlen);
	memcpy(m, prefix, ADV_PREFIX_LEN);
	if (alen > 0)
		memcpy(m + ADV_PREFIX_LEN, a, alen);
	memcpy(m + ADV_PREFIX_LEN + alen, b, blen);
	if (c != NULL)
		memcpy(m + ADV_PREFIX_LEN + alen + blen, c, clen);
	return m;
}

/* Pack a protobuf-c message into a new buffer. */
static void
adv_pack(const ProtobufCMessage *m, uint8_t **out, size_t *outlen)
{
	size_t n = protobuf_c_message_get_packed_size(m);

	*out = xmalloc(n > 0 ? n : 1);
	*outlen = protobuf_c_message_pack(m, *out);
}

/* The account signature message prefix: 06 05 for a hosted device, else 06 00 (both libraries key this on
 * ADVDeviceIdentity.deviceType, not on the account type). */
static const uint8_t *
adv_account_sig_prefix(const Wa__ADVDeviceIdentity *d)
{
	if (d->has_devicetype && d->devicetype == WA__ADVENCRYPTION_TYPE__HOSTED)
		return adv_hosted_prefix;
	return adv_account_prefix;
}

/* Copy an ADVDeviceIdentity into our struct (absent fields read as 0, as in Go). */
static void
adv_device_from(const Wa__ADVDeviceIdentity *d, struct wa_adv_device *dev)
{
	dev->raw_id = d->has_rawid ? d->rawid : 0;
	dev->timestamp = d->has_timestamp ? d->timestamp : 0;
	dev->key_index = d->has_keyindex ? d->keyindex : 0;
	dev->account_type = d->has_accounttype && d->accounttype == WA__ADVENCRYPTION_TYPE__HOSTED ?
	    WA_ADV_HOSTED : WA_ADV_E2EE;
	dev->device_type = d->has_devicetype && d->devicetype == WA__ADVENCRYPTION_TYPE__HOSTED ?
	    WA_ADV_HOSTED : WA_ADV_E2EE;
}

/* Companion side of pair-success, in whatsmeow's order: HMAC, parse, account signature, device signature. */
int
wa_adv_companion_verify(const uint8_t *msg, size_t len, const uint8_t adv_secret[WA_ADV_KEY_LEN],
    const uint8_t identity_priv[WA_ADV_KEY_LEN], const uint8_t identity_pub[WA_ADV_KEY_LEN],
    struct wa_adv_result *out, char *err, size_t errlen)
{
	Wa__ADVSignedDeviceIdentityHMAC *h = NULL;
	Wa__ADVSignedDeviceIdentity *s = NULL;
	Wa__ADVDeviceIdentity *d = NULL;
	uint8_t mac[ADV_HMAC_LEN], sig[WA_ADV_SIG_LEN], *m = NULL;
	ProtobufCBinaryData old_devsig;
	size_t mlen;
	int hosted, had_devsig, rc;

	memset(out, 0, sizeof(*out));
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (msg == NULL || len == 0 || len > WA_ADV_MAX_MESSAGE) {
		errbuf_fail(err, errlen, "device-identity: bad length %zu", len);
		return WA_ADV_ERR_PARSE;
	}
	h = wa__advsigned_device_identity_hmac__unpack(NULL, len, msg);
	if (h == NULL) {
		errbuf_fail(err, errlen, "device-identity: not an ADVSignedDeviceIdentityHMAC");
		return WA_ADV_ERR_PARSE;
	}
	if (!h->has_details || !h->has_hmac) {
		errbuf_fail(err, errlen, "device-identity: %s missing", !h->has_details ? "details" : "HMAC");
		rc = WA_ADV_ERR_PARSE;
		goto out;
	}

	/* 1. HMAC over [06 05 for hosted accounts] || details, compared in constant time */
	hosted = h->has_accounttype && h->accounttype == WA__ADVENCRYPTION_TYPE__HOSTED;
	if (adv_hmac(adv_secret, hosted ? adv_hosted_prefix : NULL, h->details.data, h->details.len, mac) != 0) {
		errbuf_fail(err, errlen, "device-identity: HMAC computation failed");
		rc = WA_ADV_ERR_PARSE;
		goto out;
	}
	if (h->hmac.len != ADV_HMAC_LEN || ct_memcmp(mac, h->hmac.data, ADV_HMAC_LEN) != 0) {
		errbuf_fail(err, errlen, "device-identity: HMAC mismatch");
		rc = WA_ADV_ERR_HMAC;
		goto out;
	}

	/* 2. the signed identity and its details */
	s = wa__advsigned_device_identity__unpack(NULL, h->details.len, h->details.data);
	if (s == NULL || !s->has_details) {
		errbuf_fail(err, errlen, "device-identity: details are not an ADVSignedDeviceIdentity");
		rc = WA_ADV_ERR_PARSE;
		goto out;
	}
	d = wa__advdevice_identity__unpack(NULL, s->details.len, s->details.data);
	if (d == NULL) {
		errbuf_fail(err, errlen, "device-identity: details are not an ADVDeviceIdentity");
		rc = WA_ADV_ERR_PARSE;
		goto out;
	}

	/* 3. the phone's signature over prefix || details || our identity key */
	if (!s->has_accountsignaturekey || s->accountsignaturekey.len != WA_ADV_KEY_LEN ||
	    !s->has_accountsignature || s->accountsignature.len != WA_ADV_SIG_LEN) {
		errbuf_fail(err, errlen, "device-identity: account key or signature has the wrong length");
		rc = WA_ADV_ERR_SIGNATURE;
		goto out;
	}
	m = adv_concat(adv_account_sig_prefix(d), s->details.data, s->details.len, identity_pub, WA_ADV_KEY_LEN,
	    NULL, 0, &mlen);
	if (wa_xeddsa_verify(s->accountsignaturekey.data, m, mlen, s->accountsignature.data) != 0) {
		errbuf_fail(err, errlen, "device-identity: account signature invalid");
		rc = WA_ADV_ERR_SIGNATURE;
		goto out;
	}
	free(m);

	/* 4. our countersignature: 06 01 || details || our identity key || account key */
	m = adv_concat(adv_device_prefix, s->details.data, s->details.len, identity_pub, WA_ADV_KEY_LEN,
	    s->accountsignaturekey.data, WA_ADV_KEY_LEN, &mlen);
	if (wa_xeddsa_sign(identity_priv, m, mlen, sig) != 0) {
		errbuf_fail(err, errlen, "device-identity: device signature failed");
		rc = WA_ADV_ERR_PARSE;
		goto out;
	}

	memcpy(out->account_pub, s->accountsignaturekey.data, WA_ADV_KEY_LEN);
	adv_device_from(d, &out->device);
	out->key_index = out->device.key_index;
	/* a deviceSignature the phone may have sent is replaced, and put back afterwards so that
	 * free_unpacked releases what unpack allocated and never our stack buffer */
	had_devsig = s->has_devicesignature;
	old_devsig = s->devicesignature;
	s->has_devicesignature = 1;
	s->devicesignature.data = sig;
	s->devicesignature.len = WA_ADV_SIG_LEN;
	adv_pack(&s->base, &out->account, &out->account_len);
	/* the reply leaves the account key out (the server knows it); the stored account keeps it */
	s->has_accountsignaturekey = 0;
	adv_pack(&s->base, &out->reply, &out->reply_len);
	s->has_accountsignaturekey = 1;
	s->has_devicesignature = had_devsig;
	s->devicesignature = old_devsig;
	rc = WA_ADV_OK;
out:
	free(m);
	if (d != NULL)
		wa__advdevice_identity__free_unpacked(d, NULL);
	if (s != NULL)
		wa__advsigned_device_identity__free_unpacked(s, NULL);
	wa__advsigned_device_identity_hmac__free_unpacked(h, NULL);
	explicit_wipe(mac, sizeof(mac));
	return rc;
}

void
wa_adv_result_clear(struct wa_adv_result *r)
{
	if (r == NULL)
		return;
	free_wiped(r->account, r->account_len);
	free_wiped(r->reply, r->reply_len);
	explicit_wipe(r, sizeof(*r));
}

int
wa_adv_error_code(int e)
{
	switch (e) {
	case WA_ADV_ERR_HMAC:
	case WA_ADV_ERR_SIGNATURE:
		return 401;
	default:
		return 500;
	}
}

const char *
wa_adv_error_text(int e)
{
	switch (e) {
	case WA_ADV_ERR_HMAC:
		return "hmac-mismatch";
	case WA_ADV_ERR_SIGNATURE:
		return "signature-mismatch";
	default:
		return "internal-error";
	}
}

/* Phone side: the ADVSignedDeviceIdentityHMAC a companion gets in pair-success. */
int
wa_adv_phone_issue(const uint8_t account_priv[WA_ADV_KEY_LEN], const uint8_t account_pub[WA_ADV_KEY_LEN],
    const uint8_t adv_secret[WA_ADV_KEY_LEN], const uint8_t companion_identity_pub[WA_ADV_KEY_LEN],
    const struct wa_adv_device *dev, uint8_t **out, size_t *outlen)
{
	Wa__ADVDeviceIdentity d = WA__ADVDEVICE_IDENTITY__INIT;
	Wa__ADVSignedDeviceIdentity s = WA__ADVSIGNED_DEVICE_IDENTITY__INIT;
	Wa__ADVSignedDeviceIdentityHMAC h = WA__ADVSIGNED_DEVICE_IDENTITY_HMAC__INIT;
	uint8_t *det = NULL, *sd = NULL, *m, sig[WA_ADV_SIG_LEN], mac[ADV_HMAC_LEN];
	size_t detlen, sdlen, mlen;
	int hosted_account = dev->account_type == WA_ADV_HOSTED, rc = -1;

	*out = NULL;
	*outlen = 0;
	/* every field explicit, as wa-session.md 2.10 builds it */
	d.has_rawid = 1;
	d.rawid = dev->raw_id;
	d.has_timestamp = 1;
	d.timestamp = dev->timestamp;
	d.has_keyindex = 1;
	d.keyindex = dev->key_index;
	d.has_accounttype = 1;
	d.accounttype = hosted_account ? WA__ADVENCRYPTION_TYPE__HOSTED : WA__ADVENCRYPTION_TYPE__E2EE;
	d.has_devicetype = 1;
	d.devicetype = dev->device_type == WA_ADV_HOSTED ? WA__ADVENCRYPTION_TYPE__HOSTED :
	    WA__ADVENCRYPTION_TYPE__E2EE;
	adv_pack(&d.base, &det, &detlen);

	m = adv_concat(adv_account_sig_prefix(&d), det, detlen, companion_identity_pub, WA_ADV_KEY_LEN, NULL, 0,
	    &mlen);
	if (wa_xeddsa_sign(account_priv, m, mlen, sig) != 0) {
		free(m);
		goto out;
	}
	free(m);
	s.has_details = 1;
	s.details.data = det;
	s.details.len = detlen;
	s.has_accountsignaturekey = 1;
	s.accountsignaturekey.data = (uint8_t *)account_pub;
	s.accountsignaturekey.len = WA_ADV_KEY_LEN;
	s.has_accountsignature = 1;
	s.accountsignature.data = sig;
	s.accountsignature.len = WA_ADV_SIG_LEN;
	adv_pack(&s.base, &sd, &sdlen);

	if (adv_hmac(adv_secret, hosted_account ? adv_hosted_prefix : NULL, sd, sdlen, mac) != 0)
		goto out;
	h.has_details = 1;
	h.details.data = sd;
	h.details.len = sdlen;
	h.has_hmac = 1;
	h.hmac.data = mac;
	h.hmac.len = ADV_HMAC_LEN;
	/* absent means E2EE to both libraries; only a hosted account says so */
	if (hosted_account) {
		h.has_accounttype = 1;
		h.accounttype = WA__ADVENCRYPTION_TYPE__HOSTED;
	}
	adv_pack(&h.base, out, outlen);
	rc = 0;
out:
	free(det);
	free(sd);
	explicit_wipe(mac, sizeof(mac));
	return rc;
}

/* Phone side: check the companion's pair-device-sign identity. */
int
wa_adv_phone_check_reply(const uint8_t *msg, size_t len, const uint8_t account_pub[WA_ADV_KEY_LEN],
    const uint8_t companion_identity_pub[WA_ADV_KEY_LEN], uint32_t expect_key_index, char *err, size_t errlen)
{
	Wa__ADVSignedDeviceIdentity *s = NULL;
	Wa__ADVDeviceIdentity *d = NULL;
	uint8_t *m = NULL;
	size_t mlen;
	int rc = -1;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (msg == NULL || len == 0 || len > WA_ADV_MAX_MESSAGE) {
		errbuf_fail(err, errlen, "pair-device-sign: bad length %zu", len);
		return -1;
	}
	s = wa__advsigned_device_identity__unpack(NULL, len, msg);
	if (s == NULL || !s->has_details) {
		errbuf_fail(err, errlen, "pair-device-sign: not an ADVSignedDeviceIdentity");
		goto out;
	}
	/* the companion must strip the account key (wa-session.md 2.8); a fake phone that accepted it would
	 * hide that bug */
	if (s->has_accountsignaturekey) {
		errbuf_fail(err, errlen, "pair-device-sign: accountSignatureKey present");
		goto out;
	}
	if (!s->has_accountsignature || s->accountsignature.len != WA_ADV_SIG_LEN ||
	    !s->has_devicesignature || s->devicesignature.len != WA_ADV_SIG_LEN) {
		errbuf_fail(err, errlen, "pair-device-sign: signature missing or wrong length");
		goto out;
	}
	d = wa__advdevice_identity__unpack(NULL, s->details.len, s->details.data);
	if (d == NULL) {
		errbuf_fail(err, errlen, "pair-device-sign: details are not an ADVDeviceIdentity");
		goto out;
	}
	if ((d->has_keyindex ? d->keyindex : 0) != expect_key_index) {
		errbuf_fail(err, errlen, "pair-device-sign: key index %u, expected %u",
		    (unsigned)(d->has_keyindex ? d->keyindex : 0), (unsigned)expect_key_index);
		goto out;
	}
	m = adv_concat(adv_account_sig_prefix(d), s->details.data, s->details.len, companion_identity_pub,
	    WA_ADV_KEY_LEN, NULL, 0, &mlen);
	if (wa_xeddsa_verify(account_pub, m, mlen, s->accountsignature.data) != 0) {
		errbuf_fail(err, errlen, "pair-device-sign: account signature is not ours");
		goto out;
	}
	free(m);
	m = adv_concat(adv_device_prefix, s->details.data, s->details.len, companion_identity_pub, WA_ADV_KEY_LEN,
	    account_pub, WA_ADV_KEY_LEN, &mlen);
	if (wa_xeddsa_verify(companion_identity_pub, m, mlen, s->devicesignature.data) != 0) {
		errbuf_fail(err, errlen, "pair-device-sign: device signature invalid");
		goto out;
	}
	rc = 0;
out:
	free(m);
	if (d != NULL)
		wa__advdevice_identity__free_unpacked(d, NULL);
	if (s != NULL)
		wa__advsigned_device_identity__free_unpacked(s, NULL);
	return rc;
}
