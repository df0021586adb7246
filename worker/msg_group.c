/* The wire side of groups (see msg_group.h): w:g2 iqs, <group> answers, participant hash, group stanza. */
#include "msg_group.h"

#include "b64.h"
#include "utf8.h"
#include "wa_jid.h"
#include "wa_node.h"
#include "xmalloc.h"

#include <mbedtls/sha256.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wa_node *
msg_group_create_query(const char *subject, char *const *participants, size_t n, const char *key)
{
	struct wa_node *iq = wa_node_new("iq"), *c;

	wa_node_set_attr(iq, "xmlns", "w:g2");
	wa_node_set_attr(iq, "type", "set");
	wa_node_set_attr(iq, "to", "@g.us");
	c = wa_node_add_child(iq, wa_node_new("create"));
	wa_node_set_attr(c, "subject", subject);
	wa_node_set_attr(c, "key", key);
	for (size_t i = 0; i < n; i++)
		wa_node_set_attr(wa_node_add_child(c, wa_node_new("participant")), "jid", participants[i]);
	return iq;
}

struct wa_node *
msg_group_info_query(const char *jid)
{
	struct wa_node *iq = wa_node_new("iq");

	wa_node_set_attr(iq, "xmlns", "w:g2");
	wa_node_set_attr(iq, "type", "get");
	wa_node_set_attr(iq, "to", jid);
	wa_node_set_attr(wa_node_add_child(iq, wa_node_new("query")), "request", "interactive");
	return iq;
}

struct wa_node *
msg_group_list_query(void)
{
	struct wa_node *iq = wa_node_new("iq"), *p;

	wa_node_set_attr(iq, "xmlns", "w:g2");
	wa_node_set_attr(iq, "type", "get");
	wa_node_set_attr(iq, "to", "@g.us");
	p = wa_node_add_child(iq, wa_node_new("participating"));
	wa_node_add_child(p, wa_node_new("participants"));
	wa_node_add_child(p, wa_node_new("description"));
	return iq;
}

int
msg_group_iq_code(const struct wa_node *iq)
{
	const char *type = wa_node_attr(iq, "type"), *code;
	const struct wa_node *e;

	if (type != NULL && strcmp(type, "result") == 0)
		return 0;
	e = wa_node_child(iq, "error");
	code = e != NULL ? wa_node_attr(e, "code") : NULL;
	if (code == NULL)
		return 500;
	/* 406 not-acceptable (a bad subject, too many participants) is the caller's mistake too */
	if (strcmp(code, "400") == 0 || strcmp(code, "406") == 0)
		return 400;
	if (strcmp(code, "401") == 0 || strcmp(code, "403") == 0)
		return 403;
	if (strcmp(code, "404") == 0)
		return 404;
	return 500;
}

/* A heap copy of s when it is usable text (UTF-8, at most max bytes); "" for NULL. NULL when not. */
static char *
group_str(const char *s, size_t max)
{
	size_t len;

	if (s == NULL)
		return xstrdup("");
	len = strlen(s);
	if (len > max || !utf8_valid(s, len, NULL))
		return NULL;
	return xstrdup(s);
}

/* A decimal attribute of n (seconds); 0 when absent, -1 when malformed. */
static int
group_num(const struct wa_node *n, const char *key, int64_t *out)
{
	const char *v = wa_node_attr(n, key);
	char *end;
	long long x;

	*out = 0;
	if (v == NULL)
		return 0;
	if (*v == '\0' || strlen(v) > 19 || strspn(v, "0123456789") != strlen(v))
		return -1;
	errno = 0;
	x = strtoll(v, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = x;
	return 0;
}

/* A user JID attribute (PN or LID, no device) copied; "" when absent. NULL when malformed. */
static char *
group_user(const struct wa_node *n, const char *key)
{
	const char *v = wa_node_attr(n, key);
	struct wa_jid j;

	if (v == NULL)
		return xstrdup("");
	if (strlen(v) >= MSG_WIRE_JID_MAX || wa_jid_parse(v, &j) == -1 || !wa_jid_is_user(&j) || j.device != 0)
		return NULL;
	return xstrdup(v);
}

/* One <participant jid type [lid|phone_number]/> as a GroupParticipant; NULL when malformed. In a LID group the
 * jid is the LID and phone_number the PN; the PN form goes to jid when known. */
static Wagate__Ipc__GroupParticipant *
group_participant(const struct wa_node *p)
{
	Wagate__Ipc__GroupParticipant *gp = xmalloc(sizeof(*gp));
	const char *type = wa_node_attr(p, "type"), *jid = wa_node_attr(p, "jid");
	struct wa_jid j;
	char *a = NULL, *b = NULL;

	wagate__ipc__group_participant__init(gp);
	if (jid == NULL || strlen(jid) >= MSG_WIRE_JID_MAX || wa_jid_parse(jid, &j) == -1 || !wa_jid_is_user(&j))
		goto bad;
	if (wa_jid_is_lid(&j)) {
		b = group_user(p, "jid");
		a = group_user(p, "phone_number");
		if (a != NULL && *a == '\0') {
			free(a);
			a = xstrdup(b != NULL ? b : "");
		}
	} else {
		a = group_user(p, "jid");
		b = group_user(p, "lid");
	}
	if (a == NULL || b == NULL)
		goto bad;
	gp->jid = a;
	gp->lid = b;
	if (type == NULL || (strcmp(type, "admin") != 0 && strcmp(type, "superadmin") != 0))
		gp->admin = xstrdup("");
	else
		gp->admin = xstrdup(type);
	return gp;
bad:
	free(a);
	free(b);
	free(gp);
	return NULL;
}

void
msg_group_info_free(Wagate__Ipc__GroupInfo *gi)
{
	if (gi != NULL)
		wagate__ipc__group_info__free_unpacked(gi, NULL);
}

/* <description id><body>text</body></description> into gi. 0 or -1. */
static int
group_desc(Wagate__Ipc__GroupInfo *gi, const struct wa_node *d)
{
	const struct wa_node *body = wa_node_child(d, "body");
	char *id, *text;

	if ((id = group_str(wa_node_attr(d, "id"), 128)) == NULL)
		return -1;
	free(gi->desc_id);
	gi->desc_id = id;
	if (body == NULL || body->ctype != WA_CONTENT_BYTES)
		return 0;
	/* the bytes are NUL-terminated one past their end (wa_node.h); an inner NUL is refused */
	if (body->nbytes > MSG_GROUP_TEXT_MAX || memchr(body->bytes, '\0', body->nbytes) != NULL ||
	    (text = group_str((const char *)body->bytes, MSG_GROUP_TEXT_MAX)) == NULL)
		return -1;
	free(gi->desc);
	gi->desc = text;
	return 0;
}

Wagate__Ipc__GroupInfo *
msg_group_parse(const struct wa_node *g)
{
	Wagate__Ipc__GroupInfo *gi;
	Wagate__Ipc__GroupParticipant *gp;
	const char *id = wa_node_attr(g, "id");
	size_t np = 0, idlen;
	char jid[MSG_WIRE_JID_MAX];
	struct wa_jid j;

	if (g == NULL || strcmp(g->tag, "group") != 0 || id == NULL || (idlen = strlen(id)) == 0 ||
	    idlen >= MSG_WIRE_JID_MAX - 8)
		return NULL;
	/* WhatsApp sends the user part only; whole JIDs are accepted too */
	snprintf(jid, sizeof(jid), "%s%s", id, strchr(id, '@') != NULL ? "" : "@g.us");
	if (wa_jid_parse(jid, &j) == -1 || !wa_jid_is_group(&j) || *j.user == '\0')
		return NULL;
	for (size_t i = 0; g->ctype == WA_CONTENT_NODES && i < g->nchildren; i++)
		np += strcmp(g->children[i]->tag, "participant") == 0;
	if (np > MSG_GROUP_PARTICIPANTS_MAX)
		return NULL;
	gi = xmalloc(sizeof(*gi));
	wagate__ipc__group_info__init(gi);
	gi->jid = xstrdup(jid);
	gi->subject = group_str(wa_node_attr(g, "subject"), MSG_GROUP_TEXT_MAX);
	gi->subject_owner = group_user(g, "s_o");
	gi->owner = group_user(g, "creator");
	gi->desc = xstrdup("");
	gi->desc_id = xstrdup("");
	gi->participants = xcalloc(np > 0 ? np : 1, sizeof(*gi->participants));
	if (gi->subject == NULL || gi->subject_owner == NULL || gi->owner == NULL ||
	    group_num(g, "s_t", &gi->subject_time) == -1 || group_num(g, "creation", &gi->creation) == -1)
		goto bad;
	for (size_t i = 0; g->ctype == WA_CONTENT_NODES && i < g->nchildren; i++) {
		const struct wa_node *c = g->children[i];
		if (strcmp(c->tag, "participant") == 0) {
			if (wa_node_attr(c, "error") != NULL)
				continue;	/* create: not added */
			if ((gp = group_participant(c)) == NULL)
				goto bad;
			gi->participants[gi->n_participants++] = gp;
		} else if (strcmp(c->tag, "description") == 0) {
			if (group_desc(gi, c) == -1)
				goto bad;
		} else if (strcmp(c->tag, "announcement") == 0)
			gi->announce = 1;
		else if (strcmp(c->tag, "locked") == 0)
			gi->locked = 1;
	}
	return gi;
bad:
	/* free_unpacked wants every string set */
	if (gi->subject == NULL)
		gi->subject = xstrdup("");
	if (gi->subject_owner == NULL)
		gi->subject_owner = xstrdup("");
	if (gi->owner == NULL)
		gi->owner = xstrdup("");
	msg_group_info_free(gi);
	return NULL;
}

Wagate__Ipc__GroupInfo *
msg_group_parse_answer(const struct wa_node *iq)
{
	const struct wa_node *g = wa_node_child(iq, "group");

	return g != NULL ? msg_group_parse(g) : NULL;
}

int
msg_group_parse_list(const struct wa_node *iq, Wagate__Ipc__GroupInfo ***out, size_t *n)
{
	const struct wa_node *groups = wa_node_child(iq, "groups");
	Wagate__Ipc__GroupInfo **v;
	size_t k = 0, max;

	*out = NULL;
	*n = 0;
	if (groups == NULL)
		return -1;
	max = groups->ctype == WA_CONTENT_NODES ? groups->nchildren : 0;
	if (max > MSG_GROUP_LIST_MAX)
		return -1;
	v = xcalloc(max > 0 ? max : 1, sizeof(*v));
	for (size_t i = 0; i < max; i++) {
		if (strcmp(groups->children[i]->tag, "group") != 0)
			continue;
		if ((v[k] = msg_group_parse(groups->children[i])) == NULL) {
			for (size_t m = 0; m < k; m++)
				msg_group_info_free(v[m]);
			free(v);
			return -1;
		}
		k++;
	}
	*out = v;
	*n = k;
	return 0;
}

static int
group_strcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
msg_group_phash(char *const *devices, size_t n, char out[MSG_GROUP_PHASH_LEN])
{
	char **v = xcalloc(n > 0 ? n : 1, sizeof(*v)), b64[16];
	mbedtls_sha256_context ctx;
	uint8_t hash[32];
	struct wa_jid j;
	size_t k = 0;

	/* whatsmeow's ADString: "user.agent:device@server", the phone (device 0) included */
	for (size_t i = 0; i < n; i++) {
		if (wa_jid_parse(devices[i], &j) == -1 || !wa_jid_is_user(&j))
			continue;
		(void)xasprintf(&v[k++], "%s.0:%u@%s", j.user, (unsigned)j.device, j.server);
	}
	qsort(v, k, sizeof(*v), group_strcmp);
	mbedtls_sha256_init(&ctx);
	(void)mbedtls_sha256_starts_ret(&ctx, 0);
	for (size_t i = 0; i < k; i++) {
		(void)mbedtls_sha256_update_ret(&ctx, (const unsigned char *)v[i], strlen(v[i]));
		free(v[i]);
	}
	(void)mbedtls_sha256_finish_ret(&ctx, hash);
	mbedtls_sha256_free(&ctx);
	free(v);
	b64_encode(hash, 6, b64);	/* 6 bytes: 8 characters, no padding */
	snprintf(out, MSG_GROUP_PHASH_LEN, "2:%.8s", b64);
}

struct wa_node *
msg_group_stanza(const char *id, const char *group, const char *phash, const struct msg_stanza_enc *encs, size_t n,
    const uint8_t *skmsg, size_t sklen, const uint8_t *identity, size_t identity_len)
{
	struct wa_node *m = wa_node_new("message"), *parts = NULL, *to, *enc;
	int pk = 0;

	wa_node_set_attr(m, "id", id);
	wa_node_set_attr(m, "to", group);
	wa_node_set_attr(m, "type", "text");
	if (phash != NULL && *phash != '\0')
		wa_node_set_attr(m, "phash", phash);
	for (size_t i = 0; i < n; i++) {
		if (parts == NULL)
			parts = wa_node_add_child(m, wa_node_new("participants"));
		to = wa_node_add_child(parts, wa_node_new("to"));
		wa_node_set_attr(to, "jid", encs[i].jid);
		enc = wa_node_add_child(to, wa_node_new("enc"));
		wa_node_set_attr(enc, "v", "2");
		wa_node_set_attr(enc, "type", encs[i].type == WA_SIGNAL_PKMSG ? "pkmsg" : "msg");
		wa_node_set_bytes(enc, encs[i].ct, encs[i].len);
		pk |= encs[i].type == WA_SIGNAL_PKMSG;
	}
	enc = wa_node_add_child(m, wa_node_new("enc"));
	wa_node_set_attr(enc, "v", "2");
	wa_node_set_attr(enc, "type", "skmsg");
	wa_node_set_bytes(enc, skmsg, sklen);
	if (pk && identity != NULL && identity_len > 0)
		wa_node_set_bytes(wa_node_add_child(m, wa_node_new("device-identity")), identity, identity_len);
	return m;
}

/* Append a varint to out at *o. */
static void
group_put_varint(uint8_t *out, size_t *o, uint64_t v)
{
	do {
		out[(*o)++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v != 0);
}

/* The bytes of a varint. */
static size_t
group_varint_len(uint64_t v)
{
	size_t n = 1;

	while (v > 0x7f) {
		v >>= 7;
		n++;
	}
	return n;
}

void
msg_group_skdm_message(const char *group, const uint8_t *skdm, size_t len, uint8_t **out, size_t *outlen)
{
	size_t gl = strlen(group), inner = 1 + group_varint_len(gl) + gl + 1 + group_varint_len(len) + len, o = 0;
	uint8_t *buf = xmalloc(1 + group_varint_len(inner) + inner);

	group_put_varint(buf, &o, 2 << 3 | 2);		/* Message.senderKeyDistributionMessage */
	group_put_varint(buf, &o, inner);
	group_put_varint(buf, &o, 1 << 3 | 2);		/* groupId */
	group_put_varint(buf, &o, gl);
	memcpy(buf + o, group, gl);
	o += gl;
	group_put_varint(buf, &o, 2 << 3 | 2);		/* axolotlSenderKeyDistributionMessage */
	group_put_varint(buf, &o, len);
	memcpy(buf + o, skdm, len);
	o += len;
	*out = buf;
	*outlen = o;
}
