/* config: defaults, validation messages, .env loading, Evolution's DEL_INSTANCE rule. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

static void
clear_env(void)
{
	unsetenv("AUTHENTICATION_API_KEY");
	unsetenv("DATABASE_CONNECTION_URI");
	unsetenv("SERVER_PORT");
	unsetenv("DEL_INSTANCE");
	unsetenv("WEBHOOK_GLOBAL_ENABLED");
	unsetenv("WEBHOOK_GLOBAL_URL");
	unsetenv("QRCODE_LIMIT");
	unsetenv("WA_QR_FIRST_MS");
	unsetenv("WA_QR_NEXT_MS");
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
	setenv("WEBHOOK_EVENTS_QRCODE_UPDATED", "false", 1);
	assert_false(config_global_event_enabled("QRCODE_UPDATED", NULL));
	assert_true(config_global_event_enabled("CONNECTION_UPDATE", NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_required),
		cmocka_unit_test(test_config_defaults_and_bounds),
		cmocka_unit_test(test_config_dotenv),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
