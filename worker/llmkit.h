/*  llmkit.h: what every kind that calls a model shares in one worker process: the
 *  chat-completion client (one per process, so an endpoint's max_concurrency is
 *  counted once across generate, judge and leak_removal), the named endpoints and
 *  the prompt templates. Loaded on first use and owned by the runtime.
 */
#ifndef ASSAY_LLMKIT_H
#define ASSAY_LLMKIT_H

#include "worker/endpoint.h"
#include "worker/llm.h"
#include "worker/prompt.h"
#include "worker/runtime.h"

typedef struct {
    assay_llm_t *llm;
    assay_endpoints_t *endpoints;
    assay_prompts_t *prompts;
} assay_llmkit_t;

/* the process's kit (created on the first call); NULL with the reason in err */
assay_llmkit_t *assay_llmkit_shared(assay_runtime_t *rt, char *err, size_t errlen);

#endif
