/*  sim_answer.c: deterministic answers for assay-simllm (rules in sim_answer.h). */
#include "ops/simllm/sim_answer.h"

#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const sim_diseases[SIM_NDISEASES] = {
    "急性阑尾炎",   "社区获得性肺炎",   "2型糖尿病",    "原发性高血压", "急性心肌梗死",
    "缺血性脑卒中", "慢性阻塞性肺疾病", "支气管哮喘",   "急性胆囊炎",   "消化性溃疡",
    "缺铁性贫血",   "甲状腺功能亢进症", "类风湿关节炎", "急性胰腺炎",   "肝硬化",
    "慢性肾脏病",   "急性肾盂肾炎",     "腹股沟斜疝",   "粘连性肠梗阻", "心房颤动",
};

/* names that look like diseases and are in no terminology */
static const char *const s_fake_diseases[] = {
    "克氏-莫兰综合征", "肺泡晶体沉积症Ⅳ型", "迟发性胰岛钙化综合征",
    "双相肝门扭转症",  "游走性心包结晶病",
};

/* ---- hashing ------------------------------------------------------------------------ */

/* H(s): first 4 bytes of SHA-256(s) as a big-endian integer / 2^32 */
static double s_h(const char *s)
{
    char hex[65];
    assay_sha256_hex(s, strlen(s), hex);
    char first[9];
    memcpy(first, hex, 8);
    first[8] = '\0';
    return (double)strtoul(first, NULL, 16) / 4294967296.0;
}

static double s_hf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static double s_hf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    assay_buf_t b = ASSAY_BUF_INIT;
    assay_buf_vaddf(&b, fmt, ap);
    va_end(ap);
    double v = s_h(b.data ? b.data : "");
    assay_buf_release(&b);
    return v;
}

/* ---- answer key --------------------------------------------------------------------- */

typedef struct {
    char *k;
    char *answer;
    double accuracy; /* < 0: derive */
} s_entry_t;

struct sim_key {
    s_entry_t *by_id, *by_hash;
    size_t nid, nhash, capid, caphash;
    size_t nitems, nskipped; /* lines loaded / skipped for a null answer */
};

static int s_entry_cmp(const void *a, const void *b)
{
    return strcmp(((const s_entry_t *)a)->k, ((const s_entry_t *)b)->k);
}

static void s_key_add(s_entry_t **arr, size_t *n, size_t *cap, const char *k, const char *ans,
                      double acc)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 256;
        *arr = assay_realloc(*arr, *cap * sizeof **arr);
    }
    (*arr)[*n].k = assay_strdup(k);
    (*arr)[*n].answer = assay_strdup(ans);
    (*arr)[*n].accuracy = acc;
    (*n)++;
}

sim_key_t *sim_key_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "could not open answer key \"%s\": %s", path, strerror(errno));
        return NULL;
    }
    sim_key_t *self = ASSAY_NEW(sim_key_t);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        size_t n = (size_t)len;
        while (n > 0 && isspace((unsigned char)line[n - 1]))
            n--;
        if (n == 0) continue;
        json_error_t jerr;
        json_t *o = json_loadb(line, n, 0, &jerr);
        /* the gold under any name `assay submit` accepts, so that an items file
         * can serve as its own key */
        const json_t *jans = NULL;
        static const char *const names[] = {"answer", "diagnosis", "reference_answer"};
        for (size_t i = 0; o && !jans && i < ASSAY_ARRAY_LEN(names); i++)
            jans = json_object_get(o, names[i]);
        if (json_is_null(jans)) {
            /* an item without a gold (a question with no reference answer) */
            self->nskipped++;
            json_decref(o);
            continue;
        }
        const char *ans = json_string_value(jans);
        const json_t *jacc = o ? json_object_get(o, "accuracy") : NULL;
        const char *id = o ? json_string_value(json_object_get(o, "id")) : NULL;
        const char *q = o ? json_string_value(json_object_get(o, "question")) : NULL;
        const char *qh = o ? json_string_value(json_object_get(o, "question_sha256")) : NULL;
        const char *what = NULL;
        if (!o || !json_is_object(o))
            what = "not a JSON object";
        else if (!ans || !*ans)
            what = "missing string field \"answer\" (or \"diagnosis\", \"reference_answer\")";
        else if (jacc && (!json_is_number(jacc) || json_number_value(jacc) < 0 ||
                          json_number_value(jacc) > 1))
            what = "\"accuracy\" must be a number in [0, 1]";
        else if (!id && !q && !qh)
            what = "needs \"id\", \"question\" or \"question_sha256\"";
        else if (qh && strlen(qh) != 64)
            what = "\"question_sha256\" must be 64 hex digits";
        if (what) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, what);
            json_decref(o);
            free(line);
            fclose(f);
            sim_key_destroy(&self);
            return NULL;
        }
        self->nitems++;
        double acc = jacc ? json_number_value(jacc) : -1;
        if (id) s_key_add(&self->by_id, &self->nid, &self->capid, id, ans, acc);
        if (q || qh) {
            char hex[65];
            if (q) {
                /* the same trimming as the question taken from a prompt */
                const char *s = q;
                size_t ql = strlen(q);
                while (ql > 0 && isspace((unsigned char)*s))
                    s++, ql--;
                while (ql > 0 && isspace((unsigned char)s[ql - 1]))
                    ql--;
                assay_sha256_hex(s, ql, hex);
            } else {
                for (int i = 0; i < 64; i++)
                    hex[i] = (char)tolower((unsigned char)qh[i]);
                hex[64] = '\0';
            }
            s_key_add(&self->by_hash, &self->nhash, &self->caphash, hex, ans, acc);
        }
        json_decref(o);
    }
    free(line);
    fclose(f);
    if (self->nid) qsort(self->by_id, self->nid, sizeof *self->by_id, s_entry_cmp);
    if (self->nhash) qsort(self->by_hash, self->nhash, sizeof *self->by_hash, s_entry_cmp);
    return self;
}

void sim_key_destroy(sim_key_t **self_p)
{
    if (!self_p || !*self_p) return;
    sim_key_t *self = *self_p;
    for (size_t i = 0; i < self->nid; i++)
        free(self->by_id[i].k), free(self->by_id[i].answer);
    for (size_t i = 0; i < self->nhash; i++)
        free(self->by_hash[i].k), free(self->by_hash[i].answer);
    free(self->by_id);
    free(self->by_hash);
    free(self);
    *self_p = NULL;
}

size_t sim_key_count(const sim_key_t *self)
{
    return self ? self->nitems : 0;
}

size_t sim_key_skipped(const sim_key_t *self)
{
    return self ? self->nskipped : 0;
}

static const s_entry_t *s_key_find(const s_entry_t *arr, size_t n, const char *k)
{
    s_entry_t probe = {(char *)k, NULL, 0};
    return arr && n ? bsearch(&probe, arr, n, sizeof *arr, s_entry_cmp) : NULL;
}

/* ---- model names ---------------------------------------------------------------------- */

static const char *const s_mode_names[] = {"r1", "r1r", "o3", "think", "think-open", "plain"};

const char *sim_mode_name(sim_mode_t m)
{
    return (unsigned)m < ASSAY_ARRAY_LEN(s_mode_names) ? s_mode_names[m] : "?";
}

int sim_mode_parse(const char *s, sim_mode_t *out)
{
    for (size_t i = 0; i < ASSAY_ARRAY_LEN(s_mode_names); i++)
        if (strcmp(s, s_mode_names[i]) == 0) {
            *out = (sim_mode_t)i;
            return 0;
        }
    return -1;
}

int sim_style_parse(const char *s, sim_style_t *out)
{
    if (!strcmp(s, "none"))
        *out = SIM_STYLE_NONE;
    else if (!strcmp(s, "no_reasoning"))
        *out = SIM_STYLE_NO_REASONING;
    else if (!strcmp(s, "repeat"))
        *out = SIM_STYLE_REPEAT;
    else if (!strcmp(s, "fake_disease"))
        *out = SIM_STYLE_FAKE_DISEASE;
    else
        return -1;
    return 0;
}

int sim_model_parse(const char *model, sim_mode_t def, sim_mode_t *mode, sim_style_t *style)
{
    *mode = def;
    *style = SIM_STYLE_NONE;
    if (!model) return 0;
    const char *plus = strchr(model, '+');
    size_t blen = plus ? (size_t)(plus - model) : strlen(model);
    if (plus && sim_style_parse(plus + 1, style) != 0) return -1;
    if (blen > 4 && strncmp(model, "sim-", 4) == 0) {
        char base[32];
        if (blen - 4 < sizeof base) {
            memcpy(base, model + 4, blen - 4);
            base[blen - 4] = '\0';
            sim_mode_t m;
            if (sim_mode_parse(base, &m) == 0) *mode = m;
        }
    }
    return 0;
}

/* ---- text helpers -------------------------------------------------------------------- */

long sim_tokens(const char *text)
{
    long ascii = 0, other = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p < 0x80)
            ascii++;
        else if ((*p & 0xC0) != 0x80)
            other++;
    }
    return other + (ascii + 3) / 4;
}

static char *s_message_text(const json_t *msg)
{
    const json_t *c = json_object_get(msg, "content");
    if (json_is_string(c)) return assay_strdup(json_string_value(c));
    assay_buf_t b = ASSAY_BUF_INIT;
    size_t i;
    const json_t *part;
    json_array_foreach(c, i, part)
    {
        const char *t = json_string_value(json_object_get(part, "text"));
        if (t) assay_buf_adds(&b, t);
    }
    char *s = assay_buf_detach(&b, NULL);
    return s ? s : assay_strdup("");
}

long sim_prompt_tokens(const json_t *request)
{
    long n = 0;
    size_t i;
    const json_t *m;
    json_array_foreach(json_object_get(request, "messages"), i, m)
    {
        char *t = s_message_text(m);
        n += sim_tokens(t) + 4; /* per-message framing, as chat templates add */
        free(t);
    }
    return n;
}

/* the first n characters (not bytes) of s */
static char *s_excerpt(const char *s, int nchars)
{
    const char *p = s;
    int c = 0;
    while (*p && c < nchars) {
        if (*p == '\n') break;
        p++;
        while ((*p & 0xC0) == 0x80)
            p++;
        c++;
    }
    char *out = assay_strndup(s, (size_t)(p - s));
    if (*p) {
        char *o2 = assay_sprintf("%s……", out);
        free(out);
        out = o2;
    }
    return out;
}

typedef struct {
    char letter;
    char *text;
} s_opt_t;

/* "A. text" and its full-width variants */
static int s_parse_option(const char *line, size_t n, s_opt_t *out)
{
    while (n > 0 && (*line == ' ' || *line == '\t'))
        line++, n--;
    if (n < 2 || line[0] < 'A' || line[0] > 'J') return 0;
    const char *p = line + 1;
    size_t rest = n - 1;
    static const char *const seps[] = {".", ")", ":", "．", "、", "）", "："};
    int ok = 0;
    for (size_t i = 0; i < ASSAY_ARRAY_LEN(seps); i++) {
        size_t sl = strlen(seps[i]);
        if (rest >= sl && memcmp(p, seps[i], sl) == 0) {
            p += sl;
            rest -= sl;
            ok = 1;
            break;
        }
    }
    if (!ok) return 0;
    while (rest > 0 && *p == ' ')
        p++, rest--;
    while (rest > 0 && (p[rest - 1] == '\r' || p[rest - 1] == ' '))
        rest--;
    out->letter = line[0];
    out->text = assay_strndup(p, rest);
    return 1;
}

/* ---- the answer ------------------------------------------------------------------------ */

typedef struct {
    char *msg; /* last user message */
    char *q;   /* the question (rule 1) */
    char *id;  /* <question id="..."> or NULL */
    s_opt_t opts[10];
    int nopts;
} s_prompt_t;

static void s_prompt_release(s_prompt_t *p)
{
    free(p->msg);
    free(p->q);
    free(p->id);
    for (int i = 0; i < p->nopts; i++)
        free(p->opts[i].text);
}

static void s_prompt_read(const json_t *request, s_prompt_t *p)
{
    memset(p, 0, sizeof *p);
    const json_t *msgs = json_object_get(request, "messages");
    for (size_t i = json_array_size(msgs); i-- > 0;) {
        const json_t *m = json_array_get(msgs, i);
        const char *role = json_string_value(json_object_get(m, "role"));
        if (role && strcmp(role, "user") == 0) {
            p->msg = s_message_text(m);
            break;
        }
    }
    if (!p->msg) p->msg = assay_strdup("");
    const char *start = p->msg, *end = p->msg + strlen(p->msg);
    const char *open = strstr(p->msg, "<question");
    if (open) {
        const char *gt = strchr(open, '>');
        const char *close = gt ? strstr(gt, "</question>") : NULL;
        if (gt && close) {
            const char *idp = strstr(open, "id=\"");
            if (idp && idp < gt) {
                const char *ide = strchr(idp + 4, '"');
                if (ide && ide < gt && ide > idp + 4)
                    p->id = assay_strndup(idp + 4, (size_t)(ide - idp - 4));
            }
            start = gt + 1;
            end = close;
        }
    }
    while (start < end && isspace((unsigned char)*start))
        start++;
    while (end > start && isspace((unsigned char)end[-1]))
        end--;
    p->q = assay_strndup(start, (size_t)(end - start));
    const char *s = p->msg;
    while (*s && p->nopts < 10) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        s_opt_t o;
        if (s_parse_option(s, n, &o)) {
            int dup = 0;
            for (int i = 0; i < p->nopts; i++)
                dup |= p->opts[i].letter == o.letter;
            if (dup)
                free(o.text);
            else
                p->opts[p->nopts++] = o;
        }
        s = nl ? nl + 1 : s + n;
    }
    if (p->nopts < 2) {
        for (int i = 0; i < p->nopts; i++)
            free(p->opts[i].text);
        p->nopts = 0;
    }
}

static const char *s_opt_text(const s_prompt_t *p, char letter)
{
    for (int i = 0; i < p->nopts; i++)
        if (p->opts[i].letter == letter) return p->opts[i].text;
    return "";
}

static void s_facts(const sim_opts_t *opts, const s_prompt_t *p, sim_facts_t *f)
{
    memset(f, 0, sizeof *f);
    assay_sha256_hex(p->q, strlen(p->q), f->qhash);
    f->is_mcq = p->nopts >= 2;
    const s_entry_t *e = NULL;
    if (opts->key && p->id) e = s_key_find(opts->key->by_id, opts->key->nid, p->id);
    if (opts->key && !e) e = s_key_find(opts->key->by_hash, opts->key->nhash, f->qhash);
    f->from_key = e != NULL;
    f->accuracy = e && e->accuracy >= 0 ? e->accuracy : s_hf("accuracy:%s", p->q);
    if (e) {
        f->gold = assay_strdup(e->answer);
    } else {
        double g = s_hf("gold:%s", p->q);
        if (f->is_mcq) {
            int i = (int)(g * p->nopts);
            f->gold = assay_sprintf("%c", p->opts[i < p->nopts ? i : p->nopts - 1].letter);
        } else {
            int i = (int)(g * SIM_NDISEASES);
            f->gold = assay_strdup(sim_diseases[i < SIM_NDISEASES ? i : SIM_NDISEASES - 1]);
        }
    }
}

void sim_facts_release(sim_facts_t *f)
{
    free(f->gold);
    f->gold = NULL;
}

void sim_choice_release(sim_choice_t *c)
{
    free(c->reasoning);
    free(c->content);
    free(c->finish_reason);
    memset(c, 0, sizeof *c);
}

static int s_is_judge(const json_t *request)
{
    size_t i;
    const json_t *m;
    json_array_foreach(json_object_get(request, "messages"), i, m)
    {
        char *t = s_message_text(m);
        int hit = strstr(t, "\"score\"") != NULL;
        free(t);
        if (hit) return 1;
    }
    return 0;
}

/* the text after "LABEL" on its line (label includes the colon), or NULL */
static char *s_line_after(const char *msg, const char *label)
{
    const char *p = strstr(msg, label);
    if (!p) return NULL;
    p += strlen(label);
    while (*p == ' ')
        p++;
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) : strlen(p);
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\r'))
        n--;
    return assay_strndup(p, n);
}

static void s_judge(const sim_opts_t *opts, const json_t *request, const s_prompt_t *p,
                    sim_choice_t *out)
{
    (void)opts;
    char *gold = s_line_after(p->msg, "标准答案：");
    char *cand = s_line_after(p->msg, "待评答案：");
    double h = s_hf("judge:%s", p->msg);
    double score;
    const char *comment;
    if (gold && cand && *gold && *cand) {
        int match = strstr(cand, gold) != NULL || strstr(gold, cand) != NULL;
        score = match ? 0.7 + 0.3 * h : 0.4 * h;
        comment = match ? "答案与标准答案一致，推理基本完整。" : "答案与标准答案不一致。";
    } else {
        score = h;
        comment = "回答基本切题，部分内容可以更完整。";
    }
    score = round(score * 10) / 10;
    json_t *o = json_object();
    json_object_set_new(o, "score", json_real(score));
    static const char *const dims[] = {"correctness",  "comprehensiveness", "helpfulness",
                                       "harmlessness", "relevance",         "logic",
                                       "consistency"};
    for (size_t i = 0; i < ASSAY_ARRAY_LEN(dims); i++) {
        char quoted[40];
        snprintf(quoted, sizeof quoted, "\"%s\"", dims[i]);
        size_t k;
        const json_t *m;
        int found = 0;
        json_array_foreach(json_object_get(request, "messages"), k, m)
        {
            char *t = s_message_text(m);
            found |= strstr(t, quoted) != NULL;
            free(t);
        }
        if (found) {
            double d =
                round(
                    fmin(1.0, fmax(0.0, score + (s_hf("dim:%s:%s", dims[i], p->msg) - 0.5) * 0.2)) *
                    10) /
                10;
            json_object_set_new(o, dims[i], json_real(d));
        }
    }
    json_object_set_new(o, "comment", json_string(comment));
    out->content = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    out->reasoning = assay_sprintf("首先，需要对照评分要求评估待评回答。\n"
                                   "等等，让我再核对一下回答与问题的对应关系。\n"
                                   "因此，评分为%.1f。",
                                   score);
    out->correct = -1;
    free(gold);
    free(cand);
}

/* ---- rewrite and leak-judge prompts (rules 11 and 12) ------------------------------ */

/* the text between open and close in msg (a new string, trimmed), or NULL */
static char *s_between(const char *msg, const char *open, const char *close)
{
    const char *b = strstr(msg, open);
    if (!b) return NULL;
    b += strlen(open);
    const char *e = strstr(b, close);
    if (!e) return NULL;
    while (b < e && isspace((unsigned char)*b))
        b++;
    while (e > b && isspace((unsigned char)e[-1]))
        e--;
    return assay_strndup(b, (size_t)(e - b));
}

static const char *s_last_rewrite(const char *msg);

static int s_is_rewrite(const s_prompt_t *p)
{
    return s_last_rewrite(p->msg) != NULL;
}

/* the last "<rewrite>" of msg: instructions before the text may name the tags */
static const char *s_last_rewrite(const char *msg)
{
    const char *last = NULL;
    for (const char *o = strstr(msg, "<rewrite>"); o; o = strstr(o + 1, "<rewrite>"))
        if (strstr(o, "</rewrite>")) last = o;
    return last;
}

static void s_rewrite(const s_prompt_t *p, sim_choice_t *out)
{
    const char *o = s_last_rewrite(p->msg);
    char *text = s_between(o, "<rewrite>", "</rewrite>");
    assay_buf_t c = ASSAY_BUF_INIT;
    assay_buf_adds(&c, "<rewrite>\n");
    int dropped = 0;
    for (const char *s = text; *s;) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) + 1 : strlen(s);
        if (strncmp(s, "【删】", strlen("【删】")) == 0)
            dropped++;
        else
            assay_buf_add(&c, s, n);
        s += n;
    }
    /* "补充：X" outside the tags: X is added, as a model might add a fact */
    const char *after = strstr(o, "</rewrite>");
    char *extra = s_line_after(after, "补充：");
    if (!extra) {
        char *head = assay_strndup(p->msg, (size_t)(o - p->msg));
        extra = s_line_after(head, "补充：");
        free(head);
    }
    if (extra && *extra) {
        if (c.len > 0 && c.data[c.len - 1] != '\n') assay_buf_addc(&c, '\n');
        assay_buf_adds(&c, extra);
    }
    if (c.len > 0 && c.data[c.len - 1] != '\n') assay_buf_addc(&c, '\n');
    assay_buf_adds(&c, "</rewrite>");
    out->content = assay_buf_detach(&c, NULL);
    out->reasoning = assay_sprintf("首先，只调整语句，不改变事实。\n因此，%s。",
                                   dropped ? "删去标记的句子" : "原文照录");
    out->correct = -1;
    free(extra);
    free(text);
}

static int s_is_leak_judge(const s_prompt_t *p)
{
    return strstr(p->msg, "\"leak\"") != NULL;
}

static void s_leak_judge(const s_prompt_t *p, sim_choice_t *out)
{
    char *cs = s_between(p->msg, "<case>", "</case>");
    const char *after = strstr(p->msg, "</case>");
    char *dx = after ? s_line_after(after, "诊断：") : NULL;
    int leak = cs && dx && *dx && strstr(cs, dx) != NULL;
    json_t *o = json_object();
    json_object_set_new(o, "leak", json_boolean(leak));
    char *why = !dx || !*dx ? assay_strdup("未给出诊断，无法判断。")
                : leak     ? assay_sprintf("题干中直接出现了“%s”。", dx)
                           : assay_sprintf("题干中没有直接出现“%s”，需要推理得出。", dx);
    json_object_set_new(o, "reason", json_string(why));
    out->content = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    out->reasoning = assay_sprintf("首先，在题干中查找诊断名称。\n因此，%s", why);
    out->correct = -1;
    free(why);
    free(dx);
    free(cs);
}

static void s_trace_mcq(assay_buf_t *r, const s_prompt_t *p, const char *q_ex, const char *ans,
                        sim_style_t style, const char *fake)
{
    char x = ans[0];
    assay_buf_addf(
        r, "首先，题目问的是：「%s」。这是一道单项选择题，需要在%d个选项中找出最符合题意的一项。\n",
        q_ex, p->nopts);
    if (style == SIM_STYLE_FAKE_DISEASE)
        assay_buf_addf(r, "回忆相关知识：本题的要点与%s的发病机制有关，%s与之最为相关。\n", fake,
                       s_opt_text(p, x));
    else
        assay_buf_addf(r,
                       "回忆相关知识：%s与题干所述的临床特点最为相关，其余选项多见于其他情况。\n",
                       s_opt_text(p, x));
    assay_buf_adds(r, "逐项分析：");
    for (int i = 0; i < p->nopts; i++) {
        int pick = strchr(ans, p->opts[i].letter) != NULL;
        assay_buf_addf(r, "%c. %s——%s%s", p->opts[i].letter, p->opts[i].text,
                       pick ? "符合题意" : "与题干不符", i + 1 < p->nopts ? "；" : "。\n");
    }
    assay_buf_addf(r,
                   "等等，让我再核对一下题干中的关键信息，确认没有遗漏限定条件。选项%"
                   "s与题干最为吻合，其余选项均可排除。\n",
                   ans);
    assay_buf_addf(r, "因此，答案是%s。", ans);
}

static void s_trace_case(assay_buf_t *r, const char *q_ex, const char *d, const char *o1,
                         const char *o2)
{
    assay_buf_addf(r, "首先，患者的主要表现是：「%s」。需要结合症状、体征和辅助检查作出诊断。\n",
                   q_ex);
    assay_buf_addf(r,
                   "回忆相关知识：%"
                   "s的典型表现与本例的症状、体征和辅助检查结果相符。需要鉴别的疾病包括%s和%s。\n",
                   d, o1, o2);
    assay_buf_addf(r, "等等，让我再核对一下：本例的病史和检查结果更支持%s，而不支持%s。\n", d, o1);
    assay_buf_addf(r, "因此，最可能的诊断是%s。", d);
}

void sim_answer(const sim_opts_t *opts, const json_t *request, int choice_index, double draw_prng,
                double style_prng, sim_choice_t *out, sim_facts_t *facts)
{
    memset(out, 0, sizeof *out);
    s_prompt_t p;
    s_prompt_read(request, &p);
    sim_facts_t f;
    s_facts(opts, &p, &f);

    if (s_is_leak_judge(&p)) {
        s_leak_judge(&p, out);
    } else if (s_is_rewrite(&p)) {
        s_rewrite(&p, out);
    } else if (s_is_judge(request)) {
        s_judge(opts, request, &p, out);
    } else {
        /* rule 6: the draw */
        const json_t *jseed = json_object_get(request, "seed");
        const json_t *jtemp = json_object_get(request, "temperature");
        double v;
        if (json_is_number(jtemp) && json_number_value(jtemp) == 0)
            v = 0.5;
        else if (json_is_integer(jseed))
            v = s_hf("draw:%s:%lld:%d", p.q, (long long)json_integer_value(jseed), choice_index);
        else
            v = draw_prng;
        int correct = v < f.accuracy;
        sim_style_t style = opts->forced_style;
        if (style == SIM_STYLE_NONE && style_prng < opts->failure_rate) {
            style = opts->failure_style;
            if (style == SIM_STYLE_NONE)
                style = (sim_style_t)(1 + (int)(s_hf("style:%s:%f", p.q, v) * 3) % 3);
        }
        double w = s_hf("wrong:%s:%.9f", p.q, v);
        const char *fake = s_fake_diseases[(int)(w * ASSAY_ARRAY_LEN(s_fake_diseases)) %
                                           (int)ASSAY_ARRAY_LEN(s_fake_diseases)];
        char *q_ex = s_excerpt(p.q, f.is_mcq ? 60 : 80);
        assay_buf_t r = ASSAY_BUF_INIT, c = ASSAY_BUF_INIT;
        int is_case = !f.is_mcq && strstr(p.msg, "诊断") != NULL;
        if (f.is_mcq) {
            char ans[16];
            if (correct) {
                snprintf(ans, sizeof ans, "%s", f.gold);
            } else {
                /* another letter, not part of the gold answer */
                char others[10];
                int no = 0;
                for (int i = 0; i < p.nopts; i++)
                    if (!strchr(f.gold, p.opts[i].letter)) others[no++] = p.opts[i].letter;
                snprintf(ans, sizeof ans, "%c", no ? others[(int)(w * no) % no] : 'A');
            }
            out->correct = correct;
            if (style != SIM_STYLE_NO_REASONING) s_trace_mcq(&r, &p, q_ex, ans, style, fake);
            if (style == SIM_STYLE_REPEAT) {
                for (int i = 0; i < 6; i++)
                    assay_buf_addf(&r, "\n因此，答案是%s。", ans);
                for (int i = 0; i < 3; i++)
                    assay_buf_addf(&c, "%s答案：%s", i ? "\n" : "", ans);
            } else if (style == SIM_STYLE_NO_REASONING) {
                assay_buf_addf(&c, "答案：%s", ans);
            } else {
                if (strlen(ans) == 1) assay_buf_addf(&c, "%s. %s\n", ans, s_opt_text(&p, ans[0]));
                assay_buf_addf(&c, "答案：%s", ans);
            }
        } else {
            int gi = -1;
            for (int i = 0; i < SIM_NDISEASES; i++)
                if (strcmp(sim_diseases[i], f.gold) == 0) gi = i;
            int wi = (int)(w * (SIM_NDISEASES - 1));
            if (gi >= 0 && wi >= gi) wi++;
            const char *d = correct ? f.gold : sim_diseases[wi % SIM_NDISEASES];
            if (style == SIM_STYLE_FAKE_DISEASE) d = fake;
            const char *o1 = sim_diseases[(wi + 3) % SIM_NDISEASES];
            const char *o2 = sim_diseases[(wi + 7) % SIM_NDISEASES];
            if (is_case || f.from_key)
                out->correct = style == SIM_STYLE_FAKE_DISEASE ? 0 : correct;
            else
                out->correct = -1;
            if (is_case) {
                if (style != SIM_STYLE_NO_REASONING) s_trace_case(&r, q_ex, d, o1, o2);
                if (style == SIM_STYLE_REPEAT) {
                    for (int i = 0; i < 6; i++)
                        assay_buf_addf(&r, "\n因此，最可能的诊断是%s。", d);
                    for (int i = 0; i < 3; i++)
                        assay_buf_addf(&c, "%s诊断：%s", i ? "\n" : "", d);
                } else if (style == SIM_STYLE_NO_REASONING) {
                    assay_buf_addf(&c, "诊断：%s", d);
                } else {
                    assay_buf_addf(&c, "根据病史、体征及辅助检查，考虑%s。\n诊断：%s", d, d);
                }
            } else {
                if (style != SIM_STYLE_NO_REASONING) {
                    assay_buf_addf(&r, "首先，患者想了解的是：「%s」。\n", q_ex);
                    assay_buf_addf(
                        &r, "回忆相关知识：这类情况常与%s等疾病有关，需要结合具体症状判断。\n", d);
                    assay_buf_adds(
                        &r,
                        "等等，让我再核对一下：回答应当准确、易懂，并提醒患者在必要时及时就医。\n");
                    assay_buf_adds(&r, "因此，应先说明可能的原因，再给出生活方式和就医建议。");
                }
                if (style == SIM_STYLE_REPEAT)
                    for (int i = 0; i < 5; i++)
                        assay_buf_adds(&r, "\n因此，应及时就医。");
                if (f.from_key && correct)
                    assay_buf_addf(&c, "回答：%s", f.gold);
                else
                    assay_buf_addf(&c,
                                   "回答：您描述的情况可能与%s有关。建议注意休息、清淡饮食，"
                                   "遵医嘱规范用药；如症状持续或加重，请及时到医院就诊。",
                                   d);
            }
        }
        out->reasoning = assay_buf_detach(&r, NULL);
        out->content = assay_buf_detach(&c, NULL);
        if (!out->reasoning) out->reasoning = assay_strdup("");
        if (!out->content) out->content = assay_strdup("");
        free(q_ex);
    }

    /* tokens, reasoning effort and the max_tokens limit */
    long rt = sim_tokens(out->reasoning);
    if (opts->mode == SIM_MODE_O3)
        rt = (long)(rt * (opts->effort_factor > 0 ? opts->effort_factor : 1));
    if (opts->mode == SIM_MODE_PLAIN) {
        free(out->reasoning);
        out->reasoning = assay_strdup("");
        rt = 0;
    }
    long ct = sim_tokens(out->content);
    const json_t *jmax = json_object_get(request, "max_completion_tokens");
    if (!json_is_integer(jmax)) jmax = json_object_get(request, "max_tokens");
    long max = json_is_integer(jmax) ? (long)json_integer_value(jmax) : 0;
    out->finish_reason = assay_strdup("stop");
    if (max > 0 && rt + ct > max) {
        free(out->finish_reason);
        out->finish_reason = assay_strdup("length");
        if (rt >= max) {
            /* cut inside the reasoning: no answer at all */
            if (opts->mode != SIM_MODE_O3) {
                const char *s = out->reasoning;
                long budget = max;
                const char *e = s;
                while (*e && budget > 0) {
                    e++;
                    while ((*e & 0xC0) == 0x80)
                        e++;
                    budget--;
                }
                out->reasoning[e - s] = '\0';
            }
            rt = max;
            out->content[0] = '\0';
            ct = 0;
        } else {
            long budget = max - rt;
            char *e = out->content;
            while (*e && budget > 0) {
                e++;
                while ((*e & 0xC0) == 0x80)
                    e++;
                budget--;
            }
            *e = '\0';
            ct = max - rt;
        }
        out->correct = out->correct > 0 ? 0 : out->correct;
    }
    out->reasoning_tokens = rt;
    out->completion_tokens = rt + ct;
    (void)choice_index;
    if (facts)
        *facts = f;
    else
        sim_facts_release(&f);
    s_prompt_release(&p);
}
