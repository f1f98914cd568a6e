/*  hack.h: checks for answers that game a verifier or a judge.
 *
 *  Three signs, each a flag with its evidence:
 *
 *    no_reasoning      the sample carries no reasoning at all;
 *    short_reasoning   the reasoning is far shorter than the question calls for:
 *                      fewer than max(min_chars, ratio · question length) content
 *                      characters (capped at max_chars, so long case records do not
 *                      demand essays);
 *    repeated          the same conclusion stated again and again: a sentence (or a
 *                      near copy of it, bigram Dice >= 0.85) occurring repeat_min
 *                      times or more, or a phrase looping back to back
 *                      ("好的好的好的好的");
 *    unknown_entity    a disease, drug or test named in the answer that matches
 *                      nothing in the terminology or the knowledge graph (a possible
 *                      fabrication). Mentions are found by their suffixes (…病 …炎
 *                      …综合征, …霉素 …沙星 …胶囊, …造影 …试验) and count as known
 *                      when any trailing part of them is a known name (急性化脓性阑尾炎
 *                      is known through 阑尾炎).
 *
 *  hack_score = 1 − the largest severity among the flags (no_reasoning 1.0,
 *  repeated 0.7, short_reasoning 0.6, unknown_entity 0.5), so 1 means clean.
 *  Nothing here allocates except the JSON of the report.
 */
#ifndef ASSAY_HACK_H
#define ASSAY_HACK_H

#include "worker/domain/terms.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define ASSAY_HACK_MAX_UNKNOWN 16

typedef struct {
    size_t min_chars;    /* reasoning shorter than this is short (default 20) */
    double ratio;        /* ... or than ratio · question length (default 0.1) */
    size_t max_chars;    /* the expectation never exceeds this (default 200) */
    size_t repeat_min;   /* a conclusion this many times is repeated (default 3) */
    int check_reasoning; /* also look for unknown entities in the reasoning (0) */
} assay_hack_params_t;

void assay_hack_params_default(assay_hack_params_t *p);

/*  Drug and test names in the knowledge graph are product names (缬沙坦胶囊,
 *  酒石酸美托洛尔片), while answers name the substance (缬沙坦). The lexicon holds
 *  every part of those names, two to sixteen characters long, so a substance named
 *  inside any product counts as known. Built once per process from the
 *  terminology (immutable afterwards, shareable by threads). */
typedef struct assay_hack_lexicon assay_hack_lexicon_t;
assay_hack_lexicon_t *assay_hack_lexicon_new(const assay_terms_t *terms);
void assay_hack_lexicon_destroy(assay_hack_lexicon_t **self_p);
/* number of distinct name parts held */
size_t assay_hack_lexicon_size(const assay_hack_lexicon_t *self);

typedef enum {
    ASSAY_HACK_NO_REASONING = 0x1,
    ASSAY_HACK_SHORT_REASONING = 0x2,
    ASSAY_HACK_REPEATED = 0x4,
    ASSAY_HACK_UNKNOWN_ENTITY = 0x8
} assay_hack_flag_t;

typedef struct {
    const char *text; /* points into the checked text */
    uint32_t len;
    char kind; /* 'd' disease, 'r' drug, 't' test */
} assay_hack_mention_t;

typedef struct {
    unsigned flags;
    double score; /* 1 − max severity */
    size_t reasoning_chars, expected_chars;
    size_t repeat_count; /* occurrences of the most repeated sentence */
    const char *repeat_text;
    uint32_t repeat_len;
    size_t loop_period, loop_copies; /* a back-to-back loop, when found */
    size_t n_unknown;                /* may exceed ASSAY_HACK_MAX_UNKNOWN */
    assay_hack_mention_t unknown[ASSAY_HACK_MAX_UNKNOWN];
    size_t n_mentions; /* candidate mentions examined */
} assay_hack_result_t;

/* check one sample. question and reasoning may be NULL (length 0); terms may be
 * NULL, which skips the unknown-entity check; lex may be NULL (drug substances
 * are then known only by exact names). The result points into the inputs. */
void assay_hack_check(const assay_terms_t *terms, const assay_hack_lexicon_t *lex,
                      const assay_hack_params_t *p, const char *question, size_t qlen,
                      const char *reasoning, size_t rlen, const char *answer, size_t alen,
                      assay_hack_result_t *out);

/* the names of the flags set in flags, as a JSON array (a new reference) */
json_t *assay_hack_flags_json(unsigned flags);
/* the report: {flags, hacked, hack_score, reasoning_chars, expected_chars, repeated,
 * loop, unknown_entities, mentions_checked} (a new reference) */
json_t *assay_hack_report(const assay_hack_result_t *r);

#endif
