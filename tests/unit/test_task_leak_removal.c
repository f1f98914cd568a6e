/*  test_task_leak_removal.c: the leak_removal handler end to end on JSON records.
 *
 *  The executor is not part of this program: the task and runtime functions the
 *  handler calls are defined here (a task is an input, params, and the one
 *  outcome the handler reports), so the test links the handler's own sources
 *  rather than the assay_tasks library. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "worker/runtime.h"
#include "worker/task.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef ASSAY_TEST_DATA
#define ASSAY_TEST_DATA "tests/data"
#endif

extern const assay_handler_t assay_task_leak_removal;

struct assay_task {
    json_t *input, *params;
    json_t *output; /* set by done */
    int failed, retryable, outcomes;
    char reason[1024];
};

struct assay_runtime {
    const char *terms_path;
    void *shared;
    void (*shared_free)(void *);
};

const json_t *assay_task_input(const assay_task_t *task) { return task->input; }
const json_t *assay_task_params(const assay_task_t *task) { return task->params; }

void assay_task_done(assay_task_t *task, json_t *output)
{
    task->output = output;
    task->outcomes++;
}

void assay_task_fail(assay_task_t *task, int retryable, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(task->reason, sizeof task->reason, fmt, ap);
    va_end(ap);
    task->failed = 1;
    task->retryable = retryable;
    task->outcomes++;
}

const char *assay_param_str(const assay_task_t *task, const char *key, const char *def)
{
    const char *v = json_string_value(json_object_get(task->params, key));
    return v ? v : def;
}

double assay_param_num(const assay_task_t *task, const char *key, double def)
{
    const json_t *v = json_object_get(task->params, key);
    return json_is_number(v) ? json_number_value(v) : def;
}

int assay_param_bool(const assay_task_t *task, const char *key, int def)
{
    const json_t *v = json_object_get(task->params, key);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

const char *assay_runtime_setting(const assay_runtime_t *rt, const char *key, const char *def)
{
    return strcmp(key, "terms") == 0 && rt->terms_path ? rt->terms_path : def;
}

uint64_t assay_task_id(const assay_task_t *task)
{
    (void)task;
    return 1;
}

/* the LLM pass (rewrite_endpoint, judge_endpoint) runs against a real endpoint in
 * tests/integration/leak_llm.sh; here it must not start */
assay_runtime_t *assay_task_runtime(const assay_task_t *task)
{
    (void)task;
    return NULL;
}

void assay_task_fail_ratelimited(assay_task_t *task, const char *endpoint,
                                 uint32_t retry_after_ms, const char *fmt, ...)
{
    (void)endpoint;
    (void)retry_after_ms;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(task->reason, sizeof task->reason, fmt, ap);
    va_end(ap);
    task->failed = task->retryable = 1;
    task->outcomes++;
}

const assay_config_t *assay_runtime_config(const assay_runtime_t *rt)
{
    (void)rt;
    return NULL;
}

assay_http_t *assay_runtime_http(assay_runtime_t *rt)
{
    (void)rt;
    return NULL;
}

void *assay_runtime_shared(assay_runtime_t *rt, const char *name,
                           void *(*load)(assay_runtime_t *rt, char *err, size_t errlen),
                           void (*free_fn)(void *obj), char *err, size_t errlen)
{
    if (strcmp(name, "terms") != 0) {
        snprintf(err, errlen, "no shared \"%s\" in this test", name);
        return NULL;
    }
    if (!rt->shared) {
        rt->shared = load(rt, err, errlen);
        rt->shared_free = free_fn;
    }
    return rt->shared;
}

static assay_runtime_t s_rt = {ASSAY_TEST_DATA "/leak", NULL, NULL};
static void *s_state;

static int s_setup(void **state)
{
    (void)state;
    char err[512] = "";
    int rc = assay_task_leak_removal.setup(&s_rt, &s_state, err, sizeof err);
    if (rc != 0) fprintf(stderr, "setup: %s\n", err);
    return rc;
}

static int s_teardown(void **state)
{
    (void)state;
    assay_task_leak_removal.teardown(s_state);
    if (s_rt.shared) s_rt.shared_free(s_rt.shared);
    return 0;
}

/* run one task from JSON text; the caller releases input/params/output */
static void s_run(assay_task_t *t, const char *input, const char *params)
{
    memset(t, 0, sizeof *t);
    json_error_t jerr;
    t->input = json_loads(input, 0, &jerr);
    if (!t->input) t->input = json_string(input); /* not an object: bad input on purpose */
    t->params = json_loads(params ? params : "{}", 0, &jerr);
    assay_task_leak_removal.run(s_state, t);
    assert_int_equal(t->outcomes, 1);
}

static void s_release(assay_task_t *t)
{
    json_decref(t->input);
    json_decref(t->params);
    json_decref(t->output);
}

static void test_record(void **state)
{
    (void)state;
    assay_task_t t;
    s_run(&t,
          "{\"id\": \"c1\", \"text\": \"主诉：心悸3天。\\n现病史：患者3天前出现心悸，外院诊断“房颤”，"
          "口服利伐沙班片。门诊以“心房颤动”收入我科。\\n查体：心律绝对不齐，心率110次/分。\","
          "\"fields\": {\"入院诊断\": \"1.心房颤动\", \"出院医嘱\": \"继续服用华法林\"},"
          "\"diagnosis\": \"1.心房颤动\"}",
          NULL);
    assert_false(t.failed);
    const char *clean = json_string_value(json_object_get(t.output, "clean_text"));
    assert_non_null(clean);
    assert_string_equal(clean, "主诉：心悸3天。\n现病史：患者3天前出现心悸。\n查体：心律绝对不齐，心率110次/分。");
    const char *q = json_string_value(json_object_get(t.output, "question"));
    assert_non_null(strstr(q, clean));
    assert_non_null(strstr(q, "最可能的诊断"));
    assert_string_equal(json_string_value(json_object_get(t.output, "answer")), "1.心房颤动");
    json_t *removed = json_object_get(t.output, "removed");
    assert_true(json_array_size(removed) >= 5);
    json_t *first = json_array_get(removed, 0);
    assert_non_null(json_string_value(json_object_get(first, "span")));
    assert_non_null(json_string_value(json_object_get(first, "reason")));
    assert_true(json_is_number(json_object_get(t.output, "residual_leak")));
    assert_true(json_is_false(json_object_get(t.output, "residual_flagged")));
    s_release(&t);
}

static void test_codes(void **state)
{
    (void)state;
    assay_task_t t;
    s_run(&t,
          "{\"text\": \"主诉：右下腹痛1天。\\n现病史：外院疑诊阑尾炎，编码K35.900。\","
          "\"diagnosis\": {\"codes\": [\"K35.900\"]}}",
          NULL);
    assert_false(t.failed);
    assert_string_equal(json_string_value(json_object_get(t.output, "answer")), "急性阑尾炎");
    const char *clean = json_string_value(json_object_get(t.output, "clean_text"));
    assert_null(strstr(clean, "阑尾炎"));
    assert_null(strstr(clean, "K35"));
    s_release(&t);
}

static void s_expect_fail(const char *input, const char *params, const char *want)
{
    assay_task_t t;
    s_run(&t, input, params);
    if (!t.failed || !strstr(t.reason, want)) fprintf(stderr, "reason: %s\n", t.reason);
    assert_true(t.failed);
    assert_false(t.retryable); /* bad input is permanent */
    assert_non_null(strstr(t.reason, want));
    s_release(&t);
}

static void test_bad_input(void **state)
{
    (void)state;
    s_expect_fail("[1,2]", NULL, "input must be a JSON object");
    s_expect_fail("{\"diagnosis\": \"心房颤动\"}", NULL, "no case text");
    s_expect_fail("{\"text\": \"主诉：心悸\"}", NULL, "missing field \"diagnosis\"");
    s_expect_fail("{\"text\": \"主诉：心悸\", \"diagnosis\": \"\"}", NULL, "holds no diagnosis");
    s_expect_fail("{\"text\": \"主诉：心悸\", \"diagnosis\": 3}", NULL, "must be a string");
    s_expect_fail("{\"text\": 5, \"diagnosis\": \"心房颤动\"}", NULL, "\"text\" must be a string");
    s_expect_fail("{\"text\": \"患者心悸，心房颤动\", \"diagnosis\": \"心房颤动\"}", NULL,
                  "no section header");
    s_expect_fail("{\"text\": \"主诉：心悸，心房颤动\", \"diagnosis\": \"心房颤动\"}",
                  "{\"max_bytes\": 10}", "more than the limit of 10");
    s_expect_fail("{\"text\": \"主诉：心悸\", \"diagnosis\": {\"codes\": [\"Z99.999\"]}}", NULL,
                  "holds no diagnosis");
    s_expect_fail("{\"text\": \"主诉：心悸\", \"diagnosis\": \"心房颤动\"}",
                  "{\"rewrite_endpoint\": \"teacher\", \"max_attempts\": 0}",
                  "1 <= max_attempts <= 20");
    s_expect_fail("{\"text\": \"主诉：心悸\", \"diagnosis\": \"心房颤动\"}",
                  "{\"judge_endpoint\": \"teacher\", \"rewrite_max_ratio\": 0.1}",
                  "rewrite_min_ratio <= rewrite_max_ratio");
    s_expect_fail("{\"text\": \"主诉：心悸\", \"diagnosis\": \"心房颤动\"}",
                  "{\"flag_threshold\": 2}", "invalid parameters");
    s_expect_fail("{\"text\": \"主诉：心悸\", \"diagnosis\": \"心房颤动\"}",
                  "{\"max_treatment_diseases\": -1}", "invalid parameters");
    /* and the next task runs normally */
    assay_task_t t;
    s_run(&t, "{\"text\": \"患者心悸，心房颤动\", \"diagnosis\": \"心房颤动\"}",
          "{\"allow_unsectioned\": true}");
    assert_false(t.failed);
    assert_string_equal(json_string_value(json_object_get(t.output, "clean_text")), "患者心悸");
    s_release(&t);
}

/* the note of the output that mentions part, or NULL */
static const char *s_note_with(const json_t *out, const char *part)
{
    size_t i;
    const json_t *v;
    json_array_foreach(json_object_get(out, "notes"), i, v)
    {
        const char *n = json_string_value(v);
        if (n && strstr(n, part)) return n;
    }
    return NULL;
}

/* a null (or non-string) section is absent and noted, never a failed record */
static void test_null_sections(void **state)
{
    (void)state;
    assay_task_t t;
    s_run(&t,
          "{\"text\": \"主诉：心悸3天。\\n查体：心率110次/分。\", \"fields\": {\"入院诊断\": null, "
          "\"诊疗经过\": 12, \"出院医嘱\": [\"继续服药\"], \"出院情况\": {\"a\": 1}, \"辅助检查\": "
          "\"血钾3.5mmol/L\", \"其他\": true}, \"diagnosis\": \"心房颤动\"}",
          NULL);
    if (t.failed) fprintf(stderr, "reason: %s\n", t.reason);
    assert_false(t.failed);
    assert_string_equal(json_string_value(json_object_get(t.output, "clean_text")),
                        "主诉：心悸3天。\n查体：心率110次/分。\n辅助检查：血钾3.5mmol/L");
    assert_int_equal(json_array_size(json_object_get(t.output, "notes")), 5);
    assert_non_null(s_note_with(t.output, "fields \"入院诊断\" is null, not a string: treated as absent"));
    assert_non_null(s_note_with(t.output, "\"诊疗经过\" is a number"));
    assert_non_null(s_note_with(t.output, "\"出院医嘱\" is an array"));
    assert_non_null(s_note_with(t.output, "\"出院情况\" is an object"));
    assert_non_null(s_note_with(t.output, "\"其他\" is a boolean"));
    s_release(&t);

    /* a null text with sections, null codes, null diagnosis items: absent too */
    s_run(&t,
          "{\"text\": null, \"sections\": {\"现病史\": \"患者心悸，外院诊断房颤。\", \"入院诊断\": null},"
          " \"diagnosis\": [null, \"心房颤动\", {\"text\": null, \"code\": null, \"codes\": null}],"
          " \"diagnosis_codes\": null}",
          NULL);
    if (t.failed) fprintf(stderr, "reason: %s\n", t.reason);
    assert_false(t.failed);
    assert_string_equal(json_string_value(json_object_get(t.output, "clean_text")), "现病史：患者心悸。");
    assert_non_null(s_note_with(t.output, "field \"text\" is null"));
    assert_non_null(s_note_with(t.output, "\"入院诊断\" is null"));
    s_release(&t);

    /* a record without a clean field is an output without notes */
    s_run(&t, "{\"text\": \"主诉：心悸3天。\", \"diagnosis\": \"心房颤动\"}", NULL);
    assert_false(t.failed);
    assert_null(json_object_get(t.output, "notes"));
    s_release(&t);
}

/* where no text is left, or a field has a type nothing can be made of, the
 * error names the field, what it is and what was expected */
static void test_field_types(void **state)
{
    (void)state;
    s_expect_fail("{\"text\": null, \"fields\": {\"入院诊断\": null}, \"diagnosis\": \"心房颤动\"}",
                  NULL, "no case text");
    s_expect_fail("{\"text\": null, \"fields\": {\"入院诊断\": null}, \"diagnosis\": \"心房颤动\"}",
                  NULL, "treated as absent");
    s_expect_fail("{\"text\": [\"主诉\"], \"diagnosis\": \"心房颤动\"}", NULL,
                  "field \"text\" must be a string or null, not an array");
    s_expect_fail("{\"text\": {\"a\": 1}, \"diagnosis\": \"心房颤动\"}", NULL, "not an object");
    s_expect_fail("{\"text\": \"主诉：心悸\", \"sections\": 5, \"diagnosis\": \"心房颤动\"}", NULL,
                  "field \"sections\" must be an object of section name to text, not a number");
    s_expect_fail("{\"text\": \"主诉：心悸\", \"fields\": [\"a\"], \"diagnosis\": \"心房颤动\"}", NULL,
                  "field \"fields\" must be an object");
    s_expect_fail("{\"text\": \"主诉：心悸\", \"diagnosis\": [\"心房颤动\", 3]}", NULL,
                  "field \"diagnosis[1]\" must be a string or an object, not a number");
    s_expect_fail("{\"text\": \"主诉：心悸\", \"diagnosis\": [[\"心房颤动\"]]}", NULL,
                  "\"diagnosis[0]\" must be a string or an object, not an array");
    s_expect_fail("{\"text\": \"主诉：心悸\", \"diagnosis\": true}", NULL,
                  "must be a string, an array or an object, not a boolean");
    s_expect_fail("{\"text\": \"主诉：心悸\", \"diagnosis\": {\"text\": 5}}", NULL,
                  "field \"diagnosis.text\" must be a string, not a number");
    s_expect_fail("{\"text\": \"主诉：心悸\", \"diagnosis\": {\"codes\": {\"a\": 1}}}", NULL,
                  "field \"diagnosis.codes\" must be an array of strings, not an object");
    s_expect_fail("{\"text\": \"主诉：心悸\", \"diagnosis\": {\"codes\": [7]}}", NULL,
                  "diagnosis code must be a non-empty string, not a number");
    s_expect_fail("{\"text\": \"主诉：心悸\", \"diagnosis\": \"心房颤动\", \"diagnosis_codes\": 5}",
                  NULL, "field \"diagnosis_codes\" must be an array of strings");
    s_expect_fail("{\"text\": \"主诉：心悸\", \"diagnosis\": null}", NULL, "missing field \"diagnosis\"");
}

/* a gold item in a relative's history is masked, the clause stays, and the
 * audit says which entries were masked rather than removed */
static void test_family_masked(void **state)
{
    (void)state;
    assay_task_t t;
    s_run(&t,
          "{\"text\": \"主诉：心悸3天。\\n家族史：母亲患“心房颤动”，父亲体健。\\n现病史：外院诊断心房颤动。\","
          " \"diagnosis\": \"心房颤动\"}",
          NULL);
    assert_false(t.failed);
    assert_string_equal(json_string_value(json_object_get(t.output, "clean_text")),
                        "主诉：心悸3天。\n家族史：母亲患“某病”，父亲体健。");
    size_t i, masked = 0, removed = 0;
    json_t *e;
    json_array_foreach(json_object_get(t.output, "removed"), i, e)
    {
        const char *action = json_string_value(json_object_get(e, "action"));
        assert_non_null(action);
        masked += strcmp(action, "masked") == 0;
        removed += strcmp(action, "removed") == 0;
    }
    assert_int_equal(masked, 1);
    assert_true(removed >= 1);
    assert_true(json_is_false(json_object_get(t.output, "residual_flagged")));
    s_release(&t);

    /* the past history stays as evidence unless the task hides it */
    static const char in[] = "{\"text\": \"既往史：“房颤”病史3年，心室率最快150次/分。\", "
                             "\"diagnosis\": \"心房颤动\"}";
    s_run(&t, in, NULL);
    assert_string_equal(json_string_value(json_object_get(t.output, "clean_text")),
                        "既往史：“房颤”病史3年，心室率最快150次/分。");
    s_release(&t);
    s_run(&t, in, "{\"hide_history\": true}");
    assert_string_equal(json_string_value(json_object_get(t.output, "clean_text")),
                        "既往史：心室率最快150次/分。");
    s_release(&t);
}

static void test_fail_on_leak(void **state)
{
    (void)state;
    /* a section name is kept as given, so one naming the diagnosis still leaks
     * after cleaning: the residual check flags the case instead of passing it on */
    assay_task_t t;
    s_run(&t, "{\"text\": \"主诉：心悸\\n现病史：心悸。\", \"sections\": {\"房颤\": \"一\"},"
              "\"diagnosis\": \"心房颤动\"}",
          NULL);
    assert_false(t.failed);
    assert_true(json_is_true(json_object_get(t.output, "residual_flagged")));
    s_release(&t);
    s_expect_fail("{\"text\": \"主诉：心悸\\n现病史：心悸。\", \"sections\": {\"房颤\": \"一\"},"
                  "\"diagnosis\": \"心房颤动\"}",
                  "{\"fail_on_leak\": true}", "still names the diagnosis");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record),
        cmocka_unit_test(test_codes),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_null_sections),
        cmocka_unit_test(test_field_types),
        cmocka_unit_test(test_family_masked),
        cmocka_unit_test(test_fail_on_leak),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
