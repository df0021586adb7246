/* The mock phone's history sync (whatsmeow's and Baileys' view of it; wagate reads it in the worker): the JSON
 * body of POST /phone/history (fw_ctl.h) turned into the plaintext the phone sends its own companions as a peer
 * message, Message{protocolMessage{type HISTORY_SYNC_NOTIFICATION, historySyncNotification{syncType, chunkOrder,
 * progress, initialHistBootstrapInlinePayload = zlib(HistorySync)}}} (proto/wa/e2e.proto, history.proto), or in
 * media mode {..., directPath, mediaKey, fileSha256, fileEncSha256, fileLength} of that payload encrypted as a
 * blob the companion downloads. The body comes from a test, so it is bounded and checked like any untrusted
 * input. Pure: no I/O, no logging (the caller's put keeps a blob). */
#ifndef WAGATE_FW_HISTORY_H
#define WAGATE_FW_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#define FW_HISTORY_CONVERSATIONS_MAX	256
#define FW_HISTORY_MESSAGES_MAX		10000	/* over all conversations */
#define FW_HISTORY_ENTRIES_MAX		10000	/* pushnames, and lidMappings, each */
#define FW_HISTORY_STRING_MAX		256	/* ids, JIDs, names */
#define FW_HISTORY_TEXT_MAX		65536	/* a message's text */
#define FW_HISTORY_DEPTH		8	/* JSON nesting: body, conversations, [i], messages, [j], ... */

/* Media mode: the blob WhatsApp's media host serves, as the notification names it (see wa_media.h). */
#define FW_HISTORY_MEDIA_CORRUPT	0x1	/* flip a byte of the stored blob after hashing it */
#define FW_HISTORY_MEDIA_MISSING	0x2	/* store nothing: the download gets 404 */
#define FW_HISTORY_MEDIA_FAIL_SHIFT	8	/* bits 8..11: the first N downloads get 503 (mediaFailFirst) */
#define FW_HISTORY_MEDIA_FAIL_MAX	8
#define FW_HISTORY_PATH_MAX		128	/* a directPath, NUL included */

struct fw_history_media {
	char direct_path[FW_HISTORY_PATH_MAX];
	uint8_t media_key[32];
	uint8_t file_sha256[32];	/* of the payload */
	uint8_t file_enc_sha256[32];	/* of the blob */
	uint64_t file_length;		/* of the payload */
};

/* Encrypt len bytes of payload under a fresh media key, keep the blob as flags say, and fill m. 0, or -1 with a
 * reason in err. */
typedef int fw_history_put_fn(void *arg, const uint8_t *payload, size_t len, int flags, struct fw_history_media *m,
    char *err, size_t errlen);

/*
 * Build the Message for a body of len bytes (not NUL-terminated). The body is one JSON object, every key
 * optional, unknown keys refused:
 *   syncType (0..6), chunkOrder (uint32), progress (0..100),
 *   conversations: [{id, name, displayName, pnJid, lidJid, unreadCount, conversationTimestamp,
 *                    messages: [{id, fromMe, text, timestamp, participant, pushName, status (0..5)}]}],
 *   pushnames: [{id, pushname}], lidMappings: [{pn, lid}],
 *   rawPayload: base64, used verbatim as the payload (no HistorySync, no zlib), with none of the three lists
 *               above,
 *   media: true sends the payload as a media blob instead of inline (FW_HISTORY_MEDIA_*), with
 *   mediaCorrupt: true (the stored blob does not match its hashes) or mediaMissing: true (nothing is stored),
 *   mediaFailFirst: N (0..FW_HISTORY_MEDIA_FAIL_MAX; not with mediaMissing): the first N downloads answer 503.
 * Each message becomes HistorySyncMsg{WebMessageInfo{key{remoteJid = the conversation's id, fromMe, id,
 * participant}, message = Message{conversation = text}, messageTimestamp, status, participant, pushName},
 * msgOrderId = its index over the whole chunk}. Inline, the payload is initialHistBootstrapInlinePayload; in
 * media mode put stores it (NULL: media mode is refused) and the notification carries what m says of it instead,
 * as WhatsApp sends most chunks. 0 with the packed Message in *out (malloc'd) and m filled (direct_path "" when
 * inline), or -1 with a reason in err; put is called at most once, and nothing can fail after it.
 */
int fw_history_build(const char *body, size_t len, fw_history_put_fn *put, void *arg, struct fw_history_media *m,
    uint8_t **out, size_t *outlen, char *err, size_t errlen);

#endif
