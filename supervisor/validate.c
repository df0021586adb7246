#include "validate.h"
#include "settings.h"
#include "event_names.h"

#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *
v_kind_name(enum v_kind k)
{
	switch (k) {
	case V_BOOL: return "boolean";
	case V_STRING: case V_SETTING: return "string";
	case V_OBJECT: return "object";
	case V_ARRAY: return "array";
	case V_INTEGER: return "integer";
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
	case V_INTEGER:
		if (json_object_is_type(v, json_type_int))
			return 1;
		/* within +-2^53 every double a cast keeps unchanged is an integer; NaN fails both tests */
		return json_object_is_type(v, json_type_double) && json_object_get_double(v) > -9007199254740992.0 &&
		    json_object_get_double(v) < 9007199254740992.0 &&
		    (double)(long long)json_object_get_double(v) == json_object_get_double(v);
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

/* Evolution's createJid, MX/AR rule: 52/54 with 13 digits lose the third digit. */
static void
v_jid_mx_ar(char *d)
{
	if (strlen(d) == 13 && (strncmp(d, "52", 2) == 0 || strncmp(d, "54", 2) == 0))
		memmove(d + 2, d + 3, strlen(d + 3) + 1);
}

/* Evolution's createJid, BR rule: 55 + DDD + 9 + 8 digits loses the 9 when DDD >= 31 and the subscriber
 * number starts with 7, 8 or 9 (those numbers were registered before the ninth digit). */
static void
v_jid_br(char *d)
{
	if (strlen(d) == 13 && strncmp(d, "55", 2) == 0 && (d[2] - '0') * 10 + (d[3] - '0') >= 31 && d[5] >= '7')
		memmove(d + 4, d + 5, strlen(d + 5) + 1);
}

int
v_jid(const char *in, char *out, size_t outlen)
{
	static const char *const servers[] = { "@g.us", "@s.whatsapp.net", "@lid", "@broadcast", NULL };
	char buf[V_JID_MAX + 1], *p, *q;
	size_t i, n = strlen(in), dashes = 0;

	if (n > V_JID_MAX)
		return -1;
	/* the first ":<digits>" goes (a device suffix), as Evolution's replace(/:\d+/, '') */
	memcpy(buf, in, n + 1);
	for (p = buf; (p = strchr(p, ':')) != NULL; p++)
		if (p[1] >= '0' && p[1] <= '9') {
			for (q = p + 1; *q >= '0' && *q <= '9'; q++)
				;
			memmove(p, q, strlen(q) + 1);
			break;
		}
	for (i = 0; servers[i] != NULL; i++)
		if (strstr(buf, servers[i]) != NULL) {
			if (strlen(buf) + 1 > outlen)
				return -1;
			memcpy(out, buf, strlen(buf) + 1);
			return 0;
		}
	/* spaces, '+' and brackets go; the part before any ':' or '@' stays */
	for (p = q = buf; *p != '\0' && *p != ':' && *p != '@'; p++)
		if (strchr(" \t\r\n\f\v+()", *p) == NULL)
			*q++ = *p;
	*q = '\0';
	for (p = buf; *p != '\0'; p++)
		dashes += *p == '-';
	/* a group id typed with its dash ("<creator>-<time>"), or 18 and more digits: a group */
	if (dashes > 0 && strlen(buf) >= 24) {
		for (p = q = buf; *p != '\0'; p++)
			if ((*p >= '0' && *p <= '9') || *p == '-')
				*q++ = *p;
		*q = '\0';
		return snprintf(out, outlen, "%s@g.us", buf) >= (int)outlen ? -1 : 0;
	}
	for (p = q = buf; *p != '\0'; p++)
		if (*p >= '0' && *p <= '9')
			*q++ = *p;
	*q = '\0';
	if (strlen(buf) >= 18)
		return snprintf(out, outlen, "%s@g.us", buf) >= (int)outlen ? -1 : 0;
	v_jid_mx_ar(buf);
	v_jid_br(buf);
	return snprintf(out, outlen, "%s@s.whatsapp.net", buf) >= (int)outlen ? -1 : 0;
}

/* n digits at *p as a number (advancing *p), or -1 when they are not all digits. */
static int
v_digits(const char **p, int n)
{
	int v = 0;

	while (n-- > 0) {
		if (**p < '0' || **p > '9')
			return -1;
		v = v * 10 + (*(*p)++ - '0');
	}
	return v;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (civil-from-days inverted). */
static long long
v_days(long long y, int m, int d)
{
	long long era, yoe, doy;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

/* The ISO 8601 forms of ECMAScript's date time string format: YYYY[-MM[-DD]][THH:mm[:ss[.sss]][Z|+-HH:mm]]. */
static int
v_date_iso(const char *s, long long *out)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	const char *p = s;
	int y, mo = 1, d = 1, h = 0, mi = 0, sec = 0, sign, oh, om;
	long long off = 0;

	if ((y = v_digits(&p, 4)) < 0)
		return -1;
	if (*p == '-') {
		p++;
		if ((mo = v_digits(&p, 2)) < 1 || mo > 12)
			return -1;
		if (*p == '-') {
			p++;
			if ((d = v_digits(&p, 2)) < 1 || d > mdays[mo - 1] ||
			    (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))))
				return -1;
		}
	}
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if ((h = v_digits(&p, 2)) < 0 || h > 24 || *p++ != ':' || (mi = v_digits(&p, 2)) < 0 || mi > 59)
			return -1;
		if (*p == ':') {
			p++;
			if ((sec = v_digits(&p, 2)) < 0 || sec > 59)
				return -1;
			if (*p == '.') {
				/* fractions of a second: the result is floored to seconds anyway */
				if (*++p < '0' || *p > '9')
					return -1;
				while (*p >= '0' && *p <= '9')
					p++;
			}
		}
		if (h == 24 && (mi != 0 || sec != 0))
			return -1;
		if (*p == 'Z' || *p == 'z')
			p++;
		else if (*p == '+' || *p == '-') {
			sign = *p++ == '-' ? -1 : 1;
			if ((oh = v_digits(&p, 2)) < 0 || oh > 23)
				return -1;
			if (*p == ':')
				p++;
			if ((om = v_digits(&p, 2)) < 0 || om > 59)
				return -1;
			off = sign * (oh * 3600LL + om * 60LL);
		}
	}
	if (*p != '\0')
		return -1;
	*out = v_days(y, mo, d) * 86400 + h * 3600LL + mi * 60LL + sec - off;
	return 0;
}

int
v_date(struct json_object *v, long long *out)
{
	/* ECMAScript's time range: +-8.64e15 ms around the epoch */
	const double lim = 8.64e15;
	double ms;
	long long q;

	if (json_object_is_type(v, json_type_string))
		return v_date_iso(json_object_get_string(v), out);
	if (json_object_is_type(v, json_type_int)) {
		q = (long long)json_object_get_int64(v);
		if (q > (long long)lim || q < -(long long)lim)
			return -1;
		/* floor division, as Math.floor(ms / 1000) */
		*out = q >= 0 ? q / 1000 : -((-q + 999) / 1000);
		return 0;
	}
	if (json_object_is_type(v, json_type_double)) {
		ms = json_object_get_double(v);
		if (!(ms >= -lim && ms <= lim))
			return -1;
		q = (long long)ms;	/* new Date() truncates a fraction of a millisecond towards zero */
		*out = q >= 0 ? q / 1000 : -((-q + 999) / 1000);
		return 0;
	}
	return -1;
}
