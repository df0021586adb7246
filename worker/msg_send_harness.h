/* The supervisor side for end-to-end tests of the worker's send path (msg_send_worker_test.c,
 * msg_ident_worker_test.c, msg_group_worker_test.c): real wagate-worker processes, a real fakewa, and an
 * in-memory store answering StoreBatch, PairSuccess, SignalLoad and MessageStore. Test code: cmocka assertions
 * fail the running test. */
#ifndef WAGATE_WORKER_MSG_SEND_HARNESS_H
#define WAGATE_WORKER_MSG_SEND_HARNESS_H

#include "ipc.h"
#include "sigdb_testlib.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define WAIT_MS		60000	/* valgrind is slow */
#define MAX_REPLIES	32
#define MAX_HELD	8
#define HARNESS_INSTS	4

/* A worker and what its supervisor (this test) keeps for it. */
struct inst {
	const char *name, *phone;
	pid_t pid, scan_pid;
	int fd;
	uint8_t *buf;
	size_t have, cap;
	uint8_t *creds;
	size_t creds_len;
	struct sigdb_row *recs;			/* its Signal records (sigdb_testlib.h) */
	int open, scanned, opens;		/* opens: OPEN reports so far */
	char jid[128];
	uint64_t next_req;
	IpcEnvelope *replies[MAX_REPLIES];	/* SendResult, NumbersResult, Result of our requests */
	size_t nreplies;
	const char *hold_id;			/* hold the StoreAck of the MessageStore with this message */
	IpcEnvelope *held[MAX_HELD];
	size_t nheld;
	int stores;				/* MessageStores seen */
	char stored_status[64][8];		/* status of each message row stored, by order */
	char stored_ids[64][64];
	char stored_remote[64][128];		/* remote_jid and participant of each row */
	char stored_participant[64][128];
	size_t nstored;
	char lid_pn[16][128], lid_lid[16][128];	/* LID mappings stored */
	size_t nlids;
	int session_changes;			/* SESSION changes stored */
	int sessions_loaded;			/* SESSION records found for a SignalLoad */
	int forgets;				/* forget_users entries applied */
	char forgot[128];			/* the last one */
};

struct fakewa {
	pid_t pid;
	int port, control;
	uint8_t root[32];
	char dir[64];
};

extern struct fakewa fw;

int64_t now_ms(void);
/* One blocking HTTP/1.1 request to fakewa's control port: the status; the body into out (NUL-terminated). */
int http(const char *method, const char *path, const char *body, char *out, size_t outlen);
/* Start fakewa (dies with the test) and learn its ports and root key; SIGPIPE is ignored from then on (a worker
 * that died must fail the test, not kill it). */
void fakewa_start(void);
void fakewa_stop(void);
/* Serve in (and the others watched) from pump(). */
void inst_watch(struct inst *in);
void inst_send(struct inst *in, IpcEnvelope *env);
void inst_store_ack(struct inst *in, uint64_t request_id, int ok);
/* Start a worker for in (with its stored creds, if any) and send Start. */
void inst_start(struct inst *in, int connect_now);
/* Serve every watched worker for up to ms, or until done(arg) holds. 1 if it did. */
int pump(int (*done)(void *), void *arg, int ms);
/* The reply to request id of in, once it came (NULL until then); await_reply waits for it. */
IpcEnvelope *reply_find(struct inst *in, uint64_t id);
IpcEnvelope *await_reply(struct inst *in, uint64_t id);
/* Shutdown, drain, and the process's clean exit (the store stays); inst_stop also frees the store. */
void inst_shutdown(struct inst *in);
void inst_stop(struct inst *in);
/* The store's record of kind (SignalKind) at address, or NULL. */
const struct sigdb_row *inst_rec(struct inst *in, int kind, const char *address);

/* --- what the tests share on top (msg_send_harness.c, the end) --- */

/* Watch and start (connect_now) the n workers of v, which pair by QR: 1 once every one is open, 0 after ms. */
int inst_open_all(struct inst *const *v, size_t n, int ms);
/* The tests' group teardown (cmocka's signature): fakewa first (a failed check must not leave it running),
 * every watched worker, and fakewa's directory. */
int harness_teardown(void **state);
/* Send env from in under its next request id; that id. */
uint64_t inst_request(struct inst *in, IpcEnvelope *env);
/* A packed Message with conversation text (caller frees). */
uint8_t *text_message(const char *text, size_t *len);
/* SendMessage of a text from in to the JID to, with message id (NULL: the worker picks one); the request id. */
uint64_t send_text(struct inst *in, const char *to, const char *text, const char *id);
/* send_text with SendMessage.start_by_ms (CLOCK_MONOTONIC ms, as now_ms). */
uint64_t send_text_by(struct inst *in, const char *to, const char *text, const char *id, uint64_t start_by_ms);

/* pump() conditions over a want_stored. stored_came: w->in stored a message row with id w->id. */
struct want_stored {
	struct inst *in;
	const char *id;
	int opens;
};
int stored_came(void *arg);
/* inst_reopened: w->in is open again, after more than w->opens OPEN reports. */
int inst_reopened(void *arg);
/* held_came (arg: the inst): a MessageStore with its hold_id is held. */
int held_came(void *arg);

#endif
