/*  db.h: the one place assay talks to libpq.
 *
 *  A thin layer: connecting with context in the error, running statements with
 *  parameters only (never string-built SQL), transactions, COPY, and turning a
 *  failed PGresult into one readable line. Callers read results with libpq's
 *  PQgetvalue() family; this header includes libpq-fe.h for them.
 */
#ifndef ASSAY_DB_H
#define ASSAY_DB_H

#include <libpq-fe.h>
#include <stddef.h>

typedef struct assay_db assay_db_t;

/* connect; on failure returns NULL and writes `could not connect to database: …` into
 * err (the conninfo's password is never echoed). application_name is set to app. */
assay_db_t *assay_db_connect(const char *conninfo, const char *app, char *err, size_t errlen);
void assay_db_destroy(assay_db_t **self_p);
PGconn *assay_db_conn(assay_db_t *self);
/* the last error as one line (no trailing newline); owned by the db handle */
const char *assay_db_error(const assay_db_t *self);
/* true when the connection is still up (and tries one reset when it is not) */
int assay_db_ok(assay_db_t *self);

/* run a statement without results (or whose results are not needed);
 * returns 0 or ASSAY_EDB with the message in assay_db_error() */
int assay_db_exec(assay_db_t *self, const char *sql);
/* run with text parameters (NULL = SQL NULL); returns 0 or ASSAY_EDB */
int assay_db_execp(assay_db_t *self, const char *sql, int nparams, const char *const *params);
/* run a query with text parameters; returns a PGresult the caller PQclear()s, or
 * NULL with the message in assay_db_error() */
PGresult *assay_db_query(assay_db_t *self, const char *sql, int nparams,
                         const char *const *params);

/* prepare a named statement on this connection; returns 0 or ASSAY_EDB */
int assay_db_prepare(assay_db_t *self, const char *name, const char *sql, int nparams);
/* run a prepared statement; like assay_db_query */
PGresult *assay_db_query_prepared(assay_db_t *self, const char *name, int nparams,
                                  const char *const *params);

/* start a prepared statement without waiting (one at a time per connection);
 * 0 or ASSAY_EDB */
int assay_db_send_prepared(assay_db_t *self, const char *name, int nparams,
                           const char *const *params);
/* the same for a statement without parameters */
int assay_db_send(assay_db_t *self, const char *sql);
/* read what arrived for it without blocking: *done = 0 while it runs; then its
 * result (the caller PQclear()s), or NULL with the message in assay_db_error() */
PGresult *assay_db_poll_result(assay_db_t *self, int *done);

int assay_db_begin(assay_db_t *self);
int assay_db_commit(assay_db_t *self);
/* roll back, ignoring errors (used on the error path) */
void assay_db_rollback(assay_db_t *self);

/* COPY: start `COPY ... FROM STDIN`, send rows (text format, caller escapes with
 * assay_db_copy_escape), end. Each returns 0 or ASSAY_EDB. */
int assay_db_copy_begin(assay_db_t *self, const char *sql);
int assay_db_copy_send(assay_db_t *self, const char *data, size_t len);
int assay_db_copy_end(assay_db_t *self);

/* append s (len bytes) to a COPY text-format buffer, escaping \ tab newline CR */
#include "common/util.h"
void assay_db_copy_escape(assay_buf_t *out, const char *s, size_t len);

/* the SQLSTATE of the last failed statement ("" when none) */

#endif
