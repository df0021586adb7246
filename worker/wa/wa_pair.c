/* Registration and login ClientPayloads, DeviceProps, build hash and QR text. See wa_pair.h. */
#include "wa_pair.h"
#include "b64.h"
#include "xmalloc.h"

#include "client_payload.pb-c.h"
#include "companion_reg.pb-c.h"

#include <mbedtls/md5.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
wa_pair_build_hash(const char *version, uint8_t out[WA_PAIR_HASH_LEN])
{
	return mbedtls_md5_ret((const unsigned char *)version, strlen(version), out) == 0 ? 0 : -1;
}

/* Pack any protobuf-c message into a new buffer. */
static int
pair_pack(const ProtobufCMessage *m, uint8_t **out, size_t *outlen)
{
	size_t n = protobuf_c_message_get_packed_size(m);

	*out = xmalloc(n > 0 ? n : 1);
	*outlen = protobuf_c_message_pack(m, *out);
	if (*outlen != n) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

int
wa_pair_device_props(int full_sync, uint8_t **out, size_t *outlen)
{
	Wa__DeviceProps dp = WA__DEVICE_PROPS__INIT;
	Wa__DeviceProps__AppVersion v = WA__DEVICE_PROPS__APP_VERSION__INIT;

	v.has_primary = v.has_secondary = v.has_tertiary = 1;
	v.primary = 0;
	v.secondary = 1;
	v.tertiary = 0;
	dp.os = (char *)WA_PAIR_DEVICE_OS;
	dp.version = &v;
	dp.has_platformtype = 1;
	dp.platformtype = WA__DEVICE_PROPS__PLATFORM_TYPE__CHROME;
	dp.has_requirefullsync = 1;
	dp.requirefullsync = full_sync != 0;
	return pair_pack(&dp.base, out, outlen);
}

/* The fields both payloads share (section 1.1); ua, av and wi are filled and linked into p. */
static void
pair_common(Wa__ClientPayload *p, Wa__ClientPayload__UserAgent *ua, Wa__ClientPayload__UserAgent__AppVersion *av,
    Wa__ClientPayload__WebInfo *wi)
{
	av->has_primary = av->has_secondary = av->has_tertiary = 1;
	av->primary = WA_PAIR_VERSION_PRIMARY;
	av->secondary = WA_PAIR_VERSION_SECONDARY;
	av->tertiary = WA_PAIR_VERSION_TERTIARY;
	ua->has_platform = 1;
	ua->platform = WA__CLIENT_PAYLOAD__USER_AGENT__PLATFORM__WEB;
	ua->has_releasechannel = 1;
	ua->releasechannel = WA__CLIENT_PAYLOAD__USER_AGENT__RELEASE_CHANNEL__RELEASE;
	ua->appversion = av;
	ua->mcc = (char *)"000";
	ua->mnc = (char *)"000";
	ua->osversion = (char *)"0.1";
	ua->manufacturer = (char *)"";
	ua->device = (char *)"Desktop";
	ua->osbuildnumber = (char *)"0.1";
	ua->localelanguageiso6391 = (char *)"en";
	ua->localecountryiso31661alpha2 = (char *)"US";
	wi->has_websubplatform = 1;
	wi->websubplatform = WA__CLIENT_PAYLOAD__WEB_INFO__WEB_SUB_PLATFORM__WEB_BROWSER;
	p->useragent = ua;
	p->webinfo = wi;
	p->has_connecttype = 1;
	p->connecttype = WA__CLIENT_PAYLOAD__CONNECT_TYPE__WIFI_UNKNOWN;
	p->has_connectreason = 1;
	p->connectreason = WA__CLIENT_PAYLOAD__CONNECT_REASON__USER_ACTIVATED;
}

/* Big-endian, n bytes. */
static void
pair_be(uint8_t *out, uint32_t v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		out[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

int
wa_pair_registration_payload(const struct wa_pair_reg *r, uint8_t **out, size_t *outlen)
{
	Wa__ClientPayload p = WA__CLIENT_PAYLOAD__INIT;
	Wa__ClientPayload__UserAgent ua = WA__CLIENT_PAYLOAD__USER_AGENT__INIT;
	Wa__ClientPayload__UserAgent__AppVersion av = WA__CLIENT_PAYLOAD__USER_AGENT__APP_VERSION__INIT;
	Wa__ClientPayload__WebInfo wi = WA__CLIENT_PAYLOAD__WEB_INFO__INIT;
	Wa__ClientPayload__DevicePairingRegistrationData d =
	    WA__CLIENT_PAYLOAD__DEVICE_PAIRING_REGISTRATION_DATA__INIT;
	uint8_t regid[4], keytype = 0x05, skid[3], hash[WA_PAIR_HASH_LEN], *props = NULL;
	size_t props_len = 0;
	int rc;

	if (r->signed_prekey_id >= (1u << 24) || wa_pair_build_hash(WA_PAIR_VERSION_STRING, hash) == -1 ||
	    wa_pair_device_props(r->full_sync, &props, &props_len) == -1)
		return -1;
	pair_common(&p, &ua, &av, &wi);
	pair_be(regid, r->registration_id, 4);
	pair_be(skid, r->signed_prekey_id, 3);
	d.has_eregid = d.has_ekeytype = d.has_eident = d.has_eskeyid = 1;
	d.has_eskeyval = d.has_eskeysig = d.has_buildhash = d.has_deviceprops = 1;
	d.eregid.data = regid;
	d.eregid.len = sizeof(regid);
	d.ekeytype.data = &keytype;
	d.ekeytype.len = 1;
	d.eident.data = (uint8_t *)r->identity_pub;
	d.eident.len = WA_PAIR_KEY_LEN;
	d.eskeyid.data = skid;
	d.eskeyid.len = sizeof(skid);
	d.eskeyval.data = (uint8_t *)r->signed_prekey_pub;
	d.eskeyval.len = WA_PAIR_KEY_LEN;
	d.eskeysig.data = (uint8_t *)r->signed_prekey_sig;
	d.eskeysig.len = WA_PAIR_SIG_LEN;
	d.buildhash.data = hash;
	d.buildhash.len = sizeof(hash);
	d.deviceprops.data = props;
	d.deviceprops.len = props_len;
	p.has_passive = 1;
	p.passive = 0;
	p.has_pull = 1;
	p.pull = 0;
	p.devicepairingdata = &d;
	rc = pair_pack(&p.base, out, outlen);
	free(props);
	return rc;
}

int
wa_pair_login_payload(uint64_t user, uint32_t device, uint8_t **out, size_t *outlen)
{
	Wa__ClientPayload p = WA__CLIENT_PAYLOAD__INIT;
	Wa__ClientPayload__UserAgent ua = WA__CLIENT_PAYLOAD__USER_AGENT__INIT;
	Wa__ClientPayload__UserAgent__AppVersion av = WA__CLIENT_PAYLOAD__USER_AGENT__APP_VERSION__INIT;
	Wa__ClientPayload__WebInfo wi = WA__CLIENT_PAYLOAD__WEB_INFO__INIT;

	pair_common(&p, &ua, &av, &wi);
	p.has_username = 1;
	p.username = user;
	p.has_device = 1;
	p.device = device;
	p.has_passive = 1;
	p.passive = 1;
	p.has_pull = 1;
	p.pull = 1;
	p.has_liddbmigrated = 1;
	p.liddbmigrated = 1;
	p.has_lc = 1;
	p.lc = 1;
	return pair_pack(&p.base, out, outlen);
}

char *
wa_pair_qr_text(const uint8_t *ref, size_t reflen, const uint8_t noise_pub[WA_PAIR_KEY_LEN],
    const uint8_t identity_pub[WA_PAIR_KEY_LEN], const uint8_t adv_secret[WA_PAIR_KEY_LEN])
{
	char k1[64], k2[64], k3[64], *s;
	size_t i;

	if (reflen == 0 || reflen > WA_PAIR_REF_MAX)
		return NULL;
	for (i = 0; i < reflen; i++)
		if (ref[i] < 0x21 || ref[i] > 0x7e || ref[i] == ',')
			return NULL;
	b64_encode(noise_pub, WA_PAIR_KEY_LEN, k1);
	b64_encode(identity_pub, WA_PAIR_KEY_LEN, k2);
	b64_encode(adv_secret, WA_PAIR_KEY_LEN, k3);
	if (xasprintf(&s, "%s%.*s,%s,%s,%s,%c", WA_PAIR_QR_PREFIX, (int)reflen, (const char *)ref, k1, k2, k3,
	    WA_PAIR_CLIENT_TYPE) == -1)
		return NULL;
	return s;
}
