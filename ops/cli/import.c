/*  import.c: see import.h */
#include "ops/cli/import.h"

#include "common/db/db.h"
#include "common/util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int s_opt_string(const json_t *item, const char *key, char *err, size_t errlen)
{
    json_t *v = json_object_get(item, key);
    if (v && !json_is_string(v) && !json_is_null(v)) {
        snprintf(err, errlen, "field \"%s\": expected a string", key);
        return -1;
    }
    return 0;
}

static int s_string_array(const json_t *item, const char *key, char *err, size_t errlen)
{
    json_t *v = json_object_get(item, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_array(v)) {
        snprintf(err, errlen, "field \"%s\": expected an array of strings", key);
        return -1;
    }
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e)) {
            snprintf(err, errlen, "field \"%s\"[%zu]: expected a string", key, i);
            return -1;
        }
    }
    return 0;
}

static const char *s_str(const json_t *item, const char *key)
{
    json_t *v = json_object_get(item, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

int assay_item_check(const json_t *item, assay_item_info_t *info, char *err, size_t errlen)
{
    if (!json_is_object(item)) {
        snprintf(err, errlen, "expected a JSON object per line");
        return -1;
    }
    static const char *const strs[] = {"question", "text",      "context",          "answer",
                                       "diagnosis", "category", "reference_answer", "source",
                                       "kind",      NULL};
    for (const char *const *k = strs; *k; k++)
        if (s_opt_string(item, *k, err, errlen)) return -1;
    if (s_string_array(item, "gold_codes", err, errlen) || s_string_array(item, "tags", err, errlen))
        return -1;
    json_t *id = json_object_get(item, "id");
    if (id && !json_is_string(id) && !json_is_integer(id) && !json_is_null(id)) {
        snprintf(err, errlen, "field \"id\": expected a string or an integer");
        return -1;
    }
    /* the item's own priority orders its tasks (job_items.priority, an integer) */
    json_t *prio = json_object_get(item, "priority");
    if (prio && !json_is_null(prio) &&
        (!json_is_integer(prio) || json_integer_value(prio) < -2147483647 - 1 ||
         json_integer_value(prio) > 2147483647)) {
        char *got = json_dumps(prio, JSON_ENCODE_ANY | JSON_COMPACT);
        snprintf(err, errlen,
                 "field \"priority\": expected an integer from -2147483648 to 2147483647 "
                 "(higher runs first), got %.40s",
                 got ? got : "?");
        free(got);
        return -1;
    }
    json_t *fields = json_object_get(item, "fields");
    if (fields && !json_is_object(fields) && !json_is_null(fields)) {
        snprintf(err, errlen, "field \"fields\": expected an object of named sections");
        return -1;
    }
    json_t *options = json_object_get(item, "options");
    if (json_is_null(options)) options = NULL;
    if (options) {
        if (!json_is_object(options) || json_object_size(options) < 2) {
            snprintf(err, errlen, "field \"options\": expected an object of at least two options "
                                  "like {\"A\": \"...\", \"B\": \"...\"}");
            return -1;
        }
        const char *key;
        json_t *v;
        json_object_foreach(options, key, v)
        {
            if (strlen(key) != 1 || !isupper((unsigned char)key[0])) {
                snprintf(err, errlen, "field \"options\": key \"%s\" is not an option letter A-Z",
                         key);
                return -1;
            }
            if (!json_is_string(v)) {
                snprintf(err, errlen, "field \"options\".%s: expected a string", key);
                return -1;
            }
        }
    }

    const char *kind = s_str(item, "kind");
    if (kind) {
        if (strcmp(kind, "mcq") && strcmp(kind, "case") && strcmp(kind, "open")) {
            snprintf(err, errlen, "field \"kind\": \"%s\" is not one of mcq, case, open", kind);
            return -1;
        }
    } else if (options) {
        kind = "mcq";
    } else if (s_str(item, "text") || s_str(item, "diagnosis")) {
        kind = "case";
    } else {
        kind = "open";
    }
    info->kind = strcmp(kind, "mcq") == 0 ? "mcq" : strcmp(kind, "case") == 0 ? "case" : "open";

    const char *question = s_str(item, "question");
    if (strcmp(info->kind, "case") == 0 && s_str(item, "text")) question = s_str(item, "text");
    if (!question || !*question) {
        snprintf(err, errlen, "field \"%s\": missing or empty (every item needs the question%s)",
                 strcmp(info->kind, "case") == 0 ? "text" : "question",
                 strcmp(info->kind, "case") == 0 ? " or case text" : "");
        return -1;
    }
    info->question = question;

    if (strcmp(info->kind, "mcq") == 0) {
        if (!options) {
            snprintf(err, errlen, "field \"options\": missing (kind mcq needs options)");
            return -1;
        }
        const char *ans = s_str(item, "answer");
        if (ans) {
            if (!*ans) {
                snprintf(err, errlen, "field \"answer\": empty (expected option letters)");
                return -1;
            }
            for (const char *p = ans; *p; p++) {
                char letter[2] = {*p, 0};
                if (!json_object_get(options, letter)) {
                    snprintf(err, errlen, "field \"answer\": \"%s\" names an option that does "
                                          "not exist (expected letters of \"options\")", ans);
                    return -1;
                }
            }
        }
    }
    if (strcmp(info->kind, "case") == 0 && !s_str(item, "diagnosis") && !s_str(item, "answer")) {
        snprintf(err, errlen, "field \"diagnosis\": missing (a case record needs its diagnosis)");
        return -1;
    }

    /* the content hash covers what makes two items the same question */
    assay_buf_t b = ASSAY_BUF_INIT;
    assay_buf_adds(&b, info->kind);
    assay_buf_addc(&b, '\0');
    assay_buf_adds(&b, question);
    assay_buf_addc(&b, '\0');
    const char *ctx = s_str(item, "context");
    if (ctx) assay_buf_adds(&b, ctx);
    assay_buf_addc(&b, '\0');
    if (options) {
        char *o = json_dumps(options, JSON_SORT_KEYS | JSON_COMPACT);
        assay_buf_adds(&b, o);
        free(o);
    }
    assay_sha256_hex(b.data, b.len, info->hash);
    assay_buf_release(&b);
    return 0;
}

/* a text value, or \N for SQL NULL */
static void s_copy_text(assay_buf_t *row, const char *s)
{
    if (s)
        assay_db_copy_escape(row, s, strlen(s));
    else
        assay_buf_add(row, "\\N", 2);
}

/* an array of strings as a text[] literal with every element quoted ('{}' when the
 * field is absent or not an array, like the import always stored it) */
static void s_copy_text_array(assay_buf_t *row, const json_t *v, assay_buf_t *tmp)
{
    assay_buf_reset(tmp);
    assay_buf_addc(tmp, '{');
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        if (i > 0) assay_buf_addc(tmp, ',');
        assay_buf_addc(tmp, '"');
        const char *s = json_string_value(e);
        size_t n = json_string_length(e);
        for (size_t k = 0; k < n; k++) {
            if (s[k] == '"' || s[k] == '\\') assay_buf_addc(tmp, '\\');
            assay_buf_addc(tmp, s[k]);
        }
        assay_buf_addc(tmp, '"');
    }
    assay_buf_addc(tmp, '}');
    assay_db_copy_escape(row, tmp->data, tmp->len);
}

void assay_item_copy_row(assay_buf_t *row, const char *dataset, const json_t *item,
                         const assay_item_info_t *info, const char *line, size_t len)
{
    assay_buf_t tmp = ASSAY_BUF_INIT;
    s_copy_text(row, dataset);
    assay_buf_addc(row, '\t');
    json_t *id = json_object_get(item, "id");
    if (json_is_integer(id))
        assay_buf_addf(row, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
    else
        s_copy_text(row, s_str(item, "id"));
    assay_buf_addf(row, "\t%s\t", info->kind);
    s_copy_text(row, info->question);
    assay_buf_addc(row, '\t');
    s_copy_text(row, s_str(item, "context"));
    assay_buf_addc(row, '\t');
    json_t *options = json_object_get(item, "options");
    if (json_is_object(options)) {
        char *o = json_dumps(options, JSON_COMPACT);
        s_copy_text(row, o);
        free(o);
    } else {
        s_copy_text(row, NULL);
    }
    assay_buf_addc(row, '\t');
    const char *answer = s_str(item, "answer");
    if (!answer) answer = s_str(item, "diagnosis");
    if (!answer) answer = s_str(item, "reference_answer");
    s_copy_text(row, answer);
    assay_buf_addc(row, '\t');
    s_copy_text_array(row, json_object_get(item, "gold_codes"), &tmp);
    assay_buf_addc(row, '\t');
    s_copy_text(row, s_str(item, "category"));
    assay_buf_addc(row, '\t');
    s_copy_text_array(row, json_object_get(item, "tags"), &tmp);
    assay_buf_addc(row, '\t');
    s_copy_text(row, s_str(item, "source"));
    assay_buf_addc(row, '\t');
    assay_db_copy_escape(row, line, len);
    assay_buf_addf(row, "\t%s\n", info->hash);
    assay_buf_release(&tmp);
}
