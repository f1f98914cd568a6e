/*  cli.h: what every `assay` subcommand shares: the parsed global options, the
 *  configuration, a database connection made on demand, terminal detection for
 *  progress bars and colour, and the documented exit codes.
 */
#ifndef ASSAY_CLI_H
#define ASSAY_CLI_H

#include "common/config.h"
#include "common/db/db.h"

#include <stdio.h>

/* exit codes (documented in the README's CLI reference) */
enum {
    ASSAY_EXIT_OK = 0,       /* success */
    ASSAY_EXIT_FAIL = 1,     /* the command ran and failed (bad input, failed tasks, ...) */
    ASSAY_EXIT_USAGE = 2,    /* wrong flags or arguments */
    ASSAY_EXIT_NOTFOUND = 3, /* the named job / dataset / file does not exist */
    ASSAY_EXIT_DB = 4,       /* the database is unreachable or refused the operation */
};

typedef struct {
    assay_config_t *config;
    const char *conninfo; /* from --db, ASSAY_DB or the config's db key */
    assay_db_t *db;       /* connected by assay_cli_db() */
    int tty;              /* stdout is a terminal */
    int err_tty;          /* stderr is a terminal */
    int color;            /* colour allowed (terminal and NO_COLOR unset) */
} assay_cli_t;

/* connect (once); on failure prints the reason and a hint on stderr and returns NULL */
assay_db_t *assay_cli_db(assay_cli_t *cli);

/* print "assay CMD: message" on stderr */
void assay_cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* true when arg is -h or --help */
int assay_cli_is_help(const char *arg);

/* parse a positive job id; prints an error and returns -1 when it is not one */
long long assay_cli_job_id(const char *cmd, const char *arg);

/* a progress line on stderr: a bar with rate and ETA on a terminal, a plain line
 * every few seconds otherwise. total may be 0 (unknown). */
typedef struct {
    const char *label;
    long long total;
    long long done;
    long long start_ms;
    long long last_ms;
    int tty;
} assay_progress_t;

void assay_progress_init(assay_progress_t *p, const char *label, long long total, int tty);
void assay_progress_update(assay_progress_t *p, long long done);
void assay_progress_finish(assay_progress_t *p);

/* subcommands */
int assay_cmd_db(assay_cli_t *cli, int argc, char **argv);
int assay_cmd_submit(assay_cli_t *cli, int argc, char **argv);
int assay_cmd_status(assay_cli_t *cli, int argc, char **argv);
int assay_cmd_jobs(assay_cli_t *cli, int argc, char **argv);
int assay_cmd_export(assay_cli_t *cli, int argc, char **argv);
int assay_cmd_run(assay_cli_t *cli, int argc, char **argv);
int assay_cmd_control(assay_cli_t *cli, int argc, char **argv);
int assay_cmd_report(assay_cli_t *cli, int argc, char **argv);
int assay_cmd_workers(assay_cli_t *cli, int argc, char **argv);
int assay_cmd_endpoints(assay_cli_t *cli, int argc, char **argv);
int assay_cmd_terms_cli(assay_cli_t *cli, int argc, char **argv);
int assay_cmd_keygen(assay_cli_t *cli, int argc, char **argv);
/* ops/cli/cmd_terms.c */
int assay_cmd_terms(int argc, char **argv, const assay_config_t *cfg);

#endif
