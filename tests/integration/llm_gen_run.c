/*  llm_gen_run.c: runs the generate handler over JSONL items for the LLM
 *  integration tests, with a minimal executor of its own (the task and runtime
 *  functions of worker/task.h and worker/runtime.h on one assay_http_t loop).
 *
 *  usage: llm_gen_run [-c key=value]... [-p key=value]... [-t MS] < items.jsonl
 *    -c sets a config key (endpoint.sim.base_url=...), -p a task parameter
 *    (n=4, endpoint=sim, ...), -t a time limit after which the HTTP client is
 *    destroyed with work in flight, as the executor does at shutdown (default
 *    120000). All items run at once. One line per item, in input
 *    order: {"output": {...}} or {"error": {"retryable": b, "ratelimited": b,
 *    "endpoint": s, "retry_after_ms": n, "reason": s}}.
 */
#include "common/config.h"
#include "common/http.h"
#include "common/log.h"
#include "common/util.h"
#include "worker/runtime.h"
#include "worker/task.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const assay_handler_t assay_task_generate;

typedef struct s_shared {
    char *name;
    void *obj;
    void (*free_fn)(void *);
    struct s_shared *next;
} s_shared_t;

struct assay_runtime {
    assay_config_t *cfg;
    json_t *params;
    assay_http_t *http;
    s_shared_t *shared;
};

struct assay_task {
    assay_runtime_t *rt;
    uint64_t id;
    json_t *input;
    json_t *params;
    json_t *result; /* what we print */
    int finished;
};

const assay_config_t *assay_runtime_config(const assay_runtime_t *rt)
{
    return rt->cfg;
}
const json_t *assay_runtime_params(const assay_runtime_t *rt)
{
    return rt->params;
}
assay_http_t *assay_runtime_http(assay_runtime_t *rt)
{
    return rt->http;
}

const char *assay_runtime_setting(const assay_runtime_t *rt, const char *key, const char *def)
{
    const char *v = json_string_value(json_object_get(rt->params, key));
    if (v) return v;
    char full[256];
    snprintf(full, sizeof full, "worker.%s", key);
    return assay_config_get(rt->cfg, full, def);
}

void *assay_runtime_shared(assay_runtime_t *rt, const char *name,
                           void *(*load)(assay_runtime_t *rt, char *err, size_t errlen),
                           void (*free_fn)(void *obj), char *err, size_t errlen)
{
    for (s_shared_t *s = rt->shared; s; s = s->next)
        if (strcmp(s->name, name) == 0) return s->obj;
    void *obj = load(rt, err, errlen);
    if (!obj) return NULL;
    s_shared_t *s = ASSAY_NEW(s_shared_t);
    s->name = assay_strdup(name);
    s->obj = obj;
    s->free_fn = free_fn;
    s->next = rt->shared;
    rt->shared = s;
    return obj;
}

const json_t *assay_task_input(const assay_task_t *t)
{
    return t->input;
}
const json_t *assay_task_params(const assay_task_t *t)
{
    return t->params;
}
uint64_t assay_task_id(const assay_task_t *t)
{
    return t->id;
}
const char *assay_task_kind(const assay_task_t *t)
{
    (void)t;
    return "generate";
}
assay_runtime_t *assay_task_runtime(const assay_task_t *t)
{
    return t->rt;
}

static void s_twice(assay_task_t *t)
{
    fprintf(stderr, "llm_gen_run: task %llu finished twice\n", (unsigned long long)t->id);
    exit(3);
}

void assay_task_done(assay_task_t *t, json_t *output)
{
    if (t->finished) s_twice(t);
    t->finished = 1;
    t->result = json_pack("{s:o}", "output", output);
}

static void s_fail(assay_task_t *t, int retryable, int limited, const char *ep, uint32_t ra,
                   const char *fmt, va_list ap)
{
    if (t->finished) s_twice(t);
    t->finished = 1;
    char reason[1024];
    vsnprintf(reason, sizeof reason, fmt, ap);
    t->result = json_pack("{s:{s:b,s:b,s:s,s:I,s:s}}", "error", "retryable", retryable,
                          "ratelimited", limited, "endpoint", ep ? ep : "", "retry_after_ms",
                          (json_int_t)ra, "reason", reason);
}

void assay_task_fail(assay_task_t *t, int retryable, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_fail(t, retryable, 0, NULL, 0, fmt, ap);
    va_end(ap);
}

void assay_task_fail_ratelimited(assay_task_t *t, const char *endpoint, uint32_t retry_after_ms,
                                 const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_fail(t, 1, 1, endpoint, retry_after_ms, fmt, ap);
    va_end(ap);
}

const char *assay_param_str(const assay_task_t *t, const char *key, const char *def)
{
    const char *v = json_string_value(json_object_get(t->params, key));
    return v ? v : def;
}

double assay_param_num(const assay_task_t *t, const char *key, double def)
{
    const json_t *v = json_object_get(t->params, key);
    return json_is_number(v) ? json_number_value(v) : def;
}

int assay_param_bool(const assay_task_t *t, const char *key, int def)
{
    const json_t *v = json_object_get(t->params, key);
    if (json_is_boolean(v)) return json_is_true(v);
    const char *s = json_string_value(v);
    if (s) return strcmp(s, "1") == 0 || strcmp(s, "true") == 0;
    if (json_is_integer(v)) return json_integer_value(v) != 0;
    return def;
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
    assay_runtime_t rt;
    memset(&rt, 0, sizeof rt);
    rt.cfg = assay_config_new();
    rt.params = json_object();
    json_t *params = json_object();
    long limit_ms = 120000;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "-c") == 0) {
            const char *kv = argv[++i];
            const char *eq = strchr(kv, '=');
            if (!eq) return 2;
            char *k = assay_strndup(kv, (size_t)(eq - kv));
            assay_config_set(rt.cfg, k, eq + 1);
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
    rt.http = assay_http_new(rt.cfg);
    void *state = NULL;
    char err[512];
    if (assay_task_generate.setup && assay_task_generate.setup(&rt, &state, err, sizeof err) != 0) {
        fprintf(stderr, "llm_gen_run: setup: %s\n", err);
        return 1;
    }
    assay_task_t **tasks = NULL;
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
        assay_task_t *t = ASSAY_NEW(assay_task_t);
        t->rt = &rt;
        t->id = n + 1;
        t->input = item;
        t->params = params;
        tasks = assay_realloc(tasks, (n + 1) * sizeof *tasks);
        tasks[n++] = t;
    }
    free(line);
    for (size_t i = 0; i < n; i++)
        assay_task_generate.run(state, tasks[i]);
    assay_http_run(rt.http, limit_ms);
    /* the executor's order at shutdown: the HTTP client first (what is in flight
     * or waiting fails its task), then the handlers and shared objects */
    assay_http_destroy(&rt.http);
    int unfinished = 0;
    for (size_t i = 0; i < n; i++) {
        if (!tasks[i]->finished) {
            unfinished++;
            printf("{\"error\":{\"reason\":\"not finished\"}}\n");
            continue;
        }
        char *s = json_dumps(tasks[i]->result, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
        json_decref(tasks[i]->result);
        json_decref(tasks[i]->input);
        free(tasks[i]);
    }
    free(tasks);
    if (assay_task_generate.teardown) assay_task_generate.teardown(state);
    while (rt.shared) {
        s_shared_t *s = rt.shared;
        rt.shared = s->next;
        s->free_fn(s->obj);
        free(s->name);
        free(s);
    }
    json_decref(params);
    json_decref(rt.params);
    assay_config_destroy(&rt.cfg);
    return unfinished ? 1 : 0;
}
