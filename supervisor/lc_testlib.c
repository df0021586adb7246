/* The fixture of the lifecycle and routes tests (lc_testlib.h): the app against a real PostgreSQL, the loop and
 * SQL helpers, and a libevent HTTP client on the app's own base. */
#include "lc_testlib.h"
#include "conn_state.h"
#include "db.h"
#include "http.h"
#include "lifecycle.h"
#include "log.h"
#include "migrate.h"
#include "pgtest.h"
#include "registry.h"
#include "webhook.h"
#include "xmalloc.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

struct lct LC;

/* ---- loop ---- */

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

long long
lct_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A 10 ms tick keeps EVLOOP_ONCE from blocking while the flag waits on something outside the loop. */
int
lct_run_until(const int *flag, int want, int ms)
{
	long long end = lct_now_ms() + ms;
	struct event *tick = evtimer_new(LC.app.base, tick_cb, NULL);
	struct timeval tv = { 0, 10000 };

	while (*flag < want && lct_now_ms() < end) {
		evtimer_add(tick, &tv);
		event_base_loop(LC.app.base, EVLOOP_ONCE);
	}
	event_free(tick);
	return *flag >= want;
}

void
lct_run_for(int ms)
{
	int never = 0;

	lct_run_until(&never, 1, ms);
}

void
lct_settle(void)
{
	long long end = lct_now_ms() + 10000;
	struct event *tick = evtimer_new(LC.app.base, tick_cb, NULL);
	struct timeval tv = { 0, 10000 };

	while ((db_pending(LC.app.db) > 0 || lifecycle_pending(LC.app.lc) > 0) && lct_now_ms() < end) {
		evtimer_add(tick, &tv);
		event_base_loop(LC.app.base, EVLOOP_ONCE);
	}
	event_free(tick);
}

void
lct_drain(void)
{
	lct_settle();
	assert_int_equal(db_pending(LC.app.db), 0);
	assert_int_equal(lifecycle_pending(LC.app.lc), 0);
}

/* ---- SQL ---- */

void
lct_sql(const char *q)
{
	PGresult *r = PQexec(LC.conn, q);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", q, PQresultErrorMessage(r));
	PQclear(r);
}

char *
lct_val(const char *fmt, ...)
{
	char q[1024], *out;
	va_list ap;
	PGresult *r;

	va_start(ap, fmt);
	vsnprintf(q, sizeof(q), fmt, ap);
	va_end(ap);
	r = PQexec(LC.conn, q);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", q, PQresultErrorMessage(r));
	out = xstrdup(PQntuples(r) == 0 ? "<none>" : PQgetisnull(r, 0, 0) ? "" : PQgetvalue(r, 0, 0));
	PQclear(r);
	return out;
}

struct instance *
lct_inst(void)
{
	struct instance *i = registry_find_id(LC.app.reg, IID);

	assert_non_null(i);
	return i;
}

/* ---- HTTP client ---- */

static void
reply_cb(struct evhttp_request *req, void *arg)
{
	struct evbuffer *b;
	size_t n;

	(void)arg;
	LC.code = req != NULL ? evhttp_request_get_response_code(req) : 0;
	LC.body[0] = '\0';
	if (req != NULL && (b = evhttp_request_get_input_buffer(req)) != NULL) {
		n = evbuffer_get_length(b);
		if (n >= sizeof(LC.body))
			n = sizeof(LC.body) - 1;
		evbuffer_remove(b, LC.body, n);
		LC.body[n] = '\0';
	}
	LC.done++;
}

void
lct_req(enum evhttp_cmd_type method, const char *path, const char *body)
{
	struct evhttp_connection *conn = evhttp_connection_base_new(LC.app.base, NULL, "127.0.0.1",
	    (ev_uint16_t)LC.port);
	struct evhttp_request *r = evhttp_request_new(reply_cb, NULL);
	int d = LC.done;

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
	assert_true(lct_run_until(&LC.done, d + 1, 10000));
	evhttp_connection_free(conn);
}

void
lct_post(const char *path, const char *body)
{
	lct_req(EVHTTP_REQ_POST, path, body);
}

void
lct_get(const char *path)
{
	lct_req(EVHTTP_REQ_GET, path, NULL);
}

char *
lct_member(const char *path)
{
	struct json_object *o = json_tokener_parse(LC.body), *v = o;
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

/* ---- set-up ---- */

/* The HTTP server on a port that was free a moment ago (retried: other tests pick ports too). */
static int
start_http(void)
{
	int tries;

	for (tries = 0; tries < 20; tries++) {
		LC.port = 20000 + (int)((getpid() * 7 + tries * 131) % 30000);
		if (http_start(&LC.app, "127.0.0.1", LC.port) == 0)
			break;
	}
	return LC.app.http != NULL ? 0 : -1;
}

int
lct_setup(const char *test, const char *inst_name, int http)
{
	const char *src = getenv("WAGATE_SRCDIR") ? getenv("WAGATE_SRCDIR") : ".";
	char cmd[768], err[512];
	struct webhook_config hc;
	struct instance *i;
	long long end;

	log_init(test, getenv("WAGATE_TEST_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN);
	if ((LC.pg = pgtest_new(0)) == NULL || (LC.uri = pgtest_db_create(LC.pg, "%s_%d", test, (int)getpid())) == NULL)
		return -1;
	snprintf(cmd, sizeof(cmd), "%s/migrations", src);
	if (migrate_run(LC.uri, cmd, err, sizeof(err)) == -1) {
		fprintf(stderr, "migrations: %s\n", err);
		return -1;
	}
	if ((LC.conn = PQconnectdb(LC.uri)) == NULL || PQstatus(LC.conn) != CONNECTION_OK)
		return -1;
	snprintf(cmd, sizeof(cmd), "INSERT INTO instance (id, name, token, client_name) VALUES ('" IID "', '%s', 'TOK',"
	    " 'wagate')", inst_name);
	PQclear(PQexec(LC.conn, cmd));

	LC.cfg.client_name = (char *)"wagate";
	LC.cfg.database_uri = LC.uri;
	if (http) {
		LC.cfg.api_key = (char *)KEY;
		LC.cfg.max_body_bytes = 1 << 20;
		LC.cfg.http_request_timeout_s = 30;
		LC.cfg.db_pool_size = 4;
		LC.cfg.webhook_concurrency = 1;
	}
	LC.app.cfg = &LC.cfg;
	LC.app.base = event_base_new();
	LC.app.lc = lifecycle_new(&LC.app);
	LC.app.db = db_new(LC.app.base, LC.uri, 4);
	memset(&hc, 0, sizeof(hc));
	hc.global_url = "http://127.0.0.1:9/hook";
	hc.global_enabled = 1;
	LC.app.webhook = webhook_new(LC.app.base, NULL, &hc);	/* rows only, nothing sent */
	LC.app.reg = registry_new();
	i = instance_new(IID, inst_name, "TOK");
	i->app = &LC.app;
	if (http) {
		i->state = CONN_OPEN;
		instance_set_str(&i->owner_jid, "15550001111@s.whatsapp.net");
	}
	registry_add(LC.app.reg, i);
	if (http && start_http() == -1)
		return -1;
	/* wait for the pool */
	end = lct_now_ms() + 10000;
	while (!db_available(LC.app.db) && lct_now_ms() < end)
		event_base_loop(LC.app.base, EVLOOP_ONCE | EVLOOP_NONBLOCK), usleep(10000);
	return db_available(LC.app.db) ? 0 : -1;
}

int
lct_teardown(void **state)
{
	(void)state;
	struct timeval deadline, now;

	if (LC.app.http != NULL)
		http_stop(&LC.app);
	/* As main() does at exit: let queued writes (a SERVER_ACK recorded after the 201, say) call back before
	 * the pool goes, since db_free drops callbacks unanswered and their records would leak. */
	gettimeofday(&deadline, NULL);
	deadline.tv_sec += 5;
	while ((db_pending(LC.app.db) > 0 || lifecycle_pending(LC.app.lc) > 0) && db_available(LC.app.db)) {
		event_base_loop(LC.app.base, EVLOOP_ONCE);
		gettimeofday(&now, NULL);
		if (timercmp(&now, &deadline, >))
			break;
	}
	lifecycle_wait_shutdown(&LC.app);
	webhook_free(LC.app.webhook);
	db_free(LC.app.db);
	lifecycle_free(LC.app.lc);
	registry_free(LC.app.reg);
	event_base_free(LC.app.base);
	PQfinish(LC.conn);
	pgtest_free(LC.pg);
	free(LC.uri);
	return 0;
}
