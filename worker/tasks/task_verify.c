/*  task_verify.c: the `verify` kind — the rule verifier (worker/domain/verify.h) on one
 *  sampled answer.
 *
 *  Input (one JSON object; the item plus the sample to check):
 *    kind        "mcq" | "case" | "open"; when absent, "mcq" if "options" is an
 *                object, else "case"
 *    answer      the gold answer: option letters ("C", "ABD") or an option's text
 *                for mcq; free text (a diagnosis, a list of them) otherwise
 *    gold_codes  optional: ICD codes of the gold answer (array of strings, or one
 *                string); enough on their own for case/open items
 *    options     mcq only: {"A": "...", "B": "...", ...}
 *    sample      {"answer": "...", "reasoning": "..."}: the sample (or "response" /
 *                "prediction" offline, see worker/domain/sample_text.h)
 *  Params: w_path, w_graph, w_term, w_precision, threshold (default 0.8),
 *  min_precision (default 0.34: a free-text answer is correct only when at least
 *  that share of the diseases it names match the gold),
 *  system ("any" | "clin2.0" | "bj_v601": code system for name lookups),
 *  link ("full", the default: names and aliases, then, for a gold atom that is not
 *  matched exactly, the full normaliser of the gold's code system as evidence
 *  (see assay_verify_params_t.linkers), built once per process from the
 *  terminology and its known mentions; "exact": names and aliases only, the fast
 *  path; "fuzzy": what exact names leave unlinked goes through the normaliser as
 *  atoms).
 *  Output:
 *    score          0..1
 *    correct        score >= threshold (mcq: the exact letters)
 *    explain        {method, atoms, codes, path_sim, graph_sim, term_sim, recall,
 *                    precision, weights} (mcq: gold, predicted, found_by)
 *    terms_version  the terminology the score was computed with (null for an mcq
 *                   checked without a terminology)
 *    answer_source  where the checked text came from ("sample", "response", ...;
 *                   "sample.reasoning" when an mcq answer named no option and the
 *                   letters were found at the end of the reasoning)
 *  mcq items need no terminology; case/open items need one (--terms DIR|SNAPSHOT).
 *
 *  Escalation (case/open): with param escalate_endpoint (an endpoint name), a rule
 *  score inside escalate_band ([low, high], default [0.4, 0.8]) is handed to the
 *  LLM outcome judge (template judge_outcome, temperature 0, worker/domain/judge.h reads
 *  the reply). The output then keeps the rule's result in "rule" {score, correct},
 *  the judge's in "judge" {score, comment, endpoint, model, cache_key, cached},
 *  "score"/"correct" become the judge's, and "decided_by" says "judge" or "rule".
 *  A judge that fails or answers unreadably leaves the rule's result, with
 *  "judge_error". Judgments are cached like generated samples: an input
 *  "cached_judge" object (a previous output's "judge") whose cache_key matches the
 *  request, or a judgment this worker process received for the same key (the last
 *  1,024), is reused without a call ("cached": true).
 */
#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "worker/domain/judge.h"
#include "worker/llm/llm.h"
#include "worker/tasks/llmkit.h"
#include "worker/tasks/runtime.h"
#include "worker/domain/sample_text.h"
#include "worker/tasks/task.h"
#include "worker/domain/terms.h"
#include "worker/domain/normalize.h"
#include "worker/llm/prompt.h"
#include "worker/domain/verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_CODES 16

static int s_read_params(assay_task_t *task, assay_verify_params_t *p, char *err, size_t errlen)
{
    assay_verify_params_default(p);
    p->w_path = assay_param_num(task, "w_path", p->w_path);
    p->w_graph = assay_param_num(task, "w_graph", p->w_graph);
    p->w_term = assay_param_num(task, "w_term", p->w_term);
    p->w_precision = assay_param_num(task, "w_precision", p->w_precision);
    p->threshold = assay_param_num(task, "threshold", p->threshold);
    p->min_precision = assay_param_num(task, "min_precision", p->min_precision);
    const char *sys = assay_param_str(task, "system", "any");
    if (strcmp(sys, "any") == 0)
        p->system = ASSAY_SYS_ANY;
    else if (assay_terms_system_parse(sys, &p->system) < 0) {
        snprintf(err, errlen, "parameter \"system\" is \"%s\": expected any, clin2.0 or bj_v601",
                 sys);
        return ASSAY_EINVAL;
    }
    return assay_verify_params_check(p, err, errlen);
}

/* the fuzzy linker, shared by the process (built on first use) */
static void *s_load_linker(assay_runtime_t *rt, char *err, size_t errlen)
{
    const assay_terms_t *terms = assay_terms_shared(rt, err, errlen);
    if (!terms) return NULL;
    assay_normalizer_t *nz = assay_normalizer_new(terms, NULL, err, errlen);
    if (nz) assay_normalizer_prepare(nz); /* read-only from here on */
    return nz;
}

static void s_free_linker(void *obj)
{
    assay_normalizer_t *nz = obj;
    assay_normalizer_destroy(&nz);
}

/* the full normaliser of one code system as evidence (link=full), every candidate
 * kept so the verifier sees the ranking; shared by the process */
static void *s_load_evidence(assay_runtime_t *rt, assay_code_system_t sys, char *err,
                             size_t errlen)
{
    const assay_terms_t *terms = assay_terms_shared(rt, err, errlen);
    if (!terms) return NULL;
    assay_normalize_opts_t o;
    assay_normalize_opts_default(&o);
    o.system = sys;
    o.min_confidence = 0;
    o.max_entities = 32;
    assay_normalizer_t *nz = assay_normalizer_new(terms, &o, err, errlen);
    if (nz) assay_normalizer_prepare(nz);
    return nz;
}

static void *s_load_evidence_clin(assay_runtime_t *rt, char *err, size_t errlen)
{
    return s_load_evidence(rt, ASSAY_SYS_CLIN20, err, errlen);
}

static void *s_load_evidence_bj(assay_runtime_t *rt, char *err, size_t errlen)
{
    return s_load_evidence(rt, ASSAY_SYS_BJV601, err, errlen);
}

static void s_mcq(assay_task_t *task, const json_t *in, const assay_verify_params_t *p,
                  const assay_sample_text_t *st, const char *gold)
{
    const json_t *opts = json_object_get(in, "options");
    if (!json_is_object(opts)) {
        assay_task_fail(task, 0,
                        "field \"options\": expected an object {\"A\": text, ...} for "
                        "an mcq item");
        return;
    }
    const char *options[ASSAY_VERIFY_MAX_OPTIONS] = {NULL};
    size_t n_options = 0;
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)opts, key, val)
    {
        if (strlen(key) != 1 || key[0] < 'A' || key[0] >= 'A' + ASSAY_VERIFY_MAX_OPTIONS) {
            assay_task_fail(task, 0, "field \"options\": key \"%s\" is not an option letter A-H",
                            key);
            return;
        }
        if (!json_is_string(val)) {
            assay_task_fail(task, 0, "field \"options.%s\": expected a string", key);
            return;
        }
        size_t i = (size_t)(key[0] - 'A');
        options[i] = json_string_value(val);
        if (i + 1 > n_options) n_options = i + 1;
    }
    assay_verify_result_t r;
    const char *source = st->source;
    if (assay_verify_mcq(p, gold, st->answer, st->answer_len, options, n_options, &r) < 0) {
        assay_task_fail(task, 0, "field \"answer\": \"%s\" names no option of this item", gold);
        return;
    }
    /* an answer without letters: a reasoning that ends in "故选B" still commits */
    if (r.how == ASSAY_MCQ_NONE && st->reasoning && st->reasoning_len > 0) {
        assay_verify_result_t r2;
        if (assay_verify_mcq(p, gold, st->reasoning, st->reasoning_len, options, n_options, &r2) ==
                0 &&
            r2.how == ASSAY_MCQ_MARKER) {
            r = r2;
            source = "sample.reasoning";
        }
    }
    char err[256];
    const assay_terms_t *terms = assay_terms_shared(assay_task_runtime(task), err, sizeof err);
    json_t *out = json_pack(
        "{s:f, s:b, s:f, s:o, s:o, s:s}", "score", r.score, "correct", r.correct, "threshold",
        p->threshold, "explain", assay_verify_explain(NULL, p, &r), "terms_version",
        terms ? json_string(assay_terms_version(terms)) : json_null(), "answer_source", source);
    assay_task_done(task, out);
}

/* with a terminology configured, the normalisers are built before the first task
 * (the worker calls setup before it connects): preparing them takes seconds on a
 * full terminology, which inside a task would stall the worker's event loop */
static int s_setup(assay_runtime_t *rt, void **state, char *err, size_t errlen)
{
    *state = NULL;
    const char *terms = assay_runtime_setting(rt, "terms", NULL);
    if (!terms || !*terms) return 0; /* mcq items need none */
    if (!assay_runtime_shared(rt, "verify.evidence.clin2.0", s_load_evidence_clin, s_free_linker,
                              err, errlen) ||
        !assay_runtime_shared(rt, "verify.evidence.bj_v601", s_load_evidence_bj, s_free_linker,
                              err, errlen))
        return ASSAY_ECONFIG;
    return 0;
}

/* ---- escalation to an LLM outcome judge ------------------------------------------ */

/* the judgments this process has received, by cache key: a retried or repeated
 * check is not paid for twice (bounded; the oldest entry is replaced) */
#define S_JCACHE 1024
typedef struct {
    char key[S_JCACHE][65];
    json_t *judge[S_JCACHE];
    size_t next;
} s_jcache_t;

static void *s_jcache_new(assay_runtime_t *rt, char *err, size_t errlen)
{
    (void)rt;
    (void)err;
    (void)errlen;
    return assay_calloc(1, sizeof(s_jcache_t));
}

static void s_jcache_free(void *obj)
{
    s_jcache_t *c = obj;
    for (size_t i = 0; c && i < S_JCACHE; i++)
        json_decref(c->judge[i]);
    free(c);
}

static const json_t *s_jcache_get(const s_jcache_t *c, const char *key)
{
    for (size_t i = 0; c && i < S_JCACHE; i++)
        if (c->judge[i] && strcmp(c->key[i], key) == 0) return c->judge[i];
    return NULL;
}

static void s_jcache_put(s_jcache_t *c, const char *key, const json_t *judge)
{
    if (!c) return;
    size_t i = c->next;
    c->next = (c->next + 1) % S_JCACHE;
    json_decref(c->judge[i]);
    snprintf(c->key[i], sizeof c->key[i], "%s", key);
    c->judge[i] = json_deep_copy(judge);
}

/* one escalated check: the rule result waits for the judge's */
typedef struct {
    assay_task_t *task;
    json_t *out;  /* the rule's output, completed when the judge answers */
    char key[65]; /* the judgment's cache key */
    const char *endpoint;
    double threshold;
    s_jcache_t *cache;
} s_esc_t;

/* the final output: the judge decided (judge != NULL) or the rule did */
static void s_esc_finish(s_esc_t *e, json_t *judge, double jscore, const char *why)
{
    json_t *out = e->out;
    json_t *rule = json_pack("{s:O, s:O}", "score", json_object_get(out, "score"), "correct",
                             json_object_get(out, "correct"));
    json_object_set_new(out, "rule", rule);
    if (judge) {
        json_object_set_new(out, "judge", judge);
        json_object_set_new(out, "score", json_real(jscore));
        json_object_set_new(out, "correct", json_boolean(jscore >= e->threshold));
        json_object_set_new(out, "decided_by", json_string("judge"));
    } else {
        json_object_set_new(out, "judge_error", json_string(why));
        json_object_set_new(out, "decided_by", json_string("rule"));
    }
    assay_task_done(e->task, out);
    free(e);
}

static void s_esc_done(const assay_llm_outcome_t *o, void *arg)
{
    s_esc_t *e = arg;
    if (o->status.verdict != ASSAY_LLM_OK) {
        /* the rule stands; the failure is recorded, the task is not lost */
        log_info("verify", "outcome judge \"%s\": %s", e->endpoint, o->status.reason);
        s_esc_finish(e, NULL, 0, o->status.reason);
        return;
    }
    const char *reply = o->result.nchoices > 0 ? o->result.choices[0].content : "";
    assay_judge_reply_t r;
    char err[400];
    if (assay_judge_parse(reply, strlen(reply), &r, err, sizeof err) < 0) {
        s_esc_finish(e, NULL, 0, err);
        return;
    }
    json_t *j = json_pack("{s:f, s:s, s:s, s:s, s:s, s:b}", "score", r.score, "comment",
                          r.comment, "endpoint", e->endpoint, "model",
                          *o->result.model ? o->result.model : "", "cache_key", e->key, "cached",
                          0);
    double sc = r.score;
    assay_judge_reply_release(&r);
    s_jcache_put(e->cache, e->key, j);
    s_esc_finish(e, j, sc, NULL);
}

/* the band [lo, hi] of the "escalate_band" parameter; 0, or -1 with err */
static int s_band(assay_task_t *task, double *lo, double *hi, char *err, size_t errlen)
{
    const json_t *b = json_object_get(assay_task_params(task), "escalate_band");
    if (!b) b = json_object_get(assay_runtime_params(assay_task_runtime(task)), "escalate_band");
    *lo = 0.4;
    *hi = 0.8;
    if (!b) return 0;
    if (!json_is_array(b) || json_array_size(b) != 2 ||
        !json_is_number(json_array_get(b, 0)) || !json_is_number(json_array_get(b, 1)) ||
        !(json_number_value(json_array_get(b, 0)) >= 0) ||
        !(json_number_value(json_array_get(b, 1)) <= 1) ||
        json_number_value(json_array_get(b, 0)) > json_number_value(json_array_get(b, 1))) {
        snprintf(err, errlen,
                 "parameter \"escalate_band\": expected [low, high] with 0 <= low <= high <= 1");
        return -1;
    }
    *lo = json_number_value(json_array_get(b, 0));
    *hi = json_number_value(json_array_get(b, 1));
    return 0;
}

/* hand a rule score in the band to the outcome judge named by "escalate_endpoint";
 * 1 when the task will finish later (or has failed), 0 when the rule decides now */
static int s_escalate(assay_task_t *task, const json_t *in, const assay_sample_text_t *st,
                      const char *gold, json_t *out)
{
    const char *ep_name = assay_param_str(task, "escalate_endpoint", NULL);
    if (!ep_name || !*ep_name) return 0;
    char err[512];
    double lo, hi;
    if (s_band(task, &lo, &hi, err, sizeof err) < 0) {
        json_decref(out);
        assay_task_fail(task, 0, "%s", err);
        return 1;
    }
    double score = json_number_value(json_object_get(out, "score"));
    if (score < lo || score > hi) {
        json_object_set_new(out, "decided_by", json_string("rule"));
        return 0;
    }
    assay_llmkit_t *kit = assay_llmkit_shared(assay_task_runtime(task), err, sizeof err);
    assay_endpoint_t *ep = kit ? assay_endpoints_get(kit->endpoints, ep_name, err, sizeof err)
                               : NULL;
    const assay_prompt_t *prompt =
        ep ? assay_prompts_get(kit->prompts, "judge_outcome", err, sizeof err) : NULL;
    if (!prompt) {
        json_decref(out);
        assay_task_fail(task, 0, "parameter \"escalate_endpoint\": %s", err);
        return 1;
    }
    json_t *ctx = json_deep_copy(in);
    json_object_set_new(ctx, "gold", json_string(gold ? gold : ""));
    const json_t *q = json_object_get(in, "question");
    if (!json_is_string(q)) q = json_object_get(in, "text");
    if (json_is_string(q))
        json_object_set(ctx, "question", (json_t *)q);
    else /* the judge sees that there is none rather than a blank */
        json_object_set_new(ctx, "question", json_string("（未提供题目）"));
    json_t *sample = json_object();
    json_object_set_new(sample, "answer", json_stringn(st->answer, st->answer_len));
    json_object_set_new(sample, "reasoning",
                        st->reasoning && st->reasoning_len
                            ? json_stringn(st->reasoning, st->reasoning_len)
                            : json_string("（未提供推理过程）"));
    json_object_set_new(ctx, "sample", sample);
    json_t *messages = assay_prompt_render(prompt, ctx, err, sizeof err);
    json_decref(ctx);
    if (!messages) {
        json_decref(out);
        assay_task_fail(task, 0, "verify: outcome judge template: %s", err);
        return 1;
    }
    assay_llm_params_t lp;
    assay_llm_params_init(&lp);
    lp.temperature = 0;
    json_t *kp = json_pack("{s:f, s:s}", "temperature", 0.0, "template_hash",
                           assay_prompt_hash(prompt));
    s_esc_t *e = ASSAY_NEW(s_esc_t);
    assay_llm_cache_key(ep->model, messages, kp, 0, e->key);
    json_decref(kp);
    e->task = task;
    e->out = out;
    e->endpoint = ep->name;
    e->threshold = json_number_value(json_object_get(out, "threshold"));
    /* a judgment already paid for: the input's "cached_judge" with the same key, or
     * one this process received */
    e->cache = assay_runtime_shared(assay_task_runtime(task), "verify.judgments", s_jcache_new,
                                    s_jcache_free, err, sizeof err);
    const json_t *cj = json_object_get(in, "cached_judge");
    const char *ik = json_string_value(json_object_get(cj, "cache_key"));
    if (!ik || strcmp(ik, e->key) != 0) cj = s_jcache_get(e->cache, e->key);
    const char *ck = json_string_value(json_object_get(cj, "cache_key"));
    const json_t *cs = json_object_get(cj, "score");
    if (ck && strcmp(ck, e->key) == 0 && json_is_number(cs) && json_number_value(cs) >= 0 &&
        json_number_value(cs) <= 1) {
        json_t *j = json_deep_copy(cj);
        json_object_set_new(j, "cached", json_true());
        json_decref(messages);
        s_esc_finish(e, j, json_number_value(cs), NULL);
        return 1;
    }
    json_t *req = assay_llm_request_json(ep, messages, &lp);
    json_decref(messages);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    int rc = assay_llm_call(kit->llm, ep, body, strlen(body), 0, s_esc_done, e);
    free(body);
    if (rc != 0) {
        s_esc_finish(e, NULL, 0, assay_strerror(rc));
        return 1;
    }
    return 1;
}

static void s_check(assay_task_t *task, const json_t *in, assay_verify_kind_t kind,
                    assay_verify_params_t *pp, const char *gold, size_t glen);

static void s_run(void *state, assay_task_t *task)
{
    (void)state;
    const json_t *in = assay_task_input(task);
    char err[512];
    assay_verify_params_t p;
    if (s_read_params(task, &p, err, sizeof err) < 0) {
        assay_task_fail(task, 0, "%s", err);
        return;
    }
    assay_verify_kind_t kind;
    const json_t *jk = json_object_get(in, "kind");
    if (jk) {
        if (!json_is_string(jk) || assay_verify_kind_parse(json_string_value(jk), &kind) < 0) {
            assay_task_fail(task, 0, "field \"kind\": expected \"mcq\", \"case\" or \"open\"");
            return;
        }
    } else {
        kind =
            json_is_object(json_object_get(in, "options")) ? ASSAY_VERIFY_MCQ : ASSAY_VERIFY_CASE;
    }
    const json_t *ja = json_object_get(in, "answer");
    /* case records and open questions name their gold as on import */
    if (kind != ASSAY_VERIFY_MCQ && (!ja || json_is_null(ja))) ja = json_object_get(in, "diagnosis");
    if (kind != ASSAY_VERIFY_MCQ && (!ja || json_is_null(ja)))
        ja = json_object_get(in, "reference_answer");
    if (ja && !json_is_string(ja) && !json_is_null(ja) && !json_is_array(ja)) {
        assay_task_fail(task, 0,
                        "field \"answer\": expected a string (the gold answer) or an array of "
                        "strings (several answers)");
        return;
    }
    /* a gold that lists several answers (an array, or a numbered list such as
     * "1.心房颤动2.高血压病") is compared as a list: one item per line, so each
     * diagnosis is an atom of its own and recall counts every one of them */
    size_t i;
    const json_t *v;
    json_array_foreach(ja, i, v)
    {
        if (!json_is_string(v)) {
            assay_task_fail(task, 0, "field \"answer[%zu]\": expected a string", i);
            return;
        }
    }
    assay_buf_t goldbuf = ASSAY_BUF_INIT;
    if (kind == ASSAY_VERIFY_MCQ) /* letters: "ABD", or ["A", "B", "D"] */
        json_array_foreach(ja, i, v) assay_buf_add(&goldbuf, json_string_value(v),
                                                   json_string_length(v));
    else if (assay_prompt_gold_split(ja, &goldbuf) < 2 && json_is_string(ja))
        assay_buf_reset(&goldbuf); /* one item: the text as it is */
    const char *gold = goldbuf.len ? goldbuf.data : json_string_value(ja);
    size_t glen = goldbuf.len ? goldbuf.len : (json_is_string(ja) ? json_string_length(ja) : 0);
    s_check(task, in, kind, &p, gold, glen);
    assay_buf_release(&goldbuf);
}

#define S_MAX_MARKS 64

/* the start of the line holding text[at] */
static size_t s_line_start(const char *text, size_t at)
{
    while (at > 0 && text[at - 1] != '\n')
        at--;
    return at;
}

/* A case answer ends with its diagnoses: "诊断：X", "诊断：" and a numbered list, or
 * one line per diagnosis ("主要诊断：A" / "次要诊断：B"). When it has such lines
 * (a "诊断：" or "诊断:" not preceded by 鉴别), what follows the markers of the last
 * run of consecutive marker lines, and everything after the last marker, is what
 * is checked -- not the differentials discussed before. Written into out; 0 when
 * the answer has no such line (or nothing follows it). */
static int s_final_diagnosis(const assay_sample_text_t *st, assay_buf_t *out)
{
    static const char *const marks[] = {"诊断：", "诊断:"};
    size_t at[S_MAX_MARKS], end[S_MAX_MARKS], n = 0;
    const char *t = st->answer;
    size_t len = st->answer_len;
    for (size_t i = 0; i + 4 <= len;) {
        size_t ml = 0;
        for (size_t m = 0; m < sizeof marks / sizeof marks[0] && !ml; m++) {
            size_t l = strlen(marks[m]);
            if (i + l <= len && memcmp(t + i, marks[m], l) == 0) ml = l;
        }
        if (!ml) {
            i++;
            continue;
        }
        if (!(i >= 3 && memcmp(t + i - 3, "别", 3) == 0)) {
            if (n == S_MAX_MARKS) { /* keep the last ones: those are the conclusion */
                memmove(at, at + 1, (n - 1) * sizeof at[0]);
                memmove(end, end + 1, (n - 1) * sizeof end[0]);
                n--;
            }
            at[n] = i;
            end[n] = i + ml;
            n++;
        }
        i += ml;
    }
    if (n == 0) return 0;
    /* the last run of marker lines: walk back while the previous marker sits on
     * the line just before */
    size_t first = n - 1;
    while (first > 0) {
        size_t ls = s_line_start(t, at[first]);
        if (ls == 0 || s_line_start(t, ls - 1) > at[first - 1] || at[first - 1] >= ls) break;
        first--;
    }
    for (size_t k = first; k < n; k++) {
        size_t from = end[k];
        size_t to = k + 1 < n ? s_line_start(t, at[k + 1]) : len;
        if (to < from) to = from; /* two markers on one line: the later one counts */
        if (out->len) assay_buf_addc(out, '\n');
        assay_buf_add(out, t + from, to - from);
    }
    size_t k = 0;
    while (k < out->len && (out->data[k] == ' ' || out->data[k] == '\n' || out->data[k] == '\r' ||
                            out->data[k] == '*'))
        k++;
    if (k == out->len) {
        assay_buf_reset(out);
        return 0;
    }
    return 1;
}

static void s_check_text(assay_task_t *task, const json_t *in, assay_verify_kind_t kind,
                         assay_verify_params_t *pp, const char *gold, size_t glen,
                         const assay_sample_text_t *stp);

/* the rest of s_run, with the gold answer as text (a list one item per line) */
static void s_check(assay_task_t *task, const json_t *in, assay_verify_kind_t kind,
                    assay_verify_params_t *pp, const char *gold, size_t glen)
{
    char err[512];
    assay_verify_params_t p = *pp;
    assay_sample_text_t st;
    if (assay_sample_text_get(in, &st, err, sizeof err) < 0) {
        assay_task_fail(task, 0, "%s", err);
        return;
    }
    if (kind == ASSAY_VERIFY_MCQ) {
        if (!gold || glen == 0) {
            assay_task_fail(task, 0,
                            "field \"answer\": expected the gold option letters of an "
                            "mcq item");
            return;
        }
        s_mcq(task, in, &p, &st, gold);
        return;
    }

    /* a case answer ends with its diagnoses ("诊断：X", or "诊断：" and a numbered
     * list): when it has that line, the diagnoses are what is checked, not the
     * differentials discussed before them */
    assay_buf_t final = ASSAY_BUF_INIT, listed = ASSAY_BUF_INIT;
    if (kind == ASSAY_VERIFY_CASE) {
        if (s_final_diagnosis(&st, &final)) {
            st.answer = final.data;
            st.answer_len = final.len;
        }
        /* "1. 冠心病 2. 2型糖尿病" on one line: one diagnosis per line */
        if (assay_prompt_list_split(st.answer, st.answer_len, &listed) > 1) {
            st.answer = listed.data;
            st.answer_len = listed.len;
        }
    }
    s_check_text(task, in, kind, &p, gold, glen, &st);
    assay_buf_release(&listed);
    assay_buf_release(&final);
}

/* the free-text check of s_check */
static void s_check_text(assay_task_t *task, const json_t *in, assay_verify_kind_t kind,
                         assay_verify_params_t *pp, const char *gold, size_t glen,
                         const assay_sample_text_t *stp)
{
    char err[512];
    assay_verify_params_t p = *pp;
    assay_sample_text_t st = *stp;

    const char *codes[S_MAX_CODES];
    size_t n_codes = 0;
    const json_t *jc = json_object_get(in, "gold_codes");
    if (json_is_string(jc)) {
        codes[n_codes++] = json_string_value(jc);
    } else if (json_is_array(jc)) {
        size_t i;
        const json_t *v;
        json_array_foreach(jc, i, v)
        {
            if (!json_is_string(v)) {
                assay_task_fail(task, 0, "field \"gold_codes[%zu]\": expected a string", i);
                return;
            }
            if (n_codes < S_MAX_CODES) codes[n_codes++] = json_string_value(v);
        }
    } else if (jc && !json_is_null(jc)) {
        assay_task_fail(task, 0, "field \"gold_codes\": expected an array of ICD code strings");
        return;
    }
    if (glen == 0 && n_codes == 0) {
        assay_task_fail(task, 0,
                        "field \"answer\": expected the gold answer text (or "
                        "\"gold_codes\")");
        return;
    }
    const assay_terms_t *terms = assay_terms_shared(assay_task_runtime(task), err, sizeof err);
    if (!terms) {
        assay_task_fail(task, 0, "could not load the terminology: %s", err);
        return;
    }
    const char *link = assay_param_str(task, "link", "full");
    if (strcmp(link, "full") == 0) {
        assay_runtime_t *rt = assay_task_runtime(task);
        p.linkers[ASSAY_SYS_CLIN20] = assay_runtime_shared(
            rt, "verify.evidence.clin2.0", s_load_evidence_clin, s_free_linker, err, sizeof err);
        if (p.linkers[ASSAY_SYS_CLIN20])
            p.linkers[ASSAY_SYS_BJV601] = assay_runtime_shared(
                rt, "verify.evidence.bj_v601", s_load_evidence_bj, s_free_linker, err, sizeof err);
        if (!p.linkers[ASSAY_SYS_CLIN20] || !p.linkers[ASSAY_SYS_BJV601]) {
            assay_task_fail(task, 1, "could not build the normaliser: %s", err);
            return;
        }
    } else if (strcmp(link, "fuzzy") == 0) {
        p.linker = assay_runtime_shared(assay_task_runtime(task), "verify.linker", s_load_linker,
                                        s_free_linker, err, sizeof err);
        if (!p.linker) {
            assay_task_fail(task, 1, "could not build the fuzzy linker: %s", err);
            return;
        }
    } else if (strcmp(link, "exact") != 0) {
        assay_task_fail(task, 0, "parameter \"link\" is \"%s\": expected full, exact or fuzzy",
                        link);
        return;
    }
    assay_verify_result_t r;
    if (assay_verify_text(terms, &p, gold, glen, codes, n_codes, st.answer, st.answer_len, &r) <
        0) {
        assay_task_fail(task, 0,
                        "field \"answer\": the gold answer names nothing to compare "
                        "with (no text atoms and no known gold code)");
        return;
    }
    r.kind = kind;
    json_t *out =
        json_pack("{s:f, s:b, s:f, s:o, s:s, s:s}", "score", r.score, "correct", r.correct,
                  "threshold", p.threshold, "explain", assay_verify_explain(terms, &p, &r),
                  "terms_version", assay_terms_version(terms), "answer_source", st.source);
    if (s_escalate(task, in, &st, gold, out)) return;
    assay_task_done(task, out);
}

/* the parameters this kind accepts (checked by the executor and `assay submit`) */
static const assay_param_spec_t s_params[] = {
    {"w_path", ASSAY_PARAM_NUMBER, 0, 1000000, 0, NULL, 0, "weight of the ICD path similarity"},
    {"w_graph", ASSAY_PARAM_NUMBER, 0, 1000000, 0, NULL, 0, "weight of the knowledge-graph similarity"},
    {"w_term", ASSAY_PARAM_NUMBER, 0, 1000000, 0, NULL, 0, "weight of the string similarity"},
    {"w_precision", ASSAY_PARAM_NUMBER, 0, 1, 0, NULL, 0, "share of precision in the score"},
    {"threshold", ASSAY_PARAM_NUMBER, 0, 1, 0, NULL, 0, "score at which a sample is correct (default 0.8)"},
    {"system", ASSAY_PARAM_STRING, 0, 0, 0, "any|clin2.0|bj_v601", 0, "code system for name lookups"},
    {"link", ASSAY_PARAM_STRING, 0, 0, 0, "full|exact|fuzzy", 0, "how answer text is linked to concepts (default full)"},
    {"min_precision", ASSAY_PARAM_NUMBER, 0, 1, 0, NULL, 0, "share of an answer's diagnoses that must match for correct (default 0.34)"},
    {"escalate_endpoint", ASSAY_PARAM_STRING, 0, 0, 0, NULL, ASSAY_PARAM_NAMES_ENDPOINT, "outcome judge for rule scores in the band"},
    {"escalate_band", ASSAY_PARAM_RANGE, 0, 1, 0, NULL, 0, "rule scores handed to the judge (default [0.4, 0.8])"},
    {NULL, 0, 0, 0, 0, NULL, 0, NULL}};

const assay_handler_t assay_task_verify = {
    .kind = "verify",
    .summary = "score a sampled answer against the gold answer through the terminology",
    .setup = s_setup,
    .teardown = NULL,
    .run = s_run,
    .params = s_params,
};
