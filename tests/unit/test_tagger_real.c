/*  test_tagger_real.c: worker/tagger's intent rules on the real labelled consumer
 *  questions (health_questions.jsonl in ASSAY_DATA_DIR, default ../shared/data).
 *  Without that file the program exits 77, which ctest reports as skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "worker/domain/tagger.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef ASSAY_REAL_DATA
#define ASSAY_REAL_DATA "../shared/data"
#endif

static char s_path[1100];

static const char *s_intent(const char *q)
{
    return assay_tagger_intent_name(assay_tagger_intent(q, strlen(q), NULL));
}

/* the cue rules on the labelled consumer questions (KUAKE-QIC) */
static void test_real_intent(void **state)
{
    (void)state;
    FILE *f = fopen(s_path, "r");
    assert_non_null(f);
    char line[65536];
    size_t n = 0, ok = 0;
    while (fgets(line, sizeof line, f)) {
        json_t *o = json_loads(line, 0, NULL);
        const char *lab = json_string_value(json_object_get(o, "intent_label"));
        const char *q = json_string_value(json_object_get(o, "question"));
        if (lab && q) {
            n++;
            ok += strcmp(s_intent(q), lab) == 0;
        }
        json_decref(o);
    }
    fclose(f);
    fprintf(stderr, "real intent: %zu of %zu (%.3f)\n", ok, n, n ? (double)ok / (double)n : 0);
    assert_true(n > 1000);
    assert_true((double)ok >= 0.58 * (double)n);
}

int main(void)
{
    const char *dir = getenv("ASSAY_DATA_DIR");
    snprintf(s_path, sizeof s_path, "%s/health_questions.jsonl",
             dir && *dir ? dir : ASSAY_REAL_DATA);
    struct stat st;
    if (stat(s_path, &st) != 0) {
        printf("SKIP test_tagger_real: no \"%s\" (set ASSAY_DATA_DIR)\n", s_path);
        return 77;
    }
    const struct CMUnitTest real[] = {
        cmocka_unit_test(test_real_intent),
    };
    return cmocka_run_group_tests_name("real", real, NULL, NULL);
}
