/* libFuzzer target: the history sync body builder (fw_history.h) on any body a test could POST, checking what it
 * promises: an error is a NUL-terminated reason; a success is a Message whose protocolMessage is a
 * HISTORY_SYNC_NOTIFICATION with either an inline payload or (media mode, the put below called once) the
 * blob's fields and no inline payload; and, when no rawPayload was asked for, the payload inflates to a
 * HistorySync within the caps. The put is a stand-in that fails now and then, so the error path after the payload
 * is fuzzed too (ASan reports a leak there). Listed for tests/fuzz/run.sh as: fakewa_history
 * tests/fakewa/fw_history_fuzz.c tests/fakewa/fw_history.c common/b64.c common/xmalloc.c common/log.c
 * @build/proto/e2e.pb-c.c @build/proto/adv.pb-c.c @build/proto/history.pb-c.c */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fw_history.h"

#include "e2e.pb-c.h"
#include "history.pb-c.h"

#include <zlib.h>

#define FUZZ_MAX_INPUT	65536	/* the builder's cost is linear; longer inputs find nothing new */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the stand-in put saw. */
struct fuzz_put {
	int calls, flags;
	size_t len;
	uint8_t *payload;	/* a copy, checked after the build */
};

/* The payload inflates to a HistorySync within the caps (a built one is under 128 times the input: the
 * conversation id, up to FW_HISTORY_STRING_MAX bytes, is repeated in the key of each message, "{}" or so). */
static void
fuzz_check_sync(const uint8_t *payload, size_t plen, size_t size)
{
	uLongf len = (uLongf)size * 128 + 4096;
	uint8_t *buf = malloc(len);
	Wa__HistorySync *hs;
	size_t nmsg = 0;

	if (buf == NULL || uncompress(buf, &len, payload, plen) != Z_OK ||
	    (hs = wa__history_sync__unpack(NULL, len, buf)) == NULL || hs->n_conversations >
	    FW_HISTORY_CONVERSATIONS_MAX || hs->n_pushnames > FW_HISTORY_ENTRIES_MAX ||
	    hs->n_phonenumbertolidmappings > FW_HISTORY_ENTRIES_MAX)
		abort();
	for (size_t i = 0; i < hs->n_conversations; i++)
		for (size_t k = 0; k < hs->conversations[i]->n_messages; k++)
			if (hs->conversations[i]->messages[k]->msgorderid != nmsg++)
				abort();
	if (nmsg > FW_HISTORY_MESSAGES_MAX)
		abort();
	wa__history_sync__free_unpacked(hs, NULL);
	free(buf);
}

/* The stand-in media store: fills m with a recognisable blob description, and fails for one payload length in
 * seven (with a reason, as the real one does). */
static int
fuzz_put(void *arg, const uint8_t *payload, size_t len, int flags, struct fw_history_media *m, char *err,
    size_t errlen)
{
	struct fuzz_put *p = arg;

	int fail = flags >> FW_HISTORY_MEDIA_FAIL_SHIFT;

	if (p->calls++ > 0 || (flags & ~(FW_HISTORY_MEDIA_CORRUPT | FW_HISTORY_MEDIA_MISSING |
	    0xf << FW_HISTORY_MEDIA_FAIL_SHIFT)) != 0 || fail > FW_HISTORY_MEDIA_FAIL_MAX ||
	    (flags & (FW_HISTORY_MEDIA_CORRUPT | FW_HISTORY_MEDIA_MISSING)) ==
	    (FW_HISTORY_MEDIA_CORRUPT | FW_HISTORY_MEDIA_MISSING) || (fail > 0 && (flags & FW_HISTORY_MEDIA_MISSING)))
		abort();
	if (len % 7 == 3) {
		snprintf(err, errlen, "stand-in failure");
		return -1;
	}
	p->flags = flags;
	p->len = len;
	p->payload = malloc(len + 1);
	if (p->payload == NULL)
		abort();
	memcpy(p->payload, payload, len);
	memset(m->media_key, 0xa5, sizeof(m->media_key));
	memset(m->file_sha256, 0x5a, sizeof(m->file_sha256));
	memset(m->file_enc_sha256, 0x3c, sizeof(m->file_enc_sha256));
	m->file_length = len;
	/* longer than the field, unterminated: the builder must not read past it */
	memset(m->direct_path, 'p', sizeof(m->direct_path));
	return 0;
}

/* A media notification names the blob put described, and carries nothing inline. */
static void
fuzz_check_media(const Wa__HistorySyncNotification *note, const struct fuzz_put *p)
{
	if (note->has_initialhistbootstrapinlinepayload || note->directpath == NULL ||
	    strlen(note->directpath) != FW_HISTORY_PATH_MAX - 1 || !note->has_mediakey || note->mediakey.len != 32 ||
	    note->mediakey.data[0] != 0xa5 || !note->has_filesha256 || note->filesha256.len != 32 ||
	    note->filesha256.data[31] != 0x5a || !note->has_fileencsha256 || note->fileencsha256.len != 32 ||
	    note->fileencsha256.data[0] != 0x3c || !note->has_filelength || note->filelength != p->len)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fw_history_media m;
	struct fuzz_put p;
	char err[192];
	uint8_t *out;
	size_t outlen;
	Wa__Message *msg;
	Wa__ProtocolMessage *pm;
	Wa__HistorySyncNotification *note;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	memset(err, 'x', sizeof(err));
	memset(&p, 0, sizeof(p));
	if (fw_history_build((const char *)data, size, fuzz_put, &p, &m, &out, &outlen, err, sizeof(err)) == -1) {
		if (memchr(err, '\0', sizeof(err)) == NULL || out != NULL || p.payload != NULL)
			abort();
		return 0;
	}
	if ((msg = wa__message__unpack(NULL, outlen, out)) == NULL || (pm = msg->protocolmessage) == NULL ||
	    pm->type != WA__PROTOCOL_MESSAGE__TYPE__HISTORY_SYNC_NOTIFICATION ||
	    (note = pm->historysyncnotification) == NULL)
		abort();
	if (p.calls > 0)
		fuzz_check_media(note, &p);
	else if (!note->has_initialhistbootstrapinlinepayload || note->directpath != NULL || note->has_mediakey ||
	    m.direct_path[0] != '\0')
		abort();
	/* rawPayload (spelt plainly; an escaped key would hide it from this check) is sent as it is */
	if (memmem(data, size, "rawPayload", 10) == NULL && memchr(data, '\\', size) == NULL)
		fuzz_check_sync(p.calls > 0 ? p.payload : note->initialhistbootstrapinlinepayload.data,
		    p.calls > 0 ? p.len : note->initialhistbootstrapinlinepayload.len, size);
	wa__message__free_unpacked(msg, NULL);
	free(p.payload);
	free(out);
	return 0;
}
