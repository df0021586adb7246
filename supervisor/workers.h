/* The supervisor's worker table: spawns one wagate-worker per instance (fork+exec, IPC on fd 3), watches it
 * with heartbeats, reaps it on SIGCHLD, restarts it with backoff, and dispatches its IPC messages. */
#ifndef WAGATE_WORKERS_H
#define WAGATE_WORKERS_H

#include <stddef.h>
#include <sys/types.h>

struct event_base;
struct workers;

enum { WORKER_STATE_CLOSE = 0, WORKER_STATE_CONNECTING = 1, WORKER_STATE_OPEN = 2 };

/* Reason codes the table itself reports in on_state (others come from the worker, see proto/ipc.proto). */
#define WORKERS_REASON_CRASHED		600	/* the worker exited or was killed */
#define WORKERS_REASON_LOGGED_OUT	401	/* the worker exited with IPC_EXIT_NO_RESTART */

struct workers_config {
	const char *worker_path;            /* path of wagate-worker */
	int heartbeat_interval_ms;          /* default 5000 */
	int heartbeat_misses;               /* default 3: then SIGKILL + restart */
	int backoff_min_ms, backoff_max_ms; /* default 1000, 60000; exponential with jitter */
	int stable_ms;                      /* default 60000: restart count/backoff reset after this much uptime */
	int spawn_concurrency;              /* default 16: at most this many spawned-but-not-Ready at once */
	unsigned long rlimit_as_mb;         /* default 1024; 0 = unlimited */
	unsigned long rlimit_nofile;        /* default 256 */
	const char *wa_url;                 /* passed in Start */
	const char *wa_tls_ca_file;         /* passed in Start: extra CA PEM for wss:// (WA_TLS_CA_FILE); NULL = none */
	const unsigned char *wa_root_key; size_t wa_root_key_len;
	int log_level;
};

struct worker_spec {                    /* everything Start needs; copied by workers_add/workers_update */
	const char *instance_id, *instance_name;
	int reject_call, groups_ignore, always_online, read_messages, read_status, sync_full_history;
	const char *msg_call;
	int proxy_enabled; const char *proxy_host, *proxy_port, *proxy_protocol, *proxy_username, *proxy_password;
	int connect_now;
	const unsigned char *creds; size_t creds_len; /* stored credentials for Start (optional; wiped on free) */
};

struct workers_cbs {
	void (*on_ready)(void *ctx, const char *instance_id, pid_t pid);
	void (*on_state)(void *ctx, const char *instance_id, int state, int reason, const char *detail);
	void (*on_exit)(void *ctx, const char *instance_id, int wstatus, int will_restart); /* crash/kill/exit */
	/* Optional (NULL = ignored): a QR string / pairing code to show; pairing succeeded with creds to store. */
	void (*on_qr)(void *ctx, const char *instance_id, const char *qr, unsigned count, const char *pairing_code);
	void (*on_paired)(void *ctx, const char *instance_id, const char *jid, const char *lid,
	    const char *push_name, const unsigned char *creds, size_t creds_len);
	void *ctx;
};

/* A table on base; cfg is copied and zero fields take their defaults. NULL on failure. */
struct workers *workers_new(struct event_base *base, const struct workers_config *cfg, const struct workers_cbs *cbs);
void workers_free(struct workers *w);                         /* NULL ok; SIGTERM all, no waiting */
int workers_add(struct workers *w, const struct worker_spec *spec);   /* register + schedule spawn (paced) */
int workers_update(struct workers *w, const struct worker_spec *spec);/* new settings/proxy -> UpdateSettings/UpdateProxy (keeps creds unless given, and connect_now) */
int workers_remove(struct workers *w, const char *instance_id);      /* Shutdown, SIGKILL after grace, never restart, forget */
int workers_restart(struct workers *w, const char *instance_id);     /* Shutdown + respawn now (reset backoff) */
/* Send Connect; queued until Ready if the worker is starting; spawns a stopped (logged-out) worker.
 * -1 if the instance is unknown or its worker is waiting out a restart backoff. */
int workers_connect(struct workers *w, const char *instance_id, const char *number_or_null);
int workers_logout(struct workers *w, const char *instance_id);      /* send Logout; -1 unless Ready */
pid_t workers_pid(const struct workers *w, const char *instance_id); /* 0 if not running */
unsigned workers_restarts(const struct workers *w, const char *instance_id);
unsigned workers_ready_count(const struct workers *w);
unsigned workers_starting_count(const struct workers *w);            /* spawned, not yet Ready */
double workers_ipc_latency_ms(const struct workers *w);              /* last/avg Ping->Pong round trip */
void workers_shutdown(struct workers *w, void (*done)(void *arg), void *arg); /* graceful stop of all, for exit */

#endif
