/* What we write when sending (reference/wa-session.md sections 4.1, 4.7, 4.8, 5.3, 5.5): message ids, the
 * DeviceSentMessage for our own devices, the <message> stanzas and read receipts; and the <call> stanzas we read
 * and the reject we answer them with. See msg_wire.h. */
#include "msg_wire.h"

#include "random.h"
#include "wa_jid.h"
#include "wa_node.h"
#include "xmalloc.h"

#include <mbedtls/sha256.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STANZA_DSM_FIELD	31	/* Message.deviceSentMessage */
#define STANZA_CTX_FIELD	35	/* Message.messageContextInfo */

void
msg_stanza_make_id(const char *own_user, int64_t now, char out[MSG_WIRE_ID_LEN + 1])
{
	static const char hexd[] = "0123456789ABCDEF";
	mbedtls_sha256_context sha;
	uint8_t t[8], rnd[16], h[32];
	size_t i;

	/* whatsmeow's GenerateMessageID: SHA-256 over time, our user "@c.us" and 16 random bytes; "3EB0" + 9 bytes */
	for (i = 0; i < 8; i++)
		t[i] = (uint8_t)((uint64_t)now >> (56 - 8 * i));
	random_bytes(rnd, sizeof(rnd));
	mbedtls_sha256_init(&sha);
	(void)mbedtls_sha256_starts_ret(&sha, 0);
	(void)mbedtls_sha256_update_ret(&sha, t, sizeof(t));
	if (own_user != NULL && *own_user != '\0') {
		(void)mbedtls_sha256_update_ret(&sha, (const uint8_t *)own_user, strlen(own_user));
		(void)mbedtls_sha256_update_ret(&sha, (const uint8_t *)"@c.us", 5);
	}
	(void)mbedtls_sha256_update_ret(&sha, rnd, sizeof(rnd));
	(void)mbedtls_sha256_finish_ret(&sha, h);
	mbedtls_sha256_free(&sha);
	memcpy(out, "3EB0", 4);
	for (i = 0; i < 9; i++) {
		out[4 + 2 * i] = hexd[h[i] >> 4];
		out[5 + 2 * i] = hexd[h[i] & 15];
	}
	out[MSG_WIRE_ID_LEN] = '\0';
}

/* A protobuf varint at *p (below end); -1 when truncated or longer than 10 bytes. */
static int
stanza_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	unsigned shift = 0;

	*v = 0;
	while (*p < end && shift < 70) {
		uint8_t b = *(*p)++;
		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return 0;
		shift += 7;
	}
	return -1;
}

/* Append a varint to out at *o. */
static void
stanza_put_varint(uint8_t *out, size_t *o, uint64_t v)
{
	do {
		out[(*o)++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v != 0);
}

/* Append a length-delimited field. */
static void
stanza_put_field(uint8_t *out, size_t *o, unsigned field, const uint8_t *data, size_t len)
{
	stanza_put_varint(out, o, (uint64_t)field << 3 | 2);
	stanza_put_varint(out, o, len);
	memcpy(out + *o, data, len);
	*o += len;
}

/* Walk the top-level fields of a protobuf message; find the (last) length-delimited field want. 0 (found or
 * not: *at NULL then) or -1 when msg is not a well-formed message. */
static int
stanza_find_field(const uint8_t *msg, size_t len, unsigned want, const uint8_t **at, size_t *atlen)
{
	const uint8_t *p = msg, *end = msg + len;
	uint64_t key, v;

	*at = NULL;
	*atlen = 0;
	while (p < end) {
		if (stanza_varint(&p, end, &key) == -1 || (key >> 3) == 0)
			return -1;
		switch (key & 7) {
		case 0:
			if (stanza_varint(&p, end, &v) == -1)
				return -1;
			break;
		case 1:
			if (end - p < 8)
				return -1;
			p += 8;
			break;
		case 2:
			if (stanza_varint(&p, end, &v) == -1 || v > (uint64_t)(end - p))
				return -1;
			if ((key >> 3) == want) {
				*at = p;
				*atlen = (size_t)v;
			}
			p += v;
			break;
		case 5:
			if (end - p < 4)
				return -1;
			p += 4;
			break;
		default:
			return -1;	/* groups (3, 4) are not used by WhatsApp's schema */
		}
	}
	return 0;
}

int
msg_stanza_dsm(const char *dest, const uint8_t *msg, size_t len, uint8_t **out, size_t *outlen)
{
	const uint8_t *ctx;
	size_t ctxlen, dl = strlen(dest), n = 0, o = 0;
	uint8_t *dsm;

	if (len == 0 || stanza_find_field(msg, len, STANZA_CTX_FIELD, &ctx, &ctxlen) == -1)
		return -1;
	/* each field adds at most a 2-byte key and a 10-byte length */
	dsm = xmalloc(dl + len + 24);
	stanza_put_field(dsm, &n, 1, (const uint8_t *)dest, dl);
	stanza_put_field(dsm, &n, 2, msg, len);
	*out = xmalloc(n + ctxlen + 24);
	stanza_put_field(*out, &o, STANZA_DSM_FIELD, dsm, n);
	if (ctx != NULL)
		stanza_put_field(*out, &o, STANZA_CTX_FIELD, ctx, ctxlen);
	free(dsm);
	*outlen = o;
	return 0;
}

/* <enc v="2" type> with the ciphertext. */
static struct wa_node *
stanza_enc(const struct msg_stanza_enc *e)
{
	struct wa_node *enc = wa_node_new("enc");

	wa_node_set_attr(enc, "v", "2");
	wa_node_set_attr(enc, "type", e->type == WA_SIGNAL_PKMSG ? "pkmsg" : "msg");
	wa_node_set_bytes(enc, e->ct, e->len);
	return enc;
}

struct wa_node *
msg_stanza_message(const char *id, const char *to, const struct msg_stanza_enc *encs, size_t n,
    const uint8_t *identity, size_t identity_len)
{
	struct wa_node *m = wa_node_new("message"), *parts, *t;
	int pkmsg = 0;

	wa_node_set_attr(m, "id", id);
	wa_node_set_attr(m, "to", to);
	wa_node_set_attr(m, "type", "text");
	parts = wa_node_add_child(m, wa_node_new("participants"));
	for (size_t i = 0; i < n; i++) {
		t = wa_node_add_child(parts, wa_node_new("to"));
		wa_node_set_attr(t, "jid", encs[i].jid);
		wa_node_add_child(t, stanza_enc(&encs[i]));
		pkmsg |= encs[i].type == WA_SIGNAL_PKMSG;
	}
	/* a pkmsg starts a session: the receiver checks our device against the account with this */
	if (pkmsg && identity != NULL && identity_len > 0)
		wa_node_set_bytes(wa_node_add_child(m, wa_node_new("device-identity")), identity, identity_len);
	return m;
}

struct wa_node *
msg_stanza_resend(const char *id, const char *to, const struct msg_stanza_enc *enc, unsigned count, int64_t t,
    const uint8_t *identity, size_t identity_len)
{
	struct wa_node *m = wa_node_new("message"), *e;

	wa_node_set_attr(m, "id", id);
	wa_node_set_attr(m, "to", to);
	wa_node_set_attr(m, "type", "text");
	if (t > 0)
		wa_node_set_attrf(m, "t", "%lld", (long long)t);
	e = wa_node_add_child(m, stanza_enc(enc));
	wa_node_set_attrf(e, "count", "%u", count);
	if (enc->type == WA_SIGNAL_PKMSG && identity != NULL && identity_len > 0)
		wa_node_set_bytes(wa_node_add_child(m, wa_node_new("device-identity")), identity, identity_len);
	return m;
}

struct wa_node *
msg_stanza_read(const char *chat, const char *participant, const char *const *ids, size_t n, int64_t t)
{
	struct wa_node *r = wa_node_new("receipt"), *list;

	wa_node_set_attr(r, "id", ids[0]);
	wa_node_set_attr(r, "to", chat);
	if (participant != NULL && *participant != '\0')
		wa_node_set_attr(r, "participant", participant);
	wa_node_set_attr(r, "type", "read");
	wa_node_set_attrf(r, "t", "%lld", (long long)t);
	if (n > 1) {
		list = wa_node_add_child(r, wa_node_new("list"));
		for (size_t i = 1; i < n; i++)
			wa_node_set_attr(wa_node_add_child(list, wa_node_new("item")), "id", ids[i]);
	}
	return r;
}

/* A JID attribute of n into out: "" when absent; -1 when present but malformed, too long, or (user) not a user
 * JID (a phone number's or a LID, possibly with a device). */
static int
call_jid(const struct wa_node *n, const char *key, int user, char *out, size_t len)
{
	const char *v = wa_node_attr(n, key);
	struct wa_jid j;

	*out = '\0';
	if (v == NULL)
		return 0;
	if (strlen(v) >= len || wa_jid_parse(v, &j) == -1 || (user && !wa_jid_is_user(&j)))
		return -1;
	snprintf(out, len, "%s", v);
	return 0;
}

/* Baileys' call status for the call info's tag (getCallStatusFromNode). */
static const char *
call_status(const struct wa_node *info)
{
	static const char *const same[] = { "preaccept", "transport", "relaylatency", "reject", "accept" };
	const char *reason = wa_node_attr(info, "reason");
	size_t i;

	if (strcmp(info->tag, "offer") == 0 || strcmp(info->tag, "offer_notice") == 0)
		return "offer";
	if (strcmp(info->tag, "terminate") == 0)
		return reason != NULL && strcmp(reason, "timeout") == 0 ? "timeout" : "terminate";
	for (i = 0; i < sizeof(same) / sizeof(same[0]); i++)
		if (strcmp(info->tag, same[i]) == 0)
			return same[i];
	return "ringing";
}

/* A decimal attribute of at most 9 digits, or dflt. */
static int64_t
call_num(const struct wa_node *n, const char *key, int64_t dflt)
{
	const char *v = wa_node_attr(n, key);
	size_t len = v != NULL ? strlen(v) : 0;

	if (len == 0 || len > 12 || strspn(v, "0123456789") != len)
		return dflt;
	return strtoll(v, NULL, 10);
}

int
msg_call_parse(const struct wa_node *n, struct msg_call *c, const char **why)
{
	const struct wa_node *info;
	const char *id, *lat;
	char creator[MSG_WIRE_JID_MAX];
	size_t len;

	memset(c, 0, sizeof(*c));
	c->latency_ms = -1;
	if (strcmp(n->tag, "call") != 0 || n->ctype != WA_CONTENT_NODES || n->nchildren == 0) {
		*why = "no call info";
		return -1;
	}
	info = n->children[0];
	id = wa_node_attr(info, "call-id");
	len = id != NULL ? strlen(id) : 0;
	if (len == 0 || len > MSG_CALL_ID_MAX) {
		*why = "bad call-id";
		return -1;
	}
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)id[i] < 0x21 || (unsigned char)id[i] > 0x7e) {
			*why = "bad call-id";
			return -1;
		}
	memcpy(c->id, id, len + 1);
	if (call_jid(n, "from", 0, c->chat_id, sizeof(c->chat_id)) == -1 || c->chat_id[0] == '\0' ||
	    call_jid(info, "call-creator", 1, creator, sizeof(creator)) == -1 ||
	    call_jid(info, "from", 1, c->from, sizeof(c->from)) == -1 ||
	    call_jid(info, "caller_pn", 1, c->caller_pn, sizeof(c->caller_pn)) == -1 ||
	    call_jid(info, "group-jid", 0, c->group_jid, sizeof(c->group_jid)) == -1) {
		*why = "bad JID";
		return -1;
	}
	if (c->from[0] == '\0')
		memcpy(c->from, creator, sizeof(c->from));
	if (c->from[0] == '\0') {
		*why = "no caller";
		return -1;
	}
	snprintf(c->status, sizeof(c->status), "%s", call_status(info));
	c->t = call_num(n, "t", 0);
	c->offline = wa_node_attr(n, "offline") != NULL;
	if (strcmp(c->status, "offer") == 0) {
		c->is_video = wa_node_child(info, "video") != NULL;
		c->is_group = c->group_jid[0] != '\0' || (wa_node_attr(info, "type") != NULL &&
		    strcmp(wa_node_attr(info, "type"), "group") == 0);
	}
	if (strcmp(c->status, "relaylatency") == 0) {
		lat = wa_node_attr(info, "latency") != NULL ? "latency" : wa_node_attr(info, "latency_ms") != NULL ?
		    "latency_ms" : "latency-ms";
		c->latency_ms = (int)call_num(info, lat, -1);
		if (c->latency_ms > 3600000)
			c->latency_ms = -1;
	}
	return 0;
}

struct wa_node *
msg_call_reject(const struct msg_call *c, const char *own_user, const char *caller_user, const char *id)
{
	struct wa_node *n = wa_node_new("call"), *r;

	wa_node_set_attr(n, "id", id);
	wa_node_set_attr(n, "from", own_user);
	wa_node_set_attr(n, "to", caller_user);
	r = wa_node_add_child(n, wa_node_new("reject"));
	wa_node_set_attr(r, "call-id", c->id);
	wa_node_set_attr(r, "call-creator", caller_user);
	wa_node_set_attr(r, "count", "0");
	return n;
}
