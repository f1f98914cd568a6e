/*  verify.h: the rule verifier — scores a sampled answer against the gold answer
 *  through the terminology, without a model.
 *
 *  Multiple choice (kind mcq): the option letters a response commits to are read
 *  from free text ("答案：B", "选B和D", "正确答案是 C．…", a bare "ACD", or, when no
 *  letter is given, the option texts it names) and compared with the gold letters:
 *  score = |pred ∩ gold| / |pred ∪ gold|, so an exact answer scores 1 and a partly
 *  right multiple-answer gets partial credit.
 *
 *  Free text (kind case | open): both answers are parsed into atoms (medical
 *  entities found by the terminology's name index — exact names and aliases, after
 *  splitting at punctuation and conjunctions and trimming words such as 诊断/考虑/
 *  可能 — then, optionally, by the fuzzy linker of worker/domain/normalize.h; plain
 *  segments when nothing links), each atom mapped to candidate concepts (ICD
 *  codes; concepts sharing a standard name count as one). Every gold atom is
 *  compared with every answer atom by three similarities:
 *
 *    path   closeness in the ICD hierarchy: 1 for the same concept; 1 − 0.1·edges
 *           (at least 0.5) when one subsumes the other (the same disease named more
 *           or less specifically); else d(lca) / (d(lca) + edges(a→lca→b)), so
 *           siblings at depth 5 get 0.67, cousins in one block 0.25, and 0 without a
 *           common ancestor. An "unspecified" code (J18.900 肺炎) counts as its
 *           category;
 *    graph  closeness in the knowledge graph: 1 for the same disease node or an
 *           alias edge, else the Dice overlap of the two diseases' neighbours
 *           (symptoms, drugs, tests, ...; departments left out as too generic), at
 *           least 0.25 when the two are directly linked;
 *    term   string similarity (character-bigram Dice) of the concepts' standard
 *           names (the surface strings for atoms that link to nothing), so two
 *           synonyms resolved to one concept compare as equal;
 *
 *  fused as (w_path·path + w_graph·graph + w_term·term) / (sum of the weights of the
 *  similarities that are defined: graph needs KG nodes, path and graph need codes).
 *  A pair's similarity is the best over the atoms' candidate concepts. The score is
 *  (1 − w_precision)·recall + w_precision·precision, where recall averages each gold
 *  atom's best match and precision each linked answer atom's best match (every
 *  answer atom when none links: unlinked prose beside a diagnosis does not count).
 *  So there is partial credit as soon as any atom matches, and a little penalty for
 *  naming many extra diseases. Atoms linked by the fuzzy linker score at least
 *  their string similarity, since a fuzzy link may be wrong.
 *
 *  Phrasing.  Atoms are read for meaning before they are looked up: a leading
 *  laterality word (左/右/双侧/单侧...) is dropped when the whole is no name;
 *  hedges (考虑/可能/疑似/待排, "?") count as the disease, work-up statuses (待查/
 *  查因) as the finding they qualify, and both are recorded (ASSAY_QUAL_*) with
 *  post-treatment states (术后/状态/病史); brackets that close in the text belong to
 *  it (肩关节脱位[盂肱关节脱位]), a bracketed qualifier or spelling is tried
 *  without them; an ICD code written as the answer links to its concept; "A合并B"
 *  and "B合并A" give the same atoms.
 *
 *  Evidence.  With normalisers (params.linkers, the handler's default link=full),
 *  a gold atom that the exact comparison leaves short of a perfect match is judged
 *  by the normaliser of its code system on the answer (typos, site words, synonyms
 *  learned from the terminology's aliases and known mentions): named (similarity
 *  0.85..1) when the normaliser has learned a model (assay_normalizer_learned: an
 *  untrained one's confidences are not calibrated), gives the gold confidence
 *  >= 0.02, words the answer names exactly as another disease do not get at least
 *  twice that from it, and no sibling of it
 *  (same 3-character category, neither ancestor nor descendant, another name;
 *  a more general sibling whose name lies inside the gold's, when the answer holds
 *  what the gold adds, does not count) at least twice that; otherwise an answer atom
 *  that links to nothing may still name it when its surface is closer to the
 *  gold's name than to every sibling's in the category (0.8..0.84). Golds neither
 *  way get graded scores below acceptance (hierarchy closeness of the normaliser's
 *  readings, surface contrast) so the score still ranks.
 *
 *  For multiple choice `correct` needs the exact set of letters; for free text it
 *  is score >= threshold and precision >= min_precision (an answer listing the gold
 *  among many diseases is not correct).
 *
 *  Everything is deterministic, and a check allocates nothing (but with the fuzzy
 *  linker or the normalisers, and for the JSON explanation): a result is a
 *  caller-owned struct with
 *  fixed-capacity arrays whose atom strings point into the inputs.
 *  The terminology is read-only, so threads may verify concurrently.
 */
#ifndef ASSAY_VERIFY_H
#define ASSAY_VERIFY_H

#include "worker/domain/normalize.h"
#include "worker/domain/terms.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define ASSAY_VERIFY_MAX_OPTIONS 8 /* A..H */
#define ASSAY_VERIFY_MAX_ATOMS 16  /* atoms kept per side (more are ignored) */
#define ASSAY_VERIFY_MAX_CANDS 4   /* candidate concepts kept per atom */

typedef enum {
    ASSAY_VERIFY_MCQ = 0,
    ASSAY_VERIFY_CASE = 1,
    ASSAY_VERIFY_OPEN = 2
} assay_verify_kind_t;

/* parse "mcq" | "case" | "open"; 0 or ASSAY_EINVAL */
int assay_verify_kind_parse(const char *s, assay_verify_kind_t *out);

typedef struct {
    double w_path, w_graph, w_term; /* similarity weights (>= 0, not all 0) */
    double w_precision;             /* share of precision in the score, 0..1 */
    double threshold;               /* `correct` when score >= threshold ... */
    double min_precision;           /* ... and precision >= min_precision (free text) */
    assay_code_system_t system;     /* code system for name lookups (ASSAY_SYS_ANY) */
    /* optional fuzzy linker for text that exact names leave unlinked (NULL: exact
     * names only). Borrowed; it must be prepared (assay_normalizer_prepare) so
     * concurrent checks only read it. About a hundred times slower than exact
     * lookups, so it is an opt-in. */
    assay_normalizer_t *linker;
    /* the full normaliser per code system (index ASSAY_SYS_CLIN20 / ASSAY_SYS_BJV601;
     * NULL: none), used as evidence: when the exact comparison leaves a gold atom
     * short of a perfect match, the whole answer is normalised in the gold's system
     * and the gold counts as named when the normaliser ranks it high and no sibling
     * of the gold (same ICD category, neither ancestor nor descendant) above it.
     * Borrowed and prepared, like linker. */
    assay_normalizer_t *linkers[ASSAY_SYS_COUNT];
} assay_verify_params_t;

/* defaults: w_path 0.55, w_graph 0.15, w_term 0.3, w_precision 0.2, threshold 0.8,
 * min_precision 0.34 (an answer naming the gold among three or more other diseases
 * is not correct), system any, no fuzzy linker, no normalisers */
void assay_verify_params_default(assay_verify_params_t *p);
/* check ranges; 0 or ASSAY_EINVAL with the offending parameter named in err */
int assay_verify_params_check(const assay_verify_params_t *p, char *err, size_t errlen);

/* how the letters of an MCQ response were found */
typedef enum {
    ASSAY_MCQ_NONE = 0,   /* nothing usable */
    ASSAY_MCQ_BARE,       /* the whole response is letters ("B", "A、C", "ABCD") */
    ASSAY_MCQ_MARKER,     /* after a marker: 答案 / 选 / answer is ... */
    ASSAY_MCQ_LEADING,    /* a letter opening the response ("C．胰岛素") */
    ASSAY_MCQ_OPTION_TEXT /* option texts named in the response */
} assay_mcq_how_t;

const char *assay_verify_mcq_how_name(assay_mcq_how_t how);

/* letters of a gold answer such as "C", "ABCD", "A,C": bit 0 = A. 0 when s holds
 * anything but option letters and separators */
unsigned assay_verify_letters(const char *s, size_t len);

/* the options a response commits to, as a bit mask (bit 0 = A). options[i] is the
 * text of option 'A'+i or NULL; n_options how many letters are valid (letters past
 * it are not options). Returns the mask (0 when nothing was found) and sets *how. */
unsigned assay_verify_mcq_extract(const char *text, size_t len, const char *const *options,
                                  size_t n_options, assay_mcq_how_t *how);

/* one atom: a span of the input text and the concepts it maps to */
/* what an atom's wording says besides its disease (assay_verify_atom_t.qual) */
#define ASSAY_QUAL_HEDGE 0x01      /* 考虑 / 可能 / 疑似 / 待排: counted as the disease */
#define ASSAY_QUAL_PENDING 0x02    /* 待查 / 查因: a work-up of the finding */
#define ASSAY_QUAL_POSTOP 0x04     /* 术后 / 状态 / 史: a state after the disease */
#define ASSAY_QUAL_LATERALITY 0x08 /* 左 / 右 / 双侧 / 单侧 dropped to link it */
#define ASSAY_QUAL_CODE 0x10       /* an ICD code rather than a name */

/* how the normaliser's evidence decided an atom (assay_verify_atom_t.ev) */
#define ASSAY_EV_NONE 0      /* not consulted (exact match, or no normaliser) */
#define ASSAY_EV_NAMED 1     /* the normaliser ranks the gold first in its category */
#define ASSAY_EV_OUTRANKED 2 /* a sibling of the gold ranks above it */
#define ASSAY_EV_ABSENT 3    /* the gold is not among the normaliser's candidates */
#define ASSAY_EV_CONTRAST 4  /* not named, but an unlinked answer atom is closer in surface
                              * to the gold than to any sibling in its category */

typedef struct {
    const char *text; /* points into the answer or gold text (not NUL-terminated) */
    uint32_t len;
    uint8_t qual; /* ASSAY_QUAL_* */
    uint8_t ev;   /* ASSAY_EV_*: for a gold atom how the evidence decided it; for an
                   * answer atom, NAMED / CONTRAST when the evidence tied it to a gold */
    float ev_conf, ev_rival_conf; /* the gold's and the best sibling's confidence */
    float ev_before;              /* the similarity before the evidence */
    assay_term_id_t ev_rival;     /* that sibling (ASSAY_TERM_NONE: none) */
    uint8_t n_cands;
    uint8_t from_code; /* 1 when it came from gold_codes, not from text */
    uint8_t fuzzy;     /* 1 when the fuzzy linker chose its concept */
    assay_term_id_t cands[ASSAY_VERIFY_MAX_CANDS];
    /* filled by scoring: the best match on the other side */
    int8_t best;              /* index of the matched atom on the other side, -1 none */
    assay_term_id_t best_own; /* the candidates that gave the best match */
    assay_term_id_t best_other;
    float sim, path, graph, term; /* graph/path < 0: undefined for that pair */
} assay_verify_atom_t;

typedef struct {
    double score; /* 0..1 */
    int correct;
    assay_verify_kind_t kind;
    /* mcq */
    unsigned gold_mask, pred_mask;
    assay_mcq_how_t how;
    /* case/open */
    size_t n_gold, n_pred;
    assay_verify_atom_t gold[ASSAY_VERIFY_MAX_ATOMS];
    assay_verify_atom_t pred[ASSAY_VERIFY_MAX_ATOMS];
    double recall, precision;
    /* the similarities of the best gold match averaged over gold atoms (-1 when
     * undefined for every atom) */
    double path_sim, graph_sim, term_sim;
} assay_verify_result_t;

/* split text into atoms and link them to concepts (at most max atoms). Returns
 * the number of atoms written. */
size_t assay_verify_atoms(const assay_terms_t *terms, const assay_verify_params_t *p,
                          const char *text, size_t len, assay_verify_atom_t *out, size_t max);

/* the similarity of two concepts (fills the three parts; path/graph -1 when
 * undefined) under the weights in p */
double assay_verify_concept_sim(const assay_terms_t *terms, const assay_verify_params_t *p,
                                assay_term_id_t a, assay_term_id_t b, float *path, float *graph,
                                float *term);

/* score a multiple-choice response; gold is the gold answer (letters, or an option
 * text). Returns 0, or ASSAY_EINVAL when the gold answer names no option. */
int assay_verify_mcq(const assay_verify_params_t *p, const char *gold, const char *response,
                     size_t rlen, const char *const *options, size_t n_options,
                     assay_verify_result_t *out);

/* score a free-text response against gold text and/or gold codes (gold_codes may
 * be NULL; n_codes entries). Returns 0, or ASSAY_EINVAL when the gold side is
 * empty. */
int assay_verify_text(const assay_terms_t *terms, const assay_verify_params_t *p, const char *gold,
                      size_t glen, const char *const *gold_codes, size_t n_codes,
                      const char *response, size_t rlen, assay_verify_result_t *out);

/* the explanation object of a result: {method, atoms, codes, path_sim, graph_sim,
 * term_sim, weights, ...} (a new reference) */
json_t *assay_verify_explain(const assay_terms_t *terms, const assay_verify_params_t *p,
                             const assay_verify_result_t *r);

#endif
