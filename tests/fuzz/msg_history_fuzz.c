/*
 * Fuzz the worker's reading of a history sync chunk (worker/msg_history.c): the input is taken as a serialized
 * HistorySync, compressed, and decoded (the parser behind the inflate), and also decoded as it is (the inflate
 * itself). Any bytes are refused or read, never crash; what is read keeps the caps and the supervisor's rules
 * (strings bounded and UTF-8, every message a history row with content).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../../common/utf8.h"
#include "../../worker/msg_history.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_str(const char *s)
{
	if (s == NULL || strlen(s) > MSG_HISTORY_STR_MAX || !utf8_valid(s, strlen(s), NULL))
		abort();
}

static void
check(const uint8_t *z, size_t zlen)
{
	struct msg_history h;
	char err[256];
	size_t i;

	if (msg_history_decode(z, zlen, &h, err, sizeof(err)) == -1) {
		if (h.nmsgs != 0 || h.nchats != 0 || h.ncontacts != 0 || h.nlids != 0 || err[0] == '\0')
			abort();
		return;
	}
	if (h.nmsgs > MSG_HISTORY_MSGS_MAX || h.nchats > MSG_HISTORY_NAMES_MAX || h.ncontacts > MSG_HISTORY_NAMES_MAX ||
	    h.nlids > MSG_HISTORY_NAMES_MAX)
		abort();
	for (i = 0; i < h.nmsgs; i++) {
		const Wagate__Ipc__StoredMessage *m = h.msgs[i];

		if (!m->history || m->message.len == 0 || m->timestamp <= 0 || *m->id == '\0' || *m->remote_jid == '\0')
			abort();
		check_str(m->id);
		check_str(m->remote_jid);
		check_str(m->remote_jid_alt);
		check_str(m->participant);
		check_str(m->push_name);
	}
	for (i = 0; i < h.nchats; i++) {
		check_str(h.chats[i]->jid);
		check_str(h.chats[i]->name);
	}
	for (i = 0; i < h.ncontacts; i++) {
		check_str(h.contacts[i]->jid);
		check_str(h.contacts[i]->name);
	}
	msg_history_clear(&h);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uLongf zlen = compressBound(size);
	uint8_t *z = malloc(zlen);

	if (z == NULL)
		return 0;
	if (compress2(z, &zlen, data, size, 1) == Z_OK)
		check(z, zlen);
	free(z);
	check(data, size);
	return 0;
}
