/*  test_neardup.c: unit tests for ops/cli/neardup (MinHash near-duplicates) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ops/cli/neardup.h"

#include <stdio.h>

static void test_near_and_far(void **state)
{
    (void)state;
    assay_neardup_t *d = assay_neardup_new(0.8);
    double sim = 0;
    const char *a = "患者，男，45岁，反复上腹痛3年，饥饿时明显，进食后缓解，近1周出现黑便，胃镜示十二指肠球部溃疡。最可能的诊断是";
    const char *b = "患者，男，46岁，反复上腹痛3年，饥饿时明显，进食后缓解，近1周出现黑便，胃镜示十二指肠球部溃疡。最可能的诊断是";
    const char *c = "女性，28岁，停经8周，阴道少量流血2天，下腹隐痛。尿妊娠试验阳性，B超示宫内孕囊。最可能的诊断是";
    assert_int_equal(assay_neardup_check_add(d, a, &sim), -1);
    assert_int_equal(assay_neardup_check_add(d, b, &sim), 0);  /* one digit differs */
    assert_true(sim >= 0.8);
    assert_int_equal(assay_neardup_check_add(d, c, &sim), -1); /* another question */
    /* white space does not matter */
    assert_int_equal(assay_neardup_check_add(d, "患者，男，45岁， 反复上腹痛3年，饥饿时明显，进食后缓解，近1周出现黑便，胃镜示十二指肠球部溃疡。 最可能的诊断是", &sim), 0);
    assay_neardup_destroy(&d);
    assert_null(d);
}

static void test_many_distinct(void **state)
{
    (void)state;
    assay_neardup_t *d = assay_neardup_new(0.8);
    char buf[128];
    int dups = 0;
    for (int i = 0; i < 5000; i++) {
        snprintf(buf, sizeof buf, "第%d题：编号%08d的患者出现了编号%05d的症状，请问应如何处理", i, i * 7919, i * 31);
        double sim;
        if (assay_neardup_check_add(d, buf, &sim) >= 0) dups++;
    }
    /* generated texts share a template: a few may pass a 0.8 bar, most must not */
    assert_true(dups < 50);
    assay_neardup_destroy(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_near_and_far),
        cmocka_unit_test(test_many_distinct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
