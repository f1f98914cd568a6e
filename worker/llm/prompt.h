/*  prompt.h: named, versioned prompt templates rendered into chat messages.
 *
 *  A template is the file DIR/NAME.txt (NAME: letters, digits, '_' and '-'):
 *
 *      # answer_mcq: what the template is for
 *      # version: 3
 *      @system
 *      You are ...
 *      @user
 *      <question>{{question}}</question>
 *      {{options}}
 *
 *  Lines starting with '#' before the first role line are comments; "# version: N"
 *  (a positive integer) is required and must be bumped whenever the text changes
 *  meaning. "@system", "@user" and "@assistant" alone on a line start a message.
 *  {{field}} is replaced by the item's field (a dotted path reaches into objects),
 *  {{field?}} by the field or nothing when it is absent. Values render as: strings
 *  as they are, numbers and booleans as JSON, objects as "KEY. value" lines sorted
 *  by key (MCQ options), arrays one element per line. A required field missing from
 *  the item is an error naming the template and the field.
 *
 *  The template hash is the SHA-256 of the file's bytes: samples record it, so a
 *  dataset's lineage names the exact text that produced it.
 */
#ifndef ASSAY_PROMPT_H
#define ASSAY_PROMPT_H

#include "common/util.h"

#include <jansson.h>
#include <stddef.h>

typedef struct assay_prompt assay_prompt_t;

/* parse template text; origin names it in errors ("FILE:LINE: ..."). NULL + err on
 * error. */
assay_prompt_t *assay_prompt_parse(const char *name, const char *text, size_t len,
                                   const char *origin, char *err, size_t errlen);
/* load DIR/NAME.txt; NULL + err on error (bad name, unreadable, malformed) */
assay_prompt_t *assay_prompt_load(const char *dir, const char *name, char *err, size_t errlen);
void assay_prompt_destroy(assay_prompt_t **self_p);

const char *assay_prompt_name(const assay_prompt_t *self);
int assay_prompt_version(const assay_prompt_t *self);
/* hex SHA-256 of the template file (64 chars) */
const char *assay_prompt_hash(const assay_prompt_t *self);

/* the messages for item: a new JSON array of {"role", "content"}, or NULL with err
 * (a required field is missing) */
json_t *assay_prompt_render(const assay_prompt_t *self, const json_t *item, char *err,
                            size_t errlen);

/* ---- what the gold holds ----------------------------------------------------------
 * A template should ask for what the gold answer contains: every letter of a
 * multiple-answer question, every diagnosis of a case whose gold lists several.
 * These read an item's gold the same way for the generate task (which picks the
 * _multi twin of a template) and the verify task (which compares lists). */

/* how many option letters the gold of an mcq item has: the distinct letters of
 * "answer" (a string such as "ABD" or "A,C", or an array of letters), at least 2
 * when "multi_answer" is true; 0 when there is no such gold */
int assay_prompt_gold_letters(const json_t *item);
/* how many diagnoses the gold of a case lists: "gold_items" (what leak_removal
 * writes) when it is an array, else "diagnosis", else "answer", split by
 * assay_prompt_gold_split; 0 when there is none */
size_t assay_prompt_gold_count(const json_t *item);
/* split a gold value into its items and append them to out, one per line: a
 * string is split at list numbers ("1.X2.Y", "1、X", "(1)X", "①X") and at
 * separators outside brackets ("，" "；" "、" newlines); an array gives one item
 * per non-empty string element. Returns how many items were appended. */
size_t assay_prompt_gold_split(const json_t *gold, assay_buf_t *out);
/* the same split of len bytes of text (an answer that lists diagnoses) */
size_t assay_prompt_list_split(const char *text, size_t len, assay_buf_t *out);

/* the template generate uses for an item when its stage names none: answer_mcq
 * for options, answer_case for a case record (text without question), else
 * answer_open */
const char *assay_prompt_default_name(const json_t *item);
/* The template that asks for what the gold holds: answer_mcq becomes
 * answer_mcq_multi for an item with several answer letters
 * (assay_prompt_gold_letters > 1), answer_case and answer_case_clean their _multi
 * twins when the gold lists several diagnoses (assay_prompt_gold_count > 1).
 * Returns tname itself otherwise, or a name written into buf. */
const char *assay_prompt_fit_name(const char *tname, const json_t *item, char *buf,
                                  size_t buflen);

/* the first field the template needs (a placeholder without '?') that item lacks
 * or holds as null, copied into field; 0 when the item has them all, 1 when not */
int assay_prompt_missing_field(const assay_prompt_t *self, const json_t *item, char *field,
                               size_t fieldlen);
/* where templates are read unless worker.prompts_dir says otherwise (compiled in) */
const char *assay_prompts_default_dir(void);

/* A process-wide table of templates, each loaded from dir on first use. */
typedef struct assay_prompts assay_prompts_t;
assay_prompts_t *assay_prompts_new(const char *dir);
void assay_prompts_destroy(assay_prompts_t **self_p);
/* the template called name (owned by the table); NULL + err when it cannot be loaded */
const assay_prompt_t *assay_prompts_get(assay_prompts_t *self, const char *name, char *err,
                                        size_t errlen);

#endif
