/*  test_judge.c: unit tests for worker/judge (the tolerant judge reply parser):
 *  clean JSON, fenced JSON, prose around it, repairs, scales, fallback lines and
 *  replies that must be refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/error.h"
#include "common/util.h"
#include "worker/domain/judge.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int s_parse(const char *text, assay_judge_reply_t *r, char *err, size_t errlen)
{
    return assay_judge_parse(text, strlen(text), r, err, errlen);
}

static void s_near(double got, double want)
{
    if (fabs(got - want) > 1e-9) fail_msg("got %.10g, want %.10g", got, want);
}

static void test_clean_json(void **state)
{
    (void)state;
    assay_judge_reply_t r;
    char err[256];
    assert_int_equal(s_parse("{\"score\": 0.8, \"correctness\": 0.9, \"comprehensiveness\": 0.7, "
                             "\"comment\": \"答案正确，略欠全面。\"}",
                             &r, err, sizeof err),
                     0);
    s_near(r.score, 0.8);
    assert_true(r.has_score);
    assert_int_equal(r.ndims, 2);
    s_near(assay_judge_dim(&r, "correctness"), 0.9);
    s_near(assay_judge_dim(&r, "comprehensiveness"), 0.7);
    assert_true(assay_judge_dim(&r, "logic") < 0);
    assert_string_equal(r.comment, "答案正确，略欠全面。");
    assert_string_equal(r.method, "json");
    assay_judge_reply_release(&r);
    assay_judge_reply_release(&r); /* safe twice */
}

static void test_fenced_with_prose(void **state)
{
    (void)state;
    assay_judge_reply_t r;
    char err[256];
    const char *text = "我先分析一下回答。回答给出了正确的诊断 {这里不是 JSON}。\n"
                       "```json\n"
                       "{\n  \"score\": 0.6,\n  \"logic\": 0.5,\n  \"comment\": \"推理跳步\"\n}\n"
                       "```\n以上是我的评分。";
    assert_int_equal(s_parse(text, &r, err, sizeof err), 0);
    s_near(r.score, 0.6);
    s_near(assay_judge_dim(&r, "logic"), 0.5);
    assert_string_equal(r.comment, "推理跳步");
    assay_judge_reply_release(&r);
}

static void test_last_object_wins(void **state)
{
    (void)state;
    assay_judge_reply_t r;
    char err[256];
    const char *text = "示例格式：{\"score\": 1.0, \"comment\": \"...\"}\n"
                       "我的评分：{\"score\": 0.3, \"comment\": \"答案错误\"}";
    assert_int_equal(s_parse(text, &r, err, sizeof err), 0);
    s_near(r.score, 0.3);
    assert_string_equal(r.comment, "答案错误");
    assay_judge_reply_release(&r);
}

static void test_nested_and_wrapped(void **state)
{
    (void)state;
    assay_judge_reply_t r;
    char err[256];
    assert_int_equal(s_parse("{\"result\": {\"score\": 0.4}}", &r, err, sizeof err), 0);
    s_near(r.score, 0.4);
    assay_judge_reply_release(&r);
    assert_int_equal(s_parse("{\"dimensions\": {\"correctness\": 8, \"logic\": 6}, "
                             "\"reason\": \"ok\"}",
                             &r, err, sizeof err),
                     0);
    assert_false(r.has_score);
    s_near(assay_judge_dim(&r, "correctness"), 0.8);
    s_near(r.score, 0.7); /* the mean of the dimensions */
    assert_string_equal(r.comment, "ok");
    assay_judge_reply_release(&r);
}

static void test_repairs(void **state)
{
    (void)state;
    assay_judge_reply_t r;
    char err[256];
    assert_int_equal(s_parse("{\"score\": 0.9, \"logic\": 0.8,}", &r, err, sizeof err), 0);
    s_near(r.score, 0.9);
    assert_string_equal(r.method, "json_repaired");
    assay_judge_reply_release(&r);
    /* single quotes; the apostrophe inside a double-quoted string stays */
    assert_int_equal(s_parse("{'score': 0.5, 'comment': 'he said \"no\"', \"x\": \"it's\"}", &r,
                             err, sizeof err),
                     0);
    s_near(r.score, 0.5);
    assert_string_equal(r.comment, "he said \"no\"");
    assay_judge_reply_release(&r);
}

static void test_more_repairs(void **state)
{
    (void)state;
    assay_judge_reply_t r;
    char err[256];
    /* a raw line break inside a string, in a fence with a trailing comma */
    const char *text = "```json\n{\"score\": 0.7, \"comment\": \"第一行\n第二行\",\n}\n```";
    assert_int_equal(s_parse(text, &r, err, sizeof err), 0);
    s_near(r.score, 0.7);
    assert_string_equal(r.comment, "第一行\n第二行");
    assay_judge_reply_release(&r);
    /* Chinese keys; mixed-case English ones */
    assert_int_equal(s_parse("{\"总分\": 6, \"逻辑性\": 8, \"Correctness\": 5, \"评语\": \"一般\"}",
                             &r, err, sizeof err),
                     0);
    s_near(r.score, 0.6);
    s_near(assay_judge_dim(&r, "logic"), 0.8);
    s_near(assay_judge_dim(&r, "correctness"), 0.5);
    assert_string_equal(r.comment, "一般");
    assay_judge_reply_release(&r);
    /* names in full-width quotes and brackets */
    assert_int_equal(s_parse("“总分”：9/10\n【一致性】：0.5", &r, err, sizeof err), 0);
    s_near(r.score, 0.9);
    s_near(assay_judge_dim(&r, "consistency"), 0.5);
    assay_judge_reply_release(&r);
}

/* many small brace pairs before the verdict, and replies of nothing but braces */
static void test_large_inputs(void **state)
{
    (void)state;
    assay_judge_reply_t r;
    char err[256];
    assay_buf_t b = ASSAY_BUF_INIT;
    for (int i = 0; i < 5000; i++)
        assay_buf_adds(&b, "推理 \\frac{a}{b} ");
    assay_buf_adds(&b, "结论 {\"score\": 0.6}");
    assert_int_equal(assay_judge_parse(b.data, b.len, &r, err, sizeof err), 0);
    s_near(r.score, 0.6);
    assay_judge_reply_release(&r);
    assay_buf_reset(&b);
    for (int i = 0; i < 300000; i++)
        assay_buf_addc(&b, '{');
    assert_int_equal(assay_judge_parse(b.data, b.len, &r, err, sizeof err), ASSAY_EPARSE);
    assay_buf_reset(&b);
    for (int i = 0; i < 20000; i++)
        assay_buf_adds(&b, "{\"a\":");
    assay_buf_addc(&b, '1');
    for (int i = 0; i < 20000; i++)
        assay_buf_addc(&b, '}');
    assert_int_equal(assay_judge_parse(b.data, b.len, &r, err, sizeof err), ASSAY_EPARSE);
    assay_buf_release(&b);
}

static void test_scales(void **state)
{
    (void)state;
    assay_judge_reply_t r;
    char err[256];
    /* 0..10: the largest value decides the scale for the whole reply */
    assert_int_equal(
        s_parse("{\"score\": 7, \"correctness\": 1, \"logic\": 10}", &r, err, sizeof err), 0);
    s_near(r.score, 0.7);
    s_near(assay_judge_dim(&r, "correctness"), 0.1);
    s_near(assay_judge_dim(&r, "logic"), 1.0);
    assay_judge_reply_release(&r);
    /* 0..100 */
    assert_int_equal(s_parse("{\"score\": 85}", &r, err, sizeof err), 0);
    s_near(r.score, 0.85);
    assay_judge_reply_release(&r);
    /* strings with denominators and percentages */
    assert_int_equal(s_parse("{\"score\": \"8/10\", \"logic\": \"60%\", \"relevance\": \"4分\"}",
                             &r, err, sizeof err),
                     0);
    s_near(r.score, 0.8);
    s_near(assay_judge_dim(&r, "logic"), 0.6);
    s_near(assay_judge_dim(&r, "relevance"), 0.4);
    assay_judge_reply_release(&r);
    /* 0..1 stays */
    assert_int_equal(s_parse("{\"score\": 1}", &r, err, sizeof err), 0);
    s_near(r.score, 1.0);
    assay_judge_reply_release(&r);
}

static void test_fallback_lines(void **state)
{
    (void)state;
    assay_judge_reply_t r;
    char err[256];
    const char *text = "评估如下：\n"
                       "- **Score**: 7/10\n"
                       "- correctness: 0.8\n"
                       "2. 逻辑性：6/10\n"
                       "注意：3\n"
                       "评语：思路清晰，但遗漏了鉴别诊断。\n";
    assert_int_equal(s_parse(text, &r, err, sizeof err), 0);
    assert_string_equal(r.method, "lines");
    s_near(r.score, 0.7);
    s_near(assay_judge_dim(&r, "correctness"), 0.8);
    s_near(assay_judge_dim(&r, "logic"), 0.6);
    assert_int_equal(r.ndims, 2); /* "注意" is no score name */
    assert_string_equal(r.comment, "思路清晰，但遗漏了鉴别诊断。");
    assay_judge_reply_release(&r);

    assert_int_equal(s_parse("总分：8\n正确性 = 9", &r, err, sizeof err), 0);
    s_near(r.score, 0.8);
    s_near(assay_judge_dim(&r, "correctness"), 0.9);
    assert_string_equal(r.comment, "");
    assay_judge_reply_release(&r);
}

static void test_refused(void **state)
{
    (void)state;
    assay_judge_reply_t r;
    char err[256];
    const char *bad[] = {
        "",
        "这个回答还不错，我觉得挺好的。",
        "{\"comment\": \"no score at all\"}",
        "{\"score\": \"high\"}",
        "{\"a\": 1, \"tokens\": 500}",      /* numbers, but no judgement */
        "{\"score\": 0.8",                  /* never closed, no lines either */
        "<html>502 Bad Gateway</html>\x01", /* a proxy page */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        int rc = s_parse(bad[i], &r, err, sizeof err);
        if (rc != ASSAY_EPARSE) fail_msg("case %zu: rc %d for \"%s\"", i, rc, bad[i]);
        assert_true(strstr(err, "no JSON object") != NULL);
        assert_null(r.comment);
    }
    /* out of range: not clamped */
    assert_int_equal(s_parse("{\"score\": 150}", &r, err, sizeof err), ASSAY_EPARSE);
    assert_non_null(strstr(err, "150"));
    assert_int_equal(s_parse("{\"score\": -1}", &r, err, sizeof err), ASSAY_EPARSE);
    assert_non_null(strstr(err, "negative"));
    assert_int_equal(s_parse("score: 12/10", &r, err, sizeof err), ASSAY_EPARSE);
    assert_non_null(strstr(err, "12/10"));
    /* NULL text with length 0 */
    assert_int_equal(assay_judge_parse(NULL, 0, &r, err, sizeof err), ASSAY_EPARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_json),       cmocka_unit_test(test_fenced_with_prose),
        cmocka_unit_test(test_last_object_wins), cmocka_unit_test(test_nested_and_wrapped),
        cmocka_unit_test(test_repairs),          cmocka_unit_test(test_more_repairs),
        cmocka_unit_test(test_large_inputs),     cmocka_unit_test(test_scales),
        cmocka_unit_test(test_fallback_lines),   cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
