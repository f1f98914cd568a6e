/*  task_leak_removal.c: the `leak_removal` kind turns a case record with a known
 *  diagnosis into a diagnostic question that does not give the answer away.
 *
 *  Input:  {text?: string, sections? | fields?: {name: text}, diagnosis: string |
 *          [string | {name|text, code?}] | {text?, codes?: [..]}, diagnosis_codes?: [..]}
 *  Output: {clean_text, question, answer, removed: [{span, reason, section, offset,
 *          from}], residual_leak, residual_flagged, residual_hits: [{match, reason,
 *          score}], gold_items, leak_terms, headers}
 *
 *  The engine is worker/leak.c; this file maps JSON to it and back. The
 *  terminology comes from the runtime (setting "terms": a TSV directory or a
 *  snapshot); without one only the gold text itself is hidden, which setup logs.
 *
 *  Parameters: max_bytes (1 MiB), allow_unsectioned (false), flag_threshold
 *  (0.5), fail_on_leak (false: a case still leaking is returned with
 *  residual_flagged = true; true: it fails permanently), max_treatment_diseases (5),
 *  question_template ("{case}" is replaced by the clean text, "{n}" by the number
 *  of gold items).
 *
 *  An LLM pass (rewrite the clean text for fluency, then run the residual check
 *  again with assay_leak_residual(), optionally an LLM judge) belongs after
 *  assay_leak_run(): it needs the executor's HTTP client, so the handler rejects
 *  the parameter "rewrite_endpoint" until that client exists rather than ignore it.
 */
#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "worker/leak.h"
#include "worker/runtime.h"
#include "worker/task.h"
#include "worker/terms.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const assay_terms_t *terms; /* borrowed from the runtime; NULL without one */
} s_state_t;

static const char s_default_question[] =
    "以下是一份病历资料（已隐去诊断结论及相关治疗信息）：\n\n{case}\n\n"
    "请根据以上资料，给出该患者最可能的诊断。";
static const char s_default_question_multi[] =
    "以下是一份病历资料（已隐去诊断结论及相关治疗信息）：\n\n{case}\n\n"
    "请根据以上资料，给出该患者的诊断（共{n}项，请逐条列出）。";

static int s_setup(assay_runtime_t *rt, void **state, char *err, size_t errlen)
{
    s_state_t *st = ASSAY_NEW(s_state_t);
    const char *path = assay_runtime_setting(rt, "terms", NULL);
    if (path && *path) {
        st->terms = assay_terms_shared(rt, err, errlen);
        if (!st->terms) {
            free(st);
            return ASSAY_ECONFIG;
        }
    } else {
        log_warn("leak", "no terminology configured (--terms DIR|SNAPSHOT): only the gold "
                         "diagnosis text is hidden, not its aliases, codes, related terms or drugs");
    }
    *state = st;
    return 0;
}

static void s_teardown(void *state)
{
    free(state);
}

/* add one diagnosis value to the case; fills answer; 0 or -1 with err */
static int s_add_diagnosis(assay_leak_case_t *lc, const assay_terms_t *terms, const json_t *d,
                           assay_buf_t *answer, char *err, size_t errlen);

static int s_add_code(assay_leak_case_t *lc, const assay_terms_t *terms, const json_t *code,
                      assay_buf_t *answer, char *err, size_t errlen)
{
    const char *c = json_string_value(code);
    if (!c || !*c) {
        snprintf(err, errlen, "diagnosis code must be a non-empty string");
        return -1;
    }
    size_t before = assay_leak_case_gold_count(lc);
    if (assay_leak_case_add_code(lc, terms, c) != 0) {
        /* unknown code: still hide the code itself */
        assay_leak_case_add_term(lc, c, strlen(c), ASSAY_LEAK_TERM_CODE, SIZE_MAX, "given code");
        return 0;
    }
    if (assay_leak_case_gold_count(lc) > before && answer->len == 0) {
        for (size_t i = before; i < assay_leak_case_gold_count(lc); i++) {
            if (answer->len > 0) assay_buf_adds(answer, "；");
            assay_buf_adds(answer, assay_leak_case_gold_item(lc, i));
        }
    }
    return 0;
}

static int s_add_diagnosis(assay_leak_case_t *lc, const assay_terms_t *terms, const json_t *d,
                           assay_buf_t *answer, char *err, size_t errlen)
{
    if (json_is_string(d)) {
        const char *s = json_string_value(d);
        size_t len = json_string_length(d);
        if (assay_leak_case_add_gold(lc, s, len) > 0) {
            if (answer->len > 0) assay_buf_adds(answer, "；");
            assay_buf_add(answer, s, len);
        }
        return 0;
    }
    if (json_is_array(d)) {
        size_t i;
        const json_t *v;
        json_array_foreach(d, i, v)
        {
            if (s_add_diagnosis(lc, terms, v, answer, err, errlen) != 0) return -1;
        }
        return 0;
    }
    if (json_is_object(d)) {
        const json_t *text = json_object_get(d, "text");
        if (!text) text = json_object_get(d, "name");
        if (text && !json_is_string(text)) {
            snprintf(err, errlen, "field \"diagnosis.text\" must be a string");
            return -1;
        }
        if (text && s_add_diagnosis(lc, terms, text, answer, err, errlen) != 0) return -1;
        const json_t *code = json_object_get(d, "code");
        if (code && s_add_code(lc, terms, code, answer, err, errlen) != 0) return -1;
        const json_t *codes = json_object_get(d, "codes");
        if (codes && !json_is_array(codes)) {
            snprintf(err, errlen, "field \"diagnosis.codes\" must be an array of strings");
            return -1;
        }
        size_t i;
        const json_t *v;
        json_array_foreach(codes, i, v)
        {
            if (s_add_code(lc, terms, v, answer, err, errlen) != 0) return -1;
        }
        return 0;
    }
    snprintf(err, errlen, "field \"diagnosis\" must be a string, an array or an object, not %s",
             json_is_null(d) ? "null" : "a number or boolean");
    return -1;
}

static char *s_question(const char *tmpl, const char *clean, size_t n_items)
{
    assay_buf_t q = ASSAY_BUF_INIT;
    for (const char *p = tmpl; *p;) {
        if (strncmp(p, "{case}", 6) == 0) {
            assay_buf_adds(&q, clean);
            p += 6;
        } else if (strncmp(p, "{n}", 3) == 0) {
            assay_buf_addf(&q, "%zu", n_items);
            p += 3;
        } else {
            assay_buf_addc(&q, *p++);
        }
    }
    size_t len;
    char *s = assay_buf_detach(&q, &len);
    return s ? s : assay_strdup("");
}

static json_t *s_output(const assay_leak_case_t *lc, const assay_leak_result_t *res,
                        const char *question, const char *answer)
{
    json_t *out = json_object();
    json_object_set_new(out, "clean_text", json_stringn(res->clean_text, res->clean_len));
    json_object_set_new(out, "question", json_string(question));
    json_object_set_new(out, "answer", json_string(answer));
    json_t *rm = json_array();
    for (size_t i = 0; i < res->n_removed; i++) {
        const assay_leak_removal_t *e = &res->removed[i];
        json_array_append_new(rm, json_pack("{s:s, s:s, s:s, s:I, s:s}", "span", e->span, "reason",
                                            e->reason, "section", e->section, "offset",
                                            (json_int_t)e->offset, "from",
                                            e->in_named ? "section" : "text"));
    }
    json_object_set_new(out, "removed", rm);
    json_object_set_new(out, "residual_leak", json_real(res->residual));
    json_object_set_new(out, "residual_flagged", json_boolean(res->flagged));
    json_t *hits = json_array();
    for (size_t i = 0; i < res->n_hits; i++)
        json_array_append_new(hits, json_pack("{s:s, s:s, s:f}", "match", res->hits[i].match,
                                              "reason", res->hits[i].reason, "score",
                                              res->hits[i].score));
    json_object_set_new(out, "residual_hits", hits);
    json_t *items = json_array();
    for (size_t i = 0; i < assay_leak_case_gold_count(lc); i++)
        json_array_append_new(items, json_string(assay_leak_case_gold_item(lc, i)));
    json_object_set_new(out, "gold_items", items);
    json_object_set_new(out, "leak_terms", json_integer((json_int_t)assay_leak_case_term_count(lc)));
    json_object_set_new(out, "headers", json_integer((json_int_t)res->n_headers));
    return out;
}

static void s_run(void *state, assay_task_t *task)
{
    s_state_t *st = state;
    const json_t *in = assay_task_input(task);
    char err[512];
    if (!json_is_object(in)) {
        assay_task_fail(task, 0, "input must be a JSON object with \"text\" and \"diagnosis\"");
        return;
    }
    if (assay_param_str(task, "rewrite_endpoint", NULL)) {
        assay_task_fail(task, 0, "parameter \"rewrite_endpoint\": the LLM rewrite pass is not "
                                 "available in this build");
        return;
    }
    double max_treat = assay_param_num(task, "max_treatment_diseases", 5);
    double max_bytes = assay_param_num(task, "max_bytes", 0);
    double flag = assay_param_num(task, "flag_threshold", 0.5);
    if (max_treat < 0 || max_treat > 1e6 || max_bytes < 0 || max_bytes > 1e12 || flag <= 0 ||
        flag > 1) {
        assay_task_fail(task, 0, "invalid parameters: expected max_treatment_diseases >= 0, "
                                 "max_bytes >= 0 and 0 < flag_threshold <= 1");
        return;
    }
    const json_t *text = json_object_get(in, "text");
    if (text && !json_is_string(text) && !json_is_null(text)) {
        assay_task_fail(task, 0, "field \"text\" must be a string");
        return;
    }
    const json_t *secs = json_object_get(in, "sections");
    if (!secs) secs = json_object_get(in, "fields");
    if (secs && !json_is_object(secs) && !json_is_null(secs)) {
        assay_task_fail(task, 0, "field \"sections\" must be an object of section name to text");
        return;
    }
    const json_t *diag = json_object_get(in, "diagnosis");
    const json_t *codes = json_object_get(in, "diagnosis_codes");
    if ((!diag || json_is_null(diag)) && !codes) {
        assay_task_fail(task, 0, "missing field \"diagnosis\" (the gold diagnosis text or codes)");
        return;
    }

    assay_leak_case_t *lc = assay_leak_case_new();
    assay_buf_t answer = ASSAY_BUF_INIT;
    assay_leak_section_t *sv = NULL;
    assay_leak_result_t res;
    assay_leak_result_init(&res);
    char *question = NULL;

    if (diag && !json_is_null(diag) &&
        s_add_diagnosis(lc, st->terms, diag, &answer, err, sizeof err) != 0)
        goto fail;
    if (codes) {
        if (!json_is_array(codes)) {
            snprintf(err, sizeof err, "field \"diagnosis_codes\" must be an array of strings");
            goto fail;
        }
        size_t i;
        const json_t *v;
        json_array_foreach(codes, i, v)
        {
            if (s_add_code(lc, st->terms, v, &answer, err, sizeof err) != 0) goto fail;
        }
    }
    if (assay_leak_case_gold_count(lc) == 0) {
        snprintf(err, sizeof err, "field \"diagnosis\" holds no diagnosis (empty text, or only "
                                  "codes the terminology does not know)");
        goto fail;
    }
    /* 0 diseases would mean "the default" to the engine: at least one */
    assay_leak_expand_opts_t xo = {max_treat >= 1 ? (size_t)max_treat : 1, 0};
    assay_leak_case_expand(lc, st->terms, &xo);

    assay_leak_input_t li = {json_string_value(text), text ? json_string_length(text) : 0, NULL, 0};
    if (json_is_object(secs)) {
        sv = assay_calloc(json_object_size(secs) + 1, sizeof *sv);
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)secs, k, v)
        {
            if (!json_is_string(v)) {
                snprintf(err, sizeof err, "section \"%s\" must be a string", k);
                goto fail;
            }
            sv[li.n_sections++] = (assay_leak_section_t){k, json_string_value(v), json_string_length(v)};
        }
        li.sections = sv;
    }
    assay_leak_opts_t opts = {(size_t)max_bytes, assay_param_bool(task, "allow_unsectioned", 0), flag};
    if (assay_leak_run(lc, &li, &opts, &res, err, sizeof err) != 0) goto fail;
    if (res.flagged && assay_param_bool(task, "fail_on_leak", 0)) {
        snprintf(err, sizeof err, "the cleaned case still names the diagnosis: %s (score %.2f)",
                 res.n_hits ? res.hits[0].reason : "", res.residual);
        goto fail;
    }
    size_t n_items = assay_leak_case_gold_count(lc);
    const char *tmpl = assay_param_str(task, "question_template",
                                       n_items > 1 ? s_default_question_multi : s_default_question);
    question = s_question(tmpl, res.clean_text, n_items);
    assay_task_done(task, s_output(lc, &res, question, answer.data ? answer.data : ""));
    goto done;
fail:
    assay_task_fail(task, 0, "%s", err);
done:
    free(question);
    free(sv);
    assay_leak_result_release(&res);
    assay_buf_release(&answer);
    assay_leak_case_destroy(&lc);
}

const assay_handler_t assay_task_leak_removal = {
    .kind = "leak_removal",
    .summary = "remove what reveals the gold diagnosis from a case record and ask for it",
    .setup = s_setup,
    .teardown = s_teardown,
    .run = s_run,
};
