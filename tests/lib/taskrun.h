/*  taskrun.h: run one task through the real executor (worker/tasks/exec.h) and
 *  wait for its outcome, for tests of task handlers.
 *
 *  The handler runs exactly as in assay-worker and `assay run`: the executor checks
 *  the params against the kind's declaration, runs setup once, enforces the timeout
 *  and reports exactly once. Tests see the outcome, never a stand-in of the task API.
 */
#ifndef ASSAY_TEST_TASKRUN_H
#define ASSAY_TEST_TASKRUN_H

#include "common/config.h"

#include <jansson.h>
#include <stdint.h>

typedef struct {
    int done;           /* 1: the task finished with output */
    int failed;         /* 1: the task failed */
    int retryable;      /* failed: may succeed later */
    json_t *out;        /* done: the output (the caller's reference) */
    char reason[1024];  /* failed: why */
    char endpoint[128]; /* failed: the endpoint that rate-limited, or "" */
    uint32_t retry_after_ms;
} assay_taskrun_result_t;

typedef struct assay_taskrun assay_taskrun_t;

/* an executor with cfg (borrowed, NULL for an empty configuration) and the
 * process-wide params (stolen, may be NULL), e.g. {"terms": DIR} */
assay_taskrun_t *assay_taskrun_new(const assay_config_t *cfg, json_t *params);
void assay_taskrun_destroy(assay_taskrun_t **self_p);
/* run kind's setup now: 0, or the executor's error code with the reason in err */
int assay_taskrun_prepare(assay_taskrun_t *self, const char *kind, char *err, size_t errlen);
/* run one task (input and params are JSON texts; params may be NULL) and wait for
 * its outcome; a text that is not JSON fails the calling test */
assay_taskrun_result_t assay_taskrun_run(assay_taskrun_t *self, const char *kind, const char *input,
                                         const char *params);

#endif
