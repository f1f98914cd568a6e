/*  test_prompt.c: unit tests for worker/prompt (template parsing and rendering) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "worker/llm/prompt.h"

/* the shipped templates: from the build, else relative to the source tree (the
 * test runs there) */
#ifndef ASSAY_PROMPTS_DIR
#ifdef ASSAY_SOURCE_DIR
#define ASSAY_PROMPTS_DIR ASSAY_SOURCE_DIR "/ops/prompts"
#else
#define ASSAY_PROMPTS_DIR "ops/prompts"
#endif
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s_tpl =
    "# answer_mcq: test\n# version: 3\n@system\nsys {{name?}}\n\n@user\n"
    "<question>{{ question }}</question>\n{{options}}\n{{meta.source}} {{n}}\n";

static void test_parse_render(void **state)
{
    (void)state;
    char err[256];
    assay_prompt_t *p =
        assay_prompt_parse("answer_mcq", s_tpl, strlen(s_tpl), "t.txt", err, sizeof err);
    assert_non_null(p);
    assert_int_equal(assay_prompt_version(p), 3);
    assert_int_equal(strlen(assay_prompt_hash(p)), 64);
    json_t *item = json_pack("{s:s,s:{s:s,s:s},s:{s:s},s:i}", "question", "Q?", "options", "B",
                             "two", "A", "one", "meta", "source", "exam", "n", 5);
    json_t *msgs = assay_prompt_render(p, item, err, sizeof err);
    assert_non_null(msgs);
    assert_int_equal(json_array_size(msgs), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 0), "role")),
                        "system");
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 0), "content")),
                        "sys");
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 1), "content")),
                        "<question>Q?</question>\nA. one\nB. two\nexam 5");
    json_decref(msgs);
    json_object_del(item, "options");
    assert_null(assay_prompt_render(p, item, err, sizeof err));
    assert_non_null(strstr(err, "\"options\""));
    assert_non_null(strstr(err, "answer_mcq"));
    json_decref(item);
    assay_prompt_destroy(&p);
    assay_prompt_destroy(&p);
}

static void test_errors(void **state)
{
    (void)state;
    char err[256];
    const char *nover = "@user\nhi\n";
    assert_null(assay_prompt_parse("x", nover, strlen(nover), "a.txt", err, sizeof err));
    assert_non_null(strstr(err, "version"));
    const char *badver = "# version: zero\n@user\nhi\n";
    assert_null(assay_prompt_parse("x", badver, strlen(badver), "a.txt", err, sizeof err));
    assert_non_null(strstr(err, "a.txt:1"));
    const char *open = "# version: 1\n@user\nhi {{name\n";
    assert_null(assay_prompt_parse("x", open, strlen(open), "a.txt", err, sizeof err));
    assert_non_null(strstr(err, "a.txt:3"));
    const char *stray = "# version: 1\nhello\n@user\nhi\n";
    assert_null(assay_prompt_parse("x", stray, strlen(stray), "a.txt", err, sizeof err));
    assert_non_null(strstr(err, "before the first"));
    assert_null(assay_prompt_parse("../etc", s_tpl, strlen(s_tpl), "a.txt", err, sizeof err));
    assert_null(assay_prompt_load("/nonexistent", "answer_mcq", err, sizeof err));
    assert_non_null(strstr(err, "could not open"));
}

static void test_shipped_templates(void **state)
{
    (void)state;
    char err[256];
    assay_prompts_t *t = assay_prompts_new(ASSAY_PROMPTS_DIR);
    const char *names[] = {"answer_mcq", "answer_case", "answer_open"};
    for (size_t i = 0; i < 3; i++) {
        const assay_prompt_t *p = assay_prompts_get(t, names[i], err, sizeof err);
        if (!p) fail_msg("%s", err);
        assert_true(assay_prompt_version(p) >= 1);
        assert_ptr_equal(assay_prompts_get(t, names[i], err, sizeof err), p);
    }
    assay_prompts_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_render),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_shipped_templates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
