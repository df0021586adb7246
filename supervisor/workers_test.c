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
	unsigned char out[512];
	size_t n;

	env->version = version;
	if ((n = ipc_frame_pack(env, out, sizeof(out))) == 0)
		_exit(21);
	fake_write(out, n);
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
cb_state(void *ctx, const char *id, int state, int reason, const char *detail)
{
	struct tctx *t = ctx;

	(void)id;
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
	cbs.ctx = t;
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
