/*  task_judge.c: the `judge` kind: an LLM judges one sample of an item with a
 *  named, versioned prompt template, and its reply becomes a score in [0, 1],
 *  dimension scores and a one-line comment (parsed by worker/domain/judge.h).
 *
 *  Input: the item (question or text, options, category, the gold `answer`,
 *  `reference_answer` or `diagnosis`) plus the sample to judge (worker/domain/sample_text.h: "sample"
 *  {answer, reasoning}, or the "response" / "prediction" shorthands). The template
 *  is rendered from the input with three fields made uniform:
 *    question          the item's question, else its case text;
 *    gold              answer, else reference_answer, else diagnosis (case
 *                      records), as text; absent when none;
 *    sample.answer, sample.reasoning
 *                      the sample's answer and reasoning ("（未提供推理过程）" when
 *                      it has none, so a judge sees that rather than a blank).
 *
 *  Params: judge = outcome | process | consistency | preference (default outcome;
 *  selects the template judge_<judge> unless `template` is given), scorer (the
 *  score's name; default the judge's name, so one scores row per sample and judge),
 *  template_version (fail when the file has another), endpoint (default: setting
 *  "endpoint", else "sim"), temperature (default 0: a judge should be
 *  repeatable), top_p, seed, max_tokens, reasoning_effort, stream, max_attempts
 *  (1..20, default 3).
 *
 *  Output: {"scorer", "judge", "score", "dimensions": {name: value}, "comment",
 *  "judge_model", "endpoint", "template", "template_version", "template_hash",
 *  "parse" (json | json_repaired | lines), "reply" (the judge's text), "attempts",
 *  "cost", "prompt_tokens", "completion_tokens", "reasoning_tokens", "latency_ms"}.
 *
 *  Failures: a reply that cannot be read as a score is asked for again, up to
 *  max_attempts calls in all (the re-ask shows the judge its reply and the format
 *  once more); a reply that arrived but could not be read (the
 *  body not valid JSON, or no score in the text) every time fails the task
 *  permanently with "judge reply unparseable: ..." -- never a score. Transport
 *  faults (5xx, timeouts) are retried with backoff the same way and, when they
 *  persist, fail the task as retryable. A 429 fails at once with
 *  assay_task_fail_ratelimited (the broker slows the endpoint for everyone); a
 *  fatal fault (4xx, refusal) fails permanently.
 */
#include "worker/llm/endpoint.h"
#include "worker/tasks/llmkit.h"
#include "worker/domain/judge.h"
#include "worker/llm/llm.h"
#include "worker/llm/prompt.h"
#include "worker/tasks/runtime.h"
#include "worker/domain/sample_text.h"
#include "worker/tasks/task.h"

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define S_MAX_ECHO 4000 /* bytes of an unreadable reply shown back to the judge */

static const char *const s_judges[] = {"outcome", "process", "consistency", "preference"};

typedef assay_llmkit_t s_shared_t;

typedef struct {
    assay_task_t *task;
    assay_llm_t *llm;
    assay_endpoint_t *ep;
    const assay_prompt_t *prompt;
    const char *judge;  /* borrowed from the params (live until the task ends) */
    const char *scorer; /* likewise */
    json_t *messages;   /* the rendered template */
    assay_llm_params_t params;
    char *body; /* the next request */
    int stream;
    int attempts;
    int max_attempts;
    int unreadable; /* the last failure was a reply that could not be read */
    char reason[600];
    double cost;
    long prompt_tokens, completion_tokens, reasoning_tokens;
    double latency_ms;
} s_judge_t;

/* ---- shared objects ------------------------------------------------------------- */


/* ---- one judgement -------------------------------------------------------------- */

static void s_judge_free(s_judge_t *j)
{
    free(j->body);
    json_decref(j->messages);
    free(j);
}

static void s_note(s_judge_t *j, const char *reason)
{
    snprintf(j->reason, sizeof j->reason, "%s", reason);
}

static void s_done(s_judge_t *j, const assay_llm_outcome_t *o, const char *reply,
                   assay_judge_reply_t *r)
{
    json_t *out = json_object();
    json_t *dims = json_object();
    for (int i = 0; i < r->ndims; i++)
        json_object_set_new(dims, r->dims[i].name, json_real(r->dims[i].value));
    json_object_set_new(out, "scorer", json_string(j->scorer));
    json_object_set_new(out, "judge", json_string(j->judge));
    json_object_set_new(out, "score", json_real(r->score));
    json_object_set_new(out, "dimensions", dims);
    json_object_set_new(out, "comment", json_string(r->comment));
    const char *model = *o->result.model ? o->result.model : j->ep->model;
    json_object_set_new(out, "judge_model", json_string(model));
    json_object_set_new(out, "endpoint", json_string(j->ep->name));
    json_object_set_new(out, "template", json_string(assay_prompt_name(j->prompt)));
    json_object_set_new(out, "template_version", json_integer(assay_prompt_version(j->prompt)));
    json_object_set_new(out, "template_hash", json_string(assay_prompt_hash(j->prompt)));
    json_object_set_new(out, "parse", json_string(r->method));
    json_object_set_new(out, "reply", json_string(reply));
    json_object_set_new(out, "attempts", json_integer(j->attempts));
    json_object_set_new(out, "cost", json_real(j->cost));
    json_object_set_new(out, "prompt_tokens", json_integer(j->prompt_tokens));
    json_object_set_new(out, "completion_tokens", json_integer(j->completion_tokens));
    json_object_set_new(out, "reasoning_tokens", json_integer(j->reasoning_tokens));
    json_object_set_new(out, "latency_ms", json_real(round(j->latency_ms * 10) / 10));
    assay_task_done(j->task, out);
    s_judge_free(j);
}

static void s_send(s_judge_t *j);

/* the request body: the template's messages, and after a reply that held no
 * score, that reply and a reminder of the format (a model at temperature 0 would
 * otherwise repeat itself) */
static void s_set_body(s_judge_t *j, const char *bad_reply)
{
    json_t *msgs = json_deep_copy(j->messages);
    if (bad_reply) {
        size_t n = strlen(bad_reply);
        if (n > S_MAX_ECHO) { /* enough to show the model what it did */
            n = S_MAX_ECHO;
            while (n > 0 && ((unsigned char)bad_reply[n] & 0xC0) == 0x80)
                n--;
        }
        json_array_append_new(
            msgs, json_pack("{s:s, s:s%}", "role", "assistant", "content", bad_reply, n));
        json_array_append_new(
            msgs, json_pack("{s:s, s:s}", "role", "user", "content",
                            "上面的回复无法解析为评分。请按要求重新评分，只输出一个 JSON "
                            "对象，包含 \"score\"（0 到 1 之间的小数）、题目要求的各维度分数和 "
                            "\"comment\"，不要输出其他内容。"));
    }
    json_t *req = assay_llm_request_json(j->ep, msgs, &j->params);
    json_decref(msgs);
    free(j->body);
    j->body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
}

static void s_on_timer(void *arg)
{
    s_send(arg);
}

/* another attempt after a backoff, or the final failure */
static void s_again(s_judge_t *j, uint32_t retry_after_ms)
{
    if (j->attempts >= j->max_attempts) {
        if (j->unreadable)
            assay_task_fail(j->task, 0, "judge reply unparseable: %s (%d attempt%s)", j->reason,
                            j->attempts, j->attempts == 1 ? "" : "s");
        else
            assay_task_fail(j->task, 1, "judge: %d attempts failed: %s", j->attempts, j->reason);
        s_judge_free(j);
        return;
    }
    /* exponential backoff with jitter, at least what the server asked for */
    long delay = assay_llm_backoff_ms(j->llm, j->attempts, retry_after_ms);
    log_debug("judge", "asking again in %ld ms: %s", delay, j->reason);
    if (assay_http_after(assay_llm_http(j->llm), delay, s_on_timer, j) == 0) {
        assay_task_fail(j->task, 1, "judge: interrupted by shutdown (%s)", j->reason);
        s_judge_free(j);
    }
}

static void s_on_done(const assay_llm_outcome_t *o, void *arg)
{
    s_judge_t *j = arg;
    const assay_llm_status_t *st = &o->status;
    j->latency_ms += o->latency_ms;
    switch (st->verdict) {
    case ASSAY_LLM_OK: {
        const assay_llm_result_t *res = &o->result;
        /* every reply is paid for, read or not */
        j->cost += assay_llm_cost(j->ep, res->prompt_tokens, res->completion_tokens);
        j->prompt_tokens += res->prompt_tokens;
        j->completion_tokens += res->completion_tokens;
        j->reasoning_tokens += res->reasoning_tokens;
        const char *reply = res->nchoices > 0 ? res->choices[0].content : "";
        assay_judge_reply_t r;
        char err[400];
        if (assay_judge_parse(reply, strlen(reply), &r, err, sizeof err) == 0) {
            s_done(j, o, reply, &r);
            assay_judge_reply_release(&r);
            return;
        }
        log_info("judge", "endpoint \"%s\": %s", j->ep->name, err);
        s_note(j, err);
        j->unreadable = 1;
        s_set_body(j, reply);
        s_again(j, 0);
        return;
    }
    case ASSAY_LLM_RETRY:
        s_note(j, st->reason);
        /* an answer arrived (2xx) but its body could not be read: the reply is
         * unreadable, not the transport */
        j->unreadable = o->http_status >= 200 && o->http_status < 300;
        s_again(j, st->retry_after_ms);
        return;
    case ASSAY_LLM_RATELIMIT:
        log_info("judge", "%s", st->reason);
        assay_task_fail_ratelimited(j->task, j->ep->name, st->retry_after_ms, "%s", st->reason);
        s_judge_free(j);
        return;
    case ASSAY_LLM_FATAL:
        assay_task_fail(j->task, 0, "judge: %s", st->reason);
        s_judge_free(j);
        return;
    }
}

static void s_send(s_judge_t *j)
{
    j->attempts++;
    int rc = assay_llm_call(j->llm, j->ep, j->body, strlen(j->body), j->stream, s_on_done, j);
    if (rc != 0) {
        assay_task_fail(j->task, rc == ASSAY_ESTATE,
                        "judge: endpoint \"%s\": could not start request: %s", j->ep->name,
                        assay_strerror(rc));
        s_judge_free(j);
    }
}

/* ---- parameters and input ------------------------------------------------------- */

/* a gold answer as text: a string as it is, numbers as JSON, arrays joined by
 * "、" (multiple-answer questions); NULL when absent or empty */
static char *s_gold_text(const json_t *v)
{
    if (json_is_string(v)) return json_string_length(v) ? assay_strdup(json_string_value(v)) : NULL;
    if (json_is_number(v)) return json_dumps(v, JSON_ENCODE_ANY);
    if (json_is_array(v) && json_array_size(v) > 0) {
        assay_buf_t b = ASSAY_BUF_INIT;
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e)
        {
            char *t = s_gold_text(e);
            if (!t) continue;
            if (b.len) assay_buf_adds(&b, "、");
            assay_buf_adds(&b, t);
            free(t);
        }
        return b.len ? assay_buf_detach(&b, NULL) : (assay_buf_release(&b), NULL);
    }
    return NULL;
}

/* the object the template is rendered from (new reference), or NULL with err */
static json_t *s_context(const json_t *item, char *err, size_t errlen)
{
    assay_sample_text_t st;
    if (assay_sample_text_get(item, &st, err, errlen) != 0) return NULL;
    json_t *ctx = json_deep_copy(item);
    json_t *sample = json_object();
    json_object_set_new(sample, "answer", json_stringn(st.answer, st.answer_len));
    if (st.reasoning && st.reasoning_len)
        json_object_set_new(sample, "reasoning", json_stringn(st.reasoning, st.reasoning_len));
    else
        json_object_set_new(sample, "reasoning", json_string("（未提供推理过程）"));
    json_object_set_new(ctx, "sample", sample);
    const json_t *q = json_object_get(item, "question");
    if (!json_is_string(q)) q = json_object_get(item, "text");
    if (json_is_string(q)) json_object_set(ctx, "question", (json_t *)q);
    char *gold = s_gold_text(json_object_get(item, "answer"));
    if (!gold) gold = s_gold_text(json_object_get(item, "reference_answer"));
    if (!gold) gold = s_gold_text(json_object_get(item, "diagnosis"));
    json_object_del(ctx, "gold");
    if (gold) json_object_set_new(ctx, "gold", json_string(gold));
    free(gold);
    return ctx;
}

static void s_run(void *state, assay_task_t *task)
{
    s_shared_t *sh = state;
    const json_t *item = assay_task_input(task);
    char err[512];
    if (!json_is_object(item)) {
        assay_task_fail(task, 0, "judge: the input is not a JSON object");
        return;
    }
    const char *judge = assay_param_str(task, "judge", "outcome");
    int known = 0;
    for (size_t i = 0; i < ASSAY_ARRAY_LEN(s_judges); i++)
        known |= strcmp(judge, s_judges[i]) == 0;
    const char *tparam = assay_param_str(task, "template", NULL);
    if (!known && !tparam) {
        assay_task_fail(task, 0,
                        "judge: parameter judge must be outcome, process, consistency or "
                        "preference (or give a template), got \"%s\"",
                        judge);
        return;
    }
    char tname[128];
    snprintf(tname, sizeof tname, "%s", tparam ? tparam : "");
    if (!tparam) snprintf(tname, sizeof tname, "judge_%s", judge);
    assay_llmcall_t call;
    assay_llm_params_init(&call.params);
    call.params.temperature = 0; /* a judge should not be creative */
    if (assay_llmkit_prepare(sh, task, tname, 0, 0, &call, err, sizeof err) != 0) {
        assay_task_fail(task, 0, "judge: %s", err);
        return;
    }
    assay_llmcall_clear(&call); /* judgements are cached by the verifier, not here */
    assay_endpoint_t *ep = call.ep;
    const assay_prompt_t *prompt = call.prompt;
    assay_llm_params_t p = call.params;
    int max_attempts = call.max_attempts;

    json_t *ctx = s_context(item, err, sizeof err);
    if (!ctx) {
        assay_task_fail(task, 0, "judge: %s", err);
        return;
    }
    if (!strcmp(judge, "outcome") && !tparam && !json_object_get(ctx, "gold")) {
        json_decref(ctx);
        assay_task_fail(task, 0,
                        "judge: the outcome judge needs a gold answer: field \"answer\", "
                        "\"reference_answer\" or \"diagnosis\" (a non-empty string)");
        return;
    }
    json_t *messages = assay_prompt_render(prompt, ctx, err, sizeof err);
    json_decref(ctx);
    if (!messages) {
        assay_task_fail(task, 0, "judge: %s", err);
        return;
    }
    s_judge_t *j = ASSAY_NEW(s_judge_t);
    j->task = task;
    j->llm = sh->llm;
    j->ep = ep;
    j->prompt = prompt;
    j->judge = judge;
    j->scorer = assay_param_str(task, "scorer", judge);
    j->stream = p.stream;
    j->max_attempts = max_attempts;
    j->messages = messages;
    j->params = p;
    s_set_body(j, NULL);
    s_send(j);
}

/* the parameters this kind accepts (checked by the executor and `assay submit`) */
static const assay_param_spec_t s_params[] = {
    {"judge", ASSAY_PARAM_STRING, 0, 0, 0, NULL, 0, "outcome, process, consistency or preference (default outcome)"},
    {"scorer", ASSAY_PARAM_STRING, 0, 0, 0, NULL, 0, "the score's name (default the judge's)"},
    {"template", ASSAY_PARAM_STRING, 0, 0, 0, NULL, ASSAY_PARAM_NAMES_TEMPLATE, "template (default judge_<judge>)"},
    {"endpoint", ASSAY_PARAM_STRING, 0, 0, 0, NULL, ASSAY_PARAM_NAMES_ENDPOINT, "the [endpoint.NAME] to call (default: setting endpoint, else sim)"},
    {"template_version", ASSAY_PARAM_INT, 1, 1000000, 0, NULL, 0, "fail unless the template file has this version"},
    {"temperature", ASSAY_PARAM_NUMBER, 0, 2, 0, NULL, 0, "sampling temperature"},
    {"top_p", ASSAY_PARAM_NUMBER, 0, 1, 0, NULL, 0, "nucleus sampling"},
    {"seed", ASSAY_PARAM_INT, -9000000000000000.0, 9000000000000000.0, 0, NULL, 0, "base seed (a distinct one per sample)"},
    {"max_tokens", ASSAY_PARAM_INT, 1, 10000000, 0, NULL, 0, "completion token limit"},
    {"reasoning_effort", ASSAY_PARAM_STRING, 0, 0, 0, "low|medium|high", 0, "o3-style reasoning effort"},
    {"stream", ASSAY_PARAM_BOOL, 0, 0, 0, NULL, 0, "server-sent events (default: the endpoint's)"},
    {"max_attempts", ASSAY_PARAM_INT, 1, 20, 0, NULL, 0, "calls per sample or reply before the task fails (default 3)"},
    {NULL, 0, 0, 0, 0, NULL, 0, NULL}};

const assay_handler_t assay_task_judge = {
    .kind = "judge",
    .summary = "an LLM judge scores a sample (outcome, process, consistency or preference "
               "template) into [0, 1] with dimensions and a comment",
    .setup = assay_llmkit_setup,
    .teardown = NULL,
    .run = s_run,
    .params = s_params,
};
