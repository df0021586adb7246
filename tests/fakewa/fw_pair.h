/* The mock phone's side of pairing (wa-session.md 2.6-2.11): a control call "scans" a QR or "types" a link
 * code; the phone issues the ADV device identity (real HMAC and account signature, worker/wa/wa_adv.h), sends
 * pair-success, checks the companion's pair-device-sign, registers the device and restarts the stream with
 * 515. The HTTP request is answered only when that is done (at most FW_PAIR_TIMEOUT_S). */
#ifndef WAGATE_FW_PAIR_H
#define WAGATE_FW_PAIR_H

struct fw_ctl_conn;
struct fw_server;
struct fw_client;
struct fw_pairing;
struct wa_node;

#define FW_PAIR_TIMEOUT_S	15

/* POST /admin/mock-phone/scan-qr: qr is the request body; phone and name may be NULL. The answer goes to
 * the control connection to (on the control port or the WebSocket port, fw_ctl.h). */
void fw_pair_scan_qr(struct fw_server *s, struct fw_ctl_conn *to, const char *qr, const char *phone,
    const char *name);
/* POST /admin/mock-phone/pair-code. */
void fw_pair_code(struct fw_server *s, struct fw_ctl_conn *to, const char *phone, const char *code,
    const char *name);

/* An iq result/error from the client: 1 if it answered a pending pair-success (consumed), else 0. */
int fw_pair_on_reply(struct fw_client *c, const struct wa_node *iq);
/* md link_code_companion_reg stages from the client; both answer the iq. */
void fw_pair_link_hello(struct fw_client *c, const struct wa_node *iq, const struct wa_node *reg);
void fw_pair_link_finish(struct fw_client *c, const struct wa_node *iq, const struct wa_node *reg);
/* The client is going away: a waiting control call gets 409 (it closed instead of answering pair-success)
 * or 504. */
void fw_pair_client_gone(struct fw_client *c);
/* The control connection p answers on went away: the pairing goes on, unanswered. */
void fw_pair_conn_gone(struct fw_pairing *p);

#endif
