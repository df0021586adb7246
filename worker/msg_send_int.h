/* What msg_send.c (SendMessage, device lists, the executor job, acks), msg_send_retry.c (retry receipts and the
 * cache of sent messages) and msg_send_misc.c (CheckNumbers, MarkRead) share. Nothing else includes it. */
#ifndef WAGATE_WORKER_MSG_SEND_INT_H
#define WAGATE_WORKER_MSG_SEND_INT_H

#include "msg_wire.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

struct event;
struct msg_batch;
struct session;
struct wa_node;

/* Deadlines inside the supervisor's (workers.h: 60 s for a send, 30 s for CheckNumbers and MarkRead), so that
 * the worker's answer, with its reason, comes first. */
#define SEND_ACK_TIMEOUT_S	30	/* no <ack> for our stanza in time: 504 */
#define SEND_QUERY_TIMEOUT_S	10	/* usync and prekey queries of a send */
#define SEND_CMD_TIMEOUT_S	20	/* CheckNumbers' usync, MarkRead's receipt acks */
#define SEND_CACHE_USERS	256	/* device lists kept */
#define SEND_SENT_MAX		256	/* sent messages kept for retry receipts */
#define SEND_SENT_BYTES		(4u * 1024 * 1024)
#define SEND_RETRY_MAX		5	/* retry receipts answered per message and device (count attribute) */
#define SEND_RESENDS_MAX	10	/* resends per message in all */
#define SEND_READS_MAX		64	/* MarkRead commands waiting for their acks */

enum send_kind {
	SEND_KIND_MESSAGE = 1,		/* a SendMessage */
	SEND_KIND_RETRY,		/* the resend for one device after a retry receipt */
};

enum send_stage {
	SEND_STAGE_USYNC = 1,		/* waiting for the device lists */
	SEND_STAGE_EXEC,		/* an executor job is queued */
	SEND_STAGE_KEYS,		/* waiting for prekey bundles */
	SEND_STAGE_ACK,			/* the stanza is written: waiting for the server's <ack> */
};

/* One device the message is encrypted for. */
struct send_target {
	struct msg_wire_device dev;
	int own;			/* one of our own other devices: gets the DeviceSentMessage */
	int has_session;		/* learnt by the probe */
	int has_bundle, rebuild;	/* a fetched (or retry receipt) bundle; rebuild: replace the session */
	struct wa_signal_bundle b;
	int sub;			/* 0: session not checked, 1: session there, 2: encrypted */
	int dropped;			/* no session could be had: left out */
	enum wa_signal_type type;
	uint8_t *ct;
	size_t ctlen;
};

struct send_op {
	TAILQ_ENTRY(send_op) entry;	/* in msg_send_state.ops while not in the executor */
	struct session *s;
	enum send_kind kind;
	enum send_stage stage;
	uint64_t request_id;
	int own;			/* the worker's own message (msg_send_own): answered to nobody */
	char id[MSG_WIRE_ID_LEN + 128];
	char to[MSG_WIRE_JID_MAX];	/* the chat (user JID as given) */
	char to_alt[MSG_WIRE_JID_MAX];	/* its LID when the usync answer told it, else "" */
	char own_user[MSG_WIRE_JID_MAX];
	uint16_t own_device;
	int64_t t;			/* seconds, as stored */
	uint64_t start_by_ms;		/* CLOCK_MONOTONIC ms: not stored by then, not sent at all (0: no limit) */
	uint8_t *msg;			/* the Message as given */
	size_t len;
	uint8_t *pt, *pt_own;		/* padded Message and padded DeviceSentMessage */
	size_t ptlen, pt_ownlen;
	unsigned count;			/* RETRY: the receipt's count */
	struct send_target *targets;
	size_t ntargets;
	/* the step's progress (msg.h: resumable after NEED, restartable until DONE) */
	uint64_t batch_id;		/* msg_batch_id of the run the progress belongs to (0: none yet) */
	int probed, need_keys, keys_fetched;
	size_t pos;
	int code;			/* set when the step decided the send fails */
	char error[256];
	struct event *timer;		/* SEND_STAGE_ACK */
	/* a group send (msg_send_group.c): targets are the devices that lack our sender key, pt the padded
	 * Message{senderKeyDistributionMessage} for them, gpt the padded Message for the one skmsg */
	int group;
	char own_addr[WA_SIGNAL_ADDRESS_MAX];	/* our Signal address: the sender key's name in our store */
	char **gusers;			/* the participants (user JIDs), copied from the group cache */
	size_t ngusers, gpos;		/* gpos: users before it had their device lists asked for */
	char **gdevs;			/* every device of the group (the participant hash) */
	size_t ngdevs;
	char phash[24];
	uint8_t *gpt, *skct;
	size_t gptlen, sklen;
};

TAILQ_HEAD(send_op_list, send_op);

/* A MarkRead waiting for the <ack class="receipt"> of each receipt it wrote. */
struct send_read {
	TAILQ_ENTRY(send_read) entry;
	struct session *s;
	uint64_t request_id;
	char **ids;			/* first id of each receipt written */
	size_t nids, nacked;
	struct event *timer;
};

TAILQ_HEAD(send_read_list, send_read);

/* A message we sent, kept for retry receipts. */
struct send_sent {
	TAILQ_ENTRY(send_sent) entry;
	char id[MSG_WIRE_ID_LEN + 128];
	char to[MSG_WIRE_JID_MAX];
	int64_t t;
	uint8_t *msg;
	size_t len;
	unsigned resends;
};

TAILQ_HEAD(send_sent_list, send_sent);

/* A CheckNumbers waiting for its usync answer. */
struct send_check {
	TAILQ_ENTRY(send_check) entry;
	struct session *s;
	uint64_t request_id;
	char **numbers;
	size_t n;
};

TAILQ_HEAD(send_check_list, send_check);

struct send_devcache {
	TAILQ_ENTRY(send_devcache) entry;	/* most recently used first */
	char user[MSG_WIRE_JID_MAX];
	char lid[MSG_WIRE_JID_MAX];
	uint16_t devs[MSG_WIRE_DEVICES_MAX];
	size_t ndevs;
};

TAILQ_HEAD(send_devcache_list, send_devcache);

struct msg_send_state {
	struct send_op_list ops;
	struct send_read_list reads;
	struct send_sent_list sent;
	size_t nsent, sent_bytes, nreads;
	struct send_check_list checks;
	struct send_devcache_list cache;
	size_t ncache;
	unsigned sid;			/* usync sid counter */
};

/* msg_send.c */
struct msg_send_state *send_state(struct session *s);
int send_is_open(const struct session *s);
void send_op_free(struct send_op *op);
/* Answer the op (code 0: SERVER_ACK; retries answer nobody), unlink and free it. */
void send_finish(struct send_op *op, int code, const char *error);
/* Queue op's executor job (op leaves the list while the executor holds it). 0 or -1. */
int send_op_submit(struct send_op *op);
/* The PENDING row of op (sent through the API) into b; participant: ours in a group, "" in 1:1. */
void send_add_pending_row(const struct send_op *op, struct msg_batch *b, const char *remote_alt,
    const char *participant);
/* Our ADVSignedDeviceIdentity for <device-identity>. */
const uint8_t *send_identity(const struct session *s, size_t *len);

/* The device list cache (most recently used first; "not on WhatsApp" is not cached). */
struct send_devcache *send_cache_find(struct msg_send_state *st, const char *user);
void send_cache_put(struct msg_send_state *st, const char *user, const char *lid, const uint16_t *devs, size_t n);
/* Forget the device list of user (NULL: every user). */
void send_cache_drop(struct msg_send_state *st, const char *user);

/* msg_send_group.c: a SendMessage to a group (op->to a group JID; op->id, own_user, own_device set). */
void send_group_begin(struct send_op *op, const uint8_t *msg, size_t len);
/* Executor step parts (msg.h rules): our sender key and the pairwise plaintext before the targets
 * (Message{senderKeyDistributionMessage}; for a retry resend the Message itself with it); the skmsg and the row
 * after them (not for a resend). WA_SIGNAL_DONE (op->code set on failure), _NEED or _FAILED. */
int send_group_step_key(struct send_op *op, struct wa_signal *sig);
int send_group_step_final(struct send_op *op, struct wa_signal *sig, struct msg_batch *b);
/* Forget the results of a group step that must run again (msg.h). */
void send_group_restart(struct send_op *op);
/* The stanza for the committed op. */
struct wa_node *send_group_stanza(struct send_op *op, const struct msg_stanza_enc *encs, size_t n);
/* The server acked op: its targets have our sender key now; a phash other than ours drops the cached lists. */
void send_group_acked(struct send_op *op, const char *phash);
void send_group_free(struct send_op *op);

/* msg_send_retry.c */
void send_sent_add(struct session *s, const struct send_op *op);
void send_sent_free_all(struct msg_send_state *st);
int send_sent_is_ours(struct session *s, const char *id);
/* The resend after a retry: write it (the executor committed the ratchet change). */
void send_retry_write(struct send_op *op);

/* msg_send_misc.c */
int send_read_on_ack(struct session *s, const char *id);
/* Answer every MarkRead still waiting (code 0: free them without an answer). */
void send_read_fail_all(struct session *s, int code, const char *error);
void send_check_free_all(struct msg_send_state *st);

#endif
