/*  test_http.c: unit tests for common/http without a server: argument errors,
 *  connection refused, the first-byte timeout (a socket that accepts and never
 *  answers), timers, and cancel. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/error.h"
#include "common/http.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
    int calls;
    int err;
    int timeout_kind;
    char msg[256];
} s_result_t;

static void s_done(const assay_http_response_t *r, void *arg)
{
    s_result_t *res = arg;
    res->calls++;
    res->err = r->err;
    res->timeout_kind = r->timeout_kind;
    snprintf(res->msg, sizeof res->msg, "%s", r->errmsg);
}

/* a listening socket on 127.0.0.1 that nobody accepts from; returns its port */
static int s_silent_listener(int *fd_out)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 16), 0);
    socklen_t len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    *fd_out = fd;
    return ntohs(sa.sin_port);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    assay_http_t *h = assay_http_new(NULL);
    s_result_t res = {0};
    assay_http_request_t rq = {0};
    rq.url = "ftp://example.invalid/";
    rq.on_done = s_done;
    rq.arg = &res;
    assert_int_equal(assay_http_start(h, &rq, NULL), ASSAY_EINVAL);
    rq.url = "http://127.0.0.1:1/";
    rq.on_done = NULL;
    assert_int_equal(assay_http_start(h, &rq, NULL), ASSAY_EINVAL);
    assert_int_equal(res.calls, 0);
    assert_int_equal(assay_http_inflight(h), 0);
    assay_http_destroy(&h);
    assay_http_destroy(&h);
}

static void test_refused(void **state)
{
    (void)state;
    int lfd;
    int port = s_silent_listener(&lfd);
    close(lfd); /* now nothing listens there */
    assay_http_t *h = assay_http_new(NULL);
    s_result_t res = {0};
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    assay_http_request_t rq = {0};
    rq.url = url;
    rq.on_done = s_done;
    rq.arg = &res;
    assert_int_equal(assay_http_start(h, &rq, NULL), 0);
    assert_int_equal(assay_http_run(h, 5000), 0);
    assert_int_equal(res.calls, 1);
    assert_int_equal(res.err, ASSAY_EHTTP);
    assert_true(strlen(res.msg) > 0);
    assay_http_destroy(&h);
}

static void test_first_byte_timeout(void **state)
{
    (void)state;
    int lfd;
    int port = s_silent_listener(&lfd);
    assay_http_t *h = assay_http_new(NULL);
    s_result_t res = {0};
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/chat/completions", port);
    assay_http_request_t rq = {0};
    rq.url = url;
    rq.body = "{}";
    rq.body_len = 2;
    rq.first_byte_timeout_ms = 200;
    rq.total_timeout_ms = 5000;
    rq.on_done = s_done;
    rq.arg = &res;
    int64_t t0 = assay_clock_ms();
    assert_int_equal(assay_http_start(h, &rq, NULL), 0);
    assert_int_equal(assay_http_inflight(h), 1);
    long t = assay_http_timeout_ms(h);
    assert_true(t >= 0 && t <= 200);
    assert_int_equal(assay_http_run(h, 3000), 0);
    int64_t took = assay_clock_ms() - t0;
    assert_int_equal(res.calls, 1);
    assert_int_equal(res.err, ASSAY_ETIMEOUT);
    assert_int_equal(res.timeout_kind, 2);
    assert_true(took >= 190 && took < 2000);
    assay_http_destroy(&h);
    close(lfd);
}

static void s_tick(void *arg)
{
    (*(int *)arg)++;
}

static void test_timers_and_cancel(void **state)
{
    (void)state;
    assay_http_t *h = assay_http_new(NULL);
    int fired = 0, never = 0;
    assay_http_after(h, 30, s_tick, &fired);
    uint64_t tid = assay_http_after(h, 10, s_tick, &never);
    assert_int_equal(assay_http_after_cancel(h, tid), 0);
    assert_int_equal(assay_http_after_cancel(h, tid), ASSAY_ENOTFOUND);
    assert_int_equal(assay_http_run(h, 2000), 0);
    assert_int_equal(fired, 1);
    assert_int_equal(never, 0);

    /* a cancelled request never calls back; destroy completes the rest */
    int lfd;
    int port = s_silent_listener(&lfd);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    s_result_t a = {0}, b = {0};
    assay_http_request_t rq = {0};
    rq.url = url;
    rq.on_done = s_done;
    rq.arg = &a;
    uint64_t id;
    assert_int_equal(assay_http_start(h, &rq, &id), 0);
    rq.arg = &b;
    assert_int_equal(assay_http_start(h, &rq, NULL), 0);
    assay_http_run(h, 50);
    assert_int_equal(assay_http_cancel(h, id), 0);
    assert_int_equal(assay_http_cancel(h, id), ASSAY_ENOTFOUND);
    assert_int_equal(assay_http_inflight(h), 1);
    assay_http_destroy(&h);
    assert_int_equal(a.calls, 0);
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.err, ASSAY_ESTATE);
    close(lfd);
}

typedef struct {
    assay_http_t *h;
    int ran;
    uint64_t again;
    int start_rc;
} s_closing_t;

static void s_on_close(void *arg)
{
    s_closing_t *c = arg;
    c->ran++;
    c->again = assay_http_after(c->h, 1, s_tick, &c->ran);
    assay_http_request_t rq = {0};
    rq.url = "http://127.0.0.1:1/";
    rq.on_done = s_done;
    c->start_rc = assay_http_start(c->h, &rq, NULL);
}

static void test_destroy_runs_timers(void **state)
{
    (void)state;
    s_closing_t c = {0};
    c.h = assay_http_new(NULL);
    assert_true(assay_http_after(c.h, 60000, s_on_close, &c) != 0);
    assay_http_destroy(&c.h);
    assert_null(c.h);
    assert_int_equal(c.ran, 1);   /* ran once, at destroy */
    assert_int_equal(c.again, 0); /* no new timers while closing */
    assert_int_equal(c.start_rc, ASSAY_ESTATE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_arguments),       cmocka_unit_test(test_refused),
        cmocka_unit_test(test_first_byte_timeout),  cmocka_unit_test(test_timers_and_cancel),
        cmocka_unit_test(test_destroy_runs_timers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
