/* The harness shared by the worker-table tests (workers_test.c, worker_*_test.c): a table with short timings
 * and callbacks that record what happened, and the misbehaving worker every test binary doubles as: started
 * as "wagate-worker <mode>-..." it plays the mode named by the instance id. */
#include "workers_testlib.h"
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

char self_path[PATH_MAX];

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
	if (strncmp(mode, "hand", 4) == 0)
		return fw_hand_main();
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
	} else if (strncmp(mode, "sigcheck", 8) == 0) {
		/* Nothing blocked, and default dispositions for what the test process ignores (exit code). */
		sigset_t mask;
		struct sigaction sa;
		static const int sigs[] = { SIGPIPE, SIGHUP, SIGUSR2, SIGTERM, SIGINT, SIGCHLD };
		size_t i;

		if (sigprocmask(SIG_SETMASK, NULL, &mask) == -1 || sigismember(&mask, SIGUSR2) ||
		    sigismember(&mask, SIGTERM))
			return 43;
		for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			if (sigaction(sigs[i], NULL, &sa) == -1 || sa.sa_handler != SIG_DFL)
				return 44;
		return 45;
	} else if (strncmp(mode, "keepalive", 9) == 0) {
		/* Start carries the keepalive knobs (exit code). */
		IpcEnvelope *st = fake_read(46);
		int code = st->msg_case == WAGATE__IPC__ENVELOPE__MSG_START && st->start->keepalive_ms == 1234 &&
		    st->start->keepalive_deadline_ms == 5678 ? 47 : 48;

		ipc_envelope_free(st);
		return code;
	} else if (strncmp(mode, "fdcheck", 7) == 0) {
		/* Only 0-3 may be open after exec; report through the exit code. */
		int fd;
		for (fd = 4; fd < 256; fd++)
			if (fcntl(fd, F_GETFD) != -1)
				return 40;
		if (getenv("WAGATE_TEST_SECRET") != NULL)
			return 41;
		/* the malloc settings every worker gets (worker_spawn_tunables) */
		if (getenv("GLIBC_TUNABLES") == NULL || strstr(getenv("GLIBC_TUNABLES"), "glibc.malloc.tcache_count=") == NULL)
			return 43;
		return 42;
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

/* Record a state change (and the account with OPEN). */
static void
cb_state(void *ctx, const char *id, int state, int reason, const char *detail, const struct workers_account *acct)
{
	struct tctx *t = ctx;

	(void)id;
	if (state == CONN_OPEN && acct != NULL) {
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

/* Record an exit. */
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

/* Record a StoreBatch request. */
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

/* Record a PairSuccess request. */
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

/* Record a SignalLoad request (and show it to the test's hook). */
static void
cb_signal_load(void *ctx, const char *id, uint64_t req, const struct workers_sig_key *keys, size_t n)
{
	struct tctx *t = ctx;

	t->sig_req = req;
	t->nsig++;
	if (t->sig_hook != NULL)
		t->sig_hook(t, id, req, keys, n);
}

/* Record a MessageStore request (and show it to the test's hook). */
static void
cb_msg_store(void *ctx, const char *id, uint64_t req, const struct workers_msg_store *m)
{
	struct tctx *t = ctx;

	t->msgstore_req = req;
	t->nmsgstore++;
	if (t->msgstore_hook != NULL)
		t->msgstore_hook(t, id, req, m);
}

/* workers_shutdown finished. */
void
cb_done(void *arg)
{
	((struct tctx *)arg)->done = 1;
}

/* Wakes the loop so run_until can look at the clock. */
static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* Milliseconds on the monotonic clock. */
long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run the loop until *flag reaches at least want (or timeout_ms passes); returns whether it did. */
int
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
void
run_for(struct tctx *t, int ms)
{
	int never = 0;

	run_until(t, &never, 1, ms);
}

/* A table with short timings for tests (heartbeats every heartbeat_ms, 3 misses) and a given open-files limit. */
struct tctx *
tctx_new_cfg(const char *worker_path, int concurrency, int heartbeat_ms, unsigned long rlimit_nofile)
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
	cfg.rlimit_nofile = rlimit_nofile;
	cfg.log_level = LOG_LEVEL_WARN;
	memset(&cbs, 0, sizeof(cbs));
	cbs.on_ready = cb_ready;
	cbs.on_state = cb_state;
	cbs.on_exit = cb_exit;
	cbs.on_store = cb_store;
	cbs.on_pair_success = cb_pair;
	cbs.on_signal_load = cb_signal_load;
	cbs.on_msg_store = cb_msg_store;
	cbs.ctx = t;
	cfg.qrcode_limit = 3;
	cfg.qr_first_ms = 1500;
	cfg.qr_next_ms = 700;
	cfg.keepalive_ms = 1234;
	cfg.keepalive_deadline_ms = 5678;
	t->w = workers_new(t->base, &cfg, &cbs);
	assert_non_null(t->w);
	return t;
}

/* A table with short timings for tests (heartbeats every heartbeat_ms, 3 misses). */
struct tctx *
tctx_new(const char *worker_path, int concurrency, int heartbeat_ms)
{
	return tctx_new_cfg(worker_path, concurrency, heartbeat_ms, 64);
}

/* Free the table and collect every child. */
void
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
void
add(struct tctx *t, const char *id, int connect_now)
{
	struct worker_spec s;
	struct settings set;
	struct proxy px;

	memset(&s, 0, sizeof(s));
	memset(&set, 0, sizeof(set));
	memset(&px, 0, sizeof(px));
	set.msg_call = (char *)"busy";
	s.instance_id = id;
	s.instance_name = id;
	s.settings = &set;
	s.proxy = &px;
	s.connect_now = connect_now;
	assert_int_equal(workers_add(t->w, &s), 0);
}

/* The real wagate-worker. */
const char *
real_worker(void)
{
	const char *p = getenv("WAGATE_WORKER_BIN");

	assert_non_null(p);
	return p;
}

int
testlib_main(int argc, char **argv, const struct CMUnitTest *tests, size_t ntests)
{
	ssize_t n;

	if (argc == 2 && strcmp(argv[0], "wagate-worker") == 0)
		return fake_worker(argv[1]);
	if ((n = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1)) <= 0)
		return 1;
	self_path[n] = '\0';
	log_init("workers_test", LOG_LEVEL_WARN);
	signal(SIGPIPE, SIG_IGN);
	return _cmocka_run_group_tests("workers", tests, ntests, NULL, NULL);
}
