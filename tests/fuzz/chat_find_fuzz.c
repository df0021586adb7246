/* Fuzz what the chat finds read from a request: createJid on where.remoteJid, dates of
 * where.messageTimestamp (as strings and as any JSON value), and lastMessage cleaning of stored JSON. */
#include "chat_find.h"
#include "json_strict.h"
#include "validate.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object *v, *s;
	char *str, jid[V_JID_MAX + 32], err[160];
	long long t;

	if (size > 4096)
		return 0;
	str = malloc(size + 1);
	memcpy(str, data, size);
	str[size] = '\0';
	if (v_jid(str, jid, sizeof(jid)) == 0 && strlen(jid) >= sizeof(jid))
		abort();
	s = json_object_new_string(str);
	v_date(s, &t);
	json_object_put(s);
	free(str);
	if (json_strict_parse((const char *)data, size, &v, err, sizeof(err)) == 0 && v != NULL) {
		v_date(v, &t);
		chat_find_message_clean(v);
		json_object_put(v);
	}
	return 0;
}
