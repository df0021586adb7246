/* Fuzz the strict JSON reader of request bodies: it must never crash, a refusal must say why (and come from the
 * grammar, never from json-c disagreeing with it), and what it accepts must hold no NUL in any string and come
 * back accepted once json-c has written it out again. */
#include "json_strict.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Abort when a string anywhere in o holds a NUL (json-c would cut it short for C callers). */
static void
check_no_nul(struct json_object *o)
{
	size_t i, n;

	switch (json_object_get_type(o)) {
	case json_type_string:
		if (strlen(json_object_get_string(o)) != (size_t)json_object_get_string_len(o))
			abort();
		break;
	case json_type_object: {
		json_object_object_foreach(o, k, v) {
			(void)k;
			check_no_nul(v);
		}
		break;
	}
	case json_type_array:
		n = json_object_array_length(o);
		for (i = 0; i < n; i++)
			check_no_nul(json_object_array_get_idx(o, i));
		break;
	default:
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object *o, *again;
	const char *text;
	size_t tlen;
	char err[160];

	if (size > 65536)
		return 0;
	if (json_strict_parse((const char *)data, size, &o, err, sizeof(err)) == -1) {
		/* every refusal of the grammar names a byte; one without is json-c disagreeing with the grammar */
		if (err[0] == '\0' || o != NULL || strstr(err, " at byte ") == NULL)
			abort();
		return 0;
	}
	check_no_nul(o);
	text = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &tlen);
	if (json_strict_parse(text, tlen, &again, err, sizeof(err)) == -1)
		abort();
	json_object_put(again);
	json_object_put(o);
	return 0;
}
