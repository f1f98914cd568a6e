/*  table.c: terminal tables and JSON from query results (see table.h) */
#include "ops/cli/table.h"

#include "common/util.h"

#include <stdlib.h>
#include <string.h>

/* type oids from pg_type.h (stable across releases) */
enum {
    S_BOOLOID = 16,
    S_INT8OID = 20,
    S_INT2OID = 21,
    S_INT4OID = 23,
    S_FLOAT4OID = 700,
    S_FLOAT8OID = 701,
    S_NUMERICOID = 1700,
};

static int s_is_int(Oid t)
{
    return t == S_INT8OID || t == S_INT2OID || t == S_INT4OID;
}

static int s_is_number(Oid t)
{
    return s_is_int(t) || t == S_FLOAT4OID || t == S_FLOAT8OID || t == S_NUMERICOID;
}

int assay_cli_table_numeric(const PGresult *res, int col)
{
    return s_is_number(PQftype(res, col));
}

/* wide code points: Hangul Jamo, CJK, Hangul syllables, compatibility forms,
 * full-width forms and the supplementary ideographic planes */
static int s_wide(unsigned cp)
{
    return (cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF) ||
           (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
           (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
           (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x20000 && cp <= 0x3FFFD);
}

int assay_cli_display_width(const char *s)
{
    int w = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned cp;
        int len;
        if (*p < 0x80)
            cp = *p, len = 1;
        else if ((*p & 0xE0) == 0xC0)
            cp = *p & 0x1F, len = 2;
        else if ((*p & 0xF0) == 0xE0)
            cp = *p & 0x0F, len = 3;
        else if ((*p & 0xF8) == 0xF0)
            cp = *p & 0x07, len = 4;
        else
            cp = 0xFFFD, len = 1; /* invalid lead byte: one column */
        for (int k = 1; k < len; k++) {
            if ((p[k] & 0xC0) != 0x80) {
                len = k;
                break;
            }
            cp = (cp << 6) | (p[k] & 0x3F);
        }
        w += s_wide(cp) ? 2 : 1;
        p += len;
    }
    return w;
}

static void s_pad(FILE *out, int n)
{
    for (int i = 0; i < n; i++)
        fputc(' ', out);
}

void assay_cli_table_print(FILE *out, const PGresult *res, const char *title, int color)
{
    int nf = PQnfields(res), nr = PQntuples(res);
    if (title) fprintf(out, "%s%s%s\n", color ? "\033[1m" : "", title, color ? "\033[0m" : "");
    if (nr == 0) {
        fprintf(out, "  (none)\n\n");
        return;
    }
    int *width = assay_malloc((size_t)nf * sizeof *width);
    for (int c = 0; c < nf; c++) {
        width[c] = assay_cli_display_width(PQfname(res, c));
        for (int r = 0; r < nr; r++) {
            int w = PQgetisnull(res, r, c) ? 1 : assay_cli_display_width(PQgetvalue(res, r, c));
            if (w > width[c]) width[c] = w;
        }
    }
    for (int r = -1; r < nr; r++) {
        fputs("  ", out);
        for (int c = 0; c < nf; c++) {
            const char *v = r < 0                    ? PQfname(res, c)
                            : PQgetisnull(res, r, c) ? "-"
                                                     : PQgetvalue(res, r, c);
            int pad = width[c] - assay_cli_display_width(v);
            int right = s_is_number(PQftype(res, c));
            if (right) s_pad(out, pad);
            fputs(v, out);
            if (!right && c + 1 < nf) s_pad(out, pad);
            if (c + 1 < nf) fputs("  ", out);
        }
        fputc('\n', out);
    }
    fputc('\n', out);
    free(width);
}

json_t *assay_cli_table_json(const PGresult *res)
{
    int nf = PQnfields(res), nr = PQntuples(res);
    json_t *arr = json_array();
    for (int r = 0; r < nr; r++) {
        json_t *o = json_object();
        for (int c = 0; c < nf; c++) {
            const char *v = PQgetvalue(res, r, c);
            Oid t = PQftype(res, c);
            json_t *j;
            if (PQgetisnull(res, r, c))
                j = json_null();
            else if (s_is_int(t))
                j = json_integer(strtoll(v, NULL, 10));
            else if (s_is_number(t))
                j = json_real(strtod(v, NULL));
            else if (t == S_BOOLOID)
                j = json_boolean(v[0] == 't');
            else
                j = json_string(v);
            /* a string that is not UTF-8 cannot go into JSON; keep the key */
            json_object_set_new(o, PQfname(res, c), j ? j : json_null());
        }
        json_array_append_new(arr, o);
    }
    return arr;
}
