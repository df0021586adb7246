/* Unit tests for the IPC peer over a socketpair: version mismatch, unknown and disallowed messages, invalid
 * messages, oversized frames, request/reply matching (id and case), timeouts, cancel, EOF, drain, and frames
 * past what the socket holds arriving whole and in order. */
#include "ipc_peer.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include <event2/event.h>

#define PH_A	1u
#define PH_B	2u

struct tctx {
	struct event_base *base;
	struct ipc_peer *p;
	int fd;				/* the raw other end */
	unsigned phase;
	int npings, nerrors, ncloses, close_error, nreplies, ntimeouts, ncancelled, ndrained;
	char error[128];
	int reply_ok;
	int reject_reply;
	int nresults;			/* Results given to table2's handler */
};

/* Ping handler: counts; a ping with seq 99 is "invalid". */
static int
on_ping(void *arg, const IpcEnvelope *env)
{
	struct tctx *t = arg;

	if (env->ping->seq == 99)
		return -1;
	t->npings++;
	return 0;
}

static const struct ipc_peer_dispatch table[] = {
	{ WAGATE__IPC__ENVELOPE__MSG_PING, PH_A, on_ping },
	{ WAGATE__IPC__ENVELOPE__MSG_STORE_ACK, PH_A | PH_B, NULL },
	{ WAGATE__IPC__ENVELOPE__MSG_RESULT, PH_A | PH_B, NULL },
};

/* Result handler of table2: counts the Results that answer none of our requests. */
static int
on_result(void *arg, const IpcEnvelope *env)
{
	(void)env;
	((struct tctx *)arg)->nresults++;
	return 0;
}

/* A table with a handler for Result, as the supervisor's (Results of untracked commands are only logged). */
static const struct ipc_peer_dispatch table2[] = {
	{ WAGATE__IPC__ENVELOPE__MSG_PING, PH_A, on_ping },
	{ WAGATE__IPC__ENVELOPE__MSG_RESULT, PH_A | PH_B, on_result },
};

static unsigned
cb_phase(void *arg)
{
	return ((struct tctx *)arg)->phase;
}

static void
cb_error(void *arg, const char *what)
{
	struct tctx *t = arg;

	t->nerrors++;
	snprintf(t->error, sizeof(t->error), "%s", what);
}

static void
cb_close(void *arg, int error)
{
	struct tctx *t = arg;

	t->ncloses++;
	t->close_error = error;
}

static int
cb_reply(void *arg, enum ipc_peer_outcome how, const IpcEnvelope *reply)
{
	struct tctx *t = arg;

	if (how == IPC_PEER_CANCELLED) {
		assert_null(reply);
		t->ncancelled++;
		return 0;
	}
	if (how == IPC_PEER_TIMED_OUT) {
		assert_null(reply);
		t->ntimeouts++;
		return 0;
	}
	t->nreplies++;
	t->reply_ok = reply->msg_case == WAGATE__IPC__ENVELOPE__MSG_RESULT ? reply->result->ok : reply->store_ack->ok;
	return t->reject_reply ? -1 : 0;
}

static void
cb_drained(void *arg)
{
	((struct tctx *)arg)->ndrained++;
}

/* A peer on one end of a socketpair with dispatch table tbl; the other end stays raw. */
static struct tctx *
tctx_new_table(const struct ipc_peer_dispatch *tbl, size_t ntbl)
{
	struct tctx *t = calloc(1, sizeof(*t));
	struct ipc_peer_cbs cbs = { tbl, ntbl, cb_phase, cb_error, cb_close, NULL };
	int sv[2];

	assert_non_null(t);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	t->base = event_base_new();
	t->phase = PH_A;
	cbs.arg = t;
	t->p = ipc_peer_new(t->base, sv[0], &cbs);
	assert_non_null(t->p);
	t->fd = sv[1];
	return t;
}

/* A peer with the default table. */
static struct tctx *
tctx_new(void)
{
	return tctx_new_table(table, sizeof(table) / sizeof(table[0]));
}

static void
tctx_free(struct tctx *t)
{
	ipc_peer_free(t->p);
	if (t->fd != -1)
		close(t->fd);
	event_base_free(t->base);
	free(t);
}

/* Run the loop for ms milliseconds. */
static void
run_ms(struct tctx *t, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(t->base, &tv);
	event_base_dispatch(t->base);
}

/* Write env as one frame with the given version on the raw end. */
static void
raw_send(struct tctx *t, IpcEnvelope *env, unsigned version)
{
	unsigned char buf[256];
	size_t n;

	env->version = version;
	n = ipc_frame_size(env);
	assert_true(n > 0 && n <= sizeof(buf));
	assert_int_equal(ipc_frame_pack(env, buf, n), n);
	assert_int_equal(write(t->fd, buf, n), (ssize_t)n);
}

/* Send a Ping with seq. */
static void
raw_ping(struct tctx *t, uint64_t seq, unsigned version)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Ping ping = WAGATE__IPC__PING__INIT;

	ping.seq = seq;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_PING;
	env.ping = &ping;
	raw_send(t, &env, version);
}

/* Send a StoreAck (or, with result set, a Result) for request id. */
static void
raw_reply(struct tctx *t, uint64_t id, int ok, int result)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__StoreAck ack = WAGATE__IPC__STORE_ACK__INIT;
	Wagate__Ipc__Result res = WAGATE__IPC__RESULT__INIT;

	env.request_id = id;
	if (result) {
		res.ok = ok;
		env.msg_case = WAGATE__IPC__ENVELOPE__MSG_RESULT;
		env.result = &res;
	} else {
		ack.ok = ok;
		env.msg_case = WAGATE__IPC__ENVELOPE__MSG_STORE_ACK;
		env.store_ack = &ack;
	}
	raw_send(t, &env, IPC_VERSION);
}

/* Send a StoreBatch request through the peer; returns its id. */
static uint64_t
peer_request(struct tctx *t, int timeout_ms)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__StoreBatch sb = WAGATE__IPC__STORE_BATCH__INIT;

	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_STORE_BATCH;
	env.store_batch = &sb;
	assert_int_equal(ipc_peer_request(t->p, &env, WAGATE__IPC__ENVELOPE__MSG_STORE_ACK, timeout_ms, cb_reply, t),
	    0);
	assert_true(env.request_id != 0);
	return env.request_id;
}

static void
test_dispatch_and_version(void **state)
{
	struct tctx *t = tctx_new();

	(void)state;
	raw_ping(t, 1, IPC_VERSION);
	raw_ping(t, 2, IPC_VERSION);
	run_ms(t, 50);
	assert_int_equal(t->npings, 2);
	assert_int_equal(t->nerrors, 0);
	/* A wrong version is refused before the table; nothing after it is dispatched. */
	raw_ping(t, 3, IPC_VERSION + 1);
	raw_ping(t, 4, IPC_VERSION);
	run_ms(t, 50);
	assert_int_equal(t->npings, 2);
	assert_int_equal(t->nerrors, 1);
	assert_non_null(strstr(t->error, "IPC version"));
	tctx_free(t);
}

static void
test_unknown_and_phase(void **state)
{
	struct tctx *t = tctx_new();
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Logout lo = WAGATE__IPC__LOGOUT__INIT;

	(void)state;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_LOGOUT;
	env.logout = &lo;
	raw_send(t, &env, IPC_VERSION);
	run_ms(t, 50);
	assert_int_equal(t->nerrors, 1);
	assert_non_null(strstr(t->error, "unknown message 16"));
	tctx_free(t);

	t = tctx_new();
	t->phase = PH_B;
	raw_ping(t, 1, IPC_VERSION);
	run_ms(t, 50);
	assert_int_equal(t->npings, 0);
	assert_int_equal(t->nerrors, 1);
	assert_string_equal(t->error, "ping not allowed now");
	tctx_free(t);

	t = tctx_new();
	raw_ping(t, 99, IPC_VERSION);
	raw_ping(t, 1, IPC_VERSION);
	run_ms(t, 50);
	assert_int_equal(t->npings, 0);
	assert_int_equal(t->nerrors, 1);
	assert_string_equal(t->error, "invalid ping");
	tctx_free(t);
}

static void
test_bad_frames(void **state)
{
	struct tctx *t = tctx_new();

	(void)state;
	/* A length past IPC_FRAME_MAX is refused from the header alone. */
	assert_int_equal(write(t->fd, "\x7f\xff\xff\xff", 4), 4);
	run_ms(t, 50);
	assert_int_equal(t->nerrors, 1);
	assert_string_equal(t->error, "oversized or garbled frame");
	tctx_free(t);

	t = tctx_new();
	assert_int_equal(write(t->fd, "\x00\x00\x00\x03\xff\xff\xff", 7), 7);
	run_ms(t, 50);
	assert_int_equal(t->nerrors, 1);
	tctx_free(t);
}

static void
test_requests(void **state)
{
	struct tctx *t = tctx_new();
	uint64_t a, b, c;

	(void)state;
	a = peer_request(t, 5000);
	b = peer_request(t, 5000);
	assert_true(b != a);
	assert_int_equal(ipc_peer_pending(t->p), 2);
	/* Replies are matched by id, in any order; an unknown id (late or never asked) is dropped. */
	raw_reply(t, b, 1, 0);
	raw_reply(t, 12345, 1, 0);
	run_ms(t, 50);
	assert_int_equal(t->nreplies, 1);
	assert_int_equal(t->reply_ok, 1);
	assert_int_equal(ipc_peer_pending(t->p), 1);
	raw_reply(t, a, 0, 0);
	run_ms(t, 50);
	assert_int_equal(t->nreplies, 2);
	assert_int_equal(t->reply_ok, 0);
	assert_int_equal(t->nerrors, 0);
	assert_int_equal(ipc_peer_pending(t->p), 0);
	/* The wrong kind of reply for an id is a protocol error. */
	c = peer_request(t, 5000);
	raw_reply(t, c, 1, 1);
	run_ms(t, 50);
	assert_int_equal(t->nreplies, 2);
	assert_int_equal(t->nerrors, 1);
	assert_string_equal(t->error, "invalid result");
	tctx_free(t);

	/* A reply the callback finds invalid is one too. */
	t = tctx_new();
	t->reject_reply = 1;
	a = peer_request(t, 5000);
	raw_reply(t, a, 1, 0);
	run_ms(t, 50);
	assert_int_equal(t->nreplies, 1);
	assert_int_equal(t->nerrors, 1);
	assert_string_equal(t->error, "invalid store_ack");
	tctx_free(t);
}

/* With a handler for the reply's case, a reply to a tracked request still goes to that request; others to fn. */
static void
test_reply_to_handled_case(void **state)
{
	struct tctx *t = tctx_new_table(table2, sizeof(table2) / sizeof(table2[0]));
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Connect c = WAGATE__IPC__CONNECT__INIT;

	(void)state;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_CONNECT;
	env.connect = &c;
	c.number = (char *)"";
	assert_int_equal(ipc_peer_request(t->p, &env, WAGATE__IPC__ENVELOPE__MSG_RESULT, 5000, cb_reply, t), 0);
	raw_reply(t, 4242, 0, 1);		/* answers nothing we track: the handler's */
	raw_reply(t, env.request_id, 1, 1);	/* ours */
	run_ms(t, 50);
	assert_int_equal(t->nreplies, 1);
	assert_int_equal(t->reply_ok, 1);
	assert_int_equal(t->nresults, 1);
	assert_int_equal(ipc_peer_pending(t->p), 0);
	raw_reply(t, env.request_id, 1, 1);	/* a repeat: no longer tracked */
	run_ms(t, 50);
	assert_int_equal(t->nreplies, 1);
	assert_int_equal(t->nresults, 2);
	assert_int_equal(t->nerrors, 0);
	tctx_free(t);
}

static void
test_timeout_cancel_close(void **state)
{
	struct tctx *t = tctx_new();
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Logout lo = WAGATE__IPC__LOGOUT__INIT;
	unsigned char buf[256];
	uint64_t a;

	(void)state;
	a = peer_request(t, 30);
	run_ms(t, 100);
	assert_int_equal(t->ntimeouts, 1);
	assert_int_equal(ipc_peer_pending(t->p), 0);
	/* The late reply is dropped quietly. */
	raw_reply(t, a, 1, 0);
	run_ms(t, 50);
	assert_int_equal(t->nreplies, 0);
	assert_int_equal(t->nerrors, 0);
	/* Cancel: one callback saying so, and no timeout later. */
	peer_request(t, 30);
	ipc_peer_cancel(t->p);
	assert_int_equal(t->ncancelled, 1);
	run_ms(t, 100);
	assert_int_equal(t->ntimeouts, 1);
	/* A request without a callback is not tracked. */
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_LOGOUT;
	env.logout = &lo;
	assert_int_equal(ipc_peer_request(t->p, &env, 0, 0, NULL, NULL), 0);
	assert_int_equal(ipc_peer_pending(t->p), 0);
	/* EOF: pending requests are dropped, on_close once, sending fails. */
	peer_request(t, 5000);
	run_ms(t, 20);
	/* Everything read before the close, so the peer sees EOF rather than a reset. */
	while (recv(t->fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
	close(t->fd);
	t->fd = -1;
	run_ms(t, 50);
	assert_int_equal(t->ncloses, 1);
	assert_int_equal(t->close_error, 0);
	assert_int_equal(t->ncancelled, 2);
	assert_int_equal(ipc_peer_pending(t->p), 0);
	assert_int_equal(ipc_peer_send(t->p, &env), -1);
	assert_int_equal(t->ntimeouts, 1);
	tctx_free(t);

	/* Freeing the peer cancels what is still pending. */
	t = tctx_new();
	peer_request(t, 5000);
	ipc_peer_free(t->p);
	t->p = NULL;
	assert_int_equal(t->ncancelled, 1);
	tctx_free(t);
}

static void
test_drain(void **state)
{
	struct tctx *t = tctx_new();
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Logout lo = WAGATE__IPC__LOGOUT__INIT;
	unsigned char buf[64];

	(void)state;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_LOGOUT;
	env.logout = &lo;
	assert_int_equal(ipc_peer_send(t->p, &env), 0);
	ipc_peer_drain(t->p, cb_drained, t);
	/* Frames arriving now are not dispatched. */
	raw_ping(t, 1, IPC_VERSION);
	run_ms(t, 50);
	assert_int_equal(t->ndrained, 1);
	assert_int_equal(t->npings, 0);
	assert_true(read(t->fd, buf, sizeof(buf)) > IPC_HEADER_LEN);
	tctx_free(t);
}

/* Frames past what the socket holds, sent while the other end does not read: the end-of-turn flush writes
 * what the socket takes, the rest waits for writability, and every frame arrives whole and in order; a drain
 * then finishes. */
static void
test_backlog(void **state)
{
	enum { NPINGS = 100000 };
	struct tctx *t = tctx_new();
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT, *in;
	Wagate__Ipc__Ping ping = WAGATE__IPC__PING__INIT;
	static unsigned char buf[4 << 20];
	size_t len = 0, used;
	uint64_t next = 1;
	struct pollfd pfd;
	ssize_t n;
	int i;

	(void)state;
	pfd.fd = t->fd;
	pfd.events = POLLIN;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_PING;
	env.ping = &ping;
	for (i = 1; i <= NPINGS; i++) {
		ping.seq = (uint64_t)i;
		assert_int_equal(ipc_peer_send(t->p, &env), 0);
	}
	/* Nothing is written before the loop turns. */
	assert_int_equal(recv(t->fd, buf, sizeof(buf), MSG_DONTWAIT), -1);
	for (i = 0; i < 5000 && next <= NPINGS; i++) {
		event_base_loop(t->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		if ((n = recv(t->fd, buf + len, sizeof(buf) - len, MSG_DONTWAIT)) > 0)
			len += (size_t)n;
		while (len > 0 && ipc_frame_parse(buf, len, &used, &in) == IPC_OK) {
			assert_int_equal(in->msg_case, WAGATE__IPC__ENVELOPE__MSG_PING);
			assert_int_equal(in->ping->seq, next);
			next++;
			ipc_envelope_free(in);
			memmove(buf, buf + used, len - used);
			len -= used;
		}
		if (n <= 0)
			(void)poll(&pfd, 1, 10);	/* the next bytes, or another turn of the loop */
	}
	assert_int_equal(next, NPINGS + 1);
	assert_int_equal(len, 0);
	ipc_peer_drain(t->p, cb_drained, t);
	for (i = 0; i < 5000 && t->ndrained == 0; i++)
		event_base_loop(t->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_int_equal(t->ndrained, 1);
	assert_int_equal(t->nerrors, 0);
	tctx_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dispatch_and_version),
		cmocka_unit_test(test_unknown_and_phase),
		cmocka_unit_test(test_bad_frames),
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_reply_to_handled_case),
		cmocka_unit_test(test_timeout_cancel_close),
		cmocka_unit_test(test_drain),
		cmocka_unit_test(test_backlog),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
