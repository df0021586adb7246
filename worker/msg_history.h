/* A history sync chunk (reference/wa-proto-fields.md section 5, proto/wa/history.proto): the rows it becomes.
 * Pure computation on untrusted bytes (the inline payload of a HistorySyncNotification from our own phone): no
 * logging, no state. The payload is zlib-inflated up to MSG_HISTORY_INFLATED_MAX, unpacked as a wa.HistorySync
 * (its nesting is fixed: each message's content is kept as bytes and checked by msg_content_parse), and turned
 * into StoredMessages (history set), chat and contact names and LID mappings, each checked as the supervisor
 * checks a MessageStore (lengths, UTF-8) so that one bad entry is skipped rather than refusing the whole store.
 * Entries beyond the caps are counted in dropped, not stored: the caps bound the worker's memory (a chunk's
 * messages are committed in several MessageStores when one does not take them, msg.h). */
#ifndef WAGATE_WORKER_MSG_HISTORY_H
#define WAGATE_WORKER_MSG_HISTORY_H

#include "ipc.pb-c.h"

#include <stddef.h>
#include <stdint.h>

#define MSG_HISTORY_INFLATED_MAX	(12u * 1024 * 1024)	/* bytes of one inflated chunk */
#define MSG_HISTORY_MSGS_MAX		50000	/* messages of one chunk (committed in parts: msg.h) */
#define MSG_HISTORY_BYTES_MAX		MSG_HISTORY_INFLATED_MAX	/* their content bytes */
#define MSG_HISTORY_NAMES_MAX		2048	/* chats, contacts and LID mappings of one chunk, each */
#define MSG_HISTORY_STR_MAX		256	/* ids, JIDs and names, as the supervisor's WORKER_MSG_STR_MAX */

struct msg_history {
	int sync_type;				/* HistorySync.syncType, -1 when absent */
	Wagate__Ipc__StoredMessage **msgs;	/* history set; free with msg_history_clear */
	size_t nmsgs;
	Wagate__Ipc__HistoryName **chats, **contacts;
	size_t nchats, ncontacts;
	Wagate__Ipc__LidMapping **lids;
	size_t nlids;
	size_t skipped;				/* entries refused (malformed, protocol-only, too long) */
	size_t dropped;				/* entries beyond the caps */
};

/* Turn the zlib-compressed chunk at z into h. 0, or -1 with the reason in err and h empty. */
int msg_history_decode(const uint8_t *z, size_t zlen, struct msg_history *h, char *err, size_t errlen);
void msg_history_clear(struct msg_history *h);

#endif
