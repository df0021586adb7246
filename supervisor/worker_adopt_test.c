/* Real-process tests of adoption (worker_adopt.c): a forked fake orphan listening on its adoption socket is
 * adopted (Adopted = Ready + its state, heartbeats flow, Shutdown on remove), its death is seen without SIGCHLD
 * bookkeeping and a real worker is spawned instead; a stale socket file is removed and the instance spawned;
 * a stray socket's worker is told to exit; workers_detach leaves processes to themselves. */
#include "workers_testlib.h"
#include "workers_int.h"
#include "ipc.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

/* A fresh runtime directory with its workers/ subdirectory. */
static void
rundir_new(char *dir, size_t len)
{
	char sub[256];

	snprintf(dir, len, "/tmp/wad-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/workers", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
}

/* Remove what a test left in dir. */
static void
rundir_free(const char *dir)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void
sock_path(const char *dir, const char *id, char *out, size_t len)
{
	snprintf(out, len, "%s/workers/%s.sock", dir, id);
}

/* A listening socket at the instance's adoption path. */
static int
listen_at(const char *dir, const char *id)
{
	struct sockaddr_un sun;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	sock_path(dir, id, sun.sun_path, sizeof(sun.sun_path));
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(fd, 4), 0);
	return fd;
}

/* --- the fake orphan (a forked child; plain blocking I/O, exits with a code on anything unexpected) --- */

static void
orphan_send(int fd, IpcEnvelope *env)
{
	unsigned char out[4096];
	size_t n;

	env->version = IPC_VERSION;
	if ((n = ipc_frame_pack(env, out, sizeof(out))) == 0 || write(fd, out, n) != (ssize_t)n)
		_exit(21);
}

static IpcEnvelope *
orphan_read(int fd)
{
	unsigned char hdr[4], *buf;
	size_t len, got;
	ssize_t n;
	IpcEnvelope *env;

	for (got = 0; got < 4; got += (size_t)n)
		if ((n = read(fd, hdr + got, 4 - got)) <= 0)
			_exit(0);	/* the supervisor left */
	len = ipc_header_decode(hdr);
	if (len > 65536 || (buf = malloc(len + 1)) == NULL)
		_exit(22);
	for (got = 0; got < len; got += (size_t)n)
		if ((n = read(fd, buf + got, len - got)) <= 0)
			_exit(23);
	if ((env = ipc_envelope_unpack(buf, len)) == NULL)
		_exit(24);
	free(buf);
	return env;
}

/* Accept one supervisor, answer Adopt, Ping and Shutdown as a worker would. */
static void __attribute__((noreturn))
orphan_main(int lfd, const char *id, const char *dir)
{
	int fd = accept(lfd, NULL, NULL);

	if (fd == -1)
		_exit(25);
	close(lfd);
	for (;;) {
		IpcEnvelope *env = orphan_read(fd), out = WAGATE__IPC__ENVELOPE__INIT;
		Wagate__Ipc__Adopted ad = WAGATE__IPC__ADOPTED__INIT;
		Wagate__Ipc__Pong pong = WAGATE__IPC__PONG__INIT;
		Wagate__Ipc__Result res = WAGATE__IPC__RESULT__INIT;

		out.request_id = env->request_id;
		switch (env->msg_case) {
		case WAGATE__IPC__ENVELOPE__MSG_ADOPT:
			/* Adopt carries the Start-equivalent configuration, without credentials */
			if (env->adopt->start == NULL || strcmp(env->adopt->start->instance_id, id) != 0 ||
			    strcmp(env->adopt->start->runtime_dir, dir) != 0 || env->adopt->start->creds.len != 0 ||
			    env->adopt->start->settings == NULL || strcmp(env->adopt->start->settings->msg_call, "busy") != 0)
				_exit(26);
			ad.pid = (int32_t)getpid();
			ad.version = (char *)WAGATE_VERSION;
			ad.state = WAGATE__IPC__CONN_STATE__CONN_STATE_OPEN;
			ad.detail = (char *)"logged in";
			ad.jid = (char *)"15550001111:3@s.whatsapp.net";
			ad.push_name = (char *)"Orphan";
			out.msg_case = WAGATE__IPC__ENVELOPE__MSG_ADOPTED;
			out.adopted = &ad;
			orphan_send(fd, &out);
			break;
		case WAGATE__IPC__ENVELOPE__MSG_PING:
			pong.seq = env->ping->seq;
			pong.sent_us = env->ping->sent_us;
			out.msg_case = WAGATE__IPC__ENVELOPE__MSG_PONG;
			out.pong = &pong;
			orphan_send(fd, &out);
			break;
		case WAGATE__IPC__ENVELOPE__MSG_SHUTDOWN:
			res.ok = 1;
			res.error = (char *)"";
			out.msg_case = WAGATE__IPC__ENVELOPE__MSG_RESULT;
			out.result = &res;
			orphan_send(fd, &out);
			_exit(0);
		default:
			break;
		}
		ipc_envelope_free(env);
	}
}

/* A fake orphan of instance id listening in dir; its pid. The child listens itself (SO_PEERCRED names the
 * process that called listen) and says so through a pipe before we go on. */
static pid_t
orphan_start(const char *dir, const char *id)
{
	int p[2];
	char c;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int lfd = listen_at(dir, id);

		close(p[0]);
		if (write(p[1], "x", 1) != 1)
			_exit(27);
		close(p[1]);
		orphan_main(lfd, id, dir);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	return pid;
}

/* A table whose adoption directory is dir. */
static struct tctx *
adopt_tctx(const char *dir)
{
	struct tctx *t = tctx_new(real_worker(), 16, 100);

	t->w->cfg.runtime_dir = strdup(dir);	/* freed by workers_free */
	return t;
}

static int
gone(pid_t pid)
{
	return kill(pid, 0) == -1 && errno == ESRCH;
}

static void
test_adopt_then_remove(void **state)
{
	char dir[64];
	struct tctx *t;
	pid_t pid;

	(void)state;
	rundir_new(dir, sizeof(dir));
	t = adopt_tctx(dir);
	pid = orphan_start(dir, "inst-a");
	add(t, "inst-a", 1);
	assert_true(run_until(t, &t->nready, 1, 10000));
	assert_int_equal(t->ready_pid[0], pid);
	assert_int_equal(workers_pid(t->w, "inst-a"), pid);
	/* Adopted's state reached the lifecycle as a ConnectionUpdate would */
	assert_int_equal(t->nopen, 1);
	assert_string_equal(t->open_jid, "15550001111:3@s.whatsapp.net");
	assert_string_equal(t->open_push, "Orphan");
	/* heartbeats (every 100 ms, 3 misses) are answered: it stays */
	run_for(t, 600);
	assert_int_equal(workers_pid(t->w, "inst-a"), pid);
	assert_true(workers_ipc_latency_ms(t->w) > 0.0);
	assert_int_equal(t->nexit, 0);
	/* removed: Shutdown, and its end is seen */
	assert_int_equal(workers_remove(t->w, "inst-a"), 0);
	run_for(t, 500);
	assert_true(gone(pid));
	assert_int_equal(workers_pid(t->w, "inst-a"), 0);
	tctx_free(t);
	rundir_free(dir);
}

static void
test_adopted_dies_respawned(void **state)
{
	char dir[64];
	struct tctx *t;
	pid_t pid;

	(void)state;
	rundir_new(dir, sizeof(dir));
	t = adopt_tctx(dir);
	pid = orphan_start(dir, "inst-b");
	add(t, "inst-b", 0);
	assert_true(run_until(t, &t->nready, 1, 10000));
	assert_int_equal(t->ready_pid[0], pid);
	assert_int_equal(kill(pid, SIGKILL), 0);
	/* not our child as far as the table knows: the pidfd tells, then the usual restart spawns a real one */
	assert_true(run_until(t, &t->nready, 2, 10000));
	assert_int_equal(t->nexit, 1);
	assert_int_equal(t->exit_restart[0], 1);
	assert_true(t->ready_pid[1] != pid && t->ready_pid[1] > 0);
	assert_int_equal(workers_pid(t->w, "inst-b"), t->ready_pid[1]);
	assert_int_equal(workers_restarts(t->w, "inst-b"), 1);
	tctx_free(t);
	rundir_free(dir);
}

static void
test_stale_socket_spawns(void **state)
{
	char dir[64], path[128];
	struct tctx *t;
	struct stat st;

	(void)state;
	rundir_new(dir, sizeof(dir));
	t = adopt_tctx(dir);
	close(listen_at(dir, "inst-c"));	/* the file stays, nobody listens */
	sock_path(dir, "inst-c", path, sizeof(path));
	assert_int_equal(stat(path, &st), 0);
	add(t, "inst-c", 0);
	assert_true(run_until(t, &t->nready, 1, 10000));
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(workers_restarts(t->w, "inst-c"), 0);
	tctx_free(t);
	rundir_free(dir);
}

static void
test_strays_and_detach(void **state)
{
	char dir[64], path[128];
	struct tctx *t;
	struct stat st;
	pid_t stray, real;
	int i;

	(void)state;
	rundir_new(dir, sizeof(dir));
	t = adopt_tctx(dir);
	add(t, "inst-d", 0);
	assert_true(run_until(t, &t->nready, 1, 10000));
	real = t->ready_pid[0];
	stray = orphan_start(dir, "deleted-instance");
	workers_adopt_strays(t->w);
	sock_path(dir, "deleted-instance", path, sizeof(path));
	assert_int_equal(stat(path, &st), -1);
	for (i = 0; i < 50 && !gone(stray); i++)
		run_for(t, 50);	/* the table's SIGCHLD handler collects it (an unknown child to the table) */
	assert_true(gone(stray));
	assert_int_equal(workers_pid(t->w, "inst-d"), real);

	/* detach: no Shutdown, no kill; the EOF ends a worker with nothing worth adopting (never opened) */
	workers_detach(t->w);
	assert_int_equal(workers_pid(t->w, "inst-d"), 0);
	for (i = 0; i < 100 && !gone(real); i++)
		run_for(t, 50);	/* libevent closes a freed bufferevent's socket from the loop */
	assert_true(gone(real));
	tctx_free(t);
	rundir_free(dir);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_adopt_then_remove),
		cmocka_unit_test(test_adopted_dies_respawned),
		cmocka_unit_test(test_stale_socket_spawns),
		cmocka_unit_test(test_strays_and_detach),
	};

	return testlib_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
