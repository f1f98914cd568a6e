/*  broker.c: see broker.h */
#include "broker/broker.h"

#include "broker/dbmetrics.h"
#include "common/imap.h"
#include "broker/queue.h"
#include "broker/ratelimit.h"
#include "common/retry.h"
#include "broker/store.h"
#include "common/curve.h"
#include "common/error.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/proto.h"
#include "common/util.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#define S_MAX_IDENTITY 255
/* an attempt stays outstanding at its worker for its timeout plus this (sent in
 * WELCOME as `lg`); then the broker ends it as a failed attempt. It must stay
 * below the database lease (timeout + 60 s from the lease write, store.c) minus
 * the 30 s a claimed task may wait in the queue, so the broker, not the
 * database sweep, is what ends an attempt whose worker went quiet */
#define S_LEASE_GRACE_MS 30000
/* rate limit of the warnings about rejected / ignored messages, per reason */
#define S_REJECT_LOG_MS 10000

/* why a message was rejected or ignored (assay_proto_rejected_total{reason});
 * the first seven are the decoder's (assay_proto_stats_t) */
enum {
    S_REJ_BAD_FRAMES,
    S_REJ_BAD_TAG,
    S_REJ_BAD_VERSION,
    S_REJ_BAD_COMMAND,
    S_REJ_OVERSIZED,
    S_REJ_TRUNCATED,
    S_REJ_MALFORMED,
    S_REJ_WRONG_DIRECTION, /* WELCOME or TASK sent by a worker */
    S_REJ_UNREGISTERED,    /* HEARTBEAT / DISCONNECT from an identity with no registration */
    S_REJ_NOT_HOLDER,      /* RESULT / FAIL for an attempt outstanding at another connection */
    S_REJ_BAD_OUTPUT,      /* RESULT whose output is not a JSON object (recorded as a FAIL) */
    S_REJ__COUNT
};
static const char *const s_rej_names[S_REJ__COUNT] = {
    "bad_frames", "bad_tag",         "bad_version",  "bad_command", "oversized", "truncated",
    "malformed",  "wrong_direction", "unregistered", "not_holder",  "bad_output"};

typedef struct {
    char *kind;
    uint32_t slots;
    uint32_t inflight;
    /* the worker declined attempts for lack of a free slot (it still runs work the
     * broker does not know of, e.g. from a broker before a restart): no TASK of
     * this kind goes there before hold_until_ms, backing off per decline */
    uint32_t declines;
    int64_t hold_until_ms;
} s_credit_t;

typedef struct {
    uint8_t identity[S_MAX_IDENTITY];
    size_t idlen;
    uint64_t key;
    char *name;
    s_credit_t credits[ASSAY_PROTO_MAX_KINDS];
    uint32_t ncredits;
    int64_t last_recv_ms;
    int64_t last_send_ms;
    uint32_t hb_ms;   /* the heartbeat interval agreed in WELCOME */
    uint32_t running; /* `n` of its last HEARTBEAT */
    int draining;     /* sent DISCONNECT: gets no more TASKs */
    uint64_t done, failed;
} s_peer_t;

typedef struct {
    uint64_t id;
    uint32_t attempt;
    uint64_t job_id;
    uint64_t stage_id;
    s_peer_t *peer;
    int credit; /* index into peer->credits */
    int64_t deadline_ms;
    assay_ratelimit_t *limit; /* charged at dispatch, released at the end, or NULL */
} s_flight_t;

typedef struct {
    uint64_t id;
    int weight;
    int running;
    int seen; /* reload marker */
} s_job_t;

typedef struct {
    char kind[64];
    int64_t idle_until_ms; /* last claim found nothing: wait before asking again */
} s_claimstate_t;

struct assay_broker {
    const assay_config_t *cfg;
    char *bind;
    char id[128];
    void *ctx;
    void *sock;
    assay_curve_zap_t *zap; /* CURVE authentication (NULL with curve = off) */
    assay_store_t *store;
    assay_queue_t *queue;
    assay_queue_t *staged; /* claimed in the open transaction, not yet committed */
    int64_t pass_now;
    int claim_failed;
    assay_imap_t *peers_by_key;
    assay_imap_t *asked; /* identity key -> when an unregistered peer was last asked to register */
    s_peer_t **peers;
    size_t npeers;
    assay_imap_t *flights;
    s_job_t *jobs;
    size_t njobs;
    s_claimstate_t claims[ASSAY_PROTO_MAX_KINDS];
    size_t nclaims;
    assay_ratelimit_t **limits; /* one per configured endpoint */
    size_t nlimits;
    int64_t limited_until_ms; /* a limiter held tasks back: look again by then */
    uint64_t ratelimited;
    assay_retry_policy_t retry;
    uint64_t rng;
    uint32_t heartbeat_ms;                       /* default interval, and the loop's tick */
    uint32_t heartbeat_min_ms, heartbeat_max_ms; /* bounds of a worker's proposal */
    uint32_t liveness;
    long claim_max;
    long drain_ms; /* on SIGTERM: how long running tasks get to report */
    long max_pending_writes;
    int db_down;
    int64_t db_retry_ms;
    int jobs_dirty;
    int64_t next_jobs_ms, next_sweep_ms, next_stats_ms, next_finish_ms, next_workers_ms;
    assay_proto_stats_t proto;
    assay_store_stats_t st;
    uint64_t dispatched, unknown_peer_msgs, declined;
    uint64_t rejected[S_REJ__COUNT];   /* broker-side reasons; decode ones live in proto */
    uint64_t rej_logged[S_REJ__COUNT]; /* count when the last warning was written */
    int64_t rej_log_ms[S_REJ__COUNT];
    int64_t next_expire_ms;
    uint64_t reports; /* results and failures received */
    int64_t last_flush_ms;
    int finish_hint; /* claims came back short: look for finished jobs once all is written */
    uint64_t leases_expired;
    /* kinds with work waiting that no connected worker serves, already logged
     * (once per kind until a worker for it arrives) */
    char stalled[ASSAY_PROTO_MAX_KINDS][64];
    size_t nstalled;
    int64_t next_stall_ms;
    uint64_t logged_ignored;  /* results_ignored when its reasons were last logged */
    assay_metrics_t *metrics; /* NULL unless broker.metrics is set */
    assay_dbmetrics_t *dbmetrics;
    int64_t next_metrics_ms;
};

static int s_metrics_start(assay_broker_t *self, char *err, size_t errlen);
static void s_metrics_publish(assay_broker_t *self, int64_t now, int force);
static void s_stall_served(assay_broker_t *self, const s_peer_t *p);

/* ---- peers ---- */

static uint64_t s_identity_key(const void *id, size_t len)
{
    uint64_t k = assay_hash64(id, len);
    return k ? k : 1;
}

static s_peer_t *s_peer_find(assay_broker_t *self, const void *id, size_t len)
{
    s_peer_t *p = assay_imap_get(self->peers_by_key, s_identity_key(id, len));
    if (p && p->idlen == len && memcmp(p->identity, id, len) == 0) return p;
    return NULL;
}

static void s_flight_end(s_flight_t *f)
{
    if (f->limit) assay_ratelimit_done(f->limit);
    f->limit = NULL;
}

static assay_ratelimit_t *s_limit(assay_broker_t *self, const char *endpoint)
{
    if (!endpoint) return NULL;
    for (size_t i = 0; i < self->nlimits; i++)
        if (!strcmp(assay_ratelimit_name(self->limits[i]), endpoint)) return self->limits[i];
    return NULL;
}

/* why a worker's registration ends; it decides what happens to its tasks */
typedef enum {
    /* it went silent: the one way a worker leaves without a word, i.e. the way a
     * worker that crashed leaves */
    S_GONE_SILENT,
    /* its name registered again on a new connection: the process was restarted (a
     * supervisor brings a crashed worker back under its fixed name within the
     * liveness window) or lost its link; either way its tasks died with it */
    S_GONE_REPLACED,
    /* it said goodbye (DISCONNECT) */
    S_GONE_BYE
} s_gone_t;
static const char *const s_gone_names[] = {"heartbeat missed",
                                           "registered again on a new connection",
                                           "disconnected"};

static void s_release_flight(assay_broker_t *self, s_flight_t *f, const char *reason, int died)
{
    s_flight_end(f);
    /* the task ran (or may have run) on a worker that is gone: count the attempt */
    uint32_t delay = assay_retry_delay_ms(&self->retry, f->attempt, 0, &self->rng);
    const char *worker = f->peer ? f->peer->name : "?";
    if (died)
        assay_store_add_lost(self->store, f->id, f->attempt, delay, reason, worker);
    else
        assay_store_add_fail(self->store, f->id, f->attempt, 1, delay, reason, worker);
}

typedef struct {
    assay_broker_t *self;
    s_peer_t *peer;
    uint64_t *ids;
    size_t n, cap;
} s_collect_t;

static void s_collect_flights(uint64_t key, void *value, void *arg)
{
    s_collect_t *c = arg;
    s_flight_t *f = value;
    if (f->peer != c->peer) return;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->ids = assay_realloc(c->ids, c->cap * sizeof *c->ids);
    }
    c->ids[c->n++] = key;
}

static void s_peer_free(s_peer_t *p);

static size_t s_peer_outstanding(assay_broker_t *self, s_peer_t *p)
{
    s_collect_t c = {self, p, NULL, 0, 0};
    assay_imap_each(self->flights, s_collect_flights, &c);
    free(c.ids);
    return c.n;
}

static void s_peer_remove(assay_broker_t *self, s_peer_t *p, s_gone_t gone)
{
    const char *why = s_gone_names[gone];
    s_collect_t c = {self, p, NULL, 0, 0};
    assay_imap_each(self->flights, s_collect_flights, &c);
    char reason[256];
    snprintf(reason, sizeof reason, "worker %s lost (%s)", p->name, why);
    /* a worker that went silent, or came back as a new connection, while it was
     * not draining may have been killed by what it ran: each of its tasks counts a
     * worker death (poison detection). A goodbye or a drain is a live worker */
    int died = !p->draining && (gone == S_GONE_SILENT || gone == S_GONE_REPLACED);
    /* a worker that said goodbye has answered every TASK it received (§4.7): what
     * is still outstanding crossed its DISCONNECT on the wire and never ran, so it
     * goes back without counting an attempt */
    int bye = gone == S_GONE_BYE;
    for (size_t i = 0; i < c.n; i++) {
        s_flight_t *f = assay_imap_del(self->flights, c.ids[i]);
        if (bye) {
            s_flight_end(f);
            assay_store_add_release(self->store, f->id, f->attempt);
        } else {
            s_release_flight(self, f, reason, died);
        }
        free(f);
    }
    free(c.ids);
    log_info("broker", "worker %s removed (%s): %zu tasks back to the queue", p->name, why, c.n);
    self->next_workers_ms = 0;
    assay_imap_del(self->peers_by_key, p->key);
    for (size_t i = 0; i < self->npeers; i++)
        if (self->peers[i] == p) {
            self->peers[i] = self->peers[--self->npeers];
            break;
        }
    s_peer_free(p);
}

static int s_send(assay_broker_t *self, s_peer_t *p, const void *identity, size_t idlen,
                  const assay_msg_t *m)
{
    int rc = assay_proto_send(self->sock, identity, idlen, m, ZMQ_DONTWAIT);
    if (p) p->last_send_ms = assay_clock_ms();
    if (rc != 0)
        log_debug("broker", "could not send %s: %s", assay_cmd_name(m->cmd),
                  zmq_strerror(zmq_errno()));
    return rc;
}

/* ---- rejected and ignored messages ---- */

static uint64_t s_dec_count(const assay_proto_stats_t *st, int r)
{
    const uint64_t dec[] = {st->bad_frames, st->bad_tag,   st->bad_version, st->bad_command,
                            st->oversized,  st->truncated, st->malformed};
    return dec[r];
}

static uint64_t s_rej_count(const assay_broker_t *self, int r)
{
    return r < S_REJ_WRONG_DIRECTION ? s_dec_count(&self->proto, r) : self->rejected[r];
}

/* one warning per reason at most every S_REJECT_LOG_MS, saying how many more
 * came since the last one, so a flood cannot fill the log */
static void s_reject_log(assay_broker_t *self, int r, const char *who, const char *what)
{
    int64_t now = assay_clock_ms();
    uint64_t n = s_rej_count(self, r);
    if (self->rej_log_ms[r] && now - self->rej_log_ms[r] < S_REJECT_LOG_MS) return;
    uint64_t unlogged = n > self->rej_logged[r] + 1 ? n - self->rej_logged[r] - 1 : 0;
    if (unlogged)
        log_warn("broker", "message from %s rejected (%s): %s; %llu more since the last warning",
                 who, s_rej_names[r], what, (unsigned long long)unlogged);
    else
        log_warn("broker", "message from %s rejected (%s): %s", who, s_rej_names[r], what);
    self->rej_log_ms[r] = now ? now : 1;
    self->rej_logged[r] = n;
}

static void s_reject(assay_broker_t *self, int r, const char *who, const char *what)
{
    self->rejected[r]++;
    s_reject_log(self, r, who, what);
}

/* the one answer to a peer that is not registered (or speaks another version):
 * DISCONNECT, at most once a second per identity, since every message it sent
 * before its READY (or with its version) would otherwise be answered */
static void s_ask(assay_broker_t *self, const uint8_t *id, size_t idlen, const char *why)
{
    int64_t now = assay_clock_ms();
    uint64_t key = s_identity_key(id, idlen);
    intptr_t last = (intptr_t)assay_imap_get(self->asked, key);
    if (last && now - last < 1000) return;
    if (assay_imap_size(self->asked) > 4096) {
        assay_imap_destroy(&self->asked);
        self->asked = assay_imap_new();
    }
    assay_imap_put(self->asked, key, (void *)(intptr_t)(now ? now : 1));
    assay_msg_t d = {.cmd = ASSAY_CMD_DISCONNECT};
    d.u.disconnect.reason = (char *)why;
    s_send(self, NULL, id, idlen, &d);
}

/* ---- registration ---- */

static size_t s_peer_outstanding(assay_broker_t *self, s_peer_t *p);

/* a registration of the worker called name on another identity than id */
static s_peer_t *s_peer_named(assay_broker_t *self, const char *name, const uint8_t *id,
                              size_t idlen)
{
    for (size_t i = 0; i < self->npeers; i++) {
        s_peer_t *p = self->peers[i];
        if (!strcmp(p->name, name) && (p->idlen != idlen || memcmp(p->identity, id, idlen) != 0))
            return p;
    }
    return NULL;
}

typedef struct {
    s_peer_t *from, *to;
} s_adopt_t;

/* an attempt outstanding at the previous registration stays outstanding at the
 * new one: the worker still runs it and reports it on the new connection */
static void s_adopt_flight(uint64_t key, void *value, void *arg)
{
    (void)key;
    s_adopt_t *a = arg;
    s_flight_t *f = value;
    if (f->peer != a->from) return;
    const char *kind = f->credit >= 0 ? a->from->credits[f->credit].kind : NULL;
    f->peer = a->to;
    f->credit = -1;
    for (uint32_t k = 0; kind && k < a->to->ncredits; k++)
        if (!strcmp(a->to->credits[k].kind, kind)) {
            f->credit = (int)k;
            a->to->credits[k].inflight++;
            break;
        }
}

static void s_peer_free(s_peer_t *p)
{
    for (uint32_t k = 0; k < p->ncredits; k++)
        free(p->credits[k].kind);
    free(p->name);
    free(p);
}

static void s_on_ready(assay_broker_t *self, const uint8_t *id, size_t idlen,
                       const assay_msg_ready_t *r)
{
    /* the same name on another connection: the worker reconnected (it closes a
     * socket only when it gave the broker up for dead), so that connection is
     * dead: what was sent there is lost or will be reported late (§4.6) */
    s_peer_t *named = s_peer_named(self, r->worker, id, idlen);
    if (named) s_peer_remove(self, named, S_GONE_REPLACED);
    s_peer_t *old = s_peer_find(self, id, idlen);
    s_peer_t *p = ASSAY_NEW(s_peer_t);
    memcpy(p->identity, id, idlen);
    p->idlen = idlen;
    p->key = s_identity_key(id, idlen);
    p->name = assay_strdup(r->worker);
    for (uint32_t i = 0; i < r->nslots && i < ASSAY_PROTO_MAX_KINDS; i++) {
        p->credits[i].kind = assay_strdup(r->slots[i].kind);
        p->credits[i].slots = r->slots[i].slots;
    }
    p->ncredits = r->nslots < ASSAY_PROTO_MAX_KINDS ? r->nslots : ASSAY_PROTO_MAX_KINDS;
    p->last_recv_ms = assay_clock_ms();
    /* the proposed interval, within the broker's bounds */
    p->hb_ms = r->heartbeat_ms;
    if (p->hb_ms < self->heartbeat_min_ms) p->hb_ms = self->heartbeat_min_ms;
    if (p->hb_ms > self->heartbeat_max_ms) p->hb_ms = self->heartbeat_max_ms;
    if (old) {
        /* READY again on the same connection (repeated while WELCOME was on its
         * way, or new slots): the worker still runs what it was sent, so the new
         * registration takes it over and nothing goes back to the queue */
        s_adopt_t a = {old, p};
        assay_imap_each(self->flights, s_adopt_flight, &a);
        p->done = old->done;
        p->failed = old->failed;
        log_info("broker", "worker %s registered again: %zu tasks carried over", p->name,
                 s_peer_outstanding(self, p));
        assay_imap_del(self->peers_by_key, old->key);
        for (size_t i = 0; i < self->npeers; i++)
            if (self->peers[i] == old) {
                self->peers[i] = p;
                break;
            }
        s_peer_free(old);
    } else {
        self->peers = assay_realloc(self->peers, (self->npeers + 1) * sizeof *self->peers);
        self->peers[self->npeers++] = p;
    }
    assay_imap_put(self->peers_by_key, p->key, p);
    /* the kinds this worker runs become claimable */
    for (uint32_t i = 0; i < p->ncredits; i++) {
        int found = 0;
        for (size_t c = 0; c < self->nclaims; c++)
            if (!strcmp(self->claims[c].kind, p->credits[i].kind)) {
                self->claims[c].idle_until_ms = 0;
                found = 1;
            }
        if (!found && self->nclaims < ASSAY_PROTO_MAX_KINDS) {
            snprintf(self->claims[self->nclaims].kind, sizeof self->claims[0].kind, "%s",
                     p->credits[i].kind);
            self->claims[self->nclaims++].idle_until_ms = 0;
        }
    }
    assay_msg_t w = {.cmd = ASSAY_CMD_WELCOME};
    w.u.welcome.heartbeat_ms = p->hb_ms;
    w.u.welcome.liveness = self->liveness;
    w.u.welcome.broker = self->id;
    w.u.welcome.lease_grace_ms = S_LEASE_GRACE_MS;
    s_send(self, p, id, idlen, &w);
    if (!old)
        log_info("broker", "worker %s ready (%u kinds, heartbeat %u ms)", p->name, p->ncredits,
                 p->hb_ms);
    s_stall_served(self, p);
    self->next_workers_ms = 0; /* record the fleet change soon */
}

/* a worker arrived: the kinds it serves are no longer stalled (logged again if
 * they stall again) */
static void s_stall_served(assay_broker_t *self, const s_peer_t *p)
{
    for (uint32_t k = 0; k < p->ncredits; k++)
        for (size_t i = 0; i < self->nstalled; i++)
            if (p->credits[k].slots > 0 && !strcmp(self->stalled[i], p->credits[k].kind)) {
                log_info("broker", "kind \"%s\" is served again (worker %s)", self->stalled[i],
                         p->name);
                memmove(self->stalled[i], self->stalled[--self->nstalled], sizeof self->stalled[0]);
                break;
            }
}

/* the attempt (id, attempt) when it is outstanding here, else NULL */
static s_flight_t *s_flight(assay_broker_t *self, uint64_t id, uint32_t attempt)
{
    s_flight_t *f = assay_imap_get(self->flights, id);
    return f && f->attempt == attempt ? f : NULL;
}

/* a RESULT or FAIL for an attempt outstanding at another connection than the
 * sender's is dropped: only the holder reports it (and gets its credit back).
 * Returns 1 when the message must be dropped (it was counted) */
static int s_not_holder(assay_broker_t *self, s_peer_t *p, uint64_t id, uint32_t attempt,
                        const char *what)
{
    s_flight_t *f = s_flight(self, id, attempt);
    if (!f || f->peer == p) return 0;
    char detail[256];
    snprintf(detail, sizeof detail, "%s for task %llu attempt %u, which is outstanding at %s", what,
             (unsigned long long)id, attempt, f->peer ? f->peer->name : "another worker");
    s_reject(self, S_REJ_NOT_HOLDER, p ? p->name : "an unregistered peer", detail);
    return 1;
}

/* the credit of an attempt returns only to the worker that holds it */
static void s_credit_return(assay_broker_t *self, s_peer_t *p, uint64_t id, uint32_t attempt)
{
    s_flight_t *f = s_flight(self, id, attempt);
    if (!f || !p || f->peer != p) return;
    assay_imap_del(self->flights, id);
    if (f->peer && f->credit >= 0 && f->peer->credits[f->credit].inflight > 0)
        f->peer->credits[f->credit].inflight--;
    s_flight_end(f);
    free(f);
}

static void s_on_result(assay_broker_t *self, s_peer_t *p, assay_msg_result_t *r)
{
    const char *name = p ? p->name : "unregistered";
    if (s_not_holder(self, p, r->id, r->attempt, "RESULT")) return;
    /* never let one bad output poison a whole batch: validate before queuing.
     * Storage merges outputs into records, so an output must be an object;
     * anything else ends the attempt as a permanent failure (PROTOCOL.md §5) */
    json_error_t jerr;
    json_t *out = json_loadb(r->output, r->output_len, 0, &jerr);
    if (!json_is_object(out)) {
        char reason[256];
        snprintf(reason, sizeof reason, "worker sent an output that is not a JSON object: %s",
                 out ? "wrong type" : jerr.text);
        assay_store_add_fail(self->store, r->id, r->attempt, 0, 0, reason, name);
        char detail[320];
        snprintf(detail, sizeof detail, "task %llu attempt %u: %s", (unsigned long long)r->id,
                 r->attempt, reason);
        s_reject(self, S_REJ_BAD_OUTPUT, name, detail);
        if (p) p->failed++;
    } else {
        s_flight_t *f = assay_imap_get(self->flights, r->id);
        uint64_t stage_id = f && f->attempt == r->attempt ? f->stage_id : 0;
        assay_store_add_result(self->store, r->id, r->attempt, stage_id, r->output, r->output_len, name,
                               r->elapsed_us / 1000.0);
        if (p) p->done++;
    }
    json_decref(out);
    s_flight_t *fl = p ? s_flight(self, r->id, r->attempt) : NULL;
    if (fl && fl->peer == p && fl->credit >= 0) p->credits[fl->credit].declines = 0;
    s_credit_return(self, p, r->id, r->attempt);
}

static void s_on_fail(assay_broker_t *self, s_peer_t *p, assay_msg_fail_t *f)
{
    const char *name = p ? p->name : "unregistered";
    if (s_not_holder(self, p, f->id, f->attempt, "FAIL")) return;
    if (f->declined) {
        /* the worker never started it: hand the task back without counting an
         * attempt. Only the holder can decline; from anyone else it means nothing */
        if (!p || !s_flight(self, f->id, f->attempt)) {
            char detail[256];
            snprintf(detail, sizeof detail,
                     "declined FAIL for task %llu attempt %u, not outstanding there",
                     (unsigned long long)f->id, f->attempt);
            s_reject(self, S_REJ_NOT_HOLDER, name, detail);
            return;
        }
        assay_store_add_release(self->store, f->id, f->attempt);
        self->declined++;
        s_flight_t *fl = s_flight(self, f->id, f->attempt);
        if (fl->credit >= 0 && !p->draining) {
            /* a live worker with no free slot: sending it the next task at once
             * would only be declined again (a hot loop) */
            s_credit_t *cr = &p->credits[fl->credit];
            int64_t cap = (int64_t)p->hb_ms * self->liveness, wait = 100;
            for (uint32_t i = 0; i < cr->declines && wait < cap; i++) wait *= 2;
            cr->declines++;
            cr->hold_until_ms = assay_clock_ms() + (wait < cap ? wait : cap);
        }
        s_credit_return(self, p, f->id, f->attempt);
        return;
    }
    uint32_t delay = f->retryable ? assay_retry_delay_ms(&self->retry, f->attempt,
                                                         f->retry_after_ms, &self->rng)
                                  : 0;
    assay_store_add_fail(self->store, f->id, f->attempt, f->retryable, delay,
                         f->reason ? f->reason : "no reason given", name);
    if (f->endpoint && f->retryable) {
        /* the endpoint pushed back: slow it down for the whole fleet */
        assay_ratelimit_t *l = s_limit(self, f->endpoint);
        if (l) {
            assay_ratelimit_pushback(l, f->retry_after_ms, assay_clock_ms());
            self->ratelimited++;
            log_info("broker", "endpoint %s pushed back (retry after %u ms): rate now %.0f/min",
                     f->endpoint, f->retry_after_ms, assay_ratelimit_rate(l));
        }
    }
    if (p) p->failed++;
    s_credit_return(self, p, f->id, f->attempt);
}

static void s_on_message(assay_broker_t *self, const uint8_t *id, size_t idlen, assay_msg_t *m)
{
    s_peer_t *p = s_peer_find(self, id, idlen);
    if (p) p->last_recv_ms = assay_clock_ms();
    switch (m->cmd) {
    case ASSAY_CMD_READY:
        s_on_ready(self, id, idlen, &m->u.ready);
        return;
    case ASSAY_CMD_RESULT:
        s_on_result(self, p, &m->u.result);
        self->reports++;
        break;
    case ASSAY_CMD_FAIL:
        s_on_fail(self, p, &m->u.fail);
        self->reports++;
        break;
    case ASSAY_CMD_HEARTBEAT:
        if (p)
            p->running = m->u.heartbeat.inflight;
        else
            s_reject(self, S_REJ_UNREGISTERED, "an unregistered peer", "HEARTBEAT before READY");
        break;
    case ASSAY_CMD_DISCONNECT:
        if (!p) {
            /* nothing to forget, and not answered (it is leaving). Counted, not
             * logged: a worker whose registration ended with its first DISCONNECT
             * sends a second one on its way out */
            self->rejected[S_REJ_UNREGISTERED]++;
            return;
        }
        /* whatever its reason: send it nothing more. What it still runs stays
         * outstanding there until reported; with nothing outstanding, or on a
         * second DISCONNECT, the registration ends (PROTOCOL.md §4.7) */
        if (p->draining || s_peer_outstanding(self, p) == 0) {
            s_peer_remove(self, p, S_GONE_BYE);
        } else {
            p->draining = 1;
            log_info("broker", "worker %s is draining (%s): %zu tasks still running", p->name,
                     m->u.disconnect.reason ? m->u.disconnect.reason : "no reason given",
                     s_peer_outstanding(self, p));
        }
        return;
    default: {
        /* WELCOME or TASK: commands only the broker sends */
        char detail[64];
        snprintf(detail, sizeof detail, "%s is a broker-to-worker command", assay_cmd_name(m->cmd));
        s_reject(self, S_REJ_WRONG_DIRECTION, p ? p->name : "an unregistered peer", detail);
        return;
    }
    }
    if (!p) {
        /* a worker we do not know (we restarted): its result was still taken above;
         * ask it to register so it gets work again */
        self->unknown_peer_msgs++;
        s_ask(self, id, idlen, "unknown worker: send READY");
    }
}

/* ---- jobs ---- */

static s_job_t *s_job(assay_broker_t *self, uint64_t id)
{
    for (size_t i = 0; i < self->njobs; i++)
        if (self->jobs[i].id == id) return &self->jobs[i];
    return NULL;
}

static void s_job_loaded(const assay_store_job_t *j, void *arg)
{
    assay_broker_t *self = arg;
    s_job_t *job = s_job(self, j->id);
    if (!job) {
        self->jobs = assay_realloc(self->jobs, (self->njobs + 1) * sizeof *self->jobs);
        job = &self->jobs[self->njobs++];
        job->id = j->id;
        log_info("broker", "job %llu %s (weight %d)", (unsigned long long)j->id,
                 j->running ? "running" : "not running", j->weight);
    }
    job->weight = j->weight;
    job->running = j->running;
    job->seen = 1;
    assay_queue_set_weight(self->queue, j->id, j->weight);
    assay_queue_set_priority(self->queue, j->id, j->priority);
}

static void s_release_queued(assay_qtask_t *t, void *arg)
{
    assay_broker_t *self = arg;
    assay_store_add_release(self->store, t->id, t->attempt);
    assay_qtask_free(t);
}

static int s_reload_jobs(assay_broker_t *self)
{
    for (size_t i = 0; i < self->njobs; i++) self->jobs[i].seen = 0;
    if (assay_store_load_jobs(self->store, s_job_loaded, self) != 0) return -1;
    for (size_t i = 0; i < self->njobs;) {
        s_job_t *j = &self->jobs[i];
        if (!j->seen || !j->running) {
            /* paused, cancelled or finished: hand back what waits in the queue */
            assay_queue_drain_job(self->queue, j->id, s_release_queued, self);
        }
        if (!j->seen) {
            self->jobs[i] = self->jobs[--self->njobs];
            continue;
        }
        i++;
    }
    for (size_t c = 0; c < self->nclaims; c++) self->claims[c].idle_until_ms = 0;
    return 0;
}

/* ---- dispatch ---- */

static void s_claim(assay_broker_t *self, int64_t now);

/* read up to max waiting messages; returns how many results and failures came */
static long s_read_messages(assay_broker_t *self, int max)
{
    uint64_t before = self->reports;
    for (int k = 0; k < max; k++) {
        uint8_t id[S_MAX_IDENTITY];
        size_t idlen = sizeof id;
        assay_msg_t m;
        assay_proto_stats_t was = self->proto;
        int r = assay_proto_recv(self->sock, id, &idlen, &m, &self->proto, ZMQ_DONTWAIT);
        if (r == ASSAY_EAGAIN || r == ASSAY_EIO) break;
        if (r != 0) {
            if (r == ASSAY_EINVAL) continue; /* an identity longer than ZeroMQ allows */
            s_peer_t *p = s_peer_find(self, id, idlen);
            /* any traffic counts as liveness, a rejected message too (§4.4) */
            if (p) p->last_recv_ms = assay_clock_ms();
            int reason = S_REJ_MALFORMED;
            for (int c = 0; c < S_REJ_WRONG_DIRECTION; c++)
                if (s_dec_count(&self->proto, c) != s_dec_count(&was, c)) reason = c;
            s_reject_log(self, reason, p ? p->name : "an unknown peer", assay_strerror(r));
            /* the one rejected message that is answered: a version this broker does
             * not speak (§7); the DISCONNECT is in version 1, whose framing and
             * DISCONNECT body every version keeps */
            if (r == ASSAY_EVERSION) {
                char why[96];
                snprintf(why, sizeof why,
                         "unsupported protocol version: this broker speaks version %d",
                         ASSAY_PROTO_VERSION);
                s_ask(self, id, idlen, why);
            }
            continue;
        }
        s_on_message(self, id, idlen, &m);
        assay_msg_release(&m);
    }
    return (long)(self->reports - before);
}

static void s_dispatch(assay_broker_t *self, int64_t now);

/* during a flush: take the reports that came in while it wrote, and keep the
 * workers busy with what earlier passes claimed */
static int s_drain_in_txn(void *arg)
{
    assay_broker_t *self = arg;
    long got = s_read_messages(self, 20000);
    s_dispatch(self, assay_clock_ms());
    assay_store_side_work(self->store, &self->st);
    return got > 0;
}

static int s_claim_in_txn(void *arg)
{
    assay_broker_t *self = arg;
    s_claim(self, self->pass_now);
    return self->claim_failed ? -1 : 0;
}

static void s_discard_staged(assay_qtask_t *t, void *arg)
{
    (void)arg;
    assay_qtask_free(t);
}

static void s_commit_staged(assay_qtask_t *t, void *arg)
{
    assay_queue_push(arg, t);
}

/* how many more tasks of a kind the dispatch queue should hold (0 = enough) */
static long s_claim_need(assay_broker_t *self, s_claimstate_t *cs, int64_t now)
{
    if (cs->idle_until_ms > now) return 0;
    long free_slots = 0, total_slots = 0;
    for (size_t i = 0; i < self->npeers; i++) {
        s_peer_t *p = self->peers[i];
        if (p->draining) continue;
        for (uint32_t k = 0; k < p->ncredits; k++)
            if (!strcmp(p->credits[k].kind, cs->kind)) {
                free_slots += (long)p->credits[k].slots - (long)p->credits[k].inflight;
                total_slots += p->credits[k].slots;
            }
    }
    if (total_slots == 0) return 0;
    /* enough for every free slot plus a full refill of all slots, so workers keep
     * running from the queue while the next pass is being written */
    long want = free_slots + total_slots + 16;
    if (want > self->claim_max) want = self->claim_max;
    long queued = (long)assay_queue_count(self->queue, cs->kind);
    if (queued >= want / 2) return 0;
    return want - queued;
}

static int s_any_claim_need(assay_broker_t *self, int64_t now)
{
    if (self->njobs == 0) return 0;
    if ((long)(assay_store_pending(self->store) + assay_store_side_pending(self->store)) >
        self->max_pending_writes)
        return 0;
    for (size_t c = 0; c < self->nclaims; c++)
        if (s_claim_need(self, &self->claims[c], now) > 0) return 1;
    return 0;
}

static void s_claim(assay_broker_t *self, int64_t now)
{
    if (self->njobs == 0 || self->db_down) return;
    if ((long)(assay_store_pending(self->store) + assay_store_side_pending(self->store)) >
        self->max_pending_writes)
        return;
    uint64_t ids[256];
    int limits[256];
    for (size_t c = 0; c < self->nclaims; c++) {
        s_claimstate_t *cs = &self->claims[c];
        long need = s_claim_need(self, cs, now);
        if (need <= 0) continue;
        size_t n = 0;
        long wsum = 0;
        for (size_t j = 0; j < self->njobs && n < 256; j++)
            if (self->jobs[j].running) wsum += self->jobs[j].weight;
        for (size_t j = 0; j < self->njobs && n < 256; j++) {
            if (!self->jobs[j].running) continue;
            ids[n] = self->jobs[j].id;
            long share = (need * self->jobs[j].weight + wsum - 1) / (wsum ? wsum : 1);
            limits[n++] = (int)(share < 1 ? 1 : share);
        }
        if (n == 0) return;
        int64_t c0 = assay_clock_us();
        long got = assay_store_claim(self->store, cs->kind, ids, limits, n, self->staged);
        log_debug("broker", "claimed %ld %s tasks (asked %ld) in %.1f ms", got, cs->kind, need,
                  (assay_clock_us() - c0) / 1000.0);
        if (got < 0) {
            self->claim_failed = 1;
            return;
        }
        if (got == 0) cs->idle_until_ms = now + 500;
        if (got < need) self->finish_hint = 1; /* a job may be about to end */
    }
}

static void s_dispatch(assay_broker_t *self, int64_t now)
{
    self->limited_until_ms = 0;
    if (assay_queue_total(self->queue) == 0) return;
    for (size_t i = 0; i < self->npeers; i++) {
        s_peer_t *p = self->peers[i];
        if (p->draining) continue;
        for (uint32_t k = 0; k < p->ncredits; k++) {
            s_credit_t *cr = &p->credits[k];
            if (cr->hold_until_ms > now) continue;
            while (cr->inflight < cr->slots) {
                assay_qtask_t *t = assay_queue_pop(self->queue, cr->kind);
                if (!t) break;
                s_job_t *job = s_job(self, t->job_id);
                if (!job || !job->running) {
                    s_release_queued(t, self);
                    continue;
                }
                if (now > t->lease_deadline_ms - (int64_t)t->timeout_ms) {
                    /* waited so long its lease could lapse while it runs: hand it back */
                    s_release_queued(t, self);
                    continue;
                }
                const assay_store_stage_t *st = assay_store_stage(self->store, t->stage_id);
                if (!st && assay_store_busy(self->store)) {
                    /* the stage loads after the flush that is running */
                    assay_queue_push(self->queue, t);
                    break;
                }
                if (!st) {
                    assay_store_add_fail(self->store, t->id, t->attempt, 1, 5000,
                                         "broker could not load the task's stage", "broker");
                    assay_qtask_free(t);
                    continue;
                }
                assay_ratelimit_t *limit = s_limit(self, st->endpoint);
                if (limit && !assay_ratelimit_acquire(limit, st->requests, st->tokens, now)) {
                    /* over the endpoint's budget: the task waits, this kind pauses */
                    assay_queue_push(self->queue, t);
                    int64_t next = assay_ratelimit_next_ms(limit, now);
                    if (!self->limited_until_ms || next < self->limited_until_ms)
                        self->limited_until_ms = next;
                    break;
                }
                assay_msg_t m = {.cmd = ASSAY_CMD_TASK};
                m.u.task.id = t->id;
                m.u.task.attempt = t->attempt;
                m.u.task.kind = t->kind;
                m.u.task.input = t->input;
                m.u.task.input_len = t->input_len;
                m.u.task.params = st->params;
                m.u.task.params_len = strlen(st->params);
                m.u.task.timeout_ms = t->timeout_ms;
                if (s_send(self, p, p->identity, p->idlen, &m) != 0) {
                    if (limit) assay_ratelimit_done(limit);
                    s_release_queued(t, self);
                    break;
                }
                s_flight_t *f = ASSAY_NEW(s_flight_t);
                f->id = t->id;
                f->attempt = t->attempt;
                f->job_id = t->job_id;
                f->stage_id = t->stage_id;
                f->peer = p;
                f->credit = (int)k;
                /* the one lease rule (§5): to + lg from sending the TASK */
                f->deadline_ms = now + (int64_t)t->timeout_ms + S_LEASE_GRACE_MS;
                f->limit = limit;
                s_flight_t *old = assay_imap_put(self->flights, t->id, f);
                if (old) {
                    /* the same task id in flight twice means its old lease lapsed */
                    if (old->peer && old->credit >= 0 &&
                        old->peer->credits[old->credit].inflight > 0)
                        old->peer->credits[old->credit].inflight--;
                    s_flight_end(old);
                    free(old);
                }
                cr->inflight++;
                self->dispatched++;
                assay_store_dispatched(self->store, t->id, t->attempt);
                assay_qtask_free(t);
            }
        }
    }
}

/* ---- timers ---- */

static void s_save_workers(assay_broker_t *self)
{
    size_t n = self->npeers;
    const char **names = assay_calloc(n + 1, sizeof *names);
    char **slots = assay_calloc(n + 1, sizeof *slots);
    long long *done = assay_calloc(n + 1, sizeof *done), *failed = assay_calloc(n + 1, sizeof *failed);
    for (size_t i = 0; i < n; i++) {
        s_peer_t *p = self->peers[i];
        names[i] = p->name;
        json_t *o = json_object();
        for (uint32_t k = 0; k < p->ncredits; k++)
            json_object_set_new(o, p->credits[k].kind, json_integer(p->credits[k].slots));
        slots[i] = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        done[i] = (long long)p->done;
        failed[i] = (long long)p->failed;
    }
    if (assay_store_save_workers(self->store, names, (const char *const *)slots, done, failed, n) != 0)
        log_warn("broker", "could not record workers: %s", assay_store_error(self->store));
    for (size_t i = 0; i < n; i++) free(slots[i]);
    free(names);
    free(slots);
    free(done);
    free(failed);
}

typedef struct {
    assay_broker_t *self;
    int64_t now;
    uint64_t *ids;
    size_t n, cap;
} s_expired_t;

static void s_find_expired(uint64_t key, void *value, void *arg)
{
    s_expired_t *e = arg;
    s_flight_t *f = value;
    if (f->deadline_ms >= e->now) return;
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 64;
        e->ids = assay_realloc(e->ids, e->cap * sizeof *e->ids);
    }
    e->ids[e->n++] = key;
}

/* claims came back short and everything is written: a job may have ended */
static int s_settled(const assay_broker_t *self)
{
    return self->finish_hint && assay_queue_total(self->queue) == 0 &&
           assay_imap_size(self->flights) == 0 && assay_store_pending(self->store) == 0 &&
           assay_store_side_pending(self->store) == 0;
}

/* jobs with tasks in the broker (queued or running): not done yet */
typedef struct {
    uint64_t *ids;
    size_t n;
} s_busy_t;

static void s_busy_add(s_busy_t *b, uint64_t job_id)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->ids[i] == job_id) return;
    b->ids = assay_realloc(b->ids, (b->n + 1) * sizeof *b->ids);
    b->ids[b->n++] = job_id;
}

static void s_flight_job(uint64_t key, void *value, void *arg)
{
    (void)key;
    s_busy_add(arg, ((s_flight_t *)value)->job_id);
}

/* ---- stalled stages ---- */

/* a connected worker that takes tasks of this kind */
static int s_kind_served(const assay_broker_t *self, const char *kind)
{
    for (size_t i = 0; i < self->npeers; i++) {
        const s_peer_t *p = self->peers[i];
        if (p->draining) continue;
        for (uint32_t k = 0; k < p->ncredits; k++)
            if (p->credits[k].slots > 0 && !strcmp(p->credits[k].kind, kind)) return 1;
    }
    return 0;
}

static void s_stall_note(assay_broker_t *self, const char *kind, uint64_t job_id, const char *stage)
{
    if (s_kind_served(self, kind)) return;
    for (size_t i = 0; i < self->nstalled; i++)
        if (!strcmp(self->stalled[i], kind)) return;
    if (self->nstalled < ASSAY_PROTO_MAX_KINDS)
        snprintf(self->stalled[self->nstalled++], sizeof self->stalled[0], "%s", kind);
    log_warn("broker", "no connected worker serves kind \"%s\" (stage %s of job %llu waits)", kind,
             stage, (unsigned long long)job_id);
}

static void s_stall_found(const char *kind, uint64_t job_id, const char *stage, void *arg)
{
    s_stall_note(arg, kind, job_id, stage);
}

/* Work of a kind no connected worker serves waits forever, silently: say so, once
 * per kind until a worker for it arrives. Looks at the tasks queued here and at
 * what Postgres holds runnable for running jobs. */
static void s_stall_check(assay_broker_t *self)
{
    for (size_t c = 0; c < self->nclaims; c++) {
        const char *kind = self->claims[c].kind;
        if (!assay_queue_count(self->queue, kind) || s_kind_served(self, kind)) continue;
        /* one of them names the stage; it goes back to the end of its job's line */
        assay_qtask_t *t = assay_queue_pop(self->queue, kind);
        if (!t) continue;
        const assay_store_stage_t *st = assay_store_stage(self->store, t->stage_id);
        s_stall_note(self, kind, t->job_id, st ? st->name : "?");
        assay_queue_push(self->queue, t);
    }
    if (assay_store_waiting_kinds(self->store, s_stall_found, self) != 0) self->db_down = 1;
}

static void s_timers(assay_broker_t *self, int64_t now)
{
    /* liveness and heartbeats */
    for (size_t i = 0; i < self->npeers;) {
        s_peer_t *p = self->peers[i];
        if (now - p->last_recv_ms > (int64_t)p->hb_ms * self->liveness) {
            s_peer_remove(self, p, S_GONE_SILENT);
            continue;
        }
        if (now - p->last_send_ms >= (int64_t)p->hb_ms) {
            assay_msg_t h = {.cmd = ASSAY_CMD_HEARTBEAT};
            s_send(self, p, p->identity, p->idlen, &h);
        }
        i++;
    }
    if (self->db_down) return;
    if (now >= self->next_expire_ms) {
        /* attempts past their lease (to + lg after the TASK): the worker is alive
         * but never reported. The credit returns and the attempt ends as a
         * retryable failure, both at once (§5) */
        self->next_expire_ms = now + 1000;
        s_expired_t e = {self, now, NULL, 0, 0};
        assay_imap_each(self->flights, s_find_expired, &e);
        for (size_t i = 0; i < e.n; i++) {
            s_flight_t *f = assay_imap_del(self->flights, e.ids[i]);
            if (f->peer && f->credit >= 0 && f->peer->credits[f->credit].inflight > 0)
                f->peer->credits[f->credit].inflight--;
            s_flight_end(f);
            uint32_t delay = assay_retry_delay_ms(&self->retry, f->attempt, 0, &self->rng);
            assay_store_add_fail(self->store, f->id, f->attempt, 1, delay,
                                 "lease expired: no report within the timeout plus the grace",
                                 f->peer ? f->peer->name : "?");
            free(f);
        }
        free(e.ids);
        self->leases_expired += e.n;
        if (e.n)
            log_warn("broker", "%zu attempts outlived their lease and go back to pending", e.n);
    }
    if (now >= self->next_jobs_ms || self->jobs_dirty) {
        self->jobs_dirty = 0;
        self->next_jobs_ms = now + 2000;
        if (s_reload_jobs(self) != 0) self->db_down = 1;
    }
    if (now >= self->next_finish_ms || s_settled(self)) {
        self->finish_hint = 0;
        self->next_finish_ms = now + 1000;
        uint64_t finished = 0;
        s_busy_t busy = {NULL, 0};
        for (size_t i = 0; i < self->njobs; i++)
            if (assay_queue_count_job(self->queue, self->jobs[i].id)) s_busy_add(&busy, self->jobs[i].id);
        assay_imap_each(self->flights, s_flight_job, &busy);
        int rc = assay_store_finish_jobs(self->store, busy.ids, busy.n, &finished);
        free(busy.ids);
        if (rc != 0)
            self->db_down = 1;
        else if (finished) {
            log_info("broker", "%llu jobs finished", (unsigned long long)finished);
            self->jobs_dirty = 1;
        }
    }
    if (now >= self->next_sweep_ms) {
        self->next_sweep_ms = now + 10000;
        /* the database's own lease: a backstop for attempts no broker holds */
        uint64_t expired = 0;
        if (assay_store_expire_leases(self->store, 5, &expired) != 0)
            self->db_down = 1;
        self->leases_expired += expired;
        if (expired)
            log_warn("broker", "%llu leases expired and went back to pending",
                     (unsigned long long)expired);
    }
    if (now >= self->next_workers_ms) {
        self->next_workers_ms = now + 5000;
        s_save_workers(self);
    }
    if (now >= self->next_stall_ms) {
        /* every liveness window: a worker that left is noticed by then */
        self->next_stall_ms = now + (int64_t)self->heartbeat_ms * self->liveness;
        if (!self->db_down) s_stall_check(self);
        if (self->st.results_ignored != self->logged_ignored) {
            self->logged_ignored = self->st.results_ignored;
            char why[256];
            size_t off = 0;
            for (int k = 0; k < ASSAY_IGNORED_N && off < sizeof why; k++)
                off += (size_t)snprintf(why + off, sizeof why - off, " %s=%llu",
                                        assay_store_ignored_name(k),
                                        (unsigned long long)self->st.ignored[k]);
            log_info("broker", "results not stored so far, by reason:%s", why);
        }
    }
    if (now >= self->next_stats_ms) {
        self->next_stats_ms = now + 10000;
        log_info("broker",
                 "workers=%zu queued=%zu inflight=%zu dispatched=%llu stored=%llu ignored=%llu "
                 "retried=%llu dead=%llu ratelimited=%llu bad_frames=%llu",
                 self->npeers, assay_queue_total(self->queue), assay_imap_size(self->flights),
                 (unsigned long long)self->dispatched, (unsigned long long)self->st.results_stored,
                 (unsigned long long)self->st.results_ignored,
                 (unsigned long long)self->st.fails_retried,
                 (unsigned long long)self->st.fails_dead, (unsigned long long)self->ratelimited,
                 (unsigned long long)(self->proto.bad_frames + self->proto.bad_tag +
                                      self->proto.bad_version + self->proto.bad_command +
                                      self->proto.oversized + self->proto.truncated +
                                      self->proto.malformed));
    }
}

/* ---- lifecycle ---- */

static void s_add_limit(const char *name, void *arg)
{
    assay_broker_t *self = arg;
    char key[256];
    assay_ratelimit_conf_t c;
    snprintf(key, sizeof key, "endpoint.%s.rpm", name);
    c.rpm = assay_config_get_double(self->cfg, key, 0);
    snprintf(key, sizeof key, "endpoint.%s.tpm", name);
    c.tpm = assay_config_get_double(self->cfg, key, 0);
    snprintf(key, sizeof key, "endpoint.%s.fleet_concurrency", name);
    c.max_concurrency = assay_config_get_long(self->cfg, key, 0);
    self->limits = assay_realloc(self->limits, (self->nlimits + 1) * sizeof *self->limits);
    self->limits[self->nlimits++] = assay_ratelimit_new(name, &c, assay_clock_ms());
    log_info("broker", "endpoint %s: rpm %.0f, tpm %.0f, fleet concurrency %ld", name, c.rpm, c.tpm,
             c.max_concurrency);
}

assay_broker_t *assay_broker_new(const assay_config_t *cfg, char *err, size_t errlen)
{
    assay_broker_t *self = ASSAY_NEW(assay_broker_t);
    self->cfg = cfg;
    self->bind = assay_strdup(assay_config_get(cfg, "broker.bind", "tcp://127.0.0.1:5555"));
    self->heartbeat_ms = (uint32_t)assay_config_get_long(cfg, "broker.heartbeat_ms", 1000);
    if (self->heartbeat_ms < 1) self->heartbeat_ms = 1;
    /* a worker's proposed interval is used within these bounds; by default both
     * are heartbeat_ms, so the broker imposes its own */
    self->heartbeat_min_ms =
        (uint32_t)assay_config_get_long(cfg, "broker.heartbeat_min_ms", self->heartbeat_ms);
    self->heartbeat_max_ms =
        (uint32_t)assay_config_get_long(cfg, "broker.heartbeat_max_ms", self->heartbeat_ms);
    /* the loop ticks at half the shortest interval: keep it from spinning */
    if (self->heartbeat_min_ms < 50) self->heartbeat_min_ms = 50;
    if (self->heartbeat_max_ms < self->heartbeat_min_ms)
        self->heartbeat_max_ms = self->heartbeat_min_ms;
    self->liveness = (uint32_t)assay_config_get_long(cfg, "broker.liveness", 5);
    self->claim_max = assay_config_get_long(cfg, "broker.claim_max", 8000);
    self->drain_ms = assay_config_get_long(cfg, "broker.drain_ms", 2000);
    self->max_pending_writes = assay_config_get_long(cfg, "broker.max_pending_writes", 50000);
    self->retry.base_ms = (uint32_t)assay_config_get_long(cfg, "broker.retry_base_ms", 1000);
    self->retry.max_ms = (uint32_t)assay_config_get_long(cfg, "broker.retry_max_ms", 300000);
    self->rng = (uint64_t)assay_wallclock_ms() ^ ((uint64_t)getpid() << 32);
    char host[64] = "broker";
    gethostname(host, sizeof host - 1);
    snprintf(self->id, sizeof self->id, "%s:%d", host, (int)getpid());
    self->store = assay_store_new(assay_config_get(cfg, "db", ""), err, errlen);
    if (!self->store) {
        free(self->bind);
        free(self);
        return NULL;
    }
    assay_store_set_poison_deaths(
        self->store,
        (int)assay_config_get_long(cfg, "broker.poison_deaths", ASSAY_STORE_POISON_DEATHS));
    self->queue = assay_queue_new();
    self->staged = assay_queue_new();
    assay_config_sections(cfg, "endpoint.", s_add_limit, self);
    self->peers_by_key = assay_imap_new();
    self->asked = assay_imap_new();
    self->flights = assay_imap_new();
    if (s_metrics_start(self, err, errlen) != 0) {
        assay_broker_destroy(&self);
        return NULL;
    }
    return self;
}

static void s_free_flight(uint64_t key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    free(value);
}

void assay_broker_destroy(assay_broker_t **self_p)
{
    if (!self_p || !*self_p) return;
    assay_broker_t *self = *self_p;
    assay_metrics_destroy(&self->metrics); /* stops the HTTP thread first */
    assay_dbmetrics_destroy(&self->dbmetrics);
    while (self->npeers) {
        s_peer_t *p = self->peers[0];
        assay_imap_del(self->peers_by_key, p->key);
        self->peers[0] = self->peers[--self->npeers];
        s_peer_free(p);
    }
    free(self->peers);
    assay_imap_each(self->flights, s_free_flight, NULL);
    assay_imap_destroy(&self->flights);
    assay_imap_destroy(&self->peers_by_key);
    assay_imap_destroy(&self->asked);
    assay_queue_destroy(&self->queue);
    assay_queue_destroy(&self->staged);
    for (size_t i = 0; i < self->nlimits; i++) assay_ratelimit_destroy(&self->limits[i]);
    free(self->limits);
    assay_store_destroy(&self->store);
    free(self->jobs);
    if (self->sock) zmq_close(self->sock);
    assay_curve_zap_destroy(&self->zap);
    if (self->ctx) zmq_ctx_term(self->ctx);
    free(self->bind);
    free(self);
    *self_p = NULL;
}

int assay_broker_wait_active(assay_broker_t *self, volatile sig_atomic_t *stop)
{
    int logged = 0;
    while (!*stop) {
        int got = assay_store_try_lock(self->store);
        if (got == 1) break;
        if (got < 0) {
            usleep(1000 * 1000);
            if (assay_store_reconnect(self->store) != 0)
                log_warn("broker", "database unavailable: %s", assay_store_error(self->store));
            continue;
        }
        if (!logged) {
            log_info("broker", "standby: another broker is active; waiting to take over");
            logged = 1;
        }
        usleep(500 * 1000);
    }
    if (*stop) return -1;
    uint64_t requeued = 0, dead = 0, gaps = 0;
    long grace = assay_config_get_long(self->cfg, "broker.recover_grace_ms", 30000);
    if (assay_store_recover(self->store, (int)grace, &requeued, &dead, &gaps) != 0) return -1;
    log_info("broker",
             "active: %llu leased tasks of a previous broker back to pending, %llu dead, %llu"
             " claimed items without a task written as pending (the pending ones run again in"
             " %ld ms at most, unless their workers report them first)",
             (unsigned long long)requeued, (unsigned long long)dead, (unsigned long long)gaps, grace);
    if (self->metrics) assay_metrics_set_ready(self->metrics, 1, "");
    return 0;
}

static void s_db_recover(assay_broker_t *self, int64_t now)
{
    if (now < self->db_retry_ms) return;
    self->db_retry_ms = now + 1000;
    if (assay_store_reconnect(self->store) != 0) {
        log_warn("broker", "database still unavailable: %s", assay_store_error(self->store));
        return;
    }
    int got = assay_store_try_lock(self->store);
    if (got != 1) {
        /* another broker took over while we were cut off: we must not go on */
        log_error("broker", "lost the active-broker lock while the database was away; exiting");
        exit(1);
    }
    self->db_down = 0;
    self->jobs_dirty = 1;
    log_info("broker", "database connection restored");
}

int assay_broker_run(assay_broker_t *self, volatile sig_atomic_t *stop)
{
    self->ctx = zmq_ctx_new();
    self->sock = zmq_socket(self->ctx, ZMQ_ROUTER);
    int one = 1, zero = 0, linger = 1000;
    zmq_setsockopt(self->sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(self->sock, ZMQ_SNDHWM, &zero, sizeof zero);
    zmq_setsockopt(self->sock, ZMQ_RCVHWM, &zero, sizeof zero);
    zmq_setsockopt(self->sock, ZMQ_LINGER, &linger, sizeof linger);
    int64_t maxmsg = ASSAY_PROTO_MAX_BODY + 4096;
    zmq_setsockopt(self->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    char cerr[1024];
    if (assay_curve_server_setup(self->ctx, self->sock, self->cfg, &self->zap, cerr,
                                 sizeof cerr) != 0) {
        log_error("broker", "%s", cerr);
        return -1;
    }
    /* a standby that took over while the old active broker is still alive (it lost
     * its database session but has not noticed yet) finds the address in use: the
     * old one exits as soon as it sees the lock gone, so wait for the address */
    for (int tries = 0; zmq_bind(self->sock, self->bind) != 0; tries++) {
        if (zmq_errno() != EADDRINUSE || tries >= 300 || *stop) {
            log_error("broker", "could not bind \"%s\": %s", self->bind, zmq_strerror(zmq_errno()));
            return -1;
        }
        if (tries == 0)
            log_warn("broker", "\"%s\" is still in use (the previous broker?): waiting for it",
                     self->bind);
        usleep(100 * 1000);
    }
    log_info("broker", "broker %s listening on %s", self->id, self->bind);
    self->jobs_dirty = 1;
    /* workers of the previous broker get a liveness window to register first */
    self->next_stall_ms = assay_clock_ms() + (int64_t)self->heartbeat_ms * self->liveness;

    while (!*stop) {
        int64_t now = assay_clock_ms();
        if (!self->db_down) assay_store_side_work(self->store, &self->st);
        zmq_pollitem_t items[3] = {{self->sock, 0, ZMQ_POLLIN, 0},
                                   {NULL, assay_store_fd(self->store), ZMQ_POLLIN, 0},
                                   {NULL, assay_store_side_fd(self->store), ZMQ_POLLIN, 0}};
        int nitems = (!self->db_down && items[1].fd >= 0) ? 2 : 1;
        if (nitems == 2 && items[2].fd >= 0) nitems = 3;
        long timeout = self->heartbeat_min_ms / 2;
        if (assay_store_pending(self->store) || self->jobs_dirty) timeout = 0;
        /* work to claim, or a job that may just have ended: no waiting */
        if (!self->db_down && (s_any_claim_need(self, now) || s_settled(self))) timeout = 0;
        /* tasks handed out but not leased in Postgres yet: give their reports a
         * moment to come in, so most fast tasks are written once, not twice */
        if (assay_store_unleased(self->store) && timeout > ASSAY_STORE_LEASE_DELAY_MS)
            timeout = ASSAY_STORE_LEASE_DELAY_MS;
        if (self->limited_until_ms) {
            long wait = (long)(self->limited_until_ms - now);
            if (wait < timeout) timeout = wait < 0 ? 0 : wait;
        }
        if (zmq_poll(items, nitems, timeout) < 0 && zmq_errno() != EINTR) {
            log_error("broker", "poll failed: %s", zmq_strerror(zmq_errno()));
            return -1;
        }
        if (nitems == 2 && (items[1].revents & ZMQ_POLLIN)) {
            int r = assay_store_poll_notify(self->store);
            if (r > 0) self->jobs_dirty = 1;
            if (r < 0) self->db_down = 1;
        }
        /* read everything waiting (bounded so timers still run under a flood) */
        s_read_messages(self, 50000);
        now = assay_clock_ms();
        /* hand out what is already claimed first: workers run while we write */
        s_dispatch(self, now);
        if (self->db_down) s_db_recover(self, now);
        /* one transaction per pass: this pass's results and failures, then the
         * claims that refill the dispatch queue */
        int lease_due = assay_store_unleased(self->store) &&
                        now - self->last_flush_ms >= ASSAY_STORE_LEASE_DELAY_MS;
        if (!self->db_down &&
            (assay_store_pending(self->store) || lease_due || s_any_claim_need(self, now))) {
            int64_t f0 = assay_clock_us();
            size_t nw = assay_store_pending(self->store);
            int had_writes = nw > 0;
            self->pass_now = now;
            self->claim_failed = 0;
            int fr = assay_store_flush(self->store, &self->st, s_drain_in_txn, s_claim_in_txn, self);
            self->last_flush_ms = assay_clock_ms();
            log_debug("broker", "pass wrote %zu, claimed %zu in %.1f ms", nw,
                      assay_queue_total(self->staged), (assay_clock_us() - f0) / 1000.0);
            if (fr != 0) {
                self->db_down = 1;
                assay_queue_drain_all(self->staged, s_discard_staged, NULL);
            } else {
                assay_queue_drain_all(self->staged, s_commit_staged, self->queue);
                /* results may have created next-stage tasks: look again */
                if (had_writes)
                    for (size_t c = 0; c < self->nclaims; c++) self->claims[c].idle_until_ms = 0;
            }
        }
        s_dispatch(self, now);
        s_timers(self, now);
        s_metrics_publish(self, now, 0);
    }

    log_info("broker", "stopping: handing back %zu queued tasks", assay_queue_total(self->queue));
    assay_queue_drain_all(self->queue, s_release_queued, self);
    /* tasks running on workers get drain_ms to finish; their results are written.
     * What is still running then is left leased, for the next broker to reclaim */
    int64_t until = assay_clock_ms() + self->drain_ms;
    size_t running = assay_imap_size(self->flights);
    while (assay_imap_size(self->flights) > 0 && assay_clock_ms() < until && !self->db_down) {
        zmq_pollitem_t item = {self->sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 20) < 0 && zmq_errno() != EINTR) break;
        s_read_messages(self, 50000);
        assay_store_side_work(self->store, &self->st);
        if (assay_store_pending(self->store) &&
            assay_store_flush(self->store, &self->st, NULL, NULL, NULL) != 0)
            self->db_down = 1;
    }
    if (running)
        log_info("broker", "stopping: %zu of %zu running tasks finished, %zu left to the next broker",
                 running - assay_imap_size(self->flights), running, assay_imap_size(self->flights));
    for (int tries = 0;
         tries < 10 && (assay_store_pending(self->store) || assay_store_unleased(self->store) ||
                        assay_store_side_pending(self->store));
         tries++) {
        if (self->db_down) s_db_recover(self, assay_clock_ms() + 1000000);
        if (!self->db_down && assay_store_side_flush(self->store, &self->st) == 0 &&
            assay_store_flush(self->store, &self->st, NULL, NULL, NULL) == 0)
            break;
        self->db_down = 1;
        usleep(500 * 1000);
    }
    s_metrics_publish(self, assay_clock_ms(), 1);
    log_info("broker", "stopped: dispatched=%llu stored=%llu ignored=%llu",
             (unsigned long long)self->dispatched, (unsigned long long)self->st.results_stored,
             (unsigned long long)self->st.results_ignored);
    return 0;
}

/* ---- metrics ---- */

static int s_metrics_start(assay_broker_t *self, char *err, size_t errlen)
{
    const char *addr = assay_config_get(self->cfg, "broker.metrics", NULL);
    if (!addr || !*addr) return 0;
    assay_metrics_t *m = self->metrics = assay_metrics_new();
    assay_metrics_declare(m, "assay_broker_dispatched_total", ASSAY_METRIC_COUNTER,
                          "tasks sent to workers", NULL, 0);
    assay_metrics_declare(m, "assay_broker_completed_total", ASSAY_METRIC_COUNTER,
                          "results stored (tasks done)", NULL, 0);
    assay_metrics_declare(m, "assay_broker_results_ignored_total", ASSAY_METRIC_COUNTER,
                          "results not stored, by reason: stale_attempt (the task runs again"
                          " under a newer attempt), duplicate (done by another attempt),"
                          " replayed (this attempt's result is stored already), task_ended"
                          " (dead or cancelled), unknown_task, other", NULL, 0);
    assay_metrics_declare(m, "assay_broker_poisoned_total", ASSAY_METRIC_COUNTER,
                          "tasks made dead because workers kept dying while running them"
                          " (possible poison input)", NULL, 0);
    assay_metrics_declare(m, "assay_broker_retries_total", ASSAY_METRIC_COUNTER,
                          "failed attempts put back to pending for a retry", NULL, 0);
    assay_metrics_declare(m, "assay_broker_dead_total", ASSAY_METRIC_COUNTER,
                          "tasks that ran out of attempts or failed for good", NULL, 0);
    assay_metrics_declare(m, "assay_broker_lease_expired_total", ASSAY_METRIC_COUNTER,
                          "leases that lapsed and went back to pending", NULL, 0);
    assay_metrics_declare(m, "assay_broker_unknown_peer_messages_total", ASSAY_METRIC_COUNTER,
                          "messages from workers that had not registered", NULL, 0);
    assay_metrics_declare(m, "assay_proto_messages_total", ASSAY_METRIC_COUNTER,
                          "well-formed messages received", NULL, 0);
    assay_metrics_declare(m, "assay_proto_rejected_total", ASSAY_METRIC_COUNTER,
                          "messages rejected or ignored, by reason (PROTOCOL.md section 6)", NULL,
                          0);
    assay_metrics_declare(m, "assay_broker_declined_total", ASSAY_METRIC_COUNTER,
                          "attempts a worker declined without starting them, handed back uncounted",
                          NULL, 0);
    assay_metrics_declare(m, "assay_broker_worker_running", ASSAY_METRIC_GAUGE,
                          "tasks the workers say they run (HEARTBEAT n), summed", NULL, 0);
    assay_metrics_declare(m, "assay_curve_auth_total", ASSAY_METRIC_COUNTER,
                          "CurveZMQ handshakes by result (denied = key not allowed)", NULL, 0);
    assay_metrics_declare(m, "assay_curve_allowed_keys", ASSAY_METRIC_GAUGE,
                          "client keys in the allowlist", NULL, 0);
    assay_metrics_declare(m, "assay_broker_workers", ASSAY_METRIC_GAUGE,
                          "connected workers", NULL, 0);
    assay_metrics_declare(m, "assay_broker_slots", ASSAY_METRIC_GAUGE,
                          "slots of connected workers by kind", NULL, 0);
    assay_metrics_declare(m, "assay_broker_inflight", ASSAY_METRIC_GAUGE,
                          "tasks running on workers by kind", NULL, 0);
    assay_metrics_declare(m, "assay_broker_queued", ASSAY_METRIC_GAUGE,
                          "tasks claimed and waiting in the broker by kind", NULL, 0);
    assay_metrics_declare(m, "assay_broker_pending_writes", ASSAY_METRIC_GAUGE,
                          "results and failures not yet written to Postgres", NULL, 0);
    assay_metrics_declare(m, "assay_broker_db_up", ASSAY_METRIC_GAUGE,
                          "1 while the scheduler's database connection works", NULL, 0);
    assay_metrics_set_ready(m, 0, "standby (not the active broker yet)");
    self->dbmetrics = assay_dbmetrics_new(assay_config_get(self->cfg, "db", ""));
    assay_metrics_collector(m, assay_dbmetrics_collect, self->dbmetrics);
    if (assay_metrics_serve(m, addr, err, errlen) != 0) return -1;
    log_info("broker", "metrics on http://%s/metrics", addr);
    return 0;
}

static void s_metrics_publish(assay_broker_t *self, int64_t now, int force)
{
    assay_metrics_t *m = self->metrics;
    if (!m || (!force && now < self->next_metrics_ms)) return;
    self->next_metrics_ms = now + 250;
    assay_metrics_set(m, "assay_broker_dispatched_total", "", (double)self->dispatched);
    assay_metrics_set(m, "assay_broker_completed_total", "", (double)self->st.results_stored);
    char why[64];
    for (int k = 0; k < ASSAY_IGNORED_N; k++)
        assay_metrics_set(m, "assay_broker_results_ignored_total",
                          assay_metrics_labels(why, sizeof why, "reason",
                                               assay_store_ignored_name(k), NULL),
                          (double)self->st.ignored[k]);
    assay_metrics_set(m, "assay_broker_poisoned_total", "", (double)self->st.poisoned);
    assay_metrics_set(m, "assay_broker_retries_total", "", (double)self->st.fails_retried);
    assay_metrics_set(m, "assay_broker_dead_total", "", (double)self->st.fails_dead);
    assay_metrics_set(m, "assay_broker_lease_expired_total", "", (double)self->leases_expired);
    assay_metrics_set(m, "assay_broker_unknown_peer_messages_total", "",
                      (double)self->unknown_peer_msgs);
    assay_metrics_set(m, "assay_proto_messages_total", "", (double)self->proto.ok);
    char labels[256];
    for (int r = 0; r < S_REJ__COUNT; r++)
        assay_metrics_set(
            m, "assay_proto_rejected_total",
            assay_metrics_labels(labels, sizeof labels, "reason", s_rej_names[r], NULL),
            (double)s_rej_count(self, r));
    assay_metrics_set(m, "assay_broker_declined_total", "", (double)self->declined);
    double running = 0;
    for (size_t i = 0; i < self->npeers; i++)
        running += self->peers[i]->running;
    assay_metrics_set(m, "assay_broker_worker_running", "", running);
    assay_curve_zap_stats_t zs;
    assay_curve_zap_stats(self->zap, &zs);
    assay_metrics_set(m, "assay_curve_auth_total", "result=\"allowed\"", (double)zs.allowed);
    assay_metrics_set(m, "assay_curve_auth_total", "result=\"denied\"", (double)zs.denied);
    assay_metrics_set(m, "assay_curve_allowed_keys", "", (double)zs.keys);
    assay_metrics_set(m, "assay_broker_workers", "", (double)self->npeers);
    for (size_t c = 0; c < self->nclaims; c++) {
        const char *kind = self->claims[c].kind;
        long slots = 0, inflight = 0;
        for (size_t i = 0; i < self->npeers; i++)
            for (uint32_t k = 0; k < self->peers[i]->ncredits; k++)
                if (!strcmp(self->peers[i]->credits[k].kind, kind)) {
                    slots += self->peers[i]->credits[k].slots;
                    inflight += self->peers[i]->credits[k].inflight;
                }
        assay_metrics_labels(labels, sizeof labels, "kind", kind, NULL);
        assay_metrics_set(m, "assay_broker_slots", labels, (double)slots);
        assay_metrics_set(m, "assay_broker_inflight", labels, (double)inflight);
        assay_metrics_set(m, "assay_broker_queued", labels,
                          (double)assay_queue_count(self->queue, kind));
    }
    assay_metrics_set(m, "assay_broker_pending_writes", "",
                      (double)assay_store_pending(self->store));
    assay_metrics_set(m, "assay_broker_db_up", "", self->db_down ? 0 : 1);
    assay_metrics_set_ready(m, !self->db_down, self->db_down ? "database unavailable" : "");
}
