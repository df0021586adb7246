/* The mock phone's Signal endpoint (see fw_phone_signal.h). */
#include "fw_phone_signal.h"

#include "fakewa_client.h"
#include "fw_account.h"
#include "fw_group.h"
#include "fw_msg.h"
#include "fw_sigstore.h"
#include "fw_text.h"

#include "log.h"
#include "random.h"
#include "wa_jid.h"
#include "wa_node.h"
#include "wa_prekey.h"
#include "wa_signal.h"
#include "xmalloc.h"

#include "e2e.pb-c.h"

#include <event2/buffer.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct fw_phone_got {
	char from[64], id[FW_MSG_ID_MAX + 1], type[16];
	char group[FW_GROUP_JID_MAX];		/* "" for a 1:1 message */
	char *text;
	int keys;
};

struct fw_phone_sent {
	char to[64];			/* the device's JID */
	struct wa_node *n;
};

struct fw_phone {
	struct fw_sigstore *st;
	struct wa_signal *sig;			/* st's */
	struct wa_signal_own own;
	uint8_t identity_pub[32], spk_pub[32];
	struct fw_prekey pool[FW_PHONE_PREKEYS];	/* public halves not handed out yet */
	size_t npool;
	int fail_next;
	struct fw_phone_got got[FW_PHONE_RECEIVED_MAX];
	size_t ngot;
	/* the devices that have this phone's sender key of a group: (group, "user:device") */
	struct fw_phone_skdm {
		char group[FW_GROUP_JID_MAX], addr[64];
	} skdm[FW_PHONE_SKDM_MAX];
	size_t nskdm;
	struct fw_phone_got receipts[FW_PHONE_RECEIVED_MAX];
	size_t nreceipts;
	struct fw_phone_sent sent[FW_PHONE_SENT_MAX];	/* the last send's stanzas */
	size_t nsent;
};

/* A phone with this identity key pair. */
static struct fw_phone *
fw_phone_new_keys(const struct fw_account *a, const uint8_t priv[32], const uint8_t pub[32])
{
	struct fw_phone *p = xcalloc(1, sizeof(*p));
	struct wa_signed_prekey spk;
	struct wa_prekey pk;
	struct wa_signal_key k = { .kind = WA_SIGNAL_PREKEY };
	char err[128];

	p->own.registration_id = 1 + random_uniform(16380);
	memcpy(p->own.identity_priv, priv, 32);
	memcpy(p->identity_pub, pub, 32);
	if (wa_prekey_signed_generate(1, priv, (uint64_t)time(NULL) * 1000, &spk) == -1)
		goto fail;
	p->own.signed_prekey_id = spk.id;
	memcpy(p->own.signed_prekey_priv, spk.priv, 32);
	memcpy(p->own.signed_prekey_sig, spk.sig, 64);
	p->own.signed_prekey_timestamp = spk.timestamp;
	memcpy(p->spk_pub, spk.pub, 32);
	explicit_wipe(&spk, sizeof(spk));
	if ((p->st = fw_sigstore_new(&p->own, err, sizeof(err))) == NULL) {
		log_warnx("phone of %s: %s", a->phone, err);
		goto fail;
	}
	p->sig = fw_sigstore_signal(p->st);
	for (uint32_t id = 1; id <= FW_PHONE_PREKEYS; id++) {
		if (wa_prekey_generate(id, &pk) == -1)
			goto fail;
		k.prekey_id = id;
		fw_sigstore_set(p->st, &k, pk.priv, 32);
		p->pool[p->npool].id = id;
		memcpy(p->pool[p->npool++].pub, pk.pub, 32);
		explicit_wipe(&pk, sizeof(pk));
	}
	return p;
fail:
	fw_phone_free(p);
	return NULL;
}

struct fw_phone *
fw_phone_new(const struct fw_account *a)
{
	return fw_phone_new_keys(a, a->priv, a->pub);
}

int
fw_phone_reinstall(struct fw_server *s, struct fw_account *a)
{
	struct fw_phone *old = a->mock, *p;
	const char *addr[FW_PHONE_SESSIONS_MAX];
	struct fw_account *peers[FW_PHONE_SESSIONS_MAX], *peer;
	struct fw_device *d;
	struct wa_node *n;
	uint8_t priv[32], pub[32];
	char user[FW_PHONE_MAX + 1], id[32];
	size_t naddr, npeers = 0, k;
	int notified = 0;

	if (old == NULL || wa_prekey_keypair(priv, pub) == -1 || (p = fw_phone_new_keys(a, priv, pub)) == NULL) {
		explicit_wipe(priv, sizeof(priv));
		return -1;
	}
	explicit_wipe(priv, sizeof(priv));
	/* the users whose devices have a session with the old phone: it has one with each of them too */
	naddr = fw_sigstore_addresses(old->st, WA_SIGNAL_SESSION, addr, FW_PHONE_SESSIONS_MAX);
	for (size_t i = 0; i < naddr && i < FW_PHONE_SESSIONS_MAX; i++) {
		snprintf(user, sizeof(user), "%.*s", (int)strcspn(addr[i], ":"), addr[i]);
		if ((peer = fw_account_find_user(&s->accounts, user)) == NULL)
			continue;
		for (k = 0; k < npeers && peers[k] != peer; k++)
			;
		if (k == npeers)
			peers[npeers++] = peer;
	}
	a->mock = p;
	fw_phone_free(old);
	snprintf(id, sizeof(id), "%lu.identity", ++s->next_stanza);
	for (size_t i = 0; i < npeers; i++)
		TAILQ_FOREACH(d, &peers[i]->devices, entry) {
			n = wa_node_new("notification");
			wa_node_set_attrf(n, "from", "%s@s.whatsapp.net", a->phone);
			wa_node_set_attr(n, "type", "encrypt");
			wa_node_set_attr(n, "id", id);
			wa_node_set_attrf(n, "t", "%lld", (long long)time(NULL));
			wa_node_add_child(n, wa_node_new("identity"));
			fw_msg_deliver(d, n);
			notified++;
		}
	log_info("phone of %s: reinstalled with a new identity, %d device(s) told", a->phone, notified);
	return notified;
}

void
fw_phone_free(struct fw_phone *p)
{
	if (p == NULL)
		return;
	fw_sigstore_free(p->st);
	for (size_t i = 0; i < p->ngot; i++)
		free(p->got[i].text);
	for (size_t i = 0; i < p->nsent; i++)
		wa_node_free(p->sent[i].n);
	explicit_wipe(p, sizeof(*p));
	free(p);
}

void
fw_phone_bundle(struct fw_phone *p, struct wa_signal_bundle *b)
{
	memset(b, 0, sizeof(*b));
	b->registration_id = p->own.registration_id;
	b->device_id = 0;
	b->signed_prekey_id = p->own.signed_prekey_id;
	memcpy(b->signed_prekey_pub, p->spk_pub, 32);
	memcpy(b->signed_prekey_sig, p->own.signed_prekey_sig, 64);
	memcpy(b->identity_pub, p->identity_pub, 32);
	if (p->npool > 0) {
		b->has_prekey = 1;
		b->prekey_id = p->pool[0].id;
		memcpy(b->prekey_pub, p->pool[0].pub, 32);
		memmove(p->pool, p->pool + 1, (p->npool - 1) * sizeof(p->pool[0]));
		p->npool--;
	}
}

void
fw_phone_fail_next(struct fw_phone *p)
{
	p->fail_next = 1;
}

/* Keep one received entry (the oldest goes when full). */
static void
fw_phone_remember(struct fw_phone *p, const char *group, const char *from, const char *id, const char *type,
    const char *text)
{
	struct fw_phone_got *g;

	if (p->ngot == FW_PHONE_RECEIVED_MAX) {
		free(p->got[0].text);
		memmove(p->got, p->got + 1, (p->ngot - 1) * sizeof(p->got[0]));
		p->ngot--;
	}
	g = &p->got[p->ngot++];
	snprintf(g->group, sizeof(g->group), "%s", group != NULL ? group : "");
	snprintf(g->from, sizeof(g->from), "%s", from);
	snprintf(g->id, sizeof(g->id), "%s", id);
	snprintf(g->type, sizeof(g->type), "%s", type);
	g->text = text != NULL ? xstrdup(text) : NULL;
}

void
fw_phone_received_json(const struct fw_phone *p, struct evbuffer *b)
{
	evbuffer_add(b, "[", 1);
	for (size_t i = 0; i < p->ngot; i++) {
		evbuffer_add_printf(b, "%s{\"from\":", i ? "," : "");
		fw_json_string(b, p->got[i].from);
		evbuffer_add_printf(b, ",\"id\":");
		fw_json_string(b, p->got[i].id);
		evbuffer_add_printf(b, ",\"type\":");
		fw_json_string(b, p->got[i].type);
		if (p->got[i].group[0] != '\0') {
			evbuffer_add_printf(b, ",\"group\":");
			fw_json_string(b, p->got[i].group);
		}
		if (p->got[i].text != NULL) {
			evbuffer_add_printf(b, ",\"text\":");
			fw_json_string(b, p->got[i].text);
		}
		evbuffer_add(b, "}", 1);
	}
	evbuffer_add(b, "]", 1);
}

void
fw_phone_receipt_seen(struct fw_phone *p, const char *from, const char *id, const char *type, int keys)
{
	struct fw_phone_got *g;

	if (p->nreceipts == FW_PHONE_RECEIVED_MAX) {
		memmove(p->receipts, p->receipts + 1, (p->nreceipts - 1) * sizeof(p->receipts[0]));
		p->nreceipts--;
	}
	g = &p->receipts[p->nreceipts++];
	snprintf(g->from, sizeof(g->from), "%s", from);
	snprintf(g->id, sizeof(g->id), "%s", id);
	snprintf(g->type, sizeof(g->type), "%s", type != NULL ? type : "");
	g->text = NULL;
	g->keys = keys;
}

void
fw_phone_receipts_json(const struct fw_phone *p, struct evbuffer *b)
{
	evbuffer_add(b, "[", 1);
	for (size_t i = 0; i < p->nreceipts; i++) {
		evbuffer_add_printf(b, "%s{\"from\":", i ? "," : "");
		fw_json_string(b, p->receipts[i].from);
		evbuffer_add_printf(b, ",\"id\":");
		fw_json_string(b, p->receipts[i].id);
		evbuffer_add_printf(b, ",\"type\":");
		fw_json_string(b, p->receipts[i].type);
		evbuffer_add_printf(b, ",\"keys\":%s}", p->receipts[i].keys ? "true" : "false");
	}
	evbuffer_add(b, "]", 1);
}

/* Keep a copy of a stanza of the current send for fw_phone_redeliver. */
static void
fw_phone_keep_sent(struct fw_phone *p, const struct fw_device *d, const struct wa_node *m)
{
	if (p->nsent == FW_PHONE_SENT_MAX)
		return;
	fw_device_jid(d, p->sent[p->nsent].to, sizeof(p->sent[p->nsent].to));
	p->sent[p->nsent++].n = wa_node_clone(m);
}

int
fw_phone_redeliver(struct fw_server *s, struct fw_phone *p)
{
	struct fw_device *d;
	struct wa_jid j;
	int n = 0;

	for (size_t i = 0; i < p->nsent; i++) {
		/* The device may have been removed since: look it up again. */
		if (wa_jid_parse(p->sent[i].to, &j) == -1 ||
		    (d = fw_device_find(&s->accounts, j.user, j.device)) == NULL)
			continue;
		fw_msg_deliver(d, wa_node_clone(p->sent[i].n));
		n++;
	}
	return n;
}

/* A receipt from a's phone about message id, as fw_phone_receipt below; own_chat non-NULL: the message was our
 * own companion's copy (a DeviceSentMessage) of what it sent to own_chat, and a real client answers such a copy
 * with type="sender" recipient=CHAT (wa-session.md 5.3; Baileys' sendReceipt), not with a delivery receipt: the
 * sender must not take its own phone's copy for the recipient's delivery. */
static void
fw_phone_receipt_own(struct fw_phone *p, struct fw_account *a, struct fw_device *to, const char *group,
    const char *id, int retry, const char *own_chat)
{
	struct wa_node *r = wa_node_new("receipt"), *rt;
	uint8_t reg[4];

	if (group != NULL) {
		wa_node_set_attr(r, "from", group);
		wa_node_set_attrf(r, "participant", "%s@s.whatsapp.net", a->phone);
	} else
		wa_node_set_attrf(r, "from", "%s@s.whatsapp.net", a->phone);
	wa_node_set_attr(r, "id", id);
	wa_node_set_attrf(r, "t", "%lld", (long long)time(NULL));
	if (own_chat != NULL && !retry) {
		wa_node_set_attr(r, "type", "sender");
		wa_node_set_attr(r, "recipient", own_chat);
	}
	if (retry) {
		wa_node_set_attr(r, "type", "retry");
		rt = wa_node_add_child(r, wa_node_new("retry"));
		wa_node_set_attr(rt, "count", "1");
		wa_node_set_attr(rt, "id", id);
		wa_node_set_attrf(rt, "t", "%lld", (long long)time(NULL));
		wa_node_set_attr(rt, "v", "1");
		for (int i = 0; i < 4; i++)
			reg[i] = (uint8_t)(p->own.registration_id >> (24 - 8 * i));
		wa_node_set_bytes(wa_node_add_child(r, wa_node_new("registration")), reg, 4);
	}
	fw_msg_deliver(to, r);
}

/* A receipt from a's phone about message id, to the sender device (retry: wa-session.md 5.4); group: the
 * message came from that group (the receipt names the phone as participant). */
static void
fw_phone_receipt(struct fw_phone *p, struct fw_account *a, struct fw_device *to, const char *group, const char *id,
    int retry)
{
	fw_phone_receipt_own(p, a, to, group, id, retry, NULL);
}

void
fw_phone_receive(struct fw_client *c, struct fw_account *a, const struct wa_node *msg, const struct wa_node *enc)
{
	struct fw_phone *p = a->mock;
	const char *id = wa_node_attr(msg, "id"), *etype = wa_node_attr(enc, "type");
	enum wa_signal_type t;
	char addr[64], from[64], err[160], text[FW_TEXT_MAX + 1];
	uint8_t *pt = NULL;
	size_t ptlen = 0, unpadded;
	int rc;

	if (p == NULL || c->dev == NULL)
		return;
	snprintf(addr, sizeof(addr), "%s:%u", c->dev->acct->phone, c->dev->number);
	fw_device_jid(c->dev, from, sizeof(from));
	if (strcmp(etype, "pkmsg") == 0)
		t = WA_SIGNAL_PKMSG;
	else if (strcmp(etype, "msg") == 0)
		t = WA_SIGNAL_MSG;
	else {
		fw_phone_remember(p, NULL, from, id, "unsupported", NULL);
		return;
	}
	if (p->fail_next) {
		/* told to fail: nothing is decrypted, so the sender's session stays where it was */
		p->fail_next = 0;
		fw_phone_remember(p, NULL, from, id, "retry", NULL);
		fw_phone_receipt(p, a, c->dev, NULL, id, 1);
		return;
	}
	rc = FW_SIGSTORE_RUN(p->st, wa_signal_decrypt(p->sig, addr, t, enc->bytes, enc->nbytes, &pt, &ptlen, err,
	    sizeof(err)));
	if (rc != WA_SIGNAL_DONE) {
		log_info("phone of %s: message %s from %s: %s", a->phone, id, from, rc == WA_SIGNAL_NEED ?
		    "records still missing" : err);
		fw_phone_remember(p, NULL, from, id, "undecryptable", NULL);
		if (wa_signal_error(p->sig) != WA_SIGNAL_E_DUPLICATE)
			fw_phone_receipt(p, a, c->dev, NULL, id, 1);
		return;
	}
	if (wa_signal_unpad(pt, ptlen, &unpadded) == -1 || (rc = fw_text_extract(pt, unpadded, text,
	    sizeof(text))) == -1)
		fw_phone_remember(p, NULL, from, id, "invalid", NULL);
	else
		fw_phone_remember(p, NULL, from, id, rc == 1 ? "text" : "other", rc == 1 ? text : NULL);
	free(pt);
	/* our own companion's copy: the chat is the stanza's to= (a user JID; checked by the router) */
	fw_phone_receipt_own(p, a, c->dev, NULL, id, 0, c->dev->acct == a ? wa_node_attr(msg, "to") : NULL);
}

/* Append a protobuf length-delimited field. */
static size_t
fw_phone_pb_field(uint8_t *out, unsigned field, const uint8_t *data, size_t len)
{
	size_t o = 0;
	uint64_t v = (uint64_t)field << 3 | 2;

	for (int k = 0; k < 2; k++) {
		do {
			out[o++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
			v >>= 7;
		} while (v != 0);
		v = len;
	}
	memcpy(out + o, data, len);
	return o + len;
}

/* Message{deviceSentMessage{destinationJID, message}} around an encoded Message (wa-session.md 4.7). */
static uint8_t *
fw_phone_dsm(const char *dest, const uint8_t *inner, size_t innerlen, size_t *outlen)
{
	size_t dl = strlen(dest), n;
	uint8_t *dsm = xmalloc(dl + innerlen + 20), *out = xmalloc(dl + innerlen + 40);

	n = fw_phone_pb_field(dsm, 1, (const uint8_t *)dest, dl);
	n += fw_phone_pb_field(dsm + n, 2, inner, innerlen);
	*outlen = fw_phone_pb_field(out, 31, dsm, n);
	free(dsm);
	return out;
}

/* A session with device (peer, number) from the bundle fakewa holds for it (a companion's registration, or
 * the peer phone's own bundle), unless there is one. 0 or -1. */
static int
fw_phone_session(struct fw_phone *p, struct fw_account *peer, unsigned number, const char *addr)
{
	struct wa_signal_key k = { .kind = WA_SIGNAL_SESSION, .address = addr };
	struct wa_signal_bundle b;
	struct fw_prekey pk;
	struct fw_device *d;
	char err[160];
	int rc;

	if (fw_sigstore_has(p->st, &k))
		return 0;
	memset(&b, 0, sizeof(b));
	if (number == 0) {
		if (peer->mock == NULL)
			return -1;
		fw_phone_bundle(peer->mock, &b);
	} else {
		TAILQ_FOREACH(d, &peer->devices, entry)
			if (d->number == number)
				break;
		if (d == NULL)
			return -1;
		b.registration_id = d->reg.regid;
		b.device_id = d->number;
		if (fw_device_prekey_take(d, &pk) == 0) {
			b.has_prekey = 1;
			b.prekey_id = pk.id;
			memcpy(b.prekey_pub, pk.pub, 32);
		}
		b.signed_prekey_id = d->reg.skey_id;
		memcpy(b.signed_prekey_pub, d->reg.skey_pub, 32);
		memcpy(b.signed_prekey_sig, d->reg.skey_sig, 64);
		memcpy(b.identity_pub, d->reg.identity_pub, 32);
	}
	rc = FW_SIGSTORE_RUN(p->st, wa_signal_session_build(p->sig, addr, &b, err, sizeof(err)));
	if (rc != WA_SIGNAL_DONE) {
		log_info("phone: no session with %s: %s", addr, err);
		return -1;
	}
	return 0;
}

/* <enc v=2 type=pkmsg|msg> of pt (padded here) for device (peer, number), a session built first if needed.
 * NULL on failure. */
static struct wa_node *
fw_phone_encrypt(struct fw_phone *p, struct fw_account *peer, unsigned number, const uint8_t *pt, size_t ptlen)
{
	struct wa_node *e;
	enum wa_signal_type t;
	uint8_t *ct = NULL, *padded = NULL;
	size_t ctlen = 0, plen;
	char addr[64], err[160];
	int rc;

	snprintf(addr, sizeof(addr), "%s:%u", peer->phone, number);
	if (fw_phone_session(p, peer, number, addr) == -1 || wa_signal_pad(pt, ptlen, &padded, &plen) == -1)
		return NULL;
	rc = FW_SIGSTORE_RUN(p->st, wa_signal_encrypt(p->sig, addr, padded, plen, &t, &ct, &ctlen, err, sizeof(err)));
	free(padded);
	if (rc != WA_SIGNAL_DONE) {
		log_info("phone: cannot encrypt for %s: %s", addr, err);
		return NULL;
	}
	e = wa_node_new("enc");
	wa_node_set_attr(e, "v", "2");
	wa_node_set_attr(e, "type", t == WA_SIGNAL_PKMSG ? "pkmsg" : "msg");
	wa_node_set_bytes(e, ct, ctlen);
	free(ct);
	return e;
}

/* Encrypt pt for companion d and deliver it. 0 or -1. */
static int
fw_phone_send_one(struct fw_phone *p, struct fw_account *a, struct fw_device *d, const char *id, const char *chat,
    const uint8_t *pt, size_t ptlen)
{
	struct wa_node *m, *e;

	if ((e = fw_phone_encrypt(p, d->acct, d->number, pt, ptlen)) == NULL)
		return -1;
	m = wa_node_new("message");
	wa_node_set_attrf(m, "from", "%s@s.whatsapp.net", a->phone);
	wa_node_set_attr(m, "id", id);
	wa_node_set_attr(m, "type", "text");
	wa_node_set_attrf(m, "t", "%lld", (long long)time(NULL));
	wa_node_set_attr(m, "notify", a->push_name);
	if (d->acct == a)
		wa_node_set_attr(m, "recipient", chat);
	wa_node_add_child(m, e);
	fw_phone_keep_sent(p, d, m);
	fw_msg_deliver(d, m);
	return 0;
}

int
fw_phone_send(struct fw_server *s, struct fw_account *a, const char *to, const char *text, char *id, size_t idlen,
    char *err, size_t errlen)
{
	struct fw_account *peer;
	struct fw_device *d;
	struct wa_jid j;
	uint8_t *msg, *dsm, rnd[8];
	size_t mlen, dlen;
	char chat[80];
	int sent = 0;

	if (a->mock == NULL) {
		snprintf(err, errlen, "the phone has no Signal keys");
		return -1;
	}
	if (wa_jid_parse(to, &j) == -1 || !wa_jid_is_user(&j) || j.is_ad ||
	    (peer = fw_account_find_user(&s->accounts, j.user)) == NULL) {
		snprintf(err, errlen, "to must be the user JID of an account fakewa knows");
		return -1;
	}
	if (fw_text_encode(text, &msg, &mlen) == -1) {
		snprintf(err, errlen, "text longer than %d bytes", FW_TEXT_MAX);
		return -1;
	}
	snprintf(chat, sizeof(chat), "%s", to);
	fw_account_peer_add(a, peer);
	for (size_t i = 0; i < a->mock->nsent; i++)
		wa_node_free(a->mock->sent[i].n);
	a->mock->nsent = 0;
	random_bytes(rnd, sizeof(rnd));
	snprintf(id, idlen, "3EB0%02X%02X%02X%02X%02X%02X%02X%02X", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5],
	    rnd[6], rnd[7]);
	TAILQ_FOREACH(d, &peer->devices, entry)
		sent += fw_phone_send_one(a->mock, a, d, id, chat, msg, mlen) == 0;
	if (peer != a) {
		/* the sender's own companions get a copy wrapped in DeviceSentMessage */
		dsm = fw_phone_dsm(chat, msg, mlen, &dlen);
		TAILQ_FOREACH(d, &a->devices, entry)
			sent += fw_phone_send_one(a->mock, a, d, id, chat, dsm, dlen) == 0;
		free(dsm);
	}
	free(msg);
	log_info("phone of %s: message %s to %s for %d device(s)", a->phone, id, to, sent);
	return 0;
}

int
fw_phone_peer_send(struct fw_account *a, const uint8_t *pt, size_t ptlen, char *id, size_t idlen)
{
	struct fw_device *d;
	struct wa_node *m, *e;
	uint8_t rnd[8];
	int sent = 0;

	if (a->mock == NULL)
		return -1;
	random_bytes(rnd, sizeof(rnd));
	snprintf(id, idlen, "3EB0%02X%02X%02X%02X%02X%02X%02X%02X", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5],
	    rnd[6], rnd[7]);
	TAILQ_FOREACH(d, &a->devices, entry) {
		if ((e = fw_phone_encrypt(a->mock, a, d->number, pt, ptlen)) == NULL)
			continue;
		/* a peer message names no chat: no recipient, no participant, no DeviceSentMessage around it */
		m = wa_node_new("message");
		wa_node_set_attrf(m, "from", "%s@s.whatsapp.net", a->phone);
		wa_node_set_attr(m, "id", id);
		wa_node_set_attr(m, "type", "text");
		wa_node_set_attr(m, "category", "peer");
		wa_node_set_attrf(m, "t", "%lld", (long long)time(NULL));
		wa_node_add_child(m, e);
		fw_msg_deliver(d, m);
		sent++;
	}
	log_info("phone of %s: peer message %s (%zu bytes) for %d companion(s)", a->phone, id, ptlen, sent);
	return sent;
}

/* Has the device at addr got the phone's sender key of group? */
static int
fw_phone_skdm_has(const struct fw_phone *p, const char *group, const char *addr)
{
	for (size_t i = 0; i < p->nskdm; i++)
		if (strcmp(p->skdm[i].group, group) == 0 && strcmp(p->skdm[i].addr, addr) == 0)
			return 1;
	return 0;
}

static void
fw_phone_skdm_mark(struct fw_phone *p, const char *group, const char *addr)
{
	/* full: forget everything, so the key is sent again (a repeated distribution is harmless) */
	if (p->nskdm == FW_PHONE_SKDM_MAX)
		p->nskdm = 0;
	snprintf(p->skdm[p->nskdm].group, sizeof(p->skdm[0].group), "%s", group);
	snprintf(p->skdm[p->nskdm].addr, sizeof(p->skdm[0].addr), "%s", addr);
	p->nskdm++;
}

/* One decrypted pairwise plaintext of a group message: store the sender key distribution it carries, and
 * copy its text if it has one. 1 text found, 0 none, -1 invalid. */
static int
fw_phone_group_pairwise(struct fw_phone *p, const char *group, const char *addr, const uint8_t *pt, size_t len,
    char *text, size_t textlen)
{
	Wa__Message *msg;
	Wa__SenderKeyDistributionMessage *d;
	char err[160];
	int rc = 0;

	if ((msg = wa__message__unpack(NULL, len, pt)) == NULL)
		return -1;
	d = msg->senderkeydistributionmessage;
	if (d != NULL && d->has_axolotlsenderkeydistributionmessage &&
	    FW_SIGSTORE_RUN(p->st, wa_signal_group_process(p->sig, group, addr,
	    d->axolotlsenderkeydistributionmessage.data, d->axolotlsenderkeydistributionmessage.len, err,
	    sizeof(err))) != WA_SIGNAL_DONE) {
		log_info("phone: sender key of %s in %s refused: %s", addr, group, err);
		rc = -1;
	}
	wa__message__free_unpacked(msg, NULL);
	if (rc == 0)
		rc = fw_text_extract(pt, len, text, textlen);
	return rc;
}

void
fw_phone_group_receive(struct fw_server *s, struct fw_account *a, const struct wa_node *m)
{
	struct fw_phone *p = a->mock;
	const char *group = wa_node_attr(m, "from"), *part = wa_node_attr(m, "participant"),
	    *id = wa_node_attr(m, "id"), *result = "other", *t;
	struct fw_account *sa;
	struct fw_device *sd = NULL;
	struct wa_jid j;
	char addr[WA_JID_USER_MAX + 16], err[160], text[FW_TEXT_MAX + 1] = "";
	uint8_t *pt;
	size_t ptlen, unpadded;
	int rc, found = 0, retry = 0;

	if (p == NULL || group == NULL || part == NULL || id == NULL || wa_jid_parse(part, &j) == -1 ||
	    !wa_jid_is_user(&j))
		return;
	snprintf(addr, sizeof(addr), "%s:%u", j.user, j.device);
	if ((sa = fw_account_find_user(&s->accounts, j.user)) != NULL)
		TAILQ_FOREACH(sd, &sa->devices, entry)
			if (sd->number == j.device)
				break;
	if (p->fail_next) {
		p->fail_next = 0;
		fw_phone_remember(p, group, part, id, "retry", NULL);
		if (sd != NULL)
			fw_phone_receipt(p, a, sd, group, id, 1);
		return;
	}
	/* in document order: the pairwise enc carries the sender key the skmsg after it needs */
	for (size_t i = 0; m->ctype == WA_CONTENT_NODES && i < m->nchildren && !retry; i++) {
		const struct wa_node *e = m->children[i];
		if (strcmp(e->tag, "enc") != 0 || e->ctype != WA_CONTENT_BYTES || (t = wa_node_attr(e, "type")) == NULL)
			continue;
		pt = NULL;
		if (strcmp(t, "pkmsg") == 0 || strcmp(t, "msg") == 0)
			rc = FW_SIGSTORE_RUN(p->st, wa_signal_decrypt(p->sig, addr, strcmp(t, "pkmsg") == 0 ?
			    WA_SIGNAL_PKMSG : WA_SIGNAL_MSG, e->bytes, e->nbytes, &pt, &ptlen, err, sizeof(err)));
		else if (strcmp(t, "skmsg") == 0)
			rc = FW_SIGSTORE_RUN(p->st, wa_signal_group_decrypt(p->sig, group, addr, e->bytes, e->nbytes, &pt,
			    &ptlen, err, sizeof(err)));
		else {
			result = "unsupported";
			continue;
		}
		if (rc != WA_SIGNAL_DONE) {
			log_info("phone of %s: %s %s in %s from %s: %s", a->phone, t, id, group, addr, err);
			result = "undecryptable";
			retry = wa_signal_error(p->sig) != WA_SIGNAL_E_DUPLICATE;
			continue;
		}
		if (wa_signal_unpad(pt, ptlen, &unpadded) == -1)
			rc = -1;
		else if (strcmp(t, "skmsg") == 0)
			rc = fw_text_extract(pt, unpadded, text, sizeof(text));
		else
			rc = fw_phone_group_pairwise(p, group, addr, pt, unpadded, text, sizeof(text));
		free(pt);
		if (rc == -1)
			result = "invalid";
		found |= rc == 1;
	}
	fw_phone_remember(p, group, part, id, found ? "text" : result, found ? text : NULL);
	if (sd != NULL)
		fw_phone_receipt(p, a, sd, group, id, retry && !found);
}

/* Message{senderKeyDistributionMessage{groupId, axolotl...}} of the phone's sender key for group (created if
 * it has none). malloc'd, NULL on failure. */
static uint8_t *
fw_phone_group_dist(struct fw_phone *p, const char *group, const char *own, size_t *len)
{
	Wa__Message msg = WA__MESSAGE__INIT;
	Wa__SenderKeyDistributionMessage d = WA__SENDER_KEY_DISTRIBUTION_MESSAGE__INIT;
	uint8_t *skdm = NULL, *out;
	size_t skdmlen = 0;
	char err[160];

	if (FW_SIGSTORE_RUN(p->st, wa_signal_group_create(p->sig, group, own, &skdm, &skdmlen, err,
	    sizeof(err))) != WA_SIGNAL_DONE) {
		log_info("phone: no sender key for %s: %s", group, err);
		return NULL;
	}
	d.groupid = (char *)group;
	d.has_axolotlsenderkeydistributionmessage = 1;
	d.axolotlsenderkeydistributionmessage.data = skdm;
	d.axolotlsenderkeydistributionmessage.len = skdmlen;
	msg.senderkeydistributionmessage = &d;
	*len = wa__message__get_packed_size(&msg);
	out = xmalloc(*len > 0 ? *len : 1);
	wa__message__pack(&msg, out);
	free(skdm);
	return out;
}

/* The skmsg <enc> of text from the phone's sender key for group. NULL on failure. */
static struct wa_node *
fw_phone_group_skmsg(struct fw_phone *p, const char *group, const char *own, const uint8_t *msg, size_t mlen)
{
	struct wa_node *e;
	uint8_t *padded, *ct = NULL;
	size_t plen, ctlen = 0;
	char err[160];
	int rc;

	if (wa_signal_pad(msg, mlen, &padded, &plen) == -1)
		return NULL;
	rc = FW_SIGSTORE_RUN(p->st, wa_signal_group_encrypt(p->sig, group, own, padded, plen, &ct, &ctlen, err,
	    sizeof(err)));
	free(padded);
	if (rc != WA_SIGNAL_DONE) {
		log_info("phone: cannot encrypt for group %s: %s", group, err);
		return NULL;
	}
	e = wa_node_new("enc");
	wa_node_set_attr(e, "v", "2");
	wa_node_set_attr(e, "type", "skmsg");
	wa_node_set_bytes(e, ct, ctlen);
	free(ct);
	return e;
}

/* The group stanza device (peer, number) gets from a's phone: its sender key (if it lacks it), the skmsg. */
static struct wa_node *
fw_phone_group_stanza(struct fw_phone *p, struct fw_account *a, const struct fw_group *g, struct fw_account *peer,
    unsigned number, const char *id, const uint8_t *dist, size_t distlen, const struct wa_node *sk)
{
	struct wa_node *m = wa_node_new("message"), *pw;
	char addr[64];

	wa_node_set_attr(m, "from", g->jid);
	wa_node_set_attrf(m, "participant", "%s@s.whatsapp.net", a->phone);
	wa_node_set_attrf(m, "participant_lid", "%s@lid", a->lid);
	wa_node_set_attr(m, "addressing_mode", "pn");
	wa_node_set_attr(m, "id", id);
	wa_node_set_attr(m, "type", "text");
	wa_node_set_attrf(m, "t", "%lld", (long long)time(NULL));
	wa_node_set_attr(m, "notify", a->push_name);
	snprintf(addr, sizeof(addr), "%s:%u", peer->phone, number);
	if (!fw_phone_skdm_has(p, g->jid, addr) && (pw = fw_phone_encrypt(p, peer, number, dist, distlen)) != NULL) {
		wa_node_add_child(m, pw);
		fw_phone_skdm_mark(p, g->jid, addr);
	}
	wa_node_add_child(m, wa_node_clone(sk));
	return m;
}

int
fw_phone_group_send(struct fw_server *s, struct fw_account *a, const char *group, const char *text, char *id,
    size_t idlen, char *err, size_t errlen)
{
	struct fw_phone *p = a->mock;
	struct fw_group *g = fw_group_find(s->groups, group);
	struct fw_account *peer;
	struct fw_device *d;
	struct wa_node *sk = NULL, *m;
	uint8_t *msg = NULL, *dist = NULL, rnd[8];
	size_t mlen, distlen;
	char own[64];
	int sent = 0;

	if (p == NULL || g == NULL || !fw_group_is_member(g, a)) {
		snprintf(err, errlen, p == NULL ? "the phone has no Signal keys" : "no such group, or not a member");
		return -1;
	}
	if (fw_text_encode(text, &msg, &mlen) == -1) {
		snprintf(err, errlen, "text longer than %d bytes", FW_TEXT_MAX);
		return -1;
	}
	snprintf(own, sizeof(own), "%s:0", a->phone);
	if ((dist = fw_phone_group_dist(p, g->jid, own, &distlen)) == NULL ||
	    (sk = fw_phone_group_skmsg(p, g->jid, own, msg, mlen)) == NULL) {
		free(msg);
		free(dist);
		snprintf(err, errlen, "group encryption failed");
		return -1;
	}
	random_bytes(rnd, sizeof(rnd));
	snprintf(id, idlen, "3EB0%02X%02X%02X%02X%02X%02X%02X%02X", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5],
	    rnd[6], rnd[7]);
	for (size_t i = 0; i < g->nmembers; i++) {
		peer = g->members[i];
		if (peer != a && peer->mock != NULL) {
			m = fw_phone_group_stanza(p, a, g, peer, 0, id, dist, distlen, sk);
			fw_phone_group_receive(s, peer, m);
			wa_node_free(m);
			sent++;
		}
		TAILQ_FOREACH(d, &peer->devices, entry) {
			fw_msg_deliver(d, fw_phone_group_stanza(p, a, g, peer, d->number, id, dist, distlen, sk));
			sent++;
		}
	}
	wa_node_free(sk);
	free(msg);
	free(dist);
	log_info("phone of %s: group message %s to %s for %d device(s)", a->phone, id, g->jid, sent);
	return 0;
}

int
fw_phone_send_receipt(struct fw_server *s, struct fw_account *a, const char *to, const char *type,
    const char *const *ids, size_t nids, char *err, size_t errlen)
{
	struct fw_account *peer;
	struct fw_device *d;
	struct wa_node *r, *list;
	struct wa_jid j;

	if (wa_jid_parse(to, &j) == -1 || !wa_jid_is_user(&j) || j.is_ad ||
	    (peer = fw_account_find_user(&s->accounts, j.user)) == NULL) {
		snprintf(err, errlen, "to must be the user JID of an account fakewa knows");
		return -1;
	}
	if (nids == 0 || nids > 16) {
		snprintf(err, errlen, "1..16 ids");
		return -1;
	}
	TAILQ_FOREACH(d, &peer->devices, entry) {
		r = wa_node_new("receipt");
		wa_node_set_attrf(r, "from", "%s@s.whatsapp.net", a->phone);
		wa_node_set_attr(r, "id", ids[0]);
		if (type != NULL && *type != '\0')
			wa_node_set_attr(r, "type", type);
		wa_node_set_attrf(r, "t", "%lld", (long long)time(NULL));
		if (nids > 1) {
			list = wa_node_add_child(r, wa_node_new("list"));
			for (size_t i = 1; i < nids; i++)
				wa_node_set_attr(wa_node_add_child(list, wa_node_new("item")), "id", ids[i]);
		}
		fw_msg_deliver(d, r);
	}
	return 0;
}
