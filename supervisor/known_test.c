/* known: SipHash-2-4 against the vectors of its paper, then the cache's contract (known.h). */
#include "known.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* Aumasson and Bernstein, "SipHash: a fast short-input PRF", appendix A: key 00..0f; the 15-byte message
 * 00..0e, and the empty one from the reference implementation's vectors. */
static void
test_siphash_vectors(void **state)
{
	const uint64_t key[2] = { 0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL };
	unsigned char in[15];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)i;
	assert_true(known_siphash(key, in, 15) == 0xa129ca6149be45e5ULL);
	assert_true(known_siphash(key, in, 0) == 0x726fdb47dd0e0e31ULL);
}

/* Kinds keep texts apart; a process hashes the same text the same way; 0 is never a hash. */
static void
test_hash(void **state)
{
	(void)state;
	assert_true(known_hash("contact", "a") == known_hash("contact", "a"));
	assert_true(known_hash("contact", "a") != known_hash("lid", "a"));
	assert_true(known_hash("ab", "c") != known_hash("a", "bc"));
	assert_true(known_hash("push", "") != 0);
}

static void
test_cache(void **state)
{
	struct known *k = NULL;
	uint64_t a = known_hash("contact", "1@s.whatsapp.net"), va = known_hash("push", "A");
	uint64_t vb = known_hash("push", "B"), gen;

	(void)state;
	assert_false(known_has(k, a, va));
	assert_false(known_has(k, a, 0));
	known_forget(k, a);			/* NULL: nothing to forget */
	gen = known_gen(k);
	known_set(&k, gen, a, va);
	assert_non_null(k);
	assert_true(known_has(k, a, va));
	assert_true(known_has(k, a, 0));	/* the row exists */
	assert_false(known_has(k, a, vb));
	/* "exists" does not replace a known value */
	known_set(&k, gen, a, 0);
	assert_true(known_has(k, a, va));
	known_set(&k, gen, a, vb);
	assert_true(known_has(k, a, vb));
	assert_false(known_has(k, a, va));
	known_forget(k, a);
	assert_false(known_has(k, a, 0));
	/* a clear forgets, and a store built before it sets nothing */
	known_set(&k, gen, a, va);
	known_clear(&k);
	assert_false(known_has(k, a, 0));
	known_set(&k, gen, a, va);
	assert_false(known_has(k, a, 0));
	known_set(&k, known_gen(k), a, va);
	assert_true(known_has(k, a, va));
	known_free(k);
}

/* Two keys of one set both stay (a message's contact and LID row, whatever the secret); a third evicts the
 * older of the two; forgetting one leaves the other. */
static void
test_sets(void **state)
{
	struct known *k = NULL;
	uint64_t sets = KNOWN_SLOTS / 2, a = 5, b = 5 + sets, c = 5 + 2 * sets;

	(void)state;
	known_set(&k, 0, a, 11);
	known_set(&k, 0, b, 22);
	assert_true(known_has(k, a, 11));
	assert_true(known_has(k, b, 22));
	known_set(&k, 0, b, 23);		/* an update stays in its way */
	assert_true(known_has(k, a, 11));
	assert_true(known_has(k, b, 23));
	known_set(&k, 0, c, 33);
	assert_false(known_has(k, a, 0));
	assert_true(known_has(k, b, 23));
	assert_true(known_has(k, c, 33));
	known_forget(k, c);
	assert_false(known_has(k, c, 0));
	assert_true(known_has(k, b, 23));
	assert_false(known_has(k, 6, 0));	/* another set is empty */
	known_free(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_siphash_vectors),
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_sets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
