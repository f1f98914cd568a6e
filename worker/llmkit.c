/*  llmkit.c: see llmkit.h */
#include "worker/llmkit.h"

#include "common/util.h"

#include <stdlib.h>

#ifndef ASSAY_PROMPTS_DIR
#define ASSAY_PROMPTS_DIR "ops/prompts"
#endif

static void *s_load(assay_runtime_t *rt, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    assay_llmkit_t *kit = ASSAY_NEW(assay_llmkit_t);
    kit->llm = assay_llm_new(assay_runtime_http(rt));
    kit->endpoints = assay_endpoints_new(assay_runtime_config(rt));
    kit->prompts = assay_prompts_new(assay_runtime_setting(rt, "prompts_dir", ASSAY_PROMPTS_DIR));
    return kit;
}

static void s_free(void *p)
{
    assay_llmkit_t *kit = p;
    assay_llm_destroy(&kit->llm);
    assay_endpoints_destroy(&kit->endpoints);
    assay_prompts_destroy(&kit->prompts);
    free(kit);
}

assay_llmkit_t *assay_llmkit_shared(assay_runtime_t *rt, char *err, size_t errlen)
{
    return assay_runtime_shared(rt, "llm", s_load, s_free, err, errlen);
}
