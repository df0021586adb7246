/* The supervisor's IPC with a worker (worker_ipc.c): bad workers (garbage, oversized, unknown, early,
 * wrong version, a second Ready, a bad state) are killed and restarted, the supervisor survives; Start
 * carries the table's config. */
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
	for (j = 0; j < t->nstate && j < MAXEV; j++) {
		if (strstr(t->detail[j], "protocol error") == NULL)
			fail_msg("unexpected detail %s", t->detail[j]);
		assert_int_equal(t->reason[j], REASON_PROTOCOL_ERROR);
	}
	tctx_free(t);
}

/* Start carries the test knobs of the table's config (keepalive), not the environment. */
static void
test_start_carries_keepalive(void **state)
{
	struct tctx *t = tctx_new(self_path, 16, 100);

	(void)state;
	setenv("WA_KEEPALIVE_MS", "1", 1);
	add(t, "keepalive-1", 0);
	assert_true(run_until(t, &t->nexit, 1, 5000));
	assert_true(WIFEXITED(t->exit_status[0]));
	assert_int_equal(WEXITSTATUS(t->exit_status[0]), 47);
	workers_remove(t->w, "keepalive-1");
	unsetenv("WA_KEEPALIVE_MS");
	tctx_free(t);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_workers_killed),
		cmocka_unit_test(test_start_carries_keepalive),
	};

	return testlib_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
