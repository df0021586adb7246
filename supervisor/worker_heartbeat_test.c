/* Heartbeats (worker_heartbeat.c): a SIGSTOPped worker misses its pings, is killed and restarted. */
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

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sigstop_heartbeat),
	};

	return testlib_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
