/* The worker process: its dispatch table on the shared IPC peer (common/ipc_peer.c, STYLE rule 15), settings
 * from Start, reports to the supervisor, and the process's end. Our own requests to the supervisor are in
 * worker_call.c, adoption by a new supervisor in worker_orphan.c (worker_int.h holds what they share). */
#include "worker_int.h"
#include "conn_state.h"
#include "log.h"
#include "msg.h"
#include "session.h"
#include "wa_jid.h"
#include "xmalloc.h"

#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


/* The instance's name for log lines (its id until Start arrived). */
const char *
worker_label(const struct worker *w)
{
	return w->instance_name != NULL ? w->instance_name : w->instance_id;
}

/* Queue one message for the supervisor; a failure here means the channel is gone, and EOF handles that. */
void
worker_send(struct worker *w, IpcEnvelope *env)
{
	/* Orphaned: nobody to tell; what the next supervisor needs travels in Adopted. */
	if (w->phase == WORKER_PHASE_ORPHAN)
		return;
	if (ipc_peer_send(w->ipc, env) == -1)
		log_warnx("%s: could not queue %s", worker_label(w), ipc_msg_name((int)env->msg_case));
}

/* Reply to a request with Result. */
static void
worker_send_result(struct worker *w, uint64_t request_id, int ok, int code, const char *error)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Result res = WAGATE__IPC__RESULT__INIT;

	res.ok = ok;
	res.code = code;
	res.error = (char *)(error != NULL ? error : "");
	env.request_id = request_id;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_RESULT;
	env.result = &res;
	worker_send(w, &env);
}

/* A keepalive time from Start: 0 (the library's default) when unset or out of range. */
static unsigned
worker_keepalive(uint32_t ms)
{
	return ms <= WORKER_KEEPALIVE_MAX_MS ? ms : 0;
}

/* Replace *field with a copy of s (NULL when s is empty). */
static void
worker_set_str(char **field, const char *s)
{
	free(*field);
	*field = s != NULL && *s != '\0' ? xstrdup(s) : NULL;
}

/* The parts of Start (or of Adopt's Start) that are configuration, not the session: checked, then applied.
 * 0, or -1 for an invalid message (nothing applied). */
int
worker_take_config(struct worker *w, const Wagate__Ipc__Start *st)
{
	struct settings set;
	struct proxy px;
	enum log_level level;

	if (st == NULL || !ipc_str_ok(st->instance_id, WORKER_ID_MAX) ||
	    !ipc_str_ok(st->instance_name, WORKER_NAME_MAX) || !ipc_str_ok(st->wa_url, WORKER_URL_MAX) ||
	    !ipc_str_ok(st->wa_media_url, WORKER_URL_MAX) ||
	    !ipc_str_ok(st->connect_number, WORKER_FIELD_MAX) || !ipc_str_ok(st->wa_tls_ca_file, WORKER_URL_MAX) ||
	    !ipc_str_ok(st->runtime_dir, WORKER_URL_MAX)) {
		log_warnx("%s: Start has an oversized string", worker_label(w));
		return -1;
	}
	if (strcmp(st->instance_id, w->instance_id) != 0) {
		log_warnx("%s: Start is for instance %s", worker_label(w), st->instance_id);
		return -1;
	}
	if (st->wa_root_key.len != 0 && st->wa_root_key.len != WORKER_ROOT_KEY_LEN) {
		log_warnx("%s: root key of %zu bytes", worker_label(w), st->wa_root_key.len);
		return -1;
	}
	memset(&set, 0, sizeof(set));
	memset(&px, 0, sizeof(px));
	if (settings_from_ipc(&set, st->settings) == -1 || proxy_from_ipc(&px, st->proxy) == -1) {
		log_warnx("%s: Start has an oversized setting", worker_label(w));
		settings_clear(&set);
		proxy_clear(&px);
		return -1;
	}
	settings_clear(&w->settings);
	proxy_clear(&w->proxy);
	w->settings = set;
	w->proxy = px;
	level = st->log_level >= LOG_LEVEL_ERROR && st->log_level <= LOG_LEVEL_DEBUG ?
	    (enum log_level)st->log_level : LOG_LEVEL_INFO;
	log_init("wagate-worker", level);
	worker_set_str(&w->instance_name, st->instance_name);
	if (w->instance_name == NULL)
		w->instance_name = xstrdup(w->instance_id);
	worker_set_str(&w->wa_url, st->wa_url);
	worker_set_str(&w->wa_media_url, st->wa_media_url);
	worker_set_str(&w->tls_ca_file, st->wa_tls_ca_file);
	free_wiped(w->root_key, w->root_key_len);
	w->root_key = NULL;
	w->root_key_len = 0;
	if (st->wa_root_key.len != 0) {
		w->root_key = xmalloc(st->wa_root_key.len);
		memcpy(w->root_key, st->wa_root_key.data, st->wa_root_key.len);
		w->root_key_len = st->wa_root_key.len;
	}
	w->qrcode_limit = st->qrcode_limit;
	w->qr_first_ms = st->qr_first_ms != 0 ? st->qr_first_ms : WORKER_QR_FIRST_MS;
	w->qr_next_ms = st->qr_next_ms != 0 ? st->qr_next_ms : WORKER_QR_NEXT_MS;
	w->keepalive_ms = worker_keepalive(st->keepalive_ms);
	w->keepalive_deadline_ms = worker_keepalive(st->keepalive_deadline_ms);
	worker_set_str(&w->runtime_dir, st->runtime_dir);
	w->orphan_grace_s = st->orphan_grace_s != 0 ? st->orphan_grace_s : WORKER_ORPHAN_GRACE_S;
	return 0;
}

/* Start: take the instance's state, answer Ready, hand over to the session. */
static int
worker_on_start(void *arg, const IpcEnvelope *env)
{
	struct worker *w = arg;
	const Wagate__Ipc__Start *st = env->start;
	IpcEnvelope reply = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Ready ready = WAGATE__IPC__READY__INIT;

	if (worker_take_config(w, st) == -1)
		return -1;
	if (st->creds.len != 0) {
		w->creds = xmalloc(st->creds.len);
		memcpy(w->creds, st->creds.data, st->creds.len);
		w->creds_len = st->creds.len;
		/* The envelope is freed by the reader; do not leave a second copy of the secrets behind. */
		explicit_wipe(st->creds.data, st->creds.len);
	}
	if (*st->connect_number != '\0')
		w->connect_number = xstrdup(st->connect_number);
	w->phase = WORKER_PHASE_RUNNING;

	ready.pid = (int32_t)getpid();
	ready.version = (char *)WAGATE_VERSION;
	reply.request_id = env->request_id;
	reply.msg_case = WAGATE__IPC__ENVELOPE__MSG_READY;
	reply.ready = &ready;
	worker_send(w, &reply);
	log_debug("%s: ready (%s)", worker_label(w),
	    w->creds != NULL ? "with stored credentials" : "new");

	if ((w->session = worker_session_start(w)) == NULL)
		log_warnx("%s: the session could not be created", worker_label(w));
	if (st->connect_now) {
		if (w->session != NULL)
			worker_session_connect(w->session, *st->connect_number != '\0' ? st->connect_number : NULL);
		else
			worker_report_state(w, CONN_CLOSE, REASON_BAD_SESSION, "session could not be created");
	}
	return 0;
}

/* Ping: answer at once; the supervisor measures the round trip and counts misses. */
static int
worker_on_ping(void *arg, const IpcEnvelope *env)
{
	struct worker *w = arg;
	IpcEnvelope reply = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Pong pong = WAGATE__IPC__PONG__INIT;

	pong.seq = env->ping->seq;
	pong.sent_us = env->ping->sent_us;
	reply.request_id = env->request_id;
	reply.msg_case = WAGATE__IPC__ENVELOPE__MSG_PONG;
	reply.pong = &pong;
	worker_send(w, &reply);
	return 0;
}

/* DatabaseBack: stores that failed for the database's absence go again now (msg_exec_db_back). */
static int
worker_on_database_back(void *arg, const IpcEnvelope *env)
{
	struct worker *w = arg;

	(void)env;
	if (w->session != NULL)
		msg_exec_db_back(w->session);
	return 0;
}

/* Connect: start a QR or pairing-code login. */
static int
worker_on_connect(void *arg, const IpcEnvelope *env)
{
	struct worker *w = arg;
	const char *number = env->connect->number;

	if (!ipc_str_ok(number, WORKER_FIELD_MAX))
		return -1;
	worker_send_result(w, env->request_id, 1, 0, NULL);
	if (w->session != NULL)
		worker_session_connect(w->session, *number != '\0' ? number : NULL);
	else
		worker_report_state(w, CONN_CLOSE, REASON_BAD_SESSION, "session could not be created");
	return 0;
}

/* Logout: the session unlinks the device and ends the process with IPC_EXIT_NO_RESTART. */
static int
worker_on_logout(void *arg, const IpcEnvelope *env)
{
	struct worker *w = arg;
	worker_send_result(w, env->request_id, 1, 0, NULL);
	if (w->session != NULL)
		worker_session_logout(w->session);
	else {
		worker_report_state(w, CONN_CLOSE, REASON_LOGGED_OUT, "logged out");
		worker_exit(w, IPC_EXIT_NO_RESTART);
	}
	return 0;
}

/* Shutdown: close everything and exit 0. */
static int
worker_on_shutdown(void *arg, const IpcEnvelope *env)
{
	struct worker *w = arg;
	worker_send_result(w, env->request_id, 1, 0, NULL);
	worker_exit(w, IPC_EXIT_OK);
	return 0;
}

/* UpdateSettings: replace the settings; the session reads them when it needs them. */
static int
worker_on_update_settings(void *arg, const IpcEnvelope *env)
{
	struct worker *w = arg;
	if (settings_from_ipc(&w->settings, env->update_settings->settings) == -1)
		return -1;
	worker_send_result(w, env->request_id, 1, 0, NULL);
	if (w->session != NULL)
		worker_session_update(w->session);
	return 0;
}

/* UpdateProxy: replace the proxy; it applies from the next connection. */
static int
worker_on_update_proxy(void *arg, const IpcEnvelope *env)
{
	struct worker *w = arg;
	if (proxy_from_ipc(&w->proxy, env->update_proxy->proxy) == -1)
		return -1;
	worker_send_result(w, env->request_id, 1, 0, NULL);
	if (w->session != NULL)
		worker_session_update(w->session);
	return 0;
}

/* SetPresence: our global presence, or (with to) our typing state in a chat; refused (Result !ok) unless the
 * session is open. */
static int
worker_on_set_presence(void *arg, const IpcEnvelope *env)
{
	struct worker *w = arg;
	const char *p = env->set_presence->presence, *to = env->set_presence->to;
	int rc;

	if (!ipc_str_ok(p, WORKER_FIELD_MAX) || !ipc_str_ok(to, WORKER_JID_MAX))
		return -1;
	if (*to != '\0') {
		if (strcmp(p, "composing") != 0 && strcmp(p, "recording") != 0 && strcmp(p, "paused") != 0)
			worker_send_result(w, env->request_id, 0, 0, "a chat's presence must be composing, recording or paused");
		else if (w->session == NULL || (rc = worker_session_chatstate(w->session, to, p)) == -1)
			worker_send_result(w, env->request_id, 0, REASON_CONNECTION_CLOSED, "Connection Closed");
		else if (rc == -2)
			worker_send_result(w, env->request_id, 0, 0, "to must be a user or group JID");
		else
			worker_send_result(w, env->request_id, 1, 0, NULL);
	} else if (strcmp(p, "available") != 0 && strcmp(p, "unavailable") != 0)
		worker_send_result(w, env->request_id, 0, 0, "presence must be available or unavailable");
	else if (w->session == NULL || worker_session_presence(w->session, p) == -1)
		worker_send_result(w, env->request_id, 0, REASON_CONNECTION_CLOSED, "Connection Closed");
	else
		worker_send_result(w, env->request_id, 1, 0, NULL);
	return 0;
}

/* SendMessage: checked here, answered by the session with SendResult (possibly much later). */
static int
worker_on_send_message(void *arg, const IpcEnvelope *env)
{
	struct worker *w = arg;
	const Wagate__Ipc__SendMessage *m = env->send_message;
	Wagate__Ipc__SendResult r = WAGATE__IPC__SEND_RESULT__INIT;

	if (!ipc_str_ok(m->to, WORKER_JID_MAX) || !ipc_str_ok(m->id, WORKER_MSG_ID_MAX) ||
	    m->message.len > WORKER_MESSAGE_MAX)
		return -1;
	if (w->session == NULL || *m->to == '\0' || m->message.len == 0) {
		r.code = w->session == NULL ? 503 : 400;
		r.error = (char *)(w->session == NULL ? "Connection Closed" : "to and message are required");
		r.id = m->id;
		r.remote_jid = m->to;
		worker_reply_send(w, env->request_id, &r);
		return 0;
	}
	worker_session_send(w->session, env->request_id, m->to, m->message.data, m->message.len, m->id,
	    m->start_by_ms);
	return 0;
}

/* CheckNumbers: at most WORKER_NUMBERS_MAX numbers of digits only. */
static int
worker_on_check_numbers(void *arg, const IpcEnvelope *env)
{
	struct worker *w = arg;
	const Wagate__Ipc__CheckNumbers *c = env->check_numbers;
	Wagate__Ipc__NumbersResult r = WAGATE__IPC__NUMBERS_RESULT__INIT;
	size_t i, len;

	if (c->n_numbers > WORKER_NUMBERS_MAX)
		return -1;
	for (i = 0; i < c->n_numbers; i++) {
		if (!ipc_str_ok(c->numbers[i], WORKER_NUMBER_MAX))
			return -1;
		len = strlen(c->numbers[i]);
		if (len == 0 || strspn(c->numbers[i], "0123456789") != len) {
			r.code = 400;
			r.error = (char *)"numbers must be digits only";
			worker_reply_numbers(w, env->request_id, &r);
			return 0;
		}
	}
	if (w->session == NULL) {
		r.code = 503;
		r.error = (char *)"Connection Closed";
		worker_reply_numbers(w, env->request_id, &r);
		return 0;
	}
	worker_session_check_numbers(w->session, env->request_id, c->numbers, c->n_numbers);
	return 0;
}

/* MarkRead: at most WORKER_READ_KEYS_MAX keys. */
static int
worker_on_mark_read(void *arg, const IpcEnvelope *env)
{
	struct worker *w = arg;
	const Wagate__Ipc__MarkRead *m = env->mark_read;
	size_t i;

	if (m->n_keys > WORKER_READ_KEYS_MAX)
		return -1;
	for (i = 0; i < m->n_keys; i++)
		if (m->keys[i] == NULL || !ipc_str_ok(m->keys[i]->remote_jid, WORKER_JID_MAX) ||
		    !ipc_str_ok(m->keys[i]->id, WORKER_MSG_ID_MAX) ||
		    !ipc_str_ok(m->keys[i]->participant, WORKER_JID_MAX))
			return -1;
	if (w->session == NULL)
		worker_send_result(w, env->request_id, 0, 503, "Connection Closed");
	else
		worker_session_mark_read(w->session, env->request_id, m->keys, m->n_keys);
	return 0;
}

/* Answer a group command at once (refused before the session saw it). */
static void
worker_group_refuse(struct worker *w, uint64_t request_id, int code, const char *error)
{
	Wagate__Ipc__GroupResult r = WAGATE__IPC__GROUP_RESULT__INIT;

	r.code = code;
	r.error = (char *)error;
	worker_reply_groups(w, request_id, &r);
}

/* Whether s is a user JID ("user@s.whatsapp.net" or "user@lid", no device) of at most WORKER_USER_JID_MAX. */
static int
worker_user_jid_ok(const char *s)
{
	struct wa_jid j;

	return strlen(s) <= WORKER_USER_JID_MAX && wa_jid_parse(s, &j) == 0 && wa_jid_is_user(&j) && !j.is_ad;
}

/* Whether s is a group JID ("...@g.us") of at most WORKER_JID_MAX. */
static int
worker_group_jid_ok(const char *s)
{
	struct wa_jid j;

	return wa_jid_parse(s, &j) == 0 && wa_jid_is_group(&j) && *j.user != '\0';
}

/* GroupCreate: a subject of 1..WORKER_SUBJECT_MAX bytes, at most WORKER_GROUP_USERS_MAX user JIDs. */
static int
worker_on_group_create(void *arg, const IpcEnvelope *env)
{
	struct worker *w = arg;
	const Wagate__Ipc__GroupCreate *g = env->group_create;

	/* the frame cap bounds the sizes; a missing string is a broken peer */
	if (g->subject == NULL)
		return -1;
	for (size_t i = 0; i < g->n_participants; i++)
		if (g->participants[i] == NULL)
			return -1;
	if (*g->subject == '\0' || strlen(g->subject) > WORKER_SUBJECT_MAX) {
		worker_group_refuse(w, env->request_id, 400, "the subject must be 1..1024 bytes");
		return 0;
	}
	if (g->n_participants > WORKER_GROUP_USERS_MAX) {
		worker_group_refuse(w, env->request_id, 400, "at most 256 participants");
		return 0;
	}
	for (size_t i = 0; i < g->n_participants; i++)
		if (!worker_user_jid_ok(g->participants[i])) {
			worker_group_refuse(w, env->request_id, 400, "participants must be user JIDs");
			return 0;
		}
	if (w->session == NULL)
		worker_group_refuse(w, env->request_id, 503, "Connection Closed");
	else
		worker_session_group_create(w->session, env->request_id, g->subject, g->participants,
		    g->n_participants);
	return 0;
}

/* GroupQuery: a group JID. */
static int
worker_on_group_query(void *arg, const IpcEnvelope *env)
{
	struct worker *w = arg;
	const Wagate__Ipc__GroupQuery *g = env->group_query;

	if (!ipc_str_ok(g->jid, WORKER_JID_MAX))
		return -1;
	if (!worker_group_jid_ok(g->jid))
		worker_group_refuse(w, env->request_id, 400, "jid must be a group JID (...@g.us)");
	else if (w->session == NULL)
		worker_group_refuse(w, env->request_id, 503, "Connection Closed");
	else
		worker_session_group_query(w->session, env->request_id, g->jid);
	return 0;
}

/* GroupList: nothing to check. */
static int
worker_on_group_list(void *arg, const IpcEnvelope *env)
{
	struct worker *w = arg;

	if (w->session == NULL)
		worker_group_refuse(w, env->request_id, 503, "Connection Closed");
	else
		worker_session_group_list(w->session, env->request_id);
	return 0;
}

/* Every message the supervisor may send, and when; a NULL handler is a reply to one of our requests. */
static const struct ipc_peer_dispatch worker_dispatch_table[] = {
	{ WAGATE__IPC__ENVELOPE__MSG_START, WORKER_PHASE_WAIT_START, worker_on_start },
	{ WAGATE__IPC__ENVELOPE__MSG_PING, WORKER_PHASE_RUNNING | WORKER_PHASE_EXITING, worker_on_ping },
	{ WAGATE__IPC__ENVELOPE__MSG_DATABASE_BACK, WORKER_PHASE_RUNNING | WORKER_PHASE_EXITING,
	  worker_on_database_back },
	{ WAGATE__IPC__ENVELOPE__MSG_CONNECT, WORKER_PHASE_RUNNING, worker_on_connect },
	{ WAGATE__IPC__ENVELOPE__MSG_LOGOUT, WORKER_PHASE_RUNNING, worker_on_logout },
	{ WAGATE__IPC__ENVELOPE__MSG_SHUTDOWN, WORKER_PHASE_WAIT_START | WORKER_PHASE_RUNNING | WORKER_PHASE_ORPHAN,
	  worker_on_shutdown },
	{ WAGATE__IPC__ENVELOPE__MSG_UPDATE_SETTINGS, WORKER_PHASE_RUNNING, worker_on_update_settings },
	{ WAGATE__IPC__ENVELOPE__MSG_UPDATE_PROXY, WORKER_PHASE_RUNNING, worker_on_update_proxy },
	{ WAGATE__IPC__ENVELOPE__MSG_SET_PRESENCE, WORKER_PHASE_RUNNING, worker_on_set_presence },
	{ WAGATE__IPC__ENVELOPE__MSG_SEND_MESSAGE, WORKER_PHASE_RUNNING, worker_on_send_message },
	{ WAGATE__IPC__ENVELOPE__MSG_CHECK_NUMBERS, WORKER_PHASE_RUNNING, worker_on_check_numbers },
	{ WAGATE__IPC__ENVELOPE__MSG_MARK_READ, WORKER_PHASE_RUNNING, worker_on_mark_read },
	{ WAGATE__IPC__ENVELOPE__MSG_GROUP_CREATE, WORKER_PHASE_RUNNING, worker_on_group_create },
	{ WAGATE__IPC__ENVELOPE__MSG_GROUP_QUERY, WORKER_PHASE_RUNNING, worker_on_group_query },
	{ WAGATE__IPC__ENVELOPE__MSG_GROUP_LIST, WORKER_PHASE_RUNNING, worker_on_group_list },
	{ WAGATE__IPC__ENVELOPE__MSG_STORE_ACK, WORKER_PHASE_RUNNING, NULL },
	{ WAGATE__IPC__ENVELOPE__MSG_SIGNAL_RECORDS, WORKER_PHASE_RUNNING, NULL },
	{ WAGATE__IPC__ENVELOPE__MSG_RESULT, WORKER_PHASE_RUNNING, NULL },
	{ WAGATE__IPC__ENVELOPE__MSG_ADOPT, WORKER_PHASE_ORPHAN, worker_orphan_on_adopt },
};

/* The phase the dispatch table is checked against. */
static unsigned
worker_phase_cb(void *arg)
{
	return ((struct worker *)arg)->phase;
}

/* The supervisor broke the protocol (bad frame, version, unknown, unexpected or invalid message): exit. */
static void
worker_protocol_error_cb(void *arg, const char *what)
{
	struct worker *w = arg;

	log_warnx("%s: %s", worker_label(w), what);
	worker_exit(w, 1);
}

static void worker_close_cb(void *arg, int error);

/* The callbacks of a channel to a supervisor (the spawning one on fd 3, or an adopting one). */
struct ipc_peer *
worker_peer_new(struct worker *w, int fd)
{
	struct ipc_peer_cbs cbs = { worker_dispatch_table, sizeof(worker_dispatch_table) /
	    sizeof(worker_dispatch_table[0]), worker_phase_cb, worker_protocol_error_cb, worker_close_cb, w };

	return ipc_peer_new(w->base, fd, &cbs);
}

/* The supervisor went away: wait for the next one if this worker is worth adopting, else exit cleanly. */
static void
worker_close_cb(void *arg, int error)
{
	struct worker *w = arg;

	if (w->phase == WORKER_PHASE_ORPHAN) {
		/* The one supervisor we accepted left before Adopt. */
		log_info("%s: the adopting supervisor left; exiting", worker_label(w));
		worker_exit(w, IPC_EXIT_OK);
		return;
	}
	if (worker_orphan_adoptable(w) && worker_orphan_begin(w) == 0)
		return;
	if (error)
		log_warnx("%s: IPC channel broken", worker_label(w));
	else
		log_debug("%s: supervisor closed the channel", worker_label(w));
	worker_exit(w, error ? 1 : IPC_EXIT_OK);
}

/* Everything queued was written (or the grace ran out): stop the session and leave the loop. */
static void
worker_exit_done_cb(void *arg)
{
	struct worker *w = arg;

	ipc_peer_cancel(w->ipc);
	worker_session_stop(w->session);
	w->session = NULL;
	worker_orphan_close(w);
	event_base_loopexit(w->base, NULL);
}

/* The grace for flushing ran out. */
static void
worker_exit_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	worker_exit_done_cb(arg);
}

struct worker *
worker_new(struct event_base *base, int fd, const char *instance_id)
{
	struct worker *w = xcalloc(1, sizeof(*w));

	w->base = base;
	w->phase = WORKER_PHASE_WAIT_START;
	w->instance_id = xstrdup(instance_id);
	w->lfd = -1;
	w->state = CONN_CLOSE;
	TAILQ_INIT(&w->held);
	if ((w->exit_timer = evtimer_new(base, worker_exit_timer_cb, w)) == NULL ||
	    (w->ipc = worker_peer_new(w, fd)) == NULL) {
		worker_free(w);
		return NULL;
	}
	return w;
}

void
worker_free(struct worker *w)
{
	if (w == NULL)
		return;
	/* Pending requests are cancelled first: their callbacks belong to the session (none is held now). */
	w->phase = WORKER_PHASE_EXITING;
	if (w->ipc != NULL)
		ipc_peer_cancel(w->ipc);
	worker_session_stop(w->session);
	ipc_peer_free(w->ipc);
	worker_call_free_held(w);
	worker_orphan_close(w);
	if (w->ev_grace != NULL)
		event_free(w->ev_grace);
	if (w->ev_watch != NULL)
		event_free(w->ev_watch);
	if (w->exit_timer != NULL)
		event_free(w->exit_timer);
	free(w->runtime_dir);
	free(w->detail);
	free(w->jid);
	free(w->lid);
	free(w->push_name);
	free(w->instance_id);
	free(w->instance_name);
	free(w->wa_url);
	free(w->wa_media_url);
	free(w->tls_ca_file);
	free(w->connect_number);
	free_wiped(w->root_key, w->root_key_len);
	free_wiped(w->creds, w->creds_len);
	settings_clear(&w->settings);
	proxy_clear(&w->proxy);
	free(w);
}

int
worker_exit_code(const struct worker *w)
{
	return w->exit_code;
}

void
worker_exit(struct worker *w, int code)
{
	struct timeval grace = { WORKER_EXIT_GRACE_S, 0 };

	if (w->phase == WORKER_PHASE_EXITING)
		return;
	w->phase = WORKER_PHASE_EXITING;
	w->exit_code = code;
	/* The session is stopped from a fresh loop turn: we may be inside one of its own calls. */
	evtimer_add(w->exit_timer, &grace);
	ipc_peer_drain(w->ipc, worker_exit_done_cb, w);
}

struct event_base *
worker_base(const struct worker *w)
{
	return w->base;
}

const char *
worker_instance_id(const struct worker *w)
{
	return w->instance_id;
}

const char *
worker_instance_name(const struct worker *w)
{
	return worker_label(w);
}

const char *
worker_wa_url(const struct worker *w)
{
	return w->wa_url;
}

const char *
worker_wa_media_url(const struct worker *w)
{
	return w->wa_media_url;
}

const char *
worker_wa_tls_ca_file(const struct worker *w)
{
	return w->tls_ca_file;
}

const unsigned char *
worker_wa_root_key(const struct worker *w, size_t *len)
{
	*len = w->root_key_len;
	return w->root_key;
}

const unsigned char *
worker_creds(const struct worker *w, size_t *len)
{
	*len = w->creds_len;
	return w->creds;
}

unsigned
worker_qrcode_limit(const struct worker *w)
{
	return w->qrcode_limit;
}

unsigned
worker_qr_first_ms(const struct worker *w)
{
	return w->qr_first_ms != 0 ? w->qr_first_ms : WORKER_QR_FIRST_MS;
}

unsigned
worker_qr_next_ms(const struct worker *w)
{
	return w->qr_next_ms != 0 ? w->qr_next_ms : WORKER_QR_NEXT_MS;
}

const char *
worker_connect_number(const struct worker *w)
{
	return w->connect_number;
}

const struct settings *
worker_settings(const struct worker *w)
{
	return &w->settings;
}

const struct proxy *
worker_proxy(const struct worker *w)
{
	return &w->proxy;
}

unsigned
worker_keepalive_ms(const struct worker *w)
{
	return w->keepalive_ms;
}

unsigned
worker_keepalive_deadline_ms(const struct worker *w)
{
	return w->keepalive_deadline_ms;
}

void
worker_report_state(struct worker *w, int state, int reason, const char *detail)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__ConnectionUpdate cu = WAGATE__IPC__CONNECTION_UPDATE__INIT;

	cu.state = (Wagate__Ipc__ConnState)state;
	cu.reason = reason;
	cu.detail = (char *)(detail != NULL ? detail : "");
	w->state = state;
	w->reason = reason;
	worker_set_str(&w->detail, detail);
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_CONNECTION_UPDATE;
	env.connection_update = &cu;
	log_debug("%s: state %d reason %d %s", worker_label(w), state, reason, cu.detail);
	worker_send(w, &env);
}

void
worker_report_open(struct worker *w, const char *jid, const char *lid, const char *push_name)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__ConnectionUpdate cu = WAGATE__IPC__CONNECTION_UPDATE__INIT;

	cu.state = CONN_OPEN;
	cu.reason = REASON_NONE;
	cu.detail = (char *)"logged in";
	cu.jid = (char *)(jid != NULL ? jid : "");
	cu.lid = (char *)(lid != NULL ? lid : "");
	cu.push_name = (char *)(push_name != NULL ? push_name : "");
	w->state = CONN_OPEN;
	w->reason = REASON_NONE;
	w->was_open = 1;
	worker_set_str(&w->detail, cu.detail);
	worker_set_str(&w->jid, cu.jid);
	worker_set_str(&w->lid, cu.lid);
	worker_set_str(&w->push_name, cu.push_name);
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_CONNECTION_UPDATE;
	env.connection_update = &cu;
	log_debug("%s: open as %s", worker_label(w), cu.jid);
	worker_send(w, &env);
}

void
worker_report_qr(struct worker *w, const char *qr, unsigned count, const char *pairing_code)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__QrUpdate q = WAGATE__IPC__QR_UPDATE__INIT;

	q.qr = (char *)(qr != NULL ? qr : "");
	q.count = count;
	q.pairing_code = (char *)(pairing_code != NULL ? pairing_code : "");
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_QR_UPDATE;
	env.qr_update = &q;
	worker_send(w, &env);
}

void
worker_report_log(struct worker *w, int level, const char *fmt, ...)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Log l = WAGATE__IPC__LOG__INIT;
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	l.level = level;
	l.text = text;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_LOG;
	env.log = &l;
	worker_send(w, &env);
}

void
worker_reply_send(struct worker *w, uint64_t request_id, const Wagate__Ipc__SendResult *r)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;

	env.request_id = request_id;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_SEND_RESULT;
	env.send_result = (Wagate__Ipc__SendResult *)r;
	worker_send(w, &env);
}

void
worker_reply_numbers(struct worker *w, uint64_t request_id, const Wagate__Ipc__NumbersResult *r)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;

	env.request_id = request_id;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_NUMBERS_RESULT;
	env.numbers_result = (Wagate__Ipc__NumbersResult *)r;
	worker_send(w, &env);
}

void
worker_reply_result(struct worker *w, uint64_t request_id, int ok, int code, const char *error)
{
	worker_send_result(w, request_id, ok, code, error);
}

void
worker_report_call(struct worker *w, const Wagate__Ipc__CallEvent *c)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;

	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_CALL_EVENT;
	env.call_event = (Wagate__Ipc__CallEvent *)c;
	worker_send(w, &env);
}

void
worker_reply_groups(struct worker *w, uint64_t request_id, const Wagate__Ipc__GroupResult *r)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;

	env.request_id = request_id;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_GROUP_RESULT;
	env.group_result = (Wagate__Ipc__GroupResult *)r;
	worker_send(w, &env);
}
