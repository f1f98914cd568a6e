/*  sim_answer.h: the deterministic "model" inside assay-simllm.
 *
 *  Given a chat-completion request it writes a medical-looking reasoning trace and
 *  answer whose correctness follows a known per-question accuracy, so pass-rate
 *  filtering downstream has something real to separate. The exact rules (tests and
 *  the demo rely on them to know each question's true accuracy):
 *
 *  1. The question q is taken from the last "user" message: the text between
 *     "<question...>" and "</question>" when present (the shipped templates wrap
 *     the item's question or case text in these tags), else the whole message;
 *     leading and trailing whitespace removed. <question id="X"> names an id.
 *  2. Options: every line of that message that looks like "A. text" (letter A-J
 *     followed by one of . ． 、 ) ） : ：). Two or more options = a multiple-choice
 *     question.
 *  3. The answer key (--answer-key FILE, JSONL) maps a question to its gold answer
 *     and accuracy: {"id" | "question" | "question_sha256": ..., "answer": "C",
 *     "accuracy": 0.7}; "accuracy" is optional; "diagnosis" or "reference_answer"
 *     stand for "answer" (so an items file is its own key), and a line whose answer
 *     is null is skipped. Lookup: by id when the tag has one, else by
 *     sha256_hex(q). Without a key, rules 4 and 5 invent a gold that has nothing
 *     to do with the item's real answer.
 *  4. Accuracy a: the key's accuracy, else  a = H("accuracy:" + q) where
 *     H(s) = first 4 bytes of SHA-256(s) as a big-endian integer / 2^32.
 *  5. Gold answer: the key's answer, else for MCQ the option letter at position
 *     floor(H("gold:" + q) * number_of_options) in the options' order, else (open
 *     and case questions) the built-in disease at position
 *     floor(H("gold:" + q) * SIM_NDISEASES) of sim_diseases[].
 *  6. A sample is correct when its draw v < a. With a request seed s and choice
 *     index j: v = H("draw:" + q + ":" + s + ":" + j). Without a seed: v comes from
 *     the server's PRNG (seeded by --seed). temperature 0: v = 0.5 (greedy: correct
 *     exactly when a > 0.5). So over many seeded samples the pass rate converges to a.
 *  7. A wrong MCQ answer is another option letter; a wrong diagnosis another
 *     built-in disease.
 *  8. Failure styles, forced by a model name suffix ("sim-r1+repeat") or drawn with
 *     --failure-rate: no_reasoning (no trace, bare answer), repeat (the conclusion
 *     repeated over and over), fake_disease (a diagnosis that does not exist, from
 *     sim_fake_diseases[]).
 *  9. The trace has recognisable steps, each starting a line: "首先，" (restating
 *     the question), "回忆相关知识：" (recalling knowledge), "等等，让我再核对一下"
 *     (reflecting), "因此，" (concluding). The answer ends with "答案：X" (MCQ),
 *     "诊断：NAME" (case) or starts with "回答：" (open).
 * 10. Judge prompts (a message contains "\"score\"", i.e. asks for a JSON score)
 *     are answered with a JSON object {"score": x, <each dimension named in quotes
 *     in the prompt among correctness, comprehensiveness, helpfulness, harmlessness,
 *     relevance, logic, consistency>: x, "comment": "..."}, x in [0, 1] with one
 *     decimal. When the prompt has a line "标准答案：G" and one "待评答案：A",
 *     x >= 0.7 if A contains G (or G contains A) and x <= 0.4 otherwise; else
 *     x = round(H("judge:" + message) * 10) / 10.
 * 11. Rewrite prompts (the last user message holds "<rewrite>" and a later
 *     "</rewrite>") are answered by echoing the text between the last such pair of tags, trimmed, in
 *     "<rewrite>\n...\n</rewrite>", without the lines that start with "【删】"; a line
 *     "补充：X" elsewhere in the message adds X as a last line (a model adding a fact).
 * 12. Leak-judge prompts (the last user message contains "\"leak\"") are answered
 *     with {"leak": L, "reason": "..."}, L true exactly when the text between
 *     "<case>" and "</case>" contains X from the first line "诊断：X" after
 *     "</case>". Rules 11 and 12 come before rule 10 and ignore the failure styles.
 *
 *  Token counts: one token per non-ASCII character plus one per 4 ASCII bytes.
 */
#ifndef SIM_ANSWER_H
#define SIM_ANSWER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    SIM_MODE_R1 = 0,     /* reasoning in message.reasoning_content */
    SIM_MODE_R1R,        /* reasoning in message.reasoning */
    SIM_MODE_O3,         /* reasoning hidden, counted in reasoning_tokens */
    SIM_MODE_THINK,      /* "trace</think>answer" in content (no opening tag) */
    SIM_MODE_THINK_OPEN, /* "<think>trace</think>answer" in content */
    SIM_MODE_PLAIN       /* no reasoning */
} sim_mode_t;

typedef enum {
    SIM_STYLE_NONE = 0,
    SIM_STYLE_NO_REASONING,
    SIM_STYLE_REPEAT,
    SIM_STYLE_FAKE_DISEASE
} sim_style_t;

#define SIM_NDISEASES 20
extern const char *const sim_diseases[SIM_NDISEASES];

typedef struct sim_key sim_key_t;
/* load a JSONL answer key (rule 3); NULL with "FILE:LINE: what" in err */
sim_key_t *sim_key_load(const char *path, char *err, size_t errlen);
void sim_key_destroy(sim_key_t **self_p);
/* lines loaded (each one question); 0 for NULL */
size_t sim_key_count(const sim_key_t *self);
/* lines skipped because their answer is null; 0 for NULL */
size_t sim_key_skipped(const sim_key_t *self);

/* parse a model name "sim-r1", "sim-o3+repeat", ...; unknown bases get def.
 * Returns 0, or -1 for an unknown +style suffix. */
int sim_model_parse(const char *model, sim_mode_t def, sim_mode_t *mode, sim_style_t *style);
const char *sim_mode_name(sim_mode_t m);
int sim_mode_parse(const char *s, sim_mode_t *out);
int sim_style_parse(const char *s, sim_style_t *out);

typedef struct {
    const sim_key_t *key; /* may be NULL */
    sim_mode_t mode;
    sim_style_t forced_style;  /* from the model name */
    double failure_rate;       /* chance of a drawn failure style */
    sim_style_t failure_style; /* SIM_STYLE_NONE = pick one of the three by hash */
    double effort_factor;      /* o3 reasoning_effort: low 0.5, medium 1, high 2 */
} sim_opts_t;

typedef struct {
    char *reasoning; /* "" when none or hidden */
    char *content;
    char *finish_reason;    /* "stop" or "length" */
    long completion_tokens; /* reasoning included */
    long reasoning_tokens;
    int correct; /* 1, 0, or -1 when not applicable (judge, open) */
} sim_choice_t;

/* The question's facts (rules 1-5), for tests and logs. */
typedef struct {
    char qhash[65];
    double accuracy;
    char *gold; /* letter or disease name */
    int is_mcq;
    int from_key;
} sim_facts_t;

/* answer one choice of request (already validated to have messages). draw_prng is
 * the server's uniform draw in [0,1) for unseeded requests. */
void sim_answer(const sim_opts_t *opts, const json_t *request, int choice_index, double draw_prng,
                double style_prng, sim_choice_t *out, sim_facts_t *facts);
void sim_choice_release(sim_choice_t *c);
void sim_facts_release(sim_facts_t *f);
/* token estimate for text (see above) */
long sim_tokens(const char *text);
/* prompt tokens of a request's messages */
long sim_prompt_tokens(const json_t *request);

#endif
