/* The send routes over real HTTP (the supervisor's own evhttp server and a libevent client on one base), a real
 * PostgreSQL, and the worker table replaced by stubs that record each command and answer it on a later loop
 * turn: sendText (201 shape, the SERVER_ACK it records, not-on-WhatsApp, a quote of a stored message), and
 * whatsappNumbers and markMessageAsRead (what the worker is asked, the answers' shape and order). */
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

#include "e2e.pb-c.h"

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

static struct {
	struct app app;
	struct config cfg;
	struct pgtest *pg;
	char *uri;
	PGconn *conn;
	int port;
	/* the last command the stub table got */
	int nsend, ncheck, nread;
	char send_to[128];
	Wa__Message *sent;		/* unpacked SendMessage.message */
	char numbers[8][32];
	size_t nnumbers;
	char read_keys[256];
	/* how the stub answers */
	int answer_ok, answer_code;
	/* the HTTP answer */
	int done, code;
	char body[8192];
} T;

/* ---- worker table stubs: answers go out on a later loop turn, as the contract says ---- */

struct later {
	workers_send_cb send_cb;
	workers_numbers_cb numbers_cb;
	workers_result_cb result_cb;
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
	} else
		l->result_cb(l->arg, T.answer_ok, T.answer_ok ? NULL : "socket gone");
	event_free(l->ev);
	free(l);
}

static void
later(struct later *l)
{
	l->ev = evtimer_new(T.app.base, later_cb, l);
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

/* The rest of the table: what lifecycle and the other routes link against (none is called here). */
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
/* the group routes share http.c (routes_group_test.c tests them) */
int workers_group_create(struct workers *w, const char *i, const char *s, const char *const *p, size_t n,
    workers_groups_cb cb, void *a)
{ (void)w; (void)i; (void)s; (void)p; (void)n; (void)cb; (void)a; return -1; }
int workers_group_query(struct workers *w, const char *i, const char *j, workers_groups_cb cb, void *a)
{ (void)w; (void)i; (void)j; (void)cb; (void)a; return -1; }
int workers_group_list(struct workers *w, const char *i, workers_groups_cb cb, void *a)
{ (void)w; (void)i; (void)cb; (void)a; return -1; }
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

/* Let every queued write finish. */
static void
drain(void)
{
	long long end = now_ms() + 10000;
	struct event *tick = evtimer_new(T.app.base, tick_cb, NULL);
	struct timeval tv = { 0, 10000 };

	while ((db_pending(T.app.db) > 0 || lifecycle_pending(T.app.lc) > 0) && now_ms() < end) {
		evtimer_add(tick, &tv);
		event_base_loop(T.app.base, EVLOOP_ONCE);
	}
	event_free(tick);
}

static void
sql(const char *q)
{
	PGresult *r = PQexec(T.conn, q);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", q, PQresultErrorMessage(r));
	PQclear(r);
}

/* The first value of a query ("" for NULL, "<none>" without rows); caller frees. */
static char *
val(const char *q)
{
	PGresult *r = PQexec(T.conn, q);
	char *out;

	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", q, PQresultErrorMessage(r));
	out = xstrdup(PQntuples(r) == 0 ? "<none>" : PQgetisnull(r, 0, 0) ? "" : PQgetvalue(r, 0, 0));
	PQclear(r);
	return out;
}

#define assert_val(want, q) do {						\
	char *v_ = val(q);							\
	if (strcmp(v_, (want)) != 0)						\
		fail_msg("%s: got \"%s\", want \"%s\"", (q), v_, (want));	\
	free(v_);								\
} while (0)

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

/* POST body to path with the global key; the answer in T.code / T.body. */
static void
post(const char *path, const char *body)
{
	struct evhttp_connection *conn = evhttp_connection_base_new(T.app.base, NULL, "127.0.0.1", (ev_uint16_t)T.port);
	struct evhttp_request *req = evhttp_request_new(reply_cb, NULL);
	int d = T.done;

	evhttp_add_header(evhttp_request_get_output_headers(req), "Host", "127.0.0.1");
	evhttp_add_header(evhttp_request_get_output_headers(req), "apikey", KEY);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
	assert_int_equal(evhttp_make_request(conn, req, EVHTTP_REQ_POST, path), 0);
	assert_true(run_until(&T.done, d + 1, 10000));
	evhttp_connection_free(conn);
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

/* A plain text: the worker gets the JID and a conversation; 201 in Evolution's shape; the ack is recorded. */
static void
test_send_text(void **state)
{
	(void)state;
	T.answer_ok = 1;
	sql("DELETE FROM webhook_outbox");
	/* the row the worker stores before it sends (its MessageStore) */
	sql("INSERT INTO message (instance_id, key_id, remote_jid, from_me, message_type, key, message,"
	    " message_timestamp, status) VALUES ('" IID "', '3EB0TEST', '15551234567@s.whatsapp.net', true,"
	    " 'conversation', '{}', '{}', 1700000100, 'PENDING')");
	post("/message/sendText/rt", "{\"number\":\"+1 555 123-4567\",\"text\":\"Hello\"}");
	assert_int_equal(T.code, 201);
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
	drain();
	assert_val("SERVER_ACK", "SELECT status FROM message WHERE key_id = '3EB0TEST'");
	assert_val("1", "SELECT count(*) FROM webhook_outbox WHERE event = 'messages.update'");

	/* the worker says the number has no WhatsApp: Evolution's 400 with the lookup object */
	T.answer_ok = 0;
	T.answer_code = 400;
	post("/message/sendText/rt", "{\"number\":\"15550000000\",\"text\":\"Hello\"}");
	assert_int_equal(T.code, 400);
	assert_member("[{\"exists\":false,\"jid\":\"15550000000@s.whatsapp.net\",\"number\":\"15550000000\"}]",
	    "response.message");
	/* timed out */
	T.answer_code = 504;
	post("/message/sendText/rt", "{\"number\":\"15550000000\",\"text\":\"Hello\"}");
	assert_int_equal(T.code, 504);
	T.answer_ok = 1;
}

/* A quote by id: the stored text is quoted (stanzaId, participant, quotedMessage); an unknown id sends
 * without a quote; mentions go in contextInfo. */
static void
test_send_quoted(void **state)
{
	int n = T.nsend;

	(void)state;
	sql("INSERT INTO message (instance_id, key_id, remote_jid, from_me, message_type, key, message,"
	    " message_timestamp, status) VALUES ('" IID "', 'ORIG1', '15559990000@s.whatsapp.net', false,"
	    " 'conversation', '{}', '{\"conversation\":\"the original\"}', 1700000000, 'DELIVERY_ACK')");
	post("/message/sendText/rt", "{\"number\":\"15559990000\",\"text\":\"a reply\",\"quoted\":{\"key\":"
	    "{\"id\":\"ORIG1\"}},\"mentioned\":[\"15551112222\"]}");
	assert_int_equal(T.code, 201);
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

	post("/message/sendText/rt", "{\"number\":\"15559990000\",\"text\":\"no such\",\"quoted\":{\"key\":"
	    "{\"id\":\"NOPE\"}}}");
	assert_int_equal(T.code, 201);
	assert_string_equal(T.sent->conversation, "no such");
}

/* Validation and a closed instance: 400s that never reach the worker. */
static void
test_send_refused(void **state)
{
	int n = T.nsend;

	(void)state;
	post("/message/sendText/rt", "{\"text\":\"x\"}");
	assert_int_equal(T.code, 400);
	assert_member("[[\"instance requires property \\\"number\\\"\"]]", "response.message");
	post("/message/sendText/rt", "{\"number\":\"15551234567\",\"text\":\" \"}");
	assert_member("[\"Text is required\"]", "response.message");
	post("/message/sendText/rt", "{\"number\":\"status@broadcast\",\"text\":\"x\"}");
	assert_member("[{\"exists\":false,\"jid\":\"status@broadcast\",\"number\":\"status@broadcast\"}]",
	    "response.message");
	inst()->state = CONN_CLOSE;
	post("/message/sendText/rt", "{\"number\":\"15551234567\",\"text\":\"x\"}");
	assert_int_equal(T.code, 400);
	assert_member("[\"Error: Connection Closed\"]", "response.message");
	post("/chat/whatsappNumbers/rt", "{\"numbers\":[\"15551234567\"]}");
	assert_member("[\"Error: Connection Closed\"]", "response.message");
	inst()->state = CONN_OPEN;
	assert_int_equal(T.nsend, n);
}

/* whatsappNumbers: groups and broadcasts first (not asked), users in order with WhatsApp's JID. */
static void
test_numbers(void **state)
{
	(void)state;
	post("/chat/whatsappNumbers/rt", "{\"numbers\":[\"+1 555 123 4567\",\"120363025246125888@g.us\","
	    "\"15550000000\"]}");
	assert_int_equal(T.code, 200);
	assert_int_equal(T.nnumbers, 2);
	assert_string_equal(T.numbers[0], "15551234567");
	assert_string_equal(T.numbers[1], "15550000000");
	assert_string_equal(T.body, "[{\"exists\":false,\"jid\":\"120363025246125888@g.us\","
	    "\"number\":\"120363025246125888@g.us\"},{\"exists\":true,\"jid\":\"15551234567@s.whatsapp.net\","
	    "\"number\":\"+1 555 123 4567\"},{\"exists\":false,\"jid\":\"15550000000@s.whatsapp.net\","
	    "\"number\":\"15550000000\"}]");
	post("/chat/whatsappNumbers/rt", "{\"numbers\":[\"1\",\"1\"]}");
	assert_int_equal(T.code, 400);
}

/* markMessageAsRead: the keys the worker gets (bad JIDs skipped), Evolution's answers. */
static void
test_mark_read(void **state)
{
	(void)state;
	post("/chat/markMessageAsRead/rt", "{\"readMessages\":[{\"id\":\"A\",\"fromMe\":false,\"remoteJid\":"
	    "\"15551234567@s.whatsapp.net\"},{\"id\":\"B\",\"fromMe\":false,\"remoteJid\":\"120363@g.us\","
	    "\"participant\":\"15559990000@s.whatsapp.net\"},{\"id\":\"C\",\"fromMe\":false,\"remoteJid\":\"x@y\"}]}");
	assert_int_equal(T.code, 201);
	assert_string_equal(T.body, "{\"message\":\"Read messages\",\"read\":\"success\"}");
	assert_string_equal(T.read_keys, "15551234567@s.whatsapp.net/A/0/,120363@g.us/B/0/15559990000@s.whatsapp.net");
	T.answer_ok = 0;
	post("/chat/markMessageAsRead/rt", "{\"readMessages\":[{\"id\":\"A\",\"fromMe\":false,\"remoteJid\":"
	    "\"15551234567@s.whatsapp.net\"}]}");
	assert_int_equal(T.code, 500);
	assert_member("[\"Read messages fail\",\"socket gone\"]", "response.message");
	T.answer_ok = 1;
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
	log_init("routes_message_test", getenv("WAGATE_TEST_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN);
	if ((T.pg = pgtest_new(0)) == NULL ||
	    (T.uri = pgtest_db_create(T.pg, "routes_message_test_%d", (int)getpid())) == NULL)
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
	if (T.sent != NULL)
		wa__message__free_unpacked(T.sent, NULL);
	PQfinish(T.conn);
	pgtest_free(T.pg);
	free(T.uri);
	return 0;
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
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
