/* backoff: growth, cap, and the jitter range. */
#include "backoff.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

/* The lowest and highest draw give base/2 and base; the base doubles per failure up to the cap. */
static void
test_growth_and_cap(void **state)
{
	(void)state;
	assert_int_equal(backoff_ms_with(0, 1000, 60000, 0.0), 500);
	assert_int_equal(backoff_ms_with(0, 1000, 60000, 0.999999), 1000);
	assert_int_equal(backoff_ms_with(1, 1000, 60000, 0.0), 1000);
	assert_int_equal(backoff_ms_with(3, 1000, 60000, 0.999999), 8000);
	assert_int_equal(backoff_ms_with(6, 1000, 60000, 0.999999), 60000);
	assert_int_equal(backoff_ms_with(4000000000u, 1000, 60000, 0.0), 30000);
}

/* Degenerate bounds stay sane. */
static void
test_bounds(void **state)
{
	(void)state;
	assert_int_equal(backoff_ms_with(0, 0, 0, 0.999999), 1);
	assert_int_equal(backoff_ms_with(5, 100, 50, 0.999999), 100);
	assert_int_equal(backoff_ms_with(0, 100, 1000, -3.0), 50);
}

/* The random form stays inside [base/2, base] and is not constant (the first retry has jitter too). */
static void
test_random_range(void **state)
{
	unsigned i, v, lo = ~0u, hi = 0;

	(void)state;
	for (i = 0; i < 2000; i++) {
		v = backoff_ms(0, 1000, 60000);
		assert_in_range(v, 500, 1000);
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	assert_true(hi - lo > 100);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_growth_and_cap),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_random_range),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
