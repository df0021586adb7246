/* The harness shared by the worker-table tests (see workers_testlib.c). Include after cmocka's headers. */
#ifndef WAGATE_WORKERS_TESTLIB_H
#define WAGATE_WORKERS_TESTLIB_H

#include "workers.h"
#include "ipc.h"

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
	/* messaging requests: counts, the last tickets, and optional hooks that see the values (worker_msg_test) */
	int nsig, nmsgstore;
	uint64_t sig_req, msgstore_req;
	void (*sig_hook)(struct tctx *t, const char *id, uint64_t req, const struct workers_sig_key *keys, size_t n);
	void (*msgstore_hook)(struct tctx *t, const char *id, uint64_t req, const struct workers_msg_store *m);
	void *user;
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
/* A fake worker the test itself plays, frame by frame: the table spawns instance "hand-..." (this binary), or
 * adopts the orphan of fw_orphan_start; that process hands its end of the channel to the test over the
 * handoff socket (fw_listen) and waits to be killed. The test then reads what the table sent and answers. */
struct fw {
	int fd;
	pid_t pid;				/* the process the table watches */
	unsigned char *buf;
	size_t len, cap;
};
/* The worker process's side ("hand-..." instances): hand fd 3 to the test process, then wait to be killed. */
int fw_hand_main(void);
/* The handoff socket of this test process (one per process). */
int fw_listen(void);
void fw_unlisten(int lfd);
/* Take the next handed-off channel; whether one came within timeout_ms. */
int fw_accept(struct tctx *t, int lfd, struct fw *f, int timeout_ms);
void fw_close(struct fw *f);			/* close our end (the table sees EOF) */
/* Send env (request_id as set) as one frame, running the loop while the socket is full. */
void fw_send(struct tctx *t, struct fw *f, IpcEnvelope *env);
/* The next frame the table sent that is not a Ping (Pings are answered), running the loop meanwhile; NULL on
 * EOF or after timeout_ms. Free with ipc_envelope_free. */
IpcEnvelope *fw_read(struct tctx *t, struct fw *f, int timeout_ms);
/* fw_read that fails the test unless a frame of msg_case comes. */
IpcEnvelope *fw_expect(struct tctx *t, struct fw *f, int msg_case, int timeout_ms);
/* Answer Start with Ready and run until the table reports it. */
void fw_ready(struct tctx *t, struct fw *f, const char *instance_id);
/* Answer Adopt with Adopted (state OPEN) and run until the table reports it ready. */
void fw_adopted(struct tctx *t, struct fw *f, const char *instance_id);
/* A forked orphan listening on dir's adoption socket of id: it hands the accepted channel over. Its pid. */
pid_t fw_orphan_start(const char *dir, const char *id);
/* A table for fw tests: no heartbeats in the way, and no restart within a minute. */
struct tctx *fw_tctx(void);
/* Register instance id ("hand-...") and play its worker up to Ready. */
void fw_start(struct tctx *t, int lfd, const char *id, struct fw *f);
/* A Signal key (strings by pointer: the caller keeps them alive). */
void fw_key(Wagate__Ipc__SignalKey *k, int kind, const char *address, const char *group, unsigned prekey_id);
/* Frames a worker sends in messaging (request_id rid). */
void fw_send_signal_load(struct tctx *t, struct fw *f, uint64_t rid, Wagate__Ipc__SignalKey **keys, size_t n);
void fw_send_msg_store(struct tctx *t, struct fw *f, uint64_t rid, Wagate__Ipc__MessageStore *m);
void fw_send_send_result(struct tctx *t, struct fw *f, uint64_t rid, Wagate__Ipc__SendResult *r);
void fw_send_numbers(struct tctx *t, struct fw *f, uint64_t rid, Wagate__Ipc__NumbersResult *r);
void fw_send_result(struct tctx *t, struct fw *f, uint64_t rid, int ok, int code, const char *error);
void fw_send_group_result(struct tctx *t, struct fw *f, uint64_t rid, Wagate__Ipc__GroupResult *r);

/* main() of every test binary: play the fake worker when started as one, else run tests. */
int testlib_main(int argc, char **argv, const struct CMUnitTest *tests, size_t ntests);

#endif
