/* Real-process tests of the worker table: Ready, kill -9 and restart with backoff, SIGSTOP caught by
 * heartbeats, remove, restart, connect/logout, spawn pacing with 50 workers, and bad workers killed.
 * The real worker comes from WAGATE_WORKER_BIN. This binary doubles as a misbehaving worker: started
 * as "wagate-worker <mode>-..." it plays the mode named by the instance id. */
#include "workers.h"
#include "ipc.h"
#include "log.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#define MAXEV 256

struct tctx {
	struct event_base *base;
	struct workers *w;
	int nready, nexit, nstate, done;
	char ready_id[MAXEV][64];
	pid_t ready_pid[MAXEV];
	int exit_status[MAXEV], exit_restart[MAXEV];
	char exit_id[MAXEV][64];
	int state[MAXEV], reason[MAXEV];
	char detail[MAXEV][256];
	unsigned max_starting;
	/* pairing and storage requests */
	int nstore, npair, nopen;
	uint64_t store_req[8], pair_req[8];
	char store_creds[8][32];
	unsigned store_nprekeys[8], store_first_id[8], store_upto[8];
	char pair_jid[64], open_jid[64], open_push[64];
};

static char self_path[PATH_MAX];

/* ---- the misbehaving worker ---- */

/* Write a whole buffer to fd 3. */
static void
fake_write(const void *p, size_t n)
{
	if (write(IPC_FD, p, n) != (ssize_t)n)
		_exit(20);
}

/* Pack and write one envelope with the given version. */
static void
fake_send(IpcEnvelope *env, unsigned version)
{
	unsigned char out[4096];
	size_t n;

	env->version = version;
	if ((n = ipc_frame_pack(env, out, sizeof(out))) == 0)
		_exit(21);
	fake_write(out, n);
}

/* Read one whole frame from fd 3 (blocking); exits with code on EOF or garbage. */
static IpcEnvelope *
fake_read(int code)
{
	unsigned char hdr[4], *buf;
	size_t len, got = 0;
	ssize_t n;
	IpcEnvelope *env;

	while (got < 4) {
		if ((n = read(IPC_FD, hdr + got, 4 - got)) <= 0)
			_exit(code);
		got += (size_t)n;
	}
	len = ipc_header_decode(hdr);
	if (len > IPC_FRAME_MAX || (buf = malloc(len + 1)) == NULL)
		_exit(code);
	for (got = 0; got < len; got += (size_t)n)
		if ((n = read(IPC_FD, buf + got, len - got)) <= 0)
			_exit(code);
	if ((env = ipc_envelope_unpack(buf, len)) == NULL)
		_exit(code);
	free(buf);
	return env;
}

/* Wait for the reply to request rid, answering Pings meanwhile; returns its ok, exits with code if wrong. */
static int
fake_wait_reply(uint64_t rid, int msg_case, int code)
{
	for (;;) {
		IpcEnvelope *env = fake_read(code), out = WAGATE__IPC__ENVELOPE__INIT;
		Wagate__Ipc__Pong pong = WAGATE__IPC__PONG__INIT;
		int ok;

		if (env->msg_case == WAGATE__IPC__ENVELOPE__MSG_PING) {
			pong.seq = env->ping->seq;
			pong.sent_us = env->ping->sent_us;
			out.msg_case = WAGATE__IPC__ENVELOPE__MSG_PONG;
			out.pong = &pong;
			out.request_id = env->request_id;
			fake_send(&out, IPC_VERSION);
			ipc_envelope_free(env);
			continue;
		}
		if ((int)env->msg_case != msg_case || env->request_id != rid)
			_exit(code);
		ok = msg_case == WAGATE__IPC__ENVELOPE__MSG_RESULT ? env->result->ok : env->store_ack->ok;
		ipc_envelope_free(env);
		return ok;
	}
}

/* Send a StoreBatch with request id rid: creds, prekeys ids[0..n) with records of reclen bytes, upto. */
static void
fake_store(uint64_t rid, const char *creds, const unsigned *ids, size_t n, size_t reclen, unsigned upto)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__StoreBatch sb = WAGATE__IPC__STORE_BATCH__INIT;
	Wagate__Ipc__PreKey keys[4], *kp[4];
	static unsigned char rec[512];
	size_t i;

	memset(rec, 0xab, sizeof(rec));
	for (i = 0; i < n && i < 4; i++) {
		wagate__ipc__pre_key__init(&keys[i]);
		keys[i].id = ids[i];
		keys[i].record.data = rec;
		keys[i].record.len = reclen;
		kp[i] = &keys[i];
	}
	sb.creds.data = (uint8_t *)creds;
	sb.creds.len = creds != NULL ? strlen(creds) : 0;
	sb.n_prekeys = n;
	sb.prekeys = kp;
	sb.prekeys_uploaded_upto = upto;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_STORE_BATCH;
	env.store_batch = &sb;
	env.request_id = rid;
	fake_send(&env, IPC_VERSION);
}

/* The mark file of the pairing script, per test process (our parent). */
static const char *
fake_mark(void)
{
	static char path[64];

	snprintf(path, sizeof(path), "/tmp/wagate-workers-test-pair.%d", (int)(getppid()));
	return path;
}

/* The pairing script (instance id "pair-..."): every life reports through its exit code what Start carried
 * (50 = the creds stored last with connect_now, 52 = none after they were forgotten); the first life runs
 * storage and pairing requests against the table and waits for the test to kill it. */
static int
fake_pair(void)
{
	IpcEnvelope *st = fake_read(70), env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Ready ready = WAGATE__IPC__READY__INIT;
	Wagate__Ipc__PairSuccess ps = WAGATE__IPC__PAIR_SUCCESS__INIT;
	Wagate__Ipc__ConnectionUpdate cu = WAGATE__IPC__CONNECTION_UPDATE__INIT;
	static const unsigned ok_ids[2] = { 1, 2 }, zero_id[1] = { 0 }, big_id[1] = { 16777216 };
	int fd, code = 0;

	/* Exit codes report what Start carried (the envelope is freed first: LeakSanitizer checks at exit). */
	if (st->msg_case != WAGATE__IPC__ENVELOPE__MSG_START)
		code = 71;
	else if (st->start->creds.len > 0)
		code = st->start->creds.len == 5 && memcmp(st->start->creds.data, "LATER", 5) == 0 &&
		    st->start->connect_now ? 50 : 51;
	else if (st->start->qrcode_limit != 3 || st->start->qr_first_ms != 1500 || st->start->qr_next_ms != 700)
		code = 73;
	else if (st->start->connect_now)
		code = 53;
	/* The first life leaves a mark; a later one without creds (they were forgotten) reports 72. */
	else if (access(fake_mark(), F_OK) == 0)
		code = 72;
	if (code != 0) {
		ipc_envelope_free(st);
		return code;
	}
	if ((fd = open(fake_mark(), O_CREAT | O_WRONLY, 0600)) == -1)
		return 77;
	close(fd);
	ready.pid = getpid();
	ready.version = (char *)WAGATE_VERSION;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_READY;
	env.ready = &ready;
	env.request_id = st->request_id;
	fake_send(&env, IPC_VERSION);

	fake_store(7, "REG-CREDS", ok_ids, 2, 40, 0);
	if (!fake_wait_reply(7, WAGATE__IPC__ENVELOPE__MSG_STORE_ACK, 60))
		return 61;
	fake_store(8, "BAD", zero_id, 1, 40, 0);
	if (fake_wait_reply(8, WAGATE__IPC__ENVELOPE__MSG_STORE_ACK, 62))
		return 63;
	fake_store(9, "BAD", ok_ids, 1, 300, 0);
	if (fake_wait_reply(9, WAGATE__IPC__ENVELOPE__MSG_STORE_ACK, 64))
		return 65;
	fake_store(10, NULL, big_id, 1, 40, 0);
	if (fake_wait_reply(10, WAGATE__IPC__ENVELOPE__MSG_STORE_ACK, 66))
		return 67;
	fake_store(11, NULL, NULL, 0, 0, 16777216);
	if (fake_wait_reply(11, WAGATE__IPC__ENVELOPE__MSG_STORE_ACK, 68))
		return 69;

	ps.jid = (char *)"15550000001:1@s.whatsapp.net";
	ps.lid = (char *)"100000000000001:1@lid";
	ps.push_name = (char *)"Fake Phone";
	ps.platform = (char *)"android";
	ps.creds.data = (uint8_t *)"PAIRED-CREDS";
	ps.creds.len = 12;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_PAIR_SUCCESS;
	env.pair_success = &ps;
	env.request_id = 12;
	fake_send(&env, IPC_VERSION);
	if (!fake_wait_reply(12, WAGATE__IPC__ENVELOPE__MSG_RESULT, 74))
		return 75;

	cu.state = WAGATE__IPC__CONN_STATE__CONN_STATE_OPEN;
	cu.jid = (char *)"15550000001:1@s.whatsapp.net";
	cu.push_name = (char *)"Fake Phone";
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_CONNECTION_UPDATE;
	env.connection_update = &cu;
	env.request_id = 0;
	fake_send(&env, IPC_VERSION);

	/* Prekeys with the last creds: the test kills us before it answers. */
	fake_store(13, "LATER", ok_ids, 2, 40, 2);
	fake_wait_reply(13, WAGATE__IPC__ENVELOPE__MSG_STORE_ACK, 76);
	for (;;)
		pause();
}

/* Play the misbehaviour named by the instance id, then wait to be killed. */
static int
fake_worker(const char *mode)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Ready ready = WAGATE__IPC__READY__INIT;
	Wagate__Ipc__ConnectionUpdate cu = WAGATE__IPC__CONNECTION_UPDATE__INIT;

	ready.pid = getpid();
	ready.version = (char *)WAGATE_VERSION;
	if (strncmp(mode, "exit3", 5) == 0)
		return IPC_EXIT_NO_RESTART;
	if (strncmp(mode, "pair", 4) == 0)
		return fake_pair();
	if (strncmp(mode, "garbage", 7) == 0)
		fake_write("\x00\x00\x00\x03\xff\xff\xff", 7);
	else if (strncmp(mode, "oversize", 8) == 0)
		fake_write("\x7f\xff\xff\xff", 4);
	else if (strncmp(mode, "unknown", 7) == 0)
		fake_write("\x00\x00\x00\x05\x08\x01\x98\x06\x05", 9);
	else if (strncmp(mode, "early", 5) == 0) {
		/* OPEN before Ready: not allowed */
		cu.state = WAGATE__IPC__CONN_STATE__CONN_STATE_OPEN;
		env.msg_case = WAGATE__IPC__ENVELOPE__MSG_CONNECTION_UPDATE;
		env.connection_update = &cu;
		fake_send(&env, IPC_VERSION);
	} else if (strncmp(mode, "badver", 6) == 0) {
		env.msg_case = WAGATE__IPC__ENVELOPE__MSG_READY;
		env.ready = &ready;
		fake_send(&env, IPC_VERSION + 1);
	} else if (strncmp(mode, "twoready", 8) == 0) {
		env.msg_case = WAGATE__IPC__ENVELOPE__MSG_READY;
		env.ready = &ready;
		fake_send(&env, IPC_VERSION);
		fake_send(&env, IPC_VERSION);
	} else if (strncmp(mode, "badstate", 8) == 0) {
		env.msg_case = WAGATE__IPC__ENVELOPE__MSG_READY;
		env.ready = &ready;
		fake_send(&env, IPC_VERSION);
		cu.state = 7;
		env.msg_case = WAGATE__IPC__ENVELOPE__MSG_CONNECTION_UPDATE;
		env.connection_update = &cu;
		fake_send(&env, IPC_VERSION);
	} else if (strncmp(mode, "fdcheck", 7) == 0) {
		/* Only 0-3 may be open after exec; report through the exit code. */
		int fd;
		for (fd = 4; fd < 256; fd++)
			if (fcntl(fd, F_GETFD) != -1)
				return 40;
		return getenv("WAGATE_TEST_SECRET") != NULL ? 41 : 42;
	}
	for (;;)
		pause();
}

/* ---- the supervisor side ---- */

static void
cb_ready(void *ctx, const char *id, pid_t pid)
{
	struct tctx *t = ctx;

	if (t->nready < MAXEV) {
		snprintf(t->ready_id[t->nready], 64, "%s", id);
		t->ready_pid[t->nready] = pid;
	}
	t->nready++;
}

static void
cb_state(void *ctx, const char *id, int state, int reason, const char *detail, const struct workers_account *acct)
{
	struct tctx *t = ctx;

	(void)id;
	if (state == WORKER_STATE_OPEN && acct != NULL) {
		snprintf(t->open_jid, sizeof(t->open_jid), "%s", acct->jid);
		snprintf(t->open_push, sizeof(t->open_push), "%s", acct->push_name);
		t->nopen++;
	}
	if (t->nstate < MAXEV) {
		t->state[t->nstate] = state;
		t->reason[t->nstate] = reason;
		snprintf(t->detail[t->nstate], 256, "%s", detail);
	}
	t->nstate++;
}

static void
cb_exit(void *ctx, const char *id, int wstatus, int will_restart)
{
	struct tctx *t = ctx;

	if (t->nexit < MAXEV) {
		snprintf(t->exit_id[t->nexit], 64, "%s", id);
		t->exit_status[t->nexit] = wstatus;
		t->exit_restart[t->nexit] = will_restart;
	}
	t->nexit++;
}

static void
cb_store(void *ctx, const char *id, uint64_t req, const struct workers_store *b)
{
	struct tctx *t = ctx;
	int i = t->nstore;

	(void)id;
	if (i < 8) {
		t->store_req[i] = req;
		snprintf(t->store_creds[i], sizeof(t->store_creds[i]), "%.*s", (int)b->creds_len,
		    b->creds != NULL ? (const char *)b->creds : "");
		t->store_nprekeys[i] = (unsigned)b->nprekeys;
		t->store_first_id[i] = b->nprekeys > 0 ? b->prekeys[0].id : 0;
		t->store_upto[i] = b->prekeys_uploaded_upto;
	}
	t->nstore++;
}

static void
cb_pair(void *ctx, const char *id, uint64_t req, const struct workers_pair *p)
{
	struct tctx *t = ctx;

	(void)id;
	if (t->npair < 8)
		t->pair_req[t->npair] = req;
	snprintf(t->pair_jid, sizeof(t->pair_jid), "%s", p->jid);
	t->npair++;
}

static void
cb_done(void *arg)
{
	((struct tctx *)arg)->done = 1;
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* Milliseconds on the monotonic clock. */
static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run the loop until *flag reaches at least want (or timeout_ms passes); returns whether it did. */
static int
run_until(struct tctx *t, const int *flag, int want, int timeout_ms)
{
	long long end = now_ms() + timeout_ms;
	struct event *tick = evtimer_new(t->base, tick_cb, NULL);
	struct timeval tv = { 0, 10000 };
	int ok;

	while (*flag < want && now_ms() < end) {
		evtimer_add(tick, &tv);
		event_base_loop(t->base, EVLOOP_ONCE);
		if (t->w != NULL && workers_starting_count(t->w) > t->max_starting)
			t->max_starting = workers_starting_count(t->w);
	}
	ok = *flag >= want;
	event_free(tick);
	return ok;
}

/* Run the loop for ms milliseconds. */
static void
run_for(struct tctx *t, int ms)
{
	int never = 0;

	run_until(t, &never, 1, ms);
}

/* A table with short timings for tests (heartbeats every heartbeat_ms, 3 misses). */
static struct tctx *
tctx_new(const char *worker_path, int concurrency, int heartbeat_ms)
{
	struct tctx *t = calloc(1, sizeof(*t));
	struct workers_config cfg;
	struct workers_cbs cbs;

	assert_non_null(t);
	t->base = event_base_new();
	memset(&cfg, 0, sizeof(cfg));
	cfg.worker_path = worker_path;
	cfg.heartbeat_interval_ms = heartbeat_ms;
	cfg.heartbeat_misses = 3;
	cfg.backoff_min_ms = 200;
	cfg.backoff_max_ms = 2000;
	cfg.stable_ms = 60000;
	cfg.spawn_concurrency = concurrency;
#if defined(__SANITIZE_ADDRESS__)
	cfg.rlimit_as_mb = 0;		/* ASan reserves far more address space than any sane limit */
#else
	cfg.rlimit_as_mb = 1024;
#endif
	cfg.rlimit_nofile = 64;
	cfg.log_level = LOG_LEVEL_WARN;
	memset(&cbs, 0, sizeof(cbs));
	cbs.on_ready = cb_ready;
	cbs.on_state = cb_state;
	cbs.on_exit = cb_exit;
	cbs.on_store = cb_store;
	cbs.on_pair_success = cb_pair;
	cbs.ctx = t;
	cfg.qrcode_limit = 3;
	cfg.qr_first_ms = 1500;
	cfg.qr_next_ms = 700;
	t->w = workers_new(t->base, &cfg, &cbs);
	assert_non_null(t->w);
	return t;
}

static void
tctx_free(struct tctx *t)
{
	workers_free(t->w);
	/* workers_free only signals; collect the children so tests do not leak zombies into each other. */
	while (waitpid(-1, NULL, 0) > 0)
		;
	event_base_free(t->base);
	free(t);
}

/* Register one instance. */
static void
add(struct tctx *t, const char *id, int connect_now)
{
	struct worker_spec s;

	memset(&s, 0, sizeof(s));
	s.instance_id = id;
	s.instance_name = id;
	s.msg_call = "busy";
	s.proxy_enabled = 0;
	s.connect_now = connect_now;
	assert_int_equal(workers_add(t->w, &s), 0);
}

static const char *
real_worker(void)
{
	const char *p = getenv("WAGATE_WORKER_BIN");

	assert_non_null(p);
	return p;
}

static void
test_ready_kill_restart(void **state)
{
	struct tctx *t = tctx_new(real_worker(), 16, 100);
	pid_t pid1, pid2, pid3;
	long long t0, dt;

	(void)state;
	add(t, "inst-a", 0);
	assert_int_equal(workers_add(t->w, &(struct worker_spec){ .instance_id = "inst-a" }), -1);
	assert_true(run_until(t, &t->nready, 1, 10000));
	pid1 = workers_pid(t->w, "inst-a");
	assert_true(pid1 > 0);
	assert_int_equal(t->ready_pid[0], pid1);
	assert_int_equal(workers_ready_count(t->w), 1);
	assert_int_equal(workers_restarts(t->w, "inst-a"), 0);

	/* Heartbeats flow: a latency appears. */
	run_for(t, 350);
	assert_true(workers_ipc_latency_ms(t->w) > 0.0);

	t0 = now_ms();
	assert_int_equal(kill(pid1, SIGKILL), 0);
	assert_true(run_until(t, &t->nready, 2, 10000));
	dt = now_ms() - t0;
	pid2 = workers_pid(t->w, "inst-a");
	assert_true(pid2 > 0 && pid2 != pid1);
	assert_int_equal(t->nexit, 1);
	assert_true(WIFSIGNALED(t->exit_status[0]) && WTERMSIG(t->exit_status[0]) == SIGKILL);
	assert_int_equal(t->exit_restart[0], 1);
	assert_true(t->nstate >= 1);
	assert_int_equal(t->state[t->nstate - 1], WORKER_STATE_CLOSE);
	assert_int_equal(t->reason[t->nstate - 1], 600);
	assert_int_equal(workers_restarts(t->w, "inst-a"), 1);
	/* First backoff: 100..200 ms (min 200 with equal jitter). */
	assert_true(dt >= 100);

	/* A second quick crash waits longer: 200..400 ms. */
	t0 = now_ms();
	assert_int_equal(kill(pid2, SIGKILL), 0);
	assert_true(run_until(t, &t->nready, 3, 10000));
	dt = now_ms() - t0;
	pid3 = workers_pid(t->w, "inst-a");
	assert_true(pid3 > 0 && pid3 != pid2);
	assert_true(dt >= 200);
	assert_int_equal(workers_restarts(t->w, "inst-a"), 2);
	tctx_free(t);
}

static void
test_sigstop_heartbeat(void **state)
{
	struct tctx *t = tctx_new(real_worker(), 16, 100);
	pid_t pid1, pid2;

	(void)state;
	add(t, "inst-stop", 0);
	assert_true(run_until(t, &t->nready, 1, 10000));
	pid1 = workers_pid(t->w, "inst-stop");
	assert_int_equal(kill(pid1, SIGSTOP), 0);
	assert_true(run_until(t, &t->nready, 2, 10000));
	pid2 = workers_pid(t->w, "inst-stop");
	assert_true(pid2 > 0 && pid2 != pid1);
	assert_int_equal(t->nexit, 1);
	assert_true(WIFSIGNALED(t->exit_status[0]) && WTERMSIG(t->exit_status[0]) == SIGKILL);
	assert_non_null(strstr(t->detail[0], "heartbeats"));
	assert_int_equal(workers_restarts(t->w, "inst-stop"), 1);
	tctx_free(t);
}

static void
test_remove(void **state)
{
	struct tctx *t = tctx_new(real_worker(), 16, 100);
	pid_t pid;

	(void)state;
	add(t, "inst-rm", 0);
	add(t, "inst-keep", 0);
	assert_true(run_until(t, &t->nready, 2, 10000));
	pid = workers_pid(t->w, "inst-rm");
	assert_true(pid > 0);
	assert_int_equal(workers_remove(t->w, "inst-rm"), 0);
	assert_int_equal(workers_remove(t->w, "inst-rm"), -1);
	assert_int_equal(workers_remove(t->w, "nope"), -1);
	assert_int_equal(workers_pid(t->w, "inst-rm"), 0);
	run_for(t, 1000);
	/* Gone (reaped, so the pid no longer exists), not restarted, nothing reported. */
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(errno, ESRCH);
	assert_int_equal(t->nready, 2);
	assert_int_equal(t->nexit, 0);
	assert_int_equal(workers_ready_count(t->w), 1);
	assert_true(workers_pid(t->w, "inst-keep") > 0);
	/* The id can be used again. */
	add(t, "inst-rm", 0);
	assert_true(run_until(t, &t->nready, 3, 10000));
	tctx_free(t);
}

static void
test_restart_and_connect(void **state)
{
	struct tctx *t = tctx_new(real_worker(), 16, 100);
	pid_t pid1, pid2;
	int i, saw601 = 0, saw401 = 0;

	(void)state;
	add(t, "inst-r", 0);
	assert_true(run_until(t, &t->nready, 1, 10000));
	pid1 = workers_pid(t->w, "inst-r");
	assert_int_equal(workers_restart(t->w, "inst-r"), 0);
	assert_true(run_until(t, &t->nready, 2, 10000));
	pid2 = workers_pid(t->w, "inst-r");
	assert_true(pid2 > 0 && pid2 != pid1);
	assert_int_equal(t->nexit, 1);
	assert_true(WIFEXITED(t->exit_status[0]) && WEXITSTATUS(t->exit_status[0]) == 0);

	/* Connect with no WhatsApp URL: an honest close 601, never open. */
	assert_int_equal(workers_connect(t->w, "inst-r", NULL), 0);
	assert_true(run_until(t, &t->nstate, t->nstate + 1, 5000));
	assert_int_equal(t->state[t->nstate - 1], WORKER_STATE_CLOSE);
	assert_int_equal(t->reason[t->nstate - 1], 601);

	/* Logout: 401, exit 3, no restart. */
	assert_int_equal(workers_logout(t->w, "inst-r"), 0);
	assert_true(run_until(t, &t->nexit, 2, 5000));
	assert_true(WIFEXITED(t->exit_status[1]) && WEXITSTATUS(t->exit_status[1]) == IPC_EXIT_NO_RESTART);
	assert_int_equal(t->exit_restart[1], 0);
	run_for(t, 500);
	assert_int_equal(workers_pid(t->w, "inst-r"), 0);
	assert_int_equal(t->nready, 2);
	assert_int_equal(workers_logout(t->w, "inst-r"), -1);

	/* Connect spawns it again and the Connect travels in Start. */
	assert_int_equal(workers_connect(t->w, "inst-r", "5511999999999"), 0);
	assert_true(run_until(t, &t->nready, 3, 10000));
	run_for(t, 300);
	for (i = 0; i < t->nstate && i < MAXEV; i++) {
		saw601 += t->reason[i] == 601;
		saw401 += t->reason[i] == 401;
		assert_int_not_equal(t->state[i], WORKER_STATE_OPEN);
	}
	assert_true(saw601 >= 2);
	assert_true(saw401 >= 1);
	assert_int_equal(workers_connect(t->w, "unknown", NULL), -1);

	/* Settings and proxy updates reach the live worker, which accepts them and stays up. */
	{
		struct worker_spec s;
		int nexit = t->nexit;
		pid_t pid = workers_pid(t->w, "inst-r");

		memset(&s, 0, sizeof(s));
		s.instance_id = "inst-r";
		s.instance_name = "inst-r";
		s.reject_call = 1;
		s.msg_call = "later";
		s.proxy_enabled = 1;
		s.proxy_host = "127.0.0.1";
		s.proxy_port = "3128";
		s.proxy_password = "secret";
		assert_int_equal(workers_update(t->w, &s), 0);
		s.instance_id = "unknown";
		assert_int_equal(workers_update(t->w, &s), -1);
		run_for(t, 300);
		assert_int_equal(t->nexit, nexit);
		assert_int_equal(workers_pid(t->w, "inst-r"), pid);
	}

	/* Graceful shutdown of everything. */
	workers_shutdown(t->w, cb_done, t);
	assert_true(run_until(t, &t->done, 1, 10000));
	assert_int_equal(workers_pid(t->w, "inst-r"), 0);
	tctx_free(t);
}

static void
test_pacing_50(void **state)
{
	struct tctx *t = tctx_new(real_worker(), 4, 1000);
	char id[32];
	int i;

	(void)state;
	for (i = 0; i < 50; i++) {
		snprintf(id, sizeof(id), "inst-%02d", i);
		add(t, id, 0);
		assert_true(workers_starting_count(t->w) <= 4);
	}
	assert_true(run_until(t, &t->nready, 50, 60000));
	assert_true(t->max_starting <= 4);
	assert_true(t->max_starting >= 1);
	assert_int_equal(workers_ready_count(t->w), 50);
	assert_int_equal(workers_starting_count(t->w), 0);
	assert_int_equal(t->nexit, 0);
	workers_shutdown(t->w, cb_done, t);
	assert_true(run_until(t, &t->done, 1, 20000));
	assert_int_equal(workers_ready_count(t->w), 0);
	tctx_free(t);
}

static void
test_bad_workers_killed(void **state)
{
	static const char *modes[] = { "garbage-1", "oversize-1", "unknown-1", "early-1", "badver-1",
	    "twoready-1", "badstate-1" };
	struct tctx *t = tctx_new(self_path, 16, 100);
	size_t i;
	int j, seen;

	(void)state;
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		add(t, modes[i], 0);
	/* Each one is killed by the supervisor, which survives, and is scheduled for a restart. */
	assert_true(run_until(t, &t->nexit, (int)(sizeof(modes) / sizeof(modes[0])), 10000));
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		for (seen = 0, j = 0; j < t->nexit && j < MAXEV; j++) {
			if (strcmp(t->exit_id[j], modes[i]) != 0)
				continue;
			seen = 1;
			assert_true(WIFSIGNALED(t->exit_status[j]) && WTERMSIG(t->exit_status[j]) == SIGKILL);
			assert_int_equal(t->exit_restart[j], 1);
		}
		if (!seen)
			fail_msg("%s was not killed", modes[i]);
	}
	for (j = 0; j < t->nstate && j < MAXEV; j++)
		if (strstr(t->detail[j], "protocol error") == NULL)
			fail_msg("unexpected detail %s", t->detail[j]);
	tctx_free(t);
}

static void
test_exit3_and_exec_failure(void **state)
{
	struct tctx *t = tctx_new(self_path, 16, 100);
	struct tctx *t2;

	(void)state;
	add(t, "exit3-1", 0);
	assert_true(run_until(t, &t->nexit, 1, 5000));
	assert_true(WIFEXITED(t->exit_status[0]) && WEXITSTATUS(t->exit_status[0]) == IPC_EXIT_NO_RESTART);
	assert_int_equal(t->exit_restart[0], 0);
	assert_int_equal(t->reason[t->nstate - 1], 401);
	run_for(t, 600);
	assert_int_equal(t->nexit, 1);
	/* A Connect brings a stopped worker back. */
	assert_int_equal(workers_connect(t->w, "exit3-1", NULL), 0);
	assert_true(run_until(t, &t->nexit, 2, 5000));

	/* The child has only fds 0-3 and none of our environment's secrets. */
	setenv("WAGATE_TEST_SECRET", "x", 1);
	add(t, "fdcheck-1", 0);
	assert_true(run_until(t, &t->nexit, 3, 5000));
	assert_true(WIFEXITED(t->exit_status[2]));
	assert_int_equal(WEXITSTATUS(t->exit_status[2]), 42);
	workers_remove(t->w, "fdcheck-1");
	tctx_free(t);

	t2 = tctx_new("/nonexistent/wagate-worker", 16, 100);
	add(t2, "noexec", 0);
	assert_true(run_until(t2, &t2->nexit, 2, 5000));
	assert_true(WIFEXITED(t2->exit_status[0]) && WEXITSTATUS(t2->exit_status[0]) == IPC_EXIT_EXEC_FAILED);
	assert_int_equal(t2->exit_restart[0], 1);
	assert_non_null(strstr(t2->detail[0], "could not be started"));
	tctx_free(t2);
}

/* StoreBatch and PairSuccess are requests: bad batches are refused by the table, good ones reach the callback,
 * replies carry the worker's request id, and committed creds (only those) are what the next Start carries. */
static void
test_pair_and_store(void **state)
{
	struct tctx *t = tctx_new(self_path, 16, 200);
	const unsigned char *cr;
	char mark[64];
	size_t len;
	int cn, i;
	pid_t pid;

	(void)state;
	snprintf(mark, sizeof(mark), "/tmp/wagate-workers-test-pair.%d", (int)getpid());
	unlink(mark);
	add(t, "pair-1", 0);
	assert_true(run_until(t, &t->nstore, 1, 10000));
	assert_string_equal(t->store_creds[0], "REG-CREDS");
	assert_int_equal(t->store_nprekeys[0], 2);
	assert_int_equal(t->store_first_id[0], 1);
	/* Not committed yet: a successor would not get them. */
	assert_null(workers_creds(t->w, "pair-1", &len, &cn));
	assert_int_equal(workers_reply_store(t->w, "pair-1", t->store_req[0] + 1000, 1, NULL), -1);
	assert_int_equal(workers_reply_pair(t->w, "pair-1", t->store_req[0], 1, NULL), -1);	/* wrong kind */
	assert_int_equal(workers_reply_store(t->w, "pair-1", t->store_req[0], 1, NULL), 0);
	assert_int_equal(workers_reply_store(t->w, "pair-1", t->store_req[0], 1, NULL), -1);	/* once */
	cr = workers_creds(t->w, "pair-1", &len, &cn);
	assert_non_null(cr);
	assert_int_equal(len, 9);
	assert_memory_equal(cr, "REG-CREDS", 9);
	assert_int_equal(cn, 0);

	/* The four bad batches (id 0, record too long, id too big, upto too big) were refused by the table
	 * without reaching us; the next callback is the pairing. */
	assert_true(run_until(t, &t->npair, 1, 10000));
	assert_int_equal(t->nstore, 1);
	assert_string_equal(t->pair_jid, "15550000001:1@s.whatsapp.net");
	assert_int_equal(workers_reply_pair(t->w, "pair-1", t->pair_req[0], 1, NULL), 0);
	cr = workers_creds(t->w, "pair-1", &len, &cn);
	assert_int_equal(len, 12);
	assert_memory_equal(cr, "PAIRED-CREDS", 12);
	assert_int_equal(cn, 1);
	assert_true(run_until(t, &t->nopen, 1, 10000));
	assert_string_equal(t->open_jid, "15550000001:1@s.whatsapp.net");
	assert_string_equal(t->open_push, "Fake Phone");

	/* A batch answered after its worker died still counts: the creds are committed. */
	assert_true(run_until(t, &t->nstore, 2, 10000));
	assert_string_equal(t->store_creds[1], "LATER");
	assert_int_equal(t->store_upto[1], 2);
	pid = workers_pid(t->w, "pair-1");
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(workers_reply_store(t->w, "pair-1", t->store_req[1], 1, NULL), 0);
	/* Second life: Start carried "LATER" with connect_now (exit 50). */
	assert_true(run_until(t, &t->nexit, 2, 10000));
	assert_true(WIFSIGNALED(t->exit_status[0]));
	assert_true(WIFEXITED(t->exit_status[1]));
	assert_int_equal(WEXITSTATUS(t->exit_status[1]), 50);
	/* Logged out: forgotten, and the next life starts with nothing and does not connect (exit 72). */
	assert_int_equal(workers_forget_creds(t->w, "pair-1"), 0);
	assert_null(workers_creds(t->w, "pair-1", &len, &cn));
	assert_int_equal(cn, 0);
	assert_int_equal(workers_forget_creds(t->w, "nope"), -1);
	assert_true(run_until(t, &t->nexit, 3, 10000));
	assert_true(WIFEXITED(t->exit_status[2]));
	assert_int_equal(WEXITSTATUS(t->exit_status[2]), 72);
	for (i = 0; i < t->nexit && i < MAXEV; i++)
		if (WIFEXITED(t->exit_status[i]) && WEXITSTATUS(t->exit_status[i]) >= 60)
			assert_int_equal(WEXITSTATUS(t->exit_status[i]), 72);
	workers_remove(t->w, "pair-1");
	tctx_free(t);
	unlink(mark);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ready_kill_restart),
		cmocka_unit_test(test_sigstop_heartbeat),
		cmocka_unit_test(test_remove),
		cmocka_unit_test(test_restart_and_connect),
		cmocka_unit_test(test_pacing_50),
		cmocka_unit_test(test_bad_workers_killed),
		cmocka_unit_test(test_exit3_and_exec_failure),
		cmocka_unit_test(test_pair_and_store),
	};
	ssize_t n;

	if (argc == 2 && strcmp(argv[0], "wagate-worker") == 0)
		return fake_worker(argv[1]);
	if ((n = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1)) <= 0)
		return 1;
	self_path[n] = '\0';
	log_init("workers_test", LOG_LEVEL_WARN);
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
