/*  leak_llm.c: see leak_llm.h. */
#include "worker/domain/leak_llm.h"

#include "common/util.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int s_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* [*b, *e) without surrounding ASCII whitespace */
static void s_trim(const char **b, const char **e)
{
    while (*b < *e && s_space((unsigned char)**b))
        (*b)++;
    while (*e > *b && s_space((unsigned char)(*e)[-1]))
        (*e)--;
}

/* [*b, *e) without a surrounding ``` fence (with an optional language tag) */
static void s_unfence(const char **b, const char **e)
{
    if (*e - *b < 6 || strncmp(*b, "```", 3) != 0 || strncmp(*e - 3, "```", 3) != 0) return;
    const char *nl = memchr(*b, '\n', (size_t)(*e - *b));
    if (!nl || nl >= *e - 3) return;
    *b = nl + 1;
    *e -= 3;
    s_trim(b, e);
}

char *assay_leak_rewrite_extract(const char *reply)
{
    if (!reply) return assay_strdup("");
    const char *b = reply, *e = reply + strlen(reply);
    /* the last opening tag with a closing one after it: a reply may name the tags
     * before it gives the text */
    const char *open = NULL;
    for (const char *o = strstr(reply, "<rewrite>"); o; o = strstr(o + 1, "<rewrite>"))
        if (!open || strstr(o, "</rewrite>")) open = o;
    if (open) {
        const char *start = open + strlen("<rewrite>");
        const char *close = strstr(start, "</rewrite>");
        b = start;
        e = close ? close : reply + strlen(reply);
    }
    s_trim(&b, &e);
    s_unfence(&b, &e);
    return assay_strndup(b, (size_t)(e - b));
}

size_t assay_leak_utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

int assay_leak_rewrite_length_ok(size_t clean_chars, size_t rewrite_chars, double min_ratio,
                                 double max_ratio, char *why, size_t whylen)
{
    if (rewrite_chars == 0) {
        snprintf(why, whylen, "the rewrite is empty");
        return -1;
    }
    if (clean_chars == 0) return 0;
    double r = (double)rewrite_chars / (double)clean_chars;
    if (r < min_ratio || r > max_ratio) {
        snprintf(why, whylen,
                 "the rewrite has %zu characters for %zu in the clean text (ratio %.2f, "
                 "expected %.2f to %.2f)",
                 rewrite_chars, clean_chars, r, min_ratio, max_ratio);
        return -1;
    }
    return 0;
}

/* a value of "leak": 1/0, or -1 when it is not a truth value */
static int s_truth(const json_t *v)
{
    if (json_is_boolean(v)) return json_is_true(v);
    if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1))
        return (int)json_integer_value(v);
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcmp(s, "是")) return 1;
        if (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcmp(s, "否")) return 0;
    }
    return -1;
}

/* length of the punctuation mark at s (a separator after a bare answer), 0 if none */
static size_t s_punct(const char *s)
{
    static const char *const marks[] = {"。", "，", "：", "；", "！", "、", "（"};
    if (*s && strchr(" \t\r\n.,:;!(-", *s)) return 1;
    for (size_t i = 0; i < ASSAY_ARRAY_LEN(marks); i++)
        if (strncmp(s, marks[i], strlen(marks[i])) == 0) return strlen(marks[i]);
    return 0;
}

static int s_bare(const char *b, const char *e, int *leak, char **reason)
{
    static const struct {
        const char *word;
        int leak;
    } words[] = {{"未泄露", 0}, {"不泄露", 0}, {"泄露", 1}, {"false", 0}, {"true", 1},
                 {"yes", 1},    {"no", 0},     {"是", 1},   {"否", 0},    {"有", 1},
                 {"无", 0}};
    size_t len = (size_t)(e - b);
    for (size_t i = 0; i < ASSAY_ARRAY_LEN(words); i++) {
        size_t n = strlen(words[i].word);
        if (n > len || strncasecmp(b, words[i].word, n) != 0) continue;
        const char *rest = b + n;
        size_t p = rest < e ? s_punct(rest) : 0;
        if (rest < e && p == 0) continue; /* "not", "是的" ...: not a bare answer */
        rest += p;
        while (rest < e && (s_space((unsigned char)*rest) || s_punct(rest)))
            rest += s_punct(rest) ? s_punct(rest) : 1;
        *leak = words[i].leak;
        *reason = assay_strndup(rest, (size_t)(e - rest));
        return 0;
    }
    return -1;
}

int assay_leak_judge_parse(const char *reply, int *leak, char **reason, char *err,
                           size_t errlen)
{
    *reason = NULL;
    if (!reply) reply = "";
    const char *b = reply, *e = reply + strlen(reply);
    s_trim(&b, &e);
    s_unfence(&b, &e);
    if (b == e) {
        snprintf(err, errlen, "the judge reply is empty");
        return -1;
    }
    const char *open = memchr(b, '{', (size_t)(e - b));
    const char *close = NULL;
    for (const char *p = e; p > b; p--)
        if (p[-1] == '}') {
            close = p;
            break;
        }
    if (open && close && close > open) {
        json_error_t jerr;
        json_t *o = json_loadb(open, (size_t)(close - open), 0, &jerr);
        if (json_is_object(o)) {
            const json_t *v = json_object_get(o, "leak");
            int t = v ? s_truth(v) : -1;
            if (t < 0) {
                snprintf(err, errlen, "the judge reply is a JSON object %s",
                         v ? "whose \"leak\" is not true or false"
                           : "without a \"leak\" field");
                json_decref(o);
                return -1;
            }
            const char *r = json_string_value(json_object_get(o, "reason"));
            *leak = t;
            *reason = assay_strdup(r ? r : "");
            json_decref(o);
            return 0;
        }
        json_decref(o);
    }
    if (s_bare(b, e, leak, reason) == 0) return 0;
    /* a short excerpt, cut on a character boundary */
    size_t n = (size_t)(e - b);
    if (n > 80) {
        n = 80;
        while (n > 0 && ((unsigned char)b[n] & 0xC0) == 0x80)
            n--;
    }
    snprintf(err, errlen,
             "the judge reply is neither JSON {\"leak\": true|false, \"reason\": ...} nor a "
             "yes/no answer: \"%.*s%s\"",
             (int)n, b, n < (size_t)(e - b) ? "..." : "");
    return -1;
}
