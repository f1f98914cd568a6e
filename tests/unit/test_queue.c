/*  test_queue.c: unit tests for broker/queue (fair share) and broker/imap */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/imap.h"
#include "broker/queue.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

static assay_qtask_t *s_task(uint64_t id, uint64_t job, const char *kind)
{
    assay_qtask_t *t = ASSAY_NEW(assay_qtask_t);
    t->id = id;
    t->job_id = job;
    t->kind = assay_strdup(kind);
    t->input = assay_strdup("{}");
    t->input_len = 2;
    return t;
}

static void test_fifo_within_job(void **state)
{
    (void)state;
    assay_queue_t *q = assay_queue_new();
    for (uint64_t i = 1; i <= 100; i++) assay_queue_push(q, s_task(i, 1, "noop"));
    assert_int_equal(assay_queue_count(q, "noop"), 100);
    assert_int_equal(assay_queue_count(q, "verify"), 0);
    for (uint64_t i = 1; i <= 100; i++) {
        assay_qtask_t *t = assay_queue_pop(q, "noop");
        assert_non_null(t);
        assert_int_equal(t->id, i);
        assay_qtask_free(t);
    }
    assert_null(assay_queue_pop(q, "noop"));
    assert_null(assay_queue_pop(q, "unknown"));
    assay_queue_destroy(&q);
    assert_null(q);
}

static void test_weights(void **state)
{
    (void)state;
    /* a huge job of weight 1 and a small one of weight 3: the small job gets 3 of
     * every 4 dispatches while it has work, and is never starved */
    assay_queue_t *q = assay_queue_new();
    assay_queue_set_weight(q, 1, 1);
    assay_queue_set_weight(q, 2, 3);
    for (uint64_t i = 1; i <= 10000; i++) assay_queue_push(q, s_task(i, 1, "generate"));
    for (uint64_t i = 1; i <= 300; i++) assay_queue_push(q, s_task(100000 + i, 2, "generate"));
    int from2 = 0;
    for (int k = 0; k < 400; k++) {
        assay_qtask_t *t = assay_queue_pop(q, "generate");
        if (t->job_id == 2) from2++;
        assay_qtask_free(t);
    }
    assert_true(from2 >= 295 && from2 <= 300);
    assert_int_equal(assay_queue_count_job(q, 2), 300 - (size_t)from2);
    assay_queue_destroy(&q);
}

static void test_late_joiner_no_burst(void **state)
{
    (void)state;
    /* job 1 runs alone for a while; job 2 arriving later gets its fair share from
     * then on, not a burst that pays back the time it was absent */
    assay_queue_t *q = assay_queue_new();
    for (uint64_t i = 1; i <= 1000; i++) assay_queue_push(q, s_task(i, 1, "k"));
    for (int k = 0; k < 500; k++) assay_qtask_free(assay_queue_pop(q, "k"));
    for (uint64_t i = 1; i <= 500; i++) assay_queue_push(q, s_task(5000 + i, 2, "k"));
    int from2 = 0;
    for (int k = 0; k < 100; k++) {
        assay_qtask_t *t = assay_queue_pop(q, "k");
        if (t->job_id == 2) from2++;
        assay_qtask_free(t);
    }
    assert_true(from2 >= 45 && from2 <= 55);
    assay_queue_destroy(&q);
}

static void test_priority_breaks_ties(void **state)
{
    (void)state;
    /* two jobs of equal weight alternate; the higher priority goes first on a tie */
    assay_queue_t *q = assay_queue_new();
    assay_queue_set_priority(q, 2, 5);
    for (uint64_t i = 1; i <= 4; i++) assay_queue_push(q, s_task(i, 1, "k"));
    for (uint64_t i = 1; i <= 4; i++) assay_queue_push(q, s_task(10 + i, 2, "k"));
    uint64_t order[8];
    for (int k = 0; k < 8; k++) {
        assay_qtask_t *t = assay_queue_pop(q, "k");
        order[k] = t->job_id;
        assay_qtask_free(t);
    }
    for (int k = 0; k < 8; k++) assert_int_equal(order[k], k % 2 == 0 ? 2 : 1);
    assay_queue_destroy(&q);
}

static int s_drained;

static void s_count(assay_qtask_t *t, void *arg)
{
    (void)arg;
    s_drained++;
    assay_qtask_free(t);
}

static void test_drain_job(void **state)
{
    (void)state;
    assay_queue_t *q = assay_queue_new();
    for (uint64_t i = 1; i <= 10; i++) assay_queue_push(q, s_task(i, i % 2, i < 5 ? "a" : "b"));
    s_drained = 0;
    assay_queue_drain_job(q, 1, s_count, NULL);
    assert_int_equal(s_drained, 5);
    assert_int_equal(assay_queue_total(q), 5);
    assay_queue_drain_all(q, s_count, NULL);
    assert_int_equal(s_drained, 10);
    assert_int_equal(assay_queue_total(q), 0);
    assay_queue_destroy(&q);
}

static void test_imap(void **state)
{
    (void)state;
    assay_imap_t *m = assay_imap_new();
    static int vals[20000];
    for (int i = 1; i < 20000; i++) assert_null(assay_imap_put(m, (uint64_t)i * 7919, &vals[i]));
    assert_int_equal(assay_imap_size(m), 19999);
    for (int i = 1; i < 20000; i++) assert_ptr_equal(assay_imap_get(m, (uint64_t)i * 7919), &vals[i]);
    /* delete every other key; the rest must stay reachable (backward shift) */
    for (int i = 1; i < 20000; i += 2) assert_ptr_equal(assay_imap_del(m, (uint64_t)i * 7919), &vals[i]);
    for (int i = 1; i < 20000; i++) {
        void *v = assay_imap_get(m, (uint64_t)i * 7919);
        if (i % 2)
            assert_null(v);
        else
            assert_ptr_equal(v, &vals[i]);
    }
    assert_null(assay_imap_del(m, 12345678));
    assert_ptr_equal(assay_imap_put(m, 2 * 7919, &vals[0]), &vals[2]);
    assay_imap_destroy(&m);
    assert_null(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_within_job), cmocka_unit_test(test_weights),
        cmocka_unit_test(test_late_joiner_no_burst), cmocka_unit_test(test_drain_job),
        cmocka_unit_test(test_priority_breaks_ties),
        cmocka_unit_test(test_imap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
