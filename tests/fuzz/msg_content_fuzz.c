/*
 * Fuzz the worker's reading of a decrypted Message (worker/msg_content.c): any bytes are refused or read, never
 * crash or recurse without bound; what it keeps to store must itself read back as content, with no sender key
 * distribution left in it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../worker/msg_content.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msg_content c, again;
	char err[256];

	if (msg_content_parse(data, size, &c, err, sizeof(err)) == -1) {
		if (c.message != NULL || c.skdm != NULL || c.dsm_dest != NULL || err[0] == '\0')
			abort();
		return 0;
	}
	if ((c.skdm == NULL) != (c.skdm_group == NULL))
		abort();
	if (c.message != NULL) {
		/* The stored form is a Message again; unless it was unwrapped from a DSM (whose inner message may
		 * be anything), it reads back as the same content, without an SKDM. */
		if (msg_content_parse(c.message, c.len, &again, err, sizeof(err)) == -1)
			abort();
		if (c.dsm_dest == NULL && (again.message == NULL || again.skdm != NULL || again.len != c.len ||
		    memcmp(again.message, c.message, c.len) != 0))
			abort();
		msg_content_clear(&again);
	}
	msg_content_clear(&c);
	return 0;
}
