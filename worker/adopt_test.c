/* Unit tests of the adoption socket (adopt.c): its path, its mode, a stale file replaced, our uid accepted. */
#include "adopt.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

/* A fresh private directory under TMPDIR (removed by the test). */
static void
make_dir(char *dir, size_t len)
{
	const char *tmp = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";

	snprintf(dir, len, "%s/adopt-XXXXXX", tmp);
	assert_non_null(mkdtemp(dir));
}

/* Connect to path (blocking); the fd or -1. */
static int
connect_to(const char *path)
{
	struct sockaddr_un sun;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
test_path(void **state)
{
	char out[256], longdir[200];

	(void)state;
	assert_int_equal(adopt_path("/run/wagate", "0b3f", out, sizeof(out)), 0);
	assert_string_equal(out, "/run/wagate/workers/0b3f.sock");
	assert_int_equal(adopt_path("/run/wagate", "0b3f", out, 10), -1);
	/* longer than a sockaddr_un can hold */
	memset(longdir, 'a', sizeof(longdir) - 1);
	longdir[0] = '/';
	longdir[sizeof(longdir) - 1] = '\0';
	assert_int_equal(adopt_path(longdir, "x", out, sizeof(out)), -1);
}

static void
test_listen_accept(void **state)
{
	char dir[128], path[256], sub[200], err[256];
	struct stat st;
	pid_t pid = 0;
	int lfd, cfd, afd, stale;

	(void)state;
	make_dir(dir, sizeof(dir));
	assert_int_equal(adopt_path(dir, "inst-1", path, sizeof(path)), 0);
	/* a stale file where the socket goes (a worker that died) */
	snprintf(sub, sizeof(sub), "%s/workers", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	stale = open(path, O_CREAT | O_WRONLY, 0644);
	assert_true(stale >= 0);
	close(stale);

	lfd = adopt_listen(dir, path, err, sizeof(err));
	assert_true(lfd >= 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);

	/* nothing waiting: EAGAIN, not a block */
	assert_int_equal(adopt_accept(lfd, &pid), -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);

	cfd = connect_to(path);
	assert_true(cfd >= 0);
	afd = adopt_accept(lfd, &pid);
	assert_true(afd >= 0);
	assert_int_equal(pid, getpid());
	close(afd);
	close(cfd);

	/* listening again on the same path replaces the previous socket file */
	close(lfd);
	lfd = adopt_listen(dir, path, err, sizeof(err));
	assert_true(lfd >= 0);
	close(lfd);
	/* nobody listens: a connect is refused (what a supervisor treats as a dead worker) */
	assert_int_equal(connect_to(path), -1);
	assert_int_equal(errno, ECONNREFUSED);

	unlink(path);
	rmdir(sub);
	rmdir(dir);
}

static void
test_listen_errors(void **state)
{
	char err[256];

	(void)state;
	err[0] = '\0';
	assert_int_equal(adopt_listen("/proc/no-such-dir", "/proc/no-such-dir/workers/x.sock", err, sizeof(err)), -1);
	assert_true(strlen(err) > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path),
		cmocka_unit_test(test_listen_accept),
		cmocka_unit_test(test_listen_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
