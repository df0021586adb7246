/* What the send routes hand the worker: a recipient as Evolution's createJid normalises it, checked to be
 * something a SendMessage can go to, and the waE2E.Message of a text (proto/wa/e2e.proto), serialized. Pure
 * functions: no I/O, no logging. */
#ifndef WAGATE_MSG_SEND_H
#define WAGATE_MSG_SEND_H

#include <stddef.h>
#include <stdint.h>

#define MSG_SEND_JID_MAX	130		/* a normalised recipient JID with its NUL */
#define MSG_SEND_TEXT_MAX	65536		/* bytes of a text (WhatsApp caps a message at 65536 characters) */
#define MSG_SEND_MENTIONS_MAX	256		/* mentioned numbers in one send's body */
#define MSG_SEND_EVERYONE_MAX	4096		/* mentions of mentionsEveryOne: a group's members */

enum msg_send_kind { MSG_SEND_BAD = -1, MSG_SEND_USER = 0, MSG_SEND_GROUP = 1 };

/* number ("+55 11 99999-0001", "5511...@s.whatsapp.net", "...@lid", "...@g.us") as the JID to send to, in out
 * (MSG_SEND_JID_MAX bytes): MSG_SEND_USER for a user JID (phone number digits @s.whatsapp.net, or @lid),
 * MSG_SEND_GROUP for a group, MSG_SEND_BAD when it cannot be a recipient (out still holds what Evolution's
 * createJid made of it, for the {"exists":false,...} answer; "" when even that did not fit). */
enum msg_send_kind msg_send_jid(const char *number, char *out);

/* A text message. quoted_* and mentions are optional (NULL/0): with either, the text goes in an
 * extendedTextMessage with its contextInfo (stanzaId, participant, quotedMessage, mentionedJid), as WhatsApp
 * clients send replies and mentions; without, in conversation. */
struct msg_send_text {
	const char *text;
	const char *quoted_id;			/* the quoted message's key.id */
	const char *quoted_participant;		/* its sender (the chat for a 1:1 message; NULL = none) */
	const uint8_t *quoted_message;		/* its serialized waE2E.Message (NULL = none) */
	size_t quoted_len;
	const char *const *mentions;		/* user JIDs */
	size_t nmentions;
};

/* The serialized waE2E.Message of t (malloc'd, *len bytes), or NULL when t->text is NULL/empty/over
 * MSG_SEND_TEXT_MAX, a mention count is over MSG_SEND_EVERYONE_MAX or the quoted message does not unpack. */
uint8_t *msg_send_text_pack(const struct msg_send_text *t, size_t *len);

#endif
