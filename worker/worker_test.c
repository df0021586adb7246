/* Runs the real wagate-worker (under valgrind when WAGATE_VALGRIND names it) with a scripted IPC peer:
 * Start/Ready, Ping/Pong, Connect, updates, Shutdown, Logout (exit 3), EOF, bad frames, and the credentials
 * lifecycle: a fresh instance stores its registration material (StoreBatch) before any connection attempt,
 * a failing StoreAck gives CLOSE/500 and a retry on the next Connect, unreadable creds give CLOSE/500. */
#include "ipc.h"

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
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#define VALGRIND_ERROR_EXIT 99

struct peer {
	int fd;
	pid_t pid;
	unsigned char buf[1 << 16];
	size_t have;
};

/* Start the worker with our socket end on fd 3 (under valgrind if asked). */
static void
peer_start(struct peer *p, const char *instance_id)
{
	const char *bin = getenv("WAGATE_WORKER_BIN"), *vg = getenv("WAGATE_VALGRIND");
	int sv[2];

	assert_non_null(bin);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	memset(p, 0, sizeof(*p));
	p->fd = sv[0];
	p->pid = fork();
	assert_true(p->pid >= 0);
	if (p->pid == 0) {
		if (sv[1] == IPC_FD)
			fcntl(IPC_FD, F_SETFD, 0);
		else if (dup2(sv[1], IPC_FD) == -1)
			_exit(126);
		if (vg != NULL && *vg != '\0') {
			char code[32];
			snprintf(code, sizeof(code), "--error-exitcode=%d", VALGRIND_ERROR_EXIT);
			execl(vg, "valgrind", "-q", "--leak-check=full", "--show-leak-kinds=all",
			    "--errors-for-leak-kinds=all", code, bin, instance_id, (char *)NULL);
		} else
			execl(bin, "wagate-worker", instance_id, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
}

/* Send one envelope. */
static void
peer_send(struct peer *p, IpcEnvelope *env)
{
	unsigned char out[4096];
	size_t n;

	env->version = IPC_VERSION;
	n = ipc_frame_pack(env, out, sizeof(out));
	assert_true(n > 0);
	assert_int_equal(write(p->fd, out, n), (ssize_t)n);
}

/* Receive one envelope within 20 s (valgrind is slow); NULL on EOF. */
static IpcEnvelope *
peer_recv(struct peer *p)
{
	IpcEnvelope *env;
	size_t used;
	enum ipc_result r;

	for (;;) {
		struct pollfd pfd = { p->fd, POLLIN, 0 };
		ssize_t n;

		r = ipc_frame_parse(p->buf, p->have, &used, &env);
		assert_int_not_equal(r, IPC_ERROR);
		if (r == IPC_OK) {
			memmove(p->buf, p->buf + used, p->have - used);
			p->have -= used;
			assert_int_equal(env->version, IPC_VERSION);
			return env;
		}
		assert_int_equal(poll(&pfd, 1, 20000), 1);
		n = read(p->fd, p->buf + p->have, sizeof(p->buf) - p->have);
		assert_true(n >= 0);
		if (n == 0)
			return NULL;
		p->have += (size_t)n;
	}
}

/* Receive one envelope of the given case (skipping Log lines). */
static IpcEnvelope *
peer_expect(struct peer *p, int msg_case)
{
	IpcEnvelope *env;

	while ((env = peer_recv(p)) != NULL && env->msg_case == WAGATE__IPC__ENVELOPE__MSG_LOG)
		ipc_envelope_free(env);
	assert_non_null(env);
	if ((int)env->msg_case != msg_case)
		fail_msg("expected %s, got %s", ipc_msg_name(msg_case), ipc_msg_name((int)env->msg_case));
	return env;
}

/* Expect EOF, then the exit code. */
static int
peer_finish(struct peer *p)
{
	IpcEnvelope *env;
	int st;

	while ((env = peer_recv(p)) != NULL) {
		assert_true(env->msg_case == WAGATE__IPC__ENVELOPE__MSG_LOG ||
		    env->msg_case == WAGATE__IPC__ENVELOPE__MSG_RESULT ||
		    env->msg_case == WAGATE__IPC__ENVELOPE__MSG_CONNECTION_UPDATE);
		ipc_envelope_free(env);
	}
	close(p->fd);
	assert_int_equal(waitpid(p->pid, &st, 0), p->pid);
	assert_true(WIFEXITED(st));
	assert_int_not_equal(WEXITSTATUS(st), VALGRIND_ERROR_EXIT);
	return WEXITSTATUS(st);
}

/* Send Start and expect Ready; with connect_now also expect the honest CLOSE 601. */
static void
peer_handshake(struct peer *p, const char *id, int connect_now)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT, *r;
	Wagate__Ipc__Start st = WAGATE__IPC__START__INIT;
	Wagate__Ipc__Settings set = WAGATE__IPC__SETTINGS__INIT;
	Wagate__Ipc__Proxy px = WAGATE__IPC__PROXY__INIT;
	unsigned char key[32], creds[] = "secret-creds";

	memset(key, 7, sizeof(key));
	set.reject_call = 1;
	set.msg_call = "busy";
	px.enabled = 1;
	px.host = "127.0.0.1";
	px.port = "3128";
	px.password = "pw";
	st.instance_id = (char *)id;
	st.instance_name = "test-instance";
	st.wa_tls_ca_file = "/nonexistent/ca.pem";
	st.settings = &set;
	st.proxy = &px;
	st.wa_root_key.data = key;
	st.wa_root_key.len = sizeof(key);
	st.creds.data = creds;
	st.creds.len = sizeof(creds);
	st.log_level = 1;
	st.connect_now = connect_now;
	env.request_id = 41;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_START;
	env.start = &st;
	peer_send(p, &env);
	r = peer_expect(p, WAGATE__IPC__ENVELOPE__MSG_READY);
	assert_int_equal(r->request_id, 41);
	assert_int_equal(r->ready->pid, p->pid);
	assert_string_equal(r->ready->version, WAGATE_VERSION);
	ipc_envelope_free(r);
	if (connect_now) {
		r = peer_expect(p, WAGATE__IPC__ENVELOPE__MSG_CONNECTION_UPDATE);
		assert_int_equal(r->connection_update->state, WAGATE__IPC__CONN_STATE__CONN_STATE_CLOSE);
		assert_int_equal(r->connection_update->reason, 601);
		ipc_envelope_free(r);
	}
}

/* Send a message with no body of the given case and expect Result ok for it. */
static void
peer_request(struct peer *p, IpcEnvelope *env, uint64_t id)
{
	IpcEnvelope *r;

	env->request_id = id;
	peer_send(p, env);
	r = peer_expect(p, WAGATE__IPC__ENVELOPE__MSG_RESULT);
	assert_int_equal(r->request_id, id);
	assert_true(r->result->ok);
	ipc_envelope_free(r);
}

/* A port nothing listens on: connection attempts fail fast, which is all these tests need. */
#define DEAD_URL "ws://127.0.0.1:9/ws/chat"

/* Start with a WhatsApp URL and the given creds (NULL = none); expect Ready. */
static void
peer_start_url(struct peer *p, const char *id, const unsigned char *creds, size_t creds_len, int connect_now)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT, *r;
	Wagate__Ipc__Start st = WAGATE__IPC__START__INIT;

	peer_start(p, id);
	st.instance_id = (char *)id;
	st.instance_name = "test-instance";
	st.wa_url = DEAD_URL;
	st.creds.data = (uint8_t *)creds;
	st.creds.len = creds != NULL ? creds_len : 0;
	st.log_level = 1;
	st.connect_now = connect_now;
	env.request_id = 7;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_START;
	env.start = &st;
	peer_send(p, &env);
	r = peer_expect(p, WAGATE__IPC__ENVELOPE__MSG_READY);
	ipc_envelope_free(r);
}

/* Expect a StoreBatch carrying fresh creds and nothing else; return its request id. */
static uint64_t
peer_expect_fresh_store(struct peer *p)
{
	IpcEnvelope *r = peer_expect(p, WAGATE__IPC__ENVELOPE__MSG_STORE_BATCH);
	uint64_t id = r->request_id;

	assert_true(id != 0);
	assert_true(r->store_batch->creds.len > 100);
	assert_int_equal(r->store_batch->n_prekeys, 0);
	assert_int_equal(r->store_batch->prekeys_uploaded_upto, 0);
	ipc_envelope_free(r);
	return id;
}

/* Answer a worker request with StoreAck. */
static void
peer_store_ack(struct peer *p, uint64_t id, int ok, const char *error)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__StoreAck ack = WAGATE__IPC__STORE_ACK__INIT;

	ack.ok = ok;
	ack.error = (char *)(error != NULL ? error : "");
	env.request_id = id;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_STORE_ACK;
	env.store_ack = &ack;
	peer_send(p, &env);
}

static void
peer_shutdown(struct peer *p, uint64_t id)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Shutdown sd = WAGATE__IPC__SHUTDOWN__INIT;

	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_SHUTDOWN;
	env.shutdown = &sd;
	env.request_id = id;
	peer_send(p, &env);
}

/* Fresh instance: StoreBatch{creds} comes before any connection attempt; after the ack it connects. */
static void
test_fresh_store_first(void **state)
{
	struct peer p;
	IpcEnvelope *r;
	uint64_t id;

	(void)state;
	peer_start_url(&p, "inst-fresh", NULL, 0, 1);
	/* peer_expect fails on anything but StoreBatch (Log lines aside): no ConnectionUpdate before it */
	id = peer_expect_fresh_store(&p);
	peer_store_ack(&p, id, 1, NULL);
	r = peer_expect(&p, WAGATE__IPC__ENVELOPE__MSG_CONNECTION_UPDATE);
	assert_int_equal(r->connection_update->state, WAGATE__IPC__CONN_STATE__CONN_STATE_CONNECTING);
	ipc_envelope_free(r);
	peer_shutdown(&p, 30);
	assert_int_equal(peer_finish(&p), 0);
}

/* A failing StoreAck: CLOSE/500 with the error, no connection; the next Connect stores again. */
static void
test_fresh_store_fails(void **state)
{
	struct peer p;
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT, *r;
	Wagate__Ipc__Connect con = WAGATE__IPC__CONNECT__INIT;
	uint64_t id, id2;

	(void)state;
	peer_start_url(&p, "inst-storefail", NULL, 0, 1);
	id = peer_expect_fresh_store(&p);
	peer_store_ack(&p, id, 0, "disk full");
	r = peer_expect(&p, WAGATE__IPC__ENVELOPE__MSG_CONNECTION_UPDATE);
	assert_int_equal(r->connection_update->state, WAGATE__IPC__CONN_STATE__CONN_STATE_CLOSE);
	assert_int_equal(r->connection_update->reason, 500);
	assert_non_null(strstr(r->connection_update->detail, "disk full"));
	ipc_envelope_free(r);

	con.number = "";
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_CONNECT;
	env.connect = &con;
	peer_request(&p, &env, 31);
	id2 = peer_expect_fresh_store(&p);
	assert_true(id2 != id);
	/* a reply for a request nobody made is ignored */
	peer_store_ack(&p, id2 + 100, 1, NULL);
	peer_store_ack(&p, id2, 1, NULL);
	r = peer_expect(&p, WAGATE__IPC__ENVELOPE__MSG_CONNECTION_UPDATE);
	assert_int_equal(r->connection_update->state, WAGATE__IPC__CONN_STATE__CONN_STATE_CONNECTING);
	ipc_envelope_free(r);
	peer_shutdown(&p, 32);
	assert_int_equal(peer_finish(&p), 0);
}

/* Unreadable stored creds: CLOSE/500, no new keys, no connection. */
static void
test_bad_creds(void **state)
{
	static const unsigned char junk[] = "secret-creds";
	struct peer p;
	IpcEnvelope *r;

	(void)state;
	peer_start_url(&p, "inst-badcreds", junk, sizeof(junk), 1);
	r = peer_expect(&p, WAGATE__IPC__ENVELOPE__MSG_CONNECTION_UPDATE);
	assert_int_equal(r->connection_update->state, WAGATE__IPC__CONN_STATE__CONN_STATE_CLOSE);
	assert_int_equal(r->connection_update->reason, 500);
	assert_string_equal(r->connection_update->detail, "stored credentials unreadable");
	ipc_envelope_free(r);
	peer_shutdown(&p, 33);
	assert_int_equal(peer_finish(&p), 0);
}

/* SetPresence (presence, to) gets a Result that refuses it, with error containing want (NULL: any error). */
static void
presence_refused(struct peer *p, const char *presence, const char *to, uint64_t id, const char *want)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT, *r;
	Wagate__Ipc__SetPresence sp = WAGATE__IPC__SET_PRESENCE__INIT;

	sp.presence = (char *)presence;
	sp.to = (char *)to;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_SET_PRESENCE;
	env.set_presence = &sp;
	env.request_id = id;
	peer_send(p, &env);
	r = peer_expect(p, WAGATE__IPC__ENVELOPE__MSG_RESULT);
	assert_int_equal(r->request_id, id);
	assert_false(r->result->ok);
	if (want != NULL)
		assert_non_null(strstr(r->result->error, want));
	ipc_envelope_free(r);
}

static void
test_full_session(void **state)
{
	struct peer p;
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT, *r;
	Wagate__Ipc__Ping ping = WAGATE__IPC__PING__INIT;
	Wagate__Ipc__Connect con = WAGATE__IPC__CONNECT__INIT;
	Wagate__Ipc__UpdateSettings us = WAGATE__IPC__UPDATE_SETTINGS__INIT;
	Wagate__Ipc__UpdateProxy up = WAGATE__IPC__UPDATE_PROXY__INIT;
	Wagate__Ipc__Settings set = WAGATE__IPC__SETTINGS__INIT;
	Wagate__Ipc__Proxy px = WAGATE__IPC__PROXY__INIT;
	Wagate__Ipc__Shutdown sd = WAGATE__IPC__SHUTDOWN__INIT;
	Wagate__Ipc__DatabaseBack db = WAGATE__IPC__DATABASE_BACK__INIT;

	(void)state;
	peer_start(&p, "inst-full");
	peer_handshake(&p, "inst-full", 1);

	/* DatabaseBack without a session: nothing to resume, no answer (the Pong below is the next frame). */
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_DATABASE_BACK;
	env.database_back = &db;
	peer_send(&p, &env);
	ping.seq = 5;
	ping.sent_us = 12345;
	env.request_id = 9;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_PING;
	env.ping = &ping;
	peer_send(&p, &env);
	r = peer_expect(&p, WAGATE__IPC__ENVELOPE__MSG_PONG);
	assert_int_equal(r->request_id, 9);
	assert_int_equal(r->pong->seq, 5);
	assert_int_equal(r->pong->sent_us, 12345);
	ipc_envelope_free(r);

	set.msg_call = "not now";
	us.settings = &set;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_UPDATE_SETTINGS;
	env.update_settings = &us;
	peer_request(&p, &env, 10);
	px.enabled = 1;
	px.host = "proxy";
	px.username = "u";
	px.password = "p";
	up.proxy = &px;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_UPDATE_PROXY;
	env.update_proxy = &up;
	peer_request(&p, &env, 11);

	con.number = "5511999999999";
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_CONNECT;
	env.connect = &con;
	peer_request(&p, &env, 12);
	r = peer_expect(&p, WAGATE__IPC__ENVELOPE__MSG_CONNECTION_UPDATE);
	assert_int_equal(r->connection_update->state, WAGATE__IPC__CONN_STATE__CONN_STATE_CLOSE);
	assert_int_equal(r->connection_update->reason, 601);
	assert_true(strlen(r->connection_update->detail) > 0);
	ipc_envelope_free(r);

	/* SetPresence: refused while not logged in, and for anything but available/unavailable; with a chat, a
	 * typing state, refused while not logged in too, and a global presence is no chat's state. */
	presence_refused(&p, "available", "", 14, "Connection Closed");
	presence_refused(&p, "composing", "", 15, NULL);
	presence_refused(&p, "composing", "15551234567@s.whatsapp.net", 16, "Connection Closed");
	presence_refused(&p, "available", "15551234567@s.whatsapp.net", 17, "composing, recording or paused");

	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_SHUTDOWN;
	env.shutdown = &sd;
	peer_request(&p, &env, 13);
	assert_int_equal(peer_finish(&p), 0);
}

static void
test_logout_exit3(void **state)
{
	struct peer p;
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT, *r;
	Wagate__Ipc__Logout lo = WAGATE__IPC__LOGOUT__INIT;

	(void)state;
	peer_start(&p, "inst-logout");
	peer_handshake(&p, "inst-logout", 0);
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_LOGOUT;
	env.logout = &lo;
	peer_request(&p, &env, 20);
	r = peer_expect(&p, WAGATE__IPC__ENVELOPE__MSG_CONNECTION_UPDATE);
	assert_int_equal(r->connection_update->reason, 401);
	ipc_envelope_free(r);
	assert_int_equal(peer_finish(&p), IPC_EXIT_NO_RESTART);
}

static void
test_eof_exits_clean(void **state)
{
	struct peer p;
	int st;

	(void)state;
	peer_start(&p, "inst-eof");
	peer_handshake(&p, "inst-eof", 0);
	shutdown(p.fd, SHUT_WR);
	assert_int_equal(peer_finish(&p), 0);
	/* and before Start, too */
	peer_start(&p, "inst-eof2");
	close(p.fd);
	assert_int_equal(waitpid(p.pid, &st, 0), p.pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void
test_bad_frames(void **state)
{
	static const unsigned char garbage[] = { 0x00, 0x00, 0x00, 0x02, 0xff, 0xff };
	static const unsigned char oversized[] = { 0x7f, 0x00, 0x00, 0x00 };
	struct peer p;
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Connect con = WAGATE__IPC__CONNECT__INIT;
	Wagate__Ipc__Ping ping = WAGATE__IPC__PING__INIT;

	(void)state;
	peer_start(&p, "inst-bad1");
	assert_int_equal(write(p.fd, garbage, sizeof(garbage)), (ssize_t)sizeof(garbage));
	assert_int_equal(peer_finish(&p), 1);

	peer_start(&p, "inst-bad2");
	assert_int_equal(write(p.fd, oversized, sizeof(oversized)), (ssize_t)sizeof(oversized));
	assert_int_equal(peer_finish(&p), 1);

	/* Connect before Start is not allowed. */
	peer_start(&p, "inst-bad3");
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_CONNECT;
	env.connect = &con;
	peer_send(&p, &env);
	assert_int_equal(peer_finish(&p), 1);

	/* A wrong IPC version is refused. */
	peer_start(&p, "inst-bad4");
	peer_handshake(&p, "inst-bad4", 0);
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_PING;
	env.ping = &ping;
	{
		unsigned char out[64];
		size_t n;
		env.version = IPC_VERSION + 1;
		n = ipc_frame_pack(&env, out, sizeof(out));
		assert_int_equal(write(p.fd, out, n), (ssize_t)n);
	}
	assert_int_equal(peer_finish(&p), 1);

	/* Start for another instance is refused. */
	peer_start(&p, "inst-bad5");
	{
		IpcEnvelope e2 = WAGATE__IPC__ENVELOPE__INIT;
		Wagate__Ipc__Start st = WAGATE__IPC__START__INIT;
		st.instance_id = "someone-else";
		e2.msg_case = WAGATE__IPC__ENVELOPE__MSG_START;
		e2.start = &st;
		peer_send(&p, &e2);
	}
	assert_int_equal(peer_finish(&p), 1);
}

/* The messaging commands before any connection: checked per field, answered 400 or 503 at once; a command over
 * its caps is a protocol error (the worker exits). */
static void
test_messaging_closed(void **state)
{
	struct peer p;
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT, *r;
	Wagate__Ipc__SendMessage sm = WAGATE__IPC__SEND_MESSAGE__INIT;
	Wagate__Ipc__CheckNumbers cn = WAGATE__IPC__CHECK_NUMBERS__INIT;
	Wagate__Ipc__MarkRead mr = WAGATE__IPC__MARK_READ__INIT;
	Wagate__Ipc__MessageKey k = WAGATE__IPC__MESSAGE_KEY__INIT, *kp[257];
	char *numbers[51];
	uint8_t msg[] = { 0x0a, 0x02, 'h', 'i' };
	size_t i;

	(void)state;
	peer_start(&p, "inst-msg");
	peer_handshake(&p, "inst-msg", 0);
	sm.to = "15551234567@s.whatsapp.net";
	sm.message.data = msg;
	sm.message.len = sizeof(msg);
	sm.id = "3EB0CLOSED";
	env.request_id = 60;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_SEND_MESSAGE;
	env.send_message = &sm;
	peer_send(&p, &env);
	r = peer_expect(&p, WAGATE__IPC__ENVELOPE__MSG_SEND_RESULT);
	assert_int_equal(r->request_id, 60);
	assert_false(r->send_result->ok);
	assert_int_equal(r->send_result->code, 503);
	assert_string_equal(r->send_result->id, "3EB0CLOSED");
	ipc_envelope_free(r);
	sm.to = "";
	env.request_id = 61;
	peer_send(&p, &env);
	r = peer_expect(&p, WAGATE__IPC__ENVELOPE__MSG_SEND_RESULT);
	assert_int_equal(r->send_result->code, 400);
	ipc_envelope_free(r);

	numbers[0] = "15551234567";
	numbers[1] = "12a";
	cn.numbers = numbers;
	cn.n_numbers = 2;
	env.request_id = 62;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_CHECK_NUMBERS;
	env.check_numbers = &cn;
	peer_send(&p, &env);
	r = peer_expect(&p, WAGATE__IPC__ENVELOPE__MSG_NUMBERS_RESULT);
	assert_int_equal(r->numbers_result->code, 400);
	ipc_envelope_free(r);
	cn.n_numbers = 1;
	env.request_id = 63;
	peer_send(&p, &env);
	r = peer_expect(&p, WAGATE__IPC__ENVELOPE__MSG_NUMBERS_RESULT);
	assert_false(r->numbers_result->ok);
	assert_int_equal(r->numbers_result->code, 503);
	ipc_envelope_free(r);

	k.remote_jid = "15551234567@s.whatsapp.net";
	k.id = "3EB0X";
	for (i = 0; i < 257; i++)
		kp[i] = &k;
	mr.keys = kp;
	mr.n_keys = 1;
	env.request_id = 64;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_MARK_READ;
	env.mark_read = &mr;
	peer_send(&p, &env);
	r = peer_expect(&p, WAGATE__IPC__ENVELOPE__MSG_RESULT);
	assert_false(r->result->ok);
	assert_int_equal(r->result->code, 503);
	ipc_envelope_free(r);
	/* 257 keys: over the cap (short fields, so the frame fits peer_send's buffer) */
	k.remote_jid = "x";
	k.id = "y";
	mr.n_keys = 257;
	peer_send(&p, &env);
	assert_int_equal(peer_finish(&p), 1);

	/* 51 numbers: over the cap */
	peer_start(&p, "inst-msg2");
	peer_handshake(&p, "inst-msg2", 0);
	for (i = 0; i < 51; i++)
		numbers[i] = "15551234567";
	cn.n_numbers = 51;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_CHECK_NUMBERS;
	env.check_numbers = &cn;
	peer_send(&p, &env);
	assert_int_equal(peer_finish(&p), 1);
}

/* Group commands: checked by the worker (400), then 503 from a session that is not connected. */
static void
test_groups_closed(void **state)
{
	struct peer p;
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT, *r;
	Wagate__Ipc__GroupCreate gc = WAGATE__IPC__GROUP_CREATE__INIT;
	Wagate__Ipc__GroupQuery gq = WAGATE__IPC__GROUP_QUERY__INIT;
	Wagate__Ipc__GroupList gl = WAGATE__IPC__GROUP_LIST__INIT;
	char *users[257], subject[1026];
	struct { const char *subject; size_t n; const char *user; int code; } cases[] = {
		{ "ok", 2, "15551234567@s.whatsapp.net", 503 },
		{ "ok", 1, "123456789@lid", 503 },
		{ "ok", 0, NULL, 503 },
		{ "", 1, "15551234567@s.whatsapp.net", 400 },
		{ subject, 1, "15551234567@s.whatsapp.net", 400 },
		{ "ok", 257, "1@lid", 400 },
		{ "ok", 1, "15551234567:2@s.whatsapp.net", 400 },
		{ "ok", 1, "120363012345678901@g.us", 400 },
		{ "ok", 1, "not a jid", 400 },
	};
	const char *queries[] = { "120363012345678901@g.us", "15551234567-1700000000@g.us", "15551234567@s.whatsapp.net",
	    "@g.us", "" };
	int qcodes[] = { 503, 503, 400, 400, 400 };

	(void)state;
	memset(subject, 'x', 1025);
	subject[1025] = '\0';
	peer_start(&p, "inst-groups");
	peer_handshake(&p, "inst-groups", 0);
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_GROUP_CREATE;
	env.group_create = &gc;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (size_t k = 0; k < cases[i].n; k++)
			users[k] = (char *)cases[i].user;
		gc.subject = (char *)cases[i].subject;
		gc.participants = users;
		gc.n_participants = cases[i].n;
		env.request_id = 70 + i;
		peer_send(&p, &env);
		r = peer_expect(&p, WAGATE__IPC__ENVELOPE__MSG_GROUP_RESULT);
		assert_int_equal(r->request_id, 70 + i);
		assert_false(r->group_result->ok);
		if (r->group_result->code != cases[i].code)
			fail_msg("GroupCreate case %zu: %d, not %d", i, r->group_result->code, cases[i].code);
		assert_int_equal(r->group_result->n_groups, 0);
		ipc_envelope_free(r);
	}
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_GROUP_QUERY;
	env.group_query = &gq;
	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		gq.jid = (char *)queries[i];
		env.request_id = 90 + i;
		peer_send(&p, &env);
		r = peer_expect(&p, WAGATE__IPC__ENVELOPE__MSG_GROUP_RESULT);
		if (r->group_result->code != qcodes[i])
			fail_msg("GroupQuery %s: %d, not %d", queries[i], r->group_result->code, qcodes[i]);
		ipc_envelope_free(r);
	}
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_GROUP_LIST;
	env.group_list = &gl;
	env.request_id = 99;
	peer_send(&p, &env);
	r = peer_expect(&p, WAGATE__IPC__ENVELOPE__MSG_GROUP_RESULT);
	assert_int_equal(r->request_id, 99);
	assert_int_equal(r->group_result->code, 503);
	ipc_envelope_free(r);
	peer_shutdown(&p, 100);
	assert_int_equal(peer_finish(&p), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_session),
		cmocka_unit_test(test_logout_exit3),
		cmocka_unit_test(test_eof_exits_clean),
		cmocka_unit_test(test_bad_frames),
		cmocka_unit_test(test_messaging_closed),
		cmocka_unit_test(test_groups_closed),
		cmocka_unit_test(test_fresh_store_first),
		cmocka_unit_test(test_fresh_store_fails),
		cmocka_unit_test(test_bad_creds),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
