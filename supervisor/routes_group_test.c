/* The group routes (routes_group.c) over real HTTP (the supervisor's own evhttp server and a libevent client on
 * one base), a real PostgreSQL behind the app, and the worker table replaced by stubs that record each group
 * command and answer it on a later loop turn, as the contract says: create (validation in Evolution's nested
 * shape, participants normalised, the 201 metadata), findGroupInfos and participants (groupJid from the query
 * or the body, "@g.us" appended, {property, message} errors), fetchAllGroups (getParticipants), and the
 * worker's failures (closed, 504, Evolution's 404/500 answers); participants named from the stored contacts.
 * Every refusal is checked not to reach the worker. */
#include "app.h"
#include "config.h"
#include "conn_state.h"
#include "db.h"
#include "http.h"
#include "lifecycle.h"
#include "log.h"
#include "migrate.h"
#include "pgtest.h"
#include "registry.h"
#include "webhook.h"
#include "workers.h"
#include "xmalloc.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <libpq-fe.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#define IID	"11111111-2222-4333-8444-555555555555"
#define KEY	"global-test-key"
#define GJID	"120363000000000001@g.us"

static struct {
	struct app app;
	struct config cfg;
	struct pgtest *pg;
	char *uri;
	PGconn *conn;
	int port;
	/* what the stub table got */
	int ncreate, nquery, nlist;
	char subject[128];
	char parts[512];		/* the participants asked, comma-separated */
	char qjid[160];
	/* how the stub answers: ok, or code + error; ngroups for a list */
	int answer_ok, answer_code;
	size_t ngroups;
	/* the HTTP answer */
	int done, code;
	char body[16384];
} T;

/* ---- worker table stubs: answers go out on a later loop turn ---- */

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
	l->ev = evtimer_new(T.app.base, later_cb, l);
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

/* The rest of the table: what lifecycle and the other routes link against (none is called here). */
int workers_send_message(struct workers *w, const char *i, const struct workers_send *m, workers_send_cb cb, void *a)
{ (void)w; (void)i; (void)m; (void)cb; (void)a; return -1; }
int workers_check_numbers(struct workers *w, const char *i, const char *const *n, size_t c, workers_numbers_cb cb,
    void *a)
{ (void)w; (void)i; (void)n; (void)c; (void)cb; (void)a; return -1; }
int workers_mark_read(struct workers *w, const char *i, const struct workers_msg_key *k, size_t n,
    workers_result_cb cb, void *a)
{ (void)w; (void)i; (void)k; (void)n; (void)cb; (void)a; return -1; }
int workers_reply_pair(struct workers *w, const char *i, uint64_t r, int ok, const char *e)
{ (void)w; (void)i; (void)r; (void)ok; (void)e; return 0; }
int workers_reply_store(struct workers *w, const char *i, uint64_t r, int ok, const char *e)
{ (void)w; (void)i; (void)r; (void)ok; (void)e; return 0; }
int workers_reply_signal(struct workers *w, const char *i, uint64_t r, int ok, const char *e,
    const struct workers_sig_record *recs, size_t n)
{ (void)w; (void)i; (void)r; (void)ok; (void)e; (void)recs; (void)n; return 0; }
int workers_forget_creds(struct workers *w, const char *i) { (void)w; (void)i; return 0; }
int workers_add(struct workers *w, const struct worker_spec *s) { (void)w; (void)s; return 0; }
int workers_remove(struct workers *w, const char *i) { (void)w; (void)i; return 0; }
int workers_update(struct workers *w, const struct worker_spec *s) { (void)w; (void)s; return 0; }
int workers_logout(struct workers *w, const char *i) { (void)w; (void)i; return 0; }
pid_t workers_pid(const struct workers *w, const char *i) { (void)w; (void)i; return 0; }
int workers_restart(struct workers *w, const char *i) { (void)w; (void)i; return 0; }
int workers_connect(struct workers *w, const char *i, const char *n) { (void)w; (void)i; (void)n; return 0; }
int workers_set_presence(struct workers *w, const char *i, const char *p, workers_result_cb cb, void *a)
{ (void)w; (void)i; (void)p; (void)cb; (void)a; return -1; }
void workers_foreach(const struct workers *w, void (*fn)(const char *, pid_t, unsigned, void *), void *a)
{ (void)w; (void)fn; (void)a; }
unsigned workers_ready_count(const struct workers *w) { (void)w; return 0; }
double workers_ipc_latency_ms(const struct workers *w) { (void)w; return 0; }

/* ---- helpers ---- */

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* Run the loop until *flag >= want or ms pass. */
static int
run_until(const int *flag, int want, int ms)
{
	long long end = now_ms() + ms;
	struct event *tick = evtimer_new(T.app.base, tick_cb, NULL);
	struct timeval tv = { 0, 10000 };

	while (*flag < want && now_ms() < end) {
		evtimer_add(tick, &tv);
		event_base_loop(T.app.base, EVLOOP_ONCE);
	}
	event_free(tick);
	return *flag >= want;
}

static void
reply_cb(struct evhttp_request *req, void *arg)
{
	struct evbuffer *b;
	size_t n;

	(void)arg;
	T.code = req != NULL ? evhttp_request_get_response_code(req) : 0;
	T.body[0] = '\0';
	if (req != NULL && (b = evhttp_request_get_input_buffer(req)) != NULL) {
		n = evbuffer_get_length(b);
		if (n >= sizeof(T.body))
			n = sizeof(T.body) - 1;
		evbuffer_remove(b, T.body, n);
		T.body[n] = '\0';
	}
	T.done++;
}

/* method path (with its query) and body (NULL = none) with the global key; the answer in T.code / T.body. */
static void
req(enum evhttp_cmd_type method, const char *path, const char *body)
{
	struct evhttp_connection *conn = evhttp_connection_base_new(T.app.base, NULL, "127.0.0.1", (ev_uint16_t)T.port);
	struct evhttp_request *r = evhttp_request_new(reply_cb, NULL);
	int d = T.done;

	evhttp_add_header(evhttp_request_get_output_headers(r), "Host", "127.0.0.1");
	evhttp_add_header(evhttp_request_get_output_headers(r), "apikey", KEY);
	if (body != NULL) {
		char cl[32];

		/* libevent's client adds Content-Length to POST and PUT only */
		snprintf(cl, sizeof(cl), "%zu", strlen(body));
		evhttp_add_header(evhttp_request_get_output_headers(r), "Content-Length", cl);
		evhttp_add_header(evhttp_request_get_output_headers(r), "Content-Type", "application/json");
		evbuffer_add(evhttp_request_get_output_buffer(r), body, strlen(body));
	}
	assert_int_equal(evhttp_make_request(conn, r, method, path), 0);
	assert_true(run_until(&T.done, d + 1, 10000));
	evhttp_connection_free(conn);
}

static void
post(const char *path, const char *body)
{
	req(EVHTTP_REQ_POST, path, body);
}

static void
get(const char *path)
{
	req(EVHTTP_REQ_GET, path, NULL);
}

static void
sql(const char *q)
{
	PGresult *r = PQexec(T.conn, q);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", q, PQresultErrorMessage(r));
	PQclear(r);
}

/* How many group commands the stub table got so far. */
static int
asked(void)
{
	return T.ncreate + T.nquery + T.nlist;
}

/* T.body parsed, and the member at path ("a.b.0.c") as JSON text (caller frees). */
static char *
member(const char *path)
{
	struct json_object *o = json_tokener_parse(T.body), *v = o;
	char buf[128], *p, *save = NULL;
	char *out;

	snprintf(buf, sizeof(buf), "%s", path);
	for (p = strtok_r(buf, ".", &save); p != NULL && v != NULL; p = strtok_r(NULL, ".", &save)) {
		if (json_object_is_type(v, json_type_array))
			v = json_object_array_get_idx(v, (size_t)atoi(p));
		else if (!json_object_object_get_ex(v, p, &v))
			v = NULL;
	}
	out = xstrdup(v == NULL ? "<absent>" : json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return out;
}

#define assert_member(want, path) do {						\
	char *m_ = member(path);						\
	if (strcmp(m_, (want)) != 0)						\
		fail_msg("%s in %s: got %s, want %s", (path), T.body, m_, (want)); \
	free(m_);								\
} while (0)

static struct instance *
inst(void)
{
	struct instance *i = registry_find_id(T.app.reg, IID);

	assert_non_null(i);
	return i;
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
	post("/group/create/rt", "{\"subject\":\"The Subject\",\"participants\":[\"+1 555 123-4567\","
	    "\"15557654321\",\"15551234567@s.whatsapp.net\",\"120363000000000000001\"],\"description\":\"ignored\"}");
	assert_int_equal(T.code, 201);
	assert_int_equal(T.ncreate, n + 1);
	assert_string_equal(T.subject, "The Subject");
	assert_string_equal(T.parts, "15551234567@s.whatsapp.net,15557654321@s.whatsapp.net");
	assert_string_equal(T.body, "{\"id\":\"" GJID "\",\"subject\":\"The Subject\",\"subjectOwner\":"
	    "\"15550001111@s.whatsapp.net\",\"subjectTime\":1700000000,\"size\":3,\"creation\":1700000001,\"owner\":"
	    "\"15550001111@s.whatsapp.net\",\"restrict\":false,\"announce\":false,\"participants\":" PARTS_JSON ","
	    "\"isCommunity\":false,\"isCommunityAnnounce\":false}");

	/* the worker fails: Evolution's 500 with the error; 504 and a worker gone as sendText answers them */
	T.answer_ok = 0;
	T.answer_code = 400;
	post("/group/create/rt", "{\"subject\":\"S\",\"participants\":[\"15551234567\"]}");
	assert_int_equal(T.code, 500);
	assert_member("[\"Error creating group\",\"Error: item-not-found\"]", "response.message");
	T.answer_code = 504;
	post("/group/create/rt", "{\"subject\":\"S\",\"participants\":[\"15551234567\"]}");
	assert_int_equal(T.code, 504);
	T.answer_code = 503;
	post("/group/create/rt", "{\"subject\":\"S\",\"participants\":[\"15551234567\"]}");
	assert_int_equal(T.code, 400);
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
	post("/group/create/rt", "{}");
	assert_int_equal(T.code, 400);
	assert_member("[[\"instance requires property \\\"subject\\\"\",\"instance requires property "
	    "\\\"participants\\\"\"]]", "response.message");
	post("/group/create/rt", "{\"subject\":5,\"participants\":[\"123\",\"abcdefghijkl\",7,\"123\"],"
	    "\"promoteParticipants\":\"yes\"}");
	assert_int_equal(T.code, 400);
	assert_member("[[\"subject is not of a type(s) string\",\"promoteParticipants is not of a type(s) boolean\","
	    "\"promoteParticipants is not one of enum values: true,false\",\"participants contains duplicate item\","
	    "\"\\\"participants\\\" must be an array of numeric strings\",\"\\\"participants\\\" must be an array of "
	    "numeric strings\",\"\\\"participants\\\" must be an array of numeric strings\",\"\\\"participants\\\" "
	    "must be an array of numeric strings\"]]", "response.message");
	post("/group/create/rt", "{\"subject\":\"S\",\"participants\":[]}");
	assert_member("[[\"participants does not meet minimum length of 1\"]]", "response.message");
	/* isNotEmpty applies only to a body of its listed members */
	post("/group/create/rt", "{\"subject\":\"\"}");
	assert_member("[[\"instance requires property \\\"participants\\\"\",\"The \\\"subject\\\" cannot be "
	    "empty\"]]", "response.message");
	/* valid for the schema, still refused: an empty subject, participants none of which is a user */
	post("/group/create/rt", "{\"subject\":\"\",\"participants\":[\"15551234567\"]}");
	assert_int_equal(T.code, 400);
	post("/group/create/rt", "{\"subject\":\"S\",\"participants\":[\"120363000000000000001\"]}");
	assert_int_equal(T.code, 400);
	assert_member("[\"Error creating group\",\"Error: no participant is a WhatsApp number\"]", "response.message");
	/* closed: sendText's error */
	inst()->state = CONN_CLOSE;
	post("/group/create/rt", "{\"subject\":\"S\",\"participants\":[\"15551234567\"]}");
	assert_int_equal(T.code, 400);
	assert_member("[\"Error: Connection Closed\"]", "response.message");
	inst()->state = CONN_OPEN;
	assert_int_equal(asked(), n);
}

/* findGroupInfos: groupJid from the query (with "@g.us" appended) or the body; Evolution's object. */
static void
test_find_info(void **state)
{
	(void)state;
	T.answer_ok = 1;
	get("/group/findGroupInfos/rt?groupJid=120363000000000001");
	assert_int_equal(T.code, 200);
	assert_string_equal(T.qjid, GJID);
	assert_string_equal(T.body, "{\"id\":\"" GJID "\",\"subject\":\"The Subject\",\"subjectOwner\":"
	    "\"15550001111@s.whatsapp.net\",\"subjectTime\":1700000000,\"pictureUrl\":null,\"size\":3,\"creation\":"
	    "1700000001,\"owner\":\"15550001111@s.whatsapp.net\",\"restrict\":false,\"announce\":false,"
	    "\"participants\":" PARTS_JSON ",\"isCommunity\":false,\"isCommunityAnnounce\":false}");
	get("/group/findGroupInfos/rt?groupJid=120363000000000009%40g.us");
	assert_int_equal(T.code, 200);
	assert_string_equal(T.qjid, "120363000000000009@g.us");
	/* the body's groupJid wins over the query's */
	req(EVHTTP_REQ_GET, "/group/findGroupInfos/rt?groupJid=1", "{\"groupJid\":\"120363000000000007\"}");
	assert_int_equal(T.code, 200);
	assert_string_equal(T.qjid, "120363000000000007@g.us");
	/* the worker cannot: Evolution's 404 */
	T.answer_ok = 0;
	T.answer_code = 404;
	get("/group/findGroupInfos/rt?groupJid=120363000000000001");
	assert_int_equal(T.code, 404);
	assert_member("[\"Error fetching group\",\"Error: item-not-found\"]", "response.message");
	T.answer_ok = 1;
}

/* participants: {participants: [{id, admin}]}; its failure is Evolution's 404 too. */
static void
test_participants(void **state)
{
	(void)state;
	T.answer_ok = 1;
	get("/group/participants/rt?groupJid=120363000000000001@g.us");
	assert_int_equal(T.code, 200);
	assert_string_equal(T.qjid, GJID);
	assert_string_equal(T.body, "{\"participants\":" PARTS_JSON "}");
	/* members with a stored contact get its name and picture (null when it has none), as Evolution adds them */
	sql("INSERT INTO contact (instance_id, remote_jid, push_name, profile_pic_url) VALUES"
	    " ('" IID "', '15551234567@s.whatsapp.net', 'Bea \"B\"', NULL),"
	    " ('" IID "', '15557654321@s.whatsapp.net', NULL, 'https://pps.example/p.jpg'),"
	    " ('" IID "', '15559999999@s.whatsapp.net', 'Not a member', NULL)");
	get("/group/participants/rt?groupJid=120363000000000001");
	assert_int_equal(T.code, 200);
	assert_string_equal(T.body, "{\"participants\":[{\"id\":\"15550001111@s.whatsapp.net\","
	    "\"admin\":\"superadmin\"},{\"id\":\"15551234567@s.whatsapp.net\",\"admin\":null,"
	    "\"name\":\"Bea \\\"B\\\"\",\"imgUrl\":null},"
	    "{\"id\":\"15557654321@s.whatsapp.net\",\"admin\":\"admin\",\"name\":null,\"imgUrl\":"
	    "\"https://pps.example/p.jpg\"}]}");
	sql("DELETE FROM contact");
	T.answer_ok = 0;
	T.answer_code = 403;
	get("/group/participants/rt?groupJid=120363000000000001@g.us");
	assert_int_equal(T.code, 404);
	assert_member("[\"No participants\",\"Error: item-not-found\"]", "response.message");
	T.answer_ok = 1;
}

/* The groupJid routes refuse: absent, not a group id, not a string, closed; nothing reaches the worker. */
static void
test_group_jid_refused(void **state)
{
	int n = asked();

	(void)state;
	get("/group/findGroupInfos/rt");
	assert_int_equal(T.code, 400);
	assert_member("[\"The group id needs to be informed in the query\",\"ex: \\\"groupJid=120362@g.us\\\"\"]",
	    "response.message");
	get("/group/participants/rt?groupJid=");
	assert_int_equal(T.code, 400);
	assert_member("[\"The group id needs to be informed in the query\",\"ex: \\\"groupJid=120362@g.us\\\"\"]",
	    "response.message");
	get("/group/findGroupInfos/rt?groupJid=abc");
	assert_int_equal(T.code, 400);
	assert_member("[{\"property\":\"groupJid\",\"message\":\"groupJid does not match pattern "
	    "\\\"^[\\\\\\\\d-]+@g.us$\\\"\"}]", "response.message");
	get("/group/participants/rt?groupJid=15551234567@s.whatsapp.net");
	assert_member("[{\"property\":\"groupJid\",\"message\":\"groupJid does not match pattern "
	    "\\\"^[\\\\\\\\d-]+@g.us$\\\"\"}]", "response.message");
	req(EVHTTP_REQ_GET, "/group/findGroupInfos/rt", "{\"groupJid\":12}");
	assert_int_equal(T.code, 400);
	assert_member("[{\"property\":\"groupJid\",\"message\":\"groupJid is not of a type(s) string\"}]",
	    "response.message");
	inst()->state = CONN_CONNECTING;
	get("/group/findGroupInfos/rt?groupJid=120363000000000001");
	assert_int_equal(T.code, 400);
	assert_member("[\"Error: Connection Closed\"]", "response.message");
	inst()->state = CONN_OPEN;
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
	get("/group/fetchAllGroups/rt?getParticipants=false");
	assert_int_equal(T.code, 200);
	assert_member("2", "1.size");
	assert_member("<absent>", "0.participants");
	assert_member("<absent>", "1.participants");
	assert_member("\"about it\"", "1.desc");
	assert_member("\"DESC1\"", "1.descId");
	assert_member("<absent>", "1.owner");
	assert_member("true", "1.restrict");
	assert_non_null(strstr(T.body, "\"pictureUrl\":null"));	/* member() cannot tell null from absent */
	get("/group/fetchAllGroups/rt?getParticipants=true");
	assert_int_equal(T.code, 200);
	assert_member(PARTS_JSON, "0.participants");
	assert_member("\"120363000000000002@g.us\"", "1.id");
	T.ngroups = 0;
	get("/group/fetchAllGroups/rt?getParticipants=true");
	assert_int_equal(T.code, 200);
	assert_string_equal(T.body, "[]");
	/* a failure: Evolution has no handler there, so a 500 with the error as a plain string */
	T.answer_ok = 0;
	T.answer_code = 500;
	get("/group/fetchAllGroups/rt?getParticipants=true");
	assert_int_equal(T.code, 500);
	assert_member("\"item-not-found\"", "response.message");
	T.answer_ok = 1;

	n = asked();
	get("/group/fetchAllGroups/rt");
	assert_int_equal(T.code, 400);
	assert_member("[\"The getParticipants needs to be informed in the query\"]", "response.message");
	get("/group/fetchAllGroups/rt?getParticipants=yes");
	assert_int_equal(T.code, 400);
	assert_member("[{\"property\":\"getParticipants\",\"message\":\"getParticipants is not one of enum values: "
	    "true,false\"}]", "response.message");
	inst()->state = CONN_CLOSE;
	get("/group/fetchAllGroups/rt?getParticipants=false");
	assert_int_equal(T.code, 400);
	assert_member("[\"Error: Connection Closed\"]", "response.message");
	inst()->state = CONN_OPEN;
	assert_int_equal(asked(), n);
}

/* ---- set-up ---- */

static int
setup(void **state)
{
	const char *src = getenv("WAGATE_SRCDIR") ? getenv("WAGATE_SRCDIR") : ".";
	char cmd[768], err[512];
	struct webhook_config hc;
	struct instance *i;
	int tries;

	(void)state;
	log_init("routes_group_test", getenv("WAGATE_TEST_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN);
	if ((T.pg = pgtest_new(0)) == NULL ||
	    (T.uri = pgtest_db_create(T.pg, "routes_group_test_%d", (int)getpid())) == NULL)
		return -1;
	snprintf(cmd, sizeof(cmd), "%s/migrations", src);
	if (migrate_run(T.uri, cmd, err, sizeof(err)) == -1) {
		fprintf(stderr, "migrations: %s\n", err);
		return -1;
	}
	if ((T.conn = PQconnectdb(T.uri)) == NULL || PQstatus(T.conn) != CONNECTION_OK)
		return -1;
	PQclear(PQexec(T.conn, "INSERT INTO instance (id, name, token, client_name) VALUES ('" IID "', 'rt', 'TOK',"
	    " 'wagate')"));
	T.cfg.client_name = (char *)"wagate";
	T.cfg.database_uri = T.uri;
	T.cfg.api_key = (char *)KEY;
	T.cfg.max_body_bytes = 1 << 20;
	T.cfg.http_request_timeout_s = 30;
	T.cfg.db_pool_size = 4;
	T.cfg.webhook_concurrency = 1;
	T.app.cfg = &T.cfg;
	T.app.base = event_base_new();
	T.app.lc = lifecycle_new(&T.app);
	T.app.db = db_new(T.app.base, T.uri, 4);
	memset(&hc, 0, sizeof(hc));
	hc.global_url = "http://127.0.0.1:9/hook";
	hc.global_enabled = 1;
	T.app.webhook = webhook_new(T.app.base, NULL, &hc);	/* rows only, nothing sent */
	T.app.reg = registry_new();
	i = instance_new(IID, "rt", "TOK");
	i->app = &T.app;
	i->state = CONN_OPEN;
	instance_set_str(&i->owner_jid, "15550001111@s.whatsapp.net");
	registry_add(T.app.reg, i);
	for (tries = 0; tries < 20; tries++) {
		T.port = 20000 + (int)((getpid() * 7 + tries * 131) % 30000);
		if (http_start(&T.app, "127.0.0.1", T.port) == 0)
			break;
	}
	if (T.app.http == NULL)
		return -1;
	{
		long long end = now_ms() + 10000;
		while (!db_available(T.app.db) && now_ms() < end)
			event_base_loop(T.app.base, EVLOOP_ONCE | EVLOOP_NONBLOCK), usleep(10000);
	}
	return db_available(T.app.db) ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	http_stop(&T.app);
	lifecycle_wait_shutdown(&T.app);
	webhook_free(T.app.webhook);
	db_free(T.app.db);
	lifecycle_free(T.app.lc);
	registry_free(T.app.reg);
	event_base_free(T.app.base);
	PQfinish(T.conn);
	pgtest_free(T.pg);
	free(T.uri);
	return 0;
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

	return cmocka_run_group_tests(tests, setup, teardown);
}
