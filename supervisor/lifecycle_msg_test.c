/* lifecycle_msg.c against a real PostgreSQL (WAGATE_TEST_PGURI, or a private cluster via scripts/pg.sh) with the
 * worker table replaced by stubs that record the answers: SignalLoad (found, absent, a sealed prekey opened),
 * MessageStore (rows, jsonb shapes, webhook rows with Evolution's payloads), duplicates, statuses that only
 * go up, a failing store that changes nothing, the SERVER_ACK of a send, and the logout wipe. The fixture
 * and the stub table are lifecycle_test.c's (lc_testlib.h, lc_stubs.c). */
#include "lifecycle.h"
#include "lifecycle_int.h"
#include "app.h"
#include "conn_state.h"
#include "db.h"
#include "registry.h"
#include "webhook.h"
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
#include "lm_testlib.h"

/* ---- tests ---- */

/* SignalLoad: one record per key in order, found or not; a prekey sealed by the StoreBatch path comes back
 * opened; a sealed blob moved to another prekey id fails its tag and the load fails as a whole. */
static void
test_signal_load(void **state)
{
	struct workers_prekey pk = { 7, (const unsigned char *)"PREKEY-SEVEN", 12 };
	struct workers_store b;
	struct workers_sig_key keys[6] = {
		{ WORKERS_SIG_SESSION, "a:1", "", 0 },
		{ WORKERS_SIG_SESSION, "zz:1", "", 0 },
		{ WORKERS_SIG_IDENTITY, "b:1", "", 0 },
		{ WORKERS_SIG_PREKEY, "", "", 7 },
		{ WORKERS_SIG_PREKEY, "", "", 8 },
		{ WORKERS_SIG_SENDER_KEY, "c:1", "120363@g.us", 0 },
	};
	struct workers_sig_key moved = { WORKERS_SIG_PREKEY, "", "", 9 };
	int n = LC.nreply, s;

	(void)state;
	LC.cfg.creds_key.set = 1;
	memset(LC.cfg.creds_key.key, 0x42, sizeof(LC.cfg.creds_key.key));
	memset(&b, 0, sizeof(b));
	b.prekeys = &pk;
	b.nprekeys = 1;
	lifecycle_on_store(&LC.app, IID, 1, &b);
	assert_true(lct_run_until(&LC.nreply, n + 1, 10000));
	lct_drain();
	assert_int_equal(LC.reply_ok[n % 32], 1);
	/* stored sealed, not in clear */
	assert_val("WGS", "SELECT convert_from(substr(record, 1, 3), 'SQL_ASCII') FROM signal_prekey WHERE key_id = 7");
	lct_sql("INSERT INTO signal_session VALUES ('" IID "', 'a:1', 'sess-a')");
	lct_sql("INSERT INTO signal_identity VALUES ('" IID "', 'b:1', 'idkey-b')");
	lct_sql("INSERT INTO signal_sender_key VALUES ('" IID "', '120363@g.us', 'c:1', 'skey-c')");
	lct_sql("INSERT INTO signal_sender_key VALUES ('" IID "', '120363@g.us', 'other:1', 'skey-other')");

	s = LC.nsig;
	lifecycle_on_signal_load(&LC.app, IID, 2, keys, 6);
	assert_true(lct_run_until(&LC.nsig, s + 1, 10000));
	assert_int_equal(LC.sig_ok, 1);
	assert_int_equal(LC.sig_n, 6);
	assert_int_equal(LC.sig[0].found, 1);
	assert_string_equal(LC.sig[0].data, "sess-a");
	assert_int_equal(LC.sig[1].found, 0);
	assert_int_equal(LC.sig[2].found, 1);
	assert_string_equal(LC.sig[2].data, "idkey-b");
	assert_int_equal(LC.sig[3].found, 1);
	assert_int_equal(LC.sig[3].prekey_id, 7);
	assert_int_equal(LC.sig[3].len, 12);
	assert_string_equal(LC.sig[3].data, "PREKEY-SEVEN");
	assert_int_equal(LC.sig[4].found, 0);
	assert_int_equal(LC.sig[5].kind, WORKERS_SIG_SENDER_KEY);
	assert_string_equal(LC.sig[5].data, "skey-c");

	/* a blob copied to another id: its AAD names prekey 7, so it does not open as 9 */
	lct_sql("INSERT INTO signal_prekey (instance_id, key_id, record) SELECT instance_id, 9, record FROM signal_prekey"
	    " WHERE key_id = 7");
	s = LC.nsig;
	lifecycle_on_signal_load(&LC.app, IID, 3, &moved, 1);
	assert_true(lct_run_until(&LC.nsig, s + 1, 10000));
	assert_int_equal(LC.sig_ok, 0);
	assert_non_null(strstr(LC.sig_err, "prekey 9"));

	/* no keys: an empty answer */
	s = LC.nsig;
	lifecycle_on_signal_load(&LC.app, IID, 4, NULL, 0);
	assert_true(lct_run_until(&LC.nsig, s + 1, 10000));
	assert_int_equal(LC.sig_ok, 1);
	assert_int_equal(LC.sig_n, 0);
	lct_sql("DELETE FROM signal_prekey WHERE key_id = 9");
	LC.cfg.creds_key.set = 0;
}

/* SignalLoad runs on its generic plan, which looks each key up by its table's primary key. Planned as joins, the
 * generic plan read every session of the instance, and PostgreSQL planned the load at every run instead (0.9 ms
 * each at 50 pairs in bench/messages.sh). 3,000 stored sessions, analyzed; ten loads of a session that is there,
 * one that is not and an absent identity. */
static void
test_signal_load_generic_plan(void **state)
{
	struct workers_sig_key keys[3] = {
		{ WORKERS_SIG_SESSION, "", "", 0 },
		{ WORKERS_SIG_SESSION, "absent:1", "", 0 },
		{ WORKERS_SIG_IDENTITY, "absent:1", "", 0 },
	};
	char addr[16], want[16];
	long generic, custom;
	int i, s;

	(void)state;
	lct_sql("INSERT INTO signal_session SELECT '" IID "', 'many' || g || ':1', convert_to('rec' || g, 'UTF8')"
	    " FROM generate_series(1, 3000) g");
	lct_sql("ANALYZE signal_session");
	for (i = 0; i < 10; i++) {
		snprintf(addr, sizeof(addr), "many%d:1", 100 + 7 * i);
		snprintf(want, sizeof(want), "rec%d", 100 + 7 * i);
		keys[0].address = addr;
		s = LC.nsig;
		lifecycle_on_signal_load(&LC.app, IID, 50 + (uint64_t)i, keys, 3);
		assert_true(lct_run_until(&LC.nsig, s + 1, 10000));
		assert_int_equal(LC.sig_ok, 1);
		assert_int_equal(LC.sig_n, 3);
		assert_int_equal(LC.sig[0].found, 1);
		assert_string_equal(LC.sig[0].data, want);
		assert_int_equal(LC.sig[1].found, 0);
		assert_int_equal(LC.sig[2].found, 0);
	}
	lct_settle();
	prepared_plans("SELECT CASE k.kind", &generic, &custom);
	if (custom > 5 || generic < 1)
		fail_msg("SignalLoad: %ld generic and %ld custom plans", generic, custom);
	lct_sql("DELETE FROM signal_session WHERE address LIKE 'many%'");
}

/* With a creds key, sessions and sender keys from a MessageStore are stored sealed for their rows and a
 * SignalLoad opens them; a sealed record moved to another address does not open. */
static void
test_signal_sealed(void **state)
{
	struct workers_sig_change ch[2];
	struct workers_msg_store m;
	struct workers_sig_key keys[2] = {
		{ WORKERS_SIG_SESSION, "s:1", "", 0 },
		{ WORKERS_SIG_SENDER_KEY, "s:1", "120363@g.us", 0 },
	};
	struct workers_sig_key moved = { WORKERS_SIG_SESSION, "t:1", "", 0 };
	int n;

	(void)state;
	LC.cfg.creds_key.set = 1;
	memset(LC.cfg.creds_key.key, 0x42, sizeof(LC.cfg.creds_key.key));
	memset(ch, 0, sizeof(ch));
	ch[0].key.kind = WORKERS_SIG_SESSION;
	ch[0].key.address = "s:1";
	ch[0].key.group = "";
	ch[0].data = (const unsigned char *)"SESSION-S1";
	ch[0].len = 10;
	ch[1].key.kind = WORKERS_SIG_SENDER_KEY;
	ch[1].key.address = "s:1";
	ch[1].key.group = "120363@g.us";
	ch[1].data = (const unsigned char *)"SKEY-S1";
	ch[1].len = 7;
	memset(&m, 0, sizeof(m));
	m.changes = ch;
	m.nchanges = 2;
	assert_int_equal(store(&m, 5), 1);
	assert_val("WGS|WGS", "SELECT concat_ws('|', (SELECT convert_from(substr(record, 1, 3), 'SQL_ASCII') FROM"
	    " signal_session WHERE address = 's:1'), (SELECT convert_from(substr(record, 1, 3), 'SQL_ASCII') FROM"
	    " signal_sender_key WHERE sender = 's:1'))");
	n = LC.nsig;
	lifecycle_on_signal_load(&LC.app, IID, 6, keys, 2);
	assert_true(lct_run_until(&LC.nsig, n + 1, 10000));
	assert_int_equal(LC.sig_ok, 1);
	assert_string_equal(LC.sig[0].data, "SESSION-S1");
	assert_string_equal(LC.sig[1].data, "SKEY-S1");
	lct_sql("INSERT INTO signal_session (instance_id, address, record) SELECT instance_id, 't:1', record"
	    " FROM signal_session WHERE address = 's:1'");
	n = LC.nsig;
	lifecycle_on_signal_load(&LC.app, IID, 7, &moved, 1);
	assert_true(lct_run_until(&LC.nsig, n + 1, 10000));
	assert_int_equal(LC.sig_ok, 0);
	assert_non_null(strstr(LC.sig_err, "session t:1"));
	lct_sql("DELETE FROM signal_session WHERE address IN ('s:1', 't:1')");
	lct_sql("DELETE FROM signal_sender_key WHERE sender = 's:1'");
	LC.cfg.creds_key.set = 0;
}

/* A run of session writes is one statement (lifecycle_msg_sig.c): sealed, the last record of an address twice
 * in the run wins, and a delete after the run still deletes. */
static void
test_sessions_batched(void **state)
{
	static const char *const addr[6] = { "b:1", "b:2", "b:1", "d:2", "b:3", "b:2" };
	static const char *const data[6] = { "OLD", "TWO", "NEW", "IDK", "THREE", "" };
	struct workers_sig_change ch[6];
	struct workers_msg_store m;
	struct workers_sig_key keys[3] = {
		{ WORKERS_SIG_SESSION, "b:1", "", 0 },
		{ WORKERS_SIG_SESSION, "b:2", "", 0 },
		{ WORKERS_SIG_SESSION, "b:3", "", 0 },
	};
	int i, n;

	(void)state;
	LC.cfg.creds_key.set = 1;
	memset(LC.cfg.creds_key.key, 0x42, sizeof(LC.cfg.creds_key.key));
	memset(ch, 0, sizeof(ch));
	for (i = 0; i < 6; i++) {
		ch[i].key.kind = i == 3 ? WORKERS_SIG_IDENTITY : WORKERS_SIG_SESSION;
		ch[i].key.address = addr[i];
		ch[i].key.group = "";
		ch[i].data = (const unsigned char *)data[i];
		ch[i].len = strlen(data[i]);
	}
	ch[5].deleted = 1;
	memset(&m, 0, sizeof(m));
	m.changes = ch;
	m.nchanges = 6;
	assert_int_equal(store(&m, 8), 1);
	assert_val("b:1,b:3|WGS", "SELECT concat_ws('|', string_agg(address, ',' ORDER BY address),"
	    " min(convert_from(substr(record, 1, 3), 'SQL_ASCII'))) FROM signal_session WHERE address LIKE 'b:%%'");
	assert_val("IDK", "SELECT convert_from(identity_key, 'UTF8') FROM signal_identity WHERE address = 'd:2'");
	n = LC.nsig;
	lifecycle_on_signal_load(&LC.app, IID, 9, keys, 3);
	assert_true(lct_run_until(&LC.nsig, n + 1, 10000));
	assert_int_equal(LC.sig_ok, 1);
	assert_true(LC.sig[0].found && !LC.sig[1].found && LC.sig[2].found);
	assert_string_equal(LC.sig[0].data, "NEW");
	assert_string_equal(LC.sig[2].data, "THREE");
	lct_sql("DELETE FROM signal_session WHERE address LIKE 'b:%'");
	lct_sql("DELETE FROM signal_identity WHERE address = 'd:2'");
	LC.cfg.creds_key.set = 0;
}

/* A store with Signal changes, LIDs, three messages and a status commits all of it, with Evolution's rows and
 * webhook payloads; the same store again adds nothing. */
static void
test_store_all(void **state)
{
	struct workers_sig_change ch[4];
	struct workers_lid lid = { "123@lid", "15550001111@s.whatsapp.net" };
	struct workers_msg m[4];
	struct workers_msg_status st = { "M2", "15550002222@s.whatsapp.net", "", 1, WORKERS_MSG_SERVER_ACK, 1700000002 };
	struct workers_msg_store s;
	uint8_t *b1, *b2, *b3;
	size_t l1, l2, l3;
	int64_t msgs = lct_inst()->count_messages, chats = lct_inst()->count_chats, contacts = lct_inst()->count_contacts;

	(void)state;
	lct_sql("DELETE FROM webhook_outbox");
	memset(ch, 0, sizeof(ch));
	ch[0].key.kind = WORKERS_SIG_SESSION;
	ch[0].key.address = "a:1";
	ch[0].key.group = "";
	ch[0].data = (const unsigned char *)"sess-a2";
	ch[0].len = 7;
	ch[1].key.kind = WORKERS_SIG_IDENTITY;
	ch[1].key.address = "d:1";
	ch[1].key.group = "";
	ch[1].data = (const unsigned char *)"idk-d";
	ch[1].len = 5;
	ch[1].identity_changed = 1;
	ch[2].key.kind = WORKERS_SIG_PREKEY;
	ch[2].key.address = "";
	ch[2].key.group = "";
	ch[2].key.prekey_id = 7;
	ch[2].deleted = 1;
	ch[3].key.kind = WORKERS_SIG_SENDER_KEY;
	ch[3].key.address = "other:1";
	ch[3].key.group = "120363@g.us";
	ch[3].deleted = 1;
	b1 = pack_text("hi", &l1);
	b2 = pack_text("yo", &l2);
	b3 = pack_reply("hey @15550009999", &l3);
	m[0] = msg("M1", "15550001111@s.whatsapp.net", "", "Alice", 0, 0, 0, b1, l1);
	m[0].remote_jid_alt = "123@lid";
	m[1] = msg("M2", "15550002222@s.whatsapp.net", "", "", 1, 1, WORKERS_MSG_PENDING, b2, l2);
	m[2] = msg("M3", "120363@g.us", "15550001111@s.whatsapp.net", "Alice B", 0, 0, 0, b3, l3);
	m[2].participant_alt = "123@lid";
	m[3] = msg("M6", "15550001111@s.whatsapp.net", "", "Alice B", 0, 0, 0, b1, l1);
	m[3].timestamp = 1700000005;
	memset(&s, 0, sizeof(s));
	s.changes = ch;
	s.nchanges = 4;
	s.msgs = m;
	s.nmsgs = 4;
	s.statuses = &st;
	s.nstatuses = 1;
	s.lids = &lid;
	s.nlids = 1;
	assert_int_equal(store(&s, 10), 1);

	/* Signal rows */
	assert_val("sess-a2", "SELECT convert_from(record, 'UTF8') FROM signal_session WHERE address = 'a:1'");
	assert_val("idk-d", "SELECT convert_from(identity_key, 'UTF8') FROM signal_identity WHERE address = 'd:1'");
	assert_val("0", "SELECT count(*) FROM signal_prekey WHERE key_id = 7");
	assert_val("c:1", "SELECT string_agg(sender, ',') FROM signal_sender_key");
	assert_val("15550001111@s.whatsapp.net", "SELECT pn FROM lid_map WHERE instance_id = '" IID "' AND lid = '123@lid'");

	/* message rows in Evolution's shape */
	assert_val("t", "SELECT key = '{\"remoteJid\":\"15550001111@s.whatsapp.net\",\"fromMe\":false,\"id\":\"M1\","
	    "\"remoteJidAlt\":\"123@lid\"}'::jsonb FROM message WHERE key_id = 'M1'");
	assert_val("{\"conversation\": \"hi\"}|conversation|DELIVERY_ACK|Alice|android|1700000000",
	    "SELECT concat_ws('|', message::text, message_type, status, push_name, source, message_timestamp)"
	    " FROM message WHERE key_id = 'M1'");
	assert_val("{\"conversation\": \"yo\"}|SERVER_ACK|unknown|t|",
	    "SELECT concat_ws('|', message::text, status, source, from_me, coalesce(push_name, ''))"
	    " FROM message WHERE key_id = 'M2'");
	assert_val("t", "SELECT key = '{\"remoteJid\":\"120363@g.us\",\"fromMe\":false,\"id\":\"M3\","
	    "\"participant\":\"15550001111@s.whatsapp.net\",\"participantAlt\":\"123@lid\"}'::jsonb"
	    " FROM message WHERE key_id = 'M3'");
	assert_val("conversation|hey @15550009999|15550001111@s.whatsapp.net",
	    "SELECT concat_ws('|', message_type, message->>'conversation', participant) FROM message WHERE key_id = 'M3'");

	/* chats and their contacts (M6 renamed the peer; a group's member name is not the group's) */
	assert_val("120363@g.us,15550001111@s.whatsapp.net,15550002222@s.whatsapp.net",
	    "SELECT string_agg(remote_jid, ',' ORDER BY remote_jid) FROM chat WHERE instance_id = '" IID "'");
	assert_val("Alice B", "SELECT name FROM chat WHERE remote_jid = '15550001111@s.whatsapp.net'");
	assert_val("120363@g.us|,15550001111@s.whatsapp.net|Alice B,15550002222@s.whatsapp.net|",
	    "SELECT string_agg(remote_jid || '|' || coalesce(push_name, ''), ',' ORDER BY remote_jid) FROM contact"
	    " WHERE instance_id = '" IID "'");
	assert_int_equal(lct_inst()->count_messages, msgs + 4);
	assert_int_equal(lct_inst()->count_chats, chats + 3);
	assert_int_equal(lct_inst()->count_contacts, contacts + 3);

	/* a new chat's chats.upsert comes right after its message's messages.upsert (one statement writes both) */
	assert_val("messages.upsert,chats.upsert", "SELECT string_agg(event, ',' ORDER BY id) FROM (SELECT id, event"
	    " FROM webhook_outbox WHERE event IN ('messages.upsert', 'chats.upsert') ORDER BY id LIMIT 2) e");
	/* webhook rows: one per event, Evolution's payloads */
	assert_val("chats.upsert:3,contacts.update:1,contacts.upsert:3,messages.update:1,messages.upsert:3,"
	    "send.message:1", "SELECT string_agg(event || ':' || n, ',' ORDER BY event) FROM"
	    " (SELECT event, count(*) AS n FROM webhook_outbox GROUP BY event) e");
	assert_val("t", "SELECT body->'data' = jsonb_build_object('key', jsonb_build_object('remoteJid',"
	    " '15550001111@s.whatsapp.net', 'fromMe', false, 'id', 'M1', 'remoteJidAlt', '123@lid'), 'pushName', 'Alice',"
	    " 'status', 'DELIVERY_ACK', 'message', jsonb_build_object('conversation', 'hi'), 'messageType', 'conversation',"
	    " 'messageTimestamp', 1700000000, 'instanceId', '" IID "', 'source', 'android')"
	    " AND body->>'instance' = 'lc' AND body->>'event' = 'messages.upsert'"
	    " FROM webhook_outbox WHERE event = 'messages.upsert' AND body->'data'->'key'->>'id' = 'M1'");
	assert_val("M1|15550009999@s.whatsapp.net", "SELECT concat_ws('|', body->'data'->'contextInfo'->>'stanzaId',"
	    " body->'data'->'contextInfo'->'mentionedJid'->>0) FROM webhook_outbox"
	    " WHERE event = 'messages.upsert' AND body->'data'->'key'->>'id' = 'M3'");
	assert_val("PENDING|true|M2", "SELECT concat_ws('|', body->'data'->>'status', body->'data'->'key'->>'fromMe',"
	    " body->'data'->'key'->>'id') FROM webhook_outbox WHERE event = 'send.message'");
	assert_val("t", "SELECT body->'data' = jsonb_build_object('messageId', (SELECT id::text FROM message"
	    " WHERE key_id = 'M2'), 'keyId', 'M2', 'remoteJid', '15550002222@s.whatsapp.net', 'fromMe', true,"
	    " 'participant', '15550002222@s.whatsapp.net', 'status', 'SERVER_ACK', 'instanceId', '" IID "')"
	    " FROM webhook_outbox WHERE event = 'messages.update'");
	assert_val("t", "SELECT body->'data' = jsonb_build_array(jsonb_build_object('remoteJid',"
	    " '15550001111@s.whatsapp.net', 'instanceId', '" IID "', 'name', 'Alice', 'unreadMessages', 0))"
	    " FROM webhook_outbox WHERE event = 'chats.upsert' AND body->'data'->0->>'remoteJid' = '15550001111@s.whatsapp.net'");
	assert_val("Alice|Alice B", "SELECT concat_ws('|', (SELECT body->'data'->>'pushName' FROM webhook_outbox"
	    " WHERE event = 'contacts.upsert' AND body->'data'->>'remoteJid' = '15550001111@s.whatsapp.net'),"
	    " (SELECT body->'data'->>'pushName' FROM webhook_outbox WHERE event = 'contacts.update'))");
	assert_val("t", "SELECT body->'data' = jsonb_build_object('remoteJid', '120363@g.us', 'pushName', null,"
	    " 'profilePicUrl', null, 'instanceId', '" IID "') FROM webhook_outbox WHERE event = 'contacts.upsert'"
	    " AND body->'data'->>'remoteJid' = '120363@g.us'");

	/* a redelivery of the whole store: nothing new, no second webhook, still ok */
	assert_int_equal(store(&s, 11), 1);
	assert_val("4", "SELECT count(*) FROM message");
	assert_val("12", "SELECT count(*) FROM webhook_outbox");
	/* the older message's push name did not come back */
	assert_val("Alice B", "SELECT push_name FROM contact WHERE remote_jid = '15550001111@s.whatsapp.net'");
	assert_int_equal(lct_inst()->count_messages, msgs + 4);
	assert_int_equal(lct_inst()->count_chats, chats + 3);
	assert_int_equal(lct_inst()->count_contacts, contacts + 3);
	free(b1);
	free(b2);
	free(b3);
}

/* One incoming 1:1 text, with the LID of its sender, in a store of its own. */
static int
store_from(const char *id, const char *push, uint64_t req)
{
	struct workers_lid lid = { "444@lid", "15550004444@s.whatsapp.net" };
	struct workers_msg m;
	struct workers_msg_store s;
	size_t len;
	uint8_t *b = pack_text("k", &len);
	int ok;

	m = msg(id, "15550004444@s.whatsapp.net", "", push, 0, 0, 0, b, len);
	memset(&s, 0, sizeof(s));
	s.msgs = &m;
	s.nmsgs = 1;
	s.lids = &lid;
	s.nlids = 1;
	ok = store(&s, 20);
	free(b);
	return ok;
}

/* The known cache (known.h): a contact or LID row stored with the same value is not written again; another
 * value is; a redelivered message teaches nothing. The rows are changed behind wagate's back here only to
 * see which statements ran. */
static void
test_known_skips(void **state)
{
	(void)state;
	assert_int_equal(store_from("K1", "Carol", 20), 1);
	assert_val("Carol|15550004444@s.whatsapp.net", "SELECT concat_ws('|', (SELECT push_name FROM contact WHERE"
	    " remote_jid = '15550004444@s.whatsapp.net'), (SELECT pn FROM lid_map WHERE lid = '444@lid'))");
	lct_sql("UPDATE contact SET push_name = 'X' WHERE remote_jid = '15550004444@s.whatsapp.net'");
	lct_sql("DELETE FROM lid_map WHERE lid = '444@lid'");
	/* the same name and mapping: neither is written */
	assert_int_equal(store_from("K2", "Carol", 21), 1);
	assert_val("X|0", "SELECT concat_ws('|', (SELECT push_name FROM contact WHERE"
	    " remote_jid = '15550004444@s.whatsapp.net'), (SELECT count(*) FROM lid_map WHERE lid = '444@lid'))");
	/* another name is */
	assert_int_equal(store_from("K3", "Dave", 22), 1);
	assert_val("Dave", "SELECT push_name FROM contact WHERE remote_jid = '15550004444@s.whatsapp.net'");
	/* K1 again: a duplicate row, so its name was not written, and the cache must not think it was */
	assert_int_equal(store_from("K1", "Carol", 23), 1);
	assert_val("Dave", "SELECT push_name FROM contact WHERE remote_jid = '15550004444@s.whatsapp.net'");
	/* the chat took each new message's name, not the duplicate's, and was announced once; the duplicate queued
	 * no second messages.upsert */
	assert_val("Dave|1|1", "SELECT concat_ws('|', (SELECT name FROM chat WHERE remote_jid ="
	    " '15550004444@s.whatsapp.net'), (SELECT count(*) FROM webhook_outbox WHERE event = 'chats.upsert' AND"
	    " body->'data'->0->>'remoteJid' = '15550004444@s.whatsapp.net' AND body->'data'->0->>'name' = 'Carol'),"
	    " (SELECT count(*) FROM webhook_outbox WHERE event = 'messages.upsert' AND body->'data'->'key'->>'id' = 'K1'))");
	assert_int_equal(store_from("K4", "Carol", 24), 1);
	assert_val("Carol", "SELECT push_name FROM contact WHERE remote_jid = '15550004444@s.whatsapp.net'");
	assert_val("Carol|1", "SELECT concat_ws('|', name, (SELECT count(*) FROM webhook_outbox WHERE"
	    " event = 'chats.upsert' AND body->'data'->0->>'remoteJid' = '15550004444@s.whatsapp.net')) FROM chat"
	    " WHERE remote_jid = '15550004444@s.whatsapp.net'");
}

/* Stores queued behind a running one share a transaction (lifecycle_chain.c, LC_WRITE_MERGE), each answered
 * with its own results; one that fails in a shared transaction fails alone once they run again one by one. */
static void
test_merged_stores(void **state)
{
	static const char *const ids[2][4] = { { "MG1", "MG2", "MG3", "MG4" }, { "MH1", "MH2", "BAD", "MH4" } };
	struct workers_msg m;
	struct workers_msg_store s;
	uint8_t *b;
	size_t l;
	unsigned long merged, tx0, w0, wm0, tx1, w1, wm1;
	int64_t msgs;
	int round, i, n;

	(void)state;
	lct_sql("ALTER TABLE message ADD CONSTRAINT test_no_bad CHECK (key_id <> 'BAD')");
	b = pack_text("m", &l);
	for (round = 0; round < 2; round++) {
		msgs = lct_inst()->count_messages;
		merged = LC.app.lc->merged;
		lifecycle_write_stats(LC.app.lc, &tx0, &w0, &wm0);
		n = LC.nreply;
		for (i = 0; i < 4; i++) {
			m = msg(ids[round][i], "15550005555@s.whatsapp.net", "", "Eve", 0, 0, 0, b, l);
			memset(&s, 0, sizeof(s));
			s.msgs = &m;
			s.nmsgs = 1;
			lifecycle_on_msg_store(&LC.app, IID, (uint64_t)(50 + 4 * round + i), &s);
		}
		assert_true(lct_run_until(&LC.nreply, n + 4, 10000));
		lct_drain();
		/* the first ran alone, the three queued behind it together (and, when that failed, one by one) */
		assert_true(LC.app.lc->merged == merged + 1);
		lifecycle_write_stats(LC.app.lc, &tx1, &w1, &wm1);
		assert_int_equal(tx1 - tx0, round == 0 ? 2 : 5);
		assert_int_equal(w1 - w0, round == 0 ? 4 : 7);
		assert_int_equal(wm1 - wm0, 3);
		for (i = 0; i < 4; i++) {
			assert_int_equal(LC.reply_req[(n + i) % 32], 50 + 4 * round + i);
			assert_int_equal(LC.reply_ok[(n + i) % 32], strcmp(ids[round][i], "BAD") != 0);
		}
		/* each store counted its own row from its own results */
		assert_int_equal(lct_inst()->count_messages, msgs + (round == 0 ? 4 : 3));
	}
	assert_non_null(strstr(LC.reply_err[(n + 2) % 32], "test_no_bad"));
	assert_val("MG1,MG2,MG3,MG4,MH1,MH2,MH4", "SELECT string_agg(key_id, ',' ORDER BY key_id) FROM message"
	    " WHERE remote_jid = '15550005555@s.whatsapp.net'");
	assert_val("7", "SELECT count(*) FROM webhook_outbox WHERE event = 'messages.upsert'"
	    " AND body->'data'->'key'->>'remoteJid' = '15550005555@s.whatsapp.net'");
	lct_sql("ALTER TABLE message DROP CONSTRAINT test_no_bad");
	free(b);
}

/* A status only moves up; ERROR only from PENDING; each move one messages.update. The SERVER_ACK of a send
 * (lifecycle_msg_sent) goes the same way. */
static void
test_status_up(void **state)
{
	struct workers_msg m;
	struct workers_msg_store s;
	uint8_t *b;
	size_t l;

	(void)state;
	lct_sql("DELETE FROM webhook_outbox");
	assert_int_equal(store_status("M2", WORKERS_MSG_READ, 20), 1);
	assert_val("READ", "SELECT status FROM message WHERE key_id = 'M2'");
	assert_int_equal(store_status("M2", WORKERS_MSG_DELIVERY_ACK, 21), 1);
	assert_int_equal(store_status("M2", WORKERS_MSG_ERROR, 22), 1);
	assert_int_equal(store_status("M2", WORKERS_MSG_PENDING, 23), 1);
	assert_val("READ", "SELECT status FROM message WHERE key_id = 'M2'");
	assert_int_equal(store_status("M2", WORKERS_MSG_PLAYED, 24), 1);
	assert_val("PLAYED", "SELECT status FROM message WHERE key_id = 'M2'");
	assert_val("READ,PLAYED", "SELECT string_agg(body->'data'->>'status', ',' ORDER BY id) FROM webhook_outbox"
	    " WHERE event = 'messages.update'");
	/* unknown id: nothing, still ok */
	assert_int_equal(store_status("NOPE", WORKERS_MSG_READ, 25), 1);
	assert_val("2", "SELECT count(*) FROM webhook_outbox");

	/* ERROR from PENDING, then nothing moves it */
	b = pack_text("fails", &l);
	m = msg("M4", "15550002222@s.whatsapp.net", "", "", 1, 1, WORKERS_MSG_PENDING, b, l);
	memset(&s, 0, sizeof(s));
	s.msgs = &m;
	s.nmsgs = 1;
	assert_int_equal(store(&s, 26), 1);
	assert_int_equal(store_status("M4", WORKERS_MSG_ERROR, 27), 1);
	assert_int_equal(store_status("M4", WORKERS_MSG_SERVER_ACK, 28), 1);
	assert_val("ERROR", "SELECT status FROM message WHERE key_id = 'M4'");

	/* a send's SERVER_ACK */
	m.id = "M5";
	assert_int_equal(store(&s, 29), 1);
	lifecycle_msg_sent(&LC.app, IID, "M5", WORKERS_MSG_SERVER_ACK);
	lct_drain();
	assert_val("SERVER_ACK", "SELECT status FROM message WHERE key_id = 'M5'");
	assert_val("SERVER_ACK|M5", "SELECT concat_ws('|', body->'data'->>'status', body->'data'->>'keyId')"
	    " FROM webhook_outbox WHERE event = 'messages.update' AND body->'data'->>'keyId' = 'M5'");
	free(b);
}

/* A store that fails in the database changes nothing and answers ok=0; a change the contract forbids is
 * refused before the database. */
static void
test_store_fails(void **state)
{
	struct workers_sig_change ch;
	struct workers_msg m[2];
	struct workers_msg_store s;
	uint8_t *b;
	size_t l;
	int n;

	(void)state;
	lct_sql("DELETE FROM webhook_outbox");
	/* a test-only constraint: the second message violates it */
	lct_sql("ALTER TABLE message ADD CONSTRAINT test_no_bad CHECK (key_id <> 'BAD')");
	memset(&ch, 0, sizeof(ch));
	ch.key.kind = WORKERS_SIG_SESSION;
	ch.key.address = "f:1";
	ch.key.group = "";
	ch.data = (const unsigned char *)"sess-f";
	ch.len = 6;
	b = pack_text("x", &l);
	m[0] = msg("OK1", "15550003333@s.whatsapp.net", "", "Carol", 0, 0, 0, b, l);
	m[1] = msg("BAD", "15550003333@s.whatsapp.net", "", "Carol", 0, 0, 0, b, l);
	memset(&s, 0, sizeof(s));
	s.changes = &ch;
	s.nchanges = 1;
	s.msgs = m;
	s.nmsgs = 2;
	n = LC.nreply;
	assert_int_equal(store(&s, 30), 0);
	assert_non_null(strstr(LC.reply_err[n % 32], "test_no_bad"));
	assert_val("0", "SELECT (SELECT count(*) FROM signal_session WHERE address = 'f:1') +"
	    " (SELECT count(*) FROM message WHERE key_id IN ('OK1', 'BAD')) +"
	    " (SELECT count(*) FROM contact WHERE remote_jid = '15550003333@s.whatsapp.net') +"
	    " (SELECT count(*) FROM chat WHERE remote_jid = '15550003333@s.whatsapp.net') +"
	    " (SELECT count(*) FROM webhook_outbox)");
	lct_sql("ALTER TABLE message DROP CONSTRAINT test_no_bad");

	/* a prekey upsert is not a MessageStore's to make */
	ch.key.kind = WORKERS_SIG_PREKEY;
	ch.key.prekey_id = 11;
	s.nmsgs = 0;
	n = LC.nreply;
	assert_int_equal(store(&s, 31), 0);
	assert_non_null(strstr(LC.reply_err[n % 32], "only deletes"));
	assert_val("0", "SELECT count(*) FROM signal_prekey WHERE key_id = 11");
	free(b);
}

/* forget_users deletes every session and identity of the user (PN or LID names, any device) and nothing of a
 * user whose name merely starts alike; a change of the same store (a new session) survives it. */
static void
test_forget_users(void **state)
{
	const char *const bad[1] = { "555%@s.whatsapp.net" }, *const users[2] = { "555@s.whatsapp.net", "777@lid" };
	struct workers_sig_change ch = { { WORKERS_SIG_SESSION, "555:1", "", 0 }, 0, (const unsigned char *)"fresh", 5,
	    0 };
	struct workers_msg_store s = { .forget_users = bad, .nforget_users = 1 };

	(void)state;
	lct_sql("INSERT INTO signal_session VALUES ('" IID "', '555:0', 's'), ('" IID "', '555:12', 's'),"
	    " ('" IID "', '5555:0', 'keep'), ('" IID "', '555_1:0', 'keep'), ('" IID "', '777_1:3', 's'),"
	    " ('" IID "', '777:3', 'keep'), ('" IID "', '55:0', 'keep')");
	lct_sql("INSERT INTO signal_identity VALUES ('" IID "', '555:0', 'i'), ('" IID "', '555:12', 'i'),"
	    " ('" IID "', '5550:0', 'keep'), ('" IID "', '777_1:3', 'i'), ('" IID "', '777_10:3', 'keep')");
	/* a user JID the worker table would have refused: refused here too, nothing deleted */
	assert_int_equal(store(&s, 35), 0);
	assert_val("12", "SELECT (SELECT count(*) FROM signal_session WHERE address ~ '^[0-9]') +"
	    " (SELECT count(*) FROM signal_identity WHERE address ~ '^[0-9]')");
	s.changes = &ch;
	s.nchanges = 1;
	s.forget_users = users;
	s.nforget_users = 2;
	assert_int_equal(store(&s, 36), 1);
	assert_val("5555:0=keep 555:1=fresh 555_1:0=keep 55:0=keep 777:3=keep", "SELECT string_agg(address || '=' ||"
	    " convert_from(record, 'SQL_ASCII'), ' ' ORDER BY address COLLATE \"C\") FROM signal_session"
	    " WHERE address ~ '^[0-9]'");
	assert_val("5550:0 777_10:3", "SELECT string_agg(address, ' ' ORDER BY address COLLATE \"C\")"
	    " FROM signal_identity WHERE address ~ '^[0-9]'");
	lct_sql("DELETE FROM signal_session WHERE address ~ '^[0-9]'; DELETE FROM signal_identity WHERE address ~ '^[0-9]'");
}

/* The database away: a MessageStore and a SignalLoad fail at once ("database unavailable", nothing stored:
 * WhatsApp redelivers what the worker could not ack), while the SERVER_ACK of a send waits for the database
 * and is written once it is back. */
static void
test_outage(void **state)
{
	struct db *live = LC.app.db, *dead;
	struct workers_sig_key key = { WORKERS_SIG_SESSION, "a:1", "", 0 };
	unsigned long merged;
	struct workers_msg m;
	struct workers_msg_store s;
	uint8_t *b;
	size_t l;
	int n, k;

	(void)state;
	lct_drain();
	lct_sql("DELETE FROM webhook_outbox");
	dead = db_new(LC.app.base, "postgresql://postgres@127.0.0.1:1/none?connect_timeout=2", 1);
	lct_run_for(300);
	LC.app.db = dead;
	b = pack_text("lost", &l);
	m = msg("OUT1", "15550004444@s.whatsapp.net", "", "Dan", 0, 0, 0, b, l);
	memset(&s, 0, sizeof(s));
	s.msgs = &m;
	s.nmsgs = 1;
	n = LC.nreply;
	lifecycle_on_msg_store(&LC.app, IID, 40, &s);
	assert_true(lct_run_until(&LC.nreply, n + 1, 10000));
	assert_int_equal(LC.reply_ok[n % 32], 0);
	assert_string_equal(LC.reply_err[n % 32], "database unavailable");
	k = LC.nsig;
	lifecycle_on_signal_load(&LC.app, IID, 41, &key, 1);
	assert_true(lct_run_until(&LC.nsig, k + 1, 10000));
	assert_int_equal(LC.sig_ok, 0);
	/* a status (RETRY) and a store (ONCE) queued behind a store share a transaction: both stores fail, the
	 * status waits for the database */
	merged = LC.app.lc->merged;
	n = LC.nreply;
	m.id = "OUT2";
	lifecycle_on_msg_store(&LC.app, IID, 42, &s);
	lifecycle_msg_sent(&LC.app, IID, "M5", WORKERS_MSG_DELIVERY_ACK);
	m.id = "OUT3";
	lifecycle_on_msg_store(&LC.app, IID, 43, &s);
	assert_true(lct_run_until(&LC.nreply, n + 2, 10000));
	assert_true(LC.app.lc->merged == merged + 1);
	for (k = 0; k < 2; k++) {
		assert_int_equal(LC.reply_req[(n + k) % 32], 42 + k);
		assert_int_equal(LC.reply_ok[(n + k) % 32], 0);
		assert_string_equal(LC.reply_err[(n + k) % 32], "database unavailable");
	}
	lct_run_for(300);
	assert_int_equal(lifecycle_writes_pending(LC.app.lc), 1);
	LC.app.db = live;
	lct_drain();
	assert_int_equal(lifecycle_writes_pending(LC.app.lc), 0);
	assert_val("DELIVERY_ACK", "SELECT status FROM message WHERE key_id = 'M5'");
	assert_val("0", "SELECT count(*) FROM message WHERE key_id IN ('OUT1', 'OUT2', 'OUT3')");
	assert_val("1", "SELECT count(*) FROM webhook_outbox");
	db_free(dead);
	free(b);
}

/* A logout from the phone voids the keys: every Signal table and the LID map of the instance. */
static void
test_logout_wipes(void **state)
{
	(void)state;
	lct_sql("INSERT INTO lid_map (instance_id, lid, pn) VALUES ('" IID "', '999@lid', '1999@s.whatsapp.net')"
	    " ON CONFLICT DO NOTHING");
	lct_sql("INSERT INTO signal_sender_key VALUES ('" IID "', 'g2@g.us', 'x:1', 'k') ON CONFLICT DO NOTHING");
	lct_sql("INSERT INTO signal_prekey (instance_id, key_id, record) VALUES ('" IID "', 12, 'r')");
	assert_val("f", "SELECT (SELECT count(*) FROM lid_map) = 0 OR (SELECT count(*) FROM signal_session) = 0");
	lifecycle_on_state(&LC.app, IID, CONN_CLOSE, REASON_LOGGED_OUT, "device_removed", NULL);
	lct_drain();
	assert_val("0", "SELECT (SELECT count(*) FROM auth_creds) + (SELECT count(*) FROM signal_prekey) +"
	    " (SELECT count(*) FROM signal_session) + (SELECT count(*) FROM signal_identity) +"
	    " (SELECT count(*) FROM signal_sender_key) + (SELECT count(*) FROM lid_map)");
	/* messages, chats and contacts stay: they are the account's history, not its keys */
	assert_val("t", "SELECT count(*) > 0 FROM message");
	/* the known cache forgot the wiped mapping (test_known_skips taught it 444@lid) */
	assert_int_equal(store_from("K5", "Carol", 30), 1);
	assert_val("15550004444@s.whatsapp.net", "SELECT pn FROM lid_map WHERE lid = '444@lid'");
}

/* ---- set-up ---- */

static int
setup(void **state)
{
	(void)state;
	return lct_setup("lifecycle_msg_test", "lc", 0);
}

/* A young message table is analyzed by wagate when its rows reach the next threshold (lc_analyze_young):
 * without it, the first generic plans stay made on a table with no statistics. */
static void
test_analyze_young(void **state)
{
	struct lifecycle *lc = LC.app.lc;
	struct workers_msg_store s;
	struct workers_msg *ms;
	char (*ids)[24];
	size_t len;
	uint8_t *b = pack_text("many", &len);
	int64_t n, i, target;
	long long deadline;
	char *v;

	(void)state;
	assert_true(lc->analyze_at > 0);
	target = lc->analyze_at;
	n = target - lc->messages;
	assert_true(n > 0 && n <= 256);
	ms = xcalloc((size_t)n, sizeof(*ms));
	ids = xcalloc((size_t)n, sizeof(*ids));
	for (i = 0; i < n; i++) {
		snprintf(ids[i], sizeof(ids[i]), "AN%lld", (long long)i);
		ms[i] = msg(ids[i], "15550003333@s.whatsapp.net", "", "", 0, 0, 0, b, len);
	}
	v = lct_val("SELECT reltuples::bigint FROM pg_class WHERE relname = 'message'");
	assert_true(strtoll(v, NULL, 10) < target);
	free(v);
	memset(&s, 0, sizeof(s));
	s.msgs = ms;
	s.nmsgs = (size_t)n;
	assert_int_equal(store(&s, 50), 1);
	assert_true(lc->messages >= target);
	assert_int_equal(lc->analyze_at, target * 2);
	/* ANALYZE writes pg_class at its commit: wait for it, not for a time */
	deadline = lct_now_ms() + 10000;
	for (;;) {
		v = lct_val("SELECT reltuples::bigint FROM pg_class WHERE relname = 'message'");
		if (strtoll(v, NULL, 10) >= target)
			break;
		free(v);
		if (lct_now_ms() > deadline)
			fail_msg("message was not analyzed");
		lct_run_for(20);
	}
	free(v);
	free(ms);
	free(ids);
	free(b);
}

static void
webhook_set_cb(void *arg, const struct db_result *r)
{
	*(int *)arg = r->err == NULL ? 1 : 2;
}

/* /webhook/set through lifecycle; waits for the COMMIT. */
static void
set_webhook(int enabled, const char *url, const char *headers, int by_events, const char *events)
{
	struct lifecycle_webhook wh = { enabled, by_events, 0, url, headers, events };
	int done = 0;

	assert_int_equal(lifecycle_webhook_set(&LC.app, lct_inst(), &wh, webhook_set_cb, &done), 0);
	assert_true(lct_run_until(&done, 1, 10000));
	lct_drain();
}

/* The message path's events go where the instance's webhook, as /webhook/set last committed it, says (its
 * URL with byEvents, its headers, its events filter, enabled), beside the global one; the row is what the
 * registry holds (lifecycle_test test_load: and what a start-up loads). */
static void
test_instance_webhook(void **state)
{
	struct workers_msg m;
	struct workers_msg_store s;
	size_t len;
	uint8_t *b = pack_text("to the hook", &len);

	(void)state;
	lct_sql("DELETE FROM webhook_outbox");
	set_webhook(1, "http://127.0.0.1:9/own", "{\"X-A\": \"1\"}", 1, "{MESSAGES_UPSERT}");
	assert_non_null(lct_inst()->webhook);
	m = msg("W1", "15550007777@s.whatsapp.net", "", "Wes", 0, 0, 0, b, len);
	memset(&s, 0, sizeof(s));
	s.msgs = &m;
	s.nmsgs = 1;
	assert_int_equal(store(&s, 40), 1);
	/* messages.upsert twice (own + global); chats.upsert and contacts.upsert only global */
	assert_val("chats.upsert:1,contacts.upsert:1,messages.upsert:2",
	    "SELECT string_agg(event || ':' || n, ',' ORDER BY event) FROM"
	    " (SELECT event, count(*) AS n FROM webhook_outbox GROUP BY event) e");
	assert_val("1", "SELECT count(*) FROM webhook_outbox WHERE url = 'http://127.0.0.1:9/own/messages-upsert'"
	    " AND headers = '{\"X-A\": \"1\"}' AND body->>'destination' = 'http://127.0.0.1:9/own'"
	    " AND body->'data'->'key'->>'id' = 'W1'");
	assert_val("4", "SELECT count(*) FROM webhook_outbox WHERE body->>'destination' = 'http://127.0.0.1:9/own'");
	/* disabled: only the global rows, destination still names it */
	lct_sql("DELETE FROM webhook_outbox");
	set_webhook(0, "http://127.0.0.1:9/own", NULL, -1, "{}");
	assert_int_equal(lct_inst()->webhook->enabled, 0);
	m.id = "W2";
	assert_int_equal(store(&s, 41), 1);
	assert_val("1", "SELECT count(*) FROM webhook_outbox WHERE body->>'destination' = 'http://127.0.0.1:9/own'"
	    " AND url LIKE 'http://127.0.0.1:9/hook%%'");
	/* the headers kept by the upsert (NULL = keep) are what the registry holds too */
	assert_string_equal(lct_inst()->webhook->headers, "{\"X-A\":\"1\"}");
	/* back to no instance webhook for the tests after this one */
	set_webhook(0, "", NULL, 0, "{}");
	lct_sql("DELETE FROM webhook_outbox");
	free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signal_load),
		cmocka_unit_test(test_signal_load_generic_plan),
		cmocka_unit_test(test_signal_sealed),
		cmocka_unit_test(test_sessions_batched),
		cmocka_unit_test(test_store_all),
		cmocka_unit_test(test_known_skips),
		cmocka_unit_test(test_merged_stores),
		cmocka_unit_test(test_status_up),
		cmocka_unit_test(test_store_fails),
		cmocka_unit_test(test_forget_users),
		cmocka_unit_test(test_outage),
		cmocka_unit_test(test_instance_webhook),
		cmocka_unit_test(test_analyze_young),
		cmocka_unit_test(test_logout_wipes),	/* last: the keys are gone afterwards */
	};

	return cmocka_run_group_tests(tests, setup, lct_teardown);
}
