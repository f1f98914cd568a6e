/*  leak_eval.c: evaluates leak removal on case records with a known diagnosis.
 *
 *  usage: leak_eval CASES.jsonl [TERMS] [-v] [--hide-history]
 *
 *  Each line is {text, diagnosis, fields? | sections?}: diagnosis a string (or
 *  an array of strings, joined with "；"), fields/sections named sections (a
 *  null or non-string one is absent, as for the task, and counted). The engine
 *  runs as the leak_removal task runs it: with TERMS (a terminology TSV
 *  directory or snapshot) the case lexicon is expanded with aliases, related
 *  terms, codes and treatments; without it only the gold text itself is hidden.
 *  --hide-history: the case hides names of the diagnosis in the patient's past
 *  history too (assay_leak_case_hide_history).
 *
 *  The figures are defined here, independently of the engine's own gold parsing
 *  and of what it decided to remove:
 *  - gold items: the parts of the record's diagnosis string between list numbers
 *    ("1." "2、" "3．" "（4）" "(5)" "①", numbered 1, 2, 3, … so "4.2型糖尿病" is
 *    item 4) and punctuation (，,；;、。：:！？!? quotes, white space, line ends). A
 *    bracketed part ("（3级，很高危）", "（多发）", "（NYHA分级）") qualifies the
 *    item before it and is no item; parts of fewer than two characters are none.
 *  - leak_rate: share of cases whose clean text holds a gold item verbatim
 *    (plain substring; target 0).
 *  - retention: over the sentences of the original text and of its named
 *    sections (split at 。！？!?；; and line ends) outside conclusion/management
 *    sections (see below; a named section by its name) that hold no
 *    gold item, the share found verbatim, whole, in the clean text (a sentence
 *    with a header, "主诉：…", counts with or without it). A sentence with one
 *    clause cut counts as lost.
 *  - evidence_retention: the same over those of these sentences that hold a
 *    number with a unit (a measured value: "36.8℃", "120/80mmHg", "12.5×10^9/L",
 *    "85%", "4cm", "71次/分", "450ms"; durations, ages and counts are none).
 *  - conclusion/management sections, by this program's own rule: a header
 *    "NAME：" or a header line whose NAME contains 诊断, 拟诊, 经过, 医嘱, 出院,
 *    治疗, 处理, 计划, 转归, 预后, 随访, 术式, 手术名称, 手术方式, 临床印象 or
 *    初步印象; one opened inside a paragraph ends with the line, or with the
 *    sentence and a numbered list after it when NAME ends in 诊断, 印象 or 拟诊;
 *    such a section ends at the next header of a history, complaint or findings
 *    section, NAME ending in 史, 主诉, 情况, 检查, 查体, 体检, 摘要, 资料, 特点, 体征
 *    or 化验. Their sentences are not scored: they are the conclusion.
 *  - cases_per_s: cases cleaned per second on one core: the CPU time of the one
 *    thread doing the work (so other load on the machine does not count), timing
 *    the lexicon build (gold parsing + terminology expansion) and the run
 *    (cleaning + residual check), not JSON parsing or scoring; the data set is
 *    repeated until at least one CPU second has passed. Wall-clock time is
 *    printed alongside.
 *  Also printed: the characters of the scored sentences kept whole or in pieces
 *  of four characters or more (a clause cut costs its own characters only), and
 *  how many lost sentences hold a term of the engine's case lexicon (a core name,
 *  alias, relative, code or drug of the diagnosis: the engine's choice to hide
 *  it) or none (-v lists them, with the term).
 *  Every case is cleaned, free text without section headers included (the task
 *  refuses that unless allow_unsectioned is set); cases the engine refuses
 *  (no text, no diagnosis, invalid UTF-8, too large) are counted as errors and
 *  left out of the figures.
 *  Last line: leak_rate=X retention=Y evidence_retention=Z cases_per_s=W
 */
#include "common/util.h"
#include "worker/domain/leak.h"
#include "worker/domain/terms.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    json_t *rec;
    const char *text;
    size_t len;
    char *diag; /* the gold diagnosis text; items of an array joined with "；" */
    assay_leak_section_t *secs;
    size_t n_secs;
} s_case_t;

/* CPU time of this thread: "on one core" whatever else the machine runs */
static int64_t s_cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static size_t s_nchars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) n++;
    return n;
}

static int s_conclusion_header(const char *s, size_t len)
{
    static const char *const keys[] = {"诊断", "拟诊", "经过", "医嘱", "出院", "治疗", "处理",
                                       "计划", "转归", "预后", "随访", "术式", "手术名称",
                                       "手术方式", "临床印象", "初步印象"};
    for (size_t k = 0; k < ASSAY_ARRAY_LEN(keys); k++)
        if (memmem(s, len, keys[k], strlen(keys[k]))) return 1;
    return 0;
}

/* a header naming a diagnosis (…诊断, …印象, 拟诊) rather than management */
static int s_names_diagnosis(const char *s, size_t len)
{
    static const char *const tails[] = {"诊断", "印象", "拟诊"};
    for (size_t k = 0; k < ASSAY_ARRAY_LEN(tails); k++) {
        size_t l = strlen(tails[k]);
        if (len >= l && memcmp(s + len - l, tails[k], l) == 0) return 1;
    }
    return 0;
}

/* a section that holds what a doctor reasons from: history, complaint, findings */
static int s_keep_header(const char *s, size_t len)
{
    static const char *const tails[] = {"史", "主诉", "情况", "检查", "查体", "体检", "摘要",
                                        "资料", "特点", "体征", "化验"};
    for (size_t k = 0; k < ASSAY_ARRAY_LEN(tails); k++) {
        size_t l = strlen(tails[k]);
        if (len >= l && memcmp(s + len - l, tails[k], l) == 0) return 1;
    }
    return 0;
}

/* a "NAME：" header at s (NAME up to 8 CJK characters): its byte length, else 0 */
static size_t s_header_len(const char *s, size_t len, size_t *name_len)
{
    size_t i = 0, chars = 0;
    while (i < len && chars <= 8) {
        unsigned char c = (unsigned char)s[i];
        if (i + 3 <= len && memcmp(s + i, "：", 3) == 0) break;
        if (c == ':') break;
        if (c < 0xE0) return 0; /* only CJK characters make a header name */
        i += 3;
        chars++;
    }
    if (chars == 0 || chars > 8 || i >= len) return 0;
    *name_len = i;
    return i + (s[i] == ':' ? 1 : 3);
}

/* leading white space, ASCII or ideographic */
static size_t s_space_len(const char *s, size_t len)
{
    size_t i = 0;
    for (;;) {
        if (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r')) i++;
        else if (i + 3 <= len && memcmp(s + i, "　", 3) == 0) i += 3;
        else return i;
    }
}

/* a list marker "（3）", "(3)", "3.", "3、" or "一、" at s: its length, else 0 */
static size_t s_marker_len(const char *s, size_t len)
{
    size_t i = 0;
    if (i + 3 <= len && memcmp(s, "（", 3) == 0) {
        const char *close = memmem(s, len < 12 ? len : 12, "）", 3);
        return close ? (size_t)(close - s) + 3 : 0;
    }
    if (i < len && s[i] == '(') {
        const char *close = memchr(s, ')', len < 6 ? len : 6);
        return close ? (size_t)(close - s) + 1 : 0;
    }
    while (i < len && s[i] >= '0' && s[i] <= '9') i++;
    if (i == 0) {
        static const char *const nums[] = {"一", "二", "三", "四", "五", "六", "七", "八", "九", "十"};
        for (size_t k = 0; k < ASSAY_ARRAY_LEN(nums); k++)
            if (len >= 3 && memcmp(s, nums[k], 3) == 0) i = 3;
        if (i == 0) return 0;
    }
    if (i < len && (s[i] == '.' || s[i] == ')')) return i + 1;
    if (i + 3 <= len && (memcmp(s + i, "、", 3) == 0 || memcmp(s + i, "．", 3) == 0)) return i + 3;
    return 0;
}

/* a short line of CJK text without punctuation, after an optional "（N）" marker */
static int s_is_header_line(const char *s, size_t len)
{
    size_t i = 0, chars = 0;
    if (i + 3 <= len && memcmp(s, "（", 3) == 0) {
        const char *close = memmem(s, len, "）", 3);
        if (!close || close - s > 8) return 0;
        i = (size_t)(close - s) + 3;
    }
    while (i < len && (s[i] == ' ' || s[i] == '\t')) i++;
    for (; i < len; i += 3, chars++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\r') break;
        if (c < 0xE4 || c > 0xE9 || i + 3 > len) return 0; /* CJK unified ideographs only */
    }
    return chars > 0 && chars <= 8;
}

static int s_sentence_end(const char *s, size_t len, size_t i, size_t *n)
{
    static const char *const ends[] = {"。", "！", "？", "；", "\n", "!", "?", ";"};
    for (size_t k = 0; k < ASSAY_ARRAY_LEN(ends); k++) {
        size_t l = strlen(ends[k]);
        if (i + l <= len && memcmp(s + i, ends[k], l) == 0) {
            *n = l;
            return 1;
        }
    }
    return 0;
}

/* ---- the benchmark's own definitions (independent of the engine) ---------- */

/* The gold items of a diagnosis string: its parts between list numbers ("1.",
 * "2、", "3．", "（4）", "(5)", "①") and punctuation (，,；;、。：:！？!? quotes, white
 * space, line ends). A bracketed part ("（3级，很高危）", "（多发）", "（NYHA分级）")
 * qualifies the item before it: it is dropped, not an item of its own. Parts of
 * fewer than two characters are no item. */
typedef struct {
    char **v;
    size_t n, cap;
} s_items_t;

static void s_items_add(s_items_t *it, const char *s, size_t len)
{
    if (s_nchars(s, len) < 2) return;
    for (size_t k = 0; k < it->n; k++)
        if (strlen(it->v[k]) == len && memcmp(it->v[k], s, len) == 0) return;
    if (it->n == it->cap) {
        it->cap = it->cap ? it->cap * 2 : 8;
        it->v = realloc(it->v, it->cap * sizeof *it->v);
    }
    it->v[it->n] = malloc(len + 1);
    memcpy(it->v[it->n], s, len);
    it->v[it->n++][len] = '\0';
}

static void s_items_free(s_items_t *it)
{
    for (size_t k = 0; k < it->n; k++) free(it->v[k]);
    free(it->v);
    memset(it, 0, sizeof *it);
}

static int s_lit(const char *s, size_t len, size_t i, const char *lit)
{
    size_t l = strlen(lit);
    return i + l <= len && memcmp(s + i, lit, l) == 0;
}

/* the list number want at s[i] ("12." "3、" "4．" "（5）" "(6)" "⑦"): its length,
 * else 0. Numbers run 1, 2, 3, …: the digits of a name ("4.2型糖尿病", "高血压病3级")
 * are not the next number. */
static size_t s_list_number(const char *s, size_t len, size_t i, unsigned want)
{
    static const char *const circled[] = {"①", "②", "③", "④", "⑤", "⑥", "⑦", "⑧", "⑨", "⑩",
                                          "⑪", "⑫", "⑬", "⑭", "⑮", "⑯", "⑰", "⑱", "⑲", "⑳"};
    if (want >= 1 && want <= ASSAY_ARRAY_LEN(circled) && s_lit(s, len, i, circled[want - 1]))
        return 3;
    if (i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9') return 0;
    size_t j = i;
    int paren = 0;
    if (s_lit(s, len, j, "（")) paren = 3;
    else if (j < len && s[j] == '(') paren = 1;
    j += (size_t)paren;
    size_t d = j;
    unsigned v = 0;
    while (j < len && j - d < 3 && s[j] >= '0' && s[j] <= '9')
        v = v * 10 + (unsigned)(s[j++] - '0');
    if (j == d || v != want) return 0;
    if (paren == 3 && s_lit(s, len, j, "）")) return j + 3 - i;
    if (paren == 1 && j < len && s[j] == ')') return j + 1 - i;
    if (paren) return 0;
    /* "4.2型糖尿病" is item 4, not the number 4.2: only the expected number counts */
    if (j < len && s[j] == '.') return j + 1 - i;
    if (s_lit(s, len, j, "、") || s_lit(s, len, j, "．")) return j + 3 - i;
    return 0;
}

static void s_gold_items(const char *d, s_items_t *it)
{
    static const char *const seps[] = {"，", "；", "、", "。", "：", "！", "？", "“", "”", "‘",
                                       "’", "《", "》", "「", "」", "　", "【", "】"};
    size_t len = strlen(d), a = 0, i = 0;
    int depth = 0;
    unsigned want = 1;
    while (i < len) {
        size_t m = depth == 0 ? s_list_number(d, len, i, want) : 0;
        if (m) {
            s_items_add(it, d + a, i - a);
            want++;
            i += m;
            a = i;
            continue;
        }
        size_t n = 0;
        if (s_lit(d, len, i, "（") || d[i] == '(' || d[i] == '[') {
            if (depth == 0) s_items_add(it, d + a, i - a);
            depth++;
            n = d[i] == '(' || d[i] == '[' ? 1 : 3;
        } else if (s_lit(d, len, i, "）") || d[i] == ')' || d[i] == ']') {
            n = d[i] == ')' || d[i] == ']' ? 1 : 3;
            if (depth > 0 && --depth == 0) a = i + n;
        } else if (strchr(",;:!?\"' \t\r\n", d[i])) {
            n = 1;
        } else {
            for (size_t k = 0; k < ASSAY_ARRAY_LEN(seps) && !n; k++)
                if (s_lit(d, len, i, seps[k])) n = strlen(seps[k]);
        }
        if (n) {
            if (depth == 0 && i > a) s_items_add(it, d + a, i - a);
            i += n;
            if (depth == 0) a = i;
            continue;
        }
        i++;
    }
    if (depth == 0) s_items_add(it, d + a, len - a);
}

/* the first gold item found verbatim in s, or NULL */
static const char *s_names_item(const s_items_t *it, const char *s, size_t len)
{
    for (size_t k = 0; k < it->n; k++)
        if (memmem(s, len, it->v[k], strlen(it->v[k]))) return it->v[k];
    return NULL;
}

/* Does s hold a number with a unit: a measured value ("36.8℃", "120/80mmHg",
 * "12.5×10^9/L", "WBC 5.0×109／L", "85%", "4cm×4cm", "71次/分", "QTc 450ms")?
 * Durations, ages and counts ("3天", "49岁", "2次") are not measurements. */
static int s_has_measure(const char *s, size_t len)
{
    /* longest first where one is a prefix of another */
    static const char *const units[] = {
        "mmHg", "mmhg", "cmH2O", "kPa", "mmol", "μmol", "umol", "µmol", "nmol", "pmol", "mEq",
        "mIU", "μIU", "uIU", "IU", "iu", "U/L", "u/l", "U/ml", "U/mL", "g/L", "g/l", "g/dl",
        "g/dL", "mg", "μg", "ug", "ng", "pg", "kg", "ml", "mL", "μl", "ul", "cm", "mm", "μm",
        "bpm", "ms", "mV", "mv", "Hz", "HU", "%", "％", "‰", "℃", "°C", "°", "×", "*10", "x10",
        "X10", "次/分", "次／分", "次/min", "/HP", "/hp", "/μl", "/ul", "/L", "／L", "㎝", "㎜",
        "毫米", "厘米", "公斤", "千克", "毫升", "毫摩尔", "微摩尔", "克/", "g", "L", "s"};
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') continue;
        size_t j = i;
        while (j < len && ((s[j] >= '0' && s[j] <= '9') || s[j] == '.')) j++;
        /* "120/80mmHg", "0.5-1.0cm", "4～5cm": the unit follows the last number */
        size_t k = j;
        while (k < len && (s[k] == ' ')) k++;
        for (size_t u = 0; u < ASSAY_ARRAY_LEN(units); u++) {
            size_t ul = strlen(units[u]);
            if (k + ul > len || memcmp(s + k, units[u], ul) != 0) continue;
            /* a one-letter unit ("5g", "2.5L", "12s") is not the start of a word */
            if (ul == 1 && isalpha((unsigned char)units[u][0]) && k + 1 < len &&
                isalpha((unsigned char)s[k + 1]))
                continue;
            return 1;
        }
        i = j;
    }
    return 0;
}

/* is the original sentence found verbatim in the clean text */
static int s_survives(const char *sent, size_t len, const char *clean, size_t clen)
{
    return memmem(clean, clen, sent, len) != NULL;
}

/* Characters of sent found in the clean text: the whole sentence when it is
 * there verbatim, else the sum of maximal verbatim pieces of at least four
 * characters, taken left to right and found in the same order in the clean text,
 * each within the sentence's remaining length of the previous one (a removed
 * clause or list item costs its own characters only). */
static size_t s_kept_chars(const char *sent, size_t len, const char *clean, size_t clen)
{
    if (memmem(clean, clen, sent, len)) return s_nchars(sent, len);
    /* pieces must appear in order: each is searched after the previous one */
    size_t kept = 0, p = 0, from = 0;
    while (p < len) {
        size_t best = 0, q = p, chars = 0, best_chars = 0;
        const char *at = NULL;
        while (q < len) {
            size_t n = 1;
            while (q + n < len && ((unsigned char)sent[q + n] & 0xC0) == 0x80) n++;
            /* removal only deletes: the rest of the sentence lies within its own
             * length after the previous piece (the first piece may be anywhere) */
            size_t win = clen - from;
            if (kept > 0 && win > (len - p) + 64) win = (len - p) + 64;
            const char *m = memmem(clean + from, win, sent + p, q + n - p);
            if (!m) break;
            at = m;
            q += n;
            chars++;
            best = q - p;
            best_chars = chars;
        }
        if (best_chars >= 4) {
            kept += best_chars;
            from = (size_t)(at - clean) + best;
            p += best;
        } else {
            p++;
            while (p < len && ((unsigned char)sent[p] & 0xC0) == 0x80) p++;
        }
    }
    return kept;
}


/* what the retention figures count, over the cases */
typedef struct {
    size_t conclusion;      /* sentences in conclusion/management sections (not scored) */
    size_t naming;          /* sentences naming a gold item (not scored) */
    size_t scored, kept;    /* the other sentences, and those found verbatim */
    size_t ev_scored, ev_kept; /* the same for those holding a number with a unit */
    size_t chars, chars_kept;  /* their characters, and those kept (whole or in pieces) */
    size_t lost_named;         /* lost sentences holding a term of the engine's lexicon */
} s_counts_t;

/* Scores the sentences of the original text t (split at 。！？!?；; and line
 * ends) outside conclusion and management sections (leak_eval's own header rule,
 * see the file comment) that name no gold item. */
/* the first term of the engine's case lexicon found in s as "kind:term", else
 * "": why a lost sentence may have gone (diagnostics only, not a figure) */
static const char *s_engine_term(const assay_leak_case_t *lc, const char *s, size_t len, char *buf,
                                 size_t cap)
{
    buf[0] = '\0';
    for (size_t k = 0; k < assay_leak_case_term_count(lc); k++) {
        size_t tl;
        assay_leak_term_kind_t kind;
        const char *t = assay_leak_case_term(lc, k, &tl, &kind);
        if (memmem(s, len, t, tl)) {
            snprintf(buf, cap, "%s:%s", assay_leak_term_kind_name(kind), t);
            break;
        }
    }
    return buf;
}

static void s_retention(const s_items_t *items, const assay_leak_case_t *lc, const char *t,
                        size_t len, const char *clean, size_t clen, int show_lost, s_counts_t *cnt)
{
    int conclusion = 0, inline_conclusion = 0;
    size_t a = 0, n = 0;
    for (size_t i = 0; i <= len;) {
        if (i == len || s_sentence_end(t, len, i, &n)) {
            size_t sa = a, nl, se = i;
            sa += s_space_len(t + sa, se - sa);
            while (sa < se && t[sa] == '.') sa++;
            /* a numbered sub-heading ("（3）术后病理", "（4）最终诊断:") opens a
             * conclusion when it names one, and never closes one */
            size_t mk = s_marker_len(t + sa, se - sa);
            size_t hl = s_header_len(t + sa + mk, se - sa - mk, &nl);
            int line_start = a == 0 || t[a - 1] == '\n';
            if (a > 0 && t[a - 1] == '\n' && inline_conclusion) conclusion = inline_conclusion = 0;
            /* an inline diagnosis ("…。诊断：X。") covers its sentence and a
             * numbered list that follows it */
            if (inline_conclusion == 2 && !mk) conclusion = inline_conclusion = 0;
            size_t body = sa; /* the sentence without its section header */
            if (hl) {
                /* a header at a line start sets the state; one inside a paragraph
                 * ("…。诊断：…") only opens a conclusion up to the end of the line */
                int concl = s_conclusion_header(t + sa + mk, nl);
                /* only a section name switches back to keep: a label inside a
                 * section ("大体：", "组织学：") does not */
                if (line_start && !mk && (concl || s_keep_header(t + sa + mk, nl))) conclusion = concl;
                else if (concl && line_start) conclusion = 1;
                else if (concl) {
                    conclusion = 1;
                    inline_conclusion = s_names_diagnosis(t + sa + mk, nl) ? 2 : 1;
                }
                body = sa + mk + hl;
            } else if (i < len && t[i] == '\n' && line_start &&
                       s_is_header_line(t + sa + mk, se - sa - mk)) {
                /* a header alone on its line ("诊疗经过", "（2）治疗术式") */
                int concl = s_conclusion_header(t + sa + mk, se - sa - mk);
                if (!mk && (concl || s_keep_header(t + sa + mk, se - sa - mk))) conclusion = concl;
                else if (concl) conclusion = 1;
                body = se;
            }
            body += s_space_len(t + body, se - body);
            while (se > body && (t[se - 1] == ' ' || t[se - 1] == '\t' || t[se - 1] == '\r')) se--;
            while (se >= body + 3 && memcmp(t + se - 3, "　", 3) == 0) se -= 3;
            if (se > body && conclusion) {
                cnt->conclusion++;
            } else if (se > body && s_names_item(items, t + sa, se - sa)) {
                /* the header is part of the sentence for this test: "入院诊断：" aside,
                 * a header never names an item */
                cnt->naming++;
            } else if (se > body) {
                /* the whole sentence, header included, must survive: a header is
                 * written back as it was */
                int whole = s_survives(t + sa, se - sa, clean, clen) ||
                            (body > sa && s_survives(t + body, se - body, clean, clen));
                int ev = s_has_measure(t + body, se - body);
                cnt->scored++;
                cnt->kept += (size_t)whole;
                cnt->ev_scored += (size_t)ev;
                cnt->ev_kept += (size_t)(ev && whole);
                size_t nc = s_nchars(t + body, se - body);
                size_t k = whole ? nc : s_kept_chars(t + body, se - body, clean, clen);
                cnt->chars += nc;
                cnt->chars_kept += k;
                if (!whole) {
                    char term[256];
                    s_engine_term(lc, t + sa, se - sa, term, sizeof term);
                    cnt->lost_named += term[0] != '\0';
                    if (show_lost)
                        printf("   ~ lost%s {%s} (%zu/%zu chars kept): %.*s\n",
                               ev ? " [evidence]" : "", term, k, nc, (int)(se - sa), t + sa);
                }
            }
            if (i == len) break;
            i += n;
            a = i;
            continue;
        }
        i++;
    }
}

/* the first gold item found verbatim in the clean text, or NULL */
static const char *s_leak(const s_items_t *items, const char *clean, size_t clen)
{
    return s_names_item(items, clean, clen);
}

static int s_hide_history;

static assay_leak_case_t *s_build(const s_case_t *c, const assay_terms_t *terms)
{
    assay_leak_case_t *lc = assay_leak_case_new();
    assay_leak_case_hide_history(lc, s_hide_history);
    assay_leak_case_add_gold(lc, c->diag, strlen(c->diag));
    if (terms) assay_leak_case_expand(lc, terms, NULL);
    return lc;
}

int main(int argc, char **argv)
{
    const char *path = NULL, *terms_path = NULL;
    int verbose = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0) verbose = 1;
        else if (strcmp(argv[i], "--hide-history") == 0) s_hide_history = 1;
        else if (!path) path = argv[i];
        else if (!terms_path) terms_path = argv[i];
    }
    if (!path) {
        fprintf(stderr, "usage: leak_eval CASES.jsonl [TERMS] [-v] [--hide-history]\n");
        return 2;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return 1;
    }
    assay_terms_t *terms = NULL;
    if (terms_path) {
        char err[512];
        int64_t t0 = assay_clock_us();
        terms = assay_terms_open(terms_path, err, sizeof err);
        if (!terms) {
            fprintf(stderr, "leak_eval: %s\n", err);
            return 1;
        }
        printf("terms loaded from %s in %.2f s\n", terms_path, (assay_clock_us() - t0) / 1e6);
    }
    s_case_t *cases = NULL;
    size_t n = 0, cap = 0, bad = 0, absent = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t got;
    while ((got = getline(&line, &lcap, f)) > 0) {
        json_error_t jerr;
        json_t *rec = json_loadb(line, (size_t)got, 0, &jerr);
        if (!rec || !json_is_object(rec)) {
            bad++;
            json_decref(rec);
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            cases = realloc(cases, cap * sizeof *cases);
        }
        s_case_t *c = &cases[n++];
        memset(c, 0, sizeof *c);
        c->rec = rec;
        json_t *t = json_object_get(rec, "text");
        c->text = json_string_value(t);
        c->len = c->text ? json_string_length(t) : 0;
        json_t *d = json_object_get(rec, "diagnosis");
        if (json_is_array(d)) {
            assay_buf_t b = ASSAY_BUF_INIT;
            size_t k;
            json_t *v;
            json_array_foreach(d, k, v)
            {
                if (!json_is_string(v)) continue;
                if (b.len) assay_buf_adds(&b, "；");
                assay_buf_adds(&b, json_string_value(v));
            }
            size_t bl;
            c->diag = assay_buf_detach(&b, &bl);
        } else if (json_is_string(d)) {
            c->diag = assay_strdup(json_string_value(d));
        }
        if (!c->diag) c->diag = assay_strdup("");
        json_t *fields = json_object_get(rec, "fields");
        if (!fields) fields = json_object_get(rec, "sections");
        if (json_is_object(fields)) {
            c->secs = calloc(json_object_size(fields) + 1, sizeof *c->secs);
            const char *k;
            json_t *v;
            json_object_foreach(fields, k, v)
            {
                /* a null (or non-string) section is absent, as for the task */
                if (!json_is_string(v)) {
                    absent++;
                    continue;
                }
                c->secs[c->n_secs++] =
                    (assay_leak_section_t){k, json_string_value(v), json_string_length(v)};
            }
        }
    }
    free(line);
    fclose(f);

    size_t leaked = 0, flagged = 0, errors = 0, removed = 0;
    s_counts_t counts;
    memset(&counts, 0, sizeof counts);
    /* free text without headers is cleaned too (the task refuses it unless asked):
     * every case counts */
    assay_leak_opts_t opts = {0, 1, 0};
    for (size_t i = 0; i < n; i++) {
        s_case_t *c = &cases[i];
        assay_leak_case_t *lc = s_build(c, terms);
        assay_leak_input_t in = {c->text, c->len, c->secs, c->n_secs};
        assay_leak_result_t res;
        assay_leak_result_init(&res);
        char err[512];
        if (assay_leak_run(lc, &in, &opts, &res, err, sizeof err) != 0) {
            errors++;
            if (verbose) printf("[%zu] error: %s\n", i, err);
            assay_leak_case_destroy(&lc);
            continue;
        }
        s_items_t items = {NULL, 0, 0};
        s_gold_items(c->diag, &items);
        const char *leak = s_leak(&items, res.clean_text, res.clean_len);
        leaked += leak != NULL;
        flagged += res.flagged;
        removed += res.n_removed;
        if (verbose) {
            const char *id = json_string_value(json_object_get(c->rec, "id"));
            printf("== [%zu] %s gold=%s items=%zu terms=%zu removed=%zu residual=%.2f%s%s\n", i,
                   id ? id : "?", c->diag, items.n, assay_leak_case_term_count(lc), res.n_removed,
                   res.residual, leak ? " LEAK " : "", leak ? leak : "");
            printf("   items:");
            for (size_t k = 0; k < items.n; k++) printf(" [%s]", items.v[k]);
            printf("\n");
            for (size_t k = 0; k < res.n_removed; k++)
                printf("   - [%s] %.160s  <= %s\n", res.removed[k].section, res.removed[k].span,
                       res.removed[k].reason);
            for (size_t k = 0; k < res.n_hits; k++)
                printf("   ! %.80s (%s, %.2f)\n", res.hits[k].match, res.hits[k].reason,
                       res.hits[k].score);
            if (getenv("LEAK_EVAL_SHOW")) printf("%s\n", res.clean_text);
        }
        s_counts_t before = counts;
        if (c->text)
            s_retention(&items, lc, c->text, c->len, res.clean_text, res.clean_len, verbose,
                        &counts);
        /* named sections are sentences of the record too, unless their name
         * makes them a conclusion or management section */
        for (size_t k = 0; k < c->n_secs; k++)
            if (!s_conclusion_header(c->secs[k].name, strlen(c->secs[k].name)))
                s_retention(&items, lc, c->secs[k].text, c->secs[k].len, res.clean_text,
                            res.clean_len, verbose, &counts);
        if (verbose)
            printf("   retention %zu/%zu, evidence %zu/%zu\n", counts.kept - before.kept,
                   counts.scored - before.scored, counts.ev_kept - before.ev_kept,
                   counts.ev_scored - before.ev_scored);
        s_items_free(&items);
        assay_leak_result_release(&res);
        assay_leak_case_destroy(&lc);
    }

    /* throughput: build + run, repeated for at least one second */
    size_t done = 0;
    int64_t t0 = s_cpu_us(), el = 0, build_us = 0, w0 = assay_clock_us();
    while (n > 0 && el < 1000000) {
        for (size_t i = 0; i < n; i++) {
            s_case_t *c = &cases[i];
            int64_t b0 = s_cpu_us();
            assay_leak_case_t *lc = s_build(c, terms);
            build_us += s_cpu_us() - b0;
            assay_leak_input_t in = {c->text, c->len, c->secs, c->n_secs};
            assay_leak_result_t res;
            assay_leak_result_init(&res);
            char err[512];
            (void)assay_leak_run(lc, &in, &opts, &res, err, sizeof err);
            assay_leak_result_release(&res);
            assay_leak_case_destroy(&lc);
            done++;
        }
        el = s_cpu_us() - t0;
    }
    int64_t wall = assay_clock_us() - w0;
    double cps = el > 0 ? (double)done / ((double)el / 1e6) : 0;
    if (done > 0)
        printf("per case: %.1f us building the lexicon, %.1f us in total (CPU time of the "
               "thread); wall clock %.1f us\n",
               (double)build_us / (double)done, (double)el / (double)done,
               (double)wall / (double)done);
    size_t ok = n - errors;
    printf("cases=%zu unparsable_lines=%zu errors=%zu non_string_sections=%zu flagged=%zu "
           "removals_per_case=%.1f\n",
           n, bad, errors, absent, flagged, ok ? (double)removed / (double)ok : 0.0);
    printf("sentences: %zu in conclusion/management sections, %zu naming a gold item, %zu scored "
           "(%zu kept verbatim), %zu of them with a measured value (%zu kept); characters kept "
           "whole or in pieces: %zu/%zu = %.4f\n",
           counts.conclusion, counts.naming, counts.scored, counts.kept, counts.ev_scored,
           counts.ev_kept, counts.chars_kept, counts.chars,
           counts.chars ? (double)counts.chars_kept / (double)counts.chars : 1.0);
    printf("lost sentences: %zu hold a term of the engine's case lexicon (a name, alias, relative, "
           "code or drug of the diagnosis), %zu none\n",
           counts.lost_named, counts.scored - counts.kept - counts.lost_named);
    printf("leak_rate=%.4f retention=%.4f evidence_retention=%.4f cases_per_s=%.0f\n",
           ok ? (double)leaked / (double)ok : 0.0,
           counts.scored ? (double)counts.kept / (double)counts.scored : 1.0,
           counts.ev_scored ? (double)counts.ev_kept / (double)counts.ev_scored : 1.0, cps);
    for (size_t i = 0; i < n; i++) {
        json_decref(cases[i].rec);
        free(cases[i].secs);
        free(cases[i].diag);
    }
    free(cases);
    assay_terms_destroy(&terms);
    return 0;
}
