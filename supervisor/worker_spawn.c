/* Spawning one worker (STYLE rule 11): socketpair with close-on-exec, all signals blocked around fork (tmux
 * job.c), and in the child default signal dispositions, its own session, the socket on fd 3, every other
 * fd closed, resource limits, a scrubbed environment, exec. Then the channel and Start. */
#include "workers_int.h"
#include "log.h"
#include "xmalloc.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* glibc's malloc settings for a worker: no per-thread cache. An idle worker's heap is mostly freed memory that
 * malloc_trim gives back, except pages holding a chunk parked in the tcache (up to 7 per size class, scattered
 * by the bursts of a login): with the cache a trimmed worker keeps ~500 KB of heap, without it ~80 KB
 * (bench/worker_mem.sh). A worker is single-threaded and mostly idle, so the cache buys nothing. The
 * operator's own GLIBC_TUNABLES are kept, with this added unless they set the cache themselves. */
static char *
worker_spawn_tunables(void)
{
	const char *v = getenv("GLIBC_TUNABLES");
	char *s;

	if (v == NULL || *v == '\0')
		return xstrdup("GLIBC_TUNABLES=glibc.malloc.tcache_count=0");
	if (strstr(v, "glibc.malloc.tcache_count=") != NULL)
		xasprintf(&s, "GLIBC_TUNABLES=%s", v);
	else
		xasprintf(&s, "GLIBC_TUNABLES=%s:glibc.malloc.tcache_count=0", v);
	return s;
}

/* The environment a worker gets: only harmless variables (no secrets, no database URL), and the malloc
 * settings above. */
static char **
worker_spawn_env(void)
{
	static const char *keep[] = { "PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR",
	    "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS" };
	size_t i, n = 0;
	char **env = xcalloc(sizeof(keep) / sizeof(keep[0]) + 2, sizeof(char *));

	for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		const char *v = getenv(keep[i]);
		if (v != NULL)
			xasprintf(&env[n++], "%s=%s", keep[i], v);
	}
	if (getenv("PATH") == NULL)
		env[n++] = xstrdup("PATH=/usr/local/bin:/usr/bin:/bin");
	env[n++] = worker_spawn_tunables();
	return env;
}

/* Free what worker_spawn_env made. */
static void
worker_spawn_env_free(char **env)
{
	size_t i;

	for (i = 0; env[i] != NULL; i++)
		free(env[i]);
	free(env);
}

/* In the forked child: only async-signal-safe calls from here to exec. Signals are still all blocked. */
static void __attribute__((noreturn))
worker_spawn_child(const struct workers *w, int fd, char *const argv[], char *const envp[])
{
	struct sigaction dfl;
	sigset_t none;
	struct rlimit rl;
	long fdmax;
	int i;

	/* Whatever the supervisor (or libevent for it) handles or ignores, the worker starts from the defaults;
	 * only then may signals arrive again. */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	for (i = 1; i < NSIG; i++)
		if (i != SIGKILL && i != SIGSTOP)
			(void)sigaction(i, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Its own session: a terminal's ^C reaches the supervisor only, which then stops workers in order. */
	setsid();
	if (fd == IPC_FD) {
		if (fcntl(fd, F_SETFD, 0) == -1)
			_exit(IPC_EXIT_EXEC_FAILED);
	} else if (dup2(fd, IPC_FD) == -1)
		_exit(IPC_EXIT_EXEC_FAILED);
#ifdef SYS_close_range
	if (syscall(SYS_close_range, IPC_FD + 1, ~0U, 0) == -1)
#endif
	{
		fdmax = sysconf(_SC_OPEN_MAX);
		if (fdmax < 0 || fdmax > 65536)
			fdmax = 65536;
		for (i = IPC_FD + 1; i < fdmax; i++)
			close(i);
	}
	if (w->cfg.rlimit_as_mb > 0) {
		rl.rlim_cur = rl.rlim_max = (rlim_t)w->cfg.rlimit_as_mb * 1024 * 1024;
		if (setrlimit(RLIMIT_AS, &rl) == -1)
			_exit(IPC_EXIT_RLIMIT_FAILED);
	}
	if (w->cfg.rlimit_nofile > 0) {
		rl.rlim_cur = rl.rlim_max = (rlim_t)w->cfg.rlimit_nofile;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			_exit(IPC_EXIT_RLIMIT_FAILED);
	}
	execve(w->cfg.worker_path, argv, envp);
	_exit(IPC_EXIT_EXEC_FAILED);
}

/* fork+exec one worker with its socket on fd 3, then open the channel and send Start. */
int
worker_spawn(struct worker_rec *wk)
{
	struct workers *w = wk->w;
	char *argv[3] = { (char *)"wagate-worker", wk->id, NULL };
	char **envp;
	sigset_t all, old;
	int sv[2], saved;
	int64_t limit;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("%s: socketpair", wk->name);
		return -1;
	}
	envp = worker_spawn_env();
	/* No handler may run in the child between fork and exec (it would act on the supervisor's state, or
	 * libevent's signal pipe), so everything stays blocked until the child has reset the dispositions. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid == 0)
		worker_spawn_child(w, sv[1], argv, envp);
	saved = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	if (pid == -1) {
		log_warn("%s: fork", wk->name);
		close(sv[0]);
		close(sv[1]);
		worker_spawn_env_free(envp);
		return -1;
	}
	close(sv[1]);
	worker_spawn_env_free(envp);
	workers_begin(wk, pid);
	if (worker_ipc_open(wk, sv[0]) == -1) {
		close(sv[0]);
		worker_reap_kill(wk, "IPC setup failed");
		return 0;
	}
	if (worker_ipc_send_start(wk) == -1) {
		worker_reap_kill(wk, "could not send Start");
		return 0;
	}
	limit = (int64_t)w->cfg.heartbeat_interval_ms * (w->cfg.heartbeat_misses + 1);
	workers_timer_ms(wk->timer, (int)(limit > WORKERS_START_MIN_MS ? limit : WORKERS_START_MIN_MS));
	log_debug("%s: worker %d spawned", wk->name, (int)pid);
	return 0;
}
