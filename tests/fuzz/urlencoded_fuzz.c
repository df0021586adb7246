/* Fuzz the supervisor's urlencoded body parser: any bytes must give an object or a clean refusal. */
#include "urlencoded.h"

#include <json-c/json.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object *o;
	char err[160];

	if (size > 65536)
		return 0;
	if (urlencoded_parse((const char *)data, size, &o, err, sizeof(err)) == 0) {
		if (o == NULL || !json_object_is_type(o, json_type_object))
			abort();
		/* serialising walks every node: a hole left in an array would be a NULL here */
		(void)json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
		json_object_put(o);
	} else if (o != NULL || (errno != EINVAL && errno != E2BIG) || err[0] == '\0')
		abort();
	return 0;
}
