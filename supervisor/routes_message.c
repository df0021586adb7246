/* POST /message/sendText, /chat/whatsappNumbers, /chat/markMessageAsRead (issue 9) and /chat/sendPresence:
 * validated as Evolution does, then handed to the instance's worker (workers.h messaging commands), answered
 * when the worker answers.
 * Bad input gets a 400 and never reaches a worker. The worker stores a sent message itself (a MessageStore
 * before the stanza); the SERVER_ACK it reports is recorded through lifecycle_msg_sent. */
#include "app.h"
#include "conn_state.h"
#include "db.h"
#include "http.h"
#include "ipc.h"
#include "lifecycle.h"
#include "log.h"
#include "msg_json.h"
#include "msg_send.h"
#include "msg_typing.h"
#include "registry.h"	/* struct instance */
#include "routes.h"
#include "validate.h"
#include "workers.h"
#include "xmalloc.h"

#include <ctype.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MSG_CLOSED	"Error: Connection Closed"	/* what Evolution's Baileys says for a closed socket */

/* The instance cannot take a command now (closed, or its worker restarting): Evolution's send error. */
static void
msg_reply_closed(struct http_call *c)
{
	http_reply_error_msg(c, 400, "%s", MSG_CLOSED);
}

/* Evolution's answer for a recipient that is not on WhatsApp: 400 with the lookup object as the message. */
static void
msg_reply_not_exists(struct http_call *c, const char *jid, const char *number)
{
	struct json_object *a = json_object_new_array(), *o = json_object_new_object();

	json_object_object_add(o, "exists", json_object_new_boolean(0));
	json_object_object_add(o, "jid", json_object_new_string(jid));
	json_object_object_add(o, "number", json_object_new_string(number));
	json_object_array_add(a, o);
	http_reply_error(c, 400, a);
}

/* A worker's failure to the caller: 504 when WhatsApp did not answer in time, the closed-socket error when the
 * worker is not connected or went away, 503 when PostgreSQL is away (as every route that needs it answers: try
 * again; nothing was sent), else 400 with its error (Evolution answers send errors with 400). */
static void
msg_reply_worker_error(struct http_call *c, int code, const char *error)
{
	if (error != NULL && strcmp(error, IPC_ERR_DB_UNAVAILABLE) == 0)
		http_reply_unavailable(c, "database");
	else if (code == 504)
		http_reply_error_msg(c, 504, "%s", error);
	else if (code == 503)
		msg_reply_closed(c);
	else
		http_reply_error_msg(c, 400, "Error: %s", error);
}

/* delay: an integer of milliseconds (a whole double too, as JavaScript has no integers), into *ms (0 when
 * absent or not above 0, as Evolution waits only for a positive one); over MSG_TYPING_MAX_MS is refused, as
 * the request would be held that long. Errors into errs. */
static void
msg_check_delay(struct json_object *errs, struct json_object *body, int required, long long *ms)
{
	struct json_object *v;
	double d;
	char msg[96];

	*ms = 0;
	if (body == NULL || !json_object_object_get_ex(body, "delay", &v) || v == NULL) {
		if (required)
			json_object_array_add(errs, json_object_new_string("instance requires property \"delay\""));
		return;
	}
	d = json_object_get_double(v);
	if (json_object_is_type(v, json_type_int))
		*ms = json_object_get_int64(v);
	else if (json_object_is_type(v, json_type_double) && d > -9e18 && d < 9e18 && d == (double)(long long)d)
		*ms = (long long)d;
	else {
		json_object_array_add(errs, json_object_new_string("Enter a value in milliseconds"));
		return;
	}
	if (*ms > MSG_TYPING_MAX_MS) {
		snprintf(msg, sizeof(msg), "delay must be at most %lld milliseconds", MSG_TYPING_MAX_MS);
		json_object_array_add(errs, json_object_new_string(msg));
	}
	if (*ms < 0)
		*ms = 0;
}

/* ---- sendText ---- */

struct msg_send_ctx {
	struct http_call *c;
	struct app *app;
	char *instance_id;
	char *number;			/* as the caller wrote it */
	char *own_jid;			/* the account's JID (a quote of our own message names it) */
	char jid[MSG_SEND_JID_MAX];
	struct msg_send_text t;		/* strings borrowed from c->body (alive until the reply) or owned below */
	char **mentions;
	size_t nmentions;
	uint8_t *qbuf;			/* the quoted Message */
	char *qparticipant;
	uint8_t *msg;			/* the serialized Message sent */
	size_t len;
	long long delay_ms;		/* typing shown first (msg_typing.h) */
	int everyone;			/* mentionsEveryOne to a group: the members not asked yet */
};

static void
msg_send_ctx_free(struct msg_send_ctx *sc)
{
	size_t i;

	for (i = 0; i < sc->nmentions; i++)
		free(sc->mentions[i]);
	free(sc->mentions);
	free(sc->qbuf);
	free(sc->qparticipant);
	free(sc->instance_id);
	free(sc->number);
	free(sc->own_jid);
	free(sc->msg);
	free(sc);
}

/* The worker's SendResult: record the ack (later, in the instance's order), answer 201 with the message as
 * Evolution answers it (status PENDING, as Evolution's send returns before any ack). */
static void
msg_send_done_cb(void *arg, const struct workers_send_result *r)
{
	struct msg_send_ctx *sc = arg;
	struct json_object *o, *key, *msg = NULL, *inner, *ctxinfo = NULL;
	char type[MSG_JSON_TYPE_MAX], err[128];

	if (!r->ok) {
		if (r->code == 400)
			msg_reply_not_exists(sc->c, sc->jid, sc->number);
		else
			msg_reply_worker_error(sc->c, r->code, r->error);
		msg_send_ctx_free(sc);
		return;
	}
	lifecycle_msg_sent(sc->app, sc->instance_id, r->id, r->status > 0 ? r->status : WORKERS_MSG_SERVER_ACK);
	if (msg_json_from_bytes(sc->msg, sc->len, &msg, type, sizeof(type), err, sizeof(err)) == -1) {
		/* we built it: a failure here is a bug, but the message went out */
		log_warnx("%s: message %s: %s", sc->c->name, r->id, err);
		msg = json_object_new_object();
		snprintf(type, sizeof(type), "unknown");
	}
	if (json_object_object_get_ex(msg, type, &inner) && json_object_is_type(inner, json_type_object) &&
	    json_object_object_get_ex(inner, "contextInfo", &ctxinfo))
		json_object_get(ctxinfo);
	msg_json_normalize(msg, type, sizeof(type));
	key = json_object_new_object();
	json_object_object_add(key, "remoteJid", json_object_new_string(r->remote_jid));
	json_object_object_add(key, "fromMe", json_object_new_boolean(1));
	json_object_object_add(key, "id", json_object_new_string(r->id));
	o = json_object_new_object();
	json_object_object_add(o, "key", key);
	json_object_object_add(o, "status", json_object_new_string("PENDING"));
	json_object_object_add(o, "message", msg);
	if (ctxinfo != NULL)
		json_object_object_add(o, "contextInfo", ctxinfo);
	json_object_object_add(o, "messageType", json_object_new_string(type));
	json_object_object_add(o, "messageTimestamp", json_object_new_int64(r->timestamp));
	json_object_object_add(o, "instanceId", json_object_new_string(sc->instance_id));
	json_object_object_add(o, "source", json_object_new_string("unknown"));
	http_reply_json(sc->c, 201, o);
	msg_send_ctx_free(sc);
}

/* Whether s has something besides white space (Evolution trims the text before its check). */
static int
msg_has_text(const char *s)
{
	for (; *s != '\0'; s++)
		if (!isspace((unsigned char)*s))
			return 1;
	return 0;
}

/* mentioned: an array of unique number strings (^\d+), as mentioned JIDs in mentions (n of them, each
 * malloc'd). Errors schema-style into errs. */
static void
msg_check_mentioned(struct json_object *errs, struct json_object *arr, char ***mentions, size_t *n)
{
	size_t i, j, len = json_object_array_length(arr);
	char msg[160];

	*mentions = NULL;
	*n = 0;
	if (len == 0) {
		json_object_array_add(errs, json_object_new_string("mentioned does not meet minimum length of 1"));
		return;
	}
	if (len > MSG_SEND_MENTIONS_MAX) {
		snprintf(msg, sizeof(msg), "mentioned does not meet maximum length of %d", MSG_SEND_MENTIONS_MAX);
		json_object_array_add(errs, json_object_new_string(msg));
		return;
	}
	*mentions = xcalloc(len, sizeof(**mentions));
	for (i = 0; i < len; i++) {
		struct json_object *v = json_object_array_get_idx(arr, i);
		const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
		size_t d = s != NULL ? strspn(s, "0123456789") : 0;

		if (s == NULL || d == 0 || d > V_NUMBER_MAX) {
			snprintf(msg, sizeof(msg), "mentioned[%zu] does not match pattern \"^\\\\d+\"", i);
			json_object_array_add(errs, json_object_new_string(msg));
			continue;
		}
		for (j = 0; j < i; j++)
			if (json_object_equal(v, json_object_array_get_idx(arr, j)))
				break;
		if (j < i) {
			json_object_array_add(errs, json_object_new_string("mentioned contains duplicate item"));
			continue;
		}
		xasprintf(&(*mentions)[(*n)++], "%.*s@s.whatsapp.net", (int)d, s);
	}
}

/* quoted: {key: {id (required), remoteJid, fromMe, participant}, message?}. Into t: the quoted id and its
 * sender; with message.conversation, the quoted text (packed into *qbuf). Errors into errs. */
static void
msg_check_quoted(struct json_object *errs, struct json_object *q, struct msg_send_text *t, const char *own_jid,
    uint8_t **qbuf)
{
	struct json_object *key, *id, *rj, *part, *m, *conv;

	*qbuf = NULL;
	if ((key = v_field(errs, q, "quoted.", "key", V_OBJECT, 1)) == NULL)
		return;
	id = v_field(errs, key, "quoted.key.", "id", V_STRING, 1);
	rj = v_field(errs, key, "quoted.key.", "remoteJid", V_STRING, 0);
	part = v_field(errs, key, "quoted.key.", "participant", V_STRING, 0);
	v_field(errs, key, "quoted.key.", "fromMe", V_BOOL, 0);
	m = v_field(errs, q, "quoted.", "message", V_OBJECT, 0);
	if (id == NULL || json_object_get_string_len(id) == 0)
		return;
	t->quoted_id = json_object_get_string(id);
	/* WhatsApp names the quoted message's sender: ourselves, the group member, or the 1:1 peer */
	if (v_bool(key, "fromMe", 0))
		t->quoted_participant = own_jid;
	else if (part != NULL && json_object_get_string_len(part) > 0)
		t->quoted_participant = json_object_get_string(part);
	else if (rj != NULL && json_object_get_string_len(rj) > 0)
		t->quoted_participant = json_object_get_string(rj);
	if (m != NULL && json_object_object_get_ex(m, "conversation", &conv) &&
	    json_object_is_type(conv, json_type_string) && json_object_get_string_len(conv) > 0) {
		struct msg_send_text qt;

		memset(&qt, 0, sizeof(qt));
		qt.text = json_object_get_string(conv);
		if ((*qbuf = msg_send_text_pack(&qt, &t->quoted_len)) != NULL)
			t->quoted_message = *qbuf;
	}
}

/* Hand the built message to the worker; msg_send_done_cb answers (or the reply is made here). */
static void
msg_send_now(struct msg_send_ctx *sc)
{
	struct workers_send send;

	memset(&send, 0, sizeof(send));
	send.to = sc->jid;
	send.message = sc->msg;
	send.message_len = sc->len;
	if (workers_send_message(sc->app->workers, sc->instance_id, &send, msg_send_done_cb, sc) == -1) {
		msg_reply_closed(sc->c);
		msg_send_ctx_free(sc);
	}
}

/* The typing shown before the send is over: send, or answer why not as a send error. */
static void
msg_send_typed_cb(void *arg, int ok, int status, const char *error)
{
	struct msg_send_ctx *sc = arg;

	if (ok) {
		msg_send_now(sc);
		return;
	}
	msg_reply_worker_error(sc->c, status, error);
	msg_send_ctx_free(sc);
}

static void msg_send_go(struct msg_send_ctx *sc);

/* mentionsEveryOne: the group's members (its metadata from the worker) become the mentions, in place of any
 * `mentioned`, as Evolution does; then on to the send. */
static void
msg_send_members_cb(void *arg, int ok, int code, const char *error, const struct workers_group *v, size_t n)
{
	struct msg_send_ctx *sc = arg;
	size_t i;

	if (!ok || n != 1) {
		msg_reply_worker_error(sc->c, ok ? 500 : code, ok ? "no group metadata" : error);
		msg_send_ctx_free(sc);
		return;
	}
	for (i = 0; i < sc->nmentions; i++)
		free(sc->mentions[i]);
	free(sc->mentions);
	sc->nmentions = 0;
	sc->mentions = xcalloc(v->nparticipants + 1, sizeof(*sc->mentions));
	for (i = 0; i < v->nparticipants; i++)
		sc->mentions[sc->nmentions++] = xstrdup(v->participants[i].jid);
	msg_send_go(sc);
}

/* Build the message (after the group's members for mentionsEveryOne); with a delay, show composing in the chat
 * for that long first (Evolution's sendMessageWithTyping), then send. */
static void
msg_send_go(struct msg_send_ctx *sc)
{
	if (sc->everyone) {
		sc->everyone = 0;
		if (workers_group_query(sc->app->workers, sc->instance_id, sc->jid, msg_send_members_cb, sc) == -1) {
			msg_reply_closed(sc->c);
			msg_send_ctx_free(sc);
		}
		return;
	}
	sc->t.mentions = (const char *const *)sc->mentions;
	sc->t.nmentions = sc->nmentions;
	if ((sc->msg = msg_send_text_pack(&sc->t, &sc->len)) == NULL) {
		http_reply_error_msg(sc->c, 400, "The message cannot be built");
		msg_send_ctx_free(sc);
		return;
	}
	if (sc->delay_ms <= 0)
		msg_send_now(sc);
	else if (msg_typing_start(sc->app, sc->instance_id, sc->jid, "composing", sc->delay_ms, msg_send_typed_cb,
	    sc) == -1) {
		msg_reply_closed(sc->c);
		msg_send_ctx_free(sc);
	}
}

/* The stored message a quote names (quoted without its message): Evolution quotes what it finds and sends
 * without a quote when it finds nothing. Only a text is rebuilt (rows keep Evolution's JSON, not the
 * protobuf); anything else is sent without the quote too. */
static void
msg_quoted_cb(void *arg, const struct db_result *r)
{
	struct msg_send_ctx *sc = arg;
	const PGresult *res;
	struct msg_send_text qt;

	if (r->unavailable) {
		http_reply_unavailable(sc->c, "database");
		msg_send_ctx_free(sc);
		return;
	}
	res = r->err == NULL ? r->res[0] : NULL;
	if (res == NULL || PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
		if (r->err != NULL)
			log_warnx("%s: the quoted message: %s", sc->c->name, r->err);
		sc->t.quoted_id = NULL;
		sc->t.quoted_participant = NULL;
		msg_send_go(sc);
		return;
	}
	memset(&qt, 0, sizeof(qt));
	qt.text = PQgetvalue(res, 0, 0);
	sc->qbuf = msg_send_text_pack(&qt, &sc->t.quoted_len);
	sc->t.quoted_message = sc->qbuf;
	if (strcmp(PQgetvalue(res, 0, 1), "t") == 0)
		sc->t.quoted_participant = sc->own_jid;
	else {
		sc->qparticipant = xstrdup(PQgetvalue(res, 0, 2));
		sc->t.quoted_participant = sc->qparticipant;
	}
	msg_send_go(sc);
}

/* POST /message/sendText: Evolution's body; the worker sends and answers once WhatsApp acked the stanza. */
void
route_message_send_text(struct http_call *c)
{
	struct json_object *errs = json_object_new_array(), *number, *text, *mentioned, *quoted, *v;
	struct msg_send_ctx *sc = xcalloc(1, sizeof(*sc));
	enum msg_send_kind kind;
	int everyone;

	sc->c = c;
	sc->app = c->app;
	sc->instance_id = xstrdup(c->inst->id);
	sc->own_jid = xstrdup(c->inst->owner_jid != NULL ? c->inst->owner_jid : "");
	/* Evolution's schema words a non-string number with its own description */
	if (c->body != NULL && json_object_object_get_ex(c->body, "number", &v) && v != NULL &&
	    !json_object_is_type(v, json_type_string)) {
		json_object_array_add(errs, json_object_new_string("Invalid format"));
		number = NULL;
	} else
		number = v_field(errs, c->body, "", "number", V_STRING, 1);
	text = v_field(errs, c->body, "", "text", V_STRING, 1);
	msg_check_delay(errs, c->body, 0, &sc->delay_ms);
	v_field(errs, c->body, "", "linkPreview", V_BOOL, 0);
	v_field(errs, c->body, "", "mentionsEveryOne", V_BOOL, 0);
	everyone = v_bool(c->body, "mentionsEveryOne", 0);
	if ((mentioned = v_field(errs, c->body, "", "mentioned", V_ARRAY, 0)) != NULL)
		msg_check_mentioned(errs, mentioned, &sc->mentions, &sc->nmentions);
	if ((quoted = v_field(errs, c->body, "", "quoted", V_OBJECT, 0)) != NULL)
		msg_check_quoted(errs, quoted, &sc->t, sc->own_jid, &sc->qbuf);
	if (json_object_array_length(errs) > 0) {
		http_reply_validation(c, errs);	/* takes errs */
		msg_send_ctx_free(sc);
		return;
	}
	json_object_put(errs);
	if (!msg_has_text(json_object_get_string(text))) {
		http_reply_error_msg(c, 400, "Text is required");
		msg_send_ctx_free(sc);
		return;
	}
	if ((size_t)json_object_get_string_len(text) > MSG_SEND_TEXT_MAX) {
		http_reply_error_msg(c, 400, "Text is longer than %d bytes", MSG_SEND_TEXT_MAX);
		msg_send_ctx_free(sc);
		return;
	}
	sc->number = xstrdup(json_object_get_string(number));
	if ((kind = msg_send_jid(sc->number, sc->jid)) == MSG_SEND_BAD) {
		msg_reply_not_exists(c, sc->jid, sc->number);
		msg_send_ctx_free(sc);
		return;
	}
	if (c->inst->state != CONN_OPEN) {
		msg_reply_closed(c);
		msg_send_ctx_free(sc);
		return;
	}
	sc->t.text = json_object_get_string(text);
	sc->everyone = everyone && kind == MSG_SEND_GROUP;	/* Evolution mentions only in groups */
	if (sc->t.quoted_id != NULL && sc->t.quoted_message == NULL) {
		const char *p[2] = { sc->instance_id, sc->t.quoted_id };

		db_query(c->app->db, "SELECT message->>'conversation', from_me,"
		    " coalesce(nullif(participant, ''), remote_jid) FROM message WHERE instance_id = $1 AND key_id = $2",
		    2, p, msg_quoted_cb, sc);
		return;
	}
	msg_send_go(sc);
}

/* ---- whatsappNumbers ---- */

/*
 * The answer comes in three parts, in Evolution's order: broadcasts (and LIDs, which cannot be asked by
 * number), answered here; groups, one metadata query each; users, one CheckNumbers. The queries run at once;
 * the last answer replies. A query that fails for the instance (closed, WhatsApp silent) fails the request.
 */
struct msg_numbers_ctx {
	struct http_call *c;
	struct json_object *head;	/* broadcast entries */
	struct json_object **groups;	/* group entries, NULL until answered */
	struct json_object *users;	/* user entries, NULL until answered */
	size_t n;
	char **inputs;			/* the user entries as asked, in order */
	char **jids;			/* their normalised JIDs */
	size_t ngroups;
	char **group_inputs;
	char **group_jids;
	int pending;			/* queries not answered */
	int fail_code;			/* a query failed: the request answers with this (0: none) */
	char *fail_error;
};

/* The group query of one entry: its answer and where it goes. */
struct msg_numbers_group {
	struct msg_numbers_ctx *nc;
	size_t i;
};

static void
msg_numbers_free(struct msg_numbers_ctx *nc)
{
	size_t i;

	for (i = 0; i < nc->n; i++) {
		free(nc->inputs[i]);
		free(nc->jids[i]);
	}
	for (i = 0; i < nc->ngroups; i++) {
		free(nc->group_inputs[i]);
		free(nc->group_jids[i]);
		json_object_put(nc->groups[i]);
	}
	free(nc->inputs);
	free(nc->jids);
	free(nc->group_inputs);
	free(nc->group_jids);
	free(nc->groups);
	free(nc->fail_error);
	json_object_put(nc->head);
	json_object_put(nc->users);
	free(nc);
}

/* One entry of the answer. */
static struct json_object *
msg_number_json(int exists, const char *jid, const char *number)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "exists", json_object_new_boolean(exists));
	json_object_object_add(o, "jid", json_object_new_string(jid));
	json_object_object_add(o, "number", json_object_new_string(number));
	return o;
}

/* A required array member of the body with 1..max elements, in Evolution's schema words; *len is how many to
 * read (0 when the member is missing, not an array or too long: its error is in errs). */
static struct json_object *
msg_array_field(struct json_object *errs, struct json_object *body, const char *name, size_t max, size_t *len)
{
	struct json_object *arr = v_field(errs, body, "", name, V_ARRAY, 1);
	char msg[128];

	*len = arr != NULL ? json_object_array_length(arr) : 0;
	if (arr != NULL && *len == 0) {
		snprintf(msg, sizeof(msg), "%s does not meet minimum length of 1", name);
		json_object_array_add(errs, json_object_new_string(msg));
	}
	if (*len > max) {
		snprintf(msg, sizeof(msg), "%s does not meet maximum length of %zu", name, max);
		json_object_array_add(errs, json_object_new_string(msg));
		*len = 0;
	}
	return arr;
}

/* One query answered: the last one replies, with every part in Evolution's order, or with the first failure. */
static void
msg_numbers_answered(struct msg_numbers_ctx *nc)
{
	struct json_object *a;
	size_t i;

	if (--nc->pending > 0)
		return;
	if (nc->fail_code != 0) {
		msg_reply_worker_error(nc->c, nc->fail_code, nc->fail_error);
		msg_numbers_free(nc);
		return;
	}
	a = nc->head;
	nc->head = NULL;
	for (i = 0; i < nc->ngroups; i++) {
		json_object_array_add(a, nc->groups[i]);
		nc->groups[i] = NULL;
	}
	for (i = 0; nc->users != NULL && i < json_object_array_length(nc->users); i++)
		json_object_array_add(a, json_object_get(json_object_array_get_idx(nc->users, i)));
	http_reply_json(nc->c, 200, a);
	msg_numbers_free(nc);
}

/* A query failed for the instance itself: remembered, answered once the others are in. */
static void
msg_numbers_fail(struct msg_numbers_ctx *nc, int code, const char *error)
{
	if (nc->fail_code != 0)
		return;
	nc->fail_code = code;
	nc->fail_error = xstrdup(error);
}

/* The worker's NumbersResult: the user entries, in the order asked. */
static void
msg_numbers_done_cb(void *arg, int ok, int code, const char *error, const struct workers_number *v, size_t n)
{
	struct msg_numbers_ctx *nc = arg;
	size_t i;

	if (!ok || n != nc->n)
		msg_numbers_fail(nc, ok ? 500 : code, ok ? "the worker answered another count" : error);
	else {
		nc->users = json_object_new_array();
		for (i = 0; i < n; i++)
			json_object_array_add(nc->users, msg_number_json(v[i].exists,
			    v[i].exists && v[i].jid[0] != '\0' ? v[i].jid : nc->jids[i], nc->inputs[i]));
	}
	msg_numbers_answered(nc);
}

/* A group's metadata: it exists, with its subject as name (Evolution's entry); a group WhatsApp refuses to
 * describe (unknown, or we are not in it) does not. Closed or silent fails the request, as for users. */
static void
msg_numbers_group_cb(void *arg, int ok, int code, const char *error, const struct workers_group *v, size_t n)
{
	struct msg_numbers_group *q = arg;
	struct msg_numbers_ctx *nc = q->nc;
	struct json_object *o;
	size_t i = q->i;

	free(q);
	if (ok && n == 1) {
		o = msg_number_json(1, v->jid, nc->group_inputs[i]);
		json_object_object_add(o, "name", json_object_new_string(v->subject));
		nc->groups[i] = o;
	} else if (!ok && (code == 503 || code == 504))
		msg_numbers_fail(nc, code, error);
	else
		nc->groups[i] = msg_number_json(0, nc->group_jids[i], nc->group_inputs[i]);
	msg_numbers_answered(nc);
}

/* POST /chat/whatsappNumbers: which numbers have WhatsApp (the worker asks WhatsApp, usync). */
void
route_chat_whatsapp_numbers(struct http_call *c)
{
	struct json_object *errs = json_object_new_array(), *numbers, *v;
	struct msg_numbers_ctx *nc;
	const char **digits;
	char jid[MSG_SEND_JID_MAX], msg[128], **d;
	size_t i, j, len, n;

	numbers = msg_array_field(errs, c->body, "numbers", WORKERS_NUMBERS_MAX, &len);
	for (i = 0; i < len; i++) {
		v = json_object_array_get_idx(numbers, i);
		if (!json_object_is_type(v, json_type_string)) {
			snprintf(msg, sizeof(msg), "numbers[%zu] is not of a type(s) string", i);
			json_object_array_add(errs, json_object_new_string(msg));
			continue;
		}
		for (j = 0; j < i; j++)
			if (json_object_equal(v, json_object_array_get_idx(numbers, j)))
				break;
		if (j < i)
			json_object_array_add(errs, json_object_new_string("numbers contains duplicate item"));
	}
	if (json_object_array_length(errs) > 0) {
		http_reply_validation(c, errs);
		return;
	}
	json_object_put(errs);
	if (c->inst->state != CONN_OPEN) {
		msg_reply_closed(c);
		return;
	}
	nc = xcalloc(1, sizeof(*nc));
	nc->c = c;
	nc->head = json_object_new_array();
	nc->inputs = xcalloc(len, sizeof(*nc->inputs));
	nc->jids = xcalloc(len, sizeof(*nc->jids));
	nc->group_inputs = xcalloc(len, sizeof(*nc->group_inputs));
	nc->group_jids = xcalloc(len, sizeof(*nc->group_jids));
	nc->groups = xcalloc(len, sizeof(*nc->groups));
	/* LIDs cannot be asked by number: reported as not existing, with the broadcasts. */
	for (i = 0; i < len; i++) {
		const char *in = json_object_get_string(json_object_array_get_idx(numbers, i));
		enum msg_send_kind k = msg_send_jid(in, jid);

		if (k == MSG_SEND_USER && strstr(jid, "@s.whatsapp.net") != NULL) {
			nc->inputs[nc->n] = xstrdup(in);
			nc->jids[nc->n] = xstrdup(jid);
			nc->n++;
		} else if (k == MSG_SEND_GROUP) {
			nc->group_inputs[nc->ngroups] = xstrdup(in);
			nc->group_jids[nc->ngroups] = xstrdup(jid);
			nc->ngroups++;
		} else
			json_object_array_add(nc->head, msg_number_json(0, jid, in));
	}
	/* One pending for this call itself: no answer replies before every query is asked. */
	nc->pending = 1;
	for (i = 0; i < nc->ngroups; i++) {
		struct msg_numbers_group *q = xcalloc(1, sizeof(*q));

		q->nc = nc;
		q->i = i;
		nc->pending++;
		if (workers_group_query(c->app->workers, c->inst->id, nc->group_jids[i], msg_numbers_group_cb, q) == -1) {
			free(q);
			nc->pending--;
			msg_numbers_fail(nc, 503, "Connection Closed");
		}
	}
	if (nc->n > 0) {
		/* CheckNumbers takes digits: the user part of each normalised JID */
		digits = xcalloc(nc->n, sizeof(*digits));
		d = xcalloc(nc->n, sizeof(*d));
		for (i = 0; i < nc->n; i++) {
			d[i] = xstrdup(nc->jids[i]);
			d[i][strcspn(d[i], "@")] = '\0';
			digits[i] = d[i];
		}
		n = nc->n;
		nc->pending++;
		if (workers_check_numbers(c->app->workers, c->inst->id, digits, n, msg_numbers_done_cb, nc) == -1) {
			nc->pending--;
			msg_numbers_fail(nc, 503, "Connection Closed");
		}
		for (i = 0; i < n; i++)
			free(d[i]);
		free(d);
		free(digits);
	}
	msg_numbers_answered(nc);
}

/* ---- markMessageAsRead ---- */

/* The worker sent the receipts (or could not). */
static void
msg_read_done_cb(void *arg, int ok, int status, const char *error)
{
	struct http_call *c = arg;
	struct json_object *o, *a;

	(void)status;	/* Evolution answers every failure here with 500 */
	if (!ok) {
		a = json_object_new_array();
		json_object_array_add(a, json_object_new_string("Read messages fail"));
		json_object_array_add(a, json_object_new_string(error != NULL ? error : ""));
		http_reply_error(c, 500, a);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "message", json_object_new_string("Read messages"));
	json_object_object_add(o, "read", json_object_new_string("success"));
	http_reply_json(c, 201, o);
}

/* POST /chat/markMessageAsRead: read receipts for incoming messages. */
void
route_chat_mark_read(struct http_call *c)
{
	struct json_object *errs = json_object_new_array(), *arr, *e, *id, *rj, *fm, *part;
	struct workers_msg_key *keys;
	char prefix[48], msg[128], jid[MSG_SEND_JID_MAX];
	size_t i, len, n = 0;

	arr = msg_array_field(errs, c->body, "readMessages", WORKERS_READ_KEYS_MAX, &len);
	for (i = 0; i < len; i++) {
		e = json_object_array_get_idx(arr, i);
		snprintf(prefix, sizeof(prefix), "readMessages[%zu].", i);
		if (!json_object_is_type(e, json_type_object)) {
			snprintf(msg, sizeof(msg), "readMessages[%zu] is not of a type(s) object", i);
			json_object_array_add(errs, json_object_new_string(msg));
			continue;
		}
		v_field(errs, e, prefix, "id", V_STRING, 1);
		v_field(errs, e, prefix, "fromMe", V_BOOL, 1);
		v_field(errs, e, prefix, "remoteJid", V_STRING, 1);
		v_field(errs, e, prefix, "participant", V_STRING, 0);
	}
	if (json_object_array_length(errs) > 0) {
		http_reply_validation(c, errs);
		return;
	}
	json_object_put(errs);
	if (c->inst->state != CONN_OPEN) {
		msg_reply_closed(c);
		return;
	}
	keys = xcalloc(len > 0 ? len : 1, sizeof(*keys));
	for (i = 0; i < len; i++) {
		e = json_object_array_get_idx(arr, i);
		json_object_object_get_ex(e, "id", &id);
		json_object_object_get_ex(e, "remoteJid", &rj);
		json_object_object_get_ex(e, "fromMe", &fm);
		/* Evolution skips what is neither a user nor a group chat; ids are the worker's to check */
		if (msg_send_jid(json_object_get_string(rj), jid) == MSG_SEND_BAD || json_object_get_string_len(id) == 0)
			continue;
		keys[n].remote_jid = json_object_get_string(rj);
		keys[n].id = json_object_get_string(id);
		keys[n].from_me = json_object_get_boolean(fm);
		keys[n].participant = json_object_object_get_ex(e, "participant", &part) && part != NULL ?
		    json_object_get_string(part) : "";
		n++;
	}
	if (n == 0) {
		free(keys);
		msg_read_done_cb(c, 1, 0, NULL);
		return;
	}
	if (workers_mark_read(c->app->workers, c->inst->id, keys, n, msg_read_done_cb, c) == -1)
		msg_reply_closed(c);
	free(keys);
}

/* ---- sendPresence ---- */

struct msg_presence_ctx {
	struct http_call *c;
	char *presence;
};

/* The state was shown for the delay (and paused after it): answer as Evolution does, after the delay. */
static void
msg_presence_done_cb(void *arg, int ok, int status, const char *error)
{
	struct msg_presence_ctx *pc = arg;
	struct json_object *o;

	if (ok) {
		o = json_object_new_object();
		json_object_object_add(o, "presence", json_object_new_string(pc->presence));
		http_reply_json(pc->c, 201, o);
	} else
		msg_reply_worker_error(pc->c, status, error);
	free(pc->presence);
	free(pc);
}

/* POST /chat/sendPresence: {number, presence, delay}: our typing state in that chat for delay ms (then
 * paused), or our global presence for available/unavailable; answered when the delay is over. */
void
route_chat_send_presence(struct http_call *c)
{
	static const char *const states[] = { "unavailable", "available", "composing", "recording", "paused", NULL };
	struct json_object *errs = json_object_new_array(), *number, *presence;
	struct msg_presence_ctx *pc;
	char jid[MSG_SEND_JID_MAX];
	long long delay_ms;
	const char *p = NULL;
	size_t i;

	number = v_field(errs, c->body, "", "number", V_STRING, 1);
	if ((presence = v_field(errs, c->body, "", "presence", V_STRING, 1)) != NULL) {
		p = json_object_get_string(presence);
		for (i = 0; states[i] != NULL && strcmp(states[i], p) != 0; i++)
			;
		if (states[i] == NULL)
			json_object_array_add(errs, json_object_new_string(
			    "presence is not one of enum values: unavailable,available,composing,recording,paused"));
	}
	msg_check_delay(errs, c->body, 1, &delay_ms);
	if (json_object_array_length(errs) > 0) {
		http_reply_validation(c, errs);	/* takes errs */
		return;
	}
	json_object_put(errs);
	if (msg_send_jid(json_object_get_string(number), jid) == MSG_SEND_BAD) {
		msg_reply_not_exists(c, jid, json_object_get_string(number));
		return;
	}
	if (c->inst->state != CONN_OPEN) {
		msg_reply_closed(c);
		return;
	}
	pc = xcalloc(1, sizeof(*pc));
	pc->c = c;
	pc->presence = xstrdup(p);
	if (msg_typing_start(c->app, c->inst->id, jid, p, delay_ms, msg_presence_done_cb, pc) == -1) {
		msg_reply_closed(c);
		free(pc->presence);
		free(pc);
	}
}
