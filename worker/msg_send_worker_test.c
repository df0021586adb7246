/* Sending end to end: real wagate-worker processes against a real fakewa (its mock phones speak real Signal),
 * with this test as their supervisor (an in-memory store answering StoreBatch, PairSuccess, SignalLoad and
 * MessageStore). Two instances are paired to two fake phones, A's worker sends to B's account:
 *  - the MessageStore (row PENDING, sent_by_api, ratchet changes) arrives BEFORE fakewa sees the stanza (its
 *    StoreAck is held and the recipient's phone has nothing), then SendResult SERVER_ACK, and B's phone
 *    decrypts the text (and A's own phone the DeviceSentMessage copy);
 *  - an unknown number gives 400, a worker that is not connected 503;
 *  - CheckNumbers says which numbers exist (with the LID, stored through a MessageStore);
 *  - MarkRead is answered once fakewa acked the receipts;
 *  - a phone that fails to decrypt sends a retry receipt, and the worker's resend reaches it;
 *  - a connection lost before the server ack gives 503; a restarted worker goes on with its stored ratchets.
 * The supervisor side is msg_send_harness.c. Needs WAGATE_WORKER_BIN and WAGATE_FAKEWA_BIN. */
#include "msg_send_harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#define PHONE_A		"15550001001"
#define PHONE_B		"15550001002"
#define NOBODY		"15559990000"

static struct inst ia = { .name = "a", .phone = PHONE_A }, ib = { .name = "b", .phone = PHONE_B };
static struct inst *const both[] = { &ia, &ib };

/* Whether phone's mock phone received message id as type (e.g. "text") with text (NULL: any). */
static int
phone_got(const char *phone, const char *id, const char *type, const char *text)
{
	char path[128], body[65536], needle[512];

	snprintf(path, sizeof(path), "/phone/received?account=%s", phone);
	if (http("GET", path, NULL, body, sizeof(body)) != 200)
		return 0;
	snprintf(needle, sizeof(needle), "\"id\":\"%s\",\"type\":\"%s\"%s%s%s", id, type, text ? ",\"text\":\"" : "",
	    text ? text : "", text ? "\"" : "");
	return strstr(body, needle) != NULL;
}

/* Whether phone's mock phone received anything with message id. */
static int
phone_got_any(const char *phone, const char *id)
{
	char path[128], body[65536], needle[128];

	snprintf(path, sizeof(path), "/phone/received?account=%s", phone);
	assert_int_equal(http("GET", path, NULL, body, sizeof(body)), 200);
	snprintf(needle, sizeof(needle), "\"id\":\"%s\"", id);
	return strstr(body, needle) != NULL;
}

struct want_phone {
	const char *phone, *id, *type, *text;
};

static int
phone_came(void *arg)
{
	struct want_phone *w = arg;

	return phone_got(w->phone, w->id, w->type, w->text);
}

/* A CheckNumbers round trip through fakewa: when it is answered, fakewa has handled every stanza in wrote
 * before (one connection, in order). */
static void
barrier(struct inst *in)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT, *r;
	Wagate__Ipc__CheckNumbers cn = WAGATE__IPC__CHECK_NUMBERS__INIT;
	char *numbers[] = { (char *)NOBODY };

	cn.n_numbers = 1;
	cn.numbers = numbers;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_CHECK_NUMBERS;
	env.check_numbers = &cn;
	r = await_reply(in, inst_request(in, &env));
	assert_true(r->numbers_result->ok);
	ipc_envelope_free(r);
}

/* Pair both instances once (each test below needs them open). */
static int
setup(void **state)
{
	(void)state;
	fakewa_start();
	if (!inst_open_all(both, 2, 60000))
		fail_msg("the workers did not pair and open (a=%d b=%d)", ia.open, ib.open);
	return 0;
}

/* The first message to B: stored (PENDING, ratchets) before fakewa sees it, SERVER_ACK after, decrypted by
 * B's phone, and the copy for our own phone decrypted too. */
static void
test_send(void **state)
{
	char to[64];
	struct want_phone wp = { PHONE_B, "3EB0TESTSEND0001", "text", "hello from wagate" };
	IpcEnvelope *r;
	uint64_t id;

	(void)state;
	snprintf(to, sizeof(to), "%s@s.whatsapp.net", PHONE_B);
	ia.hold_id = "3EB0TESTSEND0001";
	id = send_text(&ia, to, "hello from wagate", "3EB0TESTSEND0001");
	if (!pump(held_came, &ia, WAIT_MS))
		fail_msg("no MessageStore with the message");
	/* the COMMIT is not acked yet: nothing may have gone to WhatsApp */
	assert_string_equal(ia.stored_ids[ia.nstored - 1], "3EB0TESTSEND0001");
	assert_string_equal(ia.stored_status[ia.nstored - 1], "2");	/* MSG_STATUS_PENDING, from us, by the API */
	assert_true(ia.session_changes >= 2);		/* sessions with B's phone, B's companion, our phone */
	/* a barrier, not a sleep: fakewa answers this usync after everything A wrote before it */
	barrier(&ia);
	assert_false(phone_got_any(PHONE_B, "3EB0TESTSEND0001"));
	assert_null(reply_find(&ia, id));
	inst_store_ack(&ia, ia.held[0]->request_id, 1);
	ipc_envelope_free(ia.held[0]);
	ia.nheld = 0;
	ia.hold_id = NULL;
	r = await_reply(&ia, id);
	assert_int_equal(r->msg_case, WAGATE__IPC__ENVELOPE__MSG_SEND_RESULT);
	if (!r->send_result->ok)
		fail_msg("send failed: %d %s", r->send_result->code, r->send_result->error);
	assert_int_equal(r->send_result->status, WAGATE__IPC__MSG_STATUS__MSG_STATUS_SERVER_ACK);
	assert_string_equal(r->send_result->id, "3EB0TESTSEND0001");
	assert_string_equal(r->send_result->remote_jid, to);
	assert_true(r->send_result->timestamp > 1700000000);
	ipc_envelope_free(r);
	if (!pump(phone_came, &wp, WAIT_MS))
		fail_msg("B's phone did not decrypt the message");
	/* our own phone got the DeviceSentMessage copy */
	wp.phone = PHONE_A;
	if (!pump(phone_came, &wp, WAIT_MS))
		fail_msg("A's phone did not decrypt its copy");

	/* a second message rides the sessions now (one job, no key fetch) and gets an id of WhatsApp Web's form */
	id = send_text(&ia, to, "second one", NULL);
	r = await_reply(&ia, id);
	assert_true(r->send_result->ok);
	assert_int_equal(strlen(r->send_result->id), 22);
	assert_memory_equal(r->send_result->id, "3EB0", 4);
	wp.phone = PHONE_B;
	wp.id = r->send_result->id;
	wp.text = "second one";
	if (!pump(phone_came, &wp, WAIT_MS))
		fail_msg("B's phone did not decrypt the second message");
	ipc_envelope_free(r);
}

/* Nobody has that number: 400, nothing stored. */
static void
test_send_unknown(void **state)
{
	IpcEnvelope *r;
	struct want_stored ws = { &ia, "3EB0TESTNOBODY01", 0 };
	uint64_t id;

	(void)state;
	id = send_text(&ia, NOBODY "@s.whatsapp.net", "anyone?", ws.id);
	r = await_reply(&ia, id);
	assert_false(r->send_result->ok);
	assert_int_equal(r->send_result->code, 400);
	assert_false(stored_came(&ws));		/* no row for a message that never left */
	ipc_envelope_free(r);
	/* a group WhatsApp does not know: 404 (group sends: msg_group_worker_test.c) */
	id = send_text(&ia, "120363012345678901@g.us", "group?", NULL);
	r = await_reply(&ia, id);
	assert_int_equal(r->send_result->code, 404);
	ipc_envelope_free(r);
}

/* A send that could not start before its deadline (it waited behind earlier work): 504, and nothing stored or
 * sent. One with time left goes out. */
static void
test_send_too_late(void **state)
{
	char to[64];
	struct want_stored ws = { &ia, "3EB0TESTLATE0001", 0 };
	IpcEnvelope *r;
	uint64_t id;

	(void)state;
	snprintf(to, sizeof(to), "%s@s.whatsapp.net", PHONE_B);
	id = send_text_by(&ia, to, "too late", ws.id, (uint64_t)now_ms() - 1);
	r = await_reply(&ia, id);
	assert_false(r->send_result->ok);
	assert_int_equal(r->send_result->code, 504);
	if (strstr(r->send_result->error, "nothing was stored or sent") == NULL)
		fail_msg("504 without saying it did nothing: %s", r->send_result->error);
	ipc_envelope_free(r);
	barrier(&ia);
	assert_false(stored_came(&ws));
	assert_false(phone_got_any(PHONE_B, ws.id));

	id = send_text_by(&ia, to, "in time", "3EB0TESTLATE0002", (uint64_t)now_ms() + 60000);
	r = await_reply(&ia, id);
	if (!r->send_result->ok)
		fail_msg("send with time left failed: %d %s", r->send_result->code, r->send_result->error);
	ipc_envelope_free(r);
}

struct want_lid {
	struct inst *in;
	const char *pn, *lid;
};

static int
lid_came(void *arg)
{
	struct want_lid *w = arg;

	for (size_t i = 0; i < w->in->nlids; i++)
		if (strcmp(w->in->lid_pn[i], w->pn) == 0 && strcmp(w->in->lid_lid[i], w->lid) == 0)
			return 1;
	return 0;
}

static void
test_check_numbers(void **state)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT, *r;
	Wagate__Ipc__CheckNumbers cn = WAGATE__IPC__CHECK_NUMBERS__INIT;
	char *numbers[] = { (char *)PHONE_B, (char *)NOBODY }, pn[64], lid[64];
	struct want_lid lw = { &ia, NULL, NULL };

	(void)state;
	cn.n_numbers = 2;
	cn.numbers = numbers;
	env.request_id = ++ia.next_req;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_CHECK_NUMBERS;
	env.check_numbers = &cn;
	inst_send(&ia, &env);
	r = await_reply(&ia, env.request_id);
	assert_int_equal(r->msg_case, WAGATE__IPC__ENVELOPE__MSG_NUMBERS_RESULT);
	assert_true(r->numbers_result->ok);
	assert_int_equal(r->numbers_result->n_numbers, 2);
	snprintf(pn, sizeof(pn), "%s@s.whatsapp.net", PHONE_B);
	assert_string_equal(r->numbers_result->numbers[0]->number, PHONE_B);
	assert_true(r->numbers_result->numbers[0]->exists);
	assert_string_equal(r->numbers_result->numbers[0]->jid, pn);
	assert_non_null(strstr(r->numbers_result->numbers[0]->lid, "@lid"));
	snprintf(lid, sizeof(lid), "%s", r->numbers_result->numbers[0]->lid);
	assert_false(r->numbers_result->numbers[1]->exists);
	assert_string_equal(r->numbers_result->numbers[1]->jid, "");
	ipc_envelope_free(r);
	/* the LID it learnt is stored */
	lw.pn = pn;
	lw.lid = lid;
	if (!pump(lid_came, &lw, WAIT_MS))
		fail_msg("the LID mapping of %s was not stored", pn);
	/* a send to the LID it told reaches B's phone too (Signal addresses "<lid>_1:<device>") */
	{
		struct want_phone wp = { PHONE_B, "3EB0TESTTOLID001", "text", "by LID" };
		uint64_t sid = send_text(&ia, lid, "by LID", wp.id);
		r = await_reply(&ia, sid);
		if (!r->send_result->ok)
			fail_msg("send to %s: %d %s", lid, r->send_result->code, r->send_result->error);
		assert_string_equal(r->send_result->remote_jid, lid);
		ipc_envelope_free(r);
		if (!pump(phone_came, &wp, WAIT_MS))
			fail_msg("B's phone did not decrypt the message sent to its LID");
	}
	/* not digits: refused before WhatsApp */
	numbers[1] = (char *)"+1555";
	env.request_id = ++ia.next_req;
	inst_send(&ia, &env);
	r = await_reply(&ia, env.request_id);
	assert_false(r->numbers_result->ok);
	assert_int_equal(r->numbers_result->code, 400);
	ipc_envelope_free(r);
}

static void
test_mark_read(void **state)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT, *r;
	Wagate__Ipc__MarkRead mr = WAGATE__IPC__MARK_READ__INIT;
	Wagate__Ipc__MessageKey k[3], *kp[3];
	char chat[64];

	(void)state;
	snprintf(chat, sizeof(chat), "%s@s.whatsapp.net", PHONE_B);
	for (int i = 0; i < 3; i++) {
		wagate__ipc__message_key__init(&k[i]);
		k[i].remote_jid = chat;
		kp[i] = &k[i];
	}
	k[0].id = "3EB0READ1";
	k[1].id = "3EB0READ2";
	k[2].id = "3EB0MINE";
	k[2].from_me = 1;
	mr.n_keys = 3;
	mr.keys = kp;
	env.request_id = ++ia.next_req;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_MARK_READ;
	env.mark_read = &mr;
	inst_send(&ia, &env);
	/* answered once fakewa acked the receipt (its <ack class="receipt">) */
	r = await_reply(&ia, env.request_id);
	assert_int_equal(r->msg_case, WAGATE__IPC__ENVELOPE__MSG_RESULT);
	if (!r->result->ok)
		fail_msg("mark read: %d %s", r->result->code, r->result->error);
	ipc_envelope_free(r);
}

/* B's phone fails to decrypt: its retry receipt makes the worker resend, and the phone gets the text. */
static void
test_retry(void **state)
{
	char to[64], body[256];
	struct want_phone wp = { PHONE_B, "3EB0TESTRETRY001", "retry", NULL };
	IpcEnvelope *r;
	uint64_t id;

	(void)state;
	assert_int_equal(http("POST", "/phone/fail-next-decrypt?account=" PHONE_B, "", body, sizeof(body)), 200);
	snprintf(to, sizeof(to), "%s@s.whatsapp.net", PHONE_B);
	id = send_text(&ia, to, "try again", "3EB0TESTRETRY001");
	r = await_reply(&ia, id);
	assert_true(r->send_result->ok);
	ipc_envelope_free(r);
	if (!pump(phone_came, &wp, WAIT_MS))
		fail_msg("B's phone did not fail as told");
	wp.type = "text";
	wp.text = "try again";
	if (!pump(phone_came, &wp, WAIT_MS))
		fail_msg("the resend did not reach B's phone");
}

/* The connection drops while the message waits for the server: 503 (it may still arrive, the API says), and
 * the worker logs in again by itself. */
static void
test_connection_drop(void **state)
{
	char to[64], body[256];
	struct want_stored ws = { &ia, "3EB0TESTDROP0001", ia.opens };
	IpcEnvelope *r;
	uint64_t id;

	(void)state;
	/* fakewa stops reading: the stanza is never taken, so no ack comes */
	assert_int_equal(http("POST", "/admin/stall?client=all", "", body, sizeof(body)), 200);
	snprintf(to, sizeof(to), "%s@s.whatsapp.net", PHONE_B);
	id = send_text(&ia, to, "into the void", ws.id);
	if (!pump(stored_came, &ws, WAIT_MS))
		fail_msg("the message was not stored");
	assert_int_equal(http("POST", "/admin/drop?client=all", "", body, sizeof(body)), 200);
	r = await_reply(&ia, id);
	assert_false(r->send_result->ok);
	assert_int_equal(r->send_result->code, 503);
	ipc_envelope_free(r);
	assert_false(phone_got_any(PHONE_B, ws.id));
	if (!pump(inst_reopened, &ws, WAIT_MS))
		fail_msg("the worker did not log in again");
	/* and sends again on the new connection */
	id = send_text(&ia, to, "back again", "3EB0TESTDROP0002");
	r = await_reply(&ia, id);
	assert_true(r->send_result->ok);
	ipc_envelope_free(r);
}

/* A restarted worker (the store as it was committed, sessions read back through SignalLoad) goes on with the
 * same ratchets: the phone decrypts what it sends next. */
static void
test_restart(void **state)
{
	char to[64];
	struct want_stored ws = { &ia, NULL, ia.opens };
	struct want_phone wp = { PHONE_B, "3EB0TESTRESTART1", "text", "after a restart" };
	IpcEnvelope *r;
	uint64_t id;
	int loaded;

	(void)state;
	inst_shutdown(&ia);
	ia.open = 0;
	inst_start(&ia, 1);
	if (!pump(inst_reopened, &ws, WAIT_MS))
		fail_msg("the restarted worker did not log in");
	snprintf(to, sizeof(to), "%s@s.whatsapp.net", PHONE_B);
	loaded = ia.sessions_loaded;
	id = send_text(&ia, to, "after a restart", wp.id);
	r = await_reply(&ia, id);
	/* the sessions came back from the store (no new ones from prekey bundles) ... */
	assert_true(ia.sessions_loaded >= loaded + 2);
	if (!r->send_result->ok)
		fail_msg("send after restart: %d %s", r->send_result->code, r->send_result->error);
	ipc_envelope_free(r);
	/* ... with their ratchets as committed: a stale one would reuse a counter and the phone would refuse it */
	if (!pump(phone_came, &wp, WAIT_MS))
		fail_msg("B's phone could not decrypt what the restarted worker sent");
}

/* A worker that never connected answers 503 at once. */
static void
test_not_open(void **state)
{
	struct inst saved = ib;
	IpcEnvelope *r;
	uint64_t id;

	(void)state;
	/* B stays as it is; a fresh instance without connect_now is used as the closed one */
	memset(&ib, 0, sizeof(ib));
	ib.name = "c";
	ib.phone = "15550001003";
	inst_start(&ib, 0);
	id = send_text(&ib, PHONE_A "@s.whatsapp.net", "closed", NULL);
	r = await_reply(&ib, id);
	assert_false(r->send_result->ok);
	assert_int_equal(r->send_result->code, 503);
	ipc_envelope_free(r);
	inst_stop(&ib);
	ib = saved;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_send),
		cmocka_unit_test(test_send_unknown),
		cmocka_unit_test(test_send_too_late),
		cmocka_unit_test(test_check_numbers),
		cmocka_unit_test(test_mark_read),
		cmocka_unit_test(test_retry),
		cmocka_unit_test(test_connection_drop),
		cmocka_unit_test(test_restart),
		cmocka_unit_test(test_not_open),
	};

	return cmocka_run_group_tests(tests, setup, harness_teardown);
}
