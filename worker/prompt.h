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

/* A process-wide table of templates, each loaded from dir on first use. */
typedef struct assay_prompts assay_prompts_t;
assay_prompts_t *assay_prompts_new(const char *dir);
void assay_prompts_destroy(assay_prompts_t **self_p);
/* the template called name (owned by the table); NULL + err when it cannot be loaded */
const assay_prompt_t *assay_prompts_get(assay_prompts_t *self, const char *name, char *err,
                                        size_t errlen);

#endif
