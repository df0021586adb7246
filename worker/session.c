/* The WhatsApp session of this worker: credentials (loaded from Start, or generated and stored before the
 * first handshake), one wa_conn built from them, the routing of server nodes to pairing (pair.c) and login
 * (login.c), iq answers (iq.c), generic acks, and logout. See session.h for the contract with worker.c. */
#include "session.h"
#include "session_int.h"
#include "conn_state.h"
#include "iq.h"
#include "ipc.h"
#include "log.h"
#include "msg.h"
#include "msg_group.h"
#include "msg_identity.h"
#include "wa_conn.h"
#include "wa_node.h"
#include "wa_pair.h"
#include "worker.h"
#include "xmalloc.h"

#include <event2/event.h>

#include <stdlib.h>
#include <string.h>

static void session_connect_now(struct session *s);

/* The WhatsApp library keeps its own reason numbers (wa_conn.h) so it stays free of IPC; the codes both sets
 * have are the same numbers, so a wa_conn reason goes to the supervisor as it is (the ones only the library
 * knows, 400, 403 and stream errors, pass through too). */
#define SESSION_SAME(a, b) ((int)(a) == (int)(b))
_Static_assert(SESSION_SAME(WA_CONN_REASON_NONE, REASON_NONE) &&
    SESSION_SAME(WA_CONN_REASON_LOGGED_OUT, REASON_LOGGED_OUT) &&
    SESSION_SAME(WA_CONN_REASON_TIMED_OUT, REASON_TIMED_OUT) &&
    SESSION_SAME(WA_CONN_REASON_CLOSED, REASON_CONNECTION_CLOSED) &&
    SESSION_SAME(WA_CONN_REASON_REPLACED, REASON_REPLACED) &&
    SESSION_SAME(WA_CONN_REASON_BAD_SESSION, REASON_BAD_SESSION) &&
    SESSION_SAME(WA_CONN_REASON_UNAVAILABLE, REASON_UNAVAILABLE) &&
    SESSION_SAME(WA_CONN_REASON_RESTART_REQUIRED, REASON_RESTART_REQUIRED) &&
    SESSION_SAME(WA_CONN_REASON_CONFIG, REASON_NO_TRANSPORT) &&
    SESSION_SAME(WA_CONN_REASON_PROXY, REASON_PROXY_FAILED),
    "wa_conn.h reasons must keep ipc.proto's numbers");

int
session_creds_paired(const struct session *s)
{
	return s->creds != NULL && s->creds->jid != NULL;
}

void
session_defer(struct session *s, unsigned what)
{
	s->todo |= what;
	event_active(s->ev_defer, EV_TIMEOUT, 0);
}

/* Our logout is over (answered, timed out, or nothing to unlink): CLOSE/401, exit 3. Once. */
static void
session_logout_finish(struct session *s)
{
	if (s->logout_done)
		return;
	s->logout_done = 1;
	if (s->conn != NULL)
		wa_conn_stop(s->conn);
	worker_report_state(s->w, CONN_CLOSE, REASON_LOGGED_OUT, "logged out");
	worker_exit(s->w, IPC_EXIT_NO_RESTART);
}

/* Deferred work, outside wa_conn's callbacks. */
static void
session_defer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	unsigned todo = s->todo;

	(void)fd;
	(void)what;
	s->todo = 0;
	if (todo & SESSION_DO_LOGOUT) {
		session_logout_finish(s);
		return;
	}
	if (todo & SESSION_DO_EXIT) {
		worker_exit(s->w, IPC_EXIT_NO_RESTART);
		return;
	}
	if (todo & SESSION_DO_QR_LIMIT) {
		if (s->conn != NULL)
			wa_conn_stop(s->conn);
		log_info("%s: %u QR codes shown without a scan, giving up", worker_instance_name(s->w),
		    worker_qrcode_limit(s->w));
		worker_report_state(s->w, CONN_CLOSE, REASON_QR_LIMIT, "QR code limit reached");
		return;
	}
	if ((todo & SESSION_DO_RESTART) && s->conn != NULL) {
		log_info("%s: pairing refs exhausted, reconnecting", worker_instance_name(s->w));
		wa_conn_restart(s->conn);
	}
}

/* The generic ack (wa-session.md section 0) for a notification, receipt or call. */
void
session_send_ack(struct session *s, const struct wa_node *n)
{
	const char *id = wa_node_attr(n, "id"), *from = wa_node_attr(n, "from");
	static const char *const copy[] = { "participant", "recipient", "type" };
	struct wa_node *ack;
	size_t i;

	if (id == NULL || from == NULL)
		return;
	ack = wa_node_new("ack");
	wa_node_set_attr(ack, "class", n->tag);
	wa_node_set_attr(ack, "id", id);
	wa_node_set_attr(ack, "to", from);
	for (i = 0; i < sizeof(copy) / sizeof(copy[0]); i++)
		if (wa_node_attr(n, copy[i]) != NULL)
			wa_node_set_attr(ack, copy[i], wa_node_attr(n, copy[i]));
	wa_conn_send_node(s->conn, ack);
	wa_node_free(ack);
}

/* <iq type="error" id><error code text/></iq> for a server request we refuse. */
void
session_iq_reply_error(struct session *s, const char *id, int code, const char *text)
{
	struct wa_node *iq = wa_node_new("iq"), *err = wa_node_new("error");

	wa_node_set_attr(iq, "to", "s.whatsapp.net");
	wa_node_set_attr(iq, "type", "error");
	wa_node_set_attr(iq, "id", id);
	wa_node_set_attrf(err, "code", "%d", code);
	wa_node_set_attr(err, "text", text);
	wa_node_add_child(iq, err);
	wa_conn_send_node(s->conn, iq);
	wa_node_free(iq);
}

/* wa_conn state changes, reported upward. */
static void
session_state_cb(struct wa_conn *c, int state, int reason, const char *detail, long retry_ms, void *arg)
{
	struct session *s = arg;
	const char *name = worker_instance_name(s->w);

	(void)c;
	switch (state) {
	case WA_CONN_CONNECTING:
		log_info("%s: connecting to %s", name, detail);
		if (!s->logging_out)
			worker_report_state(s->w, CONN_CONNECTING, REASON_NONE, detail);
		break;
	case WA_CONN_OPEN:
		/* Transport up, not logged in: to the API this is still "connecting" until pairing/login. */
		log_info("%s: %s (%s)", name, detail, session_creds_paired(s) ? "logging in" :
		    "waiting for pairing");
		break;
	default:
		iq_table_fail_all(s->iq);
		msg_send_reset_connection(s);
		msg_group_reset_connection(s);
		pair_reset_connection(s);
		login_reset_connection(s);
		msg_recv_reset_connection(s);
		if (s->logging_out) {
			if (!s->logout_done)
				session_defer(s, SESSION_DO_LOGOUT);
			break;
		}
		if (reason == WA_CONN_REASON_STOPPED)
			break;	/* our own stop: never reported (session.h) */
		if (reason == WA_CONN_REASON_RESTART_REQUIRED && retry_ms == 0) {
			/* After pair-device-sign, or our own reconnect for new refs: not a close to the API. */
			log_info("%s: %s, reconnecting", name, detail);
			break;
		}
		if (retry_ms >= 0)
			log_info("%s: closed (%d %s), retrying in %ld ms", name, reason, detail, retry_ms);
		else
			log_warnx("%s: closed (%d %s), not retrying", name, reason, detail);
		worker_report_state(s->w, CONN_CLOSE, reason, detail);
		if (reason == WA_CONN_REASON_LOGGED_OUT || reason == WA_CONN_REASON_FORBIDDEN)
			session_defer(s, SESSION_DO_EXIT);
		break;
	}
}

/* <ib>: the end of the offline queue (wa-session.md 3.7) is worth a line; the rest is informational. */
static void
session_on_ib(struct session *s, const struct wa_node *n)
{
	const struct wa_node *off = wa_node_child(n, "offline");
	const char *count = off != NULL ? wa_node_attr(off, "count") : NULL;

	if (count != NULL && strlen(count) < 16 && strspn(count, "0123456789") == strlen(count))
		log_info("%s: offline queue delivered (%s stanzas)", worker_instance_name(s->w), count);
}

/* Nodes from the server that the transport does not handle itself. */
static void
session_node_cb(struct wa_conn *c, const struct wa_node *n, void *arg)
{
	struct session *s = arg;
	const char *type = wa_node_attr(n, "type");

	(void)c;
	if (iq_table_dispatch(s->iq, n))
		return;
	if (strcmp(n->tag, "iq") == 0 && type != NULL && strcmp(type, "set") == 0) {
		if (wa_node_child(n, "pair-device") != NULL)
			pair_on_pair_device(s, n);
		else if (wa_node_child(n, "pair-success") != NULL)
			pair_on_pair_success(s, n);
		else
			log_debug("%s: unhandled iq set", worker_instance_name(s->w));
		return;
	}
	if (strcmp(n->tag, "success") == 0) {
		login_on_success(s, n);
		return;
	}
	if (strcmp(n->tag, "ack") == 0) {
		if (!msg_send_on_ack(s, n))
			log_debug("%s: ack for %s we do not wait for", worker_instance_name(s->w),
			    wa_node_attr(n, "id") != NULL ? wa_node_attr(n, "id") : "-");
		return;
	}
	if (strcmp(n->tag, "notification") == 0) {
		/* a user's identity changed: acked after its sessions are dropped in the database */
		if (type != NULL && strcmp(type, "encrypt") == 0 && wa_node_child(n, "identity") != NULL) {
			msg_identity_notification(s, n);
			return;
		}
		session_send_ack(s, n);
		if (type == NULL)
			return;
		if (strcmp(type, "companion_reg_refresh") == 0)
			pair_on_refresh(s, n);
		else if (strcmp(type, "link_code_companion_reg") == 0)
			pair_on_link_code(s, n);
		else if (strcmp(type, "encrypt") == 0)
			login_on_encrypt_notification(s, n);
		else if (strcmp(type, "devices") == 0)
			msg_send_on_devices_notification(s, n);
		else if (strcmp(type, "w:gp2") == 0)
			msg_group_on_notification(s, n);
		return;
	}
	if (strcmp(n->tag, "message") == 0) {
		msg_recv_message(s, n);		/* acked after its COMMIT */
		return;
	}
	if (strcmp(n->tag, "receipt") == 0) {
		msg_recv_receipt(s, n);		/* acked after its COMMIT */
		return;
	}
	if (strcmp(n->tag, "call") == 0) {
		session_send_ack(s, n);
		msg_call_on_node(s, n);
		return;
	}
	if (strcmp(n->tag, "ib") == 0) {
		session_on_ib(s, n);
		return;
	}
	log_debug("%s: unhandled node <%s>", worker_instance_name(s->w), n->tag);
}

/* Set up the session for this worker (does not connect). */
struct session *
worker_session_start(struct worker *w)
{
	struct session *s = xcalloc(1, sizeof(*s));
	const unsigned char *blob;
	size_t len;
	char err[256];

	s->w = w;
	s->iq = iq_table_new(worker_base(w));
	s->ev_defer = event_new(worker_base(w), -1, 0, session_defer_cb, s);
	if (s->ev_defer == NULL) {
		worker_session_stop(s);
		return NULL;
	}
	if ((blob = worker_creds(w, &len)) != NULL) {
		if ((s->creds = creds_decode(blob, len, err, sizeof(err))) == NULL) {
			log_warnx("%s: stored credentials unreadable: %s",
			    worker_instance_name(w), err);
			s->creds_bad = 1;
		} else
			memcpy(s->adv_secret, s->creds->adv_secret, CREDS_KEY_LEN);
	}
	return s;
}

/* The payload for the next handshakes: login when paired, else registration. 0 or -1. */
static int
session_payload(struct session *s, uint8_t **out, size_t *outlen)
{
	struct wa_pair_reg reg;

	if (session_creds_paired(s))
		return login_payload(s->creds, out, outlen);
	memset(&reg, 0, sizeof(reg));
	reg.registration_id = s->creds->registration_id;
	memcpy(reg.identity_pub, s->creds->identity_pub, CREDS_KEY_LEN);
	reg.signed_prekey_id = s->creds->signed_prekey.id;
	memcpy(reg.signed_prekey_pub, s->creds->signed_prekey.pub, CREDS_KEY_LEN);
	memcpy(reg.signed_prekey_sig, s->creds->signed_prekey.sig, WA_PREKEY_SIG_LEN);
	reg.full_sync = worker_settings(s->w)->sync_full_history;
	return wa_pair_registration_payload(&reg, out, outlen);
}

/* Hand the instance's proxy (or none) to the connection: it applies from the next attempt on. */
static void
session_apply_proxy(struct session *s)
{
	const struct proxy *p = worker_proxy(s->w);
	struct wa_conn_proxy cp;

	if (s->conn == NULL)
		return;
	if (p == NULL || !p->enabled || p->host == NULL) {
		wa_conn_set_proxy(s->conn, NULL);
		return;
	}
	memset(&cp, 0, sizeof(cp));
	cp.protocol = p->protocol;
	cp.host = p->host;
	cp.port = p->port;
	cp.username = p->username;
	cp.password = p->password;
	wa_conn_set_proxy(s->conn, &cp);
}

/* Credentials are there: (re)connect with them. */
static void
session_connect_now(struct session *s)
{
	struct wa_conn_config cfg;
	const unsigned char *root;
	size_t rootlen = 0, plen = 0;
	uint8_t *payload = NULL;
	char err[256];

	if (session_payload(s, &payload, &plen) == -1) {
		log_warnx("%s: cannot build the client payload", worker_instance_name(s->w));
		worker_report_state(s->w, CONN_CLOSE, REASON_BAD_SESSION, "cannot build the client payload");
		return;
	}
	if (s->conn != NULL) {
		/* A running attempt is replaced without a close report: forget what belonged to it. */
		login_reset_connection(s);
		msg_recv_reset_connection(s);
		iq_table_fail_all(s->iq);
		msg_send_reset_connection(s);
		msg_group_reset_connection(s);
		pair_reset_connection(s);
		wa_conn_set_payload(s->conn, payload, plen);
		free(payload);
		session_apply_proxy(s);
		wa_conn_start(s->conn);
		return;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.url = worker_wa_url(s->w);
	root = worker_wa_root_key(s->w, &rootlen);
	if (root != NULL && rootlen == 32)
		cfg.root_key = root;
	cfg.static_priv = s->creds->noise_priv;
	cfg.payload = payload;
	cfg.payload_len = plen;
	cfg.extra_ca_file = worker_wa_tls_ca_file(s->w);
	/* Tests shorten these through the supervisor's config (Start); 0 keeps wa_conn's defaults. */
	cfg.keepalive_min_ms = cfg.keepalive_max_ms = worker_keepalive_ms(s->w);
	cfg.keepalive_deadline_ms = worker_keepalive_deadline_ms(s->w);
	cfg.on_state = session_state_cb;
	cfg.on_node = session_node_cb;
	cfg.arg = s;
	s->conn = wa_conn_new(worker_base(s->w), &cfg, err, sizeof(err));
	free(payload);
	if (s->conn == NULL) {
		log_warnx("%s: %s", worker_instance_name(s->w), err);
		worker_report_state(s->w, CONN_CLOSE, REASON_NO_TRANSPORT, err);
		return;
	}
	session_apply_proxy(s);
	wa_conn_start(s->conn);
}

/* StoreAck for fresh registration material: only now may the keys be used. */
static void
session_fresh_stored_cb(void *arg, int ok, const char *error)
{
	struct session *s = arg;
	char detail[256];

	s->storing_fresh = 0;
	if (!ok) {
		log_warnx("%s: storing new credentials failed: %s", worker_instance_name(s->w), error);
		creds_free(s->creds);
		s->creds = NULL;
		snprintf(detail, sizeof(detail), "storing credentials failed: %s", error);
		worker_report_state(s->w, CONN_CLOSE, REASON_BAD_SESSION, detail);
		return;
	}
	log_info("%s: new credentials stored", worker_instance_name(s->w));
	session_connect_now(s);
}

/* Connect (or reconnect now) to WhatsApp. */
void
worker_session_connect(struct session *s, const char *number)
{
	uint8_t *blob = NULL;
	size_t len = 0;

	if (s->logging_out)
		return;
	if (worker_wa_url(s->w) == NULL) {
		worker_report_state(s->w, CONN_CLOSE, REASON_NO_TRANSPORT, "no WhatsApp URL configured");
		return;
	}
	if (s->creds_bad) {
		worker_report_state(s->w, CONN_CLOSE, REASON_BAD_SESSION, "stored credentials unreadable");
		return;
	}
	if (s->open) {
		/* Already logged in: a Connect changes nothing. */
		worker_report_open(s->w, s->creds->jid, s->creds->lid,
		    s->creds->push_name != NULL ? s->creds->push_name : s->creds->business_name);
		return;
	}
	if (s->logged_in)
		return;		/* logging in right now: OPEN follows */
	pair_reset_series(s, number);
	if (s->storing_fresh)
		return;		/* the StoreAck connects */
	if (s->creds != NULL) {
		session_connect_now(s);
		return;
	}
	if ((s->creds = creds_generate()) == NULL || creds_encode(s->creds, &blob, &len) == -1) {
		creds_free(s->creds);
		s->creds = NULL;
		worker_report_state(s->w, CONN_CLOSE, REASON_BAD_SESSION, "cannot generate credentials");
		return;
	}
	memcpy(s->adv_secret, s->creds->adv_secret, CREDS_KEY_LEN);
	if (worker_request_store(s->w, blob, len, NULL, 0, 0, session_fresh_stored_cb, s) == -1) {
		creds_free(s->creds);
		s->creds = NULL;
		worker_report_state(s->w, CONN_CLOSE, REASON_BAD_SESSION, "cannot store credentials");
	} else
		s->storing_fresh = 1;
	free_wiped(blob, len);
}

/* remove-companion-device answered (or not within SESSION_LOGOUT_MS, or the connection went away). */
static void
session_logout_cb(void *arg, const struct wa_node *reply)
{
	struct session *s = arg;

	if (reply == NULL)
		log_warnx("%s: no answer to remove-companion-device", worker_instance_name(s->w));
	session_defer(s, SESSION_DO_LOGOUT);
}

/* Logout: unlink the device when paired and connected, then CLOSE/401 and exit 3. */
void
worker_session_logout(struct session *s)
{
	struct wa_node *iq, *rm;

	if (s->logging_out)
		return;
	s->logging_out = 1;
	if (s->conn == NULL || !s->logged_in || !session_creds_paired(s)) {
		session_logout_finish(s);
		return;
	}
	iq = wa_node_new("iq");
	wa_node_set_attr(iq, "type", "set");
	wa_node_set_attr(iq, "xmlns", "md");
	rm = wa_node_add_child(iq, wa_node_new("remove-companion-device"));
	wa_node_set_attr(rm, "jid", s->creds->jid);
	wa_node_set_attr(rm, "reason", "user_initiated");
	if (iq_table_send(s->iq, s->conn, iq, SESSION_LOGOUT_MS, session_logout_cb, s) == -1)
		session_defer(s, SESSION_DO_LOGOUT);
	else
		log_info("%s: unlinking %s", worker_instance_name(s->w), s->creds->jid);
	wa_node_free(iq);
}

/* Settings or proxy changed: the proxy is used from the next connection attempt (the open one is kept). */
void
worker_session_update(struct session *s)
{
	session_apply_proxy(s);
}

/* Our global presence, when logged in. */
int
worker_session_presence(struct session *s, const char *presence)
{
	return login_send_presence(s, presence);
}

int
worker_session_chatstate(struct session *s, const char *to, const char *state)
{
	return login_send_chatstate(s, to, state);
}

/* Close and free everything, silently. */
void
worker_session_stop(struct session *s)
{
	if (s == NULL)
		return;
	/* wa_conn_free reports nothing; the iq table is dropped without callbacks. */
	wa_conn_free(s->conn);
	s->conn = NULL;
	iq_table_free(s->iq);
	/* After the connection: the jobs' committed(stopping) must not send anything. */
	msg_exec_free(s->exec);
	msg_recv_free(s);
	/* after the iq table (its queries are dropped without callbacks) and the executor (it frees its jobs) */
	msg_send_free(s);
	msg_group_free(s);
	msg_call_free(s);
	pair_free(s);
	login_free(s);
	if (s->ev_defer != NULL)
		event_free(s->ev_defer);
	creds_free(s->creds);
	explicit_wipe(s->adv_secret, sizeof(s->adv_secret));
	free(s);
}
