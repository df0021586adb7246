/* The text of a WhatsApp Message protobuf (wa-proto-fields.md section 5), read and written by hand for the mock
 * phone: conversation (1), extendedTextMessage (6).text (1), and the same inside deviceSentMessage (31).message
 * (2). The bytes come from a decrypted <enc>, so the reader bounds every length. Bump nothing: fakewa only. */
#ifndef WAGATE_FW_TEXT_H
#define WAGATE_FW_TEXT_H

#include <stddef.h>
#include <stdint.h>

#define FW_TEXT_MAX	4096	/* longer texts are refused by both directions */

/* Find the text in a serialized Message: 1 with it copied NUL-terminated to out (outlen > 0), 0 if the
 * message is well-formed but carries no text, -1 if the bytes do not parse or the text is too long. */
int fw_text_extract(const uint8_t *buf, size_t len, char *out, size_t outlen);
/* Message{conversation = text} into a malloc'd buffer. 0, or -1 if text is over FW_TEXT_MAX. */
int fw_text_encode(const char *text, uint8_t **out, size_t *outlen);

#endif
