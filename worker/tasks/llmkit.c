/*  llmkit.c: see llmkit.h */
#include "worker/tasks/llmkit.h"

#include "common/error.h"
#include "common/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *s_load(assay_runtime_t *rt, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    assay_llmkit_t *kit = ASSAY_NEW(assay_llmkit_t);
    kit->llm = assay_llm_new(assay_runtime_http(rt));
    kit->endpoints = assay_endpoints_new(assay_runtime_config(rt));
    kit->prompts =
        assay_prompts_new(assay_runtime_setting(rt, "prompts_dir", assay_prompts_default_dir()));
    return kit;
}

static void s_free(void *p)
{
    assay_llmkit_t *kit = p;
    assay_llm_destroy(&kit->llm);
    assay_endpoints_destroy(&kit->endpoints);
    assay_prompts_destroy(&kit->prompts);
    free(kit);
}

assay_llmkit_t *assay_llmkit_shared(assay_runtime_t *rt, char *err, size_t errlen)
{
    return assay_runtime_shared(rt, "llm", s_load, s_free, err, errlen);
}

/* a number parameter when present: 1 and *out set, 0 when absent, -1 when not a
 * number (a numeric string counts) */
static int s_num_param(const assay_task_t *task, const char *key, double *out)
{
    const json_t *v = json_object_get(assay_task_params(task), key);
    if (!v) v = json_object_get(assay_runtime_params(assay_task_runtime(task)), key);
    if (!v) return 0;
    if (json_is_string(v)) {
        char *end;
        double d = strtod(json_string_value(v), &end);
        if (end == json_string_value(v) || *end) return -1;
        *out = d;
        return 1;
    }
    if (!json_is_number(v)) return -1;
    *out = json_number_value(v);
    return 1;
}

int assay_llmkit_prepare(assay_llmkit_t *kit, assay_task_t *task, const char *tname, int fit,
                         int n_max, assay_llmcall_t *call, char *err, size_t errlen)
{
    assay_runtime_t *rt = assay_task_runtime(task);
    call->n = 1;
    call->max_attempts = 3;
    call->key_params = NULL;
    const char *ep_name =
        assay_param_str(task, "endpoint", assay_runtime_setting(rt, "endpoint", "sim"));
    call->ep = assay_endpoints_get(kit->endpoints, ep_name, err, errlen);
    if (!call->ep) return -1;
    double d;
    int has = s_num_param(task, "template_version", &d);
    char fitted[160];
    if (fit && has == 0)
        tname = assay_prompt_fit_name(tname, assay_task_input(task), fitted, sizeof fitted);
    call->prompt = assay_prompts_get(kit->prompts, tname, err, errlen);
    if (!call->prompt) return -1;
    if (has != 0 && (has < 0 || (int)d != assay_prompt_version(call->prompt))) {
        char want[64];
        snprintf(want, sizeof want, has < 0 ? "a non-number" : "%g", d);
        snprintf(err, errlen, "template \"%s\" is version %d, the stage asks for %s", tname,
                 assay_prompt_version(call->prompt), want);
        return -1;
    }
    struct {
        const char *key;
        double min, max;
    } const nums[] = {{"n", 1, n_max},       {"temperature", 0, 2},  {"top_p", 0, 1},
                      {"seed", -9e15, 9e15}, {"max_tokens", 1, 1e7}, {"max_attempts", 1, 20}};
    json_t *key = json_object();
    for (size_t i = 0; i < ASSAY_ARRAY_LEN(nums); i++) {
        const char *k = nums[i].key;
        if (!strcmp(k, "n") && n_max <= 0) continue;
        has = s_num_param(task, k, &d);
        if (has == 0) continue;
        if (has < 0 || d < nums[i].min || d > nums[i].max || isnan(d)) {
            snprintf(err, errlen, "parameter %s must be a number in [%g, %g]", k, nums[i].min,
                     nums[i].max);
            json_decref(key);
            return -1;
        }
        if (!strcmp(k, "n"))
            call->n = (int)d;
        else if (!strcmp(k, "max_attempts"))
            call->max_attempts = (int)d;
        else if (!strcmp(k, "temperature"))
            call->params.temperature = d;
        else if (!strcmp(k, "top_p"))
            call->params.top_p = d;
        else if (!strcmp(k, "seed"))
            call->params.has_seed = 1, call->params.seed = (int64_t)d;
        else if (!strcmp(k, "max_tokens"))
            call->params.max_tokens = (long)d;
        if (strcmp(k, "n") != 0 && strcmp(k, "max_attempts") != 0)
            json_object_set_new(key, k, json_real(d));
    }
    const char *effort = assay_param_str(task, "reasoning_effort", NULL);
    if (effort) {
        if (strcmp(effort, "low") && strcmp(effort, "medium") && strcmp(effort, "high")) {
            snprintf(err, errlen,
                     "parameter reasoning_effort must be low, medium or high, got \"%s\"", effort);
            json_decref(key);
            return -1;
        }
        call->params.reasoning_effort = effort; /* params live until the task ends */
        json_object_set_new(key, "reasoning_effort", json_string(effort));
    }
    json_object_set_new(key, "style", json_string(assay_llm_style_name(call->ep->style)));
    call->params.stream = assay_param_bool(task, "stream", call->ep->stream);
    call->key_params = key;
    return 0;
}

void assay_llmcall_clear(assay_llmcall_t *call)
{
    json_decref(call->key_params);
    call->key_params = NULL;
}

int assay_llmkit_setup(assay_runtime_t *rt, void **state, char *err, size_t errlen)
{
    assay_llmkit_t *kit = assay_llmkit_shared(rt, err, errlen);
    if (!kit) return ASSAY_ECONFIG;
    *state = kit;
    return 0;
}
