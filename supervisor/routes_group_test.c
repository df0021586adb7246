/* The group routes (routes_group.c) over real HTTP (the supervisor's own evhttp server and a libevent client on
 * one base), a real PostgreSQL behind the app (the fixture: lc_testlib.h), and the worker table replaced by
 * stubs that record each group command and answer it on a later loop turn, as the contract says: create
 * (validation in Evolution's nested shape, participants normalised, the 201 metadata), findGroupInfos and participants (groupJid from the query
 * or the body, "@g.us" appended, {property, message} errors), fetchAllGroups (getParticipants), and the
 * worker's failures (closed, 504, Evolution's 404/500 answers); participants named from the stored contacts.
 * Every refusal is checked not to reach the worker. */
#include "app.h"
#include "conn_state.h"
#include "registry.h"
#include "workers.h"
#include "xmalloc.h"

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

#define GJID	"120363000000000001@g.us"

static struct {
	/* what the stub table got */
	int ncreate, nquery, nlist;
	char subject[128];
	char parts[512];		/* the participants asked, comma-separated */
	char qjid[160];
	/* how the stub answers: ok, or code + error; ngroups for a list */
	int answer_ok, answer_code;
	size_t ngroups;
} T;

/* ---- the worker table's group commands (lc_stubs.c has the rest): answers go out on a later loop turn ---- */

struct later {
	workers_groups_cb cb;
	void *arg;
	int list;
	char jid[160];
	struct event *ev;
};

static void
later_cb(evutil_socket_t fd, short what, void *a)
{
	struct later *l = a;
	struct workers_group g[2];
	struct workers_group_participant p[3] = {
		{ "15550001111@s.whatsapp.net", "100000000000001@lid", "superadmin" },
		{ "15551234567@s.whatsapp.net", "", "" },
		{ "15557654321@s.whatsapp.net", "", "admin" },
	};
	size_t i;

	(void)fd;
	(void)what;
	memset(g, 0, sizeof(g));
	for (i = 0; i < 2; i++) {
		g[i].jid = i == 0 ? l->jid : "120363000000000002@g.us";
		g[i].subject = i == 0 ? "The Subject" : "Second";
		g[i].subject_owner = "15550001111@s.whatsapp.net";
		g[i].owner = i == 0 ? "15550001111@s.whatsapp.net" : "";
		g[i].desc = i == 0 ? "" : "about it";
		g[i].desc_id = i == 0 ? "" : "DESC1";
		g[i].subject_time = 1700000000;
		g[i].creation = 1700000001;
		g[i].locked = i == 1;
		g[i].announce = 0;
		g[i].participants = p;
		g[i].nparticipants = i == 0 ? 3 : 2;
	}
	if (!T.answer_ok)
		l->cb(l->arg, 0, T.answer_code, "item-not-found", NULL, 0);
	else
		l->cb(l->arg, 1, 0, NULL, g, l->list ? T.ngroups : 1);
	event_free(l->ev);
	free(l);
}

static void
later(workers_groups_cb cb, void *arg, int list, const char *jid)
{
	struct later *l = xcalloc(1, sizeof(*l));

	l->cb = cb;
	l->arg = arg;
	l->list = list;
	snprintf(l->jid, sizeof(l->jid), "%s", jid);
	l->ev = evtimer_new(LC.app.base, later_cb, l);
	event_active(l->ev, EV_TIMEOUT, 0);
}

int
workers_group_create(struct workers *w, const char *id, const char *subject, const char *const *participants,
    size_t n, workers_groups_cb cb, void *arg)
{
	size_t i, off = 0;

	(void)w;
	assert_string_equal(id, IID);
	assert_true(n > 0);
	snprintf(T.subject, sizeof(T.subject), "%s", subject);
	T.parts[0] = '\0';
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(T.parts + off, sizeof(T.parts) - off, "%s%s", i ? "," : "", participants[i]);
	T.ncreate++;
	later(cb, arg, 0, GJID);
	return 0;
}

int
workers_group_query(struct workers *w, const char *id, const char *jid, workers_groups_cb cb, void *arg)
{
	(void)w;
	assert_string_equal(id, IID);
	snprintf(T.qjid, sizeof(T.qjid), "%s", jid);
	T.nquery++;
	later(cb, arg, 0, jid);
	return 0;
}

int
workers_group_list(struct workers *w, const char *id, workers_groups_cb cb, void *arg)
{
	(void)w;
	assert_string_equal(id, IID);
	T.nlist++;
	later(cb, arg, 1, GJID);
	return 0;
}

/* How many group commands the stub table got so far. */
static int
asked(void)
{
	return T.ncreate + T.nquery + T.nlist;
}

/* ---- tests ---- */

#define PARTS_JSON "[{\"id\":\"15550001111@s.whatsapp.net\",\"admin\":\"superadmin\"},{\"id\":" \
	"\"15551234567@s.whatsapp.net\",\"admin\":null},{\"id\":\"15557654321@s.whatsapp.net\",\"admin\":\"admin\"}]"

/* create: the worker gets the subject and the participants as user JIDs (normalised, deduplicated, non-users
 * dropped); 201 with the metadata in Baileys' shape (no pictureUrl; empty desc left out). */
static void
test_create(void **state)
{
	int n = T.ncreate;

	(void)state;
	T.answer_ok = 1;
	lct_post("/group/create/rt", "{\"subject\":\"The Subject\",\"participants\":[\"+1 555 123-4567\","
	    "\"15557654321\",\"15551234567@s.whatsapp.net\",\"120363000000000000001\"],\"description\":\"ignored\"}");
	assert_int_equal(LC.code, 201);
	assert_int_equal(T.ncreate, n + 1);
	assert_string_equal(T.subject, "The Subject");
	assert_string_equal(T.parts, "15551234567@s.whatsapp.net,15557654321@s.whatsapp.net");
	assert_string_equal(LC.body, "{\"id\":\"" GJID "\",\"subject\":\"The Subject\",\"subjectOwner\":"
	    "\"15550001111@s.whatsapp.net\",\"subjectTime\":1700000000,\"size\":3,\"creation\":1700000001,\"owner\":"
	    "\"15550001111@s.whatsapp.net\",\"restrict\":false,\"announce\":false,\"participants\":" PARTS_JSON ","
	    "\"isCommunity\":false,\"isCommunityAnnounce\":false}");

	/* the worker fails: Evolution's 500 with the error; 504 and a worker gone as sendText answers them */
	T.answer_ok = 0;
	T.answer_code = 400;
	lct_post("/group/create/rt", "{\"subject\":\"S\",\"participants\":[\"15551234567\"]}");
	assert_int_equal(LC.code, 500);
	assert_member("[\"Error creating group\",\"Error: item-not-found\"]", "response.message");
	T.answer_code = 504;
	lct_post("/group/create/rt", "{\"subject\":\"S\",\"participants\":[\"15551234567\"]}");
	assert_int_equal(LC.code, 504);
	T.answer_code = 503;
	lct_post("/group/create/rt", "{\"subject\":\"S\",\"participants\":[\"15551234567\"]}");
	assert_int_equal(LC.code, 400);
	assert_member("[\"Error: Connection Closed\"]", "response.message");
	assert_int_equal(T.ncreate, n + 4);
	T.answer_ok = 1;
}

/* create's validation: Evolution's nested-array messages, in its order; nothing reaches the worker. */
static void
test_create_refused(void **state)
{
	int n = asked();

	(void)state;
	lct_post("/group/create/rt", "{}");
	assert_int_equal(LC.code, 400);
	assert_member("[[\"instance requires property \\\"subject\\\"\",\"instance requires property "
	    "\\\"participants\\\"\"]]", "response.message");
	lct_post("/group/create/rt", "{\"subject\":5,\"participants\":[\"123\",\"abcdefghijkl\",7,\"123\"],"
	    "\"promoteParticipants\":\"yes\"}");
	assert_int_equal(LC.code, 400);
	assert_member("[[\"subject is not of a type(s) string\",\"promoteParticipants is not of a type(s) boolean\","
	    "\"promoteParticipants is not one of enum values: true,false\",\"participants contains duplicate item\","
	    "\"\\\"participants\\\" must be an array of numeric strings\",\"\\\"participants\\\" must be an array of "
	    "numeric strings\",\"\\\"participants\\\" must be an array of numeric strings\",\"\\\"participants\\\" "
	    "must be an array of numeric strings\"]]", "response.message");
	lct_post("/group/create/rt", "{\"subject\":\"S\",\"participants\":[]}");
	assert_member("[[\"participants does not meet minimum length of 1\"]]", "response.message");
	/* isNotEmpty applies only to a body of its listed members */
	lct_post("/group/create/rt", "{\"subject\":\"\"}");
	assert_member("[[\"instance requires property \\\"participants\\\"\",\"The \\\"subject\\\" cannot be "
	    "empty\"]]", "response.message");
	/* valid for the schema, still refused: an empty subject, participants none of which is a user */
	lct_post("/group/create/rt", "{\"subject\":\"\",\"participants\":[\"15551234567\"]}");
	assert_int_equal(LC.code, 400);
	lct_post("/group/create/rt", "{\"subject\":\"S\",\"participants\":[\"120363000000000000001\"]}");
	assert_int_equal(LC.code, 400);
	assert_member("[\"Error creating group\",\"Error: no participant is a WhatsApp number\"]", "response.message");
	/* closed: sendText's error */
	lct_inst()->state = CONN_CLOSE;
	lct_post("/group/create/rt", "{\"subject\":\"S\",\"participants\":[\"15551234567\"]}");
	assert_int_equal(LC.code, 400);
	assert_member("[\"Error: Connection Closed\"]", "response.message");
	lct_inst()->state = CONN_OPEN;
	assert_int_equal(asked(), n);
}

/* findGroupInfos: groupJid from the query (with "@g.us" appended) or the body; Evolution's object. */
static void
test_find_info(void **state)
{
	(void)state;
	T.answer_ok = 1;
	lct_get("/group/findGroupInfos/rt?groupJid=120363000000000001");
	assert_int_equal(LC.code, 200);
	assert_string_equal(T.qjid, GJID);
	assert_string_equal(LC.body, "{\"id\":\"" GJID "\",\"subject\":\"The Subject\",\"subjectOwner\":"
	    "\"15550001111@s.whatsapp.net\",\"subjectTime\":1700000000,\"pictureUrl\":null,\"size\":3,\"creation\":"
	    "1700000001,\"owner\":\"15550001111@s.whatsapp.net\",\"restrict\":false,\"announce\":false,"
	    "\"participants\":" PARTS_JSON ",\"isCommunity\":false,\"isCommunityAnnounce\":false}");
	lct_get("/group/findGroupInfos/rt?groupJid=120363000000000009%40g.us");
	assert_int_equal(LC.code, 200);
	assert_string_equal(T.qjid, "120363000000000009@g.us");
	/* the body's groupJid wins over the query's */
	lct_req(EVHTTP_REQ_GET, "/group/findGroupInfos/rt?groupJid=1", "{\"groupJid\":\"120363000000000007\"}");
	assert_int_equal(LC.code, 200);
	assert_string_equal(T.qjid, "120363000000000007@g.us");
	/* the worker cannot: Evolution's 404 */
	T.answer_ok = 0;
	T.answer_code = 404;
	lct_get("/group/findGroupInfos/rt?groupJid=120363000000000001");
	assert_int_equal(LC.code, 404);
	assert_member("[\"Error fetching group\",\"Error: item-not-found\"]", "response.message");
	T.answer_ok = 1;
}

/* participants: {participants: [{id, admin}]}; its failure is Evolution's 404 too. */
static void
test_participants(void **state)
{
	(void)state;
	T.answer_ok = 1;
	lct_get("/group/participants/rt?groupJid=120363000000000001@g.us");
	assert_int_equal(LC.code, 200);
	assert_string_equal(T.qjid, GJID);
	assert_string_equal(LC.body, "{\"participants\":" PARTS_JSON "}");
	/* members with a stored contact get its name and picture (null when it has none), as Evolution adds them */
	lct_sql("INSERT INTO contact (instance_id, remote_jid, push_name, profile_pic_url) VALUES"
	    " ('" IID "', '15551234567@s.whatsapp.net', 'Bea \"B\"', NULL),"
	    " ('" IID "', '15557654321@s.whatsapp.net', NULL, 'https://pps.example/p.jpg'),"
	    " ('" IID "', '15559999999@s.whatsapp.net', 'Not a member', NULL)");
	lct_get("/group/participants/rt?groupJid=120363000000000001");
	assert_int_equal(LC.code, 200);
	assert_string_equal(LC.body, "{\"participants\":[{\"id\":\"15550001111@s.whatsapp.net\","
	    "\"admin\":\"superadmin\"},{\"id\":\"15551234567@s.whatsapp.net\",\"admin\":null,"
	    "\"name\":\"Bea \\\"B\\\"\",\"imgUrl\":null},"
	    "{\"id\":\"15557654321@s.whatsapp.net\",\"admin\":\"admin\",\"name\":null,\"imgUrl\":"
	    "\"https://pps.example/p.jpg\"}]}");
	lct_sql("DELETE FROM contact");
	T.answer_ok = 0;
	T.answer_code = 403;
	lct_get("/group/participants/rt?groupJid=120363000000000001@g.us");
	assert_int_equal(LC.code, 404);
	assert_member("[\"No participants\",\"Error: item-not-found\"]", "response.message");
	T.answer_ok = 1;
}

/* The groupJid routes refuse: absent, not a group id, not a string, closed; nothing reaches the worker. */
static void
test_group_jid_refused(void **state)
{
	int n = asked();

	(void)state;
	lct_get("/group/findGroupInfos/rt");
	assert_int_equal(LC.code, 400);
	assert_member("[\"The group id needs to be informed in the query\",\"ex: \\\"groupJid=120362@g.us\\\"\"]",
	    "response.message");
	lct_get("/group/participants/rt?groupJid=");
	assert_int_equal(LC.code, 400);
	assert_member("[\"The group id needs to be informed in the query\",\"ex: \\\"groupJid=120362@g.us\\\"\"]",
	    "response.message");
	lct_get("/group/findGroupInfos/rt?groupJid=abc");
	assert_int_equal(LC.code, 400);
	assert_member("[{\"property\":\"groupJid\",\"message\":\"groupJid does not match pattern "
	    "\\\"^[\\\\\\\\d-]+@g.us$\\\"\"}]", "response.message");
	lct_get("/group/participants/rt?groupJid=15551234567@s.whatsapp.net");
	assert_member("[{\"property\":\"groupJid\",\"message\":\"groupJid does not match pattern "
	    "\\\"^[\\\\\\\\d-]+@g.us$\\\"\"}]", "response.message");
	lct_req(EVHTTP_REQ_GET, "/group/findGroupInfos/rt", "{\"groupJid\":12}");
	assert_int_equal(LC.code, 400);
	assert_member("[{\"property\":\"groupJid\",\"message\":\"groupJid is not of a type(s) string\"}]",
	    "response.message");
	lct_inst()->state = CONN_CONNECTING;
	lct_get("/group/findGroupInfos/rt?groupJid=120363000000000001");
	assert_int_equal(LC.code, 400);
	assert_member("[\"Error: Connection Closed\"]", "response.message");
	lct_inst()->state = CONN_OPEN;
	assert_int_equal(asked(), n);
}

/* fetchAllGroups: every group, participants only with getParticipants=true; the query's refusals. */
static void
test_fetch_all(void **state)
{
	int n;

	(void)state;
	T.answer_ok = 1;
	T.ngroups = 2;
	lct_get("/group/fetchAllGroups/rt?getParticipants=false");
	assert_int_equal(LC.code, 200);
	assert_member("2", "1.size");
	assert_member("<absent>", "0.participants");
	assert_member("<absent>", "1.participants");
	assert_member("\"about it\"", "1.desc");
	assert_member("\"DESC1\"", "1.descId");
	assert_member("<absent>", "1.owner");
	assert_member("true", "1.restrict");
	assert_non_null(strstr(LC.body, "\"pictureUrl\":null"));	/* member() cannot tell null from absent */
	lct_get("/group/fetchAllGroups/rt?getParticipants=true");
	assert_int_equal(LC.code, 200);
	assert_member(PARTS_JSON, "0.participants");
	assert_member("\"120363000000000002@g.us\"", "1.id");
	T.ngroups = 0;
	lct_get("/group/fetchAllGroups/rt?getParticipants=true");
	assert_int_equal(LC.code, 200);
	assert_string_equal(LC.body, "[]");
	/* a failure: Evolution has no handler there, so a 500 with the error as a plain string */
	T.answer_ok = 0;
	T.answer_code = 500;
	lct_get("/group/fetchAllGroups/rt?getParticipants=true");
	assert_int_equal(LC.code, 500);
	assert_member("\"item-not-found\"", "response.message");
	T.answer_ok = 1;

	n = asked();
	lct_get("/group/fetchAllGroups/rt");
	assert_int_equal(LC.code, 400);
	assert_member("[\"The getParticipants needs to be informed in the query\"]", "response.message");
	lct_get("/group/fetchAllGroups/rt?getParticipants=yes");
	assert_int_equal(LC.code, 400);
	assert_member("[{\"property\":\"getParticipants\",\"message\":\"getParticipants is not one of enum values: "
	    "true,false\"}]", "response.message");
	lct_inst()->state = CONN_CLOSE;
	lct_get("/group/fetchAllGroups/rt?getParticipants=false");
	assert_int_equal(LC.code, 400);
	assert_member("[\"Error: Connection Closed\"]", "response.message");
	lct_inst()->state = CONN_OPEN;
	assert_int_equal(asked(), n);
}

/* ---- set-up ---- */

static int
setup(void **state)
{
	(void)state;
	return lct_setup("routes_group_test", "rt", 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create),
		cmocka_unit_test(test_create_refused),
		cmocka_unit_test(test_find_info),
		cmocka_unit_test(test_participants),
		cmocka_unit_test(test_group_jid_refused),
		cmocka_unit_test(test_fetch_all),
	};

	return cmocka_run_group_tests(tests, setup, lct_teardown);
}
