/* Test-only: a scripted supervisor in place of worker_call.c for the tests that run the Signal executor in
 * process (msg_exec_test, msg_recv_test). It defines worker_base, worker_instance_name and the SignalLoad and
 * MessageStore requests of worker.h: each request waits in sup until the test answers it from sup.db (the
 * supervisor's Signal tables, sigdb_testlib.h). Failures fail the running test. */
#ifndef WAGATE_MSG_SUP_TESTLIB_H
#define WAGATE_MSG_SUP_TESTLIB_H

#include "worker.h"
#include "sigdb_testlib.h"

#include <stddef.h>

struct msg_sup {
	struct event_base *base;	/* what worker_base answers */
	struct sigdb_row *db;
	/* the request in flight (the executor has one at a time) */
	worker_signal_cb load_cb;
	Wagate__Ipc__SignalKey **load_keys;
	size_t nload;
	void *load_arg;
	worker_reply_cb store_cb;
	void *store_arg;
	Wagate__Ipc__MessageStore *store;	/* a copy of the last MessageStore */
	int nstores, nloads;
	int refuse_requests;			/* SignalLoad fails to go out */
};

extern struct msg_sup sup;

/* A fresh supervisor with its own event base; sup_free undoes it. */
void sup_init(void);
void sup_free(void);
/* Answer the SignalLoad in flight from sup.db (ok) or with "database down". */
void sup_answer_load(int ok);
/* Answer the MessageStore in flight: apply its changes to sup.db and ack (ok), or fail it ("commit failed"). */
void sup_answer_store(int ok);

#endif
