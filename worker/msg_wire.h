/* The wire side of sending (reference/wa-session.md sections 4.1-4.8, 5.3, 5.5): usync queries and their
 * answers, prekey bundle fetches, message ids, the DeviceSentMessage wrapper and the stanzas we write.
 * msg_usync.c (queries and parsing of the server's answers) and msg_stanza.c (what we write). Pure: no
 * session, no events, no logging, so msg_send_test.c checks every function here on its own.
 *
 * Everything parsed here comes from the WhatsApp server (untrusted): lengths are checked strictly, counts are
 * capped, and a malformed answer is an error, never a crash or a partial result. */
#ifndef WAGATE_WORKER_MSG_WIRE_H
#define WAGATE_WORKER_MSG_WIRE_H

#include "wa_signal.h"

#include <stddef.h>
#include <stdint.h>

struct wa_node;

#define MSG_WIRE_DEVICES_MAX	64	/* devices kept per user (WhatsApp allows the phone and 4 companions) */
#define MSG_WIRE_USERS_MAX	64	/* users in one usync query */
#define MSG_WIRE_ID_LEN		22	/* "3EB0" + 18 hex digits (section 4.1) */
#define MSG_WIRE_JID_MAX	128	/* JIDs we address (user part and server) */

/* One device of a user: the JID we address it by ("user:device@server", device 0 as "user@server") and its
 * Signal address ("name:device", section 6.2). */
struct msg_wire_device {
	char jid[MSG_WIRE_JID_MAX];
	char address[WA_SIGNAL_ADDRESS_MAX];
	uint16_t device;
};

/* The Signal address of a device JID string; 0 or -1 (not a user JID, or too long). */
int msg_wire_address(const char *jid, char *out, size_t len);
/* The user JID (no device, no agent) of a user or device JID, for caches and queries; 0 or -1. */
int msg_wire_user(const char *jid, char *out, size_t len);
/* The device JID and Signal address of device dev of user (a user JID); 0 or -1. */
int msg_wire_device_set(struct msg_wire_device *d, const char *user, uint16_t dev);

/* msg_usync.c */
/* <iq xmlns="usync" type="get"><usync context="message"><query><devices version="2"/><lid/></query><list>
 * <user jid/>...</list></usync></iq> for n user JIDs (id and to are set by iq_table_send). */
struct wa_node *msg_usync_devices_query(const char *const *users, size_t n, const char *sid);
/* The device ids of user in a usync answer: 1 found (ids in devs, *n of them, at most max; hosted devices and
 * companions without key-index skipped), 0 the user is not in the answer or has no devices, -1 malformed. */
int msg_usync_devices(const struct wa_node *iq, const char *user, uint16_t *devs, size_t max, size_t *n);
/* The LID the answer gives for user ("" when none) into lid; 0 or -1. */
int msg_usync_lid(const struct wa_node *iq, const char *user, char *lid, size_t len);
/* <iq xmlns="usync"><usync context="interactive"><query><contact/><lid/></query><list><user><contact>+digits
 * </contact></user>...</list></usync></iq> for n phone numbers (digits only). */
struct wa_node *msg_usync_contacts_query(char *const *numbers, size_t n, const char *sid);
/* The answer for number: *exists, and jid / lid ("" when not told). 0 (an answer for number was found, or
 * none: then *exists is 0) or -1 malformed. */
int msg_usync_contact(const struct wa_node *iq, const char *number, int *exists, char *jid, size_t jidlen,
    char *lid, size_t lidlen);
/* <iq xmlns="encrypt" type="get"><key><user jid reason="identity"/>...</key></iq> for n device JIDs. */
struct wa_node *msg_keys_query(const struct msg_wire_device *devs, size_t n);
/* The bundle for device jid in a key answer: 1 found (b filled), 0 absent or an <error> for it, -1 malformed. */
int msg_keys_bundle(const struct wa_node *iq, const char *jid, struct wa_signal_bundle *b);
/* A bundle carried by a node in the key layout (<registration> given separately, <type>, <identity>, <skey>,
 * [<key>]): <user> of a key answer, <keys> of a retry receipt. 0 or -1. */
int msg_keys_parse(const struct wa_node *n, uint32_t registration_id, uint16_t device, struct wa_signal_bundle *b);
/* A <call> stanza read as Baileys' call event (WACallEvent; whatsmeow's BasicCallMeta): strings are bounded
 * copies ("" when absent), JIDs well formed, the caller's (from, caller_pn) user JIDs. */
#define MSG_CALL_ID_MAX		64
#define MSG_CALL_STATUS_MAX	16
struct msg_call {
	char chat_id[MSG_WIRE_JID_MAX];		/* the stanza's from */
	char from[MSG_WIRE_JID_MAX];		/* the caller: the child's from, else its call-creator */
	char caller_pn[MSG_WIRE_JID_MAX];	/* the caller's phone-number JID beside a LID, when named */
	char id[MSG_CALL_ID_MAX + 1];		/* call-id */
	char status[MSG_CALL_STATUS_MAX];	/* offer, terminate, timeout, reject, accept, preaccept, transport,
						 * relaylatency, ringing */
	char group_jid[MSG_WIRE_JID_MAX];
	int64_t t;				/* seconds; 0 when absent */
	int offline, is_video, is_group;
	int latency_ms;				/* relaylatency; -1 unknown */
};
/* Read n (tag "call", first child the call info). 0, or -1 with why (then nothing is to be done with it but
 * the ack). */
int msg_call_parse(const struct wa_node *n, struct msg_call *c, const char **why);
/* <call id from=own to=caller><reject call-id call-creator=caller count="0"/></call>: own and the caller as user
 * JIDs without a device (whatsmeow's RejectCall). */
struct wa_node *msg_call_reject(const struct msg_call *c, const char *own_user, const char *caller_user,
    const char *id);

/* A 1-4 byte big-endian number in child tag of n; -1 if absent or malformed. */
int64_t msg_wire_be(const struct wa_node *n, const char *tag, size_t minlen, size_t maxlen);

/* msg_stanza.c */
/* A message id in WhatsApp Web's form (section 4.1) for our user (NULL or "" before pairing). */
void msg_stanza_make_id(const char *own_user, int64_t now, char out[MSG_WIRE_ID_LEN + 1]);
/* Message{deviceSentMessage{destinationJid, message}, messageContextInfo copied from msg} for our own other
 * devices (section 4.7). *out malloc'd. 0, or -1 when msg is no valid protobuf message. */
int msg_stanza_dsm(const char *dest, const uint8_t *msg, size_t len, uint8_t **out, size_t *outlen);

/* One encrypted copy of the message. */
struct msg_stanza_enc {
	const char *jid;		/* the device */
	enum wa_signal_type type;
	const uint8_t *ct;
	size_t len;
};
/* <message id to type="text"><participants><to jid><enc v="2" type/></to>...</participants>[<device-identity>]
 * </message>; the identity (our ADVSignedDeviceIdentity) is added when any enc is a pkmsg (section 4.8). */
struct wa_node *msg_stanza_message(const char *id, const char *to, const struct msg_stanza_enc *encs, size_t n,
    const uint8_t *identity, size_t identity_len);
/* The resend after a retry receipt (section 5.5): <message id to="<device>" type="text" [t]><enc v="2" type
 * count/>[<device-identity>]</message>. */
struct wa_node *msg_stanza_resend(const char *id, const char *to, const struct msg_stanza_enc *enc, unsigned count,
    int64_t t, const uint8_t *identity, size_t identity_len);
/* <receipt id="ids[0]" to="chat" [participant] type="read" t><list><item id/>...</list></receipt> (the list only
 * with more than one id). */
struct wa_node *msg_stanza_read(const char *chat, const char *participant, const char *const *ids, size_t n,
    int64_t t);

#endif
