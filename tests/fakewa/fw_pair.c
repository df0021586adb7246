/* The mock phone's pairing (see fw_pair.h). */
#include "fw_pair.h"

#include "fakewa_client.h"
#include "fw_account.h"
#include "fw_ctl.h"
#include "fw_devices.h"
#include "fw_iq.h"

#include "b64.h"
#include "log.h"
#include "random.h"
#include "wa_adv.h"
#include "wa_linkcode.h"
#include "wa_node.h"
#include "wa_prekey.h"
#include "xmalloc.h"

#include <event2/event.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FW_QR_PREFIX	"https://wa.me/settings/linked_devices#"

enum fw_pairing_stage { FW_PAIRING_LINK, FW_PAIRING_SIGN };

/* A control call waiting on one client. */
struct fw_pairing {
	struct fw_server *s;
	struct fw_ctl_conn *to;			/* NULL once the HTTP client went away */
	struct fw_client *c;
	struct fw_account *a;
	enum fw_pairing_stage stage;
	unsigned number, key_index;
	uint8_t identity_pub[32], adv_secret[32];
	uint8_t eph_priv[32], companion_eph_pub[32];	/* link code */
	char iq_id[64];
	struct event *timer;
};

/* Answer the control call (if its client is still there) and free the pairing. */
static void
fw_pair_finish(struct fw_pairing *p, int code, const char *json)
{
	if (p->to != NULL) {
		fw_ctl_conn_wait(p->to, NULL);
		fw_ctl_reply(p->to, code, json);
	}
	if (p->c != NULL && p->c->pairing == p)
		p->c->pairing = NULL;
	event_free(p->timer);
	explicit_wipe(p, sizeof(*p));
	free(p);
}

/* Nothing came back in time. */
static void
fw_pair_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fw_pairing *p = arg;

	log_info("client %u: pairing timed out", p->c->id);
	fw_pair_finish(p, 504, "{\"error\":\"no answer from the companion\"}");
}

/* A pairing for c answering on to, with its deadline. */
static struct fw_pairing *
fw_pair_new(struct fw_server *s, struct fw_ctl_conn *to, struct fw_client *c, struct fw_account *a)
{
	struct fw_pairing *p = xcalloc(1, sizeof(*p));
	struct timeval tv = { FW_PAIR_TIMEOUT_S, 0 };

	p->s = s;
	p->to = to;
	p->c = c;
	p->a = a;
	p->timer = evtimer_new(s->base, fw_pair_timeout_cb, p);
	evtimer_add(p->timer, &tv);
	fw_ctl_conn_wait(to, p);
	c->pairing = p;
	return p;
}

/* The phone issues the device identity and sends pair-success (wa-session.md 2.6, 2.10). */
static void
fw_pair_send_success(struct fw_pairing *p)
{
	struct fw_client *c = p->c;
	struct fw_account *a = p->a;
	struct wa_adv_device dev;
	struct wa_node *iq, *ps, *n;
	uint8_t *msg = NULL;
	size_t len = 0;

	p->number = a->next_device++;
	p->key_index = a->next_key_index++;
	memset(&dev, 0, sizeof(dev));
	dev.raw_id = a->raw_id;
	dev.timestamp = (uint64_t)time(NULL);
	dev.key_index = p->key_index;
	dev.account_type = WA_ADV_E2EE;
	dev.device_type = WA_ADV_E2EE;
	if (wa_adv_phone_issue(a->priv, a->pub, p->adv_secret, p->identity_pub, &dev, &msg, &len) == -1) {
		fw_pair_finish(p, 500, "{\"error\":\"cannot issue the device identity\"}");
		return;
	}
	snprintf(p->iq_id, sizeof(p->iq_id), "%s", fw_client_stanza_id(c));
	iq = wa_node_new("iq");
	wa_node_set_attr(iq, "from", "s.whatsapp.net");
	wa_node_set_attr(iq, "type", "set");
	wa_node_set_attr(iq, "id", p->iq_id);
	wa_node_set_attrf(iq, "t", "%lld", (long long)time(NULL));
	wa_node_set_attr(iq, "xmlns", "md");
	ps = wa_node_add_child(iq, wa_node_new("pair-success"));
	n = wa_node_add_child(ps, wa_node_new("device-identity"));
	wa_node_set_bytes(n, msg, len);
	n = wa_node_add_child(ps, wa_node_new("device"));
	wa_node_set_attrf(n, "jid", "%s:%u@s.whatsapp.net", a->phone, p->number);
	wa_node_set_attrf(n, "lid", "%s:%u@lid", a->lid, p->number);
	n = wa_node_add_child(ps, wa_node_new("platform"));
	wa_node_set_attr(n, "name", "android");
	p->stage = FW_PAIRING_SIGN;
	fw_client_send(c, iq);
	wa_node_free(iq);
	free(msg);
	log_info("client %u: pair-success sent for %s:%u (key index %u)", c->id, a->phone, p->number,
	    p->key_index);
}

/* Split the QR text into its fields (wa-session.md 2.3; the 4-field form is accepted). 0 or -1. */
static int
fw_pair_parse_qr(char *qr, const char **ref, uint8_t noise[32], uint8_t ident[32], uint8_t adv[32])
{
	char *f[6], *s = qr, *end;
	size_t nf = 0, olen;
	uint8_t *keys[3] = { noise, ident, adv };

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
		*--end = '\0';
	if (strncmp(s, FW_QR_PREFIX, strlen(FW_QR_PREFIX)) == 0)
		s += strlen(FW_QR_PREFIX);
	for (f[nf++] = s; *s != '\0'; s++)
		if (*s == ',') {
			if (nf == 6)
				return -1;
			*s = '\0';
			f[nf++] = s + 1;
		}
	if (nf != 4 && nf != 5)
		return -1;
	if (*f[0] == '\0' || strlen(f[0]) >= FW_REF_MAX)
		return -1;
	for (int i = 0; i < 3; i++)
		if (b64_decode(f[i + 1], strlen(f[i + 1]), keys[i], 32, &olen) == -1 || olen != 32)
			return -1;
	if (nf == 5 && strlen(f[4]) != 1)
		return -1;
	*ref = f[0];
	return 0;
}

void
fw_pair_scan_qr(struct fw_server *s, struct fw_ctl_conn *to, const char *qr, const char *phone,
    const char *name)
{
	struct fw_client *c, *found = NULL;
	struct fw_account *a;
	struct fw_pairing *p;
	uint8_t noise[32], ident[32], adv[32];
	const char *ref;
	char *text = xstrdup(qr);
	int other_key = 0;

	if (fw_pair_parse_qr(text, &ref, noise, ident, adv) == -1) {
		free(text);
		fw_ctl_reply(to, 400, "{\"error\":\"bad QR text\"}");
		return;
	}
	for (c = fw_client_next(s, NULL); c != NULL && found == NULL; c = fw_client_next(s, c)) {
		if (c->dead || c->phase != FW_OPEN || c->payload != FW_PAYLOAD_REGISTRATION || c->registered)
			continue;
		for (int i = 0; i < FW_REFS; i++)
			if (strcmp(c->refs[i], ref) == 0) {
				if (memcmp(c->client_static, noise, 32) == 0)
					found = c;
				else
					other_key = 1;
			}
	}
	free(text);
	if (found == NULL) {
		fw_ctl_reply(to, 404, other_key ? "{\"error\":\"the client offered this ref has another Noise key\"}" :
		    "{\"error\":\"no client was offered this ref\"}");
		return;
	}
	c = found;
	if (c->pairing != NULL) {
		fw_ctl_reply(to, 409, "{\"error\":\"a pairing is already in progress on this client\"}");
		return;
	}
	if (memcmp(c->reg.identity_pub, ident, 32) != 0) {
		fw_ctl_reply(to, 409, "{\"error\":\"the QR identity key is not the one the client registered\"}");
		return;
	}
	if ((a = fw_account_get(&s->accounts, phone, name)) == NULL) {
		fw_ctl_reply(to, 400, "{\"error\":\"bad phone number\"}");
		return;
	}
	log_info("phone %s scans the QR of client %u", a->phone, c->id);
	p = fw_pair_new(s, to, c, a);
	memcpy(p->identity_pub, ident, 32);
	memcpy(p->adv_secret, adv, 32);
	explicit_wipe(adv, sizeof(adv));
	fw_pair_send_success(p);
}

void
fw_pair_code(struct fw_server *s, struct fw_ctl_conn *to, const char *phone, const char *code,
    const char *name)
{
	struct fw_client *c;
	struct fw_account *a;
	struct fw_pairing *p;
	struct wa_node *reg, *n;
	uint8_t primary_pub[32], wrapped[WA_LINKCODE_WRAPPED_LEN];
	char norm[WA_LINKCODE_LEN + 1];

	if (phone == NULL || code == NULL || wa_linkcode_normalize(code, norm) == -1) {
		fw_ctl_reply(to, 400, "{\"error\":\"phone and an 8-character code are required\"}");
		return;
	}
	for (c = fw_client_next(s, NULL); c != NULL; c = fw_client_next(s, c))
		if (!c->dead && c->phase == FW_OPEN && c->lc_pending && !c->registered &&
		    strcmp(c->lc_phone, phone) == 0)
			break;
	if (c == NULL) {
		fw_ctl_reply(to, 404, "{\"error\":\"no pending link-code registration for this phone\"}");
		return;
	}
	if (c->pairing != NULL) {
		fw_ctl_reply(to, 409, "{\"error\":\"a pairing is already in progress on this client\"}");
		return;
	}
	if ((a = fw_account_get(&s->accounts, phone, name)) == NULL) {
		fw_ctl_reply(to, 400, "{\"error\":\"bad phone number\"}");
		return;
	}
	p = fw_pair_new(s, to, c, a);
	p->stage = FW_PAIRING_LINK;
	/* AES-CTR is unauthenticated: a wrong code gives a wrong key here, noticed at companion_finish. */
	if (wa_linkcode_unwrap(norm, c->lc_wrapped, sizeof(c->lc_wrapped), p->companion_eph_pub) == -1 ||
	    wa_prekey_keypair(p->eph_priv, primary_pub) == -1 || wa_linkcode_wrap(norm, primary_pub, wrapped) == -1) {
		fw_pair_finish(p, 500, "{\"error\":\"link code crypto failed\"}");
		return;
	}
	reg = wa_node_new("link_code_companion_reg");
	wa_node_set_attr(reg, "stage", "primary_hello");
	n = wa_node_add_child(reg, wa_node_new("link_code_pairing_ref"));
	wa_node_set_bytes(n, c->lc_ref, strlen(c->lc_ref));
	n = wa_node_add_child(reg, wa_node_new("link_code_pairing_wrapped_primary_ephemeral_pub"));
	wa_node_set_bytes(n, wrapped, sizeof(wrapped));
	n = wa_node_add_child(reg, wa_node_new("primary_identity_pub"));
	wa_node_set_bytes(n, a->pub, 32);
	log_info("phone %s types the link code for client %u", a->phone, c->id);
	if (fw_client_notify(c, "link_code_companion_reg", reg) == -1)
		fw_pair_finish(p, 504, "{\"error\":\"client disconnected\"}");
}

/* Bytes content of a child of n, or NULL; *len gets its length. */
static const unsigned char *
fw_pair_child_bytes(const struct wa_node *n, const char *tag, size_t *len)
{
	const struct wa_node *ch = wa_node_child(n, tag);

	if (ch == NULL || ch->ctype != WA_CONTENT_BYTES)
		return NULL;
	*len = ch->nbytes;
	return ch->bytes;
}

void
fw_pair_link_hello(struct fw_client *c, const struct wa_node *iq, const struct wa_node *reg)
{
	const char *jid = wa_node_attr(reg, "jid"), *at;
	const unsigned char *wrapped, *auth;
	size_t wlen = 0, alen = 0, ulen;
	struct wa_node *r, *lr, *n;
	uint8_t rnd[8];
	int o;

	if (c->payload != FW_PAYLOAD_REGISTRATION || c->registered) {
		fw_iq_reply_error(c, iq, 400, "bad-request");
		return;
	}
	wrapped = fw_pair_child_bytes(reg, "link_code_pairing_wrapped_companion_ephemeral_pub", &wlen);
	auth = fw_pair_child_bytes(reg, "companion_server_auth_key_pub", &alen);
	if (jid == NULL || (at = strchr(jid, '@')) == NULL || (ulen = (size_t)(at - jid)) == 0 ||
	    ulen >= FW_PHONE_MAX || strspn(jid, "0123456789") != ulen || wrapped == NULL ||
	    wlen != WA_LINKCODE_WRAPPED_LEN || auth == NULL || alen != 32 ||
	    memcmp(auth, c->client_static, 32) != 0) {
		fw_iq_reply_error(c, iq, 400, "bad-request");
		return;
	}
	memcpy(c->lc_phone, jid, ulen);
	c->lc_phone[ulen] = '\0';
	memcpy(c->lc_wrapped, wrapped, WA_LINKCODE_WRAPPED_LEN);
	random_bytes(rnd, sizeof(rnd));
	o = snprintf(c->lc_ref, sizeof(c->lc_ref), "2@fakewa-lc-");
	for (size_t i = 0; i < sizeof(rnd); i++)
		o += snprintf(c->lc_ref + o, sizeof(c->lc_ref) - (size_t)o, "%02X", rnd[i]);
	c->lc_pending = 1;
	r = fw_iq_result_new(iq);
	lr = wa_node_add_child(r, wa_node_new("link_code_companion_reg"));
	n = wa_node_add_child(lr, wa_node_new("link_code_pairing_ref"));
	wa_node_set_bytes(n, c->lc_ref, strlen(c->lc_ref));
	fw_client_send(c, r);
	wa_node_free(r);
	log_info("client %u asks to link with phone %s by code", c->id, c->lc_phone);
}

void
fw_pair_link_finish(struct fw_client *c, const struct wa_node *iq, const struct wa_node *reg)
{
	struct fw_pairing *p = c->pairing;
	const unsigned char *bundle, *ident, *ref;
	size_t blen = 0, ilen = 0, rlen = 0;
	char err[160];

	if (p == NULL || p->stage != FW_PAIRING_LINK) {
		fw_iq_reply_error(c, iq, 400, "bad-request");
		return;
	}
	bundle = fw_pair_child_bytes(reg, "link_code_pairing_wrapped_key_bundle", &blen);
	ident = fw_pair_child_bytes(reg, "companion_identity_public", &ilen);
	ref = fw_pair_child_bytes(reg, "link_code_pairing_ref", &rlen);
	if (bundle == NULL || ident == NULL || ilen != 32 || ref == NULL || rlen != strlen(c->lc_ref) ||
	    memcmp(ref, c->lc_ref, rlen) != 0) {
		fw_iq_reply_error(c, iq, 400, "bad-request");
		fw_pair_finish(p, 409, "{\"error\":\"malformed companion_finish\"}");
		return;
	}
	if (wa_linkcode_primary_finish(p->eph_priv, p->companion_eph_pub, p->a->priv, p->a->pub, bundle, blen,
	    p->identity_pub, p->adv_secret, err, sizeof(err)) == -1) {
		log_info("client %u: companion_finish refused: %s", c->id, err);
		fw_iq_reply_error(c, iq, 400, "bad-request");
		fw_pair_finish(p, 409, "{\"error\":\"wrong code\"}");
		return;
	}
	if (memcmp(p->identity_pub, ident, 32) != 0 || memcmp(p->identity_pub, c->reg.identity_pub, 32) != 0) {
		fw_iq_reply_error(c, iq, 400, "bad-request");
		fw_pair_finish(p, 409, "{\"error\":\"the bundle's identity key is not the registered one\"}");
		return;
	}
	fw_iq_reply_empty(c, iq);
	c->lc_pending = 0;
	fw_pair_send_success(p);
}

/* The companion's <pair-device-sign>: check it, register the device, 515. */
static void
fw_pair_signed(struct fw_pairing *p, const struct wa_node *iq)
{
	struct fw_client *c = p->c;
	const struct wa_node *sign = wa_node_child(iq, "pair-device-sign"), *di;
	const char *ki;
	struct fw_device *d;
	char err[200], *json, jid[64], lid[64];

	di = sign ? wa_node_child(sign, "device-identity") : NULL;
	ki = di ? wa_node_attr(di, "key-index") : NULL;
	if (di == NULL || di->ctype != WA_CONTENT_BYTES || ki == NULL) {
		snprintf(err, sizeof(err), "no pair-device-sign/device-identity with key-index");
		goto bad;
	}
	if (strtoul(ki, NULL, 10) != p->key_index) {
		snprintf(err, sizeof(err), "key-index %s, expected %u", ki, p->key_index);
		goto bad;
	}
	if (wa_adv_phone_check_reply(di->bytes, di->nbytes, p->a->pub, p->identity_pub, p->key_index, err,
	    sizeof(err)) == -1)
		goto bad;
	d = fw_device_add(p->a, p->number, p->key_index, c->client_static, &c->reg);
	fw_device_jid(d, jid, sizeof(jid));
	fw_device_lid(d, lid, sizeof(lid));
	c->registered = 1;
	snprintf(c->jid, sizeof(c->jid), "%s", jid);
	log_info("client %u paired as %s", c->id, jid);
	fw_devices_notify(c->s, d, 1);
	xasprintf(&json, "{\"phone\":\"%s\",\"jid\":\"%s\",\"lid\":\"%s\",\"device\":%u,\"key_index\":%u}",
	    p->a->phone, jid, lid, d->number, d->key_index);
	/* WhatsApp restarts the stream; the companion logs in on a new connection. */
	fw_client_stream_error(c, "515", NULL);
	fw_pair_finish(p, 200, json);
	free(json);
	return;
bad:
	log_info("client %u: bad pair-device-sign: %s", c->id, err);
	for (char *t = err; *t != '\0'; t++)
		if (*t == '"' || *t == '\\' || (unsigned char)*t < 0x20)
			*t = '?';
	xasprintf(&json, "{\"error\":\"bad pair-device-sign: %s\"}", err);
	fw_pair_finish(p, 409, json);
	free(json);
	fw_client_close(c);
}

int
fw_pair_on_reply(struct fw_client *c, const struct wa_node *iq)
{
	struct fw_pairing *p = c->pairing;
	const char *id = wa_node_attr(iq, "id"), *type = wa_node_attr(iq, "type");
	const struct wa_node *e;
	char *json, text[96];

	if (p == NULL || p->stage != FW_PAIRING_SIGN || id == NULL || strcmp(id, p->iq_id) != 0)
		return 0;
	if (type != NULL && strcmp(type, "result") == 0) {
		fw_pair_signed(p, iq);
		return 1;
	}
	e = wa_node_child(iq, "error");
	/* code and text go into JSON: keep them to a safe alphabet */
	snprintf(text, sizeof(text), "%s %s", e && wa_node_attr(e, "code") ? wa_node_attr(e, "code") : "?",
	    e && wa_node_attr(e, "text") ? wa_node_attr(e, "text") : "");
	for (char *t = text; *t != '\0'; t++)
		if (*t == '"' || *t == '\\' || (unsigned char)*t < 0x20)
			*t = '?';
	xasprintf(&json, "{\"error\":\"companion refused: %s\"}", text);
	log_info("client %u refused pair-success: %s", c->id, json);
	fw_pair_finish(p, 409, json);
	free(json);
	return 1;
}

void
fw_pair_client_gone(struct fw_client *c)
{
	struct fw_pairing *p = c->pairing;

	if (p == NULL)
		return;
	/* Baileys refuses a bad pair-success by closing the connection instead of an error iq. */
	if (p->stage == FW_PAIRING_SIGN)
		fw_pair_finish(p, 409, "{\"error\":\"companion refused: it closed the connection\"}");
	else
		fw_pair_finish(p, 504, "{\"error\":\"client disconnected\"}");
}

void
fw_pair_conn_gone(struct fw_pairing *p)
{
	p->to = NULL;
}
