/*  normalize.c: see normalize.h.
 *
 *  How linking decides.  For one text, candidate standard names come from five
 *  sources, each giving features:
 *    - dictionary: names and aliases found in the text (Aho-Corasick; for every
 *      start position the longest name that starts there), with whether the match is
 *      part of the leftmost-longest cover, how much of its segment it covers, and,
 *      for an alias shared by several names, which of them it resembles most;
 *    - fuzzy: for each segment and the whole text, the standard names with the best
 *      character-bigram Dice similarity (bigram inverted index for candidates);
 *    - known mentions: the 10 nearest known mentions of the whole text and of each
 *      segment (TF-IDF cosine over character unigrams and bigrams) vote for their
 *      standard names;
 *    - n-gram evidence: P(name | the text contains character n-gram g), learned from
 *      the known mentions for n = 1..4;
 *    - atoms: a name "site + head" (肩部 + 损伤, 乳腺 + 恶性肿瘤) whose site occurs in
 *      the text while the text's n-grams are evidence for the head (a head is a
 *      suffix shared by at least five names of known mentions).
 *  Stage one, a small boosted-tree ensemble over these features, scores each
 *  candidate; stage two, a logistic regression, rescores it against the other
 *  candidates of the same text (its rank, the gap to the best), which is what
 *  decides how many names a text gets. Both are trained when the normaliser is
 *  prepared, on the known mentions themselves, leave-one-out: each mention's
 *  features are computed as if it were unknown. Names at or above
 *  opts.min_confidence are returned. Nothing here is specific to one example: the
 *  learned state is the statistics of the known mentions and the two models.
 */
#include "worker/domain/normalize.h"

#include "common/error.h"
#include "common/hash.h"
#include "common/util.h"
#include "worker/domain/acmatch.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_NONE UINT32_MAX
#define S_MAXGRAM 4 /* n-gram evidence: 1..4 characters */
#define S_MAXHEADGRAM 3
#define S_HEADLEN 5 /* heads: suffixes of 1..5 characters */
#define S_HEADMIN 5 /* a head is shared by at least this many names of known mentions */
#define S_MINSITE 1 /* shortest site of a site + head decomposition */
#define S_KNN 10
#define S_FUZZY_POOL 50
#define S_FUZZY_TOP 3
#define S_MAXSITE 24
#define S_MIN_EXAMPLES 20 /* fewer known mentions: fixed weights instead of a model */

/* qsort that accepts an empty (NULL) array */
static void s_sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    if (n > 1) qsort(base, n, size, cmp);
}

/* ------------------------------------------------------------ small maps */

/* open addressing u64 → u32 (key 0 is reserved for "empty": keys are hashes |1) */
typedef struct {
    uint64_t *keys;
    uint32_t *vals;
    size_t cap, n;
} s_map_t;

static void s_map_init(s_map_t *m, size_t hint)
{
    m->cap = 64;
    while (m->cap < hint * 2)
        m->cap <<= 1;
    m->keys = assay_calloc(m->cap, sizeof *m->keys);
    m->vals = assay_malloc(m->cap * sizeof *m->vals);
    m->n = 0;
}

static void s_map_release(s_map_t *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

static size_t s_map_slot(const s_map_t *m, uint64_t key)
{
    size_t h = (size_t)(key * 0x9E3779B97F4A7C15ULL >> 20) & (m->cap - 1);
    while (m->keys[h] && m->keys[h] != key)
        h = (h + 1) & (m->cap - 1);
    return h;
}

static uint32_t s_map_get(const s_map_t *m, uint64_t key)
{
    if (!m->keys) return S_NONE;
    size_t h = s_map_slot(m, key);
    return m->keys[h] ? m->vals[h] : S_NONE;
}

/* the value slot for key, inserted with init when absent */
static uint32_t *s_map_put(s_map_t *m, uint64_t key, uint32_t init)
{
    if ((m->n + 1) * 2 > m->cap) {
        s_map_t bigger;
        s_map_init(&bigger, m->cap);
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->keys[i]) continue;
            size_t h = s_map_slot(&bigger, m->keys[i]);
            bigger.keys[h] = m->keys[i];
            bigger.vals[h] = m->vals[i];
            bigger.n++;
        }
        s_map_release(m);
        *m = bigger;
    }
    size_t h = s_map_slot(m, key);
    if (!m->keys[h]) {
        m->keys[h] = key;
        m->vals[h] = init;
        m->n++;
    }
    return &m->vals[h];
}

/* a non-zero hash (zero marks an empty slot) */
static uint64_t s_mix(uint64_t h)
{
    return assay_mix64(h) | 1;
}

static uint64_t s_gram(const uint32_t *cp, size_t n)
{
    uint64_t h = 1469598103934665603ULL ^ n;
    for (size_t i = 0; i < n; i++) {
        h ^= cp[i];
        h *= 1099511628211ULL;
    }
    return s_mix(h);
}

static uint64_t s_pair(uint64_t a, uint32_t b)
{
    return s_mix(a * 31 + b + 0x632BE59BD9B4E019ULL);
}

/* a list of (id, count) per key, in CSR form */
typedef struct {
    s_map_t index; /* key → row */
    uint32_t *start;
    uint32_t *id;
    uint32_t *count;
    size_t rows, items;
} s_csr_t;

typedef struct {
    uint64_t key;
    uint32_t id, count;
} s_triple_t;

static int s_triple_cmp(const void *a, const void *b)
{
    const s_triple_t *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return 0;
}

/* build from triples (sorted here) */
static void s_csr_build(s_csr_t *c, s_triple_t *t, size_t n)
{
    s_sort(t, n, sizeof *t, s_triple_cmp);
    size_t rows = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || t[i].key != t[i - 1].key) rows++;
    s_map_init(&c->index, rows + 1);
    c->start = assay_malloc((rows + 1) * sizeof(uint32_t));
    c->id = assay_malloc((n + 1) * sizeof(uint32_t));
    c->count = assay_malloc((n + 1) * sizeof(uint32_t));
    size_t r = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || t[i].key != t[i - 1].key) {
            *s_map_put(&c->index, t[i].key, (uint32_t)r) = (uint32_t)r;
            c->start[r++] = (uint32_t)i;
        }
        c->id[i] = t[i].id;
        c->count[i] = t[i].count;
    }
    c->start[rows] = (uint32_t)n;
    c->rows = rows;
    c->items = n;
}

static void s_csr_release(s_csr_t *c)
{
    s_map_release(&c->index);
    free(c->start);
    free(c->id);
    free(c->count);
    memset(c, 0, sizeof *c);
}

/* the row for key: [*b, *e) of id/count, or an empty range */
static void s_csr_row(const s_csr_t *c, uint64_t key, size_t *b, size_t *e)
{
    uint32_t r = s_map_get(&c->index, key);
    if (r == S_NONE) {
        *b = *e = 0;
        return;
    }
    *b = c->start[r];
    *e = c->start[r + 1];
}

/* a growable u32 / triple vector */
typedef struct {
    s_triple_t *v;
    size_t n, cap;
} s_tvec_t;

static void s_tvec_push(s_tvec_t *t, uint64_t key, uint32_t id, uint32_t count)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 1024;
        t->v = assay_realloc(t->v, t->cap * sizeof *t->v);
    }
    t->v[t->n].key = key;
    t->v[t->n].id = id;
    t->v[t->n].count = count;
    t->n++;
}

/* ------------------------------------------------------------------ text */

/* a text as folded code points with the byte span of each in the original */
typedef struct {
    uint32_t *cp;
    uint32_t *bstart, *bend;
    size_t n;
} s_text_t;

static uint32_t s_decode(const unsigned char *s, size_t len, size_t *adv)
{
    unsigned c = s[0];
    if (c < 0x80 || len < 2) {
        *adv = 1;
        return c;
    }
    if ((c & 0xE0) == 0xC0) {
        *adv = 2;
        return ((c & 0x1Fu) << 6) | (s[1] & 0x3Fu);
    }
    if ((c & 0xF0) == 0xE0 && len >= 3) {
        *adv = 3;
        return ((c & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
    }
    if (len >= 4) {
        *adv = 4;
        return ((c & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) |
               (s[3] & 0x3Fu);
    }
    *adv = 1;
    return c;
}

/* fold text with the terminology's key rules, one original character at a time so
 * spans map back (the text must be valid UTF-8) */
static void s_text_init(s_text_t *t, const char *text, size_t len)
{
    t->cp = assay_malloc((len + 1) * sizeof(uint32_t));
    t->bstart = assay_malloc((len + 1) * sizeof(uint32_t));
    t->bend = assay_malloc((len + 1) * sizeof(uint32_t));
    t->n = 0;
    size_t i = 0;
    while (i < len) {
        size_t adv;
        s_decode((const unsigned char *)text + i, len - i, &adv);
        char one[8], folded[16];
        memcpy(one, text + i, adv);
        one[adv] = '\0';
        size_t fl = assay_terms_normkey(one, folded, sizeof folded);
        for (size_t j = 0; j < fl && j < sizeof folded - 1;) {
            size_t a2;
            uint32_t c = s_decode((const unsigned char *)folded + j, fl - j, &a2);
            t->cp[t->n] = c;
            t->bstart[t->n] = (uint32_t)i;
            t->bend[t->n] = (uint32_t)(i + adv);
            t->n++;
            j += a2;
        }
        i += adv;
    }
}

static void s_text_from_key(s_text_t *t, const char *key)
{
    s_text_init(t, key, strlen(key));
}

static void s_text_release(s_text_t *t)
{
    free(t->cp);
    free(t->bstart);
    free(t->bend);
    memset(t, 0, sizeof *t);
}

/* UTF-8 of cp[0..n) into buf (NUL-terminated); byte_cp maps each byte to its code point */
static char *s_utf8(const uint32_t *cp, size_t n, uint32_t **byte_cp, size_t *blen)
{
    char *out = assay_malloc(n * 4 + 1);
    uint32_t *map = byte_cp ? assay_malloc((n * 4 + 1) * sizeof(uint32_t)) : NULL;
    size_t p = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = cp[i];
        size_t k;
        if (c < 0x80) {
            out[p] = (char)c;
            k = 1;
        } else if (c < 0x800) {
            out[p] = (char)(0xC0 | (c >> 6));
            out[p + 1] = (char)(0x80 | (c & 0x3F));
            k = 2;
        } else if (c < 0x10000) {
            out[p] = (char)(0xE0 | (c >> 12));
            out[p + 1] = (char)(0x80 | ((c >> 6) & 0x3F));
            out[p + 2] = (char)(0x80 | (c & 0x3F));
            k = 3;
        } else {
            out[p] = (char)(0xF0 | (c >> 18));
            out[p + 1] = (char)(0x80 | ((c >> 12) & 0x3F));
            out[p + 2] = (char)(0x80 | ((c >> 6) & 0x3F));
            out[p + 3] = (char)(0x80 | (c & 0x3F));
            k = 4;
        }
        if (map)
            for (size_t j = 0; j < k; j++)
                map[p + j] = (uint32_t)i;
        p += k;
    }
    out[p] = '\0';
    if (map) map[p] = (uint32_t)n;
    if (byte_cp) *byte_cp = map;
    if (blen) *blen = p;
    return out;
}

static int s_cp_find(const uint32_t *hay, size_t hn, const uint32_t *needle, size_t nn)
{
    if (nn == 0 || nn > hn) return -1;
    for (size_t i = 0; i + nn <= hn; i++)
        if (memcmp(hay + i, needle, nn * sizeof(uint32_t)) == 0) return (int)i;
    return -1;
}

/* ------------------------------------------------------------- splitting */

static int s_is_space_or_sep(uint32_t c)
{
    switch (c) {
    case ',':
    case ';':
    case 0x3001: /* 、 */
    case 0x3002: /* 。 */
    case ' ':
    case '\t':
    case '\n':
    case '\r':
    case '/':
    case '+':
    case '"':
    case 0xFF1B:
    case 0xFF0C:
    case ':':
    case 0x201C:
    case 0x201D:
        return 1;
    default:
        return 0;
    }
}

/* length in code points of a separator word at i (伴有 伴 合并 并发 并 及), or 0 */
static size_t s_sep_word(const uint32_t *cp, size_t n, size_t i)
{
    static const uint32_t w[][3] = {
        {0x4F34, 0x6709, 0}, /* 伴有 */
        {0x5408, 0x5E76, 0}, /* 合并 */
        {0x5E76, 0x53D1, 0}, /* 并发 */
        {0x4F34, 0, 0},      /* 伴 */
        {0x5E76, 0, 0},      /* 并 */
        {0x53CA, 0, 0},      /* 及 */
    };
    for (size_t k = 0; k < ASSAY_ARRAY_LEN(w); k++) {
        size_t len = w[k][1] ? 2 : 1;
        if (i + len <= n && cp[i] == w[k][0] && (len == 1 || cp[i + 1] == w[k][1])) return len;
    }
    return 0;
}

/* numbering "12." "3、" at i: its length, or 0 */
static size_t s_numbering(const uint32_t *cp, size_t n, size_t i)
{
    size_t j = i;
    while (j < n && cp[j] >= '0' && cp[j] <= '9')
        j++;
    if (j == i || j >= n) return 0;
    if (cp[j] == '.' || cp[j] == 0x3001) {
        /* "2.5cm" is a number, not numbering */
        if (cp[j] == '.' && j + 1 < n && cp[j + 1] >= '0' && cp[j + 1] <= '9') return 0;
        return j + 1 - i;
    }
    return 0;
}

/* segments as code point ranges */
static size_t s_split_cp(const uint32_t *cp, size_t n, assay_span_t *out, size_t max)
{
    size_t count = 0, start = 0, i = 0;
    while (i <= n) {
        size_t cut = 0;
        if (i < n) {
            if (s_is_space_or_sep(cp[i]))
                cut = 1;
            else if ((cut = s_sep_word(cp, n, i)) == 0)
                cut = s_numbering(cp, n, i);
        }
        if (i == n || cut) {
            size_t b = start, e = i;
            while (b < e && (cp[b] == '(' || cp[b] == ')' || cp[b] == '.' || cp[b] == '-'))
                b++;
            while (e > b && (cp[e - 1] == '(' || cp[e - 1] == '.' || cp[e - 1] == '-'))
                e--;
            if (e > b) {
                if (count < max) {
                    out[count].start = b;
                    out[count].end = e;
                }
                count++;
            }
            if (i == n) break;
            i += cut;
            start = i;
        } else {
            i++;
        }
    }
    return count;
}

size_t assay_normalize_split(const char *text, size_t len, assay_span_t *out, size_t max)
{
    if (!text || len == 0 || !assay_utf8_valid(text, len)) return 0;
    s_text_t t;
    s_text_init(&t, text, len);
    size_t cap = t.n + 1;
    assay_span_t *cps = assay_malloc(cap * sizeof *cps);
    size_t n = s_split_cp(t.cp, t.n, cps, cap);
    for (size_t i = 0; i < n && i < max; i++) {
        out[i].start = t.bstart[cps[i].start];
        out[i].end = t.bend[cps[i].end - 1];
    }
    free(cps);
    s_text_release(&t);
    return n;
}

/* ------------------------------------------------------------ normaliser */

typedef struct {
    assay_term_id_t concept;
    const char *name; /* standard name (terminology-owned) */
    uint32_t *cp;     /* its folded key */
    uint32_t n;
    uint32_t freq;             /* known mentions naming it */
    uint32_t nbig;             /* distinct character bigrams */
    uint32_t cat;              /* its ICD category (or itself outside the hierarchy) */
    uint32_t heads[S_HEADLEN]; /* the heads it ends with (site of at least S_MINSITE) */
    uint32_t n_heads;
} s_label_t;

typedef struct {
    uint32_t *cp;
    uint32_t n;
    uint32_t *labels;
    uint32_t n_labels;
} s_example_t;

enum {
    F_SITEHEAD,
    F_SITELEN,
    F_NGEV,
    F_SUF1,
    F_SUF2,
    F_VOTE,
    F_MAXSIM,
    F_TOP1,
    F_DICT,
    F_DICTCOV,
    F_FUZZY,
    F_SUBSTR,
    F_COV,
    F_LOGFREQ,
    F_UNSEEN,
    F_NSEG,
    F_VOTE_SIM,
    F_FUZZY2,
    F_DICT_FUZZY,
    F_COVERED,
    F_SEGVOTE,
    F_SEGSIM,
    F_SEGCOV,
    F_AMBIG,
    F_PREF,
    F_BIAS,
    F_COUNT
};

/* second-stage features: a candidate's first-stage score seen against the other
 * candidates of the same text (how many names a text gets is decided here) */
enum {
    G_P1,
    G_LOGIT,
    G_TOP,
    G_INVRANK,
    G_RATIO,
    G_GAP,
    G_N50,
    G_N20,
    G_VOTE,
    G_DICT,
    G_FUZZY,
    G_NGEV,
    G_SUBSTR,
    G_SITEHEAD,
    G_MAXSIM,
    G_SIBBETTER,
    G_SIBS,
    G_BIAS,
    G_COUNT
};

struct assay_normalizer {
    const assay_terms_t *terms;
    assay_normalize_opts_t opts;
    /* labels: distinct standard names of the system */
    s_label_t *labels;
    size_t n_labels;
    s_map_t label_by_key; /* hash of folded name → label */
    /* the dictionary: names and aliases → labels */
    assay_acmatch_t *ac;
    uint32_t *pat_start, *pat_label; /* pattern → labels (CSR) */
    uint8_t *pat_is_name;            /* the pattern is a label's own name */
    /* fuzzy: bigram → labels */
    s_csr_t label_bigrams;
    /* known mentions */
    s_example_t *ex;
    size_t n_ex, cap_ex;
    s_map_t ex_by_key;
    int prepared;
    /* kNN over mentions: term → (example, weight) */
    s_map_t term_idf_ix;
    float *term_idf;
    uint32_t *post_start, *post_ex;
    float *post_w;
    size_t n_terms;
    /* n-gram → (label, count), gram → mentions containing it; gram → (head, count) */
    s_csr_t gram_labels, gram_heads;
    s_map_t gram_count;
    /* heads and sites */
    s_map_t head_ix; /* hash of head code points → head id */
    size_t n_heads;
    uint8_t *head_len;   /* code points of each head */
    s_csr_t site_labels; /* hash of site code points → labels */
    /* the model */
    double w[F_COUNT];
    double w2[G_COUNT]; /* second stage: the candidate against the others of its text */
    /* stage one: boosted trees when there are enough known mentions, else w */
    struct s_tree *trees;
    size_t n_trees;
    double tree_base;
};

static uint32_t s_label_find(const assay_normalizer_t *nz, const uint32_t *cp, size_t n)
{
    uint64_t h = s_gram(cp, n);
    uint32_t l = s_map_get(&nz->label_by_key, h);
    if (l == S_NONE) return S_NONE;
    if (nz->labels[l].n != n || memcmp(nz->labels[l].cp, cp, n * sizeof(uint32_t)) != 0)
        return S_NONE;
    return l;
}

void assay_normalize_opts_default(assay_normalize_opts_t *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->system = ASSAY_SYS_CLIN20;
    opts->fuzzy = 1;
    opts->atoms = 1;
    opts->use_terms_mentions = 1;
    opts->min_confidence = 0.3;
    opts->max_entities = 0;
}

void assay_entities_init(assay_entities_t *e)
{
    memset(e, 0, sizeof *e);
}

void assay_entities_release(assay_entities_t *e)
{
    free(e->items);
    memset(e, 0, sizeof *e);
}

static void s_entities_push(assay_entities_t *e, const assay_entity_t *x)
{
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 16;
        e->items = assay_realloc(e->items, e->cap * sizeof *e->items);
    }
    e->items[e->n++] = *x;
}

const char *assay_match_kind_name(assay_match_kind_t kind)
{
    switch (kind) {
    case ASSAY_MATCH_CODE:
        return "code";
    case ASSAY_MATCH_EXACT:
        return "exact";
    case ASSAY_MATCH_ALIAS:
        return "alias";
    case ASSAY_MATCH_FUZZY:
        return "fuzzy";
    case ASSAY_MATCH_ATOM:
        return "atom";
    default:
        return "unknown";
    }
}

size_t assay_normalizer_known_mentions(const assay_normalizer_t *self)
{
    return self ? self->n_ex : 0;
}

int assay_normalizer_learned(const assay_normalizer_t *self)
{
    return self && self->n_ex >= S_MIN_EXAMPLES;
}

/* concepts that can be linked to in the system: its own codes and the shared
 * categories and subcategories (chapters and blocks are groupings, not diagnoses) */
static int s_eligible(const assay_terms_t *t, assay_term_id_t id, assay_code_system_t sys)
{
    assay_concept_t c;
    if (assay_terms_concept(t, id, &c) < 0 || !*c.name) return 0;
    if (c.system == ASSAY_SYS_ICD10) return c.level >= ASSAY_LEVEL_CATEGORY;
    return c.system == sys;
}

static uint32_t s_label_for_concept(assay_normalizer_t *nz, assay_term_id_t id)
{
    s_text_t t;
    s_text_from_key(&t, assay_terms_name(nz->terms, id));
    uint32_t l = s_label_find(nz, t.cp, t.n);
    s_text_release(&t);
    return l;
}

static void s_label_categories(assay_normalizer_t *nz)
{
    for (size_t l = 0; l < nz->n_labels; l++) {
        assay_term_id_t c = nz->labels[l].concept, cat = c;
        for (int guard = 0; c != ASSAY_TERM_NONE && guard < 16; guard++) {
            cat = c;
            if (assay_terms_level(nz->terms, c) <= ASSAY_LEVEL_CATEGORY) break;
            c = assay_terms_parent(nz->terms, c);
        }
        nz->labels[l].cat = cat;
    }
}

static void s_build_labels(assay_normalizer_t *nz)
{
    const assay_terms_t *t = nz->terms;
    size_t nc = assay_terms_concept_count(t);
    size_t cap = 1024;
    nz->labels = assay_malloc(cap * sizeof *nz->labels);
    s_map_init(&nz->label_by_key, nc / 2 + 16);
    for (size_t i = 0; i < nc; i++) {
        assay_term_id_t id = (assay_term_id_t)i;
        if (!s_eligible(t, id, nz->opts.system)) continue;
        s_text_t k;
        s_text_from_key(&k, assay_terms_name(t, id));
        if (k.n == 0) {
            s_text_release(&k);
            continue;
        }
        uint32_t l = s_label_find(nz, k.cp, k.n);
        if (l != S_NONE) {
            /* the same name twice: keep the deeper concept, the system's own on a tie */
            s_label_t *x = &nz->labels[l];
            int dn = assay_terms_depth(t, id), dx = assay_terms_depth(t, x->concept);
            if (dn > dx || (dn == dx && assay_terms_system(t, x->concept) == ASSAY_SYS_ICD10 &&
                            assay_terms_system(t, id) != ASSAY_SYS_ICD10)) {
                x->concept = id;
                x->name = assay_terms_name(t, id);
            }
            s_text_release(&k);
            continue;
        }
        if (nz->n_labels == cap) {
            cap *= 2;
            nz->labels = assay_realloc(nz->labels, cap * sizeof *nz->labels);
        }
        s_label_t *x = &nz->labels[nz->n_labels];
        x->concept = id;
        x->name = assay_terms_name(t, id);
        x->cp = assay_malloc(k.n * sizeof(uint32_t));
        memcpy(x->cp, k.cp, k.n * sizeof(uint32_t));
        x->n = (uint32_t)k.n;
        x->freq = 0;
        x->nbig = 0;
        x->n_heads = 0;
        *s_map_put(&nz->label_by_key, s_gram(k.cp, k.n), 0) = (uint32_t)nz->n_labels;
        nz->n_labels++;
        s_text_release(&k);
    }
}

/* the dictionary: every standard name and every alias (but the chip_cdn mentions,
 * which are known mentions) of an eligible concept */
static void s_build_dictionary(assay_normalizer_t *nz)
{
    const assay_terms_t *t = nz->terms;
    assay_acmatch_builder_t *b = assay_acmatch_builder_new();
    s_tvec_t pairs = {0};
    size_t ne = assay_terms_name_entry_count(t);
    for (size_t i = 0; i < ne; i++) {
        const char *key;
        assay_name_hit_t hit;
        assay_terms_name_entry(t, i, &key, &hit);
        if (!s_eligible(t, hit.concept, nz->opts.system)) continue;
        int is_name = hit.alias == UINT32_MAX;
        if (!is_name) {
            assay_alias_t a;
            if (assay_terms_alias(t, hit.concept, hit.alias, &a) < 0) continue;
            if (strcmp(a.source, "chip_cdn") == 0) continue;
        }
        uint32_t l = s_label_for_concept(nz, hit.concept);
        if (l == S_NONE) continue;
        int64_t pid = assay_acmatch_builder_add(b, key, strlen(key));
        if (pid < 0) continue;
        s_tvec_push(&pairs, (uint64_t)pid, l, (uint32_t)is_name);
    }
    nz->ac = assay_acmatch_builder_finish(&b);
    size_t np = assay_acmatch_pattern_count(nz->ac);
    s_sort(pairs.v, pairs.n, sizeof *pairs.v, s_triple_cmp);
    nz->pat_start = assay_calloc(np + 1, sizeof(uint32_t));
    nz->pat_label = assay_malloc((pairs.n + 1) * sizeof(uint32_t));
    nz->pat_is_name = assay_calloc(np + 1, 1);
    size_t k = 0;
    for (size_t i = 0; i < pairs.n; i++) {
        if (i > 0 && pairs.v[i].key == pairs.v[i - 1].key && pairs.v[i].id == pairs.v[i - 1].id) {
            if (pairs.v[i].count) nz->pat_is_name[pairs.v[i].key] = 1;
            continue;
        }
        nz->pat_start[pairs.v[i].key + 1]++;
        nz->pat_label[k++] = pairs.v[i].id;
        if (pairs.v[i].count) nz->pat_is_name[pairs.v[i].key] = 1;
    }
    for (size_t p = 0; p < np; p++)
        nz->pat_start[p + 1] += nz->pat_start[p];
    free(pairs.v);

    /* bigram index over label keys for fuzzy candidates */
    s_tvec_t bg = {0};
    for (size_t l = 0; l < nz->n_labels; l++) {
        const s_label_t *x = &nz->labels[l];
        if (x->n == 1) {
            s_tvec_push(&bg, s_gram(x->cp, 1), (uint32_t)l, 1);
            continue;
        }
        for (size_t i = 0; i + 1 < x->n; i++)
            s_tvec_push(&bg, s_gram(x->cp + i, 2), (uint32_t)l, 1);
    }
    /* distinct (bigram, label) */
    s_sort(bg.v, bg.n, sizeof *bg.v, s_triple_cmp);
    size_t w = 0;
    for (size_t i = 0; i < bg.n; i++)
        if (w == 0 || bg.v[i].key != bg.v[w - 1].key || bg.v[i].id != bg.v[w - 1].id)
            bg.v[w++] = bg.v[i];
    for (size_t i = 0; i < w; i++)
        nz->labels[bg.v[i].id].nbig++;
    s_csr_build(&nz->label_bigrams, bg.v, w);
    free(bg.v);
}

static uint32_t s_example_index(assay_normalizer_t *nz, const uint32_t *cp, size_t n)
{
    uint64_t h = s_gram(cp, n);
    uint32_t *slot = s_map_put(&nz->ex_by_key, h, S_NONE);
    if (*slot != S_NONE) return *slot;
    if (nz->n_ex == nz->cap_ex) {
        nz->cap_ex = nz->cap_ex ? nz->cap_ex * 2 : 1024;
        nz->ex = assay_realloc(nz->ex, nz->cap_ex * sizeof *nz->ex);
    }
    s_example_t *e = &nz->ex[nz->n_ex];
    e->cp = assay_malloc(n * sizeof(uint32_t));
    memcpy(e->cp, cp, n * sizeof(uint32_t));
    e->n = (uint32_t)n;
    e->labels = NULL;
    e->n_labels = 0;
    *slot = (uint32_t)nz->n_ex;
    return (uint32_t)nz->n_ex++;
}

static int s_example_add_label(assay_normalizer_t *nz, uint32_t ex, uint32_t label)
{
    s_example_t *e = &nz->ex[ex];
    for (uint32_t i = 0; i < e->n_labels; i++)
        if (e->labels[i] == label) return 0;
    e->labels = assay_realloc(e->labels, (e->n_labels + 1) * sizeof(uint32_t));
    e->labels[e->n_labels++] = label;
    return 1;
}

size_t assay_normalizer_add_example(assay_normalizer_t *self, const char *mention,
                                    const char *const *names, size_t n_names)
{
    if (!self || self->prepared || !mention || !assay_utf8_valid(mention, strlen(mention)))
        return 0;
    s_text_t m;
    s_text_from_key(&m, mention);
    size_t ok = 0;
    if (m.n > 0) {
        uint32_t ex = S_NONE;
        for (size_t i = 0; i < n_names; i++) {
            if (!names[i]) continue;
            s_text_t k;
            s_text_from_key(&k, names[i]);
            uint32_t l = s_label_find(self, k.cp, k.n);
            s_text_release(&k);
            if (l == S_NONE) continue;
            if (ex == S_NONE) ex = s_example_index(self, m.cp, m.n);
            s_example_add_label(self, ex, l);
            ok++;
        }
    }
    s_text_release(&m);
    return ok;
}

int assay_normalizer_load_examples(assay_normalizer_t *self, const char *path, size_t *added,
                                   char *err, size_t errlen)
{
    if (added) *added = 0;
    FILE *fp = fopen(path, "r");
    if (!fp) {
        if (err && errlen)
            snprintf(err, errlen, "could not open file \"%s\": %s", path, strerror(errno));
        return ASSAY_EIO;
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0, kept = 0;
    ssize_t len;
    int rc = 0;
    while ((len = getline(&line, &cap, fp)) > 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0) continue;
        json_error_t je;
        json_t *o = json_loadb(line, (size_t)len, 0, &je);
        const char *text = o ? json_string_value(json_object_get(o, "text")) : NULL;
        json_t *names = o ? json_object_get(o, "normalized") : NULL;
        if (!names && o) names = json_object_get(o, "names");
        if (!o || !text || !json_is_array(names)) {
            if (err && errlen)
                snprintf(err, errlen, "%s:%zu: %s", path, lineno,
                         !o      ? je.text
                         : !text ? "field \"text\": expected a string"
                                 : "field \"normalized\": expected an array of strings");
            json_decref(o);
            rc = ASSAY_EPARSE;
            break;
        }
        const char *nm[64];
        size_t k = 0;
        for (size_t i = 0; i < json_array_size(names) && k < 64; i++) {
            const char *v = json_string_value(json_array_get(names, i));
            if (v) nm[k++] = v;
        }
        kept += assay_normalizer_add_example(self, text, nm, k) > 0;
        json_decref(o);
    }
    free(line);
    fclose(fp);
    if (added) *added = kept;
    return rc;
}

/* the chip_cdn mention aliases of the terminology as known mentions */
static void s_add_terms_mentions(assay_normalizer_t *nz)
{
    const assay_terms_t *t = nz->terms;
    size_t nc = assay_terms_concept_count(t);
    for (size_t i = 0; i < nc; i++) {
        assay_term_id_t id = (assay_term_id_t)i;
        size_t na = assay_terms_alias_count(t, id);
        if (na == 0 || !s_eligible(t, id, nz->opts.system)) continue;
        for (size_t j = 0; j < na; j++) {
            assay_alias_t a;
            assay_terms_alias(t, id, j, &a);
            if (strcmp(a.source, "chip_cdn") != 0) continue;
            const char *nm = assay_terms_name(t, id);
            assay_normalizer_add_example(nz, a.text, &nm, 1);
        }
    }
    /* the known mentions the terminology carries (chip_cdn_train.jsonl next to its
     * TSVs): with all their names, which teaches how many names a text gets */
    size_t ne = assay_terms_example_count(t);
    const char *names[64];
    for (size_t i = 0; i < ne; i++) {
        size_t nn = 0;
        const char *m = assay_terms_example(t, i, &nn);
        if (nn > 64) nn = 64;
        for (size_t j = 0; j < nn; j++)
            names[j] = assay_terms_example_name(t, i, j);
        if (m) assay_normalizer_add_example(nz, m, names, nn);
    }
}

assay_normalizer_t *assay_normalizer_new(const assay_terms_t *terms,
                                         const assay_normalize_opts_t *opts, char *err,
                                         size_t errlen)
{
    assay_normalize_opts_t o;
    if (opts)
        o = *opts;
    else
        assay_normalize_opts_default(&o);
    if (!terms) {
        if (err && errlen) snprintf(err, errlen, "no terminology given");
        return NULL;
    }
    if (o.system != ASSAY_SYS_CLIN20 && o.system != ASSAY_SYS_BJV601) {
        if (err && errlen)
            snprintf(err, errlen, "cannot link to code system \"%s\" (expected clin2.0 or bj_v601)",
                     assay_terms_system_name(o.system));
        return NULL;
    }
    assay_normalizer_t *nz = ASSAY_NEW(assay_normalizer_t);
    nz->terms = terms;
    nz->opts = o;
    s_map_init(&nz->ex_by_key, 1024);
    s_build_labels(nz);
    s_label_categories(nz);
    s_build_dictionary(nz);
    if (o.use_terms_mentions && !o.exact_only) s_add_terms_mentions(nz);
    return nz;
}

void assay_normalizer_destroy(assay_normalizer_t **self_p)
{
    if (!self_p || !*self_p) return;
    assay_normalizer_t *nz = *self_p;
    for (size_t i = 0; i < nz->n_labels; i++)
        free(nz->labels[i].cp);
    free(nz->labels);
    s_map_release(&nz->label_by_key);
    assay_acmatch_destroy(&nz->ac);
    free(nz->pat_start);
    free(nz->pat_label);
    free(nz->pat_is_name);
    s_csr_release(&nz->label_bigrams);
    for (size_t i = 0; i < nz->n_ex; i++) {
        free(nz->ex[i].cp);
        free(nz->ex[i].labels);
    }
    free(nz->ex);
    s_map_release(&nz->ex_by_key);
    s_map_release(&nz->term_idf_ix);
    free(nz->term_idf);
    free(nz->post_start);
    free(nz->post_ex);
    free(nz->post_w);
    s_csr_release(&nz->gram_labels);
    s_csr_release(&nz->gram_heads);
    s_map_release(&nz->gram_count);
    s_map_release(&nz->head_ix);
    free(nz->head_len);
    s_csr_release(&nz->site_labels);
    free(nz->trees);
    free(nz);
    *self_p = NULL;
}

/* ------------------------------------------------------- mention statistics */

/* distinct terms of a text for the kNN index: unigrams (weight 0.5) and bigrams
 * (weight 1), as (hash, tf) pairs */
typedef struct {
    uint64_t key;
    float tf;
} s_term_t;

static int s_term_cmp(const void *a, const void *b)
{
    const s_term_t *x = a, *y = b;
    return x->key < y->key ? -1 : x->key > y->key;
}

static size_t s_terms_of(const uint32_t *cp, size_t n, s_term_t *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        out[k].key = s_gram(cp + i, 1);
        out[k++].tf = 0.5f;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        out[k].key = s_gram(cp + i, 2);
        out[k++].tf = 1.0f;
    }
    s_sort(out, k, sizeof *out, s_term_cmp);
    size_t w = 0;
    for (size_t i = 0; i < k; i++) {
        if (w > 0 && out[w - 1].key == out[i].key)
            out[w - 1].tf += out[i].tf;
        else
            out[w++] = out[i];
    }
    return w;
}

/* distinct n-grams (hashes) of 1..maxn characters */
static size_t s_grams_of(const uint32_t *cp, size_t n, size_t maxn, uint64_t *out)
{
    size_t k = 0;
    for (size_t len = 1; len <= maxn; len++)
        for (size_t i = 0; i + len <= n; i++)
            out[k++] = s_gram(cp + i, len);
    /* dedupe */
    for (size_t i = 1; i < k; i++) {
        uint64_t v = out[i];
        size_t j = i;
        while (j > 0 && out[j - 1] > v) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = v;
    }
    size_t w = 0;
    for (size_t i = 0; i < k; i++)
        if (w == 0 || out[w - 1] != out[i]) out[w++] = out[i];
    return w;
}

static size_t s_max_grams(size_t n, size_t maxn)
{
    return n * maxn + 1;
}

static int s_label_has_head(const s_label_t *x, uint32_t h)
{
    for (uint32_t i = 0; i < x->n_heads; i++)
        if (x->heads[i] == h) return 1;
    return 0;
}

static void s_build_statistics(assay_normalizer_t *nz)
{
    size_t nx = nz->n_ex;
    /* label frequencies */
    for (size_t i = 0; i < nx; i++)
        for (uint32_t j = 0; j < nz->ex[i].n_labels; j++)
            nz->labels[nz->ex[i].labels[j]].freq++;
    /* heads: suffixes shared by at least S_HEADMIN distinct labels of known mentions */
    s_map_t suf;
    s_map_init(&suf, 4096);
    for (size_t l = 0; l < nz->n_labels; l++) {
        const s_label_t *x = &nz->labels[l];
        if (!x->freq) continue;
        for (size_t k = 1; k <= S_HEADLEN; k++)
            if (x->n > k) (*s_map_put(&suf, s_gram(x->cp + x->n - k, k), 0))++;
    }
    s_map_init(&nz->head_ix, 256);
    for (size_t i = 0; i < suf.cap; i++) {
        if (suf.keys[i] && suf.vals[i] >= S_HEADMIN) {
            *s_map_put(&nz->head_ix, suf.keys[i], 0) = (uint32_t)nz->n_heads;
            nz->n_heads++;
        }
    }
    s_map_release(&suf);
    /* every decomposition of a label into site + head; sites index labels */
    nz->head_len = assay_calloc(nz->n_heads + 1, 1);
    s_tvec_t sites = {0};
    for (size_t l = 0; l < nz->n_labels; l++) {
        s_label_t *x = &nz->labels[l];
        for (size_t k = 1; k <= S_HEADLEN; k++) {
            if (x->n < k + S_MINSITE || x->n - k > S_MAXSITE) continue;
            uint32_t h = s_map_get(&nz->head_ix, s_gram(x->cp + x->n - k, k));
            if (h == S_NONE) continue;
            nz->head_len[h] = (uint8_t)k;
            x->heads[x->n_heads++] = h;
            s_tvec_push(&sites, s_gram(x->cp, x->n - k), (uint32_t)l, h);
        }
    }
    s_csr_build(&nz->site_labels, sites.v, sites.n);
    free(sites.v);

    /* kNN: document frequencies, idf, normalised postings */
    size_t maxn = 0;
    for (size_t i = 0; i < nx; i++)
        if (nz->ex[i].n > maxn) maxn = nz->ex[i].n;
    s_term_t *terms = assay_malloc((2 * maxn + 2) * sizeof *terms);
    uint64_t *grams = assay_malloc(s_max_grams(maxn, S_MAXGRAM) * sizeof *grams);
    s_map_init(&nz->term_idf_ix, 4096);
    uint32_t *df = NULL;
    size_t df_cap = 0;
    for (size_t i = 0; i < nx; i++) {
        size_t k = s_terms_of(nz->ex[i].cp, nz->ex[i].n, terms);
        for (size_t j = 0; j < k; j++) {
            uint32_t *slot = s_map_put(&nz->term_idf_ix, terms[j].key, (uint32_t)nz->n_terms);
            if (*slot == nz->n_terms) {
                if (nz->n_terms == df_cap) {
                    df_cap = df_cap ? df_cap * 2 : 4096;
                    df = assay_realloc(df, df_cap * sizeof *df);
                }
                df[nz->n_terms++] = 0;
            }
            df[*slot]++;
        }
    }
    nz->term_idf = assay_malloc((nz->n_terms + 1) * sizeof(float));
    for (size_t i = 0; i < nz->n_terms; i++)
        nz->term_idf[i] = (float)(log((double)nx / (1.0 + df[i])) + 1.0);
    nz->post_start = assay_calloc(nz->n_terms + 2, sizeof(uint32_t));
    for (size_t i = 0; i < nz->n_terms; i++)
        nz->post_start[i + 1] = nz->post_start[i] + df[i];
    size_t np = nz->post_start[nz->n_terms];
    nz->post_ex = assay_malloc((np + 1) * sizeof(uint32_t));
    nz->post_w = assay_malloc((np + 1) * sizeof(float));
    uint32_t *fill = assay_calloc(nz->n_terms + 1, sizeof(uint32_t));
    for (size_t i = 0; i < nx; i++) {
        size_t k = s_terms_of(nz->ex[i].cp, nz->ex[i].n, terms);
        double norm = 0;
        for (size_t j = 0; j < k; j++) {
            double w = terms[j].tf * nz->term_idf[s_map_get(&nz->term_idf_ix, terms[j].key)];
            norm += w * w;
        }
        norm = sqrt(norm);
        for (size_t j = 0; j < k; j++) {
            uint32_t tid = s_map_get(&nz->term_idf_ix, terms[j].key);
            uint32_t at = nz->post_start[tid] + fill[tid]++;
            nz->post_ex[at] = (uint32_t)i;
            nz->post_w[at] = (float)(terms[j].tf * nz->term_idf[tid] / (norm > 0 ? norm : 1));
        }
    }
    free(fill);
    free(df);

    /* n-gram evidence for labels and heads */
    s_map_t pairs, hpairs;
    s_map_init(&pairs, nx * 64);
    s_map_init(&hpairs, nx * 32);
    s_map_init(&nz->gram_count, nx * 32);
    s_tvec_t keys = {0}, hkeys = {0};
    uint32_t *heads = assay_malloc(64 * sizeof(uint32_t));
    size_t heads_cap = 64;
    for (size_t i = 0; i < nx; i++) {
        const s_example_t *e = &nz->ex[i];
        size_t ng = s_grams_of(e->cp, e->n, S_MAXGRAM, grams);
        size_t nh = 0;
        if (e->n_labels * S_HEADLEN > heads_cap) {
            heads_cap = e->n_labels * S_HEADLEN;
            heads = assay_realloc(heads, heads_cap * sizeof *heads);
        }
        for (uint32_t j = 0; j < e->n_labels; j++) {
            const s_label_t *x = &nz->labels[e->labels[j]];
            for (uint32_t q = 0; q < x->n_heads; q++) {
                uint32_t h = x->heads[q];
                int seen = 0;
                for (size_t m = 0; m < nh; m++)
                    seen |= heads[m] == h;
                if (!seen) heads[nh++] = h;
            }
        }
        for (size_t g = 0; g < ng; g++) {
            (*s_map_put(&nz->gram_count, grams[g], 0))++;
            for (uint32_t j = 0; j < e->n_labels; j++) {
                uint32_t *c = s_map_put(&pairs, s_pair(grams[g], e->labels[j]), 0);
                if (*c == 0) s_tvec_push(&keys, grams[g], e->labels[j], 0);
                (*c)++;
            }
        }
        /* heads from grams of up to three characters */
        ng = s_grams_of(e->cp, e->n, S_MAXHEADGRAM, grams);
        for (size_t g = 0; g < ng; g++) {
            for (size_t m = 0; m < nh; m++) {
                uint32_t *c = s_map_put(&hpairs, s_pair(grams[g], heads[m] + 0x40000000u), 0);
                if (*c == 0) s_tvec_push(&hkeys, grams[g], heads[m], 0);
                (*c)++;
            }
        }
    }
    free(heads);
    /* keep pairs seen at least twice */
    size_t w = 0;
    for (size_t i = 0; i < keys.n; i++) {
        uint32_t c = s_map_get(&pairs, s_pair(keys.v[i].key, keys.v[i].id));
        if (c >= 2) {
            keys.v[w] = keys.v[i];
            keys.v[w++].count = c;
        }
    }
    s_csr_build(&nz->gram_labels, keys.v, w);
    w = 0;
    for (size_t i = 0; i < hkeys.n; i++) {
        uint32_t c = s_map_get(&hpairs, s_pair(hkeys.v[i].key, hkeys.v[i].id + 0x40000000u));
        if (c >= 2) {
            hkeys.v[w] = hkeys.v[i];
            hkeys.v[w++].count = c;
        }
    }
    s_csr_build(&nz->gram_heads, hkeys.v, w);
    free(keys.v);
    free(hkeys.v);
    s_map_release(&pairs);
    s_map_release(&hpairs);
    free(terms);
    free(grams);
}

/* ------------------------------------------------------------ candidates */

typedef struct {
    uint32_t label;
    float f[F_COUNT];
    /* where it was found (code points) and how */
    uint32_t span_b, span_e;
    uint8_t kind;
    uint8_t has_span;
} s_cand_t;

typedef struct {
    s_cand_t *c;
    size_t n, cap;
    s_map_t ix; /* label → candidate */
} s_cands_t;

static s_cand_t *s_cand(s_cands_t *cs, uint32_t label)
{
    uint32_t *slot = s_map_put(&cs->ix, (uint64_t)label + 1, (uint32_t)cs->n);
    if (*slot == cs->n) {
        if (cs->n == cs->cap) {
            cs->cap = cs->cap ? cs->cap * 2 : 64;
            cs->c = assay_realloc(cs->c, cs->cap * sizeof *cs->c);
        }
        memset(&cs->c[cs->n], 0, sizeof cs->c[cs->n]);
        cs->c[cs->n].label = label;
        cs->c[cs->n].kind = ASSAY_MATCH_FUZZY;
        cs->n++;
    }
    return &cs->c[*slot];
}

static void s_set_span(s_cand_t *c, uint32_t b, uint32_t e, uint8_t kind, int strength)
{
    /* dictionary spans win over atoms, atoms over fuzzy segments */
    if (!c->has_span || strength > c->has_span) {
        c->span_b = b;
        c->span_e = e;
        c->kind = kind;
        c->has_span = (uint8_t)strength;
    }
}

typedef struct {
    float *score;
    uint32_t *touched;
    size_t n_touched;
    uint32_t *lcount; /* per label, for fuzzy */
    uint32_t *ltouched;
    size_t n_ltouched;
} s_scratch_t;

static void s_scratch_init(s_scratch_t *s, const assay_normalizer_t *nz)
{
    s->score = assay_calloc(nz->n_ex + 1, sizeof(float));
    s->touched = assay_malloc((nz->n_ex + 1) * sizeof(uint32_t));
    s->n_touched = 0;
    s->lcount = assay_calloc(nz->n_labels + 1, sizeof(uint32_t));
    s->ltouched = assay_malloc((nz->n_labels + 1) * sizeof(uint32_t));
    s->n_ltouched = 0;
}

static void s_scratch_release(s_scratch_t *s)
{
    free(s->score);
    free(s->touched);
    free(s->lcount);
    free(s->ltouched);
}

static size_t s_bigrams(const uint32_t *cp, size_t n, uint64_t *out)
{
    size_t k = 0;
    if (n == 1) {
        out[k++] = s_gram(cp, 1);
    } else {
        for (size_t i = 0; i + 1 < n; i++)
            out[k++] = s_gram(cp + i, 2);
    }
    /* distinct, sorted */
    for (size_t i = 1; i < k; i++) {
        uint64_t v = out[i];
        size_t j = i;
        while (j > 0 && out[j - 1] > v) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = v;
    }
    size_t w = 0;
    for (size_t i = 0; i < k; i++)
        if (w == 0 || out[w - 1] != out[i]) out[w++] = out[i];
    return w;
}

static size_t s_sorted_common(const uint64_t *a, size_t na, const uint64_t *b, size_t nb)
{
    size_t i = 0, j = 0, c = 0;
    while (i < na && j < nb) {
        if (a[i] == b[j]) {
            c++;
            i++;
            j++;
        } else if (a[i] < b[j]) {
            i++;
        } else {
            j++;
        }
    }
    return c;
}

typedef struct {
    uint32_t label;
    uint32_t count;
    uint32_t nbig;
    double dice;
} s_fz_t;

static int s_fz_count_cmp(const void *a, const void *b)
{
    const s_fz_t *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    /* among equals the shortest first, so an exact name is never crowded out */
    if (x->nbig != y->nbig) return x->nbig < y->nbig ? -1 : 1;
    return x->label < y->label ? -1 : x->label > y->label;
}

static int s_fz_dice_cmp(const void *a, const void *b)
{
    const s_fz_t *x = a, *y = b;
    if (x->dice != y->dice) return x->dice > y->dice ? -1 : 1;
    return x->label < y->label ? -1 : x->label > y->label;
}

/* fuzzy candidates for cp[b..e) */
static void s_fuzzy(const assay_normalizer_t *nz, const uint32_t *cp, size_t b, size_t e,
                    s_cands_t *cs, s_scratch_t *sc)
{
    size_t n = e - b;
    if (n == 0) return;
    uint64_t *q = assay_malloc((n + 1) * sizeof *q);
    size_t nq = s_bigrams(cp + b, n, q);
    sc->n_ltouched = 0;
    for (size_t i = 0; i < nq; i++) {
        size_t rb, re;
        s_csr_row(&nz->label_bigrams, q[i], &rb, &re);
        for (size_t k = rb; k < re; k++) {
            uint32_t l = nz->label_bigrams.id[k];
            if (sc->lcount[l]++ == 0) sc->ltouched[sc->n_ltouched++] = l;
        }
    }
    /* the S_FUZZY_POOL best by s_fz_count_cmp, in its order: a bounded insertion
     * (a full sort of every touched label was most of a call's time) */
    s_fz_t *fz = assay_malloc((S_FUZZY_POOL + 1) * sizeof *fz);
    size_t nf = 0;
    for (size_t i = 0; i < sc->n_ltouched; i++) {
        s_fz_t x;
        x.label = sc->ltouched[i];
        x.count = sc->lcount[x.label];
        x.nbig = nz->labels[x.label].nbig;
        x.dice = 0;
        sc->lcount[x.label] = 0;
        if (nf == S_FUZZY_POOL && s_fz_count_cmp(&x, &fz[nf - 1]) >= 0) continue;
        size_t k = nf < S_FUZZY_POOL ? nf++ : nf - 1;
        while (k > 0 && s_fz_count_cmp(&x, &fz[k - 1]) < 0) {
            fz[k] = fz[k - 1];
            k--;
        }
        fz[k] = x;
    }
    uint64_t *lb = NULL;
    size_t lb_cap = 0;
    for (size_t i = 0; i < nf; i++) {
        const s_label_t *x = &nz->labels[fz[i].label];
        if (x->n + 1 > lb_cap) {
            lb_cap = x->n + 1;
            lb = assay_realloc(lb, lb_cap * sizeof *lb);
        }
        size_t nl = s_bigrams(x->cp, x->n, lb);
        fz[i].dice = 2.0 * (double)s_sorted_common(q, nq, lb, nl) / (double)(nq + nl);
    }
    s_sort(fz, nf, sizeof *fz, s_fz_dice_cmp);
    for (size_t i = 0; i < nf && i < S_FUZZY_TOP; i++) {
        s_cand_t *c = s_cand(cs, fz[i].label);
        if (fz[i].dice > c->f[F_FUZZY]) {
            c->f[F_FUZZY] = (float)fz[i].dice;
            s_set_span(c, (uint32_t)b, (uint32_t)e, ASSAY_MATCH_FUZZY, 1);
        }
    }
    free(lb);
    free(fz);
    free(q);
}

typedef struct {
    uint32_t ex;
    float sim;
} s_nb_t;

static int s_nb_cmp(const void *a, const void *b)
{
    const s_nb_t *x = a, *y = b;
    if (x->sim != y->sim) return x->sim > y->sim ? -1 : 1;
    return x->ex < y->ex ? -1 : x->ex > y->ex;
}

static int s_has_label(const s_example_t *e, uint32_t l)
{
    for (uint32_t i = 0; i < e->n_labels; i++)
        if (e->labels[i] == l) return 1;
    return 0;
}

typedef struct {
    uint32_t *best, *bestp;
} s_longest_t;

/* characters of cp[0..n) that also occur in the label (with multiplicity) */
static int s_overlap(const uint32_t *cp, size_t n, const s_label_t *x)
{
    uint8_t used[64] = {0};
    int shared = 0;
    for (size_t i = 0; i < n; i++) {
        for (uint32_t j = 0; j < x->n && j < 64; j++) {
            if (!used[j] && x->cp[j] == cp[i]) {
                used[j] = 1;
                shared++;
                break;
            }
        }
    }
    return shared;
}

static int s_ac_keep(void *arg, const assay_acmatch_hit_t *hit)
{
    s_longest_t *c = arg;
    uint32_t len = (uint32_t)(hit->end - hit->start);
    if (len > c->best[hit->start]) {
        c->best[hit->start] = len;
        c->bestp[hit->start] = hit->pattern;
    }
    return 0;
}

/* the S_KNN nearest known mentions of cp[b..e) vote for their names: into F_VOTE,
 * F_MAXSIM, F_TOP1 for the whole text (seg = 0), or into F_SEGVOTE, F_SEGSIM as the
 * best over segments (seg = 1) */
static void s_knn(const assay_normalizer_t *nz, const uint32_t *cp, size_t b, size_t e,
                  uint32_t exclude, s_cands_t *cs, s_scratch_t *sc, int seg)
{
    size_t n = e - b;
    s_term_t *terms = assay_malloc((2 * n + 2) * sizeof *terms);
    size_t k = s_terms_of(cp + b, n, terms);
    double norm = 0;
    float *wq = assay_malloc((k + 1) * sizeof *wq);
    for (size_t j = 0; j < k; j++) {
        uint32_t tid = s_map_get(&nz->term_idf_ix, terms[j].key);
        double idf = tid == S_NONE ? log((double)nz->n_ex) + 1.0 : nz->term_idf[tid];
        wq[j] = (float)(terms[j].tf * idf);
        norm += (double)wq[j] * wq[j];
    }
    norm = sqrt(norm);
    if (norm <= 0) norm = 1;
    sc->n_touched = 0;
    for (size_t j = 0; j < k; j++) {
        uint32_t tid = s_map_get(&nz->term_idf_ix, terms[j].key);
        if (tid == S_NONE) continue;
        float qw = (float)(wq[j] / norm);
        for (uint32_t p = nz->post_start[tid]; p < nz->post_start[tid + 1]; p++) {
            uint32_t ex = nz->post_ex[p];
            if (sc->score[ex] == 0) sc->touched[sc->n_touched++] = ex;
            sc->score[ex] += qw * nz->post_w[p];
        }
    }
    /* the best S_KNN by insertion (sorting every touched mention costs more) */
    s_nb_t nb[S_KNN + 1];
    size_t nn = 0;
    for (size_t i = 0; i < sc->n_touched; i++) {
        uint32_t ex = sc->touched[i];
        s_nb_t cand = {ex, sc->score[ex]};
        sc->score[ex] = 0;
        if (ex == exclude) continue;
        if (nn == S_KNN && s_nb_cmp(&cand, &nb[nn - 1]) >= 0) continue;
        size_t j = nn < S_KNN ? nn++ : S_KNN - 1;
        while (j > 0 && s_nb_cmp(&cand, &nb[j - 1]) < 0) {
            nb[j] = nb[j - 1];
            j--;
        }
        nb[j] = cand;
    }
    double tot = 0;
    for (size_t i = 0; i < nn; i++)
        tot += pow(nb[i].sim, 3);
    if (tot <= 0) tot = 1;
    /* segment votes are summed per segment first, then the best segment kept */
    float *vote = seg ? assay_calloc(nn * 16 + 1, sizeof(float)) : NULL;
    uint32_t *vl = seg ? assay_malloc((nn * 16 + 1) * sizeof(uint32_t)) : NULL;
    size_t nv = 0;
    for (size_t i = 0; i < nn; i++) {
        const s_example_t *ex = &nz->ex[nb[i].ex];
        for (uint32_t j = 0; j < ex->n_labels; j++) {
            s_cand_t *c = s_cand(cs, ex->labels[j]);
            float v = (float)(pow(nb[i].sim, 3) / tot);
            if (!seg) {
                c->f[F_VOTE] += v;
                if (nb[i].sim > c->f[F_MAXSIM]) c->f[F_MAXSIM] = nb[i].sim;
                if (i == 0) c->f[F_TOP1] = 1;
                if (nb[i].sim > 0.999f)
                    s_set_span(c, (uint32_t)b, (uint32_t)e, ASSAY_MATCH_ALIAS, 2);
                continue;
            }
            if (nb[i].sim > c->f[F_SEGSIM]) c->f[F_SEGSIM] = nb[i].sim;
            if (nb[i].sim > 0.999f) s_set_span(c, (uint32_t)b, (uint32_t)e, ASSAY_MATCH_ALIAS, 3);
            size_t q = 0;
            while (q < nv && vl[q] != ex->labels[j])
                q++;
            if (q == nv) {
                if (nv >= nn * 16) continue;
                vl[nv++] = ex->labels[j];
            }
            vote[q] += v;
        }
    }
    for (size_t q = 0; q < nv; q++) {
        s_cand_t *c = s_cand(cs, vl[q]);
        if (vote[q] > c->f[F_SEGVOTE]) {
            c->f[F_SEGVOTE] = vote[q];
            /* the segment whose neighbours vote most for it, unless the name was
             * found in the text or as an atom */
            if (c->has_span < 2 || (c->has_span == 2 && c->kind == ASSAY_MATCH_FUZZY)) {
                c->span_b = (uint32_t)b;
                c->span_e = (uint32_t)e;
                c->kind = ASSAY_MATCH_FUZZY;
                c->has_span = 2;
            }
        }
    }
    free(vote);
    free(vl);
    free(wq);
    free(terms);
}

/* every candidate with its features; exclude = a known mention to leave out (for
 * training), or S_NONE */
static void s_candidates(const assay_normalizer_t *nz, const uint32_t *cp, size_t n,
                         uint32_t exclude, s_cands_t *cs, s_scratch_t *sc)
{
    const s_example_t *self_ex = exclude != S_NONE ? &nz->ex[exclude] : NULL;
    /* 1. nearest known mentions, of the whole text and of each segment */
    assay_span_t *segs = assay_malloc((n + 1) * sizeof *segs);
    size_t nseg = s_split_cp(cp, n, segs, n + 1);
    if (nz->n_ex > 0) {
        s_knn(nz, cp, 0, n, exclude, cs, sc, 0);
        for (size_t i = 0; i < nseg; i++) {
            if (segs[i].start == 0 && segs[i].end == n) {
                /* the text is one segment: the same neighbours */
                for (size_t c = 0; c < cs->n; c++) {
                    cs->c[c].f[F_SEGVOTE] = cs->c[c].f[F_VOTE];
                    cs->c[c].f[F_SEGSIM] = cs->c[c].f[F_MAXSIM];
                }
                continue;
            }
            s_knn(nz, cp, segs[i].start, segs[i].end, exclude, cs, sc, 1);
        }
    }
    /* 2. n-gram evidence for names and for heads */
    uint64_t *grams = assay_malloc(s_max_grams(n, S_MAXGRAM) * sizeof *grams);
    uint64_t *selfg = NULL;
    size_t nself = 0;
    if (self_ex) {
        selfg = assay_malloc(s_max_grams(self_ex->n, S_MAXGRAM) * sizeof *selfg);
        nself = s_grams_of(self_ex->cp, self_ex->n, S_MAXGRAM, selfg);
    }
    size_t ng = s_grams_of(cp, n, S_MAXGRAM, grams);
    for (size_t g = 0; g < ng; g++) {
        uint32_t cg = s_map_get(&nz->gram_count, grams[g]);
        if (cg == S_NONE) continue;
        /* a training mention counts its own grams: take them out */
        if (self_ex) cg--;
        size_t rb, re;
        s_csr_row(&nz->gram_labels, grams[g], &rb, &re);
        for (size_t k = rb; k < re; k++) {
            uint32_t l = nz->gram_labels.id[k];
            uint32_t c = nz->gram_labels.count[k];
            if (self_ex && s_has_label(self_ex, l)) c--;
            if (c < 2) continue;
            double p = (double)c / (cg + 1.0);
            if (p < 0.2) continue;
            s_cand_t *cd = s_cand(cs, l);
            if (p > cd->f[F_NGEV]) cd->f[F_NGEV] = (float)p;
        }
    }
    if (nz->opts.atoms && nz->n_heads > 0) {
        float *hev = assay_calloc(nz->n_heads, sizeof(float));
        size_t nhg = s_grams_of(cp, n, S_MAXHEADGRAM, grams);
        for (size_t g = 0; g < nhg; g++) {
            uint32_t cg = s_map_get(&nz->gram_count, grams[g]);
            if (cg == S_NONE) continue;
            if (self_ex) cg--;
            size_t rb, re;
            s_csr_row(&nz->gram_heads, grams[g], &rb, &re);
            for (size_t k = rb; k < re; k++) {
                uint32_t h = nz->gram_heads.id[k];
                uint32_t c = nz->gram_heads.count[k];
                if (self_ex) {
                    int mine = 0;
                    for (uint32_t j = 0; j < self_ex->n_labels; j++)
                        mine |= s_label_has_head(&nz->labels[self_ex->labels[j]], h);
                    if (mine) c--;
                }
                if (c < 2) continue;
                double p = (double)c / (cg + 1.0);
                if (p > hev[h]) hev[h] = (float)p;
            }
        }
        /* sites: every substring of S_MINSITE..S_MAXSITE characters */
        for (size_t b = 0; b < n; b++) {
            for (size_t len = S_MINSITE; len <= S_MAXSITE && b + len <= n; len++) {
                size_t rb, re;
                s_csr_row(&nz->site_labels, s_gram(cp + b, len), &rb, &re);
                for (size_t k = rb; k < re; k++) {
                    uint32_t l = nz->site_labels.id[k];
                    uint32_t h = nz->site_labels.count[k]; /* the head id */
                    if (nz->labels[l].n != len + nz->head_len[h] ||
                        memcmp(nz->labels[l].cp, cp + b, len * sizeof(uint32_t)) != 0)
                        continue;
                    if (hev[h] < 0.25f) continue;
                    s_cand_t *cd = s_cand(cs, l);
                    if (hev[h] > cd->f[F_SITEHEAD]) cd->f[F_SITEHEAD] = hev[h];
                    float sl = (float)len / (float)n;
                    if (sl > cd->f[F_SITELEN]) cd->f[F_SITELEN] = sl;
                    s_set_span(cd, (uint32_t)b, (uint32_t)(b + len), ASSAY_MATCH_ATOM, 2);
                }
            }
        }
        free(hev);
    }
    free(selfg);
    (void)nself;
    free(grams);

    /* 3. the dictionary: the longest name at each start */
    {
        size_t blen;
        uint32_t *bcp;
        char *u = s_utf8(cp, n, &bcp, &blen);
        /* the longest name starting at each byte */
        uint32_t *best = assay_calloc(blen + 1, sizeof(uint32_t));
        uint32_t *bestp = assay_malloc((blen + 1) * sizeof(uint32_t));
        s_longest_t col = {best, bestp};
        assay_acmatch_scan(nz->ac, u, blen, ASSAY_AC_ASCII_WORDS, s_ac_keep, &col);
        size_t cover_end = 0; /* the leftmost-longest cover so far ends here */
        for (size_t i = 0; i < blen; i++) {
            if (!best[i]) continue;
            uint32_t pb = bcp[i], pe = bcp[i + best[i]];
            if (pe - pb < 2) continue;
            int covered = i >= cover_end;
            if (covered) cover_end = i + best[i];
            uint32_t p = bestp[i];
            /* an alias shared by several names: which of them shares most characters
             * with the matched text (冠心病 → 冠状动脉粥样硬化性心脏病 before 心绞痛) */
            uint32_t np = nz->pat_start[p + 1] - nz->pat_start[p];
            int best_ov = -1;
            for (uint32_t k = nz->pat_start[p]; k < nz->pat_start[p + 1]; k++) {
                int ov = s_overlap(cp + pb, pe - pb, &nz->labels[nz->pat_label[k]]);
                if (ov > best_ov) best_ov = ov;
            }
            for (uint32_t k = nz->pat_start[p]; k < nz->pat_start[p + 1]; k++) {
                s_cand_t *cd = s_cand(cs, nz->pat_label[k]);
                cd->f[F_DICT] = 1;
                if (covered) cd->f[F_COVERED] = 1;
                float amb = 1.0f / (float)np;
                if (amb > cd->f[F_AMBIG]) cd->f[F_AMBIG] = amb;
                if (s_overlap(cp + pb, pe - pb, &nz->labels[nz->pat_label[k]]) == best_ov)
                    cd->f[F_PREF] = 1;
                for (size_t q = 0; q < nseg; q++) {
                    if (segs[q].start <= pb && pb < segs[q].end) {
                        float sc2 = (float)(pe - pb) / (float)(segs[q].end - segs[q].start);
                        if (sc2 > 1) sc2 = 1;
                        if (sc2 > cd->f[F_SEGCOV]) cd->f[F_SEGCOV] = sc2;
                    }
                }
                float cov = (float)(pe - pb) / (float)n;
                if (cov > cd->f[F_DICTCOV]) cd->f[F_DICTCOV] = cov;
                int own = nz->pat_is_name[p] && nz->labels[nz->pat_label[k]].n == pe - pb &&
                          memcmp(nz->labels[nz->pat_label[k]].cp, cp + pb,
                                 (pe - pb) * sizeof(uint32_t)) == 0;
                s_set_span(cd, pb, pe, own ? ASSAY_MATCH_EXACT : ASSAY_MATCH_ALIAS, 3);
            }
        }
        free(best);
        free(bestp);
        free(bcp);
        free(u);
    }
    /* 4. fuzzy: each segment and the whole text */
    if (nz->opts.fuzzy) {
        for (size_t i = 0; i < nseg && i <= n; i++)
            s_fuzzy(nz, cp, segs[i].start, segs[i].end, cs, sc);
        s_fuzzy(nz, cp, 0, n, cs, sc);
    }
    /* 5. features of every candidate against the text */
    uint64_t *tb = assay_malloc((n + 1) * sizeof *tb);
    size_t ntb = s_bigrams(cp, n, tb);
    uint64_t *lb = NULL;
    size_t lb_cap = 0;
    for (size_t i = 0; i < cs->n; i++) {
        s_cand_t *c = &cs->c[i];
        const s_label_t *x = &nz->labels[c->label];
        c->f[F_SUBSTR] = s_cp_find(cp, n, x->cp, x->n) >= 0 ? 1.0f : 0.0f;
        if (x->n + 1 > lb_cap) {
            lb_cap = x->n + 1;
            lb = assay_realloc(lb, lb_cap * sizeof *lb);
        }
        size_t nl = s_bigrams(x->cp, x->n, lb);
        c->f[F_COV] = nl ? (float)s_sorted_common(tb, ntb, lb, nl) / (float)nl : 0;
        uint32_t freq = x->freq;
        if (self_ex && s_has_label(self_ex, c->label) && freq > 0) freq--;
        c->f[F_LOGFREQ] = (float)log1p((double)freq);
        c->f[F_UNSEEN] = freq == 0 ? 1.0f : 0.0f;
        c->f[F_NSEG] = (float)(nseg < 5 ? nseg : 5) / 5.0f;
        c->f[F_SUF1] = s_cp_find(cp, n, x->cp + x->n - 1, 1) >= 0 ? 1.0f : 0.0f;
        c->f[F_SUF2] = x->n >= 2 && s_cp_find(cp, n, x->cp + x->n - 2, 2) >= 0 ? 1.0f : 0.0f;
        c->f[F_VOTE_SIM] = c->f[F_VOTE] * c->f[F_MAXSIM];
        c->f[F_FUZZY2] = c->f[F_FUZZY] * c->f[F_FUZZY];
        c->f[F_DICT_FUZZY] = c->f[F_DICT] * c->f[F_FUZZY];
        c->f[F_BIAS] = 1.0f;
        if (!c->has_span) s_set_span(c, 0, (uint32_t)n, ASSAY_MATCH_FUZZY, 1);
    }
    free(lb);
    free(tb);
    free(segs);
}

static double s_sigmoid(double z)
{
    if (z > 30) z = 30;
    if (z < -30) z = -30;
    return 1.0 / (1.0 + exp(-z));
}

static double s_score(const double *w, const float *f)
{
    double z = 0;
    for (int i = 0; i < F_COUNT; i++)
        z += w[i] * f[i];
    return s_sigmoid(z);
}

/* ------------------------------------------------------- boosted trees */

/* Stage one is a small gradient-boosted ensemble of complete depth-3 trees (logistic
 * loss, Newton leaves, 32 quantile bins per feature): the features interact (a
 * dictionary match means little when it is a fragment of a longer name) and trees
 * capture that without hand-made crosses. */
#define S_TREES 150
#define S_DEPTH 3
#define S_INNER ((1 << S_DEPTH) - 1)
#define S_LEAVES (1 << S_DEPTH)
#define S_BINS 32
#define S_SHRINK 0.15
#define S_LAMBDA 1.0
#define S_MIN_HESS 1.0

struct s_tree {
    uint8_t feat[S_INNER];
    float thr[S_INNER]; /* go left when value <= thr */
    float leaf[S_LEAVES];
};

static double s_tree_margin(const assay_normalizer_t *nz, const float *f)
{
    double z = nz->tree_base;
    for (size_t t = 0; t < nz->n_trees; t++) {
        const struct s_tree *tr = &nz->trees[t];
        size_t i = 0;
        for (int d = 0; d < S_DEPTH; d++)
            i = 2 * i + 1 + (f[tr->feat[i]] > tr->thr[i]);
        z += tr->leaf[i - S_INNER];
    }
    return z;
}

static double s_score1(const assay_normalizer_t *nz, const float *f)
{
    return nz->n_trees ? s_sigmoid(s_tree_margin(nz, f)) : s_score(nz->w, f);
}

static int s_float_cmp(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

static void s_boost(assay_normalizer_t *nz, const float *X, const uint8_t *Y, size_t nrow)
{
    const size_t nf = F_COUNT;
    /* quantile thresholds per feature and the binned matrix */
    float(*thr)[S_BINS] = assay_malloc(nf * sizeof *thr);
    size_t nthr[F_COUNT];
    float *col = assay_malloc((nrow + 1) * sizeof(float));
    uint8_t *bin = assay_malloc(nrow * nf + 1);
    for (size_t f = 0; f < nf; f++) {
        for (size_t r = 0; r < nrow; r++)
            col[r] = X[r * nf + f];
        s_sort(col, nrow, sizeof(float), s_float_cmp);
        nthr[f] = 0;
        for (size_t k = 1; k < S_BINS; k++) {
            float v = col[(nrow - 1) * k / S_BINS];
            if (v < col[nrow - 1] && (nthr[f] == 0 || v > thr[f][nthr[f] - 1]))
                thr[f][nthr[f]++] = v;
        }
        for (size_t r = 0; r < nrow; r++) {
            float v = X[r * nf + f];
            size_t b = 0;
            while (b < nthr[f] && v > thr[f][b])
                b++;
            bin[r * nf + f] = (uint8_t)b;
        }
    }
    free(col);
    size_t pos = 0;
    for (size_t r = 0; r < nrow; r++)
        pos += Y[r];
    double prior = ((double)pos + 1) / ((double)(nrow - pos) + 1);
    nz->tree_base = log(prior);
    double *F = assay_malloc(nrow * sizeof(double));
    double *g = assay_malloc(nrow * sizeof(double)), *h = assay_malloc(nrow * sizeof(double));
    uint8_t *node = assay_malloc(nrow);
    for (size_t r = 0; r < nrow; r++)
        F[r] = nz->tree_base;
    nz->trees = assay_calloc(S_TREES, sizeof *nz->trees);
    /* histograms for the nodes of one level: [node][feature][bin] × (G, H) */
    size_t hsz = (size_t)S_LEAVES * nf * S_BINS * 2;
    double *hist = assay_malloc(hsz * sizeof(double));
    for (size_t t = 0; t < S_TREES; t++) {
        struct s_tree *tr = &nz->trees[t];
        for (size_t r = 0; r < nrow; r++) {
            double p = s_sigmoid(F[r]);
            g[r] = p - Y[r];
            h[r] = p * (1 - p) + 1e-6;
            node[r] = 0;
        }
        for (int d = 0; d < S_DEPTH; d++) {
            size_t nodes = (size_t)1 << d;
            memset(hist, 0, nodes * nf * S_BINS * 2 * sizeof(double));
            for (size_t r = 0; r < nrow; r++) {
                double *hn = hist + (size_t)node[r] * nf * S_BINS * 2;
                const uint8_t *br = bin + r * nf;
                for (size_t f = 0; f < nf; f++) {
                    hn[(f * S_BINS + br[f]) * 2] += g[r];
                    hn[(f * S_BINS + br[f]) * 2 + 1] += h[r];
                }
            }
            for (size_t j = 0; j < nodes; j++) {
                size_t heap = nodes - 1 + j;
                const double *hn = hist + j * nf * S_BINS * 2;
                double best = 1e-9;
                size_t bf = 0;
                float bthr = INFINITY;
                for (size_t f = 0; f < nf; f++) {
                    double G = 0, H = 0;
                    for (size_t b = 0; b <= nthr[f]; b++) {
                        G += hn[(f * S_BINS + b) * 2];
                        H += hn[(f * S_BINS + b) * 2 + 1];
                    }
                    double GL = 0, HL = 0;
                    for (size_t b = 0; b < nthr[f]; b++) {
                        GL += hn[(f * S_BINS + b) * 2];
                        HL += hn[(f * S_BINS + b) * 2 + 1];
                        double GR = G - GL, HR = H - HL;
                        if (HL < S_MIN_HESS || HR < S_MIN_HESS) continue;
                        double gain = GL * GL / (HL + S_LAMBDA) + GR * GR / (HR + S_LAMBDA) -
                                      G * G / (H + S_LAMBDA);
                        if (gain > best) {
                            best = gain;
                            bf = f;
                            bthr = thr[f][b];
                        }
                    }
                }
                tr->feat[heap] = (uint8_t)bf;
                tr->thr[heap] = bthr;
            }
            for (size_t r = 0; r < nrow; r++) {
                size_t heap = nodes - 1 + node[r];
                node[r] = (uint8_t)(2 * node[r] + (X[r * nf + tr->feat[heap]] > tr->thr[heap]));
            }
        }
        double G[S_LEAVES] = {0}, H[S_LEAVES] = {0};
        for (size_t r = 0; r < nrow; r++) {
            G[node[r]] += g[r];
            H[node[r]] += h[r];
        }
        for (size_t l = 0; l < S_LEAVES; l++)
            tr->leaf[l] = (float)(-G[l] / (H[l] + S_LAMBDA) * S_SHRINK);
        for (size_t r = 0; r < nrow; r++)
            F[r] += tr->leaf[node[r]];
        nz->n_trees = t + 1;
    }
    free(hist);
    free(node);
    free(g);
    free(h);
    free(F);
    free(bin);
    free(thr);
}

static void s_cands_reset(s_cands_t *cs)
{
    cs->n = 0;
    if (cs->ix.keys) memset(cs->ix.keys, 0, cs->ix.cap * sizeof *cs->ix.keys);
    cs->ix.n = 0;
}

static void s_cands_release(s_cands_t *cs)
{
    free(cs->c);
    s_map_release(&cs->ix);
}

/* stochastic gradient descent for a logistic regression, deterministic order */
static void s_sgd(double *w, size_t nf, const float *X, const uint8_t *Y, size_t nrow, int epochs)
{
    uint32_t *order = assay_malloc((nrow + 1) * sizeof(uint32_t));
    for (size_t i = 0; i < nrow; i++)
        order[i] = (uint32_t)i;
    uint64_t rng = 0x2545F4914F6CDD1DULL;
    const double lr = 0.1, l2 = 1e-4;
    for (int epoch = 0; epoch < epochs; epoch++) {
        for (size_t i = nrow; i > 1; i--) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            size_t j = (size_t)(rng % i);
            uint32_t t = order[i - 1];
            order[i - 1] = order[j];
            order[j] = t;
        }
        for (size_t k = 0; k < nrow; k++) {
            const float *x = X + (size_t)order[k] * nf;
            double z = 0;
            for (size_t f = 0; f < nf; f++)
                z += w[f] * x[f];
            double g = s_sigmoid(z) - Y[order[k]];
            for (size_t f = 0; f < nf; f++)
                w[f] -= lr * (g * x[f] + l2 * w[f]);
        }
    }
    free(order);
}

/* second-stage features for the n candidates of one text given their first-stage
 * scores p1 (any order); out is n × G_COUNT */
static void s_stage2(const double *p1, const float *f1, const uint32_t *cat, size_t n, float *out)
{
    double maxp = 0;
    size_t n50 = 0, n20 = 0;
    for (size_t i = 0; i < n; i++) {
        if (p1[i] > maxp) maxp = p1[i];
        n50 += p1[i] >= 0.5;
        n20 += p1[i] >= 0.2;
    }
    for (size_t i = 0; i < n; i++) {
        size_t rank = 0;
        for (size_t j = 0; j < n; j++)
            rank += p1[j] > p1[i] || (p1[j] == p1[i] && j < i);
        float *g = out + i * G_COUNT;
        double p = p1[i] < 1e-6 ? 1e-6 : p1[i] > 1 - 1e-6 ? 1 - 1e-6 : p1[i];
        g[G_P1] = (float)p1[i];
        g[G_LOGIT] = (float)(log(p / (1 - p)) / 5.0);
        g[G_TOP] = rank == 0;
        g[G_INVRANK] = (float)(1.0 / (1.0 + (double)rank));
        g[G_RATIO] = maxp > 0 ? (float)(p1[i] / maxp) : 0;
        g[G_GAP] = (float)(maxp - p1[i]);
        g[G_N50] = (float)(n50 < 5 ? n50 : 5) / 5.0f;
        g[G_N20] = (float)(n20 < 10 ? n20 : 10) / 10.0f;
        const float *f = f1 + i * F_COUNT;
        g[G_VOTE] = f[F_VOTE];
        g[G_DICT] = f[F_DICT];
        g[G_FUZZY] = f[F_FUZZY];
        g[G_NGEV] = f[F_NGEV];
        g[G_SUBSTR] = f[F_SUBSTR];
        g[G_SITEHEAD] = f[F_SITEHEAD];
        g[G_MAXSIM] = f[F_MAXSIM];
        /* names of the same ICD category compete: is a sibling ranked higher? */
        size_t sibs = 0, better = 0;
        for (size_t j = 0; j < n; j++) {
            if (j == i || cat[j] != cat[i]) continue;
            sibs++;
            better += p1[j] > p1[i] || (p1[j] == p1[i] && j < i);
        }
        g[G_SIBBETTER] = better > 0;
        g[G_SIBS] = (float)(sibs < 5 ? sibs : 5) / 5.0f;
        g[G_BIAS] = 1;
    }
}

/* the two logistic regressions on leave-one-out features of the known mentions */
static void s_train(assay_normalizer_t *nz)
{
    memset(nz->w, 0, sizeof nz->w);
    memset(nz->w2, 0, sizeof nz->w2);
    if (nz->n_ex < S_MIN_EXAMPLES) {
        /* too few known mentions to learn from: trust the dictionary and fuzzy scores */
        nz->w[F_COVERED] = 4.5;
        nz->w[F_DICTCOV] = 1.0;
        nz->w[F_FUZZY2] = 6.0;
        nz->w[F_BIAS] = -4.0;
        nz->w2[G_LOGIT] = 5.0;
        return;
    }
    size_t cap = 1 << 16, nrow = 0;
    float *X = assay_malloc(cap * F_COUNT * sizeof(float));
    uint8_t *Y = assay_malloc(cap);
    uint32_t *C = assay_malloc(cap * sizeof(uint32_t));
    uint32_t *gstart = assay_malloc((nz->n_ex + 1) * sizeof(uint32_t));
    s_cands_t cs = {0};
    s_map_init(&cs.ix, 256);
    s_scratch_t sc;
    s_scratch_init(&sc, nz);
    for (size_t i = 0; i < nz->n_ex; i++) {
        gstart[i] = (uint32_t)nrow;
        s_cands_reset(&cs);
        s_candidates(nz, nz->ex[i].cp, nz->ex[i].n, (uint32_t)i, &cs, &sc);
        for (size_t j = 0; j < cs.n; j++) {
            if (nrow == cap) {
                cap *= 2;
                X = assay_realloc(X, cap * F_COUNT * sizeof(float));
                Y = assay_realloc(Y, cap);
                C = assay_realloc(C, cap * sizeof(uint32_t));
            }
            memcpy(X + nrow * F_COUNT, cs.c[j].f, F_COUNT * sizeof(float));
            C[nrow] = nz->labels[cs.c[j].label].cat;
            Y[nrow++] = (uint8_t)s_has_label(&nz->ex[i], cs.c[j].label);
        }
    }
    gstart[nz->n_ex] = (uint32_t)nrow;
    s_scratch_release(&sc);
    s_cands_release(&cs);
    s_boost(nz, X, Y, nrow);
    /* stage two on the stage-one scores of each text */
    double *p1 = assay_malloc((nrow + 1) * sizeof(double));
    for (size_t r = 0; r < nrow; r++)
        p1[r] = s_score1(nz, X + r * F_COUNT);
    float *X2 = assay_malloc((nrow + 1) * G_COUNT * sizeof(float));
    for (size_t i = 0; i < nz->n_ex; i++)
        s_stage2(p1 + gstart[i], X + (size_t)gstart[i] * F_COUNT, C + gstart[i],
                 gstart[i + 1] - gstart[i], X2 + (size_t)gstart[i] * G_COUNT);
    s_sgd(nz->w2, G_COUNT, X2, Y, nrow, 15);
    free(X2);
    free(p1);
    free(C);
    free(gstart);
    free(X);
    free(Y);
}

void assay_normalizer_prepare(assay_normalizer_t *self)
{
    if (!self || self->prepared) return;
    self->prepared = 1;
    s_build_statistics(self);
    s_train(self);
}

typedef struct {
    double score;
    size_t idx;
} s_ranked_t;

static int s_ranked_cmp(const void *a, const void *b)
{
    const s_ranked_t *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int s_isalnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* inline ICD codes: [A-Z]dd with an optional .subcode, bounded by non-alphanumerics */
static void s_codes(const assay_normalizer_t *nz, const char *text, size_t len,
                    assay_entities_t *out)
{
    for (size_t i = 0; i + 3 <= len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < 'A' || c > 'Z') continue;
        if (i > 0 && (s_isalnum((unsigned char)text[i - 1]))) continue;
        if (!(text[i + 1] >= '0' && text[i + 1] <= '9' && text[i + 2] >= '0' && text[i + 2] <= '9'))
            continue;
        size_t e = i + 3;
        if (e < len && text[e] == '.') {
            size_t k = e + 1;
            while (k < len && k - e <= 12 &&
                   (s_isalnum((unsigned char)text[k]) || text[k] == '+' || text[k] == '*'))
                k++;
            if (k > e + 1) e = k;
        }
        if (e < len && s_isalnum((unsigned char)text[e])) continue;
        char code[24];
        size_t cl = e - i < sizeof code - 1 ? e - i : sizeof code - 1;
        memcpy(code, text + i, cl);
        code[cl] = '\0';
        assay_term_id_t id = assay_terms_find_code(nz->terms, nz->opts.system, code);
        /* a longer code not in the system: fall back to its category */
        if (id == ASSAY_TERM_NONE && cl > 3) {
            code[3] = '\0';
            id = assay_terms_find_code(nz->terms, nz->opts.system, code);
        }
        if (id == ASSAY_TERM_NONE) continue;
        assay_entity_t x = {0};
        x.start = i;
        x.end = e;
        x.concept = id;
        x.code = assay_terms_code(nz->terms, id);
        x.name = assay_terms_name(nz->terms, id);
        x.kind = ASSAY_MATCH_CODE;
        x.confidence = 1.0f;
        s_entities_push(out, &x);
        i = e - 1;
    }
}

/* exact_only: the leftmost-longest cover of names and aliases */
static void s_exact(const assay_normalizer_t *nz, const s_text_t *t, assay_entities_t *out)
{
    size_t blen;
    uint32_t *bcp;
    char *u = s_utf8(t->cp, t->n, &bcp, &blen);
    assay_acmatch_hit_t small[64];
    assay_acmatch_hit_t *hits = small;
    size_t nh = assay_acmatch_longest(nz->ac, u, blen, ASSAY_AC_ASCII_WORDS, small, 64);
    if (nh > 64) {
        hits = assay_malloc(nh * sizeof *hits);
        assay_acmatch_longest(nz->ac, u, blen, ASSAY_AC_ASCII_WORDS, hits, nh);
    }
    for (size_t i = 0; i < nh; i++) {
        uint32_t pb = bcp[hits[i].start], pe = bcp[hits[i].end];
        uint32_t p = hits[i].pattern;
        uint32_t np = nz->pat_start[p + 1] - nz->pat_start[p];
        if (np == 0) continue;
        /* the name the match resembles most (an alias may name several) */
        uint32_t best = nz->pat_label[nz->pat_start[p]];
        int best_ov = -1, ties = 0;
        for (uint32_t k = nz->pat_start[p]; k < nz->pat_start[p + 1]; k++) {
            int ov = s_overlap(t->cp + pb, pe - pb, &nz->labels[nz->pat_label[k]]);
            if (ov > best_ov) {
                best_ov = ov;
                best = nz->pat_label[k];
                ties = 1;
            } else if (ov == best_ov) {
                ties++;
            }
        }
        const s_label_t *x = &nz->labels[best];
        int dup = 0;
        for (size_t k = 0; k < out->n; k++)
        dup |= out->items[k].concept == x->concept;
        if (dup) continue;
        int own = x->n == pe - pb && memcmp(x->cp, t->cp + pb, (pe - pb) * sizeof(uint32_t)) == 0;
        assay_entity_t e = {0};
        e.start = t->bstart[pb];
        e.end = t->bend[pe - 1];
        e.concept = x->concept;
        e.code = assay_terms_code(nz->terms, x->concept);
        e.name = x->name;
        e.kind = own ? ASSAY_MATCH_EXACT : ASSAY_MATCH_ALIAS;
        /* a name 1, an alias of one name 0.9, of several 0.6 when one of them
         * resembles it most, else split between the equally close ones */
        e.confidence = own ? 1.0f : np == 1 ? 0.9f : ties == 1 ? 0.6f : 0.9f / (float)ties;
        if (nz->opts.max_entities && out->n >= nz->opts.max_entities) break;
        s_entities_push(out, &e);
    }
    if (hits != small) free(hits);
    free(bcp);
    free(u);
}

int assay_normalize_text(assay_normalizer_t *self, const char *text, size_t len,
                         assay_entities_t *out)
{
    out->n = 0;
    if (!text || !assay_utf8_valid(text, len)) return ASSAY_EINVAL;
    if (!self->prepared && !self->opts.exact_only) assay_normalizer_prepare(self);
    s_codes(self, text, len, out);
    s_text_t t;
    s_text_init(&t, text, len);
    if (self->opts.exact_only) {
        s_exact(self, &t, out);
        s_text_release(&t);
        /* segments of the entities */
        assay_span_t *segs = assay_malloc((len + 1) * sizeof *segs);
        size_t nseg = assay_normalize_split(text, len, segs, len + 1);
        for (size_t i = 0; i < out->n; i++)
            for (size_t k = 0; k < nseg; k++)
                if (segs[k].start <= out->items[i].start && out->items[i].start < segs[k].end)
                    out->items[i].segment = (uint32_t)k;
        free(segs);
        return (int)out->n;
    }
    if (t.n == 0) {
        s_text_release(&t);
        return (int)out->n;
    }
    s_cands_t cs = {0};
    s_map_init(&cs.ix, 256);
    s_scratch_t sc;
    s_scratch_init(&sc, self);
    s_candidates(self, t.cp, t.n, S_NONE, &cs, &sc);
    s_ranked_t *r = assay_malloc((cs.n + 1) * sizeof *r);
    double *p1 = assay_malloc((cs.n + 1) * sizeof(double));
    float *g2 = assay_malloc((cs.n + 1) * G_COUNT * sizeof(float));
    float *f1 = assay_malloc((cs.n + 1) * F_COUNT * sizeof(float));
    for (size_t i = 0; i < cs.n; i++) {
        p1[i] = s_score1(self, cs.c[i].f);
        memcpy(f1 + i * F_COUNT, cs.c[i].f, F_COUNT * sizeof(float));
    }
    uint32_t *cat = assay_malloc((cs.n + 1) * sizeof(uint32_t));
    for (size_t i = 0; i < cs.n; i++)
        cat[i] = self->labels[cs.c[i].label].cat;
    s_stage2(p1, f1, cat, cs.n, g2);
    free(cat);
    free(f1);
    for (size_t i = 0; i < cs.n; i++) {
        double z = 0;
        for (int f = 0; f < G_COUNT; f++)
            z += self->w2[f] * g2[i * G_COUNT + f];
        r[i].score = s_sigmoid(z);
        r[i].idx = i;
    }
    free(p1);
    free(g2);
    s_sort(r, cs.n, sizeof *r, s_ranked_cmp);
    size_t segs_cap = t.n + 1;
    assay_span_t *segs = assay_malloc(segs_cap * sizeof *segs);
    size_t nseg = s_split_cp(t.cp, t.n, segs, segs_cap);
    for (size_t i = 0; i < cs.n; i++) {
        if (r[i].score < self->opts.min_confidence) break;
        if (self->opts.max_entities && out->n >= self->opts.max_entities) break;
        const s_cand_t *c = &cs.c[r[i].idx];
        const s_label_t *x = &self->labels[c->label];
        int dup = 0;
        for (size_t k = 0; k < out->n; k++)
        dup |= out->items[k].concept == x->concept;
        if (dup) continue;
        assay_entity_t e = {0};
        e.start = t.bstart[c->span_b];
        e.end = t.bend[c->span_e - 1];
        e.segment = 0;
        for (size_t k = 0; k < nseg; k++)
            if (segs[k].start <= c->span_b && c->span_b < segs[k].end) e.segment = (uint32_t)k;
        e.concept = x->concept;
        e.code = assay_terms_code(self->terms, x->concept);
        e.name = x->name;
        e.kind = c->kind;
        e.confidence = (float)r[i].score;
        s_entities_push(out, &e);
    }
    free(segs);
    free(r);
    s_scratch_release(&sc);
    s_cands_release(&cs);
    s_text_release(&t);
    return (int)out->n;
}

size_t assay_entities_names(const assay_entities_t *e, const char **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < e->n; i++) {
        int dup = 0;
        for (size_t k = 0; k < n && k < max; k++)
            dup |= strcmp(out[k], e->items[i].name) == 0;
        if (dup) continue;
        if (n < max) out[n] = e->items[i].name;
        n++;
    }
    return n;
}
