/* Messaging commands through the worker table (worker_msg.c, proto/ipc.proto 55..59), against real processes
 * the table spawned or adopted, whose channel the test plays frame by frame (workers_testlib.h "struct fw"):
 * SendMessage, CheckNumbers and MarkRead get the worker's answer, 504 after their deadline, 503 when the
 * worker goes away (exit, EOF, remove, free), 500 for an invalid answer (and the worker is killed); adopted
 * workers serve requests and commands the same way. */
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

#define NCB 16

/* What the command callbacks saw. */
struct seen {
	int nsend, nnum, nread;
	int send_ok[NCB], send_code[NCB], send_status[NCB];
	char send_error[NCB][128], send_id[NCB][64], send_jid[NCB][64], send_alt[NCB][64];
	int64_t send_ts[NCB];
	int num_ok[NCB], num_code[NCB];
	size_t num_n[NCB];
	char num_error[NCB][128], num_jid[NCB][4][64], num_lid[NCB][4][64];
	int num_exists[NCB][4];
	int read_ok[NCB];
	int read_status[NCB];
	char read_error[NCB][128];
};

static void
on_send(void *arg, const struct workers_send_result *r)
{
	struct seen *s = arg;
	int i = s->nsend++;

	assert_true(i < NCB);
	s->send_ok[i] = r->ok;
	s->send_code[i] = r->code;
	s->send_status[i] = r->status;
	s->send_ts[i] = r->timestamp;
	assert_non_null(r->id);
	assert_non_null(r->remote_jid);
	assert_non_null(r->remote_jid_alt);
	if (!r->ok)
		assert_non_null(r->error);
	snprintf(s->send_error[i], 128, "%s", r->ok ? "" : r->error);
	snprintf(s->send_id[i], 64, "%s", r->id);
	snprintf(s->send_jid[i], 64, "%s", r->remote_jid);
	snprintf(s->send_alt[i], 64, "%s", r->remote_jid_alt);
}

static void
on_numbers(void *arg, int ok, int code, const char *error, const struct workers_number *v, size_t n)
{
	struct seen *s = arg;
	int i = s->nnum++;
	size_t j;

	assert_true(i < NCB);
	s->num_ok[i] = ok;
	s->num_code[i] = code;
	s->num_n[i] = n;
	if (!ok) {
		assert_non_null(error);
		assert_null(v);
	}
	snprintf(s->num_error[i], 128, "%s", ok ? "" : error);
	for (j = 0; j < n && j < 4; j++) {
		snprintf(s->num_jid[i][j], 64, "%s", v[j].jid);
		snprintf(s->num_lid[i][j], 64, "%s", v[j].lid);
		s->num_exists[i][j] = v[j].exists;
	}
}

static void
on_read(void *arg, int ok, int status, const char *error)
{
	struct seen *s = arg;
	int i = s->nread++;

	assert_true(i < NCB);
	s->read_ok[i] = ok;
	s->read_status[i] = status;
	snprintf(s->read_error[i], 128, "%s", ok ? "" : error);
}

/* ---- commands with an answer ---- */

static void
test_commands(void **state)
{
	struct tctx *t = fw_tctx();
	int lfd = fw_listen();
	struct fw f;
	struct seen s;
	struct workers_send snd = { "15551234567@s.whatsapp.net", (const unsigned char *)"\x0a\x02hi", 4, NULL };
	const char *numbers[2] = { "15551234567", "15550000000" };
	struct workers_msg_key keys[2] = {
		{ "15551234567@s.whatsapp.net", "3EB0AA", NULL, 0 },
		{ "120363000000000001@g.us", "3EB0BB", "15557654321@s.whatsapp.net", 0 },
	};
	Wagate__Ipc__SendResult sr = WAGATE__IPC__SEND_RESULT__INIT;
	Wagate__Ipc__NumbersResult nr = WAGATE__IPC__NUMBERS_RESULT__INIT;
	Wagate__Ipc__NumberInfo ni[2], *nip[2] = { &ni[0], &ni[1] };
	IpcEnvelope *env;
	long long sent_at;
	uint64_t rid;

	(void)state;
	memset(&s, 0, sizeof(s));
	/* Not registered, or not Ready yet: -1, and the callbacks never run. */
	assert_int_equal(workers_send_message(t->w, "nobody", &snd, on_send, &s), -1);
	add(t, "hand-cmd", 0);
	assert_int_equal(workers_send_message(t->w, "hand-cmd", &snd, on_send, &s), -1);
	assert_int_equal(workers_check_numbers(t->w, "hand-cmd", numbers, 2, on_numbers, &s), -1);
	assert_int_equal(workers_mark_read(t->w, "hand-cmd", keys, 2, on_read, &s), -1);
	assert_true(fw_accept(t, lfd, &f, 10000));
	fw_ready(t, &f, "hand-cmd");

	/* Arguments outside the limits: -1. */
	snd.message_len = 0;
	assert_int_equal(workers_send_message(t->w, "hand-cmd", &snd, on_send, &s), -1);
	snd.message_len = WORKERS_MESSAGE_MAX + 1;
	assert_int_equal(workers_send_message(t->w, "hand-cmd", &snd, on_send, &s), -1);
	snd.message_len = 4;
	snd.to = "";
	assert_int_equal(workers_send_message(t->w, "hand-cmd", &snd, on_send, &s), -1);
	snd.to = "15551234567@s.whatsapp.net";
	assert_int_equal(workers_check_numbers(t->w, "hand-cmd", numbers, 0, on_numbers, &s), -1);
	assert_int_equal(workers_check_numbers(t->w, "hand-cmd", numbers, WORKERS_NUMBERS_MAX + 1, on_numbers, &s), -1);
	assert_int_equal(workers_mark_read(t->w, "hand-cmd", keys, 0, on_read, &s), -1);
	assert_int_equal(workers_mark_read(t->w, "hand-cmd", keys, WORKERS_READ_KEYS_MAX + 1, on_read, &s), -1);
	run_for(t, 50);
	assert_int_equal(s.nsend + s.nnum + s.nread, 0);

	/* SendMessage -> SendResult. An answer under an id we never used is dropped; the right one arrives. */
	snd.id = "3EB0MINE";
	sent_at = now_ms();
	assert_int_equal(workers_send_message(t->w, "hand-cmd", &snd, on_send, &s), 0);
	env = fw_expect(t, &f, WAGATE__IPC__ENVELOPE__MSG_SEND_MESSAGE, 10000);
	/* the worker may start it for a part of the supervisor's wait (on the clock the worker reads too) */
	assert_true((long long)env->send_message->start_by_ms >= sent_at + t->w->send_timeout_ms / WORKERS_SEND_START_PART);
	assert_true((long long)env->send_message->start_by_ms <= now_ms() + t->w->send_timeout_ms / WORKERS_SEND_START_PART);
	assert_string_equal(env->send_message->to, "15551234567@s.whatsapp.net");
	assert_int_equal(env->send_message->message.len, 4);
	assert_memory_equal(env->send_message->message.data, "\x0a\x02hi", 4);
	assert_string_equal(env->send_message->id, "3EB0MINE");
	rid = env->request_id;
	assert_true(rid != 0);
	ipc_envelope_free(env);
	sr.ok = 1;
	sr.id = (char *)"3EB0MINE";
	sr.remote_jid = (char *)"15551234567@s.whatsapp.net";
	sr.remote_jid_alt = (char *)"100000000000009@lid";
	sr.timestamp = 1764672000;
	sr.status = WAGATE__IPC__MSG_STATUS__MSG_STATUS_SERVER_ACK;
	fw_send_send_result(t, &f, rid + 100, &sr);
	run_for(t, 100);
	assert_int_equal(s.nsend, 0);
	fw_send_send_result(t, &f, rid, &sr);
	assert_true(run_until(t, &s.nsend, 1, 10000));
	assert_true(s.send_ok[0]);
	assert_int_equal(s.send_code[0], 0);
	assert_string_equal(s.send_id[0], "3EB0MINE");
	assert_string_equal(s.send_jid[0], "15551234567@s.whatsapp.net");
	assert_string_equal(s.send_alt[0], "100000000000009@lid");
	assert_int_equal(s.send_ts[0], 1764672000);
	assert_int_equal(s.send_status[0], WORKERS_MSG_SERVER_ACK);
	/* A second answer to the same id is a late one: dropped. */
	fw_send_send_result(t, &f, rid, &sr);

	/* A failure, as the worker says it. */
	snd.id = NULL;
	assert_int_equal(workers_send_message(t->w, "hand-cmd", &snd, on_send, &s), 0);
	env = fw_expect(t, &f, WAGATE__IPC__ENVELOPE__MSG_SEND_MESSAGE, 10000);
	assert_string_equal(env->send_message->id, "");
	rid = env->request_id;
	ipc_envelope_free(env);
	wagate__ipc__send_result__init(&sr);
	sr.code = 400;
	sr.error = (char *)"not on WhatsApp";
	fw_send_send_result(t, &f, rid, &sr);
	assert_true(run_until(t, &s.nsend, 2, 10000));
	assert_false(s.send_ok[1]);
	assert_int_equal(s.send_code[1], 400);
	assert_string_equal(s.send_error[1], "not on WhatsApp");

	/* CheckNumbers -> NumbersResult, one entry per number. */
	assert_int_equal(workers_check_numbers(t->w, "hand-cmd", numbers, 2, on_numbers, &s), 0);
	env = fw_expect(t, &f, WAGATE__IPC__ENVELOPE__MSG_CHECK_NUMBERS, 10000);
	assert_int_equal(env->check_numbers->n_numbers, 2);
	assert_string_equal(env->check_numbers->numbers[0], "15551234567");
	assert_string_equal(env->check_numbers->numbers[1], "15550000000");
	rid = env->request_id;
	ipc_envelope_free(env);
	wagate__ipc__number_info__init(&ni[0]);
	ni[0].number = (char *)"15551234567";
	ni[0].exists = 1;
	ni[0].jid = (char *)"15551234567@s.whatsapp.net";
	ni[0].lid = (char *)"100000000000009@lid";
	wagate__ipc__number_info__init(&ni[1]);
	ni[1].number = (char *)"15550000000";
	nr.ok = 1;
	nr.n_numbers = 2;
	nr.numbers = nip;
	fw_send_numbers(t, &f, rid, &nr);
	assert_true(run_until(t, &s.nnum, 1, 10000));
	assert_true(s.num_ok[0]);
	assert_int_equal(s.num_n[0], 2);
	assert_true(s.num_exists[0][0]);
	assert_string_equal(s.num_jid[0][0], "15551234567@s.whatsapp.net");
	assert_string_equal(s.num_lid[0][0], "100000000000009@lid");
	assert_false(s.num_exists[0][1]);
	assert_string_equal(s.num_jid[0][1], "");
	/* ... and a refusal. */
	assert_int_equal(workers_check_numbers(t->w, "hand-cmd", numbers, 1, on_numbers, &s), 0);
	env = fw_expect(t, &f, WAGATE__IPC__ENVELOPE__MSG_CHECK_NUMBERS, 10000);
	rid = env->request_id;
	ipc_envelope_free(env);
	wagate__ipc__numbers_result__init(&nr);
	nr.code = 503;
	nr.error = (char *)"not connected";
	fw_send_numbers(t, &f, rid, &nr);
	assert_true(run_until(t, &s.nnum, 2, 10000));
	assert_false(s.num_ok[1]);
	assert_int_equal(s.num_code[1], 503);
	assert_string_equal(s.num_error[1], "not connected");

	/* MarkRead -> Result. */
	assert_int_equal(workers_mark_read(t->w, "hand-cmd", keys, 2, on_read, &s), 0);
	env = fw_expect(t, &f, WAGATE__IPC__ENVELOPE__MSG_MARK_READ, 10000);
	assert_int_equal(env->mark_read->n_keys, 2);
	assert_string_equal(env->mark_read->keys[0]->remote_jid, "15551234567@s.whatsapp.net");
	assert_string_equal(env->mark_read->keys[0]->id, "3EB0AA");
	assert_string_equal(env->mark_read->keys[0]->participant, "");
	assert_string_equal(env->mark_read->keys[1]->participant, "15557654321@s.whatsapp.net");
	rid = env->request_id;
	ipc_envelope_free(env);
	fw_send_result(t, &f, rid, 1, 0, NULL);
	assert_true(run_until(t, &s.nread, 1, 10000));
	assert_true(s.read_ok[0]);
	/* Refusals: the Result's code (a Reason) becomes the caller's status. */
	{
		static const struct { int code, status; } how[] = {
			{ WAGATE__IPC__REASON__REASON_CONNECTION_CLOSED, 503 }, { 503, 503 }, { 504, 504 }, { 0, 400 },
			{ 500, 500 },
		};
		size_t k;

		for (k = 0; k < sizeof(how) / sizeof(how[0]); k++) {
			assert_int_equal(workers_mark_read(t->w, "hand-cmd", keys, 1, on_read, &s), 0);
			env = fw_expect(t, &f, WAGATE__IPC__ENVELOPE__MSG_MARK_READ, 10000);
			rid = env->request_id;
			ipc_envelope_free(env);
			fw_send_result(t, &f, rid, 0, how[k].code, "no");
			assert_true(run_until(t, &s.nread, (int)k + 2, 10000));
			assert_false(s.read_ok[k + 1]);
			assert_int_equal(s.read_status[k + 1], how[k].status);
			assert_string_equal(s.read_error[k + 1], "no");
		}
	}

	/* Nothing more was called, and the worker is still the one we started. */
	run_for(t, 100);
	assert_int_equal(s.nsend, 2);
	assert_int_equal(s.nnum, 2);
	assert_int_equal(s.nread, 6);
	assert_int_equal(t->nexit, 0);
	assert_int_equal(workers_pid(t->w, "hand-cmd"), f.pid);
	fw_close(&f);
	tctx_free(t);
	fw_unlisten(lfd);
}

/* Deadlines: 504 (MarkRead: !ok) after the timeout; a late answer then is dropped, not a protocol error. */
static void
test_command_timeouts(void **state)
{
	struct tctx *t = fw_tctx();
	int lfd = fw_listen();
	struct fw f;
	struct seen s;
	struct workers_send snd = { "15551234567@s.whatsapp.net", (const unsigned char *)"\x0a\x02hi", 4, NULL };
	const char *numbers[1] = { "15551234567" };
	struct workers_msg_key key = { "15551234567@s.whatsapp.net", "3EB0AA", NULL, 0 };
	Wagate__Ipc__SendResult sr = WAGATE__IPC__SEND_RESULT__INIT;
	IpcEnvelope *env;
	uint64_t rid;
	long long t0;

	(void)state;
	memset(&s, 0, sizeof(s));
	fw_start(t, lfd, "hand-slow", &f);
	assert_int_equal(t->w->send_timeout_ms, WORKERS_SEND_TIMEOUT_MS);
	assert_int_equal(t->w->query_timeout_ms, WORKERS_QUERY_TIMEOUT_MS);
	t->w->send_timeout_ms = 300;
	t->w->query_timeout_ms = 200;
	t0 = now_ms();
	assert_int_equal(workers_send_message(t->w, "hand-slow", &snd, on_send, &s), 0);
	assert_int_equal(workers_check_numbers(t->w, "hand-slow", numbers, 1, on_numbers, &s), 0);
	assert_int_equal(workers_mark_read(t->w, "hand-slow", &key, 1, on_read, &s), 0);
	env = fw_expect(t, &f, WAGATE__IPC__ENVELOPE__MSG_SEND_MESSAGE, 10000);
	rid = env->request_id;
	ipc_envelope_free(env);
	assert_true(run_until(t, &s.nsend, 1, 10000));
	assert_true(now_ms() - t0 >= 290);
	assert_false(s.send_ok[0]);
	assert_int_equal(s.send_code[0], 504);
	assert_string_equal(s.send_error[0], "timeout");
	assert_int_equal(s.nnum, 1);
	assert_false(s.num_ok[0]);
	assert_int_equal(s.num_code[0], 504);
	assert_int_equal(s.nread, 1);
	assert_false(s.read_ok[0]);
	assert_int_equal(s.read_status[0], 504);
	sr.ok = 1;
	sr.id = (char *)"3EB0LATE";
	sr.remote_jid = (char *)"15551234567@s.whatsapp.net";
	fw_send_send_result(t, &f, rid, &sr);
	run_for(t, 200);
	assert_int_equal(s.nsend, 1);
	assert_int_equal(t->nexit, 0);
	fw_close(&f);
	tctx_free(t);
	fw_unlisten(lfd);
}

/* A caller that sends again when told the worker went away (from inside the table's teardown of the
 * channel): it must be refused, not queued on the dying channel and cancelled again, without end. */
static struct tctx *retry_t;
static int retry_n, retry_rc = 99;

static void
on_send_retry(void *arg, const struct workers_send_result *r)
{
	static struct workers_send snd = { "15551234567@s.whatsapp.net", (const unsigned char *)"x", 1, NULL };

	(void)arg;
	assert_int_equal(r->code, 503);
	retry_n++;
	retry_rc = workers_send_message(retry_t->w, "hand-gone", &snd, on_send_retry, NULL);
}

/* Issue one of each command to instance id (all must be accepted). */
static void
issue_all(struct tctx *t, const char *id, struct seen *s)
{
	static struct workers_send snd = { "15551234567@s.whatsapp.net", (const unsigned char *)"\x0a\x02hi", 4, NULL };
	static const char *numbers[1] = { "15551234567" };
	static struct workers_msg_key key = { "15551234567@s.whatsapp.net", "3EB0AA", NULL, 0 };

	assert_int_equal(workers_send_message(t->w, id, &snd, on_send, s), 0);
	assert_int_equal(workers_check_numbers(t->w, id, numbers, 1, on_numbers, s), 0);
	assert_int_equal(workers_mark_read(t->w, id, &key, 1, on_read, s), 0);
}

/* The worker goes away with commands pending: each callback once, 503 (MarkRead: !ok). By exit (SIGCHLD),
 * by EOF, by workers_remove (an answer that still comes while it stops counts), and by workers_free. A
 * SignalLoad's answer after its process died goes nowhere, not to the successor. */
static void
test_worker_gone(void **state)
{
	struct tctx *t = fw_tctx();
	int lfd = fw_listen();
	struct fw f;
	struct seen s, sf;
	Wagate__Ipc__SignalKey k, *kp = &k;
	Wagate__Ipc__SendResult sr = WAGATE__IPC__SEND_RESULT__INIT;
	IpcEnvelope *env;
	uint64_t old_req;

	(void)state;
	memset(&s, 0, sizeof(s));
	memset(&sf, 0, sizeof(sf));
	t->w->cfg.backoff_min_ms = t->w->cfg.backoff_max_ms = 100;
	fw_start(t, lfd, "hand-gone", &f);
	fw_key(&k, WORKERS_SIG_SESSION, "15551234567:0", "", 0);
	fw_send_signal_load(t, &f, 81, &kp, 1);
	assert_true(run_until(t, &t->nsig, 1, 10000));
	old_req = t->sig_req;

	/* 1: the process is killed (not by the table). */
	issue_all(t, "hand-gone", &s);
	retry_t = t;
	assert_int_equal(workers_send_message(t->w, "hand-gone", &(struct workers_send){ "1@s.whatsapp.net",
	    (const unsigned char *)"x", 1, NULL }, on_send_retry, NULL), 0);
	assert_int_equal(kill(f.pid, SIGKILL), 0);
	assert_true(run_until(t, &s.nread, 1, 10000));
	assert_true(run_until(t, &retry_n, 1, 10000));
	assert_int_equal(retry_n, 1);
	assert_int_equal(retry_rc, -1);
	assert_int_equal(s.nsend, 1);
	assert_int_equal(s.send_code[0], 503);
	assert_string_equal(s.send_error[0], "the worker went away");
	assert_int_equal(s.nnum, 1);
	assert_int_equal(s.num_code[0], 503);
	assert_false(s.read_ok[0]);
	assert_int_equal(s.read_status[0], 503);
	fw_close(&f);

	/* 2: the successor; the old SignalLoad's answer is dropped, never sent to it. */
	assert_true(fw_accept(t, lfd, &f, 10000));
	fw_ready(t, &f, "hand-gone");
	assert_int_equal(workers_reply_signal(t->w, "hand-gone", old_req, 0, "late", NULL, 0), 0);
	assert_null(fw_read(t, &f, 200));
	/* It closes its end: EOF. */
	issue_all(t, "hand-gone", &s);
	fw_close(&f);
	assert_true(run_until(t, &s.nread, 2, 10000));
	assert_int_equal(kill(f.pid, SIGKILL), 0);	/* rather than wait out the grace for the next life */
	assert_int_equal(s.nsend, 2);
	assert_int_equal(s.send_code[1], 503);
	assert_int_equal(s.nnum, 2);
	assert_int_equal(s.num_code[1], 503);
	assert_false(s.read_ok[1]);

	/* 3: removed. It answers one command while stopping; the others end when it is gone. */
	assert_true(fw_accept(t, lfd, &f, 10000));
	fw_ready(t, &f, "hand-gone");
	issue_all(t, "hand-gone", &s);
	env = fw_expect(t, &f, WAGATE__IPC__ENVELOPE__MSG_SEND_MESSAGE, 10000);
	sr.ok = 1;
	sr.id = (char *)"3EB0STOP";
	sr.remote_jid = (char *)"15551234567@s.whatsapp.net";
	sr.status = WAGATE__IPC__MSG_STATUS__MSG_STATUS_SERVER_ACK;
	assert_int_equal(workers_remove(t->w, "hand-gone"), 0);
	ipc_envelope_free(fw_expect(t, &f, WAGATE__IPC__ENVELOPE__MSG_CHECK_NUMBERS, 10000));
	ipc_envelope_free(fw_expect(t, &f, WAGATE__IPC__ENVELOPE__MSG_MARK_READ, 10000));
	ipc_envelope_free(fw_expect(t, &f, WAGATE__IPC__ENVELOPE__MSG_SHUTDOWN, 10000));
	fw_send_send_result(t, &f, env->request_id, &sr);
	ipc_envelope_free(env);
	assert_true(run_until(t, &s.nsend, 3, 10000));
	assert_true(s.send_ok[2]);
	assert_string_equal(s.send_id[2], "3EB0STOP");
	assert_int_equal(kill(f.pid, SIGKILL), 0);
	assert_true(run_until(t, &s.nread, 3, 10000));
	assert_int_equal(s.nnum, 3);
	assert_int_equal(s.num_code[2], 503);
	assert_int_equal(workers_send_message(t->w, "hand-gone", &(struct workers_send){ "1@s.whatsapp.net",
	    (const unsigned char *)"x", 1, NULL }, on_send, &s), -1);
	fw_close(&f);

	/* 4: the table is freed with commands pending: called during workers_free, nothing leaks. */
	fw_start(t, lfd, "hand-free", &f);
	issue_all(t, "hand-free", &sf);
	run_for(t, 50);
	assert_int_equal(sf.nsend + sf.nnum + sf.nread, 0);
	tctx_free(t);
	assert_int_equal(sf.nsend, 1);
	assert_int_equal(sf.send_code[0], 503);
	assert_int_equal(sf.nnum, 1);
	assert_int_equal(sf.num_code[0], 503);
	assert_int_equal(sf.nread, 1);
	assert_int_equal(s.nsend, 3);
	assert_int_equal(s.nnum, 3);
	assert_int_equal(s.nread, 3);
	fw_close(&f);
	fw_unlisten(lfd);
}

/* An invalid answer is a protocol error: the caller hears 500 once, and the worker is killed. */
static void
test_invalid_answers(void **state)
{
	struct tctx *t = fw_tctx();
	int lfd = fw_listen();
	struct fw f;
	struct seen s;
	struct workers_send snd = { "15551234567@s.whatsapp.net", (const unsigned char *)"\x0a\x02hi", 4, NULL };
	const char *numbers[2] = { "15551234567", "15550000000" };
	Wagate__Ipc__SendResult sr = WAGATE__IPC__SEND_RESULT__INIT;
	Wagate__Ipc__NumbersResult nr = WAGATE__IPC__NUMBERS_RESULT__INIT;
	Wagate__Ipc__NumberInfo ni, *nip[3] = { &ni, &ni, &ni };
	IpcEnvelope *env;
	char id[32];
	int v;

	(void)state;
	memset(&s, 0, sizeof(s));
	/* ok without an id */
	fw_start(t, lfd, "hand-inv1", &f);
	assert_int_equal(workers_send_message(t->w, "hand-inv1", &snd, on_send, &s), 0);
	env = fw_expect(t, &f, WAGATE__IPC__ENVELOPE__MSG_SEND_MESSAGE, 10000);
	sr.ok = 1;
	sr.remote_jid = (char *)"15551234567@s.whatsapp.net";
	fw_send_send_result(t, &f, env->request_id, &sr);
	ipc_envelope_free(env);
	assert_true(run_until(t, &t->nexit, 1, 10000));
	assert_int_equal(s.nsend, 1);
	assert_false(s.send_ok[0]);
	assert_int_equal(s.send_code[0], 500);
	assert_int_equal(t->reason[t->nstate - 1], REASON_PROTOCOL_ERROR);
	assert_int_equal(workers_remove(t->w, "hand-inv1"), 0);
	fw_close(&f);

	/* one entry, then three, for two numbers */
	for (v = 0; v < 2; v++) {
		snprintf(id, sizeof(id), "hand-inv2%c", 'a' + v);
		fw_start(t, lfd, id, &f);
		assert_int_equal(workers_check_numbers(t->w, id, numbers, 2, on_numbers, &s), 0);
		env = fw_expect(t, &f, WAGATE__IPC__ENVELOPE__MSG_CHECK_NUMBERS, 10000);
		wagate__ipc__number_info__init(&ni);
		ni.number = (char *)"15551234567";
		nr.ok = 1;
		nr.n_numbers = v == 0 ? 1 : 3;
		nr.numbers = nip;
		fw_send_numbers(t, &f, env->request_id, &nr);
		ipc_envelope_free(env);
		assert_true(run_until(t, &t->nexit, 2 + v, 10000));
		assert_int_equal(s.nnum, 1 + v);
		assert_false(s.num_ok[v]);
		assert_int_equal(s.num_code[v], 500);
		assert_int_equal(workers_remove(t->w, id), 0);
		fw_close(&f);
	}

	/* the answer of another command: a NumbersResult under a SendMessage's id */
	fw_start(t, lfd, "hand-inv3", &f);
	assert_int_equal(workers_send_message(t->w, "hand-inv3", &snd, on_send, &s), 0);
	env = fw_expect(t, &f, WAGATE__IPC__ENVELOPE__MSG_SEND_MESSAGE, 10000);
	nr.n_numbers = 0;
	nr.ok = 0;
	fw_send_numbers(t, &f, env->request_id, &nr);
	ipc_envelope_free(env);
	assert_true(run_until(t, &t->nexit, 4, 10000));
	assert_true(run_until(t, &s.nsend, 2, 10000));
	assert_false(s.send_ok[1]);
	assert_int_equal(s.send_code[1], 503);	/* the request itself never got its answer */
	fw_close(&f);
	tctx_free(t);
	assert_int_equal(s.nsend, 2);
	assert_int_equal(s.nnum, 2);
	fw_unlisten(lfd);
}

/* ---- adopted workers: the same requests and commands ---- */

static void
test_adopted(void **state)
{
	char dir[64], sub[96], cmd[128];
	struct tctx *t;
	int lfd = fw_listen();
	struct fw f;
	struct seen s;
	pid_t pid;
	Wagate__Ipc__SignalKey k, *kp = &k;
	Wagate__Ipc__MessageStore ms = WAGATE__IPC__MESSAGE_STORE__INIT;
	Wagate__Ipc__SendResult sr = WAGATE__IPC__SEND_RESULT__INIT;
	struct workers_send snd = { "15551234567@s.whatsapp.net", (const unsigned char *)"\x0a\x02hi", 4, NULL };
	IpcEnvelope *env;

	(void)state;
	memset(&s, 0, sizeof(s));
	snprintf(dir, sizeof(dir), "/tmp/wmsg-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/workers", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	t = fw_tctx();
	t->w->cfg.runtime_dir = strdup(dir);	/* freed by workers_free */
	pid = fw_orphan_start(dir, "inst-adopt");
	add(t, "inst-adopt", 1);
	assert_true(fw_accept(t, lfd, &f, 10000));
	assert_int_equal(f.pid, pid);
	fw_adopted(t, &f, "inst-adopt");
	assert_int_equal(workers_pid(t->w, "inst-adopt"), pid);

	fw_key(&k, WORKERS_SIG_IDENTITY, "15551234567:0", "", 0);
	fw_send_signal_load(t, &f, 91, &kp, 1);
	assert_true(run_until(t, &t->nsig, 1, 10000));
	assert_int_equal(workers_reply_signal(t->w, "inst-adopt", t->sig_req, 1, NULL,
	    &(struct workers_sig_record){ { WORKERS_SIG_IDENTITY, "15551234567:0", "", 0 }, 0, NULL, 0 }, 1), 0);
	env = fw_expect(t, &f, WAGATE__IPC__ENVELOPE__MSG_SIGNAL_RECORDS, 10000);
	assert_int_equal(env->request_id, 91);
	assert_true(env->signal_records->ok);
	assert_int_equal(env->signal_records->n_records, 1);
	ipc_envelope_free(env);
	fw_send_msg_store(t, &f, 92, &ms);
	assert_true(run_until(t, &t->nmsgstore, 1, 10000));
	assert_int_equal(workers_reply_store(t->w, "inst-adopt", t->msgstore_req, 1, NULL), 0);
	env = fw_expect(t, &f, WAGATE__IPC__ENVELOPE__MSG_STORE_ACK, 10000);
	assert_int_equal(env->request_id, 92);
	ipc_envelope_free(env);

	assert_int_equal(workers_send_message(t->w, "inst-adopt", &snd, on_send, &s), 0);
	env = fw_expect(t, &f, WAGATE__IPC__ENVELOPE__MSG_SEND_MESSAGE, 10000);
	sr.ok = 1;
	sr.id = (char *)"3EB0AD";
	sr.remote_jid = (char *)"15551234567@s.whatsapp.net";
	fw_send_send_result(t, &f, env->request_id, &sr);
	ipc_envelope_free(env);
	assert_true(run_until(t, &s.nsend, 1, 10000));
	assert_true(s.send_ok[0]);
	assert_string_equal(s.send_id[0], "3EB0AD");

	/* Its end is seen on the pidfd (not our child): pending commands get 503. */
	issue_all(t, "inst-adopt", &s);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_true(run_until(t, &s.nread, 1, 10000));
	assert_int_equal(s.nsend, 2);
	assert_int_equal(s.send_code[1], 503);
	assert_int_equal(s.nnum, 1);
	assert_int_equal(s.num_code[0], 503);
	fw_close(&f);

	/* A bad frame from an adopted worker kills it the same way. */
	pid = fw_orphan_start(dir, "inst-adopt2");
	add(t, "inst-adopt2", 1);
	assert_true(fw_accept(t, lfd, &f, 10000));
	fw_adopted(t, &f, "inst-adopt2");
	k.prekey_id = 0;
	k.kind = (Wagate__Ipc__SignalKind)WORKERS_SIG_PREKEY;
	fw_send_signal_load(t, &f, 93, &kp, 1);
	assert_true(run_until(t, &t->nexit, 2, 10000));
	assert_int_equal(t->reason[t->nstate - 1], REASON_PROTOCOL_ERROR);
	assert_int_equal(t->nsig, 1);
	fw_close(&f);
	tctx_free(t);
	fw_unlisten(lfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commands),
		cmocka_unit_test(test_command_timeouts),
		cmocka_unit_test(test_worker_gone),
		cmocka_unit_test(test_invalid_answers),
		cmocka_unit_test(test_adopted),
	};

	return testlib_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
