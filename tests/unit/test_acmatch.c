/*  test_acmatch.c: unit tests for worker/acmatch (Aho-Corasick over UTF-8 bytes) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/util.h"
#include "worker/domain/acmatch.h"

#include <stdlib.h>
#include <string.h>

static assay_acmatch_t *s_build(const char *const *pats, size_t n)
{
    assay_acmatch_builder_t *b = assay_acmatch_builder_new();
    for (size_t i = 0; i < n; i++) {
        int64_t id = assay_acmatch_builder_add(b, pats[i], strlen(pats[i]));
        assert_true(id >= 0);
    }
    return assay_acmatch_builder_finish(&b);
}

typedef struct {
    assay_acmatch_hit_t hits[64];
    size_t n;
} s_hits_t;

static int s_collect(void *arg, const assay_acmatch_hit_t *hit)
{
    s_hits_t *h = arg;
    if (h->n < 64) h->hits[h->n++] = *hit;
    return 0;
}

static void test_ids(void **state)
{
    (void)state;
    assay_acmatch_builder_t *b = assay_acmatch_builder_new();
    assert_int_equal(assay_acmatch_builder_add(b, "高血压", strlen("高血压")), 0);
    assert_int_equal(assay_acmatch_builder_add(b, "高血", strlen("高血")), 1);
    assert_int_equal(assay_acmatch_builder_add(b, "高血压", strlen("高血压")), 0); /* repeated */
    assert_int_equal(assay_acmatch_builder_add(b, "", 0), -1);
    assay_acmatch_t *m = assay_acmatch_builder_finish(&b);
    assert_null(b);
    assert_int_equal(assay_acmatch_pattern_count(m), 2);
    assert_int_equal(assay_acmatch_pattern_len(m, 0), 9);
    assert_int_equal(assay_acmatch_pattern_len(m, 7), 0);
    assert_true(assay_acmatch_memory(m) > 0);
    assay_acmatch_destroy(&m);
    assay_acmatch_destroy(&m);
    assay_acmatch_builder_destroy(&b);
}

static void test_all_matches(void **state)
{
    (void)state;
    /* the classic he/she/his/hers set, then overlapping Chinese names */
    const char *pats[] = {"he", "she", "his", "hers"};
    assay_acmatch_t *m = s_build(pats, 4);
    s_hits_t h = {.n = 0};
    const char *text = "ushers";
    assert_int_equal(assay_acmatch_scan(m, text, strlen(text), 0, s_collect, &h), 3);
    /* she (1..4) and he (2..4) end at 4, then hers (2..6) */
    assert_int_equal(h.hits[0].pattern, 1);
    assert_int_equal(h.hits[0].start, 1);
    assert_int_equal(h.hits[1].pattern, 0);
    assert_int_equal(h.hits[1].start, 2);
    assert_int_equal(h.hits[2].pattern, 3);
    assert_int_equal(h.hits[2].end, 6);
    assay_acmatch_destroy(&m);

    const char *zh[] = {"冠状动脉", "冠状动脉粥样硬化", "粥样硬化", "心脏病", "硬化性心脏病"};
    m = s_build(zh, 5);
    h.n = 0;
    text = "冠状动脉粥样硬化性心脏病";
    assay_acmatch_scan(m, text, strlen(text), 0, s_collect, &h);
    assert_int_equal(h.n, 5);
    assay_acmatch_destroy(&m);
}

static void test_longest(void **state)
{
    (void)state;
    const char *pats[] = {"上呼吸道", "上呼吸道感染", "感染", "呼吸道", "肺炎", "重症肺炎", "copd"};
    assay_acmatch_t *m = s_build(pats, 7);
    assay_acmatch_hit_t out[8];
    const char *text = "1.上呼吸道感染 2.重症肺炎伴感染";
    size_t n = assay_acmatch_longest(m, text, strlen(text), 0, out, 8);
    assert_int_equal(n, 3);
    assert_int_equal(out[0].pattern, 1); /* 上呼吸道感染, not 上呼吸道 + 感染 */
    assert_int_equal(out[0].start, 2);
    assert_int_equal(out[1].pattern, 5); /* 重症肺炎, not 肺炎 */
    assert_int_equal(out[2].pattern, 2);
    assert_memory_equal(text + out[2].start, "感染", out[2].end - out[2].start);
    /* truncated output still counts */
    assert_int_equal(assay_acmatch_longest(m, text, strlen(text), 0, out, 1), 3);
    assert_int_equal(assay_acmatch_longest(m, "", 0, 0, out, 8), 0);
    assert_int_equal(assay_acmatch_longest(m, "无匹配", strlen("无匹配"), 0, out, 8), 0);

    /* ASCII word boundaries: copd inside a longer word does not count */
    text = "慢阻肺copd加重 notcopdx";
    n = assay_acmatch_longest(m, text, strlen(text), ASSAY_AC_ASCII_WORDS, out, 8);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].pattern, 6);
    n = assay_acmatch_longest(m, text, strlen(text), 0, out, 8);
    assert_int_equal(n, 2);
    assay_acmatch_destroy(&m);
}

static void test_many_patterns(void **state)
{
    (void)state;
    /* a brute-force cross-check on generated patterns over a small alphabet */
    assay_acmatch_builder_t *b = assay_acmatch_builder_new();
    char pats[300][8];
    uint64_t seed = 12345;
    for (int i = 0; i < 300; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        int len = 1 + (int)((seed >> 33) % 5);
        for (int j = 0; j < len; j++)
            pats[i][j] = (char)('a' + ((seed >> (10 + 3 * j)) % 3));
        pats[i][len] = '\0';
        assay_acmatch_builder_add(b, pats[i], (size_t)len);
    }
    assay_acmatch_t *m = assay_acmatch_builder_finish(&b);
    const char *text = "abcabcaabbccabacbcacbbbaccab";
    size_t tl = strlen(text);
    s_hits_t h = {.n = 0};
    size_t got = assay_acmatch_scan(m, text, tl, 0, s_collect, &h);
    /* count distinct (start, end) pairs that equal some pattern */
    size_t want = 0;
    for (size_t s = 0; s < tl; s++) {
        for (size_t e = s + 1; e <= tl && e - s <= 5; e++) {
            for (int i = 0; i < 300; i++) {
                if (strlen(pats[i]) == e - s && memcmp(pats[i], text + s, e - s) == 0) {
                    want++;
                    break;
                }
            }
        }
    }
    assert_int_equal(got, want);
    assay_acmatch_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_all_matches),
        cmocka_unit_test(test_longest),
        cmocka_unit_test(test_many_patterns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
