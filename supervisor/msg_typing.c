/* A typing state shown in one chat for a while (msg_typing.h). */
#include "msg_typing.h"
#include "app.h"
#include "log.h"
#include "workers.h"
#include "xmalloc.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

struct msg_typing {
	struct app *app;
	char *instance_id;
	char *jid;
	char *state;
	int last;			/* state needs no paused after it (paused, or a global presence) */
	long long left_ms;		/* of the delay, after the slice under way */
	int pausing;			/* the last state (paused) is out: its Result ends it */
	int sending;			/* a state's Result is awaited (the worker holds t as its callback's arg) */
	int stopped;			/* msg_typing_stop_all ended it while sending: the Result frees it */
	struct event *timer;
	msg_typing_cb cb;
	void *arg;
	LIST_ENTRY(msg_typing) entry;	/* app->typings */
};

#define MSG_TYPING_STOPPED	"wagate is shutting down"

static void msg_typing_sent_cb(void *arg, int ok, int status, const char *error);

static void
msg_typing_free(struct msg_typing *t)
{
	LIST_REMOVE(t, entry);
	event_free(t->timer);
	free(t->instance_id);
	free(t->jid);
	free(t->state);
	free(t);
}

static void
msg_typing_finish(struct msg_typing *t, int ok, int status, const char *error)
{
	t->cb(t->arg, ok, status, error);
	msg_typing_free(t);
}

/* Send st; -1 when the worker is gone (restarting, or the instance deleted). */
static int
msg_typing_send(struct msg_typing *t, const char *st)
{
	int global = strcmp(st, "available") == 0 || strcmp(st, "unavailable") == 0;

	if (workers_set_presence(t->app->workers, t->instance_id, global ? NULL : t->jid, st, msg_typing_sent_cb,
	    t) == -1)
		return -1;
	t->sending = 1;
	return 0;
}

/* A slice is over: the state again, or the end. */
static void
msg_typing_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct msg_typing *t = arg;
	int rc;

	(void)fd;
	(void)what;
	if (t->left_ms > 0)
		rc = msg_typing_send(t, t->state);
	else if (t->last) {
		msg_typing_finish(t, 1, 0, NULL);
		return;
	} else {
		t->pausing = 1;
		rc = msg_typing_send(t, "paused");
	}
	if (rc == -1)
		msg_typing_finish(t, 0, 503, "Connection Closed");
}

/* The worker's Result for a state: wait out the next slice, or end. */
static void
msg_typing_sent_cb(void *arg, int ok, int status, const char *error)
{
	struct msg_typing *t = arg;
	long long slice;
	struct timeval tv;

	t->sending = 0;
	if (t->stopped) {	/* its caller was told already */
		msg_typing_free(t);
		return;
	}
	if (!ok || t->pausing) {
		msg_typing_finish(t, ok, status, error);
		return;
	}
	slice = t->left_ms < MSG_TYPING_SLICE_MS ? t->left_ms : MSG_TYPING_SLICE_MS;
	t->left_ms -= slice;
	tv.tv_sec = (time_t)(slice / 1000);
	tv.tv_usec = (suseconds_t)(slice % 1000) * 1000;
	evtimer_add(t->timer, &tv);
}

int
msg_typing_start(struct app *app, const char *instance_id, const char *jid, const char *state, long long delay_ms,
    msg_typing_cb cb, void *arg)
{
	struct msg_typing *t = xcalloc(1, sizeof(*t));

	t->app = app;
	t->instance_id = xstrdup(instance_id);
	t->jid = xstrdup(jid);
	t->state = xstrdup(state);
	t->last = strcmp(state, "paused") == 0 || strcmp(state, "available") == 0 || strcmp(state, "unavailable") == 0;
	t->left_ms = delay_ms > 0 ? delay_ms : 0;
	t->cb = cb;
	t->arg = arg;
	if ((t->timer = evtimer_new(app->base, msg_typing_timer_cb, t)) == NULL)
		fatalx("evtimer_new failed");
	LIST_INSERT_HEAD(&app->typings, t, entry);
	if (msg_typing_send(t, state) == -1) {
		msg_typing_free(t);
		return -1;
	}
	return 0;
}

void
msg_typing_stop_all(struct app *app)
{
	struct msg_typing *t, *next;

	for (t = LIST_FIRST(&app->typings); t != NULL; t = next) {
		next = LIST_NEXT(t, entry);
		if (t->stopped)
			continue;
		t->cb(t->arg, 0, 503, MSG_TYPING_STOPPED);
		if (t->sending) {
			t->stopped = 1;
			continue;
		}
		msg_typing_free(t);
	}
}
