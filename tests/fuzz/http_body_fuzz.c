/* Fuzz the supervisor's request-body path: JSON parsing and every body validator. */
#include "json_strict.h"
#include "validate.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object *body, *errs, *wh;
	char *events = NULL, err[160];
	int bad_url = 0;

	if (size > 65536)
		return 0;
	/* as http_parse_body reads a JSON body */
	if (json_strict_parse((const char *)data, size, &body, err, sizeof(err)) == -1 || body == NULL)
		return 0;
	errs = json_object_new_array();
	if (json_object_is_type(body, json_type_object)) {
		const char *s;
		v_field(errs, body, "", "instanceName", V_STRING, 1);
		v_field(errs, body, "", "rejectCall", V_BOOL, 1);
		v_field(errs, body, "", "port", V_STRING, 0);
		if ((s = v_str(body, "instanceName", NULL)) != NULL)
			v_instance_name_ok(s);
		if ((s = v_str(body, "url", NULL)) != NULL)
			v_url_ok(s);
		v_proxy(v_str(body, "host", ""), v_str(body, "port", ""), v_str(body, "protocol", ""));
		wh = v_field(errs, body, "", "webhook", V_OBJECT, 0);
		if (wh != NULL && v_webhook(errs, wh, "webhook.", 1, &bad_url, &events) == 0)
			free(events);
	}
	json_object_put(errs);
	json_object_put(body);
	return 0;
}
