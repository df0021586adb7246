/* Sealing the creds and prekey records the supervisor stores, and opening (and re-sealing) them at start. */
#include "seal_store.h"
#include "seal.h"
#include "config.h"
#include "conn_state.h"
#include "hex.h"
#include "log.h"
#include "registry.h"
#include "workers.h"
#include "xmalloc.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

/* The configured keys as seal.h takes them (pointers into cfg). */
static void
seal_store_keys(const struct config *cfg, struct seal_keys *keys)
{
	keys->current = cfg->creds_key.set ? cfg->creds_key.key : NULL;
	keys->old = cfg->creds_key_old.set ? cfg->creds_key_old.key : NULL;
}

/* plain sealed with key for ctx (fatal past SEAL_MAX: callers cap far below it), or a copy without a key. */
static unsigned char *
seal_store_one(const unsigned char *key, const unsigned char *ctx, size_t ctxlen, const unsigned char *plain,
    size_t len, size_t *outlen)
{
	unsigned char *out;
	char err[128];

	if (key == NULL) {
		out = xmalloc(len > 0 ? len : 1);
		memcpy(out, plain, len);
		*outlen = len;
		return out;
	}
	if (seal_encrypt(key, ctx, ctxlen, plain, len, &out, outlen, err, sizeof(err)) == -1)
		fatalx("%s", err);
	return out;
}

unsigned char *
seal_store_creds(const struct config *cfg, const char *instance_id, const unsigned char *plain, size_t len,
    size_t *outlen)
{
	unsigned char ctx[SEAL_CONTEXT_MAX];
	size_t ctxlen = seal_context_creds(instance_id, ctx);

	*outlen = 0;
	if (len == 0)
		return NULL;
	return seal_store_one(cfg->creds_key.set ? cfg->creds_key.key : NULL, ctx, ctxlen, plain, len, outlen);
}

void
seal_store_prekeys(const struct config *cfg, const char *instance_id, struct workers_prekey *keys, size_t n,
    unsigned char **records, size_t *records_len)
{
	unsigned char ctx[SEAL_CONTEXT_MAX], *buf, *blob;
	size_t i, ctxlen, bloblen, off = 0, total;

	if (!cfg->creds_key.set || n == 0)
		return;
	total = *records_len + n * SEAL_OVERHEAD;
	buf = xmalloc(total);
	for (i = 0; i < n; i++) {
		ctxlen = seal_context_prekey(instance_id, keys[i].id, ctx);
		blob = seal_store_one(cfg->creds_key.key, ctx, ctxlen, keys[i].record, keys[i].len, &bloblen);
		memcpy(buf + off, blob, bloblen);
		free(blob);
		keys[i].record = buf + off;
		keys[i].len = bloblen;
		off += bloblen;
	}
	free_wiped(*records, *records_len);
	*records = buf;
	*records_len = total;
}

/* The context of a session (group NULL) or sender-key record. */
static size_t
seal_store_record_ctx(const char *instance_id, const char *group, const char *address,
    unsigned char ctx[SEAL_CONTEXT_MAX])
{
	return group != NULL ? seal_context_sender_key(instance_id, group, address, ctx) :
	    seal_context_session(instance_id, address, ctx);
}

unsigned char *
seal_store_record(const struct config *cfg, const char *instance_id, const char *group, const char *address,
    const unsigned char *plain, size_t len, size_t *outlen)
{
	unsigned char ctx[SEAL_CONTEXT_MAX];
	size_t ctxlen = seal_store_record_ctx(instance_id, group, address, ctx);

	return seal_store_one(cfg->creds_key.set ? cfg->creds_key.key : NULL, ctx, ctxlen, plain, len, outlen);
}

int
seal_store_record_open(const struct config *cfg, const char *instance_id, const char *group, const char *address,
    const unsigned char *data, size_t len, unsigned char **out, size_t *outlen, char *err, size_t errlen)
{
	unsigned char ctx[SEAL_CONTEXT_MAX];
	size_t ctxlen = seal_store_record_ctx(instance_id, group, address, ctx);
	struct seal_keys keys;
	enum seal_which which;

	seal_store_keys(cfg, &keys);
	return seal_decrypt(&keys, ctx, ctxlen, data, len, out, outlen, &which, err, errlen);
}

/* Run one statement of the rewrite; 0 or -1 (logged). */
static int
seal_store_exec(PGconn *conn, const char *name, const char *sql, int n, const char *const *p, const int *lens,
    const int *fmts)
{
	PGresult *r = PQexecParams(conn, sql, n, NULL, p, lens, fmts, 0);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;

	if (!ok)
		log_warnx("%s: re-sealing the stored credentials: %s", name, PQresultErrorMessage(r));
	PQclear(r);
	return ok ? 0 : -1;
}

/* The prekey records of instance_id not stored the way keys->current wants, re-sealed (or opened, with no
 * current key) as two array literals: ids and hex records. -1 with err when one cannot be opened; 0 with
 * *count 0 and nothing allocated when there is nothing to do or the read failed (logged). */
static int
seal_store_prekey_arrays(const struct seal_keys *keys, PGconn *conn, const char *instance_id, const char *name,
    char **idsp, char **recsp, size_t *recs_cap, size_t *count, char *err, size_t errlen)
{
	const char *p[1] = { instance_id };
	PGresult *r = PQexecParams(conn, "SELECT key_id, record FROM signal_prekey WHERE instance_id = $1", 1, NULL,
	    p, NULL, NULL, 1);
	unsigned char ctx[SEAL_CONTEXT_MAX], *plain, *blob;
	size_t i, n, ctxlen, plen, bloblen, idcap, reccap = 3, ip = 0, rp = 0;
	char *ids, *recs;
	enum seal_which which;
	int rc = 0;

	*count = 0;
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		log_warnx("%s: reading the prekeys to re-seal: %s", name, PQresultErrorMessage(r));
		PQclear(r);
		return 0;
	}
	n = (size_t)PQntuples(r);
	for (i = 0; i < n; i++)
		reccap += 2 * ((size_t)PQgetlength(r, (int)i, 1) + SEAL_OVERHEAD) + 1;
	idcap = n * 11 + 3;
	ids = xmalloc(idcap);
	recs = xmalloc(reccap);
	ids[ip++] = '{';
	recs[rp++] = '{';
	for (i = 0; i < n; i++) {
		const unsigned char *rec = (const unsigned char *)PQgetvalue(r, (int)i, 1);
		size_t len = (size_t)PQgetlength(r, (int)i, 1);
		uint32_t id;

		if (keys->current != NULL ? seal_is_sealed_with(rec, len, keys->current) : !seal_is_sealed(rec, len))
			continue;
		if (PQgetlength(r, (int)i, 0) != 4)
			continue;
		memcpy(&id, PQgetvalue(r, (int)i, 0), 4);
		id = ntohl(id);
		ctxlen = seal_context_prekey(instance_id, id, ctx);
		if (seal_decrypt(keys, ctx, ctxlen, rec, len, &plain, &plen, &which, err, errlen) == -1) {
			/* err names the cause; say which record */
			char why[256];

			snprintf(why, sizeof(why), "prekey %u: %s", id, err);
			snprintf(err, errlen, "%s", why);
			rc = -1;
			break;
		}
		blob = seal_store_one(keys->current, ctx, ctxlen, plain, plen, &bloblen);
		free_wiped(plain, plen > 0 ? plen : 1);
		if (*count > 0) {
			ids[ip++] = ',';
			recs[rp++] = ',';
		}
		ip += (size_t)snprintf(ids + ip, idcap - ip, "%u", id);
		hex_encode(blob, bloblen, recs + rp);
		rp += 2 * bloblen;
		free_wiped(blob, bloblen > 0 ? bloblen : 1);
		(*count)++;
	}
	PQclear(r);
	ids[ip++] = '}';
	ids[ip] = '\0';
	recs[rp++] = '}';
	recs[rp] = '\0';
	if (rc == -1 || *count == 0) {
		free(ids);
		free_wiped(recs, reccap);
		*count = 0;
		return rc;
	}
	*idsp = ids;
	*recsp = recs;
	*recs_cap = reccap;
	return 0;
}

/* Inside the rewrite's transaction: every session (sender_keys 0) or sender-key record of instance_id not
 * stored the way keys->current wants, re-sealed row by row (start-up only, on the load connection). 1 when
 * written (*count rows), 0 when a read or write failed (logged), -1 with err when a record cannot be opened. */
static int
seal_store_rekey_records(const struct seal_keys *keys, PGconn *conn, const char *instance_id, const char *name,
    int sender_keys, size_t *count, char *err, size_t errlen)
{
	const char *p[1] = { instance_id };
	PGresult *r = PQexecParams(conn, sender_keys ?
	    "SELECT group_id, sender, record FROM signal_sender_key WHERE instance_id = $1" :
	    "SELECT NULL, address, record FROM signal_session WHERE instance_id = $1", 1, NULL, p, NULL, NULL, 1);
	unsigned char ctx[SEAL_CONTEXT_MAX], *plain, *blob;
	size_t ctxlen, plen, bloblen;
	enum seal_which which;
	int i, n, rc = 1;

	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		log_warnx("%s: reading the Signal records to re-seal: %s", name, PQresultErrorMessage(r));
		PQclear(r);
		return 0;
	}
	n = PQntuples(r);
	for (i = 0; i < n && rc == 1; i++) {
		/* libpq ends every value with a NUL, binary text included */
		const char *group = sender_keys ? PQgetvalue(r, i, 0) : NULL, *addr = PQgetvalue(r, i, 1);
		const unsigned char *rec = (const unsigned char *)PQgetvalue(r, i, 2);
		size_t len = (size_t)PQgetlength(r, i, 2);

		if (keys->current != NULL ? seal_is_sealed_with(rec, len, keys->current) : !seal_is_sealed(rec, len))
			continue;
		ctxlen = seal_store_record_ctx(instance_id, group, addr, ctx);
		if (seal_decrypt(keys, ctx, ctxlen, rec, len, &plain, &plen, &which, err, errlen) == -1) {
			char why[256];

			snprintf(why, sizeof(why), "%s %s: %s", sender_keys ? "sender key of" : "session", addr, err);
			snprintf(err, errlen, "%s", why);
			rc = -1;
			break;
		}
		blob = seal_store_one(keys->current, ctx, ctxlen, plain, plen, &bloblen);
		free_wiped(plain, plen > 0 ? plen : 1);
		{
			const char *up[4] = { instance_id, addr, (const char *)blob, group };
			int lens[4] = { 0, 0, (int)bloblen, 0 }, fmts[4] = { 0, 0, 1, 0 };

			if (seal_store_exec(conn, name, sender_keys ?
			    "UPDATE signal_sender_key SET record = $3 WHERE instance_id = $1 AND sender = $2 AND group_id = $4" :
			    "UPDATE signal_session SET record = $3 WHERE instance_id = $1 AND address = $2",
			    sender_keys ? 4 : 3, up, lens, fmts) == -1)
				rc = 0;
		}
		free_wiped(blob, bloblen > 0 ? bloblen : 1);
		(*count)++;
	}
	PQclear(r);
	return rc;
}

/* Re-seal the creds (plain), the prekeys, sessions and sender keys of instance_id with keys->current in one
 * transaction. -1 with err only when a record cannot be opened; a failed write is logged and ends in 0. */
static int
seal_store_rekey(const struct seal_keys *keys, PGconn *conn, const char *instance_id, const char *name,
    const unsigned char *plain, size_t plen, char *err, size_t errlen)
{
	unsigned char ctx[SEAL_CONTEXT_MAX], *blob;
	size_t ctxlen, bloblen, nkeys, recs_cap = 0, nrecs = 0;
	char *ids = NULL, *recs = NULL;
	PGresult *r;
	int ok, rc = 1;

	if (seal_store_prekey_arrays(keys, conn, instance_id, name, &ids, &recs, &recs_cap, &nkeys, err,
	    errlen) == -1)
		return -1;
	ctxlen = seal_context_creds(instance_id, ctx);
	blob = seal_store_one(keys->current, ctx, ctxlen, plain, plen, &bloblen);
	PQclear(PQexec(conn, "BEGIN"));
	{
		const char *p[2] = { instance_id, (const char *)blob };
		int lens[2] = { 0, (int)bloblen }, fmts[2] = { 0, 1 };

		ok = seal_store_exec(conn, name, "UPDATE auth_creds SET creds = $2 WHERE instance_id = $1", 2, p, lens,
		    fmts) == 0;
	}
	if (ok && nkeys > 0) {
		const char *p[3] = { instance_id, ids, recs };

		ok = seal_store_exec(conn, name, "UPDATE signal_prekey SET record = decode(t.r, 'hex')"
		    " FROM unnest($2::int[], $3::text[]) AS t(k, r) WHERE instance_id = $1 AND key_id = t.k",
		    3, p, NULL, NULL) == 0;
	}
	if (ok && (rc = seal_store_rekey_records(keys, conn, instance_id, name, 0, &nrecs, err, errlen)) == 1)
		rc = seal_store_rekey_records(keys, conn, instance_id, name, 1, &nrecs, err, errlen);
	if (ok && rc != 1)
		ok = 0;
	r = PQexec(conn, ok ? "COMMIT" : "ROLLBACK");
	if (ok && PQresultStatus(r) != PGRES_COMMAND_OK) {
		log_warnx("%s: re-sealing the stored credentials: %s", name, PQresultErrorMessage(r));
		ok = 0;
	}
	PQclear(r);
	if (ok)
		/* the line as it was before sessions were sealed too (operators and tests look for it), their count
		 * after it */
		log_info("%s: stored credentials and %zu prekey(s) %s, with %zu session/sender-key record(s)", name,
		    nkeys, keys->current != NULL ? "re-sealed with the current key" :
		    "stored in plaintext again (no current key)", nrecs);
	free_wiped(blob, bloblen > 0 ? bloblen : 1);
	free(ids);
	if (recs != NULL)
		free_wiped(recs, recs_cap);
	return rc == -1 ? -1 : 0;
}

int
seal_store_open(const struct config *cfg, PGconn *conn, const char *instance_id, const char *name,
    unsigned char *creds, size_t *len, char *err, size_t errlen)
{
	struct seal_keys keys;
	unsigned char ctx[SEAL_CONTEXT_MAX], *plain;
	size_t ctxlen, plen;
	enum seal_which which;
	int rekey;

	seal_store_keys(cfg, &keys);
	if (creds == NULL || (keys.current == NULL && keys.old == NULL && !seal_is_sealed(creds, *len)))
		return 0;
	ctxlen = seal_context_creds(instance_id, ctx);
	if (seal_decrypt(&keys, ctx, ctxlen, creds, *len, &plain, &plen, &which, err, errlen) == -1)
		return -1;
	rekey = keys.current != NULL ? which != SEAL_CURRENT : which == SEAL_OLD;
	if (rekey && seal_store_rekey(&keys, conn, instance_id, name, plain, plen, err, errlen) == -1) {
		free_wiped(plain, plen > 0 ? plen : 1);
		return -1;
	}
	/* the plaintext is never longer than what was stored */
	memcpy(creds, plain, plen);
	explicit_wipe(creds + plen, *len - plen);
	*len = plen;
	free_wiped(plain, plen > 0 ? plen : 1);
	return 0;
}

void
seal_store_fail(PGconn *conn, struct instance *inst, const char *why)
{
	struct timeval tv;
	char msg[512], code[16], us[24];
	const char *p[4] = { inst->id, code, msg, us };
	PGresult *r;

	gettimeofday(&tv, NULL);
	snprintf(msg, sizeof(msg), "stored credentials cannot be decrypted: %s", why);
	snprintf(code, sizeof(code), "%d", REASON_BAD_SESSION);
	inst->has_disconnection = 1;
	inst->disconnection_code = REASON_BAD_SESSION;
	instance_set_str(&inst->disconnection_object, msg);
	inst->disconnection_us = inst->updated_us = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
	snprintf(us, sizeof(us), "%lld", (long long)inst->updated_us);
	log_warnx("%s: not started: %s (README.md, \"Credentials at rest\")", inst->name, msg);
	r = PQexecParams(conn, "UPDATE instance SET disconnection_reason_code = $2::int, disconnection_object = $3,"
	    " disconnection_at = 'epoch'::timestamptz + $4::bigint * interval '1 microsecond',"
	    " updated_at = 'epoch'::timestamptz + $4::bigint * interval '1 microsecond' WHERE id = $1", 4, NULL, p,
	    NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		log_warnx("%s: recording the failure: %s", inst->name, PQresultErrorMessage(r));
	PQclear(r);
}
