/*
 * The Signal rows of a MessageStore (lifecycle_msg.c builds the rest of its transaction): sessions, identities,
 * consumed prekeys and sender keys as the worker changed them, and the sessions and identities of users whose
 * identity changed. Sessions and sender keys hold ratchet keys and are sealed at rest when a creds key is set.
 */
#include "lifecycle_int.h"
#include "app.h"
#include "db.h"
#include "log.h"
#include "registry.h"
#include "seal_store.h"
#include "workers.h"
#include "xmalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* PostgreSQL's type oids of the binary arrays below. */
#define LM_OID_BYTEA	17
#define LM_OID_TEXT	25

/* Append a big-endian 32-bit value. */
static unsigned char *
lm_put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
	return p + 4;
}

/* A one-dimensional array without NULLs in PostgreSQL's binary format (array_recv): the header, then each
 * element as its length and bytes. Caller frees; *outlen its size. */
static unsigned char *
lm_bin_array(uint32_t oid, const unsigned char *const *elems, const size_t *lens, size_t n, size_t *outlen)
{
	size_t i, total = 20;
	unsigned char *buf, *p;

	for (i = 0; i < n; i++)
		total += 4 + lens[i];
	if (total > INT32_MAX)
		fatalx("a Signal batch of %zu bytes", total);
	p = buf = xmalloc(total);
	p = lm_put32(p, 1);			/* dimensions */
	p = lm_put32(p, 0);			/* no NULLs */
	p = lm_put32(p, oid);
	p = lm_put32(p, (uint32_t)n);		/* elements */
	p = lm_put32(p, 1);			/* lower bound */
	for (i = 0; i < n; i++) {
		p = lm_put32(p, (uint32_t)lens[i]);
		memcpy(p, elems[i], lens[i]);
		p += lens[i];
	}
	*outlen = total;
	return buf;
}

/*
 * A run of session writes in one statement: the worker encrypts one text for every device of the recipient and
 * of the account, so a send stores three or more sessions, each one more statement for PostgreSQL. An address
 * written twice keeps its last record (one INSERT ... ON CONFLICT may not change a row twice, and the later
 * ratchet state is the newer). The run has no deletes in it, so its order against them stands.
 */
static void
lm_add_sessions(struct app *app, struct instance *inst, struct db_tx *tx, const struct workers_sig_change *c,
    size_t n)
{
	const unsigned char **addrs = xcalloc(n, sizeof(*addrs)), **recs = xcalloc(n, sizeof(*recs));
	size_t *alens = xcalloc(n, sizeof(*alens)), *rlens = xcalloc(n, sizeof(*rlens));
	unsigned char *a, *r;
	size_t i, j, k = 0, alen, rlen;
	const char *p[3];
	int lens[3], fmts[3] = { 0, 1, 1 };

	for (i = n; i-- > 0;) {
		for (j = 0; j < k; j++)
			if (strcmp((const char *)addrs[j], c[i].key.address) == 0)
				break;
		if (j < k)
			continue;
		addrs[k] = (const unsigned char *)c[i].key.address;
		alens[k] = strlen(c[i].key.address);
		recs[k] = seal_store_record(app->cfg, inst->id, NULL, c[i].key.address, c[i].data, c[i].len, &rlens[k]);
		k++;
	}
	a = lm_bin_array(LM_OID_TEXT, addrs, alens, k, &alen);
	r = lm_bin_array(LM_OID_BYTEA, recs, rlens, k, &rlen);
	p[0] = inst->id;
	p[1] = (const char *)a;
	p[2] = (const char *)r;
	lens[0] = 0;
	lens[1] = (int)alen;
	lens[2] = (int)rlen;
	db_tx_add_bin(tx, "INSERT INTO signal_session (instance_id, address, record) SELECT $1, t.a, t.r"
	    " FROM unnest($2::text[], $3::bytea[]) AS t(a, r)"
	    " ON CONFLICT (instance_id, address) DO UPDATE SET record = EXCLUDED.record", 3, p, lens, fmts);
	free_wiped(r, rlen);
	free(a);
	for (i = 0; i < k; i++)
		free_wiped((void *)recs[i], rlens[i] > 0 ? rlens[i] : 1);
	free(addrs);
	free(recs);
	free(alens);
	free(rlens);
}

/* One Signal record change. -1 with err for a change the contract does not allow (nothing added). */
static int
lm_add_change(struct app *app, struct instance *inst, struct db_tx *tx, const struct workers_sig_change *c,
    char *err, size_t errlen)
{
	char id[16];
	const char *p[4] = { inst->id, c->key.address, (const char *)c->data, c->key.group };
	int lens[4] = { 0, 0, (int)c->len, 0 }, fmts[4] = { 0, 0, 1, 0 };
	unsigned char *blob;
	size_t bloblen;

	/* Sessions and sender keys hold ratchet keys: sealed like the prekeys when a creds key is configured
	 * (seal_store_record; the AAD binds instance and address, and group for a sender key). Identity keys
	 * are public; prekeys are only ever deleted here. */
	switch (c->key.kind) {
	case WORKERS_SIG_SESSION:
		if (c->deleted) {
			db_tx_add(tx, "DELETE FROM signal_session WHERE instance_id = $1 AND address = $2", 2, p);
			return 0;
		}
		blob = seal_store_record(app->cfg, inst->id, NULL, c->key.address, c->data, c->len, &bloblen);
		p[2] = (const char *)blob;
		lens[2] = (int)bloblen;
		db_tx_add_bin(tx, "INSERT INTO signal_session (instance_id, address, record) VALUES ($1, $2, $3)"
		    " ON CONFLICT (instance_id, address) DO UPDATE SET record = EXCLUDED.record", 3, p, lens, fmts);
		free_wiped(blob, bloblen > 0 ? bloblen : 1);
		return 0;
	case WORKERS_SIG_IDENTITY:
		if (c->identity_changed)
			log_info("%s: the identity key of %s changed (the peer reinstalled)", inst->name, c->key.address);
		if (c->deleted)
			db_tx_add(tx, "DELETE FROM signal_identity WHERE instance_id = $1 AND address = $2", 2, p);
		else
			db_tx_add_bin(tx, "INSERT INTO signal_identity (instance_id, address, identity_key)"
			    " VALUES ($1, $2, $3) ON CONFLICT (instance_id, address)"
			    " DO UPDATE SET identity_key = EXCLUDED.identity_key", 3, p, lens, fmts);
		return 0;
	case WORKERS_SIG_PREKEY:
		if (!c->deleted) {
			snprintf(err, errlen, "prekey %u: a MessageStore only deletes prekeys", c->key.prekey_id);
			return -1;
		}
		snprintf(id, sizeof(id), "%u", c->key.prekey_id);
		p[1] = id;
		db_tx_add(tx, "DELETE FROM signal_prekey WHERE instance_id = $1 AND key_id = $2::int", 2, p);
		return 0;
	case WORKERS_SIG_SENDER_KEY:
		if (c->deleted) {
			const char *dp[3] = { inst->id, c->key.group, c->key.address };
			db_tx_add(tx, "DELETE FROM signal_sender_key WHERE instance_id = $1 AND group_id = $2"
			    " AND sender = $3", 3, dp);
			return 0;
		}
		blob = seal_store_record(app->cfg, inst->id, c->key.group, c->key.address, c->data, c->len, &bloblen);
		p[2] = (const char *)blob;
		lens[2] = (int)bloblen;
		db_tx_add_bin(tx, "INSERT INTO signal_sender_key (instance_id, sender, record, group_id)"
		    " VALUES ($1, $2, $3, $4) ON CONFLICT (instance_id, group_id, sender)"
		    " DO UPDATE SET record = EXCLUDED.record", 4, p, lens, fmts);
		free_wiped(blob, bloblen > 0 ? bloblen : 1);
		return 0;
	}
	snprintf(err, errlen, "unknown Signal record kind %d", c->key.kind);
	return -1;
}

/*
 * A user's identity changed (forget_users): delete the sessions and identities of every device of it. The
 * Signal name of "<digits>@s.whatsapp.net" is "<digits>", of "<digits>@lid" "<digits>_1" (msg_signal_address's
 * forms "name:device"); matched as the whole part before the colon, never with LIKE, so "123" does not reach
 * "1234:0" or "123_1:0". -1 with err for a JID the worker table should have refused.
 */
int
lm_sig_add_forget(struct instance *inst, struct db_tx *tx, const char *jid, char *err, size_t errlen)
{
	char name[80];
	const char *at = strchr(jid, '@');
	const char *p[2] = { inst->id, name };
	size_t n = at != NULL ? (size_t)(at - jid) : 0;

	if (n == 0 || n + 3 > sizeof(name) || strspn(jid, "0123456789") != n) {
		snprintf(err, errlen, "forget_users: %.64s is no user JID", jid);
		return -1;
	}
	if (strcmp(at, "@s.whatsapp.net") == 0)
		snprintf(name, sizeof(name), "%.*s", (int)n, jid);
	else if (strcmp(at, "@lid") == 0)
		snprintf(name, sizeof(name), "%.*s_1", (int)n, jid);
	else {
		snprintf(err, errlen, "forget_users: %.64s is neither a phone number nor a LID", jid);
		return -1;
	}
	log_info("%s: the identity of %s changed: its Signal sessions are dropped", inst->name, jid);
	db_tx_add(tx, "DELETE FROM signal_session WHERE instance_id = $1 AND split_part(address, ':', 1) = $2", 2, p);
	db_tx_add(tx, "DELETE FROM signal_identity WHERE instance_id = $1 AND split_part(address, ':', 1) = $2", 2, p);
	return 0;
}

static int
lm_is_session_write(const struct workers_sig_change *c)
{
	return c->key.kind == WORKERS_SIG_SESSION && !c->deleted;
}

/* The changes of a MessageStore in their order, runs of session writes as one statement each. */
int
lm_sig_add_changes(struct app *app, struct instance *inst, struct db_tx *tx, const struct workers_sig_change *c,
    size_t n, char *err, size_t errlen)
{
	size_t i = 0, j;

	while (i < n) {
		for (j = i; j < n && lm_is_session_write(&c[j]); j++)
			;
		if (j - i >= 2) {
			lm_add_sessions(app, inst, tx, c + i, j - i);
			i = j;
			continue;
		}
		if (lm_add_change(app, inst, tx, &c[i], err, errlen) == -1)
			return -1;
		i++;
	}
	return 0;
}
