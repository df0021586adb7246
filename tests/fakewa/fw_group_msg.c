/* Group messages and their receipts (see fw_group.h; wa-session.md 4.8-4.11, 5.1, 6.6). A group send carries
 * one <enc type="skmsg"> for every member device and, in <participants>, a pairwise pkmsg/msg for each device
 * that still lacks the sender's key distribution. Every member device but the sending one gets
 * <message from=GROUP participant=SENDER_DEVICE addressing_mode=pn> with its own pairwise <enc> first (if there
 * was one for it) and the skmsg after it, the order it must decrypt them in. A retry resend for one device is
 * <message to=GROUP participant=DEVICE> with one pairwise <enc>: only that device gets it.
 *
 * phash: a missing one is fine; one that differs from whatsmeow's form over the member devices fakewa knows
 * (fw_group_phash) is accepted too, and the ack carries fakewa's value, as the real server's ack does: whatsmeow
 * then drops its device cache for the group. No error is answered for it. */
#include "fw_group.h"

#include "fakewa_client.h"
#include "fw_account.h"
#include "fw_msg.h"
#include "fw_phone_signal.h"

#include "log.h"
#include "wa_jid.h"
#include "wa_node.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One pairwise <enc> of a group send: the device and the bytes for it. */
struct fw_gm_to {
	struct fw_account *acct;
	unsigned device;
	const struct wa_node *enc;
};

/* A pkmsg/msg <enc> with bytes, or 0. */
static int
fw_gm_pairwise(const struct wa_node *e)
{
	const char *t = wa_node_attr(e, "type");

	return strcmp(e->tag, "enc") == 0 && e->ctype == WA_CONTENT_BYTES && e->nbytes > 0 && t != NULL &&
	    (strcmp(t, "pkmsg") == 0 || strcmp(t, "msg") == 0);
}

/* A member device named by jid: 0 with *to filled, or -1. */
static int
fw_gm_device(struct fw_client *c, const struct fw_group *g, const char *jid, struct fw_gm_to *to)
{
	struct wa_jid j;

	if (jid == NULL || wa_jid_parse(jid, &j) == -1 || !wa_jid_is_user(&j) ||
	    (to->acct = fw_account_find_user(&c->s->accounts, j.user)) == NULL || !fw_group_is_member(g, to->acct))
		return -1;
	to->device = j.device;
	return 0;
}

/* Check a group <message>: NULL with the skmsg (or NULL) and the pairwise encs (*tv malloc'd), or the reason it
 * is refused. */
static const char *
fw_gm_parse(struct fw_client *c, const struct fw_group *g, const struct wa_node *m, const struct wa_node **sk,
    struct fw_gm_to **tv, size_t *tn)
{
	const struct wa_node *parts = NULL, *e;
	const char *id = wa_node_attr(m, "id"), *type = wa_node_attr(m, "type"), *one = wa_node_attr(m, "participant");
	struct fw_gm_to *v;
	size_t n = 0, nenc = 0;

	*sk = NULL;
	*tv = NULL;
	*tn = 0;
	if (id == NULL || *id == '\0' || strlen(id) > FW_MSG_ID_MAX)
		return "missing or oversized id";
	if (type == NULL || *type == '\0')
		return "missing type";
	if (!fw_group_is_member(g, c->dev->acct))
		return "the sender is no member of the group";
	for (size_t i = 0; m->ctype == WA_CONTENT_NODES && i < m->nchildren; i++) {
		e = m->children[i];
		if (strcmp(e->tag, "participants") == 0) {
			if (parts != NULL)
				return "two <participants>";
			parts = e;
		} else if (strcmp(e->tag, "enc") == 0) {
			const char *t = wa_node_attr(e, "type");
			if (nenc++ > 0 || e->ctype != WA_CONTENT_BYTES || e->nbytes == 0 || t == NULL)
				return "one <enc> with bytes at most";
			if (strcmp(t, "skmsg") == 0)
				*sk = e;
			else if (one == NULL || !fw_gm_pairwise(e))
				return "a group <enc> must be skmsg (pkmsg/msg only with participant=)";
		}
	}
	if (one != NULL) {
		/* a resend to one device: its pairwise <enc> and nothing else */
		if (parts != NULL || *sk != NULL || nenc != 1)
			return "participant= needs exactly one pkmsg/msg <enc>";
		v = xcalloc(1, sizeof(*v));
		if (fw_gm_device(c, g, one, v) == -1) {
			free(v);
			return "participant= is no member device";
		}
		for (size_t i = 0; i < m->nchildren; i++)
			if (strcmp(m->children[i]->tag, "enc") == 0)
				v->enc = m->children[i];
		*tv = v;
		*tn = 1;
		return NULL;
	}
	if (*sk == NULL)
		return "a group message needs an skmsg <enc>";
	if (parts == NULL)
		return NULL;
	if (parts->ctype != WA_CONTENT_NODES || parts->nchildren == 0 || parts->nchildren > FW_MSG_TO_MAX)
		return "<participants> must hold 1..1024 <to>";
	v = xcalloc(parts->nchildren, sizeof(*v));
	for (size_t i = 0; i < parts->nchildren; i++) {
		const struct wa_node *to = parts->children[i];
		if (strcmp(to->tag, "to") != 0 || fw_gm_device(c, g, wa_node_attr(to, "jid"), &v[n]) == -1 ||
		    to->ctype != WA_CONTENT_NODES || to->nchildren != 1 || !fw_gm_pairwise(to->children[0])) {
			free(v);
			return "bad <to>: needs a member device jid and one pkmsg/msg <enc>";
		}
		v[n++].enc = to->children[0];
	}
	*tv = v;
	*tn = n;
	return NULL;
}

/* The stanza member device (acct, device) receives: its pairwise <enc> (if any), then the skmsg (if any). */
static struct wa_node *
fw_gm_build(struct fw_client *c, const struct fw_group *g, const struct wa_node *m, const struct wa_node *pw,
    const struct wa_node *sk)
{
	struct wa_node *out = wa_node_new("message");
	const struct wa_node *di = wa_node_child(m, "device-identity");
	static const char *copy[] = { "id", "type", "edit", "category" };
	char pn[64], lid[64];

	fw_device_jid(c->dev, pn, sizeof(pn));
	fw_device_lid(c->dev, lid, sizeof(lid));
	wa_node_set_attr(out, "from", g->jid);
	wa_node_set_attr(out, "participant", pn);
	wa_node_set_attr(out, "participant_lid", lid);
	wa_node_set_attr(out, "addressing_mode", "pn");
	for (size_t i = 0; i < sizeof(copy) / sizeof(copy[0]); i++)
		if (wa_node_attr(m, copy[i]) != NULL)
			wa_node_set_attr(out, copy[i], wa_node_attr(m, copy[i]));
	wa_node_set_attrf(out, "t", "%lld", (long long)time(NULL));
	wa_node_set_attr(out, "notify", c->dev->acct->push_name);
	if (pw != NULL)
		wa_node_add_child(out, wa_node_clone(pw));
	if (sk != NULL)
		wa_node_add_child(out, wa_node_clone(sk));
	if (pw != NULL && di != NULL)
		wa_node_add_child(out, wa_node_clone(di));
	return out;
}

/* <ack class=message> for a group send, with fakewa's phash when the sender's differs. */
static void
fw_gm_ack(struct fw_client *c, const struct fw_group *g, const struct wa_node *m, const char *error)
{
	const char *theirs = wa_node_attr(m, "phash");
	struct wa_node *a = wa_node_new("ack");
	char ours[32];

	wa_node_set_attr(a, "class", "message");
	wa_node_set_attr(a, "id", wa_node_attr(m, "id"));
	wa_node_set_attr(a, "from", wa_node_attr(m, "to"));
	if (error != NULL)
		wa_node_set_attr(a, "error", error);
	if (g != NULL && error == NULL && theirs != NULL) {
		fw_group_phash(g, ours, sizeof(ours));
		if (strcmp(theirs, ours) != 0) {
			log_info("client %u: message %s to %s: phash %s, fakewa has %s", c->id,
			    wa_node_attr(m, "id"), g->jid, theirs, ours);
			wa_node_set_attr(a, "phash", ours);
		}
	}
	wa_node_set_attrf(a, "t", "%lld", (long long)time(NULL));
	fw_client_send(c, a);
	wa_node_free(a);
}

/* The pairwise <enc> for (acct, device) among tv, or NULL. */
static const struct wa_node *
fw_gm_enc_for(const struct fw_gm_to *tv, size_t tn, const struct fw_account *a, unsigned device)
{
	for (size_t i = 0; i < tn; i++)
		if (tv[i].acct == a && tv[i].device == device)
			return tv[i].enc;
	return NULL;
}

void
fw_group_msg_handle(struct fw_client *c, const struct wa_node *m)
{
	const char *id = wa_node_attr(m, "id"), *why;
	struct fw_group *g = fw_group_find(c->s->groups, wa_node_attr(m, "to"));
	const struct wa_node *sk, *pw;
	struct fw_gm_to *tv = NULL;
	struct fw_account *a;
	struct fw_device *d;
	size_t tn = 0, delivered = 0;
	struct wa_node *out;

	why = g == NULL ? "no such group" : fw_gm_parse(c, g, m, &sk, &tv, &tn);
	if (why != NULL) {
		log_info("client %u (%s): group message %s refused: %s", c->id, c->jid, id ? id : "-", why);
		if (id != NULL && strlen(id) <= FW_MSG_ID_MAX)
			fw_gm_ack(c, NULL, m, "479");
		return;
	}
	fw_gm_ack(c, g, m, NULL);
	for (size_t i = 0; i < g->nmembers; i++) {
		a = g->members[i];
		/* the phone (device 0) first, then each companion; never the sending device */
		if (!(a == c->dev->acct && c->dev->number == 0) && a->mock != NULL &&
		    ((pw = fw_gm_enc_for(tv, tn, a, 0)) != NULL || sk != NULL)) {
			out = fw_gm_build(c, g, m, pw, sk);
			fw_phone_group_receive(c->s, a, out);
			wa_node_free(out);
			delivered++;
		}
		TAILQ_FOREACH(d, &a->devices, entry) {
			if (d == c->dev || ((pw = fw_gm_enc_for(tv, tn, a, d->number)) == NULL && sk == NULL))
				continue;
			fw_msg_deliver(d, fw_gm_build(c, g, m, pw, sk));
			delivered++;
		}
	}
	log_debug("client %u (%s): group message %s to %s routed to %zu device(s)", c->id, c->jid, id, g->jid,
	    delivered);
	free(tv);
}

int
fw_group_receipt(struct fw_client *c, const struct wa_node *r)
{
	const char *id = wa_node_attr(r, "id"), *to = wa_node_attr(r, "to"), *type = wa_node_attr(r, "type"),
	    *part = wa_node_attr(r, "participant");
	struct fw_account *a;
	struct fw_device *d;
	struct wa_node *out, *ack;
	struct wa_jid j;
	char from[64];

	if (!fw_group_jid_is(to))
		return -1;
	ack = wa_node_new("ack");
	wa_node_set_attr(ack, "class", "receipt");
	wa_node_set_attr(ack, "id", id);
	wa_node_set_attr(ack, "from", to);
	if (type != NULL)
		wa_node_set_attr(ack, "type", type);
	wa_node_set_attrf(ack, "t", "%lld", (long long)time(NULL));
	fw_client_send(c, ack);
	wa_node_free(ack);
	/* participant names the author's device; a phone (device 0) keeps no receipts */
	if (fw_group_find(c->s->groups, to) == NULL || part == NULL || wa_jid_parse(part, &j) == -1 ||
	    !wa_jid_is_user(&j) || (a = fw_account_find_user(&c->s->accounts, j.user)) == NULL) {
		log_debug("client %u: group receipt %s: nobody to forward it to", c->id, id);
		return 0;
	}
	fw_device_jid(c->dev, from, sizeof(from));
	TAILQ_FOREACH(d, &a->devices, entry) {
		if (d == c->dev || d->number != j.device)
			continue;
		out = wa_node_new("receipt");
		wa_node_set_attr(out, "from", to);
		wa_node_set_attr(out, "participant", from);
		wa_node_set_attr(out, "id", id);
		if (type != NULL)
			wa_node_set_attr(out, "type", type);
		wa_node_set_attrf(out, "t", "%lld", (long long)time(NULL));
		fw_msg_deliver(d, out);
	}
	return 0;
}
