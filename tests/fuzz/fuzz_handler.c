/*  fuzz_handler.c: libFuzzer target for one task kind (ASSAY_FUZZ_KIND, set by
 *  tests/fuzz/CMakeLists.txt: one binary per kind). The real handler runs through
 *  the real executor (worker/tasks/exec.h), exactly as assay-worker and `assay run` run
 *  it: parameter checks, setup, run, timers, HTTP, completion.
 *
 *  An input is parts separated by a line "%%":
 *
 *      {"question": ..., "options": ...}     the task input (JSON)
 *      %%
 *      {"n": 2, "template": "answer_mcq"}    the task params (JSON; may be absent)
 *      %%
 *      {"choices": [...]}                    the body model calls receive
 *      %%
 *      ...                                   more bodies: call k gets body k mod count
 *
 *  Kinds that call an endpoint need no network: the endpoints "sim" (plain), "r1",
 *  "o3" (n choices per call) and "sse" (server-sent events) point at a one-thread
 *  HTTP server on 127.0.0.1 inside this process that answers every request with the
 *  third part (so the reply parsing of llm.c, judge.c, leak_llm.c and the handlers
 *  is fuzzed too); "closed" points at a closed loopback port (transport errors).
 *  To keep each execution short the harness caps what only costs time: params
 *  max_attempts is forced to 1 (no backoff timers), n to at most 4, delay_ms to at
 *  most 5. The terminology is ops/sample/terms and the prompts ops/prompts.
 *
 *  Checked on every input: the executor reports the task exactly once, a success
 *  carries an output object that serialises, a failure a non-empty reason in valid
 *  UTF-8; no sanitizer report.
 */
#include "common/config.h"
#include "common/log.h"
#include "common/util.h"
#include "worker/tasks/exec.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef ASSAY_FUZZ_KIND
#error "ASSAY_FUZZ_KIND must name the task kind"
#endif
#ifndef ASSAY_SOURCE_DIR
#define ASSAY_SOURCE_DIR "."
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static assay_config_t *s_cfg;
static assay_exec_t *s_exec;
static int s_reports;
static int s_listen_fd = -1;

/* the replies the server sends (call k gets reply k mod count), set per input
 * under the lock */
#define S_MAX_REPLIES 8
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static char *s_replies[S_MAX_REPLIES];
static size_t s_reply_lens[S_MAX_REPLIES];
static int s_nreplies;
static unsigned s_calls;

static void s_die(const char *what)
{
    fprintf(stderr, "fuzz_handler(%s): %s\n", ASSAY_FUZZ_KIND, what);
    abort();
}

/* ---- the in-process model endpoint ------------------------------------------------ */

static void s_serve_one(int fd)
{
    char buf[65536];
    size_t have = 0;
    long clen = -1;
    size_t head = 0;
    /* read the headers and the body (Content-Length) */
    for (;;) {
        if (have == sizeof buf) break;
        ssize_t n = read(fd, buf + have, sizeof buf - have);
        if (n <= 0) break;
        have += (size_t)n;
        if (!head) {
            char *e = memmem(buf, have, "\r\n\r\n", 4);
            if (!e) continue;
            head = (size_t)(e - buf) + 4;
            char *cl = memmem(buf, head, "Content-Length:", 15);
            if (!cl) cl = memmem(buf, head, "content-length:", 15);
            clen = cl ? strtol(cl + 15, NULL, 10) : 0;
        }
        if (head && have >= head + (size_t)(clen > 0 ? clen : 0)) break;
    }
    int sse = memmem(buf, head ? head : have, "\"stream\":true", 13) != NULL ||
              (head && memmem(buf + head, have - head, "\"stream\":true", 13) != NULL);
    pthread_mutex_lock(&s_lock);
    int k = s_nreplies ? (int)(s_calls++ % (unsigned)s_nreplies) : 0;
    const char *reply = s_nreplies ? s_replies[k] : "";
    size_t reply_len = s_nreplies ? s_reply_lens[k] : 0;
    char hdr[256];
    int hl = snprintf(hdr, sizeof hdr,
                      "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n",
                      sse ? "text/event-stream" : "application/json", reply_len);
    ssize_t w = write(fd, hdr, (size_t)hl);
    size_t off = 0;
    while (w >= 0 && off < reply_len) {
        w = write(fd, reply + off, reply_len - off);
        if (w > 0) off += (size_t)w;
    }
    pthread_mutex_unlock(&s_lock);
    shutdown(fd, SHUT_WR);
    /* drain what the client still sends, so the close does not reset the reply */
    while (read(fd, buf, sizeof buf) > 0) {
    }
    close(fd);
}

static void *s_server(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(s_listen_fd, NULL, NULL);
        if (fd < 0) continue;
        s_serve_one(fd);
    }
    return NULL;
}

static int s_start_server(void)
{
    s_listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (s_listen_fd < 0 || bind(s_listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(s_listen_fd, 64) != 0 || getsockname(s_listen_fd, (struct sockaddr *)&a, &al) != 0)
        s_die("could not listen on 127.0.0.1");
    pthread_t t;
    if (pthread_create(&t, NULL, s_server, NULL) != 0) s_die("could not start the server thread");
    pthread_detach(t);
    return ntohs(a.sin_port);
}

/* ---- the executor ----------------------------------------------------------------- */

static void s_on_done(const assay_exec_result_t *r, void *arg)
{
    (void)arg;
    s_reports++;
    if (getenv("FUZZ_HANDLER_DEBUG")) { /* to read what a reproducer does */
        char *o = r->ok ? json_dumps(r->output, JSON_COMPACT) : NULL;
        fprintf(stderr, "fuzz_handler: %s: %.600s\n", r->ok ? "done" : "failed",
                r->ok ? (o ? o : "?") : r->reason);
        free(o);
    }
    if (r->ok && !json_is_object(r->output)) s_die("a success without an output object");
    if (!r->ok && (!r->reason || !*r->reason)) s_die("a failure without a reason");
    /* the reason becomes a JSON string and a Postgres text column */
    if (!r->ok && !assay_utf8_valid(r->reason, strlen(r->reason)))
        s_die("a failure reason that is not valid UTF-8");
    if (r->ok) { /* what the worker sends must serialise */
        char *o = json_dumps(r->output, JSON_COMPACT);
        if (!o) s_die("an output that cannot be serialised");
        free(o);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    assay_log_init("fuzz", ASSAY_LOG_OFF, 0); /* quiet: failures are the expected outcome */
    int port = s_start_server();
    s_cfg = assay_config_new();
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", port);
    static const char *const eps[][3] = {
        {"sim", "plain", "0"}, {"r1", "r1", "0"}, {"o3", "o3", "1"}, {"sse", "r1", "0"}};
    for (size_t i = 0; i < sizeof eps / sizeof eps[0]; i++) {
        char key[128];
        snprintf(key, sizeof key, "endpoint.%s.base_url", eps[i][0]);
        assay_config_set(s_cfg, key, url);
        snprintf(key, sizeof key, "endpoint.%s.model", eps[i][0]);
        assay_config_set(s_cfg, key, "fuzz-model");
        snprintf(key, sizeof key, "endpoint.%s.style", eps[i][0]);
        assay_config_set(s_cfg, key, eps[i][1]);
        snprintf(key, sizeof key, "endpoint.%s.supports_n", eps[i][0]);
        assay_config_set(s_cfg, key, eps[i][2]);
        snprintf(key, sizeof key, "endpoint.%s.price_in_per_mtok", eps[i][0]);
        assay_config_set(s_cfg, key, "1.5");
    }
    assay_config_set(s_cfg, "endpoint.sse.stream", "1");
    assay_config_set(s_cfg, "endpoint.closed.base_url", "http://127.0.0.1:1/v1");
    assay_config_set(s_cfg, "endpoint.closed.model", "fuzz-model");
    json_t *params = json_pack("{s:s, s:s}", "terms", ASSAY_SOURCE_DIR "/ops/sample/terms",
                               "prompts_dir", ASSAY_SOURCE_DIR "/ops/prompts");
    s_exec = assay_exec_new(s_cfg, params, s_on_done, NULL);
    char err[512];
    if (assay_exec_prepare(s_exec, ASSAY_FUZZ_KIND, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_handler: %s\n", err);
        s_die("could not prepare the kind");
    }
    return 0;
}

/* the next part of data at *off, up to a line "%%" (or the end) */
static const char *s_part(const uint8_t *data, size_t size, size_t *off, size_t *len)
{
    const char *p = (const char *)data + *off;
    size_t left = size - *off;
    const char *sep = left >= 4 ? memmem(p, left, "\n%%\n", 4) : NULL;
    if (sep) {
        *len = (size_t)(sep - p);
        *off += *len + 4;
    } else {
        *len = left;
        *off = size;
    }
    return p;
}

static void s_cap(json_t *params, const char *key, double max)
{
    json_t *v = json_object_get(params, key);
    if (json_is_number(v)) {
        if (json_number_value(v) > max) json_object_set_new(params, key, json_real(max));
    } else if (json_is_string(v)) {
        char *end;
        double d = strtod(json_string_value(v), &end);
        if (end != json_string_value(v) && !(d <= max)) json_object_set_new(params, key, json_real(max));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0, il, pl, rl;
    const char *in = s_part(data, size, &off, &il);
    const char *pa = s_part(data, size, &off, &pl);
    json_error_t jerr;
    json_t *input = json_loadb(in, il, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(input)) {
        json_decref(input);
        return 0;
    }
    json_t *params = pl ? json_loadb(pa, pl, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (json_is_object(params)) {
        if (json_object_get(params, "max_attempts")) json_object_set_new(params, "max_attempts", json_integer(1));
        s_cap(params, "n", 4);
        s_cap(params, "delay_ms", 5);
    }
    /* the defaults of max_attempts (3) would add backoff timers to every call */
    if (!strcmp(ASSAY_FUZZ_KIND, "generate") || !strcmp(ASSAY_FUZZ_KIND, "judge") ||
        !strcmp(ASSAY_FUZZ_KIND, "leak_removal")) {
        if (!params || !json_is_object(params)) {
            json_decref(params);
            params = json_object();
        }
        json_object_set_new(params, "max_attempts", json_integer(1));
    }
    pthread_mutex_lock(&s_lock);
    for (int i = 0; i < s_nreplies; i++)
        free(s_replies[i]);
    s_nreplies = 0;
    s_calls = 0;
    while (off < size && s_nreplies < S_MAX_REPLIES) {
        const char *re = s_part(data, size, &off, &rl);
        s_replies[s_nreplies] = malloc(rl ? rl : 1);
        memcpy(s_replies[s_nreplies], re, rl);
        s_reply_lens[s_nreplies++] = rl;
    }
    pthread_mutex_unlock(&s_lock);

    s_reports = 0;
    int rc = assay_exec_start(s_exec, 1, 1, ASSAY_FUZZ_KIND, input, params, 20000, NULL);
    if (rc != 0) {
        if (s_reports) s_die("a task that did not start was reported");
        return 0;
    }
    /* run the loop until the task is reported and nothing of it is left */
    int64_t spins = 0;
    while (assay_exec_inflight(s_exec) > 0) {
        struct pollfd fds[8];
        int n = assay_exec_pollfds(s_exec, fds, 8);
        long t = assay_exec_timeout_ms(s_exec);
        if (t < 0 || t > 100) t = 100;
        poll(fds, (nfds_t)n, (int)t);
        assay_exec_process(s_exec, fds, n);
        if (++spins > 100000) s_die("the task never finished");
    }
    if (s_reports != 1) s_die("the task was not reported exactly once");
    return 0;
}
