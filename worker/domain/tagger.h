/*  tagger.h: tags for an item or a question — medical entities by type, patient
 *  attributes, the question's intent and the item's category — so later stages
 *  and SQL can filter on them.
 *
 *  Entities are found with the terminology: knowledge-graph node names (typed
 *  疾病, 症状, 药物, 检查, 部位, 手术治疗, ...) and ICD names and aliases (diseases),
 *  longest match first, no overlaps. Types are reported as disease, symptom, drug,
 *  procedure, test, body_part.
 *
 *  Intent follows the consumer health query taxonomy of KUAKE-QIC (治疗方案, 病情诊断,
 *  注意事项, 疾病表述, 就医建议, 功效作用, 后果表述, 医疗费用, 病因分析, 指标解读, 其他)
 *  plus 用药 for questions about how to take a drug; category is one of 基础知识,
 *  疾病诊断, 手术, 药物, 检验检查. Both come from weighted cue words (and, for the
 *  category, from the entity types found), so they are deterministic and explainable:
 *  the winning cues are reported with the label.
 *
 *  Attributes are the ones recognisable from the surface: age, sex, duration,
 *  laterality, severity, onset.
 */
#ifndef ASSAY_TAGGER_H
#define ASSAY_TAGGER_H

#include "worker/domain/terms.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    ASSAY_ENT_DISEASE = 0,
    ASSAY_ENT_SYMPTOM,
    ASSAY_ENT_DRUG,
    ASSAY_ENT_PROCEDURE,
    ASSAY_ENT_TEST,
    ASSAY_ENT_BODY_PART,
    ASSAY_ENT_TYPE_COUNT
} assay_entity_type_t;

/* "disease", "symptom", "drug", "procedure", "test", "body_part" */
const char *assay_tagger_type_name(int type);
/* the entity type of a KG node type (疾病 → disease, 手术治疗 → procedure, ...);
 * -1 for types that are not entities here (科室, 流行病学, ...) */
int assay_tagger_type_of_kg(const char *kg_type);

/* intent labels, in the order used for ties */
#define ASSAY_INTENT_COUNT 12
const char *assay_tagger_intent_name(int intent);
/* the intent of a question (an index for assay_tagger_intent_name; the last,
 * 其他, when no cue fires); *score gets the winning cue weight */
int assay_tagger_intent(const char *q, size_t len, double *score);

#define ASSAY_CATEGORY_COUNT 5
const char *assay_tagger_category_name(int category);
/* the category of an item from its text and the entity counts per type (counts
 * may be NULL) */
int assay_tagger_category(const char *text, size_t len, const size_t *type_counts);

typedef struct {
    uint32_t off, len;       /* the mention in the text */
    uint8_t type;            /* assay_entity_type_t */
    assay_term_id_t node;    /* the KG node, or ASSAY_TERM_NONE */
    assay_term_id_t concept; /* the ICD concept (diseases), or ASSAY_TERM_NONE */
} assay_tagger_entity_t;

/* entities in text, longest match first and without overlaps; writes at most max
 * and returns how many were written */
size_t assay_tagger_entities(const assay_terms_t *terms, const char *text, size_t len,
                             assay_tagger_entity_t *out, size_t max);

/* recognisable attributes as a JSON object ({"age": "45岁", "sex": "男", ...};
 * a new reference, empty when none) */
json_t *assay_tagger_attributes(const char *text, size_t len);

/* everything for one item: {entities: {disease: [..], ...}, entity_codes: [..],
 * attributes: {..}, intent, intent_score, category}; terms may be NULL (no
 * entities then). A new reference. */
json_t *assay_tagger_tag(const assay_terms_t *terms, const char *text, size_t len);

#endif
