/* lifecycle_msg.c's statements that write many rows at once, against a real PostgreSQL (lc_testlib.h): the
 * statuses of a store in one UPDATE (a key id that comes twice in the next), the SERVER_ACKs of one loop turn
 * in one statement without overtaking what the instance queued between them, a store's live messages and
 * their chats in one statement per run of one event, and one event per row written, in the order the worker
 * gave. */
#include "lifecycle.h"
#include "lifecycle_int.h"
#include "app.h"
#include "db.h"
#include "registry.h"
#include "workers.h"
#include "xmalloc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lc_testlib.h"
#include "lm_testlib.h"

#define PEER	"15550002222@s.whatsapp.net"

/* Own messages ids[0..n-1] to PEER, stored PENDING. */
static void
store_pending(const char *const *ids, size_t n, uint64_t req)
{
	struct workers_msg m[8];
	struct workers_msg_store s;
	uint8_t *b;
	size_t l, i;

	assert_true(n <= 8);
	b = pack_text("out", &l);
	for (i = 0; i < n; i++)
		m[i] = msg(ids[i], PEER, "", "", 1, 1, WORKERS_MSG_PENDING, b, l);
	memset(&s, 0, sizeof(s));
	s.msgs = m;
	s.nmsgs = n;
	assert_int_equal(store(&s, req), 1);
	free(b);
}

/* The messages.update events queued, in order: "keyId:status,...". */
#define UPDATES "SELECT string_agg(concat(body->'data'->>'keyId', ':', body->'data'->>'status'), ',' ORDER BY id)" \
	" FROM webhook_outbox WHERE event = 'messages.update'"

/* One store's statuses: each key id's first status in one statement, its second in the next; statuses that do
 * not move a row (down, unknown id, unknown status) change nothing and post nothing. */
static void
test_statuses_rounds(void **state)
{
	const char *ids[2] = { "SA", "SB" };
	struct workers_msg_status st[6] = {
		{ "SA", PEER, "", 1, WORKERS_MSG_DELIVERY_ACK, 1700000001 },
		{ "SB", PEER, "", 1, WORKERS_MSG_DELIVERY_ACK, 1700000001 },
		{ "SA", PEER, "", 1, WORKERS_MSG_READ, 1700000002 },
		{ "NOPE", PEER, "", 1, WORKERS_MSG_READ, 1700000002 },
		{ "SB", PEER, "", 1, WORKERS_MSG_PENDING, 1700000002 },
		{ "SA", PEER, "", 1, 99, 1700000003 },
	};
	struct workers_msg_store s;

	(void)state;
	store_pending(ids, 2, 1);
	lct_sql("DELETE FROM webhook_outbox");
	memset(&s, 0, sizeof(s));
	s.statuses = st;
	s.nstatuses = 6;
	assert_int_equal(store(&s, 2), 1);
	assert_val("READ", "SELECT status FROM message WHERE key_id = 'SA'");
	assert_val("DELIVERY_ACK", "SELECT status FROM message WHERE key_id = 'SB'");
	assert_val("SA:DELIVERY_ACK,SB:DELIVERY_ACK,SA:READ", UPDATES);
	/* Evolution's messages.update data: the row's values */
	assert_val("t", "SELECT bool_and(body->'data'->>'messageId' = m.id::text AND body->'data'->>'remoteJid' = '"
	    PEER "' AND body->'data'->>'participant' = '" PEER "' AND (body->'data'->>'fromMe')::boolean"
	    " AND body->'data'->>'instanceId' = '" IID "' AND body->>'event' = 'messages.update')"
	    " FROM webhook_outbox o JOIN message m ON m.key_id = o.body->'data'->>'keyId'");
}

/* The status UPDATE runs on its generic plan once PostgreSQL has made five custom ones, even when every store
 * holds a single status (as at 50 pairs in bench/messages.sh): with the arrays' lengths in sight, each custom
 * plan looked cheaper and the statement was planned at every run. The counts are the pool connection's own
 * (pg_prepared_statements): with the pool idle, db_pump gives every job to the first connection. */
static void
test_statuses_generic_plan(void **state)
{
	const char *ids[8] = { "GP1", "GP2", "GP3", "GP4", "GP5", "GP6", "GP7", "GP8" };
	long generic, custom;
	size_t i;

	(void)state;
	/* A message table with some history, as in the benchmark: on a near-empty one the generic plan cost little
	 * enough to win anyway. */
	lct_sql("INSERT INTO message (instance_id, key_id, remote_jid, from_me, message_type, key, message,"
	    " message_timestamp, status) SELECT '" IID "', 'OLD' || g, '" PEER "', true, 'conversation', '{}', '{}',"
	    " 1700000000, 'READ' FROM generate_series(1, 20000) g");
	lct_sql("ANALYZE message");
	store_pending(ids, 8, 20);
	for (i = 0; i < 8; i++)
		assert_int_equal(store_status(ids[i], WORKERS_MSG_DELIVERY_ACK, 22 + i), 1);
	for (i = 0; i < 4; i++)
		assert_int_equal(store_status(ids[i], WORKERS_MSG_READ, 30 + i), 1);
	lct_settle();
	prepared_plans("upd AS (UPDATE message m SET status", &generic, &custom);
	if (custom > 5 || generic < 1)
		fail_msg("status UPDATE: %ld generic and %ld custom plans", generic, custom);
	assert_val("READ", "SELECT status FROM message WHERE key_id = 'GP1'");
	assert_val("DELIVERY_ACK", "SELECT status FROM message WHERE key_id = 'GP8'");
	lct_sql("DELETE FROM message WHERE key_id LIKE 'OLD%'");
}

/* A sent text's status change stays on its row's page (migration 0007, fillfactor 80): a HOT update, with no new
 * entry in message's four indexes. The rows are stored first, filling their pages as a busy instance does, and
 * acked while another transaction's snapshot keeps the pages from being pruned, as concurrent work does under
 * load. Measured here: 27 of 96 versions stay with fillfactor 80, 1 with the default of 100. */
static void
test_statuses_stay_on_page(void **state)
{
	struct workers_msg m[8];
	struct workers_msg_store s;
	char ids[96][8], text[301];
	uint8_t *b;
	size_t l, i, k;

	(void)state;
	memset(text, 'w', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	b = pack_text(text, &l);
	for (i = 0; i < 96; i += 8) {
		for (k = 0; k < 8; k++) {
			snprintf(ids[i + k], sizeof(ids[i + k]), "FF%zu", i + k);
			m[k] = msg(ids[i + k], PEER, "", "", 1, 1, WORKERS_MSG_PENDING, b, l);
		}
		memset(&s, 0, sizeof(s));
		s.msgs = m;
		s.nmsgs = 8;
		assert_int_equal(store(&s, 100 + i), 1);
	}
	free(b);
	lct_sql("CREATE TABLE ff_before AS SELECT key_id, (ctid::text::point)[0] AS blk FROM message"
	    " WHERE key_id LIKE 'FF%'");
	assert_val("t", "SELECT count(DISTINCT blk) >= 5 FROM ff_before");	/* full pages, not one */
	lct_sql("BEGIN ISOLATION LEVEL REPEATABLE READ");
	free(lct_val("SELECT 1"));	/* the snapshot */
	for (i = 0; i < 96; i++)
		assert_int_equal(store_status(ids[i], WORKERS_MSG_SERVER_ACK, 200 + i), 1);
	lct_sql("COMMIT");
	assert_val("96", "SELECT count(*) FROM message WHERE key_id LIKE 'FF%%' AND status = 'SERVER_ACK'");
	assert_val("t", "SELECT count(*) >= 20 FROM message m JOIN ff_before f USING (key_id)"
	    " WHERE (m.ctid::text::point)[0] = f.blk");
	lct_sql("DROP TABLE ff_before");
}

/* The SERVER_ACKs of one loop turn become one pending call, unless something else of the instance was queued
 * after the first: then the later ones wait behind it (their rows may be what it inserts). */
static void
test_sent_coalesced(void **state)
{
	const char *ids[3] = { "TA", "TB", "TC" };
	struct workers_msg m;
	struct workers_msg_store s;
	struct lifecycle *lc = LC.app.lc;
	uint8_t *b;
	size_t l;
	int n;

	(void)state;
	store_pending(ids, 3, 3);
	lct_sql("DELETE FROM webhook_outbox");
	n = lc->npending;
	lifecycle_msg_sent(&LC.app, IID, "TA", WORKERS_MSG_SERVER_ACK);
	lifecycle_msg_sent(&LC.app, IID, "TB", WORKERS_MSG_SERVER_ACK);
	lifecycle_msg_sent(&LC.app, IID, "TC", WORKERS_MSG_SERVER_ACK);
	assert_int_equal(lc->npending, n + 1);
	lct_drain();
	assert_val("TA:SERVER_ACK,TB:SERVER_ACK,TC:SERVER_ACK", UPDATES);
	assert_val("3", "SELECT count(*) FROM message WHERE key_id IN ('TA', 'TB', 'TC') AND status = 'SERVER_ACK'");

	/* An ack, then a store that inserts TD, then TD's ack: TD's must run after the store, or it finds no row. */
	lct_sql("DELETE FROM webhook_outbox");
	b = pack_text("later", &l);
	m = msg("TD", PEER, "", "", 1, 1, WORKERS_MSG_PENDING, b, l);
	memset(&s, 0, sizeof(s));
	s.msgs = &m;
	s.nmsgs = 1;
	n = lc->npending;
	lifecycle_msg_sent(&LC.app, IID, "TA", WORKERS_MSG_DELIVERY_ACK);
	lifecycle_on_msg_store(&LC.app, IID, 4, &s);
	lifecycle_msg_sent(&LC.app, IID, "TD", WORKERS_MSG_SERVER_ACK);
	assert_int_equal(lc->npending, n + 3);
	assert_true(lct_run_until(&LC.nreply, LC.nreply + 1, 10000));
	lct_drain();
	assert_val("SERVER_ACK", "SELECT status FROM message WHERE key_id = 'TD'");
	assert_val("TA:DELIVERY_ACK,TD:SERVER_ACK", UPDATES);
	free(b);
}

/* The events of the store, in order: "event:keyId-or-remoteJid,..." (contacts' events left out). */
#define EVENTS "SELECT string_agg(concat(event, ':', coalesce(body->'data'->'key'->>'id'," \
	" body->'data'->0->>'remoteJid')), ',' ORDER BY id) FROM webhook_outbox WHERE event NOT LIKE 'contacts.%%'"

/* A store's live messages: one statement per run of one event, rows and events in the messages' order, each
 * chat upserted once with its latest push name, an id twice stored once; the same store again adds nothing. */
static void
test_messages_runs(void **state)
{
	struct workers_msg m[5];
	struct workers_msg_store s;
	struct instance *inst = lct_inst();
	int64_t msgs = inst->count_messages, chats = inst->count_chats;
	uint8_t *b;
	size_t l;

	(void)state;
	lct_sql("DELETE FROM webhook_outbox");
	b = pack_text("hi", &l);
	m[0] = msg("RA1", "15550007777@s.whatsapp.net", "", "Alice", 0, 0, 0, b, l);
	m[1] = msg("RA2", "15550007777@s.whatsapp.net", "", "Alice B.", 0, 0, 0, b, l);
	m[2] = msg("RB1", "15550008888@s.whatsapp.net", "", "", 0, 0, 0, b, l);
	m[3] = m[0];
	m[4] = msg("RA3", "15550007777@s.whatsapp.net", "", "", 1, 1, WORKERS_MSG_PENDING, b, l);
	memset(&s, 0, sizeof(s));
	s.msgs = m;
	s.nmsgs = 5;
	assert_int_equal(store(&s, 10), 1);
	assert_val("RA1,RA2,RB1,RA3", "SELECT string_agg(key_id, ',' ORDER BY id) FROM message WHERE key_id LIKE 'R%%'");
	assert_val("messages.upsert:RA1,messages.upsert:RA2,messages.upsert:RB1,"
	    "chats.upsert:15550007777@s.whatsapp.net,chats.upsert:15550008888@s.whatsapp.net,send.message:RA3", EVENTS);
	assert_val("Alice B.|", "SELECT concat_ws('|', (SELECT name FROM chat WHERE remote_jid ="
	    " '15550007777@s.whatsapp.net'), (SELECT coalesce(name, '') FROM chat WHERE remote_jid ="
	    " '15550008888@s.whatsapp.net'))");
	assert_val("Alice B.", "SELECT body->'data'->0->>'name' FROM webhook_outbox WHERE event = 'chats.upsert'"
	    " AND body->'data'->0->>'remoteJid' = '15550007777@s.whatsapp.net'");
	assert_val("hi|Alice|DELIVERY_ACK|android", "SELECT concat_ws('|', message->>'conversation', push_name, status,"
	    " source) FROM message WHERE key_id = 'RA1'");
	assert_true(inst->count_messages == msgs + 4 && inst->count_chats == chats + 2);

	lct_sql("DELETE FROM webhook_outbox");
	assert_int_equal(store(&s, 11), 1);
	assert_val("", EVENTS);
	assert_val("Alice B.", "SELECT name FROM chat WHERE remote_jid = '15550007777@s.whatsapp.net'");
	assert_true(inst->count_messages == msgs + 4 && inst->count_chats == chats + 2);
	free(b);
}

static int
setup(void **state)
{
	(void)state;
	return lct_setup("lifecycle_msg_batch_test", "lb", 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_statuses_rounds),
		cmocka_unit_test(test_statuses_generic_plan),
		cmocka_unit_test(test_statuses_stay_on_page),
		cmocka_unit_test(test_sent_coalesced),
		cmocka_unit_test(test_messages_runs),
	};

	return cmocka_run_group_tests(tests, setup, lct_teardown);
}
