/*  normalize.h: the normaliser / entity linker: medical entities in free text
 *  mapped to codes of one code system.
 *
 *  Input is Chinese clinical text with some Latin (Ca, COPD, T2DM) and inline ICD
 *  codes (I25.103). The linker
 *    1. splits the text into diagnosis segments (1.… 2.…, ；;，,、 伴 并 合并 及
 *       and line breaks);
 *    2. takes inline codes and the leftmost-longest exact matches of standard names
 *       and aliases over the whole text in one pass (Aho-Corasick on normalised
 *       bytes);
 *    3. links what exact matching leaves uncovered by fuzzy matching: character
 *       bigram candidates from an inverted index over standard names, and the
 *       nearest known mentions (physician-written mentions with their standard
 *       names: the chip_cdn aliases and the known mentions of the terminology, see
 *       assay_terms_example(), plus any added examples),
 *       which vote for their standard names;
 *    4. decomposes a term into atoms where that explains it better (site + head:
 *       上呼吸道 + 感染, 乳腺 + 恶性肿瘤 for 乳腺癌), heads and their cues being
 *       learned from the known mentions;
 *    5. scores every candidate with a model trained on the known mentions (see
 *       normalize.c), which also decides how many names a text gets.
 *  Every entity carries its byte span, concept, code, standard name, how it was
 *  found and a confidence in [0,1]; entities under opts.min_confidence are dropped.
 *  Preparing (training) takes a few seconds for a few thousand known mentions.
 *
 *  A normaliser is immutable after assay_normalizer_new() (plus the optional
 *  example phase) and may be shared by threads; results go into caller-owned
 *  assay_entities_t. It borrows the terminology, which must outlive it.
 */
#ifndef ASSAY_NORMALIZE_H
#define ASSAY_NORMALIZE_H

#include "worker/domain/terms.h"

#include <stddef.h>
#include <stdint.h>

typedef struct assay_normalizer assay_normalizer_t;

typedef enum {
    ASSAY_MATCH_CODE = 1,  /* an ICD code written in the text */
    ASSAY_MATCH_EXACT = 2, /* a standard name */
    ASSAY_MATCH_ALIAS = 3, /* an alias (synonym, abbreviation, known mention) */
    ASSAY_MATCH_FUZZY = 4, /* similar to a standard name or a known mention */
    ASSAY_MATCH_ATOM = 5   /* one atom of a decomposed term */
} assay_match_kind_t;

typedef struct {
    size_t start, end;       /* byte span in the input text */
    uint32_t segment;        /* index of the diagnosis segment it came from */
    assay_term_id_t concept; /* in opts.system (or a shared ICD-10 level) */
    const char *code;        /* owned by the terminology */
    const char *name;        /* standard name, owned by the terminology */
    uint8_t kind;            /* assay_match_kind_t */
    float confidence;        /* [0,1] */
} assay_entity_t;

/* a growable list of entities: ASSAY_ENTITIES_INIT or assay_entities_init() to start,
 * assay_entities_release() to free; reusable across calls (normalize resets it) */
typedef struct {
    assay_entity_t *items;
    size_t n, cap;
} assay_entities_t;

#define ASSAY_ENTITIES_INIT                                                                        \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }
void assay_entities_init(assay_entities_t *e);
void assay_entities_release(assay_entities_t *e);

typedef struct {
    assay_code_system_t system; /* codes to produce: ASSAY_SYS_CLIN20 (default) or BJV601 */
    int fuzzy;                  /* 1: fuzzy matching of what exact matching leaves (default 1) */
    int atoms;                  /* 1: decompose into atoms (default 1) */
    int use_terms_mentions;     /* 1: learn from the chip_cdn mention aliases and the
                                 * known mentions (assay_terms_example) of the
                                 * terminology (default 1) */
    double min_confidence;      /* drop entities below (default 0.3) */
    size_t max_entities;        /* per text, 0 = no limit (default 0) */
    int exact_only;             /* 1: inline codes and the leftmost-longest cover of
                                 * names and aliases only (no fuzzy matching, no
                                 * model, no preparation): a few microseconds per
                                 * short text, for hot paths such as verifying
                                 * answers (default 0) */
} assay_normalize_opts_t;

/* the defaults above */
void assay_normalize_opts_default(assay_normalize_opts_t *opts);

/* build the matcher and indexes for opts->system (NULL opts: defaults). Returns NULL
 * with err filled on failure (unknown system). */
assay_normalizer_t *assay_normalizer_new(const assay_terms_t *terms,
                                         const assay_normalize_opts_t *opts, char *err,
                                         size_t errlen);
void assay_normalizer_destroy(assay_normalizer_t **self_p);

/*  Known mentions: a physician-written mention and the standard names (in
 *  opts.system) it was normalised to. Add them before the first
 *  assay_normalize_text(); names that are not standard names of the system are
 *  ignored. Returns how many names were recognised (0: the example was dropped). */
size_t assay_normalizer_add_example(assay_normalizer_t *self, const char *mention,
                                    const char *const *names, size_t n_names);
/* add the known mentions of a JSONL file, one {"text": mention, "normalized": [standard
 * names]} object per line ("names" is accepted for "normalized"; other fields are
 * ignored), e.g. CHIP-CDN's chip_cdn_train.jsonl. *added (may be NULL) gets the number
 * of mentions kept. 0, or ASSAY_EIO / ASSAY_EPARSE with `FILE:LINE: ...` in err. */
int assay_normalizer_load_examples(assay_normalizer_t *self, const char *path, size_t *added,
                                   char *err, size_t errlen);
/* freeze the examples and build their indexes (done implicitly by the first
 * normalize call; calling it explicitly keeps later calls read-only for threads) */
void assay_normalizer_prepare(assay_normalizer_t *self);

/* find and link the entities of text (len bytes, UTF-8) into out (reset first).
 * Returns the number of entities, or ASSAY_EINVAL for invalid UTF-8. */
int assay_normalize_text(assay_normalizer_t *self, const char *text, size_t len,
                         assay_entities_t *out);

/* the distinct standard names of the entities, in order of first appearance,
 * written into out (up to max); returns how many there are */
size_t assay_entities_names(const assay_entities_t *e, const char **out, size_t max);

/* diagnosis segments of text: writes up to max [start, end) byte spans (trimmed of
 * numbering, punctuation and white space; empty segments skipped) and returns how
 * many there are */
typedef struct {
    size_t start, end;
} assay_span_t;
size_t assay_normalize_split(const char *text, size_t len, assay_span_t *out, size_t max);

/* the known mentions the normaliser learned from, and whether they were enough
 * to train its model (with fewer its confidences come from fixed weights and rank
 * candidates without being calibrated) */
size_t assay_normalizer_known_mentions(const assay_normalizer_t *self);
int assay_normalizer_learned(const assay_normalizer_t *self);

const char *assay_match_kind_name(assay_match_kind_t kind);

#endif
