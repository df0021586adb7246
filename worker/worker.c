/* The worker process: IPC dispatch (one table, STYLE rule 15), settings from Start, reports to the supervisor,
 * and the worker's own requests (StoreBatch -> StoreAck, PairSuccess -> Result) with their timeouts. */
#include "worker.h"
#include "ipc.h"
#include "ipc_client.h"
#include "log.h"
#include "session.h"
#include "xmalloc.h"

#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Caps on what the supervisor may send (it is trusted, but a bug must not become a crash). */
#define WORKER_ID_MAX		128
#define WORKER_NAME_MAX		256
#define WORKER_URL_MAX		2048
#define WORKER_FIELD_MAX	1024
#define WORKER_ROOT_KEY_LEN	32
#define WORKER_EXIT_GRACE_S	5

enum worker_phase {
	WORKER_PHASE_WAIT_START = 1 << 0,	/* nothing but Start (or Shutdown) yet */
	WORKER_PHASE_RUNNING = 1 << 1,
	WORKER_PHASE_EXITING = 1 << 2,
};

struct worker {
	struct event_base *base;
	struct ipc_client *ipc;
	enum worker_phase phase;
	int exit_code;
	struct event *exit_timer;	/* leaves the loop if the supervisor stops reading */
	char *instance_id;
	char *instance_name;
	char *wa_url;
	char *tls_ca_file;
	unsigned char *root_key;
	size_t root_key_len;
	unsigned char *creds;
	size_t creds_len;
	struct worker_settings settings;
	struct worker_proxy proxy;
	struct session *session;
	unsigned qrcode_limit, qr_first_ms, qr_next_ms;
	char *connect_number;
	struct worker_request *requests;
	uint64_t next_request_id;
};

/* A request of ours waiting for the supervisor's reply. */
struct worker_request {
	struct worker_request *next;
	struct worker *w;
	uint64_t id;
	int reply_case;			/* the Envelope case that answers it */
	struct event *timer;
	worker_reply_cb cb;
	void *arg;
};

struct worker_dispatch {
	int msg_case;
	unsigned phases;		/* enum worker_phase bits in which the message is allowed */
	int (*fn)(struct worker *, const IpcEnvelope *);
};

/* The instance's name for log lines (its id until Start arrived). */
static const char *
worker_label(const struct worker *w)
{
	return w->instance_name != NULL ? w->instance_name : w->instance_id;
}

/* Queue one message for the supervisor; a failure here means the channel is gone, and EOF handles that. */
static void
worker_send(struct worker *w, IpcEnvelope *env)
{
	if (ipc_client_send(w->ipc, env) == -1)
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

/* Drop the settings strings. */
static void
worker_settings_clear(struct worker_settings *s)
{
	free(s->msg_call);
	memset(s, 0, sizeof(*s));
}

/* Drop the proxy strings (the password is wiped). */
static void
worker_proxy_clear(struct worker_proxy *p)
{
	free(p->host);
	free(p->port);
	free(p->protocol);
	free(p->username);
	if (p->password != NULL)
		free_wiped(p->password, strlen(p->password));
	memset(p, 0, sizeof(*p));
}

/* Copy Settings from a message after checking its strings. */
static int
worker_settings_copy(struct worker_settings *dst, const Wagate__Ipc__Settings *src)
{
	if (src == NULL) {
		worker_settings_clear(dst);
		return 0;
	}
	if (!ipc_str_ok(src->msg_call, WORKER_FIELD_MAX))
		return -1;
	worker_settings_clear(dst);
	dst->reject_call = src->reject_call;
	dst->msg_call = xstrdup(src->msg_call);
	dst->groups_ignore = src->groups_ignore;
	dst->always_online = src->always_online;
	dst->read_messages = src->read_messages;
	dst->read_status = src->read_status;
	dst->sync_full_history = src->sync_full_history;
	return 0;
}

/* Copy Proxy from a message after checking its strings (empty strings become NULL). */
static int
worker_proxy_copy(struct worker_proxy *dst, const Wagate__Ipc__Proxy *src)
{
	const char *f[5];
	char **d[5];
	size_t i;

	worker_proxy_clear(dst);
	if (src == NULL)
		return 0;
	f[0] = src->host, f[1] = src->port, f[2] = src->protocol, f[3] = src->username, f[4] = src->password;
	d[0] = &dst->host, d[1] = &dst->port, d[2] = &dst->protocol, d[3] = &dst->username, d[4] = &dst->password;
	for (i = 0; i < 5; i++)
		if (!ipc_str_ok(f[i], WORKER_FIELD_MAX))
			return -1;
	dst->enabled = src->enabled;
	for (i = 0; i < 5; i++)
		if (*f[i] != '\0')
			*d[i] = xstrdup(f[i]);
	return 0;
}

/* Start: take the instance's state, answer Ready, hand over to the session. */
static int
worker_on_start(struct worker *w, const IpcEnvelope *env)
{
	const Wagate__Ipc__Start *st = env->start;
	IpcEnvelope reply = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Ready ready = WAGATE__IPC__READY__INIT;
	enum log_level level;

	if (!ipc_str_ok(st->instance_id, WORKER_ID_MAX) || !ipc_str_ok(st->instance_name, WORKER_NAME_MAX) ||
	    !ipc_str_ok(st->wa_url, WORKER_URL_MAX) || !ipc_str_ok(st->connect_number, WORKER_FIELD_MAX) ||
	    !ipc_str_ok(st->wa_tls_ca_file, WORKER_URL_MAX)) {
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
	if (worker_settings_copy(&w->settings, st->settings) == -1 || worker_proxy_copy(&w->proxy, st->proxy) == -1) {
		log_warnx("%s: Start has an oversized setting", worker_label(w));
		return -1;
	}
	level = st->log_level >= LOG_LEVEL_ERROR && st->log_level <= LOG_LEVEL_DEBUG ?
	    (enum log_level)st->log_level : LOG_LEVEL_INFO;
	log_init("wagate-worker", level);
	w->instance_name = xstrdup(st->instance_name);
	if (*st->wa_url != '\0')
		w->wa_url = xstrdup(st->wa_url);
	if (*st->wa_tls_ca_file != '\0')
		w->tls_ca_file = xstrdup(st->wa_tls_ca_file);
	if (st->wa_root_key.len != 0) {
		w->root_key = xmalloc(st->wa_root_key.len);
		memcpy(w->root_key, st->wa_root_key.data, st->wa_root_key.len);
		w->root_key_len = st->wa_root_key.len;
	}
	if (st->creds.len != 0) {
		w->creds = xmalloc(st->creds.len);
		memcpy(w->creds, st->creds.data, st->creds.len);
		w->creds_len = st->creds.len;
		/* The envelope is freed by the reader; do not leave a second copy of the secrets behind. */
		explicit_wipe(st->creds.data, st->creds.len);
	}
	w->qrcode_limit = st->qrcode_limit;
	w->qr_first_ms = st->qr_first_ms != 0 ? st->qr_first_ms : WORKER_QR_FIRST_MS;
	w->qr_next_ms = st->qr_next_ms != 0 ? st->qr_next_ms : WORKER_QR_NEXT_MS;
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
			worker_report_state(w, WORKER_CLOSE, WORKER_REASON_BAD_SESSION, "session could not be created");
	}
	return 0;
}

/* Ping: answer at once; the supervisor measures the round trip and counts misses. */
static int
worker_on_ping(struct worker *w, const IpcEnvelope *env)
{
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

/* Connect: start a QR or pairing-code login. */
static int
worker_on_connect(struct worker *w, const IpcEnvelope *env)
{
	const char *number = env->connect->number;

	if (!ipc_str_ok(number, WORKER_FIELD_MAX))
		return -1;
	worker_send_result(w, env->request_id, 1, 0, NULL);
	if (w->session != NULL)
		worker_session_connect(w->session, *number != '\0' ? number : NULL);
	else
		worker_report_state(w, WORKER_CLOSE, WORKER_REASON_BAD_SESSION, "session could not be created");
	return 0;
}

/* Logout: the session unlinks the device and ends the process with IPC_EXIT_NO_RESTART. */
static int
worker_on_logout(struct worker *w, const IpcEnvelope *env)
{
	worker_send_result(w, env->request_id, 1, 0, NULL);
	if (w->session != NULL)
		worker_session_logout(w->session);
	else {
		worker_report_state(w, WORKER_CLOSE, WORKER_REASON_LOGGED_OUT, "logged out");
		worker_exit(w, IPC_EXIT_NO_RESTART);
	}
	return 0;
}

/* Shutdown: close everything and exit 0. */
static int
worker_on_shutdown(struct worker *w, const IpcEnvelope *env)
{
	worker_send_result(w, env->request_id, 1, 0, NULL);
	worker_exit(w, IPC_EXIT_OK);
	return 0;
}

/* UpdateSettings: replace the settings; the session reads them when it needs them. */
static int
worker_on_update_settings(struct worker *w, const IpcEnvelope *env)
{
	if (worker_settings_copy(&w->settings, env->update_settings->settings) == -1)
		return -1;
	worker_send_result(w, env->request_id, 1, 0, NULL);
	if (w->session != NULL)
		worker_session_update(w->session);
	return 0;
}

/* UpdateProxy: replace the proxy; it applies from the next connection. */
static int
worker_on_update_proxy(struct worker *w, const IpcEnvelope *env)
{
	if (worker_proxy_copy(&w->proxy, env->update_proxy->proxy) == -1)
		return -1;
	worker_send_result(w, env->request_id, 1, 0, NULL);
	if (w->session != NULL)
		worker_session_update(w->session);
	return 0;
}

/* Unlink and free a request (no callback). */
static void
worker_request_drop(struct worker *w, struct worker_request *r)
{
	struct worker_request **pp;

	for (pp = &w->requests; *pp != NULL; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	if (r->timer != NULL)
		event_free(r->timer);
	free(r);
}

/* Finish a request: drop it, then call back (the callback may send new requests). */
static void
worker_request_finish(struct worker *w, struct worker_request *r, int ok, const char *error)
{
	worker_reply_cb cb = r->cb;
	void *arg = r->arg;

	worker_request_drop(w, r);
	if (cb != NULL)
		cb(arg, ok, error);
}

/* Forget every pending request without calling back: the session they belong to is going away. */
static void
worker_requests_cancel(struct worker *w)
{
	while (w->requests != NULL)
		worker_request_drop(w, w->requests);
}

/* The supervisor did not answer in time: the request failed. */
static void
worker_request_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker_request *r = arg;

	(void)fd;
	(void)what;
	log_warnx("%s: no reply to request %llu within %d s", worker_label(r->w),
	    (unsigned long long)r->id, WORKER_REQUEST_TIMEOUT_S);
	worker_request_finish(r->w, r, 0, "timeout");
}

/* Send env as a request answered by reply_case; cb gets the outcome. 0 or -1. */
static int
worker_request_send(struct worker *w, IpcEnvelope *env, int reply_case, worker_reply_cb cb, void *arg)
{
	struct worker_request *r;
	struct timeval tv = { WORKER_REQUEST_TIMEOUT_S, 0 };

	if (w->phase != WORKER_PHASE_RUNNING)
		return -1;
	r = xcalloc(1, sizeof(*r));
	r->w = w;
	r->id = ++w->next_request_id;
	r->reply_case = reply_case;
	r->cb = cb;
	r->arg = arg;
	if ((r->timer = evtimer_new(w->base, worker_request_timeout_cb, r)) == NULL) {
		free(r);
		return -1;
	}
	env->request_id = r->id;
	if (ipc_client_send(w->ipc, env) == -1) {
		log_warnx("%s: could not queue %s", worker_label(w),
		    ipc_msg_name((int)env->msg_case));
		event_free(r->timer);
		free(r);
		return -1;
	}
	evtimer_add(r->timer, &tv);
	r->next = w->requests;
	w->requests = r;
	return 0;
}

/* A reply (StoreAck or Result) to one of our requests. A late reply after the timeout is only logged. */
static int
worker_on_reply(struct worker *w, const IpcEnvelope *env)
{
	struct worker_request *r;
	int ok;
	const char *error;

	if (env->msg_case == WAGATE__IPC__ENVELOPE__MSG_STORE_ACK) {
		ok = env->store_ack->ok;
		error = env->store_ack->error;
	} else {
		ok = env->result->ok;
		error = env->result->error;
	}
	if (!ipc_str_ok(error, WORKER_FIELD_MAX))
		return -1;
	for (r = w->requests; r != NULL; r = r->next)
		if (r->id == env->request_id)
			break;
	if (r == NULL) {
		log_warnx("%s: %s for unknown request %llu", worker_label(w),
		    ipc_msg_name((int)env->msg_case), (unsigned long long)env->request_id);
		return 0;
	}
	if (r->reply_case != (int)env->msg_case) {
		log_warnx("%s: %s does not answer request %llu", worker_label(w),
		    ipc_msg_name((int)env->msg_case), (unsigned long long)env->request_id);
		return -1;
	}
	worker_request_finish(w, r, ok, *error != '\0' ? error : (ok ? NULL : "failed"));
	return 0;
}

int
worker_request_store(struct worker *w, const unsigned char *creds, size_t creds_len,
    const struct worker_prekey *prekeys, size_t nprekeys, uint32_t uploaded_upto, worker_reply_cb cb, void *arg)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__StoreBatch sb = WAGATE__IPC__STORE_BATCH__INIT;
	Wagate__Ipc__PreKey *pk = NULL, **pkp = NULL;
	size_t i;
	int rc;

	sb.creds.data = (uint8_t *)creds;
	sb.creds.len = creds != NULL ? creds_len : 0;
	if (nprekeys > 0) {
		pk = xreallocarray(NULL, nprekeys, sizeof(*pk));
		pkp = xreallocarray(NULL, nprekeys, sizeof(*pkp));
		for (i = 0; i < nprekeys; i++) {
			wagate__ipc__pre_key__init(&pk[i]);
			pk[i].id = prekeys[i].id;
			pk[i].record.data = (uint8_t *)prekeys[i].record;
			pk[i].record.len = prekeys[i].len;
			pkp[i] = &pk[i];
		}
	}
	sb.n_prekeys = nprekeys;
	sb.prekeys = pkp;
	sb.prekeys_uploaded_upto = uploaded_upto;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_STORE_BATCH;
	env.store_batch = &sb;
	rc = worker_request_send(w, &env, WAGATE__IPC__ENVELOPE__MSG_STORE_ACK, cb, arg);
	free(pk);
	free(pkp);
	return rc;
}

int
worker_request_paired(struct worker *w, const char *jid, const char *lid, const char *push_name,
    const char *platform, const char *business_name, const unsigned char *creds, size_t creds_len,
    worker_reply_cb cb, void *arg)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__PairSuccess p = WAGATE__IPC__PAIR_SUCCESS__INIT;

	p.jid = (char *)(jid != NULL ? jid : "");
	p.lid = (char *)(lid != NULL ? lid : "");
	p.push_name = (char *)(push_name != NULL ? push_name : "");
	p.platform = (char *)(platform != NULL ? platform : "");
	p.business_name = (char *)(business_name != NULL ? business_name : "");
	p.creds.data = (uint8_t *)creds;
	p.creds.len = creds_len;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_PAIR_SUCCESS;
	env.pair_success = &p;
	return worker_request_send(w, &env, WAGATE__IPC__ENVELOPE__MSG_RESULT, cb, arg);
}

/* Every message the supervisor may send, and when. */
static const struct worker_dispatch worker_dispatch_table[] = {
	{ WAGATE__IPC__ENVELOPE__MSG_START, WORKER_PHASE_WAIT_START, worker_on_start },
	{ WAGATE__IPC__ENVELOPE__MSG_PING, WORKER_PHASE_RUNNING | WORKER_PHASE_EXITING, worker_on_ping },
	{ WAGATE__IPC__ENVELOPE__MSG_CONNECT, WORKER_PHASE_RUNNING, worker_on_connect },
	{ WAGATE__IPC__ENVELOPE__MSG_LOGOUT, WORKER_PHASE_RUNNING, worker_on_logout },
	{ WAGATE__IPC__ENVELOPE__MSG_SHUTDOWN, WORKER_PHASE_WAIT_START | WORKER_PHASE_RUNNING, worker_on_shutdown },
	{ WAGATE__IPC__ENVELOPE__MSG_UPDATE_SETTINGS, WORKER_PHASE_RUNNING, worker_on_update_settings },
	{ WAGATE__IPC__ENVELOPE__MSG_UPDATE_PROXY, WORKER_PHASE_RUNNING, worker_on_update_proxy },
	{ WAGATE__IPC__ENVELOPE__MSG_STORE_ACK, WORKER_PHASE_RUNNING, worker_on_reply },
	{ WAGATE__IPC__ENVELOPE__MSG_RESULT, WORKER_PHASE_RUNNING, worker_on_reply },
};

/* One frame from the supervisor: version, then the table; anything else ends this process. */
static void
worker_msg_cb(void *arg, IpcEnvelope *env)
{
	struct worker *w = arg;
	const struct worker_dispatch *d = NULL;
	size_t i;

	if (w->phase == WORKER_PHASE_EXITING && env->msg_case != WAGATE__IPC__ENVELOPE__MSG_PING)
		return;
	if (env->version != IPC_VERSION) {
		log_warnx("%s: IPC version %u, expected %u", worker_label(w), env->version,
		    IPC_VERSION);
		worker_exit(w, 1);
		return;
	}
	for (i = 0; i < sizeof(worker_dispatch_table) / sizeof(worker_dispatch_table[0]); i++)
		if (worker_dispatch_table[i].msg_case == (int)env->msg_case)
			d = &worker_dispatch_table[i];
	if (d == NULL || !(d->phases & w->phase)) {
		log_warnx("%s: %s message %s", worker_label(w), d == NULL ? "unknown" : "unexpected",
		    ipc_msg_name((int)env->msg_case));
		worker_exit(w, 1);
		return;
	}
	if (d->fn(w, env) == -1) {
		log_warnx("%s: invalid %s", worker_label(w), ipc_msg_name((int)env->msg_case));
		worker_exit(w, 1);
	}
}

/* The supervisor went away (or sent a bad frame): exit cleanly. */
static void
worker_close_cb(void *arg, int error)
{
	struct worker *w = arg;

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

	worker_requests_cancel(w);
	worker_session_stop(w->session);
	w->session = NULL;
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
	struct ipc_client_cbs cbs = { worker_msg_cb, worker_close_cb, w };

	w->base = base;
	w->phase = WORKER_PHASE_WAIT_START;
	w->instance_id = xstrdup(instance_id);
	if ((w->exit_timer = evtimer_new(base, worker_exit_timer_cb, w)) == NULL ||
	    (w->ipc = ipc_client_new(base, fd, &cbs)) == NULL) {
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
	worker_requests_cancel(w);
	worker_session_stop(w->session);
	ipc_client_free(w->ipc);
	if (w->exit_timer != NULL)
		event_free(w->exit_timer);
	free(w->instance_id);
	free(w->instance_name);
	free(w->wa_url);
	free(w->tls_ca_file);
	free(w->connect_number);
	free_wiped(w->root_key, w->root_key_len);
	free_wiped(w->creds, w->creds_len);
	worker_settings_clear(&w->settings);
	worker_proxy_clear(&w->proxy);
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
	ipc_client_drain(w->ipc, worker_exit_done_cb, w);
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

const struct worker_settings *
worker_settings(const struct worker *w)
{
	return &w->settings;
}

const struct worker_proxy *
worker_proxy(const struct worker *w)
{
	return &w->proxy;
}

void
worker_report_state(struct worker *w, int state, int reason, const char *detail)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__ConnectionUpdate cu = WAGATE__IPC__CONNECTION_UPDATE__INIT;

	cu.state = (Wagate__Ipc__ConnState)state;
	cu.reason = reason;
	cu.detail = (char *)(detail != NULL ? detail : "");
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

	cu.state = WAGATE__IPC__CONN_STATE__CONN_STATE_OPEN;
	cu.reason = WORKER_REASON_NONE;
	cu.detail = (char *)"logged in";
	cu.jid = (char *)(jid != NULL ? jid : "");
	cu.lid = (char *)(lid != NULL ? lid : "");
	cu.push_name = (char *)(push_name != NULL ? push_name : "");
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
