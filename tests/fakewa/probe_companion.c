/* wa_probe's companion mode (see probe_companion.h). */
#include "probe_companion.h"

#include "fw_sigstore.h"

#include "random.h"
#include "wa_adv.h"
#include "wa_conn.h"
#include "wa_jid.h"
#include "wa_node.h"
#include "wa_noise.h"
#include "wa_pair.h"
#include "wa_prekey.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PC_PREKEYS 3

struct probe_companion {
	int idx, logout, qr_shown;
	uint8_t noise_priv[32], noise_pub[32];
	uint8_t id_priv[32], id_pub[32];
	uint8_t adv[32];
	struct wa_signed_prekey skey;
	uint32_t regid;
	char jid[64];
	struct fw_sigstore *st;			/* the companion's Signal side (probe_msg.h) */
};

struct probe_companion *
probe_companion_new(int idx, int logout)
{
	struct probe_companion *pc = xcalloc(1, sizeof(*pc));
	struct wa_signal_own own;
	char err[128];

	pc->idx = idx;
	pc->logout = logout;
	if (wa_noise_keypair_generate(pc->noise_priv, pc->noise_pub) == -1 ||
	    wa_prekey_keypair(pc->id_priv, pc->id_pub) == -1 ||
	    wa_prekey_signed_generate(1, pc->id_priv, 0, &pc->skey) == -1) {
		probe_companion_free(pc);
		return NULL;
	}
	random_bytes(pc->adv, sizeof(pc->adv));
	pc->regid = 1 + random_uniform(16380);
	own.registration_id = pc->regid;
	memcpy(own.identity_priv, pc->id_priv, 32);
	own.signed_prekey_id = pc->skey.id;
	memcpy(own.signed_prekey_priv, pc->skey.priv, 32);
	memcpy(own.signed_prekey_sig, pc->skey.sig, 64);
	own.signed_prekey_timestamp = pc->skey.timestamp;
	if ((pc->st = fw_sigstore_new(&own, err, sizeof(err))) == NULL) {
		probe_companion_free(pc);
		return NULL;
	}
	return pc;
}

void
probe_companion_free(struct probe_companion *pc)
{
	if (pc == NULL)
		return;
	fw_sigstore_free(pc->st);
	explicit_wipe(pc, sizeof(*pc));
	free(pc);
}

struct fw_sigstore *
probe_companion_signal(struct probe_companion *pc)
{
	return pc->st;
}

const uint8_t *
probe_companion_noise_priv(const struct probe_companion *pc)
{
	return pc->noise_priv;
}

int
probe_companion_payload(const struct probe_companion *pc, uint8_t **out, size_t *outlen)
{
	struct wa_pair_reg r;

	memset(&r, 0, sizeof(r));
	r.registration_id = pc->regid;
	memcpy(r.identity_pub, pc->id_pub, 32);
	r.signed_prekey_id = pc->skey.id;
	memcpy(r.signed_prekey_pub, pc->skey.pub, 32);
	memcpy(r.signed_prekey_sig, pc->skey.sig, 64);
	return wa_pair_registration_payload(&r, out, outlen);
}

/* An iq to the server. */
struct wa_node *
probe_companion_iq(const char *id, const char *type, const char *xmlns)
{
	struct wa_node *iq = wa_node_new("iq");

	wa_node_set_attr(iq, "id", id);
	wa_node_set_attr(iq, "to", "s.whatsapp.net");
	wa_node_set_attr(iq, "type", type);
	wa_node_set_attr(iq, "xmlns", xmlns);
	return iq;
}

/* Send and free. */
static void
pc_send(struct wa_conn *c, struct wa_node *n)
{
	wa_conn_send_node(c, n);
	wa_node_free(n);
}

/* A child with n-byte big-endian content. */
static void
pc_add_be(struct wa_node *parent, const char *tag, uint32_t v, size_t n)
{
	uint8_t b[4];

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	wa_node_set_bytes(wa_node_add_child(parent, wa_node_new(tag)), b, n);
}

/* The iqs a companion sends after <success> (wa-session.md 3.2), plus one the server cannot know. */
static void
pc_after_login(struct probe_companion *pc, struct wa_conn *c)
{
	struct wa_node *iq, *list, *k, *sk;
	struct wa_prekey pk;
	uint8_t type = 0x05;

	iq = probe_companion_iq("probe-count", "get", "encrypt");
	wa_node_add_child(iq, wa_node_new("count"));
	pc_send(c, iq);

	iq = probe_companion_iq("probe-upload", "set", "encrypt");
	pc_add_be(iq, "registration", pc->regid, 4);
	wa_node_set_bytes(wa_node_add_child(iq, wa_node_new("type")), &type, 1);
	wa_node_set_bytes(wa_node_add_child(iq, wa_node_new("identity")), pc->id_pub, 32);
	list = wa_node_add_child(iq, wa_node_new("list"));
	for (uint32_t id = 1; id <= PC_PREKEYS; id++) {
		struct wa_signal_key sk_ = { .kind = WA_SIGNAL_PREKEY, .prekey_id = id };
		if (wa_prekey_generate(id, &pk) == -1)
			continue;
		/* kept, so a pkmsg naming it decrypts (the upload replaces any earlier key with this id) */
		fw_sigstore_set(pc->st, &sk_, pk.priv, 32);
		k = wa_node_add_child(list, wa_node_new("key"));
		pc_add_be(k, "id", id, 3);
		wa_node_set_bytes(wa_node_add_child(k, wa_node_new("value")), pk.pub, 32);
	}
	sk = wa_node_add_child(iq, wa_node_new("skey"));
	pc_add_be(sk, "id", pc->skey.id, 3);
	wa_node_set_bytes(wa_node_add_child(sk, wa_node_new("value")), pc->skey.pub, 32);
	wa_node_set_bytes(wa_node_add_child(sk, wa_node_new("signature")), pc->skey.sig, 64);
	pc_send(c, iq);

	iq = probe_companion_iq("probe-active", "set", "passive");
	wa_node_add_child(iq, wa_node_new("active"));
	pc_send(c, iq);

	iq = probe_companion_iq("probe-unknown", "get", "fakewa:no-such-namespace");
	pc_send(c, iq);

	if (pc->logout) {
		iq = probe_companion_iq("probe-logout", "set", "md");
		k = wa_node_add_child(iq, wa_node_new("remove-companion-device"));
		wa_node_set_attr(k, "jid", pc->jid);
		wa_node_set_attr(k, "reason", "user_initiated");
		pc_send(c, iq);
	}
}

/* pair-success: verify, answer, and log in on the next connection (wa-session.md 2.7-2.9). */
static void
pc_pair_success(struct probe_companion *pc, struct wa_conn *c, const struct wa_node *iq, const struct wa_node *ps)
{
	const struct wa_node *di = wa_node_child(ps, "device-identity"), *dev = wa_node_child(ps, "device");
	struct wa_adv_result res;
	struct wa_node *r, *sign, *e;
	struct wa_jid j;
	uint8_t *payload = NULL;
	size_t plen = 0;
	char err[160];
	int rc;

	r = wa_node_new("iq");
	wa_node_set_attr(r, "to", "s.whatsapp.net");
	wa_node_set_attr(r, "id", wa_node_attr(iq, "id"));
	if (di == NULL || di->ctype != WA_CONTENT_BYTES || dev == NULL || wa_node_attr(dev, "jid") == NULL ||
	    wa_jid_parse(wa_node_attr(dev, "jid"), &j) == -1)
		rc = WA_ADV_ERR_PARSE;
	else
		rc = wa_adv_companion_verify(di->bytes, di->nbytes, pc->adv, pc->id_priv, pc->id_pub, &res, err,
		    sizeof(err));
	if (rc != WA_ADV_OK) {
		wa_node_set_attr(r, "type", "error");
		e = wa_node_add_child(r, wa_node_new("error"));
		wa_node_set_attrf(e, "code", "%d", wa_adv_error_code(rc));
		wa_node_set_attr(e, "text", wa_adv_error_text(rc));
		pc_send(c, r);
		printf("PAIR-REFUSED %d %d %s\n", pc->idx, wa_adv_error_code(rc), wa_adv_error_text(rc));
		fflush(stdout);
		return;
	}
	wa_node_set_attr(r, "type", "result");
	sign = wa_node_add_child(r, wa_node_new("pair-device-sign"));
	e = wa_node_add_child(sign, wa_node_new("device-identity"));
	wa_node_set_attrf(e, "key-index", "%u", res.key_index);
	wa_node_set_bytes(e, res.reply, res.reply_len);
	snprintf(pc->jid, sizeof(pc->jid), "%s", wa_node_attr(dev, "jid"));
	if (wa_pair_login_payload(strtoull(j.user, NULL, 10), j.device, &payload, &plen) == 0)
		wa_conn_set_payload(c, payload, plen);
	free(payload);
	pc_send(c, r);
	wa_adv_result_clear(&res);
	printf("PAIRED %d %s\n", pc->idx, pc->jid);
	fflush(stdout);
}

/* Print the answer to one of our iqs. */
static void
pc_result(struct probe_companion *pc, const struct wa_node *n)
{
	const char *id = wa_node_attr(n, "id"), *type = wa_node_attr(n, "type");
	const struct wa_node *e = wa_node_child(n, "error"), *cnt = wa_node_child(n, "count");
	const char *detail = "-";

	if (e != NULL && wa_node_attr(e, "code") != NULL)
		detail = wa_node_attr(e, "code");
	else if (cnt != NULL && wa_node_attr(cnt, "value") != NULL)
		detail = wa_node_attr(cnt, "value");
	printf("RESULT %d %s %s %s\n", pc->idx, id, type ? type : "?", detail);
	fflush(stdout);
}

void
probe_companion_node(struct probe_companion *pc, struct wa_conn *c, const struct wa_node *n)
{
	const char *type = wa_node_attr(n, "type"), *id = wa_node_attr(n, "id");
	const struct wa_node *ch;
	struct wa_node *r;
	char *qr;

	if (strcmp(n->tag, "success") == 0) {
		pc_after_login(pc, c);
		return;
	}
	if (strcmp(n->tag, "notification") == 0 && id != NULL) {
		r = wa_node_new("ack");
		wa_node_set_attr(r, "class", "notification");
		wa_node_set_attr(r, "id", id);
		wa_node_set_attr(r, "to", "s.whatsapp.net");
		if (type != NULL)
			wa_node_set_attr(r, "type", type);
		pc_send(c, r);
		return;
	}
	if (strcmp(n->tag, "iq") != 0 || type == NULL || id == NULL)
		return;
	if (strncmp(id, "probe-", 6) == 0) {
		pc_result(pc, n);
		return;
	}
	if (strcmp(type, "set") != 0)
		return;
	if ((ch = wa_node_child(n, "pair-device")) != NULL) {
		r = wa_node_new("iq");
		wa_node_set_attr(r, "to", "s.whatsapp.net");
		wa_node_set_attr(r, "id", id);
		wa_node_set_attr(r, "type", "result");
		pc_send(c, r);
		if (ch->ctype == WA_CONTENT_NODES && ch->nchildren > 0 && ch->children[0]->ctype == WA_CONTENT_BYTES &&
		    (qr = wa_pair_qr_text(ch->children[0]->bytes, ch->children[0]->nbytes, pc->noise_pub, pc->id_pub,
		    pc->adv)) != NULL) {
			printf("QR %d %s\n", pc->idx, qr);
			fflush(stdout);
			free(qr);
		}
	} else if ((ch = wa_node_child(n, "pair-success")) != NULL)
		pc_pair_success(pc, c, n, ch);
}
