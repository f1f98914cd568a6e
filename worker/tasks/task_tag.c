/*  task_tag.c: the `tag` kind — entities, attributes, intent and category of an
 *  item (worker/domain/tagger.h), as fields later stages and SQL filter on.
 *
 *  Input (an item):
 *    question   the question text (the intent is read from it)
 *    text       a case record or any text to tag (when there is no question, or
 *               in addition to it); "context" is read the same way
 *    options    optional: mcq options (their entities and words count too)
 *    kind       optional: "case" makes the category 疾病诊断
 *  At least one of question / text / context must be a non-empty string.
 *  Output:
 *    intent         治疗方案 | 病情诊断 | 注意事项 | 疾病表述 | 就医建议 | 功效作用 |
 *                   后果表述 | 医疗费用 | 病因分析 | 指标解读 | 用药 | 其他
 *    intent_score   the weight of the cues behind it (0 for 其他)
 *    category       基础知识 | 疾病诊断 | 手术 | 药物 | 检验检查
 *    entities       {disease: [..], symptom: [..], drug: [..], procedure: [..],
 *                    test: [..], body_part: [..]}
 *    entity_codes   ICD codes of the disease and symptom entities that have one
 *    attributes     {age, sex, duration, laterality, severity, onset} as found
 *    terms_version  the terminology the entities came from
 *  Needs a terminology (--terms DIR|SNAPSHOT).
 */
#include "common/error.h"
#include "common/util.h"
#include "worker/tasks/runtime.h"
#include "worker/domain/tagger.h"
#include "worker/tasks/task.h"
#include "worker/domain/terms.h"

#include <string.h>

static int s_setup(assay_runtime_t *rt, void **state, char *err, size_t errlen)
{
    const assay_terms_t *terms = assay_terms_shared(rt, err, errlen);
    if (!terms) return ASSAY_ECONFIG;
    *state = (void *)terms;
    return 0;
}

static void s_run(void *state, assay_task_t *task)
{
    const assay_terms_t *terms = state;
    const json_t *in = assay_task_input(task);
    static const char *const fields[] = {"question", "text", "context"};
    const char *q = NULL;
    size_t qlen = 0;
    assay_buf_t all = ASSAY_BUF_INIT;
    for (size_t i = 0; i < ASSAY_ARRAY_LEN(fields); i++) {
        const json_t *v = json_object_get(in, fields[i]);
        if (v && !json_is_string(v) && !json_is_null(v)) {
            assay_task_fail(task, 0, "field \"%s\": expected a string", fields[i]);
            assay_buf_release(&all);
            return;
        }
        if (!json_is_string(v) || json_string_length(v) == 0) continue;
        if (i == 0) {
            q = json_string_value(v);
            qlen = json_string_length(v);
        }
        assay_buf_add(&all, json_string_value(v), json_string_length(v));
        assay_buf_addc(&all, '\n');
    }
    if (all.len == 0) {
        assay_task_fail(task, 0,
                        "nothing to tag: expected a non-empty \"question\", \"text\" or "
                        "\"context\" string");
        assay_buf_release(&all);
        return;
    }
    const json_t *opts = json_object_get(in, "options");
    if (json_is_object(opts)) {
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)opts, k, v)
        {
            if (!json_is_string(v)) continue;
            assay_buf_add(&all, json_string_value(v), json_string_length(v));
            assay_buf_addc(&all, '\n');
        }
    }
    json_t *out = assay_tagger_tag(terms, all.data, all.len);
    /* a case record is a diagnosis item whatever its findings mention */
    const json_t *kind = json_object_get(in, "kind");
    if (json_is_string(kind) && strcmp(json_string_value(kind), "case") == 0)
        json_object_set_new(out, "category", json_string(assay_tagger_category_name(1)));
    /* the intent is the question's: a case record's wording is not a request */
    if (q) {
        double score;
        int intent = assay_tagger_intent(q, qlen, &score);
        json_object_set_new(out, "intent", json_string(assay_tagger_intent_name(intent)));
        json_object_set_new(out, "intent_score", json_real(score));
    }
    json_object_set_new(out, "terms_version", json_string(assay_terms_version(terms)));
    assay_buf_release(&all);
    assay_task_done(task, out);
}

/* the parameters this kind accepts (checked by the executor and `assay submit`) */
static const assay_param_spec_t s_params[] = {
    {NULL, 0, 0, 0, 0, NULL, 0, NULL}};

const assay_handler_t assay_task_tag = {
    .kind = "tag",
    .summary = "tag entities, attributes, intent and category of an item",
    .setup = s_setup,
    .teardown = NULL,
    .run = s_run,
    .params = s_params,
};
