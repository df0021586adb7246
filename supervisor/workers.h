/* The supervisor's worker table: spawns one wagate-worker per instance (fork+exec, IPC on fd 3), watches it
 * with heartbeats, reaps it on SIGCHLD, restarts it with backoff, and dispatches its IPC messages. */
#ifndef WAGATE_WORKERS_H
#define WAGATE_WORKERS_H

#include "conn_state.h"
#include "settings.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct event_base;
struct workers;

/* States and reasons in on_state are conn_state.h's CONN_* and REASON_*. The table itself reports
 * REASON_WORKER_CRASHED (the worker exited or was killed) and REASON_LOGGED_OUT (it exited with
 * IPC_EXIT_NO_RESTART); the others come from the worker. */

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
	const char *wa_media_url;           /* passed in Start: the media host (WA_MEDIA_URL); NULL = none */
	const char *wa_tls_ca_file;         /* passed in Start: extra CA PEM for wss:// (WA_TLS_CA_FILE); NULL = none */
	const unsigned char *wa_root_key; size_t wa_root_key_len;
	int log_level;
	unsigned qrcode_limit;              /* passed in Start: QRs per connect series (QRCODE_LIMIT); 0 = none */
	unsigned qr_first_ms, qr_next_ms;   /* passed in Start: QR display times (WA_QR_*_MS); 0 = the worker's default */
	unsigned keepalive_ms;              /* passed in Start: WhatsApp keepalive (WA_KEEPALIVE_MS); 0 = default */
	unsigned keepalive_deadline_ms;     /* passed in Start: its answer deadline (WA_KEEPALIVE_DEADLINE_MS); 0 = default */
	/* Adoption (DESIGN.md "Workers outlive a supervisor restart"): NULL = none (workers exit on IPC EOF). */
	const char *runtime_dir;            /* RUNTIME_DIRECTORY: workers listen on <dir>/workers/<id>.sock */
	unsigned orphan_grace_s;            /* passed in Start (WAGATE_ORPHAN_GRACE_S); 0 = the worker's 120 */
};

struct worker_spec {                    /* everything Start needs; copied by workers_add/workers_update */
	const char *instance_id, *instance_name;
	const struct settings *settings;    /* NULL = all off */
	const struct proxy *proxy;          /* NULL = none */
	int connect_now;
	const unsigned char *creds; size_t creds_len; /* stored credentials for Start (optional; wiped on free) */
};

/* Limits on what a worker may ask us to store (STYLE rule 14); a batch past them is refused, not stored. */
#define WORKERS_CREDS_MAX	(4u * 1024 * 1024)
#define WORKERS_PREKEYS_MAX	2000		/* prekeys in one StoreBatch */
#define WORKERS_PREKEY_RECORD_MAX 256		/* bytes of one prekey record */
#define WORKERS_PREKEY_ID_MAX	16777215	/* prekey ids are 24-bit, never 0 */

/* Own account details a worker reports with OPEN (each may be empty, never NULL). */
struct workers_account {
	const char *jid;                    /* own device JID, "15551234567:7@s.whatsapp.net" */
	const char *lid;
	const char *push_name;
};

/* PairSuccess, validated; the pointers live only during the callback. */
struct workers_pair {
	const char *jid, *lid, *push_name, *platform, *business_name;
	const unsigned char *creds; size_t creds_len;   /* never empty */
};

struct workers_prekey {
	unsigned id;                        /* 1..WORKERS_PREKEY_ID_MAX */
	const unsigned char *record; size_t len;        /* 1..WORKERS_PREKEY_RECORD_MAX bytes */
};

/* StoreBatch, validated; the pointers live only during the callback. */
struct workers_store {
	const unsigned char *creds; size_t creds_len;   /* creds_len 0 = unchanged */
	const struct workers_prekey *prekeys; size_t nprekeys;
	unsigned prekeys_uploaded_upto;     /* 0 = none */
};

/* Messaging (issue 9, proto/ipc.proto block 52..79). Kinds and statuses are the IPC enums' numbers. */
#define WORKERS_SIG_KEYS_MAX	512		/* keys in one SignalLoad */
#define WORKERS_SIG_RECORD_MAX	(1024u * 1024)	/* bytes of one Signal record (WA_SIGNAL_RECORD_MAX) */
#define WORKERS_STORE_MSGS_MAX	4096		/* messages, statuses, changes, lids, history chats or contacts in one
					 * MessageStore, each (a history sync chunk brings thousands) */
#define WORKERS_FORGET_USERS_MAX 256		/* forget_users in one MessageStore */
#define WORKERS_MESSAGE_MAX	(2u * 1024 * 1024) /* bytes of one serialized Message */
#define WORKERS_NUMBERS_MAX	50		/* numbers in one CheckNumbers */
#define WORKERS_READ_KEYS_MAX	256		/* keys in one MarkRead */
#define WORKERS_SEND_TIMEOUT_MS	60000		/* SendMessage without SendResult: failed (504) */
#define WORKERS_SEND_START_PART	3		/* a send not started within this part of it: 504, not sent */
#define WORKERS_QUERY_TIMEOUT_MS 30000		/* CheckNumbers / MarkRead without an answer: failed */

enum { WORKERS_SIG_SESSION = 1, WORKERS_SIG_IDENTITY, WORKERS_SIG_PREKEY, WORKERS_SIG_SENDER_KEY };
enum { WORKERS_MSG_ERROR = 1, WORKERS_MSG_PENDING, WORKERS_MSG_SERVER_ACK, WORKERS_MSG_DELIVERY_ACK,
	WORKERS_MSG_READ, WORKERS_MSG_PLAYED };

struct workers_sig_key {
	int kind;			/* WORKERS_SIG_* */
	const char *address;		/* SESSION, IDENTITY, SENDER_KEY ("" otherwise, never NULL) */
	const char *group;		/* SENDER_KEY ("" otherwise) */
	unsigned prekey_id;		/* PREKEY */
};

/* One answer to a SignalLoad key; data is the record as stored (PREKEY unsealed). */
struct workers_sig_record {
	struct workers_sig_key key;
	int found;
	const unsigned char *data; size_t len;
};

struct workers_sig_change {
	struct workers_sig_key key;
	int deleted;
	const unsigned char *data; size_t len;	/* when !deleted: 1..WORKERS_SIG_RECORD_MAX bytes */
	int identity_changed;
};

/* StoredMessage, validated (strings never NULL, "" = none). */
struct workers_msg {
	const char *id, *remote_jid, *remote_jid_alt, *participant, *participant_alt, *push_name, *source;
	int from_me, sent_by_api;
	int history;			/* from a history sync chunk: messages.set, not messages.upsert */
	int64_t timestamp;		/* seconds */
	int status;			/* WORKERS_MSG_*, 0 = none */
	const unsigned char *message; size_t message_len;	/* serialized waE2E.Message */
};

struct workers_msg_status {
	const char *id, *remote_jid, *participant;
	int from_me, status;
	int64_t timestamp;
};

struct workers_lid {
	const char *lid, *pn;
};

/* A chat or contact named by a history sync chunk; name "" = none. */
struct workers_name {
	const char *jid, *name;
};

/* MessageStore, validated; the pointers live only during the callback. Commit all in one transaction, then
 * workers_reply_store (it answers StoreAck for MessageStore too). */
struct workers_msg_store {
	const struct workers_sig_change *changes; size_t nchanges;
	const struct workers_msg *msgs; size_t nmsgs;
	const struct workers_msg_status *statuses; size_t nstatuses;
	const struct workers_lid *lids; size_t nlids;
	/* User JIDs (no device; "<digits>@s.whatsapp.net" or "<digits>@lid") whose Signal sessions and identities
	 * of every device are deleted in the transaction, before changes are applied. */
	const char *const *forget_users; size_t nforget_users;
	const struct workers_name *chats; size_t nchats;	/* history sync: inserted when new */
	const struct workers_name *contacts; size_t ncontacts;
};

/* What to send (SendMessage) and what came back (SendResult). */
struct workers_send {
	const char *to;			/* user JID without device, or group JID */
	const unsigned char *message; size_t message_len;
	const char *id;			/* NULL or "" = the worker makes one */
};

struct workers_send_result {
	int ok, code;			/* code as SendResult.code; 503 when the worker went away, 504 on timeout */
	const char *error;		/* never NULL when !ok */
	const char *id, *remote_jid, *remote_jid_alt;	/* with ok, never NULL */
	int64_t timestamp;
	int status;
};
typedef void (*workers_send_cb)(void *arg, const struct workers_send_result *r);

struct workers_number {
	const char *number, *jid, *lid;	/* never NULL */
	int exists;
};
/* ok: v[0..n) one per number asked, in order. !ok: code and error say why (v NULL). */
typedef void (*workers_numbers_cb)(void *arg, int ok, int code, const char *error, const struct workers_number *v,
    size_t n);

struct workers_msg_key {
	const char *remote_jid, *id, *participant;	/* participant NULL or "" in 1:1 chats */
	int from_me;
};

/* Groups (proto/ipc.proto block 60..63), validated; pointers live only during the callback. */
#define WORKERS_GROUP_PARTICIPANTS_MAX	1024	/* participants of one group (WhatsApp's cap is 1024) */
#define WORKERS_GROUPS_MAX		2000	/* groups in one GroupList answer */
#define WORKERS_SUBJECT_MAX		1024	/* bytes of a subject (WhatsApp: 100 characters) */
#define WORKERS_DESC_MAX		8192	/* bytes of a description */

struct workers_group_participant {
	const char *jid, *lid, *admin;	/* never NULL; admin "", "admin" or "superadmin" */
};

struct workers_group {
	const char *jid, *subject, *subject_owner, *owner, *desc, *desc_id;	/* never NULL */
	int64_t subject_time, creation;
	int locked, announce;		/* Evolution: restrict, announce */
	const struct workers_group_participant *participants; size_t nparticipants;
};

/* ok: v[0..n) (GroupCreate/GroupQuery: n == 1). !ok: code and error (v NULL). */
typedef void (*workers_groups_cb)(void *arg, int ok, int code, const char *error, const struct workers_group *v,
    size_t n);

/* A call WhatsApp told the worker of (CallEvent; Baileys' call event). Strings are never NULL ("" when absent)
 * and live only during the callback. */
struct workers_call {
	const char *chat_id, *from, *caller_pn, *id, *status, *group_jid;
	int64_t timestamp;
	int offline, is_video, is_group, rejected;
	int offer_known;		/* not an offer: is_video / is_group are its call's offer's */
	int latency_ms;			/* -1 unknown */
};

struct workers_cbs {
	void (*on_ready)(void *ctx, const char *instance_id, pid_t pid);
	/* acct is set only with CONN_OPEN reported by the worker (NULL otherwise). */
	void (*on_state)(void *ctx, const char *instance_id, int state, int reason, const char *detail,
	    const struct workers_account *acct);
	void (*on_exit)(void *ctx, const char *instance_id, int wstatus, int will_restart); /* crash/kill/exit */
	/* Optional (NULL = ignored): a QR string to show, with the pairing code when pairing by number. */
	void (*on_qr)(void *ctx, const char *instance_id, const char *qr, unsigned count, const char *pairing_code);
	/* Requests the worker waits on. req names the request for workers_reply_pair / workers_reply_store, which
	 * must be called exactly once, on a later loop turn or from inside the callback. NULL = refused (ok=false). */
	void (*on_pair_success)(void *ctx, const char *instance_id, uint64_t req, const struct workers_pair *p);
	void (*on_store)(void *ctx, const char *instance_id, uint64_t req, const struct workers_store *b);
	/* Messaging requests. on_signal_load is answered with workers_reply_signal, on_msg_store with
	 * workers_reply_store, each exactly once (as above). NULL = refused. */
	void (*on_signal_load)(void *ctx, const char *instance_id, uint64_t req, const struct workers_sig_key *keys,
	    size_t n);
	void (*on_msg_store)(void *ctx, const char *instance_id, uint64_t req, const struct workers_msg_store *m);
	/* Optional (NULL = ignored): a call event (no answer). */
	void (*on_call)(void *ctx, const char *instance_id, const struct workers_call *c);
	void *ctx;
};

/* A table on base; cfg is copied and zero fields take their defaults. NULL on failure. */
struct workers *workers_new(struct event_base *base, const struct workers_config *cfg, const struct workers_cbs *cbs);
void workers_free(struct workers *w);                         /* NULL ok; SIGTERM all, no waiting */
int workers_add(struct workers *w, const struct worker_spec *spec);   /* register + schedule spawn (paced) */
int workers_update(struct workers *w, const struct worker_spec *spec);/* new settings/proxy -> UpdateSettings/UpdateProxy (keeps creds unless given, and connect_now) */
int workers_remove(struct workers *w, const char *instance_id);      /* Shutdown, SIGKILL after grace, never restart, forget */
int workers_restart(struct workers *w, const char *instance_id);     /* Shutdown + respawn now (reset backoff) */
/* Send Connect; queued until Ready if the worker is starting (or into the next Start during workers_restart);
 * spawns a stopped (logged-out) worker. -1 if the instance is unknown or its worker is waiting out a restart
 * backoff or stopping for good. */
int workers_connect(struct workers *w, const char *instance_id, const char *number_or_null);
int workers_logout(struct workers *w, const char *instance_id);      /* send Logout; -1 unless Ready */
/* The answer to a command sent with a callback: ok, or why not (error is never NULL when !ok) and how, as an HTTP
 * status: 503 the instance is not connected (the worker's REASON_CONNECTION_CLOSED or REASON_UNAVAILABLE) or the
 * worker went away first, 504 no answer in time, 400 the worker refused the request itself (code 0), 500 any
 * other failure. */
typedef void (*workers_result_cb)(void *arg, int ok, int status, const char *error);
#define WORKERS_PRESENCE_TIMEOUT_MS	10000
/* Send SetPresence: with to NULL our global presence ("available"/"unavailable"), else our typing state in
 * the chat to ("composing", "recording", "paused"); cb is called exactly once, later, with the worker's Result,
 * or !ok after WORKERS_PRESENCE_TIMEOUT_MS or when the worker goes away first. -1 unless Ready (cb never
 * called). */
int workers_set_presence(struct workers *w, const char *instance_id, const char *to, const char *presence,
    workers_result_cb cb, void *arg);
pid_t workers_pid(const struct workers *w, const char *instance_id); /* 0 if not running */
unsigned workers_restarts(const struct workers *w, const char *instance_id);
/* Visit every worker once with its pid (0 if not running) and restarts: /metrics in one pass, where a
 * workers_pid per instance would search the table per instance. */
void workers_foreach(const struct workers *w,
    void (*fn)(const char *instance_id, pid_t pid, unsigned restarts, void *arg), void *arg);
/* PostgreSQL is reachable again: DatabaseBack to every Ready worker, so one whose stores failed meanwhile tries
 * them again now rather than at the end of its pause (up to 10 s). The number told. */
unsigned workers_db_back(struct workers *w);
unsigned workers_ready_count(const struct workers *w);
unsigned workers_starting_count(const struct workers *w);            /* spawned, not yet Ready */
double workers_ipc_latency_ms(const struct workers *w);              /* last/avg Ping->Pong round trip */
void workers_shutdown(struct workers *w, void (*done)(void *arg), void *arg); /* graceful stop of all, for exit */
/* Adoption. With runtime_dir, workers_add first tries to adopt a live worker of the instance from its socket
 * and spawns only if that fails. workers_adopt_strays asks the workers whose sockets name no registered
 * instance to exit and removes those sockets (call it once, after every instance was added).
 * workers_detach closes every channel without stopping anyone, for an exit that leaves the workers to
 * the next supervisor (those that cannot be adopted exit on the EOF). */
void workers_adopt_strays(struct workers *w);
void workers_detach(struct workers *w);

/* Answer a PairSuccess with Result{ok, error} under the worker's request_id. ok = the creds are committed:
 * they become the ones every later Start carries, with connect_now set. The answer is dropped (the creds
 * still kept when ok) if the process that asked is gone. -1 if req is unknown (already answered, or the
 * instance was removed). */
int workers_reply_pair(struct workers *w, const char *instance_id, uint64_t req, int ok, const char *error);
/* Answer a StoreBatch with StoreAck{ok, error}; ok with creds in the batch makes them the ones Start carries. */
int workers_reply_store(struct workers *w, const char *instance_id, uint64_t req, int ok, const char *error);
/* The stored credentials are void (CLOSE/401, logout): forget them, also those of unanswered requests, and
 * stop connecting at start. -1 if the instance is unknown. */
int workers_forget_creds(struct workers *w, const char *instance_id);
/* The credentials a Start would carry now (for tests and diagnostics); NULL when none. */
const unsigned char *workers_creds(const struct workers *w, const char *instance_id, size_t *len, int *connect_now);

/* Answer a SignalLoad: recs[0..n) one per key asked, in order (ok), or ok=0 with error. -1 if req is unknown. */
int workers_reply_signal(struct workers *w, const char *instance_id, uint64_t req, int ok, const char *error,
    const struct workers_sig_record *recs, size_t n);

/* Commands with an answer (each cb exactly once, later: the worker's answer, or !ok with 503 when the worker
 * goes away first, 504 after the timeout). -1 unless the worker is Ready (cb never called). */
int workers_send_message(struct workers *w, const char *instance_id, const struct workers_send *m,
    workers_send_cb cb, void *arg);
int workers_check_numbers(struct workers *w, const char *instance_id, const char *const *numbers, size_t n,
    workers_numbers_cb cb, void *arg);
int workers_mark_read(struct workers *w, const char *instance_id, const struct workers_msg_key *keys, size_t n,
    workers_result_cb cb, void *arg);
/* Group commands, as the commands above (cb exactly once; 503/504; -1 unless Ready). */
int workers_group_create(struct workers *w, const char *instance_id, const char *subject,
    const char *const *participants, size_t n, workers_groups_cb cb, void *arg);
int workers_group_query(struct workers *w, const char *instance_id, const char *group_jid, workers_groups_cb cb,
    void *arg);
int workers_group_list(struct workers *w, const char *instance_id, workers_groups_cb cb, void *arg);

#endif
