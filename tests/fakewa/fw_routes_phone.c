/* Control API: the mock phone and its accounts (see fw_routes.h; the pairing itself is fw_pair.c). */
#include "fw_routes.h"

#include "fakewa_client.h"
#include "fw_account.h"
#include "fw_ctl.h"
#include "fw_group.h"
#include "fw_history.h"
#include "fw_http.h"
#include "fw_media.h"
#include "fw_msg.h"
#include "fw_pair.h"
#include "fw_phone_signal.h"
#include "fw_session.h"

#include "wa_jid.h"
#include "wa_node.h"
#include "xmalloc.h"

#include <event2/buffer.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* POST /admin/mock-phone/scan-qr: the body is the QR text. */
void
fw_route_scan_qr(struct fw_ctl_call *call)
{
	const struct fw_http_req *req = call->req;

	if (strlen(req->body) != req->body_len) {
		fw_ctl_reply(call->conn, 400, "{\"error\":\"bad QR text\"}");
		return;
	}
	fw_pair_scan_qr(call->s, call->conn, req->body, fw_ctl_query(call, "phone"), fw_ctl_query(call, "name"));
}

/* POST /admin/mock-phone/pair-code */
void
fw_route_pair_code(struct fw_ctl_call *call)
{
	fw_pair_code(call->s, call->conn, fw_ctl_query(call, "phone"), fw_ctl_query(call, "code"),
	    fw_ctl_query(call, "name"));
}

/* The registered device a jid=... parameter names (phone or LID form), or NULL. */
static struct fw_device *
fw_route_device_param(const struct fw_ctl_call *call)
{
	const char *jid = fw_ctl_query(call, "jid");
	struct wa_jid j;

	if (jid == NULL || wa_jid_parse(jid, &j) == -1 || !wa_jid_is_user(&j))
		return NULL;
	return fw_device_find(&call->s->accounts, j.user, j.device);
}

/* POST /admin/remove-device?jid= */
void
fw_route_remove_device(struct fw_ctl_call *call)
{
	struct fw_device *d;

	if ((d = fw_route_device_param(call)) == NULL) {
		fw_ctl_reply(call->conn, 404, "{\"error\":\"no such device\"}");
		return;
	}
	fw_session_remove_device(call->s, d, NULL);
	fw_ctl_reply(call->conn, 200, "{\"removed\":1}");
}

/* POST /admin/prekey-low?jid=&count= */
void
fw_route_prekey_low(struct fw_ctl_call *call)
{
	const char *count = fw_ctl_query(call, "count");
	struct fw_device *d;
	struct wa_node *cnt;

	if ((d = fw_route_device_param(call)) == NULL || d->client == NULL)
		fw_ctl_reply(call->conn, 404, "{\"error\":\"no such connected device\"}");
	else if (count == NULL || *count == '\0' || strspn(count, "0123456789") != strlen(count) || strlen(count) > 9)
		fw_ctl_reply(call->conn, 400, "{\"error\":\"count must be a number\"}");
	else {
		cnt = wa_node_new("count");
		wa_node_set_attr(cnt, "value", count);
		if (fw_client_notify(d->client, "encrypt", cnt) == -1)
			fw_ctl_reply(call->conn, 404, "{\"error\":\"no such connected device\"}");
		else
			fw_ctl_reply(call->conn, 200, "{\"sent\":1}");
	}
}

/* GET /admin/accounts */
void
fw_route_accounts(struct fw_ctl_call *call)
{
	struct evbuffer *b = evbuffer_new();

	fw_accounts_json(&call->s->accounts, b);
	evbuffer_add(b, "", 1);
	fw_ctl_reply(call->conn, 200, (const char *)evbuffer_pullup(b, -1));
	evbuffer_free(b);
}

/* The account an account=DIGITS (or phone=DIGITS) parameter names (see fw_routes.h). */
struct fw_account *
fw_route_phone_account(struct fw_ctl_call *call)
{
	const char *phone = fw_ctl_query(call, "account") != NULL ? fw_ctl_query(call, "account") :
	    fw_ctl_query(call, "phone");
	struct fw_account *a = phone != NULL ? fw_account_find(&call->s->accounts, phone) : NULL;

	if (a == NULL || a->mock == NULL)
		fw_ctl_reply(call->conn, 404, "{\"error\":\"no such account\"}");
	return a;
}

/* POST /phone/send?account&to&text */
void
fw_route_phone_send(struct fw_ctl_call *call)
{
	const char *to = fw_ctl_query(call, "to"), *text = fw_ctl_query(call, "text");
	struct fw_account *a;
	struct evbuffer *b;
	char id[64], err[160];

	if (to == NULL || text == NULL) {
		fw_ctl_reply(call->conn, 400, "{\"error\":\"to and text are required\"}");
		return;
	}
	if ((a = fw_route_phone_account(call)) == NULL)
		return;
	b = evbuffer_new();
	if ((fw_group_jid_is(to) ? fw_phone_group_send(call->s, a, to, text, id, sizeof(id), err, sizeof(err)) :
	    fw_phone_send(call->s, a, to, text, id, sizeof(id), err, sizeof(err))) == -1) {
		evbuffer_add_printf(b, "{\"error\":");
		fw_json_string(b, err);
		evbuffer_add_printf(b, "}");
		evbuffer_add(b, "", 1);
		fw_ctl_reply(call->conn, 400, (const char *)evbuffer_pullup(b, -1));
	} else {
		evbuffer_add_printf(b, "{\"id\":\"%s\"}", id);
		evbuffer_add(b, "", 1);
		fw_ctl_reply(call->conn, 200, (const char *)evbuffer_pullup(b, -1));
	}
	evbuffer_free(b);
}

/* GET /phone/received?account */
void
fw_route_phone_received(struct fw_ctl_call *call)
{
	struct fw_account *a;
	struct evbuffer *b;

	if ((a = fw_route_phone_account(call)) == NULL)
		return;
	b = evbuffer_new();
	evbuffer_add_printf(b, "{\"received\":");
	fw_phone_received_json(a->mock, b);
	evbuffer_add(b, "}", 2);
	fw_ctl_reply(call->conn, 200, (const char *)evbuffer_pullup(b, -1));
	evbuffer_free(b);
}

/* POST /phone/fail-next-decrypt?account */
void
fw_route_phone_fail_next(struct fw_ctl_call *call)
{
	struct fw_account *a;

	if ((a = fw_route_phone_account(call)) == NULL)
		return;
	fw_phone_fail_next(a->mock);
	fw_ctl_reply(call->conn, 200, "{\"armed\":1}");
}

/* Answer with err as the JSON error (see fw_routes.h). */
void
fw_route_error(struct fw_ctl_call *call, int code, const char *err)
{
	struct evbuffer *b = evbuffer_new();

	evbuffer_add_printf(b, "{\"error\":");
	fw_json_string(b, err);
	evbuffer_add(b, "}", 2);
	fw_ctl_reply(call->conn, code, (const char *)evbuffer_pullup(b, -1));
	evbuffer_free(b);
}

/* POST /phone/group-create?account&subject&participants=DIGITS|USER_JID,...[&style=old] */
void
fw_route_phone_group_create(struct fw_ctl_call *call)
{
	const char *subject = fw_ctl_query(call, "subject"), *list = fw_ctl_query(call, "participants"),
	    *style = fw_ctl_query(call, "style");
	struct fw_account *a, *m[FW_GROUP_MEMBERS_MAX];
	struct fw_group *g;
	struct wa_node *note;
	char *copy, *save = NULL, *tok, err[128], json[128];
	size_t n = 0;

	if (subject == NULL || list == NULL) {
		fw_route_error(call, 400, "subject and participants are required");
		return;
	}
	if ((a = fw_route_phone_account(call)) == NULL)
		return;
	copy = xstrdup(list);
	for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		/* a number, or a user JID */
		tok[strcspn(tok, "@")] = '\0';
		if (n == FW_GROUP_MEMBERS_MAX || (m[n++] = fw_account_find(&call->s->accounts, tok)) == NULL) {
			free(copy);
			fw_route_error(call, 400, "participants must be up to 64 known account numbers");
			return;
		}
	}
	free(copy);
	if ((g = fw_group_create(call->s->groups, a, subject, m, n, style != NULL && strcmp(style, "old") == 0, err,
	    sizeof(err))) == NULL) {
		fw_route_error(call, 400, err);
		return;
	}
	/* every member device hears of it, the creator's companions included */
	note = wa_node_new("create");
	wa_node_add_child(note, fw_group_node(g));
	fw_group_notify(call->s, g, a, note, g->members, g->nmembers, NULL);
	snprintf(json, sizeof(json), "{\"group\":\"%s\"}", g->jid);
	fw_ctl_reply(call->conn, 200, json);
}

/* POST /phone/group-add?account&group&participant=DIGITS: the phone of account (a member) adds one known
 * account to the group; every member device hears of it (w:gp2 <add>). */
void
fw_route_phone_group_add(struct fw_ctl_call *call)
{
	const char *jid = fw_ctl_query(call, "group"), *who = fw_ctl_query(call, "participant");
	struct fw_account *a, *m;
	struct fw_group *g;
	struct wa_node *note;

	if (jid == NULL || who == NULL) {
		fw_route_error(call, 400, "group and participant are required");
		return;
	}
	if ((a = fw_route_phone_account(call)) == NULL)
		return;
	if ((g = fw_group_find(call->s->groups, jid)) == NULL || !fw_group_is_member(g, a)) {
		fw_route_error(call, 404, "no such group with that member");
		return;
	}
	if ((m = fw_account_find(&call->s->accounts, who)) == NULL || fw_group_add(g, m) != 0) {
		fw_route_error(call, 400, "participant must be a known account, not yet a member, in a group not full");
		return;
	}
	note = wa_node_new("add");
	wa_node_set_attrf(wa_node_add_child(note, wa_node_new("participant")), "jid", "%s@s.whatsapp.net", m->phone);
	fw_group_notify(call->s, g, a, note, g->members, g->nmembers, NULL);
	fw_ctl_reply(call->conn, 200, "{}");
}

/* GET /admin/groups: {"groups":[{"jid","subject","creator","creation","participants":[...]}]} */
void
fw_route_groups(struct fw_ctl_call *call)
{
	struct evbuffer *b = evbuffer_new();
	const struct fw_group *g;
	int ng = 0;

	evbuffer_add_printf(b, "{\"groups\":[");
	TAILQ_FOREACH(g, &call->s->groups->list, entry) {
		evbuffer_add_printf(b, "%s{\"jid\":\"%s\",\"subject\":", ng++ ? "," : "", g->jid);
		fw_json_string(b, g->subject);
		evbuffer_add_printf(b, ",\"creator\":\"%s@s.whatsapp.net\",\"creation\":%lld,\"participants\":[",
		    g->creator->phone, (long long)g->creation);
		for (size_t i = 0; i < g->nmembers; i++)
			evbuffer_add_printf(b, "%s\"%s@s.whatsapp.net\"", i ? "," : "", g->members[i]->phone);
		evbuffer_add_printf(b, "]}");
	}
	evbuffer_add_printf(b, "]}");
	evbuffer_add(b, "", 1);
	fw_ctl_reply(call->conn, 200, (const char *)evbuffer_pullup(b, -1));
	evbuffer_free(b);
}

/* GET /phone/receipts?account */
void
fw_route_phone_receipts(struct fw_ctl_call *call)
{
	struct fw_account *a;
	struct evbuffer *b;

	if ((a = fw_route_phone_account(call)) == NULL)
		return;
	b = evbuffer_new();
	evbuffer_add_printf(b, "{\"receipts\":");
	fw_phone_receipts_json(a->mock, b);
	evbuffer_add(b, "}", 2);
	fw_ctl_reply(call->conn, 200, (const char *)evbuffer_pullup(b, -1));
	evbuffer_free(b);
}

/* POST /phone/reinstall?account */
void
fw_route_phone_reinstall(struct fw_ctl_call *call)
{
	struct fw_account *a;
	char json[64];
	int n;

	if ((a = fw_route_phone_account(call)) == NULL)
		return;
	if ((n = fw_phone_reinstall(call->s, a)) == -1) {
		fw_route_error(call, 500, "no new keys");
		return;
	}
	snprintf(json, sizeof(json), "{\"notified\":%d}", n);
	fw_ctl_reply(call->conn, 200, json);
}

/* POST /phone/redeliver?account */
void
fw_route_phone_redeliver(struct fw_ctl_call *call)
{
	struct fw_account *a;
	char body[64];

	if ((a = fw_route_phone_account(call)) == NULL)
		return;
	snprintf(body, sizeof(body), "{\"delivered\":%d}", fw_phone_redeliver(call->s, a->mock));
	fw_ctl_reply(call->conn, 200, body);
}

/* POST /admin/account?phone&name: an account with its phone and no companion (a contact to talk to). */
void
fw_route_account_new(struct fw_ctl_call *call)
{
	const char *phone = fw_ctl_query(call, "phone");
	struct fw_account *a;
	char body[128];

	if (phone == NULL || (a = fw_account_get(&call->s->accounts, phone, fw_ctl_query(call, "name"))) == NULL) {
		fw_ctl_reply(call->conn, 400, "{\"error\":\"phone must be 1..20 digits\"}");
		return;
	}
	snprintf(body, sizeof(body), "{\"phone\":\"%s\",\"lid\":\"%s\"}", a->phone, a->lid);
	fw_ctl_reply(call->conn, 200, body);
}

/* POST /phone/receipt?account&to&ids=ID[,ID...]&type: the phone says it got (or read, ...) those messages. */
void
fw_route_phone_receipt(struct fw_ctl_call *call)
{
	const char *to = fw_ctl_query(call, "to"), *ids = fw_ctl_query(call, "ids");
	const char *v[16];
	char buf[16 * (FW_MSG_ID_MAX + 1)], err[160], *p, *save = NULL;
	struct fw_account *a;
	size_t n = 0;

	if (to == NULL || ids == NULL || strlen(ids) >= sizeof(buf)) {
		fw_ctl_reply(call->conn, 400, "{\"error\":\"to and ids are required\"}");
		return;
	}
	if ((a = fw_route_phone_account(call)) == NULL)
		return;
	snprintf(buf, sizeof(buf), "%s", ids);
	for (p = strtok_r(buf, ",", &save); p != NULL && n < 16; p = strtok_r(NULL, ",", &save))
		v[n++] = p;
	if (fw_phone_send_receipt(call->s, a, to, fw_ctl_query(call, "type"), v, n, err, sizeof(err)) == -1) {
		fw_ctl_reply(call->conn, 400, "{\"error\":\"bad receipt\"}");
		return;
	}
	fw_ctl_reply(call->conn, 200, "{\"sent\":1}");
}

/* POST /phone/history?account, body = the chunk as JSON (fw_history.h): the phone sends it to its companions,
 * inline or (media mode) as a blob on the media host (fw_media.h). */
void
fw_route_phone_history(struct fw_ctl_call *call)
{
	struct fw_history_media m;
	struct fw_account *a;
	uint8_t *pt;
	size_t ptlen;
	char err[192], id[64], json[128 + FW_HISTORY_PATH_MAX];
	int sent;

	if ((a = fw_route_phone_account(call)) == NULL)
		return;
	if (fw_history_build(call->req->body, call->req->body_len, fw_media_put_history, call->s->media, &m, &pt,
	    &ptlen, err, sizeof(err)) == -1) {
		fw_route_error(call, 400, err);
		return;
	}
	/* a blob stored for a chunk that then is not sent stays until it ages out: the store is bounded anyway */
	sent = fw_phone_peer_send(a, pt, ptlen, id, sizeof(id));
	free(pt);
	if (sent == -1) {
		fw_route_error(call, 500, "the phone has no Signal keys");
		return;
	}
	/* no companion linked is no error: the test sees sent 0 (nothing is queued for a later pairing) */
	if (m.direct_path[0] != '\0')
		snprintf(json, sizeof(json), "{\"id\":\"%s\",\"sent\":%d,\"directPath\":\"%s\"}", id, sent,
		    m.direct_path);
	else
		snprintf(json, sizeof(json), "{\"id\":\"%s\",\"sent\":%d}", id, sent);
	fw_ctl_reply(call->conn, 200, json);
}
