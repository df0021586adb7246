/* Receipts for our own messages (reference/wa-session.md section 5): each becomes a status row through the
 * executor, acked after its COMMIT; a retry receipt goes to msg_send_retry.c. Every device of a recipient (and
 * every member of a group) sends its own receipt while a message's row keeps only the highest status, so a
 * ring of recent statuses lets the receipts that say nothing new be acked without a store. */
#include "msg.h"
#include "msg_recv_int.h"
#include "random.h"
#include "session_int.h"
#include "log.h"
#include "wa_jid.h"
#include "wa_node.h"
#include "worker.h"
#include "xmalloc.h"

#include <mbedtls/sha256.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RECEIPT_STATUS_IDS	128	/* messages whose last receipt status we remember */

/* A receipt status stored (or being stored) for a message: key hashes (from_me, chat, id). */
struct recv_status {
	uint64_t key;
	Wagate__Ipc__MsgStatus status;
};

/* Allocated at the first receipt for one of our messages (~2 KB): most idle workers never hold it. */
struct msg_receipt_state {
	struct recv_status ring[RECEIPT_STATUS_IDS];
	size_t next;
	uint8_t secret[16];			/* recv_status_key's */
};

/* The key of a message in the status ring: SHA-256 over a secret drawn with the ring, from_me, chat and id,
 * cut to 64 bits. Receipt ids are the peer's bytes: with a public hash a member of a group could craft an id
 * whose key equals one of our messages' and have that message's next status skipped; with the secret a
 * collision is a 2^-64 accident, and it would cost one receipt status, nothing else. */
static uint64_t
recv_status_key(const struct msg_receipt_state *st, int from_me, const char *chat, const char *id)
{
	mbedtls_sha256_context sha;
	uint8_t h[32], flag = from_me ? 1 : 0;
	uint64_t k = 0;
	size_t i;

	mbedtls_sha256_init(&sha);
	(void)mbedtls_sha256_starts_ret(&sha, 0);
	(void)mbedtls_sha256_update_ret(&sha, st->secret, sizeof(st->secret));
	(void)mbedtls_sha256_update_ret(&sha, &flag, 1);
	(void)mbedtls_sha256_update_ret(&sha, (const uint8_t *)chat, strlen(chat) + 1);	/* with its NUL */
	(void)mbedtls_sha256_update_ret(&sha, (const uint8_t *)id, strlen(id));
	(void)mbedtls_sha256_finish_ret(&sha, h);
	mbedtls_sha256_free(&sha);
	for (i = 0; i < 8; i++)
		k = k << 8 | h[i];
	return k != 0 ? k : 1;	/* 0 means "not in the ring" in a receipt job */
}

/* The slot remembering key, or NULL (st NULL: no receipt yet). */
static struct recv_status *
recv_status_find(struct msg_receipt_state *st, uint64_t key)
{
	size_t i;

	for (i = 0; st != NULL && i < RECEIPT_STATUS_IDS; i++)
		if (st->ring[i].status != WAGATE__IPC__MSG_STATUS__MSG_STATUS_NONE && st->ring[i].key == key)
			return &st->ring[i];
	return NULL;
}

/* A slot for key, which the ring does not hold: the oldest one goes. */
static struct recv_status *
recv_status_add(struct msg_receipt_state *st, uint64_t key)
{
	struct recv_status *r = &st->ring[st->next];

	st->next = (st->next + 1) % RECEIPT_STATUS_IDS;
	r->key = key;
	return r;
}

struct receipt_job {
	uint64_t gen;
	struct wa_node *node;
	Wagate__Ipc__MsgStatus status;
	uint64_t key;				/* in the status ring; 0: not there (a receipt with a <list>) */
	int from_me;
	char chat[MSG_RECV_JID_MAX], participant[MSG_RECV_JID_MAX];
};

/* j's status will not be stored: a later receipt of the same status must be stored, not skipped. */
static void
recv_status_forget(struct session *s, const struct receipt_job *j)
{
	struct recv_status *r = j->key != 0 ? recv_status_find(s->receipt, j->key) : NULL;

	if (r != NULL && r->status == j->status)
		r->status = WAGATE__IPC__MSG_STATUS__MSG_STATUS_NONE;
}

static int
receipt_step(struct session *s, void *arg, struct wa_signal *sig, struct msg_batch *b)
{
	struct receipt_job *j = arg;
	Wagate__Ipc__StatusChange st = WAGATE__IPC__STATUS_CHANGE__INIT;
	const struct wa_node *list = wa_node_child(j->node, "list");
	size_t i, n = 0;

	(void)s;
	(void)sig;
	st.remote_jid = j->chat;
	st.participant = j->participant;
	st.from_me = j->from_me;
	st.status = j->status;
	st.timestamp = msg_recv_num(wa_node_attr(j->node, "t"), (int64_t)time(NULL));
	st.id = (char *)wa_node_attr(j->node, "id");
	msg_batch_add_status(b, &st);
	for (i = 0; list != NULL && list->ctype == WA_CONTENT_NODES && i < list->nchildren &&
	    n < MSG_RECV_RECEIPT_IDS_MAX; i++) {
		const char *id = wa_node_attr(list->children[i], "id");

		if (strcmp(list->children[i]->tag, "item") != 0 || id == NULL || *id == '\0' ||
		    strlen(id) > MSG_RECV_ID_MAX)
			continue;
		st.id = (char *)id;
		msg_batch_add_status(b, &st);
		n++;
	}
	return WA_SIGNAL_DONE;
}

static void
receipt_committed(struct session *s, void *arg, int ok, const char *error, int stopping)
{
	struct receipt_job *j = arg;

	if (!stopping) {
		if (!ok) {
			recv_status_forget(s, j);
			log_warnx("%s: receipt %s not stored: %s", worker_instance_name(s->w),
			    wa_node_attr(j->node, "id"), error);
		} else if (msg_recv_can_send(s, j->gen))
			session_send_ack(s, j->node);
	}
	wa_node_free(j->node);
	free(j);
}

static const struct msg_job_ops receipt_ops = { receipt_step, receipt_committed, 0, 1 };

void
msg_recv_receipt(struct session *s, const struct wa_node *n)
{
	const char *id = wa_node_attr(n, "id"), *from = wa_node_attr(n, "from"), *type = wa_node_attr(n, "type");
	const char *part = wa_node_attr(n, "participant"), *rcpt = wa_node_attr(n, "recipient");
	Wagate__Ipc__MsgStatus status;
	struct receipt_job *j;
	struct wa_jid jf;
	int from_me = 1;

	if (type != NULL && strcmp(type, "retry") == 0) {
		msg_send_on_retry_receipt(s, n);
		return;
	}
	if (type == NULL || strcmp(type, "inactive") == 0)
		status = WAGATE__IPC__MSG_STATUS__MSG_STATUS_DELIVERY_ACK;
	else if (strcmp(type, "read") == 0 || strcmp(type, "read-self") == 0)
		status = WAGATE__IPC__MSG_STATUS__MSG_STATUS_READ;
	else if (strcmp(type, "played") == 0 || strcmp(type, "played-self") == 0)
		status = WAGATE__IPC__MSG_STATUS__MSG_STATUS_PLAYED;
	else
		status = WAGATE__IPC__MSG_STATUS__MSG_STATUS_NONE;	/* sender, hist_sync, server-error, ... */
	if (id == NULL || *id == '\0' || strlen(id) > MSG_RECV_ID_MAX || from == NULL || wa_jid_parse(from, &jf) == -1) {
		log_info("%s: unusable receipt ignored", worker_instance_name(s->w));
		return;
	}
	/* A "-self" receipt comes from our other device: it read a message someone sent us, in recipient. */
	if (type != NULL && strstr(type, "-self") != NULL)
		from_me = 0;
	else if (msg_recv_is_own(s, from))
		status = WAGATE__IPC__MSG_STATUS__MSG_STATUS_NONE;	/* our device got our own message */
	if (status == WAGATE__IPC__MSG_STATUS__MSG_STATUS_NONE || s->exec == NULL) {
		session_send_ack(s, n);
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->gen = msg_recv_gen(s);
	j->status = status;
	j->from_me = from_me;
	if (msg_recv_user_jid(!from_me && rcpt != NULL ? rcpt : from, j->chat, sizeof(j->chat), NULL) == -1 ||
	    (wa_jid_is_group(&jf) && (part == NULL || msg_recv_user_jid(part, j->participant, sizeof(j->participant),
	    NULL) == -1))) {
		log_info("%s: receipt %s with unusable addresses ignored", worker_instance_name(s->w), id);
		free(j);
		session_send_ack(s, n);
		return;
	}
	if (wa_jid_is_group(&jf) && wa_jid_format(&jf, j->chat, sizeof(j->chat)) < 0)
		j->chat[0] = '\0';
	/* Every device of a recipient (and every member of a group) sends its own receipt, and a message's row
	 * keeps only the highest status: a receipt that says no more than one already stored, or on its way, is
	 * acked at once instead of costing a statement that changes nothing. Acking it early loses nothing: the
	 * earlier receipt is acked only after its COMMIT, so WhatsApp sends that one again if the store fails. */
	if (wa_node_child(n, "list") == NULL) {
		struct msg_receipt_state *st;
		struct recv_status *r;

		if ((st = s->receipt) == NULL) {
			st = s->receipt = xcalloc(1, sizeof(*st));
			random_bytes(st->secret, sizeof(st->secret));
		}
		j->key = recv_status_key(st, from_me, j->chat, id);
		if ((r = recv_status_find(st, j->key)) != NULL && r->status >= status) {
			free(j);
			session_send_ack(s, n);
			return;
		}
		if (r == NULL)
			r = recv_status_add(st, j->key);
		r->status = status;	/* stored, or on its way to be */
	}
	j->node = wa_node_clone(n);
	if (msg_exec_submit(s, &receipt_ops, j) == -1) {
		recv_status_forget(s, j);
		wa_node_free(j->node);
		free(j);
		session_send_ack(s, n);
	}
}

void
msg_receipt_free(struct session *s)
{
	free(s->receipt);
	s->receipt = NULL;
}
