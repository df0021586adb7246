/* Adoption (DESIGN.md "Workers outlive a supervisor restart"): when Start named a runtime directory and the
 * supervisor goes away while the instance is paired and its connection is up or coming up, the worker keeps
 * the session, holds what it would have sent (the latest state; requests, bounded: worker_call.c), listens on
 * adopt.h's socket and waits for Adopt, or exits cleanly after the grace. Anything else still exits on EOF. */
#include "worker_int.h"
#include "adopt.h"
#include "conn_state.h"
#include "log.h"
#include "session.h"
#include "xmalloc.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* Close the adoption socket and remove its file (nothing once it is gone). */
void
worker_orphan_close(struct worker *w)
{
	if (w->ev_accept != NULL) {
		event_free(w->ev_accept);
		w->ev_accept = NULL;
	}
	if (w->lfd >= 0) {
		close(w->lfd);
		w->lfd = -1;
	}
	if (w->sock_path != NULL) {
		(void)unlink(w->sock_path);
		free(w->sock_path);
		w->sock_path = NULL;
	}
	if (w->ev_grace != NULL)
		evtimer_del(w->ev_grace);
	if (w->ev_watch != NULL)
		event_del(w->ev_watch);
}

/* Adopt: a new supervisor takes this orphan over. Apply its configuration, answer Adopted with what it
 * missed, and send it the requests that waited. */
int
worker_orphan_on_adopt(void *arg, const IpcEnvelope *env)
{
	struct worker *w = arg;
	IpcEnvelope reply = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Adopted ad = WAGATE__IPC__ADOPTED__INIT;
	struct worker_call *c;

	if (worker_take_config(w, env->adopt->start) == -1)
		return -1;
	ad.pid = (int32_t)getpid();
	ad.version = (char *)WAGATE_VERSION;
	ad.state = (Wagate__Ipc__ConnState)w->state;
	ad.reason = w->reason;
	ad.detail = w->detail != NULL ? w->detail : (char *)"";
	ad.jid = w->jid != NULL ? w->jid : (char *)"";
	ad.lid = w->lid != NULL ? w->lid : (char *)"";
	ad.push_name = w->push_name != NULL ? w->push_name : (char *)"";
	reply.request_id = env->request_id;
	reply.msg_case = WAGATE__IPC__ENVELOPE__MSG_ADOPTED;
	reply.adopted = &ad;
	w->phase = WORKER_PHASE_RUNNING;
	worker_send(w, &reply);
	worker_orphan_close(w);
	log_info("%s: adopted (state %d)", worker_label(w), w->state);
	/* Settings or proxy changed while we were orphaned apply as an update would. */
	if (w->session != NULL)
		worker_session_update(w->session);
	while ((c = TAILQ_FIRST(&w->held)) != NULL) {
		TAILQ_REMOVE(&w->held, c, entry);
		w->nheld--;
		w->held_bytes -= c->len;
		if (worker_call_send(w, c) == -1) {
			log_warnx("%s: could not send the held %s", worker_label(w), c->what);
			worker_call_fail(c, "could not be sent");
		}
	}
	return 0;
}

/* A supervisor connects to the adoption socket: take exactly one (our uid only), then wait for its Adopt. */
static void
worker_accept_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct ipc_peer *p;
	pid_t pid;
	int cfd;

	(void)fd;
	(void)what;
	if ((cfd = adopt_accept(w->lfd, &pid)) == -1) {
		if (errno == EPERM)
			log_warnx("%s: refused a connection from another user", worker_label(w));
		else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			log_warn("%s: accept", worker_label(w));
		return;
	}
	if ((p = worker_peer_new(w, cfd)) == NULL) {
		log_warnx("%s: cannot set up the adopting channel", worker_label(w));
		close(cfd);
		return;
	}
	/* The old channel ended long ago (its callbacks are over), so it can go now. */
	ipc_peer_free(w->ipc);
	w->ipc = p;
	event_del(w->ev_accept);
	log_debug("%s: supervisor %d connected", worker_label(w), (int)pid);
}

/* Nobody adopted us in time: exit cleanly (the next supervisor, if any, spawns a fresh worker). */
static void
worker_grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	log_info("%s: not adopted within %u s; exiting", worker_label(w), w->orphan_grace_s);
	worker_exit(w, IPC_EXIT_OK);
}

/* The socket file is gone: the runtime directory was removed (systemd removes RuntimeDirectory= on a full
 * stop, not on a restart) or someone cleaned up. Nobody can adopt us any more: exit now, not after the grace. */
static void
worker_watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct stat st;

	(void)fd;
	(void)what;
	if (w->phase != WORKER_PHASE_ORPHAN || w->sock_path == NULL)
		return;
	if (lstat(w->sock_path, &st) == -1 && errno == ENOENT) {
		log_info("%s: adoption socket removed; exiting", worker_label(w));
		free(w->sock_path);	/* not ours to unlink any more */
		w->sock_path = NULL;
		worker_exit(w, IPC_EXIT_OK);
	}
}

/* Whether this worker should wait to be adopted rather than exit on EOF: adoption is configured, the
 * instance is paired (it was open in this process) and its connection is up or coming up. A pairing in
 * progress has nothing worth keeping. */
int
worker_orphan_adoptable(const struct worker *w)
{
	return w->runtime_dir != NULL && w->phase == WORKER_PHASE_RUNNING && w->session != NULL && w->was_open &&
	    w->state != CONN_CLOSE;
}

/* Become an orphan: keep the session, listen on the adoption socket, arm the grace. 0 or -1. */
int
worker_orphan_begin(struct worker *w)
{
	char path[256], err[256];
	struct timeval grace = { (time_t)w->orphan_grace_s, 0 };
	struct timeval check = { WORKER_SOCK_CHECK_MS / 1000, (WORKER_SOCK_CHECK_MS % 1000) * 1000 };

	if (adopt_path(w->runtime_dir, w->instance_id, path, sizeof(path)) == -1) {
		log_warnx("%s: adoption socket path too long", worker_label(w));
		return -1;
	}
	if ((w->lfd = adopt_listen(w->runtime_dir, path, err, sizeof(err))) == -1) {
		log_warnx("%s: %s", worker_label(w), err);
		return -1;
	}
	w->sock_path = xstrdup(path);
	if ((w->ev_accept = event_new(w->base, w->lfd, EV_READ | EV_PERSIST, worker_accept_cb, w)) == NULL ||
	    (w->ev_grace == NULL && (w->ev_grace = evtimer_new(w->base, worker_grace_cb, w)) == NULL) ||
	    (w->ev_watch == NULL && (w->ev_watch = event_new(w->base, -1, EV_PERSIST, worker_watch_cb, w)) == NULL) ||
	    event_add(w->ev_accept, NULL) == -1 || event_add(w->ev_watch, &check) == -1) {
		log_warnx("%s: cannot watch the adoption socket", worker_label(w));
		worker_orphan_close(w);
		return -1;
	}
	evtimer_add(w->ev_grace, &grace);
	w->phase = WORKER_PHASE_ORPHAN;
	log_info("%s: supervisor gone; waiting %u s to be adopted on %s (%zu requests held)", worker_label(w),
	    w->orphan_grace_s, path, w->nheld);
	return 0;
}
