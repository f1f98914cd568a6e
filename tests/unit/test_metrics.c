/*  test_metrics.c: unit tests for common/metrics (registry, Prometheus text,
 *  label escaping, collectors, the HTTP endpoints and address errors) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/error.h"
#include "common/metrics.h"
#include "common/util.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_render(void **state)
{
    (void)state;
    assay_metrics_t *m = assay_metrics_new();
    assay_metrics_declare(m, "t_total", ASSAY_METRIC_COUNTER, "a counter", NULL, 0);
    assay_metrics_declare(m, "t_gauge", ASSAY_METRIC_GAUGE, "a gauge", NULL, 0);
    const double b[] = {0.1, 1, 10};
    assay_metrics_declare(m, "t_seconds", ASSAY_METRIC_HISTOGRAM, "a histogram", b, 3);
    assay_metrics_declare(m, "t_total", ASSAY_METRIC_GAUGE, "declared twice", NULL, 0);
    char l[128];
    assay_metrics_add(m, "t_total", assay_metrics_labels(l, sizeof l, "kind", "noop", NULL), 2);
    assay_metrics_add(m, "t_total", l, 3);
    assay_metrics_set(m, "t_gauge", "", 1.5);
    assay_metrics_observe(m, "t_seconds", "", 0.05);
    assay_metrics_observe(m, "t_seconds", "", 0.5);
    assay_metrics_observe(m, "t_seconds", "", 100);
    assay_metrics_add(m, "undeclared", "", 1); /* ignored, no crash */
    assert_true(assay_metrics_get(m, "t_total", l) == 5);
    assert_true(assay_metrics_get(m, "t_seconds", "") == 3);
    char *text = assay_metrics_render(m);
    assert_non_null(strstr(text, "# HELP t_total a counter\n# TYPE t_total counter\n"));
    assert_non_null(strstr(text, "t_total{kind=\"noop\"} 5\n"));
    assert_non_null(strstr(text, "t_gauge 1.5\n"));
    assert_non_null(strstr(text, "t_seconds_bucket{le=\"0.1\"} 1\n"));
    assert_non_null(strstr(text, "t_seconds_bucket{le=\"1\"} 2\n"));
    assert_non_null(strstr(text, "t_seconds_bucket{le=\"10\"} 2\n"));
    assert_non_null(strstr(text, "t_seconds_bucket{le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(text, "t_seconds_sum 100.55\n"));
    assert_non_null(strstr(text, "t_seconds_count 3\n"));
    assert_null(strstr(text, "undeclared"));
    assert_null(strstr(text, "declared twice"));
    free(text);
    assay_metrics_destroy(&m);
    assay_metrics_destroy(&m);
}

static void test_labels(void **state)
{
    (void)state;
    char l[64];
    assay_metrics_labels(l, sizeof l, "a", "x\"y\\z\nw", "b", "2", NULL);
    assert_string_equal(l, "a=\"x\\\"y\\\\z\\nw\",b=\"2\"");
    /* too small: cut, still terminated */
    char small[8];
    assay_metrics_labels(small, sizeof small, "kind", "generate", NULL);
    assert_true(strlen(small) < sizeof small);
}

static void test_many_series(void **state)
{
    (void)state;
    assay_metrics_t *m = assay_metrics_new();
    assay_metrics_declare(m, "s", ASSAY_METRIC_GAUGE, "many", NULL, 0);
    char l[64], v[16];
    for (int i = 0; i < 5000; i++) {
        snprintf(v, sizeof v, "%d", i);
        assay_metrics_set(m, "s", assay_metrics_labels(l, sizeof l, "i", v, NULL), i);
    }
    for (int i = 0; i < 5000; i += 97) {
        snprintf(v, sizeof v, "%d", i);
        assert_true(assay_metrics_get(m, "s", assay_metrics_labels(l, sizeof l, "i", v, NULL)) == i);
    }
    assay_metrics_destroy(&m);
}

static void s_collect(assay_buf_t *out, void *arg)
{
    assay_buf_addf(out, "extra_metric %d\n", *(int *)arg);
}

static size_t s_sink(char *p, size_t size, size_t n, void *arg)
{
    assay_buf_add(arg, p, size * n);
    return size * n;
}

static long s_get(int port, const char *path, assay_buf_t *body)
{
    CURL *c = curl_easy_init();
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    assay_buf_reset(body);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    long code = 0;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    assay_buf_addc(body, '\0');
    return code;
}

static void test_http(void **state)
{
    (void)state;
    char err[256];
    assay_metrics_t *m = assay_metrics_new();
    assert_int_equal(assay_metrics_serve(m, "localhost", err, sizeof err), ASSAY_EINVAL);
    assert_non_null(strstr(err, "expected HOST:PORT"));
    assert_int_equal(assay_metrics_serve(m, "example.org:9100", err, sizeof err), ASSAY_EINVAL);
    assert_non_null(strstr(err, "IPv4"));
    assert_int_equal(assay_metrics_serve(m, "127.0.0.1:99999", err, sizeof err), ASSAY_EINVAL);
    int extra = 7, port = 0, rc = -1;
    assay_metrics_declare(m, "up", ASSAY_METRIC_GAUGE, "up", NULL, 0);
    assay_metrics_set(m, "up", "", 1);
    assay_metrics_collector(m, s_collect, &extra);
    for (int tries = 0; tries < 20 && rc != 0; tries++) {
        port = 20000 + (int)(assay_clock_us() % 30000);
        char addr[32];
        snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
        rc = assay_metrics_serve(m, addr, err, sizeof err);
    }
    assert_int_equal(rc, 0);
    assay_buf_t body;
    assay_buf_init(&body);
    assert_int_equal(s_get(port, "/metrics", &body), 200);
    assert_non_null(strstr(body.data, "up 1\n"));
    assert_non_null(strstr(body.data, "extra_metric 7\n"));
    assert_int_equal(s_get(port, "/healthz", &body), 200);
    assert_int_equal(s_get(port, "/readyz", &body), 503);
    assert_non_null(strstr(body.data, "starting"));
    assay_metrics_set_ready(m, 1, "");
    assert_int_equal(s_get(port, "/readyz", &body), 200);
    assert_int_equal(s_get(port, "/other", &body), 404);
    assay_buf_release(&body);
    assay_metrics_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_many_series),
        cmocka_unit_test(test_http),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
