/* The supervisor's worker table: the records, their phases, the public API, and spawn pacing (at most
 * spawn_concurrency spawned-but-not-Ready at once). The roles around it are in worker_*.c (workers_int.h). */
#include "workers_int.h"
#include "log.h"
#include "xmalloc.h"

#include <event2/event.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Milliseconds on the monotonic clock. */
int64_t
workers_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Microseconds on the monotonic clock. */
int64_t
workers_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* (Re)arm a one-shot timer in milliseconds. */
void
workers_timer_ms(struct event *ev, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(ev, &tv);
}

/* The live record of an instance (removed ones are forgotten already). */
struct worker_rec *
workers_find(const struct workers *w, const char *id)
{
	struct worker_rec *wk;

	if (id == NULL)
		return NULL;
	TAILQ_FOREACH(wk, &w->all, entry)
		if (!wk->removed && strcmp(wk->id, id) == 0)
			return wk;
	return NULL;
}

/* A process (spawned or adopted) now stands behind the record: a new generation, no leftovers of the last. */
void
workers_begin(struct worker_rec *wk, pid_t pid)
{
	wk->pid = pid;
	wk->gen++;
	wk->started_ms = workers_now_ms();
	wk->kill_reason[0] = '\0';
	wk->protocol_error = 0;
	wk->misses = 0;
	wk->ping_outstanding = 0;
	wk->stop_sent = 0;
	wk->logged_out = 0;
	workers_set_phase(wk, WK_STARTING);
}

/* The worker answered Start (Ready) or Adopt (Adopted): tell the owner, send a Connect that waited for it. */
void
workers_ready(struct worker_rec *wk)
{
	struct workers *w = wk->w;

	evtimer_del(wk->timer);
	workers_set_phase(wk, WK_READY);
	wk->misses = 0;
	wk->ping_outstanding = 0;
	if (w->cbs.on_ready != NULL)
		w->cbs.on_ready(w->cbs.ctx, wk->id, wk->pid);
}

/* After workers_ready and anything the owner must see first: a queued Connect goes out, the queue moves. */
void
workers_ready_done(struct worker_rec *wk)
{
	if (wk->pending_connect && wk->phase == WK_READY) {
		wk->pending_connect = 0;
		worker_ipc_send_connect(wk, wk->pending_number);
		free(wk->pending_number);
		wk->pending_number = NULL;
	}
	workers_pump(wk->w);
}

/* Change phase, keeping the counters and the spawn queue in step. */
void
workers_set_phase(struct worker_rec *wk, enum worker_phase phase)
{
	struct workers *w = wk->w;

	if (wk->phase == phase)
		return;
	if (wk->phase == WK_STARTING)
		w->nstarting--;
	else if (wk->phase == WK_READY)
		w->nready--;
	else if (wk->phase == WK_QUEUED)
		TAILQ_REMOVE(&w->queue, wk, qentry);
	wk->phase = phase;
	if (phase == WK_STARTING)
		w->nstarting++;
	else if (phase == WK_READY)
		w->nready++;
	else if (phase == WK_QUEUED)
		TAILQ_INSERT_TAIL(&w->queue, wk, qentry);
}

/* Release the copied spec fields. */
static void
workers_spec_clear(struct worker_rec *wk)
{
	free(wk->name);
	wk->name = NULL;
	settings_clear(&wk->settings);
	proxy_clear(&wk->proxy);
	free_wiped(wk->creds, wk->creds_len);
	wk->creds = NULL;
	wk->creds_len = 0;
}

/* Take a copy of everything Start needs from spec. */
static void
workers_spec_copy(struct worker_rec *wk, const struct worker_spec *spec)
{
	workers_spec_clear(wk);
	wk->name = xstrdup(spec->instance_name != NULL ? spec->instance_name : spec->instance_id);
	settings_copy(&wk->settings, spec->settings);
	proxy_copy(&wk->proxy, spec->proxy);
	wk->connect_now = spec->connect_now;
	if (spec->creds != NULL && spec->creds_len > 0) {
		wk->creds = xmalloc(spec->creds_len);
		memcpy(wk->creds, spec->creds, spec->creds_len);
		wk->creds_len = spec->creds_len;
	}
}

/* Spawn queued workers while fewer than spawn_concurrency are starting. */
void
workers_pump(struct workers *w)
{
	struct worker_rec *wk;

	while (!w->shutting_down && w->nstarting < (unsigned)w->cfg.spawn_concurrency &&
	    (wk = TAILQ_FIRST(&w->queue)) != NULL) {
		workers_set_phase(wk, WK_IDLE);
		if (worker_spawn(wk) == -1)
			worker_reap_schedule_restart(wk);
	}
}

/* Put a worker without a process in the spawn queue. */
void
workers_enqueue(struct worker_rec *wk)
{
	evtimer_del(wk->timer);
	workers_set_phase(wk, WK_QUEUED);
	workers_pump(wk->w);
}

/* Everything stopped during workers_shutdown: tell the caller on a fresh loop turn. */
void
workers_check_done(struct workers *w)
{
	struct worker_rec *wk;

	if (!w->shutting_down || w->done == NULL)
		return;
	TAILQ_FOREACH(wk, &w->all, entry)
		if (wk->phase & WK_ALIVE)
			return;
	event_active(w->done_ev, EV_TIMEOUT, 0);
}

/* Per-worker timer: the meaning depends on the phase. */
static void
workers_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker_rec *wk = arg;

	(void)fd;
	(void)what;
	switch (wk->phase) {
	case WK_BACKOFF:
		workers_enqueue(wk);
		break;
	case WK_STARTING:
		log_warnx("%s: worker %d did not answer Start; killing it", wk->name, (int)wk->pid);
		worker_reap_kill(wk, "no Ready in time");
		break;
	case WK_STOPPING:
		log_warnx("%s: worker %d did not stop in time; killing it", wk->name, (int)wk->pid);
		worker_reap_kill(wk, "did not stop in time");
		break;
	default:
		break;
	}
}

/* Release one record and everything it holds. */
static void
workers_rec_free(struct worker_rec *wk)
{
	worker_req_free_all(wk);
	worker_ipc_close(wk);
	worker_adopt_forget(wk);
	event_free(wk->timer);
	workers_spec_clear(wk);
	free(wk->pending_number);
	free(wk->id);
	free(wk);
}

/* Free records marked dead, outside any of their callbacks (STYLE rule 10). */
static void
workers_gc_cb(evutil_socket_t fd, short what, void *arg)
{
	struct workers *w = arg;
	struct worker_rec *wk, *next;

	(void)fd;
	(void)what;
	for (wk = TAILQ_FIRST(&w->all); wk != NULL; wk = next) {
		next = TAILQ_NEXT(wk, entry);
		if (!wk->dead)
			continue;
		workers_set_phase(wk, WK_IDLE);
		TAILQ_REMOVE(&w->all, wk, entry);
		workers_rec_free(wk);
	}
}

/* workers_shutdown finished. */
static void
workers_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct workers *w = arg;
	void (*done)(void *) = w->done;

	(void)fd;
	(void)what;
	w->done = NULL;
	if (done != NULL)
		done(w->done_arg);
}

struct workers *
workers_new(struct event_base *base, const struct workers_config *cfg, const struct workers_cbs *cbs)
{
	struct workers *w;
	struct timeval sweep = { WORKERS_SWEEP_MS / 1000, (WORKERS_SWEEP_MS % 1000) * 1000 }, hb;

	if (cfg->worker_path == NULL)
		return NULL;
	w = xcalloc(1, sizeof(*w));
	w->base = base;
	w->cfg = *cfg;
	w->cfg.worker_path = xstrdup(cfg->worker_path);
	w->cfg.wa_url = cfg->wa_url != NULL && *cfg->wa_url != '\0' ? xstrdup(cfg->wa_url) : NULL;
	w->cfg.wa_media_url = cfg->wa_media_url != NULL && *cfg->wa_media_url != '\0' ? xstrdup(cfg->wa_media_url) :
	    NULL;
	w->cfg.wa_tls_ca_file = cfg->wa_tls_ca_file != NULL && *cfg->wa_tls_ca_file != '\0' ?
	    xstrdup(cfg->wa_tls_ca_file) : NULL;
	w->cfg.runtime_dir = cfg->runtime_dir != NULL && *cfg->runtime_dir != '\0' ? xstrdup(cfg->runtime_dir) : NULL;
	if (cfg->wa_root_key != NULL && cfg->wa_root_key_len > 0) {
		unsigned char *k = xmalloc(cfg->wa_root_key_len);
		memcpy(k, cfg->wa_root_key, cfg->wa_root_key_len);
		w->cfg.wa_root_key = k;
	} else {
		w->cfg.wa_root_key = NULL;
		w->cfg.wa_root_key_len = 0;
	}
	if (w->cfg.heartbeat_interval_ms <= 0)
		w->cfg.heartbeat_interval_ms = 5000;
	if (w->cfg.heartbeat_misses <= 0)
		w->cfg.heartbeat_misses = 3;
	if (w->cfg.backoff_min_ms <= 0)
		w->cfg.backoff_min_ms = 1000;
	if (w->cfg.backoff_max_ms <= 0)
		w->cfg.backoff_max_ms = 60000;
	if (w->cfg.backoff_max_ms < w->cfg.backoff_min_ms)
		w->cfg.backoff_max_ms = w->cfg.backoff_min_ms;
	if (w->cfg.stable_ms <= 0)
		w->cfg.stable_ms = 60000;
	if (w->cfg.spawn_concurrency <= 0)
		w->cfg.spawn_concurrency = 16;
	if (w->cfg.rlimit_nofile == 0)
		w->cfg.rlimit_nofile = 256;
	w->send_timeout_ms = WORKERS_SEND_TIMEOUT_MS;
	w->query_timeout_ms = WORKERS_QUERY_TIMEOUT_MS;
	if (cbs != NULL)
		w->cbs = *cbs;
	TAILQ_INIT(&w->all);
	TAILQ_INIT(&w->queue);
	hb.tv_sec = w->cfg.heartbeat_interval_ms / 1000;
	hb.tv_usec = (w->cfg.heartbeat_interval_ms % 1000) * 1000;
	w->sigchld = evsignal_new(base, SIGCHLD, worker_reap_sigchld_cb, w);
	w->sweep = event_new(base, -1, EV_PERSIST, worker_reap_sweep_cb, w);
	w->heartbeat = event_new(base, -1, EV_PERSIST, worker_heartbeat_cb, w);
	w->gc = event_new(base, -1, 0, workers_gc_cb, w);
	w->done_ev = event_new(base, -1, 0, workers_done_cb, w);
	if (w->sigchld == NULL || w->sweep == NULL || w->heartbeat == NULL || w->gc == NULL || w->done_ev == NULL ||
	    evsignal_add(w->sigchld, NULL) == -1 || event_add(w->sweep, &sweep) == -1 ||
	    event_add(w->heartbeat, &hb) == -1) {
		workers_free(w);
		return NULL;
	}
	return w;
}

void
workers_free(struct workers *w)
{
	struct worker_rec *wk;

	if (w == NULL)
		return;
	while ((wk = TAILQ_FIRST(&w->all)) != NULL) {
		if ((wk->phase & WK_ALIVE) && wk->pid > 0)
			kill(wk->pid, SIGTERM);
		workers_set_phase(wk, WK_IDLE);
		TAILQ_REMOVE(&w->all, wk, entry);
		workers_rec_free(wk);
	}
	if (w->sigchld != NULL)
		event_free(w->sigchld);
	if (w->sweep != NULL)
		event_free(w->sweep);
	if (w->heartbeat != NULL)
		event_free(w->heartbeat);
	if (w->gc != NULL)
		event_free(w->gc);
	if (w->done_ev != NULL)
		event_free(w->done_ev);
	free((char *)w->cfg.worker_path);
	free((char *)w->cfg.wa_url);
	free((char *)w->cfg.wa_media_url);
	free((char *)w->cfg.wa_tls_ca_file);
	free((char *)w->cfg.runtime_dir);
	free_wiped((void *)w->cfg.wa_root_key, w->cfg.wa_root_key_len);
	free(w);
}

int
workers_add(struct workers *w, const struct worker_spec *spec)
{
	struct worker_rec *wk;

	if (spec->instance_id == NULL || *spec->instance_id == '\0' || strlen(spec->instance_id) > 128 ||
	    workers_find(w, spec->instance_id) != NULL)
		return -1;
	wk = xcalloc(1, sizeof(*wk));
	wk->w = w;
	wk->id = xstrdup(spec->instance_id);
	wk->pidfd = -1;
	TAILQ_INIT(&wk->reqs);
	if ((wk->timer = evtimer_new(w->base, workers_timer_cb, wk)) == NULL) {
		free(wk->id);
		free(wk);
		return -1;
	}
	workers_spec_copy(wk, spec);
	wk->phase = WK_IDLE;
	TAILQ_INSERT_TAIL(&w->all, wk, entry);
	/* A live worker of this instance that outlived the previous supervisor is taken over, not doubled. */
	if (!w->shutting_down && worker_adopt_try(wk) == -1)
		workers_enqueue(wk);
	return 0;
}

int
workers_update(struct workers *w, const struct worker_spec *spec)
{
	struct worker_rec *wk = workers_find(w, spec->instance_id);
	unsigned char *creds;
	size_t creds_len;
	int connect_now;

	if (wk == NULL)
		return -1;
	/* Credentials are not part of a settings update: keep the ones we hold unless new ones are given. */
	creds = wk->creds;
	creds_len = wk->creds_len;
	wk->creds = NULL;
	wk->creds_len = 0;
	connect_now = wk->connect_now;
	workers_spec_copy(wk, spec);
	/* Nor is connect_now: whether a paired instance reconnects after a restart is not a setting. */
	wk->connect_now = connect_now;
	if (wk->creds == NULL) {
		wk->creds = creds;
		wk->creds_len = creds_len;
	} else
		free_wiped(creds, creds_len);
	if (wk->phase != WK_READY)
		return 0;	/* the next Start carries the new values */
	return worker_ipc_send_update(wk);
}

int
workers_remove(struct workers *w, const char *instance_id)
{
	struct worker_rec *wk = workers_find(w, instance_id);

	if (wk == NULL)
		return -1;
	wk->removed = 1;
	wk->pending_connect = 0;
	if (wk->phase & WK_ALIVE) {
		worker_reap_stop(wk);
		return 0;
	}
	evtimer_del(wk->timer);
	workers_set_phase(wk, WK_IDLE);
	wk->dead = 1;
	event_active(w->gc, EV_TIMEOUT, 0);
	return 0;
}

int
workers_restart(struct workers *w, const char *instance_id)
{
	struct worker_rec *wk = workers_find(w, instance_id);

	if (wk == NULL || w->shutting_down)
		return -1;
	wk->fails = 0;
	switch (wk->phase) {
	case WK_STARTING:
	case WK_READY:
		wk->restart_now = 1;
		worker_reap_stop(wk);
		break;
	case WK_STOPPING:
		wk->restart_now = 1;
		break;
	case WK_IDLE:
	case WK_BACKOFF:
		workers_enqueue(wk);
		break;
	case WK_QUEUED:
		break;
	}
	return 0;
}

int
workers_connect(struct workers *w, const char *instance_id, const char *number_or_null)
{
	struct worker_rec *wk = workers_find(w, instance_id);

	if (wk == NULL || w->shutting_down)
		return -1;
	switch (wk->phase) {
	case WK_READY:
		return worker_ipc_send_connect(wk, number_or_null);
	case WK_STOPPING:
		if (!wk->restart_now)
			return -1;
		/* A restart is under way: the successor's Start carries the Connect. */
		free(wk->pending_number);
		wk->pending_number = number_or_null != NULL ? xstrdup(number_or_null) : NULL;
		wk->pending_connect = 1;
		return 0;
	case WK_BACKOFF:
		return -1;
	case WK_IDLE:
	case WK_QUEUED:
	case WK_STARTING:
		/* Sent in Start (not spawned yet) or right after Ready (spawned). */
		free(wk->pending_number);
		wk->pending_number = number_or_null != NULL ? xstrdup(number_or_null) : NULL;
		wk->pending_connect = 1;
		if (wk->phase == WK_IDLE)
			workers_enqueue(wk);
		return 0;
	}
	return -1;
}

int
workers_logout(struct workers *w, const char *instance_id)
{
	struct worker_rec *wk = workers_find(w, instance_id);

	if (wk == NULL || wk->phase != WK_READY)
		return -1;
	/* The stored credentials are void from now on, whatever the worker manages to do. */
	workers_forget_creds(w, instance_id);
	wk->logged_out = 1;
	return worker_ipc_send_empty(wk, WAGATE__IPC__ENVELOPE__MSG_LOGOUT);
}

/* Send SetPresence to a ready worker; cb gets its Result, or the timeout, or the worker's end. */
int
workers_set_presence(struct workers *w, const char *instance_id, const char *to, const char *presence,
    workers_result_cb cb, void *arg)
{
	struct worker_rec *wk = workers_find(w, instance_id);

	if (wk == NULL || wk->phase != WK_READY)
		return -1;
	return worker_ipc_send_presence(wk, to, presence, cb, arg);
}

pid_t
workers_pid(const struct workers *w, const char *instance_id)
{
	struct worker_rec *wk = workers_find(w, instance_id);

	return wk != NULL && (wk->phase & WK_ALIVE) ? wk->pid : 0;
}

unsigned
workers_restarts(const struct workers *w, const char *instance_id)
{
	struct worker_rec *wk = workers_find(w, instance_id);

	return wk != NULL ? wk->restarts : 0;
}

void
workers_foreach(const struct workers *w,
    void (*fn)(const char *instance_id, pid_t pid, unsigned restarts, void *arg), void *arg)
{
	struct worker_rec *wk;

	TAILQ_FOREACH(wk, &w->all, entry)
		if (!wk->removed)
			fn(wk->id, (wk->phase & WK_ALIVE) ? wk->pid : 0, wk->restarts, arg);
}

unsigned
workers_db_back(struct workers *w)
{
	struct worker_rec *wk;
	unsigned n = 0;

	TAILQ_FOREACH(wk, &w->all, entry)
		if (!wk->removed && wk->phase == WK_READY &&
		    worker_ipc_send_empty(wk, WAGATE__IPC__ENVELOPE__MSG_DATABASE_BACK) == 0)
			n++;
	return n;
}

unsigned
workers_ready_count(const struct workers *w)
{
	return w != NULL ? w->nready : 0;
}

unsigned
workers_starting_count(const struct workers *w)
{
	return w != NULL ? w->nstarting : 0;
}

double
workers_ipc_latency_ms(const struct workers *w)
{
	return w != NULL ? w->latency_ms : 0.0;
}

void
workers_shutdown(struct workers *w, void (*done)(void *arg), void *arg)
{
	struct worker_rec *wk;

	w->shutting_down = 1;
	w->done = done;
	w->done_arg = arg;
	TAILQ_FOREACH(wk, &w->all, entry) {
		wk->pending_connect = 0;
		if (wk->phase & WK_ALIVE)
			worker_reap_stop(wk);
		else {
			evtimer_del(wk->timer);
			workers_set_phase(wk, WK_IDLE);
		}
	}
	workers_check_done(w);
}

