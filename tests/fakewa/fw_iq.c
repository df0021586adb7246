/* The iqs fakewa answers (see fw_iq.h). */
#include "fw_iq.h"

#include "fakewa_client.h"
#include "fw_account.h"
#include "fw_group.h"
#include "fw_pair.h"
#include "fw_phone_signal.h"
#include "fw_session.h"
#include "fw_usync.h"

#include "log.h"
#include "wa_binary.h"
#include "wa_jid.h"
#include "wa_node.h"
#include "wa_signal.h"
#include "wa_xeddsa.h"

#include <mbedtls/sha1.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct wa_node *
fw_iq_result_new(const struct wa_node *iq)
{
	struct wa_node *r = wa_node_new("iq");

	wa_node_set_attr(r, "from", "s.whatsapp.net");
	wa_node_set_attr(r, "id", wa_node_attr(iq, "id"));
	wa_node_set_attr(r, "type", "result");
	return r;
}

/* Send r and free it. */
static void
fw_iq_send(struct fw_client *c, struct wa_node *r)
{
	fw_client_send(c, r);
	wa_node_free(r);
}

void
fw_iq_reply_empty(struct fw_client *c, const struct wa_node *iq)
{
	fw_iq_send(c, fw_iq_result_new(iq));
}

void
fw_iq_reply_error(struct fw_client *c, const struct wa_node *iq, int code, const char *text)
{
	struct wa_node *r = fw_iq_result_new(iq), *e;

	wa_node_set_attr(r, "type", "error");
	e = wa_node_add_child(r, wa_node_new("error"));
	wa_node_set_attrf(e, "code", "%d", code);
	wa_node_set_attr(e, "text", text);
	fw_iq_send(c, r);
}

/* Bytes of a child with exactly len bytes (len 0: any length), or NULL. */
static const unsigned char *
fw_iq_bytes(const struct wa_node *n, const char *tag, size_t len)
{
	const struct wa_node *ch = n ? wa_node_child(n, tag) : NULL;

	if (ch == NULL || ch->ctype != WA_CONTENT_BYTES || (len != 0 && ch->nbytes != len))
		return NULL;
	return ch->bytes;
}

/* Big-endian integer of n bytes. */
static uint32_t
fw_iq_be(const unsigned char *p, size_t n)
{
	uint32_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* A child with n-byte big-endian content. */
static void
fw_iq_add_be(struct wa_node *parent, const char *tag, uint32_t v, size_t n)
{
	uint8_t b[4];

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	wa_node_set_bytes(wa_node_add_child(parent, wa_node_new(tag)), b, n);
}

/* A child with bytes content. */
static void
fw_iq_add_bytes(struct wa_node *parent, const char *tag, const void *p, size_t n)
{
	wa_node_set_bytes(wa_node_add_child(parent, wa_node_new(tag)), p, n);
}

/* <skey><id/><value/><signature/></skey> of a device. */
static void
fw_iq_add_skey(struct wa_node *parent, const struct fw_device *d)
{
	struct wa_node *sk = wa_node_add_child(parent, wa_node_new("skey"));

	fw_iq_add_be(sk, "id", d->reg.skey_id, 3);
	fw_iq_add_bytes(sk, "value", d->reg.skey_pub, 32);
	fw_iq_add_bytes(sk, "signature", d->reg.skey_sig, 64);
}

/* Parse and check an <skey> (signature over 0x05 || pub with the device identity). 0 or -1. */
static int
fw_iq_parse_skey(const struct wa_node *sk, const uint8_t identity[32], uint32_t *id, uint8_t pub[32],
    uint8_t sig[64])
{
	const unsigned char *i = fw_iq_bytes(sk, "id", 3), *v = fw_iq_bytes(sk, "value", 32),
	    *s = fw_iq_bytes(sk, "signature", 64);
	uint8_t msg[33];

	if (i == NULL || v == NULL || s == NULL)
		return -1;
	msg[0] = 0x05;
	memcpy(msg + 1, v, 32);
	if (wa_xeddsa_verify(identity, msg, sizeof(msg), s) == -1)
		return -1;
	*id = fw_iq_be(i, 3);
	memcpy(pub, v, 32);
	memcpy(sig, s, 64);
	return 0;
}

/* encrypt: prekey upload (wa-session.md 3.3): the five children sit in the iq. */
static void
fw_iq_encrypt_upload(struct fw_client *c, const struct wa_node *iq)
{
	struct fw_device *d = c->dev;
	const unsigned char *reg = fw_iq_bytes(iq, "registration", 4), *type = fw_iq_bytes(iq, "type", 1),
	    *ident = fw_iq_bytes(iq, "identity", 32);
	const struct wa_node *list = wa_node_child(iq, "list"), *sk = wa_node_child(iq, "skey");
	uint32_t skid;
	uint8_t skpub[32], sksig[64];
	size_t n = 0;

	if (reg == NULL || type == NULL || type[0] != 0x05 || ident == NULL || list == NULL || sk == NULL ||
	    memcmp(ident, d->reg.identity_pub, 32) != 0 || fw_iq_be(reg, 4) != d->reg.regid ||
	    fw_iq_parse_skey(sk, d->reg.identity_pub, &skid, skpub, sksig) == -1) {
		fw_iq_reply_error(c, iq, 400, "bad-request");
		return;
	}
	/* check every key before keeping any */
	for (size_t i = 0; list->ctype == WA_CONTENT_NODES && i < list->nchildren; i++) {
		const struct wa_node *k = list->children[i];
		if (strcmp(k->tag, "key") != 0 || fw_iq_bytes(k, "id", 3) == NULL ||
		    fw_iq_bytes(k, "value", 32) == NULL) {
			fw_iq_reply_error(c, iq, 400, "bad-request");
			return;
		}
	}
	for (size_t i = 0; list->ctype == WA_CONTENT_NODES && i < list->nchildren; i++) {
		const struct wa_node *k = list->children[i];
		if (fw_device_prekey_add(d, fw_iq_be(fw_iq_bytes(k, "id", 3), 3), fw_iq_bytes(k, "value", 32)) == -1) {
			fw_iq_reply_error(c, iq, 406, "not-acceptable");
			return;
		}
		n++;
	}
	d->reg.skey_id = skid;
	memcpy(d->reg.skey_pub, skpub, 32);
	memcpy(d->reg.skey_sig, sksig, 64);
	log_debug("client %u: %zu prekeys uploaded (%zu on the server)", c->id, n, d->nprekeys);
	fw_iq_reply_empty(c, iq);
}

/* encrypt: <digest> of the key bundle the server holds (Baileys only checks that it exists). */
static void
fw_iq_encrypt_digest(struct fw_client *c, const struct wa_node *iq)
{
	struct fw_device *d = c->dev;
	struct wa_node *r = fw_iq_result_new(iq), *dg, *list;
	mbedtls_sha1_context sha;
	uint8_t type = 0x05, hash[20];

	dg = wa_node_add_child(r, wa_node_new("digest"));
	fw_iq_add_bytes(dg, "type", &type, 1);
	fw_iq_add_bytes(dg, "identity", d->reg.identity_pub, 32);
	fw_iq_add_skey(dg, d);
	list = wa_node_add_child(dg, wa_node_new("list"));
	mbedtls_sha1_init(&sha);
	(void)mbedtls_sha1_starts_ret(&sha);
	(void)mbedtls_sha1_update_ret(&sha, d->reg.identity_pub, 32);
	(void)mbedtls_sha1_update_ret(&sha, d->reg.skey_pub, 32);
	(void)mbedtls_sha1_update_ret(&sha, d->reg.skey_sig, 64);
	for (size_t i = 0; i < d->nprekeys; i++) {
		fw_iq_add_be(list, "id", d->prekeys[i].id, 3);
		(void)mbedtls_sha1_update_ret(&sha, d->prekeys[i].pub, 32);
	}
	(void)mbedtls_sha1_finish_ret(&sha, hash);
	mbedtls_sha1_free(&sha);
	fw_iq_add_bytes(dg, "hash", hash, sizeof(hash));
	fw_iq_send(c, r);
}

/* The mock phone's bundle (device 0), one of its one-time prekeys taken. */
static void
fw_iq_add_phone_bundle(struct wa_node *u, struct fw_phone *p)
{
	struct wa_signal_bundle b;
	struct wa_node *sk, *k;
	uint8_t type = 0x05;

	fw_phone_bundle(p, &b);
	fw_iq_add_be(u, "registration", b.registration_id, 4);
	fw_iq_add_bytes(u, "type", &type, 1);
	fw_iq_add_bytes(u, "identity", b.identity_pub, 32);
	sk = wa_node_add_child(u, wa_node_new("skey"));
	fw_iq_add_be(sk, "id", b.signed_prekey_id, 3);
	fw_iq_add_bytes(sk, "value", b.signed_prekey_pub, 32);
	fw_iq_add_bytes(sk, "signature", b.signed_prekey_sig, 64);
	if (b.has_prekey) {
		k = wa_node_add_child(u, wa_node_new("key"));
		fw_iq_add_be(k, "id", b.prekey_id, 3);
		fw_iq_add_bytes(k, "value", b.prekey_pub, 32);
	}
}

/* encrypt: <key><user jid/>...</key>: prekey bundles (wa-session.md 4.4); each hands out one prekey. */
static void
fw_iq_encrypt_key(struct fw_client *c, const struct wa_node *iq, const struct wa_node *key)
{
	struct wa_node *r = fw_iq_result_new(iq), *list, *u, *e;
	struct fw_account *a;
	struct fw_device *d;
	struct fw_prekey pk;
	struct wa_jid j;
	uint8_t type = 0x05;

	list = wa_node_add_child(r, wa_node_new("list"));
	for (size_t i = 0; key->ctype == WA_CONTENT_NODES && i < key->nchildren && i < 1000; i++) {
		const struct wa_node *q = key->children[i];
		const char *jid = wa_node_attr(q, "jid");

		if (strcmp(q->tag, "user") != 0 || jid == NULL)
			continue;
		u = wa_node_add_child(list, wa_node_new("user"));
		wa_node_set_attr(u, "jid", jid);
		if (wa_jid_parse(jid, &j) == 0 && wa_jid_is_user(&j) && j.device == 0 &&
		    (a = fw_account_find_user(&c->s->accounts, j.user)) != NULL && a->mock != NULL) {
			fw_iq_add_phone_bundle(u, a->mock);
			continue;
		}
		if (wa_jid_parse(jid, &j) == -1 || !wa_jid_is_user(&j) ||
		    (d = fw_device_find(&c->s->accounts, j.user, j.device)) == NULL) {
			e = wa_node_add_child(u, wa_node_new("error"));
			wa_node_set_attr(e, "code", "404");
			wa_node_set_attr(e, "text", "item-not-found");
			continue;
		}
		fw_iq_add_be(u, "registration", d->reg.regid, 4);
		fw_iq_add_bytes(u, "type", &type, 1);
		fw_iq_add_bytes(u, "identity", d->reg.identity_pub, 32);
		fw_iq_add_skey(u, d);
		if (fw_device_prekey_take(d, &pk) == 0) {
			struct wa_node *k = wa_node_add_child(u, wa_node_new("key"));
			fw_iq_add_be(k, "id", pk.id, 3);
			fw_iq_add_bytes(k, "value", pk.pub, 32);
		}
	}
	fw_iq_send(c, r);
}

/* xmlns encrypt. */
static void
fw_iq_encrypt(struct fw_client *c, const struct wa_node *iq)
{
	struct fw_device *d = c->dev;
	const struct wa_node *ch;
	struct wa_node *r, *cnt;
	uint32_t id;
	uint8_t pub[32], sig[64];

	if (d == NULL) {
		fw_iq_reply_error(c, iq, 401, "not-authorized");
		return;
	}
	if (wa_node_child(iq, "count") != NULL) {
		r = fw_iq_result_new(iq);
		cnt = wa_node_add_child(r, wa_node_new("count"));
		wa_node_set_attrf(cnt, "value", "%zu", d->nprekeys);
		fw_iq_send(c, r);
	} else if (wa_node_child(iq, "digest") != NULL)
		fw_iq_encrypt_digest(c, iq);
	else if ((ch = wa_node_child(iq, "key")) != NULL)
		fw_iq_encrypt_key(c, iq, ch);
	else if ((ch = wa_node_child(iq, "rotate")) != NULL) {
		if (fw_iq_parse_skey(wa_node_child(ch, "skey"), d->reg.identity_pub, &id, pub, sig) == -1) {
			fw_iq_reply_error(c, iq, 400, "bad-request");
			return;
		}
		d->reg.skey_id = id;
		memcpy(d->reg.skey_pub, pub, 32);
		memcpy(d->reg.skey_sig, sig, 64);
		fw_iq_reply_empty(c, iq);
	} else if (wa_node_child(iq, "list") != NULL || wa_node_child(iq, "registration") != NULL)
		fw_iq_encrypt_upload(c, iq);
	else
		fw_iq_reply_error(c, iq, 400, "bad-request");
}

/* md: remove-companion-device: unlink, answer, then close (wa-session.md 3.9). */
static void
fw_iq_remove_companion(struct fw_client *c, const struct wa_node *iq, const struct wa_node *rm)
{
	const char *jid = wa_node_attr(rm, "jid");
	struct fw_device *d;
	struct wa_jid j;
	int own;

	if (c->dev == NULL) {
		fw_iq_reply_error(c, iq, 401, "not-authorized");
		return;
	}
	if (jid == NULL || wa_jid_parse(jid, &j) == -1 || !wa_jid_is_user(&j) ||
	    (d = fw_device_find(&c->s->accounts, j.user, j.device)) == NULL || d->acct != c->dev->acct ||
	    d->number == 0) {
		fw_iq_reply_error(c, iq, 404, "item-not-found");
		return;
	}
	own = d == c->dev;
	fw_session_remove_device(c->s, d, c);
	fw_iq_reply_empty(c, iq);
	if (own)
		fw_client_close(c);
}

/* xmlns md. */
static void
fw_iq_md(struct fw_client *c, const struct wa_node *iq)
{
	const struct wa_node *ch;
	const char *stage;

	if ((ch = wa_node_child(iq, "remove-companion-device")) != NULL)
		fw_iq_remove_companion(c, iq, ch);
	else if ((ch = wa_node_child(iq, "link_code_companion_reg")) != NULL) {
		stage = wa_node_attr(ch, "stage");
		if (stage != NULL && strcmp(stage, "companion_hello") == 0)
			fw_pair_link_hello(c, iq, ch);
		else if (stage != NULL && strcmp(stage, "companion_finish") == 0)
			fw_pair_link_finish(c, iq, ch);
		else
			fw_iq_reply_error(c, iq, 400, "bad-request");
	} else
		fw_iq_reply_error(c, iq, 501, "feature-not-implemented");
}

/* xmlns passive: <active/> or <passive/>. */
static void
fw_iq_passive(struct fw_client *c, const struct wa_node *iq)
{
	if (c->dev != NULL && wa_node_child(iq, "active") != NULL)
		c->dev->active = 1;
	else if (c->dev != NULL && wa_node_child(iq, "passive") != NULL)
		c->dev->active = 0;
	fw_iq_reply_empty(c, iq);
}

/* xmlns abt: a fixed, empty set of props. */
static void
fw_iq_abt(struct fw_client *c, const struct wa_node *iq)
{
	struct wa_node *r = fw_iq_result_new(iq), *p;

	p = wa_node_add_child(r, wa_node_new("props"));
	wa_node_set_attr(p, "protocol", "1");
	wa_node_set_attr(p, "hash", "fakewa1");
	wa_node_set_attr(p, "refresh", "86400");
	fw_iq_send(c, r);
}

/* xmlns blocklist: nobody is blocked. */
static void
fw_iq_blocklist(struct fw_client *c, const struct wa_node *iq)
{
	struct wa_node *r = fw_iq_result_new(iq);

	wa_node_add_child(r, wa_node_new("list"));
	fw_iq_send(c, r);
}

/* xmlns privacy: WhatsApp's defaults. */
static void
fw_iq_privacy(struct fw_client *c, const struct wa_node *iq)
{
	static const char *cats[][2] = {
		{ "last", "all" }, { "online", "all" }, { "profile", "all" }, { "status", "contacts" },
		{ "groupadd", "all" }, { "readreceipts", "all" }, { "calladd", "all" }, { "messages", "all" },
	};
	struct wa_node *r = fw_iq_result_new(iq), *p, *cat;

	p = wa_node_add_child(r, wa_node_new("privacy"));
	for (size_t i = 0; i < sizeof(cats) / sizeof(cats[0]); i++) {
		cat = wa_node_add_child(p, wa_node_new("category"));
		wa_node_set_attr(cat, "name", cats[i][0]);
		wa_node_set_attr(cat, "value", cats[i][1]);
	}
	fw_iq_send(c, r);
}

/* xmlns w:p: keepalive. */
static void
fw_iq_ping(struct fw_client *c, const struct wa_node *iq)
{
	struct wa_node *r = fw_iq_result_new(iq);

	wa_node_set_attrf(r, "t", "%lld", (long long)time(NULL));
	c->s->pings_answered++;
	fw_iq_send(c, r);
}

static const struct {
	const char *xmlns;
	void (*fn)(struct fw_client *, const struct wa_node *);
} fw_iq_table[] = {
	{ "w:p", fw_iq_ping },
	{ "encrypt", fw_iq_encrypt },
	{ "passive", fw_iq_passive },
	{ "md", fw_iq_md },
	{ "abt", fw_iq_abt },
	{ "blocklist", fw_iq_blocklist },
	{ "privacy", fw_iq_privacy },
	{ "urn:xmpp:whatsapp:dirty", fw_iq_reply_empty },
	{ "usync", fw_usync_handle },
	{ "w:g2", fw_group_iq },
};

void
fw_iq_handle(struct fw_client *c, const struct wa_node *iq)
{
	const char *type = wa_node_attr(iq, "type"), *xmlns = wa_node_attr(iq, "xmlns");

	if (type == NULL || wa_node_attr(iq, "id") == NULL)
		return;
	if (strcmp(type, "result") == 0 || strcmp(type, "error") == 0) {
		fw_pair_on_reply(c, iq);	/* else: an answer nobody waits for (pair-device ack) */
		return;
	}
	if (strcmp(type, "get") != 0 && strcmp(type, "set") != 0)
		return;
	for (size_t i = 0; xmlns != NULL && i < sizeof(fw_iq_table) / sizeof(fw_iq_table[0]); i++)
		if (strcmp(xmlns, fw_iq_table[i].xmlns) == 0) {
			fw_iq_table[i].fn(c, iq);
			return;
		}
	log_debug("client %u: unknown iq xmlns %s", c->id, xmlns ? xmlns : "(none)");
	fw_iq_reply_error(c, iq, 501, "feature-not-implemented");
}
