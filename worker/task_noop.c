/*  task_noop.c: the `noop` kind echoes its input back as {"echo": input}.
 *  Used by benchmarks and tests to measure the queue without any work. */
#include "worker/task.h"

static void s_run(void *state, assay_task_t *task)
{
    (void)state;
    json_t *out = json_object();
    if (assay_param_bool(task, "echo", 1))
        json_object_set(out, "echo", (json_t *)assay_task_input(task));
    assay_task_done(task, out);
}

const assay_handler_t assay_task_noop = {
    .kind = "noop",
    .summary = "echo the input back (benchmarks and tests)",
    .setup = NULL,
    .teardown = NULL,
    .run = s_run,
};
