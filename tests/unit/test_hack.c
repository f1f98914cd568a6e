/*  test_hack.c: unit tests for worker/hack — missing and short reasoning,
 *  repeated conclusions and loops, unknown diseases / drugs / tests against the
 *  fixture terminology in tests/data/verify. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "worker/domain/hack.h"
#include "worker/domain/terms.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef ASSAY_TEST_DATA
#define ASSAY_TEST_DATA "tests/data"
#endif

typedef struct {
    assay_terms_t *terms;
    assay_hack_lexicon_t *lex;
} s_fix_t;

static int s_setup(void **state)
{
    char err[512];
    s_fix_t *f = calloc(1, sizeof *f);
    f->terms = assay_terms_load_dir(ASSAY_TEST_DATA "/verify", err, sizeof err);
    if (!f->terms) {
        fprintf(stderr, "fixture: %s\n", err);
        free(f);
        return -1;
    }
    f->lex = assay_hack_lexicon_new(f->terms);
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    s_fix_t *f = *state;
    assay_hack_lexicon_destroy(&f->lex);
    assay_hack_lexicon_destroy(&f->lex); /* safe twice */
    assay_terms_destroy(&f->terms);
    free(f);
    return 0;
}

static const char *const Q =
    "男，58岁，胸痛2小时，心电图示II、III、aVF导联ST段抬高，最可能的诊断是";
static const char *const R =
    "患者为老年男性，急性胸痛2小时，下壁导联ST段抬高，符合急性下壁心肌梗死的"
    "表现，可以排除心绞痛。";

static void s_check(s_fix_t *f, const char *q, const char *r, const char *a,
                    assay_hack_result_t *out)
{
    assay_hack_params_t p;
    assay_hack_params_default(&p);
    assay_hack_check(f->terms, f->lex, &p, q, q ? strlen(q) : 0, r, r ? strlen(r) : 0, a,
                     a ? strlen(a) : 0, out);
}

static void test_reasoning_length(void **state)
{
    s_fix_t *f = *state;
    assay_hack_result_t r;
    s_check(f, Q, R, "急性下壁心肌梗死", &r);
    assert_int_equal(r.flags, 0);
    assert_true(r.score == 1.0);
    s_check(f, Q, NULL, "急性下壁心肌梗死", &r);
    assert_int_equal(r.flags, ASSAY_HACK_NO_REASONING);
    assert_true(r.score == 0.0);
    s_check(f, Q, " \n。", "急性下壁心肌梗死", &r); /* punctuation is no reasoning */
    assert_int_equal(r.flags, ASSAY_HACK_NO_REASONING);
    s_check(f, Q, "是心梗。", "急性下壁心肌梗死", &r);
    assert_int_equal(r.flags, ASSAY_HACK_SHORT_REASONING);
    assert_int_equal(r.reasoning_chars, 3);
    assert_int_equal(r.expected_chars, 20);
    assert_true(r.score > 0.39 && r.score < 0.41);
    /* a long case asks for more, up to max_chars */
    char longq[6000] = "";
    for (int i = 0; i < 300; i++)
        strcat(longq, "患者胸痛。");
    s_check(f, longq, R, "急性下壁心肌梗死", &r);
    assert_int_equal(r.expected_chars, 120); /* 0.1 × 1200 content characters */
    assert_true(r.flags & ASSAY_HACK_SHORT_REASONING);
    assay_hack_params_t p;
    assay_hack_params_default(&p);
    p.max_chars = 30;
    assay_hack_check(f->terms, f->lex, &p, longq, strlen(longq), R, strlen(R), "x", 1, &r);
    assert_int_equal(r.expected_chars, 30);
    assert_int_equal(r.flags, 0);
}

static void test_repeats(void **state)
{
    s_fix_t *f = *state;
    assay_hack_result_t r;
    s_check(f, Q, R, "答案是B。答案是B。答案是B。", &r);
    assert_true(r.flags & ASSAY_HACK_REPEATED);
    assert_int_equal(r.repeat_count, 3);
    assert_memory_equal(r.repeat_text, "答案是B。", r.repeat_len);
    /* near copies of one conclusion across reasoning and answer */
    s_check(f, Q,
            "综上，答案是急性下壁心肌梗死。因此答案是急性下壁心肌梗死。所以答案是急性下壁心肌梗死",
            "答案是急性下壁心肌梗死。", &r);
    assert_true(r.flags & ASSAY_HACK_REPEATED);
    assert_true(r.repeat_count >= 3);
    /* twice is normal: once concluded in the reasoning, once answered */
    s_check(f, Q, R, "符合急性下壁心肌梗死的表现，可以排除心绞痛。", &r);
    assert_false(r.flags & ASSAY_HACK_REPEATED);
    /* a loop inside one sentence */
    s_check(f, Q, R, "好的好的好的好的好的好的", &r);
    assert_true(r.flags & ASSAY_HACK_REPEATED);
    assert_int_equal(r.loop_period, 2);
    assert_int_equal(r.loop_copies, 6);
    s_check(f, Q, R, "血压100/60mmHg，WBC 10000", &r); /* digits are not a loop */
    assert_false(r.flags & ASSAY_HACK_REPEATED);
}

static void test_unknown(void **state)
{
    s_fix_t *f = *state;
    assay_hack_result_t r;
    s_check(f, Q, R, "诊断为克里斯托弗综合征，建议做量子共振造影，口服莫格沙星", &r);
    assert_true(r.flags & ASSAY_HACK_UNKNOWN_ENTITY);
    assert_int_equal(r.n_unknown, 3);
    assert_memory_equal(r.unknown[0].text, "克里斯托弗综合征", r.unknown[0].len);
    assert_int_equal(r.unknown[0].kind, 'd');
    assert_memory_equal(r.unknown[1].text, "量子共振造影", r.unknown[1].len);
    assert_int_equal(r.unknown[1].kind, 't');
    assert_memory_equal(r.unknown[2].text, "莫格沙星", r.unknown[2].len);
    assert_int_equal(r.unknown[2].kind, 'r');
    assert_true(r.score == 0.5);
    /* known names, also as the tail of a longer mention or inside a product name */
    s_check(f, Q, R,
            "考虑为慢性冠心病合并2型糖尿病，可做冠状动脉造影，予阿莫西林及硝酸甘油片，"
            "注意并发症，这种病要及时看病",
            &r);
    assert_int_equal(r.n_unknown, 0);
    assert_true(r.n_mentions >= 4);
    assert_int_equal(r.flags, 0);
    /* without the lexicon a substance is known only by its exact name */
    assay_hack_params_t p;
    assay_hack_params_default(&p);
    const char *a = "予阿莫西林";
    assay_hack_check(f->terms, NULL, &p, Q, strlen(Q), R, strlen(R), a, strlen(a), &r);
    assert_int_equal(r.n_unknown, 1);
    assert_true(assay_hack_lexicon_size(f->lex) > 50);
    /* the reasoning is checked only when asked */
    s_check(f, Q, "也许是克里斯托弗综合征，但排除了。患者急性胸痛，下壁导联ST段抬高。",
            "急性下壁心肌梗死", &r);
    assert_int_equal(r.n_unknown, 0);
    p.check_reasoning = 1;
    const char *rr = "也许是克里斯托弗综合征，但排除了。患者急性胸痛，下壁导联ST段抬高。";
    assay_hack_check(f->terms, f->lex, &p, Q, strlen(Q), rr, strlen(rr), "急性下壁心肌梗死",
                     strlen("急性下壁心肌梗死"), &r);
    assert_int_equal(r.n_unknown, 1);
    /* no terminology: the check is skipped, not failed */
    assay_hack_params_default(&p);
    a = "克里斯托弗综合征";
    assay_hack_check(NULL, NULL, &p, Q, strlen(Q), R, strlen(R), a, strlen(a), &r);
    assert_int_equal(r.flags, 0);
}

static void test_report_and_garbage(void **state)
{
    s_fix_t *f = *state;
    assay_hack_result_t r;
    s_check(f, Q, "是。", "答案是B。答案是B。答案是B。克里斯托弗综合征", &r);
    json_t *j = assay_hack_report(&r);
    json_t *flags = json_object_get(j, "flags");
    assert_int_equal(json_array_size(flags), 3);
    assert_string_equal(json_string_value(json_array_get(flags, 0)), "short_reasoning");
    assert_true(json_is_true(json_object_get(j, "hacked")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "repeated"), "count")),
                     3);
    assert_int_equal(json_array_size(json_object_get(j, "unknown_entities")), 1);
    json_decref(j);
    /* invalid UTF-8 and a long degenerate answer */
    const char bad[] = {(char)0xE7, (char)0x97, (char)0x85, (char)0xFF, (char)0xE7, 0};
    s_check(f, bad, bad, bad, &r);
    assert_true(r.score >= 0 && r.score <= 1);
    size_t n = 300000;
    char *big = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        big[i] = "答案是B。"[i % 13];
    big[n] = '\0';
    s_check(f, Q, big, big, &r);
    assert_true(r.flags & ASSAY_HACK_REPEATED);
    free(big);
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
    s_fix_t *f = *state;
    uint64_t x = 0x2545F4914F6CDD1Dull;
    char a[600], b[600];
    for (int i = 0; i < 2000; i++) {
        size_t na = s_random_text(&x, a, sizeof a), nb = s_random_text(&x, b, sizeof b);
        assay_hack_params_t p;
        assay_hack_params_default(&p);
        p.check_reasoning = i & 1;
        assay_hack_result_t r;
        assay_hack_check(f->terms, f->lex, &p, a, na, b, nb, a, na, &r);
        assert_true(r.score >= 0 && r.score <= 1);
        json_decref(assay_hack_report(&r));
        x += (uint64_t)i;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reasoning_length),
        cmocka_unit_test(test_repeats),
        cmocka_unit_test(test_unknown),
        cmocka_unit_test(test_report_and_garbage),
        cmocka_unit_test(test_random_bytes),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
