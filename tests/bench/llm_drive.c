/*  llm_drive.c: load driver for the LLM client, built on the same http/llm/endpoint
 *  modules the generate task uses. Keeps C chat-completion requests in flight on
 *  one event loop until N have completed, parsing every response, then prints
 *
 *      drive: ok=N failed=F seconds=S req_per_s=R cpu_ms_per_req=C max_rss_mb=M
 *
 *  usage: llm_drive --url BASE_URL [--model M] [--concurrency C] [--requests N]
 *                   [--ca FILE] [--stream] [--pollfds]
 *  --pollfds runs the loop on the per-socket list (assay_http_pollfds) instead of
 *  the single epoll descriptor (assay_http_fd), as an executor may.
 */
#include "common/config.h"
#include "common/http.h"
#include "common/util.h"
#include "worker/llm/endpoint.h"
#include "worker/llm/llm.h"

#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

typedef struct {
    assay_llm_t *llm;
    assay_endpoint_t *ep;
    long started, ok, failed, total;
    int stream;
    long reasoning_chars;
    char last_error[512];
} s_drive_t;

static void s_start(s_drive_t *d);

static void s_done(const assay_llm_outcome_t *o, void *arg)
{
    s_drive_t *d = arg;
    if (o->status.verdict == ASSAY_LLM_OK && o->result.nchoices > 0) {
        d->ok++;
        d->reasoning_chars += (long)strlen(o->result.choices[0].reasoning);
    } else {
        d->failed++;
        snprintf(d->last_error, sizeof d->last_error, "%s", o->status.reason);
    }
    if (d->started < d->total) s_start(d);
}

static void s_start(s_drive_t *d)
{
    long i = d->started++;
    char *user = assay_sprintf(
        "请回答下面的医学选择题。\n\n<question>第%ld题：夜间阵发性呼吸困难，可见于</question>\n\n"
        "选项：\nA. 急性脑血管疾病\nB. 癔病\nC. 急性感染所致的毒血症\n"
        "D. 慢性阻塞性肺气肿\nE. 左心功能不全\n\n最后一行只写“答案：X”。",
        i % 1000);
    json_t *msgs = json_pack("[{s:s,s:s},{s:s,s:s}]", "role", "system", "content",
                             "你是一名经验丰富的临床医生。", "role", "user", "content", user);
    free(user);
    assay_llm_params_t p;
    assay_llm_params_init(&p);
    p.has_seed = 1;
    p.seed = i;
    p.stream = d->stream;
    json_t *req = assay_llm_request_json(d->ep, msgs, &p);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    json_decref(msgs);
    if (assay_llm_call(d->llm, d->ep, body, strlen(body), d->stream, s_done, d) != 0) d->failed++;
    free(body);
}

int main(int argc, char **argv)
{
    const char *url = NULL, *model = "sim-r1", *ca = NULL;
    long conc = 100, total = 1000;
    int stream = 0, use_pollfds = 0;
    static const struct option opts[] = {{"pollfds", 0, 0, 'p'},  {"url", 1, 0, 'u'},
                                         {"model", 1, 0, 'm'},    {"concurrency", 1, 0, 'c'},
                                         {"requests", 1, 0, 'n'}, {"ca", 1, 0, 'a'},
                                         {"stream", 0, 0, 's'},   {0, 0, 0, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'u':
            url = optarg;
            break;
        case 'm':
            model = optarg;
            break;
        case 'c':
            conc = atol(optarg);
            break;
        case 'n':
            total = atol(optarg);
            break;
        case 'a':
            ca = optarg;
            break;
        case 's':
            stream = 1;
            break;
        case 'p':
            use_pollfds = 1;
            break;
        default:
            fprintf(stderr, "usage: llm_drive --url BASE_URL [--model M] [--concurrency C] "
                            "[--requests N] [--ca FILE] [--stream] [--pollfds]\n");
            return 2;
        }
    }
    if (!url || conc < 1 || total < 1) {
        fprintf(stderr, "llm_drive: --url is required; concurrency and requests must be >= 1\n");
        return 2;
    }
    assay_config_t *cfg = assay_config_new();
    char cbuf[32];
    assay_config_set(cfg, "endpoint.bench.base_url", url);
    assay_config_set(cfg, "endpoint.bench.model", model);
    assay_config_set(cfg, "endpoint.bench.style", "r1");
    snprintf(cbuf, sizeof cbuf, "%ld", conc);
    assay_config_set(cfg, "endpoint.bench.max_concurrency", cbuf);
    if (ca) assay_config_set(cfg, "endpoint.bench.ca_file", ca);
    char err[512];
    assay_endpoint_t *ep = assay_endpoint_load(cfg, "bench", err, sizeof err);
    if (!ep) {
        fprintf(stderr, "llm_drive: %s\n", err);
        return 1;
    }
    assay_http_t *http = assay_http_new(cfg);
    s_drive_t d;
    memset(&d, 0, sizeof d);
    d.llm = assay_llm_new(http);
    d.ep = ep;
    d.total = total;
    d.stream = stream;
    int64_t t0 = assay_clock_us();
    for (long i = 0; i < conc && d.started < total; i++)
        s_start(&d);
    if (use_pollfds) {
        /* the executor's loop: every socket in the pollfd set */
        struct pollfd *fds = assay_malloc((size_t)(conc + 64) * 2 * sizeof *fds);
        while (assay_http_inflight(http) > 0 || assay_llm_queued(d.llm) > 0) {
            int n = assay_http_pollfds(http, fds, (int)(conc + 64) * 2);
            long t = assay_http_timeout_ms(http);
            poll(fds, (nfds_t)n, t < 0 || t > 1000 ? 1000 : (int)t);
            assay_http_process(http, fds, n);
        }
        free(fds);
    } else {
        assay_http_run(http, -1);
    }
    double secs = (double)(assay_clock_us() - t0) / 1e6;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu_ms = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000.0 +
                    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000.0;
    printf("drive: ok=%ld failed=%ld seconds=%.2f req_per_s=%.1f cpu_ms_per_req=%.3f "
           "max_rss_mb=%.1f\n",
           d.ok, d.failed, secs, (double)d.ok / secs, cpu_ms / (double)(d.ok + d.failed),
           (double)ru.ru_maxrss / 1024.0);
    if (d.failed) fprintf(stderr, "llm_drive: last error: %s\n", d.last_error);
    assay_llm_destroy(&d.llm);
    assay_http_destroy(&http);
    assay_endpoint_destroy(&ep);
    assay_config_destroy(&cfg);
    return d.failed ? 1 : 0;
}
