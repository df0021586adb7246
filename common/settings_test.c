/* settings: copies, the IPC round trip, and refusal of oversized strings. */
#include "settings.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

/* A proxy and settings survive copy and the IPC round trip; "" arrives as unset. */
static void
test_round_trip(void **state)
{
	struct settings s = { .reject_call = 1, .read_status = 1, .msg_call = "busy", .wavoip_token = "t" };
	struct proxy p = { .enabled = 1, .host = "127.0.0.1", .port = "1080", .protocol = "socks5",
	    .password = "pw" };
	struct settings s2 = { 0 }, s3 = { 0 };
	struct proxy p2 = { 0 }, p3 = { 0 };
	Wagate__Ipc__Settings ms;
	Wagate__Ipc__Proxy mp;

	(void)state;
	settings_copy(&s2, &s);
	proxy_copy(&p2, &p);
	assert_string_equal(s2.msg_call, "busy");
	assert_string_equal(s2.wavoip_token, "t");
	assert_string_equal(p2.password, "pw");
	settings_to_ipc(&s2, &ms);
	proxy_to_ipc(&p2, &mp);
	assert_string_equal(mp.username, "");
	assert_int_equal(settings_from_ipc(&s3, &ms), 0);
	assert_int_equal(proxy_from_ipc(&p3, &mp), 0);
	assert_true(s3.reject_call && s3.read_status && !s3.groups_ignore);
	assert_string_equal(s3.msg_call, "busy");
	assert_null(s3.wavoip_token);		/* never travels to a worker */
	assert_true(p3.enabled);
	assert_string_equal(p3.protocol, "socks5");
	assert_null(p3.username);
	settings_clear(&s2);
	settings_clear(&s3);
	proxy_clear(&p2);
	proxy_clear(&p3);
	proxy_clear(&p3);			/* twice is fine */
}

/* An oversized string is refused and leaves the destination as it was. */
static void
test_refuse_oversized(void **state)
{
	char big[SETTINGS_FIELD_MAX + 2];
	struct proxy p = { 0 }, src = { .host = "h" };
	Wagate__Ipc__Proxy mp;

	(void)state;
	proxy_copy(&p, &src);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	proxy_to_ipc(&src, &mp);
	mp.password = big;
	assert_int_equal(proxy_from_ipc(&p, &mp), -1);
	assert_string_equal(p.host, "h");
	mp.password = NULL;			/* a missing string is garbage too */
	assert_int_equal(proxy_from_ipc(&p, &mp), -1);
	proxy_clear(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_refuse_oversized),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
