/* Group commands between the table and a worker (proto/ipc.proto 60..63, workers.h "Groups"): GroupCreate,
 * GroupQuery and GroupList, each answered by GroupResult. They ride on ipc_peer's tracked requests as the
 * messaging commands do (worker_msg.c), so each callback runs exactly once: the worker's validated answer;
 * 504 after WORKERS_QUERY_TIMEOUT_MS; 503 when the channel ends first (exit, remove, restart, or workers_free:
 * then during it); or 500 when the answer is invalid (worker_group_check.c says what valid is), and the worker
 * is killed for it, as a worker that breaks the protocol cannot be trusted with anything else. */
#include "workers_int.h"
#include "worker_group_check.h"
#include "ipc_peer.h"
#include "log.h"
#include "xmalloc.h"

#include <stdlib.h>
#include <string.h>

#define WORKER_GROUP_GONE	503
#define WORKER_GROUP_TIMEOUT	504
#define WORKER_GROUP_INVALID	500

/* A group command waiting for its GroupResult: whom to tell, and what the answer must be. */
struct worker_group_call {
	workers_groups_cb cb;
	void *arg;
	int one;			/* GroupCreate / GroupQuery: exactly one group */
	char *jid;			/* GroupQuery: the group asked (NULL otherwise) */
};

/* The GroupResult arrived (or will not). */
static int
worker_group_done_cb(void *arg, enum ipc_peer_outcome how, const IpcEnvelope *reply)
{
	struct worker_group_call *call = arg;
	struct worker_group_want want = { call->one, call->jid };
	workers_groups_cb cb = call->cb;
	void *cbarg = call->arg;
	struct workers_group *v;
	const char *error;
	size_t n;
	int code, rc = 0;

	switch (how) {
	case IPC_PEER_REPLIED:
		if (worker_group_check_result(reply->group_result, &want, &v, &n, &code, &error) == -1) {
			cb(cbarg, 0, WORKER_GROUP_INVALID, "the worker sent an invalid answer", NULL, 0);
			rc = -1;
		} else if (reply->group_result->ok)
			cb(cbarg, 1, 0, NULL, v, n);
		else
			cb(cbarg, 0, code, error, NULL, 0);
		worker_group_free(v, n);
		break;
	case IPC_PEER_TIMED_OUT:
		cb(cbarg, 0, WORKER_GROUP_TIMEOUT, "timeout", NULL, 0);
		break;
	default:
		/* Cancelled: possibly inside ipc_peer_free, so nothing here touches the peer. */
		cb(cbarg, 0, WORKER_GROUP_GONE, "the worker went away", NULL, 0);
		break;
	}
	free(call->jid);
	free(call);
	return rc;
}

/* Queue env for the ready worker of instance_id, its GroupResult to cb. 0, or -1 (cb never called). */
static int
worker_group_request(struct workers *w, const char *instance_id, IpcEnvelope *env, const char *jid,
    workers_groups_cb cb, void *arg)
{
	struct worker_rec *wk = workers_find(w, instance_id);
	struct worker_group_call *call;

	if (wk == NULL || wk->phase != WK_READY || wk->peer == NULL || cb == NULL)
		return -1;
	call = xcalloc(1, sizeof(*call));
	call->cb = cb;
	call->arg = arg;
	call->one = env->msg_case != WAGATE__IPC__ENVELOPE__MSG_GROUP_LIST;
	call->jid = jid != NULL ? xstrdup(jid) : NULL;
	if (ipc_peer_request(wk->peer, env, WAGATE__IPC__ENVELOPE__MSG_GROUP_RESULT, w->query_timeout_ms,
	    worker_group_done_cb, call) == -1) {
		log_warnx("%s: could not queue %s", wk->name, ipc_msg_name((int)env->msg_case));
		free(call->jid);
		free(call);
		return -1;
	}
	return 0;
}

/* A string the caller hands us for the worker: present, non-empty, at most max bytes. */
static int
worker_group_arg_ok(const char *s, size_t max)
{
	return s != NULL && *s != '\0' && ipc_str_ok(s, max);
}

int
workers_group_create(struct workers *w, const char *instance_id, const char *subject,
    const char *const *participants, size_t n, workers_groups_cb cb, void *arg)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__GroupCreate gc = WAGATE__IPC__GROUP_CREATE__INIT;
	size_t i;

	if (!worker_group_arg_ok(subject, WORKERS_SUBJECT_MAX) || participants == NULL || n == 0 ||
	    n > WORKER_GROUP_CREATE_MAX)
		return -1;
	for (i = 0; i < n; i++)
		if (!worker_group_arg_ok(participants[i], WORKER_GROUP_STR_MAX))
			return -1;
	gc.subject = (char *)subject;
	gc.n_participants = n;
	gc.participants = (char **)participants;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_GROUP_CREATE;
	env.group_create = &gc;
	/* The frame is packed while queued, so the caller's strings need not outlive this call. */
	return worker_group_request(w, instance_id, &env, NULL, cb, arg);
}

int
workers_group_query(struct workers *w, const char *instance_id, const char *group_jid, workers_groups_cb cb,
    void *arg)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__GroupQuery gq = WAGATE__IPC__GROUP_QUERY__INIT;

	if (!worker_group_arg_ok(group_jid, WORKER_GROUP_STR_MAX))
		return -1;
	gq.jid = (char *)group_jid;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_GROUP_QUERY;
	env.group_query = &gq;
	return worker_group_request(w, instance_id, &env, group_jid, cb, arg);
}

int
workers_group_list(struct workers *w, const char *instance_id, workers_groups_cb cb, void *arg)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__GroupList gl = WAGATE__IPC__GROUP_LIST__INIT;

	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_GROUP_LIST;
	env.group_list = &gl;
	return worker_group_request(w, instance_id, &env, NULL, cb, arg);
}
