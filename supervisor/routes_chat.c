/* /chat/findMessages, /chat/findChats and /chat/findContacts: Evolution's read routes over the stored chat,
 * contact and message tables (issue 9). The worker's write path fills those tables; these only read. */
#include "app.h"
#include "chat_find.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "registry.h"	/* struct instance */
#include "routes.h"
#include "sql.h"
#include "validate.h"
#include "xmalloc.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIND_JSON_DEPTH	128	/* nesting of a stored message json-c parses (its default of 32 is too shallow) */

/* A findMessages in flight: the page it asked for, echoed in the reply. */
struct find_msg_ctx {
	struct http_call *c;
	long long page;
	long long page_size;
};

/* The database failed the read: 503 for an outage, else 500 with the error. 0 when it did not. */
static int
find_failed(struct http_call *c, const struct db_result *r)
{
	if (r->unavailable) {
		http_reply_unavailable(c, "database");
		return 1;
	}
	if (r->err != NULL) {
		log_warnx("%s: %s", c->name, r->err);
		http_reply_error_msg(c, 500, "%s", r->err);
		return 1;
	}
	return 0;
}

/* Column col of row as a JSON string, or null. */
static struct json_object *
find_text(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return NULL;
	return json_object_new_string(PQgetvalue(res, row, col));
}

/* Column col of row (an int8 or int4) as a JSON number, or null. */
static struct json_object *
find_int(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return NULL;
	return json_object_new_int64(strtoll(PQgetvalue(res, row, col), NULL, 10));
}

/* Column col of row (json text from PostgreSQL) as json-c, or null when NULL or deeper than we parse. */
static struct json_object *
find_json(const char *name, const PGresult *res, int row, int col)
{
	struct json_tokener *tok;
	struct json_object *o;
	const char *s;

	if (PQgetisnull(res, row, col))
		return NULL;
	s = PQgetvalue(res, row, col);
	if ((tok = json_tokener_new_ex(FIND_JSON_DEPTH)) == NULL)
		return NULL;
	o = json_tokener_parse_ex(tok, s, PQgetlength(res, row, col));
	if (json_tokener_get_error(tok) != json_tokener_success) {
		log_warnx("%s: a stored JSON value could not be read: %s", name,
		    json_tokener_error_desc(json_tokener_get_error(tok)));
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* Check where.messageTimestamp and, when both bounds are set (Evolution ignores one alone), note the range. */
static void
find_check_range(struct json_object *errs, struct json_object *where, struct chat_find_msg_filter *f)
{
	static const char *const names[] = { "gte", "lte" };
	struct json_object *ts, *v;
	long long at[2];
	int set = 0, i;
	char msg[128];

	if ((ts = v_field(errs, where, "where.", "messageTimestamp", V_OBJECT, 0)) == NULL)
		return;
	for (i = 0; i < 2; i++) {
		/* Evolution tests each bound for truth: "", 0 and false are no bound */
		if (!json_object_object_get_ex(ts, names[i], &v) || v == NULL ||
		    (json_object_is_type(v, json_type_string) && json_object_get_string_len(v) == 0) ||
		    (json_object_is_type(v, json_type_boolean) && !json_object_get_boolean(v)) ||
		    (json_object_is_type(v, json_type_int) && json_object_get_int64(v) == 0) ||
		    (json_object_is_type(v, json_type_double) && json_object_get_double(v) == 0))
			continue;
		if (v_date(v, &at[i]) == -1) {
			snprintf(msg, sizeof(msg), "where.messageTimestamp.%s is not a valid date", names[i]);
			json_object_array_add(errs, json_object_new_string(msg));
			continue;
		}
		set |= 1 << i;
	}
	if (set == 3) {
		f->has_range = 1;
		f->ts_gte = at[0];
		f->ts_lte = at[1];
	}
}

/* Whether every property of obj is one of names (JSON Schema's propertyNames enum, as Evolution's conditional
 * rules use it). */
static int
find_only(struct json_object *obj, const char *const *names)
{
	const char *const *n;

	json_object_object_foreach(obj, k, v) {
		(void)v;
		for (n = names; *n != NULL && strcmp(*n, k) != 0; n++)
			;
		if (*n == NULL)
			return 0;
	}
	return 1;
}

/* A string field of a schema that also says minLength 1 (with the message Evolution's rule prints). */
static const char *
find_nonempty(struct json_object *errs, struct json_object *obj, const char *prefix, const char *field,
    int cond, const char *cond_msg)
{
	struct json_object *v = v_field(errs, obj, prefix, field, V_STRING, 0);
	char msg[160];

	if (v == NULL || json_object_get_string_len(v) > 0)
		return v != NULL ? json_object_get_string(v) : NULL;
	snprintf(msg, sizeof(msg), "%s%s does not meet minimum length of 1", prefix, field);
	json_object_array_add(errs, json_object_new_string(msg));
	if (cond) {
		snprintf(msg, sizeof(msg), cond_msg, field);
		json_object_array_add(errs, json_object_new_string(msg));
	}
	return NULL;
}

/* where.key of findMessages into f. Evolution's schema checks id, remoteJid (non-empty strings) and fromMe
 * (boolean) only when the key has no other property; we check the types always (a wrong one could only fail
 * later upstream). */
static void
find_check_key(struct json_object *errs, struct json_object *where, struct chat_find_msg_filter *f)
{
	static const char *const known[] = { "fromMe", "remoteJid", "id", NULL };
	static const char *const strs[] = { "id", "remoteJid", "participants" };
	struct json_object *key, *v;
	const char *s;
	int only;
	size_t i;
	char msg[160];

	if ((key = v_field(errs, where, "where.", "key", V_OBJECT, 0)) == NULL)
		return;
	only = find_only(key, known);
	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		if (!json_object_object_get_ex(key, strs[i], &v) || v == NULL)
			continue;
		if (only && (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0)) {
			json_object_array_add(errs, json_object_new_string("The property cannot be empty"));
			continue;
		}
		if (!json_object_is_type(v, json_type_string)) {
			snprintf(msg, sizeof(msg), "where.key.%s is not of a type(s) string", strs[i]);
			json_object_array_add(errs, json_object_new_string(msg));
			continue;
		}
		/* Evolution tests each for truth: an empty string is no filter */
		s = json_object_get_string(v);
		if (*s == '\0')
			continue;
		if (i == 0)
			f->key_id = s;
		else if (i == 1)
			f->remote_jid = s;
		else
			/* upstream compares key.participants, a field no stored key has, so it finds nothing; the
			 * participant is what a caller means */
			f->participant = s;
	}
	if (json_object_object_get_ex(key, "fromMe", &v) && v != NULL) {
		if (!json_object_is_type(v, json_type_boolean)) {
			json_object_array_add(errs, json_object_new_string("where.key.fromMe is not of a type(s) boolean"));
			if (only)
				json_object_array_add(errs,
				    json_object_new_string("where.key.fromMe is not one of enum values: true,false"));
		} else
			/* only true filters, as upstream: clients send a whole key {remoteJid, fromMe:false} to
			 * read both directions of a chat */
			f->from_me = json_object_get_boolean(v);
	}
}

/* page or offset: a non-negative integer at most max; 0 or absent takes def (Evolution tests them for truth). */
static long long
find_check_count(struct json_object *errs, struct json_object *body, const char *field, long long def,
    long long max)
{
	struct json_object *v = v_field(errs, body, "", field, V_INTEGER, 0);
	long long n;
	char msg[128];

	if (v == NULL)
		return def;
	n = json_object_is_type(v, json_type_int) ? (long long)json_object_get_int64(v) :
	    (long long)json_object_get_double(v);
	if (n < 0) {
		snprintf(msg, sizeof(msg), "%s must be greater than or equal to 0", field);
		json_object_array_add(errs, json_object_new_string(msg));
		return def;
	}
	if (n > max) {
		snprintf(msg, sizeof(msg), "%s must be less than or equal to %lld", field, max);
		json_object_array_add(errs, json_object_new_string(msg));
		return def;
	}
	return n == 0 ? def : n;
}

/* One stored message as Evolution's findMessages record; cols from col. */
static struct json_object *
find_msg_record(const char *name, const PGresult *res, int row, int col)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "id", find_text(res, row, col));
	json_object_object_add(o, "key", find_json(name, res, row, col + 1));
	json_object_object_add(o, "pushName", find_text(res, row, col + 2));
	json_object_object_add(o, "messageType", find_text(res, row, col + 3));
	json_object_object_add(o, "message", find_json(name, res, row, col + 4));
	json_object_object_add(o, "messageTimestamp", find_int(res, row, col + 5));
	json_object_object_add(o, "instanceId", find_text(res, row, col + 6));
	json_object_object_add(o, "source", find_text(res, row, col + 7));
	/* no context column yet: the messaging write path decides where contextInfo lives */
	json_object_object_add(o, "contextInfo", NULL);
	/* no update rows are stored yet; the message's own status is the last one */
	json_object_object_add(o, "MessageUpdate", json_object_new_array());
	return o;
}

/* The page of findMessages: total, pages, currentPage and its records. */
static void
find_msg_cb(void *arg, const struct db_result *r)
{
	struct find_msg_ctx *fc = arg;
	struct http_call *c = fc->c;
	struct json_object *o, *m, *records;
	const PGresult *res;
	long long total;
	int i, n;

	if (find_failed(c, r)) {
		free(fc);
		return;
	}
	res = r->res[r->nres - 1];
	n = PQntuples(res);
	total = n > 0 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
	records = json_object_new_array();
	/* a page past the end is one row of NULLs beside the count */
	for (i = 0; i < n; i++)
		if (!PQgetisnull(res, i, 1))
			json_object_array_add(records, find_msg_record(c->name, res, i, 1));
	m = json_object_new_object();
	json_object_object_add(m, "total", json_object_new_int64(total));
	json_object_object_add(m, "pages", json_object_new_int64(chat_find_pages(total, fc->page_size)));
	json_object_object_add(m, "currentPage", json_object_new_int64(fc->page));
	json_object_object_add(m, "records", records);
	o = json_object_new_object();
	json_object_object_add(o, "messages", m);
	http_reply_json(c, 200, o);
	free(fc);
}

/* POST /chat/findMessages: Evolution's filters, newest first, `offset` messages a page. */
void
route_chat_find_messages(struct http_call *c)
{
	static const char *const only_id[] = { "_id", NULL };
	struct json_object *errs = json_object_new_array(), *where, *v;
	struct chat_find_msg_filter f;
	struct chat_find_where w;
	struct find_msg_ctx *fc;
	char sql[3 * CHAT_FIND_SQL_MAX], limit[24], skip[24];
	long long page, size;
	int nl, ns;

	memset(&f, 0, sizeof(f));
	where = v_field(errs, c->body, "", "where", V_OBJECT, 0);
	v_field(errs, c->body, "", "limit", V_INTEGER, 0);	/* declared by Evolution's schema, then unused */
	page = find_check_count(errs, c->body, "page", 1, CHAT_FIND_PAGE_NUM_MAX);
	size = find_check_count(errs, c->body, "offset", CHAT_FIND_PAGE_DEFAULT, CHAT_FIND_PAGE_MAX);
	if (where != NULL) {
		find_nonempty(errs, where, "where.", "_id", find_only(where, only_id), "The \"%s\" cannot be empty");
		v_field(errs, where, "where.", "message", V_OBJECT, 0);
		/* exact matches even when empty, as Prisma's equality (an empty one finds nothing) */
		if ((v = v_field(errs, where, "where.", "id", V_STRING, 0)) != NULL)
			f.id = json_object_get_string(v);
		if ((v = v_field(errs, where, "where.", "source", V_STRING, 0)) != NULL)
			f.source = json_object_get_string(v);
		if ((v = v_field(errs, where, "where.", "messageType", V_STRING, 0)) != NULL)
			f.message_type = json_object_get_string(v);
		find_check_key(errs, where, &f);
		find_check_range(errs, where, &f);
	}
	if (json_object_array_length(errs) > 0) {
		http_reply_validation(c, errs);
		return;
	}
	json_object_put(errs);
	if (chat_find_messages_where(&f, c->inst->id, &w) == -1) {
		http_reply_error_msg(c, 500, "The filter is too large");
		return;
	}
	snprintf(limit, sizeof(limit), "%lld", size);
	snprintf(skip, sizeof(skip), "%lld", size * (page - 1));
	if ((nl = chat_find_param(&w, limit)) == -1 || (ns = chat_find_param(&w, skip)) == -1) {
		http_reply_error_msg(c, 500, "The filter is too large");
		return;
	}
	/* One statement: the count and the page read the same snapshot. The LEFT JOIN keeps the count when the
	 * page is past the end. Ties in time are broken by row id, so pages neither repeat nor skip a message. */
	snprintf(sql, sizeof(sql),
	    "SELECT c.n, p.id, p.key, p.push_name, p.message_type, p.message, p.message_timestamp, p.instance_id,"
	    " p.source FROM (SELECT count(*) AS n FROM message m WHERE m.instance_id = $1%s) c"
	    " LEFT JOIN (SELECT m.id, m.key::text AS key, m.push_name, m.message_type, m.message::text AS message,"
	    " m.message_timestamp, m.instance_id, m.source FROM message m WHERE m.instance_id = $1%s"
	    " ORDER BY m.message_timestamp DESC, m.id DESC LIMIT $%d::bigint OFFSET $%d::bigint) p ON true"
	    " ORDER BY p.message_timestamp DESC, p.id DESC", w.sql, w.sql, nl, ns);
	fc = xcalloc(1, sizeof(*fc));
	fc->c = c;
	fc->page = page;
	fc->page_size = size;
	db_query(c->app->db, sql, w.nparams, w.params, find_msg_cb, fc);
}

/* where.remoteJid of findChats / findContacts as Evolution reads it: a JID kept, a number made one. NULL when
 * absent or empty (no filter); errors to errs. */
static const char *
find_check_jid(struct json_object *errs, struct json_object *where, char *jid, size_t jidlen)
{
	struct json_object *v = v_field(errs, where, "where.", "remoteJid", V_STRING, 0);
	const char *s;

	if (v == NULL || json_object_get_string_len(v) == 0)
		return NULL;
	s = json_object_get_string(v);
	if (strlen(s) <= V_JID_MAX && strchr(s, '@') != NULL) {
		snprintf(jid, jidlen, "%s", s);
		return jid;
	}
	if (strlen(s) > V_JID_MAX || v_jid(s, jid, jidlen) == -1) {
		json_object_array_add(errs, json_object_new_string("where.remoteJid does not meet maximum length of 128"));
		return NULL;
	}
	return jid;
}

/* The contact schema Evolution validates findChats and findContacts with: where._id, id and pushName are
 * non-empty strings when present. Returns where (or NULL). */
static struct json_object *
find_check_contact_where(struct json_object *errs, struct json_object *body)
{
	static const char *const listed[] = { "_id", "id", "pushName", NULL };
	struct json_object *where = v_field(errs, body, "", "where", V_OBJECT, 0);
	int only;
	size_t i;

	if (where == NULL)
		return NULL;
	only = find_only(where, listed);
	for (i = 0; listed[i] != NULL; i++)
		find_nonempty(errs, where, "where.", listed[i], only, "The \"%s\" cannot be empty");
	return where;
}

/* findChats rows: the contact, its chat window and its newest message. */
static void
find_chats_cb(void *arg, const struct db_result *r)
{
	struct http_call *c = arg;
	struct json_object *arr, *o, *lm, *msg;
	const PGresult *res;
	int i, n;

	if (find_failed(c, r))
		return;
	res = r->res[r->nres - 1];
	n = PQntuples(res);
	arr = json_object_new_array_ext(n);
	for (i = 0; i < n; i++) {
		o = json_object_new_object();
		json_object_object_add(o, "id", find_text(res, i, 0));
		json_object_object_add(o, "remoteJid", find_text(res, i, 1));
		json_object_object_add(o, "pushName", find_text(res, i, 2));
		json_object_object_add(o, "profilePicUrl", find_text(res, i, 3));
		json_object_object_add(o, "updatedAt", find_text(res, i, 4));
		json_object_object_add(o, "windowStart", find_text(res, i, 5));
		json_object_object_add(o, "windowExpires", find_text(res, i, 6));
		json_object_object_add(o, "windowActive", json_object_new_boolean(PQgetvalue(res, i, 7)[0] == 't'));
		lm = json_object_new_object();
		json_object_object_add(lm, "id", find_text(res, i, 8));
		json_object_object_add(lm, "key", find_json(c->name, res, i, 9));
		json_object_object_add(lm, "pushName", find_text(res, i, 10));
		json_object_object_add(lm, "participant", find_text(res, i, 11));
		json_object_object_add(lm, "messageType", find_text(res, i, 12));
		msg = find_json(c->name, res, i, 13);
		chat_find_message_clean(msg);
		json_object_object_add(lm, "message", msg);
		json_object_object_add(lm, "contextInfo", NULL);
		json_object_object_add(lm, "source", find_text(res, i, 14));
		json_object_object_add(lm, "messageTimestamp", find_int(res, i, 15));
		json_object_object_add(lm, "instanceId", find_text(res, i, 16));
		json_object_object_add(lm, "sessionId", NULL);
		json_object_object_add(lm, "status", find_text(res, i, 17));
		json_object_object_add(o, "lastMessage", lm);
		json_object_array_add(arr, o);
	}
	if (n == CHAT_FIND_LIST_MAX)
		log_info("%s: findChats answered the first %d chats only", c->name, CHAT_FIND_LIST_MAX);
	http_reply_json(c, 200, arr);
}

/* POST /chat/findChats: one entry per contact with a message, with its newest one, most recent chat first
 * (Evolution Lite's intended query; its own fails on unquoted aliases). */
void
route_chat_find_chats(struct http_call *c)
{
	struct json_object *errs = json_object_new_array(), *where;
	struct chat_find_msg_filter f;
	struct chat_find_where w;
	char jidbuf[V_JID_MAX + 32], sql[3 * CHAT_FIND_SQL_MAX], ctw[CHAT_FIND_SQL_MAX] = "";
	const char *jid = NULL;
	int n;

	memset(&f, 0, sizeof(f));
	where = find_check_contact_where(errs, c->body);
	if (where != NULL) {
		jid = find_check_jid(errs, where, jidbuf, sizeof(jidbuf));
		find_check_range(errs, where, &f);
	}
	if (json_object_array_length(errs) > 0) {
		http_reply_validation(c, errs);
		return;
	}
	json_object_put(errs);
	/* the range picks the messages considered; a contact without one in it is not listed */
	if (chat_find_messages_where(&f, c->inst->id, &w) == -1) {
		http_reply_error_msg(c, 500, "The filter is too large");
		return;
	}
	if (jid != NULL) {
		if ((n = chat_find_param(&w, jid)) == -1) {
			http_reply_error_msg(c, 500, "The filter is too large");
			return;
		}
		snprintf(ctw, sizeof(ctw), " AND ct.remote_jid = $%d", n);
	}
	snprintf(sql, sizeof(sql),
	    "SELECT ct.id, ct.remote_jid, ct.push_name, ct.profile_pic_url,"
	    " " SQL_TS("to_timestamp(lm.message_timestamp)") ","
	    " " SQL_TS("ch.created_at") ", " SQL_TS("ch.created_at + interval '24 hours'") ","
	    " COALESCE(ch.created_at + interval '24 hours' > now(), false),"
	    " lm.id, lm.key::text, lm.push_name, lm.participant, lm.message_type, lm.message::text, lm.source,"
	    " lm.message_timestamp, lm.instance_id, lm.status"
	    " FROM contact ct"
	    " JOIN LATERAL (SELECT m.* FROM message m WHERE m.instance_id = $1 AND m.remote_jid = ct.remote_jid%s"
	    " ORDER BY m.message_timestamp DESC, m.id DESC LIMIT 1) lm ON true"
	    " LEFT JOIN chat ch ON ch.instance_id = ct.instance_id AND ch.remote_jid = ct.remote_jid"
	    " WHERE ct.instance_id = $1%s"
	    " ORDER BY lm.message_timestamp DESC, ct.id LIMIT %d", w.sql, ctw, CHAT_FIND_LIST_MAX);
	db_query(c->app->db, sql, w.nparams, w.params, find_chats_cb, c);
}

/* findContacts rows as Evolution's Contact model. */
static void
find_contacts_cb(void *arg, const struct db_result *r)
{
	struct http_call *c = arg;
	struct json_object *arr, *o;
	const PGresult *res;
	int i, n;

	if (find_failed(c, r))
		return;
	res = r->res[r->nres - 1];
	n = PQntuples(res);
	arr = json_object_new_array_ext(n);
	for (i = 0; i < n; i++) {
		o = json_object_new_object();
		json_object_object_add(o, "id", find_text(res, i, 0));
		json_object_object_add(o, "remoteJid", find_text(res, i, 1));
		json_object_object_add(o, "pushName", find_text(res, i, 2));
		json_object_object_add(o, "profilePicUrl", find_text(res, i, 3));
		json_object_object_add(o, "createdAt", find_text(res, i, 4));
		json_object_object_add(o, "updatedAt", find_text(res, i, 5));
		json_object_object_add(o, "instanceId", find_text(res, i, 6));
		json_object_array_add(arr, o);
	}
	if (n == CHAT_FIND_LIST_MAX)
		log_info("%s: findContacts answered the first %d contacts only", c->name, CHAT_FIND_LIST_MAX);
	http_reply_json(c, 200, arr);
}

/* POST /chat/findContacts: the instance's contacts, or the one of where.remoteJid (the only filter Evolution
 * applies). */
void
route_chat_find_contacts(struct http_call *c)
{
	struct json_object *errs = json_object_new_array(), *where;
	char jidbuf[V_JID_MAX + 32], sql[CHAT_FIND_SQL_MAX];
	const char *jid = NULL, *p[2];

	where = find_check_contact_where(errs, c->body);
	if (where != NULL)
		jid = find_check_jid(errs, where, jidbuf, sizeof(jidbuf));
	if (json_object_array_length(errs) > 0) {
		http_reply_validation(c, errs);
		return;
	}
	json_object_put(errs);
	p[0] = c->inst->id;
	p[1] = jid;
	snprintf(sql, sizeof(sql),
	    "SELECT ct.id, ct.remote_jid, ct.push_name, ct.profile_pic_url, " SQL_TS("ct.created_at") ","
	    " " SQL_TS("ct.updated_at") ", ct.instance_id FROM contact ct WHERE ct.instance_id = $1%s"
	    " ORDER BY ct.id LIMIT %d", jid != NULL ? " AND ct.remote_jid = $2" : "", CHAT_FIND_LIST_MAX);
	db_query(c->app->db, sql, jid != NULL ? 2 : 1, p, find_contacts_cb, c);
}
