/*  verify.c: see verify.h */
#include "worker/verify.h"

#include "common/error.h"
#include "worker/textscan.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- params */

int assay_verify_kind_parse(const char *s, assay_verify_kind_t *out)
{
    if (!s) return ASSAY_EINVAL;
    if (strcmp(s, "mcq") == 0) *out = ASSAY_VERIFY_MCQ;
    else if (strcmp(s, "case") == 0)
        *out = ASSAY_VERIFY_CASE;
    else if (strcmp(s, "open") == 0)
        *out = ASSAY_VERIFY_OPEN;
    else
        return ASSAY_EINVAL;
    return 0;
}

void assay_verify_params_default(assay_verify_params_t *p)
{
    p->w_path = 0.5;
    p->w_graph = 0.2;
    p->w_term = 0.3;
    p->w_precision = 0.2;
    p->threshold = 0.8;
    p->system = ASSAY_SYS_ANY;
}

int assay_verify_params_check(const assay_verify_params_t *p, char *err, size_t errlen)
{
    const struct {
        const char *name;
        double v, lo, hi;
    } r[] = {{"w_path", p->w_path, 0, 1e6},        {"w_graph", p->w_graph, 0, 1e6},
             {"w_term", p->w_term, 0, 1e6},        {"w_precision", p->w_precision, 0, 1},
             {"threshold", p->threshold, 0, 1}};
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
        if (!(r[i].v >= r[i].lo && r[i].v <= r[i].hi)) {
            snprintf(err, errlen, "parameter \"%s\" is %g: expected a number in [%g, %g]",
                     r[i].name, r[i].v, r[i].lo, r[i].hi);
            return ASSAY_EINVAL;
        }
    if (p->w_path + p->w_graph + p->w_term <= 0) {
        snprintf(err, errlen, "parameters \"w_path\", \"w_graph\" and \"w_term\" are all 0: "
                              "expected at least one positive weight");
        return ASSAY_EINVAL;
    }
    return 0;
}

/* ------------------------------------------------------------------- mcq */

static const char *const s_how_names[] = {"none", "bare", "marker", "leading", "option_text"};

const char *assay_verify_mcq_how_name(assay_mcq_how_t how)
{
    return (unsigned)how < sizeof s_how_names / sizeof s_how_names[0] ? s_how_names[how] : "none";
}

/* option index of an upper-case letter (ASCII or full-width), -1 otherwise */
static int s_letter(uint32_t cp)
{
    if (cp >= 'A' && cp <= 'Z') return (int)(cp - 'A');
    if (cp >= 0xFF21 && cp <= 0xFF3A) return (int)(cp - 0xFF21);
    return -1;
}

static int s_ascii_alpha(uint32_t cp)
{
    return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= 0xFF21 && cp <= 0xFF3A) ||
           (cp >= 0xFF41 && cp <= 0xFF5A);
}

unsigned assay_verify_letters(const char *s, size_t len)
{
    unsigned mask = 0;
    size_t i = 0;
    while (i < len) {
        uint32_t cp = assay_textscan_fold(assay_textscan_next(s, len, &i));
        if (cp >= 'a' && cp <= 'a' + ASSAY_VERIFY_MAX_OPTIONS - 1) mask |= 1u << (cp - 'a');
        else if (!(assay_textscan_is_space(cp) || cp == ',' || cp == 0x3001 || cp == '/' ||
                   cp == ';' || cp == '+'))
            return 0;
    }
    return mask;
}

/* code points that may sit between a marker and its letters: 答案：是 (B) */
static int s_filler(uint32_t cp)
{
    static const uint32_t han[] = {0x662F /* 是 */, 0x4E3A /* 为 */, 0x5E94 /* 应 */,
                                   0x8BE5 /* 该 */, 0x9009 /* 选 */, 0x9879 /* 项 */,
                                   0x62E9 /* 择 */, 0x5373 /* 即 */, 0x5C31 /* 就 */,
                                   0x7684 /* 的 */, 0x6700 /* 最 */, 0x4F73 /* 佳 */,
                                   0x5F53 /* 当 */, 0x786E /* 确 */, 0x4E5F /* 也 */,
                                   0x9898 /* 题 */, 0x672C /* 本 */};
    if (assay_textscan_is_space(cp)) return 1;
    if (assay_textscan_is_punct(cp) && s_letter(cp) < 0) return 1;
    for (size_t i = 0; i < sizeof han / sizeof han[0]; i++)
        if (cp == han[i]) return 1;
    return 0;
}

/* code points allowed between two letters: B、D / B和D / B,D / 选项B与选项D */
static int s_joiner(uint32_t cp)
{
    return assay_textscan_is_space(cp) || cp == ',' || cp == 0xFF0C || cp == 0x3001 ||
           cp == '/' || cp == '+' || cp == '&' || cp == 0x548C /* 和 */ ||
           cp == 0x4E0E /* 与 */ || cp == 0x53CA /* 及 */ || cp == 0x4EE5 /* 以 */ ||
           cp == 0x9009 /* 选 */ || cp == 0x9879 /* 项 */ || cp == 0x6216 /* 或 */ ||
           cp == 0x3001;
}

/* text right after a letter list that turns it into a rejection ("A错误", "B不对") */
static int s_rejected(const char *s, size_t len, size_t i)
{
    size_t j = i;
    for (int k = 0; k < 3 && j < len; k++) {
        size_t at = j;
        uint32_t cp = assay_textscan_next(s, len, &j);
        if (cp == 0x9519 /* 错 */) return 1;
        if (cp == 0x4E0D /* 不 */ || cp == 0x6392 /* 排 */ || cp == 0x975E /* 非 */) {
            /* 不正确 不对 不选 不是 排除 非 */
            (void)at;
            return 1;
        }
        if (!(cp == 0x9879 /* 项 */ || assay_textscan_is_space(cp) || cp == 0x662F /* 是 */))
            return 0;
    }
    return 0;
}

/* letters starting at *i: "B", "B、D", "B和D", "ACD"; 0 when the text there is no
 * letter list (a word such as "DNA", "B超" or a letter past the options) */
static unsigned s_letter_list(const char *s, size_t len, size_t *i, size_t n_options)
{
    unsigned mask = 0;
    size_t pos = *i;
    for (;;) {
        size_t j = pos;
        uint32_t cp = assay_textscan_next(s, len, &j);
        int k = s_letter(cp);
        if (k < 0 || (size_t)k >= n_options) break;
        /* a letter glued to a following Latin letter is part of a word, unless the
         * run is all option letters ("ACD") */
        size_t run_end = j;
        unsigned run = 1u << k;
        for (;;) {
            size_t t = run_end;
            uint32_t c2 = assay_textscan_next(s, len, &t);
            int k2 = s_letter(c2);
            if (k2 >= 0 && (size_t)k2 < n_options) {
                run |= 1u << k2;
                run_end = t;
                continue;
            }
            if (s_ascii_alpha(c2)) return mask; /* "DNA", "Bx" */
            break;
        }
        /* "B超", "A型" and the like: a letter followed by these is a term */
        {
            size_t t = run_end;
            uint32_t c2 = assay_textscan_next(s, len, &t);
            if (c2 == 0x8D85 /* 超 */ || c2 == 0x578B /* 型 */ || c2 == 0x7EA7 /* 级 */ ||
                c2 == 0x7C7B /* 类 */ || c2 == 0x6CE2 /* 波 */ || c2 == 0x6B65 /* 步 */ ||
                (c2 >= '0' && c2 <= '9'))
                return mask;
        }
        mask |= run;
        pos = run_end;
        *i = pos;
        /* joiners, then maybe another letter */
        size_t t = pos;
        int joined = 0;
        for (int guard = 0; guard < 6 && t < len; guard++) {
            size_t u = t;
            uint32_t c3 = assay_textscan_next(s, len, &u);
            if (!s_joiner(c3)) break;
            t = u;
            joined = 1;
        }
        if (!joined) break;
        size_t u = t;
        int k3 = s_letter(assay_textscan_next(s, len, &u));
        if (k3 < 0 || (size_t)k3 >= n_options) break;
        pos = t;
    }
    return mask;
}

static const char *const s_markers[] = {"正确答案", "参考答案", "最终答案", "答案", "故选",
                                        "应选", "选择", "选", "answer is", "answer:",
                                        "answer", "option", NULL};

static unsigned char s_lc(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static size_t s_marker_at(const char *s, size_t len, size_t i)
{
    for (const char *const *m = s_markers; *m; m++) {
        size_t ml = strlen(*m);
        if (i + ml > len) continue;
        size_t k = 0;
        while (k < ml && s_lc((unsigned char)s[i + k]) == (unsigned char)(*m)[k]) k++;
        if (k == ml) return ml;
    }
    return 0;
}

static unsigned s_by_marker(const char *s, size_t len, size_t n_options)
{
    unsigned last = 0;
    for (size_t i = 0; i < len; i++) {
        if (((unsigned char)s[i] & 0xC0) == 0x80) continue;
        size_t ml = s_marker_at(s, len, i);
        if (!ml) continue;
        size_t b;
        if (assay_textscan_prev(s, i, &b) == 0x4E0D /* 不选 */) {
            i += ml - 1;
            continue;
        }
        size_t j = i + ml;
        for (int k = 0; k < 8 && j < len; k++) {
            size_t t = j;
            uint32_t cp = assay_textscan_next(s, len, &t);
            if (!s_filler(cp)) break;
            j = t;
        }
        size_t end = j;
        unsigned m = s_letter_list(s, len, &end, n_options);
        if (m && !s_rejected(s, len, end)) last = m;
        i += ml - 1;
    }
    return last;
}

static unsigned s_leading(const char *s, size_t len, size_t n_options)
{
    size_t i = 0;
    for (int k = 0; k < 4 && i < len; k++) {
        size_t t = i;
        uint32_t cp = assay_textscan_next(s, len, &t);
        if (!(assay_textscan_is_space(cp) || cp == '(' || cp == 0xFF08 || cp == '[' ||
              cp == 0x3010 || cp == '*'))
            break;
        i = t;
    }
    size_t end = i;
    unsigned m = s_letter_list(s, len, &end, n_options);
    if (!m) return 0;
    /* the letter list must stand apart: end of text, punctuation, space or Han */
    size_t t = end;
    uint32_t cp = assay_textscan_next(s, len, &t);
    if (!(cp == 0 || assay_textscan_is_space(cp) || assay_textscan_is_punct(cp) ||
          assay_textscan_is_han(cp)))
        return 0;
    if (s_rejected(s, len, end)) return 0;
    return m;
}

static unsigned s_bare(const char *s, size_t len, size_t n_options)
{
    uint32_t key[ASSAY_VERIFY_MAX_OPTIONS + 1];
    size_t total = assay_textscan_count(s, len);
    if (total > 64) return 0;
    size_t n = assay_textscan_key(s, len, key, ASSAY_VERIFY_MAX_OPTIONS + 1);
    if (n == 0 || n > n_options) return 0;
    unsigned mask = 0;
    for (size_t i = 0; i < n; i++) {
        if (key[i] < 'a' || key[i] >= 'a' + n_options) return 0;
        unsigned bit = 1u << (key[i] - 'a');
        if (mask & bit) return 0;
        mask |= bit;
    }
    return mask;
}

#define S_MCQ_KEY 4096
#define S_OPT_KEY 128

static int s_key_contains(const uint32_t *hay, size_t nh, const uint32_t *needle, size_t nn)
{
    if (nn == 0 || nn > nh) return 0;
    for (size_t i = 0; i + nn <= nh; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, nn * sizeof *needle) == 0) return 1;
    return 0;
}

static unsigned s_option_text(const char *s, size_t len, const char *const *options,
                              size_t n_options)
{
    if (!options) return 0;
    uint32_t key[S_MCQ_KEY];
    size_t nk = assay_textscan_key(s, len, key, S_MCQ_KEY);
    uint32_t ok[ASSAY_VERIFY_MAX_OPTIONS][S_OPT_KEY];
    size_t on[ASSAY_VERIFY_MAX_OPTIONS] = {0};
    unsigned mask = 0;
    for (size_t i = 0; i < n_options; i++) {
        if (!options[i]) continue;
        on[i] = assay_textscan_key(options[i], strlen(options[i]), ok[i], S_OPT_KEY);
        /* a one-character option ("是") would match almost any text */
        if (on[i] >= 2 && s_key_contains(key, nk, ok[i], on[i])) mask |= 1u << i;
    }
    /* an option that is part of a longer named option ("高血压" inside
     * "继发性高血压") is not named on its own */
    unsigned keep = mask;
    for (size_t i = 0; i < n_options; i++)
        for (size_t j = 0; j < n_options; j++)
            if (i != j && (mask >> i & 1) && (mask >> j & 1) && on[j] > on[i] &&
                s_key_contains(ok[j], on[j], ok[i], on[i]))
                keep &= ~(1u << i);
    return keep;
}

unsigned assay_verify_mcq_extract(const char *text, size_t len, const char *const *options,
                                  size_t n_options, assay_mcq_how_t *how)
{
    if (n_options > ASSAY_VERIFY_MAX_OPTIONS) n_options = ASSAY_VERIFY_MAX_OPTIONS;
    unsigned m;
    *how = ASSAY_MCQ_NONE;
    if (!text || len == 0 || n_options == 0) return 0;
    if ((m = s_bare(text, len, n_options))) {
        *how = ASSAY_MCQ_BARE;
        return m;
    }
    if ((m = s_by_marker(text, len, n_options))) {
        *how = ASSAY_MCQ_MARKER;
        return m;
    }
    if ((m = s_leading(text, len, n_options))) {
        *how = ASSAY_MCQ_LEADING;
        return m;
    }
    if ((m = s_option_text(text, len, options, n_options))) {
        *how = ASSAY_MCQ_OPTION_TEXT;
        return m;
    }
    return 0;
}

static int s_popcount(unsigned x)
{
    int n = 0;
    for (; x; x &= x - 1) n++;
    return n;
}

int assay_verify_mcq(const assay_verify_params_t *p, const char *gold, const char *response,
                     size_t rlen, const char *const *options, size_t n_options,
                     assay_verify_result_t *out)
{
    memset(out, 0, sizeof *out);
    out->kind = ASSAY_VERIFY_MCQ;
    out->path_sim = out->graph_sim = out->term_sim = -1;
    if (n_options > ASSAY_VERIFY_MAX_OPTIONS) n_options = ASSAY_VERIFY_MAX_OPTIONS;
    if (!gold) return ASSAY_EINVAL;
    size_t glen = strlen(gold);
    unsigned g = assay_verify_letters(gold, glen);
    if (!g && options) {
        /* a gold answer given as option text */
        uint32_t gk[S_OPT_KEY], ok[S_OPT_KEY];
        size_t gn = assay_textscan_key(gold, glen, gk, S_OPT_KEY);
        for (size_t i = 0; i < n_options; i++) {
            if (!options[i]) continue;
            size_t on = assay_textscan_key(options[i], strlen(options[i]), ok, S_OPT_KEY);
            if (on == gn && gn > 0 && memcmp(ok, gk, gn * sizeof *gk) == 0) g |= 1u << i;
        }
    }
    if (n_options < ASSAY_VERIFY_MAX_OPTIONS) g &= (1u << n_options) - 1;
    if (!g) return ASSAY_EINVAL;
    out->gold_mask = g;
    out->pred_mask = assay_verify_mcq_extract(response, rlen, options, n_options, &out->how);
    unsigned inter = g & out->pred_mask, uni = g | out->pred_mask;
    out->score = (double)s_popcount(inter) / (double)s_popcount(uni);
    out->correct = out->score >= p->threshold && out->pred_mask == g;
    out->recall = (double)s_popcount(inter) / (double)s_popcount(g);
    out->precision =
        out->pred_mask ? (double)s_popcount(inter) / (double)s_popcount(out->pred_mask) : 0;
    return 0;
}

/* ------------------------------------------------------------- atoms */

#define S_NAME_MAX 256 /* bytes of one name looked up */

/* segment boundaries: punctuation and line breaks */
static int s_seg_break(uint32_t cp)
{
    return cp == 0xFF0C || cp == ',' || cp == 0xFF1B || cp == ';' || cp == 0x3001 ||
           cp == 0x3002 || cp == '\n' || cp == '\r' || cp == 0xFF01 || cp == 0xFF1F ||
           cp == '!' || cp == '?' || cp == 0xFF1A || cp == ':' || cp == '/' || cp == '|' ||
           cp == 0x2014 || cp == 0xFF08 || cp == 0xFF09 || cp == '(' || cp == ')' ||
           cp == '[' || cp == ']' || cp == 0x3010 || cp == 0x3011 || cp == 0x2460 ||
           (cp >= 0x2460 && cp <= 0x2473) || cp == '.';
}

/* conjunctions that join two diagnoses: 冠心病合并心衰, 胃炎伴出血 */
static const char *const s_conj[] = {"合并", "并发", "伴有", "以及", "和", "与", "及", "伴",
                                     "并", "或", NULL};
/* words around a diagnosis that are not part of it */
static const char *const s_prefix[] = {
    "最可能的诊断是", "最可能的诊断为", "最可能的诊断", "初步诊断为", "初步诊断", "临床诊断",
    "诊断为", "诊断是", "诊断", "考虑为", "考虑是", "考虑", "可能为", "可能是", "可能",
    "疑似", "怀疑", "答案是", "答案为", "答案", "患者患有", "患有", "患", "的是", "是",
    "为", "应为", "即", NULL};
static const char *const s_suffix[] = {"可能性大", "可能性较大", "的可能", "可能", "待查",
                                       "待排", "待排除", "可疑", "？", "?", NULL};

static int s_starts(const char *s, size_t len, const char *w, size_t *wl)
{
    *wl = strlen(w);
    return *wl <= len && memcmp(s, w, *wl) == 0;
}

static int s_ends(const char *s, size_t len, const char *w, size_t *wl)
{
    *wl = strlen(w);
    return *wl <= len && memcmp(s + len - *wl, w, *wl) == 0;
}

/* trim space, leading list marks ("1." "①"), filler prefixes and suffixes */
static void s_trim_atom(const char **s, size_t *len)
{
    for (int again = 1; again && *len > 0;) {
        again = 0;
        size_t i = 0;
        uint32_t cp = assay_textscan_next(*s, *len, &i);
        if (assay_textscan_is_space(cp) || assay_textscan_is_punct(cp) ||
            (cp >= '0' && cp <= '9' && *len > i &&
             ((*s)[i] == '.' || (*s)[i] == ')' || (*s)[i] == ','))) {
            if (cp >= '0' && cp <= '9') i++;
            *s += i;
            *len -= i;
            again = 1;
            continue;
        }
        size_t b;
        cp = assay_textscan_prev(*s, *len, &b);
        if (assay_textscan_is_space(cp) || assay_textscan_is_punct(cp)) {
            *len = b;
            again = 1;
            continue;
        }
        size_t wl;
        for (const char *const *w = s_prefix; *w; w++)
            if (s_starts(*s, *len, *w, &wl) && wl < *len) {
                *s += wl;
                *len -= wl;
                again = 1;
                break;
            }
        if (again) continue;
        for (const char *const *w = s_suffix; *w; w++)
            if (s_ends(*s, *len, *w, &wl) && wl < *len) {
                *len -= wl;
                again = 1;
                break;
            }
    }
}

/* concepts named exactly s; returns how many candidates were written */
static size_t s_lookup(const assay_terms_t *terms, assay_code_system_t sys, const char *s,
                       size_t len, assay_term_id_t *out, size_t max)
{
    char name[S_NAME_MAX];
    if (len == 0 || len >= sizeof name) return 0;
    memcpy(name, s, len);
    name[len] = '\0';
    assay_name_hit_t hits[16];
    size_t total = assay_terms_find_name(terms, name, sys, hits, 16);
    if (total > 16) total = 16;
    size_t n = 0;
    for (size_t i = 0; i < total && n < max; i++) {
        int dup = 0;
        for (size_t k = 0; k < n; k++) dup |= out[k] == hits[i].concept;
        if (!dup) out[n++] = hits[i].concept;
    }
    return n;
}

static void s_add_atom(const assay_terms_t *terms, assay_code_system_t sys, const char *s,
                       size_t len, assay_verify_atom_t *out, size_t max, size_t *n)
{
    s_trim_atom(&s, &len);
    if (assay_textscan_count(s, len) < 2 || *n >= max) return;
    assay_verify_atom_t *a = &out[*n];
    memset(a, 0, sizeof *a);
    a->text = s;
    a->len = (uint32_t)len;
    a->best = -1;
    a->best_own = a->best_other = ASSAY_TERM_NONE;
    a->n_cands = (uint8_t)s_lookup(terms, sys, s, len, a->cands, ASSAY_VERIFY_MAX_CANDS);
    (*n)++;
}

/* one punctuation-delimited segment: the whole of it when it names a concept, else
 * its parts around conjunctions, else the segment as an unlinked atom */
static void s_segment(const assay_terms_t *terms, assay_code_system_t sys, const char *s,
                      size_t len, assay_verify_atom_t *out, size_t max, size_t *n, int depth)
{
    const char *t = s;
    size_t tl = len;
    s_trim_atom(&t, &tl);
    if (tl == 0) return;
    assay_term_id_t c[1];
    if (s_lookup(terms, sys, t, tl, c, 1) || depth > 3) {
        s_add_atom(terms, sys, t, tl, out, max, n);
        return;
    }
    for (const char *const *w = s_conj; *w; w++) {
        size_t wl = strlen(*w);
        const char *hit = assay_textscan_find(t, tl, *w, wl);
        if (!hit || hit == t || hit + wl >= t + tl) continue;
        /* split only when at least one side is a known name, so "和" inside an
         * unknown phrase does not shred it */
        const char *l = t, *r = hit + wl;
        size_t ll = (size_t)(hit - t), rl = (size_t)(t + tl - r);
        s_trim_atom(&l, &ll);
        s_trim_atom(&r, &rl);
        if (s_lookup(terms, sys, l, ll, c, 1) || s_lookup(terms, sys, r, rl, c, 1)) {
            s_segment(terms, sys, t, (size_t)(hit - t), out, max, n, depth + 1);
            s_segment(terms, sys, hit + wl, (size_t)(t + tl - hit - wl), out, max, n,
                      depth + 1);
            return;
        }
    }
    s_add_atom(terms, sys, t, tl, out, max, n);
}

size_t assay_verify_atoms(const assay_terms_t *terms, const assay_verify_params_t *p,
                          const char *text, size_t len, assay_verify_atom_t *out, size_t max)
{
    size_t n = 0, start = 0, i = 0;
    if (!text) return 0;
    while (i < len && n < max) {
        size_t at = i;
        uint32_t cp = assay_textscan_next(text, len, &i);
        if (s_seg_break(cp)) {
            /* a '.' inside a code or a number ("I25.1", "37.5") does not cut */
            if (cp == '.' && i < len && at > 0 && (unsigned char)text[i] < 0x80 &&
                (unsigned char)text[at - 1] < 0x80 && text[i] != ' ')
                continue;
            if (at > start) s_segment(terms, p->system, text + start, at - start, out, max, &n, 0);
            start = i;
        }
    }
    if (start < len && n < max) s_segment(terms, p->system, text + start, len - start, out, max, &n, 0);
    /* when some atoms link, long unlinked ones are prose around them, not entities */
    size_t linked = 0;
    for (size_t k = 0; k < n; k++) linked += out[k].n_cands > 0;
    if (linked > 0) {
        size_t w = 0;
        for (size_t k = 0; k < n; k++)
            if (out[k].n_cands > 0 || assay_textscan_count(out[k].text, out[k].len) <= 16)
                out[w++] = out[k];
        n = w;
    }
    return n;
}

/* -------------------------------------------------------- similarities */

#define S_NEIGH_MAX 256
#define S_KG_NODES 4

static int s_is_alias_rel(const char *rel)
{
    return strcmp(rel, "别名") == 0 || strcmp(rel, "同义词") == 0;
}

static int s_cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* neighbours of a concept's KG nodes as a sorted set; *direct set when one of
 * other[] is among them (alias 2, any other relation 1) */
static size_t s_neighbours(const assay_terms_t *terms, const assay_term_id_t *nodes, size_t nn,
                           const assay_term_id_t *other, size_t no, uint32_t *out, int *direct)
{
    assay_kg_edge_t e[S_NEIGH_MAX];
    size_t n = 0;
    for (size_t k = 0; k < nn; k++) {
        size_t m = assay_terms_kg_neighbors(terms, nodes[k], NULL, ASSAY_KG_BOTH, e, S_NEIGH_MAX);
        if (m > S_NEIGH_MAX) m = S_NEIGH_MAX;
        for (size_t i = 0; i < m; i++) {
            for (size_t j = 0; j < no; j++)
                if (e[i].node == other[j]) {
                    int d = s_is_alias_rel(e[i].relation) ? 2 : 1;
                    if (d > *direct) *direct = d;
                }
            if (n < S_NEIGH_MAX) out[n++] = e[i].node;
        }
    }
    qsort(out, n, sizeof *out, s_cmp_u32);
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (w == 0 || out[w - 1] != out[i]) out[w++] = out[i];
    return w;
}

static float s_graph_sim(const assay_terms_t *terms, assay_term_id_t a, assay_term_id_t b)
{
    assay_term_id_t na[S_KG_NODES], nb[S_KG_NODES];
    size_t ka = assay_terms_kg_for_concept(terms, a, na, S_KG_NODES);
    size_t kb = assay_terms_kg_for_concept(terms, b, nb, S_KG_NODES);
    if (ka > S_KG_NODES) ka = S_KG_NODES;
    if (kb > S_KG_NODES) kb = S_KG_NODES;
    if (ka == 0 || kb == 0) return -1;
    for (size_t i = 0; i < ka; i++)
        for (size_t j = 0; j < kb; j++)
            if (na[i] == nb[j]) return 1;
    uint32_t sa[S_NEIGH_MAX], sb[S_NEIGH_MAX];
    int direct = 0;
    size_t ca = s_neighbours(terms, na, ka, nb, kb, sa, &direct);
    if (direct == 2) return 1;
    size_t cb = s_neighbours(terms, nb, kb, na, ka, sb, &direct);
    if (direct == 2) return 1;
    size_t i = 0, j = 0, inter = 0;
    while (i < ca && j < cb) {
        if (sa[i] == sb[j]) {
            inter++;
            i++;
            j++;
        } else if (sa[i] < sb[j])
            i++;
        else
            j++;
    }
    size_t uni = ca + cb - inter;
    float jac = uni ? (float)inter / (float)uni : 0;
    if (direct && jac < 0.25f) jac = 0.25f;
    return jac;
}

static float s_path_sim(const assay_terms_t *terms, assay_term_id_t a, assay_term_id_t b)
{
    if (a == b) return 1;
    assay_term_id_t l = assay_terms_lca(terms, a, b);
    if (l == ASSAY_TERM_NONE) return 0;
    int dl = assay_terms_depth(terms, l);
    int dist = assay_terms_path_distance(terms, a, b);
    if (dl <= 0 || dist < 0) return 0;
    return (float)dl / (float)(dl + dist);
}

static double s_fuse(const assay_verify_params_t *p, float path, float graph, float term)
{
    double num = p->w_term * term, den = p->w_term;
    if (path >= 0) {
        num += p->w_path * path;
        den += p->w_path;
    }
    if (graph >= 0) {
        num += p->w_graph * graph;
        den += p->w_graph;
    }
    return den > 0 ? num / den : 0;
}

double assay_verify_concept_sim(const assay_terms_t *terms, const assay_verify_params_t *p,
                                assay_term_id_t a, assay_term_id_t b, float *path,
                                float *graph, float *term)
{
    float pa, gr, te;
    if (a == b) {
        pa = gr = te = 1;
    } else {
        const char *x = assay_terms_name(terms, a), *y = assay_terms_name(terms, b);
        te = (float)assay_textscan_similarity(x, strlen(x), y, strlen(y));
        pa = s_path_sim(terms, a, b);
        gr = s_graph_sim(terms, a, b);
    }
    if (path) *path = pa;
    if (graph) *graph = gr;
    if (term) *term = te;
    return s_fuse(p, pa, gr, te);
}

typedef struct {
    float sim, path, graph, term;
    assay_term_id_t ca, cb;
} s_pair_t;

/* best similarity of two atoms over their candidates; graph similarity (the costly
 * part) only for candidate pairs that could still beat the best so far */
static void s_atom_pair(const assay_terms_t *terms, const assay_verify_params_t *p,
                        const assay_verify_atom_t *g, const assay_verify_atom_t *a,
                        s_pair_t *out)
{
    out->sim = 0;
    out->path = out->graph = -1;
    out->term = 0;
    out->ca = out->cb = ASSAY_TERM_NONE;
    if (g->n_cands == 0 || a->n_cands == 0) {
        /* surface strings, and the linked side's names */
        float t = (float)assay_textscan_similarity(g->text, g->len, a->text, a->len);
        const assay_verify_atom_t *l = g->n_cands ? g : a->n_cands ? a : NULL;
        const assay_verify_atom_t *u = l == g ? a : g;
        for (size_t i = 0; l && i < l->n_cands; i++) {
            const char *nm = assay_terms_name(terms, l->cands[i]);
            float t2 = (float)assay_textscan_similarity(nm, strlen(nm), u->text, u->len);
            if (t2 > t) t = t2;
        }
        out->term = t;
        out->sim = (float)s_fuse(p, -1, -1, t);
        return;
    }
    double wsum = p->w_path + p->w_graph + p->w_term;
    for (size_t i = 0; i < g->n_cands; i++)
        for (size_t j = 0; j < a->n_cands; j++) {
            assay_term_id_t x = g->cands[i], y = a->cands[j];
            float pa, gr = -1, te;
            if (x == y) {
                pa = gr = te = 1;
            } else {
                const char *nx = assay_terms_name(terms, x), *ny = assay_terms_name(terms, y);
                te = (float)assay_textscan_similarity(nx, strlen(nx), ny, strlen(ny));
                pa = s_path_sim(terms, x, y);
                double ub = (p->w_path * pa + p->w_term * te + p->w_graph) / wsum;
                if (ub > out->sim && p->w_graph > 0) gr = s_graph_sim(terms, x, y);
                else if (p->w_graph > 0 && ub <= out->sim)
                    continue;
            }
            double s = s_fuse(p, pa, gr, te);
            if (s > out->sim || out->ca == ASSAY_TERM_NONE) {
                out->sim = (float)s;
                out->path = pa;
                out->graph = gr;
                out->term = te;
                out->ca = x;
                out->cb = y;
            }
        }
}

static void s_codes_atoms(const assay_terms_t *terms, const assay_verify_params_t *p,
                          const char *const *codes, size_t n_codes, assay_verify_atom_t *out,
                          size_t max, size_t *n)
{
    for (size_t i = 0; i < n_codes && *n < max; i++) {
        if (!codes[i]) continue;
        assay_term_id_t c = assay_terms_find_code(terms, p->system, codes[i]);
        if (c == ASSAY_TERM_NONE) continue;
        /* a code already named by a text atom adds nothing */
        int dup = 0;
        for (size_t k = 0; k < *n; k++)
            for (size_t j = 0; j < out[k].n_cands; j++) dup |= out[k].cands[j] == c;
        if (dup) continue;
        assay_verify_atom_t *a = &out[(*n)++];
        memset(a, 0, sizeof *a);
        a->text = assay_terms_name(terms, c);
        a->len = (uint32_t)strlen(a->text);
        a->n_cands = 1;
        a->cands[0] = c;
        a->from_code = 1;
        a->best = -1;
        a->best_own = a->best_other = ASSAY_TERM_NONE;
    }
}

int assay_verify_text(const assay_terms_t *terms, const assay_verify_params_t *p,
                      const char *gold, size_t glen, const char *const *gold_codes,
                      size_t n_codes, const char *response, size_t rlen,
                      assay_verify_result_t *out)
{
    out->kind = ASSAY_VERIFY_CASE;
    out->score = 0;
    out->correct = 0;
    out->gold_mask = out->pred_mask = 0;
    out->how = ASSAY_MCQ_NONE;
    out->recall = out->precision = 0;
    out->path_sim = out->graph_sim = out->term_sim = -1;
    out->n_gold = assay_verify_atoms(terms, p, gold, gold ? glen : 0, out->gold,
                                     ASSAY_VERIFY_MAX_ATOMS);
    s_codes_atoms(terms, p, gold_codes, n_codes, out->gold, ASSAY_VERIFY_MAX_ATOMS, &out->n_gold);
    if (out->n_gold == 0) return ASSAY_EINVAL;
    out->n_pred = assay_verify_atoms(terms, p, response, response ? rlen : 0, out->pred,
                                     ASSAY_VERIFY_MAX_ATOMS);
    if (out->n_pred == 0) return 0;

    for (size_t a = 0; a < out->n_pred; a++) out->pred[a].sim = -1;
    double rsum = 0, psum = 0, ps = 0, gs = 0, ts = 0;
    size_t pn = 0, gn = 0;
    for (size_t g = 0; g < out->n_gold; g++) {
        assay_verify_atom_t *ga = &out->gold[g];
        ga->sim = 0;
        ga->path = ga->graph = -1;
        ga->term = 0;
        for (size_t a = 0; a < out->n_pred; a++) {
            assay_verify_atom_t *pa = &out->pred[a];
            s_pair_t r;
            s_atom_pair(terms, p, ga, pa, &r);
            if (r.sim > ga->sim || ga->best < 0) {
                ga->sim = r.sim;
                ga->path = r.path;
                ga->graph = r.graph;
                ga->term = r.term;
                ga->best = (int8_t)a;
                ga->best_own = r.ca;
                ga->best_other = r.cb;
            }
            if (r.sim > pa->sim) {
                pa->sim = r.sim;
                pa->path = r.path;
                pa->graph = r.graph;
                pa->term = r.term;
                pa->best = (int8_t)g;
                pa->best_own = r.cb;
                pa->best_other = r.ca;
            }
        }
        rsum += ga->sim;
        ts += ga->term;
        if (ga->path >= 0) {
            ps += ga->path;
            pn++;
        }
        if (ga->graph >= 0) {
            gs += ga->graph;
            gn++;
        }
    }
    for (size_t a = 0; a < out->n_pred; a++) psum += out->pred[a].sim > 0 ? out->pred[a].sim : 0;
    out->recall = rsum / (double)out->n_gold;
    out->precision = psum / (double)out->n_pred;
    out->score = (1 - p->w_precision) * out->recall + p->w_precision * out->precision;
    if (out->score > 1) out->score = 1;
    if (out->score < 0) out->score = 0;
    out->correct = out->score >= p->threshold;
    out->term_sim = ts / (double)out->n_gold;
    out->path_sim = pn ? ps / (double)pn : -1;
    out->graph_sim = gn ? gs / (double)gn : -1;
    return 0;
}

/* ------------------------------------------------------------ explain */

static json_t *s_num_or_null(double v)
{
    return v < 0 ? json_null() : json_real(round(v * 10000) / 10000);
}

static json_t *s_letters_json(unsigned mask)
{
    char buf[ASSAY_VERIFY_MAX_OPTIONS + 1];
    size_t n = 0;
    for (int i = 0; i < ASSAY_VERIFY_MAX_OPTIONS; i++)
        if (mask >> i & 1) buf[n++] = (char)('A' + i);
    buf[n] = '\0';
    return json_string(buf);
}

static json_t *s_concept_json(const assay_terms_t *terms, assay_term_id_t c)
{
    return json_pack("{s:s, s:s, s:s}", "code", assay_terms_code(terms, c), "system",
                     assay_terms_system_name((assay_code_system_t)assay_terms_system(terms, c)),
                     "name", assay_terms_name(terms, c));
}

static json_t *s_atoms_json(const assay_terms_t *terms, const assay_verify_atom_t *atoms,
                            size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        const assay_verify_atom_t *a = &atoms[i];
        json_t *codes = json_array();
        for (size_t k = 0; k < a->n_cands; k++)
            json_array_append_new(codes, json_string(assay_terms_code(terms, a->cands[k])));
        json_t *o = json_pack("{s:s%, s:o, s:b}", "text", a->text, (size_t)a->len, "codes", codes,
                              "from_code", a->from_code);
        if (a->best >= 0) {
            json_object_set_new(o, "match", json_integer(a->best));
            json_object_set_new(o, "sim", s_num_or_null(a->sim));
            json_object_set_new(o, "path_sim", s_num_or_null(a->path));
            json_object_set_new(o, "graph_sim", s_num_or_null(a->graph));
            json_object_set_new(o, "term_sim", s_num_or_null(a->term));
            if (a->best_own != ASSAY_TERM_NONE)
                json_object_set_new(o, "via", s_concept_json(terms, a->best_own));
        } else {
            json_object_set_new(o, "match", json_null());
        }
        json_array_append_new(arr, o);
    }
    return arr;
}

/* the distinct codes of one side */
static json_t *s_codes_json(const assay_terms_t *terms, const assay_verify_atom_t *atoms, size_t n)
{
    json_t *arr = json_array();
    assay_term_id_t seen[ASSAY_VERIFY_MAX_ATOMS * ASSAY_VERIFY_MAX_CANDS];
    size_t ns = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < atoms[i].n_cands; k++) {
            assay_term_id_t c = atoms[i].cands[k];
            int dup = 0;
            for (size_t j = 0; j < ns; j++) dup |= seen[j] == c;
            if (dup) continue;
            seen[ns++] = c;
            json_array_append_new(arr, s_concept_json(terms, c));
        }
    return arr;
}

json_t *assay_verify_explain(const assay_terms_t *terms, const assay_verify_params_t *p,
                             const assay_verify_result_t *r)
{
    json_t *w = json_pack("{s:f, s:f, s:f, s:f}", "w_path", p->w_path, "w_graph", p->w_graph,
                          "w_term", p->w_term, "w_precision", p->w_precision);
    json_t *o;
    if (r->kind == ASSAY_VERIFY_MCQ) {
        o = json_pack("{s:s, s:o, s:o, s:s, s:o, s:o}", "method", "option_letters", "gold",
                      s_letters_json(r->gold_mask), "predicted", s_letters_json(r->pred_mask),
                      "found_by", assay_verify_mcq_how_name(r->how), "atoms", json_array(),
                      "codes", json_array());
    } else {
        o = json_pack("{s:s, s:{s:o, s:o}, s:{s:o, s:o}}", "method", "atoms", "atoms", "gold",
                      s_atoms_json(terms, r->gold, r->n_gold), "answer",
                      s_atoms_json(terms, r->pred, r->n_pred), "codes", "gold",
                      s_codes_json(terms, r->gold, r->n_gold), "answer",
                      s_codes_json(terms, r->pred, r->n_pred));
    }
    json_object_set_new(o, "path_sim", s_num_or_null(r->path_sim));
    json_object_set_new(o, "graph_sim", s_num_or_null(r->graph_sim));
    json_object_set_new(o, "term_sim", s_num_or_null(r->term_sim));
    json_object_set_new(o, "recall", s_num_or_null(r->recall));
    json_object_set_new(o, "precision", s_num_or_null(r->precision));
    json_object_set_new(o, "weights", w);
    return o;
}
