/* What worker.c (dispatch, configuration, reports, exit), worker_call.c (our requests to the supervisor) and
 * worker_orphan.c (adoption, DESIGN.md "Workers outlive a supervisor restart") share. Nothing outside worker/
 * includes it. */
#ifndef WAGATE_WORKER_INT_H
#define WAGATE_WORKER_INT_H

#include "worker.h"
#include "ipc.h"
#include "ipc_peer.h"
#include "settings.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>


/* Caps on what the supervisor may send (it is trusted, but a bug must not become a crash). */
#define WORKER_ID_MAX		128
#define WORKER_NAME_MAX		256
#define WORKER_URL_MAX		2048
#define WORKER_FIELD_MAX	1024
#define WORKER_ROOT_KEY_LEN	32
#define WORKER_JID_MAX		256	/* messaging commands (issue 9) */
#define WORKER_MSG_ID_MAX	128
#define WORKER_MESSAGE_MAX	(2u * 1024 * 1024)	/* SendMessage.message */
#define WORKER_NUMBERS_MAX	50	/* CheckNumbers */
#define WORKER_NUMBER_MAX	32
#define WORKER_READ_KEYS_MAX	256	/* MarkRead */
#define WORKER_SUBJECT_MAX	1024	/* GroupCreate.subject */
#define WORKER_GROUP_USERS_MAX	256	/* GroupCreate.participants */
#define WORKER_USER_JID_MAX	128	/* each of them */
#define WORKER_EXIT_GRACE_S	5
#define WORKER_KEEPALIVE_MAX_MS	3600000	/* a longer keepalive from Start is a bug: use the default */
#define WORKER_ORPHAN_GRACE_S	120	/* Start.orphan_grace_s = 0 */
#define WORKER_HELD_MAX		32	/* requests kept for the next supervisor while orphaned */
#define WORKER_HELD_BYTES_MAX	(4u * 1024 * 1024)
#define WORKER_SIGNAL_KEYS_MAX	512	/* keys of one SignalLoad (ipc.proto) */
#define WORKER_SOCK_CHECK_MS	1000	/* how often an orphan checks that its socket file is still there */

enum worker_phase {
	WORKER_PHASE_WAIT_START = 1 << 0,	/* nothing but Start (or Shutdown) yet */
	WORKER_PHASE_RUNNING = 1 << 1,
	WORKER_PHASE_EXITING = 1 << 2,
	WORKER_PHASE_ORPHAN = 1 << 3,		/* the supervisor went away: waiting for Adopt on the socket */
};

/* A request of ours (StoreBatch, PairSuccess, SignalLoad, MessageStore): the session's callback, kept until the peer ends it, and the
 * packed envelope, so that a request the supervisor's death cancelled can be sent again to the next one. */
struct worker_call {
	TAILQ_ENTRY(worker_call) entry;		/* in worker.held while orphaned */
	struct worker *w;
	const char *what;		/* for the timeout log line */
	int reply_case;
	uint8_t *frame;			/* packed Envelope (request_id replaced when sent again) */
	size_t len;
	worker_reply_cb cb;
	worker_signal_cb scb;		/* SignalLoad: the records' callback instead of cb */
	void *arg;
};

TAILQ_HEAD(worker_call_list, worker_call);

struct worker {
	struct event_base *base;
	struct ipc_peer *ipc;
	enum worker_phase phase;
	int exit_code;
	struct event *exit_timer;	/* leaves the loop if the supervisor stops reading */
	char *instance_id;
	char *instance_name;
	char *wa_url;
	char *wa_media_url;
	char *tls_ca_file;
	unsigned char *root_key;
	size_t root_key_len;
	unsigned char *creds;
	size_t creds_len;
	struct settings settings;
	struct proxy proxy;
	struct session *session;
	unsigned qrcode_limit, qr_first_ms, qr_next_ms;
	unsigned keepalive_ms, keepalive_deadline_ms;
	char *connect_number;

	/* adoption */
	char *runtime_dir;		/* Start.runtime_dir; NULL = exit on EOF */
	unsigned orphan_grace_s;
	int was_open;			/* OPEN reported since Start: the instance is paired */
	int state, reason;		/* the last state reported (what Adopted carries) */
	char *detail, *jid, *lid, *push_name;
	char *sock_path;		/* set while the adoption socket exists */
	int lfd;
	struct event *ev_accept, *ev_grace, *ev_watch;
	struct worker_call_list held;	/* requests for the next supervisor */
	size_t nheld, held_bytes;
};

/* worker.c */
const char *worker_label(const struct worker *w);
void worker_send(struct worker *w, IpcEnvelope *env);
int worker_take_config(struct worker *w, const Wagate__Ipc__Start *st);
struct ipc_peer *worker_peer_new(struct worker *w, int fd);

/* worker_call.c: requests of ours (StoreBatch, PairSuccess, SignalLoad, MessageStore), held for the next
 * supervisor while orphaned */
void worker_call_free(struct worker_call *c);
/* Free c and tell its callback that it failed with error. */
void worker_call_fail(struct worker_call *c, const char *error);
void worker_call_free_held(struct worker *w);
int worker_call_send(struct worker *w, struct worker_call *c);

/* worker_orphan.c: waiting to be adopted */
int worker_orphan_adoptable(const struct worker *w);
int worker_orphan_begin(struct worker *w);
void worker_orphan_close(struct worker *w);
int worker_orphan_on_adopt(void *arg, const IpcEnvelope *env);

#endif
