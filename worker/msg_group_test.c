/* The wire side of groups (msg_group.c): the w:g2 iqs we write, <group> answers read into GroupInfo (and
 * refused when malformed), the participant hash, the group stanza and the sender key distribution Message. */
#include "msg_group.h"

#include "e2e.pb-c.h"
#include "wa_node.h"

#include <mbedtls/sha256.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static struct wa_node *
participant(struct wa_node *g, const char *jid, const char *type)
{
	struct wa_node *p = wa_node_add_child(g, wa_node_new("participant"));

	wa_node_set_attr(p, "jid", jid);
	if (type != NULL)
		wa_node_set_attr(p, "type", type);
	return p;
}

/* A <group> as WhatsApp answers a metadata query. */
static struct wa_node *
group_node(void)
{
	struct wa_node *g = wa_node_new("group"), *d;

	wa_node_set_attr(g, "id", "120363012345678901");
	wa_node_set_attr(g, "creator", "15550001@s.whatsapp.net");
	wa_node_set_attr(g, "creation", "1700000100");
	wa_node_set_attr(g, "subject", "Füße");
	wa_node_set_attr(g, "s_t", "1700000200");
	wa_node_set_attr(g, "s_o", "15550002@s.whatsapp.net");
	wa_node_set_attr(participant(g, "15550001@s.whatsapp.net", "superadmin"), "lid", "111@lid");
	participant(g, "15550002@s.whatsapp.net", "admin");
	participant(g, "15550003@s.whatsapp.net", NULL);
	wa_node_set_attr(participant(g, "15550004@s.whatsapp.net", NULL), "error", "404");
	d = wa_node_add_child(g, wa_node_new("description"));
	wa_node_set_attr(d, "id", "DESC1");
	wa_node_set_string(wa_node_add_child(d, wa_node_new("body")), "the description");
	wa_node_add_child(g, wa_node_new("announcement"));
	wa_node_add_child(g, wa_node_new("locked"));
	return g;
}

static void
test_queries(void **state)
{
	char *users[] = { (char *)"15550002@s.whatsapp.net", (char *)"15550003@s.whatsapp.net" };
	struct wa_node *iq;
	const struct wa_node *c;

	(void)state;
	iq = msg_group_create_query("subj", users, 2, "KEY1");
	assert_string_equal(wa_node_attr(iq, "xmlns"), "w:g2");
	assert_string_equal(wa_node_attr(iq, "type"), "set");
	assert_string_equal(wa_node_attr(iq, "to"), "@g.us");
	assert_non_null(c = wa_node_child(iq, "create"));
	assert_string_equal(wa_node_attr(c, "subject"), "subj");
	assert_string_equal(wa_node_attr(c, "key"), "KEY1");
	assert_int_equal(wa_node_count_children(c, "participant"), 2);
	assert_string_equal(wa_node_attr(c->children[1], "jid"), "15550003@s.whatsapp.net");
	wa_node_free(iq);

	iq = msg_group_info_query("120363012345678901@g.us");
	assert_string_equal(wa_node_attr(iq, "type"), "get");
	assert_string_equal(wa_node_attr(iq, "to"), "120363012345678901@g.us");
	assert_string_equal(wa_node_attr(wa_node_child(iq, "query"), "request"), "interactive");
	wa_node_free(iq);

	iq = msg_group_list_query();
	assert_string_equal(wa_node_attr(iq, "to"), "@g.us");
	assert_non_null(c = wa_node_child(iq, "participating"));
	assert_non_null(wa_node_child(c, "participants"));
	assert_non_null(wa_node_child(c, "description"));
	wa_node_free(iq);
}

/* An <iq type=error><error code/></iq>. */
static int
code_of(const char *code)
{
	struct wa_node *iq = wa_node_new("iq");
	int rc;

	wa_node_set_attr(iq, "type", code != NULL ? "error" : "result");
	if (code != NULL && *code != '\0')
		wa_node_set_attr(wa_node_add_child(iq, wa_node_new("error")), "code", code);
	rc = msg_group_iq_code(iq);
	wa_node_free(iq);
	return rc;
}

static void
test_iq_code(void **state)
{
	(void)state;
	assert_int_equal(code_of(NULL), 0);
	assert_int_equal(code_of("400"), 400);
	assert_int_equal(code_of("406"), 400);
	assert_int_equal(code_of("401"), 403);
	assert_int_equal(code_of("403"), 403);
	assert_int_equal(code_of("404"), 404);
	assert_int_equal(code_of("500"), 500);
	assert_int_equal(code_of("429"), 500);
	assert_int_equal(code_of(""), 500);	/* type=error without an <error> */
}

static void
test_parse(void **state)
{
	struct wa_node *g = group_node(), *iq;
	Wagate__Ipc__GroupInfo *gi;

	(void)state;
	assert_non_null(gi = msg_group_parse(g));
	assert_string_equal(gi->jid, "120363012345678901@g.us");
	assert_string_equal(gi->subject, "Füße");
	assert_string_equal(gi->subject_owner, "15550002@s.whatsapp.net");
	assert_int_equal(gi->subject_time, 1700000200);
	assert_int_equal(gi->creation, 1700000100);
	assert_string_equal(gi->owner, "15550001@s.whatsapp.net");
	assert_string_equal(gi->desc, "the description");
	assert_string_equal(gi->desc_id, "DESC1");
	assert_true(gi->announce);
	assert_true(gi->locked);
	/* the one with error="404" was not added */
	assert_int_equal(gi->n_participants, 3);
	assert_string_equal(gi->participants[0]->jid, "15550001@s.whatsapp.net");
	assert_string_equal(gi->participants[0]->lid, "111@lid");
	assert_string_equal(gi->participants[0]->admin, "superadmin");
	assert_string_equal(gi->participants[1]->admin, "admin");
	assert_string_equal(gi->participants[2]->admin, "");
	assert_string_equal(gi->participants[2]->lid, "");
	msg_group_info_free(gi);

	/* as the answer of a query, and a minimal group (no settings, no description) */
	iq = wa_node_new("iq");
	wa_node_set_attr(iq, "type", "result");
	wa_node_add_child(iq, wa_node_new("group"));
	wa_node_set_attr(iq->children[0], "id", "15550001-1700000000");
	assert_non_null(gi = msg_group_parse_answer(iq));
	assert_string_equal(gi->jid, "15550001-1700000000@g.us");
	assert_false(gi->announce);
	assert_false(gi->locked);
	assert_int_equal(gi->n_participants, 0);
	assert_string_equal(gi->desc, "");
	msg_group_info_free(gi);
	wa_node_free(iq);
	wa_node_free(g);
}

/* A LID-addressed group: jid is the LID, phone_number the PN. */
static void
test_parse_lid(void **state)
{
	struct wa_node *g = wa_node_new("group"), *p;
	Wagate__Ipc__GroupInfo *gi;

	(void)state;
	wa_node_set_attr(g, "id", "120363012345678902");
	wa_node_set_attr(g, "addressing_mode", "lid");
	p = participant(g, "222@lid", "admin");
	wa_node_set_attr(p, "phone_number", "15550002@s.whatsapp.net");
	participant(g, "333@lid", NULL);	/* no PN told: the LID in both */
	assert_non_null(gi = msg_group_parse(g));
	assert_string_equal(gi->participants[0]->jid, "15550002@s.whatsapp.net");
	assert_string_equal(gi->participants[0]->lid, "222@lid");
	assert_string_equal(gi->participants[1]->jid, "333@lid");
	assert_string_equal(gi->participants[1]->lid, "333@lid");
	msg_group_info_free(gi);
	wa_node_free(g);
}

/* Each change makes the group malformed. */
static void
test_parse_bad(void **state)
{
	struct wa_node *g;

	(void)state;
	for (int k = 0; k < 9; k++) {
		g = group_node();
		switch (k) {
		case 0:
			wa_node_set_attr(g, "id", NULL);
			break;
		case 1:
			wa_node_set_attr(g, "creation", "17a");
			break;
		case 2:
			wa_node_set_attr(g, "subject", "\xff\xfe");
			break;
		case 3:
			participant(g, "15550009:3@s.whatsapp.net", NULL);	/* a device */
			break;
		case 4:
			participant(g, "120363012345678901@g.us", NULL);
			break;
		case 5:
			wa_node_add_child(g, wa_node_new("participant"));	/* no jid */
			break;
		case 6:
			wa_node_set_attr(g, "id", "15550001@s.whatsapp.net");	/* no group */
			break;
		case 7:
			wa_node_set_attr(g, "s_o", "not a jid");
			break;
		case 8:
			wa_node_set_attr(g, "s_t", "99999999999999999999");
			break;
		}
		if (msg_group_parse(g) != NULL)
			fail_msg("case %d parsed", k);
		wa_node_free(g);
	}
	/* over the participant cap */
	g = wa_node_new("group");
	wa_node_set_attr(g, "id", "120363012345678903");
	for (int i = 0; i <= MSG_GROUP_PARTICIPANTS_MAX; i++)
		participant(g, "15550001@s.whatsapp.net", NULL);
	assert_null(msg_group_parse(g));
	wa_node_free(g);
	/* the wrong tag */
	g = wa_node_new("groups");
	wa_node_set_attr(g, "id", "120363012345678903");
	assert_null(msg_group_parse(g));
	wa_node_free(g);
}

static void
test_parse_list(void **state)
{
	struct wa_node *iq = wa_node_new("iq"), *gs;
	Wagate__Ipc__GroupInfo **v;
	size_t n;

	(void)state;
	assert_int_equal(msg_group_parse_list(iq, &v, &n), -1);	/* no <groups> */
	gs = wa_node_add_child(iq, wa_node_new("groups"));
	assert_int_equal(msg_group_parse_list(iq, &v, &n), 0);
	assert_int_equal(n, 0);
	free(v);
	wa_node_add_child(gs, group_node());
	wa_node_add_child(gs, wa_node_new("other"));		/* not a group: skipped */
	wa_node_add_child(gs, group_node());
	wa_node_set_attr(gs->children[2], "id", "120363000000000002");
	assert_int_equal(msg_group_parse_list(iq, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[1]->jid, "120363000000000002@g.us");
	assert_int_equal(v[0]->n_participants, 3);
	for (size_t i = 0; i < n; i++)
		msg_group_info_free(v[i]);
	free(v);
	/* one malformed group fails the whole answer */
	wa_node_set_attr(gs->children[0], "creation", "x");
	assert_int_equal(msg_group_parse_list(iq, &v, &n), -1);
	wa_node_free(iq);
}

/* The hash over a sorted list written out by hand. */
static void
test_phash(void **state)
{
	char *devs[] = { (char *)"15550002@s.whatsapp.net", (char *)"15550001:3@s.whatsapp.net",
	    (char *)"15550001@s.whatsapp.net", (char *)"junk", (char *)"333:2@lid" };
	char *rev[] = { devs[4], devs[3], devs[2], devs[1], devs[0] };
	const char *sorted = "15550001.0:0@s.whatsapp.net15550001.0:3@s.whatsapp.net15550002.0:0@s.whatsapp.net"
	    "333.0:2@lid";
	char a[MSG_GROUP_PHASH_LEN], b[MSG_GROUP_PHASH_LEN], want[16];
	uint8_t h[32];
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	(void)state;
	mbedtls_sha256_ret((const unsigned char *)sorted, strlen(sorted), h, 0);
	/* 6 bytes are 8 base64 characters */
	want[0] = '2';
	want[1] = ':';
	for (int i = 0; i < 2; i++) {
		uint32_t v = (uint32_t)h[3 * i] << 16 | (uint32_t)h[3 * i + 1] << 8 | h[3 * i + 2];
		for (int k = 0; k < 4; k++)
			want[2 + 4 * i + k] = tab[(v >> (18 - 6 * k)) & 63];
	}
	want[10] = '\0';
	msg_group_phash(devs, 5, a);
	msg_group_phash(rev, 5, b);
	assert_string_equal(a, want);
	assert_string_equal(b, want);
}

static void
test_stanza(void **state)
{
	static const uint8_t ct1[] = { 1, 2, 3 }, ct2[] = { 4, 5 }, sk[] = { 9, 9, 9, 9 }, ident[] = { 7 };
	struct msg_stanza_enc encs[] = {
		{ "15550002@s.whatsapp.net", WA_SIGNAL_MSG, ct1, sizeof(ct1) },
		{ "15550003:2@s.whatsapp.net", WA_SIGNAL_PKMSG, ct2, sizeof(ct2) },
	};
	const struct wa_node *parts, *e;
	struct wa_node *m;

	(void)state;
	m = msg_group_stanza("3EB0X", "120363012345678901@g.us", "2:abcdefgh", encs, 2, sk, sizeof(sk), ident, 1);
	assert_string_equal(wa_node_attr(m, "to"), "120363012345678901@g.us");
	assert_string_equal(wa_node_attr(m, "type"), "text");
	assert_string_equal(wa_node_attr(m, "phash"), "2:abcdefgh");
	assert_null(wa_node_attr(m, "t"));
	assert_non_null(parts = wa_node_child(m, "participants"));
	assert_int_equal(parts->nchildren, 2);
	assert_string_equal(wa_node_attr(parts->children[1], "jid"), "15550003:2@s.whatsapp.net");
	e = parts->children[1]->children[0];
	assert_string_equal(wa_node_attr(e, "type"), "pkmsg");
	assert_string_equal(wa_node_attr(e, "v"), "2");
	assert_memory_equal(e->bytes, ct2, sizeof(ct2));
	assert_string_equal(wa_node_attr(parts->children[0]->children[0], "type"), "msg");
	assert_non_null(e = wa_node_child(m, "enc"));
	assert_string_equal(wa_node_attr(e, "type"), "skmsg");
	assert_int_equal(e->nbytes, sizeof(sk));
	assert_non_null(wa_node_child(m, "device-identity"));
	wa_node_free(m);

	/* no pkmsg: no identity; no pairwise copy at all: no <participants> */
	m = msg_group_stanza("3EB0Y", "120363012345678901@g.us", "", encs, 1, sk, sizeof(sk), ident, 1);
	assert_null(wa_node_child(m, "device-identity"));
	assert_null(wa_node_attr(m, "phash"));
	wa_node_free(m);
	m = msg_group_stanza("3EB0Z", "120363012345678901@g.us", NULL, NULL, 0, sk, sizeof(sk), ident, 1);
	assert_null(wa_node_child(m, "participants"));
	assert_non_null(wa_node_child(m, "enc"));
	wa_node_free(m);
}

static void
test_skdm_message(void **state)
{
	uint8_t skdm[300], *out;
	size_t len;
	Wa__Message *m;

	(void)state;
	for (size_t i = 0; i < sizeof(skdm); i++)
		skdm[i] = (uint8_t)i;
	msg_group_skdm_message("120363012345678901@g.us", skdm, sizeof(skdm), &out, &len);
	assert_non_null(m = wa__message__unpack(NULL, len, out));
	assert_non_null(m->senderkeydistributionmessage);
	assert_string_equal(m->senderkeydistributionmessage->groupid, "120363012345678901@g.us");
	assert_true(m->senderkeydistributionmessage->has_axolotlsenderkeydistributionmessage);
	assert_int_equal(m->senderkeydistributionmessage->axolotlsenderkeydistributionmessage.len, sizeof(skdm));
	assert_memory_equal(m->senderkeydistributionmessage->axolotlsenderkeydistributionmessage.data, skdm,
	    sizeof(skdm));
	assert_null(m->conversation);
	wa__message__free_unpacked(m, NULL);
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_queries),
		cmocka_unit_test(test_iq_code),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_lid),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_parse_list),
		cmocka_unit_test(test_phash),
		cmocka_unit_test(test_stanza),
		cmocka_unit_test(test_skdm_message),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
