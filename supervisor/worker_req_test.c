/* Requests and credential custody (worker_req.c): StoreBatch and PairSuccess against the table. */
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
		cmocka_unit_test(test_pair_and_store),
	};

	return testlib_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
