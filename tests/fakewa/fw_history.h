/* The mock phone's history sync (whatsmeow's and Baileys' view of it; wagate reads it in the worker): the JSON
 * body of POST /phone/history (fw_ctl.h) turned into the plaintext the phone sends its own companions as a peer
 * message, Message{protocolMessage{type HISTORY_SYNC_NOTIFICATION, historySyncNotification{syncType, chunkOrder,
 * progress, initialHistBootstrapInlinePayload = zlib(HistorySync)}}} (proto/wa/e2e.proto, history.proto). The
 * body comes from a test, so it is bounded and checked like any untrusted input. Pure: no I/O, no logging. */
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

/*
 * Build the Message for a body of len bytes (not NUL-terminated). The body is one JSON object, every key
 * optional, unknown keys refused:
 *   syncType (0..6), chunkOrder (uint32), progress (0..100),
 *   conversations: [{id, name, displayName, pnJid, lidJid, unreadCount, conversationTimestamp,
 *                    messages: [{id, fromMe, text, timestamp, participant, pushName, status (0..5)}]}],
 *   pushnames: [{id, pushname}], lidMappings: [{pn, lid}],
 *   rawPayload: base64, used verbatim as the inline payload (no HistorySync, no zlib), with none of the three
 *               lists above.
 * Each message becomes HistorySyncMsg{WebMessageInfo{key{remoteJid = the conversation's id, fromMe, id,
 * participant}, message = Message{conversation = text}, messageTimestamp, status, participant, pushName},
 * msgOrderId = its index over the whole chunk}. 0 with the packed Message in *out (malloc'd), or -1 with a
 * reason in err.
 */
int fw_history_build(const char *body, size_t len, uint8_t **out, size_t *outlen, char *err, size_t errlen);

#endif
