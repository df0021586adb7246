/* Checks and conversions of the messaging frames a worker sends (see worker_msg_check.h). The limits are the
 * ones the database and the API rely on: every string is bounded UTF-8 (it becomes a text column and JSON),
 * kinds and statuses are the enums' values, and blobs have the sizes the Signal store and msg_json accept. */
#include "worker_msg_check.h"
#include "utf8.h"
#include "xmalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A received string: present, at most max bytes, well-formed UTF-8, and non-empty when need is set. */
static int
worker_msg_str(const char *s, size_t max, int need)
{
	return ipc_str_ok(s, max) && utf8_valid(s, strlen(s), NULL) && (!need || *s != '\0');
}

/* One Signal key: the fields its kind needs; the others are left out of the converted key ("" and 0). */
static const char *
worker_msg_key(const Wagate__Ipc__SignalKey *k, struct workers_sig_key *out)
{
	if (k == NULL)
		return "a Signal key is missing";
	if (!worker_msg_str(k->address, WORKER_MSG_ADDRESS_MAX, 0) ||
	    !worker_msg_str(k->group, WORKER_MSG_ADDRESS_MAX, 0))
		return "Signal address or group too long or not UTF-8";
	out->kind = (int)k->kind;
	out->address = "";
	out->group = "";
	out->prekey_id = 0;
	switch (k->kind) {
	case WAGATE__IPC__SIGNAL_KIND__SIGNAL_KIND_SENDER_KEY:
		if (*k->group == '\0')
			return "sender key without a group";
		out->group = k->group;
		/* FALLTHROUGH */
	case WAGATE__IPC__SIGNAL_KIND__SIGNAL_KIND_SESSION:
	case WAGATE__IPC__SIGNAL_KIND__SIGNAL_KIND_IDENTITY:
		if (*k->address == '\0')
			return "Signal key without an address";
		out->address = k->address;
		return NULL;
	case WAGATE__IPC__SIGNAL_KIND__SIGNAL_KIND_PREKEY:
		if (k->prekey_id < 1 || k->prekey_id > WORKERS_PREKEY_ID_MAX)
			return "prekey id out of range";
		out->prekey_id = k->prekey_id;
		return NULL;
	default:
		return "unknown Signal key kind";
	}
}

int
worker_msg_check_signal_load(const Wagate__Ipc__SignalLoad *sl, struct workers_sig_key **keys, size_t *n,
    const char **why)
{
	struct workers_sig_key *v = NULL;
	size_t i;

	*keys = NULL;
	*n = 0;
	if (sl->n_keys > WORKERS_SIG_KEYS_MAX) {
		*why = "too many keys in one SignalLoad";
		return -1;
	}
	if (sl->n_keys > 0)
		v = xcalloc(sl->n_keys, sizeof(*v));
	for (i = 0; i < sl->n_keys; i++)
		if ((*why = worker_msg_key(sl->keys[i], &v[i])) != NULL) {
			free(v);
			return -1;
		}
	*keys = v;
	*n = sl->n_keys;
	return 0;
}

/* One Signal change: an upsert with a record of the kind's size, or a deletion (the only change a PREKEY has). */
static const char *
worker_msg_change(const Wagate__Ipc__SignalChange *c, struct workers_sig_change *out)
{
	const char *why;

	if (c == NULL)
		return "a Signal change is missing";
	if ((why = worker_msg_key(c->key, &out->key)) != NULL)
		return why;
	out->deleted = c->deleted;
	out->identity_changed = out->key.kind == WORKERS_SIG_IDENTITY && c->identity_changed;
	out->data = NULL;
	out->len = 0;
	if (c->deleted) {
		if (c->data.len != 0)
			return "a deleted Signal record with data";
		return NULL;
	}
	if (out->key.kind == WORKERS_SIG_PREKEY)
		return "a prekey change that is not a deletion";
	if (c->data.len == 0 || c->data.len > WORKERS_SIG_RECORD_MAX)
		return "Signal record size out of range";
	if (out->key.kind == WORKERS_SIG_IDENTITY && c->data.len != WORKER_MSG_IDENTITY_LEN)
		return "identity key of the wrong size";
	out->data = c->data.data;
	out->len = c->data.len;
	return NULL;
}

/* Whether a status is one of MsgStatus's values (none_ok: also MSG_STATUS_NONE). */
static int
worker_msg_status_ok(int status, int none_ok)
{
	return (none_ok && status == 0) || (status >= WORKERS_MSG_ERROR && status <= WORKERS_MSG_PLAYED);
}

/* One stored message. */
static const char *
worker_msg_msg(const Wagate__Ipc__StoredMessage *m, struct workers_msg *out)
{
	if (m == NULL)
		return "a message is missing";
	if (!worker_msg_str(m->id, WORKER_MSG_STR_MAX, 1) || !worker_msg_str(m->remote_jid, WORKER_MSG_STR_MAX, 1))
		return "message without an id or a chat, or either too long";
	if (!worker_msg_str(m->remote_jid_alt, WORKER_MSG_STR_MAX, 0) ||
	    !worker_msg_str(m->participant, WORKER_MSG_STR_MAX, 0) ||
	    !worker_msg_str(m->participant_alt, WORKER_MSG_STR_MAX, 0) ||
	    !worker_msg_str(m->push_name, WORKER_MSG_STR_MAX, 0) || !worker_msg_str(m->source, WORKER_MSG_STR_MAX, 0))
		return "message field too long or not UTF-8";
	if (!worker_msg_status_ok((int)m->status, 1))
		return "message status out of range";
	if (m->timestamp < 0)
		return "negative message timestamp";
	if (m->message.len > WORKERS_MESSAGE_MAX)
		return "message too large";
	out->id = m->id;
	out->remote_jid = m->remote_jid;
	out->remote_jid_alt = m->remote_jid_alt;
	out->participant = m->participant;
	out->participant_alt = m->participant_alt;
	out->push_name = m->push_name;
	out->source = m->source;
	out->from_me = m->from_me;
	out->sent_by_api = m->sent_by_api;
	out->history = m->history;
	out->timestamp = m->timestamp;
	out->status = (int)m->status;
	out->message = m->message.len > 0 ? m->message.data : NULL;
	out->message_len = m->message.len;
	return NULL;
}

/* One status change: it names a message and moves it to a real status. */
static const char *
worker_msg_status(const Wagate__Ipc__StatusChange *s, struct workers_msg_status *out)
{
	if (s == NULL)
		return "a status change is missing";
	if (!worker_msg_str(s->id, WORKER_MSG_STR_MAX, 1) || !worker_msg_str(s->remote_jid, WORKER_MSG_STR_MAX, 1) ||
	    !worker_msg_str(s->participant, WORKER_MSG_STR_MAX, 0))
		return "status change without an id or a chat, or a field too long";
	if (!worker_msg_status_ok((int)s->status, 0))
		return "status change to a status out of range";
	if (s->timestamp < 0)
		return "negative status timestamp";
	out->id = s->id;
	out->remote_jid = s->remote_jid;
	out->participant = s->participant;
	out->from_me = s->from_me;
	out->status = (int)s->status;
	out->timestamp = s->timestamp;
	return NULL;
}

/* A history chat or contact: a JID, and a name that may be empty. */
static const char *
worker_msg_name(const Wagate__Ipc__HistoryName *n, struct workers_name *out)
{
	if (n == NULL || !worker_msg_str(n->jid, WORKER_MSG_STR_MAX, 1) ||
	    !worker_msg_str(n->name, WORKER_MSG_STR_MAX, 0))
		return "history chat or contact without a JID, or a field too long or not UTF-8";
	out->jid = n->jid;
	out->name = n->name;
	return NULL;
}

/* forget_users: digits only, so the user is a Signal address name without wildcards or separators. */
int
worker_msg_forget_user_ok(const char *jid)
{
	size_t n;

	if (jid == NULL)
		return 0;
	n = strspn(jid, "0123456789");
	return n >= 1 && n <= WORKER_MSG_FORGET_DIGITS_MAX && (strcmp(jid + n, "@s.whatsapp.net") == 0 ||
	    strcmp(jid + n, "@lid") == 0);
}

void
worker_msg_store_clear(struct workers_msg_store *m)
{
	free((void *)m->changes);
	free((void *)m->msgs);
	free((void *)m->statuses);
	free((void *)m->lids);
	free((void *)m->chats);
	free((void *)m->contacts);
	memset(m, 0, sizeof(*m));
}

int
worker_msg_check_store(const Wagate__Ipc__MessageStore *ms, struct workers_msg_store *out, const char **why)
{
	struct workers_sig_change *changes = NULL;
	struct workers_msg *msgs = NULL;
	struct workers_msg_status *statuses = NULL;
	struct workers_lid *lids = NULL;
	struct workers_name *chats = NULL, *contacts = NULL;
	size_t i;

	memset(out, 0, sizeof(*out));
	*why = NULL;
	if (ms->n_changes > WORKERS_STORE_MSGS_MAX || ms->n_messages > WORKERS_STORE_MSGS_MAX ||
	    ms->n_statuses > WORKERS_STORE_MSGS_MAX || ms->n_lids > WORKERS_STORE_MSGS_MAX ||
	    ms->n_history_chats > WORKERS_STORE_MSGS_MAX || ms->n_history_contacts > WORKERS_STORE_MSGS_MAX ||
	    ms->n_forget_users > WORKERS_FORGET_USERS_MAX) {
		*why = "too many entries in one MessageStore";
		return -1;
	}
	/* Converted into out as we go, so one clear releases whatever a failure leaves. */
	if (ms->n_changes > 0)
		out->changes = changes = xcalloc(ms->n_changes, sizeof(*changes));
	if (ms->n_messages > 0)
		out->msgs = msgs = xcalloc(ms->n_messages, sizeof(*msgs));
	if (ms->n_statuses > 0)
		out->statuses = statuses = xcalloc(ms->n_statuses, sizeof(*statuses));
	if (ms->n_lids > 0)
		out->lids = lids = xcalloc(ms->n_lids, sizeof(*lids));
	if (ms->n_history_chats > 0)
		out->chats = chats = xcalloc(ms->n_history_chats, sizeof(*chats));
	if (ms->n_history_contacts > 0)
		out->contacts = contacts = xcalloc(ms->n_history_contacts, sizeof(*contacts));
	for (i = 0; *why == NULL && i < ms->n_changes; i++)
		*why = worker_msg_change(ms->changes[i], &changes[i]);
	for (i = 0; *why == NULL && i < ms->n_messages; i++)
		*why = worker_msg_msg(ms->messages[i], &msgs[i]);
	for (i = 0; *why == NULL && i < ms->n_statuses; i++)
		*why = worker_msg_status(ms->statuses[i], &statuses[i]);
	for (i = 0; *why == NULL && i < ms->n_lids; i++) {
		const Wagate__Ipc__LidMapping *l = ms->lids[i];

		if (l == NULL || !worker_msg_str(l->lid, WORKER_MSG_STR_MAX, 1) ||
		    !worker_msg_str(l->pn, WORKER_MSG_STR_MAX, 1))
			*why = "LID mapping without both JIDs, or one too long";
		else {
			lids[i].lid = l->lid;
			lids[i].pn = l->pn;
		}
	}
	for (i = 0; *why == NULL && i < ms->n_history_chats; i++)
		*why = worker_msg_name(ms->history_chats[i], &chats[i]);
	for (i = 0; *why == NULL && i < ms->n_history_contacts; i++)
		*why = worker_msg_name(ms->history_contacts[i], &contacts[i]);
	/* Strictly digits and one of two servers: the user becomes a Signal address prefix in a DELETE. */
	for (i = 0; *why == NULL && i < ms->n_forget_users; i++)
		if (!worker_msg_forget_user_ok(ms->forget_users[i]))
			*why = "forget_users entry is not a user JID (digits@s.whatsapp.net or digits@lid)";
	if (*why != NULL) {
		worker_msg_store_clear(out);
		return -1;
	}
	out->forget_users = ms->n_forget_users > 0 ? (const char *const *)ms->forget_users : NULL;
	out->nforget_users = ms->n_forget_users;
	out->nchanges = ms->n_changes;
	out->nmsgs = ms->n_messages;
	out->nstatuses = ms->n_statuses;
	out->nlids = ms->n_lids;
	out->nchats = ms->n_history_chats;
	out->ncontacts = ms->n_history_contacts;
	return 0;
}

/* The code and error of a failed answer: the worker's, or defaults that still say something. */
static int
worker_msg_failure(int32_t code, const char *error, int *code_out, const char **error_out)
{
	if (!worker_msg_str(error, WORKER_MSG_ERROR_MAX, 0))
		return -1;
	*code_out = code >= 100 && code <= 599 ? code : 500;
	*error_out = *error != '\0' ? error : "the worker refused";
	return 0;
}

int
worker_msg_check_send_result(const Wagate__Ipc__SendResult *r, struct workers_send_result *out)
{
	memset(out, 0, sizeof(*out));
	if (!worker_msg_str(r->id, WORKER_MSG_STR_MAX, 0) || !worker_msg_str(r->remote_jid, WORKER_MSG_STR_MAX, 0) ||
	    !worker_msg_str(r->remote_jid_alt, WORKER_MSG_STR_MAX, 0) || !worker_msg_status_ok((int)r->status, 1))
		return -1;
	if (!r->ok) {
		out->id = out->remote_jid = out->remote_jid_alt = "";
		return worker_msg_failure(r->code, r->error, &out->code, &out->error);
	}
	if (*r->id == '\0' || *r->remote_jid == '\0' || r->timestamp < 0)
		return -1;
	out->ok = 1;
	out->code = 0;
	out->id = r->id;
	out->remote_jid = r->remote_jid;
	out->remote_jid_alt = r->remote_jid_alt;
	out->timestamp = r->timestamp;
	out->status = (int)r->status;
	return 0;
}

int
worker_msg_check_numbers(const Wagate__Ipc__NumbersResult *r, size_t nasked, struct workers_number **v,
    int *code, const char **error)
{
	struct workers_number *out;
	size_t i;

	*v = NULL;
	*code = 0;
	*error = NULL;
	if (!r->ok)
		return worker_msg_failure(r->code, r->error, code, error);	/* entries, if any, mean nothing */
	if (r->n_numbers != nasked || nasked == 0 || nasked > WORKERS_NUMBERS_MAX)
		return -1;
	out = xcalloc(nasked, sizeof(*out));
	for (i = 0; i < nasked; i++) {
		const Wagate__Ipc__NumberInfo *ni = r->numbers[i];

		if (ni == NULL || !worker_msg_str(ni->number, WORKER_MSG_STR_MAX, 1) ||
		    !worker_msg_str(ni->jid, WORKER_MSG_STR_MAX, 0) ||
		    !worker_msg_str(ni->lid, WORKER_MSG_STR_MAX, 0) || (ni->exists && *ni->jid == '\0')) {
			free(out);
			return -1;
		}
		out[i].number = ni->number;
		out[i].jid = ni->jid;
		out[i].lid = ni->lid;
		out[i].exists = ni->exists;
	}
	*v = out;
	return 0;
}

int
worker_msg_check_call(const Wagate__Ipc__CallEvent *e, struct workers_call *out, const char **why)
{
	static const char *const statuses[] = { "offer", "terminate", "timeout", "reject", "accept", "preaccept",
	    "transport", "relaylatency", "ringing" };
	size_t i;

	memset(out, 0, sizeof(*out));
	if (!worker_msg_str(e->chat_id, WORKER_MSG_STR_MAX, 1) || !worker_msg_str(e->from, WORKER_MSG_STR_MAX, 1) ||
	    !worker_msg_str(e->caller_pn, WORKER_MSG_STR_MAX, 0) || !worker_msg_str(e->id, WORKER_MSG_STR_MAX, 1) ||
	    !worker_msg_str(e->status, WORKER_MSG_STR_MAX, 1) || !worker_msg_str(e->group_jid, WORKER_MSG_STR_MAX, 0)) {
		*why = "a call's string is missing, too long or not UTF-8";
		return -1;
	}
	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]) && strcmp(e->status, statuses[i]) != 0; i++)
		;
	if (i == sizeof(statuses) / sizeof(statuses[0])) {
		*why = "unknown call status";
		return -1;
	}
	if (e->timestamp < 0 || e->latency_ms < -1 || e->latency_ms > 3600000) {
		*why = "call timestamp or latency out of range";
		return -1;
	}
	out->chat_id = e->chat_id;
	out->from = e->from;
	out->caller_pn = e->caller_pn;
	out->id = e->id;
	out->status = e->status;
	out->group_jid = e->group_jid;
	out->timestamp = e->timestamp;
	out->offline = e->offline;
	out->is_video = e->is_video;
	out->is_group = e->is_group;
	out->offer_known = e->offer_known;
	out->rejected = e->rejected;
	out->latency_ms = e->latency_ms;
	return 0;
}
