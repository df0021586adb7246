/* A history sync chunk into rows (msg_history.h has the contract). */
#include "msg_history.h"
#include "msg_content.h"
#include "errbuf.h"
#include "history.pb-c.h"
#include "utf8.h"
#include "wa_jid.h"
#include "wa_zlib.h"
#include "xmalloc.h"

#include <stdlib.h>
#include <string.h>

/* A string the supervisor takes: present when need, bounded, UTF-8. */
static int
history_str_ok(const char *s, int need)
{
	size_t n;

	if (s == NULL)
		return !need;
	n = strlen(s);
	return (!need || n > 0) && n <= MSG_HISTORY_STR_MAX && utf8_valid(s, n, NULL);
}

/* A user JID without device (PN or LID), or a group or broadcast JID, as the chat of a stored row. */
static int
history_chat_ok(const char *jid)
{
	struct wa_jid j;

	if (!history_str_ok(jid, 1) || wa_jid_parse(jid, &j) == -1 || j.device != 0 || j.user[0] == '\0')
		return 0;
	return strcmp(j.server, "s.whatsapp.net") == 0 || strcmp(j.server, "lid") == 0 ||
	    strcmp(j.server, "g.us") == 0 || strcmp(j.server, "broadcast") == 0;
}

static int
history_is_server(const char *jid, const char *server)
{
	const char *at = jid != NULL ? strrchr(jid, '@') : NULL;

	return at != NULL && strcmp(at + 1, server) == 0;
}

static Wagate__Ipc__HistoryName *
history_name(const char *jid, const char *name)
{
	Wagate__Ipc__HistoryName *n = xcalloc(1, sizeof(*n));

	wagate__ipc__history_name__init(n);
	n->jid = xstrdup(jid);
	n->name = xstrdup(history_str_ok(name, 1) ? name : "");
	return n;
}

static void
history_add_lid(struct msg_history *h, const char *pn, const char *lid)
{
	Wagate__Ipc__LidMapping *l;

	if (!history_chat_ok(pn) || !history_chat_ok(lid) || !history_is_server(pn, "s.whatsapp.net") ||
	    !history_is_server(lid, "lid"))
		return;
	if (h->nlids == MSG_HISTORY_NAMES_MAX) {
		h->dropped++;
		return;
	}
	l = xcalloc(1, sizeof(*l));
	wagate__ipc__lid_mapping__init(l);
	l->lid = xstrdup(lid);
	l->pn = xstrdup(pn);
	h->lids = xreallocarray(h->lids, h->nlids + 1, sizeof(*h->lids));
	h->lids[h->nlids++] = l;
}

/* One message of conversation chat (its PN form when known) with alt (the other form, or ""). */
static void
history_add_msg(struct msg_history *h, const Wa__WebMessageInfo *w, const char *chat, const char *alt,
    int group, size_t *bytes)
{
	Wagate__Ipc__StoredMessage *m;
	struct msg_content c;
	const char *participant;
	char err[128];

	if (w == NULL || w->key == NULL || !history_str_ok(w->key->id, 1) || !w->has_message ||
	    !w->has_messagetimestamp || w->messagetimestamp == 0 || w->messagetimestamp > INT64_MAX) {
		h->skipped++;
		return;
	}
	participant = w->key->participant != NULL ? w->key->participant : w->participant;
	if (!group)
		participant = NULL;
	if ((participant != NULL && !history_chat_ok(participant)) || !history_str_ok(w->pushname, 0)) {
		h->skipped++;
		return;
	}
	if (msg_content_parse(w->message.data, w->message.len, &c, err, sizeof(err)) == -1) {
		h->skipped++;
		return;
	}
	if (c.message == NULL) {
		msg_content_clear(&c);
		h->skipped++;
		return;
	}
	if (h->nmsgs == MSG_HISTORY_MSGS_MAX || *bytes + c.len > MSG_HISTORY_BYTES_MAX) {
		msg_content_clear(&c);
		h->dropped++;
		return;
	}
	*bytes += c.len;
	m = xcalloc(1, sizeof(*m));
	wagate__ipc__stored_message__init(m);
	m->id = xstrdup(w->key->id);
	m->remote_jid = xstrdup(chat);
	m->remote_jid_alt = xstrdup(alt);
	m->from_me = w->key->has_fromme && w->key->fromme;
	m->participant = xstrdup(participant != NULL ? participant : "");
	m->participant_alt = xstrdup("");
	m->push_name = xstrdup(w->pushname != NULL && !m->from_me ? w->pushname : "");
	m->timestamp = (int64_t)w->messagetimestamp;
	/* WebMessageInfo.Status counts from ERROR = 0; MsgStatus from NONE = 0, ERROR = 1. */
	m->status = w->has_status && w->status <= WA__WEB_MESSAGE_INFO__STATUS__PLAYED ?
	    (Wagate__Ipc__MsgStatus)(w->status + 1) : WAGATE__IPC__MSG_STATUS__MSG_STATUS_NONE;
	m->message.data = c.message;
	m->message.len = c.len;
	c.message = NULL;
	msg_content_clear(&c);
	m->source = xstrdup(msg_content_source(m->id));
	m->history = 1;
	h->msgs = xreallocarray(h->msgs, h->nmsgs + 1, sizeof(*h->msgs));
	h->msgs[h->nmsgs++] = m;
}

/* One conversation: its chat (PN form when the chunk names both), its messages, its LID mapping. */
static void
history_add_conversation(struct msg_history *h, const Wa__Conversation *cv, size_t *bytes)
{
	const char *chat = cv->id, *alt = "", *name;
	size_t i;

	if (!history_chat_ok(cv->id)) {
		h->skipped++;
		return;
	}
	if (history_is_server(cv->id, "lid") && history_chat_ok(cv->pnjid) && history_is_server(cv->pnjid,
	    "s.whatsapp.net")) {
		chat = cv->pnjid;
		alt = cv->id;
		history_add_lid(h, cv->pnjid, cv->id);
	} else if (history_is_server(cv->id, "s.whatsapp.net") && history_chat_ok(cv->lidjid) &&
	    history_is_server(cv->lidjid, "lid")) {
		alt = cv->lidjid;
		history_add_lid(h, cv->id, cv->lidjid);
	}
	if (h->nchats == MSG_HISTORY_NAMES_MAX) {
		h->dropped++;
		return;
	}
	name = cv->name != NULL ? cv->name : cv->displayname;
	h->chats = xreallocarray(h->chats, h->nchats + 1, sizeof(*h->chats));
	h->chats[h->nchats++] = history_name(chat, name);
	for (i = 0; i < cv->n_messages; i++)
		history_add_msg(h, cv->messages[i] != NULL ? cv->messages[i]->message : NULL, chat, alt,
		    history_is_server(chat, "g.us"), bytes);
}

int
msg_history_decode(const uint8_t *z, size_t zlen, struct msg_history *h, char *err, size_t errlen)
{
	Wa__HistorySync *hs;
	uint8_t *raw;
	size_t rawlen = 0, bytes = 0, i;

	memset(h, 0, sizeof(*h));
	h->sync_type = -1;
	if ((raw = wa_zlib_inflate(z, zlen, MSG_HISTORY_INFLATED_MAX, 1, &rawlen, err, errlen)) == NULL)
		return -1;
	hs = wa__history_sync__unpack(NULL, rawlen, raw);
	free(raw);
	if (hs == NULL)
		return errbuf_fail(err, errlen, "not a HistorySync");
	if (hs->has_synctype)
		h->sync_type = (int)hs->synctype;
	for (i = 0; i < hs->n_conversations; i++)
		history_add_conversation(h, hs->conversations[i], &bytes);
	for (i = 0; i < hs->n_pushnames; i++) {
		const Wa__Pushname *p = hs->pushnames[i];

		if (!history_chat_ok(p->id) || !history_str_ok(p->pushname, 1) || history_is_server(p->id, "g.us") ||
		    history_is_server(p->id, "broadcast")) {
			h->skipped++;
			continue;
		}
		if (h->ncontacts == MSG_HISTORY_NAMES_MAX) {
			h->dropped++;
			continue;
		}
		h->contacts = xreallocarray(h->contacts, h->ncontacts + 1, sizeof(*h->contacts));
		h->contacts[h->ncontacts++] = history_name(p->id, p->pushname);
	}
	for (i = 0; i < hs->n_phonenumbertolidmappings; i++)
		history_add_lid(h, hs->phonenumbertolidmappings[i]->pnjid, hs->phonenumbertolidmappings[i]->lidjid);
	wa__history_sync__free_unpacked(hs, NULL);
	return 0;
}

void
msg_history_clear(struct msg_history *h)
{
	size_t i;

	for (i = 0; i < h->nmsgs; i++)
		wagate__ipc__stored_message__free_unpacked(h->msgs[i], NULL);
	for (i = 0; i < h->nchats; i++)
		wagate__ipc__history_name__free_unpacked(h->chats[i], NULL);
	for (i = 0; i < h->ncontacts; i++)
		wagate__ipc__history_name__free_unpacked(h->contacts[i], NULL);
	for (i = 0; i < h->nlids; i++)
		wagate__ipc__lid_mapping__free_unpacked(h->lids[i], NULL);
	free(h->msgs);
	free(h->chats);
	free(h->contacts);
	free(h->lids);
	memset(h, 0, sizeof(*h));
	h->sync_type = -1;
}
