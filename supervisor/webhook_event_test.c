/* Webhook events against a real PostgreSQL: Evolution's names, and the rows one event becomes (targets,
 * byEvents, filters, headers, envelope, bad JSON), and the gated form's rows, resolved in C the same way. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "db.h"
#include "pgtest.h"
#include "sql.h"
#include "webhook.h"
#include "webhook_testlib.h"

/* Names: filter name and byEvents suffix per Evolution. */
static void
test_names(void **state)
{
	char out[64];

	assert_int_equal(webhook_filter_name("connection.update", out, sizeof(out)), 0);
	assert_string_equal(out, "CONNECTION_UPDATE");
	assert_int_equal(webhook_filter_name("group-participants.update", out, sizeof(out)), 0);
	assert_string_equal(out, "GROUP_PARTICIPANTS_UPDATE");
	assert_int_equal(webhook_url_suffix("group-participants.update", out, sizeof(out)), 0);
	assert_string_equal(out, "group-participants-update");
	assert_int_equal(webhook_url_suffix("typebot.change-status", out, sizeof(out)), 0);
	assert_string_equal(out, "typebot-change-status");
	assert_int_equal(webhook_url_suffix("call", out, sizeof(out)), 0);
	assert_string_equal(out, "call");
	assert_int_equal(webhook_filter_name("", out, sizeof(out)), -1);
	assert_int_equal(webhook_filter_name("connection.update", out, 5), -1);
}

/* date_time is real UTC ISO-8601 with milliseconds and Z. */
static void
test_time(void **state)
{
	char buf[40];
	regex_t re;

	webhook_format_time(buf, sizeof(buf));
	assert_int_equal(regcomp(&re, "^20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]\\.[0-9]{3}Z$",
	    REG_EXTENDED | REG_NOSUB), 0);
	assert_int_equal(regexec(&re, buf, 0, NULL, 0), 0);
	regfree(&re);
}

/* Rows per target: instance webhook (byEvents, filter) and global webhook (byEvents), envelope fields. */
static void
test_enqueue_rows(void **state)
{
	char url[128], gurl[128], q[512], *s;
	struct webhook *w;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/inst", T.rx.port);
	snprintf(gurl, sizeof(gurl), "http://127.0.0.1:%d/global", T.rx.port);
	add_instance(INST_ID, "sales", url, 1, "{CONNECTION_UPDATE,GROUP_UPDATE}", 1);
	w = new_webhook(NULL, gurl, 1, 100);	/* no db: rows stay for inspection */

	enqueue(w, INST_ID, "sales", "connection.update", "{\"instance\":\"sales\",\"state\":\"open\"}",
	    "5511999999999@s.whatsapp.net");
	assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox WHERE event = 'connection.update'"), 2);
	snprintf(q, sizeof(q), "SELECT count(*) FROM webhook_outbox WHERE url = '%s/connection-update'"
	    " AND headers->>'X-Custom' = '42'", url);
	assert_int_equal(sql_long(q), 1);
	snprintf(q, sizeof(q), "SELECT count(*) FROM webhook_outbox WHERE url = '%s/connection-update'"
	    " AND headers = '{}'::jsonb", gurl);
	assert_int_equal(sql_long(q), 1);
	/* Envelope: destination is the stored instance URL without suffix, for both rows (Evolution). */
	snprintf(q, sizeof(q), "SELECT count(*) FROM webhook_outbox WHERE body->>'destination' = '%s'"
	    " AND body->>'event' = 'connection.update' AND body->>'instance' = 'sales'"
	    " AND body->'data'->>'state' = 'open' AND body->>'sender' = '5511999999999@s.whatsapp.net'"
	    " AND body->>'server_url' = 'https://api.example.com' AND NOT body ? 'apikey'"
	    " AND body->>'date_time' ~ '^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z$'", url);
	assert_int_equal(sql_long(q), 2);

	/* Not in the instance filter: global only. */
	enqueue(w, INST_ID, "sales", "messages.upsert", "{\"key\":{\"id\":\"ABC\"}}", NULL);
	assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox WHERE event = 'messages.upsert'"), 1);
	s = sql_text("SELECT url FROM webhook_outbox WHERE event = 'messages.upsert'");
	snprintf(q, sizeof(q), "%s/messages-upsert", gurl);
	assert_string_equal(s, q);
	free(s);
	/* No sender: no sender field. null data stays null. */
	enqueue(w, INST_ID, "sales", "logout.instance", "null", NULL);
	assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox WHERE event = 'logout.instance'"
	    " AND NOT body ? 'sender' AND body->'data' = 'null'::jsonb"), 1);
	/* groups.update matches the enum's GROUP_UPDATE spelling. */
	enqueue(w, INST_ID, "sales", "groups.update", "[]", NULL);
	assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox WHERE event = 'groups.update'"), 2);
	/* instance.create never goes to an instance webhook. */
	enqueue(w, INST_ID, "sales", "instance.create", "{\"instanceName\":\"sales\"}", NULL);
	assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox WHERE event = 'instance.create'"), 1);
	/* Global WEBHOOK_EVENTS_MESSAGES_UPSERT=false. */
	T.msgs_global_off = 1;
	enqueue(w, INST_ID, "sales", "messages.upsert", "{}", NULL);
	assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox WHERE event = 'messages.upsert'"), 1);
	webhook_free(w);
}

/* Empty events = all; disabled webhook and no global = nothing; bad JSON and NULs do not break the tx. */
static void
test_enqueue_filters(void **state)
{
	char url[128], q[512];
	struct webhook *w, *wg;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/all/", T.rx.port);
	add_instance(INST_ID, "all", url, 0, "{}", 1);
	add_instance(INST2_ID, "off", "http://127.0.0.1:1/off", 0, "{}", 0);
	w = new_webhook(NULL, NULL, 0, 100);
	enqueue(w, INST_ID, "all", "messages.upsert", "{\"a\":1}", NULL);
	enqueue(w, INST_ID, "all", "presence.update", "{\"a\":1}", NULL);
	enqueue(w, INST2_ID, "off", "messages.upsert", "{\"a\":1}", NULL);
	assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox"), 2);
	snprintf(q, sizeof(q), "SELECT count(*) FROM webhook_outbox WHERE url = '%s'", url);
	assert_int_equal(sql_long(q), 2);
	/* byEvents off: the URL is used as stored (a trailing slash stays). */
	enqueue(w, INST_ID, "all", "messages.upsert", "{not json", NULL);
	assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox WHERE body->'data' = 'null'::jsonb"), 1);
	enqueue(w, INST_ID, "all", "messages.upsert", "{\"t\":\"a\\u0000b\\\\u0000\"}", NULL);
	assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox WHERE body->'data'->>'t' = "
	    "E'a\\uFFFDb\\\\u0000'"), 1);
	enqueue(w, INST_ID, "all", "messages.upsert", "12", NULL);
	assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox WHERE body->'data' = '12'::jsonb"), 1);
	/* Disabled instance webhook: destination still names it; the global URL gets the event. */
	wg = new_webhook(NULL, "http://127.0.0.1:1/g", 0, 100);
	enqueue(wg, INST2_ID, "off", "connection.update", "{}", NULL);
	assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox WHERE event = 'connection.update'"
	    " AND url = 'http://127.0.0.1:1/g' AND body->>'destination' = 'http://127.0.0.1:1/off'"), 1);
	/* Unknown instance: only the global row; destination is global + suffix. */
	sql("DELETE FROM instance WHERE id = '" INST_ID "'");
	enqueue(wg, INST_ID, "ghost", "instance.delete", "{}", NULL);
	assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox WHERE event = 'instance.delete'"
	    " AND body->>'destination' = 'http://127.0.0.1:1/g/instance-delete'"), 1);
	webhook_free(w);
	webhook_free(wg);
}

/* A gated enqueue through the real db layer: the gate's count, or -1 with the error in err. */
struct gated_wait {
	int done;
	long count;
	char err[256];
};

static void
gated_done_cb(void *arg, const struct db_result *r)
{
	struct gated_wait *gw = arg;

	gw->count = r->err == NULL && r->nres == 1 && PQntuples(r->res[0]) == 1 ?
	    strtol(PQgetvalue(r->res[0], 0, 0), NULL, 10) : -1;
	snprintf(gw->err, sizeof(gw->err), "%s", r->err != NULL ? r->err : "");
	gw->done = 1;
}

static long
gated(struct webhook *w, const struct webhook_inst *iw, const char *event, const char *data, const char *gate,
    int extra, int n, const char *const *p)
{
	struct webhook_gate g = { gate, n, p, NULL, NULL };
	struct json_object *o = data != NULL ? json_tokener_parse(data) : NULL;
	struct webhook_gated_event ev = { event, o, "gate", extra };
	struct db_tx *tx = db_tx_new();
	struct gated_wait gw;

	memset(&gw, 0, sizeof(gw));
	assert_int_equal(webhook_enqueue_gated(w, tx, iw, INST_ID, "sales", "5511@s.whatsapp.net", &g, &ev, 1), 0);
	json_object_put(o);
	assert_int_equal(db_tx_run(T.db, tx, gated_done_cb, &gw), 0);
	assert_true(run_until(pred_flag, &gw.done, 10000));
	if (gw.err[0] != '\0')
		fail_msg("gated %s: %s", event, gw.err);
	return gw.count;
}

/* Several gated events in one statement, committed. */
static void
gated_n(struct webhook *w, const struct webhook_inst *iw, const struct webhook_gate *g,
    const struct webhook_gated_event *evs, int nev)
{
	struct db_tx *tx = db_tx_new();
	struct gated_wait gw;

	memset(&gw, 0, sizeof(gw));
	assert_int_equal(webhook_enqueue_gated(w, tx, iw, INST_ID, "sales", NULL, g, evs, nev), 0);
	assert_int_equal(db_tx_run(T.db, tx, gated_done_cb, &gw), 0);
	assert_true(run_until(pred_flag, &gw.done, 10000));
	if (gw.err[0] != '\0')
		fail_msg("gated: %s", gw.err);
}

/* The instance's webhook row as the supervisor loads it (NULL: none). */
static struct webhook_inst *
load_inst(const char *id)
{
	char q[512], *text;
	struct webhook_inst *iw;

	snprintf(q, sizeof(q), "SELECT " SQL_WEBHOOK_JSON("w") "::text FROM instance_webhook w WHERE instance_id = '%s'",
	    id);
	if ((text = sql_text(q)) == NULL)
		return NULL;
	iw = webhook_inst_from_json(text);
	assert_non_null(iw);
	free(text);
	return iw;
}

/* The gated form: rows only when the gate has one, the caller's write done either way (also where no target
 * wants the event, and with no webhook module), the gate's extra merged into object data only when asked. */
static void
test_enqueue_gated(void **state)
{
	static const char gate[] = "ins AS (INSERT INTO gated_t (k) VALUES ($1) ON CONFLICT DO NOTHING RETURNING k),"
	    " gate AS (SELECT jsonb_build_object('k', k) AS extra FROM ins)";
	char url[128];
	const char *p[1];
	struct webhook_inst *iw;
	struct webhook *w;

	(void)state;
	sql("DROP TABLE IF EXISTS gated_t");
	sql("CREATE TABLE gated_t (k text PRIMARY KEY)");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/inst", T.rx.port);
	add_instance(INST_ID, "sales", url, 0, "{MESSAGES_UPDATE,CHATS_UPSERT}", 1);
	iw = load_inst(INST_ID);
	w = new_webhook(NULL, NULL, 0, 100);
	p[0] = "a";
	assert_int_equal(gated(w, iw, "messages.update", "{\"status\":\"READ\"}", gate, 1, 1, p), 1);
	assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox WHERE event = 'messages.update'"
	    " AND body->'data' = '{\"status\":\"READ\",\"k\":\"a\"}'::jsonb AND headers->>'X-Custom' = '42'"
	    " AND body->>'sender' = '5511@s.whatsapp.net' AND body->>'instance' = 'sales'"), 1);
	/* the same key again: the gate is empty, no row */
	assert_int_equal(gated(w, iw, "messages.update", "{\"status\":\"READ\"}", gate, 1, 1, p), 0);
	assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox"), 1);
	/* array data takes the extra as jsonb's || does (messages.set: [] || the new rows); without extra, object
	 * data stays as it is */
	p[0] = "b";
	assert_int_equal(gated(w, iw, "chats.upsert", "[{\"remoteJid\":\"x\"}]", gate, 1, 1, p), 1);
	assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox WHERE event = 'chats.upsert'"
	    " AND body->'data' = '[{\"remoteJid\":\"x\"}, {\"k\":\"b\"}]'::jsonb"), 1);
	p[0] = "b2";
	assert_int_equal(gated(w, iw, "messages.update", "{\"status\":\"READ\"}", gate, 0, 1, p), 1);
	assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox WHERE event = 'messages.update'"
	    " AND body->'data' = '{\"status\":\"READ\"}'::jsonb"), 1);
	/* filtered out, no webhook module at all, no webhook row: the write happens, no row */
	p[0] = "c";
	assert_int_equal(gated(w, iw, "contacts.upsert", "{}", gate, 1, 1, p), 1);
	p[0] = "d";
	assert_int_equal(gated(NULL, iw, "contacts.upsert", "{}", gate, 1, 1, p), 1);
	p[0] = "e";
	assert_int_equal(gated(w, NULL, "messages.update", "{}", gate, 1, 1, p), 1);
	assert_int_equal(sql_long("SELECT count(*) FROM gated_t"), 6);
	assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox"), 3);
	/* two events, two gates, one statement: rows in the events' order, only for gates with a row, one count
	 * per gate */
	{
		static const char two[] = "ins AS (INSERT INTO gated_t (k) VALUES ($1) ON CONFLICT DO NOTHING RETURNING k),"
		    " g1 AS (SELECT jsonb_build_object('k', k) AS extra FROM ins),"
		    " g2 AS (SELECT NULL::jsonb AS extra FROM ins WHERE k LIKE 'x%'),"
		    " g3 AS (SELECT NULL::jsonb AS extra FROM ins)";
		struct json_object *o1 = json_tokener_parse("{\"status\":\"READ\"}"), *o2 = json_tokener_parse("[1]");
		struct webhook_gated_event evs[3] = { { "messages.update", o1, "g1", 1 }, { "chats.upsert", o2, "g2", 0 },
			{ "contacts.upsert", NULL, "g3", 0 } };
		struct webhook_gate g2 = { two, 1, p, NULL, NULL };
		struct db_tx *tx;

		sql("DELETE FROM webhook_outbox");
		p[0] = "x1";
		gated_n(w, iw, &g2, evs, 3);
		/* contacts.upsert is filtered out by the instance's events: two rows, in order */
		assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox"), 2);
		assert_int_equal(sql_long("SELECT count(*) FROM (SELECT event, lag(event) OVER (ORDER BY id) AS prev"
		    " FROM webhook_outbox) e WHERE event = 'chats.upsert' AND prev = 'messages.update'"), 1);
		assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox WHERE event = 'messages.update'"
		    " AND body->'data' = '{\"status\":\"READ\",\"k\":\"x1\"}'::jsonb"), 1);
		/* y1: g2 is empty, only messages.update */
		sql("DELETE FROM webhook_outbox");
		p[0] = "y1";
		gated_n(w, iw, &g2, evs, 3);
		assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox"), 1);
		assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox WHERE event = 'messages.update'"), 1);
		/* bad arguments */
		tx = db_tx_new();
		assert_int_equal(webhook_enqueue_gated(w, tx, iw, INST_ID, "sales", NULL, &g2, evs, 0), -1);
		assert_int_equal(webhook_enqueue_gated(w, tx, iw, INST_ID, "sales", NULL, &g2, evs,
		    WEBHOOK_EVENTS_MAX + 1), -1);
		evs[1].event = "Bad Name";
		assert_int_equal(webhook_enqueue_gated(w, tx, iw, INST_ID, "sales", NULL, &g2, evs, 3), -1);
		assert_int_equal(db_tx_count(tx), 0);
		db_tx_free(tx);
		json_object_put(o1);
		json_object_put(o2);
		sql("DELETE FROM webhook_outbox");
		sql("DELETE FROM gated_t WHERE k IN ('x1', 'y1')");
	}
	/* EACH: one event per gate row, in the gate's ord order (here not the rows' own: m3 first), each with its own
	 * extra; EACH on data that takes no extra, and an unknown mode, are refused */
	{
		static const char many[] = "ins AS (INSERT INTO gated_t (k) SELECT unnest($1::text[])"
		    " ON CONFLICT DO NOTHING RETURNING k),"
		    " gate AS (SELECT jsonb_build_object('k', k) AS extra, CASE k WHEN 'm1' THEN 2 ELSE 1 END AS ord"
		    " FROM ins)";
		struct json_object *o = json_tokener_parse("{\"status\":\"READ\"}"), *num = json_object_new_int(1);
		struct webhook_gated_event ev = { "messages.update", o, "gate", WEBHOOK_EXTRA_EACH };
		struct webhook_gated_event scalar = { "messages.update", num, "gate", WEBHOOK_EXTRA_EACH };
		struct webhook_gated_event mode = { "messages.update", o, "gate", 7 };
		struct webhook_gate gm = { many, 1, p, NULL, NULL };
		struct db_tx *tx;

		sql("DELETE FROM webhook_outbox");
		sql("INSERT INTO gated_t (k) VALUES ('m2')");
		p[0] = "{m1,m2,m3}";
		gated_n(w, iw, &gm, &ev, 1);
		assert_int_equal(sql_long("SELECT count(*) FROM webhook_outbox"), 2);
		assert_int_equal(sql_long("SELECT count(*) FROM (SELECT body->'data' AS d, row_number() OVER (ORDER BY id)"
		    " AS n FROM webhook_outbox) r WHERE (n = 1 AND d = '{\"status\":\"READ\",\"k\":\"m3\"}'::jsonb)"
		    " OR (n = 2 AND d = '{\"status\":\"READ\",\"k\":\"m1\"}'::jsonb)"), 2);
		tx = db_tx_new();
		assert_int_equal(webhook_enqueue_gated(w, tx, iw, INST_ID, "sales", NULL, &gm, &scalar, 1), -1);
		assert_int_equal(webhook_enqueue_gated(w, tx, iw, INST_ID, "sales", NULL, &gm, &mode, 1), -1);
		assert_int_equal(db_tx_count(tx), 0);
		db_tx_free(tx);
		json_object_put(o);
		json_object_put(num);
		sql("DELETE FROM webhook_outbox");
		sql("DELETE FROM gated_t WHERE k LIKE 'm_'");
	}
	/* refused arguments add nothing */
	{
		struct webhook_gate bad = { gate, WEBHOOK_GATE_PARAMS_MAX + 1, p, NULL, NULL };
		struct webhook_gate one = { gate, 1, p, NULL, NULL };
		struct webhook_gated_event ev = { "messages.update", NULL, "gate", 0 };
		struct webhook_gated_event badname = { "Bad Name", NULL, "gate", 0 };
		struct db_tx *tx = db_tx_new();

		assert_int_equal(webhook_enqueue_gated(w, tx, iw, INST_ID, "sales", NULL, NULL, &ev, 1), -1);
		assert_int_equal(webhook_enqueue_gated(w, tx, iw, INST_ID, "sales", NULL, &bad, &ev, 1), -1);
		assert_int_equal(webhook_enqueue_gated(w, tx, iw, INST_ID, "sales", NULL, &one, &badname, 1), -1);
		assert_int_equal(db_tx_count(tx), 0);
		db_tx_free(tx);
	}
	sql("DROP TABLE gated_t");
	webhook_inst_free(iw);
	webhook_free(w);
}

/* The rows of one event, made by webhook_enqueue (targets resolved in SQL from the table) and by the gated
 * form (resolved in C from the row as the supervisor holds it), are the same: URL, headers and envelope
 * (date_time aside), for every kind of instance webhook and global configuration. */
static void
test_gated_matches_plain(void **state)
{
	static const char gate[] = "gate AS (SELECT NULL::jsonb AS extra)";
	static const char *const events[] = { "messages.upsert", "groups.update", "connection.update",
		"instance.create", "logout.instance", "chats.upsert" };
	static const char *const datas[] = { "{\"key\":{\"id\":\"A\"},\"t\":\"x\\u0000y\"}", "[]", "{}", "{}",
		"null", "[{\"remoteJid\":\"r\"}]" };
	struct { const char *url; int by_events; const char *events; int enabled; } insts[] = {
		{ "http://127.0.0.1:1/inst", 1, "{CONNECTION_UPDATE,GROUP_UPDATE}", 1 },
		{ "http://127.0.0.1:1/all/", 0, "{}", 1 },
		{ "http://127.0.0.1:1/off", 0, "{}", 0 },
		{ "", 0, "{}", 1 },
		{ NULL, 0, NULL, 0 },
	};
	struct { const char *gurl; int by_events; int msgs_off; } globals[] = {
		{ "http://127.0.0.1:1/g", 1, 0 }, { "http://127.0.0.1:1/g", 0, 1 }, { NULL, 0, 0 },
	};
	size_t i, j, k;

	(void)state;
	for (i = 0; i < sizeof(insts) / sizeof(insts[0]); i++)
		for (j = 0; j < sizeof(globals) / sizeof(globals[0]); j++) {
			struct webhook *w = new_webhook(NULL, globals[j].gurl, globals[j].by_events, 100);
			struct webhook_inst *iw;

			sql("DELETE FROM instance");
			add_instance(INST_ID, "sales", insts[i].url, insts[i].by_events, insts[i].events, insts[i].enabled);
			iw = load_inst(INST_ID);
			assert_true((iw == NULL) == (insts[i].url == NULL));
			T.msgs_global_off = globals[j].msgs_off;
			for (k = 0; k < sizeof(events) / sizeof(events[0]); k++) {
				long plain, both, same;

				sql("DELETE FROM webhook_outbox");
				enqueue(w, INST_ID, "sales", events[k], datas[k], "5511@s.whatsapp.net");
				plain = sql_long("SELECT count(*) FROM webhook_outbox");
				assert_int_equal(gated(w, iw, events[k], datas[k], gate, 0, 0, NULL), 1);
				both = sql_long("SELECT count(*) FROM webhook_outbox");
				same = sql_long("SELECT count(*) FROM webhook_outbox a JOIN webhook_outbox b ON a.id < b.id"
				    " AND a.url = b.url AND a.headers = b.headers AND a.event = b.event"
				    " AND a.instance_id = b.instance_id AND a.body - 'date_time' = b.body - 'date_time'");
				if (both != 2 * plain || same != plain)
					fail_msg("instance %zu, global %zu, %s: %ld rows in SQL, %ld gated, %ld the same", i,
					    j, events[k], plain, both - plain, same);
			}
			T.msgs_global_off = 0;
			webhook_inst_free(iw);
			webhook_free(w);
		}
}

/* Pure helpers first, then the enqueue tests against PostgreSQL. */
int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_time),
		cmocka_unit_test_setup(test_enqueue_rows, webhook_test_reset),
		cmocka_unit_test_setup(test_enqueue_filters, webhook_test_reset),
		cmocka_unit_test_setup(test_enqueue_gated, webhook_test_reset),
		cmocka_unit_test_setup(test_gated_matches_plain, webhook_test_reset),
	};

	return cmocka_run_group_tests(tests, webhook_test_setup, webhook_test_teardown);
}
