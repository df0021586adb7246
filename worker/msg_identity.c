/* Identity changes (msg_identity.h): the notification's job forgets the user's Signal records in the cache
 * and in the database (forget_users), drops the user's cached device list (the reinstall may list other
 * devices), and acks the notification only after the COMMIT: if the worker dies before it, WhatsApp sends
 * the notification again and the forgetting happens then. */
#include "msg.h"
#include "msg_identity.h"
#include "msg_recv_int.h"
#include "session_int.h"
#include "log.h"
#include "wa_conn.h"
#include "wa_jid.h"
#include "wa_node.h"
#include "worker.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ident_job {
	uint64_t gen;
	struct wa_node *node;
	char user[WA_JID_USER_MAX + 32];	/* "digits@s.whatsapp.net" or "digits@lid" */
	char name[WA_SIGNAL_ADDRESS_MAX];	/* its Signal name: "digits" or "digits_1" */
};

/* The job and its copy of the notification. */
static void
ident_job_free(struct ident_job *j)
{
	wa_node_free(j->node);
	free(j);
}

/* The user a notification's from names, in the forms forget_users accepts. 0, or -1 for anything else (a
 * device JID is taken as its user; hosted and other servers are not ours to forget). */
static int
ident_user(const char *from, struct ident_job *j)
{
	struct wa_jid jid;
	size_t n;
	int lid;

	if (from == NULL || wa_jid_parse(from, &jid) == -1 || jid.agent != 0)
		return -1;
	n = strlen(jid.user);
	if (n == 0 || n > MSG_FORGET_DIGITS_MAX || strspn(jid.user, "0123456789") != n)
		return -1;
	if (strcmp(jid.server, WA_SERVER_USER) == 0)
		lid = 0;
	else if (strcmp(jid.server, WA_SERVER_LID) == 0)
		lid = 1;
	else
		return -1;
	snprintf(j->user, sizeof(j->user), "%s@%s", jid.user, jid.server);
	snprintf(j->name, sizeof(j->name), "%s%s", jid.user, lid ? "_1" : "");
	return 0;
}

/* Forget in the cache, and in the batch's transaction. Restartable: both are idempotent. */
static int
ident_step(struct session *s, void *arg, struct wa_signal *sig, struct msg_batch *b)
{
	struct ident_job *j = arg;

	(void)s;
	if (wa_signal_forget_user(sig, j->name) == -1 || msg_batch_add_forget(b, j->user, j->name) == -1)
		return WA_SIGNAL_FAILED;
	return WA_SIGNAL_DONE;
}

/* After the COMMIT: the device list goes and the notification is acked; on a failed store nothing is acked,
 * so WhatsApp sends it again. */
static void
ident_committed(struct session *s, void *arg, int ok, const char *error, int stopping)
{
	struct ident_job *j = arg;

	if (!stopping) {
		if (!ok)
			log_warnx("%s: identity change of %s not stored: %s", worker_instance_name(s->w), j->user,
			    error);
		else {
			log_info("%s: identity of %s changed: its sessions are dropped", worker_instance_name(s->w),
			    j->user);
			/* the cached device list may be the old install's */
			msg_send_on_devices_notification(s, j->node);
			if (msg_recv_can_send(s, j->gen))
				session_send_ack(s, j->node);
		}
	}
	ident_job_free(j);
}

static const struct msg_job_ops ident_ops = { ident_step, ident_committed, 0, 1 };

void
msg_identity_notification(struct session *s, const struct wa_node *n)
{
	struct ident_job *j;

	if (s->exec == NULL) {
		/* no Signal layer yet: not acked, WhatsApp sends it again */
		log_warnx("%s: identity notification before the Signal layer is up, ignored",
		    worker_instance_name(s->w));
		return;
	}
	j = xcalloc(1, sizeof(*j));
	if (ident_user(wa_node_attr(n, "from"), j) == -1) {
		log_info("%s: identity notification from an unusable JID, acked", worker_instance_name(s->w));
		free(j);
		session_send_ack(s, n);
		return;
	}
	j->gen = msg_recv_gen(s);
	j->node = wa_node_clone(n);
	if (msg_exec_submit(s, &ident_ops, j) == -1) {
		log_warnx("%s: identity notification of %s dropped: no executor", worker_instance_name(s->w), j->user);
		ident_job_free(j);
	}
}
