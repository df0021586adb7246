/* libFuzzer target for the parsers of the server's answers to our sends (worker/msg_usync.c): a frame
 * plaintext is decoded as a node and read as a usync device list, a usync contact answer and a prekey
 * bundle answer (as the server's reply to our iq would be); the raw bytes also go through the
 * DeviceSentMessage wrapper's protobuf walk (msg_stanza.c); the node is also read as a <call> (msg_call_parse). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../worker/msg_wire.h"
#include "wa_binary.h"
#include "wa_node.h"

#define MSG_WIRE_FUZZ_MAX_LEN (1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *users[] = { "15551234567@s.whatsapp.net", "123456789012345@lid", "1@s.whatsapp.net" };
	static const char *devices[] = { "15551234567@s.whatsapp.net", "15551234567:3@s.whatsapp.net",
	    "123456789012345:1@lid" };
	struct wa_signal_bundle b;
	struct wa_node *n;
	uint16_t devs[MSG_WIRE_DEVICES_MAX];
	uint8_t *dsm;
	size_t ndevs, dlen;
	char err[128], jid[MSG_WIRE_JID_MAX], lid[MSG_WIRE_JID_MAX];
	int exists, rc;

	if (size > MSG_WIRE_FUZZ_MAX_LEN)
		return 0;
	if (msg_stanza_dsm("15551234567@s.whatsapp.net", data, size, &dsm, &dlen) == 0)
		free(dsm);
	if ((n = wa_binary_decode(data, size, err, sizeof(err))) == NULL)
		return 0;
	{
		struct msg_call c;
		const char *why;

		if (msg_call_parse(n, &c, &why) == 0 && (c.id[0] == '\0' || c.from[0] == '\0' || c.chat_id[0] == '\0' ||
		    memchr(c.status, '\0', sizeof(c.status)) == NULL))
			abort();
	}
	for (size_t i = 0; i < 3; i++) {
		rc = msg_usync_devices(n, users[i], devs, MSG_WIRE_DEVICES_MAX, &ndevs);
		if (rc == 1 && (ndevs == 0 || ndevs > MSG_WIRE_DEVICES_MAX))
			abort();
		(void)msg_usync_lid(n, users[i], lid, sizeof(lid));
		if (msg_usync_contact(n, "15551234567", &exists, jid, sizeof(jid), lid, sizeof(lid)) == 0 && exists &&
		    jid[0] == '\0')
			abort();
		(void)msg_keys_bundle(n, devices[i], &b);
		(void)msg_keys_parse(n, 1, 2, &b);
	}
	wa_node_free(n);
	return 0;
}
