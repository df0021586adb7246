/* The group routes (issue 9, evolution-api-lite.md 2.7): POST /group/create, GET /group/findGroupInfos,
 * /group/fetchAllGroups and /group/participants. Validated as Evolution's routers do (create with the body
 * schema's nested-array errors; the others with its group validators: groupJid from the body or the query,
 * "@g.us" appended when missing, errors as {property, message} objects), then handed to the instance's worker
 * (workers.h group commands) and answered when the worker answers. Bad input gets a 400 and never reaches a
 * worker; a closed instance gets sendText's error.
 *
 * What differs from Evolution, on purpose: create's description, profilePicture and promoteParticipants are
 * accepted and ignored (the IPC has no command to set them yet; the answer's desc shows what the group has);
 * participants are normalised as sendText normalises a number, and those that cannot be a user are dropped
 * (Evolution drops the numbers its existence check fails, which wagate leaves to WhatsApp); pictureUrl is
 * always null (no picture lookup); participants' names and pictures come from the stored contacts only. */
#include "app.h"
#include "conn_state.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "msg_send.h"
#include "registry.h"	/* struct instance */
#include "routes.h"
#include "validate.h"
#include "worker_group_check.h"
#include "workers.h"
#include "xmalloc.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GROUP_CLOSED	"Error: Connection Closed"	/* sendText's answer for a closed instance */
#define GROUP_JID_MAX	128				/* longest groupJid asked about (V_JID_MAX) */

/* Which optional parts an answer's group object has. */
#define GROUP_JSON_PICTURE	0x1	/* pictureUrl (findGroupInfos, fetchAllGroups) */
#define GROUP_JSON_PARTICIPANTS	0x2

/* The instance cannot take a command now (closed, or its worker restarting). */
static void
group_reply_closed(struct http_call *c)
{
	http_reply_error_msg(c, 400, "%s", GROUP_CLOSED);
}

/* A worker's failure: closed when it is not connected or went away, 504 when WhatsApp did not answer in time,
 * else Evolution's code for the route with ["<what>", "Error: <why>"] (its exception with error.toString()). */
static void
group_reply_worker_error(struct http_call *c, int code, const char *error, int http_code, const char *what)
{
	struct json_object *a;
	char buf[1200];

	if (code == 503) {
		group_reply_closed(c);
		return;
	}
	if (code == 504) {
		http_reply_error_msg(c, 504, "%s", error);
		return;
	}
	a = json_object_new_array();
	json_object_array_add(a, json_object_new_string(what));
	snprintf(buf, sizeof(buf), "Error: %s", error);
	json_object_array_add(a, json_object_new_string(buf));
	http_reply_error(c, http_code, a);
}

/* A string member, left out when empty (Baileys leaves unknown attributes undefined, and JSON drops them). */
static void
group_json_str(struct json_object *o, const char *key, const char *s)
{
	if (*s != '\0')
		json_object_object_add(o, key, json_object_new_string(s));
}

/* A time in seconds; null when the worker did not know it (Baileys' +undefined is NaN, written as null). */
static void
group_json_time(struct json_object *o, const char *key, int64_t t)
{
	json_object_object_add(o, key, t > 0 ? json_object_new_int64(t) : NULL);
}

/* [{id, admin}]: admin null for a plain member, as Baileys writes it. */
static struct json_object *
group_json_participants(const struct workers_group *g)
{
	struct json_object *a = json_object_new_array(), *p;
	size_t i;

	for (i = 0; i < g->nparticipants; i++) {
		p = json_object_new_object();
		json_object_object_add(p, "id", json_object_new_string(g->participants[i].jid));
		json_object_object_add(p, "admin", *g->participants[i].admin != '\0' ?
		    json_object_new_string(g->participants[i].admin) : NULL);
		json_object_array_add(a, p);
	}
	return a;
}

/* One group as Evolution's findGroup / fetchAllGroups / Baileys' groupMetadata shape it. */
static struct json_object *
group_json(const struct workers_group *g, int parts)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(g->jid));
	json_object_object_add(o, "subject", json_object_new_string(g->subject));
	group_json_str(o, "subjectOwner", g->subject_owner);
	group_json_time(o, "subjectTime", g->subject_time);
	if (parts & GROUP_JSON_PICTURE)
		json_object_object_add(o, "pictureUrl", NULL);
	json_object_object_add(o, "size", json_object_new_int64((int64_t)g->nparticipants));
	group_json_time(o, "creation", g->creation);
	group_json_str(o, "owner", g->owner);
	group_json_str(o, "desc", g->desc);
	group_json_str(o, "descId", g->desc_id);
	json_object_object_add(o, "restrict", json_object_new_boolean(g->locked));
	json_object_object_add(o, "announce", json_object_new_boolean(g->announce));
	if (parts & GROUP_JSON_PARTICIPANTS)
		json_object_object_add(o, "participants", group_json_participants(g));
	json_object_object_add(o, "isCommunity", json_object_new_boolean(0));
	json_object_object_add(o, "isCommunityAnnounce", json_object_new_boolean(0));
	return o;
}

/* ---- create ---- */

/* The worker's GroupResult for a GroupCreate: 201 with the new group's metadata. */
static void
group_create_done_cb(void *arg, int ok, int code, const char *error, const struct workers_group *v, size_t n)
{
	struct http_call *c = arg;

	if (!ok || n != 1) {
		group_reply_worker_error(c, ok ? 500 : code, ok ? "the worker answered another count" : error, 500,
		    "Error creating group");
		return;
	}
	http_reply_json(c, 201, group_json(&v[0], GROUP_JSON_PARTICIPANTS));
}

/* participants: at least one item (and at most WORKER_GROUP_CREATE_MAX, wagate's cap), unique items (one error
 * for any number of duplicates), then every item against Evolution's item schema (a string of at least 10
 * characters with a digit; each failing keyword reports the item's description), in jsonschema's order. */
static void
group_check_participants(struct json_object *errs, struct json_object *arr)
{
	size_t i, j, len = json_object_array_length(arr);
	int dup = 0, bad;
	char msg[128];

	if (len == 0)
		json_object_array_add(errs, json_object_new_string("participants does not meet minimum length of 1"));
	if (len > WORKER_GROUP_CREATE_MAX) {
		snprintf(msg, sizeof(msg), "participants does not meet maximum length of %d", WORKER_GROUP_CREATE_MAX);
		json_object_array_add(errs, json_object_new_string(msg));
		return;
	}
	for (i = 1; i < len && !dup; i++)
		for (j = 0; j < i && !dup; j++)
			dup = json_object_equal(json_object_array_get_idx(arr, i), json_object_array_get_idx(arr, j));
	if (dup)
		json_object_array_add(errs, json_object_new_string("participants contains duplicate item"));
	for (i = 0; i < len; i++) {
		struct json_object *v = json_object_array_get_idx(arr, i);

		/* minLength counts characters; a string under 10 bytes has under 10 characters, and a digit is one */
		if (!json_object_is_type(v, json_type_string))
			bad = 1;
		else
			bad = (json_object_get_string_len(v) < 10) +
			    (strpbrk(json_object_get_string(v), "0123456789") == NULL);
		while (bad-- > 0)
			json_object_array_add(errs,
			    json_object_new_string("\"participants\" must be an array of numeric strings"));
	}
}

/* Evolution's isNotEmpty("subject", "description", "profilePicture"): it applies only when the body has no
 * other member (so never beside participants). */
static void
group_check_not_empty(struct json_object *errs, struct json_object *body)
{
	static const char *const names[] = { "subject", "description", "profilePicture" };
	char msg[64];
	size_t i;

	if (body == NULL)
		return;
	json_object_object_foreach(body, key, val) {
		(void)val;
		for (i = 0; i < 3 && strcmp(key, names[i]) != 0; i++)
			;
		if (i == 3)
			return;
	}
	for (i = 0; i < 3; i++) {
		struct json_object *v;

		if (json_object_object_get_ex(body, names[i], &v) && json_object_is_type(v, json_type_string) &&
		    json_object_get_string_len(v) == 0) {
			snprintf(msg, sizeof(msg), "The \"%s\" cannot be empty", names[i]);
			json_object_array_add(errs, json_object_new_string(msg));
		}
	}
}

/* POST /group/create: a group with us and the participants; 201 with its metadata. */
void
route_group_create(struct http_call *c)
{
	struct json_object *errs = json_object_new_array(), *subject, *parts, *promote, *v;
	const char **jids;
	char (*buf)[MSG_SEND_JID_MAX];
	size_t i, j, len, n = 0;

	/* the schema's properties in its order, then required, then isNotEmpty (jsonschema's order) */
	subject = v_field(errs, c->body, "", "subject", V_STRING, 0);
	v_field(errs, c->body, "", "description", V_STRING, 0);
	v_field(errs, c->body, "", "profilePicture", V_STRING, 0);
	if ((promote = v_field(errs, c->body, "", "promoteParticipants", V_BOOL, 0)) == NULL && c->body != NULL &&
	    json_object_object_get_ex(c->body, "promoteParticipants", &v) && v != NULL)
		json_object_array_add(errs, json_object_new_string("promoteParticipants is not one of enum values: "
		    "true,false"));
	if ((parts = v_field(errs, c->body, "", "participants", V_ARRAY, 0)) != NULL)
		group_check_participants(errs, parts);
	if (c->body == NULL || !json_object_object_get_ex(c->body, "subject", &v))
		v_field(errs, c->body, "", "subject", V_STRING, 1);
	if (c->body == NULL || !json_object_object_get_ex(c->body, "participants", &v))
		v_field(errs, c->body, "", "participants", V_ARRAY, 1);
	group_check_not_empty(errs, c->body);
	if (json_object_array_length(errs) > 0) {
		http_reply_validation(c, errs);	/* takes errs */
		return;
	}
	json_object_put(errs);
	if (json_object_get_string_len(subject) == 0 ||
	    (size_t)json_object_get_string_len(subject) > WORKERS_SUBJECT_MAX) {
		http_reply_error_msg(c, 400, "The \"subject\" must have 1 to %d bytes", WORKERS_SUBJECT_MAX);
		return;
	}
	if (c->inst->state != CONN_OPEN) {
		group_reply_closed(c);
		return;
	}
	len = json_object_array_length(parts);
	buf = xcalloc(len, sizeof(*buf));
	jids = xcalloc(len, sizeof(*jids));
	/* Numbers as sendText normalises them; what cannot be a user is dropped, a JID named twice asked once. */
	for (i = 0; i < len; i++) {
		if (msg_send_jid(json_object_get_string(json_object_array_get_idx(parts, i)), buf[n]) != MSG_SEND_USER)
			continue;
		for (j = 0; j < n && strcmp(jids[j], buf[n]) != 0; j++)
			;
		if (j == n) {
			jids[n] = buf[n];
			n++;
		}
	}
	if (n == 0)
		group_reply_worker_error(c, 400, "no participant is a WhatsApp number", 400, "Error creating group");
	else if (workers_group_create(c->app->workers, c->inst->id, json_object_get_string(subject), jids, n,
	    group_create_done_cb, c) == -1)
		group_reply_closed(c);
	free(jids);
	free(buf);
}

/* ---- the groupJid routes ---- */

/* One {property, message} error, the shape Evolution's group validators answer with. */
static void
group_reply_property(struct http_call *c, const char *property, const char *message)
{
	struct json_object *a = json_object_new_array(), *o = json_object_new_object();

	json_object_object_add(o, "property", json_object_new_string(property));
	json_object_object_add(o, "message", json_object_new_string(message));
	json_object_array_add(a, o);
	http_reply_error(c, 400, a);
}

/* Evolution's groupValidate: groupJid from the body, else the query; "@g.us" appended when missing; then the
 * schema (^[\d-]+@g.us$). The JID in jid (GROUP_JID_MAX + 1 bytes), or -1 with the answer made. */
static int
group_jid_arg(struct http_call *c, char *jid)
{
	struct json_object *v = NULL, *a;
	const char *s = NULL;
	size_t len, i;

	if (c->body != NULL && json_object_object_get_ex(c->body, "groupJid", &v) && v != NULL) {
		if (!json_object_is_type(v, json_type_string)) {
			group_reply_property(c, "groupJid", "groupJid is not of a type(s) string");
			return -1;
		}
		s = json_object_get_string(v);
	}
	if (s == NULL || *s == '\0')
		s = http_query(c, "groupJid");
	if (s == NULL || *s == '\0') {
		a = json_object_new_array();
		json_object_array_add(a, json_object_new_string("The group id needs to be informed in the query"));
		json_object_array_add(a, json_object_new_string("ex: \"groupJid=120362@g.us\""));
		http_reply_error(c, 400, a);
		return -1;
	}
	len = strlen(s);
	if (len > GROUP_JID_MAX - 5) {
		group_reply_property(c, "groupJid", "groupJid does not meet maximum length of 128");
		return -1;
	}
	snprintf(jid, GROUP_JID_MAX + 1, "%s%s", s, len >= 5 && strcmp(s + len - 5, "@g.us") == 0 ? "" : "@g.us");
	len = strlen(jid) - 5;
	for (i = 0; i < len && (jid[i] == '-' || (jid[i] >= '0' && jid[i] <= '9')); i++)
		;
	if (len == 0 || i < len) {
		group_reply_property(c, "groupJid", "groupJid does not match pattern \"^[\\\\d-]+@g.us$\"");
		return -1;
	}
	return 0;
}

/* The worker's GroupResult for findGroupInfos. */
static void
group_info_done_cb(void *arg, int ok, int code, const char *error, const struct workers_group *v, size_t n)
{
	struct http_call *c = arg;

	if (!ok || n != 1) {
		group_reply_worker_error(c, ok ? 500 : code, ok ? "the worker answered another count" : error, 404,
		    "Error fetching group");
		return;
	}
	http_reply_json(c, 200, group_json(&v[0], GROUP_JSON_PICTURE | GROUP_JSON_PARTICIPANTS));
}

/* participants waiting for the instance's contacts: Evolution names each participant it has a contact for. */
struct group_parts_ctx {
	struct http_call *c;
	struct json_object *parts;	/* [{id, admin}] */
};

/* The contacts of the participants: name and imgUrl from each one found (null when the contact has none), left
 * out for the others, as Evolution's participant.name ?? contact?.pushName does. */
static void
group_contacts_cb(void *arg, const struct db_result *r)
{
	struct group_parts_ctx *pc = arg;
	const PGresult *res = r->err == NULL && r->nres == 1 ? r->res[0] : NULL;
	struct json_object *o, *p, *id;
	size_t i, len = json_object_array_length(pc->parts);
	int k;

	if (r->unavailable) {
		http_reply_unavailable(pc->c, "database");
		json_object_put(pc->parts);
		free(pc);
		return;
	}
	if (res == NULL)
		log_warnx("%s: participants' contacts: %s", pc->c->name, r->err != NULL ? r->err : "no result");
	for (k = 0; res != NULL && k < PQntuples(res); k++)
		for (i = 0; i < len; i++) {
			p = json_object_array_get_idx(pc->parts, i);
			if (!json_object_object_get_ex(p, "id", &id) || strcmp(json_object_get_string(id),
			    PQgetvalue(res, k, 0)) != 0)
				continue;
			json_object_object_add(p, "name", PQgetisnull(res, k, 1) ? NULL :
			    json_object_new_string(PQgetvalue(res, k, 1)));
			json_object_object_add(p, "imgUrl", PQgetisnull(res, k, 2) ? NULL :
			    json_object_new_string(PQgetvalue(res, k, 2)));
		}
	o = json_object_new_object();
	json_object_object_add(o, "participants", pc->parts);
	http_reply_json(pc->c, 200, o);
	free(pc);
}

/* The worker's GroupResult for participants: then the contacts of its members. */
static void
group_participants_done_cb(void *arg, int ok, int code, const char *error, const struct workers_group *v,
    size_t n)
{
	struct http_call *c = arg;
	struct group_parts_ctx *pc;
	struct json_object *ids;
	const char *p[2];
	size_t i;

	if (!ok || n != 1) {
		group_reply_worker_error(c, ok ? 500 : code, ok ? "the worker answered another count" : error, 404,
		    "No participants");
		return;
	}
	/* The instance may have been deleted (and freed) while the worker answered. */
	if ((c->inst = registry_find(c->app->reg, c->name)) == NULL || c->inst->deleting) {
		group_reply_closed(c);
		return;
	}
	pc = xcalloc(1, sizeof(*pc));
	pc->c = c;
	pc->parts = group_json_participants(&v[0]);
	/* the JIDs as a JSON array: JSON text is escaped by json-c, where an array literal would need quoting */
	ids = json_object_new_array();
	for (i = 0; i < v[0].nparticipants; i++)
		json_object_array_add(ids, json_object_new_string(v[0].participants[i].jid));
	p[0] = c->inst->id;
	p[1] = json_object_to_json_string_ext(ids, JSON_C_TO_STRING_PLAIN);
	if (db_query(c->app->db, "SELECT remote_jid, push_name, profile_pic_url FROM contact WHERE instance_id = $1"
	    " AND remote_jid IN (SELECT jsonb_array_elements_text($2::jsonb))", 2, p, group_contacts_cb, pc) == -1)
		group_contacts_cb(pc, &(struct db_result){ .err = "the query was not queued" });
	json_object_put(ids);
}

/* findGroupInfos and participants: the group's metadata from the worker, to done. */
static void
group_query(struct http_call *c, workers_groups_cb done)
{
	char jid[GROUP_JID_MAX + 1];

	if (group_jid_arg(c, jid) == -1)
		return;
	if (c->inst->state != CONN_OPEN ||
	    workers_group_query(c->app->workers, c->inst->id, jid, done, c) == -1)
		group_reply_closed(c);
}

/* GET /group/findGroupInfos?groupJid=: one group's metadata. */
void
route_group_find_info(struct http_call *c)
{
	group_query(c, group_info_done_cb);
}

/* GET /group/participants?groupJid=: {participants: [{id, admin}]}. */
void
route_group_participants(struct http_call *c)
{
	group_query(c, group_participants_done_cb);
}

/* ---- fetchAllGroups ---- */

/* The worker's GroupResult for a GroupList; arg is the call, its getParticipants in the query. Evolution has
 * no handler for a failure here: it answers 500 with the error as a plain string. */
static void
group_list_done_cb(void *arg, int ok, int code, const char *error, const struct workers_group *v, size_t n)
{
	struct http_call *c = arg;
	const char *gp = http_query(c, "getParticipants");
	int parts = GROUP_JSON_PICTURE | (gp != NULL && strcmp(gp, "true") == 0 ? GROUP_JSON_PARTICIPANTS : 0);
	struct json_object *a;
	size_t i;

	if (!ok) {
		if (code == 503 || code == 504)
			group_reply_worker_error(c, code, error, 500, "");
		else
			http_reply_error(c, 500, json_object_new_string(error));
		return;
	}
	a = json_object_new_array();
	for (i = 0; i < n; i++)
		json_object_array_add(a, group_json(&v[i], parts));
	http_reply_json(c, 200, a);
}

/* GET /group/fetchAllGroups?getParticipants=true|false: every group we are in. */
void
route_group_fetch_all(struct http_call *c)
{
	const char *gp = http_query(c, "getParticipants");

	if (gp == NULL || *gp == '\0') {
		http_reply_error_msg(c, 400, "The getParticipants needs to be informed in the query");
		return;
	}
	if (strcmp(gp, "true") != 0 && strcmp(gp, "false") != 0) {
		group_reply_property(c, "getParticipants", "getParticipants is not one of enum values: true,false");
		return;
	}
	if (c->inst->state != CONN_OPEN ||
	    workers_group_list(c->app->workers, c->inst->id, group_list_done_cb, c) == -1)
		group_reply_closed(c);
}
