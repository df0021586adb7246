/* The wire side of sending (msg_wire.h): message ids, JIDs and Signal addresses, usync device and contact
 * queries and answers (as fakewa and the real server write them, and malformed), prekey bundles, the
 * DeviceSentMessage wrapper, and the stanzas we write, checked through the binary node codec. */
#include "msg_wire.h"

#include "e2e.pb-c.h"
#include "wa_binary.h"
#include "wa_node.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* Round-trip a node through the binary codec (what the server would see / what we would read). */
static struct wa_node *
wire(const struct wa_node *n)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	struct wa_node *out;
	char err[128];

	assert_int_equal(wa_binary_encode(n, &buf, &len), 0);
	out = wa_binary_decode(buf, len, err, sizeof(err));
	assert_non_null(out);
	free(buf);
	return out;
}

static void
test_ids(void **state)
{
	char a[MSG_WIRE_ID_LEN + 1], b[MSG_WIRE_ID_LEN + 1];

	(void)state;
	msg_stanza_make_id("15551234567", 1700000000, a);
	msg_stanza_make_id("15551234567", 1700000000, b);
	assert_int_equal(strlen(a), MSG_WIRE_ID_LEN);
	assert_memory_equal(a, "3EB0", 4);
	assert_int_equal(strspn(a + 4, "0123456789ABCDEF"), MSG_WIRE_ID_LEN - 4);
	/* 16 random bytes in the hash: the same second and user still give different ids */
	assert_string_not_equal(a, b);
	msg_stanza_make_id(NULL, 0, a);
	assert_int_equal(strlen(a), MSG_WIRE_ID_LEN);
}

static void
test_addresses(void **state)
{
	struct msg_wire_device d;
	char buf[128];

	(void)state;
	assert_int_equal(msg_wire_address("15551234567:5@s.whatsapp.net", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "15551234567:5");
	assert_int_equal(msg_wire_address("15551234567@s.whatsapp.net", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "15551234567:0");
	assert_int_equal(msg_wire_address("123456789012345:2@lid", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "123456789012345_1:2");
	assert_int_equal(msg_wire_address("120363012345678901@g.us", buf, sizeof(buf)), -1);
	assert_int_equal(msg_wire_address(NULL, buf, sizeof(buf)), -1);
	assert_int_equal(msg_wire_address("15551234567:5@s.whatsapp.net", buf, 5), -1);
	assert_int_equal(msg_wire_user("15551234567.0:7@s.whatsapp.net", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "15551234567@s.whatsapp.net");
	assert_int_equal(msg_wire_device_set(&d, "15551234567@s.whatsapp.net", 0), 0);
	assert_string_equal(d.jid, "15551234567@s.whatsapp.net");
	assert_string_equal(d.address, "15551234567:0");
	assert_int_equal(msg_wire_device_set(&d, "123456789012345@lid", 3), 0);
	assert_string_equal(d.jid, "123456789012345:3@lid");
	assert_string_equal(d.address, "123456789012345_1:3");
	assert_int_equal(msg_wire_device_set(&d, "status@broadcast", 1), -1);
}

/* A usync result as the server writes it: <iq type="result"><usync><list>users</list></usync></iq>. */
static struct wa_node *
usync_result(struct wa_node **list)
{
	struct wa_node *iq = wa_node_new("iq"), *u;

	wa_node_set_attr(iq, "type", "result");
	wa_node_set_attr(iq, "from", "s.whatsapp.net");
	u = wa_node_add_child(iq, wa_node_new("usync"));
	*list = wa_node_add_child(u, wa_node_new("list"));
	return iq;
}

/* <user jid><devices><device-list>...</device-list></devices>[<lid val/>]</user>; spec "0,3k,7,99h":
 * k = key-index, h = hosted. */
static void
usync_user(struct wa_node *list, const char *jid, const char *spec, const char *lid)
{
	struct wa_node *u = wa_node_add_child(list, wa_node_new("user")), *dl, *d;
	char buf[64], *save = NULL, *tok;

	wa_node_set_attr(u, "jid", jid);
	dl = wa_node_add_child(wa_node_add_child(u, wa_node_new("devices")), wa_node_new("device-list"));
	snprintf(buf, sizeof(buf), "%s", spec);
	for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		d = wa_node_add_child(dl, wa_node_new("device"));
		wa_node_set_attrf(d, "id", "%ld", strtol(tok, NULL, 10));
		if (strchr(tok, 'k') != NULL)
			wa_node_set_attr(d, "key-index", "1");
		if (strchr(tok, 'h') != NULL) {
			wa_node_set_attr(d, "key-index", "2");
			wa_node_set_attr(d, "is_hosted", "true");
		}
	}
	if (lid != NULL)
		wa_node_set_attr(wa_node_add_child(u, wa_node_new("lid")), "val", lid);
}

static void
test_usync_devices(void **state)
{
	const char *users[] = { "15551234567@s.whatsapp.net", "15550000001@s.whatsapp.net" };
	struct wa_node *q = msg_usync_devices_query(users, 2, "sid-1"), *r, *list, *w;
	const struct wa_node *us, *query, *ul;
	uint16_t devs[8];
	size_t n;
	char lid[64];

	(void)state;
	/* the query: xmlns usync, devices v2 and lid, one <user jid> each */
	w = wire(q);
	assert_string_equal(wa_node_attr(w, "xmlns"), "usync");
	assert_string_equal(wa_node_attr(w, "type"), "get");
	us = wa_node_child(w, "usync");
	assert_string_equal(wa_node_attr(us, "context"), "message");
	assert_string_equal(wa_node_attr(us, "sid"), "sid-1");
	query = wa_node_child(us, "query");
	assert_string_equal(wa_node_attr(wa_node_child(query, "devices"), "version"), "2");
	assert_non_null(wa_node_child(query, "lid"));
	ul = wa_node_child(us, "list");
	assert_int_equal(wa_node_count_children(ul, "user"), 2);
	assert_string_equal(wa_node_attr(ul->children[1], "jid"), users[1]);
	wa_node_free(q);
	wa_node_free(w);

	/* the answer: hosted devices and companions without key-index are left out */
	r = usync_result(&list);
	usync_user(list, "15551234567@s.whatsapp.net", "0,3k,7,99h", "123456789012345@lid");
	usync_user(list, "15550000001@s.whatsapp.net", "", NULL);
	w = wire(r);
	assert_int_equal(msg_usync_devices(w, "15551234567@s.whatsapp.net", devs, 8, &n), 1);
	assert_int_equal(n, 2);
	assert_int_equal(devs[0], 0);
	assert_int_equal(devs[1], 3);
	assert_int_equal(msg_usync_lid(w, "15551234567@s.whatsapp.net", lid, sizeof(lid)), 0);
	assert_string_equal(lid, "123456789012345@lid");
	/* not on WhatsApp: an empty device list, or not in the answer at all */
	assert_int_equal(msg_usync_devices(w, "15550000001@s.whatsapp.net", devs, 8, &n), 0);
	assert_int_equal(msg_usync_devices(w, "15559999999@s.whatsapp.net", devs, 8, &n), 0);
	assert_int_equal(msg_usync_lid(w, "15550000001@s.whatsapp.net", lid, sizeof(lid)), 0);
	assert_string_equal(lid, "");
	/* more devices than the caller keeps is an error, not a cut list */
	assert_int_equal(msg_usync_devices(w, "15551234567@s.whatsapp.net", devs, 1, &n), -1);
	wa_node_free(w);
	wa_node_free(r);

	/* malformed: a device id that is no number, an error answer, a LID that is no LID */
	r = usync_result(&list);
	usync_user(list, "15551234567@s.whatsapp.net", "0", "15551234567@s.whatsapp.net");
	wa_node_set_attr(wa_node_child(wa_node_child(list->children[0], "devices"), "device-list")->children[0],
	    "id", "x1");
	assert_int_equal(msg_usync_devices(r, "15551234567@s.whatsapp.net", devs, 8, &n), -1);
	assert_int_equal(msg_usync_lid(r, "15551234567@s.whatsapp.net", lid, sizeof(lid)), -1);
	wa_node_set_attr(r, "type", "error");
	assert_int_equal(msg_usync_devices(r, "15551234567@s.whatsapp.net", devs, 8, &n), -1);
	assert_int_equal(msg_usync_devices(NULL, "15551234567@s.whatsapp.net", devs, 8, &n), -1);
	wa_node_free(r);
}

static void
test_usync_contacts(void **state)
{
	char *numbers[] = { (char *)"15551234567", (char *)"15550000001", (char *)"15550000002" };
	struct wa_node *q = msg_usync_contacts_query(numbers, 3, "sid-2"), *w, *r, *list, *u, *c;
	const struct wa_node *us, *ul;
	char jid[64], lid[64];
	int exists;

	(void)state;
	w = wire(q);
	us = wa_node_child(w, "usync");
	assert_string_equal(wa_node_attr(us, "context"), "interactive");
	assert_non_null(wa_node_child(wa_node_child(us, "query"), "contact"));
	ul = wa_node_child(us, "list");
	assert_int_equal(wa_node_count_children(ul, "user"), 3);
	c = (struct wa_node *)wa_node_child(ul->children[0], "contact");
	assert_int_equal(c->nbytes, 12);
	assert_memory_equal(c->bytes, "+15551234567", 12);
	wa_node_free(q);
	wa_node_free(w);

	/* the answer repeats each query in <contact type="in|out"> */
	r = usync_result(&list);
	u = wa_node_add_child(list, wa_node_new("user"));
	wa_node_set_attr(u, "jid", "15551234567@s.whatsapp.net");
	c = wa_node_add_child(u, wa_node_new("contact"));
	wa_node_set_attr(c, "type", "in");
	wa_node_set_string(c, "+15551234567");
	wa_node_set_attr(wa_node_add_child(u, wa_node_new("lid")), "val", "123456789012345@lid");
	u = wa_node_add_child(list, wa_node_new("user"));
	c = wa_node_add_child(u, wa_node_new("contact"));
	wa_node_set_attr(c, "type", "out");
	wa_node_set_string(c, "+15550000001");
	w = wire(r);
	assert_int_equal(msg_usync_contact(w, "15551234567", &exists, jid, sizeof(jid), lid, sizeof(lid)), 0);
	assert_true(exists);
	assert_string_equal(jid, "15551234567@s.whatsapp.net");
	assert_string_equal(lid, "123456789012345@lid");
	assert_int_equal(msg_usync_contact(w, "15550000001", &exists, jid, sizeof(jid), lid, sizeof(lid)), 0);
	assert_false(exists);
	assert_string_equal(jid, "");
	/* not answered at all: does not exist */
	assert_int_equal(msg_usync_contact(w, "15550000002", &exists, jid, sizeof(jid), lid, sizeof(lid)), 0);
	assert_false(exists);
	wa_node_free(w);
	/* "in" with a jid that is no user JID is malformed */
	wa_node_set_attr(list->children[0], "jid", "1203630@g.us");
	assert_int_equal(msg_usync_contact(r, "15551234567", &exists, jid, sizeof(jid), lid, sizeof(lid)), -1);
	wa_node_free(r);
}

/* Append a bytes child. */
static void
add_bytes(struct wa_node *n, const char *tag, const void *p, size_t len)
{
	wa_node_set_bytes(wa_node_add_child(n, wa_node_new(tag)), p, len);
}

/* A key answer <user> with bundle material (prekey: with a one-time prekey). */
static struct wa_node *
key_user(struct wa_node *list, const char *jid, int prekey)
{
	struct wa_node *u = wa_node_add_child(list, wa_node_new("user")), *sk, *k;
	uint8_t reg[4] = { 0, 0, 0x30, 0x39 }, type = 5, id[3] = { 0, 1, 2 }, key[32], sig[64];

	memset(key, 0x11, sizeof(key));
	memset(sig, 0x22, sizeof(sig));
	wa_node_set_attr(u, "jid", jid);
	add_bytes(u, "registration", reg, 4);
	add_bytes(u, "type", &type, 1);
	add_bytes(u, "identity", key, 32);
	sk = wa_node_add_child(u, wa_node_new("skey"));
	add_bytes(sk, "id", id, 3);
	add_bytes(sk, "value", key, 32);
	add_bytes(sk, "signature", sig, 64);
	if (prekey) {
		k = wa_node_add_child(u, wa_node_new("key"));
		id[2] = 9;
		add_bytes(k, "id", id, 3);
		add_bytes(k, "value", key, 32);
	}
	return u;
}

static void
test_keys(void **state)
{
	struct msg_wire_device devs[2];
	struct wa_node *q, *w, *r, *list, *u, *e;
	const struct wa_node *key;
	struct wa_signal_bundle b;

	(void)state;
	assert_int_equal(msg_wire_device_set(&devs[0], "15551234567@s.whatsapp.net", 0), 0);
	assert_int_equal(msg_wire_device_set(&devs[1], "15551234567@s.whatsapp.net", 3), 0);
	q = msg_keys_query(devs, 2);
	w = wire(q);
	assert_string_equal(wa_node_attr(w, "xmlns"), "encrypt");
	key = wa_node_child(w, "key");
	assert_int_equal(wa_node_count_children(key, "user"), 2);
	assert_string_equal(wa_node_attr(key->children[1], "jid"), "15551234567:3@s.whatsapp.net");
	assert_string_equal(wa_node_attr(key->children[1], "reason"), "identity");
	wa_node_free(q);
	wa_node_free(w);

	r = wa_node_new("iq");
	wa_node_set_attr(r, "type", "result");
	list = wa_node_add_child(r, wa_node_new("list"));
	key_user(list, "15551234567@s.whatsapp.net", 1);
	key_user(list, "15551234567:3@s.whatsapp.net", 0);
	u = wa_node_add_child(list, wa_node_new("user"));
	wa_node_set_attr(u, "jid", "15551234567:4@s.whatsapp.net");
	e = wa_node_add_child(u, wa_node_new("error"));
	wa_node_set_attr(e, "code", "404");
	w = wire(r);
	assert_int_equal(msg_keys_bundle(w, "15551234567@s.whatsapp.net", &b), 1);
	assert_int_equal(b.registration_id, 12345);
	assert_int_equal(b.device_id, 0);
	assert_int_equal(b.signed_prekey_id, 0x102);
	assert_true(b.has_prekey);
	assert_int_equal(b.prekey_id, 0x109);
	assert_int_equal(b.signed_prekey_sig[63], 0x22);
	assert_int_equal(msg_keys_bundle(w, "15551234567:3@s.whatsapp.net", &b), 1);
	assert_int_equal(b.device_id, 3);
	assert_false(b.has_prekey);
	/* a per-device error, or a device not in the answer: no bundle */
	assert_int_equal(msg_keys_bundle(w, "15551234567:4@s.whatsapp.net", &b), 0);
	assert_int_equal(msg_keys_bundle(w, "15551234567:5@s.whatsapp.net", &b), 0);
	wa_node_free(w);
	/* strict lengths: a 5-byte identity is malformed */
	wa_node_set_bytes((struct wa_node *)wa_node_child(list->children[0], "identity"), "short", 5);
	assert_int_equal(msg_keys_bundle(r, "15551234567@s.whatsapp.net", &b), -1);
	wa_node_set_attr(r, "type", "error");
	assert_int_equal(msg_keys_bundle(r, "15551234567:3@s.whatsapp.net", &b), -1);
	wa_node_free(r);

	/* a retry receipt's <keys> (section 5.4): the registration sits beside it, the device comes from "from" */
	r = wa_node_new("receipt");
	u = key_user(r, "unused", 1);	/* the same children as <keys> has; the tag is not read */
	assert_int_equal(msg_keys_parse(u, 777, 4, &b), 0);
	assert_int_equal(b.registration_id, 777);
	assert_int_equal(b.device_id, 4);
	assert_true(b.has_prekey);
	/* a type byte other than 0x05 is refused */
	((struct wa_node *)wa_node_child(u, "type"))->bytes[0] = 6;
	assert_int_equal(msg_keys_parse(u, 777, 4, &b), -1);
	wa_node_free(r);
}

static void
test_dsm(void **state)
{
	Wa__Message m = WA__MESSAGE__INIT, *out;
	Wa__MessageContextInfo ctx = WA__MESSAGE_CONTEXT_INFO__INIT;
	uint8_t secret[32], *buf, *dsm;
	size_t len, dlen;

	(void)state;
	memset(secret, 7, sizeof(secret));
	m.conversation = (char *)"hello there";
	ctx.has_messagesecret = 1;
	ctx.messagesecret.data = secret;
	ctx.messagesecret.len = sizeof(secret);
	m.messagecontextinfo = &ctx;
	len = wa__message__get_packed_size(&m);
	buf = malloc(len);
	wa__message__pack(&m, buf);
	assert_int_equal(msg_stanza_dsm("15551234567@s.whatsapp.net", buf, len, &dsm, &dlen), 0);
	out = wa__message__unpack(NULL, dlen, dsm);
	assert_non_null(out);
	assert_non_null(out->devicesentmessage);
	assert_string_equal(out->devicesentmessage->destinationjid, "15551234567@s.whatsapp.net");
	assert_string_equal(out->devicesentmessage->message->conversation, "hello there");
	/* the context info (message secret) travels beside the wrapper too (section 4.7) */
	assert_non_null(out->messagecontextinfo);
	assert_memory_equal(out->messagecontextinfo->messagesecret.data, secret, 32);
	assert_null(out->conversation);
	wa__message__free_unpacked(out, NULL);
	free(dsm);
	/* not a protobuf message: refused */
	buf[0] = 0x0f;	/* field 1, wire type 7 */
	assert_int_equal(msg_stanza_dsm("x@s.whatsapp.net", buf, len, &dsm, &dlen), -1);
	assert_int_equal(msg_stanza_dsm("x@s.whatsapp.net", (const uint8_t *)"\x0a\x05" "ab", 4, &dsm, &dlen), -1);
	free(buf);
}

static void
test_stanzas(void **state)
{
	struct msg_stanza_enc encs[2] = {
		{ "15551234567@s.whatsapp.net", WA_SIGNAL_MSG, (const uint8_t *)"\x33" "abc", 4 },
		{ "15550000001:3@s.whatsapp.net", WA_SIGNAL_PKMSG, (const uint8_t *)"\x33" "defg", 5 },
	};
	const char *ids[] = { "3EB0A", "3EB0B", "3EB0C" };
	struct wa_node *m, *w;
	const struct wa_node *parts, *to, *enc, *list;

	(void)state;
	/* a pkmsg among them: device-identity goes along */
	m = msg_stanza_message("3EB0ID", "15551234567@s.whatsapp.net", encs, 2, (const uint8_t *)"ident", 5);
	w = wire(m);
	assert_string_equal(wa_node_attr(w, "id"), "3EB0ID");
	assert_string_equal(wa_node_attr(w, "to"), "15551234567@s.whatsapp.net");
	assert_string_equal(wa_node_attr(w, "type"), "text");
	assert_null(wa_node_attr(w, "t"));
	parts = wa_node_child(w, "participants");
	assert_int_equal(wa_node_count_children(parts, "to"), 2);
	to = parts->children[1];
	assert_string_equal(wa_node_attr(to, "jid"), "15550000001:3@s.whatsapp.net");
	enc = wa_node_child(to, "enc");
	assert_string_equal(wa_node_attr(enc, "v"), "2");
	assert_string_equal(wa_node_attr(enc, "type"), "pkmsg");
	assert_int_equal(enc->nbytes, 5);
	assert_string_equal(wa_node_attr(wa_node_child(parts->children[0], "enc"), "type"), "msg");
	assert_int_equal(wa_node_child(w, "device-identity")->nbytes, 5);
	wa_node_free(m);
	wa_node_free(w);
	/* only msg: no device-identity */
	m = msg_stanza_message("3EB0ID", "15551234567@s.whatsapp.net", encs, 1, (const uint8_t *)"ident", 5);
	assert_null(wa_node_child(m, "device-identity"));
	wa_node_free(m);

	/* the resend: one direct enc with count, t, to the device */
	m = msg_stanza_resend("3EB0ID", encs[1].jid, &encs[1], 2, 1700000000, (const uint8_t *)"ident", 5);
	w = wire(m);
	assert_string_equal(wa_node_attr(w, "to"), "15550000001:3@s.whatsapp.net");
	assert_string_equal(wa_node_attr(w, "t"), "1700000000");
	assert_null(wa_node_child(w, "participants"));
	assert_string_equal(wa_node_attr(wa_node_child(w, "enc"), "count"), "2");
	assert_non_null(wa_node_child(w, "device-identity"));
	wa_node_free(m);
	wa_node_free(w);

	/* read receipts: the first id in the receipt, the others in <list> */
	m = msg_stanza_read("15551234567@s.whatsapp.net", "", ids, 3, 1700000001);
	w = wire(m);
	assert_string_equal(wa_node_attr(w, "id"), "3EB0A");
	assert_string_equal(wa_node_attr(w, "type"), "read");
	assert_string_equal(wa_node_attr(w, "t"), "1700000001");
	assert_null(wa_node_attr(w, "participant"));
	list = wa_node_child(w, "list");
	assert_int_equal(wa_node_count_children(list, "item"), 2);
	assert_string_equal(wa_node_attr(list->children[1], "id"), "3EB0C");
	wa_node_free(m);
	wa_node_free(w);
	m = msg_stanza_read("120363012345678901@g.us", "15550000001@s.whatsapp.net", ids, 1, 1);
	assert_string_equal(wa_node_attr(m, "participant"), "15550000001@s.whatsapp.net");
	assert_null(wa_node_child(m, "list"));
	wa_node_free(m);
}

/* <call from=15550001111><TAG call-id=id call-creator=15550001111/></call>; *info is the child. */
static struct wa_node *
call_node(const char *tag, const char *id, struct wa_node **info)
{
	struct wa_node *n = wa_node_new("call");

	wa_node_set_attr(n, "from", "15550001111@s.whatsapp.net");
	*info = wa_node_add_child(n, wa_node_new(tag));
	wa_node_set_attr(*info, "call-id", id);
	wa_node_set_attr(*info, "call-creator", "15550001111@s.whatsapp.net");
	return n;
}

/* <call> stanzas read as Baileys' call event; what is refused; the reject we answer an offer with. */
static void
test_calls(void **state)
{
	struct wa_node *n = wa_node_new("call"), *info, *r;
	struct msg_call c;
	const char *why;

	(void)state;
	wa_node_set_attr(n, "from", "15550001111@s.whatsapp.net");
	wa_node_set_attr(n, "id", "S1");
	wa_node_set_attr(n, "t", "1700000123");
	assert_int_equal(msg_call_parse(n, &c, &why), -1);		/* no call info */
	info = wa_node_add_child(n, wa_node_new("offer"));
	wa_node_set_attr(info, "call-creator", "15550001111@s.whatsapp.net");
	assert_int_equal(msg_call_parse(n, &c, &why), -1);		/* no call-id */
	wa_node_set_attr(info, "call-id", "ABCDEF0123456789");
	wa_node_add_child(info, wa_node_new("video"));
	wa_node_set_attr(info, "group-jid", "120363000000000001@g.us");
	assert_int_equal(msg_call_parse(n, &c, &why), 0);
	assert_string_equal(c.id, "ABCDEF0123456789");
	assert_string_equal(c.chat_id, "15550001111@s.whatsapp.net");
	assert_string_equal(c.from, "15550001111@s.whatsapp.net");	/* the call-creator, with no from */
	assert_string_equal(c.status, "offer");
	assert_int_equal(c.t, 1700000123);
	assert_true(c.is_video && c.is_group && !c.offline);
	assert_string_equal(c.group_jid, "120363000000000001@g.us");
	assert_int_equal(c.latency_ms, -1);
	r = msg_call_reject(&c, "15559990000@s.whatsapp.net", "15550001111@s.whatsapp.net", "3EB0X");
	assert_string_equal(r->tag, "call");
	assert_string_equal(wa_node_attr(r, "to"), "15550001111@s.whatsapp.net");
	assert_string_equal(wa_node_attr(r, "from"), "15559990000@s.whatsapp.net");
	assert_string_equal(wa_node_attr(r, "id"), "3EB0X");
	assert_string_equal(r->children[0]->tag, "reject");
	assert_string_equal(wa_node_attr(r->children[0], "call-id"), "ABCDEF0123456789");
	assert_string_equal(wa_node_attr(r->children[0], "call-creator"), "15550001111@s.whatsapp.net");
	assert_string_equal(wa_node_attr(r->children[0], "count"), "0");
	wa_node_free(r);
	/* a terminate for a timeout, offline; the child's from wins over the creator */
	wa_node_free(n);
	n = call_node("terminate", "C2", &info);
	wa_node_set_attr(n, "offline", "0");
	wa_node_set_attr(info, "call-creator", "15550002222@s.whatsapp.net");
	wa_node_set_attr(info, "from", "15550003333@s.whatsapp.net");
	wa_node_set_attr(info, "reason", "timeout");
	assert_int_equal(msg_call_parse(n, &c, &why), 0);
	assert_string_equal(c.status, "timeout");
	assert_string_equal(c.from, "15550003333@s.whatsapp.net");
	assert_true(c.offline && !c.is_video);
	assert_int_equal(c.t, 0);
	/* a relay latency; an unknown tag is "ringing" */
	wa_node_free(n);
	n = call_node("relaylatency", "C3", &info);
	wa_node_set_attr(info, "latency", "33");
	assert_int_equal(msg_call_parse(n, &c, &why), 0);
	assert_string_equal(c.status, "relaylatency");
	assert_int_equal(c.latency_ms, 33);
	wa_node_free(n);
	n = call_node("mystery", "C4", &info);
	assert_int_equal(msg_call_parse(n, &c, &why), 0);
	assert_string_equal(c.status, "ringing");
	/* refused: a bad JID, a call-id with a space or too long */
	wa_node_set_attr(info, "call-creator", "not a jid");
	assert_int_equal(msg_call_parse(n, &c, &why), -1);
	wa_node_set_attr(info, "call-creator", "15550001111@s.whatsapp.net");
	wa_node_set_attr(info, "call-id", "A B");
	assert_int_equal(msg_call_parse(n, &c, &why), -1);
	wa_node_set_attr(info, "call-id", "0123456789012345678901234567890123456789012345678901234567890123X");
	assert_int_equal(msg_call_parse(n, &c, &why), -1);
	wa_node_free(n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_usync_devices),
		cmocka_unit_test(test_usync_contacts),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_dsm),
		cmocka_unit_test(test_stanzas),
		cmocka_unit_test(test_calls),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
