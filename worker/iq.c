/* Pending iq requests with timeouts. See iq.h. A handful are pending at a time, so a list will do. */
#include "iq.h"
#include "wa_conn.h"
#include "wa_node.h"
#include "xmalloc.h"

#include <event2/event.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IQ_ID_MAX 64

struct iq_req {
	struct iq_req *next;
	struct iq_table *t;
	char id[IQ_ID_MAX];
	struct event *timer;
	iq_cb cb;
	void *arg;
};

struct iq_table {
	struct event_base *base;
	struct iq_req *head;
	unsigned n;
};

struct iq_table *
iq_table_new(struct event_base *base)
{
	struct iq_table *t = xcalloc(1, sizeof(*t));

	t->base = base;
	return t;
}

/* Unlink r from its table (it must be in it). */
static void
iq_unlink(struct iq_table *t, struct iq_req *r)
{
	struct iq_req **pp;

	for (pp = &t->head; *pp != NULL; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			t->n--;
			return;
		}
}

static void
iq_req_free(struct iq_req *r)
{
	if (r->timer != NULL)
		event_free(r->timer);
	free(r);
}

/* Unlink, free, then call back (the callback may add new requests). */
static void
iq_finish(struct iq_table *t, struct iq_req *r, const struct wa_node *reply)
{
	iq_cb cb = r->cb;
	void *arg = r->arg;

	iq_unlink(t, r);
	iq_req_free(r);
	if (cb != NULL)
		cb(arg, reply);
}

static void
iq_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct iq_req *r = arg;

	(void)fd;
	(void)what;
	iq_finish(r->t, r, NULL);
}

void
iq_table_free(struct iq_table *t)
{
	struct iq_req *r, *next;

	if (t == NULL)
		return;
	for (r = t->head; r != NULL; r = next) {
		next = r->next;
		iq_req_free(r);
	}
	free(t);
}

int
iq_table_send(struct iq_table *t, struct wa_conn *c, struct wa_node *n, unsigned timeout_ms, iq_cb cb, void *arg)
{
	struct iq_req *r;
	struct timeval tv;
	const char *id;

	if (timeout_ms == 0)
		timeout_ms = IQ_TIMEOUT_MS;
	id = wa_conn_next_id(c);
	if (strlen(id) >= IQ_ID_MAX)
		return -1;
	wa_node_set_attr(n, "id", id);
	/* most iqs go to the server; group iqs (w:g2) name their group or "@g.us" themselves */
	if (wa_node_attr(n, "to") == NULL)
		wa_node_set_attr(n, "to", "s.whatsapp.net");
	r = xcalloc(1, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", id);
	if (wa_conn_send_node(c, n) == -1 || (r->timer = evtimer_new(t->base, iq_timeout_cb, r)) == NULL) {
		iq_req_free(r);
		return -1;
	}
	r->t = t;
	r->cb = cb;
	r->arg = arg;
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(r->timer, &tv);
	r->next = t->head;
	t->head = r;
	t->n++;
	return 0;
}

int
iq_table_dispatch(struct iq_table *t, const struct wa_node *n)
{
	const char *id = wa_node_attr(n, "id"), *type = wa_node_attr(n, "type");
	struct iq_req *r;

	if (strcmp(n->tag, "iq") != 0 || id == NULL || type == NULL ||
	    (strcmp(type, "result") != 0 && strcmp(type, "error") != 0))
		return 0;
	for (r = t->head; r != NULL; r = r->next)
		if (strcmp(r->id, id) == 0) {
			iq_finish(t, r, n);
			return 1;
		}
	return 0;
}

void
iq_table_fail_all(struct iq_table *t)
{
	/* Callbacks may add requests (they would fail to send while closed); take the list first. */
	while (t->head != NULL)
		iq_finish(t, t->head, NULL);
}

unsigned
iq_table_pending(const struct iq_table *t)
{
	return t->n;
}
