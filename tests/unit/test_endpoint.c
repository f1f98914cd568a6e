/*  test_endpoint.c: unit tests for worker/endpoint (config sections, keys, redaction) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/config.h"
#include "worker/llm/endpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_load_full(void **state)
{
    (void)state;
    assay_config_t *cfg = assay_config_new();
    assay_config_set(cfg, "endpoint.o3.base_url", "https://api.example.com/v1");
    assay_config_set(cfg, "endpoint.o3.model", "o3-mini");
    assay_config_set(cfg, "endpoint.o3.style", "o3");
    assay_config_set(cfg, "endpoint.o3.price_in_per_mtok", "1.1");
    assay_config_set(cfg, "endpoint.o3.price_out_per_mtok", "4.4");
    assay_config_set(cfg, "endpoint.o3.rpm", "500");
    assay_config_set(cfg, "endpoint.o3.tpm", "200000");
    assay_config_set(cfg, "endpoint.o3.max_concurrency", "32");
    assay_config_set(cfg, "endpoint.o3.supports_n", "1");
    assay_config_set(cfg, "endpoint.o3.first_byte_timeout_ms", "30000");
    char err[256];
    assay_endpoint_t *ep = assay_endpoint_load(cfg, "o3", err, sizeof err);
    assert_non_null(ep);
    assert_string_equal(ep->url, "https://api.example.com/v1/chat/completions");
    assert_int_equal(ep->style, ASSAY_STYLE_O3);
    assert_int_equal(ep->rpm, 500);
    assert_int_equal(ep->tpm, 200000);
    assert_int_equal(ep->max_concurrency, 32);
    assert_int_equal(ep->supports_n, 1);
    assert_int_equal(ep->first_byte_timeout_ms, 30000);
    assert_int_equal(ep->connect_timeout_ms, 10000);
    assert_null(ep->api_key);
    assert_null(ep->auth_header);
    assay_endpoint_destroy(&ep);
    assay_endpoint_destroy(&ep);
    assay_config_destroy(&cfg);
}

static void test_errors(void **state)
{
    (void)state;
    assay_config_t *cfg = assay_config_new();
    char err[256];
    assert_null(assay_endpoint_load(cfg, "none", err, sizeof err));
    assert_non_null(strstr(err, "endpoint.none.base_url"));
    assay_config_set(cfg, "endpoint.x.base_url", "ftp://h/");
    assert_null(assay_endpoint_load(cfg, "x", err, sizeof err));
    assert_non_null(strstr(err, "http://"));
    assay_config_set(cfg, "endpoint.x.base_url", "http://h/v1");
    assert_null(assay_endpoint_load(cfg, "x", err, sizeof err));
    assert_non_null(strstr(err, "model"));
    assay_config_set(cfg, "endpoint.x.model", "m");
    assay_config_set(cfg, "endpoint.x.style", "gpt");
    assert_null(assay_endpoint_load(cfg, "x", err, sizeof err));
    assert_non_null(strstr(err, "style"));
    assay_config_set(cfg, "endpoint.x.style", "r1");
    assay_config_set(cfg, "endpoint.x.rpm", "lots");
    assert_null(assay_endpoint_load(cfg, "x", err, sizeof err));
    assert_non_null(strstr(err, "rpm"));
    assay_config_set(cfg, "endpoint.x.rpm", "60");
    assay_config_set(cfg, "endpoint.x.api_key_file", "/nonexistent/key");
    assert_null(assay_endpoint_load(cfg, "x", err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/key"));
    assay_config_destroy(&cfg);
}

static void test_keys_and_redaction(void **state)
{
    (void)state;
    char path[] = "/tmp/assay-key-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "sk-file-key-abcdef\n", 19), 19);
    close(fd);
    assay_config_t *cfg = assay_config_new();
    assay_config_set(cfg, "endpoint.k.base_url", "http://h/v1");
    assay_config_set(cfg, "endpoint.k.model", "m");
    assay_config_set(cfg, "endpoint.k.api_key_file", path);
    char err[256];
    assay_endpoint_t *ep = assay_endpoint_load(cfg, "k", err, sizeof err);
    assert_non_null(ep);
    assert_string_equal(ep->api_key, "sk-file-key-abcdef");
    assert_string_equal(ep->auth_header, "Authorization: Bearer sk-file-key-abcdef");
    char out[256];
    assay_endpoint_redact(ep, "bad key sk-file-key-abcdef given; header Bearer sk-other-1 end", out,
                          sizeof out);
    assert_null(strstr(out, "sk-file-key"));
    assert_null(strstr(out, "sk-other-1"));
    assert_non_null(strstr(out, "[redacted]"));
    assert_non_null(strstr(out, " end"));
    assay_endpoint_redact(ep, "0123456789", out, 5); /* truncation */
    assert_string_equal(out, "0123");
    assay_endpoint_destroy(&ep);

    /* the environment wins; an unset variable is an error naming it */
    setenv("ASSAY_TEST_EP_KEY", "sk-env", 1);
    assay_config_set(cfg, "endpoint.k.api_key_env", "ASSAY_TEST_EP_KEY");
    ep = assay_endpoint_load(cfg, "k", err, sizeof err);
    assert_string_equal(ep->api_key, "sk-env");
    assay_endpoint_destroy(&ep);
    unsetenv("ASSAY_TEST_EP_KEY");
    assert_null(assay_endpoint_load(cfg, "k", err, sizeof err));
    assert_non_null(strstr(err, "ASSAY_TEST_EP_KEY"));
    unlink(path);

    /* the table loads once and does not cache failures */
    assay_endpoints_t *t = assay_endpoints_new(cfg);
    assert_null(assay_endpoints_get(t, "k", err, sizeof err));
    setenv("ASSAY_TEST_EP_KEY", "sk-env2", 1);
    assay_endpoint_t *a = assay_endpoints_get(t, "k", err, sizeof err);
    assert_non_null(a);
    assert_ptr_equal(assay_endpoints_get(t, "k", err, sizeof err), a);
    assay_endpoints_destroy(&t);
    assay_config_destroy(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_full),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_keys_and_redaction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
