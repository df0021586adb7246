/* The reaper (worker_reap.c): exit classification and the restart policy. Crashes with backoff are in
 * workers_test.c (test_ready_kill_restart), killed misbehaving workers in worker_ipc_test.c. */
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

/* IPC_EXIT_NO_RESTART: no restart, CLOSE/401, and a Connect brings the stopped worker back. */
static void
test_exit3_no_restart(void **state)
{
	struct tctx *t = tctx_new(self_path, 16, 100);

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
	tctx_free(t);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit3_no_restart),
	};

	return testlib_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
