/* Groups on the session side (see msg_group.h): GroupCreate / GroupQuery / GroupList as w:g2 iqs, the bounded
 * cache of group participants that group sends read (dropped on <notification type="w:gp2"> and when the
 * connection closes), and the in-memory set of devices that got our sender key per group.
 *
 * Which devices got our sender key is not stored: after a restart (or when a group falls out of the cache)
 * every device gets the distribution message again with the next send. That costs one pairwise message per
 * device and changes nothing for the receiver (it stores the same key again). */
#include "msg_group.h"
#include "msg_send_int.h"
#include "session.h"
#include "session_int.h"

#include "ipc.h"
#include "iq.h"
#include "log.h"
#include "wa_jid.h"
#include "wa_node.h"
#include "worker.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#define GROUP_IQ_TIMEOUT_S	20	/* inside the supervisor's 30 s for group commands */
#define GROUP_CACHE_MAX		64	/* groups whose participants are kept */
#define GROUP_SKDM_MAX		2048	/* devices remembered per group as having our sender key */
#define GROUP_CMDS_MAX		64	/* group iqs waiting for their answer */

enum group_kind {
	GROUP_CREATE = 1,
	GROUP_QUERY,
	GROUP_LIST,
	GROUP_FETCH,			/* a group send needs the participants */
};

/* A w:g2 iq waiting for its answer. */
struct group_cmd {
	TAILQ_ENTRY(group_cmd) entry;
	struct session *s;
	enum group_kind kind;
	uint64_t request_id;
	void (*cb)(void *arg, int code, const char *error);	/* GROUP_FETCH */
	void *arg;
};

/* What we know of one group. */
struct group_meta {
	TAILQ_ENTRY(group_meta) entry;	/* most recently used first */
	char jid[MSG_WIRE_JID_MAX];
	int have;			/* users is the current participant list */
	char **users;
	size_t nusers;
	char **skdm;			/* device JIDs that got our sender key */
	size_t nskdm;
};

TAILQ_HEAD(group_cmd_list, group_cmd);
TAILQ_HEAD(group_meta_list, group_meta);

struct msg_group_state {
	struct group_cmd_list cmds;
	size_t ncmds;
	struct group_meta_list metas;
	size_t nmetas;
};

static struct msg_group_state *
group_state(struct session *s)
{
	if (s->group == NULL) {
		s->group = xcalloc(1, sizeof(*s->group));
		TAILQ_INIT(&s->group->cmds);
		TAILQ_INIT(&s->group->metas);
	}
	return s->group;
}

static void
group_strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
group_meta_free(struct group_meta *m)
{
	group_strv_free(m->users, m->nusers);
	group_strv_free(m->skdm, m->nskdm);
	free(m);
}

/* The entry of group (moved to the front), created when create is set; NULL otherwise. */
static struct group_meta *
group_meta_get(struct session *s, const char *group, int create)
{
	struct msg_group_state *st = group_state(s);
	struct group_meta *m;

	TAILQ_FOREACH(m, &st->metas, entry)
		if (strcmp(m->jid, group) == 0) {
			TAILQ_REMOVE(&st->metas, m, entry);
			TAILQ_INSERT_HEAD(&st->metas, m, entry);
			return m;
		}
	if (!create || strlen(group) >= sizeof(m->jid))
		return NULL;
	if (st->nmetas >= GROUP_CACHE_MAX) {
		m = TAILQ_LAST(&st->metas, group_meta_list);
		TAILQ_REMOVE(&st->metas, m, entry);
		group_meta_free(m);
		st->nmetas--;
	}
	m = xcalloc(1, sizeof(*m));
	snprintf(m->jid, sizeof(m->jid), "%s", group);
	TAILQ_INSERT_HEAD(&st->metas, m, entry);
	st->nmetas++;
	return m;
}

/* Remember gi's participants for sends. */
static void
group_meta_put(struct session *s, const Wagate__Ipc__GroupInfo *gi)
{
	struct group_meta *m = group_meta_get(s, gi->jid, 1);

	if (m == NULL)
		return;
	group_strv_free(m->users, m->nusers);
	m->users = xcalloc(gi->n_participants > 0 ? gi->n_participants : 1, sizeof(*m->users));
	m->nusers = 0;
	for (size_t i = 0; i < gi->n_participants; i++)
		m->users[m->nusers++] = xstrdup(gi->participants[i]->jid);
	m->have = 1;
}

int
msg_group_cached(struct session *s, const char *group, char ***users, size_t *n)
{
	struct group_meta *m = group_meta_get(s, group, 0);

	if (m == NULL || !m->have)
		return 0;
	*users = m->users;
	*n = m->nusers;
	return 1;
}

int
msg_group_skdm_has(struct session *s, const char *group, const char *device)
{
	struct group_meta *m = group_meta_get(s, group, 0);

	for (size_t i = 0; m != NULL && i < m->nskdm; i++)
		if (strcmp(m->skdm[i], device) == 0)
			return 1;
	return 0;
}

void
msg_group_skdm_add(struct session *s, const char *group, const char *device)
{
	struct group_meta *m;

	if (msg_group_skdm_has(s, group, device) || (m = group_meta_get(s, group, 1)) == NULL)
		return;
	if (m->nskdm >= GROUP_SKDM_MAX) {
		/* full: start over (everyone gets the key again, harmless) */
		group_strv_free(m->skdm, m->nskdm);
		m->skdm = NULL;
		m->nskdm = 0;
	}
	m->skdm = xreallocarray(m->skdm, m->nskdm + 1, sizeof(*m->skdm));
	m->skdm[m->nskdm++] = xstrdup(device);
}

/* Forget device in m's sender key list. */
static void
group_meta_skdm_forget(struct group_meta *m, const char *device)
{
	for (size_t i = 0; i < m->nskdm; i++)
		if (strcmp(m->skdm[i], device) == 0) {
			free(m->skdm[i]);
			m->skdm[i] = m->skdm[--m->nskdm];
			return;
		}
}

void
msg_group_skdm_forget(struct session *s, const char *group, const char *device)
{
	struct group_meta *m;

	if (group == NULL) {
		if (s->group != NULL)
			TAILQ_FOREACH(m, &s->group->metas, entry)
				group_meta_skdm_forget(m, device);
	} else if ((m = group_meta_get(s, group, 0)) != NULL)
		group_meta_skdm_forget(m, device);
}

void
msg_group_forget(struct session *s, const char *group)
{
	struct group_meta *m;

	if (s->group != NULL && (m = group_meta_get(s, group, 0)) != NULL)
		m->have = 0;
}

void
msg_group_on_notification(struct session *s, const struct wa_node *n)
{
	const char *from = wa_node_attr(n, "from");

	if (from == NULL || s->group == NULL || group_meta_get(s, from, 0) == NULL)
		return;
	/* participants, admins or settings changed: ask again on the next send. A new member has not got our
	 * sender key, which the send finds out from the new list; a removed one keeps the old key (as whatsmeow). */
	log_debug("%s: group %s changed: its participants are asked again on the next send",
	    worker_instance_name(s->w), from);
	msg_group_forget(s, from);
}

void
msg_group_reset_connection(struct session *s)
{
	struct group_meta *m;

	if (s->group == NULL)
		return;
	/* the iq table failed our queries already (their callbacks answered); notifications may be missed */
	TAILQ_FOREACH(m, &s->group->metas, entry)
		m->have = 0;
}

void
msg_group_free(struct session *s)
{
	struct group_cmd *c;
	struct group_meta *m;

	if (s->group == NULL)
		return;
	/* the iq table was freed without callbacks: nobody to answer, the process is stopping */
	while ((c = TAILQ_FIRST(&s->group->cmds)) != NULL) {
		TAILQ_REMOVE(&s->group->cmds, c, entry);
		free(c);
	}
	while ((m = TAILQ_FIRST(&s->group->metas)) != NULL) {
		TAILQ_REMOVE(&s->group->metas, m, entry);
		group_meta_free(m);
	}
	free(s->group);
	s->group = NULL;
}

/* Answer a group command (code 0: ok with gv, which stays the caller's). */
static void
group_reply(struct session *s, uint64_t request_id, int code, const char *error, Wagate__Ipc__GroupInfo **gv,
    size_t n)
{
	Wagate__Ipc__GroupResult r = WAGATE__IPC__GROUP_RESULT__INIT;

	r.ok = code == 0;
	r.code = code;
	r.error = (char *)(error != NULL ? error : "");
	r.groups = gv;
	r.n_groups = code == 0 ? n : 0;
	/* a huge participating list could pass the IPC frame cap: an answer, not silence */
	if (code == 0 && wagate__ipc__group_result__get_packed_size(&r) > IPC_FRAME_MAX - 1024) {
		r.ok = 0;
		r.code = code = 500;
		r.error = (char *)"the groups do not fit in one answer";
		r.n_groups = 0;
	}
	if (code != 0)
		log_info("%s: group command: %d %s", worker_instance_name(s->w), code, r.error);
	worker_reply_groups(s->w, request_id, &r);
}

/* The text for a GroupResult code. */
static const char *
group_code_text(int code)
{
	switch (code) {
	case 400:
		return "bad request";
	case 403:
		return "not a member of the group";
	case 404:
		return "no such group";
	default:
		return "WhatsApp refused the request";
	}
}

/* A group iq's answer (NULL: none in time, or the connection closed). */
static void
group_iq_cb(void *arg, const struct wa_node *reply)
{
	struct group_cmd *c = arg;
	struct session *s = c->s;
	Wagate__Ipc__GroupInfo *one = NULL, **gv = NULL;
	size_t n = 0;
	int code;
	const char *why = NULL;

	TAILQ_REMOVE(&s->group->cmds, c, entry);
	s->group->ncmds--;
	if (reply == NULL) {
		code = send_is_open(s) ? 504 : 503;
		why = code == 504 ? "no answer from WhatsApp in time" : "Connection Closed";
	} else if ((code = msg_group_iq_code(reply)) != 0)
		why = group_code_text(code);
	else if (c->kind == GROUP_LIST) {
		if (msg_group_parse_list(reply, &gv, &n) == -1) {
			code = 500;
			why = "malformed group list from WhatsApp";
		}
	} else if ((one = msg_group_parse_answer(reply)) == NULL) {
		code = 500;
		why = "malformed group from WhatsApp";
	} else {
		gv = &one;
		n = 1;
	}
	for (size_t i = 0; code == 0 && i < n; i++)
		group_meta_put(s, gv[i]);
	if (c->kind == GROUP_FETCH)
		c->cb(c->arg, code, why);
	else
		group_reply(s, c->request_id, code, why, gv, n);
	for (size_t i = 0; i < n; i++)
		msg_group_info_free(gv[i]);
	if (gv != &one)
		free(gv);
	free(c);
}

/* Send iq for a command (iq is freed); the answer comes through group_iq_cb. 0, or the GroupResult code
 * when it could not be sent (no callback then): 503 not connected, 500 too many waiting. */
static int
group_send(struct session *s, enum group_kind kind, uint64_t request_id, struct wa_node *iq,
    void (*cb)(void *, int, const char *), void *arg)
{
	struct msg_group_state *st = group_state(s);
	struct group_cmd *c;
	int rc;

	if (!send_is_open(s) || st->ncmds >= GROUP_CMDS_MAX) {
		wa_node_free(iq);
		return send_is_open(s) ? 500 : 503;
	}
	c = xcalloc(1, sizeof(*c));
	c->s = s;
	c->kind = kind;
	c->request_id = request_id;
	c->cb = cb;
	c->arg = arg;
	TAILQ_INSERT_TAIL(&st->cmds, c, entry);
	st->ncmds++;
	/* a send's metadata query keeps inside the send's deadline, as its usync does */
	rc = iq_table_send(s->iq, s->conn, iq, (kind == GROUP_FETCH ? SEND_QUERY_TIMEOUT_S : GROUP_IQ_TIMEOUT_S) *
	    1000, group_iq_cb, c);
	wa_node_free(iq);
	if (rc == -1) {
		TAILQ_REMOVE(&st->cmds, c, entry);
		st->ncmds--;
		free(c);
		return 503;
	}
	return 0;
}

/* Answer a command group_send could not send. */
static void
group_refuse(struct session *s, uint64_t request_id, int code)
{
	group_reply(s, request_id, code, code == 503 ? "Connection Closed" : "too many group requests waiting", NULL,
	    0);
}

int
msg_group_fetch(struct session *s, const char *group, void (*cb)(void *arg, int code, const char *error), void *arg)
{
	return group_send(s, GROUP_FETCH, 0, msg_group_info_query(group), cb, arg) == 0 ? 0 : -1;
}

void
worker_session_group_create(struct session *s, uint64_t request_id, const char *subject, char **participants,
    size_t n)
{
	char key[MSG_WIRE_ID_LEN + 1];
	struct wa_jid j;
	int code;

	if (!send_is_open(s)) {
		group_refuse(s, request_id, 503);
		return;
	}
	/* the key lets WhatsApp tell a repeated create from a new one; a message id's form does */
	msg_stanza_make_id(wa_jid_parse(s->creds->jid, &j) == 0 ? j.user : NULL, (int64_t)time(NULL), key);
	if ((code = group_send(s, GROUP_CREATE, request_id, msg_group_create_query(subject, participants, n, key),
	    NULL, NULL)) != 0)
		group_refuse(s, request_id, code);
}

void
worker_session_group_query(struct session *s, uint64_t request_id, const char *jid)
{
	int code = group_send(s, GROUP_QUERY, request_id, msg_group_info_query(jid), NULL, NULL);

	if (code != 0)
		group_refuse(s, request_id, code);
}

void
worker_session_group_list(struct session *s, uint64_t request_id)
{
	int code = group_send(s, GROUP_LIST, request_id, msg_group_list_query(), NULL, NULL);

	if (code != 0)
		group_refuse(s, request_id, code);
}
