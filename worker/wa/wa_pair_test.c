/* wa_pair: the registration and login ClientPayloads decode back with every field of wa-session.md 1.1-1.4,
 * the QR text is exact for known keys, and buildHash is MD5 of the version string. */
#include "wa_pair.h"

#include "client_payload.pb-c.h"
#include "companion_reg.pb-c.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* printf %s 2.3000.1045649367 | md5sum */
static const uint8_t md5_version[16] = {
	0x9f, 0xa5, 0x3a, 0xf9, 0x42, 0x15, 0x67, 0xb1, 0x14, 0xe3, 0x3c, 0x9b, 0xb1, 0xef, 0x7d, 0xb2,
};

static void
check_common(const Wa__ClientPayload *p)
{
	const Wa__ClientPayload__UserAgent *ua = p->useragent;

	assert_non_null(ua);
	assert_true(ua->has_platform);
	assert_int_equal(ua->platform, WA__CLIENT_PAYLOAD__USER_AGENT__PLATFORM__WEB);
	assert_true(ua->has_releasechannel);
	assert_int_equal(ua->releasechannel, WA__CLIENT_PAYLOAD__USER_AGENT__RELEASE_CHANNEL__RELEASE);
	assert_non_null(ua->appversion);
	assert_int_equal(ua->appversion->primary, 2);
	assert_int_equal(ua->appversion->secondary, 3000);
	assert_int_equal(ua->appversion->tertiary, 1045649367u);
	assert_string_equal(ua->mcc, "000");
	assert_string_equal(ua->mnc, "000");
	assert_string_equal(ua->osversion, "0.1");
	assert_string_equal(ua->device, "Desktop");
	assert_string_equal(ua->osbuildnumber, "0.1");
	assert_string_equal(ua->localelanguageiso6391, "en");
	assert_string_equal(ua->localecountryiso31661alpha2, "US");
	assert_non_null(p->webinfo);
	assert_true(p->webinfo->has_websubplatform);
	assert_int_equal(p->webinfo->websubplatform, WA__CLIENT_PAYLOAD__WEB_INFO__WEB_SUB_PLATFORM__WEB_BROWSER);
	assert_true(p->has_connecttype);
	assert_int_equal(p->connecttype, WA__CLIENT_PAYLOAD__CONNECT_TYPE__WIFI_UNKNOWN);
	assert_true(p->has_connectreason);
	assert_int_equal(p->connectreason, WA__CLIENT_PAYLOAD__CONNECT_REASON__USER_ACTIVATED);
	assert_null(p->pushname);
}

static void
test_build_hash(void **state)
{
	uint8_t h[16];

	(void)state;
	assert_int_equal(wa_pair_build_hash(WA_PAIR_VERSION_STRING, h), 0);
	assert_memory_equal(h, md5_version, 16);
}

static void
test_registration(void **state)
{
	struct wa_pair_reg r;
	uint8_t *buf, *props;
	size_t len, plen;
	Wa__ClientPayload *p;
	Wa__ClientPayload__DevicePairingRegistrationData *d;
	Wa__DeviceProps *dp;
	static const uint8_t regid[4] = { 0x00, 0x00, 0x30, 0x39 }, skid[3] = { 0, 0, 1 };

	(void)state;
	memset(&r, 0, sizeof(r));
	r.registration_id = 12345;
	memset(r.identity_pub, 0x11, 32);
	r.signed_prekey_id = 1;
	memset(r.signed_prekey_pub, 0x22, 32);
	memset(r.signed_prekey_sig, 0x33, 64);
	assert_int_equal(wa_pair_registration_payload(&r, &buf, &len), 0);
	p = wa__client_payload__unpack(NULL, len, buf);
	assert_non_null(p);
	check_common(p);
	assert_false(p->has_username);
	assert_false(p->has_device);
	assert_true(p->has_passive);
	assert_false(p->passive);
	assert_true(p->has_pull);
	assert_false(p->pull);
	d = p->devicepairingdata;
	assert_non_null(d);
	assert_int_equal(d->eregid.len, 4);
	assert_memory_equal(d->eregid.data, regid, 4);
	assert_int_equal(d->ekeytype.len, 1);
	assert_int_equal(d->ekeytype.data[0], 0x05);
	assert_int_equal(d->eident.len, 32);
	assert_memory_equal(d->eident.data, r.identity_pub, 32);
	assert_int_equal(d->eskeyid.len, 3);
	assert_memory_equal(d->eskeyid.data, skid, 3);
	assert_int_equal(d->eskeyval.len, 32);
	assert_memory_equal(d->eskeyval.data, r.signed_prekey_pub, 32);
	assert_int_equal(d->eskeysig.len, 64);
	assert_memory_equal(d->eskeysig.data, r.signed_prekey_sig, 64);
	assert_int_equal(d->buildhash.len, 16);
	assert_memory_equal(d->buildhash.data, md5_version, 16);
	assert_true(d->has_deviceprops);
	dp = wa__device_props__unpack(NULL, d->deviceprops.len, d->deviceprops.data);
	assert_non_null(dp);
	assert_string_equal(dp->os, "wagate");
	assert_non_null(dp->version);
	assert_true(dp->version->has_primary && dp->version->has_secondary && dp->version->has_tertiary);
	assert_int_equal(dp->version->primary, 0);
	assert_int_equal(dp->version->secondary, 1);
	assert_int_equal(dp->version->tertiary, 0);
	assert_true(dp->has_platformtype);
	assert_int_equal(dp->platformtype, WA__DEVICE_PROPS__PLATFORM_TYPE__CHROME);
	assert_true(dp->has_requirefullsync);
	assert_false(dp->requirefullsync);
	/* the same bytes as wa_pair_device_props */
	assert_int_equal(wa_pair_device_props(0, &props, &plen), 0);
	assert_int_equal(plen, d->deviceprops.len);
	assert_memory_equal(props, d->deviceprops.data, plen);
	free(props);
	wa__device_props__free_unpacked(dp, NULL);
	wa__client_payload__free_unpacked(p, NULL);
	free(buf);

	r.signed_prekey_id = 1u << 24;
	assert_int_equal(wa_pair_registration_payload(&r, &buf, &len), -1);
}

static void
test_login(void **state)
{
	uint8_t *buf;
	size_t len;
	Wa__ClientPayload *p;

	(void)state;
	assert_int_equal(wa_pair_login_payload(15550000001ull, 7, &buf, &len), 0);
	p = wa__client_payload__unpack(NULL, len, buf);
	assert_non_null(p);
	check_common(p);
	assert_true(p->has_username);
	assert_true(p->username == 15550000001ull);
	assert_true(p->has_device);
	assert_int_equal(p->device, 7);
	assert_true(p->has_passive);
	assert_true(p->passive);
	assert_true(p->has_pull);
	assert_true(p->pull);
	assert_true(p->has_liddbmigrated);
	assert_true(p->liddbmigrated);
	assert_true(p->has_lc);
	assert_int_equal(p->lc, 1);
	assert_null(p->devicepairingdata);
	wa__client_payload__free_unpacked(p, NULL);
	free(buf);
}

static void
test_qr(void **state)
{
	uint8_t noise[32], ident[32], adv[32];
	const char *ref = "2@AbCdEf+/xyz==";
	char *qr;
	size_t i;

	(void)state;
	memset(noise, 1, 32);
	for (i = 0; i < 32; i++)
		ident[i] = (uint8_t)i;
	memset(adv, 0xff, 32);
	qr = wa_pair_qr_text((const uint8_t *)ref, strlen(ref), noise, ident, adv);
	assert_non_null(qr);
	assert_string_equal(qr, "https://wa.me/settings/linked_devices#2@AbCdEf+/xyz==,"
	    "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=,"
	    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=,"
	    "//////////////////////////////////////////8=,1");
	free(qr);
	/* refs that would break the format are refused */
	assert_null(wa_pair_qr_text((const uint8_t *)"a,b", 3, noise, ident, adv));
	assert_null(wa_pair_qr_text((const uint8_t *)"a\nb", 3, noise, ident, adv));
	assert_null(wa_pair_qr_text((const uint8_t *)"", 0, noise, ident, adv));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_hash),
		cmocka_unit_test(test_registration),
		cmocka_unit_test(test_login),
		cmocka_unit_test(test_qr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
