/*  cmd_db.c: `assay db migrate` and `assay db status`: apply the SQL migrations
 *  compiled into the binary, each in its own transaction, recorded in
 *  schema_migrations with a checksum so a changed file is noticed. */
#include "ops/cli/cli.h"

#include "common/error.h"
#include "common/migrations.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

static const char s_help[] =
    "usage: assay db migrate     apply the migrations that have not run yet\n"
    "       assay db status      list migrations and whether they ran\n"
    "\n"
    "Migrations are the numbered files of sql/, compiled into assay. Each runs once, in\n"
    "its own transaction, and is recorded in schema_migrations; running `db migrate`\n"
    "again does nothing. Concurrent runs wait for each other (advisory lock).\n"
    "\n"
    "examples:\n"
    "  assay --db postgresql:///assay db migrate\n"
    "  ASSAY_DB=postgresql://assay@dbhost/assay assay db status --json\n";

static const char s_create[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now());"
    "COMMENT ON TABLE schema_migrations IS 'Migrations applied by assay db migrate, with the"
    " checksum of the SQL that ran.'";

#define S_LOCK_KEY "7305812001" /* advisory lock id for migrations */

static int s_migrate(assay_cli_t *cli, assay_db_t *db)
{
    if (assay_db_exec(db, "SELECT pg_advisory_lock(" S_LOCK_KEY ")") != 0 ||
        assay_db_exec(db, s_create) != 0) {
        assay_cli_error("db migrate", "%s", assay_db_error(db));
        return ASSAY_EXIT_DB;
    }
    int applied = 0, rc = ASSAY_EXIT_OK;
    for (int i = 0; i < assay_migrations_count; i++) {
        const assay_migration_t *m = &assay_migrations[i];
        char sum[65], ver[16];
        assay_sha256_hex(m->sql, strlen(m->sql), sum);
        snprintf(ver, sizeof ver, "%d", m->version);
        const char *p[] = {ver};
        PGresult *res =
            assay_db_query(db, "SELECT checksum FROM schema_migrations WHERE version = $1", 1, p);
        if (!res) {
            assay_cli_error("db migrate", "%s", assay_db_error(db));
            rc = ASSAY_EXIT_DB;
            break;
        }
        if (PQntuples(res) == 1) {
            if (strcmp(PQgetvalue(res, 0, 0), sum) != 0)
                fprintf(stderr, "assay db migrate: warning: %s changed after it was applied "
                                "(write a new migration instead of editing an applied one)\n",
                        m->name);
            PQclear(res);
            continue;
        }
        PQclear(res);
        const char *ins[] = {ver, m->name, sum};
        if (assay_db_begin(db) != 0 || assay_db_exec(db, m->sql) != 0 ||
            assay_db_execp(db,
                           "INSERT INTO schema_migrations (version, name, checksum) "
                           "VALUES ($1, $2, $3)",
                           3, ins) != 0 ||
            assay_db_commit(db) != 0) {
            assay_cli_error("db migrate", "migration %s failed: %s", m->name, assay_db_error(db));
            assay_db_rollback(db);
            rc = ASSAY_EXIT_DB;
            break;
        }
        printf("applied %s\n", m->name);
        applied++;
    }
    assay_db_exec(db, "SELECT pg_advisory_unlock(" S_LOCK_KEY ")");
    if (rc == ASSAY_EXIT_OK)
        printf("schema up to date (%d applied now, %d known)\n", applied, assay_migrations_count);
    (void)cli;
    return rc;
}

static int s_status(assay_cli_t *cli, assay_db_t *db, int json)
{
    PGresult *res = assay_db_query(
        db, "SELECT to_regclass('schema_migrations') IS NOT NULL", 0, NULL);
    if (!res) {
        assay_cli_error("db status", "%s", assay_db_error(db));
        return ASSAY_EXIT_DB;
    }
    int have = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    int pending = 0;
    if (json) printf("[");
    for (int i = 0; i < assay_migrations_count; i++) {
        const assay_migration_t *m = &assay_migrations[i];
        char ver[16];
        snprintf(ver, sizeof ver, "%d", m->version);
        const char *p[] = {ver};
        char when[64] = "";
        if (have) {
            res = assay_db_query(db, "SELECT applied_at FROM schema_migrations WHERE version = $1",
                                 1, p);
            if (!res) {
                assay_cli_error("db status", "%s", assay_db_error(db));
                return ASSAY_EXIT_DB;
            }
            if (PQntuples(res)) snprintf(when, sizeof when, "%s", PQgetvalue(res, 0, 0));
            PQclear(res);
        }
        if (!when[0]) pending++;
        if (json)
            printf("%s{\"version\":%d,\"name\":\"%s\",\"applied_at\":%s%s%s}", i ? "," : "",
                   m->version, m->name, when[0] ? "\"" : "", when[0] ? when : "null",
                   when[0] ? "\"" : "");
        else
            printf("%-24s %s\n", m->name, when[0] ? when : "pending");
    }
    if (json) printf("]\n");
    (void)cli;
    return pending ? ASSAY_EXIT_FAIL : ASSAY_EXIT_OK;
}

int assay_cmd_db(assay_cli_t *cli, int argc, char **argv)
{
    if (argc < 2 || assay_cli_is_help(argv[1])) {
        fputs(s_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? ASSAY_EXIT_USAGE : ASSAY_EXIT_OK;
    }
    int json = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (assay_cli_is_help(argv[i])) {
            fputs(s_help, stdout);
            return ASSAY_EXIT_OK;
        } else {
            assay_cli_error("db", "unknown argument \"%s\"", argv[i]);
            return ASSAY_EXIT_USAGE;
        }
    }
    if (strcmp(argv[1], "migrate") != 0 && strcmp(argv[1], "status") != 0) {
        assay_cli_error("db", "unknown subcommand \"%s\" (expected migrate or status)", argv[1]);
        return ASSAY_EXIT_USAGE;
    }
    assay_db_t *db = assay_cli_db(cli);
    if (!db) return ASSAY_EXIT_DB;
    return strcmp(argv[1], "migrate") == 0 ? s_migrate(cli, db) : s_status(cli, db, json);
}
