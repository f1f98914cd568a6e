/*  exec.c: see exec.h; also implements the handler-side API of task.h and
 *  runtime.h, since tasks and the runtime are the executor's objects. */
#include "worker/tasks/exec.h"

#include "common/error.h"
#include "common/http.h"
#include "common/log.h"
#include "common/util.h"
#include "worker/tasks/handlers.h"
#include "worker/tasks/runtime.h"
#include "worker/tasks/task.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct s_shared {
    char *name;
    void *obj;
    void (*free_fn)(void *obj);
    struct s_shared *next;
} s_shared_t;

struct assay_runtime {
    const assay_config_t *config;
    json_t *params;
    assay_http_t *http;
    s_shared_t *shared;
};

typedef struct {
    const assay_handler_t *handler;
    void *state;
    int ready;
} s_kind_t;

struct assay_task {
    assay_exec_t *exec;
    uint64_t id;
    uint32_t attempt;
    const s_kind_t *kind;
    json_t *input;
    json_t *params;
    void *user;
    int64_t start_us;
    uint64_t timer;
    int reported; /* the callback ran (done, fail or timeout) */
    int finished; /* the handler called done or fail */
};

struct assay_exec {
    assay_runtime_t rt;
    assay_exec_done_fn done;
    void *arg;
    s_kind_t *kinds;
    size_t nkinds;
    int inflight;
};

/* ---- runtime ---- */

const assay_config_t *assay_runtime_config(const assay_runtime_t *rt)
{
    return rt->config;
}

const json_t *assay_runtime_params(const assay_runtime_t *rt)
{
    return rt->params;
}

const char *assay_runtime_setting(const assay_runtime_t *rt, const char *key, const char *def)
{
    json_t *v = json_object_get(rt->params, key);
    if (json_is_string(v)) return json_string_value(v);
    char full[256];
    snprintf(full, sizeof full, "worker.%s", key);
    return assay_config_get(rt->config, full, def);
}

assay_http_t *assay_runtime_http(assay_runtime_t *rt)
{
    return rt->http;
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

/* ---- task API for handlers ---- */

const json_t *assay_task_input(const assay_task_t *task)
{
    return task->input;
}

const json_t *assay_task_params(const assay_task_t *task)
{
    return task->params;
}

uint64_t assay_task_id(const assay_task_t *task)
{
    return task->id;
}

assay_runtime_t *assay_task_runtime(const assay_task_t *task)
{
    return &task->exec->rt;
}

const char *assay_param_str(const assay_task_t *task, const char *key, const char *def)
{
    json_t *v = json_object_get(task->params, key);
    if (json_is_string(v)) return json_string_value(v);
    v = json_object_get(task->exec->rt.params, key);
    return json_is_string(v) ? json_string_value(v) : def;
}

static json_t *s_param(const assay_task_t *task, const char *key)
{
    json_t *v = json_object_get(task->params, key);
    return v ? v : json_object_get(task->exec->rt.params, key);
}

double assay_param_num(const assay_task_t *task, const char *key, double def)
{
    json_t *v = s_param(task, key);
    if (json_is_number(v)) return json_number_value(v);
    if (json_is_string(v)) {
        char *end;
        double d = strtod(json_string_value(v), &end);
        if (end != json_string_value(v) && *end == '\0') return d;
    }
    return def;
}

int assay_param_bool(const assay_task_t *task, const char *key, int def)
{
    json_t *v = s_param(task, key);
    if (json_is_boolean(v)) return json_is_true(v);
    if (json_is_integer(v)) return json_integer_value(v) != 0;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (!strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "yes")) return 1;
        if (!strcmp(s, "false") || !strcmp(s, "0") || !strcmp(s, "no")) return 0;
    }
    return def;
}

/* ---- declared parameters ---- */

/* process-wide settings (assay_runtime_setting) that `assay run --param` may give
 * whatever the kind */
static const assay_param_spec_t s_settings[] = {
    {"terms", ASSAY_PARAM_STRING, 0, 0, 0, NULL, 0, "terminology: a TSV directory or a snapshot"},
    {"prompts_dir", ASSAY_PARAM_STRING, 0, 0, 0, NULL, 0, "where prompt templates are read"},
    {"endpoint", ASSAY_PARAM_STRING, 0, 0, 0, NULL, ASSAY_PARAM_NAMES_ENDPOINT,
     "the default endpoint"},
    {"normalize_examples", ASSAY_PARAM_STRING, 0, 0, 0, NULL, 0, "JSONL of known mentions"},
    {NULL, 0, 0, 0, 0, NULL, 0, NULL}};

static const assay_param_spec_t *s_spec_in(const assay_param_spec_t *specs, const char *name)
{
    for (; specs && specs->name; specs++)
        if (strcmp(specs->name, name) == 0) return specs;
    return NULL;
}

const assay_param_spec_t *assay_exec_param_spec(const char *kind, const char *name)
{
    const assay_handler_t *h = assay_handler_find(kind);
    return h ? s_spec_in(h->params, name) : NULL;
}

/* a number from a JSON number or a numeric string; 0 or -1 */
static int s_number(const json_t *v, double *out)
{
    if (json_is_integer(v)) {
        *out = (double)json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        *out = json_real_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        double d = strtod(s, &end);
        if (end == s || *end || json_string_length(v) != strlen(s)) return -1;
        *out = d;
        return 0;
    }
    return -1;
}

static int s_one_of(const char *allowed, const char *s)
{
    size_t n = strlen(s);
    for (const char *p = allowed; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && memcmp(p, s, n) == 0) return 1;
        if (!bar) break;
        p = bar + 1;
    }
    return 0;
}

/* how many bytes of s (len bytes) to keep for at most max bytes without cutting a
 * UTF-8 sequence: a reason must stay valid UTF-8 (it becomes JSON and a text
 * column) */
static int s_utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max) return (int)len;
    size_t n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return (int)n;
}

/* replace every byte that does not start a valid UTF-8 sequence with '?', in place:
 * a handler's reason may quote a remote reply cut at a byte count */
static void s_utf8_scrub(char *s)
{
    for (size_t i = 0; s[i];) {
        unsigned char c = (unsigned char)s[i];
        size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        size_t have = 0;
        while (have < n && s[i + have])
            have++;
        if (n && have == n && assay_utf8_valid(s + i, n)) {
            i += n;
        } else {
            s[i] = '?';
            i++;
        }
    }
}

static void s_describe(const json_t *v, char *out, size_t outlen)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t len = strlen(s);
        snprintf(out, outlen, "\"%.*s%s\"", s_utf8_cut(s, len, 60), s, len > 60 ? "..." : "");
        return;
    }
    char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    size_t len = t ? strlen(t) : 0;
    snprintf(out, outlen, "%.*s%s", t ? s_utf8_cut(t, len, 60) : 1, t ? t : "?",
             len > 60 ? "..." : "");
    free(t);
}

static int s_check_value(const assay_param_spec_t *sp, const json_t *v, char *err, size_t errlen)
{
    char got[100];
    s_describe(v, got, sizeof got);
    double d;
    switch (sp->type) {
    case ASSAY_PARAM_STRING:
        if (!json_is_string(v) || json_string_length(v) == 0 ||
            strlen(json_string_value(v)) != json_string_length(v)) {
            snprintf(err, errlen, "parameter \"%s\": expected a non-empty string, got %s",
                     sp->name, got);
            return ASSAY_EINVAL;
        }
        if (sp->allowed && !s_one_of(sp->allowed, json_string_value(v))) {
            char list[256];
            snprintf(list, sizeof list, "%s", sp->allowed);
            for (char *c = list; *c; c++)
                if (*c == '|') *c = ',';
            snprintf(err, errlen, "parameter \"%s\": expected one of %s, got %s", sp->name, list,
                     got);
            return ASSAY_EINVAL;
        }
        return 0;
    case ASSAY_PARAM_INT:
    case ASSAY_PARAM_NUMBER:
        if (s_number(v, &d) != 0 || !isfinite(d) || d < sp->min || d > sp->max ||
            (sp->type == ASSAY_PARAM_INT && d != floor(d))) {
            snprintf(err, errlen, "parameter \"%s\": expected %s from %g to %g, got %s", sp->name,
                     sp->type == ASSAY_PARAM_INT ? "an integer" : "a number", sp->min, sp->max,
                     got);
            return ASSAY_EINVAL;
        }
        return 0;
    case ASSAY_PARAM_BOOL:
        if (json_is_boolean(v) ||
            (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1)))
            return 0;
        if (json_is_string(v) && s_one_of("true|false|yes|no|1|0", json_string_value(v)))
            return 0;
        snprintf(err, errlen, "parameter \"%s\": expected true or false, got %s", sp->name, got);
        return ASSAY_EINVAL;
    case ASSAY_PARAM_RANGE: {
        double lo, hi;
        if (!json_is_array(v) || json_array_size(v) != 2 ||
            s_number(json_array_get(v, 0), &lo) != 0 || s_number(json_array_get(v, 1), &hi) != 0 ||
            !isfinite(lo) || !isfinite(hi) || lo < sp->min || hi > sp->max || lo > hi) {
            snprintf(err, errlen,
                     "parameter \"%s\": expected [low, high] with %g <= low <= high <= %g, got %s",
                     sp->name, sp->min, sp->max, got);
            return ASSAY_EINVAL;
        }
        return 0;
    }
    }
    snprintf(err, errlen, "parameter \"%s\": bad declaration", sp->name);
    return ASSAY_EINVAL;
}

int assay_exec_check_params(const char *kind, const json_t *params, int settings, char *err,
                            size_t errlen)
{
    const assay_handler_t *h = kind ? assay_handler_find(kind) : NULL;
    if (!h) {
        snprintf(err, errlen, "unknown task kind \"%s\"", kind ? kind : "");
        return ASSAY_ENOTFOUND;
    }
    if (params && !json_is_object(params)) {
        snprintf(err, errlen, "params: expected an object of parameters");
        return ASSAY_EINVAL;
    }
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)params, key, v)
    {
        const assay_param_spec_t *sp = s_spec_in(h->params, key);
        if (!sp && settings) sp = s_spec_in(s_settings, key);
        if (!sp) {
            assay_buf_t names = ASSAY_BUF_INIT;
            for (const assay_param_spec_t *p = h->params; p && p->name; p++) {
                if (names.len) assay_buf_adds(&names, ", ");
                assay_buf_adds(&names, p->name);
            }
            snprintf(err, errlen, "unknown parameter \"%.*s\" for kind %s (accepted: %s)",
                     s_utf8_cut(key, strlen(key), 80), key, h->kind,
                     names.len ? names.data : "none");
            assay_buf_release(&names);
            return ASSAY_EINVAL;
        }
        int rc = s_check_value(sp, v, err, errlen);
        if (rc != 0) return rc;
    }
    return 0;
}

/* the required parameters of h that neither params nor the process-wide ones give */
static int s_check_required(const assay_handler_t *h, const json_t *params, const json_t *rt,
                            char *err, size_t errlen)
{
    for (const assay_param_spec_t *p = h->params; p && p->name; p++)
        if (p->required && !json_object_get(params, p->name) && !json_object_get(rt, p->name)) {
            snprintf(err, errlen, "parameter \"%s\" is required for kind %s (%s)", p->name,
                     h->kind, p->help ? p->help : "");
            return ASSAY_EINVAL;
        }
    return 0;
}

static void s_task_free(assay_task_t *t)
{
    json_decref(t->input);
    json_decref(t->params);
    free(t);
}

/* report once; free once both the report and the handler are finished */
static void s_report(assay_task_t *t, assay_exec_result_t *r)
{
    assay_exec_t *self = t->exec;
    if (!t->reported) {
        t->reported = 1;
        self->inflight--;
        if (t->timer) {
            assay_http_after_cancel(self->rt.http, t->timer);
            t->timer = 0;
        }
        r->id = t->id;
        r->attempt = t->attempt;
        r->kind = t->kind->handler->kind;
        r->user = t->user;
        r->elapsed_us = assay_clock_us() - t->start_us;
        self->done(r, self->arg);
    }
}

void assay_task_done(assay_task_t *task, json_t *output)
{
    if (task->finished) {
        log_error("exec", "task %llu (%s): handler finished it twice; second result ignored",
                  (unsigned long long)task->id, task->kind->handler->kind);
        json_decref(output);
        return;
    }
    task->finished = 1;
    if (!json_is_object(output)) {
        json_decref(output);
        assay_exec_result_t r = {0};
        r.retryable = 0;
        r.reason = "handler produced no output object";
        s_report(task, &r);
    } else {
        assay_exec_result_t r = {0};
        r.ok = 1;
        r.output = output;
        s_report(task, &r);
        json_decref(output);
    }
    s_task_free(task);
}

static void s_fail(assay_task_t *task, int retryable, const char *endpoint, uint32_t retry_after,
                   const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

static void s_fail(assay_task_t *task, int retryable, const char *endpoint, uint32_t retry_after,
                   const char *fmt, va_list ap)
{
    if (task->finished) {
        log_error("exec", "task %llu (%s): handler finished it twice; second failure ignored",
                  (unsigned long long)task->id, task->kind->handler->kind);
        return;
    }
    task->finished = 1;
    char reason[1024];
    int n = vsnprintf(reason, sizeof reason, fmt, ap);
    /* the reason must be valid UTF-8 (it becomes a JSON string and a text column):
     * a long one is cut at a character boundary, and a broken sequence a handler
     * quoted (a remote reply cut at a byte count) becomes '?' */
    if (n >= (int)sizeof reason) reason[s_utf8_cut(reason, sizeof reason - 1, sizeof reason - 4)] = '\0';
    s_utf8_scrub(reason);
    assay_exec_result_t r = {0};
    r.retryable = retryable;
    r.reason = reason;
    r.endpoint = endpoint;
    r.retry_after_ms = retry_after;
    s_report(task, &r);
    s_task_free(task);
}

void assay_task_fail(assay_task_t *task, int retryable, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_fail(task, retryable, NULL, 0, fmt, ap);
    va_end(ap);
}

void assay_task_fail_ratelimited(assay_task_t *task, const char *endpoint, uint32_t retry_after_ms,
                                 const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_fail(task, 1, endpoint, retry_after_ms, fmt, ap);
    va_end(ap);
}

/* ---- executor ---- */

assay_exec_t *assay_exec_new(const assay_config_t *cfg, json_t *params, assay_exec_done_fn done,
                             void *arg)
{
    assay_exec_t *self = ASSAY_NEW(assay_exec_t);
    self->rt.config = cfg;
    self->rt.params = params ? params : json_object();
    self->rt.http = assay_http_new(cfg);
    self->done = done;
    self->arg = arg;
    self->nkinds = assay_handler_count();
    self->kinds = assay_calloc(self->nkinds, sizeof *self->kinds);
    for (size_t i = 0; i < self->nkinds; i++) self->kinds[i].handler = assay_handler_at(i);
    return self;
}

void assay_exec_destroy(assay_exec_t **self_p)
{
    if (!self_p || !*self_p) return;
    assay_exec_t *self = *self_p;
    /* in-flight HTTP requests complete with ESTATE, which fails their tasks */
    assay_http_destroy(&self->rt.http);
    for (size_t i = 0; i < self->nkinds; i++)
        if (self->kinds[i].ready && self->kinds[i].handler->teardown)
            self->kinds[i].handler->teardown(self->kinds[i].state);
    free(self->kinds);
    s_shared_t *s = self->rt.shared;
    while (s) {
        s_shared_t *next = s->next;
        if (s->free_fn) s->free_fn(s->obj);
        free(s->name);
        free(s);
        s = next;
    }
    json_decref(self->rt.params);
    free(self);
    *self_p = NULL;
}

static s_kind_t *s_kind(assay_exec_t *self, const char *kind)
{
    for (size_t i = 0; i < self->nkinds; i++)
        if (strcmp(self->kinds[i].handler->kind, kind) == 0) return &self->kinds[i];
    return NULL;
}

int assay_exec_prepare(assay_exec_t *self, const char *kind, char *err, size_t errlen)
{
    s_kind_t *k = s_kind(self, kind);
    if (!k) {
        snprintf(err, errlen, "unknown task kind \"%s\"", kind);
        return ASSAY_ENOTFOUND;
    }
    if (k->ready) return 0;
    /* the process-wide params (`assay run --param`) are checked once per kind */
    int rc0 = assay_exec_check_params(kind, self->rt.params, 1, err, errlen);
    if (rc0 != 0) return rc0;
    if (k->handler->setup) {
        int rc = k->handler->setup(&self->rt, &k->state, err, errlen);
        if (rc != 0) return rc < 0 ? rc : ASSAY_ECONFIG;
    }
    k->ready = 1;
    return 0;
}

static void s_timeout(void *arg)
{
    assay_task_t *t = arg;
    t->timer = 0;
    char reason[128];
    snprintf(reason, sizeof reason, "task timed out on the worker");
    assay_exec_result_t r = {0};
    r.retryable = 1;
    r.reason = reason;
    s_report(t, &r);
    /* the handler still owns the task until it calls done or fail */
}

int assay_exec_start(assay_exec_t *self, uint64_t id, uint32_t attempt, const char *kind,
                     json_t *input, json_t *params, uint32_t timeout_ms, void *user)
{
    char err[512];
    s_kind_t *k = kind ? s_kind(self, kind) : NULL;
    if (!k || assay_exec_prepare(self, kind, err, sizeof err) != 0 || !json_is_object(input)) {
        json_decref(input);
        json_decref(params);
        return k ? ASSAY_EINVAL : ASSAY_ENOTFOUND;
    }
    assay_task_t *t = ASSAY_NEW(assay_task_t);
    t->exec = self;
    t->id = id;
    t->attempt = attempt;
    t->kind = k;
    t->input = input;
    t->params = json_is_object(params) ? params : (json_decref(params), json_object());
    t->user = user;
    t->start_us = assay_clock_us();
    self->inflight++;
    /* a param the kind does not declare, of the wrong type or out of range fails
     * the task for good before its handler sees it */
    if (assay_exec_check_params(kind, t->params, 0, err, sizeof err) != 0 ||
        s_check_required(k->handler, t->params, self->rt.params, err, sizeof err) != 0) {
        assay_task_fail(t, 0, "%s", err);
        return 0;
    }
    if (timeout_ms) t->timer = assay_http_after(self->rt.http, timeout_ms, s_timeout, t);
    k->handler->run(k->state, t);
    return 0;
}

int assay_exec_pollfds(assay_exec_t *self, struct pollfd *fds, int max)
{
    /* one descriptor that is readable when any HTTP socket is ready: the poll set
     * stays one entry long however many requests are in flight */
    if (max < 1) return 0;
    fds[0].fd = assay_http_fd(self->rt.http);
    fds[0].events = POLLIN;
    fds[0].revents = 0;
    return 1;
}

long assay_exec_timeout_ms(assay_exec_t *self)
{
    return assay_http_timeout_ms(self->rt.http);
}

void assay_exec_process(assay_exec_t *self, const struct pollfd *fds, int n)
{
    assay_http_process(self->rt.http, fds, n);
}

int assay_exec_inflight(const assay_exec_t *self)
{
    return self->inflight;
}
