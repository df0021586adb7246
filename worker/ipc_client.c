/* The worker's end of the IPC socket. */
#include "ipc_client.h"
#include "xmalloc.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdlib.h>
#include <unistd.h>

struct ipc_client {
	struct bufferevent *bev;
	struct ipc_client_cbs cbs;
	int closed;			/* on_close was called: deliver nothing more */
	int draining;
	void (*drain_done)(void *arg);
	void *drain_arg;
	struct event *drain_ev;		/* fires drain_done on a fresh loop turn */
};

/* Report the end of the channel once. */
static void
ipc_client_close(struct ipc_client *c, int error)
{
	if (c->closed)
		return;
	c->closed = 1;
	bufferevent_disable(c->bev, EV_READ);
	if (c->draining)
		event_active(c->drain_ev, EV_TIMEOUT, 0);
	else if (c->cbs.on_close != NULL)
		c->cbs.on_close(c->cbs.arg, error);
}

/* Deliver every whole frame that has arrived; a bad frame ends the channel. */
static void
ipc_client_read_cb(struct bufferevent *bev, void *arg)
{
	struct ipc_client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	IpcEnvelope *env;
	enum ipc_result r;

	while (!c->closed && !c->draining && (r = ipc_read(in, &env)) != IPC_AGAIN) {
		if (r == IPC_ERROR) {
			ipc_client_close(c, -1);
			return;
		}
		c->cbs.on_msg(c->cbs.arg, env);
		ipc_envelope_free(env);
	}
}

/* Output drained: finish a pending drain. */
static void
ipc_client_write_cb(struct bufferevent *bev, void *arg)
{
	struct ipc_client *c = arg;

	(void)bev;
	if (c->draining)
		event_active(c->drain_ev, EV_TIMEOUT, 0);
}

/* EOF or socket error. */
static void
ipc_client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct ipc_client *c = arg;

	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		ipc_client_close(c, (what & BEV_EVENT_ERROR) ? -1 : 0);
}

/* Call the drain callback outside the bufferevent's own callbacks. */
static void
ipc_client_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ipc_client *c = arg;
	void (*done)(void *) = c->drain_done;

	(void)fd;
	(void)what;
	if (done == NULL)
		return;
	c->drain_done = NULL;
	done(c->drain_arg);
}

struct ipc_client *
ipc_client_new(struct event_base *base, int fd, const struct ipc_client_cbs *cbs)
{
	struct ipc_client *c;

	if (evutil_make_socket_nonblocking(fd) == -1)
		return NULL;
	c = xcalloc(1, sizeof(*c));
	c->cbs = *cbs;
	if ((c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		free(c);
		return NULL;
	}
	if ((c->drain_ev = event_new(base, -1, 0, ipc_client_drain_cb, c)) == NULL) {
		bufferevent_free(c->bev);
		free(c);
		return NULL;
	}
	bufferevent_setcb(c->bev, ipc_client_read_cb, ipc_client_write_cb, ipc_client_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	return c;
}

void
ipc_client_free(struct ipc_client *c)
{
	if (c == NULL)
		return;
	bufferevent_free(c->bev);
	event_free(c->drain_ev);
	free(c);
}

int
ipc_client_send(struct ipc_client *c, IpcEnvelope *env)
{
	if (c->closed)
		return -1;
	return ipc_write(c->bev, env);
}

void
ipc_client_drain(struct ipc_client *c, void (*done)(void *arg), void *arg)
{
	c->draining = 1;
	c->drain_done = done;
	c->drain_arg = arg;
	bufferevent_disable(c->bev, EV_READ);
	if (c->closed || evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		event_active(c->drain_ev, EV_TIMEOUT, 0);
}
