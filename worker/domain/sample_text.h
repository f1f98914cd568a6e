/*  sample_text.h: how the checking handlers (verify, hack_check, cot_actions) find
 *  the sampled answer and its reasoning in a task input.
 *
 *  One input shape, in order of precedence:
 *    "sample": {"answer": "...", "reasoning": "..."}   as the generate stage stores
 *              a sample (reasoning optional); a sample holding only "response"
 *              (the raw model output) is split at its last "</think>";
 *    "response": "..."    offline shorthand: a raw model output, split the same way;
 *    "prediction": "..."  offline shorthand: the answer alone, no reasoning.
 *  The strings are borrowed from the input JSON.
 */
#ifndef ASSAY_SAMPLE_TEXT_H
#define ASSAY_SAMPLE_TEXT_H

#include <jansson.h>
#include <stddef.h>

typedef struct {
    const char *answer;
    size_t answer_len;
    const char *reasoning; /* NULL when the sample has none */
    size_t reasoning_len;
    const char *source; /* "sample", "sample.response", "response" or "prediction" */
} assay_sample_text_t;

/* find the sample in input. Returns 0, or ASSAY_EINVAL with the offending field
 * and what was expected in err (no sample at all, or a field of the wrong type) */
int assay_sample_text_get(const json_t *input, assay_sample_text_t *out, char *err, size_t errlen);

#endif
