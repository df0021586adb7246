/* The socket an orphaned worker listens on to be adopted by the next supervisor (DESIGN.md "Workers outlive a
 * supervisor restart"): $RUNTIME_DIRECTORY/workers/<instance-id>.sock, mode 0600, and only a peer with our uid
 * (SO_PEERCRED) is accepted. No process concerns: the worker decides when to listen and what to do with a peer. */
#ifndef WAGATE_WORKER_ADOPT_H
#define WAGATE_WORKER_ADOPT_H

#include <stddef.h>
#include <sys/types.h>

#define ADOPT_SUBDIR	"workers"

/* Write "<dir>/workers/<id>.sock" into out. 0, or -1 when it does not fit (len or a sockaddr_un). */
int adopt_path(const char *dir, const char *id, char *out, size_t len);
/* Create <dir>/workers (0700) if needed, replace a stale socket file at path, and listen there (mode 0600,
 * non-blocking, close-on-exec). The listening fd, or -1 with err filled ("what: why"). */
int adopt_listen(const char *dir, const char *path, char *err, size_t errlen);
/* Accept one connection from lfd. The new fd (non-blocking, close-on-exec) when its peer has our uid, with
 * the peer's pid in *pid; -1 with errno EAGAIN (nothing waiting), EPERM (another uid: closed) or another
 * accept error. */
int adopt_accept(int lfd, pid_t *pid);

#endif
