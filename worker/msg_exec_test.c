/* The Signal executor (msg_exec.c) with the real Signal layer and a scripted supervisor in place of
 * worker_call.c: batching, NEED answered by SignalLoad (prekey records converted), one MessageStore per batch,
 * committed only after the StoreAck, a FAILED job failing alone while the others run again, a failed store
 * clearing the cache, the NEED loop guard, freeing with jobs queued, a batch with more rows than a
 * MessageStore takes committing them in rows-only parts before the last store, and the pause while the
 * database is away. */
#include "msg.h"
#include "ipc.h"
#include "msg_identity.h"
#include "session_int.h"
#include "creds.h"
#include "wa_prekey.h"
#include "worker.h"
#include "msg_sup_testlib.h"
#include "xmalloc.h"

#include <event2/event.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define NPREKEYS	4
#define ALICE		"15550001111:0"

/* --- the fake supervisor (msg_sup_testlib.h), keyed by the IPC's SignalKey --- */

/* The row of key k. */
static struct sigdb_row **
db_find(const Wagate__Ipc__SignalKey *k)
{
	return sigdb_find(&sup.db, (int)k->kind, k->address, k->group, k->prekey_id);
}

/* Write or (data NULL) delete the row of key k. */
static void
db_set(const Wagate__Ipc__SignalKey *k, const uint8_t *data, size_t len)
{
	sigdb_set(&sup.db, (int)k->kind, k->address, k->group, k->prekey_id, data, len);
}

/* Run the loop until nothing is pending in it. */
static void
spin(void)
{
	int i;

	for (i = 0; i < 10; i++)
		event_base_loop(sup.base, EVLOOP_NONBLOCK);
}

/* --- the parties --- */

static struct session sess;
static struct wa_signal *alice;

/* alice starts a session with us on prekey id. */
static void
alice_build(uint32_t id)
{
	struct wa_signal_bundle b;
	char err[256];

	sup_own_bundle(sess.creds, id, &b);
	assert_int_equal(PEER_RUN(alice, wa_signal_session_build(alice, "1:1", &b, err, sizeof(err))),
	    WA_SIGNAL_DONE);
}

struct ct {
	enum wa_signal_type type;
	uint8_t *ct;
	size_t len;
};

static struct ct
alice_send(const char *text)
{
	struct ct c;
	char err[256];

	assert_int_equal(PEER_RUN(alice, wa_signal_encrypt(alice, "1:1", (const uint8_t *)text, strlen(text),
	    &c.type, &c.ct, &c.len, err, sizeof(err))), WA_SIGNAL_DONE);
	return c;
}

/* --- jobs --- */

struct tjob {
	struct ct c;
	const char *want;	/* expected plaintext; NULL: expect a failure */
	int done;		/* decrypted in batch bid */
	uint64_t bid;
	int steps, committed, ok, stopping;
	int sig_error;		/* the Signal error of a failed decrypt (an answer, not FAILED) */
	int force_fail;		/* return FAILED instead */
	int force_loop;		/* clear the cache before every run: the same NEED forever */
	char error[128];
};

static int
tjob_step(struct session *s, void *arg, struct wa_signal *sig, struct msg_batch *b)
{
	struct tjob *j = arg;
	Wagate__Ipc__StoredMessage m = WAGATE__IPC__STORED_MESSAGE__INIT;
	uint8_t *pt = NULL;
	size_t ptlen = 0;
	char err[256], id[32];
	int rc;

	(void)s;
	j->steps++;
	if (j->force_fail)
		return WA_SIGNAL_FAILED;
	if (j->done && j->bid == msg_batch_id(b))
		return WA_SIGNAL_DONE;
	j->done = 0;
	if (j->force_loop)
		wa_signal_clear(sig);
	rc = wa_signal_decrypt(sig, ALICE, j->c.type, j->c.ct, j->c.len, &pt, &ptlen, err, sizeof(err));
	if (rc == WA_SIGNAL_NEED)
		return rc;
	j->done = 1;
	j->bid = msg_batch_id(b);
	if (rc != WA_SIGNAL_DONE) {
		j->sig_error = wa_signal_error(sig);
		return WA_SIGNAL_DONE;
	}
	snprintf(id, sizeof(id), "M%p", (void *)j);
	m.id = id;
	m.remote_jid = (char *)"15550001111@s.whatsapp.net";
	m.message.data = pt;
	m.message.len = ptlen;
	msg_batch_add_message(b, &m);
	msg_batch_add_lid(b, "999@lid", "15550001111@s.whatsapp.net");
	free(pt);
	return WA_SIGNAL_DONE;
}

static void
tjob_committed(struct session *s, void *arg, int ok, const char *error, int stopping)
{
	struct tjob *j = arg;

	(void)s;
	j->committed++;
	j->ok = ok;
	j->stopping = stopping;
	snprintf(j->error, sizeof(j->error), "%s", error != NULL ? error : "");
}

static const struct msg_job_ops tjob_ops = { tjob_step, tjob_committed, 0, 0 };
/* The same, as a stanza WhatsApp sent: it waits through a database outage (msg.h retry). */
static const struct msg_job_ops tjob_retry_ops = { tjob_step, tjob_committed, 0, 1 };

/* The MessageStore holds a message with this plaintext. */
static int
store_has(const char *text)
{
	size_t i;

	for (i = 0; sup.store != NULL && i < sup.store->n_messages; i++)
		if (sup.store->messages[i]->message.len == strlen(text) &&
		    memcmp(sup.store->messages[i]->message.data, text, strlen(text)) == 0)
			return 1;
	return 0;
}

static int
setup(void **state)
{
	(void)state;
	sup_init();
	memset(&sess, 0, sizeof(sess));
	sess.creds = creds_generate();
	assert_non_null(sess.creds);
	sess.exec = msg_exec_new(&sess);
	assert_non_null(sess.exec);
	alice = peer_new();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	msg_exec_free(sess.exec);
	creds_free(sess.creds);
	wa_signal_free(alice);
	sup_free();
	return 0;
}

/* Three messages in one loop turn: one SignalLoad (session, identity, prekey), one MessageStore with all
 * three rows and the ratchet, and committed only after the StoreAck. */
static void
test_batch(void **state)
{
	struct tjob j[3];
	const char *texts[3] = { "one", "two", "three" };
	Wagate__Ipc__SignalKey pk = WAGATE__IPC__SIGNAL_KEY__INIT;
	int i, saw_prekey = 0;
	size_t k;

	(void)state;
	alice_build(7);
	memset(j, 0, sizeof(j));
	for (i = 0; i < 3; i++) {
		j[i].c = alice_send(texts[i]);
		j[i].want = texts[i];
		assert_int_equal(msg_exec_submit(&sess, &tjob_ops, &j[i]), 0);
	}
	assert_int_equal(j[0].c.type, WA_SIGNAL_PKMSG);
	assert_int_equal(j[0].steps, 0);	/* nothing runs in the submitting turn */
	spin();
	assert_non_null(sup.load_cb);
	for (k = 0; k < sup.nload; k++)
		saw_prekey |= sup.load_keys[k]->kind == WAGATE__IPC__SIGNAL_KIND__SIGNAL_KIND_PREKEY &&
		    sup.load_keys[k]->prekey_id == 7;
	assert_true(saw_prekey);
	sup_answer_load(1);
	spin();
	assert_null(sup.load_cb);
	assert_int_equal(sup.nloads, 1);
	assert_int_equal(sup.nstores, 1);
	assert_int_equal(sup.store->n_messages, 3);
	assert_true(store_has("one") && store_has("two") && store_has("three"));
	assert_int_equal(sup.store->n_lids, 1);		/* the same mapping three times is one row */
	assert_true(sup.store->n_changes >= 3);		/* session, identity, the used prekey */
	for (k = 0; k < sup.store->n_changes; k++)
		if (sup.store->changes[k]->key->kind == WAGATE__IPC__SIGNAL_KIND__SIGNAL_KIND_PREKEY)
			assert_true(sup.store->changes[k]->deleted);
	/* held ack: nobody has been told */
	spin();
	for (i = 0; i < 3; i++)
		assert_int_equal(j[i].committed, 0);
	sup_answer_store(1);
	for (i = 0; i < 3; i++) {
		assert_int_equal(j[i].committed, 1);
		assert_int_equal(j[i].ok, 1);
		free(j[i].c.ct);
	}
	pk.kind = WAGATE__IPC__SIGNAL_KIND__SIGNAL_KIND_PREKEY;
	pk.prekey_id = 7;
	assert_null(*db_find(&pk));		/* the one-time prekey was deleted */
	/* the next message runs from the cache: no load */
	j[0].c = alice_send("four");
	memset(&j[1], 0, sizeof(j[1]));
	j[1].c = j[0].c;
	assert_int_equal(msg_exec_submit(&sess, &tjob_ops, &j[1]), 0);
	spin();
	assert_int_equal(sup.nloads, 1);
	assert_int_equal(sup.nstores, 2);
	assert_true(store_has("four"));
	sup_answer_store(1);
	assert_int_equal(j[1].ok, 1);
	free(j[1].c.ct);
}

/* The middle job FAILS: it alone hears of it at once; the others run again from scratch as a fresh batch. */
static void
test_failed_job(void **state)
{
	struct tjob j[3];
	int i;

	(void)state;
	alice_build(8);
	memset(j, 0, sizeof(j));
	for (i = 0; i < 3; i++)
		j[i].c = alice_send(i == 0 ? "a" : i == 1 ? "b" : "c");
	j[1].force_fail = 1;
	for (i = 0; i < 3; i++)
		assert_int_equal(msg_exec_submit(&sess, &tjob_ops, &j[i]), 0);
	spin();
	sup_answer_load(1);
	/* j[0] decrypted, j[1] failed: the cache was cleared, so the fresh batch loads again */
	assert_int_equal(j[1].committed, 1);
	assert_int_equal(j[1].ok, 0);
	assert_int_equal(j[0].committed, 0);
	spin();
	assert_non_null(sup.load_cb);
	assert_int_equal(sup.nloads, 2);
	sup_answer_load(1);
	spin();
	assert_int_equal(sup.nstores, 1);
	assert_int_equal(sup.store->n_messages, 2);
	assert_true(store_has("a") && store_has("c") && !store_has("b"));
	assert_int_equal(j[0].steps, 4);	/* NEED, DONE; then NEED, DONE again in the fresh batch */
	sup_answer_store(1);
	assert_int_equal(j[0].ok, 1);
	assert_int_equal(j[2].ok, 1);
	assert_int_equal(j[1].committed, 1);
	for (i = 0; i < 3; i++)
		free(j[i].c.ct);
}

/* A failed MessageStore: every job hears ok=0, the cache is dropped (so the next message loads the database
 * state again, which never saw the failed batch), and a redelivery decrypts from there. */
static void
test_store_failed(void **state)
{
	struct tjob j, again;
	size_t rows;

	(void)state;
	alice_build(9);
	memset(&j, 0, sizeof(j));
	j.c = alice_send("lost");
	assert_int_equal(msg_exec_submit(&sess, &tjob_ops, &j), 0);
	spin();
	sup_answer_load(1);
	rows = sigdb_count(sup.db);
	sup_answer_store(0);
	assert_int_equal(j.committed, 1);
	assert_int_equal(j.ok, 0);
	assert_string_equal(j.error, "commit failed");
	assert_int_equal(sigdb_count(sup.db), rows);
	/* WhatsApp delivers it again: the executor loads again and decrypts it (the prekey is still there) */
	memset(&again, 0, sizeof(again));
	again.c = j.c;
	assert_int_equal(msg_exec_submit(&sess, &tjob_ops, &again), 0);
	spin();
	assert_non_null(sup.load_cb);
	assert_int_equal(sup.nloads, 2);
	sup_answer_load(1);
	spin();
	assert_true(store_has("lost"));
	sup_answer_store(1);
	assert_int_equal(again.ok, 1);
	assert_int_equal(again.sig_error, 0);
	free(j.c.ct);
}

/* A step that needs the same records after they were loaded has failed (no endless loop); a failed
 * SignalLoad fails its job; a job that meets a Signal error (an answer) still commits. */
static void
test_need_loop_and_load_error(void **state)
{
	struct tjob loop, lerr, bad;

	(void)state;
	alice_build(10);
	memset(&loop, 0, sizeof(loop));
	loop.c = alice_send("x");
	loop.force_loop = 1;
	assert_int_equal(msg_exec_submit(&sess, &tjob_ops, &loop), 0);
	spin();
	sup_answer_load(1);
	assert_int_equal(loop.committed, 1);
	assert_int_equal(loop.ok, 0);
	assert_non_null(strstr(loop.error, "needed again"));
	assert_null(sup.load_cb);

	memset(&lerr, 0, sizeof(lerr));
	lerr.c = loop.c;
	assert_int_equal(msg_exec_submit(&sess, &tjob_ops, &lerr), 0);
	spin();
	sup_answer_load(0);
	assert_int_equal(lerr.committed, 1);
	assert_int_equal(lerr.ok, 0);
	assert_string_equal(lerr.error, "database down");

	/* garbage ciphertext: the Signal layer's answer is recorded, the job commits (nothing to store) */
	memset(&bad, 0, sizeof(bad));
	bad.c = loop.c;
	bad.c.type = WA_SIGNAL_MSG;
	assert_int_equal(msg_exec_submit(&sess, &tjob_ops, &bad), 0);
	spin();
	if (sup.load_cb != NULL)
		sup_answer_load(1);
	spin();
	assert_int_equal(bad.committed, 1);
	assert_int_equal(bad.ok, 1);
	assert_int_not_equal(bad.sig_error, 0);
	free(loop.c.ct);
}

/* Freeing the executor tells every queued and running job (stopping), and a refused request fails the job. */
static void
test_free_and_refused(void **state)
{
	struct tjob a, b;

	(void)state;
	alice_build(11);
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.c = alice_send("p");
	b.c = alice_send("q");
	sup.refuse_requests = 1;
	assert_int_equal(msg_exec_submit(&sess, &tjob_ops, &a), 0);
	spin();
	assert_int_equal(a.committed, 1);
	assert_int_equal(a.ok, 0);
	sup.refuse_requests = 0;
	free(a.c.ct);
	memset(&a, 0, sizeof(a));
	a.c = b.c;
	assert_int_equal(msg_exec_submit(&sess, &tjob_ops, &a), 0);
	spin();
	assert_non_null(sup.load_cb);
	assert_int_equal(msg_exec_submit(&sess, &tjob_ops, &b), 0);
	msg_exec_free(sess.exec);
	sess.exec = NULL;
	sup.load_cb = NULL;
	assert_int_equal(a.committed, 1);
	assert_int_equal(a.stopping, 1);
	assert_int_equal(b.committed, 1);
	assert_int_equal(b.stopping, 1);
	assert_int_equal(msg_exec_submit(&sess, &tjob_ops, &b), -1);
	free(b.c.ct);
}

/* An identity change and a probe in one batch: the forgotten user's records are dropped from the cache, a NEED
 * for them is answered as absent without asking the supervisor (its rows are deleted only by this batch's
 * COMMIT), another user's still loads, and the MessageStore names the user in forget_users. */
struct fjob {
	int forget, has_alice, has_other, phase;
};

/* forget: drop alice and name her in the batch (twice: once in the store); probe: alice's session, then
 * another user's. */
static int
fjob_step(struct session *s, void *arg, struct wa_signal *sig, struct msg_batch *b)
{
	struct fjob *j = arg;
	char err[256];
	int rc;

	(void)s;
	if (j->forget) {
		assert_int_equal(wa_signal_forget_user(sig, "15550001111"), 0);
		assert_int_equal(msg_batch_add_forget(b, "15550001111@s.whatsapp.net", "15550001111"), 0);
		assert_int_equal(msg_batch_add_forget(b, "15550001111@s.whatsapp.net", "15550001111"), 0);
		return WA_SIGNAL_DONE;
	}
	if (j->phase == 0) {
		if ((rc = wa_signal_has_session(sig, ALICE, &j->has_alice, err, sizeof(err))) != WA_SIGNAL_DONE)
			return rc;
		j->phase = 1;
	}
	return wa_signal_has_session(sig, "15550002222:0", &j->has_other, err, sizeof(err));
}

/* The forget and probe jobs' batch commits. */
static void
fjob_committed(struct session *s, void *arg, int ok, const char *error, int stopping)
{
	(void)s, (void)arg, (void)error, (void)stopping;
	assert_true(ok);
}

static const struct msg_job_ops fjob_ops = { fjob_step, fjob_committed, 0, 0 };

static void
test_forget_user(void **state)
{
	struct tjob j;
	struct fjob f = { 1, -1, -1, 0 }, probe = { 0, -1, -1, 0 };
	Wagate__Ipc__SignalKey other = WAGATE__IPC__SIGNAL_KEY__INIT;
	int loads;

	(void)state;
	/* alice's session is committed and cached */
	alice_build(9);
	memset(&j, 0, sizeof(j));
	j.c = alice_send("before");
	j.want = "before";
	assert_int_equal(msg_exec_submit(&sess, &tjob_ops, &j), 0);
	spin();
	sup_answer_load(1);
	spin();
	sup_answer_store(1);
	spin();
	assert_int_equal(j.ok, 1);
	free(j.c.ct);
	other.kind = WAGATE__IPC__SIGNAL_KIND__SIGNAL_KIND_SESSION;
	other.address = (char *)"15550002222:0";
	other.group = (char *)"";
	db_set(&other, (const uint8_t *)"not a record", 12);

	loads = sup.nloads;
	assert_int_equal(msg_exec_submit(&sess, &fjob_ops, &f), 0);
	assert_int_equal(msg_exec_submit(&sess, &fjob_ops, &probe), 0);
	spin();
	/* alice: absent without a load, although her rows are still in the database; the other user: loaded */
	assert_int_equal(probe.has_alice, 0);
	assert_non_null(sup.load_cb);
	assert_int_equal(sup.nloads, loads + 1);
	assert_int_equal(sup.nload, 1);
	assert_string_equal(sup.load_keys[0]->address, "15550002222:0");
	sup_answer_load(1);
	spin();
	assert_int_equal(probe.has_other, 1);
	assert_non_null(sup.store_cb);
	assert_int_equal(sup.store->n_forget_users, 1);
	assert_string_equal(sup.store->forget_users[0], "15550001111@s.whatsapp.net");
	assert_int_equal(sup.store->n_changes, 0);
	sup_answer_store(1);
	spin();
}

/* --- a job with more rows than one MessageStore takes (a history sync chunk) --- */

struct bjob {
	struct tjob t;		/* decrypts alice's message (the ratchet step), as tjob */
	size_t nextra;		/* then adds this many messages */
	size_t extra_len;	/* of this many bytes each */
};

static int
bjob_step(struct session *s, void *arg, struct wa_signal *sig, struct msg_batch *b)
{
	struct bjob *j = arg;
	Wagate__Ipc__StoredMessage m = WAGATE__IPC__STORED_MESSAGE__INIT;
	uint8_t *body = xcalloc(1, j->extra_len);
	char id[32];
	size_t i;
	int rc;

	if ((rc = tjob_step(s, &j->t, sig, b)) != WA_SIGNAL_DONE) {
		free(body);
		return rc;
	}
	m.remote_jid = (char *)"15550001111@s.whatsapp.net";
	m.message.data = body;
	m.message.len = j->extra_len;
	for (i = 0; i < j->nextra; i++) {
		snprintf(id, sizeof(id), "H%zu", i);
		m.id = id;
		msg_batch_add_message(b, &m);
	}
	free(body);
	return WA_SIGNAL_DONE;
}

static void
bjob_committed(struct session *s, void *arg, int ok, const char *error, int stopping)
{
	tjob_committed(s, &((struct bjob *)arg)->t, ok, error, stopping);
}

static const struct msg_job_ops bjob_ops = { bjob_step, bjob_committed, 1, 0 };

/* Submit j (alice's text plus its extra rows) and run it up to its first MessageStore. */
static void
bjob_run(struct bjob *j, size_t nextra, size_t extra_len)
{
	memset(j, 0, sizeof(*j));
	alice_build(9);
	j->t.c = alice_send("chunk");
	j->nextra = nextra;
	j->extra_len = extra_len;
	assert_int_equal(msg_exec_submit(&sess, &bjob_ops, j), 0);
	spin();
	sup_answer_load(1);
	spin();
	assert_non_null(sup.store_cb);
}

/* Past MSG_STORE_PART_MSGS messages: rows-only MessageStores of that many go first, each after the ack of the
 * one before; the last carries the rest, the decrypted message and the ratchet step; the job hears once, after
 * the last ack. */
static void
test_parts(void **state)
{
	struct bjob j;
	char want[32];

	(void)state;
	bjob_run(&j, 2 * MSG_STORE_PART_MSGS + 100, 16);
	assert_int_equal(sup.nstores, 1);
	assert_int_equal(sup.store->n_messages, MSG_STORE_PART_MSGS);
	assert_int_equal(sup.store->n_changes, 0);
	assert_int_equal(sup.store->n_lids, 0);
	/* the rows in their order: the decrypted message first, then H0... */
	assert_int_equal(sup.store->messages[0]->message.len, 5);
	assert_string_equal(sup.store->messages[1]->id, "H0");
	sup_answer_store(1);
	spin();
	assert_int_equal(j.t.committed, 0);
	assert_int_equal(sup.nstores, 2);
	assert_int_equal(sup.store->n_messages, MSG_STORE_PART_MSGS);
	assert_int_equal(sup.store->n_changes, 0);
	snprintf(want, sizeof(want), "H%d", MSG_STORE_PART_MSGS - 1);
	assert_string_equal(sup.store->messages[0]->id, want);
	sup_answer_store(1);
	spin();
	assert_int_equal(j.t.committed, 0);
	assert_int_equal(sup.nstores, 3);
	assert_int_equal(sup.store->n_messages, 101);
	assert_true(sup.store->n_changes > 0);
	assert_int_equal(sup.store->n_lids, 1);
	assert_string_equal(sup.store->messages[100]->id, "H4195");
	sup_answer_store(1);
	spin();
	assert_int_equal(j.t.committed, 1);
	assert_int_equal(j.t.ok, 1);
	free(j.t.c.ct);
}

/* A part that fails fails the job: nothing after it is sent, the ratchet step is not committed, the cache is
 * cleared. Parts are also cut by size: 2 MB rows go four to a store. */
static void
test_parts_failed_and_bytes(void **state)
{
	struct bjob j;
	size_t rows;

	(void)state;
	bjob_run(&j, MSG_STORE_PART_MSGS + 1, 16);
	rows = sigdb_count(sup.db);
	sup_answer_store(1);
	spin();
	assert_int_equal(sup.nstores, 2);
	sup_answer_store(0);
	spin();
	assert_int_equal(j.t.committed, 1);
	assert_int_equal(j.t.ok, 0);
	assert_string_equal(j.t.error, "commit failed");
	assert_int_equal(sup.nstores, 2);
	assert_null(sup.store_cb);
	assert_int_equal(sigdb_count(sup.db), rows);
	free(j.t.c.ct);

	/* by size: 5 rows of 2 MB, 8 MB to a part */
	bjob_run(&j, 5, 2u * 1024 * 1024);
	assert_int_equal(sup.store->n_messages, 4);
	assert_int_equal(sup.store->n_changes, 0);
	sup_answer_store(1);
	spin();
	assert_int_equal(sup.store->n_messages, 2);
	assert_true(sup.store->n_changes > 0);
	sup_answer_store(1);
	spin();
	assert_int_equal(j.t.ok, 1);
	free(j.t.c.ct);
}

/* Run the loop (blocking: a pause is a timer) until a SignalLoad or MessageStore is in flight, for at most 10 s. */
static void
spin_until_request(void)
{
	struct timeval cap = { 10, 0 };

	(void)event_base_loopexit(sup.base, &cap);
	while (sup.load_cb == NULL && sup.store_cb == NULL && !event_base_got_exit(sup.base))
		event_base_loop(sup.base, EVLOOP_ONCE);
	assert_false(event_base_got_exit(sup.base));
	event_base_loopbreak(sup.base);
	spin();
}

/* The database away (IPC_ERR_DB_UNAVAILABLE): the stanzas WhatsApp sent wait and run again, in order, once it is
 * back; a job someone waits on fails at once, and a new one of those tries again at once. A failed load and a
 * failed store both pause; the pause ends by itself too. */
static void
test_database_away(void **state)
{
	struct tjob r1, api, r2, api2, r3;

	(void)state;
	alice_build(11);
	memset(&r1, 0, sizeof(r1));
	memset(&api, 0, sizeof(api));
	memset(&r2, 0, sizeof(r2));
	memset(&api2, 0, sizeof(api2));
	memset(&r3, 0, sizeof(r3));
	r1.c = alice_send("kept 1");
	api.c = alice_send("refused");
	r2.c = alice_send("kept 2");
	assert_int_equal(msg_exec_submit(&sess, &tjob_retry_ops, &r1), 0);
	assert_int_equal(msg_exec_submit(&sess, &tjob_ops, &api), 0);
	assert_int_equal(msg_exec_submit(&sess, &tjob_retry_ops, &r2), 0);
	spin();
	sup.fail_error = IPC_ERR_DB_UNAVAILABLE;
	sup_answer_load(0);
	spin();
	assert_int_equal(api.committed, 1);
	assert_int_equal(api.ok, 0);
	assert_string_equal(api.error, IPC_ERR_DB_UNAVAILABLE);
	assert_int_equal(r1.committed + r2.committed, 0);
	assert_null(sup.load_cb);		/* paused */
	assert_null(sup.store_cb);
	/* a job someone waits on: the pause ends now; the database is back */
	sup.fail_error = NULL;
	api2.c = api.c;
	assert_int_equal(msg_exec_submit(&sess, &tjob_ops, &api2), 0);
	spin();
	assert_non_null(sup.load_cb);
	sup_answer_load(1);
	spin();
	assert_true(store_has("kept 1"));
	assert_true(store_has("kept 2"));
	assert_true(store_has("refused"));
	/* in their order: the stanzas before the job that ended the pause */
	assert_int_equal(sup.store->messages[0]->message.len, 6);
	assert_memory_equal(sup.store->messages[0]->message.data, "kept 1", 6);
	sup_answer_store(1);
	assert_int_equal(r1.ok + r2.ok + api2.ok, 3);
	assert_int_equal(r1.committed + r2.committed + api2.committed, 3);

	/* the MessageStore fails: the stanza waits for the pause to end by itself, and runs again */
	r3.c = alice_send("kept 3");
	assert_int_equal(msg_exec_submit(&sess, &tjob_retry_ops, &r3), 0);
	spin();
	if (sup.load_cb != NULL)
		sup_answer_load(1);
	spin();
	assert_true(store_has("kept 3"));
	sup.fail_error = IPC_ERR_DB_UNAVAILABLE;
	sup_answer_store(0);
	sup.fail_error = NULL;
	assert_int_equal(r3.committed, 0);
	spin_until_request();
	if (sup.load_cb != NULL)
		sup_answer_load(1);
	spin();
	assert_true(store_has("kept 3"));
	sup_answer_store(1);
	assert_int_equal(r3.committed, 1);
	assert_int_equal(r3.ok, 1);
	assert_int_equal(r3.sig_error, 0);
	free(r1.c.ct);
	free(api.c.ct);
	free(r2.c.ct);
	free(r3.c.ct);
}

/* DatabaseBack (msg_exec_db_back) ends a pause at once, for a failed load and for a failed store alike; it does
 * nothing to an executor that is not paused. The pause's own timer (1 s) is never waited for: spin() polls. */
static void
test_database_back(void **state)
{
	struct tjob r1, r2;

	(void)state;
	alice_build(12);
	memset(&r1, 0, sizeof(r1));
	memset(&r2, 0, sizeof(r2));
	msg_exec_db_back(&sess);		/* idle: nothing to run */
	spin();
	assert_null(sup.load_cb);
	assert_null(sup.store_cb);
	r1.c = alice_send("back 1");
	assert_int_equal(msg_exec_submit(&sess, &tjob_retry_ops, &r1), 0);
	spin();
	msg_exec_db_back(&sess);		/* loading: the load stays the one in flight */
	sup.fail_error = IPC_ERR_DB_UNAVAILABLE;
	sup_answer_load(0);
	sup.fail_error = NULL;
	spin();
	assert_null(sup.load_cb);		/* paused */
	msg_exec_db_back(&sess);
	spin();
	assert_non_null(sup.load_cb);
	sup_answer_load(1);
	spin();
	assert_true(store_has("back 1"));
	sup.fail_error = IPC_ERR_DB_UNAVAILABLE;
	sup_answer_store(0);
	sup.fail_error = NULL;
	spin();
	assert_null(sup.load_cb);		/* paused again */
	assert_null(sup.store_cb);
	assert_int_equal(r1.committed, 0);
	r2.c = alice_send("back 2");
	assert_int_equal(msg_exec_submit(&sess, &tjob_retry_ops, &r2), 0);
	spin();
	assert_null(sup.load_cb);		/* a stanza does not end the pause */
	assert_null(sup.store_cb);
	msg_exec_db_back(&sess);
	spin();
	if (sup.load_cb != NULL)
		sup_answer_load(1);
	spin();
	assert_true(store_has("back 1"));
	assert_true(store_has("back 2"));
	sup_answer_store(1);
	assert_int_equal(r1.committed + r2.committed, 2);
	assert_int_equal(r1.ok + r2.ok, 2);
	free(r1.c.ct);
	free(r2.c.ct);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_job, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_failed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_need_loop_and_load_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_and_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forget_user, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parts_failed_and_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_database_away, setup, teardown),
		cmocka_unit_test_setup_teardown(test_database_back, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
