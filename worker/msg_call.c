/* Incoming calls: a <call> stanza (session.c acked it, as Baileys and whatsmeow ack every call) is read as
 * Baileys' call event (msg_call_parse) and reported to the supervisor, which posts Evolution's `call` webhook.
 * The instance's settings act on an offer as Evolution has Baileys do: rejectCall rejects it, msgCall answers
 * the caller with that text (whether or not it was rejected). Terminates, accepts and the rest are reported
 * only, with the offer's isVideo and isGroup when the offer came to this worker (Baileys keeps its offers the
 * same way), since only an offer says them. */
#include "msg.h"
#include "msg_wire.h"
#include "session_int.h"
#include "e2e.pb-c.h"
#include "log.h"
#include "wa_conn.h"
#include "wa_node.h"
#include "worker.h"
#include "xmalloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Offers remembered for the events of the same call: the last CALL_OFFERS_MAX, forgotten when the call ends. An
 * offer that fell out (or came before a restart) leaves its call's later events without isVideo / isGroup. */
#define CALL_OFFERS_MAX	16

struct msg_call_offer {
	char id[MSG_CALL_ID_MAX + 1];		/* "" = free */
	int is_video, is_group;
};

static struct msg_call_offer *
call_offer_find(struct session *s, const char *id)
{
	unsigned i;

	for (i = 0; s->call_offers != NULL && i < CALL_OFFERS_MAX; i++)
		if (s->call_offers[i].id[0] != '\0' && strcmp(s->call_offers[i].id, id) == 0)
			return &s->call_offers[i];
	return NULL;
}

/* An offer: remember it (again, if WhatsApp repeats it). Slots are reused in turn: the 17th offer takes the first
 * one's, ended or not. */
static void
call_offer_remember(struct session *s, const struct msg_call *c)
{
	struct msg_call_offer *o;

	if ((o = call_offer_find(s, c->id)) == NULL) {
		if (s->call_offers == NULL)
			s->call_offers = xcalloc(CALL_OFFERS_MAX, sizeof(*s->call_offers));
		o = &s->call_offers[s->call_offer_next++ % CALL_OFFERS_MAX];
		snprintf(o->id, sizeof(o->id), "%s", c->id);
	}
	o->is_video = c->is_video;
	o->is_group = c->is_group;
}

void
msg_call_free(struct session *s)
{
	free(s->call_offers);
	s->call_offers = NULL;
}

/* Whether msgCall says something: Evolution sends it when it has a character that is not blank. */
static int
call_text_set(const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if (!isspace((unsigned char)*s))
			return 1;
	return 0;
}

/* The caller as a user JID to write to (msgCall): the phone-number JID WhatsApp named beside a LID, else the
 * caller's own (without a device). 0 or -1. */
static int
call_caller_user(const struct msg_call *c, char *out, size_t len)
{
	return msg_wire_user(c->caller_pn[0] != '\0' ? c->caller_pn : c->from, out, len);
}

/* <call><reject/></call> to the caller as the call names it (its LID when it is one: the call is WhatsApp's under
 * that address), without a device as whatsmeow sends it; 0, or -1 when it could not be written. */
static int
call_reject(struct session *s, const struct msg_call *c)
{
	char own[MSG_WIRE_JID_MAX], caller[MSG_WIRE_JID_MAX], id[MSG_WIRE_ID_LEN + 1];
	struct wa_node *n;
	int rc;

	if (s->conn == NULL || s->creds == NULL || msg_wire_user(s->creds->jid, own, sizeof(own)) == -1 ||
	    msg_wire_user(c->from, caller, sizeof(caller)) == -1)
		return -1;
	msg_stanza_make_id(own, (int64_t)time(NULL), id);
	n = msg_call_reject(c, own, caller, id);
	rc = wa_conn_send_node(s->conn, n);
	wa_node_free(n);
	return rc;
}

/* msgCall to the caller: a conversation, sent as the worker's own message. */
static void
call_answer_text(struct session *s, const char *caller, const char *text)
{
	Wa__Message m = WA__MESSAGE__INIT;
	uint8_t *buf;
	size_t len;

	m.conversation = (char *)text;
	len = wa__message__get_packed_size(&m);
	if ((buf = malloc(len)) == NULL)
		return;
	wa__message__pack(&m, buf);
	msg_send_own(s, caller, buf, len);
	free(buf);
}

void
msg_call_on_node(struct session *s, const struct wa_node *n)
{
	const struct settings *st = worker_settings(s->w);
	Wagate__Ipc__CallEvent ev = WAGATE__IPC__CALL_EVENT__INIT;
	struct msg_call c;
	struct msg_call_offer *o;
	char caller[MSG_WIRE_JID_MAX];
	const char *why;
	int offer;

	if (msg_call_parse(n, &c, &why) == -1) {
		log_info("%s: call stanza %s ignored: %s", worker_instance_name(s->w),
		    wa_node_attr(n, "id") != NULL ? wa_node_attr(n, "id") : "-", why);
		return;
	}
	offer = strcmp(c.status, "offer") == 0;
	if (offer)
		call_offer_remember(s, &c);
	else if ((o = call_offer_find(s, c.id)) != NULL) {
		c.is_video = o->is_video;
		c.is_group = o->is_group;
		ev.offer_known = 1;
		/* the call is over (Baileys forgets its offer here too) */
		if (strcmp(c.status, "terminate") == 0 || strcmp(c.status, "reject") == 0 ||
		    strcmp(c.status, "accept") == 0 || strcmp(c.status, "timeout") == 0)
			o->id[0] = '\0';
	}
	if (offer && call_caller_user(&c, caller, sizeof(caller)) == -1) {
		log_info("%s: call %s from %s: the caller is no user", worker_instance_name(s->w), c.id, c.from);
		offer = 0;
	}
	if (offer && st->reject_call) {
		ev.rejected = call_reject(s, &c) == 0;
		log_info("%s: call %s from %s %s", worker_instance_name(s->w), c.id, c.from,
		    ev.rejected ? "rejected" : "not rejected: no connection");
	}
	if (offer && call_text_set(st->msg_call))
		call_answer_text(s, caller, st->msg_call);
	ev.chat_id = c.chat_id;
	ev.from = c.from;
	ev.caller_pn = c.caller_pn;
	ev.id = c.id;
	ev.timestamp = c.t;
	ev.offline = c.offline;
	ev.status = c.status;
	ev.is_video = c.is_video;
	ev.is_group = c.is_group;
	ev.group_jid = c.group_jid;
	ev.latency_ms = c.latency_ms;
	worker_report_call(s->w, &ev);
}
