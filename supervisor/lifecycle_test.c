/* lifecycle against a real PostgreSQL (WAGATE_TEST_PGURI, or a private cluster via scripts/pg.sh) with the
 * worker table replaced by stubs that record what lifecycle asks of it (lc_testlib.h, lc_stubs.c): StoreBatch
 * and PairSuccess commits and their answers, QR objects and qrcode.updated rows, open/refused/logout handling,
 * QR waits, and the start-up load of stored credentials. */
#include "lifecycle.h"
#include "lifecycle_int.h"
#include "app.h"
#include "db.h"
#include "registry.h"
#include "webhook.h"
#include "settings.h"
#include "workers.h"
#include "xmalloc.h"

#include <errno.h>
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

/* what this file's tests record beside the stub table's (LC) */
static struct {
	/* the order in which the writes of test_delete_order finished */
	char done_order[64];
	/* QR waits */
	int nwoken;
	enum lifecycle_wake woken_why;
	struct instance *woken_inst;
} T;

/* A registry timestamp equals the column the query selects, to the microsecond. */
#define assert_us(us, ...) do {							\
	char w_[32];								\
	snprintf(w_, sizeof(w_), "%lld", (long long)(us));			\
	assert_val(w_, __VA_ARGS__);						\
} while (0)
#define US(col) "(extract(epoch FROM " col ") * 1000000)::bigint"

static void
waited_cb(void *arg, struct instance *i, enum lifecycle_wake why)
{
	(void)arg;
	T.nwoken++;
	T.woken_why = why;
	T.woken_inst = i;
}

/* ---- tests ---- */

static void
test_wuid(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(lifecycle_wuid("15551234567:7@s.whatsapp.net", out, sizeof(out)), 0);
	assert_string_equal(out, "15551234567@s.whatsapp.net");
	assert_int_equal(lifecycle_wuid("15551234567@s.whatsapp.net", out, sizeof(out)), 0);
	assert_string_equal(out, "15551234567@s.whatsapp.net");
	assert_int_equal(lifecycle_wuid("15551234567.0:2@s.whatsapp.net", out, sizeof(out)), 0);
	assert_string_equal(out, "15551234567@s.whatsapp.net");
	assert_int_equal(lifecycle_wuid("100000000000001:1@lid", out, sizeof(out)), -1);
	assert_int_equal(lifecycle_wuid("abc:1@s.whatsapp.net", out, sizeof(out)), -1);
	assert_int_equal(lifecycle_wuid(":1@s.whatsapp.net", out, sizeof(out)), -1);
	assert_int_equal(lifecycle_wuid("123456789012345678901@s.whatsapp.net", out, sizeof(out)), -1);
	assert_int_equal(lifecycle_wuid("", out, sizeof(out)), -1);
	assert_int_equal(lifecycle_wuid("15551234567:7@s.whatsapp.net", out, 10), -1);
}

/* StoreBatch: creds (paired kept), prekeys, uploaded mark; a conflicting batch changes nothing. */
static void
test_store(void **state)
{
	struct workers_prekey keys[3];
	struct workers_store b;
	unsigned char rec[40];
	int n;

	(void)state;
	memset(rec, 0x5a, sizeof(rec));
	memset(&b, 0, sizeof(b));
	keys[0] = (struct workers_prekey){ 1, rec, sizeof(rec) };
	keys[1] = (struct workers_prekey){ 2, rec, sizeof(rec) };
	keys[2] = (struct workers_prekey){ 16777215, rec, 1 };
	b.creds = (const unsigned char *)"REG\0CREDS";
	b.creds_len = 9;
	b.prekeys = keys;
	b.nprekeys = 3;
	n = LC.nreply;
	lifecycle_on_store(&LC.app, IID, 41, &b);
	assert_true(lct_run_until(&LC.nreply, n + 1, 10000));
	assert_int_equal(LC.reply_req[n], 41);
	assert_int_equal(LC.reply_ok[n], 1);
	assert_int_equal(LC.reply_pair[n], 0);
	assert_val("\\x52454700435245445" "3", "SELECT creds FROM auth_creds WHERE instance_id = '" IID "'");
	assert_val("f", "SELECT paired FROM auth_creds WHERE instance_id = '" IID "'");
	assert_val("3", "SELECT count(*) FROM signal_prekey WHERE instance_id = '" IID "' AND NOT uploaded");
	assert_val("40", "SELECT length(record) FROM signal_prekey WHERE key_id = 2");
	assert_val("1", "SELECT length(record) FROM signal_prekey WHERE key_id = 16777215");

	/* uploaded up to 2, no creds: the blob stays */
	memset(&b, 0, sizeof(b));
	b.prekeys_uploaded_upto = 2;
	lifecycle_on_store(&LC.app, IID, 42, &b);
	assert_true(lct_run_until(&LC.nreply, n + 2, 10000));
	assert_int_equal(LC.reply_ok[n + 1], 1);
	assert_val("1,2", "SELECT string_agg(key_id::text, ',' ORDER BY key_id) FROM signal_prekey WHERE uploaded");
	assert_val("9", "SELECT length(creds) FROM auth_creds");

	/* a batch replayed before its ids were uploaded (the supervisor died between COMMIT and StoreAck, and
	 * the worker re-sent it to the next one): stored again, once */
	memset(&b, 0, sizeof(b));
	keys[0].id = 5;
	b.prekeys = keys;
	b.nprekeys = 1;
	lifecycle_on_store(&LC.app, IID, 45, &b);
	assert_true(lct_run_until(&LC.nreply, n + 3, 10000));
	assert_int_equal(LC.reply_ok[n + 2], 1);
	lifecycle_on_store(&LC.app, IID, 46, &b);
	assert_true(lct_run_until(&LC.nreply, n + 4, 10000));
	assert_int_equal(LC.reply_ok[n + 3], 1);
	assert_val("1", "SELECT count(*) FROM signal_prekey WHERE key_id = 5");
	n += 2;

	/* an uploaded id again: a worker bug, the whole batch fails, creds untouched */
	memset(&b, 0, sizeof(b));
	b.creds = (const unsigned char *)"OTHER";
	b.creds_len = 5;
	keys[0].id = 3;
	keys[1].id = 2;
	b.prekeys = keys;
	b.nprekeys = 2;
	lifecycle_on_store(&LC.app, IID, 43, &b);
	assert_true(lct_run_until(&LC.nreply, n + 3, 10000));
	assert_int_equal(LC.reply_req[n + 2], 43);
	assert_int_equal(LC.reply_ok[n + 2], 0);
	assert_non_null(strstr(LC.reply_err[n + 2], "division by zero"));	/* the count check */
	assert_val("9", "SELECT length(creds) FROM auth_creds");
	assert_val("<none>", "SELECT 1 FROM signal_prekey WHERE key_id = 3");

	/* an empty batch is answered without a transaction, but never from inside the worker's callback */
	memset(&b, 0, sizeof(b));
	lifecycle_on_store(&LC.app, IID, 44, &b);
	assert_int_equal(LC.nreply, n + 3);
	assert_true(lct_run_until(&LC.nreply, n + 4, 1000));
	assert_int_equal(LC.reply_ok[n + 3], 1);
	/* unknown instance: refused */
	lifecycle_on_store(&LC.app, "99999999-2222-4333-8444-555555555555", 45, &b);
	assert_true(lct_run_until(&LC.nreply, n + 5, 1000));
	assert_int_equal(LC.reply_ok[n + 4], 0);
}

/* QrUpdate: registry QR object, state connecting in the table, qrcode.updated row; a QR wait ends. */
static void
test_qr(void **state)
{
	struct instance *i = lct_inst();

	(void)state;
	lifecycle_on_state(&LC.app, IID, CONN_CONNECTING, 0, "", NULL);
	lct_drain();
	assert_val("connecting", "SELECT connection_status FROM instance");
	T.nwoken = 0;
	lifecycle_wait(&LC.app, IID, 5000, waited_cb, NULL);
	lifecycle_on_qr(&LC.app, IID, "https://wa.me/settings/linked_devices#2@ref,AAAA,BBBB,CCCC,1", 1, "");
	assert_int_equal(T.nwoken, 0);	/* never from inside the worker's callback */
	assert_true(lct_run_until(&T.nwoken, 1, 1000));
	assert_int_equal(T.woken_why, LIFECYCLE_WAKE_QR);
	assert_ptr_equal(T.woken_inst, i);
	assert_string_equal(i->qr_code, "https://wa.me/settings/linked_devices#2@ref,AAAA,BBBB,CCCC,1");
	assert_non_null(i->qr_base64);
	assert_memory_equal(i->qr_base64, "data:image/png;base64,iVBOR", 27);
	assert_null(i->qr_pairing_code);
	assert_int_equal(i->qr_count, 1);
	lct_drain();
	assert_val("1", "SELECT count(*) FROM webhook_outbox WHERE event = 'qrcode.updated'");
	assert_val("[\"qrcode\"]", "SELECT json_agg(k) FROM webhook_outbox, jsonb_object_keys(body->'data') k"
	    " WHERE event = 'qrcode.updated'");
	assert_val("base64,code,instance,pairingCode", "SELECT string_agg(k, ',' ORDER BY k) FROM webhook_outbox,"
	    " jsonb_object_keys(body->'data'->'qrcode') k WHERE event = 'qrcode.updated'");
	assert_val("null", "SELECT body->'data'->'qrcode'->'pairingCode' FROM webhook_outbox"
	    " WHERE event = 'qrcode.updated'");
	assert_val("lc", "SELECT body->'data'->'qrcode'->>'instance' FROM webhook_outbox WHERE event = 'qrcode.updated'");

	/* a pairing code rides along */
	lifecycle_on_qr(&LC.app, IID, "2@ref2,AAAA,BBBB,CCCC", 2, "ABCD1234");
	assert_null(i->qr_pairing_code);	/* recorded only, handled on the next loop turn */
	lct_drain();
	assert_string_equal(i->qr_pairing_code, "ABCD1234");
	assert_int_equal(i->qr_count, 2);
	lct_drain();
	assert_val("ABCD1234", "SELECT body->'data'->'qrcode'->>'pairingCode' FROM webhook_outbox"
	    " WHERE event = 'qrcode.updated' ORDER BY id DESC LIMIT 1");

	/* a wait with nothing happening ends by its timer */
	T.nwoken = 0;
	lifecycle_wait(&LC.app, IID, 200, waited_cb, NULL);
	assert_true(lct_run_until(&T.nwoken, 1, 2000));
	assert_int_equal(T.woken_why, LIFECYCLE_WAKE_TIMEOUT);
}

/* PairSuccess then OPEN: creds paired, owner JID without device, open event shape, QR reset. */
static void
test_pair_open(void **state)
{
	struct workers_pair p;
	struct workers_account a;
	struct instance *i = lct_inst();
	int n = LC.nreply;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.jid = "15550000001:1@s.whatsapp.net";
	p.lid = "100000000000001:1@lid";
	p.push_name = "";
	p.platform = "android";
	p.business_name = "";
	p.creds = (const unsigned char *)"PAIRED";
	p.creds_len = 6;
	lifecycle_on_pair_success(&LC.app, IID, 77, &p);
	assert_true(lct_run_until(&LC.nreply, n + 1, 10000));
	assert_int_equal(LC.reply_req[n], 77);
	assert_int_equal(LC.reply_ok[n], 1);
	assert_int_equal(LC.reply_pair[n], 1);
	assert_val("t", "SELECT paired FROM auth_creds");
	assert_val("6", "SELECT length(creds) FROM auth_creds");
	assert_val("15550000001@s.whatsapp.net", "SELECT owner_jid FROM instance");
	assert_string_equal(i->owner_jid, "15550000001@s.whatsapp.net");

	/* a later StoreBatch with creds keeps paired */
	{
		struct workers_store b;
		memset(&b, 0, sizeof(b));
		b.creds = (const unsigned char *)"PAIRED2";
		b.creds_len = 7;
		lifecycle_on_store(&LC.app, IID, 78, &b);
		assert_true(lct_run_until(&LC.nreply, n + 2, 10000));
		assert_val("t", "SELECT paired FROM auth_creds");
		assert_val("7", "SELECT length(creds) FROM auth_creds");
	}
	/* a bad JID is refused */
	p.jid = "100000000000001:1@lid";
	lifecycle_on_pair_success(&LC.app, IID, 79, &p);
	assert_true(lct_run_until(&LC.nreply, n + 3, 1000));
	assert_int_equal(LC.reply_ok[n + 2], 0);

	T.nwoken = 0;
	lifecycle_wait(&LC.app, IID, 5000, waited_cb, NULL);
	a.jid = "15550000001:1@s.whatsapp.net";
	a.lid = "100000000000001:1@lid";
	a.push_name = "Fake Phone 15550000001";
	lifecycle_on_state(&LC.app, IID, CONN_OPEN, 0, "", &a);
	assert_true(lct_run_until(&T.nwoken, 1, 1000));
	assert_int_equal(T.woken_why, LIFECYCLE_WAKE_OPEN);
	assert_int_equal(i->state, CONN_OPEN);
	assert_null(i->qr_code);
	assert_int_equal(i->qr_count, 0);
	lct_drain();
	assert_val("open|15550000001@s.whatsapp.net|Fake Phone 15550000001",
	    "SELECT concat_ws('|', connection_status, owner_jid, profile_name) FROM instance");
	assert_val("{\"wuid\": \"15550000001@s.whatsapp.net\", \"state\": \"open\", \"instance\": \"lc\","
	    " \"profileName\": \"Fake Phone 15550000001\", \"statusReason\": 200, \"profilePictureUrl\": null}",
	    "SELECT body->'data' FROM webhook_outbox WHERE event = 'connection.update' ORDER BY id DESC LIMIT 1");
	assert_val("15550000001@s.whatsapp.net", "SELECT body->>'sender' FROM webhook_outbox"
	    " WHERE event = 'connection.update' ORDER BY id DESC LIMIT 1");
}

/* Start-up: a paired instance connects at once with its blob. */
static void
test_load(void **state)
{
	struct registry *old = LC.app.reg;
	char err[256];

	struct instance *i;

	(void)state;
	/* _count is counted here once: two chats, one contact */
	lct_sql("INSERT INTO chat (instance_id, remote_jid) VALUES ('" IID "', 'a@s.whatsapp.net'),"
	    " ('" IID "', 'b@s.whatsapp.net')");
	lct_sql("INSERT INTO contact (instance_id, remote_jid) VALUES ('" IID "', 'a@s.whatsapp.net')");
	/* messages whose statistics say none (never analyzed): the load analyzes the tables */
	lct_sql("INSERT INTO message (instance_id, key_id, remote_jid, from_me, message_type, key, message,"
	    " message_timestamp) SELECT '" IID "', 'LD' || g, 'a@s.whatsapp.net', false, 'conversation', '{}', '{}', 1"
	    " FROM generate_series(1, 3) g");
	lct_sql("UPDATE pg_class SET reltuples = -1 WHERE relname = 'message'");
	/* the instance's webhook row, which the message events resolve their targets from */
	lct_sql("INSERT INTO instance_webhook (instance_id, url, headers, by_events, events) VALUES ('" IID "',"
	    " 'http://127.0.0.1:9/own', '{\"X-A\": \"1\"}', true, '{MESSAGES_UPSERT,CHATS_UPSERT}')");
	LC.app.reg = registry_new();
	LC.nadd = 0;
	assert_int_equal(lifecycle_load(&LC.app, err, sizeof(err)), 0);
	assert_int_equal(LC.nadd, 1);
	assert_int_equal(LC.add_connect_now, 1);
	assert_string_equal(LC.add_creds, "PAIRED2");
	i = registry_find_id(LC.app.reg, IID);
	assert_non_null(i);
	assert_int_equal(i->count_chats, 2);
	assert_int_equal(i->count_contacts, 1);
	assert_int_equal(i->count_messages, 3);
	assert_val("3", "SELECT reltuples::bigint FROM pg_class WHERE relname = 'message'");
	lct_sql("DELETE FROM message WHERE key_id LIKE 'LD%'");
	assert_int_equal(i->has_setting, 0);
	assert_non_null(i->webhook);
	assert_string_equal(i->webhook->url, "http://127.0.0.1:9/own");
	assert_string_equal(i->webhook->headers, "{\"X-A\":\"1\"}");
	assert_int_equal(i->webhook->enabled, 1);
	assert_int_equal(i->webhook->by_events, 1);
	assert_int_equal(i->webhook->nevents, 2);
	assert_string_equal(i->webhook->events[1], "CHATS_UPSERT");
	lct_sql("DELETE FROM instance_webhook WHERE instance_id = '" IID "'");
	assert_us(i->created_us, "SELECT " US("created_at") " FROM instance WHERE id = '" IID "'");
	/* after load's own UPDATE to close */
	assert_us(i->updated_us, "SELECT " US("updated_at") " FROM instance WHERE id = '" IID "'");
	lct_sql("DELETE FROM chat");
	lct_sql("DELETE FROM contact");
	registry_free(LC.app.reg);
	LC.app.reg = old;
	/* load marked everything close */
	lct_sql("UPDATE instance SET connection_status = 'open'");
}

/* QR limit: refused pair of events, state close, QR reset; the repeat is quiet. */
static void
test_qr_limit(void **state)
{
	struct instance *i = lct_inst();

	(void)state;
	lifecycle_on_state(&LC.app, IID, CONN_CONNECTING, 0, "", NULL);
	lifecycle_on_qr(&LC.app, IID, "2@x,AAAA,BBBB,CCCC", 3, "");
	lct_sql("DELETE FROM webhook_outbox");
	lct_drain();
	lct_sql("DELETE FROM webhook_outbox");
	lifecycle_on_state(&LC.app, IID, CONN_CLOSE, REASON_QR_LIMIT, "QR code limit reached", NULL);
	lct_drain();
	assert_int_equal(i->state, CONN_CLOSE);
	assert_null(i->qr_code);
	assert_val("{\"message\": \"QR code limit reached, please login again\", \"statusCode\": 500}",
	    "SELECT body->'data' FROM webhook_outbox WHERE event = 'qrcode.updated'");
	assert_val("refused|428|15550000001@s.whatsapp.net|null",
	    "SELECT concat_ws('|', body->'data'->>'state', body->'data'->>'statusReason', body->'data'->>'wuid',"
	    " body->'data'->'profilePictureUrl') FROM webhook_outbox WHERE event = 'connection.update'");
	assert_val("1", "SELECT count(*) FROM webhook_outbox WHERE event = 'connection.update'");
	assert_val("close|603", "SELECT concat_ws('|', connection_status, disconnection_reason_code) FROM instance");
	/* the registry has what fetchInstances shows of the row */
	assert_int_equal(i->has_disconnection, 1);
	assert_int_equal(i->disconnection_code, REASON_QR_LIMIT);
	assert_string_equal(i->disconnection_object, "QR code limit reached");
	assert_us(i->updated_us, "SELECT " US("updated_at") " FROM instance WHERE id = '" IID "'");
	assert_us(i->disconnection_us, "SELECT " US("disconnection_at") " FROM instance WHERE id = '" IID "'");
	/* the credentials stay: the device keys are still good for the next connect */
	assert_val("1", "SELECT count(*) FROM auth_creds");
	lifecycle_on_state(&LC.app, IID, CONN_CLOSE, REASON_QR_LIMIT, "again", NULL);
	lct_drain();
	assert_val("1", "SELECT count(*) FROM webhook_outbox WHERE event = 'connection.update'");
}

/* CLOSE/401: credentials and every key gone, worker told to forget, logout.instance; also from close. */
static void
test_logged_out(void **state)
{
	struct instance *i = lct_inst();
	int f = LC.nforget;

	(void)state;
	lct_sql("INSERT INTO signal_session VALUES ('" IID "', 'a', 'x'), ('" IID "', 'b', 'y')");
	lct_sql("INSERT INTO signal_identity VALUES ('" IID "', 'a', 'x')");
	lct_sql("DELETE FROM webhook_outbox");
	T.nwoken = 0;
	lifecycle_wait(&LC.app, IID, 5000, waited_cb, NULL);
	/* already close (after the QR limit): a 401 still voids the credentials */
	lifecycle_on_state(&LC.app, IID, CONN_CLOSE, REASON_LOGGED_OUT, "device_removed", NULL);
	assert_true(lct_run_until(&T.nwoken, 1, 1000));
	assert_int_equal(T.woken_why, LIFECYCLE_WAKE_CLOSE);
	assert_int_equal(LC.nforget, f + 1);
	assert_int_equal(i->reason, REASON_LOGGED_OUT);
	lct_drain();
	assert_val("0", "SELECT (SELECT count(*) FROM auth_creds) + (SELECT count(*) FROM signal_prekey) +"
	    " (SELECT count(*) FROM signal_session) + (SELECT count(*) FROM signal_identity)");
	assert_val("1", "SELECT count(*) FROM webhook_outbox WHERE event = 'logout.instance'");
	assert_val("close|401", "SELECT concat_ws('|', body->'data'->>'state', body->'data'->>'statusReason')"
	    " FROM webhook_outbox WHERE event = 'connection.update'");
	/* the worker's exit 3 repeats it: nothing new */
	lifecycle_on_state(&LC.app, IID, CONN_CLOSE, REASON_LOGGED_OUT, "logged out", NULL);
	lct_drain();
	assert_int_equal(LC.nforget, f + 1);
	assert_val("1", "SELECT count(*) FROM webhook_outbox WHERE event = 'logout.instance'");
	assert_val("1", "SELECT count(*) FROM webhook_outbox WHERE event = 'connection.update'");
}

/* Writes of one instance commit in the order asked even with a pool of several connections. */
static void
test_order(void **state)
{
	struct workers_store b;
	char creds[16];
	int k, n = LC.nreply;

	(void)state;
	for (k = 0; k < 20; k++) {
		memset(&b, 0, sizeof(b));
		snprintf(creds, sizeof(creds), "C%02d", k);
		b.creds = (const unsigned char *)creds;
		b.creds_len = strlen(creds);
		lifecycle_on_store(&LC.app, IID, 100 + (uint64_t)k, &b);
		if (k == 10)
			lifecycle_on_state(&LC.app, IID, CONN_CONNECTING, 0, "", NULL);
	}
	assert_true(lct_run_until(&LC.nreply, n + 20, 10000));
	for (k = 0; k < 20; k++)
		assert_int_equal(LC.reply_req[(n + k) % 32], 100 + k);
	assert_val("C19", "SELECT convert_from(creds, 'UTF8') FROM auth_creds");
	lct_drain();
}

/* An API restart: the old process's close is neither stored as a disconnection nor announced; a crash is. */
static void
test_restart(void **state)
{
	struct instance *i = lct_inst();

	(void)state;
	lct_drain();
	lct_sql("DELETE FROM webhook_outbox");
	lifecycle_on_state(&LC.app, IID, CONN_CONNECTING, 0, "", NULL);
	lct_drain();
	lct_sql("UPDATE instance SET disconnection_reason_code = NULL, disconnection_at = NULL");
	/* the registry the same (a write restates its disconnection columns) */
	i->has_disconnection = 0;
	i->disconnection_us = 0;
	lct_sql("DELETE FROM webhook_outbox");
	LC.pid = 4242;
	LC.nrestart = LC.nconnect = 0;
	assert_int_equal(lifecycle_restart(&LC.app, i), 0);
	assert_int_equal(LC.nrestart, 1);
	assert_int_equal(LC.nconnect, 1);	/* it was showing QR codes: it goes on */
	assert_true(i->restarting);
	lifecycle_on_state(&LC.app, IID, CONN_CLOSE, REASON_WORKER_CRASHED, "worker exited with code 0", NULL);
	lct_drain();
	assert_int_equal(i->state, CONN_CLOSE);
	assert_int_equal(i->reason, REASON_NONE);
	assert_false(i->restarting);
	assert_val("close", "SELECT concat_ws('|', connection_status, disconnection_reason_code, disconnection_at)"
	    " FROM instance");
	assert_val("0", "SELECT count(*) FROM webhook_outbox");
	/* a crash afterwards is one */
	lifecycle_on_state(&LC.app, IID, CONN_CONNECTING, 0, "", NULL);
	lifecycle_on_state(&LC.app, IID, CONN_CLOSE, REASON_WORKER_CRASHED, "worker killed by signal 9", NULL);
	lct_drain();
	assert_val("close|600", "SELECT concat_ws('|', connection_status, disconnection_reason_code) FROM instance");
	assert_val("close|600", "SELECT concat_ws('|', body->'data'->>'state', body->'data'->>'statusReason')"
	    " FROM webhook_outbox WHERE event = 'connection.update' ORDER BY id DESC LIMIT 1");
	LC.pid = 0;
}

/* A write of test_delete_order finished: note its tag, with '!' when it failed. */
static void
set_done_cb(void *arg, const struct db_result *r)
{
	size_t len = strlen(T.done_order);

	snprintf(T.done_order + len, sizeof(T.done_order) - len, "%s%s,", (const char *)arg, r->err != NULL ? "!" : "");
}

/* The delete of test_delete_order finished. */
static void
delete_done_cb(void *arg, int ok, const struct db_result *r)
{
	size_t len = strlen(T.done_order);

	(void)r;
	snprintf(T.done_order + len, sizeof(T.done_order) - len, "%s%s,", (const char *)arg, ok ? "" : "!");
}

/* A create finished: keep the entry (NULL on failure) and the SQLSTATE. */
static struct instance *created;
static char created_state[8];
static int ncreated;

static void
created_cb(void *arg, struct instance *i, const struct db_result *r)
{
	(void)arg;
	created = i;
	snprintf(created_state, sizeof(created_state), "%s", r->sqlstate != NULL ? r->sqlstate : "");
	ncreated++;
}

/* The messaging hook: counts move by what was committed, never below zero; unknown instances are ignored. */
static void
test_count_add(void **state)
{
	struct instance *i = lct_inst();

	(void)state;
	i->count_messages = i->count_contacts = i->count_chats = 0;
	lifecycle_count_add(&LC.app, IID, 3, 2, 1);
	lifecycle_count_add(&LC.app, IID, 1, 0, 0);
	assert_int_equal(i->count_messages, 4);
	assert_int_equal(i->count_contacts, 2);
	assert_int_equal(i->count_chats, 1);
	lifecycle_count_add(&LC.app, IID, -1, -5, 0);
	assert_int_equal(i->count_messages, 3);
	assert_int_equal(i->count_contacts, 0);
	lifecycle_count_add(&LC.app, "00000000-0000-0000-0000-000000000000", 1, 1, 1);
	i->count_messages = i->count_contacts = i->count_chats = 0;
}

/* Create: rows and instance.create committed, then the one register path (registry and worker); a taken
 * name is refused with 23505. */
static void
test_create(void **state)
{
	struct lifecycle_create req;
	struct lifecycle_webhook wh;
	struct settings st;
	int a = LC.nadd;

	(void)state;
	memset(&req, 0, sizeof(req));
	memset(&st, 0, sizeof(st));
	memset(&wh, 0, sizeof(wh));
	st.groups_ignore = 1;
	st.msg_call = (char *)"no calls";
	wh.enabled = 1;
	wh.url = "http://127.0.0.1:9/lc2";
	wh.events = "{QRCODE_UPDATED}";
	req.name = "lc2";
	req.settings = &st;
	req.webhook = &wh;
	ncreated = 0;
	lifecycle_create(&LC.app, &req, created_cb, NULL);
	assert_true(lct_run_until(&ncreated, 1, 10000));
	assert_non_null(created);
	assert_ptr_equal(registry_find(LC.app.reg, "lc2"), created);
	assert_int_equal(created->settings.groups_ignore, 1);
	assert_string_equal(created->settings.msg_call, "no calls");
	assert_int_equal(strlen(created->token), 36);
	assert_int_equal(LC.nadd, a + 1);
	assert_int_equal(LC.add_connect_now, 0);
	assert_us(created->created_us, "SELECT " US("created_at") " FROM instance WHERE name = 'lc2'");
	assert_us(created->updated_us, "SELECT " US("updated_at") " FROM instance WHERE name = 'lc2'");
	assert_int_equal(created->has_setting, 1);
	assert_int_equal(created->has_proxy, 0);
	assert_us(created->setting_created_us, "SELECT " US("s.created_at") " FROM instance_setting s"
	    " JOIN instance i ON i.id = s.instance_id WHERE i.name = 'lc2'");
	assert_val("t|no calls|{QRCODE_UPDATED}", "SELECT concat_ws('|', s.groups_ignore, s.msg_call, w.events)"
	    " FROM instance i JOIN instance_setting s ON s.instance_id = i.id"
	    " JOIN instance_webhook w ON w.instance_id = i.id WHERE i.name = 'lc2'");
	assert_val("1", "SELECT count(*) FROM webhook_outbox WHERE event = 'instance.create'");

	lifecycle_create(&LC.app, &req, created_cb, NULL);
	assert_true(lct_run_until(&ncreated, 2, 10000));
	assert_null(created);
	assert_string_equal(created_state, "23505");
	assert_int_equal(LC.nadd, a + 1);
	lct_drain();
}

/* ---- a database outage (the pool swapped for one that cannot connect) ---- */

static int outage_unavailable, outage_done;

/* A write refused by the outage: count it. */
static void
outage_set_cb(void *arg, const struct db_result *r)
{
	(void)arg;
	outage_done++;
	outage_unavailable += r->err != NULL && r->unavailable;
}

/* A delete refused by the outage: count it. */
static void
outage_delete_cb(void *arg, int ok, const struct db_result *r)
{
	(void)arg;
	outage_done++;
	outage_unavailable += !ok && r->unavailable;
}

/* A pool on a port nothing listens on, past its first attempt (its work fails at once from then on). */
static struct db *
dead_pool(void)
{
	struct db *dead = db_new(LC.app.base, "postgresql://postgres@127.0.0.1:1/none?connect_timeout=2", 1);
	int n0 = outage_done;

	db_query(dead, "SELECT 1", 0, NULL, outage_set_cb, NULL);
	assert_true(lct_run_until(&outage_done, n0 + 1, 5000));
	return dead;
}

/* The order of the connection.update states in the outbox, comma separated. */
#define OUTBOX_STATES "SELECT string_agg(body->'data'->>'state', ',' ORDER BY id) FROM webhook_outbox" \
	" WHERE event = 'connection.update'"

/* Transitions during an outage are kept in order and written when the database is back; logout and delete
 * are refused (unavailable) without touching the worker meanwhile. */
static void
test_outage_order(void **state)
{
	struct db *live = LC.app.db, *dead;
	struct instance *i = lct_inst();
	struct workers_account a;
	unsigned long tx0, w0, m0, tx1, w1, m1;
	int lo = LC.nlogout;

	(void)state;
	lct_drain();
	lct_sql("DELETE FROM webhook_outbox");
	dead = dead_pool();
	LC.app.db = dead;
	memset(&a, 0, sizeof(a));
	a.jid = "15550000001:3@s.whatsapp.net";
	a.push_name = "Out";
	lifecycle_on_state(&LC.app, IID, CONN_CONNECTING, 0, "", NULL);
	lifecycle_on_state(&LC.app, IID, CONN_OPEN, 0, "", &a);
	lct_run_for(300);
	assert_int_equal(lifecycle_writes_pending(LC.app.lc), 2);
	assert_int_equal(i->state, CONN_OPEN);
	/* the chain waits for the database: logout and delete are refused before the worker hears of them */
	LC.pid = 4242;
	outage_done = outage_unavailable = 0;
	assert_int_equal(lifecycle_logout(&LC.app, i, outage_set_cb, NULL), 0);
	assert_int_equal(lifecycle_delete(&LC.app, i, outage_delete_cb, NULL), 0);
	assert_true(lct_run_until(&outage_done, 2, 3000));
	assert_int_equal(outage_unavailable, 2);
	assert_int_equal(LC.nlogout, lo);
	assert_int_equal(i->deleting, 0);
	assert_ptr_equal(registry_find_id(LC.app.reg, IID), i);
	lifecycle_on_state(&LC.app, IID, CONN_CLOSE, REASON_WORKER_CRASHED, "worker killed by signal 9", NULL);
	lct_run_for(200);
	assert_int_equal(lifecycle_writes_pending(LC.app.lc), 3);
	assert_val("0", "SELECT count(*) FROM webhook_outbox");

	/* The pool is back (db_on_up): the kept writes go on the next loop turn, not when their retry timer (at
	 * least 100 ms away) ends; a poll of the loop runs no timer that is not due. */
	LC.app.db = live;
	lifecycle_write_stats(LC.app.lc, &tx0, &w0, &m0);
	lifecycle_db_back(LC.app.lc);
	event_base_loop(LC.app.base, EVLOOP_NONBLOCK);
	lifecycle_write_stats(LC.app.lc, &tx1, &w1, &m1);
	assert_true(tx1 > tx0);
	lct_drain();
	assert_int_equal(lifecycle_writes_pending(LC.app.lc), 0);
	assert_val("connecting,open,close", OUTBOX_STATES);
	assert_val("close|600|15550000001@s.whatsapp.net", "SELECT concat_ws('|', connection_status,"
	    " disconnection_reason_code, owner_jid) FROM instance WHERE id = '" IID "'");
	assert_us(i->updated_us, "SELECT " US("updated_at") " FROM instance WHERE id = '" IID "'");
	/* and with the database back, logout goes through: probe, Logout, creds wipe */
	i->state = CONN_OPEN;
	outage_done = outage_unavailable = 0;
	assert_int_equal(lifecycle_logout(&LC.app, i, outage_set_cb, NULL), 0);
	assert_true(lct_run_until(&outage_done, 1, 5000));
	assert_int_equal(outage_unavailable, 0);
	assert_int_equal(LC.nlogout, lo + 1);
	i->state = CONN_CLOSE;
	LC.pid = 0;
	lct_drain();
	db_free(dead);
}

/* Past the per-instance cap the oldest transitions are coalesced: the first (in flight) and the last are
 * kept, the count is exact, and what is written ends in the final state. */
static void
test_outage_coalesce(void **state)
{
	struct db *live = LC.app.db, *dead;
	struct instance *i = lct_inst();
	unsigned long c0 = lifecycle_writes_coalesced(LC.app.lc);
	int k;

	(void)state;
	lct_drain();
	lct_sql("DELETE FROM webhook_outbox");
	dead = dead_pool();
	LC.app.db = dead;
	assert_int_equal(i->state, CONN_CLOSE);
	/* 100 transitions: connecting, close, connecting, ... close */
	for (k = 0; k < 100; k++)
		lifecycle_on_state(&LC.app, IID, k % 2 == 0 ? CONN_CONNECTING : CONN_CLOSE, k % 2 == 0 ? 0 : 428,
		    "", NULL);
	lct_run_for(300);
	assert_int_equal(lifecycle_writes_pending(LC.app.lc), 64);
	assert_int_equal(lifecycle_writes_coalesced(LC.app.lc) - c0, 36);
	LC.app.db = live;
	lct_drain();
	assert_val("64", "SELECT count(*) FROM webhook_outbox WHERE event = 'connection.update'");
	assert_val("connecting", "SELECT body->'data'->>'state' FROM webhook_outbox ORDER BY id LIMIT 1");
	assert_val("close|428", "SELECT concat_ws('|', body->'data'->>'state', body->'data'->>'statusReason')"
	    " FROM webhook_outbox ORDER BY id DESC LIMIT 1");
	assert_val("close|428", "SELECT concat_ws('|', connection_status, disconnection_reason_code) FROM instance"
	    " WHERE id = '" IID "'");
	/* Past the global cap (2 here) a close is coalesced away: the later connecting restates the disconnection
	 * columns the registry took from it, so the row still shows that close. */
	LC.app.lc->retry_max = 2;
	LC.app.db = dead;
	lifecycle_on_state(&LC.app, IID, CONN_CONNECTING, 0, "", NULL);
	lifecycle_on_state(&LC.app, IID, CONN_CLOSE, 500, "dropped", NULL);
	lifecycle_on_state(&LC.app, IID, CONN_CONNECTING, 0, "", NULL);
	lct_run_for(300);
	assert_int_equal(lifecycle_writes_pending(LC.app.lc), 2);
	assert_int_equal(lifecycle_writes_coalesced(LC.app.lc) - c0, 37);
	LC.app.db = live;
	lct_drain();
	LC.app.lc->retry_max = LC_PENDING_WRITES_DEFAULT;
	assert_val("connecting|500|dropped", "SELECT concat_ws('|', connection_status, disconnection_reason_code,"
	    " disconnection_object) FROM instance WHERE id = '" IID "'");
	assert_us(i->disconnection_us, "SELECT " US("disconnection_at") " FROM instance WHERE id = '" IID "'");
	assert_us(i->updated_us, "SELECT " US("updated_at") " FROM instance WHERE id = '" IID "'");
	/* its webhook is the one lost (counted above) */
	assert_val("0", "SELECT count(*) FROM webhook_outbox WHERE body->'data'->>'statusReason' = '500'");
	/* leave it closed, as the tests after this one expect */
	lifecycle_on_state(&LC.app, IID, CONN_CLOSE, 428, "", NULL);
	lct_drain();
	db_free(dead);
}

/* A RETRY write whose COMMIT was sent and never answered runs its check before running again: once when the
 * check says it did not commit (it commits on the second run), never when the check says it did. */
static void
test_outage_unanswered_commit(void **state)
{
	struct db_tx *tx, *check;
	int n0;

	(void)state;
	lct_drain();
	lct_sql("CREATE TABLE lc_probe (n integer)");
	lct_sql("CREATE SEQUENCE lc_seq");
	lct_sql("CREATE SEQUENCE lc_seq2");
	/* One statement (sent = committing): the first run inserts, then its session dies before the commit. */
	tx = db_tx_new();
	db_tx_add(tx, "WITH i AS (INSERT INTO lc_probe VALUES (1) RETURNING n) SELECT CASE WHEN nextval('lc_seq') = 1"
	    " THEN pg_terminate_backend(pg_backend_pid()) ELSE true END FROM i", 0, NULL);
	check = db_tx_new();
	db_tx_add(check, "SELECT EXISTS (SELECT 1 FROM lc_probe)", 0, NULL);
	outage_done = outage_unavailable = 0;
	lc_chain_push(LC.app.lc, IID, tx, LC_WRITE_RETRY, check, outage_set_cb, NULL);
	assert_true(lct_run_until(&outage_done, 1, 10000));
	assert_int_equal(outage_unavailable, 0);
	assert_val("1", "SELECT count(*) FROM lc_probe");
	assert_val("2", "SELECT last_value FROM lc_seq");
	/* The check says it committed: it is done, not run again. */
	tx = db_tx_new();
	db_tx_add(tx, "SELECT CASE WHEN nextval('lc_seq2') = 1 THEN pg_terminate_backend(pg_backend_pid())"
	    " ELSE true END", 0, NULL);
	check = db_tx_new();
	db_tx_add(check, "SELECT true", 0, NULL);
	n0 = outage_done;
	lc_chain_push(LC.app.lc, IID, tx, LC_WRITE_RETRY, check, outage_set_cb, NULL);
	assert_true(lct_run_until(&outage_done, n0 + 1, 10000));
	assert_int_equal(outage_unavailable, 0);
	assert_val("1", "SELECT last_value FROM lc_seq2");
	lct_drain();
	lct_sql("DROP TABLE lc_probe");
}

/* A worker batch, a settings update, then a delete, then more writes: the batch that arrived first and the
 * update commit before the delete (were the update after it, its row would hit the missing instance),
 * everything after the delete is refused, and nothing of the instance is left. */
static void
test_delete_order(void **state)
{
	struct settings st;
	struct proxy px;
	struct lifecycle_webhook wh;
	struct workers_store b;
	struct instance *i = lct_inst();
	int k, n, r = LC.nremove;

	(void)state;
	lct_drain();
	memset(&st, 0, sizeof(st));
	memset(&px, 0, sizeof(px));
	memset(&wh, 0, sizeof(wh));
	T.done_order[0] = '\0';
	/* recorded, not handled yet: the writers below handle it first, so it is queued first */
	n = LC.nreply;
	memset(&b, 0, sizeof(b));
	b.creds = (const unsigned char *)"EARLY";
	b.creds_len = 5;
	lifecycle_on_store(&LC.app, IID, 199, &b);
	st.reject_call = 1;
	st.msg_call = (char *)"busy";
	assert_int_equal(lifecycle_settings_set(&LC.app, i, &st, set_done_cb, (void *)"S1"), 0);
	assert_int_equal(lifecycle_delete(&LC.app, i, delete_done_cb, (void *)"D"), 0);
	st.reject_call = 0;
	errno = 0;
	assert_int_equal(lifecycle_settings_set(&LC.app, i, &st, set_done_cb, (void *)"S2"), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(lifecycle_proxy_set(&LC.app, i, &px, set_done_cb, (void *)"P"), -1);
	assert_int_equal(lifecycle_webhook_set(&LC.app, i, &wh, set_done_cb, (void *)"W"), -1);
	assert_int_equal(lifecycle_logout(&LC.app, i, set_done_cb, (void *)"L"), -1);
	assert_int_equal(lifecycle_delete(&LC.app, i, delete_done_cb, (void *)"D2"), -1);
	/* a worker's batch arriving now is refused too */
	memset(&b, 0, sizeof(b));
	b.creds = (const unsigned char *)"LATE";
	b.creds_len = 4;
	lifecycle_on_store(&LC.app, IID, 200, &b);
	lct_drain();
	assert_string_equal(T.done_order, "S1,D,");
	assert_int_equal(LC.update_reject_call, 1);	/* the worker got the update before the delete */
	assert_int_equal(LC.nremove, r + 1);
	assert_null(registry_find_id(LC.app.reg, IID));
	/* the refusal needs no commit, so it may be answered first */
	assert_int_equal(LC.nreply, n + 2);
	for (k = n; k < n + 2; k++)
		assert_int_equal(LC.reply_ok[k % 32], LC.reply_req[k % 32] == 199);
	assert_val("<none>", "SELECT 1 FROM instance WHERE id = '" IID "'");
	assert_val("<none>", "SELECT 1 FROM instance_setting WHERE instance_id = '" IID "'");
	assert_val("<none>", "SELECT 1 FROM auth_creds WHERE instance_id = '" IID "'");
	assert_val("1", "SELECT count(*) FROM webhook_outbox WHERE event = 'instance.delete'");
}

/* ---- set-up ---- */

static int
setup(void **state)
{
	(void)state;
	return lct_setup("lifecycle_test", "lc", 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wuid),
		cmocka_unit_test(test_store),
		cmocka_unit_test(test_qr),
		cmocka_unit_test(test_pair_open),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_qr_limit),
		cmocka_unit_test(test_logged_out),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_restart),
		cmocka_unit_test(test_create),
		cmocka_unit_test(test_count_add),
		cmocka_unit_test(test_outage_order),
		cmocka_unit_test(test_outage_coalesce),
		cmocka_unit_test(test_outage_unanswered_commit),
		cmocka_unit_test(test_delete_order),	/* last: the instance is gone afterwards */
	};

	return cmocka_run_group_tests(tests, setup, lct_teardown);
}
