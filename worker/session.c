/* The WhatsApp session of this worker. Until the wa_client of worker/wa is plugged in here, it honestly
 * reports that no connection is possible (CLOSE 601) and never pretends to be connected. See session.h. */
#include "session.h"
#include "ipc.h"
#include "log.h"
#include "worker.h"
#include "xmalloc.h"

#include <stdlib.h>

struct session {
	struct worker *w;
};

struct session *
worker_session_start(struct worker *w)
{
	struct session *s = xcalloc(1, sizeof(*s));

	s->w = w;
	return s;
}

void
worker_session_connect(struct session *s, const char *number)
{
	(void)number;
	if (worker_wa_url(s->w) == NULL) {
		worker_report_state(s->w, WORKER_CLOSE, WORKER_REASON_NO_TRANSPORT, "no WhatsApp URL configured");
		return;
	}
	log_info("worker_session_connect: %s: the WhatsApp transport is not built in yet",
	    worker_instance_name(s->w));
	worker_report_state(s->w, WORKER_CLOSE, WORKER_REASON_NO_TRANSPORT, "WhatsApp transport not available yet");
}

void
worker_session_logout(struct session *s)
{
	/* Nothing is linked without a transport: the credentials the supervisor holds are void either way. */
	worker_report_state(s->w, WORKER_CLOSE, WORKER_REASON_LOGGED_OUT, "logged out");
	worker_exit(s->w, IPC_EXIT_NO_RESTART);
}

void
worker_session_update(struct session *s)
{
	(void)s;
}

void
worker_session_stop(struct session *s)
{
	free(s);
}
