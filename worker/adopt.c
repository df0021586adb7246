/* The adoption socket of an orphaned worker (see adopt.h). */
#include "adopt.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int
adopt_path(const char *dir, const char *id, char *out, size_t len)
{
	struct sockaddr_un sun;
	int n;

	n = snprintf(out, len, "%s/%s/%s.sock", dir, ADOPT_SUBDIR, id);
	if (n < 0 || (size_t)n >= len || (size_t)n >= sizeof(sun.sun_path))
		return -1;
	return 0;
}

int
adopt_listen(const char *dir, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	char sub[sizeof(sun.sun_path)];
	mode_t old;
	int fd, rc, saved;

	if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", dir, ADOPT_SUBDIR) >= sizeof(sub) ||
	    strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "%s: path too long for a Unix socket", path);
		return -1;
	}
	if (mkdir(sub, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", sub, strerror(errno));
		return -1;
	}
	/* A file left by a worker of this instance that died: nobody listens there any more. */
	if (unlink(path) == -1 && errno != ENOENT) {
		snprintf(err, errlen, "unlink %s: %s", path, strerror(errno));
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	/* The file is created 0600 by bind itself (the worker is single-threaded, so the umask is ours alone):
	 * a chmod afterwards would leave a moment where another user could connect. */
	old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	saved = errno;
	umask(old);
	if (rc == -1 || listen(fd, 4) == -1) {
		snprintf(err, errlen, "%s %s: %s", rc == -1 ? "bind" : "listen", path, strerror(rc == -1 ? saved : errno));
		close(fd);
		if (rc == 0)
			unlink(path);
		return -1;
	}
	return fd;
}

int
adopt_accept(int lfd, pid_t *pid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int fd;

	if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1)
		return -1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1 || len != sizeof(cred)) {
		close(fd);
		errno = EPERM;
		return -1;
	}
	/* Only a supervisor running as our own user may take us over (the file mode says the same; this also
	 * holds if someone loosened it). */
	if (cred.uid != getuid()) {
		close(fd);
		errno = EPERM;
		return -1;
	}
	*pid = cred.pid;
	return fd;
}
