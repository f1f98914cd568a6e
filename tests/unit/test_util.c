/*  test_util.c: unit tests for common/util and common/error */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/error.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

static void test_buf(void **state)
{
    (void)state;
    assay_buf_t b = ASSAY_BUF_INIT;
    assay_buf_adds(&b, "hello");
    assay_buf_addc(&b, ' ');
    assay_buf_addf(&b, "%d-%s", 42, "x");
    assert_string_equal(b.data, "hello 42-x");
    assert_int_equal(b.len, 10);
    for (int i = 0; i < 1000; i++) assay_buf_addf(&b, "%04d", i);
    assert_int_equal(b.len, 10 + 4000);
    assert_memory_equal(b.data + b.len - 4, "0999", 4);
    size_t len;
    char *s = assay_buf_detach(&b, &len);
    assert_int_equal(len, 4010);
    assert_null(b.data);
    free(s);
    assay_buf_release(&b);
}

static void test_sprintf(void **state)
{
    (void)state;
    char *s = assay_sprintf("%s:%d", "a", 7);
    assert_string_equal(s, "a:7");
    free(s);
    s = assay_sprintf("%s", "");
    assert_string_equal(s, "");
    free(s);
}

static void test_utf8(void **state)
{
    (void)state;
    const char *ok = "冠心病 COPD";
    assert_true(assay_utf8_valid(ok, strlen(ok)));
    assert_false(assay_utf8_valid("\xe5\x86", 2));         /* truncated */
    assert_false(assay_utf8_valid("\xc0\xaf", 2));         /* overlong */
    assert_false(assay_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(assay_utf8_valid("\xff", 1));
    assert_true(assay_utf8_valid("", 0));
}

static void test_sha256(void **state)
{
    (void)state;
    char hex[65];
    assay_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_errors(void **state)
{
    (void)state;
    assert_true(ASSAY_EINVAL < 0);
    assert_true(ASSAY_EPROTO < 0 && ASSAY_EPROTO != ASSAY_EINVAL);
    assert_string_equal(assay_err_name(ASSAY_EPROTO), "EPROTO");
    assert_string_equal(assay_strerror(ASSAY_ETOOBIG), "message too large");
    assert_string_equal(assay_strerror(12345), "unknown error");
    assert_string_equal(assay_strerror(0), "success");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf),    cmocka_unit_test(test_sprintf),
        cmocka_unit_test(test_utf8),   cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
