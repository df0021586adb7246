/* The worker process: its IPC dispatch, its copy of the instance's settings, and what the session may report.
 * worker/session.c (the WhatsApp session) talks to the supervisor only through the worker_report_* calls. */
#ifndef WAGATE_WORKER_WORKER_H
#define WAGATE_WORKER_WORKER_H

#include "settings.h"

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct worker;

#define WORKER_REQUEST_TIMEOUT_S	30	/* a request the supervisor does not answer in time has failed */
#define WORKER_QR_FIRST_MS		60000	/* Start.qr_first_ms = 0 */
#define WORKER_QR_NEXT_MS		20000	/* Start.qr_next_ms = 0 */

/* Take over the IPC socket fd for instance_id and wait for Start. NULL on failure. */
struct worker *worker_new(struct event_base *base, int fd, const char *instance_id);
/* Release everything, stopping the session first (NULL is fine). */
void worker_free(struct worker *w);
/* The exit code the process should return once the loop has stopped (0, or IPC_EXIT_NO_RESTART). */
int worker_exit_code(const struct worker *w);
/* Stop the session, flush what is queued to the supervisor, then leave the event loop with code. */
void worker_exit(struct worker *w, int code);

/* What Start delivered (valid from worker_session_start until worker_free). */
struct event_base *worker_base(const struct worker *w);
const char *worker_instance_id(const struct worker *w);
const char *worker_instance_name(const struct worker *w);
const char *worker_wa_url(const struct worker *w);		/* NULL when none is configured */
const char *worker_wa_media_url(const struct worker *w);	/* the media host base URL, NULL = none */
const char *worker_wa_tls_ca_file(const struct worker *w);	/* extra CA PEM path for wss://, NULL = none */
const unsigned char *worker_wa_root_key(const struct worker *w, size_t *len); /* NULL = built-in key */
const unsigned char *worker_creds(const struct worker *w, size_t *len);      /* NULL = never registered */
unsigned worker_qrcode_limit(const struct worker *w);		/* 0 = no limit */
unsigned worker_qr_first_ms(const struct worker *w);		/* never 0 */
unsigned worker_qr_next_ms(const struct worker *w);		/* never 0 */
const char *worker_connect_number(const struct worker *w);	/* Start.connect_number, NULL = none */
const struct settings *worker_settings(const struct worker *w);	/* strings NULL when empty */
const struct proxy *worker_proxy(const struct worker *w);		/* strings NULL when empty */
unsigned worker_keepalive_ms(const struct worker *w);		/* Start.keepalive_ms, 0 = default */
unsigned worker_keepalive_deadline_ms(const struct worker *w);	/* Start.keepalive_deadline_ms, 0 = default */

/* Tell the supervisor the WhatsApp connection state (ConnectionUpdate; CONN_* and REASON_* of conn_state.h). */
void worker_report_state(struct worker *w, int state, int reason, const char *detail);
/* Report OPEN with the own device JID, LID and push name (NULL = unknown). */
void worker_report_open(struct worker *w, const char *jid, const char *lid, const char *push_name);
/* Tell the supervisor a new QR string (and/or pairing code) to show. */
void worker_report_qr(struct worker *w, const char *qr, unsigned count, const char *pairing_code);

/* Requests to the supervisor. The reply (or WORKER_REQUEST_TIMEOUT_S without one, error "timeout") comes
 * back through cb from the loop; nothing is called back once the session is stopped. */
typedef void (*worker_reply_cb)(void *arg, int ok, const char *error);
struct worker_prekey {
	uint32_t id;
	const unsigned char *record;	/* libsignal PreKeyRecordStructure bytes */
	size_t len;
};
/* StoreBatch: creds (NULL/0 = unchanged), new prekeys, and "uploaded up to" (0 = none). 0 or -1. */
int worker_request_store(struct worker *w, const unsigned char *creds, size_t creds_len,
    const struct worker_prekey *prekeys, size_t nprekeys, uint32_t uploaded_upto, worker_reply_cb cb, void *arg);
/* PairSuccess: the phone approved this device; the supervisor stores creds as paired. 0 or -1. */
int worker_request_paired(struct worker *w, const char *jid, const char *lid, const char *push_name,
    const char *platform, const char *business_name, const unsigned char *creds, size_t creds_len,
    worker_reply_cb cb, void *arg);
/* Send one line to the supervisor's log (level as in common/log.h). */
void worker_report_log(struct worker *w, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Messaging (issue 9; proto/ipc.proto block 52..79). These use the IPC messages directly: the session builds
 * and reads them, worker_call.c / worker.c only carry them. */
#include "ipc.pb-c.h"
/* SignalLoad: ok with recs one per key asked, in order (PREKEY data: the stored PreKeyRecordStructure). */
typedef void (*worker_signal_cb)(void *arg, int ok, const char *error, Wagate__Ipc__SignalRecord **recs, size_t n);
int worker_request_signal_load(struct worker *w, Wagate__Ipc__SignalKey **keys, size_t n, worker_signal_cb cb,
    void *arg);
/* MessageStore: one transaction; cb(ok) after its COMMIT (StoreAck). 0 or -1. */
int worker_request_msg_store(struct worker *w, const Wagate__Ipc__MessageStore *m, worker_reply_cb cb, void *arg);
/* Answers to the supervisor's messaging commands (exactly one per request id the session was handed). */
void worker_reply_send(struct worker *w, uint64_t request_id, const Wagate__Ipc__SendResult *r);
void worker_reply_numbers(struct worker *w, uint64_t request_id, const Wagate__Ipc__NumbersResult *r);
void worker_reply_result(struct worker *w, uint64_t request_id, int ok, int code, const char *error);
void worker_reply_groups(struct worker *w, uint64_t request_id, const Wagate__Ipc__GroupResult *r);
/* A call event for the supervisor (no answer). */
void worker_report_call(struct worker *w, const Wagate__Ipc__CallEvent *c);

#endif
