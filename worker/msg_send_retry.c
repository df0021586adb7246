/* Retry receipts for our messages (reference/wa-session.md section 5.5): a bounded cache of what we sent, and
 * the resend to the one device that could not decrypt it, through an executor job so that the ratchet change
 * (or the session rebuilt from the receipt's <keys>) commits before the stanza goes out. */
#include "msg.h"
#include "msg_group.h"
#include "msg_send_int.h"
#include "session_int.h"

#include "log.h"
#include "wa_conn.h"
#include "wa_jid.h"
#include "wa_node.h"
#include "worker.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Drop the oldest sent message. */
static void
send_sent_drop_oldest(struct msg_send_state *st)
{
	struct send_sent *e = TAILQ_FIRST(&st->sent);

	TAILQ_REMOVE(&st->sent, e, entry);
	st->nsent--;
	st->sent_bytes -= e->len;
	free(e->msg);
	free(e);
}

void
send_sent_add(struct session *s, const struct send_op *op)
{
	struct msg_send_state *st = send_state(s);
	struct send_sent *e;

	if (op->len > SEND_SENT_BYTES)
		return;
	while (st->nsent > 0 && (st->nsent >= SEND_SENT_MAX || st->sent_bytes + op->len > SEND_SENT_BYTES))
		send_sent_drop_oldest(st);
	e = xcalloc(1, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", op->id);
	snprintf(e->to, sizeof(e->to), "%s", op->to);
	e->t = op->t;
	e->msg = xmalloc(op->len);
	memcpy(e->msg, op->msg, op->len);
	e->len = op->len;
	TAILQ_INSERT_TAIL(&st->sent, e, entry);
	st->nsent++;
	st->sent_bytes += e->len;
}

void
send_sent_free_all(struct msg_send_state *st)
{
	while (st->nsent > 0)
		send_sent_drop_oldest(st);
}

/* The sent message with this id, or NULL. */
static struct send_sent *
send_sent_find(struct session *s, const char *id)
{
	struct send_sent *e;

	if (s->send == NULL)
		return NULL;
	TAILQ_FOREACH_REVERSE(e, &s->send->sent, send_sent_list, entry)
		if (strcmp(e->id, id) == 0)
			return e;
	return NULL;
}

int
send_sent_is_ours(struct session *s, const char *id)
{
	return send_sent_find(s, id) != NULL;
}

/* The retry's count attribute: 1.., or 0 when absent or malformed. */
static unsigned
send_retry_count(const struct wa_node *n)
{
	const struct wa_node *r = wa_node_child(n, "retry");
	const char *v = r != NULL ? wa_node_attr(r, "count") : NULL;

	if (v == NULL || *v == '\0' || strlen(v) > 4 || strspn(v, "0123456789") != strlen(v))
		return 0;
	return (unsigned)atoi(v);
}

/* The receipt fits the message: from its group naming a participant device, or (1:1) without one. */
static int
send_retry_fits(const struct send_sent *e, const char *from, const char *part)
{
	struct wa_jid j;
	int group = wa_jid_parse(e->to, &j) == 0 && wa_jid_is_group(&j);

	return part != NULL ? group && strcmp(e->to, from) == 0 : !group;
}

/* The op for one resend, or NULL (logged) when the receipt is not usable. */
static struct send_op *
send_retry_op(struct session *s, const struct wa_node *n, struct send_sent *e, unsigned count)
{
	const char *from = wa_node_attr(n, "from"), *part = wa_node_attr(n, "participant");
	const struct wa_node *keys = wa_node_child(n, "keys");
	struct send_op *op;
	struct send_target *t;
	struct wa_jid j, own;
	uint8_t *dsm;
	size_t dlen;
	int64_t reg;
	char user[MSG_WIRE_JID_MAX];
	int group = part != NULL;

	/* in a group the receipt comes from the group and names the device as participant */
	if (group)
		from = part;
	if (wa_jid_parse(from, &j) == -1 || !wa_jid_is_user(&j) || msg_wire_user(from, user, sizeof(user)) == -1 ||
	    wa_jid_parse(s->creds->jid, &own) == -1)
		return NULL;
	op = xcalloc(1, sizeof(*op));
	op->s = s;
	op->kind = SEND_KIND_RETRY;
	op->count = count;
	op->t = e->t;
	snprintf(op->id, sizeof(op->id), "%s", e->id);
	snprintf(op->to, sizeof(op->to), "%s", e->to);
	op->msg = xmalloc(e->len);
	memcpy(op->msg, e->msg, e->len);
	op->len = e->len;
	op->targets = xcalloc(1, sizeof(*op->targets));
	op->ntargets = 1;
	t = &op->targets[0];
	(void)msg_wire_user(s->creds->jid, op->own_user, sizeof(op->own_user));
	t->own = !group && strcmp(user, op->own_user) == 0;
	if (msg_wire_device_set(&t->dev, user, j.device) == -1)
		goto bad;
	if (group) {
		/* the plaintext (the Message with our sender key) is made by the executor step */
		op->group = 1;
		if (msg_signal_address(s->creds->jid, op->own_addr, sizeof(op->own_addr)) == -1)
			goto bad;
	} else if (t->own) {
		/* our own other device gets the DeviceSentMessage, as at the first send */
		if (msg_stanza_dsm(e->to, e->msg, e->len, &dsm, &dlen) == -1)
			goto bad;
		if (wa_signal_pad(dsm, dlen, &op->pt_own, &op->pt_ownlen) == -1) {
			free(dsm);
			goto bad;
		}
		free(dsm);
	} else if (wa_signal_pad(e->msg, e->len, &op->pt, &op->ptlen) == -1)
		goto bad;
	if (keys != NULL) {
		/* the device sent fresh keys: its old session is replaced by one built from them */
		if ((reg = msg_wire_be(n, "registration", 4, 4)) < 0 || msg_keys_parse(keys, (uint32_t)reg, j.device,
		    &t->b) == -1) {
			log_info("%s: retry receipt for %s from %s: malformed keys", worker_instance_name(s->w), e->id,
			    from);
			goto bad;
		}
		t->has_bundle = t->rebuild = 1;
	}
	return op;
bad:
	send_op_free(op);
	return NULL;
}

void
msg_send_on_retry_receipt(struct session *s, const struct wa_node *n)
{
	const char *from = wa_node_attr(n, "from"), *id = wa_node_attr(n, "id");
	struct send_sent *e;
	struct send_op *op;
	unsigned count = send_retry_count(n);

	/* acked whatever comes of it: the server must not deliver it again */
	session_send_ack(s, n);
	if (from == NULL || id == NULL || !send_is_open(s))
		return;
	if ((e = send_sent_find(s, id)) == NULL || !send_retry_fits(e, from, wa_node_attr(n, "participant"))) {
		log_info("%s: retry receipt from %s for %s: not among our recent messages", worker_instance_name(s->w),
		    from, id);
		return;
	}
	if (count == 0 || count > SEND_RETRY_MAX || e->resends >= SEND_RESENDS_MAX) {
		log_info("%s: retry receipt %u from %s for %s: giving up", worker_instance_name(s->w), count, from, id);
		return;
	}
	if ((op = send_retry_op(s, n, e, count)) == NULL)
		return;
	/* a group device that could not decrypt may lack our sender key: the resend carries it, and the next
	 * send gives it again too */
	if (op->group)
		msg_group_skdm_forget(s, op->to, op->targets[0].dev.jid);
	e->resends++;
	log_info("%s: resending %s to %s (retry %u)", worker_instance_name(s->w), id, op->targets[0].dev.jid,
	    count);
	TAILQ_INSERT_TAIL(&send_state(s)->ops, op, entry);
	if (send_op_submit(op) == -1)
		send_finish(op, 503, "Connection Closed");
}

void
send_retry_write(struct send_op *op)
{
	struct session *s = op->s;
	struct send_target *t = &op->targets[0];
	struct msg_stanza_enc enc = { t->dev.jid, t->type, t->ct, t->ctlen };
	const uint8_t *ident;
	struct wa_node *m;
	size_t ilen;
	int rc;

	ident = send_identity(s, &ilen);
	/* a group resend goes to the group, for one participant device (wa-session.md 5.5) */
	m = msg_stanza_resend(op->id, op->group ? op->to : t->dev.jid, &enc, op->count, op->t, ident, ilen);
	if (op->group)
		wa_node_set_attr(m, "participant", t->dev.jid);
	rc = wa_conn_send_node(s->conn, m);
	wa_node_free(m);
	/* its <ack> is matched against the sent cache (msg_send_on_ack) */
	send_finish(op, rc == -1 ? 503 : 0, rc == -1 ? "Connection Closed" : NULL);
}
