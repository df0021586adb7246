/* The hook between the worker process and the WhatsApp session (worker/wa): session.c (credentials,
 * connection, node routing, logout), pair.c (QR and code pairing), login.c (after <success>), iq.c.
 *
 * Contract (all calls come from the worker's one event loop, never re-entrantly):
 *  - worker_session_start() is called once, right after Ready was sent for Start. It reads what Start
 *    carried through the worker_* accessors of worker.h, creates its state on worker_base(w) and returns
 *    it (NULL only on an internal failure: the worker then reports close and carries on without one).
 *    It must not connect unless worker_session_connect() is called.
 *  - worker_session_connect() is called for Start.connect_now and for every Connect. number is NULL for a
 *    QR login, or the phone number for a pairing code. It reports progress with worker_report_state /
 *    worker_report_qr / worker_report_open, and stores credentials and prekeys with worker_request_store /
 *    worker_request_paired (nothing is used before the supervisor's ack). If it cannot connect at all it
 *    reports CLOSE with a reason (601 when there is no usable WhatsApp URL or transport, 500 when the stored
 *    credentials are unreadable). It never reports a state it has not reached.
 *  - worker_session_logout() is called for Logout. It unlinks the device (if connected), reports
 *    CLOSE/401, and calls worker_exit(w, IPC_EXIT_NO_RESTART) when done (possibly later, from the loop).
 *  - worker_session_update() is called after UpdateSettings/UpdateProxy changed worker_settings() or
 *    worker_proxy(); a proxy change takes effect on the next connection.
 *  - worker_session_presence() is called for SetPresence ("available" or "unavailable"): it sends our
 *    global presence and returns 0, or -1 when the session is not open (nothing sent).
 *  - worker_session_chatstate() is called for SetPresence with a chat: it sends our typing state there
 *    ("composing", "recording" or "paused") and returns 0, -1 when the session is not open, -2 for a to that
 *    is no user or group JID without device, or another state (nothing sent either way).
 *  - worker_session_stop() is called for Shutdown, on IPC EOF and before the process exits: close the
 *    connection and free everything (NULL is fine). It must not report anything.
 *  - A server-side logout (401 and friends) is reported as CLOSE with its reason and followed by
 *    worker_exit(w, IPC_EXIT_NO_RESTART); other failures are reported and retried by the session itself. */
#ifndef WAGATE_WORKER_SESSION_H
#define WAGATE_WORKER_SESSION_H

#include "ipc.pb-c.h"

#include <stddef.h>
#include <stdint.h>

struct worker;
struct session;

struct session *worker_session_start(struct worker *w);
void worker_session_connect(struct session *s, const char *number);
void worker_session_logout(struct session *s);
void worker_session_update(struct session *s);
int worker_session_presence(struct session *s, const char *presence);
int worker_session_chatstate(struct session *s, const char *to, const char *state);
void worker_session_stop(struct session *s);
/* Messaging commands (issue 9), each answered exactly once with its request_id, possibly later:
 * SendMessage -> worker_reply_send, CheckNumbers -> worker_reply_numbers, MarkRead -> worker_reply_result.
 * A session that is not open answers at once with code 503. The arguments are borrowed for the call. */
/* start_by_ms: SendMessage's (CLOCK_MONOTONIC ms, 0 = none): a send whose row is not stored by then is
 * answered 504 with nothing stored or sent. */
void worker_session_send(struct session *s, uint64_t request_id, const char *to, const uint8_t *msg, size_t len,
    const char *id, uint64_t start_by_ms);
void worker_session_check_numbers(struct session *s, uint64_t request_id, char **numbers, size_t n);
void worker_session_mark_read(struct session *s, uint64_t request_id, Wagate__Ipc__MessageKey **keys, size_t n);
/* Group commands (GroupCreate, GroupQuery, GroupList), each answered once with worker_reply_groups. */
void worker_session_group_create(struct session *s, uint64_t request_id, const char *subject, char **participants,
    size_t n);
void worker_session_group_query(struct session *s, uint64_t request_id, const char *jid);
void worker_session_group_list(struct session *s, uint64_t request_id);

#endif
