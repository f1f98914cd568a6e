/*  verifier_eval.c: material and scoring for tests/bench/verifier_eval.sh, the
 *  k-fold self-evaluation of the rule verifier on CHIP-CDN.
 *
 *    verifier_eval prepare DATA_DIR OUT_DIR K
 *        For each fold k (mention i belongs to fold i mod K) writes OUT_DIR/fold_k/:
 *          - a terminology directory: the TSVs of DATA_DIR (symbolic links), but
 *            icd10_synonyms.tsv without the chip_cdn aliases whose mention is held
 *            out, and chip_cdn_train.jsonl with the other folds' mentions only (the
 *            known mentions the normaliser learns from by default). So no held-out
 *            mention is in any index or model that scores it;
 *          - pairs.jsonl: verify inputs built from the held-out mentions that have
 *            exactly one standard name (multi-name mentions stay in the training
 *            folds but make no pairs: a sibling of a list is ill-defined):
 *              same       gold = the mention's own standard name
 *              sibling    gold = the standard name of another bj_v601 code in the
 *                         same 3-character category: neither an ancestor nor a
 *                         descendant of the gold code, with another standard name,
 *                         and not a synonym coded twice (a sibling whose name is an
 *                         alias of a concept named like the gold, or the other way
 *                         round, is skipped and the next sibling taken; mentions
 *                         whose every sibling is such a synonym make no pair)
 *              unrelated  gold = the standard name of a bj_v601 code in another
 *                         ICD chapter
 *            each {"kind": "case", "answer": GOLD, "sample": {"answer": MENTION},
 *            "pair": TYPE}. Siblings and unrelated codes are chosen by a hash of
 *            the mention, so runs are reproducible.
 *        Prints the pair counts and how many siblings were skipped as synonyms.
 *
 *    verifier_eval score FILE...
 *        Reads `assay run verify` output lines (the pairs with score and correct
 *        added) and prints acceptance (share of `correct`) per pair type and the
 *        AUC of the score for same against sibling and same against unrelated
 *        (Mann-Whitney, ties count one half). Lines with an "error" count as
 *        score 0, not correct. Last line:
 *        accept_same=… accept_sibling=… accept_unrelated=… auc_same_sibling=…
 *        auc_same_unrelated=…
 */
#include "common/util.h"
#include "worker/domain/terms.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static uint64_t s_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

typedef struct {
    char *line; /* the original JSONL line */
    char *text;
    char **names;
    size_t n_names;
} s_row_t;

static s_row_t *s_read_rows(const char *path, size_t *n_out)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        fprintf(stderr, "verifier_eval: could not open file \"%s\": %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1024, n = 0;
    s_row_t *rows = assay_malloc(cap * sizeof *rows);
    char *line = NULL;
    size_t lcap = 0, lineno = 0;
    ssize_t len;
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
        if (n == cap) rows = assay_realloc(rows, (cap *= 2) * sizeof *rows);
        s_row_t *r = &rows[n++];
        r->line = assay_strdup(line);
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

/* 1 when some concept named a has b (normalised) as an alias */
static int s_alias_of(const assay_terms_t *t, const char *a, const char *b)
{
    assay_name_hit_t hits[16];
    size_t n = assay_terms_find_name(t, a, ASSAY_SYS_ANY, hits, 16);
    if (n > 16) n = 16;
    char *kb = s_key(b);
    int found = 0;
    for (size_t i = 0; i < n && !found; i++) {
        if (hits[i].alias != UINT32_MAX) continue; /* a must be the standard name */
        assay_term_id_t c = hits[i].concept;
        size_t na = assay_terms_alias_count(t, c);
        for (size_t k = 0; k < na && !found; k++) {
            assay_alias_t al;
            if (assay_terms_alias(t, c, k, &al) < 0) continue;
            char *ka = s_key(al.text);
            found = strcmp(ka, kb) == 0;
            free(ka);
        }
    }
    free(kb);
    return found;
}

/* bj_v601 clinical-or-deeper concepts with name, the first one */
static assay_term_id_t s_bj_concept(const assay_terms_t *t, const char *name)
{
    assay_name_hit_t hits[16];
    size_t n = assay_terms_find_name(t, name, ASSAY_SYS_BJV601, hits, 16);
    if (n > 16) n = 16;
    for (size_t i = 0; i < n; i++)
        if (hits[i].alias == UINT32_MAX) return hits[i].concept;
    return ASSAY_TERM_NONE;
}

/* the 3-character category above c */
static assay_term_id_t s_category(const assay_terms_t *t, assay_term_id_t c)
{
    while (c != ASSAY_TERM_NONE && assay_terms_level(t, c) > ASSAY_LEVEL_CATEGORY)
        c = assay_terms_parent(t, c);
    return c != ASSAY_TERM_NONE && assay_terms_level(t, c) == ASSAY_LEVEL_CATEGORY ? c
                                                                                   : ASSAY_TERM_NONE;
}

/* every bj_v601 concept below (and at) root */
static void s_descendants(const assay_terms_t *t, assay_term_id_t root, assay_term_id_t **out,
                          size_t *n, size_t *cap)
{
    if (assay_terms_system(t, root) == ASSAY_SYS_BJV601 ||
        assay_terms_system(t, root) == ASSAY_SYS_ICD10) {
        if (*n == *cap) *out = assay_realloc(*out, (*cap = *cap ? *cap * 2 : 64) * sizeof **out);
        (*out)[(*n)++] = root;
    }
    size_t k = assay_terms_child_count(t, root);
    for (size_t i = 0; i < k; i++)
        s_descendants(t, assay_terms_child(t, root, i), out, n, cap);
}

static int s_mkdir(const char *p)
{
    if (mkdir(p, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "verifier_eval: could not create directory \"%s\": %s\n", p,
                strerror(errno));
        return -1;
    }
    return 0;
}

static void s_pair_line(FILE *f, const char *gold, const char *mention, const char *type)
{
    json_t *o = json_pack("{s:s, s:s, s:{s:s}, s:s}", "kind", "case", "answer", gold, "sample",
                          "answer", mention, "pair", type);
    char *s = json_dumps(o, JSON_COMPACT);
    fprintf(f, "%s\n", s);
    free(s);
    json_decref(o);
}

static int s_prepare(const char *dir, const char *outdir, int folds)
{
    char *path = assay_sprintf("%s/chip_cdn_train.jsonl", dir);
    size_t n_rows = 0;
    s_row_t *rows = s_read_rows(path, &n_rows);
    free(path);
    if (!rows) return 1;
    char err[512];
    assay_terms_t *t = assay_terms_load_dir(dir, err, sizeof err);
    if (!t) {
        fprintf(stderr, "verifier_eval: %s\n", err);
        return 1;
    }
    /* unrelated candidates: bj_v601 clinical codes */
    size_t nc = assay_terms_concept_count(t), n_bj = 0;
    assay_term_id_t *bj = assay_malloc(nc * sizeof *bj);
    for (assay_term_id_t c = 0; c < nc; c++)
        if (assay_terms_system(t, c) == ASSAY_SYS_BJV601) bj[n_bj++] = c;
    if (s_mkdir(outdir) < 0) return 1;
    size_t tot_same = 0, tot_sib = 0, tot_unrel = 0, tot_syn = 0, tot_nosib = 0, tot_multi = 0;
    size_t tot_unknown = 0;
    for (int k = 0; k < folds; k++) {
        char *fd = assay_sprintf("%s/fold_%d", outdir, k);
        if (s_mkdir(fd) < 0) return 1;
        static const char *const linked[] = {"icd10.tsv", "icd10_bj_v601.tsv", "kg_nodes.tsv",
                                             "kg_edges.tsv"};
        for (size_t i = 0; i < 4; i++) {
            char *src = assay_sprintf("%s/%s", dir, linked[i]);
            char *dst = assay_sprintf("%s/%s", fd, linked[i]);
            char *abs = realpath(src, NULL);
            unlink(dst);
            if (abs && symlink(abs, dst) < 0) {
                fprintf(stderr, "verifier_eval: could not link \"%s\": %s\n", dst,
                        strerror(errno));
                return 1;
            }
            free(abs);
            free(src);
            free(dst);
        }
        /* held-out mentions, normalised */
        char **held = assay_malloc((n_rows / (size_t)folds + 2) * sizeof(char *));
        size_t n_held = 0;
        for (size_t i = (size_t)k; i < n_rows; i += (size_t)folds)
            held[n_held++] = s_key(rows[i].text);
        qsort(held, n_held, sizeof(char *), s_strcmp);
        /* synonyms without the held-out chip_cdn mentions */
        char *sp = assay_sprintf("%s/icd10_synonyms.tsv", dir);
        char *dp = assay_sprintf("%s/icd10_synonyms.tsv", fd);
        FILE *in = fopen(sp, "r"), *out = fopen(dp, "w");
        if (!in || !out) {
            fprintf(stderr, "verifier_eval: could not copy \"%s\" to \"%s\"\n", sp, dp);
            return 1;
        }
        char *line = NULL;
        size_t lcap = 0, dropped = 0;
        while (getline(&line, &lcap, in) > 0) {
            char *copy = assay_strdup(line), *f[6] = {0}, *save = NULL;
            size_t nf = 0;
            for (char *tok = strtok_r(copy, "\t\r\n", &save); tok && nf < 6;
                 tok = strtok_r(NULL, "\t\r\n", &save))
                f[nf++] = tok;
            int drop = 0;
            if (nf == 6 && strcmp(f[5], "chip_cdn") == 0) {
                char *key = s_key(f[3]);
                drop = bsearch(&key, held, n_held, sizeof(char *), s_strcmp) != NULL;
                free(key);
            }
            free(copy);
            if (drop)
                dropped++;
            else
                fputs(line, out);
        }
        free(line);
        fclose(in);
        fclose(out);
        free(sp);
        free(dp);
        /* the training folds' known mentions */
        char *jp = assay_sprintf("%s/chip_cdn_train.jsonl", fd);
        FILE *jf = fopen(jp, "w");
        char *pp = assay_sprintf("%s/pairs.jsonl", fd);
        FILE *pf = fopen(pp, "w");
        if (!jf || !pf) {
            fprintf(stderr, "verifier_eval: could not create files in \"%s\"\n", fd);
            return 1;
        }
        size_t same = 0, sib = 0, unrel = 0, syn = 0, nosib = 0, multi = 0, unknown = 0;
        for (size_t i = 0; i < n_rows; i++) {
            if (i % (size_t)folds != (size_t)k) {
                fputs(rows[i].line, jf);
                continue;
            }
            const s_row_t *r = &rows[i];
            if (r->n_names != 1) {
                multi++;
                continue;
            }
            const char *gold = r->names[0];
            assay_term_id_t gc = s_bj_concept(t, gold);
            if (gc == ASSAY_TERM_NONE) {
                unknown++;
                continue;
            }
            s_pair_line(pf, gold, r->text, "same");
            same++;
            uint64_t h = s_hash(r->text);
            /* a sibling */
            assay_term_id_t cat = s_category(t, gc);
            if (cat != ASSAY_TERM_NONE) {
                assay_term_id_t *d = NULL;
                size_t nd = 0, dcap = 0;
                s_descendants(t, cat, &d, &nd, &dcap);
                const char *pick = NULL;
                size_t skipped = 0;
                for (size_t step = 0; step < nd && !pick; step++) {
                    assay_term_id_t s = d[(h + step) % nd];
                    if (assay_terms_system(t, s) != ASSAY_SYS_BJV601) continue;
                    if (assay_terms_is_ancestor(t, s, gc) || assay_terms_is_ancestor(t, gc, s))
                        continue;
                    const char *sn = assay_terms_name(t, s);
                    char *k1 = s_key(sn), *k2 = s_key(gold);
                    int same_name = strcmp(k1, k2) == 0;
                    free(k1);
                    free(k2);
                    if (same_name) continue;
                    if (s_alias_of(t, gold, sn) || s_alias_of(t, sn, gold)) {
                        skipped++;
                        continue;
                    }
                    pick = sn;
                }
                syn += skipped;
                if (pick) {
                    s_pair_line(pf, pick, r->text, "sibling");
                    sib++;
                } else {
                    nosib++;
                }
                free(d);
            } else {
                nosib++;
            }
            /* an unrelated disease: another chapter */
            for (size_t step = 0; step < n_bj; step++) {
                assay_term_id_t u = bj[(h / 7 + step * 7919) % n_bj];
                if (assay_terms_lca(t, u, gc) != ASSAY_TERM_NONE) continue;
                s_pair_line(pf, assay_terms_name(t, u), r->text, "unrelated");
                unrel++;
                break;
            }
        }
        fclose(jf);
        fclose(pf);
        printf("fold %d: %zu held-out mentions (%zu chip_cdn aliases left out of the "
               "terminology; %zu with several names and %zu with a name outside bj_v601 make "
               "no pairs): pairs same %zu, sibling %zu, unrelated %zu; siblings skipped as "
               "synonyms coded twice %zu, mentions without a usable sibling %zu\n",
               k, n_held, dropped, multi, unknown, same, sib, unrel, syn, nosib);
        tot_same += same;
        tot_sib += sib;
        tot_unrel += unrel;
        tot_syn += syn;
        tot_nosib += nosib;
        tot_multi += multi;
        tot_unknown += unknown;
        for (size_t i = 0; i < n_held; i++)
            free(held[i]);
        free(held);
        free(jp);
        free(pp);
        free(fd);
    }
    printf("pairs: same %zu, sibling %zu, unrelated %zu; siblings skipped as synonyms coded "
           "twice %zu; mentions without a usable sibling %zu; multi-name mentions %zu; "
           "names outside bj_v601 %zu\n",
           tot_same, tot_sib, tot_unrel, tot_syn, tot_nosib, tot_multi, tot_unknown);
    for (size_t i = 0; i < n_rows; i++) {
        free(rows[i].line);
        free(rows[i].text);
        for (size_t j = 0; j < rows[i].n_names; j++)
            free(rows[i].names[j]);
        free(rows[i].names);
    }
    free(rows);
    free(bj);
    assay_terms_destroy(&t);
    return 0;
}

typedef struct {
    double *v;
    size_t n, cap, acc;
} s_scores_t;

static void s_push(s_scores_t *s, double v, int correct)
{
    if (s->n == s->cap) s->v = assay_realloc(s->v, (s->cap = s->cap ? s->cap * 2 : 1024) * 8);
    s->v[s->n++] = v;
    s->acc += correct != 0;
}

static int s_dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* P(pos > neg) + P(pos == neg) / 2, by merging the sorted lists */
static double s_auc(s_scores_t *pos, s_scores_t *neg)
{
    if (!pos->n || !neg->n) return 0;
    qsort(pos->v, pos->n, sizeof(double), s_dcmp);
    qsort(neg->v, neg->n, sizeof(double), s_dcmp);
    double wins = 0;
    size_t lo = 0, hi = 0; /* neg[0..lo) < x, neg[0..hi) <= x */
    for (size_t i = 0; i < pos->n; i++) {
        double x = pos->v[i];
        while (lo < neg->n && neg->v[lo] < x)
            lo++;
        if (hi < lo) hi = lo;
        while (hi < neg->n && neg->v[hi] <= x)
            hi++;
        wins += (double)lo + 0.5 * (double)(hi - lo);
    }
    return wins / ((double)pos->n * (double)neg->n);
}

static int s_score(int argc, char **argv)
{
    s_scores_t same = {0}, sib = {0}, unrel = {0};
    size_t errors = 0, judged = 0;
    for (int a = 0; a < argc; a++) {
        FILE *fp = fopen(argv[a], "r");
        if (!fp) {
            fprintf(stderr, "verifier_eval: could not open file \"%s\": %s\n", argv[a],
                    strerror(errno));
            return 1;
        }
        char *line = NULL;
        size_t lcap = 0;
        ssize_t len;
        while ((len = getline(&line, &lcap, fp)) > 0) {
            json_t *o = json_loadb(line, (size_t)len, 0, NULL);
            const char *type = o ? json_string_value(json_object_get(o, "pair")) : NULL;
            if (!type) {
                json_decref(o);
                continue;
            }
            double sc = 0;
            int ok = 0;
            if (json_object_get(o, "error")) {
                errors++;
            } else {
                sc = json_number_value(json_object_get(o, "score"));
                ok = json_is_true(json_object_get(o, "correct"));
                judged += json_object_get(o, "judge") != NULL;
            }
            s_scores_t *s = strcmp(type, "same") == 0      ? &same
                            : strcmp(type, "sibling") == 0 ? &sib
                                                           : &unrel;
            s_push(s, sc, ok);
            json_decref(o);
        }
        free(line);
        fclose(fp);
    }
    if (!same.n) {
        fprintf(stderr, "verifier_eval: no scored pairs\n");
        return 1;
    }
    double as = (double)same.acc / (double)same.n,
           ab = sib.n ? (double)sib.acc / (double)sib.n : 0,
           au = unrel.n ? (double)unrel.acc / (double)unrel.n : 0;
    double auc_sib = s_auc(&same, &sib), auc_unrel = s_auc(&same, &unrel);
    printf("scored pairs: same %zu, sibling %zu, unrelated %zu (%zu failed lines, %zu "
           "escalated to a judge)\n",
           same.n, sib.n, unrel.n, errors, judged);
    printf("accept_same=%.4f accept_sibling=%.4f accept_unrelated=%.4f auc_same_sibling=%.4f "
           "auc_same_unrelated=%.4f\n",
           as, ab, au, auc_sib, auc_unrel);
    free(same.v);
    free(sib.v);
    free(unrel.v);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "prepare") == 0) {
        int k = atoi(argv[4]);
        if (k < 2) {
            fprintf(stderr, "verifier_eval: K must be at least 2\n");
            return 2;
        }
        return s_prepare(argv[2], argv[3], k);
    }
    if (argc >= 3 && strcmp(argv[1], "score") == 0) return s_score(argc - 2, argv + 2);
    fprintf(stderr, "usage: verifier_eval prepare DATA_DIR OUT_DIR K | score FILE...\n");
    return 2;
}
