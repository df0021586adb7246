/* The end of a worker process: asking it to stop (Shutdown, then SIGKILL after a grace), killing it, reaping
 * it on SIGCHLD with a periodic sweep as backstop (STYLE rule 12), telling why it ended, and the restart
 * policy (STYLE rule 13): no restart after IPC_EXIT_NO_RESTART, otherwise backoff_ms over the quick failures
 * in a row, reset after stable_ms of uptime or by workers_restart. */
#include "workers_int.h"
#include "backoff.h"
#include "conn_state.h"
#include "ipc_peer.h"
#include "log.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>

/* The record whose process has this pid. */
static struct worker_rec *
worker_reap_find_pid(const struct workers *w, pid_t pid)
{
	struct worker_rec *wk;

	TAILQ_FOREACH(wk, &w->all, entry)
		if (wk->pid == pid && (wk->phase & WK_ALIVE) && !wk->adopted)
			return wk;
	return NULL;
}

/* SIGKILL a live worker and wait for the reaper; reason goes into the close detail. */
void
worker_reap_kill(struct worker_rec *wk, const char *reason)
{
	if (!(wk->phase & WK_ALIVE) || wk->pid <= 0)
		return;
	if (reason != NULL && wk->kill_reason[0] == '\0')
		snprintf(wk->kill_reason, sizeof(wk->kill_reason), "%s", reason);
	kill(wk->pid, SIGKILL);
	/* Stop listening now; the peer is freed by the reaper, never inside its own callback. */
	if (wk->peer != NULL)
		ipc_peer_stop(wk->peer);
	evtimer_del(wk->timer);
	workers_set_phase(wk, WK_STOPPING);
}

/* Ask a live worker to stop; SIGKILL if it is still there after the grace. */
void
worker_reap_stop(struct worker_rec *wk)
{
	if (!(wk->phase & WK_ALIVE))
		return;
	if (wk->phase != WK_STOPPING) {
		if (worker_ipc_send_empty(wk, WAGATE__IPC__ENVELOPE__MSG_SHUTDOWN) == -1) {
			worker_reap_kill(wk, "stopped");
			return;
		}
		wk->stop_sent = 1;
		workers_set_phase(wk, WK_STOPPING);
		workers_timer_ms(wk->timer, WORKERS_GRACE_MS);
	}
}

/* Start the back-off clock for the next attempt. */
void
worker_reap_schedule_restart(struct worker_rec *wk)
{
	struct workers *w = wk->w;
	unsigned delay = backoff_ms(wk->fails, (unsigned)w->cfg.backoff_min_ms, (unsigned)w->cfg.backoff_max_ms);

	wk->fails++;
	workers_set_phase(wk, WK_BACKOFF);
	workers_timer_ms(wk->timer, (int)delay);
	log_debug("%s: restart in %u ms", wk->name, delay);
}

/* Why a process ended, in words for on_state and the log. */
static void
worker_reap_describe(const struct worker_rec *wk, int status, char *detail, size_t len)
{
	const char *sep = wk->kill_reason[0] ? ": " : "";

	if (WIFSIGNALED(status))
		snprintf(detail, len, "worker killed by signal %d%s%s", WTERMSIG(status), sep, wk->kill_reason);
	else if (WEXITSTATUS(status) == IPC_EXIT_NO_RESTART)
		snprintf(detail, len, "logged out");
	else if (WEXITSTATUS(status) == IPC_EXIT_EXEC_FAILED)
		snprintf(detail, len, "worker could not be started (exit %d)", IPC_EXIT_EXEC_FAILED);
	else if (WEXITSTATUS(status) == IPC_EXIT_RLIMIT_FAILED)
		snprintf(detail, len, "worker could not be started: resource limits refused (exit %d)",
		    IPC_EXIT_RLIMIT_FAILED);
	else
		snprintf(detail, len, "worker exited with code %d%s%s", WEXITSTATUS(status), sep, wk->kill_reason);
}

/* A worker process is gone: report it and apply the restart policy (STYLE rule 13). */
void
worker_reap_exited(struct worker_rec *wk, int status)
{
	struct workers *w = wk->w;
	char detail[256];
	int will_restart, uptime_ok;
	int no_restart = WIFEXITED(status) && WEXITSTATUS(status) == IPC_EXIT_NO_RESTART;
	int reason = no_restart ? REASON_LOGGED_OUT :
	    wk->protocol_error ? REASON_PROTOCOL_ERROR : REASON_WORKER_CRASHED;

	worker_reap_describe(wk, status, detail, sizeof(detail));
	worker_adopt_forget(wk);
	worker_ipc_close(wk);
	evtimer_del(wk->timer);
	wk->pid = 0;
	wk->ping_outstanding = 0;
	uptime_ok = workers_now_ms() - wk->started_ms >= w->cfg.stable_ms;
	workers_set_phase(wk, WK_IDLE);

	if (wk->removed) {
		wk->dead = 1;
		event_active(w->gc, EV_TIMEOUT, 0);
		workers_check_done(w);
		return;
	}
	if (w->shutting_down) {
		workers_check_done(w);
		return;
	}
	will_restart = !no_restart;
	if (uptime_ok || wk->restart_now)
		wk->fails = 0;
	if (will_restart)
		wk->restarts++;
	if (WIFEXITED(status) && WEXITSTATUS(status) == IPC_EXIT_RLIMIT_FAILED)
		/* A configuration problem (WORKER_RLIMIT_*), not a crash: every restart will fail the same way. */
		log_warnx("%s: %s; check WAGATE_WORKER_RLIMIT_AS_MB and WAGATE_WORKER_RLIMIT_NOFILE%s", wk->name, detail,
		    will_restart ? "; restarting" : "");
	else if (no_restart || WEXITSTATUS(status) != 0 || WIFSIGNALED(status))
		log_info("%s: %s%s", wk->name, detail, will_restart ? "; restarting" : "");
	if (!will_restart)
		;	/* stays idle until workers_connect or workers_restart */
	else if (wk->restart_now)
		workers_enqueue(wk);
	else
		worker_reap_schedule_restart(wk);
	wk->restart_now = 0;
	if (w->cbs.on_exit != NULL)
		w->cbs.on_exit(w->cbs.ctx, wk->id, status, will_restart);
	if (w->cbs.on_state != NULL && !wk->removed)
		w->cbs.on_state(w->cbs.ctx, wk->id, CONN_CLOSE, reason, detail, NULL);
}

/* An adopted worker ended. It is not our child, so there is no status to read: the one it would have had
 * is inferred from what we know (killed by us, logged out, asked to stop), else it counts as a crash. */
void
worker_reap_gone(struct worker_rec *wk)
{
	int status;

	if (wk->kill_reason[0] != '\0')
		status = SIGKILL;				/* as WIFSIGNALED(SIGKILL) */
	else if (wk->logged_out)
		status = IPC_EXIT_NO_RESTART << 8;		/* as WEXITSTATUS == 3 */
	else if (wk->stop_sent)
		status = 0;
	else {
		status = 1 << 8;
		snprintf(wk->kill_reason, sizeof(wk->kill_reason), "adopted worker ended without a status");
	}
	worker_reap_exited(wk, status);
}

/* Reap every exited child (signals merge, so one SIGCHLD may stand for several). */
void
worker_reap_sigchld_cb(evutil_socket_t sig, short what, void *arg)
{
	struct workers *w = arg;
	struct worker_rec *wk;
	pid_t pid;
	int status;

	(void)sig;
	(void)what;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if ((wk = worker_reap_find_pid(w, pid)) != NULL)
			worker_reap_exited(wk, status);
		else
			log_debug("reaped unknown child %d", (int)pid);
	}
}

/* Backstop: look at each live worker in case a SIGCHLD was missed. */
void
worker_reap_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct workers *w = arg;
	struct worker_rec *wk, *next;
	int status;

	(void)fd;
	(void)what;
	for (wk = TAILQ_FIRST(&w->all); wk != NULL; wk = next) {
		next = TAILQ_NEXT(wk, entry);
		if (!(wk->phase & WK_ALIVE) || wk->pid <= 0)
			continue;
		if (wk->adopted) {
			/* Without a pidfd (old kernel) this is how an adopted worker's end is seen. */
			if (wk->pidfd == -1 && kill(wk->pid, 0) == -1 && errno == ESRCH)
				worker_reap_gone(wk);
		} else if (waitpid(wk->pid, &status, WNOHANG) == wk->pid)
			worker_reap_exited(wk, status);
	}
	workers_pump(w);
}

