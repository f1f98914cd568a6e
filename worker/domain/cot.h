/*  cot.h: reasoning-action labelling of a chain of thought.
 *
 *  A chain of thought is split into steps (sentences and list items, with tiny
 *  fragments merged into their neighbour) and each step gets one action:
 *
 *    restate     repeats what the question gives (题干, the patient's data)
 *    recall      states medical knowledge (a definition, a typical finding)
 *    hypothesise proposes a candidate (可能, 考虑, 怀疑, 如果, maybe)
 *    exclude     rules a candidate out (排除, 不符合, A错, rule out)
 *    verify      checks a candidate against the evidence (符合, 支持, 验证)
 *    reflect     questions its own reasoning (等等, 不过, 再想想, wait)
 *    summarise   draws the conclusion (综上, 因此, 答案, 故选)
 *
 *  Labels come from weighted cue words plus position (the first steps tend to
 *  restate, the last to summarise) and, when the question is given, the overlap
 *  of a step with it. The result is deterministic and needs no model.
 *
 *  From the labelled steps a reasoning-difficulty figure is derived: how many
 *  steps, how many distinct actions, how many hypotheses were weighed (proposed or
 *  excluded). Memory: the caller owns the step array; nothing allocates.
 */
#ifndef ASSAY_COT_H
#define ASSAY_COT_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    ASSAY_COT_RESTATE = 0,
    ASSAY_COT_RECALL,
    ASSAY_COT_HYPOTHESISE,
    ASSAY_COT_EXCLUDE,
    ASSAY_COT_VERIFY,
    ASSAY_COT_REFLECT,
    ASSAY_COT_SUMMARISE,
    ASSAY_COT_ACTION_COUNT
} assay_cot_action_t;

/* the action's name: "restate", "recall", "hypothesise", "exclude", "verify",
 * "reflect", "summarise" ("unknown" for anything else) */
const char *assay_cot_action_name(int action);

typedef struct {
    uint32_t off; /* byte range of the step in the text */
    uint32_t len;
    uint8_t action;   /* assay_cot_action_t */
    float confidence; /* share of the winning cue weight, in (0,1] (0.5 for position only) */
} assay_cot_step_t;

typedef struct {
    size_t steps;
    size_t distinct_actions;
    size_t hypotheses; /* steps that propose or exclude a candidate */
    size_t reflections;
    size_t counts[ASSAY_COT_ACTION_COUNT];
    /* in [0,1]: 0.4·min(steps,24)/24 + 0.3·distinct/7 + 0.3·min(hypotheses,8)/8 */
    double difficulty;
} assay_cot_stats_t;

/* split text into steps and label them. question (may be NULL) helps recognise
 * restatements. Writes at most cap steps and returns how many steps the text has
 * (more than cap means the tail was cut off: stats cover the first cap). */
size_t assay_cot_label(const char *text, size_t len, const char *question, size_t qlen,
                       assay_cot_step_t *steps, size_t cap);
/* the action of one step on its own (no position or question context) */
assay_cot_action_t assay_cot_classify(const char *step, size_t len, float *confidence);
/* figures over n labelled steps */
void assay_cot_stats(const assay_cot_step_t *steps, size_t n, assay_cot_stats_t *out);

#endif
