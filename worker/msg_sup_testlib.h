/* Test-only: a scripted supervisor in place of worker_call.c for the tests that run the Signal executor in
 * process (msg_exec_test, msg_recv_test). It defines worker_base, worker_instance_name, worker_proxy (none),
 * worker_wa_media_url and worker_wa_tls_ca_file (none), worker_settings (sup.
 * settings) and the SignalLoad and MessageStore requests of worker.h: each request waits in sup until the test
 * answers it from sup.db (the supervisor's Signal tables, sigdb_testlib.h). And the remote party that talks to
 * the executor. PEER_RUN needs cmocka's headers first; failures fail the running test. */
#ifndef WAGATE_MSG_SUP_TESTLIB_H
#define WAGATE_MSG_SUP_TESTLIB_H

#include "creds.h"
#include "worker.h"
#include "sigdb_testlib.h"
#include "wa_signal.h"

#include <stddef.h>
#include <stdint.h>

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
	const char *fail_error;			/* the error of a failed answer (NULL: the defaults below) */
	struct settings settings;		/* what worker_settings answers (sup_init zeroes it) */
};

extern struct msg_sup sup;

/* A fresh supervisor with its own event base; sup_free undoes it. */
void sup_init(void);
void sup_free(void);
/* Answer the SignalLoad in flight from sup.db (ok) or with "database down". */
void sup_answer_load(int ok);
/* Answer the MessageStore in flight: apply its changes to sup.db and ack (ok), or fail it ("commit failed"). */
void sup_answer_store(int ok);

/* Our own device's bundle (device 1 of the account of c) with one-time prekey id, whose record goes into
 * sup.db for the executor to load. */
void sup_own_bundle(const struct creds *c, uint32_t id, struct wa_signal_bundle *b);

/* The remote party of these tests (alice): a Signal layer of fresh credentials that keeps every record in its
 * cache, so each NEED it has is answered "none". */
struct wa_signal *peer_new(void);
/* After an operation of the peer's: rc must be WA_SIGNAL_DONE; its changes are dropped. rc. */
int peer_done(struct wa_signal *p, int rc);
#define PEER_RUN(p, call) ({ \
	int rc_; \
	while ((rc_ = (call)) == WA_SIGNAL_NEED) { \
		const struct wa_signal_key *k_; size_t n_, i_; char e_[256]; \
		k_ = wa_signal_needed((p), &n_); \
		for (i_ = 0; i_ < n_; i_++) \
			assert_int_equal(wa_signal_put((p), &k_[i_], NULL, 0, e_, sizeof(e_)), 0); \
	} \
	peer_done((p), rc_); })

#endif
