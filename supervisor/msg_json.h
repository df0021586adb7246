/*
 * A WhatsApp Message protobuf (proto/wa/e2e.proto) rendered as the JSON Evolution stores in Message.message,
 * with its Evolution messageType. One generic walk over the protobuf-c descriptors: no code per message type.
 *
 * JSON conventions: what Evolution stores, i.e. JSON.stringify of Baileys' decoded protobufjs objects, whose
 * generated toJSON() is toObject() with protobufjs' toJSONOptions {longs: String, enums: String,
 * bytes: String, json: true} (Baileys WAProto/index.js is pbjs static-module output):
 *  - keys are the .proto field names as Baileys spells them (camelCase: fileSha256, stanzaId, mentionedJid);
 *  - only fields present on the wire appear (proto2 presence), in field-number order; empty repeated
 *    fields are left out, as toObject does;
 *  - repeated fields are arrays (at most MSG_JSON_MAX_ARRAY elements; the rest is dropped);
 *  - 32-bit integers are JSON numbers; floats and doubles are numbers written as JavaScript would
 *    (shortest form), non-finite ones the strings "NaN", "Infinity", "-Infinity";
 *  - 64-bit integers (fileLength, mediaKeyTimestamp, senderTimestampMs) are decimal strings: "12345";
 *  - enums are their value names ("REVOKE"), or the number when the schema has no name for it;
 *  - bytes are standard base64 strings (bytes over MSG_JSON_MAX_BYTES are left out: a cut base64 is garbage);
 *  - strings over MSG_JSON_MAX_STRING bytes are cut; ill-formed UTF-8 becomes U+FFFD per bad byte, so the
 *    result always fits a PostgreSQL jsonb.
 *
 * messageType follows Baileys' getContentType on what Baileys hands to Evolution: a deviceSentMessage is first
 * replaced by its inner message (Baileys decode-wa-message does `msg = msg.deviceSentMessage?.message || msg`,
 * and the JSON is the inner message's), then the type is the first present field, by number, named
 * "conversation" or containing "Message", other than senderKeyDistributionMessage; "unknown" when none.
 * Wrappers (ephemeralMessage, viewOnceMessage*, editedMessage) are NOT unwrapped: Evolution's prepareMessage
 * calls getContentType on the raw message, so it stores e.g. messageType "ephemeralMessage". Evolution's two
 * rewrites (extendedTextMessage -> conversation, documentWithCaptionMessage -> documentMessage) are the
 * caller's choice: msg_json_normalize().
 *
 * Untrusted input: before protobuf-c sees the bytes, an iterative wire scan refuses input over
 * MSG_JSON_MAX_INPUT, malformed wire format and sub-message nesting deeper than MSG_JSON_MAX_DEPTH (protobuf-c
 * would recurse without limit through Message -> FutureProofMessage -> Message). The walk is bounded too.
 */
#ifndef WAGATE_MSG_JSON_H
#define WAGATE_MSG_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#define MSG_JSON_MAX_INPUT	(1024u * 1024u)	/* bytes of one serialized Message */
#define MSG_JSON_MAX_DEPTH	32		/* nested sub-messages, the outer Message being depth 0 */
#define MSG_JSON_MAX_STRING	(256u * 1024u)	/* bytes of one string (WhatsApp text is at most 65536 chars) */
#define MSG_JSON_MAX_BYTES	(512u * 1024u)	/* raw bytes of one bytes field before base64 */
#define MSG_JSON_MAX_ARRAY	1024		/* elements of one repeated field */
#define MSG_JSON_MAX_NODES	65536		/* JSON values in one result */
#define MSG_JSON_TYPE_MAX	64		/* room for any messageType name, with its NUL */

/*
 * Unpack len bytes as a wa.Message and render it. On success returns 0, sets *out to a new JSON object (the
 * caller puts it) and writes the NUL-terminated messageType into type (typelen >= MSG_JSON_TYPE_MAX; "unknown"
 * when no content field is set). On failure returns -1, *out = NULL, type = "", and a reason in err.
 * Fields this schema does not know are skipped. Never logs.
 */
int msg_json_from_bytes(const uint8_t *buf, size_t len, json_object **out, char *type, size_t typelen,
    char *err, size_t errlen);

/*
 * Evolution's prepareMessage rewrites, applied to a result of msg_json_from_bytes in place: an
 * extendedTextMessage becomes "conversation" (its text; messageType "conversation"), a
 * documentWithCaptionMessage becomes its inner "documentMessage" (messageType "documentMessage"); the same two
 * rewrites apply to contextInfo.quotedMessage of the member named by type (before the top-level rewrite; a
 * wrapper such as documentWithCaptionMessage has no contextInfo, so its quoted message stays as it is, as in
 * Evolution). Evolution also stores that contextInfo in its own column: take it before calling this, since an
 * extendedTextMessage, contextInfo included, is removed. type is updated when the top level changes.
 */
void msg_json_normalize(json_object *msg, char *type, size_t typelen);

#endif
