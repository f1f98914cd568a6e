/*  test_spec.c: pipeline spec checks (ops/cli/spec.h) that need no database: stage
 *  params against the kinds' declared parameters, filter bands, endpoint and
 *  template names against a configuration and a prompts directory, and items
 *  against what the stages read from them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/config.h"
#include "ops/cli/spec.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef ASSAY_SOURCE_DIR
#define ASSAY_SOURCE_DIR "."
#endif

static json_t *s_spec(const char *stages)
{
    char text[4096];
    snprintf(text, sizeof text, "{\"name\": \"t\", \"stages\": %s}", stages);
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j) fail_msg("bad test spec %s: %s", text, je.text);
    return j;
}

/* validate; expect needle in the error (NULL: expect success) */
static void s_validate(const char *stages, const char *needle)
{
    json_t *spec = s_spec(stages);
    char err[1024] = "";
    int rc = assay_spec_validate(spec, err, sizeof err);
    if (needle ? (rc == 0 || !strstr(err, needle)) : rc != 0)
        fail_msg("%s: expected %s%s, got rc %d \"%s\"", stages, needle ? "an error with " : "success",
                 needle ? needle : "", rc, err);
    json_decref(spec);
}

#define GEN "{\"name\": \"a\", \"kind\": \"generate\", \"params\": {\"n\": 2}}"
#define VER "{\"name\": \"v\", \"kind\": \"verify\"}"

static void test_params(void **state)
{
    (void)state;
    s_validate("[" GEN ", " VER "]", NULL);
    s_validate("[{\"name\": \"a\", \"kind\": \"generate\", \"params\": {\"temprature\": 1}}]",
               "stages[0].params: unknown parameter \"temprature\" for kind generate (accepted: ");
    s_validate("[{\"name\": \"a\", \"kind\": \"generate\", \"params\": {\"n\": \"many\"}}]",
               "stages[0].params: parameter \"n\": expected an integer from 1 to 1000, got \"many\"");
    s_validate("[{\"name\": \"a\", \"kind\": \"noop\", \"params\": {\"echo\": \"maybe\"}}]",
               "parameter \"echo\": expected true or false");
    s_validate("[{\"name\": \"a\", \"kind\": \"verify\", \"params\": {\"link\": \"magic\"}}]",
               "parameter \"link\": expected one of full,exact,fuzzy, got \"magic\"");
    s_validate("[{\"name\": \"a\", \"kind\": \"tag\", \"params\": {\"x\": 1}}]",
               "unknown parameter \"x\" for kind tag (accepted: none)");
    /* filter bands */
    s_validate("[" GEN ", " VER ", {\"name\": \"f\", \"kind\": \"filter\", \"params\": "
               "{\"min_pass_rate\": 0.9, \"max_pass_rate\": 0.1}}]",
               "stages[2].params: min_pass_rate 0.9 is above max_pass_rate 0.1");
    s_validate("[" GEN ", " VER ", {\"name\": \"f\", \"kind\": \"filter\", \"params\": "
               "{\"min_pass_rate\": 0.99}}]",
               "min_pass_rate 0.99 is above max_pass_rate 0.95");
    s_validate("[" GEN ", " VER ", {\"name\": \"f\", \"kind\": \"filter\", \"params\": "
               "{\"min_pass_rate\": 0.2, \"max_pass_rate\": 0.2}}]",
               NULL);
    s_validate("[" GEN ", " VER ", {\"name\": \"f\", \"kind\": \"filter\", \"params\": "
               "{\"max_pass\": 0.2}}]",
               "unknown parameter \"max_pass\" for a filter stage");
}

static void test_config_names(void **state)
{
    (void)state;
    char path[] = "/tmp/assay_test_spec_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "[endpoint.teacher]\nbase_url = http://127.0.0.1:9/v1\nmodel = m\n"
               "[worker]\nprompts_dir = %s/ops/prompts\n", ASSAY_SOURCE_DIR);
    fclose(f);
    assay_config_t *cfg = assay_config_new();
    char err[1024];
    if (assay_config_load(cfg, path, err, sizeof err) != 0) fail_msg("%s", err);
    unlink(path);
    unsetenv("ASSAY_ENDPOINT_SIM_BASE_URL");
    setenv("ASSAY_ENDPOINT_JUDGE_BASE_URL", "http://127.0.0.1:9/v1", 1);
    static const struct {
        const char *stages, *needle;
    } cases[] = {
        {"[{\"name\": \"a\", \"kind\": \"generate\", \"params\": {\"endpoint\": \"teacher\", "
         "\"template\": \"answer_mcq\", \"template_version\": 1}}]",
         NULL},
        {"[{\"name\": \"a\", \"kind\": \"generate\", \"params\": {\"endpoint\": \"teachr\"}}]",
         "stages[0].params.endpoint: endpoint \"teachr\" is not configured (configured: teacher, judge; "
         "define [endpoint.teachr] in the configuration or ASSAY_ENDPOINT_TEACHR_BASE_URL)"},
        {"[{\"name\": \"a\", \"kind\": \"generate\", \"params\": {\"template\": \"nosuch\"}}]",
         "stages[0].params.template: could not open prompt template"},
        {"[{\"name\": \"a\", \"kind\": \"generate\", \"params\": {\"template\": \"answer_mcq\", "
         "\"template_version\": 2}}]",
         "template \"answer_mcq\" is version 1"},
        {"[{\"name\": \"j\", \"kind\": \"judge\", \"params\": {\"judge\": \"preference\"}}]", NULL},
        {"[{\"name\": \"j\", \"kind\": \"judge\", \"params\": {\"judge\": \"verdict\"}}]",
         "judge_verdict.txt"},
        {"[{\"name\": \"l\", \"kind\": \"leak_removal\", \"params\": {\"judge_endpoint\": "
         "\"teacher\", \"rewrite_endpoint\": \"down\"}}]",
         "params.rewrite_endpoint: endpoint \"down\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *spec = s_spec(cases[i].stages);
        err[0] = '\0';
        int rc = assay_spec_check_config(spec, cfg, err, sizeof err);
        if (cases[i].needle ? (rc == 0 || !strstr(err, cases[i].needle)) : rc != 0)
            fail_msg("%s: got rc %d \"%s\"", cases[i].stages, rc, err);
        json_decref(spec);
    }
    assay_config_destroy(&cfg);
}

static void s_needs(assay_spec_needs_t *n, const char *item, const char *kind, const char *needle)
{
    json_t *it = json_loads(item, 0, NULL);
    assert_non_null(it);
    char err[1024] = "";
    int rc = assay_spec_needs_check(n, it, kind, err, sizeof err);
    if (needle ? (rc == 0 || !strstr(err, needle)) : rc != 0)
        fail_msg("%s: expected %s, got rc %d \"%s\"", item, needle ? needle : "success", rc, err);
    json_decref(it);
}

static void test_item_needs(void **state)
{
    (void)state;
    json_t *spec = s_spec("[{\"name\": \"answer\", \"kind\": \"generate\", \"params\": "
                          "{\"template\": \"answer_mcq\"}}, " VER ", {\"name\": \"o\", \"kind\": "
                          "\"judge\"}]");
    assay_spec_needs_t *n = assay_spec_needs_new(spec, ASSAY_SOURCE_DIR "/ops/prompts");
    s_needs(n, "{\"question\": \"q\", \"options\": {\"A\": \"x\", \"B\": \"y\"}, \"answer\": \"A\"}",
            "mcq", NULL);
    /* the multi-answer twin needs the same fields */
    s_needs(n, "{\"question\": \"q\", \"options\": {\"A\": \"x\", \"B\": \"y\"}, \"answer\": \"AB\"}",
            "mcq", NULL);
    s_needs(n, "{\"question\": \"q\", \"options\": null, \"answer\": \"A\"}", "open",
            "field \"options\": null, but template \"answer_mcq\" of stage \"answer\" needs it");
    s_needs(n, "{\"question\": \"q\", \"options\": {\"A\": \"x\", \"B\": \"y\"}, \"answer\": null}",
            "mcq", "field \"answer\": null, but stage \"v\" (verify) needs the gold option letters");
    assay_spec_needs_destroy(&n);
    json_decref(spec);

    /* case records: leak removal first, then the template reads what it adds */
    spec = s_spec("[{\"name\": \"leak\", \"kind\": \"leak_removal\"}, {\"name\": \"answer\", "
                  "\"kind\": \"generate\", \"params\": {\"template\": \"answer_case_clean\"}}, " VER
                  "]");
    n = assay_spec_needs_new(spec, ASSAY_SOURCE_DIR "/ops/prompts");
    s_needs(n, "{\"text\": \"病历\", \"diagnosis\": \"肺炎\"}", "case", NULL);
    s_needs(n, "{\"text\": \"病历\", \"diagnosis\": \"\"}", "case",
            "field \"diagnosis\": empty, but stage \"leak\" (leak_removal) needs the gold diagnosis");
    assay_spec_needs_destroy(&n);
    json_decref(spec);

    /* an open question, the outcome judge: a reference answer */
    spec = s_spec("[{\"name\": \"a\", \"kind\": \"generate\"}, {\"name\": \"o\", \"kind\": "
                  "\"judge\", \"params\": {\"judge\": \"outcome\"}}]");
    n = assay_spec_needs_new(spec, ASSAY_SOURCE_DIR "/ops/prompts");
    s_needs(n, "{\"question\": \"q\", \"reference_answer\": \"r\"}", "open", NULL);
    s_needs(n, "{\"question\": \"q\"}", "open",
            "field \"answer\": missing, but stage \"o\" (judge) needs a gold answer");
    assay_spec_needs_destroy(&n);
    json_decref(spec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_config_names),
        cmocka_unit_test(test_item_needs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
