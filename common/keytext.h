/* 32-byte keys written as text (WA_ROOT_KEY, fakewa's --root-key files): 64 hex digits, or standard base64
 * with padding; surrounding whitespace is ignored, and a 33-byte form starting with 0x05 (the Curve25519
 * type byte of libsignal's serialised keys) loses the prefix. */
#ifndef WAGATE_KEYTEXT_H
#define WAGATE_KEYTEXT_H

#define KEYTEXT_KEY_LEN	32

/* Parse text into key. 0, or -1 if it is neither form of a 32-byte key (key untouched). */
int keytext_parse(const char *text, unsigned char key[KEYTEXT_KEY_LEN]);
/* Write key as 64 lower-case hex digits and a NUL. */
void keytext_format(const unsigned char key[KEYTEXT_KEY_LEN], char out[2 * KEYTEXT_KEY_LEN + 1]);

#endif
