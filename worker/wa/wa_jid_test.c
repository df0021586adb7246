/* Tests for JID parsing, canonical formatting and the choice of wire form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wa_jid.h"

/* Parse s and check every field, then that formatting gives back s (or canon). */
static void
check_parse(const char *s, const char *user, const char *server, unsigned agent, unsigned device,
    unsigned integrator, const char *canon)
{
	struct wa_jid j;
	char buf[400];

	if (wa_jid_parse(s, &j) == -1)
		fail_msg("parse failed: %s", s);
	assert_string_equal(j.user, user);
	assert_string_equal(j.server, server);
	assert_int_equal(j.agent, agent);
	assert_int_equal(j.device, device);
	assert_int_equal(j.integrator, integrator);
	assert_true(wa_jid_format(&j, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, canon ? canon : s);
}

/* The textual forms of every JID kind. */
static void
test_jid_parse(void **state)
{
	check_parse("447700900123@s.whatsapp.net", "447700900123", "s.whatsapp.net", 0, 0, 0, NULL);
	check_parse("447700900123:7@s.whatsapp.net", "447700900123", "s.whatsapp.net", 0, 7, 0, NULL);
	check_parse("447700900123:0@s.whatsapp.net", "447700900123", "s.whatsapp.net", 0, 0, 0, NULL);
	check_parse("447700900123.2:7@s.whatsapp.net", "447700900123", "s.whatsapp.net", 2, 7, 0, NULL);
	check_parse("12345678901234@lid", "12345678901234", "lid", 0, 0, 0, NULL);
	check_parse("12345678901234:3@lid", "12345678901234", "lid", 0, 3, 0, NULL);
	check_parse("120363025246125486@g.us", "120363025246125486", "g.us", 0, 0, 0, NULL);
	check_parse("447700900123-1600000000@g.us", "447700900123-1600000000", "g.us", 0, 0, 0, NULL);
	check_parse("status@broadcast", "status", "broadcast", 0, 0, 0, NULL);
	check_parse("123@newsletter", "123", "newsletter", 0, 0, 0, NULL);
	check_parse("s.whatsapp.net", "", "s.whatsapp.net", 0, 0, 0, NULL);
	check_parse("@s.whatsapp.net", "", "s.whatsapp.net", 0, 0, 0, "s.whatsapp.net");
	check_parse("123:4@hosted", "123", "hosted", 0, 4, 0, NULL);
	check_parse("123:0@hosted", "123", "hosted", 0, 0, 0, "123@hosted");
	check_parse("123:300@msgr", "123", "msgr", 0, 300, 0, NULL);
	check_parse("5-123:2@interop", "123", "interop", 0, 2, 5, NULL);
	check_parse("123.1@s.whatsapp.net", "123", "s.whatsapp.net", 1, 0, 0, "123.1:0@s.whatsapp.net");
}

/* Malformed and oversized forms are refused. */
static void
test_jid_reject(void **state)
{
	static const char *const bad[] = {
		"", "@", "user@", "a@b@c", "a@b:c", "1:2:3@s.whatsapp.net", "1.2.3@s.whatsapp.net",
		"1:x@s.whatsapp.net", "1:65536@s.whatsapp.net", "1.256:1@s.whatsapp.net", "1:@s.whatsapp.net",
		"1.@s.whatsapp.net", ":1@s.whatsapp.net", ".1:2@s.whatsapp.net", "1:01@s.whatsapp.net",
		"1:2.3@s.whatsapp.net", "1:-1@s.whatsapp.net", "1:+1@s.whatsapp.net", NULL,
	};
	struct wa_jid j;
	char longuser[400];
	size_t i;

	for (i = 0; bad[i] != NULL; i++)
		if (wa_jid_parse(bad[i], &j) == 0)
			fail_msg("accepted %s", bad[i]);
	assert_int_equal(wa_jid_parse(NULL, &j), -1);
	memset(longuser, '1', 300);
	strcpy(longuser + 300, "@s.whatsapp.net");
	assert_int_equal(wa_jid_parse(longuser, &j), -1);
	memset(longuser, 'a', 100);
	strcpy(longuser + 100, "");
	assert_int_equal(wa_jid_parse(longuser, &j), -1);	/* server too long */
	assert_int_equal(wa_jid_set(&j, "1", "", 0), -1);
}

/* Which wire form each JID gets. */
static void
test_jid_wire(void **state)
{
	static const struct { const char *s; enum wa_jid_wire w; unsigned domain; } cases[] = {
		{ "1@s.whatsapp.net", WA_JID_WIRE_PAIR, 0 },
		{ "1:0@s.whatsapp.net", WA_JID_WIRE_AD, 0 },
		{ "1:5@s.whatsapp.net", WA_JID_WIRE_AD, 0 },
		{ "1.7:5@s.whatsapp.net", WA_JID_WIRE_AD, 7 },
		{ "1.1:5@s.whatsapp.net", WA_JID_WIRE_NONE, 0 },
		{ "1:256@s.whatsapp.net", WA_JID_WIRE_NONE, 0 },
		{ "1@lid", WA_JID_WIRE_PAIR, 0 },
		{ "1:2@lid", WA_JID_WIRE_AD, 1 },
		{ "1.3:2@lid", WA_JID_WIRE_NONE, 0 },
		{ "1@hosted", WA_JID_WIRE_AD, 128 },
		{ "1:9@hosted.lid", WA_JID_WIRE_AD, 129 },
		{ "1@g.us", WA_JID_WIRE_PAIR, 0 },
		{ "1:2@g.us", WA_JID_WIRE_NONE, 0 },
		{ "1:1000@msgr", WA_JID_WIRE_FB, 0 },
		{ "1@interop", WA_JID_WIRE_INTEROP, 0 },
		{ "g.us", WA_JID_WIRE_PAIR, 0 },
		{ "msgr", WA_JID_WIRE_PAIR, 0 },
		{ NULL, 0, 0 },
	};
	struct wa_jid j;
	uint8_t domain;
	size_t i;

	for (i = 0; cases[i].s != NULL; i++) {
		assert_int_equal(wa_jid_parse(cases[i].s, &j), 0);
		if (wa_jid_wire_form(&j, &domain) != cases[i].w)
			fail_msg("%s: wire form %d", cases[i].s, wa_jid_wire_form(&j, &domain));
		assert_int_equal(domain, cases[i].domain);
	}
}

/* Helpers: kinds, equality, non-AD, to_string. */
static void
test_jid_helpers(void **state)
{
	struct wa_jid a, b;
	char *s;

	assert_int_equal(wa_jid_parse("123:4@s.whatsapp.net", &a), 0);
	assert_true(wa_jid_is_user(&a));
	assert_false(wa_jid_is_group(&a));
	wa_jid_to_non_ad(&a, &b);
	s = wa_jid_to_string(&b);
	assert_string_equal(s, "123@s.whatsapp.net");
	free(s);
	assert_false(wa_jid_equal(&a, &b));
	wa_jid_to_non_ad(&a, &a);
	assert_true(wa_jid_equal(&a, &b));
	assert_int_equal(wa_jid_parse("status@broadcast", &a), 0);
	assert_true(wa_jid_is_status_broadcast(&a));
	assert_true(wa_jid_is_broadcast(&a));
	assert_int_equal(wa_jid_parse("1@lid", &a), 0);
	assert_true(wa_jid_is_lid(&a));
	assert_true(wa_jid_is_user(&a));
	assert_int_equal(wa_jid_set(&a, "98", "g.us", 0), 0);
	assert_true(wa_jid_is_group(&a));
	s = wa_jid_to_string(&a);
	assert_string_equal(s, "98@g.us");
	free(s);
	assert_int_equal(wa_jid_set(&a, "98", "s.whatsapp.net", 3), 0);
	s = wa_jid_to_string(&a);
	assert_string_equal(s, "98:3@s.whatsapp.net");
	free(s);
	assert_true(wa_jid_is_server_name("s.whatsapp.net"));
	assert_false(wa_jid_is_server_name("example.com"));
	assert_string_equal(wa_jid_domain_server(0), "s.whatsapp.net");
	assert_string_equal(wa_jid_domain_server(1), "lid");
	assert_string_equal(wa_jid_domain_server(128), "hosted");
	assert_string_equal(wa_jid_domain_server(129), "hosted.lid");
	assert_string_equal(wa_jid_domain_server(77), "s.whatsapp.net");
}

/* Run the JID tests. */
int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jid_parse),
		cmocka_unit_test(test_jid_reject),
		cmocka_unit_test(test_jid_wire),
		cmocka_unit_test(test_jid_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
