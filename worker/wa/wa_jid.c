/* WhatsApp JIDs: parsing, canonical formatting and the wire form a JID is encoded in. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"
#include "wa_jid.h"

/* Parse a decimal number of at most 5 digits, no sign, no leading zero (so the form is canonical). */
static int
wa_jid_parse_num(const char *s, size_t len, unsigned max, unsigned *out)
{
	unsigned v = 0;
	size_t i;

	if (len == 0 || len > 5 || (len > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

/* Fill a JID from parts (user may be NULL or ""); -1 if a part is too long. */
int
wa_jid_set(struct wa_jid *j, const char *user, const char *server, uint16_t device)
{
	size_t ul, sl;

	memset(j, 0, sizeof(*j));
	if (user == NULL)
		user = "";
	ul = strlen(user);
	sl = strlen(server);
	if (ul >= sizeof(j->user) || sl >= sizeof(j->server) || sl == 0)
		return -1;
	memcpy(j->user, user, ul + 1);
	memcpy(j->server, server, sl + 1);
	j->device = device;
	j->is_ad = device > 0;
	return 0;
}

/* Parse the textual forms of a JID. Returns 0, or -1 if malformed or too long. */
int
wa_jid_parse(const char *s, struct wa_jid *out)
{
	const char *at, *server, *user, *dot, *colon, *dash, *end;
	size_t ulen, slen;
	unsigned v;

	memset(out, 0, sizeof(*out));
	if (s == NULL)
		return -1;
	at = strchr(s, '@');
	if (at == NULL) {
		server = s;
		user = s;
		ulen = 0;
	} else {
		server = at + 1;
		user = s;
		ulen = (size_t)(at - s);
	}
	slen = strlen(server);
	if (slen == 0 || slen >= sizeof(out->server) || strpbrk(server, "@:") != NULL)
		return -1;
	memcpy(out->server, server, slen + 1);

	end = user + ulen;
	dot = memchr(user, '.', ulen);
	colon = memchr(user, ':', ulen);
	if (dot != NULL) {
		/* "user.agent[:device]": one dot, agent before any colon */
		if (memchr(dot + 1, '.', (size_t)(end - dot - 1)) != NULL || (colon != NULL && colon < dot))
			return -1;
		if (wa_jid_parse_num(dot + 1, (size_t)((colon ? colon : end) - dot - 1), 255, &v) == -1)
			return -1;
		out->agent = (uint8_t)v;
		out->is_ad = 1;
		ulen = (size_t)(dot - user);
	}
	if (colon != NULL) {
		if (memchr(colon + 1, ':', (size_t)(end - colon - 1)) != NULL)
			return -1;
		if (wa_jid_parse_num(colon + 1, (size_t)(end - colon - 1), 65535, &v) == -1)
			return -1;
		out->device = (uint16_t)v;
		out->is_ad = 1;
		if (dot == NULL)
			ulen = (size_t)(colon - user);
	}
	if (ulen == 0 && (dot != NULL || colon != NULL))
		return -1;
	if (strcmp(out->server, WA_SERVER_INTEROP) == 0 &&
	    (dash = memchr(user, '-', ulen)) != NULL &&
	    wa_jid_parse_num(user, (size_t)(dash - user), 65535, &v) == 0 && v > 0) {
		out->integrator = (uint16_t)v;
		ulen -= (size_t)(dash + 1 - user);
		user = dash + 1;
	}
	if (ulen >= sizeof(out->user))
		return -1;
	memcpy(out->user, user, ulen);
	out->user[ulen] = '\0';
	return 0;
}

/* Canonical string form into buf; returns the length, -1 if it does not fit. */
int
wa_jid_format(const struct wa_jid *j, char *buf, size_t len)
{
	int r;

	if (j->user[0] == '\0' && !j->is_ad && j->agent == 0 && j->device == 0 && j->integrator == 0)
		r = snprintf(buf, len, "%s", j->server);
	else if (j->integrator > 0)
		r = snprintf(buf, len, "%u-%s:%u@%s", j->integrator, j->user, j->device, j->server);
	else if (j->agent > 0)
		r = snprintf(buf, len, "%s.%u:%u@%s", j->user, j->agent, j->device, j->server);
	else if (j->device > 0 || (j->is_ad && (strcmp(j->server, WA_SERVER_USER) == 0 ||
	    strcmp(j->server, WA_SERVER_LID) == 0)))
		r = snprintf(buf, len, "%s:%u@%s", j->user, j->device, j->server);
	else
		r = snprintf(buf, len, "%s@%s", j->user, j->server);
	if (r < 0 || (size_t)r >= len)
		return -1;
	return r;
}

/* The canonical string form, malloc'd. */
char *
wa_jid_to_string(const struct wa_jid *j)
{
	char buf[WA_JID_USER_MAX + WA_JID_SERVER_MAX + 32];

	if (wa_jid_format(j, buf, sizeof(buf)) == -1)
		return xstrdup("");
	return xstrdup(buf);
}

/* The server name of an AD_JID domain byte (unknown values mean s.whatsapp.net). */
const char *
wa_jid_domain_server(uint8_t domain)
{
	switch (domain) {
	case WA_JID_DOMAIN_LID:
		return WA_SERVER_LID;
	case WA_JID_DOMAIN_HOSTED:
		return WA_SERVER_HOSTED;
	case WA_JID_DOMAIN_HOSTED_LID:
		return WA_SERVER_HOSTED_LID;
	default:
		return WA_SERVER_USER;
	}
}

/* The wire form this JID is written in (as whatsmeow chooses it); *domain gets the AD_JID domain byte. */
enum wa_jid_wire
wa_jid_wire_form(const struct wa_jid *j, uint8_t *domain)
{
	int has_dev = j->is_ad || j->device > 0 || j->agent > 0;

	*domain = 0;
	if (j->user[0] == '\0' && !has_dev && j->integrator == 0)
		return WA_JID_WIRE_PAIR;	/* a bare server */
	if (strcmp(j->server, WA_SERVER_MESSENGER) == 0)
		return j->agent == 0 && j->integrator == 0 ? WA_JID_WIRE_FB : WA_JID_WIRE_NONE;
	if (strcmp(j->server, WA_SERVER_INTEROP) == 0)
		return j->agent == 0 ? WA_JID_WIRE_INTEROP : WA_JID_WIRE_NONE;
	if (j->integrator > 0)
		return WA_JID_WIRE_NONE;
	if (strcmp(j->server, WA_SERVER_USER) == 0) {
		if (!has_dev)
			return WA_JID_WIRE_PAIR;
		/* agents that are other servers' domain bytes would decode as those servers */
		if (j->device > 255 || j->user[0] == '\0' || j->agent == WA_JID_DOMAIN_LID ||
		    j->agent == WA_JID_DOMAIN_HOSTED || j->agent == WA_JID_DOMAIN_HOSTED_LID)
			return WA_JID_WIRE_NONE;
		*domain = j->agent;
		return WA_JID_WIRE_AD;
	}
	if (j->agent > 0)
		return WA_JID_WIRE_NONE;
	if (strcmp(j->server, WA_SERVER_LID) == 0) {
		if (!has_dev)
			return WA_JID_WIRE_PAIR;
		if (j->device > 255 || j->user[0] == '\0')
			return WA_JID_WIRE_NONE;
		*domain = WA_JID_DOMAIN_LID;
		return WA_JID_WIRE_AD;
	}
	if (strcmp(j->server, WA_SERVER_HOSTED) == 0 || strcmp(j->server, WA_SERVER_HOSTED_LID) == 0) {
		if (j->user[0] == '\0' && !has_dev)
			return WA_JID_WIRE_PAIR;
		if (j->device > 255 || j->user[0] == '\0')
			return WA_JID_WIRE_NONE;
		*domain = j->server[6] == '\0' ? WA_JID_DOMAIN_HOSTED : WA_JID_DOMAIN_HOSTED_LID;
		return WA_JID_WIRE_AD;
	}
	return has_dev ? WA_JID_WIRE_NONE : WA_JID_WIRE_PAIR;
}

/* 1 if both JIDs are the same address. */
int
wa_jid_equal(const struct wa_jid *a, const struct wa_jid *b)
{
	return strcmp(a->user, b->user) == 0 && strcmp(a->server, b->server) == 0 &&
	    a->agent == b->agent && a->device == b->device && a->integrator == b->integrator;
}

/* The same JID without device and agent. */
void
wa_jid_to_non_ad(const struct wa_jid *in, struct wa_jid *out)
{
	if (out != in)
		*out = *in;
	out->agent = 0;
	out->device = 0;
	out->is_ad = 0;
}

/* 1 if s is the name of a JID server. */
int
wa_jid_is_server_name(const char *s)
{
	static const char *const servers[] = {
		WA_SERVER_USER, WA_SERVER_LEGACY_USER, WA_SERVER_GROUP, WA_SERVER_BROADCAST, WA_SERVER_LID,
		WA_SERVER_HOSTED, WA_SERVER_HOSTED_LID, WA_SERVER_MESSENGER, WA_SERVER_INTEROP,
		WA_SERVER_NEWSLETTER, WA_SERVER_CALL, WA_SERVER_BOT,
	};
	size_t i;

	for (i = 0; i < sizeof(servers) / sizeof(servers[0]); i++)
		if (strcmp(s, servers[i]) == 0)
			return 1;
	return 0;
}

/* 1 for a user account or device (phone number or LID). */
int
wa_jid_is_user(const struct wa_jid *j)
{
	return j->user[0] != '\0' &&
	    (strcmp(j->server, WA_SERVER_USER) == 0 || strcmp(j->server, WA_SERVER_LID) == 0);
}

/* 1 for a group. */
int
wa_jid_is_group(const struct wa_jid *j)
{
	return strcmp(j->server, WA_SERVER_GROUP) == 0;
}

/* 1 for a LID (hidden user) address. */
int
wa_jid_is_lid(const struct wa_jid *j)
{
	return strcmp(j->server, WA_SERVER_LID) == 0;
}

/* 1 for any broadcast list, including status. */
int
wa_jid_is_broadcast(const struct wa_jid *j)
{
	return strcmp(j->server, WA_SERVER_BROADCAST) == 0;
}

/* 1 for status@broadcast. */
int
wa_jid_is_status_broadcast(const struct wa_jid *j)
{
	return wa_jid_is_broadcast(j) && strcmp(j->user, "status") == 0;
}
