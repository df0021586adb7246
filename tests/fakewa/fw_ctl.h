/* fakewa's control API: plain HTTP on 127.0.0.1 to inspect clients and inject faults, and the mock phone.
 * Every request is read by the one parser (fw_http.h), looked up in one route table {method, path, handler}
 * and dispatched in one place (fw_ctl.c); the handlers live in fw_routes_*.c. Each request gets one JSON
 * answer (a media download: the blob's bytes), then its connection is closed.
 *   GET  /admin/clients                         -> {"count":N,"pings_answered":N,"clients":[...]}
 *   POST /admin/drop?client=ID|all              -> drop TCP connections
 *   POST /admin/stream-error?code=515&client=ID|all[&conflict=replaced]
 *   POST /admin/stream-end?client=ID|all        -> <xmlstreamend/> then close
 *   POST /admin/stall?client=ID|all, POST /admin/unstall?client=ID|all
 * and the mock phone and accounts (contract of issue 4; accounts live in memory only):
 *   POST /admin/mock-phone/scan-qr[?phone=DIGITS][&name=PUSH]   body = QR text  (fw_pair.h)
 *   POST /admin/mock-phone/pair-code?phone=DIGITS&code=XXXX-XXXX[&name=PUSH]
 *   POST /admin/remove-device?jid=DEVICE_JID                    -> {"removed":1} / 404
 *   POST /admin/companion-reg-refresh?client=ID|all             -> {"affected":N}
 *   POST /admin/prekey-low?jid=DEVICE_JID&count=N               -> {"sent":1} / 404
 *   GET  /admin/accounts                                        -> {"accounts":[...]}
 *   POST /admin/account?phone=DIGITS[&name=PUSH]   -> {"phone","lid":LID_USER}: an account with its phone and no
 *        companion (created if missing), so the phone can message and be messaged without a pairing
 * and the phone's messaging (fw_phone_signal.h; account = the phone number, phone= is taken for it too;
 * parameters in the query string like every other route):
 *   POST /phone/send?account=DIGITS&to=USER_JID&text=TEXT   -> {"id":MSG_ID} / 400 / 404 no such account
 *   GET  /phone/received?account=DIGITS                     -> {"received":[{"from","id","type","text"}]}
 *        type: text, other (no text in it), invalid (bad padding or protobuf), undecryptable, retry (failed
 *        on purpose), unsupported (an enc type other than pkmsg/msg)
 *   POST /phone/fail-next-decrypt?account=DIGITS            -> {"armed":1}: a retry receipt instead
 * and groups (fw_group.h): to= of /phone/send may be a group JID the phone is a member of (an skmsg for all,
 * the sender key pairwise to the devices lacking it); received entries of group messages carry "group".
 *   POST /phone/group-create?account=DIGITS&subject=S&participants=DIGITS|USER_JID,...[&style=old]
 *        -> {"group":JID} / 400; the phone's account creates it, every member device gets the w:gp2 create
 *   GET  /admin/groups                                      -> {"groups":[{"jid","subject","creator",...}]}
 *   POST /phone/reinstall?account=DIGITS                    -> {"notified":N}: a new Signal identity for the
 *        phone; the devices of the users it had sessions with get <notification type=encrypt><identity/>
 * and calls (fw_call.h): POST /phone/call, POST /phone/call-end, GET /phone/calls?account=DIGITS.
 * and the history sync (fw_history.h): POST /phone/history?account=DIGITS, body = the chunk as JSON
 *        -> {"id":MSG_ID,"sent":N} / 400 {"error"} (nothing sent) / 404: the phone sends the chunk as a peer
 *        message to each of its companions (N = how many; 0 when none is linked). They answer with receipts
 *        type="peer_msg" and type="hist_sync" to the own user JID, listed by GET /phone/receipts.
 *        With "media": true in the body the chunk is an encrypted blob on the media host (fw_media.h) and the
 *        answer is {"id","sent","directPath"}; GET DIRECT_PATH downloads it, GET /admin/media lists the blobs.
 * The two mock-phone calls are also served as plain HTTP(S) on the WebSocket port, where Baileys' own e2e
 * helper posts the QR (fakewa_client.h). Replies of scan-qr/pair-code: 200 {"phone","jid","lid","device",
 * "key_index"}, 400 bad input, 404 no such client, 409 refused (companion error iq, closed connection, wrong
 * code), 504 no answer within 15 s. Any route: 400 malformed request, 404 unknown path, 405 wrong method,
 * 413 body over FW_HTTP_MAX_BODY. */
#ifndef WAGATE_FW_CTL_H
#define WAGATE_FW_CTL_H

#include <stddef.h>
#include <sys/queue.h>

#include <event2/keyvalq_struct.h>

struct evbuffer;
struct fw_client;
struct fw_http_req;
struct fw_pairing;
struct fw_server;

struct fw_ctl;		/* the control port: its listener and connections */
struct fw_ctl_conn;	/* one HTTP connection, carrying one request */

/* One request being handled: what a route handler (fw_routes.h) gets. It answers through fw_ctl_reply on
 * conn, now or later (a pairing keeps conn, see fw_ctl_conn_wait). */
struct fw_ctl_call {
	struct fw_server *s;
	struct fw_ctl_conn *conn;
	const struct fw_http_req *req;
	struct evkeyvalq query;		/* the decoded query parameters */
};

/* Listen on 127.0.0.1:port (0 = any free port) for the control API; *bound gets the port. NULL on failure,
 * with errno. */
struct fw_ctl *fw_ctl_new(struct fw_server *s, int port, int *bound);
/* Close the listener and every connection (after the clients: their pairings may still answer). */
void fw_ctl_free(struct fw_ctl *ctl);

/* A control request that came on the WebSocket port on client c: the connection borrows c's stream. */
struct fw_ctl_conn *fw_ctl_conn_new_ws(struct fw_client *c);
/* Read a request from in (the stream's input buffer); once one is taken, further input is dropped. */
void fw_ctl_conn_input(struct fw_ctl_conn *conn, struct evbuffer *in);
/* The carrying stream is going away: nothing more is written, and a waiting pairing is told. */
void fw_ctl_conn_gone(struct fw_ctl_conn *conn);
/* Free a connection (NULL is fine); the stream is closed only when the connection owns it. */
void fw_ctl_conn_free(struct fw_ctl_conn *conn);

/* Answer with this status and JSON body (a newline is added), then close once written. Only the first answer
 * counts; none is written after fw_ctl_conn_gone. */
void fw_ctl_reply(struct fw_ctl_conn *conn, int code, const char *json);
/* Answer with this status and len bytes of body as type (any bytes: a media blob), then close once written.
 * Only the first answer counts, as for fw_ctl_reply. */
void fw_ctl_reply_bytes(struct fw_ctl_conn *conn, int code, const char *type, const void *body, size_t len);
/* The pairing p answers later (NULL: no longer): fw_pair_conn_gone(p) if the connection goes first. */
void fw_ctl_conn_wait(struct fw_ctl_conn *conn, struct fw_pairing *p);
/* A query parameter of the call, or NULL. */
const char *fw_ctl_query(const struct fw_ctl_call *call, const char *key);

#endif
