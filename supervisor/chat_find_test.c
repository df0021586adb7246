/* chat_find: Evolution's findMessages filters as SQL terms and parameters, pages, lastMessage cleaning. */
#include "chat_find.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

static void
test_where_none(void **state)
{
	struct chat_find_msg_filter f;
	struct chat_find_where w;

	(void)state;
	memset(&f, 0, sizeof(f));
	assert_int_equal(chat_find_messages_where(&f, "iid", &w), 0);
	assert_string_equal(w.sql, "");
	assert_int_equal(w.nparams, 1);
	assert_string_equal(w.params[0], "iid");
}

/* Every filter at once: one term each, numbered after the instance id, values passed as parameters. */
static void
test_where_all(void **state)
{
	struct chat_find_msg_filter f;
	struct chat_find_where w;

	(void)state;
	memset(&f, 0, sizeof(f));
	f.id = "42";
	f.source = "ios";
	f.message_type = "conversation";
	f.key_id = "3EB0'; DROP TABLE message; --";
	f.from_me = 1;
	f.remote_jid = "5511@s.whatsapp.net";
	f.participant = "5522@s.whatsapp.net";
	f.has_range = 1;
	f.ts_gte = 1735689600;
	f.ts_lte = -5;
	assert_int_equal(chat_find_messages_where(&f, "iid", &w), 0);
	assert_string_equal(w.sql, " AND m.id = $2::bigint AND m.source = $3 AND m.message_type = $4"
	    " AND m.key_id = $5 AND m.from_me AND m.remote_jid = $6 AND m.participant = $7"
	    " AND m.message_timestamp >= $8::bigint AND m.message_timestamp <= $9::bigint");
	assert_int_equal(w.nparams, 9);
	assert_string_equal(w.params[1], "42");
	assert_string_equal(w.params[4], "3EB0'; DROP TABLE message; --");
	assert_string_equal(w.params[7], "1735689600");
	assert_string_equal(w.params[8], "-5");
	assert_int_equal(chat_find_param(&w, "x"), 10);
}

/* Our ids are row numbers: any other string (Evolution's cuids) matches nothing instead of failing the cast. */
static void
test_where_foreign_id(void **state)
{
	static const char *const bad[] = { "cm6x0c2l40001qz0h3jv7f9ab", "", "-1", "1e3", "1234567890123456789", NULL };
	struct chat_find_msg_filter f;
	struct chat_find_where w;
	size_t i;

	(void)state;
	for (i = 0; bad[i] != NULL; i++) {
		memset(&f, 0, sizeof(f));
		f.id = bad[i];
		assert_int_equal(chat_find_messages_where(&f, "iid", &w), 0);
		assert_string_equal(w.sql, " AND false");
		assert_int_equal(w.nparams, 1);
	}
}

static void
test_where_full(void **state)
{
	struct chat_find_where w;
	int i;

	(void)state;
	memset(&w, 0, sizeof(w));
	for (i = 0; i < CHAT_FIND_PARAMS_MAX; i++)
		assert_int_equal(chat_find_param(&w, "v"), i + 1);
	assert_int_equal(chat_find_param(&w, "v"), -1);
	assert_int_equal(chat_find_where_add(&w, " AND x = $%d", "v"), -1);
}

static void
test_pages(void **state)
{
	(void)state;
	assert_int_equal(chat_find_pages(0, 50), 0);
	assert_int_equal(chat_find_pages(1, 50), 1);
	assert_int_equal(chat_find_pages(50, 50), 1);
	assert_int_equal(chat_find_pages(51, 50), 2);
	assert_int_equal(chat_find_pages(1520, 50), 31);
	assert_int_equal(chat_find_pages(10, 0), 0);
}

/* cleanMessageData: media reduced to what a chat list shows, base64 gone, mediaUrl and text kept. */
static void
test_message_clean(void **state)
{
	struct json_object *m = json_tokener_parse(
	    "{\"imageMessage\": {\"caption\": \"look\", \"jpegThumbnail\": \"AAAA\", \"url\": \"https://x\"},"
	    " \"base64\": \"QUJD\", \"mediaUrl\": \"https://s3/x.jpg\"}");

	(void)state;
	chat_find_message_clean(m);
	assert_string_equal(json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN),
	    "{\"imageMessage\":{\"caption\":\"look\"},\"mediaUrl\":\"https:\\/\\/s3\\/x.jpg\"}");
	json_object_put(m);
	m = json_tokener_parse("{\"audioMessage\": {\"seconds\": 7, \"ptt\": true}, \"stickerMessage\": {\"url\": \"u\"},"
	    " \"videoMessage\": {\"url\": \"u\"}, \"documentMessage\": {\"caption\": null, \"name\": \"a.pdf\","
	    " \"mimetype\": \"application/pdf\"}, \"documentWithCaptionMessage\": null, \"conversation\": \"hi\"}");
	chat_find_message_clean(m);
	assert_string_equal(json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN),
	    "{\"audioMessage\":{\"seconds\":7},\"stickerMessage\":{},\"videoMessage\":{},"
	    "\"documentMessage\":{\"caption\":null,\"name\":\"a.pdf\"},\"documentWithCaptionMessage\":null,"
	    "\"conversation\":\"hi\"}");
	json_object_put(m);
	chat_find_message_clean(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_where_none),
		cmocka_unit_test(test_where_all),
		cmocka_unit_test(test_where_foreign_id),
		cmocka_unit_test(test_where_full),
		cmocka_unit_test(test_pages),
		cmocka_unit_test(test_message_clean),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
