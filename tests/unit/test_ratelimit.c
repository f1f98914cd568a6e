/*  test_ratelimit.c: unit tests for broker/ratelimit (token buckets, fleet
 *  concurrency cap, adaptive slow-down on 429 and recovery) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "broker/ratelimit.h"

static void test_requests_per_minute(void **state)
{
    (void)state;
    assay_ratelimit_conf_t c = {.rpm = 600, .tpm = 0, .max_concurrency = 0};
    assay_ratelimit_t *r = assay_ratelimit_new("sim", &c, 0);
    /* 600 rpm = 10 per second; the start budget is one second's worth */
    int ok = 0;
    for (int i = 0; i < 100; i++) ok += assay_ratelimit_acquire(r, 1, 0, 0);
    assert_int_equal(ok, 10);
    /* over one simulated minute, about 600 pass, not more */
    ok = 0;
    for (int64_t t = 1; t <= 60000; t += 10)
        while (assay_ratelimit_acquire(r, 1, 0, t)) ok++;
    assert_true(ok >= 590 && ok <= 610);
    assay_ratelimit_destroy(&r);
    assert_null(r);
}

static void test_tokens_and_big_tasks(void **state)
{
    (void)state;
    assay_ratelimit_conf_t c = {.rpm = 0, .tpm = 60000, .max_concurrency = 0};
    assay_ratelimit_t *r = assay_ratelimit_new("sim", &c, 0);
    assert_true(assay_ratelimit_acquire(r, 1, 800, 0));  /* start budget 1000 */
    assert_false(assay_ratelimit_acquire(r, 1, 800, 0));
    assert_true(assay_ratelimit_acquire(r, 1, 800, 1000)); /* +1000 after 1 s */
    /* a task larger than the bucket still starts once the bucket is full */
    assert_true(assay_ratelimit_acquire(r, 1, 50000, 20000));
    assay_ratelimit_destroy(&r);
}

static void test_concurrency(void **state)
{
    (void)state;
    assay_ratelimit_conf_t c = {.rpm = 0, .tpm = 0, .max_concurrency = 3};
    assay_ratelimit_t *r = assay_ratelimit_new("sim", &c, 0);
    for (int i = 0; i < 3; i++) assert_true(assay_ratelimit_acquire(r, 1, 0, 0));
    assert_false(assay_ratelimit_acquire(r, 1, 0, 0));
    assert_int_equal(assay_ratelimit_inflight(r), 3);
    assay_ratelimit_done(r);
    assert_true(assay_ratelimit_acquire(r, 1, 0, 0));
    assay_ratelimit_destroy(&r);
}

static void test_pushback_and_recovery(void **state)
{
    (void)state;
    assay_ratelimit_conf_t c = {.rpm = 6000, .tpm = 0, .max_concurrency = 0};
    assay_ratelimit_t *r = assay_ratelimit_new("sim", &c, 0);
    assay_ratelimit_pushback(r, 5000, 1000);
    /* nobody passes until Retry-After has passed */
    assert_false(assay_ratelimit_acquire(r, 1, 0, 3000));
    assert_true(assay_ratelimit_next_ms(r, 3000) == 6000);
    assert_true(assay_ratelimit_rate(r) == 3000);
    assert_true(assay_ratelimit_acquire(r, 1, 0, 7000));
    /* a second 429 within the same second does not halve again */
    assay_ratelimit_pushback(r, 0, 7100);
    assay_ratelimit_pushback(r, 0, 7200);
    assert_true(assay_ratelimit_rate(r) == 1500);
    /* quiet minutes give the rate back, a tenth of the configured rate each */
    for (int64_t t = 8000; t < 8000 + 10 * 61000; t += 1000) assay_ratelimit_acquire(r, 0, 0, t);
    assert_true(assay_ratelimit_rate(r) == 6000);
    assay_ratelimit_destroy(&r);
}

static void test_no_limits(void **state)
{
    (void)state;
    assay_ratelimit_conf_t c = {0};
    assay_ratelimit_t *r = assay_ratelimit_new("free", &c, 0);
    for (int i = 0; i < 100000; i++) assert_true(assay_ratelimit_acquire(r, 1, 1000, 0));
    assay_ratelimit_destroy(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requests_per_minute), cmocka_unit_test(test_tokens_and_big_tasks),
        cmocka_unit_test(test_concurrency), cmocka_unit_test(test_pushback_and_recovery),
        cmocka_unit_test(test_no_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
