/* usync queries (device lists, is-on-WhatsApp) and prekey bundle fetches, and the parsing of the server's
 * answers (reference/wa-session.md sections 4.3, 4.4). See msg_wire.h. */
#include "msg_wire.h"

#include "wa_jid.h"
#include "wa_node.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
msg_wire_user(const char *jid, char *out, size_t len)
{
	struct wa_jid j, u;

	if (jid == NULL || wa_jid_parse(jid, &j) == -1 || !wa_jid_is_user(&j))
		return -1;
	wa_jid_to_non_ad(&j, &u);
	u.is_ad = 0;
	return wa_jid_format(&u, out, len) < 0 ? -1 : 0;
}

int
msg_wire_address(const char *jid, char *out, size_t len)
{
	struct wa_jid j;
	int n;

	if (jid == NULL || wa_jid_parse(jid, &j) == -1 || !wa_jid_is_user(&j))
		return -1;
	/* section 6.2: the user, "_1" for a LID, then ":device" */
	n = snprintf(out, len, "%s%s:%u", j.user, wa_jid_is_lid(&j) ? "_1" : "", (unsigned)j.device);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int
msg_wire_device_set(struct msg_wire_device *d, const char *user, uint16_t dev)
{
	struct wa_jid j;

	memset(d, 0, sizeof(*d));
	if (user == NULL || wa_jid_parse(user, &j) == -1 || !wa_jid_is_user(&j))
		return -1;
	j.device = dev;
	j.agent = 0;
	j.is_ad = dev != 0;
	d->device = dev;
	if (wa_jid_format(&j, d->jid, sizeof(d->jid)) < 0)
		return -1;
	return msg_wire_address(d->jid, d->address, sizeof(d->address));
}

int64_t
msg_wire_be(const struct wa_node *n, const char *tag, size_t minlen, size_t maxlen)
{
	const struct wa_node *ch = n != NULL ? wa_node_child(n, tag) : NULL;
	int64_t v = 0;

	if (ch == NULL || ch->ctype != WA_CONTENT_BYTES || ch->nbytes < minlen || ch->nbytes > maxlen ||
	    ch->nbytes > 4)
		return -1;
	for (size_t i = 0; i < ch->nbytes; i++)
		v = v << 8 | ch->bytes[i];
	return v;
}

/* The <usync> element every query starts with. */
static struct wa_node *
usync_iq(const char *sid, const char *context, struct wa_node **query, struct wa_node **list)
{
	struct wa_node *iq = wa_node_new("iq"), *u;

	wa_node_set_attr(iq, "type", "get");
	wa_node_set_attr(iq, "xmlns", "usync");
	u = wa_node_add_child(iq, wa_node_new("usync"));
	wa_node_set_attr(u, "sid", sid);
	wa_node_set_attr(u, "mode", "query");
	wa_node_set_attr(u, "last", "true");
	wa_node_set_attr(u, "index", "0");
	wa_node_set_attr(u, "context", context);
	*query = wa_node_add_child(u, wa_node_new("query"));
	*list = wa_node_add_child(u, wa_node_new("list"));
	return iq;
}

struct wa_node *
msg_usync_devices_query(const char *const *users, size_t n, const char *sid)
{
	struct wa_node *query, *list, *iq = usync_iq(sid, "message", &query, &list);

	wa_node_set_attr(wa_node_add_child(query, wa_node_new("devices")), "version", "2");
	wa_node_add_child(query, wa_node_new("lid"));
	for (size_t i = 0; i < n; i++)
		wa_node_set_attr(wa_node_add_child(list, wa_node_new("user")), "jid", users[i]);
	return iq;
}

/* The <list> of a usync answer, or NULL. */
static const struct wa_node *
usync_list(const struct wa_node *iq)
{
	const struct wa_node *u = iq != NULL ? wa_node_child(iq, "usync") : NULL, *l;
	const char *type = iq != NULL ? wa_node_attr(iq, "type") : NULL;

	if (type == NULL || strcmp(type, "result") != 0 || u == NULL || (l = wa_node_child(u, "list")) == NULL)
		return NULL;
	return l->ctype == WA_CONTENT_NODES ? l : NULL;
}

/* The <user> of list whose jid is user (compared as user JIDs), or NULL. */
static const struct wa_node *
usync_user(const struct wa_node *list, const char *user)
{
	char want[MSG_WIRE_JID_MAX], got[MSG_WIRE_JID_MAX];

	if (msg_wire_user(user, want, sizeof(want)) == -1)
		return NULL;
	for (size_t i = 0; i < list->nchildren && i < MSG_WIRE_USERS_MAX * 4; i++) {
		const struct wa_node *u = list->children[i];
		if (strcmp(u->tag, "user") == 0 && msg_wire_user(wa_node_attr(u, "jid"), got, sizeof(got)) == 0 &&
		    strcmp(got, want) == 0)
			return u;
	}
	return NULL;
}

/* A decimal attribute in 0..max; -1 if absent or not a number. */
static long
usync_num(const struct wa_node *n, const char *key, long max)
{
	const char *v = wa_node_attr(n, key);
	char *end;
	long x;

	if (v == NULL || *v == '\0' || strspn(v, "0123456789") != strlen(v) || strlen(v) > 9)
		return -1;
	x = strtol(v, &end, 10);
	return x <= max ? x : -1;
}

int
msg_usync_devices(const struct wa_node *iq, const char *user, uint16_t *devs, size_t max, size_t *n)
{
	const struct wa_node *list = usync_list(iq), *u, *d, *dl;
	const char *hosted;
	long id;

	*n = 0;
	if (list == NULL)
		return -1;
	if ((u = usync_user(list, user)) == NULL)
		return 0;
	if ((d = wa_node_child(u, "devices")) == NULL || (dl = wa_node_child(d, "device-list")) == NULL ||
	    dl->ctype != WA_CONTENT_NODES)
		return 0;
	for (size_t i = 0; i < dl->nchildren; i++) {
		const struct wa_node *dev = dl->children[i];
		if (strcmp(dev->tag, "device") != 0)
			continue;
		if ((id = usync_num(dev, "id", 65535)) < 0)
			return -1;
		hosted = wa_node_attr(dev, "is_hosted");
		/* hosted (Cloud API) devices live under another server; a companion without key-index is not
		 * signed by the account (Baileys skips those too) */
		if ((hosted != NULL && strcmp(hosted, "true") == 0) ||
		    (id != 0 && wa_node_attr(dev, "key-index") == NULL))
			continue;
		if (*n >= max)
			return -1;
		devs[(*n)++] = (uint16_t)id;
	}
	return *n > 0 ? 1 : 0;
}

int
msg_usync_lid(const struct wa_node *iq, const char *user, char *lid, size_t len)
{
	const struct wa_node *list = usync_list(iq), *u, *l;
	const char *v;
	struct wa_jid j;

	*lid = '\0';
	if (list == NULL)
		return -1;
	if ((u = usync_user(list, user)) == NULL || (l = wa_node_child(u, "lid")) == NULL ||
	    (v = wa_node_attr(l, "val")) == NULL)
		return 0;
	if (wa_jid_parse(v, &j) == -1 || !wa_jid_is_lid(&j) || j.device != 0 || strlen(v) >= len)
		return -1;
	snprintf(lid, len, "%s", v);
	return 0;
}

struct wa_node *
msg_usync_contacts_query(char *const *numbers, size_t n, const char *sid)
{
	struct wa_node *query, *list, *iq = usync_iq(sid, "interactive", &query, &list), *u;
	char buf[64];

	wa_node_add_child(query, wa_node_new("contact"));
	wa_node_add_child(query, wa_node_new("lid"));
	for (size_t i = 0; i < n; i++) {
		u = wa_node_add_child(list, wa_node_new("user"));
		snprintf(buf, sizeof(buf), "+%s", numbers[i]);
		wa_node_set_string(wa_node_add_child(u, wa_node_new("contact")), buf);
	}
	return iq;
}

int
msg_usync_contact(const struct wa_node *iq, const char *number, int *exists, char *jid, size_t jidlen,
    char *lid, size_t lidlen)
{
	const struct wa_node *list = usync_list(iq), *ct, *l;
	const char *type, *v;
	char want[64];
	struct wa_jid j;

	*exists = 0;
	*jid = *lid = '\0';
	if (list == NULL)
		return -1;
	snprintf(want, sizeof(want), "+%s", number);
	for (size_t i = 0; i < list->nchildren && i < MSG_WIRE_USERS_MAX * 4; i++) {
		const struct wa_node *u = list->children[i];
		/* the answer repeats the query in <contact>: that is how a number finds its user */
		if (strcmp(u->tag, "user") != 0 || (ct = wa_node_child(u, "contact")) == NULL ||
		    ct->ctype != WA_CONTENT_BYTES || ct->nbytes != strlen(want) ||
		    memcmp(ct->bytes, want, ct->nbytes) != 0)
			continue;
		type = wa_node_attr(ct, "type");
		if (type == NULL || strcmp(type, "in") != 0)
			return 0;
		if ((v = wa_node_attr(u, "jid")) == NULL || wa_jid_parse(v, &j) == -1 || !wa_jid_is_user(&j) ||
		    j.device != 0 || strlen(v) >= jidlen)
			return -1;
		*exists = 1;
		snprintf(jid, jidlen, "%s", v);
		if ((l = wa_node_child(u, "lid")) != NULL && (v = wa_node_attr(l, "val")) != NULL &&
		    wa_jid_parse(v, &j) == 0 && wa_jid_is_lid(&j) && strlen(v) < lidlen)
			snprintf(lid, lidlen, "%s", v);
		return 0;
	}
	return 0;
}

struct wa_node *
msg_keys_query(const struct msg_wire_device *devs, size_t n)
{
	struct wa_node *iq = wa_node_new("iq"), *key, *u;

	wa_node_set_attr(iq, "type", "get");
	wa_node_set_attr(iq, "xmlns", "encrypt");
	key = wa_node_add_child(iq, wa_node_new("key"));
	for (size_t i = 0; i < n; i++) {
		u = wa_node_add_child(key, wa_node_new("user"));
		wa_node_set_attr(u, "jid", devs[i].jid);
		wa_node_set_attr(u, "reason", "identity");
	}
	return iq;
}

/* The bytes of child tag of n when exactly len long, else NULL. */
static const uint8_t *
keys_bytes(const struct wa_node *n, const char *tag, size_t len)
{
	const struct wa_node *ch = n != NULL ? wa_node_child(n, tag) : NULL;

	return ch != NULL && ch->ctype == WA_CONTENT_BYTES && ch->nbytes == len ? ch->bytes : NULL;
}

int
msg_keys_parse(const struct wa_node *n, uint32_t registration_id, uint16_t device, struct wa_signal_bundle *b)
{
	const struct wa_node *sk = wa_node_child(n, "skey"), *k = wa_node_child(n, "key");
	const uint8_t *ident = keys_bytes(n, "identity", 32), *spk = keys_bytes(sk, "value", 32),
	    *sig = keys_bytes(sk, "signature", 64), *type = keys_bytes(n, "type", 1), *pk;
	int64_t skid = msg_wire_be(sk, "id", 3, 3), pkid;

	memset(b, 0, sizeof(*b));
	/* lengths as section 4.4: every key 32 bytes, ids 3, signature 64, type 0x05 when present */
	if (ident == NULL || spk == NULL || sig == NULL || skid < 0 || (type != NULL && type[0] != 0x05) ||
	    (wa_node_child(n, "type") != NULL && type == NULL))
		return -1;
	b->registration_id = registration_id;
	b->device_id = device;
	b->signed_prekey_id = (uint32_t)skid;
	memcpy(b->signed_prekey_pub, spk, 32);
	memcpy(b->signed_prekey_sig, sig, 64);
	memcpy(b->identity_pub, ident, 32);
	if (k != NULL) {
		if ((pk = keys_bytes(k, "value", 32)) == NULL || (pkid = msg_wire_be(k, "id", 3, 3)) < 0)
			return -1;
		b->has_prekey = 1;
		b->prekey_id = (uint32_t)pkid;
		memcpy(b->prekey_pub, pk, 32);
	}
	return 0;
}

int
msg_keys_bundle(const struct wa_node *iq, const char *jid, struct wa_signal_bundle *b)
{
	const struct wa_node *list = iq != NULL ? wa_node_child(iq, "list") : NULL, *src;
	const char *type = iq != NULL ? wa_node_attr(iq, "type") : NULL;
	struct wa_jid want, got;
	int64_t reg;

	if (type == NULL || strcmp(type, "result") != 0 || list == NULL || list->ctype != WA_CONTENT_NODES ||
	    wa_jid_parse(jid, &want) == -1)
		return -1;
	for (size_t i = 0; i < list->nchildren && i < MSG_WIRE_USERS_MAX * MSG_WIRE_DEVICES_MAX; i++) {
		const struct wa_node *u = list->children[i];
		if (strcmp(u->tag, "user") != 0 || wa_node_attr(u, "jid") == NULL ||
		    wa_jid_parse(wa_node_attr(u, "jid"), &got) == -1 || strcmp(got.user, want.user) != 0 ||
		    strcmp(got.server, want.server) != 0 || got.device != want.device)
			continue;
		if (wa_node_child(u, "error") != NULL)
			return 0;
		/* whatsmeow also accepts the material inside <keys> (the retry receipt layout) */
		src = wa_node_child(u, "keys") != NULL ? wa_node_child(u, "keys") : u;
		if ((reg = msg_wire_be(u, "registration", 4, 4)) < 0 ||
		    msg_keys_parse(src, (uint32_t)reg, want.device, b) == -1)
			return -1;
		return 1;
	}
	return 0;
}
