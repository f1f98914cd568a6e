/*  test_verify_real.c: worker/verify on the real data directory (ASSAY_DATA_DIR,
 *  default ../shared/data): synonym, parent/child, sibling and unrelated pairs on the
 *  full terminology, and the gold letters of every real exam item read back the
 *  ways models write them. Without that directory the program exits 77, which ctest
 *  reports as skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "worker/domain/terms.h"
#include "worker/domain/verify.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef ASSAY_REAL_DATA
#define ASSAY_REAL_DATA "../shared/data"
#endif

static char s_real[1024];

static int s_setup_real(void **state)
{
    char err[512];
    *state = assay_terms_load_dir(s_real, err, sizeof err);
    if (!*state) fprintf(stderr, "real data: %s\n", err);
    return *state ? 0 : -1;
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

static void test_real_pairs(void **state)
{
    const assay_terms_t *t = *state;
    double syn = s_score(t, "冠状动脉粥样硬化性心脏病", "冠心病");
    double syn2 = s_score(t, "冠心病", "冠状动脉粥样硬化性心脏病");
    double pc1 = s_score(t, "糖尿病", "2型糖尿病");
    double pc2 = s_score(t, "肺炎", "大叶性肺炎");
    double pc3 = s_score(t, "急性心肌梗死", "急性前壁心肌梗死");
    double sib1 = s_score(t, "2型糖尿病", "1型糖尿病");
    double sib2 = s_score(t, "急性前壁心肌梗死", "急性下壁心肌梗死");
    double sib3 = s_score(t, "胃溃疡", "十二指肠溃疡");
    double un1 = s_score(t, "急性阑尾炎", "肺炎");
    double un2 = s_score(t, "胃溃疡", "白内障");
    double un3 = s_score(t, "2型糖尿病", "急性阑尾炎");
    fprintf(stderr, "real: syn %.3f %.3f pc %.3f %.3f %.3f sib %.3f %.3f %.3f un %.3f %.3f %.3f\n",
            syn, syn2, pc1, pc2, pc3, sib1, sib2, sib3, un1, un2, un3);
    assert_true(syn >= 0.95 && syn2 >= 0.95);
    assert_true(pc1 >= 0.55 && pc2 >= 0.55 && pc3 >= 0.55);
    double pc_min = pc1 < pc2 ? pc1 : pc2;
    if (pc3 < pc_min) pc_min = pc3;
    assert_true(sib1 < pc_min && sib2 < pc_min && sib3 < pc_min);
    assert_true(sib1 > 0.25 && sib2 > 0.25 && sib3 > 0.25);
    assert_true(un1 <= 0.1 && un2 <= 0.1 && un3 <= 0.1);
}

/* every real exam item: its gold letters written the ways models write them are
 * read back exactly, and its option text alone is recognised */
static void test_real_mcq(void **state)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/exam_mcq.jsonl", s_real);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assay_verify_params_t p;
    assay_verify_params_default(&p);
    char line[65536];
    size_t items = 0, exact = 0, by_text = 0, single = 0;
    while (fgets(line, sizeof line, f)) {
        json_t *o = json_loads(line, 0, NULL);
        if (!o) continue;
        const char *gold = json_string_value(json_object_get(o, "answer"));
        json_t *jo = json_object_get(o, "options");
        const char *opts[ASSAY_VERIFY_MAX_OPTIONS] = {NULL};
        size_t n = 0;
        const char *k;
        json_t *v;
        json_object_foreach(jo, k, v)
        {
            if (strlen(k) == 1 && k[0] >= 'A' && k[0] < 'A' + ASSAY_VERIFY_MAX_OPTIONS) {
                opts[k[0] - 'A'] = json_string_value(v);
                if ((size_t)(k[0] - 'A') + 1 > n) n = (size_t)(k[0] - 'A') + 1;
            }
        }
        /* a few rows carry no usable gold letters (e.g. "nan") */
        if (!gold || n == 0 || assay_verify_letters(gold, strlen(gold)) == 0) {
            json_decref(o);
            continue;
        }
        items++;
        char resp[4][1024];
        char letters[16];
        size_t gl = 0;
        for (const char *c = gold; *c && gl < 8; c++)
            if (*c >= 'A' && *c <= 'H') letters[gl++] = *c;
        letters[gl] = '\0';
        const char *first = opts[letters[0] - 'A'] ? opts[letters[0] - 'A'] : "";
        snprintf(resp[0], sizeof resp[0], "答案：%s", letters);
        snprintf(resp[1], sizeof resp[1], "正确答案是 %c．%s", letters[0], first);
        snprintf(resp[2], sizeof resp[2], "根据以上分析，本题应选%s。", letters);
        snprintf(resp[3], sizeof resp[3], "%s", letters);
        int ok = 1;
        for (int i = 0; i < 4; i++) {
            assay_verify_result_t r;
            const char *use_gold = i == 1 ? (char[]){letters[0], 0} : gold;
            if (assay_verify_mcq(&p, use_gold, resp[i], strlen(resp[i]), opts, n, &r) != 0 ||
                !r.correct)
                ok = 0;
        }
        exact += ok;
        if (gl == 1 && strlen(first) >= 2) {
            single++;
            char r5[1200];
            snprintf(r5, sizeof r5, "我认为是%s", first);
            assay_verify_result_t r;
            if (assay_verify_mcq(&p, letters, r5, strlen(r5), opts, n, &r) == 0 && r.correct)
                by_text++;
        }
        json_decref(o);
    }
    fclose(f);
    fprintf(stderr, "real mcq: %zu items, letters exact %zu, option text %zu/%zu\n", items, exact,
            by_text, single);
    assert_true(items > 1000);
    assert_int_equal(exact, items);
    /* an option text inside another option's text is ambiguous: most are not */
    assert_true((double)by_text >= 0.9 * (double)single);
}

int main(void)
{
    const char *dir = getenv("ASSAY_DATA_DIR");
    snprintf(s_real, sizeof s_real, "%s", dir && *dir ? dir : ASSAY_REAL_DATA);
    char path[1100];
    struct stat st;
    snprintf(path, sizeof path, "%s/icd10.tsv", s_real);
    if (stat(path, &st) != 0 || (snprintf(path, sizeof path, "%s/exam_mcq.jsonl", s_real),
                                 stat(path, &st) != 0)) {
        printf("SKIP test_verify_real: no real data in \"%s\" (set ASSAY_DATA_DIR)\n", s_real);
        return 77;
    }
    const struct CMUnitTest real[] = {
        cmocka_unit_test(test_real_pairs),
        cmocka_unit_test(test_real_mcq),
    };
    return cmocka_run_group_tests_name("real", real, s_setup_real, s_teardown);
}
