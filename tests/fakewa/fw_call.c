/* Calls: the mock phone rings companions, and what clients answer is recorded (see fw_call.h). */
#include "fw_call.h"

#include "fakewa_client.h"
#include "fw_account.h"
#include "fw_ctl.h"
#include "fw_routes.h"

#include "log.h"
#include "random.h"
#include "wa_jid.h"
#include "wa_node.h"
#include "xmalloc.h"

#include <event2/buffer.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One <call> a client sent, reduced to what a test checks. Every field holds only JID and id characters
 * (fw_call_copy), so log lines and JSON stay readable whatever the client sent. */
struct fw_call_rec {
	char from[80];				/* the sending connection's device JID */
	char to[96];
	char tag[32];				/* the first child: reject, accept, terminate, ... */
	char call_id[FW_CALL_ID_MAX + 1];
	char creator[96];
	char count[16];
};

/* The records of one account: a window of the last FW_CALL_RECORDS, oldest first. There is one log per account
 * that was ever addressed (only known accounts are), so their number is bounded by the accounts'. */
struct fw_call_log {
	char phone[FW_PHONE_MAX];
	struct fw_call_rec recs[FW_CALL_RECORDS];
	unsigned n;
	TAILQ_ENTRY(fw_call_log) entry;
};

struct fw_calls {
	TAILQ_HEAD(, fw_call_log) logs;
};

struct fw_calls *
fw_calls_new(void)
{
	struct fw_calls *cs = xcalloc(1, sizeof(*cs));

	TAILQ_INIT(&cs->logs);
	return cs;
}

void
fw_calls_free(struct fw_calls *cs)
{
	struct fw_call_log *l;

	if (cs == NULL)
		return;
	while ((l = TAILQ_FIRST(&cs->logs)) != NULL) {
		TAILQ_REMOVE(&cs->logs, l, entry);
		free(l);
	}
	free(cs);
}

/* The log of an account, created when create is set; NULL when there is none. */
static struct fw_call_log *
fw_call_log(struct fw_calls *cs, const char *phone, int create)
{
	struct fw_call_log *l;

	TAILQ_FOREACH(l, &cs->logs, entry)
		if (strcmp(l->phone, phone) == 0)
			return l;
	if (!create)
		return NULL;
	l = xcalloc(1, sizeof(*l));
	snprintf(l->phone, sizeof(l->phone), "%s", phone);
	TAILQ_INSERT_TAIL(&cs->logs, l, entry);
	return l;
}

/* Copy untrusted text into a field: cut to fit, and anything but the characters of JIDs, ids and tags becomes
 * '?'. 1 when it was cut. */
static int
fw_call_copy(char *dst, size_t len, const char *src)
{
	size_t i, n = src != NULL ? strlen(src) : 0;

	snprintf(dst, len, "%s", src != NULL ? src : "");
	for (i = 0; dst[i] != '\0'; i++)
		if (!isalnum((unsigned char)dst[i]) && strchr("@.:-_", dst[i]) == NULL)
			dst[i] = '?';
	return n >= len;
}

/* Ack a client's <call> as the server does: class call, the type its child's tag, from the party it was to. */
static void
fw_call_ack(struct fw_client *c, const struct wa_node *n, const struct wa_node *child)
{
	struct wa_node *a = wa_node_new("ack");

	wa_node_set_attr(a, "class", "call");
	wa_node_set_attr(a, "id", wa_node_attr(n, "id"));
	if (wa_node_attr(n, "to") != NULL)
		wa_node_set_attr(a, "from", wa_node_attr(n, "to"));
	if (child != NULL)
		wa_node_set_attr(a, "type", child->tag);
	fw_client_send(c, a);
	wa_node_free(a);
}

/* A client's <call> (see fw_call.h). */
void
fw_call_from_client(struct fw_client *c, const struct wa_node *n)
{
	const struct wa_node *child = n->ctype == WA_CONTENT_NODES && n->nchildren > 0 ? n->children[0] : NULL;
	const char *to = wa_node_attr(n, "to");
	struct fw_account *a = NULL;
	struct fw_call_log *l;
	struct fw_call_rec *r;
	struct wa_jid j;

	if (wa_node_attr(n, "id") != NULL)
		fw_call_ack(c, n, child);
	if (to != NULL && wa_jid_parse(to, &j) == 0 && wa_jid_is_user(&j))
		a = fw_account_find_user(&c->s->accounts, j.user);
	if (child == NULL || a == NULL || !c->registered) {
		log_info("client %u (%s): <call> not recorded: %s", c->id, c->registered ? c->jid : "-",
		    child == NULL ? "no child" : !c->registered ? "not logged in" : "not to a known account");
		return;
	}
	l = fw_call_log(c->s->calls, a->phone, 1);
	if (l->n == FW_CALL_RECORDS) {
		memmove(&l->recs[0], &l->recs[1], sizeof(l->recs[0]) * (FW_CALL_RECORDS - 1));
		l->n--;
	}
	r = &l->recs[l->n++];
	fw_call_copy(r->from, sizeof(r->from), c->jid);
	fw_call_copy(r->to, sizeof(r->to), to);
	fw_call_copy(r->tag, sizeof(r->tag), child->tag);
	if (fw_call_copy(r->call_id, sizeof(r->call_id), wa_node_attr(child, "call-id")))
		log_info("client %u (%s): <call> call-id longer than %d bytes, cut", c->id, c->jid, FW_CALL_ID_MAX);
	fw_call_copy(r->creator, sizeof(r->creator), wa_node_attr(child, "call-creator"));
	fw_call_copy(r->count, sizeof(r->count), wa_node_attr(child, "count"));
	log_debug("client %u (%s): <call><%s call-id=%s> to %s recorded", c->id, r->from, r->tag, r->call_id, r->to);
}

/* The account a to= parameter names: a phone number, or a user JID (phone or LID); NULL if none. */
static struct fw_account *
fw_call_callee(struct fw_server *s, const char *to)
{
	struct wa_jid j;

	if (strchr(to, '@') == NULL)
		return fw_account_find(&s->accounts, to);
	if (wa_jid_parse(to, &j) == -1 || !wa_jid_is_user(&j) || j.device != 0)
		return NULL;
	return fw_account_find_user(&s->accounts, j.user);
}

/* Send <call from=caller ...> with a copy of child to every connected companion of the callee. Calls ring
 * live: a device that is offline now never hears of this one. The number of devices it went to. */
static int
fw_call_ring(struct fw_server *s, const struct fw_account *caller, struct fw_account *callee,
    const struct wa_node *child, int offer)
{
	struct fw_device *d;
	struct wa_node *n;
	int sent = 0;

	TAILQ_FOREACH(d, &callee->devices, entry) {
		if (d->client == NULL)
			continue;
		n = wa_node_new("call");
		wa_node_set_attrf(n, "from", "%s@s.whatsapp.net", caller->phone);
		wa_node_set_attr(n, "id", fw_client_stanza_id(d->client));
		wa_node_set_attrf(n, "t", "%lld", (long long)time(NULL));
		if (offer) {
			wa_node_set_attr(n, "platform", "android");
			wa_node_set_attr(n, "version", "2.24.1");
		}
		wa_node_add_child(n, wa_node_clone(child));
		if (fw_client_send(d->client, n) == 0)
			sent++;
		wa_node_free(n);
	}
	return sent;
}

/* The addressing both call routes share: caller (account=), callee (to=) and the call id (id=, or a fresh one
 * of 32 upper-case hex digits when fresh is set). 0, or -1 once answered with an error. */
static int
fw_call_params(struct fw_ctl_call *call, int fresh, struct fw_account **caller, struct fw_account **callee,
    char id[FW_CALL_ID_MAX + 1])
{
	const char *to = fw_ctl_query(call, "to"), *want = fw_ctl_query(call, "id");
	uint8_t rnd[16];

	if (to == NULL || (!fresh && want == NULL)) {
		fw_route_error(call, 400, fresh ? "to is required" : "to and id are required");
		return -1;
	}
	if (want != NULL && (*want == '\0' || strlen(want) > FW_CALL_ID_MAX ||
	    strspn(want, "0123456789ABCDEFabcdef") != strlen(want))) {
		fw_route_error(call, 400, "id must be 1..64 hex digits");
		return -1;
	}
	if ((*caller = fw_route_phone_account(call)) == NULL)
		return -1;
	if ((*callee = fw_call_callee(call->s, to)) == NULL || *callee == *caller) {
		fw_route_error(call, 400, "to must be another known account (digits or user JID)");
		return -1;
	}
	if (want != NULL)
		snprintf(id, FW_CALL_ID_MAX + 1, "%s", want);
	else {
		random_bytes(rnd, sizeof(rnd));
		for (size_t i = 0; i < sizeof(rnd); i++)
			snprintf(id + 2 * i, 3, "%02X", rnd[i]);
	}
	return 0;
}

/* Answer {"call_id":ID,"sent":N}. */
static void
fw_call_reply(struct fw_ctl_call *call, const char *id, int sent)
{
	char json[FW_CALL_ID_MAX + 48];

	snprintf(json, sizeof(json), "{\"call_id\":\"%s\",\"sent\":%d}", id, sent);
	fw_ctl_reply(call->conn, 200, json);
}

/* POST /phone/call?account&to[&video=1][&id] */
void
fw_route_phone_call(struct fw_ctl_call *call)
{
	const char *video = fw_ctl_query(call, "video");
	struct fw_account *caller, *callee;
	struct wa_node *offer, *ch;
	char id[FW_CALL_ID_MAX + 1];
	int sent;

	if (fw_call_params(call, 1, &caller, &callee, id) == -1)
		return;
	offer = wa_node_new("offer");
	wa_node_set_attr(offer, "call-id", id);
	wa_node_set_attrf(offer, "call-creator", "%s@s.whatsapp.net", caller->phone);
	wa_node_set_attr(offer, "count", "0");
	/* what a phone offers: two opus rates, vp8 for video, then the network and encryption options */
	ch = wa_node_add_child(offer, wa_node_new("audio"));
	wa_node_set_attr(ch, "enc", "opus");
	wa_node_set_attr(ch, "rate", "16000");
	ch = wa_node_add_child(offer, wa_node_new("audio"));
	wa_node_set_attr(ch, "enc", "opus");
	wa_node_set_attr(ch, "rate", "8000");
	if (video != NULL && strcmp(video, "1") == 0) {
		ch = wa_node_add_child(offer, wa_node_new("video"));
		wa_node_set_attr(ch, "enc", "vp8");
		wa_node_set_attr(ch, "dec", "vp8");
	}
	wa_node_set_attr(wa_node_add_child(offer, wa_node_new("net")), "medium", "3");
	wa_node_set_attr(wa_node_add_child(offer, wa_node_new("encopt")), "keygen", "2");
	sent = fw_call_ring(call->s, caller, callee, offer, 1);
	wa_node_free(offer);
	log_info("phone %s calls %s (call %s%s): offered to %d device(s)", caller->phone, callee->phone, id,
	    video != NULL && strcmp(video, "1") == 0 ? ", video" : "", sent);
	fw_call_reply(call, id, sent);
}

/* POST /phone/call-end?account&to&id[&reason=timeout] */
void
fw_route_phone_call_end(struct fw_ctl_call *call)
{
	const char *reason = fw_ctl_query(call, "reason");
	struct fw_account *caller, *callee;
	struct wa_node *term;
	char id[FW_CALL_ID_MAX + 1];
	int sent;

	if (reason != NULL && strcmp(reason, "timeout") != 0) {
		fw_route_error(call, 400, "reason may only be timeout");
		return;
	}
	if (fw_call_params(call, 0, &caller, &callee, id) == -1)
		return;
	term = wa_node_new("terminate");
	wa_node_set_attr(term, "call-id", id);
	wa_node_set_attrf(term, "call-creator", "%s@s.whatsapp.net", caller->phone);
	wa_node_set_attr(term, "count", "0");
	if (reason != NULL)
		wa_node_set_attr(term, "reason", reason);
	sent = fw_call_ring(call->s, caller, callee, term, 0);
	wa_node_free(term);
	fw_call_reply(call, id, sent);
}

/* GET /phone/calls?account */
void
fw_route_phone_calls(struct fw_ctl_call *call)
{
	static const char *keys[] = { "from", "to", "tag", "call_id", "call_creator", "count" };
	const struct fw_call_log *l;
	struct fw_account *a;
	struct evbuffer *b;

	if ((a = fw_route_phone_account(call)) == NULL)
		return;
	l = fw_call_log(call->s->calls, a->phone, 0);
	b = evbuffer_new();
	evbuffer_add_printf(b, "{\"calls\":[");
	for (unsigned i = 0; l != NULL && i < l->n; i++) {
		const char *v[] = { l->recs[i].from, l->recs[i].to, l->recs[i].tag, l->recs[i].call_id,
		    l->recs[i].creator, l->recs[i].count };

		evbuffer_add_printf(b, "%s{", i > 0 ? "," : "");
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
			evbuffer_add_printf(b, "%s\"%s\":", k > 0 ? "," : "", keys[k]);
			fw_json_string(b, v[k]);
		}
		evbuffer_add_printf(b, "}");
	}
	evbuffer_add(b, "]}", 3);
	fw_ctl_reply(call->conn, 200, (const char *)evbuffer_pullup(b, -1));
	evbuffer_free(b);
}
