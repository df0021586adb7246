/* fakewa's accounts, phones and linked devices (see fw_account.h). */
#include "fw_account.h"

#include "fw_msg.h"
#include "fw_phone_signal.h"

#include "random.h"
#include "wa_prekey.h"
#include "xmalloc.h"

#include <event2/buffer.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Generated numbers: 1555 0000001, 1555 0000002, ...; LIDs 100000000000001, ... (15 digits). */
#define FW_PHONE_BASE	15550000000ULL
#define FW_LID_BASE	100000000000000ULL

void
fw_accounts_init(struct fw_accounts *as)
{
	TAILQ_INIT(&as->list);
	as->next_phone = 1;
	as->next_lid = 1;
}

/* Free one device. */
static void
fw_device_free(struct fw_device *d)
{
	fw_msg_queue_clear(d);
	free(d->prekeys);
	free(d);
}

void
fw_accounts_clear(struct fw_accounts *as)
{
	struct fw_account *a;
	struct fw_device *d;

	while ((a = TAILQ_FIRST(&as->list)) != NULL) {
		while ((d = TAILQ_FIRST(&a->devices)) != NULL) {
			TAILQ_REMOVE(&a->devices, d, entry);
			fw_device_free(d);
		}
		TAILQ_REMOVE(&as->list, a, entry);
		fw_phone_free(a->mock);
		explicit_wipe(a->priv, sizeof(a->priv));
		free(a);
	}
}

struct fw_account *
fw_account_find(struct fw_accounts *as, const char *phone)
{
	struct fw_account *a;

	TAILQ_FOREACH(a, &as->list, entry)
		if (strcmp(a->phone, phone) == 0)
			return a;
	return NULL;
}

/* The account whose LID user is lid, or NULL. */
static struct fw_account *
fw_account_find_lid(struct fw_accounts *as, const char *lid)
{
	struct fw_account *a;

	TAILQ_FOREACH(a, &as->list, entry)
		if (strcmp(a->lid, lid) == 0)
			return a;
	return NULL;
}

/* Whether s is 1..20 decimal digits. */
static int
fw_phone_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 20)
		return 0;
	return strspn(s, "0123456789") == n;
}

struct fw_account *
fw_account_get(struct fw_accounts *as, const char *phone, const char *name)
{
	struct fw_account *a;
	char gen[FW_PHONE_MAX];

	if (phone != NULL && !fw_phone_valid(phone))
		return NULL;
	if (phone != NULL && (a = fw_account_find(as, phone)) != NULL)
		goto named;
	if (phone == NULL) {
		do
			snprintf(gen, sizeof(gen), "%llu", FW_PHONE_BASE + as->next_phone++);
		while (fw_account_find(as, gen) != NULL);
		phone = gen;
	}
	a = xcalloc(1, sizeof(*a));
	snprintf(a->phone, sizeof(a->phone), "%s", phone);
	do
		snprintf(a->lid, sizeof(a->lid), "%llu", FW_LID_BASE + as->next_lid++);
	while (fw_account_find_lid(as, a->lid) != NULL);
	snprintf(a->push_name, sizeof(a->push_name), "Fake Phone %s", a->phone);
	if (wa_prekey_keypair(a->priv, a->pub) == -1) {
		free(a);
		return NULL;
	}
	random_bytes(&a->raw_id, sizeof(a->raw_id));
	if ((a->mock = fw_phone_new(a)) == NULL) {
		explicit_wipe(a->priv, sizeof(a->priv));
		free(a);
		return NULL;
	}
	a->next_device = 1;
	a->next_key_index = 1;
	TAILQ_INIT(&a->devices);
	TAILQ_INSERT_TAIL(&as->list, a, entry);
named:
	if (name != NULL && *name != '\0')
		snprintf(a->push_name, sizeof(a->push_name), "%s", name);
	return a;
}

/* Remember peer as one of a's peers (once). */
static void
fw_account_peer_put(struct fw_account *a, const struct fw_account *peer)
{
	if (fw_account_has_peer(a, peer))
		return;
	snprintf(a->peers[a->next_peer], sizeof(a->peers[0]), "%s", peer->phone);
	a->next_peer = (a->next_peer + 1) % FW_PEERS_MAX;
	if (a->npeers < FW_PEERS_MAX)
		a->npeers++;
}

void
fw_account_peer_add(struct fw_account *a, struct fw_account *b)
{
	if (a == b)
		return;
	fw_account_peer_put(a, b);
	fw_account_peer_put(b, a);
}

int
fw_account_has_peer(const struct fw_account *a, const struct fw_account *b)
{
	for (size_t i = 0; i < a->npeers; i++)
		if (strcmp(a->peers[i], b->phone) == 0)
			return 1;
	return 0;
}

struct fw_device *
fw_device_add(struct fw_account *a, unsigned number, unsigned key_index, const uint8_t noise_pub[32],
    const struct fw_reg *reg)
{
	struct fw_device *d = xcalloc(1, sizeof(*d));

	d->acct = a;
	d->number = number;
	d->key_index = key_index;
	memcpy(d->noise_pub, noise_pub, 32);
	d->reg = *reg;
	TAILQ_INIT(&d->queue);
	TAILQ_INSERT_TAIL(&a->devices, d, entry);
	return d;
}

struct fw_account *
fw_account_find_user(struct fw_accounts *as, const char *user)
{
	struct fw_account *a;

	if ((a = fw_account_find(as, user)) == NULL)
		a = fw_account_find_lid(as, user);
	return a;
}

struct fw_device *
fw_device_find(struct fw_accounts *as, const char *user, unsigned number)
{
	struct fw_account *a;
	struct fw_device *d;

	if ((a = fw_account_find_user(as, user)) == NULL)
		return NULL;
	TAILQ_FOREACH(d, &a->devices, entry)
		if (d->number == number)
			return d;
	return NULL;
}

void
fw_device_remove(struct fw_device *d)
{
	TAILQ_REMOVE(&d->acct->devices, d, entry);
	fw_device_free(d);
}

void
fw_device_jid(const struct fw_device *d, char *buf, size_t len)
{
	snprintf(buf, len, "%s:%u@s.whatsapp.net", d->acct->phone, d->number);
}

void
fw_device_lid(const struct fw_device *d, char *buf, size_t len)
{
	snprintf(buf, len, "%s:%u@lid", d->acct->lid, d->number);
}

int
fw_device_prekey_add(struct fw_device *d, uint32_t id, const uint8_t pub[32])
{
	for (size_t i = 0; i < d->nprekeys; i++)
		if (d->prekeys[i].id == id) {
			memcpy(d->prekeys[i].pub, pub, 32);
			return 0;
		}
	if (d->nprekeys >= FW_PREKEYS_MAX)
		return -1;
	if (d->nprekeys == d->prekeys_cap) {
		d->prekeys_cap = d->prekeys_cap ? d->prekeys_cap * 2 : 64;
		d->prekeys = xreallocarray(d->prekeys, d->prekeys_cap, sizeof(*d->prekeys));
	}
	d->prekeys[d->nprekeys].id = id;
	memcpy(d->prekeys[d->nprekeys].pub, pub, 32);
	d->nprekeys++;
	return 0;
}

int
fw_device_prekey_take(struct fw_device *d, struct fw_prekey *out)
{
	if (d->nprekeys == 0)
		return -1;
	*out = d->prekeys[0];
	memmove(d->prekeys, d->prekeys + 1, (d->nprekeys - 1) * sizeof(*d->prekeys));
	d->nprekeys--;
	return 0;
}

void
fw_json_string(struct evbuffer *b, const char *s)
{
	evbuffer_add(b, "\"", 1);
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			evbuffer_add_printf(b, "\\%c", ch);
		else if (ch < 0x20)
			evbuffer_add_printf(b, "\\u%04x", ch);
		else
			evbuffer_add(b, s, 1);
	}
	evbuffer_add(b, "\"", 1);
}

void
fw_accounts_json(struct fw_accounts *as, struct evbuffer *b)
{
	struct fw_account *a;
	struct fw_device *d;
	char jid[64], lid[64];
	int na = 0, nd;

	evbuffer_add_printf(b, "{\"accounts\":[");
	TAILQ_FOREACH(a, &as->list, entry) {
		evbuffer_add_printf(b, "%s{\"phone\":\"%s\",\"lid\":\"%s@lid\",\"push_name\":", na++ ? "," : "",
		    a->phone, a->lid);
		fw_json_string(b, a->push_name);
		evbuffer_add_printf(b, ",\"devices\":[");
		nd = 0;
		TAILQ_FOREACH(d, &a->devices, entry) {
			fw_device_jid(d, jid, sizeof(jid));
			fw_device_lid(d, lid, sizeof(lid));
			evbuffer_add_printf(b, "%s{\"jid\":\"%s\",\"lid\":\"%s\",\"device\":%u,\"key_index\":%u,"
			    "\"connected\":%s,\"active\":%s,\"prekeys\":%zu,\"logins\":%lu,\"queued\":%zu,\"os\":",
			    nd++ ? "," : "", jid, lid, d->number, d->key_index, d->client ? "true" : "false",
			    d->active ? "true" : "false", d->nprekeys, d->logins, d->nqueued);
			fw_json_string(b, d->reg.os);
			evbuffer_add_printf(b, ",\"requireFullSync\":%s}", d->reg.full_sync ? "true" : "false");
		}
		evbuffer_add_printf(b, "]}");
	}
	evbuffer_add_printf(b, "]}");
}
