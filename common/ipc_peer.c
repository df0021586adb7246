/* One end of the IPC channel for both processes: framing, version check, table dispatch by phase, and
 * tracking of our own requests (see ipc_peer.h). */
#include "ipc_peer.h"
#include "xmalloc.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/queue.h>

/* A request of ours waiting for its one reply. */
struct ipc_peer_req {
	TAILQ_ENTRY(ipc_peer_req) entry;
	struct ipc_peer *p;
	uint64_t id;
	int reply_case;
	struct event *timer;
	ipc_peer_reply_cb cb;
	void *arg;
};

TAILQ_HEAD(ipc_peer_req_list, ipc_peer_req);

struct ipc_peer {
	struct bufferevent *bev;
	struct ipc_peer_cbs cbs;
	struct event_base *base;
	uint64_t next_id;
	struct ipc_peer_req_list reqs;
	int stopped;			/* protocol error, ipc_peer_stop or drain: dispatch nothing more */
	int closed;			/* EOF or socket error seen */
	int draining;
	void (*drain_done)(void *arg);
	void *drain_arg;
	struct event *drain_ev;		/* fires drain_done on a fresh loop turn */
	struct event *flush_ev;		/* writes the frames queued this loop turn (ipc_peer_flush_cb) */
};

/* Unlink and free one request, then tell its owner how it ended (it may send new requests then). */
static int
ipc_peer_req_end(struct ipc_peer_req *r, enum ipc_peer_outcome how, const IpcEnvelope *reply)
{
	ipc_peer_reply_cb cb = r->cb;
	void *arg = r->arg;

	TAILQ_REMOVE(&r->p->reqs, r, entry);
	event_free(r->timer);
	free(r);
	return cb(arg, how, reply);
}

/* Report a protocol error once and stop reading. */
static void
ipc_peer_fail(struct ipc_peer *p, const char *what)
{
	if (p->stopped)
		return;
	ipc_peer_stop(p);
	if (p->cbs.on_error != NULL)
		p->cbs.on_error(p->cbs.arg, what);
}

/* A reply to one of our requests: matched by id; a late one (timed out already) is dropped. */
static int
ipc_peer_reply_in(struct ipc_peer *p, const IpcEnvelope *env)
{
	struct ipc_peer_req *r;

	TAILQ_FOREACH(r, &p->reqs, entry)
		if (r->id == env->request_id)
			break;
	if (r == NULL)
		return 0;
	if (r->reply_case != (int)env->msg_case)
		return -1;
	return ipc_peer_req_end(r, IPC_PEER_REPLIED, env);
}

/* Whether env answers one of our tracked requests (it then goes to that request, not to the table's fn). */
static int
ipc_peer_awaited(const struct ipc_peer *p, const IpcEnvelope *env)
{
	const struct ipc_peer_req *r;

	if (env->request_id == 0)
		return 0;
	TAILQ_FOREACH(r, &p->reqs, entry)
		if (r->id == env->request_id && r->reply_case == (int)env->msg_case)
			return 1;
	return 0;
}

/* Check one frame against the version and the table, then run its handler. */
static void
ipc_peer_dispatch(struct ipc_peer *p, const IpcEnvelope *env)
{
	const struct ipc_peer_dispatch *d = NULL;
	char what[96];
	size_t i;
	int rc;

	if (env->version != IPC_VERSION) {
		snprintf(what, sizeof(what), "IPC version %u, expected %u", env->version, IPC_VERSION);
		ipc_peer_fail(p, what);
		return;
	}
	for (i = 0; i < p->cbs.ntable; i++)
		if (p->cbs.table[i].msg_case == (int)env->msg_case)
			d = &p->cbs.table[i];
	if (d == NULL) {
		snprintf(what, sizeof(what), "unknown message %d", (int)env->msg_case);
		ipc_peer_fail(p, what);
		return;
	}
	if (!(d->phases & p->cbs.phase(p->cbs.arg))) {
		snprintf(what, sizeof(what), "%s not allowed now", ipc_msg_name((int)env->msg_case));
		ipc_peer_fail(p, what);
		return;
	}
	rc = d->fn != NULL && !ipc_peer_awaited(p, env) ? d->fn(p->cbs.arg, env) : ipc_peer_reply_in(p, env);
	if (rc == -1) {
		snprintf(what, sizeof(what), "invalid %s", ipc_msg_name((int)env->msg_case));
		ipc_peer_fail(p, what);
	}
}

/* Deliver every whole frame that has arrived, until the owner or an error stops us. */
static void
ipc_peer_read_cb(struct bufferevent *bev, void *arg)
{
	struct ipc_peer *p = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	IpcEnvelope *env;
	enum ipc_result r;

	while (!p->stopped && (r = ipc_read(in, &env)) != IPC_AGAIN) {
		if (r == IPC_ERROR) {
			ipc_peer_fail(p, "oversized or garbled frame");
			return;
		}
		ipc_peer_dispatch(p, env);
		ipc_envelope_free(env);
	}
}

/* Whether the bufferevent writes what a flush left behind (ipc_peer_flush_cb enabled its EV_WRITE). */
static int
ipc_peer_writing(const struct ipc_peer *p)
{
	return (bufferevent_get_enabled(p->bev) & EV_WRITE) != 0;
}

/* Output drained by the bufferevent (it writes only what a flush left behind): it stops watching for
 * writability; finish a pending drain. */
static void
ipc_peer_write_cb(struct bufferevent *bev, void *arg)
{
	struct ipc_peer *p = arg;

	bufferevent_disable(bev, EV_WRITE);
	if (p->draining)
		event_active(p->drain_ev, EV_TIMEOUT, 0);
}

/*
 * The end of the loop turn: the frames queued during it go in one write, straight to the socket. Only what the
 * socket does not take (or an error, which the bufferevent then meets and reports) makes the bufferevent watch
 * for writability. Left to the bufferevent, every frame cost an epoll_ctl to watch, a loop turn to learn the
 * socket was writable and an epoll_ctl to stop (bench/messages.sh, 50 pairs: ~2 epoll_ctl per write in each
 * worker; none now).
 */
static void
ipc_peer_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ipc_peer *p = arg;
	struct evbuffer *out = bufferevent_get_output(p->bev);
	int n;

	(void)fd;
	(void)what;
	if (p->closed || ipc_peer_writing(p) || evbuffer_get_length(out) == 0)
		return;
	/* A socket bufferevent keeps its output's front frozen except while it writes itself (evbuffer_write
	 * would fail): thawed for this write as it does. */
	evbuffer_unfreeze(out, 1);
	n = evbuffer_write(out, bufferevent_getfd(p->bev));
	evbuffer_freeze(out, 1);
	if (n < 0 || evbuffer_get_length(out) > 0)
		bufferevent_enable(p->bev, EV_WRITE);
	else if (p->draining)
		event_active(p->drain_ev, EV_TIMEOUT, 0);
}

/* A frame was queued: have it written at the end of the turn, unless the bufferevent writes (activating an
 * active event changes nothing: one flush per turn). */
static void
ipc_peer_queued(struct ipc_peer *p)
{
	if (!ipc_peer_writing(p))
		event_active(p->flush_ev, EV_TIMEOUT, 0);
}

/* EOF or socket error: report the end once (or finish a drain instead). */
static void
ipc_peer_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct ipc_peer *p = arg;

	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) || p->closed)
		return;
	p->closed = 1;
	p->stopped = 1;
	bufferevent_disable(bev, EV_READ | EV_WRITE);
	ipc_peer_cancel(p);
	if (p->draining)
		event_active(p->drain_ev, EV_TIMEOUT, 0);
	else if (p->cbs.on_close != NULL)
		p->cbs.on_close(p->cbs.arg, (what & BEV_EVENT_ERROR) ? -1 : 0);
}

/* Call the drain callback outside the bufferevent's own callbacks. */
static void
ipc_peer_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ipc_peer *p = arg;
	void (*done)(void *) = p->drain_done;

	(void)fd;
	(void)what;
	if (done == NULL)
		return;
	p->drain_done = NULL;
	done(p->drain_arg);
}

/* A request's reply did not come in time. */
static void
ipc_peer_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	ipc_peer_req_end(arg, IPC_PEER_TIMED_OUT, NULL);
}

struct ipc_peer *
ipc_peer_new(struct event_base *base, int fd, const struct ipc_peer_cbs *cbs)
{
	struct ipc_peer *p;

	if (cbs->phase == NULL || evutil_make_socket_nonblocking(fd) == -1)
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->cbs = *cbs;
	p->base = base;
	TAILQ_INIT(&p->reqs);
	if ((p->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		free(p);
		return NULL;
	}
	if ((p->drain_ev = event_new(base, -1, 0, ipc_peer_drain_cb, p)) == NULL ||
	    (p->flush_ev = event_new(base, -1, 0, ipc_peer_flush_cb, p)) == NULL) {
		if (p->drain_ev != NULL)
			event_free(p->drain_ev);
		bufferevent_free(p->bev);
		free(p);
		return NULL;
	}
	bufferevent_setcb(p->bev, ipc_peer_read_cb, ipc_peer_write_cb, ipc_peer_event_cb, p);
	/* Writing is enabled only while a flush left bytes behind (ipc_peer_flush_cb); a new bufferevent has it on. */
	bufferevent_disable(p->bev, EV_WRITE);
	bufferevent_enable(p->bev, EV_READ);
	return p;
}

void
ipc_peer_free(struct ipc_peer *p)
{
	if (p == NULL)
		return;
	ipc_peer_cancel(p);
	bufferevent_free(p->bev);
	event_free(p->drain_ev);
	event_free(p->flush_ev);
	free(p);
}

int
ipc_peer_send(struct ipc_peer *p, IpcEnvelope *env)
{
	if (p == NULL || p->closed || ipc_write(p->bev, env) == -1)
		return -1;
	ipc_peer_queued(p);
	return 0;
}

int
ipc_peer_request(struct ipc_peer *p, IpcEnvelope *env, int reply_case, int timeout_ms, ipc_peer_reply_cb cb,
    void *arg)
{
	struct ipc_peer_req *r;
	struct timeval tv;

	if (p == NULL || p->closed)
		return -1;
	env->request_id = ++p->next_id;
	if (cb == NULL)
		return ipc_peer_send(p, env);
	r = xcalloc(1, sizeof(*r));
	r->p = p;
	r->id = env->request_id;
	r->reply_case = reply_case;
	r->cb = cb;
	r->arg = arg;
	if ((r->timer = evtimer_new(p->base, ipc_peer_timeout_cb, r)) == NULL) {
		free(r);
		return -1;
	}
	if (ipc_peer_send(p, env) == -1) {
		event_free(r->timer);
		free(r);
		return -1;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(r->timer, &tv);
	TAILQ_INSERT_TAIL(&p->reqs, r, entry);
	return 0;
}

void
ipc_peer_cancel(struct ipc_peer *p)
{
	while (!TAILQ_EMPTY(&p->reqs))
		ipc_peer_req_end(TAILQ_FIRST(&p->reqs), IPC_PEER_CANCELLED, NULL);
}

size_t
ipc_peer_pending(const struct ipc_peer *p)
{
	const struct ipc_peer_req *r;
	size_t n = 0;

	TAILQ_FOREACH(r, &p->reqs, entry)
		n++;
	return n;
}

void
ipc_peer_stop(struct ipc_peer *p)
{
	p->stopped = 1;
	bufferevent_disable(p->bev, EV_READ);
}

void
ipc_peer_drain(struct ipc_peer *p, void (*done)(void *arg), void *arg)
{
	p->draining = 1;
	p->stopped = 1;
	p->drain_done = done;
	p->drain_arg = arg;
	bufferevent_disable(p->bev, EV_READ);
	if (p->closed || evbuffer_get_length(bufferevent_get_output(p->bev)) == 0)
		event_active(p->drain_ev, EV_TIMEOUT, 0);
}
