/*  llm_gen_run: runs the generate handler over JSONL items for the LLM
 *  integration tests, through the real executor (worker/tasks/exec.h) on its
 *  event loop, as assay-worker runs it.
 *
 *  usage: llm_gen_run [-c key=value]... [-p key=value]... [-t MS] < items.jsonl
 *    -c sets a config key (endpoint.sim.base_url=...), -p a task parameter
 *    (n=4, endpoint=sim, ...), -t a time limit after which the executor is
 *    destroyed with work in flight, as assay-worker does at shutdown (default
 *    120000). All items run at once. One line per item, in input
 *    order: {"output": {...}} or {"error": {"retryable": b, "ratelimited": b,
 *    "endpoint": s, "retry_after_ms": n, "reason": s}}.
 */
#include "common/config.h"
#include "common/log.h"
#include "common/util.h"
#include "worker/tasks/exec.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    json_t **results; /* by task id - 1 */
    size_t n;
} s_run_t;

static void s_on_done(const assay_exec_result_t *r, void *arg)
{
    s_run_t *run = arg;
    size_t i = (size_t)r->id - 1;
    if (i >= run->n) return;
    if (run->results[i]) {
        fprintf(stderr, "llm_gen_run: task %llu finished twice\n", (unsigned long long)r->id);
        exit(3);
    }
    if (r->ok)
        run->results[i] = json_pack("{s:O}", "output", (json_t *)r->output);
    else
        run->results[i] = json_pack("{s:{s:b,s:b,s:s,s:I,s:s}}", "error", "retryable",
                                    r->retryable, "ratelimited", r->endpoint != NULL, "endpoint",
                                    r->endpoint ? r->endpoint : "", "retry_after_ms",
                                    (json_int_t)r->retry_after_ms, "reason",
                                    r->reason ? r->reason : "");
}

/* "k=v": numbers and booleans become JSON numbers / booleans */
static void s_set_param(json_t *obj, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq) {
        fprintf(stderr, "llm_gen_run: -p wants key=value, got \"%s\"\n", kv);
        exit(2);
    }
    char *k = assay_strndup(kv, (size_t)(eq - kv));
    const char *v = eq + 1;
    char *end;
    double d = strtod(v, &end);
    if (*v && !*end)
        json_object_set_new(obj, k, json_real(d));
    else if (!strcmp(v, "true") || !strcmp(v, "false"))
        json_object_set_new(obj, k, json_boolean(!strcmp(v, "true")));
    else
        json_object_set_new(obj, k, json_string(v));
    free(k);
}

int main(int argc, char **argv)
{
    assay_log_init("llm_gen_run", ASSAY_LOG_WARN, 0);
    assay_config_t *cfg = assay_config_new();
    json_t *params = json_object();
    long limit_ms = 120000;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "-c") == 0) {
            const char *kv = argv[++i];
            const char *eq = strchr(kv, '=');
            if (!eq) return 2;
            char *k = assay_strndup(kv, (size_t)(eq - kv));
            assay_config_set(cfg, k, eq + 1);
            free(k);
        } else if (i + 1 < argc && strcmp(argv[i], "-p") == 0) {
            s_set_param(params, argv[++i]);
        } else if (i + 1 < argc && strcmp(argv[i], "-t") == 0) {
            limit_ms = atol(argv[++i]);
        } else {
            fprintf(stderr,
                    "usage: llm_gen_run [-c key=value]... [-p key=value]... < items.jsonl\n");
            return 2;
        }
    }
    json_t **items = NULL;
    size_t n = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) > 0) {
        if (len <= 1) continue;
        json_error_t jerr;
        json_t *item = json_loadb(line, (size_t)len, 0, &jerr);
        if (!item) {
            fprintf(stderr, "llm_gen_run: line %zu: %s\n", n + 1, jerr.text);
            return 2;
        }
        items = assay_realloc(items, (n + 1) * sizeof *items);
        items[n++] = item;
    }
    free(line);
    s_run_t run = {assay_calloc(n ? n : 1, sizeof(json_t *)), n};
    assay_exec_t *exec = assay_exec_new(cfg, NULL, s_on_done, &run);
    char err[512];
    if (assay_exec_prepare(exec, "generate", err, sizeof err) != 0) {
        fprintf(stderr, "llm_gen_run: setup: %s\n", err);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (assay_exec_start(exec, i + 1, 1, "generate", items[i], json_deep_copy(params), 0,
                             NULL) != 0)
            run.results[i] = json_pack("{s:{s:s}}", "error", "reason", "not started");
    }
    int64_t deadline = assay_clock_us() / 1000 + limit_ms;
    while (assay_exec_inflight(exec) > 0) {
        long left = (long)(deadline - assay_clock_us() / 1000);
        if (left <= 0) break;
        struct pollfd fds[8];
        int nf = assay_exec_pollfds(exec, fds, 8);
        long t = assay_exec_timeout_ms(exec);
        if (t < 0 || t > left) t = left;
        poll(fds, (nfds_t)nf, (int)t);
        assay_exec_process(exec, fds, nf);
    }
    /* as at a worker's shutdown: what is in flight or waiting fails its task */
    assay_exec_destroy(&exec);
    int unfinished = 0;
    for (size_t i = 0; i < n; i++) {
        if (!run.results[i]) {
            unfinished++;
            printf("{\"error\":{\"reason\":\"not finished\"}}\n");
            continue;
        }
        char *s = json_dumps(run.results[i], JSON_COMPACT);
        printf("%s\n", s);
        free(s);
        json_decref(run.results[i]);
    }
    free(run.results);
    free(items);
    json_decref(params);
    assay_config_destroy(&cfg);
    return unfinished ? 1 : 0;
}
