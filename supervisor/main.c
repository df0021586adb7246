/* wagate: the supervisor. Serves the REST API, owns PostgreSQL, spawns and watches one worker per instance. */
#include "app.h"
#include "config.h"
#include "db.h"
#include "evbase.h"
#include "http.h"
#include "lifecycle.h"
#include "log.h"
#include "manager.h"
#include "migrate.h"
#include "msg_typing.h"
#include "registry.h"
#include "webhook.h"
#include "workers.h"
#include "xmalloc.h"

#include <event2/dns.h>
#include <event2/event.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

static struct event *watchdog_ev;

/* Where wagate-worker lives when not configured: beside this binary, or in the build tree's worker/. */
static char *
main_default_worker_bin(void)
{
	char self[PATH_MAX], *dir, *path;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return xstrdup("wagate-worker");
	self[n] = '\0';
	dir = dirname(self);
	xasprintf(&path, "%s/wagate-worker", dir);
	if (access(path, X_OK) == 0)
		return path;
	free(path);
	xasprintf(&path, "%s/../worker/wagate-worker", dir);
	return path;
}

#define MAIN_DRAIN_S	3	/* the longest wait, once the loop ended, for work under way to call back */

/* The drain's deadline: only wakes the loop. */
static void
main_drain_end_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* PostgreSQL is reachable again: what waits for it goes now rather than when its own retry timer ends (the
 * instances' kept writes, webhook claims, workers whose stores failed meanwhile). */
static void
main_db_up_cb(void *arg)
{
	struct app *app = arg;

	lifecycle_db_back(app->lc);
	webhook_kick(app->webhook);
	log_debug("database reachable: %u worker(s) told", workers_db_back(app->workers));
}

static void
main_shutdown_done_cb(void *arg)
{
	struct app *app = arg;

	event_base_loopexit(app->base, NULL);
}

static void
main_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct app *app = arg;
	struct timeval grace = { 10, 0 };

	(void)what;
	if (app->shutting_down) {
		log_info("second signal: exiting now");
		event_base_loopbreak(app->base);
		return;
	}
	log_info("signal %d: shutting down", (int)sig);
	app->shutting_down = 1;
#ifdef HAVE_SYSTEMD
	sd_notify(0, "STOPPING=1");
#endif
	/* Requests waiting for a QR are answered before the HTTP server that holds them goes away; typing delays end
	 * (nothing more is sent); other calls are detached from their requests (http_stop). */
	lifecycle_wait_shutdown(app);
	msg_typing_stop_all(app);
	http_stop(app);
	/* SIGTERM (systemctl stop/restart) with adoption: leave the workers to the next supervisor (those with
	 * nothing worth keeping exit on the EOF). SIGINT (Ctrl-C of make run) stops everything. */
	if (sig == SIGTERM && app->cfg->runtime_dir != NULL) {
		log_info("leaving the workers to be adopted");
		workers_detach(app->workers);
		event_base_loopexit(app->base, NULL);
		return;
	}
	workers_shutdown(app->workers, main_shutdown_done_cb, app);
	/* Do not wait forever for workers that refuse to go. */
	event_base_loopexit(app->base, &grace);
}

static void
main_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
#ifdef HAVE_SYSTEMD
	sd_notify(0, "WATCHDOG=1");
#endif
}

static void
usage(void)
{
	printf("usage: wagate [--check-config] [--help]\n\nConfiguration is read from the environment"
	    " (and ./.env):\n");
	config_print_help();
}

int
main(int argc, char **argv)
{
	struct app app;
	struct workers_config wcfg;
	struct workers_cbs wcbs;
	struct webhook_config hcfg;
	struct event *sigint, *sigterm;
	enum log_level level = LOG_LEVEL_INFO;
	char err[4096];
	int check_only = 0, i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--check-config") == 0)
			check_only = 1;
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage();
			return 0;
		} else {
			fprintf(stderr, "wagate: unknown argument %s\n", argv[i]);
			usage();
			return 2;
		}
	}
	log_init("wagate", LOG_LEVEL_INFO);
	memset(&app, 0, sizeof(app));
	if ((app.cfg = config_load(".env", err, sizeof(err))) == NULL) {
		fprintf(stderr, "wagate: invalid configuration:\n%s", err);
		return 2;
	}
	if (log_level_parse(app.cfg->log_level, &level) == -1) {
		fprintf(stderr, "wagate: invalid configuration:\nLOG_LEVEL must be error, warn, info or debug\n");
		return 2;
	}
	if (check_only) {
		printf("configuration ok\n");
		return 0;
	}
	log_init("wagate", level);
	if (app.cfg->worker_bin == NULL)
		app.cfg->worker_bin = main_default_worker_bin();
	if (access(app.cfg->worker_bin, X_OK) != 0)
		fatal("worker binary %s", app.cfg->worker_bin);
	if (app.cfg->migrations_dir == NULL)
		app.cfg->migrations_dir = xstrdup(WAGATE_MIGRATIONS_DIR);
	if (app.cfg->manager_dir == NULL)
		app.cfg->manager_dir = xstrdup(WAGATE_MANAGER_DIR);
	/* The page is optional: without it /manager answers 404 and the API runs as usual. */
	if ((app.manager = manager_new(app.cfg->manager_dir, err, sizeof(err))) == NULL)
		log_warnx("manager page not served: %s", err);
	signal(SIGPIPE, SIG_IGN);

	if (migrate_connect_wait(app.cfg->database_uri, 60, err, sizeof(err)) == -1)
		fatalx("database: %s", err);
	if (migrate_run(app.cfg->database_uri, app.cfg->migrations_dir, err, sizeof(err)) == -1)
		fatalx("migrations: %s", err);

	if ((app.base = ev_base_new()) == NULL)
		fatalx("event_base_new failed");
	app.started = time(NULL);
	/* Only used to check proxies; a host without resolv.conf still handles IP literals. */
	if ((app.dns = evdns_base_new(app.base, EVDNS_BASE_INITIALIZE_NAMESERVERS)) == NULL)
		app.dns = evdns_base_new(app.base, 0);
	app.reg = registry_new();
	if ((app.db = db_new(app.base, app.cfg->database_uri, app.cfg->db_pool_size)) == NULL)
		fatalx("database pool could not be created");

	memset(&hcfg, 0, sizeof(hcfg));
	hcfg.global_url = app.cfg->webhook_global_url;
	hcfg.global_enabled = app.cfg->webhook_global_enabled;
	hcfg.global_by_events = app.cfg->webhook_global_by_events;
	hcfg.server_url = app.cfg->server_url;
	hcfg.global_event_enabled = config_global_event_enabled;
	hcfg.global_event_arg = app.cfg;
	hcfg.retry_min_ms = app.cfg->webhook_retry_min_ms;
	hcfg.retry_max_ms = app.cfg->webhook_retry_max_ms;
	hcfg.max_age_s = 7 * 24 * 3600;
	hcfg.concurrency = app.cfg->webhook_concurrency;
	hcfg.libcurl_only = app.cfg->webhook_libcurl;
	hcfg.request_timeout_ms = 15000;
	if ((app.webhook = webhook_new(app.base, app.db, &hcfg)) == NULL)
		fatalx("webhook delivery could not be started");

	memset(&wcfg, 0, sizeof(wcfg));
	wcfg.worker_path = app.cfg->worker_bin;
	wcfg.heartbeat_interval_ms = app.cfg->heartbeat_interval_ms;
	wcfg.heartbeat_misses = app.cfg->heartbeat_misses;
	wcfg.backoff_min_ms = app.cfg->restart_backoff_min_ms;
	wcfg.backoff_max_ms = app.cfg->restart_backoff_max_ms;
	wcfg.stable_ms = app.cfg->restart_stable_ms;
	wcfg.spawn_concurrency = app.cfg->spawn_concurrency;
	wcfg.rlimit_as_mb = (unsigned long)app.cfg->worker_rlimit_as_mb;
	wcfg.rlimit_nofile = (unsigned long)app.cfg->worker_rlimit_nofile;
	wcfg.wa_url = app.cfg->wa_websocket_url;
	wcfg.wa_media_url = app.cfg->wa_media_url;
	wcfg.wa_root_key = app.cfg->wa_root_key.set ? app.cfg->wa_root_key.key : NULL;
	wcfg.wa_root_key_len = app.cfg->wa_root_key.set ? sizeof(app.cfg->wa_root_key.key) : 0;
	wcfg.wa_tls_ca_file = app.cfg->wa_tls_ca_file;
	wcfg.log_level = (int)level;
	wcfg.qrcode_limit = (unsigned)app.cfg->qrcode_limit;
	wcfg.qr_first_ms = (unsigned)app.cfg->qr_first_ms;
	wcfg.qr_next_ms = (unsigned)app.cfg->qr_next_ms;
	wcfg.keepalive_ms = (unsigned)app.cfg->wa_keepalive_ms;
	wcfg.keepalive_deadline_ms = (unsigned)app.cfg->wa_keepalive_deadline_ms;
	wcfg.runtime_dir = app.cfg->runtime_dir;
	wcfg.orphan_grace_s = (unsigned)app.cfg->orphan_grace_s;
	memset(&wcbs, 0, sizeof(wcbs));
	wcbs.on_ready = lifecycle_on_ready;
	wcbs.on_state = lifecycle_on_state;
	wcbs.on_exit = lifecycle_on_exit;
	wcbs.on_qr = lifecycle_on_qr;
	wcbs.on_pair_success = lifecycle_on_pair_success;
	wcbs.on_store = lifecycle_on_store;
	wcbs.on_signal_load = lifecycle_on_signal_load;
	wcbs.on_msg_store = lifecycle_on_msg_store;
	wcbs.on_call = lifecycle_on_call;
	wcbs.ctx = &app;
	if ((app.workers = workers_new(app.base, &wcfg, &wcbs)) == NULL)
		fatalx("worker table could not be created");
	app.lc = lifecycle_new(&app);

	/* Loading registers every instance: its worker is adopted if one outlived the previous supervisor. */
	if (lifecycle_load(&app, err, sizeof(err)) == -1)
		fatalx("%s", err);
	workers_adopt_strays(app.workers);
	db_on_up(app.db, main_db_up_cb, &app);
	if (http_start(&app, app.cfg->server_host, app.cfg->server_port) == -1)
		fatal("cannot listen on %s port %d", app.cfg->server_host, app.cfg->server_port);
	log_info("wagate %s listening on %s port %d", WAGATE_VERSION, app.cfg->server_host, app.cfg->server_port);

	sigint = evsignal_new(app.base, SIGINT, main_signal_cb, &app);
	sigterm = evsignal_new(app.base, SIGTERM, main_signal_cb, &app);
	evsignal_add(sigint, NULL);
	evsignal_add(sigterm, NULL);
#ifdef HAVE_SYSTEMD
	{
		uint64_t usec = 0;
		if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
			struct timeval tv = { (time_t)(usec / 2000000), (suseconds_t)((usec / 2) % 1000000) };
			watchdog_ev = event_new(app.base, -1, EV_PERSIST, main_watchdog_cb, NULL);
			event_add(watchdog_ev, &tv);
		}
		sd_notify(0, "READY=1");
	}
#else
	(void)main_watchdog_cb;
#endif

	event_base_dispatch(app.base);
	webhook_stop(app.webhook);

	/* Let committed work call back (state updates, the outcomes of webhook POSTs under way) so nothing is dropped
	 * half-done. */
	{
		struct timeval deadline, now, drain = { MAIN_DRAIN_S, 0 };

		gettimeofday(&deadline, NULL);
		deadline.tv_sec += MAIN_DRAIN_S;
		/* a POST to a receiver that does not answer would hold one loop turn until its own timeout */
		if (event_base_once(app.base, -1, EV_TIMEOUT, main_drain_end_cb, NULL, &drain) == -1)
			fatalx("event_base_once failed");
		while ((db_pending(app.db) > 0 || lifecycle_pending(app.lc) > 0 || webhook_busy(app.webhook)) &&
		    db_available(app.db)) {
			event_base_loop(app.base, EVLOOP_ONCE);
			gettimeofday(&now, NULL);
			if (timercmp(&now, &deadline, >))
				break;
		}
	}
	log_info("stopped");
	if (watchdog_ev != NULL)
		event_free(watchdog_ev);
	event_free(sigint);
	event_free(sigterm);
	lifecycle_wait_shutdown(&app);
	msg_typing_stop_all(&app);
	http_stop(&app);
	db_on_up(app.db, NULL, NULL);
	workers_free(app.workers);
	webhook_free(app.webhook);
	db_free(app.db);
	lifecycle_free(app.lc);
	app.lc = NULL;
	registry_free(app.reg);
	manager_free(app.manager);
	if (app.dns != NULL)
		evdns_base_free(app.dns, 0);
	event_base_free(app.base);
	config_free(app.cfg);
	return 0;
}
