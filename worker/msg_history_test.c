/* msg_history.c: a history sync chunk into rows. Chunks are built with the generated protobuf code and zlib, as a
 * phone makes them: the rows, the PN form of a LID chat with its mapping, statuses shifted into MsgStatus, group
 * participants, push names; what is skipped (no timestamp, protocol-only content, ill-formed names) and what the
 * caps drop; and refusals: not zlib, trailing bytes, a decompression bomb, not a HistorySync. */
#include "msg_history.h"
#include "msg_content.h"
#include "e2e.pb-c.h"
#include "history.pb-c.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <cmocka.h>

/* zlib of n bytes at b; *zlen set. */
static uint8_t *
deflate_bytes(const uint8_t *b, size_t n, size_t *zlen)
{
	uLongf cap = compressBound(n);
	uint8_t *z = malloc(cap);

	assert_int_equal(compress2(z, &cap, b, n, 6), Z_OK);
	*zlen = cap;
	return z;
}

static uint8_t *
chunk_of(const Wa__HistorySync *hs, size_t *zlen)
{
	size_t n = wa__history_sync__get_packed_size(hs);
	uint8_t *raw = malloc(n + 1), *z;

	wa__history_sync__pack(hs, raw);
	z = deflate_bytes(raw, n, zlen);
	free(raw);
	return z;
}

/* A text Message's bytes (conversation = text) in *out. */
static void
text_bytes(const char *text, ProtobufCBinaryData *out)
{
	Wa__Message m = WA__MESSAGE__INIT;

	m.conversation = (char *)text;
	out->len = wa__message__get_packed_size(&m);
	out->data = malloc(out->len + 1);
	wa__message__pack(&m, out->data);
}

struct fixture {
	Wa__HistorySync hs;
	Wa__Conversation conv[2], *convp[2];
	Wa__HistorySyncMsg hm[4], *hmp[4];
	Wa__WebMessageInfo wmi[4];
	Wa__MessageKey key[4];
	Wa__Pushname pn[2], *pnp[2];
	Wa__PhoneNumberToLIDMapping map, *mapp[1];
};

static void
fixture_init(struct fixture *f)
{
	Wa__Message proto = WA__MESSAGE__INIT;
	Wa__ProtocolMessage pm = WA__PROTOCOL_MESSAGE__INIT;
	int i;

	memset(f, 0, sizeof(*f));
	wa__history_sync__init(&f->hs);
	f->hs.has_synctype = 1;
	f->hs.synctype = WA__HISTORY_SYNC__HISTORY_SYNC_TYPE__INITIAL_BOOTSTRAP;
	for (i = 0; i < 4; i++) {
		wa__history_sync_msg__init(&f->hm[i]);
		wa__web_message_info__init(&f->wmi[i]);
		wa__message_key__init(&f->key[i]);
		f->hm[i].message = &f->wmi[i];
		f->hmp[i] = &f->hm[i];
		f->wmi[i].key = &f->key[i];
		f->wmi[i].has_message = 1;
		f->wmi[i].has_messagetimestamp = 1;
		f->wmi[i].messagetimestamp = 1700000000 + (uint64_t)i;
	}
	/* a LID chat whose PN the chunk names: an incoming text (DELIVERY_ACK) and our own (READ) */
	wa__conversation__init(&f->conv[0]);
	f->conv[0].id = "123456@lid";
	f->conv[0].pnjid = "15550001111@s.whatsapp.net";
	f->conv[0].name = "Alice";
	f->conv[0].n_messages = 2;
	f->conv[0].messages = &f->hmp[0];
	f->key[0].id = "3EB0AAAAAAAAAAAAAAAAAA";
	text_bytes("hello", &f->wmi[0].message);
	f->wmi[0].has_status = 1;
	f->wmi[0].status = WA__WEB_MESSAGE_INFO__STATUS__DELIVERY_ACK;
	f->wmi[0].pushname = "Alice";
	f->key[1].id = "3EB0BBBBBBBBBBBBBBBBBB";
	f->key[1].has_fromme = 1;
	f->key[1].fromme = 1;
	text_bytes("hi back", &f->wmi[1].message);
	f->wmi[1].has_status = 1;
	f->wmi[1].status = WA__WEB_MESSAGE_INFO__STATUS__READ;
	f->wmi[1].pushname = "Me";
	/* a group: a member's text, one without a timestamp (skipped), one protocol-only (skipped) */
	wa__conversation__init(&f->conv[1]);
	f->conv[1].id = "120363000000000001@g.us";
	f->conv[1].n_messages = 2;
	f->conv[1].messages = &f->hmp[2];
	f->conv[1].displayname = "Team";
	f->key[2].id = "3A00000000000000000B";
	f->key[2].participant = "15550002222@s.whatsapp.net";
	text_bytes("group text", &f->wmi[2].message);
	f->key[3].id = "3A00000000000000000C";
	pm.has_type = 1;
	pm.type = WA__PROTOCOL_MESSAGE__TYPE__APP_STATE_SYNC_KEY_SHARE;
	proto.protocolmessage = &pm;
	f->wmi[3].message.len = wa__message__get_packed_size(&proto);
	f->wmi[3].message.data = malloc(f->wmi[3].message.len + 1);
	wa__message__pack(&proto, f->wmi[3].message.data);
	f->convp[0] = &f->conv[0];
	f->convp[1] = &f->conv[1];
	f->hs.n_conversations = 2;
	f->hs.conversations = f->convp;
	for (i = 0; i < 2; i++) {
		wa__pushname__init(&f->pn[i]);
		f->pnp[i] = &f->pn[i];
	}
	f->pn[0].id = "15550002222@s.whatsapp.net";
	f->pn[0].pushname = "Bob";
	f->pn[1].id = "15550003333@s.whatsapp.net";
	f->pn[1].pushname = "\xff\xfe";		/* not UTF-8: skipped, not sent to be refused */
	f->hs.n_pushnames = 2;
	f->hs.pushnames = f->pnp;
	wa__phone_number_to_lidmapping__init(&f->map);
	f->map.pnjid = "15550004444@s.whatsapp.net";
	f->map.lidjid = "777@lid";
	f->mapp[0] = &f->map;
	f->hs.n_phonenumbertolidmappings = 1;
	f->hs.phonenumbertolidmappings = f->mapp;
}

static void
fixture_free(struct fixture *f)
{
	int i;

	for (i = 0; i < 4; i++)
		free(f->wmi[i].message.data);
}

static void
test_rows(void **state)
{
	struct fixture f;
	struct msg_history h;
	uint8_t *z;
	size_t zlen;
	char err[160];

	(void)state;
	fixture_init(&f);
	f.wmi[3].has_messagetimestamp = 1;
	z = chunk_of(&f.hs, &zlen);
	assert_int_equal(msg_history_decode(z, zlen, &h, err, sizeof(err)), 0);
	assert_int_equal(h.sync_type, 0);
	assert_int_equal(h.nmsgs, 3);
	assert_int_equal(h.skipped, 2);		/* the protocol-only message, the ill-formed push name */
	assert_int_equal(h.dropped, 0);
	/* the LID chat in its PN form, the LID beside it */
	assert_string_equal(h.msgs[0]->remote_jid, "15550001111@s.whatsapp.net");
	assert_string_equal(h.msgs[0]->remote_jid_alt, "123456@lid");
	assert_string_equal(h.msgs[0]->id, "3EB0AAAAAAAAAAAAAAAAAA");
	assert_false(h.msgs[0]->from_me);
	assert_string_equal(h.msgs[0]->push_name, "Alice");
	assert_int_equal(h.msgs[0]->status, WAGATE__IPC__MSG_STATUS__MSG_STATUS_DELIVERY_ACK);
	assert_int_equal(h.msgs[0]->timestamp, 1700000000);
	assert_string_equal(h.msgs[0]->source, "web");
	assert_true(h.msgs[0]->history);
	{
		Wa__Message *m = wa__message__unpack(NULL, h.msgs[0]->message.len, h.msgs[0]->message.data);

		assert_non_null(m);
		assert_string_equal(m->conversation, "hello");
		wa__message__free_unpacked(m, NULL);
	}
	/* our own: no push name stored, READ */
	assert_true(h.msgs[1]->from_me);
	assert_string_equal(h.msgs[1]->push_name, "");
	assert_int_equal(h.msgs[1]->status, WAGATE__IPC__MSG_STATUS__MSG_STATUS_READ);
	/* the group member's text: its participant; no status in the chunk */
	assert_string_equal(h.msgs[2]->remote_jid, "120363000000000001@g.us");
	assert_string_equal(h.msgs[2]->participant, "15550002222@s.whatsapp.net");
	assert_int_equal(h.msgs[2]->status, WAGATE__IPC__MSG_STATUS__MSG_STATUS_NONE);
	assert_string_equal(h.msgs[2]->source, "ios");
	/* chats (the name, else the display name), contacts, LID mappings (the chat's and the chunk's) */
	assert_int_equal(h.nchats, 2);
	assert_string_equal(h.chats[0]->jid, "15550001111@s.whatsapp.net");
	assert_string_equal(h.chats[0]->name, "Alice");
	assert_string_equal(h.chats[1]->name, "Team");
	assert_int_equal(h.ncontacts, 1);
	assert_string_equal(h.contacts[0]->name, "Bob");
	assert_int_equal(h.nlids, 2);
	assert_string_equal(h.lids[0]->lid, "123456@lid");
	assert_string_equal(h.lids[1]->pn, "15550004444@s.whatsapp.net");
	msg_history_clear(&h);
	free(z);
	/* without a timestamp a message is skipped (Evolution skips those too) */
	f.wmi[2].has_messagetimestamp = 0;
	z = chunk_of(&f.hs, &zlen);
	assert_int_equal(msg_history_decode(z, zlen, &h, err, sizeof(err)), 0);
	assert_int_equal(h.nmsgs, 2);
	assert_int_equal(h.skipped, 3);
	msg_history_clear(&h);
	free(z);
	fixture_free(&f);
}

/* One conversation of MSG_HISTORY_MSGS_MAX + 5 texts: the cap keeps the first, counts the rest as dropped. */
static void
test_caps(void **state)
{
	enum { N = MSG_HISTORY_MSGS_MAX + 5 };
	Wa__HistorySync hs = WA__HISTORY_SYNC__INIT;
	Wa__Conversation conv = WA__CONVERSATION__INIT, *convp = &conv;
	Wa__HistorySyncMsg *hm = calloc(N, sizeof(*hm)), **hmp = calloc(N, sizeof(*hmp));
	Wa__WebMessageInfo *w = calloc(N, sizeof(*w));
	Wa__MessageKey *k = calloc(N, sizeof(*k));
	char (*ids)[24] = calloc(N, sizeof(*ids));
	ProtobufCBinaryData text;
	struct msg_history h;
	uint8_t *z;
	size_t zlen, i;
	char err[160];

	(void)state;
	text_bytes("x", &text);
	for (i = 0; i < N; i++) {
		wa__history_sync_msg__init(&hm[i]);
		wa__web_message_info__init(&w[i]);
		wa__message_key__init(&k[i]);
		snprintf(ids[i], sizeof(ids[i]), "ID%06zu", i);
		k[i].id = ids[i];
		w[i].key = &k[i];
		w[i].has_message = 1;
		w[i].message = text;
		w[i].has_messagetimestamp = 1;
		w[i].messagetimestamp = 1700000000;
		hm[i].message = &w[i];
		hmp[i] = &hm[i];
	}
	conv.id = "15550001111@s.whatsapp.net";
	conv.n_messages = N;
	conv.messages = hmp;
	hs.n_conversations = 1;
	hs.conversations = &convp;
	z = chunk_of(&hs, &zlen);
	assert_int_equal(msg_history_decode(z, zlen, &h, err, sizeof(err)), 0);
	assert_int_equal(h.sync_type, -1);
	assert_int_equal(h.nmsgs, MSG_HISTORY_MSGS_MAX);
	assert_int_equal(h.dropped, 5);
	assert_string_equal(h.msgs[MSG_HISTORY_MSGS_MAX - 1]->id, ids[MSG_HISTORY_MSGS_MAX - 1]);
	msg_history_clear(&h);
	free(z);
	free(text.data);
	free(hm);
	free(hmp);
	free(w);
	free(k);
	free(ids);
}

static void
test_refused(void **state)
{
	struct fixture f;
	struct msg_history h;
	uint8_t *z, *big, *longer;
	size_t zlen;
	char err[160];

	(void)state;
	/* not zlib */
	assert_int_equal(msg_history_decode((const uint8_t *)"plain bytes", 11, &h, err, sizeof(err)), -1);
	assert_int_equal(h.nmsgs, 0);
	/* a truncated stream, and one with bytes after its end */
	fixture_init(&f);
	z = chunk_of(&f.hs, &zlen);
	assert_int_equal(msg_history_decode(z, zlen - 3, &h, err, sizeof(err)), -1);
	longer = malloc(zlen + 1);
	memcpy(longer, z, zlen);
	longer[zlen] = 0;
	assert_int_equal(msg_history_decode(longer, zlen + 1, &h, err, sizeof(err)), -1);
	free(longer);
	free(z);
	fixture_free(&f);
	/* a bomb: one byte past the inflated cap compresses to a few kB and is refused at the cap */
	big = calloc(1, MSG_HISTORY_INFLATED_MAX + 1);
	z = deflate_bytes(big, MSG_HISTORY_INFLATED_MAX + 1, &zlen);
	assert_true(zlen < 64 * 1024);
	assert_int_equal(msg_history_decode(z, zlen, &h, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "inflates to more than"));
	free(z);
	free(big);
	/* zlib of something that is not a HistorySync (a bad wire type at once) */
	z = deflate_bytes((const uint8_t *)"\x0f\x0f\x0f", 3, &zlen);
	assert_int_equal(msg_history_decode(z, zlen, &h, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a HistorySync"));
	free(z);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
