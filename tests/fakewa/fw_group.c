/* Group state, its <group> node, participant hash and w:gp2 notifications (see fw_group.h). */
#include "fw_group.h"

#include "fakewa_client.h"
#include "fw_account.h"
#include "fw_msg.h"

#include "b64.h"
#include "log.h"
#include "wa_jid.h"
#include "wa_node.h"
#include "xmalloc.h"

#include <mbedtls/sha256.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fw_groups *
fw_groups_new(void)
{
	struct fw_groups *gs = xcalloc(1, sizeof(*gs));

	TAILQ_INIT(&gs->list);
	return gs;
}

void
fw_groups_free(struct fw_groups *gs)
{
	struct fw_group *g;

	if (gs == NULL)
		return;
	while ((g = TAILQ_FIRST(&gs->list)) != NULL) {
		TAILQ_REMOVE(&gs->list, g, entry);
		free(g);
	}
	free(gs);
}

int
fw_group_jid_is(const char *jid)
{
	struct wa_jid j;

	return jid != NULL && wa_jid_parse(jid, &j) == 0 && wa_jid_is_group(&j) && j.user[0] != '\0';
}

struct fw_group *
fw_group_find(struct fw_groups *gs, const char *jid)
{
	struct fw_group *g;

	if (jid == NULL)
		return NULL;
	TAILQ_FOREACH(g, &gs->list, entry)
		if (strcmp(g->jid, jid) == 0)
			return g;
	return NULL;
}

int
fw_group_is_member(const struct fw_group *g, const struct fw_account *a)
{
	for (size_t i = 0; i < g->nmembers; i++)
		if (g->members[i] == a)
			return 1;
	return 0;
}

int
fw_group_add(struct fw_group *g, struct fw_account *a)
{
	if (fw_group_is_member(g, a))
		return 1;
	if (g->nmembers == FW_GROUP_MEMBERS_MAX)
		return -1;
	g->members[g->nmembers++] = a;
	return 0;
}

int
fw_group_remove(struct fw_group *g, struct fw_account *a)
{
	for (size_t i = 0; i < g->nmembers; i++)
		if (g->members[i] == a) {
			memmove(g->members + i, g->members + i + 1, (g->nmembers - i - 1) * sizeof(g->members[0]));
			g->nmembers--;
			return 0;
		}
	return -1;
}

struct fw_group *
fw_group_create(struct fw_groups *gs, struct fw_account *creator, const char *subject,
    struct fw_account *const *members, size_t n, int old_style, char *err, size_t errlen)
{
	struct fw_group *g;
	size_t sl = subject != NULL ? strlen(subject) : 0;

	if (sl == 0 || sl > FW_GROUP_SUBJECT_MAX) {
		snprintf(err, errlen, "the subject must be 1..%d bytes", FW_GROUP_SUBJECT_MAX);
		return NULL;
	}
	if (gs->count >= FW_GROUPS_MAX) {
		snprintf(err, errlen, "fakewa holds %d groups already", FW_GROUPS_MAX);
		return NULL;
	}
	g = xcalloc(1, sizeof(*g));
	g->creator = creator;
	g->members[g->nmembers++] = creator;
	for (size_t i = 0; i < n; i++)
		if (fw_group_add(g, members[i]) == -1) {
			free(g);
			snprintf(err, errlen, "a group has at most %d participants", FW_GROUP_MEMBERS_MAX);
			return NULL;
		}
	memcpy(g->subject, subject, sl + 1);
	g->creation = g->subject_time = time(NULL);
	gs->next++;
	/* the older form is unique per creator and second only: the counter keeps two in one second apart */
	if (old_style)
		snprintf(g->jid, sizeof(g->jid), "%s-%lld@g.us", creator->phone, (long long)g->creation +
		    (long long)gs->next - 1);
	else
		snprintf(g->jid, sizeof(g->jid), "120363%012lu@g.us", 100000000000UL + gs->next);
	TAILQ_INSERT_TAIL(&gs->list, g, entry);
	gs->count++;
	return g;
}

struct wa_node *
fw_group_node(const struct fw_group *g)
{
	struct wa_node *n = wa_node_new("group"), *p;
	size_t ul = strcspn(g->jid, "@");
	char id[FW_GROUP_JID_MAX];

	snprintf(id, sizeof(id), "%.*s", (int)ul, g->jid);
	wa_node_set_attr(n, "id", id);
	wa_node_set_attrf(n, "creator", "%s@s.whatsapp.net", g->creator->phone);
	wa_node_set_attrf(n, "creation", "%lld", (long long)g->creation);
	wa_node_set_attr(n, "subject", g->subject);
	wa_node_set_attrf(n, "s_t", "%lld", (long long)g->subject_time);
	wa_node_set_attrf(n, "s_o", "%s@s.whatsapp.net", g->creator->phone);
	wa_node_set_attr(n, "addressing_mode", "pn");
	wa_node_set_attrf(n, "size", "%zu", g->nmembers);
	for (size_t i = 0; i < g->nmembers; i++) {
		p = wa_node_add_child(n, wa_node_new("participant"));
		wa_node_set_attrf(p, "jid", "%s@s.whatsapp.net", g->members[i]->phone);
		wa_node_set_attrf(p, "lid", "%s@lid", g->members[i]->lid);
		if (g->members[i] == g->creator)
			wa_node_set_attr(p, "type", "superadmin");
	}
	return n;
}

static int
fw_group_strcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
fw_group_phash(const struct fw_group *g, char *out, size_t outlen)
{
	const struct fw_device *d;
	char **v, b64[16];
	size_t n = 0, cap = 0;
	uint8_t hash[32];
	mbedtls_sha256_context ctx;

	for (size_t i = 0; i < g->nmembers; i++) {
		cap++;
		TAILQ_FOREACH(d, &g->members[i]->devices, entry)
			cap++;
	}
	v = xcalloc(cap, sizeof(*v));
	/* whatsmeow's ADString: "user.agent:device@server" for every device, the phone (device 0) included */
	for (size_t i = 0; i < g->nmembers; i++) {
		v[n] = xmalloc(FW_PHONE_MAX + 32);
		snprintf(v[n++], FW_PHONE_MAX + 32, "%s.0:0@s.whatsapp.net", g->members[i]->phone);
		TAILQ_FOREACH(d, &g->members[i]->devices, entry) {
			v[n] = xmalloc(FW_PHONE_MAX + 32);
			snprintf(v[n++], FW_PHONE_MAX + 32, "%s.0:%u@s.whatsapp.net", d->acct->phone, d->number);
		}
	}
	qsort(v, n, sizeof(*v), fw_group_strcmp);
	mbedtls_sha256_init(&ctx);
	(void)mbedtls_sha256_starts_ret(&ctx, 0);
	for (size_t i = 0; i < n; i++) {
		(void)mbedtls_sha256_update_ret(&ctx, (const unsigned char *)v[i], strlen(v[i]));
		free(v[i]);
	}
	(void)mbedtls_sha256_finish_ret(&ctx, hash);
	mbedtls_sha256_free(&ctx);
	free(v);
	b64_encode(hash, 6, b64);	/* 6 bytes: 8 characters, no padding */
	snprintf(out, outlen, "2:%s", b64);
}

void
fw_group_notify(struct fw_server *s, const struct fw_group *g, const struct fw_account *actor,
    struct wa_node *child, struct fw_account *const *to, size_t nto, const void *skip)
{
	struct fw_device *d;
	struct wa_node *n;
	char id[32];

	snprintf(id, sizeof(id), "%lu.gp2", ++s->next_stanza);
	for (size_t i = 0; i < nto; i++)
		TAILQ_FOREACH(d, &to[i]->devices, entry) {
			if ((const void *)d == skip)
				continue;
			n = wa_node_new("notification");
			wa_node_set_attr(n, "from", g->jid);
			wa_node_set_attr(n, "type", "w:gp2");
			wa_node_set_attr(n, "id", id);
			wa_node_set_attrf(n, "participant", "%s@s.whatsapp.net", actor->phone);
			wa_node_set_attrf(n, "participant_lid", "%s@lid", actor->lid);
			wa_node_set_attr(n, "notify", actor->push_name);
			wa_node_set_attrf(n, "t", "%lld", (long long)time(NULL));
			wa_node_add_child(n, wa_node_clone(child));
			fw_msg_deliver(d, n);
		}
	wa_node_free(child);
}
