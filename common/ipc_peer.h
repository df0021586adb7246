/* One end of the supervisor <-> worker channel, the same code in both processes (tmux proc.c's idea):
 * whole frames in (ipc_read), the version checked first, then a table of {message, allowed phases,
 * handler} in the owner's current phase; frames out (ipc_write); and the requests this end sends that
 * expect one reply (id, reply message, timeout). Anything wrong with what arrives is reported to the owner
 * once, as a protocol error, and reading stops: the owner decides (the supervisor kills that worker, the
 * worker exits). The peer never frees itself, nor calls back into a freed owner (STYLE rule 10). */
#ifndef WAGATE_IPC_PEER_H
#define WAGATE_IPC_PEER_H

#include "ipc.h"

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct ipc_peer;

/* One row of a dispatch table (STYLE rule 15). fn NULL marks a reply to one of our own requests: the peer
 * matches it by request_id and hands it to that request's callback. With fn, a message answering a tracked
 * request still goes to that request's callback; fn gets the others. fn returns -1 for an invalid message. */
struct ipc_peer_dispatch {
	int msg_case;
	unsigned phases;			/* owner's phase bits in which the message is allowed */
	int (*fn)(void *arg, const IpcEnvelope *env);
};

struct ipc_peer_cbs {
	const struct ipc_peer_dispatch *table;
	size_t ntable;
	unsigned (*phase)(void *arg);		/* the owner's phase now, one bit of the table's masks */
	/* A bad frame, another version, an unknown, disallowed or invalid message: reported once, reading stops. */
	void (*on_error)(void *arg, const char *what);
	/* The other end closed (error 0) or the socket failed (-1); pending requests are already cancelled. */
	void (*on_close)(void *arg, int error);
	void *arg;
};

/* How a request ended. */
enum ipc_peer_outcome {
	IPC_PEER_REPLIED,		/* reply is the answer (valid during the call only) */
	IPC_PEER_TIMED_OUT,		/* reply is NULL: no answer in time */
	IPC_PEER_CANCELLED,		/* reply is NULL: ipc_peer_cancel, a close or ipc_peer_free; release arg only */
};

/* The outcome of a request, called exactly once. Return -1 if the reply is invalid (a protocol error). With
 * IPC_PEER_CANCELLED the callback must not call into the peer: it may run inside ipc_peer_free. */
typedef int (*ipc_peer_reply_cb)(void *arg, enum ipc_peer_outcome how, const IpcEnvelope *reply);

/* Wrap fd (owned from now on: closed by ipc_peer_free) on base and start reading. NULL on failure. */
struct ipc_peer *ipc_peer_new(struct event_base *base, int fd, const struct ipc_peer_cbs *cbs);
/* Close the socket, drop pending requests, release everything (NULL is fine). Not from its own callbacks. */
void ipc_peer_free(struct ipc_peer *p);
/* Queue env as it is (request_id 0 for a notice, or the id of the request it answers). The frames queued in a
 * loop turn are written together at its end. 0 or -1. */
int ipc_peer_send(struct ipc_peer *p, IpcEnvelope *env);
/* Queue env under a fresh request_id (left in env->request_id). With cb, the reply of case reply_case
 * carrying that id goes to cb, or the timeout after timeout_ms; without cb nothing is tracked. 0, or -1
 * (then cb is never called). */
int ipc_peer_request(struct ipc_peer *p, IpcEnvelope *env, int reply_case, int timeout_ms,
    ipc_peer_reply_cb cb, void *arg);
/* End every pending request with IPC_PEER_CANCELLED. */
void ipc_peer_cancel(struct ipc_peer *p);
/* Requests still waiting for their reply. */
size_t ipc_peer_pending(const struct ipc_peer *p);
/* Stop reading and dispatching (the owner gave up on this end); queued output is still written. */
void ipc_peer_stop(struct ipc_peer *p);
/* Stop reading; call done(arg) from a fresh loop turn once everything queued is written (or the other end
 * is gone). */
void ipc_peer_drain(struct ipc_peer *p, void (*done)(void *arg), void *arg);

#endif
