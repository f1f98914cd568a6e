/*  simllm.c: assay-simllm, an OpenAI-compatible stand-in endpoint for tests, the
 *  benchmark and the demo.
 *
 *  Serves POST /v1/chat/completions (JSON or server-sent events), GET /v1/models,
 *  GET /stats (counters as JSON) and GET /health, over HTTP or HTTPS. Answers come
 *  from sim_answer.c (deterministic, documented there). Latency follows a
 *  configurable distribution and faults are injected at given rates, so a client
 *  sees what real endpoints do to it: 429 with Retry-After (or x-ratelimit-*
 *  headers), 500, stalls, keep-alive blank lines, truncated bodies, garbage JSON,
 *  empty choices and refusals.
 *
 *  Concurrency: each of --threads loops owns one libmicrohttpd daemon (all of them
 *  accept on one listening socket) and drives it from outside: it waits on the
 *  daemon's epoll descriptor with a timeout taken from the earliest deadline, its
 *  own timers' or the daemon's, then lets the daemon work without blocking
 *  (MHD_run). A waiting request is suspended (MHD_suspend_connection) and resumed
 *  by its loop when its latency has passed, so a thousand requests in flight cost
 *  no threads.
 *
 *  Why not libmicrohttpd's internal polling thread: its epoll loop (MHD_epoll, at
 *  least 0.9.75 to 1.0) drains events 128 at a time and, when a batch is exactly
 *  full, waits again with the full blocking timeout although the connections it
 *  just collected are still to be served. When 128 (or 256, ...) requests arrive
 *  together, as they do at latency 0 with a client holding that many connections,
 *  they sit unread until some other event or the 300 s connection timeout: a lost
 *  wake-up. Driven from outside, the daemon only ever waits with a zero timeout,
 *  and MHD_get_timeout is 0 while it holds ready connections.
 */
#include "ops/simllm/sim_answer.h"

#include "common/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

enum { F_429, F_500, F_STALL, F_KEEPALIVE, F_TRUNCATE, F_GARBAGE, F_EMPTY, F_REFUSAL, F_COUNT };
static const char *const s_fault_names[F_COUNT] = {"429",      "500",     "stall", "keepalive",
                                                   "truncate", "garbage", "empty", "refusal"};

enum { LAT_FIXED, LAT_UNIFORM, LAT_EXP, LAT_LOGNORMAL };

typedef struct s_conn s_conn_t;
typedef struct s_sim s_sim_t;

typedef struct {
    int64_t due_ms;
    s_conn_t *c;
} s_timer_t;

/* one event loop: a daemon and the suspended connections it must resume; only
 * its own thread touches it */
typedef struct {
    s_sim_t *sim;
    struct MHD_Daemon *d;
    s_timer_t *heap; /* min-heap by due_ms */
    int nheap, capheap;
    pthread_t thread;
} s_loop_t;

struct s_sim {
    /* settings (read-only once serving) */
    sim_mode_t default_mode;
    sim_key_t *key;
    double failure_rate;
    sim_style_t failure_style;
    double lat_mean_ms, lat_jitter;
    int lat_dist;
    double fault_rate[F_COUNT];
    long fault_limit;
    int retry_after_s;
    int xratelimit;
    long stall_ms;
    long keepalive_ms;
    int supports_n;
    char *api_key;
    int quiet;
    /* state */
    pthread_mutex_t mu; /* rng, counters */
    uint64_t rng;
    uint64_t next_id;
    long faults_injected;
    long n_requests, n_ok, n_fault[F_COUNT], n_bad;
    long inflight, max_inflight;
    /* loops (--threads of them) */
    s_loop_t *loops;
    int stop_fd; /* eventfd: readable once the loops are to stop */
};

typedef struct {
    int64_t due_ms;
    char *data;
    size_t len;
} s_piece_t;

struct s_conn {
    s_sim_t *sim;
    s_loop_t *loop; /* the loop that serves (and resumes) this connection */
    struct MHD_Connection *conn;
    assay_buf_t req;
    int counted;    /* in the inflight count */
    int waiting;    /* suspended before a buffered response */
    int stalled;    /* a stall fault was served: answer normally now */
    int chat_again; /* resumed after a stall: run the request again */
    int64_t t0;
    /* buffered response */
    unsigned status;
    char *payload;
    size_t payload_len;
    const char *ctype;
    int retry_after; /* seconds, -1 = none */
    int xrl;
    /* callback response */
    s_piece_t *pieces;
    int npieces, cur;
    size_t off;
    int truncate;
    uint64_t total_size; /* MHD_SIZE_UNKNOWN for chunked */
};

/* ---- helpers -------------------------------------------------------------------- */

static double s_rand(s_sim_t *sim)
{
    pthread_mutex_lock(&sim->mu);
    /* xorshift64* */
    uint64_t x = sim->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    sim->rng = x;
    pthread_mutex_unlock(&sim->mu);
    return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

static long s_latency(s_sim_t *sim)
{
    double m = sim->lat_mean_ms, u = s_rand(sim), l = m;
    switch (sim->lat_dist) {
    case LAT_UNIFORM:
        l = m * (1 + sim->lat_jitter * (2 * u - 1));
        break;
    case LAT_EXP:
        l = -m * log(1 - u);
        break;
    case LAT_LOGNORMAL: {
        double u2 = s_rand(sim);
        double z = sqrt(-2 * log(1 - u)) * cos(2 * M_PI * u2);
        double s = sim->lat_jitter > 0 ? sim->lat_jitter : 0.5;
        l = m * exp(s * z - s * s / 2);
        break;
    }
    default:
        break;
    }
    return l < 0 ? 0 : (long)l;
}

static void s_heap_push(s_loop_t *l, int64_t due, s_conn_t *c)
{
    if (l->nheap == l->capheap) {
        l->capheap = l->capheap ? l->capheap * 2 : 1024;
        l->heap = assay_realloc(l->heap, (size_t)l->capheap * sizeof *l->heap);
    }
    int i = l->nheap++;
    l->heap[i].due_ms = due;
    l->heap[i].c = c;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (l->heap[p].due_ms <= l->heap[i].due_ms) break;
        s_timer_t t = l->heap[p];
        l->heap[p] = l->heap[i];
        l->heap[i] = t;
        i = p;
    }
}

static s_timer_t s_heap_pop(s_loop_t *l)
{
    s_timer_t top = l->heap[0];
    l->heap[0] = l->heap[--l->nheap];
    int i = 0;
    for (;;) {
        int a = 2 * i + 1, b = a + 1, m = i;
        if (a < l->nheap && l->heap[a].due_ms < l->heap[m].due_ms) m = a;
        if (b < l->nheap && l->heap[b].due_ms < l->heap[m].due_ms) m = b;
        if (m == i) break;
        s_timer_t t = l->heap[m];
        l->heap[m] = l->heap[i];
        l->heap[i] = t;
        i = m;
    }
    return top;
}

/* suspend c until due; its loop resumes it (callbacks run on that loop's thread) */
static void s_sleep_until(s_conn_t *c, int64_t due)
{
    MHD_suspend_connection(c->conn);
    s_heap_push(c->loop, due, c);
}

/* The loop of one daemon: resume what is due, let the daemon work (MHD_run never
 * blocks), then sleep on its epoll descriptor until the earliest deadline. */
static void *s_loop_main(void *arg)
{
    s_loop_t *l = arg;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(l->d, MHD_DAEMON_INFO_EPOLL_FD);
    struct pollfd fds[2] = {{info->epoll_fd, POLLIN, 0}, {l->sim->stop_fd, POLLIN, 0}};
    for (;;) {
        int64_t now = assay_clock_ms();
        while (l->nheap > 0 && l->heap[0].due_ms <= now)
            MHD_resume_connection(s_heap_pop(l).c->conn);
        MHD_run(l->d);
        if (fds[1].revents) break;
        long timeout = -1;
        MHD_UNSIGNED_LONG_LONG mt;
        if (MHD_get_timeout(l->d, &mt) == MHD_YES) timeout = mt > INT_MAX ? INT_MAX : (long)mt;
        if (l->nheap > 0) {
            int64_t left = l->heap[0].due_ms - assay_clock_ms();
            if (left < 0) left = 0;
            if (timeout < 0 || left < timeout) timeout = (long)left;
        }
        if (poll(fds, 2, (int)timeout) < 0 && errno != EINTR) {
            fprintf(stderr, "assay-simllm: poll failed: %s\n", strerror(errno));
            break;
        }
    }
    /* wake every suspended connection so that stopping the daemon can close it */
    while (l->nheap > 0)
        MHD_resume_connection(s_heap_pop(l).c->conn);
    return NULL;
}

static void s_add_piece(s_conn_t *c, int64_t due, const char *data, size_t len)
{
    c->pieces = assay_realloc(c->pieces, (size_t)(c->npieces + 1) * sizeof *c->pieces);
    c->pieces[c->npieces].due_ms = due;
    c->pieces[c->npieces].data = assay_strndup(data, len);
    c->pieces[c->npieces].len = len;
    c->npieces++;
}

static void s_conn_free(s_conn_t *c)
{
    assay_buf_release(&c->req);
    free(c->payload);
    for (int i = 0; i < c->npieces; i++)
        free(c->pieces[i].data);
    free(c->pieces);
    free(c);
}

/* ---- responses -------------------------------------------------------------------- */

static enum MHD_Result s_send_buffer(s_conn_t *c)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(c->payload_len, c->payload, MHD_RESPMEM_MUST_FREE);
    c->payload = NULL;
    MHD_add_response_header(r, "Content-Type", c->ctype ? c->ctype : "application/json");
    if (c->retry_after >= 0) {
        char v[32];
        snprintf(v, sizeof v, "%d", c->retry_after);
        if (c->xrl) {
            char reset[32];
            snprintf(reset, sizeof reset, "%ds", c->retry_after);
            MHD_add_response_header(r, "x-ratelimit-limit-requests", "60");
            MHD_add_response_header(r, "x-ratelimit-remaining-requests", "0");
            MHD_add_response_header(r, "x-ratelimit-reset-requests", reset);
            MHD_add_response_header(r, "x-ratelimit-remaining-tokens", "1000");
            MHD_add_response_header(r, "x-ratelimit-reset-tokens", "10ms");
        } else {
            MHD_add_response_header(r, "Retry-After", v);
        }
    }
    enum MHD_Result ret = MHD_queue_response(c->conn, c->status, r);
    MHD_destroy_response(r);
    return ret;
}

static ssize_t s_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    s_conn_t *c = cls;
    if (c->cur >= c->npieces)
        return c->truncate ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
    s_piece_t *p = &c->pieces[c->cur];
    int64_t now = assay_clock_ms();
    if (p->due_ms > now) {
        s_sleep_until(c, p->due_ms);
        return 0;
    }
    size_t n = p->len - c->off;
    if (n > max) n = max;
    memcpy(buf, p->data + c->off, n);
    c->off += n;
    if (c->off == p->len) {
        c->cur++;
        c->off = 0;
    }
    if (n == 0) return s_reader(cls, pos, buf, max);
    return (ssize_t)n;
}

static enum MHD_Result s_send_pieces(s_conn_t *c, const char *ctype)
{
    struct MHD_Response *r =
        MHD_create_response_from_callback(c->total_size, 16384, s_reader, c, NULL);
    MHD_add_response_header(r, "Content-Type", ctype);
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    enum MHD_Result ret = MHD_queue_response(c->conn, c->status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result s_send_json_now(s_conn_t *c, unsigned status, json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    c->status = status;
    c->payload = s;
    c->payload_len = strlen(s);
    c->retry_after = -1;
    return s_send_buffer(c);
}

static json_t *s_error_json(const char *msg, const char *type, const char *code)
{
    return json_pack("{s:{s:s,s:s,s:s*}}", "error", "message", msg, "type", type, "code", code);
}

/* ---- chat completions ---------------------------------------------------------------- */

static int s_pick_fault(s_sim_t *sim)
{
    double total = 0;
    for (int i = 0; i < F_COUNT; i++)
        total += sim->fault_rate[i];
    if (total <= 0) return -1;
    double u = s_rand(sim);
    double acc = 0;
    int f = -1;
    for (int i = 0; i < F_COUNT; i++) {
        acc += sim->fault_rate[i];
        if (u < acc) {
            f = i;
            break;
        }
    }
    if (f < 0) return -1;
    pthread_mutex_lock(&sim->mu);
    if (sim->fault_limit > 0 && sim->faults_injected >= sim->fault_limit)
        f = -1;
    else
        sim->faults_injected++, sim->n_fault[f]++;
    pthread_mutex_unlock(&sim->mu);
    return f;
}

/* build the message object for one choice in the given mode */
static json_t *s_message(sim_mode_t mode, const sim_choice_t *ch)
{
    json_t *m = json_object();
    json_object_set_new(m, "role", json_string("assistant"));
    int cut_in_reasoning = strcmp(ch->finish_reason, "length") == 0 && !*ch->content;
    switch (mode) {
    case SIM_MODE_R1:
        json_object_set_new(m, "content", json_string(ch->content));
        json_object_set_new(m, "reasoning_content", json_string(ch->reasoning));
        break;
    case SIM_MODE_R1R:
        json_object_set_new(m, "content", json_string(ch->content));
        json_object_set_new(m, "reasoning", json_string(ch->reasoning));
        break;
    case SIM_MODE_THINK:
    case SIM_MODE_THINK_OPEN: {
        char *t =
            assay_sprintf("%s%s%s%s", mode == SIM_MODE_THINK_OPEN ? "<think>\n" : "", ch->reasoning,
                          cut_in_reasoning ? "" : "\n</think>\n\n", ch->content);
        json_object_set_new(m, "content", json_string(t));
        free(t);
        break;
    }
    default: /* o3 and plain: the reasoning text is not returned */
        json_object_set_new(m, "content", json_string(ch->content));
        break;
    }
    return m;
}

static json_t *s_usage(long pt, long ct, long rt)
{
    return json_pack("{s:I,s:I,s:I,s:{s:I}}", "prompt_tokens", (json_int_t)pt, "completion_tokens",
                     (json_int_t)ct, "total_tokens", (json_int_t)(pt + ct),
                     "completion_tokens_details", "reasoning_tokens", (json_int_t)rt);
}

/* split text into about k pieces on UTF-8 boundaries */
static int s_split(const char *text, int k, const char **starts, size_t *lens, int max)
{
    size_t n = strlen(text);
    if (n == 0) return 0;
    if (k > max) k = max;
    size_t step = n / (size_t)k + 1, pos = 0;
    int m = 0;
    while (pos < n && m < max) {
        size_t e = pos + step < n ? pos + step : n;
        while (e < n && ((unsigned char)text[e] & 0xC0) == 0x80)
            e++;
        starts[m] = text + pos;
        lens[m] = e - pos;
        m++;
        pos = e;
    }
    return m;
}

static void s_sse_event(s_conn_t *c, int64_t due, json_t *ev)
{
    char *s = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    char *line = assay_sprintf("data: %s\n\n", s);
    s_add_piece(c, due, line, strlen(line));
    free(line);
    free(s);
}

static enum MHD_Result s_chat(s_conn_t *c)
{
    s_sim_t *sim = c->sim;
    pthread_mutex_lock(&sim->mu);
    if (!c->stalled) sim->n_requests++;
    uint64_t id = ++sim->next_id;
    pthread_mutex_unlock(&sim->mu);

    if (sim->api_key) {
        const char *auth = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "Authorization");
        const char *given = auth && strncmp(auth, "Bearer ", 7) == 0 ? auth + 7 : "";
        if (strcmp(given, sim->api_key) != 0) {
            /* like real APIs, echo the key that was sent: clients must redact it */
            char msg[300];
            snprintf(msg, sizeof msg, "Incorrect API key provided: %.200s", given);
            return s_send_json_now(c, 401,
                                   s_error_json(msg, "invalid_request_error", "invalid_api_key"));
        }
    }
    json_error_t jerr;
    json_t *req = json_loadb(c->req.data ? c->req.data : "", c->req.len, 0, &jerr);
    const json_t *msgs = req ? json_object_get(req, "messages") : NULL;
    const char *model = req ? json_string_value(json_object_get(req, "model")) : NULL;
    char bad[300] = "";
    if (!req || !json_is_object(req))
        snprintf(bad, sizeof bad, "request body is not a JSON object: %s", jerr.text);
    else if (!model)
        snprintf(bad, sizeof bad, "missing required parameter: 'model'");
    else if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        snprintf(bad, sizeof bad, "'messages' must be a non-empty array");
    if (*bad) {
        json_decref(req);
        pthread_mutex_lock(&sim->mu);
        sim->n_bad++;
        pthread_mutex_unlock(&sim->mu);
        return s_send_json_now(c, 400, s_error_json(bad, "invalid_request_error", NULL));
    }
    sim_opts_t opts;
    memset(&opts, 0, sizeof opts);
    opts.key = sim->key;
    opts.failure_rate = sim->failure_rate;
    opts.failure_style = sim->failure_style;
    if (sim_model_parse(model, sim->default_mode, &opts.mode, &opts.forced_style) != 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "The model '%.200s' does not exist", model);
        json_decref(req);
        return s_send_json_now(c, 404,
                               s_error_json(msg, "invalid_request_error", "model_not_found"));
    }
    const char *effort = json_string_value(json_object_get(req, "reasoning_effort"));
    opts.effort_factor = !effort                   ? 1
                         : !strcmp(effort, "low")  ? 0.5
                         : !strcmp(effort, "high") ? 2
                                                   : 1;
    int stream = json_is_true(json_object_get(req, "stream"));
    int include_usage =
        json_is_true(json_object_get(json_object_get(req, "stream_options"), "include_usage"));
    int n = 1;
    const json_t *jn = json_object_get(req, "n");
    if (sim->supports_n && json_is_integer(jn)) {
        n = (int)json_integer_value(jn);
        if (n < 1 || n > 128) {
            json_decref(req);
            return s_send_json_now(
                c, 400,
                s_error_json("'n' must be between 1 and 128", "invalid_request_error", NULL));
        }
    }

    int fault = c->stalled ? -1 : s_pick_fault(sim);
    int64_t now = assay_clock_ms();
    c->retry_after = -1;
    if (fault == F_STALL) {
        /* say nothing at all (not even headers) for stall_ms, then answer */
        json_decref(req);
        c->stalled = c->chat_again = 1;
        s_sleep_until(c, now + sim->stall_ms);
        return MHD_YES;
    }
    long lat = s_latency(sim);
    if (fault == F_429 || fault == F_500) {
        json_decref(req);
        c->status = fault == F_429 ? 429 : 500;
        json_t *e =
            fault == F_429
                ? s_error_json("Rate limit reached for requests", "requests", "rate_limit_exceeded")
                : s_error_json("The server had an error while processing your request",
                               "server_error", NULL);
        c->payload = json_dumps(e, JSON_COMPACT);
        json_decref(e);
        c->payload_len = strlen(c->payload);
        if (fault == F_429) {
            c->retry_after = sim->retry_after_s;
            c->xrl = sim->xratelimit;
        }
        return s_send_buffer(c);
    }

    /* the answer */
    long pt = sim_prompt_tokens(req);
    long ct = 0, rt = 0;
    sim_choice_t *ch = assay_calloc((size_t)n, sizeof *ch);
    for (int i = 0; i < n; i++) {
        sim_answer(&opts, req, i, s_rand(sim), s_rand(sim), &ch[i], NULL);
        ct += ch[i].completion_tokens;
        rt += ch[i].reasoning_tokens;
    }
    char idstr[64];
    snprintf(idstr, sizeof idstr, "chatcmpl-sim-%llu", (unsigned long long)id);
    json_int_t created = (json_int_t)time(NULL);

    enum MHD_Result ret;
    if (!stream) {
        json_t *body = json_pack("{s:s,s:s,s:I,s:s,s:[]}", "id", idstr, "object", "chat.completion",
                                 "created", created, "model", model, "choices");
        json_t *choices = json_object_get(body, "choices");
        if (fault != F_EMPTY) {
            for (int i = 0; i < n; i++) {
                json_t *m = s_message(opts.mode, &ch[i]);
                const char *fr = ch[i].finish_reason;
                if (fault == F_REFUSAL) {
                    json_object_set_new(m, "content", json_null());
                    json_object_del(m, "reasoning_content");
                    json_object_del(m, "reasoning");
                    json_object_set_new(m, "refusal",
                                        json_string("I'm sorry, I can't help with that request."));
                    fr = "stop";
                }
                json_array_append_new(choices, json_pack("{s:i,s:o,s:s}", "index", i, "message", m,
                                                         "finish_reason", fr));
            }
        }
        json_object_set_new(body, "usage", s_usage(pt, ct, rt));
        char *s = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        size_t len = strlen(s);
        c->status = 200;
        if (fault == F_GARBAGE) {
            /* a proxy's idea of JSON: cut mid-value, then junk */
            size_t keep = len / 3;
            char *g = assay_sprintf("%.*s<html>502 Bad Gateway</html>\x01", (int)keep, s);
            free(s);
            s = g;
            len = strlen(s);
        }
        if (fault == F_KEEPALIVE || fault == F_TRUNCATE) {
            /* DeepSeek-style: blank lines while the answer is prepared */
            if (fault == F_KEEPALIVE) {
                int64_t t = now;
                int k = 0;
                while (k < 2 || t + sim->keepalive_ms < now + lat) {
                    s_add_piece(c, t, "\n", 1);
                    t += sim->keepalive_ms;
                    k++;
                }
                c->total_size = MHD_SIZE_UNKNOWN;
            } else {
                c->total_size = len;
                len = len / 2; /* the connection closes half way */
                c->truncate = 1;
            }
            s_add_piece(c, now + lat, s, len);
            free(s);
            ret = s_send_pieces(c, "application/json");
        } else {
            c->payload = s;
            c->payload_len = len;
            if (lat > 0) {
                c->waiting = 1;
                s_sleep_until(c, now + lat);
                ret = MHD_YES;
            } else {
                ret = s_send_buffer(c);
            }
        }
    } else {
        /* SSE: role first, reasoning then content in pieces spread over the latency */
        c->status = 200;
        c->total_size = MHD_SIZE_UNKNOWN;
        int64_t t = now;
        if (fault == F_KEEPALIVE) {
            int64_t until = now + lat / 2;
            int k = 0;
            while (k < 2 || t < until) {
                s_add_piece(c, t, ": keep-alive\n\n", 15);
                t += sim->keepalive_ms;
                k++;
            }
        }
        for (int i = 0; i < n && fault != F_EMPTY; i++) {
            json_t *ev =
                json_pack("{s:s,s:s,s:I,s:s,s:[{s:i,s:{s:s,s:s},s:n}]}", "id", idstr, "object",
                          "chat.completion.chunk", "created", created, "model", model, "choices",
                          "index", i, "delta", "role", "assistant", "content", "", "finish_reason");
            s_sse_event(c, t, ev);
        }
        int64_t end = now + lat;
        for (int i = 0; i < n && fault != F_EMPTY; i++) {
            json_t *m = s_message(opts.mode, &ch[i]);
            const char *rkey = opts.mode == SIM_MODE_R1 ? "reasoning_content" : "reasoning";
            const char *rtext = json_string_value(json_object_get(m, rkey));
            const char *ctext = json_string_value(json_object_get(m, "content"));
            const char *st[16];
            size_t sl[16];
            int k = rtext ? s_split(rtext, 6, st, sl, 16) : 0;
            int total = k + s_split(ctext ? ctext : "", 4, st + k, sl + k, 16 - k);
            for (int j = 0; j < total; j++) {
                int64_t due = t + (end - t) * (j + 1) / (total + 1);
                json_t *delta = json_object();
                json_object_set_new(delta, j < k ? rkey : "content", json_stringn(st[j], sl[j]));
                s_sse_event(c, due,
                            json_pack("{s:s,s:s,s:I,s:s,s:[{s:i,s:o,s:n}]}", "id", idstr, "object",
                                      "chat.completion.chunk", "created", created, "model", model,
                                      "choices", "index", i, "delta", delta, "finish_reason"));
            }
            json_decref(m);
            s_sse_event(c, end,
                        json_pack("{s:s,s:s,s:I,s:s,s:[{s:i,s:{},s:s}]}", "id", idstr, "object",
                                  "chat.completion.chunk", "created", created, "model", model,
                                  "choices", "index", i, "delta", "finish_reason",
                                  ch[i].finish_reason));
        }
        if (include_usage)
            s_sse_event(c, end,
                        json_pack("{s:s,s:s,s:I,s:s,s:[],s:o}", "id", idstr, "object",
                                  "chat.completion.chunk", "created", created, "model", model,
                                  "choices", "usage", s_usage(pt, ct, rt)));
        if (fault == F_TRUNCATE) {
            /* drop the last third of the events: no finish_reason, no [DONE] */
            int keep = c->npieces * 2 / 3;
            for (int i = keep; i < c->npieces; i++)
                free(c->pieces[i].data);
            c->npieces = keep > 1 ? keep : 1;
            c->truncate = 1;
        } else if (fault == F_GARBAGE) {
            s_add_piece(c, end, "data: {\"choices\": [{\"delta\": {\"content\": tru\n\n", 47);
        } else {
            s_add_piece(c, end, "data: [DONE]\n\n", 14);
        }
        ret = s_send_pieces(c, "text/event-stream");
    }
    if (fault < 0 || fault == F_KEEPALIVE) {
        pthread_mutex_lock(&sim->mu);
        sim->n_ok++;
        pthread_mutex_unlock(&sim->mu);
    }
    for (int i = 0; i < n; i++)
        sim_choice_release(&ch[i]);
    free(ch);
    json_decref(req);
    return ret;
}

static enum MHD_Result s_models(s_conn_t *c)
{
    json_t *data = json_array();
    for (int m = 0; m <= SIM_MODE_PLAIN; m++) {
        char *id = assay_sprintf("sim-%s", sim_mode_name((sim_mode_t)m));
        json_array_append_new(data, json_pack("{s:s,s:s,s:i,s:s}", "id", id, "object", "model",
                                              "created", 1700000000, "owned_by", "assay-simllm"));
        free(id);
    }
    return s_send_json_now(c, 200, json_pack("{s:s,s:o}", "object", "list", "data", data));
}

static enum MHD_Result s_stats(s_conn_t *c)
{
    s_sim_t *sim = c->sim;
    pthread_mutex_lock(&sim->mu);
    json_t *faults = json_object();
    for (int i = 0; i < F_COUNT; i++)
        json_object_set_new(faults, s_fault_names[i], json_integer(sim->n_fault[i]));
    json_t *o = json_pack("{s:I,s:I,s:I,s:I,s:I,s:o}", "requests", (json_int_t)sim->n_requests,
                          "completions", (json_int_t)sim->n_ok, "bad_requests",
                          (json_int_t)sim->n_bad, "inflight", (json_int_t)sim->inflight,
                          "max_inflight", (json_int_t)sim->max_inflight, "faults", faults);
    pthread_mutex_unlock(&sim->mu);
    return s_send_json_now(c, 200, o);
}

static enum MHD_Result s_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    (void)version;
    s_loop_t *loop = cls;
    s_sim_t *sim = loop->sim;
    s_conn_t *c = *con_cls;
    if (!c) {
        c = ASSAY_NEW(s_conn_t);
        c->sim = sim;
        c->loop = loop;
        c->conn = conn;
        c->t0 = assay_clock_ms();
        c->counted = 1;
        pthread_mutex_lock(&sim->mu);
        if (++sim->inflight > sim->max_inflight) sim->max_inflight = sim->inflight;
        pthread_mutex_unlock(&sim->mu);
        *con_cls = c;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (c->req.len + *upload_data_size > ((size_t)16 << 20)) return MHD_NO;
        assay_buf_add(&c->req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (c->waiting) {
        c->waiting = 0;
        return s_send_buffer(c);
    }
    if (c->chat_again) {
        c->chat_again = 0;
        return s_chat(c);
    }
    /* absolute-form targets ("POST http://host/v1/..."): simllm also stands in for
     * a forward proxy, so clients' proxy settings can be tested */
    if (strncmp(url, "http://", 7) == 0) {
        const char *path = strchr(url + 7, '/');
        url = path ? path : "/";
    }
    if (strcmp(url, "/v1/chat/completions") == 0 || strcmp(url, "/chat/completions") == 0) {
        if (strcmp(method, "POST") != 0)
            return s_send_json_now(c, 405, s_error_json("use POST", "invalid_request_error", NULL));
        return s_chat(c);
    }
    if (strcmp(method, "GET") != 0)
        return s_send_json_now(c, 405, s_error_json("use GET", "invalid_request_error", NULL));
    if (strcmp(url, "/v1/models") == 0 || strcmp(url, "/models") == 0) return s_models(c);
    if (strcmp(url, "/stats") == 0) return s_stats(c);
    if (strcmp(url, "/health") == 0)
        return s_send_json_now(c, 200, json_pack("{s:s}", "status", "ok"));
    return s_send_json_now(c, 404, s_error_json("not found", "invalid_request_error", NULL));
}

static void s_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                        enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    s_sim_t *sim = ((s_loop_t *)cls)->sim;
    s_conn_t *c = *con_cls;
    if (!c) return;
    pthread_mutex_lock(&sim->mu);
    sim->inflight--;
    pthread_mutex_unlock(&sim->mu);
    s_conn_free(c);
    *con_cls = NULL;
}

/* ---- main ------------------------------------------------------------------------------ */

static void s_usage_text(FILE *f)
{
    fprintf(f,
            "usage: assay-simllm [options]\n"
            "  --listen HOST:PORT       address (default 127.0.0.1:8199; port 0 = any free)\n"
            "  --port-file FILE         write the bound port here once listening\n"
            "  --tls-cert FILE --tls-key FILE   serve HTTPS\n"
            "  --mode MODE              r1 | r1r | o3 | think | think-open | plain: for model\n"
            "                           names other than sim-MODE[+style] (default r1)\n"
            "  --answer-key FILE        the gold answers: JSONL {id|question|question_sha256,\n"
            "                           answer|diagnosis|reference_answer, accuracy?}; an items\n"
            "                           file serves as its own key. WITHOUT IT the gold is\n"
            "                           invented per question (a hash), so scores and pass\n"
            "                           rates against real items are meaningless\n"
            "  --latency-ms MS          mean latency (default 0)\n"
            "  --latency-dist D         fixed | uniform | exp | lognormal (default fixed)\n"
            "  --latency-jitter X       uniform: +-fraction of the mean; lognormal: sigma\n"
            "  --fault-429 R --fault-500 R --fault-stall R --fault-keepalive R\n"
            "  --fault-truncate R --fault-garbage R --fault-empty R --fault-refusal R\n"
            "                           inject each fault in a fraction R of requests\n"
            "  --fault-limit N          inject at most N faults in total (0 = no limit)\n"
            "  --retry-after S          Retry-After seconds on 429 (default 1)\n"
            "  --xratelimit             send x-ratelimit-* headers instead of Retry-After\n"
            "  --stall-ms MS            extra wait of a stalled request (default 30000)\n"
            "  --keepalive-ms MS        interval of keep-alive lines (default 200)\n"
            "  --failure-rate R         fraction of samples with a failure style\n"
            "  --failure-style S        no_reasoning | repeat | fake_disease (default: mixed)\n"
            "  --no-n                   ignore n (one choice per response)\n"
            "  --api-key-env VAR        require \"Authorization: Bearer $VAR\"\n"
            "  --seed N                 PRNG seed for unseeded draws and faults (default 1)\n"
            "  --threads N              event loops serving connections (default 1)\n"
            "  --max-connections N      (default 4096)\n"
            "  --quiet\n");
}

static int s_parse_rate(const char *v, double *out)
{
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || d < 0 || d > 1) return -1;
    *out = d;
    return 0;
}

static char *s_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    assay_buf_t b = ASSAY_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        assay_buf_add(&b, chunk, n);
    fclose(f);
    return assay_buf_detach(&b, NULL);
}

int main(int argc, char **argv)
{
    s_sim_t sim;
    memset(&sim, 0, sizeof sim);
    sim.default_mode = SIM_MODE_R1;
    sim.retry_after_s = 1;
    sim.stall_ms = 30000;
    sim.keepalive_ms = 200;
    sim.supports_n = 1;
    sim.rng = 1;
    const char *listen = "127.0.0.1:8199", *port_file = NULL, *cert = NULL, *keyf = NULL,
               *answer_key = NULL;
    int threads = 1;
    long max_conn = 4096;
    static const struct option longopts[] = {{"listen", 1, 0, 'l'},
                                             {"port-file", 1, 0, 'P'},
                                             {"tls-cert", 1, 0, 'c'},
                                             {"tls-key", 1, 0, 'k'},
                                             {"mode", 1, 0, 'm'},
                                             {"answer-key", 1, 0, 'a'},
                                             {"latency-ms", 1, 0, 'L'},
                                             {"latency-dist", 1, 0, 'D'},
                                             {"latency-jitter", 1, 0, 'J'},
                                             {"fault-429", 1, 0, 1000},
                                             {"fault-500", 1, 0, 1001},
                                             {"fault-stall", 1, 0, 1002},
                                             {"fault-keepalive", 1, 0, 1003},
                                             {"fault-truncate", 1, 0, 1004},
                                             {"fault-garbage", 1, 0, 1005},
                                             {"fault-empty", 1, 0, 1006},
                                             {"fault-refusal", 1, 0, 1007},
                                             {"fault-limit", 1, 0, 'F'},
                                             {"retry-after", 1, 0, 'R'},
                                             {"xratelimit", 0, 0, 'X'},
                                             {"stall-ms", 1, 0, 'S'},
                                             {"keepalive-ms", 1, 0, 'K'},
                                             {"failure-rate", 1, 0, 'f'},
                                             {"failure-style", 1, 0, 's'},
                                             {"no-n", 0, 0, 'N'},
                                             {"api-key-env", 1, 0, 'A'},
                                             {"seed", 1, 0, 'e'},
                                             {"threads", 1, 0, 't'},
                                             {"max-connections", 1, 0, 'C'},
                                             {"quiet", 0, 0, 'q'},
                                             {"help", 0, 0, 'h'},
                                             {0, 0, 0, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        const char *bad = NULL;
        switch (opt) {
        case 'l':
            listen = optarg;
            break;
        case 'P':
            port_file = optarg;
            break;
        case 'c':
            cert = optarg;
            break;
        case 'k':
            keyf = optarg;
            break;
        case 'm':
            if (sim_mode_parse(optarg, &sim.default_mode) != 0) bad = "--mode";
            break;
        case 'a':
            answer_key = optarg;
            break;
        case 'L':
            sim.lat_mean_ms = atof(optarg);
            if (sim.lat_mean_ms < 0) bad = "--latency-ms";
            break;
        case 'D':
            if (!strcmp(optarg, "fixed"))
                sim.lat_dist = LAT_FIXED;
            else if (!strcmp(optarg, "uniform"))
                sim.lat_dist = LAT_UNIFORM;
            else if (!strcmp(optarg, "exp"))
                sim.lat_dist = LAT_EXP;
            else if (!strcmp(optarg, "lognormal"))
                sim.lat_dist = LAT_LOGNORMAL;
            else
                bad = "--latency-dist";
            break;
        case 'J':
            sim.lat_jitter = atof(optarg);
            break;
        case 'F':
            sim.fault_limit = atol(optarg);
            break;
        case 'R':
            sim.retry_after_s = atoi(optarg);
            break;
        case 'X':
            sim.xratelimit = 1;
            break;
        case 'S':
            sim.stall_ms = atol(optarg);
            break;
        case 'K':
            sim.keepalive_ms = atol(optarg) > 0 ? atol(optarg) : 200;
            break;
        case 'f':
            if (s_parse_rate(optarg, &sim.failure_rate) != 0) bad = "--failure-rate";
            break;
        case 's':
            if (sim_style_parse(optarg, &sim.failure_style) != 0) bad = "--failure-style";
            break;
        case 'N':
            sim.supports_n = 0;
            break;
        case 'A':
            sim.api_key = getenv(optarg);
            if (!sim.api_key || !*sim.api_key) bad = "--api-key-env (variable not set)";
            break;
        case 'e':
            sim.rng = strtoull(optarg, NULL, 10) * 2654435761ULL + 1;
            break;
        case 't':
            threads = atoi(optarg);
            if (threads < 1) bad = "--threads";
            break;
        case 'C':
            max_conn = atol(optarg);
            break;
        case 'q':
            sim.quiet = 1;
            break;
        case 'h':
            s_usage_text(stdout);
            return 0;
        default:
            if (opt >= 1000 && opt < 1000 + F_COUNT) {
                if (s_parse_rate(optarg, &sim.fault_rate[opt - 1000]) != 0) bad = "fault rate";
                break;
            }
            s_usage_text(stderr);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "assay-simllm: invalid value \"%s\" for %s\n", optarg ? optarg : "",
                    bad);
            return 2;
        }
    }
    if ((cert == NULL) != (keyf == NULL)) {
        fprintf(stderr, "assay-simllm: --tls-cert and --tls-key go together\n");
        return 2;
    }
    if (answer_key) {
        char err[512];
        sim.key = sim_key_load(answer_key, err, sizeof err);
        if (!sim.key) {
            fprintf(stderr, "assay-simllm: %s\n", err);
            return 1;
        }
    }
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    {
        const char *colon = strrchr(listen, ':');
        char host[64];
        if (!colon || (size_t)(colon - listen) >= sizeof host) {
            fprintf(stderr, "assay-simllm: --listen \"%s\" must be HOST:PORT\n", listen);
            return 2;
        }
        memcpy(host, listen, (size_t)(colon - listen));
        host[colon - listen] = '\0';
        if (strcmp(host, "localhost") == 0) strcpy(host, "127.0.0.1");
        if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
            fprintf(stderr, "assay-simllm: --listen host \"%s\" is not an IPv4 address\n", host);
            return 2;
        }
        sa.sin_port = htons((uint16_t)atoi(colon + 1));
    }
    char *cert_pem = NULL, *key_pem = NULL;
    if (cert) {
        cert_pem = s_read_file(cert);
        key_pem = s_read_file(keyf);
        if (!cert_pem || !key_pem) {
            fprintf(stderr, "assay-simllm: could not read \"%s\" or \"%s\": %s\n", cert, keyf,
                    strerror(errno));
            return 1;
        }
    }
    pthread_mutex_init(&sim.mu, NULL);
    sim.stop_fd = eventfd(0, EFD_CLOEXEC);
    if (sim.stop_fd < 0) {
        fprintf(stderr, "assay-simllm: could not create an eventfd: %s\n", strerror(errno));
        return 1;
    }

    /* signals are taken by sigwait in this thread only */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* one daemon per loop, driven from outside (see the top of this file); the
     * first binds, the others accept on its socket */
    sim.loops = assay_calloc((size_t)threads, sizeof *sim.loops);
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
    if (!sim.quiet) flags |= MHD_USE_ERROR_LOG;
    if (cert) flags |= MHD_USE_TLS;
    long per_loop = max_conn / threads > 0 ? max_conn / threads : 1;
    MHD_socket listen_fd = MHD_INVALID_SOCKET;
    unsigned port = 0;
    for (int i = 0; i < threads; i++) {
        s_loop_t *l = &sim.loops[i];
        l->sim = &sim;
        struct MHD_OptionItem ops[16];
        int no = 0;
        if (i == 0) {
            ops[no++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &sa};
            ops[no++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096, NULL};
        } else {
            ops[no++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, listen_fd, NULL};
        }
        ops[no++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, per_loop, NULL};
        ops[no++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, 300, NULL};
        ops[no++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)s_completed, l};
        if (cert) {
            ops[no++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, cert_pem};
            ops[no++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, key_pem};
        }
        ops[no++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
        l->d = MHD_start_daemon(flags, 0, NULL, NULL, s_handler, l, MHD_OPTION_ARRAY, ops,
                                MHD_OPTION_END);
        if (!l->d) {
            fprintf(stderr, "assay-simllm: could not listen on \"%s\"\n", listen);
            return 1;
        }
        if (i == 0) {
            const union MHD_DaemonInfo *info = MHD_get_daemon_info(l->d, MHD_DAEMON_INFO_BIND_PORT);
            port = info ? info->port : 0;
            info = MHD_get_daemon_info(l->d, MHD_DAEMON_INFO_LISTEN_FD);
            listen_fd = info ? info->listen_fd : MHD_INVALID_SOCKET;
        }
    }
    for (int i = 0; i < threads; i++)
        pthread_create(&sim.loops[i].thread, NULL, s_loop_main, &sim.loops[i]);
    if (port_file) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%u\n", port) < 0 || fclose(f) != 0 || rename(tmp, port_file) != 0) {
            fprintf(stderr, "assay-simllm: could not write port file \"%s\": %s\n", port_file,
                    strerror(errno));
            return 1;
        }
    }
    if (!sim.quiet) {
        char keyinfo[160] = "no answer key";
        if (sim.key)
            snprintf(keyinfo, sizeof keyinfo, "answer key: %zu questions, %zu without an answer",
                     sim_key_count(sim.key), sim_key_skipped(sim.key));
        fprintf(stderr, "assay-simllm: listening on %s://%s:%u (mode %s, %s)\n",
                cert ? "https" : "http", inet_ntoa(sa.sin_addr), port,
                sim_mode_name(sim.default_mode), keyinfo);
    }
    /* even with --quiet: results that look real and mean nothing need saying */
    if (!sim.key)
        fprintf(stderr,
                "assay-simllm: warning: no --answer-key: the gold answer of every question is "
                "invented from a hash of its text, not taken from the item, so verifier scores "
                "and pass rates against real items are meaningless (pass the items file, or a "
                "JSONL of {id, answer}, with --answer-key FILE)\n");
    int sig = 0;
    sigwait(&sigs, &sig);

    /* stop the loops (each resumes its suspended connections), then the daemons:
     * the first one last, as it owns the listening socket the others share */
    uint64_t one = 1;
    if (write(sim.stop_fd, &one, sizeof one) != (ssize_t)sizeof one)
        fprintf(stderr, "assay-simllm: could not signal the loops: %s\n", strerror(errno));
    for (int i = 0; i < threads; i++)
        pthread_join(sim.loops[i].thread, NULL);
    for (int i = threads - 1; i >= 0; i--) {
        if (i > 0) MHD_quiesce_daemon(sim.loops[i].d);
        MHD_stop_daemon(sim.loops[i].d);
        free(sim.loops[i].heap);
    }
    free(sim.loops);
    close(sim.stop_fd);
    if (!sim.quiet) {
        fprintf(stderr, "assay-simllm: %ld requests, %ld completions, faults:", sim.n_requests,
                sim.n_ok);
        for (int i = 0; i < F_COUNT; i++)
            fprintf(stderr, " %s=%ld", s_fault_names[i], sim.n_fault[i]);
        fprintf(stderr, "\n");
    }
    sim_key_destroy(&sim.key);
    free(cert_pem);
    free(key_pem);
    return 0;
}
