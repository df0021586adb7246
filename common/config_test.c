/* config: defaults, validation messages, .env loading, Evolution's DEL_INSTANCE rule, WEBHOOK_EVENTS_*,
 * WA_ROOT_KEY. */
#include "config.h"
#include "event_names.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

extern char **environ;

/* Unset every WEBHOOK_EVENTS_* variable (names copied first: unsetenv reshuffles environ). */
static void
clear_events_env(void)
{
	char name[256];
	char **e;
	size_t n;

	for (;;) {
		for (e = environ; *e != NULL; e++)
			if (strncmp(*e, "WEBHOOK_EVENTS_", 15) == 0)
				break;
		if (*e == NULL)
			return;
		n = strcspn(*e, "=");
		snprintf(name, sizeof(name), "%.*s", (int)n, *e);
		unsetenv(name);
	}
}

static void
clear_env(void)
{
	clear_events_env();
	unsetenv("WA_ROOT_KEY");
	unsetenv("AUTHENTICATION_API_KEY");
	unsetenv("DATABASE_CONNECTION_URI");
	unsetenv("SERVER_PORT");
	unsetenv("DEL_INSTANCE");
	unsetenv("WEBHOOK_GLOBAL_ENABLED");
	unsetenv("WEBHOOK_GLOBAL_URL");
	unsetenv("QRCODE_LIMIT");
	unsetenv("WA_QR_FIRST_MS");
	unsetenv("WA_QR_NEXT_MS");
	unsetenv("CORS_ORIGIN");
	unsetenv("CORS_METHODS");
	unsetenv("CORS_CREDENTIALS");
	unsetenv("WAGATE_CREDS_KEY");
	unsetenv("WAGATE_CREDS_KEY_FILE");
	unsetenv("WAGATE_CREDS_KEY_OLD");
	unsetenv("WAGATE_CREDS_KEY_OLD_FILE");
	unsetenv("CREDENTIALS_DIRECTORY");
}

static void
test_config_required(void **state)
{
	char err[1024];

	(void)state;
	clear_env();
	assert_null(config_load(NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "AUTHENTICATION_API_KEY is required"));
	assert_non_null(strstr(err, "DATABASE_CONNECTION_URI is required"));
}

static void
test_config_defaults_and_bounds(void **state)
{
	struct config *cfg;
	char err[1024];

	(void)state;
	clear_env();
	setenv("AUTHENTICATION_API_KEY", "0123456789AB", 1);
	setenv("DATABASE_CONNECTION_URI", "postgresql://x/y", 1);
	cfg = config_load(NULL, err, sizeof(err));
	assert_non_null(cfg);
	assert_int_equal(cfg->server_port, 8080);
	assert_int_equal(cfg->qrcode_limit, 30);
	assert_int_equal(cfg->qr_first_ms, 60000);
	assert_int_equal(cfg->qr_next_ms, 20000);
	assert_int_equal(cfg->del_instance_minutes, 0);
	assert_string_equal(cfg->wa_websocket_url, "wss://web.whatsapp.com/ws/chat");
	config_free(cfg);

	setenv("SERVER_PORT", "70000", 1);
	setenv("DEL_INSTANCE", "maybe", 1);
	assert_null(config_load(NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "SERVER_PORT must be an integer from 1 to 65535"));
	assert_non_null(strstr(err, "DEL_INSTANCE must be false or a number of minutes"));
	unsetenv("SERVER_PORT");
	unsetenv("DEL_INSTANCE");

	setenv("WA_QR_FIRST_MS", "99", 1);
	setenv("WA_QR_NEXT_MS", "600001", 1);
	assert_null(config_load(NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "WA_QR_FIRST_MS"));
	assert_non_null(strstr(err, "WA_QR_NEXT_MS"));
	setenv("WA_QR_FIRST_MS", "100", 1);
	setenv("WA_QR_NEXT_MS", "600000", 1);
	cfg = config_load(NULL, err, sizeof(err));
	assert_non_null(cfg);
	assert_int_equal(cfg->qr_first_ms, 100);
	assert_int_equal(cfg->qr_next_ms, 600000);
	config_free(cfg);
	unsetenv("WA_QR_FIRST_MS");
	unsetenv("WA_QR_NEXT_MS");

	setenv("SERVER_PORT", "9090", 1);
	setenv("DEL_INSTANCE", "5", 1);
	cfg = config_load(NULL, err, sizeof(err));
	assert_non_null(cfg);
	assert_int_equal(cfg->server_port, 9090);
	assert_int_equal(cfg->del_instance_minutes, 5);
	config_free(cfg);

	setenv("DEL_INSTANCE", "true", 1);
	setenv("WEBHOOK_GLOBAL_ENABLED", "true", 1);
	assert_null(config_load(NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "WEBHOOK_GLOBAL_URL is not set"));
	config_free(NULL);
}

static void
test_config_dotenv(void **state)
{
	char path[] = "/tmp/wagate-env-XXXXXX", err[1024];
	struct config *cfg;
	FILE *f;
	int fd;

	(void)state;
	clear_env();
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fprintf(f, "# comment\nAUTHENTICATION_API_KEY=\"from-dotenv-key\"\nexport DATABASE_CONNECTION_URI=postgresql://a/b\n"
	    "QRCODE_LIMIT = 7 \n");
	fclose(f);
	setenv("QRCODE_LIMIT", "9", 1);	/* the environment wins over the file */
	cfg = config_load(path, err, sizeof(err));
	unlink(path);
	assert_non_null(cfg);
	assert_string_equal(cfg->api_key, "from-dotenv-key");
	assert_string_equal(cfg->database_uri, "postgresql://a/b");
	assert_int_equal(cfg->qrcode_limit, 9);
	config_free(cfg);
}

/* A config with the two required options set and whatever else the test put in the environment. */
static struct config *
load_minimal(char *err, size_t errlen)
{
	setenv("AUTHENTICATION_API_KEY", "0123456789AB", 1);
	setenv("DATABASE_CONNECTION_URI", "postgresql://x/y", 1);
	return config_load(NULL, err, errlen);
}

/* WEBHOOK_EVENTS_<NAME>: read once into the struct, default true, bad values and unknown names refused. */
static void
test_config_events(void **state)
{
	struct config *cfg;
	char err[1024];
	size_t i;

	(void)state;
	clear_env();
	assert_non_null(cfg = load_minimal(err, sizeof(err)));
	for (i = 0; event_names[i].name != NULL; i++)
		assert_true(config_global_event_enabled(event_names[i].name, cfg));
	assert_true(config_global_event_enabled("NOT_IN_THE_TABLE", cfg));
	config_free(cfg);

	/* The answer comes from the struct, not from the environment of the moment. */
	setenv("WEBHOOK_EVENTS_QRCODE_UPDATED", "false", 1);
	setenv("WEBHOOK_EVENTS_CALL", "0", 1);
	setenv("WEBHOOK_EVENTS_CONNECTION_UPDATE", "true", 1);
	setenv("WEBHOOK_EVENTS_MESSAGES_UPSERT", "", 1);	/* empty = default */
	setenv("WEBHOOK_EVENTS_ERRORS", "false", 1);	/* Evolution's error webhook: ignored */
	setenv("WEBHOOK_EVENTS_ERRORS_WEBHOOK", "https://errors.example.com", 1);
	assert_non_null(cfg = load_minimal(err, sizeof(err)));
	setenv("WEBHOOK_EVENTS_CONNECTION_UPDATE", "false", 1);
	assert_false(config_global_event_enabled("QRCODE_UPDATED", cfg));
	assert_false(config_global_event_enabled("CALL", cfg));
	assert_true(config_global_event_enabled("CONNECTION_UPDATE", cfg));
	assert_true(config_global_event_enabled("MESSAGES_UPSERT", cfg));
	assert_true(config_global_event_enabled("QRCODE_UPDATED", NULL));
	config_free(cfg);
	clear_events_env();

	setenv("WEBHOOK_EVENTS_CALL", "maybe", 1);
	setenv("WEBHOOK_EVENTS_QRCODE_UPDATE", "false", 1);	/* misspelt: UPDATED */
	assert_null(load_minimal(err, sizeof(err)));
	assert_non_null(strstr(err, "WEBHOOK_EVENTS_CALL must be true or false"));
	assert_non_null(strstr(err, "WEBHOOK_EVENTS_QRCODE_UPDATE: no such event"));
	clear_events_env();

	/* The same refusal for a name that is only the prefix of real ones. */
	setenv("WEBHOOK_EVENTS_MESSAGES", "false", 1);
	assert_null(load_minimal(err, sizeof(err)));
	assert_non_null(strstr(err, "WEBHOOK_EVENTS_MESSAGES: no such event"));
	clear_events_env();
}

/* WA_ROOT_KEY: 32 bytes in hex or base64 (as --help says), with or without the 0x05 type byte. */
static void
test_config_root_key(void **state)
{
	static const char hex[] = "0123456789abcdef0123456789ABCDEF00112233445566778899aabbccddeeff";
	static const char b64[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";	/* bytes 0..31 */
	static const char b64_typed[] = "BQABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f";	/* 05, then 0..31 */
	static const char *const bad[] = {
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",	/* 63 digits */
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg",	/* not hex, not base64 */
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd",	/* base64 of 30 bytes */
		"06" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",	/* 33 bytes, not 05 */
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",	/* padding missing */
		"not a key",
	};
	struct config *cfg;
	char err[1024];
	size_t i;

	(void)state;
	clear_env();
	assert_non_null(cfg = load_minimal(err, sizeof(err)));
	assert_false(cfg->wa_root_key.set);
	config_free(cfg);

	setenv("WA_ROOT_KEY", hex, 1);
	assert_non_null(cfg = load_minimal(err, sizeof(err)));
	assert_true(cfg->wa_root_key.set);
	assert_int_equal(cfg->wa_root_key.key[0], 0x01);
	assert_int_equal(cfg->wa_root_key.key[15], 0xef);
	assert_int_equal(cfg->wa_root_key.key[31], 0xff);
	config_free(cfg);

	setenv("WA_ROOT_KEY", "05" "0123456789abcdef0123456789ABCDEF00112233445566778899aabbccddeeff", 1);
	assert_non_null(cfg = load_minimal(err, sizeof(err)));
	assert_int_equal(cfg->wa_root_key.key[0], 0x01);
	assert_int_equal(cfg->wa_root_key.key[31], 0xff);
	config_free(cfg);

	setenv("WA_ROOT_KEY", b64, 1);
	assert_non_null(cfg = load_minimal(err, sizeof(err)));
	for (i = 0; i < CONFIG_KEY_LEN; i++)
		assert_int_equal(cfg->wa_root_key.key[i], i);
	config_free(cfg);

	setenv("WA_ROOT_KEY", b64_typed, 1);
	assert_non_null(cfg = load_minimal(err, sizeof(err)));
	for (i = 0; i < CONFIG_KEY_LEN; i++)
		assert_int_equal(cfg->wa_root_key.key[i], i);
	config_free(cfg);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("WA_ROOT_KEY", bad[i], 1);
		if ((cfg = load_minimal(err, sizeof(err))) != NULL)
			fail_msg("WA_ROOT_KEY=%s accepted", bad[i]);
		assert_non_null(strstr(err, "WA_ROOT_KEY must be a 32-byte key in hex"));
	}
	unsetenv("WA_ROOT_KEY");
}

/* CORS_*: Evolution's example defaults, lists trimmed and normalised, values that could never match refused. */
static void
test_config_cors(void **state)
{
	static const char *const bad_origins[] = { "", ",", "https://a.example,", "a.example",
	    "https://a.example/", "https://a.example/app", "://x", "https://", "http://a b" };
	static const char *const bad_methods[] = { "GET,", "FETCH", "GET POST", "GET,,POST" };
	struct config *cfg;
	char err[1024];
	size_t i;

	(void)state;
	clear_env();
	assert_non_null(cfg = load_minimal(err, sizeof(err)));
	assert_string_equal(cfg->cors_origin, "*");
	assert_string_equal(cfg->cors_methods, "POST,GET,PUT,DELETE");
	assert_int_equal(cfg->cors_credentials, 1);
	assert_true(config_cors_origin_allowed(cfg, "https://anything.example"));
	config_free(cfg);

	setenv("CORS_ORIGIN", " https://a.example , http://localhost:3000", 1);
	setenv("CORS_METHODS", "get, Post,delete", 1);
	setenv("CORS_CREDENTIALS", "false", 1);
	assert_non_null(cfg = load_minimal(err, sizeof(err)));
	assert_string_equal(cfg->cors_origin, "https://a.example,http://localhost:3000");
	assert_string_equal(cfg->cors_methods, "GET,POST,DELETE");
	assert_int_equal(cfg->cors_credentials, 0);
	assert_true(config_cors_origin_allowed(cfg, "https://a.example"));
	assert_true(config_cors_origin_allowed(cfg, "http://localhost:3000"));
	assert_false(config_cors_origin_allowed(cfg, "http://localhost:300"));
	assert_false(config_cors_origin_allowed(cfg, "https://a.example.evil"));
	assert_false(config_cors_origin_allowed(cfg, "null"));
	config_free(cfg);

	setenv("CORS_ORIGIN", "https://a.example,*", 1);
	assert_non_null(cfg = load_minimal(err, sizeof(err)));
	assert_true(config_cors_origin_allowed(cfg, "https://b.example"));
	config_free(cfg);

	/* an empty variable means the default, as for every option */
	for (i = 1; i < sizeof(bad_origins) / sizeof(bad_origins[0]); i++) {
		setenv("CORS_ORIGIN", bad_origins[i], 1);
		if ((cfg = load_minimal(err, sizeof(err))) != NULL)
			fail_msg("CORS_ORIGIN=%s accepted", bad_origins[i]);
		assert_non_null(strstr(err, "CORS_ORIGIN must be * or"));
	}
	unsetenv("CORS_ORIGIN");
	for (i = 0; i < sizeof(bad_methods) / sizeof(bad_methods[0]); i++) {
		setenv("CORS_METHODS", bad_methods[i], 1);
		if ((cfg = load_minimal(err, sizeof(err))) != NULL)
			fail_msg("CORS_METHODS=%s accepted", bad_methods[i]);
		assert_non_null(strstr(err, "CORS_METHODS must be a comma list"));
	}
	unsetenv("CORS_METHODS");
	setenv("CORS_CREDENTIALS", "sometimes", 1);
	assert_null(load_minimal(err, sizeof(err)));
	assert_non_null(strstr(err, "CORS_CREDENTIALS must be true or false"));
	clear_env();
}

/* The creds keys (credentials at rest): inline, from a 0600 file, from $CREDENTIALS_DIRECTORY; a file others
 * can read, a variable and its _FILE both set, and the old key equal to the current one are refused. */
static void
test_config_creds_keys(void **state)
{
	static const char k1[] = "0101010101010101010101010101010101010101010101010101010101010101";
	char dir[] = "/tmp/wagate-config-test.XXXXXX", path[256], cred[256], err[1024];
	struct config *cfg;
	FILE *f;

	(void)state;
	clear_env();
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/key", dir);
	snprintf(cred, sizeof(cred), "%s/wagate-creds-key-old", dir);
	assert_non_null(cfg = load_minimal(err, sizeof(err)));
	assert_false(cfg->creds_key.set);
	assert_false(cfg->creds_key_old.set);
	config_free(cfg);

	setenv("WAGATE_CREDS_KEY", k1, 1);
	assert_non_null(cfg = load_minimal(err, sizeof(err)));
	assert_true(cfg->creds_key.set);
	assert_int_equal(cfg->creds_key.key[31], 0x01);
	config_free(cfg);

	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "  %s\n", "0202020202020202020202020202020202020202020202020202020202020202");
	fclose(f);
	chmod(path, 0640);
	setenv("WAGATE_CREDS_KEY_OLD_FILE", path, 1);
	assert_null(load_minimal(err, sizeof(err)));
	assert_non_null(strstr(err, "WAGATE_CREDS_KEY_OLD: "));
	assert_non_null(strstr(err, "chmod 600"));
	chmod(path, 0600);
	assert_non_null(cfg = load_minimal(err, sizeof(err)));
	assert_true(cfg->creds_key_old.set);
	assert_int_equal(cfg->creds_key_old.key[0], 0x02);
	config_free(cfg);

	setenv("WAGATE_CREDS_KEY_FILE", path, 1);
	assert_null(load_minimal(err, sizeof(err)));
	assert_non_null(strstr(err, "WAGATE_CREDS_KEY and WAGATE_CREDS_KEY_FILE are both set"));
	unsetenv("WAGATE_CREDS_KEY");
	assert_null(load_minimal(err, sizeof(err)));
	assert_non_null(strstr(err, "WAGATE_CREDS_KEY_OLD is the same key"));
	unsetenv("WAGATE_CREDS_KEY_FILE");
	unsetenv("WAGATE_CREDS_KEY_OLD_FILE");
	setenv("WAGATE_CREDS_KEY_FILE", "/nonexistent/key", 1);
	assert_null(load_minimal(err, sizeof(err)));
	assert_non_null(strstr(err, "cannot open /nonexistent/key"));
	unsetenv("WAGATE_CREDS_KEY_FILE");

	/* the systemd credential, used only when nothing else names that key */
	assert_int_equal(rename(path, cred), 0);
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	assert_non_null(cfg = load_minimal(err, sizeof(err)));
	assert_false(cfg->creds_key.set);
	assert_true(cfg->creds_key_old.set);
	assert_int_equal(cfg->creds_key_old.key[0], 0x02);
	config_free(cfg);
	unsetenv("CREDENTIALS_DIRECTORY");
	unlink(cred);
	rmdir(dir);
}

/* issue 11: SERVER_HOST is an address literal; the listener's caps and deadline have bounds and defaults. */
static void
test_config_listener(void **state)
{
	static const char *const good_hosts[] = { "0.0.0.0", "127.0.0.1", "::", "::1", "fe80::1", "10.1.2.3" };
	static const char *const bad_hosts[] = { "localhost", "[::1]", "127.0.0.1:8080", "1.2.3", " 127.0.0.1",
	    "0.0.0.0 " };
	struct config *cfg;
	char err[1024];
	size_t i;

	(void)state;
	clear_env();
	unsetenv("SERVER_HOST");
	unsetenv("HTTP_MAX_CONNECTIONS");
	unsetenv("HTTP_MAX_CONNECTIONS_PER_IP");
	unsetenv("HTTP_REQUEST_TIMEOUT");
	assert_non_null(cfg = load_minimal(err, sizeof(err)));
	assert_string_equal(cfg->server_host, "0.0.0.0");
	assert_int_equal(cfg->http_max_connections, 0);
	assert_int_equal(cfg->http_max_connections_per_ip, 0);
	assert_int_equal(cfg->http_request_timeout_s, 30);
	config_free(cfg);
	for (i = 0; i < sizeof(good_hosts) / sizeof(good_hosts[0]); i++) {
		setenv("SERVER_HOST", good_hosts[i], 1);
		if ((cfg = load_minimal(err, sizeof(err))) == NULL)
			fail_msg("SERVER_HOST=%s refused: %s", good_hosts[i], err);
		assert_string_equal(cfg->server_host, good_hosts[i]);
		config_free(cfg);
	}
	for (i = 0; i < sizeof(bad_hosts) / sizeof(bad_hosts[0]); i++) {
		setenv("SERVER_HOST", bad_hosts[i], 1);
		if ((cfg = load_minimal(err, sizeof(err))) != NULL)
			fail_msg("SERVER_HOST=%s accepted", bad_hosts[i]);
		assert_non_null(strstr(err, "SERVER_HOST must be an IP address"));
	}
	unsetenv("SERVER_HOST");

	setenv("HTTP_MAX_CONNECTIONS", "50", 1);
	setenv("HTTP_MAX_CONNECTIONS_PER_IP", "20", 1);
	setenv("HTTP_REQUEST_TIMEOUT", "3", 1);
	assert_non_null(cfg = load_minimal(err, sizeof(err)));
	assert_int_equal(cfg->http_max_connections, 50);
	assert_int_equal(cfg->http_max_connections_per_ip, 20);
	assert_int_equal(cfg->http_request_timeout_s, 3);
	config_free(cfg);
	setenv("HTTP_MAX_CONNECTIONS_PER_IP", "51", 1);
	assert_null(load_minimal(err, sizeof(err)));
	assert_non_null(strstr(err, "HTTP_MAX_CONNECTIONS_PER_IP must not be above HTTP_MAX_CONNECTIONS"));
	setenv("HTTP_REQUEST_TIMEOUT", "0", 1);
	assert_null(load_minimal(err, sizeof(err)));
	assert_non_null(strstr(err, "HTTP_REQUEST_TIMEOUT must be an integer from 1 to 3600"));
	unsetenv("HTTP_MAX_CONNECTIONS");
	unsetenv("HTTP_MAX_CONNECTIONS_PER_IP");
	unsetenv("HTTP_REQUEST_TIMEOUT");
}

/* issue 11: METRICS_USER and METRICS_PASSWORD come together; the user holds no ':'. */
static void
test_config_metrics_auth(void **state)
{
	struct config *cfg;
	char err[1024];

	(void)state;
	clear_env();
	unsetenv("METRICS_USER");
	unsetenv("METRICS_PASSWORD");
	assert_non_null(cfg = load_minimal(err, sizeof(err)));
	assert_null(cfg->metrics_user);
	assert_null(cfg->metrics_password);
	config_free(cfg);
	setenv("METRICS_USER", "prometheus", 1);
	setenv("METRICS_PASSWORD", "s3cret:with colon", 1);
	assert_non_null(cfg = load_minimal(err, sizeof(err)));
	assert_string_equal(cfg->metrics_user, "prometheus");
	assert_string_equal(cfg->metrics_password, "s3cret:with colon");
	config_free(cfg);
	unsetenv("METRICS_PASSWORD");
	assert_null(load_minimal(err, sizeof(err)));
	assert_non_null(strstr(err, "METRICS_USER and METRICS_PASSWORD must be set together"));
	setenv("METRICS_USER", "pro:metheus", 1);
	setenv("METRICS_PASSWORD", "x", 1);
	assert_null(load_minimal(err, sizeof(err)));
	assert_non_null(strstr(err, "METRICS_USER must not contain ':'"));
	unsetenv("METRICS_USER");
	assert_null(load_minimal(err, sizeof(err)));
	assert_non_null(strstr(err, "must be set together"));
	unsetenv("METRICS_PASSWORD");
	clear_env();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_required),
		cmocka_unit_test(test_config_defaults_and_bounds),
		cmocka_unit_test(test_config_dotenv),
		cmocka_unit_test(test_config_events),
		cmocka_unit_test(test_config_root_key),
		cmocka_unit_test(test_config_cors),
		cmocka_unit_test(test_config_creds_keys),
		cmocka_unit_test(test_config_listener),
		cmocka_unit_test(test_config_metrics_auth),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
