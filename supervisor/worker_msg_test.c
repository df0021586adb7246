/* Messaging requests through the worker table (worker_msg.c, proto/ipc.proto 52..54), against real processes
 * the table spawned, whose channel the test plays frame by frame (workers_testlib.h "struct fw"): SignalLoad
 * and MessageStore reach the callbacks with the right values and their answers carry the worker's request id;
 * a request nobody serves is refused; every limit and bad field kills the worker without a callback, and the
 * limits themselves pass. The commands are in worker_msg_cmd_test.c. */
#include "workers_testlib.h"
#include "workers_int.h"
#include "worker_msg_check.h"
#include "ipc.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

/* ---- SignalLoad ---- */

struct sig_seen {
	int n;
	struct workers_sig_key k[4];
	char addr[4][64], group[4][64];
	int answer_inside;		/* answer from inside the callback */
};

static void
sig_hook(struct tctx *t, const char *id, uint64_t req, const struct workers_sig_key *keys, size_t n)
{
	struct sig_seen *s = t->user;
	size_t i;

	assert_string_equal(id, "hand-sig");
	s->n = (int)n;
	for (i = 0; i < n && i < 4; i++) {
		s->k[i] = keys[i];
		assert_non_null(keys[i].address);
		assert_non_null(keys[i].group);
		snprintf(s->addr[i], 64, "%s", keys[i].address);
		snprintf(s->group[i], 64, "%s", keys[i].group);
	}
	if (s->answer_inside)
		assert_int_equal(workers_reply_signal(t->w, id, req, 0, "database down", NULL, 0), 0);
}

static void
test_signal_load(void **state)
{
	struct tctx *t = fw_tctx();
	int lfd = fw_listen();
	struct fw f;
	struct sig_seen s;
	Wagate__Ipc__SignalKey k[4], *kp[4] = { &k[0], &k[1], &k[2], &k[3] };
	struct workers_sig_record recs[4];
	static unsigned char big[300000];
	IpcEnvelope *env;
	uint64_t req;
	size_t i;

	(void)state;
	memset(&s, 0, sizeof(s));
	memset(big, 0x5a, sizeof(big));
	t->user = &s;
	t->sig_hook = sig_hook;
	fw_start(t, lfd, "hand-sig", &f);

	/* Each kind with the fields it needs; what a kind does not use is not passed on. */
	fw_key(&k[0], WORKERS_SIG_SESSION, "15551234567:0", "", 0);
	fw_key(&k[1], WORKERS_SIG_IDENTITY, "15551234567:3", "", 99);
	fw_key(&k[2], WORKERS_SIG_PREKEY, "ignored", "", 7);
	fw_key(&k[3], WORKERS_SIG_SENDER_KEY, "15557654321:1", "120363000000000001@g.us", 0);
	fw_send_signal_load(t, &f, 41, kp, 4);
	assert_true(run_until(t, &t->nsig, 1, 10000));
	assert_int_equal(s.n, 4);
	assert_int_equal(s.k[0].kind, WORKERS_SIG_SESSION);
	assert_string_equal(s.addr[0], "15551234567:0");
	assert_string_equal(s.group[0], "");
	assert_int_equal(s.k[1].kind, WORKERS_SIG_IDENTITY);
	assert_int_equal(s.k[1].prekey_id, 0);
	assert_int_equal(s.k[2].kind, WORKERS_SIG_PREKEY);
	assert_int_equal(s.k[2].prekey_id, 7);
	assert_string_equal(s.addr[2], "");
	assert_int_equal(s.k[3].kind, WORKERS_SIG_SENDER_KEY);
	assert_string_equal(s.addr[3], "15557654321:1");
	assert_string_equal(s.group[3], "120363000000000001@g.us");
	req = t->sig_req;

	/* Wrong kind of answer, unknown ticket: refused, nothing sent. */
	assert_int_equal(workers_reply_store(t->w, "hand-sig", req, 1, NULL), -1);
	assert_int_equal(workers_reply_signal(t->w, "hand-sig", req + 1000, 1, NULL, NULL, 0), -1);
	assert_int_equal(workers_reply_signal(t->w, "other", req, 1, NULL, NULL, 0), -1);
	memset(recs, 0, sizeof(recs));
	for (i = 0; i < 4; i++) {
		recs[i].key.kind = (int)k[i].kind;
		recs[i].key.address = k[i].address;
		recs[i].key.group = k[i].group;
		recs[i].key.prekey_id = k[i].prekey_id;
	}
	recs[0].found = 1;
	recs[0].data = (const unsigned char *)"SESSION";
	recs[0].len = 7;
	recs[2].found = 1;
	recs[2].data = big;	/* bigger than one socket buffer: the frame arrives in pieces */
	recs[2].len = sizeof(big);
	recs[3].found = 1;
	recs[3].data = (const unsigned char *)"SK";
	recs[3].len = 2;
	assert_int_equal(workers_reply_signal(t->w, "hand-sig", req, 1, NULL, recs, 4), 0);
	assert_int_equal(workers_reply_signal(t->w, "hand-sig", req, 1, NULL, recs, 4), -1);	/* once */
	env = fw_expect(t, &f, WAGATE__IPC__ENVELOPE__MSG_SIGNAL_RECORDS, 10000);
	assert_int_equal(env->request_id, 41);
	assert_true(env->signal_records->ok);
	assert_int_equal(env->signal_records->n_records, 4);
	assert_int_equal(env->signal_records->records[0]->key->kind, WORKERS_SIG_SESSION);
	assert_string_equal(env->signal_records->records[0]->key->address, "15551234567:0");
	assert_true(env->signal_records->records[0]->found);
	assert_int_equal(env->signal_records->records[0]->data.len, 7);
	assert_memory_equal(env->signal_records->records[0]->data.data, "SESSION", 7);
	assert_false(env->signal_records->records[1]->found);
	assert_int_equal(env->signal_records->records[1]->data.len, 0);
	assert_int_equal(env->signal_records->records[2]->key->prekey_id, 7);
	assert_int_equal(env->signal_records->records[2]->data.len, sizeof(big));
	assert_memory_equal(env->signal_records->records[2]->data.data, big, sizeof(big));
	assert_string_equal(env->signal_records->records[3]->key->group, "120363000000000001@g.us");
	ipc_envelope_free(env);

	/* An answer that does not fit the keys (2 records for 1 key) is the caller's bug: -1, and the worker
	 * still gets one answer, a refusal. */
	fw_send_signal_load(t, &f, 42, kp, 1);
	assert_true(run_until(t, &t->nsig, 2, 10000));
	assert_int_equal(workers_reply_signal(t->w, "hand-sig", t->sig_req, 1, NULL, recs, 2), -1);
	env = fw_expect(t, &f, WAGATE__IPC__ENVELOPE__MSG_SIGNAL_RECORDS, 10000);
	assert_int_equal(env->request_id, 42);
	assert_false(env->signal_records->ok);
	assert_int_equal(env->signal_records->n_records, 0);
	ipc_envelope_free(env);

	/* Answered from inside the callback, with a failure; an empty load is allowed. */
	s.answer_inside = 1;
	fw_send_signal_load(t, &f, 43, NULL, 0);
	assert_true(run_until(t, &t->nsig, 3, 10000));
	assert_int_equal(s.n, 0);
	env = fw_expect(t, &f, WAGATE__IPC__ENVELOPE__MSG_SIGNAL_RECORDS, 10000);
	assert_int_equal(env->request_id, 43);
	assert_false(env->signal_records->ok);
	assert_string_equal(env->signal_records->error, "database down");
	ipc_envelope_free(env);

	/* Nobody to load them: refused at once, the worker lives on. */
	t->w->cbs.on_signal_load = NULL;
	fw_send_signal_load(t, &f, 44, kp, 1);
	env = fw_expect(t, &f, WAGATE__IPC__ENVELOPE__MSG_SIGNAL_RECORDS, 10000);
	assert_int_equal(env->request_id, 44);
	assert_false(env->signal_records->ok);
	ipc_envelope_free(env);
	assert_int_equal(t->nsig, 3);
	assert_int_equal(t->nexit, 0);
	assert_int_equal(workers_pid(t->w, "hand-sig"), f.pid);
	fw_close(&f);
	tctx_free(t);
	fw_unlisten(lfd);
}

/* ---- MessageStore ---- */

struct store_seen {
	struct workers_msg_store m;
	struct workers_sig_change c[2];
	struct workers_msg msg;
	struct workers_msg_status st;
	char s[16][96];
	size_t msglen;
	unsigned char msgdata[16];
};

static void
store_hook(struct tctx *t, const char *id, uint64_t req, const struct workers_msg_store *m)
{
	struct store_seen *s = t->user;

	(void)id;
	(void)req;
	s->m = *m;
	if (m->nchanges == 2) {
		s->c[0] = m->changes[0];
		s->c[1] = m->changes[1];
		snprintf(s->s[0], 96, "%s", m->changes[0].key.address);
		snprintf(s->s[1], 96, "%.*s", (int)m->changes[0].len, (const char *)m->changes[0].data);
		assert_null(m->changes[1].data);
	}
	if (m->nmsgs == 1) {
		s->msg = m->msgs[0];
		snprintf(s->s[2], 96, "%s", m->msgs[0].id);
		snprintf(s->s[3], 96, "%s", m->msgs[0].remote_jid);
		snprintf(s->s[4], 96, "%s", m->msgs[0].remote_jid_alt);
		snprintf(s->s[5], 96, "%s", m->msgs[0].participant);
		snprintf(s->s[6], 96, "%s", m->msgs[0].push_name);
		snprintf(s->s[7], 96, "%s", m->msgs[0].source);
		s->msglen = m->msgs[0].message_len;
		memcpy(s->msgdata, m->msgs[0].message, m->msgs[0].message_len < 16 ? m->msgs[0].message_len : 16);
	}
	if (m->nstatuses == 1) {
		s->st = m->statuses[0];
		snprintf(s->s[8], 96, "%s", m->statuses[0].id);
	}
	if (m->nlids == 1) {
		snprintf(s->s[9], 96, "%s", m->lids[0].lid);
		snprintf(s->s[10], 96, "%s", m->lids[0].pn);
	}
}

static void
test_msg_store(void **state)
{
	struct tctx *t = fw_tctx();
	int lfd = fw_listen();
	struct fw f;
	struct store_seen s;
	Wagate__Ipc__MessageStore ms = WAGATE__IPC__MESSAGE_STORE__INIT, empty = WAGATE__IPC__MESSAGE_STORE__INIT;
	Wagate__Ipc__SignalChange ch[2], *chp[2] = { &ch[0], &ch[1] };
	Wagate__Ipc__SignalKey k[2];
	Wagate__Ipc__StoredMessage m = WAGATE__IPC__STORED_MESSAGE__INIT, *mp = &m;
	Wagate__Ipc__StatusChange st = WAGATE__IPC__STATUS_CHANGE__INIT, *stp = &st;
	Wagate__Ipc__LidMapping lid = WAGATE__IPC__LID_MAPPING__INIT, *lidp = &lid;
	IpcEnvelope *env;
	size_t len;

	(void)state;
	memset(&s, 0, sizeof(s));
	t->user = &s;
	t->msgstore_hook = store_hook;
	fw_start(t, lfd, "hand-store", &f);

	fw_key(&k[0], WORKERS_SIG_SESSION, "15551234567:0", "", 0);
	fw_key(&k[1], WORKERS_SIG_PREKEY, "", "", 31);
	wagate__ipc__signal_change__init(&ch[0]);
	ch[0].key = &k[0];
	ch[0].data.data = (uint8_t *)"RATCHET";
	ch[0].data.len = 7;
	wagate__ipc__signal_change__init(&ch[1]);
	ch[1].key = &k[1];
	ch[1].deleted = 1;
	m.id = (char *)"3EB0ABCDEF";
	m.remote_jid = (char *)"15551234567@s.whatsapp.net";
	m.remote_jid_alt = (char *)"100000000000009@lid";
	m.participant = (char *)"";
	m.push_name = (char *)"Alice \xc3\xa9";
	m.timestamp = 1764672000;
	m.status = WAGATE__IPC__MSG_STATUS__MSG_STATUS_DELIVERY_ACK;
	m.message.data = (uint8_t *)"\x0a\x02hi";
	m.message.len = 4;
	m.source = (char *)"android";
	m.from_me = 0;
	m.sent_by_api = 1;
	st.id = (char *)"3EB0OLD";
	st.remote_jid = (char *)"15551234567@s.whatsapp.net";
	st.from_me = 1;
	st.status = WAGATE__IPC__MSG_STATUS__MSG_STATUS_READ;
	st.timestamp = 1764672001;
	lid.lid = (char *)"100000000000009@lid";
	lid.pn = (char *)"15551234567@s.whatsapp.net";
	ms.n_changes = 2;
	ms.changes = chp;
	ms.n_messages = 1;
	ms.messages = &mp;
	ms.n_statuses = 1;
	ms.statuses = &stp;
	ms.n_lids = 1;
	ms.lids = &lidp;
	fw_send_msg_store(t, &f, 51, &ms);
	assert_true(run_until(t, &t->nmsgstore, 1, 10000));
	assert_int_equal(s.m.nchanges, 2);
	assert_string_equal(s.s[0], "15551234567:0");
	assert_string_equal(s.s[1], "RATCHET");
	assert_false(s.c[0].deleted);
	assert_int_equal(s.c[1].key.kind, WORKERS_SIG_PREKEY);
	assert_int_equal(s.c[1].key.prekey_id, 31);
	assert_true(s.c[1].deleted);
	assert_int_equal(s.c[1].len, 0);
	assert_string_equal(s.s[2], "3EB0ABCDEF");
	assert_string_equal(s.s[3], "15551234567@s.whatsapp.net");
	assert_string_equal(s.s[4], "100000000000009@lid");
	assert_string_equal(s.s[5], "");
	assert_string_equal(s.s[6], "Alice \xc3\xa9");
	assert_string_equal(s.s[7], "android");
	assert_int_equal(s.msg.timestamp, 1764672000);
	assert_int_equal(s.msg.status, WORKERS_MSG_DELIVERY_ACK);
	assert_int_equal(s.msg.sent_by_api, 1);
	assert_int_equal(s.msg.from_me, 0);
	assert_int_equal(s.msglen, 4);
	assert_memory_equal(s.msgdata, "\x0a\x02hi", 4);
	assert_string_equal(s.s[8], "3EB0OLD");
	assert_int_equal(s.st.status, WORKERS_MSG_READ);
	assert_int_equal(s.st.from_me, 1);
	assert_int_equal(s.st.timestamp, 1764672001);
	assert_string_equal(s.s[9], "100000000000009@lid");
	assert_string_equal(s.s[10], "15551234567@s.whatsapp.net");
	/* Answered with StoreAck under the worker's id; a MessageStore never brings creds for Start. */
	assert_int_equal(workers_reply_pair(t->w, "hand-store", t->msgstore_req, 1, NULL), -1);
	assert_int_equal(workers_reply_signal(t->w, "hand-store", t->msgstore_req, 1, NULL, NULL, 0), -1);
	assert_int_equal(workers_reply_store(t->w, "hand-store", t->msgstore_req, 1, NULL), 0);
	env = fw_expect(t, &f, WAGATE__IPC__ENVELOPE__MSG_STORE_ACK, 10000);
	assert_int_equal(env->request_id, 51);
	assert_true(env->store_ack->ok);
	ipc_envelope_free(env);
	assert_null(workers_creds(t->w, "hand-store", &len, NULL));

	/* An empty MessageStore is fine; a failed commit says why. */
	fw_send_msg_store(t, &f, 52, &empty);
	assert_true(run_until(t, &t->nmsgstore, 2, 10000));
	assert_int_equal(s.m.nchanges + s.m.nmsgs + s.m.nstatuses + s.m.nlids, 0);
	assert_int_equal(workers_reply_store(t->w, "hand-store", t->msgstore_req, 0, "commit failed"), 0);
	env = fw_expect(t, &f, WAGATE__IPC__ENVELOPE__MSG_STORE_ACK, 10000);
	assert_int_equal(env->request_id, 52);
	assert_false(env->store_ack->ok);
	assert_string_equal(env->store_ack->error, "commit failed");
	ipc_envelope_free(env);

	/* Nobody to store it: refused at once. */
	t->w->cbs.on_msg_store = NULL;
	fw_send_msg_store(t, &f, 53, &ms);
	env = fw_expect(t, &f, WAGATE__IPC__ENVELOPE__MSG_STORE_ACK, 10000);
	assert_int_equal(env->request_id, 53);
	assert_false(env->store_ack->ok);
	ipc_envelope_free(env);
	assert_int_equal(t->nmsgstore, 2);
	assert_int_equal(t->nexit, 0);
	fw_close(&f);
	tctx_free(t);
	fw_unlisten(lfd);
}

/* ---- bad frames: each one kills the worker, and no callback runs ---- */

enum {
	BAD_KEYS_MANY, BAD_KEY_KIND0, BAD_KEY_KIND5, BAD_KEY_NO_ADDRESS, BAD_SK_NO_GROUP, BAD_PREKEY_ID0,
	BAD_PREKEY_ID_BIG, BAD_ADDRESS_LONG, BAD_ADDRESS_UTF8,
	BAD_CHANGES_MANY, BAD_MSGS_MANY, BAD_STATUSES_MANY, BAD_LIDS_MANY, BAD_CHANGE_PREKEY_UPSERT,
	BAD_CHANGE_DELETED_DATA, BAD_CHANGE_EMPTY, BAD_CHANGE_HUGE, BAD_IDENTITY_31, BAD_CHANGE_KEY_KIND,
	BAD_MSG_NO_ID, BAD_MSG_NO_CHAT, BAD_MSG_STATUS, BAD_MSG_TS, BAD_MSG_HUGE, BAD_MSG_PUSH_LONG,
	BAD_MSG_UTF8, BAD_STATUS_NONE, BAD_STATUS_NO_ID, BAD_LID_NO_PN,
	BAD_FORGET_MANY, BAD_FORGET_DEVICE, BAD_FORGET_WILDCARD, BAD_FORGET_GROUP, BAD_FORGET_LONG, BAD_FORGET_EMPTY,
	BAD_N
};

/* Send case c's frame: a valid SignalLoad or MessageStore with one thing broken. */
static void
bad_send(struct tctx *t, struct fw *f, int c)
{
	static Wagate__Ipc__SignalKey *many_k[WORKERS_SIG_KEYS_MAX + 1];
	static Wagate__Ipc__SignalChange *many_c[WORKERS_STORE_MSGS_MAX + 1];
	static Wagate__Ipc__StoredMessage *many_m[WORKERS_STORE_MSGS_MAX + 1];
	static Wagate__Ipc__StatusChange *many_s[WORKERS_STORE_MSGS_MAX + 1];
	static Wagate__Ipc__LidMapping *many_l[WORKERS_STORE_MSGS_MAX + 1];
	static char *many_f[WORKERS_FORGET_USERS_MAX + 1];
	static unsigned char huge[WORKERS_MESSAGE_MAX + 1];
	char long_s[WORKER_MSG_STR_MAX + 2], digits[WORKER_MSG_FORGET_DIGITS_MAX + 32], *forget;
	Wagate__Ipc__SignalKey k, *kp = &k, ck, idk;
	Wagate__Ipc__SignalChange ch = WAGATE__IPC__SIGNAL_CHANGE__INIT, *chp = &ch;
	Wagate__Ipc__StoredMessage m = WAGATE__IPC__STORED_MESSAGE__INIT, *mp = &m;
	Wagate__Ipc__StatusChange st = WAGATE__IPC__STATUS_CHANGE__INIT, *stp = &st;
	Wagate__Ipc__LidMapping lid = WAGATE__IPC__LID_MAPPING__INIT, *lidp = &lid;
	Wagate__Ipc__MessageStore ms = WAGATE__IPC__MESSAGE_STORE__INIT;
	size_t i;

	memset(long_s, 'a', sizeof(long_s) - 1);
	long_s[sizeof(long_s) - 1] = '\0';
	fw_key(&k, WORKERS_SIG_SESSION, "15551234567:0", "", 0);
	fw_key(&ck, WORKERS_SIG_SESSION, "15551234567:0", "", 0);
	fw_key(&idk, WORKERS_SIG_IDENTITY, "15551234567:0", "", 0);
	ch.key = &ck;
	ch.data.data = (uint8_t *)"RATCHET";
	ch.data.len = 7;
	m.id = (char *)"3EB0AA";
	m.remote_jid = (char *)"15551234567@s.whatsapp.net";
	m.timestamp = 1;
	st.id = (char *)"3EB0AA";
	st.remote_jid = (char *)"15551234567@s.whatsapp.net";
	st.status = WAGATE__IPC__MSG_STATUS__MSG_STATUS_READ;
	lid.lid = (char *)"100000000000009@lid";
	lid.pn = (char *)"15551234567@s.whatsapp.net";
	ms.n_changes = ms.n_messages = ms.n_statuses = ms.n_lids = 1;
	ms.changes = &chp;
	ms.messages = &mp;
	ms.statuses = &stp;
	ms.lids = &lidp;
	for (i = 0; i <= WORKERS_STORE_MSGS_MAX; i++) {
		many_c[i] = &ch;
		many_m[i] = &m;
		many_s[i] = &st;
		many_l[i] = &lid;
	}
	switch (c) {
	case BAD_KEYS_MANY:
		for (i = 0; i <= WORKERS_SIG_KEYS_MAX; i++)
			many_k[i] = &k;
		fw_send_signal_load(t, f, 60, many_k, WORKERS_SIG_KEYS_MAX + 1);
		return;
	case BAD_KEY_KIND0: k.kind = 0; break;
	case BAD_KEY_KIND5: k.kind = (Wagate__Ipc__SignalKind)5; break;
	case BAD_KEY_NO_ADDRESS: k.address = (char *)""; break;
	case BAD_SK_NO_GROUP: k.kind = (Wagate__Ipc__SignalKind)WORKERS_SIG_SENDER_KEY; break;
	case BAD_PREKEY_ID0: fw_key(&k, WORKERS_SIG_PREKEY, "", "", 0); break;
	case BAD_PREKEY_ID_BIG: fw_key(&k, WORKERS_SIG_PREKEY, "", "", WORKERS_PREKEY_ID_MAX + 1); break;
	case BAD_ADDRESS_LONG: long_s[WORKER_MSG_ADDRESS_MAX + 1] = '\0'; k.address = long_s; break;
	case BAD_ADDRESS_UTF8: k.address = (char *)"1555\xff:0"; break;
	case BAD_CHANGES_MANY: ms.changes = many_c; ms.n_changes = WORKERS_STORE_MSGS_MAX + 1; break;
	case BAD_MSGS_MANY: ms.messages = many_m; ms.n_messages = WORKERS_STORE_MSGS_MAX + 1; break;
	case BAD_STATUSES_MANY: ms.statuses = many_s; ms.n_statuses = WORKERS_STORE_MSGS_MAX + 1; break;
	case BAD_LIDS_MANY: ms.lids = many_l; ms.n_lids = WORKERS_STORE_MSGS_MAX + 1; break;
	case BAD_CHANGE_PREKEY_UPSERT: fw_key(&ck, WORKERS_SIG_PREKEY, "", "", 5); break;
	case BAD_CHANGE_DELETED_DATA: ch.deleted = 1; break;
	case BAD_CHANGE_EMPTY: ch.data.len = 0; break;
	case BAD_CHANGE_HUGE: ch.data.data = huge; ch.data.len = WORKERS_SIG_RECORD_MAX + 1; break;
	case BAD_IDENTITY_31: ch.key = &idk; ch.data.data = huge; ch.data.len = 31; break;
	case BAD_CHANGE_KEY_KIND: ck.kind = 0; break;
	case BAD_MSG_NO_ID: m.id = (char *)""; break;
	case BAD_MSG_NO_CHAT: m.remote_jid = (char *)""; break;
	case BAD_MSG_STATUS: m.status = (Wagate__Ipc__MsgStatus)7; break;
	case BAD_MSG_TS: m.timestamp = -1; break;
	case BAD_MSG_HUGE: m.message.data = huge; m.message.len = WORKERS_MESSAGE_MAX + 1; break;
	case BAD_MSG_PUSH_LONG: m.push_name = long_s; break;
	case BAD_MSG_UTF8: m.push_name = (char *)"\xc3"; break;
	case BAD_STATUS_NONE: st.status = 0; break;
	case BAD_STATUS_NO_ID: st.id = (char *)""; break;
	case BAD_LID_NO_PN: lid.pn = (char *)""; break;
	case BAD_FORGET_MANY:
		for (i = 0; i <= WORKERS_FORGET_USERS_MAX; i++)
			many_f[i] = (char *)"15551234567@s.whatsapp.net";
		ms.forget_users = many_f;
		ms.n_forget_users = WORKERS_FORGET_USERS_MAX + 1;
		break;
	case BAD_FORGET_DEVICE: forget = (char *)"15551234567:1@s.whatsapp.net"; goto one_forget;
	case BAD_FORGET_WILDCARD: forget = (char *)"1555%@s.whatsapp.net"; goto one_forget;
	case BAD_FORGET_GROUP: forget = (char *)"120363000000000001@g.us"; goto one_forget;
	case BAD_FORGET_EMPTY: forget = (char *)"@lid"; goto one_forget;
	case BAD_FORGET_LONG:
		memset(digits, '1', WORKER_MSG_FORGET_DIGITS_MAX + 1);
		snprintf(digits + WORKER_MSG_FORGET_DIGITS_MAX + 1, 8, "@lid");
		forget = digits;
	one_forget:
		ms.forget_users = &forget;
		ms.n_forget_users = 1;
		break;
	default: fail();
	}
	if (c <= BAD_ADDRESS_UTF8)
		fw_send_signal_load(t, f, 60 + (uint64_t)c, &kp, 1);
	else
		fw_send_msg_store(t, f, 60 + (uint64_t)c, &ms);
}

static void
test_bad_frames(void **state)
{
	struct tctx *t = fw_tctx();
	int lfd = fw_listen();
	struct fw f;
	char id[32];
	int c;

	(void)state;
	for (c = 0; c < BAD_N; c++) {
		snprintf(id, sizeof(id), "hand-bad%d", c);
		fw_start(t, lfd, id, &f);
		bad_send(t, &f, c);
		if (!run_until(t, &t->nexit, c + 1, 10000))
			fail_msg("case %d: the worker was not killed", c);
		assert_string_equal(t->exit_id[c], id);
		assert_int_equal(t->reason[t->nstate - 1], REASON_PROTOCOL_ERROR);
		assert_non_null(strstr(t->detail[t->nstate - 1], "protocol error"));
		/* Nothing reached the callbacks, and nothing was answered. */
		assert_int_equal(t->nsig, 0);
		assert_int_equal(t->nmsgstore, 0);
		assert_null(fw_read(t, &f, 0));
		assert_int_equal(workers_remove(t->w, id), 0);
		fw_close(&f);
	}
	tctx_free(t);
	fw_unlisten(lfd);
}

/* The full forget_users list reaches the callback as sent. */
static void
limits_store_hook(struct tctx *t, const char *id, uint64_t req, const struct workers_msg_store *m)
{
	(void)t, (void)id, (void)req;
	assert_int_equal(m->nforget_users, WORKERS_FORGET_USERS_MAX);
	assert_int_equal(strlen(m->forget_users[0]), WORKER_MSG_FORGET_DIGITS_MAX + 4);
	assert_string_equal(m->forget_users[1], "1@s.whatsapp.net");
}

/* The limits themselves are allowed: a full SignalLoad, a full MessageStore of each part, and the largest
 * record and message. */
static void
test_limits_pass(void **state)
{
	struct tctx *t = fw_tctx();
	int lfd = fw_listen();
	struct fw f;
	static Wagate__Ipc__SignalKey *kp[WORKERS_SIG_KEYS_MAX];
	static Wagate__Ipc__SignalChange *cp[WORKERS_STORE_MSGS_MAX];
	static Wagate__Ipc__StoredMessage *mp[WORKERS_STORE_MSGS_MAX];
	static Wagate__Ipc__StatusChange *sp[WORKERS_STORE_MSGS_MAX];
	static Wagate__Ipc__LidMapping *lp[WORKERS_STORE_MSGS_MAX];
	static char *fp[WORKERS_FORGET_USERS_MAX];
	static unsigned char rec[WORKERS_SIG_RECORD_MAX], msg[WORKERS_MESSAGE_MAX];
	char user[WORKER_MSG_FORGET_DIGITS_MAX + 8];
	char addr[WORKER_MSG_ADDRESS_MAX + 1], name[WORKER_MSG_STR_MAX + 1];
	Wagate__Ipc__SignalKey k, bigk;
	Wagate__Ipc__SignalChange ch = WAGATE__IPC__SIGNAL_CHANGE__INIT, big = WAGATE__IPC__SIGNAL_CHANGE__INIT;
	Wagate__Ipc__StoredMessage m = WAGATE__IPC__STORED_MESSAGE__INIT, bigm = WAGATE__IPC__STORED_MESSAGE__INIT;
	Wagate__Ipc__StatusChange st = WAGATE__IPC__STATUS_CHANGE__INIT;
	Wagate__Ipc__LidMapping lid = WAGATE__IPC__LID_MAPPING__INIT;
	Wagate__Ipc__MessageStore ms = WAGATE__IPC__MESSAGE_STORE__INIT;
	Wagate__Ipc__SignalChange *bcp = &big;
	Wagate__Ipc__StoredMessage *bmp = &bigm;
	IpcEnvelope *env;
	size_t i;

	(void)state;
	memset(addr, '7', sizeof(addr) - 1);
	addr[sizeof(addr) - 1] = '\0';
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	fw_start(t, lfd, "hand-limits", &f);
	fw_key(&k, WORKERS_SIG_SENDER_KEY, addr, addr, 0);
	for (i = 0; i < WORKERS_SIG_KEYS_MAX; i++)
		kp[i] = &k;
	fw_send_signal_load(t, &f, 70, kp, WORKERS_SIG_KEYS_MAX);
	assert_true(run_until(t, &t->nsig, 1, 10000));
	assert_int_equal(workers_reply_signal(t->w, "hand-limits", t->sig_req, 0, "later", NULL, 0), 0);
	ipc_envelope_free(fw_expect(t, &f, WAGATE__IPC__ENVELOPE__MSG_SIGNAL_RECORDS, 10000));

	ch.key = &k;
	ch.data.data = (uint8_t *)"R";
	ch.data.len = 1;
	m.id = name;
	m.remote_jid = (char *)"15551234567@s.whatsapp.net";
	m.push_name = name;
	st.id = (char *)"3EB0AA";
	st.remote_jid = (char *)"15551234567@s.whatsapp.net";
	st.status = WAGATE__IPC__MSG_STATUS__MSG_STATUS_PLAYED;
	lid.lid = (char *)"1@lid";
	lid.pn = (char *)"1@s.whatsapp.net";
	for (i = 0; i < WORKERS_STORE_MSGS_MAX; i++) {
		cp[i] = &ch;
		mp[i] = &m;
		sp[i] = &st;
		lp[i] = &lid;
	}
	memset(user, '9', WORKER_MSG_FORGET_DIGITS_MAX);
	snprintf(user + WORKER_MSG_FORGET_DIGITS_MAX, 8, "@lid");
	for (i = 0; i < WORKERS_FORGET_USERS_MAX; i++)
		fp[i] = i % 2 == 0 ? user : (char *)"1@s.whatsapp.net";
	ms.n_changes = ms.n_messages = ms.n_statuses = ms.n_lids = WORKERS_STORE_MSGS_MAX;
	ms.changes = cp;
	ms.messages = mp;
	ms.statuses = sp;
	ms.lids = lp;
	ms.n_forget_users = WORKERS_FORGET_USERS_MAX;
	ms.forget_users = fp;
	t->msgstore_hook = limits_store_hook;
	fw_send_msg_store(t, &f, 71, &ms);
	assert_true(run_until(t, &t->nmsgstore, 1, 10000));
	t->msgstore_hook = NULL;
	assert_int_equal(workers_reply_store(t->w, "hand-limits", t->msgstore_req, 1, NULL), 0);
	ipc_envelope_free(fw_expect(t, &f, WAGATE__IPC__ENVELOPE__MSG_STORE_ACK, 10000));

	fw_key(&bigk, WORKERS_SIG_SESSION, "1:0", "", 0);
	big.key = &bigk;
	big.data.data = rec;
	big.data.len = sizeof(rec);
	bigm.id = (char *)"3EB0BIG";
	bigm.remote_jid = (char *)"15551234567@s.whatsapp.net";
	bigm.message.data = msg;
	bigm.message.len = sizeof(msg);
	memset(&ms, 0, sizeof(ms));
	wagate__ipc__message_store__init(&ms);
	ms.n_changes = ms.n_messages = 1;
	ms.changes = &bcp;
	ms.messages = &bmp;
	fw_send_msg_store(t, &f, 72, &ms);
	assert_true(run_until(t, &t->nmsgstore, 2, 10000));
	assert_int_equal(workers_reply_store(t->w, "hand-limits", t->msgstore_req, 1, NULL), 0);
	env = fw_expect(t, &f, WAGATE__IPC__ENVELOPE__MSG_STORE_ACK, 10000);
	assert_int_equal(env->request_id, 72);
	assert_true(env->store_ack->ok);
	ipc_envelope_free(env);
	assert_int_equal(t->nexit, 0);
	fw_close(&f);
	tctx_free(t);
	fw_unlisten(lfd);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signal_load),
		cmocka_unit_test(test_msg_store),
		cmocka_unit_test(test_bad_frames),
		cmocka_unit_test(test_limits_pass),
	};

	return testlib_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
