/* Adoption (DESIGN.md "Workers outlive a supervisor restart"): before spawning an instance's worker, connect to
 * the socket an orphaned worker of that instance listens on ($RUNTIME_DIRECTORY/workers/<id>.sock), check the
 * peer (our uid, a pid), send Adopt and treat the Adopted answer as Ready plus the state the worker reports.
 * The process is not our child: its end is watched with a pidfd (or kill(pid, 0) from the sweep), and the
 * exit status it would have had is inferred (worker_reap_gone). A socket nobody listens on is removed, and
 * that instance is spawned as usual. */
#include "workers_int.h"
#include "conn_state.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#define WORKER_ADOPT_SUBDIR	"workers"
#define WORKER_ADOPT_SUFFIX	".sock"

/* The socket path of instance id under dir. 0, or -1 when it does not fit a sockaddr_un. */
static int
worker_adopt_path(const char *dir, const char *id, struct sockaddr_un *sun)
{
	int n;

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	n = snprintf(sun->sun_path, sizeof(sun->sun_path), "%s/%s/%s%s", dir, WORKER_ADOPT_SUBDIR, id,
	    WORKER_ADOPT_SUFFIX);
	return n > 0 && (size_t)n < sizeof(sun->sun_path) ? 0 : -1;
}

/* Connect to a worker's adoption socket and check who listens there. The fd (non-blocking) with the peer's
 * pid, or -1: *dead set when nobody listens (the file is stale), errno otherwise. */
static int
worker_adopt_connect(const struct sockaddr_un *sun, pid_t *pid, int *dead)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int fd;

	*dead = 0;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	/* A Unix stream connect completes at once when the listener has room in its backlog. */
	if (connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == -1) {
		*dead = errno == ECONNREFUSED || errno == ENOENT;
		close(fd);
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1 || len != sizeof(cred)) {
		close(fd);
		return -1;
	}
	/* Only a worker of our own user is taken over (and handed the instance's settings); the pid is the one
	 * that listened, and the one we watch and may kill, so never ours. */
	if (cred.uid != getuid() || cred.pid <= 0 || cred.pid == getpid()) {
		close(fd);
		errno = EPERM;
		return -1;
	}
	*pid = cred.pid;
	return fd;
}

/* The adopted process ended (its pidfd turned readable). */
static void
worker_adopt_pidfd_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker_rec *wk = arg;

	(void)fd;
	(void)what;
	if ((wk->phase & WK_ALIVE) && wk->adopted)
		worker_reap_gone(wk);
}

/* Watch pid's end with a pidfd (Linux 5.3); without one the sweep polls kill(pid, 0). */
static void
worker_adopt_watch(struct worker_rec *wk, pid_t pid)
{
#ifdef SYS_pidfd_open
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (fd == -1)
		return;
	if ((wk->pidfd_ev = event_new(wk->w->base, fd, EV_READ, worker_adopt_pidfd_cb, wk)) == NULL ||
	    event_add(wk->pidfd_ev, NULL) == -1) {
		if (wk->pidfd_ev != NULL)
			event_free(wk->pidfd_ev);
		wk->pidfd_ev = NULL;
		close(fd);
		return;
	}
	wk->pidfd = fd;
#else
	(void)wk;
	(void)pid;
#endif
}

void
worker_adopt_forget(struct worker_rec *wk)
{
	if (wk->pidfd_ev != NULL)
		event_free(wk->pidfd_ev);
	wk->pidfd_ev = NULL;
	if (wk->pidfd >= 0)
		close(wk->pidfd);
	wk->pidfd = -1;
	wk->adopted = 0;
}

int
worker_adopt_try(struct worker_rec *wk)
{
	struct workers *w = wk->w;
	struct sockaddr_un sun;
	struct stat st;
	pid_t pid = 0;
	int fd, dead;

	if (w->cfg.runtime_dir == NULL || worker_adopt_path(w->cfg.runtime_dir, wk->id, &sun) == -1 ||
	    lstat(sun.sun_path, &st) == -1)
		return -1;
	if ((fd = worker_adopt_connect(&sun, &pid, &dead)) == -1) {
		if (dead || errno == EPERM) {
			log_info("%s: removing the adoption socket %s (%s)", wk->name, sun.sun_path,
			    dead ? "nobody listens" : "another user's");
			(void)unlink(sun.sun_path);
		} else
			log_warn("%s: cannot connect to %s", wk->name, sun.sun_path);
		return -1;
	}
	wk->adopted = 1;
	workers_begin(wk, pid);
	worker_adopt_watch(wk, pid);
	if (worker_ipc_open(wk, fd) == -1) {
		close(fd);
		worker_reap_kill(wk, "IPC setup failed");
		return 0;
	}
	if (worker_ipc_send_adopt(wk) == -1) {
		worker_reap_kill(wk, "could not send Adopt");
		return 0;
	}
	workers_timer_ms(wk->timer, WORKERS_START_MIN_MS);
	log_debug("%s: adopting worker %d", wk->name, (int)pid);
	return 0;
}

/* Adopted: the worker is ours now. What Ready would do, then the state it has, as if we had seen it change. */
int
worker_adopt_on_adopted(void *arg, const IpcEnvelope *env)
{
	const Wagate__Ipc__Adopted *ad = env->adopted;
	struct worker_rec *wk = arg;
	struct workers *w = wk->w;
	struct workers_account acct;

	if (!wk->adopted || !conn_state_valid((int)ad->state) || !ipc_str_ok(ad->version, WORKERS_FIELD_MAX) ||
	    !ipc_str_ok(ad->detail, WORKERS_DETAIL_MAX) || !ipc_str_ok(ad->jid, WORKERS_FIELD_MAX) ||
	    !ipc_str_ok(ad->lid, WORKERS_FIELD_MAX) || !ipc_str_ok(ad->push_name, WORKERS_FIELD_MAX))
		return -1;
	/* The socket's peer and the process that answers must be the same one we watch and may kill. */
	if (ad->pid != wk->pid) {
		log_warnx("%s: adopted worker says pid %d, its socket says %d", wk->name, ad->pid, (int)wk->pid);
		return -1;
	}
	if (strcmp(ad->version, WAGATE_VERSION) != 0)
		log_warnx("%s: adopted worker version %s, supervisor %s", wk->name, ad->version, WAGATE_VERSION);
	log_info("%s: adopted worker %d (state %d)", wk->name, (int)wk->pid, (int)ad->state);
	workers_ready(wk);
	acct.jid = ad->jid;
	acct.lid = ad->lid;
	acct.push_name = ad->push_name;
	if (w->cbs.on_state != NULL)
		w->cbs.on_state(w->cbs.ctx, wk->id, (int)ad->state, ad->reason, ad->detail,
		    (int)ad->state == CONN_OPEN ? &acct : NULL);
	workers_ready_done(wk);
	return 0;
}

/* Ask the worker behind one stray socket to exit (one Shutdown frame; it answers nothing we wait for). */
static void
worker_adopt_stray(const char *path)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Shutdown sd = WAGATE__IPC__SHUTDOWN__INIT;
	unsigned char frame[64];
	struct sockaddr_un sun;
	pid_t pid;
	size_t n;
	int fd, dead;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path) >= sizeof(sun.sun_path))
		return;
	if ((fd = worker_adopt_connect(&sun, &pid, &dead)) != -1) {
		env.version = IPC_VERSION;
		env.request_id = 1;
		env.msg_case = WAGATE__IPC__ENVELOPE__MSG_SHUTDOWN;
		env.shutdown = &sd;
		/* A few bytes into an empty socket buffer: the write does not block. */
		if ((n = ipc_frame_pack(&env, frame, sizeof(frame))) == 0 || write(fd, frame, n) != (ssize_t)n)
			log_warn("could not ask worker %d (%s) to exit", (int)pid, path);
		else
			log_info("worker %d of a deleted instance (%s) asked to exit", (int)pid, path);
		close(fd);
	}
	(void)unlink(path);
}

void
workers_adopt_strays(struct workers *w)
{
	char dir[256], id[160], path[512];
	struct dirent *de;
	DIR *d;
	size_t n, sl = strlen(WORKER_ADOPT_SUFFIX);

	if (w->cfg.runtime_dir == NULL)
		return;
	snprintf(dir, sizeof(dir), "%s/%s", w->cfg.runtime_dir, WORKER_ADOPT_SUBDIR);
	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		n = strlen(de->d_name);
		if (n <= sl || n - sl >= sizeof(id) || strcmp(de->d_name + n - sl, WORKER_ADOPT_SUFFIX) != 0)
			continue;
		memcpy(id, de->d_name, n - sl);
		id[n - sl] = '\0';
		if (workers_find(w, id) != NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		worker_adopt_stray(path);
	}
	closedir(d);
}

void
workers_detach(struct workers *w)
{
	struct worker_rec *wk;

	w->shutting_down = 1;
	TAILQ_FOREACH(wk, &w->all, entry) {
		wk->pending_connect = 0;
		evtimer_del(wk->timer);
		if (wk->phase & WK_ALIVE) {
			/* Closing our end is the EOF that turns the worker into an orphan (or ends it, if it has
			 * nothing worth adopting). */
			log_debug("%s: leaving worker %d", wk->name, (int)wk->pid);
			worker_ipc_close(wk);
			worker_adopt_forget(wk);
			wk->pid = 0;
		}
		workers_set_phase(wk, WK_IDLE);
	}
}
