/* The media host: encrypted blobs in memory and their routes (see fw_media.h). */
#include "fw_media.h"

#include "fakewa_client.h"
#include "fw_account.h"
#include "fw_ctl.h"
#include "fw_http.h"
#include "fw_routes.h"

#include "hex.h"
#include "random.h"
#include "wa_media.h"
#include "xmalloc.h"

#include <event2/buffer.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

/* The notification's fields are filled straight from wa_media_encrypt's outputs. */
_Static_assert(sizeof(((struct fw_history_media *)0)->media_key) == WA_MEDIA_KEY_LEN, "media key length");
_Static_assert(sizeof(((struct fw_history_media *)0)->file_sha256) == WA_MEDIA_SHA_LEN, "hash length");

#define FW_MEDIA_LIFETIME	(30 * 24 * 3600)	/* the oe= a link claims; fakewa never expires one */

/* One stored blob. */
struct fw_media_blob {
	char path[FW_HISTORY_PATH_MAX];		/* the directPath, query included, as the notification has it */
	size_t pathlen;				/* its path part, before '?': what a GET is matched on */
	uint8_t *data;
	size_t len;
	unsigned long downloads;
	unsigned fail_left;			/* GETs still to answer 503 (mediaFailFirst) */
	unsigned long failed;			/* GETs answered 503 so far */
	TAILQ_ENTRY(fw_media_blob) entry;
};

/* The blobs, oldest first, with their totals for the caps. */
struct fw_media {
	TAILQ_HEAD(, fw_media_blob) blobs;
	size_t n, bytes;
};

struct fw_media *
fw_media_new(void)
{
	struct fw_media *md = xcalloc(1, sizeof(*md));

	TAILQ_INIT(&md->blobs);
	return md;
}

/* Unlink and free one blob. */
static void
fw_media_drop(struct fw_media *md, struct fw_media_blob *b)
{
	TAILQ_REMOVE(&md->blobs, b, entry);
	md->n--;
	md->bytes -= b->len;
	free(b->data);
	free(b);
}

void
fw_media_free(struct fw_media *md)
{
	if (md == NULL)
		return;
	while (!TAILQ_EMPTY(&md->blobs))
		fw_media_drop(md, TAILQ_FIRST(&md->blobs));
	free(md);
}

/* Keep a blob (taking data), dropping the oldest until both caps hold. len is at most FW_MEDIA_BYTES_MAX. */
static void
fw_media_keep(struct fw_media *md, const char *path, uint8_t *data, size_t len, unsigned fail_first)
{
	struct fw_media_blob *b = xcalloc(1, sizeof(*b));

	while (!TAILQ_EMPTY(&md->blobs) && (md->n >= FW_MEDIA_BLOBS_MAX || md->bytes + len > FW_MEDIA_BYTES_MAX))
		fw_media_drop(md, TAILQ_FIRST(&md->blobs));
	snprintf(b->path, sizeof(b->path), "%s", path);
	b->pathlen = strcspn(b->path, "?");
	b->data = data;
	b->len = len;
	b->fail_left = fail_first;
	TAILQ_INSERT_TAIL(&md->blobs, b, entry);
	md->n++;
	md->bytes += len;
}

/* Encrypt and keep a history chunk (see fw_media.h). */
int
fw_media_put_history(void *arg, const uint8_t *payload, size_t len, int flags, struct fw_history_media *m,
    char *err, size_t errlen)
{
	struct fw_media *md = arg;
	uint8_t rnd[24], *blob;
	char name[33], oh[17];
	size_t bloblen;

	random_bytes(m->media_key, sizeof(m->media_key));
	if (wa_media_encrypt(m->media_key, WA_MEDIA_INFO_HISTORY, payload, len, &blob, &bloblen, m->file_enc_sha256,
	    m->file_sha256, err, errlen) == -1)
		return -1;
	if (bloblen > FW_MEDIA_BYTES_MAX) {
		free(blob);
		snprintf(err, errlen, "the media blob would be %zu bytes, over %d", bloblen, FW_MEDIA_BYTES_MAX);
		return -1;
	}
	m->file_length = len;
	/* WhatsApp's shape: a random name, then the CDN's cache key (ccb), signature (oh) and expiry as hex epoch
	 * seconds (oe); a downloader must carry the query along, so the test sees one that has it */
	random_bytes(rnd, sizeof(rnd));
	hex_encode(rnd, 16, name);
	hex_encode(rnd + 16, 8, oh);
	snprintf(m->direct_path, sizeof(m->direct_path), "%s%s.enc?ccb=9-4&oh=%s&oe=%08llX", FW_MEDIA_HISTORY_PREFIX,
	    name, oh, (unsigned long long)(time(NULL) + FW_MEDIA_LIFETIME) & 0xffffffffULL);
	if (flags & FW_HISTORY_MEDIA_MISSING) {
		free(blob);
		return 0;
	}
	/* after the hashes: the downloader's fileEncSha256 (or, failing that, MAC) check must catch it */
	if (flags & FW_HISTORY_MEDIA_CORRUPT)
		blob[bloblen / 2] ^= 0x01;
	fw_media_keep(md, m->direct_path, blob, bloblen, (unsigned)flags >> FW_HISTORY_MEDIA_FAIL_SHIFT & 0xf);
	return 0;
}

/* GET /v/t62.7117-24/NAME.enc[?...]: the blob whose path part is the request's path. */
void
fw_route_media_get(struct fw_ctl_call *call)
{
	const char *path = call->req->path;
	size_t n = strlen(path);
	struct fw_media_blob *b;

	TAILQ_FOREACH(b, &call->s->media->blobs, entry) {
		if (b->pathlen == n && memcmp(b->path, path, n) == 0) {
			if (b->fail_left > 0) {
				b->fail_left--;
				b->failed++;
				fw_route_error(call, 503, "the media host is unwell (mediaFailFirst)");
				return;
			}
			b->downloads++;
			fw_ctl_reply_bytes(call->conn, 200, "application/octet-stream", b->data, b->len);
			return;
		}
	}
	fw_route_error(call, 404, "no such media");
}

/* GET /admin/media */
void
fw_route_media_list(struct fw_ctl_call *call)
{
	struct evbuffer *b = evbuffer_new();
	const struct fw_media_blob *mb;
	int nb = 0;

	evbuffer_add_printf(b, "{\"blobs\":[");
	TAILQ_FOREACH(mb, &call->s->media->blobs, entry) {
		evbuffer_add_printf(b, "%s{\"path\":", nb++ ? "," : "");
		fw_json_string(b, mb->path);
		evbuffer_add_printf(b, ",\"size\":%zu,\"downloads\":%lu,\"failed\":%lu}", mb->len, mb->downloads,
		    mb->failed);
	}
	evbuffer_add_printf(b, "]}");
	evbuffer_add(b, "", 1);
	fw_ctl_reply(call->conn, 200, (const char *)evbuffer_pullup(b, -1));
	evbuffer_free(b);
}
