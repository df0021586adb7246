/* msg_json: WhatsApp Message protobuf -> Evolution/Baileys JSON; known answers, bounds, hostile bytes. */
#include "msg_json.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "e2e.pb-c.h"

/* Render bytes and compare the JSON text and the messageType exactly. */
static void
expect_bytes(const uint8_t *buf, size_t len, const char *json, const char *type)
{
	char t[MSG_JSON_TYPE_MAX], err[256] = "";
	json_object *o = NULL;

	if (msg_json_from_bytes(buf, len, &o, t, sizeof(t), err, sizeof(err)) != 0)
		fail_msg("refused: %s", err);
	assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE), json);
	assert_string_equal(t, type);
	json_object_put(o);
}

/* Pack m with the generated code, then expect_bytes. */
static void
expect_msg(const Wa__Message *m, const char *json, const char *type)
{
	size_t len = wa__message__get_packed_size(m);
	uint8_t *buf = malloc(len + 1);

	assert_non_null(buf);
	wa__message__pack(m, buf);
	expect_bytes(buf, len, json, type);
	free(buf);
}

/* Bytes that must be refused with a reason containing want. */
static void
expect_refused(const uint8_t *buf, size_t len, const char *want)
{
	char t[MSG_JSON_TYPE_MAX], err[256] = "";
	json_object *o = (json_object *)1;

	assert_int_equal(msg_json_from_bytes(buf, len, &o, t, sizeof(t), err, sizeof(err)), -1);
	assert_null(o);
	assert_string_equal(t, "");
	if (strstr(err, want) == NULL)
		fail_msg("reason \"%s\" lacks \"%s\"", err, want);
}

static void
test_conversation(void **state)
{
	Wa__Message m = WA__MESSAGE__INIT;

	(void)state;
	m.conversation = "hello \"you\" / é";
	expect_msg(&m, "{\"conversation\":\"hello \\\"you\\\" / é\"}", "conversation");
	/* An empty message: no content, Evolution's "unknown". */
	expect_bytes((const uint8_t *)"", 0, "{}", "unknown");
}

/* A reply: contextInfo with the quoted message, mentions, a negative int64; Evolution's rewrite after. */
static void
test_extended_text_reply(void **state)
{
	Wa__Message m = WA__MESSAGE__INIT, q = WA__MESSAGE__INIT;
	Wa__ExtendedTextMessage e = WA__EXTENDED_TEXT_MESSAGE__INIT, qe = WA__EXTENDED_TEXT_MESSAGE__INIT;
	Wa__ContextInfo c = WA__CONTEXT_INFO__INIT;
	Wa__MessageContextInfo mci = WA__MESSAGE_CONTEXT_INFO__INIT;
	char *mentions[] = { "1@s.whatsapp.net", "2@s.whatsapp.net" };
	uint8_t secret[] = { 0xfb, 0xff };
	char t[MSG_JSON_TYPE_MAX], err[256];
	json_object *o;
	uint8_t *buf;
	size_t len;

	(void)state;
	qe.text = "original";
	q.extendedtextmessage = &qe;
	c.stanzaid = "3EB0AA";
	c.participant = "5511@s.whatsapp.net";
	c.quotedmessage = &q;
	c.n_mentionedjid = 2;
	c.mentionedjid = mentions;
	c.has_isforwarded = 1;
	c.isforwarded = 1;
	c.has_ephemeralsettingtimestamp = 1;
	c.ephemeralsettingtimestamp = -1;
	e.text = "reply";
	e.contextinfo = &c;
	mci.has_messagesecret = 1;
	mci.messagesecret.data = secret;
	mci.messagesecret.len = sizeof(secret);
	m.extendedtextmessage = &e;
	m.messagecontextinfo = &mci;
	expect_msg(&m, "{\"extendedTextMessage\":{\"text\":\"reply\",\"contextInfo\":{\"stanzaId\":\"3EB0AA\","
	    "\"participant\":\"5511@s.whatsapp.net\",\"quotedMessage\":{\"extendedTextMessage\":{\"text\":"
	    "\"original\"}},\"mentionedJid\":[\"1@s.whatsapp.net\",\"2@s.whatsapp.net\"],\"isForwarded\":true,"
	    "\"ephemeralSettingTimestamp\":\"-1\"}},"
	    "\"messageContextInfo\":{\"messageSecret\":\"+/8=\"}}", "extendedTextMessage");

	len = wa__message__get_packed_size(&m);
	buf = malloc(len);
	assert_non_null(buf);
	wa__message__pack(&m, buf);
	assert_int_equal(msg_json_from_bytes(buf, len, &o, t, sizeof(t), err, sizeof(err)), 0);
	free(buf);
	msg_json_normalize(o, t, sizeof(t));
	assert_string_equal(t, "conversation");
	assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
	    "{\"messageContextInfo\":{\"messageSecret\":\"+\\/8=\"},\"conversation\":\"reply\"}");
	json_object_put(o);
}

/* Media: bytes as base64, uint64 fileLength and int64 timestamps as decimal strings (protobufjs toJSON). */
static void
test_image(void **state)
{
	Wa__Message m = WA__MESSAGE__INIT;
	Wa__ImageMessage i = WA__IMAGE_MESSAGE__INIT;
	uint8_t sha[] = { 1, 2, 3 }, key[] = { 0xde, 0xad, 0xbe, 0xef };

	(void)state;
	i.url = "https://mmg.whatsapp.net/x";
	i.mimetype = "image/jpeg";
	i.caption = "look";
	i.has_filesha256 = 1;
	i.filesha256.data = sha;
	i.filesha256.len = sizeof(sha);
	i.has_filelength = 1;
	i.filelength = 12345;
	i.has_height = 1;
	i.height = 640;
	i.has_width = 1;
	i.width = 480;
	i.has_mediakey = 1;
	i.mediakey.data = key;
	i.mediakey.len = sizeof(key);
	i.has_mediakeytimestamp = 1;
	i.mediakeytimestamp = 1700000000123LL;
	i.has_viewonce = 1;
	i.viewonce = 0;
	m.imagemessage = &i;
	expect_msg(&m, "{\"imageMessage\":{\"url\":\"https://mmg.whatsapp.net/x\",\"mimetype\":\"image/jpeg\","
	    "\"caption\":\"look\",\"fileSha256\":\"AQID\",\"fileLength\":\"12345\","
	    "\"height\":640,\"width\":480,\"mediaKey\":\"3q2+7w==\","
	    "\"mediaKeyTimestamp\":\"1700000000123\",\"viewOnce\":false}}",
	    "imageMessage");
	i.filelength = (1ULL << 32) + 5;
	i.has_mediakey = 0;
	i.has_mediakeytimestamp = 0;
	i.has_viewonce = 0;
	i.has_height = i.has_width = 0;
	i.url = i.mimetype = i.caption = NULL;
	i.has_filesha256 = 0;
	expect_msg(&m, "{\"imageMessage\":{\"fileLength\":\"4294967301\"}}", "imageMessage");
}

/* Wrappers stay: Evolution calls getContentType on the raw message. */
static void
test_ephemeral(void **state)
{
	Wa__Message m = WA__MESSAGE__INIT, in = WA__MESSAGE__INIT;
	Wa__FutureProofMessage fp = WA__FUTURE_PROOF_MESSAGE__INIT;
	Wa__LocationMessage l = WA__LOCATION_MESSAGE__INIT;

	(void)state;
	l.has_degreeslatitude = 1;
	l.degreeslatitude = -23.5;
	l.has_degreeslongitude = 1;
	l.degreeslongitude = -46.625;
	l.name = "SP";
	in.locationmessage = &l;
	fp.message = &in;
	m.ephemeralmessage = &fp;
	expect_msg(&m, "{\"ephemeralMessage\":{\"message\":{\"locationMessage\":{\"degreesLatitude\":-23.5,"
	    "\"degreesLongitude\":-46.625,\"name\":\"SP\"}}}}", "ephemeralMessage");
}

static void
test_reaction(void **state)
{
	Wa__Message m = WA__MESSAGE__INIT;
	Wa__ReactionMessage r = WA__REACTION_MESSAGE__INIT;
	Wa__MessageKey k = WA__MESSAGE_KEY__INIT;

	(void)state;
	k.remotejid = "5511@s.whatsapp.net";
	k.has_fromme = 1;
	k.fromme = 1;
	k.id = "3EB0BB";
	r.key = &k;
	r.text = "\xf0\x9f\x91\x8d";
	r.has_sendertimestampms = 1;
	r.sendertimestampms = 1700000000123LL;
	m.reactionmessage = &r;
	expect_msg(&m, "{\"reactionMessage\":{\"key\":{\"remoteJid\":\"5511@s.whatsapp.net\",\"fromMe\":true,"
	    "\"id\":\"3EB0BB\"},\"text\":\"\xf0\x9f\x91\x8d\",\"senderTimestampMs\":\"1700000000123\"}}", "reactionMessage");
}

/* Enums by name (a value without a name stays a number); doubles as JavaScript prints them. */
static void
test_enums_numbers(void **state)
{
	Wa__Message m = WA__MESSAGE__INIT, ed = WA__MESSAGE__INIT;
	Wa__ProtocolMessage p = WA__PROTOCOL_MESSAGE__INIT;
	Wa__MessageKey k = WA__MESSAGE_KEY__INIT;
	Wa__LocationMessage l = WA__LOCATION_MESSAGE__INIT;

	(void)state;
	k.id = "3EB0CC";
	ed.conversation = "fixed";
	p.key = &k;
	p.has_type = 1;
	p.type = WA__PROTOCOL_MESSAGE__TYPE__MESSAGE_EDIT;
	p.editedmessage = &ed;
	m.protocolmessage = &p;
	expect_msg(&m, "{\"protocolMessage\":{\"key\":{\"id\":\"3EB0CC\"},\"type\":\"MESSAGE_EDIT\","
	    "\"editedMessage\":{\"conversation\":\"fixed\"}}}", "protocolMessage");
	p.type = 99;
	p.editedmessage = NULL;
	expect_msg(&m, "{\"protocolMessage\":{\"key\":{\"id\":\"3EB0CC\"},\"type\":99}}", "protocolMessage");

	m.protocolmessage = NULL;
	l.has_degreeslatitude = 1;
	l.degreeslatitude = 0.1;
	l.has_degreeslongitude = 1;
	l.degreeslongitude = 0.0 / 0.0;
	l.has_speedinmps = 1;
	l.speedinmps = 0.1f;
	m.locationmessage = &l;
	expect_msg(&m, "{\"locationMessage\":{\"degreesLatitude\":0.1,\"degreesLongitude\":\"NaN\","
	    "\"speedInMps\":0.10000000149011612}}", "locationMessage");
}

/* Baileys hands over the inner message of a deviceSentMessage; a bare sender-key message is "unknown". */
static void
test_device_sent(void **state)
{
	Wa__Message m = WA__MESSAGE__INIT, in = WA__MESSAGE__INIT;
	Wa__DeviceSentMessage ds = WA__DEVICE_SENT_MESSAGE__INIT;
	Wa__SenderKeyDistributionMessage skd = WA__SENDER_KEY_DISTRIBUTION_MESSAGE__INIT;
	Wa__MessageContextInfo mci = WA__MESSAGE_CONTEXT_INFO__INIT;
	uint8_t k[] = { 0 };

	(void)state;
	in.conversation = "from my phone";
	ds.destinationjid = "5511@s.whatsapp.net";
	ds.message = &in;
	m.devicesentmessage = &ds;
	mci.has_devicelistmetadataversion = 1;
	mci.devicelistmetadataversion = 2;
	m.messagecontextinfo = &mci;
	expect_msg(&m, "{\"conversation\":\"from my phone\"}", "conversation");

	m.devicesentmessage = NULL;
	skd.groupid = "123@g.us";
	skd.has_axolotlsenderkeydistributionmessage = 1;
	skd.axolotlsenderkeydistributionmessage.data = k;
	skd.axolotlsenderkeydistributionmessage.len = 1;
	m.senderkeydistributionmessage = &skd;
	expect_msg(&m, "{\"senderKeyDistributionMessage\":{\"groupId\":\"123@g.us\","
	    "\"axolotlSenderKeyDistributionMessage\":\"AA==\"},\"messageContextInfo\":"
	    "{\"deviceListMetadataVersion\":2}}", "unknown");
}

/* Fields this schema does not know (varint, fixed, length-delimited, in a sub-message too) are skipped. */
static void
test_unknown_fields(void **state)
{
	/* 1:"hi"; 1000:varint 7; 999:"zz"; 3:{ 200:fixed32, 3:"c" } */
	static const uint8_t b[] = {
		0x0a, 0x02, 'h', 'i',
		0xc0, 0x3e, 0x07,
		0xba, 0x3e, 0x02, 'z', 'z',
		0x1a, 0x0a, 0xc5, 0x0c, 1, 2, 3, 4, 0x1a, 0x01, 'c', 0x00,
	};

	(void)state;
	/* The last byte above is a stray 0 tag inside imageMessage's 10 bytes: cut it off to stay well-formed. */
	static const uint8_t ok[] = {
		0x0a, 0x02, 'h', 'i',
		0xc0, 0x3e, 0x07,
		0xba, 0x3e, 0x02, 'z', 'z',
		0x1a, 0x09, 0xc5, 0x0c, 1, 2, 3, 4, 0x1a, 0x01, 'c',
	};
	expect_bytes(ok, sizeof(ok), "{\"conversation\":\"hi\",\"imageMessage\":{\"caption\":\"c\"}}",
	    "conversation");
	expect_refused(b, sizeof(b), "field number");
}

/* Ill-formed UTF-8 becomes U+FFFD per bad byte, so the JSON always fits jsonb. */
static void
test_bad_utf8(void **state)
{
	static const uint8_t b[] = { 0x0a, 0x05, 'a', 0xff, 'b', 0xc3, 0x28 };

	(void)state;
	expect_bytes(b, sizeof(b), "{\"conversation\":\"a\xef\xbf\xbd" "b\xef\xbf\xbd(\"}", "conversation");
}

/*
 * Evolution's documentWithCaptionMessage rewrite. Its quoted-message rewrite goes through the content's
 * contextInfo, and the content here is the wrapper, which has none: the quoted wrapper stays, as in Evolution.
 * An image replying to an extended text gets its quoted message rewritten.
 */
static void
test_normalize_document(void **state)
{
	Wa__Message m = WA__MESSAGE__INIT, in = WA__MESSAGE__INIT, q = WA__MESSAGE__INIT, qin = WA__MESSAGE__INIT;
	Wa__FutureProofMessage fp = WA__FUTURE_PROOF_MESSAGE__INIT, qfp = WA__FUTURE_PROOF_MESSAGE__INIT;
	Wa__DocumentMessage d = WA__DOCUMENT_MESSAGE__INIT, qd = WA__DOCUMENT_MESSAGE__INIT;
	Wa__ContextInfo c = WA__CONTEXT_INFO__INIT;
	char t[MSG_JSON_TYPE_MAX], err[256];
	json_object *o;
	uint8_t *buf;
	size_t len;

	(void)state;
	qd.filename = "old.pdf";
	qin.documentmessage = &qd;
	qfp.message = &qin;
	q.documentwithcaptionmessage = &qfp;
	c.quotedmessage = &q;
	d.filename = "a.pdf";
	d.caption = "see";
	d.contextinfo = &c;
	in.documentmessage = &d;
	fp.message = &in;
	m.documentwithcaptionmessage = &fp;
	len = wa__message__get_packed_size(&m);
	buf = malloc(len);
	assert_non_null(buf);
	wa__message__pack(&m, buf);
	assert_int_equal(msg_json_from_bytes(buf, len, &o, t, sizeof(t), err, sizeof(err)), 0);
	free(buf);
	assert_string_equal(t, "documentWithCaptionMessage");
	msg_json_normalize(o, t, sizeof(t));
	assert_string_equal(t, "documentMessage");
	assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
	    "{\"documentMessage\":{\"fileName\":\"a.pdf\",\"contextInfo\":{\"quotedMessage\":"
	    "{\"documentWithCaptionMessage\":{\"message\":{\"documentMessage\":{\"fileName\":\"old.pdf\"}}}}},"
	    "\"caption\":\"see\"}}");
	json_object_put(o);

	{
		Wa__Message im = WA__MESSAGE__INIT, qt = WA__MESSAGE__INIT;
		Wa__ImageMessage i = WA__IMAGE_MESSAGE__INIT;
		Wa__ExtendedTextMessage qe = WA__EXTENDED_TEXT_MESSAGE__INIT;
		Wa__ContextInfo ic = WA__CONTEXT_INFO__INIT;

		qe.text = "what?";
		qt.extendedtextmessage = &qe;
		ic.quotedmessage = &qt;
		i.caption = "this";
		i.contextinfo = &ic;
		im.imagemessage = &i;
		len = wa__message__get_packed_size(&im);
		buf = malloc(len);
		assert_non_null(buf);
		wa__message__pack(&im, buf);
		assert_int_equal(msg_json_from_bytes(buf, len, &o, t, sizeof(t), err, sizeof(err)), 0);
		free(buf);
		msg_json_normalize(o, t, sizeof(t));
		assert_string_equal(t, "imageMessage");
		assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
		    "{\"imageMessage\":{\"caption\":\"this\",\"contextInfo\":{\"quotedMessage\":"
		    "{\"conversation\":\"what?\"}}}}");
		json_object_put(o);
	}
}

/* A repeated field keeps its first MSG_JSON_MAX_ARRAY elements. */
static void
test_array_cap(void **state)
{
	Wa__Message m = WA__MESSAGE__INIT;
	Wa__ExtendedTextMessage e = WA__EXTENDED_TEXT_MESSAGE__INIT;
	Wa__ContextInfo c = WA__CONTEXT_INFO__INIT;
	char *jids[MSG_JSON_MAX_ARRAY + 10], t[MSG_JSON_TYPE_MAX], err[256];
	json_object *o, *ext, *ctx, *arr;
	uint8_t *buf;
	size_t len, i;

	(void)state;
	for (i = 0; i < MSG_JSON_MAX_ARRAY + 10; i++)
		jids[i] = "1@s.whatsapp.net";
	c.n_mentionedjid = MSG_JSON_MAX_ARRAY + 10;
	c.mentionedjid = jids;
	e.contextinfo = &c;
	m.extendedtextmessage = &e;
	len = wa__message__get_packed_size(&m);
	buf = malloc(len);
	assert_non_null(buf);
	wa__message__pack(&m, buf);
	assert_int_equal(msg_json_from_bytes(buf, len, &o, t, sizeof(t), err, sizeof(err)), 0);
	free(buf);
	assert_true(json_object_object_get_ex(o, "extendedTextMessage", &ext));
	assert_true(json_object_object_get_ex(ext, "contextInfo", &ctx));
	assert_true(json_object_object_get_ex(ctx, "mentionedJid", &arr));
	assert_int_equal(json_object_array_length(arr), MSG_JSON_MAX_ARRAY);
	json_object_put(o);
}

/* n levels of ephemeralMessage around a conversation, built from the inside out without recursion. */
static uint8_t *
nest_ephemeral(unsigned n, size_t *lenp)
{
	size_t cap = 16 + (size_t)n * 16, len, i;
	uint8_t *buf = malloc(cap), *tmp = malloc(cap);
	uint8_t hdr[16];
	size_t h;

	assert_non_null(buf);
	assert_non_null(tmp);
	memcpy(buf, "\x0a\x01x", 3);
	len = 3;
	for (i = 0; i < n; i++) {
		/* FutureProofMessage{message = buf} then Message{ephemeralMessage(40) = that}. */
		for (int pass = 0; pass < 2; pass++) {
			size_t v = len;

			h = 0;
			if (pass == 0)
				hdr[h++] = 0x0a;
			else {
				hdr[h++] = 0xc2;
				hdr[h++] = 0x02;
			}
			do {
				hdr[h++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
				v >>= 7;
			} while (v != 0);
			memcpy(tmp, hdr, h);
			memcpy(tmp + h, buf, len);
			len += h;
			memcpy(buf, tmp, len);
		}
	}
	free(tmp);
	*lenp = len;
	return buf;
}

/* 16 levels (depth 32) are fine; 17 levels and 10,000 levels are refused by the iterative scan. */
static void
test_deep_nesting(void **state)
{
	char t[MSG_JSON_TYPE_MAX], err[256];
	json_object *o;
	uint8_t *b;
	size_t len;

	(void)state;
	b = nest_ephemeral(16, &len);
	assert_int_equal(msg_json_from_bytes(b, len, &o, t, sizeof(t), err, sizeof(err)), 0);
	assert_string_equal(t, "ephemeralMessage");
	json_object_put(o);
	free(b);
	b = nest_ephemeral(17, &len);
	expect_refused(b, len, "nested deeper than 32");
	free(b);
	b = nest_ephemeral(10000, &len);
	expect_refused(b, len, "nested deeper than 32");
	free(b);
}

/* Every prefix of a real message either renders or is refused; known cuts are refused; garbage too. */
static void
test_truncated_garbage(void **state)
{
	Wa__Message m = WA__MESSAGE__INIT;
	Wa__ImageMessage i = WA__IMAGE_MESSAGE__INIT;
	char t[MSG_JSON_TYPE_MAX], err[256];
	json_object *o;
	uint8_t *buf;
	size_t len, cut;

	(void)state;
	i.caption = "a caption long enough";
	i.has_filelength = 1;
	i.filelength = 1ULL << 40;
	m.imagemessage = &i;
	m.conversation = "x";
	len = wa__message__get_packed_size(&m);
	buf = malloc(len);
	assert_non_null(buf);
	wa__message__pack(&m, buf);
	for (cut = 0; cut < len; cut++) {
		if (msg_json_from_bytes(buf, cut, &o, t, sizeof(t), err, sizeof(err)) == 0)
			json_object_put(o);
	}
	expect_refused(buf, len - 1, "truncated");
	free(buf);
	expect_refused((const uint8_t *)"\xff\xff\xff", 3, "truncated");
	expect_refused((const uint8_t *)"\x0b\x01", 2, "wire type");
	/* imageMessage (field 3) sent as a varint: well-formed wire, wrong type; protobuf-c refuses it. */
	expect_refused((const uint8_t *)"\x18\x01", 2, "protobuf-c");
	/* Over the input cap, refused before any parsing. */
	assert_int_equal(msg_json_from_bytes((const uint8_t *)"", MSG_JSON_MAX_INPUT + 1, &o, t, sizeof(t), err,
	    sizeof(err)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conversation),
		cmocka_unit_test(test_extended_text_reply),
		cmocka_unit_test(test_image),
		cmocka_unit_test(test_ephemeral),
		cmocka_unit_test(test_reaction),
		cmocka_unit_test(test_enums_numbers),
		cmocka_unit_test(test_device_sent),
		cmocka_unit_test(test_unknown_fields),
		cmocka_unit_test(test_bad_utf8),
		cmocka_unit_test(test_normalize_document),
		cmocka_unit_test(test_array_cap),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_truncated_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
