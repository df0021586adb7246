/* The send routes over real HTTP (the supervisor's own evhttp server and a libevent client on one base), a real
 * PostgreSQL (the fixture: lc_testlib.h), and the worker table replaced by stubs that record each command and
 * answer it on a later loop turn: sendText (201 shape, the SERVER_ACK it records, not-on-WhatsApp, a quote of a
 * stored message), and whatsappNumbers and markMessageAsRead (what the worker is asked, the answers' shape and
 * order). */
#include "app.h"
#include "conn_state.h"
#include "lifecycle.h"
#include "registry.h"
#include "workers.h"
#include "xmalloc.h"

#include "e2e.pb-c.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lc_testlib.h"

static struct {
	/* the last command the stub table got */
	int nsend, ncheck, nread;
	char send_to[128];
	Wa__Message *sent;		/* unpacked SendMessage.message */
	char numbers[8][32];
	size_t nnumbers;
	char read_keys[256];
	char presence[8][32];		/* the states SetPresence was asked for */
	size_t npresence;
	/* how the stub answers */
	int answer_ok, answer_code;
} T;

/* ---- the worker table's message commands (lc_stubs.c has the rest): answers go out on a later loop turn, as
 * the contract says ---- */

struct later {
	workers_send_cb send_cb;
	workers_numbers_cb numbers_cb;
	workers_result_cb result_cb;
	workers_groups_cb groups_cb;
	char group[64];
	void *arg;
	struct event *ev;
};

static void
later_cb(evutil_socket_t fd, short what, void *a)
{
	struct later *l = a;
	struct workers_number v[8];
	size_t i;

	(void)fd;
	(void)what;
	if (l->send_cb != NULL) {
		struct workers_send_result r;

		memset(&r, 0, sizeof(r));
		r.ok = T.answer_ok;
		r.code = T.answer_code;
		r.error = T.answer_ok ? NULL : "not on WhatsApp";
		r.id = "3EB0TEST";
		r.remote_jid = T.send_to;
		r.remote_jid_alt = "";
		r.timestamp = 1700000100;
		r.status = WORKERS_MSG_SERVER_ACK;
		l->send_cb(l->arg, &r);
	} else if (l->numbers_cb != NULL) {
		static char jids[8][64];

		for (i = 0; i < T.nnumbers; i++) {
			/* numbers ending in 0 are not on WhatsApp */
			v[i].number = T.numbers[i];
			v[i].exists = T.numbers[i][strlen(T.numbers[i]) - 1] != '0';
			snprintf(jids[i], sizeof(jids[i]), "%s@s.whatsapp.net", T.numbers[i]);
			v[i].jid = v[i].exists ? jids[i] : "";
			v[i].lid = "";
		}
		l->numbers_cb(l->arg, T.answer_ok, T.answer_code, T.answer_ok ? NULL : "failed", T.answer_ok ? v : NULL,
		    T.answer_ok ? T.nnumbers : 0);
	} else if (l->groups_cb != NULL) {
		/* one group exists (we are in it); WhatsApp answers 404 for any other */
		struct workers_group g;

		memset(&g, 0, sizeof(g));
		g.jid = l->group;
		g.subject = "Team";
		if (strcmp(l->group, "120363025246125888@g.us") == 0)
			l->groups_cb(l->arg, 1, 0, NULL, &g, 1);
		else
			l->groups_cb(l->arg, 0, 404, "item-not-found", NULL, 0);
	} else
		l->result_cb(l->arg, T.answer_ok, T.answer_ok ? 0 : T.answer_code, T.answer_ok ? NULL : "socket gone");
	event_free(l->ev);
	free(l);
}

static void
later(struct later *l)
{
	l->ev = evtimer_new(LC.app.base, later_cb, l);
	event_active(l->ev, EV_TIMEOUT, 0);
}

int
workers_send_message(struct workers *w, const char *id, const struct workers_send *m, workers_send_cb cb, void *arg)
{
	struct later *l = xcalloc(1, sizeof(*l));

	(void)w;
	assert_string_equal(id, IID);
	snprintf(T.send_to, sizeof(T.send_to), "%s", m->to);
	if (T.sent != NULL)
		wa__message__free_unpacked(T.sent, NULL);
	T.sent = wa__message__unpack(NULL, m->message_len, m->message);
	assert_non_null(T.sent);
	T.nsend++;
	l->send_cb = cb;
	l->arg = arg;
	later(l);
	return 0;
}

int
workers_check_numbers(struct workers *w, const char *id, const char *const *numbers, size_t n, workers_numbers_cb cb,
    void *arg)
{
	struct later *l = xcalloc(1, sizeof(*l));
	size_t i;

	(void)w;
	(void)id;
	T.nnumbers = n;
	for (i = 0; i < n && i < 8; i++)
		snprintf(T.numbers[i], sizeof(T.numbers[i]), "%s", numbers[i]);
	T.ncheck++;
	l->numbers_cb = cb;
	l->arg = arg;
	later(l);
	return 0;
}

int
workers_group_query(struct workers *w, const char *id, const char *jid, workers_groups_cb cb, void *arg)
{
	struct later *l = xcalloc(1, sizeof(*l));

	(void)w;
	(void)id;
	snprintf(l->group, sizeof(l->group), "%s", jid);
	l->groups_cb = cb;
	l->arg = arg;
	later(l);
	return 0;
}

int
workers_mark_read(struct workers *w, const char *id, const struct workers_msg_key *keys, size_t n,
    workers_result_cb cb, void *arg)
{
	struct later *l = xcalloc(1, sizeof(*l));
	size_t i, off = 0;

	(void)w;
	(void)id;
	T.read_keys[0] = '\0';
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(T.read_keys + off, sizeof(T.read_keys) - off, "%s%s/%s/%d/%s", i ? "," : "",
		    keys[i].remote_jid, keys[i].id, keys[i].from_me, keys[i].participant ? keys[i].participant : "");
	T.nread++;
	l->result_cb = cb;
	l->arg = arg;
	later(l);
	return 0;
}

int
workers_set_presence(struct workers *w, const char *id, const char *to, const char *presence, workers_result_cb cb,
    void *arg)
{
	struct later *l = xcalloc(1, sizeof(*l));

	(void)w;
	(void)id;
	(void)to;
	if (T.npresence < 8)
		snprintf(T.presence[T.npresence], sizeof(T.presence[0]), "%s", presence);
	T.npresence++;
	l->result_cb = cb;
	l->arg = arg;
	later(l);
	return 0;
}

/* ---- tests ---- */

/* A plain text: the worker gets the JID and a conversation; 201 in Evolution's shape; the ack is recorded. */
static void
test_send_text(void **state)
{
	(void)state;
	T.answer_ok = 1;
	lct_sql("DELETE FROM webhook_outbox");
	/* the row the worker stores before it sends (its MessageStore) */
	lct_sql("INSERT INTO message (instance_id, key_id, remote_jid, from_me, message_type, key, message,"
	    " message_timestamp, status) VALUES ('" IID "', '3EB0TEST', '15551234567@s.whatsapp.net', true,"
	    " 'conversation', '{}', '{}', 1700000100, 'PENDING')");
	lct_post("/message/sendText/rt", "{\"number\":\"+1 555 123-4567\",\"text\":\"Hello\"}");
	assert_int_equal(LC.code, 201);
	assert_string_equal(T.send_to, "15551234567@s.whatsapp.net");
	assert_string_equal(T.sent->conversation, "Hello");
	assert_member("{\"remoteJid\":\"15551234567@s.whatsapp.net\",\"fromMe\":true,\"id\":\"3EB0TEST\"}", "key");
	assert_member("\"PENDING\"", "status");
	assert_member("{\"conversation\":\"Hello\"}", "message");
	assert_member("\"conversation\"", "messageType");
	assert_member("1700000100", "messageTimestamp");
	assert_member("\"" IID "\"", "instanceId");
	assert_member("\"unknown\"", "source");
	assert_member("<absent>", "contextInfo");
	lct_settle();
	assert_val("SERVER_ACK", "SELECT status FROM message WHERE key_id = '3EB0TEST'");
	assert_val("1", "SELECT count(*) FROM webhook_outbox WHERE event = 'messages.update'");

	/* the worker says the number has no WhatsApp: Evolution's 400 with the lookup object */
	T.answer_ok = 0;
	T.answer_code = 400;
	lct_post("/message/sendText/rt", "{\"number\":\"15550000000\",\"text\":\"Hello\"}");
	assert_int_equal(LC.code, 400);
	assert_member("[{\"exists\":false,\"jid\":\"15550000000@s.whatsapp.net\",\"number\":\"15550000000\"}]",
	    "response.message");
	/* timed out */
	T.answer_code = 504;
	lct_post("/message/sendText/rt", "{\"number\":\"15550000000\",\"text\":\"Hello\"}");
	assert_int_equal(LC.code, 504);
	T.answer_ok = 1;
}

/* A quote by id: the stored text is quoted (stanzaId, participant, quotedMessage); an unknown id sends
 * without a quote; mentions go in contextInfo. */
static void
test_send_quoted(void **state)
{
	int n = T.nsend;

	(void)state;
	lct_sql("INSERT INTO message (instance_id, key_id, remote_jid, from_me, message_type, key, message,"
	    " message_timestamp, status) VALUES ('" IID "', 'ORIG1', '15559990000@s.whatsapp.net', false,"
	    " 'conversation', '{}', '{\"conversation\":\"the original\"}', 1700000000, 'DELIVERY_ACK')");
	lct_post("/message/sendText/rt", "{\"number\":\"15559990000\",\"text\":\"a reply\",\"quoted\":{\"key\":"
	    "{\"id\":\"ORIG1\"}},\"mentioned\":[\"15551112222\"]}");
	assert_int_equal(LC.code, 201);
	assert_int_equal(T.nsend, n + 1);
	assert_non_null(T.sent->extendedtextmessage);
	assert_string_equal(T.sent->extendedtextmessage->text, "a reply");
	assert_string_equal(T.sent->extendedtextmessage->contextinfo->stanzaid, "ORIG1");
	assert_string_equal(T.sent->extendedtextmessage->contextinfo->participant, "15559990000@s.whatsapp.net");
	assert_string_equal(T.sent->extendedtextmessage->contextinfo->quotedmessage->conversation, "the original");
	assert_string_equal(T.sent->extendedtextmessage->contextinfo->mentionedjid[0], "15551112222@s.whatsapp.net");
	/* Evolution's response: the text as conversation, the context beside it */
	assert_member("{\"conversation\":\"a reply\"}", "message");
	assert_member("\"ORIG1\"", "contextInfo.stanzaId");
	assert_member("\"the original\"", "contextInfo.quotedMessage.conversation");

	lct_post("/message/sendText/rt", "{\"number\":\"15559990000\",\"text\":\"no such\",\"quoted\":{\"key\":"
	    "{\"id\":\"NOPE\"}}}");
	assert_int_equal(LC.code, 201);
	assert_string_equal(T.sent->conversation, "no such");
}

/* Validation and a closed instance: 400s that never reach the worker. */
static void
test_send_refused(void **state)
{
	int n = T.nsend;

	(void)state;
	lct_post("/message/sendText/rt", "{\"text\":\"x\"}");
	assert_int_equal(LC.code, 400);
	assert_member("[[\"instance requires property \\\"number\\\"\"]]", "response.message");
	lct_post("/message/sendText/rt", "{\"number\":\"15551234567\",\"text\":\" \"}");
	assert_member("[\"Text is required\"]", "response.message");
	lct_post("/message/sendText/rt", "{\"number\":\"status@broadcast\",\"text\":\"x\"}");
	assert_member("[{\"exists\":false,\"jid\":\"status@broadcast\",\"number\":\"status@broadcast\"}]",
	    "response.message");
	lct_inst()->state = CONN_CLOSE;
	lct_post("/message/sendText/rt", "{\"number\":\"15551234567\",\"text\":\"x\"}");
	assert_int_equal(LC.code, 400);
	assert_member("[\"Error: Connection Closed\"]", "response.message");
	lct_post("/chat/whatsappNumbers/rt", "{\"numbers\":[\"15551234567\"]}");
	assert_member("[\"Error: Connection Closed\"]", "response.message");
	lct_inst()->state = CONN_OPEN;
	assert_int_equal(T.nsend, n);
}

/* whatsappNumbers: broadcasts first (not asked), then groups (their metadata: a group we can describe exists,
 * with its subject as name), then users in order with WhatsApp's JID. */
static void
test_numbers(void **state)
{
	(void)state;
	lct_post("/chat/whatsappNumbers/rt", "{\"numbers\":[\"+1 555 123 4567\",\"120363025246125888@g.us\","
	    "\"15550000000\",\"120363000000000001@g.us\",\"status@broadcast\"]}");
	assert_int_equal(LC.code, 200);
	assert_int_equal(T.nnumbers, 2);
	assert_string_equal(T.numbers[0], "15551234567");
	assert_string_equal(T.numbers[1], "15550000000");
	assert_string_equal(LC.body, "[{\"exists\":false,\"jid\":\"status@broadcast\",\"number\":\"status@broadcast\"},"
	    "{\"exists\":true,\"jid\":\"120363025246125888@g.us\",\"number\":\"120363025246125888@g.us\","
	    "\"name\":\"Team\"},{\"exists\":false,\"jid\":\"120363000000000001@g.us\","
	    "\"number\":\"120363000000000001@g.us\"},{\"exists\":true,\"jid\":\"15551234567@s.whatsapp.net\","
	    "\"number\":\"+1 555 123 4567\"},{\"exists\":false,\"jid\":\"15550000000@s.whatsapp.net\","
	    "\"number\":\"15550000000\"}]");
	/* groups alone: no CheckNumbers */
	T.nnumbers = 0;
	lct_post("/chat/whatsappNumbers/rt", "{\"numbers\":[\"120363025246125888@g.us\"]}");
	assert_int_equal(LC.code, 200);
	assert_int_equal(T.nnumbers, 0);
	lct_post("/chat/whatsappNumbers/rt", "{\"numbers\":[\"1\",\"1\"]}");
	assert_int_equal(LC.code, 400);
}

/* markMessageAsRead: the keys the worker gets (bad JIDs skipped), Evolution's answers. */
static void
test_mark_read(void **state)
{
	(void)state;
	lct_post("/chat/markMessageAsRead/rt", "{\"readMessages\":[{\"id\":\"A\",\"fromMe\":false,\"remoteJid\":"
	    "\"15551234567@s.whatsapp.net\"},{\"id\":\"B\",\"fromMe\":false,\"remoteJid\":\"120363@g.us\","
	    "\"participant\":\"15559990000@s.whatsapp.net\"},{\"id\":\"C\",\"fromMe\":false,\"remoteJid\":\"x@y\"}]}");
	assert_int_equal(LC.code, 201);
	assert_string_equal(LC.body, "{\"message\":\"Read messages\",\"read\":\"success\"}");
	assert_string_equal(T.read_keys, "15551234567@s.whatsapp.net/A/0/,120363@g.us/B/0/15559990000@s.whatsapp.net");
	T.answer_ok = 0;
	lct_post("/chat/markMessageAsRead/rt", "{\"readMessages\":[{\"id\":\"A\",\"fromMe\":false,\"remoteJid\":"
	    "\"15551234567@s.whatsapp.net\"}]}");
	assert_int_equal(LC.code, 500);
	assert_member("[\"Read messages fail\",\"socket gone\"]", "response.message");
	T.answer_ok = 1;
}

/* A typing delay the worker could not show: the send does not happen, and the answer says why by the worker's
 * status, as a send's own failure would: not connected (or the worker gone) is Evolution's closed-socket 400, no
 * answer in time 504, a refusal 400 with the worker's words. /chat/sendPresence answers the same way. */
static void
test_delay_refused(void **state)
{
	static const struct { int status, code; const char *message; } how[] = {
		{ 503, 400, "[\"Error: Connection Closed\"]" },
		{ 504, 504, "[\"socket gone\"]" },
		{ 400, 400, "[\"Error: socket gone\"]" },
	};
	size_t k;

	(void)state;
	for (k = 0; k < sizeof(how) / sizeof(how[0]); k++) {
		T.answer_ok = 0;
		T.answer_code = how[k].status;
		T.npresence = 0;
		T.send_to[0] = '\0';
		lct_post("/message/sendText/rt", "{\"number\":\"15551234567\",\"text\":\"Hi\",\"delay\":5}");
		assert_int_equal(LC.code, how[k].code);
		assert_member(how[k].message, "response.message");
		assert_int_equal(T.npresence, 1);
		assert_string_equal(T.presence[0], "composing");
		assert_string_equal(T.send_to, "");
		lct_post("/chat/sendPresence/rt", "{\"number\":\"15551234567\",\"presence\":\"composing\",\"delay\":5}");
		assert_int_equal(LC.code, how[k].code);
		assert_member(how[k].message, "response.message");
	}
	T.answer_ok = 1;
}

/* ---- set-up ---- */

static int
setup(void **state)
{
	(void)state;
	return lct_setup("routes_message_test", "rt", 1);
}

static int
teardown(void **state)
{
	lct_teardown(state);
	if (T.sent != NULL)
		wa__message__free_unpacked(T.sent, NULL);
	return 0;
}

/* fetchInstances shows _count as the messaging writers move it: the cached text of the instance is dropped by
 * each count change and built again by the next list. */
static void
test_fetch_counts(void **state)
{
	struct instance *i = lct_inst();
	char want[96];

	(void)state;
	lct_get("/instance/fetchInstances");
	assert_int_equal(LC.code, 200);
	snprintf(want, sizeof(want), "{\"Message\":%lld,\"Contact\":%lld,\"Chat\":%lld}",
	    (long long)i->count_messages, (long long)i->count_contacts, (long long)i->count_chats);
	assert_member(want, "0._count");
	lifecycle_count_add(&LC.app, IID, 2, 1, 1);
	lct_get("/instance/fetchInstances");
	snprintf(want, sizeof(want), "{\"Message\":%lld,\"Contact\":%lld,\"Chat\":%lld}",
	    (long long)i->count_messages, (long long)i->count_contacts, (long long)i->count_chats);
	assert_member(want, "0._count");
	assert_true(i->count_messages >= 2);
	lifecycle_count_add(&LC.app, IID, -2, -1, -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_send_text),
		cmocka_unit_test(test_send_quoted),
		cmocka_unit_test(test_send_refused),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_mark_read),
		cmocka_unit_test(test_delay_refused),
		cmocka_unit_test(test_fetch_counts),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
