/*  test_verify.c: unit tests for worker/verify (the rule verifier): multiple-choice
 *  letter extraction, free-text scoring on the fixture terminology in
 *  tests/data/verify and the explanation. The checks on the real data are in
 *  test_verify_real.c (a program of its own, skipped when the data is absent). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/error.h"
#include "worker/domain/normalize.h"
#include "worker/domain/terms.h"
#include "worker/domain/verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef ASSAY_TEST_DATA
#define ASSAY_TEST_DATA "tests/data"
#endif

static const char *const s_opts[5] = {"原发病", "出血部位", "出血量", "在胃内停留时间", "以上均非"};

static unsigned s_mcq(const char *text, assay_mcq_how_t *how)
{
    return assay_verify_mcq_extract(text, strlen(text), s_opts, 5, how);
}

#define A 1u
#define B 2u
#define C 4u
#define D 8u
#define E 16u

static void test_mcq_letters(void **state)
{
    (void)state;
    assay_mcq_how_t how;
    assert_int_equal(s_mcq("答案：B", &how), B);
    assert_int_equal(how, ASSAY_MCQ_MARKER);
    assert_int_equal(s_mcq("选B和D", &how), B | D);
    assert_int_equal(s_mcq("正确答案是 C．出血量", &how), C);
    assert_int_equal(s_mcq("ACD", &how), A | C | D);
    assert_int_equal(how, ASSAY_MCQ_BARE);
    assert_int_equal(s_mcq(" (B) ", &how), B);
    assert_int_equal(s_mcq("c", &how), C);
    assert_int_equal(s_mcq("A、C", &how), A | C);
    assert_int_equal(s_mcq("答案：Ｃ", &how), C); /* full-width letter */
    assert_int_equal(s_mcq("The answer is (D).", &how), D);
    assert_int_equal(s_mcq("C．出血量决定了表现", &how), C);
    assert_int_equal(how, ASSAY_MCQ_LEADING);
    /* the last commitment wins; rejections are not commitments */
    assert_int_equal(s_mcq("选项A错误，选项B也不对，故选C。", &how), C);
    assert_int_equal(s_mcq("起初想选A，但仔细分析后答案是E", &how), E);
    assert_int_equal(s_mcq("不选A，应选D", &how), D);
    /* letters inside words are not options */
    assert_int_equal(s_mcq("DNA检查与B超均正常", &how), 0);
    assert_int_equal(how, ASSAY_MCQ_NONE);
    assert_int_equal(s_mcq("答案：F", &how), 0); /* past the last option */
    /* no letter: the option text named */
    assert_int_equal(s_mcq("主要取决于出血量的多少", &how), C);
    assert_int_equal(how, ASSAY_MCQ_OPTION_TEXT);
    assert_int_equal(s_mcq("", &how), 0);
    assert_int_equal(assay_verify_mcq_extract(NULL, 0, s_opts, 5, &how), 0);
    /* gold letters */
    assert_int_equal(assay_verify_letters("ABCD", 4), A | B | C | D);
    assert_int_equal(assay_verify_letters("a, c", 4), A | C);
    assert_int_equal(assay_verify_letters("出血量", strlen("出血量")), 0);
}

static void test_mcq_score(void **state)
{
    (void)state;
    assay_verify_params_t p;
    assay_verify_params_default(&p);
    assay_verify_result_t r;
    assert_int_equal(assay_verify_mcq(&p, "C", "答案：C", strlen("答案：C"), s_opts, 5, &r), 0);
    assert_true(r.score == 1.0 && r.correct);
    assert_int_equal(assay_verify_mcq(&p, "C", "答案：B", strlen("答案：B"), s_opts, 5, &r), 0);
    assert_true(r.score == 0.0 && !r.correct);
    /* multiple answers: partial credit by overlap, correct only when exact */
    assert_int_equal(assay_verify_mcq(&p, "ABD", "选A和B", strlen("选A和B"), s_opts, 5, &r), 0);
    assert_true(r.score > 0.66 && r.score < 0.67 && !r.correct);
    /* the gold answer may be the option's text */
    assert_int_equal(assay_verify_mcq(&p, "出血量", "选C", 4, s_opts, 5, &r), 0);
    assert_true(r.correct);
    assert_int_equal(assay_verify_mcq(&p, "不在选项里", "选C", 4, s_opts, 5, &r), ASSAY_EINVAL);
    assert_int_equal(assay_verify_mcq(&p, "C", "不知道", strlen("不知道"), s_opts, 5, &r), 0);
    assert_true(r.score == 0.0 && r.pred_mask == 0);
    json_t *ex = assay_verify_explain(NULL, &p, &r);
    assert_string_equal(json_string_value(json_object_get(ex, "method")), "option_letters");
    assert_string_equal(json_string_value(json_object_get(ex, "gold")), "C");
    assert_string_equal(json_string_value(json_object_get(ex, "predicted")), "");
    assert_true(json_is_object(json_object_get(ex, "weights")));
    json_decref(ex);
}

static void test_params(void **state)
{
    (void)state;
    assay_verify_params_t p;
    char err[256];
    assay_verify_params_default(&p);
    assert_int_equal(assay_verify_params_check(&p, err, sizeof err), 0);
    p.threshold = 1.5;
    assert_int_equal(assay_verify_params_check(&p, err, sizeof err), ASSAY_EINVAL);
    assert_non_null(strstr(err, "\"threshold\""));
    assay_verify_params_default(&p);
    p.w_path = p.w_graph = p.w_term = 0;
    assert_int_equal(assay_verify_params_check(&p, err, sizeof err), ASSAY_EINVAL);
    p.w_term = -1;
    assert_int_equal(assay_verify_params_check(&p, err, sizeof err), ASSAY_EINVAL);
    assay_verify_kind_t k;
    assert_int_equal(assay_verify_kind_parse("open", &k), 0);
    assert_int_equal(k, ASSAY_VERIFY_OPEN);
    assert_int_equal(assay_verify_kind_parse("essay", &k), ASSAY_EINVAL);
}

/* ------------------------------------------------ fixture terminology */

static int s_setup_fixture(void **state)
{
    char err[512];
    assay_terms_t *t = assay_terms_load_dir(ASSAY_TEST_DATA "/verify", err, sizeof err);
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

static double s_score(const assay_terms_t *t, const char *gold, const char *resp)
{
    assay_verify_params_t p;
    assay_verify_params_default(&p);
    assay_verify_result_t r;
    assert_int_equal(assay_verify_text(t, &p, gold, strlen(gold), NULL, 0, resp, strlen(resp), &r),
                     0);
    return r.score;
}

static void test_text_fixture(void **state)
{
    const assay_terms_t *t = *state;
    /* a synonym resolves to the same concept */
    double syn = s_score(t, "冠状动脉粥样硬化性心脏病", "冠心病");
    assert_true(syn >= 0.95);
    assert_true(s_score(t, "2型糖尿病", "二型糖尿病") >= 0.95);
    /* parent / child */
    double pc1 = s_score(t, "冠状动脉粥样硬化性心脏病", "动脉硬化性心脏病");
    double pc2 = s_score(t, "肺炎", "大叶性肺炎");
    double pc3 = s_score(t, "心绞痛", "不稳定性心绞痛");
    /* siblings */
    double sib1 = s_score(t, "大叶性肺炎", "支气管肺炎");
    double sib2 = s_score(t, "急性前壁心肌梗死", "急性下壁心肌梗死");
    /* unrelated */
    double un1 = s_score(t, "2型糖尿病", "急性阑尾炎");
    double un2 = s_score(t, "急性阑尾炎", "肺炎");
    double un3 = s_score(t, "急性阑尾炎", "诊断为感冒");
    assert_true(pc1 >= 0.6 && pc2 >= 0.6 && pc3 >= 0.6);
    assert_true(sib1 < pc1 && sib1 < pc2 && sib1 < pc3 && sib2 < pc1 && sib2 < pc3);
    assert_true(sib1 >= 0.3 && sib2 >= 0.3);
    assert_true(un1 <= 0.1 && un2 <= 0.1 && un3 <= 0.1);
    /* prefixes and conjunctions around diagnoses do not hide them */
    assert_true(s_score(t, "冠心病", "考虑冠心病，合并2型糖尿病") >= 0.85);
    /* brackets inside a name do not cut it */
    assay_verify_params_t p;
    assay_verify_params_default(&p);
    assay_verify_result_t r;
    const char *g = "特发性(原发性)高血压";
    assert_int_equal(assay_verify_text(t, &p, g, strlen(g), NULL, 0, "诊断：高血压(可能)",
                                       strlen("诊断：高血压(可能)"), &r),
                     0);
    assert_int_equal(r.n_gold, 1);
    assert_int_equal(r.n_pred, 1);
    assert_true(r.score >= 0.6);
    /* partial credit: one of two gold diagnoses */
    double half = s_score(t, "冠心病；2型糖尿病", "诊断：冠心病");
    assert_true(half > 0.5 && half < 0.7);
    /* nothing in the answer */
    assert_true(s_score(t, "冠心病", "") == 0.0);
}

static void test_codes_and_explain(void **state)
{
    const assay_terms_t *t = *state;
    assay_verify_params_t p;
    assay_verify_params_default(&p);
    assay_verify_result_t r;
    const char *codes[] = {"I25.103", "NOPE.1"};
    const char *resp = "冠心病";
    /* gold codes alone are enough; an unknown code is ignored */
    assert_int_equal(assay_verify_text(t, &p, NULL, 0, codes, 2, resp, strlen(resp), &r), 0);
    assert_int_equal(r.n_gold, 1);
    assert_true(r.score >= 0.95 && r.correct);
    json_t *ex = assay_verify_explain(t, &p, &r);
    assert_string_equal(json_string_value(json_object_get(ex, "method")), "atoms");
    json_t *gold = json_object_get(json_object_get(ex, "atoms"), "gold");
    assert_int_equal(json_array_size(gold), 1);
    assert_true(json_is_true(json_object_get(json_array_get(gold, 0), "from_code")));
    json_t *ans = json_object_get(json_object_get(ex, "codes"), "answer");
    assert_true(json_array_size(ans) >= 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ans, 0), "code")),
                        "I25.103");
    assert_true(json_real_value(json_object_get(ex, "path_sim")) == 1.0);
    assert_true(json_real_value(json_object_get(json_object_get(ex, "weights"), "w_path")) ==
                p.w_path);
    json_decref(ex);

    /* a bj_v601 code of the same disease */
    const char *bj[] = {"I25.105"};
    assert_int_equal(assay_verify_text(t, &p, NULL, 0, bj, 1, resp, strlen(resp), &r), 0);
    assert_true(r.score >= 0.95);

    /* nothing to compare with */
    const char *bad[] = {"NOPE.1"};
    assert_int_equal(assay_verify_text(t, &p, NULL, 0, bad, 1, resp, strlen(resp), &r),
                     ASSAY_EINVAL);
    assert_int_equal(assay_verify_text(t, &p, "", 0, NULL, 0, resp, strlen(resp), &r),
                     ASSAY_EINVAL);

    /* weights change the fusion: term similarity alone */
    p.w_path = p.w_graph = 0;
    p.w_term = 1;
    const char *g = "肺炎", *a = "大叶性肺炎";
    assert_int_equal(assay_verify_text(t, &p, g, strlen(g), NULL, 0, a, strlen(a), &r), 0);
    assert_true(r.score > 0.35 && r.score < 0.45); /* Dice of 肺炎 / 大叶性肺炎 is 0.4 */

    /* unlinked text is compared as strings */
    assay_verify_params_default(&p);
    g = "腹股沟斜疝";
    a = "右侧腹股沟斜疝";
    assert_int_equal(assay_verify_text(t, &p, g, strlen(g), NULL, 0, a, strlen(a), &r), 0);
    assert_int_equal(r.gold[0].n_cands, 0);
    assert_true(r.score > 0.6 && r.path_sim < 0 && r.graph_sim < 0);

    /* concept similarity directly, with its parts */
    assay_term_id_t x = assay_terms_find_code(t, ASSAY_SYS_CLIN20, "J18.100");
    assay_term_id_t y = assay_terms_find_code(t, ASSAY_SYS_CLIN20, "J18.000");
    float path, graph, term;
    double s = assay_verify_concept_sim(t, &p, x, y, &path, &graph, &term);
    assert_true(s > 0 && s < 1);
    assert_true(path > 0.4 && path < 0.45); /* siblings under J18: 3 / (3 + 4) */
    assert_true(graph > 0 && term > 0);
    assert_true(assay_verify_concept_sim(t, &p, x, x, &path, &graph, &term) == 1.0);
}

/* the normaliser as a fallback for text exact names leave unlinked */
static void test_fuzzy_linker(void **state)
{
    const assay_terms_t *t = *state;
    char err[256];
    assay_normalizer_t *nz = assay_normalizer_new(t, NULL, err, sizeof err);
    assert_non_null(nz);
    assay_normalizer_prepare(nz);
    assay_verify_params_t p;
    assay_verify_params_default(&p);
    assay_verify_result_t r;
    const char *g = "细菌性肺炎", *a = "左肺细菌性肺炎";
    assert_int_equal(assay_verify_text(t, &p, g, strlen(g), NULL, 0, a, strlen(a), &r), 0);
    double exact = r.score;
    assert_int_equal(r.pred[0].n_cands, 0);
    p.linker = nz;
    assert_int_equal(assay_verify_text(t, &p, g, strlen(g), NULL, 0, a, strlen(a), &r), 0);
    assert_true(r.pred[0].fuzzy && r.pred[0].n_cands >= 1);
    assert_true(r.score >= 0.9 && r.score > exact);
    /* linked text never goes through the fuzzy linker */
    a = "诊断：冠心病";
    assert_int_equal(
        assay_verify_text(t, &p, "冠心病", strlen("冠心病"), NULL, 0, a, strlen(a), &r), 0);
    assert_false(r.pred[0].fuzzy);
    assay_normalizer_destroy(&nz);
}

static int s_check(const assay_terms_t *t, const assay_verify_params_t *p, const char *gold,
                   const char *resp, assay_verify_result_t *r)
{
    assert_int_equal(
        assay_verify_text(t, p, gold, strlen(gold), NULL, 0, resp, strlen(resp), r), 0);
    return r->correct;
}

/* meaning over surface on the exact path: laterality, hedges, work-up and
 * post-treatment statuses, word order, codes */
static void test_phrasing(void **state)
{
    const assay_terms_t *t = *state;
    assay_verify_params_t p;
    assay_verify_params_default(&p);
    assay_verify_result_t r;
    /* laterality does not block an unlateralised name */
    assert_true(s_check(t, &p, "细菌性肺炎", "右侧细菌性肺炎", &r));
    assert_true(r.pred[0].qual & ASSAY_QUAL_LATERALITY);
    assert_true(s_check(t, &p, "急性阑尾炎", "左急性阑尾炎", &r));
    /* ... but a laterality word does not make a sibling the gold */
    assert_false(s_check(t, &p, "大叶性肺炎", "双侧支气管肺炎", &r));
    /* hedges count as the disease and are named */
    assert_true(s_check(t, &p, "急性阑尾炎", "考虑急性阑尾炎", &r));
    assert_true(r.pred[0].qual & ASSAY_QUAL_HEDGE);
    assert_true(s_check(t, &p, "急性阑尾炎", "急性阑尾炎可能性大", &r));
    assert_true(r.pred[0].qual & ASSAY_QUAL_HEDGE);
    /* a pending work-up of a finding */
    s_check(t, &p, "呕吐", "呕吐查因", &r);
    assert_true(r.correct);
    assert_true(r.pred[0].qual & ASSAY_QUAL_PENDING);
    assert_false(r.pred[0].qual & ASSAY_QUAL_HEDGE);
    s_check(t, &p, "急性阑尾炎", "急性阑尾炎术后", &r);
    assert_true(r.pred[0].qual & ASSAY_QUAL_POSTOP);
    /* word order of a combination */
    assert_true(s_check(t, &p, "2型糖尿病合并高血压", "高血压合并2型糖尿病", &r));
    assert_true(r.score >= 0.99);
    /* brackets: part of a standard name, a qualifier, or a spelling */
    assert_true(s_check(t, &p, "急性阑尾炎伴穿孔[穿孔性阑尾炎]", "急性阑尾炎伴穿孔[穿孔性阑尾炎]", &r));
    assert_int_equal(r.n_gold, 1);
    assert_true(r.score >= 0.99);
    assert_true(s_check(t, &p, "急性阑尾炎", "急性阑尾炎(化脓性)", &r));
    assert_int_equal(r.n_pred, 1);
    assert_true(s_check(t, &p, "细菌性肺炎", "细(菌)性肺炎", &r));
    assert_int_equal(r.n_pred, 1);
    /* an ICD code as the answer */
    assert_true(s_check(t, &p, "细菌性肺炎", "J15.900", &r));
    assert_true(r.pred[0].qual & ASSAY_QUAL_CODE);
    assert_false(s_check(t, &p, "细菌性肺炎", "K35.900", &r));
    /* the explanation says what was recognised */
    json_t *ex = assay_verify_explain(t, &p, &r);
    json_t *q = json_object_get(json_array_get(json_object_get(json_object_get(ex, "atoms"),
                                                               "answer"),
                                               0),
                                "qualifiers");
    assert_string_equal(json_string_value(json_array_get(q, 0)), "icd_code");
    json_decref(ex);
}

/* a list of many diseases that holds the gold is not a correct answer */
static void test_shotgun(void **state)
{
    const assay_terms_t *t = *state;
    assay_verify_params_t p;
    assay_verify_params_default(&p);
    assay_verify_result_t r;
    const char *ten = "1.肺炎 2.高血压 3.2型糖尿病 4.急性阑尾炎 5.心绞痛 6.呕吐 7.1型糖尿病 "
                      "8.急性前壁心肌梗死 9.细菌性肺炎 10.冠心病";
    s_check(t, &p, "急性阑尾炎", ten, &r);
    assert_false(r.correct);
    assert_true(r.score > 0 && r.score < 1);
    assert_true(r.n_pred >= 10);
    assert_true(r.precision < p.min_precision);
    /* one extra disease is still a correct answer */
    assert_true(s_check(t, &p, "急性阑尾炎", "急性阑尾炎；高血压", &r));
    p.min_precision = 0;
    assert_true(s_check(t, &p, "急性阑尾炎", ten, &r));
}

/* the normalisers as evidence (link=full): answers that exact names leave
 * unlinked are judged by the normaliser of the gold's system, siblings lose */
static void test_evidence(void **state)
{
    const assay_terms_t *t = *state;
    char err[256];
    assay_normalize_opts_t o;
    assay_normalize_opts_default(&o);
    o.min_confidence = 0;
    o.max_entities = 32;
    assay_normalizer_t *nz = assay_normalizer_new(t, &o, err, sizeof err);
    assert_non_null(nz);
    assay_normalizer_prepare(nz);
    assay_verify_params_t p;
    assay_verify_params_default(&p);
    assay_verify_result_t r;
    /* exact path first: unlinked, not accepted */
    const char *ans = "右下肺大叶性肺炎感染";
    s_check(t, &p, "大叶性肺炎", ans, &r);
    double exact = r.score;
    assert_int_equal(r.gold[0].ev, ASSAY_EV_NONE);
    p.linkers[ASSAY_SYS_CLIN20] = nz;
    assert_true(s_check(t, &p, "大叶性肺炎", ans, &r));
    assert_int_equal(r.gold[0].ev, ASSAY_EV_NAMED);
    assert_true(r.score > exact);
    /* its sibling is not accepted for it */
    assert_false(s_check(t, &p, "支气管肺炎", ans, &r));
    assert_true(r.gold[0].ev == ASSAY_EV_OUTRANKED || r.gold[0].ev == ASSAY_EV_ABSENT);
    /* nor an unrelated disease */
    assert_false(s_check(t, &p, "2型糖尿病", ans, &r));
    assert_true(r.score < 0.3);
    /* an exact match never needs the normaliser */
    s_check(t, &p, "大叶性肺炎", "大叶性肺炎", &r);
    assert_int_equal(r.gold[0].ev, ASSAY_EV_NONE);
    /* the explanation names the evidence */
    s_check(t, &p, "大叶性肺炎", ans, &r);
    json_t *ex = assay_verify_explain(t, &p, &r);
    json_t *g0 = json_array_get(json_object_get(json_object_get(ex, "atoms"), "gold"), 0);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(g0, "evidence"), "normalizer")),
        "named");
    json_decref(ex);
    assay_normalizer_destroy(&nz);
}

/* an answer that names another disease exactly is that disease, whatever weak
 * reading of its words the normaliser also offers (on the sample terminology the
 * normaliser, with few known mentions, gives every name a little confidence) */
static void test_evidence_exact_other(void **state)
{
    (void)state;
    char err[512];
    assay_terms_t *t = assay_terms_load_dir(ASSAY_SOURCE_DIR "/ops/sample/terms", err, sizeof err);
    assert_non_null(t);
    assay_normalize_opts_t o;
    assay_normalize_opts_default(&o);
    o.min_confidence = 0;
    o.max_entities = 32;
    assay_normalizer_t *nz[ASSAY_SYS_COUNT] = {NULL};
    assay_verify_params_t p;
    assay_verify_params_default(&p);
    for (int sys = ASSAY_SYS_CLIN20; sys <= ASSAY_SYS_BJV601; sys++) {
        o.system = (assay_code_system_t)sys;
        nz[sys] = assay_normalizer_new(t, &o, err, sizeof err);
        assert_non_null(nz[sys]);
        assay_normalizer_prepare(nz[sys]);
        p.linkers[sys] = nz[sys];
    }
    static const char *const names[] = {"尿路感染", "急性上呼吸道感染", "急性阑尾炎", "急性胰腺炎",
                                        "急性胃肠炎", "甲状腺功能亢进症", "甲状腺功能减退症"};
    size_t n = sizeof names / sizeof names[0], wrong = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            assay_verify_result_t r;
            char ans[128];
            snprintf(ans, sizeof ans, "诊断：%s", names[j]);
            s_check(t, &p, names[i], ans, &r);
            if (r.correct != (i == j)) {
                fprintf(stderr, "gold %s answer %s: score %.3f\n", names[i], ans, r.score);
                wrong++;
            }
        }
    assert_int_equal(wrong, 0);
    /* a disease the terminology does not name: an untrained normaliser (no known
     * mentions here) ranks candidates but does not name the gold on its own */
    assert_false(assay_normalizer_learned(nz[ASSAY_SYS_CLIN20]));
    assay_verify_result_t r;
    assert_false(s_check(t, &p, "急性阑尾炎", "根据病史、体征及辅助检查，考虑急性胆囊炎。", &r));
    assert_false(s_check(t, &p, "急性胰腺炎", "诊断：急性肾盂肾炎", &r));
    for (int sys = 0; sys < ASSAY_SYS_COUNT; sys++)
        assay_normalizer_destroy(&nz[sys]);
    assay_terms_destroy(&t);
}

/* answers of every odd kind get a score and an explanation */
static void test_odd_answers(void **state)
{
    const assay_terms_t *t = *state;
    char err[256];
    assay_normalize_opts_t o;
    assay_normalize_opts_default(&o);
    o.min_confidence = 0;
    assay_normalizer_t *nz = assay_normalizer_new(t, &o, err, sizeof err);
    assert_non_null(nz);
    assay_normalizer_prepare(nz);
    size_t n = 10 * 1024;
    char *big = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        big[i] = "患者咳嗽发热三天，考虑肺炎。"[i % 42];
    big[n] = '\0';
    while (n > 0 && ((unsigned char)big[n] & 0xC0) == 0x80)
        big[n--] = '\0';
    const char *answers[] = {"",
                             "   ",
                             "bacterial pneumonia",
                             "xi jun xing fei yan",
                             "1.肺炎 2.高血压 3.2型糖尿病 4.急性阑尾炎 5.心绞痛 6.呕吐 7.1型糖尿病 "
                             "8.急性前壁心肌梗死 9.细菌性肺炎 10.冠心病",
                             "J15.900",
                             "J15",
                             "Z99.999",
                             big};
    for (int link = 0; link < 2; link++) {
        assay_verify_params_t p;
        assay_verify_params_default(&p);
        if (link) p.linkers[ASSAY_SYS_CLIN20] = nz;
        for (size_t i = 0; i < sizeof answers / sizeof answers[0]; i++) {
            assay_verify_result_t r;
            const char *a = answers[i];
            assert_int_equal(
                assay_verify_text(t, &p, "细菌性肺炎", strlen("细菌性肺炎"), NULL, 0, a, strlen(a), &r),
                0);
            assert_true(r.score >= 0 && r.score <= 1);
            json_t *ex = assay_verify_explain(t, &p, &r);
            assert_non_null(ex);
            assert_non_null(json_object_get(ex, "atoms"));
            json_decref(ex);
            if (i < 4) assert_false(r.correct);
        }
    }
    free(big);
    assay_normalizer_destroy(&nz);
}

static void test_garbage_input(void **state)
{
    const assay_terms_t *t = *state;
    assay_verify_params_t p;
    assay_verify_params_default(&p);
    assay_verify_result_t r;
    /* invalid UTF-8, huge and punctuation-only answers never crash */
    const char bad[] = {(char)0xE5, (char)0xFF, '\n', (char)0x80, ';', (char)0xE5, (char)0x8F, 0};
    assert_int_equal(assay_verify_text(t, &p, "肺炎", 6, NULL, 0, bad, sizeof bad - 1, &r), 0);
    assert_true(r.score >= 0 && r.score <= 1);
    size_t n = 200000;
    char *big = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        big[i] = "肺炎，"[i % 9];
    big[n] = '\0';
    assert_int_equal(assay_verify_text(t, &p, "肺炎", 6, NULL, 0, big, n, &r), 0);
    assert_true(r.score > 0.9 && r.n_pred <= ASSAY_VERIFY_MAX_ATOMS);
    assay_mcq_how_t how;
    assay_verify_mcq_extract(big, n, s_opts, 5, &how);
    free(big);
    assert_int_equal(assay_verify_text(t, &p, "肺炎", 6, NULL, 0, "。。；", 9, &r), 0);
    assert_true(r.score == 0);
}

/* random bytes, biased towards the characters the parsers care about: whatever
 * comes in, every function returns a bounded result */
static void test_random_bytes(void **state)
{
    const assay_terms_t *t = *state;
    static const char *const pieces[] = {"答案", "选", "A", "B", "和", "，", "；", "：", "(", "）",
                                         "冠心病", "肺炎", "诊断", "可能", "\xE5", "\x80", "\xFF",
                                         ".", "1", " ", "\n", "大叶性", "伴", "合并"};
    assay_verify_params_t p;
    assay_verify_params_default(&p);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    char buf[512];
    for (int iter = 0; iter < 3000; iter++) {
        size_t n = 0;
        int parts = (int)(x % 24);
        for (int k = 0; k < parts; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            const char *pc = pieces[x % (sizeof pieces / sizeof pieces[0])];
            size_t pl = strlen(pc);
            if (n + pl >= sizeof buf) break;
            memcpy(buf + n, pc, pl);
            n += pl;
        }
        buf[n] = '\0';
        assay_verify_result_t r;
        if (assay_verify_text(t, &p, buf, n, NULL, 0, buf + n / 2, n - n / 2, &r) == 0)
            assert_true(r.score >= 0 && r.score <= 1 && r.n_gold <= ASSAY_VERIFY_MAX_ATOMS &&
                        r.n_pred <= ASSAY_VERIFY_MAX_ATOMS);
        if (assay_verify_mcq(&p, "AB", buf, n, s_opts, 5, &r) == 0)
            assert_true(r.score >= 0 && r.score <= 1 && (r.pred_mask & ~31u) == 0);
        x += (uint64_t)iter;
    }
}

int main(void)
{
    const struct CMUnitTest plain[] = {
        cmocka_unit_test(test_mcq_letters),
        cmocka_unit_test(test_mcq_score),
        cmocka_unit_test(test_params),
    };
    const struct CMUnitTest fixture[] = {
        cmocka_unit_test(test_text_fixture),
        cmocka_unit_test(test_codes_and_explain),
        cmocka_unit_test(test_fuzzy_linker),
        cmocka_unit_test(test_phrasing),
        cmocka_unit_test(test_shotgun),
        cmocka_unit_test(test_evidence),
        cmocka_unit_test(test_odd_answers),
        cmocka_unit_test(test_evidence_exact_other),
        cmocka_unit_test(test_garbage_input),
        cmocka_unit_test(test_random_bytes),
    };
    int rc = cmocka_run_group_tests_name("mcq", plain, NULL, NULL);
    rc |= cmocka_run_group_tests_name("fixture", fixture, s_setup_fixture, s_teardown);
    return rc;
}
