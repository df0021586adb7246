/* The check of a GroupResult (see worker_group_check.h). Every string becomes JSON in an API answer, so each
 * is bounded, well-formed UTF-8; counts are capped before anything is allocated for them. */
#include "worker_group_check.h"
#include "utf8.h"
#include "xmalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define WORKER_GROUP_ERROR_MAX	1024	/* longest error text (as WORKER_MSG_ERROR_MAX) */

_Static_assert(sizeof(struct workers_group) % _Alignof(struct workers_group_participant) == 0,
    "participants placed after the groups must be aligned");

/* A received string: present, at most max bytes, well-formed UTF-8, and non-empty when need is set. */
static int
worker_group_str(const char *s, size_t max, int need)
{
	return ipc_str_ok(s, max) && utf8_valid(s, strlen(s), NULL) && (!need || *s != '\0');
}

/* A group JID: "<something>@g.us". */
static int
worker_group_jid_ok(const char *s)
{
	size_t len;

	if (!worker_group_str(s, WORKER_GROUP_STR_MAX, 1))
		return 0;
	len = strlen(s);
	return len > 5 && strcmp(s + len - 5, "@g.us") == 0;
}

static int
worker_group_admin_ok(const char *s)
{
	return s != NULL && (*s == '\0' || strcmp(s, "admin") == 0 || strcmp(s, "superadmin") == 0);
}

/* One GroupInfo into out, its participants into the slots at p (gi->n_participants of them, already capped). */
static int
worker_group_one(const Wagate__Ipc__GroupInfo *gi, struct workers_group *out, struct workers_group_participant *p)
{
	size_t i;

	if (!worker_group_jid_ok(gi->jid) || !worker_group_str(gi->subject, WORKERS_SUBJECT_MAX, 0) ||
	    !worker_group_str(gi->subject_owner, WORKER_GROUP_STR_MAX, 0) ||
	    !worker_group_str(gi->owner, WORKER_GROUP_STR_MAX, 0) || !worker_group_str(gi->desc, WORKERS_DESC_MAX, 0) ||
	    !worker_group_str(gi->desc_id, WORKER_GROUP_STR_MAX, 0) || gi->subject_time < 0 || gi->creation < 0)
		return -1;
	for (i = 0; i < gi->n_participants; i++) {
		const Wagate__Ipc__GroupParticipant *gp = gi->participants[i];

		if (gp == NULL || !worker_group_str(gp->jid, WORKER_GROUP_STR_MAX, 1) ||
		    !worker_group_str(gp->lid, WORKER_GROUP_STR_MAX, 0) || !worker_group_admin_ok(gp->admin))
			return -1;
		p[i].jid = gp->jid;
		p[i].lid = gp->lid;
		p[i].admin = gp->admin;
	}
	out->jid = gi->jid;
	out->subject = gi->subject;
	out->subject_owner = gi->subject_owner;
	out->owner = gi->owner;
	out->desc = gi->desc;
	out->desc_id = gi->desc_id;
	out->subject_time = gi->subject_time;
	out->creation = gi->creation;
	out->locked = gi->locked;
	out->announce = gi->announce;
	out->participants = gi->n_participants > 0 ? p : NULL;
	out->nparticipants = gi->n_participants;
	return 0;
}

int
worker_group_check_result(const Wagate__Ipc__GroupResult *r, const struct worker_group_want *want,
    struct workers_group **v, size_t *n, int *code, const char **error)
{
	struct workers_group *out;
	struct workers_group_participant *p;
	size_t i, total = 0, at = 0;

	*v = NULL;
	*n = 0;
	*code = 0;
	*error = NULL;
	if (!r->ok) {
		/* groups, if any, mean nothing */
		if (!worker_group_str(r->error, WORKER_GROUP_ERROR_MAX, 0))
			return -1;
		*code = r->code >= 100 && r->code <= 599 ? r->code : 500;
		*error = *r->error != '\0' ? r->error : "the worker refused";
		return 0;
	}
	if (want->one ? r->n_groups != 1 : r->n_groups > WORKERS_GROUPS_MAX)
		return -1;
	for (i = 0; i < r->n_groups; i++) {
		if (r->groups[i] == NULL || r->groups[i]->n_participants > WORKERS_GROUP_PARTICIPANTS_MAX)
			return -1;
		total += r->groups[i]->n_participants;
	}
	if (want->one && want->jid != NULL && (r->groups[0]->jid == NULL || strcmp(r->groups[0]->jid, want->jid) != 0))
		return -1;	/* GroupQuery answered with another group */
	if (r->n_groups == 0)
		return 0;
	/* One block: the groups, then every participant (both counts are capped above, and the frame was
	 * bounded before that), so worker_group_free is one free. Both structs are arrays of pointers and
	 * 64-bit fields: the participants after the groups stay aligned. */
	out = xcalloc(1, r->n_groups * sizeof(*out) + total * sizeof(*p));
	p = (struct workers_group_participant *)(void *)(out + r->n_groups);
	for (i = 0; i < r->n_groups; i++) {
		if (worker_group_one(r->groups[i], &out[i], p + at) == -1) {
			free(out);
			return -1;
		}
		at += r->groups[i]->n_participants;
	}
	*v = out;
	*n = r->n_groups;
	return 0;
}

void
worker_group_free(struct workers_group *v, size_t n)
{
	(void)n;	/* one block (see worker_group_check_result) */
	free(v);
}
