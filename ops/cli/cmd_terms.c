/*  cmd_terms.c: `assay terms load|snapshot|info`.
 *
 *  load DIR       validate the five TSV files of DIR (the whole terminology is built
 *                 first, so a bad line fails the load before the database is touched),
 *                 then replace the terms_* tables with COPY in one transaction and
 *                 record the version as current in terms_versions.
 *  snapshot       build the terminology from the database (default) or from a TSV
 *                 directory (--from-dir DIR) and write the snapshot file workers map.
 *  info FILE      version and counts of a snapshot (or a TSV directory), and how long
 *                 it takes to open.
 *  The database connection string is the configuration key "db" (ASSAY_DB).
 */
#include "ops/cli/cmd_terms.h"

#include "common/error.h"
#include "common/util.h"
#include "worker/domain/terms.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ help */

static const char *const s_usage =
    "usage: assay terms load DIR\n"
    "       assay terms snapshot [--from-dir DIR] [--examples FILE] -o FILE\n"
    "       assay terms info FILE|DIR [--json]\n"
    "\n"
    "Manage the medical terminology (ICD-10 codes, aliases, knowledge graph).\n"
    "Run `assay terms SUBCOMMAND --help` for details.\n"
    "\n"
    "examples:\n"
    "  assay terms load /srv/terms && assay terms snapshot -o /srv/terms.snap\n"
    "  assay terms info /srv/terms.snap\n";

static const char *const s_usage_load =
    "usage: assay terms load DIR\n"
    "\n"
    "Load the terminology TSV files of DIR (icd10.tsv, icd10_bj_v601.tsv,\n"
    "icd10_synonyms.tsv, and optionally kg_nodes.tsv, kg_edges.tsv) into the\n"
    "terms_* tables. Every file is validated first; an error names the file, line\n"
    "and column and leaves the database unchanged. Known mentions (chip_cdn_train.jsonl,\n"
    "known_mentions.jsonl) are not stored in the database: give them to\n"
    "`assay terms snapshot --examples FILE`, or snapshot the directory (--from-dir). The previous version is replaced\n"
    "in one transaction and the new one recorded as current in terms_versions.\n"
    "The database is the configuration key \"db\" (environment ASSAY_DB).\n"
    "\n"
    "examples:\n"
    "  assay terms load /srv/terms\n"
    "  ASSAY_DB=postgresql://assay@dbhost/assay assay terms load ./terms\n";

static const char *const s_usage_snapshot =
    "usage: assay terms snapshot [--from-dir DIR] [--examples FILE] -o FILE\n"
    "\n"
    "Write a terminology snapshot: one file that workers map read-only at start\n"
    "(setting \"terms\" / --terms FILE), shared between processes. Built from the\n"
    "current version in the database, or straight from the files of DIR with\n"
    "--from-dir (the TSVs and the known mentions of chip_cdn_train.jsonl and\n"
    "known_mentions.jsonl there). --examples FILE (repeatable) adds the known\n"
    "mentions of a JSONL file ({\"text\": mention, \"normalized\": [standard names]}\n"
    "per line): the normaliser and the verifier learn from them by default. The\n"
    "file is written under a temporary name and renamed.\n"
    "\n"
    "examples:\n"
    "  assay terms snapshot -o /srv/terms.snap\n"
    "  assay terms snapshot --examples chip_cdn_train.jsonl -o /srv/terms.snap\n"
    "  assay terms snapshot --from-dir ./terms -o terms.snap\n";

static const char *const s_usage_info =
    "usage: assay terms info FILE|DIR [--json]\n"
    "\n"
    "Open a snapshot file (or load a TSV directory) and print its version, its\n"
    "counts (codes, aliases, graph, known mentions: what the normaliser and the\n"
    "verifier learn from by default) and the time the open took.\n"
    "\n"
    "examples:\n"
    "  assay terms info /srv/terms.snap\n"
    "  assay terms info ./terms\n";

static int s_wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 1;
    return 0;
}

/* ------------------------------------------------------------- database */

static PGconn *s_connect(const assay_config_t *cfg)
{
    const char *conninfo = assay_config_get(cfg, "db", NULL);
    if (!conninfo || !*conninfo) {
        fprintf(stderr, "assay terms: no database configured (set \"db\" in the configuration "
                        "file or ASSAY_DB)\n");
        return NULL;
    }
    PGconn *db = PQconnectdb(conninfo);
    if (PQstatus(db) != CONNECTION_OK) {
        fprintf(stderr, "assay terms: could not connect to the database: %s", PQerrorMessage(db));
        PQfinish(db);
        return NULL;
    }
    return db;
}

static int s_exec(PGconn *db, const char *sql)
{
    PGresult *r = PQexec(db, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        fprintf(stderr, "assay terms: query failed: %s", PQerrorMessage(db));
        PQclear(r);
        return -1;
    }
    PQclear(r);
    return 0;
}

/* append a COPY text-format field (NULL as \N; empty optional fields become NULL) */
static void s_copy_field(assay_buf_t *b, const char *v, int null_if_empty)
{
    if (!v || (null_if_empty && !*v)) {
        assay_buf_adds(b, "\\N");
        return;
    }
    for (const char *p = v; *p; p++) {
        switch (*p) {
        case '\\':
            assay_buf_adds(b, "\\\\");
            break;
        case '\t':
            assay_buf_adds(b, "\\t");
            break;
        case '\n':
            assay_buf_adds(b, "\\n");
            break;
        case '\r':
            assay_buf_adds(b, "\\r");
            break;
        default:
            assay_buf_addc(b, *p);
            break;
        }
    }
}

static int s_copy(PGconn *db, const char *sql, const assay_buf_t *data)
{
    PGresult *r = PQexec(db, sql);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        fprintf(stderr, "assay terms: could not start COPY: %s", PQerrorMessage(db));
        PQclear(r);
        return -1;
    }
    PQclear(r);
    /* in chunks, so a large table never needs one huge libpq buffer */
    size_t off = 0, chunk = 1 << 20;
    while (off < data->len) {
        size_t n = data->len - off < chunk ? data->len - off : chunk;
        if (PQputCopyData(db, data->data + off, (int)n) != 1) {
            fprintf(stderr, "assay terms: COPY failed: %s", PQerrorMessage(db));
            return -1;
        }
        off += n;
    }
    if (PQputCopyEnd(db, NULL) != 1) {
        fprintf(stderr, "assay terms: COPY failed: %s", PQerrorMessage(db));
        return -1;
    }
    r = PQgetResult(db);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) fprintf(stderr, "assay terms: COPY failed: %s", PQerrorMessage(db));
    PQclear(r);
    while ((r = PQgetResult(db)) != NULL)
        PQclear(r);
    return ok ? 0 : -1;
}

/* ----------------------------------------------------------------- load */

typedef struct {
    const assay_terms_t *terms;
    assay_buf_t codes, aliases, nodes, edges;
    size_t ord[ASSAY_TERMS_FILE_COUNT];
} s_load_t;

static int s_copy_row(void *arg, assay_terms_file_t f, size_t line, char **fl, size_t nf, char *err,
                      size_t errlen)
{
    (void)line;
    (void)nf;
    (void)err;
    (void)errlen;
    s_load_t *L = arg;
    size_t ord = ++L->ord[f];
    assay_buf_t *b;
    switch (f) {
    case ASSAY_TERMS_ICD10:
    case ASSAY_TERMS_BJV601: {
        b = &L->codes;
        int icd = f == ASSAY_TERMS_ICD10;
        assay_code_system_t sys = ASSAY_SYS_BJV601;
        if (icd) {
            int shared = strcmp(fl[2], "chapter") == 0 || strcmp(fl[2], "block") == 0 ||
                         strcmp(fl[2], "category") == 0 || strcmp(fl[2], "subcategory") == 0;
            sys = shared ? ASSAY_SYS_ICD10 : ASSAY_SYS_CLIN20;
        }
        assay_term_id_t id = assay_terms_find_code(L->terms, sys, fl[0]);
        assay_concept_t c;
        int known = assay_terms_concept(L->terms, id, &c) == 0;
        assay_buf_addf(b, "%s\t%zu\t", icd ? "icd10" : "bj_v601", ord);
        s_copy_field(b,
                     known ? assay_terms_system_name((assay_code_system_t)c.system)
                           : assay_terms_system_name(sys),
                     0);
        assay_buf_addc(b, '\t');
        s_copy_field(b, fl[0], 0);
        assay_buf_addc(b, '\t');
        /* icd10.tsv rows keep their parent as written; v601 rows get the derived one */
        s_copy_field(b, icd ? fl[1] : (known ? assay_terms_code(L->terms, c.parent) : ""), 1);
        assay_buf_addc(b, '\t');
        s_copy_field(
            b, icd ? fl[2] : (known ? assay_terms_level_name((assay_term_level_t)c.level) : ""), 1);
        assay_buf_addc(b, '\t');
        if (known)
            assay_buf_addf(b, "%d", c.depth);
        else
            assay_buf_adds(b, "\\N");
        assay_buf_addc(b, '\t');
        s_copy_field(b, icd ? fl[3] : fl[1], 0);
        for (int i = 4; i < 8; i++) {
            assay_buf_addc(b, '\t');
            s_copy_field(b, icd ? fl[i] : NULL, 1);
        }
        assay_buf_addc(b, '\n');
        return 0;
    }
    case ASSAY_TERMS_SYNONYMS:
        b = &L->aliases;
        assay_buf_addf(b, "%zu", ord);
        for (int i = 0; i < 6; i++) {
            assay_buf_addc(b, '\t');
            s_copy_field(b, fl[i], i == 2 || i >= 4);
        }
        assay_buf_addc(b, '\n');
        return 0;
    case ASSAY_TERMS_KG_NODES:
        b = &L->nodes;
        assay_buf_addf(b, "%zu", ord);
        for (int i = 0; i < 3; i++) {
            assay_buf_addc(b, '\t');
            s_copy_field(b, fl[i], i == 2);
        }
        assay_buf_addc(b, '\n');
        return 0;
    case ASSAY_TERMS_KG_EDGES:
        b = &L->edges;
        assay_buf_addf(b, "%zu", ord);
        for (int i = 0; i < 6; i++) {
            assay_buf_addc(b, '\t');
            s_copy_field(b, fl[i], i == 5);
        }
        assay_buf_addc(b, '\n');
        return 0;
    default:
        return ASSAY_EINVAL;
    }
}

static int s_load(int argc, char **argv, const assay_config_t *cfg)
{
    if (s_wants_help(argc, argv)) {
        fputs(s_usage_load, stdout);
        return 0;
    }
    if (argc != 2) {
        fputs(s_usage_load, stderr);
        return 2;
    }
    const char *dir = argv[1];
    if (dir[0] == '-') {
        fprintf(stderr, "assay terms load: unknown option \"%s\" (see `assay terms load --help`)\n",
                dir);
        return 2;
    }
    int rcode = 1;
    char err[512];
    int64_t t0 = assay_clock_ms();
    assay_terms_t *terms = assay_terms_load_tsv(dir, err, sizeof err);
    if (!terms) {
        fprintf(stderr, "assay terms load: %s\n", err);
        return 1;
    }
    for (const char *const *fn = assay_terms_example_files(); *fn; fn++) {
        char *p = assay_sprintf("%s/%s", dir, *fn);
        if (access(p, F_OK) == 0)
            fprintf(stderr,
                    "assay terms load: note: the known mentions of \"%s\" are not stored in "
                    "the database; add them to a snapshot with `assay terms snapshot "
                    "--examples %s`\n",
                    p, p);
        free(p);
    }
    s_load_t L;
    memset(&L, 0, sizeof L);
    L.terms = terms;
    for (int f = 0; f < ASSAY_TERMS_FILE_COUNT; f++) {
        int rc = assay_terms_read_tsv(dir, (assay_terms_file_t)f, s_copy_row, &L, err, sizeof err);
        if (rc == ASSAY_ENOTFOUND && f >= ASSAY_TERMS_KG_NODES) continue;
        if (rc < 0) {
            fprintf(stderr, "assay terms load: %s\n", err);
            goto fail;
        }
    }
    PGconn *db = s_connect(cfg);
    if (!db) {
        rcode = 4; /* the documented exit code of an unreachable database */
        goto fail;
    }
    assay_terms_stats_t st;
    assay_terms_stats(terms, &st);
    const char *version = assay_terms_version(terms);
    int ok =
        s_exec(db, "BEGIN") == 0 &&
        s_exec(db, "TRUNCATE terms_codes, terms_aliases, terms_kg_nodes, terms_kg_edges") == 0 &&
        s_copy(db,
               "COPY terms_codes (origin, ord, code_system, code, parent_code, level, "
               "depth, name_zh, name_en, mark, morphology_code, source) FROM STDIN",
               &L.codes) == 0 &&
        s_copy(db,
               "COPY terms_aliases (ord, code, code_system, standard_name, alias, "
               "alias_type, source) FROM STDIN",
               &L.aliases) == 0 &&
        s_copy(db, "COPY terms_kg_nodes (ord, name, type, source) FROM STDIN", &L.nodes) == 0 &&
        s_copy(db,
               "COPY terms_kg_edges (ord, head, relation, tail, head_type, tail_type, "
               "source) FROM STDIN",
               &L.edges) == 0 &&
        s_exec(db, "UPDATE terms_versions SET is_current = false WHERE is_current") == 0;
    if (ok) {
        char n1[32], n2[32], n3[32], n4[32];
        snprintf(n1, sizeof n1, "%zu", st.concepts);
        snprintf(n2, sizeof n2, "%zu", st.aliases);
        snprintf(n3, sizeof n3, "%zu", st.kg_nodes);
        snprintf(n4, sizeof n4, "%zu", st.kg_edges);
        const char *params[6] = {version, dir, n1, n2, n3, n4};
        PGresult *r = PQexecParams(
            db,
            "INSERT INTO terms_versions (version, source, is_current, n_codes, n_aliases, "
            "n_kg_nodes, n_kg_edges) VALUES ($1, $2, true, $3, $4, $5, $6) "
            "ON CONFLICT (version) DO UPDATE SET is_current = true, loaded_at = now(), "
            "source = EXCLUDED.source",
            6, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            fprintf(stderr, "assay terms load: could not record the version: %s",
                    PQerrorMessage(db));
            ok = 0;
        }
        PQclear(r);
    }
    ok = ok && s_exec(db, "COMMIT") == 0;
    if (!ok) s_exec(db, "ROLLBACK");
    PQfinish(db);
    if (!ok) {
        fprintf(stderr, "assay terms load: nothing was changed\n");
        goto fail;
    }
    printf("loaded terminology %s from \"%s\": %zu codes (clin2.0 %zu, bj_v601 %zu, shared %zu), "
           "%zu aliases, %zu graph nodes, %zu edges in %.1f s\n",
           version, dir, st.concepts, st.per_system[ASSAY_SYS_CLIN20],
           st.per_system[ASSAY_SYS_BJV601], st.per_system[ASSAY_SYS_ICD10], st.aliases, st.kg_nodes,
           st.kg_edges, (double)(assay_clock_ms() - t0) / 1000.0);
    assay_buf_release(&L.codes);
    assay_buf_release(&L.aliases);
    assay_buf_release(&L.nodes);
    assay_buf_release(&L.edges);
    assay_terms_destroy(&terms);
    return 0;
fail:
    assay_buf_release(&L.codes);
    assay_buf_release(&L.aliases);
    assay_buf_release(&L.nodes);
    assay_buf_release(&L.edges);
    assay_terms_destroy(&terms);
    return rcode;
}

/* ------------------------------------------------------------- snapshot */

/* feed the rows of one query (columns in the file's order) to the builder */
static int s_feed(PGconn *db, assay_terms_builder_t *b, assay_terms_file_t f, const char *sql)
{
    PGresult *r = PQexec(db, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "assay terms snapshot: query failed: %s", PQerrorMessage(db));
        PQclear(r);
        return -1;
    }
    int rows = PQntuples(r), cols = PQnfields(r);
    const char *fields[16];
    char err[512], where[96];
    for (int i = 0; i < rows; i++) {
        for (int c = 0; c < cols && c < 16; c++)
            fields[c] = PQgetvalue(r, i, c);
        snprintf(where, sizeof where, "database %s row %d", assay_terms_file_name(f), i + 1);
        if (assay_terms_builder_add(b, f, fields, (size_t)cols, where, err, sizeof err) < 0) {
            fprintf(stderr, "assay terms snapshot: %s\n", err);
            PQclear(r);
            return -1;
        }
    }
    PQclear(r);
    return 0;
}

static assay_terms_t *s_from_db(const assay_config_t *cfg, char *dbversion, size_t vlen,
                                int *unreachable, const char *const *examples, size_t n_examples)
{
    PGconn *db = s_connect(cfg);
    if (!db) {
        *unreachable = 1;
        return NULL;
    }
    assay_terms_t *t = NULL;
    assay_terms_builder_t *b = NULL;
    /* one snapshot of the tables, even if a load commits meanwhile */
    if (s_exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") < 0) goto out;
    PGresult *r = PQexec(db, "SELECT version FROM terms_versions WHERE is_current");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        fprintf(stderr,
                "assay terms snapshot: no terminology in the database (run `assay terms "
                "load DIR` first)%s%s",
                PQresultStatus(r) != PGRES_TUPLES_OK ? ": " : "\n",
                PQresultStatus(r) != PGRES_TUPLES_OK ? PQerrorMessage(db) : "");
        PQclear(r);
        goto out;
    }
    snprintf(dbversion, vlen, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    b = assay_terms_builder_new();
    if (s_feed(db, b, ASSAY_TERMS_ICD10,
               "SELECT code, coalesce(parent_code, ''), coalesce(level, ''), name_zh, "
               "coalesce(name_en, ''), coalesce(mark, ''), coalesce(morphology_code, ''), "
               "coalesce(source, '') FROM terms_codes WHERE origin = 'icd10' ORDER BY ord") < 0 ||
        s_feed(db, b, ASSAY_TERMS_BJV601,
               "SELECT code, name_zh FROM terms_codes WHERE origin = 'bj_v601' ORDER BY ord") < 0 ||
        s_feed(db, b, ASSAY_TERMS_SYNONYMS,
               "SELECT code, code_system, coalesce(standard_name, ''), alias, "
               "coalesce(alias_type, ''), coalesce(source, '') FROM terms_aliases ORDER BY ord") <
            0 ||
        s_feed(db, b, ASSAY_TERMS_KG_NODES,
               "SELECT name, type, coalesce(source, '') FROM terms_kg_nodes ORDER BY ord") < 0 ||
        s_feed(db, b, ASSAY_TERMS_KG_EDGES,
               "SELECT head, relation, tail, head_type, tail_type, coalesce(source, '') "
               "FROM terms_kg_edges ORDER BY ord") < 0)
        goto out;
    char err[512];
    for (size_t i = 0; i < n_examples; i++) {
        size_t added = 0;
        if (assay_terms_read_examples(examples[i], examples[i], b, &added, err, sizeof err) < 0) {
            fprintf(stderr, "assay terms snapshot: %s\n", err);
            goto out;
        }
    }
    t = assay_terms_builder_finish(&b, err, sizeof err);
    if (!t) fprintf(stderr, "assay terms snapshot: %s\n", err);
out:
    assay_terms_builder_destroy(&b);
    s_exec(db, "COMMIT");
    PQfinish(db);
    return t;
}

/* the TSVs and known mentions of dir, then the known mentions of extra files */
typedef struct {
    assay_terms_builder_t *b;
} s_dir_ctx_t;

static int s_dir_row(void *arg, assay_terms_file_t f, size_t line, char **fields, size_t nfields,
                     char *err, size_t errlen)
{
    s_dir_ctx_t *ctx = arg;
    char where[96];
    snprintf(where, sizeof where, "%s:%zu", assay_terms_file_name(f), line);
    return assay_terms_builder_add(ctx->b, f, (const char *const *)fields, nfields, where, err,
                                   errlen);
}

static assay_terms_t *s_dir_with_examples(const char *dir, const char *const *examples,
                                          size_t n_examples, char *err, size_t errlen)
{
    s_dir_ctx_t ctx = {assay_terms_builder_new()};
    for (int f = 0; f < ASSAY_TERMS_FILE_COUNT; f++) {
        int rc = assay_terms_read_tsv(dir, (assay_terms_file_t)f, s_dir_row, &ctx, err, errlen);
        if (rc == ASSAY_ENOTFOUND && f >= ASSAY_TERMS_KG_NODES) continue;
        if (rc < 0) goto fail;
    }
    for (const char *const *fn = assay_terms_example_files(); *fn; fn++) {
        char *p = assay_sprintf("%s/%s", dir, *fn);
        int rc = assay_terms_read_examples(p, *fn, ctx.b, NULL, err, errlen);
        free(p);
        if (rc < 0 && rc != ASSAY_ENOTFOUND) goto fail;
    }
    for (size_t i = 0; i < n_examples; i++)
        if (assay_terms_read_examples(examples[i], examples[i], ctx.b, NULL, err, errlen) < 0)
            goto fail;
    return assay_terms_builder_finish(&ctx.b, err, errlen);
fail:
    assay_terms_builder_destroy(&ctx.b);
    return NULL;
}

static int s_snapshot(int argc, char **argv, const assay_config_t *cfg)
{
    if (s_wants_help(argc, argv)) {
        fputs(s_usage_snapshot, stdout);
        return 0;
    }
    const char *dir = NULL, *out = NULL;
    const char *examples[16];
    size_t n_examples = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--from-dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--examples") == 0 && i + 1 < argc) {
            if (n_examples == 16) {
                fprintf(stderr, "assay terms snapshot: at most 16 --examples files\n");
                return 2;
            }
            examples[n_examples++] = argv[++i];
        }
        else if ((strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) && i + 1 < argc)
            out = argv[++i];
        else {
            fprintf(stderr, "assay terms snapshot: unexpected argument \"%s\"\n", argv[i]);
            fputs(s_usage_snapshot, stderr);
            return 2;
        }
    }
    if (!out) {
        fputs(s_usage_snapshot, stderr);
        return 2;
    }
    char err[512], dbversion[ASSAY_TERMS_VERSION_MAX] = "";
    int64_t t0 = assay_clock_ms();
    int unreachable = 0;
    assay_terms_t *t = NULL;
    if (dir && n_examples) {
        /* the directory's files plus the extra known mentions */
        t = s_dir_with_examples(dir, examples, n_examples, err, sizeof err);
    } else if (dir) {
        t = assay_terms_load_dir(dir, err, sizeof err);
    } else {
        t = s_from_db(cfg, dbversion, sizeof dbversion, &unreachable, examples, n_examples);
    }
    if (!t) {
        if (dir) fprintf(stderr, "assay terms snapshot: %s\n", err);
        return unreachable ? 4 : 1;
    }
    if (*dbversion && !n_examples && strcmp(dbversion, assay_terms_version(t)) != 0)
        fprintf(stderr,
                "assay terms snapshot: warning: the database records version %s but its "
                "rows build %s\n",
                dbversion, assay_terms_version(t));
    if (assay_terms_write_snapshot(t, out, err, sizeof err) < 0) {
        fprintf(stderr, "assay terms snapshot: %s\n", err);
        assay_terms_destroy(&t);
        return 1;
    }
    size_t size;
    assay_terms_image(t, &size);
    printf("wrote terminology %s to \"%s\" (%.1f MB) in %.1f s\n", assay_terms_version(t), out,
           (double)size / 1048576.0, (double)(assay_clock_ms() - t0) / 1000.0);
    assay_terms_destroy(&t);
    return 0;
}

/* ----------------------------------------------------------------- info */

static int s_info(int argc, char **argv)
{
    if (s_wants_help(argc, argv)) {
        fputs(s_usage_info, stdout);
        return 0;
    }
    int json = argc == 3 && strcmp(argv[2], "--json") == 0;
    if (argc == 3 && strcmp(argv[1], "--json") == 0) {
        json = 1;
        argv[1] = argv[2];
    }
    if (argc != 2 + json || argv[1][0] == '-') {
        if (argc >= 2 && argv[argc - 1][0] == '-' && !json)
            fprintf(stderr, "assay terms info: unknown option \"%s\"\n", argv[argc - 1]);
        fputs(s_usage_info, stderr);
        return 2;
    }
    char err[512];
    int64_t t0 = assay_clock_us();
    assay_terms_t *t = assay_terms_open(argv[1], err, sizeof err);
    int64_t t1 = assay_clock_us();
    if (!t) {
        fprintf(stderr, "assay terms info: %s\n", err);
        return 1;
    }
    assay_terms_stats_t st;
    assay_terms_stats(t, &st);
    if (json) {
        printf("{\"version\":\"%s\",\"format\":%d,\"mapped\":%s,\"codes\":%zu,\"clin20\":%zu,"
               "\"bj_v601\":%zu,\"icd10\":%zu,\"aliases\":%zu,\"names\":%zu,\"kg_nodes\":%zu,"
               "\"kg_edges\":%zu,\"labels\":%zu,\"examples\":%zu,\"image_bytes\":%zu,"
               "\"open_ms\":%.3f}\n",
               assay_terms_version(t), ASSAY_TERMS_FORMAT_VERSION, st.mapped ? "true" : "false",
               st.concepts, st.per_system[ASSAY_SYS_CLIN20], st.per_system[ASSAY_SYS_BJV601],
               st.per_system[ASSAY_SYS_ICD10], st.aliases, st.names, st.kg_nodes, st.kg_edges,
               assay_terms_label_count(t), st.examples, (size_t)st.image_bytes,
               (double)(t1 - t0) / 1000.0);
        assay_terms_destroy(&t);
        return 0;
    }
    printf("version:      %s\n", assay_terms_version(t));
    printf("format:       %d (%s)\n", ASSAY_TERMS_FORMAT_VERSION,
           st.mapped ? "snapshot, mapped" : "built from TSV files");
    printf("codes:        %zu (clin2.0 %zu, bj_v601 %zu, shared ICD-10 levels %zu)\n", st.concepts,
           st.per_system[ASSAY_SYS_CLIN20], st.per_system[ASSAY_SYS_BJV601],
           st.per_system[ASSAY_SYS_ICD10]);
    printf("aliases:      %zu (%zu names indexed)\n", st.aliases, st.names);
    printf("graph:        %zu nodes, %zu edges, %zu labels\n", st.kg_nodes, st.kg_edges,
           assay_terms_label_count(t));
    printf("known mentions: %zu (mention -> standard names; the normaliser and the verifier "
           "learn from them by default)\n",
           st.examples);
    printf("size:         %.1f MB (strings %.1f MB)\n", (double)st.image_bytes / 1048576.0,
           (double)st.strings_bytes / 1048576.0);
    printf("open time:    %.1f ms\n", (double)(t1 - t0) / 1000.0);
    assay_terms_destroy(&t);
    return 0;
}

int assay_cmd_terms(int argc, char **argv, const assay_config_t *cfg)
{
    if (argc < 2) {
        fputs(s_usage, stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        fputs(s_usage, stdout);
        return 0;
    }
    if (strcmp(sub, "load") == 0) return s_load(argc - 1, argv + 1, cfg);
    if (strcmp(sub, "snapshot") == 0) return s_snapshot(argc - 1, argv + 1, cfg);
    if (strcmp(sub, "info") == 0) return s_info(argc - 1, argv + 1);
    fprintf(stderr, "assay terms: unknown subcommand \"%s\"\n", sub);
    fputs(s_usage, stderr);
    return 2;
}
