/*  leak_eval.c: evaluates leak removal on case records with a known diagnosis.
 *
 *  usage: leak_eval CASES.jsonl [TERMS] [-v]
 *
 *  Each line is {text, diagnosis, fields? | sections?}: diagnosis a string (or
 *  an array of strings), fields/sections named sections. With TERMS
 *  (a terminology TSV directory or snapshot) the case lexicon is expanded with
 *  aliases, related terms, codes and treatments exactly as the leak_removal task
 *  does; without it only the gold text itself is hidden.
 *
 *  Figures (definitions, independent of what the engine decided to remove):
 *  - leak_rate: share of cases whose clean text still mentions, verbatim, a gold
 *    name (a diagnosis item, or a core name parsed from it by
 *    assay_leak_case_add_gold) or an alias of it from the terminology. An
 *    occurrence whose first character ends a degree word (最高, 偏低, 增大, …:
 *    "最高血压为180/85mmHg" is 最高 + 血压) is not a mention; the count of cases
 *    with any plain occurrence is printed too.
 *  - retention: over the sentences of the original text (split at 。！？；\n)
 *    that are outside conclusion/management sections (a header "NAME：" or a
 *    header line whose NAME contains 诊断, 拟诊, 经过, 医嘱, 出院, 治疗, 处理, 计划,
 *    转归, 预后, 随访, 术式, 手术名称, 手术方式, 临床印象 or 初步印象, recognised
 *    here by this program's own rule; one opened inside a paragraph ends with the
 *    line, or with the sentence and a numbered list after it when NAME ends in
 *    诊断, 印象 or 拟诊; such a section ends at the next header of
 *    a history, complaint or findings section, NAME ending in 史, 主诉, 情况, 检查,
 *    查体, 体检, 摘要, 资料, 特点, 体征 or 化验) and that contain none of the case's
 *    hidden terms
 *    (gold names, aliases, parents/children, codes, diagnosis-specific drugs and
 *    treatments; plain substring test), the share of characters kept: a sentence
 *    found verbatim in the clean text counts whole, otherwise each maximal piece
 *    of at least four characters found verbatim, in order, counts.
 *  - cases_per_s: cases cleaned per second on one core: the CPU time of the one
 *    thread doing the work (so other load on the machine does not count), timing
 *    the lexicon build (gold parsing + terminology expansion) and the run, not
 *    JSON parsing or scoring; the data set is repeated until at least one CPU
 *    second has passed. Wall-clock time is printed alongside.
 *  Every case is cleaned, free text without section headers included (the task
 *  refuses that unless allow_unsectioned is set); cases the engine refuses
 *  (no text, no diagnosis, invalid UTF-8, too large) are counted as errors and
 *  left out of the figures.
 *  Last line: leak_rate=X retention=Y cases_per_s=Z
 */
#include "common/util.h"
#include "worker/leak.h"
#include "worker/terms.h"

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
    static const char *const ends[] = {"。", "！", "？", "；", "\n"};
    for (size_t k = 0; k < ASSAY_ARRAY_LEN(ends); k++) {
        size_t l = strlen(ends[k]);
        if (i + l <= len && memcmp(s + i, ends[k], l) == 0) {
            *n = l;
            return 1;
        }
    }
    return 0;
}

/* Is term t mentioned in h? An occurrence whose first character ends a degree
 * word (最高, 偏低, 增大, 较多, … — "最高血压为180/85mmHg" is 最高 + 血压, not a
 * mention of 高血压) is not a mention. *plain counts every occurrence. */
static int s_mention(const char *h, size_t hl, const char *t, size_t tl, int *plain)
{
    static const char *const words[] = {
        "最高", "偏高", "增高", "升高", "较高", "过高", "稍高", "略高", "很高", "极高", "不高",
        "最低", "偏低", "降低", "减低", "较低", "过低", "稍低", "略低", "很低", "不低",
        "最大", "增大", "较大", "过大", "稍大", "略大", "扩大", "不大", "最多", "增多", "较多",
        "过多", "偏多", "稍多", "不多", "最少", "减少", "较少", "过少", "偏少", "稍少", "不少"};
    const char *p = h, *end = h + hl;
    while (p < end && (p = memmem(p, (size_t)(end - p), t, tl)) != NULL) {
        if (plain) *plain = 1;
        int in_word = 0;
        if (p - h >= 3 && (unsigned char)t[0] >= 0xE0)
            for (size_t k = 0; k < ASSAY_ARRAY_LEN(words) && !in_word; k++)
                in_word = memcmp(p - 3, words[k], 6) == 0;
        if (!in_word) return 1;
        p += 1;
    }
    return 0;
}

static int s_tainted(const assay_leak_case_t *lc, const char *s, size_t len)
{
    for (size_t k = 0; k < assay_leak_case_term_count(lc); k++) {
        size_t tl;
        const char *t = assay_leak_case_term(lc, k, &tl, NULL);
        if (s_mention(s, len, t, tl, NULL)) return 1;
    }
    return 0;
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

/* characters of keep-able sentences in text and how many of them survived */
/* sentences seen: in conclusion sections, naming the diagnosis, scored */
typedef struct {
    size_t conclusion, tainted, scored;
} s_counts_t;

static void s_retention(const assay_leak_case_t *lc, const char *t, size_t len, const char *clean,
                        size_t clen, size_t *total, size_t *kept, int show_lost, s_counts_t *cnt)
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
                sa += mk + hl;
            } else if (i < len && t[i] == '\n' && line_start &&
                       s_is_header_line(t + sa + mk, se - sa - mk)) {
                /* a header alone on its line ("诊疗经过", "（2）治疗术式") */
                int concl = s_conclusion_header(t + sa + mk, se - sa - mk);
                if (!mk && (concl || s_keep_header(t + sa + mk, se - sa - mk))) conclusion = concl;
                else if (concl) conclusion = 1;
                sa = se;
            }
            sa += s_space_len(t + sa, se - sa);
            while (se > sa && (t[se - 1] == ' ' || t[se - 1] == '\t' || t[se - 1] == '\r')) se--;
            while (se >= sa + 3 && memcmp(t + se - 3, "　", 3) == 0) se -= 3;
            if (se > sa && conclusion) cnt->conclusion++;
            else if (se > sa && s_tainted(lc, t + sa, se - sa)) cnt->tainted++;
            else if (se > sa) cnt->scored++;
            if (!conclusion && se > sa && !s_tainted(lc, t + sa, se - sa)) {
                *total += s_nchars(t + sa, se - sa);
                size_t k = s_kept_chars(t + sa, se - sa, clean, clen);
                *kept += k;
                if (show_lost && k < s_nchars(t + sa, se - sa))
                    printf("   ~ lost %zu/%zu: %.*s\n", s_nchars(t + sa, se - sa) - k,
                           s_nchars(t + sa, se - sa), (int)(se - sa), t + sa);
            }
            if (i == len) break;
            i += n;
            a = i;
            continue;
        }
        i++;
    }
}

/* 1 when a gold name or alias is mentioned in the clean text (what says which);
 * *plain = 1 when one occurs at all, even inside a degree word */
static int s_leaks(const assay_leak_case_t *lc, const char *clean, size_t clen, char *what,
                   size_t wl, int *plain)
{
    *plain = 0;
    int leak = 0;
    for (size_t k = 0; k < assay_leak_case_term_count(lc) && !leak; k++) {
        size_t tl;
        assay_leak_term_kind_t kind;
        const char *t = assay_leak_case_term(lc, k, &tl, &kind);
        if (kind != ASSAY_LEAK_TERM_GOLD && kind != ASSAY_LEAK_TERM_ALIAS) continue;
        if (s_mention(clean, clen, t, tl, plain)) {
            snprintf(what, wl, "%s “%.*s”", assay_leak_term_kind_name(kind), (int)tl, t);
            leak = 1;
        }
    }
    return leak;
}

static assay_leak_case_t *s_build(const s_case_t *c, const assay_terms_t *terms)
{
    assay_leak_case_t *lc = assay_leak_case_new();
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
        else if (!path) path = argv[i];
        else if (!terms_path) terms_path = argv[i];
    }
    if (!path) {
        fprintf(stderr, "usage: leak_eval CASES.jsonl [TERMS] [-v]\n");
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
    size_t n = 0, cap = 0, bad = 0;
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
                if (!json_is_string(v)) continue;
                c->secs[c->n_secs++] =
                    (assay_leak_section_t){k, json_string_value(v), json_string_length(v)};
            }
        }
    }
    free(line);
    fclose(f);

    size_t leaked = 0, plain_hits = 0, flagged = 0, errors = 0, removed = 0;
    size_t ret_total = 0, ret_kept = 0;
    s_counts_t counts = {0, 0, 0};
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
        char what[256];
        int plain;
        int leak = s_leaks(lc, res.clean_text, res.clean_len, what, sizeof what, &plain);
        leaked += leak;
        plain_hits += plain;
        flagged += res.flagged;
        removed += res.n_removed;
        size_t tot = 0, kept = 0;
        if (c->text) s_retention(lc, c->text, c->len, res.clean_text, res.clean_len, &tot, &kept, verbose, &counts);
        ret_total += tot;
        ret_kept += kept;
        if (verbose) {
            const char *id = json_string_value(json_object_get(c->rec, "id"));
            printf("== [%zu] %s gold=%s terms=%zu removed=%zu retention=%.3f residual=%.2f%s%s\n", i,
                   id ? id : "?", c->diag, assay_leak_case_term_count(lc), res.n_removed,
                   tot ? (double)kept / (double)tot : 1.0, res.residual, leak ? " LEAK " : "",
                   leak ? what : "");
            for (size_t k = 0; k < res.n_removed; k++)
                if (!res.removed[k].in_named)
                    printf("   - [%s] %.160s  <= %s\n", res.removed[k].section, res.removed[k].span,
                           res.removed[k].reason);
            for (size_t k = 0; k < res.n_hits; k++)
                printf("   ! %.80s (%s, %.2f)\n", res.hits[k].match, res.hits[k].reason,
                       res.hits[k].score);
            if (verbose > 0 && getenv("LEAK_EVAL_SHOW")) printf("%s\n", res.clean_text);
        }
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
    printf("cases=%zu unparsable_lines=%zu errors=%zu flagged=%zu removals_per_case=%.1f\n", n, bad,
           errors, flagged, ok ? (double)removed / (double)ok : 0.0);
    printf("cases where a gold name or alias occurs as a plain substring, degree words "
           "included (最高血压…): %zu\n",
           plain_hits);
    printf("sentences: %zu in conclusion/management sections, %zu naming the diagnosis or a "
           "specific treatment, %zu scored for retention (%zu/%zu characters kept)\n",
           counts.conclusion, counts.tainted, counts.scored, ret_kept, ret_total);
    printf("leak_rate=%.4f retention=%.4f cases_per_s=%.0f\n", ok ? (double)leaked / (double)ok : 0.0,
           ret_total ? (double)ret_kept / (double)ret_total : 1.0, cps);
    for (size_t i = 0; i < n; i++) {
        json_decref(cases[i].rec);
        free(cases[i].secs);
        free(cases[i].diag);
    }
    free(cases);
    assay_terms_destroy(&terms);
    return 0;
}
