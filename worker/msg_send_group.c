/* Sending to a group (wa-session.md 4.8, 6.6): the participants from the group cache (a w:g2 query when not
 * cached), their device lists by usync (msg_send.c's cache, as for 1:1), then msg_send.c's executor job with
 * the devices that lack our sender key as its targets. In that one job: our sender key for the group
 * (wa_signal_group_create: its distribution message), a pkmsg/msg per target carrying
 * Message{senderKeyDistributionMessage}, one skmsg of the padded Message for everyone, and the row PENDING;
 * the stanza goes out after the COMMIT, and the server's ack answers the SendMessage.
 *
 * Devices that got our sender key are remembered in memory per group (msg_group_cmd.c) once the server
 * acked the stanza that carried it; a restart hands it out again, which is harmless. */
#include "msg.h"
#include "msg_group.h"
#include "msg_send_int.h"
#include "session_int.h"

#include "iq.h"
#include "log.h"
#include "wa_jid.h"
#include "wa_node.h"
#include "worker.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void send_group_devices(struct send_op *op);

void
send_group_free(struct send_op *op)
{
	for (size_t i = 0; i < op->ngusers; i++)
		free(op->gusers[i]);
	free(op->gusers);
	for (size_t i = 0; i < op->ngdevs; i++)
		free(op->gdevs[i]);
	free(op->gdevs);
	free(op->gpt);
	free(op->skct);
}

/* Copy the cached participants of the group into op (our own user first, so that our other devices are
 * listed even in a list that lacks us). */
static void
send_group_users(struct send_op *op, char **users, size_t n)
{
	const char *lid = op->s->creds->lid;
	char own_lid[MSG_WIRE_JID_MAX] = "";

	/* a LID-addressed group may list us by our LID only: that is us too, not another member */
	if (lid == NULL || msg_wire_user(lid, own_lid, sizeof(own_lid)) == -1)
		own_lid[0] = '\0';
	op->gusers = xcalloc(n + 1, sizeof(*op->gusers));
	op->gusers[op->ngusers++] = xstrdup(op->own_user);
	for (size_t i = 0; i < n; i++)
		if (strcmp(users[i], op->own_user) != 0 && strcmp(users[i], own_lid) != 0)
			op->gusers[op->ngusers++] = xstrdup(users[i]);
	op->gpos = 0;
}

/* The participants came (code 0) or could not be had. */
static void
send_group_meta_cb(void *arg, int code, const char *error)
{
	struct send_op *op = arg;
	char **users;
	size_t n;

	if (code != 0) {
		send_finish(op, code, error);
		return;
	}
	if (!msg_group_cached(op->s, op->to, &users, &n)) {
		send_finish(op, 500, "the group's participants could not be kept");
		return;
	}
	send_group_users(op, users, n);
	send_group_devices(op);
}

void
send_group_begin(struct send_op *op, const uint8_t *msg, size_t len)
{
	struct session *s = op->s;
	uint8_t *check;
	size_t clen;
	char **users;
	size_t n;

	op->group = 1;
	/* the DeviceSentMessage walk doubles as the check that msg is a protobuf message */
	if (msg_stanza_dsm(op->to, msg, len, &check, &clen) == -1) {
		send_finish(op, 400, "message is no valid protobuf message");
		return;
	}
	free(check);
	if (msg_signal_address(s->creds->jid, op->own_addr, sizeof(op->own_addr)) == -1) {
		send_finish(op, 500, "own JID unreadable");
		return;
	}
	op->msg = xmalloc(len);
	memcpy(op->msg, msg, len);
	op->len = len;
	if (wa_signal_pad(msg, len, &op->gpt, &op->gptlen) == -1) {
		send_finish(op, 500, "padding failed");
		return;
	}
	op->stage = SEND_STAGE_USYNC;
	if (msg_group_cached(s, op->to, &users, &n)) {
		send_group_users(op, users, n);
		send_group_devices(op);
		return;
	}
	if (msg_group_fetch(s, op->to, send_group_meta_cb, op) == -1)
		send_finish(op, 503, "Connection Closed");
}

/* The usync answer for the users asked for (gpos moved past them already). */
static void
send_group_usync_cb(void *arg, const struct wa_node *reply)
{
	struct send_op *op = arg;
	struct msg_send_state *st = send_state(op->s);
	uint16_t devs[MSG_WIRE_DEVICES_MAX];
	char lid[MSG_WIRE_JID_MAX];
	size_t n;
	int rc;

	if (reply == NULL) {
		send_finish(op, send_is_open(op->s) ? 504 : 503, "no answer to the device query");
		return;
	}
	for (size_t i = 0; i < op->gpos; i++) {
		if (send_cache_find(st, op->gusers[i]) != NULL)
			continue;
		if ((rc = msg_usync_devices(reply, op->gusers[i], devs, MSG_WIRE_DEVICES_MAX, &n)) == -1 ||
		    msg_usync_lid(reply, op->gusers[i], lid, sizeof(lid)) == -1) {
			send_finish(op, 500, "malformed device list from the server");
			return;
		}
		if (rc == 1)
			send_cache_put(st, op->gusers[i], lid, devs, n);
	}
	send_group_devices(op);
}

/* Add every device of user (a cached list) to the hash list, and those without our key to the targets. */
static void
send_group_add_user(struct send_op *op, const struct send_devcache *c)
{
	struct send_target *t;
	struct msg_wire_device d;

	for (size_t i = 0; i < c->ndevs; i++) {
		if (msg_wire_device_set(&d, c->user, c->devs[i]) == -1)
			continue;
		op->gdevs = xreallocarray(op->gdevs, op->ngdevs + 1, sizeof(*op->gdevs));
		op->gdevs[op->ngdevs++] = xstrdup(d.jid);
		if ((c->devs[i] == op->own_device && strcmp(c->user, op->own_user) == 0) ||
		    msg_group_skdm_has(op->s, op->to, d.jid))
			continue;
		op->targets = xreallocarray(op->targets, op->ntargets + 1, sizeof(*op->targets));
		t = &op->targets[op->ntargets++];
		memset(t, 0, sizeof(*t));
		t->dev = d;
	}
}

/* Ask for the device lists not cached yet (MSG_WIRE_USERS_MAX users a query), then list the targets and hand
 * the op to the executor. */
static void
send_group_devices(struct send_op *op)
{
	struct session *s = op->s;
	struct msg_send_state *st = send_state(s);
	const char *need[MSG_WIRE_USERS_MAX];
	struct send_devcache *c;
	struct wa_node *iq;
	size_t nneed = 0;
	char sid[32];

	/* users before gpos were asked for once: one not on WhatsApp is not asked again */
	while (op->gpos < op->ngusers && nneed < MSG_WIRE_USERS_MAX) {
		if (send_cache_find(st, op->gusers[op->gpos]) == NULL)
			need[nneed++] = op->gusers[op->gpos];
		op->gpos++;
	}
	if (nneed > 0) {
		snprintf(sid, sizeof(sid), "wagate-%u", ++st->sid);
		iq = msg_usync_devices_query(need, nneed, sid);
		if (iq_table_send(s->iq, s->conn, iq, SEND_QUERY_TIMEOUT_S * 1000, send_group_usync_cb, op) == -1)
			send_finish(op, 503, "Connection Closed");
		wa_node_free(iq);
		return;
	}
	for (size_t i = 0; i < op->ngusers; i++)
		if ((c = send_cache_find(st, op->gusers[i])) != NULL)
			send_group_add_user(op, c);
	if (op->ngdevs <= 1) {
		send_finish(op, 400, "nobody in the group to send to");
		return;
	}
	msg_group_phash(op->gdevs, op->ngdevs, op->phash);
	if (send_op_submit(op) == -1)
		send_finish(op, 503, "Connection Closed");
}

void
send_group_restart(struct send_op *op)
{
	free(op->pt);
	op->pt = NULL;
	op->ptlen = 0;
	free(op->skct);
	op->skct = NULL;
	op->sklen = 0;
}

int
send_group_step_key(struct send_op *op, struct wa_signal *sig)
{
	uint8_t *skdm, *m;
	size_t skdmlen, mlen;
	char err[160];
	int rc;

	if (op->pt != NULL)
		return WA_SIGNAL_DONE;
	rc = wa_signal_group_create(sig, op->to, op->own_addr, &skdm, &skdmlen, err, sizeof(err));
	if (rc == WA_SIGNAL_NEED || rc == WA_SIGNAL_FAILED)
		return rc;
	if (rc != WA_SIGNAL_DONE) {
		op->code = 500;
		snprintf(op->error, sizeof(op->error), "our sender key for the group: %s", err);
		return WA_SIGNAL_DONE;
	}
	msg_group_skdm_message(op->to, skdm, skdmlen, &m, &mlen);
	free(skdm);
	if (op->kind == SEND_KIND_RETRY) {
		/* the resend: the Message itself with our sender key added (its field 2 appended: protobuf merges) */
		m = xreallocarray(m, mlen + op->len, 1);
		memmove(m + op->len, m, mlen);
		memcpy(m, op->msg, op->len);
		mlen += op->len;
	}
	rc = wa_signal_pad(m, mlen, &op->pt, &op->ptlen);
	free(m);
	if (rc == -1) {
		op->code = 500;
		snprintf(op->error, sizeof(op->error), "padding failed");
	}
	return WA_SIGNAL_DONE;
}

int
send_group_step_final(struct send_op *op, struct wa_signal *sig, struct msg_batch *b)
{
	char err[160];
	int rc;

	if (op->skct == NULL) {
		rc = wa_signal_group_encrypt(sig, op->to, op->own_addr, op->gpt, op->gptlen, &op->skct, &op->sklen,
		    err, sizeof(err));
		if (rc == WA_SIGNAL_NEED || rc == WA_SIGNAL_FAILED)
			return rc;
		if (rc != WA_SIGNAL_DONE) {
			op->code = 500;
			snprintf(op->error, sizeof(op->error), "group encryption: %s", err);
			return WA_SIGNAL_DONE;
		}
	}
	send_add_pending_row(op, b, "", op->own_user);
	return WA_SIGNAL_DONE;
}

struct wa_node *
send_group_stanza(struct send_op *op, const struct msg_stanza_enc *encs, size_t n)
{
	const uint8_t *ident;
	size_t ilen;

	ident = send_identity(op->s, &ilen);
	return msg_group_stanza(op->id, op->to, op->phash, encs, n, op->skct, op->sklen, ident, ilen);
}

void
send_group_acked(struct send_op *op, const char *phash)
{
	struct msg_send_state *st = send_state(op->s);

	for (size_t i = 0; i < op->ntargets; i++)
		if (op->targets[i].sub == 2)
			msg_group_skdm_add(op->s, op->to, op->targets[i].dev.jid);
	if (phash != NULL && strcmp(phash, op->phash) != 0) {
		/* the server counts other devices than we did: ask for the members and their devices again */
		log_info("%s: message %s to %s: participant hash %s, the server has %s", worker_instance_name(op->s->w),
		    op->id, op->to, op->phash, phash);
		msg_group_forget(op->s, op->to);
		for (size_t i = 0; i < op->ngusers; i++)
			send_cache_drop(st, op->gusers[i]);
	}
}
