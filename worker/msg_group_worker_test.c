/* Groups end to end: a real wagate-worker against a real fakewa (its mock phones speak real Signal), with this
 * test as its supervisor (msg_send_harness.c: an in-memory store answering StoreBatch, PairSuccess,
 * SignalLoad and MessageStore). Instance A is paired to a fake phone; B and C are fakewa accounts with phones.
 *  - GroupCreate with B, C and an unknown number: the group with A (superadmin), B and C;
 *  - GroupQuery answers the same group; an unknown group 404, a JID that is no group 400 (no iq);
 *  - GroupList lists it and a group B's phone created with A;
 *  - a group text from A: the row PENDING (participant A) before fakewa sees it, SERVER_ACK, and both phones
 *    decrypt it (sender key distributed pairwise); a second text rides the sender key alone;
 *  - after B's phone created a group with A (a w:gp2 notification), a send there works too;
 *  - a member added later (w:gp2 notification) gets our sender key with the next send, no retry needed;
 *  - a phone that fails to decrypt a group text sends a retry receipt: the resend (pairwise, with our sender
 *    key) reaches it;
 *  - a group text from B's phone reaches A: a MessageStore row with the group and B as participant;
 *  - a connection lost while a group query waits gives 503; a restarted worker sends to the group again (its
 *    sender key handed out anew, which the phones take);
 *  - a worker that is not connected answers 503.
 * Needs WAGATE_WORKER_BIN and WAGATE_FAKEWA_BIN. */
#include "msg_send_harness.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define PHONE_A		"15550002001"
#define PHONE_B		"15550002002"
#define PHONE_C		"15550002003"
#define NOBODY		"15559990009"

static struct inst ia = { .name = "a", .phone = PHONE_A };
static struct inst *const only_a[] = { &ia };
static char group[128];		/* the group test_create made */
static char group_b[128];	/* the group B's phone made with A */

/* GroupCreate / GroupQuery / GroupList from in, and its GroupResult. */
static Wagate__Ipc__GroupResult *
group_cmd(IpcEnvelope **keep, int kind, const char *arg, char **users, size_t n)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT, *r;
	Wagate__Ipc__GroupCreate gc = WAGATE__IPC__GROUP_CREATE__INIT;
	Wagate__Ipc__GroupQuery gq = WAGATE__IPC__GROUP_QUERY__INIT;
	Wagate__Ipc__GroupList gl = WAGATE__IPC__GROUP_LIST__INIT;

	if (kind == 0) {
		gc.subject = (char *)arg;
		gc.participants = users;
		gc.n_participants = n;
		env.msg_case = WAGATE__IPC__ENVELOPE__MSG_GROUP_CREATE;
		env.group_create = &gc;
	} else if (kind == 1) {
		gq.jid = (char *)arg;
		env.msg_case = WAGATE__IPC__ENVELOPE__MSG_GROUP_QUERY;
		env.group_query = &gq;
	} else {
		env.msg_case = WAGATE__IPC__ENVELOPE__MSG_GROUP_LIST;
		env.group_list = &gl;
	}
	r = await_reply(&ia, inst_request(&ia, &env));
	assert_int_equal(r->msg_case, WAGATE__IPC__ENVELOPE__MSG_GROUP_RESULT);
	*keep = r;
	return r->group_result;
}

/* The participant jid of g, or NULL. */
static const Wagate__Ipc__GroupParticipant *
participant(const Wagate__Ipc__GroupInfo *g, const char *jid)
{
	for (size_t i = 0; i < g->n_participants; i++)
		if (strcmp(g->participants[i]->jid, jid) == 0)
			return g->participants[i];
	return NULL;
}

/* The group A, B and C are in, as test_create made it. */
static void
check_group(const Wagate__Ipc__GroupInfo *g, const char *subject)
{
	const Wagate__Ipc__GroupParticipant *p;

	assert_string_equal(g->subject, subject);
	assert_string_equal(g->owner, PHONE_A "@s.whatsapp.net");
	assert_true(g->creation > 1700000000);
	assert_int_equal(g->n_participants, 3);
	assert_non_null(p = participant(g, PHONE_A "@s.whatsapp.net"));
	assert_string_equal(p->admin, "superadmin");
	assert_true(strstr(p->lid, "@lid") != NULL);
	assert_non_null(p = participant(g, PHONE_B "@s.whatsapp.net"));
	assert_string_equal(p->admin, "");
	assert_non_null(participant(g, PHONE_C "@s.whatsapp.net"));
	assert_null(participant(g, NOBODY "@s.whatsapp.net"));
}

struct want_phone {
	const char *phone, *id, *group, *text;
};

/* Whether phone's mock phone decrypted message id in group with text. */
static int
phone_came(void *arg)
{
	struct want_phone *w = arg;
	char path[128], body[65536], needle[512];

	snprintf(path, sizeof(path), "/phone/received?account=%s", w->phone);
	if (http("GET", path, NULL, body, sizeof(body)) != 200)
		return 0;
	snprintf(needle, sizeof(needle), "\"id\":\"%s\",\"type\":\"text\",\"group\":\"%s\",\"text\":\"%s\"", w->id,
	    w->group, w->text);
	return strstr(body, needle) != NULL;
}

struct want_row {
	const char *id, *remote;
};

/* The index of the row stored with this id (and remote jid, when given), or -1. */
static int
stored_idx(const char *id, const char *remote)
{
	for (size_t i = 0; i < ia.nstored; i++)
		if ((id == NULL || strcmp(ia.stored_ids[i], id) == 0) &&
		    (remote == NULL || strcmp(ia.stored_remote[i], remote) == 0))
			return (int)i;
	return -1;
}

static int
row_came(void *arg)
{
	struct want_row *w = arg;

	return stored_idx(w->id, w->remote) >= 0;
}

static int
setup(void **state)
{
	char body[1024];

	(void)state;
	fakewa_start();
	assert_int_equal(http("POST", "/admin/account?phone=" PHONE_B "&name=Bea", NULL, body, sizeof(body)), 200);
	assert_int_equal(http("POST", "/admin/account?phone=" PHONE_C "&name=Cid", NULL, body, sizeof(body)), 200);
	/* generating and storing the first 812 prekeys is slow under valgrind on a loaded machine */
	if (!inst_open_all(only_a, 1, 3 * WAIT_MS))
		fail_msg("the worker did not pair and open");
	return 0;
}

static void
test_create(void **state)
{
	char *users[] = { (char *)PHONE_B "@s.whatsapp.net", (char *)PHONE_C "@s.whatsapp.net",
	    (char *)NOBODY "@s.whatsapp.net" };
	char *bad[] = { (char *)PHONE_B ":3@s.whatsapp.net" };
	Wagate__Ipc__GroupResult *r;
	IpcEnvelope *keep;

	(void)state;
	r = group_cmd(&keep, 0, "wagate group", users, 3);
	if (!r->ok)
		fail_msg("GroupCreate failed: %d %s", r->code, r->error);
	assert_int_equal(r->n_groups, 1);
	assert_true(strlen(r->groups[0]->jid) > 5);
	assert_string_equal(r->groups[0]->jid + strlen(r->groups[0]->jid) - 5, "@g.us");
	check_group(r->groups[0], "wagate group");
	snprintf(group, sizeof(group), "%s", r->groups[0]->jid);
	ipc_envelope_free(keep);

	/* refused by the worker itself: a device JID, an empty subject */
	r = group_cmd(&keep, 0, "x", bad, 1);
	assert_false(r->ok);
	assert_int_equal(r->code, 400);
	ipc_envelope_free(keep);
	r = group_cmd(&keep, 0, "", users, 1);
	assert_int_equal(r->code, 400);
	ipc_envelope_free(keep);
}

static void
test_query(void **state)
{
	Wagate__Ipc__GroupResult *r;
	IpcEnvelope *keep;

	(void)state;
	assert_true(group[0] != '\0');
	r = group_cmd(&keep, 1, group, NULL, 0);
	if (!r->ok)
		fail_msg("GroupQuery failed: %d %s", r->code, r->error);
	assert_int_equal(r->n_groups, 1);
	assert_string_equal(r->groups[0]->jid, group);
	check_group(r->groups[0], "wagate group");
	ipc_envelope_free(keep);

	r = group_cmd(&keep, 1, "120363999999999999@g.us", NULL, 0);
	assert_false(r->ok);
	assert_int_equal(r->code, 404);
	assert_int_equal(r->n_groups, 0);
	ipc_envelope_free(keep);
	r = group_cmd(&keep, 1, PHONE_B "@s.whatsapp.net", NULL, 0);
	assert_int_equal(r->code, 400);
	ipc_envelope_free(keep);
}

static void
test_list(void **state)
{
	char body[1024], *p, *q;
	Wagate__Ipc__GroupResult *r;
	IpcEnvelope *keep;
	int seen = 0;

	(void)state;
	/* B's phone makes a group with A: A's worker gets the w:gp2 notification (and acks it) */
	assert_int_equal(http("POST", "/phone/group-create?account=" PHONE_B "&subject=from%20bea&participants="
	    PHONE_A, NULL, body, sizeof(body)), 200);
	assert_non_null(p = strstr(body, "\"group\":\""));
	p += 9;
	assert_non_null(q = strchr(p, '"'));
	snprintf(group_b, sizeof(group_b), "%.*s", (int)(q - p), p);
	r = group_cmd(&keep, 2, NULL, NULL, 0);
	if (!r->ok)
		fail_msg("GroupList failed: %d %s", r->code, r->error);
	assert_int_equal(r->n_groups, 2);
	for (size_t i = 0; i < r->n_groups; i++) {
		if (strcmp(r->groups[i]->jid, group) == 0) {
			check_group(r->groups[i], "wagate group");
			seen |= 1;
		} else if (strcmp(r->groups[i]->jid, group_b) == 0) {
			assert_string_equal(r->groups[i]->subject, "from bea");
			assert_string_equal(r->groups[i]->owner, PHONE_B "@s.whatsapp.net");
			assert_int_equal(r->groups[i]->n_participants, 2);
			assert_string_equal(participant(r->groups[i], PHONE_B "@s.whatsapp.net")->admin, "superadmin");
			seen |= 2;
		}
	}
	assert_int_equal(seen, 3);
	ipc_envelope_free(keep);
}

/* A's texts to the group: stored before fakewa sees them, acked, decrypted by both phones. */
static void
test_send(void **state)
{
	struct want_phone wp = { PHONE_B, "3EB0GROUPSEND0001", NULL, "hello group" };
	IpcEnvelope *r;
	uint64_t id;
	int k;

	(void)state;
	wp.group = group;
	ia.hold_id = "3EB0GROUPSEND0001";
	id = send_text(&ia, group, "hello group", "3EB0GROUPSEND0001");
	if (!pump(held_came, &ia, WAIT_MS))
		fail_msg("no MessageStore with the group message");
	k = stored_idx("3EB0GROUPSEND0001", NULL);
	assert_true(k >= 0);
	assert_string_equal(ia.stored_status[k], "2");	/* PENDING, from us, by the API */
	assert_string_equal(ia.stored_remote[k], group);
	assert_string_equal(ia.stored_participant[k], PHONE_A "@s.whatsapp.net");
	/* the COMMIT is not acked: nothing went to WhatsApp yet */
	assert_null(reply_find(&ia, id));
	assert_false(phone_came(&wp));
	inst_store_ack(&ia, ia.held[0]->request_id, 1);
	ipc_envelope_free(ia.held[0]);
	ia.nheld = 0;
	ia.hold_id = NULL;
	r = await_reply(&ia, id);
	assert_int_equal(r->msg_case, WAGATE__IPC__ENVELOPE__MSG_SEND_RESULT);
	if (!r->send_result->ok)
		fail_msg("group send failed: %d %s", r->send_result->code, r->send_result->error);
	assert_int_equal(r->send_result->status, WAGATE__IPC__MSG_STATUS__MSG_STATUS_SERVER_ACK);
	assert_string_equal(r->send_result->remote_jid, group);
	ipc_envelope_free(r);
	if (!pump(phone_came, &wp, WAIT_MS))
		fail_msg("B's phone did not decrypt the group text");
	wp.phone = PHONE_C;
	if (!pump(phone_came, &wp, WAIT_MS))
		fail_msg("C's phone did not decrypt the group text");

	/* the second rides the sender key the phones have (no pairwise copy: they could not read one without
	 * the key they were given with the first) */
	id = send_text(&ia, group, "second to the group", "3EB0GROUPSEND0002");
	r = await_reply(&ia, id);
	if (!r->send_result->ok)
		fail_msg("second group send failed: %d %s", r->send_result->code, r->send_result->error);
	ipc_envelope_free(r);
	wp.id = "3EB0GROUPSEND0002";
	wp.text = "second to the group";
	if (!pump(phone_came, &wp, WAIT_MS))
		fail_msg("C's phone did not decrypt the second group text");
	wp.phone = PHONE_B;
	if (!pump(phone_came, &wp, WAIT_MS))
		fail_msg("B's phone did not decrypt the second group text");

	/* the group B made (known to the worker only from GroupList and the notification) */
	id = send_text(&ia, group_b, "to bea's group", "3EB0GROUPSEND0003");
	r = await_reply(&ia, id);
	if (!r->send_result->ok)
		fail_msg("send to B's group failed: %d %s", r->send_result->code, r->send_result->error);
	ipc_envelope_free(r);
	wp.id = "3EB0GROUPSEND0003";
	wp.group = group_b;
	wp.text = "to bea's group";
	if (!pump(phone_came, &wp, WAIT_MS))
		fail_msg("B's phone did not decrypt the text in its group");

	/* a group nobody knows: WhatsApp says 404 */
	id = send_text(&ia, "120363999999999998@g.us", "nobody", NULL);
	r = await_reply(&ia, id);
	assert_false(r->send_result->ok);
	assert_int_equal(r->send_result->code, 404);
	ipc_envelope_free(r);
}

/* Whether phone's mock phone kept message id as type ("retry": it failed as told and asked for a retry;
 * "undecryptable": it could not decrypt it, e.g. for want of our sender key, and asked for one). */
static int
phone_kept(const struct want_phone *w, const char *type)
{
	char path[128], body[65536], needle[256];

	snprintf(path, sizeof(path), "/phone/received?account=%s", w->phone);
	if (http("GET", path, NULL, body, sizeof(body)) != 200)
		return 0;
	snprintf(needle, sizeof(needle), "\"id\":\"%s\",\"type\":\"%s\"", w->id, type);
	return strstr(body, needle) != NULL;
}

static int
phone_retried(void *arg)
{
	return phone_kept(arg, "retry");
}

/* C's phone fails to decrypt a group text and sends a retry receipt: the worker resends it to that device
 * alone, pairwise with our sender key, and the phone reads it. */
static void
test_retry(void **state)
{
	struct want_phone wp = { PHONE_C, "3EB0GROUPRETRY01", NULL, "again, group" };
	char body[256];
	IpcEnvelope *r;
	uint64_t id;

	(void)state;
	wp.group = group;
	assert_int_equal(http("POST", "/phone/fail-next-decrypt?account=" PHONE_C, "", body, sizeof(body)), 200);
	id = send_text(&ia, group, "again, group", wp.id);
	r = await_reply(&ia, id);
	assert_true(r->send_result->ok);
	ipc_envelope_free(r);
	if (!pump(phone_retried, &wp, WAIT_MS))
		fail_msg("C's phone did not fail as told");
	if (!pump(phone_came, &wp, WAIT_MS))
		fail_msg("the resend did not reach C's phone");
	/* B read it the first time */
	wp.phone = PHONE_B;
	assert_true(phone_came(&wp));
}

/* A CheckNumbers round trip: once answered, the worker has read everything fakewa wrote to it before. */
static void
barrier(void)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT, *r;
	Wagate__Ipc__CheckNumbers cn = WAGATE__IPC__CHECK_NUMBERS__INIT;
	char *numbers[] = { (char *)NOBODY };

	cn.n_numbers = 1;
	cn.numbers = numbers;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_CHECK_NUMBERS;
	env.check_numbers = &cn;
	r = await_reply(&ia, inst_request(&ia, &env));
	assert_true(r->numbers_result->ok);
	ipc_envelope_free(r);
}

/* B's phone adds C to B's group after A sent there (A's worker knows its participants): the w:gp2 notification
 * drops them, so A's next send lists C and gives it our sender key pairwise at once (no retry needed). */
static void
test_member_added(void **state)
{
	struct want_phone wp = { PHONE_C, "3EB0GROUPADDED01", NULL, "welcome, cid" };
	char body[256], path[256];
	IpcEnvelope *r;
	uint64_t id;

	(void)state;
	assert_true(group_b[0] != '\0');
	wp.group = group_b;
	snprintf(path, sizeof(path), "/phone/group-add?account=%s&group=%s&participant=%s", PHONE_B, group_b, PHONE_C);
	assert_int_equal(http("POST", path, NULL, body, sizeof(body)), 200);
	barrier();
	id = send_text(&ia, group_b, "welcome, cid", wp.id);
	r = await_reply(&ia, id);
	if (!r->send_result->ok)
		fail_msg("send after the add failed: %d %s", r->send_result->code, r->send_result->error);
	ipc_envelope_free(r);
	if (!pump(phone_came, &wp, WAIT_MS))
		fail_msg("C's phone did not decrypt the text in the group it was added to");
	/* at the first try: not through a retry receipt and the resend */
	assert_false(phone_kept(&wp, "undecryptable"));
	wp.phone = PHONE_B;
	if (!pump(phone_came, &wp, WAIT_MS))
		fail_msg("B's phone did not decrypt the text");
}

/* B's phone writes to the group: A's worker decrypts it and stores it with B as the participant. */
static void
test_receive(void **state)
{
	struct want_row ws = { NULL, NULL };
	char body[1024], path[256], id[64], *p;
	int k;

	(void)state;
	snprintf(path, sizeof(path), "/phone/send?account=%s&to=%s&text=hi%%20from%%20bea", PHONE_B, group);
	assert_int_equal(http("POST", path, NULL, body, sizeof(body)), 200);
	assert_non_null(p = strstr(body, "\"id\":\""));
	snprintf(id, sizeof(id), "%.*s", (int)strcspn(p + 6, "\""), p + 6);
	ws.id = id;
	ws.remote = group;
	if (!pump(row_came, &ws, WAIT_MS))
		fail_msg("the worker stored no row for B's group text %s", id);
	k = stored_idx(id, group);
	assert_string_equal(ia.stored_participant[k], PHONE_B "@s.whatsapp.net");
	assert_string_equal(ia.stored_status[k], "other");	/* not ours */
}

/* The connection drops while a group query waits for its answer: 503; after the worker logged in again, the
 * query works. Then a restarted worker (our sender key read back from the store, the memory of who has it
 * gone) sends to the group: the key goes to everyone again and both phones read the text. */
static void
test_drop_restart(void **state)
{
	struct want_phone wp = { PHONE_B, "3EB0GROUPRESTART", NULL, "after a restart" };
	Wagate__Ipc__GroupResult *gr;
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT, *r;
	Wagate__Ipc__GroupQuery gq = WAGATE__IPC__GROUP_QUERY__INIT;
	char body[256];
	struct want_stored wo = { &ia, NULL, ia.opens };
	uint64_t id;

	(void)state;
	wp.group = group;
	/* fakewa stops reading: the query is never taken, so no answer comes */
	assert_int_equal(http("POST", "/admin/stall?client=all", "", body, sizeof(body)), 200);
	gq.jid = group;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_GROUP_QUERY;
	env.group_query = &gq;
	id = inst_request(&ia, &env);
	assert_int_equal(http("POST", "/admin/drop?client=all", "", body, sizeof(body)), 200);
	r = await_reply(&ia, id);
	assert_false(r->group_result->ok);
	assert_int_equal(r->group_result->code, 503);
	ipc_envelope_free(r);
	if (!pump(inst_reopened, &wo, WAIT_MS))
		fail_msg("the worker did not log in again");
	gr = group_cmd(&r, 1, group, NULL, 0);
	assert_true(gr->ok);
	ipc_envelope_free(r);

	inst_shutdown(&ia);
	ia.open = 0;
	wo.opens = ia.opens;
	inst_start(&ia, 1);
	if (!pump(inst_reopened, &wo, WAIT_MS))
		fail_msg("the restarted worker did not open");
	id = send_text(&ia, group, "after a restart", wp.id);
	r = await_reply(&ia, id);
	if (!r->send_result->ok)
		fail_msg("group send after the restart failed: %d %s", r->send_result->code, r->send_result->error);
	ipc_envelope_free(r);
	if (!pump(phone_came, &wp, WAIT_MS))
		fail_msg("B's phone did not decrypt the text sent after the restart");
	wp.phone = PHONE_C;
	if (!pump(phone_came, &wp, WAIT_MS))
		fail_msg("C's phone did not decrypt the text sent after the restart");
	assert_false(phone_kept(&wp, "undecryptable"));
}

/* A worker that never connected answers 503 at once. */
static void
test_not_open(void **state)
{
	struct inst saved = ia;
	Wagate__Ipc__GroupResult *r;
	IpcEnvelope *keep;

	(void)state;
	memset(&ia, 0, sizeof(ia));
	ia.name = "d";
	ia.phone = "15550002004";
	inst_start(&ia, 0);
	r = group_cmd(&keep, 2, NULL, NULL, 0);
	assert_false(r->ok);
	assert_int_equal(r->code, 503);
	ipc_envelope_free(keep);
	inst_stop(&ia);
	ia = saved;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create),
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_send),
		cmocka_unit_test(test_retry),
		cmocka_unit_test(test_member_added),
		cmocka_unit_test(test_receive),
		cmocka_unit_test(test_drop_restart),
		cmocka_unit_test(test_not_open),
	};

	return cmocka_run_group_tests(tests, setup, harness_teardown);
}
