/* msg_send: recipients as Evolution normalises them, and text messages through a protobuf round trip into
 * the JSON Evolution stores (msg_json). */
#include "msg_send.h"
#include "msg_json.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static void
expect_jid(const char *in, enum msg_send_kind kind, const char *jid)
{
	char out[MSG_SEND_JID_MAX];

	assert_int_equal(msg_send_jid(in, out), kind);
	assert_string_equal(out, jid);
}

static void
test_jid(void **state)
{
	(void)state;
	expect_jid("15551234567", MSG_SEND_USER, "15551234567@s.whatsapp.net");
	expect_jid("+1 555-123 4567", MSG_SEND_USER, "15551234567@s.whatsapp.net");
	expect_jid("+1 (555) 1234567", MSG_SEND_USER, "15551234567@s.whatsapp.net");
	expect_jid("15551234567@s.whatsapp.net", MSG_SEND_USER, "15551234567@s.whatsapp.net");
	expect_jid("15551234567:12@s.whatsapp.net", MSG_SEND_USER, "15551234567@s.whatsapp.net");
	expect_jid("123456789012345@lid", MSG_SEND_USER, "123456789012345@lid");
	expect_jid("120363025246125888@g.us", MSG_SEND_GROUP, "120363025246125888@g.us");
	expect_jid("5511999990001-1612345678@g.us", MSG_SEND_GROUP, "5511999990001-1612345678@g.us");
	/* 18+ digits are a group id, as Evolution reads them */
	expect_jid("120363025246125888", MSG_SEND_GROUP, "120363025246125888@g.us");
	/* Evolution's BR rule: an old mobile loses its ninth digit */
	expect_jid("5531987654321", MSG_SEND_USER, "553187654321@s.whatsapp.net");
	/* not recipients: Evolution's createJid result kept for the {"exists":false} answer */
	expect_jid("abc", MSG_SEND_BAD, "@s.whatsapp.net");
	expect_jid("12", MSG_SEND_BAD, "12@s.whatsapp.net");
	expect_jid("status@broadcast", MSG_SEND_BAD, "status@broadcast");
	expect_jid("abc@s.whatsapp.net", MSG_SEND_BAD, "abc@s.whatsapp.net");
	expect_jid("x@lid", MSG_SEND_BAD, "x@lid");
	expect_jid("1234567890123456789012@s.whatsapp.net", MSG_SEND_BAD, "1234567890123456789012@s.whatsapp.net");
	expect_jid("", MSG_SEND_BAD, "@s.whatsapp.net");
}

/* Pack t, render it as Evolution stores it; compare JSON (before normalize) and the type after. */
static void
expect_text(const struct msg_send_text *t, const char *json, const char *type)
{
	char ty[MSG_JSON_TYPE_MAX], err[128];
	json_object *o;
	uint8_t *buf;
	size_t len;

	buf = msg_send_text_pack(t, &len);
	assert_non_null(buf);
	assert_int_equal(msg_json_from_bytes(buf, len, &o, ty, sizeof(ty), err, sizeof(err)), 0);
	assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
	    json);
	msg_json_normalize(o, ty, sizeof(ty));
	assert_string_equal(ty, type);
	json_object_put(o);
	free(buf);
}

static void
test_text(void **state)
{
	struct msg_send_text t;
	const char *mentions[] = { "15550009999@s.whatsapp.net" };
	uint8_t *q;
	size_t qlen;

	(void)state;
	memset(&t, 0, sizeof(t));
	t.text = "Hello \"you\" é";
	expect_text(&t, "{\"conversation\":\"Hello \\\"you\\\" é\"}", "conversation");

	t.text = "hi @15550009999";
	t.mentions = mentions;
	t.nmentions = 1;
	expect_text(&t, "{\"extendedTextMessage\":{\"text\":\"hi @15550009999\",\"contextInfo\":{\"mentionedJid\":"
	    "[\"15550009999@s.whatsapp.net\"]}}}", "conversation");

	/* a reply carries the quoted message itself */
	memset(&t, 0, sizeof(t));
	t.text = "original";
	q = msg_send_text_pack(&t, &qlen);
	assert_non_null(q);
	t.text = "reply";
	t.quoted_id = "3EB0AA";
	t.quoted_participant = "15551234567@s.whatsapp.net";
	t.quoted_message = q;
	t.quoted_len = qlen;
	expect_text(&t, "{\"extendedTextMessage\":{\"text\":\"reply\",\"contextInfo\":{\"stanzaId\":\"3EB0AA\","
	    "\"participant\":\"15551234567@s.whatsapp.net\",\"quotedMessage\":{\"conversation\":\"original\"}}}}",
	    "conversation");
	free(q);

	/* refused: no text, a quoted message that does not unpack */
	memset(&t, 0, sizeof(t));
	assert_null(msg_send_text_pack(&t, &qlen));
	t.text = "";
	assert_null(msg_send_text_pack(&t, &qlen));
	t.text = "x";
	t.quoted_id = "A";
	t.quoted_message = (const uint8_t *)"\xff\xff\xff";
	t.quoted_len = 3;
	assert_null(msg_send_text_pack(&t, &qlen));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jid),
		cmocka_unit_test(test_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
