/*  leak.h: leak removal for case records whose diagnosis is known.
 *
 *  Turns an inpatient record into a case a model must reason about: removes what
 *  reveals the gold diagnosis (conclusion and management sections, clauses that
 *  name the diagnosis, an alias, a parent or child term, its ICD code, or a drug
 *  or procedure specific to it) and keeps what a doctor needs to reach it
 *  (complaint, history, signs, vital signs, test values, findings). Every removal
 *  is recorded with the span and the reason, and a residual check searches the
 *  result again, exactly and fuzzily, so a case that still leaks is flagged.
 *
 *  Two objects:
 *  - assay_leak_case_t: the per-case lexicon. It parses the gold diagnosis text
 *    into items and core names, and holds every term to hide (added from the
 *    terminology by assay_leak_case_expand(), or by the caller). It owns copies
 *    of every string added.
 *  - assay_leak_result_t: what one run produced (clean text, audit, residual
 *    hits), caller-owned storage released with assay_leak_result_release().
 *
 *  Everything is deterministic: the same input and lexicon give the same output.
 *  No function keeps state between calls; the lexicon is read-only during a run.
 */
#ifndef ASSAY_LEAK_H
#define ASSAY_LEAK_H

#include "common/util.h"
#include "worker/domain/terms.h"

#include <stddef.h>

/* why a term is hidden; also its weight in the residual score */
typedef enum {
    ASSAY_LEAK_TERM_GOLD = 0,  /* a gold diagnosis item or a core name parsed from it */
    ASSAY_LEAK_TERM_ALIAS,     /* a synonym of a gold name */
    ASSAY_LEAK_TERM_RELATED,   /* an ancestor (up to the block) or a descendant of a gold
                                * code, or the disease a modified gold name is a kind of */
    ASSAY_LEAK_TERM_CODE,      /* an ICD code of the diagnosis (matched as a token) */
    ASSAY_LEAK_TERM_TREATMENT, /* a drug, treatment or procedure specific to it */
    ASSAY_LEAK_TERM__COUNT
} assay_leak_term_kind_t;

/* the name of a kind: "gold", "alias", "related", "code", "treatment" */
const char *assay_leak_term_kind_name(assay_leak_term_kind_t kind);

typedef struct assay_leak_case assay_leak_case_t;

assay_leak_case_t *assay_leak_case_new(void);
void assay_leak_case_destroy(assay_leak_case_t **self_p);

/* parse the gold diagnosis text ("1.心房颤动2.高血压病（3级，很高危）…") into items
 * and add each item and its core names as GOLD terms. Items of the form
 * "X原因待查" / "X待排" are kept as items but their symptom X is not hidden (it is
 * the complaint the question is about). May be called several times (one
 * diagnosis per call). Returns the number of items added (0 when the text holds
 * no diagnosis). */
int assay_leak_case_add_gold(assay_leak_case_t *self, const char *text, size_t len);
/* Where a name of the diagnosis may stay. A verbatim part of the diagnosis text
 * (an item split at brackets, colons and white space, a bracketed qualifier
 * dropped: "高血压病3级" of "高血压病3级（很高危）") is removed wherever it is, and
 * masked as "某病" in a relative's history; a degree word that spells one
 * ("最高血压为180mmHg" holds 高血压) is turned round ("血压最高为180mmHg"), and one
 * formed where kept pieces meet is cut from the clean text. Its other names (core names,
 * aliases, relatives, codes aside) stay where they do not state the patient's
 * diagnosis: in a relative's history (a 家族史 section, or "父亲有…", "母亲患…"),
 * in a denial ("否认…", "未见…", "不伴…"), and, unless hidden with on = 1 here,
 * in the patient's past history (a 既往史-like section, a sentence opened by
 * "既往", a clause saying "…病史" or "“X”史"): a known condition is evidence for
 * the admission diagnosis (its grade, its stage, a post-operative state), not
 * its conclusion. A clause holding a conclusion cue (诊断, 诊为, 确诊, 考虑,
 * 收入, 提示, 示, …) is never history; a drug or procedure specific to the
 * diagnosis is hidden in the history too, unless the sentence already names, as
 * history, the gold item it treats ("“糖尿病”病史10年，口服二甲双胍"). The run and
 * the residual check both follow this setting (default 0). */
void assay_leak_case_hide_history(assay_leak_case_t *self, int on);

/* the gold items and, per item, the core names parsed from it (borrowed) */
size_t assay_leak_case_gold_count(const assay_leak_case_t *self);
const char *assay_leak_case_gold_item(const assay_leak_case_t *self, size_t i);
/* core names: the searchable names derived from the items (qualifiers such as
 * "3级" or "（很高危）" removed, composite items split), with their item index */
size_t assay_leak_case_name_count(const assay_leak_case_t *self);
const char *assay_leak_case_name(const assay_leak_case_t *self, size_t i, size_t *item);

/* add a term to hide. gold_item: the item it derives from (or SIZE_MAX when
 * unknown); why: a short explanation for the audit, e.g. "alias of 心房颤动"
 * (copied; may be NULL). Terms shorter than two characters are refused unless
 * kind is GOLD; generic words (see leak.c) are refused for every kind but GOLD
 * and CODE. Returns 1 when added, 0 when refused or already present. */
int assay_leak_case_add_term(assay_leak_case_t *self, const char *term, size_t len,
                             assay_leak_term_kind_t kind, size_t gold_item, const char *why);
size_t assay_leak_case_term_count(const assay_leak_case_t *self);
/* term i (borrowed, NUL-terminated), with its byte length and kind (either may be NULL) */
const char *assay_leak_case_term(const assay_leak_case_t *self, size_t i, size_t *len,
                                 assay_leak_term_kind_t *kind);

/*  Expansion from the terminology (assay_leak_case_expand). For every core name:
 *  - its concepts: those whose standard name it is, else the preferred concept by
 *    alias, else the same with one common spelling variant (型/性, 梗塞/梗死,
 *    早博/早搏, 冠脉/冠状动脉, 心梗/心肌梗死, 置入/植入), else the standard names
 *    found inside a composite name, longest first, left to right;
 *  - per concept: its standard name and aliases (ALIAS), its code and the codes of
 *    its ancestors down to the 3-character category (CODE), the names of its
 *    ancestors up to the block (RELATED) and of up to max_children descendants
 *    (RELATED);
 *  - the disease a modified name is a kind of ("陈旧性脑梗死" → 脑梗死, "2型糖尿病"
 *    → 糖尿病) when the terminology knows it (RELATED);
 *  - per knowledge-graph disease node named like the name or a concept: 别名/同义词
 *    neighbours (ALIAS) and 药物/药物治疗/治疗方式/手术治疗 neighbours linked to at
 *    most max_treatment_diseases diseases (TREATMENT: specific to few diseases, so
 *    naming one hints at the diagnosis), with a product's ingredient when that is
 *    specific too ("利伐沙班片" → 利伐沙班).
 *  An alias or relative that the graph knows only as a symptom is never hidden:
 *  symptoms are what the question is built from. */
typedef struct {
    size_t max_treatment_diseases; /* 0 = 5 */
    size_t max_children;           /* 0 = 200 */
} assay_leak_expand_opts_t;

/* add the terms the terminology knows for the case's gold names (opts may be
 * NULL); returns the number of terms added */
size_t assay_leak_case_expand(assay_leak_case_t *self, const assay_terms_t *terms,
                              const assay_leak_expand_opts_t *opts);
/* add a gold diagnosis given as a code (e.g. "I48.x01"): the concept's standard
 * name becomes a gold item (parsed like assay_leak_case_add_gold) and the code a
 * CODE term. Returns 0, or ASSAY_ENOTFOUND when no system knows the code. */
int assay_leak_case_add_code(assay_leak_case_t *self, const assay_terms_t *terms,
                             const char *code);

/*  One input record: free text and/or named sections. Borrowed by the run. */
typedef struct {
    const char *name; /* section name as given, e.g. "入院诊断" */
    const char *text;
    size_t len;
} assay_leak_section_t;

typedef struct {
    const char *text; /* may be NULL when only sections are given */
    size_t len;
    const assay_leak_section_t *sections;
    size_t n_sections;
} assay_leak_input_t;

typedef struct {
    size_t max_bytes;         /* reject larger records (0 = 1 MiB) */
    int allow_unsectioned;    /* accept free text without any recognised header */
    double flag_threshold;    /* residual score at which a case is flagged (0 = 0.5) */
} assay_leak_opts_t;

/* one entry of the audit: what was removed from where and why */
typedef struct {
    char *section; /* the section it was in ("" when before any header) */
    char *span;    /* the removed text */
    char *reason;
    size_t offset; /* byte offset in the input text, or in the named section */
    int in_named;  /* 1 when from a named section (offset relative to it); 2 when
                    * cut from the clean text itself, where kept pieces met and
                    * spelt a gold item (offset in the clean text) */
    int masked;    /* 1 when the span was replaced by "某病" (a gold item in a
                    * relative's history), not removed */
} assay_leak_removal_t;

/* one remaining mention found by the residual check */
typedef struct {
    char *match;  /* the text found */
    char *reason; /* what it matches, e.g. "gold name 心房颤动" */
    double score; /* 1 for an exact gold name or alias, lower for fuzzy matches */
} assay_leak_hit_t;

typedef struct {
    char *clean_text;
    size_t clean_len;
    assay_leak_removal_t *removed;
    size_t n_removed;
    assay_leak_hit_t *hits;
    size_t n_hits;
    double residual; /* max hit score, 0 when nothing remains */
    int flagged;     /* residual >= opts.flag_threshold */
    size_t n_headers; /* section headers recognised in the text */
} assay_leak_result_t;

void assay_leak_result_init(assay_leak_result_t *res);
void assay_leak_result_release(assay_leak_result_t *res);

/* clean one record against the case lexicon into res (initialised by the caller;
 * released and refilled). Returns 0, or ASSAY_EINVAL for input that cannot be
 * processed (no text, invalid UTF-8, too large, no section header when not
 * allowed, no gold item) with the reason in err. */
int assay_leak_run(const assay_leak_case_t *lc, const assay_leak_input_t *in,
                   const assay_leak_opts_t *opts, assay_leak_result_t *res, char *err,
                   size_t errlen);

/* the residual check alone, on any text (e.g. an LLM rewrite of clean_text):
 * fills res->hits, residual and flagged; leaves the other fields alone */
void assay_leak_residual(const assay_leak_case_t *lc, const char *text, size_t len,
                         double flag_threshold, assay_leak_result_t *res);

/* the section kind of a header name: 1 = states the conclusion or the management
 * (入院诊断, 诊疗经过, 出院医嘱, …), 0 = keep (主诉, 现病史, 查体, …), -1 = not a
 * header the engine knows */
int assay_leak_header_kind(const char *name, size_t len);

#endif
