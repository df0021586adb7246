/* Request body checks in the words Evolution's JSON-schema validator uses, so clients see the same messages. */
#ifndef WAGATE_VALIDATE_H
#define WAGATE_VALIDATE_H

#include <json-c/json.h>

enum v_kind { V_BOOL, V_STRING, V_OBJECT, V_ARRAY, V_NUMBER };

/* Append an error to errs when obj.field is present with the wrong type, or absent while required.
 * prefix is "" for top-level fields or e.g. "webhook." for nested ones. Returns the value or NULL. */
struct json_object *v_field(struct json_object *errs, struct json_object *obj, const char *prefix,
    const char *field, enum v_kind kind, int required);
/* Fetch helpers with defaults, for fields already checked. */
int v_bool(struct json_object *obj, const char *field, int def);
const char *v_str(struct json_object *obj, const char *field, const char *def);
/* http(s)://host[:port][/...] with a non-empty host and no spaces or control characters. */
int v_url_ok(const char *url);
/* Instance names go in URL paths: 1-100 bytes, no '/', '?', '#', '%' or control characters. */
int v_instance_name_ok(const char *name);

/* Check a webhook object ({enabled, url, headers, byEvents, base64, events}); schema errors go to errs and a
 * bad url sets *bad_url. On success *events_out is a malloc'd SQL text[] literal of the stored event list. */
int v_webhook(struct json_object *errs, struct json_object *wh, const char *prefix, int need_enabled,
    int *bad_url, char **events_out);
int v_proxy(const char *host, const char *port, const char *protocol);

#endif
