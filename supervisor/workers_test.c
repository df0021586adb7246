/* Real-process tests of the worker table (workers.c): Ready, kill -9 and restart with backoff, remove,
 * restart, connect/logout, settings updates, and spawn pacing with 50 workers. The real worker comes from
 * WAGATE_WORKER_BIN. */
#include "workers_testlib.h"
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
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

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
	assert_int_equal(t->state[t->nstate - 1], CONN_CLOSE);
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
	assert_int_equal(t->state[t->nstate - 1], CONN_CLOSE);
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
		assert_int_not_equal(t->state[i], CONN_OPEN);
	}
	assert_true(saw601 >= 2);
	assert_true(saw401 >= 1);
	assert_int_equal(workers_connect(t->w, "unknown", NULL), -1);

	/* Settings and proxy updates reach the live worker, which accepts them and stays up. */
	{
		struct worker_spec s;
		struct settings set;
		struct proxy px;
		int nexit = t->nexit;
		pid_t pid = workers_pid(t->w, "inst-r");

		memset(&s, 0, sizeof(s));
		memset(&set, 0, sizeof(set));
		memset(&px, 0, sizeof(px));
		set.reject_call = 1;
		set.msg_call = (char *)"later";
		px.enabled = 1;
		px.host = (char *)"127.0.0.1";
		px.port = (char *)"3128";
		px.password = (char *)"secret";
		s.instance_id = "inst-r";
		s.instance_name = "inst-r";
		s.settings = &set;
		s.proxy = &px;
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

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ready_kill_restart),
		cmocka_unit_test(test_remove),
		cmocka_unit_test(test_restart_and_connect),
		cmocka_unit_test(test_pacing_50),
	};

	return testlib_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
