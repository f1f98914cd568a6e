/*  test_task_noop.c: the noop handler through the real executor: echo, delay_ms
 *  from a timer on the executor's loop (other tasks are not held up), fail, bad
 *  params, and a delayed task still reported when the executor shuts down. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/util.h"
#include "worker/tasks/exec.h"

#include <jansson.h>
#include <poll.h>
#include <string.h>

typedef struct {
    int n;
    uint64_t ids[8];
    int ok[8], retryable[8];
    char reason[8][256];
    char output[8][256];
    int64_t elapsed_us[8];
} s_seen_t;

static void s_done(const assay_exec_result_t *r, void *arg)
{
    s_seen_t *s = arg;
    assert_true(s->n < 8);
    s->ids[s->n] = r->id;
    s->ok[s->n] = r->ok;
    s->retryable[s->n] = r->retryable;
    snprintf(s->reason[s->n], sizeof s->reason[0], "%s", r->reason ? r->reason : "");
    char *text = r->ok ? json_dumps(r->output, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    snprintf(s->output[s->n], sizeof s->output[0], "%s", text ? text : "");
    free(text);
    s->elapsed_us[s->n] = r->elapsed_us;
    s->n++;
}

static void s_start(assay_exec_t *e, uint64_t id, const char *params)
{
    json_t *in = json_pack("{s:s}", "q", "问题");
    json_t *p = params ? json_loads(params, 0, NULL) : NULL;
    assert_int_equal(assay_exec_start(e, id, 1, "noop", in, p, 0, NULL), 0);
}

/* run the executor's loop until want results are in or 2 s pass */
static void s_run(assay_exec_t *e, s_seen_t *s, int want)
{
    int64_t end = assay_clock_ms() + 2000;
    while (s->n < want && assay_clock_ms() < end) {
        struct pollfd fds[4];
        int n = assay_exec_pollfds(e, fds, 4);
        long t = assay_exec_timeout_ms(e);
        poll(fds, (nfds_t)n, t < 0 || t > 100 ? 100 : (int)t);
        assay_exec_process(e, fds, n);
    }
}

static void test_echo_now(void **state)
{
    (void)state;
    s_seen_t s = {0};
    assay_exec_t *e = assay_exec_new(NULL, NULL, s_done, &s);
    s_start(e, 1, NULL);
    assert_int_equal(s.n, 1);
    assert_true(s.ok[0]);
    assert_string_equal(s.output[0], "{\"echo\":{\"q\":\"问题\"}}");
    s_start(e, 2, "{\"echo\": false}");
    assert_int_equal(s.n, 2);
    assert_string_equal(s.output[1], "{}");
    assay_exec_destroy(&e);
    assert_null(e);
}

static void test_delay(void **state)
{
    (void)state;
    s_seen_t s = {0};
    assay_exec_t *e = assay_exec_new(NULL, NULL, s_done, &s);
    s_start(e, 1, "{\"delay_ms\": 80}");
    s_start(e, 2, "{\"delay_ms\": 20}");
    s_start(e, 3, NULL);
    /* the undelayed task is not held up by the delayed ones */
    assert_int_equal(s.n, 1);
    assert_int_equal(s.ids[0], 3);
    assert_int_equal(assay_exec_inflight(e), 2);
    s_run(e, &s, 3);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.ids[1], 2);
    assert_int_equal(s.ids[2], 1);
    assert_true(s.ok[2]);
    assert_string_equal(s.output[2], "{\"echo\":{\"q\":\"问题\"}}");
    /* the delays were honoured (timers run at millisecond granularity: allow 5 ms) */
    assert_true(s.elapsed_us[1] >= 15000);
    assert_true(s.elapsed_us[2] >= 75000);
    assert_int_equal(assay_exec_inflight(e), 0);
    assay_exec_destroy(&e);
}

static void test_fail_and_bad_params(void **state)
{
    (void)state;
    s_seen_t s = {0};
    assay_exec_t *e = assay_exec_new(NULL, NULL, s_done, &s);
    s_start(e, 1, "{\"fail\": \"simulated outage\"}");
    s_start(e, 2, "{\"delay_ms\": -5}");
    s_start(e, 3, "{\"delay_ms\": 1e9}");
    assert_int_equal(s.n, 3);
    assert_false(s.ok[0]);
    assert_true(s.retryable[0]);
    assert_string_equal(s.reason[0], "simulated outage");
    for (int i = 1; i < 3; i++) {
        assert_false(s.ok[i]);
        assert_false(s.retryable[i]);
        /* refused by the executor from noop's declared parameters */
        assert_non_null(strstr(s.reason[i], "parameter \"delay_ms\": expected a number from 0 to 600000, got"));
    }
    assay_exec_destroy(&e);
}

static void test_shutdown_reports_delayed(void **state)
{
    (void)state;
    s_seen_t s = {0};
    assay_exec_t *e = assay_exec_new(NULL, NULL, s_done, &s);
    s_start(e, 7, "{\"delay_ms\": 60000}");
    assert_int_equal(s.n, 0);
    /* every task started is reported exactly once, also when the loop stops */
    assay_exec_destroy(&e);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.ids[0], 7);
    assert_true(s.ok[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_now),
        cmocka_unit_test(test_delay),
        cmocka_unit_test(test_fail_and_bad_params),
        cmocka_unit_test(test_shutdown_reports_delayed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
