/* The worker's table of iq requests sent to WhatsApp and waiting for their answer (wa-session.md section 0
 * "IQ"): each has a callback and a timeout. A reply is matched by id; the callback then gets the reply node,
 * or NULL on timeout or when the connection dropped (iq_table_fail_all). Callbacks may send new iqs. */
#ifndef WAGATE_WORKER_IQ_H
#define WAGATE_WORKER_IQ_H

struct event_base;
struct wa_conn;
struct wa_node;
struct iq_table;

#define IQ_TIMEOUT_MS	60000	/* default answer deadline (Baileys' 60 s) */

/* reply: the <iq type="result|error"> answer, or NULL when none came. */
typedef void (*iq_cb)(void *arg, const struct wa_node *reply);

struct iq_table *iq_table_new(struct event_base *base);
/* Drop every pending request without calling back (NULL is fine). */
void iq_table_free(struct iq_table *t);
/* Give n (an <iq>) an id and to="s.whatsapp.net" (unless it has a to), send it on c, and wait for the answer up to timeout_ms
 * (0 = IQ_TIMEOUT_MS). cb may be NULL (fire and forget, the answer is swallowed). 0, or -1 if it could not
 * be sent (no callback then). n stays the caller's. */
int iq_table_send(struct iq_table *t, struct wa_conn *c, struct wa_node *n, unsigned timeout_ms, iq_cb cb,
    void *arg);
/* A node from the server: an iq result/error for a pending id is handed to its callback; returns 1 then,
 * else 0. */
int iq_table_dispatch(struct iq_table *t, const struct wa_node *n);
/* The connection is gone: call every pending callback with NULL. */
void iq_table_fail_all(struct iq_table *t);
/* Pending requests. */
unsigned iq_table_pending(const struct iq_table *t);

#endif
