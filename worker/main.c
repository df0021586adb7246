/* wagate-worker: one process per instance, started by the supervisor with its IPC socket on fd 3. */
#include "evbase.h"
#include "ipc.h"
#include "log.h"
#include "worker.h"

#include <event2/event.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const char *wa_library_version;

/* How often an idle worker gives freed heap pages back (a backstop: the login trims when it reaches open). */
#define MAIN_TRIM_INTERVAL_S	10

/* SIGTERM/SIGINT: the same clean exit as Shutdown. */
static void
main_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct worker *w = arg;

	(void)what;
	log_info("%s: signal %d: exiting", worker_instance_name(w), (int)sig);
	worker_exit(w, IPC_EXIT_OK);
}

/* Give the pages of freed heap memory back to the kernel. A worker spends its life idle between bursts
 * (logins, prekey uploads, message floods) that free most of what they allocate; glibc returns only the top
 * of the heap by itself. Cheap: it walks the free lists, not the heap. (The supervisor turns glibc's
 * per-thread cache off in the worker's environment, or the chunks parked there would keep their pages.) */
static void
main_trim_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	malloc_trim(0);
}

int
main(int argc, char **argv)
{
	struct event_base *base;
	struct event *sigterm, *sigint, *trim;
	struct timeval trim_tv = { MAIN_TRIM_INTERVAL_S, 0 };
	struct worker *w;
	int code;

	if (argc != 2 || strlen(argv[1]) == 0 || strlen(argv[1]) > 128) {
		fprintf(stderr, "usage: wagate-worker INSTANCE-ID  (started by wagate with its IPC socket on fd 3)\n");
		return 2;
	}
	log_init("wagate-worker", LOG_LEVEL_INFO);
	if (fcntl(IPC_FD, F_GETFD) == -1)
		fatal("%s: fd %d is not open (wagate-worker is started by wagate)", argv[1], IPC_FD);
	signal(SIGPIPE, SIG_IGN);
	if ((base = ev_base_new()) == NULL)
		fatalx("%s: event_base_new failed", argv[1]);
	if ((w = worker_new(base, IPC_FD, argv[1])) == NULL)
		fatalx("%s: cannot set up the IPC channel", argv[1]);
	log_debug("%s: started (%s, %s)", argv[1], WAGATE_VERSION, wa_library_version);
	sigterm = evsignal_new(base, SIGTERM, main_signal_cb, w);
	sigint = evsignal_new(base, SIGINT, main_signal_cb, w);
	if (sigterm == NULL || sigint == NULL || evsignal_add(sigterm, NULL) == -1 || evsignal_add(sigint, NULL) == -1)
		fatalx("%s: cannot watch signals", argv[1]);
	if ((trim = event_new(base, -1, EV_PERSIST, main_trim_cb, NULL)) == NULL || event_add(trim, &trim_tv) == -1)
		fatalx("%s: cannot set up the trim timer", argv[1]);

	event_base_dispatch(base);

	code = worker_exit_code(w);
	log_debug("%s: exiting with code %d", argv[1], code);
	event_free(trim);
	event_free(sigterm);
	event_free(sigint);
	worker_free(w);
	event_base_free(base);
	libevent_global_shutdown();
	return code;
}
