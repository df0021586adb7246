/* libFuzzer target: the history sync body builder (fw_history.h) on any body a test could POST, checking what it
 * promises: an error is a NUL-terminated reason; a success is a Message whose protocolMessage is a
 * HISTORY_SYNC_NOTIFICATION with an inline payload and, when no rawPayload was asked for, that payload inflates
 * to a HistorySync within the caps. Listed for tests/fuzz/run.sh as: fakewa_history tests/fakewa/fw_history_fuzz.c
 * tests/fakewa/fw_history.c common/b64.c common/xmalloc.c common/log.c @build/proto/e2e.pb-c.c
 * @build/proto/adv.pb-c.c @build/proto/history.pb-c.c */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fw_history.h"

#include "e2e.pb-c.h"
#include "history.pb-c.h"

#include <zlib.h>

#define FUZZ_MAX_INPUT	65536	/* the builder's cost is linear; longer inputs find nothing new */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The payload inflates to a HistorySync within the caps (a built one is under 128 times the input: the
 * conversation id, up to FW_HISTORY_STRING_MAX bytes, is repeated in the key of each message, "{}" or so). */
static void
fuzz_check_sync(const ProtobufCBinaryData *payload, size_t size)
{
	uLongf len = (uLongf)size * 128 + 4096;
	uint8_t *buf = malloc(len);
	Wa__HistorySync *hs;
	size_t nmsg = 0;

	if (buf == NULL || uncompress(buf, &len, payload->data, payload->len) != Z_OK ||
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[192];
	uint8_t *out;
	size_t outlen;
	Wa__Message *msg;
	Wa__ProtocolMessage *pm;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	memset(err, 'x', sizeof(err));
	if (fw_history_build((const char *)data, size, &out, &outlen, err, sizeof(err)) == -1) {
		if (memchr(err, '\0', sizeof(err)) == NULL || out != NULL)
			abort();
		return 0;
	}
	if ((msg = wa__message__unpack(NULL, outlen, out)) == NULL || (pm = msg->protocolmessage) == NULL ||
	    pm->type != WA__PROTOCOL_MESSAGE__TYPE__HISTORY_SYNC_NOTIFICATION || pm->historysyncnotification == NULL ||
	    !pm->historysyncnotification->has_initialhistbootstrapinlinepayload)
		abort();
	/* rawPayload (spelt plainly; an escaped key would hide it from this check) is sent as it is */
	if (memmem(data, size, "rawPayload", 10) == NULL && memchr(data, '\\', size) == NULL)
		fuzz_check_sync(&pm->historysyncnotification->initialhistbootstrapinlinepayload, size);
	wa__message__free_unpacked(msg, NULL);
	free(out);
	return 0;
}
