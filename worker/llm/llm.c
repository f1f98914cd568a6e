/*  llm.c: chat completions over the shared HTTP client (see llm.h). */
#include "worker/llm/llm.h"

#include "common/error.h"
#include "common/log.h"
#include "common/retry.h"
#include "common/util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define S_MAX_CHOICES 256

/* ---- requests --------------------------------------------------------------------- */

void assay_llm_params_init(assay_llm_params_t *p)
{
    memset(p, 0, sizeof *p);
    p->temperature = -1;
    p->top_p = -1;
    p->n = 1;
}

json_t *assay_llm_request_json(const assay_endpoint_t *ep, const json_t *messages,
                               const assay_llm_params_t *p)
{
    json_t *req = json_object();
    json_object_set_new(req, "model", json_string(ep->model));
    json_object_set(req, "messages", (json_t *)messages);
    if (ep->style == ASSAY_STYLE_O3) {
        if (p->max_tokens > 0)
            json_object_set_new(req, "max_completion_tokens", json_integer(p->max_tokens));
        if (p->reasoning_effort && *p->reasoning_effort)
            json_object_set_new(req, "reasoning_effort", json_string(p->reasoning_effort));
    } else {
        if (p->max_tokens > 0) json_object_set_new(req, "max_tokens", json_integer(p->max_tokens));
        if (p->temperature >= 0) json_object_set_new(req, "temperature", json_real(p->temperature));
        if (p->top_p >= 0) json_object_set_new(req, "top_p", json_real(p->top_p));
    }
    if (p->has_seed) json_object_set_new(req, "seed", json_integer(p->seed));
    if (p->n > 1) json_object_set_new(req, "n", json_integer(p->n));
    if (p->stream) {
        json_object_set_new(req, "stream", json_true());
        /* without this, streamed responses carry no token counts */
        json_object_set_new(req, "stream_options", json_pack("{s:b}", "include_usage", 1));
    }
    return req;
}

/* ---- results ---------------------------------------------------------------------- */

void assay_llm_result_release(assay_llm_result_t *r)
{
    if (!r) return;
    for (int i = 0; i < r->nchoices; i++) {
        free(r->choices[i].content);
        free(r->choices[i].reasoning);
        free(r->choices[i].finish_reason);
        free(r->choices[i].refusal);
    }
    free(r->choices);
    free(r->id);
    free(r->model);
    memset(r, 0, sizeof *r);
}

const char *assay_reasoning_source_name(assay_reasoning_source_t s)
{
    switch (s) {
    case ASSAY_REASONING_FIELD:
        return "field";
    case ASSAY_REASONING_THINK_TAGS:
        return "think_tags";
    case ASSAY_REASONING_HIDDEN:
        return "hidden";
    default:
        return "none";
    }
}

static char *s_trimdup(const char *s, size_t n)
{
    while (n > 0 && isspace((unsigned char)*s))
        s++, n--;
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    return assay_strndup(s, n);
}

int assay_llm_split_think(const char *text, char **reasoning, char **answer)
{
    if (!text) text = "";
    const char *open = strstr(text, "<think>");
    const char *close = strstr(text, "</think>");
    if (close && (!open || open < close)) {
        const char *rs = open ? open + 7 : text;
        *reasoning = s_trimdup(rs, (size_t)(close - rs));
        const char *as = close + 8;
        *answer = s_trimdup(as, strlen(as));
        return 1;
    }
    if (open) {
        /* the model stopped (length limit) while still thinking */
        *reasoning = s_trimdup(open + 7, strlen(open + 7));
        *answer = s_trimdup(text, (size_t)(open - text));
        return 1;
    }
    *reasoning = assay_strdup("");
    *answer = s_trimdup(text, strlen(text));
    return 0;
}

static const char *s_str(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* fill a choice from its content and reasoning fields */
static void s_choice_fill(assay_llm_choice_t *c, const char *content, const char *reasoning,
                          const char *finish, const char *refusal)
{
    if (reasoning && *reasoning) {
        c->reasoning = s_trimdup(reasoning, strlen(reasoning));
        /* some servers put a stray "</think>" or a closing fragment in content */
        char *r2 = NULL, *a2 = NULL;
        if (content && strstr(content, "</think>")) {
            assay_llm_split_think(content, &r2, &a2);
            free(r2);
            c->content = a2;
        } else {
            c->content = s_trimdup(content ? content : "", content ? strlen(content) : 0);
        }
        c->reasoning_source = ASSAY_REASONING_FIELD;
    } else if (assay_llm_split_think(content, &c->reasoning, &c->content)) {
        c->reasoning_source = ASSAY_REASONING_THINK_TAGS;
    } else {
        c->reasoning_source = ASSAY_REASONING_NONE;
    }
    c->finish_reason = assay_strdup(finish ? finish : "");
    c->refusal = refusal && *refusal ? assay_strdup(refusal) : NULL;
}

static void s_usage(const json_t *usage, assay_llm_result_t *out)
{
    if (!json_is_object(usage)) return;
    out->has_usage = 1;
    out->prompt_tokens = (long)json_integer_value(json_object_get(usage, "prompt_tokens"));
    out->completion_tokens = (long)json_integer_value(json_object_get(usage, "completion_tokens"));
    const json_t *d = json_object_get(usage, "completion_tokens_details");
    out->reasoning_tokens = (long)json_integer_value(json_object_get(d, "reasoning_tokens"));
}

static void s_finish_hidden(assay_llm_result_t *out)
{
    /* o3 style: reasoning happened (it was billed) but its text is not returned */
    if (out->reasoning_tokens <= 0) return;
    for (int i = 0; i < out->nchoices; i++)
        if (out->choices[i].reasoning_source == ASSAY_REASONING_NONE)
            out->choices[i].reasoning_source = ASSAY_REASONING_HIDDEN;
}

static const char *s_error_message(const json_t *root)
{
    const json_t *e = json_object_get(root, "error");
    if (json_is_string(e)) return json_string_value(e);
    const char *m = s_str(e, "message");
    return m ? m : (e ? "unknown error" : NULL);
}

int assay_llm_parse_response(const char *body, size_t len, assay_llm_result_t *out, char *err,
                             size_t errlen)
{
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    if (!root) {
        snprintf(err, errlen, "malformed JSON in response at byte %d: %s", jerr.position,
                 jerr.text);
        return ASSAY_EPARSE;
    }
    int rc = ASSAY_EPARSE;
    if (!json_is_object(root)) {
        snprintf(err, errlen, "response is not a JSON object");
        goto done;
    }
    const json_t *choices = json_object_get(root, "choices");
    if (!json_is_array(choices)) {
        const char *m = s_error_message(root);
        if (m)
            snprintf(err, errlen, "endpoint returned an error: %.300s", m);
        else
            snprintf(err, errlen, "response has no \"choices\" array");
        goto done;
    }
    size_t n = json_array_size(choices);
    if (n > S_MAX_CHOICES) n = S_MAX_CHOICES;
    out->choices = assay_calloc(n ? n : 1, sizeof *out->choices);
    for (size_t i = 0; i < n; i++) {
        const json_t *c = json_array_get(choices, i);
        const json_t *msg = json_object_get(c, "message");
        if (!json_is_object(c) || !json_is_object(msg)) {
            snprintf(err, errlen, "choice %zu has no \"message\" object", i);
            goto done;
        }
        const char *reasoning = s_str(msg, "reasoning_content");
        if (!reasoning) reasoning = s_str(msg, "reasoning");
        assay_llm_choice_t *ch = &out->choices[out->nchoices++];
        const json_t *idx = json_object_get(c, "index");
        ch->index = json_is_integer(idx) ? (int)json_integer_value(idx) : (int)i;
        s_choice_fill(ch, s_str(msg, "content"), reasoning, s_str(c, "finish_reason"),
                      s_str(msg, "refusal"));
    }
    s_usage(json_object_get(root, "usage"), out);
    s_finish_hidden(out);
    out->id = assay_strdup(s_str(root, "id") ? s_str(root, "id") : "");
    out->model = assay_strdup(s_str(root, "model") ? s_str(root, "model") : "");
    rc = 0;
done:
    if (rc != 0) assay_llm_result_release(out);
    json_decref(root);
    return rc;
}

/* ---- SSE ---------------------------------------------------------------------------- */

typedef struct {
    assay_buf_t content, reasoning;
    char *finish_reason;
    char *refusal;
    int seen;
} s_sse_choice_t;

struct assay_llm_sse {
    assay_buf_t line; /* the incomplete line carried between feeds */
    assay_buf_t data; /* data lines of the current event */
    s_sse_choice_t *choices;
    int nchoices; /* highest index seen + 1 */
    int done;     /* saw [DONE] */
    int err;
    char errmsg[256];
    char *id, *model;
    assay_llm_result_t usage; /* only the token fields are used */
};

assay_llm_sse_t *assay_llm_sse_new(void)
{
    return ASSAY_NEW(assay_llm_sse_t);
}

void assay_llm_sse_destroy(assay_llm_sse_t **self_p)
{
    if (!self_p || !*self_p) return;
    assay_llm_sse_t *self = *self_p;
    assay_buf_release(&self->line);
    assay_buf_release(&self->data);
    for (int i = 0; i < self->nchoices; i++) {
        assay_buf_release(&self->choices[i].content);
        assay_buf_release(&self->choices[i].reasoning);
        free(self->choices[i].finish_reason);
        free(self->choices[i].refusal);
    }
    free(self->choices);
    free(self->id);
    free(self->model);
    free(self);
    *self_p = NULL;
}

static void s_sse_event(assay_llm_sse_t *self)
{
    if (self->data.len == 0) return;
    const char *d = self->data.data;
    if (strcmp(d, "[DONE]") == 0) {
        self->done = 1;
        assay_buf_reset(&self->data);
        return;
    }
    json_error_t jerr;
    json_t *ev = json_loadb(d, self->data.len, 0, &jerr);
    assay_buf_reset(&self->data);
    if (!ev || !json_is_object(ev)) {
        self->err = ASSAY_EPARSE;
        snprintf(self->errmsg, sizeof self->errmsg, "malformed JSON in stream event: %s",
                 ev ? "not an object" : jerr.text);
        json_decref(ev);
        return;
    }
    const char *emsg = s_error_message(ev);
    if (emsg) {
        self->err = ASSAY_EPARSE;
        snprintf(self->errmsg, sizeof self->errmsg, "endpoint sent an error in the stream: %.200s",
                 emsg);
        json_decref(ev);
        return;
    }
    if (!self->id && s_str(ev, "id")) self->id = assay_strdup(s_str(ev, "id"));
    if (!self->model && s_str(ev, "model")) self->model = assay_strdup(s_str(ev, "model"));
    const json_t *choices = json_object_get(ev, "choices");
    size_t i;
    const json_t *c;
    json_array_foreach(choices, i, c)
    {
        const json_t *jidx = json_object_get(c, "index");
        long idx = json_is_integer(jidx) ? (long)json_integer_value(jidx) : (long)i;
        if (idx < 0 || idx >= S_MAX_CHOICES) continue;
        if (idx >= self->nchoices) {
            self->choices = assay_realloc(self->choices, (size_t)(idx + 1) * sizeof *self->choices);
            memset(self->choices + self->nchoices, 0,
                   (size_t)(idx + 1 - self->nchoices) * sizeof *self->choices);
            self->nchoices = (int)idx + 1;
        }
        s_sse_choice_t *sc = &self->choices[idx];
        sc->seen = 1;
        const json_t *delta = json_object_get(c, "delta");
        const char *t;
        if ((t = s_str(delta, "content"))) assay_buf_adds(&sc->content, t);
        if ((t = s_str(delta, "reasoning_content")))
            assay_buf_adds(&sc->reasoning, t);
        else if ((t = s_str(delta, "reasoning")))
            assay_buf_adds(&sc->reasoning, t);
        if ((t = s_str(delta, "refusal"))) {
            char *old = sc->refusal;
            sc->refusal = assay_sprintf("%s%s", old ? old : "", t);
            free(old);
        }
        if ((t = s_str(c, "finish_reason"))) {
            free(sc->finish_reason);
            sc->finish_reason = assay_strdup(t);
        }
    }
    const json_t *usage = json_object_get(ev, "usage");
    if (json_is_object(usage)) s_usage(usage, &self->usage);
    json_decref(ev);
}

static void s_sse_line(assay_llm_sse_t *self, const char *line, size_t n)
{
    if (n > 0 && line[n - 1] == '\r') n--;
    if (n == 0) {
        s_sse_event(self);
        return;
    }
    if (line[0] == ':') return; /* comment, e.g. ": keep-alive" */
    if (n >= 5 && memcmp(line, "data:", 5) == 0) {
        const char *v = line + 5;
        size_t vn = n - 5;
        if (vn > 0 && *v == ' ') v++, vn--;
        /* servers that omit the blank line between events: a new JSON object or
         * [DONE] after a complete one starts a new event */
        if (self->data.len > 0 && (vn == 0 || *v == '{' || *v == '[')) s_sse_event(self);
        if (self->data.len > 0) assay_buf_addc(&self->data, '\n');
        assay_buf_add(&self->data, v, vn);
    }
    /* event:, id:, retry: carry nothing we use */
}

int assay_llm_sse_feed(assay_llm_sse_t *self, const char *data, size_t len)
{
    if (self->err) return self->err;
    const char *p = data, *end = data + len;
    while (p < end && !self->err) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) {
            assay_buf_add(&self->line, p, (size_t)(end - p));
            break;
        }
        if (self->line.len > 0) {
            assay_buf_add(&self->line, p, (size_t)(nl - p));
            s_sse_line(self, self->line.data, self->line.len);
            assay_buf_reset(&self->line);
        } else {
            s_sse_line(self, p, (size_t)(nl - p));
        }
        p = nl + 1;
    }
    return self->err;
}

int assay_llm_sse_finish(assay_llm_sse_t *self, assay_llm_result_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!self->err && self->line.len > 0) {
        s_sse_line(self, self->line.data, self->line.len);
        assay_buf_reset(&self->line);
    }
    if (!self->err) s_sse_event(self);
    if (self->err) {
        snprintf(err, errlen, "%s", self->errmsg);
        return self->err;
    }
    int finished = 0;
    for (int i = 0; i < self->nchoices; i++)
        if (self->choices[i].finish_reason) finished = 1;
    if (!self->done && !finished) {
        snprintf(err, errlen, "stream ended before \"data: [DONE]\" (truncated)");
        return ASSAY_ETRUNC;
    }
    out->choices = assay_calloc(self->nchoices ? (size_t)self->nchoices : 1, sizeof *out->choices);
    for (int i = 0; i < self->nchoices; i++) {
        s_sse_choice_t *sc = &self->choices[i];
        if (!sc->seen) continue;
        assay_llm_choice_t *ch = &out->choices[out->nchoices++];
        ch->index = i;
        s_choice_fill(ch, sc->content.data ? sc->content.data : "", sc->reasoning.data,
                      sc->finish_reason, sc->refusal);
    }
    out->has_usage = self->usage.has_usage;
    out->prompt_tokens = self->usage.prompt_tokens;
    out->completion_tokens = self->usage.completion_tokens;
    out->reasoning_tokens = self->usage.reasoning_tokens;
    s_finish_hidden(out);
    out->id = assay_strdup(self->id ? self->id : "");
    out->model = assay_strdup(self->model ? self->model : "");
    return 0;
}

/* ---- errors ------------------------------------------------------------------------ */

long assay_llm_parse_duration_ms(const char *s)
{
    if (!s) return -1;
    while (*s == ' ')
        s++;
    if (!*s) return -1;
    double total = 0;
    int parts = 0;
    const char *p = s;
    while (*p) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || v < 0) return -1;
        p = end;
        double mult;
        if (strncmp(p, "ms", 2) == 0)
            mult = 1, p += 2;
        else if (*p == 'h')
            mult = 3600000, p++;
        else if (*p == 'm')
            mult = 60000, p++;
        else if (*p == 's')
            mult = 1000, p++;
        else if (*p == '\0' && parts == 0)
            mult = 1000; /* bare seconds */
        else
            return -1;
        total += v * mult;
        parts++;
        while (*p == ' ')
            p++;
    }
    if (total > 86400000.0 * 7) total = 86400000.0 * 7;
    return (long)(total + 0.5);
}

static long s_retry_after_value(const char *v, int64_t now_wall_ms)
{
    if (!v || !*v) return -1;
    char *end;
    double secs = strtod(v, &end);
    if (end != v && (*end == '\0' || *end == ' ') && secs >= 0) return (long)(secs * 1000 + 0.5);
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *r = strptime(v, "%a, %d %b %Y %H:%M:%S", &tm);
    if (!r) return -1;
    int64_t at = (int64_t)timegm(&tm) * 1000;
    return at > now_wall_ms ? (long)(at - now_wall_ms) : 0;
}

uint32_t assay_llm_retry_after_ms(const assay_http_response_t *resp, int64_t now_wall_ms)
{
    long ms = s_retry_after_value(assay_http_header(resp, "retry-after"), now_wall_ms);
    if (ms < 0) {
        const char *v = assay_http_header(resp, "retry-after-ms");
        if (v) {
            char *end;
            double d = strtod(v, &end);
            if (end != v && d >= 0) ms = (long)d;
        }
    }
    if (ms < 0) {
        const char *rem_r = assay_http_header(resp, "x-ratelimit-remaining-requests");
        const char *rem_t = assay_http_header(resp, "x-ratelimit-remaining-tokens");
        long rr =
            assay_llm_parse_duration_ms(assay_http_header(resp, "x-ratelimit-reset-requests"));
        long rt = assay_llm_parse_duration_ms(assay_http_header(resp, "x-ratelimit-reset-tokens"));
        int req_out = rem_r && atol(rem_r) <= 0, tok_out = rem_t && atol(rem_t) <= 0;
        if (req_out || tok_out) {
            if (req_out && rr > ms) ms = rr;
            if (tok_out && rt > ms) ms = rt;
        } else {
            ms = rr > rt ? rr : rt;
        }
    }
    if (ms < 0) return 0;
    return ms > 3600000 ? 3600000u : (uint32_t)ms;
}

/* the body's error message, or a printable excerpt of the body */
static void s_body_excerpt(const assay_endpoint_t *ep, const char *body, size_t len, char *out,
                           size_t outlen)
{
    char tmp[512];
    json_t *root = json_loadb(body, len, 0, NULL);
    const char *m = root ? s_error_message(root) : NULL;
    if (m) {
        snprintf(tmp, sizeof tmp, "%s", m);
    } else {
        size_t n = len < 200 ? len : 200;
        size_t j = 0;
        for (size_t i = 0; i < n && j + 1 < sizeof tmp; i++)
            tmp[j++] = ((unsigned char)body[i] < 0x20) ? ' ' : body[i];
        tmp[j] = '\0';
    }
    json_decref(root);
    assay_endpoint_redact(ep, tmp, out, outlen);
}

void assay_llm_classify_http(const assay_endpoint_t *ep, const assay_http_response_t *resp,
                             assay_llm_status_t *st)
{
    memset(st, 0, sizeof *st);
    const char *name = ep ? ep->name : "?";
    char detail[300];
    if (resp->err) {
        assay_endpoint_redact(ep, resp->errmsg, detail, sizeof detail);
        if (resp->cert_error) {
            st->verdict = ASSAY_LLM_FATAL;
            snprintf(st->reason, sizeof st->reason,
                     "endpoint \"%s\": TLS certificate verification failed: %s (check ca_file)",
                     name, detail);
        } else if (resp->err == ASSAY_ETIMEOUT) {
            static const char *const kinds[] = {"", "connect", "first byte", "total"};
            int k = resp->timeout_kind >= 1 && resp->timeout_kind <= 3 ? resp->timeout_kind : 3;
            st->verdict = ASSAY_LLM_RETRY;
            snprintf(st->reason, sizeof st->reason, "endpoint \"%s\": %s timeout (%s)", name,
                     kinds[k], detail);
        } else if (resp->err == ASSAY_ETRUNC) {
            st->verdict = ASSAY_LLM_RETRY;
            snprintf(st->reason, sizeof st->reason, "endpoint \"%s\": truncated response: %s", name,
                     detail);
        } else if (resp->err == ASSAY_ETOOBIG) {
            st->verdict = ASSAY_LLM_FATAL;
            snprintf(st->reason, sizeof st->reason, "endpoint \"%s\": %s", name, detail);
        } else {
            st->verdict = ASSAY_LLM_RETRY;
            snprintf(st->reason, sizeof st->reason, "endpoint \"%s\": transport error: %s", name,
                     detail);
        }
        return;
    }
    long s = resp->status;
    if (s >= 200 && s < 300) {
        st->verdict = ASSAY_LLM_OK;
        return;
    }
    s_body_excerpt(ep, resp->body, resp->body_len, detail, sizeof detail);
    if (s == 429) {
        st->verdict = ASSAY_LLM_RATELIMIT;
        st->retry_after_ms = assay_llm_retry_after_ms(resp, assay_wallclock_ms());
        snprintf(st->reason, sizeof st->reason,
                 "endpoint \"%s\": rate limited (HTTP 429, retry after %u ms): %s", name,
                 st->retry_after_ms, detail);
    } else if (s == 408 || s == 409 || s == 425 || s >= 500) {
        st->verdict = ASSAY_LLM_RETRY;
        st->retry_after_ms = assay_llm_retry_after_ms(resp, assay_wallclock_ms());
        snprintf(st->reason, sizeof st->reason, "endpoint \"%s\": server error (HTTP %ld): %s",
                 name, s, detail);
    } else if (s == 401 || s == 403) {
        st->verdict = ASSAY_LLM_FATAL;
        snprintf(st->reason, sizeof st->reason,
                 "endpoint \"%s\": authentication failed (HTTP %ld, check the API key): %s", name,
                 s, detail);
    } else {
        st->verdict = ASSAY_LLM_FATAL;
        snprintf(st->reason, sizeof st->reason, "endpoint \"%s\": request rejected (HTTP %ld): %s",
                 name, s, detail);
    }
}

/* classify a parsed 2xx result: no choices, refusals, empty completions */
static void s_classify_result(const assay_endpoint_t *ep, const assay_llm_result_t *r,
                              assay_llm_status_t *st)
{
    const char *name = ep ? ep->name : "?";
    if (r->nchoices == 0) {
        st->verdict = ASSAY_LLM_RETRY;
        snprintf(st->reason, sizeof st->reason, "endpoint \"%s\": response has no choices", name);
        return;
    }
    int refused = 0, empty = 0;
    const char *why = NULL;
    for (int i = 0; i < r->nchoices; i++) {
        const assay_llm_choice_t *c = &r->choices[i];
        if (c->refusal || strcmp(c->finish_reason, "content_filter") == 0) {
            refused++;
            why = c->refusal ? c->refusal : "content filter";
        } else if (!*c->content && !*c->reasoning && strcmp(c->finish_reason, "length") != 0) {
            empty++;
        }
    }
    if (refused == r->nchoices) {
        char tmp[300];
        assay_endpoint_redact(ep, why, tmp, sizeof tmp);
        st->verdict = ASSAY_LLM_FATAL;
        snprintf(st->reason, sizeof st->reason, "endpoint \"%s\": model refused: %s", name, tmp);
    } else if (empty + refused == r->nchoices) {
        st->verdict = ASSAY_LLM_RETRY;
        snprintf(st->reason, sizeof st->reason, "endpoint \"%s\": empty completion", name);
    } else {
        st->verdict = ASSAY_LLM_OK;
    }
}

/* ---- money and cache --------------------------------------------------------------- */

double assay_llm_cost(const assay_endpoint_t *ep, long prompt_tokens, long completion_tokens)
{
    return ((double)prompt_tokens * ep->price_in_per_mtok +
            (double)completion_tokens * ep->price_out_per_mtok) /
           1e6;
}

void assay_llm_cache_key(const char *model, const json_t *messages, const json_t *params,
                         int sample_index, char out[65])
{
    json_t *k = json_object();
    json_object_set_new(k, "v", json_integer(1)); /* bump when the key's content changes */
    json_object_set_new(k, "model", json_string(model ? model : ""));
    json_object_set(k, "messages", (json_t *)messages);
    json_object_set_new(k, "params", params ? json_incref((json_t *)params) : json_object());
    json_object_set_new(k, "sample", json_integer(sample_index));
    char *s = json_dumps(k, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    assay_sha256_hex(s, strlen(s), out);
    free(s);
    json_decref(k);
}

/* ---- asynchronous calls ------------------------------------------------------------ */

typedef struct s_call s_call_t;
struct s_call {
    assay_llm_t *llm;
    assay_endpoint_t *ep;
    char *body;
    size_t len;
    int stream;
    assay_llm_done_fn fn;
    void *arg;
    assay_llm_sse_t *sse;
    assay_buf_t raw; /* streamed bytes */
    uint64_t http_id;
    s_call_t *prev, *next;
};

typedef struct {
    s_call_t *head, *tail;
    int n;
} s_list_t;

struct assay_llm {
    assay_http_t *http;
    uint64_t rng; /* backoff jitter */
    s_list_t queued;
    s_list_t inflight;
};

static void s_list_push(s_list_t *l, s_call_t *c)
{
    c->next = NULL;
    c->prev = l->tail;
    if (l->tail)
        l->tail->next = c;
    else
        l->head = c;
    l->tail = c;
    l->n++;
}

static void s_list_remove(s_list_t *l, s_call_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        l->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        l->tail = c->prev;
    c->prev = c->next = NULL;
    l->n--;
}

static void s_call_free(s_call_t *c)
{
    free(c->body);
    assay_llm_sse_destroy(&c->sse);
    assay_buf_release(&c->raw);
    free(c);
}

assay_llm_t *assay_llm_new(assay_http_t *http)
{
    assay_llm_t *self = ASSAY_NEW(assay_llm_t);
    self->http = http;
    self->rng = (uint64_t)assay_clock_us() ^ (uint64_t)(uintptr_t)self;
    return self;
}

void assay_llm_destroy(assay_llm_t **self_p)
{
    if (!self_p || !*self_p) return;
    assay_llm_t *self = *self_p;
    while (self->queued.head) {
        s_call_t *c = self->queued.head;
        s_list_remove(&self->queued, c);
        s_call_free(c);
    }
    while (self->inflight.head) {
        s_call_t *c = self->inflight.head;
        s_list_remove(&self->inflight, c);
        assay_http_cancel(self->http, c->http_id);
        c->ep->inflight--;
        s_call_free(c);
    }
    free(self);
    *self_p = NULL;
}

int assay_llm_queued(const assay_llm_t *self)
{
    return self->queued.n;
}

assay_http_t *assay_llm_http(assay_llm_t *self)
{
    return self->http;
}

uint32_t assay_llm_backoff_ms(assay_llm_t *self, int attempt, uint32_t retry_after_ms)
{
    static const assay_retry_policy_t policy = {.base_ms = 250, .max_ms = 8000};
    return assay_retry_delay_ms(&policy, attempt < 1 ? 1u : (uint32_t)attempt, retry_after_ms,
                                &self->rng);
}

static int s_on_data(const char *data, size_t len, void *arg)
{
    s_call_t *c = arg;
    if (c->raw.len + len > ((size_t)64 << 20)) return -1;
    assay_buf_add(&c->raw, data, len);
    assay_llm_sse_feed(c->sse, data, len);
    return 0;
}

static void s_pump(assay_llm_t *self, assay_endpoint_t *ep);

static void s_finish(s_call_t *c, assay_llm_outcome_t *o)
{
    assay_llm_t *self = c->llm;
    assay_endpoint_t *ep = c->ep;
    s_list_remove(&self->inflight, c);
    ep->inflight--;
    c->fn(o, c->arg);
    assay_llm_result_release(&o->result);
    s_call_free(c);
    s_pump(self, ep);
}

static void s_http_done(const assay_http_response_t *resp, void *arg)
{
    s_call_t *c = arg;
    assay_llm_outcome_t o;
    memset(&o, 0, sizeof o);
    o.http_status = resp->status;
    o.latency_ms = resp->total_ms;
    o.first_byte_ms = resp->first_byte_ms;
    o.raw = c->stream ? (c->raw.data ? c->raw.data : "") : resp->body;
    o.raw_len = c->stream ? c->raw.len : resp->body_len;
    assay_http_response_t view = *resp;
    if (c->stream) {
        view.body = o.raw;
        view.body_len = o.raw_len;
    }
    assay_llm_classify_http(c->ep, &view, &o.status);
    if (o.status.verdict == ASSAY_LLM_OK) {
        const char *ct = assay_http_header(resp, "content-type");
        int is_sse = c->stream && ct && strstr(ct, "text/event-stream");
        char err[256];
        int rc = is_sse ? assay_llm_sse_finish(c->sse, &o.result, err, sizeof err)
                        : assay_llm_parse_response(o.raw, o.raw_len, &o.result, err, sizeof err);
        if (rc != 0) {
            char red[256];
            assay_endpoint_redact(c->ep, err, red, sizeof red);
            o.status.verdict = ASSAY_LLM_RETRY;
            snprintf(o.status.reason, sizeof o.status.reason, "endpoint \"%s\": %s", c->ep->name,
                     red);
        } else {
            s_classify_result(c->ep, &o.result, &o.status);
        }
    }
    s_finish(c, &o);
}

static int s_start(assay_llm_t *self, s_call_t *c)
{
    assay_endpoint_t *ep = c->ep;
    const char *headers[4];
    int nh = 0;
    headers[nh++] = "Content-Type: application/json";
    if (ep->auth_header) headers[nh++] = ep->auth_header;
    if (c->stream) headers[nh++] = "Accept: text/event-stream";
    headers[nh] = NULL;
    assay_http_request_t rq;
    memset(&rq, 0, sizeof rq);
    rq.method = "POST";
    rq.url = ep->url;
    rq.body = c->body;
    rq.body_len = c->len;
    rq.headers = headers;
    rq.ca_file = ep->ca_file;
    rq.connect_timeout_ms = ep->connect_timeout_ms;
    rq.first_byte_timeout_ms = ep->first_byte_timeout_ms;
    rq.total_timeout_ms = ep->total_timeout_ms;
    rq.on_done = s_http_done;
    rq.arg = c;
    if (c->stream) {
        c->sse = assay_llm_sse_new();
        rq.on_data = s_on_data;
    }
    int rc = assay_http_start(self->http, &rq, &c->http_id);
    if (rc != 0) return rc;
    ep->inflight++;
    s_list_push(&self->inflight, c);
    return 0;
}

/* start queued calls for ep while it has free slots */
static void s_pump(assay_llm_t *self, assay_endpoint_t *ep)
{
    s_call_t *c = self->queued.head;
    while (c && ep->inflight < ep->max_concurrency) {
        s_call_t *next = c->next;
        if (c->ep == ep) {
            s_list_remove(&self->queued, c);
            int rc = s_start(self, c);
            if (rc != 0) {
                assay_llm_outcome_t o;
                memset(&o, 0, sizeof o);
                /* a client shutting down is worth another try elsewhere */
                o.status.verdict = rc == ASSAY_ESTATE ? ASSAY_LLM_RETRY : ASSAY_LLM_FATAL;
                snprintf(o.status.reason, sizeof o.status.reason,
                         "endpoint \"%s\": could not start request: %s", ep->name,
                         assay_strerror(rc));
                o.raw = "";
                c->fn(&o, c->arg);
                s_call_free(c);
                /* the callback may have queued or started calls: rescan */
                next = self->queued.head;
            }
        }
        c = next;
    }
}

int assay_llm_call(assay_llm_t *self, assay_endpoint_t *ep, const char *body, size_t len,
                   int stream, assay_llm_done_fn fn, void *arg)
{
    if (!self || !ep || !body || !fn) return ASSAY_EINVAL;
    s_call_t *c = ASSAY_NEW(s_call_t);
    c->llm = self;
    c->ep = ep;
    c->body = assay_strndup(body, len);
    c->len = len;
    c->stream = stream;
    c->fn = fn;
    c->arg = arg;
    if (ep->inflight >= ep->max_concurrency) {
        s_list_push(&self->queued, c);
        return 0;
    }
    int rc = s_start(self, c);
    if (rc != 0) {
        s_call_free(c);
        return rc;
    }
    return 0;
}
