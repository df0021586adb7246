/* msg_recv.c's decryption and rows with the real executor and Signal layer, and a scripted supervisor in place
 * of worker_call.c (no connection: what goes back to WhatsApp is msg-worker's business, with fakewa). Covers
 * what fakewa's phone cannot send: a group stanza whose pkmsg carries the sender key distribution for the skmsg
 * after it (NEED answered in the middle of a stanza), later skmsgs from the cache and, after a failed commit,
 * from the database; LID-addressed senders (Signal address "user_1:device", the LID <-> PN mapping); and
 * stanzas refused before any decryption. */
#include "msg.h"
#include "session_int.h"
#include "creds.h"
#include "wa_node.h"
#include "wa_prekey.h"
#include "worker.h"
#include "msg_sup_testlib.h"

#include "e2e.pb-c.h"
#include "history.pb-c.h"

#include <event2/event.h>
#include <zlib.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define GROUP		"120363000000000001@g.us"
#define ALICE_PN	"15550002222"
#define ALICE_LID	"99887766"
#define OWN_JID		"15550000001:1@s.whatsapp.net"

/* --- the scripted supervisor (msg_sup_testlib.h), and what else msg_recv.c calls --- */

int
worker_request_store(struct worker *w, const unsigned char *creds, size_t creds_len,
    const struct worker_prekey *prekeys, size_t nprekeys, uint32_t uploaded_upto, worker_reply_cb cb, void *arg)
{
	(void)w, (void)creds, (void)creds_len, (void)prekeys, (void)nprekeys, (void)uploaded_upto, (void)cb, (void)arg;
	fail_msg("no StoreBatch expected here");
	return -1;
}

void
session_send_ack(struct session *s, const struct wa_node *n)
{
	(void)s, (void)n;
}

/* msg_send.c is not linked here: a retry receipt for our message is only routed (msg-send-worker tests it). */
void
msg_send_on_retry_receipt(struct session *s, const struct wa_node *n)
{
	(void)s, (void)n;
}

/* Run the loop, answering every SignalLoad from the database, until a MessageStore waits (1) or nothing
 * happens any more (0). */
static int
run_until_store(void)
{
	int i;

	for (i = 0; i < 50; i++) {
		event_base_loop(sup.base, EVLOOP_NONBLOCK);
		if (sup.store_cb != NULL)
			return 1;
		if (sup.load_cb != NULL)
			sup_answer_load(1);
	}
	return 0;
}

/* --- our session and alice --- */

static struct session sess;
static struct wa_signal *alice;

/* alice starts a session with our device 1 on a prekey stored in our database. */
static void
alice_session(uint32_t id)
{
	struct wa_signal_bundle b;
	char err[256];

	sup_own_bundle(sess.creds, id, &b);
	PEER_RUN(alice, wa_signal_session_build(alice, "15550000001:1", &b, err, sizeof(err)));
}

/* An <enc> child with a padded plaintext encrypted pairwise (to us) or with alice's sender key. */
static void
add_enc(struct wa_node *m, const uint8_t *pt, size_t ptlen, int group)
{
	struct wa_node *e = wa_node_add_child(m, wa_node_new("enc"));
	enum wa_signal_type t = WA_SIGNAL_MSG;
	uint8_t *padded, *ct;
	size_t plen, ctlen;
	char err[256];

	assert_int_equal(wa_signal_pad(pt, ptlen, &padded, &plen), 0);
	if (group)
		PEER_RUN(alice, wa_signal_group_encrypt(alice, GROUP, ALICE_PN ":0", padded, plen, &ct, &ctlen, err,
		    sizeof(err)));
	else
		PEER_RUN(alice, wa_signal_encrypt(alice, "15550000001:1", padded, plen, &t, &ct, &ctlen, err, sizeof(err)));
	free(padded);
	wa_node_set_attr(e, "v", "2");
	wa_node_set_attr(e, "type", group ? "skmsg" : t == WA_SIGNAL_PKMSG ? "pkmsg" : "msg");
	wa_node_set_bytes(e, ct, ctlen);
	free(ct);
}

static struct wa_node *
group_stanza(const char *id)
{
	struct wa_node *m = wa_node_new("message");

	wa_node_set_attr(m, "from", GROUP);
	wa_node_set_attr(m, "id", id);
	wa_node_set_attr(m, "participant", ALICE_PN "@s.whatsapp.net");
	wa_node_set_attr(m, "participant_lid", ALICE_LID "@lid");
	wa_node_set_attr(m, "notify", "Alice");
	wa_node_set_attr(m, "t", "1700000000");
	wa_node_set_attr(m, "type", "text");
	return m;
}

/* Message{conversation = text} */
static uint8_t *
text_msg(const char *text, size_t *len)
{
	size_t n = strlen(text);
	uint8_t *b = malloc(n + 2);

	b[0] = 0x0a;
	b[1] = (uint8_t)n;
	memcpy(b + 2, text, n);
	*len = n + 2;
	return b;
}

static const Wagate__Ipc__StoredMessage *
stored(const char *id)
{
	size_t i;

	for (i = 0; sup.store != NULL && i < sup.store->n_messages; i++)
		if (strcmp(sup.store->messages[i]->id, id) == 0)
			return sup.store->messages[i];
	return NULL;
}

static void
assert_text(const Wagate__Ipc__StoredMessage *m, const char *text)
{
	assert_non_null(m);
	assert_int_equal(m->message.len, strlen(text) + 2);
	assert_memory_equal(m->message.data + 2, text, strlen(text));
}

static int
setup(void **state)
{
	(void)state;
	sup_init();
	memset(&sess, 0, sizeof(sess));
	sess.creds = creds_generate();
	creds_set_str(&sess.creds->jid, OWN_JID);
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
	msg_recv_free(&sess);
	creds_free(sess.creds);
	wa_signal_free(alice);
	sup_free();
	return 0;
}

static void
test_group(void **state)
{
	uint8_t *skdm, *pt, buf[512];
	size_t skdmlen, ptlen, n, i;
	struct wa_node *m;
	char err[256];
	int saw_sender_key = 0;

	(void)state;
	alice_session(5);
	PEER_RUN(alice, wa_signal_group_create(alice, GROUP, ALICE_PN ":0", &skdm, &skdmlen, err, sizeof(err)));
	/* Message{senderKeyDistributionMessage{groupId, axolotl...}} by hand: field 2 { 1: group, 2: skdm } */
	n = 0;
	buf[n++] = 0x12;
	buf[n++] = (uint8_t)(2 + strlen(GROUP) + 2 + skdmlen);
	buf[n++] = 0x0a;
	buf[n++] = (uint8_t)strlen(GROUP);
	memcpy(buf + n, GROUP, strlen(GROUP));
	n += strlen(GROUP);
	buf[n++] = 0x12;
	buf[n++] = (uint8_t)skdmlen;
	memcpy(buf + n, skdm, skdmlen);
	n += skdmlen;
	free(skdm);

	/* the pkmsg with the SKDM, then the skmsg with the text, in one stanza */
	m = group_stanza("GRP-1");
	add_enc(m, buf, n, 0);
	pt = text_msg("hello group", &ptlen);
	add_enc(m, pt, ptlen, 1);
	free(pt);
	msg_recv_message(&sess, m);
	wa_node_free(m);
	assert_true(run_until_store());
	assert_int_equal(sup.store->n_messages, 1);
	assert_text(stored("GRP-1"), "hello group");
	assert_string_equal(stored("GRP-1")->remote_jid, GROUP);
	assert_string_equal(stored("GRP-1")->participant, ALICE_PN "@s.whatsapp.net");
	assert_string_equal(stored("GRP-1")->participant_alt, ALICE_LID "@lid");
	assert_string_equal(stored("GRP-1")->push_name, "Alice");
	assert_int_equal(stored("GRP-1")->timestamp, 1700000000);
	assert_false(stored("GRP-1")->from_me);
	assert_int_equal(sup.store->n_lids, 1);
	assert_string_equal(sup.store->lids[0]->lid, ALICE_LID "@lid");
	assert_string_equal(sup.store->lids[0]->pn, ALICE_PN "@s.whatsapp.net");
	for (i = 0; i < sup.store->n_changes; i++)
		saw_sender_key |=
		    sup.store->changes[i]->key->kind == WAGATE__IPC__SIGNAL_KIND__SIGNAL_KIND_SENDER_KEY &&
		    strcmp(sup.store->changes[i]->key->group, GROUP) == 0 &&
		    strcmp(sup.store->changes[i]->key->address, ALICE_PN ":0") == 0;
	assert_true(saw_sender_key);
	sup_answer_store(1);

	/* the next skmsg decrypts from the cache; its row comes without a load */
	n = (size_t)sup.nloads;
	m = group_stanza("GRP-2");
	pt = text_msg("second", &ptlen);
	add_enc(m, pt, ptlen, 1);
	free(pt);
	msg_recv_message(&sess, m);
	wa_node_free(m);
	assert_true(run_until_store());
	assert_int_equal((size_t)sup.nloads, n);
	assert_text(stored("GRP-2"), "second");
	sup_answer_store(0);	/* the cache goes */

	/* after the failed commit, the same skmsg again: the sender key comes from the database */
	m = group_stanza("GRP-2");
	pt = text_msg("second again", &ptlen);
	add_enc(m, pt, ptlen, 1);
	free(pt);
	msg_recv_message(&sess, m);
	wa_node_free(m);
	assert_true(run_until_store());
	assert_true((size_t)sup.nloads > n);
	assert_text(stored("GRP-2"), "second again");
	sup_answer_store(1);
}

/* A 1:1 stanza from alice's LID device: decrypted at "user_1:device", stored in the PN chat with the LID as
 * the alternative, and the mapping. Then stanzas that never reach the Signal layer. */
static void
test_lid_and_refused(void **state)
{
	struct wa_node *m, *e;
	uint8_t *pt;
	size_t ptlen;
	char addr[64];

	(void)state;
	assert_int_equal(msg_signal_address(ALICE_LID ":3@lid", addr, sizeof(addr)), 0);
	assert_string_equal(addr, ALICE_LID "_1:3");
	assert_int_equal(msg_signal_address(ALICE_PN "@s.whatsapp.net", addr, sizeof(addr)), 0);
	assert_string_equal(addr, ALICE_PN ":0");
	assert_int_equal(msg_signal_address(GROUP, addr, sizeof(addr)), -1);

	/* alice's session is with her LID address this time */
	{
		struct wa_signal_bundle b;
		struct wa_prekey pk;
		uint8_t *rec;
		size_t len;
		char err[256];

		assert_int_equal(wa_prekey_generate(9, &pk), 0);
		assert_int_equal(wa_prekey_encode(&pk, &rec, &len), 0);
		sigdb_set(&sup.db, WAGATE__IPC__SIGNAL_KIND__SIGNAL_KIND_PREKEY, "", "", 9, rec, len);
		free(rec);
		memset(&b, 0, sizeof(b));
		b.registration_id = sess.creds->registration_id;
		b.device_id = 1;
		b.has_prekey = 1;
		b.prekey_id = 9;
		memcpy(b.prekey_pub, pk.pub, 32);
		b.signed_prekey_id = sess.creds->signed_prekey.id;
		memcpy(b.signed_prekey_pub, sess.creds->signed_prekey.pub, 32);
		memcpy(b.signed_prekey_sig, sess.creds->signed_prekey.sig, 64);
		memcpy(b.identity_pub, sess.creds->identity_pub, 32);
		PEER_RUN(alice, wa_signal_session_build(alice, "15550000001:1", &b, err, sizeof(err)));
	}
	m = wa_node_new("message");
	wa_node_set_attr(m, "from", ALICE_LID ":3@lid");
	wa_node_set_attr(m, "sender_pn", ALICE_PN ":3@s.whatsapp.net");
	wa_node_set_attr(m, "id", "3EB0ABCDEF0123456789AB");
	wa_node_set_attr(m, "t", "1700000001");
	pt = text_msg("by lid", &ptlen);
	add_enc(m, pt, ptlen, 0);
	free(pt);
	msg_recv_message(&sess, m);
	wa_node_free(m);
	assert_true(run_until_store());
	assert_text(stored("3EB0ABCDEF0123456789AB"), "by lid");
	assert_string_equal(stored("3EB0ABCDEF0123456789AB")->remote_jid, ALICE_PN "@s.whatsapp.net");
	assert_string_equal(stored("3EB0ABCDEF0123456789AB")->remote_jid_alt, ALICE_LID "@lid");
	assert_string_equal(stored("3EB0ABCDEF0123456789AB")->source, "web");
	assert_string_equal(stored("3EB0ABCDEF0123456789AB")->participant, "");
	assert_int_equal(sup.store->n_lids, 1);
	sup_answer_store(1);
	assert_non_null(*sigdb_find(&sup.db, WAGATE__IPC__SIGNAL_KIND__SIGNAL_KIND_SESSION, ALICE_LID "_1:3", "",
	    0));

	/* refused before decryption: no id, a group stanza without participant, an oversized id; and one with
	 * nothing to decrypt. None of them makes a job. */
	m = wa_node_new("message");
	wa_node_set_attr(m, "from", ALICE_PN "@s.whatsapp.net");
	e = wa_node_add_child(m, wa_node_new("enc"));
	wa_node_set_attr(e, "type", "msg");
	wa_node_set_bytes(e, "x", 1);
	msg_recv_message(&sess, m);
	wa_node_set_attr(m, "id", "X1");
	wa_node_set_attr(m, "from", GROUP);
	msg_recv_message(&sess, m);
	wa_node_set_attr(m, "from", ALICE_PN "@s.whatsapp.net");
	{
		char big[200];
		memset(big, 'A', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		wa_node_set_attr(m, "id", big);
		msg_recv_message(&sess, m);
	}
	wa_node_set_attr(m, "id", "X2");
	wa_node_set_attr(e, "type", "msmsg");
	msg_recv_message(&sess, m);
	wa_node_free(m);
	assert_false(run_until_store());
	assert_int_equal(sup.nstores, 1);
}

/* The settings that have a stanza left alone (acked, not decrypted, nothing stored), as Evolution has Baileys
 * ignore it: a group's with groupsIgnore, a status without readStatus; with the settings off it is stored. */
static void
test_settings_ignore(void **state)
{
	struct wa_node *m;
	uint8_t *pt;
	size_t ptlen;

	(void)state;
	alice_session(6);
	m = group_stanza("GRP-IGN");
	pt = text_msg("seen or not", &ptlen);
	add_enc(m, pt, ptlen, 0);
	free(pt);
	sup.settings.groups_ignore = 1;
	sup.settings.read_status = 1;
	msg_recv_message(&sess, m);
	assert_false(run_until_store());
	assert_int_equal(sup.nloads + sup.nstores, 0);
	/* a status without readStatus (groupsIgnore does not apply to it) */
	wa_node_set_attr(m, "from", "status@broadcast");
	wa_node_set_attr(m, "id", "STATUS-1");
	sup.settings.groups_ignore = 0;
	sup.settings.read_status = 0;
	msg_recv_message(&sess, m);
	assert_false(run_until_store());
	assert_int_equal(sup.nloads + sup.nstores, 0);
	/* with readStatus, the same status is decrypted and stored */
	sup.settings.read_status = 1;
	sup.settings.groups_ignore = 1;
	msg_recv_message(&sess, m);
	wa_node_free(m);
	assert_true(run_until_store());
	assert_text(stored("STATUS-1"), "seen or not");
	assert_string_equal(stored("STATUS-1")->remote_jid, "status@broadcast");
}

/* Message{protocolMessage{HISTORY_SYNC_NOTIFICATION, inline = zlib(HistorySync{one chat, one text})}} */
static uint8_t *
history_msg(size_t *len)
{
	Wa__HistorySync hs = WA__HISTORY_SYNC__INIT;
	Wa__Conversation cv = WA__CONVERSATION__INIT, *cvp = &cv;
	Wa__HistorySyncMsg hm = WA__HISTORY_SYNC_MSG__INIT, *hmp = &hm;
	Wa__WebMessageInfo w = WA__WEB_MESSAGE_INFO__INIT;
	Wa__MessageKey k = WA__MESSAGE_KEY__INIT;
	Wa__Message m = WA__MESSAGE__INIT;
	Wa__ProtocolMessage pm = WA__PROTOCOL_MESSAGE__INIT;
	Wa__HistorySyncNotification n = WA__HISTORY_SYNC_NOTIFICATION__INIT;
	uint8_t raw[256], *z, *out;
	size_t rawlen;
	uLongf zlen = 512;

	k.id = "HIST-OLD-1";
	w.key = &k;
	w.has_message = 1;
	w.message.data = text_msg("old text", &w.message.len);
	w.has_messagetimestamp = 1;
	w.messagetimestamp = 1600000000;
	hm.message = &w;
	cv.id = ALICE_PN "@s.whatsapp.net";
	cv.n_messages = 1;
	cv.messages = &hmp;
	hs.n_conversations = 1;
	hs.conversations = &cvp;
	rawlen = wa__history_sync__pack(&hs, raw);
	free(w.message.data);
	z = malloc(zlen);
	assert_int_equal(compress2(z, &zlen, raw, rawlen, 6), Z_OK);
	n.has_initialhistbootstrapinlinepayload = 1;
	n.initialhistbootstrapinlinepayload.data = z;
	n.initialhistbootstrapinlinepayload.len = zlen;
	pm.has_type = 1;
	pm.type = WA__PROTOCOL_MESSAGE__TYPE__HISTORY_SYNC_NOTIFICATION;
	pm.historysyncnotification = &n;
	m.protocolmessage = &pm;
	*len = wa__message__get_packed_size(&m);
	out = malloc(*len);
	wa__message__pack(&m, out);
	free(z);
	return out;
}

/*
 * A history chunk counts only in a peer message from our own phone: that runs alone in its batch (the chunk's
 * caps are per store). The same chunk in an ordinary stanza, even from our own phone, is decrypted and ignored,
 * never stored where it could overflow a batch of many stanzas.
 */
static void
test_history_peer_only(void **state)
{
	struct wa_node *m;
	uint8_t *pt;
	size_t ptlen;

	(void)state;
	alice_session(7);
	pt = history_msg(&ptlen);
	m = wa_node_new("message");
	wa_node_set_attr(m, "from", "15550000001@s.whatsapp.net");
	wa_node_set_attr(m, "id", "PEER-HIST-1");
	wa_node_set_attr(m, "t", "1700000000");
	wa_node_set_attr(m, "type", "text");
	add_enc(m, pt, ptlen, 0);
	msg_recv_message(&sess, m);
	assert_true(run_until_store());
	assert_int_equal(sup.store->n_messages, 0);
	assert_int_equal(sup.store->n_history_chats, 0);
	sup_answer_store(1);
	wa_node_free(m);
	/* the same chunk as a peer message: its rows and chat go into the stanza's store */
	m = wa_node_new("message");
	wa_node_set_attr(m, "from", "15550000001@s.whatsapp.net");
	wa_node_set_attr(m, "id", "PEER-HIST-2");
	wa_node_set_attr(m, "t", "1700000000");
	wa_node_set_attr(m, "type", "text");
	wa_node_set_attr(m, "category", "peer");
	add_enc(m, pt, ptlen, 0);
	free(pt);
	msg_recv_message(&sess, m);
	wa_node_free(m);
	assert_true(run_until_store());
	assert_int_equal(sup.store->n_messages, 1);
	assert_true(sup.store->messages[0]->history);
	assert_string_equal(sup.store->messages[0]->id, "HIST-OLD-1");
	assert_text(stored("HIST-OLD-1"), "old text");
	assert_int_equal(sup.store->n_history_chats, 1);
	assert_string_equal(sup.store->history_chats[0]->jid, ALICE_PN "@s.whatsapp.net");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lid_and_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_settings_ignore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_peer_only, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
