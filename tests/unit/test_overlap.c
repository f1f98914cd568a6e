/*  test_overlap.c: unit tests for ops/cli/overlap (64-character decontamination) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ops/cli/overlap.h"

#include <stdio.h>
#include <string.h>

static const char *s_eval =
    "患者，男，45岁。反复上腹痛3年，饥饿时明显，进食后缓解，近1周出现黑便。查体：上腹部轻压痛。"
    "胃镜检查示十二指肠球部溃疡，幽门螺杆菌阳性。最可能的诊断是";

static void test_copied_stem_hits(void **state)
{
    (void)state;
    assay_overlap_t *o = assay_overlap_new(64);
    assay_overlap_add(o, s_eval);
    assert_true(assay_overlap_size(o) > 0);
    /* the same stem with different white space and a different ending */
    const char *copy = "  患者，男，45岁。反复上腹痛3年，饥饿时明显，进食后缓解，近1周出现黑便。 查体：上腹部轻压痛。\n"
                       "胃镜检查示十二指肠球部溃疡，幽门螺杆菌阳性。下列处理错误的是";
    assert_true(assay_overlap_hits(o, copy));
    assay_overlap_destroy(&o);
    assert_null(o);
}

static void test_short_shared_text_does_not_hit(void **state)
{
    (void)state;
    assay_overlap_t *o = assay_overlap_new(64);
    assay_overlap_add(o, s_eval);
    /* shares a 20-character phrase only */
    assert_false(assay_overlap_hits(o, "另一道题：反复上腹痛3年，饥饿时明显，进食后缓解，伴反酸烧心，最可能的诊断是什么？请说明理由并给出治疗方案"));
    assert_false(assay_overlap_hits(o, "短文本"));
    assert_false(assay_overlap_hits(o, ""));
    assay_overlap_destroy(&o);
}

static void test_window_boundary(void **state)
{
    (void)state;
    assay_overlap_t *o = assay_overlap_new(8);
    assay_overlap_add(o, "abcdefghij");
    assert_true(assay_overlap_hits(o, "xxabcdefghxx"));  /* 8 shared */
    assert_false(assay_overlap_hits(o, "xxabcdefgxx"));  /* 7 shared */
    assert_true(assay_overlap_hits(o, "c d e f g h i j")); /* spaces dropped */
    assay_overlap_destroy(&o);
}

static void test_many(void **state)
{
    (void)state;
    assay_overlap_t *o = assay_overlap_new(16);
    char buf[64];
    for (int i = 0; i < 20000; i++) {
        snprintf(buf, sizeof buf, "question number %08d of the set", i);
        assay_overlap_add(o, buf);
    }
    snprintf(buf, sizeof buf, "question number %08d of the set", 12345);
    assert_true(assay_overlap_hits(o, buf));
    assert_false(assay_overlap_hits(o, "an unrelated question about anemia"));
    assay_overlap_destroy(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copied_stem_hits),
        cmocka_unit_test(test_short_shared_text_does_not_hit),
        cmocka_unit_test(test_window_boundary),
        cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
