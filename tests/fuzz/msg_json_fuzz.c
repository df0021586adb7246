/*
 * Fuzz the Message protobuf -> JSON renderer: any bytes must be refused or rendered, never crash or recurse
 * without bound, and what renders must serialize to JSON that json-c parses back, in well-formed UTF-8
 * that reads back equal, with a known messageType.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "msg_json.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One input: render, normalize, serialize, parse back. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char type[MSG_JSON_TYPE_MAX], err[256];
	struct json_tokener *tok;
	json_object *o, *back;
	const char *s;

	if (msg_json_from_bytes(data, size, &o, type, sizeof(type), err, sizeof(err)) == -1) {
		if (o != NULL || type[0] != '\0' || err[0] == '\0')
			abort();
		return 0;
	}
	if (type[0] == '\0' || (strcmp(type, "unknown") != 0 && strcmp(type, "conversation") != 0 &&
	    strstr(type, "Message") == NULL))
		abort();
	msg_json_normalize(o, type, sizeof(type));
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	if (!utf8_valid(s, strlen(s), NULL))
		abort();
	/* Sub-messages, arrays and long.js objects nest past json-c's default parse depth of 32. */
	tok = json_tokener_new_ex(4 * MSG_JSON_MAX_DEPTH);
	back = json_tokener_parse_ex(tok, s, (int)strlen(s));
	/* Compared as text: a double written "2" reads back as an int, which json_object_equal calls different. */
	if (back == NULL || strcmp(s, json_object_to_json_string_ext(back, JSON_C_TO_STRING_PLAIN)) != 0)
		abort();
	json_object_put(back);
	json_tokener_free(tok);
	json_object_put(o);
	return 0;
}
