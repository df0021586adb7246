/* The history sync body builder (see fw_history.h). */
#include "fw_history.h"

#include "b64.h"
#include "xmalloc.h"

#include "e2e.pb-c.h"
#include "history.pb-c.h"

#include <json-c/json.h>
#include <zlib.h>

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Everything one build allocates, freed in one place whatever the outcome. The protobuf-c structs point into
 * the JSON tree for their strings, so root outlives the packing. */
struct fw_history {
	struct json_object *root;
	Wa__HistorySync hs;
	Wa__Conversation *conv, **convp;
	Wa__HistorySyncMsg *msg, **msgp;	/* msgp: sliced per conversation */
	Wa__WebMessageInfo *info;
	Wa__MessageKey *key;
	size_t nmsg;				/* messages filled so far (info[i].message.data to free) */
	Wa__Pushname *pn, **pnp;
	Wa__PhoneNumberToLIDMapping *map, **mapp;
	fw_history_put_fn *put;			/* media mode's store, or NULL */
	void *arg;
	struct fw_history_media *m;
	char *err;
	size_t errlen;
};

/* Set the error and fail. */
static int __attribute__((format(printf, 2, 3)))
fw_history_fail(struct fw_history *h, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(h->err, h->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Refuse a key of obj not in the NULL-terminated list: a misspelt key would otherwise be dropped silently and
 * the test would send something else than it meant. */
static int
fw_history_keys(struct fw_history *h, struct json_object *obj, const char *where, const char *const *allowed)
{
	size_t i;

	if (!json_object_is_type(obj, json_type_object))
		return fw_history_fail(h, "%s must be an object", where);
	json_object_object_foreach(obj, k, v) {
		(void)v;
		for (i = 0; allowed[i] != NULL && strcmp(allowed[i], k) != 0; i++)
			;
		if (allowed[i] == NULL)
			return fw_history_fail(h, "unknown key %.64s in %s", k, where);
	}
	return 0;
}

/* An optional string member: *out NULL when absent. No NUL inside (the protobuf strings are C strings). */
static int
fw_history_str(struct fw_history *h, struct json_object *obj, const char *key, size_t max, char **out)
{
	struct json_object *v;
	size_t n;

	*out = NULL;
	if (!json_object_object_get_ex(obj, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return fw_history_fail(h, "%s must be a string", key);
	n = (size_t)json_object_get_string_len(v);
	if (n > max || memchr(json_object_get_string(v), '\0', n) != NULL)
		return fw_history_fail(h, "%s must be a string of at most %zu bytes without NUL", key, max);
	*out = (char *)json_object_get_string(v);
	return 0;
}

/* An optional integer member in 0..max: *has 0 when absent. */
static int
fw_history_uint(struct fw_history *h, struct json_object *obj, const char *key, int64_t max, uint64_t *out,
    protobuf_c_boolean *has)
{
	struct json_object *v;
	int64_t n;

	*has = 0;
	if (!json_object_object_get_ex(obj, key, &v))
		return 0;
	/* json-c saturates a big integer at INT64_MAX: that is still over every max below it */
	if (!json_object_is_type(v, json_type_int) || (n = json_object_get_int64(v)) < 0 || n > max)
		return fw_history_fail(h, "%s must be an integer in 0..%lld", key, (long long)max);
	*out = (uint64_t)n;
	*has = 1;
	return 0;
}

/* An optional array member of at most max elements: *n 0 when absent. */
static int
fw_history_array(struct fw_history *h, struct json_object *obj, const char *key, size_t max,
    struct json_object **arr, size_t *n)
{
	*arr = NULL;
	*n = 0;
	if (!json_object_object_get_ex(obj, key, arr))
		return 0;
	if (!json_object_is_type(*arr, json_type_array) || (*n = json_object_array_length(*arr)) > max)
		return fw_history_fail(h, "%s must be an array of at most %zu elements", key, max);
	return 0;
}

/* One message of a conversation into h->msg[h->nmsg] (with its WebMessageInfo and key). */
static int
fw_history_message(struct fw_history *h, struct json_object *m, char *chat)
{
	static const char *const keys[] = { "id", "fromMe", "text", "timestamp", "participant", "pushName", "status",
	    NULL };
	Wa__HistorySyncMsg *hm = &h->msg[h->nmsg];
	Wa__WebMessageInfo *wi = &h->info[h->nmsg];
	Wa__MessageKey *k = &h->key[h->nmsg];
	Wa__Message body = WA__MESSAGE__INIT;
	struct json_object *v;
	uint64_t u;
	protobuf_c_boolean has;
	char *text;

	wa__history_sync_msg__init(hm);
	wa__web_message_info__init(wi);
	wa__message_key__init(k);
	if (fw_history_keys(h, m, "a message", keys) == -1 || fw_history_str(h, m, "id", FW_HISTORY_STRING_MAX,
	    &k->id) == -1 || fw_history_str(h, m, "participant", FW_HISTORY_STRING_MAX, &wi->participant) == -1 ||
	    fw_history_str(h, m, "pushName", FW_HISTORY_STRING_MAX, &wi->pushname) == -1 ||
	    fw_history_str(h, m, "text", FW_HISTORY_TEXT_MAX, &text) == -1 ||
	    fw_history_uint(h, m, "timestamp", INT64_MAX, &wi->messagetimestamp, &wi->has_messagetimestamp) == -1 ||
	    fw_history_uint(h, m, "status", WA__WEB_MESSAGE_INFO__STATUS__PLAYED, &u, &has) == -1)
		return -1;
	if (json_object_object_get_ex(m, "fromMe", &v)) {
		if (!json_object_is_type(v, json_type_boolean))
			return fw_history_fail(h, "fromMe must be true or false");
		k->has_fromme = 1;
		k->fromme = json_object_get_boolean(v);
	}
	k->remotejid = chat;
	k->participant = wi->participant;
	wi->key = k;
	wi->has_status = has;
	wi->status = (Wa__WebMessageInfo__Status)u;
	if (text != NULL) {
		body.conversation = text;
		wi->message.len = wa__message__get_packed_size(&body);
		wi->message.data = xmalloc(wi->message.len > 0 ? wi->message.len : 1);
		wa__message__pack(&body, wi->message.data);
		wi->has_message = 1;
	}
	hm->message = wi;
	hm->has_msgorderid = 1;
	hm->msgorderid = h->nmsg++;
	return 0;
}

/* The conversations: counted first, so the message arrays are allocated once and the cap holds over all. */
static int
fw_history_conversations(struct fw_history *h)
{
	static const char *const keys[] = { "id", "name", "displayName", "pnJid", "lidJid", "unreadCount",
	    "conversationTimestamp", "messages", NULL };
	struct json_object *arr, *c, *msgs;
	Wa__Conversation *cv;
	size_t n, nm, total = 0;
	uint64_t u;

	if (fw_history_array(h, h->root, "conversations", FW_HISTORY_CONVERSATIONS_MAX, &arr, &n) == -1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		c = json_object_array_get_idx(arr, i);
		if (json_object_is_type(c, json_type_object) && fw_history_array(h, c, "messages",
		    FW_HISTORY_MESSAGES_MAX, &msgs, &nm) == -1)
			return -1;
		if (json_object_is_type(c, json_type_object) && (total += nm) > FW_HISTORY_MESSAGES_MAX)
			return fw_history_fail(h, "more than %d messages", FW_HISTORY_MESSAGES_MAX);
	}
	h->conv = xcalloc(n + 1, sizeof(*h->conv));
	h->convp = xcalloc(n + 1, sizeof(*h->convp));
	h->msg = xcalloc(total + 1, sizeof(*h->msg));
	h->msgp = xcalloc(total + 1, sizeof(*h->msgp));
	h->info = xcalloc(total + 1, sizeof(*h->info));
	h->key = xcalloc(total + 1, sizeof(*h->key));
	for (size_t i = 0; i < n; i++) {
		c = json_object_array_get_idx(arr, i);
		cv = &h->conv[i];
		wa__conversation__init(cv);
		if (fw_history_keys(h, c, "a conversation", keys) == -1 ||
		    fw_history_str(h, c, "id", FW_HISTORY_STRING_MAX, &cv->id) == -1 ||
		    fw_history_str(h, c, "name", FW_HISTORY_STRING_MAX, &cv->name) == -1 ||
		    fw_history_str(h, c, "displayName", FW_HISTORY_STRING_MAX, &cv->displayname) == -1 ||
		    fw_history_str(h, c, "pnJid", FW_HISTORY_STRING_MAX, &cv->pnjid) == -1 ||
		    fw_history_str(h, c, "lidJid", FW_HISTORY_STRING_MAX, &cv->lidjid) == -1 ||
		    fw_history_uint(h, c, "unreadCount", UINT32_MAX, &u, &cv->has_unreadcount) == -1 ||
		    fw_history_uint(h, c, "conversationTimestamp", INT64_MAX, &cv->conversationtimestamp,
		    &cv->has_conversationtimestamp) == -1 ||
		    fw_history_array(h, c, "messages", FW_HISTORY_MESSAGES_MAX, &msgs, &nm) == -1)
			return -1;
		cv->unreadcount = (uint32_t)u;
		cv->messages = h->msgp + h->nmsg;
		cv->n_messages = nm;
		for (size_t j = 0; j < nm; j++) {
			h->msgp[h->nmsg] = &h->msg[h->nmsg];
			if (fw_history_message(h, json_object_array_get_idx(msgs, j), cv->id) == -1)
				return -1;
		}
		h->convp[i] = cv;
	}
	h->hs.conversations = h->convp;
	h->hs.n_conversations = n;
	return 0;
}

/* pushnames and lidMappings: two flat lists of string pairs. */
static int
fw_history_pairs(struct fw_history *h)
{
	static const char *const pnkeys[] = { "id", "pushname", NULL }, *const mapkeys[] = { "pn", "lid", NULL };
	struct json_object *arr, *e;
	size_t n;

	if (fw_history_array(h, h->root, "pushnames", FW_HISTORY_ENTRIES_MAX, &arr, &n) == -1)
		return -1;
	h->pn = xcalloc(n + 1, sizeof(*h->pn));
	h->pnp = xcalloc(n + 1, sizeof(*h->pnp));
	for (size_t i = 0; i < n; i++) {
		e = json_object_array_get_idx(arr, i);
		wa__pushname__init(&h->pn[i]);
		if (fw_history_keys(h, e, "a pushname", pnkeys) == -1 ||
		    fw_history_str(h, e, "id", FW_HISTORY_STRING_MAX, &h->pn[i].id) == -1 ||
		    fw_history_str(h, e, "pushname", FW_HISTORY_STRING_MAX, &h->pn[i].pushname) == -1)
			return -1;
		h->pnp[i] = &h->pn[i];
	}
	h->hs.pushnames = h->pnp;
	h->hs.n_pushnames = n;
	if (fw_history_array(h, h->root, "lidMappings", FW_HISTORY_ENTRIES_MAX, &arr, &n) == -1)
		return -1;
	h->map = xcalloc(n + 1, sizeof(*h->map));
	h->mapp = xcalloc(n + 1, sizeof(*h->mapp));
	for (size_t i = 0; i < n; i++) {
		e = json_object_array_get_idx(arr, i);
		wa__phone_number_to_lidmapping__init(&h->map[i]);
		if (fw_history_keys(h, e, "a lidMapping", mapkeys) == -1 ||
		    fw_history_str(h, e, "pn", FW_HISTORY_STRING_MAX, &h->map[i].pnjid) == -1 ||
		    fw_history_str(h, e, "lid", FW_HISTORY_STRING_MAX, &h->map[i].lidjid) == -1)
			return -1;
		h->mapp[i] = &h->map[i];
	}
	h->hs.phonenumbertolidmappings = h->mapp;
	h->hs.n_phonenumbertolidmappings = n;
	return 0;
}

/* The body as one JSON object (strict, UTF-8, bounded depth, nothing after it). NULL with the reason. */
static struct json_object *
fw_history_parse(struct fw_history *h, const char *body, size_t len)
{
	struct json_tokener *tok;
	struct json_object *o;
	size_t end;

	/* json-c would stop at a NUL and take what came before it for the whole body */
	if (len > INT_MAX || memchr(body, '\0', len) != NULL) {
		fw_history_fail(h, "the body must be a JSON object");
		return NULL;
	}
	if ((tok = json_tokener_new_ex(FW_HISTORY_DEPTH)) == NULL) {
		fw_history_fail(h, "out of memory");
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, body, (int)len);
	end = json_tokener_get_parse_end(tok);
	/* the body need not be NUL-terminated: no str* function past len */
	while (o != NULL && end < len && memchr(" \t\r\n", body[end], 4) != NULL)
		end++;
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success || end != len ||
	    !json_object_is_type(o, json_type_object)) {
		fw_history_fail(h, "the body must be one JSON object (%s)", o == NULL ?
		    json_tokener_error_desc(json_tokener_get_error(tok)) : "trailing data or not an object");
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* The payload (malloc'd), inline or a media blob: rawPayload decoded, or the HistorySync packed and zlibbed. */
static int
fw_history_payload(struct fw_history *h, uint8_t **out, size_t *outlen)
{
	struct json_object *raw;
	uint8_t *packed;
	size_t plen, max;
	uLongf zlen;
	int rc;

	if (json_object_object_get_ex(h->root, "rawPayload", &raw)) {
		if (!json_object_is_type(raw, json_type_string))
			return fw_history_fail(h, "rawPayload must be a base64 string");
		max = b64_decoded_max((size_t)json_object_get_string_len(raw));
		*out = xmalloc(max + 1);
		if (b64_decode(json_object_get_string(raw), (size_t)json_object_get_string_len(raw), *out, max,
		    outlen) == -1) {
			free(*out);
			*out = NULL;
			return fw_history_fail(h, "rawPayload is not base64");
		}
		return 0;
	}
	plen = wa__history_sync__get_packed_size(&h->hs);
	packed = xmalloc(plen + 1);
	wa__history_sync__pack(&h->hs, packed);
	zlen = compressBound((uLong)plen);
	*out = xmalloc(zlen);
	/* zlib format (header and Adler-32), as whatsmeow's zlib.NewReader and Baileys' inflate read it */
	rc = compress2(*out, &zlen, packed, (uLong)plen, Z_DEFAULT_COMPRESSION);
	free(packed);
	if (rc != Z_OK) {
		free(*out);
		*out = NULL;
		return fw_history_fail(h, "zlib: %s", zError(rc));
	}
	*outlen = zlen;
	return 0;
}

/* An optional boolean member: 0 when absent. -1 when it is not a boolean. */
static int
fw_history_bool(struct fw_history *h, const char *key, int *out)
{
	struct json_object *v;

	*out = 0;
	if (!json_object_object_get_ex(h->root, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return fw_history_fail(h, "%s must be true or false", key);
	*out = json_object_get_boolean(v);
	return 0;
}

/* The media keys of the body: -1 if malformed, else 0 with *media set and *flags the FW_HISTORY_MEDIA_* bits.
 * The two faults need media mode: without it a test would get an inline chunk and believe it tested a fault. */
static int
fw_history_media_flags(struct fw_history *h, int *media, int *flags)
{
	uint64_t fail = 0;
	protobuf_c_boolean has_fail;
	int corrupt, missing;

	*flags = 0;
	if (fw_history_bool(h, "media", media) == -1 || fw_history_bool(h, "mediaCorrupt", &corrupt) == -1 ||
	    fw_history_bool(h, "mediaMissing", &missing) == -1 ||
	    fw_history_uint(h, h->root, "mediaFailFirst", FW_HISTORY_MEDIA_FAIL_MAX, &fail, &has_fail) == -1)
		return -1;
	if ((corrupt || missing || fail > 0) && !*media)
		return fw_history_fail(h, "mediaCorrupt, mediaMissing and mediaFailFirst need media");
	if (corrupt && missing)
		return fw_history_fail(h, "mediaCorrupt and mediaMissing exclude each other");
	if (missing && fail > 0)
		return fw_history_fail(h, "mediaMissing and mediaFailFirst exclude each other");
	if (*media && h->put == NULL)
		return fw_history_fail(h, "media mode is not available");
	*flags = (corrupt ? FW_HISTORY_MEDIA_CORRUPT : 0) | (missing ? FW_HISTORY_MEDIA_MISSING : 0) |
	    (int)fail << FW_HISTORY_MEDIA_FAIL_SHIFT;
	return 0;
}

/* Media mode: the payload goes to the store, and the notification names the blob instead of carrying it. */
static int
fw_history_media(struct fw_history *h, Wa__HistorySyncNotification *note, const uint8_t *payload, size_t plen,
    int flags)
{
	struct fw_history_media *m = h->m;

	if (h->put(h->arg, payload, plen, flags, m, h->err, h->errlen) == -1)
		return -1;
	m->direct_path[sizeof(m->direct_path) - 1] = '\0';
	note->directpath = m->direct_path;
	note->has_mediakey = note->has_filesha256 = note->has_fileencsha256 = note->has_filelength = 1;
	note->mediakey.data = m->media_key;
	note->mediakey.len = sizeof(m->media_key);
	note->filesha256.data = m->file_sha256;
	note->filesha256.len = sizeof(m->file_sha256);
	note->fileencsha256.data = m->file_enc_sha256;
	note->fileencsha256.len = sizeof(m->file_enc_sha256);
	note->filelength = m->file_length;
	return 0;
}

/* The Message around the payload, with the notification's own copies of the chunk's numbers. */
static int
fw_history_message_pack(struct fw_history *h, uint8_t **out, size_t *outlen)
{
	static const char *const keys[] = { "syncType", "chunkOrder", "progress", "conversations", "pushnames",
	    "lidMappings", "rawPayload", "media", "mediaCorrupt", "mediaMissing", "mediaFailFirst", NULL };
	Wa__Message msg = WA__MESSAGE__INIT;
	Wa__ProtocolMessage pm = WA__PROTOCOL_MESSAGE__INIT;
	Wa__HistorySyncNotification note = WA__HISTORY_SYNC_NOTIFICATION__INIT;
	uint64_t type = 0, chunk = 0, progress = 0;
	uint8_t *payload;
	size_t plen;
	int media, flags;

	if (fw_history_keys(h, h->root, "the body", keys) == -1 || fw_history_media_flags(h, &media, &flags) == -1 ||
	    fw_history_uint(h, h->root, "syncType", WA__HISTORY_SYNC__HISTORY_SYNC_TYPE__ON_DEMAND, &type,
	    &note.has_synctype) == -1 ||
	    fw_history_uint(h, h->root, "chunkOrder", UINT32_MAX, &chunk, &note.has_chunkorder) == -1 ||
	    fw_history_uint(h, h->root, "progress", 100, &progress, &note.has_progress) == -1)
		return -1;
	if (json_object_object_get_ex(h->root, "rawPayload", NULL) &&
	    (json_object_object_get_ex(h->root, "conversations", NULL) ||
	    json_object_object_get_ex(h->root, "pushnames", NULL) ||
	    json_object_object_get_ex(h->root, "lidMappings", NULL)))
		return fw_history_fail(h, "rawPayload excludes conversations, pushnames and lidMappings");
	h->hs.has_synctype = note.has_synctype;
	h->hs.synctype = (Wa__HistorySync__HistorySyncType)type;
	note.synctype = (Wa__HistorySyncNotification__HistorySyncType)type;
	h->hs.has_chunkorder = note.has_chunkorder;
	h->hs.chunkorder = note.chunkorder = (uint32_t)chunk;
	h->hs.has_progress = note.has_progress;
	h->hs.progress = note.progress = (uint32_t)progress;
	if (fw_history_conversations(h) == -1 || fw_history_pairs(h) == -1 ||
	    fw_history_payload(h, &payload, &plen) == -1)
		return -1;
	if (media && fw_history_media(h, &note, payload, plen, flags) == -1) {
		free(payload);
		return -1;
	}
	if (!media) {
		note.has_initialhistbootstrapinlinepayload = 1;
		note.initialhistbootstrapinlinepayload.data = payload;
		note.initialhistbootstrapinlinepayload.len = plen;
	}
	pm.has_type = 1;
	pm.type = WA__PROTOCOL_MESSAGE__TYPE__HISTORY_SYNC_NOTIFICATION;
	pm.historysyncnotification = &note;
	msg.protocolmessage = &pm;
	*outlen = wa__message__get_packed_size(&msg);
	*out = xmalloc(*outlen + 1);
	wa__message__pack(&msg, *out);
	free(payload);
	return 0;
}

int
fw_history_build(const char *body, size_t len, fw_history_put_fn *put, void *arg, struct fw_history_media *m,
    uint8_t **out, size_t *outlen, char *err, size_t errlen)
{
	struct fw_history h;
	int rc = -1;

	memset(&h, 0, sizeof(h));
	memset(m, 0, sizeof(*m));
	wa__history_sync__init(&h.hs);
	h.put = put;
	h.arg = arg;
	h.m = m;
	h.err = err;
	h.errlen = errlen;
	*out = NULL;
	*outlen = 0;
	if ((h.root = fw_history_parse(&h, body, len)) != NULL)
		rc = fw_history_message_pack(&h, out, outlen);
	for (size_t i = 0; i < h.nmsg; i++)
		free(h.info[i].message.data);
	free(h.conv);
	free(h.convp);
	free(h.msg);
	free(h.msgp);
	free(h.info);
	free(h.key);
	free(h.pn);
	free(h.pnp);
	free(h.map);
	free(h.mapp);
	json_object_put(h.root);
	return rc;
}
