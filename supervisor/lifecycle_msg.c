/* Messaging requests of the workers (issue 9): MessageStore committed in one transaction (Signal changes,
 * message rows, statuses, LID mappings, chats, contacts and their webhook rows), and the SERVER_ACKs a send
 * route records. Everything runs in the instance's write chain, queued with the other worker events in
 * arrival order (lc_pending_call). SignalLoad and the Signal rows are lifecycle_msg_sig.c's. */
#include "lifecycle_int.h"
#include "app.h"
#include "db.h"
#include "ipc.h"
#include "known.h"
#include "log.h"
#include "msg_json.h"
#include "registry.h"
#include "webhook.h"
#include "workers.h"
#include "xmalloc.h"

#include <json-c/json.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const lm_status_names[] = { NULL, "ERROR", "PENDING", "SERVER_ACK", "DELIVERY_ACK", "READ",
    "PLAYED" };

/* Evolution's status text of a WORKERS_MSG_* (NULL for none or out of range). */
const char *
lifecycle_msg_status_name(int status)
{
	return status > 0 && status < (int)(sizeof(lm_status_names) / sizeof(lm_status_names[0])) ?
	    lm_status_names[status] : NULL;
}

/* ---- MessageStore ---- */

/* What a statement's count(*) of gate adds to the instance's fetchInstances _count. */
enum { LM_COUNT_NONE, LM_COUNT_MSG, LM_COUNT_CONTACT, LM_COUNT_CHAT, LM_COUNT_MSG_CHAT };

/* A value the store writes, for the instance's known cache once it committed (known.h). */
struct lm_known_set {
	uint64_t key, val;
	int msg_stmt;			/* the message INSERT whose row must be new, or -1 */
	int64_t msg_want;		/* the rows it inserts when all of its are new (then so is that row) */
};

struct lm_store {
	struct app *app;
	char *instance_id;
	uint64_t req;
	struct db_tx *tx;		/* NULL: nothing to write, only the answer */
	unsigned char *counts;		/* per statement of tx: LM_COUNT_* */
	int ncounts, capcounts;
	uint64_t known_gen;		/* the known cache's generation when the store was built */
	struct lm_known_set *sets;
	size_t nsets;
};

static void
lm_store_free(void *arg)
{
	struct lm_store *st = arg;

	db_tx_free(st->tx);
	free(st->counts);
	free(st->sets);
	free(st->instance_id);
	free(st);
}

/*
 * Whether the store must write key = val: no when the instance's known cache says the row holds it (val 0:
 * that the row exists). Otherwise the key is forgotten until this store commits (an earlier store on its way
 * with another value must not make a later one skip) and noted for then.
 */
static int
lm_known_write(struct instance *inst, struct lm_store *st, uint64_t key, uint64_t val, int msg_stmt,
    int64_t msg_want)
{
	if (known_has(inst->known, key, val))
		return 0;
	if (val != 0)
		known_forget(inst->known, key);
	st->sets = xreallocarray(st->sets, st->nsets + 1, sizeof(*st->sets));
	st->sets[st->nsets].key = key;
	st->sets[st->nsets].val = val;
	st->sets[st->nsets].msg_stmt = msg_stmt;
	st->sets[st->nsets].msg_want = msg_want;
	st->nsets++;
	return 1;
}

/* Note what the statement just added to st->tx counts. */
static void
lm_count(struct lm_store *st, int what)
{
	int i = db_tx_count(st->tx) - 1;

	if (i >= st->capcounts) {
		st->capcounts = (i + 1) * 2;
		st->counts = xreallocarray(st->counts, (size_t)st->capcounts, 1);
	}
	while (st->ncounts <= i)
		st->counts[st->ncounts++] = LM_COUNT_NONE;
	st->counts[i] = (unsigned char)what;
}

static struct json_object *
lm_str_or_null(const char *s)
{
	return s != NULL && *s != '\0' ? json_object_new_string(s) : NULL;
}

/* Queue event on tx, gated by the CTEs gate (parameters $1..$n); extra: gate's extra is merged into data. */
static void
lm_event(struct app *app, struct instance *inst, struct db_tx *tx, const char *event, struct json_object *data,
    const char *gate, int extra, int n, const char *const *p)
{
	struct webhook_gate g = { gate, n, p, NULL, NULL };
	struct webhook_gated_event ev = { event, data, "gate", extra };

	if (webhook_enqueue_gated(app->webhook, tx, inst->webhook, inst->id, inst->name, inst->owner_jid, &g, &ev,
	    1) == -1)
		fatalx("%s: the gated enqueue refused %s", inst->name, event);
}

/* Baileys 7's message key: {remoteJid, fromMe, id, participant?, remoteJidAlt?, participantAlt?}. */
static struct json_object *
lm_key_json(const struct workers_msg *m)
{
	struct json_object *k = json_object_new_object();

	json_object_object_add(k, "remoteJid", json_object_new_string(m->remote_jid));
	json_object_object_add(k, "fromMe", json_object_new_boolean(m->from_me));
	json_object_object_add(k, "id", json_object_new_string(m->id));
	if (*m->participant != '\0')
		json_object_object_add(k, "participant", json_object_new_string(m->participant));
	if (*m->remote_jid_alt != '\0')
		json_object_object_add(k, "remoteJidAlt", json_object_new_string(m->remote_jid_alt));
	if (*m->participant_alt != '\0')
		json_object_object_add(k, "participantAlt", json_object_new_string(m->participant_alt));
	return k;
}

/* A message's status text: the worker's, else Evolution's default (DELIVERY_ACK for an incoming message
 * without one; an own message seen from another device was at least accepted by the server). */
static const char *
lm_msg_status(const struct workers_msg *m)
{
	const char *s = lifecycle_msg_status_name(m->status);

	return s != NULL ? s : m->from_me ? "SERVER_ACK" : "DELIVERY_ACK";
}

static int
lm_is_group(const char *jid)
{
	size_t n = strlen(jid);

	return n > 5 && strcmp(jid + n - 5, "@g.us") == 0;
}

/* Whether the message row of key id (a parameter) was inserted by this transaction. Statuses come after the
 * messages of a batch, so no UPDATE of this transaction has touched an older row yet. The contact writes of a
 * message wait for it (its chat's write is in the message's own statement, behind the INSERT): a redelivered
 * old message must not bring back an old push name. */
#define LM_MSG_NEW(id) "EXISTS (SELECT 1 FROM message WHERE instance_id = $1::uuid AND key_id = " id \
	" AND xmin = pg_current_xact_id()::xid)"

/* The push name a message gives its chat's contact: the peer's, from an incoming 1:1 message only (a group
 * member's name is not the group's; an own message carries ours). NULL: none. */
static const char *
lm_contact_push(const struct workers_msg *m)
{
	return !m->from_me && !lm_is_group(m->remote_jid) && *m->push_name ? m->push_name : NULL;
}

/* Evolution's webhook object of message m (messages.upsert, send.message, an element of messages.set); its row
 * is written from it (lm_msgs_gate, lm_hist_msgs_gate). */
static struct json_object *
lm_message_data(struct instance *inst, const struct workers_msg *m)
{
	struct json_object *msg = NULL, *ctxinfo = NULL, *inner, *data;
	const char *status = lm_msg_status(m), *source = *m->source != '\0' ? m->source : "unknown";
	char type[MSG_JSON_TYPE_MAX], err[160];
	const size_t typelen = sizeof(type);

	if (msg_json_from_bytes(m->message, m->message_len, &msg, type, typelen, err, sizeof(err)) == -1) {
		/* Stored anyway: the worker received it, and refusing the batch would hold its receipts (and
		 * WhatsApp's redeliveries) forever. The row says what it is. */
		log_warnx("%s: message %s cannot be rendered: %s", inst->name, m->id, err);
		msg = json_object_new_object();
		snprintf(type, typelen, "unknown");
	}
	/* Evolution keeps the content's contextInfo beside the message; normalize drops it with an
	 * extendedTextMessage, so take it first. */
	if (json_object_object_get_ex(msg, type, &inner) && json_object_is_type(inner, json_type_object) &&
	    json_object_object_get_ex(inner, "contextInfo", &ctxinfo))
		json_object_get(ctxinfo);
	msg_json_normalize(msg, type, typelen);
	data = json_object_new_object();
	json_object_object_add(data, "key", lm_key_json(m));
	if (*m->push_name != '\0')
		json_object_object_add(data, "pushName", json_object_new_string(m->push_name));
	json_object_object_add(data, "status", json_object_new_string(status));
	json_object_object_add(data, "message", msg);
	if (ctxinfo != NULL)
		json_object_object_add(data, "contextInfo", ctxinfo);
	json_object_object_add(data, "messageType", json_object_new_string(type));
	json_object_object_add(data, "messageTimestamp", json_object_new_int64(m->timestamp));
	json_object_object_add(data, "instanceId", json_object_new_string(inst->id));
	json_object_object_add(data, "source", json_object_new_string(source));
	return data;
}

/*
 * Live messages, many in one statement: $2 their webhook objects (lm_message_data) as a jsonb array, $3 the
 * push name each gives its chat (lm_contact_push; NULL for none) as a text array in the same order. Each row is
 * inserted unless its key id is stored (ON CONFLICT DO NOTHING: a redelivered id stores nothing, touches no
 * chat and, with both gates empty, queues no webhook a second time; an id twice in the array counts once),
 * with one messages.upsert / send.message per new row in order (gate). The chats of the new rows are
 * upserted once each (an upsert cannot touch one row twice), taking the latest push name of its new rows
 * (a redelivered old message must not bring back an old name), with one chats.upsert per new chat (cgate).
 */
static const char lm_msgs_gate[] =
    "src AS (SELECT DISTINCT ON (r.d->'key'->>'id') r.d, r.cname, r.ord"
    " FROM ROWS FROM (jsonb_array_elements($2::jsonb), unnest($3::text[])) WITH ORDINALITY AS r(d, cname, ord)"
    " ORDER BY r.d->'key'->>'id', r.ord),"
    " ins AS (INSERT INTO message (instance_id, key_id, remote_jid, from_me, participant, push_name, message_type,"
    " key, message, message_timestamp, status, source)"
    " SELECT $1::uuid, d->'key'->>'id', d->'key'->>'remoteJid', (d->'key'->>'fromMe')::boolean,"
    " d->'key'->>'participant', d->>'pushName', d->>'messageType', d->'key', d->'message',"
    " (d->>'messageTimestamp')::bigint, d->>'status', d->>'source' FROM src ORDER BY ord"
    " ON CONFLICT (instance_id, key_id) DO NOTHING RETURNING key_id),"
    " gate AS (SELECT s.ord, s.d AS extra, s.cname, s.d->'key'->>'remoteJid' AS jid FROM src s"
    " JOIN ins ON ins.key_id = s.d->'key'->>'id'),"
    " up AS (INSERT INTO chat (instance_id, remote_jid, name)"
    " SELECT $1::uuid, jid, (array_agg(cname ORDER BY ord DESC) FILTER (WHERE cname IS NOT NULL))[1] FROM gate"
    " GROUP BY jid ORDER BY min(ord)"
    " ON CONFLICT (instance_id, remote_jid) DO UPDATE SET name = coalesce(EXCLUDED.name, chat.name),"
    " updated_at = now() RETURNING remote_jid, name, (xmax = 0) AS fresh),"
    " cgate AS (SELECT (SELECT min(g.ord) FROM gate g WHERE g.jid = up.remote_jid) AS ord,"
    " jsonb_build_object('remoteJid', remote_jid, 'instanceId', $1::text, 'name', name, 'unreadMessages', 0)"
    " AS extra FROM up WHERE fresh)";

/* The chat's contact of m, as Evolution keys it (findChats lists contacts with messages): contacts.upsert when
 * new, for every chat a message was stored in. Its push name is the peer's, from an incoming 1:1 message only
 * (a group member's name is not the group's; an own message carries ours); contacts.update when it changed (a
 * new row already has it, so the update finds nothing to change). Both wait for m's row to be new (statement
 * msg_stmt, which inserted msg_want rows if all of its were new). Neither runs when the known cache says the
 * row exists with that name (without a name: that it exists). */
static void
lm_add_contact(struct app *app, struct instance *inst, struct lm_store *st, const struct workers_msg *m,
    int msg_stmt, int64_t msg_want)
{
	const char *push = lm_contact_push(m);
	const char *p[4] = { inst->id, m->remote_jid, push, m->id };
	struct json_object *c;

	if (strcmp(m->remote_jid, "status@broadcast") == 0 || !lm_known_write(inst, st,
	    known_hash("contact", m->remote_jid), push != NULL ? known_hash("push", push) : 0, msg_stmt, msg_want))
		return;
	c = json_object_new_object();
	json_object_object_add(c, "remoteJid", json_object_new_string(m->remote_jid));
	json_object_object_add(c, "pushName", lm_str_or_null(push));
	json_object_object_add(c, "profilePicUrl", NULL);
	json_object_object_add(c, "instanceId", json_object_new_string(inst->id));
	lm_event(app, inst, st->tx, "contacts.upsert", c,
	    "ins AS (INSERT INTO contact (instance_id, remote_jid, push_name) SELECT $1::uuid, $2, $3"
	    " WHERE " LM_MSG_NEW("$4") " ON CONFLICT (instance_id, remote_jid) DO NOTHING RETURNING 1),"
	    " gate AS (SELECT NULL::jsonb AS extra FROM ins)", 0, 4, p);
	lm_count(st, LM_COUNT_CONTACT);
	if (push != NULL)
		lm_event(app, inst, st->tx, "contacts.update", c,
		    "upd AS (UPDATE contact SET push_name = $3, updated_at = now() WHERE instance_id = $1::uuid"
		    " AND remote_jid = $2 AND push_name IS DISTINCT FROM $3 AND " LM_MSG_NEW("$4") " RETURNING 1),"
		    " gate AS (SELECT NULL::jsonb AS extra FROM upd)", 0, 4, p);
	json_object_put(c);
}

/*
 * Live messages ms[0..n-1], all with one event (messages.upsert, or send.message for the API's own): their rows
 * and chats in one statement (lm_msgs_gate), then their contacts. A statement per message was a third of the
 * message path's statements.
 */
static void
lm_add_message_run(struct app *app, struct instance *inst, struct lm_store *st, const struct workers_msg *ms,
    size_t n)
{
	/* The events' data before each row's extra: {} (the extra is the whole object) and [] (it is the element). */
	struct json_object *rows = json_object_new_array(), *msgdata = json_object_new_object();
	struct json_object *chatdata = json_object_new_array();
	struct lm_buf names = { 0 };
	char *rowtext;
	size_t i;
	int msg_stmt;

	lm_put(&names, "{", 1);
	for (i = 0; i < n; i++) {
		json_object_array_add(rows, lm_message_data(inst, &ms[i]));
		lm_put_elem(&names, lm_contact_push(&ms[i]), i == 0);
	}
	lm_put(&names, "}", 1);
	{
		const char *p[3] = { inst->id, rowtext = webhook_json_text(rows), names.p };
		struct webhook_gated_event evs[2] = {
			{ ms[0].sent_by_api ? "send.message" : "messages.upsert", msgdata, "gate", WEBHOOK_EXTRA_EACH },
			{ "chats.upsert", chatdata, "cgate", WEBHOOK_EXTRA_EACH },
		};
		struct webhook_gate g = { lm_msgs_gate, 3, p, NULL, NULL };

		if (webhook_enqueue_gated(app->webhook, st->tx, inst->webhook, inst->id, inst->name, inst->owner_jid,
		    &g, evs, 2) == -1)
			fatalx("%s: the gated enqueue refused messages", inst->name);
	}
	lm_count(st, LM_COUNT_MSG_CHAT);
	msg_stmt = db_tx_count(st->tx) - 1;
	free(rowtext);
	free(names.p);
	json_object_put(rows);
	json_object_put(msgdata);
	json_object_put(chatdata);
	for (i = 0; i < n; i++)
		lm_add_contact(app, inst, st, &ms[i], msg_stmt, (int64_t)n);
}

/* The distinct elements of the jsonb array parameter $N by the text at PATH (a history chunk may repeat one). */
#define LM_HIST_DISTINCT(n, path) "(SELECT DISTINCT ON (" path ") d FROM jsonb_array_elements(" n "::jsonb) AS e(d)" \
	" ORDER BY " path ")"

/* A chunk's messages ($2: their webhook objects) and chats ($3: {jid, name}), each inserted when new; the gates
 * carry the array of the new ones, once per inserted row (count(*) makes the instance's _count). */
static const char lm_hist_msgs_gate[] =
    "ins AS (INSERT INTO message (instance_id, key_id, remote_jid, from_me, participant, push_name, message_type,"
    " key, message, message_timestamp, status, source)"
    " SELECT $1::uuid, d->'key'->>'id', d->'key'->>'remoteJid', (d->'key'->>'fromMe')::boolean,"
    " d->'key'->>'participant', d->>'pushName', d->>'messageType', d->'key', d->'message',"
    " (d->>'messageTimestamp')::bigint, d->>'status', d->>'source'"
    " FROM " LM_HIST_DISTINCT("$2", "d->'key'->>'id'") " r"
    " ON CONFLICT (instance_id, key_id) DO NOTHING RETURNING key_id),"
    " gate AS (SELECT (SELECT jsonb_agg(e.d ORDER BY (e.d->>'messageTimestamp')::bigint)"
    " FROM " LM_HIST_DISTINCT("$2", "d->'key'->>'id'") " e JOIN ins ON ins.key_id = e.d->'key'->>'id')"
    " AS extra FROM ins),"
    " ch AS (INSERT INTO chat (instance_id, remote_jid, name)"
    " SELECT $1::uuid, d->>'jid', nullif(d->>'name', '') FROM " LM_HIST_DISTINCT("$3", "d->>'jid'") " c"
    " ON CONFLICT (instance_id, remote_jid) DO NOTHING RETURNING remote_jid, name),"
    " cgate AS (SELECT (SELECT jsonb_agg(jsonb_build_object('remoteJid', remote_jid, 'instanceId', $1::text,"
    " 'name', name)) FROM ch) AS extra FROM ch)";
/* A chunk's push names ($2: {jid, name}) as contacts inserted when new, with Evolution's contacts.upsert array. */
static const char lm_hist_contacts_gate[] =
    "ins AS (INSERT INTO contact (instance_id, remote_jid, push_name)"
    " SELECT $1::uuid, d->>'jid', nullif(d->>'name', '') FROM " LM_HIST_DISTINCT("$2", "d->>'jid'") " c"
    " ON CONFLICT (instance_id, remote_jid) DO NOTHING RETURNING remote_jid, push_name),"
    " gate AS (SELECT (SELECT jsonb_agg(jsonb_build_object('remoteJid', remote_jid, 'pushName', push_name,"
    " 'profilePicUrl', NULL, 'instanceId', $1::text)) FROM ins) AS extra FROM ins)";

/*
 * A history sync chunk's rows (Evolution's messaging-history.set): its messages in one statement, inserted when
 * new, with one messages.set of the new ones; its chats inserted when new (a live message's chat keeps its
 * name), with one chats.set; its push names as contacts inserted when new, with one contacts.upsert array. A
 * chunk WhatsApp delivers again stores nothing twice and, with every gate empty, posts nothing again.
 */
/* [{jid, name}] of a chunk's chats or contacts, as jsonb text (caller frees). */
static char *
lm_names_text(const struct workers_name *v, size_t n)
{
	struct json_object *a = json_object_new_array(), *o;
	char *text;
	size_t i;

	for (i = 0; i < n; i++) {
		o = json_object_new_object();
		json_object_object_add(o, "jid", json_object_new_string(v[i].jid));
		json_object_object_add(o, "name", json_object_new_string(v[i].name));
		json_object_array_add(a, o);
	}
	text = webhook_json_text(a);
	json_object_put(a);
	return text;
}

static void
lm_add_history(struct app *app, struct instance *inst, struct lm_store *st, const struct workers_msg_store *m)
{
	struct json_object *rows = json_object_new_array(), *empty = json_object_new_array();
	char *rowtext, *nametext;
	size_t i;

	for (i = 0; i < m->nmsgs; i++)
		if (m->msgs[i].history)
			json_object_array_add(rows, lm_message_data(inst, &m->msgs[i]));
	if (json_object_array_length(rows) > 0 || m->nchats > 0) {
		struct webhook_gated_event evs[2] = { { "messages.set", empty, "gate", 1 },
		    { "chats.set", empty, "cgate", 1 } };
		const char *p[3] = { inst->id, rowtext = webhook_json_text(rows),
		    nametext = lm_names_text(m->chats, m->nchats) };
		struct webhook_gate g = { lm_hist_msgs_gate, 3, p, NULL, NULL };

		if (webhook_enqueue_gated(app->webhook, st->tx, inst->webhook, inst->id, inst->name, inst->owner_jid,
		    &g, evs, 2) == -1)
			fatalx("%s: the gated enqueue refused a history chunk", inst->name);
		lm_count(st, LM_COUNT_MSG_CHAT);
		free(rowtext);
		free(nametext);
	}
	if (m->ncontacts > 0) {
		const char *p[2] = { inst->id, nametext = lm_names_text(m->contacts, m->ncontacts) };

		lm_event(app, inst, st->tx, "contacts.upsert", empty, lm_hist_contacts_gate, 1, 2, p);
		lm_count(st, LM_COUNT_CONTACT);
		free(nametext);
	}
	json_object_put(rows);
	json_object_put(empty);
}

/*
 * Statuses, many in one statement: $2 the key ids and $3 the statuses, as text arrays, with no key id twice
 * (lm_add_statuses). A status only moves up, PENDING < SERVER_ACK < DELIVERY_ACK < READ < PLAYED; ERROR only
 * from PENDING and nothing from ERROR. Each row that moved is one messages.update, in the arrays' order, with
 * the row's values (messageId, keyId, remoteJid, fromMe and, as Evolution fills it, participant = the remote
 * JID) and the new status through the gate's extra. The key ids are looked up with = ANY, which the
 * (instance_id, key_id) index serves, and joined to their statuses after.
 * The arrays are read through scalar sub-selects, which hide their lengths from the planner. Seen as constants,
 * a store's one or two statuses made every custom plan look cheaper than the generic one (made for ten), so
 * PostgreSQL planned the statement at every run (at 50 pairs in bench/messages.sh, 4,689 plans in 6,042 runs;
 * pgbench, one status a statement: 0.34-0.41 ms, 0.12 ms on the generic plan). Hidden, both plans cost the same
 * and the generic one is kept (test_statuses_generic_plan).
 */
#define LM_STATUS_RANK(x) "coalesce(array_position(ARRAY['PENDING','SERVER_ACK','DELIVERY_ACK','READ','PLAYED']," \
	" " x "), 0)"
static const char lm_status_gate[] =
    "src AS (SELECT * FROM unnest((SELECT $2::text[]), (SELECT $3::text[])) WITH ORDINALITY AS s(key_id, st, ord)),"
    " upd AS (UPDATE message m SET status = s.st FROM src s WHERE m.instance_id = $1::uuid"
    " AND m.key_id = ANY((SELECT $2::text[])::text[]) AND m.key_id = s.key_id"
    " AND ((s.st = 'ERROR' AND m.status = 'PENDING') OR (s.st <> 'ERROR' AND m.status IS DISTINCT FROM 'ERROR'"
    " AND " LM_STATUS_RANK("m.status") " < " LM_STATUS_RANK("s.st") ")) RETURNING s.ord, m.id, m.key_id,"
    " m.remote_jid, m.from_me, s.st),"
    " gate AS (SELECT ord, jsonb_build_object('messageId', id::text, 'keyId', key_id, 'remoteJid', remote_jid,"
    " 'fromMe', from_me, 'participant', remote_jid, 'status', st) AS extra FROM upd)";

struct lm_status_ref {
	const char *id;
	size_t at;		/* its place among the statuses */
};

static int
lm_status_ref_cmp(const void *a, const void *b)
{
	const struct lm_status_ref *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	return c != 0 ? c : x->at < y->at ? -1 : x->at > y->at;
}

/*
 * Raise stored messages' statuses (with a messages.update for each that moved); unknown statuses are ignored.
 * One statement for all of them: a status per statement was half of the message path's statements (a
 * DELIVERY_ACK and a SERVER_ACK per text sent). An UPDATE cannot move one row twice, so a key id that comes
 * again (DELIVERY_ACK then READ in one store) goes in the next statement: round r holds each key id's r-th
 * status, in the statuses' order, and the rounds run in turn.
 */
static void
lm_add_statuses(struct app *app, struct instance *inst, struct db_tx *tx, const struct workers_msg_status *sts,
    size_t n)
{
	struct lm_status_ref *refs;
	size_t *rounds;			/* per status, 1-based; 0: ignored */
	size_t i, k, nv = 0, r, nrounds = 0;
	struct json_object *data;

	if (n == 0)
		return;
	refs = xcalloc(n, sizeof(*refs));
	rounds = xcalloc(n, sizeof(*rounds));
	for (i = 0; i < n; i++)
		if (lifecycle_msg_status_name(sts[i].status) != NULL) {
			refs[nv].id = sts[i].id;
			refs[nv++].at = i;
		}
	/* Sorted by key id, then place: a key id's statuses are adjacent, in order. */
	qsort(refs, nv, sizeof(*refs), lm_status_ref_cmp);
	for (k = 0; k < nv; k++) {
		r = k > 0 && strcmp(refs[k - 1].id, refs[k].id) == 0 ? rounds[refs[k - 1].at] + 1 : 1;
		rounds[refs[k].at] = r;
		if (r > nrounds)
			nrounds = r;
	}
	data = json_object_new_object();
	json_object_object_add(data, "instanceId", json_object_new_string(inst->id));
	for (r = 1; r <= nrounds; r++) {
		struct lm_buf kids = { 0 }, names = { 0 };
		const char *p[3];
		int first = 1;

		lm_put(&kids, "{", 1);
		lm_put(&names, "{", 1);
		for (i = 0; i < n; i++)
			if (rounds[i] == r) {
				lm_put_elem(&kids, sts[i].id, first);
				lm_put_elem(&names, lifecycle_msg_status_name(sts[i].status), first);
				first = 0;
			}
		lm_put(&kids, "}", 1);
		lm_put(&names, "}", 1);
		p[0] = inst->id;
		p[1] = kids.p;
		p[2] = names.p;
		lm_event(app, inst, tx, "messages.update", data, lm_status_gate, WEBHOOK_EXTRA_EACH, 3, p);
		free(kids.p);
		free(names.p);
	}
	json_object_put(data);
	free(rounds);
	free(refs);
}

/* The store committed (or not): counts, webhooks, then StoreAck (the worker sends its receipts after it). */
static void
lm_store_done_cb(void *arg, const struct db_result *r)
{
	struct lm_store *st = arg;
	struct app *app = st->app;
	struct instance *inst;
	int64_t n[5] = { 0, 0, 0, 0, 0 };
	char err[256];
	size_t k;
	int i, ms;

	if (r->err != NULL) {
		/* an outage is logged once (the pool, the kept writes), not once per store of every instance */
		if (r->unavailable)
			log_debug("%s: storing messages failed: %s", st->instance_id, r->err);
		else
			log_warnx("%s: storing messages failed: %s", st->instance_id, r->err);
		snprintf(err, sizeof(err), "%s", r->unavailable ? IPC_ERR_DB_UNAVAILABLE : r->err);
		workers_reply_store(app->workers, st->instance_id, st->req, 0, err);
		lm_store_free(st);
		return;
	}
	for (i = 0; i < st->ncounts && i < r->nres; i++) {
		if (st->counts[i] == LM_COUNT_NONE || PQntuples(r->res[i]) != 1)
			continue;
		if (st->counts[i] == LM_COUNT_MSG_CHAT && PQnfields(r->res[i]) == 2) {
			n[LM_COUNT_MSG] += strtoll(PQgetvalue(r->res[i], 0, 0), NULL, 10);
			n[LM_COUNT_CHAT] += strtoll(PQgetvalue(r->res[i], 0, 1), NULL, 10);
		} else if (st->counts[i] != LM_COUNT_MSG_CHAT)
			n[st->counts[i]] += strtoll(PQgetvalue(r->res[i], 0, 0), NULL, 10);
	}
	if ((inst = registry_find_id(app->reg, st->instance_id)) != NULL)
		for (k = 0; k < st->nsets; k++) {
			ms = st->sets[k].msg_stmt;
			/* A redelivered message wrote no contact: what it carried is not what the row holds. Not
			 * knowing which of a statement's rows were new, only a statement whose rows all were counts. */
			if (ms >= 0 && (ms >= r->nres || PQntuples(r->res[ms]) != 1 ||
			    strtoll(PQgetvalue(r->res[ms], 0, 0), NULL, 10) != st->sets[k].msg_want))
				continue;
			known_set(&inst->known, st->known_gen, st->sets[k].key, st->sets[k].val);
		}
	if (n[LM_COUNT_MSG] + n[LM_COUNT_CONTACT] + n[LM_COUNT_CHAT] > 0)
		lifecycle_count_add(app, st->instance_id, n[LM_COUNT_MSG], n[LM_COUNT_CONTACT], n[LM_COUNT_CHAT]);
	webhook_kick(app->webhook);
	workers_reply_store(app->workers, st->instance_id, st->req, 1, NULL);
	lm_store_free(st);
}

/* The store's turn among the instance's worker events. */
static void
lm_store_run(struct app *app, struct instance *inst, void *payload)
{
	struct lm_store *st = payload;
	struct db_tx *tx = st->tx;

	if (inst == NULL) {
		workers_reply_store(app->workers, st->instance_id, st->req, 0, "the instance is being deleted");
		lm_store_free(st);
		return;
	}
	if (tx == NULL) {
		workers_reply_store(app->workers, st->instance_id, st->req, 1, NULL);
		lm_store_free(st);
		return;
	}
	st->tx = NULL;
	/* ONCE: the worker waits for the ack and holds its receipts until then; an outage fails it now and
	 * WhatsApp redelivers what was not acked. */
	lc_chain_push(app->lc, inst->id, tx, LC_WRITE_ONCE | LC_WRITE_MERGE, NULL, lm_store_done_cb, st);
}

/*
 * Worker table callback: MessageStore. The transaction is built here, while the worker's pointers live: the
 * db_tx is the copy (a deep copy of up to WORKERS_STORE_MSGS_MAX messages first, to render them a turn later,
 * would copy everything twice). It runs on a later turn, in arrival order, through the instance's chain.
 */
void
lifecycle_on_msg_store(void *ctx, const char *instance_id, uint64_t req, const struct workers_msg_store *m)
{
	struct app *app = ctx;
	struct instance *inst = registry_find_id(app->reg, instance_id);
	struct lm_store *st = xcalloc(1, sizeof(*st));
	char err[160];
	size_t i, j;

	st->app = app;
	st->instance_id = xstrdup(instance_id);
	st->req = req;
	if (inst == NULL) {
		/* Answered on its turn (gone then too). */
		lc_pending_call(app, instance_id, lm_store_run, lm_store_free, st);
		return;
	}
	st->tx = db_tx_new();
	/* First: a change in this batch (a session built after the notification) is newer than the forgetting. */
	for (i = 0; i < m->nforget_users; i++)
		if (lm_sig_add_forget(inst, st->tx, m->forget_users[i], err, sizeof(err)) == -1) {
			log_warnx("%s: MessageStore refused: %s", inst->name, err);
			workers_reply_store(app->workers, instance_id, req, 0, err);
			lm_store_free(st);
			return;
		}
	if (lm_sig_add_changes(app, inst, st->tx, m->changes, m->nchanges, err, sizeof(err)) == -1) {
		log_warnx("%s: MessageStore refused: %s", inst->name, err);
		workers_reply_store(app->workers, instance_id, req, 0, err);
		lm_store_free(st);
		return;
	}
	st->known_gen = known_gen(inst->known);
	for (i = 0; i < m->nlids; i++) {
		const char *p[3] = { inst->id, m->lids[i].lid, m->lids[i].pn };

		if (!lm_known_write(inst, st, known_hash("lid", m->lids[i].lid), known_hash("pn", m->lids[i].pn), -1, 0))
			continue;
		db_tx_add(st->tx, "INSERT INTO lid_map (instance_id, lid, pn) VALUES ($1, $2, $3)"
		    " ON CONFLICT (instance_id, lid) DO UPDATE SET pn = EXCLUDED.pn, updated_at = now()"
		    " WHERE lid_map.pn <> EXCLUDED.pn", 3, p);
	}
	/* The live messages in runs of one event: one statement each, the events in the messages' order. */
	for (i = 0; i < m->nmsgs; i = j) {
		j = i + 1;
		if (m->msgs[i].history)
			continue;
		while (j < m->nmsgs && !m->msgs[j].history && m->msgs[j].sent_by_api == m->msgs[i].sent_by_api)
			j++;
		lm_add_message_run(app, inst, st, &m->msgs[i], j - i);
	}
	lm_add_history(app, inst, st, m);
	lm_add_statuses(app, inst, st->tx, m->statuses, m->nstatuses);
	if (db_tx_count(st->tx) == 0) {
		db_tx_free(st->tx);
		st->tx = NULL;
	}
	log_debug("%s: MessageStore: %zu changes, %zu messages, %zu statuses, %zu lids, %zu forgotten, %zu history"
	    " chats, %zu history contacts", inst->name, m->nchanges, m->nmsgs, m->nstatuses, m->nlids,
	    m->nforget_users, m->nchats, m->ncontacts);
	lc_pending_call(app, instance_id, lm_store_run, lm_store_free, st);
}

/* ---- the SERVER_ACK of a send ---- */

/* The SERVER_ACKs of sends that arrived in one loop turn with nothing else of the instance after them. */
struct lm_sent {
	struct app *app;
	struct workers_msg_status *sts;	/* id owned; only id and status set */
	size_t n;
};

static void
lm_sent_free(void *arg)
{
	struct lm_sent *s = arg;
	size_t i;

	for (i = 0; i < s->n; i++)
		free((char *)s->sts[i].id);
	free(s->sts);
	free(s);
}

static void
lm_sent_done_cb(void *arg, const struct db_result *r)
{
	struct lm_sent *s = arg;

	if (r->err != NULL && !r->unavailable)
		log_warnx("recording the answers of %zu sends (the first %s) failed: %s", s->n, s->sts[0].id, r->err);
	else if (r->err == NULL)
		webhook_kick(s->app->webhook);
	lm_sent_free(s);
}

static void
lm_sent_run(struct app *app, struct instance *inst, void *payload)
{
	struct lm_sent *s = payload;
	struct db_tx *tx;

	if (inst == NULL) {
		lm_sent_free(s);
		return;
	}
	tx = db_tx_new();
	lm_add_statuses(app, inst, tx, s->sts, s->n);
	if (db_tx_count(tx) == 0) {
		db_tx_free(tx);
		lm_sent_free(s);
		return;
	}
	/* RETRY: it records what WhatsApp already answered; raising a status is idempotent (never down), so
	 * an unanswered COMMIT needs no check. */
	lc_chain_push(app->lc, inst->id, tx, LC_WRITE_RETRY | LC_WRITE_MERGE, NULL, lm_sent_done_cb, s);
}

void
lifecycle_msg_sent(struct app *app, const char *instance_id, const char *id, int status)
{
	struct lm_sent *s = lc_pending_last_call(app, instance_id, lm_sent_run);
	int fresh;

	if (s != NULL && s->n >= WORKERS_STORE_MSGS_MAX)
		s = NULL;	/* as many as a store's statuses, then another statement */
	fresh = s == NULL;

	/* Several answers of one turn in one statement, in the place of the first (nothing of the instance came
	 * between them): at 32 sends in flight, a statement per answer was a quarter of the message path's. */
	if (fresh) {
		s = xcalloc(1, sizeof(*s));
		s->app = app;
	}
	s->sts = xreallocarray(s->sts, s->n + 1, sizeof(*s->sts));
	memset(&s->sts[s->n], 0, sizeof(s->sts[s->n]));
	s->sts[s->n].id = xstrdup(id);
	s->sts[s->n++].status = status;
	if (fresh)
		lc_pending_call(app, instance_id, lm_sent_run, lm_sent_free, s);
}
