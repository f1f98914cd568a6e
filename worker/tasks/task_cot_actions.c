/*  task_cot_actions.c: the `cot_actions` kind — splits a sample's chain of thought
 *  into steps, labels each with its reasoning action (worker/domain/cot.h) and derives a
 *  reasoning-difficulty figure.
 *
 *  Input:
 *    question   optional: the question (helps recognise restatements)
 *    sample     {"reasoning": "...", "answer": "..."} (or "response" offline, split
 *               at "</think>"; see worker/domain/sample_text.h). A sample without
 *               reasoning gets zero steps.
 *  Params: step_text (true: include each step's text), max_steps (256).
 *  Output:
 *    cot_steps             [{action, confidence, text}] in order
 *    cot_stats             {steps, distinct_actions, hypotheses, reflections,
 *                           counts {restate, recall, hypothesise, exclude, verify,
 *                           reflect, summarise}, truncated}
 *    reasoning_difficulty  0..1: 0.4·min(steps,24)/24 + 0.3·distinct/7 +
 *                          0.3·min(hypotheses,8)/8
 *  Needs no terminology.
 */
#include "common/util.h"
#include "worker/domain/cot.h"
#include "worker/domain/sample_text.h"
#include "worker/tasks/task.h"

#include <math.h>
#include <stdlib.h>

static void s_run(void *state, assay_task_t *task)
{
    (void)state;
    const json_t *in = assay_task_input(task);
    char err[512];
    assay_sample_text_t st;
    if (assay_sample_text_get(in, &st, err, sizeof err) < 0) {
        assay_task_fail(task, 0, "%s", err);
        return;
    }
    const json_t *jq = json_object_get(in, "question");
    if (jq && !json_is_string(jq) && !json_is_null(jq)) {
        assay_task_fail(task, 0, "field \"question\": expected a string");
        return;
    }
    double maxd = assay_param_num(task, "max_steps", 256);
    if (!(maxd >= 1 && maxd <= 100000)) {
        assay_task_fail(task, 0, "parameter \"max_steps\" is %g: expected 1 to 100000", maxd);
        return;
    }
    size_t cap = (size_t)maxd;
    int with_text = assay_param_bool(task, "step_text", 1);
    assay_cot_step_t *steps = assay_calloc(cap, sizeof *steps);
    size_t total =
        st.reasoning ? assay_cot_label(st.reasoning, st.reasoning_len, json_string_value(jq),
                                       json_is_string(jq) ? json_string_length(jq) : 0, steps, cap)
                     : 0;
    size_t n = total < cap ? total : cap;
    assay_cot_stats_t s;
    assay_cot_stats(steps, n, &s);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_pack("{s:s, s:f}", "action", assay_cot_action_name(steps[i].action),
                              "confidence", round(steps[i].confidence * 1000) / 1000);
        if (with_text)
            json_object_set_new(o, "text", json_stringn(st.reasoning + steps[i].off, steps[i].len));
        json_array_append_new(arr, o);
    }
    free(steps);
    json_t *counts = json_object();
    for (int a = 0; a < ASSAY_COT_ACTION_COUNT; a++)
        json_object_set_new(counts, assay_cot_action_name(a),
                            json_integer((json_int_t)s.counts[a]));
    json_t *stats = json_pack("{s:I, s:I, s:I, s:I, s:o, s:b}", "steps", (json_int_t)s.steps,
                              "distinct_actions", (json_int_t)s.distinct_actions, "hypotheses",
                              (json_int_t)s.hypotheses, "reflections", (json_int_t)s.reflections,
                              "counts", counts, "truncated", total > cap);
    json_t *out = json_pack("{s:o, s:o, s:f}", "cot_steps", arr, "cot_stats", stats,
                            "reasoning_difficulty", round(s.difficulty * 10000) / 10000);
    assay_task_done(task, out);
}

/* the parameters this kind accepts (checked by the executor and `assay submit`) */
static const assay_param_spec_t s_params[] = {
    {"step_text", ASSAY_PARAM_BOOL, 0, 0, 0, NULL, 0, "include each step's text (default true)"},
    {"max_steps", ASSAY_PARAM_INT, 1, 100000, 0, NULL, 0, "steps kept (default 256)"},
    {NULL, 0, 0, 0, 0, NULL, 0, NULL}};

const assay_handler_t assay_task_cot_actions = {
    .kind = "cot_actions",
    .summary = "split a chain of thought into steps and label their reasoning actions",
    .setup = NULL,
    .teardown = NULL,
    .run = s_run,
    .params = s_params,
};
