/*  prompt.c: prompt templates (see prompt.h). */
#include "worker/llm/prompt.h"

#include "common/error.h"
#include "common/util.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *role;
    char *text;
} s_msg_t;

struct assay_prompt {
    char *name;
    int version;
    char hash[65];
    s_msg_t *msgs;
    int nmsgs;
};

static int s_valid_name(const char *name)
{
    if (!name || !*name || strlen(name) > 100) return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-'))
            return 0;
    return 1;
}

void assay_prompt_destroy(assay_prompt_t **self_p)
{
    if (!self_p || !*self_p) return;
    assay_prompt_t *self = *self_p;
    for (int i = 0; i < self->nmsgs; i++) {
        free(self->msgs[i].role);
        free(self->msgs[i].text);
    }
    free(self->msgs);
    free(self->name);
    free(self);
    *self_p = NULL;
}

/* trim blank lines at both ends of a message body */
static char *s_trim_lines(const char *s, size_t n)
{
    while (n > 0 && (*s == '\n' || *s == '\r'))
        s++, n--;
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        n--;
    return assay_strndup(s, n);
}

/* check that every {{ has its }} and a sane field name */
static int s_check_placeholders(const char *text, const char *origin, int line0, char *err,
                                size_t errlen)
{
    int line = line0;
    for (const char *p = text; *p; p++) {
        if (*p == '\n') line++;
        if (p[0] != '{' || p[1] != '{') continue;
        const char *end = strstr(p + 2, "}}");
        const char *nl = strchr(p + 2, '\n');
        if (!end || (nl && nl < end)) {
            snprintf(err, errlen, "%s:%d: \"{{\" without \"}}\" on the same line", origin, line);
            return ASSAY_EPARSE;
        }
        const char *f = p + 2;
        while (*f == ' ')
            f++;
        const char *fe = end;
        while (fe > f && fe[-1] == ' ')
            fe--;
        if (fe > f && fe[-1] == '?') fe--;
        if (fe == f) {
            snprintf(err, errlen, "%s:%d: empty placeholder", origin, line);
            return ASSAY_EPARSE;
        }
        for (const char *q = f; q < fe; q++) {
            if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
                  (*q >= '0' && *q <= '9') || *q == '_' || *q == '.')) {
                snprintf(err, errlen, "%s:%d: invalid character '%c' in placeholder", origin, line,
                         *q);
                return ASSAY_EPARSE;
            }
        }
        p = end + 1;
    }
    return 0;
}

assay_prompt_t *assay_prompt_parse(const char *name, const char *text, size_t len,
                                   const char *origin, char *err, size_t errlen)
{
    if (!s_valid_name(name)) {
        snprintf(err, errlen, "invalid template name \"%s\" (letters, digits, '_' and '-')",
                 name ? name : "");
        return NULL;
    }
    if (!assay_utf8_valid(text, len)) {
        snprintf(err, errlen, "%s: template is not valid UTF-8", origin);
        return NULL;
    }
    assay_prompt_t *self = ASSAY_NEW(assay_prompt_t);
    self->name = assay_strdup(name);
    assay_sha256_hex(text, len, self->hash);
    char *copy = assay_strndup(text, len);
    const char *p = copy;
    int line = 0;
    const char *body_start = NULL;
    int body_line = 0;
    char *role = NULL;
    int in_header = 1;
    while (*p) {
        line++;
        const char *nl = strchr(p, '\n');
        size_t ll = nl ? (size_t)(nl - p) : strlen(p);
        size_t tl = ll;
        while (tl > 0 && (p[tl - 1] == '\r' || p[tl - 1] == ' '))
            tl--;
        int is_role =
            tl > 1 && p[0] == '@' &&
            ((tl == 7 && memcmp(p, "@system", 7) == 0) || (tl == 5 && memcmp(p, "@user", 5) == 0) ||
             (tl == 10 && memcmp(p, "@assistant", 10) == 0));
        if (is_role) {
            if (role) {
                self->msgs =
                    assay_realloc(self->msgs, (size_t)(self->nmsgs + 1) * sizeof *self->msgs);
                self->msgs[self->nmsgs].role = role;
                self->msgs[self->nmsgs].text = s_trim_lines(body_start, (size_t)(p - body_start));
                if (s_check_placeholders(self->msgs[self->nmsgs].text, origin, body_line, err,
                                         errlen) != 0) {
                    self->nmsgs++;
                    goto fail;
                }
                self->nmsgs++;
            }
            role = assay_strndup(p + 1, tl - 1);
            in_header = 0;
            body_start = nl ? nl + 1 : p + ll;
            body_line = line + 1;
        } else if (in_header) {
            if (tl > 0 && p[0] == '#') {
                const char *v = p + 1;
                while (*v == ' ')
                    v++;
                if (strncmp(v, "version:", 8) == 0) {
                    char *end;
                    errno = 0;
                    long ver = strtol(v + 8, &end, 10);
                    while (*end == ' ' || *end == '\r')
                        end++;
                    if (errno || ver <= 0 || ver > 1000000 || (*end && *end != '\n')) {
                        snprintf(err, errlen, "%s:%d: version must be a positive integer", origin,
                                 line);
                        goto fail;
                    }
                    self->version = (int)ver;
                }
            } else if (tl > 0) {
                snprintf(err, errlen, "%s:%d: text before the first @system/@user line", origin,
                         line);
                goto fail;
            }
        }
        p = nl ? nl + 1 : p + ll;
    }
    if (role) {
        self->msgs = assay_realloc(self->msgs, (size_t)(self->nmsgs + 1) * sizeof *self->msgs);
        self->msgs[self->nmsgs].role = role;
        self->msgs[self->nmsgs].text = s_trim_lines(body_start, strlen(body_start));
        role = NULL;
        self->nmsgs++;
        if (s_check_placeholders(self->msgs[self->nmsgs - 1].text, origin, body_line, err,
                                 errlen) != 0)
            goto fail;
    }
    if (self->version == 0) {
        snprintf(err, errlen, "%s: missing \"# version: N\" line", origin);
        goto fail;
    }
    if (self->nmsgs == 0) {
        snprintf(err, errlen, "%s: no messages (expected @system / @user lines)", origin);
        goto fail;
    }
    free(copy);
    return self;
fail:
    free(role);
    free(copy);
    assay_prompt_destroy(&self);
    return NULL;
}

assay_prompt_t *assay_prompt_load(const char *dir, const char *name, char *err, size_t errlen)
{
    if (!s_valid_name(name)) {
        snprintf(err, errlen, "invalid template name \"%s\" (letters, digits, '_' and '-')",
                 name ? name : "");
        return NULL;
    }
    char *path = assay_sprintf("%s/%s.txt", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "could not open prompt template \"%s\": %s", path, strerror(errno));
        free(path);
        return NULL;
    }
    assay_buf_t b = ASSAY_BUF_INIT;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        assay_buf_add(&b, chunk, n);
    int ferr = ferror(f);
    fclose(f);
    assay_prompt_t *p = NULL;
    if (ferr)
        snprintf(err, errlen, "could not read prompt template \"%s\"", path);
    else
        p = assay_prompt_parse(name, b.data ? b.data : "", b.len, path, err, errlen);
    assay_buf_release(&b);
    free(path);
    return p;
}

const char *assay_prompt_name(const assay_prompt_t *self)
{
    return self->name;
}

int assay_prompt_version(const assay_prompt_t *self)
{
    return self->version;
}

const char *assay_prompt_hash(const assay_prompt_t *self)
{
    return self->hash;
}

static const json_t *s_lookup(const json_t *item, const char *path, size_t n)
{
    const json_t *cur = item;
    while (n > 0 && cur) {
        const char *dot = memchr(path, '.', n);
        size_t seg = dot ? (size_t)(dot - path) : n;
        char key[128];
        if (seg >= sizeof key) return NULL;
        memcpy(key, path, seg);
        key[seg] = '\0';
        cur = json_object_get(cur, key);
        if (!dot) break;
        path = dot + 1;
        n -= seg + 1;
    }
    return cur;
}

static int s_cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void s_render_value(assay_buf_t *out, const json_t *v)
{
    if (json_is_string(v)) {
        assay_buf_add(out, json_string_value(v), json_string_length(v));
    } else if (json_is_object(v)) {
        size_t n = json_object_size(v), i = 0;
        const char **keys = assay_malloc((n ? n : 1) * sizeof *keys);
        const char *k;
        const json_t *x;
        json_object_foreach((json_t *)v, k, x) keys[i++] = k;
        qsort(keys, n, sizeof *keys, s_cmp_str);
        for (i = 0; i < n; i++) {
            if (i) assay_buf_addc(out, '\n');
            assay_buf_adds(out, keys[i]);
            assay_buf_adds(out, ". ");
            s_render_value(out, json_object_get(v, keys[i]));
        }
        free(keys);
    } else if (json_is_array(v)) {
        size_t i;
        const json_t *x;
        json_array_foreach(v, i, x)
        {
            if (i) assay_buf_addc(out, '\n');
            s_render_value(out, x);
        }
    } else if (!json_is_null(v)) {
        char *s = json_dumps(v, JSON_ENCODE_ANY);
        if (s) assay_buf_adds(out, s);
        free(s);
    }
}

json_t *assay_prompt_render(const assay_prompt_t *self, const json_t *item, char *err,
                            size_t errlen)
{
    json_t *msgs = json_array();
    for (int i = 0; i < self->nmsgs; i++) {
        assay_buf_t out = ASSAY_BUF_INIT;
        const char *p = self->msgs[i].text;
        while (*p) {
            const char *open = strstr(p, "{{");
            if (!open) {
                assay_buf_adds(&out, p);
                break;
            }
            assay_buf_add(&out, p, (size_t)(open - p));
            const char *close = strstr(open + 2, "}}"); /* checked at parse time */
            const char *f = open + 2;
            while (*f == ' ')
                f++;
            const char *fe = close;
            while (fe > f && fe[-1] == ' ')
                fe--;
            int optional = 0;
            if (fe > f && fe[-1] == '?') optional = 1, fe--;
            const json_t *v = s_lookup(item, f, (size_t)(fe - f));
            if (!v || json_is_null(v)) {
                if (!optional) {
                    snprintf(err, errlen,
                             "template \"%s\" needs field \"%.*s\", which the item lacks",
                             self->name, (int)(fe - f), f);
                    assay_buf_release(&out);
                    json_decref(msgs);
                    return NULL;
                }
            } else {
                s_render_value(&out, v);
            }
            p = close + 2;
        }
        /* an empty optional field at the end leaves no trailing blanks */
        while (out.len > 0 && (out.data[out.len - 1] == ' ' || out.data[out.len - 1] == '\n'))
            out.data[--out.len] = '\0';
        json_array_append_new(msgs, json_pack("{s:s,s:s%}", "role", self->msgs[i].role, "content",
                                              out.data ? out.data : "", out.len));
        assay_buf_release(&out);
    }
    return msgs;
}

int assay_prompt_missing_field(const assay_prompt_t *self, const json_t *item, char *field,
                               size_t fieldlen)
{
    for (int i = 0; i < self->nmsgs; i++) {
        for (const char *p = self->msgs[i].text; (p = strstr(p, "{{")) != NULL;) {
            const char *close = strstr(p + 2, "}}"); /* checked at parse time */
            const char *f = p + 2;
            while (*f == ' ')
                f++;
            const char *fe = close;
            while (fe > f && fe[-1] == ' ')
                fe--;
            p = close + 2;
            if (fe > f && fe[-1] == '?') continue;
            const json_t *v = s_lookup(item, f, (size_t)(fe - f));
            if (!v || json_is_null(v)) {
                snprintf(field, fieldlen, "%.*s", (int)(fe - f), f);
                return 1;
            }
        }
    }
    return 0;
}

#ifndef ASSAY_PROMPTS_DIR
#define ASSAY_PROMPTS_DIR "ops/prompts"
#endif

const char *assay_prompts_default_dir(void)
{
    return ASSAY_PROMPTS_DIR;
}

/* ---- table ----------------------------------------------------------------------- */

struct assay_prompts {
    char *dir;
    assay_prompt_t **items;
    int n, cap;
};

assay_prompts_t *assay_prompts_new(const char *dir)
{
    assay_prompts_t *self = ASSAY_NEW(assay_prompts_t);
    self->dir = assay_strdup(dir);
    return self;
}

void assay_prompts_destroy(assay_prompts_t **self_p)
{
    if (!self_p || !*self_p) return;
    assay_prompts_t *self = *self_p;
    for (int i = 0; i < self->n; i++)
        assay_prompt_destroy(&self->items[i]);
    free(self->items);
    free(self->dir);
    free(self);
    *self_p = NULL;
}

const assay_prompt_t *assay_prompts_get(assay_prompts_t *self, const char *name, char *err,
                                        size_t errlen)
{
    for (int i = 0; i < self->n; i++)
        if (strcmp(self->items[i]->name, name) == 0) return self->items[i];
    assay_prompt_t *p = assay_prompt_load(self->dir, name, err, errlen);
    if (!p) return NULL;
    if (self->n == self->cap) {
        self->cap = self->cap ? self->cap * 2 : 8;
        self->items = assay_realloc(self->items, (size_t)self->cap * sizeof *self->items);
    }
    self->items[self->n++] = p;
    return p;
}

/* ---- what the gold holds ------------------------------------------------------------ */

int assay_prompt_gold_letters(const json_t *item)
{
    const json_t *a = json_object_get(item, "answer");
    unsigned mask = 0;
    if (json_is_string(a)) {
        const char *s = json_string_value(a);
        for (size_t i = 0; i < json_string_length(a); i++) {
            unsigned char c = (unsigned char)s[i];
            if (c >= 'a' && c <= 'z') c = (unsigned char)(c - 'a' + 'A');
            if (c >= 'A' && c <= 'Z')
                mask |= 1u << (c - 'A');
            else if (c != ',' && c != ' ' && c != ';' && c != '/' && c != '|') {
                mask = 0; /* an option's text, not letters */
                break;
            }
        }
    } else if (json_is_array(a)) {
        size_t i;
        const json_t *v;
        json_array_foreach(a, i, v)
        {
            const char *s = json_string_value(v);
            if (s && json_string_length(v) == 1 && ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')))
                mask |= 1u << ((*s >= 'a' ? *s - 'a' : *s - 'A'));
        }
    }
    int n = 0;
    for (; mask; mask &= mask - 1)
        n++;
    if (json_is_true(json_object_get(item, "multi_answer")) && n < 2) n = 2;
    return n;
}

/* one code point at s[*i] (len bytes in all); invalid bytes read as themselves */
static uint32_t s_cp(const char *s, size_t len, size_t *i)
{
    const unsigned char *u = (const unsigned char *)s + *i;
    size_t left = len - *i;
    if (u[0] < 0x80 || left < 2) {
        (*i)++;
        return u[0];
    }
    if ((u[0] & 0xE0) == 0xC0 && (u[1] & 0xC0) == 0x80) {
        *i += 2;
        return ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F);
    }
    if ((u[0] & 0xF0) == 0xE0 && left >= 3 && (u[1] & 0xC0) == 0x80 && (u[2] & 0xC0) == 0x80) {
        *i += 3;
        return ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
    }
    if ((u[0] & 0xF8) == 0xF0 && left >= 4 && (u[1] & 0xC0) == 0x80 && (u[2] & 0xC0) == 0x80 &&
        (u[3] & 0xC0) == 0x80) {
        *i += 4;
        return ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) |
               ((uint32_t)(u[2] & 0x3F) << 6) | (u[3] & 0x3F);
    }
    (*i)++;
    return u[0];
}

static int s_open_bracket(uint32_t c)
{
    return c == '(' || c == '[' || c == 0xFF08 || c == 0x3010 || c == 0x3014;
}

static int s_close_bracket(uint32_t c)
{
    return c == ')' || c == ']' || c == 0xFF09 || c == 0x3011 || c == 0x3015;
}

/* the list number want at s+i ("2." "2、" "2)" "(2)" "②"): its length in bytes,
 * else 0. A number right after a digit is part of a larger one. */
static size_t s_list_marker(const char *s, size_t len, size_t i, unsigned want)
{
    if (i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9') return 0;
    size_t j = i;
    uint32_t c = s_cp(s, len, &j);
    if (want <= 20 && c == 0x2460 + want - 1) return j - i; /* ① .. ⑳ */
    int bracketed = s_open_bracket(c);
    size_t k = bracketed ? j : i;
    unsigned num = 0;
    size_t digits = 0;
    while (k < len && s[k] >= '0' && s[k] <= '9' && digits < 3) {
        num = num * 10 + (unsigned)(s[k] - '0');
        k++, digits++;
    }
    if (digits == 0 || num != want || k >= len) return 0;
    size_t m = k;
    c = s_cp(s, len, &m);
    if (bracketed ? s_close_bracket(c)
                  : (c == '.' || c == 0x3001 || c == 0xFF0E || c == ')' || c == 0xFF09)) {
        return m - i;
    }
    return 0;
}

static int s_item_sep(uint32_t c)
{
    return c == 0xFF0C || c == ',' || c == 0xFF1B || c == ';' || c == 0x3001 || c == '\n' ||
           c == '\r' || c == 0x3002;
}

/* append s[0..len) trimmed of spaces and separators as one line; 1 when it was
 * not empty */
static size_t s_add_item(assay_buf_t *out, const char *s, size_t len)
{
    for (;;) {
        size_t i = 0;
        if (len == 0) return 0;
        uint32_t c = s_cp(s, len, &i);
        if (c == ' ' || c == '\t' || c == 0x3000 || s_item_sep(c) || c == '.')
            s += i, len -= i;
        else
            break;
    }
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '.' ||
                       s[len - 1] == '\n' || s[len - 1] == '\r'))
        len--;
    if (len == 0) return 0;
    if (out->len) assay_buf_addc(out, '\n');
    assay_buf_add(out, s, len);
    return 1;
}

size_t assay_prompt_list_split(const char *s, size_t len, assay_buf_t *out)
{
    size_t n = 0, start = 0, i = 0;
    unsigned want = 1;
    int depth = 0;
    while (i < len) {
        size_t m = depth == 0 ? s_list_marker(s, len, i, want) : 0;
        if (m > 0) {
            n += s_add_item(out, s + start, i - start);
            want++;
            i += m;
            start = i;
            continue;
        }
        size_t at = i;
        uint32_t c = s_cp(s, len, &i);
        if (s_open_bracket(c))
            depth++;
        else if (s_close_bracket(c) && depth > 0)
            depth--;
        else if (depth == 0 && s_item_sep(c)) {
            n += s_add_item(out, s + start, at - start);
            start = i;
        }
    }
    n += s_add_item(out, s + start, len - start);
    return n;
}

size_t assay_prompt_gold_split(const json_t *gold, assay_buf_t *out)
{
    if (json_is_string(gold)) return assay_prompt_list_split(json_string_value(gold), json_string_length(gold), out);
    size_t n = 0;
    if (json_is_array(gold)) {
        size_t i;
        const json_t *v;
        json_array_foreach(gold, i, v)
        {
            if (json_is_string(v)) n += s_add_item(out, json_string_value(v), json_string_length(v));
            else if (json_is_object(v)) { /* {"name"|"text": ..., "code": ...} */
                const json_t *t = json_object_get(v, "name");
                if (!json_is_string(t)) t = json_object_get(v, "text");
                if (json_is_string(t)) n += s_add_item(out, json_string_value(t), json_string_length(t));
            }
        }
    }
    return n;
}

const char *assay_prompt_default_name(const json_t *item)
{
    if (json_is_object(json_object_get(item, "options"))) return "answer_mcq";
    if (json_object_get(item, "text") && !json_object_get(item, "question")) return "answer_case";
    return "answer_open";
}

const char *assay_prompt_fit_name(const char *tname, const json_t *item, char *buf,
                                  size_t buflen)
{
    if (!strcmp(tname, "answer_mcq")) return assay_prompt_gold_letters(item) > 1 ? "answer_mcq_multi" : tname;
    if ((!strcmp(tname, "answer_case") || !strcmp(tname, "answer_case_clean")) &&
        assay_prompt_gold_count(item) > 1) {
        snprintf(buf, buflen, "%s_multi", tname);
        return buf;
    }
    return tname;
}

size_t assay_prompt_gold_count(const json_t *item)
{
    const json_t *g = json_object_get(item, "gold_items");
    if (!json_is_array(g) || json_array_size(g) == 0) g = json_object_get(item, "diagnosis");
    if (!json_is_string(g) && !json_is_array(g)) g = json_object_get(item, "answer");
    assay_buf_t b = ASSAY_BUF_INIT;
    size_t n = assay_prompt_gold_split(g, &b);
    assay_buf_release(&b);
    return n;
}
