/* The WhatsApp binary node in memory: construction, lookup, comparison and a debug printer. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"
#include "wa_node.h"

#define WA_NODE_PRINT_MAX_BYTES 64	/* content longer than this is abbreviated by the printer */

/* A node with this tag, no attributes, no content. */
struct wa_node *
wa_node_new(const char *tag)
{
	struct wa_node *n;

	n = xcalloc(1, sizeof(*n));
	n->tag = xstrdup(tag != NULL ? tag : "");
	return n;
}

/* Drop any content. */
void
wa_node_clear_content(struct wa_node *n)
{
	size_t i;

	for (i = 0; i < n->nchildren; i++)
		wa_node_free(n->children[i]);
	free(n->children);
	free(n->bytes);
	n->children = NULL;
	n->nchildren = 0;
	n->bytes = NULL;
	n->nbytes = 0;
	n->bkind = WA_BYTES_BINARY;
	n->ctype = WA_CONTENT_NONE;
}

/* Free a node and everything below it; NULL is fine. */
void
wa_node_free(struct wa_node *n)
{
	size_t i;

	if (n == NULL)
		return;
	wa_node_clear_content(n);
	for (i = 0; i < n->nattrs; i++) {
		free(n->attrs[i].key);
		free(n->attrs[i].value);
	}
	free(n->attrs);
	free(n->tag);
	free(n);
}

/* Set (add or replace) an attribute; a NULL value removes it. */
void
wa_node_set_attr(struct wa_node *n, const char *key, const char *value)
{
	size_t i;

	for (i = 0; i < n->nattrs; i++) {
		if (strcmp(n->attrs[i].key, key) != 0)
			continue;
		if (value == NULL) {
			free(n->attrs[i].key);
			free(n->attrs[i].value);
			memmove(&n->attrs[i], &n->attrs[i + 1], (n->nattrs - i - 1) * sizeof(n->attrs[0]));
			n->nattrs--;
			return;
		}
		free(n->attrs[i].value);
		n->attrs[i].value = xstrdup(value);
		return;
	}
	if (value == NULL)
		return;
	n->attrs = xreallocarray(n->attrs, n->nattrs + 1, sizeof(n->attrs[0]));
	n->attrs[n->nattrs].key = xstrdup(key);
	n->attrs[n->nattrs].value = xstrdup(value);
	n->nattrs++;
}

/* Set an attribute from a printf format. */
void
wa_node_set_attrf(struct wa_node *n, const char *key, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		s = NULL;
	va_end(ap);
	if (s == NULL)
		s = xstrdup("");
	wa_node_set_attr(n, key, s);
	free(s);
}

/* The value of an attribute, NULL if absent. */
const char *
wa_node_attr(const struct wa_node *n, const char *key)
{
	size_t i;

	if (n == NULL)
		return NULL;
	/* from the end: with duplicate keys (decoded input only) the last wins, as in whatsmeow/Baileys */
	for (i = n->nattrs; i > 0; i--)
		if (strcmp(n->attrs[i - 1].key, key) == 0)
			return n->attrs[i - 1].value;
	return NULL;
}

/* Append a child (takes ownership) and return it; content becomes NODES. */
struct wa_node *
wa_node_add_child(struct wa_node *n, struct wa_node *child)
{
	if (n->ctype != WA_CONTENT_NODES) {
		wa_node_clear_content(n);
		n->ctype = WA_CONTENT_NODES;
	}
	n->children = xreallocarray(n->children, n->nchildren + 1, sizeof(n->children[0]));
	n->children[n->nchildren++] = child;
	return child;
}

/* Set binary content (copied); content becomes BYTES of kind BINARY. */
void
wa_node_set_bytes(struct wa_node *n, const void *p, size_t len)
{
	unsigned char *copy;

	/* copy first: p may point into the content being replaced */
	copy = xmalloc(len + 1);
	if (len > 0)
		memcpy(copy, p, len);
	copy[len] = '\0';
	wa_node_clear_content(n);
	n->ctype = WA_CONTENT_BYTES;
	n->bytes = copy;
	n->nbytes = len;
}

/* Set string content (copied), written as a token/packed/raw string. */
void
wa_node_set_string(struct wa_node *n, const char *s)
{
	wa_node_set_bytes(n, s, strlen(s));
	n->bkind = WA_BYTES_STRING;
}

/* The first child with this tag, NULL if none. */
const struct wa_node *
wa_node_child(const struct wa_node *n, const char *tag)
{
	size_t i;

	if (n == NULL || n->ctype != WA_CONTENT_NODES)
		return NULL;
	for (i = 0; i < n->nchildren; i++)
		if (strcmp(n->children[i]->tag, tag) == 0)
			return n->children[i];
	return NULL;
}

/* Number of children with this tag. */
size_t
wa_node_count_children(const struct wa_node *n, const char *tag)
{
	size_t i, c = 0;

	if (n == NULL || n->ctype != WA_CONTENT_NODES)
		return 0;
	for (i = 0; i < n->nchildren; i++)
		if (strcmp(n->children[i]->tag, tag) == 0)
			c++;
	return c;
}

/* A deep copy. */
struct wa_node *
wa_node_clone(const struct wa_node *n)
{
	struct wa_node *c;
	size_t i;

	if (n == NULL)
		return NULL;
	c = wa_node_new(n->tag);
	for (i = 0; i < n->nattrs; i++)
		wa_node_set_attr(c, n->attrs[i].key, n->attrs[i].value);
	if (n->ctype == WA_CONTENT_BYTES) {
		wa_node_set_bytes(c, n->bytes, n->nbytes);
		c->bkind = n->bkind;
	} else if (n->ctype == WA_CONTENT_NODES) {
		c->ctype = WA_CONTENT_NODES;
		for (i = 0; i < n->nchildren; i++)
			wa_node_add_child(c, wa_node_clone(n->children[i]));
	}
	return c;
}

/* 1 if two trees are equal (bkind ignored: a string and the same bytes compare equal). */
int
wa_node_equal(const struct wa_node *a, const struct wa_node *b)
{
	size_t i;

	if (a == NULL || b == NULL)
		return a == b;
	if (strcmp(a->tag, b->tag) != 0 || a->nattrs != b->nattrs || a->ctype != b->ctype)
		return 0;
	for (i = 0; i < a->nattrs; i++)
		if (strcmp(a->attrs[i].key, b->attrs[i].key) != 0 ||
		    strcmp(a->attrs[i].value, b->attrs[i].value) != 0)
			return 0;
	switch (a->ctype) {
	case WA_CONTENT_BYTES:
		return a->nbytes == b->nbytes && (a->nbytes == 0 || memcmp(a->bytes, b->bytes, a->nbytes) == 0);
	case WA_CONTENT_NODES:
		if (a->nchildren != b->nchildren)
			return 0;
		for (i = 0; i < a->nchildren; i++)
			if (!wa_node_equal(a->children[i], b->children[i]))
				return 0;
		return 1;
	default:
		return 1;
	}
}

/* A growing string for the printer. */
struct wa_sbuf {
	char	*p;
	size_t	 len, cap;
};

/* Append len bytes to the printer's buffer. */
static void
wa_sbuf_add(struct wa_sbuf *b, const char *s, size_t len)
{
	if (b->len + len + 1 > b->cap) {
		while (b->len + len + 1 > b->cap)
			b->cap = b->cap ? b->cap * 2 : 256;
		b->p = xreallocarray(b->p, b->cap, 1);
	}
	memcpy(b->p + b->len, s, len);
	b->len += len;
	b->p[b->len] = '\0';
}

/* Append a string with XML escaping and control characters as \xNN. */
static void
wa_sbuf_add_escaped(struct wa_sbuf *b, const char *s, size_t len)
{
	char tmp[8];
	size_t i;
	unsigned char c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c == '<')
			wa_sbuf_add(b, "&lt;", 4);
		else if (c == '>')
			wa_sbuf_add(b, "&gt;", 4);
		else if (c == '&')
			wa_sbuf_add(b, "&amp;", 5);
		else if (c == '"')
			wa_sbuf_add(b, "&quot;", 6);
		else if (c < 0x20 || c == 0x7f) {
			snprintf(tmp, sizeof(tmp), "\\x%02x", c);
			wa_sbuf_add(b, tmp, 4);
		} else
			wa_sbuf_add(b, (const char *)&s[i], 1);
	}
}

/* 1 if content bytes look like text worth printing as is. */
static int
wa_node_bytes_printable(const unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] < 0x20 || p[i] >= 0x7f)
			return 0;
	return 1;
}

/* Render one node (and its children, indented) into the buffer. */
static void
wa_node_print(struct wa_sbuf *b, const struct wa_node *n, int depth)
{
	static const char hex[] = "0123456789abcdef";
	char tmp[64];
	size_t i, shown;
	int d;

	for (d = 0; d < depth; d++)
		wa_sbuf_add(b, "  ", 2);
	wa_sbuf_add(b, "<", 1);
	wa_sbuf_add_escaped(b, n->tag, strlen(n->tag));
	for (i = 0; i < n->nattrs; i++) {
		wa_sbuf_add(b, " ", 1);
		wa_sbuf_add_escaped(b, n->attrs[i].key, strlen(n->attrs[i].key));
		wa_sbuf_add(b, "=\"", 2);
		wa_sbuf_add_escaped(b, n->attrs[i].value, strlen(n->attrs[i].value));
		wa_sbuf_add(b, "\"", 1);
	}
	if (n->ctype == WA_CONTENT_NONE) {
		wa_sbuf_add(b, "/>", 2);
		return;
	}
	wa_sbuf_add(b, ">", 1);
	if (n->ctype == WA_CONTENT_BYTES) {
		shown = n->nbytes < WA_NODE_PRINT_MAX_BYTES ? n->nbytes : WA_NODE_PRINT_MAX_BYTES;
		if (n->bkind != WA_BYTES_BINARY || wa_node_bytes_printable(n->bytes, n->nbytes))
			wa_sbuf_add_escaped(b, (const char *)n->bytes, shown);
		else {
			for (i = 0; i < shown; i++) {
				tmp[0] = hex[n->bytes[i] >> 4];
				tmp[1] = hex[n->bytes[i] & 15];
				wa_sbuf_add(b, tmp, 2);
			}
		}
		if (shown < n->nbytes) {
			snprintf(tmp, sizeof(tmp), "...(%zu bytes)", n->nbytes);
			wa_sbuf_add(b, tmp, strlen(tmp));
		}
	} else {
		for (i = 0; i < n->nchildren; i++) {
			wa_sbuf_add(b, "\n", 1);
			wa_node_print(b, n->children[i], depth + 1);
		}
		wa_sbuf_add(b, "\n", 1);
		for (d = 0; d < depth; d++)
			wa_sbuf_add(b, "  ", 2);
	}
	wa_sbuf_add(b, "</", 2);
	wa_sbuf_add_escaped(b, n->tag, strlen(n->tag));
	wa_sbuf_add(b, ">", 1);
}

/* XML-like debug rendering, malloc'd. */
char *
wa_node_to_string(const struct wa_node *n)
{
	struct wa_sbuf b = { NULL, 0, 0 };

	if (n == NULL)
		return xstrdup("(null)");
	wa_node_print(&b, n, 0);
	return b.p;
}
