/*  test_task_checks.c: the verify, hack_check, tag and cot_actions handlers run
 *  on JSON inputs through the real executor (tests/lib/taskrun.h): input shapes,
 *  parameters, output fields, and clear failures for bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/lib/taskrun.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef ASSAY_TEST_DATA
#define ASSAY_TEST_DATA "tests/data"
#endif

static const char *const s_kinds[4] = {"verify", "hack_check", "tag", "cot_actions"};

typedef struct {
    assay_taskrun_t *run;
} s_world_t;

static int s_setup(void **state)
{
    s_world_t *w = calloc(1, sizeof *w);
    w->run = assay_taskrun_new(NULL, json_pack("{s:s}", "terms", ASSAY_TEST_DATA "/verify"));
    char err[512];
    for (int i = 0; i < 4; i++) {
        if (assay_taskrun_prepare(w->run, s_kinds[i], err, sizeof err) != 0) {
            fprintf(stderr, "setup %s: %s\n", s_kinds[i], err);
            return -1;
        }
    }
    *state = w;
    return 0;
}

static int s_teardown(void **state)
{
    s_world_t *w = *state;
    assay_taskrun_destroy(&w->run);
    free(w);
    return 0;
}

typedef assay_taskrun_result_t s_result_t;

/* run kind on the JSON input (and params); returns the outcome for inspection */
static s_result_t s_run(s_world_t *w, int kind, const char *input, const char *params)
{
    s_result_t t = assay_taskrun_run(w->run, s_kinds[kind], input, params);
    assert_int_equal(t.done + t.failed, 1); /* exactly one of done / fail */
    return t;
}

#define VERIFY 0
#define HACK 1
#define TAG 2
#define COT 3

static void test_verify_handler(void **state)
{
    s_world_t *w = *state;
    s_result_t t = s_run(w, VERIFY,
                           "{\"kind\":\"mcq\",\"answer\":\"C\",\"options\":{\"A\":\"原发病\","
                           "\"B\":\"出血部位\",\"C\":\"出血量\"},\"sample\":{\"answer\":"
                           "\"正确答案是 C．出血量\",\"reasoning\":\"……\"}}",
                           NULL);
    assert_int_equal(t.done, 1);
    assert_true(json_real_value(json_object_get(t.out, "score")) == 1.0);
    assert_true(json_is_true(json_object_get(t.out, "correct")));
    json_t *ex = json_object_get(t.out, "explain");
    assert_string_equal(json_string_value(json_object_get(ex, "found_by")), "marker");
    assert_true(json_is_string(json_object_get(t.out, "terms_version")));
    json_decref(t.out);

    /* letters only at the end of the reasoning; kind inferred from options */
    t = s_run(w, VERIFY,
              "{\"answer\":\"B\",\"options\":{\"A\":\"甲\",\"B\":\"乙\"},"
              "\"response\":\"<think>分析……故选B。</think>见上\"}",
              NULL);
    assert_int_equal(t.done, 1);
    assert_string_equal(json_string_value(json_object_get(t.out, "answer_source")),
                        "sample.reasoning");
    assert_true(json_is_true(json_object_get(t.out, "correct")));
    json_decref(t.out);

    /* a case item: synonyms, with explanation and terminology version */
    t = s_run(w, VERIFY,
              "{\"kind\":\"case\",\"answer\":\"冠状动脉粥样硬化性心脏病\","
              "\"prediction\":\"诊断：冠心病\"}",
              "{\"threshold\":0.9}");
    assert_int_equal(t.done, 1);
    assert_true(json_real_value(json_object_get(t.out, "score")) >= 0.95);
    ex = json_object_get(t.out, "explain");
    assert_int_equal(json_array_size(json_object_get(json_object_get(ex, "atoms"), "gold")), 1);
    assert_true(json_real_value(json_object_get(t.out, "threshold")) == 0.9);
    assert_true(json_is_object(json_object_get(ex, "weights")));
    json_decref(t.out);

    /* gold codes alone; fuzzy linking on request */
    t = s_run(w, VERIFY,
              "{\"kind\":\"open\",\"gold_codes\":[\"J15.900\"],\"sample\":{\"answer\":"
              "\"左肺细菌性肺炎\"}}",
              "{\"link\":\"fuzzy\"}");
    assert_int_equal(t.done, 1);
    assert_true(json_real_value(json_object_get(t.out, "score")) >= 0.9);
    json_decref(t.out);

    /* bad input: what, where, expected */
    static const char *const bad[][3] = {
        {"{\"answer\":\"C\",\"options\":{\"A\":\"x\"}}", NULL, "no sample to check"},
        {"{\"kind\":\"essay\",\"answer\":\"x\",\"prediction\":\"y\"}", NULL, "field \"kind\""},
        {"{\"kind\":\"mcq\",\"answer\":\"C\",\"prediction\":\"C\"}", NULL, "field \"options\""},
        {"{\"kind\":\"mcq\",\"answer\":\"Z\",\"options\":{\"A\":\"x\"},\"prediction\":\"A\"}", NULL,
         "names no option"},
        {"{\"answer\":\"C\",\"options\":{\"A\":1},\"prediction\":\"A\"}", NULL,
         "field \"options.A\""},
        {"{\"answer\":42,\"prediction\":\"x\"}", NULL, "field \"answer\""},
        {"{\"prediction\":\"x\"}", NULL, "expected the gold answer"},
        {"{\"answer\":\"肺炎\",\"gold_codes\":[1],\"prediction\":\"x\"}", NULL,
         "field \"gold_codes[0]\""},
        {"{\"answer\":\"肺炎\",\"sample\":\"x\"}", NULL, "field \"sample\""},
        {"{\"answer\":\"肺炎\",\"sample\":{\"answer\":3}}", NULL, "field \"sample.answer\""},
        {"{\"answer\":\"肺炎\",\"prediction\":\"x\"}", "{\"threshold\":2}", "\"threshold\""},
        {"{\"answer\":\"肺炎\",\"prediction\":\"x\"}", "{\"system\":\"icd9\"}", "\"system\""},
        {"{\"answer\":\"肺炎\",\"prediction\":\"x\"}", "{\"link\":\"magic\"}", "\"link\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        t = s_run(w, VERIFY, bad[i][0], bad[i][1]);
        if (!t.failed || !strstr(t.reason, bad[i][2]))
            fail_msg("input %s: expected a failure mentioning %s, got \"%s\"", bad[i][0], bad[i][2],
                     t.failed ? t.reason : "success");
        assert_int_equal(t.retryable, 0);
    }
}

/* several answers: mcq letters as sets (exact set = correct, partial credit by
 * overlap), case diagnoses as lists (a numbered gold is split item by item, and
 * the answer's final 诊断 lines are checked, not the differentials before them) */
static void test_verify_lists(void **state)
{
    s_world_t *w = *state;
    static const char mcq[] = "{\"answer\":%s,\"multi_answer\":true,\"options\":{\"A\":\"甲\","
                              "\"B\":\"乙\",\"C\":\"丙\",\"D\":\"丁\"},\"sample\":{\"answer\":\"%s\"}}";
    static const struct {
        const char *gold, *answer;
        double score;
        int correct;
    } m[] = {{"\"ABC\"", "答案：ABC", 1.0, 1},      {"\"ABC\"", "答案：CAB", 1.0, 1},
             {"\"ABC\"", "答案：AB", 2.0 / 3, 0},   {"\"ABC\"", "答案：ABCD", 0.75, 0},
             {"\"ABC\"", "答案：D", 0.0, 0},        {"[\"A\",\"C\"]", "答案：A、C", 1.0, 1},
             {"\"A,C\"", "最后选 AC", 1.0, 1}};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        char in[512];
        snprintf(in, sizeof in, mcq, m[i].gold, m[i].answer);
        s_result_t t = s_run(w, VERIFY, in, NULL);
        if (!t.done) fail_msg("%s: %s", in, t.reason);
        double sc = json_real_value(json_object_get(t.out, "score"));
        if (sc < m[i].score - 1e-6 || sc > m[i].score + 1e-6 ||
            json_is_true(json_object_get(t.out, "correct")) != m[i].correct)
            fail_msg("%s: score %g correct %d, expected %g %d", in, sc,
                     json_is_true(json_object_get(t.out, "correct")), m[i].score, m[i].correct);
        json_decref(t.out);
    }

    static const char gold[] = "1.冠状动脉粥样硬化性心脏病2.2型糖尿病3.高血压";
    char in[1024];
    /* every diagnosis named, after a differential that names another disease */
    snprintf(in, sizeof in,
             "{\"kind\":\"case\",\"diagnosis\":\"%s\",\"sample\":{\"answer\":\"鉴别诊断："
             "急性心肌梗死、肺炎。\\n诊断：\\n1. 冠心病\\n2. 2型糖尿病\\n3. 高血压\"}}",
             gold);
    s_result_t t = s_run(w, VERIFY, in, NULL);
    if (!t.done) fail_msg("%s", t.reason);
    double full = json_real_value(json_object_get(t.out, "score"));
    json_t *atoms = json_object_get(json_object_get(json_object_get(t.out, "explain"), "atoms"), "gold");
    assert_int_equal(json_array_size(atoms), 3);
    json_decref(t.out);
    assert_true(full >= 0.9);
    /* one of three: partial credit only */
    snprintf(in, sizeof in,
             "{\"kind\":\"case\",\"answer\":\"%s\",\"prediction\":\"诊断：冠心病\"}", gold);
    t = s_run(w, VERIFY, in, NULL);
    assert_int_equal(t.done, 1);
    double one = json_real_value(json_object_get(t.out, "score"));
    assert_true(one > 0.2 && one < 0.6);
    assert_false(json_is_true(json_object_get(t.out, "correct")));
    json_decref(t.out);
    /* one line per diagnosis, each with its own marker */
    snprintf(in, sizeof in,
             "{\"kind\":\"case\",\"answer\":\"%s\",\"prediction\":\"考虑肺炎可能。\\n主要诊断："
             "冠心病\\n次要诊断：2型糖尿病\\n其他诊断：高血压\"}",
             gold);
    t = s_run(w, VERIFY, in, NULL);
    assert_int_equal(t.done, 1);
    if (json_real_value(json_object_get(t.out, "score")) < 0.9)
        fail_msg("marker lines: score %g", json_real_value(json_object_get(t.out, "score")));
    json_decref(t.out);
    /* a gold given as an array works the same */
    t = s_run(w, VERIFY,
              "{\"kind\":\"case\",\"answer\":[\"冠状动脉粥样硬化性心脏病\",\"2型糖尿病\"],"
              "\"prediction\":\"诊断：1. 冠心病 2. 2型糖尿病\"}",
              NULL);
    assert_int_equal(t.done, 1);
    assert_true(json_real_value(json_object_get(t.out, "score")) >= 0.9);
    json_decref(t.out);
    t = s_run(w, VERIFY, "{\"kind\":\"case\",\"answer\":[\"肺炎\",3],\"prediction\":\"x\"}", NULL);
    assert_int_equal(t.failed, 1);
    assert_non_null(strstr(t.reason, "field \"answer[1]\""));
}

static void test_hack_handler(void **state)
{
    s_world_t *w = *state;
    s_result_t t = s_run(w, HACK,
                           "{\"question\":\"男，58岁，胸痛2小时，最可能的诊断是\",\"sample\":"
                           "{\"reasoning\":\"\",\"answer\":\"克里斯托弗综合征\"}}",
                           NULL);
    assert_int_equal(t.done, 1);
    assert_true(json_is_true(json_object_get(t.out, "hacked")));
    json_t *flags = json_object_get(t.out, "hack_flags");
    assert_int_equal(json_array_size(flags), 2);
    assert_string_equal(json_string_value(json_array_get(flags, 0)), "no_reasoning");
    assert_true(json_real_value(json_object_get(t.out, "hack_score")) == 0.0);
    json_t *d = json_object_get(t.out, "hack_detail");
    assert_int_equal(json_array_size(json_object_get(d, "unknown_entities")), 1);
    json_decref(t.out);

    t = s_run(
        w, HACK,
        "{\"question\":\"胸痛的常见原因\",\"response\":\"<think>胸痛常见于冠心病、心绞痛和急性"
        "心肌梗死，需要结合心电图判断。</think>冠心病\"}",
        "{\"min_chars\":10}");
    assert_int_equal(t.done, 1);
    assert_true(json_is_false(json_object_get(t.out, "hacked")));
    json_decref(t.out);

    t = s_run(w, HACK, "{\"question\":3,\"prediction\":\"x\"}", NULL);
    assert_true(t.failed && strstr(t.reason, "field \"question\""));
    t = s_run(w, HACK, "{\"prediction\":\"x\"}", "{\"repeat_min\":1}");
    assert_true(t.failed && strstr(t.reason, "\"repeat_min\""));
    t = s_run(w, HACK, "{\"prediction\":\"x\"}", "{\"ratio\":-1}");
    assert_true(t.failed && strstr(t.reason, "\"ratio\""));
}

static void test_tag_handler(void **state)
{
    s_world_t *w = *state;
    s_result_t t = s_run(w, TAG,
                           "{\"question\":\"冠心病胸痛应该吃什么药\",\"options\":{\"A\":"
                           "\"硝酸甘油片\",\"B\":\"阿莫西林胶囊\"}}",
                           NULL);
    assert_int_equal(t.done, 1);
    assert_string_equal(json_string_value(json_object_get(t.out, "intent")), "治疗方案");
    assert_string_equal(json_string_value(json_object_get(t.out, "category")), "药物");
    json_t *ent = json_object_get(t.out, "entities");
    assert_int_equal(json_array_size(json_object_get(ent, "drug")), 2);
    assert_int_equal(json_array_size(json_object_get(ent, "disease")), 1);
    assert_true(json_is_string(json_object_get(t.out, "terms_version")));
    json_decref(t.out);

    t = s_run(w, TAG, "{\"kind\":\"case\",\"text\":\"患者，男，58岁，胸痛2小时，心电图异常。\"}",
              NULL);
    assert_int_equal(t.done, 1);
    assert_string_equal(json_string_value(json_object_get(t.out, "category")), "疾病诊断");
    json_decref(t.out);

    t = s_run(w, TAG, "{\"question\":\"\"}", NULL);
    assert_true(t.failed && strstr(t.reason, "nothing to tag"));
    t = s_run(w, TAG, "{\"text\":[1]}", NULL);
    assert_true(t.failed && strstr(t.reason, "field \"text\""));
}

static void test_cot_handler(void **state)
{
    s_world_t *w = *state;
    s_result_t t =
        s_run(w, COT,
              "{\"question\":\"男，65岁，突发胸痛\",\"sample\":{\"reasoning\":"
              "\"男，65岁，突发胸痛。可能是急性心肌梗死。疼痛不是撕裂样，排除主动脉夹层。"
              "综上，答案是急性心肌梗死。\",\"answer\":\"急性心肌梗死\"}}",
              NULL);
    assert_int_equal(t.done, 1);
    json_t *steps = json_object_get(t.out, "cot_steps");
    assert_int_equal(json_array_size(steps), 4);
    assert_string_equal(json_string_value(json_object_get(json_array_get(steps, 0), "action")),
                        "restate");
    assert_string_equal(json_string_value(json_object_get(json_array_get(steps, 2), "action")),
                        "exclude");
    assert_string_equal(json_string_value(json_object_get(json_array_get(steps, 3), "text")),
                        "综上，答案是急性心肌梗死。");
    json_t *st = json_object_get(t.out, "cot_stats");
    assert_int_equal(json_integer_value(json_object_get(st, "hypotheses")), 2);
    double d = json_real_value(json_object_get(t.out, "reasoning_difficulty"));
    assert_true(d > 0 && d < 1);
    json_decref(t.out);

    /* no reasoning: zero steps, not an error; step texts can be left out */
    t = s_run(w, COT, "{\"prediction\":\"B\"}", "{\"step_text\":false}");
    assert_int_equal(t.done, 1);
    assert_int_equal(json_array_size(json_object_get(t.out, "cot_steps")), 0);
    json_decref(t.out);
    t = s_run(w, COT, "{\"response\":\"<think>第一步分析。第二步分析。第三步分析。</think>B\"}",
              "{\"max_steps\":2,\"step_text\":false}");
    assert_true(json_is_true(json_object_get(json_object_get(t.out, "cot_stats"), "truncated")));
    assert_null(json_object_get(json_array_get(json_object_get(t.out, "cot_steps"), 0), "text"));
    json_decref(t.out);
    t = s_run(w, COT, "{\"prediction\":\"B\"}", "{\"max_steps\":0}");
    assert_true(t.failed && strstr(t.reason, "\"max_steps\""));
}

static void test_setup_without_terms(void **state)
{
    (void)state;
    assay_taskrun_t *run = assay_taskrun_new(NULL, NULL);
    char err[256] = "";
    assert_true(assay_taskrun_prepare(run, "hack_check", err, sizeof err) < 0);
    assert_non_null(strstr(err, "terminology"));
    assert_true(assay_taskrun_prepare(run, "tag", err, sizeof err) < 0);
    assay_taskrun_destroy(&run);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verify_handler),      cmocka_unit_test(test_verify_lists),
        cmocka_unit_test(test_hack_handler),
        cmocka_unit_test(test_tag_handler),         cmocka_unit_test(test_cot_handler),
        cmocka_unit_test(test_setup_without_terms),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
