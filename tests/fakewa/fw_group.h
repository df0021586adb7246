/* fakewa's groups (issue 9): the state of each group (JID, subject, creator, member accounts, creation time),
 * the w:g2 iqs on it (create, metadata query, participating, participants add/remove) and the <notification
 * type="w:gp2"> its members get (create, add, remove). Memory only, bounded: FW_GROUPS_MAX groups of at most
 * FW_GROUP_MEMBERS_MAX accounts. Members are accounts: every device of a member account is in the group.
 *
 * Group stanzas (wa-session.md 4.8, 5.1, 6.6; whatsmeow group.go and Baileys groups.ts read for the shapes):
 *   <iq type=set xmlns=w:g2 to=@g.us><create subject key><participant jid/>...</create></iq>
 *        -> <iq type=result><group .../></iq>; unknown participants are left out and answered with error=404
 *   <iq type=get xmlns=w:g2 to=GROUP><query request=interactive/></iq> -> <group .../> (404 unknown, 403 not
 *        a member)
 *   <iq type=get xmlns=w:g2 to=@g.us><participating>...</participating></iq> -> <groups><group/>...</groups>
 *   <iq type=set xmlns=w:g2 to=GROUP><add|remove><participant jid/>...</add|remove></iq>
 *        -> <add|remove><participant jid [error=404|409]/>...</add|remove>
 * where <group id=USER-PART creator creation subject s_t s_o><participant jid type?/>...</group> (id without
 * "@g.us", as WhatsApp sends it; creator has type="superadmin"). Group JIDs are "<digits>@g.us" (the newer
 * form, 120363...) or "<creator phone>-<unix time>@g.us" (the older one), chosen at creation. */
#ifndef WAGATE_FW_GROUP_H
#define WAGATE_FW_GROUP_H

#include <stddef.h>
#include <sys/queue.h>
#include <time.h>

struct fw_account;
struct fw_client;
struct fw_server;
struct wa_node;

#define FW_GROUPS_MAX		256	/* groups fakewa keeps; more are refused */
#define FW_GROUP_MEMBERS_MAX	64	/* member accounts of one group */
#define FW_GROUP_SUBJECT_MAX	100	/* bytes of a subject (WhatsApp's limit) */
#define FW_GROUP_JID_MAX	64

struct fw_group {
	char jid[FW_GROUP_JID_MAX];
	char subject[FW_GROUP_SUBJECT_MAX + 1];
	struct fw_account *creator;
	struct fw_account *members[FW_GROUP_MEMBERS_MAX];
	size_t nmembers;
	time_t creation, subject_time;
	TAILQ_ENTRY(fw_group) entry;
};

struct fw_groups {
	TAILQ_HEAD(, fw_group) list;
	size_t count;
	unsigned long next;
};

struct fw_groups *fw_groups_new(void);
void fw_groups_free(struct fw_groups *gs);

/* A new group by creator with subject (1..FW_GROUP_SUBJECT_MAX bytes) and members (the creator is added if
 * missing; duplicates are dropped); old_style picks the "<phone>-<time>" JID form. NULL with err when the
 * table or the group would be over its cap, or the subject is bad. */
struct fw_group *fw_group_create(struct fw_groups *gs, struct fw_account *creator, const char *subject,
    struct fw_account *const *members, size_t n, int old_style, char *err, size_t errlen);
/* The group with this JID, or NULL. */
struct fw_group *fw_group_find(struct fw_groups *gs, const char *jid);
/* 1 if jid is a syntactically valid group JID ("...@g.us"). */
int fw_group_jid_is(const char *jid);
int fw_group_is_member(const struct fw_group *g, const struct fw_account *a);
/* Add a member: 0, 1 if already one, -1 if full. Remove one: 0, or -1 if it was no member. */
int fw_group_add(struct fw_group *g, struct fw_account *a);
int fw_group_remove(struct fw_group *g, struct fw_account *a);
/* The <group> node of g. */
struct wa_node *fw_group_node(const struct fw_group *g);
/* whatsmeow's participant hash over every device of every member: "2:" + base64(sha256(sorted AD JIDs))[0..6
 * bytes] (wa-session.md 4.8). out >= 16 bytes. */
void fw_group_phash(const struct fw_group *g, char *out, size_t outlen);
/* Send <notification from=GROUP type=w:gp2 participant=ACTOR> with child (taken over) to every device of each
 * account in to[] (queued while offline), except the device skip (may be NULL). */
void fw_group_notify(struct fw_server *s, const struct fw_group *g, const struct fw_account *actor,
    struct wa_node *child, struct fw_account *const *to, size_t nto, const void *skip);

/* fw_group_iq.c: the w:g2 iqs. */
void fw_group_iq(struct fw_client *c, const struct wa_node *iq);

/* fw_group_msg.c: a <message to=GROUP> from c (fw_msg_handle hands it over): checked, acked, fanned out. */
void fw_group_msg_handle(struct fw_client *c, const struct wa_node *m);
/* A <receipt to=GROUP participant=SENDER>: acked and relayed to the sender device. 0, or -1 if r is no group
 * receipt (then fw_msg_receipt handles it). */
int fw_group_receipt(struct fw_client *c, const struct wa_node *r);

#endif
