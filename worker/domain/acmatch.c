/*  acmatch.c: see acmatch.h. */
#include "worker/domain/acmatch.h"

#include "common/util.h"

#include <stdlib.h>
#include <string.h>

#define S_NONE UINT32_MAX

/* builder: a byte trie with a hash map (node, byte) → child */
struct assay_acmatch_builder {
    uint32_t *parent;
    uint8_t *byte;
    uint32_t *term; /* pattern ending at the node, or S_NONE */
    size_t n_nodes, cap_nodes;
    uint32_t *plen; /* pattern id → length */
    size_t n_patterns, cap_patterns;
    uint32_t *slots; /* child node ids keyed by (parent, byte) */
    size_t cap_slots;
};

struct assay_acmatch {
    uint32_t n_nodes;
    uint32_t *edge_start; /* n_nodes + 1: edges of node i are [edge_start[i], edge_start[i+1]) */
    uint8_t *edge_byte;
    uint32_t *edge_child;
    uint32_t *fail;
    uint32_t *dict; /* the nearest node on the failure chain that ends a pattern */
    uint32_t *term;
    uint32_t root_next[256]; /* direct transitions from the root (S_NONE: stay at root) */
    uint32_t *plen;
    size_t n_patterns;
};

static size_t s_slot_hash(uint32_t parent, uint8_t byte, size_t cap)
{
    uint64_t k = ((uint64_t)parent << 8 | byte) * 0x9E3779B97F4A7C15ULL;
    return (size_t)(k >> 17) & (cap - 1);
}

static uint32_t s_new_node(assay_acmatch_builder_t *b, uint32_t parent, uint8_t byte)
{
    if (b->n_nodes == b->cap_nodes) {
        b->cap_nodes = b->cap_nodes ? b->cap_nodes * 2 : 1024;
        b->parent = assay_realloc(b->parent, b->cap_nodes * sizeof *b->parent);
        b->byte = assay_realloc(b->byte, b->cap_nodes * sizeof *b->byte);
        b->term = assay_realloc(b->term, b->cap_nodes * sizeof *b->term);
    }
    uint32_t id = (uint32_t)b->n_nodes++;
    b->parent[id] = parent;
    b->byte[id] = byte;
    b->term[id] = S_NONE;
    return id;
}

static void s_rehash(assay_acmatch_builder_t *b)
{
    size_t ncap = b->cap_slots * 2;
    uint32_t *ns = assay_malloc(ncap * sizeof *ns);
    memset(ns, 0xFF, ncap * sizeof *ns);
    for (size_t i = 0; i < b->cap_slots; i++) {
        uint32_t c = b->slots[i];
        if (c == S_NONE) continue;
        size_t h = s_slot_hash(b->parent[c], b->byte[c], ncap);
        while (ns[h] != S_NONE)
            h = (h + 1) & (ncap - 1);
        ns[h] = c;
    }
    free(b->slots);
    b->slots = ns;
    b->cap_slots = ncap;
}

assay_acmatch_builder_t *assay_acmatch_builder_new(void)
{
    assay_acmatch_builder_t *b = ASSAY_NEW(assay_acmatch_builder_t);
    b->cap_slots = 1 << 12;
    b->slots = assay_malloc(b->cap_slots * sizeof *b->slots);
    memset(b->slots, 0xFF, b->cap_slots * sizeof *b->slots);
    s_new_node(b, S_NONE, 0); /* the root */
    return b;
}

void assay_acmatch_builder_destroy(assay_acmatch_builder_t **self_p)
{
    if (!self_p || !*self_p) return;
    assay_acmatch_builder_t *b = *self_p;
    free(b->parent);
    free(b->byte);
    free(b->term);
    free(b->plen);
    free(b->slots);
    free(b);
    *self_p = NULL;
}

int64_t assay_acmatch_builder_add(assay_acmatch_builder_t *self, const char *pattern, size_t len)
{
    if (!self || !pattern || len == 0 || len > UINT32_MAX) return -1;
    uint32_t node = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)pattern[i];
        if ((self->n_nodes + 1) * 2 > self->cap_slots) s_rehash(self);
        size_t h = s_slot_hash(node, c, self->cap_slots);
        uint32_t child = S_NONE;
        while (self->slots[h] != S_NONE) {
            uint32_t s = self->slots[h];
            if (self->parent[s] == node && self->byte[s] == c) {
                child = s;
                break;
            }
            h = (h + 1) & (self->cap_slots - 1);
        }
        if (child == S_NONE) {
            child = s_new_node(self, node, c);
            self->slots[h] = child;
        }
        node = child;
    }
    if (self->term[node] != S_NONE) return self->term[node];
    if (self->n_patterns == self->cap_patterns) {
        self->cap_patterns = self->cap_patterns ? self->cap_patterns * 2 : 1024;
        self->plen = assay_realloc(self->plen, self->cap_patterns * sizeof *self->plen);
    }
    uint32_t id = (uint32_t)self->n_patterns++;
    self->plen[id] = (uint32_t)len;
    self->term[node] = id;
    return id;
}

/* the child of node on byte c, or S_NONE */
static uint32_t s_goto(const assay_acmatch_t *m, uint32_t node, uint8_t c)
{
    if (node == 0) return m->root_next[c];
    uint32_t lo = m->edge_start[node], hi = m->edge_start[node + 1];
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint8_t b = m->edge_byte[mid];
        if (b == c) return m->edge_child[mid];
        if (b < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return S_NONE;
}

assay_acmatch_t *assay_acmatch_builder_finish(assay_acmatch_builder_t **self_p)
{
    if (!self_p || !*self_p) return NULL;
    assay_acmatch_builder_t *b = *self_p;
    assay_acmatch_t *m = ASSAY_NEW(assay_acmatch_t);
    size_t n = b->n_nodes;
    m->n_nodes = (uint32_t)n;
    m->edge_start = assay_calloc(n + 1, sizeof(uint32_t));
    m->edge_byte = assay_malloc(n * sizeof(uint8_t));
    m->edge_child = assay_malloc(n * sizeof(uint32_t));
    m->fail = assay_calloc(n, sizeof(uint32_t));
    m->dict = assay_malloc(n * sizeof(uint32_t));
    m->term = b->term;
    b->term = NULL;
    m->plen = b->plen;
    b->plen = NULL;
    m->n_patterns = b->n_patterns;

    /* edges in CSR form, sorted by byte within a node */
    for (size_t i = 1; i < n; i++)
        m->edge_start[b->parent[i] + 1]++;
    for (size_t i = 0; i < n; i++)
        m->edge_start[i + 1] += m->edge_start[i];
    uint32_t *fill = assay_calloc(n, sizeof(uint32_t));
    for (size_t i = 1; i < n; i++) {
        uint32_t p = b->parent[i];
        uint32_t at = m->edge_start[p] + fill[p]++;
        /* insertion keeps the node's range sorted by byte */
        uint32_t j = at;
        while (j > m->edge_start[p] && m->edge_byte[j - 1] > b->byte[i]) {
            m->edge_byte[j] = m->edge_byte[j - 1];
            m->edge_child[j] = m->edge_child[j - 1];
            j--;
        }
        m->edge_byte[j] = b->byte[i];
        m->edge_child[j] = (uint32_t)i;
    }
    free(fill);
    for (int c = 0; c < 256; c++)
        m->root_next[c] = S_NONE;
    for (uint32_t e = m->edge_start[0]; e < m->edge_start[1]; e++)
        m->root_next[m->edge_byte[e]] = m->edge_child[e];

    /* failure and dictionary links, breadth first */
    uint32_t *queue = assay_malloc(n * sizeof(uint32_t));
    size_t qh = 0, qt = 0;
    m->dict[0] = S_NONE;
    for (uint32_t e = m->edge_start[0]; e < m->edge_start[1]; e++) {
        uint32_t v = m->edge_child[e];
        m->fail[v] = 0;
        m->dict[v] = S_NONE;
        queue[qt++] = v;
    }
    while (qh < qt) {
        uint32_t u = queue[qh++];
        for (uint32_t e = m->edge_start[u]; e < m->edge_start[u + 1]; e++) {
            uint32_t v = m->edge_child[e];
            uint8_t c = m->edge_byte[e];
            uint32_t f = m->fail[u];
            uint32_t g;
            while ((g = s_goto(m, f, c)) == S_NONE && f != 0)
                f = m->fail[f];
            m->fail[v] = (g == S_NONE || g == v) ? 0 : g;
            uint32_t fv = m->fail[v];
            m->dict[v] = (fv != 0 && m->term[fv] != S_NONE) ? fv : m->dict[fv];
            queue[qt++] = v;
        }
    }
    free(queue);
    assay_acmatch_builder_destroy(self_p);
    return m;
}

void assay_acmatch_destroy(assay_acmatch_t **self_p)
{
    if (!self_p || !*self_p) return;
    assay_acmatch_t *m = *self_p;
    free(m->edge_start);
    free(m->edge_byte);
    free(m->edge_child);
    free(m->fail);
    free(m->dict);
    free(m->term);
    free(m->plen);
    free(m);
    *self_p = NULL;
}

size_t assay_acmatch_pattern_count(const assay_acmatch_t *self)
{
    return self->n_patterns;
}

size_t assay_acmatch_pattern_len(const assay_acmatch_t *self, uint32_t pattern)
{
    return pattern < self->n_patterns ? self->plen[pattern] : 0;
}

size_t assay_acmatch_memory(const assay_acmatch_t *self)
{
    return sizeof *self + (size_t)self->n_nodes * (4 + 1 + 4 + 4 + 4 + 4) + 4 +
           self->n_patterns * 4;
}

static int s_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int s_boundary_ok(const char *text, size_t len, size_t start, size_t end)
{
    const unsigned char *t = (const unsigned char *)text;
    if (s_alnum(t[start]) && start > 0 && s_alnum(t[start - 1])) return 0;
    if (s_alnum(t[end - 1]) && end < len && s_alnum(t[end])) return 0;
    return 1;
}

size_t assay_acmatch_scan(const assay_acmatch_t *self, const char *text, size_t len, int flags,
                          int (*fn)(void *arg, const assay_acmatch_hit_t *hit), void *arg)
{
    size_t calls = 0;
    uint32_t state = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)text[i];
        uint32_t g;
        while ((g = s_goto(self, state, c)) == S_NONE && state != 0)
            state = self->fail[state];
        state = g == S_NONE ? 0 : g;
        uint32_t node = self->term[state] != S_NONE ? state : self->dict[state];
        while (node != S_NONE && node != 0) {
            uint32_t p = self->term[node];
            assay_acmatch_hit_t hit = {i + 1 - self->plen[p], i + 1, p};
            if (!(flags & ASSAY_AC_ASCII_WORDS) || s_boundary_ok(text, len, hit.start, hit.end)) {
                calls++;
                if (fn(arg, &hit)) return calls;
            }
            node = self->dict[node];
        }
    }
    return calls;
}

typedef struct {
    uint32_t *best_len; /* per start byte: longest pattern starting there */
    uint32_t *best_pat;
} s_longest_t;

static int s_keep_longest(void *arg, const assay_acmatch_hit_t *hit)
{
    s_longest_t *l = arg;
    uint32_t len = (uint32_t)(hit->end - hit->start);
    if (len > l->best_len[hit->start]) {
        l->best_len[hit->start] = len;
        l->best_pat[hit->start] = hit->pattern;
    }
    return 0;
}

size_t assay_acmatch_longest(const assay_acmatch_t *self, const char *text, size_t len, int flags,
                             assay_acmatch_hit_t *out, size_t max)
{
    if (len == 0) return 0;
    s_longest_t l;
    l.best_len = assay_calloc(len, sizeof(uint32_t));
    l.best_pat = assay_malloc(len * sizeof(uint32_t));
    assay_acmatch_scan(self, text, len, flags, s_keep_longest, &l);
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        if (l.best_len[i]) {
            if (n < max) {
                out[n].start = i;
                out[n].end = i + l.best_len[i];
                out[n].pattern = l.best_pat[i];
            }
            n++;
            i += l.best_len[i];
        } else {
            i++;
        }
    }
    free(l.best_len);
    free(l.best_pat);
    return n;
}
