/*  exec.h: the executor runs tasks through their handlers on one event loop.
 *
 *  It owns the process runtime (configuration, HTTP client, shared reference data)
 *  and the handler states, starts tasks, enforces each task's timeout, and reports
 *  every task exactly once through the completion callback. assay-worker feeds it
 *  tasks from the broker; `assay run` feeds it lines from stdin. Both drive it the
 *  same way: poll the fds it asks for, then call assay_exec_process().
 */
#ifndef ASSAY_EXEC_H
#define ASSAY_EXEC_H

#include "common/config.h"
#include "worker/tasks/task.h"

#include <jansson.h>
#include <poll.h>
#include <stdint.h>

typedef struct assay_exec assay_exec_t;

typedef struct {
    uint64_t id;
    uint32_t attempt;
    const char *kind;
    void *user;           /* what the caller passed to assay_exec_start */
    int ok;               /* 1 = done with output; 0 = failed */
    const json_t *output; /* ok: the handler's output object (borrowed) */
    int retryable;        /* !ok: 1 = may succeed later */
    const char *reason;   /* !ok: why (for people) */
    const char *endpoint; /* !ok: the endpoint that rate-limited, or NULL */
    uint32_t retry_after_ms;
    int64_t elapsed_us; /* time from start to completion */
} assay_exec_result_t;

typedef void (*assay_exec_done_fn)(const assay_exec_result_t *result, void *arg);

/* a new executor. cfg is borrowed (must outlive the executor); params (a JSON
 * object of process-wide settings, e.g. {"terms": DIR}) is stolen, may be NULL.
 * done is called once per started task (possibly from inside assay_exec_start). */
assay_exec_t *assay_exec_new(const assay_config_t *cfg, json_t *params, assay_exec_done_fn done,
                             void *arg);
/* fails whatever still runs (callbacks run), tears handlers down, frees, nulls */
void assay_exec_destroy(assay_exec_t **self_p);

/* make kind ready (runs its setup once). Returns 0, ASSAY_ENOTFOUND for a kind
 * this build does not have, or the setup's error, with a message in err. */
int assay_exec_prepare(assay_exec_t *self, const char *kind, char *err, size_t errlen);

/* start a task. input and params are stolen (params may be NULL). timeout_ms 0 =
 * no limit. Returns 0 (the callback will run exactly once), or a negative code
 * when the task could not start (the callback is never called). */
int assay_exec_start(assay_exec_t *self, uint64_t id, uint32_t attempt, const char *kind,
                     json_t *input, json_t *params, uint32_t timeout_ms, void *user);

/* check params (a JSON object, or NULL for none) against what kind declares
 * (assay_param_spec_t in task.h): unknown names, wrong types, values out of range
 * or not allowed, missing required ones. settings = 1 also accepts the
 * process-wide settings `assay run --param` may carry (terms, prompts_dir,
 * endpoint, normalize_examples). Returns 0, or ASSAY_EINVAL with a message naming
 * the parameter (and, for an unknown one, the accepted names) in err, or
 * ASSAY_ENOTFOUND for a kind this build does not have. assay_exec_start runs it
 * on every task (a refused task fails permanently, its handler never runs), and
 * assay_exec_prepare on the process-wide params. */
int assay_exec_check_params(const char *kind, const json_t *params, int settings, char *err,
                            size_t errlen);
/* the declaration of parameter name of kind, or NULL when kind has none such */
const assay_param_spec_t *assay_exec_param_spec(const char *kind, const char *name);

int assay_exec_pollfds(assay_exec_t *self, struct pollfd *fds, int max);
long assay_exec_timeout_ms(assay_exec_t *self);
void assay_exec_process(assay_exec_t *self, const struct pollfd *fds, int n);
/* tasks started and not yet reported */
int assay_exec_inflight(const assay_exec_t *self);

#endif
