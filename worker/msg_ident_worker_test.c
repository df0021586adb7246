/* Identity changes end to end: real wagate-worker processes against a real fakewa whose mock phones speak real
 * Signal, with this test as their supervisor (msg_send_harness.c's in-memory store, which applies
 * MessageStore.forget_users as lifecycle_msg.c does). A's worker and B's phone talk both ways; B's phone
 * reinstalls (a new identity, <notification type="encrypt"><identity/> to A's worker); then:
 *  - every stored session and identity of B's user is gone (B's phone and B's companion alike), in a
 *    MessageStore naming B in forget_users;
 *  - A's next message reaches B's new phone on the first try (a fresh pkmsg from a new bundle: the old
 *    session would be undecryptable there and show up in the phone's list before any resend);
 *  - what B's new phone sends next decrypts on A's side, and the new identity is stored.
 * Needs WAGATE_WORKER_BIN and WAGATE_FAKEWA_BIN. */
#include "msg_send_harness.h"

#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define PHONE_A		"15550002001"
#define PHONE_B		"15550002002"
#define KIND_SESSION	WAGATE__IPC__SIGNAL_KIND__SIGNAL_KIND_SESSION
#define KIND_IDENTITY	WAGATE__IPC__SIGNAL_KIND__SIGNAL_KIND_IDENTITY

static struct inst ia = { .name = "ia", .phone = PHONE_A }, ib = { .name = "ib", .phone = PHONE_B };
static struct inst *const both[] = { &ia, &ib };

/* SendMessage of a text from in to to; the SendResult must be ok. */
static void
send_ok(struct inst *in, const char *to, const char *text, const char *id)
{
	IpcEnvelope *r = await_reply(in, send_text(in, to, text, id));

	if (!r->send_result->ok)
		fail_msg("send %s: %d %s", id, r->send_result->code, r->send_result->error);
	ipc_envelope_free(r);
}

/* How many entries phone's received list has for message id, and whether one is a text with text. */
static int
phone_entries(const char *phone, const char *id, const char *text, int *as_text)
{
	char path[128], body[65536], needle[512];
	const char *p;
	int n = 0;

	snprintf(path, sizeof(path), "/phone/received?account=%s", phone);
	assert_int_equal(http("GET", path, NULL, body, sizeof(body)), 200);
	snprintf(needle, sizeof(needle), "\"id\":\"%s\"", id);
	for (p = body; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	snprintf(needle, sizeof(needle), "\"id\":\"%s\",\"type\":\"text\",\"text\":\"%s\"", id, text);
	*as_text = strstr(body, needle) != NULL;
	return n;
}

struct want_phone {
	const char *phone, *id, *text;
};

static int
phone_came(void *arg)
{
	struct want_phone *w = arg;
	int as_text;

	return phone_entries(w->phone, w->id, w->text, &as_text) > 0;
}

/* The phone of account sends text to A's user; the message id it used into id. */
static void
phone_send(const char *account, const char *text, char *id, size_t idlen)
{
	char path[256], body[512], *p, *q;

	snprintf(path, sizeof(path), "/phone/send?account=%s&to=%s%%40s.whatsapp.net&text=%s", account, PHONE_A,
	    text);
	assert_int_equal(http("POST", path, "", body, sizeof(body)), 200);
	assert_non_null(p = strstr(body, "\"id\":\""));
	p += 6;
	assert_non_null(q = strchr(p, '"'));
	snprintf(id, idlen, "%.*s", (int)(q - p), p);
}

static int
forgot_came(void *arg)
{
	return ((struct inst *)arg)->forgets > 0;
}

/* How many SESSION and IDENTITY records of B's user (any device) A's store holds. */
static int
b_records(void)
{
	int n = 0;

	for (const struct sigdb_row *r = ia.recs; r != NULL; r = r->next)
		if ((r->kind == KIND_SESSION || r->kind == KIND_IDENTITY) &&
		    strncmp(r->address, PHONE_B ":", strlen(PHONE_B) + 1) == 0)
			n++;
	return n;
}

static int
setup(void **state)
{
	(void)state;
	fakewa_start();
	if (!inst_open_all(both, 2, 3 * WAIT_MS))	/* valgrind on a loaded machine */
		fail_msg("the workers did not pair and open (a=%d b=%d)", ia.open, ib.open);
	return 0;
}

static void
test_reinstall(void **state)
{
	struct want_phone wp = { PHONE_B, "3EB0IDENTBEFORE1", "before" };
	struct want_stored ws = { &ia, NULL, 0 };
	char id[64], body[256];
	int n, as_text;

	(void)state;
	/* they talk: sessions with B's phone (device 0) both ways, and with B's companion */
	send_ok(&ia, PHONE_B "@s.whatsapp.net", "before", wp.id);
	if (!pump(phone_came, &wp, WAIT_MS))
		fail_msg("B's phone did not get the first message");
	phone_send(PHONE_B, "hello", id, sizeof(id));
	ws.id = id;
	if (!pump(stored_came, &ws, WAIT_MS))
		fail_msg("A's worker did not store B's first message");
	assert_non_null(inst_rec(&ia, KIND_SESSION, PHONE_B ":0"));
	assert_non_null(inst_rec(&ia, KIND_IDENTITY, PHONE_B ":0"));
	assert_true(b_records() >= 3);		/* + B's companion's session */

	/* B's phone reinstalls: A's worker hears of it and drops every record of B's user in its store */
	assert_int_equal(http("POST", "/phone/reinstall?account=" PHONE_B, "", body, sizeof(body)), 200);
	assert_null(strstr(body, "\"notified\":0"));
	if (!pump(forgot_came, &ia, WAIT_MS))
		fail_msg("A's worker stored no forget_users");
	assert_string_equal(ia.forgot, PHONE_B "@s.whatsapp.net");
	assert_int_equal(b_records(), 0);

	/* A's next message: decrypted by the new phone on its first delivery (no undecryptable entry first) */
	wp.id = "3EB0IDENTAFTER01";
	wp.text = "after";
	send_ok(&ia, PHONE_B "@s.whatsapp.net", "after", wp.id);
	if (!pump(phone_came, &wp, WAIT_MS))
		fail_msg("B's new phone got nothing");
	n = phone_entries(PHONE_B, wp.id, "after", &as_text);
	if (n != 1 || !as_text)
		fail_msg("B's new phone: %d entries for the message, text %d (the old session was used)", n, as_text);
	assert_non_null(inst_rec(&ia, KIND_SESSION, PHONE_B ":0"));

	/* and what the new phone sends decrypts on our side, its new identity stored */
	phone_send(PHONE_B, "reply", id, sizeof(id));
	ws.id = id;
	if (!pump(stored_came, &ws, WAIT_MS))
		fail_msg("A's worker did not store B's message after the reinstall");
	assert_non_null(inst_rec(&ia, KIND_IDENTITY, PHONE_B ":0"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reinstall),
	};

	return cmocka_run_group_tests(tests, setup, harness_teardown);
}
