/*  test_retry.c: unit tests for broker/retry (exponential backoff with jitter) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/retry.h"

static void test_growth_and_jitter(void **state)
{
    (void)state;
    assay_retry_policy_t p = {.base_ms = 1000, .max_ms = 60000};
    uint64_t rng = 42;
    for (uint32_t attempt = 1; attempt <= 10; attempt++) {
        uint64_t d = 1000ull << (attempt - 1);
        if (d > 60000) d = 60000;
        uint32_t lo = UINT32_MAX, hi = 0;
        for (int k = 0; k < 2000; k++) {
            uint32_t v = assay_retry_delay_ms(&p, attempt, 0, &rng);
            assert_true(v >= d / 2 && v <= d);
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
        /* jitter really spreads the delays over [d/2, d] */
        assert_true(hi - lo > d / 4);
    }
}

static void test_retry_after_wins(void **state)
{
    (void)state;
    assay_retry_policy_t p = {.base_ms = 100, .max_ms = 1000};
    uint64_t rng = 7;
    assert_true(assay_retry_delay_ms(&p, 1, 30000, &rng) == 30000);
    assert_true(assay_retry_delay_ms(&p, 20, 0, &rng) <= 1000);
    assert_true(assay_retry_delay_ms(&p, 0, 0, &rng) <= 100);
}

static void test_rng_state(void **state)
{
    (void)state;
    uint64_t a = 1, b = 1;
    assert_true(assay_rand64(&a) == assay_rand64(&b));
    uint64_t z = 0;
    assert_true(assay_rand64(&z) != 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_growth_and_jitter),
        cmocka_unit_test(test_retry_after_wins),
        cmocka_unit_test(test_rng_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
