/*  terms.c: see terms.h. Building (TSV rows → one pointer-free image), snapshot
 *  write/open (mmap), and every query on the image. */
#include "worker/domain/terms.h"

#include "common/error.h"
#include "common/rng.h"
#include "common/util.h"

#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* qsort that accepts an empty (NULL) array */
static void s_sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    if (n > 1) qsort(base, n, size, cmp);
}

/* ----------------------------------------------------------- image layout */

#define S_MAGIC "ASSAYTRM"
#define S_BYTE_ORDER 0x01020304u
#define S_HEADER_SIZE 512
#define S_NONE UINT32_MAX
#define S_NOT_POW2(n) ((n) == 0 || ((n) & ((n)-1)) != 0)

enum {
    SEC_STRINGS,
    SEC_CONCEPTS,
    SEC_CHILDREN,
    SEC_ALIASES,
    SEC_CODEHASH,
    SEC_NAMES,
    SEC_NAMEHASH,
    SEC_KGNODES,
    SEC_KGOUT,
    SEC_KGIN,
    SEC_KGHASH,
    SEC_LABELS,
    SEC_EXAMPLES,
    SEC_COUNT
};

typedef struct {
    char magic[8];
    uint32_t format_version;
    uint32_t byte_order;
    uint64_t image_size;
    char version[ASSAY_TERMS_VERSION_MAX];
    uint32_t n_sections;
    uint32_t reserved;
    struct {
        uint64_t off, size;
    } sect[SEC_COUNT];
} s_header_t;

typedef struct {
    uint32_t code, name, name_en, morph;
    uint32_t parent, child_start, child_n, alias_start, alias_n;
    uint8_t system, level, depth, flags;
} s_concept_t;

typedef struct {
    uint32_t text, concept;
    uint16_t type, source;
    uint32_t reserved;
} s_alias_t;

typedef struct {
    uint32_t key, concept, alias;
} s_name_t;

typedef struct {
    uint32_t name, type, out_start, out_n, in_start, in_n;
} s_kgnode_t;

typedef struct {
    uint32_t node;
    uint16_t relation, source;
} s_kgedge_t;

_Static_assert(sizeof(s_header_t) <= S_HEADER_SIZE, "terms header too large");
_Static_assert(sizeof(s_concept_t) == 40, "concept record layout");
_Static_assert(sizeof(s_alias_t) == 16, "alias record layout");
_Static_assert(sizeof(s_name_t) == 12, "name record layout");
_Static_assert(sizeof(s_kgnode_t) == 24, "kg node record layout");
_Static_assert(sizeof(s_kgedge_t) == 8, "kg edge record layout");

struct assay_terms {
    uint8_t *image;
    size_t size;
    int mapped;
    const s_header_t *hdr;
    const char *str;
    size_t str_size;
    const s_concept_t *concepts;
    size_t n_concepts;
    const uint32_t *children;
    size_t n_children;
    const s_alias_t *aliases;
    size_t n_aliases;
    const uint32_t *codehash;
    size_t codehash_n;
    const s_name_t *names;
    size_t n_names;
    const uint32_t *namehash;
    size_t namehash_n;
    const s_kgnode_t *kgnodes;
    size_t n_kgnodes;
    const s_kgedge_t *kgout;
    const s_kgedge_t *kgin;
    size_t n_kgedges;
    const uint32_t *kghash;
    size_t kghash_n;
    const uint32_t *labels;
    size_t n_labels;
    const uint32_t *examples; /* flat: mention, n_names, name × n_names (string offsets) */
    size_t examples_n;        /* u32 words */
    size_t n_examples;
    uint32_t *example_at; /* word index of each known mention (built when attached) */
};

/* ----------------------------------------------------------------- helpers */

static void s_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void s_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static uint64_t s_hash_code(uint8_t system, const char *code)
{
    uint64_t h = 1469598103934665603ULL ^ system;
    h *= 1099511628211ULL;
    for (const unsigned char *p = (const unsigned char *)code; *p; p++) {
        unsigned c = *p;
        if (c >= 'a' && c <= 'z') c -= 32;
        h ^= c;
        h *= 1099511628211ULL;
    }
    return h;
}

static uint64_t s_hash_str(const char *s)
{
    return assay_hash64(s, strlen(s));
}

static size_t s_pow2_at_least(size_t n)
{
    size_t c = 16;
    while (c < n)
        c <<= 1;
    return c;
}

/* append UTF-8 of cp */
static size_t s_put_utf8(char *out, size_t outlen, size_t pos, uint32_t cp)
{
    char tmp[4];
    size_t n;
    if (cp < 0x80) {
        tmp[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        tmp[0] = (char)(0xC0 | (cp >> 6));
        tmp[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        tmp[0] = (char)(0xE0 | (cp >> 12));
        tmp[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        tmp[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        tmp[0] = (char)(0xF0 | (cp >> 18));
        tmp[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        tmp[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        tmp[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    for (size_t i = 0; i < n; i++)
        if (pos + i + 1 < outlen) out[pos + i] = tmp[i];
    return pos + n;
}

/* decode one code point at s (never reads past a NUL); invalid bytes decode as
 * themselves (U+FFFD would change lengths callers rely on) */
static uint32_t s_next_cp(const unsigned char **sp)
{
    const unsigned char *s = *sp;
    uint32_t c = s[0];
    if (c < 0x80) {
        *sp = s + 1;
        return c;
    }
    if ((c & 0xE0) == 0xC0 && (s[1] & 0xC0) == 0x80) {
        *sp = s + 2;
        return ((c & 0x1F) << 6) | (s[1] & 0x3F);
    }
    if ((c & 0xF0) == 0xE0 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80) {
        *sp = s + 3;
        return ((c & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    }
    if ((c & 0xF8) == 0xF0 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80 &&
        (s[3] & 0xC0) == 0x80) {
        *sp = s + 4;
        return ((c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
               ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    }
    *sp = s + 1;
    return 0xDC00 | c; /* lone byte, kept distinct and reversible enough for keys */
}

size_t assay_terms_normkey(const char *s, char *out, size_t outlen)
{
    size_t pos = 0;
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        uint32_t cp = s_next_cp(&p);
        if (cp == ' ' || cp == '\t' || cp == '\r' || cp == '\n' || cp == 0x3000 || cp == 0xA0)
            continue;
        if (cp >= 0xFF01 && cp <= 0xFF5E) cp -= 0xFEE0; /* full-width ASCII */
        switch (cp) {
        case 0x3014:
        case 0x3010:
        case 0x3016:
            cp = '[';
            break; /* 〔【〖 */
        case 0x3015:
        case 0x3011:
        case 0x3017:
            cp = ']';
            break; /* 〕】〗 */
        case 0x2014:
        case 0x2013:
        case 0x2012:
        case 0x2010:
        case 0x2212:
            cp = '-';
            break;
        case 0x2018:
        case 0x2019:
            cp = '\'';
            break;
        case 0x201C:
        case 0x201D:
            cp = '"';
            break;
        default:
            break;
        }
        if (cp >= 'A' && cp <= 'Z') cp += 32;
        if ((cp & 0xFF00) == 0xDC00) { /* a lone invalid byte: copy it back */
            if (pos + 1 < outlen) out[pos] = (char)(cp & 0xFF);
            pos++;
            continue;
        }
        pos = s_put_utf8(out, outlen, pos, cp);
    }
    if (outlen) out[pos < outlen ? pos : outlen - 1] = '\0';
    return pos;
}

/* normkey into a new string */
static char *s_normkey_dup(const char *s)
{
    char small[256];
    size_t n = assay_terms_normkey(s, small, sizeof small);
    char *out = assay_malloc(n + 1);
    if (n < sizeof small) {
        memcpy(out, small, n + 1);
    } else {
        assay_terms_normkey(s, out, n + 1);
    }
    return out;
}

/* the code as written, without surrounding spaces (codes keep their case: the
 * standard writes A00.000x001; lookups ignore case) */
static void s_code_trim(const char *in, char *out, size_t outlen)
{
    while (*in == ' ' || *in == '\t')
        in++;
    size_t n = strlen(in);
    while (n > 0 && (in[n - 1] == ' ' || in[n - 1] == '\t'))
        n--;
    if (n >= outlen) n = outlen - 1;
    memcpy(out, in, n);
    out[n] = '\0';
}

static void s_code_upper(const char *in, char *out, size_t outlen)
{
    /* trim spaces, upper-case ASCII */
    while (*in == ' ' || *in == '\t')
        in++;
    size_t n = strlen(in);
    while (n > 0 && (in[n - 1] == ' ' || in[n - 1] == '\t'))
        n--;
    if (n >= outlen) n = outlen - 1;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        out[i] = (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
    }
    out[n] = '\0';
}

/* ------------------------------------------------------------ TSV files */

static const char *const s_hdr_icd10[] = {"code",
                                          "parent_code",
                                          "level",
                                          "name_zh",
                                          "name_en_icd10cm",
                                          "dagger_asterisk_or_mark",
                                          "morphology_code",
                                          "source",
                                          NULL};
static const char *const s_hdr_bj[] = {"code", "name_zh", NULL};
static const char *const s_hdr_syn[] = {
    "code", "code_system", "standard_name", "alias", "alias_type", "source", NULL};
static const char *const s_hdr_nodes[] = {"name", "type", "source", NULL};
static const char *const s_hdr_edges[] = {"head",      "relation", "tail", "head_type",
                                          "tail_type", "source",   NULL};

static const struct {
    const char *file;
    const char *const *header;
    size_t ncols;
} s_files[ASSAY_TERMS_FILE_COUNT] = {
    {"icd10.tsv", s_hdr_icd10, 8},        {"icd10_bj_v601.tsv", s_hdr_bj, 2},
    {"icd10_synonyms.tsv", s_hdr_syn, 6}, {"kg_nodes.tsv", s_hdr_nodes, 3},
    {"kg_edges.tsv", s_hdr_edges, 6},
};

const char *assay_terms_file_name(assay_terms_file_t f)
{
    return (unsigned)f < ASSAY_TERMS_FILE_COUNT ? s_files[f].file : "";
}

static int s_read_file(const char *path, char **data, size_t *len, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        int e = errno;
        s_err(err, errlen, "could not open file \"%s\": %s", path, strerror(e));
        return e == ENOENT ? ASSAY_ENOTFOUND : ASSAY_EIO;
    }
    assay_buf_t b = ASSAY_BUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
        assay_buf_add(&b, chunk, n);
    if (ferror(fp)) {
        s_err(err, errlen, "could not read file \"%s\": %s", path, strerror(errno));
        fclose(fp);
        assay_buf_release(&b);
        return ASSAY_EIO;
    }
    fclose(fp);
    if (!b.data) assay_buf_grow(&b, 1);
    *data = assay_buf_detach(&b, len);
    return 0;
}

int assay_terms_read_tsv(const char *dir, assay_terms_file_t f, assay_terms_row_fn row, void *arg,
                         char *err, size_t errlen)
{
    if ((unsigned)f >= ASSAY_TERMS_FILE_COUNT) {
        s_err(err, errlen, "unknown terminology file %d", (int)f);
        return ASSAY_EINVAL;
    }
    const char *fname = s_files[f].file;
    size_t ncols = s_files[f].ncols;
    char *path = assay_sprintf("%s/%s", dir, fname);
    char *data = NULL;
    size_t len = 0;
    int rc = s_read_file(path, &data, &len, err, errlen);
    free(path);
    if (rc < 0) return rc;

    char *fields[16];
    size_t line = 0;
    char *p = data, *end = data + len;
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3; /* byte-order mark */
    while (p < end) {
        line++;
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *eol = nl ? nl : end;
        char *next = nl ? nl + 1 : end;
        if (eol > p && eol[-1] == '\r') eol--;
        *eol = '\0';
        if (!assay_utf8_valid(p, (size_t)(eol - p))) {
            /* the field and character where the bad byte is */
            size_t col = 1, chr = 1, good = 0;
            for (size_t k = 1; k <= (size_t)(eol - p) && k <= good + 4; k++)
                if (assay_utf8_valid(p, k)) good = k; /* the longest valid prefix */
            for (size_t k = 0; k < good; k++) {
                if (p[k] == '\t') {
                    col++;
                    chr = 1;
                } else if (((unsigned char)p[k] & 0xC0) != 0x80) {
                    chr++;
                }
            }
            s_err(err, errlen, "%s:%zu:%zu: invalid UTF-8 at character %zu of the field", fname,
                  line, col, chr);
            rc = ASSAY_EPARSE;
            break;
        }
        if (eol == p && !nl) break; /* no final newline: nothing after */
        size_t nf = 0;
        char *q = p;
        for (;;) {
            char *tab = strchr(q, '\t');
            if (nf < ASSAY_ARRAY_LEN(fields)) fields[nf] = q;
            nf++;
            if (!tab) break;
            *tab = '\0';
            q = tab + 1;
        }
        if (eol == p) {
            s_err(err, errlen, "%s:%zu: empty line (expected %zu tab-separated fields)", fname,
                  line, ncols);
            rc = ASSAY_EPARSE;
            break;
        }
        if (nf != ncols) {
            s_err(err, errlen, "%s:%zu:%zu: expected %zu tab-separated fields, found %zu", fname,
                  line, (nf < ncols ? nf : ncols) + 1, ncols, nf);
            rc = ASSAY_EPARSE;
            break;
        }
        if (line == 1) {
            for (size_t i = 0; i < ncols; i++) {
                if (strcmp(fields[i], s_files[f].header[i]) != 0) {
                    s_err(err, errlen, "%s:1:%zu: header field %zu is \"%s\", expected \"%s\"",
                          fname, i + 1, i + 1, fields[i], s_files[f].header[i]);
                    rc = ASSAY_EPARSE;
                    goto out;
                }
            }
        } else {
            rc = row(arg, f, line, fields, nf, err, errlen);
            if (rc < 0) break;
        }
        p = next;
    }
    if (rc == 0 && line == 0) {
        s_err(err, errlen, "%s:1: empty file (expected a header line)", fname);
        rc = ASSAY_EPARSE;
    }
out:
    free(data);
    return rc;
}

/* ------------------------------------------------------------- builder */

/* interned strings: the pool and an open-addressing set of offsets */
typedef struct {
    assay_buf_t pool;
    uint32_t *slots;
    size_t cap, count;
} s_strtab_t;

static void s_strtab_init(s_strtab_t *t)
{
    assay_buf_init(&t->pool);
    assay_buf_addc(&t->pool, '\0'); /* offset 0 = "" */
    t->cap = 1 << 16;
    t->slots = assay_malloc(t->cap * sizeof(uint32_t));
    memset(t->slots, 0xFF, t->cap * sizeof(uint32_t));
    t->count = 0;
}

static void s_strtab_release(s_strtab_t *t)
{
    assay_buf_release(&t->pool);
    free(t->slots);
    t->slots = NULL;
}

static uint32_t s_intern(s_strtab_t *t, const char *s)
{
    if (!s || !*s) return 0;
    size_t len = strlen(s);
    if ((t->count + 1) * 2 > t->cap) {
        size_t ncap = t->cap * 2;
        uint32_t *ns = assay_malloc(ncap * sizeof(uint32_t));
        memset(ns, 0xFF, ncap * sizeof(uint32_t));
        for (size_t i = 0; i < t->cap; i++) {
            uint32_t off = t->slots[i];
            if (off == S_NONE) continue;
            size_t h = (size_t)s_hash_str(t->pool.data + off) & (ncap - 1);
            while (ns[h] != S_NONE)
                h = (h + 1) & (ncap - 1);
            ns[h] = off;
        }
        free(t->slots);
        t->slots = ns;
        t->cap = ncap;
    }
    size_t h = (size_t)assay_hash64(s, len) & (t->cap - 1);
    while (t->slots[h] != S_NONE) {
        if (strcmp(t->pool.data + t->slots[h], s) == 0) return t->slots[h];
        h = (h + 1) & (t->cap - 1);
    }
    uint32_t off = (uint32_t)t->pool.len;
    assay_buf_add(&t->pool, s, len + 1);
    t->slots[h] = off;
    t->count++;
    return off;
}

typedef struct {
    uint32_t code, name, name_en, morph, parent_code;
    uint32_t parent;
    uint8_t system, level, flags;
    int8_t level_from_parent; /* asterisk codes: level = parent's + 1 */
    uint32_t line;            /* source line, for error messages */
    uint8_t file;
} s_bconcept_t;

typedef struct {
    uint32_t name, key, type;
    uint32_t order;
} s_bnode_t;

typedef struct {
    uint32_t head, tail;
    uint16_t relation, source;
} s_bedge_t;

struct assay_terms_builder {
    s_strtab_t st;
    s_bconcept_t *concepts;
    size_t n_concepts, cap_concepts;
    /* (system, code) → concept index, during the build */
    uint32_t *codeslots;
    size_t codecap;
    s_alias_t *aliases;
    size_t n_aliases, cap_aliases;
    uint32_t *labels; /* label id → string offset */
    size_t n_labels, cap_labels;
    s_bnode_t *nodes;
    size_t n_nodes, cap_nodes;
    uint32_t *nodeslots; /* (key, type) → node */
    size_t nodecap;
    s_bedge_t *edges;
    size_t n_edges, cap_edges;
    int stage; /* highest concept file seen, to enforce the order */
    int parents_resolved;
    uint32_t *examples; /* known mentions, flat as in SEC_EXAMPLES */
    size_t n_examples_words, cap_examples_words, n_examples;
};

#define S_GROW(arr, n, cap)                                                                        \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            (cap) = (cap) ? (cap)*2 : 1024;                                                        \
            (arr) = assay_realloc((arr), (cap) * sizeof(*(arr)));                                  \
        }                                                                                          \
    } while (0)

assay_terms_builder_t *assay_terms_builder_new(void)
{
    assay_terms_builder_t *b = ASSAY_NEW(assay_terms_builder_t);
    s_strtab_init(&b->st);
    b->codecap = 1 << 16;
    b->codeslots = assay_malloc(b->codecap * sizeof(uint32_t));
    memset(b->codeslots, 0xFF, b->codecap * sizeof(uint32_t));
    b->nodecap = 1 << 14;
    b->nodeslots = assay_malloc(b->nodecap * sizeof(uint32_t));
    memset(b->nodeslots, 0xFF, b->nodecap * sizeof(uint32_t));
    b->stage = -1;
    return b;
}

void assay_terms_builder_destroy(assay_terms_builder_t **self_p)
{
    if (!self_p || !*self_p) return;
    assay_terms_builder_t *b = *self_p;
    s_strtab_release(&b->st);
    free(b->concepts);
    free(b->codeslots);
    free(b->aliases);
    free(b->labels);
    free(b->examples);
    free(b->nodes);
    free(b->nodeslots);
    free(b->edges);
    free(b);
    *self_p = NULL;
}

static const char *s_bstr(const assay_terms_builder_t *b, uint32_t off)
{
    return b->st.pool.data + off;
}

static uint16_t s_label(assay_terms_builder_t *b, const char *s)
{
    uint32_t off = s_intern(&b->st, s);
    for (size_t i = 0; i < b->n_labels; i++)
        if (b->labels[i] == off) return (uint16_t)i;
    S_GROW(b->labels, b->n_labels, b->cap_labels);
    b->labels[b->n_labels] = off;
    return (uint16_t)b->n_labels++;
}

static void s_code_rehash(assay_terms_builder_t *b)
{
    size_t ncap = b->codecap * 2;
    uint32_t *ns = assay_malloc(ncap * sizeof(uint32_t));
    memset(ns, 0xFF, ncap * sizeof(uint32_t));
    for (size_t i = 0; i < b->codecap; i++) {
        uint32_t c = b->codeslots[i];
        if (c == S_NONE) continue;
        size_t h =
            (size_t)s_hash_code(b->concepts[c].system, s_bstr(b, b->concepts[c].code)) & (ncap - 1);
        while (ns[h] != S_NONE)
            h = (h + 1) & (ncap - 1);
        ns[h] = c;
    }
    free(b->codeslots);
    b->codeslots = ns;
    b->codecap = ncap;
}

/* the slot for (system, code): holds the concept or S_NONE where it would go */
static size_t s_code_slot(const assay_terms_builder_t *b, uint8_t system, const char *code)
{
    size_t h = (size_t)s_hash_code(system, code) & (b->codecap - 1);
    while (b->codeslots[h] != S_NONE) {
        const s_bconcept_t *c = &b->concepts[b->codeslots[h]];
        if (c->system == system && strcasecmp(s_bstr(b, c->code), code) == 0) break;
        h = (h + 1) & (b->codecap - 1);
    }
    return h;
}

static uint32_t s_code_find(const assay_terms_builder_t *b, uint8_t system, const char *code)
{
    return b->codeslots[s_code_slot(b, system, code)];
}

/* a concept in system or, for a clinical system, in the shared levels */
static uint32_t s_code_find_sys(const assay_terms_builder_t *b, uint8_t system, const char *code)
{
    uint32_t c = s_code_find(b, system, code);
    if (c == S_NONE && system != ASSAY_SYS_ICD10) c = s_code_find(b, ASSAY_SYS_ICD10, code);
    return c;
}

static uint32_t s_add_concept(assay_terms_builder_t *b, const s_bconcept_t *c)
{
    if ((b->n_concepts + 1) * 2 > b->codecap) s_code_rehash(b);
    S_GROW(b->concepts, b->n_concepts, b->cap_concepts);
    uint32_t id = (uint32_t)b->n_concepts++;
    b->concepts[id] = *c;
    size_t slot = s_code_slot(b, c->system, s_bstr(b, c->code));
    b->codeslots[slot] = id;
    return id;
}

static int s_level_parse(const char *s, uint8_t *level, uint8_t *system, int *asterisk)
{
    static const struct {
        const char *name;
        uint8_t level, system;
    } map[] = {
        {"chapter", ASSAY_LEVEL_CHAPTER, ASSAY_SYS_ICD10},
        {"block", ASSAY_LEVEL_BLOCK, ASSAY_SYS_ICD10},
        {"category", ASSAY_LEVEL_CATEGORY, ASSAY_SYS_ICD10},
        {"subcategory", ASSAY_LEVEL_SUBCATEGORY, ASSAY_SYS_ICD10},
        {"clinical", ASSAY_LEVEL_CLINICAL, ASSAY_SYS_CLIN20},
        {"extension", ASSAY_LEVEL_EXTENSION, ASSAY_SYS_CLIN20},
        {"asterisk_code", 0, ASSAY_SYS_CLIN20},
    };
    for (size_t i = 0; i < ASSAY_ARRAY_LEN(map); i++) {
        if (strcmp(s, map[i].name) == 0) {
            *level = map[i].level;
            *system = map[i].system;
            *asterisk = map[i].level == 0;
            return 0;
        }
    }
    return ASSAY_EINVAL;
}

static int s_bad_code(const char *code)
{
    if (!*code) return 1;
    for (const unsigned char *p = (const unsigned char *)code; *p; p++)
        if (*p < 0x21 || *p > 0x7E) return 1;
    return 0;
}

static uint8_t s_code_flags(const char *code, const char *mark)
{
    uint8_t f = 0;
    size_t n = strlen(code);
    if (strchr(code, '+') || (mark && strchr(mark, '+'))) f |= ASSAY_TERM_DAGGER;
    if ((n > 0 && code[n - 1] == '*') || (mark && strcmp(mark, "*") == 0)) f |= ASSAY_TERM_ASTERISK;
    /* morphology codes look like M80000/3 */
    if (n >= 6 && code[0] == 'M' && strchr(code, '/')) f |= ASSAY_TERM_MORPHOLOGY;
    return f;
}

static int s_add_icd10(assay_terms_builder_t *b, const char *const *f, const char *where, char *err,
                       size_t errlen)
{
    char code[64];
    if (strlen(f[0]) >= sizeof code || s_bad_code(f[0])) {
        s_err(err, errlen,
              "%s: field \"code\": invalid code \"%.64s\" (expected printable ASCII "
              "without spaces, at most 63 bytes)",
              where, f[0]);
        return ASSAY_EPARSE;
    }
    s_code_trim(f[0], code, sizeof code);
    s_bconcept_t c = {0};
    int asterisk = 0;
    if (s_level_parse(f[2], &c.level, &c.system, &asterisk) < 0) {
        s_err(err, errlen,
              "%s: field \"level\": unknown level \"%s\" (expected chapter, block, "
              "category, subcategory, clinical, extension or asterisk_code)",
              where, f[2]);
        return ASSAY_EPARSE;
    }
    if (s_code_find(b, c.system, code) != S_NONE) {
        s_err(err, errlen, "%s: field \"code\": duplicate code \"%s\"", where, f[0]);
        return ASSAY_EPARSE;
    }
    /* an empty parent_code makes a root: the real data has a few orphan categories */
    if (c.level == ASSAY_LEVEL_CHAPTER && *f[1]) {
        s_err(err, errlen, "%s: field \"parent_code\": a chapter has no parent, found \"%s\"",
              where, f[1]);
        return ASSAY_EPARSE;
    }
    c.code = s_intern(&b->st, code);
    c.name = s_intern(&b->st, f[3]);
    c.name_en = s_intern(&b->st, f[4]);
    c.morph = s_intern(&b->st, f[6]);
    c.parent_code = s_intern(&b->st, f[1]);
    c.parent = S_NONE;
    c.flags = s_code_flags(code, f[5]);
    if (asterisk) {
        c.flags |= ASSAY_TERM_ASTERISK;
        c.level_from_parent = 1;
    }
    c.file = ASSAY_TERMS_ICD10;
    const char *colon = strrchr(where, ':');
    c.line = colon ? (uint32_t)strtoul(colon + 1, NULL, 10) : 0;
    s_add_concept(b, &c);
    return 0;
}

/* the parent of a bj_v601 code: the longest known proper prefix among the code up to
 * a dagger/asterisk mark, its subcategory (X99.9) and its category (X99) */
static uint32_t s_bj_parent(const assay_terms_builder_t *b, const char *code)
{
    char base[64];
    size_t n = strcspn(code, "+*");
    if (n >= sizeof base) n = sizeof base - 1;
    memcpy(base, code, n);
    base[n] = '\0';
    size_t cands[3] = {n, 5, 3};
    for (size_t i = 0; i < 3; i++) {
        size_t k = cands[i];
        if (k > n || k < 3) continue;
        if (k == strlen(code)) continue; /* not a proper prefix */
        char pre[64];
        memcpy(pre, base, k);
        pre[k] = '\0';
        if (k == 5 && pre[3] != '.') continue;
        uint32_t p = s_code_find_sys(b, ASSAY_SYS_BJV601, pre);
        if (p != S_NONE) return p;
    }
    return S_NONE;
}

static int s_add_bj(assay_terms_builder_t *b, const char *const *f, const char *where, char *err,
                    size_t errlen)
{
    char code[64];
    if (strlen(f[0]) >= sizeof code || s_bad_code(f[0])) {
        s_err(err, errlen,
              "%s: field \"code\": invalid code \"%.64s\" (expected printable ASCII "
              "without spaces, at most 63 bytes)",
              where, f[0]);
        return ASSAY_EPARSE;
    }
    s_code_trim(f[0], code, sizeof code);
    if (!*f[1]) {
        s_err(err, errlen, "%s: field \"name_zh\": empty name for code \"%s\"", where, f[0]);
        return ASSAY_EPARSE;
    }
    uint32_t shared = s_code_find(b, ASSAY_SYS_ICD10, code);
    if (shared != S_NONE) {
        /* the shared level: keep its name, record a differing v601 name as an alias */
        if (strcmp(s_bstr(b, b->concepts[shared].name), f[1]) != 0) {
            if (!*s_bstr(b, b->concepts[shared].name)) {
                b->concepts[shared].name = s_intern(&b->st, f[1]);
            } else {
                S_GROW(b->aliases, b->n_aliases, b->cap_aliases);
                s_alias_t *a = &b->aliases[b->n_aliases++];
                memset(a, 0, sizeof *a);
                a->text = s_intern(&b->st, f[1]);
                a->concept = shared;
                a->type = s_label(b, "bj_v601_name");
                a->source = s_label(b, "bj_v601");
            }
        }
        return 0;
    }
    if (s_code_find(b, ASSAY_SYS_BJV601, code) != S_NONE) {
        s_err(err, errlen, "%s: field \"code\": duplicate code \"%s\"", where, f[0]);
        return ASSAY_EPARSE;
    }
    s_bconcept_t c = {0};
    c.system = ASSAY_SYS_BJV601;
    c.code = s_intern(&b->st, code);
    c.name = s_intern(&b->st, f[1]);
    c.flags = s_code_flags(code, NULL);
    c.parent = (c.flags & ASSAY_TERM_MORPHOLOGY) ? S_NONE : s_bj_parent(b, code);
    size_t base = strcspn(code, "+*");
    c.level = base <= 3   ? ASSAY_LEVEL_CATEGORY
              : base <= 5 ? ASSAY_LEVEL_SUBCATEGORY
                          : ASSAY_LEVEL_CLINICAL;
    if (c.parent == S_NONE && !(c.flags & ASSAY_TERM_MORPHOLOGY) && base > 3) {
        s_err(err, errlen, "%s: field \"code\": no category or subcategory for \"%s\" in %s", where,
              f[0], s_files[ASSAY_TERMS_ICD10].file);
        return ASSAY_EPARSE;
    }
    c.parent_code = c.parent == S_NONE ? 0 : b->concepts[c.parent].code;
    c.file = ASSAY_TERMS_BJV601;
    const char *colon = strrchr(where, ':');
    c.line = colon ? (uint32_t)strtoul(colon + 1, NULL, 10) : 0;
    s_add_concept(b, &c);
    return 0;
}

static int s_add_synonym(assay_terms_builder_t *b, const char *const *f, const char *where,
                         char *err, size_t errlen)
{
    assay_code_system_t sys;
    if (assay_terms_system_parse(f[1], &sys) < 0 || sys == ASSAY_SYS_ICD10) {
        s_err(err, errlen,
              "%s: field \"code_system\": unknown code system \"%s\" (expected "
              "clin2.0 or bj_v601)",
              where, f[1]);
        return ASSAY_EPARSE;
    }
    char code[64];
    if (strlen(f[0]) >= sizeof code || s_bad_code(f[0])) {
        s_err(err, errlen, "%s: field \"code\": invalid code \"%.64s\"", where, f[0]);
        return ASSAY_EPARSE;
    }
    s_code_upper(f[0], code, sizeof code);
    uint32_t c = s_code_find_sys(b, (uint8_t)sys, code);
    if (c == S_NONE) {
        s_err(err, errlen, "%s: field \"code\": unknown %s code \"%s\"", where, f[1], f[0]);
        return ASSAY_EPARSE;
    }
    if (!*f[3]) {
        s_err(err, errlen, "%s: field \"alias\": empty alias", where);
        return ASSAY_EPARSE;
    }
    S_GROW(b->aliases, b->n_aliases, b->cap_aliases);
    s_alias_t *a = &b->aliases[b->n_aliases++];
    memset(a, 0, sizeof *a);
    a->text = s_intern(&b->st, f[3]);
    a->concept = c;
    a->type = s_label(b, *f[4] ? f[4] : "alias");
    a->source = s_label(b, *f[5] ? f[5] : "unknown");
    return 0;
}

static void s_node_rehash(assay_terms_builder_t *b)
{
    size_t ncap = b->nodecap * 2;
    uint32_t *ns = assay_malloc(ncap * sizeof(uint32_t));
    memset(ns, 0xFF, ncap * sizeof(uint32_t));
    for (size_t i = 0; i < b->nodecap; i++) {
        uint32_t n = b->nodeslots[i];
        if (n == S_NONE) continue;
        size_t h = (size_t)(b->nodes[n].key * 2654435761u ^ b->nodes[n].type * 40503u) & (ncap - 1);
        while (ns[h] != S_NONE)
            h = (h + 1) & (ncap - 1);
        ns[h] = n;
    }
    free(b->nodeslots);
    b->nodeslots = ns;
    b->nodecap = ncap;
}

/* find or add the node (name, type) */
static uint32_t s_node(assay_terms_builder_t *b, const char *name, const char *type)
{
    char *key = s_normkey_dup(name);
    uint32_t koff = s_intern(&b->st, key);
    free(key);
    uint32_t toff = s_label(b, type);
    if ((b->n_nodes + 1) * 2 > b->nodecap) s_node_rehash(b);
    size_t h = (size_t)(koff * 2654435761u ^ toff * 40503u) & (b->nodecap - 1);
    while (b->nodeslots[h] != S_NONE) {
        s_bnode_t *n = &b->nodes[b->nodeslots[h]];
        if (n->key == koff && n->type == toff) return b->nodeslots[h];
        h = (h + 1) & (b->nodecap - 1);
    }
    S_GROW(b->nodes, b->n_nodes, b->cap_nodes);
    uint32_t id = (uint32_t)b->n_nodes++;
    b->nodes[id].name = s_intern(&b->st, name);
    b->nodes[id].key = koff;
    b->nodes[id].type = toff;
    b->nodes[id].order = id;
    b->nodeslots[h] = id;
    return id;
}

static int s_resolve_parents(assay_terms_builder_t *b, char *err, size_t errlen)
{
    for (size_t i = 0; i < b->n_concepts; i++) {
        s_bconcept_t *c = &b->concepts[i];
        if (c->file != ASSAY_TERMS_ICD10 || !c->parent_code) continue;
        c->parent = s_code_find_sys(b, c->system, s_bstr(b, c->parent_code));
        if (c->parent == S_NONE || c->parent == i) {
            s_err(err, errlen, "%s:%u:2: field \"parent_code\": unknown parent code \"%s\"",
                  s_files[c->file].file, c->line, s_bstr(b, c->parent_code));
            return ASSAY_EPARSE;
        }
    }
    b->parents_resolved = 1;
    return 0;
}

int assay_terms_builder_add(assay_terms_builder_t *self, assay_terms_file_t f,
                            const char *const *fields, size_t nfields, const char *where, char *err,
                            size_t errlen)
{
    if (!self || (unsigned)f >= ASSAY_TERMS_FILE_COUNT) {
        s_err(err, errlen, "%s: unknown terminology file", where ? where : "?");
        return ASSAY_EINVAL;
    }
    where = where ? where : s_files[f].file;
    if (nfields != s_files[f].ncols) {
        s_err(err, errlen, "%s: expected %zu fields, found %zu", where, s_files[f].ncols, nfields);
        return ASSAY_EPARSE;
    }
    for (size_t i = 0; i < nfields; i++) {
        if (!fields[i]) {
            s_err(err, errlen, "%s: field \"%s\": missing", where, s_files[f].header[i]);
            return ASSAY_EINVAL;
        }
    }
    if (f <= ASSAY_TERMS_SYNONYMS) {
        /* icd10 parents may come in any order within the file: resolve them once the
         * file is complete, before v601 codes hang themselves under them */
        if (f > ASSAY_TERMS_ICD10 && !self->parents_resolved) {
            int rc = s_resolve_parents(self, err, errlen);
            if (rc < 0) return rc;
        }
        if ((int)f < self->stage) {
            s_err(err, errlen, "%s: %s rows must come before %s rows", where, s_files[f].file,
                  s_files[self->stage].file);
            return ASSAY_EINVAL;
        }
        self->stage = (int)f;
    }
    switch (f) {
    case ASSAY_TERMS_ICD10:
        return s_add_icd10(self, fields, where, err, errlen);
    case ASSAY_TERMS_BJV601:
        return s_add_bj(self, fields, where, err, errlen);
    case ASSAY_TERMS_SYNONYMS:
        return s_add_synonym(self, fields, where, err, errlen);
    case ASSAY_TERMS_KG_NODES:
        if (!*fields[0] || !*fields[1]) {
            s_err(err, errlen, "%s: field \"%s\": empty", where, *fields[0] ? "type" : "name");
            return ASSAY_EPARSE;
        }
        s_node(self, fields[0], fields[1]);
        return 0;
    case ASSAY_TERMS_KG_EDGES: {
        static const char *const names[] = {"head", "relation", "tail", "head_type", "tail_type"};
        for (size_t i = 0; i < 5; i++) {
            if (!*fields[i]) {
                s_err(err, errlen, "%s: field \"%s\": empty", where, names[i]);
                return ASSAY_EPARSE;
            }
        }
        uint32_t h = s_node(self, fields[0], fields[3]);
        uint32_t t = s_node(self, fields[2], fields[4]);
        S_GROW(self->edges, self->n_edges, self->cap_edges);
        s_bedge_t *e = &self->edges[self->n_edges++];
        e->head = h;
        e->tail = t;
        e->relation = s_label(self, fields[1]);
        e->source = s_label(self, *fields[5] ? fields[5] : "unknown");
        return 0;
    }
    default:
        return ASSAY_EINVAL;
    }
}

/* sorting helpers (qsort with context via a file-local pointer is a global; use
 * explicit keyed arrays instead) */
typedef struct {
    uint64_t k1, k2;
    uint32_t idx;
} s_sortrec_t;

static int s_sortrec_cmp(const void *a, const void *b)
{
    const s_sortrec_t *x = a, *y = b;
    if (x->k1 != y->k1) return x->k1 < y->k1 ? -1 : 1;
    if (x->k2 != y->k2) return x->k2 < y->k2 ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

typedef struct {
    assay_buf_t img;
    uint64_t off[SEC_COUNT], size[SEC_COUNT];
} s_image_t;

static void s_image_section(s_image_t *im, int sec, const void *data, size_t size)
{
    while (im->img.len % 8)
        assay_buf_addc(&im->img, '\0');
    im->off[sec] = im->img.len;
    im->size[sec] = size;
    if (size) assay_buf_add(&im->img, data, size);
}

static int s_attach(assay_terms_t *t, char *err, size_t errlen);

assay_terms_t *assay_terms_builder_finish(assay_terms_builder_t **self_p, char *err, size_t errlen)
{
    if (!self_p || !*self_p) {
        s_err(err, errlen, "no terminology builder");
        return NULL;
    }
    assay_terms_builder_t *b = *self_p;
    assay_terms_t *t = NULL;
    size_t nc = b->n_concepts;
    s_concept_t *cs = assay_calloc(nc ? nc : 1, sizeof *cs);
    uint32_t *children = NULL, *codehash = NULL, *namehash = NULL, *kghash = NULL;
    s_alias_t *aliases = NULL;
    s_name_t *names = NULL;
    s_kgnode_t *kgnodes = NULL;
    s_kgedge_t *kgout = NULL, *kgin = NULL;
    s_sortrec_t *sr = NULL;
    uint32_t *remap = NULL;
    size_t n_names = 0;

    /* 1. parents */
    if (!b->parents_resolved && s_resolve_parents(b, err, errlen) < 0) goto fail;
    for (size_t i = 0; i < nc; i++) {
        s_bconcept_t *c = &b->concepts[i];
        cs[i].code = c->code;
        cs[i].name = c->name;
        cs[i].name_en = c->name_en;
        cs[i].morph = c->morph;
        cs[i].parent = c->parent;
        cs[i].system = c->system;
        cs[i].level = c->level;
        cs[i].flags = c->flags;
    }
    /* 2. depth and derived levels (iterative with a cycle guard) */
    for (size_t i = 0; i < nc; i++) {
        size_t d = 0;
        uint32_t p = (uint32_t)i;
        while (p != S_NONE && d <= 64) {
            p = cs[p].parent;
            d++;
        }
        if (d > 64) {
            s_err(err, errlen, "%s:%u:2: field \"parent_code\": the parent chain of \"%s\" loops",
                  s_files[b->concepts[i].file].file, b->concepts[i].line, s_bstr(b, cs[i].code));
            goto fail;
        }
        cs[i].depth = (uint8_t)d;
    }
    for (size_t i = 0; i < nc; i++) {
        if (b->concepts[i].level_from_parent) {
            uint32_t p = cs[i].parent;
            int lv = p == S_NONE ? ASSAY_LEVEL_CATEGORY : cs[p].level + 1;
            if (lv > ASSAY_LEVEL_EXTENSION) lv = ASSAY_LEVEL_EXTENSION;
            cs[i].level = (uint8_t)lv;
        }
    }
    /* 3. children, grouped by parent in concept order */
    children = assay_calloc(nc ? nc : 1, sizeof(uint32_t));
    {
        for (size_t i = 0; i < nc; i++)
            if (cs[i].parent != S_NONE) cs[cs[i].parent].child_n++;
        uint32_t acc = 0;
        for (size_t i = 0; i < nc; i++) {
            cs[i].child_start = acc;
            acc += cs[i].child_n;
            cs[i].child_n = 0;
        }
        for (size_t i = 0; i < nc; i++) {
            uint32_t p = cs[i].parent;
            if (p != S_NONE) children[cs[p].child_start + cs[p].child_n++] = (uint32_t)i;
        }
    }
    /* 4. aliases by concept (stable), dropping ones equal to the standard name or to
     * an earlier alias of the same concept */
    size_t na = b->n_aliases;
    sr = assay_malloc((na + nc + 1) * sizeof *sr);
    for (size_t i = 0; i < na; i++) {
        sr[i].k1 = b->aliases[i].concept;
        sr[i].k2 = 0;
        sr[i].idx = (uint32_t)i;
    }
    s_sort(sr, na, sizeof *sr, s_sortrec_cmp);
    aliases = assay_calloc(na ? na : 1, sizeof *aliases);
    size_t n_al = 0;
    {
        char *k1 = NULL;
        for (size_t i = 0; i < na; i++) {
            const s_alias_t *a = &b->aliases[sr[i].idx];
            s_concept_t *c = &cs[a->concept];
            if (c->alias_n == 0) c->alias_start = (uint32_t)n_al;
            char *ka = s_normkey_dup(s_bstr(b, a->text));
            k1 = s_normkey_dup(s_bstr(b, c->name));
            int dup = strcmp(ka, k1) == 0;
            free(k1);
            for (size_t j = c->alias_start; !dup && j < n_al; j++) {
                char *kj = s_normkey_dup(s_bstr(b, aliases[j].text));
                dup = strcmp(ka, kj) == 0;
                free(kj);
            }
            free(ka);
            if (dup) continue;
            aliases[n_al++] = *a;
            c->alias_n++;
        }
    }
    /* 5. names: standard names and aliases under their normalised keys */
    names = assay_malloc((nc + n_al + 1) * sizeof *names);
    for (size_t i = 0; i < nc; i++) {
        if (!*s_bstr(b, cs[i].name)) continue;
        char *k = s_normkey_dup(s_bstr(b, cs[i].name));
        if (*k) {
            names[n_names].key = s_intern(&b->st, k);
            names[n_names].concept = (uint32_t)i;
            names[n_names].alias = S_NONE;
            n_names++;
        }
        free(k);
    }
    for (size_t i = 0; i < nc; i++) {
        for (uint32_t j = 0; j < cs[i].alias_n; j++) {
            char *k = s_normkey_dup(s_bstr(b, aliases[cs[i].alias_start + j].text));
            if (*k) {
                names[n_names].key = s_intern(&b->st, k);
                names[n_names].concept = (uint32_t)i;
                names[n_names].alias = j;
                n_names++;
            }
            free(k);
        }
    }
    /* group by key; within a key standard names first, then concept order */
    free(sr);
    sr = assay_malloc((n_names + 1) * sizeof *sr);
    for (size_t i = 0; i < n_names; i++) {
        sr[i].k1 = names[i].key;
        sr[i].k2 = ((uint64_t)(names[i].alias == S_NONE ? 0 : 1) << 32) | names[i].concept;
        sr[i].idx = (uint32_t)i;
    }
    s_sort(sr, n_names, sizeof *sr, s_sortrec_cmp);
    {
        s_name_t *sorted = assay_malloc((n_names + 1) * sizeof *sorted);
        for (size_t i = 0; i < n_names; i++)
            sorted[i] = names[sr[i].idx];
        free(names);
        names = sorted;
    }
    /* 6. KG nodes sorted by normalised name then type, edges remapped */
    size_t nn = b->n_nodes, ne = b->n_edges;
    free(sr);
    sr = assay_malloc((nn + 1) * sizeof *sr);
    for (size_t i = 0; i < nn; i++) {
        /* sort by key string content so the order does not depend on interning */
        sr[i].k1 = b->nodes[i].key;
        sr[i].k2 = b->nodes[i].type;
        sr[i].idx = (uint32_t)i;
    }
    s_sort(sr, nn, sizeof *sr, s_sortrec_cmp);
    remap = assay_malloc((nn + 1) * sizeof *remap);
    kgnodes = assay_calloc(nn ? nn : 1, sizeof *kgnodes);
    for (size_t i = 0; i < nn; i++) {
        remap[sr[i].idx] = (uint32_t)i;
        kgnodes[i].name = b->nodes[sr[i].idx].name;
        kgnodes[i].type = b->nodes[sr[i].idx].type; /* a label id */
    }
    kgout = assay_calloc(ne ? ne : 1, sizeof *kgout);
    kgin = assay_calloc(ne ? ne : 1, sizeof *kgin);
    for (size_t i = 0; i < ne; i++) {
        kgnodes[remap[b->edges[i].head]].out_n++;
        kgnodes[remap[b->edges[i].tail]].in_n++;
    }
    {
        uint32_t ao = 0, ai = 0;
        for (size_t i = 0; i < nn; i++) {
            kgnodes[i].out_start = ao;
            ao += kgnodes[i].out_n;
            kgnodes[i].out_n = 0;
            kgnodes[i].in_start = ai;
            ai += kgnodes[i].in_n;
            kgnodes[i].in_n = 0;
        }
        for (size_t i = 0; i < ne; i++) {
            uint32_t h = remap[b->edges[i].head], tl = remap[b->edges[i].tail];
            s_kgedge_t *o = &kgout[kgnodes[h].out_start + kgnodes[h].out_n++];
            o->node = tl;
            o->relation = b->edges[i].relation;
            o->source = b->edges[i].source;
            s_kgedge_t *in = &kgin[kgnodes[tl].in_start + kgnodes[tl].in_n++];
            in->node = h;
            in->relation = b->edges[i].relation;
            in->source = b->edges[i].source;
        }
    }
    /* 7. hash tables */
    size_t codehash_n = s_pow2_at_least(nc * 2 + 1);
    codehash = assay_malloc(codehash_n * sizeof(uint32_t));
    memset(codehash, 0xFF, codehash_n * sizeof(uint32_t));
    for (size_t i = 0; i < nc; i++) {
        size_t h = (size_t)s_hash_code(cs[i].system, s_bstr(b, cs[i].code)) & (codehash_n - 1);
        while (codehash[h] != S_NONE)
            h = (h + 1) & (codehash_n - 1);
        codehash[h] = (uint32_t)i;
    }
    size_t namehash_n = s_pow2_at_least(n_names * 2 + 1);
    namehash = assay_malloc(namehash_n * sizeof(uint32_t));
    memset(namehash, 0xFF, namehash_n * sizeof(uint32_t));
    for (size_t i = 0; i < n_names; i++) {
        if (i > 0 && names[i].key == names[i - 1].key) continue;
        size_t h = (size_t)s_hash_str(s_bstr(b, names[i].key)) & (namehash_n - 1);
        while (namehash[h] != S_NONE)
            h = (h + 1) & (namehash_n - 1);
        namehash[h] = (uint32_t)i;
    }
    size_t kghash_n = s_pow2_at_least(nn * 2 + 1);
    kghash = assay_malloc(kghash_n * sizeof(uint32_t));
    memset(kghash, 0xFF, kghash_n * sizeof(uint32_t));
    for (size_t i = 0; i < nn; i++) {
        uint32_t key = b->nodes[sr[i].idx].key;
        if (i > 0 && b->nodes[sr[i - 1].idx].key == key) continue;
        size_t h = (size_t)s_hash_str(s_bstr(b, key)) & (kghash_n - 1);
        while (kghash[h] != S_NONE)
            h = (h + 1) & (kghash_n - 1);
        kghash[h] = (uint32_t)i;
    }
    if (b->st.pool.len > UINT32_MAX) {
        s_err(err, errlen, "terminology strings exceed 4 GiB");
        goto fail;
    }
    /* 8. the image */
    {
        s_image_t im;
        memset(&im, 0, sizeof im);
        assay_buf_init(&im.img);
        assay_buf_grow(&im.img, S_HEADER_SIZE + b->st.pool.len + nc * 64 + n_names * 24);
        uint8_t zero[S_HEADER_SIZE];
        memset(zero, 0, sizeof zero);
        assay_buf_add(&im.img, zero, sizeof zero);
        s_image_section(&im, SEC_STRINGS, b->st.pool.data, b->st.pool.len);
        s_image_section(&im, SEC_CONCEPTS, cs, nc * sizeof *cs);
        s_image_section(&im, SEC_CHILDREN, children, nc * sizeof(uint32_t));
        s_image_section(&im, SEC_ALIASES, aliases, n_al * sizeof *aliases);
        s_image_section(&im, SEC_CODEHASH, codehash, codehash_n * sizeof(uint32_t));
        s_image_section(&im, SEC_NAMES, names, n_names * sizeof *names);
        s_image_section(&im, SEC_NAMEHASH, namehash, namehash_n * sizeof(uint32_t));
        s_image_section(&im, SEC_KGNODES, kgnodes, nn * sizeof *kgnodes);
        s_image_section(&im, SEC_KGOUT, kgout, ne * sizeof *kgout);
        s_image_section(&im, SEC_KGIN, kgin, ne * sizeof *kgin);
        s_image_section(&im, SEC_KGHASH, kghash, kghash_n * sizeof(uint32_t));
        s_image_section(&im, SEC_LABELS, b->labels, b->n_labels * sizeof(uint32_t));
        s_image_section(&im, SEC_EXAMPLES, b->examples, b->n_examples_words * sizeof(uint32_t));
        while (im.img.len % 8)
            assay_buf_addc(&im.img, '\0');
        s_header_t *h = (s_header_t *)im.img.data;
        memcpy(h->magic, S_MAGIC, 8);
        h->format_version = ASSAY_TERMS_FORMAT_VERSION;
        h->byte_order = S_BYTE_ORDER;
        h->image_size = im.img.len;
        h->n_sections = SEC_COUNT;
        for (int s = 0; s < SEC_COUNT; s++) {
            h->sect[s].off = im.off[s];
            h->sect[s].size = im.size[s];
        }
        char hex[65];
        assay_sha256_hex(im.img.data + S_HEADER_SIZE, im.img.len - S_HEADER_SIZE, hex);
        snprintf(h->version, sizeof h->version, "t1-%.16s", hex);
        t = ASSAY_NEW(assay_terms_t);
        t->image = (uint8_t *)assay_buf_detach(&im.img, &t->size);
        t->mapped = 0;
        if (s_attach(t, err, errlen) < 0) {
            assay_terms_destroy(&t);
            goto fail;
        }
    }
fail:
    free(cs);
    free(children);
    free(aliases);
    free(names);
    free(codehash);
    free(namehash);
    free(kgnodes);
    free(kgout);
    free(kgin);
    free(kghash);
    free(sr);
    free(remap);
    assay_terms_builder_destroy(self_p);
    return t;
}

/* ------------------------------------------------------- known mentions */

static const char *s_str(const assay_terms_t *t, uint32_t off);

int assay_terms_builder_add_example(assay_terms_builder_t *self, const char *mention,
                                    const char *const *names, size_t n_names, const char *where,
                                    char *err, size_t errlen)
{
    if (!mention || !*mention) {
        s_err(err, errlen, "%s: field \"text\": expected a non-empty mention", where);
        return ASSAY_EINVAL;
    }
    if (n_names == 0) return 0; /* nothing to learn */
    if (n_names > 1024) {
        s_err(err, errlen, "%s: field \"normalized\": %zu names (expected at most 1024)", where,
              n_names);
        return ASSAY_EINVAL;
    }
    size_t need = self->n_examples_words + 2 + n_names;
    if (need > self->cap_examples_words) {
        size_t cap = self->cap_examples_words ? self->cap_examples_words * 2 : 4096;
        while (cap < need)
            cap *= 2;
        self->examples = assay_realloc(self->examples, cap * sizeof(uint32_t));
        self->cap_examples_words = cap;
    }
    uint32_t *w = self->examples + self->n_examples_words;
    w[0] = s_intern(&self->st, mention);
    w[1] = (uint32_t)n_names;
    for (size_t i = 0; i < n_names; i++)
        w[2 + i] = s_intern(&self->st, names[i] ? names[i] : "");
    self->n_examples_words = need;
    self->n_examples++;
    return 0;
}

static const char *const s_example_files[] = {"chip_cdn_train.jsonl", "known_mentions.jsonl",
                                              NULL};

const char *const *assay_terms_example_files(void)
{
    return s_example_files;
}

/* the column (1-based, in characters) of byte offset off within line */
static size_t s_column(const char *line, size_t off)
{
    size_t col = 1;
    for (size_t i = 0; i < off && line[i]; i++)
        if (((unsigned char)line[i] & 0xC0) != 0x80) col++;
    return col;
}

int assay_terms_read_examples(const char *path, const char *fname, assay_terms_builder_t *b,
                              size_t *added, char *err, size_t errlen)
{
    char *data = NULL;
    size_t len = 0;
    int rc = s_read_file(path, &data, &len, err, errlen);
    if (rc < 0) return rc;
    size_t line = 0, kept = 0;
    char *p = data, *end = data + len;
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3;
    while (p < end && rc == 0) {
        line++;
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *eol = nl ? nl : end;
        char *next = nl ? nl + 1 : end;
        if (eol > p && eol[-1] == '\r') eol--;
        *eol = '\0';
        size_t ll = (size_t)(eol - p);
        const char *q = p;
        while (*q == ' ' || *q == '\t')
            q++;
        if (*q == '\0') { /* blank lines are allowed */
            p = next;
            continue;
        }
        json_error_t je;
        json_t *o = json_loadb(p, ll, 0, &je);
        if (!o) {
            s_err(err, errlen, "%s:%zu:%d: invalid JSON: %s", fname, line,
                  je.column > 0 ? je.column : 1, je.text);
            rc = ASSAY_EPARSE;
            break;
        }
        const json_t *jt = json_object_get(o, "text");
        const json_t *jn = json_object_get(o, "normalized");
        if (!jn) jn = json_object_get(o, "names");
        if (!json_is_object(o) || !json_is_string(jt) || !json_is_array(jn)) {
            const char *what = !json_is_object(o) ? NULL : !json_is_string(jt) ? "text" : "normalized";
            const char *at = what ? strstr(p, what) : NULL;
            s_err(err, errlen,
                  "%s:%zu:%zu: expected an object {\"text\": mention, \"normalized\": [standard "
                  "names]}%s%s%s",
                  fname, line, at ? s_column(p, (size_t)(at - p)) - 1 : (size_t)1,
                  what ? " (field \"" : "", what ? what : "", what ? "\" missing or mistyped)" : "");
            json_decref(o);
            rc = ASSAY_EPARSE;
            break;
        }
        const char *names[64];
        size_t nn = 0;
        for (size_t i = 0; i < json_array_size(jn) && nn < 64; i++) {
            const json_t *v = json_array_get(jn, i);
            if (!json_is_string(v)) {
                const char *at = strstr(p, "normalized");
                if (!at) at = strstr(p, "names");
                s_err(err, errlen, "%s:%zu:%zu: field \"normalized[%zu]\": expected a string",
                      fname, line, at ? s_column(p, (size_t)(at - p)) : (size_t)1, i);
                rc = ASSAY_EPARSE;
                break;
            }
            if (json_string_length(v) > 0) names[nn++] = json_string_value(v);
        }
        char where[160];
        snprintf(where, sizeof where, "%s:%zu", fname, line);
        if (rc == 0 && json_string_length(jt) > 0 && nn > 0) {
            rc = assay_terms_builder_add_example(b, json_string_value(jt), names, nn, where, err,
                                                 errlen);
            if (rc == 0) kept++;
        }
        json_decref(o);
        p = next;
    }
    free(data);
    if (added) *added = kept;
    return rc;
}

size_t assay_terms_example_count(const assay_terms_t *self)
{
    return self ? self->n_examples : 0;
}

const char *assay_terms_example(const assay_terms_t *self, size_t i, size_t *n_names)
{
    if (!self || i >= self->n_examples) {
        if (n_names) *n_names = 0;
        return NULL;
    }
    size_t w = self->example_at[i];
    if (n_names) *n_names = self->examples[w + 1];
    return s_str(self, self->examples[w]);
}

const char *assay_terms_example_name(const assay_terms_t *self, size_t i, size_t j)
{
    if (!self || i >= self->n_examples) return "";
    size_t w = self->example_at[i];
    return j < self->examples[w + 1] ? s_str(self, self->examples[w + 2 + j]) : "";
}

/* ----------------------------------------------------- loading and opening */

typedef struct {
    assay_terms_builder_t *b;
} s_load_ctx_t;

static int s_load_row(void *arg, assay_terms_file_t f, size_t line, char **fields, size_t nfields,
                      char *err, size_t errlen)
{
    s_load_ctx_t *ctx = arg;
    char where[96];
    snprintf(where, sizeof where, "%s:%zu", s_files[f].file, line);
    int rc = assay_terms_builder_add(ctx->b, f, (const char *const *)fields, nfields, where, err,
                                     errlen);
    /* name the column too: `file:line:column: field "F": ...` */
    size_t wl = strlen(where);
    if (rc < 0 && err && errlen && strncmp(err, where, wl) == 0 && err[wl] == ':' &&
        strncmp(err + wl, ": field \"", 9) == 0) {
        const char *fname = err + wl + 9;
        for (size_t i = 0; i < s_files[f].ncols; i++) {
            size_t hl = strlen(s_files[f].header[i]);
            if (strncmp(fname, s_files[f].header[i], hl) == 0 && fname[hl] == '"') {
                char *rest = assay_strdup(err + wl);
                snprintf(err, errlen, "%s:%zu%s", where, i + 1, rest);
                free(rest);
                break;
            }
        }
    }
    return rc;
}

static assay_terms_t *s_load_dir(const char *dir, int examples, char *err, size_t errlen);

assay_terms_t *assay_terms_load_dir(const char *dir, char *err, size_t errlen)
{
    return s_load_dir(dir, 1, err, errlen);
}

assay_terms_t *assay_terms_load_tsv(const char *dir, char *err, size_t errlen)
{
    return s_load_dir(dir, 0, err, errlen);
}

static assay_terms_t *s_load_dir(const char *dir, int examples, char *err, size_t errlen)
{
    s_load_ctx_t ctx = {assay_terms_builder_new()};
    for (int f = 0; f < ASSAY_TERMS_FILE_COUNT; f++) {
        int rc = assay_terms_read_tsv(dir, (assay_terms_file_t)f, s_load_row, &ctx, err, errlen);
        if (rc == ASSAY_ENOTFOUND && f >= ASSAY_TERMS_KG_NODES) continue; /* optional graph */
        if (rc < 0) {
            assay_terms_builder_destroy(&ctx.b);
            return NULL;
        }
    }
    /* known mentions (mention → standard names) found next to the TSVs */
    for (const char *const *fn = s_example_files; examples && *fn; fn++) {
        char *path = assay_sprintf("%s/%s", dir, *fn);
        int rc = assay_terms_read_examples(path, *fn, ctx.b, NULL, err, errlen);
        free(path);
        if (rc == ASSAY_ENOTFOUND) continue;
        if (rc < 0) {
            assay_terms_builder_destroy(&ctx.b);
            return NULL;
        }
    }
    return assay_terms_builder_finish(&ctx.b, err, errlen);
}

/* bind section pointers and validate everything a query could follow */
static int s_attach(assay_terms_t *t, char *err, size_t errlen)
{
    if (t->size < S_HEADER_SIZE) {
        s_err(err, errlen, "file too small for a terminology snapshot (%zu bytes)", t->size);
        return ASSAY_EPARSE;
    }
    const s_header_t *h = (const s_header_t *)t->image;
    if (memcmp(h->magic, S_MAGIC, 8) != 0) {
        s_err(err, errlen, "not a terminology snapshot (bad magic)");
        return ASSAY_EPARSE;
    }
    if (h->byte_order != S_BYTE_ORDER) {
        s_err(err, errlen, "terminology snapshot has another byte order");
        return ASSAY_EVERSION;
    }
    if (h->format_version != ASSAY_TERMS_FORMAT_VERSION) {
        s_err(err, errlen, "unsupported terminology snapshot format %u (expected %d)",
              h->format_version, ASSAY_TERMS_FORMAT_VERSION);
        return ASSAY_EVERSION;
    }
    if (h->image_size != t->size || h->n_sections != SEC_COUNT ||
        memchr(h->version, '\0', sizeof h->version) == NULL) {
        s_err(err, errlen, "damaged terminology snapshot header (size %llu, file %zu bytes)",
              (unsigned long long)h->image_size, t->size);
        return ASSAY_EPARSE;
    }
    static const size_t recsize[SEC_COUNT] = {1,
                                              sizeof(s_concept_t),
                                              4,
                                              sizeof(s_alias_t),
                                              4,
                                              sizeof(s_name_t),
                                              4,
                                              sizeof(s_kgnode_t),
                                              sizeof(s_kgedge_t),
                                              sizeof(s_kgedge_t),
                                              4,
                                              4,
                                              4};
    for (int s = 0; s < SEC_COUNT; s++) {
        uint64_t off = h->sect[s].off, size = h->sect[s].size;
        if (off < S_HEADER_SIZE || off % 8 || off > t->size || size > t->size - off ||
            size % recsize[s]) {
            s_err(err, errlen, "damaged terminology snapshot: section %d out of bounds", s);
            return ASSAY_EPARSE;
        }
    }
#define SEC(s, type) ((const type *)(t->image + h->sect[s].off))
#define CNT(s, type) ((size_t)(h->sect[s].size / sizeof(type)))
    t->hdr = h;
    t->str = SEC(SEC_STRINGS, char);
    t->str_size = h->sect[SEC_STRINGS].size;
    t->concepts = SEC(SEC_CONCEPTS, s_concept_t);
    t->n_concepts = CNT(SEC_CONCEPTS, s_concept_t);
    t->children = SEC(SEC_CHILDREN, uint32_t);
    t->n_children = CNT(SEC_CHILDREN, uint32_t);
    t->aliases = SEC(SEC_ALIASES, s_alias_t);
    t->n_aliases = CNT(SEC_ALIASES, s_alias_t);
    t->codehash = SEC(SEC_CODEHASH, uint32_t);
    t->codehash_n = CNT(SEC_CODEHASH, uint32_t);
    t->names = SEC(SEC_NAMES, s_name_t);
    t->n_names = CNT(SEC_NAMES, s_name_t);
    t->namehash = SEC(SEC_NAMEHASH, uint32_t);
    t->namehash_n = CNT(SEC_NAMEHASH, uint32_t);
    t->kgnodes = SEC(SEC_KGNODES, s_kgnode_t);
    t->n_kgnodes = CNT(SEC_KGNODES, s_kgnode_t);
    t->kgout = SEC(SEC_KGOUT, s_kgedge_t);
    t->kgin = SEC(SEC_KGIN, s_kgedge_t);
    t->n_kgedges = CNT(SEC_KGOUT, s_kgedge_t);
    t->kghash = SEC(SEC_KGHASH, uint32_t);
    t->kghash_n = CNT(SEC_KGHASH, uint32_t);
    t->labels = SEC(SEC_LABELS, uint32_t);
    t->n_labels = CNT(SEC_LABELS, uint32_t);
    t->examples = SEC(SEC_EXAMPLES, uint32_t);
    t->examples_n = CNT(SEC_EXAMPLES, uint32_t);
#undef SEC
#undef CNT
    const char *bad = NULL;
    size_t nc = t->n_concepts, ns = t->str_size, nl = t->n_labels, nn = t->n_kgnodes;
    if (ns == 0 || t->str[ns - 1] != '\0') bad = "string pool";
    if (!bad && (t->n_children != nc || S_NOT_POW2(t->codehash_n) || S_NOT_POW2(t->namehash_n) ||
                 S_NOT_POW2(t->kghash_n) || h->sect[SEC_KGIN].size != h->sect[SEC_KGOUT].size))
        bad = "table sizes";
    for (size_t i = 0; !bad && i < nl; i++)
        if (t->labels[i] >= ns) bad = "labels";
    for (size_t i = 0; !bad && i < nc; i++) {
        const s_concept_t *c = &t->concepts[i];
        if (c->code >= ns || c->name >= ns || c->name_en >= ns || c->morph >= ns ||
            (c->parent != S_NONE && c->parent >= nc) || c->child_start > nc ||
            c->child_n > nc - c->child_start || c->alias_start > t->n_aliases ||
            c->alias_n > t->n_aliases - c->alias_start || c->system >= ASSAY_SYS_COUNT)
            bad = "concepts";
    }
    for (size_t i = 0; !bad && i < nc; i++)
        if (t->children[i] >= nc) bad = "children";
    for (size_t i = 0; !bad && i < t->n_aliases; i++) {
        const s_alias_t *a = &t->aliases[i];
        if (a->text >= ns || a->concept >= nc || a->type >= nl || a->source >= nl) bad = "aliases";
    }
    for (size_t i = 0; !bad && i < t->n_names; i++) {
        const s_name_t *n = &t->names[i];
        if (n->key >= ns || n->concept >= nc ||
            (n->alias != S_NONE && n->alias >= t->concepts[n->concept].alias_n))
            bad = "names";
    }
    for (size_t i = 0; !bad && i < t->codehash_n; i++)
        if (t->codehash[i] != S_NONE && t->codehash[i] >= nc) bad = "code index";
    for (size_t i = 0; !bad && i < t->namehash_n; i++)
        if (t->namehash[i] != S_NONE && t->namehash[i] >= t->n_names) bad = "name index";
    for (size_t i = 0; !bad && i < t->kghash_n; i++)
        if (t->kghash[i] != S_NONE && t->kghash[i] >= nn) bad = "graph index";
    for (size_t i = 0; !bad && i < nn; i++) {
        const s_kgnode_t *n = &t->kgnodes[i];
        if (n->name >= ns || n->type >= nl || n->out_start > t->n_kgedges ||
            n->out_n > t->n_kgedges - n->out_start || n->in_start > t->n_kgedges ||
            n->in_n > t->n_kgedges - n->in_start)
            bad = "graph nodes";
    }
    for (size_t i = 0; !bad && i < t->n_kgedges; i++) {
        if (t->kgout[i].node >= nn || t->kgin[i].node >= nn || t->kgout[i].relation >= nl ||
            t->kgin[i].relation >= nl || t->kgout[i].source >= nl || t->kgin[i].source >= nl)
            bad = "graph edges";
    }
    /* known mentions: every record inside the section, every string in the pool */
    t->n_examples = 0;
    for (size_t i = 0; !bad && i < t->examples_n;) {
        if (i + 2 > t->examples_n || t->examples[i] >= ns ||
            t->examples[i + 1] > t->examples_n - i - 2) {
            bad = "known mentions";
            break;
        }
        size_t k = t->examples[i + 1];
        for (size_t j = 0; j < k; j++)
            if (t->examples[i + 2 + j] >= ns) bad = "known mentions";
        i += 2 + k;
        t->n_examples++;
    }
    free(t->example_at);
    t->example_at = NULL;
    if (!bad && t->n_examples) {
        t->example_at = assay_malloc(t->n_examples * sizeof(uint32_t));
        for (size_t i = 0, k = 0; k < t->n_examples; k++) {
            t->example_at[k] = (uint32_t)i;
            i += 2 + t->examples[i + 1];
        }
    }
    if (bad) {
        s_err(err, errlen, "damaged terminology snapshot: invalid %s", bad);
        return ASSAY_EPARSE;
    }
    return 0;
}

assay_terms_t *assay_terms_open_snapshot(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        s_err(err, errlen, "could not open file \"%s\": %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        s_err(err, errlen, "could not stat file \"%s\": %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (st.st_size < S_HEADER_SIZE) {
        s_err(err, errlen, "\"%s\" is not a terminology snapshot: too small (%lld bytes)", path,
              (long long)st.st_size);
        close(fd);
        return NULL;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) {
        s_err(err, errlen, "could not map file \"%s\": %s", path, strerror(e));
        return NULL;
    }
    assay_terms_t *t = ASSAY_NEW(assay_terms_t);
    t->image = p;
    t->size = (size_t)st.st_size;
    t->mapped = 1;
    char why[256];
    if (s_attach(t, why, sizeof why) < 0) {
        s_err(err, errlen, "could not open terminology snapshot \"%s\": %s", path, why);
        assay_terms_destroy(&t);
        return NULL;
    }
    return t;
}

assay_terms_t *assay_terms_from_image(const void *image, size_t size, char *err, size_t errlen)
{
    assay_terms_t *t = ASSAY_NEW(assay_terms_t);
    /* 8-aligned storage, as the record arrays need */
    t->image = assay_malloc(size ? size : 1);
    if (size) memcpy(t->image, image, size);
    t->size = size;
    t->mapped = 0;
    if (s_attach(t, err, errlen) < 0) {
        assay_terms_destroy(&t);
        return NULL;
    }
    return t;
}

assay_terms_t *assay_terms_open(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (!path || !*path) {
        s_err(err, errlen, "no terminology path given");
        return NULL;
    }
    if (stat(path, &st) < 0) {
        s_err(err, errlen, "could not stat \"%s\": %s", path, strerror(errno));
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) return assay_terms_load_dir(path, err, errlen);
    return assay_terms_open_snapshot(path, err, errlen);
}

int assay_terms_write_snapshot(const assay_terms_t *self, const char *path, char *err,
                               size_t errlen)
{
    char *tmp = assay_sprintf("%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        s_err(err, errlen, "could not create file \"%s\": %s", tmp, strerror(errno));
        free(tmp);
        return ASSAY_EIO;
    }
    size_t done = 0;
    while (done < self->size) {
        ssize_t n = write(fd, self->image + done, self->size - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            s_err(err, errlen, "could not write file \"%s\": %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            free(tmp);
            return ASSAY_EIO;
        }
        done += (size_t)n;
    }
    if (fsync(fd) < 0 || close(fd) < 0) {
        s_err(err, errlen, "could not write file \"%s\": %s", tmp, strerror(errno));
        unlink(tmp);
        free(tmp);
        return ASSAY_EIO;
    }
    if (rename(tmp, path) < 0) {
        s_err(err, errlen, "could not rename file \"%s\" to \"%s\": %s", tmp, path,
              strerror(errno));
        unlink(tmp);
        free(tmp);
        return ASSAY_EIO;
    }
    free(tmp);
    return 0;
}

void assay_terms_destroy(assay_terms_t **self_p)
{
    if (!self_p || !*self_p) return;
    assay_terms_t *t = *self_p;
    if (t->mapped)
        munmap(t->image, t->size);
    else
        free(t->image);
    free(t->example_at);
    free(t);
    *self_p = NULL;
}

const char *assay_terms_version(const assay_terms_t *self)
{
    return self->hdr->version;
}

void assay_terms_stats(const assay_terms_t *self, assay_terms_stats_t *out)
{
    memset(out, 0, sizeof *out);
    out->concepts = self->n_concepts;
    for (size_t i = 0; i < self->n_concepts; i++)
        out->per_system[self->concepts[i].system]++;
    out->aliases = self->n_aliases;
    out->names = self->n_names;
    out->kg_nodes = self->n_kgnodes;
    out->kg_edges = self->n_kgedges;
    out->examples = self->n_examples;
    out->strings_bytes = self->str_size;
    out->image_bytes = self->size;
    out->mapped = self->mapped;
}

const void *assay_terms_image(const assay_terms_t *self, size_t *size)
{
    if (size) *size = self->size;
    return self->image;
}

/* ---------------------------------------------------------------- concepts */

static const char *const s_sys_names[ASSAY_SYS_COUNT] = {"icd10", "clin2.0", "bj_v601"};

const char *assay_terms_system_name(assay_code_system_t sys)
{
    if ((unsigned)sys < ASSAY_SYS_COUNT) return s_sys_names[sys];
    return sys == ASSAY_SYS_ANY ? "any" : "unknown";
}

int assay_terms_system_parse(const char *s, assay_code_system_t *out)
{
    if (!s) return ASSAY_EINVAL;
    for (int i = 0; i < ASSAY_SYS_COUNT; i++) {
        if (strcmp(s, s_sys_names[i]) == 0) {
            *out = (assay_code_system_t)i;
            return 0;
        }
    }
    if (strcmp(s, "clin2") == 0 || strcmp(s, "clin") == 0) {
        *out = ASSAY_SYS_CLIN20;
        return 0;
    }
    if (strcmp(s, "bj") == 0 || strcmp(s, "v601") == 0) {
        *out = ASSAY_SYS_BJV601;
        return 0;
    }
    return ASSAY_EINVAL;
}

const char *assay_terms_level_name(assay_term_level_t level)
{
    static const char *const n[] = {"unknown",     "chapter",  "block",    "category",
                                    "subcategory", "clinical", "extension"};
    return (unsigned)level < ASSAY_ARRAY_LEN(n) ? n[level] : "unknown";
}

size_t assay_terms_concept_count(const assay_terms_t *self)
{
    return self->n_concepts;
}

static const char *s_str(const assay_terms_t *t, uint32_t off)
{
    return t->str + off;
}

int assay_terms_concept(const assay_terms_t *self, assay_term_id_t id, assay_concept_t *out)
{
    if (id >= self->n_concepts) return ASSAY_ENOTFOUND;
    const s_concept_t *c = &self->concepts[id];
    out->id = id;
    out->code = s_str(self, c->code);
    out->name = s_str(self, c->name);
    out->name_en = s_str(self, c->name_en);
    out->morphology = s_str(self, c->morph);
    out->parent = c->parent;
    out->system = c->system;
    out->level = c->level;
    out->depth = c->depth;
    out->flags = c->flags;
    return 0;
}

const char *assay_terms_code(const assay_terms_t *self, assay_term_id_t id)
{
    return id < self->n_concepts ? s_str(self, self->concepts[id].code) : "";
}

const char *assay_terms_name(const assay_terms_t *self, assay_term_id_t id)
{
    return id < self->n_concepts ? s_str(self, self->concepts[id].name) : "";
}

assay_term_id_t assay_terms_parent(const assay_terms_t *self, assay_term_id_t id)
{
    return id < self->n_concepts ? self->concepts[id].parent : ASSAY_TERM_NONE;
}

int assay_terms_depth(const assay_terms_t *self, assay_term_id_t id)
{
    return id < self->n_concepts ? self->concepts[id].depth : 0;
}

int assay_terms_level(const assay_terms_t *self, assay_term_id_t id)
{
    return id < self->n_concepts ? self->concepts[id].level : 0;
}

int assay_terms_system(const assay_terms_t *self, assay_term_id_t id)
{
    return id < self->n_concepts ? self->concepts[id].system : -1;
}

static assay_term_id_t s_find_code1(const assay_terms_t *t, uint8_t sys, const char *code)
{
    size_t mask = t->codehash_n - 1;
    size_t h = (size_t)s_hash_code(sys, code) & mask;
    for (size_t probes = 0; probes < t->codehash_n; probes++) {
        uint32_t c = t->codehash[h];
        if (c == S_NONE) return ASSAY_TERM_NONE;
        if (t->concepts[c].system == sys && strcasecmp(s_str(t, t->concepts[c].code), code) == 0)
            return c;
        h = (h + 1) & mask;
    }
    return ASSAY_TERM_NONE;
}

assay_term_id_t assay_terms_find_code(const assay_terms_t *self, assay_code_system_t sys,
                                      const char *code)
{
    if (!code) return ASSAY_TERM_NONE;
    char buf[64];
    s_code_upper(code, buf, sizeof buf);
    if (!*buf) return ASSAY_TERM_NONE;
    assay_term_id_t id = ASSAY_TERM_NONE;
    if (sys == ASSAY_SYS_ANY) {
        id = s_find_code1(self, ASSAY_SYS_CLIN20, buf);
        if (id == ASSAY_TERM_NONE) id = s_find_code1(self, ASSAY_SYS_BJV601, buf);
    } else if ((unsigned)sys < ASSAY_SYS_COUNT) {
        id = s_find_code1(self, (uint8_t)sys, buf);
    } else {
        return ASSAY_TERM_NONE;
    }
    if (id == ASSAY_TERM_NONE && sys != ASSAY_SYS_ICD10)
        id = s_find_code1(self, ASSAY_SYS_ICD10, buf);
    return id;
}

/* index of the first NAMES record with key, or S_NONE */
static uint32_t s_name_group(const assay_terms_t *t, const char *key)
{
    size_t mask = t->namehash_n - 1;
    size_t h = (size_t)s_hash_str(key) & mask;
    for (size_t probes = 0; probes < t->namehash_n; probes++) {
        uint32_t i = t->namehash[h];
        if (i == S_NONE) return S_NONE;
        if (strcmp(s_str(t, t->names[i].key), key) == 0) return i;
        h = (h + 1) & mask;
    }
    return S_NONE;
}

static int s_sys_ok(uint8_t have, assay_code_system_t want)
{
    return want == ASSAY_SYS_ANY || have == want || have == ASSAY_SYS_ICD10;
}

size_t assay_terms_find_name(const assay_terms_t *self, const char *name, assay_code_system_t sys,
                             assay_name_hit_t *out, size_t max)
{
    if (!name) return 0;
    char small[512];
    char *key = small;
    size_t n = assay_terms_normkey(name, small, sizeof small);
    if (n >= sizeof small) key = s_normkey_dup(name);
    size_t total = 0;
    uint32_t g = *key ? s_name_group(self, key) : S_NONE;
    if (g != S_NONE) {
        uint32_t k = self->names[g].key;
        for (size_t i = g; i < self->n_names && self->names[i].key == k; i++) {
            const s_name_t *r = &self->names[i];
            if (!s_sys_ok(self->concepts[r->concept].system, sys)) continue;
            if (total < max) {
                out[total].concept = r->concept;
                out[total].alias = r->alias;
            }
            total++;
        }
    }
    if (key != small) free(key);
    return total;
}

/* how many characters of a (with multiplicity) also occur in b: ranks the concepts an
 * ambiguous alias points to (冠心病 shares 冠, 心, 病 with 冠状动脉粥样硬化性心脏病 but only
 * 心 with 心绞痛) */
static int s_char_overlap(const char *a, const char *b)
{
    uint32_t bc[256];
    size_t nb = 0;
    for (const unsigned char *p = (const unsigned char *)b; *p && nb < 256;)
        bc[nb++] = s_next_cp(&p);
    int shared = 0;
    for (const unsigned char *p = (const unsigned char *)a; *p;) {
        uint32_t c = s_next_cp(&p);
        for (size_t i = 0; i < nb; i++) {
            if (bc[i] == c) {
                bc[i] = UINT32_MAX;
                shared++;
                break;
            }
        }
    }
    return shared;
}

assay_term_id_t assay_terms_lookup(const assay_terms_t *self, const char *name,
                                   assay_code_system_t sys)
{
    assay_name_hit_t hits[64];
    size_t n = assay_terms_find_name(self, name, sys, hits, ASSAY_ARRAY_LEN(hits));
    if (n > ASSAY_ARRAY_LEN(hits)) n = ASSAY_ARRAY_LEN(hits);
    assay_term_id_t best = ASSAY_TERM_NONE;
    int best_depth = -1;
    for (size_t i = 0; i < n; i++) {
        if (hits[i].alias != UINT32_MAX) continue;
        int d = self->concepts[hits[i].concept].depth;
        if (d > best_depth) {
            best = hits[i].concept;
            best_depth = d;
        }
    }
    if (best != ASSAY_TERM_NONE) return best;
    /* only aliases: the concept whose standard name shares most characters with the
     * alias, then the deepest, then the first */
    int best_overlap = -1;
    for (size_t i = 0; i < n; i++) {
        const s_concept_t *c = &self->concepts[hits[i].concept];
        int ov = s_char_overlap(name, s_str(self, c->name));
        if (ov > best_overlap || (ov == best_overlap && c->depth > best_depth)) {
            best = hits[i].concept;
            best_overlap = ov;
            best_depth = c->depth;
        }
    }
    return best;
}

size_t assay_terms_alias_count(const assay_terms_t *self, assay_term_id_t id)
{
    return id < self->n_concepts ? self->concepts[id].alias_n : 0;
}

int assay_terms_alias(const assay_terms_t *self, assay_term_id_t id, size_t i, assay_alias_t *out)
{
    if (id >= self->n_concepts || i >= self->concepts[id].alias_n) return ASSAY_ENOTFOUND;
    const s_alias_t *a = &self->aliases[self->concepts[id].alias_start + i];
    out->text = s_str(self, a->text);
    out->type = s_str(self, self->labels[a->type]);
    out->source = s_str(self, self->labels[a->source]);
    return 0;
}

size_t assay_terms_child_count(const assay_terms_t *self, assay_term_id_t id)
{
    return id < self->n_concepts ? self->concepts[id].child_n : 0;
}

assay_term_id_t assay_terms_child(const assay_terms_t *self, assay_term_id_t id, size_t i)
{
    if (id >= self->n_concepts || i >= self->concepts[id].child_n) return ASSAY_TERM_NONE;
    return self->children[self->concepts[id].child_start + i];
}

size_t assay_terms_ancestors(const assay_terms_t *self, assay_term_id_t id, assay_term_id_t *out,
                             size_t max)
{
    size_t n = 0;
    if (id >= self->n_concepts) return 0;
    /* depth bounds the walk even on a hand-made image with a cycle */
    for (assay_term_id_t p = self->concepts[id].parent; p != S_NONE && n < 255;
         p = self->concepts[p].parent) {
        if (n < max) out[n] = p;
        n++;
    }
    return n;
}

int assay_terms_is_ancestor(const assay_terms_t *self, assay_term_id_t anc, assay_term_id_t id)
{
    if (anc >= self->n_concepts || id >= self->n_concepts) return 0;
    for (size_t steps = 0; id != S_NONE && steps < 256; steps++) {
        if (id == anc) return 1;
        id = self->concepts[id].parent;
    }
    return 0;
}

assay_term_id_t assay_terms_lca(const assay_terms_t *self, assay_term_id_t a, assay_term_id_t b)
{
    if (a >= self->n_concepts || b >= self->n_concepts) return ASSAY_TERM_NONE;
    int da = self->concepts[a].depth, db = self->concepts[b].depth;
    int guard = 512;
    while (da > db && a != S_NONE && guard--) {
        a = self->concepts[a].parent;
        da--;
    }
    while (db > da && b != S_NONE && guard--) {
        b = self->concepts[b].parent;
        db--;
    }
    while (a != b && a != S_NONE && b != S_NONE && guard-- > 0) {
        a = self->concepts[a].parent;
        b = self->concepts[b].parent;
    }
    return (a == b && a != S_NONE) ? a : ASSAY_TERM_NONE;
}

int assay_terms_path_distance(const assay_terms_t *self, assay_term_id_t a, assay_term_id_t b)
{
    assay_term_id_t l = assay_terms_lca(self, a, b);
    if (l == ASSAY_TERM_NONE) return -1;
    return (self->concepts[a].depth - self->concepts[l].depth) +
           (self->concepts[b].depth - self->concepts[l].depth);
}

/* ------------------------------------------------------------- the graph */

size_t assay_terms_kg_node_count(const assay_terms_t *self)
{
    return self->n_kgnodes;
}

size_t assay_terms_kg_edge_count(const assay_terms_t *self)
{
    return self->n_kgedges;
}

int assay_terms_kg_node(const assay_terms_t *self, assay_term_id_t node, assay_kg_node_t *out)
{
    if (node >= self->n_kgnodes) return ASSAY_ENOTFOUND;
    out->id = node;
    out->name = s_str(self, self->kgnodes[node].name);
    out->type = s_str(self, self->labels[self->kgnodes[node].type]);
    return 0;
}

const char *assay_terms_kg_name(const assay_terms_t *self, assay_term_id_t node)
{
    return node < self->n_kgnodes ? s_str(self, self->kgnodes[node].name) : "";
}

const char *assay_terms_kg_type(const assay_terms_t *self, assay_term_id_t node)
{
    return node < self->n_kgnodes ? s_str(self, self->labels[self->kgnodes[node].type]) : "";
}

static int s_key_eq_name(const char *key, const char *name)
{
    char small[512];
    size_t n = assay_terms_normkey(name, small, sizeof small);
    if (n < sizeof small) return strcmp(key, small) == 0;
    char *k = s_normkey_dup(name);
    int eq = strcmp(key, k) == 0;
    free(k);
    return eq;
}

size_t assay_terms_kg_find(const assay_terms_t *self, const char *name, const char *type,
                           assay_term_id_t *out, size_t max)
{
    if (!name || self->n_kgnodes == 0) return 0;
    char *key = s_normkey_dup(name);
    size_t total = 0;
    size_t mask = self->kghash_n - 1;
    size_t h = (size_t)s_hash_str(key) & mask;
    uint32_t first = S_NONE;
    for (size_t probes = 0; *key && probes < self->kghash_n; probes++) {
        uint32_t i = self->kghash[h];
        if (i == S_NONE) break;
        if (s_key_eq_name(key, s_str(self, self->kgnodes[i].name))) {
            first = i;
            break;
        }
        h = (h + 1) & mask;
    }
    for (size_t i = first; first != S_NONE && i < self->n_kgnodes; i++) {
        if (!s_key_eq_name(key, s_str(self, self->kgnodes[i].name))) break;
        if (type && strcmp(type, s_str(self, self->labels[self->kgnodes[i].type])) != 0) continue;
        if (total < max) out[total] = (assay_term_id_t)i;
        total++;
    }
    free(key);
    return total;
}

static size_t s_edges(const assay_terms_t *t, assay_term_id_t node, const char *relation,
                      assay_kg_dir_t dir, assay_kg_edge_t *out, size_t max)
{
    if (node >= t->n_kgnodes) return 0;
    int rel = -1;
    if (relation) {
        for (size_t l = 0; l < t->n_labels; l++)
            if (strcmp(s_str(t, t->labels[l]), relation) == 0) rel = (int)l;
        if (rel < 0) return 0;
    }
    size_t total = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0 && !(dir & ASSAY_KG_OUT)) continue;
        if (pass == 1 && !(dir & ASSAY_KG_IN)) continue;
        const s_kgnode_t *n = &t->kgnodes[node];
        const s_kgedge_t *e = pass == 0 ? t->kgout + n->out_start : t->kgin + n->in_start;
        size_t cnt = pass == 0 ? n->out_n : n->in_n;
        for (size_t i = 0; i < cnt; i++) {
            if (rel >= 0 && e[i].relation != rel) continue;
            if (out && total < max) {
                out[total].node = e[i].node;
                out[total].relation = s_str(t, t->labels[e[i].relation]);
                out[total].source = s_str(t, t->labels[e[i].source]);
            }
            total++;
        }
    }
    return total;
}

size_t assay_terms_kg_neighbors(const assay_terms_t *self, assay_term_id_t node,
                                const char *relation, assay_kg_dir_t dir, assay_kg_edge_t *out,
                                size_t max)
{
    return s_edges(self, node, relation, dir, out, max);
}

size_t assay_terms_kg_degree(const assay_terms_t *self, assay_term_id_t node, const char *relation,
                             assay_kg_dir_t dir)
{
    return s_edges(self, node, relation, dir, NULL, 0);
}

size_t assay_terms_kg_for_concept(const assay_terms_t *self, assay_term_id_t concept,
                                  assay_term_id_t *out, size_t max)
{
    if (concept >= self->n_concepts) return 0;
    size_t total = 0;
    size_t na = self->concepts[concept].alias_n;
    for (size_t i = 0; i <= na; i++) {
        const char *nm =
            i == 0 ? assay_terms_name(self, concept)
                   : s_str(self, self->aliases[self->concepts[concept].alias_start + i - 1].text);
        assay_term_id_t found[16];
        size_t k = assay_terms_kg_find(self, nm, "疾病", found, ASSAY_ARRAY_LEN(found));
        if (k > ASSAY_ARRAY_LEN(found)) k = ASSAY_ARRAY_LEN(found);
        for (size_t j = 0; j < k; j++) {
            int seen = 0;
            for (size_t m = 0; m < total && m < max; m++)
                seen |= out[m] == found[j];
            if (seen) continue;
            if (total < max) out[total] = found[j];
            total++;
        }
    }
    return total;
}

static size_t s_add_unique(assay_term_id_t *out, size_t n, size_t max, assay_term_id_t id)
{
    for (size_t i = 0; i < n; i++)
        if (out[i] == id) return n;
    if (n < max) out[n++] = id;
    return n;
}

size_t assay_terms_concepts_for_kg(const assay_terms_t *self, assay_term_id_t node,
                                   assay_code_system_t sys, assay_term_id_t *out, size_t max)
{
    if (node >= self->n_kgnodes) return 0;
    size_t n = 0;
    assay_name_hit_t hits[16];
    size_t k = assay_terms_find_name(self, assay_terms_kg_name(self, node), sys, hits, 16);
    for (size_t i = 0; i < k && i < 16; i++)
        n = s_add_unique(out, n, max, hits[i].concept);
    static const char *const rels[] = {"别名", "同义词"};
    for (size_t r = 0; r < 2; r++) {
        assay_kg_edge_t e[64];
        size_t ne = s_edges(self, node, rels[r], ASSAY_KG_BOTH, e, 64);
        for (size_t i = 0; i < ne && i < 64; i++) {
            k = assay_terms_find_name(self, assay_terms_kg_name(self, e[i].node), sys, hits, 16);
            for (size_t j = 0; j < k && j < 16; j++)
                n = s_add_unique(out, n, max, hits[j].concept);
        }
    }
    return n;
}

size_t assay_terms_name_entry_count(const assay_terms_t *self)
{
    return self->n_names;
}

int assay_terms_name_entry(const assay_terms_t *self, size_t i, const char **key,
                           assay_name_hit_t *hit)
{
    if (i >= self->n_names) return ASSAY_ENOTFOUND;
    if (key) *key = s_str(self, self->names[i].key);
    if (hit) {
        hit->concept = self->names[i].concept;
        hit->alias = self->names[i].alias;
    }
    return 0;
}

size_t assay_terms_label_count(const assay_terms_t *self)
{
    return self->n_labels;
}

/* ------------------------------------------------------------- synthetic */

/* a deterministic generator */
static uint64_t s_rand(uint64_t *s)
{
    return assay_splitmix64(s);
}

static void s_synth_name(uint64_t *rng, char *out, size_t outlen, const char *suffix)
{
    static const char *const parts[] = {
        "急性",   "慢性",   "左",     "右",     "双侧",   "上",     "下",     "肺",
        "肝",     "肾",     "心",     "脑",     "胃",     "肠",     "皮肤",   "骨",
        "关节",   "血管",   "神经",   "淋巴",   "甲状腺", "乳腺",   "前列腺", "膀胱",
        "胆",     "胰",     "脾",     "眼",     "耳",     "鼻",     "咽",     "喉",
        "支气管", "食管",   "结肠",   "直肠",   "子宫",   "卵巢",   "动脉",   "静脉",
        "病毒性", "细菌性", "真菌性", "化脓性", "出血性", "缺血性", "梗阻性", "继发性",
        "原发性", "先天性", "外伤性", "复发性", "局限性", "弥漫性", "结节性", "萎缩性"};
    size_t n = 2 + (size_t)(s_rand(rng) % 3), pos = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const char *p = parts[s_rand(rng) % ASSAY_ARRAY_LEN(parts)];
        int w = snprintf(out + pos, outlen - pos, "%s", p);
        if (w < 0 || (size_t)w >= outlen - pos) break;
        pos += (size_t)w;
    }
    snprintf(out + pos, outlen - pos, "%s", suffix);
}

assay_terms_t *assay_terms_synthetic(size_t n_concepts, uint64_t seed)
{
    static const char *const kinds[] = {"炎",   "病",       "综合征", "肿瘤", "损伤", "畸形",
                                        "感染", "功能障碍", "囊肿",   "结石", "梗死", "狭窄"};
    assay_terms_builder_t *b = assay_terms_builder_new();
    uint64_t rng = seed ? seed : 1;
    char code[160], parent[96], name[256], alias[256], where[64], node[256], other[256];
    size_t chapters = 22;
    size_t blocks = n_concepts / 200 + chapters;
    size_t cats = n_concepts / 40 + blocks;
    size_t subs = n_concepts / 8 + cats;
    char err[256];
    /* chapters and blocks */
    size_t count = 0;
    for (size_t i = 0; i < chapters; i++) {
        snprintf(code, sizeof code, "S%02zu-S%02zuZ", i, i);
        s_synth_name(&rng, name, sizeof name, "疾病");
        const char *f[] = {code, "", "chapter", name, "", "", "", "synthetic"};
        assay_terms_builder_add(b, ASSAY_TERMS_ICD10, f, 8, "synthetic", err, sizeof err);
        count++;
    }
    size_t nb = blocks - chapters, nca = cats - blocks, nsub = subs - cats;
    for (size_t i = 0; i < nb; i++) {
        snprintf(code, sizeof code, "B%06zu-B%06zuZ", i, i);
        snprintf(parent, sizeof parent, "S%02zu-S%02zuZ", i % chapters, i % chapters);
        s_synth_name(&rng, name, sizeof name, kinds[i % ASSAY_ARRAY_LEN(kinds)]);
        const char *f[] = {code, parent, "block", name, "", "", "", "synthetic"};
        assay_terms_builder_add(b, ASSAY_TERMS_ICD10, f, 8, "synthetic", err, sizeof err);
    }
    for (size_t i = 0; i < nca; i++) {
        snprintf(code, sizeof code, "C%06zu", i);
        snprintf(parent, sizeof parent, "B%06zu-B%06zuZ", i % nb, i % nb);
        s_synth_name(&rng, name, sizeof name, kinds[s_rand(&rng) % ASSAY_ARRAY_LEN(kinds)]);
        const char *f[] = {code, parent, "category", name, "", "", "", "synthetic"};
        assay_terms_builder_add(b, ASSAY_TERMS_ICD10, f, 8, "synthetic", err, sizeof err);
    }
    for (size_t i = 0; i < nsub; i++) {
        snprintf(code, sizeof code, "C%06zu.%zu", i % nca, i / nca);
        snprintf(parent, sizeof parent, "C%06zu", i % nca);
        s_synth_name(&rng, name, sizeof name, kinds[s_rand(&rng) % ASSAY_ARRAY_LEN(kinds)]);
        const char *f[] = {code, parent, "subcategory", name, "", "", "", "synthetic"};
        assay_terms_builder_add(b, ASSAY_TERMS_ICD10, f, 8, "synthetic", err, sizeof err);
    }
    size_t nclin = n_concepts > subs ? n_concepts - subs : 0;
    for (size_t i = 0; i < nclin; i++) {
        size_t s = i % nsub;
        snprintf(parent, sizeof parent, "C%06zu.%zu", s % nca, s / nca);
        snprintf(code, sizeof code, "%s%02zu", parent, i / nsub);
        s_synth_name(&rng, name, sizeof name, kinds[s_rand(&rng) % ASSAY_ARRAY_LEN(kinds)]);
        snprintf(where, sizeof where, "synthetic:%zu", i);
        const char *f[] = {code, parent, "clinical", name, "", "", "", "synthetic"};
        assay_terms_builder_add(b, ASSAY_TERMS_ICD10, f, 8, where, err, sizeof err);
    }
    for (size_t i = 0; i < nclin; i++) {
        size_t s = i % nsub;
        snprintf(code, sizeof code, "C%06zu.%zu%02zu", s % nca, s / nca, i / nsub);
        size_t k = 1 + (size_t)(s_rand(&rng) % 2);
        for (size_t j = 0; j < k; j++) {
            s_synth_name(&rng, alias, sizeof alias, kinds[s_rand(&rng) % ASSAY_ARRAY_LEN(kinds)]);
            const char *f[] = {code, "clin2.0", "", alias, "synthetic_alias", "synthetic"};
            assay_terms_builder_add(b, ASSAY_TERMS_SYNONYMS, f, 6, "synthetic", err, sizeof err);
        }
    }
    /* the graph: a disease node per clinical code, edges to shared symptom/drug nodes */
    for (size_t i = 0; i < nclin; i++) {
        s_synth_name(&rng, node, sizeof node, kinds[i % ASSAY_ARRAY_LEN(kinds)]);
        snprintf(other, sizeof other, "症状%zu", (size_t)(s_rand(&rng) % 5000));
        const char *e1[] = {node, "症状", other, "疾病", "症状", "synthetic"};
        assay_terms_builder_add(b, ASSAY_TERMS_KG_EDGES, e1, 6, "synthetic", err, sizeof err);
        snprintf(other, sizeof other, "药物%zu", (size_t)(s_rand(&rng) % 20000));
        const char *e2[] = {node, "药物", other, "疾病", "药物", "synthetic"};
        assay_terms_builder_add(b, ASSAY_TERMS_KG_EDGES, e2, 6, "synthetic", err, sizeof err);
        snprintf(other, sizeof other, "检查%zu", (size_t)(s_rand(&rng) % 2000));
        const char *e3[] = {node, "检查", other, "疾病", "检查", "synthetic"};
        assay_terms_builder_add(b, ASSAY_TERMS_KG_EDGES, e3, 6, "synthetic", err, sizeof err);
    }
    return assay_terms_builder_finish(&b, err, sizeof err);
}
