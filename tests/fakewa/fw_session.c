/* Registration or login after the handshake (see fw_session.h). */
#include "fw_session.h"

#include "fakewa_client.h"
#include "fw_account.h"
#include "fw_devices.h"
#include "fw_msg.h"
#include "fw_pair.h"

#include "log.h"
#include "random.h"
#include "wa_node.h"
#include "wa_xeddsa.h"

#include "client_payload.pb-c.h"
#include "companion_reg.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Send <failure reason=.../> and close. */
static void
fw_session_fail(struct fw_client *c, const char *reason, const char *why)
{
	struct wa_node *n = wa_node_new("failure");

	log_info("client %u (%s): failure %s: %s", c->id, c->peer, reason, why);
	wa_node_set_attr(n, "reason", reason);
	fw_client_send(c, n);
	wa_node_free(n);
	fw_client_close(c);
}

/* Offer 6 fresh refs, as WhatsApp does for an unregistered device. */
static void
fw_session_pair_device(struct fw_client *c)
{
	struct wa_node *iq = wa_node_new("iq"), *pd = wa_node_new("pair-device");
	uint8_t rnd[12];

	wa_node_set_attr(iq, "id", fw_client_stanza_id(c));
	wa_node_set_attr(iq, "from", "s.whatsapp.net");
	wa_node_set_attr(iq, "type", "set");
	wa_node_set_attr(iq, "xmlns", "md");
	for (int i = 0; i < FW_REFS; i++) {
		struct wa_node *r = wa_node_new("ref");
		int o;

		random_bytes(rnd, sizeof(rnd));
		o = snprintf(c->refs[i], FW_REF_MAX, "2@fakewa");
		for (size_t j = 0; j < sizeof(rnd); j++)
			o += snprintf(c->refs[i] + o, FW_REF_MAX - (size_t)o, "%02X", rnd[j]);
		wa_node_set_bytes(r, c->refs[i], strlen(c->refs[i]));
		wa_node_add_child(pd, r);
	}
	c->refs_offered += FW_REFS;
	wa_node_add_child(iq, pd);
	fw_client_send(c, iq);
	wa_node_free(iq);
}

/* Big-endian integer of n bytes. */
static uint32_t
fw_be(const uint8_t *p, size_t n)
{
	uint32_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Check and keep devicePairingData (wa-session.md 1.2). 0, or -1 with a reason in err. */
static int
fw_session_registration(struct fw_client *c, const Wa__ClientPayload__DevicePairingRegistrationData *d,
    char *err, size_t errlen)
{
	uint8_t signed_msg[33];
	Wa__DeviceProps *props;

	if (!d->has_eregid || d->eregid.len != 4) {
		snprintf(err, errlen, "eRegid must be 4 bytes");
		return -1;
	}
	if (!d->has_ekeytype || d->ekeytype.len != 1 || d->ekeytype.data[0] != 0x05) {
		snprintf(err, errlen, "eKeytype must be the byte 0x05");
		return -1;
	}
	if (!d->has_eident || d->eident.len != 32) {
		snprintf(err, errlen, "eIdent must be 32 bytes");
		return -1;
	}
	if (!d->has_eskeyid || d->eskeyid.len != 3) {
		snprintf(err, errlen, "eSkeyID must be 3 bytes");
		return -1;
	}
	if (!d->has_eskeyval || d->eskeyval.len != 32) {
		snprintf(err, errlen, "eSkeyVal must be 32 bytes");
		return -1;
	}
	if (!d->has_eskeysig || d->eskeysig.len != 64) {
		snprintf(err, errlen, "eSkeySig must be 64 bytes");
		return -1;
	}
	signed_msg[0] = 0x05;
	memcpy(signed_msg + 1, d->eskeyval.data, 32);
	if (wa_xeddsa_verify(d->eident.data, signed_msg, sizeof(signed_msg), d->eskeysig.data) == -1) {
		snprintf(err, errlen, "signed prekey signature does not verify with eIdent");
		return -1;
	}
	memset(&c->reg, 0, sizeof(c->reg));
	c->reg.regid = fw_be(d->eregid.data, 4);
	memcpy(c->reg.identity_pub, d->eident.data, 32);
	c->reg.skey_id = fw_be(d->eskeyid.data, 3);
	memcpy(c->reg.skey_pub, d->eskeyval.data, 32);
	memcpy(c->reg.skey_sig, d->eskeysig.data, 64);
	c->reg.platform = -1;
	if (d->has_deviceprops && (props = wa__device_props__unpack(NULL, d->deviceprops.len,
	    d->deviceprops.data)) != NULL) {
		if (props->os != NULL)
			snprintf(c->reg.os, sizeof(c->reg.os), "%s", props->os);
		if (props->has_platformtype)
			c->reg.platform = (int)props->platformtype;
		c->reg.full_sync = props->has_requirefullsync && props->requirefullsync;
		wa__device_props__free_unpacked(props, NULL);
	}
	return 0;
}

/* A login: the device must exist and the handshake's Noise key must be the registered one. */
static void
fw_session_login(struct fw_client *c, uint64_t username, uint32_t device)
{
	struct wa_node *n;
	struct fw_device *d;
	char user[FW_PHONE_MAX], lid[64];

	snprintf(user, sizeof(user), "%llu", (unsigned long long)username);
	c->payload = FW_PAYLOAD_LOGIN;
	snprintf(c->jid, sizeof(c->jid), "%s:%u@s.whatsapp.net", user, device);
	/* by phone number only: fw_device_find also knows LID users */
	if ((d = fw_device_find(&c->s->accounts, user, device)) == NULL || strcmp(d->acct->phone, user) != 0) {
		fw_session_fail(c, "401", "no such device");
		return;
	}
	if (memcmp(d->noise_pub, c->client_static, 32) != 0) {
		fw_session_fail(c, "401", "Noise static key differs from the registered one");
		return;
	}
	/* One connection per device: an older one is replaced, as WhatsApp does. */
	if (d->client != NULL && d->client != c) {
		struct fw_client *old = d->client;
		old->dev = NULL;
		d->client = NULL;
		fw_client_stream_error(old, NULL, "replaced");
	}
	d->client = c;
	d->logins++;
	d->active = 0;
	c->dev = d;
	c->registered = 1;
	n = wa_node_new("success");
	wa_node_set_attrf(n, "t", "%lld", (long long)time(NULL));
	fw_device_lid(d, lid, sizeof(lid));
	wa_node_set_attr(n, "lid", lid);
	wa_node_set_attr(n, "display_name", d->acct->push_name);
	fw_client_send(c, n);
	wa_node_free(n);
	log_info("client %u (%s): logged in as %s", c->id, c->peer, c->jid);
	fw_msg_login(c);
}

void
fw_session_start(struct fw_client *c, const uint8_t *payload, size_t len)
{
	Wa__ClientPayload *p;
	char err[160];

	p = wa__client_payload__unpack(NULL, len, payload);
	if (p == NULL) {
		c->payload = FW_PAYLOAD_INVALID;
		fw_session_fail(c, "400", "ClientPayload does not parse");
		return;
	}
	if (p->devicepairingdata != NULL) {
		c->payload = FW_PAYLOAD_REGISTRATION;
		if (fw_session_registration(c, p->devicepairingdata, err, sizeof(err)) == -1) {
			c->payload = FW_PAYLOAD_INVALID;
			fw_session_fail(c, "400", err);
		} else
			fw_session_pair_device(c);
	} else if (p->has_username && p->has_device)
		fw_session_login(c, p->username, p->device);
	else {
		c->payload = FW_PAYLOAD_INVALID;
		fw_session_fail(c, "400", "neither registration nor login");
	}
	wa__client_payload__free_unpacked(p, NULL);
}

void
fw_session_end(struct fw_client *c)
{
	fw_pair_client_gone(c);
	if (c->dev != NULL && c->dev->client == c)
		c->dev->client = NULL;
	c->dev = NULL;
}

void
fw_session_remove_device(struct fw_server *s, struct fw_device *d, struct fw_client *skip)
{
	struct fw_client *c = d->client;
	char jid[64];

	fw_device_jid(d, jid, sizeof(jid));
	log_info("device %s removed", jid);
	fw_devices_notify(s, d, 0);
	if (c != NULL) {
		c->dev = NULL;
		c->registered = 0;
		if (c != skip)
			fw_client_stream_error(c, "401", "device_removed");
	}
	fw_device_remove(d);
}
