/*  metrics.c: see metrics.h */
#include "common/metrics.h"

#include "common/error.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_BUCKETS 32
#define S_MAX_COLLECTORS 8

static const double s_default_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                           2.5,   5,    10,    30,   60,  120,  300, 600};

typedef struct {
    char *name;
    char *help;
    assay_metric_type_t type;
    double buckets[S_MAX_BUCKETS];
    size_t nbuckets;
} s_family_t;

typedef struct {
    size_t family;
    char *labels;
    uint64_t hash;
    double value;             /* counter, gauge; histogram: sum */
    uint64_t count;           /* histogram */
    uint64_t *bucket_counts;  /* histogram, per bucket (not cumulative) */
} s_series_t;

struct assay_metrics {
    pthread_mutex_t lock;
    s_family_t *families;
    size_t nfamilies;
    s_series_t *series;
    size_t nseries, capseries;
    size_t *index; /* open addressing: series index + 1, 0 = empty */
    size_t nindex;
    struct {
        assay_metrics_collect_fn fn;
        void *arg;
    } collectors[S_MAX_COLLECTORS];
    size_t ncollectors;
    int ready;
    char why[256];
    struct MHD_Daemon *httpd;
};

assay_metrics_t *assay_metrics_new(void)
{
    assay_metrics_t *self = ASSAY_NEW(assay_metrics_t);
    pthread_mutex_init(&self->lock, NULL);
    snprintf(self->why, sizeof self->why, "starting");
    return self;
}

void assay_metrics_destroy(assay_metrics_t **self_p)
{
    if (!self_p || !*self_p) return;
    assay_metrics_t *self = *self_p;
    if (self->httpd) MHD_stop_daemon(self->httpd);
    for (size_t i = 0; i < self->nfamilies; i++) {
        free(self->families[i].name);
        free(self->families[i].help);
    }
    free(self->families);
    for (size_t i = 0; i < self->nseries; i++) {
        free(self->series[i].labels);
        free(self->series[i].bucket_counts);
    }
    free(self->series);
    free(self->index);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

static long s_family_find(assay_metrics_t *self, const char *name)
{
    for (size_t i = 0; i < self->nfamilies; i++)
        if (!strcmp(self->families[i].name, name)) return (long)i;
    return -1;
}

void assay_metrics_declare(assay_metrics_t *self, const char *name, assay_metric_type_t type,
                           const char *help, const double *buckets, size_t nbuckets)
{
    pthread_mutex_lock(&self->lock);
    if (s_family_find(self, name) < 0) {
        self->families =
            assay_realloc(self->families, (self->nfamilies + 1) * sizeof *self->families);
        s_family_t *f = &self->families[self->nfamilies++];
        memset(f, 0, sizeof *f);
        f->name = assay_strdup(name);
        f->help = assay_strdup(help);
        f->type = type;
        if (type == ASSAY_METRIC_HISTOGRAM) {
            if (!buckets) {
                buckets = s_default_buckets;
                nbuckets = sizeof s_default_buckets / sizeof s_default_buckets[0];
            }
            if (nbuckets > S_MAX_BUCKETS) nbuckets = S_MAX_BUCKETS;
            memcpy(f->buckets, buckets, nbuckets * sizeof *buckets);
            f->nbuckets = nbuckets;
        }
    }
    pthread_mutex_unlock(&self->lock);
}

static uint64_t s_hash(const char *name, const char *labels)
{
    uint64_t a = assay_hash64(name, strlen(name));
    uint64_t b = assay_hash64(labels, strlen(labels));
    return a ^ (b * 0x9e3779b97f4a7c15ull);
}

static void s_reindex(assay_metrics_t *self)
{
    size_t n = self->nindex ? self->nindex * 2 : 256;
    free(self->index);
    self->index = assay_calloc(n, sizeof *self->index);
    self->nindex = n;
    for (size_t i = 0; i < self->nseries; i++) {
        size_t slot = self->series[i].hash & (n - 1);
        while (self->index[slot]) slot = (slot + 1) & (n - 1);
        self->index[slot] = i + 1;
    }
}

/* the series for (name, labels), created on first use; NULL for an undeclared
 * name (a programming error that must not crash a production process) */
static s_series_t *s_series(assay_metrics_t *self, const char *name, const char *labels)
{
    if (!labels) labels = "";
    uint64_t h = s_hash(name, labels);
    if (self->nindex) {
        size_t slot = h & (self->nindex - 1);
        while (self->index[slot]) {
            s_series_t *s = &self->series[self->index[slot] - 1];
            if (s->hash == h && !strcmp(s->labels, labels) &&
                !strcmp(self->families[s->family].name, name))
                return s;
            slot = (slot + 1) & (self->nindex - 1);
        }
    }
    long fam = s_family_find(self, name);
    if (fam < 0) return NULL;
    if (self->nseries == self->capseries) {
        self->capseries = self->capseries ? self->capseries * 2 : 64;
        self->series = assay_realloc(self->series, self->capseries * sizeof *self->series);
    }
    s_series_t *s = &self->series[self->nseries++];
    memset(s, 0, sizeof *s);
    s->family = (size_t)fam;
    s->labels = assay_strdup(labels);
    s->hash = h;
    if (self->families[fam].type == ASSAY_METRIC_HISTOGRAM)
        s->bucket_counts = assay_calloc(self->families[fam].nbuckets, sizeof *s->bucket_counts);
    if (self->nseries * 2 > self->nindex)
        s_reindex(self);
    else {
        size_t slot = h & (self->nindex - 1);
        while (self->index[slot]) slot = (slot + 1) & (self->nindex - 1);
        self->index[slot] = self->nseries;
    }
    return s;
}

void assay_metrics_set(assay_metrics_t *self, const char *name, const char *labels, double v)
{
    pthread_mutex_lock(&self->lock);
    s_series_t *s = s_series(self, name, labels);
    if (s) s->value = v;
    pthread_mutex_unlock(&self->lock);
}

void assay_metrics_add(assay_metrics_t *self, const char *name, const char *labels, double v)
{
    pthread_mutex_lock(&self->lock);
    s_series_t *s = s_series(self, name, labels);
    if (s) s->value += v;
    pthread_mutex_unlock(&self->lock);
}

void assay_metrics_observe(assay_metrics_t *self, const char *name, const char *labels, double v)
{
    pthread_mutex_lock(&self->lock);
    s_series_t *s = s_series(self, name, labels);
    if (s && s->bucket_counts) {
        const s_family_t *f = &self->families[s->family];
        for (size_t i = 0; i < f->nbuckets; i++)
            if (v <= f->buckets[i]) {
                s->bucket_counts[i]++;
                break;
            }
        s->count++;
        s->value += v;
    }
    pthread_mutex_unlock(&self->lock);
}

double assay_metrics_get(assay_metrics_t *self, const char *name, const char *labels)
{
    pthread_mutex_lock(&self->lock);
    s_series_t *s = s_series(self, name, labels);
    double v = s ? (s->bucket_counts ? (double)s->count : s->value) : 0;
    pthread_mutex_unlock(&self->lock);
    return v;
}

char *assay_metrics_labels(char *out, size_t outlen, ...)
{
    va_list ap;
    va_start(ap, outlen);
    size_t o = 0;
    if (outlen) out[0] = '\0';
    const char *k;
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        if (!v) v = "";
        int n = snprintf(out + o, o < outlen ? outlen - o : 0, "%s%s=\"", o ? "," : "", k);
        if (n < 0) break;
        o += (size_t)n;
        for (const char *p = v; *p && o + 3 < outlen; p++) {
            if (*p == '\\' || *p == '"') {
                out[o++] = '\\';
                out[o++] = *p;
            } else if (*p == '\n') {
                out[o++] = '\\';
                out[o++] = 'n';
            } else {
                out[o++] = *p;
            }
        }
        if (o + 1 < outlen) out[o++] = '"';
        if (o < outlen) out[o] = '\0';
    }
    va_end(ap);
    if (outlen) out[outlen - 1 < o ? outlen - 1 : o] = '\0';
    return out;
}

void assay_metrics_collector(assay_metrics_t *self, assay_metrics_collect_fn fn, void *arg)
{
    pthread_mutex_lock(&self->lock);
    if (self->ncollectors < S_MAX_COLLECTORS) {
        self->collectors[self->ncollectors].fn = fn;
        self->collectors[self->ncollectors].arg = arg;
        self->ncollectors++;
    }
    pthread_mutex_unlock(&self->lock);
}

void assay_metrics_set_ready(assay_metrics_t *self, int ready, const char *why)
{
    pthread_mutex_lock(&self->lock);
    self->ready = ready;
    snprintf(self->why, sizeof self->why, "%s", why ? why : "");
    pthread_mutex_unlock(&self->lock);
}

static const char *s_type_name(assay_metric_type_t t)
{
    return t == ASSAY_METRIC_COUNTER ? "counter" : t == ASSAY_METRIC_GAUGE ? "gauge" : "histogram";
}

static void s_value(assay_buf_t *b, double v)
{
    if (v == (double)(long long)v && v < 9e15 && v > -9e15)
        assay_buf_addf(b, "%lld\n", (long long)v);
    else
        assay_buf_addf(b, "%.17g\n", v);
}

char *assay_metrics_render(assay_metrics_t *self)
{
    assay_buf_t b;
    assay_buf_init(&b);
    pthread_mutex_lock(&self->lock);
    for (size_t f = 0; f < self->nfamilies; f++) {
        const s_family_t *fam = &self->families[f];
        assay_buf_addf(&b, "# HELP %s %s\n# TYPE %s %s\n", fam->name, fam->help, fam->name,
                       s_type_name(fam->type));
        for (size_t i = 0; i < self->nseries; i++) {
            const s_series_t *s = &self->series[i];
            if (s->family != f) continue;
            const char *sep = s->labels[0] ? "," : "";
            if (fam->type != ASSAY_METRIC_HISTOGRAM) {
                if (s->labels[0])
                    assay_buf_addf(&b, "%s{%s} ", fam->name, s->labels);
                else
                    assay_buf_addf(&b, "%s ", fam->name);
                s_value(&b, s->value);
                continue;
            }
            uint64_t cum = 0;
            for (size_t k = 0; k < fam->nbuckets; k++) {
                cum += s->bucket_counts[k];
                assay_buf_addf(&b, "%s_bucket{%s%sle=\"%g\"} %llu\n", fam->name, s->labels, sep,
                               fam->buckets[k], (unsigned long long)cum);
            }
            assay_buf_addf(&b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", fam->name, s->labels, sep,
                           (unsigned long long)s->count);
            assay_buf_addf(&b, s->labels[0] ? "%s_sum{%s} " : "%s_sum%s ", fam->name, s->labels);
            s_value(&b, s->value);
            assay_buf_addf(&b, s->labels[0] ? "%s_count{%s} %llu\n" : "%s_count%s %llu\n",
                           fam->name, s->labels, (unsigned long long)s->count);
        }
    }
    size_t nc = self->ncollectors;
    assay_metrics_collect_fn fns[S_MAX_COLLECTORS];
    void *args[S_MAX_COLLECTORS];
    for (size_t i = 0; i < nc; i++) {
        fns[i] = self->collectors[i].fn;
        args[i] = self->collectors[i].arg;
    }
    pthread_mutex_unlock(&self->lock);
    /* collectors may be slow (a database query): never under the lock */
    for (size_t i = 0; i < nc; i++) fns[i](&b, args[i]);
    return assay_buf_detach(&b, NULL);
}

/* ---- HTTP ---- */

static enum MHD_Result s_reply(struct MHD_Connection *conn, unsigned status, const char *ctype,
                               char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", ctype);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result s_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    (void)version;
    (void)upload;
    assay_metrics_t *self = cls;
    /* no request bodies: answer on the first call and ignore any upload */
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    (void)con_cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return s_reply(conn, 405, "text/plain", assay_strdup("only GET is supported\n"));
    if (!strcmp(url, "/metrics"))
        return s_reply(conn, 200, "text/plain; version=0.0.4; charset=utf-8",
                       assay_metrics_render(self));
    if (!strcmp(url, "/healthz")) return s_reply(conn, 200, "text/plain", assay_strdup("ok\n"));
    if (!strcmp(url, "/readyz")) {
        pthread_mutex_lock(&self->lock);
        int ready = self->ready;
        char *body = ready ? assay_strdup("ready\n") : assay_sprintf("not ready: %s\n", self->why);
        pthread_mutex_unlock(&self->lock);
        return s_reply(conn, ready ? 200 : 503, "text/plain", body);
    }
    return s_reply(conn, 404, "text/plain",
                   assay_strdup("not found (try /metrics, /healthz or /readyz)\n"));
}

int assay_metrics_serve(assay_metrics_t *self, const char *addr, char *err, size_t errlen)
{
    const char *colon = addr ? strrchr(addr, ':') : NULL;
    char host[64];
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (!colon || (size_t)(colon - addr) >= sizeof host || !end || *end || port < 1 ||
        port > 65535) {
        snprintf(err, errlen, "metrics address \"%s\": expected HOST:PORT, e.g. 127.0.0.1:9100",
                 addr ? addr : "");
        return ASSAY_EINVAL;
    }
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host[0] ? host : "0.0.0.0", &sa.sin_addr) != 1) {
        snprintf(err, errlen, "metrics address \"%s\": \"%s\" is not an IPv4 address", addr, host);
        return ASSAY_EINVAL;
    }
    /* a scraper gets a few connections and a short timeout: a slow or hostile
     * client cannot pile up threads or memory in the broker */
    self->httpd = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)port, NULL, NULL, s_handler, self,
        MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)65536, MHD_OPTION_END);
    if (!self->httpd) {
        snprintf(err, errlen, "could not serve metrics on \"%s\": %s", addr, strerror(errno));
        return ASSAY_EIO;
    }
    return 0;
}
