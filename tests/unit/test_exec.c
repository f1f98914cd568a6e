/*  test_exec.c: the executor's checks of declared parameters (every kind), and
 *  poison inputs that used to kill a worker, run through the real executor and
 *  the real handlers: each must end as one clear, permanent failure.
 *
 *  Endpoints point at a closed loopback port: nothing here needs a network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/config.h"
#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "worker/tasks/exec.h"
#include "worker/tasks/handlers.h"
#include "worker/llm/prompt.h"

#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef ASSAY_SOURCE_DIR
#define ASSAY_SOURCE_DIR "."
#endif

typedef struct {
    int n, ok, retryable;
    char reason[1024];
    json_t *output;
} s_seen_t;

static void s_done(const assay_exec_result_t *r, void *arg)
{
    s_seen_t *s = arg;
    s->n++;
    s->ok = r->ok;
    s->retryable = r->retryable;
    snprintf(s->reason, sizeof s->reason, "%s", r->reason ? r->reason : "");
    json_decref(s->output);
    s->output = r->ok ? json_deep_copy(r->output) : NULL;
}

static assay_config_t *s_config(void)
{
    assay_config_t *cfg = assay_config_new();
    assay_config_set(cfg, "endpoint.sim.base_url", "http://127.0.0.1:1/v1");
    assay_config_set(cfg, "endpoint.sim.model", "m");
    return cfg;
}

/* run one task of kind to its end; returns what the executor reported */
static s_seen_t s_task(assay_exec_t *e, s_seen_t *s, const char *kind, const char *input,
                       const char *params)
{
    json_error_t je;
    json_t *in = json_loads(input, 0, &je);
    if (!in) fail_msg("bad test input %s: %s", input, je.text);
    json_t *p = params ? json_loads(params, 0, &je) : NULL;
    if (params && !p) fail_msg("bad test params %s: %s", params, je.text);
    s->n = 0;
    assert_int_equal(assay_exec_start(e, 1, 1, kind, in, p, 10000, NULL), 0);
    int64_t end = assay_clock_ms() + 8000;
    while (assay_exec_inflight(e) > 0 && assay_clock_ms() < end) {
        struct pollfd fds[4];
        int n = assay_exec_pollfds(e, fds, 4);
        long t = assay_exec_timeout_ms(e);
        poll(fds, (nfds_t)n, t < 0 || t > 100 ? 100 : (int)t);
        assay_exec_process(e, fds, n);
    }
    assert_int_equal(s->n, 1);
    return *s;
}

static void s_expect_fail(assay_exec_t *e, s_seen_t *s, const char *kind, const char *input,
                          const char *params, const char *needle)
{
    s_task(e, s, kind, input, params);
    if (s->ok || !strstr(s->reason, needle))
        fail_msg("%s %s %s: expected a failure mentioning '%s', got %s \"%s\"", kind, input,
                 params ? params : "", needle, s->ok ? "success" : "failure", s->reason);
    assert_int_equal(s->retryable, 0);
}

static const char s_mcq[] =
    "{\"question\":\"q\",\"options\":{\"A\":\"x\",\"B\":\"y\"},\"answer\":\"A\"}";

/* the reproducers: a worker died of these (s_gen_free walked samples
 * before they were allocated) */
static void test_generate_poison(void **state)
{
    (void)state;
    assay_config_t *cfg = s_config();
    s_seen_t s = {0};
    assay_exec_t *e = assay_exec_new(cfg, NULL, s_done, &s);
    s_expect_fail(e, &s, "generate", "{\"question\":\"q\",\"options\":null,\"answer\":\"A\"}",
                  "{\"template\":\"answer_mcq\"}", "needs field \"options\"");
    s_expect_fail(e, &s, "generate", "{\"question\":\"q\"}", "{\"template\":\"answer_mcq\"}",
                  "needs field \"options\"");
    s_expect_fail(e, &s, "generate", s_mcq, "{\"temperature\":5}",
                  "parameter \"temperature\": expected a number from 0 to 2, got 5");
    s_expect_fail(e, &s, "generate", s_mcq, "{\"reasoning_effort\":\"max\"}", "low,medium,high");
    s_expect_fail(e, &s, "generate", s_mcq, "{\"template\":\"../etc/passwd\"}",
                  "invalid template name");
    s_expect_fail(e, &s, "generate", s_mcq, "{\"template_version\":99}", "is version");
    s_expect_fail(e, &s, "generate", "{\"question\":\"q\",\"cached\":5}", "{}",
                  "field \"cached\"");
    s_expect_fail(e, &s, "generate", "{\"question\":\"q\",\"cached\":[1]}", "{}", "cached[0]");
    s_expect_fail(e, &s, "generate", s_mcq, "{\"endpoint\":\"nosuch\"}", "nosuch");
    assay_exec_destroy(&e);
    json_decref(s.output);
    assay_config_destroy(&cfg);
}

/* unknown names, wrong types, out-of-range and non-finite values, for every kind:
 * refused before the handler runs, with the parameter named */
static void test_declared_params(void **state)
{
    (void)state;
    assay_config_t *cfg = s_config();
    s_seen_t s = {0};
    json_t *rt = json_pack("{s:s}", "terms", ASSAY_SOURCE_DIR "/tests/data/verify");
    assay_exec_t *e = assay_exec_new(cfg, rt, s_done, &s);
    for (size_t i = 0; i < assay_handler_count(); i++) {
        const char *kind = assay_handler_at(i)->kind;
        s_expect_fail(e, &s, kind, s_mcq, "{\"temprature\":0.5}",
                      "unknown parameter \"temprature\" for kind");
        /* every declared one: a value of the wrong type is refused, naming it */
        for (const assay_param_spec_t *p = assay_handler_at(i)->params; p && p->name; p++) {
            char params[256], needle[128];
            snprintf(params, sizeof params, "{\"%s\": %s}", p->name,
                     p->type == ASSAY_PARAM_STRING ? "7" : "{\"x\":1}");
            snprintf(needle, sizeof needle, "parameter \"%s\": expected", p->name);
            s_expect_fail(e, &s, kind, s_mcq, params, needle);
            if (p->type == ASSAY_PARAM_INT || p->type == ASSAY_PARAM_NUMBER) {
                snprintf(params, sizeof params, "{\"%s\": \"nan\"}", p->name);
                s_expect_fail(e, &s, kind, s_mcq, params, needle);
                snprintf(params, sizeof params, "{\"%s\": %.17g}", p->name, p->max * 2 + 1);
                s_expect_fail(e, &s, kind, s_mcq, params, needle);
            }
        }
    }
    /* the message lists what is accepted */
    s_expect_fail(e, &s, "noop", s_mcq, "{\"dealy_ms\":1}", "(accepted: echo, delay_ms, fail)");
    /* right types pass, numbers may come as strings (`assay run --param n=2` style) */
    s_task(e, &s, "noop", s_mcq, "{\"delay_ms\":\"1\",\"echo\":\"no\"}");
    assert_true(s.ok);
    s_expect_fail(e, &s, "cot_actions", s_mcq, "{\"max_steps\":2.5}", "expected an integer");
    assay_exec_destroy(&e);
    json_decref(s.output);
    assay_config_destroy(&cfg);
}

/* process-wide params (assay run --param) are checked when the kind is prepared */
static void test_runtime_params(void **state)
{
    (void)state;
    assay_config_t *cfg = s_config();
    s_seen_t s = {0};
    char err[512];
    assay_exec_t *e =
        assay_exec_new(cfg, json_pack("{s:f}", "temprature", 0.5), s_done, &s);
    assert_int_equal(assay_exec_prepare(e, "generate", err, sizeof err), ASSAY_EINVAL);
    assert_non_null(strstr(err, "unknown parameter \"temprature\" for kind generate (accepted: "
                               "endpoint, template"));
    assay_exec_destroy(&e);
    e = assay_exec_new(cfg, json_pack("{s:s, s:i}", "endpoint", "sim", "n", 2), s_done, &s);
    assert_int_equal(assay_exec_prepare(e, "generate", err, sizeof err), 0);
    assay_exec_destroy(&e);
    assert_int_equal(assay_exec_check_params("generate", NULL, 0, err, sizeof err), 0);
    assert_int_equal(assay_exec_check_params("nokind", NULL, 0, err, sizeof err), ASSAY_ENOTFOUND);
    assert_non_null(assay_exec_param_spec("generate", "n"));
    assert_null(assay_exec_param_spec("generate", "terms"));
    assay_config_destroy(&cfg);
}

/* wrong types in the input of every kind: a failure or a result, never a crash */
static void test_hostile_inputs(void **state)
{
    (void)state;
    assay_config_t *cfg = s_config();
    s_seen_t s = {0};
    json_t *rt = json_pack("{s:s}", "terms", ASSAY_SOURCE_DIR "/tests/data/verify");
    assay_exec_t *e = assay_exec_new(cfg, rt, s_done, &s);
    static const char *const inputs[] = {
        "{}",
        "{\"question\":null,\"options\":null,\"answer\":null,\"text\":null,\"diagnosis\":null}",
        "{\"question\":1,\"options\":[1],\"answer\":{\"x\":1},\"text\":[],\"sample\":7}",
        "{\"question\":\"\",\"options\":{},\"answer\":\"\",\"text\":\"\",\"diagnosis\":\"\","
        "\"sample\":{\"answer\":\"\"}}",
        "{\"options\":{\"A\":null,\"Z\":\"x\"},\"answer\":[null],\"response\":\"\"}",
        "{\"text\":\"x\",\"diagnosis\":[[[\"a\"]],{\"codes\":5}],\"sections\":[],\"prediction\":"
        "\"y\"}",
        "{\"kind\":\"case\",\"answer\":[\"肺炎\",\"\"],\"gold_codes\":[],\"prediction\":\"诊断：\"}",
        "{\"question\":\"q\",\"priority\":-9223372036854775807,\"cached\":[{\"index\":-1},"
        "{\"index\":99999999999}]}",
    };
    for (size_t i = 0; i < assay_handler_count(); i++) {
        const char *kind = assay_handler_at(i)->kind;
        for (size_t k = 0; k < sizeof inputs / sizeof inputs[0]; k++) {
            int llm = !strcmp(kind, "generate") || !strcmp(kind, "judge") ||
                      !strcmp(kind, "leak_removal");
            s_task(e, &s, kind, inputs[k], llm ? "{\"max_attempts\":1}" : "{}");
            if (!s.ok && !*s.reason) fail_msg("%s %s: a failure without a reason", kind, inputs[k]);
        }
    }
    assay_exec_destroy(&e);
    json_decref(s.output);
    assay_config_destroy(&cfg);
}

/* a reason cut at the executor's limit stays valid UTF-8 (it becomes JSON and a
 * Postgres text column, where a broken sequence fails the whole write) */
static void test_long_reason_utf8(void **state)
{
    (void)state;
    s_seen_t s = {0};
    assay_exec_t *e = assay_exec_new(NULL, NULL, s_done, &s);
    assay_buf_t in = ASSAY_BUF_INIT;
    for (int pad = 0; pad < 3; pad++) { /* every alignment of the cut */
        assay_buf_reset(&in);
        assay_buf_adds(&in, "{\"kind\":\"mcq\",\"options\":{\"A\":\"x\",\"B\":\"y\"},"
                            "\"prediction\":\"A\",\"answer\":\"");
        for (int i = 0; i <= pad; i++)
            assay_buf_adds(&in, "Z");
        for (int i = 0; i < 700; i++)
            assay_buf_adds(&in, "诊");
        assay_buf_adds(&in, "\"}");
        s_task(e, &s, "verify", in.data, NULL);
        assert_false(s.ok);
        assert_true(strlen(s.reason) < 1024 && strlen(s.reason) > 900);
        if (!assay_utf8_valid(s.reason, strlen(s.reason)))
            fail_msg("reason is not valid UTF-8 (%zu bytes)", strlen(s.reason));
    }
    assay_buf_release(&in);
    assay_exec_destroy(&e);
}

/* a prompts directory with one template, for seeing which file generate opens */
static void s_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* generate asks for what the gold holds: answer_mcq becomes answer_mcq_multi for
 * several answer letters, a case template its _multi twin for several diagnoses */
static void test_generate_fits_template(void **state)
{
    (void)state;
    char dir[] = "/tmp/assay_test_exec_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    static const char *const names[] = {"answer_mcq", "answer_case"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s.txt", dir, names[i]);
        s_write(path, "# version: 1\n@user\n{{question?}}{{text?}}\n");
    }
    assay_config_t *cfg = s_config();
    s_seen_t s = {0};
    assay_exec_t *e =
        assay_exec_new(cfg, json_pack("{s:s}", "prompts_dir", dir), s_done, &s);
    /* the single-answer file exists: a single-answer item gets as far as the endpoint */
    s_task(e, &s, "generate", s_mcq, "{\"template\":\"answer_mcq\",\"max_attempts\":1}");
    assert_non_null(strstr(s.reason, "127.0.0.1"));
    s_expect_fail(e, &s, "generate",
                  "{\"question\":\"q\",\"options\":{\"A\":\"x\",\"B\":\"y\"},\"answer\":\"AB\"}",
                  "{\"template\":\"answer_mcq\"}", "answer_mcq_multi.txt");
    s_expect_fail(e, &s, "generate",
                  "{\"question\":\"q\",\"options\":{\"A\":\"x\",\"B\":\"y\"},\"answer\":\"A\","
                  "\"multi_answer\":true}",
                  NULL, "answer_mcq_multi.txt");
    s_expect_fail(e, &s, "generate", "{\"text\":\"病历\",\"diagnosis\":\"1.心房颤动2.高血压病\"}",
                  NULL, "answer_case_multi.txt");
    s_task(e, &s, "generate", "{\"text\":\"病历\",\"diagnosis\":\"急性阑尾炎\"}",
           "{\"max_attempts\":1}");
    assert_non_null(strstr(s.reason, "127.0.0.1"));
    /* a pinned version names one file: no substitution */
    s_task(e, &s, "generate",
           "{\"question\":\"q\",\"options\":{\"A\":\"x\",\"B\":\"y\"},\"answer\":\"AB\"}",
           "{\"template\":\"answer_mcq\",\"template_version\":1,\"max_attempts\":1}");
    assert_non_null(strstr(s.reason, "127.0.0.1"));
    assay_exec_destroy(&e);
    json_decref(s.output);
    assay_config_destroy(&cfg);
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s.txt", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

/* the shipped _multi templates parse, carry a version and ask for every answer */
static void test_shipped_multi_templates(void **state)
{
    (void)state;
    static const char *const names[] = {"answer_mcq_multi", "answer_case_multi",
                                        "answer_case_clean_multi"};
    for (size_t i = 0; i < 3; i++) {
        char err[512];
        assay_prompt_t *p = assay_prompt_load(ASSAY_SOURCE_DIR "/ops/prompts", names[i], err,
                                              sizeof err);
        if (!p) fail_msg("%s", err);
        assert_true(assay_prompt_version(p) >= 1);
        json_t *item = json_pack("{s:s, s:{s:s, s:s}, s:s, s:s, s:s}", "question", "题干",
                                 "options", "A", "甲", "B", "乙", "text", "病历", "clean_text",
                                 "病历", "id", "c1");
        json_t *m = assay_prompt_render(p, item, err, sizeof err);
        assert_non_null(m);
        char *t = json_dumps(m, 0);
        assert_null(strstr(t, "唯一"));
        assert_true(strstr(t, "全部") != NULL);
        free(t);
        json_decref(m);
        json_decref(item);
        assay_prompt_destroy(&p);
    }
}

static void test_gold_split(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        size_t n;
        const char *lines;
    } cases[] = {
        {"\"急性阑尾炎\"", 1, "急性阑尾炎"},
        {"\"1.心房颤动2.高血压病（3级，很高危）3.陈旧性脑梗死\"", 3,
         "心房颤动\n高血压病（3级，很高危）\n陈旧性脑梗死"},
        {"\"1.冠心病2.2型糖尿病\"", 2, "冠心病\n2型糖尿病"},
        {"\"1、头晕原因待查2、高血压病\"", 2, "头晕原因待查\n高血压病"},
        {"\"（1）肺炎（2）胸腔积液\"", 2, "肺炎\n胸腔积液"},
        {"\"①肺炎②胸腔积液\"", 2, "肺炎\n胸腔积液"},
        {"\"高血压；糖尿病\"", 2, "高血压\n糖尿病"},
        {"\"2型糖尿病\"", 1, "2型糖尿病"},
        {"[\"肺炎\", \"\", {\"name\": \"哮喘\"}, 3]", 2, "肺炎\n哮喘"},
        {"\"\"", 0, ""},
        {"null", 0, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *v = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
        assay_buf_t b = ASSAY_BUF_INIT;
        size_t n = assay_prompt_gold_split(v, &b);
        if (n != cases[i].n || strcmp(b.data ? b.data : "", cases[i].lines) != 0)
            fail_msg("%s: got %zu items \"%s\"", cases[i].json, n, b.data ? b.data : "");
        assay_buf_release(&b);
        json_decref(v);
    }
    json_t *item = json_pack("{s:s, s:b}", "answer", "A", "multi_answer", 1);
    assert_int_equal(assay_prompt_gold_letters(item), 2);
    json_object_set_new(item, "answer", json_string("A,C,D"));
    assert_int_equal(assay_prompt_gold_letters(item), 3);
    json_object_set_new(item, "multi_answer", json_false());
    json_object_set_new(item, "answer", json_string("急性阑尾炎"));
    assert_int_equal(assay_prompt_gold_letters(item), 0);
    json_object_set_new(item, "gold_items", json_pack("[s,s]", "甲", "乙"));
    assert_int_equal(assay_prompt_gold_count(item), 2);
    json_decref(item);
}

int main(void)
{
    assay_log_init("test", ASSAY_LOG_OFF, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_poison),     cmocka_unit_test(test_declared_params),
        cmocka_unit_test(test_runtime_params),      cmocka_unit_test(test_hostile_inputs),
        cmocka_unit_test(test_generate_fits_template),
        cmocka_unit_test(test_shipped_multi_templates), cmocka_unit_test(test_gold_split),
        cmocka_unit_test(test_long_reason_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
