/* Known-answer tests for the WebSocket upgrade and framing (RFC 6455 section 5.7 examples and more). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "wa_ws.h"

/* Parse one message from a copy of the bytes; returns the result and fills msg/consumed. */
static int
parse_bytes(struct wa_ws *ws, uint8_t *buf, size_t len, struct wa_ws_msg *msg, size_t *consumed, size_t *need)
{
	char err[128];

	return wa_ws_parse(ws, buf, len, consumed, need, msg, err, sizeof(err));
}

/* RFC 6455 accept-key example. */
static void
test_accept_key(void **state)
{
	char acc[WA_WS_ACCEPT_LEN + 1], key[WA_WS_KEY_LEN + 1];

	(void)state;
	assert_int_equal(wa_ws_accept_compute("dGhlIHNhbXBsZSBub25jZQ==", acc), 0);
	assert_string_equal(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	assert_int_equal(wa_ws_key_new(key), 0);
	assert_int_equal(strlen(key), WA_WS_KEY_LEN);
}

/* A full client request is accepted by the server parser; the server answer is accepted by the client. */
static void
test_upgrade_roundtrip(void **state)
{
	char key[WA_WS_KEY_LEN + 1], skey[WA_WS_KEY_LEN + 1], path[64], err[128];
	char *req, *resp;
	size_t consumed = 0;
	int status;

	(void)state;
	assert_int_equal(wa_ws_key_new(key), 0);
	req = wa_ws_request_build("web.whatsapp.com", "/ws/chat", key, "https://web.whatsapp.com");
	assert_non_null(strstr(req, "Origin: https://web.whatsapp.com\r\n"));
	/* Incomplete head: AGAIN. */
	assert_int_equal(wa_ws_request_parse(req, strlen(req) - 1, &consumed, skey, path, sizeof(path), err,
	    sizeof(err)), WA_WS_AGAIN);
	assert_int_equal(wa_ws_request_parse(req, strlen(req), &consumed, skey, path, sizeof(path), err,
	    sizeof(err)), WA_WS_DONE);
	assert_int_equal(consumed, strlen(req));
	assert_string_equal(skey, key);
	assert_string_equal(path, "/ws/chat");
	resp = wa_ws_response_build(skey);
	assert_int_equal(wa_ws_response_parse(resp, strlen(resp), key, &consumed, &status, err, sizeof(err)),
	    WA_WS_DONE);
	assert_int_equal(consumed, strlen(resp));
	/* A different key must be refused. */
	assert_int_equal(wa_ws_response_parse(resp, strlen(resp), "dGhlIHNhbXBsZSBub25jZQ==", &consumed, &status,
	    err, sizeof(err)), WA_WS_ERROR);
	assert_non_null(strstr(err, "Accept"));
	free(req);
	free(resp);
}

/* A non-101 answer reports its status; a missing header is refused. */
static void
test_upgrade_errors(void **state)
{
	const char *r403 = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
	const char *noupg = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
	const char *ok = "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n"
	    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\nXX";
	const char *badreq = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
	char err[128], key[WA_WS_KEY_LEN + 1];
	size_t consumed;
	int status;

	(void)state;
	assert_int_equal(wa_ws_response_parse(r403, strlen(r403), "dGhlIHNhbXBsZSBub25jZQ==", &consumed, &status,
	    err, sizeof(err)), WA_WS_ERROR);
	assert_int_equal(status, 403);
	assert_int_equal(wa_ws_response_parse(noupg, strlen(noupg), "dGhlIHNhbXBsZSBub25jZQ==", &consumed,
	    &status, err, sizeof(err)), WA_WS_ERROR);
	assert_int_equal(wa_ws_response_parse(ok, strlen(ok), "dGhlIHNhbXBsZSBub25jZQ==", &consumed, &status,
	    err, sizeof(err)), WA_WS_DONE);
	assert_int_equal(consumed, strlen(ok) - 2);
	assert_int_equal(wa_ws_request_parse(badreq, strlen(badreq), &consumed, key, NULL, 0, err, sizeof(err)),
	    WA_WS_ERROR);
}

/* RFC 6455 5.7: unmasked and masked "Hello". */
static void
test_hello(void **state)
{
	uint8_t unmasked[] = { 0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f };
	uint8_t masked[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	uint8_t masked2[sizeof(masked)];
	struct wa_ws *cl = wa_ws_new(WA_WS_CLIENT, 0), *sv = wa_ws_new(WA_WS_SERVER, 0);
	struct wa_ws_msg m;
	size_t consumed, need;

	(void)state;
	memcpy(masked2, masked, sizeof(masked));
	assert_int_equal(parse_bytes(cl, unmasked, sizeof(unmasked), &m, &consumed, &need), WA_WS_DONE);
	assert_int_equal(m.opcode, WA_WS_OP_TEXT);
	assert_int_equal(m.len, 5);
	assert_memory_equal(m.data, "Hello", 5);
	assert_int_equal(consumed, sizeof(unmasked));
	assert_int_equal(parse_bytes(sv, masked, sizeof(masked), &m, &consumed, &need), WA_WS_DONE);
	assert_memory_equal(m.data, "Hello", 5);
	/* Role checks: a client refuses a masked frame, a server an unmasked one. */
	assert_int_equal(parse_bytes(cl, masked2, sizeof(masked2), &m, &consumed, &need), WA_WS_ERROR);
	assert_int_equal(m.close_code, WA_WS_CLOSE_PROTOCOL);
	memcpy(unmasked, (uint8_t[]){ 0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f }, 7);
	assert_int_equal(parse_bytes(sv, unmasked, sizeof(unmasked), &m, &consumed, &need), WA_WS_ERROR);
	/* Short input asks for more. */
	assert_int_equal(parse_bytes(cl, unmasked, 4, &m, &consumed, &need), WA_WS_AGAIN);
	assert_int_equal(need, 7);
	assert_int_equal(consumed, 0);
	wa_ws_free(cl);
	wa_ws_free(sv);
}

/* RFC 6455 5.7: fragmented "Hel" + "lo", with a ping in between. */
static void
test_fragmented(void **state)
{
	uint8_t b[] = { 0x01, 0x03, 0x48, 0x65, 0x6c, 0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f,
	    0x80, 0x02, 0x6c, 0x6f };
	struct wa_ws *cl = wa_ws_new(WA_WS_CLIENT, 0);
	struct wa_ws_msg m;
	size_t consumed, need, off = 0;

	(void)state;
	/* First only the first fragment: it is absorbed, AGAIN with consumed = 5. */
	assert_int_equal(parse_bytes(cl, b, 5, &m, &consumed, &need), WA_WS_AGAIN);
	assert_int_equal(consumed, 5);
	off = 5;
	assert_int_equal(parse_bytes(cl, b + off, sizeof(b) - off, &m, &consumed, &need), WA_WS_DONE);
	assert_int_equal(m.opcode, WA_WS_OP_PING);
	assert_memory_equal(m.data, "Hello", 5);
	off += consumed;
	assert_int_equal(parse_bytes(cl, b + off, sizeof(b) - off, &m, &consumed, &need), WA_WS_DONE);
	assert_int_equal(m.opcode, WA_WS_OP_TEXT);
	assert_int_equal(m.len, 5);
	assert_memory_equal(m.data, "Hello", 5);
	off += consumed;
	assert_int_equal(off, sizeof(b));
	/* A continuation with no start is a protocol error. */
	uint8_t c[] = { 0x80, 0x02, 0x6c, 0x6f };
	assert_int_equal(parse_bytes(cl, c, sizeof(c), &m, &consumed, &need), WA_WS_ERROR);
	/* A new data frame inside a fragmented message is an error. */
	uint8_t d[] = { 0x02, 0x01, 0x00, 0x82, 0x01, 0x00 };
	assert_int_equal(parse_bytes(cl, d, sizeof(d), &m, &consumed, &need), WA_WS_ERROR);
	wa_ws_free(cl);
}

/* Pong (masked, RFC example), fragmented control and long control frames. */
static void
test_control(void **state)
{
	uint8_t pong[] = { 0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	uint8_t fragping[] = { 0x09, 0x00 };
	uint8_t longping[2 + 2 + 126];
	struct wa_ws *sv = wa_ws_new(WA_WS_SERVER, 0), *cl = wa_ws_new(WA_WS_CLIENT, 0);
	struct wa_ws_msg m;
	size_t consumed, need;
	uint8_t out[256];

	(void)state;
	assert_int_equal(parse_bytes(sv, pong, sizeof(pong), &m, &consumed, &need), WA_WS_DONE);
	assert_int_equal(m.opcode, WA_WS_OP_PONG);
	assert_int_equal(parse_bytes(cl, fragping, sizeof(fragping), &m, &consumed, &need), WA_WS_ERROR);
	memset(longping, 0, sizeof(longping));
	longping[0] = 0x89;
	longping[1] = 126;
	longping[3] = 126;
	assert_int_equal(parse_bytes(cl, longping, sizeof(longping), &m, &consumed, &need), WA_WS_ERROR);
	/* The encoder refuses a control payload over 125 bytes. */
	assert_int_equal(wa_ws_frame_encode(out, sizeof(out), WA_WS_OP_PING, 1, 0, longping, 126), 0);
	wa_ws_free(sv);
	wa_ws_free(cl);
}

/* Close frames: codes, empty, 1-byte, invalid code, encode/parse round trip through masking. */
static void
test_close(void **state)
{
	uint8_t empty[] = { 0x88, 0x00 }, one[] = { 0x88, 0x01, 0x03 }, bad[] = { 0x88, 0x02, 0x03, 0xed };
	uint8_t res[] = { 0x88, 0x02, 0x03, 0xe8 }, out[140];
	struct wa_ws *cl = wa_ws_new(WA_WS_CLIENT, 0), *sv = wa_ws_new(WA_WS_SERVER, 0);
	struct wa_ws_msg m;
	size_t consumed, need, n;

	(void)state;
	assert_int_equal(parse_bytes(cl, empty, sizeof(empty), &m, &consumed, &need), WA_WS_DONE);
	assert_int_equal(m.opcode, WA_WS_OP_CLOSE);
	assert_int_equal(m.close_code, WA_WS_CLOSE_NO_STATUS);
	assert_int_equal(parse_bytes(cl, one, sizeof(one), &m, &consumed, &need), WA_WS_ERROR);
	assert_int_equal(parse_bytes(cl, bad, sizeof(bad), &m, &consumed, &need), WA_WS_ERROR); /* 1005 */
	assert_int_equal(parse_bytes(cl, res, sizeof(res), &m, &consumed, &need), WA_WS_DONE);
	assert_int_equal(m.close_code, WA_WS_CLOSE_NORMAL);
	n = wa_ws_close_encode(out, sizeof(out), 1, WA_WS_CLOSE_GOING_AWAY, "bye");
	assert_int_equal(n, 2 + 4 + 5);
	assert_int_equal(parse_bytes(sv, out, n, &m, &consumed, &need), WA_WS_DONE);
	assert_int_equal(m.close_code, 1001);
	assert_int_equal(m.len, 5);
	assert_memory_equal(m.data + 2, "bye", 3);
	wa_ws_free(cl);
	wa_ws_free(sv);
}

/* 16-bit (256 bytes) and 64-bit (65536 bytes) lengths, RFC examples, plus non-minimal encodings. */
static void
test_lengths(void **state)
{
	size_t big = 65536, n, consumed, need;
	uint8_t *payload = malloc(big), *frame = malloc(big + 14);
	struct wa_ws *cl = wa_ws_new(WA_WS_CLIENT, 0), *sv = wa_ws_new(WA_WS_SERVER, 0);
	struct wa_ws_msg m;
	uint8_t nonmin16[] = { 0x82, 0x7e, 0x00, 0x05, 1, 2, 3, 4, 5 };
	uint8_t nonmin64[] = { 0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0x05, 1, 2, 3, 4, 5 };
	uint8_t top64[] = { 0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0 };

	(void)state;
	for (size_t i = 0; i < big; i++)
		payload[i] = (uint8_t)(i * 7);
	n = wa_ws_frame_encode(frame, big + 14, WA_WS_OP_BINARY, 1, 0, payload, 256);
	assert_int_equal(n, 4 + 256);
	assert_memory_equal(frame, ((uint8_t[]){ 0x82, 0x7e, 0x01, 0x00 }), 4);
	assert_int_equal(parse_bytes(cl, frame, n, &m, &consumed, &need), WA_WS_DONE);
	assert_int_equal(m.len, 256);
	assert_memory_equal(m.data, payload, 256);
	n = wa_ws_frame_encode(frame, big + 14, WA_WS_OP_BINARY, 1, 0, payload, big);
	assert_int_equal(n, 10 + big);
	assert_memory_equal(frame, ((uint8_t[]){ 0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0 }), 10);
	/* Partial: AGAIN with need = whole frame. */
	assert_int_equal(parse_bytes(cl, frame, 100, &m, &consumed, &need), WA_WS_AGAIN);
	assert_int_equal(need, n);
	assert_int_equal(parse_bytes(cl, frame, n, &m, &consumed, &need), WA_WS_DONE);
	assert_int_equal(m.len, big);
	assert_memory_equal(m.data, payload, big);
	/* Masked 64-bit round trip. */
	n = wa_ws_frame_encode(frame, big + 14, WA_WS_OP_BINARY, 1, 1, payload, big);
	assert_int_equal(n, 14 + big);
	assert_int_equal(parse_bytes(sv, frame, n, &m, &consumed, &need), WA_WS_DONE);
	assert_memory_equal(m.data, payload, big);
	assert_int_equal(parse_bytes(cl, nonmin16, sizeof(nonmin16), &m, &consumed, &need), WA_WS_ERROR);
	assert_int_equal(parse_bytes(cl, nonmin64, sizeof(nonmin64), &m, &consumed, &need), WA_WS_ERROR);
	assert_int_equal(parse_bytes(cl, top64, sizeof(top64), &m, &consumed, &need), WA_WS_ERROR);
	free(payload);
	free(frame);
	wa_ws_free(cl);
	wa_ws_free(sv);
}

/* Oversize messages are refused from the header alone (single frame and across fragments). */
static void
test_oversize(void **state)
{
	struct wa_ws *cl = wa_ws_new(WA_WS_CLIENT, 1000);
	struct wa_ws_msg m;
	size_t consumed, need;
	uint8_t huge[] = { 0x82, 0x7f, 0, 0, 0, 1, 0, 0, 0, 0 };	/* 4 GiB, no payload present */
	uint8_t f1[4 + 600], f2[4 + 600];

	(void)state;
	assert_int_equal(parse_bytes(cl, huge, sizeof(huge), &m, &consumed, &need), WA_WS_ERROR);
	assert_int_equal(m.close_code, WA_WS_CLOSE_TOO_BIG);
	memset(f1, 0, sizeof(f1));
	memset(f2, 0, sizeof(f2));
	f1[0] = 0x02;
	f1[1] = 126;
	f1[2] = 600 >> 8;
	f1[3] = 600 & 0xff;
	memcpy(f2, f1, 4);
	f2[0] = 0x80;
	assert_int_equal(parse_bytes(cl, f1, sizeof(f1), &m, &consumed, &need), WA_WS_AGAIN);
	assert_int_equal(consumed, sizeof(f1));
	assert_int_equal(parse_bytes(cl, f2, sizeof(f2), &m, &consumed, &need), WA_WS_ERROR);
	assert_int_equal(m.close_code, WA_WS_CLOSE_TOO_BIG);
	wa_ws_free(cl);
}

/* Reserved bits, unknown opcodes and invalid UTF-8 text are refused. */
static void
test_invalid(void **state)
{
	struct wa_ws *cl = wa_ws_new(WA_WS_CLIENT, 0);
	struct wa_ws_msg m;
	size_t consumed, need;
	uint8_t rsv[] = { 0xc2, 0x00 }, op[] = { 0x83, 0x00 }, utf[] = { 0x81, 0x02, 0xc0, 0xaf };

	(void)state;
	assert_int_equal(parse_bytes(cl, rsv, sizeof(rsv), &m, &consumed, &need), WA_WS_ERROR);
	assert_int_equal(parse_bytes(cl, op, sizeof(op), &m, &consumed, &need), WA_WS_ERROR);
	assert_int_equal(parse_bytes(cl, utf, sizeof(utf), &m, &consumed, &need), WA_WS_ERROR);
	assert_int_equal(m.close_code, WA_WS_CLOSE_INVALID);
	wa_ws_free(cl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accept_key),
		cmocka_unit_test(test_upgrade_roundtrip),
		cmocka_unit_test(test_upgrade_errors),
		cmocka_unit_test(test_hello),
		cmocka_unit_test(test_fragmented),
		cmocka_unit_test(test_control),
		cmocka_unit_test(test_close),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_oversize),
		cmocka_unit_test(test_invalid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
