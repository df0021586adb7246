#include "validate.h"
#include "settings.h"
#include "event_names.h"

#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *
v_kind_name(enum v_kind k)
{
	switch (k) {
	case V_BOOL: return "boolean";
	case V_STRING: case V_SETTING: return "string";
	case V_OBJECT: return "object";
	case V_ARRAY: return "array";
	default: return "number";
	}
}

static int
v_is(struct json_object *v, enum v_kind k)
{
	switch (k) {
	case V_BOOL: return json_object_is_type(v, json_type_boolean);
	case V_STRING: case V_SETTING: return json_object_is_type(v, json_type_string);
	case V_OBJECT: return json_object_is_type(v, json_type_object);
	case V_ARRAY: return json_object_is_type(v, json_type_array);
	default: return json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double);
	}
}

struct json_object *
v_field(struct json_object *errs, struct json_object *obj, const char *prefix, const char *field,
    enum v_kind kind, int required)
{
	struct json_object *v = NULL;
	char msg[512];

	if (obj == NULL || !json_object_object_get_ex(obj, field, &v) || v == NULL) {
		if (required) {
			if (*prefix == '\0')
				snprintf(msg, sizeof(msg), "instance requires property \"%s\"", field);
			else
				snprintf(msg, sizeof(msg), "%.*s requires property \"%s\"",
				    (int)strlen(prefix) - 1, prefix, field);
			json_object_array_add(errs, json_object_new_string(msg));
		}
		return NULL;
	}
	if (!v_is(v, kind)) {
		snprintf(msg, sizeof(msg), "%s%s is not of a type(s) %s", prefix, field, v_kind_name(kind));
		json_object_array_add(errs, json_object_new_string(msg));
		return NULL;
	}
	if (kind == V_SETTING && (size_t)json_object_get_string_len(v) > SETTINGS_FIELD_MAX) {
		snprintf(msg, sizeof(msg), "%s%s does not meet maximum length of %d", prefix, field, SETTINGS_FIELD_MAX);
		json_object_array_add(errs, json_object_new_string(msg));
		return NULL;
	}
	return v;
}

int
v_bool(struct json_object *obj, const char *field, int def)
{
	struct json_object *v;

	if (obj == NULL || !json_object_object_get_ex(obj, field, &v) || !json_object_is_type(v, json_type_boolean))
		return def;
	return json_object_get_boolean(v);
}

const char *
v_str(struct json_object *obj, const char *field, const char *def)
{
	struct json_object *v;

	if (obj == NULL || !json_object_object_get_ex(obj, field, &v) || !json_object_is_type(v, json_type_string))
		return def;
	return json_object_get_string(v);
}

int
v_url_ok(const char *url)
{
	const char *host, *p;

	if (strncasecmp(url, "http://", 7) == 0)
		host = url + 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		host = url + 8;
	else
		return 0;
	if (*host == '\0' || *host == '/' || *host == ':')
		return 0;
	for (p = url; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return 0;
	return strlen(url) <= 2048;
}

int
v_instance_name_ok(const char *name)
{
	size_t n = strlen(name), i;

	if (n == 0 || n > 100)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (ch < 0x20 || ch == 0x7f || ch == '/' || ch == '?' || ch == '#' || ch == '%' || ch == '\\')
			return 0;
	}
	return 1;
}

/* Check an events array: each item one of Evolution's instance event names, else its schema-style message
 * listing them (prefix.events[i] is not one of enum values: ...). events NULL is fine. */
void
v_events(struct json_object *errs, struct json_object *events, const char *prefix)
{
	const struct event_name *p;
	struct json_object *e;
	size_t i, n = events != NULL ? json_object_array_length(events) : 0;
	char msg[1024];

	for (i = 0; i < n; i++) {
		e = json_object_array_get_idx(events, i);
		if (json_object_is_type(e, json_type_string) && event_name_find(json_object_get_string(e),
		    strlen(json_object_get_string(e)), EVENT_NAME_INSTANCE) >= 0)
			continue;
		snprintf(msg, sizeof(msg), "%sevents[%zu] is not one of enum values: ", prefix, i);
		for (p = event_names; p->name != NULL; p++) {
			if (!(p->flags & EVENT_NAME_INSTANCE))
				continue;
			if (p != event_names)
				strncat(msg, ",", sizeof(msg) - strlen(msg) - 1);
			strncat(msg, p->name, sizeof(msg) - strlen(msg) - 1);
		}
		json_object_array_add(errs, json_object_new_string(msg));
	}
}

/* Check a webhook object ({enabled, url, headers, byEvents, base64, events}); errors go to errs (schema
 * style) or, for the url, to *bad_url. Builds the SQL text array literal of events into *events_out. */
int
v_webhook(struct json_object *errs, struct json_object *wh, const char *prefix, int need_enabled,
    int *bad_url, char **events_out)
{
	struct json_object *url, *events, *headers;
	size_t before = json_object_array_length(errs), i, n;
	int enabled;
	char msg[1024];

	v_field(errs, wh, prefix, "enabled", V_BOOL, need_enabled);
	url = v_field(errs, wh, prefix, "url", V_STRING, 1);
	headers = v_field(errs, wh, prefix, "headers", V_OBJECT, 0);
	v_field(errs, wh, prefix, "byEvents", V_BOOL, 0);
	v_field(errs, wh, prefix, "base64", V_BOOL, 0);
	events = v_field(errs, wh, prefix, "events", V_ARRAY, 0);
	if (headers != NULL) {
		json_object_object_foreach(headers, hk, hv) {
			if (!json_object_is_type(hv, json_type_string) || strpbrk(hk, "\r\n:") != NULL ||
			    strpbrk(json_object_get_string(hv), "\r\n") != NULL) {
				snprintf(msg, sizeof(msg), "%sheaders.%s is not of a type(s) string", prefix, hk);
				json_object_array_add(errs, json_object_new_string(msg));
			}
		}
	}
	n = events != NULL ? json_object_array_length(events) : 0;
	v_events(errs, events, prefix);
	if (json_object_array_length(errs) != before)
		return -1;
	if (!v_url_ok(json_object_get_string(url))) {
		*bad_url = 1;
		return -1;
	}
	enabled = v_bool(wh, "enabled", 1);
	{
		/* Empty list while enabled means every event; disabled stores none (Evolution). */
		size_t cap = 4, len, count = 0;
		char *s = xmalloc(cap);
		const char *nm;

		strcpy(s, "{");
		if (enabled && n == 0)
			while (event_names[count].name != NULL)
				count++;
		else if (enabled)
			count = n;
		for (i = 0; i < count; i++) {
			if (n == 0 && !(event_names[i].flags & EVENT_NAME_INSTANCE))
				continue;
			nm = n == 0 ? event_names[i].name : json_object_get_string(json_object_array_get_idx(events, i));
			len = strlen(s) + strlen(nm) + 3;
			if (len > cap) {
				cap = len * 2;
				s = xreallocarray(s, cap, 1);
			}
			if (s[1] != '\0')
				strcat(s, ",");
			strcat(s, nm);
		}
		len = strlen(s) + 2;
		if (len > cap)
			s = xreallocarray(s, len, 1);
		strcat(s, "}");
		*events_out = s;
	}
	return 0;
}

/* A proxy the worker can use: host, port 1-65535, a protocol it knows. Evolution also takes "https" (TLS to
 * the proxy); the worker does not speak it (worker/wa/wa_proxy.h), so it is refused here, never half-used. */
int
v_proxy(const char *host, const char *port, const char *protocol)
{
	static const char *const protos[] = { "http", "socks4", "socks5", NULL };
	const char *const *pp;
	long n;
	char *end;

	if (*host == '\0' || strlen(host) > 255 || strpbrk(host, " /\r\n\t@") != NULL)
		return -1;
	n = strtol(port, &end, 10);
	if (*port == '\0' || *end != '\0' || n < 1 || n > 65535)
		return -1;
	for (pp = protos; *pp != NULL; pp++)
		if (strcasecmp(*pp, protocol) == 0)
			return 0;
	return -1;
}

/* The 400 message for a proxy v_proxy refused: the reason when it is the https protocol. */
const char *
v_proxy_message(const char *protocol)
{
	if (protocol != NULL && strcasecmp(protocol, "https") == 0)
		return "Invalid proxy: protocol https is not supported (use http, socks4 or socks5)";
	return "Invalid proxy";
}

/* A typed phone number to its digits: an optional '+', digits with spaces, dots, dashes and brackets between
 * them, and optionally a JID's "@server" (or ":device@server") tail; 6 to V_NUMBER_MAX digits. */
int
v_number(const char *in, char *out, size_t outlen)
{
	const char *p = in;
	size_t n = 0;

	if (outlen < V_NUMBER_MAX + 1)
		return -1;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '+')
		p++;
	for (; *p != '\0' && *p != '@' && *p != ':'; p++) {
		if (*p >= '0' && *p <= '9') {
			if (n == V_NUMBER_MAX)
				return -1;
			out[n++] = *p;
		} else if (strchr(" \t-.()", *p) == NULL)
			return -1;
	}
	if (*p == ':')		/* a device number, then the server */
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (*p == '@') {
		if (p[1] == '\0')
			return -1;
		for (p++; *p != '\0'; p++)
			if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') && !(*p >= '0' && *p <= '9') &&
			    strchr("._-", *p) == NULL)
				return -1;
	}
	if (*p != '\0' || n < 6)
		return -1;
	out[n] = '\0';
	return 0;
}
