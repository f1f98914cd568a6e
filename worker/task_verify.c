/*  task_verify.c: the `verify` kind — the rule verifier (worker/verify.h) on one
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
 *                "prediction" offline, see worker/sample_text.h)
 *  Params: w_path, w_graph, w_term, w_precision, threshold (default 0.8),
 *  system ("any" | "clin2.0" | "bj_v601": code system for name lookups),
 *  link ("exact", the default: names and aliases; "fuzzy": what exact names leave
 *  unlinked goes through the normaliser of worker/normalize.h, built once per
 *  process — about 30 times slower per check).
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
 */
#include "common/error.h"
#include "worker/runtime.h"
#include "worker/sample_text.h"
#include "worker/task.h"
#include "worker/terms.h"
#include "worker/normalize.h"
#include "worker/prompt.h"
#include "worker/verify.h"

#include <stdio.h>
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
    const char *link = assay_param_str(task, "link", "exact");
    if (strcmp(link, "fuzzy") == 0) {
        p.linker = assay_runtime_shared(assay_task_runtime(task), "verify.linker", s_load_linker,
                                        s_free_linker, err, sizeof err);
        if (!p.linker) {
            assay_task_fail(task, 1, "could not build the fuzzy linker: %s", err);
            return;
        }
    } else if (strcmp(link, "exact") != 0) {
        assay_task_fail(task, 0, "parameter \"link\" is \"%s\": expected exact or fuzzy", link);
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
    {"link", ASSAY_PARAM_STRING, 0, 0, 0, "exact|fuzzy", 0, "how answer text is linked to concepts"},
    {NULL, 0, 0, 0, 0, NULL, 0, NULL}};

const assay_handler_t assay_task_verify = {
    .kind = "verify",
    .summary = "score a sampled answer against the gold answer through the terminology",
    .setup = NULL,
    .teardown = NULL,
    .run = s_run,
    .params = s_params,
};
