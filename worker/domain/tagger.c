/*  tagger.c: see tagger.h */
#include "worker/domain/tagger.h"

#include "worker/domain/textscan.h"

#include <string.h>

typedef struct {
    const char *text;
    float weight;
} s_cue_t;

/* ------------------------------------------------------------- intent */

static const char *const s_intents[ASSAY_INTENT_COUNT] = {
    "医疗费用", "就医建议", "指标解读", "功效作用", "后果表述", "病因分析",
    "注意事项", "治疗方案", "疾病表述", "病情诊断", "用药",     "其他"};

#define S_INTENT_MEDICATION 10
#define S_INTENT_OTHER 11

/* Weights were set by hand while reading KUAKE-QIC questions (so accuracy measured
 * on that set is in-sample): specific phrases (多少钱, 挂什么科, 是什么原因) weigh
 * 2.5-3.5, generic words (如何, 药, 岁) about 1. */
static const s_cue_t s_intent_cues[S_INTENT_MEDICATION][40] = {
    /* 医疗费用 */
    {{"多少钱", 3},
     {"费用", 3},
     {"价格", 3},
     {"价钱", 3},
     {"贵不贵", 3},
     {"花多少", 3},
     {"收费", 3},
     {"报销", 2},
     {"医保", 2},
     {"钱", 1.5f},
     {NULL, 0}},
    /* 就医建议 */
    {{"哪家医院", 3}, {"哪个医院", 3},  {"什么医院", 3}, {"医院好", 3},    {"医院", 1.5f},
     {"哪里治", 3},   {"去哪", 2.5f},   {"哪里看", 3},   {"哪里做", 2.5f}, {"哪里有", 2},
     {"挂什么科", 3}, {"挂哪", 3},      {"看什么科", 3}, {"哪个科", 3},    {"专科", 2},
     {"挂号", 2.5f},  {"预约", 2},      {"哪里", 1.2f},  {"哪家", 2.5f},   {"就诊", 1.5f},
     {"专家", 1.5f},  {"看医生", 1.5f}, {"住院", 1},     {NULL, 0}},
    /* 指标解读 */
    {{"偏高", 2.5f},  {"偏低", 2.5f},     {"高了", 1.5f}, {"低了", 1.5f}, {"阳性", 2},
     {"阴性", 2},     {"什么意思", 2.5f}, {"数值", 2},    {"指标", 2.5f}, {"化验单", 3},
     {"报告", 2},     {"结果", 1.5f},     {"mmol", 2.5f}, {"参考值", 3},  {"正常值", 3},
     {"正常范围", 3}, {"升高", 1.5f},     {"降低", 1},    {"超标", 2},    {"弱阳", 2.5f},
     {"回声", 2},     {"值", 1},          {"+", 1.5f},    {"↑", 2},       {NULL, 0}},
    /* 功效作用 */
    {{"作用", 2.5f},
     {"功效", 3},
     {"效果", 2},
     {"副作用", 2.5f},
     {"好处", 3},
     {"有用吗", 3},
     {"有效吗", 2.5f},
     {"有什么用", 3},
     {"管用", 2.5f},
     {"有没有用", 3},
     {"用处", 3},
     {"疗效", 2},
     {"营养", 1.5f},
     {"益处", 3},
     {"作用是", 3},
     {"能治", 1},
     {NULL, 0}},
    /* 后果表述 */
    {{"危害", 3},    {"后果", 3},   {"影响", 2},      {"会不会", 1.5f},   {"会导致", 2},
     {"导致", 0.8f}, {"严重吗", 2}, {"危险", 2.5f},   {"有害", 3},        {"不良反应", 2.5f},
     {"伤害", 2},    {"并发症", 2}, {"会怎样", 2.5f}, {"会怎么样", 2.5f}, {"死", 1.5f},
     {"要紧", 2},    {"癌变", 2},   {"恶化", 1},      {"风险", 2},        {NULL, 0}},
    /* 病因分析 */
    {{"原因", 2},
     {"为什么", 2.5f},
     {"为啥", 2.5f},
     {"怎么引起", 3},
     {"引起的", 2.5f},
     {"引起", 1.5f},
     {"造成", 2.5f},
     {"病因", 3},
     {"怎么会", 2},
     {"怎么来的", 3},
     {"诱因", 3},
     {"如何产生", 3},
     {"怎么得", 2.5f},
     {"为何", 2.5f},
     {"导致", 1.5f},
     {NULL, 0}},
    /* 注意事项 */
    {{"注意", 3},        {"能吃", 2.5f},     {"可以吃", 2.5f}, {"能不能吃", 3},  {"饮食", 2.5f},
     {"吃什么好", 2.5f}, {"忌口", 3},        {"禁忌", 3},      {"能喝", 2.5f},   {"可以喝", 2.5f},
     {"护理", 2.5f},     {"预防", 2.5f},     {"能不能", 1.5f}, {"可以做", 1.5f}, {"能做", 1.5f},
     {"可以吗", 1.5f},   {"要紧吗", 1},      {"保养", 2.5f},   {"调理", 1.5f},   {"食疗", 2},
     {"食物", 2},        {"吃什么", 1.5f},   {"喝什么", 1.5f}, {"锻炼", 1.5f},   {"运动", 1.2f},
     {"能否", 1.2f},     {"应该怎么", 1.2f}, {"忌", 2},        {"需要", 0.8f},   {NULL, 0}},
    /* 治疗方案 */
    {{"怎么治", 3},   {"如何治", 3},   {"怎样治", 3},  {"治疗", 2.5f},  {"怎么办", 2.5f},
     {"吃什么药", 3}, {"用什么药", 3}, {"方法", 2},    {"如何消除", 3}, {"怎么去", 2.5f},
     {"去除", 2},     {"偏方", 3},     {"手术", 1.5f}, {"治好", 1.5f},  {"怎么调", 2},
     {"如何", 1},     {"怎么", 1},     {"治", 1.5f},   {"药", 1.2f},    {"缓解", 2},
     {"疗法", 3},     {"方案", 2.5f},  {"办法", 2.5f}, {"根治", 3},     {"消除", 2},
     {"怎样", 1},     {"祛", 2},       {"消", 0.8f},   {"改善", 1.5f},  {NULL, 0}},
    /* 疾病表述 */
    {{"症状", 3},        {"表现", 2.5f},   {"是什么病", 2.5f}, {"是什么", 1.2f},
     {"能治好吗", 2.5f}, {"能好吗", 2.5f}, {"能治愈", 2.5f},   {"传染", 2.5f},
     {"遗传", 2.5f},     {"早期", 2},      {"一种什么", 3},    {"是怎么回事", 1.2f},
     {"区别", 2.5f},     {"严重吗", 1},    {"晚期", 1.5f},     {"会好", 2},
     {"能好", 2},        {"恶变", 2},      {"能自愈", 3},      {"能治好", 2.5f},
     {"是病吗", 3},      {"什么病", 1.5f}, {"属于", 2},        {"征兆", 2.5f},
     {"前兆", 2.5f},     {"有哪些", 0.8f}, {NULL, 0}},
    /* 病情诊断 */
    {{"怎么了", 3},      {"怎么回事", 2.5f}, {"是不是", 2}, {"是否", 1.2f},
     {"会不会是", 3},    {"什么病", 2.5f},   {"正常吗", 2}, {"是什么原因", 3.5f},
     {"什么原因", 2.5f}, {"咋了", 3},        {"正常", 1},   {"什么情况", 2.5f},
     {"咋回事", 3},      {"得了什么", 3},    {"我这是", 3}, {"了怎么", 1},
     {"疼", 1},          {"痛", 1},          {"痒", 1},     {"肿", 0.8f},
     {"出血", 0.8f},     {"发烧", 0.8f},     {"怀孕", 1},   {"周", 0.5f},
     {"宝宝", 0.8f},     {"岁", 0.5f},       {NULL, 0}},
};

/* how a drug is taken; counts only when the question is about a drug */
static const s_cue_t s_medication_cues[] = {
    {"怎么吃", 3},    {"怎么服用", 3.5f}, {"如何服用", 3.5f}, {"用法", 3.5f}, {"用量", 3.5f},
    {"剂量", 3.5f},   {"吃多少", 3},      {"一天几次", 3.5f}, {"几片", 3},    {"几粒", 3},
    {"一起吃", 3.5f}, {"同服", 3.5f},     {"饭前", 2.5f},     {"饭后", 2.5f}, {"停药", 3},
    {"换药", 2},      {"能吃什么药", 3},  {"吃什么药", 1.5f}, {"服药", 2.5f}, {"吃药", 1.5f},
    {NULL, 0}};
static const char *const s_drug_context[] = {"药",     "片",   "胶囊", "颗粒", "丸", "口服液",
                                             "注射液", "冲剂", "霉素", "西林", NULL};

const char *assay_tagger_intent_name(int intent)
{
    return intent >= 0 && intent < ASSAY_INTENT_COUNT ? s_intents[intent] : "其他";
}

static unsigned char s_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* case-insensitive (ASCII) substring test */
static int s_has(const char *s, size_t len, const char *cue)
{
    size_t cl = strlen(cue);
    if (cl == 0 || cl > len) return 0;
    for (size_t i = 0; i + cl <= len; i++) {
        size_t k = 0;
        while (k < cl && s_lower((unsigned char)s[i + k]) == (unsigned char)cue[k])
            k++;
        if (k == cl) return 1;
    }
    return 0;
}

static float s_sum(const char *s, size_t len, const s_cue_t *cues)
{
    float w = 0;
    for (; cues->text; cues++)
        if (s_has(s, len, cues->text)) w += cues->weight;
    return w;
}

int assay_tagger_intent(const char *q, size_t len, double *score)
{
    int best = S_INTENT_OTHER;
    float bw = 0;
    for (int i = 0; i < S_INTENT_MEDICATION; i++) {
        float w = s_sum(q, len, s_intent_cues[i]);
        if (w > bw) {
            bw = w;
            best = i;
        }
    }
    if (assay_textscan_count_any(q, len, s_drug_context) > 0) {
        float w = s_sum(q, len, s_medication_cues);
        if (w > bw) {
            bw = w;
            best = S_INTENT_MEDICATION;
        }
    }
    /* one weak word (如何, 怎么) is not an intent */
    if (bw <= 1.0f) best = S_INTENT_OTHER;
    if (score) *score = best == S_INTENT_OTHER ? 0 : bw;
    return best;
}

/* ----------------------------------------------------------- category */

static const char *const s_categories[ASSAY_CATEGORY_COUNT] = {"基础知识", "疾病诊断", "手术",
                                                               "药物", "检验检查"};

static const s_cue_t s_category_cues[ASSAY_CATEGORY_COUNT][40] = {
    /* 基础知识: mechanisms, anatomy, physiology (also the default) */
    {{"机制", 2}, {"原理", 2},    {"解剖", 2.5f},   {"生理", 2}, {"结构", 1.5f}, {"功能", 1},
     {"定义", 2}, {"属于", 1},    {"组成", 1.5f},   {"特点", 1}, {"分泌", 1.5f}, {"合成", 1.5f},
     {"代谢", 1}, {"基因", 1.5f}, {"细胞", 1},      {"受体", 1}, {"神经", 0.5f}, {"流行病学", 2},
     {"统计", 2}, {"概率", 2},    {"发病率", 1.5f}, {NULL, 0}},
    /* 疾病诊断 */
    {{"诊断", 3},
     {"最可能", 2.5f},
     {"考虑为", 2.5f},
     {"应考虑", 2.5f},
     {"鉴别", 2.5f},
     {"可能是", 1.5f},
     {"临床表现", 1.5f},
     {"症状", 1},
     {"体征", 1.5f},
     {"病情", 1},
     {"主诉", 2},
     {"入院", 1.5f},
     {"现病史", 2},
     {"岁", 1},
     {"患者", 1},
     {"病人", 1},
     {"什么病", 2.5f},
     {"怎么回事", 1.5f},
     {NULL, 0}},
    /* 手术 */
    {{"手术", 3},
     {"术后", 3},
     {"术前", 3},
     {"术式", 3},
     {"切除", 2.5f},
     {"吻合", 2.5f},
     {"麻醉", 2.5f},
     {"切口", 2.5f},
     {"缝合", 2.5f},
     {"引流", 2},
     {"修补", 2.5f},
     {"置换", 2.5f},
     {"移植", 2},
     {"腔镜", 2.5f},
     {"开刀", 3},
     {"介入", 2},
     {"支架", 2},
     {NULL, 0}},
    /* 药物 */
    {{"药物", 3},   {"用药", 3},        {"药", 1.5f},     {"剂量", 3}, {"首选", 2},
     {"禁忌", 2},   {"不良反应", 2.5f}, {"副作用", 2.5f}, {"毒性", 2}, {"抗生素", 3},
     {"mg", 2},     {"注射", 1.5f},     {"服用", 2},      {"口服", 2}, {"拮抗剂", 3},
     {"抑制剂", 3}, {"激动剂", 3},      {"霉素", 3},      {"西林", 3}, {"沙星", 3},
     {"他汀", 3},   {"胶囊", 2.5f},     {"片", 1},        {"疫苗", 2}, {"配伍", 3},
     {"药理", 3},   {"半衰期", 3},      {NULL, 0}},
    /* 检验检查 */
    {{"检查", 2.5f},   {"化验", 3},    {"检验", 3},      {"指标", 2.5f},   {"阳性", 2},
     {"阴性", 2},      {"ct", 2.5f},   {"mri", 2.5f},    {"磁共振", 2.5f}, {"b超", 2.5f},
     {"超声", 2.5f},   {"x线", 2.5f},  {"心电图", 2.5f}, {"血常规", 3},    {"尿常规", 3},
     {"实验室", 2.5f}, {"活检", 2.5f}, {"穿刺", 2},      {"造影", 2.5f},   {"内镜", 2},
     {"胃镜", 2.5f},   {"肠镜", 2.5f}, {"试验", 2},      {"测定", 2.5f},   {"参考值", 3},
     {"正常值", 3},    {"偏高", 2},    {"偏低", 2},      {"升高", 1},      {"降低", 1},
     {"报告", 1.5f},   {NULL, 0}}};

const char *assay_tagger_category_name(int category)
{
    return category >= 0 && category < ASSAY_CATEGORY_COUNT ? s_categories[category] : "基础知识";
}

int assay_tagger_category(const char *text, size_t len, const size_t *type_counts)
{
    float w[ASSAY_CATEGORY_COUNT];
    for (int c = 0; c < ASSAY_CATEGORY_COUNT; c++)
        w[c] = s_sum(text, len, s_category_cues[c]);
    if (type_counts) {
        /* each entity adds a little evidence for the category of its type */
        w[1] += 0.5f * (float)(type_counts[ASSAY_ENT_DISEASE] + type_counts[ASSAY_ENT_SYMPTOM]);
        w[2] += 0.75f * (float)type_counts[ASSAY_ENT_PROCEDURE];
        w[3] += 0.75f * (float)type_counts[ASSAY_ENT_DRUG];
        w[4] += 0.75f * (float)type_counts[ASSAY_ENT_TEST];
    }
    int best = 0;
    float bw = 2.0f; /* basic knowledge unless another category has clear evidence */
    for (int c = 1; c < ASSAY_CATEGORY_COUNT; c++)
        if (w[c] > bw) {
            bw = w[c];
            best = c;
        }
    return best;
}

/* ----------------------------------------------------------- entities */

static const char *const s_type_names[ASSAY_ENT_TYPE_COUNT] = {"disease",   "symptom", "drug",
                                                               "procedure", "test",    "body_part"};

const char *assay_tagger_type_name(int type)
{
    return type >= 0 && type < ASSAY_ENT_TYPE_COUNT ? s_type_names[type] : "unknown";
}

int assay_tagger_type_of_kg(const char *t)
{
    if (!t) return -1;
    if (strcmp(t, "疾病") == 0) return ASSAY_ENT_DISEASE;
    if (strcmp(t, "症状") == 0) return ASSAY_ENT_SYMPTOM;
    if (strcmp(t, "药物") == 0) return ASSAY_ENT_DRUG;
    if (strcmp(t, "检查") == 0) return ASSAY_ENT_TEST;
    if (strcmp(t, "部位") == 0) return ASSAY_ENT_BODY_PART;
    if (strcmp(t, "手术治疗") == 0 || strcmp(t, "治疗") == 0 || strcmp(t, "其他治疗") == 0)
        return ASSAY_ENT_PROCEDURE;
    return -1;
}

#define S_ENT_MAX_CP 16 /* longest mention tried, in code points */

/* the ICD concept named name by a standard name or a curated alias; the
 * physician-written mentions of CHIP-CDN are aliases for linking, but as
 * dictionary words they are noise ("未见异常") */
static assay_term_id_t s_concept(const assay_terms_t *terms, const char *name)
{
    assay_name_hit_t hits[8];
    size_t n = assay_terms_find_name(terms, name, ASSAY_SYS_ANY, hits, 8);
    if (n > 8) n = 8;
    for (size_t i = 0; i < n; i++) {
        if (hits[i].alias == UINT32_MAX) return hits[i].concept;
        assay_alias_t a;
        if (assay_terms_alias(terms, hits[i].concept, hits[i].alias, &a) == 0 &&
            strcmp(a.source, "chip_cdn") != 0)
        return hits[i].concept;
    }
    return ASSAY_TERM_NONE;
}

/* the entity named exactly s (len bytes): KG node first (it carries a type),
 * else an ICD concept (a disease) */
static int s_entity(const assay_terms_t *terms, const char *s, size_t len, assay_tagger_entity_t *e)
{
    char name[S_ENT_MAX_CP * 4 + 1];
    if (len >= sizeof name) return 0;
    memcpy(name, s, len);
    name[len] = '\0';
    assay_term_id_t nodes[8];
    size_t n = assay_terms_kg_find(terms, name, NULL, nodes, 8);
    if (n > 8) n = 8;
    /* a name may carry several types (咳嗽 is a symptom, and the name of a remedy
     * somewhere): the node with the most edges is the name's main sense, and a
     * node without any edge is an extraction fragment, not an entity */
    int best = -1;
    size_t best_deg = 0;
    for (size_t i = 0; i < n; i++) {
        int t = assay_tagger_type_of_kg(assay_terms_kg_type(terms, nodes[i]));
        if (t < 0) continue;
        size_t deg = assay_terms_kg_degree(terms, nodes[i], NULL, ASSAY_KG_BOTH);
        if (deg > best_deg) {
            best_deg = deg;
            best = (int)i;
        }
    }
    /* a node with a single edge is usually an extraction fragment (大小, 卧位) */
    if (best >= 0 && best_deg < 2) best = -1;
    assay_term_id_t c = s_concept(terms, name);
    /* chapter Z (未见异常, 个人史) names circumstances, not entities */
    if (best < 0 && c != ASSAY_TERM_NONE && assay_terms_code(terms, c)[0] == 'Z') return 0;
    if (best < 0 && c == ASSAY_TERM_NONE) return 0;
    e->type = best >= 0 ? (uint8_t)assay_tagger_type_of_kg(assay_terms_kg_type(terms, nodes[best]))
                        : ASSAY_ENT_DISEASE;
    /* ICD chapter R holds symptoms and signs (呕吐, 发热), not diseases */
    if (e->type == ASSAY_ENT_DISEASE && c != ASSAY_TERM_NONE &&
        assay_terms_code(terms, c)[0] == 'R')
        e->type = ASSAY_ENT_SYMPTOM;
    e->node = best >= 0 ? nodes[best] : ASSAY_TERM_NONE;
    e->concept = e->type == ASSAY_ENT_DISEASE || e->type == ASSAY_ENT_SYMPTOM ? c : ASSAY_TERM_NONE;
    return 1;
}

/* a mention worth a lookup: Chinese, or a Latin abbreviation with a capital
 * letter standing as a word (WBC, CT; not "mm" or the "ca" of "cancer") */
static int s_plausible(const char *text, size_t len, size_t start, size_t end)
{
    int han = 0, upper = 0;
    for (size_t i = start; i < end;) {
        uint32_t cp = assay_textscan_next(text, end, &i);
        han |= assay_textscan_is_han(cp);
        upper |= (cp >= 'A' && cp <= 'Z') || (cp >= 0xFF21 && cp <= 0xFF3A);
    }
    if (han) return 1;
    if (!upper) return 0;
    size_t b;
    uint32_t before = assay_textscan_prev(text, start, &b);
    size_t j = end;
    uint32_t after = end < len ? assay_textscan_next(text, len, &j) : 0;
    int word_before = (before | 0x20) >= 'a' && (before | 0x20) <= 'z';
    int word_after = (after | 0x20) >= 'a' && (after | 0x20) <= 'z';
    return !word_before && !word_after;
}

size_t assay_tagger_entities(const assay_terms_t *terms, const char *text, size_t len,
                             assay_tagger_entity_t *out, size_t max)
{
    size_t n = 0, i = 0;
    if (!terms || !text) return 0;
    while (i < len && n < max) {
        /* ends of the candidate mentions starting at i, by code point count */
        size_t ends[S_ENT_MAX_CP + 1];
        size_t ne = 0, j = i;
        uint32_t first = 0;
        while (j < len && ne < S_ENT_MAX_CP) {
            uint32_t cp = assay_textscan_next(text, len, &j);
            if (ne == 0) first = cp;
            if (assay_textscan_is_space(cp) || (assay_textscan_is_punct(cp) && cp != '-')) break;
            ends[ne++] = j;
        }
        int found = 0;
        if (!assay_textscan_is_punct(first) && !assay_textscan_is_space(first))
            for (size_t k = ne; k >= 2; k--) {
                assay_tagger_entity_t e;
                if (!s_plausible(text, len, i, ends[k - 1])) continue;
                if (s_entity(terms, text + i, ends[k - 1] - i, &e)) {
                    e.off = (uint32_t)i;
                    e.len = (uint32_t)(ends[k - 1] - i);
                    out[n++] = e;
                    i = ends[k - 1];
                    found = 1;
                    break;
                }
            }
        if (!found) assay_textscan_next(text, len, &i);
    }
    return n;
}

/* --------------------------------------------------------- attributes */

static int s_digit(uint32_t cp)
{
    return (cp >= '0' && cp <= '9') || (cp >= 0xFF10 && cp <= 0xFF19);
}

/* a number followed by one of units; the first match as a string, or NULL */
static json_t *s_number_unit(const char *s, size_t len, const char *const *units)
{
    size_t i = 0;
    while (i < len) {
        size_t start = i;
        uint32_t cp = assay_textscan_next(s, len, &i);
        if (!s_digit(cp)) continue;
        size_t j = i;
        while (j < len) {
            size_t t = j;
            uint32_t c2 = assay_textscan_next(s, len, &t);
            if (!s_digit(c2) && c2 != '.' && c2 != 0x4E2A /* 个 */ && c2 != 0x591A /* 多 */ &&
                c2 != 0x534A /* 半 */)
                break;
            j = t;
        }
        for (const char *const *u = units; *u; u++) {
            size_t ul = strlen(*u);
            if (j + ul <= len && memcmp(s + j, *u, ul) == 0)
                return json_stringn(s + start, j + ul - start);
        }
        i = j;
    }
    return NULL;
}

static const char *s_first_of(const char *s, size_t len, const char *const *words)
{
    const char *best = NULL, *at = NULL;
    for (const char *const *w = words; *w; w++) {
        const char *p = assay_textscan_find(s, len, *w, strlen(*w));
        if (p && (!at || p < at)) {
            at = p;
            best = *w;
        }
    }
    return best;
}

json_t *assay_tagger_attributes(const char *text, size_t len)
{
    json_t *o = json_object();
    static const char *const age_units[] = {"岁", "周岁", "个月大", "月龄", NULL};
    static const char *const dur_units[] = {"小时", "天",   "日", "周", "个月", "月",
                                            "年",   "分钟", "h",  "d",  NULL};
    json_t *v = s_number_unit(text, len, age_units);
    if (v) json_object_set_new(o, "age", v);
    /* a duration is a number + unit not followed by 岁 (already the age) */
    v = s_number_unit(text, len, dur_units);
    if (v) json_object_set_new(o, "duration", v);
    static const char *const male[] = {"男性", "男，", "男,", "男孩", "男子", "男患", "先生", NULL};
    static const char *const female[] = {"女性", "女，", "女,",  "女孩", "女子", "女患",
                                         "女士", "孕",   "月经", "产妇", NULL};
    const char *m = s_first_of(text, len, male), *f = s_first_of(text, len, female);
    if (m || f) {
        const char *pm = m ? assay_textscan_find(text, len, m, strlen(m)) : NULL;
        const char *pf = f ? assay_textscan_find(text, len, f, strlen(f)) : NULL;
        json_object_set_new(o, "sex", json_string(pm && (!pf || pm < pf) ? "男" : "女"));
    }
    /* a side only next to a body word: 左右 ("about") is not a side */
    static const char *const side[] = {
        "双侧", "双下肢", "双上肢", "双眼", "双肺", "左侧", "右侧", "左下", "右下",
        "左上", "右上",   "左眼",   "右眼", "左耳", "右耳", "左手", "右手", "左腿",
        "右腿", "左膝",   "右膝",   "左肺", "右肺", "左乳", "右乳", "左肾", "右肾",
        "左足", "右足",   "左髋",   "右髋", "左肩", "右肩", "左胸", "右胸", NULL};
    const char *sd = s_first_of(text, len, side);
    if (sd)
        json_object_set_new(o, "laterality",
                            json_string(strncmp(sd, "双", 3) == 0   ? "双侧"
                                        : strncmp(sd, "左", 3) == 0 ? "左"
                                                                    : "右"));
    static const char *const sev[] = {"重度", "中度", "轻度", "剧烈", "严重", "轻微", NULL};
    const char *sv = s_first_of(text, len, sev);
    if (sv) json_object_set_new(o, "severity", json_string(sv));
    static const char *const onset[] = {"急性", "慢性", "突发",   "突然",
                                        "反复", "复发", "亚急性", NULL};
    const char *on = s_first_of(text, len, onset);
    if (on) json_object_set_new(o, "onset", json_string(on));
    return o;
}

/* ---------------------------------------------------------------- tag */

#define S_TAG_MAX_ENT 128

json_t *assay_tagger_tag(const assay_terms_t *terms, const char *text, size_t len)
{
    assay_tagger_entity_t ents[S_TAG_MAX_ENT];
    size_t n = terms ? assay_tagger_entities(terms, text, len, ents, S_TAG_MAX_ENT) : 0;
    size_t counts[ASSAY_ENT_TYPE_COUNT] = {0};
    json_t *by_type = json_object();
    for (int t = 0; t < ASSAY_ENT_TYPE_COUNT; t++)
        json_object_set_new(by_type, s_type_names[t], json_array());
    json_t *codes = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *arr = json_object_get(by_type, s_type_names[ents[i].type]);
        /* the same mention twice is one tag */
        int dup = 0;
        size_t k;
        json_t *it;
        json_array_foreach(arr, k, it)
        {
            const char *sv = json_string_value(it);
            dup |= strlen(sv) == ents[i].len && memcmp(sv, text + ents[i].off, ents[i].len) == 0;
        }
        if (dup) continue;
        counts[ents[i].type]++;
        json_array_append_new(arr, json_stringn(text + ents[i].off, ents[i].len));
        if (ents[i].concept != ASSAY_TERM_NONE)
            json_array_append_new(codes, json_string(assay_terms_code(terms, ents[i].concept)));
    }
    double score;
    int intent = assay_tagger_intent(text, len, &score);
    int cat = assay_tagger_category(text, len, counts);
    return json_pack("{s:o, s:o, s:o, s:s, s:f, s:s}", "entities", by_type, "entity_codes", codes,
                     "attributes", assay_tagger_attributes(text, len), "intent", s_intents[intent],
                     "intent_score", score, "category", s_categories[cat]);
}
