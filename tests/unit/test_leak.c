/*  test_leak.c: unit tests for worker/leak on small records written for the
 *  purpose and a fixture terminology in tests/data/leak (one leak kind per test,
 *  then what must survive, then bad input). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/error.h"
#include "worker/domain/leak.h"
#include "worker/domain/terms.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef ASSAY_TEST_DATA
#define ASSAY_TEST_DATA "tests/data"
#endif

static assay_terms_t *s_terms;

static int s_group_setup(void **state)
{
    (void)state;
    char err[512];
    s_terms = assay_terms_load_dir(ASSAY_TEST_DATA "/leak", err, sizeof err);
    if (!s_terms) fprintf(stderr, "fixture terminology: %s\n", err);
    return s_terms ? 0 : -1;
}

static int s_group_teardown(void **state)
{
    (void)state;
    assay_terms_destroy(&s_terms);
    return 0;
}

/* a case lexicon for gold, expanded with the fixture terminology when terms != 0 */
static assay_leak_case_t *s_case(const char *gold, int terms)
{
    assay_leak_case_t *lc = assay_leak_case_new();
    assay_leak_case_add_gold(lc, gold, strlen(gold));
    if (terms) assay_leak_case_expand(lc, s_terms, NULL);
    return lc;
}

/* clean text against lc; the result must be released */
static void s_clean(const assay_leak_case_t *lc, const char *text, assay_leak_result_t *res)
{
    assay_leak_input_t in = {text, strlen(text), NULL, 0};
    assay_leak_opts_t opts = {0, 0, 0};
    char err[512] = "";
    assay_leak_result_init(res);
    int rc = assay_leak_run(lc, &in, &opts, res, err, sizeof err);
    if (rc != 0) fprintf(stderr, "run failed: %s\n", err);
    assert_int_equal(rc, 0);
}

static int s_removed_with(const assay_leak_result_t *res, const char *span_part, const char *reason_part)
{
    for (size_t i = 0; i < res->n_removed; i++)
        if (strstr(res->removed[i].span, span_part) &&
            (!reason_part || strstr(res->removed[i].reason, reason_part)))
            return 1;
    return 0;
}

static void test_header_kinds(void **state)
{
    (void)state;
    static const char *const leak[] = {"入院诊断", "出院诊断", "初步诊断", "诊疗经过",
                                       "出院情况", "出院医嘱", "病理诊断", "治疗经过"};
    static const char *const keep[] = {"主诉", "现病史", "既往史", "体格检查", "查体",
                                       "辅助检查", "入院情况", "家族史"};
    for (size_t i = 0; i < sizeof leak / sizeof *leak; i++)
        assert_int_equal(assay_leak_header_kind(leak[i], strlen(leak[i])), 1);
    for (size_t i = 0; i < sizeof keep / sizeof *keep; i++)
        assert_int_equal(assay_leak_header_kind(keep[i], strlen(keep[i])), 0);
    assert_int_equal(assay_leak_header_kind("心电图", strlen("心电图")), -1);
}

static int s_has_name(const assay_leak_case_t *lc, const char *name)
{
    for (size_t i = 0; i < assay_leak_case_name_count(lc); i++)
        if (strcmp(assay_leak_case_name(lc, i, NULL), name) == 0) return 1;
    return 0;
}

static void test_gold_parsing(void **state)
{
    (void)state;
    assay_leak_case_t *lc =
        s_case("1.心房颤动2.高血压病（3级，很高危）3.冠状动脉粥样硬化性心脏病不稳定型心绞痛"
               "4.2型糖尿病5.胆囊切除术后6.胸痛原因待查",
               0);
    assert_int_equal(assay_leak_case_gold_count(lc), 6);
    assert_string_equal(assay_leak_case_gold_item(lc, 1), "高血压病（3级，很高危）");
    assert_string_equal(assay_leak_case_gold_item(lc, 3), "2型糖尿病"); /* "4.2型" is not "4.2" */
    assert_true(s_has_name(lc, "心房颤动"));
    assert_true(s_has_name(lc, "高血压病"));
    assert_true(s_has_name(lc, "冠状动脉粥样硬化性心脏病"));
    assert_true(s_has_name(lc, "不稳定型心绞痛"));
    assert_true(s_has_name(lc, "胆囊切除术")); /* a post-procedure state names its procedure */
    assert_false(s_has_name(lc, "胸痛"));     /* a working diagnosis is the complaint */
    assay_leak_case_destroy(&lc);
    assay_leak_case_destroy(&lc); /* safe twice */

    lc = s_case("", 0);
    assert_int_equal(assay_leak_case_gold_count(lc), 0);
    assay_leak_case_destroy(&lc);

    /* joined conditions are split; a part that is no condition is not hidden */
    lc = s_case("胃十二指肠溃疡伴穿孔", 0);
    assert_true(s_has_name(lc, "胃十二指肠溃疡"));
    assert_true(s_has_name(lc, "穿孔"));
    assay_leak_case_destroy(&lc);
    lc = s_case("全身麻醉术前评估和准备", 0);
    assert_false(s_has_name(lc, "准备"));
    assay_leak_case_destroy(&lc);
    lc = s_case("心房颤动 高血压病 2型糖尿病，急性Stanford B 型主动脉夹层", 0);
    assert_int_equal(assay_leak_case_gold_count(lc), 4);
    assert_string_equal(assay_leak_case_gold_item(lc, 3), "急性Stanford B 型主动脉夹层");
    assay_leak_case_destroy(&lc);
}

static const char s_record[] =
    "主诉：阵发性心悸3年，加重2天。\n"
    "现病史：患者3年前无明显诱因出现阵发性心悸，每次持续数小时，可自行缓解，伴胸闷，无胸痛，"
    "无黑蒙、晕厥。外院心电图示心房颤动，长期口服利伐沙班片抗凝。2天前心悸再发，持续不缓解，"
    "门诊以“心房颤动”收入我科。患者自发病以来，神志清，精神可，饮食、睡眠可，大小便正常。\n"
    "既往史：否认高血压、糖尿病、冠心病等慢性病史。1年前行“射频消融术”。\n"
    "查体：T36.5℃，P98次/分，R18次/分，BP132/84mmHg。双肺呼吸音清，心率112次/分，心律绝对不齐，"
    "第一心音强弱不等，脉搏短绌，双下肢无水肿。\n"
    "辅助检查：心电图：P波消失，代以f波，心室率112次/分（I48.X01）。血常规：WBC 6.2×10^9/L，"
    "Hb 136g/L。甲功正常。\n"
    "入院诊断：1.心房颤动 2.心功能II级\n"
    "诊疗经过：入院后予华法林抗凝、美托洛尔控制心室率，症状缓解。\n"
    "【出院医嘱】继续口服华法林，定期复查INR。\n";

static void test_conclusion_sections_removed(void **state)
{
    (void)state;
    assay_leak_case_t *lc = s_case("心房颤动", 1);
    assay_leak_result_t res;
    s_clean(lc, s_record, &res);
    assert_null(strstr(res.clean_text, "入院诊断"));
    assert_null(strstr(res.clean_text, "诊疗经过"));
    assert_null(strstr(res.clean_text, "美托洛尔"));
    assert_null(strstr(res.clean_text, "出院医嘱"));
    assert_null(strstr(res.clean_text, "定期复查INR"));
    assert_true(s_removed_with(&res, "入院诊断", "section 入院诊断"));
    assert_true(s_removed_with(&res, "美托洛尔", "section 诊疗经过"));
    assert_true(s_removed_with(&res, "定期复查INR", "section 出院医嘱"));
    if (res.n_headers != 8) fprintf(stderr, "%s\n", res.clean_text);
    assert_int_equal(res.n_headers, 8);
    assay_leak_result_release(&res);
    assay_leak_case_destroy(&lc);
}

static void test_inline_diagnosis_sentence(void **state)
{
    (void)state;
    assay_leak_case_t *lc = s_case("心房颤动", 0);
    assay_leak_result_t res;
    s_clean(lc,
            "现病史：患者心悸1年，曾于外院就诊。诊断：1.心房颤动 2.甲状腺功能亢进。"
            "近1周心悸加重，伴乏力。\n查体：心律不齐。\n",
            &res);
    assert_string_equal(res.clean_text,
                        "现病史：患者心悸1年，曾于外院就诊。近1周心悸加重，伴乏力。\n查体：心律不齐。");
    assert_true(s_removed_with(&res, "诊断：1.心房颤动 2.甲状腺功能亢进。", "section 诊断"));
    assay_leak_result_release(&res);
    assay_leak_case_destroy(&lc);
}

static void test_gold_clause_removed(void **state)
{
    (void)state;
    assay_leak_case_t *lc = s_case("心房颤动", 0);
    assay_leak_result_t res;
    s_clean(lc, s_record, &res);
    assert_null(strstr(res.clean_text, "心房颤动"));
    /* the clause goes, the sentence around it stays readable */
    assert_non_null(strstr(res.clean_text, "2天前心悸再发，持续不缓解。"));
    assert_non_null(strstr(res.clean_text, "患者自发病以来，神志清，精神可"));
    assert_true(s_removed_with(&res, "门诊以“心房颤动”收入我科", "gold diagnosis"));
    assert_true(s_removed_with(&res, "外院心电图示心房颤动", NULL));
    assert_int_equal(res.flagged, 0);
    assay_leak_result_release(&res);
    assay_leak_case_destroy(&lc);
}

static void test_alias_parent_child_removed(void **state)
{
    (void)state;
    assay_leak_case_t *lc = s_case("心房颤动", 1);
    assay_leak_result_t res;
    s_clean(lc,
            "主诉：心悸1周。\n现病史：患者1周前出现心悸，外院考虑“房颤”，未治疗。既往曾诊断“心房纤颤和扑动”。"
            "2年前心电图提示持续性心房颤动，查甲功正常。邻居称其“心房纤维性颤动”多年，活动后气促。\n",
            &res);
    assert_null(strstr(res.clean_text, "房颤"));
    assert_null(strstr(res.clean_text, "纤颤"));
    assert_null(strstr(res.clean_text, "纤维性颤动"));
    assert_true(s_removed_with(&res, "房颤", "alias of 心房颤动"));
    assert_true(s_removed_with(&res, "心房纤颤和扑动", "parent of"));
    assert_true(s_removed_with(&res, "纤维性颤动", "knowledge graph"));
    assert_non_null(strstr(res.clean_text, "患者1周前出现心悸，未治疗。"));
    assert_non_null(strstr(res.clean_text, "查甲功正常"));
    assert_non_null(strstr(res.clean_text, "活动后气促"));
    assay_leak_result_release(&res);
    assay_leak_case_destroy(&lc);

    /* the disease a modified gold name is a kind of, and a block above the code */
    lc = s_case("阵发性心房颤动", 1);
    s_clean(lc, "现病史：外院曾诊断心房颤动，予华法林，现心悸。\n既往史：否认高血压性疾病。\n", &res);
    assert_true(s_removed_with(&res, "外院曾诊断心房颤动", "head of 阵发性心房颤动"));
    assert_string_equal(res.clean_text, "现病史：现心悸。\n既往史：否认高血压性疾病。");
    assay_leak_result_release(&res);
    assay_leak_case_destroy(&lc);
    lc = s_case("高血压病", 1);
    s_clean(lc, "现病史：外院查体发现高血压性疾病，否认糖尿病。\n", &res);
    assert_true(s_removed_with(&res, "外院查体发现高血压性疾病", "parent of"));
    assay_leak_result_release(&res);
    /* denied, the parent says the opposite of the diagnosis: it stays */
    s_clean(lc, "既往史：否认高血压性疾病，否认糖尿病。\n", &res);
    assert_string_equal(res.clean_text, "既往史：否认高血压性疾病，否认糖尿病。");
    assert_false(res.flagged);
    assay_leak_result_release(&res);
    /* a suspicion is no denial: "不能排除", "不除外" */
    s_clean(lc, "现病史：外院不能排除高血压性疾病，头晕。外院不除外高血压性疾病，乏力。\n", &res);
    assert_string_equal(res.clean_text, "现病史：头晕。乏力。");
    assay_leak_result_release(&res);
    assay_leak_case_destroy(&lc);

    /* a child term names the diagnosis too: 心房纤颤 is below 心房颤动 */
    lc = s_case("心房颤动", 1);
    s_clean(lc, "现病史：心电图示心房纤颤，心室率快。\n", &res);
    assert_true(s_removed_with(&res, "心房纤颤", "child of 心房颤动"));
    assert_string_equal(res.clean_text, "现病史：心室率快。");
    assay_leak_result_release(&res);
    assay_leak_case_destroy(&lc);
}

static void test_gold_named_like_a_block(void **state)
{
    (void)state;
    /* "糖尿病" names a block; the diagnosis is the clinical code it is an alias of */
    assay_leak_case_t *lc = s_case("糖尿病", 1);
    assay_leak_result_t res;
    s_clean(lc, "既往史：确诊2型糖尿病5年，口服二甲双胍，编码E11.900，血糖控制可。\n", &res);
    assert_string_equal(res.clean_text, "既往史：血糖控制可。");
    assert_true(s_removed_with(&res, "确诊2型糖尿病5年", "standard name of E11.900"));
    assert_true(s_removed_with(&res, "口服二甲双胍", "drug for 2型糖尿病"));
    assert_true(s_removed_with(&res, "编码E11.900", "ICD code"));
    assay_leak_result_release(&res);
    assay_leak_case_destroy(&lc);
}

static void test_icd_code_removed(void **state)
{
    (void)state;
    assay_leak_case_t *lc = s_case("心房颤动", 1);
    assay_leak_result_t res;
    s_clean(lc, s_record, &res);
    assert_null(strstr(res.clean_text, "I48"));
    assert_true(s_removed_with(&res, "I48.X01", "ICD code"));
    /* the rest of the ECG finding stays */
    assert_non_null(strstr(res.clean_text, "血常规：WBC 6.2×10^9/L"));
    assay_leak_result_release(&res);
    assay_leak_case_destroy(&lc);

    /* a code is a token: I48 inside another code or word is not it */
    lc = s_case("心房颤动", 1);
    s_clean(lc, "辅助检查：样本编号AI480，血钾4.2mmol/L。\n", &res);
    assert_non_null(strstr(res.clean_text, "AI480"));
    assay_leak_result_release(&res);
    assay_leak_case_destroy(&lc);
}

static void test_specific_treatment_removed(void **state)
{
    (void)state;
    assay_leak_case_t *lc = s_case("心房颤动", 1);
    assay_leak_result_t res;
    s_clean(lc,
            "现病史：患者间断心悸2年，长期口服利伐沙班抗凝，1年前行“射频消融术”，"
            "平素服用阿司匹林。近2天心悸加重。\n",
            &res);
    /* 利伐沙班片 (and its ingredient) and 射频消融术 are specific to the gold */
    assert_null(strstr(res.clean_text, "利伐沙班"));
    assert_null(strstr(res.clean_text, "射频消融"));
    assert_true(s_removed_with(&res, "利伐沙班", "drug for 心房颤动"));
    assert_true(s_removed_with(&res, "射频消融术", "treatment of 心房颤动"));
    /* aspirin treats many diseases in the graph: not specific, kept */
    assert_non_null(strstr(res.clean_text, "平素服用阿司匹林"));
    assert_non_null(strstr(res.clean_text, "患者间断心悸2年"));
    assay_leak_result_release(&res);
    assay_leak_case_destroy(&lc);
}

static void test_pathology_and_imaging_conclusions(void **state)
{
    (void)state;
    assay_leak_case_t *lc = s_case("胃恶性肿瘤", 1);
    assay_leak_result_t res;
    s_clean(lc,
            "主诉：上腹痛伴消瘦3月。\n"
            "辅助检查：胃镜：胃窦见一溃疡，大小约2cm×3cm，底覆污苔，周边隆起。"
            "病理：（胃窦）低分化腺癌，符合胃癌。上腹部CT：胃窦壁增厚，考虑胃癌可能，周围淋巴结肿大。\n"
            "病理诊断：胃窦低分化腺癌。\n"
            "治疗：行胃癌根治术，术后奥沙利铂化疗。\n",
            &res);
    assert_null(strstr(res.clean_text, "胃癌"));
    assert_null(strstr(res.clean_text, "病理诊断"));
    assert_null(strstr(res.clean_text, "奥沙利铂"));
    assert_true(s_removed_with(&res, "符合胃癌", "alias of 胃恶性肿瘤"));
    assert_true(s_removed_with(&res, "考虑胃癌可能", NULL));
    /* findings short of the conclusion stay */
    assert_non_null(strstr(res.clean_text, "胃窦见一溃疡，大小约2cm×3cm，底覆污苔，周边隆起。"));
    assert_non_null(strstr(res.clean_text, "病理：（胃窦）低分化腺癌。"));
    assert_non_null(strstr(res.clean_text, "胃窦壁增厚"));
    assert_non_null(strstr(res.clean_text, "周围淋巴结肿大"));
    assay_leak_result_release(&res);
    assay_leak_case_destroy(&lc);
}

static void test_what_must_survive(void **state)
{
    (void)state;
    assay_leak_case_t *lc = s_case("1.急性阑尾炎", 1);
    static const char text[] =
        "主诉：转移性右下腹痛12小时。\n"
        "现病史：患者12小时前无明显诱因出现上腹部隐痛，6小时后转移至右下腹，呈持续性，伴恶心、呕吐1次，"
        "为胃内容物，无腹泻。门诊以“急性阑尾炎”收入院。\n"
        "既往史：否认高血压、糖尿病史，否认手术外伤史，否认药物过敏史。\n"
        "个人史：生于原籍，无烟酒嗜好。\n"
        "体格检查：T 38.2℃，P 96次/分，R 20次/分，BP 125/80mmHg。右下腹麦氏点压痛、反跳痛阳性，"
        "结肠充气试验阳性，腰大肌试验阳性。\n"
        "辅助检查：血常规：WBC 14.5×10^9/L，N 86%。腹部超声：右下腹见一管状低回声结构，直径约9mm，"
        "周围少量渗出。\n";
    assay_leak_result_t res;
    s_clean(lc, text, &res);
    static const char *const keep[] = {
        "主诉：转移性右下腹痛12小时。",
        "患者12小时前无明显诱因出现上腹部隐痛，6小时后转移至右下腹，呈持续性，伴恶心、呕吐1次，"
        "为胃内容物，无腹泻。",
        "既往史：否认高血压、糖尿病史，否认手术外伤史，否认药物过敏史。",
        "个人史：生于原籍，无烟酒嗜好。",
        "T 38.2℃，P 96次/分，R 20次/分，BP 125/80mmHg。",
        "右下腹麦氏点压痛、反跳痛阳性，结肠充气试验阳性，腰大肌试验阳性。",
        "血常规：WBC 14.5×10^9/L，N 86%。",
        "腹部超声：右下腹见一管状低回声结构，直径约9mm，周围少量渗出。",
    };
    for (size_t i = 0; i < sizeof keep / sizeof *keep; i++) {
        if (!strstr(res.clean_text, keep[i])) fprintf(stderr, "lost: %s\n", keep[i]);
        assert_non_null(strstr(res.clean_text, keep[i]));
    }
    assert_null(strstr(res.clean_text, "阑尾炎"));
    assert_int_equal(res.n_removed, 1);
    assay_leak_result_release(&res);
    assay_leak_case_destroy(&lc);
}

static void test_symptom_alias_kept(void **state)
{
    (void)state;
    /* the graph lists 胸痛 as an alias of 心绞痛, but knows it as a symptom: kept */
    assay_leak_case_t *lc = s_case("心绞痛", 1);
    assay_leak_result_t res;
    s_clean(lc, "主诉：发作性胸痛3天。\n现病史：外院考虑心绞痛，含服后缓解。\n", &res);
    assert_string_equal(res.clean_text, "主诉：发作性胸痛3天。\n现病史：含服后缓解。");
    assay_leak_result_release(&res);
    assay_leak_case_destroy(&lc);
}

static void test_degree_words(void **state)
{
    (void)state;
    /* 最高血压 is 最高 + 血压: a vital sign, not a mention of 高血压; but it spells
     * the gold item verbatim, so it is written 血压最高 */
    assay_leak_case_t *lc = s_case("1.高血压2.心房颤动", 0);
    assay_leak_result_t res;
    s_clean(lc, "既往史：“高血压”病史3年，最高血压为180/85mmHg，血压偏高血糖正常。\n", &res);
    assert_string_equal(res.clean_text, "既往史：血压最高为180/85mmHg，血压偏高血糖正常。");
    assert_true(s_removed_with(&res, "最高血压", "written “血压最高”"));
    assert_false(res.flagged);
    assert_int_equal(res.n_hits, 0);
    assay_leak_result_release(&res);
    /* the residual check alone still tells a degree word from a mention */
    const char *vital = "最高血压为180/85mmHg。";
    assay_leak_result_init(&res);
    assay_leak_residual(lc, vital, strlen(vital), 0, &res);
    assert_false(res.flagged);
    assert_int_equal(res.n_hits, 1);
    assert_string_equal(res.hits[0].match, "最高血压");
    assert_true(res.hits[0].score < 0.5);
    assay_leak_result_release(&res);
    assay_leak_case_destroy(&lc);
}

static void test_list_element(void **state)
{
    (void)state;
    /* a verbatim gold item goes even denied: only its list element */
    assay_leak_case_t *lc = s_case("冠心病", 1);
    assay_leak_result_t res;
    s_clean(lc, "现病史：外院查高血压、糖尿病、冠心病等，否认肝炎史。\n", &res);
    assert_string_equal(res.clean_text, "现病史：外院查高血压、糖尿病等，否认肝炎史。");
    assay_leak_result_release(&res);
    s_clean(lc, "既往史：否认高血压、糖尿病、冠心病等慢性病史，否认肝炎史。\n", &res);
    assert_string_equal(res.clean_text, "既往史：否认高血压、糖尿病等慢性病史，否认肝炎史。");
    assay_leak_result_release(&res);
    assay_leak_case_destroy(&lc);
    /* an alias of the gold denied says the opposite: it stays */
    lc = s_case("冠状动脉粥样硬化性心脏病", 1);
    s_clean(lc, "既往史：否认高血压、糖尿病、冠心病等慢性病史，否认肝炎史。\n", &res);
    assert_string_equal(res.clean_text, "既往史：否认高血压、糖尿病、冠心病等慢性病史，否认肝炎史。");
    assay_leak_result_release(&res);
    assay_leak_case_destroy(&lc);

    /* the first element carries the negation: the clause goes whole, not "否认" */
    lc = s_case("高血压", 0);
    s_clean(lc, "既往史：否认高血压、糖尿病等慢性病史，否认肝炎史。\n", &res);
    assert_string_equal(res.clean_text, "既往史：否认肝炎史。");
    assay_leak_result_release(&res);
    assay_leak_case_destroy(&lc);
}

static void test_numbered_items(void **state)
{
    (void)state;
    assay_leak_case_t *lc = s_case("心房颤动", 0);
    assay_leak_result_t res;
    s_clean(lc, "辅助检查：心电图：1.窦性心律2.心房颤动3.ST-T改变。体温36.5℃，2024.05.14复查。\n", &res);
    assert_string_equal(res.clean_text, "辅助检查：心电图：1.窦性心律3.ST-T改变。体温36.5℃，2024.05.14复查。");
    assert_true(s_removed_with(&res, "2.心房颤动", NULL));
    assay_leak_result_release(&res);
    /* a label left without its content goes with it */
    s_clean(lc, "辅助检查：心电图示：1.心房颤动。血常规正常。\n", &res);
    assert_string_equal(res.clean_text, "辅助检查：血常规正常。");
    assert_true(s_removed_with(&res, "心电图示：", "label left without its content"));
    assay_leak_result_release(&res);
    assay_leak_case_destroy(&lc);
}

static void test_term_across_clauses(void **state)
{
    (void)state;
    /* an alias holding a delimiter spans two clauses: both go, nothing breaks */
    assay_leak_case_t *lc = s_case("心房颤动", 0);
    const char *alias = "房颤，心衰";
    assert_int_equal(assay_leak_case_add_term(lc, alias, strlen(alias), ASSAY_LEAK_TERM_ALIAS, 0,
                                              "test alias"),
                     1);
    assay_leak_result_t res;
    s_clean(lc, "既往史：否认糖尿病、房颤，心衰多年，否认手术史。\n", &res);
    assert_string_equal(res.clean_text, "既往史：否认手术史。");
    assay_leak_result_release(&res);
    assay_leak_case_destroy(&lc);
}

static void test_line_headers_and_brackets(void **state)
{
    (void)state;
    assay_leak_case_t *lc = s_case("急性阑尾炎", 0);
    assay_leak_result_t res;
    s_clean(lc,
            "现病史\n  患者腹痛1天（起初在脐周，后转至右下腹），伴发热。\n\n"
            "初步诊断\n  急性阑尾炎\n\n"
            "一、体格检查\n  右下腹压痛。\n",
            &res);
    assert_int_equal(res.n_headers, 3);
    assert_non_null(strstr(res.clean_text, "患者腹痛1天（起初在脐周，后转至右下腹），伴发热。"));
    assert_non_null(strstr(res.clean_text, "一、体格检查\n  右下腹压痛。"));
    assert_null(strstr(res.clean_text, "初步诊断"));
    assay_leak_result_release(&res);
    assay_leak_case_destroy(&lc);
}

static void test_header_forms(void **state)
{
    (void)state;
    /* the forms records use: colon full- or half-width, spaces, numbering, brackets */
    static const char *const forms[] = {
        "出院诊断：心房颤动\n", "出院诊断:心房颤动\n", "出院诊断 ：心房颤动\n",
        "一、出院诊断\n心房颤动\n", "（3）出院诊断：心房颤动\n", "【出院诊断】心房颤动\n",
        "[出院诊断]心房颤动\n", "3.出院诊断：心房颤动\n", "出院诊断\n  1.心房颤动\n",
    };
    assay_leak_case_t *lc = s_case("房室传导阻滞", 0); /* the section goes whatever it holds */
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
        char text[256];
        snprintf(text, sizeof text, "主诉：心悸2天。\n%s查体：心律不齐。\n", forms[i]);
        assay_leak_result_t res;
        s_clean(lc, text, &res);
        if (strcmp(res.clean_text, "主诉：心悸2天。\n查体：心律不齐。") != 0)
            fprintf(stderr, "form %zu: %s\n", i, res.clean_text);
        assert_string_equal(res.clean_text, "主诉：心悸2天。\n查体：心律不齐。");
        assert_int_equal(res.n_headers, 3);
        assay_leak_result_release(&res);
    }
    /* a header word inside a sentence is not a header */
    assay_leak_result_t res;
    s_clean(lc, "主诉：心悸2天。\n现病史：无出院诊断记录，心律不齐。\n", &res);
    assert_string_equal(res.clean_text, "主诉：心悸2天。\n现病史：无出院诊断记录，心律不齐。");
    assay_leak_result_release(&res);
    assay_leak_case_destroy(&lc);
}

static void test_near_mention_and_statement(void **state)
{
    (void)state;
    assay_leak_case_t *lc = s_case("冠状动脉粥样硬化性心脏病", 0);
    assay_leak_result_t res;
    s_clean(lc,
            "现病史：患者胸闷3年，外院诊为“冠状动脉硬化性心脏病”，活动后加重，休息可缓解。\n",
            &res);
    assert_null(strstr(res.clean_text, "硬化性心脏病"));
    assert_non_null(strstr(res.clean_text, "患者胸闷3年，活动后加重，休息可缓解。"));
    assay_leak_result_release(&res);
    assay_leak_case_destroy(&lc);
}

/* another person's disease is kept; a verbatim gold item there is masked */
static void test_family_history(void **state)
{
    (void)state;
    assay_leak_case_t *lc = s_case("1.冠心病2.高血压病3级（很高危）", 1);
    assay_leak_result_t res;
    s_clean(lc,
            "主诉：胸闷1周。\n"
            "家族史：父亲有“高血压”，母亲患“冠心病”，1姐患有“糖尿病”。\n"
            "婚姻史：配偶有“冠心病”病史，子女体健。\n"
            "现病史：患者1周前出现胸闷，门诊以“冠心病”收入院。其兄患高血压病多年。\n",
            &res);
    /* the relatives' diseases stay; the gold item is masked, the clause stays */
    assert_non_null(strstr(res.clean_text, "家族史：父亲有“高血压”，母亲患“某病”，1姐患有“糖尿病”。"));
    assert_non_null(strstr(res.clean_text, "婚姻史：配偶有“某病”病史，子女体健。"));
    assert_non_null(strstr(res.clean_text, "其兄患高血压病多年。"));
    assert_true(s_removed_with(&res, "冠心病", "in a relative's history: masked"));
    /* the patient's own diagnosis still goes */
    assert_true(s_removed_with(&res, "门诊以“冠心病”收入院", NULL));
    assert_null(strstr(res.clean_text, "冠心病"));
    assert_false(res.flagged);
    assay_leak_result_release(&res);

    /* every relative is recognised as the subject, outside a history section too */
    static const char *const rel[] = {
        "外祖父", "外祖母", "祖父", "祖母", "父亲", "母亲", "父母", "兄弟", "姐妹", "哥哥", "弟弟",
        "姐姐", "妹妹", "儿子", "女儿", "子女", "配偶", "爱人", "丈夫", "妻子", "家族", "家属",
        "亲属", "舅舅", "姑姑", "叔叔", "伯伯", "阿姨", "父", "母", "兄", "弟", "姐", "妹", "哥"};
    for (size_t i = 0; i < sizeof rel / sizeof *rel; i++) {
        char text[300], want[256];
        snprintf(want, sizeof want, "现病史：%s有“高血压病”，体健。", rel[i]);
        snprintf(text, sizeof text, "%s\n", want);
        s_clean(lc, text, &res);
        if (strcmp(res.clean_text, want) != 0) fprintf(stderr, "%s: %s\n", rel[i], res.clean_text);
        assert_string_equal(res.clean_text, want);
        assay_leak_result_release(&res);
    }
    /* the patient named after the relative: the mention is the patient's */
    s_clean(lc, "现病史：父亲体健，患者有高血压病5年，测血压170/100mmHg。\n", &res);
    assert_string_equal(res.clean_text, "现病史：父亲体健，测血压170/100mmHg。");
    assay_leak_result_release(&res);
    assay_leak_case_destroy(&lc);
}

/* the conclusion goes with its marker; the findings of the sentence stay */
static void test_conclusion_clause_cut(void **state)
{
    (void)state;
    assay_leak_case_t *lc = s_case("急性心肌梗死", 0);
    assay_leak_result_t res;
    s_clean(lc,
            "现病史：患者胸痛3小时，入院后完善相关检查明确诊断：急性心肌梗死，肌钙蛋白I 2.3ng/ml，"
            "CK-MB 45U/L，心电图示V1-V4导联ST段抬高0.3mV。\n查体：BP 100/60mmHg。\n",
            &res);
    assert_string_equal(res.clean_text,
                        "现病史：患者胸痛3小时，肌钙蛋白I 2.3ng/ml，CK-MB 45U/L，心电图示V1-V4导联ST段"
                        "抬高0.3mV。\n查体：BP 100/60mmHg。");
    assert_true(s_removed_with(&res, "入院后完善相关检查明确诊断", "conclusion marker"));
    assay_leak_result_release(&res);
    /* "明确诊断为X" in one clause with the run of results after it */
    s_clean(lc,
            "现病史：入院后完善心电图、心肌酶等检查明确诊断为急性心肌梗死，肌钙蛋白I 2.3ng/ml；"
            "血钾3.2mmol/L。\n",
            &res);
    assert_string_equal(res.clean_text, "现病史：肌钙蛋白I 2.3ng/ml；血钾3.2mmol/L。");
    assay_leak_result_release(&res);
    /* a marker not followed by the diagnosis is left alone */
    s_clean(lc, "现病史：为明确诊断：行血常规：WBC 12.5×10^9/L，N 85%。\n", &res);
    assert_string_equal(res.clean_text, "现病史：为明确诊断：行血常规：WBC 12.5×10^9/L，N 85%。");
    assay_leak_result_release(&res);
    assay_leak_case_destroy(&lc);
}

/* measured values next to a mention survive with their clauses */
static void test_measured_values_kept(void **state)
{
    (void)state;
    assay_leak_case_t *lc = s_case("1.心房颤动2.低钾血症", 1);
    assay_leak_result_t res;
    s_clean(lc,
            "辅助检查：心电图示心房颤动，心室率112次/分；血钾3.2mmol/L，BNP 850pg/ml，"
            "LVEF 45%，左房内径48mm。考虑低钾血症，体温36.8℃。\n",
            &res);
    static const char *const keep[] = {"心室率112次/分", "血钾3.2mmol/L", "BNP 850pg/ml",
                                       "LVEF 45%", "左房内径48mm", "体温36.8℃"};
    for (size_t i = 0; i < sizeof keep / sizeof *keep; i++) {
        if (!strstr(res.clean_text, keep[i])) fprintf(stderr, "lost: %s in %s\n", keep[i], res.clean_text);
        assert_non_null(strstr(res.clean_text, keep[i]));
    }
    assert_null(strstr(res.clean_text, "颤动"));
    assert_null(strstr(res.clean_text, "低钾血症"));
    assay_leak_result_release(&res);
    assay_leak_case_destroy(&lc);
}

/* the patient's past history is evidence (kept), its conclusions are not; a
 * case can hide the history too */
static void test_past_history(void **state)
{
    (void)state;
    static const char text[] =
        "既往史：“高血压”病史10年，血压最高180/100mmHg，口服“利伐沙班片”。2年前外院诊断为“高血压”。\n"
        "现病史：头晕3天，既往“高血压”病史，测血压170/95mmHg，门诊以“高血压”收入院。\n";
    assay_leak_case_t *lc = s_case("1.原发性高血压3级（很高危）2.心房颤动", 1);
    assay_leak_result_t res;
    s_clean(lc, text, &res);
    assert_non_null(strstr(res.clean_text, "既往史：“高血压”病史10年，血压最高180/100mmHg。"));
    assert_non_null(strstr(res.clean_text, "现病史：头晕3天，既往“高血压”病史，测血压170/95mmHg。"));
    /* a conclusion in the history goes, and so does a drug specific to the gold */
    assert_true(s_removed_with(&res, "2年前外院诊断为“高血压”", NULL));
    assert_true(s_removed_with(&res, "利伐沙班", NULL));
    assert_true(s_removed_with(&res, "门诊以“高血压”收入院", NULL));
    assert_false(res.flagged);
    assay_leak_result_release(&res);

    assay_leak_case_hide_history(lc, 1);
    s_clean(lc, text, &res);
    assert_null(strstr(res.clean_text, "高血压"));
    assert_non_null(strstr(res.clean_text, "血压最高180/100mmHg"));
    assert_non_null(strstr(res.clean_text, "测血压170/95mmHg"));
    assay_leak_result_release(&res);
    assay_leak_case_destroy(&lc);

    /* a drug of a diagnosis the history sentence names as history stays with it:
     * hiding it would hide nothing; the drug of another diagnosis does not */
    lc = s_case("1.阵发性心房颤动2.高血压病", 1);
    s_clean(lc,
            "既往史：“房颤”病史3年，口服“利伐沙班片”，心室率最快150次/分。“高血压”病史5年，"
            "口服“利伐沙班片”。\n",
            &res);
    assert_string_equal(res.clean_text, "既往史：“房颤”病史3年，口服“利伐沙班片”，心室率最快150次/分。"
                                        "“高血压”病史5年。");
    assert_false(res.flagged);
    assay_leak_result_release(&res);
    assay_leak_case_destroy(&lc);

    /* a verbatim gold item goes even in the history */
    lc = s_case("1.高血压 2.心房颤动", 1);
    s_clean(lc, text, &res);
    assert_null(strstr(res.clean_text, "高血压"));
    assert_non_null(strstr(res.clean_text, "血压最高180/100mmHg"));
    assay_leak_result_release(&res);
    assay_leak_case_destroy(&lc);
}

/* suspected items ("X？") are diagnoses to hide; a working diagnosis names the
 * complaint, and a diagnosis written after it is one */
static void test_suspected_items(void **state)
{
    (void)state;
    assay_leak_case_t *lc = s_case("1.胸痛原因待查不稳定型心绞痛？2.心肌病？酒精性心肌病？", 0);
    assert_true(s_has_name(lc, "不稳定型心绞痛"));
    assert_true(s_has_name(lc, "酒精性心肌病"));
    assert_false(s_has_name(lc, "胸痛"));
    assay_leak_result_t res;
    s_clean(lc, "现病史：胸痛2天，外院心超示酒精性心肌病可能，饮酒30年，每日500ml。\n", &res);
    assert_string_equal(res.clean_text, "现病史：胸痛2天，饮酒30年，每日500ml。");
    assay_leak_result_release(&res);
    assay_leak_case_destroy(&lc);
}

/* kept pieces that meet where the text between them went must not spell a gold
 * item: "高血压病" (history) + "3级…" once "1.…诊断为高血压病：" went */
static void test_joined_pieces(void **state)
{
    (void)state;
    assay_leak_case_t *lc = s_case("1.心房颤动2.高血压病3级（很高危）", 0);
    assay_leak_result_t res;
    s_clean(lc, "既往史：高血压病1.外院多次就诊诊断为高血压病：3级1.否认头痛。\n", &res);
    assert_null(strstr(res.clean_text, "高血压病3级"));
    assert_true(s_removed_with(&res, "高血压病3级", "formed where kept text met"));
    int found = 0;
    for (size_t i = 0; i < res.n_removed; i++) found |= res.removed[i].in_named == 2;
    assert_true(found);
    assay_leak_result_release(&res);

    /* the property, on many texts made of pieces that stress the rules: the run
     * succeeds and no verbatim gold item survives (a fixed generator: the same
     * texts every run) */
    static const char *const pieces[] = {
        "父亲", "母亲", "有", "患", "否认", "无", "不能排除", "既往", "病史", "史", "“", "”", "，",
        "。", "：", "\n", "家族史：", "既往史：", "现病史：", "诊断为", "明确诊断：", "高血压",
        "高血压病", "心房颤动", "房颤", "3级", "（", "）", "1.", "2、", "患者", "血压180/100mmHg",
        "、", "收入院", "考虑", "12", "mmol/L", " ", "?", "；"};
    assay_leak_case_add_term(lc, "房颤", strlen("房颤"), ASSAY_LEAK_TERM_ALIAS, 0, "test alias");
    uint32_t seed = 7;
    char text[2048];
    for (int it = 0; it < 20000; it++) {
        size_t n = 0;
        seed = seed * 1103515245u + 12345u;
        int k = (int)(seed >> 16) % 60;
        for (int j = 0; j < k; j++) {
            seed = seed * 1103515245u + 12345u;
            const char *p = pieces[(seed >> 16) % (sizeof pieces / sizeof *pieces)];
            size_t l = strlen(p);
            if (n + l >= sizeof text) break;
            memcpy(text + n, p, l);
            n += l;
        }
        assay_leak_case_hide_history(lc, it & 1);
        assay_leak_input_t in = {text, n, NULL, 0};
        assay_leak_opts_t opts = {0, 1, 0};
        char err[256];
        assay_leak_result_init(&res);
        int rc = assay_leak_run(lc, &in, &opts, &res, err, sizeof err);
        if (rc == 0 && (strstr(res.clean_text, "心房颤动") || strstr(res.clean_text, "高血压病3级")))
            fprintf(stderr, "leak: %.*s\n  => %s\n", (int)n, text, res.clean_text);
        assert_true(rc == 0 || n == 0);
        if (rc == 0) {
            assert_null(strstr(res.clean_text, "心房颤动"));
            assert_null(strstr(res.clean_text, "高血压病3级"));
        }
        assay_leak_result_release(&res);
    }
    assay_leak_case_destroy(&lc);
}

static void test_residual_check(void **state)
{
    (void)state;
    assay_leak_case_t *lc = s_case("心房颤动", 1);
    assay_leak_result_t res;
    assay_leak_result_init(&res);
    const char *rewrite = "患者反复心悸，外院考虑房颤。";
    assay_leak_residual(lc, rewrite, strlen(rewrite), 0, &res);
    assert_true(res.flagged);
    assert_true(res.residual >= 0.99);
    assert_int_equal(res.n_hits, 1);
    assert_string_equal(res.hits[0].match, "房颤");
    /* an alias in the past history is reported under the threshold, unless the
     * case hides the history */
    const char *history = "患者反复心悸，既往有房颤病史。";
    assay_leak_residual(lc, history, strlen(history), 0, &res);
    assert_false(res.flagged);
    assert_int_equal(res.n_hits, 1);
    assert_non_null(strstr(res.hits[0].reason, "past history"));
    assay_leak_case_hide_history(lc, 1);
    assay_leak_residual(lc, history, strlen(history), 0, &res);
    assert_true(res.flagged);
    assay_leak_case_hide_history(lc, 0);
    const char *clean = "患者反复心悸，心律绝对不齐。";
    assay_leak_residual(lc, clean, strlen(clean), 0, &res);
    assert_false(res.flagged);
    assert_int_equal(res.n_hits, 0);
    assay_leak_result_release(&res);
    assay_leak_case_destroy(&lc);

    /* fuzzy: a garbled long name is still found */
    lc = s_case("冠状动脉粥样硬化性心脏病", 0);
    assay_leak_result_init(&res);
    const char *fuzzy = "考虑冠状动脉粥样硬化心脏病变。";
    assay_leak_residual(lc, fuzzy, strlen(fuzzy), 0, &res);
    assert_true(res.flagged);
    assert_true(res.residual > 0.5 && res.residual < 1.0);
    assay_leak_result_release(&res);
    assay_leak_case_destroy(&lc);
}

static void test_named_sections(void **state)
{
    (void)state;
    assay_leak_case_t *lc = s_case("心房颤动", 1);
    assay_leak_section_t secs[] = {
        {"入院诊断", "1.心房颤动", strlen("1.心房颤动")},
        {"诊疗经过", "予胺碘酮复律", strlen("予胺碘酮复律")},
        {"查体", "心律绝对不齐，心房颤动律", strlen("心律绝对不齐，心房颤动律")},
    };
    const char *text = "主诉：心悸2天。\n";
    assay_leak_input_t in = {text, strlen(text), secs, 3};
    assay_leak_opts_t opts = {0, 0, 0};
    assay_leak_result_t res;
    assay_leak_result_init(&res);
    char err[256];
    assert_int_equal(assay_leak_run(lc, &in, &opts, &res, err, sizeof err), 0);
    assert_string_equal(res.clean_text, "主诉：心悸2天。\n查体：心律绝对不齐");
    int named = 0;
    for (size_t i = 0; i < res.n_removed; i++) named += res.removed[i].in_named;
    assert_int_equal(named, 3);
    assay_leak_result_release(&res);
    assay_leak_case_destroy(&lc);
}

static int s_fails(const assay_leak_case_t *lc, const char *text, size_t len, const char *want,
                   const assay_leak_opts_t *opts)
{
    assay_leak_input_t in = {text, len, NULL, 0};
    assay_leak_result_t res;
    assay_leak_result_init(&res);
    char err[512] = "";
    int rc = assay_leak_run(lc, &in, opts, &res, err, sizeof err);
    assay_leak_result_release(&res);
    if (rc == 0) return 0;
    if (!strstr(err, want)) {
        fprintf(stderr, "error \"%s\" lacks \"%s\"\n", err, want);
        return 0;
    }
    return rc == ASSAY_EINVAL;
}

static void test_bad_input(void **state)
{
    (void)state;
    assay_leak_opts_t opts = {0, 0, 0};
    assay_leak_case_t *lc = s_case("心房颤动", 0);
    assert_true(s_fails(lc, NULL, 0, "no case text", &opts));
    assert_true(s_fails(lc, "", 0, "no case text", &opts));
    const char *bare = "患者心悸2天，心电图示心房颤动。";
    assert_true(s_fails(lc, bare, strlen(bare), "no section header", &opts));
    const char bad[] = "主诉：心悸\xE5\xBF 2天。";
    assert_true(s_fails(lc, bad, sizeof bad - 1, "not valid UTF-8 at byte 15", &opts));
    const char overlong[] = "主诉：\xC0\xAF";
    assert_true(s_fails(lc, overlong, sizeof overlong - 1, "not valid UTF-8", &opts));
    /* enormous: over the limit is refused, a large record under it is cleaned */
    size_t big = 300000;
    char *huge = malloc(big + 1);
    memcpy(huge, "主诉：", strlen("主诉："));
    for (size_t i = strlen("主诉："); i + 3 <= big; i += 3) memcpy(huge + i, "咳", 3);
    size_t hl = strlen("主诉：") + (big - strlen("主诉：")) / 3 * 3;
    huge[hl] = '\0';
    assay_leak_opts_t small = {100000, 0, 0};
    assert_true(s_fails(lc, huge, hl, "more than the limit of 100000", &small));
    assay_leak_input_t in = {huge, hl, NULL, 0};
    assay_leak_result_t res;
    assay_leak_result_init(&res);
    char err[256];
    assert_int_equal(assay_leak_run(lc, &in, &opts, &res, err, sizeof err), 0);
    assert_int_equal(res.clean_len, hl);
    assay_leak_result_release(&res);
    free(huge);
    /* free text is accepted when asked for */
    assay_leak_opts_t free_text = {0, 1, 0};
    in = (assay_leak_input_t){bare, strlen(bare), NULL, 0};
    assay_leak_result_init(&res);
    assert_int_equal(assay_leak_run(lc, &in, &free_text, &res, err, sizeof err), 0);
    assert_string_equal(res.clean_text, "患者心悸2天。");
    assay_leak_result_release(&res);
    assay_leak_case_destroy(&lc);

    /* no diagnosis */
    lc = s_case("  ", 0);
    assert_true(s_fails(lc, s_record, strlen(s_record), "no gold diagnosis", &opts));
    assay_leak_case_destroy(&lc);
}

static void test_deterministic(void **state)
{
    (void)state;
    assay_leak_case_t *lc = s_case("1.心房颤动2.高血压", 1);
    assay_leak_result_t a, b;
    s_clean(lc, s_record, &a);
    s_clean(lc, s_record, &b);
    assert_string_equal(a.clean_text, b.clean_text);
    assert_int_equal(a.n_removed, b.n_removed);
    for (size_t i = 0; i < a.n_removed; i++) assert_string_equal(a.removed[i].reason, b.removed[i].reason);
    assay_leak_result_release(&a);
    assay_leak_result_release(&b);
    assay_leak_case_destroy(&lc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_kinds),
        cmocka_unit_test(test_gold_parsing),
        cmocka_unit_test(test_conclusion_sections_removed),
        cmocka_unit_test(test_inline_diagnosis_sentence),
        cmocka_unit_test(test_gold_clause_removed),
        cmocka_unit_test(test_alias_parent_child_removed),
        cmocka_unit_test(test_gold_named_like_a_block),
        cmocka_unit_test(test_icd_code_removed),
        cmocka_unit_test(test_specific_treatment_removed),
        cmocka_unit_test(test_pathology_and_imaging_conclusions),
        cmocka_unit_test(test_what_must_survive),
        cmocka_unit_test(test_symptom_alias_kept),
        cmocka_unit_test(test_degree_words),
        cmocka_unit_test(test_list_element),
        cmocka_unit_test(test_numbered_items),
        cmocka_unit_test(test_term_across_clauses),
        cmocka_unit_test(test_line_headers_and_brackets),
        cmocka_unit_test(test_header_forms),
        cmocka_unit_test(test_near_mention_and_statement),
        cmocka_unit_test(test_family_history),
        cmocka_unit_test(test_conclusion_clause_cut),
        cmocka_unit_test(test_measured_values_kept),
        cmocka_unit_test(test_past_history),
        cmocka_unit_test(test_suspected_items),
        cmocka_unit_test(test_joined_pieces),
        cmocka_unit_test(test_residual_check),
        cmocka_unit_test(test_named_sections),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_deterministic),
    };
    return cmocka_run_group_tests(tests, s_group_setup, s_group_teardown);
}
