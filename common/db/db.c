/*  db.c: see db.h */
#include "common/db/db.h"

#include "common/error.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct assay_db {
    PGconn *conn;
    char error[1024];
    char sqlstate[6];
};

static void s_set_error(assay_db_t *self, const char *prefix, const PGresult *res)
{
    const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(self->conn);
    if (!msg || !*msg) msg = PQerrorMessage(self->conn);
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(self->sqlstate, sizeof self->sqlstate, "%s", state ? state : "");
    snprintf(self->error, sizeof self->error, "%s%s", prefix ? prefix : "", msg ? msg : "");
    /* one line: cut at the first newline */
    char *nl = strchr(self->error, '\n');
    if (nl) *nl = '\0';
    /* a role without the privilege: say which roles exist for what */
    if (strcmp(self->sqlstate, "42501") == 0) {
        size_t len = strlen(self->error);
        snprintf(self->error + len, sizeof self->error - len,
                 " (role \"%s\" lacks this privilege: submitting and changing jobs needs "
                 "assay_operator, the broker needs assay_broker, assay_reporting only reads)",
                 PQuser(self->conn));
    }
}

assay_db_t *assay_db_connect(const char *conninfo, const char *app, char *err, size_t errlen)
{
    const char *keys[] = {"dbname", "application_name", "client_encoding", NULL};
    const char *vals[] = {conninfo ? conninfo : "", app ? app : "assay", "UTF8", NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (!conn || PQstatus(conn) != CONNECTION_OK) {
        const char *msg = conn ? PQerrorMessage(conn) : "out of memory";
        char line[512];
        snprintf(line, sizeof line, "%s", msg);
        for (char *p = line; *p; p++)
            if (*p == '\n') *p = ' ';
        size_t n = strlen(line);
        while (n && line[n - 1] == ' ') line[--n] = '\0';
        snprintf(err, errlen, "could not connect to database: %s", line);
        if (conn) PQfinish(conn);
        return NULL;
    }
    assay_db_t *self = ASSAY_NEW(assay_db_t);
    self->conn = conn;
    PGresult *res = PQexec(conn, "SET client_min_messages = warning");
    PQclear(res);
    return self;
}

void assay_db_destroy(assay_db_t **self_p)
{
    if (!self_p || !*self_p) return;
    assay_db_t *self = *self_p;
    if (self->conn) PQfinish(self->conn);
    free(self);
    *self_p = NULL;
}

PGconn *assay_db_conn(assay_db_t *self)
{
    return self->conn;
}

const char *assay_db_error(const assay_db_t *self)
{
    return self->error;
}

int assay_db_ok(assay_db_t *self)
{
    if (PQstatus(self->conn) == CONNECTION_OK) return 1;
    PQreset(self->conn);
    return PQstatus(self->conn) == CONNECTION_OK;
}

static int s_check(assay_db_t *self, PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_COPY_IN) {
        self->sqlstate[0] = '\0';
        return 0;
    }
    s_set_error(self, NULL, res);
    return ASSAY_EDB;
}

int assay_db_exec(assay_db_t *self, const char *sql)
{
    PGresult *res = PQexec(self->conn, sql);
    int rc = s_check(self, res);
    PQclear(res);
    return rc;
}

int assay_db_execp(assay_db_t *self, const char *sql, int nparams, const char *const *params)
{
    PGresult *res = PQexecParams(self->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    int rc = s_check(self, res);
    PQclear(res);
    return rc;
}

PGresult *assay_db_query(assay_db_t *self, const char *sql, int nparams,
                         const char *const *params)
{
    PGresult *res = PQexecParams(self->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    if (s_check(self, res) != 0) {
        PQclear(res);
        return NULL;
    }
    return res;
}

int assay_db_prepare(assay_db_t *self, const char *name, const char *sql, int nparams)
{
    PGresult *res = PQprepare(self->conn, name, sql, nparams, NULL);
    int rc = s_check(self, res);
    PQclear(res);
    return rc;
}

PGresult *assay_db_query_prepared(assay_db_t *self, const char *name, int nparams,
                                  const char *const *params)
{
    PGresult *res = PQexecPrepared(self->conn, name, nparams, params, NULL, NULL, 0);
    if (s_check(self, res) != 0) {
        PQclear(res);
        return NULL;
    }
    return res;
}

int assay_db_send_prepared(assay_db_t *self, const char *name, int nparams,
                           const char *const *params)
{
    if (!PQsendQueryPrepared(self->conn, name, nparams, params, NULL, NULL, 0)) {
        s_set_error(self, NULL, NULL);
        return ASSAY_EDB;
    }
    return 0;
}

int assay_db_send(assay_db_t *self, const char *sql)
{
    if (!PQsendQuery(self->conn, sql)) {
        s_set_error(self, NULL, NULL);
        return ASSAY_EDB;
    }
    return 0;
}

PGresult *assay_db_poll_result(assay_db_t *self, int *done)
{
    *done = 0;
    if (!PQconsumeInput(self->conn)) {
        s_set_error(self, NULL, NULL);
        *done = 1;
        return NULL;
    }
    if (PQisBusy(self->conn)) return NULL;
    *done = 1;
    PGresult *res = PQgetResult(self->conn), *extra;
    while ((extra = PQgetResult(self->conn)) != NULL) PQclear(extra);
    if (s_check(self, res) != 0) {
        PQclear(res);
        return NULL;
    }
    return res;
}

int assay_db_begin(assay_db_t *self)
{
    return assay_db_exec(self, "BEGIN");
}

int assay_db_commit(assay_db_t *self)
{
    return assay_db_exec(self, "COMMIT");
}

void assay_db_rollback(assay_db_t *self)
{
    PGresult *res = PQexec(self->conn, "ROLLBACK");
    PQclear(res);
}

int assay_db_copy_begin(assay_db_t *self, const char *sql)
{
    PGresult *res = PQexec(self->conn, sql);
    int rc = s_check(self, res);
    if (rc == 0 && PQresultStatus(res) != PGRES_COPY_IN) {
        snprintf(self->error, sizeof self->error, "statement is not COPY FROM STDIN");
        rc = ASSAY_EDB;
    }
    PQclear(res);
    return rc;
}

int assay_db_copy_send(assay_db_t *self, const char *data, size_t len)
{
    if (PQputCopyData(self->conn, data, (int)len) != 1) {
        s_set_error(self, "could not send COPY data: ", NULL);
        return ASSAY_EDB;
    }
    return 0;
}

int assay_db_copy_end(assay_db_t *self)
{
    if (PQputCopyEnd(self->conn, NULL) != 1) {
        s_set_error(self, "could not end COPY: ", NULL);
        return ASSAY_EDB;
    }
    int rc = 0;
    PGresult *res;
    while ((res = PQgetResult(self->conn)) != NULL) {
        if (rc == 0 && s_check(self, res) != 0) rc = ASSAY_EDB;
        PQclear(res);
    }
    return rc;
}

void assay_db_copy_escape(assay_buf_t *out, const char *s, size_t len)
{
    assay_buf_grow(out, len + 16);
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        switch (c) {
        case '\\':
            assay_buf_add(out, "\\\\", 2);
            break;
        case '\t':
            assay_buf_add(out, "\\t", 2);
            break;
        case '\n':
            assay_buf_add(out, "\\n", 2);
            break;
        case '\r':
            assay_buf_add(out, "\\r", 2);
            break;
        default:
            assay_buf_addc(out, c);
        }
    }
}
