/* Recipients and text messages for the send routes. */
#include "msg_send.h"
#include "validate.h"
#include "xmalloc.h"

#include <stdio.h>
#include <string.h>

#include "e2e.pb-c.h"

/* Whether s ends with suffix. */
static int
msg_send_ends(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Whether the user part of jid (before '@') is 1..max digits, or digits-digits for a group id. */
static int
msg_send_user_ok(const char *jid, size_t max, int dash)
{
	const char *at = strchr(jid, '@');
	size_t n = at != NULL ? (size_t)(at - jid) : 0, i, dashes = 0;

	if (n == 0 || n > max || jid[0] == '-' || jid[n - 1] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		if (jid[i] == '-' && dash && dashes++ == 0)
			continue;
		if (jid[i] < '0' || jid[i] > '9')
			return 0;
	}
	return 1;
}

enum msg_send_kind
msg_send_jid(const char *number, char *out)
{
	out[0] = '\0';
	if (number == NULL || v_jid(number, out, MSG_SEND_JID_MAX) == -1) {
		out[0] = '\0';
		return MSG_SEND_BAD;
	}
	/* The worker resolves users and groups; a broadcast list, status or a JID with a device or a server we do
	 * not know is not something SendMessage takes. */
	if (msg_send_ends(out, "@s.whatsapp.net"))
		return msg_send_user_ok(out, V_NUMBER_MAX, 0) && strlen(out) - 15 >= 6 ? MSG_SEND_USER : MSG_SEND_BAD;
	if (msg_send_ends(out, "@lid"))
		return msg_send_user_ok(out, 20, 0) ? MSG_SEND_USER : MSG_SEND_BAD;
	if (msg_send_ends(out, "@g.us"))
		return msg_send_user_ok(out, 64, 1) ? MSG_SEND_GROUP : MSG_SEND_BAD;
	return MSG_SEND_BAD;
}

uint8_t *
msg_send_text_pack(const struct msg_send_text *t, size_t *len)
{
	Wa__Message m = WA__MESSAGE__INIT;
	Wa__ExtendedTextMessage e = WA__EXTENDED_TEXT_MESSAGE__INIT;
	Wa__ContextInfo c = WA__CONTEXT_INFO__INIT;
	Wa__Message *quoted = NULL;
	uint8_t *buf;

	*len = 0;
	if (t->text == NULL || t->text[0] == '\0' || strlen(t->text) > MSG_SEND_TEXT_MAX ||
	    t->nmentions > MSG_SEND_EVERYONE_MAX)
		return NULL;
	if (t->quoted_message != NULL &&
	    (quoted = wa__message__unpack(NULL, t->quoted_len, t->quoted_message)) == NULL)
		return NULL;
	if ((t->quoted_id == NULL || t->quoted_id[0] == '\0') && t->nmentions == 0) {
		m.conversation = (char *)t->text;
	} else {
		if (t->quoted_id != NULL && t->quoted_id[0] != '\0') {
			c.stanzaid = (char *)t->quoted_id;
			c.participant = (char *)t->quoted_participant;
			c.quotedmessage = quoted;
		}
		c.n_mentionedjid = t->nmentions;
		c.mentionedjid = (char **)t->mentions;
		e.text = (char *)t->text;
		e.contextinfo = &c;
		m.extendedtextmessage = &e;
	}
	*len = wa__message__get_packed_size(&m);
	buf = xmalloc(*len > 0 ? *len : 1);
	wa__message__pack(&m, buf);
	if (quoted != NULL)
		wa__message__free_unpacked(quoted, NULL);
	return buf;
}
