/* The w:g2 iqs: create, metadata, participating, participants add/remove (see fw_group.h). */
#include "fw_group.h"

#include "fakewa_client.h"
#include "fw_account.h"
#include "fw_iq.h"

#include "log.h"
#include "wa_jid.h"
#include "wa_node.h"

#include <stdio.h>
#include <string.h>

/* The account a <participant jid=USER> names, or NULL. *bad set when jid is no user JID at all. */
static struct fw_account *
fw_group_iq_account(struct fw_client *c, const struct wa_node *p, int *bad)
{
	const char *jid = wa_node_attr(p, "jid");
	struct wa_jid j;

	if (strcmp(p->tag, "participant") != 0 || jid == NULL || wa_jid_parse(jid, &j) == -1 || !wa_jid_is_user(&j)) {
		*bad = 1;
		return NULL;
	}
	return fw_account_find_user(&c->s->accounts, j.user);
}

/* Send r and free it. */
static void
fw_group_iq_send(struct fw_client *c, struct wa_node *r)
{
	fw_client_send(c, r);
	wa_node_free(r);
}

/* <create subject key><participant jid/>...</create> to @g.us */
static void
fw_group_iq_create(struct fw_client *c, const struct wa_node *iq, const struct wa_node *cr)
{
	struct fw_account *m[FW_GROUP_MEMBERS_MAX], *a;
	struct wa_node *r, *gn, *p;
	struct fw_group *g;
	const char *unknown[FW_GROUP_MEMBERS_MAX];
	size_t nm = 0, nu = 0, np = cr->ctype == WA_CONTENT_NODES ? cr->nchildren : 0;
	char err[128];
	int bad = 0;

	if (np >= FW_GROUP_MEMBERS_MAX) {
		fw_iq_reply_error(c, iq, 406, "not-acceptable");
		return;
	}
	for (size_t i = 0; i < np; i++) {
		if ((a = fw_group_iq_account(c, cr->children[i], &bad)) != NULL)
			m[nm++] = a;
		else if (!bad)
			unknown[nu++] = wa_node_attr(cr->children[i], "jid");
	}
	if (bad) {
		fw_iq_reply_error(c, iq, 400, "bad-request");
		return;
	}
	if ((g = fw_group_create(c->s->groups, c->dev->acct, wa_node_attr(cr, "subject"), m, nm,
	    0, err, sizeof(err))) == NULL) {
		log_info("client %u: group create refused: %s", c->id, err);
		fw_iq_reply_error(c, iq, 406, "not-acceptable");
		return;
	}
	log_info("client %u (%s): group %s \"%s\" created with %zu member(s)", c->id, c->jid, g->jid, g->subject,
	    g->nmembers);
	r = fw_iq_result_new(iq);
	gn = wa_node_add_child(r, fw_group_node(g));
	/* a number WhatsApp does not know: listed with its error, not a member */
	for (size_t i = 0; i < nu; i++) {
		p = wa_node_add_child(gn, wa_node_new("participant"));
		wa_node_set_attr(p, "jid", unknown[i]);
		wa_node_set_attr(p, "error", "404");
	}
	fw_group_iq_send(c, r);
	p = wa_node_new("create");
	wa_node_add_child(p, fw_group_node(g));
	fw_group_notify(c->s, g, c->dev->acct, p, g->members, g->nmembers, c->dev);
}

/* <add|remove><participant jid/>...</add|remove> to a group */
static void
fw_group_iq_change(struct fw_client *c, const struct wa_node *iq, struct fw_group *g, const struct wa_node *ch)
{
	int add = strcmp(ch->tag, "add") == 0, bad = 0, rc;
	size_t np = ch->ctype == WA_CONTENT_NODES ? ch->nchildren : 0, nc = 0;
	struct fw_account *changed[FW_GROUP_MEMBERS_MAX], *a, *to[2 * FW_GROUP_MEMBERS_MAX];
	struct wa_node *r, *out, *p, *note;
	size_t nto = 0;

	if (np == 0 || np > FW_GROUP_MEMBERS_MAX) {
		fw_iq_reply_error(c, iq, 400, "bad-request");
		return;
	}
	for (size_t i = 0; i < np; i++)
		(void)fw_group_iq_account(c, ch->children[i], &bad);
	if (bad) {
		fw_iq_reply_error(c, iq, 400, "bad-request");
		return;
	}
	r = fw_iq_result_new(iq);
	out = wa_node_add_child(r, wa_node_new(ch->tag));
	note = wa_node_new(ch->tag);
	for (size_t i = 0; i < np; i++) {
		p = wa_node_add_child(out, wa_node_new("participant"));
		wa_node_set_attr(p, "jid", wa_node_attr(ch->children[i], "jid"));
		if ((a = fw_group_iq_account(c, ch->children[i], &bad)) == NULL) {
			wa_node_set_attr(p, "error", "404");
			continue;
		}
		rc = add ? fw_group_add(g, a) : fw_group_remove(g, a);
		if (rc != 0) {
			/* 409: already a member; 404: not one (remove); 406: the group is full */
			wa_node_set_attr(p, "error", add ? (rc == 1 ? "409" : "406") : "404");
			continue;
		}
		changed[nc++] = a;
		wa_node_set_attrf(wa_node_add_child(note, wa_node_new("participant")), "jid", "%s@s.whatsapp.net",
		    a->phone);
	}
	fw_group_iq_send(c, r);
	if (nc == 0) {
		wa_node_free(note);
		return;
	}
	/* everyone in the group now, and those just removed, hear of it */
	for (size_t i = 0; i < g->nmembers; i++)
		to[nto++] = g->members[i];
	for (size_t i = 0; !add && i < nc; i++)
		to[nto++] = changed[i];
	fw_group_notify(c->s, g, c->dev->acct, note, to, nto, c->dev);
}

void
fw_group_iq(struct fw_client *c, const struct wa_node *iq)
{
	const char *type = wa_node_attr(iq, "type"), *to = wa_node_attr(iq, "to");
	const struct wa_node *ch = iq->ctype == WA_CONTENT_NODES && iq->nchildren == 1 ? iq->children[0] : NULL;
	struct fw_group *g;
	struct wa_node *r, *list;

	if (c->dev == NULL || ch == NULL || to == NULL) {
		fw_iq_reply_error(c, iq, 400, "bad-request");
		return;
	}
	if (strcmp(to, "@g.us") == 0 || strcmp(to, "g.us") == 0) {
		if (strcmp(type, "set") == 0 && strcmp(ch->tag, "create") == 0)
			fw_group_iq_create(c, iq, ch);
		else if (strcmp(type, "get") == 0 && strcmp(ch->tag, "participating") == 0) {
			r = fw_iq_result_new(iq);
			list = wa_node_add_child(r, wa_node_new("groups"));
			TAILQ_FOREACH(g, &c->s->groups->list, entry)
				if (fw_group_is_member(g, c->dev->acct))
					wa_node_add_child(list, fw_group_node(g));
			fw_group_iq_send(c, r);
		} else
			fw_iq_reply_error(c, iq, 501, "feature-not-implemented");
		return;
	}
	if ((g = fw_group_find(c->s->groups, to)) == NULL) {
		fw_iq_reply_error(c, iq, 404, "item-not-found");
		return;
	}
	if (!fw_group_is_member(g, c->dev->acct)) {
		fw_iq_reply_error(c, iq, 403, "forbidden");
		return;
	}
	if (strcmp(type, "get") == 0 && strcmp(ch->tag, "query") == 0) {
		r = fw_iq_result_new(iq);
		wa_node_add_child(r, fw_group_node(g));
		fw_group_iq_send(c, r);
	} else if (strcmp(type, "set") == 0 && (strcmp(ch->tag, "add") == 0 || strcmp(ch->tag, "remove") == 0))
		fw_group_iq_change(c, iq, g, ch);
	else
		fw_iq_reply_error(c, iq, 501, "feature-not-implemented");
}
