/*
 * The Signal rows of the message path: SignalLoad answered from the Signal tables, and the Signal part of a
 * MessageStore (lifecycle_msg.c builds the rest of its transaction): sessions, identities, consumed prekeys and
 * sender keys as the worker changed them, and the sessions and identities of users whose identity changed.
 * Sessions and sender keys hold ratchet keys and are sealed at rest when a creds key is set. Also the array
 * literals both files build (lm_put).
 */
#include "lifecycle_int.h"
#include "app.h"
#include "config.h"
#include "db.h"
#include "ipc.h"
#include "log.h"
#include "registry.h"
#include "seal.h"
#include "seal_store.h"
#include "workers.h"
#include "xmalloc.h"

#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a growing string, for array literals ---- */

void
lm_put(struct lm_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = xreallocarray(b->p, b->cap, 1);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* One element of a PostgreSQL array literal, double-quoted so commas, braces and NULL mean nothing; NULL for
 * s NULL. */
void
lm_put_elem(struct lm_buf *b, const char *s, int first)
{
	if (!first)
		lm_put(b, ",", 1);
	if (s == NULL) {
		lm_put(b, "NULL", 4);
		return;
	}
	lm_put(b, "\"", 1);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			lm_put(b, "\\", 1);
		lm_put(b, s, 1);
	}
	lm_put(b, "\"", 1);
}

/* ---- SignalLoad ---- */

struct lm_load {
	struct app *app;
	char *instance_id;
	uint64_t req;
	size_t n;
	struct workers_sig_key *keys;	/* address and group owned */
};

static void
lm_load_free(void *arg)
{
	struct lm_load *ld = arg;
	size_t i;

	for (i = 0; i < ld->n; i++) {
		free((char *)ld->keys[i].address);
		free((char *)ld->keys[i].group);
	}
	free(ld->keys);
	free(ld->instance_id);
	free(ld);
}

/* The records as stored, in the keys' order; prekeys opened as the start-up path opens them. */
static void
lm_load_done_cb(void *arg, const struct db_result *r)
{
	struct lm_load *ld = arg;
	struct app *app = ld->app;
	struct workers_sig_record *recs = NULL;
	unsigned char **bufs = NULL;
	size_t *lens = NULL, i, nb = 0;
	const PGresult *res;
	char err[256] = "";

	if (r->err != NULL) {
		snprintf(err, sizeof(err), "%s", r->unavailable ? IPC_ERR_DB_UNAVAILABLE : r->err);
		goto fail;
	}
	res = r->res[0];
	if ((size_t)PQntuples(res) != ld->n) {
		snprintf(err, sizeof(err), "%d rows for %zu keys", PQntuples(res), ld->n);
		goto fail;
	}
	recs = xcalloc(ld->n > 0 ? ld->n : 1, sizeof(*recs));
	bufs = xcalloc(ld->n > 0 ? ld->n : 1, sizeof(*bufs));
	lens = xcalloc(ld->n > 0 ? ld->n : 1, sizeof(*lens));
	for (i = 0; i < ld->n; i++) {
		unsigned char *raw;
		size_t rawlen;

		recs[i].key = ld->keys[i];
		if (PQgetisnull(res, (int)i, 0))
			continue;
		raw = PQunescapeBytea((const unsigned char *)PQgetvalue(res, (int)i, 0), &rawlen);
		if (raw == NULL) {
			snprintf(err, sizeof(err), "out of memory");
			goto fail;
		}
		if (ld->keys[i].kind == WORKERS_SIG_PREKEY) {
			/* Sealed exactly as lifecycle_on_store wrote it: the AAD binds instance and prekey id. */
			unsigned char ctx[SEAL_CONTEXT_MAX];
			size_t ctxlen = seal_context_prekey(ld->instance_id, ld->keys[i].prekey_id, ctx);
			struct seal_keys keys;
			enum seal_which which;
			char serr[128];

			keys.current = app->cfg->creds_key.set ? app->cfg->creds_key.key : NULL;
			keys.old = app->cfg->creds_key_old.set ? app->cfg->creds_key_old.key : NULL;
			if (seal_decrypt(&keys, ctx, ctxlen, raw, rawlen, &bufs[nb], &lens[nb], &which, serr,
			    sizeof(serr)) == -1) {
				free_wiped(raw, rawlen);
				snprintf(err, sizeof(err), "prekey %u cannot be opened: %s", ld->keys[i].prekey_id, serr);
				goto fail;
			}
			free_wiped(raw, rawlen);
		} else if (ld->keys[i].kind == WORKERS_SIG_SESSION || ld->keys[i].kind == WORKERS_SIG_SENDER_KEY) {
			char serr[128];
			int sk = ld->keys[i].kind == WORKERS_SIG_SENDER_KEY;

			if (seal_store_record_open(app->cfg, ld->instance_id, sk ? ld->keys[i].group : NULL,
			    ld->keys[i].address, raw, rawlen, &bufs[nb], &lens[nb], serr, sizeof(serr)) == -1) {
				free_wiped(raw, rawlen);
				snprintf(err, sizeof(err), "%s %s cannot be opened: %s", sk ? "sender key of" : "session",
				    ld->keys[i].address, serr);
				goto fail;
			}
			free_wiped(raw, rawlen);
		} else {
			bufs[nb] = xmalloc(rawlen > 0 ? rawlen : 1);
			memcpy(bufs[nb], raw, rawlen);
			lens[nb] = rawlen;
			free_wiped(raw, rawlen);
		}
		recs[i].found = 1;
		recs[i].data = bufs[nb];
		recs[i].len = lens[nb];
		nb++;
	}
	workers_reply_signal(app->workers, ld->instance_id, ld->req, 1, NULL, recs, ld->n);
	goto out;
fail:
	/* an outage is logged once (the pool, the kept writes), not once per load of every instance */
	if (r->err != NULL && r->unavailable)
		log_debug("%s: loading %zu Signal records failed: %s", ld->instance_id, ld->n, err);
	else
		log_warnx("%s: loading %zu Signal records failed: %s", ld->instance_id, ld->n, err);
	workers_reply_signal(app->workers, ld->instance_id, ld->req, 0, err, NULL, 0);
out:
	for (i = 0; i < nb; i++)
		free_wiped(bufs[i], lens[i]);
	free(bufs);
	free(lens);
	free(recs);
	lm_load_free(ld);
}

/*
 * One round trip for every key: the keys become four parallel arrays, unnested WITH ORDINALITY, and each key's
 * record is read by a sub-select on its table's primary key (record NULL when absent), one row per key, in
 * order. Why sub-selects and not joins: planned as joins, a plan made for no particular keys (the generic one)
 * read every session of the instance (a bitmap scan on instance_id), so PostgreSQL planned the statement at
 * every run instead: 0.9 ms of planning per load (pg_stat_statements, bench/messages.sh at 50 pairs: 354 plans
 * in 350 loads). A sub-select looks up one key by the primary key whatever the keys are, and CASE runs only the
 * one of the key's kind. The arrays are read through scalar sub-selects so that no plan knows their length
 * (unnest of a constant array is estimated by its length, which made every custom plan look cheaper than the
 * generic one, as with the status UPDATE in lifecycle_msg.c): the generic plan is kept.
 */
static const char lm_load_sql[] =
    "SELECT CASE k.kind"
    " WHEN 1 THEN (SELECT s.record FROM signal_session s WHERE s.instance_id = $1 AND s.address = k.address)"
    " WHEN 2 THEN (SELECT i.identity_key FROM signal_identity i WHERE i.instance_id = $1 AND i.address = k.address)"
    " WHEN 3 THEN (SELECT p.record FROM signal_prekey p WHERE p.instance_id = $1 AND p.key_id = k.pid)"
    " WHEN 4 THEN (SELECT sk.record FROM signal_sender_key sk WHERE sk.instance_id = $1 AND sk.group_id = k.grp"
    " AND sk.sender = k.address) END"
    " FROM unnest((SELECT $2::int[]), (SELECT $3::text[]), (SELECT $4::text[]), (SELECT $5::int[]))"
    " WITH ORDINALITY AS k(kind, address, grp, pid, ord)"
    " ORDER BY k.ord";

/* The load's turn among the instance's worker events. */
static void
lm_load_run(struct app *app, struct instance *inst, void *payload)
{
	struct lm_load *ld = payload;
	struct lm_buf kinds = { 0 }, addrs = { 0 }, groups = { 0 }, ids = { 0 };
	struct db_tx *tx;
	const char *p[5];
	char num[16];
	size_t i;

	if (inst == NULL) {
		workers_reply_signal(app->workers, ld->instance_id, ld->req, 0, "the instance is being deleted", NULL, 0);
		lm_load_free(ld);
		return;
	}
	if (ld->n == 0) {
		workers_reply_signal(app->workers, ld->instance_id, ld->req, 1, NULL, NULL, 0);
		lm_load_free(ld);
		return;
	}
	lm_put(&kinds, "{", 1);
	lm_put(&addrs, "{", 1);
	lm_put(&groups, "{", 1);
	lm_put(&ids, "{", 1);
	for (i = 0; i < ld->n; i++) {
		snprintf(num, sizeof(num), "%s%d", i > 0 ? "," : "", ld->keys[i].kind);
		lm_put(&kinds, num, strlen(num));
		snprintf(num, sizeof(num), "%s%u", i > 0 ? "," : "", ld->keys[i].prekey_id);
		lm_put(&ids, num, strlen(num));
		lm_put_elem(&addrs, ld->keys[i].address, i == 0);
		lm_put_elem(&groups, ld->keys[i].group, i == 0);
	}
	lm_put(&kinds, "}", 1);
	lm_put(&addrs, "}", 1);
	lm_put(&groups, "}", 1);
	lm_put(&ids, "}", 1);
	p[0] = inst->id;
	p[1] = kinds.p;
	p[2] = addrs.p;
	p[3] = groups.p;
	p[4] = ids.p;
	tx = db_tx_new();
	db_tx_add(tx, lm_load_sql, 5, p);
	free(kinds.p);
	free(addrs.p);
	free(groups.p);
	free(ids.p);
	/*
	 * In the chain, not straight to the pool: the worker may evict a record from its cache once it sent the
	 * MessageStore that changed it, and load it again before that store committed. A read beside the chain
	 * could run on another connection before the COMMIT and answer the old ratchet (a message then fails to
	 * decrypt, or a used prekey comes back). Queued behind the instance's writes, it sees every store that
	 * arrived before it. The cost is that a load waits for the instance's own earlier writes, nobody else's.
	 * ONCE: the worker waits for the answer, so an outage fails it now.
	 */
	lc_chain_push(app->lc, inst->id, tx, LC_WRITE_ONCE, NULL, lm_load_done_cb, ld);
}

/* Worker table callback: SignalLoad (keys capped at WORKERS_SIG_KEYS_MAX by the table). */
void
lifecycle_on_signal_load(void *ctx, const char *instance_id, uint64_t req, const struct workers_sig_key *keys,
    size_t n)
{
	struct lm_load *ld = xcalloc(1, sizeof(*ld));
	size_t i;

	ld->app = ctx;
	ld->instance_id = xstrdup(instance_id);
	ld->req = req;
	ld->n = n;
	ld->keys = xcalloc(n > 0 ? n : 1, sizeof(*ld->keys));
	for (i = 0; i < n; i++) {
		ld->keys[i].kind = keys[i].kind;
		ld->keys[i].address = xstrdup(keys[i].address != NULL ? keys[i].address : "");
		ld->keys[i].group = xstrdup(keys[i].group != NULL ? keys[i].group : "");
		ld->keys[i].prekey_id = keys[i].prekey_id;
	}
	lc_pending_call(ctx, instance_id, lm_load_run, lm_load_free, ld);
}

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
