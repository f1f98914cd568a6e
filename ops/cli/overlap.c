/*  overlap.c: see overlap.h */
#include "ops/cli/overlap.h"

#include "common/hash.h"
#include "common/util.h"

#include <stdint.h>
#include <stdlib.h>

struct assay_overlap {
    size_t window;
    uint64_t *slots; /* open addressing; 0 = empty */
    size_t cap, size;
    uint64_t pow; /* B^(window-1) */
};

#define S_BASE 1099511628211ULL

assay_overlap_t *assay_overlap_new(size_t window)
{
    assay_overlap_t *self = ASSAY_NEW(assay_overlap_t);
    self->window = window ? window : 64;
    self->cap = 1024;
    self->slots = assay_calloc(self->cap, sizeof *self->slots);
    self->pow = 1;
    for (size_t i = 1; i < self->window; i++) self->pow *= S_BASE;
    return self;
}

void assay_overlap_destroy(assay_overlap_t **self_p)
{
    if (!self_p || !*self_p) return;
    free((*self_p)->slots);
    free(*self_p);
    *self_p = NULL;
}

size_t assay_overlap_size(const assay_overlap_t *self)
{
    return self->size;
}

/* a non-zero hash (zero marks an empty slot) */
static uint64_t s_mix(uint64_t h)
{
    h = assay_mix64(h);
    return h ? h : 1;
}

static void s_insert(assay_overlap_t *self, uint64_t h)
{
    if ((self->size + 1) * 2 > self->cap) {
        uint64_t *old = self->slots;
        size_t oldcap = self->cap;
        self->cap *= 2;
        self->slots = assay_calloc(self->cap, sizeof *self->slots);
        self->size = 0;
        for (size_t i = 0; i < oldcap; i++)
            if (old[i]) s_insert(self, old[i]);
        free(old);
    }
    size_t i = (size_t)h & (self->cap - 1);
    while (self->slots[i]) {
        if (self->slots[i] == h) return;
        i = (i + 1) & (self->cap - 1);
    }
    self->slots[i] = h;
    self->size++;
}

static int s_has(const assay_overlap_t *self, uint64_t h)
{
    size_t i = (size_t)h & (self->cap - 1);
    while (self->slots[i]) {
        if (self->slots[i] == h) return 1;
        i = (i + 1) & (self->cap - 1);
    }
    return 0;
}

/* next code point of s (advancing *p); invalid bytes count as themselves */
static uint32_t s_next(const unsigned char **p)
{
    const unsigned char *s = *p;
    uint32_t c = *s++;
    int n = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
    if (n) {
        c &= 0x3F >> n;
        for (int i = 0; i < n && (*s & 0xC0) == 0x80; i++) c = (c << 6) | (*s++ & 0x3F);
    }
    *p = s;
    return c;
}

static int s_space(uint32_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0x3000 || c == 0xA0;
}

/* walk every window of text; fn returns 1 to stop */
static int s_windows(const assay_overlap_t *self, const char *text,
                     int (*fn)(const assay_overlap_t *self, uint64_t h, void *arg), void *arg)
{
    size_t w = self->window, n = 0;
    uint32_t *ring = assay_malloc(w * sizeof *ring);
    uint64_t h = 0;
    int stop = 0;
    const unsigned char *p = (const unsigned char *)text;
    while (*p && !stop) {
        uint32_t c = s_next(&p);
        if (s_space(c)) continue;
        if (n >= w) h -= (uint64_t)ring[n % w] * self->pow;
        h = h * S_BASE + c;
        ring[n % w] = c;
        n++;
        if (n >= w) stop = fn(self, s_mix(h), arg);
    }
    free(ring);
    return stop;
}

static int s_add_one(const assay_overlap_t *self, uint64_t h, void *arg)
{
    (void)self;
    s_insert(arg, h);
    return 0;
}

void assay_overlap_add(assay_overlap_t *self, const char *text)
{
    s_windows(self, text, s_add_one, self);
}

static int s_hit_one(const assay_overlap_t *self, uint64_t h, void *arg)
{
    (void)arg;
    return s_has(self, h);
}

int assay_overlap_hits(const assay_overlap_t *self, const char *text)
{
    return s_windows(self, text, s_hit_one, NULL);
}
