/* The harness shared by the worker-table tests (see workers_testlib.c). Include after cmocka's headers. */
#ifndef WAGATE_WORKERS_TESTLIB_H
#define WAGATE_WORKERS_TESTLIB_H

#include "workers.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MAXEV 256

struct CMUnitTest;

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
	/* pairing and storage requests */
	int nstore, npair, nopen;
	uint64_t store_req[8], pair_req[8];
	char store_creds[8][32];
	unsigned store_nprekeys[8], store_first_id[8], store_upto[8];
	char pair_jid[64], open_jid[64], open_push[64];
};

extern char self_path[PATH_MAX];	/* this test binary: the misbehaving worker */

/* A table with short timings (heartbeats every heartbeat_ms, 3 misses, backoff 200..2000 ms). */
struct tctx *tctx_new(const char *worker_path, int concurrency, int heartbeat_ms);
void tctx_free(struct tctx *t);
/* tctx_new with another open-files limit for the workers (64 in tctx_new). */
struct tctx *tctx_new_cfg(const char *worker_path, int concurrency, int heartbeat_ms, unsigned long rlimit_nofile);
/* Register one instance (fails the test if refused). */
void add(struct tctx *t, const char *id, int connect_now);
const char *real_worker(void);
void cb_done(void *arg);
long long now_ms(void);
/* Run the loop until *flag reaches want (or timeout_ms passes); whether it did. */
int run_until(struct tctx *t, const int *flag, int want, int timeout_ms);
void run_for(struct tctx *t, int ms);
/* main() of every test binary: play the fake worker when started as one, else run tests. */
int testlib_main(int argc, char **argv, const struct CMUnitTest *tests, size_t ntests);

#endif
