/* The worker's end of the IPC socket (fd 3): reads whole frames, queues frames, tells when output drained. */
#ifndef WAGATE_WORKER_IPC_CLIENT_H
#define WAGATE_WORKER_IPC_CLIENT_H

#include "ipc.h"

struct event_base;
struct ipc_client;

struct ipc_client_cbs {
	/* One received Envelope; it is freed after the callback returns. */
	void (*on_msg)(void *arg, IpcEnvelope *env);
	/* The channel is gone: error 0 = EOF from the peer, -1 = read error or a bad frame. */
	void (*on_close)(void *arg, int error);
	void *arg;
};

/* Wrap fd (owned from now on) in a bufferevent on base and start reading. NULL on failure. */
struct ipc_client *ipc_client_new(struct event_base *base, int fd, const struct ipc_client_cbs *cbs);
/* Close the socket and release everything (NULL is fine). Not from inside its own callbacks. */
void ipc_client_free(struct ipc_client *c);
/* Queue one Envelope (version stamped). 0, or -1 if it could not be queued. */
int ipc_client_send(struct ipc_client *c, IpcEnvelope *env);
/* Stop reading; call done(arg) once everything queued has been written (or the peer is gone). */
void ipc_client_drain(struct ipc_client *c, void (*done)(void *arg), void *arg);

#endif
