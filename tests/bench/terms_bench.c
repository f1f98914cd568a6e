/*  terms_bench.c: terminology load figures: build time from the TSV files, snapshot
 *  size, and for a fresh process the snapshot open time and resident memory, plus
 *  lookup rates; the same for a synthetic terminology of N concepts.
 *
 *  usage: terms_bench [--data DIR] [--synthetic N] [--keep FILE]
 *  (--data: the real TSV directory; --synthetic: N concepts instead; --keep: write
 *  the snapshot to FILE and keep it, else a temporary file is removed)
 */
#include "common/util.h"
#include "worker/domain/terms.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* VmRSS / RssAnon / RssFile of this process in kB */
static void s_rss(long *rss, long *anon, long *file)
{
    *rss = *anon = *file = -1;
    FILE *fp = fopen("/proc/self/status", "r");
    if (!fp) return;
    char line[256];
    while (fgets(line, sizeof line, fp)) {
        if (strncmp(line, "VmRSS:", 6) == 0) *rss = atol(line + 6);
        if (strncmp(line, "RssAnon:", 8) == 0) *anon = atol(line + 8);
        if (strncmp(line, "RssFile:", 8) == 0) *file = atol(line + 8);
    }
    fclose(fp);
}

/* the child: open the snapshot and measure */
static int s_open(const char *path)
{
    long r0, a0, f0;
    s_rss(&r0, &a0, &f0);
    char err[512];
    int64_t t0 = assay_clock_us();
    assay_terms_t *t = assay_terms_open_snapshot(path, err, sizeof err);
    int64_t t1 = assay_clock_us();
    if (!t) {
        fprintf(stderr, "terms_bench: %s\n", err);
        return 1;
    }
    long r1, a1, f1;
    s_rss(&r1, &a1, &f1);
    printf(
        "snapshot open: %.1f ms, RSS %+.1f MB (anonymous %+.1f MB, file-backed shared %+.1f MB)\n",
        (double)(t1 - t0) / 1000.0, (double)(r1 - r0) / 1024.0, (double)(a1 - a0) / 1024.0,
        (double)(f1 - f0) / 1024.0);
    /* lookup rates over the concepts of the terminology */
    size_t nc = assay_terms_concept_count(t);
    size_t iters = 1000000, found = 0;
    int64_t s0 = assay_clock_us();
    for (size_t i = 0; i < iters; i++) {
        assay_term_id_t id = (assay_term_id_t)((i * 2654435761u) % nc);
        found += assay_terms_find_code(t, (assay_code_system_t)assay_terms_system(t, id),
                                       assay_terms_code(t, id)) == id;
    }
    int64_t s1 = assay_clock_us();
    size_t named = 0;
    for (size_t i = 0; i < iters; i++) {
        assay_term_id_t id = (assay_term_id_t)((i * 2654435761u) % nc);
        named += assay_terms_lookup(t, assay_terms_name(t, id), ASSAY_SYS_ANY) != ASSAY_TERM_NONE;
    }
    int64_t s2 = assay_clock_us();
    size_t lcas = 0;
    for (size_t i = 0; i < iters; i++) {
        assay_term_id_t a = (assay_term_id_t)((i * 2654435761u) % nc);
        assay_term_id_t b = (assay_term_id_t)((i * 40503u + 7) % nc);
        lcas += assay_terms_lca(t, a, b) != ASSAY_TERM_NONE;
    }
    int64_t s3 = assay_clock_us();
    printf("lookups: by code %.2f M/s (%zu/%zu found), by name %.2f M/s, LCA %.2f M/s\n",
           (double)iters / (double)(s1 - s0), found, iters, (double)iters / (double)(s2 - s1),
           (double)iters / (double)(s3 - s2));
    (void)named;
    (void)lcas;
    long r2, a2, f2;
    s_rss(&r2, &a2, &f2);
    printf(
        "after touching every page: RSS %.1f MB (anonymous %.1f MB, file-backed shared %.1f MB)\n",
        (double)r2 / 1024.0, (double)a2 / 1024.0, (double)f2 / 1024.0);
    assay_terms_destroy(&t);
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *keep = NULL;
    size_t synthetic = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--open") == 0 && i + 1 < argc) return s_open(argv[i + 1]);
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--synthetic") == 0 && i + 1 < argc)
            synthetic = (size_t)atol(argv[++i]);
        else if (strcmp(argv[i], "--keep") == 0 && i + 1 < argc)
            keep = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--data DIR] [--synthetic N] [--keep FILE]\n", argv[0]);
            return 2;
        }
    }
    if (!dir && !synthetic) dir = "../shared/data";
    char err[512];
    int64_t t0 = assay_clock_us();
    assay_terms_t *t = synthetic ? assay_terms_synthetic(synthetic, 1)
                                 : assay_terms_load_dir(dir, err, sizeof err);
    int64_t t1 = assay_clock_us();
    if (!t) {
        fprintf(stderr, "terms_bench: %s\n", err);
        return 1;
    }
    assay_terms_stats_t st;
    assay_terms_stats(t, &st);
    printf("%s: %zu concepts, %zu aliases, %zu graph nodes, %zu edges; version %s\n",
           synthetic ? "synthetic" : dir, st.concepts, st.aliases, st.kg_nodes, st.kg_edges,
           assay_terms_version(t));
    printf("build from %s: %.2f s, image %.1f MB\n", synthetic ? "generator" : "TSV files",
           (double)(t1 - t0) / 1e6, (double)st.image_bytes / 1048576.0);
    char tmp[] = "/tmp/assay_terms_bench_XXXXXX";
    const char *path = keep;
    if (!path) {
        int fd = mkstemp(tmp);
        if (fd < 0) {
            perror("terms_bench: mkstemp");
            return 1;
        }
        close(fd);
        path = tmp;
    }
    if (assay_terms_write_snapshot(t, path, err, sizeof err) < 0) {
        fprintf(stderr, "terms_bench: %s\n", err);
        return 1;
    }
    assay_terms_destroy(&t);
    fflush(stdout);
    /* measure the open in a fresh process, as a worker starts */
    pid_t pid = fork();
    if (pid == 0) {
        execl("/proc/self/exe", argv[0], "--open", path, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!keep) unlink(path);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
