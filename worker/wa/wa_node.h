/* The WhatsApp binary node ("stanza") in memory: tag, string attributes, and bytes or child nodes.
 * Encoding and decoding live in wa_binary.h. */
#ifndef WAGATE_WA_NODE_H
#define WAGATE_WA_NODE_H

#include <stddef.h>

/* Values are strings; JIDs are rendered "user@server" forms (see wa_binary.h for the exact rules). */
struct wa_attr {
	char	*key;
	char	*value;
};

enum wa_content { WA_CONTENT_NONE, WA_CONTENT_BYTES, WA_CONTENT_NODES };

/* How BYTES content is written on the wire (ignored for other content types). BINARY (the default,
 * what wa_node_set_bytes gives) is a raw length-prefixed blob; STRING is written like an attribute
 * value string (token, nibble/hex packed, else raw); JID is a JID in string form ("123@s.whatsapp.net")
 * written as JID_PAIR/AD_JID. The decoder sets it from what it read. */
enum wa_bytes_kind { WA_BYTES_BINARY = 0, WA_BYTES_STRING, WA_BYTES_JID };

struct wa_node {
	char			 *tag;
	struct wa_attr		 *attrs;
	size_t			  nattrs;
	enum wa_content		  ctype;
	unsigned char		 *bytes;	/* BYTES: always NUL-terminated one past nbytes */
	size_t			  nbytes;
	struct wa_node		**children;
	size_t			  nchildren;
	enum wa_bytes_kind	  bkind;	/* added: see above */
};

/* A node with this tag, no attributes, no content. */
struct wa_node *wa_node_new(const char *tag);
/* Free a node and everything below it; NULL is fine. */
void wa_node_free(struct wa_node *n);
/* Set (add or replace) an attribute; a NULL value removes it. */
void wa_node_set_attr(struct wa_node *n, const char *key, const char *value);
/* Set an attribute from a printf format. */
void wa_node_set_attrf(struct wa_node *n, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The value of an attribute, NULL if absent (the last one if a decoded node repeats the key). */
const char *wa_node_attr(const struct wa_node *n, const char *key);
/* Append a child (takes ownership) and return it; content becomes NODES (any bytes are dropped). */
struct wa_node *wa_node_add_child(struct wa_node *n, struct wa_node *child);
/* Set binary content (copied); content becomes BYTES of kind BINARY (any children are freed). */
void wa_node_set_bytes(struct wa_node *n, const void *p, size_t len);
/* Set string content (copied), written as a token/packed/raw string. */
void wa_node_set_string(struct wa_node *n, const char *s);
/* Drop any content. */
void wa_node_clear_content(struct wa_node *n);
/* The first child with this tag, NULL if none (or content is not NODES). */
const struct wa_node *wa_node_child(const struct wa_node *n, const char *tag);
/* Number of children with this tag. */
size_t wa_node_count_children(const struct wa_node *n, const char *tag);
/* A deep copy. */
struct wa_node *wa_node_clone(const struct wa_node *n);
/* 1 if two trees are equal: tag, attributes in order, content type, bytes, children (bkind ignored). */
int wa_node_equal(const struct wa_node *a, const struct wa_node *b);
/* XML-like debug rendering, malloc'd: attribute values escaped, bytes shown as text when printable
 * else hex, long contents abbreviated. */
char *wa_node_to_string(const struct wa_node *n);

#endif
