/*
 * What the message path knows to be stored already, per instance: a contact's push name, a LID's phone number.
 * Every stored message wrote its contact (an INSERT and an UPDATE, each with a webhook CTE) and the worker
 * sends the LID mapping with nearly every message: statements that change nothing after the first time, three
 * or four of the ~19 a text cost PostgreSQL (bench/messages.sh). A store skips them when the cache says the
 * row holds that value already.
 *
 * The contract, kept by lifecycle_msg.c: a value is set only after the COMMIT that wrote it (and, for a
 * contact, only when its message row was new, since only then did the write run); a store that writes a
 * value forgets the key when it is built, so a later store of the same key is not skipped while an earlier,
 * different value is still on its way. known_clear (logout: lid_map is wiped) starts a new generation: the
 * stores built before it set nothing. Nothing else writes these rows. Slots go in sets of two, so the rows of
 * one message never evict each other; a third key in a set only costs a statement; a collision of the 64-bit
 * keyed hashes would need the per-process secret.
 */
#ifndef WAGATE_KNOWN_H
#define WAGATE_KNOWN_H

#include <stddef.h>
#include <stdint.h>

#define KNOWN_SLOTS	64

struct known;

/* SipHash-2-4 of in under key (exposed for its known-answer test). */
uint64_t known_siphash(const uint64_t key[2], const unsigned char *in, size_t len);
/* The keyed 64-bit hash of kind and text (kind is a short constant naming the table); never 0. */
uint64_t known_hash(const char *kind, const char *text);
/* Whether *k holds key with val, or with any value when val is 0 (the row exists; NULL k: nothing known). */
int known_has(const struct known *k, uint64_t key, uint64_t val);
/* Forget key (a store that writes it was built). */
void known_forget(struct known *k, uint64_t key);
/* key's row holds val now, if gen is still *k's generation (allocated at the first set). val 0: the row
 * exists, its value is not known; it does not replace a known value. */
void known_set(struct known **k, uint64_t gen, uint64_t key, uint64_t val);
/* The generation a store built now records (0 for NULL k). */
uint64_t known_gen(const struct known *k);
/* Forget everything, and the sets of stores built before (their rows may be wiped). */
void known_clear(struct known **k);
void known_free(struct known *k);

#endif
