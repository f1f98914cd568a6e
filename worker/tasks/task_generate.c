/*  task_generate.c: the `generate` kind: render a prompt template for the item,
 *  call an endpoint for n samples, and return each sample with its reasoning,
 *  answer, raw response, tokens, latency, cost and lineage.
 *
 *  Params (declared in s_params below; the executor refuses others): endpoint
 *  (default: setting "endpoint", else "sim"), template (default by item shape:
 *  options -> answer_mcq, text without question -> answer_case, else answer_open;
 *  then fitted to the gold: answer_mcq becomes answer_mcq_multi for an item with
 *  several answer letters or multi_answer true, answer_case / answer_case_clean
 *  their _multi twin when the gold lists several diagnoses, see
 *  assay_prompt_fit_name; the output's "template" names the file used),
 *  template_version (optional: fail if the file has another; it pins the named
 *  file, so no fitting), n
 *  (1..1000, default 1), temperature, top_p, seed, max_tokens, reasoning_effort,
 *  stream (default: the endpoint's), max_attempts (per sample, default 3).
 *
 *  Input: the item, optionally with "cached": [sample, ...], samples already paid
 *  for (each with "index" and "cache_key"); those whose key still matches are
 *  returned as they are (marked "cached": true) and not requested again.
 *
 *  Failures: a retryable endpoint fault is retried here with exponential backoff
 *  and jitter up to max_attempts per sample; a 429 stops new requests, waits for
 *  those in flight and fails the task with assay_task_fail_ratelimited so the
 *  broker slows the endpoint down for everyone; a fatal fault (4xx, refusal, TLS
 *  verification) fails the task as not retryable.
 */
#include "worker/llm/endpoint.h"
#include "worker/tasks/llmkit.h"
#include "worker/llm/llm.h"
#include "worker/llm/prompt.h"
#include "worker/tasks/runtime.h"
#include "worker/tasks/task.h"

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define S_MAX_N 1000
#define S_MAX_PER_REQUEST 16

typedef assay_llmkit_t s_shared_t;

typedef struct {
    assay_task_t *task;
    assay_llm_t *llm;
    assay_endpoint_t *ep;
    const assay_prompt_t *prompt;
    json_t *messages;
    json_t *key_params;
    assay_llm_params_t base;
    int stream;
    int n;
    json_t **samples;
    int *attempts;
    char *busy;
    int outstanding; /* calls in flight + retry timers pending */
    int max_attempts;
    int stop; /* no new requests: rate limited, fatal or out of attempts */
    int ratelimited;
    int fatal;
    int exhausted;
    int shutdown; /* the HTTP client is closing: fail, retryable */
    uint32_t retry_after_ms;
    char reason[512];
    double cost;
    int requests;
    int ncached;
} s_gen_t;

typedef struct {
    s_gen_t *g;
    int k;
    int idx[S_MAX_PER_REQUEST];
} s_req_t;

/* ---- shared objects ------------------------------------------------------------- */


/* ---- generation ----------------------------------------------------------------- */

/* safe at every stage of s_run: samples, attempts and busy are allocated last,
 * after the checks that may fail (g->n is set before them) */
static void s_gen_free(s_gen_t *g)
{
    for (int i = 0; g->samples && i < g->n; i++)
        json_decref(g->samples[i]);
    free(g->samples);
    free(g->attempts);
    free(g->busy);
    json_decref(g->messages);
    json_decref(g->key_params);
    free(g);
}

static void s_finish(s_gen_t *g)
{
    assay_task_t *task = g->task;
    if (g->fatal) {
        assay_task_fail(task, 0, "%s", g->reason);
    } else if (g->ratelimited) {
        assay_task_fail_ratelimited(task, g->ep->name, g->retry_after_ms, "%s", g->reason);
    } else if (g->shutdown) {
        assay_task_fail(task, 1, "generate: interrupted by shutdown (%s)", g->reason);
    } else if (g->exhausted) {
        int missing = 0;
        for (int i = 0; i < g->n; i++)
            missing += g->samples[i] == NULL;
        assay_task_fail(task, 1, "%d of %d samples failed after %d attempts: %s", missing, g->n,
                        g->max_attempts, g->reason);
    } else {
        json_t *out = json_object();
        json_t *arr = json_array();
        for (int i = 0; i < g->n; i++)
            json_array_append(arr, g->samples[i]);
        json_object_set_new(out, "samples", arr);
        json_object_set_new(out, "n", json_integer(g->n));
        json_object_set_new(out, "endpoint", json_string(g->ep->name));
        json_object_set_new(out, "model", json_string(g->ep->model));
        json_object_set_new(out, "template", json_string(assay_prompt_name(g->prompt)));
        json_object_set_new(out, "template_version", json_integer(assay_prompt_version(g->prompt)));
        json_object_set_new(out, "template_hash", json_string(assay_prompt_hash(g->prompt)));
        json_object_set_new(out, "requests", json_integer(g->requests));
        json_object_set_new(out, "cached_samples", json_integer(g->ncached));
        json_object_set_new(out, "cost", json_real(g->cost));
        assay_task_done(task, out);
    }
    s_gen_free(g);
}

static void s_maybe_finish(s_gen_t *g)
{
    if (g->outstanding == 0) s_finish(g);
}

static void s_cache_key(const s_gen_t *g, int index, char out[65])
{
    assay_llm_cache_key(g->ep->model, g->messages, g->key_params, index, out);
}

static json_t *s_sample(s_gen_t *g, int index, const assay_llm_outcome_t *o,
                        const assay_llm_choice_t *c, int share)
{
    const assay_llm_result_t *r = &o->result;
    /* one response with several choices: tokens and cost are split between them */
    long pt = r->prompt_tokens / share, ct = r->completion_tokens / share,
         rt = r->reasoning_tokens / share;
    double cost = assay_llm_cost(g->ep, r->prompt_tokens, r->completion_tokens) / share;
    char key[65];
    s_cache_key(g, index, key);
    json_t *s = json_object();
    json_object_set_new(s, "index", json_integer(index));
    json_object_set_new(s, "answer", json_string(c->content));
    json_object_set_new(s, "reasoning", json_string(c->reasoning));
    json_object_set_new(s, "reasoning_source",
                        json_string(assay_reasoning_source_name(c->reasoning_source)));
    json_object_set_new(s, "finish_reason", json_string(c->finish_reason));
    if (c->refusal) json_object_set_new(s, "refusal", json_string(c->refusal));
    json_object_set_new(s, "raw", json_stringn(o->raw, o->raw_len));
    json_object_set_new(s, "prompt_tokens", json_integer(pt));
    json_object_set_new(s, "completion_tokens", json_integer(ct));
    json_object_set_new(s, "reasoning_tokens", json_integer(rt));
    json_object_set_new(s, "latency_ms", json_real(round(o->latency_ms * 10) / 10));
    json_object_set_new(s, "cost", json_real(cost));
    json_object_set_new(s, "model", json_string(*r->model ? r->model : g->ep->model));
    json_object_set_new(s, "endpoint", json_string(g->ep->name));
    json_object_set_new(s, "template", json_string(assay_prompt_name(g->prompt)));
    json_object_set_new(s, "template_version", json_integer(assay_prompt_version(g->prompt)));
    json_object_set_new(s, "template_hash", json_string(assay_prompt_hash(g->prompt)));
    json_object_set_new(s, "cache_key", json_string(key));
    json_object_set_new(s, "attempts", json_integer(g->attempts[index] + 1));
    json_object_set_new(s, "cached", json_false());
    g->cost += cost;
    return s;
}

static void s_send(s_gen_t *g, s_req_t *rq);
static void s_issue(s_gen_t *g);

static void s_on_timer(void *arg)
{
    s_req_t *rq = arg;
    s_gen_t *g = rq->g;
    g->outstanding--;
    if (g->stop) {
        for (int j = 0; j < rq->k; j++)
            g->busy[rq->idx[j]] = 0;
        free(rq);
        s_maybe_finish(g);
        return;
    }
    s_send(g, rq);
    s_maybe_finish(g);
}

static void s_note(s_gen_t *g, const char *reason)
{
    size_t n = strlen(reason);
    if (n >= sizeof g->reason) n = sizeof g->reason - 1;
    memcpy(g->reason, reason, n);
    g->reason[n] = '\0';
}

static void s_on_done(const assay_llm_outcome_t *o, void *arg)
{
    s_req_t *rq = arg;
    s_gen_t *g = rq->g;
    g->outstanding--;
    const assay_llm_status_t *st = &o->status;
    int retry = 0;
    switch (st->verdict) {
    case ASSAY_LLM_OK: {
        int share = o->result.nchoices < rq->k ? o->result.nchoices : rq->k;
        int got = 0;
        for (int j = 0; j < o->result.nchoices && got < rq->k; j++) {
            const assay_llm_choice_t *c = &o->result.choices[j];
            if (c->refusal) continue; /* the others count; this one is asked again */
            int index = rq->idx[got++];
            g->samples[index] = s_sample(g, index, o, c, share > 0 ? share : 1);
            g->busy[index] = 0;
        }
        /* fewer choices than asked for (a server that ignores n): ask again */
        if (got < rq->k) {
            memmove(rq->idx, rq->idx + got, (size_t)(rq->k - got) * sizeof rq->idx[0]);
            rq->k -= got;
            char why[300];
            snprintf(why, sizeof why, "endpoint \"%s\" returned %d of %d requested choices",
                     g->ep->name, got, rq->k + got);
            s_note(g, why);
            retry = 1;
        }
        break;
    }
    case ASSAY_LLM_RETRY:
        s_note(g, st->reason);
        retry = 1;
        break;
    case ASSAY_LLM_RATELIMIT:
        log_info("generate", "%s", st->reason);
        g->stop = g->ratelimited = 1;
        if (st->retry_after_ms > g->retry_after_ms) g->retry_after_ms = st->retry_after_ms;
        s_note(g, st->reason);
        break;
    case ASSAY_LLM_FATAL:
        g->stop = g->fatal = 1;
        s_note(g, st->reason);
        break;
    }
    if (retry) {
        int worst = 0;
        for (int j = 0; j < rq->k; j++) {
            int a = ++g->attempts[rq->idx[j]];
            if (a > worst) worst = a;
        }
        if (worst >= g->max_attempts) {
            g->stop = g->exhausted = 1;
        } else if (!g->stop) {
            /* exponential backoff with jitter, at least what the server asked for */
            long delay = assay_llm_backoff_ms(g->llm, worst, st->retry_after_ms);
            log_debug("generate", "retrying in %ld ms: %s", delay, st->reason);
            if (assay_http_after(assay_llm_http(g->llm), delay, s_on_timer, rq) != 0) {
                g->outstanding++;
                return;
            }
            g->stop = g->shutdown = 1;
        }
    }
    for (int j = 0; j < rq->k; j++)
        if (!g->samples[rq->idx[j]]) g->busy[rq->idx[j]] = 0;
    free(rq);
    s_maybe_finish(g);
}

static void s_send(s_gen_t *g, s_req_t *rq)
{
    assay_llm_params_t p = g->base;
    p.n = rq->k;
    p.stream = g->stream;
    /* a distinct, reproducible seed per sample */
    if (p.has_seed) p.seed += rq->idx[0];
    json_t *req = assay_llm_request_json(g->ep, g->messages, &p);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    g->outstanding++;
    g->requests++;
    int rc = assay_llm_call(g->llm, g->ep, body, strlen(body), g->stream, s_on_done, rq);
    free(body);
    if (rc != 0) {
        g->outstanding--;
        g->requests--;
        g->stop = 1;
        if (rc == ASSAY_ESTATE)
            g->shutdown = 1;
        else
            g->fatal = 1;
        snprintf(g->reason, sizeof g->reason, "endpoint \"%s\": could not start request: %s",
                 g->ep->name, assay_strerror(rc));
        for (int j = 0; j < rq->k; j++)
            g->busy[rq->idx[j]] = 0;
        free(rq);
    }
}

static void s_issue(s_gen_t *g)
{
    int per = g->ep->supports_n ? S_MAX_PER_REQUEST : 1;
    s_req_t *rq = NULL;
    for (int i = 0; i < g->n && !g->stop; i++) {
        if (g->samples[i] || g->busy[i]) continue;
        if (!rq) {
            rq = ASSAY_NEW(s_req_t);
            rq->g = g;
        }
        g->busy[i] = 1;
        rq->idx[rq->k++] = i;
        if (rq->k == per) {
            s_send(g, rq);
            rq = NULL;
        }
    }
    if (rq) s_send(g, rq);
}

static void s_run(void *state, assay_task_t *task)
{
    s_shared_t *sh = state;
    const json_t *item = assay_task_input(task);
    char err[512];
    if (!json_is_object(item)) {
        assay_task_fail(task, 0, "generate: the input is not a JSON object");
        return;
    }
    assay_llmcall_t call;
    assay_llm_params_init(&call.params);
    if (assay_llmkit_prepare(sh, task, assay_param_str(task, "template", assay_prompt_default_name(item)),
                             1, S_MAX_N, &call, err, sizeof err) != 0) {
        assay_task_fail(task, 0, "generate: %s", err);
        return;
    }
    s_gen_t *g = ASSAY_NEW(s_gen_t);
    g->task = task;
    g->llm = sh->llm;
    g->ep = call.ep;
    g->prompt = call.prompt;
    g->n = call.n;
    g->max_attempts = call.max_attempts;
    g->base = call.params;
    g->stream = call.params.stream;
    g->key_params = call.key_params; /* g owns it now */
    const assay_prompt_t *prompt = call.prompt;
    g->messages = assay_prompt_render(prompt, item, err, sizeof err);
    if (!g->messages) {
        assay_task_fail(task, 0, "generate: %s", err);
        s_gen_free(g);
        return;
    }
    g->samples = assay_calloc((size_t)g->n, sizeof *g->samples);
    g->attempts = assay_calloc((size_t)g->n, sizeof *g->attempts);
    g->busy = assay_calloc((size_t)g->n, 1);

    /* samples already paid for: keep those whose key still matches this request */
    const json_t *cached = json_object_get(item, "cached");
    if (cached && !json_is_array(cached)) {
        assay_task_fail(task, 0, "generate: input field \"cached\" must be an array of samples");
        s_gen_free(g);
        return;
    }
    size_t ci;
    const json_t *cs;
    json_array_foreach(cached, ci, cs)
    {
        const json_t *jidx = json_object_get(cs, "index");
        if (!json_is_object(cs) || !json_is_integer(jidx)) {
            assay_task_fail(task, 0,
                            "generate: cached[%zu] is not a sample with an integer \"index\"", ci);
            s_gen_free(g);
            return;
        }
        json_int_t idx = json_integer_value(jidx);
        if (idx < 0 || idx >= g->n || g->samples[idx]) continue;
        const char *k = json_string_value(json_object_get(cs, "cache_key"));
        char key[65];
        s_cache_key(g, (int)idx, key);
        if (k && strcmp(k, key) != 0) continue; /* made by another request: stale */
        json_t *copy = json_deep_copy(cs);
        json_object_set_new(copy, "cached", json_true());
        json_object_set_new(copy, "cache_key", json_string(key));
        g->samples[idx] = copy;
        g->ncached++;
    }
    s_issue(g);
    s_maybe_finish(g);
}

/* the parameters this kind accepts (checked by the executor and `assay submit`) */
static const assay_param_spec_t s_params[] = {
    {"endpoint", ASSAY_PARAM_STRING, 0, 0, 0, NULL, ASSAY_PARAM_NAMES_ENDPOINT, "the [endpoint.NAME] to call (default: setting endpoint, else sim)"},
    {"template", ASSAY_PARAM_STRING, 0, 0, 0, NULL, ASSAY_PARAM_NAMES_TEMPLATE, "prompt template (default by item shape)"},
    {"template_version", ASSAY_PARAM_INT, 1, 1000000, 0, NULL, 0, "fail unless the template file has this version"},
    {"n", ASSAY_PARAM_INT, 1, 1000, 0, NULL, 0, "samples per item (default 1)"},
    {"temperature", ASSAY_PARAM_NUMBER, 0, 2, 0, NULL, 0, "sampling temperature"},
    {"top_p", ASSAY_PARAM_NUMBER, 0, 1, 0, NULL, 0, "nucleus sampling"},
    {"seed", ASSAY_PARAM_INT, -9000000000000000.0, 9000000000000000.0, 0, NULL, 0, "base seed (a distinct one per sample)"},
    {"max_tokens", ASSAY_PARAM_INT, 1, 10000000, 0, NULL, 0, "completion token limit"},
    {"reasoning_effort", ASSAY_PARAM_STRING, 0, 0, 0, "low|medium|high", 0, "o3-style reasoning effort"},
    {"stream", ASSAY_PARAM_BOOL, 0, 0, 0, NULL, 0, "server-sent events (default: the endpoint's)"},
    {"max_attempts", ASSAY_PARAM_INT, 1, 20, 0, NULL, 0, "calls per sample or reply before the task fails (default 3)"},
    {NULL, 0, 0, 0, 0, NULL, 0, NULL}};

const assay_handler_t assay_task_generate = {
    .kind = "generate",
    .summary = "call a model endpoint for n samples of a prompt template (reasoning + answer)",
    .setup = assay_llmkit_setup,
    .teardown = NULL,
    .run = s_run,
    .params = s_params,
};
