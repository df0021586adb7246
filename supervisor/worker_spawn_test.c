/* Spawning (worker_spawn.c): fd and environment hygiene in the child, exec failure, signals blocked around
 * fork and reset in the child, and a failed setrlimit exiting with its own code. */
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

/* The child has only fds 0-3, none of our environment's secrets and the workers' malloc settings; a missing
 * binary exits 127. */
static void
test_fd_hygiene_and_exec_failure(void **state)
{
	struct tctx *t = tctx_new(self_path, 16, 100);
	struct tctx *t2;

	(void)state;
	setenv("WAGATE_TEST_SECRET", "x", 1);
	add(t, "fdcheck-1", 0);
	assert_true(run_until(t, &t->nexit, 1, 5000));
	assert_true(WIFEXITED(t->exit_status[0]));
	assert_int_equal(WEXITSTATUS(t->exit_status[0]), 42);
	workers_remove(t->w, "fdcheck-1");
	unsetenv("WAGATE_TEST_SECRET");
	tctx_free(t);

	t2 = tctx_new("/nonexistent/wagate-worker", 16, 100);
	add(t2, "noexec", 0);
	assert_true(run_until(t2, &t2->nexit, 2, 5000));
	assert_true(WIFEXITED(t2->exit_status[0]) && WEXITSTATUS(t2->exit_status[0]) == IPC_EXIT_EXEC_FAILED);
	assert_int_equal(t2->exit_restart[0], 1);
	assert_non_null(strstr(t2->detail[0], "could not be started"));
	tctx_free(t2);
}

/* Whatever this process blocks or ignores, the worker starts with nothing blocked and default
 * dispositions; and the parent's own mask is what it was before the spawn. */
static void
test_signals_reset(void **state)
{
	struct tctx *t = tctx_new(self_path, 16, 100);
	sigset_t block, now;

	(void)state;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR2);
	assert_int_equal(sigprocmask(SIG_BLOCK, &block, NULL), 0);
	signal(SIGHUP, SIG_IGN);
	add(t, "sigcheck-1", 0);
	assert_int_equal(sigprocmask(SIG_SETMASK, NULL, &now), 0);
	assert_true(sigismember(&now, SIGUSR2));
	assert_false(sigismember(&now, SIGTERM));
	assert_false(sigismember(&now, SIGCHLD));
	assert_true(run_until(t, &t->nexit, 1, 5000));
	assert_true(WIFEXITED(t->exit_status[0]));
	assert_int_equal(WEXITSTATUS(t->exit_status[0]), 45);
	workers_remove(t->w, "sigcheck-1");
	signal(SIGHUP, SIG_DFL);
	assert_int_equal(sigprocmask(SIG_UNBLOCK, &block, NULL), 0);
	tctx_free(t);
}

/* An open-files limit above fs.nr_open fails even for root: the child exits with IPC_EXIT_RLIMIT_FAILED,
 * never execs, and the close says why. */
static void
test_rlimit_failure(void **state)
{
	struct tctx *t;
	unsigned long nr_open = 1048576;
	FILE *f;

	(void)state;
	if ((f = fopen("/proc/sys/fs/nr_open", "r")) != NULL) {
		if (fscanf(f, "%lu", &nr_open) != 1)
			nr_open = 1048576;
		fclose(f);
	}
	t = tctx_new_cfg(self_path, 16, 100, nr_open + 1);
	add(t, "fdcheck-2", 0);
	assert_true(run_until(t, &t->nexit, 1, 5000));
	assert_true(WIFEXITED(t->exit_status[0]));
	assert_int_equal(WEXITSTATUS(t->exit_status[0]), IPC_EXIT_RLIMIT_FAILED);
	assert_int_equal(t->exit_restart[0], 1);
	assert_true(t->nstate >= 1);
	assert_non_null(strstr(t->detail[0], "resource limits refused"));
	workers_remove(t->w, "fdcheck-2");
	tctx_free(t);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fd_hygiene_and_exec_failure),
		cmocka_unit_test(test_signals_reset),
		cmocka_unit_test(test_rlimit_failure),
	};

	return testlib_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
