/*  main.c: assay-worker. Connects a DEALER socket to the broker, announces its
 *  task kinds and slots (READY), runs the TASKs it receives through the executor
 *  and answers each with RESULT or FAIL. Stateless: kill it at any moment and the
 *  broker re-queues what it held.
 *
 *  Liveness follows the ZeroMQ guide's Paranoid Pirate pattern: any traffic counts;
 *  heartbeats go out when the line is quiet; when the broker has been silent for
 *  `liveness` intervals the worker drops the socket and reconnects with exponential
 *  backoff, then announces itself again. SIGTERM drains: no new work is accepted,
 *  running tasks get worker.drain_s seconds to finish, the rest are handed back.
 */
#include "common/config.h"
#include "common/curve.h"
#include "common/daemon.h"
#include "common/error.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/proto.h"
#include "common/util.h"
#include "worker/tasks/exec.h"
#include "worker/tasks/handlers.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#define S_MAX_POLL 4096
#define S_RUN_BUCKETS 4096

/* an attempt this worker runs: (id, attempt) and the index of its kind */
typedef struct s_run {
    uint64_t id;
    uint32_t attempt;
    uint32_t kind;
    struct s_run *next;
} s_run_t;

static volatile sig_atomic_t s_stop = 0;

/* a RESULT kept for a while after it was sent */
typedef struct s_sent {
    struct s_sent *next;
    int64_t at_ms;
    uint64_t id;
    uint32_t attempt;
    uint64_t elapsed_us;
    size_t len;
    char output[];
} s_sent_t;

/* how long, and how much of it, a worker keeps: a broker stores what it received
 * within one pass of its loop, so seconds cover it with room to spare */
#define S_SENT_KEEP_MS 10000
#define S_SENT_KEEP_BYTES ((size_t)64 << 20)

typedef struct {
    const assay_config_t *cfg;
    void *ctx;
    void *sock;
    char *endpoint;
    char name[256];
    assay_slot_t slots[ASSAY_PROTO_MAX_KINDS];
    uint32_t nslots;
    uint32_t busy[ASSAY_PROTO_MAX_KINDS]; /* attempts running per kind */
    s_run_t *running[S_RUN_BUCKETS];      /* the attempts running, by (id, attempt) */
    uint64_t declined, duplicates;
    uint64_t wrong_direction; /* READY / RESULT / FAIL received from the broker */
    int64_t wrong_log_ms;
    uint64_t rejected_logged; /* rejects counted when the last warning was written */
    int64_t rejected_log_ms;
    uint32_t heartbeat_ms;
    uint32_t liveness;
    uint32_t lease_grace_ms; /* WELCOME lg */
    int64_t last_recv_ms;
    int64_t last_send_ms;
    int64_t reconnect_ms; /* current backoff */
    int64_t reconnect_at; /* when to reconnect after the broker went silent (0 = connected) */
    int64_t last_ready_ms;
    int registered; /* WELCOME seen on the current connection */
    int draining;
    int curve_logged; /* the curve = off warning was written */
    assay_curve_watch_t *watch; /* handshake failures of the current socket */
    assay_exec_t *exec;
    assay_proto_stats_t stats;
    uint64_t done, failed;
    int64_t next_metrics_ms;
    assay_metrics_t *metrics; /* NULL unless worker.metrics is set */
    /* RESULTs sent lately (oldest first), sent again to a new broker: the one that
     * received them may have died before it stored them (PROTOCOL.md §5) */
    s_sent_t *sent_head, *sent_tail;
    size_t sent_bytes;
    char broker_id[128]; /* the broker of the last WELCOME */
} s_worker_t;

static void s_metrics_task(s_worker_t *w, const assay_exec_result_t *r);
static void s_metrics_publish(s_worker_t *w);
static int s_metrics_start(s_worker_t *w, const char *addr, char *err, size_t errlen);

static void s_send(s_worker_t *w, const assay_msg_t *msg)
{
    /* never block: a DEALER whose connection was refused (a rejected key) has no
     * peer and a blocking send would hang the worker instead of reconnecting */
    int rc = assay_proto_send(w->sock, NULL, 0, msg, ZMQ_DONTWAIT);
    if (rc != 0)
        log_warn("worker", "could not send %s to broker: %s", assay_cmd_name(msg->cmd),
                 zmq_strerror(zmq_errno()));
    w->last_send_ms = assay_clock_ms();
}

static void s_send_ready(s_worker_t *w)
{
    assay_msg_t m = {.cmd = ASSAY_CMD_READY};
    m.u.ready.version = ASSAY_PROTO_VERSION;
    m.u.ready.worker = w->name;
    m.u.ready.heartbeat_ms = w->heartbeat_ms;
    m.u.ready.slots = w->slots;
    m.u.ready.nslots = w->nslots;
    s_send(w, &m);
    w->last_ready_ms = w->last_send_ms;
}

static void s_connect(s_worker_t *w)
{
    assay_curve_watch_destroy(&w->watch);
    if (w->sock) {
        /* the broker has been unreachable on it for a while: what is still queued
         * there would only hold up zmq_ctx_term at exit (the broker re-queues it) */
        int zero = 0;
        zmq_setsockopt(w->sock, ZMQ_LINGER, &zero, sizeof zero);
        zmq_close(w->sock);
    }
    w->sock = zmq_socket(w->ctx, ZMQ_DEALER);
    int linger = 2000, hwm = 0;
    zmq_setsockopt(w->sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(w->sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(w->sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    char err[1024];
    if (assay_curve_client_setup(w->sock, w->cfg, !w->curve_logged, err, sizeof err) != 0) {
        log_error("worker", "%s", err);
        exit(1);
    }
    w->curve_logged = 1;
    w->watch = assay_curve_watch_new(w->ctx, w->sock);
    if (zmq_connect(w->sock, w->endpoint) != 0) {
        log_error("worker", "could not connect to broker \"%s\": %s", w->endpoint,
                  zmq_strerror(zmq_errno()));
        exit(1);
    }
    w->last_recv_ms = assay_clock_ms();
    w->registered = 0;
    s_send_ready(w);
}

/* ---- the attempts running (PROTOCOL.md §4.8) ---- */

static s_run_t **s_run_slot(s_worker_t *w, uint64_t id, uint32_t attempt)
{
    uint64_t h = (id * UINT64_C(0x9E3779B97F4A7C15)) ^ attempt;
    s_run_t **pp = &w->running[(h >> 20) % S_RUN_BUCKETS];
    while (*pp && ((*pp)->id != id || (*pp)->attempt != attempt))
        pp = &(*pp)->next;
    return pp;
}

static void s_run_add(s_worker_t *w, uint64_t id, uint32_t attempt, uint32_t kind)
{
    s_run_t **pp = s_run_slot(w, id, attempt);
    if (*pp) return;
    s_run_t *r = ASSAY_NEW(s_run_t);
    r->id = id;
    r->attempt = attempt;
    r->kind = kind;
    *pp = r;
    w->busy[kind]++;
}

static void s_run_del(s_worker_t *w, uint64_t id, uint32_t attempt)
{
    s_run_t **pp = s_run_slot(w, id, attempt);
    s_run_t *r = *pp;
    if (!r) return;
    *pp = r->next;
    if (w->busy[r->kind] > 0) w->busy[r->kind]--;
    free(r);
}

/* forget what is older than the keep window or over its size */
static void s_sent_trim(s_worker_t *w, int64_t now)
{
    while (w->sent_head &&
           (now - w->sent_head->at_ms > S_SENT_KEEP_MS || w->sent_bytes > S_SENT_KEEP_BYTES)) {
        s_sent_t *e = w->sent_head;
        w->sent_head = e->next;
        if (!w->sent_head) w->sent_tail = NULL;
        w->sent_bytes -= e->len;
        free(e);
    }
}

static void s_sent_keep(s_worker_t *w, const assay_msg_result_t *r)
{
    s_sent_t *e = assay_malloc(sizeof *e + r->output_len + 1);
    e->next = NULL;
    e->at_ms = assay_clock_ms();
    e->id = r->id;
    e->attempt = r->attempt;
    e->elapsed_us = r->elapsed_us;
    e->len = r->output_len;
    memcpy(e->output, r->output, r->output_len + 1);
    if (w->sent_tail)
        w->sent_tail->next = e;
    else
        w->sent_head = e;
    w->sent_tail = e;
    w->sent_bytes += e->len;
    s_sent_trim(w, e->at_ms);
}

/* registered with a broker other than the last one: what the last one may have died
 * holding goes to this one (a current attempt is stored, the rest is counted) */
static void s_sent_again(s_worker_t *w)
{
    s_sent_trim(w, assay_clock_ms());
    size_t n = 0;
    for (s_sent_t *e = w->sent_head; e; e = e->next, n++) {
        assay_msg_t m;
        memset(&m, 0, sizeof m);
        m.cmd = ASSAY_CMD_RESULT;
        m.u.result.id = e->id;
        m.u.result.attempt = e->attempt;
        m.u.result.output = e->output;
        m.u.result.output_len = e->len;
        m.u.result.elapsed_us = e->elapsed_us;
        s_send(w, &m);
    }
    if (n) log_info("worker", "sent %zu recent results again to the new broker", n);
}

static void s_on_done(const assay_exec_result_t *r, void *arg)
{
    s_worker_t *w = arg;
    s_run_del(w, r->id, r->attempt);
    s_metrics_task(w, r);
    assay_msg_t m;
    memset(&m, 0, sizeof m);
    char *text = NULL;
    const char *bad = NULL; /* why an output cannot be sent */
    if (r->ok && !json_is_object(r->output)) {
        /* the broker stores objects only (PROTOCOL.md §5): fail it here */
        bad = "handler output is not a JSON object";
    } else if (r->ok) {
        text = json_dumps(r->output, JSON_COMPACT | JSON_REAL_PRECISION(10));
        if (!text || strlen(text) + 1024 > ASSAY_PROTO_MAX_BODY) {
            free(text);
            text = NULL;
            bad = "output larger than the protocol's message limit";
        }
    }
    if (r->ok && text) {
        m.cmd = ASSAY_CMD_RESULT;
        m.u.result.id = r->id;
        m.u.result.attempt = r->attempt;
        m.u.result.output = text;
        m.u.result.output_len = strlen(text);
        m.u.result.elapsed_us = (uint64_t)r->elapsed_us;
        w->done++;
    } else {
        m.cmd = ASSAY_CMD_FAIL;
        m.u.fail.id = r->id;
        m.u.fail.attempt = r->attempt;
        m.u.fail.retryable = r->ok ? 0 : (uint8_t)r->retryable;
        m.u.fail.reason = (char *)(r->ok ? bad : r->reason);
        m.u.fail.retry_after_ms = r->retry_after_ms;
        m.u.fail.endpoint = (char *)r->endpoint;
        m.u.fail.elapsed_us = (uint64_t)r->elapsed_us;
        w->failed++;
        log_debug("worker", "task %llu (%s) failed: %s", (unsigned long long)r->id, r->kind,
                  m.u.fail.reason);
    }
    s_send(w, &m);
    if (m.cmd == ASSAY_CMD_RESULT) s_sent_keep(w, &m.u.result);
    free(text);
}

static void s_fail_task(s_worker_t *w, const assay_msg_task_t *t, int retryable, const char *why)
{
    assay_msg_t m = {.cmd = ASSAY_CMD_FAIL};
    m.u.fail.id = t->id;
    m.u.fail.attempt = t->attempt;
    m.u.fail.retryable = (uint8_t)retryable;
    m.u.fail.reason = (char *)why;
    s_send(w, &m);
}

/* a TASK this worker does not start: declined, so it costs the task no attempt */
static void s_decline_task(s_worker_t *w, const assay_msg_task_t *t, const char *why)
{
    assay_msg_t m = {.cmd = ASSAY_CMD_FAIL};
    m.u.fail.id = t->id;
    m.u.fail.attempt = t->attempt;
    m.u.fail.retryable = 1;
    m.u.fail.declined = 1;
    m.u.fail.reason = (char *)why;
    s_send(w, &m);
    w->declined++;
    log_debug("worker", "task %llu attempt %u declined: %s", (unsigned long long)t->id, t->attempt,
              why);
}

static void s_on_task(s_worker_t *w, const assay_msg_task_t *t)
{
    if (*s_run_slot(w, t->id, t->attempt)) {
        /* the same attempt again (a new broker resent it): the running one answers */
        w->duplicates++;
        return;
    }
    if (w->draining) {
        s_decline_task(w, t, "worker is shutting down");
        return;
    }
    uint32_t kind = 0;
    while (kind < w->nslots && strcmp(w->slots[kind].kind, t->kind) != 0)
        kind++;
    if (kind == w->nslots) {
        char why[256];
        snprintf(why, sizeof why, "kind \"%.64s\" not offered by this worker", t->kind);
        s_decline_task(w, t, why);
        return;
    }
    if (w->busy[kind] >= w->slots[kind].slots) {
        s_decline_task(w, t, "no free slot for this kind");
        return;
    }
    json_error_t jerr;
    json_t *input = json_loadb(t->input, t->input_len, 0, &jerr);
    if (!json_is_object(input)) {
        char why[256];
        snprintf(why, sizeof why, "task input is not a JSON object: %s",
                 input ? "wrong type" : jerr.text);
        json_decref(input);
        s_fail_task(w, t, 0, why);
        return;
    }
    json_t *params = t->params_len ? json_loadb(t->params, t->params_len, 0, &jerr) : NULL;
    if (t->params_len && !json_is_object(params)) {
        json_decref(input);
        json_decref(params);
        s_fail_task(w, t, 0, "task params are not a JSON object");
        return;
    }
    /* registered before the start: the callback may run inside it */
    s_run_add(w, t->id, t->attempt, kind);
    int rc = assay_exec_start(w->exec, t->id, t->attempt, t->kind, input, params, t->timeout_ms,
                              NULL);
    if (rc != 0) {
        s_run_del(w, t->id, t->attempt);
        char why[256];
        snprintf(why, sizeof why, "this worker cannot run kind \"%.64s\"", t->kind);
        s_decline_task(w, t, why);
    }
}

static void s_on_message(s_worker_t *w, assay_msg_t *m)
{
    switch (m->cmd) {
    case ASSAY_CMD_WELCOME:
        if (m->u.welcome.heartbeat_ms >= 50) w->heartbeat_ms = m->u.welcome.heartbeat_ms;
        if (m->u.welcome.liveness >= 2) w->liveness = m->u.welcome.liveness;
        w->lease_grace_ms = m->u.welcome.lease_grace_ms;
        w->reconnect_ms = 250;
        w->registered = 1;
        log_info("worker",
                 "registered with broker %s (heartbeat %u ms, liveness %u, lease grace %u ms)",
                 m->u.welcome.broker ? m->u.welcome.broker : "?", w->heartbeat_ms, w->liveness,
                 w->lease_grace_ms);
        if (m->u.welcome.broker) {
            if (w->broker_id[0] && strcmp(w->broker_id, m->u.welcome.broker) != 0) s_sent_again(w);
            snprintf(w->broker_id, sizeof w->broker_id, "%s", m->u.welcome.broker);
        }
        break;
    case ASSAY_CMD_TASK:
        s_on_task(w, &m->u.task);
        break;
    case ASSAY_CMD_HEARTBEAT:
        break;
    case ASSAY_CMD_DISCONNECT:
        /* the broker does not know us (it restarted): announce ourselves again */
        log_info("worker", "broker asked us to register again (%s)",
                 m->u.disconnect.reason ? m->u.disconnect.reason : "no reason given");
        w->registered = 0;
        /* every message we sent before our READY arrived is answered with a
         * DISCONNECT; a READY for each would make the broker drop and re-queue
         * the tasks it just gave us, so announce at most once per heartbeat */
        if (!w->draining && assay_clock_ms() - w->last_ready_ms >= (int64_t)w->heartbeat_ms)
            s_send_ready(w);
        break;
    default: {
        /* READY, RESULT, FAIL: worker-to-broker commands. Counted; a warning at
         * most every 10 s */
        int64_t t = assay_clock_ms();
        w->wrong_direction++;
        if (!w->wrong_log_ms || t - w->wrong_log_ms >= 10000) {
            log_warn("worker", "unexpected %s from broker ignored (%llu so far)",
                     assay_cmd_name(m->cmd), (unsigned long long)w->wrong_direction);
            w->wrong_log_ms = t ? t : 1;
        }
    }
    }
}

static int s_parse_slots(s_worker_t *w, const char *spec, char *err, size_t errlen)
{
    char *copy = assay_strdup(spec), *save = NULL;
    w->nslots = 0;
    for (char *tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        char *eq = strchr(tok, '=');
        long n = eq ? strtol(eq + 1, NULL, 10) : 0;
        if (!eq || n < 1 || n > 100000) {
            snprintf(err, errlen, "slots \"%s\": expected KIND=N with N from 1 to 100000", tok);
            free(copy);
            return -1;
        }
        *eq = '\0';
        if (!assay_handler_find(tok)) {
            snprintf(err, errlen, "slots: unknown task kind \"%s\"", tok);
            free(copy);
            return -1;
        }
        if (w->nslots == ASSAY_PROTO_MAX_KINDS) break;
        w->slots[w->nslots].kind = assay_strdup(tok);
        w->slots[w->nslots].slots = (uint32_t)n;
        w->nslots++;
    }
    free(copy);
    if (w->nslots == 0) {
        snprintf(err, errlen, "slots: no task kinds given");
        return -1;
    }
    return 0;
}

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: assay-worker [--config FILE] [--broker ENDPOINT] [--name NAME]\n"
            "                    [--slots KIND=N,...] [--terms PATH] [--log-level LEVEL]\n"
            "\n"
            "Run tasks for the assay broker. Stateless: start as many as you like.\n"
            "\n"
            "  --broker ENDPOINT  broker address (config `broker`, env ASSAY_BROKER;\n"
            "                     default tcp://127.0.0.1:5555)\n"
            "  --name NAME        worker name in reports (default host:pid)\n"
            "  --slots SPEC       task kinds and how many of each run at once, e.g.\n"
            "                     generate=256,verify=2 (config worker.slots; default: noop=64)\n"
            "  --terms PATH       terminology snapshot or TSV directory (config worker.terms)\n"
            "  --log-level LEVEL  debug | info | warn | error (config log_level)\n"
            "\n"
            "CurveZMQ: worker.key_file and worker.broker_public_key (see `assay keygen`),\n"
            "or curve = off for local development. worker.metrics = HOST:PORT serves\n"
            "/metrics, /healthz and /readyz.\n"
            "\n"
            "kinds in this build:");
    for (size_t i = 0; i < assay_handler_count(); i++)
        fprintf(out, " %s", assay_handler_at(i)->kind);
    fprintf(out, "\n");
}

int main(int argc, char **argv)
{
    const char *broker = NULL, *name = NULL, *slots = NULL, *terms = NULL;
    const assay_daemon_opt_t opts[] = {{"--broker", &broker}, {"--name", &name},
                                       {"--slots", &slots},   {"--terms", &terms},
                                       {NULL, NULL}};
    const assay_daemon_spec_t spec = {"assay-worker", s_usage, opts};
    assay_config_t *cfg;
    int st = assay_daemon_init(&spec, argc, argv, &cfg);
    if (!cfg) return st;
    char err[1024];

    s_worker_t w;
    memset(&w, 0, sizeof w);
    w.cfg = cfg;
    w.endpoint = assay_strdup(broker ? broker : assay_config_get(cfg, "broker", "tcp://127.0.0.1:5555"));
    char host[128] = "worker";
    gethostname(host, sizeof host - 1);
    snprintf(w.name, sizeof w.name, "%s",
             name ? name : assay_config_get(cfg, "worker.name", ""));
    if (!w.name[0]) snprintf(w.name, sizeof w.name, "%s:%d", host, (int)getpid());
    w.heartbeat_ms = (uint32_t)assay_config_get_long(cfg, "worker.heartbeat_ms", 1000);
    w.liveness = (uint32_t)assay_config_get_long(cfg, "worker.liveness", 5);
    w.reconnect_ms = 250;
    if (s_parse_slots(&w, slots ? slots : assay_config_get(cfg, "worker.slots", "noop=64"), err,
                      sizeof err) != 0) {
        fprintf(stderr, "assay-worker: %s\n", err);
        return 2;
    }
    json_t *params = json_object();
    if (terms) json_object_set_new(params, "terms", json_string(terms));
    w.exec = assay_exec_new(cfg, params, s_on_done, &w);
    for (uint32_t i = 0; i < w.nslots; i++) {
        if (assay_exec_prepare(w.exec, w.slots[i].kind, err, sizeof err) != 0) {
            log_error("worker", "cannot run kind \"%s\": %s", w.slots[i].kind, err);
            return 1;
        }
    }

    assay_daemon_signals(&s_stop);

    const char *maddr = assay_config_get(cfg, "worker.metrics", NULL);
    if (maddr && *maddr && s_metrics_start(&w, maddr, err, sizeof err) != 0) {
        log_error("worker", "%s", err);
        return 1;
    }
    w.ctx = zmq_ctx_new();
    s_connect(&w);
    log_info("worker", "worker %s connecting to %s", w.name, w.endpoint);

    int64_t drain_deadline = 0;
    zmq_pollitem_t items[S_MAX_POLL + 1];
    struct pollfd fds[S_MAX_POLL];
    for (;;) {
        int64_t now = assay_clock_ms();
        if (s_stop && !w.draining) {
            w.draining = 1;
            drain_deadline = now + 1000 * assay_config_get_long(cfg, "worker.drain_s", 30);
            assay_msg_t m = {.cmd = ASSAY_CMD_DISCONNECT};
            m.u.disconnect.reason = "draining";
            s_send(&w, &m);
            log_info("worker", "draining: %d tasks still running", assay_exec_inflight(w.exec));
        }
        if (w.draining && (assay_exec_inflight(w.exec) == 0 || now >= drain_deadline)) break;

        int n = assay_exec_pollfds(w.exec, fds, S_MAX_POLL);
        items[0].socket = w.sock;
        items[0].fd = 0;
        items[0].events = ZMQ_POLLIN;
        items[0].revents = 0;
        for (int i = 0; i < n; i++) {
            items[i + 1].socket = NULL;
            items[i + 1].fd = fds[i].fd;
            items[i + 1].events = (short)(((fds[i].events & POLLIN) ? ZMQ_POLLIN : 0) |
                                          ((fds[i].events & POLLOUT) ? ZMQ_POLLOUT : 0));
            items[i + 1].revents = 0;
        }
        long timeout = w.heartbeat_ms;
        long et = assay_exec_timeout_ms(w.exec);
        if (et >= 0 && et < timeout) timeout = et;
        if (w.reconnect_at && !w.draining && w.reconnect_at - now < timeout)
            timeout = w.reconnect_at > now ? (long)(w.reconnect_at - now) : 0;
        int rc = zmq_poll(items, n + 1, timeout);
        if (rc < 0 && zmq_errno() != EINTR) {
            log_error("worker", "poll failed: %s", zmq_strerror(zmq_errno()));
            break;
        }
        for (int i = 0; i < n; i++) {
            short re = items[i + 1].revents;
            fds[i].revents = (short)(((re & ZMQ_POLLIN) ? POLLIN : 0) |
                                     ((re & ZMQ_POLLOUT) ? POLLOUT : 0) |
                                     ((re & ZMQ_POLLERR) ? POLLERR : 0));
        }
        /* run HTTP completions first: they free slots the next TASKs use */
        assay_exec_process(w.exec, fds, n);
        if (items[0].revents & ZMQ_POLLIN) {
            for (int k = 0; k < 10000; k++) {
                assay_msg_t m;
                int r = assay_proto_recv(w.sock, NULL, NULL, &m, &w.stats, ZMQ_DONTWAIT);
                if (r == ASSAY_EAGAIN) break;
                w.last_recv_ms = assay_clock_ms();
                w.reconnect_at = 0; /* the broker is back on this connection */
                if (r != 0) {
                    /* counted by reason in the stats; a warning at most every 10 s */
                    uint64_t total = w.stats.bad_frames + w.stats.bad_tag + w.stats.bad_version +
                                     w.stats.bad_command + w.stats.oversized + w.stats.truncated +
                                     w.stats.malformed;
                    int64_t t = assay_clock_ms();
                    if (!w.rejected_log_ms || t - w.rejected_log_ms >= 10000) {
                        log_warn("worker",
                                 "dropped a malformed message from the broker: %s (%llu dropped "
                                 "since the last warning)",
                                 assay_strerror(r),
                                 (unsigned long long)(total - w.rejected_logged));
                        w.rejected_log_ms = t ? t : 1;
                        w.rejected_logged = total;
                    }
                    continue;
                }
                s_on_message(&w, &m);
                assay_msg_release(&m);
            }
        }
        char why[256];
        if (assay_curve_watch_failed(w.watch, why, sizeof why)) log_error("worker", "%s", why);
        now = assay_clock_ms();
        /* the backoff is a deadline, not a sleep: tasks keep running and their
         * results keep flowing, and SIGTERM is seen at once */
        if (w.reconnect_at && now >= w.reconnect_at && !w.draining) {
            w.reconnect_at = 0;
            if (w.reconnect_ms < 30000) w.reconnect_ms *= 2;
            s_connect(&w);
            continue;
        }
        if (!w.reconnect_at && now - w.last_recv_ms > (int64_t)w.heartbeat_ms * w.liveness &&
            !w.draining) {
            log_warn("worker", "broker silent for %lld ms: reconnecting in %lld ms",
                     (long long)(now - w.last_recv_ms), (long long)w.reconnect_ms);
            w.reconnect_at = now + w.reconnect_ms;
            w.registered = 0;
        }
        s_metrics_publish(&w);
        if (now - w.last_send_ms >= (int64_t)w.heartbeat_ms) {
            assay_msg_t m = {.cmd = ASSAY_CMD_HEARTBEAT};
            m.u.heartbeat.inflight = (uint32_t)assay_exec_inflight(&*w.exec);
            s_send(&w, &m);
        }
    }
    log_info("worker", "stopping: %llu done, %llu failed, %llu declined, %d handed back",
             (unsigned long long)w.done, (unsigned long long)w.failed,
             (unsigned long long)w.declined, assay_exec_inflight(w.exec));
    /* tasks still running are failed (retryable) through the callbacks */
    assay_exec_destroy(&w.exec);
    assay_metrics_destroy(&w.metrics);
    assay_msg_t bye = {.cmd = ASSAY_CMD_DISCONNECT};
    bye.u.disconnect.reason = "bye";
    s_send(&w, &bye);
    assay_curve_watch_destroy(&w.watch);
    /* with the broker gone there is nobody to flush to: do not wait out the linger */
    if (!w.registered || w.reconnect_at ||
        assay_clock_ms() - w.last_recv_ms > (int64_t)w.heartbeat_ms * w.liveness) {
        int zero = 0;
        zmq_setsockopt(w.sock, ZMQ_LINGER, &zero, sizeof zero);
    }
    zmq_close(w.sock);
    zmq_ctx_term(w.ctx);
    for (uint32_t i = 0; i < w.nslots; i++) free(w.slots[i].kind);
    while (w.sent_head) {
        s_sent_t *e = w.sent_head;
        w.sent_head = e->next;
        free(e);
    }
    for (size_t b = 0; b < S_RUN_BUCKETS; b++)
        while (w.running[b]) {
            s_run_t *r = w.running[b];
            w.running[b] = r->next;
            free(r);
        }
    free(w.endpoint);
    assay_config_destroy(&cfg);
    return 0;
}

/* ---- metrics ---- */

static int s_metrics_start(s_worker_t *w, const char *addr, char *err, size_t errlen)
{
    assay_metrics_t *m = w->metrics = assay_metrics_new();
    assay_metrics_declare(m, "assay_worker_tasks_total", ASSAY_METRIC_COUNTER,
                          "tasks finished by kind and outcome (done, failed)", NULL, 0);
    assay_metrics_declare(m, "assay_worker_task_seconds", ASSAY_METRIC_HISTOGRAM,
                          "handler time per task by kind", NULL, 0);
    assay_metrics_declare(m, "assay_worker_inflight", ASSAY_METRIC_GAUGE, "tasks running", NULL,
                          0);
    assay_metrics_declare(m, "assay_worker_slots", ASSAY_METRIC_GAUGE, "slots by kind", NULL, 0);
    assay_metrics_declare(m, "assay_worker_connected", ASSAY_METRIC_GAUGE,
                          "1 while registered with a broker", NULL, 0);
    assay_metrics_declare(m, "assay_proto_rejected_total", ASSAY_METRIC_COUNTER,
                          "messages from the broker dropped as malformed, by reason", NULL, 0);
    assay_metrics_declare(m, "assay_endpoint_requests_total", ASSAY_METRIC_COUNTER,
                          "model requests made by finished tasks, per endpoint", NULL, 0);
    assay_metrics_declare(m, "assay_endpoint_ratelimited_total", ASSAY_METRIC_COUNTER,
                          "tasks handed back because an endpoint answered 429, per endpoint",
                          NULL, 0);
    assay_metrics_declare(m, "assay_endpoint_tokens_total", ASSAY_METRIC_COUNTER,
                          "tokens billed per endpoint and type (prompt, completion)", NULL, 0);
    assay_metrics_declare(m, "assay_endpoint_cost_total", ASSAY_METRIC_COUNTER,
                          "cost per endpoint (endpoint price settings)", NULL, 0);
    char labels[256];
    for (uint32_t i = 0; i < w->nslots; i++)
        assay_metrics_set(m, "assay_worker_slots",
                          assay_metrics_labels(labels, sizeof labels, "kind", w->slots[i].kind, NULL),
                          w->slots[i].slots);
    assay_metrics_set_ready(m, 0, "not registered with a broker");
    if (assay_metrics_serve(m, addr, err, errlen) != 0) return -1;
    log_info("worker", "metrics on http://%s/metrics", addr);
    return 0;
}

static void s_metrics_task(s_worker_t *w, const assay_exec_result_t *r)
{
    assay_metrics_t *m = w->metrics;
    if (!m) return;
    char labels[512];
    assay_metrics_labels(labels, sizeof labels, "kind", r->kind ? r->kind : "?", "outcome",
                         r->ok ? "done" : "failed", NULL);
    assay_metrics_add(m, "assay_worker_tasks_total", labels, 1);
    assay_metrics_labels(labels, sizeof labels, "kind", r->kind ? r->kind : "?", NULL);
    assay_metrics_observe(m, "assay_worker_task_seconds", labels, r->elapsed_us / 1e6);
    if (!r->ok) {
        if (r->endpoint)
            assay_metrics_add(m, "assay_endpoint_ratelimited_total",
                              assay_metrics_labels(labels, sizeof labels, "endpoint", r->endpoint,
                                                   NULL),
                              1);
        return;
    }
    /* model-calling kinds report their endpoint, requests, tokens and cost in the
     * output; samples served from the cache cost nothing and are not counted */
    const char *ep = json_string_value(json_object_get(r->output, "endpoint"));
    if (!ep) return;
    assay_metrics_labels(labels, sizeof labels, "endpoint", ep, NULL);
    assay_metrics_add(m, "assay_endpoint_requests_total", labels,
                      (double)json_integer_value(json_object_get(r->output, "requests")));
    assay_metrics_add(m, "assay_endpoint_cost_total", labels,
                      json_number_value(json_object_get(r->output, "cost")));
    long pt = 0, ct = 0;
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(r->output, "samples"), i, s)
    {
        if (json_is_true(json_object_get(s, "cached"))) continue;
        pt += (long)json_integer_value(json_object_get(s, "prompt_tokens"));
        ct += (long)json_integer_value(json_object_get(s, "completion_tokens"));
    }
    assay_metrics_add(m, "assay_endpoint_tokens_total",
                      assay_metrics_labels(labels, sizeof labels, "endpoint", ep, "type", "prompt",
                                           NULL),
                      (double)pt);
    assay_metrics_add(m, "assay_endpoint_tokens_total",
                      assay_metrics_labels(labels, sizeof labels, "endpoint", ep, "type",
                                           "completion", NULL),
                      (double)ct);
}

static void s_metrics_publish(s_worker_t *w)
{
    assay_metrics_t *m = w->metrics;
    int64_t now = assay_clock_ms();
    if (!m || now < w->next_metrics_ms) return;
    w->next_metrics_ms = now + 250;
    assay_metrics_set(m, "assay_worker_inflight", "", assay_exec_inflight(w->exec));
    assay_metrics_set(m, "assay_worker_connected", "", w->registered);
    assay_metrics_set_ready(m, w->registered && !w->draining,
                            w->draining ? "draining" : "not registered with a broker");
    const struct {
        const char *reason;
        uint64_t n;
    } rej[] = {{"bad_frames", w->stats.bad_frames}, {"bad_tag", w->stats.bad_tag},
               {"bad_version", w->stats.bad_version}, {"bad_command", w->stats.bad_command},
               {"oversized", w->stats.oversized},     {"truncated", w->stats.truncated},
               {"malformed", w->stats.malformed},     {"wrong_direction", w->wrong_direction}};
    char labels[128];
    for (size_t i = 0; i < sizeof rej / sizeof rej[0]; i++)
        assay_metrics_set(m, "assay_proto_rejected_total",
                          assay_metrics_labels(labels, sizeof labels, "reason", rej[i].reason, NULL),
                          (double)rej[i].n);
}
