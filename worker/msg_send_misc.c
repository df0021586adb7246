/* The session's two smaller messaging commands: CheckNumbers (a usync contact query, reference/wa-session.md
 * section 4.3; the LID mappings it teaches are stored through the executor) and MarkRead (read receipts per
 * chat, section 5.3, answered when the server acked each of them). */
#include "msg.h"
#include "msg_send_int.h"
#include "session.h"
#include "session_int.h"

#include "iq.h"
#include "log.h"
#include "wa_conn.h"
#include "wa_node.h"
#include "worker.h"
#include "xmalloc.h"

#include <event2/event.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* LID mappings learnt by a CheckNumbers, stored by an executor job of their own. */
struct send_lids {
	char **lid, **pn;
	size_t n;
};

static void
send_lids_free(struct send_lids *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->lid[i]);
		free(l->pn[i]);
	}
	free(l->lid);
	free(l->pn);
	free(l);
}

static int
send_lids_step(struct session *s, void *arg, struct wa_signal *sig, struct msg_batch *b)
{
	struct send_lids *l = arg;

	(void)s;
	(void)sig;
	for (size_t i = 0; i < l->n; i++)
		msg_batch_add_lid(b, l->lid[i], l->pn[i]);
	return WA_SIGNAL_DONE;
}

static void
send_lids_committed(struct session *s, void *arg, int ok, const char *error, int stopping)
{
	(void)s;
	(void)ok;
	(void)error;
	(void)stopping;
	/* a mapping not stored is learnt again from the next stanza or check */
	send_lids_free(arg);
}

static const struct msg_job_ops send_lids_ops = { send_lids_step, send_lids_committed, 0, 1 };

static void
send_check_free(struct send_check *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->numbers[i]);
	free(c->numbers);
	free(c);
}

void
send_check_free_all(struct msg_send_state *st)
{
	struct send_check *c;

	while ((c = TAILQ_FIRST(&st->checks)) != NULL) {
		TAILQ_REMOVE(&st->checks, c, entry);
		send_check_free(c);
	}
}

/* Answer a CheckNumbers that failed. */
static void
send_numbers_fail(struct session *s, uint64_t request_id, int code, const char *error)
{
	Wagate__Ipc__NumbersResult r = WAGATE__IPC__NUMBERS_RESULT__INIT;

	r.code = code;
	r.error = (char *)error;
	worker_reply_numbers(s->w, request_id, &r);
}

/* The usync answer: one NumberInfo per number, in order. */
static void
send_check_cb(void *arg, const struct wa_node *reply)
{
	struct send_check *c = arg;
	struct session *s = c->s;
	Wagate__Ipc__NumbersResult r = WAGATE__IPC__NUMBERS_RESULT__INIT;
	Wagate__Ipc__NumberInfo *info = NULL, **infop = NULL;
	struct send_lids *l = xcalloc(1, sizeof(*l));
	char (*jid)[MSG_WIRE_JID_MAX] = NULL, (*lid)[MSG_WIRE_JID_MAX] = NULL;
	size_t i;
	int exists;

	TAILQ_REMOVE(&send_state(s)->checks, c, entry);
	if (reply == NULL) {
		send_numbers_fail(s, c->request_id, send_is_open(s) ? 504 : 503, "no answer to the number query");
		goto out;
	}
	info = xreallocarray(NULL, c->n, sizeof(*info));
	infop = xreallocarray(NULL, c->n, sizeof(*infop));
	jid = xreallocarray(NULL, c->n, sizeof(*jid));
	lid = xreallocarray(NULL, c->n, sizeof(*lid));
	l->lid = xreallocarray(NULL, c->n, sizeof(*l->lid));
	l->pn = xreallocarray(NULL, c->n, sizeof(*l->pn));
	for (i = 0; i < c->n; i++) {
		if (msg_usync_contact(reply, c->numbers[i], &exists, jid[i], sizeof(jid[i]), lid[i],
		    sizeof(lid[i])) == -1) {
			send_numbers_fail(s, c->request_id, 500, "malformed answer from the server");
			goto out;
		}
		wagate__ipc__number_info__init(&info[i]);
		info[i].number = c->numbers[i];
		info[i].exists = exists;
		info[i].jid = jid[i];
		info[i].lid = lid[i];
		infop[i] = &info[i];
		if (exists && *lid[i] != '\0') {
			l->lid[l->n] = xstrdup(lid[i]);
			l->pn[l->n++] = xstrdup(jid[i]);
		}
	}
	r.ok = 1;
	r.n_numbers = c->n;
	r.numbers = infop;
	worker_reply_numbers(s->w, c->request_id, &r);
	if (l->n > 0 && msg_exec_submit(s, &send_lids_ops, l) == 0)
		l = NULL;
out:
	if (l != NULL)
		send_lids_free(l);
	free(info);
	free(infop);
	free(jid);
	free(lid);
	send_check_free(c);
}

void
worker_session_check_numbers(struct session *s, uint64_t request_id, char **numbers, size_t n)
{
	struct msg_send_state *st;
	struct send_check *c;
	struct wa_node *iq;
	char sid[32];

	if (!send_is_open(s)) {
		send_numbers_fail(s, request_id, 503, "Connection Closed");
		return;
	}
	if (n == 0) {
		Wagate__Ipc__NumbersResult r = WAGATE__IPC__NUMBERS_RESULT__INIT;
		r.ok = 1;
		worker_reply_numbers(s->w, request_id, &r);
		return;
	}
	st = send_state(s);
	c = xcalloc(1, sizeof(*c));
	c->s = s;
	c->request_id = request_id;
	c->numbers = xreallocarray(NULL, n, sizeof(*c->numbers));
	for (size_t i = 0; i < n; i++)
		c->numbers[i] = xstrdup(numbers[i]);
	c->n = n;
	TAILQ_INSERT_TAIL(&st->checks, c, entry);
	snprintf(sid, sizeof(sid), "wagate-%u", ++st->sid);
	iq = msg_usync_contacts_query(numbers, n, sid);
	if (iq_table_send(s->iq, s->conn, iq, SEND_CMD_TIMEOUT_S * 1000, send_check_cb, c) == -1) {
		TAILQ_REMOVE(&st->checks, c, entry);
		send_check_free(c);
		send_numbers_fail(s, request_id, 503, "Connection Closed");
	}
	wa_node_free(iq);
}

/* Answer a MarkRead (code 0 with ok; with no answer at all when the session stops) and free it. */
static void
send_read_finish(struct send_read *r, int ok, int code, const char *error)
{
	struct msg_send_state *st = send_state(r->s);

	TAILQ_REMOVE(&st->reads, r, entry);
	st->nreads--;
	if (ok || code != 0)
		worker_reply_result(r->s->w, r->request_id, ok, code, error);
	if (r->timer != NULL)
		event_free(r->timer);
	for (size_t i = 0; i < r->nids; i++)
		free(r->ids[i]);
	free(r->ids);
	free(r);
}

int
send_read_on_ack(struct session *s, const char *id)
{
	struct send_read *r;

	TAILQ_FOREACH(r, &s->send->reads, entry)
		for (size_t i = 0; i < r->nids; i++)
			if (r->ids[i] != NULL && strcmp(r->ids[i], id) == 0) {
				free(r->ids[i]);
				r->ids[i] = NULL;
				if (++r->nacked == r->nids)
					send_read_finish(r, 1, 0, NULL);
				return 1;
			}
	return 0;
}

void
send_read_fail_all(struct session *s, int code, const char *error)
{
	struct send_read *r;

	if (s->send == NULL)
		return;
	while ((r = TAILQ_FIRST(&s->send->reads)) != NULL)
		send_read_finish(r, 0, code, error);
}

static void
send_read_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	send_read_finish(arg, 0, 504, "no server ack for the read receipts");
}

/* Whether keys a and b are in the same chat (same receipt). */
static int
send_same_chat(const Wagate__Ipc__MessageKey *a, const Wagate__Ipc__MessageKey *b)
{
	return strcmp(a->remote_jid, b->remote_jid) == 0 && strcmp(a->participant, b->participant) == 0;
}

void
worker_session_mark_read(struct session *s, uint64_t request_id, Wagate__Ipc__MessageKey **keys, size_t n)
{
	struct msg_send_state *st;
	struct send_read *r;
	struct timeval tv = { SEND_CMD_TIMEOUT_S, 0 };
	const char **ids;
	char *done;
	struct wa_node *rc;
	size_t i, k, nids;
	int64_t now = (int64_t)time(NULL);

	if (!send_is_open(s)) {
		worker_reply_result(s->w, request_id, 0, 503, "Connection Closed");
		return;
	}
	st = send_state(s);
	if (st->nreads >= SEND_READS_MAX) {
		worker_reply_result(s->w, request_id, 0, 503, "too many read receipts waiting");
		return;
	}
	r = xcalloc(1, sizeof(*r));
	r->s = s;
	r->request_id = request_id;
	r->ids = xcalloc(n > 0 ? n : 1, sizeof(*r->ids));
	TAILQ_INSERT_TAIL(&st->reads, r, entry);
	st->nreads++;
	ids = xcalloc(n > 0 ? n : 1, sizeof(*ids));
	done = xcalloc(n > 0 ? n : 1, 1);
	/* one receipt per chat (and sender in groups), its first id in id and the others in <list> */
	for (i = 0; i < n; i++) {
		if (done[i] || keys[i]->from_me || *keys[i]->id == '\0' || *keys[i]->remote_jid == '\0')
			continue;
		nids = 0;
		for (k = i; k < n; k++)
			if (!done[k] && !keys[k]->from_me && *keys[k]->id != '\0' && send_same_chat(keys[i], keys[k])) {
				ids[nids++] = keys[k]->id;
				done[k] = 1;
			}
		rc = msg_stanza_read(keys[i]->remote_jid, keys[i]->participant, ids, nids, now);
		if (wa_conn_send_node(s->conn, rc) == -1) {
			wa_node_free(rc);
			free(ids);
			free(done);
			send_read_finish(r, 0, 503, "Connection Closed");
			return;
		}
		wa_node_free(rc);
		r->ids[r->nids++] = xstrdup(ids[0]);
	}
	free(ids);
	free(done);
	if (r->nids == 0) {
		send_read_finish(r, 1, 0, NULL);	/* nothing of anybody else's to mark */
		return;
	}
	if ((r->timer = evtimer_new(worker_base(s->w), send_read_timeout_cb, r)) == NULL) {
		send_read_finish(r, 0, 500, "out of timers");
		return;
	}
	evtimer_add(r->timer, &tv);
}
