/* Configuration from the environment (and .env), Evolution's names where Evolution has the setting.
 * One table row per option; parsed once into a fresh struct and used only if every row is valid. */
#ifndef WAGATE_CONFIG_H
#define WAGATE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CONFIG_KEY_LEN	32		/* KEYTEXT_KEY_LEN */

/* A 32-byte public key given in hex or base64. */
struct config_key {
	int set;			/* 0 = not configured */
	unsigned char key[CONFIG_KEY_LEN];
};

struct config {
	int server_port;
	char *server_url;
	char *api_key;
	char *database_uri;
	char *client_name;
	int qrcode_limit;
	int qr_first_ms;			/* WA_QR_FIRST_MS: how long the first QR of an offer is shown */
	int qr_next_ms;			/* WA_QR_NEXT_MS: how long each following QR is shown */
	int del_instance_minutes;	/* 0 = off (DEL_INSTANCE=false) */
	char *webhook_global_url;
	int webhook_global_enabled;
	int webhook_global_by_events;
	uint64_t webhook_global_events;	/* WEBHOOK_EVENTS_<NAME>: bit i on = event_names[i] (event_names.h) on */
	char *log_level;
	char *wa_websocket_url;
	struct config_key wa_root_key;	/* WA_ROOT_KEY (hex or base64, an 0x05 type byte allowed); unset = WhatsApp's */
	int wa_keepalive_ms;		/* WA_KEEPALIVE_MS, passed in Start; 0 = the worker's default */
	int wa_keepalive_deadline_ms;	/* WA_KEEPALIVE_DEADLINE_MS, passed in Start; 0 = default */
	char *wa_media_url;		/* WhatsApp's media host, for downloads (history sync chunks) */
	char *wa_tls_ca_file;		/* extra CA bundle for the WhatsApp TLS connection (tests) */
	char *worker_bin;
	char *migrations_dir;
	char *manager_dir;			/* WAGATE_MANAGER_DIR; NULL = the compiled-in default */
	int db_pool_size;
	int max_body_bytes;
	int heartbeat_interval_ms;
	int heartbeat_misses;
	int restart_backoff_min_ms;
	int restart_backoff_max_ms;
	int restart_stable_ms;
	int spawn_concurrency;
	int worker_rlimit_as_mb;
	int worker_rlimit_nofile;
	int webhook_retry_min_ms;
	int webhook_retry_max_ms;
	int webhook_concurrency;
	int webhook_libcurl;
	char *cors_origin;		/* CORS_ORIGIN: "*", or a comma list of origins (spaces trimmed) */
	char *cors_methods;		/* CORS_METHODS: comma list of upper-case methods, as sent in preflights */
	int cors_credentials;		/* CORS_CREDENTIALS */
	/* Credentials encrypted at rest (supervisor/seal.h). Each key comes from its variable, its _FILE, or the
	 * systemd credential of the same role in $CREDENTIALS_DIRECTORY; unset current key = plaintext rows. */
	struct config_key creds_key;		/* WAGATE_CREDS_KEY[_FILE], credential wagate-creds-key */
	struct config_key creds_key_old;	/* WAGATE_CREDS_KEY_OLD[_FILE], credential wagate-creds-key-old */
	char *creds_key_file;			/* WAGATE_CREDS_KEY_FILE */
	char *creds_key_old_file;		/* WAGATE_CREDS_KEY_OLD_FILE */
	/* Workers outlive a supervisor restart (adoption). */
	char *runtime_dir;		/* RUNTIME_DIRECTORY; NULL = no adoption (workers exit on IPC EOF) */
	int orphan_grace_s;		/* WAGATE_ORPHAN_GRACE_S, passed in Start */
	/* issue 11, the HTTP listener (supervisor/http_guard.c) */
	char *server_host;		/* SERVER_HOST: the address to listen on, an IPv4 or IPv6 literal */
	int http_max_connections;	/* HTTP_MAX_CONNECTIONS; 0 = from RLIMIT_NOFILE (http_guard_default_max) */
	int http_max_connections_per_ip;	/* HTTP_MAX_CONNECTIONS_PER_IP; 0 = half the total cap */
	int http_request_timeout_s;	/* HTTP_REQUEST_TIMEOUT: seconds to receive a whole request */
	/* PostgreSQL outage: worker transitions kept in memory until written (supervisor/lifecycle_chain.c). */
	int pending_writes_max;		/* WAGATE_PENDING_WRITES_MAX */
	/* issue 11 (strict requests): HTTP basic credentials /metrics accepts besides the global key; both NULL = none.
	 * Evolution's names; its PROMETHEUS_METRICS, METRICS_AUTH_REQUIRED and METRICS_ALLOWED_IPS are not read. */
	char *metrics_user;		/* METRICS_USER */
	char *metrics_password;		/* METRICS_PASSWORD */
};

/* Longest RUNTIME_DIRECTORY: "<dir>/workers/<36-char uuid>.sock" must fit in a sockaddr_un (108 bytes). */
#define CONFIG_RUNTIME_DIR_MAX	57L

/* Load .env (if path exists; existing variables win), then read and validate every option.
 * On failure returns NULL and writes one message per problem into err. */
struct config *config_load(const char *dotenv_path, char *err, size_t errlen);
void config_free(struct config *cfg);
/* Print the option table (name, default, help) for --help. */
void config_print_help(void);
/* Whether the global webhook takes filter_name under cfg (a struct config *, as void * so it fits
 * webhook_config's callback); names outside the table, and a NULL cfg, answer yes. */
int config_global_event_enabled(const char *filter_name, void *cfg);
/* Whether CORS_ORIGIN lets a browser page from origin (the request's Origin header) call the API. */
int config_cors_origin_allowed(const struct config *cfg, const char *origin);

#endif
