/* Voice/video calls in fakewa, so that a client can be tested rejecting (or otherwise answering) a call.
 * Calls are live signalling only: no media, and nothing is queued for a device that is offline when the call
 * rings (a real phone's call is over long before that device comes back).
 * The mock phone of one account calls another account (control API, fw_routes.h):
 *   POST /phone/call?account=CALLER_DIGITS&to=DIGITS|USER_JID[&video=1][&id=CALL_ID]
 *        -> 200 {"call_id":ID,"sent":N} (N: connected companions of the callee it went to) / 400 / 404
 *        every connected companion of the callee gets
 *        <call from=CALLER@s.whatsapp.net id t platform="android" version="2.24.1">
 *          <offer call-id call-creator=CALLER@s.whatsapp.net count="0"><audio enc="opus" rate="16000"/>
 *          <audio enc="opus" rate="8000"/>[<video enc="vp8" dec="vp8"/>]<net medium="3"/><encopt keygen="2"/>
 *          </offer></call>
 *   POST /phone/call-end?account&to&id=CALL_ID[&reason=timeout]  -> 200 {"call_id":ID,"sent":N}
 *        <call from id t><terminate call-id call-creator count="0"[ reason="timeout"]/></call>
 * A client's own <call> (a reject, accept, terminate ... of such a call) is acked and recorded for the account
 * its to= names, the last FW_CALL_RECORDS of them:
 *   GET  /phone/calls?account=DIGITS -> {"calls":[{"from","to","tag","call_id","call_creator","count"}]}
 *        oldest first; from is the sending connection's device JID. */
#ifndef WAGATE_FW_CALL_H
#define WAGATE_FW_CALL_H

struct fw_calls;
struct fw_client;
struct wa_node;

#define FW_CALL_RECORDS		16	/* records kept per account; the oldest goes */
#define FW_CALL_ID_MAX		64	/* bytes of a call id kept (and accepted in /phone/call) */

struct fw_calls *fw_calls_new(void);
void fw_calls_free(struct fw_calls *cs);

/* A <call> stanza from client c: ack it (when it has an id), record it for the account its to= names. Stanzas
 * without a child, or addressed to no known account, are only logged. */
void fw_call_from_client(struct fw_client *c, const struct wa_node *n);

#endif
