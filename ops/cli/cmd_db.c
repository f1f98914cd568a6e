/*  cmd_db.c: `assay db migrate` and `assay db status`: apply the SQL migrations
 *  compiled into the binary, the pending ones of a run in one transaction (all or
 *  nothing), recorded in schema_migrations with a checksum so a changed file is
 *  noticed. */
#include "ops/cli/cli.h"

#include "common/error.h"
#include "common/db/migrations.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

static const char s_help[] =
    "usage: assay db migrate     apply the migrations that have not run yet\n"
    "       assay db status      list migrations and whether they ran\n"
    "\n"
    "Migrations are the numbered files of sql/, compiled into assay. Each runs once and\n"
    "is recorded in schema_migrations; running `db migrate` again does nothing. The\n"
    "pending migrations of one run go in one transaction: when one fails, none of them\n"
    "is applied and the schema stays as it was. Concurrent runs wait for each other\n"
    "(advisory lock). The first run on a cluster creates the NOLOGIN roles\n"
    "assay_broker, assay_operator and assay_reporting, which needs CREATEROLE (or a\n"
    "superuser); later runs need only ownership of the database's schema.\n"
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

/* What a refused migration lacked, from PostgreSQL's message: the privilege
 * itself (CREATEROLE, CREATE on a schema, ownership), not the assay_* roles
 * the generic permission message of db.c lists, which are for the other commands.
 * Writes one clause into out. */
static void s_missing_privilege(const char *msg, const char *detail, const char *user, char *out,
                                size_t len)
{
    const char *p;
    if (strstr(msg, "permission denied to create role") || strstr(msg, "CREATEROLE") ||
        (detail && strstr(detail, "CREATEROLE")))
        snprintf(out, len,
                 "role \"%s\" lacks the CREATEROLE attribute, which creating the group roles "
                 "assay_broker, assay_operator and assay_reporting needs (once per cluster); "
                 "run `assay db migrate` as a role with CREATEROLE (ALTER ROLE %s CREATEROLE) "
                 "or have an administrator create those three roles NOLOGIN first",
                 user, user);
    else if ((p = strstr(msg, "permission denied for schema ")) != NULL)
        snprintf(out, len,
                 "role \"%s\" lacks CREATE on schema %s; run `assay db migrate` as the owner "
                 "of the database (or GRANT CREATE ON SCHEMA %s TO %s)",
                 user, p + strlen("permission denied for schema "),
                 p + strlen("permission denied for schema "), user);
    else if ((p = strstr(msg, "permission denied for database ")) != NULL)
        snprintf(out, len,
                 "role \"%s\" lacks a privilege on database %s (CREATE, or the right to grant "
                 "CONNECT on it); run `assay db migrate` as the owner of the database",
                 user, p + strlen("permission denied for database "));
    else if ((p = strstr(msg, "must be owner of ")) != NULL)
        snprintf(out, len,
                 "role \"%s\" does not own %s; run `assay db migrate` as the role that ran "
                 "the earlier migrations (the owner of the schema)",
                 user, p + strlen("must be owner of "));
    else
        snprintf(out, len,
                 "role \"%s\" lacks the privilege named above; run `assay db migrate` as the "
                 "owner of the database",
                 user);
}

/* run one statement list, keeping the result's fields for the error message;
 * 0 or -1 with a one-line message in err */
static int s_run(assay_db_t *db, const char *sql, int np, const char *const *params, char *err,
                 size_t errlen)
{
    PGconn *conn = assay_db_conn(db);
    PGresult *res = np ? PQexecParams(conn, sql, np, NULL, params, NULL, NULL, 0)
                       : PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        PQclear(res);
        return 0;
    }
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
    if (!msg) msg = PQerrorMessage(conn);
    char line[512];
    snprintf(line, sizeof line, "%s", msg);
    line[strcspn(line, "\n")] = '\0';
    if (state && strcmp(state, "42501") == 0) {
        /* PostgreSQL 16 says which attribute is missing in the detail only */
        char why[768];
        s_missing_privilege(line, detail, PQuser(conn), why, sizeof why);
        snprintf(err, errlen, "%s: %s", line, why);
    } else {
        snprintf(err, errlen, "%s", line);
    }
    PQclear(res);
    return -1;
}

/* Every pending migration runs in ONE transaction with its schema_migrations
 * row: a migration that fails rolls back itself and every one before it in this
 * run, so a failed `db migrate` leaves the schema (and schema_migrations) as it
 * found them. DDL and CREATE ROLE are transactional in PostgreSQL; what is not
 * (CREATE INDEX CONCURRENTLY, using an enum value added earlier in the same
 * transaction) has no place in a migration. */
static int s_migrate(assay_cli_t *cli, assay_db_t *db)
{
    (void)cli;
    char err[1536];
    if (s_run(db, "SELECT pg_advisory_lock(" S_LOCK_KEY ")", 0, NULL, err, sizeof err) != 0) {
        assay_cli_error("db migrate", "%s", err);
        return ASSAY_EXIT_DB;
    }
    const char **applied = assay_calloc((size_t)assay_migrations_count + 1, sizeof *applied);
    int napplied = 0, rc = ASSAY_EXIT_OK;
    const char *failed = NULL;
    if (s_run(db, "BEGIN", 0, NULL, err, sizeof err) != 0 ||
        s_run(db, s_create, 0, NULL, err, sizeof err) != 0) {
        rc = ASSAY_EXIT_DB;
        failed = "schema_migrations";
    }
    for (int i = 0; rc == ASSAY_EXIT_OK && i < assay_migrations_count; i++) {
        const assay_migration_t *m = &assay_migrations[i];
        char sum[65], ver[16];
        assay_sha256_hex(m->sql, strlen(m->sql), sum);
        snprintf(ver, sizeof ver, "%d", m->version);
        const char *p[] = {ver};
        PGresult *res =
            assay_db_query(db, "SELECT checksum FROM schema_migrations WHERE version = $1", 1, p);
        if (!res) {
            snprintf(err, sizeof err, "%s", assay_db_error(db));
            failed = m->name;
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
        if (s_run(db, m->sql, 0, NULL, err, sizeof err) != 0 ||
            s_run(db,
                  "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)", 3,
                  ins, err, sizeof err) != 0) {
            failed = m->name;
            rc = ASSAY_EXIT_DB;
            break;
        }
        applied[napplied++] = m->name;
    }
    if (rc == ASSAY_EXIT_OK && s_run(db, "COMMIT", 0, NULL, err, sizeof err) != 0) {
        failed = "COMMIT";
        rc = ASSAY_EXIT_DB;
    }
    if (rc != ASSAY_EXIT_OK) {
        assay_db_rollback(db);
        assay_cli_error("db migrate", "migration %s failed: %s", failed, err);
        fprintf(stderr,
                "assay db migrate: nothing was applied (the %d migration%s before it in this "
                "run rolled back with it): the schema is as it was\n",
                napplied, napplied == 1 ? "" : "s");
    } else {
        for (int i = 0; i < napplied; i++) printf("applied %s\n", applied[i]);
        printf("schema up to date (%d applied now, %d known)\n", napplied,
               assay_migrations_count);
    }
    free(applied);
    s_run(db, "SELECT pg_advisory_unlock(" S_LOCK_KEY ")", 0, NULL, err, sizeof err);
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
