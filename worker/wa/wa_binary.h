/* WhatsApp binary node codec ("WABinary", token dictionary version 3): frame plaintext <-> struct wa_node.
 *
 * Strings are written as a single/double-byte token when they are one, else nibble-packed (digits, '-',
 * '.') or hex-packed (digits, uppercase A-F) when 1..127 characters, else raw with a BINARY_8/20/32
 * length. Attribute values that are JIDs in string form are written as JIDs (JID_PAIR, AD_JID for
 * devices, FB_JID for msgr, INTEROP_JID for interop): any value containing '@' that is a JID in
 * canonical form (wa_jid_format) on a known server (wa_jid_is_server_name), and for the keys
 * to/from/participant/recipient/jid/target/sender also a bare server name such as "s.whatsapp.net".
 * Other values (e.g. a push name "Joe@Home") stay strings, like whatsmeow does. String content is
 * never turned into a JID unless the node's bkind says so.
 *
 * Decoding renders JIDs the same way, so decode(encode(x)) == x: "123@s.whatsapp.net",
 * "123:4@s.whatsapp.net", "123.5:4@s.whatsapp.net" (raw agent), "@s.whatsapp.net" for a bare server
 * (but plain "s.whatsapp.net" under the keys above). Use wa_binary_attr_jid() to read one as a JID.
 * An attribute that is LIST_EMPTY decodes as ""; duplicate keys are kept in order and wa_node_attr
 * returns the last one, as whatsmeow and Baileys do.
 * Bump nothing here without updating tests: the worked examples pin the exact bytes. */
#ifndef WAGATE_WA_BINARY_H
#define WAGATE_WA_BINARY_H

#include <stddef.h>

#include "wa_jid.h"
#include "wa_node.h"

#define WA_BINARY_FLAG_COMPRESSED	0x02		/* flags byte: rest is a zlib stream */
#define WA_BINARY_MAX_DEPTH		64		/* node nesting */
#define WA_BINARY_MAX_INFLATED		(16u << 20)	/* decompressed node size */
#define WA_BINARY_MAX_DECODED		(64u << 20)	/* memory one decode may allocate (approximate) */

/* Tag bytes. */
#define WA_BIN_LIST_EMPTY	0x00
#define WA_BIN_DICTIONARY_0	0xec
#define WA_BIN_DICTIONARY_3	0xef
#define WA_BIN_INTEROP_JID	0xf5
#define WA_BIN_FB_JID		0xf6
#define WA_BIN_AD_JID		0xf7
#define WA_BIN_LIST_8		0xf8
#define WA_BIN_LIST_16		0xf9
#define WA_BIN_JID_PAIR		0xfa
#define WA_BIN_HEX_8		0xfb
#define WA_BIN_BINARY_8		0xfc
#define WA_BIN_BINARY_20	0xfd
#define WA_BIN_BINARY_32	0xfe
#define WA_BIN_NIBBLE_8		0xff
#define WA_BIN_PACKED_MAX	127

/* Encode to the frame plaintext: flags byte 0 + encoded node. Returns 0, or -1 (errno EINVAL) if the
 * node cannot be encoded (empty tag, more than 65535 list items, content over 4 GiB). *out malloc'd. */
int wa_binary_encode(const struct wa_node *n, unsigned char **out, size_t *outlen);
/* Encode only the node, without the flags byte (appended to nothing; for tests and nested use). */
int wa_binary_encode_node(const struct wa_node *n, unsigned char **out, size_t *outlen);
/* Decode a frame plaintext (flags byte, bit 0x02 = zlib-compressed). Strict bounds, depth and size
 * limits, no trailing bytes. Returns NULL on malformed input with a reason in err (may be NULL). */
struct wa_node *wa_binary_decode(const unsigned char *p, size_t len, char *err, size_t errlen);
/* Decode a node without the flags byte. */
struct wa_node *wa_binary_decode_node(const unsigned char *p, size_t len, char *err, size_t errlen);
/* Parse an attribute as a JID (either rendering of a bare server is accepted); -1 if absent or not a JID. */
int wa_binary_attr_jid(const struct wa_node *n, const char *key, struct wa_jid *out);
/* 1 if the encoder writes a bare server name under this attribute key as a JID. */
int wa_binary_key_is_jid(const char *key);

#endif
