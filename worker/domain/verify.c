/*  verify.c: see verify.h */
#include "worker/domain/verify.h"

#include "common/error.h"
#include "common/util.h"
#include "worker/domain/textscan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- params */

int assay_verify_kind_parse(const char *s, assay_verify_kind_t *out)
{
    if (!s) return ASSAY_EINVAL;
    if (strcmp(s, "mcq") == 0)
        *out = ASSAY_VERIFY_MCQ;
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
    p->w_path = 0.55;
    p->w_graph = 0.15;
    p->w_term = 0.3;
    p->w_precision = 0.2;
    p->threshold = 0.8;
    p->min_precision = 0.34;
    p->system = ASSAY_SYS_ANY;
    p->linker = NULL;
    for (int i = 0; i < ASSAY_SYS_COUNT; i++)
        p->linkers[i] = NULL;
}

int assay_verify_params_check(const assay_verify_params_t *p, char *err, size_t errlen)
{
    const struct {
        const char *name;
        double v, lo, hi;
    } r[] = {{"w_path", p->w_path, 0, 1e6},
             {"w_graph", p->w_graph, 0, 1e6},
             {"w_term", p->w_term, 0, 1e6},
             {"w_precision", p->w_precision, 0, 1},
             {"threshold", p->threshold, 0, 1},
             {"min_precision", p->min_precision, 0, 1}};
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
        if (!(r[i].v >= r[i].lo && r[i].v <= r[i].hi)) {
            snprintf(err, errlen, "parameter \"%s\" is %g: expected a number in [%g, %g]",
                     r[i].name, r[i].v, r[i].lo, r[i].hi);
            return ASSAY_EINVAL;
        }
    if (p->w_path + p->w_graph + p->w_term <= 0) {
        snprintf(err, errlen,
                 "parameters \"w_path\", \"w_graph\" and \"w_term\" are all 0: "
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
        if (cp >= 'a' && cp <= 'a' + ASSAY_VERIFY_MAX_OPTIONS - 1)
            mask |= 1u << (cp - 'a');
        else if (!(assay_textscan_is_space(cp) || cp == ',' || cp == 0x3001 || cp == '/' ||
                   cp == ';' || cp == '+'))
            return 0;
    }
    return mask;
}

/* code points that may sit between a marker and its letters: 答案：是 (B) */
static int s_filler(uint32_t cp)
{
    static const uint32_t han[] = {
        0x662F /* 是 */, 0x4E3A /* 为 */, 0x5E94 /* 应 */, 0x8BE5 /* 该 */, 0x9009 /* 选 */,
        0x9879 /* 项 */, 0x62E9 /* 择 */, 0x5373 /* 即 */, 0x5C31 /* 就 */, 0x7684 /* 的 */,
        0x6700 /* 最 */, 0x4F73 /* 佳 */, 0x5F53 /* 当 */, 0x786E /* 确 */, 0x4E5F /* 也 */,
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
    return assay_textscan_is_space(cp) || cp == ',' || cp == 0xFF0C || cp == 0x3001 || cp == '/' ||
           cp == '+' || cp == '&' || cp == 0x548C /* 和 */ || cp == 0x4E0E /* 与 */ ||
           cp == 0x53CA /* 及 */ || cp == 0x4EE5 /* 以 */ || cp == 0x9009 /* 选 */ ||
           cp == 0x9879 /* 项 */ || cp == 0x6216 /* 或 */ || cp == 0x3001;
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

/* a word with its length, so hot loops never call strlen */
typedef struct {
    const char *s;
    size_t len;
} s_word_t;
/* clang-format off */
#define W(x) {x, sizeof(x) - 1}
/* clang-format on */

static const s_word_t s_markers[] = {
    W("正确答案"), W("参考答案"),  W("最终答案"), W("答案"),   W("故选"),   W("应选"), W("选择"),
    W("选"),       W("answer is"), W("answer:"),  W("answer"), W("option"), {NULL, 0}};

static unsigned char s_lc(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static size_t s_marker_at(const char *s, size_t len, size_t i)
{
    for (const s_word_t *m = s_markers; m->s; m++) {
        size_t ml = m->len;
        if (i + ml > len) continue;
        size_t k = 0;
        while (k < ml && s_lc((unsigned char)s[i + k]) == (unsigned char)m->s[k])
            k++;
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
    for (; x; x &= x - 1)
        n++;
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
    return cp == 0xFF0C || cp == ',' || cp == 0xFF1B || cp == ';' || cp == 0x3001 || cp == 0x3002 ||
           cp == '\n' || cp == '\r' || cp == 0xFF01 || cp == 0xFF1F || cp == '!' || cp == '?' ||
           cp == '|' || (cp >= 0x2460 && cp <= 0x2473) || cp == '.';
}

/* weaker boundaries, cut only when the whole segment is no name: a colon after
 * 诊断, a slash, brackets (特发性(原发性)高血压 is a name as a whole) */
static int s_weak_break(uint32_t cp)
{
    return cp == 0xFF1A || cp == ':' || cp == '/' || cp == 0x2014 || cp == 0xFF08 || cp == 0xFF09 ||
           cp == '(' || cp == ')' || cp == '[' || cp == ']' || cp == 0x3010 || cp == 0x3011;
}

/* conjunctions that join two diagnoses: 冠心病合并心衰, 胃炎伴出血 */
static const s_word_t s_conj[] = {W("合并"), W("并发"), W("伴有"), W("以及"), W("和"),  W("与"),
                                  W("及"),   W("伴"),   W("并"),   W("或"),   {NULL, 0}};
/* words around a diagnosis that are not part of it */
static const s_word_t s_prefix[] = {W("最可能的诊断是"),
                                    W("最可能的诊断为"),
                                    W("最可能的诊断"),
                                    W("初步诊断为"),
                                    W("初步诊断"),
                                    W("临床诊断"),
                                    W("诊断为"),
                                    W("诊断是"),
                                    W("诊断"),
                                    W("考虑为"),
                                    W("考虑是"),
                                    W("考虑"),
                                    W("可能为"),
                                    W("可能是"),
                                    W("可能"),
                                    W("疑似"),
                                    W("怀疑"),
                                    W("答案是"),
                                    W("答案为"),
                                    W("答案"),
                                    W("患者患有"),
                                    W("患有"),
                                    W("患"),
                                    W("的是"),
                                    W("是"),
                                    W("为"),
                                    W("应为"),
                                    W("即"),
                                    {NULL, 0}};
static const s_word_t s_suffix[] = {W("可能性大"), W("可能性较大"), W("的可能"), W("可能"),
                                    W("待查"),     W("待排"),       W("待排除"), W("可疑"),
                                    W("查因"),     W("？"),         W("?"),      {NULL, 0}};
/* which of those words are hedges (the disease is meant, with doubt) and which mark a
 * work-up still pending (待查 / 查因: the finding is named, its cause is not) */
static const s_word_t s_hedge_words[] = {W("考虑"), W("可能"), W("疑似"), W("怀疑"), W("待排"),
                                         W("可疑"), W("？"),   W("?"),    {NULL, 0}};
static const s_word_t s_pending_words[] = {W("待查"), W("查因"), {NULL, 0}};
/* laterality words that may open a mention (右膝关节骨关节炎): dropped to link it
 * when the whole is no name, since standard names are mostly unlateralised */
static const s_word_t s_lateral[] = {W("双侧"), W("单侧"), W("左侧"), W("右侧"), W("两侧"),
                                     W("左"),   W("右"),   W("双"),   {NULL, 0}};

static uint8_t s_word_qual(const char *w, size_t wl)
{
    for (const s_word_t *h = s_hedge_words; h->s; h++)
        if (assay_textscan_find(w, wl, h->s, h->len)) return ASSAY_QUAL_HEDGE;
    for (const s_word_t *h = s_pending_words; h->s; h++)
        if (assay_textscan_find(w, wl, h->s, h->len)) return ASSAY_QUAL_PENDING;
    return 0;
}

/* a state after the disease or its treatment: 术后, 状态, 史 (kept in the atom) */
static uint8_t s_postop_qual(const char *s, size_t len)
{
    static const s_word_t w[] = {W("术后"), W("状态"), W("病史"), {NULL, 0}};
    for (const s_word_t *x = w; x->s; x++)
        if (assay_textscan_find(s, len, x->s, x->len)) return ASSAY_QUAL_POSTOP;
    return 0;
}

static int s_starts(const char *s, size_t len, const s_word_t *w, size_t *wl)
{
    *wl = w->len;
    /* the first byte rules most words out without a call */
    return *wl <= len && s[0] == w->s[0] && memcmp(s, w->s, *wl) == 0;
}

static int s_ends(const char *s, size_t len, const s_word_t *w, size_t *wl)
{
    *wl = w->len;
    return *wl <= len && s[len - 1] == w->s[*wl - 1] && memcmp(s + len - *wl, w->s, *wl) == 0;
}

static int s_opener(uint32_t cp)
{
    return cp == '(' || cp == 0xFF08 || cp == '[' || cp == 0x3010 || cp == 0x3014;
}

static int s_closer(uint32_t cp)
{
    return cp == ')' || cp == 0xFF09 || cp == ']' || cp == 0x3011 || cp == 0x3015;
}

static int s_has_opener(const char *s, size_t len)
{
    for (size_t i = 0; i < len;)
        if (s_opener(assay_textscan_next(s, len, &i))) return 1;
    return 0;
}

/* s without its bracketed parts (drop = 1: 神经源性膀胱(功能不良) → 神经源性膀胱) or
 * without the brackets only (drop = 0: 睑(缘)炎 → 睑缘炎), into out; its length,
 * 0 when s has no brackets or out is too small */
static size_t s_unbracket(const char *s, size_t len, int drop, char *out, size_t cap)
{
    size_t n = 0;
    int depth = 0, any = 0;
    for (size_t i = 0; i < len;) {
        size_t at = i;
        uint32_t cp = assay_textscan_next(s, len, &i);
        if (s_opener(cp)) {
            depth++;
            any = 1;
            continue;
        }
        if (s_closer(cp)) {
            if (depth > 0) depth--;
            any = 1;
            continue;
        }
        if (drop && depth > 0) continue;
        if (n + (i - at) >= cap) return 0;
        memcpy(out + n, s + at, i - at);
        n += i - at;
    }
    return any ? n : 0;
}

/* trim space, leading list marks ("1." "①"), filler prefixes and suffixes; *qual
 * (may be NULL) gets the ASSAY_QUAL_* bits of the words trimmed */
static void s_trim_atom_q(const char **s, size_t *len, uint8_t *qual);
static void s_trim_atom(const char **s, size_t *len)
{
    s_trim_atom_q(s, len, NULL);
}

static void s_trim_atom_q(const char **s, size_t *len, uint8_t *qual)
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
        if ((assay_textscan_is_space(cp) || assay_textscan_is_punct(cp)) &&
            !(s_closer(cp) && s_has_opener(*s, b))) { /* 肩关节脱位[盂肱关节脱位] keeps ] */
            *len = b;
            again = 1;
            continue;
        }
        size_t wl;
        for (const s_word_t *w = s_prefix; w->s; w++)
            if (s_starts(*s, *len, w, &wl) && wl < *len) {
                if (qual) *qual |= s_word_qual(w->s, w->len);
                *s += wl;
                *len -= wl;
                again = 1;
                break;
            }
        if (again) continue;
        for (const s_word_t *w = s_suffix; w->s; w++)
            if (s_ends(*s, *len, w, &wl) && wl < *len) {
                if (qual) *qual |= s_word_qual(w->s, w->len);
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
    /* concepts with the same standard name (a code in clin2.0 and its twin in
     * bj_v601, a block and the clinical code that repeats its name) are one
     * candidate: the most general of them, which subsumes the others, and clin2.0
     * among equals */
    size_t n = 0;
    for (size_t i = 0; i < total; i++) {
        assay_term_id_t c = hits[i].concept;
        const char *nm = assay_terms_name(terms, c);
        size_t k = 0;
        while (k < n && strcmp(assay_terms_name(terms, out[k]), nm) != 0)
            k++;
        if (k < n) {
            int dc = assay_terms_depth(terms, c), dk = assay_terms_depth(terms, out[k]);
            if (dc < dk || (dc == dk && assay_terms_system(terms, c) == ASSAY_SYS_CLIN20))
                out[k] = c;
        } else if (n < max) {
            out[n++] = c;
        }
    }
    return n;
}

/* an ICD code written as the answer ("J15.900", "I21"): its concept (1) or 0 */
static size_t s_code(const assay_terms_t *terms, assay_code_system_t sys, const char *s,
                     size_t len, assay_term_id_t *out)
{
    if (len < 3 || len > 24 || !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')) ||
        !(s[1] >= '0' && s[1] <= '9'))
        return 0;
    char code[32];
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x80 || ch == ' ') return 0;
        code[i] = (char)ch;
    }
    code[len] = '\0';
    assay_term_id_t c = assay_terms_find_code(terms, sys, code);
    if (c == ASSAY_TERM_NONE) return 0;
    out[0] = c;
    return 1;
}

/* a whole segment that is only a filler word ("诊断", "可能") */
static int s_is_filler(const char *s, size_t len)
{
    size_t wl;
    for (const s_word_t *w = s_prefix; w->s; w++)
        if (s_starts(s, len, w, &wl) && wl == len) return 1;
    for (const s_word_t *w = s_suffix; w->s; w++)
        if (s_starts(s, len, w, &wl) && wl == len) return 1;
    return 0;
}

/* add s as an atom; cands (n_cands of them) when the caller already looked it up,
 * else NULL */
static void s_add_atom_q(const assay_terms_t *terms, assay_code_system_t sys, const char *s,
                         size_t len, const assay_term_id_t *cands, size_t n_cands, uint8_t qual,
                         assay_verify_atom_t *out, size_t max, size_t *n)
{
    if (!cands) s_trim_atom_q(&s, &len, &qual);
    /* one character is an atom only when it is a name (痣, 癌) */
    if (*n >= max || len == 0 || s_is_filler(s, len)) return;
    assay_term_id_t one[1];
    if (assay_textscan_count(s, len) < 2 &&
        !(cands ? n_cands > 0 : s_lookup(terms, sys, s, len, one, 1) > 0))
        return;
    assay_verify_atom_t *a = &out[*n];
    memset(a, 0, sizeof *a);
    a->text = s;
    a->len = (uint32_t)len;
    a->qual = (uint8_t)(qual | s_postop_qual(s, len));
    a->ev_rival = ASSAY_TERM_NONE;
    a->best = -1;
    a->best_own = a->best_other = ASSAY_TERM_NONE;
    if (cands) {
        memcpy(a->cands, cands, n_cands * sizeof *cands);
        a->n_cands = (uint8_t)n_cands;
    } else {
        a->n_cands = (uint8_t)s_lookup(terms, sys, s, len, a->cands, ASSAY_VERIFY_MAX_CANDS);
    }
    (*n)++;
}

static void s_add_atom(const assay_terms_t *terms, assay_code_system_t sys, const char *s,
                       size_t len, const assay_term_id_t *cands, size_t n_cands,
                       assay_verify_atom_t *out, size_t max, size_t *n)
{
    s_add_atom_q(terms, sys, s, len, cands, n_cands, 0, out, max, n);
}

/* an unlinked segment through the fuzzy linker: its entities become atoms (with
 * their span of the segment); 0 when it finds none */
static size_t s_fuzzy(const assay_terms_t *terms, const assay_verify_params_t *p,
                      assay_entities_t *ents, const char *t, size_t tl, assay_verify_atom_t *out,
                      size_t max, size_t *n)
{
    if (!p->linker || !ents || assay_normalize_text(p->linker, t, tl, ents) <= 0) return 0;
    size_t before = *n;
    for (size_t k = 0; k < ents->n && *n < max; k++) {
        const assay_entity_t *e = &ents->items[k];
        assay_term_id_t c = e->concept;
        if (c == ASSAY_TERM_NONE || e->end <= e->start || e->end > tl) continue;
        /* two entities on one span (an atom pair): one atom with both concepts */
        if (*n > before && out[*n - 1].text == t + e->start &&
            out[*n - 1].len == e->end - e->start) {
            assay_verify_atom_t *a = &out[*n - 1];
            if (a->n_cands < ASSAY_VERIFY_MAX_CANDS) a->cands[a->n_cands++] = c;
            continue;
        }
        size_t had = *n;
        s_add_atom(terms, p->system, t + e->start, e->end - e->start, &c, 1, out, max, n);
        if (*n > had) out[*n - 1].fuzzy = 1;
    }
    return *n - before;
}

/* one punctuation-delimited segment: the whole of it when it names a concept, else
 * its parts around conjunctions, else what the fuzzy linker finds in it (when one
 * is configured), else the segment as an unlinked atom */
static void s_segment(const assay_terms_t *terms, const assay_verify_params_t *p,
                      assay_entities_t *ents, const char *s, size_t len, assay_verify_atom_t *out,
                      size_t max, size_t *n, int depth)
{
    assay_code_system_t sys = p->system;
    const char *t = s;
    size_t tl = len;
    uint8_t qual = 0;
    s_trim_atom_q(&t, &tl, &qual);
    if (tl == 0) return;
    assay_term_id_t c[ASSAY_VERIFY_MAX_CANDS];
    size_t nc = s_lookup(terms, sys, t, tl, c, ASSAY_VERIFY_MAX_CANDS);
    if (!nc && (nc = s_code(terms, sys, t, tl, c)) > 0) {
        s_add_atom_q(terms, sys, t, tl, c, nc, (uint8_t)(qual | ASSAY_QUAL_CODE), out, max, n);
        return;
    }
    if (nc || depth > 3) {
        s_add_atom_q(terms, sys, t, tl, c, nc, qual, out, max, n);
        return;
    }
    /* a qualifier or a spelling in brackets: 神经源性膀胱(功能不良), 睑(缘)炎 */
    if (s_has_opener(t, tl)) {
        char v[S_NAME_MAX];
        for (int drop = 1; drop >= 0; drop--) {
            size_t vl = s_unbracket(t, tl, drop, v, sizeof v);
            if (vl < 2 || !(nc = s_lookup(terms, sys, v, vl, c, ASSAY_VERIFY_MAX_CANDS))) continue;
            s_add_atom_q(terms, sys, t, tl, c, nc, qual, out, max, n);
            return;
        }
    }
    /* 右膝关节骨关节炎: the name without its laterality */
    for (const s_word_t *w = s_lateral; w->s; w++) {
        size_t wl;
        if (!s_starts(t, tl, w, &wl) || assay_textscan_count(t + wl, tl - wl) < 2) continue;
        nc = s_lookup(terms, sys, t + wl, tl - wl, c, ASSAY_VERIFY_MAX_CANDS);
        if (nc) {
            s_add_atom_q(terms, sys, t, tl, c, nc, (uint8_t)(qual | ASSAY_QUAL_LATERALITY), out,
                         max, n);
            return;
        }
        break;
    }
    /* not a name as a whole: its parts between weak boundaries */
    for (size_t i = 0; i < tl;) {
        size_t at = i;
        if (!s_weak_break(assay_textscan_next(t, tl, &i))) continue;
        if (at > 0) s_segment(terms, p, ents, t, at, out, max, n, depth + 1);
        s_segment(terms, p, ents, t + i, tl - i, out, max, n, depth + 1);
        return;
    }
    for (const s_word_t *w = s_conj; w->s; w++) {
        size_t wl = w->len;
        const char *hit = assay_textscan_find(t, tl, w->s, wl);
        if (!hit || hit == t || hit + wl >= t + tl) continue;
        /* split only when at least one side is a known name, so "和" inside an
         * unknown phrase does not shred it */
        const char *l = t, *r = hit + wl;
        size_t ll = (size_t)(hit - t), rl = (size_t)(t + tl - r);
        s_trim_atom(&l, &ll);
        s_trim_atom(&r, &rl);
        if (s_lookup(terms, sys, l, ll, c, 1) || s_lookup(terms, sys, r, rl, c, 1)) {
            s_segment(terms, p, ents, t, (size_t)(hit - t), out, max, n, depth + 1);
            s_segment(terms, p, ents, hit + wl, (size_t)(t + tl - hit - wl), out, max, n,
                      depth + 1);
            return;
        }
    }
    if (s_fuzzy(terms, p, ents, t, tl, out, max, n) > 0) return;
    s_add_atom_q(terms, sys, t, tl, c, 0, qual, out, max, n);
}

size_t assay_verify_atoms(const assay_terms_t *terms, const assay_verify_params_t *p,
                          const char *text, size_t len, assay_verify_atom_t *out, size_t max)
{
    size_t n = 0, start = 0, i = 0;
    if (!text) return 0;
    int has_break = 0;
    for (size_t k = 0; k < len && !has_break;) {
        uint32_t cp = assay_textscan_next(text, len, &k);
        has_break = s_seg_break(cp) && cp != '.';
    }
    if (has_break) {
        /* a whole text that is one name (standard names may hold 、 and ,) */
        const char *t = text;
        size_t tl = len;
        uint8_t qual = 0;
        s_trim_atom_q(&t, &tl, &qual);
        assay_term_id_t c[ASSAY_VERIFY_MAX_CANDS];
        size_t nc = tl ? s_lookup(terms, p->system, t, tl, c, ASSAY_VERIFY_MAX_CANDS) : 0;
        if (nc) {
            s_add_atom_q(terms, p->system, t, tl, c, nc, qual, out, max, &n);
            if (n) return n;
        }
    }
    /* only the fuzzy linker needs a (growable) entity list */
    assay_entities_t ebuf = ASSAY_ENTITIES_INIT, *ents = p->linker ? &ebuf : NULL;
    while (i < len && n < max) {
        size_t at = i;
        uint32_t cp = assay_textscan_next(text, len, &i);
        int brk = s_seg_break(cp);
        if (!brk && assay_textscan_is_space(cp)) {
            /* "1.肺炎 2.高血压": a space before list numbering */
            size_t j = i;
            while (j < len && text[j] >= '0' && text[j] <= '9')
                j++;
            if (j > i && j < len &&
                (text[j] == '.' || text[j] == ')' || (unsigned char)text[j] == 0xE3))
                brk = 1;
        }
        if (brk) {
            /* a '.' inside a code or a number ("I25.1", "37.5") does not cut */
            if (cp == '.' && i < len && at > 0 && (unsigned char)text[i] < 0x80 &&
                (unsigned char)text[at - 1] < 0x80 && text[i] != ' ')
                continue;
            if (at > start) s_segment(terms, p, ents, text + start, at - start, out, max, &n, 0);
            start = i;
        }
    }
    if (start < len && n < max)
        s_segment(terms, p, ents, text + start, len - start, out, max, &n, 0);
    if (ents) assay_entities_release(ents);
    /* when some atoms link, long unlinked ones are prose around them, not entities */
    size_t linked = 0;
    for (size_t k = 0; k < n; k++)
        linked += out[k].n_cands > 0;
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
#define S_MEMO 12

#define S_ALIAS_MAX 16

/* what one verification has learnt about a concept's place in the knowledge graph:
 * its disease nodes, their neighbours (sorted, distinct) and the nodes it reaches
 * by an alias edge. Looking these up is the costly part of a check, so each concept
 * is fetched once per call. */
typedef struct {
    assay_term_id_t concept;
    uint8_t n_nodes, n_alias;
    uint16_t n_neigh;
    assay_term_id_t nodes[S_KG_NODES];
    assay_term_id_t alias[S_ALIAS_MAX];
    uint32_t neigh[S_NEIGH_MAX];
} s_kgmemo_t;

#define S_REL_CACHE 32

typedef struct {
    const assay_terms_t *terms;
    const assay_verify_params_t *p;
    size_t n_memo, next_evict;
    s_kgmemo_t memo[S_MEMO];
    /* relation labels seen so far and their class (0 plain, 1 department, 2 alias):
     * the terminology hands out one pointer per label, so a pointer compare
     * replaces string compares after the first sighting */
    size_t n_rel;
    const char *rel[S_REL_CACHE];
    uint8_t rel_class[S_REL_CACHE];
} s_ctx_t;

static int s_is_dept(const char *rel)
{
    /* 就诊科室: compared by bytes, the relation labels are few and short */
    return rel[0] == '\xe5' && strcmp(rel, "就诊科室") == 0;
}

static int s_is_alias_rel(const char *rel)
{
    return rel[0] == '\xe5' && (strcmp(rel, "别名") == 0 || strcmp(rel, "同义词") == 0);
}

/* shell sort of at most S_NEIGH_MAX ids (no callback, no allocation) */
static void s_sort_u32(uint32_t *v, size_t n)
{
    static const size_t gaps[] = {57, 23, 10, 4, 1};
    for (size_t gi = 0; gi < sizeof gaps / sizeof gaps[0]; gi++) {
        size_t gap = gaps[gi];
        for (size_t i = gap; i < n; i++) {
            uint32_t x = v[i];
            size_t j = i;
            while (j >= gap && v[j - gap] > x) {
                v[j] = v[j - gap];
                j -= gap;
            }
            v[j] = x;
        }
    }
}

static int s_rel_class(s_ctx_t *cx, const char *rel)
{
    for (size_t i = 0; i < cx->n_rel; i++)
        if (cx->rel[i] == rel) return cx->rel_class[i];
    int c = s_is_dept(rel) ? 1 : s_is_alias_rel(rel) ? 2 : 0;
    if (cx->n_rel < S_REL_CACHE) {
        cx->rel[cx->n_rel] = rel;
        cx->rel_class[cx->n_rel++] = (uint8_t)c;
    }
    return c;
}

static const s_kgmemo_t *s_kg(s_ctx_t *cx, assay_term_id_t c)
{
    for (size_t i = 0; i < cx->n_memo; i++)
        if (cx->memo[i].concept == c) return &cx->memo[i];
    s_kgmemo_t *m;
    if (cx->n_memo < S_MEMO) {
        m = &cx->memo[cx->n_memo++];
    } else {
        m = &cx->memo[cx->next_evict];
        cx->next_evict = (cx->next_evict + 1) % S_MEMO;
    }
    m->concept = c;
    size_t k = assay_terms_kg_for_concept(cx->terms, c, m->nodes, S_KG_NODES);
    m->n_nodes = (uint8_t)(k > S_KG_NODES ? S_KG_NODES : k);
    m->n_neigh = 0;
    m->n_alias = 0;
    assay_kg_edge_t e[S_NEIGH_MAX];
    for (size_t j = 0; j < m->n_nodes; j++) {
        size_t n =
            assay_terms_kg_neighbors(cx->terms, m->nodes[j], NULL, ASSAY_KG_BOTH, e, S_NEIGH_MAX);
        if (n > S_NEIGH_MAX) n = S_NEIGH_MAX;
        for (size_t i = 0; i < n && m->n_neigh < S_NEIGH_MAX; i++) {
            /* a shared department (内科) says little about two diseases */
            int rc = s_rel_class(cx, e[i].relation);
            if (rc == 1) continue;
            if (rc == 2 && m->n_alias < S_ALIAS_MAX) m->alias[m->n_alias++] = e[i].node;
            m->neigh[m->n_neigh++] = e[i].node;
        }
    }
    s_sort_u32(m->neigh, m->n_neigh);
    size_t w = 0;
    for (size_t i = 0; i < m->n_neigh; i++)
        if (w == 0 || m->neigh[w - 1] != m->neigh[i]) m->neigh[w++] = m->neigh[i];
    m->n_neigh = (uint16_t)w;
    return m;
}

static int s_sorted_has(const uint32_t *v, size_t n, uint32_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && v[lo] == x;
}

static float s_graph_sim(s_ctx_t *cx, assay_term_id_t a, assay_term_id_t b)
{
    const s_kgmemo_t *ma = s_kg(cx, a);
    const s_kgmemo_t *mb = s_kg(cx, b);
    if (ma->n_nodes == 0 || mb->n_nodes == 0) return -1;
    int direct = 0;
    for (size_t i = 0; i < ma->n_nodes; i++)
        for (size_t j = 0; j < mb->n_nodes; j++) {
            if (ma->nodes[i] == mb->nodes[j]) return 1;
            for (size_t k = 0; k < ma->n_alias; k++)
                if (ma->alias[k] == mb->nodes[j]) return 1;
            for (size_t k = 0; k < mb->n_alias; k++)
                if (mb->alias[k] == ma->nodes[i]) return 1;
            if (!direct && (s_sorted_has(ma->neigh, ma->n_neigh, mb->nodes[j]) ||
                            s_sorted_has(mb->neigh, mb->n_neigh, ma->nodes[i])))
                direct = 1;
        }
    size_t i = 0, j = 0, inter = 0;
    while (i < ma->n_neigh && j < mb->n_neigh) {
        if (ma->neigh[i] == mb->neigh[j]) {
            inter++;
            i++;
            j++;
        } else if (ma->neigh[i] < mb->neigh[j])
            i++;
        else
            j++;
    }
    size_t tot = (size_t)ma->n_neigh + mb->n_neigh;
    float dice = tot ? 2.0f * (float)inter / (float)tot : 0;
    if (direct && dice < 0.25f) dice = 0.25f;
    return dice;
}

/* an "unspecified" code (J18.9 / J18.900 肺炎, 未特指) stands for its whole category
 * in practice, so it is placed at the category for hierarchy distances */
static assay_term_id_t s_general(const assay_terms_t *terms, assay_term_id_t x)
{
    for (int guard = 0; guard < 3; guard++) {
        if (assay_terms_level(terms, x) < ASSAY_LEVEL_SUBCATEGORY) break;
        const char *dot = strchr(assay_terms_code(terms, x), '.');
        if (!dot || dot[1] != '9') break;
        const char *q = dot + 2;
        while (*q == '0')
            q++;
        if (*q != '\0') break;
        assay_term_id_t up = assay_terms_parent(terms, x);
        if (up == ASSAY_TERM_NONE) break;
        x = up;
    }
    return x;
}

static float s_path_sim(const assay_terms_t *terms, assay_term_id_t a, assay_term_id_t b)
{
    if (a == b) return 1;
    a = s_general(terms, a);
    b = s_general(terms, b);
    if (a == b) return 1;
    assay_term_id_t l = assay_terms_lca(terms, a, b);
    if (l == ASSAY_TERM_NONE) return 0;
    int dl = assay_terms_depth(terms, l);
    int dist = assay_terms_path_distance(terms, a, b);
    if (dl <= 0 || dist < 0) return 0;
    /* one subsumes the other: the same disease named more or less specifically */
    if (l == a || l == b) {
        float s = 1.0f - 0.1f * (float)dist;
        return s < 0.5f ? 0.5f : s;
    }
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

static float s_name_sim(const assay_terms_t *terms, assay_term_id_t x, assay_term_id_t y)
{
    const char *nx = assay_terms_name(terms, x), *ny = assay_terms_name(terms, y);
    return (float)assay_textscan_similarity(nx, strlen(nx), ny, strlen(ny));
}

double assay_verify_concept_sim(const assay_terms_t *terms, const assay_verify_params_t *p,
                                assay_term_id_t a, assay_term_id_t b, float *path, float *graph,
                                float *term)
{
    float pa, gr, te;
    if (a == b || strcmp(assay_terms_name(terms, a), assay_terms_name(terms, b)) == 0) {
        pa = gr = te = 1;
    } else {
        s_ctx_t *cx = assay_calloc(1, sizeof *cx);
        cx->terms = terms;
        cx->p = p;
        te = s_name_sim(terms, a, b);
        pa = s_path_sim(terms, a, b);
        gr = s_graph_sim(cx, a, b);
        free(cx);
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

/* string similarity of two atoms: their texts, and each text against the other
 * side's concept names (an unlinked "冠状动脉粥样硬化心脏病" is close to the name
 * 冠状动脉粥样硬化性心脏病 of a linked 冠心病) */
static float s_surface(const assay_terms_t *terms, const assay_verify_atom_t *g,
                       const assay_verify_atom_t *a)
{
    float t = (float)assay_textscan_similarity(g->text, g->len, a->text, a->len);
    for (int side = 0; side < 2; side++) {
        const assay_verify_atom_t *l = side ? a : g, *u = side ? g : a;
        if (u->n_cands > 0 && !u->fuzzy) continue; /* a sure link speaks for itself */
        for (size_t i = 0; i < l->n_cands; i++) {
            const char *nm = assay_terms_name(terms, l->cands[i]);
            float t2 = (float)assay_textscan_similarity(nm, strlen(nm), u->text, u->len);
            if (t2 > t) t = t2;
        }
    }
    return t;
}

typedef struct {
    float part, path, term; /* part: the fused score without the graph term */
    uint8_t i, j;
} s_cand_pair_t;

/* best similarity of two atoms over their candidates. The graph similarity (the
 * costly part) is computed for candidate pairs in order of their score without it,
 * and only while it could still change the winner. */
static void s_atom_pair(s_ctx_t *cx, const assay_verify_atom_t *g, const assay_verify_atom_t *a,
                        float floor, s_pair_t *out)
{
    const assay_terms_t *terms = cx->terms;
    const assay_verify_params_t *p = cx->p;
    out->sim = 0;
    out->path = out->graph = -1;
    out->term = 0;
    out->ca = out->cb = ASSAY_TERM_NONE;
    if (g->n_cands == 0 || a->n_cands == 0) {
        out->term = s_surface(terms, g, a);
        out->sim = (float)s_fuse(p, -1, -1, out->term);
        return;
    }
    /* a shared concept is an exact match (synonyms resolve to the same code), and
     * so is the same standard name in another code system */
    for (size_t i = 0; i < g->n_cands; i++)
        for (size_t j = 0; j < a->n_cands; j++)
            if (g->cands[i] == a->cands[j] || strcmp(assay_terms_name(terms, g->cands[i]),
                                                     assay_terms_name(terms, a->cands[j])) == 0) {
                out->sim = out->path = out->graph = out->term = 1;
                out->ca = g->cands[i];
                out->cb = a->cands[j];
                return;
            }
    s_cand_pair_t cp[ASSAY_VERIFY_MAX_CANDS * ASSAY_VERIFY_MAX_CANDS];
    size_t n = 0;
    double wfull = p->w_path + p->w_graph + p->w_term;
    for (size_t i = 0; i < g->n_cands; i++)
        for (size_t j = 0; j < a->n_cands; j++) {
            s_cand_pair_t *c = &cp[n++];
            c->i = (uint8_t)i;
            c->j = (uint8_t)j;
            c->term = s_name_sim(terms, g->cands[i], a->cands[j]);
            c->path = s_path_sim(terms, g->cands[i], a->cands[j]);
            c->part = (float)((p->w_path * c->path + p->w_term * c->term) / wfull);
        }
    /* insertion sort, best first (at most 16 pairs) */
    for (size_t i = 1; i < n; i++) {
        s_cand_pair_t v = cp[i];
        size_t k = i;
        while (k > 0 && cp[k - 1].part < v.part) {
            cp[k] = cp[k - 1];
            k--;
        }
        cp[k] = v;
    }
    if (n == 0) return;
    /* a fuzzy link may be wrong: such a pair scores at least as its strings do */
    float surface = -1;
    if (g->fuzzy || a->fuzzy) {
        surface = s_surface(terms, g, a);
        if (surface > floor) floor = surface;
    }
    /* a pair that cannot beat floor (the best both atoms already have) changes
     * nothing: report its score without the graph part, which is no higher */
    if (cp[0].part + p->w_graph / wfull <= floor) {
        out->sim = cp[0].part > surface ? cp[0].part : surface;
        if (surface >= cp[0].part) out->term = surface;
        return;
    }
    for (size_t k = 0; k < n; k++) {
        const s_cand_pair_t *c = &cp[k];
        /* with a perfect graph score this pair could reach part + w_graph share */
        if (out->ca != ASSAY_TERM_NONE && c->part + p->w_graph / wfull <= out->sim) break;
        assay_term_id_t x = g->cands[c->i], y = a->cands[c->j];
        float gr = p->w_graph > 0 ? s_graph_sim(cx, x, y) : -1;
        double sc = s_fuse(p, c->path, gr, c->term);
        if (sc > out->sim || out->ca == ASSAY_TERM_NONE) {
            out->sim = (float)sc;
            out->path = c->path;
            out->graph = gr;
            out->term = c->term;
            out->ca = x;
            out->cb = y;
        }
    }
    if (surface > out->sim) {
        out->sim = surface;
        out->path = out->graph = -1;
        out->term = surface;
        out->ca = out->cb = ASSAY_TERM_NONE;
    }
}

/* ------------------------------------------------ normaliser evidence */

#define S_EV_FLOOR 0.02f /* below this confidence a candidate says nothing */
#define S_EV_RIVAL 0.5f  /* the gold is named unless a sibling has twice its confidence */
#define S_EV_OTHER 10.0f /* ... or another disease read from the same words ten times */
#define S_EV_BASE 0.85f  /* the similarity of a gold the normaliser names */
#define S_EV_LOW 0.75f   /* the most a gold the normaliser does not name gets from it */
#define S_EV_MAX_BYTES 4096

/* the 3-character category of x (x itself above it) */
static assay_term_id_t s_category(const assay_terms_t *terms, assay_term_id_t x)
{
    for (int guard = 0; guard < 8 && x != ASSAY_TERM_NONE; guard++) {
        if (assay_terms_level(terms, x) <= ASSAY_LEVEL_CATEGORY) return x;
        x = assay_terms_parent(terms, x);
    }
    return x;
}

/* 1 when concept e is a sibling of gold concept g: the same category, another
 * standard name, neither subsuming the other */
static int s_is_sibling(const assay_terms_t *terms, assay_term_id_t g, assay_term_id_t e)
{
    if (g == e || strcmp(assay_terms_name(terms, g), assay_terms_name(terms, e)) == 0) return 0;
    assay_term_id_t cg = s_category(terms, g), ce = s_category(terms, e);
    if (cg == ASSAY_TERM_NONE || cg != ce) return 0;
    if (assay_terms_level(terms, cg) != ASSAY_LEVEL_CATEGORY) return 0;
    return !assay_terms_is_ancestor(terms, g, e) && !assay_terms_is_ancestor(terms, e, g);
}

/* 1 when rival's name lies inside gold's name (错构瘤 in 肺错构瘤) and the answer
 * holds at least half of the characters the gold adds to it: the answer supports
 * the gold's more specific wording, so the more general sibling does not outrank it */
static int s_specialises(const assay_terms_t *terms, assay_term_id_t gold, assay_term_id_t rival,
                         const char *resp, size_t rlen)
{
    const char *g = assay_terms_name(terms, gold), *r = assay_terms_name(terms, rival);
    size_t gl = strlen(g), rl = strlen(r);
    const char *at = rl ? assay_textscan_find(g, gl, r, rl) : NULL;
    if (!at || rl == gl) return 0;
    size_t extra = 0, found = 0;
    for (int side = 0; side < 2; side++) {
        const char *b = side ? at + rl : g, *e = side ? g + gl : at;
        for (size_t i = 0; b + i < e;) {
            size_t st = i;
            assay_textscan_next(b, (size_t)(e - b), &i);
            extra++;
            found += assay_textscan_find(resp, rlen, b + st, i - st) != NULL;
        }
    }
    return extra > 0 && found * 2 >= extra;
}

/* 1 when concept e is another disease than gold concept g: neither the same
 * concept or name, nor one subsuming the other */
static int s_other_disease(const assay_terms_t *terms, assay_term_id_t g, assay_term_id_t e)
{
    if (g == e || strcmp(assay_terms_name(terms, g), assay_terms_name(terms, e)) == 0) return 0;
    return !assay_terms_is_ancestor(terms, g, e) && !assay_terms_is_ancestor(terms, e, g);
}

/* the code system whose normaliser judges gold atom a: bj_v601 when one of its
 * names is a bj_v601 standard name and that normaliser exists, else clin2.0 */
static int s_ev_system(const assay_terms_t *terms, const assay_verify_params_t *p,
                       const assay_verify_atom_t *a)
{
    if (p->linkers[ASSAY_SYS_BJV601]) {
        for (size_t i = 0; i < a->n_cands; i++) {
            if (assay_terms_system(terms, a->cands[i]) == ASSAY_SYS_BJV601)
                return ASSAY_SYS_BJV601;
            assay_name_hit_t h[8];
            size_t n = assay_terms_find_name(terms, assay_terms_name(terms, a->cands[i]),
                                             ASSAY_SYS_BJV601, h, 8);
            for (size_t k = 0; k < n && k < 8; k++)
                if (h[k].alias == UINT32_MAX &&
                    assay_terms_system(terms, h[k].concept) == ASSAY_SYS_BJV601)
                    return ASSAY_SYS_BJV601;
        }
    }
    if (p->linkers[ASSAY_SYS_CLIN20]) return ASSAY_SYS_CLIN20;
    return p->linkers[ASSAY_SYS_BJV601] ? ASSAY_SYS_BJV601 : -1;
}

#define S_CT_MIN 0.3f   /* the least surface similarity the contrast accepts */
#define S_CT_MAXSIB 512 /* siblings compared at most */

/* the words of an answer atom without a leading laterality word */
static void s_unlateral(const char **s, size_t *len)
{
    for (const s_word_t *w = s_lateral; w->s; w++) {
        size_t wl;
        if (s_starts(*s, *len, w, &wl) && wl < *len) {
            *s += wl;
            *len -= wl;
            return;
        }
    }
}

/* the highest surface similarity of text to a concept below root (root included)
 * other than the gold, its ancestors and descendants, and names equal to its */
static float s_best_sibling(const assay_terms_t *terms, assay_term_id_t root, assay_term_id_t gold,
                            const char *text, size_t len, float best, size_t *budget)
{
    if (*budget == 0) return best;
    (*budget)--;
    if (root != gold && !assay_terms_is_ancestor(terms, root, gold) &&
        !assay_terms_is_ancestor(terms, gold, root) &&
        assay_terms_level(terms, root) > ASSAY_LEVEL_CATEGORY &&
        strcmp(assay_terms_name(terms, root), assay_terms_name(terms, gold)) != 0) {
        const char *nm = assay_terms_name(terms, root);
        float d = (float)assay_textscan_similarity(text, len, nm, strlen(nm));
        if (d > best) best = d;
    }
    size_t k = assay_terms_child_count(terms, root);
    for (size_t i = 0; i < k; i++)
        best = s_best_sibling(terms, assay_terms_child(terms, root, i), gold, text, len, best,
                              budget);
    return best;
}

/* category contrast: a gold atom the normaliser did not name still counts as
 * said when an answer atom that links to nothing exactly is closer in surface to
 * the gold's name than to any sibling's in its ICD category (and close enough) */
static void s_contrast(const assay_terms_t *terms, assay_verify_result_t *out)
{
    for (size_t g = 0; g < out->n_gold; g++) {
        assay_verify_atom_t *ga = &out->gold[g];
        if ((ga->ev & 0x7F) != ASSAY_EV_ABSENT && (ga->ev & 0x7F) != ASSAY_EV_OUTRANKED) continue;
        for (size_t c = 0; c < ga->n_cands; c++) {
            assay_term_id_t gc = ga->cands[c], cat = s_category(terms, gc);
            if (cat == ASSAY_TERM_NONE || assay_terms_level(terms, cat) != ASSAY_LEVEL_CATEGORY)
                continue;
            const char *gn = assay_terms_name(terms, gc);
            for (size_t a = 0; a < out->n_pred; a++) {
                assay_verify_atom_t *pa = &out->pred[a];
                if (pa->n_cands > 0 && !(pa->qual & ASSAY_QUAL_LATERALITY)) continue;
                const char *t = pa->text;
                size_t tl = pa->len;
                s_unlateral(&t, &tl);
                float dg = (float)assay_textscan_similarity(t, tl, gn, strlen(gn));
                if (dg < S_CT_MIN) {
                    float low = 0.5f * dg * dg;
                    if (low > ga->sim) {
                        if (!(ga->ev & 0x80)) ga->ev_before = ga->sim;
                        ga->sim = low;
                        ga->ev |= 0x80;
                    }
                    continue;
                }
                size_t budget = S_CT_MAXSIB;
                float ds = s_best_sibling(terms, cat, gc, t, tl, 0, &budget);
                if (dg <= ds) {
                    /* graded, below any acceptance: a ranking signal only */
                    float low = 0.5f * dg * (ds > 0 ? dg / ds : 1);
                    if (low > ga->sim) {
                        if (!(ga->ev & 0x80)) ga->ev_before = ga->sim;
                        ga->sim = low;
                        ga->ev |= 0x80;
                    }
                    continue;
                }
                float sim = 0.8f + 0.2f * (dg - ds);
                if (sim > 0.84f) sim = 0.84f; /* below what the normaliser's naming gives */
                if (sim <= ga->sim) continue;
                if (!(ga->ev & 0x80)) ga->ev_before = ga->sim;
                ga->sim = sim;
                ga->ev = ASSAY_EV_CONTRAST | 0x80;
                ga->best = (int8_t)a;
                ga->best_own = gc;
                if (pa->sim < sim) {
                    pa->sim = sim;
                    pa->ev = ASSAY_EV_CONTRAST;
                    pa->best = (int8_t)g;
                    pa->best_own = pa->best_other = gc;
                }
            }
        }
    }
}

/* the normaliser as evidence for the gold atoms that the exact comparison left
 * short of a perfect match (see assay_verify_params_t.linkers) */
static void s_evidence(const assay_terms_t *terms, const assay_verify_params_t *p,
                       const char *response, size_t rlen, assay_verify_result_t *out)
{
    assay_entities_t ents[ASSAY_SYS_COUNT];
    int have[ASSAY_SYS_COUNT] = {0};
    /* the part of the answer its atoms come from, at most S_EV_MAX_BYTES of it: a
     * long answer (reasoning and all) costs the normaliser no more than that */
    size_t lo = rlen, hi = 0;
    for (size_t a = 0; a < out->n_pred; a++) {
        const assay_verify_atom_t *pa = &out->pred[a];
        if (!response || pa->text < response || pa->text >= response + rlen) continue;
        size_t as = (size_t)(pa->text - response);
        if (as < lo) lo = as;
        if (as + pa->len > hi) hi = as + pa->len;
    }
    if (lo >= hi) return;
    if (hi - lo > S_EV_MAX_BYTES) {
        hi = lo + S_EV_MAX_BYTES;
        while (hi > lo && ((unsigned char)response[hi] & 0xC0) == 0x80)
            hi--;
    }
    for (size_t g = 0; g < out->n_gold; g++) {
        assay_verify_atom_t *ga = &out->gold[g];
        ga->ev_before = ga->sim;
        if (ga->sim >= 0.999f || ga->n_cands == 0 || !response || rlen == 0) continue;
        int sys = s_ev_system(terms, p, ga);
        if (sys < 0) continue;
        if (!have[sys]) {
            assay_entities_init(&ents[sys]);
            have[sys] = 1;
            if (assay_normalize_text(p->linkers[sys], response + lo, hi - lo, &ents[sys]) < 0)
                ents[sys].n = 0;
        }
        const assay_entities_t *e = &ents[sys];
        size_t hit = SIZE_MAX;
        for (size_t k = 0; k < e->n && hit == SIZE_MAX; k++)
            for (size_t c = 0; c < ga->n_cands; c++)
                if (e->items[k].concept == ga->cands[c] ||
                    strcmp(e->items[k].name, assay_terms_name(terms, ga->cands[c])) == 0) {
                    hit = k;
                    break;
                }
        /* the best sibling of the gold ranked above it (entities come best first) */
        size_t rival = SIZE_MAX, upto = hit == SIZE_MAX ? e->n : hit;
        for (size_t k = 0; k < upto && rival == SIZE_MAX; k++) {
            if (e->items[k].confidence < S_EV_FLOOR) break;
            for (size_t c = 0; c < ga->n_cands; c++) {
                assay_term_id_t x = e->items[k].concept;
                if (s_is_sibling(terms, ga->cands[c], x) &&
                    !s_specialises(terms, ga->cands[c], x, response, rlen)) {
                    rival = k;
                    break;
                }
            }
        }
        if (rival != SIZE_MAX) {
            ga->ev_rival = e->items[rival].concept;
            ga->ev_rival_conf = e->items[rival].confidence;
        }
        /* words the answer names exactly as another disease rival the gold with the
         * normaliser's own confidence in that disease (absent: no contest): a weak
         * reading of them as the gold does not count, a synonym coded twice that the
         * known mentions tie to the gold still can */
        if (hit != SIZE_MAX) {
            size_t es = lo + e->items[hit].start, ee = lo + e->items[hit].end;
            for (size_t a = 0; a < out->n_pred; a++) {
                const assay_verify_atom_t *pa = &out->pred[a];
                if (pa->n_cands == 0 || (pa->qual & ASSAY_QUAL_LATERALITY) || pa->fuzzy) continue;
                if (pa->text < response || pa->text >= response + rlen) continue;
                size_t as = (size_t)(pa->text - response), ae = as + pa->len;
                if (!(as < ee && es < ae)) continue;
                int agrees = 0;
                for (size_t i = 0; i < pa->n_cands && !agrees; i++)
                    for (size_t c = 0; c < ga->n_cands && !agrees; c++)
                        agrees = !s_other_disease(terms, ga->cands[c], pa->cands[i]);
                if (agrees) continue;
                float xc = -1;
                for (size_t k = 0; k < e->n; k++)
                    for (size_t i = 0; i < pa->n_cands; i++)
                        if ((e->items[k].concept == pa->cands[i] ||
                             strcmp(e->items[k].name, assay_terms_name(terms, pa->cands[i])) == 0) &&
                            e->items[k].confidence > xc)
                            xc = e->items[k].confidence;
                if (xc < 0) xc = 1; /* not among the normaliser's readings at all */
                if (rival == SIZE_MAX || xc > ga->ev_rival_conf) {
                    ga->ev_rival = pa->cands[0];
                    ga->ev_rival_conf = xc;
                    rival = SIZE_MAX - 1; /* an exact other name */
                }
            }
        }
        if (hit == SIZE_MAX) {
            ga->ev = ASSAY_EV_ABSENT;
            /* graded, below any acceptance: how close in the hierarchy the
             * normaliser's best readings of the answer come to the gold */
            float low = 0;
            for (size_t k = 0; k < e->n && k < 3; k++) {
                if (e->items[k].confidence < S_EV_FLOOR) break;
                for (size_t c = 0; c < ga->n_cands; c++) {
                    /* a sibling reading speaks against the gold as much as for it */
                    float w = s_is_sibling(terms, ga->cands[c], e->items[k].concept) ? 0.2f : 0.5f;
                    float pth = w * s_path_sim(terms, e->items[k].concept, ga->cands[c]);
                    if (pth > low) low = pth;
                }
            }
            if (low > ga->sim) {
                ga->ev_before = ga->sim;
                ga->sim = low;
                ga->ev |= 0x80;
            }
            continue;
        }
        float conf = e->items[hit].confidence;
        ga->ev_conf = conf;
        /* the same words read as another disease (not a sibling) with an order of
         * magnitude more confidence rival the gold like a sibling does: a name of one
         * disease weakly read as another gives no credit for it */
        {
            size_t es = e->items[hit].start, ee = e->items[hit].end;
            for (size_t k = 0; k < e->n; k++) {
                if (k == hit || e->items[k].confidence <= S_EV_OTHER * conf) continue;
                if (!(e->items[k].start < ee && es < e->items[k].end)) continue;
                int other = 1;
                for (size_t c = 0; c < ga->n_cands && other; c++)
                    other = s_other_disease(terms, ga->cands[c], e->items[k].concept);
                if (other && (rival == SIZE_MAX || e->items[k].confidence > ga->ev_rival_conf)) {
                    ga->ev_rival = e->items[k].concept;
                    ga->ev_rival_conf = e->items[k].confidence;
                    rival = k;
                }
            }
        }
        float rc = rival != SIZE_MAX ? ga->ev_rival_conf : 0;

        /* the gold's share of the evidence between it and its best sibling */
        float q = conf + rc > 0 ? conf / (conf + rc) : 0;
        /* an untrained normaliser's confidences rank but are not calibrated: they
         * never name a gold on their own */
        if (conf < S_EV_FLOOR || conf < S_EV_RIVAL * rc || !assay_normalizer_learned(p->linkers[sys])) {
            ga->ev = ASSAY_EV_OUTRANKED;
            /* graded, below any acceptance: a ranking signal only */
            float low = S_EV_LOW * q * (conf < S_EV_FLOOR ? conf / S_EV_FLOOR : 1);
            if (low > ga->sim) {
                ga->ev_before = ga->sim;
                ga->sim = low;
                ga->ev = ASSAY_EV_OUTRANKED | 0x80;
            }
            continue;
        }
        ga->ev = ASSAY_EV_NAMED;
        float sim = S_EV_BASE + (1 - S_EV_BASE) * q;
        if (sim <= ga->sim) continue;
        ga->sim = sim;
        ga->best_own = e->items[hit].concept;
        ga->best_other = e->items[hit].concept;
        /* the answer atoms the entity spans said the gold, too */
        size_t es = lo + e->items[hit].start, ee = lo + e->items[hit].end;
        for (size_t a = 0; a < out->n_pred; a++) {
            assay_verify_atom_t *pa = &out->pred[a];
            size_t as = (size_t)(pa->text - response), ae = as + pa->len;
            if (pa->text < response || as >= rlen) continue;
            if (as < ee && es < ae && pa->sim < sim) {
                pa->sim = sim;
                pa->ev = ASSAY_EV_NAMED;
                pa->best = (int8_t)g;
                pa->best_own = pa->best_other = e->items[hit].concept;
                ga->best = (int8_t)a;
            }
        }
    }
    for (int i = 0; i < ASSAY_SYS_COUNT; i++)
        if (have[i]) assay_entities_release(&ents[i]);
    s_contrast(terms, out);
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
            for (size_t j = 0; j < out[k].n_cands; j++)
                dup |= out[k].cands[j] == c;
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
        a->ev_rival = ASSAY_TERM_NONE;
    }
}

int assay_verify_text(const assay_terms_t *terms, const assay_verify_params_t *p, const char *gold,
                      size_t glen, const char *const *gold_codes, size_t n_codes,
                      const char *response, size_t rlen, assay_verify_result_t *out)
{
    out->kind = ASSAY_VERIFY_CASE;
    out->score = 0;
    out->correct = 0;
    out->gold_mask = out->pred_mask = 0;
    out->how = ASSAY_MCQ_NONE;
    out->recall = out->precision = 0;
    out->path_sim = out->graph_sim = out->term_sim = -1;
    out->n_gold =
        assay_verify_atoms(terms, p, gold, gold ? glen : 0, out->gold, ASSAY_VERIFY_MAX_ATOMS);
    s_codes_atoms(terms, p, gold_codes, n_codes, out->gold, ASSAY_VERIFY_MAX_ATOMS, &out->n_gold);
    if (out->n_gold == 0) return ASSAY_EINVAL;
    out->n_pred = assay_verify_atoms(terms, p, response, response ? rlen : 0, out->pred,
                                     ASSAY_VERIFY_MAX_ATOMS);
    if (out->n_pred == 0) return 0;

    /* on the stack: a check allocates nothing */
    s_ctx_t ctx, *cx = &ctx;
    cx->terms = terms;
    cx->p = p;
    cx->n_memo = cx->next_evict = 0;
    cx->n_rel = 0;
    for (size_t a = 0; a < out->n_pred; a++)
        out->pred[a].sim = -1;
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
            float floor = ga->best < 0 ? -1 : ga->sim;
            if (pa->sim < floor) floor = pa->sim;
            s_atom_pair(cx, ga, pa, floor, &r);
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
    s_evidence(terms, p, response, rlen, out);
    for (size_t g = 0; g < out->n_gold; g++) {
        assay_verify_atom_t *ga = &out->gold[g];
        if (ga->ev == ASSAY_EV_NAMED || (ga->ev & 0x80)) rsum += ga->sim - ga->ev_before;
        ga->ev &= 0x7F;
    }
    /* precision over the answer's entities: when some atoms link, the unlinked
     * ones are the prose around them (依据, 建议复查) and do not count */
    size_t plinked = 0, pn_count = 0;
    for (size_t a = 0; a < out->n_pred; a++)
        plinked += out->pred[a].n_cands > 0 || out->pred[a].ev != ASSAY_EV_NONE;
    for (size_t a = 0; a < out->n_pred; a++) {
        /* an atom the normaliser's evidence tied to a gold is an entity, too */
        if (plinked > 0 && out->pred[a].n_cands == 0 && out->pred[a].ev == ASSAY_EV_NONE) continue;
        psum += out->pred[a].sim > 0 ? out->pred[a].sim : 0;
        pn_count++;
    }
    out->recall = rsum / (double)out->n_gold;
    out->precision = pn_count ? psum / (double)pn_count : 0;
    out->score = (1 - p->w_precision) * out->recall + p->w_precision * out->precision;
    if (out->score > 1) out->score = 1;
    if (out->score < 0) out->score = 0;
    /* a list of many diseases that happens to hold the gold is no correct answer */
    out->correct = out->score >= p->threshold && out->precision >= p->min_precision;
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

static json_t *s_atoms_json(const assay_terms_t *terms, const assay_verify_atom_t *atoms, size_t n,
                            int gold)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        const assay_verify_atom_t *a = &atoms[i];
        json_t *codes = json_array();
        for (size_t k = 0; k < a->n_cands; k++)
            json_array_append_new(codes, json_string(assay_terms_code(terms, a->cands[k])));
        json_t *o = json_pack("{s:s%, s:o, s:b}", "text", a->text, (size_t)a->len, "codes", codes,
                              "from_code", a->from_code);
        if (a->qual) {
            json_t *q = json_array();
            if (a->qual & ASSAY_QUAL_HEDGE) json_array_append_new(q, json_string("hedge"));
            if (a->qual & ASSAY_QUAL_PENDING) json_array_append_new(q, json_string("pending_workup"));
            if (a->qual & ASSAY_QUAL_POSTOP) json_array_append_new(q, json_string("post_treatment"));
            if (a->qual & ASSAY_QUAL_LATERALITY)
                json_array_append_new(q, json_string("laterality_dropped"));
            if (a->qual & ASSAY_QUAL_CODE) json_array_append_new(q, json_string("icd_code"));
            json_object_set_new(o, "qualifiers", q);
        }
        if (!gold && a->ev != ASSAY_EV_NONE) {
            /* an answer atom tied to a gold by the evidence, not by a name */
            json_object_set_new(o, "evidence",
                                json_string(a->ev == ASSAY_EV_CONTRAST ? "closest_in_category"
                                                                       : "normalizer"));
        } else if (a->ev != ASSAY_EV_NONE) {
            static const char *const evn[] = {"none", "named", "outranked_by_sibling", "absent",
                                              "closest_in_category"};
            json_t *ev = json_pack("{s:s, s:o}", "normalizer", evn[a->ev <= 4 ? a->ev : 0],
                                   "confidence",
                                   s_num_or_null(a->ev_conf));
            if (a->ev_rival != ASSAY_TERM_NONE) {
                json_object_set_new(ev, "sibling", s_concept_json(terms, a->ev_rival));
                json_object_set_new(ev, "sibling_confidence", s_num_or_null(a->ev_rival_conf));
            }
            json_object_set_new(o, "evidence", ev);
        }
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
            for (size_t j = 0; j < ns; j++)
                dup |= seen[j] == c;
            if (dup) continue;
            seen[ns++] = c;
            json_array_append_new(arr, s_concept_json(terms, c));
        }
    return arr;
}

json_t *assay_verify_explain(const assay_terms_t *terms, const assay_verify_params_t *p,
                             const assay_verify_result_t *r)
{
    json_t *w = json_pack("{s:f, s:f, s:f, s:f, s:f}", "w_path", p->w_path, "w_graph", p->w_graph,
                          "w_term", p->w_term, "w_precision", p->w_precision, "min_precision",
                          p->min_precision);
    json_t *o;
    if (r->kind == ASSAY_VERIFY_MCQ) {
        o = json_pack("{s:s, s:o, s:o, s:s, s:o, s:o}", "method", "option_letters", "gold",
                      s_letters_json(r->gold_mask), "predicted", s_letters_json(r->pred_mask),
                      "found_by", assay_verify_mcq_how_name(r->how), "atoms", json_array(), "codes",
                      json_array());
    } else {
        o = json_pack("{s:s, s:{s:o, s:o}, s:{s:o, s:o}}", "method", "atoms", "atoms", "gold",
                      s_atoms_json(terms, r->gold, r->n_gold, 1), "answer",
                      s_atoms_json(terms, r->pred, r->n_pred, 0), "codes", "gold",
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
