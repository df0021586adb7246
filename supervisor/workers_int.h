/* Internal to the worker table (workers.c and the worker_*.c role files): the record of one worker, the
 * table, and the calls the role files make into each other. Nothing outside supervisor/worker*.c includes
 * this. The roles: workers.c (the table, its public API, phases, spawn pacing), worker_spawn.c (fork+exec),
 * worker_reap.c (stopping, reaping, restart policy), worker_heartbeat.c (pings), worker_ipc.c (the channel,
 * Start and the dispatch table), worker_req.c (requests the worker waits on, and credential custody),
 * worker_msg.c (messaging requests and commands; worker_msg_check.c checks their frames), worker_group.c (the
 * group commands; worker_group_check.c checks their answers). */
#ifndef WAGATE_WORKERS_INT_H
#define WAGATE_WORKERS_INT_H

#include "workers.h"
#include "ipc.h"
#include "settings.h"

#include <event2/util.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

struct event;
struct ipc_peer;

#define WORKERS_SWEEP_MS	1000	/* backstop reaper period */
#define WORKERS_GRACE_MS	5000	/* Shutdown (or EOF) -> SIGKILL */
#define WORKERS_START_MIN_MS	10000	/* least time a spawned worker gets to answer Ready */
#define WORKERS_DETAIL_MAX	1024
#define WORKERS_LOG_MAX		4096
#define WORKERS_QR_MAX		4096
#define WORKERS_FIELD_MAX	256

/* Where a worker record is in its life; the bits are also the "allowed in" masks of the dispatch table. */
enum worker_phase {
	WK_IDLE = 1 << 0,	/* no process and none planned (logged out, or stopped for exit) */
	WK_BACKOFF = 1 << 1,	/* no process; the restart timer is running */
	WK_QUEUED = 1 << 2,	/* no process; waiting for a spawn slot */
	WK_STARTING = 1 << 3,	/* spawned and sent Start; no Ready yet */
	WK_READY = 1 << 4,
	WK_STOPPING = 1 << 5,	/* asked to stop, killed, or its channel closed: waiting to reap it */
};
#define WK_ALIVE (WK_STARTING | WK_READY | WK_STOPPING)

/* What a request is, and so which reply answers it. */
enum worker_req_kind {
	WORKER_REQ_STORE,			/* StoreBatch or MessageStore: StoreAck (workers_reply_store) */
	WORKER_REQ_PAIR,			/* PairSuccess: Result (workers_reply_pair) */
	WORKER_REQ_SIGNAL,			/* SignalLoad: SignalRecords (workers_reply_signal) */
};

/* A request the worker waits on: answered once, by workers_reply_pair/_store/_signal. */
struct worker_req {
	TAILQ_ENTRY(worker_req) entry;
	uint64_t ticket;			/* table-wide handle given to the callback */
	uint64_t request_id;			/* the worker's id, echoed in the reply */
	unsigned gen;				/* spawn generation of the process that asked */
	enum worker_req_kind kind;
	size_t nkeys;				/* SIGNAL: keys asked (the answer has one record per key) */
	unsigned char *creds;			/* creds to keep once committed (NULL = none or forgotten) */
	size_t creds_len;
};

TAILQ_HEAD(worker_req_list, worker_req);

struct worker_rec {
	TAILQ_ENTRY(worker_rec) entry;
	TAILQ_ENTRY(worker_rec) qentry;		/* in the spawn queue while WK_QUEUED */
	struct workers *w;
	char *id, *name;
	struct settings settings;
	struct proxy proxy;
	int connect_now;
	unsigned char *creds;
	size_t creds_len;

	enum worker_phase phase;
	pid_t pid;
	struct ipc_peer *peer;			/* the channel while a process is alive; freed by the reaper */
	struct event *timer;			/* backoff, Ready deadline or kill grace, by phase */
	int64_t started_ms;
	unsigned restarts;			/* lifetime restarts, for metrics */
	unsigned fails;				/* quick failures in a row, for the backoff */
	uint64_t ping_seq;
	int64_t ping_sent_us;
	int ping_outstanding, misses;
	int pending_connect;
	char *pending_number;
	char kill_reason[128];			/* why we killed it, for on_state */
	int protocol_error;			/* killed for breaking the IPC protocol (reason 602) */
	int removed, restart_now, dead;
	unsigned gen;				/* bumped at every spawn: replies go only to the asker */
	struct worker_req_list reqs;		/* unanswered requests */
	/* adoption: a process we did not fork; its end is seen on pidfd (or by kill(pid, 0)), never SIGCHLD */
	int adopted;
	int pidfd;				/* -1 = none (then the sweep polls kill(pid, 0)) */
	struct event *pidfd_ev;
	int stop_sent;				/* Shutdown sent: an end without a status is a clean exit */
	int logged_out;				/* Logout sent or CLOSE/401 seen: an end means "do not restart" */
};

TAILQ_HEAD(worker_list, worker_rec);

struct workers {
	struct event_base *base;
	struct workers_config cfg;
	struct workers_cbs cbs;
	struct worker_list all;
	struct worker_list queue;
	unsigned nstarting, nready;
	struct event *sigchld, *sweep, *heartbeat, *gc, *done_ev;
	int shutting_down;
	void (*done)(void *);
	void *done_arg;
	double latency_ms;
	int have_latency;
	uint64_t next_ticket;
	/* Deadlines of the messaging commands (WORKERS_SEND_TIMEOUT_MS, WORKERS_QUERY_TIMEOUT_MS; tests shorten
	 * them). */
	int send_timeout_ms, query_timeout_ms;
};

/* workers.c: the table. */
int64_t workers_now_ms(void);
int64_t workers_now_us(void);
void workers_timer_ms(struct event *ev, int ms);
struct worker_rec *workers_find(const struct workers *w, const char *id);
void workers_set_phase(struct worker_rec *wk, enum worker_phase phase);
void workers_begin(struct worker_rec *wk, pid_t pid);
void workers_ready(struct worker_rec *wk);
void workers_ready_done(struct worker_rec *wk);
void workers_pump(struct workers *w);
void workers_enqueue(struct worker_rec *wk);
void workers_check_done(struct workers *w);

/* worker_spawn.c: fork+exec one worker with its socket on fd 3, then Start. 0, or -1 (nothing spawned). */
int worker_spawn(struct worker_rec *wk);

/* worker_adopt.c: taking over a live worker from its adoption socket instead of spawning. */
int worker_adopt_try(struct worker_rec *wk);		/* 0 = adoption under way; -1 = spawn instead */
int worker_adopt_on_adopted(void *arg, const IpcEnvelope *env);
void worker_adopt_forget(struct worker_rec *wk);	/* stop watching the process (pidfd) */

/* worker_reap.c: stopping and reaping processes, and the restart policy. */
void worker_reap_kill(struct worker_rec *wk, const char *reason);
void worker_reap_stop(struct worker_rec *wk);
void worker_reap_schedule_restart(struct worker_rec *wk);
void worker_reap_exited(struct worker_rec *wk, int status);
void worker_reap_gone(struct worker_rec *wk);		/* an adopted worker's process ended */
void worker_reap_sigchld_cb(evutil_socket_t sig, short what, void *arg);
void worker_reap_sweep_cb(evutil_socket_t fd, short what, void *arg);

/* worker_heartbeat.c: Ping each ready worker, count misses, measure the round trip. */
void worker_heartbeat_cb(evutil_socket_t fd, short what, void *arg);
int worker_heartbeat_on_pong(void *arg, const IpcEnvelope *env);

/* worker_ipc.c: the channel to one process, what we send on it, and the dispatch table. */
int worker_ipc_open(struct worker_rec *wk, int fd);
void worker_ipc_close(struct worker_rec *wk);
int worker_ipc_send(struct worker_rec *wk, IpcEnvelope *env);
int worker_ipc_reply(struct worker_rec *wk, IpcEnvelope *env, uint64_t request_id);
int worker_ipc_send_empty(struct worker_rec *wk, int msg_case);
int worker_ipc_send_connect(struct worker_rec *wk, const char *number);
int worker_ipc_send_start(struct worker_rec *wk);
int worker_ipc_send_adopt(struct worker_rec *wk);
int worker_ipc_send_update(struct worker_rec *wk);
int worker_ipc_send_presence(struct worker_rec *wk, const char *to, const char *presence, workers_result_cb cb,
    void *arg);
/* Send a command answered by Result; cb gets it, or !ok after timeout_ms or when the channel ends. 0 or -1
 * (cb never called). */
int worker_ipc_call(struct worker_rec *wk, IpcEnvelope *env, int timeout_ms, workers_result_cb cb, void *arg);

/* worker_req.c: requests the worker waits on, and the credentials the next Start carries. */
int worker_req_on_pair_success(void *arg, const IpcEnvelope *env);
int worker_req_on_store_batch(void *arg, const IpcEnvelope *env);
void worker_req_free_all(struct worker_rec *wk);
/* For worker_msg.c's requests: remember one (creds copied, may be NULL), find one by ticket (and its record),
 * send its answer to the process that asked (dropped if that process is gone), forget one. */
struct worker_req *worker_req_new(struct worker_rec *wk, uint64_t request_id, enum worker_req_kind kind,
    const unsigned char *creds, size_t len);
struct worker_req *worker_req_find(const struct workers *w, const char *instance_id, uint64_t req,
    struct worker_rec **wkp);
void worker_req_send(struct worker_rec *wk, const struct worker_req *rq, IpcEnvelope *env);
void worker_req_free(struct worker_rec *wk, struct worker_req *rq);
/* Answer a request with a failure at once (StoreAck, Result or SignalRecords by kind) and forget it. */
void worker_req_refuse(struct worker_rec *wk, uint64_t request_id, enum worker_req_kind kind, const char *error);

/* worker_msg.c: messaging (proto/ipc.proto 52..59): the SignalLoad and MessageStore requests, and the
 * commands with an answer (SendMessage, CheckNumbers, MarkRead). */
int worker_msg_on_signal_load(void *arg, const IpcEnvelope *env);
int worker_msg_on_msg_store(void *arg, const IpcEnvelope *env);
int worker_msg_on_call(void *arg, const IpcEnvelope *env);

#endif
