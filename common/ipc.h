/* IPC framing between supervisor and worker: 4-byte big-endian length + one packed wagate.ipc.Envelope.
 * The length is checked against IPC_FRAME_MAX before anything is allocated. Bump IPC_VERSION if
 * proto/ipc.proto changes meaning. The pure functions are in ipc.c; the two libevent helpers are inline
 * here so pure users (the fuzzer) need not link libevent. */
#ifndef WAGATE_IPC_H
#define WAGATE_IPC_H

#include "ipc.pb-c.h"

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#define IPC_VERSION	8
#define IPC_FD		3			/* the worker's end of the socketpair */
#define IPC_HEADER_LEN	4
#define IPC_FRAME_MAX	(16u * 1024 * 1024)	/* largest payload (bytes after the header) */

/* Worker exit codes with a meaning for the supervisor. */
#define IPC_EXIT_OK		0
#define IPC_EXIT_NO_RESTART	3		/* logged out / credentials revoked: do not restart */
#define IPC_EXIT_RLIMIT_FAILED	126		/* setrlimit in the forked child failed: exec never tried */
#define IPC_EXIT_EXEC_FAILED	127		/* exec of the worker binary failed (or the fd setup before it) */

/* The error of a failed StoreAck or SignalRecords when the supervisor could not reach PostgreSQL: nothing was
 * written (or, if a COMMIT went unanswered, what was is found again), and the same request may succeed later. */
#define IPC_ERR_DB_UNAVAILABLE	"database unavailable"

typedef Wagate__Ipc__Envelope IpcEnvelope;

/* Three-way result of non-blocking reads (STYLE rule 6). */
enum ipc_result { IPC_ERROR = -1, IPC_AGAIN = 0, IPC_OK = 1 };

/* Write the 4-byte big-endian header for a payload of len bytes. */
void ipc_header_encode(uint32_t len, unsigned char out[IPC_HEADER_LEN]);
/* Read a 4-byte big-endian header. */
uint32_t ipc_header_decode(const unsigned char in[IPC_HEADER_LEN]);
/* Is a whole frame at the start of buf? OK sets *payload_len; AGAIN = need more; ERROR = length too big. */
enum ipc_result ipc_frame_check(const unsigned char *buf, size_t len, size_t *payload_len);
/* Unpack one payload into a new Envelope (NULL if garbled or too big); free with ipc_envelope_free. */
IpcEnvelope *ipc_envelope_unpack(const unsigned char *payload, size_t len);
/* Parse the first frame of buf: OK sets *out and *consumed; AGAIN; ERROR (too big or garbled). */
enum ipc_result ipc_frame_parse(const unsigned char *buf, size_t len, size_t *consumed, IpcEnvelope **out);
/* Release an Envelope from ipc_envelope_unpack (NULL is fine). */
void ipc_envelope_free(IpcEnvelope *env);
/* Bytes ipc_frame_pack needs for env (header included), or 0 if the payload would exceed IPC_FRAME_MAX. */
size_t ipc_frame_size(const IpcEnvelope *env);
/* Pack env as one frame into out (outlen >= ipc_frame_size); returns the frame length or 0 on error. */
size_t ipc_frame_pack(const IpcEnvelope *env, unsigned char *out, size_t outlen);
/* Whether a received string is present and at most max bytes long (STYLE rule 14 per-field caps). */
int ipc_str_ok(const char *s, size_t max);
/* Name of a oneof case for logs ("start", "ping", ...; "unknown" otherwise). */
const char *ipc_msg_name(int msg_case);

/* Stamp env with IPC_VERSION, pack it and queue it on bev. 0, or -1 if too big / out of buffer space. */
static inline int
ipc_write(struct bufferevent *bev, IpcEnvelope *env)
{
	struct evbuffer *out = bufferevent_get_output(bev);
	struct evbuffer_iovec v;
	size_t n;

	env->version = IPC_VERSION;
	if ((n = ipc_frame_size(env)) == 0)
		return -1;
	if (evbuffer_reserve_space(out, (ev_ssize_t)n, &v, 1) != 1 || v.iov_len < n)
		return -1;
	if (ipc_frame_pack(env, v.iov_base, n) != n)
		return -1;
	v.iov_len = n;
	return evbuffer_commit_space(out, &v, 1);
}

/* Take one whole frame off in: OK sets *out; AGAIN leaves in untouched; ERROR = oversized or garbled. */
static inline enum ipc_result
ipc_read(struct evbuffer *in, IpcEnvelope **out)
{
	unsigned char hdr[IPC_HEADER_LEN], *p;
	size_t have = evbuffer_get_length(in), plen;
	enum ipc_result r;

	*out = NULL;
	if (have < IPC_HEADER_LEN)
		return IPC_AGAIN;
	if (evbuffer_copyout(in, hdr, sizeof(hdr)) != (ev_ssize_t)sizeof(hdr))
		return IPC_ERROR;
	if ((r = ipc_frame_check(hdr, sizeof(hdr), &plen)) == IPC_ERROR)
		return IPC_ERROR;
	if (have < IPC_HEADER_LEN + plen)
		return IPC_AGAIN;
	/* Bounded by IPC_FRAME_MAX above, and the bytes are already in memory. */
	if ((p = evbuffer_pullup(in, (ev_ssize_t)(IPC_HEADER_LEN + plen))) == NULL)
		return IPC_ERROR;
	*out = ipc_envelope_unpack(p + IPC_HEADER_LEN, plen);
	evbuffer_drain(in, IPC_HEADER_LEN + plen);
	return *out != NULL ? IPC_OK : IPC_ERROR;
}

#endif
