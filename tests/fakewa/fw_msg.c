/* Message and receipt routing between devices (see fw_msg.h). */
#include "fw_msg.h"

#include "fakewa_client.h"
#include "fw_account.h"
#include "fw_group.h"
#include "fw_phone_signal.h"

#include "log.h"
#include "wa_jid.h"
#include "wa_node.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A device's queue (d->queue, oldest first) holds stanzas waiting for its next login (sent 0, counted in
 * d->nqueued) and messages it was sent but has not receipted yet (sent 1, at most FW_MSG_INFLIGHT_MAX). A real
 * server keeps a message until the device confirms it: a client that dies between reading a message and its
 * receipt (a kill -9) gets it again, offline="1", at its next login. */
struct fw_queued {
	struct wa_node *n;
	int sent;
	TAILQ_ENTRY(fw_queued) entry;
};

/* One addressed device of a <message>: where it goes and the <enc> for it. */
struct fw_msg_target {
	struct fw_account *acct;
	unsigned device;
	int lid;				/* addressed by LID: the sender is named by its LID too */
	const struct wa_node *enc;
};

void
fw_msg_queue_clear(struct fw_device *d)
{
	struct fw_queued *q;

	while ((q = TAILQ_FIRST(&d->queue)) != NULL) {
		TAILQ_REMOVE(&d->queue, q, entry);
		wa_node_free(q->n);
		free(q);
	}
	d->nqueued = 0;
}

/* The oldest entry of d's queue with this sent flag, and how many there are. */
static struct fw_queued *
fw_msg_oldest(struct fw_device *d, int sent, size_t *count)
{
	struct fw_queued *q, *first = NULL;

	*count = 0;
	TAILQ_FOREACH(q, &d->queue, entry)
		if (q->sent == sent && (*count)++ == 0)
			first = q;
	return first;
}

/* Drop one entry of d's queue (not counted in nqueued when sent). */
static void
fw_msg_drop(struct fw_device *d, struct fw_queued *q)
{
	TAILQ_REMOVE(&d->queue, q, entry);
	if (!q->sent)
		d->nqueued--;
	wa_node_free(q->n);
	free(q);
}

void
fw_msg_deliver(struct fw_device *d, struct wa_node *n)
{
	struct fw_queued *q;
	size_t count;
	char jid[64];
	int online = d->client != NULL && !d->client->dead;

	if (online && strcmp(n->tag, "message") != 0) {
		fw_client_send(d->client, n);
		wa_node_free(n);
		return;
	}
	/* A device that never comes back (or never receipts) must not hold memory without limit: the oldest
	 * stanza of the same kind goes. */
	if (online && (q = fw_msg_oldest(d, 1, &count)) != NULL && count >= FW_MSG_INFLIGHT_MAX) {
		fw_device_jid(d, jid, sizeof(jid));
		log_info("%s never receipted %zu messages: forgetting %s", jid, count, wa_node_attr(q->n, "id"));
		fw_msg_drop(d, q);
	}
	if (!online && d->nqueued >= FW_MSG_QUEUE_MAX && (q = fw_msg_oldest(d, 0, &count)) != NULL) {
		fw_device_jid(d, jid, sizeof(jid));
		log_info("queue of %s full: dropping %s %s", jid, q->n->tag, wa_node_attr(q->n, "id"));
		fw_msg_drop(d, q);
	}
	if (online)
		fw_client_send(d->client, n);
	q = xcalloc(1, sizeof(*q));
	q->n = n;
	q->sent = online;
	TAILQ_INSERT_TAIL(&d->queue, q, entry);
	if (!online)
		d->nqueued++;
}

/* Device d receipted message id: it is no longer kept for redelivery. */
static void
fw_msg_receipted(struct fw_device *d, const char *id)
{
	struct fw_queued *q;

	TAILQ_FOREACH(q, &d->queue, entry)
		if (q->sent && strcmp(q->n->tag, "message") == 0 && wa_node_attr(q->n, "id") != NULL &&
		    strcmp(wa_node_attr(q->n, "id"), id) == 0) {
			fw_msg_drop(d, q);
			return;
		}
}

void
fw_msg_login(struct fw_client *c)
{
	struct fw_device *d = c->dev;
	struct fw_queued *q, *next;
	struct wa_node *ib, *off;
	unsigned count = 0;

	/* Oldest first: messages sent to an earlier connection and never receipted, then what was queued. A
	 * message stays (sent) until it is receipted; anything else is done once sent. */
	for (q = d != NULL ? TAILQ_FIRST(&d->queue) : NULL; q != NULL; q = next) {
		next = TAILQ_NEXT(q, entry);
		wa_node_set_attr(q->n, "offline", "1");
		fw_client_send(c, q->n);
		count++;
		if (strcmp(q->n->tag, "message") != 0)
			fw_msg_drop(d, q);
		else if (!q->sent) {
			q->sent = 1;
			d->nqueued--;
		}
	}
	/* Sent with count 0 too: Baileys holds its event buffer until this marker arrives. */
	ib = wa_node_new("ib");
	wa_node_set_attr(ib, "from", "s.whatsapp.net");
	off = wa_node_add_child(ib, wa_node_new("offline"));
	wa_node_set_attrf(off, "count", "%u", count);
	fw_client_send(c, ib);
	wa_node_free(ib);
}

/* <ack class=... id from [type] [error] t/> to c. */
static void
fw_msg_ack(struct fw_client *c, const char *class, const char *id, const char *from, const char *type,
    const char *error)
{
	struct wa_node *a = wa_node_new("ack");

	wa_node_set_attr(a, "class", class);
	wa_node_set_attr(a, "id", id);
	wa_node_set_attr(a, "from", from != NULL ? from : "s.whatsapp.net");
	if (type != NULL)
		wa_node_set_attr(a, "type", type);
	if (error != NULL)
		wa_node_set_attr(a, "error", error);
	wa_node_set_attrf(a, "t", "%lld", (long long)time(NULL));
	fw_client_send(c, a);
	wa_node_free(a);
}

/* Resolve a device JID to (account, device number). 0, or -1 if it is no user JID of a known account. */
static int
fw_msg_resolve(struct fw_client *c, const char *jid, struct fw_msg_target *t)
{
	struct wa_jid j;

	if (jid == NULL || wa_jid_parse(jid, &j) == -1 || !wa_jid_is_user(&j) ||
	    (t->acct = fw_account_find_user(&c->s->accounts, j.user)) == NULL)
		return -1;
	t->device = j.device;
	t->lid = strcmp(j.server, WA_SERVER_LID) == 0;
	return 0;
}

/* The enc child of n when it is the only child and carries bytes, else NULL. */
static const struct wa_node *
fw_msg_single_enc(const struct wa_node *n)
{
	const struct wa_node *e;

	if (n->ctype != WA_CONTENT_NODES || n->nchildren != 1)
		return NULL;
	e = n->children[0];
	if (strcmp(e->tag, "enc") != 0 || e->ctype != WA_CONTENT_BYTES || wa_node_attr(e, "type") == NULL)
		return NULL;
	return e;
}

/* Check a <message> and list its targets (*tv malloc'd). NULL, or the reason it is refused. */
static const char *
fw_msg_parse(struct fw_client *c, const struct wa_node *m, struct fw_msg_target **tv, size_t *tn)
{
	const char *id = wa_node_attr(m, "id"), *type = wa_node_attr(m, "type");
	const struct wa_node *parts = wa_node_child(m, "participants"), *enc = wa_node_child(m, "enc");
	struct fw_msg_target chat, *v;
	size_t n = 0;

	*tv = NULL;
	*tn = 0;
	if (id == NULL || *id == '\0' || strlen(id) > FW_MSG_ID_MAX)
		return "missing or oversized id";
	if (type == NULL || *type == '\0')
		return "missing type";
	if (fw_msg_resolve(c, wa_node_attr(m, "to"), &chat) == -1)
		return "to is no user JID fakewa knows";
	if ((parts == NULL) == (enc == NULL))
		return "needs either <participants> or one <enc>";
	if (enc != NULL) {
		if (wa_node_count_children(m, "enc") != 1 || enc->ctype != WA_CONTENT_BYTES ||
		    wa_node_attr(enc, "type") == NULL)
			return "bad <enc>";
		/* a single enc goes to the device named by to (the phone when to is a bare user JID) */
		v = xcalloc(1, sizeof(*v));
		*v = chat;
		v->enc = enc;
		*tv = v;
		*tn = 1;
		return NULL;
	}
	if (parts->ctype != WA_CONTENT_NODES || parts->nchildren == 0 || parts->nchildren > FW_MSG_TO_MAX)
		return "<participants> must hold 1..1024 <to>";
	v = xcalloc(parts->nchildren, sizeof(*v));
	for (size_t i = 0; i < parts->nchildren; i++) {
		const struct wa_node *to = parts->children[i];
		if (strcmp(to->tag, "to") != 0 || fw_msg_resolve(c, wa_node_attr(to, "jid"), &v[n]) == -1 ||
		    (v[n].enc = fw_msg_single_enc(to)) == NULL) {
			free(v);
			return "bad <to>: needs a known device jid and one <enc>";
		}
		/* a 1:1 message only reaches the chat's devices and the sender's own */
		if (v[n].acct != chat.acct && v[n].acct != c->dev->acct) {
			free(v);
			return "<to> outside the chat and the sender's account";
		}
		n++;
	}
	*tv = v;
	*tn = n;
	return NULL;
}

/* The stanza device t receives (wa-session.md 4.11 point 2). */
static struct wa_node *
fw_msg_build(struct fw_client *c, const struct wa_node *m, const struct fw_msg_target *t)
{
	struct wa_node *out = wa_node_new("message");
	const struct wa_node *di = wa_node_child(m, "device-identity");
	static const char *copy[] = { "id", "type", "category", "edit" };
	char pn[64], lid[64];

	fw_device_jid(c->dev, pn, sizeof(pn));
	fw_device_lid(c->dev, lid, sizeof(lid));
	wa_node_set_attr(out, "from", t->lid ? lid : pn);
	for (size_t i = 0; i < sizeof(copy) / sizeof(copy[0]); i++)
		if (wa_node_attr(m, copy[i]) != NULL)
			wa_node_set_attr(out, copy[i], wa_node_attr(m, copy[i]));
	wa_node_set_attrf(out, "t", "%lld", (long long)time(NULL));
	wa_node_set_attr(out, "notify", c->dev->acct->push_name);
	wa_node_set_attr(out, t->lid ? "sender_pn" : "sender_lid", t->lid ? pn : lid);
	if (t->acct == c->dev->acct)
		wa_node_set_attr(out, "recipient", wa_node_attr(m, "to"));
	wa_node_add_child(out, wa_node_clone(t->enc));
	if (di != NULL)
		wa_node_add_child(out, wa_node_clone(di));
	return out;
}

void
fw_msg_handle(struct fw_client *c, const struct wa_node *m)
{
	const char *id = wa_node_attr(m, "id"), *to = wa_node_attr(m, "to"), *why;
	struct fw_msg_target *tv;
	struct fw_device *d;
	size_t tn, delivered = 0;

	if (c->dev == NULL) {
		log_debug("client %u: message before login ignored", c->id);
		return;
	}
	if (fw_group_jid_is(to)) {
		fw_group_msg_handle(c, m);
		return;
	}
	if ((why = fw_msg_parse(c, m, &tv, &tn)) != NULL) {
		log_info("client %u (%s): message %s refused: %s", c->id, c->jid, id ? id : "-", why);
		/* 479: the stanza was refused (Baileys' "smax-invalid") */
		if (id != NULL && strlen(id) <= FW_MSG_ID_MAX)
			fw_msg_ack(c, "message", id, to, NULL, "479");
		return;
	}
	fw_msg_ack(c, "message", id, to, NULL, NULL);
	/* the chat's devices are told when the sender's account gains or loses a device, and the other way */
	fw_account_peer_add(c->dev->acct, tv[0].acct);
	for (size_t i = 0; i < tn; i++) {
		if (tv[i].acct == c->dev->acct && tv[i].device == c->dev->number)
			continue;	/* never back to the sending device */
		if (tv[i].device == 0) {
			fw_phone_receive(c, tv[i].acct, m, tv[i].enc);
			delivered++;
			continue;
		}
		TAILQ_FOREACH(d, &tv[i].acct->devices, entry)
			if (d->number == tv[i].device)
				break;
		if (d == NULL) {
			log_debug("client %u: message %s for an unknown device %s:%u", c->id, id, tv[i].acct->phone,
			    tv[i].device);
			continue;
		}
		fw_msg_deliver(d, fw_msg_build(c, m, &tv[i]));
		delivered++;
	}
	log_debug("client %u (%s): message %s routed to %zu device(s)", c->id, c->jid, id, delivered);
	free(tv);
}

/* The receipt device d gets for r, sent by c (wa-session.md 4.11 point 3). */
static struct wa_node *
fw_msg_receipt_build(struct fw_client *c, const struct wa_node *r, int lid)
{
	struct wa_node *out = wa_node_new("receipt");
	static const char *copy[] = { "id", "type", "recipient", "participant" };
	char from[64];

	if (lid)
		fw_device_lid(c->dev, from, sizeof(from));
	else
		fw_device_jid(c->dev, from, sizeof(from));
	wa_node_set_attr(out, "from", from);
	for (size_t i = 0; i < sizeof(copy) / sizeof(copy[0]); i++)
		if (wa_node_attr(r, copy[i]) != NULL)
			wa_node_set_attr(out, copy[i], wa_node_attr(r, copy[i]));
	wa_node_set_attrf(out, "t", "%lld", (long long)time(NULL));
	for (size_t i = 0; r->ctype == WA_CONTENT_NODES && i < r->nchildren; i++)
		wa_node_add_child(out, wa_node_clone(r->children[i]));
	return out;
}

void
fw_msg_receipt(struct fw_client *c, const struct wa_node *r)
{
	const char *id = wa_node_attr(r, "id"), *to = wa_node_attr(r, "to"), *type = wa_node_attr(r, "type");
	struct fw_msg_target t;
	struct fw_device *d;
	const struct wa_node *list;
	struct wa_jid j;

	if (c->dev == NULL || id == NULL || strlen(id) > FW_MSG_ID_MAX)
		return;
	/* any receipt (delivery, read, sender, retry ...; group ones too) confirms the device has the message: no
	 * redelivery */
	fw_msg_receipted(c->dev, id);
	list = wa_node_child(r, "list");
	for (size_t i = 0; list != NULL && list->ctype == WA_CONTENT_NODES && i < list->nchildren; i++)
		if (strcmp(list->children[i]->tag, "item") == 0 && wa_node_attr(list->children[i], "id") != NULL)
			fw_msg_receipted(c->dev, wa_node_attr(list->children[i], "id"));
	if (fw_group_receipt(c, r) == 0)
		return;
	fw_msg_ack(c, "receipt", id, to, type, NULL);
	if (fw_msg_resolve(c, to, &t) == -1 || wa_jid_parse(to, &j) == -1) {
		log_debug("client %u: receipt %s to %s: nobody to forward it to", c->id, id, to ? to : "-");
		return;
	}
	/* the phone (device 0, or the bare user) has no connection: it notes the receipt (GET /phone/receipts) */
	if (t.acct->mock != NULL && (!j.is_ad || t.device == 0)) {
		char from[64];

		fw_device_jid(c->dev, from, sizeof(from));
		fw_phone_receipt_seen(t.acct->mock, from, id, type, wa_node_child(r, "keys") != NULL);
	}
	/* peer_msg and hist_sync answer the phone's own peer messages (a history sync): for it alone, not for the
	 * account's other companions */
	if (t.acct == c->dev->acct && type != NULL && (strcmp(type, "peer_msg") == 0 ||
	    strcmp(type, "hist_sync") == 0))
		return;
	/* to names one device (the author of the message), or a bare user: then every device but the sender */
	TAILQ_FOREACH(d, &t.acct->devices, entry) {
		if (d == c->dev || (j.is_ad && d->number != t.device))
			continue;
		fw_msg_deliver(d, fw_msg_receipt_build(c, r, t.lid));
	}
}
