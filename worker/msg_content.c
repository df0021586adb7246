/* A received Message plaintext: checked, unwrapped, split into content and key material (msg_content.h). */
#include "msg_content.h"
#include "e2e.pb-c.h"
#include "errbuf.h"
#include "xmalloc.h"

#include <stdlib.h>
#include <string.h>

/* Read a varint (at most 10 bytes) ending at or before end. 0 or -1. */
static int
content_varint(const uint8_t *b, size_t *pos, size_t end, uint64_t *out)
{
	uint64_t v = 0;
	unsigned i;

	for (i = 0; i < 10 && *pos < end; i++) {
		uint8_t c = b[(*pos)++];

		v |= (uint64_t)(c & 0x7f) << (7 * i);
		if ((c & 0x80) == 0) {
			*out = v;
			return 0;
		}
	}
	return -1;
}

/* Walk the wire format without recursion, descending only into fields the schema calls sub-messages, so that
 * protobuf-c never meets nesting deeper than MSG_CONTENT_MAX_DEPTH. 0, or -1 with err. */
static int
content_scan(const uint8_t *b, size_t len, char *err, size_t errlen)
{
	const ProtobufCMessageDescriptor *desc[MSG_CONTENT_MAX_DEPTH + 1];
	size_t end[MSG_CONTENT_MAX_DEPTH + 1], pos = 0;
	const ProtobufCFieldDescriptor *f;
	uint64_t key, n;
	int d = 0;

	desc[0] = &wa__message__descriptor;
	end[0] = len;
	for (;;) {
		while (d > 0 && pos == end[d])
			d--;
		if (d == 0 && pos == len)
			return 0;
		if (content_varint(b, &pos, end[d], &key) == -1 || (key >> 3) == 0 || (key >> 3) > 0x1fffffff)
			return errbuf_fail(err, errlen, "bad field key at byte %zu", pos);
		switch (key & 7) {
		case 0:
			if (content_varint(b, &pos, end[d], &n) == -1)
				return errbuf_fail(err, errlen, "bad varint at byte %zu", pos);
			break;
		case 1:
		case 5:
			n = (key & 7) == 1 ? 8 : 4;
			if (end[d] - pos < n)
				return errbuf_fail(err, errlen, "truncated fixed field at byte %zu", pos);
			pos += n;
			break;
		case 2:
			if (content_varint(b, &pos, end[d], &n) == -1 || n > end[d] - pos)
				return errbuf_fail(err, errlen, "bad length at byte %zu", pos);
			f = protobuf_c_message_descriptor_get_field(desc[d], (unsigned)(key >> 3));
			if (f == NULL || f->type != PROTOBUF_C_TYPE_MESSAGE) {
				pos += n;
				break;
			}
			if (d == MSG_CONTENT_MAX_DEPTH)
				return errbuf_fail(err, errlen, "nested deeper than %d", MSG_CONTENT_MAX_DEPTH);
			d++;
			desc[d] = f->descriptor;
			end[d] = pos + n;
			break;
		default:
			return errbuf_fail(err, errlen, "wire type %u at byte %zu", (unsigned)(key & 7), pos);
		}
	}
}

/* A media directPath we may put after the media host's URL: "/...", printable ASCII without spaces. */
static int
content_path_ok(const char *p)
{
	size_t n;

	if (p == NULL || p[0] != '/' || (n = strlen(p)) > MSG_CONTENT_PATH_MAX)
		return 0;
	while (n-- > 0)
		if (p[n] <= ' ' || p[n] >= 0x7f)
			return 0;
	return 1;
}

/* Whether a protocolMessage is protocol traffic (keys, sync) rather than something a chat shows. */
static int
content_protocol_only(const Wa__ProtocolMessage *p)
{
	if (!p->has_type)
		return 1;
	switch (p->type) {
	case WA__PROTOCOL_MESSAGE__TYPE__REVOKE:
	case WA__PROTOCOL_MESSAGE__TYPE__EPHEMERAL_SETTING:
	case WA__PROTOCOL_MESSAGE__TYPE__MESSAGE_EDIT:
	case WA__PROTOCOL_MESSAGE__TYPE__SHARE_PHONE_NUMBER:
		return 0;
	default:
		return 1;
	}
}

/* Whether m (with its SKDM already taken out) carries anything worth a message row. */
static int
content_is_content(const Wa__Message *m)
{
	Wa__Message probe = *m;

	/* Without the fields that never make content on their own, is anything left? */
	probe.messagecontextinfo = NULL;
	probe.protocolmessage = NULL;
	if (protobuf_c_message_get_packed_size(&probe.base) > 0)
		return 1;
	return m->protocolmessage != NULL && !content_protocol_only(m->protocolmessage);
}

/* Take m's SKDM into c (the first one met wins) and detach it from m. -1 if it is unusable. */
static int
content_take_skdm(Wa__Message *m, struct msg_content *c, Wa__SenderKeyDistributionMessage **detached,
    char *err, size_t errlen)
{
	Wa__SenderKeyDistributionMessage *s = m->senderkeydistributionmessage;

	if (s == NULL)
		return 0;
	*detached = s;
	m->senderkeydistributionmessage = NULL;
	if (c->skdm != NULL)
		return 0;
	if (!s->has_axolotlsenderkeydistributionmessage || s->axolotlsenderkeydistributionmessage.len == 0 ||
	    s->axolotlsenderkeydistributionmessage.len > MSG_CONTENT_SKDM_MAX ||
	    (s->groupid != NULL && strlen(s->groupid) > MSG_CONTENT_JID_MAX))
		return errbuf_fail(err, errlen, "unusable senderKeyDistributionMessage");
	c->skdm_len = s->axolotlsenderkeydistributionmessage.len;
	c->skdm = xmalloc(c->skdm_len);
	memcpy(c->skdm, s->axolotlsenderkeydistributionmessage.data, c->skdm_len);
	c->skdm_group = xstrdup(s->groupid != NULL ? s->groupid : "");
	return 0;
}

int
msg_content_parse(const uint8_t *buf, size_t len, struct msg_content *c, char *err, size_t errlen)
{
	Wa__SenderKeyDistributionMessage *outer_skdm = NULL, *inner_skdm = NULL;
	Wa__Message *m, *show;
	int rc = -1;

	memset(c, 0, sizeof(*c));
	if (len > MSG_CONTENT_MAX_INPUT)
		return errbuf_fail(err, errlen, "message of %zu bytes", len);
	if (content_scan(buf, len, err, errlen) == -1)
		return -1;
	if ((m = wa__message__unpack(NULL, len, buf)) == NULL)
		return errbuf_fail(err, errlen, "not a Message");
	show = m;
	if (content_take_skdm(m, c, &outer_skdm, err, errlen) == -1)
		goto out;
	if (m->devicesentmessage != NULL && m->devicesentmessage->message != NULL) {
		const char *dest = m->devicesentmessage->destinationjid;

		if (dest == NULL || *dest == '\0' || strlen(dest) > MSG_CONTENT_JID_MAX) {
			errbuf_fail(err, errlen, "deviceSentMessage without a usable destinationJid");
			goto out;
		}
		c->dsm_dest = xstrdup(dest);
		show = m->devicesentmessage->message;
		if (content_take_skdm(show, c, &inner_skdm, err, errlen) == -1)
			goto out;
	}
	if (show->protocolmessage != NULL && show->protocolmessage->has_type && show->protocolmessage->type ==
	    WA__PROTOCOL_MESSAGE__TYPE__HISTORY_SYNC_NOTIFICATION && show->protocolmessage->historysyncnotification !=
	    NULL) {
		const Wa__HistorySyncNotification *h = show->protocolmessage->historysyncnotification;

		c->history = 1;
		c->history_type = h->has_synctype ? (int)h->synctype : -1;
		if (h->has_initialhistbootstrapinlinepayload && h->initialhistbootstrapinlinepayload.len > 0) {
			c->history_inline_len = h->initialhistbootstrapinlinepayload.len;
			c->history_inline = xmalloc(c->history_inline_len);
			memcpy(c->history_inline, h->initialhistbootstrapinlinepayload.data, c->history_inline_len);
		} else if (content_path_ok(h->directpath) && h->has_mediakey && h->mediakey.len == 32) {
			c->history_path = xstrdup(h->directpath);
			memcpy(c->history_key, h->mediakey.data, 32);
			if (h->has_fileencsha256 && h->fileencsha256.len == 32 && h->has_filesha256 &&
			    h->filesha256.len == 32) {
				memcpy(c->history_enc_sha256, h->fileencsha256.data, 32);
				memcpy(c->history_sha256, h->filesha256.data, 32);
				c->history_has_hashes = 1;
			}
			c->history_length = h->has_filelength ? h->filelength : 0;
		}
	}
	if (content_is_content(show)) {
		c->len = protobuf_c_message_get_packed_size(&show->base);
		c->message = xmalloc(c->len > 0 ? c->len : 1);
		protobuf_c_message_pack(&show->base, c->message);
	}
	rc = 0;
out:
	/* Put the detached SKDMs back so free_unpacked releases them. */
	if (inner_skdm != NULL)
		m->devicesentmessage->message->senderkeydistributionmessage = inner_skdm;
	if (outer_skdm != NULL)
		m->senderkeydistributionmessage = outer_skdm;
	wa__message__free_unpacked(m, NULL);
	if (rc == -1)
		msg_content_clear(c);
	return rc;
}

void
msg_content_clear(struct msg_content *c)
{
	free(c->message);
	free(c->dsm_dest);
	free(c->skdm_group);
	free(c->skdm);
	free(c->history_inline);
	free(c->history_path);
	explicit_wipe(c->history_key, sizeof(c->history_key));
	memset(c, 0, sizeof(*c));
}

const char *
msg_content_source(const char *id)
{
	size_t n = strlen(id);

	if (n == 20 && strncmp(id, "3A", 2) == 0)
		return "ios";
	if (n == 22 && strncmp(id, "3E", 2) == 0)
		return "web";
	if (n == 21 || n == 32)
		return "android";
	if (strncmp(id, "3F", 2) == 0 || n == 18)
		return "desktop";
	return "unknown";
}
