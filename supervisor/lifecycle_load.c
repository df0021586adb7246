/* Start-up: every instance of our client name, with its credentials, read with one blocking query before the
 * loop runs (lifecycle_load), registered through lc_register like a create. */
#include "lifecycle_int.h"
#include "app.h"
#include "config.h"
#include "log.h"
#include "registry.h"
#include "seal_store.h"
#include "sql.h"
#include "webhook.h"
#include "xmalloc.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A boolean column ('t'), false when NULL. */
static int
pq_bool(const PGresult *r, int row, int col)
{
	return !PQgetisnull(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
}

/* A text column, NULL when NULL. */
static const char *
pq_str(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

/* A timestamptz column as microseconds since the epoch (exact: extract gives numeric). */
#define LC_US(col) "(extract(epoch FROM " col ") * 1000000)::bigint"

/* A bigint column, 0 when NULL. */
static int64_t
pq_int64(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* ANALYZE the message tables at start when their statistics count fewer than half of the messages rows wagate
 * knows of: the generic plans made from them would read whole instances (lc_analyze_young). */
static void
lc_analyze_stale(PGconn *conn, int64_t messages)
{
	PGresult *r = PQexec(conn, "SELECT reltuples FROM pg_class WHERE oid = 'message'::regclass");
	double tuples;

	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		PQclear(r);
		return;
	}
	tuples = strtod(PQgetvalue(r, 0, 0), NULL);
	PQclear(r);
	if (messages == 0 || tuples >= (double)messages / 2)
		return;
	log_info("analyzing the message tables (statistics count %.0f of %lld rows)", tuples < 0 ? 0 : tuples,
	    (long long)messages);
	r = PQexec(conn, "ANALYZE message, chat, contact");
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		log_warnx("analyzing the message tables: %s", PQresultErrorMessage(r));
	PQclear(r);
}

/* Start-up: every instance of our client name, with its credentials, into the registry and the worker table. */
int
lifecycle_load(struct app *app, char *err, size_t errlen)
{
	static const char *sql =
	    "SELECT i.id, i.name, i.token, i.integration, i.number, i.owner_jid, i.profile_name,"
	    " i.connection_status,"
	    " coalesce(s.reject_call, false), coalesce(s.groups_ignore, false), coalesce(s.always_online, false),"
	    " coalesce(s.read_messages, false), coalesce(s.read_status, false), coalesce(s.sync_full_history, false),"
	    " coalesce(s.msg_call, ''), coalesce(s.wavoip_token, ''),"
	    " coalesce(p.enabled, false), p.host, p.port, p.protocol, p.username, p.password,"
	    " coalesce(c.paired, false), c.creds,"
	    " " LC_US("i.created_at") ", " LC_US("i.updated_at") ","
	    " s.instance_id IS NOT NULL, " LC_US("s.created_at") ", " LC_US("s.updated_at") ","
	    " p.instance_id IS NOT NULL, " LC_US("p.created_at") ", " LC_US("p.updated_at") ","
	    " i.disconnection_reason_code, i.disconnection_object, " LC_US("i.disconnection_at") ","
	    " coalesce(mc.n, 0), coalesce(cc.n, 0), coalesce(hc.n, 0),"
	    " (SELECT " SQL_WEBHOOK_JSON("w") "::text FROM instance_webhook w WHERE w.instance_id = i.id)"
	    " FROM instance i LEFT JOIN instance_setting s ON s.instance_id = i.id"
	    " LEFT JOIN instance_proxy p ON p.instance_id = i.id"
	    " LEFT JOIN auth_creds c ON c.instance_id = i.id"
	    /* The only COUNT(*) of these tables: from here on lifecycle_count_add keeps the numbers. */
	    " LEFT JOIN (SELECT instance_id, count(*) AS n FROM message GROUP BY 1) mc ON mc.instance_id = i.id"
	    " LEFT JOIN (SELECT instance_id, count(*) AS n FROM contact GROUP BY 1) cc ON cc.instance_id = i.id"
	    " LEFT JOIN (SELECT instance_id, count(*) AS n FROM chat GROUP BY 1) hc ON hc.instance_id = i.id"
	    " WHERE i.client_name = $1 ORDER BY i.created_at, i.name";
	const char *params[1] = { app->cfg->client_name };
	PGconn *conn = PQconnectdb(app->cfg->database_uri);
	PGresult *r;
	unsigned char *creds;
	size_t creds_len;
	char sealerr[256];
	int i, n;

	if (PQstatus(conn) != CONNECTION_OK) {
		snprintf(err, errlen, "connecting to the database: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return -1;
	}
	/* Whatever the table said, nothing is connected until a worker reports it (first, so the rows read
	 * below carry the updated_at the registry keeps). */
	r = PQexecParams(conn, "UPDATE instance SET connection_status = 'close', updated_at = now()"
	    " WHERE client_name = $1 AND connection_status <> 'close'", 1, NULL, params, NULL, NULL, 0);
	PQclear(r);
	r = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "loading instances: %s", PQresultErrorMessage(r));
		PQclear(r);
		PQfinish(conn);
		return -1;
	}
	n = PQntuples(r);
	for (i = 0; i < n; i++) {
		struct settings s;
		struct proxy p;
		struct lc_row row;
		struct instance *inst;

		memset(&row, 0, sizeof(row));
		row.id = PQgetvalue(r, i, 0);
		row.name = PQgetvalue(r, i, 1);
		row.token = PQgetvalue(r, i, 2);
		row.integration = PQgetvalue(r, i, 3);
		row.number = pq_str(r, i, 4);
		row.owner_jid = pq_str(r, i, 5);
		row.profile_name = pq_str(r, i, 6);
		s.reject_call = pq_bool(r, i, 8);
		s.groups_ignore = pq_bool(r, i, 9);
		s.always_online = pq_bool(r, i, 10);
		s.read_messages = pq_bool(r, i, 11);
		s.read_status = pq_bool(r, i, 12);
		s.sync_full_history = pq_bool(r, i, 13);
		s.msg_call = PQgetvalue(r, i, 14);
		s.wavoip_token = PQgetvalue(r, i, 15);
		p.enabled = pq_bool(r, i, 16);
		p.host = (char *)pq_str(r, i, 17);
		p.port = (char *)pq_str(r, i, 18);
		p.protocol = (char *)pq_str(r, i, 19);
		p.username = (char *)pq_str(r, i, 20);
		p.password = (char *)pq_str(r, i, 21);
		row.settings = &s;
		row.proxy = &p;
		row.created_us = pq_int64(r, i, 24);
		creds = NULL;
		creds_len = 0;
		if (!PQgetisnull(r, i, 23) &&
		    (creds = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 23), &creds_len)) == NULL)
			log_warnx("%s: could not decode the stored credentials", row.name);
		if (seal_store_open(app->cfg, conn, row.id, row.name, creds, &creds_len, sealerr, sizeof(sealerr)) == -1)
			row.creds_error = sealerr;
		/* Paired instances log in by themselves; unpaired ones wait for /instance/connect but keep their
		 * registration keys (the worker gets the blob either way). */
		inst = lc_register(app, &row, creds, creds_len, pq_bool(r, i, 22), 0);
		inst->updated_us = pq_int64(r, i, 25);
		inst->has_setting = pq_bool(r, i, 26);
		inst->setting_created_us = pq_int64(r, i, 27);
		inst->setting_updated_us = pq_int64(r, i, 28);
		inst->has_proxy = pq_bool(r, i, 29);
		inst->proxy_created_us = pq_int64(r, i, 30);
		inst->proxy_updated_us = pq_int64(r, i, 31);
		if ((inst->has_disconnection = !PQgetisnull(r, i, 32)))
			inst->disconnection_code = atoi(PQgetvalue(r, i, 32));
		instance_set_str(&inst->disconnection_object, pq_str(r, i, 33));
		inst->disconnection_us = pq_int64(r, i, 34);
		inst->count_messages = pq_int64(r, i, 35);
		if (app->lc != NULL)
			app->lc->messages += inst->count_messages;
		inst->count_contacts = pq_int64(r, i, 36);
		inst->count_chats = pq_int64(r, i, 37);
		if (!PQgetisnull(r, i, 38))
			inst->webhook = webhook_inst_from_json(PQgetvalue(r, i, 38));
		if (row.creds_error != NULL)
			seal_store_fail(conn, inst, row.creds_error);
		lc_fetch_refresh(app, inst);
		if (creds != NULL) {
			explicit_wipe(creds, creds_len);
			PQfreemem(creds);
		}
		/* The text forms of the blob and the proxy password are in the result too. */
		if (!PQgetisnull(r, i, 23))
			explicit_wipe(PQgetvalue(r, i, 23), (size_t)PQgetlength(r, i, 23));
		if (!PQgetisnull(r, i, 21))
			explicit_wipe(PQgetvalue(r, i, 21), (size_t)PQgetlength(r, i, 21));
	}
	PQclear(r);
	/* The tables' statistics are autovacuum's once they had rows before this start (lc_analyze_young), unless
	 * they say less than half the rows there are (never analyzed, or autovacuum off): then analyze now. */
	if (app->lc != NULL) {
		(void)lc_analyze_skip(app->lc);
		lc_analyze_stale(conn, app->lc->messages);
	}
	PQfinish(conn);
	log_info("%d instance(s) loaded", n);
	return 0;
}
