/*  judge.c: see judge.h */
#include "worker/domain/judge.h"

#include "common/error.h"
#include "common/util.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_MAX_RAW 32
/* bounds on the work one reply can cause: only its last S_MAX_SCAN bytes are read
 * (judges conclude last), and the '{' candidates that give no score may cost at
 * most S_MAX_WORK bytes of scanning in all, so a reply of nothing but braces or of
 * deeply nested objects stays cheap while many small brace pairs (formulas) do not
 * hide the object at the end */
#define S_MAX_SCAN (256 * 1024)
#define S_MAX_WORK (4 * 1024 * 1024)

/* a value as the reply wrote it, before the scale is known */
typedef struct {
    char name[ASSAY_JUDGE_NAME_MAX];
    double v;
    double denom; /* > 0: written as v/denom (a percentage is stored as v/100); 0: none */
} s_raw_t;

typedef struct {
    s_raw_t raw[S_MAX_RAW];
    int n;
    char *comment;
} s_found_t;

static const struct {
    const char *alias;
    const char *name;
} s_names[] = {
    {"score", "score"},
    {"overall", "score"},
    {"overall_score", "score"},
    {"总分", "score"},
    {"评分", "score"},
    {"得分", "score"},
    {"综合评分", "score"},
    {"correctness", "correctness"},
    {"正确性", "correctness"},
    {"comprehensiveness", "comprehensiveness"},
    {"全面性", "comprehensiveness"},
    {"完整性", "comprehensiveness"},
    {"helpfulness", "helpfulness"},
    {"有用性", "helpfulness"},
    {"帮助性", "helpfulness"},
    {"harmlessness", "harmlessness"},
    {"无害性", "harmlessness"},
    {"安全性", "harmlessness"},
    {"relevance", "relevance"},
    {"相关性", "relevance"},
    {"logic", "logic"},
    {"逻辑性", "logic"},
    {"consistency", "consistency"},
    {"一致性", "consistency"},
};

static const char *const s_comment_names[] = {"comment",   "reason", "explanation",
                                              "rationale", "评语",   "理由"};

/* the canonical name for a known alias (ASCII compared case-insensitively), or NULL */
static const char *s_known(const char *name, size_t len)
{
    for (size_t i = 0; i < ASSAY_ARRAY_LEN(s_names); i++)
        if (strlen(s_names[i].alias) == len && strncasecmp(s_names[i].alias, name, len) == 0)
            return s_names[i].name;
    return NULL;
}

static int s_is_comment(const char *name, size_t len)
{
    for (size_t i = 0; i < ASSAY_ARRAY_LEN(s_comment_names); i++)
        if (strlen(s_comment_names[i]) == len && strncasecmp(s_comment_names[i], name, len) == 0)
            return 1;
    return 0;
}

static void s_add(s_found_t *f, const char *name, size_t len, double v, double denom)
{
    if (f->n >= S_MAX_RAW) return;
    const char *canon = s_known(name, len);
    s_raw_t *r = &f->raw[f->n];
    if (canon) {
        name = canon;
        len = strlen(canon);
    }
    if (len == 0 || len >= sizeof r->name) return;
    for (int i = 0; i < f->n; i++) /* the first value of a name counts */
        if (strlen(f->raw[i].name) == len && memcmp(f->raw[i].name, name, len) == 0) return;
    memcpy(r->name, name, len);
    r->name[len] = '\0';
    r->v = v;
    r->denom = denom;
    f->n++;
}

static void s_set_comment(s_found_t *f, const char *s, size_t len)
{
    if (f->comment) return;
    f->comment = assay_strndup(s, len);
}

/* "8", " 7 / 10", "80%", "8分" at s: 1 with the value (and denominator, 0 when
 * none) and *end after it, 0 when s does not start with a number */
static int s_number(const char *s, const char *lim, double *v, double *denom, const char **end)
{
    while (s < lim && (*s == ' ' || *s == '\t' || *s == '*' || *s == '"' || *s == '\''))
        s++;
    if (s >= lim || !(*s == '-' || *s == '+' || *s == '.' || (*s >= '0' && *s <= '9'))) return 0;
    char tmp[64];
    size_t n = (size_t)(lim - s) < sizeof tmp - 1 ? (size_t)(lim - s) : sizeof tmp - 1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *e;
    double x = strtod(tmp, &e);
    if (e == tmp || !isfinite(x)) return 0;
    const char *p = s + (e - tmp);
    *v = x;
    *denom = 0;
    const char *q = p;
    while (q < lim && (*q == ' ' || *q == '\t'))
        q++;
    if (q < lim && *q == '/') {
        q++;
        while (q < lim && (*q == ' ' || *q == '\t'))
            q++;
        n = (size_t)(lim - q) < sizeof tmp - 1 ? (size_t)(lim - q) : sizeof tmp - 1;
        memcpy(tmp, q, n);
        tmp[n] = '\0';
        double d = strtod(tmp, &e);
        if (e != tmp && isfinite(d) && d > 0) {
            *denom = d;
            p = q + (e - tmp);
        }
    } else if (q < lim && *q == '%') {
        *denom = 100;
        p = q + 1;
    }
    if (end) *end = p;
    return 1;
}

/* a JSON value as a number: a number, or a string that is only a number (with an
 * optional "/D", "%" or "分") */
static int s_json_number(const json_t *v, double *out, double *denom)
{
    if (json_is_number(v)) {
        *out = json_number_value(v);
        *denom = 0;
        return isfinite(*out);
    }
    if (!json_is_string(v)) return 0;
    const char *s = json_string_value(v), *lim = s + json_string_length(v), *end;
    if (!s_number(s, lim, out, denom, &end)) return 0;
    while (end < lim && (*end == ' ' || *end == '\t'))
        end++;
    if (lim - end >= 3 && memcmp(end, "分", 3) == 0) end += 3;
    while (end < lim && (*end == ' ' || *end == '\t'))
        end++;
    return end == lim;
}

static void s_from_object(s_found_t *f, const json_t *obj, int depth)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        size_t klen = strlen(key);
        double x, d;
        if (s_is_comment(key, klen) && json_is_string(v)) {
            s_set_comment(f, json_string_value(v), json_string_length(v));
        } else if (s_json_number(v, &x, &d)) {
            s_add(f, key, klen, x, d);
        } else if (depth == 0 && json_is_object(v) &&
                   (!strcasecmp(key, "dimensions") || !strcasecmp(key, "scores"))) {
            s_from_object(f, v, 1);
        }
    }
}

static void s_found_release(s_found_t *f)
{
    free(f->comment);
    memset(f, 0, sizeof *f);
}

/* the end (one past '}') of the object starting at s[0] == '{', or NULL when it is
 * not closed; strings in either quote kind are skipped */
static const char *s_match(const char *s, const char *lim)
{
    int depth = 0;
    char q = 0;
    for (const char *p = s; p < lim; p++) {
        if (q) {
            if (*p == '\\' && p + 1 < lim)
                p++;
            else if (*p == q)
                q = 0;
            continue;
        }
        if (*p == '"' || *p == '\'')
            q = *p;
        else if (*p == '{')
            depth++;
        else if (*p == '}' && --depth == 0)
            return p + 1;
    }
    return NULL;
}

/* a character inside a string, control characters escaped */
static void s_add_char(assay_buf_t *b, char c)
{
    if (c == '\n')
        assay_buf_adds(b, "\\n");
    else if (c == '\r')
        assay_buf_adds(b, "\\r");
    else if (c == '\t')
        assay_buf_adds(b, "\\t");
    else
        assay_buf_addc(b, c);
}

/* the safe repairs of judge.h: outside strings, trailing commas dropped and
 * single-quoted strings made double-quoted; inside strings, raw line breaks and
 * tabs escaped */
static char *s_repair(const char *s, size_t len)
{
    assay_buf_t b = ASSAY_BUF_INIT;
    const char *lim = s + len;
    for (const char *p = s; p < lim; p++) {
        if (*p == '"') {
            /* raw line breaks and tabs inside a string become escapes */
            const char *q = p + 1;
            assay_buf_addc(&b, '"');
            for (; q < lim && *q != '"'; q++) {
                if (*q == '\\' && q + 1 < lim) {
                    assay_buf_add(&b, q, 2);
                    q++;
                } else {
                    s_add_char(&b, *q);
                }
            }
            if (q < lim) assay_buf_addc(&b, '"');
            p = q < lim ? q : lim - 1;
        } else if (*p == '\'') {
            assay_buf_addc(&b, '"');
            const char *q = p + 1;
            for (; q < lim && *q != '\''; q++) {
                if (*q == '"') {
                    assay_buf_adds(&b, "\\\"");
                } else if (*q == '\\' && q + 1 < lim) {
                    if (q[1] == '\'')
                        assay_buf_addc(&b, '\'');
                    else
                        assay_buf_add(&b, q, 2);
                    q++;
                } else {
                    s_add_char(&b, *q);
                }
            }
            assay_buf_addc(&b, '"');
            p = q < lim ? q : lim - 1;
        } else if (*p == ',') {
            const char *q = p + 1;
            while (q < lim && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n'))
                q++;
            if (q < lim && (*q == '}' || *q == ']')) continue;
            assay_buf_addc(&b, ',');
        } else {
            assay_buf_addc(&b, *p);
        }
    }
    if (!b.data) assay_buf_adds(&b, "");
    return assay_buf_detach(&b, NULL);
}

static json_t *s_load(const char *s, size_t len, int *repaired)
{
    json_t *o = json_loadb(s, len, 0, NULL);
    *repaired = 0;
    if (!o) {
        char *fixed = s_repair(s, len);
        o = json_loads(fixed, 0, NULL);
        free(fixed);
        *repaired = 1;
    }
    if (o && !json_is_object(o)) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

/* an object qualifies by a score or a known dimension; other numbers alone
 * ({"a": 1}, {"tokens": 500}) are no judgement */
static int s_has_known(const s_found_t *f)
{
    for (int i = 0; i < f->n; i++)
        if (s_known(f->raw[i].name, strlen(f->raw[i].name))) return 1;
    return 0;
}

/* step 1: the last qualifying object; 1 when found (method set) */
static int s_scan_json(const char *text, size_t len, s_found_t *best, const char **method)
{
    const char *lim = text + len;
    int found = 0;
    size_t work = 0;
    for (const char *p = text; p < lim && work < S_MAX_WORK; p++) {
        if (*p != '{') continue;
        const char *end = s_match(p, lim);
        if (!end) {
            work += (size_t)(lim - p);
            continue;
        }
        int repaired;
        json_t *o = s_load(p, (size_t)(end - p), &repaired);
        if (!o) { /* an inner object may still parse */
            work += 2 * (size_t)(end - p);
            continue;
        }
        s_found_t f;
        memset(&f, 0, sizeof f);
        s_from_object(&f, o, 0);
        json_decref(o);
        if (s_has_known(&f)) {
            s_found_release(best);
            *best = f;
            *method = repaired ? "json_repaired" : "json";
            found = 1;
            p = end - 1;
        } else {
            s_found_release(&f); /* {"result": {"score": 8}}: look inside */
            work += (size_t)(end - p);
        }
    }
    return found;
}

static int s_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '*' || c == '-' || c == '#' || c == '>' ||
           c == '"' || c == '\'' || c == '`';
}

/* strip the full-width quotes and brackets judges put around names: “” 【】 《》 */
static void s_trim_marks(const char **b, const char **e)
{
    static const char *const open[] = {"“", "【", "《", "「"}, *const close[] = {"”", "】", "》",
                                                                                 "」"};
    for (size_t i = 0; i < ASSAY_ARRAY_LEN(open); i++) {
        if (*e - *b >= 3 && memcmp(*b, open[i], 3) == 0) *b += 3;
        if (*e - *b >= 3 && memcmp(*e - 3, close[i], 3) == 0) *e -= 3;
    }
}

/* step 2: "name: value" lines; 1 when any score or dimension was found */
static int s_scan_lines(const char *text, size_t len, s_found_t *f)
{
    const char *lim = text + len;
    const char *line = text;
    while (line < lim) {
        const char *eol = memchr(line, '\n', (size_t)(lim - line));
        if (!eol) eol = lim;
        const char *p = line;
        while (p < eol && s_is_space(*p))
            p++;
        /* "1. " / "2、" list numbering */
        const char *q = p;
        while (q < eol && *q >= '0' && *q <= '9')
            q++;
        if (q > p && q < eol && (*q == '.' || *q == ')'))
            p = q + 1;
        else if (q > p && eol - q >= 3 && memcmp(q, "、", 3) == 0)
            p = q + 3;
        while (p < eol && s_is_space(*p))
            p++;
        /* the separator: ':' '：' or '=' */
        const char *sep = NULL;
        size_t seplen = 0;
        for (q = p; q < eol && q - p <= 64; q++) {
            if (*q == ':' || *q == '=') {
                sep = q, seplen = 1;
                break;
            }
            if (eol - q >= 3 && memcmp(q, "：", 3) == 0) {
                sep = q, seplen = 3;
                break;
            }
        }
        if (sep) {
            const char *ne = sep;
            while (ne > p && s_is_space(ne[-1]))
                ne--;
            s_trim_marks(&p, &ne);
            size_t nlen = (size_t)(ne - p);
            const char *val = sep + seplen;
            double v, d;
            if (s_is_comment(p, nlen)) {
                while (val < eol && s_is_space(*val))
                    val++;
                const char *ve = eol;
                while (ve > val && s_is_space(ve[-1]))
                    ve--;
                s_set_comment(f, val, (size_t)(ve - val));
            } else if (s_known(p, nlen) && s_number(val, eol, &v, &d, NULL)) {
                s_add(f, p, nlen, v, d);
            }
        }
        line = eol + 1;
    }
    return f->n > 0;
}

/* scale the raw values into out; 0 or ASSAY_EPARSE */
static int s_finish(s_found_t *f, assay_judge_reply_t *out, char *err, size_t errlen)
{
    double max = 0;
    for (int i = 0; i < f->n; i++) {
        const s_raw_t *r = &f->raw[i];
        if (r->v < 0 || (r->denom > 0 && r->v > r->denom)) {
            if (r->denom > 0)
                snprintf(err, errlen, "judge reply: \"%s\" is %g/%g, outside 0..%g", r->name, r->v,
                         r->denom, r->denom);
            else
                snprintf(err, errlen, "judge reply: \"%s\" is %g, a negative score", r->name, r->v);
            return ASSAY_EPARSE;
        }
        if (r->denom == 0 && r->v > max) max = r->v;
    }
    double scale = max <= 1 ? 1 : max <= 10 ? 10 : max <= 100 ? 100 : 0;
    if (scale == 0) {
        snprintf(err, errlen,
                 "judge reply: a score of %g is on no known scale (0..1, 0..10 or 0..100)", max);
        return ASSAY_EPARSE;
    }
    memset(out, 0, sizeof *out);
    double sum = 0;
    for (int i = 0; i < f->n; i++) {
        const s_raw_t *r = &f->raw[i];
        double v = r->v / (r->denom > 0 ? r->denom : scale);
        v = round(v * 1e6) / 1e6; /* 7/10 is 0.7, not 0.7000000000000001 */
        if (!strcmp(r->name, "score")) {
            out->score = v;
            out->has_score = 1;
        } else if (out->ndims < ASSAY_JUDGE_MAX_DIMS) {
            assay_judge_dim_t *dm = &out->dims[out->ndims++];
            memcpy(dm->name, r->name, sizeof dm->name);
            dm->value = v;
            sum += v;
        }
    }
    if (!out->has_score) out->score = round(sum / out->ndims * 1e6) / 1e6;
    out->comment = f->comment ? f->comment : assay_strdup("");
    f->comment = NULL;
    return 0;
}

int assay_judge_parse(const char *text, size_t len, assay_judge_reply_t *out, char *err,
                      size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!text) text = "";
    s_found_t f;
    memset(&f, 0, sizeof f);
    const char *method = "lines";
    const char *scan = text;
    size_t slen = len;
    if (len > S_MAX_SCAN) {
        scan = text + len - S_MAX_SCAN;
        slen = S_MAX_SCAN;
    }
    if (!s_scan_json(scan, slen, &f, &method) && !s_scan_lines(scan, slen, &f)) {
        s_found_release(&f);
        char head[81];
        size_t n = len < 80 ? len : 80;
        while (n > 0 && n < len && ((unsigned char)text[n] & 0xC0) == 0x80)
            n--; /* do not cut a UTF-8 character */
        memcpy(head, text, n);
        head[n] = '\0';
        for (size_t i = 0; i < n; i++)
            if (head[i] == '\n' || head[i] == '\r' || head[i] == '\t') head[i] = ' ';
        snprintf(err, errlen,
                 "no JSON object with a score and no \"score: N\" lines in the reply "
                 "(%zu bytes, starting \"%s\")",
                 len, head);
        return ASSAY_EPARSE;
    }
    int rc = s_finish(&f, out, err, errlen);
    s_found_release(&f);
    if (rc == 0) out->method = method;
    return rc;
}

void assay_judge_reply_release(assay_judge_reply_t *r)
{
    if (!r) return;
    free(r->comment);
    memset(r, 0, sizeof *r);
}

double assay_judge_dim(const assay_judge_reply_t *r, const char *name)
{
    for (int i = 0; i < r->ndims; i++)
        if (!strcmp(r->dims[i].name, name)) return r->dims[i].value;
    return -1;
}
