/*  llm.h: OpenAI-compatible chat completions: request bodies, response and SSE
 *  parsing, reasoning extraction, error classification, cost, cache keys, and an
 *  asynchronous call on the shared HTTP client with a per-endpoint concurrency cap.
 *
 *  Reasoning arrives in one of three ways, all normalised into a choice's
 *  `reasoning` and `content`:
 *    - R1-style APIs put it in message.reasoning_content (or message.reasoning)
 *      beside message.content;
 *    - open models served raw emit "<think>...</think>answer" in the content, often
 *      without the opening tag (the chat template already opened it);
 *    - o3-style APIs hide it and only report its size in
 *      usage.completion_tokens_details.reasoning_tokens.
 *  Servers may send blank lines or ": keep-alive" SSE comments while they wait;
 *  both parsers skip them.
 *
 *  Every failed call is classified (assay_llm_status_t): RETRY (5xx, 408, timeouts,
 *  truncated or malformed bodies, empty choices, transport errors), RATELIMIT (429,
 *  with the wait the server asked for from Retry-After or x-ratelimit-reset-*), or
 *  FATAL (other 4xx, refusals, TLS certificate failures, oversized bodies), always
 *  with a reason for people that never contains the API key.
 */
#ifndef ASSAY_LLM_H
#define ASSAY_LLM_H

#include "common/http.h"
#include "worker/llm/endpoint.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* ---- requests --------------------------------------------------------------------- */

typedef struct {
    double temperature; /* < 0: not sent */
    double top_p;       /* < 0: not sent */
    int has_seed;
    int64_t seed;
    long max_tokens;              /* 0: not sent (o3 style sends max_completion_tokens) */
    const char *reasoning_effort; /* o3 style only: low | medium | high; NULL: not sent */
    int n;                        /* choices requested in one call (>= 1) */
    int stream;                   /* ask for server-sent events */
} assay_llm_params_t;

/* defaults: nothing optional sent, n = 1, no streaming */
void assay_llm_params_init(assay_llm_params_t *p);
/* the request body for ep (new reference). o3 style sends max_completion_tokens and
 * reasoning_effort and omits temperature/top_p, which reasoning models reject. */
json_t *assay_llm_request_json(const assay_endpoint_t *ep, const json_t *messages,
                               const assay_llm_params_t *p);

/* ---- results ---------------------------------------------------------------------- */

typedef enum {
    ASSAY_REASONING_NONE = 0,
    ASSAY_REASONING_FIELD,      /* reasoning_content / reasoning */
    ASSAY_REASONING_THINK_TAGS, /* <think>...</think> in the content */
    ASSAY_REASONING_HIDDEN      /* only counted (o3 style) */
} assay_reasoning_source_t;

typedef struct {
    int index;
    char *content;       /* the answer (after </think> when tags were used); never NULL */
    char *reasoning;     /* never NULL ("" when none) */
    char *finish_reason; /* never NULL ("" when absent) */
    char *refusal;       /* NULL unless the model refused */
    assay_reasoning_source_t reasoning_source;
} assay_llm_choice_t;

typedef struct {
    char *id;    /* never NULL */
    char *model; /* the model the server says answered; never NULL */
    assay_llm_choice_t *choices;
    int nchoices;
    int has_usage;
    long prompt_tokens, completion_tokens, reasoning_tokens;
} assay_llm_result_t;

void assay_llm_result_release(assay_llm_result_t *r);
const char *assay_reasoning_source_name(assay_reasoning_source_t s);

/* split "<think>R</think>A" (opening tag optional) into reasoning R and answer A;
 * without a closing tag: an opening tag means all is (unfinished) reasoning, no tag
 * means all is answer. Both outputs are new strings, trimmed. Returns 1 when tags
 * were found. */
int assay_llm_split_think(const char *text, char **reasoning, char **answer);

/* parse a non-streamed response body. Returns 0, or ASSAY_EPARSE with a reason in
 * err (not JSON, no choices array, wrong types, an error object instead). */
int assay_llm_parse_response(const char *body, size_t len, assay_llm_result_t *out, char *err,
                             size_t errlen);

/* An incremental parser for a streamed (SSE) response: feed bytes as they arrive,
 * then finish. Comments (": keep-alive"), blank lines, CRLF and events split across
 * feeds are handled; deltas are joined per choice index. */
typedef struct assay_llm_sse assay_llm_sse_t;
assay_llm_sse_t *assay_llm_sse_new(void);
void assay_llm_sse_destroy(assay_llm_sse_t **self_p);
/* returns 0, or ASSAY_EPARSE once an event's data is not valid JSON (sticky) */
int assay_llm_sse_feed(assay_llm_sse_t *self, const char *data, size_t len);
/* the joined result; ASSAY_ETRUNC when the stream ended before "data: [DONE]" and no
 * choice finished, ASSAY_EPARSE after a malformed event. Call once. */
int assay_llm_sse_finish(assay_llm_sse_t *self, assay_llm_result_t *out, char *err, size_t errlen);

/* ---- errors ------------------------------------------------------------------------ */

typedef enum {
    ASSAY_LLM_OK = 0,
    ASSAY_LLM_RETRY,     /* transient: try again after a backoff */
    ASSAY_LLM_RATELIMIT, /* 429: try again after retry_after_ms; report to the broker */
    ASSAY_LLM_FATAL      /* the same request will fail again */
} assay_llm_verdict_t;

typedef struct {
    assay_llm_verdict_t verdict;
    uint32_t retry_after_ms; /* RATELIMIT (and 503 with Retry-After): 0 = unknown */
    char reason[512];        /* for people; redacted */
} assay_llm_status_t;

/* classify a transport result and HTTP status (not the body's content) */
void assay_llm_classify_http(const assay_endpoint_t *ep, const assay_http_response_t *resp,
                             assay_llm_status_t *st);
/* "20ms", "1.5s", "6m0s", "1h2m3s", or a bare number of seconds -> milliseconds;
 * -1 when malformed */
long assay_llm_parse_duration_ms(const char *s);
/* the wait a 429 asks for: Retry-After (seconds or an HTTP date, relative to
 * now_wall_ms), else retry-after-ms, else the later of x-ratelimit-reset-requests /
 * -tokens whose remaining count is 0 (or either when unknown). 0 = none given. */
uint32_t assay_llm_retry_after_ms(const assay_http_response_t *resp, int64_t now_wall_ms);

/* ---- money and cache --------------------------------------------------------------- */

/* price of a call: prompt tokens at the input price, completion tokens (reasoning
 * included, as APIs bill it) at the output price */
double assay_llm_cost(const assay_endpoint_t *ep, long prompt_tokens, long completion_tokens);
/* cache key: hex SHA-256 over the canonical JSON of {model, messages, params,
 * sample}; params must hold only what changes the output (no n, no stream) */
void assay_llm_cache_key(const char *model, const json_t *messages, const json_t *params,
                         int sample_index, char out[65]);

/* ---- asynchronous calls ------------------------------------------------------------ */

typedef struct {
    assay_llm_status_t status;
    assay_llm_result_t result; /* parsed when status.verdict == ASSAY_LLM_OK */
    long http_status;
    const char *raw; /* the response body (SSE text when streamed) */
    size_t raw_len;
    double latency_ms; /* request start to completion */
    double first_byte_ms;
} assay_llm_outcome_t;

/* called once per accepted call; the outcome is valid during the call only */
typedef void (*assay_llm_done_fn)(const assay_llm_outcome_t *outcome, void *arg);

typedef struct assay_llm assay_llm_t;
/* a caller on the loop that owns http; never NULL */
assay_llm_t *assay_llm_new(assay_http_t *http);
/* drops queued and in-flight calls without running their callbacks and nulls
 * *self_p; call before destroying the HTTP client */
void assay_llm_destroy(assay_llm_t **self_p);
/* POST body to ep's chat completions URL. When ep already has max_concurrency
 * calls in flight, the call waits in a FIFO. Returns 0 (fn will be called) or a
 * negative code (it will not). */
int assay_llm_call(assay_llm_t *self, assay_endpoint_t *ep, const char *body, size_t len,
                   int stream, assay_llm_done_fn fn, void *arg);
/* calls waiting for a slot */
int assay_llm_queued(const assay_llm_t *self);
/* the HTTP client (for timers) */
assay_http_t *assay_llm_http(assay_llm_t *self);
/* how long to wait before trying a model call again after attempt `attempt`
 * (1-based) failed: the retry policy of common/retry.h with a 250 ms base and an
 * 8 s cap (a call is retried within one task, so the waits stay short), and at
 * least what the endpoint asked for in Retry-After (retry_after_ms, 0 = none) */
uint32_t assay_llm_backoff_ms(assay_llm_t *self, int attempt, uint32_t retry_after_ms);

#endif
