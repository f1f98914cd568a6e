/*  verify_bench.c: throughput of the rule verifier and load cost of terminology
 *  snapshots. Prints figures; asserts nothing (see verify_bench.sh).
 *
 *    verify_bench snapshot DATA_DIR OUT      build from the TSVs, write a snapshot
 *    verify_bench synth N OUT                write a synthetic snapshot of N concepts
 *    verify_bench run SNAPSHOT [DATA_DIR] [fuzzy|full]
 *                                            open the snapshot (timed), then verify
 *                                            pairs for about two seconds on this core
 *                                            (fuzzy: with the normaliser as a fallback
 *                                            linker; full: the handler's default, the
 *                                            normalisers of both code systems as
 *                                            evidence; built after the load is timed)
 *
 *  `run` verifies real pairs when DATA_DIR holds chip_cdn_train.jsonl (physician-
 *  written diagnosis → its standard names: a case-style check with several atoms)
 *  and exam_mcq.jsonl (gold letter against a free-text response); otherwise pairs
 *  of concept names drawn from the terminology itself (parent/child, siblings,
 *  random). It prints `key=value` lines, the figures first.
 */
#include "common/util.h"
#include "worker/domain/normalize.h"
#include "worker/domain/terms.h"
#include "worker/domain/verify.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    char *gold;
    char *resp;
} s_pair_t;

/* CPU time of this thread in microseconds: the machine may be shared, and "per
 * second on one core" means per second of CPU, not of wall clock */
static int64_t s_cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long s_rss_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    size_t fl = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, fl) == 0 && line[fl] == ':') kb = atol(line + fl + 1);
    fclose(f);
    return kb;
}

/* CHIP-CDN pairs: the physician's text is the response, the standard names gold */
static size_t s_chip_pairs(const char *dir, s_pair_t **out)
{
    char *path = assay_sprintf("%s/chip_cdn_train.jsonl", dir);
    FILE *f = fopen(path, "r");
    free(path);
    if (!f) return 0;
    size_t n = 0, cap = 0;
    char line[8192];
    while (fgets(line, sizeof line, f)) {
        json_t *o = json_loads(line, 0, NULL);
        if (!o) continue;
        const char *text = json_string_value(json_object_get(o, "text"));
        json_t *norm = json_object_get(o, "normalized");
        if (text && json_is_array(norm) && json_array_size(norm) > 0) {
            assay_buf_t g = ASSAY_BUF_INIT;
            size_t i;
            json_t *v;
            json_array_foreach(norm, i, v)
            {
                if (i) assay_buf_adds(&g, "；");
                assay_buf_adds(&g, json_string_value(v) ? json_string_value(v) : "");
            }
            if (n == cap) *out = assay_realloc(*out, (cap = cap ? cap * 2 : 1024) * sizeof **out);
            (*out)[n].gold = assay_buf_detach(&g, NULL);
            (*out)[n].resp = assay_strdup(text);
            n++;
        }
        json_decref(o);
    }
    fclose(f);
    return n;
}

/* pairs of names from the terminology: a concept against itself, its parent, a
 * sibling and a random concept */
static size_t s_synthetic_pairs(const assay_terms_t *t, size_t want, s_pair_t **out)
{
    size_t nc = assay_terms_concept_count(t), n = 0;
    *out = assay_calloc(want, sizeof **out);
    uint64_t x = 88172645463325252ull;
    while (n < want) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        assay_term_id_t a = (assay_term_id_t)(x % nc), b;
        if (assay_terms_level(t, a) < ASSAY_LEVEL_CATEGORY) continue;
        switch (n % 4) {
        case 0:
            b = a;
            break;
        case 1:
            b = assay_terms_parent(t, a);
            break;
        case 2: {
            assay_term_id_t p = assay_terms_parent(t, a);
            size_t k = assay_terms_child_count(t, p);
            b = k ? assay_terms_child(t, p, (size_t)(x >> 32) % k) : a;
            break;
        }
        default:
            b = (assay_term_id_t)((x >> 20) % nc);
            break;
        }
        if (b == ASSAY_TERM_NONE) b = a;
        (*out)[n].gold = assay_strdup(assay_terms_name(t, a));
        (*out)[n].resp = assay_sprintf("诊断：%s", assay_terms_name(t, b));
        n++;
    }
    return n;
}

static int s_run(const char *snap, const char *dir, int fuzzy)
{
    char err[512];
    long rss0 = s_rss_kb("VmRSS");
    int64_t t0 = assay_clock_us();
    assay_terms_t *t = assay_terms_open_snapshot(snap, err, sizeof err);
    double load_s = (double)(assay_clock_us() - t0) / 1e6;
    if (!t) {
        fprintf(stderr, "verify_bench: %s\n", err);
        return 1;
    }
    long rss_load = s_rss_kb("VmRSS");
    s_pair_t *pairs = NULL;
    size_t n = dir ? s_chip_pairs(dir, &pairs) : 0;
    const char *source = "chip_cdn";
    if (n == 0) {
        n = s_synthetic_pairs(t, 20000, &pairs);
        source = "terminology_names";
    }
    assay_verify_params_t p;
    assay_verify_params_default(&p);
    assay_normalizer_t *nz = NULL, *ev[ASSAY_SYS_COUNT] = {NULL};
    double nz_build_s = 0;
    if (fuzzy == 1) {
        int64_t b0 = assay_clock_us();
        nz = assay_normalizer_new(t, NULL, err, sizeof err);
        if (!nz) {
            fprintf(stderr, "verify_bench: %s\n", err);
            return 1;
        }
        assay_normalizer_prepare(nz);
        nz_build_s = (double)(assay_clock_us() - b0) / 1e6;
        p.linker = nz;
    } else if (fuzzy == 2) {
        /* the verify handler's default (link=full): a normaliser per code system as
         * evidence, every candidate kept */
        int64_t b0 = assay_clock_us();
        for (int sys = ASSAY_SYS_CLIN20; sys <= ASSAY_SYS_BJV601; sys++) {
            assay_normalize_opts_t o;
            assay_normalize_opts_default(&o);
            o.system = (assay_code_system_t)sys;
            o.min_confidence = 0;
            o.max_entities = 32;
            ev[sys] = assay_normalizer_new(t, &o, err, sizeof err);
            if (!ev[sys]) {
                fprintf(stderr, "verify_bench: %s\n", err);
                return 1;
            }
            assay_normalizer_prepare(ev[sys]);
            p.linkers[sys] = ev[sys];
        }
        nz_build_s = (double)(assay_clock_us() - b0) / 1e6;
    }
    /* one warm pass, so the timing sees the pages a verifier really touches */
    double sum = 0;
    size_t lens[2];
    for (size_t i = 0; i < n; i++) {
        assay_verify_result_t r;
        lens[0] = strlen(pairs[i].gold);
        lens[1] = strlen(pairs[i].resp);
        if (assay_verify_text(t, &p, pairs[i].gold, lens[0], NULL, 0, pairs[i].resp, lens[1], &r) ==
            0)
            sum += r.score;
    }
    size_t done = 0;
    int64_t start = s_cpu_us(), now = start;
    while (now - start < 2000000) {
        for (size_t i = 0; i < n; i++) {
            assay_verify_result_t r;
            assay_verify_text(t, &p, pairs[i].gold, strlen(pairs[i].gold), NULL, 0, pairs[i].resp,
                              strlen(pairs[i].resp), &r);
        }
        done += n;
        now = s_cpu_us();
    }
    double per_s = (double)done / ((double)(now - start) / 1e6);

    /* multiple choice: a gold letter against a short free-text response */
    static const char *const opts[5] = {"原发病", "出血部位", "出血量", "在胃内停留时间",
                                        "以上均非"};
    static const char *const resp[4] = {"答案：C", "正确答案是 C．出血量", "选B和D",
                                        "上消化道出血的表现取决于出血量，故选C。"};
    size_t mdone = 0;
    start = s_cpu_us();
    now = start;
    while (now - start < 500000) {
        for (int k = 0; k < 1000; k++) {
            assay_verify_result_t r;
            const char *s = resp[k & 3];
            assay_verify_mcq(&p, "C", s, strlen(s), opts, 5, &r);
        }
        mdone += 1000;
        now = s_cpu_us();
    }
    double mcq_per_s = (double)mdone / ((double)(now - start) / 1e6);

    assay_terms_stats_t st;
    assay_terms_stats(t, &st);
    printf("terms_version=%s\n", assay_terms_version(t));
    printf("concepts=%zu kg_nodes=%zu kg_edges=%zu image_mb=%.1f mapped=%d\n", st.concepts,
           st.kg_nodes, st.kg_edges, (double)st.image_bytes / 1048576.0, st.mapped);
    printf("pairs=%zu source=%s mean_score=%.3f\n", n, source, sum / (double)n);
    if (fuzzy) printf("linker=%s normalizer_build_s=%.2f\n", fuzzy == 2 ? "full" : "fuzzy",
                      nz_build_s);
    printf("load_s=%.4f\n", load_s);
    printf("rss_after_load_mb=%.1f\n", (double)(rss_load - rss0) / 1024.0 + (double)rss0 / 1024.0);
    printf("rss_mb=%.1f\n", (double)s_rss_kb("VmHWM") / 1024.0);
    printf("verify_per_s=%.0f\n", per_s);
    printf("mcq_per_s=%.0f\n", mcq_per_s);
    for (size_t i = 0; i < n; i++) {
        free(pairs[i].gold);
        free(pairs[i].resp);
    }
    free(pairs);
    assay_normalizer_destroy(&nz);
    for (int i = 0; i < ASSAY_SYS_COUNT; i++)
        assay_normalizer_destroy(&ev[i]);
    assay_terms_destroy(&t);
    return 0;
}

int main(int argc, char **argv)
{
    char err[512];
    if (argc >= 4 && strcmp(argv[1], "snapshot") == 0) {
        int64_t t0 = assay_clock_us();
        assay_terms_t *t = assay_terms_load_dir(argv[2], err, sizeof err);
        if (!t) {
            fprintf(stderr, "verify_bench: %s\n", err);
            return 1;
        }
        double build_s = (double)(assay_clock_us() - t0) / 1e6;
        if (assay_terms_write_snapshot(t, argv[3], err, sizeof err) < 0) {
            fprintf(stderr, "verify_bench: %s\n", err);
            assay_terms_destroy(&t);
            return 1;
        }
        printf("build_s=%.3f\n", build_s);
        assay_terms_destroy(&t);
        return 0;
    }
    if (argc >= 4 && strcmp(argv[1], "synth") == 0) {
        char *end;
        unsigned long long nc = strtoull(argv[2], &end, 10);
        if (*end || nc == 0) {
            fprintf(stderr, "verify_bench: concept count \"%s\" is not a positive number\n",
                    argv[2]);
            return 2;
        }
        int64_t t0 = assay_clock_us();
        assay_terms_t *t = assay_terms_synthetic((size_t)nc, 42);
        double build_s = (double)(assay_clock_us() - t0) / 1e6;
        if (assay_terms_write_snapshot(t, argv[3], err, sizeof err) < 0) {
            fprintf(stderr, "verify_bench: %s\n", err);
            assay_terms_destroy(&t);
            return 1;
        }
        printf("synth_build_s=%.3f build_rss_mb=%.1f\n", build_s,
               (double)s_rss_kb("VmHWM") / 1024.0);
        assay_terms_destroy(&t);
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "run") == 0)
        return s_run(argv[2], argc >= 4 ? argv[3] : NULL,
                     argc >= 5 && strcmp(argv[4], "fuzzy") == 0  ? 1
                     : argc >= 5 && strcmp(argv[4], "full") == 0 ? 2
                                                                 : 0);
    fprintf(stderr, "usage: verify_bench snapshot DATA_DIR OUT | synth N OUT | run SNAPSHOT "
                    "[DATA_DIR [fuzzy|full]]\n");
    return 2;
}
