/*  leak.c: see leak.h.
 *
 *  A run works in four passes over the record, each linear in its size:
 *  1. sections: recognise headers ("主诉：", "现病史\n", "【入院诊断】", "一、诊疗经过",
 *     inline "。查体：") and classify each section as keep or conclusion/management;
 *  2. mentions: one scan of the whole text against the case lexicon (terms
 *     bucketed by their first character, longest match first);
 *  3. clauses: keep sections are split into sentences and clauses (never inside
 *     brackets or quotes); a clause holding a mention, a near mention of a gold
 *     name, or a diagnostic statement close to the gold is removed, or only the
 *     list element when the mention is a non-first element of a "、" list, with a
 *     conclusion label before it ("…明确诊断：") — unless its context keeps it
 *     (s_ctx_t: a relative's history, a denial, the patient's past history; a
 *     verbatim gold part is never kept, and masked in a relative's history);
 *  4. residual: the clean text is searched again, exactly and fuzzily; a mention
 *     in a kept context is reported under the flag threshold.
 */
#include "worker/domain/leak.h"

#include "common/error.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_BUCKETS 1024u
#define S_DEFAULT_MAX_BYTES (1u << 20)
#define S_DEFAULT_FLAG 0.5
/* a clause whose bigrams cover this share of a gold name is a near mention */
#define S_NEAR_MENTION 0.75
/* a quoted diagnosis in a diagnostic statement this close to a gold name leaks */
#define S_STATEMENT_SIM 0.5

/* ------------------------------------------------------------------ UTF-8 */

static size_t s_u8len(unsigned char c)
{
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/* the code point at s (valid UTF-8 assumed, len bytes available); *n = its size */
static uint32_t s_cp(const char *s, size_t len, size_t *n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t k = s_u8len(p[0]);
    if (k > len) k = len;
    *n = k;
    if (k == 1) return p[0];
    uint32_t cp = p[0] & (0xFF >> (k + 1));
    for (size_t i = 1; i < k; i++) cp = (cp << 6) | (p[i] & 0x3F);
    return cp;
}

/* the code point ending at s[end] (end > 0); *n = its size */
static uint32_t s_cp_before(const char *s, size_t end, size_t *n)
{
    size_t k = end - 1;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
    return s_cp(s + k, end - k, n);
}

/* byte offset of the first invalid UTF-8 sequence, or len when valid */
static size_t s_utf8_invalid_at(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned c = p[i];
        size_t n;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 3, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return i;
        }
        if (len - i < n) return i;
        for (size_t k = 1; k < n; k++) {
            if ((p[i + k] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += n;
    }
    return len;
}

static size_t s_nchars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i += s_u8len((unsigned char)s[i])) n++;
    return n;
}

static int s_is_ascii_alnum(uint32_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int s_is_space(uint32_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == 0x3000 || c == 0xA0;
}

static int s_starts(const char *s, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return n <= len && memcmp(s, lit, n) == 0;
}

static int s_ends(const char *s, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return n <= len && memcmp(s + len - n, lit, n) == 0;
}

static const char *s_memmem(const char *h, size_t hl, const char *lit)
{
    return memmem(h, hl, lit, strlen(lit));
}

/* ---------------------------------------------------------------- headers */

#define S_H(name, leak) {name, sizeof(name) - 1, leak}
/* Section names as Chinese records write them, sorted by their UTF-8 bytes (the
 * lookup is a binary search). leak = 1: the section states the conclusion (a
 * diagnosis) or the management that follows from it; 0: it holds what a doctor
 * reasons from (history, complaint, signs, findings; a report's conclusion is
 * findings first and is cleaned clause by clause). */
static const struct {
    const char *name;
    size_t len;
    int leak;
} s_headers[] = {
    S_H("CT检查", 0), S_H("一般情况", 0), S_H("一般资料", 0), S_H("专科情况", 0), S_H("专科查体", 0), S_H("专科检查", 0),
    S_H("个人史", 0), S_H("中医诊断", 1), S_H("临床印象", 1), S_H("临床诊断", 1), S_H("临床资料", 0), S_H("主要诊断", 1),
    S_H("主诉", 0), S_H("传染病史", 0), S_H("住院期间诊疗经过", 1), S_H("住院经过", 1), S_H("住院诊断", 1), S_H("体征", 0),
    S_H("体格检查", 0), S_H("体检", 0), S_H("修正诊断", 1), S_H("入院情况", 0), S_H("入院时情况", 0), S_H("入院查体", 0),
    S_H("入院诊断", 1), S_H("其他诊断", 1), S_H("出院医嘱", 1), S_H("出院小结", 1), S_H("出院带药", 1), S_H("出院建议", 1),
    S_H("出院情况", 1), S_H("出院指导", 1), S_H("出院时情况", 1), S_H("出院记录", 1), S_H("出院诊断", 1),
    S_H("初步印象", 1), S_H("初步诊断", 1), S_H("化验", 0), S_H("医嘱", 1), S_H("印象", 0), S_H("处理", 1),
    S_H("处理意见", 1), S_H("外伤史", 0), S_H("婚姻史", 0), S_H("婚育史", 0), S_H("实验室检查", 0), S_H("家族史", 0),
    S_H("影像学检查", 0), S_H("影像学表现", 0), S_H("急诊诊断", 1), S_H("手术史", 0), S_H("手术名称", 1),
    S_H("手术方式", 1), S_H("手术经过", 1), S_H("抢救经过", 1), S_H("拟诊", 1), S_H("既往史", 0), S_H("既往病史", 0),
    S_H("最后诊断", 1), S_H("最终诊断", 1), S_H("月经及婚育史", 0), S_H("月经史", 0), S_H("术前诊断", 1),
    S_H("术后诊断", 1), S_H("术式", 1), S_H("查体", 0), S_H("检查", 0), S_H("检验", 0), S_H("次要诊断", 1),
    S_H("死亡诊断", 1), S_H("治疗", 1), S_H("治疗方案", 1), S_H("治疗经过", 1), S_H("治疗计划", 1), S_H("治疗过程", 1),
    S_H("现病史", 0), S_H("生命体征", 0), S_H("生育史", 0), S_H("病例摘要", 0), S_H("病例特点", 0), S_H("病例资料", 0),
    S_H("病历摘要", 0), S_H("病史", 0), S_H("病史摘要", 0), S_H("病理", 0), S_H("病理报告", 0), S_H("病理检查", 0),
    S_H("病理结果", 0), S_H("病理诊断", 1), S_H("确定诊断", 1), S_H("确诊诊断", 1), S_H("简要病史", 0), S_H("腹部查体", 0),
    S_H("补充诊断", 1), S_H("西医诊断", 1), S_H("诊断", 1), S_H("诊断依据", 1), S_H("诊断结果", 1), S_H("诊治经过", 1),
    S_H("诊疗经过", 1), S_H("诊疗计划", 1), S_H("超声检查", 0), S_H("转入诊断", 1), S_H("转出诊断", 1), S_H("转归", 1),
    S_H("辅助检查", 0), S_H("输血史", 0), S_H("过敏史", 0), S_H("鉴别诊断", 1), S_H("门诊诊断", 1), S_H("随访", 1),
    S_H("预后", 1), S_H("预防接种史", 0),
};

int assay_leak_header_kind(const char *name, size_t len)
{
    while (len > 0 && (name[len - 1] == ' ' || name[len - 1] == '\t')) len--;
    for (size_t i = 0; i < ASSAY_ARRAY_LEN(s_headers); i++)
        if (s_headers[i].len == len && memcmp(s_headers[i].name, name, len) == 0)
            return s_headers[i].leak;
    return -1;
}

/* the longest known header name at s, or -1: a binary search for the first
 * name sharing s's first character, then the names with that character */
static int s_header_at(const char *s, size_t len, size_t *nlen)
{
    *nlen = 0;
    if (len < 3) return -1;
    size_t lo = 0, hi = ASSAY_ARRAY_LEN(s_headers);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (memcmp(s_headers[mid].name, s, 3) < 0) lo = mid + 1;
        else hi = mid;
    }
    int best = -1;
    for (size_t i = lo; i < ASSAY_ARRAY_LEN(s_headers) && memcmp(s_headers[i].name, s, 3) == 0; i++) {
        size_t n = s_headers[i].len;
        if (n > *nlen && n <= len && memcmp(s_headers[i].name, s, n) == 0) best = (int)i, *nlen = n;
    }
    return best;
}

/* skip a list marker before a header: "一、", "（1）", "(2)", "1.", "1、", "①", "【", "[" */
static size_t s_skip_marker(const char *s, size_t len)
{
    size_t i = 0, n;
    while (i < len && s_is_space(s_cp(s + i, len - i, &n))) i += n;
    size_t start = i;
    uint32_t c = i < len ? s_cp(s + i, len - i, &n) : 0;
    if (c == 0xFF08 /* （ */ || c == '(') {
        size_t j = i + n, m;
        while (j < len && (s[j] >= '0' && s[j] <= '9')) j++;
        if (j > i + n && j < len) {
            uint32_t d = s_cp(s + j, len - j, &m);
            if (d == 0xFF09 || d == ')') return j + m;
        }
        return start;
    }
    if (c >= 0x2460 && c <= 0x2473) return i + n; /* ①..⑳ */
    if (c == 0x3010 /* 【 */ || c == '[' || c == 0x25A0 /* ■ */ || c == '#') return i + n;
    size_t j = i;
    if (j < len && s[j] >= '0' && s[j] <= '9') {
        while (j < len && s[j] >= '0' && s[j] <= '9') j++;
    } else {
        static const char *const nums[] = {"一", "二", "三", "四", "五", "六", "七", "八", "九", "十"};
        int any = 0;
        for (;;) {
            int hit = 0;
            for (size_t k = 0; k < ASSAY_ARRAY_LEN(nums); k++)
                if (s_starts(s + j, len - j, nums[k])) {
                    j += strlen(nums[k]);
                    hit = any = 1;
                    break;
                }
            if (!hit) break;
        }
        if (!any) return start;
    }
    if (j < len) {
        uint32_t d = s_cp(s + j, len - j, &n);
        if (d == '.' || d == 0x3001 /* 、 */ || d == 0xFF0E /* ． */ || d == ')' || d == 0xFF09)
            return j + n;
    }
    return start;
}

typedef struct {
    size_t hdr;     /* offset of the header line/marker (== body for the preamble) */
    size_t body;    /* first byte of the content */
    size_t end;     /* one past the last byte */
    const char *name;
    size_t name_len;
    int leak;
} s_section_t;

typedef struct {
    s_section_t *v;
    size_t n, cap;
} s_sections_t;

static void s_sections_push(s_sections_t *ss, s_section_t sec)
{
    if (ss->n == ss->cap) {
        ss->cap = ss->cap ? ss->cap * 2 : 16;
        ss->v = assay_realloc(ss->v, ss->cap * sizeof *ss->v);
    }
    ss->v[ss->n++] = sec;
}

/* a header at position p? line_start: p begins a line (then "NAME\n" counts too);
 * otherwise only "NAME：" counts. Fills sec with hdr = p. */
static int s_try_header(const char *t, size_t len, size_t p, int line_start, s_section_t *sec)
{
    size_t i = p + s_skip_marker(t + p, len - p), nl, n;
    int h = s_header_at(t + i, len - i, &nl);
    if (h < 0) return 0;
    size_t name_at = i;
    i += nl;
    int bracketed = 0;
    if (i < len && (s_starts(t + i, len - i, "】") || t[i] == ']')) {
        i += s_u8len((unsigned char)t[i]);
        bracketed = 1;
    }
    while (i < len && (t[i] == ' ' || t[i] == '\t')) i++;
    if (i < len && (s_starts(t + i, len - i, "：") || t[i] == ':')) {
        i += s_u8len((unsigned char)t[i]);
    } else if (bracketed) {
        /* "【出院医嘱】继续口服…": the bracket closes the header */
    } else if (line_start) {
        /* "现病史\n" or a header alone at the end */
        size_t j = i;
        while (j < len && s_is_space(s_cp(t + j, len - j, &n))) j += n;
        if (j < len && t[j] != '\n') return 0;
        i = j;
    } else {
        return 0;
    }
    sec->hdr = p;
    sec->body = i;
    sec->name = t + name_at;
    sec->name_len = nl;
    sec->leak = s_headers[h].leak;
    return 1;
}

static int s_is_inline_boundary(uint32_t c)
{
    return c == 0x3002 /* 。 */ || c == 0xFF1B /* ； */ || c == ';' || c == '.' || c == ' ' ||
           c == 0x3000 || c == 0xFF01 || c == 0xFF1F || c == '\t';
}

/* a conclusion header naming a diagnosis (…诊断, 拟诊, …印象) rather than management */
static int s_names_diagnosis(const s_section_t *sec)
{
    return s_ends(sec->name, sec->name_len, "诊断") || s_ends(sec->name, sec->name_len, "印象") ||
           s_ends(sec->name, sec->name_len, "拟诊");
}

/* does a list number ("2.", "2、", "（2）") start at i, after spaces? */
static int s_numbered_at(const char *t, size_t len, size_t i)
{
    while (i < len && t[i] == ' ') i++;
    if (i < len && (s_starts(t + i, len - i, "（") || t[i] == '(')) i += s_u8len((unsigned char)t[i]);
    size_t d = i;
    while (i < len && t[i] >= '0' && t[i] <= '9') i++;
    if (i == d || i >= len) return 0;
    return t[i] == '.' || t[i] == ')' || s_starts(t + i, len - i, "、") ||
           s_starts(t + i, len - i, "）") || s_starts(t + i, len - i, "．");
}

/* split text into sections; the preamble before the first header has name "".
 * A conclusion section opened inline ("…。入院诊断：…") ends with its line, one
 * naming a diagnosis already with its sentence. */
static void s_parse_sections(const char *t, size_t len, s_sections_t *ss, size_t *n_headers)
{
    s_section_t cur = {0, 0, 0, "", 0, 0};
    int cur_inline = 0, cand_line = 1, cand_inline = 0;
    size_t i = 0, n;
    *n_headers = 0;
    while (i < len) {
        s_section_t sec;
        int line = cand_line && s_try_header(t, len, i, 1, &sec);
        if (line || (cand_inline && s_try_header(t, len, i, 0, &sec))) {
            cur.end = i;
            if (cur.end > cur.hdr || cur.name_len > 0) s_sections_push(ss, cur);
            cur = sec;
            cur_inline = !line;
            (*n_headers)++;
            i = sec.body;
            cand_line = cand_inline = 0;
            continue;
        }
        uint32_t c = s_cp(t + i, len - i, &n);
        if (c == '\n' && cur.leak && cur_inline) {
            cur.end = i;
            s_sections_push(ss, cur);
            cur = (s_section_t){i, i, 0, "", 0, 0};
            cur_inline = 0;
        } else if (c == 0x3002 && cur.leak && cur_inline && s_names_diagnosis(&cur) &&
                   !s_numbered_at(t, len, i + n)) {
            /* "…就诊。诊断：冠心病。给予…": a diagnosis stated inside a narrative
             * ends with its sentence (or its numbered list) */
            cur.end = i + n;
            s_sections_push(ss, cur);
            cur = (s_section_t){i + n, i + n, 0, "", 0, 0};
            cur_inline = 0;
        }
        i += n;
        cand_line = c == '\n';
        cand_inline = s_is_inline_boundary(c);
    }
    cur.end = len;
    if (cur.end > cur.hdr || cur.name_len > 0) s_sections_push(ss, cur);
}

/* --------------------------------------------------------------- lexicon */

typedef struct {
    char *s;
    size_t len;
    assay_leak_term_kind_t kind;
    size_t item;
    char *why;
    int ascii;
    int verbatim; /* a part of the diagnosis text as written (see s_mark_verbatim) */
    int next; /* next term in the bucket chain, -1 = end (longest first) */
} s_term_t;

typedef struct {
    char *s;
    size_t len;
    size_t item;
} s_name_t;

struct assay_leak_case {
    char **items;
    size_t n_items, cap_items;
    s_name_t *names;
    size_t n_names, cap_names;
    s_term_t *terms;
    size_t n_terms, cap_terms;
    size_t *verb; /* the indices of the verbatim terms */
    size_t n_verb;
    int hide_history; /* assay_leak_case_hide_history */
    int bucket[S_BUCKETS];
};

static const char *const s_kind_names[] = {"gold", "alias", "related", "code", "treatment"};

const char *assay_leak_term_kind_name(assay_leak_term_kind_t kind)
{
    return (unsigned)kind < ASSAY_LEAK_TERM__COUNT ? s_kind_names[kind] : "unknown";
}

/* words too generic to hide as an alias, relative or treatment: hiding them would
 * strip findings from every case */
#define S_G(word) {word, sizeof(word) - 1}
static const struct {
    const char *word;
    size_t len;
} s_generic[] = {
    S_G("肿瘤"), S_G("癌症"), S_G("感染"), S_G("炎症"), S_G("疼痛"), S_G("出血"), S_G("发热"), S_G("结节"), S_G("囊肿"), S_G("肿块"), S_G("手术"),
    S_G("手术治疗"), S_G("药物治疗"), S_G("支持治疗"), S_G("支持性治疗"), S_G("对症治疗"), S_G("对症支持治疗"), S_G("化疗"),
    S_G("放疗"), S_G("化学治疗"), S_G("放射治疗"), S_G("介入治疗"), S_G("康复治疗"), S_G("物理治疗"), S_G("饮食治疗"), S_G("休息"),
    S_G("心理治疗"), S_G("中医治疗"), S_G("西医治疗"), S_G("综合治疗"), S_G("保守治疗"), S_G("一般治疗"), S_G("病因治疗"),
    S_G("抗感染"), S_G("吸氧"), S_G("输液"), S_G("疾病"), S_G("综合征"), S_G("损伤"), S_G("畸形"), S_G("水肿"), S_G("积液"), S_G("术后"),
    S_G("状态"), S_G("病史"), S_G("个人史"), S_G("急性"), S_G("慢性"), S_G("急性加重"), S_G("急性发作"), S_G("后状态"), S_G("术后状态"),
    S_G("原因待查"), S_G("待查"), S_G("其他"), S_G("未特指"), S_G("肿大"), S_G("增生"), S_G("异常"), S_G("改变"), S_G("阴性"), S_G("阳性"),
    S_G("正常"), S_G("检查"), S_G("治疗"), S_G("心脏病"), S_G("心脏"), S_G("心血管病"),
    S_G("二尖瓣"), S_G("三尖瓣"), S_G("主动脉瓣"), S_G("肺动脉瓣"), S_G("维生素"), S_G("葡萄糖"), S_G("生理盐水"), S_G("氯化钠"), S_G("氯化钾"),
};

static int s_is_generic(const char *s, size_t len)
{
    for (size_t i = 0; i < ASSAY_ARRAY_LEN(s_generic); i++)
        if (s_generic[i].len == len && memcmp(s_generic[i].word, s, len) == 0) return 1;
    return 0;
}

static unsigned s_bucket_of(const char *s, size_t len)
{
    size_t n;
    uint32_t c = s_cp(s, len, &n);
    if (c >= 'A' && c <= 'Z') c += 'a' - 'A';
    return (unsigned)((c * 2654435761u) >> 7) & (S_BUCKETS - 1);
}

assay_leak_case_t *assay_leak_case_new(void)
{
    assay_leak_case_t *self = ASSAY_NEW(assay_leak_case_t);
    for (size_t i = 0; i < S_BUCKETS; i++) self->bucket[i] = -1;
    return self;
}

void assay_leak_case_destroy(assay_leak_case_t **self_p)
{
    if (!self_p || !*self_p) return;
    assay_leak_case_t *self = *self_p;
    for (size_t i = 0; i < self->n_items; i++) free(self->items[i]);
    for (size_t i = 0; i < self->n_names; i++) free(self->names[i].s);
    for (size_t i = 0; i < self->n_terms; i++) {
        free(self->terms[i].s);
        free(self->terms[i].why);
    }
    free(self->items);
    free(self->names);
    free(self->terms);
    free(self->verb);
    free(self);
    *self_p = NULL;
}

void assay_leak_case_hide_history(assay_leak_case_t *self, int on)
{
    self->hide_history = on != 0;
}

size_t assay_leak_case_gold_count(const assay_leak_case_t *self)
{
    return self->n_items;
}

const char *assay_leak_case_gold_item(const assay_leak_case_t *self, size_t i)
{
    return i < self->n_items ? self->items[i] : NULL;
}

size_t assay_leak_case_name_count(const assay_leak_case_t *self)
{
    return self->n_names;
}

const char *assay_leak_case_name(const assay_leak_case_t *self, size_t i, size_t *item)
{
    if (i >= self->n_names) return NULL;
    if (item) *item = self->names[i].item;
    return self->names[i].s;
}

size_t assay_leak_case_term_count(const assay_leak_case_t *self)
{
    return self->n_terms;
}

const char *assay_leak_case_term(const assay_leak_case_t *self, size_t i, size_t *len,
                                 assay_leak_term_kind_t *kind)
{
    if (i >= self->n_terms) return NULL;
    if (len) *len = self->terms[i].len;
    if (kind) *kind = self->terms[i].kind;
    return self->terms[i].s;
}

static int s_is_ascii(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] >= 0x80) return 0;
    return 1;
}

/* add_term with the reason given in parts ("alias of", name, ""), formatted only
 * when the term is kept: most candidates from the terminology are duplicates */
static int s_add_term(assay_leak_case_t *self, const char *term, size_t len,
                      assay_leak_term_kind_t kind, size_t gold_item, const char *why,
                      const char *why_arg, const char *why_tail, int trusted)
{
    /* trim spaces and the punctuation KG names sometimes carry */
    while (len > 0 && (term[0] == ' ' || term[0] == '*' || term[0] == '-' || term[0] == '\t'))
        term++, len--;
    while (len > 0 && (term[len - 1] == ' ' || term[len - 1] == '\t')) len--;
    if (len == 0 || (unsigned)kind >= ASSAY_LEAK_TERM__COUNT) return 0;
    if (!trusted && s_utf8_invalid_at(term, len) != len) return 0;
    size_t nc = s_nchars(term, len);
    int ascii = s_is_ascii(term, len);
    if (kind != ASSAY_LEAK_TERM_GOLD) {
        if (nc < 2 || (ascii && nc < 3 && kind != ASSAY_LEAK_TERM_CODE)) return 0;
        if (kind != ASSAY_LEAK_TERM_CODE && s_is_generic(term, len)) return 0;
    }
    unsigned b = s_bucket_of(term, len);
    int *link = &self->bucket[b];
    while (*link >= 0) {
        s_term_t *t = &self->terms[*link];
        if (t->len == len && (ascii ? strncasecmp(t->s, term, len) : memcmp(t->s, term, len)) == 0)
            return 0; /* the first reason wins: GOLD terms are added first */
        if (t->len < len) break;
        link = &t->next;
    }
    if (self->n_terms == self->cap_terms) {
        self->cap_terms = self->cap_terms ? self->cap_terms * 2 : 32;
        self->terms = assay_realloc(self->terms, self->cap_terms * sizeof *self->terms);
        /* link pointed into the old array when it was a term's next field */
        link = &self->bucket[b];
        while (*link >= 0 && self->terms[*link].len >= len) link = &self->terms[*link].next;
    }
    s_term_t *t = &self->terms[self->n_terms];
    t->s = assay_strndup(term, len);
    t->len = len;
    t->kind = kind;
    t->item = gold_item;
    t->why = !why ? NULL
             : why_arg ? assay_sprintf("%s %s%s", why, why_arg, why_tail ? why_tail : "")
                       : assay_strdup(why);
    t->ascii = ascii;
    t->verbatim = 0;
    t->next = *link;
    *link = (int)self->n_terms++;
    return 1;
}

int assay_leak_case_add_term(assay_leak_case_t *self, const char *term, size_t len,
                             assay_leak_term_kind_t kind, size_t gold_item, const char *why)
{
    return s_add_term(self, term, len, kind, gold_item, why, NULL, NULL, 0);
}

/* the index of term s, or -1 */
static int s_find_term(const assay_leak_case_t *self, const char *s, size_t len)
{
    int ascii = s_is_ascii(s, len);
    for (int k = self->bucket[s_bucket_of(s, len)]; k >= 0; k = self->terms[k].next) {
        const s_term_t *t = &self->terms[k];
        if (t->len < len) break;
        if (t->len == len && (ascii ? strncasecmp(t->s, s, len) : memcmp(t->s, s, len)) == 0)
            return k;
    }
    return -1;
}

static void s_add_name(assay_leak_case_t *self, const char *s, size_t len, size_t item)
{
    for (size_t i = 0; i < self->n_names; i++)
        if (self->names[i].len == len && memcmp(self->names[i].s, s, len) == 0) return;
    if (self->n_names == self->cap_names) {
        self->cap_names = self->cap_names ? self->cap_names * 2 : 8;
        self->names = assay_realloc(self->names, self->cap_names * sizeof *self->names);
    }
    self->names[self->n_names++] = (s_name_t){assay_strndup(s, len), len, item};
}

/* ----------------------------------------------------------- gold parsing */

static int s_is_open(uint32_t c)
{
    return c == 0xFF08 || c == '(' || c == '[' || c == 0x3010 || c == 0x201C || c == 0x2018 ||
           c == 0x300A || c == 0x300C || c == 0xFF3B;
}

static int s_is_close(uint32_t c)
{
    return c == 0xFF09 || c == ')' || c == ']' || c == 0x3011 || c == 0x201D || c == 0x2019 ||
           c == 0x300B || c == 0x300D || c == 0xFF3D;
}

/* "N." / "N、" / "N．" / "（N）" at i with N == want: the marker's length, else 0 */
static size_t s_item_marker(const char *t, size_t len, size_t i, unsigned want)
{
    size_t j = i, n;
    int paren = 0;
    if (j < len && (s_starts(t + j, len - j, "（") || t[j] == '(')) {
        paren = 1;
        j += s_u8len((unsigned char)t[j]);
    }
    unsigned v = 0;
    size_t d0 = j;
    while (j < len && t[j] >= '0' && t[j] <= '9' && j - d0 < 3) v = v * 10 + (unsigned)(t[j++] - '0');
    if (j == d0 || v != want || j >= len) return 0;
    uint32_t c = s_cp(t + j, len - j, &n);
    if (paren ? (c == 0xFF09 || c == ')') : (c == '.' || c == 0x3001 || c == 0xFF0E))
        return j + n - i;
    return 0;
}

/* qualifiers that grade or stage a diagnosis: everything from them on is cut */
static size_t s_cut_qualifiers(const char *s, size_t len)
{
    static const char *const risk[] = {"极高危", "很高危", "高危", "中危", "低危", "NYHA"};
    size_t cut = len, i = 0, n;
    size_t min_keep = 0;
    /* keep at least two characters of name */
    for (size_t k = 0, c = 0; k < len && c < 2; k += s_u8len((unsigned char)s[k]), c++)
        min_keep = k + s_u8len((unsigned char)s[k]);
    while (i < len) {
        uint32_t c = s_cp(s + i, len - i, &n);
        int grade_digit = (c >= '0' && c <= '9') || c == 'I' || c == 'V' || c == 'X' ||
                          (c >= 0x2160 && c <= 0x216B);
        if (grade_digit && i >= min_keep) {
            size_t j = i, m;
            while (j < len) {
                uint32_t d = s_cp(s + j, len - j, &m);
                if (!((d >= '0' && d <= '9') || d == 'I' || d == 'V' || d == 'X' ||
                      (d >= 0x2160 && d <= 0x216B) || d == '-'))
                    break;
                j += m;
            }
            if (s_starts(s + j, len - j, "级") || s_starts(s + j, len - j, "期") ||
                s_starts(s + j, len - j, "度")) {
                size_t at = i;
                if (at >= strlen("心功能") + min_keep && s_ends(s, at, "心功能"))
                    at -= strlen("心功能");
                if (at < cut) cut = at;
                break;
            }
        }
        for (size_t k = 0; k < ASSAY_ARRAY_LEN(risk); k++)
            if (i >= min_keep && s_starts(s + i, len - i, risk[k]) && i < cut) cut = i;
        i += n;
    }
    return cut;
}

/* words after which a composite item ("心律失常心房颤动") starts a new name, unless
 * a suffix continues the word ("粥样硬化性") */
static const char *const s_enders[] = {
    "病", "症", "死", "痛", "癌", "瘤", "失常", "不齐", "衰竭", "不全", "狭窄", "颤动", "扑动",
    "早搏", "早博", "结石", "积液", "硬化", "骨折", "出血", "梗塞", "栓塞", "闭塞", "损伤",
};

static int s_suffix_follows(const char *s, size_t len)
{
    static const char *const cont[] = {"性", "型", "症", "病", "的", "并", "伴", "合并", "后"};
    for (size_t k = 0; k < ASSAY_ARRAY_LEN(cont); k++)
        if (s_starts(s, len, cont[k])) return 1;
    return 0;
}

static void s_add_core(assay_leak_case_t *self, const char *s, size_t len, size_t item)
{
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t')) len--;
    while (len > 0 && (s[0] == ' ' || s[0] == '\t')) s++, len--;
    /* strip history markers that are not part of the disease name */
    static const char *const tails[] = {"个人史", "病史", "史"};
    for (size_t k = 0; k < ASSAY_ARRAY_LEN(tails); k++)
        if (s_ends(s, len, tails[k]) && len > strlen(tails[k]) + 3) {
            len -= strlen(tails[k]);
            break;
        }
    if (len == 0) return;
    s_add_name(self, s, len, item);
    assay_leak_case_add_term(self, s, len, ASSAY_LEAK_TERM_GOLD, item, NULL);
    /* a post-procedure state ("胆囊切除术后", "支架植入后状态", "血液透析状态") is
     * named by its procedure ("行胆囊切除术") */
    static const struct {
        const char *tail;
        size_t keep; /* bytes of the tail that stay */
    } states[] = {{"手术后", 6}, {"术后", 3}, {"后状态", 0}, {"状态", 0}};
    for (size_t k = 0; k < ASSAY_ARRAY_LEN(states); k++)
        if (s_ends(s, len, states[k].tail)) {
            size_t pl = len - strlen(states[k].tail) + states[k].keep;
            if (s_nchars(s, pl) >= 3 && !s_is_generic(s, pl)) {
                s_add_name(self, s, pl, item);
                assay_leak_case_add_term(self, s, pl, ASSAY_LEAK_TERM_GOLD, item, NULL);
            }
            break;
        }
    /* composite: split after an ender when both sides have three characters or more */
    size_t start = 0, i = 0;
    while (i < len) {
        size_t step = s_u8len((unsigned char)s[i]);
        for (size_t k = 0; k < ASSAY_ARRAY_LEN(s_enders); k++) {
            size_t el = strlen(s_enders[k]);
            if (!s_starts(s + i, len - i, s_enders[k])) continue;
            size_t cut = i + el;
            if (cut >= len || s_suffix_follows(s + cut, len - cut)) continue;
            if (s_nchars(s + start, cut - start) < 3 || s_nchars(s + cut, len - cut) < 3) continue;
            const char *piece = s + start;
            size_t pl = cut - start;
            if (!s_is_generic(piece, pl)) {
                s_add_name(self, piece, pl, item);
                assay_leak_case_add_term(self, piece, pl, ASSAY_LEAK_TERM_GOLD, item, NULL);
            }
            start = cut;
            step = el;
            break;
        }
        i += step;
    }
    if (start > 0 && !s_is_generic(s + start, len - start)) {
        size_t pl = len - start;
        if (s_nchars(s + start, pl) >= 3) {
            s_add_name(self, s + start, pl, item);
            assay_leak_case_add_term(self, s + start, pl, ASSAY_LEAK_TERM_GOLD, item, NULL);
        }
    }
}

/* words that join two diagnoses in one item ("X导致的Y", "X合并Y", "X并Y", "X及Y") */
static size_t s_connector_at(const char *s, size_t len)
{
    static const char *const conn[] = {"导致的", "引起的", "所致的", "继发于", "合并有", "合并",
                                       "伴有", "所致", "继发", "伴", "及", "并", "和"};
    for (size_t k = 0; k < ASSAY_ARRAY_LEN(conn); k++)
        if (s_starts(s, len, conn[k])) {
            size_t n = strlen(conn[k]);
            /* "并发症" is a word, not a connector */
            if (strcmp(conn[k], "并") == 0 && s_starts(s + n, len - n, "发")) return 0;
            return n;
        }
    return 0;
}

/* Is a part of an item cut at a connector a condition of its own? Three
 * characters or more, or two ending like a condition ("穿孔", "胃炎"): a topic such
 * as "全身麻醉术前评估和准备" must not make "准备" a diagnosis. */
static int s_part_is_condition(const char *s, size_t len)
{
    static const char *const ends[] = {"病", "症", "炎", "癌", "瘤", "疝", "痔", "痈", "伤", "折",
                                       "孔", "血", "石", "痛", "疹", "肿", "死", "塞", "衰", "瘘",
                                       "咳", "喘", "热", "疮", "癣", "瘫", "聋", "盲"};
    size_t n = s_nchars(s, len);
    if (n >= 3) return 1;
    if (n < 2) return 0;
    for (size_t k = 0; k < ASSAY_ARRAY_LEN(ends); k++)
        if (s_ends(s, len, ends[k])) return 1;
    return 0;
}

/* the core name of an item, then each part between connectors, graded parts cut */
static void s_add_parts(assay_leak_case_t *self, const char *s, size_t len, size_t item)
{
    static const char *const tails[] = {"一例", "的诊疗", "的诊治", "的治疗", "的管理", "的诊断"};
    for (size_t k = 0; k < ASSAY_ARRAY_LEN(tails); k++)
        if (s_ends(s, len, tails[k]) && len > strlen(tails[k])) {
            len -= strlen(tails[k]);
            break;
        }
    if (len == 0) return;
    s_add_core(self, s, s_cut_qualifiers(s, len), item);
    size_t start = 0, i = 0;
    int split = 0;
    while (i < len) {
        size_t cn = i > start ? s_connector_at(s + i, len - i) : 0;
        if (cn && s_nchars(s + start, i - start) >= 2 && len - (i + cn) >= 6) {
            if (s_part_is_condition(s + start, i - start))
                s_add_core(self, s + start, s_cut_qualifiers(s + start, i - start), item);
            start = i + cn;
            i = start;
            split = 1;
            continue;
        }
        i += s_u8len((unsigned char)s[i]);
    }
    if (split && s_part_is_condition(s + start, len - start))
        s_add_core(self, s + start, s_cut_qualifiers(s + start, len - start), item);
}

/* The parts of an item as written: split at brackets (a bracketed qualifier,
 * "（3级，很高危）", is dropped), colons, quotes and white space; each part of two
 * characters or more is a GOLD term marked verbatim. A verbatim part in the clean
 * text is a leak whatever its context (the benchmark's definition, see
 * tests/bench/leak_eval.c); the other names of the diagnosis (core names,
 * aliases, relatives) may stay where they speak of another person, are denied,
 * or are the patient's past history (s_exempt). */
static void s_mark_verbatim(assay_leak_case_t *self, const char *s, size_t len, size_t item)
{
    size_t a = 0, i = 0, n = 0;
    int depth = 0;
    while (i <= len) {
        uint32_t c = i < len ? s_cp(s + i, len - i, &n) : 0;
        int open = i < len && s_is_open(c) && c != 0x201C && c != 0x2018;
        int close = i < len && s_is_close(c) && c != 0x201D && c != 0x2019;
        int sep = i == len || open || close || c == 0xFF1A || c == ':' || c == 0x201C ||
                  c == 0x201D || c == 0x2018 || c == 0x2019 || c == '"' || s_is_space(c);
        if (sep) {
            if (depth == 0 && i > a && s_nchars(s + a, i - a) >= 2) {
                assay_leak_case_add_term(self, s + a, i - a, ASSAY_LEAK_TERM_GOLD, item, NULL);
                int k = s_find_term(self, s + a, i - a);
                if (k >= 0 && !self->terms[k].verbatim) {
                    self->terms[k].verbatim = 1;
                    self->verb = assay_realloc(self->verb, (self->n_verb + 1) * sizeof *self->verb);
                    self->verb[self->n_verb++] = (size_t)k;
                }
            }
            if (i == len) break;
            if (open) depth++;
            else if (close && depth > 0) depth--;
            a = i + n;
        }
        i += n;
    }
}

static void s_add_item(assay_leak_case_t *self, const char *s, size_t len)
{
    size_t n;
    /* trim spaces and separators left by the split */
    for (;;) {
        if (len == 0) return;
        uint32_t c = s_cp(s, len, &n);
        if (s_is_space(c) || c == '\n' || c == 0xFF0C || c == ',' || c == 0xFF1B || c == ';' ||
            c == 0x3001 || c == 0x3002 || c == '.')
            s += n, len -= n;
        else
            break;
    }
    while (len > 0) {
        size_t k = len - 1;
        while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
        uint32_t c = s_cp(s + k, len - k, &n);
        if (s_is_space(c) || c == '\n' || c == 0xFF0C || c == ',' || c == 0xFF1B || c == ';' ||
            c == 0x3001 || c == 0x3002 || c == '.')
            len = k;
        else
            break;
    }
    if (len == 0) return;
    for (size_t i = 0; i < self->n_items; i++)
        if (strlen(self->items[i]) == len && memcmp(self->items[i], s, len) == 0) return;
    if (self->n_items == self->cap_items) {
        self->cap_items = self->cap_items ? self->cap_items * 2 : 8;
        self->items = assay_realloc(self->items, self->cap_items * sizeof *self->items);
    }
    size_t item = self->n_items;
    self->items[self->n_items++] = assay_strndup(s, len);
    assay_leak_case_add_term(self, s, len, ASSAY_LEAK_TERM_GOLD, item, NULL);
    s_mark_verbatim(self, s, len, item);

    /* a working diagnosis ("胸痛原因待查") names the complaint, not a conclusion;
     * a diagnosis written after it ("胸痛原因待查不稳定型心绞痛") is one */
    static const char *const working[] = {"待查", "待排"};
    for (size_t k = 0; k < ASSAY_ARRAY_LEN(working); k++) {
        const char *w = s_memmem(s, len, working[k]);
        if (!w) continue;
        size_t after = (size_t)(w - s) + strlen(working[k]);
        if (s_nchars(s + after, len - after) >= 2) s_add_item(self, s + after, len - after);
        return;
    }
    /* the core: without bracketed qualifiers, then without grades */
    assay_buf_t core = ASSAY_BUF_INIT;
    int depth = 0;
    for (size_t i = 0; i < len; i += n) {
        uint32_t c = s_cp(s + i, len - i, &n);
        if (s_is_open(c)) depth++;
        else if (s_is_close(c)) {
            if (depth > 0) depth--;
        } else if (depth == 0)
            assay_buf_add(&core, s + i, n);
    }
    s_add_parts(self, core.data, core.len, item);
    assay_buf_release(&core);
}

/* a space between two CJK characters separates list items ("心房颤动 高血压病",
 * "高血压病 2型糖尿病"); one next to Latin letters is part of a name
 * ("Stanford B 型") */
static int s_cjk_around(const char *t, size_t len, size_t i, size_t n)
{
    if (i == 0 || i + n >= len) return 0;
    size_t k = i - 1, m;
    while (k > 0 && ((unsigned char)t[k] & 0xC0) == 0x80) k--;
    uint32_t a = s_cp(t + k, len - k, &m);
    size_t j = i + n;
    while (j < len && isdigit((unsigned char)t[j])) j++; /* "… 2型糖尿病" */
    if (j >= len) return 0;
    uint32_t b = s_cp(t + j, len - j, &m);
    return a >= 0x3400 && b >= 0x3400;
}

int assay_leak_case_add_gold(assay_leak_case_t *self, const char *text, size_t len)
{
    if (!text || s_utf8_invalid_at(text, len) != len) return 0;
    size_t before = self->n_items, start = 0, i = 0, n;
    unsigned want = 1;
    int depth = 0;
    while (i < len) {
        size_t m = depth == 0 ? s_item_marker(text, len, i, want) : 0;
        int after_digit = i > 0 && text[i - 1] >= '0' && text[i - 1] <= '9';
        if (m > 0 && !after_digit) {
            s_add_item(self, text + start, i - start);
            want++;
            i += m;
            start = i;
            continue;
        }
        uint32_t c = s_cp(text + i, len - i, &n);
        if (s_is_open(c)) depth++;
        else if (s_is_close(c) && depth > 0) depth--;
        else if (depth == 0 && (c == 0xFF0C || c == ',' || c == 0xFF1B || c == ';' || c == '\n' ||
                                c == 0x3002 || c == 0x3001 || c == 0xFF1F || c == '?' ||
                                (s_is_space(c) && s_cjk_around(text, len, i, n)))) {
            s_add_item(self, text + start, i - start);
            start = i + n;
        }
        i += n;
    }
    s_add_item(self, text + start, len - start);
    return (int)(self->n_items - before);
}

/* -------------------------------------------------------------- matching */

typedef struct {
    size_t off, len;
    int term;
} s_hit_t;

typedef struct {
    s_hit_t *v;
    size_t n, cap;
} s_hits_t;

/* Does the character at t+i belong to a word that starts before it? Degree
 * words end in 高/低/大/多/少 ("最高血压为180mmHg" holds 最高 + 血压, not 高血压;
 * "增大" + …, "偏低" + …): a term starting with that character does not start
 * there. */
static int s_word_before(const char *t, size_t i)
{
    static const char *const words[] = {
        "最高", "偏高", "增高", "升高", "较高", "过高", "稍高", "略高", "很高", "极高", "不高",
        "最低", "偏低", "降低", "减低", "较低", "过低", "稍低", "略低", "很低", "不低",
        "最大", "增大", "较大", "过大", "稍大", "略大", "扩大", "不大", "最多", "增多", "较多",
        "过多", "偏多", "稍多", "不多", "最少", "减少", "较少", "过少", "偏少", "稍少", "不少"};
    if (i < 3) return 0;
    for (size_t k = 0; k < ASSAY_ARRAY_LEN(words); k++)
        if (memcmp(t + i - 3, words[k], 6) == 0) return 1;
    return 0;
}

/* the longest term at t+i, or -1 */
static int s_match_at(const assay_leak_case_t *lc, const char *t, size_t len, size_t i)
{
    int k = lc->bucket[s_bucket_of(t + i, len - i)];
    for (; k >= 0; k = lc->terms[k].next) {
        const s_term_t *term = &lc->terms[k];
        if (term->len > len - i) continue;
        if (term->ascii) {
            if (strncasecmp(t + i, term->s, term->len) != 0) continue;
            /* ASCII terms (codes, abbreviations) match as tokens only */
            unsigned char prev = i > 0 ? (unsigned char)t[i - 1] : ' ';
            unsigned char next = i + term->len < len ? (unsigned char)t[i + term->len] : ' ';
            if (s_is_ascii_alnum(prev)) continue;
            if (s_is_ascii_alnum(next) && !(term->kind == ASSAY_LEAK_TERM_CODE && next > '9'))
                continue;
        } else if (memcmp(t + i, term->s, term->len) != 0 || s_word_before(t, i)) {
            continue;
        }
        return k;
    }
    return -1;
}

static void s_scan(const assay_leak_case_t *lc, const char *t, size_t len, s_hits_t *hits)
{
    hits->n = 0;
    if (lc->n_terms == 0) return;
    size_t i = 0;
    while (i < len) {
        int k = s_match_at(lc, t, len, i);
        if (k >= 0) {
            if (hits->n == hits->cap) {
                hits->cap = hits->cap ? hits->cap * 2 : 16;
                hits->v = assay_realloc(hits->v, hits->cap * sizeof *hits->v);
            }
            hits->v[hits->n++] = (s_hit_t){i, lc->terms[k].len, k};
            i += lc->terms[k].len;
        } else {
            i += s_u8len((unsigned char)t[i]);
        }
    }
}

/* --------------------------------------------------------------- bigrams */

/* A set of code-point bigrams of one sentence, open addressing, reused. */
typedef struct {
    uint64_t *slot;
    size_t cap; /* power of two */
} s_bigrams_t;

static uint64_t s_bigram_key(uint32_t a, uint32_t b)
{
    return ((uint64_t)a << 32 | b) + 1; /* 0 marks an empty slot */
}

static void s_bigrams_fill(s_bigrams_t *bs, const char *t, size_t len)
{
    size_t want = 16;
    while (want < 2 * len + 2) want *= 2;
    if (bs->cap < want) {
        free(bs->slot);
        bs->slot = assay_malloc(want * sizeof *bs->slot);
        bs->cap = want;
    }
    memset(bs->slot, 0, bs->cap * sizeof *bs->slot);
    size_t i = 0, n, m;
    while (i < len) {
        uint32_t a = s_cp(t + i, len - i, &n);
        if (i + n >= len) break;
        uint32_t b = s_cp(t + i + n, len - i - n, &m);
        uint64_t key = s_bigram_key(a, b);
        size_t h = (size_t)(key * 0x9E3779B97F4A7C15ull >> 20) & (bs->cap - 1);
        while (bs->slot[h] && bs->slot[h] != key) h = (h + 1) & (bs->cap - 1);
        bs->slot[h] = key;
        i += n;
    }
}

static int s_bigrams_has(const s_bigrams_t *bs, uint64_t key)
{
    size_t h = (size_t)(key * 0x9E3779B97F4A7C15ull >> 20) & (bs->cap - 1);
    while (bs->slot[h]) {
        if (bs->slot[h] == key) return 1;
        h = (h + 1) & (bs->cap - 1);
    }
    return 0;
}

/* share of the bigrams of name found in the set, and how many were found */
static double s_coverage(const s_bigrams_t *bs, const char *name, size_t len, size_t *found)
{
    size_t i = 0, n, m, total = 0;
    *found = 0;
    while (i < len) {
        uint32_t a = s_cp(name + i, len - i, &n);
        if (i + n >= len) break;
        uint32_t b = s_cp(name + i + n, len - i - n, &m);
        total++;
        if (s_bigrams_has(bs, s_bigram_key(a, b))) (*found)++;
        i += n;
    }
    return total ? (double)*found / (double)total : 0.0;
}

/*  Near mentions: for every gold name of four characters or more, which of its
 *  bigrams a piece of text holds. One index of all their bigrams is built per run,
 *  so a clause costs one hash probe per character whatever the number of names. */
typedef struct {
    uint32_t name, pos;
} s_near_ent_t;

typedef struct {
    uint64_t *keys; /* open addressing, 0 = empty */
    uint32_t *first, *count;
    size_t cap;
    s_near_ent_t *ent;
    uint64_t *ent_key;
    size_t n_ent;
    uint64_t *mask;  /* per name: the bigram positions found */
    uint32_t *total; /* per name: its number of bigrams (0 = not indexed) */
    uint32_t *touched;
    size_t n_touched, n_names;
} s_near_t;

/* characters of procedure, side and course words: a bigram made of two of them
 * ("植入", "入术", "术后") says nothing about which disease it is */
static int s_weak_cp(uint32_t c)
{
    static const uint32_t weak[] = {0x672F /* 术 */, 0x540E /* 后 */, 0x624B /* 手 */,
                                    0x690D /* 植 */, 0x5165 /* 入 */, 0x5207 /* 切 */,
                                    0x9664 /* 除 */, 0x6027 /* 性 */, 0x7684 /* 的 */,
                                    0x72B6 /* 状 */, 0x6001 /* 态 */, 0x884C /* 行 */,
                                    0x53F2 /* 史 */, 0x75C5 /* 病 */, 0x6025 /* 急 */,
                                    0x6162 /* 慢 */, 0x5DE6 /* 左 */, 0x53F3 /* 右 */,
                                    0x53CC /* 双 */, 0x4FA7 /* 侧 */, 0x652F /* 支 */,
                                    0x67B6 /* 架 */, 0x4ECB /* 介 */};
    for (size_t k = 0; k < ASSAY_ARRAY_LEN(weak); k++)
        if (weak[k] == c) return 1;
    return 0;
}

static size_t s_near_slot(const s_near_t *nx, uint64_t key)
{
    size_t h = (size_t)(key * 0x9E3779B97F4A7C15ull >> 20) & (nx->cap - 1);
    while (nx->keys[h] && nx->keys[h] != key) h = (h + 1) & (nx->cap - 1);
    return h;
}

static void s_near_init(s_near_t *nx, const assay_leak_case_t *lc)
{
    memset(nx, 0, sizeof *nx);
    nx->n_names = lc->n_names;
    nx->mask = assay_calloc(lc->n_names + 1, sizeof *nx->mask);
    nx->total = assay_calloc(lc->n_names + 1, sizeof *nx->total);
    nx->touched = assay_calloc(lc->n_names + 1, sizeof *nx->touched);
    size_t cap_ent = 0;
    for (size_t k = 0; k < lc->n_names; k++) {
        const s_name_t *nm = &lc->names[k];
        if (s_nchars(nm->s, nm->len) < 4) continue;
        size_t i = 0, n, m;
        uint32_t pos = 0;
        while (i < nm->len && pos < 64) {
            uint32_t a = s_cp(nm->s + i, nm->len - i, &n);
            if (i + n >= nm->len) break;
            uint32_t b = s_cp(nm->s + i + n, nm->len - i - n, &m);
            if (nx->n_ent == cap_ent) {
                cap_ent = cap_ent ? cap_ent * 2 : 64;
                nx->ent = assay_realloc(nx->ent, cap_ent * sizeof *nx->ent);
                nx->ent_key = assay_realloc(nx->ent_key, cap_ent * sizeof *nx->ent_key);
            }
            if (s_weak_cp(a) && s_weak_cp(b)) {
                i += n;
                continue;
            }
            nx->ent[nx->n_ent] = (s_near_ent_t){(uint32_t)k, pos++};
            nx->ent_key[nx->n_ent++] = s_bigram_key(a, b);
            i += n;
        }
        /* a name made mostly of procedure and course words ("冠状动脉支架植入后
         * 状态") has too little of its own to be recognised by its bigrams */
        size_t all = s_nchars(nm->s, nm->len) - 1;
        if (pos < 3 || 2 * pos < all) {
            nx->n_ent -= pos;
            pos = 0;
        }
        nx->total[k] = pos;
    }
    if (nx->n_ent == 0) return;
    /* group entries by key: counting into the table, then placing */
    nx->cap = 16;
    while (nx->cap < 2 * nx->n_ent) nx->cap *= 2;
    nx->keys = assay_calloc(nx->cap, sizeof *nx->keys);
    nx->first = assay_calloc(nx->cap, sizeof *nx->first);
    nx->count = assay_calloc(nx->cap, sizeof *nx->count);
    for (size_t e = 0; e < nx->n_ent; e++) {
        size_t h = s_near_slot(nx, nx->ent_key[e]);
        nx->keys[h] = nx->ent_key[e];
        nx->count[h]++;
    }
    uint32_t at = 0;
    for (size_t h = 0; h < nx->cap; h++) {
        nx->first[h] = at;
        at += nx->count[h];
        nx->count[h] = 0;
    }
    s_near_ent_t *sorted = assay_malloc(nx->n_ent * sizeof *sorted);
    for (size_t e = 0; e < nx->n_ent; e++) {
        size_t h = s_near_slot(nx, nx->ent_key[e]);
        sorted[nx->first[h] + nx->count[h]++] = nx->ent[e];
    }
    free(nx->ent);
    nx->ent = sorted;
}

static void s_near_release(s_near_t *nx)
{
    free(nx->keys);
    free(nx->first);
    free(nx->count);
    free(nx->ent);
    free(nx->ent_key);
    free(nx->mask);
    free(nx->total);
    free(nx->touched);
    memset(nx, 0, sizeof *nx);
}

/* best near mention of a gold name in t: coverage (0 when under three bigrams
 * found), with the name's index */
static double s_near_mention(s_near_t *nx, const char *t, size_t len, size_t *name_idx)
{
    if (nx->n_ent == 0 || len == 0) return 0;
    size_t i = 0, n, m;
    uint32_t a = s_cp(t, len, &n);
    while (i + n < len) {
        uint32_t b = s_cp(t + i + n, len - i - n, &m);
        uint64_t key = s_bigram_key(a, b);
        size_t h = s_near_slot(nx, key);
        if (nx->keys[h] == key) {
            for (uint32_t e = nx->first[h]; e < nx->first[h] + nx->count[h]; e++) {
                uint32_t k = nx->ent[e].name;
                if (nx->mask[k] == 0) nx->touched[nx->n_touched++] = k;
                nx->mask[k] |= 1ull << nx->ent[e].pos;
            }
        }
        i += n;
        a = b;
        n = m;
    }
    double best = 0;
    for (size_t q = 0; q < nx->n_touched; q++) {
        uint32_t k = nx->touched[q];
        int found = __builtin_popcountll(nx->mask[k]);
        double cov = (double)found / (double)nx->total[k];
        if (found >= 3 && cov > best) best = cov, *name_idx = k;
        nx->mask[k] = 0;
    }
    nx->n_touched = 0;
    return best;
}

/* bigram Dice similarity of two short strings */
static double s_dice(s_bigrams_t *bs, const char *a, size_t al, const char *b, size_t bl)
{
    size_t na = s_nchars(a, al), nb = s_nchars(b, bl);
    if (na < 2 || nb < 2) return 0;
    s_bigrams_fill(bs, a, al);
    size_t found;
    (void)s_coverage(bs, b, bl, &found);
    return 2.0 * (double)found / (double)((na - 1) + (nb - 1));
}

/* ----------------------------------------------------------------- runs */

typedef struct {
    const assay_leak_case_t *lc;
    const char *t; /* the text being cleaned (input text or one named section) */
    size_t len;
    int in_named;
    const char *sec_name;
    size_t sec_name_len;
    int sec_ctx; /* s_section_ctx of the section being cleaned */
    s_hits_t hits;
    size_t hit_at; /* first hit not yet behind the cursor */
    s_bigrams_t bs;
    s_near_t near;
    /* audit */
    assay_leak_removal_t *rm;
    size_t n_rm, cap_rm;
} s_run_t;

static void s_audit(s_run_t *r, size_t off, size_t len, const char *reason)
{
    /* trim whitespace around the span so the audit reads cleanly */
    size_t n;
    while (len > 0 && s_is_space(s_cp(r->t + off, len, &n))) off += n, len -= n;
    while (len > 0 && (r->t[off + len - 1] == ' ' || r->t[off + len - 1] == '\n' ||
                       r->t[off + len - 1] == '\t' || r->t[off + len - 1] == '\r'))
        len--;
    if (len == 0) return;
    if (r->n_rm == r->cap_rm) {
        r->cap_rm = r->cap_rm ? r->cap_rm * 2 : 16;
        r->rm = assay_realloc(r->rm, r->cap_rm * sizeof *r->rm);
    }
    assay_leak_removal_t *e = &r->rm[r->n_rm++];
    e->section = assay_strndup(r->sec_name, r->sec_name_len);
    e->span = assay_strndup(r->t + off, len);
    e->reason = assay_strdup(reason);
    e->offset = off;
    e->in_named = r->in_named;
    e->masked = 0;
}

static char *s_term_reason(const s_term_t *term)
{
    switch (term->kind) {
    case ASSAY_LEAK_TERM_GOLD:
        return assay_sprintf("names the gold diagnosis “%s”", term->s);
    case ASSAY_LEAK_TERM_CODE:
        return assay_sprintf("gives the ICD code %s%s%s%s", term->s, term->why ? " (" : "",
                             term->why ? term->why : "", term->why ? ")" : "");
    case ASSAY_LEAK_TERM_TREATMENT:
        return assay_sprintf("names “%s”, a treatment specific to the diagnosis%s%s%s", term->s,
                             term->why ? " (" : "", term->why ? term->why : "", term->why ? ")" : "");
    default:
        return assay_sprintf("names “%s”%s%s%s", term->s, term->why ? " (" : "",
                             term->why ? term->why : assay_leak_term_kind_name(term->kind),
                             term->why ? ")" : "");
    }
}

/* does [a, b) state a diagnosis close to a gold name? fills why */
static int s_statement(s_run_t *r, size_t a, size_t b, char *why, size_t whylen)
{
    static const char *const cues[] = {"诊断", "诊为", "确诊", "拟诊", "考虑", "收入", "收住",
                                       "收治", "印象", "提示", "符合"};
    const char *s = r->t + a;
    size_t len = b - a, n;
    if (!s_memmem(s, len, "“") && !memchr(s, '"', len) && !s_memmem(s, len, "‘") &&
        !s_memmem(s, len, "「"))
        return 0;
    int cue = 0;
    for (size_t k = 0; k < ASSAY_ARRAY_LEN(cues) && !cue; k++)
        if (s_memmem(s, len, cues[k])) cue = 1;
    if (!cue) return 0;
    /* every quoted name in the clause is compared with every gold name */
    size_t i = 0;
    while (i < len) {
        uint32_t c = s_cp(s + i, len - i, &n);
        if (c == 0x201C || c == '"' || c == 0x2018 || c == 0x300C) {
            size_t q0 = i + n, j = q0, m;
            while (j < len) {
                uint32_t d = s_cp(s + j, len - j, &m);
                if (d == 0x201D || d == '"' || d == 0x2019 || d == 0x300D) break;
                j += m;
            }
            if (j > q0 && j - q0 < 120) {
                for (size_t k = 0; k < r->lc->n_names; k++) {
                    const s_name_t *nm = &r->lc->names[k];
                    double d = s_dice(&r->bs, s + q0, j - q0, nm->s, nm->len);
                    if (d >= S_STATEMENT_SIM) {
                        snprintf(why, whylen, "states a diagnosis close to the gold “%s” (similarity %.2f)",
                                 nm->s, d);
                        return 1;
                    }
                }
            }
            i = j < len ? j + m : len;
            continue;
        }
        i += n;
    }
    return 0;
}

/* the closer matching the opener at t+i, searched up to a sentence end and at most
 * 240 bytes away: the offset after it, or 0 when unbalanced */
static size_t s_group_end(const char *t, size_t len, size_t i)
{
    static const uint32_t pairs[][2] = {{0xFF08, 0xFF09}, {'(', ')'}, {'[', ']'},
                                        {0x3010, 0x3011}, {0x201C, 0x201D}, {0x2018, 0x2019},
                                        {0x300A, 0x300B}, {0x300C, 0x300D}, {0xFF3B, 0xFF3D}};
    size_t n;
    uint32_t open = s_cp(t + i, len - i, &n), close = 0;
    for (size_t k = 0; k < ASSAY_ARRAY_LEN(pairs); k++)
        if (pairs[k][0] == open) close = pairs[k][1];
    size_t j = i + n, depth = 1, limit = i + 240 < len ? i + 240 : len;
    while (j < limit) {
        uint32_t c = s_cp(t + j, len - j, &n);
        if (c == 0x3002 || c == '\n') return 0;
        if (c == open && open != close) depth++;
        else if (c == close && --depth == 0) return j + n;
        j += n;
    }
    return 0;
}

typedef struct {
    size_t a, b;  /* content */
    size_t end;   /* content + delimiter */
} s_clause_t;

static int s_is_clause_delim(uint32_t c)
{
    return c == 0xFF0C || c == ',' || c == 0xFF1B || c == ';';
}

/* an item number ("2." or "2、" then a non-digit) at i, not part of a number
 * ("36.5", "2024.05") or a name ("T3"), and not at the clause start ca */
static int s_item_number_at(const char *t, size_t b, size_t i, size_t ca)
{
    if (!isdigit((unsigned char)t[i])) return 0;
    unsigned char prev = (unsigned char)t[i - 1];
    if (i > ca && (isalnum(prev) || prev == '.' || prev == '-' || prev == '/' || prev == '+'))
        return 0;
    size_t j = i;
    while (j < b && j - i < 2 && isdigit((unsigned char)t[j])) j++;
    if (j >= b) return 0;
    size_t n = 0;
    if (t[j] == '.') n = 1;
    else if (s_starts(t + j, b - j, "、") || s_starts(t + j, b - j, "．")) n = 3;
    if (n == 0 || j + n >= b) return 0;
    unsigned char next = (unsigned char)t[j + n];
    return !isdigit(next) && next != ' ' && next != '\n';
}

/* Records copied from scans use "：" between sentences ("…治疗：诊断“…”2月余").
 * A colon splits a clause when what precedes it is too long to be a label
 * ("心电图示：", "2024-08-13血常规：") and does not announce a finding. */
static int s_colon_splits(const char *t, size_t a, size_t i)
{
    static const char *const announce[] = {"示", "为", "见", "如下", "查", "图", "提示", "报告", "结果"};
    /* count at most 13 characters: a long clause with many colons stays linear */
    size_t chars = 0;
    for (size_t k = a; k < i && chars <= 12; k += s_u8len((unsigned char)t[k])) chars++;
    if (chars <= 12) return 0;
    for (size_t k = 0; k < ASSAY_ARRAY_LEN(announce); k++)
        if (s_ends(t + a, i - a, announce[k])) return 0;
    return 1;
}

static int s_is_sentence_end(uint32_t c)
{
    return c == 0x3002 || c == 0xFF01 || c == 0xFF1F || c == '!' || c == '?' || c == '\n';
}

/* the first hit overlapping [a, b), or -1; hits are sorted and the cursor moves
 * forward only */
static int s_first_hit(s_run_t *r, size_t a, size_t b)
{
    while (r->hit_at < r->hits.n && r->hits.v[r->hit_at].off + r->hits.v[r->hit_at].len <= a)
        r->hit_at++;
    if (r->hit_at < r->hits.n && r->hits.v[r->hit_at].off < b) return (int)r->hit_at;
    return -1;
}

/* Can the mention at hit be removed as a "、" list element instead of the clause?
 * Only a non-first element (the first carries the verb or the negation: "否认糖尿病、
 * 高血压病史") equal to the term, or the term followed by "等…". Fills [*ra, *rb). */
static int s_list_element(const s_run_t *r, const s_clause_t *cl, const s_hit_t *h, size_t *ra,
                          size_t *rb)
{
    static const char dun[] = "、";
    size_t dl = strlen(dun);
    if (h->off < cl->a + dl || memcmp(r->t + h->off - dl, dun, dl) != 0) return 0;
    size_t e = h->off + h->len;
    if (e > cl->b) return 0; /* a term running over the clause end */
    int last_ok = e == cl->b || s_starts(r->t + e, cl->b - e, "等") ||
                  s_starts(r->t + e, cl->b - e, dun) || s_starts(r->t + e, cl->b - e, "及") ||
                  s_starts(r->t + e, cl->b - e, "病史") || s_starts(r->t + e, cl->b - e, "史");
    if (!last_ok) return 0;
    *ra = h->off - dl;
    *rb = e;
    return 1;
}

/*  Context of a mention. A name of the diagnosis that is not a verbatim part of
 *  the diagnosis text may stay where it does not state the patient's current
 *  diagnosis:
 *  - a relative's history ("父亲有“高血压”", any mention in a 家族史 section):
 *    another person's disease; a verbatim gold part there is masked, the clause
 *    stays;
 *  - a denial ("否认高血压、糖尿病", "未见…"): it says the opposite;
 *  - the patient's past history (a 既往史-like section, or a clause saying
 *    "既往…", "…病史", "“X”10余年", "N年前行“X术”"): a known condition or a past
 *    operation is evidence for the admission diagnosis (its grade, stage, or a
 *    post-operative state), not the conclusion. A clause holding a conclusion
 *    cue ("诊断", "诊为", "考虑", "收入", "提示", "示"…) is never history.
 *  Every other mention goes with its clause, as before. */
typedef enum { S_CTX_NONE = 0, S_CTX_FAMILY, S_CTX_DENIED, S_CTX_HISTORY } s_ctx_t;

static const char *const s_ctx_names[] = {"", "in a relative's history", "denied",
                                          "in the patient's past history"};

/* 2: a family history section, 1: a past-history section (既往史, 手术史, 个人史,
 * …; not 现病史 nor a bare 病史), 0: another */
static int s_section_ctx(const char *name, size_t len)
{
    if (len == 0) return 0;
    if (s_memmem(name, len, "家族")) return 2;
    if (!s_ends(name, len, "史") || s_ends(name, len, "现病史") || s_starts(name, len, "简要") ||
        (len == strlen("病史") && memcmp(name, "病史", len) == 0))
        return 0;
    return 1;
}

/* is there one of the words (NULL-terminated list) in t[a, b)? */
static int s_has_any(const char *t, size_t a, size_t b, const char *const *words)
{
    if (b <= a) return 0;
    for (size_t k = 0; words[k]; k++)
        if (s_memmem(t + a, b - a, words[k])) return 1;
    return 0;
}

/* does a relative, as the subject, precede the mention at off in the sentence
 * starting at sa ("父亲有", "母亲患", "1姐患有", "父母均因…去世")? */
static int s_relative_before(const char *t, size_t sa, size_t off)
{
    static const char *const rel[] = {
        "外祖父", "外祖母", "祖父", "祖母", "父亲", "母亲", "父母", "兄弟", "姐妹", "哥哥", "弟弟",
        "姐姐", "妹妹", "儿子", "女儿", "子女", "配偶", "爱人", "丈夫", "妻子", "家族", "家属",
        "亲属", "舅舅", "姑姑", "叔叔", "伯伯", "阿姨", "父", "母", "兄", "弟", "姐", "妹", "哥"};
    static const char *const verbs[] = {"有", "患", "因", "死", "曾", "亦", "均", NULL};
    static const char *const self[] = {"患者", "本人", "病人", NULL};
    /* the first characters of the words, by code point mod 128 (bit c & 63 of
     * word (c >> 6) & 1): most characters are passed over with one test; the
     * unit test test_family_history checks the table against the words */
    static const uint64_t first[2] = {0x8a46800080400120ull, 0x8002000532010ull};
    size_t rel_end = 0;
    int found = 0;
    for (size_t j = sa; j < off;) {
        size_t step = s_u8len((unsigned char)t[j]);
        /* every word starts with a three-byte character from U+4E00..U+9FFF */
        if (step != 3 || (unsigned char)t[j] < 0xE4 || (unsigned char)t[j] > 0xE9) {
            j += step;
            continue;
        }
        uint32_t c = ((uint32_t)(t[j] & 0x0F) << 12) | ((uint32_t)(t[j + 1] & 0x3F) << 6) |
                     (uint32_t)(t[j + 2] & 0x3F);
        if (!(first[(c >> 6) & 1] >> (c & 63) & 1)) {
            j += 3;
            continue;
        }
        for (size_t k = 0; k < ASSAY_ARRAY_LEN(rel); k++)
            if (memcmp(t + j, rel[k], 3) == 0 && s_starts(t + j, off - j, rel[k])) {
                rel_end = j + strlen(rel[k]);
                step = strlen(rel[k]);
                found = 1;
                break;
            }
        j += step;
    }
    if (!found) return 0;
    /* the patient named again after the relative: the mention is the patient's */
    if (s_has_any(t, rel_end, off, self)) return 0;
    /* a verb of having within a few characters ("母亲曾患有“…”") */
    size_t lim = off - rel_end > 48 ? rel_end + 48 : off;
    return s_has_any(t, rel_end, lim, verbs);
}

/* is the mention at off denied by a cue earlier in its clause [ca, off)? */
static int s_denied(const char *t, size_t ca, size_t off)
{
    static const char *const cues[] = {"否认", "未见", "未发现", "未闻及", "未触及", "未诉",
                                       "排除", "除外", "不伴", "无"};
    /* "无明显诱因出现X": the denial is of the cause, not of X */
    static const char *const breaks_wu[] = {"出现", "发生", "突发", "诱因", "原因", "感", "伴",
                                            "致", "引起", "后", "但", "有", NULL};
    static const char *const breaks[] = {"出现", "发生", "突发", "但", "后", NULL};
    for (size_t j = ca; j < off;) {
        size_t step = s_u8len((unsigned char)t[j]);
        /* every cue starts with a three-byte character from U+4E00..U+9FFF */
        if (step != 3 || (unsigned char)t[j] < 0xE4 || (unsigned char)t[j] > 0xE9) {
            j += step;
            continue;
        }
        for (size_t k = 0; k < ASSAY_ARRAY_LEN(cues); k++) {
            size_t cl = strlen(cues[k]);
            if (memcmp(t + j, cues[k], 3) != 0 || !s_starts(t + j, off - j, cues[k])) continue;
            int wu = strcmp(cues[k], "无") == 0;
            /* "不能排除X", "不除外X", "有无X": a suspicion or a question, not a denial */
            static const char *const undo[] = {"不能", "不可", "难以", "未能",
                                               "不",   "待",   "有",   NULL};
            int undone = 0;
            for (size_t u = 0; undo[u] && !undone; u++)
                undone = j >= ca + strlen(undo[u]) && s_ends(t + ca, j - ca, undo[u]);
            if (!undone && !s_has_any(t, j + cl, off, wu ? breaks_wu : breaks)) return 1;
            step = cl;
            break;
        }
        j += step;
    }
    return 0;
}

/* the patient's past history: see the comment above s_ctx_t. [sa, off): where
 * "既往" opens the history (the sentence up to the mention, as far as it is
 * kept: past_before says an earlier kept clause of it held "既往"), [ca, cb) the
 * clause, [off, off + hlen) the mention */
static int s_past_history(const char *t, size_t len, size_t sa, size_t ca, size_t cb, size_t off,
                          size_t hlen, int sec_ctx, int past_before)
{
    static const char *const conclusion[] = {"诊断", "诊为", "确诊", "拟诊", "疑诊", "考虑",
                                             "印象", "收入", "收住", "收治", "提示", "示",
                                             "符合", NULL};
    static const char *const past[] = {"既往", NULL};
    static const char *const hist[] = {"病史", NULL};
    if (s_has_any(t, ca, cb, conclusion)) return 0;
    if (sec_ctx == 1 || past_before || s_has_any(t, sa, off, past) || s_has_any(t, ca, cb, hist))
        return 1;
    /* "“X”史": the mention names a history */
    size_t e = off + hlen;
    while (e < len && (s_starts(t + e, len - e, "”") || t[e] == '"'))
        e += s_u8len((unsigned char)t[e]);
    return s_starts(t + e, len - e, "史");
}

/* does [s, s+len) hold a verbatim part of the diagnosis? */
static int s_holds_verbatim(const assay_leak_case_t *lc, const char *s, size_t len)
{
    for (size_t v = 0; v < lc->n_verb; v++) {
        const s_term_t *t = &lc->terms[lc->verb[v]];
        if (t->len <= len && memmem(s, len, t->s, t->len)) return 1;
    }
    return 0;
}

/* the context of the mention [off, off+hlen) of term in clause [ca, cb) of the
 * sentence starting at sa, in a section of kind sec_ctx (s_section_ctx) */
static s_ctx_t s_mention_ctx(const char *t, size_t len, size_t sa, size_t ca, size_t cb, size_t off,
                             size_t hlen, const s_term_t *term, int sec_ctx, int hide_history,
                             size_t past_from, int past_before, uint64_t named_items)
{
    if (term->kind == ASSAY_LEAK_TERM_CODE) return S_CTX_NONE;
    if (sec_ctx == 2 || s_relative_before(t, sa, off)) return S_CTX_FAMILY;
    if (s_denied(t, ca, off)) return S_CTX_DENIED;
    /* a drug or procedure in the history is the management of the diagnosis:
     * hidden, unless the history sentence already names the condition it treats
     * ("“糖尿病”病史10年，口服“二甲双胍”": hiding the drug would hide nothing) */
    int named = term->item < 64 && (named_items >> term->item & 1);
    if (!hide_history && (term->kind != ASSAY_LEAK_TERM_TREATMENT || named) &&
        s_past_history(t, len, past_from, ca, cb, off, hlen, sec_ctx, past_before))
        return S_CTX_HISTORY;
    return S_CTX_NONE;
}

/* the sentence start *sa, clause start *ca and clause end *cb around the
 * mention [off, end) of t, within [lo, hi) */
static void s_bounds(const char *t, size_t lo, size_t hi, size_t off, size_t end, size_t *sa,
                     size_t *ca, size_t *cb)
{
    size_t n;
    *ca = *sa = lo;
    int in_clause = 1;
    for (size_t b = off; b > lo;) {
        uint32_t c = s_cp_before(t, b, &n);
        if (s_is_sentence_end(c)) {
            if (in_clause) *ca = b;
            *sa = b;
            break;
        }
        if (in_clause && s_is_clause_delim(c)) {
            *ca = b;
            in_clause = 0;
        }
        b -= n;
    }
    *cb = hi;
    for (size_t e = end; e < hi; e += n) {
        uint32_t c = s_cp(t + e, hi - e, &n);
        if (s_is_sentence_end(c) || s_is_clause_delim(c)) {
            *cb = e;
            break;
        }
    }
}

/* the context of a whole clause [ca, cb) (for a near mention, which has no
 * position of its own): a relative's history, a denial or the past history */
static s_ctx_t s_clause_ctx(const char *t, size_t sa, size_t ca, size_t cb, int sec_ctx,
                            int hide_history, size_t past_from, int past_before)
{
    if (sec_ctx == 2 || s_relative_before(t, sa, cb)) return S_CTX_FAMILY;
    if (s_denied(t, ca, cb)) return S_CTX_DENIED;
    if (!hide_history && s_past_history(t, cb, past_from, ca, cb, cb, 0, sec_ctx, past_before))
        return S_CTX_HISTORY;
    return S_CTX_NONE;
}

/* does the clause end in a conclusion label ("…明确诊断：", "诊断为：", "考虑：")? */
static int s_conclusion_label(const char *s, size_t len)
{
    static const char *const labels[] = {"诊断", "诊断为", "诊为", "确诊", "确诊为", "拟诊",
                                         "考虑", "考虑为", "印象", "疑诊"};
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t')) len--;
    if (s_ends(s, len, "：")) len -= strlen("：");
    else if (len > 0 && s[len - 1] == ':') len--;
    else return 0;
    for (size_t k = 0; k < ASSAY_ARRAY_LEN(labels); k++)
        if (s_ends(s, len, labels[k])) return 1;
    return 0;
}

#define S_MASK "某病"
#define S_MAX_MASKS 8

/* clean the keep-section content [a, b) of r->t into out */
typedef struct {
    size_t k;    /* the clause */
    size_t mark; /* out->len before it (and its leading delimiter) was written */
} s_kept_t;

static void s_clean_body(s_run_t *r, size_t a, size_t b, assay_buf_t *out)
{
    int masks[S_MAX_MASKS];
    s_clause_t *cls = NULL;
    size_t ncl = 0, capcl = 0;
    s_kept_t *kept = NULL;
    size_t nkept = 0, capkept = 0;
    size_t i = a, n;
    while (i < b) {
        /* one sentence: clauses up to a sentence end outside brackets */
        ncl = 0;
        size_t ca = i;
        uint32_t term = 0;
        size_t term_at = b, term_len = 0;
        while (i < b) {
            uint32_t c = s_cp(r->t + i, b - i, &n);
            if (s_is_open(c)) {
                /* a balanced bracket or quote is atomic; an unbalanced one is text */
                size_t after = s_group_end(r->t, b, i);
                if (after) {
                    i = after;
                    continue;
                }
            }
            if (i > ca && s_item_number_at(r->t, b, i, ca)) {
                /* "1.窦性心律2.偶发室性早搏3.…": each numbered item is a clause of
                 * its own, with no delimiter of its own */
                if (ncl == capcl) {
                    capcl = capcl ? capcl * 2 : 16;
                    cls = assay_realloc(cls, capcl * sizeof *cls);
                }
                cls[ncl++] = (s_clause_t){ca, i, i};
                ca = i;
            }
            if (s_is_clause_delim(c) || s_is_sentence_end(c) ||
                (c == 0xFF1A && s_colon_splits(r->t, ca, i))) {
                if (ncl == capcl) {
                    capcl = capcl ? capcl * 2 : 16;
                    cls = assay_realloc(cls, capcl * sizeof *cls);
                }
                cls[ncl++] = (s_clause_t){ca, i, i + n};
                i += n;
                ca = i;
                if (s_is_sentence_end(c)) {
                    term = c;
                    term_at = i - n;
                    term_len = n;
                    break;
                }
                continue;
            }
            i += n;
        }
        if (ca < i && !term) {
            if (ncl == capcl) {
                capcl = capcl ? capcl * 2 : 16;
                cls = assay_realloc(cls, capcl * sizeof *cls);
            }
            cls[ncl++] = (s_clause_t){ca, i, i};
        }
        /* decide per clause: keep 1 = whole, 0 = drop, 2 = whole minus [ra, rb) */
        int kept_any = 0, last_kept = -1;
        int past_kept = 0;  /* a kept clause of this sentence holds "既往" */
        uint64_t named_kept = 0; /* gold items a kept clause names as history */
        size_t sent_start_len = out->len;
        nkept = 0;
        for (size_t k = 0; k < ncl; k++) {
            s_clause_t *cl = &cls[k];
            int keep = 1;
            size_t ra = 0, rb = 0;
            char why[512];
            why[0] = '\0';
            int h = s_first_hit(r, cl->a, cl->b);
            size_t n_masks = 0;
            uint64_t named_here = 0; /* gold items named here, kept as history */
            if (h >= 0) {
                /* a mention may stay in its context (s_ctx_t); a verbatim gold part
                 * in a relative's history is masked; any other mention removes
                 * the clause, or only its list element when it is the only one */
                int n_hits = 0, bad = -1;
                named_here = 0;
                for (int q = h; q < (int)r->hits.n && r->hits.v[q].off < cl->b; q++) {
                    const s_hit_t *hq = &r->hits.v[q];
                    const s_term_t *tq = &r->lc->terms[hq->term];
                    n_hits++;
                    /* a term running over a clause boundary has no one context */
                    int verbatim = tq->verbatim || s_holds_verbatim(r->lc, r->t + hq->off, hq->len);
                    /* a verbatim part only asks whether it is a relative's (masked) */
                    s_ctx_t cx = S_CTX_NONE;
                    if (hq->off < cl->a || hq->off + hq->len > cl->b)
                        cx = S_CTX_NONE;
                    else if (verbatim)
                        cx = r->sec_ctx == 2 || s_relative_before(r->t, cls[0].a, hq->off)
                                 ? S_CTX_FAMILY
                                 : S_CTX_NONE;
                    else
                        cx = s_mention_ctx(r->t, cl->b, cls[0].a, cl->a, cl->b, hq->off, hq->len,
                                           tq, r->sec_ctx, r->lc->hide_history, cl->a, past_kept,
                                           named_kept | named_here);
                    if (cx == S_CTX_HISTORY && !verbatim && tq->kind != ASSAY_LEAK_TERM_TREATMENT &&
                        tq->item < 64)
                        named_here |= 1ull << tq->item;
                    if (cx == S_CTX_FAMILY && verbatim && n_masks < S_MAX_MASKS) {
                        masks[n_masks++] = q;
                    } else if (cx == S_CTX_NONE || verbatim) {
                        if (bad < 0) bad = q;
                    }
                }
                if (bad < 0) {
                    keep = n_masks ? 3 : 1;
                    for (size_t q = 0; q < n_masks; q++) {
                        const s_hit_t *hq = &r->hits.v[masks[q]];
                        snprintf(why, sizeof why, "gold diagnosis “%s” in a relative's history: "
                                 "masked as “" S_MASK "”, the clause stays",
                                 r->lc->terms[hq->term].s);
                        s_audit(r, hq->off, hq->len, why);
                        if (r->n_rm > 0) r->rm[r->n_rm - 1].masked = 1;
                    }
                } else {
                    const s_hit_t *hit = &r->hits.v[bad];
                    char *reason = s_term_reason(&r->lc->terms[hit->term]);
                    if (n_hits == 1 && s_list_element(r, cl, hit, &ra, &rb)) {
                        keep = 2;
                        s_audit(r, ra, rb - ra, reason);
                    } else {
                        keep = 0;
                        s_audit(r, cl->a, cl->b - cl->a, reason);
                    }
                    free(reason);
                }
            } else if (r->lc->n_names > 0) {
                size_t nm = 0;
                double cov = s_near_mention(&r->near, r->t + cl->a, cl->b - cl->a, &nm);
                if (cov >= S_NEAR_MENTION) {
                    snprintf(why, sizeof why, "near mention of the gold “%s” (coverage %.2f)",
                             r->lc->names[nm].s, cov);
                    keep = 0;
                } else if (s_statement(r, cl->a, cl->b, why, sizeof why)) {
                    keep = 0;
                }
                /* a near mention in a relative's history, a denial or the past
                 * history stays, as an exact one does (asked only now: rare) */
                if (!keep && s_clause_ctx(r->t, cls[0].a, cl->a, cl->b, r->sec_ctx,
                                          r->lc->hide_history, cl->a, past_kept) != S_CTX_NONE)
                    keep = 1;
                if (!keep) s_audit(r, cl->a, cl->b - cl->a, why);
            }
            if (!keep) {
                /* "入院后完善相关检查明确诊断：" before the removed diagnosis is its
                 * conclusion marker: it goes with it, the findings after stay */
                if (nkept > 0 && kept[nkept - 1].k + 1 == k &&
                    s_conclusion_label(r->t + cls[k - 1].a, cls[k - 1].end - cls[k - 1].a)) {
                    const s_clause_t *lb = &cls[k - 1];
                    s_audit(r, lb->a, lb->b - lb->a, "conclusion marker of a removed diagnosis");
                    out->len = kept[--nkept].mark;
                    out->data[out->len] = '\0';
                    last_kept = nkept > 0 ? (int)kept[nkept - 1].k : -1;
                }
                continue;
            }
            if (s_memmem(r->t + cl->a, cl->b - cl->a, "既往")) past_kept = 1;
            named_kept |= named_here;
            if (nkept == capkept) {
                capkept = capkept ? capkept * 2 : 16;
                kept = assay_realloc(kept, capkept * sizeof *kept);
            }
            kept[nkept++] = (s_kept_t){k, out->len};
            /* the delimiter after the previous kept clause */
            if (last_kept >= 0) {
                const s_clause_t *p = &cls[last_kept];
                assay_buf_add(out, r->t + p->b, p->end - p->b);
            }
            if (keep == 2) {
                assay_buf_add(out, r->t + cl->a, ra - cl->a);
                assay_buf_add(out, r->t + rb, cl->b - rb);
            } else if (keep == 3) {
                size_t at = cl->a;
                for (size_t q = 0; q < n_masks; q++) {
                    const s_hit_t *hq = &r->hits.v[masks[q]];
                    assay_buf_add(out, r->t + at, hq->off - at);
                    assay_buf_adds(out, S_MASK);
                    at = hq->off + hq->len;
                }
                assay_buf_add(out, r->t + at, cl->b - at);
            } else {
                assay_buf_add(out, r->t + cl->a, cl->b - cl->a);
            }
            last_kept = (int)k;
        }
        /* a label whose content went ("心电图示：" before removed items) says
         * nothing alone: it goes too */
        while (nkept > 0 && kept[nkept - 1].k + 1 < ncl) {
            const s_clause_t *cl = &cls[kept[nkept - 1].k];
            size_t e = cl->b;
            while (e > cl->a && (r->t[e - 1] == ' ' || r->t[e - 1] == '\t')) e--;
            if (!(s_ends(r->t + cl->a, e - cl->a, "：") || s_ends(r->t + cl->a, e - cl->a, ":")))
                break;
            s_audit(r, cl->a, cl->b - cl->a, "label left without its content");
            out->len = kept[--nkept].mark;
            out->data[out->len] = '\0';
        }
        last_kept = nkept > 0 ? (int)kept[nkept - 1].k : -1;
        kept_any = nkept > 0;
        if (kept_any) {
            /* close the sentence with its own terminator, or the last kept
             * clause's delimiter when the sentence ran to the end of the section */
            if (term) assay_buf_add(out, r->t + term_at, term_len);
            else {
                const s_clause_t *p = &cls[last_kept];
                if (last_kept == (int)ncl - 1) assay_buf_add(out, r->t + p->b, p->end - p->b);
            }
        } else if (term == '\n') {
            out->len = sent_start_len;
            out->data[out->len] = '\0';
            if (out->len > 0 && out->data[out->len - 1] != '\n') assay_buf_addc(out, '\n');
        }
    }
    free(cls);
    free(kept);
}

static void s_run_release(s_run_t *r)
{
    free(r->hits.v);
    free(r->bs.slot);
    s_near_release(&r->near);
}

/* clean text t as a record with headers; appends to out */
static void s_clean_text(s_run_t *r, const s_sections_t *ss, assay_buf_t *out)
{
    for (size_t k = 0; k < ss->n; k++) {
        const s_section_t *sec = &ss->v[k];
        r->sec_name = sec->name;
        r->sec_name_len = sec->name_len;
        r->sec_ctx = s_section_ctx(sec->name, sec->name_len);
        if (sec->leak) {
            char why[160];
            snprintf(why, sizeof why, "section %.*s states the conclusion or its management",
                     (int)sec->name_len, sec->name);
            s_audit(r, sec->hdr, sec->end - sec->hdr, why);
            /* an inline section ("…。诊疗经过：…") leaves the sentence before it open */
            continue;
        }
        size_t mark = out->len;
        assay_buf_add(out, r->t + sec->hdr, sec->body - sec->hdr);
        size_t body_mark = out->len;
        s_clean_body(r, sec->body, sec->end, out);
        /* a header whose whole content went is dropped too */
        int had = 0, has = 0;
        for (size_t i = sec->body; i < sec->end && !had; i++)
            if (!strchr(" \t\r\n", r->t[i])) had = 1;
        for (size_t i = body_mark; i < out->len && !has; i++)
            if (!strchr(" \t\r\n", out->data[i])) has = 1;
        if (had && !has && sec->name_len > 0) {
            s_audit(r, sec->hdr, sec->body - sec->hdr, "header of a section whose content was all removed");
            out->len = mark;
            out->data[out->len] = '\0';
        }
    }
}

/* collapse runs of blank lines and trailing spaces left by removals */
static void s_tidy(assay_buf_t *b)
{
    size_t w = 0, nl = 0;
    for (size_t i = 0; i < b->len; i++) {
        char c = b->data[i];
        if (c == '\n') {
            while (w > 0 && (b->data[w - 1] == ' ' || b->data[w - 1] == '\t')) w--;
            if (++nl > 2 || w == 0) continue;
        } else {
            nl = 0;
        }
        b->data[w++] = c;
    }
    while (w > 0 && strchr(" \t\r\n", b->data[w - 1])) w--;
    b->len = w;
    if (b->data) b->data[w] = '\0';
}

/* Kept pieces can meet where the text between them went and spell a verbatim
 * gold part ("…高血压病" + "3级…"): such an occurrence is cut from the clean text,
 * and audited with in_named = 2 (offset in the clean text). A degree word
 * followed by a measured sign spells one too ("最高血压" holds 高血压): it is
 * turned round ("血压最高"), which keeps the sign and drops the name. */
static void s_drop_joined(s_run_t *r, assay_buf_t *out)
{
    const assay_leak_case_t *lc = r->lc;
    for (int round = 0; round < 64 && out->len > 0; round++) {
        const s_term_t *hit = NULL;
        const char *at = NULL;
        for (size_t v = 0; v < lc->n_verb; v++) {
            const s_term_t *t = &lc->terms[lc->verb[v]];
            const char *p = memmem(out->data, out->len, t->s, t->len);
            if (p && (!at || p < at || (p == at && t->len > hit->len))) at = p, hit = t;
        }
        if (!hit) return;
        size_t off = (size_t)(at - out->data);
        if (r->n_rm == r->cap_rm) {
            r->cap_rm = r->cap_rm ? r->cap_rm * 2 : 16;
            r->rm = assay_realloc(r->rm, r->cap_rm * sizeof *r->rm);
        }
        size_t first = s_u8len((unsigned char)hit->s[0]);
        if (off >= 3 && first == 3 && hit->len > first && hit->len - first <= 256 &&
            s_word_before(out->data, off)) {
            /* "最高血压为180mmHg" is 最高 + 血压, yet spells 高血压: written "血压最高为
             * 180mmHg", the vital sign stays and the name goes */
            char word[6], rest[256];
            size_t rl = hit->len - first;
            memcpy(word, out->data + off - 3, 6);
            memcpy(rest, out->data + off + first, rl);
            r->rm[r->n_rm++] = (assay_leak_removal_t){
                assay_strdup(""), assay_strndup(out->data + off - 3, 3 + hit->len),
                assay_sprintf("“%.6s%.*s” spells the gold diagnosis “%s”: written “%.*s%.6s”", word,
                              (int)rl, rest, hit->s, (int)rl, rest, word),
                off - 3, 2, 0};
            memcpy(out->data + off - 3, rest, rl);
            memcpy(out->data + off - 3 + rl, word, 6);
            continue;
        }
        r->rm[r->n_rm++] = (assay_leak_removal_t){
            assay_strdup(""), assay_strndup(at, hit->len),
            assay_sprintf("names the gold diagnosis “%s”, formed where kept text met", hit->s),
            off, 2, 0};
        memmove(out->data + off, out->data + off + hit->len, out->len - off - hit->len);
        out->len -= hit->len;
        out->data[out->len] = '\0';
    }
}

void assay_leak_result_init(assay_leak_result_t *res)
{
    memset(res, 0, sizeof *res);
}

void assay_leak_result_release(assay_leak_result_t *res)
{
    if (!res) return;
    free(res->clean_text);
    for (size_t i = 0; i < res->n_removed; i++) {
        free(res->removed[i].section);
        free(res->removed[i].span);
        free(res->removed[i].reason);
    }
    free(res->removed);
    for (size_t i = 0; i < res->n_hits; i++) {
        free(res->hits[i].match);
        free(res->hits[i].reason);
    }
    free(res->hits);
    memset(res, 0, sizeof *res);
}

static void s_hit_add(assay_leak_result_t *res, size_t *cap, const char *m, size_t ml, char *reason,
                      double score)
{
    for (size_t i = 0; i < res->n_hits; i++)
        if (strlen(res->hits[i].match) == ml && memcmp(res->hits[i].match, m, ml) == 0) {
            if (score > res->hits[i].score) res->hits[i].score = score;
            free(reason);
            return;
        }
    if (res->n_hits == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        res->hits = assay_realloc(res->hits, *cap * sizeof *res->hits);
    }
    res->hits[res->n_hits++] = (assay_leak_hit_t){assay_strndup(m, ml), reason, score};
    if (score > res->residual) res->residual = score;
}

void assay_leak_residual(const assay_leak_case_t *lc, const char *text, size_t len,
                         double flag_threshold, assay_leak_result_t *res)
{
    for (size_t i = 0; i < res->n_hits; i++) {
        free(res->hits[i].match);
        free(res->hits[i].reason);
    }
    free(res->hits);
    res->hits = NULL;
    res->n_hits = 0;
    res->residual = 0;
    res->flagged = 0;
    if (flag_threshold <= 0) flag_threshold = S_DEFAULT_FLAG;
    if (!text || s_utf8_invalid_at(text, len) != len) {
        size_t cap = 0;
        s_hit_add(res, &cap, "", 0, assay_strdup("text is not valid UTF-8"), 1.0);
        res->flagged = 1;
        return;
    }
    static const double weight[ASSAY_LEAK_TERM__COUNT] = {1.0, 1.0, 0.8, 1.0, 0.5};
    size_t cap = 0;
    s_hits_t hits = {NULL, 0, 0};
    s_scan(lc, text, len, &hits);
    /* a mention the cleaning keeps in its context (a relative's history, a
     * denial, the patient's past history) is reported under the flag threshold;
     * a verbatim gold part never is */
    s_sections_t ss = {NULL, 0, 0};
    size_t n_headers = 0, sec = 0;
    int parsed = 0; /* the sections of text, parsed when first needed */
    size_t named_sentence = SIZE_MAX; /* a sentence naming gold items as history */
    uint64_t named_mask = 0;          /* … and which */
    if (hits.n > 0) {
        s_parse_sections(text, len, &ss, &n_headers);
        parsed = 1;
    }
    for (size_t i = 0; i < hits.n; i++) {
        const s_hit_t *h = &hits.v[i];
        const s_term_t *t = &lc->terms[h->term];
        while (sec + 1 < ss.n && ss.v[sec].end <= h->off) sec++;
        size_t lo = ss.n ? ss.v[sec].body : 0, sa, ca, cb;
        if (lo > h->off) lo = 0;
        s_bounds(text, lo, len, h->off, h->off + h->len, &sa, &ca, &cb);
        int sec_ctx = ss.n ? s_section_ctx(ss.v[sec].name, ss.v[sec].name_len) : 0;
        s_ctx_t cx = s_mention_ctx(text, cb, sa, ca, cb, h->off, h->len, t, sec_ctx,
                                   lc->hide_history, sa, 0,
                                   named_sentence == sa ? named_mask : 0);
        int verbatim = t->verbatim || s_holds_verbatim(lc, text + h->off, h->len);
        if (cx == S_CTX_HISTORY && !verbatim && t->kind != ASSAY_LEAK_TERM_TREATMENT &&
            t->item < 64) {
            if (named_sentence != sa) named_mask = 0;
            named_sentence = sa;
            named_mask |= 1ull << t->item;
        }
        char *reason = s_term_reason(t);
        hits.v[i].term = cx != S_CTX_NONE && !verbatim ? -(int)cx : 0; /* reused: its context */
        if (cx != S_CTX_NONE && !verbatim) {
            char *r2 = assay_sprintf("%s, %s: kept", reason, s_ctx_names[cx]);
            free(reason);
            s_hit_add(res, &cap, text + h->off, h->len, r2, 0.2);
        } else {
            s_hit_add(res, &cap, text + h->off, h->len, reason, weight[t->kind]);
        }
    }
    /* a gold name or alias inside a degree word ("最高血压") is no mention, but it
     * is reported, under the flag threshold, so a reader sees it was looked at */
    for (size_t k = 0; k < lc->n_terms; k++) {
        const s_term_t *t = &lc->terms[k];
        if ((t->kind != ASSAY_LEAK_TERM_GOLD && t->kind != ASSAY_LEAK_TERM_ALIAS) || t->ascii) continue;
        for (const char *p = memmem(text, len, t->s, t->len); p;
             p = memmem(p + 1, len - (size_t)(p + 1 - text), t->s, t->len)) {
            size_t at = (size_t)(p - text);
            if (!s_word_before(text, at)) continue;
            s_hit_add(res, &cap, text + at - 3, t->len + 3,
                      assay_sprintf("“%s” inside the word “%.6s”: not a mention", t->s, text + at - 3),
                      0.2);
        }
    }
    /* fuzzy: per sentence, how much of each gold name's bigrams it holds */
    s_near_t near;
    s_near_init(&near, lc);
    size_t i = 0, n, sa = 0, hat = 0;
    while (i <= len) {
        uint32_t c = i < len ? s_cp(text + i, len - i, &n) : 0;
        if (i == len || s_is_sentence_end(c) || s_is_clause_delim(c)) {
            if (i > sa) {
                size_t nm = 0;
                double cov = s_near_mention(&near, text + sa, i - sa, &nm);
                if (cov >= 0.6) {
                    /* below S_NEAR_MENTION a hit is reported but stays under the
                     * default flag threshold; so is one in a clause the cleaning
                     * keeps for its context (its own mention decides there) */
                    double score = cov - (S_NEAR_MENTION - S_DEFAULT_FLAG);
                    if (!parsed) {
                        s_parse_sections(text, len, &ss, &n_headers);
                        parsed = 1;
                    }
                    size_t k = 0;
                    while (k + 1 < ss.n && ss.v[k].end <= sa) k++;
                    int sec_ctx = ss.n ? s_section_ctx(ss.v[k].name, ss.v[k].name_len) : 0;
                    size_t ssa, sca, scb;
                    s_bounds(text, ss.n && ss.v[k].body <= sa ? ss.v[k].body : 0, len, sa, sa, &ssa,
                             &sca, &scb);
                    s_ctx_t cx = S_CTX_NONE;
                    /* an exact mention inside the clause gave its context above */
                    int exact = 0;
                    while (hat < hits.n && hits.v[hat].off < sa) hat++;
                    for (size_t q = hat; q < hits.n && hits.v[q].off < i; q++) {
                        exact = 1;
                        if (hits.v[q].term < 0) cx = (s_ctx_t)-hits.v[q].term;
                    }
                    if (!exact)
                        cx = s_clause_ctx(text, ssa, sa, i, sec_ctx, lc->hide_history, ssa, 0);
                    if (cx != S_CTX_NONE && !s_holds_verbatim(lc, text + sa, i - sa)) score = 0.2;
                    s_hit_add(res, &cap, text + sa, i - sa,
                              assay_sprintf("near mention of the gold “%s” (coverage %.2f)%s%s%s",
                                            lc->names[nm].s, cov, cx ? ", " : "",
                                            cx ? s_ctx_names[cx] : "", cx ? ": kept" : ""),
                              score);
                }
            }
            if (i == len) break;
            sa = i + n;
        }
        i += n;
    }
    s_near_release(&near);
    free(ss.v);
    free(hits.v);
    res->flagged = res->residual >= flag_threshold;
}

int assay_leak_run(const assay_leak_case_t *lc, const assay_leak_input_t *in,
                   const assay_leak_opts_t *opts, assay_leak_result_t *res, char *err,
                   size_t errlen)
{
    assay_leak_result_release(res);
    size_t max = opts && opts->max_bytes ? opts->max_bytes : S_DEFAULT_MAX_BYTES;
    double flag = opts && opts->flag_threshold > 0 ? opts->flag_threshold : S_DEFAULT_FLAG;
    if (lc->n_items == 0) {
        snprintf(err, errlen, "no gold diagnosis: expected a diagnosis text such as \"1.心房颤动2.高血压病\"");
        return ASSAY_EINVAL;
    }
    size_t total = in->text ? in->len : 0;
    int any_text = in->text && in->len > 0;
    for (size_t k = 0; k < in->n_sections; k++) {
        total += in->sections[k].len;
        if (in->sections[k].len > 0) any_text = 1;
    }
    if (!any_text) {
        snprintf(err, errlen, "no case text: expected a non-empty \"text\" or named sections");
        return ASSAY_EINVAL;
    }
    if (total > max) {
        snprintf(err, errlen, "case record is %zu bytes, more than the limit of %zu", total, max);
        return ASSAY_EINVAL;
    }
    if (in->text) {
        size_t bad = s_utf8_invalid_at(in->text, in->len);
        if (bad != in->len) {
            snprintf(err, errlen, "text is not valid UTF-8 at byte %zu", bad);
            return ASSAY_EINVAL;
        }
    }
    for (size_t k = 0; k < in->n_sections; k++) {
        size_t bad = s_utf8_invalid_at(in->sections[k].text, in->sections[k].len);
        if (bad != in->sections[k].len) {
            snprintf(err, errlen, "section \"%s\" is not valid UTF-8 at byte %zu",
                     in->sections[k].name, bad);
            return ASSAY_EINVAL;
        }
    }

    s_sections_t ss = {NULL, 0, 0};
    size_t n_headers = 0;
    if (in->text && in->len > 0) s_parse_sections(in->text, in->len, &ss, &n_headers);
    if (in->text && in->len > 0 && n_headers == 0 && in->n_sections == 0 &&
        !(opts && opts->allow_unsectioned)) {
        free(ss.v);
        snprintf(err, errlen,
                 "no section header recognised in the text (expected e.g. \"主诉：\", \"现病史\", "
                 "\"入院诊断：\"); set allow_unsectioned to clean free text");
        return ASSAY_EINVAL;
    }

    s_run_t r;
    memset(&r, 0, sizeof r);
    r.lc = lc;
    s_near_init(&r.near, lc);
    assay_buf_t out = ASSAY_BUF_INIT;
    if (in->text && in->len > 0) {
        r.t = in->text;
        r.len = in->len;
        s_scan(lc, r.t, r.len, &r.hits);
        r.hit_at = 0;
        s_clean_text(&r, &ss, &out);
    }
    free(ss.v);
    /* named sections: conclusion and management sections go whole; the others are
     * cleaned like a keep section and appended under their name */
    for (size_t k = 0; k < in->n_sections; k++) {
        const assay_leak_section_t *sec = &in->sections[k];
        r.t = sec->text;
        r.len = sec->len;
        r.in_named = 1;
        r.sec_name = sec->name;
        r.sec_name_len = strlen(sec->name);
        r.sec_ctx = s_section_ctx(sec->name, r.sec_name_len);
        int kind = assay_leak_header_kind(sec->name, strlen(sec->name));
        if (kind == 1) {
            char why[160];
            snprintf(why, sizeof why, "section %s states the conclusion or its management", sec->name);
            s_audit(&r, 0, sec->len, why);
            continue;
        }
        s_scan(lc, r.t, r.len, &r.hits);
        r.hit_at = 0;
        assay_buf_t body = ASSAY_BUF_INIT;
        s_clean_body(&r, 0, sec->len, &body);
        s_tidy(&body);
        if (body.len > 0) {
            if (out.len > 0 && out.data[out.len - 1] != '\n') assay_buf_addc(&out, '\n');
            assay_buf_addf(&out, "%s：", sec->name);
            assay_buf_add(&out, body.data, body.len);
        }
        assay_buf_release(&body);
    }
    s_tidy(&out);
    s_drop_joined(&r, &out);
    res->clean_text = assay_buf_detach(&out, &res->clean_len);
    if (!res->clean_text) res->clean_text = assay_strdup("");
    res->removed = r.rm;
    res->n_removed = r.n_rm;
    res->n_headers = n_headers;
    r.rm = NULL;
    s_run_release(&r);
    assay_leak_residual(lc, res->clean_text, res->clean_len, flag, res);
    return 0;
}

/* ------------------------------------------------------ terminology */

#define S_MAX_CONCEPTS 32 /* name hits looked at per name */
#define S_MAX_NODES 16    /* graph nodes looked at per name */
#define S_MAX_SEEN 512    /* concepts and nodes expanded per case */
#define S_MAX_IN 64       /* in-edges looked at to judge a treatment's specificity */
#define S_DEGREE_CACHE 256
#define S_MAX_EDGES 1024

typedef struct {
    assay_leak_case_t *lc;
    const assay_terms_t *terms;
    size_t max_treat, max_children;
    assay_term_id_t seen[S_MAX_SEEN];
    size_t n_seen;
    assay_term_id_t seen_kg[S_MAX_SEEN];
    size_t n_seen_kg;
    size_t added;
    assay_kg_edge_t edges[S_MAX_EDGES];
    assay_kg_edge_t in_edges[S_MAX_IN];
    /* treatment degrees seen in this case, direct-mapped (node + 1, 0 = empty) */
    uint64_t deg_node[S_DEGREE_CACHE];
    uint8_t deg_drug[S_DEGREE_CACHE];
    size_t deg[S_DEGREE_CACHE];
} s_expand_t;

/* does the graph know s as a symptom and never as a disease? (children of a
 * code are conditions themselves and are not asked) */
static int s_symptom_only(s_expand_t *x, const char *s)
{
    assay_term_id_t nodes[8];
    size_t n = assay_terms_kg_find(x->terms, s, NULL, nodes, 8);
    if (n > 8) n = 8;
    int symptom = 0;
    for (size_t i = 0; i < n; i++) {
        const char *type = assay_terms_kg_type(x->terms, nodes[i]);
        if (strcmp(type, "疾病") == 0) return 0;
        if (strcmp(type, "症状") == 0) symptom = 1;
    }
    return symptom;
}

/* add s with the reason "<rel> <arg><tail>", e.g. "alias of 心房颤动" */
static void s_term(s_expand_t *x, const char *s, assay_leak_term_kind_t kind, size_t item,
                   const char *rel, const char *arg, const char *tail)
{
    if (!s || !*s) return;
    size_t len = strlen(s);
    if (s_find_term(x->lc, s, len) >= 0) return;
    /* a symptom is what the question is built from, even when a source lists it
     * as an alias or relative of the disease ("胸痛" for 心绞痛) */
    if ((kind == ASSAY_LEAK_TERM_ALIAS || kind == ASSAY_LEAK_TERM_RELATED) &&
        strcmp(rel, "child of") != 0 && s_symptom_only(x, s))
        return;
    x->added += (size_t)s_add_term(x->lc, s, len, kind, item, rel, arg, tail, 1);
    /* the terminology writes brackets and commas half-width, records full-width:
     * "特发性(原发性)高血压" is written "特发性（原发性）高血压" */
    if (memchr(s, '(', len) || memchr(s, ')', len) || memchr(s, ',', len)) {
        assay_buf_t w = ASSAY_BUF_INIT;
        for (size_t i = 0; i < len; i++) {
            if (s[i] == '(') assay_buf_adds(&w, "（");
            else if (s[i] == ')') assay_buf_adds(&w, "）");
            else if (s[i] == ',') assay_buf_adds(&w, "，");
            else assay_buf_addc(&w, s[i]);
        }
        x->added += (size_t)s_add_term(x->lc, w.data, w.len, kind, item, rel, arg, tail, 1);
        assay_buf_release(&w);
    }
}

/* a drug name without its dosage form ("硝苯地平控释片" → "硝苯地平"), or 0 */
static size_t s_drug_base(const char *s, size_t len)
{
    static const char *const forms[] = {"肠溶胶囊", "缓释胶囊", "软胶囊", "胶囊", "肠溶片",
                                        "缓释片", "控释片", "分散片", "泡腾片", "咀嚼片",
                                        "注射液", "颗粒", "口服液", "片", "丸", "散"};
    for (size_t k = 0; k < ASSAY_ARRAY_LEN(forms); k++)
        if (s_ends(s, len, forms[k]) && s_nchars(s, len - strlen(forms[k])) >= 3)
            return len - strlen(forms[k]);
    return 0;
}

static size_t s_treat_degree_count(s_expand_t *x, assay_term_id_t t, int drug);

/* how many diseases name t as a drug (drug = 1) or as a treatment: one pass over
 * its in-edges (asking per relation costs a label lookup each) */
static size_t s_treat_degree(s_expand_t *x, assay_term_id_t t, int drug)
{
    /* generic treatments come back with every disease: remember them */
    size_t slot = (t * 2654435761u + (unsigned)drug) & (S_DEGREE_CACHE - 1);
    if (x->deg_node[slot] == t + 1 && x->deg_drug[slot] == drug) return x->deg[slot];
    size_t d = s_treat_degree_count(x, t, drug);
    x->deg_node[slot] = t + 1;
    x->deg_drug[slot] = (uint8_t)drug;
    x->deg[slot] = d;
    return d;
}

static size_t s_treat_degree_count(s_expand_t *x, assay_term_id_t t, int drug)
{
    const char *r1 = drug ? "药物" : "治疗方式", *r2 = drug ? "药物治疗" : "手术治疗";
    size_t n = assay_terms_kg_neighbors(x->terms, t, NULL, ASSAY_KG_IN, x->in_edges, S_MAX_IN);
    if (n > S_MAX_IN) /* rare: count per relation over every edge */
        return assay_terms_kg_degree(x->terms, t, r1, ASSAY_KG_IN) +
               assay_terms_kg_degree(x->terms, t, r2, ASSAY_KG_IN);
    size_t d = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(x->in_edges[i].relation, r1) == 0 || strcmp(x->in_edges[i].relation, r2) == 0)
            d++;
    return d;
}

/* the active ingredient of a specific product is hidden only when the graph does
 * not know it as a drug of many diseases itself ("硝苯地平片" is specific,
 * "硝苯地平" is not) */
static int s_base_specific(s_expand_t *x, const char *tn, size_t bl)
{
    char *base = assay_strndup(tn, bl);
    assay_term_id_t nodes[4];
    size_t n = assay_terms_kg_find(x->terms, base, NULL, nodes, 4);
    free(base);
    for (size_t i = 0; i < n && i < 4; i++)
        if (s_treat_degree(x, nodes[i], 1) > x->max_treat) return 0;
    return 1;
}

static void s_expand_kg(s_expand_t *x, assay_term_id_t node, size_t item)
{
    for (size_t k = 0; k < x->n_seen_kg; k++)
        if (x->seen_kg[k] == node) return;
    if (x->n_seen_kg == S_MAX_SEEN) return;
    x->seen_kg[x->n_seen_kg++] = node;
    const char *dname = assay_terms_kg_name(x->terms, node);
    /* the node's out-edges once, then its in-edges for aliases pointing at it;
     * relations are matched here rather than by one lookup per relation */
    for (int pass = 0; pass < 2; pass++) {
        size_t n = assay_terms_kg_neighbors(x->terms, node, NULL, pass ? ASSAY_KG_IN : ASSAY_KG_OUT,
                                            x->edges, S_MAX_EDGES);
        if (n > S_MAX_EDGES) n = S_MAX_EDGES;
        for (size_t i = 0; i < n; i++) {
            const char *rel = x->edges[i].relation;
            assay_term_id_t t = x->edges[i].node;
            if (strcmp(rel, "别名") == 0 || strcmp(rel, "同义词") == 0) {
                s_term(x, assay_terms_kg_name(x->terms, t), ASSAY_LEAK_TERM_ALIAS, item,
                       "alias of", dname, " in the knowledge graph");
                continue;
            }
            if (pass) continue;
            int drug = strcmp(rel, "药物") == 0 || strcmp(rel, "药物治疗") == 0;
            int treat = strcmp(rel, "治疗方式") == 0 || strcmp(rel, "手术治疗") == 0;
            if (!drug && !treat) continue;
            const char *tn = assay_terms_kg_name(x->terms, t);
            size_t tl = strlen(tn);
            /* a short "treatment" is advice ("戒酒", "休息") that history must keep;
             * the cheap tests go first, the degree costs a pass over the edges */
            if ((treat && s_nchars(tn, tl) < 4) || s_is_generic(tn, tl) || s_find_term(x->lc, tn, tl) >= 0)
                continue;
            /* specific: linked to few diseases */
            if (s_treat_degree(x, t, drug) > x->max_treat) continue;
            const char *why = drug ? "drug for" : "treatment of";
            s_term(x, tn, ASSAY_LEAK_TERM_TREATMENT, item, why, dname, " in the knowledge graph");
            size_t bl = drug ? s_drug_base(tn, tl) : 0;
            if (bl > 0 && s_base_specific(x, tn, bl)) {
                char *base = assay_strndup(tn, bl);
                s_term(x, base, ASSAY_LEAK_TERM_TREATMENT, item, why, dname,
                       " in the knowledge graph");
                free(base);
            }
        }
    }
}

static void s_expand_concept(s_expand_t *x, assay_term_id_t c, size_t item)
{
    for (size_t k = 0; k < x->n_seen; k++)
        if (x->seen[k] == c) return;
    if (x->n_seen == S_MAX_SEEN) return;
    x->seen[x->n_seen++] = c;
    const assay_terms_t *t = x->terms;
    const char *name = assay_terms_name(t, c), *code = assay_terms_code(t, c);
    int level = assay_terms_level(t, c);
    /* a chapter or block is a family of diseases, not a diagnosis to expand */
    if (level < ASSAY_LEVEL_CATEGORY) return;
    s_term(x, name, ASSAY_LEAK_TERM_ALIAS, item, "standard name of", code, "");
    s_term(x, code, ASSAY_LEAK_TERM_CODE, item, "code of", name, "");
    size_t na = assay_terms_alias_count(t, c);
    for (size_t i = 0; i < na; i++) {
        assay_alias_t a;
        if (assay_terms_alias(t, c, i, &a) == 0)
            s_term(x, a.text, ASSAY_LEAK_TERM_ALIAS, item, "alias of", name, "");
    }
    /* ancestors down to the category: a parent term names the diagnosis too */
    for (assay_term_id_t p = assay_terms_parent(t, c);
         p != ASSAY_TERM_NONE && assay_terms_level(t, p) >= ASSAY_LEVEL_BLOCK;
         p = assay_terms_parent(t, p)) {
        /* a block ("糖尿病", "缺血性心脏病") still names the diagnosis; its code
         * range ("E10-E14") does not appear in records; a chapter is too broad */
        s_term(x, assay_terms_name(t, p), ASSAY_LEAK_TERM_RELATED, item, "parent of", name, "");
        if (assay_terms_level(t, p) >= ASSAY_LEVEL_CATEGORY)
            s_term(x, assay_terms_code(t, p), ASSAY_LEAK_TERM_CODE, item, "code of",
                   assay_terms_name(t, p), "");
    }
    /* descendants, breadth first, bounded */
    assay_term_id_t *queue = assay_malloc((x->max_children + 1) * sizeof *queue);
    size_t qh = 0, qt = 0;
    queue[qt++] = c;
    size_t taken = 0;
    while (qh < qt && taken < x->max_children) {
        assay_term_id_t p = queue[qh++];
        size_t nc = assay_terms_child_count(t, p);
        for (size_t i = 0; i < nc && taken < x->max_children; i++) {
            assay_term_id_t ch = assay_terms_child(t, p, i);
            s_term(x, assay_terms_name(t, ch), ASSAY_LEAK_TERM_RELATED, item, "child of", name, "");
            taken++;
            if (qt <= x->max_children) queue[qt++] = ch;
        }
    }
    free(queue);
    /* the graph's disease nodes named like the concept (its aliases reach the
     * graph through the node's own 别名 edges) */
    assay_term_id_t nodes[S_MAX_NODES];
    size_t nn = assay_terms_kg_find(t, name, "疾病", nodes, S_MAX_NODES);
    for (size_t i = 0; i < nn && i < S_MAX_NODES; i++) s_expand_kg(x, nodes[i], item);
}

/* how many characters of a occur in b */
static size_t s_shared_chars(const char *a, const char *b)
{
    size_t shared = 0, n, al = strlen(a), bl = strlen(b);
    for (size_t i = 0; i < al; i += n) {
        n = s_u8len((unsigned char)a[i]);
        if (memmem(b, bl, a + i, n)) shared++;
    }
    return shared;
}

/* concepts whose standard name is name, else the preferred concepts by alias;
 * a chapter or block of that name does not count ("高血压病" names the block
 * I10-I15 and is an alias of the clinical code I10.x00x002) */
static size_t s_concepts_named(const assay_terms_t *t, const char *name, assay_term_id_t *out,
                               size_t max)
{
    assay_name_hit_t hits[S_MAX_CONCEPTS];
    size_t nh = assay_terms_find_name(t, name, ASSAY_SYS_ANY, hits, S_MAX_CONCEPTS);
    if (nh > S_MAX_CONCEPTS) nh = S_MAX_CONCEPTS;
    size_t n = 0;
    for (size_t i = 0; i < nh && n < max; i++)
        if (hits[i].alias == UINT32_MAX &&
            assay_terms_level(t, hits[i].concept) >= ASSAY_LEVEL_CATEGORY)
            out[n++] = hits[i].concept;
    if (n > 0 || nh == 0) return n;
    /* by alias: the concepts whose standard name shares most characters with
     * name (冠心病 → 冠状动脉粥样硬化性心脏病 rather than 心绞痛) */
    size_t best = 0;
    for (size_t i = 0; i < nh; i++) {
        assay_term_id_t c = hits[i].concept;
        if (hits[i].alias == UINT32_MAX || assay_terms_level(t, c) < ASSAY_LEVEL_CATEGORY) continue;
        size_t shared = s_shared_chars(name, assay_terms_name(t, c));
        if (shared < best) continue;
        if (shared > best) n = 0, best = shared;
        int dup = 0;
        for (size_t k = 0; k < n; k++) dup |= out[k] == c;
        if (!dup && n < max) out[n++] = c;
    }
    return n;
}

/* concepts whose standard name is exactly name (no alias: aliases of a piece of a
 * composite name are too loose, "二尖瓣" is an alias of a valve disease) */
static size_t s_concepts_std(const assay_terms_t *t, const char *name, assay_term_id_t *out,
                             size_t max)
{
    assay_name_hit_t hits[S_MAX_CONCEPTS];
    size_t nh = assay_terms_find_name(t, name, ASSAY_SYS_ANY, hits, S_MAX_CONCEPTS);
    if (nh > S_MAX_CONCEPTS) nh = S_MAX_CONCEPTS;
    size_t n = 0;
    for (size_t i = 0; i < nh && n < max; i++)
        if (hits[i].alias == UINT32_MAX) out[n++] = hits[i].concept;
    return n;
}

/* Physicians write 型 for 性 ("冠状动脉粥样硬化型心脏病"), 梗塞 for 梗死, 早博 for 早搏,
 * and shorten 冠状动脉 to 冠脉, 心肌梗死 to 心梗. A name the terminology does not
 * know is tried once with each such variant, one substitution at a time. */
static size_t s_concepts_variant(const assay_terms_t *t, const char *name, size_t len,
                                 assay_term_id_t *out, size_t max)
{
    static const char *const variants[][2] = {
        {"型", "性"},     {"性", "型"},         {"梗塞", "梗死"}, {"早博", "早搏"},
        {"冠脉", "冠状动脉"}, {"心梗", "心肌梗死"}, {"置入", "植入"}, {"植入", "置入"},
    };
    size_t tries = 0;
    for (size_t v = 0; v < ASSAY_ARRAY_LEN(variants); v++) {
        const char *from = variants[v][0], *to = variants[v][1];
        size_t fl = strlen(from);
        for (const char *p = s_memmem(name, len, from); p && tries < 16;
             p = s_memmem(p + fl, len - (size_t)(p + fl - name), from)) {
            tries++;
            char *alt = assay_sprintf("%.*s%s%s", (int)(p - name), name, to, p + fl);
            size_t n = s_concepts_named(t, alt, out, max);
            free(alt);
            if (n > 0) return n;
        }
    }
    return 0;
}

/* The disease a modified name is a kind of: "陈旧性脑梗死" → 脑梗死, "2型糖尿病" →
 * 糖尿病, "频发室性早搏" → 室性早搏. It names the diagnosis as much as a parent code
 * does, so it is hidden when the terminology knows it as a disease. */
static void s_add_head(s_expand_t *x, const char *name, size_t len, size_t item)
{
    static const char *const mods[] = {
        "陈旧性", "亚急性", "急性", "慢性", "阵发性", "持续性", "永久性", "偶发性", "偶发",
        "频发性", "频发", "原发性", "继发性", "复发性", "反复", "多发性", "多发", "双侧", "左侧",
        "右侧", "重度", "中度", "轻度", "早期", "晚期", "老年性", "单纯性", "难治性"};
    const char *h = name;
    size_t hl = len;
    for (int stripped = 1; stripped;) {
        stripped = 0;
        for (size_t k = 0; k < ASSAY_ARRAY_LEN(mods); k++)
            if (s_starts(h, hl, mods[k])) {
                h += strlen(mods[k]), hl -= strlen(mods[k]);
                stripped = 1;
            }
        /* a numbered or Roman type: "2型", "II型" */
        size_t i = 0;
        while (i < hl && (isdigit((unsigned char)h[i]) || h[i] == 'I' || h[i] == 'V')) i++;
        if (i > 0 && s_starts(h + i, hl - i, "型")) {
            h += i + strlen("型"), hl -= i + strlen("型");
            stripped = 1;
        }
    }
    if (h == name || s_nchars(h, hl) < 2 || s_is_generic(h, hl)) return;
    char *head = assay_strndup(h, hl);
    assay_term_id_t cs[4];
    int known = s_concepts_std(x->terms, head, cs, 4) > 0 ||
                assay_terms_kg_find(x->terms, head, "疾病", NULL, 0) > 0;
    if (known) s_term(x, head, ASSAY_LEAK_TERM_RELATED, item, "head of", name, "");
    free(head);
}

size_t assay_leak_case_expand(assay_leak_case_t *self, const assay_terms_t *terms,
                              const assay_leak_expand_opts_t *opts)
{
    if (!terms) return 0;
    s_expand_t *x = ASSAY_NEW(s_expand_t);
    x->lc = self;
    x->terms = terms;
    x->max_treat = opts && opts->max_treatment_diseases ? opts->max_treatment_diseases : 5;
    x->max_children = opts && opts->max_children ? opts->max_children : 200;
    /* names grow while composite names are segmented; iterate over the original ones */
    size_t n_names = self->n_names;
    for (size_t k = 0; k < n_names; k++) {
        const char *name = self->names[k].s;
        size_t item = self->names[k].item, len = self->names[k].len;
        assay_term_id_t cs[8];
        size_t nc = s_concepts_named(terms, name, cs, 8);
        if (nc == 0) nc = s_concepts_variant(terms, name, len, cs, 8);
        for (size_t i = 0; i < nc; i++) s_expand_concept(x, cs[i], item);
        assay_term_id_t nodes[S_MAX_NODES];
        size_t nn = assay_terms_kg_find(terms, name, "疾病", nodes, S_MAX_NODES);
        for (size_t i = 0; i < nn && i < S_MAX_NODES; i++) s_expand_kg(x, nodes[i], item);
        s_add_head(x, name, len, item);
        if (nc > 0 || nn > 0 || s_nchars(name, len) < 5) continue;
        /* a composite the split did not separate ("心律失常心房颤动"): the longest
         * dictionary names inside it, left to right, at least three characters */
        size_t i = 0;
        while (i < len) {
            size_t best = 0;
            assay_term_id_t bc[8];
            size_t nbc = 0;
            size_t ends[16], ne = 0;
            for (size_t j = i, c = 0; j < len && c < 16; c++) {
                j += s_u8len((unsigned char)name[j]);
                ends[ne++] = j;
            }
            for (size_t e = ne; e-- > 0;) {
                if (e < 2) break; /* three characters at least */
                if (ends[e] - i == len) continue; /* the whole name was tried */
                char *sub = assay_strndup(name + i, ends[e] - i);
                nbc = s_concepts_std(terms, sub, bc, 8);
                free(sub);
                if (nbc > 0) {
                    best = ends[e] - i;
                    break;
                }
            }
            if (best == 0) {
                i += s_u8len((unsigned char)name[i]);
                continue;
            }
            if (!s_is_generic(name + i, best)) {
                s_add_name(self, name + i, best, item);
                name = self->names[k].s; /* s_add_name may move the array */
                x->added += (size_t)assay_leak_case_add_term(self, name + i, best,
                                                             ASSAY_LEAK_TERM_GOLD, item, NULL);
                for (size_t q = 0; q < nbc; q++) s_expand_concept(x, bc[q], item);
            }
            i += best;
        }
    }
    size_t added = x->added;
    free(x);
    return added;
}

int assay_leak_case_add_code(assay_leak_case_t *self, const assay_terms_t *terms,
                             const char *code)
{
    assay_term_id_t c = terms ? assay_terms_find_code(terms, ASSAY_SYS_ANY, code) : ASSAY_TERM_NONE;
    if (c == ASSAY_TERM_NONE) return ASSAY_ENOTFOUND;
    const char *name = assay_terms_name(terms, c);
    size_t before = self->n_items;
    assay_leak_case_add_gold(self, name, strlen(name));
    size_t item = self->n_items > before ? before : SIZE_MAX;
    assay_leak_case_add_term(self, code, strlen(code), ASSAY_LEAK_TERM_CODE, item, "given code");
    return 0;
}
