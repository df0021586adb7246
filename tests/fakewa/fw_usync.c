/* usync answers (see fw_usync.h). */
#include "fw_usync.h"

#include "fakewa_client.h"
#include "fw_account.h"
#include "fw_iq.h"

#include "wa_jid.h"
#include "wa_node.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* The account a <user> element names: by its jid, or by the number in its <contact> child. */
static struct fw_account *
fw_usync_account(struct fw_client *c, const struct wa_node *u, const char **query)
{
	const struct wa_node *ct = wa_node_child(u, "contact");
	const char *jid = wa_node_attr(u, "jid");
	char num[FW_PHONE_MAX];
	struct wa_jid j;
	size_t n = 0;

	*query = jid;
	if (ct != NULL && ct->ctype == WA_CONTENT_BYTES) {
		const char *p = (const char *)ct->bytes;
		*query = p;
		/* "+15551234567" or "15551234567@c.us": the digits before any '@' */
		for (; *p != '\0' && *p != '@' && n + 1 < sizeof(num); p++)
			if (isdigit((unsigned char)*p))
				num[n++] = *p;
		num[n] = '\0';
		return n > 0 ? fw_account_find(&c->s->accounts, num) : NULL;
	}
	if (jid == NULL || wa_jid_parse(jid, &j) == -1 || !wa_jid_is_user(&j))
		return NULL;
	return fw_account_find_user(&c->s->accounts, j.user);
}

/* <devices><device-list>...</device-list><key-index-list ts/></devices> of account a (NULL: none). */
static void
fw_usync_devices(struct wa_node *u, const struct fw_account *a)
{
	struct wa_node *devs = wa_node_add_child(u, wa_node_new("devices")), *list, *dv, *kil;
	const struct fw_device *d;

	list = wa_node_add_child(devs, wa_node_new("device-list"));
	if (a == NULL)
		return;
	wa_node_set_attr(wa_node_add_child(list, wa_node_new("device")), "id", "0");
	TAILQ_FOREACH(d, &a->devices, entry) {
		dv = wa_node_add_child(list, wa_node_new("device"));
		wa_node_set_attrf(dv, "id", "%u", d->number);
		/* Baileys skips companions without key-index */
		wa_node_set_attrf(dv, "key-index", "%u", d->key_index);
	}
	kil = wa_node_add_child(devs, wa_node_new("key-index-list"));
	wa_node_set_attrf(kil, "ts", "%lld", (long long)time(NULL));
}

void
fw_usync_handle(struct fw_client *c, const struct wa_node *iq)
{
	const struct wa_node *q = wa_node_child(iq, "usync"), *query, *list;
	static const char *keys[] = { "sid", "mode", "context" };
	struct wa_node *r, *out, *olist, *u, *e;
	const struct fw_account *a;
	const char *qs;
	int want_dev, want_contact, want_lid;

	query = q != NULL ? wa_node_child(q, "query") : NULL;
	list = q != NULL ? wa_node_child(q, "list") : NULL;
	if (query == NULL || list == NULL) {
		fw_iq_reply_error(c, iq, 400, "bad-request");
		return;
	}
	want_dev = wa_node_child(query, "devices") != NULL;
	want_contact = wa_node_child(query, "contact") != NULL;
	want_lid = wa_node_child(query, "lid") != NULL;
	r = fw_iq_result_new(iq);
	out = wa_node_add_child(r, wa_node_new("usync"));
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (wa_node_attr(q, keys[i]) != NULL)
			wa_node_set_attr(out, keys[i], wa_node_attr(q, keys[i]));
	wa_node_set_attr(out, "index", "0");
	wa_node_set_attr(out, "last", "true");
	olist = wa_node_add_child(out, wa_node_new("list"));
	for (size_t i = 0; list->ctype == WA_CONTENT_NODES && i < list->nchildren && i < FW_USYNC_USERS_MAX; i++) {
		const struct wa_node *qu = list->children[i];
		if (strcmp(qu->tag, "user") != 0)
			continue;
		a = fw_usync_account(c, qu, &qs);
		u = wa_node_add_child(olist, wa_node_new("user"));
		if (wa_node_attr(qu, "jid") != NULL)
			wa_node_set_attr(u, "jid", wa_node_attr(qu, "jid"));
		else if (a != NULL)
			wa_node_set_attrf(u, "jid", "%s@s.whatsapp.net", a->phone);
		if (want_dev)
			fw_usync_devices(u, a);
		if (want_contact) {
			e = wa_node_add_child(u, wa_node_new("contact"));
			wa_node_set_attr(e, "type", a != NULL ? "in" : "out");
			if (qs != NULL)
				wa_node_set_string(e, qs);
		}
		if (want_lid && a != NULL)
			wa_node_set_attrf(wa_node_add_child(u, wa_node_new("lid")), "val", "%s@lid", a->lid);
	}
	fw_client_send(c, r);
	wa_node_free(r);
}
