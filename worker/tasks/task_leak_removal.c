/*  task_leak_removal.c: the `leak_removal` kind turns a case record with a known
 *  diagnosis into a diagnostic question that does not give the answer away.
 *
 *  Input:  {text?: string, sections? | fields?: {name: text}, diagnosis: string |
 *          [string | {name|text, code?}] | {text?, codes?: [..]}, diagnosis_codes?: [..]}
 *  Output: {clean_text, question, answer, removed: [{span, reason, section, offset,
 *          from: text | section | clean_text, action: removed | masked}],
 *          residual_leak, residual_flagged, residual_hits: [{match, reason, score}],
 *          gold_items, leak_terms, headers, notes?} and, with the LLM pass below,
 *          rewrite | rewrite_rejected, llm_leak_check, llm_cost
 *
 *  A section whose value is null or not a string (a number, an array, an object)
 *  is absent, and "notes" says which and why: exports write missing sections as
 *  null, and a record is not failed for one. A null "text", "sections",
 *  "diagnosis_codes", "diagnosis.text|code|codes" or diagnosis array item is
 *  absent too; any other type where a string, array or object is expected fails
 *  the task with the field, what it is and what was expected.
 *
 *  The engine is worker/domain/leak.c; this file maps JSON to it and back. The
 *  terminology comes from the runtime (setting "terms": a TSV directory or a
 *  snapshot); without one only the gold text itself is hidden, which setup logs.
 *
 *  Parameters: max_bytes (1 MiB), allow_unsectioned (false), flag_threshold
 *  (0.5), fail_on_leak (false: a case still leaking is returned with
 *  residual_flagged = true; true: it fails permanently), hide_history (false: the
 *  diagnosis named in the patient's past history stays as evidence, see
 *  assay_leak_case_hide_history; true: it is hidden too), max_treatment_diseases (5),
 *  question_template ("{case}" is replaced by the clean text, "{n}" by the number
 *  of gold items).
 *
 *  The optional LLM pass runs after assay_leak_run(), one endpoint call at a time:
 *  - rewrite_endpoint (an [endpoint.NAME]; template rewrite_template, default
 *    leak_rewrite): the endpoint rewrites clean_text for fluency without adding
 *    facts. The rewrite is kept only when it is plausible (not empty, between
 *    rewrite_min_ratio (0.5) and rewrite_max_ratio (1.5) times the characters of
 *    the clean text) and assay_leak_residual() does not flag it; else clean_text
 *    stays the deterministic one and "rewrite_rejected" says why. An accepted
 *    rewrite becomes clean_text (residual_* then describe it) and "rewrite" holds
 *    {endpoint, model, template, template_version, template_hash, prompt_tokens,
 *    completion_tokens, cost, attempts}.
 *  - judge_endpoint (template judge_template, default leak_judge): a MedReason-
 *    style check whether the diagnosis can be read straight off the final text;
 *    "llm_leak_check" = {leak, reason, endpoint, model, template_hash, attempts,
 *    cost}; a judged leak sets residual_flagged (and fails the task under
 *    fail_on_leak). A reply that is not a verdict (see leak_llm.h) is asked again,
 *    up to max_attempts (3) in all, then the task fails permanently.
 *  Templates are rendered with the input record whose "text" is the text to
 *  rewrite or judge, plus "answer" (the gold diagnosis). A transient endpoint
 *  error is retried with backoff up to max_attempts per call, then the task fails
 *  as retryable; a 429 fails it with assay_task_fail_ratelimited; other endpoint
 *  errors fail it permanently. "llm_cost" sums the cost of every call. The
 *  question is built from the final clean_text.
 */
#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "worker/llm/endpoint.h"
#include "worker/tasks/llmkit.h"
#include "worker/domain/leak.h"
#include "worker/domain/leak_llm.h"
#include "worker/llm/llm.h"
#include "worker/llm/prompt.h"
#include "worker/tasks/runtime.h"
#include "worker/tasks/task.h"
#include "worker/domain/terms.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


typedef struct {
    const assay_terms_t *terms; /* borrowed from the runtime; NULL without one */
} s_state_t;

/* what the LLM pass needs: the process's model-calling kit (worker/tasks/llmkit.h),
 * loaded on the first task that names an endpoint */
typedef assay_llmkit_t s_llm_shared_t;

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

/* "null", "a number", …: what a JSON value is, for messages */
static const char *s_json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_NULL: return "null";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_ARRAY: return "an array";
    case JSON_OBJECT: return "an object";
    case JSON_STRING: return "a string";
    }
    return "a value of unknown type";
}

/* add one diagnosis value to the case; fills answer; 0 or -1 with err */
static int s_add_diagnosis(assay_leak_case_t *lc, const assay_terms_t *terms, const json_t *d,
                           assay_buf_t *answer, char *err, size_t errlen);

static int s_add_code(assay_leak_case_t *lc, const assay_terms_t *terms, const json_t *code,
                      assay_buf_t *answer, char *err, size_t errlen)
{
    const char *c = json_string_value(code);
    if (!c || !*c) {
        snprintf(err, errlen, "diagnosis code must be a non-empty string, not %s",
                 c ? "an empty string" : s_json_kind(code));
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
            /* a null item is no diagnosis (exports write missing ones as null) */
            if (json_is_null(v)) continue;
            if (!json_is_string(v) && !json_is_object(v)) {
                snprintf(err, errlen,
                         "field \"diagnosis[%zu]\" must be a string or an object, not %s", i,
                         s_json_kind(v));
                return -1;
            }
            if (s_add_diagnosis(lc, terms, v, answer, err, errlen) != 0) return -1;
        }
        return 0;
    }
    if (json_is_object(d)) {
        const json_t *text = json_object_get(d, "text");
        if (!text) text = json_object_get(d, "name");
        if (json_is_null(text)) text = NULL;
        if (text && !json_is_string(text)) {
            snprintf(err, errlen, "field \"diagnosis.text\" must be a string, not %s",
                     s_json_kind(text));
            return -1;
        }
        if (text && s_add_diagnosis(lc, terms, text, answer, err, errlen) != 0) return -1;
        const json_t *code = json_object_get(d, "code");
        if (json_is_null(code)) code = NULL;
        if (code && s_add_code(lc, terms, code, answer, err, errlen) != 0) return -1;
        const json_t *codes = json_object_get(d, "codes");
        if (json_is_null(codes)) codes = NULL;
        if (codes && !json_is_array(codes)) {
            snprintf(err, errlen, "field \"diagnosis.codes\" must be an array of strings, not %s",
                     s_json_kind(codes));
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
             s_json_kind(d));
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
        json_array_append_new(rm, json_pack("{s:s, s:s, s:s, s:I, s:s, s:s}", "span", e->span,
                                            "reason", e->reason, "section", e->section, "offset",
                                            (json_int_t)e->offset, "from",
                                            e->in_named == 2 ? "clean_text"
                                            : e->in_named ? "section" : "text", "action",
                                            e->masked ? "masked" : "removed"));
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

/* ---- the LLM pass ----------------------------------------------------------------- */

typedef enum { S_STEP_REWRITE, S_STEP_JUDGE } s_step_t;

/* one task's LLM pass: the deterministic result and the calls still to make */
typedef struct {
    assay_task_t *task;
    s_llm_shared_t *sh;
    assay_leak_case_t *lc;
    assay_leak_result_t res;
    char *answer;
    const char *question_tmpl; /* borrowed from the params */
    double flag;
    int fail_on_leak;
    double min_ratio, max_ratio;
    int max_attempts;
    assay_endpoint_t *rw_ep, *judge_ep;
    const assay_prompt_t *rw_prompt, *judge_prompt;
    s_step_t step;
    int attempts; /* of the current step */
    json_t *messages;
    json_t *rewrite;          /* metadata of an accepted rewrite */
    char *rewrite_rejected;   /* why a rewrite was not used */
    json_t *judge;            /* llm_leak_check */
    json_t *notes;            /* absent sections (array) or NULL */
    double cost;
    char reason[512];
} s_job_t;

static void s_job_free(s_job_t *j)
{
    assay_leak_result_release(&j->res);
    assay_leak_case_destroy(&j->lc);
    free(j->answer);
    json_decref(j->messages);
    json_decref(j->rewrite);
    free(j->rewrite_rejected);
    json_decref(j->judge);
    json_decref(j->notes);
    free(j);
}

/* finish the task from the (possibly rewritten and judged) result */
static void s_complete(assay_task_t *task, const assay_leak_case_t *lc,
                       const assay_leak_result_t *res, const char *answer, const char *tmpl,
                       int fail_on_leak, json_t *extra)
{
    if (res->flagged && fail_on_leak) {
        const char *why = res->n_hits ? res->hits[0].reason : "";
        const json_t *judge = json_object_get(extra, "llm_leak_check");
        if (judge && json_is_true(json_object_get(judge, "leak")))
            why = json_string_value(json_object_get(judge, "reason"));
        assay_task_fail(task, 0, "the cleaned case still names the diagnosis: %s (score %.2f)",
                        why ? why : "", res->residual);
        json_decref(extra);
        return;
    }
    size_t n_items = assay_leak_case_gold_count(lc);
    if (!tmpl) tmpl = n_items > 1 ? s_default_question_multi : s_default_question;
    char *question = s_question(tmpl, res->clean_text, n_items);
    json_t *out = s_output(lc, res, question, answer);
    if (extra) json_object_update(out, extra);
    json_decref(extra);
    free(question);
    assay_task_done(task, out);
}

static void s_job_finish(s_job_t *j)
{
    json_t *extra = json_object();
    if (j->rewrite) json_object_set(extra, "rewrite", j->rewrite);
    if (j->rewrite_rejected)
        json_object_set_new(extra, "rewrite_rejected", json_string(j->rewrite_rejected));
    if (j->judge) json_object_set(extra, "llm_leak_check", j->judge);
    if (j->notes) json_object_set(extra, "notes", j->notes);
    json_object_set_new(extra, "llm_cost", json_real(j->cost));
    s_complete(j->task, j->lc, &j->res, j->answer, j->question_tmpl, j->fail_on_leak, extra);
    s_job_free(j);
}

static void s_job_fail(s_job_t *j, int retryable, const char *why)
{
    assay_task_fail(j->task, retryable, "%s", why);
    s_job_free(j);
}

static void s_step_start(s_job_t *j);
static void s_next_step(s_job_t *j);

/* the item a template is rendered with: the input record with "text" and "answer" */
static json_t *s_item(const s_job_t *j, const char *text)
{
    json_t *item = json_deep_copy(assay_task_input(j->task));
    json_object_set_new(item, "text", json_string(text));
    json_object_set_new(item, "answer", json_string(j->answer));
    return item;
}

static void s_on_timer(void *arg)
{
    s_step_start(arg);
}

/* a transient failure or an unusable reply: try the step again, with backoff,
 * while attempts remain; else fail (retryable for endpoint faults) */
static void s_again(s_job_t *j, int retryable, long min_delay_ms)
{
    j->attempts++;
    if (j->attempts >= j->max_attempts) {
        char why[700];
        snprintf(why, sizeof why, "leak_removal: %s (endpoint \"%s\") gave no usable reply in %d "
                 "attempts: %s", j->step == S_STEP_REWRITE ? "rewrite" : "leak judge",
                 (j->step == S_STEP_REWRITE ? j->rw_ep : j->judge_ep)->name, j->attempts,
                 j->reason);
        s_job_fail(j, retryable, why);
        return;
    }
    long delay = assay_llm_backoff_ms(j->sh->llm, j->attempts,
                                      min_delay_ms > 0 ? (uint32_t)min_delay_ms : 0);
    log_debug("leak", "retrying in %ld ms: %s", delay, j->reason);
    if (assay_http_after(assay_llm_http(j->sh->llm), delay, s_on_timer, j) == 0)
        s_job_fail(j, 1, "leak_removal: interrupted by shutdown");
}

static void s_note(s_job_t *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_note(s_job_t *j, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->reason, sizeof j->reason, fmt, ap);
    va_end(ap);
}

static json_t *s_call_meta(const s_job_t *j, const assay_endpoint_t *ep,
                           const assay_prompt_t *prompt, const assay_llm_outcome_t *o,
                           double cost)
{
    const assay_llm_result_t *r = &o->result;
    json_t *m = json_object();
    json_object_set_new(m, "endpoint", json_string(ep->name));
    json_object_set_new(m, "model", json_string(*r->model ? r->model : ep->model));
    json_object_set_new(m, "template", json_string(assay_prompt_name(prompt)));
    json_object_set_new(m, "template_version", json_integer(assay_prompt_version(prompt)));
    json_object_set_new(m, "template_hash", json_string(assay_prompt_hash(prompt)));
    json_object_set_new(m, "prompt_tokens", json_integer(r->prompt_tokens));
    json_object_set_new(m, "completion_tokens", json_integer(r->completion_tokens));
    json_object_set_new(m, "cost", json_real(cost));
    json_object_set_new(m, "attempts", json_integer(j->attempts + 1));
    return m;
}

/* the rewrite came back: keep it or say why not */
static void s_on_rewrite(s_job_t *j, const assay_llm_outcome_t *o, double cost)
{
    const assay_llm_choice_t *c = &o->result.choices[0];
    char why[700] = "";
    char *rw = NULL;
    if (c->refusal) {
        snprintf(why, sizeof why, "the endpoint refused: %s", c->refusal);
    } else if (strcmp(c->finish_reason, "length") == 0) {
        snprintf(why, sizeof why, "the rewrite was cut off (finish_reason length)");
    } else {
        rw = assay_leak_rewrite_extract(c->content);
        size_t rlen = strlen(rw);
        if (assay_leak_rewrite_length_ok(
                assay_leak_utf8_chars(j->res.clean_text, j->res.clean_len),
                assay_leak_utf8_chars(rw, rlen), j->min_ratio, j->max_ratio, why,
                sizeof why) == 0) {
            assay_leak_result_t chk;
            assay_leak_result_init(&chk);
            assay_leak_residual(j->lc, rw, rlen, j->flag, &chk);
            if (chk.flagged)
                snprintf(why, sizeof why, "the rewrite leaks the diagnosis: \"%s\" (%s, score %.2f)",
                         chk.n_hits ? chk.hits[0].match : "",
                         chk.n_hits ? chk.hits[0].reason : "", chk.residual);
            assay_leak_result_release(&chk);
        }
    }
    if (*why) {
        log_debug("leak", "task %llu: rewrite rejected: %s",
                 (unsigned long long)assay_task_id(j->task), why);
        j->rewrite_rejected = assay_strdup(why);
    } else {
        /* the rewrite is the text from now on: the residual fields describe it */
        free(j->res.clean_text);
        j->res.clean_len = strlen(rw);
        j->res.clean_text = rw;
        rw = NULL;
        assay_leak_residual(j->lc, j->res.clean_text, j->res.clean_len, j->flag, &j->res);
        j->rewrite = s_call_meta(j, j->rw_ep, j->rw_prompt, o, cost);
    }
    free(rw);
    s_next_step(j);
}

/* the judge's verdict came back; 0 when used, -1 when it must be asked again */
static int s_on_judge(s_job_t *j, const assay_llm_outcome_t *o, double cost)
{
    const assay_llm_choice_t *c = &o->result.choices[0];
    int leak = 0;
    char *reason = NULL;
    char err[400];
    if (c->refusal) {
        s_note(j, "the judge refused: %s", c->refusal);
        return -1;
    }
    if (assay_leak_judge_parse(c->content, &leak, &reason, err, sizeof err) != 0) {
        s_note(j, "%s", err);
        return -1;
    }
    json_t *m = s_call_meta(j, j->judge_ep, j->judge_prompt, o, cost);
    json_object_set_new(m, "leak", json_boolean(leak));
    json_object_set_new(m, "reason", json_string(reason));
    free(reason);
    j->judge = m;
    if (leak) j->res.flagged = 1; /* flagged, never passed silently */
    return 0;
}

static void s_on_done(const assay_llm_outcome_t *o, void *arg)
{
    s_job_t *j = arg;
    const assay_llm_status_t *st = &o->status;
    assay_endpoint_t *ep = j->step == S_STEP_REWRITE ? j->rw_ep : j->judge_ep;
    switch (st->verdict) {
    case ASSAY_LLM_OK: {
        double cost = assay_llm_cost(ep, o->result.prompt_tokens, o->result.completion_tokens);
        j->cost += cost;
        if (o->result.nchoices < 1) {
            s_note(j, "endpoint \"%s\" returned no choice", ep->name);
            s_again(j, 1, 0);
        } else if (j->step == S_STEP_REWRITE) {
            s_on_rewrite(j, o, cost);
        } else if (s_on_judge(j, o, cost) == 0) {
            s_next_step(j);
        } else {
            s_again(j, 0, 0);
        }
        return;
    }
    case ASSAY_LLM_RETRY:
        s_note(j, "%s", st->reason);
        s_again(j, 1, (long)st->retry_after_ms);
        return;
    case ASSAY_LLM_RATELIMIT: {
        assay_task_t *task = j->task;
        log_info("leak", "%s", st->reason);
        assay_task_fail_ratelimited(task, ep->name, st->retry_after_ms, "%s", st->reason);
        s_job_free(j);
        return;
    }
    case ASSAY_LLM_FATAL: {
        char why[700];
        snprintf(why, sizeof why, "leak_removal: %s", st->reason);
        s_job_fail(j, 0, why);
        return;
    }
    }
}

/* send the current step's request */
static void s_step_start(s_job_t *j)
{
    int rw = j->step == S_STEP_REWRITE;
    assay_endpoint_t *ep = rw ? j->rw_ep : j->judge_ep;
    assay_llm_params_t p;
    assay_llm_params_init(&p);
    /* greedy the first time; a question asked again may get another answer */
    if (j->attempts == 0) p.temperature = 0;
    p.stream = ep->stream;
    json_t *req = assay_llm_request_json(ep, j->messages, &p);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    int rc = assay_llm_call(j->sh->llm, ep, body, strlen(body), ep->stream, s_on_done, j);
    free(body);
    if (rc != 0) {
        char why[300];
        snprintf(why, sizeof why, "leak_removal: endpoint \"%s\": could not start request: %s",
                 ep->name, assay_strerror(rc));
        s_job_fail(j, rc == ASSAY_ESTATE, why);
    }
}

/* render the next step's prompt and start it, or finish */
static void s_next_step(s_job_t *j)
{
    const assay_prompt_t *prompt;
    if (j->step == S_STEP_REWRITE && j->rw_ep && !j->rewrite && !j->rewrite_rejected) {
        prompt = j->rw_prompt;
    } else if (j->judge_ep && !j->judge) {
        j->step = S_STEP_JUDGE;
        prompt = j->judge_prompt;
    } else {
        s_job_finish(j);
        return;
    }
    j->attempts = 0;
    char err[512];
    json_t *item = s_item(j, j->res.clean_text);
    json_decref(j->messages);
    j->messages = assay_prompt_render(prompt, item, err, sizeof err);
    json_decref(item);
    if (!j->messages) {
        char why[600];
        snprintf(why, sizeof why, "leak_removal: %s", err);
        s_job_fail(j, 0, why);
        return;
    }
    s_step_start(j);
}

/* the endpoint and template a step names, or NULL with err */
static int s_llm_step(s_llm_shared_t *sh, const char *what, const char *ep_name,
                      const char *tname, assay_endpoint_t **ep, const assay_prompt_t **prompt,
                      char *err, size_t errlen)
{
    char e[400];
    *ep = assay_endpoints_get(sh->endpoints, ep_name, e, sizeof e);
    if (!*ep) {
        snprintf(err, errlen, "parameter \"%s_endpoint\": %s", what, e);
        return -1;
    }
    *prompt = assay_prompts_get(sh->prompts, tname, e, sizeof e);
    if (!*prompt) {
        snprintf(err, errlen, "parameter \"%s_template\": %s", what, e);
        return -1;
    }
    return 0;
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
    double max_treat = assay_param_num(task, "max_treatment_diseases", 5);
    double max_bytes = assay_param_num(task, "max_bytes", 0);
    double flag = assay_param_num(task, "flag_threshold", 0.5);
    if (max_treat < 0 || max_treat > 1e6 || max_bytes < 0 || max_bytes > 1e12 || flag <= 0 ||
        flag > 1) {
        assay_task_fail(task, 0, "invalid parameters: expected max_treatment_diseases >= 0, "
                                 "max_bytes >= 0 and 0 < flag_threshold <= 1");
        return;
    }
    const char *rw_name = assay_param_str(task, "rewrite_endpoint", NULL);
    const char *judge_name = assay_param_str(task, "judge_endpoint", NULL);
    double max_attempts = assay_param_num(task, "max_attempts", 3);
    double min_ratio = assay_param_num(task, "rewrite_min_ratio", 0.5);
    double max_ratio = assay_param_num(task, "rewrite_max_ratio", 1.5);
    if (max_attempts < 1 || max_attempts > 20 || isnan(max_attempts) || !(min_ratio >= 0) ||
        !(max_ratio >= min_ratio) || max_ratio > 100) {
        assay_task_fail(task, 0, "invalid parameters: expected 1 <= max_attempts <= 20 and "
                                 "0 <= rewrite_min_ratio <= rewrite_max_ratio <= 100");
        return;
    }
    s_llm_shared_t *sh = NULL;
    assay_endpoint_t *rw_ep = NULL, *judge_ep = NULL;
    const assay_prompt_t *rw_prompt = NULL, *judge_prompt = NULL;
    if (rw_name || judge_name) {
        sh = assay_llmkit_shared(assay_task_runtime(task), err, sizeof err);
        if (!sh) {
            assay_task_fail(task, 1, "leak_removal: %s", err);
            return;
        }
        if ((rw_name &&
             s_llm_step(sh, "rewrite", rw_name,
                        assay_param_str(task, "rewrite_template", "leak_rewrite"), &rw_ep,
                        &rw_prompt, err, sizeof err) != 0) ||
            (judge_name &&
             s_llm_step(sh, "judge", judge_name, assay_param_str(task, "judge_template", "leak_judge"),
                        &judge_ep, &judge_prompt, err, sizeof err) != 0)) {
            assay_task_fail(task, 0, "%s", err);
            return;
        }
    }
    const json_t *text = json_object_get(in, "text");
    if (text && !json_is_string(text) && !json_is_null(text)) {
        assay_task_fail(task, 0, "field \"text\" must be a string or null, not %s",
                        s_json_kind(text));
        return;
    }
    const char *secs_name = "sections";
    const json_t *secs = json_object_get(in, "sections");
    if (!secs || json_is_null(secs)) {
        secs = json_object_get(in, "fields");
        secs_name = "fields";
    }
    if (secs && !json_is_object(secs) && !json_is_null(secs)) {
        assay_task_fail(task, 0, "field \"%s\" must be an object of section name to text, not %s",
                        secs_name, s_json_kind(secs));
        return;
    }
    const json_t *diag = json_object_get(in, "diagnosis");
    const json_t *codes = json_object_get(in, "diagnosis_codes");
    if (json_is_null(codes)) codes = NULL;
    if ((!diag || json_is_null(diag)) && !codes) {
        assay_task_fail(task, 0, "missing field \"diagnosis\" (the gold diagnosis text or codes)");
        return;
    }

    assay_leak_case_t *lc = assay_leak_case_new();
    assay_leak_case_hide_history(lc, assay_param_bool(task, "hide_history", 0));
    assay_buf_t answer = ASSAY_BUF_INIT;
    assay_leak_section_t *sv = NULL;
    json_t *notes = NULL; /* absent sections, for the output's "notes" */
    assay_leak_result_t res;
    assay_leak_result_init(&res);

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
            /* a section that is null (exports are full of them) or not text is
             * absent: noted in the output, never a failed record */
            if (!json_is_string(v)) {
                if (!notes) notes = json_array();
                json_array_append_new(notes, json_sprintf("%s \"%s\" is %s, not a string: treated "
                                                          "as absent",
                                                          secs_name, k, s_json_kind(v)));
                continue;
            }
            sv[li.n_sections++] = (assay_leak_section_t){k, json_string_value(v), json_string_length(v)};
        }
        li.sections = sv;
    }
    if (json_is_null(text)) {
        if (!notes) notes = json_array();
        json_array_append_new(notes, json_string("field \"text\" is null: treated as absent"));
    }
    assay_leak_opts_t opts = {(size_t)max_bytes, assay_param_bool(task, "allow_unsectioned", 0), flag};
    if (assay_leak_run(lc, &li, &opts, &res, err, sizeof err) != 0) {
        if (notes && json_array_size(notes) > 0 && strlen(err) + 64 < sizeof err) {
            size_t el = strlen(err);
            snprintf(err + el, sizeof err - el,
                     " (%zu field(s) null or not text, treated as absent)", json_array_size(notes));
        }
        goto fail;
    }
    free(sv);
    sv = NULL;
    int fail_on_leak = assay_param_bool(task, "fail_on_leak", 0);
    const char *tmpl = assay_param_str(task, "question_template", NULL);
    /* nothing an LLM says can clear a flagged case except an accepted rewrite:
     * without one, fail now rather than pay for a judge */
    if (!rw_ep && (!judge_ep || (res.flagged && fail_on_leak))) {
        json_t *extra = notes ? json_pack("{s:o}", "notes", notes) : NULL;
        notes = NULL;
        s_complete(task, lc, &res, answer.data ? answer.data : "", tmpl, fail_on_leak, extra);
        goto done;
    }
    /* the LLM pass: the job owns the case and the result from here on */
    s_job_t *j = ASSAY_NEW(s_job_t);
    j->task = task;
    j->sh = sh;
    j->lc = lc;
    j->res = res;
    size_t alen;
    j->answer = assay_buf_detach(&answer, &alen);
    if (!j->answer) j->answer = assay_strdup("");
    j->question_tmpl = tmpl;
    j->flag = flag;
    j->fail_on_leak = fail_on_leak;
    j->min_ratio = min_ratio;
    j->max_ratio = max_ratio;
    j->max_attempts = (int)max_attempts;
    j->rw_ep = rw_ep;
    j->judge_ep = judge_ep;
    j->rw_prompt = rw_prompt;
    j->judge_prompt = judge_prompt;
    j->step = rw_ep ? S_STEP_REWRITE : S_STEP_JUDGE;
    j->notes = notes;
    s_next_step(j);
    return;
fail:
    assay_task_fail(task, 0, "%s", err);
done:
    json_decref(notes);
    free(sv);
    assay_leak_result_release(&res);
    assay_buf_release(&answer);
    assay_leak_case_destroy(&lc);
}

/* the parameters this kind accepts (checked by the executor and `assay submit`) */
static const assay_param_spec_t s_params[] = {
    {"max_bytes", ASSAY_PARAM_INT, 0, 1000000000000.0, 0, NULL, 0, "largest record accepted (0: 1 MiB)"},
    {"allow_unsectioned", ASSAY_PARAM_BOOL, 0, 0, 0, NULL, 0, "accept a record without section headers"},
    {"flag_threshold", ASSAY_PARAM_NUMBER, 0, 1, 0, NULL, 0, "residual leak score that flags a case (default 0.5, > 0)"},
    {"fail_on_leak", ASSAY_PARAM_BOOL, 0, 0, 0, NULL, 0, "fail a case that still leaks instead of flagging it"},
    {"hide_history", ASSAY_PARAM_BOOL, 0, 0, 0, NULL, 0, "hide the diagnosis in the patient's past history too"},
    {"max_treatment_diseases", ASSAY_PARAM_INT, 0, 1000000, 0, NULL, 0, "diseases whose treatments are hidden (default 5)"},
    {"question_template", ASSAY_PARAM_STRING, 0, 0, 0, NULL, 0, "the question text: {case} and {n} are replaced"},
    {"rewrite_endpoint", ASSAY_PARAM_STRING, 0, 0, 0, NULL, ASSAY_PARAM_NAMES_ENDPOINT, "endpoint that rewrites the clean text"},
    {"rewrite_template", ASSAY_PARAM_STRING, 0, 0, 0, NULL, ASSAY_PARAM_NAMES_TEMPLATE, "template of the rewrite (default leak_rewrite)"},
    {"judge_endpoint", ASSAY_PARAM_STRING, 0, 0, 0, NULL, ASSAY_PARAM_NAMES_ENDPOINT, "endpoint that judges the residual leak"},
    {"judge_template", ASSAY_PARAM_STRING, 0, 0, 0, NULL, ASSAY_PARAM_NAMES_TEMPLATE, "template of the leak judge (default leak_judge)"},
    {"max_attempts", ASSAY_PARAM_INT, 1, 20, 0, NULL, 0, "calls per LLM step (default 3)"},
    {"rewrite_min_ratio", ASSAY_PARAM_NUMBER, 0, 100, 0, NULL, 0, "shortest accepted rewrite / clean text (default 0.5)"},
    {"rewrite_max_ratio", ASSAY_PARAM_NUMBER, 0, 100, 0, NULL, 0, "longest accepted rewrite / clean text (default 1.5)"},
    {NULL, 0, 0, 0, 0, NULL, 0, NULL}};

const assay_handler_t assay_task_leak_removal = {
    .kind = "leak_removal",
    .summary = "remove what reveals the gold diagnosis from a case record and ask for it",
    .setup = s_setup,
    .teardown = s_teardown,
    .run = s_run,
    .params = s_params,
};
