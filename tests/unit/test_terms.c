/*  test_terms.c: unit tests for worker/terms (hierarchy, names and aliases, the
 *  knowledge graph, bad input, snapshots) on the fixture in tests/data/terms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/error.h"
#include "common/util.h"
#include "worker/domain/terms.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef ASSAY_TEST_DATA
#define ASSAY_TEST_DATA "tests/data"
#endif
#define FIXTURE ASSAY_TEST_DATA "/terms"

static int s_setup(void **state)
{
    char err[512];
    assay_terms_t *t = assay_terms_load_dir(FIXTURE, err, sizeof err);
    if (!t) fprintf(stderr, "fixture: %s\n", err);
    *state = t;
    return t ? 0 : -1;
}

static int s_teardown(void **state)
{
    assay_terms_t *t = *state;
    assay_terms_destroy(&t);
    assay_terms_destroy(&t); /* safe twice */
    return 0;
}

static void test_hierarchy(void **state)
{
    const assay_terms_t *t = *state;
    assay_term_id_t chd = assay_terms_find_code(t, ASSAY_SYS_CLIN20, "I25.103");
    assert_int_not_equal(chd, ASSAY_TERM_NONE);
    assay_concept_t c;
    assert_int_equal(assay_terms_concept(t, chd, &c), 0);
    assert_string_equal(c.name, "冠状动脉粥样硬化性心脏病");
    assert_int_equal(c.system, ASSAY_SYS_CLIN20);
    assert_int_equal(c.level, ASSAY_LEVEL_CLINICAL);
    assert_int_equal(c.depth, 5);
    assert_string_equal(assay_terms_code(t, c.parent), "I25.1");
    assert_int_equal(assay_terms_system(t, c.parent), ASSAY_SYS_ICD10);

    assay_term_id_t anc[8];
    size_t n = assay_terms_ancestors(t, chd, anc, 8);
    assert_int_equal(n, 4);
    assert_string_equal(assay_terms_code(t, anc[0]), "I25.1");
    assert_string_equal(assay_terms_code(t, anc[1]), "I25");
    assert_string_equal(assay_terms_code(t, anc[2]), "I20-I25");
    assert_string_equal(assay_terms_code(t, anc[3]), "I00-I99");
    assert_int_equal(assay_terms_level(t, anc[3]), ASSAY_LEVEL_CHAPTER);

    /* case-insensitive, trimmed code lookup; extensions sit under clinical codes */
    assay_term_id_t ext = assay_terms_find_code(t, ASSAY_SYS_CLIN20, " i10.x00x002 ");
    assert_int_not_equal(ext, ASSAY_TERM_NONE);
    assert_int_equal(assay_terms_level(t, ext), ASSAY_LEVEL_EXTENSION);
    assert_int_equal(assay_terms_depth(t, ext), 6);

    /* the same code string in the other system is another concept */
    assay_term_id_t bj = assay_terms_find_code(t, ASSAY_SYS_BJV601, "I25.101");
    assert_int_not_equal(bj, ASSAY_TERM_NONE);
    assert_int_equal(assay_terms_find_code(t, ASSAY_SYS_CLIN20, "I25.101"), ASSAY_TERM_NONE);
    assert_string_equal(assay_terms_code(t, assay_terms_parent(t, bj)), "I25.1");
    /* shared levels are found from either system */
    assert_int_equal(assay_terms_find_code(t, ASSAY_SYS_BJV601, "I25"),
                     assay_terms_find_code(t, ASSAY_SYS_CLIN20, "I25"));
    assert_int_equal(assay_terms_find_code(t, ASSAY_SYS_CLIN20, "Z99.9"), ASSAY_TERM_NONE);

    /* children */
    assay_term_id_t i20 = assay_terms_find_code(t, ASSAY_SYS_ICD10, "I20");
    assert_int_equal(assay_terms_child_count(t, i20), 2);
    assert_string_equal(assay_terms_code(t, assay_terms_child(t, i20, 0)), "I20.0");
    assert_int_equal(assay_terms_child(t, i20, 2), ASSAY_TERM_NONE);

    /* morphology codes stay outside the hierarchy */
    assay_term_id_t m = assay_terms_find_code(t, ASSAY_SYS_BJV601, "M80000/3");
    assert_int_not_equal(m, ASSAY_TERM_NONE);
    assert_int_equal(assay_terms_parent(t, m), ASSAY_TERM_NONE);
    assert_true(assay_terms_concept(t, m, &c) == 0 && (c.flags & ASSAY_TERM_MORPHOLOGY));
    assert_int_equal(assay_terms_concept(t, ASSAY_TERM_NONE, &c), ASSAY_ENOTFOUND);
}

static void test_lca(void **state)
{
    const assay_terms_t *t = *state;
    assay_term_id_t chd = assay_terms_find_code(t, ASSAY_SYS_CLIN20, "I25.103");
    assay_term_id_t ua = assay_terms_find_code(t, ASSAY_SYS_CLIN20, "I20.000");
    assay_term_id_t an = assay_terms_find_code(t, ASSAY_SYS_CLIN20, "I20.900");
    assay_term_id_t htn = assay_terms_find_code(t, ASSAY_SYS_CLIN20, "I10.X00");
    assay_term_id_t copd = assay_terms_find_code(t, ASSAY_SYS_CLIN20, "J44.900");

    assert_string_equal(assay_terms_code(t, assay_terms_lca(t, ua, an)), "I20");
    assert_int_equal(assay_terms_path_distance(t, ua, an), 4);
    assert_string_equal(assay_terms_code(t, assay_terms_lca(t, chd, ua)), "I20-I25");
    assert_string_equal(assay_terms_code(t, assay_terms_lca(t, chd, htn)), "I00-I99");
    assert_int_equal(assay_terms_lca(t, chd, copd), ASSAY_TERM_NONE);
    assert_int_equal(assay_terms_path_distance(t, chd, copd), -1);
    assert_int_equal(assay_terms_lca(t, chd, chd), chd);
    assert_int_equal(assay_terms_path_distance(t, chd, chd), 0);
    /* an ancestor is its own LCA with a descendant; across systems too */
    assay_term_id_t i25 = assay_terms_find_code(t, ASSAY_SYS_ICD10, "I25");
    assay_term_id_t bj = assay_terms_find_code(t, ASSAY_SYS_BJV601, "I25.101");
    assert_int_equal(assay_terms_lca(t, i25, chd), i25);
    assert_int_equal(assay_terms_lca(t, bj, chd),
                     assay_terms_find_code(t, ASSAY_SYS_ICD10, "I25.1"));
    assert_true(assay_terms_is_ancestor(t, i25, chd));
    assert_false(assay_terms_is_ancestor(t, chd, i25));
}

static void test_names_and_aliases(void **state)
{
    const assay_terms_t *t = *state;
    /* 冠心病 is an alias of two concepts; lookup prefers the one it abbreviates */
    assay_name_hit_t hits[8];
    size_t n = assay_terms_find_name(t, "冠心病", ASSAY_SYS_CLIN20, hits, 8);
    assert_int_equal(n, 2);
    assert_int_not_equal(hits[0].alias, UINT32_MAX);
    assay_term_id_t id = assay_terms_lookup(t, "冠心病", ASSAY_SYS_CLIN20);
    assert_string_equal(assay_terms_code(t, id), "I25.103");
    id = assay_terms_lookup(t, "冠心病", ASSAY_SYS_BJV601);
    assert_string_equal(assay_terms_code(t, id), "I25.101");
    assert_string_equal(assay_terms_name(t, id), "冠状动脉粥样硬化性心脏病");

    /* normalised keys: case, full-width letters and spaces do not matter */
    id = assay_terms_lookup(t, "ｃｏｐｄ", ASSAY_SYS_BJV601);
    assert_string_equal(assay_terms_code(t, id), "J44.901");
    id = assay_terms_lookup(t, " Copd", ASSAY_SYS_CLIN20);
    assert_string_equal(assay_terms_code(t, id), "J44.900");
    char key[64];
    assert_int_equal(assay_terms_normkey("特发性（原发性） 高血压", key, sizeof key),
                     strlen("特发性(原发性)高血压"));
    assert_string_equal(key, "特发性(原发性)高血压");
    /* a too small buffer is truncated but the full length reported */
    assert_int_equal(assay_terms_normkey("ABCDEF", key, 4), 6);
    assert_string_equal(key, "abc");

    /* a standard name beats aliases; the deepest level wins among standard names */
    id = assay_terms_lookup(t, "心绞痛", ASSAY_SYS_CLIN20);
    assert_string_equal(assay_terms_code(t, id), "I20.900");
    id = assay_terms_lookup(t, "特发性(原发性)高血压", ASSAY_SYS_BJV601);
    assert_string_equal(assay_terms_code(t, id), "I10.X");
    assert_int_equal(assay_terms_lookup(t, "不存在的病", ASSAY_SYS_ANY), ASSAY_TERM_NONE);
    assert_int_equal(assay_terms_find_name(t, "", ASSAY_SYS_ANY, hits, 8), 0);

    /* aliases of a concept, with their type and source */
    id = assay_terms_find_code(t, ASSAY_SYS_CLIN20, "J44.900");
    assert_int_equal(assay_terms_alias_count(t, id), 2);
    assay_alias_t a;
    assert_int_equal(assay_terms_alias(t, id, 0, &a), 0);
    assert_string_equal(a.text, "COPD");
    assert_string_equal(a.type, "abbreviation");
    assert_string_equal(a.source, "fixture");
    assert_int_equal(assay_terms_alias(t, id, 2, &a), ASSAY_ENOTFOUND);

    /* every name entry resolves back through find_name */
    size_t ne = assay_terms_name_entry_count(t);
    assert_true(ne > 40);
    for (size_t i = 0; i < ne; i++) {
        const char *k;
        assay_name_hit_t h;
        assert_int_equal(assay_terms_name_entry(t, i, &k, &h), 0);
        assay_name_hit_t found[16];
        size_t m = assay_terms_find_name(t, k, ASSAY_SYS_ANY, found, 16);
        int ok = 0;
        for (size_t j = 0; j < m && j < 16; j++)
        ok |= found[j].concept == h.concept;
        assert_true(ok);
    }
}

static void test_graph(void **state)
{
    const assay_terms_t *t = *state;
    assay_term_id_t nodes[4];
    assert_int_equal(assay_terms_kg_find(t, "冠心病", "疾病", nodes, 4), 1);
    assay_kg_node_t nd;
    assert_int_equal(assay_terms_kg_node(t, nodes[0], &nd), 0);
    assert_string_equal(nd.name, "冠心病");
    assert_string_equal(nd.type, "疾病");

    assay_kg_edge_t e[16];
    size_t n = assay_terms_kg_neighbors(t, nodes[0], "药物", ASSAY_KG_OUT, e, 16);
    assert_int_equal(n, 2);
    assert_string_equal(assay_terms_kg_name(t, e[0].node), "硝酸甘油");
    assert_string_equal(assay_terms_kg_name(t, e[1].node), "阿司匹林");
    assert_string_equal(e[0].relation, "药物");
    assert_int_equal(assay_terms_kg_neighbors(t, nodes[0], NULL, ASSAY_KG_OUT, e, 16), 8);
    assert_int_equal(assay_terms_kg_neighbors(t, nodes[0], "治疗方式", ASSAY_KG_OUT, e, 16), 1);
    assert_string_equal(assay_terms_kg_type(t, e[0].node), "治疗");
    assert_int_equal(assay_terms_kg_neighbors(t, nodes[0], "没有这种关系", ASSAY_KG_BOTH, e, 16),
                     0);
    /* truncated output still reports the total */
    assert_int_equal(assay_terms_kg_neighbors(t, nodes[0], NULL, ASSAY_KG_OUT, e, 2), 8);

    /* reverse edges: aspirin is a drug for two diseases, nitroglycerin for two */
    assay_term_id_t asp;
    assert_int_equal(assay_terms_kg_find(t, "阿司匹林", NULL, &asp, 1), 1);
    assert_int_equal(assay_terms_kg_degree(t, asp, "药物", ASSAY_KG_IN), 2);
    assay_term_id_t met;
    assert_int_equal(assay_terms_kg_find(t, "二甲双胍", "药物", &met, 1), 1);
    assert_int_equal(assay_terms_kg_degree(t, met, "药物", ASSAY_KG_IN), 1);
    /* nodes only named in edges exist too */
    assert_int_equal(assay_terms_kg_find(t, "脑梗死", "疾病", nodes, 4), 1);
    assert_int_equal(assay_terms_kg_find(t, "冠心病", "药物", nodes, 4), 0);

    /* concept ↔ graph links by name and alias */
    assay_term_id_t chd = assay_terms_find_code(t, ASSAY_SYS_CLIN20, "I25.103");
    n = assay_terms_kg_for_concept(t, chd, nodes, 4);
    assert_int_equal(n, 2); /* 冠状动脉粥样硬化性心脏病 and its alias 冠心病 */
    assay_term_id_t kchd;
    assay_terms_kg_find(t, "冠心病", "疾病", &kchd, 1);
    assay_term_id_t cs[8];
    n = assay_terms_concepts_for_kg(t, kchd, ASSAY_SYS_CLIN20, cs, 8);
    int found = 0;
    for (size_t i = 0; i < n; i++)
        found |= cs[i] == chd;
    assert_true(found);
}

static void test_version_and_snapshot(void **state)
{
    const assay_terms_t *t = *state;
    const char *v = assay_terms_version(t);
    assert_int_equal(strncmp(v, "t1-", 3), 0);
    assert_int_equal(strlen(v), 19);

    char path[] = "/tmp/assay_test_terms_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char err[512];
    assert_int_equal(assay_terms_write_snapshot(t, path, err, sizeof err), 0);
    assay_terms_t *s = assay_terms_open(path, err, sizeof err);
    assert_non_null(s);
    assert_string_equal(assay_terms_version(s), v);
    assay_terms_stats_t a, b;
    assay_terms_stats(t, &a);
    assay_terms_stats(s, &b);
    assert_int_equal(b.mapped, 1);
    assert_int_equal(a.mapped, 0);
    assert_int_equal(a.concepts, b.concepts);
    assert_int_equal(a.kg_edges, b.kg_edges);
    assert_int_equal(a.image_bytes, b.image_bytes);
    size_t la, lb;
    const void *ia = assay_terms_image(t, &la), *ib = assay_terms_image(s, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(ia, ib, la);
    assert_string_equal(assay_terms_code(s, assay_terms_lookup(s, "冠心病", ASSAY_SYS_CLIN20)),
                        "I25.103");

    /* loading the same rows again gives the same version */
    assay_terms_t *again = assay_terms_load_dir(FIXTURE, err, sizeof err);
    assert_non_null(again);
    assert_string_equal(assay_terms_version(again), v);
    assay_terms_destroy(&again);
    assay_terms_destroy(&s);

    /* damaged snapshots are errors, never crashes: truncate, flip bytes */
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    fseek(fp, 8, SEEK_SET);
    fputc(ASSAY_TERMS_FORMAT_VERSION + 1, fp); /* format version */
    fclose(fp);
    s = assay_terms_open_snapshot(path, err, sizeof err);
    assert_null(s);
    assert_non_null(strstr(err, "unsupported terminology snapshot format"));

    assert_int_equal(assay_terms_write_snapshot(t, path, err, sizeof err), 0);
    assert_int_equal(truncate(path, (off_t)(la / 2)), 0);
    s = assay_terms_open_snapshot(path, err, sizeof err);
    assert_null(s);
    assert_non_null(strstr(err, "damaged"));

    /* corrupt a concept's parent in the middle of the image */
    assert_int_equal(assay_terms_write_snapshot(t, path, err, sizeof err), 0);
    const uint8_t *img = ia;
    uint64_t coff;
    memcpy(&coff, img + 8 + 4 + 4 + 8 + ASSAY_TERMS_VERSION_MAX + 4 + 4 + 16, 8); /* CONCEPTS */
    fp = fopen(path, "r+b");
    fseek(fp, (long)(coff + 16), SEEK_SET); /* the parent field of concept 0 */
    uint32_t bad = 0x7FFFFFF0u;
    fwrite(&bad, 4, 1, fp);
    fclose(fp);
    s = assay_terms_open_snapshot(path, err, sizeof err);
    assert_null(s);
    assert_non_null(strstr(err, "invalid concepts"));

    s = assay_terms_open_snapshot("/nonexistent/snap", err, sizeof err);
    assert_null(s);
    assert_non_null(strstr(err, "could not open file"));
    unlink(path);
}

/* write a fixture copy with one file replaced, load it, return the error */
static const char *s_load_bad(const char *file, const char *content, char *err, size_t errlen)
{
    char dir[] = "/tmp/assay_test_badterms_XXXXXX";
    assert_non_null(mkdtemp(dir));
    static const char *const files[] = {"icd10.tsv", "icd10_bj_v601.tsv", "icd10_synonyms.tsv",
                                        "kg_nodes.tsv", "kg_edges.tsv"};
    for (size_t i = 0; i < 5; i++) {
        char *src = assay_sprintf("%s/%s", FIXTURE, files[i]);
        char *dst = assay_sprintf("%s/%s", dir, files[i]);
        FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
        assert_non_null(in);
        assert_non_null(out);
        if (strcmp(files[i], file) == 0) {
            fputs(content, out);
        } else {
            int c;
            while ((c = fgetc(in)) != EOF)
                fputc(c, out);
        }
        fclose(in);
        fclose(out);
        free(src);
        free(dst);
    }
    err[0] = '\0';
    assay_terms_t *t = assay_terms_load_dir(dir, err, errlen);
    assert_null(t);
    for (size_t i = 0; i < 5; i++) {
        char *p = assay_sprintf("%s/%s", dir, files[i]);
        unlink(p);
        free(p);
    }
    rmdir(dir);
    return err;
}

static void test_bad_input(void **state)
{
    (void)state;
    char err[512];
    const char *hdr =
        "code\tparent_code\tlevel\tname_zh\tname_en_icd10cm\tdagger_asterisk_or_mark\t"
        "morphology_code\tsource\n";
    char *s;

    s = assay_sprintf(
        "%sI00-I99\t\tchapter\t循环\t\t\t\tx\nI10\tI00-I99\tcategory\t高血压\t\t\tx\n", hdr);
    assert_string_equal(s_load_bad("icd10.tsv", s, err, sizeof err),
                        "icd10.tsv:3:8: expected 8 tab-separated fields, found 7");
    free(s);

    s = assay_sprintf(
        "%sI00-I99\t\tchapter\t循环\t\t\t\tx\nI10\tI00-I99\tdisease\t高血压\t\t\t\tx\n", hdr);
    assert_non_null(strstr(s_load_bad("icd10.tsv", s, err, sizeof err),
                           "icd10.tsv:3:3: field \"level\": unknown level \"disease\""));
    free(s);

    s = assay_sprintf(
        "%sI00-I99\t\tchapter\t循环\t\t\t\tx\nI10\tI99-I99\tcategory\t高血压\t\t\t\tx\n", hdr);
    assert_string_equal(s_load_bad("icd10.tsv", s, err, sizeof err),
                        "icd10.tsv:3:2: field \"parent_code\": unknown parent code \"I99-I99\"");
    free(s);

    s = assay_sprintf("%sI00-I99\t\tchapter\t循环\t\t\t\tx\nI00-I99\t\tchapter\t循环\t\t\t\tx\n",
                      hdr);
    assert_string_equal(s_load_bad("icd10.tsv", s, err, sizeof err),
                        "icd10.tsv:3:1: field \"code\": duplicate code \"I00-I99\"");
    free(s);

    assert_string_equal(s_load_bad("icd10.tsv", "code\tparent\tlevel\n", err, sizeof err),
                        "icd10.tsv:1:4: expected 8 tab-separated fields, found 3");
    assert_non_null(strstr(s_load_bad("icd10.tsv", "", err, sizeof err), "empty file"));
    s = assay_sprintf("%sI00-I99\t\tchapter\t\xe5\x86\t\t\t\tx\n", hdr);
    assert_string_equal(s_load_bad("icd10.tsv", s, err, sizeof err), "icd10.tsv:2:4: invalid UTF-8 at character 1 of the field");
    free(s);

    assert_string_equal(
        s_load_bad("icd10_synonyms.tsv",
                   "code\tcode_system\tstandard_name\talias\talias_type\tsource\n"
                   "I25.103\tclin3.0\t冠心\t冠心病\tx\ty\n",
                   err, sizeof err),
        "icd10_synonyms.tsv:2:2: field \"code_system\": unknown code system \"clin3.0\" (expected "
        "clin2.0 or bj_v601)");
    assert_string_equal(s_load_bad("icd10_synonyms.tsv",
                                   "code\tcode_system\tstandard_name\talias\talias_type\tsource\n"
                                   "I25.101\tclin2.0\t冠心\t冠心病\tx\ty\n",
                                   err, sizeof err),
                        "icd10_synonyms.tsv:2:1: field \"code\": unknown clin2.0 code \"I25.101\"");
    assert_string_equal(s_load_bad("kg_edges.tsv",
                                   "head\trelation\ttail\thead_type\ttail_type\tsource\n"
                                   "冠心病\t\t胸痛\t疾病\t症状\tx\n",
                                   err, sizeof err),
                        "kg_edges.tsv:2:2: field \"relation\": empty");
    assert_string_equal(s_load_bad("kg_nodes.tsv", "name\tkind\tsource\n", err, sizeof err),
                        "kg_nodes.tsv:1:2: header field 2 is \"kind\", expected \"type\"");
    assert_string_equal(
        s_load_bad("icd10_bj_v601.tsv", "code\tname_zh\nX99.901\t无名\n", err, sizeof err),
        "icd10_bj_v601.tsv:2:1: field \"code\": no category or subcategory for "
        "\"X99.901\" in icd10.tsv");

    assay_terms_t *t = assay_terms_load_dir("/nonexistent-dir", err, sizeof err);
    assert_null(t);
    assert_non_null(strstr(err, "could not open file \"/nonexistent-dir/icd10.tsv\""));

    /* rows out of order through the builder API */
    assay_terms_builder_t *b = assay_terms_builder_new();
    const char *syn[] = {"I25.103", "clin2.0", "x", "y", "t", "s"};
    const char *row[] = {"I00-I99", "", "chapter", "循环", "", "", "", "x"};
    assert_int_equal(
        assay_terms_builder_add(b, ASSAY_TERMS_SYNONYMS, syn, 6, "db:1", err, sizeof err),
        ASSAY_EPARSE); /* unknown code */
    assert_int_equal(assay_terms_builder_add(b, ASSAY_TERMS_ICD10, row, 8, "db:2", err, sizeof err),
                     ASSAY_EINVAL);
    assert_string_equal(err, "db:2: icd10.tsv rows must come before icd10_synonyms.tsv rows");
    assert_int_equal(assay_terms_builder_add(b, ASSAY_TERMS_ICD10, row, 7, "db:3", err, sizeof err),
                     ASSAY_EPARSE);
    assay_terms_builder_destroy(&b);
    assay_terms_builder_destroy(&b);
}

/* a copy of the fixture directory plus extra files (name, content pairs, NULL ends) */
static char *s_fixture_copy(const char *const *extra)
{
    char tmpl[] = "/tmp/assay_test_terms_XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    static const char *const files[] = {"icd10.tsv", "icd10_bj_v601.tsv", "icd10_synonyms.tsv",
                                        "kg_nodes.tsv", "kg_edges.tsv"};
    for (size_t i = 0; i < 5; i++) {
        char *src = assay_sprintf("%s/%s", FIXTURE, files[i]);
        char *dst = assay_sprintf("%s/%s", tmpl, files[i]);
        FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
        assert_non_null(in);
        assert_non_null(out);
        int c;
        while ((c = fgetc(in)) != EOF)
            fputc(c, out);
        fclose(in);
        fclose(out);
        free(src);
        free(dst);
    }
    for (size_t i = 0; extra && extra[i]; i += 2) {
        char *dst = assay_sprintf("%s/%s", tmpl, extra[i]);
        FILE *out = fopen(dst, "wb");
        assert_non_null(out);
        fputs(extra[i + 1], out);
        fclose(out);
        free(dst);
    }
    return assay_strdup(tmpl);
}

static void s_rm_dir(char *dir)
{
    static const char *const files[] = {"icd10.tsv",    "icd10_bj_v601.tsv",    "icd10_synonyms.tsv",
                                        "kg_nodes.tsv", "kg_edges.tsv",         "chip_cdn_train.jsonl",
                                        "snap",         "known_mentions.jsonl", NULL};
    for (size_t i = 0; files[i]; i++) {
        char *p = assay_sprintf("%s/%s", dir, files[i]);
        unlink(p);
        free(p);
    }
    rmdir(dir);
    free(dir);
}

/* known mentions next to the TSVs are loaded, counted, kept by snapshots, and
 * change the version */
static void test_known_mentions(void **state)
{
    const assay_terms_t *plain = *state;
    assert_int_equal(assay_terms_example_count(plain), 0);
    const char *extra[] = {"chip_cdn_train.jsonl",
                           "{\"text\": \"左侧冠心病\", \"normalized\": [\"冠状动脉粥样硬化性心脏病\"]}\n"
                           "\n"
                           "{\"text\": \"高血压心脏病\", \"normalized\": [\"高血压\", \"心脏病\"], "
                           "\"id\": 7}\n",
                           "known_mentions.jsonl",
                           "{\"text\": \"心梗\", \"names\": [\"急性心肌梗死\"]}\n"
                           "{\"text\": \"无名\", \"normalized\": []}\n",
                           NULL};
    char *dir = s_fixture_copy(extra);
    char err[512];
    assay_terms_t *t = assay_terms_load_dir(dir, err, sizeof err);
    assert_non_null(t);
    assert_int_equal(assay_terms_example_count(t), 3); /* the empty one teaches nothing */
    size_t nn = 0;
    assert_string_equal(assay_terms_example(t, 1, &nn), "高血压心脏病");
    assert_int_equal(nn, 2);
    assert_string_equal(assay_terms_example_name(t, 1, 1), "心脏病");
    assert_string_equal(assay_terms_example_name(t, 1, 2), "");
    assert_string_equal(assay_terms_example(t, 2, &nn), "心梗");
    assert_null(assay_terms_example(t, 3, &nn));
    assay_terms_stats_t st;
    assay_terms_stats(t, &st);
    assert_int_equal(st.examples, 3);
    assert_string_not_equal(assay_terms_version(t), assay_terms_version(plain));
    /* without them: the TSV rows only, the same version as the plain fixture */
    assay_terms_t *rows = assay_terms_load_tsv(dir, err, sizeof err);
    assert_non_null(rows);
    assert_int_equal(assay_terms_example_count(rows), 0);
    assert_string_equal(assay_terms_version(rows), assay_terms_version(plain));
    assay_terms_destroy(&rows);
    /* a snapshot carries them */
    char *snap = assay_sprintf("%s/snap", dir);
    assert_int_equal(assay_terms_write_snapshot(t, snap, err, sizeof err), 0);
    assay_terms_t *m = assay_terms_open_snapshot(snap, err, sizeof err);
    assert_non_null(m);
    assert_int_equal(assay_terms_example_count(m), 3);
    assert_string_equal(assay_terms_example(m, 0, &nn), "左侧冠心病");
    assert_string_equal(assay_terms_example_name(m, 0, 0), "冠状动脉粥样硬化性心脏病");
    assert_string_equal(assay_terms_version(m), assay_terms_version(t));
    assay_terms_destroy(&m);
    assay_terms_destroy(&t);
    free(snap);
    s_rm_dir(dir);
}

/* a malformed known-mention file fails the load with file, line and column */
static void test_known_mentions_bad(void **state)
{
    (void)state;
    char err[512];
    const struct {
        const char *content, *want;
    } cases[] = {
        {"{\"text\": \"a\", \"normalized\": [\"b\"]}\n{\"text\": \"c\", \"normalized\": [\"d\"],}\n",
         "chip_cdn_train.jsonl:2:"},
        {"{\"text\": \"a\", \"normalized\": \"b\"}\n", "chip_cdn_train.jsonl:1:"},
        {"{\"text\": \"a\", \"normalized\": [\"b\", 3]}\n", "chip_cdn_train.jsonl:1:"},
        {"[1, 2]\n", "chip_cdn_train.jsonl:1:1: expected an object"},
        {"{\"normalized\": [\"b\"]}\n", "chip_cdn_train.jsonl:1:"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *extra[] = {"chip_cdn_train.jsonl", cases[i].content, NULL};
        char *dir = s_fixture_copy(extra);
        err[0] = '\0';
        assay_terms_t *t = assay_terms_load_dir(dir, err, sizeof err);
        assert_null(t);
        if (strncmp(err, cases[i].want, strlen(cases[i].want)) != 0)
            fail_msg("case %zu: \"%s\" does not start with \"%s\"", i, err, cases[i].want);
        /* line:column: a number after the line */
        const char *c = err + strlen("chip_cdn_train.jsonl:");
        while (*c >= '0' && *c <= '9')
            c++;
        assert_int_equal(*c, ':');
        assert_true(c[1] >= '1' && c[1] <= '9');
        s_rm_dir(dir);
    }
    /* the column of a JSON syntax error is where it is */
    const char *extra[] = {"chip_cdn_train.jsonl", "{\"text\": \"a\" \"normalized\": []}\n", NULL};
    char *dir = s_fixture_copy(extra);
    assert_null(assay_terms_load_dir(dir, err, sizeof err));
    assert_non_null(strstr(err, "chip_cdn_train.jsonl:1:"));
    assert_non_null(strstr(err, "invalid JSON"));
    s_rm_dir(dir);
}

/* random byte flips anywhere in a snapshot: open fails or every query still works */
static void test_snapshot_corruption(void **state)
{
    const assay_terms_t *t = *state;
    size_t size;
    const uint8_t *img = assay_terms_image(t, &size);
    uint8_t *copy = assay_malloc(size);
    char path[] = "/tmp/assay_test_corrupt_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    uint64_t rng = 88172645463325252ULL;
    int opened = 0;
    for (int round = 0; round < 300; round++) {
        memcpy(copy, img, size);
        int flips = 1 + round % 4;
        for (int k = 0; k < flips; k++) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            /* half the rounds hit the header and section table */
            size_t at = (round % 2) ? (size_t)(rng % size) : (size_t)(rng % 512);
            copy[at] ^= (uint8_t)(1u << (rng >> 60 & 7));
        }
        FILE *fp = fopen(path, "wb");
        assert_non_null(fp);
        assert_int_equal(fwrite(copy, 1, size, fp), size);
        fclose(fp);
        char err[512];
        assay_terms_t *s = assay_terms_open_snapshot(path, err, sizeof err);
        if (!s) continue;
        opened++;
        size_t nc = assay_terms_concept_count(s);
        for (size_t i = 0; i < nc; i++) {
            assay_term_id_t id = (assay_term_id_t)i;
            assay_term_id_t anc[64];
            assay_terms_ancestors(s, id, anc, 64);
            assay_terms_lca(s, id, (assay_term_id_t)(nc - 1 - i));
            assay_terms_find_code(s, ASSAY_SYS_ANY, assay_terms_code(s, id));
            assay_name_hit_t hits[8];
            assay_terms_find_name(s, assay_terms_name(s, id), ASSAY_SYS_ANY, hits, 8);
            for (size_t a = 0; a < assay_terms_alias_count(s, id); a++) {
                assay_alias_t al;
                assay_terms_alias(s, id, a, &al);
            }
            assay_term_id_t kn[8];
            assay_terms_kg_for_concept(s, id, kn, 8);
        }
        for (size_t i = 0; i < assay_terms_kg_node_count(s); i++) {
            assay_kg_edge_t e[16];
            assay_terms_kg_neighbors(s, (assay_term_id_t)i, NULL, ASSAY_KG_BOTH, e, 16);
            assay_term_id_t cs[8];
            assay_terms_concepts_for_kg(s, (assay_term_id_t)i, ASSAY_SYS_ANY, cs, 8);
        }
        assay_terms_destroy(&s);
    }
    /* most flips land in strings or counts that stay valid */
    assert_true(opened > 0);
    unlink(path);
    free(copy);
}

static void test_synthetic(void **state)
{
    (void)state;
    assay_terms_t *a = assay_terms_synthetic(5000, 7);
    assay_terms_t *b = assay_terms_synthetic(5000, 7);
    assert_non_null(a);
    assert_non_null(b);
    assay_terms_stats_t st;
    assay_terms_stats(a, &st);
    assert_true(st.concepts >= 4900 && st.concepts <= 5100);
    assert_true(st.aliases > 3000);
    assert_true(st.kg_edges > 3000);
    assert_string_equal(assay_terms_version(a), assay_terms_version(b));
    /* a clinical code has a full path to its chapter */
    assay_term_id_t id = ASSAY_TERM_NONE;
    for (size_t i = 0; i < st.concepts && id == ASSAY_TERM_NONE; i++)
        if (assay_terms_level(a, (assay_term_id_t)i) == ASSAY_LEVEL_CLINICAL)
            id = (assay_term_id_t)i;
    assert_int_not_equal(id, ASSAY_TERM_NONE);
    assert_int_equal(assay_terms_depth(a, id), 5);
    assay_terms_destroy(&a);
    assay_terms_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hierarchy),
        cmocka_unit_test(test_lca),
        cmocka_unit_test(test_names_and_aliases),
        cmocka_unit_test(test_graph),
        cmocka_unit_test(test_version_and_snapshot),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_snapshot_corruption),
        cmocka_unit_test(test_known_mentions),
        cmocka_unit_test(test_known_mentions_bad),
        cmocka_unit_test(test_synthetic),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
