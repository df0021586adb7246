/* Groups in the worker (issue 9; wa-session.md 4.8, 6.6; whatsmeow group.go read for the shapes).
 *
 * msg_group.c is the wire side, pure (no session, no events, no logging; msg_group_test.c and the
 * msg_group fuzz target check it on its own): the w:g2 iqs we write (create, metadata query, participating),
 * the <group> nodes of their answers read into GroupInfo, whatsmeow's participant hash and the group
 * <message> stanza. Everything parsed comes from the WhatsApp server (untrusted): counts and lengths are
 * capped, strings must be UTF-8 without NUL, and a malformed answer is an error, never a partial result.
 *
 * msg_group_cmd.c is the session side: GroupCreate/GroupQuery/GroupList (session.h), the bounded cache of
 * group participants a group send reads (invalidated by <notification type="w:gp2">), and which devices got
 * our sender key (memory only: after a restart everyone gets it again, which is harmless).
 * msg_send_group.c sends a SendMessage to a group through msg_send.c's executor job. */
#ifndef WAGATE_WORKER_MSG_GROUP_H
#define WAGATE_WORKER_MSG_GROUP_H

#include "ipc.pb-c.h"
#include "msg_wire.h"

#include <stddef.h>
#include <stdint.h>

struct session;
struct wa_node;

#define MSG_GROUP_SUBJECT_MAX		1024	/* bytes of a subject we send (GroupCreate's cap) */
#define MSG_GROUP_CREATE_MAX		256	/* participants of a GroupCreate */
#define MSG_GROUP_PARTICIPANTS_MAX	2048	/* participants read from one <group> (WhatsApp allows 1024) */
#define MSG_GROUP_LIST_MAX		1024	/* groups read from one participating answer */
#define MSG_GROUP_TEXT_MAX		16384	/* bytes of a subject or description read */
#define MSG_GROUP_PHASH_LEN		16	/* "2:" + 8 base64 characters + NUL, rounded up */

/* <iq xmlns="w:g2" type="set" to="@g.us"><create subject key><participant jid/>...</create></iq>. */
struct wa_node *msg_group_create_query(const char *subject, char *const *participants, size_t n, const char *key);
/* <iq xmlns="w:g2" type="get" to=jid><query request="interactive"/></iq>. */
struct wa_node *msg_group_info_query(const char *jid);
/* <iq xmlns="w:g2" type="get" to="@g.us"><participating><participants/><description/></participating></iq>. */
struct wa_node *msg_group_list_query(void);

/* The outcome of an iq answer as a GroupResult code: 0 for type="result", else 400 (bad request, not
 * acceptable), 403 (forbidden, not authorized), 404 (item not found), 500 (anything else). */
int msg_group_iq_code(const struct wa_node *iq);
/* A <group> node as a GroupInfo (heap, free with msg_group_info_free). Participants listed with an error
 * attribute (create: not added) are left out. NULL when malformed. */
Wagate__Ipc__GroupInfo *msg_group_parse(const struct wa_node *g);
void msg_group_info_free(Wagate__Ipc__GroupInfo *gi);
/* The <group> child of a create/query answer; NULL when absent or malformed. */
Wagate__Ipc__GroupInfo *msg_group_parse_answer(const struct wa_node *iq);
/* Every <group> of a participating answer (<groups><group/>...</groups>): 0 with *out (heap, *n of them; free
 * each and the array) or -1 when malformed. */
int msg_group_parse_list(const struct wa_node *iq, Wagate__Ipc__GroupInfo ***out, size_t *n);

/* whatsmeow's participantListHashV2: "2:" + unpadded base64 of the first 6 bytes of SHA-256 over the sorted
 * "user.0:device@server" forms of every device (device JIDs "user[:dev]@server"; unreadable ones skipped). */
void msg_group_phash(char *const *devices, size_t n, char out[MSG_GROUP_PHASH_LEN]);
/* <message id to=group type="text" phash>[<participants><to jid><enc v="2" type/></to>...</participants>]
 * <enc v="2" type="skmsg"/>[<device-identity>]</message>; the identity is added when any enc is a pkmsg. */
struct wa_node *msg_group_stanza(const char *id, const char *group, const char *phash,
    const struct msg_stanza_enc *encs, size_t n, const uint8_t *skmsg, size_t sklen, const uint8_t *identity,
    size_t identity_len);
/* Message{senderKeyDistributionMessage{groupId, axolotlSenderKeyDistributionMessage}} (e2e.proto fields 2,
 * 1 and 2). *out malloc'd. */
void msg_group_skdm_message(const char *group, const uint8_t *skdm, size_t len, uint8_t **out, size_t *outlen);

/* msg_group_cmd.c: the session side. */
/* The cached participants (user JIDs) of group: 1 with *users (borrowed until the next call into this
 * module) and *n, 0 when not cached. */
int msg_group_cached(struct session *s, const char *group, char ***users, size_t *n);
/* Fetch the metadata of group (into the cache) and call cb(arg, code) (0, or a GroupResult code). 0, or -1
 * when the query could not be sent (cb is not called). */
int msg_group_fetch(struct session *s, const char *group, void (*cb)(void *arg, int code, const char *error),
    void *arg);
/* Whether device (a device JID) got our sender key for group; remember that it did. */
int msg_group_skdm_has(struct session *s, const char *group, const char *device);
void msg_group_skdm_add(struct session *s, const char *group, const char *device);
/* Forget that device got our sender key for group (a retry receipt: it lost it); group NULL: for every group
 * (a devices notification: the device may be a new one under a reused number). */
void msg_group_skdm_forget(struct session *s, const char *group, const char *device);
/* Drop the cached participants of group (they are asked again on the next send). */
void msg_group_forget(struct session *s, const char *group);
/* <notification type="w:gp2">: the group changed, its cached participants are dropped. */
void msg_group_on_notification(struct session *s, const struct wa_node *n);
/* The connection closed: drop the cached participants (changes may be missed while away). */
void msg_group_reset_connection(struct session *s);
void msg_group_free(struct session *s);

#endif
