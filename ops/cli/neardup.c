/*  neardup.c: see neardup.h */
#include "ops/cli/neardup.h"

#include "common/hash.h"
#include "common/util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define S_K 5      /* shingle length in code points */
#define S_HASHES 64
#define S_BANDS 16
#define S_ROWS (S_HASHES / S_BANDS)

typedef struct {
    uint64_t key; /* band number and band hash mixed; 0 = empty */
    long *ids;
    size_t n, cap;
} s_bucket_t;

struct assay_neardup {
    double threshold;
    uint32_t (*sigs)[S_HASHES];
    size_t nsigs, capsigs;
    s_bucket_t *buckets;
    size_t cap, size;
    uint64_t seeds[S_HASHES];
};

assay_neardup_t *assay_neardup_new(double threshold)
{
    assay_neardup_t *self = ASSAY_NEW(assay_neardup_t);
    self->threshold = threshold > 0 && threshold <= 1 ? threshold : 0.8;
    self->cap = 1024;
    self->buckets = assay_calloc(self->cap, sizeof *self->buckets);
    for (int i = 0; i < S_HASHES; i++) self->seeds[i] = assay_mix64(0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1));
    return self;
}

void assay_neardup_destroy(assay_neardup_t **self_p)
{
    if (!self_p || !*self_p) return;
    assay_neardup_t *self = *self_p;
    for (size_t i = 0; i < self->cap; i++) free(self->buckets[i].ids);
    free(self->buckets);
    free(self->sigs);
    free(self);
    *self_p = NULL;
}

/* code points of text without white space */
static uint32_t *s_decode(const char *text, size_t *n)
{
    size_t len = strlen(text), o = 0;
    uint32_t *cp = assay_malloc((len + 1) * sizeof *cp);
    const unsigned char *p = (const unsigned char *)text;
    while (*p) {
        uint32_t c = *p++;
        int k = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
        if (k) {
            c &= 0x3F >> k;
            for (int i = 0; i < k && (*p & 0xC0) == 0x80; i++) c = (c << 6) | (*p++ & 0x3F);
        }
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0x3000) continue;
        cp[o++] = c;
    }
    *n = o;
    return cp;
}

static void s_signature(const assay_neardup_t *self, const char *text, uint32_t sig[S_HASHES])
{
    size_t n;
    uint32_t *cp = s_decode(text, &n);
    for (int i = 0; i < S_HASHES; i++) sig[i] = UINT32_MAX;
    size_t shingles = n >= S_K ? n - S_K + 1 : (n ? 1 : 0);
    for (size_t s = 0; s < shingles; s++) {
        uint64_t h = 1469598103934665603ULL;
        for (size_t j = s; j < s + S_K && j < n; j++) h = (h ^ cp[j]) * 1099511628211ULL;
        for (int i = 0; i < S_HASHES; i++) {
            uint32_t v = (uint32_t)(assay_mix64(h ^ self->seeds[i]) >> 32);
            if (v < sig[i]) sig[i] = v;
        }
    }
    free(cp);
}

static uint64_t s_band_key(const uint32_t sig[S_HASHES], int band)
{
    uint64_t h = (uint64_t)band * 0x100000001B3ULL + 7;
    for (int r = 0; r < S_ROWS; r++) h = assay_mix64(h ^ sig[band * S_ROWS + r]);
    return h ? h : 1;
}

static s_bucket_t *s_bucket(assay_neardup_t *self, uint64_t key, int create)
{
    if (create && (self->size + 1) * 2 > self->cap) {
        s_bucket_t *old = self->buckets;
        size_t oldcap = self->cap;
        self->cap *= 2;
        self->buckets = assay_calloc(self->cap, sizeof *self->buckets);
        for (size_t i = 0; i < oldcap; i++) {
            if (!old[i].key) continue;
            size_t j = (size_t)old[i].key & (self->cap - 1);
            while (self->buckets[j].key) j = (j + 1) & (self->cap - 1);
            self->buckets[j] = old[i];
        }
        free(old);
    }
    size_t i = (size_t)key & (self->cap - 1);
    while (self->buckets[i].key) {
        if (self->buckets[i].key == key) return &self->buckets[i];
        i = (i + 1) & (self->cap - 1);
    }
    if (!create) return NULL;
    self->buckets[i].key = key;
    self->size++;
    return &self->buckets[i];
}

long assay_neardup_check_add(assay_neardup_t *self, const char *text, double *sim)
{
    uint32_t sig[S_HASHES];
    s_signature(self, text, sig);
    long best = -1;
    double best_sim = 0;
    for (int b = 0; b < S_BANDS; b++) {
        s_bucket_t *bk = s_bucket(self, s_band_key(sig, b), 0);
        if (!bk) continue;
        for (size_t k = 0; k < bk->n; k++) {
            const uint32_t *other = self->sigs[bk->ids[k]];
            int same = 0;
            for (int i = 0; i < S_HASHES; i++) same += other[i] == sig[i];
            double s = (double)same / S_HASHES;
            if (s > best_sim || (s == best_sim && bk->ids[k] < best)) {
                best_sim = s;
                best = bk->ids[k];
            }
        }
    }
    if (best >= 0 && best_sim >= self->threshold) {
        if (sim) *sim = best_sim;
        return best;
    }
    if (self->nsigs == self->capsigs) {
        self->capsigs = self->capsigs ? self->capsigs * 2 : 256;
        self->sigs = assay_realloc(self->sigs, self->capsigs * sizeof *self->sigs);
    }
    long id = (long)self->nsigs++;
    memcpy(self->sigs[id], sig, sizeof sig);
    for (int b = 0; b < S_BANDS; b++) {
        s_bucket_t *bk = s_bucket(self, s_band_key(sig, b), 1);
        if (bk->n == bk->cap) {
            bk->cap = bk->cap ? bk->cap * 2 : 2;
            bk->ids = assay_realloc(bk->ids, bk->cap * sizeof *bk->ids);
        }
        bk->ids[bk->n++] = id;
    }
    return -1;
}
