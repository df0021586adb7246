/* libFuzzer target: the worker table's check of a GroupResult (supervisor/worker_group_check.c). The input is
 * one Envelope payload; its request id picks what the answer must be (one group, one named group, or a list).
 * Whatever the check accepts must keep the promises the callbacks rely on (counts within the WORKERS_* caps,
 * "...@g.us" JIDs, bounded well-formed UTF-8, known admin roles, times >= 0, a code in 100..599 with an error
 * on failure), and nothing may crash or leak either way. */
#include "worker_group_check.h"
#include "utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A string the check lets through: never NULL, bounded, UTF-8, and non-empty when need is set. */
static void
fuzz_str(const char *s, size_t max, int need)
{
	if (s == NULL || strlen(s) > max || !utf8_valid(s, strlen(s), NULL) || (need && *s == '\0'))
		abort();
}

static void
fuzz_group(const struct workers_group *g)
{
	size_t i, len;

	fuzz_str(g->jid, WORKER_GROUP_STR_MAX, 1);
	len = strlen(g->jid);
	if (len <= 5 || strcmp(g->jid + len - 5, "@g.us") != 0)
		abort();
	fuzz_str(g->subject, WORKERS_SUBJECT_MAX, 0);
	fuzz_str(g->subject_owner, WORKER_GROUP_STR_MAX, 0);
	fuzz_str(g->owner, WORKER_GROUP_STR_MAX, 0);
	fuzz_str(g->desc, WORKERS_DESC_MAX, 0);
	fuzz_str(g->desc_id, WORKER_GROUP_STR_MAX, 0);
	if (g->subject_time < 0 || g->creation < 0 || g->nparticipants > WORKERS_GROUP_PARTICIPANTS_MAX ||
	    (g->nparticipants > 0) != (g->participants != NULL))
		abort();
	for (i = 0; i < g->nparticipants; i++) {
		const struct workers_group_participant *p = &g->participants[i];

		fuzz_str(p->jid, WORKER_GROUP_STR_MAX, 1);
		fuzz_str(p->lid, WORKER_GROUP_STR_MAX, 0);
		if (*p->admin != '\0' && strcmp(p->admin, "admin") != 0 && strcmp(p->admin, "superadmin") != 0)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	IpcEnvelope *env = ipc_envelope_unpack(data, size);
	struct worker_group_want want;
	struct workers_group *v;
	const char *error;
	size_t n, i;
	int code;

	if (env == NULL)
		return 0;
	if (env->msg_case != WAGATE__IPC__ENVELOPE__MSG_GROUP_RESULT) {
		ipc_envelope_free(env);
		return 0;
	}
	want.one = env->request_id % 3 != 0;
	want.jid = env->request_id % 3 == 2 ? "120363000000000001@g.us" : NULL;
	if (worker_group_check_result(env->group_result, &want, &v, &n, &code, &error) == 0) {
		if (env->group_result->ok) {
			if ((want.one && n != 1) || n > WORKERS_GROUPS_MAX || (n > 0) != (v != NULL) || error != NULL)
				abort();
			if (want.jid != NULL && strcmp(v[0].jid, want.jid) != 0)
				abort();
			for (i = 0; i < n; i++)
				fuzz_group(&v[i]);
		} else if (v != NULL || n != 0 || error == NULL || *error == '\0' || code < 100 || code > 599)
			abort();
		worker_group_free(v, n);
	} else if (v != NULL || n != 0)
		abort();
	ipc_envelope_free(env);
	return 0;
}
