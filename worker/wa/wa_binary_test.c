/* Tests for the binary node codec: the reference's worked examples byte for byte in both directions,
 * representation choices, random round trips and rejection of malformed input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "wa_binary.h"
#include "wa_jid.h"
#include "wa_node.h"
#include "wa_tokens.h"

/* Hex string to a malloc'd byte array. */
static unsigned char *
unhex(const char *h, size_t *len)
{
	size_t i, n = strlen(h) / 2;
	unsigned char *p = malloc(n + 1);
	unsigned v;

	assert_non_null(p);
	assert_int_equal(strlen(h) % 2, 0);
	for (i = 0; i < n; i++) {
		assert_int_equal(sscanf(h + 2 * i, "%2x", &v), 1);
		p[i] = (unsigned char)v;
	}
	*len = n;
	return p;
}

/* Bytes to a malloc'd lowercase hex string. */
static char *
tohex(const unsigned char *p, size_t len)
{
	char *s = malloc(len * 2 + 1);
	size_t i;

	assert_non_null(s);
	for (i = 0; i < len; i++)
		snprintf(s + 2 * i, 3, "%02x", p[i]);
	s[len * 2] = '\0';
	return s;
}

/* A node from a tag and NULL-terminated key/value pairs. */
static struct wa_node *
mk(const char *tag, ...)
{
	struct wa_node *n = wa_node_new(tag);
	const char *k, *v;
	va_list ap;

	va_start(ap, tag);
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		wa_node_set_attr(n, k, v);
	}
	va_end(ap);
	return n;
}

/* Assert n encodes to hex (full frame plaintext) and that hex decodes back to a node equal to n. */
static void
check_both_ways(struct wa_node *n, const char *hex)
{
	unsigned char *out, *in;
	size_t outlen, inlen;
	struct wa_node *d;
	char err[128], *h, *s1, *s2;

	assert_int_equal(wa_binary_encode(n, &out, &outlen), 0);
	h = tohex(out, outlen);
	if (strcmp(h, hex) != 0)
		fail_msg("encode mismatch\n got %s\nwant %s", h, hex);
	in = unhex(hex, &inlen);
	d = wa_binary_decode(in, inlen, err, sizeof(err));
	if (d == NULL)
		fail_msg("decode failed: %s", err);
	if (!wa_node_equal(n, d)) {
		s1 = wa_node_to_string(n);
		s2 = wa_node_to_string(d);
		fail_msg("decode mismatch\n got %s\nwant %s", s2, s1);
	}
	wa_node_free(d);
	free(h);
	free(out);
	free(in);
	wa_node_free(n);
}

/* reference/wa-transport.md section 4.10, examples 1 to 3 (and the compressed form of example 1). */
static void
test_worked_examples(void **state)
{
	struct wa_node *n, *c, *d;
	unsigned char b[16], *in;
	size_t i, len;
	char err[128];

	check_both_ways(mk("iq", "id", "61996.41407-1", "xmlns", "w:p", "type", "get", "to", "s.whatsapp.net",
	    NULL), "00f8091908ff8761996b41407a1f1657042911fa0003");

	check_both_ways(mk("receipt", "id", "3EB0A1B2C3D4E5F6", "from", "120363025246125486@g.us",
	    "participant", "447700900123:7@s.whatsapp.net", "t", "1700000000", NULL),
	    "00f8090708fb083eb0a1b2c3d4e5f606faff091203630252461254861c05f70007ff064477009001231aff051700000000");

	n = mk("notification", "from", "12345678901234:3@lid", "type", "devices", "reason", "hello world", NULL);
	c = wa_node_add_child(n, mk("enc", "v", "2", "type", "msg", NULL));
	for (i = 0; i < sizeof(b); i++)
		b[i] = (unsigned char)i;
	wa_node_set_bytes(c, b, sizeof(b));
	check_both_ways(n, "00f8080906f70103ff0712345678901234040fec2efc0b68656c6c6f20776f726c64f801f8061d5145044dfc"
	    "10000102030405060708090a0b0c0d0e0f");

	in = unhex("02789cfbc129c9f1bf3d7166b6a34395bc58388ba6e02f066600573906d0", &len);
	d = wa_binary_decode(in, len, err, sizeof(err));
	if (d == NULL)
		fail_msg("compressed decode: %s", err);
	n = mk("iq", "id", "61996.41407-1", "xmlns", "w:p", "type", "get", "to", "s.whatsapp.net", NULL);
	assert_true(wa_node_equal(n, d));
	wa_node_free(n);
	wa_node_free(d);
	free(in);
}

/* reference/wa-transport.md section 4.11: stream-level nodes. */
static void
test_stream_nodes(void **state)
{
	struct wa_node *n;

	check_both_ways(mk("xmlstreamend", NULL), "00f80102");
	check_both_ways(mk("stream:error", "code", "515", NULL), "00f8039d70ff82515f");
	check_both_ways(mk("stream:error", "code", "503", NULL), "00f8039d70eed0");
	check_both_ways(mk("stream:error", "code", "516", NULL), "00f8039d70ff82516f");
	n = mk("stream:error", "code", "401", NULL);
	wa_node_add_child(n, mk("conflict", "type", "device_removed", NULL));
	check_both_ways(n, "00f8049d708df801f803ec0e04fc0e6465766963655f72656d6f766564");
	n = mk("stream:error", NULL);
	wa_node_add_child(n, mk("conflict", "type", "replaced", NULL));
	check_both_ways(n, "00f8029df801f803ec0e04ec11");
	check_both_ways(mk("failure", "reason", "401", NULL), "00f803ee3cec2e8d");
	n = mk("iq", "id", "61996.41407-1", "to", "s.whatsapp.net", "type", "get", "xmlns", "w:p", NULL);
	wa_node_add_child(n, mk("ping", NULL));
	check_both_ways(n, "00f80a1908ff8761996b41407a1f11fa000304291657f801f80156");
	check_both_ways(mk("iq", "from", "s.whatsapp.net", "id", "61996.41407-1", "type", "result", "t", "1700000000",
	    NULL), "00f8091906fa000308ff8761996b41407a1f04141aff051700000000");
	check_both_ways(mk("iq", "from", "s.whatsapp.net", "id", "1234", "t", "1700000000", "type", "get",
	    "xmlns", "urn:xmpp:ping", NULL), "00f80b1906fa000308ff0212341aff0517000000000429162b");
}

/* Encode one attribute value under a key; returns the hex of the value part only. */
static char *
attr_hex(const char *key, const char *value)
{
	struct wa_node *n = mk("x", key, value, NULL), *kn;
	unsigned char *out, *k;
	size_t outlen, klen, skip;
	char *h;

	assert_int_equal(wa_binary_encode_node(n, &out, &outlen), 0);
	/* f8 03, tag "x" (not a token: fc 01 78), then the key (encoded alone as node: f8 01 <key>) */
	kn = wa_node_new(key);
	assert_int_equal(wa_binary_encode_node(kn, &k, &klen), 0);
	wa_node_free(kn);
	skip = 2 + 3 + (klen - 2);
	h = tohex(out + skip, outlen - skip);
	free(out);
	free(k);
	wa_node_free(n);
	return h;
}

/* Assert an attribute value is written as expected and decodes back to want (NULL: same as value). */
static void
check_attr(const char *key, const char *value, const char *hex, const char *want)
{
	struct wa_node *n = mk("x", key, value, NULL), *d;
	unsigned char *out;
	size_t outlen;
	char err[128], *h;

	h = attr_hex(key, value);
	if (hex != NULL) {
		char want_hex[256];
		size_t i, j = 0;

		for (i = 0; hex[i] != '\0' && j + 1 < sizeof(want_hex); i++)
			if (hex[i] != ' ')
				want_hex[j++] = hex[i];
		want_hex[j] = '\0';
		if (strcmp(h, want_hex) != 0)
			fail_msg("%s=\"%s\": got %s want %s", key, value, h, want_hex);
	}
	free(h);
	assert_int_equal(wa_binary_encode(n, &out, &outlen), 0);
	d = wa_binary_decode(out, outlen, err, sizeof(err));
	if (d == NULL)
		fail_msg("%s=\"%s\": %s", key, value, err);
	if (strcmp(wa_node_attr(d, key), want ? want : value) != 0)
		fail_msg("%s=\"%s\" decoded as \"%s\"", key, value, wa_node_attr(d, key));
	wa_node_free(d);
	wa_node_free(n);
	free(out);
}

/* Tokens, packing and raw strings are chosen as real clients choose them. */
static void
test_string_forms(void **state)
{
	char s[300];

	check_attr("id", "1", "55", NULL);			/* token 85, not nibble */
	check_attr("id", "0", "2d", NULL);
	check_attr("id", "401", "8d", NULL);
	check_attr("id", "500", "eca4", NULL);
	check_attr("id", "503", "eed0", NULL);
	check_attr("id", "98", "ff0198", NULL);
	check_attr("id", "123", "ff82123f", NULL);
	check_attr("id", "-.", "ff01ab", NULL);
	check_attr("id", "ABCDEF", "fb03abcdef", NULL);
	check_attr("id", "ABC", "fb82abcf", NULL);
	check_attr("id", "F", "fb81ff", NULL);
	check_attr("id", "abcdef", "fc06616263646566", NULL);	/* lowercase hex is never packed */
	check_attr("id", "12A", "fb8212af", NULL);		/* digits plus A: hex */
	check_attr("id", "1-A", "fc03312d41", NULL);		/* mixed: raw */
	check_attr("id", "", "fc00", NULL);			/* empty: raw length 0 (as Baileys) */
	memset(s, '7', 127);
	s[127] = '\0';
	check_attr("id", s, NULL, NULL);
	{
		char *h = attr_hex("id", s);
		assert_memory_equal(h, "ffc0", 4);		/* 64 bytes, odd */
		free(h);
	}
	memset(s, '7', 128);
	s[128] = '\0';
	{
		char *h = attr_hex("id", s);
		assert_memory_equal(h, "fc80", 4);		/* 128 chars: too long to pack */
		free(h);
	}
	check_attr("id", s, NULL, NULL);
	memset(s, 'x', 256);
	s[256] = '\0';
	{
		char *h = attr_hex("id", s);
		assert_memory_equal(h, "fd000100", 8);		/* BINARY_20 from 256 */
		free(h);
	}
	check_attr("id", s, NULL, NULL);
}

/* JID attribute values: which wire form, and the rendering after decoding. */
static void
test_jid_forms(void **state)
{
	check_attr("to", "s.whatsapp.net", "fa0003", NULL);
	check_attr("to", "@s.whatsapp.net", "fa0003", "s.whatsapp.net");
	check_attr("id", "@s.whatsapp.net", "fa0003", NULL);	/* bare server under a non-JID key */
	check_attr("id", "s.whatsapp.net", "03", NULL);		/* plain token there */
	check_attr("to", "g.us", "fa001c", NULL);
	check_attr("to", "status@broadcast", NULL, NULL);
	check_attr("jid", "123@s.whatsapp.net", "faff8212 3f03", NULL);
	check_attr("jid", "123:0@s.whatsapp.net", "f70000ff82123f", NULL);	/* explicit :0 = AD_JID */
	check_attr("jid", "123:5@s.whatsapp.net", "f70005ff82123f", NULL);
	check_attr("jid", "123.9:5@s.whatsapp.net", "f70905ff82123f", NULL);	/* raw agent */
	check_attr("jid", "123@lid", "faff82123f76", NULL);
	check_attr("jid", "123:2@lid", "f70102ff82123f", NULL);
	check_attr("jid", "123@hosted", "f78000ff82123f", NULL);
	check_attr("jid", "123:1@hosted.lid", "f78101ff82123f", NULL);
	check_attr("jid", "123:300@msgr", "f6ff82123f012ccc", NULL);
	check_attr("jid", "5-123:2@interop", NULL, NULL);
	check_attr("jid", "123-456@g.us", "faff84123a456f1c", NULL);
	check_attr("jid", "abc@c.us", "fa fc03616263fc04632e7573", NULL);
	/* not exactly representable: stay strings */
	check_attr("jid", "123:300@s.whatsapp.net", NULL, NULL);
	check_attr("jid", "123:1@g.us", NULL, NULL);
	check_attr("jid", "123.1:2@s.whatsapp.net", NULL, NULL);	/* agent 1 would decode as lid */
	check_attr("jid", "123:05@s.whatsapp.net", NULL, NULL);
	check_attr("jid", "a@b@c", NULL, NULL);
	check_attr("jid", "user@", NULL, NULL);
	check_attr("id", "foo@bar", "fc07666f6f40626172", NULL);		/* unknown server: a string */
	check_attr("name", "Joe@Home", NULL, NULL);
}

/* Content kinds: strings as strings, JIDs as JIDs, empty lists, bytes at length boundaries. */
static void
test_content_forms(void **state)
{
	static const size_t lens[] = { 0, 1, 255, 256, (1u << 20) - 1, 1u << 20, (1u << 20) + 5 };
	struct wa_node *n, *d;
	unsigned char *out, *big;
	size_t outlen, i;
	char err[128];

	/* <count>5</count>: count is token 65, "5" is nibble-packed */
	n = mk("count", NULL);
	wa_node_set_string(n, "98");
	check_both_ways(n, "00f80241ff0198");
	/* string content that is a token */
	n = mk("count", NULL);
	wa_node_set_string(n, "msg");
	check_both_ways(n, "00f802414d");
	/* JID content */
	n = mk("count", NULL);
	wa_node_set_string(n, "123:4@s.whatsapp.net");
	n->bkind = WA_BYTES_JID;
	check_both_ways(n, "00f80241f70004ff82123f");
	n = mk("count", NULL);
	wa_node_set_string(n, "s.whatsapp.net");
	n->bkind = WA_BYTES_JID;
	check_both_ways(n, "00f80241fa0003");
	/* an empty child list (LIST_EMPTY content) */
	n = mk("count", NULL);
	n->ctype = WA_CONTENT_NODES;
	check_both_ways(n, "00f8024100");

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		big = malloc(lens[i] + 1);
		memset(big, (int)i + 1, lens[i]);
		n = mk("enc", NULL);
		wa_node_set_bytes(n, big, lens[i]);
		assert_int_equal(wa_binary_encode(n, &out, &outlen), 0);
		assert_int_equal(out[4], lens[i] < 256 ? 0xfc : lens[i] < (1u << 20) ? 0xfd : 0xfe);
		d = wa_binary_decode(out, outlen, err, sizeof(err));
		assert_non_null(d);
		assert_true(wa_node_equal(n, d));
		assert_int_equal(d->bkind, WA_BYTES_BINARY);
		wa_node_free(d);
		wa_node_free(n);
		free(out);
		free(big);
	}
}

/* Decoder renderings of JID forms no encoder of ours writes, and other accepted inputs. */
static void
test_decode_accepts(void **state)
{
	static const struct { const char *hex, *key, *value; } cases[] = {
		/* f7 with an unknown domain keeps it as the raw agent */
		{ "00f8031a06f70503ff82123f", "from", "123.5:3@s.whatsapp.net" },
		/* JID_PAIR with a raw user and raw server */
		{ "00f8031a06fafc0161fc0162", "from", "a@b" },
		/* JID_PAIR with an empty raw user renders like a bare server */
		{ "00f8031a06fafc0003", "from", "s.whatsapp.net" },
		{ "00f8031a08fa0003", "id", "@s.whatsapp.net" },
		/* LIST_EMPTY attribute value */
		{ "00f8031a0800", "id", "" },
		/* FB and interop */
		{ "00f8031a06f6ff82123f0102fc046d736772", "from", "123:258@msgr" },
		{ "00f8031a06f5ff82123f00020005fc07696e7465726f70", "from", "5-123:2@interop" },
		/* hosted device 0 without ":0" */
		{ "00f8031a06f78000ff82123f", "from", "123@hosted" },
		/* BINARY_20 ignores the high nibble of its length */
		{ "00f8031a08fdf0000161", "id", "a" },
		/* packed strings longer than any encoder writes (127 bytes -> 254 chars) */
		{ NULL, NULL, NULL },
	};
	struct wa_node *d;
	unsigned char *in;
	size_t i, len;
	char err[128];

	for (i = 0; cases[i].hex != NULL; i++) {
		in = unhex(cases[i].hex, &len);
		d = wa_binary_decode(in, len, err, sizeof(err));
		if (d == NULL)
			fail_msg("case %zu: %s", i, err);
		assert_string_equal(wa_node_attr(d, cases[i].key), cases[i].value);
		wa_node_free(d);
		free(in);
	}
}

/* Fixed-seed xorshift state so failures reproduce. */
static uint64_t rng_state;

/* The next pseudo-random number. */
static uint32_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

/* A random string of one of the kinds the codec treats differently, written into buf. */
static void
rand_string(char *buf, size_t cap, int allow_jid, int jid_key)
{
	static const char *const servers[] = { "s.whatsapp.net", "g.us", "lid", "broadcast", "hosted",
	    "hosted.lid", "newsletter", "c.us", "call", "msgr", "example.com" };
	static const char alnum[] = "abcxyzABCDEF0123456789-._:@ /";
	const char *t, *srv;
	size_t i, n;
	unsigned kind = rng() % (allow_jid ? 10 : 7);

	switch (kind) {
	case 0:	/* single-byte token */
		t = wa_token_single(1 + rng() % (WA_TOKEN_SINGLE_COUNT - 1), NULL);
		snprintf(buf, cap, "%s", t);
		return;
	case 1:	/* double-byte token */
		t = wa_token_double(rng() % 4, rng() % 256, NULL);
		snprintf(buf, cap, "%s", t);
		return;
	case 2:	/* nibble-packable */
		n = 1 + rng() % (rng() % 4 == 0 ? 140 : 20);
		for (i = 0; i < n && i + 1 < cap; i++)
			buf[i] = "0123456789-."[rng() % 12];
		buf[i] = '\0';
		return;
	case 3:	/* hex-packable */
		n = 1 + rng() % 40;
		for (i = 0; i < n && i + 1 < cap; i++)
			buf[i] = "0123456789ABCDEF"[rng() % 16];
		buf[i] = '\0';
		return;
	case 4:	/* empty */
		buf[0] = '\0';
		return;
	case 5:
	case 6:	/* raw, sometimes long */
		n = rng() % (rng() % 8 == 0 ? 600 : 30);
		for (i = 0; i < n && i + 1 < cap; i++)
			buf[i] = alnum[rng() % (sizeof(alnum) - 1)];
		buf[i] = '\0';
		return;
	}
	srv = servers[rng() % (sizeof(servers) / sizeof(servers[0]))];
	switch (rng() % 5) {
	case 0:
		snprintf(buf, cap, "%s%s", jid_key ? "" : "@", srv);
		return;
	case 1:
		snprintf(buf, cap, "%u%u@%s", 1 + rng() % 9, rng(), srv);
		return;
	case 2:
		snprintf(buf, cap, "%u:%u@%s", rng(), rng() % 300, srv);
		return;
	case 3:
		snprintf(buf, cap, "%u.%u:%u@%s", rng(), rng() % 256, rng() % 256, srv);
		return;
	default:
		snprintf(buf, cap, "%u-%u@g.us", rng(), rng());
		return;
	}
}

/* A random tree of at most depth levels. */
static struct wa_node *
rand_node(int depth)
{
	static const char *const keys[] = { "id", "to", "from", "type", "t", "participant", "jid", "xmlns",
	    "v", "count", "reason", "recipient", "name", "class" };
	char buf[700];
	struct wa_node *n;
	size_t i, na, nc;
	const char *key;
	unsigned char *b;

	do
		rand_string(buf, sizeof(buf), 0, 0);
	while (buf[0] == '\0');
	n = wa_node_new(buf);
	na = rng() % 6;
	for (i = 0; i < na; i++) {
		key = keys[rng() % (sizeof(keys) / sizeof(keys[0]))];
		rand_string(buf, sizeof(buf), 1, wa_binary_key_is_jid(key));
		wa_node_set_attr(n, key, buf);
	}
	switch (rng() % (depth > 0 ? 5 : 4)) {
	case 0:
		break;
	case 1:
		nc = rng() % (rng() % 16 == 0 ? 3000 : 64);
		b = malloc(nc + 1);
		for (i = 0; i < nc; i++)
			b[i] = (unsigned char)rng();
		wa_node_set_bytes(n, b, nc);
		free(b);
		break;
	case 2:
		rand_string(buf, sizeof(buf), 0, 0);
		wa_node_set_string(n, buf);
		break;
	case 3:
		rand_string(buf, sizeof(buf), 1, 1);
		wa_node_set_string(n, buf);
		n->bkind = WA_BYTES_JID;
		break;
	default:
		nc = rng() % (rng() % 32 == 0 ? 300 : 5);
		n->ctype = WA_CONTENT_NODES;
		for (i = 0; i < nc; i++)
			wa_node_add_child(n, rand_node(depth - 1));
		break;
	}
	return n;
}

/* Print where two trees first differ (for failure messages). */
static void
print_diff(const struct wa_node *a, const struct wa_node *b, int depth)
{
	size_t i;

	if (strcmp(a->tag, b->tag) != 0 || a->nattrs != b->nattrs || a->ctype != b->ctype) {
		print_message("depth %d: tag %s/%s nattrs %zu/%zu ctype %d/%d\n", depth, a->tag, b->tag,
		    a->nattrs, b->nattrs, a->ctype, b->ctype);
		return;
	}
	for (i = 0; i < a->nattrs; i++)
		if (strcmp(a->attrs[i].key, b->attrs[i].key) != 0 || strcmp(a->attrs[i].value, b->attrs[i].value) != 0)
			print_message("depth %d <%s>: attr %s=\"%s\" vs %s=\"%s\"\n", depth, a->tag, a->attrs[i].key,
			    a->attrs[i].value, b->attrs[i].key, b->attrs[i].value);
	if (a->ctype == WA_CONTENT_BYTES && (a->nbytes != b->nbytes || memcmp(a->bytes, b->bytes, a->nbytes) != 0))
		print_message("depth %d <%s>: bytes (kind %d) \"%.100s\" vs \"%.100s\"\n", depth, a->tag, a->bkind,
		    a->bytes, b->bytes);
	if (a->ctype == WA_CONTENT_NODES)
		for (i = 0; i < a->nchildren && i < b->nchildren; i++)
			print_diff(a->children[i], b->children[i], depth + 1);
}

/* decode(encode(x)) == x and encoding is stable, over many random trees. */
static void
test_random_roundtrip(void **state)
{
	struct wa_node *n, *d, *d2;
	unsigned char *out, *out2;
	size_t outlen, outlen2;
	char err[128];
	int i;

	rng_state = 0x9e3779b97f4a7c15ull;
	for (i = 0; i < 3000; i++) {
		n = rand_node(1 + rng() % 5);
		assert_int_equal(wa_binary_encode(n, &out, &outlen), 0);
		d = wa_binary_decode(out, outlen, err, sizeof(err));
		if (d == NULL)
			fail_msg("tree %d: %s", i, err);
		if (!wa_node_equal(n, d)) {
			print_diff(n, d, 0);
			fail_msg("tree %d differs", i);
		}
		assert_int_equal(wa_binary_encode(d, &out2, &outlen2), 0);
		assert_int_equal(outlen, outlen2);
		assert_memory_equal(out, out2, outlen);
		/* the same bytes compressed decode to the same tree */
		if (i % 10 == 0) {
			uLongf zlen = compressBound(outlen - 1);
			unsigned char *z = malloc(zlen + 1);

			z[0] = WA_BINARY_FLAG_COMPRESSED;
			assert_int_equal(compress(z + 1, &zlen, out + 1, outlen - 1), Z_OK);
			d2 = wa_binary_decode(z, zlen + 1, err, sizeof(err));
			if (d2 == NULL)
				fail_msg("tree %d compressed: %s", i, err);
			assert_true(wa_node_equal(n, d2));
			wa_node_free(d2);
			free(z);
		}
		free(out);
		free(out2);
		wa_node_free(d);
		wa_node_free(n);
	}
}

/* Assert a frame is rejected with some reason. */
static void
check_reject(const unsigned char *p, size_t len, const char *what)
{
	struct wa_node *d;
	char err[128];

	d = wa_binary_decode(p, len, err, sizeof(err));
	if (d != NULL) {
		char *s = wa_node_to_string(d);
		fail_msg("%s: accepted as %s", what, s);
	}
	if (err[0] == '\0')
		fail_msg("%s: no reason given", what);
}

/* Assert a hex frame is rejected. */
static void
check_reject_hex(const char *hex, const char *what)
{
	unsigned char *p;
	size_t len;

	p = unhex(hex, &len);
	check_reject(p, len, what);
	free(p);
}

/* Every strict prefix of valid frames is rejected, as are many malformed inputs. */
static void
test_rejects(void **state)
{
	static const char *const valid[] = {
		"00f8091908ff8761996b41407a1f1657042911fa0003",
		"00f8090708fb083eb0a1b2c3d4e5f606faff091203630252461254861c05f70007ff064477009001231aff051700000000",
		("00f8080906f70103ff0712345678901234040fec2efc0b68656c6c6f20776f726c64f801f8061d5145044dfc"
		    "10000102030405060708090a0b0c0d0e0f"),
		"02789cfbc129c9f1bf3d7166b6a34395bc58388ba6e02f066600573906d0",
		"00f8031a06f6ff82123f0102fc046d736772",
		"00f8031a06f5ff82123f00020005fc07696e7465726f70",
	};
	unsigned char *p;
	size_t len, k, i;
	int d;

	for (k = 0; k < sizeof(valid) / sizeof(valid[0]); k++) {
		p = unhex(valid[k], &len);
		for (i = 0; i < len; i++)
			check_reject(p, i, "prefix");
		free(p);
	}
	check_reject_hex("", "empty frame");
	check_reject_hex("00", "flags only");
	check_reject_hex("0000", "LIST_EMPTY node");
	check_reject_hex("00f800", "LIST_8 of 0");
	check_reject_hex("00f90000", "LIST_16 of 0");
	check_reject_hex("0019", "node not a list");
	check_reject_hex("00f80102ff", "trailing byte");
	check_reject_hex("00f80100", "tag LIST_EMPTY");
	check_reject_hex("00f801fc00", "empty tag");
	check_reject_hex("00f801ff00", "empty packed tag");
	check_reject_hex("00f801fa0003", "JID tag");
	check_reject_hex("00f801f0", "token 0xf0");
	check_reject_hex("00f801f4", "token 0xf4");
	check_reject_hex("00f8031908f1", "value token 0xf1");
	check_reject_hex("00f80319f80100", "attribute key a list");
	check_reject_hex("00f8031908f80102", "attribute value a list");
	check_reject_hex("00f8031908fc026100", "NUL in attribute value");
	check_reject_hex("00f80319fc02610008fc0161", "NUL in attribute key");
	check_reject_hex("00f8031908ff80", "odd packed of 0 bytes");
	check_reject_hex("00f8031908ff01c0", "nibble 12");
	check_reject_hex("00f8031908ff01e0", "nibble 14");
	check_reject_hex("00f8031908ff01f1", "NUL nibble in an attribute");
	check_reject_hex("00f8031908fa0000", "JID_PAIR without server");
	check_reject_hex("00f8031908faf8010303", "JID_PAIR user a list");
	check_reject_hex("00f8031908fa00fa0003", "JID_PAIR server a JID");
	check_reject_hex("00f8031908f7000000", "AD_JID user none");
	check_reject_hex("00f8031908fe7fffffff", "BINARY_32 longer than the input");
	check_reject_hex("00f8031908fd0fffff", "BINARY_20 longer than the input");
	check_reject_hex("00f80219f8ff", "child list longer than the input");
	check_reject_hex("00f80219f9ffff", "LIST_16 children longer than the input");
	check_reject_hex("00f8ff19", "attribute count longer than the input");
	check_reject_hex("00f80219f80100", "child LIST_EMPTY");
	check_reject_hex("02", "compressed, empty");
	check_reject_hex("02789c", "compressed, truncated");
	check_reject_hex("020102030405", "compressed, garbage");
	/* a compressed stream that inflates past the cap */
	{
		size_t big = WA_BINARY_MAX_INFLATED + 4096;
		unsigned char *src = calloc(1, big);
		uLongf zlen = compressBound(big);
		unsigned char *z = malloc(zlen + 1);

		z[0] = 2;
		assert_int_equal(compress(z + 1, &zlen, src, big), Z_OK);
		check_reject(z, zlen + 1, "zlib bomb");
		free(src);
		free(z);
	}
	/* nesting: 64 levels decode, 65 do not */
	for (d = 64; d <= 65; d++) {
		struct wa_node *root, *c, *dec;
		unsigned char *out;
		size_t outlen;
		char err[128];
		int j;

		root = wa_node_new("a");
		c = root;
		for (j = 1; j < d; j++)
			c = wa_node_add_child(c, wa_node_new("b"));
		if (d <= WA_BINARY_MAX_DEPTH) {
			assert_int_equal(wa_binary_encode(root, &out, &outlen), 0);
			dec = wa_binary_decode(out, outlen, err, sizeof(err));
			assert_non_null(dec);
			wa_node_free(dec);
			free(out);
		} else
			assert_int_equal(wa_binary_encode(root, &out, &outlen), -1);
		wa_node_free(root);
	}
	/* hand-built 66 levels */
	{
		size_t n = 0;
		unsigned char *q = malloc(8 + 70 * 5);

		q[n++] = 0;
		for (d = 0; d < 65; d++) {
			q[n++] = 0xf8; q[n++] = 0x02; q[n++] = 0x19; q[n++] = 0xf8; q[n++] = 0x01;
		}
		q[n++] = 0xf8; q[n++] = 0x01; q[n++] = 0x19;
		check_reject(q, n, "66 levels");
		free(q);
	}
	/* a JID whose part is a JID whose part is a JID...: refused, not one stack frame per byte */
	{
		static const unsigned char kinds[] = { 0xfa, 0xf6, 0xf5, 0xf7 };	/* JID_PAIR, FB, INTEROP, AD */
		size_t n, k, len = 200000;
		unsigned char *q = malloc(len + 8);

		for (k = 0; k < sizeof(kinds); k++) {
			n = 0;
			q[n++] = 0;
			q[n++] = 0xf8; q[n++] = 0x03; q[n++] = 0x19; q[n++] = 0x19;	/* <tag attr=...> */
			while (n < len)
				q[n++] = kinds[k];
			check_reject(q, n, "nested JIDs");
		}
		free(q);
	}
	/* encoder refusals */
	{
		struct wa_node *n = wa_node_new("");
		unsigned char *out;
		size_t outlen, j;

		assert_int_equal(wa_binary_encode(n, &out, &outlen), -1);
		wa_node_free(n);
		n = wa_node_new("a");
		for (j = 0; j < 70000; j++)
			wa_node_add_child(n, wa_node_new("b"));
		assert_int_equal(wa_binary_encode(n, &out, &outlen), -1);
		wa_node_free(n);
	}
}

/* Random mutations of valid frames never crash and either decode or give a reason. */
static void
test_mutations(void **state)
{
	unsigned char *out;
	size_t outlen, j;
	struct wa_node *n, *d;
	char err[128];
	int i, m;

	rng_state = 12345;
	for (i = 0; i < 300; i++) {
		n = rand_node(3);
		assert_int_equal(wa_binary_encode(n, &out, &outlen), 0);
		for (m = 0; m < 20; m++) {
			unsigned char *c = malloc(outlen);

			memcpy(c, out, outlen);
			for (j = 0; j < 1 + rng() % 4; j++)
				c[1 + rng() % (outlen - 1)] = (unsigned char)rng();
			c[0] &= ~WA_BINARY_FLAG_COMPRESSED;
			d = wa_binary_decode(c, outlen, err, sizeof(err));
			if (d == NULL)
				assert_true(err[0] != '\0');
			wa_node_free(d);
			free(c);
		}
		free(out);
		wa_node_free(n);
	}
}

/* Run the codec tests. */
int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_worked_examples),
		cmocka_unit_test(test_stream_nodes),
		cmocka_unit_test(test_string_forms),
		cmocka_unit_test(test_jid_forms),
		cmocka_unit_test(test_content_forms),
		cmocka_unit_test(test_decode_accepts),
		cmocka_unit_test(test_random_roundtrip),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_mutations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
