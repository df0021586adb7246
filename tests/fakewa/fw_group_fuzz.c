/* libFuzzer target: fakewa's group stanza handlers (fw_group.h) on any binary node a client can send: the
 * first byte picks the handler (w:g2 iq, group <message>, group <receipt>), the rest is decoded as a node. The
 * world is three accounts with one companion each and one group; the rest of fakewa (transport, accounts,
 * the phone) is replaced by the small functions below, which check what the handlers promise: every stanza they
 * send or deliver encodes, and the group table stays within its caps. Listed for tests/fuzz/run.sh as:
 * fakewa_group tests/fakewa/fw_group_fuzz.c tests/fakewa/fw_group.c tests/fakewa/fw_group_iq.c
 * tests/fakewa/fw_group_msg.c worker/wa/wa_binary.c worker/wa/wa_node.c worker/wa/wa_jid.c worker/wa/wa_tokens.c
 * common/b64.c common/xmalloc.c common/log.c */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakewa_client.h"
#include "fw_account.h"
#include "fw_group.h"
#include "fw_iq.h"
#include "fw_msg.h"
#include "fw_phone_signal.h"

#include "wa_binary.h"
#include "wa_jid.h"
#include "wa_node.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fw_server srv;
static struct fw_account accts[3];
static struct fw_device devs[3];

/* Everything the handlers send must encode. */
static void
fz_encodes(const struct wa_node *n)
{
	uint8_t *buf;
	size_t len;

	if (wa_binary_encode(n, &buf, &len) == -1)
		abort();
	free(buf);
}

int
fw_client_send(struct fw_client *c, const struct wa_node *n)
{
	(void)c;
	fz_encodes(n);
	return 0;
}

void
fw_msg_deliver(struct fw_device *d, struct wa_node *n)
{
	(void)d;
	fz_encodes(n);
	wa_node_free(n);
}

void
fw_phone_group_receive(struct fw_server *s, struct fw_account *a, const struct wa_node *m)
{
	(void)s;
	(void)a;
	fz_encodes(m);
}

struct wa_node *
fw_iq_result_new(const struct wa_node *iq)
{
	struct wa_node *r = wa_node_new("iq");

	wa_node_set_attr(r, "id", wa_node_attr(iq, "id"));
	wa_node_set_attr(r, "type", "result");
	return r;
}

void
fw_iq_reply_error(struct fw_client *c, const struct wa_node *iq, int code, const char *text)
{
	struct wa_node *r = fw_iq_result_new(iq), *e = wa_node_add_child(r, wa_node_new("error"));

	wa_node_set_attrf(e, "code", "%d", code);
	wa_node_set_attr(e, "text", text);
	fw_client_send(c, r);
	wa_node_free(r);
}

struct fw_account *
fw_account_find_user(struct fw_accounts *as, const char *user)
{
	(void)as;
	for (size_t i = 0; i < 3; i++)
		if (strcmp(accts[i].phone, user) == 0 || strcmp(accts[i].lid, user) == 0)
			return &accts[i];
	return NULL;
}

void
fw_device_jid(const struct fw_device *d, char *buf, size_t len)
{
	snprintf(buf, len, "%s:%u@s.whatsapp.net", d->acct->phone, d->number);
}

void
fw_device_lid(const struct fw_device *d, char *buf, size_t len)
{
	snprintf(buf, len, "%s:%u@lid", d->acct->lid, d->number);
}

static void
fz_setup(void)
{
	for (size_t i = 0; i < 3; i++) {
		snprintf(accts[i].phone, sizeof(accts[i].phone), "1555111000%zu", i + 1);
		snprintf(accts[i].lid, sizeof(accts[i].lid), "9000000000%zu", i + 1);
		snprintf(accts[i].push_name, sizeof(accts[i].push_name), "user %zu", i + 1);
		TAILQ_INIT(&accts[i].devices);
		devs[i].acct = &accts[i];
		devs[i].number = 1;
		TAILQ_INSERT_TAIL(&accts[i].devices, &devs[i], entry);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct fw_account *members[1] = { &accts[1] };
	struct fw_client c;
	struct wa_node *n;
	const struct fw_group *g;
	const char *id;
	char err[128];

	if (!ready) {
		fz_setup();
		ready = 1;
	}
	if (size < 1 || (n = wa_binary_decode(data + 1, size - 1, err, sizeof(err))) == NULL)
		return 0;
	srv.groups = fw_groups_new();
	/* "120363100000000001@g.us": A and B, C outside */
	if (fw_group_create(srv.groups, &accts[0], "fuzz", members, 1, 0, err, sizeof(err)) == NULL)
		abort();
	memset(&c, 0, sizeof(c));
	c.s = &srv;
	c.dev = &devs[data[0] % 3];
	snprintf(c.jid, sizeof(c.jid), "%s:1@s.whatsapp.net", c.dev->acct->phone);
	switch ((data[0] / 3) % 3) {
	case 0:
		/* fw_iq_handle's checks before it picks the xmlns */
		if (wa_node_attr(n, "id") != NULL && wa_node_attr(n, "type") != NULL &&
		    (strcmp(wa_node_attr(n, "type"), "get") == 0 || strcmp(wa_node_attr(n, "type"), "set") == 0))
			fw_group_iq(&c, n);
		break;
	case 1:
		if (fw_group_jid_is(wa_node_attr(n, "to")))
			fw_group_msg_handle(&c, n);
		break;
	default:
		/* fw_msg_receipt's checks before it hands over */
		if ((id = wa_node_attr(n, "id")) != NULL && strlen(id) <= FW_MSG_ID_MAX)
			(void)fw_group_receipt(&c, n);
		break;
	}
	if (srv.groups->count > FW_GROUPS_MAX)
		abort();
	TAILQ_FOREACH(g, &srv.groups->list, entry)
		if (g->nmembers > FW_GROUP_MEMBERS_MAX || strlen(g->subject) > FW_GROUP_SUBJECT_MAX ||
		    !fw_group_jid_is(g->jid))
			abort();
	fw_groups_free(srv.groups);
	wa_node_free(n);
	return 0;
}
