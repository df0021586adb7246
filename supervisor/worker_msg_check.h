/* The worker table's checks of the messaging frames a worker sends (proto/ipc.proto 52..59): each one is
 * validated against the WORKERS_* limits of workers.h (STYLE rule 14) and converted to the plain structs the
 * callbacks get. Pure functions (no event loop, no table): worker_msg.c calls them, and so does the fuzzer
 * (tests/fuzz/worker_msg_fuzz.c). Every string kept points into the unpacked message, so a converted value
 * lives only as long as the envelope it came from. */
#ifndef WAGATE_WORKER_MSG_CHECK_H
#define WAGATE_WORKER_MSG_CHECK_H

#include "ipc.h"
#include "workers.h"

#include <stddef.h>

/* Longest Signal address or group JID (wa_signal.h WA_SIGNAL_ADDRESS_MAX) and the identity key length. */
#define WORKER_MSG_ADDRESS_MAX	128
#define WORKER_MSG_IDENTITY_LEN	32
/* Longest id, JID, push name or source in a stored message, a status change, a LID mapping or an answer. */
#define WORKER_MSG_STR_MAX	256
/* Most digits of a forget_users user. */
#define WORKER_MSG_FORGET_DIGITS_MAX	64
/* Longest error text in an answer. */
#define WORKER_MSG_ERROR_MAX	1024

/* SignalLoad: at most WORKERS_SIG_KEYS_MAX keys, each of a known kind with the fields that kind needs. On
 * success *keys (free it; NULL when n is 0) holds one converted key per key asked, in order; -1 and *why
 * otherwise (nothing allocated). */
int worker_msg_check_signal_load(const Wagate__Ipc__SignalLoad *sl, struct workers_sig_key **keys, size_t *n,
    const char **why);

/* MessageStore: at most WORKERS_STORE_MSGS_MAX of each part (all empty is fine; forget_users at most
 * WORKERS_FORGET_USERS_MAX, each worker_msg_forget_user_ok), every field in range. On
 * success *out holds the converted parts (release with worker_msg_store_clear); -1 and *why otherwise. */
int worker_msg_check_store(const Wagate__Ipc__MessageStore *ms, struct workers_msg_store *out, const char **why);
void worker_msg_store_clear(struct workers_msg_store *m);
/* Whether jid is what forget_users may hold: 1..WORKER_MSG_FORGET_DIGITS_MAX digits, then "@s.whatsapp.net"
 * or "@lid" (no device, no agent). */
int worker_msg_forget_user_ok(const char *jid);

/* SendResult: with ok, an id and a remote_jid and a status in range; !ok, an error (code 500 if none or out of
 * 100..599, error "the worker refused" if empty). 0 with *out filled, or -1 (invalid answer). */
int worker_msg_check_send_result(const Wagate__Ipc__SendResult *r, struct workers_send_result *out);

/* NumbersResult answering a CheckNumbers of nasked numbers: with ok exactly nasked entries; *v (free it; NULL
 * when !ok) then holds them in order. *code and *error are as for SendResult. 0, or -1 (invalid answer). */
int worker_msg_check_numbers(const Wagate__Ipc__NumbersResult *r, size_t nasked, struct workers_number **v,
    int *code, const char **error);

/* CallEvent: strings bounded (WORKER_MSG_STR_MAX) and UTF-8, the call id, caller and chat present, the status
 * one of Baileys' (offer, terminate, timeout, reject, accept, preaccept, transport, relaylatency, ringing), the
 * timestamp not negative, latency -1 or 0..3600000. 0 with *out filled, or -1 and *why. */
int worker_msg_check_call(const Wagate__Ipc__CallEvent *e, struct workers_call *out, const char **why);

#endif
