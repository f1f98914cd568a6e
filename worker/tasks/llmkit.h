/*  llmkit.h: what every kind that calls a model shares in one worker process: the
 *  chat-completion client (one per process, so an endpoint's max_concurrency is
 *  counted once across generate, judge and leak_removal), the named endpoints and
 *  the prompt templates. Loaded on first use and owned by the runtime.
 */
#ifndef ASSAY_LLMKIT_H
#define ASSAY_LLMKIT_H

#include "worker/llm/endpoint.h"
#include "worker/llm/llm.h"
#include "worker/llm/prompt.h"
#include "worker/tasks/runtime.h"
#include "worker/tasks/task.h"

typedef struct {
    assay_llm_t *llm;
    assay_endpoints_t *endpoints;
    assay_prompts_t *prompts;
} assay_llmkit_t;

/* the process's kit (created on the first call); NULL with the reason in err */
assay_llmkit_t *assay_llmkit_shared(assay_runtime_t *rt, char *err, size_t errlen);
/* What a model-calling task asks for, read from its parameters (the stage's, else
 * the process-wide ones of `assay run --param`) in one place for generate, judge
 * and the verifier's escalation, so every kind names, checks and defaults them
 * alike. */
typedef struct {
    assay_endpoint_t *ep;         /* "endpoint", else setting endpoint, else "sim" */
    const assay_prompt_t *prompt; /* the template, checked against "template_version" */
    assay_llm_params_t params;    /* temperature, top_p, seed, max_tokens,
                                   * reasoning_effort (borrowed from the params), stream */
    int n;                        /* "n" in [1, n_max] (1 when n_max is 0) */
    int max_attempts;             /* "max_attempts" in [1, 20], default 3 */
    json_t *key_params;           /* the values that shape a reply, for cache keys (owned) */
} assay_llmcall_t;

/* Fill call for task from the kit: the endpoint, the template tname (with fit set,
 * the variant of tname that fits the item's answer shape, unless the stage pins
 * template_version), and the sampling parameters; call->params holds the caller's
 * defaults on entry. Returns 0, or -1 with the reason in err (the parameter named;
 * the task's input is at fault, so fail it permanently). On success release
 * call->key_params with assay_llmcall_clear. */
int assay_llmkit_prepare(assay_llmkit_t *kit, assay_task_t *task, const char *tname, int fit,
                         int n_max, assay_llmcall_t *call, char *err, size_t errlen);
void assay_llmcall_clear(assay_llmcall_t *call);

/* a handler setup (assay_handler_t.setup) for kinds whose state is the kit itself:
 * *state becomes the process's assay_llmkit_t */
int assay_llmkit_setup(assay_runtime_t *rt, void **state, char *err, size_t errlen);

#endif
