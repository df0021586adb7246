/* msg_content.c: content versus protocol traffic, DeviceSentMessage unwrapped, the sender key distribution taken
 * out, unknown fields kept, deep nesting and garbage refused. */
#include "msg_content.h"
#include "e2e.pb-c.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static uint8_t *
pack(const Wa__Message *m, size_t *len)
{
	uint8_t *b;

	*len = wa__message__get_packed_size(m);
	b = malloc(*len + 1);
	wa__message__pack(m, b);
	return b;
}

static Wa__Message *
unpack(const struct msg_content *c)
{
	Wa__Message *m = wa__message__unpack(NULL, c->len, c->message);

	assert_non_null(m);
	return m;
}

static void
test_text_and_skdm(void **state)
{
	Wa__Message m = WA__MESSAGE__INIT, *back;
	Wa__SenderKeyDistributionMessage sk = WA__SENDER_KEY_DISTRIBUTION_MESSAGE__INIT;
	uint8_t axo[40], *b;
	struct msg_content c;
	char err[128];
	size_t len;

	(void)state;
	m.conversation = "hi";
	b = pack(&m, &len);
	assert_int_equal(msg_content_parse(b, len, &c, err, sizeof(err)), 0);
	assert_non_null(c.message);
	assert_int_equal(c.len, len);
	assert_memory_equal(c.message, b, len);
	assert_null(c.skdm);
	assert_null(c.dsm_dest);
	msg_content_clear(&c);
	free(b);

	/* an SKDM with the text: handed out, and not in what is stored */
	memset(axo, 0x33, sizeof(axo));
	sk.groupid = "120363000000000001@g.us";
	sk.has_axolotlsenderkeydistributionmessage = 1;
	sk.axolotlsenderkeydistributionmessage.data = axo;
	sk.axolotlsenderkeydistributionmessage.len = sizeof(axo);
	m.senderkeydistributionmessage = &sk;
	b = pack(&m, &len);
	assert_int_equal(msg_content_parse(b, len, &c, err, sizeof(err)), 0);
	assert_string_equal(c.skdm_group, "120363000000000001@g.us");
	assert_int_equal(c.skdm_len, sizeof(axo));
	assert_memory_equal(c.skdm, axo, sizeof(axo));
	back = unpack(&c);
	assert_null(back->senderkeydistributionmessage);
	assert_string_equal(back->conversation, "hi");
	wa__message__free_unpacked(back, NULL);
	msg_content_clear(&c);
	free(b);

	/* the SKDM alone is protocol traffic */
	m.conversation = NULL;
	b = pack(&m, &len);
	assert_int_equal(msg_content_parse(b, len, &c, err, sizeof(err)), 0);
	assert_null(c.message);
	assert_non_null(c.skdm);
	msg_content_clear(&c);
	free(b);

	/* an SKDM without its key material is refused */
	sk.has_axolotlsenderkeydistributionmessage = 0;
	b = pack(&m, &len);
	assert_int_equal(msg_content_parse(b, len, &c, err, sizeof(err)), -1);
	assert_null(c.skdm);
	free(b);
}

static void
test_dsm(void **state)
{
	Wa__Message m = WA__MESSAGE__INIT, inner = WA__MESSAGE__INIT, *back;
	Wa__DeviceSentMessage dsm = WA__DEVICE_SENT_MESSAGE__INIT;
	struct msg_content c;
	char err[128];
	uint8_t *b;
	size_t len;

	(void)state;
	inner.conversation = "from my phone";
	dsm.destinationjid = "15550001111@s.whatsapp.net";
	dsm.message = &inner;
	m.devicesentmessage = &dsm;
	b = pack(&m, &len);
	assert_int_equal(msg_content_parse(b, len, &c, err, sizeof(err)), 0);
	assert_string_equal(c.dsm_dest, "15550001111@s.whatsapp.net");
	back = unpack(&c);
	assert_string_equal(back->conversation, "from my phone");
	assert_null(back->devicesentmessage);
	wa__message__free_unpacked(back, NULL);
	msg_content_clear(&c);
	free(b);

	dsm.destinationjid = NULL;
	b = pack(&m, &len);
	assert_int_equal(msg_content_parse(b, len, &c, err, sizeof(err)), -1);
	free(b);
}

static void
test_protocol_only(void **state)
{
	Wa__Message m = WA__MESSAGE__INIT;
	Wa__ProtocolMessage p = WA__PROTOCOL_MESSAGE__INIT;
	Wa__MessageContextInfo mci = WA__MESSAGE_CONTEXT_INFO__INIT;
	struct msg_content c;
	char err[128];
	uint8_t *b, unknown[] = { 0xa0, 0x06, 0x01 };	/* field 100, varint 1: a kind this schema lacks */
	size_t len;

	(void)state;
	p.has_type = 1;
	p.type = WA__PROTOCOL_MESSAGE__TYPE__HISTORY_SYNC_NOTIFICATION;
	m.protocolmessage = &p;
	m.messagecontextinfo = &mci;
	b = pack(&m, &len);
	assert_int_equal(msg_content_parse(b, len, &c, err, sizeof(err)), 0);
	assert_null(c.message);
	free(b);
	p.type = WA__PROTOCOL_MESSAGE__TYPE__APP_STATE_SYNC_KEY_SHARE;
	b = pack(&m, &len);
	assert_int_equal(msg_content_parse(b, len, &c, err, sizeof(err)), 0);
	assert_null(c.message);
	free(b);
	/* a revoke is shown in the chat: stored */
	p.type = WA__PROTOCOL_MESSAGE__TYPE__REVOKE;
	b = pack(&m, &len);
	assert_int_equal(msg_content_parse(b, len, &c, err, sizeof(err)), 0);
	assert_non_null(c.message);
	msg_content_clear(&c);
	free(b);
	/* messageContextInfo alone, and nothing at all */
	m.protocolmessage = NULL;
	b = pack(&m, &len);
	assert_int_equal(msg_content_parse(b, len, &c, err, sizeof(err)), 0);
	assert_null(c.message);
	free(b);
	assert_int_equal(msg_content_parse((const uint8_t *)"", 0, &c, err, sizeof(err)), 0);
	assert_null(c.message);
	/* only a field we do not know: kept as sent */
	assert_int_equal(msg_content_parse(unknown, sizeof(unknown), &c, err, sizeof(err)), 0);
	assert_int_equal(c.len, sizeof(unknown));
	assert_memory_equal(c.message, unknown, sizeof(unknown));
	msg_content_clear(&c);
}

/* ephemeralMessage (40) { message (1) { ... } } nested n times around a conversation. */
static uint8_t *
nested(int n, size_t *len)
{
	size_t cap = 16 + (size_t)n * 24, used;
	uint8_t *b = malloc(cap), *t = malloc(cap);
	int i;

	b[0] = 0x0a;		/* conversation "x" */
	b[1] = 1;
	b[2] = 'x';
	used = 3;
	for (i = 0; i < n; i++) {
		size_t o = 0, inner = used;
		/* FutureProofMessage.message = 1 */
		t[o++] = 0x0a;
		do { t[o++] = (uint8_t)((inner & 0x7f) | (inner > 0x7f ? 0x80 : 0)); inner >>= 7; } while (inner);
		memcpy(t + o, b, used);
		o += used;
		/* Message.ephemeralMessage = 40: key 40<<3|2 = 322 = 0xc2 0x02 */
		inner = o;
		b[0] = 0xc2;
		b[1] = 0x02;
		used = 2;
		do { b[used++] = (uint8_t)((inner & 0x7f) | (inner > 0x7f ? 0x80 : 0)); inner >>= 7; } while (inner);
		memcpy(b + used, t, o);
		used += o;
	}
	free(t);
	*len = used;
	return b;
}

static void
test_refused(void **state)
{
	static const uint8_t garbage[] = { 0x0a, 0x7f, 0x01 }, group[] = { 0x0b, 0x0c };
	struct msg_content c;
	char err[128];
	uint8_t *b;
	size_t len;

	(void)state;
	b = nested(15, &len);		/* 30 levels of sub-message: fine */
	assert_int_equal(msg_content_parse(b, len, &c, err, sizeof(err)), 0);
	assert_non_null(c.message);
	msg_content_clear(&c);
	free(b);
	b = nested(5000, &len);		/* would take protobuf-c 10000 frames deep */
	assert_int_equal(msg_content_parse(b, len, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "nested"));
	free(b);
	assert_int_equal(msg_content_parse(garbage, sizeof(garbage), &c, err, sizeof(err)), -1);
	assert_int_equal(msg_content_parse(group, sizeof(group), &c, err, sizeof(err)), -1);
	assert_null(c.message);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_and_skdm),
		cmocka_unit_test(test_dsm),
		cmocka_unit_test(test_protocol_only),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
