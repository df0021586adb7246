/* WhatsApp binary node codec: encoder (choosing the representation real clients use) and a bounded,
 * strict decoder for untrusted frames. Wire format: reference/wa-transport.md section 4. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "xmalloc.h"
#include "wa_binary.h"
#include "wa_jid.h"
#include "wa_node.h"
#include "wa_tokens.h"
#include "wa_zlib.h"

#define WA_BIN_MAX_LIST		65535u
#define WA_BIN_MIN_NODE_LEN	3	/* LIST_8, count, one-byte tag */
#define WA_BIN_ALLOC_OVERHEAD	32	/* what the decoder charges per allocation besides its size */

/* ------------------------------------------------------------------------------------------------ */
/* Encoder */

/* The growing output buffer of one encode. */
struct wa_wbuf {
	unsigned char	*p;
	size_t		 len, cap;
};

/* Make room for n more bytes. */
static void
wa_wbuf_reserve(struct wa_wbuf *b, size_t n)
{
	size_t cap;

	if (b->len + n <= b->cap)
		return;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + n)
		cap *= 2;
	b->p = xreallocarray(b->p, cap, 1);
	b->cap = cap;
}

/* Append one byte. */
static void
wa_wbuf_byte(struct wa_wbuf *b, unsigned c)
{
	wa_wbuf_reserve(b, 1);
	b->p[b->len++] = (unsigned char)c;
}

/* Append n bytes. */
static void
wa_wbuf_add(struct wa_wbuf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	wa_wbuf_reserve(b, n);
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

/* The packed format a string qualifies for: NIBBLE_8 (digits - .), HEX_8 (digits A-F) or 0. */
static unsigned
wa_enc_packed_tag(const char *s, size_t len)
{
	size_t i;
	int nibble = 1, hex = 1;
	char c;

	if (len == 0 || len > WA_BIN_PACKED_MAX)
		return 0;
	for (i = 0; i < len && (nibble || hex); i++) {
		c = s[i];
		if (c >= '0' && c <= '9')
			continue;
		if (c != '-' && c != '.')
			nibble = 0;
		if (c < 'A' || c > 'F')
			hex = 0;
	}
	if (nibble)
		return WA_BIN_NIBBLE_8;
	return hex ? WA_BIN_HEX_8 : 0;
}

/* The 4-bit code of a character in a packed string (already validated). */
static unsigned
wa_enc_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return (unsigned)(c - '0');
	if (c == '-')
		return 10;
	if (c == '.')
		return 11;
	return (unsigned)(c - 'A' + 10);
}

/* Write a nibble/hex packed string: start byte (length in bytes, bit 7 = odd), two characters a byte. */
static void
wa_enc_packed(struct wa_wbuf *b, unsigned tag, const char *s, size_t len)
{
	size_t i, nbytes = (len + 1) / 2;
	unsigned hi, lo;

	wa_wbuf_reserve(b, 2 + nbytes);
	b->p[b->len++] = (unsigned char)tag;
	b->p[b->len++] = (unsigned char)(nbytes | ((len & 1) ? 0x80 : 0));
	for (i = 0; i < len; i += 2) {
		hi = wa_enc_nibble(s[i]);
		lo = i + 1 < len ? wa_enc_nibble(s[i + 1]) : 15;
		b->p[b->len++] = (unsigned char)(hi << 4 | lo);
	}
}

/* Write raw bytes with the smallest BINARY length form. */
static int
wa_enc_bytes(struct wa_wbuf *b, const void *p, size_t len)
{
	if (len < 256) {
		wa_wbuf_byte(b, WA_BIN_BINARY_8);
		wa_wbuf_byte(b, (unsigned)len);
	} else if (len < (1u << 20)) {
		wa_wbuf_byte(b, WA_BIN_BINARY_20);
		wa_wbuf_byte(b, (unsigned)(len >> 16) & 0x0f);
		wa_wbuf_byte(b, (unsigned)(len >> 8) & 0xff);
		wa_wbuf_byte(b, (unsigned)len & 0xff);
	} else if (len <= UINT32_MAX) {
		wa_wbuf_byte(b, WA_BIN_BINARY_32);
		wa_wbuf_byte(b, (unsigned)(len >> 24) & 0xff);
		wa_wbuf_byte(b, (unsigned)(len >> 16) & 0xff);
		wa_wbuf_byte(b, (unsigned)(len >> 8) & 0xff);
		wa_wbuf_byte(b, (unsigned)len & 0xff);
	} else
		return -1;
	wa_wbuf_add(b, p, len);
	return 0;
}

/* Write a string: token, else nibble/hex packed, else raw. */
static int
wa_enc_string(struct wa_wbuf *b, const char *s, size_t len)
{
	uint8_t dict, idx;
	unsigned tag;

	switch (wa_token_find(s, len, &dict, &idx)) {
	case 1:
		wa_wbuf_byte(b, idx);
		return 0;
	case 2:
		wa_wbuf_byte(b, WA_BIN_DICTIONARY_0 + dict);
		wa_wbuf_byte(b, idx);
		return 0;
	}
	if ((tag = wa_enc_packed_tag(s, len)) != 0) {
		wa_enc_packed(b, tag, s, len);
		return 0;
	}
	return wa_enc_bytes(b, s, len);
}

/* Write a 16-bit big-endian number. */
static void
wa_enc_u16(struct wa_wbuf *b, unsigned v)
{
	wa_wbuf_byte(b, (v >> 8) & 0xff);
	wa_wbuf_byte(b, v & 0xff);
}

/* Write a JID in its wire form (which must not be WA_JID_WIRE_NONE). */
static int
wa_enc_jid(struct wa_wbuf *b, const struct wa_jid *j, enum wa_jid_wire wire, uint8_t domain)
{
	switch (wire) {
	case WA_JID_WIRE_PAIR:
		wa_wbuf_byte(b, WA_BIN_JID_PAIR);
		if (j->user[0] == '\0')
			wa_wbuf_byte(b, WA_BIN_LIST_EMPTY);
		else if (wa_enc_string(b, j->user, strlen(j->user)) == -1)
			return -1;
		return wa_enc_string(b, j->server, strlen(j->server));
	case WA_JID_WIRE_AD:
		wa_wbuf_byte(b, WA_BIN_AD_JID);
		wa_wbuf_byte(b, domain);
		wa_wbuf_byte(b, j->device & 0xff);
		return wa_enc_string(b, j->user, strlen(j->user));
	case WA_JID_WIRE_FB:
		wa_wbuf_byte(b, WA_BIN_FB_JID);
		if (wa_enc_string(b, j->user, strlen(j->user)) == -1)
			return -1;
		wa_enc_u16(b, j->device);
		return wa_enc_string(b, j->server, strlen(j->server));
	case WA_JID_WIRE_INTEROP:
		wa_wbuf_byte(b, WA_BIN_INTEROP_JID);
		if (wa_enc_string(b, j->user, strlen(j->user)) == -1)
			return -1;
		wa_enc_u16(b, j->device);
		wa_enc_u16(b, j->integrator);
		return wa_enc_string(b, j->server, strlen(j->server));
	default:
		return -1;
	}
}

/* 1 if s (len bytes, no NUL) is a JID whose wire form decodes back to exactly s; fills j/wire/domain.
 * attr: an attribute value, where the server must be a known JID server (so a push name such as
 * "Joe@Home" stays a string) and "@server" counts as a bare server too. */
static int
wa_enc_string_is_jid(const char *s, size_t len, int attr, struct wa_jid *j, enum wa_jid_wire *wire,
    uint8_t *domain)
{
	char buf[WA_JID_USER_MAX + WA_JID_SERVER_MAX + 32];
	int r;

	if (len >= sizeof(buf) || memchr(s, '\0', len) != NULL || wa_jid_parse(s, j) == -1)
		return 0;
	if (attr && !wa_jid_is_server_name(j->server))
		return 0;
	if ((*wire = wa_jid_wire_form(j, domain)) == WA_JID_WIRE_NONE)
		return 0;
	if ((r = wa_jid_format(j, buf, sizeof(buf))) == -1)
		return 0;
	if ((size_t)r == len && memcmp(buf, s, len) == 0)
		return 1;
	/* "@server" is the other rendering of a bare server */
	return attr && s[0] == '@' && (size_t)r == len - 1 && memcmp(buf, s + 1, len - 1) == 0;
}

/* 1 if the encoder writes a bare server name under this attribute key as a JID. */
int
wa_binary_key_is_jid(const char *key)
{
	static const char *const keys[] = {
		"to", "from", "participant", "recipient", "jid", "target", "sender",
	};
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(key, keys[i]) == 0)
			return 1;
	return 0;
}

/* Write an attribute value: a JID when it is one (see wa_binary.h), else a string. */
static int
wa_enc_attr_value(struct wa_wbuf *b, const char *key, const char *value)
{
	struct wa_jid j;
	enum wa_jid_wire wire;
	size_t len = strlen(value);
	uint8_t domain, dict, idx;

	if (wa_binary_key_is_jid(key) && wa_jid_is_server_name(value)) {
		wa_wbuf_byte(b, WA_BIN_JID_PAIR);
		wa_wbuf_byte(b, WA_BIN_LIST_EMPTY);
		return wa_enc_string(b, value, len);
	}
	if (memchr(value, '@', len) != NULL && wa_token_find(value, len, &dict, &idx) == 0 &&
	    wa_enc_string_is_jid(value, len, 1, &j, &wire, &domain))
		return wa_enc_jid(b, &j, wire, domain);
	return wa_enc_string(b, value, len);
}

/* Write a list header for n items. */
static int
wa_enc_list(struct wa_wbuf *b, size_t n)
{
	if (n == 0)
		wa_wbuf_byte(b, WA_BIN_LIST_EMPTY);
	else if (n < 256) {
		wa_wbuf_byte(b, WA_BIN_LIST_8);
		wa_wbuf_byte(b, (unsigned)n);
	} else if (n <= WA_BIN_MAX_LIST) {
		wa_wbuf_byte(b, WA_BIN_LIST_16);
		wa_enc_u16(b, (unsigned)n);
	} else
		return -1;
	return 0;
}

/* Write one node and everything below it. */
static int
wa_enc_node(struct wa_wbuf *b, const struct wa_node *n, int depth)
{
	struct wa_jid j;
	enum wa_jid_wire wire;
	size_t i, items;
	uint8_t domain;

	if (n == NULL || n->tag == NULL || n->tag[0] == '\0' || depth > WA_BINARY_MAX_DEPTH)
		return -1;
	if (n->nattrs > (WA_BIN_MAX_LIST - 2) / 2)
		return -1;
	items = 1 + 2 * n->nattrs + (n->ctype != WA_CONTENT_NONE);
	if (wa_enc_list(b, items) == -1 || wa_enc_string(b, n->tag, strlen(n->tag)) == -1)
		return -1;
	for (i = 0; i < n->nattrs; i++) {
		if (n->attrs[i].key == NULL || n->attrs[i].value == NULL)
			return -1;
		if (wa_enc_string(b, n->attrs[i].key, strlen(n->attrs[i].key)) == -1 ||
		    wa_enc_attr_value(b, n->attrs[i].key, n->attrs[i].value) == -1)
			return -1;
	}
	switch (n->ctype) {
	case WA_CONTENT_NONE:
		return 0;
	case WA_CONTENT_BYTES:
		if (n->nbytes > 0 && n->bytes == NULL)
			return -1;
		if (n->bkind == WA_BYTES_JID &&
		    wa_enc_string_is_jid((const char *)n->bytes, n->nbytes, 0, &j, &wire, &domain))
			return wa_enc_jid(b, &j, wire, domain);
		if (n->bkind != WA_BYTES_BINARY && n->nbytes > 0)
			return wa_enc_string(b, (const char *)n->bytes, n->nbytes);
		return wa_enc_bytes(b, n->bytes, n->nbytes);
	case WA_CONTENT_NODES:
		if (n->nchildren > 0 && n->children == NULL)
			return -1;
		if (wa_enc_list(b, n->nchildren) == -1)
			return -1;
		for (i = 0; i < n->nchildren; i++)
			if (wa_enc_node(b, n->children[i], depth + 1) == -1)
				return -1;
		return 0;
	}
	return -1;
}

/* Encode into a fresh buffer, optionally after a flags byte. */
static int
wa_binary_encode_into(const struct wa_node *n, int flags, unsigned char **out, size_t *outlen)
{
	struct wa_wbuf b = { NULL, 0, 0 };

	*out = NULL;
	*outlen = 0;
	if (flags)
		wa_wbuf_byte(&b, 0);
	if (wa_enc_node(&b, n, 1) == -1) {
		free(b.p);
		errno = EINVAL;
		return -1;
	}
	*out = b.p;
	*outlen = b.len;
	return 0;
}

/* Encode to the frame plaintext: flags byte 0 + encoded node. */
int
wa_binary_encode(const struct wa_node *n, unsigned char **out, size_t *outlen)
{
	return wa_binary_encode_into(n, 1, out, outlen);
}

/* Encode only the node, without the flags byte. */
int
wa_binary_encode_node(const struct wa_node *n, unsigned char **out, size_t *outlen)
{
	return wa_binary_encode_into(n, 0, out, outlen);
}

/* ------------------------------------------------------------------------------------------------ */
/* Decoder */

/* The state of one decode: input cursor, allocation budget, error buffer. */
struct wa_dec {
	const unsigned char	*p;
	size_t			 len, pos;
	size_t			 used;
	char			*err;
	size_t			 errlen;
};

/* What one value on the wire turned out to be. */
enum wa_dval_type { WA_DVAL_NONE, WA_DVAL_STRING, WA_DVAL_BINARY, WA_DVAL_JID, WA_DVAL_LIST };

struct wa_dval {
	enum wa_dval_type	 type;
	char			*s;	/* malloc'd, NUL-terminated (STRING/BINARY/JID) */
	size_t			 len;
	size_t			 count;	/* LIST: item count */
};

/* Record why decoding failed (first reason wins) and return -1. */
static int __attribute__((format(printf, 2, 3)))
wa_dec_fail(struct wa_dec *d, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	if (d->err != NULL && d->errlen > 0 && d->err[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		snprintf(d->err, d->errlen, "%s at offset %zu", msg, d->pos);
	}
	return -1;
}

/* Count an allocation against the per-decode budget. */
static int
wa_dec_charge(struct wa_dec *d, size_t n)
{
	if (n > WA_BINARY_MAX_DECODED || d->used + n + WA_BIN_ALLOC_OVERHEAD > WA_BINARY_MAX_DECODED)
		return wa_dec_fail(d, "decoded size over limit");
	d->used += n + WA_BIN_ALLOC_OVERHEAD;
	return 0;
}

/* Read a big-endian number of n bytes (1..4). */
static int
wa_dec_uint(struct wa_dec *d, size_t n, uint32_t *v)
{
	size_t i;

	*v = 0;
	if (d->len - d->pos < n)
		return wa_dec_fail(d, "truncated input");
	for (i = 0; i < n; i++)
		*v = *v << 8 | d->p[d->pos++];
	return 0;
}

/* Copy len input bytes into a fresh NUL-terminated string. */
static int
wa_dec_take(struct wa_dec *d, size_t len, struct wa_dval *v)
{
	if (d->len - d->pos < len)
		return wa_dec_fail(d, "truncated input (need %zu bytes)", len);
	if (wa_dec_charge(d, len + 1) == -1)
		return -1;
	v->s = xmalloc(len + 1);
	if (len > 0)
		memcpy(v->s, d->p + d->pos, len);
	v->s[len] = '\0';
	v->len = len;
	d->pos += len;
	return 0;
}

/* Read a NIBBLE_8 or HEX_8 string. */
static int
wa_dec_packed(struct wa_dec *d, unsigned tag, struct wa_dval *v)
{
	static const char nibble[] = "0123456789-.\0\0\0";
	static const char hex[] = "0123456789ABCDEF";
	uint32_t start;
	size_t nbytes, i, n;
	unsigned c, k;

	if (wa_dec_uint(d, 1, &start) == -1)
		return -1;
	nbytes = start & 0x7f;
	if ((start & 0x80) && nbytes == 0)
		return wa_dec_fail(d, "packed string of odd length 0");
	if (d->len - d->pos < nbytes)
		return wa_dec_fail(d, "truncated packed string");
	n = nbytes * 2 - ((start & 0x80) ? 1 : 0);
	if (wa_dec_charge(d, n + 1) == -1)
		return -1;
	v->s = xmalloc(n + 1);
	for (i = 0; i < n; i++) {
		c = d->p[d->pos + i / 2];
		k = (i & 1) ? (c & 15) : (c >> 4);
		if (tag == WA_BIN_HEX_8)
			v->s[i] = hex[k];
		else if (k >= 12 && k <= 14) {
			free(v->s);
			v->s = NULL;
			return wa_dec_fail(d, "invalid nibble %u", k);
		} else
			v->s[i] = nibble[k];	/* 15 (pad) in the middle becomes NUL, as upstream does */
	}
	/* the dropped last character of an odd string is not checked, as in both upstream decoders */
	v->s[n] = '\0';
	v->len = n;
	d->pos += nbytes;
	v->type = WA_DVAL_STRING;
	return 0;
}

static int wa_dec_value(struct wa_dec *, struct wa_dval *, int);

/* Read a JID part that must be a string (raw strings must not contain NUL); none allowed if none_ok. */
static int
wa_dec_jid_part(struct wa_dec *d, struct wa_dval *v, int none_ok)
{
	unsigned tag;

	/* A JID part that is itself a JID would be refused after decoding anyway (it is not a string), but
	 * decoding it first recursed once per tag byte: a frame of JID tags overflowed the stack (fuzz-node).
	 * Refuse it by its tag, before any recursion. */
	if (d->pos < d->len) {
		tag = d->p[d->pos];
		if (tag == WA_BIN_JID_PAIR || tag == WA_BIN_AD_JID || tag == WA_BIN_FB_JID ||
		    tag == WA_BIN_INTEROP_JID)
			return wa_dec_fail(d, "JID part is not a string");
	}
	if (wa_dec_value(d, v, 0) == -1)
		return -1;
	if (v->type == WA_DVAL_NONE && none_ok) {
		v->s = NULL;
		v->len = 0;
		return 0;
	}
	if ((v->type != WA_DVAL_STRING && v->type != WA_DVAL_BINARY) || memchr(v->s, '\0', v->len) != NULL) {
		free(v->s);
		v->s = NULL;
		return wa_dec_fail(d, "JID part is not a string");
	}
	return 0;
}

/* Render a decoded JID as a string the encoder turns back into the same wire form (wa_jid_format rules);
 * bare_plain: an empty user renders as "server" rather than "@server". */
static int
wa_dec_jid_render(struct wa_dec *d, struct wa_dval *v, const struct wa_dval *user, const struct wa_dval *server,
    unsigned agent, unsigned device, unsigned integrator, int is_ad, int bare_plain)
{
	const char *u = user->s ? user->s : "", *s = server->s;
	size_t cap = user->len + server->len + 32;

	if (wa_dec_charge(d, cap) == -1)
		return -1;
	v->s = xmalloc(cap);
	if (u[0] == '\0' && !is_ad && agent == 0 && device == 0 && integrator == 0)
		snprintf(v->s, cap, "%s%s", bare_plain ? "" : "@", s);
	else if (integrator > 0)
		snprintf(v->s, cap, "%u-%s:%u@%s", integrator, u, device, s);
	else if (agent > 0)
		snprintf(v->s, cap, "%s.%u:%u@%s", u, agent, device, s);
	else if (device > 0 || is_ad)
		snprintf(v->s, cap, "%s:%u@%s", u, device, s);
	else
		snprintf(v->s, cap, "%s@%s", u, s);
	v->len = strlen(v->s);
	v->type = WA_DVAL_JID;
	return 0;
}

/* Read one of the JID forms after its tag byte. */
static int
wa_dec_jid(struct wa_dec *d, unsigned tag, struct wa_dval *v, int bare_key)
{
	struct wa_dval user = { 0 }, server = { 0 }, dom = { 0 };
	uint32_t domain = 0, device = 0, integrator = 0;
	unsigned agent = 0;
	int r = -1, is_ad = 1, bare_plain;

	switch (tag) {
	case WA_BIN_JID_PAIR:
		if (wa_dec_jid_part(d, &user, 1) == -1 || wa_dec_jid_part(d, &server, 0) == -1)
			goto out;
		is_ad = 0;
		break;
	case WA_BIN_AD_JID:
		if (wa_dec_uint(d, 1, &domain) == -1 || wa_dec_uint(d, 1, &device) == -1 ||
		    wa_dec_jid_part(d, &user, 0) == -1)
			goto out;
		/* A device JID names a user's device: without a user it cannot be rendered back the same way. */
		if (user.len == 0) {
			r = wa_dec_fail(d, "device JID without a user");
			goto out;
		}
		dom.s = (char *)wa_jid_domain_server((uint8_t)domain);
		dom.len = strlen(dom.s);
		if (domain != WA_JID_DOMAIN_USER && strcmp(dom.s, WA_SERVER_USER) == 0)
			agent = domain;
		/* hosted JIDs are always AD_JID, so device 0 needs no explicit ":0" */
		if (domain == WA_JID_DOMAIN_HOSTED || domain == WA_JID_DOMAIN_HOSTED_LID)
			is_ad = device > 0;
		r = wa_dec_jid_render(d, v, &user, &dom, agent, device, 0, is_ad, 0);
		goto out;
	case WA_BIN_FB_JID:
		if (wa_dec_jid_part(d, &user, 0) == -1 || wa_dec_uint(d, 2, &device) == -1 ||
		    wa_dec_jid_part(d, &server, 0) == -1)
			goto out;
		is_ad = 0;	/* msgr is always FB_JID: no ":0" needed */
		break;
	case WA_BIN_INTEROP_JID:
		if (wa_dec_jid_part(d, &user, 0) == -1 || wa_dec_uint(d, 2, &device) == -1 ||
		    wa_dec_uint(d, 2, &integrator) == -1 || wa_dec_jid_part(d, &server, 0) == -1)
			goto out;
		is_ad = 0;
		break;
	default:
		goto out;
	}
	bare_plain = bare_key == 2 || (bare_key == 1 && wa_jid_is_server_name(server.s));
	r = wa_dec_jid_render(d, v, &user, &server, 0, device, integrator, is_ad, bare_plain);
out:
	free(user.s);
	free(server.s);
	return r;
}

/* Read one value: none, string (token/packed), raw bytes, JID (rendered) or a list header.
 * bare_key: 1 = an attribute key under which a bare known server renders without '@' (wa_binary.h),
 * 2 = content, where every bare server renders without '@'. */
static int
wa_dec_value(struct wa_dec *d, struct wa_dval *v, int bare_key)
{
	const char *tok;
	uint32_t tag, idx, len;
	size_t tlen;

	memset(v, 0, sizeof(*v));
	if (wa_dec_uint(d, 1, &tag) == -1)
		return -1;
	switch (tag) {
	case WA_BIN_LIST_EMPTY:
		v->type = WA_DVAL_NONE;
		return 0;
	case WA_BIN_LIST_8:
	case WA_BIN_LIST_16:
		if (wa_dec_uint(d, tag == WA_BIN_LIST_8 ? 1 : 2, &len) == -1)
			return -1;
		v->type = WA_DVAL_LIST;
		v->count = len;
		return 0;
	case WA_BIN_JID_PAIR:
	case WA_BIN_AD_JID:
	case WA_BIN_FB_JID:
	case WA_BIN_INTEROP_JID:
		return wa_dec_jid(d, tag, v, bare_key);
	case WA_BIN_HEX_8:
	case WA_BIN_NIBBLE_8:
		return wa_dec_packed(d, tag, v);
	case WA_BIN_BINARY_8:
	case WA_BIN_BINARY_20:
	case WA_BIN_BINARY_32:
		if (wa_dec_uint(d, tag == WA_BIN_BINARY_8 ? 1 : tag == WA_BIN_BINARY_20 ? 3 : 4, &len) == -1)
			return -1;
		if (tag == WA_BIN_BINARY_20)
			len &= 0xfffff;
		v->type = WA_DVAL_BINARY;
		return wa_dec_take(d, len, v);
	}
	if (tag >= WA_BIN_DICTIONARY_0 && tag <= WA_BIN_DICTIONARY_3) {
		if (wa_dec_uint(d, 1, &idx) == -1)
			return -1;
		tok = wa_token_double(tag - WA_BIN_DICTIONARY_0, idx, &tlen);
	} else
		tok = wa_token_single(tag, &tlen);
	if (tok == NULL)
		return wa_dec_fail(d, "invalid token 0x%02x", (unsigned)tag);
	if (wa_dec_charge(d, tlen + 1) == -1)
		return -1;
	v->s = xstrdup(tok);
	v->len = tlen;
	v->type = WA_DVAL_STRING;
	return 0;
}

/* Read a value that must be a text string without NUL (tags, attribute keys). */
static int
wa_dec_text(struct wa_dec *d, struct wa_dval *v, const char *what)
{
	if (wa_dec_value(d, v, 0) == -1)
		return -1;
	if ((v->type != WA_DVAL_STRING && v->type != WA_DVAL_BINARY) || memchr(v->s, '\0', v->len) != NULL) {
		free(v->s);
		v->s = NULL;
		return wa_dec_fail(d, "%s is not a string", what);
	}
	return 0;
}

static struct wa_node *wa_dec_node(struct wa_dec *, int);

/* Read count child nodes into n. */
static int
wa_dec_children(struct wa_dec *d, struct wa_node *n, size_t count, int depth)
{
	size_t i;

	n->ctype = WA_CONTENT_NODES;
	if (count == 0)
		return 0;
	if (count > (d->len - d->pos) / WA_BIN_MIN_NODE_LEN)
		return wa_dec_fail(d, "child list of %zu longer than the input", count);
	if (wa_dec_charge(d, count * sizeof(n->children[0])) == -1)
		return -1;
	n->children = xcalloc(count, sizeof(n->children[0]));
	for (i = 0; i < count; i++) {
		if ((n->children[i] = wa_dec_node(d, depth + 1)) == NULL)
			return -1;
		n->nchildren++;
	}
	return 0;
}

/* Read one node and everything below it. */
static struct wa_node *
wa_dec_node(struct wa_dec *d, int depth)
{
	struct wa_node *n;
	struct wa_dval tag, v, key;
	size_t count, nattrs, i;

	if (depth > WA_BINARY_MAX_DEPTH) {
		wa_dec_fail(d, "nesting deeper than %d", WA_BINARY_MAX_DEPTH);
		return NULL;
	}
	if (wa_dec_value(d, &v, 0) == -1)
		return NULL;
	if (v.type != WA_DVAL_LIST && v.type != WA_DVAL_NONE) {
		free(v.s);
		wa_dec_fail(d, "node is not a list");
		return NULL;
	}
	count = v.count;
	if (count == 0) {
		wa_dec_fail(d, "empty node");
		return NULL;
	}
	if (wa_dec_text(d, &tag, "tag") == -1)
		return NULL;
	if (tag.len == 0) {
		free(tag.s);
		wa_dec_fail(d, "empty tag");
		return NULL;
	}
	if (wa_dec_charge(d, sizeof(*n)) == -1) {
		free(tag.s);
		return NULL;
	}
	n = xcalloc(1, sizeof(*n));
	n->tag = tag.s;
	nattrs = (count - 1) / 2;
	if (nattrs > 0) {
		if (nattrs > (d->len - d->pos) / 2) {
			wa_dec_fail(d, "%zu attributes longer than the input", nattrs);
			goto fail;
		}
		if (wa_dec_charge(d, nattrs * sizeof(n->attrs[0])) == -1)
			goto fail;
		n->attrs = xcalloc(nattrs, sizeof(n->attrs[0]));
	}
	for (i = 0; i < nattrs; i++) {
		if (wa_dec_text(d, &key, "attribute key") == -1)
			goto fail;
		if (wa_dec_value(d, &v, wa_binary_key_is_jid(key.s)) == -1) {
			free(key.s);
			goto fail;
		}
		if (v.type == WA_DVAL_LIST ||
		    (v.type != WA_DVAL_NONE && memchr(v.s, '\0', v.len) != NULL)) {
			free(key.s);
			free(v.s);
			wa_dec_fail(d, "attribute value is not a string");
			goto fail;
		}
		if (v.type == WA_DVAL_NONE)
			v.s = xstrdup("");
		n->attrs[i].key = key.s;
		n->attrs[i].value = v.s;
		n->nattrs++;
	}
	if (count % 2 == 1)
		return n;

	/* content JIDs carry their kind, so a bare server can render without '@' */
	if (wa_dec_value(d, &v, 2) == -1)
		goto fail;
	switch (v.type) {
	case WA_DVAL_NONE:
		n->ctype = WA_CONTENT_NODES;
		break;
	case WA_DVAL_LIST:
		if (wa_dec_children(d, n, v.count, depth) == -1)
			goto fail;
		break;
	default:
		n->ctype = WA_CONTENT_BYTES;
		n->bytes = (unsigned char *)v.s;
		n->nbytes = v.len;
		n->bkind = v.type == WA_DVAL_BINARY ? WA_BYTES_BINARY :
		    v.type == WA_DVAL_JID ? WA_BYTES_JID : WA_BYTES_STRING;
		break;
	}
	return n;
fail:
	wa_node_free(n);
	return NULL;
}

/* Decode a node without the flags byte. */
struct wa_node *
wa_binary_decode_node(const unsigned char *p, size_t len, char *err, size_t errlen)
{
	struct wa_dec d = { p, len, 0, 0, err, errlen };
	struct wa_node *n;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (p == NULL && len > 0) {
		wa_dec_fail(&d, "no input");
		return NULL;
	}
	if ((n = wa_dec_node(&d, 1)) == NULL)
		return NULL;
	if (d.pos != d.len) {
		wa_dec_fail(&d, "%zu trailing bytes", d.len - d.pos);
		wa_node_free(n);
		return NULL;
	}
	return n;
}

/* Decode a frame plaintext (flags byte, bit 0x02 = zlib-compressed). */
struct wa_node *
wa_binary_decode(const unsigned char *p, size_t len, char *err, size_t errlen)
{
	char dummy[8];
	unsigned char *raw;
	struct wa_node *n;
	size_t rawlen;

	if (err == NULL || errlen == 0) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';
	if (p == NULL || len == 0) {
		snprintf(err, errlen, "empty frame");
		return NULL;
	}
	if ((p[0] & WA_BINARY_FLAG_COMPRESSED) == 0)
		return wa_binary_decode_node(p + 1, len - 1, err, errlen);
	if (len - 1 > WA_BINARY_MAX_INFLATED) {
		snprintf(err, errlen, "compressed frame too large");
		return NULL;
	}
	if ((raw = wa_zlib_inflate(p + 1, len - 1, WA_BINARY_MAX_INFLATED, 0, &rawlen, err, errlen)) == NULL)
		return NULL;
	n = wa_binary_decode_node(raw, rawlen, err, errlen);
	free(raw);
	return n;
}

/* Parse an attribute as a JID (either rendering of a bare server is accepted). */
int
wa_binary_attr_jid(const struct wa_node *n, const char *key, struct wa_jid *out)
{
	const char *v = wa_node_attr(n, key);

	if (v == NULL)
		return -1;
	return wa_jid_parse(v[0] == '@' ? v + 1 : v, out);
}
