/*  taskrun.c: see taskrun.h */
#include "tests/lib/taskrun.h"

#include "common/util.h"
#include "worker/tasks/exec.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct assay_taskrun {
    assay_config_t *own_cfg; /* when the caller gave none */
    assay_exec_t *exec;
    assay_taskrun_result_t *pending; /* where the next outcome goes */
    uint64_t next_id;
};

static void s_on_done(const assay_exec_result_t *r, void *arg)
{
    assay_taskrun_t *self = arg;
    assay_taskrun_result_t *res = self->pending;
    if (!res) return;
    if (r->ok) {
        res->done = 1;
        res->out = json_deep_copy(r->output);
    } else {
        res->failed = 1;
        res->retryable = r->retryable;
        snprintf(res->reason, sizeof res->reason, "%s", r->reason ? r->reason : "");
        snprintf(res->endpoint, sizeof res->endpoint, "%s", r->endpoint ? r->endpoint : "");
        res->retry_after_ms = r->retry_after_ms;
    }
    self->pending = NULL;
}

assay_taskrun_t *assay_taskrun_new(const assay_config_t *cfg, json_t *params)
{
    assay_taskrun_t *self = ASSAY_NEW(assay_taskrun_t);
    if (!cfg) cfg = self->own_cfg = assay_config_new();
    self->exec = assay_exec_new(cfg, params, s_on_done, self);
    return self;
}

void assay_taskrun_destroy(assay_taskrun_t **self_p)
{
    if (!self_p || !*self_p) return;
    assay_taskrun_t *self = *self_p;
    assay_exec_destroy(&self->exec);
    assay_config_destroy(&self->own_cfg);
    free(self);
    *self_p = NULL;
}

int assay_taskrun_prepare(assay_taskrun_t *self, const char *kind, char *err, size_t errlen)
{
    return assay_exec_prepare(self->exec, kind, err, errlen);
}

static json_t *s_parse(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
    if (!v) {
        fprintf(stderr, "taskrun: test text is not JSON (%s): %s\n", je.text, text);
        abort();
    }
    return v;
}

assay_taskrun_result_t assay_taskrun_run(assay_taskrun_t *self, const char *kind, const char *input,
                                         const char *params)
{
    assay_taskrun_result_t res;
    memset(&res, 0, sizeof res);
    self->pending = &res;
    int rc = assay_exec_start(self->exec, ++self->next_id, 1, kind, s_parse(input),
                              params ? s_parse(params) : NULL, 60000, NULL);
    if (rc != 0) {
        self->pending = NULL;
        res.failed = 1;
        snprintf(res.reason, sizeof res.reason, "the executor refused the task (code %d)", rc);
        return res;
    }
    while (self->pending) {
        struct pollfd fds[16];
        int n = assay_exec_pollfds(self->exec, fds, 16);
        long t = assay_exec_timeout_ms(self->exec);
        poll(fds, (nfds_t)n, t < 0 || t > 100 ? 100 : (int)t);
        assay_exec_process(self->exec, fds, n);
    }
    return res;
}
