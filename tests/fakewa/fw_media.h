/* fakewa's media host: the encrypted blobs the mock phone's messages point to instead of carrying them (a history
 * sync chunk in media mode, fw_history.h), kept in memory and served on the control port at their directPath, as
 * WhatsApp's media hosts serve https://mmg.whatsapp.net<directPath>. A test points the downloader at the control
 * port instead. Blobs are encrypted by wa_media_encrypt (wa_media.h), under a fresh random media key each.
 *   GET  /v/t62.7117-24/NAME.enc[?anything]  -> 200 the blob (application/octet-stream) / 404 {"error"} / 503
 *        {"error"} for the first N GETs of a blob stored with mediaFailFirst: N (fw_history.h)
 *        NAME is 32 hex digits; the query is not matched (the link's own ccb/oh/oe, and what a downloader
 *        appends, such as whatsmeow's &hash=...&mms-type=...&__wa-mms=).
 *   GET  /admin/media  -> {"blobs":[{"path":DIRECT_PATH,"size":N,"downloads":K,"failed":F}]}, oldest first; K
 *        counts the GETs answered 200, F those answered 503.
 * Bounded so fakewa's memory stays small: FW_MEDIA_BLOBS_MAX blobs and FW_MEDIA_BYTES_MAX bytes, the oldest
 * dropped to make room (its GET then answers 404). */
#ifndef WAGATE_FW_MEDIA_H
#define WAGATE_FW_MEDIA_H

#include "fw_history.h"

#include <stddef.h>
#include <stdint.h>

#define FW_MEDIA_BLOBS_MAX	64
#define FW_MEDIA_BYTES_MAX	(16 * 1024 * 1024)
#define FW_MEDIA_HISTORY_PREFIX	"/v/t62.7117-24/"	/* WhatsApp's path of history sync blobs */

struct fw_media;

struct fw_media *fw_media_new(void);
void fw_media_free(struct fw_media *md);

/* fw_history_put_fn with arg = the struct fw_media: encrypt a history chunk as WhatsApp's media type "history"
 * under a new media key, keep it under a new directPath (or not, or corrupted, as flags say), and fill m. -1
 * with err when wa_media_encrypt fails or the blob alone is over FW_MEDIA_BYTES_MAX. */
int fw_media_put_history(void *arg, const uint8_t *payload, size_t len, int flags, struct fw_history_media *m,
    char *err, size_t errlen);

#endif
