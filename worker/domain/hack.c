/*  hack.c: see hack.h */
#include "worker/domain/hack.h"

#include "common/util.h"
#include "worker/domain/textscan.h"

#include <string.h>

void assay_hack_params_default(assay_hack_params_t *p)
{
    p->min_chars = 20;
    p->ratio = 0.1;
    p->max_chars = 200;
    p->repeat_min = 3;
    p->check_reasoning = 0;
}

/* ------------------------------------------------------------ lexicon */

#define S_LEX_MIN 2
#define S_LEX_MAX 16

struct assay_hack_lexicon {
    uint64_t *slots; /* hashes of name parts; 0 = empty */
    size_t mask, n;
};

static uint64_t s_part_hash(const uint32_t *k, size_t n)
{
    uint64_t h = assay_hash64(k, n * sizeof *k);
    return h ? h : 1;
}

static void s_lex_add(assay_hack_lexicon_t *lx, uint64_t h)
{
    if ((lx->n + 1) * 2 > lx->mask + 1) {
        size_t cap = (lx->mask + 1) * 2;
        uint64_t *old = lx->slots;
        size_t oldcap = lx->mask + 1;
        lx->slots = assay_calloc(cap, sizeof *lx->slots);
        lx->mask = cap - 1;
        for (size_t i = 0; i < oldcap; i++)
            if (old[i]) {
                size_t j = old[i] & lx->mask;
                while (lx->slots[j])
                    j = (j + 1) & lx->mask;
                lx->slots[j] = old[i];
            }
        free(old);
    }
    size_t j = h & lx->mask;
    while (lx->slots[j]) {
        if (lx->slots[j] == h) return;
        j = (j + 1) & lx->mask;
    }
    lx->slots[j] = h;
    lx->n++;
}

static int s_lex_has(const assay_hack_lexicon_t *lx, uint64_t h)
{
    size_t j = h & lx->mask;
    while (lx->slots[j]) {
        if (lx->slots[j] == h) return 1;
        j = (j + 1) & lx->mask;
    }
    return 0;
}

assay_hack_lexicon_t *assay_hack_lexicon_new(const assay_terms_t *terms)
{
    assay_hack_lexicon_t *lx = ASSAY_NEW(assay_hack_lexicon_t);
    lx->mask = 1023;
    lx->slots = assay_calloc(lx->mask + 1, sizeof *lx->slots);
    size_t n = assay_terms_kg_node_count(terms);
    uint32_t key[64];
    for (size_t i = 0; i < n; i++) {
        const char *type = assay_terms_kg_type(terms, (assay_term_id_t)i);
        if (strcmp(type, "药物") != 0 && strcmp(type, "检查") != 0) continue;
        const char *name = assay_terms_kg_name(terms, (assay_term_id_t)i);
        size_t kl = assay_textscan_key(name, strlen(name), key, 64);
        for (size_t a = 0; a < kl; a++)
            for (size_t l = S_LEX_MIN; l <= S_LEX_MAX && a + l <= kl; l++)
                s_lex_add(lx, s_part_hash(key + a, l));
    }
    return lx;
}

void assay_hack_lexicon_destroy(assay_hack_lexicon_t **self_p)
{
    if (!self_p || !*self_p) return;
    free((*self_p)->slots);
    free(*self_p);
    *self_p = NULL;
}

size_t assay_hack_lexicon_size(const assay_hack_lexicon_t *self)
{
    return self ? self->n : 0;
}

/* ------------------------------------------------------------ repeats */

#define S_MAX_SENT 512
#define S_MAX_CONCL 32
#define S_KEY 64
#define S_LOOP_KEY 256

typedef struct {
    const char *text;
    uint32_t len;
    uint32_t klen;
    uint64_t hash;
} s_sent_t;

static const char *const s_conclusion_cues[] = {"答案", "综上", "因此",      "所以",   "故选",
                                                "结论", "总之", "therefore", "answer", NULL};

/* a loop: the key repeating with some period at least four times back to back */
static void s_loop(const uint32_t *k, size_t n, assay_hack_result_t *out)
{
    for (size_t p = 1; p <= 32 && 2 * p <= n; p++) {
        size_t run = 0;
        for (size_t i = 0; i + p < n; i++) {
            run = k[i] == k[i + p] ? run + 1 : 0;
            size_t copies = run / p + 1;
            if (run >= 8 && copies >= 4 && copies > out->loop_copies) {
                out->loop_copies = copies;
                out->loop_period = p;
            }
        }
    }
}

static size_t s_collect(const char *s, size_t len, s_sent_t *sent, size_t n,
                        assay_hack_result_t *out)
{
    size_t pos = 0;
    assay_textscan_span_t sp;
    uint32_t key[S_LOOP_KEY];
    while (n < S_MAX_SENT && assay_textscan_next_sentence(s, len, &pos, &sp)) {
        size_t kl = assay_textscan_key(s + sp.off, sp.len, key, S_LOOP_KEY);
        s_loop(key, kl, out);
        if (kl < 4) continue; /* "好的。" is not a conclusion */
        sent[n].text = s + sp.off;
        sent[n].len = sp.len;
        sent[n].klen = (uint32_t)kl;
        sent[n].hash = assay_hash64(key, kl * sizeof *key);
        n++;
    }
    return n;
}

static void s_repeats(const assay_hack_params_t *p, const char *r, size_t rlen, const char *a,
                      size_t alen, assay_hack_result_t *out)
{
    s_sent_t sent[S_MAX_SENT];
    size_t n = 0;
    if (r) n = s_collect(r, rlen, sent, n, out);
    if (a) n = s_collect(a, alen, sent, n, out);
    /* exact repeats */
    for (size_t i = 0; i < n; i++) {
        size_t c = 1;
        for (size_t j = i + 1; j < n; j++)
            c += sent[j].hash == sent[i].hash;
        if (c > out->repeat_count) {
            out->repeat_count = c;
            out->repeat_text = sent[i].text;
            out->repeat_len = sent[i].len;
        }
    }
    /* near copies among conclusions ("答案是B。" / "因此答案是B。") */
    uint32_t keys[S_MAX_CONCL][S_KEY];
    size_t klen[S_MAX_CONCL], idx[S_MAX_CONCL], nc = 0;
    for (size_t i = 0; i < n && nc < S_MAX_CONCL; i++)
        if (assay_textscan_count_any(sent[i].text, sent[i].len, s_conclusion_cues) > 0) {
            klen[nc] = assay_textscan_key(sent[i].text, sent[i].len, keys[nc], S_KEY);
            idx[nc++] = i;
        }
    for (size_t i = 0; i < nc; i++) {
        size_t c = 1;
        for (size_t j = 0; j < nc; j++)
            if (j != i && assay_textscan_dice(keys[i], klen[i], keys[j], klen[j]) >= 0.85) c++;
        if (c > out->repeat_count) {
            out->repeat_count = c;
            out->repeat_text = sent[idx[i]].text;
            out->repeat_len = sent[idx[i]].len;
        }
    }
    if (out->repeat_count >= p->repeat_min || out->loop_copies >= 4)
        out->flags |= ASSAY_HACK_REPEATED;
}

/* ----------------------------------------------------- unknown entities */

typedef struct {
    const char *s;
    uint8_t len;
    char kind;
    /* the name before the suffix is checked too: a dosage form (阿莫西林|胶囊) or a
     * generic head (癫痫|病) */
    uint8_t form;
} s_suffix_t;

#define SUF(x, k, f)                                                                               \
    {                                                                                              \
        x, sizeof(x) - 1, k, f                                                                     \
    }

/* longest first where one ends another (综合征 before 征 is not listed) */
static const s_suffix_t s_suffixes[] = {
    SUF("综合征", 'd', 0), SUF("综合症", 'd', 0), SUF("梗死", 'd', 0),   SUF("结石", 'd', 0),
    SUF("畸形", 'd', 0),   SUF("溃疡", 'd', 0),   SUF("衰竭", 'd', 0),   SUF("病", 'd', 1),
    SUF("症", 'd', 1),     SUF("炎", 'd', 0),     SUF("癌", 'd', 0),     SUF("瘤", 'd', 0),
    SUF("霉素", 'r', 0),   SUF("西林", 'r', 0),   SUF("沙星", 'r', 0),   SUF("他汀", 'r', 0),
    SUF("洛尔", 'r', 0),   SUF("地平", 'r', 0),   SUF("普利", 'r', 0),   SUF("沙坦", 'r', 0),
    SUF("替尼", 'r', 0),   SUF("单抗", 'r', 0),   SUF("胶囊", 'r', 1),   SUF("注射液", 'r', 1),
    SUF("口服液", 'r', 1), SUF("缓释片", 'r', 1), SUF("肠溶片", 'r', 1), SUF("颗粒", 'r', 1),
    SUF("造影", 't', 0),   SUF("试验", 't', 0),   {NULL, 0, 0, 0}};

/* words that end like a disease or drug but name none in particular; a mention
 * ending in one of them (脾胃疾病, 外伤后遗症) is not checked */
static const char *const s_generic[] = {
    "消炎",   "发炎",   "抗炎",   "癌症",   "疾病",   "病症",   "病变",   "炎症",   "急症",
    "重症",   "慢性病", "传染病", "遗传病", "常见病", "多发病", "并发症", "后遗症", "适应症",
    "禁忌症", "适应证", "职业病", "地方病", "毛病",   "大病",   "小病",   "重病",   "旧病",
    "发病",   "患病",   "得病",   "看病",   "治病",   "生病",   "犯病",   "疑难病", "临床试验",
    "实验",   "对症",   "病",     "症",     "炎",     "癌",     "瘤",     NULL};

/* code points that end a mention going backwards: function words and verbs that
 * come before a name (患有X病, 考虑为X炎, 使用X霉素) */
static int s_stop(uint32_t cp)
{
    static const uint32_t stop[] = {
        0x7684 /* 的 */, 0x662F /* 是 */, 0x4E3A /* 为 */, 0x60A3 /* 患 */, 0x6709 /* 有 */,
        0x548C /* 和 */, 0x4E0E /* 与 */, 0x6216 /* 或 */, 0x53CA /* 及 */, 0x4E86 /* 了 */,
        0x5728 /* 在 */, 0x5BF9 /* 对 */, 0x7528 /* 用 */, 0x670D /* 服 */, 0x4E88 /* 予 */,
        0x7ED9 /* 给 */, 0x8651 /* 虑 */, 0x65AD /* 断 */, 0x80FD /* 能 */, 0x5176 /* 其 */,
        0x8BE5 /* 该 */, 0x6B64 /* 此 */, 0x672C /* 本 */, 0x8FD9 /* 这 */, 0x90A3 /* 那 */,
        0x79CD /* 种 */, 0x4E8E /* 于 */, 0x81F4 /* 致 */, 0x8D77 /* 起 */, 0x4F34 /* 伴 */,
        0x5E76 /* 并 */, 0x5408 /* 合 */, 0x7591 /* 疑 */, 0x4F3C /* 似 */, 0x6392 /* 排 */,
        0x9664 /* 除 */, 0x9009 /* 选 */, 0x5373 /* 即 */, 0x5C5E /* 属 */, 0x975E /* 非 */,
        0x4E0D /* 不 */, 0x65E0 /* 无 */, 0x884C /* 行 */, 0x505A /* 做 */, 0x67E5 /* 查 */,
        0x7EA7 /* 级 */, 0x9879 /* 项 */, 0x5F97 /* 得 */, 0x6CBB /* 治 */, 0x7597 /* 疗 */,
        0x8981 /* 要 */, 0x4F7F /* 使 */, 0x5982 /* 如 */, 0x679C /* 果 */, 0x4EE5 /* 以 */,
        0x53EF /* 可 */, 0x4F1A /* 会 */, 0x5C06 /* 将 */, 0x88AB /* 被 */, 0x628A /* 把 */,
        0x8BA9 /* 让 */, 0x4ECE /* 从 */, 0x7B49 /* 等 */, 0x4E5F /* 也 */, 0x90FD /* 都 */,
        0x5C31 /* 就 */, 0x8FD8 /* 还 */, 0x518D /* 再 */, 0x53C8 /* 又 */, 0x800C /* 而 */,
        0x4F46 /* 但 */, 0x56E0 /* 因 */, 0x6240 /* 所 */, 0x5DF2 /* 已 */, 0x65F6 /* 时 */,
        0x4E2A /* 个 */, 0x4E9B /* 些 */, 0x4E48 /* 么 */, 0x6837 /* 样 */, 0x5F88 /* 很 */,
        0x8F83 /* 较 */, 0x6700 /* 最 */, 0x66F4 /* 更 */, 0x73B0 /* 现 */, 0x524D /* 前 */,
        0x6211 /* 我 */, 0x4F60 /* 你 */, 0x4ED6 /* 他 */, 0x5979 /* 她 */, 0x5B83 /* 它 */,
        0x6CA1 /* 没 */, 0x8BF4 /* 说 */, 0x770B /* 看 */, 0x8FDB /* 进 */, 0x4E00 /* 一 */,
        0x8BCA /* 诊 */, 0x80DC /* 胜 */, 0x79BB /* 离 */, 0x6B21 /* 次 */, 0x9632 /* 防 */,
        0x6309 /* 按 */, 0x7167 /* 照 */, 0x636E /* 据 */, 0x4EF7 /* 价 */, 0x540C /* 同 */,
        0x8005 /* 者 */, 0x5403 /* 吃 */, 0x559D /* 喝 */, 0x5305 /* 包 */, 0x62EC /* 括 */,
        0x6210 /* 成 */, 0x53D8 /* 变 */};
    if (!assay_textscan_is_han(cp)) return !((cp >= '0' && cp <= '9') || cp == '-');
    for (size_t i = 0; i < sizeof stop / sizeof stop[0]; i++)
        if (cp == stop[i]) return 1;
    return 0;
}

static int s_is_generic(const char *s, size_t len)
{
    for (const char *const *g = s_generic; *g; g++)
        if (strlen(*g) == len && memcmp(*g, s, len) == 0) return 1;
    return 0;
}

/* text ending at end ends with a generic word of two or more code points */
static int s_ends_generic(const char *s, size_t end)
{
    for (const char *const *g = s_generic; *g; g++) {
        size_t gl = strlen(*g);
        if (gl >= 6 && gl <= end && memcmp(s + end - gl, *g, gl) == 0) return 1;
    }
    return 0;
}

#define S_SPAN_CP 10

static int s_known(const assay_terms_t *terms, const assay_hack_lexicon_t *lex, char kind,
                   const char *s, size_t len)
{
    char name[S_SPAN_CP * 4 + 16];
    if (len >= sizeof name) return 0;
    if (lex && kind != 'd') {
        uint32_t key[S_LEX_MAX + 1];
        size_t kl = assay_textscan_key(s, len, key, S_LEX_MAX + 1);
        if (kl >= S_LEX_MIN && kl <= S_LEX_MAX && s_lex_has(lex, s_part_hash(key, kl))) return 1;
    }
    memcpy(name, s, len);
    name[len] = '\0';
    if (assay_terms_lookup(terms, name, ASSAY_SYS_ANY) != ASSAY_TERM_NONE) return 1;
    assay_term_id_t node;
    return assay_terms_kg_find(terms, name, NULL, &node, 1) > 0;
}

/* is some part of [start, end) ending at end (at least two code points, not a bare
 * suffix) a known name? starts[] are the code point starts, leftmost first */
static int s_any_known(const assay_terms_t *terms, const assay_hack_lexicon_t *lex, char kind,
                       const char *s, const size_t *starts, size_t ns, size_t end)
{
    for (size_t k = 0; k < ns; k++) {
        size_t len = end - starts[k];
        if (assay_textscan_count(s + starts[k], len) < 2) break;
        if (s_is_generic(s + starts[k], len)) continue;
        if (s_known(terms, lex, kind, s + starts[k], len)) return 1;
    }
    return 0;
}

static void s_unknown(const assay_terms_t *terms, const assay_hack_lexicon_t *lex, const char *s,
                      size_t len, assay_hack_result_t *out)
{
    size_t i = 0;
    while (i < len) {
        const s_suffix_t *hit = NULL;
        for (const s_suffix_t *x = s_suffixes; x->s; x++)
            if (i + x->len <= len && memcmp(s + i, x->s, x->len) == 0) {
                hit = x;
                break;
            }
        if (!hit) {
            assay_textscan_next(s, len, &i);
            continue;
        }
        size_t end = i + hit->len;
        /* a longer word going on after the suffix (病毒, 炎症反应, 症状) is not a
         * mention ending here */
        size_t t = end;
        uint32_t after = assay_textscan_next(s, len, &t);
        if (after == 0x6BD2 /* 毒 */ || after == 0x72B6 /* 状 */ || after == 0x7406 /* 理 */ ||
            after == 0x4EBA /* 人 */ || after == 0x53F2 /* 史 */ || after == 0x60C5 /* 情 */ ||
            after == 0x53D8 /* 变 */ || after == 0x7076 /* 灶 */ || after == 0x7A0B /* 程 */ ||
            after == 0x56E0 /* 因 */ || after == 0x4F8B /* 例 */ || after == 0x53CD /* 反 */ ||
            after == 0x75C7 /* 症 */ || after == 0x83CC /* 菌 */ || after == 0x539F /* 原 */ ||
            after == 0x623F /* 房 */ || after == 0x5386 /* 历 */ || after == 0x53CB /* 友 */ ||
            after == 0x79CD /* 种 */ || after == 0x5047 /* 假 */ || after == 0x9B54 /* 魔 */ ||
            after == 0x75DB /* 痛 */ || after == 0x6839 /* 根 */ || after == 0x51B5 /* 况 */ ||
            after == 0x5E8A /* 床 */ || after == 0x53F7 /* 号 */ || s_ends_generic(s, end)) {
            i = end;
            continue;
        }
        /* walk back from the suffix over name characters */
        size_t starts[S_SPAN_CP + 1], ns = 0, b = i;
        while (b > 0 && ns < S_SPAN_CP) {
            size_t pb;
            uint32_t cp = assay_textscan_prev(s, b, &pb);
            if (s_stop(cp)) break;
            b = pb;
            starts[ns++] = b;
        }
        if (ns == 0) {
            i = end;
            continue;
        }
        /* leftmost first */
        for (size_t k = 0; k < ns / 2; k++) {
            size_t tmp = starts[k];
            starts[k] = starts[ns - 1 - k];
            starts[ns - 1 - k] = tmp;
        }
        starts[ns] = i; /* the suffix alone, never tried on its own */
        out->n_mentions++;
        /* a made-up "XX病" is too close to ordinary words (看病, 战胜病魔) to flag:
         * a generic head needs three characters of name before it */
        if (hit->form && hit->kind == 'd' && ns < 3) {
            i = end;
            continue;
        }
        int known = s_any_known(terms, lex, hit->kind, s, starts, ns, end) ||
                    (hit->form && s_any_known(terms, lex, hit->kind, s, starts, ns, i));
        if (!known && !s_is_generic(s + starts[0], end - starts[0])) {
            if (out->n_unknown < ASSAY_HACK_MAX_UNKNOWN) {
                assay_hack_mention_t *m = &out->unknown[out->n_unknown];
                m->text = s + starts[0];
                m->len = (uint32_t)(end - starts[0]);
                m->kind = hit->kind;
            }
            out->n_unknown++;
        }
        i = end;
    }
}

/* ------------------------------------------------------------- check */

void assay_hack_check(const assay_terms_t *terms, const assay_hack_lexicon_t *lex,
                      const assay_hack_params_t *p, const char *question, size_t qlen,
                      const char *reasoning, size_t rlen, const char *answer, size_t alen,
                      assay_hack_result_t *out)
{
    memset(out, 0, sizeof *out);
    if (!reasoning) rlen = 0;
    if (!answer) alen = 0;
    if (!question) qlen = 0;
    /* content characters: what is left without space and punctuation */
    uint32_t scratch[1024];
    size_t rc = 0, i = 0;
    while (i < rlen) {
        size_t chunk = rlen - i > 2048 ? 2048 : rlen - i;
        /* never split a code point between chunks */
        while (chunk < rlen - i && ((unsigned char)reasoning[i + chunk] & 0xC0) == 0x80)
            chunk++;
        rc += assay_textscan_key(reasoning + i, chunk, scratch, 1024);
        i += chunk;
    }
    out->reasoning_chars = rc;
    size_t qc = 0;
    for (i = 0; i < qlen;) {
        uint32_t cp = assay_textscan_next(question, qlen, &i);
        qc += !(assay_textscan_is_space(cp) || assay_textscan_is_punct(cp));
    }
    double want = p->ratio * (double)qc;
    if (want < (double)p->min_chars) want = (double)p->min_chars;
    if (want > (double)p->max_chars) want = (double)p->max_chars;
    out->expected_chars = (size_t)want;
    if (rc == 0)
        out->flags |= ASSAY_HACK_NO_REASONING;
    else if (rc < out->expected_chars)
        out->flags |= ASSAY_HACK_SHORT_REASONING;

    s_repeats(p, reasoning, rlen, answer, alen, out);

    if (terms) {
        if (answer) s_unknown(terms, lex, answer, alen, out);
        if (p->check_reasoning && reasoning) s_unknown(terms, lex, reasoning, rlen, out);
        if (out->n_unknown > 0) out->flags |= ASSAY_HACK_UNKNOWN_ENTITY;
    }

    double sev = 0;
    if (out->flags & ASSAY_HACK_NO_REASONING) sev = 1.0;
    if ((out->flags & ASSAY_HACK_REPEATED) && sev < 0.7) sev = 0.7;
    if ((out->flags & ASSAY_HACK_SHORT_REASONING) && sev < 0.6) sev = 0.6;
    if ((out->flags & ASSAY_HACK_UNKNOWN_ENTITY) && sev < 0.5) sev = 0.5;
    out->score = 1.0 - sev;
}

json_t *assay_hack_flags_json(unsigned flags)
{
    json_t *a = json_array();
    if (flags & ASSAY_HACK_NO_REASONING) json_array_append_new(a, json_string("no_reasoning"));
    if (flags & ASSAY_HACK_SHORT_REASONING)
        json_array_append_new(a, json_string("short_reasoning"));
    if (flags & ASSAY_HACK_REPEATED) json_array_append_new(a, json_string("repeated"));
    if (flags & ASSAY_HACK_UNKNOWN_ENTITY) json_array_append_new(a, json_string("unknown_entity"));
    return a;
}

json_t *assay_hack_report(const assay_hack_result_t *r)
{
    json_t *unk = json_array();
    for (size_t i = 0; i < r->n_unknown && i < ASSAY_HACK_MAX_UNKNOWN; i++)
        json_array_append_new(unk, json_pack("{s:s%, s:s}", "text", r->unknown[i].text,
                                             (size_t)r->unknown[i].len, "kind",
                                             r->unknown[i].kind == 'd'   ? "disease"
                                             : r->unknown[i].kind == 'r' ? "drug"
                                                                         : "test"));
    json_t *rep = r->repeat_count >= 2 && r->repeat_text
                      ? json_pack("{s:s%, s:I}", "text", r->repeat_text, (size_t)r->repeat_len,
                                  "count", (json_int_t)r->repeat_count)
                      : json_null();
    json_t *loop = r->loop_copies >= 4
                       ? json_pack("{s:I, s:I}", "period", (json_int_t)r->loop_period, "copies",
                                   (json_int_t)r->loop_copies)
                       : json_null();
    return json_pack("{s:o, s:b, s:f, s:I, s:I, s:o, s:o, s:o, s:I}", "flags",
                     assay_hack_flags_json(r->flags), "hacked", r->flags != 0, "hack_score",
                     r->score, "reasoning_chars", (json_int_t)r->reasoning_chars, "expected_chars",
                     (json_int_t)r->expected_chars, "repeated", rep, "loop", loop,
                     "unknown_entities", unk, "mentions_checked", (json_int_t)r->n_mentions);
}
