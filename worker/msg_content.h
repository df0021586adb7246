/* The plaintext of one received <enc> (reference/wa-session.md 5.2; proto/wa/e2e.proto): a waE2E.Message,
 * checked and classified for the receive path. Pure computation on untrusted bytes: no logging, no state.
 *
 *  - The bytes are scanned iteratively first (protobuf-c recurses once per nested sub-message with no limit:
 *    Message -> FutureProofMessage -> Message ...), refused beyond MSG_CONTENT_MAX_DEPTH or when malformed.
 *  - A deviceSentMessage (our own phone's copy of what it sent) is unwrapped: the stored message is the inner
 *    one and dsm_dest is the chat it was sent to.
 *  - A senderKeyDistributionMessage (outer or inner) is handed out (group id and the axolotl bytes) and
 *    removed from the stored message: it is key material, not content.
 *  - What is left is "content" unless it is empty, or nothing but messageContextInfo, or a protocolMessage of
 *    a key / sync kind (history sync, app-state keys, fanout backfill, security setting sync): those are
 *    protocol traffic and are not stored. Revokes, edits and ephemeral settings are content (Evolution
 *    stores them). A message carrying only fields this schema does not know is content (stored as sent).
 *  - A history sync notification is handed out (history, its inline chunk): msg_history.h turns that into rows. */
#ifndef WAGATE_WORKER_MSG_CONTENT_H
#define WAGATE_WORKER_MSG_CONTENT_H

#include <stddef.h>
#include <stdint.h>

#define MSG_CONTENT_MAX_DEPTH	32		/* nested sub-messages, the outer Message at depth 0 */
#define MSG_CONTENT_MAX_INPUT	(1024u * 1024)	/* bytes of one plaintext (msg_json.h takes no more) */
#define MSG_CONTENT_JID_MAX	256		/* destinationJid and groupId longer than this are refused */
#define MSG_CONTENT_SKDM_MAX	1024		/* axolotl distribution messages are ~100 bytes */
#define MSG_CONTENT_PATH_MAX	2048		/* a media directPath */

struct msg_content {
	uint8_t *message;		/* serialized Message to store; NULL = protocol only */
	size_t len;
	char *dsm_dest;			/* deviceSentMessage.destinationJid, NULL = not a DSM */
	char *skdm_group;		/* senderKeyDistributionMessage.groupId ("" if absent), NULL = no SKDM */
	uint8_t *skdm;
	size_t skdm_len;
	/* A protocolMessage's HistorySyncNotification (protocol only: message stays NULL): history is set, and
	 * history_inline holds its zlib-compressed inline chunk (NULL when the chunk is a media blob instead). */
	int history;
	int history_type;		/* HistorySyncNotification.syncType, -1 when absent */
	uint8_t *history_inline;
	size_t history_inline_len;
	/* The chunk as a media blob (when not inline): where it is and how to check and decrypt it. history_path is
	 * NULL unless the notification has a usable directPath (a '/' path of printable ASCII, at most
	 * MSG_CONTENT_PATH_MAX bytes) and a 32-byte mediaKey; the hashes are checked only when has_hashes. */
	char *history_path;
	uint8_t history_key[32], history_enc_sha256[32], history_sha256[32];
	int history_has_hashes;
	uint64_t history_length;		/* fileLength, 0 when absent */
};

/* Parse len unpadded plaintext bytes. 0 with c filled (free with msg_content_clear), or -1 with a reason
 * in err and c empty. */
int msg_content_parse(const uint8_t *buf, size_t len, struct msg_content *c, char *err, size_t errlen);
void msg_content_clear(struct msg_content *c);
/* The sender's device kind from the shape of a message id, as WhatsApp clients make them (Evolution's source):
 * "ios", "web", "android", "desktop" or "unknown". */
const char *msg_content_source(const char *id);

#endif
