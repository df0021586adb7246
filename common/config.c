#include "config.h"
#include "event_names.h"
#include "keytext.h"
#include "xmalloc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* OPT_ORIGINS and OPT_METHODS are strings checked (and normalised) as CORS lists */
enum opt_type { OPT_INT, OPT_BOOL, OPT_STR, OPT_MINUTES_OR_FALSE, OPT_KEY, OPT_ORIGINS, OPT_METHODS };

struct opt {
	const char *name;
	enum opt_type type;
	const char *def;	/* NULL = unset */
	long min, max;
	int required;
	size_t off;
	const char *help;
};

#define O(f) offsetof(struct config, f)


#ifndef WAGATE_DEFAULT_RLIMIT_AS_MB
#define WAGATE_DEFAULT_RLIMIT_AS_MB "1024"
#endif

static const struct opt opts[] = {
	{ "SERVER_PORT", OPT_INT, "8080", 1, 65535, 0, O(server_port), "HTTP port" },
	{ "SERVER_URL", OPT_STR, NULL, 0, 0, 0, O(server_url), "public URL, sent as server_url in webhooks" },
	{ "AUTHENTICATION_API_KEY", OPT_STR, NULL, 0, 0, 1, O(api_key), "global API key (apikey header)" },
	{ "DATABASE_CONNECTION_URI", OPT_STR, NULL, 0, 0, 1, O(database_uri), "PostgreSQL connection URI" },
	{ "DATABASE_CONNECTION_CLIENT_NAME", OPT_STR, "wagate", 0, 0, 0, O(client_name), "clientName stored on instances" },
	{ "QRCODE_LIMIT", OPT_INT, "30", 1, 1000, 0, O(qrcode_limit), "QR codes offered before giving up" },
	{ "WA_QR_FIRST_MS", OPT_INT, "60000", 100, 600000, 0, O(qr_first_ms),
	  "how long the first QR code of a pairing offer is shown (ms)" },
	{ "WA_QR_NEXT_MS", OPT_INT, "20000", 100, 600000, 0, O(qr_next_ms), "how long each following QR code is shown (ms)" },
	{ "DEL_INSTANCE", OPT_MINUTES_OR_FALSE, "false", 0, 525600, 0, O(del_instance_minutes),
	  "minutes after create to delete an instance that is not open (false = never)" },
	{ "WEBHOOK_GLOBAL_URL", OPT_STR, NULL, 0, 0, 0, O(webhook_global_url), "global webhook URL" },
	{ "WEBHOOK_GLOBAL_ENABLED", OPT_BOOL, "false", 0, 1, 0, O(webhook_global_enabled), "enable the global webhook" },
	{ "WEBHOOK_GLOBAL_WEBHOOK_BY_EVENTS", OPT_BOOL, "false", 0, 1, 0, O(webhook_global_by_events),
	  "append /<event-name> to the global URL" },
	{ "LOG_LEVEL", OPT_STR, "info", 0, 0, 0, O(log_level), "error, warn, info or debug" },
	{ "WA_WEBSOCKET_URL", OPT_STR, "wss://web.whatsapp.com/ws/chat", 0, 0, 0, O(wa_websocket_url),
	  "WhatsApp WebSocket URL" },
	{ "WA_ROOT_KEY", OPT_KEY, NULL, 0, 0, 0, O(wa_root_key), "trusted root public key (hex or base64); default WhatsApp's" },
	{ "WA_KEEPALIVE_MS", OPT_INT, "0", 0, 3600000, 0, O(wa_keepalive_ms),
	  "WhatsApp keepalive ping interval, sent to workers in Start (0 = the worker's 20-30 s)" },
	{ "WA_KEEPALIVE_DEADLINE_MS", OPT_INT, "0", 0, 3600000, 0, O(wa_keepalive_deadline_ms),
	  "unanswered keepalive time before a worker reconnects (0 = the worker's default)" },
	{ "WA_MEDIA_URL", OPT_STR, "https://mmg.whatsapp.net", 0, 0, 0, O(wa_media_url),
	  "WhatsApp media host the workers download from (history sync chunks)" },
	{ "WA_TLS_CA_FILE", OPT_STR, NULL, 0, 0, 0, O(wa_tls_ca_file), "extra CA bundle for the WhatsApp TLS connection" },
	{ "WAGATE_WORKER_BIN", OPT_STR, NULL, 0, 0, 0, O(worker_bin), "path of wagate-worker (default: beside wagate)" },
	{ "WAGATE_MIGRATIONS_DIR", OPT_STR, NULL, 0, 0, 0, O(migrations_dir), "directory of NNNN_*.sql migrations" },
	{ "WAGATE_MANAGER_DIR", OPT_STR, NULL, 0, 0, 0, O(manager_dir),
	  "directory of the manager page served at /manager (default: the installed or source tree's manager/)" },
	{ "WAGATE_DB_POOL_SIZE", OPT_INT, "4", 1, 64, 0, O(db_pool_size), "PostgreSQL connections" },
	{ "WAGATE_MAX_BODY_BYTES", OPT_INT, "1048576", 1024, 134217728, 0, O(max_body_bytes), "largest HTTP body accepted" },
	{ "WAGATE_HEARTBEAT_INTERVAL_MS", OPT_INT, "5000", 50, 600000, 0, O(heartbeat_interval_ms), "worker ping interval" },
	{ "WAGATE_HEARTBEAT_MISSES", OPT_INT, "3", 1, 100, 0, O(heartbeat_misses), "missed pings before a worker is killed" },
	{ "WAGATE_RESTART_BACKOFF_MIN_MS", OPT_INT, "1000", 10, 3600000, 0, O(restart_backoff_min_ms), "first restart delay" },
	{ "WAGATE_RESTART_BACKOFF_MAX_MS", OPT_INT, "60000", 10, 86400000, 0, O(restart_backoff_max_ms), "restart delay cap" },
	{ "WAGATE_RESTART_STABLE_MS", OPT_INT, "60000", 100, 86400000, 0, O(restart_stable_ms),
	  "uptime after which the restart backoff resets" },
	{ "WAGATE_SPAWN_CONCURRENCY", OPT_INT, "16", 1, 1024, 0, O(spawn_concurrency), "workers starting at once" },
	{ "WAGATE_WORKER_RLIMIT_AS_MB", OPT_INT, WAGATE_DEFAULT_RLIMIT_AS_MB, 0, 1048576, 0, O(worker_rlimit_as_mb), "worker address space (0 = unlimited)" },
	{ "WAGATE_WORKER_RLIMIT_NOFILE", OPT_INT, "256", 16, 1048576, 0, O(worker_rlimit_nofile), "worker open files" },
	{ "WAGATE_WEBHOOK_RETRY_MIN_MS", OPT_INT, "1000", 10, 3600000, 0, O(webhook_retry_min_ms), "first webhook retry delay" },
	{ "WAGATE_WEBHOOK_RETRY_MAX_MS", OPT_INT, "300000", 10, 86400000, 0, O(webhook_retry_max_ms), "webhook retry delay cap" },
	{ "WAGATE_WEBHOOK_CONCURRENCY", OPT_INT, "256", 1, 1024, 0, O(webhook_concurrency), "parallel webhook deliveries" },
	{ "WAGATE_WEBHOOK_LIBCURL", OPT_BOOL, "false", 0, 1, 0, O(webhook_libcurl),
	  "send plain http:// webhooks through libcurl too (default: wagate's own HTTP/1.1 client)" },
	{ "CORS_ORIGIN", OPT_ORIGINS, "*", 0, 0, 0, O(cors_origin),
	  "origins browsers may call from: * or a comma list like https://a.example,http://localhost:3000" },
	{ "CORS_METHODS", OPT_METHODS, "POST,GET,PUT,DELETE", 0, 0, 0, O(cors_methods),
	  "methods a CORS preflight allows (comma list)" },
	{ "CORS_CREDENTIALS", OPT_BOOL, "true", 0, 1, 0, O(cors_credentials),
	  "send Access-Control-Allow-Credentials: true" },
	/* credentials encrypted at rest (config_load_creds_keys) */
	{ "WAGATE_CREDS_KEY", OPT_KEY, NULL, 0, 0, 0, O(creds_key),
	  "AES-256 key sealing stored credentials (64 hex digits or base64); unset = stored in plaintext" },
	{ "WAGATE_CREDS_KEY_FILE", OPT_STR, NULL, 0, 0, 0, O(creds_key_file),
	  "file holding WAGATE_CREDS_KEY (mode 0600 or stricter); default $CREDENTIALS_DIRECTORY/wagate-creds-key" },
	{ "WAGATE_CREDS_KEY_OLD", OPT_KEY, NULL, 0, 0, 0, O(creds_key_old),
	  "previous key, still read during a rotation; rows are re-sealed with the current key at start" },
	{ "WAGATE_CREDS_KEY_OLD_FILE", OPT_STR, NULL, 0, 0, 0, O(creds_key_old_file),
	  "file holding WAGATE_CREDS_KEY_OLD; default $CREDENTIALS_DIRECTORY/wagate-creds-key-old" },
	/* Workers outlive a supervisor restart (adoption). */
	{ "RUNTIME_DIRECTORY", OPT_STR, NULL, 0, 0, 0, O(runtime_dir),
	  "directory for worker adoption sockets (systemd RuntimeDirectory=); unset = workers exit with the supervisor" },
	{ "WAGATE_ORPHAN_GRACE_S", OPT_INT, "120", 1, 86400, 0, O(orphan_grace_s),
	  "seconds an orphaned worker waits to be adopted before it exits" },
	/* issue 11, the HTTP listener */
	{ "SERVER_HOST", OPT_STR, "0.0.0.0", 0, 0, 0, O(server_host),
	  "address to listen on: 0.0.0.0 (every IPv4 address), ::, 127.0.0.1, ::1 or one of the host's addresses" },
	{ "HTTP_MAX_CONNECTIONS", OPT_INT, "0", 0, 1000000, 0, O(http_max_connections),
	  "HTTP connections held at once (0 = half of RLIMIT_NOFILE after a reserve for the database, webhooks"
	  " and accept bursts)" },
	{ "HTTP_MAX_CONNECTIONS_PER_IP", OPT_INT, "0", 0, 1000000, 0, O(http_max_connections_per_ip),
	  "HTTP connections one client address may hold (0 = half of HTTP_MAX_CONNECTIONS)" },
	{ "HTTP_REQUEST_TIMEOUT", OPT_INT, "30", 1, 3600, 0, O(http_request_timeout_s),
	  "seconds a client has to send a whole request (from the connection, or from the request's first byte)" },
	/* PostgreSQL outage (supervisor/lifecycle_chain.c). */
	{ "WAGATE_PENDING_WRITES_MAX", OPT_INT, "10000", 16, 10000000, 0, O(pending_writes_max),
	  "state writes kept in memory while PostgreSQL is away; past it the oldest transitions are coalesced" },
	/* issue 11 (strict requests): /metrics by HTTP basic auth as well as by the global key */
	{ "METRICS_USER", OPT_STR, NULL, 0, 0, 0, O(metrics_user),
	  "user name a Prometheus scraper may send (HTTP basic auth) for /metrics, with METRICS_PASSWORD" },
	{ "METRICS_PASSWORD", OPT_STR, NULL, 0, 0, 0, O(metrics_password), "password of METRICS_USER" },
};

#define CONFIG_EVENTS_PREFIX	"WEBHOOK_EVENTS_"

/* Evolution's error webhook (in its example .env), which wagate does not have: accepted so such a file
 * still loads, and ignored. */
static const char *const config_event_ignored[] = { "ERRORS", "ERRORS_WEBHOOK", NULL };

/* Read KEY=VALUE lines; existing environment variables win over the file. */
static void
config_load_dotenv(const char *path)
{
	FILE *f;
	char line[4096];

	if (path == NULL || (f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *p = line, *eq, *v, *end;

		while (isspace((unsigned char)*p))
			p++;
		if (*p == '#' || *p == '\0')
			continue;
		if (strncmp(p, "export ", 7) == 0)
			p += 7;
		if ((eq = strchr(p, '=')) == NULL)
			continue;
		*eq = '\0';
		v = eq + 1;
		end = v + strlen(v);
		while (end > v && isspace((unsigned char)end[-1]))
			*--end = '\0';
		if (end - v >= 2 && (*v == '"' || *v == '\'') && end[-1] == *v) {
			end[-1] = '\0';
			v++;
		}
		for (end = p + strlen(p); end > p && isspace((unsigned char)end[-1]);)
			*--end = '\0';
		if (*p != '\0')
			setenv(p, v, 0);
	}
	fclose(f);
}

static int
parse_bool(const char *s, int *out)
{
	if (strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0 || strcasecmp(s, "yes") == 0)
		*out = 1;
	else if (strcasecmp(s, "false") == 0 || strcmp(s, "0") == 0 || strcasecmp(s, "no") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

static int
parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static void
err_append(char *err, size_t errlen, const char *fmt, const char *a, long b, long c)
{
	size_t used = strlen(err);

	if (used + 1 < errlen)
		snprintf(err + used, errlen - used, fmt, a, b, c);
}

/* Index of the n-character name in a NULL-terminated list, or -1. */
static int
config_name_index(const char *const *list, const char *name, size_t n)
{
	int i;

	for (i = 0; list[i] != NULL; i++)
		if (strlen(list[i]) == n && strncmp(list[i], name, n) == 0)
			return i;
	return -1;
}

/*
 * Every WEBHOOK_EVENTS_<NAME> in the environment (.env already merged): known names are booleans, empty
 * means the default (true, as in Evolution), and an unknown name is refused, since a misspelt switch
 * would otherwise leave its event on without a word. 0, or -1 with messages appended to err.
 */
static int
config_load_events(struct config *cfg, char *err, size_t errlen)
{
	extern char **environ;
	const size_t plen = sizeof(CONFIG_EVENTS_PREFIX) - 1;
	char **e, var[128];
	const char *name, *eq;
	int i, b, bad = 0;

	cfg->webhook_global_events = 0;
	for (i = 0; event_names[i].name != NULL; i++)
		if (event_names[i].flags & EVENT_NAME_GLOBAL)
			cfg->webhook_global_events |= (uint64_t)1 << i;
	for (e = environ; *e != NULL; e++) {
		if (strncmp(*e, CONFIG_EVENTS_PREFIX, plen) != 0 || (eq = strchr(*e, '=')) == NULL)
			continue;
		name = *e + plen;
		snprintf(var, sizeof(var), "%.*s", (int)(eq - *e), *e);
		if ((i = event_name_find(name, (size_t)(eq - name), EVENT_NAME_GLOBAL)) >= 0) {
			if (eq[1] == '\0')
				continue;
			if (parse_bool(eq + 1, &b) == -1) {
				err_append(err, errlen, "%s must be true or false\n", var, 0, 0);
				bad = 1;
			} else if (!b)
				cfg->webhook_global_events &= ~((uint64_t)1 << i);
		} else if (config_name_index(config_event_ignored, name, (size_t)(eq - name)) == -1) {
			err_append(err, errlen, "%s: no such event (wagate --help lists them)\n", var, 0, 0);
			bad = 1;
		}
	}
	return bad ? -1 : 0;
}

/* Drop the spaces around every item of a comma list, in place. */
static void
config_trim_list(char *v)
{
	char *r = v, *w = v;

	while (*r != '\0') {
		while (*r == ' ' || *r == '\t')
			r++;
		while (*r != '\0' && *r != ',')
			*w++ = *r++;
		while (w > v && (w[-1] == ' ' || w[-1] == '\t'))
			w--;
		if (*r == ',')
			*w++ = *r++;
	}
	*w = '\0';
}

/*
 * CORS_ORIGIN: "*" or origins as browsers send them in Origin (scheme://host[:port], no path, no trailing
 * slash), since anything else could never match and would fail silently.
 */
static const char *
config_check_origins(char *v)
{
	const char *p, *item, *host;
	size_t n;

	config_trim_list(v);
	for (item = v;; item = p + 1) {
		p = strchr(item, ',');
		n = p != NULL ? (size_t)(p - item) : strlen(item);
		if (n == 0)
			return "must be * or a comma list of origins without empty items";
		if (!(n == 1 && *item == '*')) {
			if ((host = strstr(item, "://")) == NULL || host - item >= (ptrdiff_t)n || host == item)
				return "must be * or origins like https://app.example.com (scheme://host[:port])";
			host += 3;
			if (host - item >= (ptrdiff_t)n || memchr(host, '/', n - (size_t)(host - item)) != NULL ||
			    memchr(item, ' ', n) != NULL)
				return "must be * or origins like https://app.example.com (no path, no trailing slash)";
		}
		if (p == NULL)
			return NULL;
	}
}

/* CORS_METHODS: known HTTP methods only, upper-cased as browsers compare them. */
static const char *
config_check_methods(char *v)
{
	static const char *const known[] = { "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", NULL };
	char *item, *p;
	size_t n;

	config_trim_list(v);
	for (p = v; *p != '\0'; p++)
		*p = (char)toupper((unsigned char)*p);
	for (item = v;; item = p + 1) {
		p = strchr(item, ',');
		n = p != NULL ? (size_t)(p - item) : strlen(item);
		if (config_name_index(known, item, n) == -1)
			return "must be a comma list of GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS";
		if (p == NULL)
			return NULL;
	}
}

/* Largest key file read: a key and some whitespace, never a file someone pointed us at by mistake. */
#define CONFIG_KEY_FILE_MAX	256

/*
 * One creds key from a file. The file must not be readable or writable by group or others: a key anyone on
 * the host can read seals nothing. 0, or -1 with one message appended to err.
 */
static int
config_read_key_file(const char *var, const char *path, struct config_key *k, char *err, size_t errlen)
{
	char buf[CONFIG_KEY_FILE_MAX + 1], msg[512];
	struct stat st;
	ssize_t n;
	int fd, rc = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		snprintf(msg, sizeof(msg), "%s: cannot open %s: %s", var, path, strerror(errno));
		err_append(err, errlen, "%s\n", msg, 0, 0);
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode))
		snprintf(msg, sizeof(msg), "%s: %s is not a regular file", var, path);
	else if (st.st_mode & 077)
		snprintf(msg, sizeof(msg), "%s: %s is accessible to group or others (mode %03o); chmod 600 it", var,
		    path, (unsigned)(st.st_mode & 0777));
	else if ((n = read(fd, buf, sizeof(buf))) < 0)
		snprintf(msg, sizeof(msg), "%s: reading %s: %s", var, path, strerror(errno));
	else if (n > CONFIG_KEY_FILE_MAX)
		snprintf(msg, sizeof(msg), "%s: %s is longer than a key", var, path);
	else {
		buf[n] = '\0';
		if (keytext_parse(buf, k->key) == -1)
			snprintf(msg, sizeof(msg), "%s: %s must hold a 32-byte key in hex (64 digits) or base64", var,
			    path);
		else {
			k->set = 1;
			rc = 0;
		}
	}
	explicit_wipe(buf, sizeof(buf));
	close(fd);
	if (rc == -1)
		err_append(err, errlen, "%s\n", msg, 0, 0);
	return rc;
}

/* One creds key: k as the table set it from the variable, else its _FILE, else the systemd credential; both
 * the variable and the file set is refused. */
static int
config_creds_key(const char *var, const char *file, const char *credential, struct config_key *k, char *err,
    size_t errlen)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	char path[4096];

	if (k->set && file != NULL) {
		snprintf(path, sizeof(path), "%s and %s_FILE are both set; keep one", var, var);
		err_append(err, errlen, "%s\n", path, 0, 0);
		return -1;
	}
	if (k->set)
		return 0;
	if (file != NULL)
		return config_read_key_file(var, file, k, err, errlen);
	if (dir != NULL && *dir != '\0') {
		snprintf(path, sizeof(path), "%s/%s", dir, credential);
		if (access(path, F_OK) == 0)
			return config_read_key_file(var, path, k, err, errlen);
	}
	return 0;
}

/* The credentials keys (current and old), after the table set the inline ones. 0, or -1 with messages. */
static int
config_load_creds_keys(struct config *cfg, char *err, size_t errlen)
{
	int bad = 0;

	if (config_creds_key("WAGATE_CREDS_KEY", cfg->creds_key_file, "wagate-creds-key", &cfg->creds_key,
	    err, errlen) == -1)
		bad = 1;
	if (config_creds_key("WAGATE_CREDS_KEY_OLD", cfg->creds_key_old_file, "wagate-creds-key-old",
	    &cfg->creds_key_old, err, errlen) == -1)
		bad = 1;
	if (!bad && cfg->creds_key.set && cfg->creds_key_old.set &&
	    memcmp(cfg->creds_key.key, cfg->creds_key_old.key, CONFIG_KEY_LEN) == 0) {
		err_append(err, errlen, "%s is the same key as WAGATE_CREDS_KEY\n", "WAGATE_CREDS_KEY_OLD", 0, 0);
		bad = 1;
	}
	return bad ? -1 : 0;
}

struct config *
config_load(const char *dotenv_path, char *err, size_t errlen)
{
	struct config *cfg = xcalloc(1, sizeof(*cfg));
	size_t i;
	int bad = 0;

	err[0] = '\0';
	config_load_dotenv(dotenv_path);
	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		const struct opt *o = &opts[i];
		const char *v = getenv(o->name), *why;
		char msg[256];
		char *field = (char *)cfg + o->off;
		long n;
		int b;

		if (v == NULL || *v == '\0')
			v = o->def;
		if (v == NULL) {
			if (o->required) {
				err_append(err, errlen, "%s is required but not set\n", o->name, 0, 0);
				bad = 1;
			}
			continue;
		}
		switch (o->type) {
		case OPT_STR:
			*(char **)field = xstrdup(v);
			break;
		case OPT_ORIGINS:
		case OPT_METHODS:
			*(char **)field = xstrdup(v);
			why = o->type == OPT_ORIGINS ? config_check_origins(*(char **)field) :
			    config_check_methods(*(char **)field);
			if (why != NULL) {
				snprintf(msg, sizeof(msg), "%s %s", o->name, why);
				err_append(err, errlen, "%s\n", msg, 0, 0);
				bad = 1;
			}
			break;
		case OPT_BOOL:
			if (parse_bool(v, &b) == -1) {
				err_append(err, errlen, "%s must be true or false\n", o->name, 0, 0);
				bad = 1;
			} else
				*(int *)field = b;
			break;
		case OPT_INT:
			if (parse_long(v, o->min, o->max, &n) == -1) {
				err_append(err, errlen, "%s must be an integer from %ld to %ld\n", o->name, o->min, o->max);
				bad = 1;
			} else
				*(int *)field = (int)n;
			break;
		case OPT_KEY:
			if (keytext_parse(v, ((struct config_key *)field)->key) == -1) {
				err_append(err, errlen, "%s must be a 32-byte key in hex (64 digits) or base64\n",
				    o->name, 0, 0);
				bad = 1;
			} else
				((struct config_key *)field)->set = 1;
			break;
		case OPT_MINUTES_OR_FALSE:
			/* Evolution: a number of minutes arms the timer; true/false never do. */
			if (parse_bool(v, &b) == 0)
				*(int *)field = 0;
			else if (parse_long(v, o->min, o->max, &n) == 0)
				*(int *)field = (int)n;
			else {
				err_append(err, errlen, "%s must be false or a number of minutes (up to %ld)\n",
				    o->name, o->max, 0);
				bad = 1;
			}
			break;
		}
	}
	if (config_load_events(cfg, err, errlen) == -1)
		bad = 1;
	if (!bad && cfg->restart_backoff_max_ms < cfg->restart_backoff_min_ms) {
		err_append(err, errlen, "%s must not be below WAGATE_RESTART_BACKOFF_MIN_MS\n",
		    "WAGATE_RESTART_BACKOFF_MAX_MS", 0, 0);
		bad = 1;
	}
	if (!bad && cfg->webhook_global_enabled && cfg->webhook_global_url == NULL) {
		err_append(err, errlen, "%s is true but WEBHOOK_GLOBAL_URL is not set\n", "WEBHOOK_GLOBAL_ENABLED", 0, 0);
		bad = 1;
	}
	if (!bad && cfg->api_key != NULL && strlen(cfg->api_key) < 8) {
		err_append(err, errlen, "%s must be at least 8 characters\n", "AUTHENTICATION_API_KEY", 0, 0);
		bad = 1;
	}
	if (config_load_creds_keys(cfg, err, errlen) == -1)
		bad = 1;
	/* Adoption: the socket path ($RUNTIME_DIRECTORY/workers/<uuid>.sock) must fit in sun_path. */
	if (!bad && cfg->runtime_dir != NULL && (cfg->runtime_dir[0] != '/' ||
	    strlen(cfg->runtime_dir) > CONFIG_RUNTIME_DIR_MAX)) {
		err_append(err, errlen, "%s must be an absolute path of at most %ld bytes (worker sockets live there)\n",
		    "RUNTIME_DIRECTORY", CONFIG_RUNTIME_DIR_MAX, 0);
		bad = 1;
	}
	/* issue 11, the HTTP listener: a literal address, since a name could resolve to several or to none */
	if (!bad && cfg->server_host != NULL) {
		unsigned char sa[sizeof(struct in6_addr)];

		if (inet_pton(AF_INET, cfg->server_host, sa) != 1 && inet_pton(AF_INET6, cfg->server_host, sa) != 1) {
			err_append(err, errlen, "%s must be an IP address such as 0.0.0.0, 127.0.0.1, :: or ::1"
			    " (not a host name, no brackets or port)\n", "SERVER_HOST", 0, 0);
			bad = 1;
		}
	}
	if (!bad && cfg->http_max_connections > 0 && cfg->http_max_connections_per_ip > cfg->http_max_connections) {
		err_append(err, errlen, "%s must not be above HTTP_MAX_CONNECTIONS\n", "HTTP_MAX_CONNECTIONS_PER_IP", 0, 0);
		bad = 1;
	}
	/* issue 11 (strict requests): a user without a password (or the reverse) would never match, silently */
	if (!bad && (cfg->metrics_user == NULL) != (cfg->metrics_password == NULL)) {
		err_append(err, errlen, "%s and METRICS_PASSWORD must be set together\n", "METRICS_USER", 0, 0);
		bad = 1;
	}
	if (!bad && cfg->metrics_user != NULL && strchr(cfg->metrics_user, ':') != NULL) {
		err_append(err, errlen, "%s must not contain ':' (HTTP basic auth splits there)\n", "METRICS_USER", 0, 0);
		bad = 1;
	}
	if (bad) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

void
config_free(struct config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (opts[i].type == OPT_STR || opts[i].type == OPT_ORIGINS || opts[i].type == OPT_METHODS)
			free(*(char **)((char *)cfg + opts[i].off));
	/* the creds keys, and any other key material, do not outlive the struct */
	free_wiped(cfg, sizeof(*cfg));
}

void
config_print_help(void)
{
	size_t i;
	int col;

	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		printf("  %-34s %s%s%s%s\n", opts[i].name, opts[i].help, opts[i].def ? " [default " : "",
		    opts[i].def ? opts[i].def : "", opts[i].def ? "]" : (opts[i].required ? " [required]" : ""));
	printf("  %-34s %s\n", "WEBHOOK_EVENTS_<EVENT>", "false keeps one event off the global webhook [default true];"
	    " EVENT is one of:");
	for (i = 0, col = 0; event_names[i].name != NULL; i++) {
		if (!(event_names[i].flags & EVENT_NAME_GLOBAL))
			continue;
		if (col == 0)
			col = printf("  %-34s", "");
		col += printf(" %s", event_names[i].name);
		if (col > 100) {
			printf("\n");
			col = 0;
		}
	}
	if (col > 0)
		printf("\n");
	printf("  %-34s %s\n", "", "(WEBHOOK_EVENTS_ERRORS and _ERRORS_WEBHOOK, Evolution's error webhook, are ignored)");
}

/* The global webhook's per-event switch, read from the struct (the environment was read once, at load). */
int
config_global_event_enabled(const char *filter_name, void *cfg)
{
	const struct config *c = cfg;
	int i;

	if (c == NULL || filter_name == NULL ||
	    (i = event_name_find(filter_name, strlen(filter_name), EVENT_NAME_GLOBAL)) == -1)
		return 1;
	return (c->webhook_global_events >> i & 1) != 0;
}

/* CORS_ORIGIN as Evolution reads it: "*" anywhere in the list allows every origin, otherwise an exact match. */
int
config_cors_origin_allowed(const struct config *cfg, const char *origin)
{
	const char *item, *p;
	size_t n, ol = strlen(origin);

	for (item = cfg->cors_origin;; item = p + 1) {
		p = strchr(item, ',');
		n = p != NULL ? (size_t)(p - item) : strlen(item);
		if ((n == 1 && *item == '*') || (n == ol && strncmp(item, origin, n) == 0))
			return 1;
		if (p == NULL)
			return 0;
	}
}
