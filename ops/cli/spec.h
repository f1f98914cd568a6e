/*  spec.h: pipeline specs (the JSON file given to `assay submit --spec`).
 *
 *  {"name": "...", "weight": 1, "priority": 0, "description": "...",
 *   "stages": [{"name": "answer", "kind": "generate", "params": {...},
 *               "max_attempts": 5, "timeout_s": 600, "round": 1}, ...]}
 *
 *  Validation reports the first problem as "FILE: stages[1].kind: what was
 *  wrong (what was expected)".
 */
#ifndef ASSAY_SPEC_H
#define ASSAY_SPEC_H

#include <jansson.h>
#include <stddef.h>

/* load and validate a spec file; returns the spec (caller json_decref()s) or NULL
 * with the message in err */
json_t *assay_spec_load(const char *path, char *err, size_t errlen);
/* validate an already parsed spec; returns 0 or -1 with "where: what" in err */
int assay_spec_validate(const json_t *spec, char *err, size_t errlen);

#endif
