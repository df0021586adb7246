/* Unit tests for IPC framing: known bytes, partial frames, limits, garbage, libevent helpers. */
#include "ipc.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <event2/event.h>

/* Envelope{version=8, request_id=7, ping{seq=1, sent_us=2}} as one frame. */
static const unsigned char kat_ping[] = {
	0x00, 0x00, 0x00, 0x0a,
	0x08, 0x08, 0x10, 0x07, 0x62, 0x04, 0x08, 0x01, 0x10, 0x02,
};

/* The ping envelope of kat_ping, built field by field. */
static void
make_ping(IpcEnvelope *env, Wagate__Ipc__Ping *ping)
{
	wagate__ipc__envelope__init(env);
	wagate__ipc__ping__init(ping);
	ping->seq = 1;
	ping->sent_us = 2;
	env->version = IPC_VERSION;
	env->request_id = 7;
	env->msg_case = WAGATE__IPC__ENVELOPE__MSG_PING;
	env->ping = ping;
}

static void
test_header(void **state)
{
	unsigned char b[4];

	(void)state;
	ipc_header_encode(0x01020304u, b);
	assert_int_equal(b[0], 1);
	assert_int_equal(b[1], 2);
	assert_int_equal(b[2], 3);
	assert_int_equal(b[3], 4);
	assert_int_equal(ipc_header_decode(b), 0x01020304u);
	ipc_header_encode(IPC_FRAME_MAX, b);
	assert_memory_equal(b, "\x01\x00\x00\x00", 4);
}

static void
test_pack_kat(void **state)
{
	IpcEnvelope env;
	Wagate__Ipc__Ping ping;
	unsigned char out[64];

	(void)state;
	make_ping(&env, &ping);
	assert_int_equal(ipc_frame_size(&env), sizeof(kat_ping));
	assert_int_equal(ipc_frame_pack(&env, out, sizeof(out)), sizeof(kat_ping));
	assert_memory_equal(out, kat_ping, sizeof(kat_ping));
	/* Too small an output buffer is an error, not an overflow. */
	assert_int_equal(ipc_frame_pack(&env, out, sizeof(kat_ping) - 1), 0);
}

static void
test_parse_kat(void **state)
{
	IpcEnvelope *env;
	size_t used;

	(void)state;
	assert_int_equal(ipc_frame_parse(kat_ping, sizeof(kat_ping), &used, &env), IPC_OK);
	assert_int_equal(used, sizeof(kat_ping));
	assert_non_null(env);
	assert_int_equal(env->version, 8);
	assert_int_equal(env->request_id, 7);
	assert_int_equal(env->msg_case, WAGATE__IPC__ENVELOPE__MSG_PING);
	assert_int_equal(env->ping->seq, 1);
	assert_int_equal(env->ping->sent_us, 2);
	ipc_envelope_free(env);
}

static void
test_parse_partial(void **state)
{
	IpcEnvelope *env;
	size_t used, i;

	(void)state;
	for (i = 0; i < sizeof(kat_ping); i++) {
		assert_int_equal(ipc_frame_parse(kat_ping, i, &used, &env), IPC_AGAIN);
		assert_null(env);
		assert_int_equal(used, 0);
	}
}

static void
test_parse_two_frames(void **state)
{
	unsigned char buf[2 * sizeof(kat_ping)];
	IpcEnvelope *env;
	size_t used;

	(void)state;
	memcpy(buf, kat_ping, sizeof(kat_ping));
	memcpy(buf + sizeof(kat_ping), kat_ping, sizeof(kat_ping));
	assert_int_equal(ipc_frame_parse(buf, sizeof(buf), &used, &env), IPC_OK);
	assert_int_equal(used, sizeof(kat_ping));
	ipc_envelope_free(env);
	assert_int_equal(ipc_frame_parse(buf + used, sizeof(buf) - used, &used, &env), IPC_OK);
	ipc_envelope_free(env);
}

static void
test_parse_limits(void **state)
{
	static const unsigned char over[] = { 0x01, 0x00, 0x00, 0x01 };
	static const unsigned char max[] = { 0x01, 0x00, 0x00, 0x00 };
	static const unsigned char huge[] = { 0xff, 0xff, 0xff, 0xff };
	static const unsigned char empty[] = { 0x00, 0x00, 0x00, 0x00 };
	IpcEnvelope *env;
	size_t used, plen;

	(void)state;
	/* Refused from the header alone, before any payload arrives. */
	assert_int_equal(ipc_frame_parse(over, sizeof(over), &used, &env), IPC_ERROR);
	assert_int_equal(ipc_frame_parse(huge, sizeof(huge), &used, &env), IPC_ERROR);
	assert_int_equal(ipc_frame_check(max, sizeof(max), &plen), IPC_AGAIN);
	assert_int_equal(plen, IPC_FRAME_MAX);
	/* An empty payload is a valid (empty) Envelope: dispatch rejects it, not framing. */
	assert_int_equal(ipc_frame_parse(empty, sizeof(empty), &used, &env), IPC_OK);
	assert_int_equal(env->msg_case, WAGATE__IPC__ENVELOPE__MSG__NOT_SET);
	ipc_envelope_free(env);
}

static void
test_parse_garbage(void **state)
{
	static const unsigned char bad1[] = { 0x00, 0x00, 0x00, 0x02, 0xff, 0xff };
	/* ping claims 100 bytes but only 2 follow */
	static const unsigned char bad2[] = { 0x00, 0x00, 0x00, 0x04, 0x62, 0x64, 0x08, 0x01 };
	/* field number 0 */
	static const unsigned char bad3[] = { 0x00, 0x00, 0x00, 0x02, 0x00, 0x01 };
	IpcEnvelope *env;
	size_t used;

	(void)state;
	assert_int_equal(ipc_frame_parse(bad1, sizeof(bad1), &used, &env), IPC_ERROR);
	assert_null(env);
	assert_int_equal(ipc_frame_parse(bad2, sizeof(bad2), &used, &env), IPC_ERROR);
	assert_int_equal(ipc_frame_parse(bad3, sizeof(bad3), &used, &env), IPC_ERROR);
}

static void
test_unknown_field(void **state)
{
	/* field 99 (varint 5): unknown to us, so the oneof stays unset */
	static const unsigned char unk[] = { 0x00, 0x00, 0x00, 0x05, 0x08, 0x01, 0x98, 0x06, 0x05 };
	IpcEnvelope *env;
	size_t used;

	(void)state;
	assert_int_equal(ipc_frame_parse(unk, sizeof(unk), &used, &env), IPC_OK);
	assert_int_equal(env->msg_case, WAGATE__IPC__ENVELOPE__MSG__NOT_SET);
	ipc_envelope_free(env);
}

static void
test_evbuffer(void **state)
{
	struct event_base *base = event_base_new();
	struct bufferevent *pair[2];
	struct evbuffer *in;
	IpcEnvelope env, *got;
	Wagate__Ipc__Ping ping;
	size_t i;

	(void)state;
	assert_non_null(base);
	assert_int_equal(bufferevent_pair_new(base, 0, pair), 0);
	make_ping(&env, &ping);
	env.version = 0;	/* ipc_write stamps the version */
	assert_int_equal(ipc_write(pair[0], &env), 0);
	assert_int_equal(env.version, IPC_VERSION);
	assert_int_equal(evbuffer_get_length(bufferevent_get_output(pair[0])), sizeof(kat_ping));
	assert_memory_equal(evbuffer_pullup(bufferevent_get_output(pair[0]), -1), kat_ping, sizeof(kat_ping));

	/* Byte by byte: need more until the last byte, then exactly one frame. */
	in = evbuffer_new();
	for (i = 0; i < sizeof(kat_ping) - 1; i++) {
		evbuffer_add(in, kat_ping + i, 1);
		assert_int_equal(ipc_read(in, &got), IPC_AGAIN);
		assert_int_equal(evbuffer_get_length(in), i + 1);
	}
	evbuffer_add(in, kat_ping + i, 1);
	assert_int_equal(ipc_read(in, &got), IPC_OK);
	assert_int_equal(got->ping->seq, 1);
	ipc_envelope_free(got);
	assert_int_equal(evbuffer_get_length(in), 0);

	/* Oversized header: error with 4 bytes buffered. */
	evbuffer_add(in, "\x01\x00\x00\x01", 4);
	assert_int_equal(ipc_read(in, &got), IPC_ERROR);
	assert_null(got);
	evbuffer_free(in);
	bufferevent_free(pair[0]);
	bufferevent_free(pair[1]);
	event_base_free(base);
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(ipc_msg_name(WAGATE__IPC__ENVELOPE__MSG_START), "start");
	assert_string_equal(ipc_msg_name(WAGATE__IPC__ENVELOPE__MSG_CONNECTION_UPDATE), "connection_update");
	assert_string_equal(ipc_msg_name(1), "unknown");
	assert_string_equal(ipc_msg_name(77), "unknown");
	assert_string_equal(ipc_msg_name(0), "none");
	assert_true(ipc_str_ok("abc", 3));
	assert_false(ipc_str_ok("abcd", 3));
	assert_false(ipc_str_ok(NULL, 3));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_pack_kat),
		cmocka_unit_test(test_parse_kat),
		cmocka_unit_test(test_parse_partial),
		cmocka_unit_test(test_parse_two_frames),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test(test_parse_garbage),
		cmocka_unit_test(test_unknown_field),
		cmocka_unit_test(test_evbuffer),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
