/*  cot.c: see cot.h */
#include "worker/domain/cot.h"

#include "worker/domain/textscan.h"

#include <string.h>

typedef struct {
    const char *text;
    float weight;
    /* a cue that a negation right before it turns around (符合 in 不符合) */
    uint8_t negatable;
} s_cue_t;

static const s_cue_t s_restate[] = {{"题目", 2, 0},
                                    {"题干", 2.5f, 0},
                                    {"题中", 2, 0},
                                    {"本题", 1.5f, 0},
                                    {"这道题", 2, 0},
                                    {"问题问", 2.5f, 0},
                                    {"问的是", 2.5f, 0},
                                    {"题意", 2, 0},
                                    {"已知", 1.5f, 0},
                                    {"主诉", 1.5f, 0},
                                    {"患者", 0.5f, 0},
                                    {"病人", 0.5f, 0},
                                    {"岁", 0.5f, 0},
                                    {"现病史", 1.5f, 0},
                                    {"the question", 2, 0},
                                    {"we are given", 2, 0},
                                    {"given that", 1, 0},
                                    {"the patient", 0.5f, 0},
                                    {NULL, 0, 0}};
static const s_cue_t s_recall[] = {
    {"是指", 2, 0},      {"定义", 2, 0},    {"属于", 1, 1},
    {"通常", 1, 0},      {"一般", 1, 0},    {"常见", 1, 1},
    {"多见", 1, 0},      {"主要", 0.5f, 0}, {"特点", 1, 0},
    {"机制", 1.5f, 0},   {"表现为", 1, 0},  {"可见于", 1, 0},
    {"见于", 0.5f, 0},   {"指南", 1.5f, 0}, {"教材", 1.5f, 0},
    {"首选", 1, 0},      {"典型", 1, 0},    {"知识", 1.5f, 0},
    {"记得", 2, 0},      {"的作用", 1, 0},  {"病因", 0.5f, 0},
    {"原理", 1.5f, 0},   {"特征", 1, 0},    {"is defined", 2, 0},
    {"typically", 1, 0}, {"usually", 1, 0}, {"characterized", 1.5f, 0},
    {"recall", 2, 0},    {"known", 1, 0},   {"classic", 1, 0},
    {NULL, 0, 0}};
static const s_cue_t s_hypothesise[] = {
    {"可能", 1.5f, 1}, {"考虑", 1.5f, 1},     {"怀疑", 2, 0},       {"假设", 2, 0},
    {"如果", 1, 0},    {"假如", 1.5f, 0},     {"或许", 1.5f, 0},    {"倾向", 1.5f, 0},
    {"疑似", 2, 0},    {"初步诊断", 2, 0},    {"初步判断", 2, 0},   {"猜", 1.5f, 0},
    {"候选", 1.5f, 0}, {"maybe", 1.5f, 0},    {"might", 1, 0},      {"could be", 1.5f, 0},
    {"suspect", 2, 0}, {"possibly", 1.5f, 0}, {"suppose", 1.5f, 0}, {"perhaps", 1.5f, 0},
    {NULL, 0, 0}};
static const s_cue_t s_exclude[] = {
    {"排除", 2.5f, 1},           {"不符合", 2.5f, 0},   {"不支持", 2.5f, 0},    {"不是", 1, 0},
    {"错误", 1.5f, 0},           {"不正确", 2, 0},      {"不考虑", 3, 0},       {"除外", 2, 0},
    {"不太可能", 3, 0},          {"可能性小", 3, 0},    {"可能性不大", 3, 0},   {"不会", 1, 0},
    {"无关", 1.5f, 0},           {"错）", 2, 0},        {"错)", 2, 0},          {"项错", 2, 0},
    {"不选", 2.5f, 0},           {"rule out", 2.5f, 0}, {"ruled out", 2.5f, 0}, {"unlikely", 2, 0},
    {"not consistent", 2.5f, 0}, {"incorrect", 2, 0},   {"eliminate", 2.5f, 0}, {NULL, 0, 0}};
static const s_cue_t s_verify[] = {
    {"验证", 2.5f, 0},    {"核对", 2, 0},      {"确认", 1.5f, 1}, {"检查一下", 2, 0},
    {"符合", 1.5f, 1},    {"支持", 1, 1},      {"吻合", 2, 1},    {"一致", 1.5f, 1},
    {"对照", 1.5f, 0},    {"印证", 2, 0},      {"核实", 2, 0},    {"对）", 1.5f, 0},
    {"对)", 1.5f, 0},     {"check", 1.5f, 0},  {"confirm", 2, 0}, {"consistent with", 2, 0},
    {"matches", 1.5f, 0}, {"verify", 2.5f, 0}, {NULL, 0, 0}};
static const s_cue_t s_reflect[] = {{"等等", 2.5f, 0},
                                    {"不过", 1, 0},
                                    {"但是", 1, 0},
                                    {"然而", 1, 0},
                                    {"再想", 2.5f, 0},
                                    {"重新", 2, 0},
                                    {"回头", 2, 0},
                                    {"仔细想", 2, 0},
                                    {"再看", 1.5f, 0},
                                    {"再考虑", 2, 0},
                                    {"我之前", 2, 0},
                                    {"想错", 3, 0},
                                    {"不对，", 2, 0},
                                    {"嗯", 1.5f, 0},
                                    {"哦", 1, 0},
                                    {"反思", 2.5f, 0},
                                    {"漏掉", 2, 0},
                                    {"忽略了", 2, 0},
                                    {"wait", 2.5f, 0},
                                    {"hmm", 2, 0},
                                    {"actually", 1.5f, 0},
                                    {"reconsider", 2.5f, 0},
                                    {"second thought", 2.5f, 0},
                                    {"let me re", 2, 0},
                                    {"double-check", 1, 0},
                                    {NULL, 0, 0}};
static const s_cue_t s_summarise[] = {{"综上", 3, 0},
                                      {"总之", 3, 0},
                                      {"因此", 1.5f, 0},
                                      {"所以", 1.5f, 0},
                                      {"故", 1, 0},
                                      {"答案", 2.5f, 0},
                                      {"结论", 2.5f, 0},
                                      {"最终", 2, 0},
                                      {"故选", 3, 0},
                                      {"应选", 3, 0},
                                      {"选择", 0.5f, 0},
                                      {"总结", 2.5f, 0},
                                      {"therefore", 1.5f, 0},
                                      {"in summary", 3, 0},
                                      {"answer", 2, 0},
                                      {"thus", 1, 0},
                                      {"in conclusion", 3, 0},
                                      {NULL, 0, 0}};

static const s_cue_t *const s_cues[ASSAY_COT_ACTION_COUNT] = {
    s_restate, s_recall, s_hypothesise, s_exclude, s_verify, s_reflect, s_summarise};

static const char *const s_names[ASSAY_COT_ACTION_COUNT] = {
    "restate", "recall", "hypothesise", "exclude", "verify", "reflect", "summarise"};

const char *assay_cot_action_name(int action)
{
    return action >= 0 && action < ASSAY_COT_ACTION_COUNT ? s_names[action] : "unknown";
}

static unsigned char s_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* next occurrence of cue in s[from..len), ASCII case-insensitive; -1 when none */
static long s_find_ci(const char *s, size_t len, size_t from, const char *cue, size_t clen)
{
    if (clen == 0 || clen > len) return -1;
    for (size_t i = from; i + clen <= len; i++) {
        if (s_lower((unsigned char)s[i]) != (unsigned char)cue[0]) continue;
        size_t k = 1;
        while (k < clen && s_lower((unsigned char)s[i + k]) == (unsigned char)cue[k])
            k++;
        if (k == clen) return (long)i;
    }
    return -1;
}

/* a negation immediately before byte offset at: 不 未 非 无 没 */
static int s_negated(const char *s, size_t at)
{
    size_t b;
    uint32_t cp = assay_textscan_prev(s, at, &b);
    return cp == 0x4E0D || cp == 0x672A || cp == 0x975E || cp == 0x65E0 || cp == 0x6CA1;
}

/* summed weight of the cues of one action found in s */
static float s_score(const char *s, size_t len, const s_cue_t *cues)
{
    float w = 0;
    for (const s_cue_t *c = cues; c->text; c++) {
        size_t clen = strlen(c->text);
        long at = s_find_ci(s, len, 0, c->text, clen);
        while (at >= 0) {
            if (!c->negatable || !s_negated(s, (size_t)at)) {
                w += c->weight;
                break; /* a cue counts once per step */
            }
            at = s_find_ci(s, len, (size_t)at + clen, c->text, clen);
        }
    }
    return w;
}

static assay_cot_action_t s_pick(const float *w, float *confidence)
{
    float total = 0, best = 0;
    int arg = -1;
    for (int a = 0; a < ASSAY_COT_ACTION_COUNT; a++) {
        total += w[a];
        /* ties go to the later action in the enum: exclude beats hypothesise,
         * summarise beats everything, which matches how these cues co-occur */
        if (w[a] > 0 && w[a] >= best) {
            best = w[a];
            arg = a;
        }
    }
    if (arg < 0) {
        *confidence = 0;
        return ASSAY_COT_RECALL;
    }
    *confidence = best / total;
    return (assay_cot_action_t)arg;
}

assay_cot_action_t assay_cot_classify(const char *step, size_t len, float *confidence)
{
    float w[ASSAY_COT_ACTION_COUNT];
    for (int a = 0; a < ASSAY_COT_ACTION_COUNT; a++)
        w[a] = s_score(step, len, s_cues[a]);
    float conf;
    assay_cot_action_t act = s_pick(w, &conf);
    if (confidence) *confidence = conf > 0 ? conf : 0.5f;
    return act;
}

#define S_KEY_MAX 64
#define S_QKEY_MAX 2048

/* share of the step's bigrams that occur in the question */
static double s_containment(const uint32_t *k, size_t n, const uint32_t *q, size_t nq)
{
    if (n < 2 || nq < 2) return 0;
    size_t hit = 0;
    for (size_t i = 0; i + 1 < n; i++)
        for (size_t j = 0; j + 1 < nq; j++)
            if (k[i] == q[j] && k[i + 1] == q[j + 1]) {
                hit++;
                break;
            }
    return (double)hit / (double)(n - 1);
}

size_t assay_cot_label(const char *text, size_t len, const char *question, size_t qlen,
                       assay_cot_step_t *steps, size_t cap)
{
    if (!text || len == 0) return 0;
    /* sentences first, then fragments of under four content characters (list
     * numbers, "嗯。") are merged into the step before them */
    size_t total = 0, n = 0;
    size_t pos = 0;
    assay_textscan_span_t span;
    while (assay_textscan_next_sentence(text, len, &pos, &span)) {
        size_t off = span.off, slen = span.len;
        uint32_t key[8];
        size_t klen = assay_textscan_key(text + off, slen, key, 8);
        if (klen < 4 && total > 0) {
            if (n > 0 && total == n) steps[n - 1].len = (uint32_t)(off + slen - steps[n - 1].off);
            continue;
        }
        if (klen == 0) continue;
        if (n < cap) {
            steps[n].off = (uint32_t)off;
            steps[n].len = (uint32_t)slen;
            n++;
        }
        total++;
    }

    uint32_t qkey[S_QKEY_MAX];
    size_t nq = question ? assay_textscan_key(question, qlen, qkey, S_QKEY_MAX) : 0;
    for (size_t s = 0; s < n; s++) {
        const char *p = text + steps[s].off;
        size_t plen = steps[s].len;
        float w[ASSAY_COT_ACTION_COUNT];
        for (int a = 0; a < ASSAY_COT_ACTION_COUNT; a++)
            w[a] = s_score(p, plen, s_cues[a]);
        if (nq > 0) {
            uint32_t k[S_KEY_MAX];
            size_t kn = assay_textscan_key(p, plen, k, S_KEY_MAX);
            double c = s_containment(k, kn, qkey, nq);
            if (c >= 0.6) w[ASSAY_COT_RESTATE] += 3.0f * (float)c;
        }
        /* position: a cue-less opening restates, a cue-less ending concludes */
        if (s == 0 && total > 1) w[ASSAY_COT_RESTATE] += 0.75f;
        if (s + 1 == total && total > 1) w[ASSAY_COT_SUMMARISE] += 1.0f;
        float conf;
        steps[s].action = (uint8_t)s_pick(w, &conf);
        steps[s].confidence = conf > 0 ? conf : 0.5f;
    }
    return total;
}

void assay_cot_stats(const assay_cot_step_t *steps, size_t n, assay_cot_stats_t *out)
{
    memset(out, 0, sizeof *out);
    out->steps = n;
    for (size_t i = 0; i < n; i++)
        if (steps[i].action < ASSAY_COT_ACTION_COUNT) out->counts[steps[i].action]++;
    for (int a = 0; a < ASSAY_COT_ACTION_COUNT; a++)
        if (out->counts[a]) out->distinct_actions++;
    out->hypotheses = out->counts[ASSAY_COT_HYPOTHESISE] + out->counts[ASSAY_COT_EXCLUDE];
    out->reflections = out->counts[ASSAY_COT_REFLECT];
    double st = (double)(n < 24 ? n : 24) / 24.0;
    double di = (double)out->distinct_actions / (double)ASSAY_COT_ACTION_COUNT;
    double hy = (double)(out->hypotheses < 8 ? out->hypotheses : 8) / 8.0;
    out->difficulty = 0.4 * st + 0.3 * di + 0.3 * hy;
}
