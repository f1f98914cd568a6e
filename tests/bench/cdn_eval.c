/*  cdn_eval.c: accuracy of the normaliser on CHIP-CDN (physician-written diagnoses →
 *  北京临床版 v601 standard names), by k-fold cross-validation.
 *
 *  usage: cdn_eval [--data DIR] [--folds K] [--threshold T] [--sweep] [--limit N]
 *                  [--dump FILE]   (--dump: one JSON line per mention: text, gold, predicted)
 *
 *  For each fold the terminology is rebuilt from the TSVs of DIR without the
 *  chip_cdn aliases whose mention is in the held-out fold, with the other folds'
 *  mentions as its known mentions (what chip_cdn_train.jsonl in a terminology
 *  directory gives), and the normaliser runs at its default configuration, learning
 *  only from what that terminology holds. So no held-out mention is scored by an
 *  index or a model that has seen it, and the figure is what a user gets from
 *  `--terms DIR`. Prints micro
 *  precision, recall and F1 of the predicted standard-name sets; the last line is
 *  `cdn_precision=P cdn_recall=R cdn_f1=F`.
 */
#include "common/util.h"
#include "worker/domain/normalize.h"
#include "worker/domain/terms.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *text;
    char **names;
    size_t n_names;
} s_row_t;

typedef struct {
    assay_terms_builder_t *b;
    char **held; /* sorted normalised held-out mentions */
    size_t n_held;
    size_t skipped;
} s_ctx_t;

static int s_strcmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *s_key(const char *s)
{
    size_t n = assay_terms_normkey(s, NULL, 0);
    char *k = assay_malloc(n + 1);
    assay_terms_normkey(s, k, n + 1);
    return k;
}

static int s_row(void *arg, assay_terms_file_t f, size_t line, char **fields, size_t nfields,
                 char *err, size_t errlen)
{
    s_ctx_t *ctx = arg;
    if (f == ASSAY_TERMS_SYNONYMS && strcmp(fields[5], "chip_cdn") == 0) {
        char *k = s_key(fields[3]);
        int held = bsearch(&k, ctx->held, ctx->n_held, sizeof(char *), s_strcmp) != NULL;
        free(k);
        if (held) {
            ctx->skipped++;
            return 0;
        }
    }
    char where[64];
    snprintf(where, sizeof where, "%s:%zu", assay_terms_file_name(f), line);
    return assay_terms_builder_add(ctx->b, f, (const char *const *)fields, nfields, where, err,
                                   errlen);
}

static s_row_t *s_read_rows(const char *path, size_t *n_out)
{
    FILE *fp = fopen(path, "r");
    if (!fp) return NULL;
    size_t cap = 1024, n = 0;
    s_row_t *rows = assay_malloc(cap * sizeof *rows);
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    size_t lineno = 0;
    while ((len = getline(&line, &lcap, fp)) > 0) {
        lineno++;
        json_error_t je;
        json_t *o = json_loadb(line, (size_t)len, 0, &je);
        const char *text = o ? json_string_value(json_object_get(o, "text")) : NULL;
        json_t *norm = o ? json_object_get(o, "normalized") : NULL;
        if (!text || !json_is_array(norm)) {
            fprintf(stderr, "%s:%zu: expected {\"text\": string, \"normalized\": [string]}\n", path,
                    lineno);
            json_decref(o);
            continue;
        }
        if (n == cap) {
            cap *= 2;
            rows = assay_realloc(rows, cap * sizeof *rows);
        }
        s_row_t *r = &rows[n++];
        r->text = assay_strdup(text);
        r->n_names = json_array_size(norm);
        r->names = assay_calloc(r->n_names + 1, sizeof(char *));
        for (size_t i = 0; i < r->n_names; i++) {
            const char *s = json_string_value(json_array_get(norm, i));
            r->names[i] = assay_strdup(s ? s : "");
        }
        json_decref(o);
    }
    free(line);
    fclose(fp);
    *n_out = n;
    return rows;
}

#define S_NT 9
static const double s_thresholds[S_NT] = {0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5};

int main(int argc, char **argv)
{
    const char *dir = "../shared/data";
    int folds = 5, sweep = 0;
    double threshold = -1;
    size_t limit = 0;
    const char *dump = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--folds") == 0 && i + 1 < argc)
            folds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--threshold") == 0 && i + 1 < argc)
            threshold = atof(argv[++i]);
        else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc)
            limit = (size_t)atol(argv[++i]);
        else if (strcmp(argv[i], "--dump") == 0 && i + 1 < argc)
            dump = argv[++i];
        else if (strcmp(argv[i], "--sweep") == 0)
            sweep = 1;
        else {
            fprintf(stderr,
                    "usage: %s [--data DIR] [--folds K] [--threshold T] [--sweep] "
                    "[--limit N] [--dump FILE]\n",
                    argv[0]);
            return 2;
        }
    }
    if (folds < 2) {
        fprintf(stderr, "cdn_eval: --folds must be at least 2\n");
        return 2;
    }
    char *path = assay_sprintf("%s/chip_cdn_train.jsonl", dir);
    size_t n_rows = 0;
    s_row_t *rows = s_read_rows(path, &n_rows);
    if (!rows) {
        fprintf(stderr, "cdn_eval: could not open file \"%s\"\n", path);
        free(path);
        return 1;
    }
    free(path);
    size_t n_all = n_rows;
    if (limit && limit < n_rows) n_rows = limit;

    assay_normalize_opts_t opts;
    assay_normalize_opts_default(&opts);
    opts.system = ASSAY_SYS_BJV601;
    if (threshold >= 0) opts.min_confidence = threshold;
    double final_thr = opts.min_confidence;
    if (sweep) opts.min_confidence = s_thresholds[0];

    size_t tp[S_NT] = {0}, fp[S_NT] = {0}, fn[S_NT] = {0};
    size_t TP = 0, FP = 0, FN = 0;
    FILE *dfp = NULL;
    if (dump && !(dfp = fopen(dump, "w"))) {
        fprintf(stderr, "cdn_eval: could not create file \"%s\"\n", dump);
        return 1;
    }
    int64_t t_build = 0, t_prepare = 0, t_run = 0;
    size_t n_test = 0;
    assay_entities_t ents = ASSAY_ENTITIES_INIT;
    for (int k = 0; k < folds; k++) {
        s_ctx_t ctx = {0};
        ctx.held = assay_malloc((n_rows / (size_t)folds + 2) * sizeof(char *));
        for (size_t i = (size_t)k; i < n_rows; i += (size_t)folds)
            ctx.held[ctx.n_held++] = s_key(rows[i].text);
        qsort(ctx.held, ctx.n_held, sizeof(char *), s_strcmp);
        int64_t t0 = assay_clock_us();
        ctx.b = assay_terms_builder_new();
        char err[512];
        for (int f = 0; f < ASSAY_TERMS_FILE_COUNT; f++) {
            if (assay_terms_read_tsv(dir, (assay_terms_file_t)f, s_row, &ctx, err, sizeof err) <
                0) {
                fprintf(stderr, "cdn_eval: %s\n", err);
                return 1;
            }
        }
        /* the other folds' mentions are the terminology's known mentions, exactly as
         * chip_cdn_train.jsonl next to the TSVs would be: the normaliser below uses
         * its default configuration and learns from them by itself */
        for (size_t i = 0; i < n_rows; i++) {
            if (i % (size_t)folds == (size_t)k) continue;
            if (assay_terms_builder_add_example(ctx.b, rows[i].text,
                                                (const char *const *)rows[i].names,
                                                rows[i].n_names, "chip_cdn_train.jsonl", err,
                                                sizeof err) < 0) {
                fprintf(stderr, "cdn_eval: %s\n", err);
                return 1;
            }
        }
        assay_terms_t *terms = assay_terms_builder_finish(&ctx.b, err, sizeof err);
        if (!terms) {
            fprintf(stderr, "cdn_eval: %s\n", err);
            return 1;
        }
        int64_t t1 = assay_clock_us();
        assay_normalizer_t *nz = assay_normalizer_new(terms, &opts, err, sizeof err);
        if (!nz) {
            fprintf(stderr, "cdn_eval: %s\n", err);
            return 1;
        }
        assay_normalizer_prepare(nz);
        int64_t t2 = assay_clock_us();
        size_t ftp = 0, ffp = 0, ffn = 0;
        for (size_t i = (size_t)k; i < n_rows; i += (size_t)folds) {
            const s_row_t *r = &rows[i];
            n_test++;
            assay_normalize_text(nz, r->text, strlen(r->text), &ents);
            for (int ti = 0; ti < (sweep ? S_NT : 1); ti++) {
                double thr = sweep ? s_thresholds[ti] : final_thr;
                /* the predicted name set at this threshold */
                const char *pred[256];
                size_t np = 0;
                for (size_t e = 0; e < ents.n && np < 256; e++) {
                    if (ents.items[e].confidence < thr) continue;
                    int dup = 0;
                    for (size_t q = 0; q < np; q++)
                        dup |= strcmp(pred[q], ents.items[e].name) == 0;
                    if (!dup) pred[np++] = ents.items[e].name;
                }
                size_t hit = 0, ngold = 0;
                for (size_t g = 0; g < r->n_names; g++) {
                    int dupg = 0;
                    for (size_t q = 0; q < g; q++)
                        dupg |= strcmp(r->names[q], r->names[g]) == 0;
                    if (dupg) continue;
                    ngold++;
                    for (size_t q = 0; q < np; q++)
                        if (strcmp(pred[q], r->names[g]) == 0) {
                            hit++;
                            break;
                        }
                }
                if (dfp && ti == 0) {
                    json_t *o = json_object(), *g = json_array(), *p = json_array();
                    for (size_t q = 0; q < r->n_names; q++)
                        json_array_append_new(g, json_string(r->names[q]));
                    for (size_t q = 0; q < np; q++)
                        json_array_append_new(p, json_string(pred[q]));
                    json_object_set_new(o, "text", json_string(r->text));
                    json_object_set_new(o, "gold", g);
                    json_object_set_new(o, "predicted", p);
                    char *js = json_dumps(o, 0);
                    fprintf(dfp, "%s\n", js);
                    free(js);
                    json_decref(o);
                }
                size_t *TPp = sweep ? &tp[ti] : &TP, *FPp = sweep ? &fp[ti] : &FP,
                       *FNp = sweep ? &fn[ti] : &FN;
                *TPp += hit;
                *FPp += np - hit;
                *FNp += ngold - hit;
                if (!sweep) {
                    ftp += hit;
                    ffp += np - hit;
                    ffn += ngold - hit;
                }
            }
        }
        int64_t t3 = assay_clock_us();
        t_build += t1 - t0;
        t_prepare += t2 - t1;
        t_run += t3 - t2;
        if (!sweep) {
            double p = ftp ? (double)ftp / (double)(ftp + ffp) : 0,
                   rc = ftp ? (double)ftp / (double)(ftp + ffn) : 0;
            printf("fold %d: %zu held-out mentions (%zu chip_cdn aliases left out), precision %.4f "
                   "recall %.4f f1 %.4f\n",
                   k, ctx.n_held, ctx.skipped, p, rc, p + rc > 0 ? 2 * p * rc / (p + rc) : 0);
        }
        fflush(stdout);
        for (size_t i = 0; i < ctx.n_held; i++)
            free(ctx.held[i]);
        free(ctx.held);
        assay_normalizer_destroy(&nz);
        assay_terms_destroy(&terms);
    }
    assay_entities_release(&ents);
    if (dfp) fclose(dfp);
    if (sweep) {
        size_t best = 0;
        double bestf = -1;
        for (int ti = 0; ti < S_NT; ti++) {
            double p = tp[ti] ? (double)tp[ti] / (double)(tp[ti] + fp[ti]) : 0;
            double r = tp[ti] ? (double)tp[ti] / (double)(tp[ti] + fn[ti]) : 0;
            double f = p + r > 0 ? 2 * p * r / (p + r) : 0;
            printf("threshold %.2f: precision %.4f recall %.4f f1 %.4f\n", s_thresholds[ti], p, r,
                   f);
            if (f > bestf) {
                bestf = f;
                best = (size_t)ti;
            }
            if (s_thresholds[ti] > final_thr - 1e-9 && s_thresholds[ti] < final_thr + 1e-9) {
                TP = tp[ti];
                FP = fp[ti];
                FN = fn[ti];
            }
        }
        printf("best threshold %.2f (the figures below are at the default %.2f)\n",
               s_thresholds[best], final_thr);
    }
    double P = TP ? (double)TP / (double)(TP + FP) : 0, R = TP ? (double)TP / (double)(TP + FN) : 0;
    double F = P + R > 0 ? 2 * P * R / (P + R) : 0;
    printf("%d-fold cross-validation over %zu mentions: terminology build %.2f s/fold, "
           "normaliser preparation %.2f s/fold, %.0f mentions/s\n",
           folds, n_test, (double)t_build / 1e6 / folds, (double)t_prepare / 1e6 / folds,
           t_run > 0 ? (double)n_test / ((double)t_run / 1e6) : 0);
    printf("micro precision %.4f recall %.4f f1 %.4f (tp %zu fp %zu fn %zu)\n", P, R, F, TP, FP,
           FN);
    printf("cdn_precision=%.4f cdn_recall=%.4f cdn_f1=%.4f\n", P, R, F);
    for (size_t i = 0; i < n_all; i++) {
        free(rows[i].text);
        for (size_t j = 0; j < rows[i].n_names; j++)
            free(rows[i].names[j]);
        free(rows[i].names);
    }
    free(rows);
    return 0;
}
