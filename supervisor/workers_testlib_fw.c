/* The fake worker a test plays itself (workers_testlib.h "struct fw"): the spawned (or orphaned) process only
 * passes its end of the channel to the test process over a Unix socket (SCM_RIGHTS) and waits to be killed, so
 * the table talks to a real process it forked or adopted, while the test reads every frame the table sends
 * and writes the worker's frames, valid or not. */
#include "workers_testlib.h"
#include "workers_int.h"
#include "ipc.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

/* The handoff socket of test process pid. */
static void
fw_path(pid_t pid, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	snprintf(sun->sun_path, sizeof(sun->sun_path), "/tmp/wagate-fw.%d.sock", (int)pid);
}

/* Pass fd over the connected socket s. */
static int
fw_pass_fd(int s, int fd)
{
	char byte = 'f', ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &byte, 1 };
	struct msghdr mh;
	struct cmsghdr *c;

	memset(&mh, 0, sizeof(mh));
	memset(ctl, 0, sizeof(ctl));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl;
	mh.msg_controllen = sizeof(ctl);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(s, &mh, 0) == 1 ? 0 : -1;
}

/* In the worker process: hand fd to the test process (our parent) and wait to be killed. */
static void __attribute__((noreturn))
fw_hand_over(int fd)
{
	struct sockaddr_un sun;
	pid_t parent = getppid();
	int s = socket(AF_UNIX, SOCK_STREAM, 0);

	/* A test that fails half-way leaves its table unfreed: go with the test process, not linger. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent)
		_exit(33);
	fw_path(parent, &sun);
	if (s == -1 || connect(s, (struct sockaddr *)&sun, sizeof(sun)) == -1 || fw_pass_fd(s, fd) == -1)
		_exit(30);
	close(s);
	close(fd);
	for (;;)
		pause();
}

int
fw_hand_main(void)
{
	fw_hand_over(IPC_FD);
}

int
fw_listen(void)
{
	struct sockaddr_un sun;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	fw_path(getpid(), &sun);
	unlink(sun.sun_path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(fd, 16), 0);
	return fd;
}

void
fw_unlisten(int lfd)
{
	struct sockaddr_un sun;

	fw_path(getpid(), &sun);
	unlink(sun.sun_path);
	close(lfd);
}

int
fw_accept(struct tctx *t, int lfd, struct fw *f, int timeout_ms)
{
	long long end = now_ms() + timeout_ms;
	struct pollfd pfd = { lfd, POLLIN, 0 };
	char byte, ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &byte, 1 };
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	struct msghdr mh;
	struct cmsghdr *c;
	int s, n;

	memset(f, 0, sizeof(*f));
	f->fd = -1;
	/* The loop runs meanwhile: a restart is the table's timer. The process's connect completes in our
	 * backlog on its own. */
	while ((n = poll(&pfd, 1, 0)) != 1 && now_ms() < end)
		run_for(t, 5);
	if (n != 1 || (s = accept(lfd, NULL, NULL)) == -1)
		return 0;
	assert_int_equal(getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &clen), 0);
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl;
	mh.msg_controllen = sizeof(ctl);
	assert_int_equal(recvmsg(s, &mh, 0), 1);
	close(s);
	c = CMSG_FIRSTHDR(&mh);
	assert_non_null(c);
	assert_int_equal(c->cmsg_type, SCM_RIGHTS);
	memcpy(&f->fd, CMSG_DATA(c), sizeof(int));
	f->pid = cred.pid;
	assert_int_equal(fcntl(f->fd, F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(fcntl(f->fd, F_SETFD, FD_CLOEXEC), 0);
	return 1;
}

void
fw_close(struct fw *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	free(f->buf);
	f->buf = NULL;
	f->len = f->cap = 0;
}

void
fw_send(struct tctx *t, struct fw *f, IpcEnvelope *env)
{
	size_t n, off = 0;
	unsigned char *out;
	ssize_t w;

	env->version = IPC_VERSION;
	n = ipc_frame_size(env);
	assert_true(n > 0);
	out = malloc(n);
	assert_non_null(out);
	assert_int_equal(ipc_frame_pack(env, out, n), n);
	while (off < n) {
		if ((w = write(f->fd, out + off, n - off)) > 0)
			off += (size_t)w;
		else if (w == -1 && (errno == EAGAIN || errno == EINTR))
			run_for(t, 2);	/* the table reads while we wait */
		else
			break;		/* the table hung up (a test may expect that) */
	}
	free(out);
}

/* Take one whole frame off f->buf, if there is one. */
static IpcEnvelope *
fw_take(struct fw *f)
{
	IpcEnvelope *env;
	size_t plen;

	if (f->len < IPC_HEADER_LEN)
		return NULL;
	plen = ipc_header_decode(f->buf);
	assert_true(plen <= IPC_FRAME_MAX);
	if (f->len < IPC_HEADER_LEN + plen)
		return NULL;
	env = ipc_envelope_unpack(f->buf + IPC_HEADER_LEN, plen);
	assert_non_null(env);
	memmove(f->buf, f->buf + IPC_HEADER_LEN + plen, f->len - IPC_HEADER_LEN - plen);
	f->len -= IPC_HEADER_LEN + plen;
	return env;
}

/* Answer a Ping as a live worker does. */
static void
fw_pong(struct tctx *t, struct fw *f, const IpcEnvelope *ping)
{
	IpcEnvelope out = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Pong pong = WAGATE__IPC__PONG__INIT;

	pong.seq = ping->ping->seq;
	pong.sent_us = ping->ping->sent_us;
	out.msg_case = WAGATE__IPC__ENVELOPE__MSG_PONG;
	out.pong = &pong;
	out.request_id = ping->request_id;
	fw_send(t, f, &out);
}

IpcEnvelope *
fw_read(struct tctx *t, struct fw *f, int timeout_ms)
{
	long long end = now_ms() + timeout_ms;
	IpcEnvelope *env;
	ssize_t n;

	for (;;) {
		while ((env = fw_take(f)) != NULL) {
			if (env->msg_case != WAGATE__IPC__ENVELOPE__MSG_PING)
				return env;
			fw_pong(t, f, env);
			ipc_envelope_free(env);
		}
		if (f->cap - f->len < 65536) {
			f->cap = f->cap * 2 + 65536;
			f->buf = realloc(f->buf, f->cap);
			assert_non_null(f->buf);
		}
		if ((n = read(f->fd, f->buf + f->len, f->cap - f->len)) > 0) {
			f->len += (size_t)n;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR) || now_ms() >= end)
			return NULL;
		run_for(t, 2);
	}
}

IpcEnvelope *
fw_expect(struct tctx *t, struct fw *f, int msg_case, int timeout_ms)
{
	IpcEnvelope *env = fw_read(t, f, timeout_ms);

	assert_non_null(env);
	if ((int)env->msg_case != msg_case)
		fail_msg("expected %s, the table sent %s", ipc_msg_name(msg_case), ipc_msg_name((int)env->msg_case));
	return env;
}

void
fw_ready(struct tctx *t, struct fw *f, const char *instance_id)
{
	IpcEnvelope *st = fw_expect(t, f, WAGATE__IPC__ENVELOPE__MSG_START, 10000);
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Ready ready = WAGATE__IPC__READY__INIT;
	int want = t->nready + 1;

	assert_string_equal(st->start->instance_id, instance_id);
	ready.pid = f->pid;
	ready.version = (char *)WAGATE_VERSION;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_READY;
	env.ready = &ready;
	env.request_id = st->request_id;
	ipc_envelope_free(st);
	fw_send(t, f, &env);
	assert_true(run_until(t, &t->nready, want, 10000));
}

void
fw_adopted(struct tctx *t, struct fw *f, const char *instance_id)
{
	IpcEnvelope *ad = fw_expect(t, f, WAGATE__IPC__ENVELOPE__MSG_ADOPT, 10000);
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Adopted a = WAGATE__IPC__ADOPTED__INIT;
	int want = t->nready + 1;

	assert_non_null(ad->adopt->start);
	assert_string_equal(ad->adopt->start->instance_id, instance_id);
	a.pid = f->pid;
	a.version = (char *)WAGATE_VERSION;
	a.state = WAGATE__IPC__CONN_STATE__CONN_STATE_OPEN;
	a.jid = (char *)"15550002222:4@s.whatsapp.net";
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_ADOPTED;
	env.adopted = &a;
	env.request_id = ad->request_id;
	ipc_envelope_free(ad);
	fw_send(t, f, &env);
	assert_true(run_until(t, &t->nready, want, 10000));
}

pid_t
fw_orphan_start(const char *dir, const char *id)
{
	struct sockaddr_un sun;
	int p[2], lfd, fd;
	char c;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* The child listens itself: SO_PEERCRED names the process that called listen. */
		close(p[0]);
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/workers/%s.sock", dir, id);
		if ((lfd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
		    bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) == -1 || listen(lfd, 4) == -1 ||
		    write(p[1], "x", 1) != 1)
			_exit(31);
		close(p[1]);
		if ((fd = accept(lfd, NULL, NULL)) == -1)
			_exit(32);
		close(lfd);
		fw_hand_over(fd);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	return pid;
}

void
fw_send_signal_load(struct tctx *t, struct fw *f, uint64_t rid, Wagate__Ipc__SignalKey **keys, size_t n)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__SignalLoad sl = WAGATE__IPC__SIGNAL_LOAD__INIT;

	sl.keys = keys;
	sl.n_keys = n;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_SIGNAL_LOAD;
	env.signal_load = &sl;
	env.request_id = rid;
	fw_send(t, f, &env);
}

void
fw_send_msg_store(struct tctx *t, struct fw *f, uint64_t rid, Wagate__Ipc__MessageStore *m)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;

	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_MESSAGE_STORE;
	env.message_store = m;
	env.request_id = rid;
	fw_send(t, f, &env);
}

void
fw_send_send_result(struct tctx *t, struct fw *f, uint64_t rid, Wagate__Ipc__SendResult *r)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;

	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_SEND_RESULT;
	env.send_result = r;
	env.request_id = rid;
	fw_send(t, f, &env);
}

void
fw_send_numbers(struct tctx *t, struct fw *f, uint64_t rid, Wagate__Ipc__NumbersResult *r)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;

	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_NUMBERS_RESULT;
	env.numbers_result = r;
	env.request_id = rid;
	fw_send(t, f, &env);
}

void
fw_send_result(struct tctx *t, struct fw *f, uint64_t rid, int ok, int code, const char *error)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Result res = WAGATE__IPC__RESULT__INIT;

	res.ok = ok;
	res.code = code;
	res.error = (char *)(error != NULL ? error : "");
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_RESULT;
	env.result = &res;
	env.request_id = rid;
	fw_send(t, f, &env);
}

void
fw_send_group_result(struct tctx *t, struct fw *f, uint64_t rid, Wagate__Ipc__GroupResult *r)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;

	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_GROUP_RESULT;
	env.group_result = r;
	env.request_id = rid;
	fw_send(t, f, &env);
}

struct tctx *
fw_tctx(void)
{
	struct tctx *t = tctx_new(self_path, 16, 60000);

	/* Restarts only where a test shortens this again: a respawned worker would knock on the handoff socket. */
	t->w->cfg.backoff_min_ms = t->w->cfg.backoff_max_ms = 60000;
	return t;
}

void
fw_start(struct tctx *t, int lfd, const char *id, struct fw *f)
{
	add(t, id, 0);
	assert_true(fw_accept(t, lfd, f, 10000));
	fw_ready(t, f, id);
}

void
fw_key(Wagate__Ipc__SignalKey *k, int kind, const char *address, const char *group, unsigned prekey_id)
{
	wagate__ipc__signal_key__init(k);
	k->kind = (Wagate__Ipc__SignalKind)kind;
	k->address = (char *)address;
	k->group = (char *)group;
	k->prekey_id = prekey_id;
}
