/* Request body checks in the words Evolution's JSON-schema validator uses, so clients see the same messages. */
#ifndef WAGATE_VALIDATE_H
#define WAGATE_VALIDATE_H

#include <json-c/json.h>

/* V_SETTING: a string a worker receives (settings, proxy), at most SETTINGS_FIELD_MAX bytes, the cap the worker
 * enforces on IPC: a longer one must be refused here, or the worker would refuse its Start and restart forever. */
/* V_INTEGER: a JSON number without a fraction (1.0 counts, as JSON Schema's "integer" says). */
enum v_kind { V_BOOL, V_STRING, V_OBJECT, V_ARRAY, V_NUMBER, V_SETTING, V_INTEGER };

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

/* Check an events array against Evolution's instance event names (errors schema-style into errs). */
void v_events(struct json_object *errs, struct json_object *events, const char *prefix);
/* Check a webhook object ({enabled, url, headers, byEvents, base64, events}); schema errors go to errs and a
 * bad url sets *bad_url. On success *events_out is a malloc'd SQL text[] literal of the stored event list. */
int v_webhook(struct json_object *errs, struct json_object *wh, const char *prefix, int need_enabled,
    int *bad_url, char **events_out);
int v_proxy(const char *host, const char *port, const char *protocol);
const char *v_proxy_message(const char *protocol);

#define V_NUMBER_MAX	15		/* digits of an E.164 number */
/* Evolution's schema message for a number that cannot be one (its pattern, as jsonschema prints it). */
#define V_NUMBER_PATTERN_MSG	"number does not match pattern \"^\\\\d+[\\\\.@\\\\w-]+\""
/* A phone number as people type it ("+55 11 99999-0001", "(11) 9999-0001", "5511...@s.whatsapp.net") as its
 * digits in out (at least V_NUMBER_MAX + 1 bytes). 0, or -1 when it cannot be a number. */
int v_number(const char *in, char *out, size_t outlen);


/* Chat finds (issue 9). */
#define V_JID_MAX	128		/* longest JID a find compares (Evolution's columns are VARCHAR(100)) */
/* A number or JID as Evolution's createJid normalises it: a JID with a known server is kept (less a ":device"
 * suffix), else digits become a user JID (MX/AR 13-digit and BR 13-digit mobile rules) or a group id. 0, or -1
 * when the result would not fit in out. */
int v_jid(const char *in, char *out, size_t outlen);
/* A date as JavaScript's new Date(v) reads the ones clients send: a number of milliseconds since the epoch, or
 * an ISO 8601 string (date only, or date and time with an optional zone; no zone = UTC). Floored to epoch
 * seconds in *out. 0, or -1 when it is not such a date. */
int v_date(struct json_object *v, long long *out);

#endif
