/* Identity changes (issue 9; reference/wa-session.md 6.5): a <notification type="encrypt"><identity/> from a
 * user says that user reinstalled, so every Signal session and identity of it (all devices) is void. The
 * notification becomes an executor job (msg_identity.c) that drops them from the wa_signal cache and names the
 * user in its batch's MessageStore.forget_users, which deletes the rows in the batch's transaction; the
 * <ack> goes after that COMMIT. Internal to worker/ (msg_exec.c, msg_identity.c, msg_recv.c, session.c). */
#ifndef WAGATE_WORKER_MSG_IDENTITY_H
#define WAGATE_WORKER_MSG_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

struct msg_batch;
struct session;
struct wa_node;

/* forget_users of one MessageStore: the supervisor's WORKERS_FORGET_USERS_MAX (workers.h), which this side
 * cannot include. */
#define MSG_FORGET_USERS_MAX		256
/* Most digits of a forgotten user: the supervisor's WORKER_MSG_FORGET_DIGITS_MAX. */
#define MSG_FORGET_DIGITS_MAX		64

/* msg_exec.c: the batch deletes every session and identity row of user (a JID the supervisor accepts:
 * digits@s.whatsapp.net or digits@lid) whose Signal name is name ("digits" or "digits_1"); until the batch
 * committed, a NEED for those records is answered as absent. Once per user; 0, or -1 when the batch holds
 * MSG_FORGET_USERS_MAX users already. */
int msg_batch_add_forget(struct msg_batch *b, const char *user, const char *name);

/* msg_identity.c: the notification (session.c routes it here instead of acking it at once). */
void msg_identity_notification(struct session *s, const struct wa_node *n);

#endif
