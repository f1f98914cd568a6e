/*  fuzz_terms_snapshot.c: libFuzzer target for the terminology snapshot format.
 *  Any input must either be refused by assay_terms_from_image() or yield a
 *  terminology on which every query is safe. Seed corpus: a snapshot of the test
 *  fixture (`assay terms snapshot --from-dir tests/data/terms -o seed`). */
#include "worker/domain/terms.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    assay_terms_t *t = assay_terms_from_image(data, size, err, sizeof err);
    if (!t) return 0;
    size_t nc = assay_terms_concept_count(t);
    for (size_t i = 0; i < nc && i < 4096; i++) {
        assay_term_id_t id = (assay_term_id_t)i;
        assay_term_id_t anc[32], kn[8];
        assay_terms_ancestors(t, id, anc, 32);
        assay_terms_lca(t, id, (assay_term_id_t)(nc - 1 - i));
        assay_terms_find_code(t, ASSAY_SYS_ANY, assay_terms_code(t, id));
        assay_terms_lookup(t, assay_terms_name(t, id), ASSAY_SYS_ANY);
        for (size_t a = 0; a < assay_terms_alias_count(t, id); a++) {
            assay_alias_t al;
            assay_terms_alias(t, id, a, &al);
        }
        for (size_t c = 0; c < assay_terms_child_count(t, id); c++)
            assay_terms_child(t, id, c);
        assay_terms_kg_for_concept(t, id, kn, 8);
    }
    for (size_t i = 0; i < assay_terms_kg_node_count(t) && i < 4096; i++) {
        assay_kg_edge_t e[8];
        assay_term_id_t cs[8];
        assay_terms_kg_neighbors(t, (assay_term_id_t)i, NULL, ASSAY_KG_BOTH, e, 8);
        assay_terms_concepts_for_kg(t, (assay_term_id_t)i, ASSAY_SYS_ANY, cs, 8);
    }
    assay_terms_destroy(&t);
    return 0;
}
