/*  spec.h: pipeline specs (the JSON file given to `assay submit --spec`).
 *
 *  {"name": "...", "weight": 1, "priority": 0, "description": "...",
 *   "stages": [{"name": "answer", "kind": "generate", "params": {...},
 *               "max_attempts": 5, "timeout_s": 600, "round": 1}, ...]}
 *
 *  Validation reports the first problem as "FILE: stages[1].kind: what was
 *  wrong (what was expected)". Stage params are checked against the parameters
 *  each task kind declares (worker/tasks/task.h, the same table the executor checks
 *  every task against); a filter's band must have min_pass_rate <= max_pass_rate.
 *  assay_spec_check_config() then checks the names a spec gives against the
 *  configuration (endpoints, prompt templates), and assay_spec_needs_check() each
 *  item against what the stages will read from it.
 */
#ifndef ASSAY_SPEC_H
#define ASSAY_SPEC_H

#include "common/config.h"

#include <jansson.h>
#include <stddef.h>

/* load and validate a spec file; returns the spec (caller json_decref()s) or NULL
 * with the message in err */
json_t *assay_spec_load(const char *path, char *err, size_t errlen);
/* validate an already parsed spec; returns 0 or -1 with "where: what" in err */
int assay_spec_validate(const json_t *spec, char *err, size_t errlen);

/* the endpoints and templates the stages name exist: endpoint params against the
 * [endpoint.NAME] sections (or ASSAY_ENDPOINT_NAME_BASE_URL), template params (and
 * a judge's judge_<judge>) against the prompts directory, with template_version
 * when given. 0, or -1 with "stages[i].params.KEY: what" in err */
int assay_spec_check_config(const json_t *spec, const assay_config_t *cfg, char *err,
                            size_t errlen);
/* the prompts directory workers use: worker.prompts_dir, else the compiled-in one */
const char *assay_spec_prompts_dir(const assay_config_t *cfg);

/* What a spec's stages read from each item: the fields of the template a first
 * generate stage renders (after the fitting of assay_prompt_fit_name), the gold
 * answer a verify stage or an outcome judge compares with (for mcq: the option
 * letters and the options), the diagnosis leak_removal hides, the text normalize
 * links. The spec is borrowed and must outlive the checker. */
typedef struct assay_spec_needs assay_spec_needs_t;
assay_spec_needs_t *assay_spec_needs_new(const json_t *spec, const char *prompts_dir);
void assay_spec_needs_destroy(assay_spec_needs_t **self_p);
/* 0, or -1 with "field \"x\": what is wrong, but stage \"s\" needs ..." in err.
 * kind is the item's kind (mcq | case | open) as assay_item_check found it. */
int assay_spec_needs_check(assay_spec_needs_t *self, const json_t *item, const char *kind,
                           char *err, size_t errlen);

#endif
