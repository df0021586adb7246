/* Messaging inside the worker's WhatsApp session (issue 9; reference/wa-session.md sections 4-6): the Signal
 * executor (msg_exec.c), receiving (msg_recv.c: <message>, offline; msg_receipt.c: <receipt>), sending (msg_send.c:
 * SendMessage, usync devices, prekey bundles, CheckNumbers, MarkRead). Nothing outside worker/ includes it.
 *
 * The executor is the only place that runs wa_signal operations and the only writer of MessageStore. It
 * keeps the durability rule (DESIGN.md): a job's Signal changes and rows commit in one MessageStore (rows past
 * its size in earlier ones, below), and the job learns of the COMMIT (committed ok) before it sends WhatsApp
 * anything that depends on it (the ack and receipts of an incoming stanza, the stanza of an outgoing message).
 *
 * Jobs run in submission order. The executor takes every queued job (up to MSG_EXEC_BATCH_MAX) as one
 * batch: it calls each job's step until DONE, answering WA_SIGNAL_NEED by loading wa_signal_needed() with a
 * SignalLoad (PREKEY records converted to the 32-byte private key) and calling the same step again; then it
 * sends one MessageStore with wa_signal_take_changes() and every row the batch's steps added, and calls each
 * job's committed() when the StoreAck arrives. Messages past what one MessageStore takes (a history sync chunk)
 * go first in rows-only MessageStores, each acked before the next: rows may commit before their ratchet step,
 * never after it, and a stanza delivered again finds them stored. No Signal operation runs while a MessageStore
 * is in flight (wa_signal.h's contract). If a store fails, the cache is cleared (it is ahead of the database)
 * and every job of the batch gets committed(ok=0).
 *
 * A step is re-entered after NEED: it must resume at the operation that needed records and not run again
 * the operations that already succeeded (their results are dirty in the cache). A step returning
 * WA_SIGNAL_FAILED fails only itself: the executor clears the cache of the whole batch (the earlier jobs'
 * dirty records cannot be told apart), fails that job, and runs the batch's other jobs again from the start
 * as a fresh batch (their steps must therefore be restartable until they returned DONE once: keep results
 * of a step only after DONE). A Signal error that is an answer (bad MAC, no session: a retry receipt) is
 * not FAILED: the step records it and returns DONE. */
#ifndef WAGATE_WORKER_MSG_H
#define WAGATE_WORKER_MSG_H

#include "ipc.pb-c.h"
#include "wa_signal.h"

#include <stddef.h>
#include <stdint.h>

/* msg_exec.c casts one to the other. */
_Static_assert((int)WA_SIGNAL_SESSION == (int)WAGATE__IPC__SIGNAL_KIND__SIGNAL_KIND_SESSION &&
    (int)WA_SIGNAL_IDENTITY == (int)WAGATE__IPC__SIGNAL_KIND__SIGNAL_KIND_IDENTITY &&
    (int)WA_SIGNAL_PREKEY == (int)WAGATE__IPC__SIGNAL_KIND__SIGNAL_KIND_PREKEY &&
    (int)WA_SIGNAL_SENDER_KEY == (int)WAGATE__IPC__SIGNAL_KIND__SIGNAL_KIND_SENDER_KEY,
    "wa_signal.h kinds must keep ipc.proto's SignalKind numbers");

struct session;
struct wa_node;
struct msg_exec;
struct msg_batch;

#define MSG_EXEC_BATCH_MAX	128	/* jobs per MessageStore */
#define MSG_STORE_PART_MSGS	2048	/* messages per MessageStore (the supervisor takes 4096) and their */
#define MSG_STORE_PART_BYTES	(8u * 1024 * 1024)	/* packed bytes (an IPC frame is 16 MB): a batch with more
							 * commits them in rows-only parts first (msg_exec.c) */
#define MSG_CACHE_RECORDS	256	/* wa_signal cache caps */
#define MSG_CACHE_BYTES		(512u * 1024)

/* A step's fourth answer: it started something outside the executor (a media download) and calls msg_exec_resume
 * when that is over; until then the batch is held (no other step runs, nothing is stored), then the same step runs
 * again. Only for solo jobs: a whole batch waiting on one download would hold every message behind it. */
#define MSG_STEP_WAIT	2

struct msg_job_ops {
	/* Run the job's Signal operations on sig and add its rows to b. WA_SIGNAL_DONE, _NEED, _FAILED, or
	 * MSG_STEP_WAIT (solo jobs). */
	int (*step)(struct session *s, void *arg, struct wa_signal *sig, struct msg_batch *b);
	/* The batch committed (ok) or failed (error set). Called exactly once per submitted job, from the
	 * loop; the job frees itself here. Also called with ok=0 when the session stops (s may be mid-free:
	 * touch only arg then, flagged by stopping). */
	void (*committed)(struct session *s, void *arg, int ok, const char *error, int stopping);
	/* A job that may bring thousands of rows (a peer message: a history sync chunk) runs in a batch of its
	 * own, so one MessageStore never holds two chunks (msg_history.h caps one). */
	int solo;
	/* When the database is away (IPC_ERR_DB_UNAVAILABLE), the job waits and runs again (step included) once
	 * the executor's pause is over, instead of failing: what WhatsApp sent, which it would send again only at
	 * the next login. Jobs someone waits on (an API send) fail at once. */
	int retry;
};

/* The session's executor, created with the Signal layer from the session's creds at login (<success>);
 * NULL until then. msg_exec_free calls every queued job's committed(ok=0, stopping=1). */
struct msg_exec *msg_exec_new(struct session *s);
void msg_exec_free(struct msg_exec *e);
/* Queue a job; it starts on a later loop turn. 0, or -1 when the executor is gone (committed never called). */
int msg_exec_submit(struct session *s, const struct msg_job_ops *ops, void *arg);
/* The outside work a step answered MSG_STEP_WAIT for is over: run that step again (from the loop, never from
 * inside a step). Nothing happens unless the executor is waiting. */
void msg_exec_resume(struct session *s);
/* The supervisor reached PostgreSQL again (DatabaseBack): a pause for the database ends now. */
void msg_exec_db_back(struct session *s);

/* Milliseconds on the host's CLOCK_MONOTONIC (the clock of SendMessage.start_by_ms, and of the steps' own
 * deadlines). */
uint64_t msg_now_ms(void);
/* Which batch run this is: a fresh value for every batch, and for a batch started again after one of its
 * jobs FAILED (the cache was cleared). A step keeps the value its progress belongs to; on a different value it
 * starts from its beginning (its earlier operations' results are gone). Private to msg_exec.c's users. */
uint64_t msg_batch_id(const struct msg_batch *b);
/* The Signal store address of a device JID (wa-session.md 6.2, whatsmeow's form): "user:device" for a phone
 * number, "user_1:device" for a LID (hosted: _128 / _129). 0, or -1 for anything else or too long. Shared by
 * msg_recv.c and msg_send.c so both key the same records. */
int msg_signal_address(const char *jid, char *buf, size_t len);
/* Rows a step adds to its batch (deep copies; the caller keeps ownership of its arguments). */
void msg_batch_add_message(struct msg_batch *b, const Wagate__Ipc__StoredMessage *m);
void msg_batch_add_status(struct msg_batch *b, const Wagate__Ipc__StatusChange *st);
void msg_batch_add_lid(struct msg_batch *b, const char *lid, const char *pn);
struct msg_history;
/* Move a decoded history sync chunk's messages and names into b and copy its LID mappings (the caller still
 * clears h). */
void msg_batch_take_history(struct msg_batch *b, struct msg_history *h);

/* msg_recv.c (messages, connection resets) and msg_receipt.c (receipts): stanzas routed here by session.c. */
void msg_recv_message(struct session *s, const struct wa_node *n);
void msg_recv_receipt(struct session *s, const struct wa_node *n);
void msg_recv_reset_connection(struct session *s);
void msg_recv_free(struct session *s);

/* msg_send.c: the session's messaging commands (session.h) and the acks of our stanzas. */
int msg_send_on_ack(struct session *s, const struct wa_node *n);	/* 1 if the <ack> was ours */
/* A <receipt type="retry"> for a message of ours: re-encrypt it for that device and send it again (bounded
 * count, from a bounded cache of recent sent messages). msg_recv.c routes it here; this sends the <ack>. */
void msg_send_on_retry_receipt(struct session *s, const struct wa_node *n);
void msg_send_on_devices_notification(struct session *s, const struct wa_node *n);
/* A message of the worker's own (msgCall's answer to a call) to the user JID to: sent, stored and acked like a
 * SendMessage's, but stored as WhatsApp's own upsert (messages.upsert, not send.message), as Evolution emits
 * it, and answered to nobody (a failure is logged). */
void msg_send_own(struct session *s, const char *to, const uint8_t *msg, size_t len);
/* msg_call.c: a <call> stanza (session.c acked it): CallEvent to the supervisor; rejectCall / msgCall. */
void msg_call_on_node(struct session *s, const struct wa_node *n);
void msg_call_free(struct session *s);
void msg_send_reset_connection(struct session *s);	/* fail what waits for the server (503) */
void msg_send_free(struct session *s);

#endif
