/* Tests for the in-memory node: attributes, content switching, lookup, clone/equal and the printer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wa_node.h"

/* Attributes are added, replaced, removed and found. */
static void
test_node_attrs(void **state)
{
	struct wa_node *n = wa_node_new("iq");

	assert_null(wa_node_attr(n, "id"));
	wa_node_set_attr(n, "id", "1");
	wa_node_set_attr(n, "type", "get");
	wa_node_set_attr(n, "id", "2");
	assert_int_equal(n->nattrs, 2);
	assert_string_equal(wa_node_attr(n, "id"), "2");
	assert_string_equal(n->attrs[0].key, "id");
	wa_node_set_attrf(n, "t", "%d", 1700000000);
	assert_string_equal(wa_node_attr(n, "t"), "1700000000");
	wa_node_set_attr(n, "id", NULL);
	assert_null(wa_node_attr(n, "id"));
	assert_int_equal(n->nattrs, 2);
	assert_string_equal(n->attrs[0].key, "type");
	wa_node_set_attr(n, "nothing", NULL);
	assert_int_equal(n->nattrs, 2);
	wa_node_free(n);
	wa_node_free(NULL);
}

/* Content switches between bytes and children, freeing what it replaces. */
static void
test_node_content(void **state)
{
	struct wa_node *n = wa_node_new("message"), *c;

	assert_int_equal(n->ctype, WA_CONTENT_NONE);
	wa_node_set_bytes(n, "abc", 3);
	assert_int_equal(n->ctype, WA_CONTENT_BYTES);
	assert_int_equal(n->nbytes, 3);
	assert_int_equal(n->bytes[3], 0);
	wa_node_set_bytes(n, n->bytes + 1, 2);		/* aliasing its own content */
	assert_memory_equal(n->bytes, "bc", 2);
	c = wa_node_add_child(n, wa_node_new("enc"));
	assert_int_equal(n->ctype, WA_CONTENT_NODES);
	assert_null(n->bytes);
	wa_node_add_child(n, wa_node_new("enc"));
	wa_node_add_child(n, wa_node_new("device-identity"));
	assert_ptr_equal(wa_node_child(n, "enc"), c);
	assert_non_null(wa_node_child(n, "device-identity"));
	assert_null(wa_node_child(n, "nope"));
	assert_int_equal(wa_node_count_children(n, "enc"), 2);
	wa_node_set_string(n, "hello");
	assert_int_equal(n->ctype, WA_CONTENT_BYTES);
	assert_int_equal(n->bkind, WA_BYTES_STRING);
	assert_int_equal(n->nchildren, 0);
	wa_node_set_bytes(n, NULL, 0);
	assert_int_equal(n->nbytes, 0);
	assert_int_equal(n->bkind, WA_BYTES_BINARY);
	wa_node_clear_content(n);
	assert_int_equal(n->ctype, WA_CONTENT_NONE);
	wa_node_free(n);
}

/* Clones are equal; any change makes them differ. */
static void
test_node_clone_equal(void **state)
{
	struct wa_node *n = wa_node_new("iq"), *c, *k;

	wa_node_set_attr(n, "id", "1");
	k = wa_node_add_child(n, wa_node_new("pair-device"));
	wa_node_set_bytes(wa_node_add_child(k, wa_node_new("ref")), "\x00\x01", 2);
	c = wa_node_clone(n);
	assert_true(wa_node_equal(n, c));
	wa_node_set_attr(c, "id", "2");
	assert_false(wa_node_equal(n, c));
	wa_node_set_attr(c, "id", "1");
	assert_true(wa_node_equal(n, c));
	wa_node_set_bytes(c->children[0]->children[0], "\x00\x02", 2);
	assert_false(wa_node_equal(n, c));
	assert_true(wa_node_equal(NULL, NULL));
	assert_false(wa_node_equal(n, NULL));
	wa_node_free(c);
	wa_node_free(n);
}

/* The printer escapes, shows binary as hex and abbreviates. */
static void
test_node_print(void **state)
{
	struct wa_node *n = wa_node_new("iq"), *c;
	unsigned char big[200];
	char *s;

	wa_node_set_attr(n, "id", "a\"<b>&");
	c = wa_node_add_child(n, wa_node_new("enc"));
	wa_node_set_bytes(c, "\x01\xff", 2);
	c = wa_node_add_child(n, wa_node_new("body"));
	wa_node_set_string(c, "hi");
	memset(big, 0xab, sizeof(big));
	wa_node_set_bytes(wa_node_add_child(n, wa_node_new("big")), big, sizeof(big));
	wa_node_add_child(n, wa_node_new("empty"));
	s = wa_node_to_string(n);
	assert_non_null(strstr(s, "<iq id=\"a&quot;&lt;b&gt;&amp;\">"));
	assert_non_null(strstr(s, "<enc>01ff</enc>"));
	assert_non_null(strstr(s, "<body>hi</body>"));
	assert_non_null(strstr(s, "...(200 bytes)</big>"));
	assert_non_null(strstr(s, "<empty/>"));
	assert_non_null(strstr(s, "</iq>"));
	free(s);
	wa_node_free(n);
	s = wa_node_to_string(NULL);
	assert_string_equal(s, "(null)");
	free(s);
}

/* Run the node tests. */
int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_node_attrs),
		cmocka_unit_test(test_node_content),
		cmocka_unit_test(test_node_clone_equal),
		cmocka_unit_test(test_node_print),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
