/*  test_leak_llm.c: the pure parts of the leak_removal LLM pass (worker/domain/leak_llm.h):
 *  rewrite extraction, the length check and judge verdict parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "worker/domain/leak_llm.h"

#include <stdlib.h>
#include <string.h>

static void s_extract(const char *reply, const char *want)
{
    char *got = assay_leak_rewrite_extract(reply);
    assert_string_equal(got, want);
    free(got);
}

static void test_rewrite_extract(void **state)
{
    (void)state;
    s_extract("  主诉：腹痛1天。\n", "主诉：腹痛1天。");
    s_extract("<rewrite>\n主诉：腹痛1天。\n</rewrite>", "主诉：腹痛1天。");
    s_extract("改写如下：<rewrite>主诉：腹痛。</rewrite>以上。", "主诉：腹痛。");
    /* instructions naming the tags before the text: the last pair wins */
    s_extract("放在<rewrite>与</rewrite>之间：\n<rewrite>\n主诉：腹痛。\n</rewrite>", "主诉：腹痛。");
    /* an opening tag without a closing one: the rest */
    s_extract("<rewrite>主诉：腹痛。", "主诉：腹痛。");
    s_extract("```text\n主诉：腹痛。\n```", "主诉：腹痛。");
    s_extract("```\n主诉：腹痛。\n```", "主诉：腹痛。");
    s_extract("", "");
    s_extract(NULL, "");
    s_extract("<rewrite>\n</rewrite>", "");
}

static void test_length(void **state)
{
    (void)state;
    char why[200];
    assert_int_equal(assay_leak_utf8_chars("主诉ab", strlen("主诉ab")), 4);
    assert_int_equal(assay_leak_rewrite_length_ok(100, 100, 0.5, 1.5, why, sizeof why), 0);
    assert_int_equal(assay_leak_rewrite_length_ok(100, 50, 0.5, 1.5, why, sizeof why), 0);
    assert_int_equal(assay_leak_rewrite_length_ok(100, 150, 0.5, 1.5, why, sizeof why), 0);
    assert_int_equal(assay_leak_rewrite_length_ok(100, 49, 0.5, 1.5, why, sizeof why), -1);
    assert_non_null(strstr(why, "49 characters for 100"));
    assert_int_equal(assay_leak_rewrite_length_ok(100, 151, 0.5, 1.5, why, sizeof why), -1);
    assert_int_equal(assay_leak_rewrite_length_ok(100, 0, 0.5, 1.5, why, sizeof why), -1);
    assert_string_equal(why, "the rewrite is empty");
    assert_int_equal(assay_leak_rewrite_length_ok(0, 5, 0.5, 1.5, why, sizeof why), 0);
}

/* parse reply; want_leak -1 = must fail with err containing want */
static void s_judge(const char *reply, int want_leak, const char *want)
{
    int leak = -7;
    char *reason = NULL;
    char err[300] = "";
    int rc = assay_leak_judge_parse(reply, &leak, &reason, err, sizeof err);
    if (want_leak < 0) {
        if (rc == 0) fail_msg("parsed \"%s\" as leak=%d", reply, leak);
        assert_null(reason);
        if (!strstr(err, want)) fail_msg("err \"%s\" lacks \"%s\"", err, want);
        return;
    }
    if (rc != 0) fail_msg("\"%s\": %s", reply, err);
    assert_int_equal(leak, want_leak);
    assert_string_equal(reason, want);
    free(reason);
}

static void test_judge_json(void **state)
{
    (void)state;
    s_judge("{\"leak\": true, \"reason\": \"主诉中写出了诊断\"}", 1, "主诉中写出了诊断");
    s_judge("{\"leak\": false, \"reason\": \"需要推理\"}", 0, "需要推理");
    s_judge("{\"leak\": false}", 0, "");
    s_judge("```json\n{\"leak\": 1, \"reason\": \"x\"}\n```", 1, "x");
    s_judge("判断结果如下：{\"leak\": \"yes\", \"reason\": \"r\"} 以上。", 1, "r");
    s_judge("{\"leak\": \"false\", \"reason\": \"r\"}", 0, "r");
    s_judge("{\"reason\": \"r\"}", -1, "without a \"leak\" field");
    s_judge("{\"leak\": \"maybe\"}", -1, "not true or false");
    s_judge("{\"leak\": 2}", -1, "not true or false");
}

static void test_judge_bare(void **state)
{
    (void)state;
    s_judge("是", 1, "");
    s_judge("否。", 0, "");
    s_judge("是。诊断直接写在主诉中", 1, "诊断直接写在主诉中");
    s_judge("Yes, the diagnosis is named.", 1, "the diagnosis is named.");
    s_judge("NO", 0, "");
    s_judge("true", 1, "");
    s_judge("未泄露：需要结合检查推理", 0, "需要结合检查推理");
    s_judge("泄露", 1, "");
    s_judge("无", 0, "");
    /* words that only start like an answer are not one */
    s_judge("not sure", -1, "neither JSON");
    s_judge("是的呢", -1, "neither JSON");
    s_judge("根据病史、体征及辅助检查，考虑急性心肌梗死。\n诊断：急性心肌梗死", -1,
            "nor a yes/no answer: \"根据病史");
    s_judge("", -1, "empty");
    s_judge("   \n", -1, "empty");
    s_judge("{broken json", -1, "neither JSON");
}

static void test_judge_excerpt_utf8(void **state)
{
    (void)state;
    /* a long reply is cut to an excerpt on a character boundary */
    char reply[400] = "";
    for (int i = 0; i < 40; i++)
        strcat(reply, "诊断");
    int leak;
    char *reason;
    char err[300];
    assert_int_equal(assay_leak_judge_parse(reply, &leak, &reason, err, sizeof err), -1);
    assert_non_null(strstr(err, "...\""));
    const char *q = strchr(err, ':');
    assert_non_null(q);
    /* everything before the ellipsis is whole characters of the reply */
    const char *ex = strstr(err, "answer: \"") + strlen("answer: \"");
    size_t n = (size_t)(strstr(ex, "...") - ex);
    assert_true(n > 0 && n % 3 == 0 && n <= 80);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rewrite_extract), cmocka_unit_test(test_length),
        cmocka_unit_test(test_judge_json),      cmocka_unit_test(test_judge_bare),
        cmocka_unit_test(test_judge_excerpt_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
