/*  cmd_terms.h: `assay terms`: load the terminology TSVs into Postgres, write
 *  worker snapshots, describe a snapshot (see cmd_terms.c for the subcommands). */
#ifndef ASSAY_CMD_TERMS_H
#define ASSAY_CMD_TERMS_H

#include "common/config.h"

/* argv[0] is the command name ("terms"), argv[1] the subcommand. Returns the process
 * exit status: 0 done, 1 failed, 2 usage error. */
int assay_cmd_terms(int argc, char **argv, const assay_config_t *cfg);

#endif
