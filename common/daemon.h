/*  daemon.h: what every long-running assay program does before its own work:
 *  read the command line, load the configuration, set up logging, and turn
 *  SIGTERM / SIGINT into a stop flag.
 *
 *  Each program declares its options in a table; --config, --log-level, --help
 *  and --version are handled here, the same way for every program.
 */
#ifndef ASSAY_DAEMON_H
#define ASSAY_DAEMON_H

#include "common/config.h"

#include <signal.h>
#include <stdio.h>

typedef struct {
    const char *flag;   /* e.g. "--db"; NULL ends a table */
    const char **value; /* where the option's value goes (left alone when absent) */
} assay_daemon_opt_t;

typedef struct {
    const char *program;            /* e.g. "assay-broker", for messages and logs */
    void (*usage)(FILE *out);       /* the program's help text */
    const assay_daemon_opt_t *opts; /* options that take a value */
} assay_daemon_spec_t;

/* Parse argv against spec, load the configuration (--config FILE, else the
 * default places, see common/config.h) and start logging at --log-level, else
 * config log_level (default info), in config log_format (text | json).
 * Returns 0 with *cfg_out set (the caller owns it), or an exit status for main:
 * 0 after --help or --version, 2 after a usage or configuration error (the
 * message is printed on stderr). */
int assay_daemon_init(const assay_daemon_spec_t *spec, int argc, char **argv,
                      assay_config_t **cfg_out);

/* SIGTERM and SIGINT set *stop to 1 from now on; SIGPIPE is ignored (a peer that
 * went away is an error return, not a signal) */
void assay_daemon_signals(volatile sig_atomic_t *stop);

#endif
