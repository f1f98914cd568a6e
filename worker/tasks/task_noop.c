/*  task_noop.c: the `noop` kind echoes its input back as {"echo": input}.
 *  Used by benchmarks and tests to measure the queue without any work.
 *
 *  Params: echo (bool, default true): include the input; delay_ms (number,
 *  default 0, at most 600000): finish that much later, from a timer on the
 *  executor's loop, so the worker keeps running other tasks meanwhile (the fault
 *  tests use it to have tasks in flight when they kill something); fail (string):
 *  fail every task retryably with this reason instead (a simulated outage). */
#include "common/http.h"
#include "worker/tasks/runtime.h"
#include "worker/tasks/task.h"

static void s_finish(void *arg)
{
    assay_task_t *task = arg;
    const char *fail = assay_param_str(task, "fail", NULL);
    if (fail) {
        assay_task_fail(task, 1, "%s", fail);
        return;
    }
    json_t *out = json_object();
    if (assay_param_bool(task, "echo", 1))
        json_object_set(out, "echo", (json_t *)assay_task_input(task));
    assay_task_done(task, out);
}

static void s_run(void *state, assay_task_t *task)
{
    (void)state;
    double delay = assay_param_num(task, "delay_ms", 0);
    if (!(delay >= 0 && delay <= 600000)) {
        assay_task_fail(task, 0, "param \"delay_ms\": expected a number from 0 to 600000");
        return;
    }
    /* no timer while the executor shuts down (after returns 0): finish now */
    if (delay >= 1 &&
        assay_http_after(assay_runtime_http(assay_task_runtime(task)), (long)delay, s_finish, task))
        return;
    s_finish(task);
}

/* the parameters this kind accepts (checked by the executor and `assay submit`) */
static const assay_param_spec_t s_params[] = {
    {"echo", ASSAY_PARAM_BOOL, 0, 0, 0, NULL, 0, "include the input in the output (default true)"},
    {"delay_ms", ASSAY_PARAM_NUMBER, 0, 600000, 0, NULL, 0, "finish this much later"},
    {"fail", ASSAY_PARAM_STRING, 0, 0, 0, NULL, 0, "fail every task retryably with this reason"},
    {NULL, 0, 0, 0, 0, NULL, 0, NULL}};

const assay_handler_t assay_task_noop = {
    .kind = "noop",
    .summary = "echo the input back, optionally after delay_ms (benchmarks and tests)",
    .setup = NULL,
    .teardown = NULL,
    .run = s_run,
    .params = s_params,
};
