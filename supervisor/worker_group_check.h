/* The worker table's check of a GroupResult (proto/ipc.proto 60..63), the answer to GroupCreate, GroupQuery
 * and GroupList: validated against the caps of workers.h "Groups" (STYLE rule 14) and converted to the
 * struct workers_group the callbacks get. Pure (no loop, no table): worker_group.c calls it, and so does the
 * fuzzer (tests/fuzz/worker_group_fuzz.c). The converted strings point into the unpacked message, so the
 * groups live only as long as the envelope they came from. */
#ifndef WAGATE_WORKER_GROUP_CHECK_H
#define WAGATE_WORKER_GROUP_CHECK_H

#include "ipc.h"
#include "workers.h"

#include <stddef.h>

/* Longest group JID, participant JID or LID, subject owner, owner or description id. */
#define WORKER_GROUP_STR_MAX	256
/* Participants one GroupCreate may name (proto/ipc.proto GroupCreate: at most 256). */
#define WORKER_GROUP_CREATE_MAX	256

/* What the answer must be: one group (want_jid: that group, NULL = any, as for GroupCreate), or a list. */
struct worker_group_want {
	int one;
	const char *jid;
};

/* With ok: exactly one group (want->one) or at most WORKERS_GROUPS_MAX, every group a "...@g.us" JID with
 * bounded UTF-8 strings, times >= 0, at most WORKERS_GROUP_PARTICIPANTS_MAX participants each with a JID and
 * an admin of "", "admin" or "superadmin". *v (release with worker_group_free) then holds *n groups, NULL when
 * there are none. !ok: *v NULL, *code (100..599, else 500) and *error (never NULL). 0, or -1 (an invalid
 * answer: nothing allocated). */
int worker_group_check_result(const Wagate__Ipc__GroupResult *r, const struct worker_group_want *want,
    struct workers_group **v, size_t *n, int *code, const char **error);
void worker_group_free(struct workers_group *v, size_t n);	/* NULL is fine */

#endif
