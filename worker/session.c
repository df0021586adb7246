/* The WhatsApp session of this worker: one wa_conn (worker/wa) built from what Start carried, with every
 * connection transition reported to the supervisor. Pairing and login are the next layer: for now the
 * session completes the Noise handshake, answers the server's pair-device offer with the ack every client
 * sends, and stays connected (state "connecting": a QR will be shown here once pairing lands). See session.h.
 *
 * Environment (tests only; the supervisor's environment is inherited): WA_KEEPALIVE_MS sets the keepalive
 * interval, WA_KEEPALIVE_DEADLINE_MS the answer deadline. */
#include "session.h"
#include "ipc.h"
#include "log.h"
#include "wa_conn.h"
#include "wa_node.h"
#include "worker.h"
#include "xmalloc.h"

#include <event2/event.h>

#include <stdlib.h>
#include <string.h>

struct session {
	struct worker *w;
	struct wa_conn *conn;
	struct event *ev_exit;		/* leaves the worker outside wa_conn's callbacks */
};

/* Read a positive millisecond setting from the environment (0 = unset or invalid). */
static unsigned
session_env_ms(const char *name)
{
	const char *v = getenv(name);
	char *end;
	unsigned long n;

	if (v == NULL || *v == '\0')
		return 0;
	n = strtoul(v, &end, 10);
	return *end == '\0' && n > 0 && n <= 3600000 ? (unsigned)n : 0;
}

/* Deferred: a server-side logout ends the worker for good. */
static void
session_exit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	worker_exit(s->w, IPC_EXIT_NO_RESTART);
}

/* wa_conn state changes, reported upward. */
static void
session_state_cb(struct wa_conn *c, int state, int reason, const char *detail, long retry_ms, void *arg)
{
	struct session *s = arg;
	const char *name = worker_instance_name(s->w);

	switch (state) {
	case WA_CONN_CONNECTING:
		log_info("session: %s: connecting to %s", name, detail);
		worker_report_state(s->w, WORKER_CONNECTING, WORKER_REASON_NONE, detail);
		break;
	case WA_CONN_OPEN:
		/* Transport up, not logged in: to the API this is still "connecting" until pairing/login. */
		log_info("session: %s: %s", name, detail);
		worker_report_state(s->w, WORKER_CONNECTING, WORKER_REASON_NONE, "transport ready, waiting for pairing");
		break;
	default:
		if (reason == WA_CONN_REASON_STOPPED)
			break;	/* our own stop: never reported (session.h) */
		if (retry_ms >= 0)
			log_info("session: %s: closed (%d %s), retrying in %ld ms", name, reason, detail, retry_ms);
		else
			log_warnx("session: %s: closed (%d %s), not retrying", name, reason, detail);
		worker_report_state(s->w, WORKER_CLOSE, reason, detail);
		if (reason == WA_CONN_REASON_LOGGED_OUT || reason == WA_CONN_REASON_FORBIDDEN)
			event_active(s->ev_exit, EV_TIMEOUT, 0);
		break;
	}
}

/* Nodes from the server that the transport does not handle itself. */
static void
session_node_cb(struct wa_conn *c, const struct wa_node *n, void *arg)
{
	struct session *s = arg;
	const char *id = wa_node_attr(n, "id"), *type = wa_node_attr(n, "type");

	if (strcmp(n->tag, "iq") == 0 && id != NULL && type != NULL && strcmp(type, "set") == 0 &&
	    wa_node_child(n, "pair-device") != NULL) {
		struct wa_node *ack = wa_node_new("iq");
		wa_node_set_attr(ack, "to", "s.whatsapp.net");
		wa_node_set_attr(ack, "id", id);
		wa_node_set_attr(ack, "type", "result");
		wa_conn_send_node(c, ack);
		wa_node_free(ack);
		log_info("session: %s: server offers %zu pairing refs (QR pairing is not implemented yet)",
		    worker_instance_name(s->w), wa_node_count_children(wa_node_child(n, "pair-device"), "ref"));
		return;
	}
	log_debug("session: %s: unhandled node <%s>", worker_instance_name(s->w), n->tag);
}

/* Set up the session for this worker (does not connect). */
struct session *
worker_session_start(struct worker *w)
{
	struct session *s = xcalloc(1, sizeof(*s));

	s->w = w;
	s->ev_exit = event_new(worker_base(w), -1, 0, session_exit_cb, s);
	if (s->ev_exit == NULL) {
		free(s);
		return NULL;
	}
	return s;
}

/* Connect (or reconnect now) to WhatsApp. */
void
worker_session_connect(struct session *s, const char *number)
{
	struct wa_conn_config cfg;
	const unsigned char *root;
	size_t rootlen = 0;
	char err[256];

	(void)number;	/* pairing codes come with the pairing layer */
	if (s->conn != NULL) {
		wa_conn_start(s->conn);
		return;
	}
	if (worker_wa_url(s->w) == NULL) {
		worker_report_state(s->w, WORKER_CLOSE, WORKER_REASON_NO_TRANSPORT, "no WhatsApp URL configured");
		return;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.url = worker_wa_url(s->w);
	root = worker_wa_root_key(s->w, &rootlen);
	if (root != NULL && rootlen == 32)
		cfg.root_key = root;
	cfg.extra_ca_file = worker_wa_tls_ca_file(s->w);
	cfg.keepalive_min_ms = cfg.keepalive_max_ms = session_env_ms("WA_KEEPALIVE_MS");
	cfg.keepalive_deadline_ms = session_env_ms("WA_KEEPALIVE_DEADLINE_MS");
	cfg.on_state = session_state_cb;
	cfg.on_node = session_node_cb;
	cfg.arg = s;
	if ((s->conn = wa_conn_new(worker_base(s->w), &cfg, err, sizeof(err))) == NULL) {
		log_warnx("worker_session_connect: %s: %s", worker_instance_name(s->w), err);
		worker_report_state(s->w, WORKER_CLOSE, WORKER_REASON_NO_TRANSPORT, err);
		return;
	}
	wa_conn_start(s->conn);
}

/* Logout: drop the connection and end the worker for good. Unlinking on the server needs a paired
 * device, which the pairing layer will bring; without one there is nothing to unlink. */
void
worker_session_logout(struct session *s)
{
	if (s->conn != NULL)
		wa_conn_stop(s->conn);
	worker_report_state(s->w, WORKER_CLOSE, WORKER_REASON_LOGGED_OUT, "logged out");
	worker_exit(s->w, IPC_EXIT_NO_RESTART);
}

/* Settings or proxy changed: nothing in the transport depends on them yet (proxies: not supported). */
void
worker_session_update(struct session *s)
{
	(void)s;
}

/* Close and free everything, silently. */
void
worker_session_stop(struct session *s)
{
	if (s == NULL)
		return;
	wa_conn_free(s->conn);
	if (s->ev_exit != NULL)
		event_free(s->ev_exit);
	free(s);
}
