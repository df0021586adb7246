/* The mock phone's Signal side (wa-session.md 4.4-4.7, 5.2-5.4, 6): device 0 of each account is an ordinary
 * Signal endpoint on wa_signal.h, with the account identity key, its own registration id, signed prekey and
 * one-time prekeys (served by the prekey fetch like any device's, each once). It decrypts pkmsg/msg addressed
 * to it and keeps what it read (bounded), answers with a delivery receipt, or with a retry receipt when told to
 * fail the next decryption; it sends a conversation text to every device of a user, building sessions from
 * the bundles fakewa holds. In groups (fw_group.h) it is a member device like any other: it decrypts the
 * sender key distributions and skmsgs it gets, and sends with its own sender key. Its records (sessions,
 * identities, prekeys, sender keys) live in an fw_sigstore.h table. */
#ifndef WAGATE_FW_PHONE_SIGNAL_H
#define WAGATE_FW_PHONE_SIGNAL_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct fw_account;
struct fw_client;
struct fw_server;
struct fw_phone;
struct wa_node;
struct wa_signal_bundle;

#define FW_PHONE_PREKEYS	50	/* one-time prekeys made at start; the pool is not refilled */
#define FW_PHONE_RECEIVED_MAX	256	/* decrypted messages kept for GET /phone/received (oldest dropped) */
#define FW_PHONE_SESSIONS_MAX	1024	/* sessions a reinstall looks at to find whom to tell */
#define FW_PHONE_SKDM_MAX	1024	/* (group, device) pairs the phone gave its sender key; then it forgets all */
#define FW_PHONE_SENT_MAX	16	/* stanzas of the last send kept for POST /phone/redeliver */

/* The phone of account a (identity = the account key pair). NULL on key failure. */
struct fw_phone *fw_phone_new(const struct fw_account *a);
void fw_phone_free(struct fw_phone *p);
/* The phone's bundle, with one one-time prekey taken out of its pool (has_prekey 0 once it is empty). */
void fw_phone_bundle(struct fw_phone *p, struct wa_signal_bundle *b);
/* A <message> stanza from sender device c, with enc the <enc> for the phone of account a. */
void fw_phone_receive(struct fw_client *c, struct fw_account *a, const struct wa_node *msg,
    const struct wa_node *enc);
/* Send text from a's phone to every device of the user JID to (phone included only if it is another
 * account's). 0 with the message id in id (>= 32 bytes), or -1 with err. */
int fw_phone_send(struct fw_server *s, struct fw_account *a, const char *to, const char *text, char *id,
    size_t idlen, char *err, size_t errlen);
/* Send the plaintext Message pt from a's phone to each of a's companions as a peer message (category="peer",
 * as the phone's history sync and app state key shares go), online or queued. The number of companions it went
 * to (one that cannot be encrypted for is skipped), with the message id in id (>= 32 bytes); -1 if the phone
 * has no Signal keys. */
int fw_phone_peer_send(struct fw_account *a, const uint8_t *pt, size_t ptlen, char *id, size_t idlen);
/* A group <message> for a's phone, as a member device would get it (fw_group_msg.c): from=GROUP
 * participant=SENDER, a pairwise pkmsg/msg (carrying the sender key distribution) and/or an skmsg, decrypted in
 * that order; the text is kept with its group, and a receipt goes to the sender device (none to a phone). */
void fw_phone_group_receive(struct fw_server *s, struct fw_account *a, const struct wa_node *m);
/* Send text from a's phone to group (a member): its sender key goes pairwise to every member device that
 * lacks it, the text as one skmsg for all (wa-session.md 6.6). 0 with the id in id, or -1 with err. */
int fw_phone_group_send(struct fw_server *s, struct fw_account *a, const char *group, const char *text, char *id,
    size_t idlen, char *err, size_t errlen);
/* The phone is reinstalled: a new Signal identity (the account key, which signs companions, stays), fresh
 * prekeys and no sessions or sender keys; every companion of the users it had sessions with gets
 * <notification type="encrypt" from=PHONE_USER><identity/></notification> (wa-session.md 5, 6.5). The number of
 * devices told, or -1 on key failure (nothing changed). */
int fw_phone_reinstall(struct fw_server *s, struct fw_account *a);
/* The next decryption fails on purpose (a retry receipt goes back, wa-session.md 5.4). */
void fw_phone_fail_next(struct fw_phone *p);
/* Append [{"from","id","type","text"[,"group"]},...] (what the phone decrypted, oldest first) to b. */
void fw_phone_received_json(const struct fw_phone *p, struct evbuffer *b);
/* A receipt a device sent to the phone (to its user JID or device 0): kept (bounded) for GET /phone/receipts. */
void fw_phone_receipt_seen(struct fw_phone *p, const char *from, const char *id, const char *type, int keys);
/* Append [{"from","id","type","keys"},...] (receipts the phone got, oldest first; type "" = delivery; keys
 * true when a retry receipt carried <keys>) to b. */
void fw_phone_receipts_json(const struct fw_phone *p, struct evbuffer *b);
/* a's phone sends a receipt (type NULL = delivery) for message ids (1..16, the first in id=, the rest in
 * <list><item>) to every device of the user JID to, as if it had received them. 0, or -1 with err. */
int fw_phone_send_receipt(struct fw_server *s, struct fw_account *a, const char *to, const char *type,
    const char *const *ids, size_t nids, char *err, size_t errlen);
/* Deliver the stanzas of the phone's last fw_phone_send again, unchanged (a duplicate delivery, as after a
 * lost receipt). The number delivered. */
int fw_phone_redeliver(struct fw_server *s, struct fw_phone *p);

#endif
