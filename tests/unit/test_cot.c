/*  test_cot.c: unit tests for worker/cot (reasoning steps and their actions) and
 *  the sentence splitter of worker/textscan it rests on */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "worker/domain/cot.h"
#include "worker/domain/textscan.h"

#include <stdint.h>
#include <string.h>

static assay_cot_action_t s_one(const char *s)
{
    float conf;
    return assay_cot_classify(s, strlen(s), &conf);
}

static void test_sentences(void **state)
{
    (void)state;
    const char *t = "体温37.5℃。患者考虑肺炎！\n\n  1. 首先看题干; The answer is B. e.g. fine";
    assay_textscan_span_t sp[16];
    size_t n = assay_textscan_sentences(t, strlen(t), sp, 16);
    assert_int_equal(n, 5);
    assert_memory_equal(t + sp[0].off, "体温37.5℃。", sp[0].len);
    assert_memory_equal(t + sp[1].off, "患者考虑肺炎！", sp[1].len);
    assert_memory_equal(t + sp[2].off, "1. 首先看题干;", sp[2].len);
    assert_memory_equal(t + sp[3].off, "The answer is B.", sp[3].len);
    /* cap smaller than the count: the total is still reported */
    assert_int_equal(assay_textscan_sentences(t, strlen(t), sp, 2), 5);
    assert_int_equal(assay_textscan_sentences("", 0, sp, 16), 0);
    assert_int_equal(assay_textscan_sentences(" \n 。", 5, sp, 16), 1);
}

static void test_similarity(void **state)
{
    (void)state;
    assert_true(assay_textscan_similarity("糖尿病", 9, "糖尿病", 9) == 1.0);
    double pc = assay_textscan_similarity("糖尿病", 9, "2型糖尿病", 13);
    assert_true(pc > 0.6 && pc < 0.7); /* 2·2/(2+4) */
    assert_true(assay_textscan_similarity("肺炎", 6, "胃溃疡", 9) == 0.0);
    /* full-width, case and punctuation do not matter */
    assert_true(assay_textscan_similarity("ＨＩＶ感染", strlen("ＨＩＶ感染"), "hiv 感染",
                                          strlen("hiv 感染")) == 1.0);
    assert_true(assay_textscan_similarity("", 0, "a", 1) == 0.0);
    /* malformed UTF-8 is scanned, not trusted */
    const char bad[] = {(char)0xE5, (char)0x8F, 'x', (char)0xFF, 0};
    uint32_t k[8];
    assert_int_equal(assay_textscan_key(bad, 4, k, 8), 1);
    assert_int_equal(k[0], 'x');
}

static void test_classify(void **state)
{
    (void)state;
    assert_int_equal(s_one("题干给出患者男性，45岁，反复胸痛3天。"), ASSAY_COT_RESTATE);
    assert_int_equal(s_one("心绞痛是指冠状动脉供血不足引起的发作性胸痛。"), ASSAY_COT_RECALL);
    assert_int_equal(s_one("我怀疑是急性心肌梗死。"), ASSAY_COT_HYPOTHESISE);
    assert_int_equal(s_one("心电图无ST段抬高，可以排除急性心肌梗死。"), ASSAY_COT_EXCLUDE);
    assert_int_equal(s_one("这与不稳定型心绞痛的表现相吻合。"), ASSAY_COT_VERIFY);
    assert_int_equal(s_one("等等，我再想想，刚才忽略了年龄因素。"), ASSAY_COT_REFLECT);
    assert_int_equal(s_one("综上所述，答案是C。"), ASSAY_COT_SUMMARISE);
    assert_int_equal(s_one("Wait, let me reconsider the ECG."), ASSAY_COT_REFLECT);
    assert_int_equal(s_one("We can rule out pneumonia."), ASSAY_COT_EXCLUDE);
    /* 不符合 is an exclusion, not a verification */
    assert_int_equal(s_one("该表现不符合肺栓塞。"), ASSAY_COT_EXCLUDE);
    assert_string_equal(assay_cot_action_name(ASSAY_COT_VERIFY), "verify");
    assert_string_equal(assay_cot_action_name(99), "unknown");
}

static void test_label_and_stats(void **state)
{
    (void)state;
    const char *q = "男，65岁，突发胸骨后压榨性疼痛2小时，最可能的诊断是";
    const char *cot = "男，65岁，突发胸骨后压榨性疼痛2小时。\n"
                      "1.\n"
                      "急性心肌梗死典型表现为持续性胸骨后疼痛。\n"
                      "可能是急性心肌梗死，也可能是主动脉夹层。\n"
                      "疼痛呈压榨性而非撕裂样，可以排除主动脉夹层。\n"
                      "等等，还要考虑肺栓塞？\n"
                      "无呼吸困难和咯血，不太可能是肺栓塞。\n"
                      "这与急性心肌梗死的表现相符合。\n"
                      "综上，答案是急性心肌梗死。";
    assay_cot_step_t st[32];
    size_t n = assay_cot_label(cot, strlen(cot), q, strlen(q), st, 32);
    assert_int_equal(n, 8); /* the bare "1." was merged */
    assert_int_equal(st[0].action, ASSAY_COT_RESTATE);
    assert_int_equal(st[1].action, ASSAY_COT_RECALL);
    assert_int_equal(st[2].action, ASSAY_COT_HYPOTHESISE);
    assert_int_equal(st[3].action, ASSAY_COT_EXCLUDE);
    assert_int_equal(st[4].action, ASSAY_COT_REFLECT);
    assert_int_equal(st[5].action, ASSAY_COT_EXCLUDE);
    assert_int_equal(st[6].action, ASSAY_COT_VERIFY);
    assert_int_equal(st[7].action, ASSAY_COT_SUMMARISE);
    assay_cot_stats_t s;
    assay_cot_stats(st, n, &s);
    assert_int_equal(s.steps, 8);
    assert_int_equal(s.distinct_actions, 7);
    assert_int_equal(s.hypotheses, 3);
    assert_int_equal(s.reflections, 1);
    assert_true(s.difficulty > 0.5 && s.difficulty <= 1.0);

    /* a one-line answer is easy; empty text has no steps */
    const char *flat = "答案是C。";
    n = assay_cot_label(flat, strlen(flat), NULL, 0, st, 32);
    assert_int_equal(n, 1);
    assay_cot_stats(st, n, &s);
    assert_true(s.difficulty < 0.15);
    assert_int_equal(assay_cot_label("", 0, NULL, 0, st, 32), 0);

    /* more steps than room: the count is reported, the array not overrun */
    char big[4000] = "";
    for (int i = 0; i < 100; i++)
        strcat(big, "考虑肺炎。");
    n = assay_cot_label(big, strlen(big), NULL, 0, st, 4);
    assert_int_equal(n, 100);
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
    (void)state;
    uint64_t x = 0xDA942042E4DD58B5ull;
    char a[600];
    assay_cot_step_t st[8];
    for (int i = 0; i < 3000; i++) {
        size_t n = s_random_text(&x, a, sizeof a);
        size_t total = assay_cot_label(a, n, a, n / 2, st, 8);
        size_t k = total < 8 ? total : 8;
        for (size_t j = 0; j < k; j++)
            assert_true(st[j].off + st[j].len <= n && st[j].action < ASSAY_COT_ACTION_COUNT);
        assay_cot_stats_t s;
        assay_cot_stats(st, k, &s);
        assert_true(s.difficulty >= 0 && s.difficulty <= 1);
        x += (uint64_t)i;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sentences),
        cmocka_unit_test(test_similarity),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_label_and_stats),
        cmocka_unit_test(test_random_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
