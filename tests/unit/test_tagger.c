/*  test_tagger.c: unit tests for worker/tagger — intent and category rules,
 *  attributes, entities on the fixture terminology in tests/data/verify. The intent
 *  accuracy on the real labelled questions is test_tagger_real.c (skipped without
 *  the data). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "worker/domain/tagger.h"
#include "worker/domain/terms.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef ASSAY_TEST_DATA
#define ASSAY_TEST_DATA "tests/data"
#endif

static const char *s_intent(const char *q)
{
    return assay_tagger_intent_name(assay_tagger_intent(q, strlen(q), NULL));
}

static const char *s_category(const char *q)
{
    return assay_tagger_category_name(assay_tagger_category(q, strlen(q), NULL));
}

static void test_intent(void **state)
{
    (void)state;
    assert_string_equal(s_intent("痤疮的治疗方法有哪些"), "治疗方案");
    assert_string_equal(s_intent("男性小腹疼痛是什么原因？"), "病情诊断");
    assert_string_equal(s_intent("胃不好能吃南瓜吗"), "注意事项");
    assert_string_equal(s_intent("上海哪家医院看包皮过长比较好"), "就医建议");
    assert_string_equal(s_intent("无痛人流手术大约多少钱"), "医疗费用");
    assert_string_equal(s_intent("黄连羊肝丸的副作用"), "功效作用");
    assert_string_equal(s_intent("甘油三酯偏低是什么意思"), "指标解读");
    assert_string_equal(s_intent("阿莫西林胶囊一天几次，饭前还是饭后吃"), "用药");
    assert_string_equal(s_intent("牛皮癣一般有什么危害"), "后果表述");
    assert_string_equal(s_intent("白癜风不断恶化的原因"), "病因分析");
    assert_string_equal(s_intent("慢性肝炎早期症状有哪些表现"), "疾病表述");
    assert_string_equal(s_intent("172的身高还能长高吗"), "其他");
    assert_string_equal(s_intent(""), "其他");
    double sc;
    assay_tagger_intent("如何", strlen("如何"), &sc);
    assert_true(sc == 0); /* one weak word is no intent */
    assert_string_equal(assay_tagger_intent_name(99), "其他");
}

static void test_category(void **state)
{
    (void)state;
    assert_string_equal(s_category("患者，男，45岁，胸痛2小时，最可能的诊断是"), "疾病诊断");
    assert_string_equal(s_category("胃大部切除术后最常见的并发症是"), "手术");
    assert_string_equal(s_category("治疗肺炎链球菌肺炎首选的抗生素是"), "药物");
    assert_string_equal(s_category("诊断急性胰腺炎最有价值的实验室检查是血清淀粉酶测定"),
                        "检验检查");
    assert_string_equal(s_category("心肌细胞动作电位平台期的离子机制是"), "基础知识");
    assert_string_equal(s_category(""), "基础知识");
    size_t counts[ASSAY_ENT_TYPE_COUNT] = {0};
    counts[ASSAY_ENT_DRUG] = 4; /* entity types add evidence */
    assert_string_equal(
        assay_tagger_category_name(assay_tagger_category("下列哪项正确", 18, counts)), "药物");
}

static void test_attributes(void **state)
{
    (void)state;
    const char *t = "患者，女，65岁，反复右下腹痛3天，伴剧烈疼痛，约3天左右";
    json_t *a = assay_tagger_attributes(t, strlen(t));
    assert_string_equal(json_string_value(json_object_get(a, "age")), "65岁");
    assert_string_equal(json_string_value(json_object_get(a, "sex")), "女");
    assert_string_equal(json_string_value(json_object_get(a, "duration")), "3天");
    assert_string_equal(json_string_value(json_object_get(a, "laterality")), "右");
    assert_string_equal(json_string_value(json_object_get(a, "severity")), "剧烈");
    assert_string_equal(json_string_value(json_object_get(a, "onset")), "反复");
    json_decref(a);
    /* 左右 ("about") is no side, a bare number no duration */
    t = "体重60公斤左右";
    a = assay_tagger_attributes(t, strlen(t));
    assert_int_equal(json_object_size(a), 0);
    json_decref(a);
}

static int s_setup(void **state)
{
    char err[512];
    *state = assay_terms_load_dir(ASSAY_TEST_DATA "/verify", err, sizeof err);
    if (!*state) fprintf(stderr, "fixture: %s\n", err);
    return *state ? 0 : -1;
}

static int s_teardown(void **state)
{
    assay_terms_t *t = *state;
    assay_terms_destroy(&t);
    return 0;
}

static int s_has(json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) if (strcmp(json_string_value(v), s) == 0) return 1;
    return 0;
}

static void test_entities(void **state)
{
    const assay_terms_t *t = *state;
    const char *q = "男，58岁，胸痛胸闷2小时，既往冠心病，服用硝酸甘油片后无缓解，"
                    "心电图提示ST段抬高，WBC升高，mm。最可能的诊断是急性下壁心肌梗死。";
    json_t *tags = assay_tagger_tag(t, q, strlen(q));
    json_t *ent = json_object_get(tags, "entities");
    assert_true(s_has(json_object_get(ent, "symptom"), "胸痛"));
    assert_true(s_has(json_object_get(ent, "symptom"), "胸闷"));
    assert_true(s_has(json_object_get(ent, "disease"), "冠心病"));
    /* ICD names are diseases even without a graph node; the longest name wins */
    assert_true(s_has(json_object_get(ent, "disease"), "急性下壁心肌梗死"));
    assert_true(s_has(json_object_get(ent, "drug"), "硝酸甘油片"));
    assert_true(s_has(json_object_get(ent, "test"), "心电图"));
    /* a lower-case unit is never an entity */
    const char *k;
    json_t *arr;
    json_object_foreach(ent, k, arr) assert_false(s_has(arr, "mm"));
    json_t *codes = json_object_get(tags, "entity_codes");
    assert_true(s_has(codes, "I21.100"));
    assert_string_equal(json_string_value(json_object_get(tags, "category")), "疾病诊断");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(tags, "attributes"), "age")), "58岁");
    json_decref(tags);

    /* chapter R is symptoms; chapter Z and one-edge graph fragments are no entities */
    const char *q2 = "术后呕吐，复查未见异常，切口大小正常";
    assay_tagger_entity_t e2[8];
    size_t n2 = assay_tagger_entities(t, q2, strlen(q2), e2, 8);
    assert_int_equal(n2, 1);
    assert_int_equal(e2[0].type, ASSAY_ENT_SYMPTOM);
    assert_memory_equal(q2 + e2[0].off, "呕吐", e2[0].len);

    assay_tagger_entity_t e[4];
    /* a mention is counted once per occurrence, never overlapping, capped */
    const char *rep = "胸痛胸痛胸痛胸痛胸痛胸痛";
    assert_int_equal(assay_tagger_entities(t, rep, strlen(rep), e, 4), 4);
    assert_int_equal(e[1].off, 6);
    assert_int_equal(e[1].type, ASSAY_ENT_SYMPTOM);
    assert_int_equal(assay_tagger_entities(t, "", 0, e, 4), 0);
    assert_int_equal(assay_tagger_entities(NULL, rep, strlen(rep), e, 4), 0);
    /* without a terminology: no entities, the rest still works */
    tags = assay_tagger_tag(NULL, q, strlen(q));
    assert_int_equal(json_array_size(json_object_get(json_object_get(tags, "entities"), "disease")),
                     0);
    json_decref(tags);
    assert_int_equal(assay_tagger_type_of_kg("科室"), -1);
    assert_int_equal(assay_tagger_type_of_kg("手术治疗"), ASSAY_ENT_PROCEDURE);
    assert_string_equal(assay_tagger_type_name(ASSAY_ENT_BODY_PART), "body_part");
}

/* a pseudo-random string of pieces the parsers care about (deterministic) */
static size_t s_random_text(uint64_t *x, char *buf, size_t cap)
{
    static const char *const pieces[] = {"答案", "综上", "病", "炎", "综合征", "沙星", "胶囊", "，",
                                         "。", "\xE5", "\x80", "\xFF", "好的", "造影", "1", " ",
                                         "\n", "男", "岁", "左侧", "排除", "可能", "等等", "wait"};
    size_t n = 0;
    int parts = (int)(*x % 40);
    for (int k = 0; k < parts; k++) {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        const char *pc = pieces[*x % (sizeof pieces / sizeof pieces[0])];
        size_t pl = strlen(pc);
        if (n + pl >= cap) break;
        memcpy(buf + n, pc, pl);
        n += pl;
    }
    buf[n] = '\0';
    return n;
}

static void test_random_bytes(void **state)
{
    const assay_terms_t *t = *state;
    uint64_t x = 0x853C49E6748FEA9Bull;
    char a[600];
    for (int i = 0; i < 1000; i++) {
        size_t n = s_random_text(&x, a, sizeof a);
        json_t *tags = assay_tagger_tag(t, a, n);
        assert_non_null(json_object_get(tags, "intent"));
        json_decref(tags);
        x += (uint64_t)i;
    }
}

int main(void)
{
    const struct CMUnitTest rules[] = {
        cmocka_unit_test(test_intent),
        cmocka_unit_test(test_category),
        cmocka_unit_test(test_attributes),
    };
    const struct CMUnitTest withterms[] = {
        cmocka_unit_test(test_entities),
        cmocka_unit_test(test_random_bytes),
    };
    int rc = cmocka_run_group_tests_name("rules", rules, NULL, NULL);
    rc |= cmocka_run_group_tests_name("entities", withterms, s_setup, s_teardown);
    return rc;
}
