/*  test_normalize.c: unit tests for worker/normalize (splitting, exact and alias
 *  matches, inline codes, Latin abbreviations, fuzzy matches, atoms learned from
 *  known mentions) on the fixture terminology in tests/data/terms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/error.h"
#include "common/util.h"
#include "worker/domain/normalize.h"
#include "worker/domain/terms.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef ASSAY_TEST_DATA
#define ASSAY_TEST_DATA "tests/data"
#endif

static int s_setup(void **state)
{
    char err[512];
    assay_terms_t *t = assay_terms_load_dir(ASSAY_TEST_DATA "/terms", err, sizeof err);
    if (!t) fprintf(stderr, "fixture: %s\n", err);
    *state = t;
    return t ? 0 : -1;
}

static int s_teardown(void **state)
{
    assay_terms_t *t = *state;
    assay_terms_destroy(&t);
    return 0;
}

/* the entity with this code, or NULL */
static const assay_entity_t *s_find(const assay_entities_t *e, const char *code)
{
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->items[i].code, code) == 0) return &e->items[i];
    return NULL;
}

static assay_normalizer_t *s_nz(const assay_terms_t *t, assay_code_system_t sys)
{
    assay_normalize_opts_t o;
    assay_normalize_opts_default(&o);
    o.system = sys;
    char err[256];
    assay_normalizer_t *nz = assay_normalizer_new(t, &o, err, sizeof err);
    assert_non_null(nz);
    return nz;
}

static void test_split(void **state)
{
    (void)state;
    assay_span_t sp[8];
    const char *t = "1.高血压 2.冠心病；慢阻肺伴上呼吸道感染、2型糖尿病";
    size_t n = assay_normalize_split(t, strlen(t), sp, 8);
    assert_int_equal(n, 5);
    const char *want[] = {"高血压", "冠心病", "慢阻肺", "上呼吸道感染", "2型糖尿病"};
    assert_memory_equal(t + sp[0].start, want[0], strlen(want[0]));
    assert_int_equal(sp[0].end - sp[0].start, strlen(want[0]));
    assert_memory_equal(t + sp[1].start, want[1], strlen(want[1]));
    assert_memory_equal(t + sp[2].start, want[2], strlen(want[2]));
    assert_memory_equal(t + sp[3].start, want[3], strlen(want[3]));
    assert_memory_equal(t + sp[4].start, want[4], strlen(want[4]));
    /* "2型" is not numbering, "2.5cm" is not either */
    t = "肿物2.5cm";
    assert_int_equal(assay_normalize_split(t, strlen(t), sp, 8), 1);
    assert_int_equal(assay_normalize_split("", 0, sp, 8), 0);
    assert_int_equal(assay_normalize_split("\xe5\x86", 2, sp, 8), 0);
    /* truncated output still counts */
    t = "高血压，冠心病，糖尿病";
    assert_int_equal(assay_normalize_split(t, strlen(t), sp, 1), 3);
}

static void test_exact_alias_and_split(void **state)
{
    const assay_terms_t *t = *state;
    assay_normalizer_t *nz = s_nz(t, ASSAY_SYS_CLIN20);
    assay_entities_t e = ASSAY_ENTITIES_INIT;
    const char *text = "1.高血压 2.冠心病";
    int n = assay_normalize_text(nz, text, strlen(text), &e);
    assert_true(n >= 2);
    const assay_entity_t *x = s_find(&e, "I25.103");
    assert_non_null(x);
    assert_string_equal(x->name, "冠状动脉粥样硬化性心脏病");
    assert_int_equal(x->kind, ASSAY_MATCH_ALIAS);
    assert_memory_equal(text + x->start, "冠心病", x->end - x->start);
    assert_int_equal(x->segment, 1);
    x = s_find(&e, "I10.X00");
    assert_non_null(x);
    assert_int_equal(x->kind, ASSAY_MATCH_EXACT);
    assert_int_equal(x->segment, 0);
    assert_true(x->confidence >= 0.25f && x->confidence <= 1.0f);

    /* 伴 and 、 split diagnoses */
    text = "慢阻肺伴上呼吸道感染、2型糖尿病";
    assay_normalize_text(nz, text, strlen(text), &e);
    assert_non_null(s_find(&e, "J44.900"));
    assert_non_null(s_find(&e, "J06.900"));
    assert_non_null(s_find(&e, "E11.900"));
    const char *names[8];
    size_t nn = assay_entities_names(&e, names, 8);
    assert_true(nn >= 3);

    /* the same text in the other code system */
    assay_normalizer_t *bj = s_nz(t, ASSAY_SYS_BJV601);
    text = "冠心病";
    assay_normalize_text(bj, text, strlen(text), &e);
    x = s_find(&e, "I25.101");
    assert_non_null(x);
    assert_string_equal(x->name, "冠状动脉粥样硬化性心脏病");
    assert_null(s_find(&e, "I25.103"));
    assay_normalizer_destroy(&bj);

    /* nothing medical, nothing found; invalid UTF-8 is an error */
    text = "今天天气很好";
    assert_int_equal(assay_normalize_text(nz, text, strlen(text), &e), 0);
    assert_int_equal(assay_normalize_text(nz, "\xe5\x86", 2, &e), ASSAY_EINVAL);
    assay_entities_release(&e);
    assay_normalizer_destroy(&nz);
    assay_normalizer_destroy(&nz);
}

static void test_codes_and_latin(void **state)
{
    const assay_terms_t *t = *state;
    assay_normalizer_t *nz = s_nz(t, ASSAY_SYS_CLIN20);
    assay_entities_t e = ASSAY_ENTITIES_INIT;
    /* an inline code, a code with an unknown subcode (falls back to its category),
     * and codes glued to other letters or digits (not codes) */
    const char *text = "诊断:I25.103,另见J44.999;B34C45楔状缺损";
    assay_normalize_text(nz, text, strlen(text), &e);
    const assay_entity_t *x = s_find(&e, "I25.103");
    assert_non_null(x);
    assert_int_equal(x->kind, ASSAY_MATCH_CODE);
    assert_memory_equal(text + x->start, "I25.103", 7);
    x = s_find(&e, "J44");
    assert_non_null(x);
    assert_int_equal(x->kind, ASSAY_MATCH_CODE);
    assert_null(s_find(&e, "C45"));

    /* Latin abbreviations, any case, as words only */
    text = "COPD急性加重";
    assay_normalize_text(nz, text, strlen(text), &e);
    assert_non_null(s_find(&e, "J44.900"));
    text = "t2dm";
    assay_normalize_text(nz, text, strlen(text), &e);
    assert_non_null(s_find(&e, "E11.900"));
    text = "copdx";
    assay_normalize_text(nz, text, strlen(text), &e);
    assert_null(s_find(&e, "J44.900"));
    assay_normalizer_destroy(&nz);

    nz = s_nz(t, ASSAY_SYS_BJV601);
    text = "右肺Ca";
    assay_normalize_text(nz, text, strlen(text), &e);
    x = s_find(&e, "C34.901");
    assert_non_null(x);
    assert_string_equal(x->name, "肺恶性肿瘤");
    assay_normalizer_destroy(&nz);
    assay_entities_release(&e);
}

static void test_fuzzy(void **state)
{
    const assay_terms_t *t = *state;
    assay_normalizer_t *nz = s_nz(t, ASSAY_SYS_CLIN20);
    assay_entities_t e = ASSAY_ENTITIES_INIT;
    /* a missing character and a typo still link */
    const char *text = "冠状动脉粥样硬化心脏病";
    assay_normalize_text(nz, text, strlen(text), &e);
    const assay_entity_t *x = s_find(&e, "I25.103");
    assert_non_null(x);
    assert_int_equal(x->kind, ASSAY_MATCH_FUZZY);
    assert_true(x->confidence < 1.0f);
    text = "慢性阻塞性肺疾患";
    assay_normalize_text(nz, text, strlen(text), &e);
    assert_non_null(s_find(&e, "J44.900"));
    /* fuzzy can be turned off */
    assay_normalizer_destroy(&nz);
    assay_normalize_opts_t o;
    assay_normalize_opts_default(&o);
    o.fuzzy = 0;
    nz = assay_normalizer_new(t, &o, NULL, 0);
    text = "冠状动脉粥样硬化心脏病";
    assay_normalize_text(nz, text, strlen(text), &e);
    assert_null(s_find(&e, "I25.103"));
    assay_normalizer_destroy(&nz);
    assay_entities_release(&e);
}

static void test_learned_atoms(void **state)
{
    const assay_terms_t *t = *state;
    assay_normalizer_t *nz = s_nz(t, ASSAY_SYS_CLIN20);
    /* known mentions: one per tumour site, plus other diagnoses */
    static const char *const sites[][2] = {
        {"胃癌", "胃恶性肿瘤"},     {"左肺癌", "肺恶性肿瘤"},   {"食管癌", "食管恶性肿瘤"},
        {"结肠癌", "结肠恶性肿瘤"}, {"直肠癌", "直肠恶性肿瘤"}, {"肝癌", "肝恶性肿瘤"},
        {"喉癌", "喉恶性肿瘤"},     {"气管癌", "气管恶性肿瘤"},
    };
    for (size_t i = 0; i < ASSAY_ARRAY_LEN(sites); i++) {
        const char *nm = sites[i][1];
        assert_int_equal(assay_normalizer_add_example(nz, sites[i][0], &nm, 1), 1);
    }
    static const char *const other[][2] = {
        {"高血压病3级", "高血压"},
        {"原发性高血压", "高血压"},
        {"高血压2级", "高血压"},
        {"不稳定型心绞痛", "不稳定性心绞痛"},
        {"初发劳力型心绞痛", "不稳定性心绞痛"},
        {"2型糖尿病", "2型糖尿病"},
        {"糖尿病2型", "2型糖尿病"},
        {"慢阻肺急性加重", "慢性阻塞性肺疾病"},
        {"慢性阻塞性肺气肿", "慢性阻塞性肺疾病"},
        {"上感", "急性上呼吸道感染"},
        {"急性上呼吸道感染", "急性上呼吸道感染"},
        {"冠心病", "冠状动脉粥样硬化性心脏病"},
        {"冠状动脉粥样硬化心脏病", "冠状动脉粥样硬化性心脏病"},
    };
    for (size_t i = 0; i < ASSAY_ARRAY_LEN(other); i++) {
        const char *nm = other[i][1];
        assert_int_equal(assay_normalizer_add_example(nz, other[i][0], &nm, 1), 1);
    }
    /* a name that is not a standard name of the system is ignored */
    const char *bad = "不存在的名称";
    assert_int_equal(assay_normalizer_add_example(nz, "某病", &bad, 1), 0);
    assay_normalizer_prepare(nz);
    /* no example after preparing */
    const char *nm = "高血压";
    assert_int_equal(assay_normalizer_add_example(nz, "高血压病", &nm, 1), 0);

    /* an unseen site: 胰腺 + the head 恶性肿瘤 that 癌 is evidence for */
    assay_entities_t e = ASSAY_ENTITIES_INIT;
    const char *text = "胰腺癌";
    assay_normalize_text(nz, text, strlen(text), &e);
    const assay_entity_t *x = s_find(&e, "C25.900");
    assert_non_null(x);
    assert_int_equal(x->kind, ASSAY_MATCH_ATOM);
    assert_memory_equal(text + x->start, "胰腺", x->end - x->start);
    /* a known mention's variant */
    text = "高血压病1级";
    assay_normalize_text(nz, text, strlen(text), &e);
    assert_non_null(s_find(&e, "I10.X00"));
    assay_entities_release(&e);
    assay_normalizer_destroy(&nz);
}

static void test_load_examples(void **state)
{
    const assay_terms_t *t = *state;
    char path[] = "/tmp/assay_test_examples_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *fp = fdopen(fd, "w");
    fputs("{\"text\": \"高血压病3级\", \"normalized\": [\"高血压\"]}\n"
          "{\"text\": \"冠心病心绞痛\", \"names\": [\"冠状动脉粥样硬化性心脏病\", \"心绞痛\"], "
          "\"x\": 1}\n"
          "\n"
          "{\"text\": \"某病\", \"normalized\": [\"不是标准名\"]}\n",
          fp);
    fclose(fp);
    assay_normalizer_t *nz = s_nz(t, ASSAY_SYS_CLIN20);
    size_t added = 99;
    char err[256];
    assert_int_equal(assay_normalizer_load_examples(nz, path, &added, err, sizeof err), 0);
    assert_int_equal(added, 2);
    assay_normalizer_destroy(&nz);

    fp = fopen(path, "w");
    fputs("{\"text\": \"高血压病3级\", \"normalized\": [\"高血压\"]}\n{\"text\": 5}\n", fp);
    fclose(fp);
    nz = s_nz(t, ASSAY_SYS_CLIN20);
    assert_int_equal(assay_normalizer_load_examples(nz, path, &added, err, sizeof err),
                     ASSAY_EPARSE);
    char *want = assay_sprintf("%s:2: field \"text\": expected a string", path);
    assert_string_equal(err, want);
    free(want);
    fp = fopen(path, "w");
    fputs("{\"text\": \"x\", \"normalized\": [\"高血压\"]\n", fp);
    fclose(fp);
    assert_int_equal(assay_normalizer_load_examples(nz, path, &added, err, sizeof err),
                     ASSAY_EPARSE);
    assert_non_null(strstr(err, ":1: "));
    unlink(path);
    assert_int_equal(assay_normalizer_load_examples(nz, path, &added, err, sizeof err), ASSAY_EIO);
    assert_non_null(strstr(err, "could not open file"));
    assay_normalizer_destroy(&nz);
}

typedef struct {
    assay_terms_builder_t *b;
} s_rows_t;

static int s_row(void *arg, assay_terms_file_t f, size_t line, char **fields, size_t nfields,
                 char *err, size_t errlen)
{
    (void)line;
    return assay_terms_builder_add(((s_rows_t *)arg)->b, f, (const char *const *)fields, nfields,
                                   "fixture", err, errlen);
}

/* the known mentions a terminology carries are learned from by default */
static void test_terms_examples(void **state)
{
    (void)state;
    char err[512];
    s_rows_t rows = {assay_terms_builder_new()};
    for (int f = 0; f < ASSAY_TERMS_FILE_COUNT; f++) {
        int rc = assay_terms_read_tsv(ASSAY_TEST_DATA "/terms", (assay_terms_file_t)f, s_row, &rows,
                                      err, sizeof err);
        assert_true(rc == 0 || (rc == ASSAY_ENOTFOUND && f >= ASSAY_TERMS_KG_NODES));
    }
    static const char *const mentions[] = {"心前区压榨痛", "胸骨后压榨样疼痛", "活动后心前区闷痛",
                                           "劳力性胸骨后压榨痛"};
    for (size_t i = 0; i < 4; i++) {
        const char *name = "心绞痛";
        assert_int_equal(
            assay_terms_builder_add_example(rows.b, mentions[i], &name, 1, "x", err, sizeof err), 0);
    }
    assay_terms_t *t = assay_terms_builder_finish(&rows.b, err, sizeof err);
    assert_non_null(t);
    assert_int_equal(assay_terms_example_count(t), 4);
    const char *text = "心前区压榨痛";
    assay_entities_t e = ASSAY_ENTITIES_INIT;
    for (int use = 0; use < 2; use++) {
        assay_normalize_opts_t o;
        assay_normalize_opts_default(&o);
        o.use_terms_mentions = use;
        o.min_confidence = 0; /* four mentions: the fixed weights give low confidences */
        assay_normalizer_t *nz = assay_normalizer_new(t, &o, err, sizeof err);
        assert_non_null(nz);
        assay_normalize_text(nz, text, strlen(text), &e);
        int found = 0;
        for (size_t i = 0; i < e.n; i++)
            found |= strcmp(e.items[i].name, "心绞痛") == 0;
        assert_int_equal(found, use); /* only what the terminology taught */
        assay_normalizer_destroy(&nz);
    }
    assay_entities_release(&e);
    assay_terms_destroy(&t);
}

static void test_exact_only(void **state)
{
    const assay_terms_t *t = *state;
    assay_normalize_opts_t o;
    assay_normalize_opts_default(&o);
    o.exact_only = 1;
    assay_normalizer_t *nz = assay_normalizer_new(t, &o, NULL, 0);
    assert_non_null(nz);
    assay_entities_t e = ASSAY_ENTITIES_INIT;
    const char *text = "1.高血压 2.冠心病 I20.000";
    assert_int_equal(assay_normalize_text(nz, text, strlen(text), &e), 3);
    const assay_entity_t *x = s_find(&e, "I10.X00");
    assert_non_null(x);
    assert_int_equal(x->kind, ASSAY_MATCH_EXACT);
    assert_true(x->confidence == 1.0f);
    assert_int_equal(x->segment, 0);
    x = s_find(&e, "I25.103"); /* 冠心病 names two concepts; the closer one wins */
    assert_non_null(x);
    assert_int_equal(x->kind, ASSAY_MATCH_ALIAS);
    assert_int_equal(x->segment, 1);
    assert_memory_equal(text + x->start, "冠心病", x->end - x->start);
    assert_non_null(s_find(&e, "I20.000"));
    /* no fuzzy matching in this mode */
    text = "冠状动脉粥样硬化心脏病";
    assert_int_equal(assay_normalize_text(nz, text, strlen(text), &e), 0);
    assay_entities_release(&e);
    assay_normalizer_destroy(&nz);
}

static void test_bad_args(void **state)
{
    const assay_terms_t *t = *state;
    char err[256];
    assay_normalize_opts_t o;
    assay_normalize_opts_default(&o);
    o.system = ASSAY_SYS_ICD10;
    assert_null(assay_normalizer_new(t, &o, err, sizeof err));
    assert_string_equal(err, "cannot link to code system \"icd10\" (expected clin2.0 or bj_v601)");
    assert_null(assay_normalizer_new(NULL, NULL, err, sizeof err));
    assert_string_equal(assay_match_kind_name(ASSAY_MATCH_ATOM), "atom");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split),           cmocka_unit_test(test_exact_alias_and_split),
        cmocka_unit_test(test_codes_and_latin), cmocka_unit_test(test_fuzzy),
        cmocka_unit_test(test_learned_atoms),   cmocka_unit_test(test_load_examples),
        cmocka_unit_test(test_exact_only),      cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_terms_examples),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
