#include "proxy_check.h"
#include "xmalloc.h"

#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct proxy_check {
	struct bufferevent *bev;
	struct event *timer;
	proxy_check_cb cb;
	void *arg;
	int ok;
	int finished;
	char reason[128];
};

/* Finish on the next loop turn: never free a bufferevent from inside its own callback. */
static void
proxy_check_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proxy_check *pc = arg;

	(void)fd;
	(void)what;
	if (pc->bev != NULL)
		bufferevent_free(pc->bev);
	event_free(pc->timer);
	pc->cb(pc->arg, pc->ok, pc->reason);
	free(pc);
}

static void
proxy_check_finish(struct proxy_check *pc, int ok, const char *reason)
{
	struct timeval now = { 0, 0 };

	if (pc->finished)
		return;
	pc->finished = 1;
	if (pc->bev != NULL)
		bufferevent_disable(pc->bev, EV_READ | EV_WRITE);
	pc->ok = ok;
	strncpy(pc->reason, reason, sizeof(pc->reason) - 1);
	event_del(pc->timer);
	event_assign(pc->timer, event_get_base(pc->timer), -1, 0, proxy_check_done_cb, pc);
	event_add(pc->timer, &now);
}

static void
proxy_check_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct proxy_check *pc = arg;

	(void)bev;
	bufferevent_setcb(pc->bev, NULL, NULL, NULL, NULL);
	if (what & BEV_EVENT_CONNECTED)
		proxy_check_finish(pc, 1, "reachable");
	else if (bufferevent_socket_get_dns_error(pc->bev) != 0)
		proxy_check_finish(pc, 0, evutil_gai_strerror(bufferevent_socket_get_dns_error(pc->bev)));
	else
		proxy_check_finish(pc, 0, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

static void
proxy_check_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	bufferevent_setcb(((struct proxy_check *)arg)->bev, NULL, NULL, NULL, NULL);
	proxy_check_finish(arg, 0, "connection timed out");
}

int
proxy_check_start(struct event_base *base, struct evdns_base *dns, const char *host, const char *port,
    int timeout_ms, proxy_check_cb cb, void *arg)
{
	struct proxy_check *pc;
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	long p = strtol(port, NULL, 10);

	if (p < 1 || p > 65535 || cb == NULL)
		return -1;
	pc = xcalloc(1, sizeof(*pc));
	pc->cb = cb;
	pc->arg = arg;
	pc->timer = evtimer_new(base, proxy_check_timeout_cb, pc);
	pc->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(pc->bev, NULL, NULL, proxy_check_event_cb, pc);
	evtimer_add(pc->timer, &tv);
	/* A synchronous failure (e.g. no such address family) still reports through the callback. */
	if (bufferevent_socket_connect_hostname(pc->bev, dns, AF_UNSPEC, host, (int)p) != 0)
		proxy_check_finish(pc, 0, "connect failed");
	return 0;
}
