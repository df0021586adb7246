/* validate: Evolution's schema messages, URL and name rules, webhook and proxy checks. */
#include "validate.h"
#include "settings.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static const char *
err_at(struct json_object *errs, size_t i)
{
	return json_object_get_string(json_object_array_get_idx(errs, i));
}

static void
test_v_field_messages(void **state)
{
	struct json_object *errs = json_object_new_array();
	struct json_object *body = json_tokener_parse("{\"port\": 3128, \"rejectCall\": true, \"webhook\": {}}");
	struct json_object *wh;

	(void)state;
	assert_null(v_field(errs, body, "", "port", V_STRING, 1));
	assert_non_null(v_field(errs, body, "", "rejectCall", V_BOOL, 1));
	assert_null(v_field(errs, body, "", "groupsIgnore", V_BOOL, 1));
	assert_null(v_field(errs, body, "", "msgCall", V_STRING, 0));
	wh = v_field(errs, body, "", "webhook", V_OBJECT, 1);
	assert_non_null(wh);
	assert_null(v_field(errs, wh, "webhook.", "url", V_STRING, 1));
	assert_int_equal(json_object_array_length(errs), 3);
	assert_string_equal(err_at(errs, 0), "port is not of a type(s) string");
	assert_string_equal(err_at(errs, 1), "instance requires property \"groupsIgnore\"");
	assert_string_equal(err_at(errs, 2), "webhook requires property \"url\"");
	json_object_put(errs);
	json_object_put(body);
}

/* A string a worker receives is capped at the worker's own limit (else its Start would be refused forever). */
static void
test_v_setting_length(void **state)
{
	struct json_object *errs = json_object_new_array(), *body = json_object_new_object();
	char *big = malloc(SETTINGS_FIELD_MAX + 2);

	(void)state;
	memset(big, 'a', SETTINGS_FIELD_MAX + 1);
	big[SETTINGS_FIELD_MAX + 1] = '\0';
	json_object_object_add(body, "msgCall", json_object_new_string(big));
	big[SETTINGS_FIELD_MAX] = '\0';
	json_object_object_add(body, "host", json_object_new_string(big));
	assert_null(v_field(errs, body, "", "msgCall", V_SETTING, 0));
	assert_non_null(v_field(errs, body, "", "host", V_SETTING, 1));
	assert_int_equal(json_object_array_length(errs), 1);
	assert_string_equal(err_at(errs, 0), "msgCall does not meet maximum length of 1024");
	free(big);
	json_object_put(errs);
	json_object_put(body);
}

static void
test_v_url_and_name(void **state)
{
	(void)state;
	assert_true(v_url_ok("http://127.0.0.1:8080/hook"));
	assert_true(v_url_ok("https://n8n:5678/x"));
	assert_false(v_url_ok("ftp://x"));
	assert_false(v_url_ok("http://"));
	assert_false(v_url_ok("http://a b"));
	assert_false(v_url_ok("http://a\r\nX: y"));
	assert_true(v_instance_name_ok("sales-01"));
	assert_true(v_instance_name_ok("Vendas São Paulo"));
	assert_false(v_instance_name_ok(""));
	assert_false(v_instance_name_ok("a/b"));
	assert_false(v_instance_name_ok("a%2f"));
	assert_false(v_instance_name_ok("a\nb"));
}

static void
test_v_webhook(void **state)
{
	struct json_object *errs = json_object_new_array();
	struct json_object *wh = json_tokener_parse(
	    "{\"enabled\":true,\"url\":\"http://h/x\",\"events\":[\"CONNECTION_UPDATE\",\"QRCODE_UPDATED\"]}");
	struct json_object *bad = json_tokener_parse("{\"enabled\":true,\"url\":\"http://h/x\",\"events\":[\"NOPE\"]}");
	struct json_object *all = json_tokener_parse("{\"enabled\":true,\"url\":\"http://h/x\",\"events\":[]}");
	struct json_object *off = json_tokener_parse("{\"enabled\":false,\"url\":\"http://h/x\",\"events\":[\"CALL\"]}");
	struct json_object *badurl = json_tokener_parse("{\"enabled\":true,\"url\":\"nope\"}");
	char *ev = NULL;
	int bad_url = 0;

	(void)state;
	assert_int_equal(v_webhook(errs, wh, "webhook.", 1, &bad_url, &ev), 0);
	assert_string_equal(ev, "{CONNECTION_UPDATE,QRCODE_UPDATED}");
	free(ev);
	assert_int_equal(v_webhook(errs, all, "webhook.", 1, &bad_url, &ev), 0);
	assert_non_null(strstr(ev, "LOGOUT_INSTANCE"));
	assert_non_null(strstr(ev, "APPLICATION_STARTUP"));
	free(ev);
	assert_int_equal(v_webhook(errs, off, "webhook.", 1, &bad_url, &ev), 0);
	assert_string_equal(ev, "{}");
	free(ev);
	assert_int_equal(json_object_array_length(errs), 0);
	assert_int_equal(v_webhook(errs, bad, "webhook.", 1, &bad_url, &ev), -1);
	assert_int_equal(json_object_array_length(errs), 1);
	assert_non_null(strstr(err_at(errs, 0), "webhook.events[0] is not one of enum values: APPLICATION_STARTUP,"));
	assert_int_equal(v_webhook(errs, badurl, "webhook.", 1, &bad_url, &ev), -1);
	assert_true(bad_url);
	json_object_put(errs);
	json_object_put(wh);
	json_object_put(bad);
	json_object_put(all);
	json_object_put(off);
	json_object_put(badurl);
}

static void
test_v_proxy(void **state)
{
	(void)state;
	assert_int_equal(v_proxy("10.0.0.9", "3128", "http"), 0);
	assert_int_equal(v_proxy("proxy.example", "1080", "SOCKS5"), 0);
	assert_int_equal(v_proxy("10.0.0.9", "0", "http"), -1);
	assert_int_equal(v_proxy("10.0.0.9", "70000", "http"), -1);
	assert_int_equal(v_proxy("10.0.0.9", "31a", "http"), -1);
	assert_int_equal(v_proxy("10.0.0.9", "3128", "gopher"), -1);
	/* TLS to the proxy is not implemented: refused with its own message. */
	assert_int_equal(v_proxy("10.0.0.9", "3128", "https"), -1);
	assert_string_equal(v_proxy_message("HTTPS"),
	    "Invalid proxy: protocol https is not supported (use http, socks4 or socks5)");
	assert_string_equal(v_proxy_message("gopher"), "Invalid proxy");
	assert_int_equal(v_proxy("", "3128", "http"), -1);
	assert_int_equal(v_proxy("a b", "3128", "http"), -1);
}

/* Numbers as people type them become digits; what cannot be a number is refused. */
static void
test_v_number(void **state)
{
	static const char *const good[][2] = {
		{ "5511999990001", "5511999990001" }, { "+55 11 99999-0001", "5511999990001" },
		{ "(11) 99999-0001", "11999990001" }, { " +1 (555) 123.4567", "15551234567" },
		{ "5511999990001@s.whatsapp.net", "5511999990001" }, { "5511999990001:7@s.whatsapp.net", "5511999990001" },
	};
	static const char *const bad[] = { "", "abc", "+", "12345", "55 11 abc", "5511999990001@", "++5511999990001",
		"1234567890123456", "55119999@bad host", "5511999990001x", "-" };
	char out[V_NUMBER_MAX + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(v_number(good[i][0], out, sizeof(out)), 0);
		assert_string_equal(out, good[i][1]);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (v_number(bad[i], out, sizeof(out)) != -1)
			fail_msg("accepted %s", bad[i]);
}

/* Evolution's createJid: JIDs kept (less a device), numbers made user JIDs with the MX/AR/BR rules, groups. */
static void
test_v_jid(void **state)
{
	static const char *const cases[][2] = {
		{ "5511999999999@s.whatsapp.net", "5511999999999@s.whatsapp.net" },
		{ "5511999999999:12@s.whatsapp.net", "5511999999999@s.whatsapp.net" },
		{ "120363000000000000@g.us", "120363000000000000@g.us" },
		{ "status@broadcast", "status@broadcast" },
		{ "+1 (415) 555-0100", "14155550100@s.whatsapp.net" },
		{ "5215512345678", "525512345678@s.whatsapp.net" },		/* MX: 13 digits lose the 3rd */
		{ "5491112345678", "541112345678@s.whatsapp.net" },		/* AR */
		{ "5531987654321", "553187654321@s.whatsapp.net" },		/* BR: DDD 31, starts with 8 */
		{ "5511987654321", "5511987654321@s.whatsapp.net" },	/* BR: DDD 11 keeps the 9 */
		{ "5531912345678", "5531912345678@s.whatsapp.net" },	/* BR: starts with 1 keeps it */
		{ "123456789012345678", "123456789012345678@g.us" },		/* 18 digits: a group */
		{ "5511999999999-1600000000", "5511999999999-1600000000@g.us" },
		{ "5511999999999:3", "5511999999999@s.whatsapp.net" },
	};
	char out[V_JID_MAX + 32], big[V_JID_MAX + 2];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(v_jid(cases[i][0], out, sizeof(out)), 0);
		assert_string_equal(out, cases[i][1]);
	}
	memset(big, '1', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(v_jid(big, out, sizeof(out)), -1);
	assert_int_equal(v_jid("5511999999999", out, 10), -1);
}

/* Dates as new Date() reads them, floored to seconds; anything else refused. */
static void
test_v_date(void **state)
{
	static const struct {
		const char *json;
		long long want;
	} ok[] = {
		{ "\"2025-01-01T00:00:00Z\"", 1735689600 },
		{ "\"2025-01-01\"", 1735689600 },
		{ "\"2025-01\"", 1735689600 },
		{ "\"2025\"", 1735689600 },
		{ "\"2025-01-31T23:59:59.999Z\"", 1738367999 },
		{ "\"2025-01-01T02:00:00+02:00\"", 1735689600 },
		{ "\"2024-12-31T21:30:00-0230\"", 1735689600 },
		{ "\"2024-02-29T12:00\"", 1709208000 },
		{ "\"1969-12-31T23:59:59Z\"", -1 },
		{ "1735689600999", 1735689600 },
		{ "1735689600999.9", 1735689600 },
		{ "-1", -1 },
	};
	static const char *const bad[] = { "\"\"", "\"yesterday\"", "\"2025-13-01\"", "\"2025-02-29\"",
		"\"2025-01-01T25:00Z\"", "\"2025-01-01T10\"", "\"2025-01-01Z\"", "\"1737570000\"", "true", "{}",
		"9e15", "\"2025-01-01T00:00:00.Z\"" };
	struct json_object *v;
	long long t;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = json_tokener_parse(ok[i].json);
		assert_int_equal(v_date(v, &t), 0);
		assert_int_equal(t, ok[i].want);
		json_object_put(v);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = json_tokener_parse(bad[i]);
		assert_non_null(v);
		assert_int_equal(v_date(v, &t), -1);
		json_object_put(v);
	}
}

/* JSON Schema's integer: 2 and 2.0, not 2.5 nor "2". */
static void
test_v_integer(void **state)
{
	struct json_object *errs = json_object_new_array();
	struct json_object *body = json_tokener_parse("{\"a\": 2, \"b\": 2.0, \"c\": 2.5, \"d\": \"2\", \"e\": 1e300}");

	(void)state;
	assert_non_null(v_field(errs, body, "", "a", V_INTEGER, 0));
	assert_non_null(v_field(errs, body, "", "b", V_INTEGER, 0));
	assert_null(v_field(errs, body, "", "c", V_INTEGER, 0));
	assert_null(v_field(errs, body, "", "d", V_INTEGER, 0));
	assert_null(v_field(errs, body, "", "e", V_INTEGER, 0));
	assert_int_equal(json_object_array_length(errs), 3);
	assert_string_equal(err_at(errs, 0), "c is not of a type(s) integer");
	json_object_put(errs);
	json_object_put(body);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v_field_messages),
		cmocka_unit_test(test_v_setting_length),
		cmocka_unit_test(test_v_url_and_name),
		cmocka_unit_test(test_v_webhook),
		cmocka_unit_test(test_v_proxy),
		cmocka_unit_test(test_v_number),
		cmocka_unit_test(test_v_jid),
		cmocka_unit_test(test_v_date),
		cmocka_unit_test(test_v_integer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
