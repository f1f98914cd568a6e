/*  task_hack_check.c: the `hack_check` kind — flags samples that game a checker
 *  (worker/domain/hack.h): no or too little reasoning, the same conclusion repeated, a
 *  disease, drug or test that exists nowhere in the terminology or the graph.
 *
 *  Input:
 *    question   optional: the question text (sets how much reasoning to expect)
 *    options    optional: mcq options, counted with the question
 *    context    optional: a case record, counted with the question
 *    sample     {"answer": "...", "reasoning": "..."} (or "response" /
 *               "prediction" offline, see worker/domain/sample_text.h)
 *  Params: min_chars (20), ratio (0.1), max_chars (200), repeat_min (3),
 *  check_reasoning (false: look for unknown entities in the answer only).
 *  Output:
 *    hack_score     1 − the largest severity of the flags (1 = clean)
 *    hacked         any flag set
 *    hack_flags     ["no_reasoning", "short_reasoning", "repeated", "unknown_entity"]
 *    hack_detail    {reasoning_chars, expected_chars, repeated {text, count}, loop
 *                    {period, copies}, unknown_entities [{text, kind}],
 *                    mentions_checked}
 *    terms_version  the terminology the unknown-entity check used
 *  Needs a terminology (--terms DIR|SNAPSHOT).
 */
#include "common/error.h"
#include "common/util.h"
#include "worker/domain/hack.h"
#include "worker/tasks/runtime.h"
#include "worker/domain/sample_text.h"
#include "worker/tasks/task.h"
#include "worker/domain/terms.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const assay_terms_t *terms;
    assay_hack_lexicon_t *lex;
} s_state_t;

static int s_setup(assay_runtime_t *rt, void **state, char *err, size_t errlen)
{
    const assay_terms_t *terms = assay_terms_shared(rt, err, errlen);
    if (!terms) return ASSAY_ECONFIG;
    s_state_t *s = ASSAY_NEW(s_state_t);
    s->terms = terms;
    s->lex = assay_hack_lexicon_new(terms);
    *state = s;
    return 0;
}

static void s_teardown(void *state)
{
    s_state_t *s = state;
    if (!s) return;
    assay_hack_lexicon_destroy(&s->lex);
    free(s);
}

/* a non-negative integer parameter */
static int s_count_param(assay_task_t *task, const char *key, size_t def, size_t *out)
{
    double v = assay_param_num(task, key, (double)def);
    if (!(v >= 0 && v <= 1e9)) {
        assay_task_fail(task, 0, "parameter \"%s\" is %g: expected a count >= 0", key, v);
        return -1;
    }
    *out = (size_t)v;
    return 0;
}

static void s_run(void *state, assay_task_t *task)
{
    s_state_t *s = state;
    const json_t *in = assay_task_input(task);
    assay_hack_params_t p;
    assay_hack_params_default(&p);
    if (s_count_param(task, "min_chars", p.min_chars, &p.min_chars) < 0 ||
        s_count_param(task, "max_chars", p.max_chars, &p.max_chars) < 0 ||
        s_count_param(task, "repeat_min", p.repeat_min, &p.repeat_min) < 0)
        return;
    p.ratio = assay_param_num(task, "ratio", p.ratio);
    if (!(p.ratio >= 0 && p.ratio <= 100)) {
        assay_task_fail(task, 0, "parameter \"ratio\" is %g: expected a number in [0, 100]",
                        p.ratio);
        return;
    }
    if (p.repeat_min < 2) {
        assay_task_fail(task, 0, "parameter \"repeat_min\" is %zu: expected at least 2",
                        p.repeat_min);
        return;
    }
    p.check_reasoning = assay_param_bool(task, "check_reasoning", 0);

    char err[512];
    assay_sample_text_t st;
    if (assay_sample_text_get(in, &st, err, sizeof err) < 0) {
        assay_task_fail(task, 0, "%s", err);
        return;
    }
    /* what the reasoning has to answer: question, case record and options */
    assay_buf_t q = ASSAY_BUF_INIT;
    static const char *const fields[] = {"question", "context", "text"};
    for (size_t i = 0; i < ASSAY_ARRAY_LEN(fields); i++) {
        const json_t *v = json_object_get(in, fields[i]);
        if (v && !json_is_string(v) && !json_is_null(v)) {
            assay_task_fail(task, 0, "field \"%s\": expected a string", fields[i]);
            assay_buf_release(&q);
            return;
        }
        if (json_is_string(v)) {
            assay_buf_add(&q, json_string_value(v), json_string_length(v));
            assay_buf_addc(&q, '\n');
        }
    }
    const json_t *opts = json_object_get(in, "options");
    if (json_is_object(opts)) {
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)opts, k, v)
        {
            if (!json_is_string(v)) continue;
            assay_buf_add(&q, json_string_value(v), json_string_length(v));
            assay_buf_addc(&q, '\n');
        }
    }
    assay_hack_result_t r;
    assay_hack_check(s->terms, s->lex, &p, q.data, q.len, st.reasoning, st.reasoning_len, st.answer,
                     st.answer_len, &r);
    assay_buf_release(&q);
    json_t *detail = assay_hack_report(&r);
    json_t *out = json_object();
    json_object_set(out, "hack_score", json_object_get(detail, "hack_score"));
    json_object_set(out, "hacked", json_object_get(detail, "hacked"));
    json_object_set(out, "hack_flags", json_object_get(detail, "flags"));
    json_object_del(detail, "hack_score");
    json_object_del(detail, "hacked");
    json_object_del(detail, "flags");
    json_object_set_new(out, "hack_detail", detail);
    json_object_set_new(out, "terms_version", json_string(assay_terms_version(s->terms)));
    assay_task_done(task, out);
}

/* the parameters this kind accepts (checked by the executor and `assay submit`) */
static const assay_param_spec_t s_params[] = {
    {"min_chars", ASSAY_PARAM_INT, 0, 1000000000.0, 0, NULL, 0, "reasoning shorter than this is short (default 20)"},
    {"max_chars", ASSAY_PARAM_INT, 0, 1000000000.0, 0, NULL, 0, "cap on the expected reasoning length (default 200)"},
    {"ratio", ASSAY_PARAM_NUMBER, 0, 100, 0, NULL, 0, "expected reasoning chars per question char (default 0.1)"},
    {"repeat_min", ASSAY_PARAM_INT, 2, 1000000000.0, 0, NULL, 0, "copies of a conclusion that make a repeat (default 3)"},
    {"check_reasoning", ASSAY_PARAM_BOOL, 0, 0, 0, NULL, 0, "look for unknown entities in the reasoning too"},
    {NULL, 0, 0, 0, 0, NULL, 0, NULL}};

const assay_handler_t assay_task_hack_check = {
    .kind = "hack_check",
    .summary = "flag samples without reasoning, with repeated conclusions or unknown entities",
    .setup = s_setup,
    .teardown = s_teardown,
    .run = s_run,
    .params = s_params,
};
