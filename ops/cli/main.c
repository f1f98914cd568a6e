/*  main.c: `assay`, the operator CLI. Parses the global options, loads the shared
 *  configuration and dispatches to one subcommand (ops/cli/cmd_*.c). */
#include "ops/cli/cli.h"

#include "common/log.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *name;
    int (*fn)(assay_cli_t *cli, int argc, char **argv);
    const char *summary;
} s_command_t;

static const s_command_t s_commands[] = {
    {"db", assay_cmd_db, "apply schema migrations (db migrate) or show their state (db status)"},
    {"submit", assay_cmd_submit, "validate a pipeline spec, import items and create a job"},
    {"jobs", assay_cmd_jobs, "list jobs"},
    {"status", assay_cmd_status, "show a job's progress per stage (--watch to follow)"},
    {"pause", assay_cmd_control, "stop dispatching a job's tasks"},
    {"resume", assay_cmd_control, "dispatch a paused job's tasks again"},
    {"cancel", assay_cmd_control, "cancel a job: no new dispatch, pending tasks cancelled"},
    {"retry", assay_cmd_control, "put a job's dead tasks back to pending"},
    {"export", assay_cmd_export, "write a job's results as JSONL"},
    {"report", assay_cmd_report, "a job's figures: funnel, pass rates, spend, latency (--html)"},
    {"workers", assay_cmd_workers, "list the workers the broker has seen"},
    {"endpoints", assay_cmd_endpoints, "list the configured model endpoints (keys never shown)"},
    {"run", assay_cmd_run, "run a task kind locally on JSONL (no broker, no database)"},
    {"terms", assay_cmd_terms_cli, "load a terminology into Postgres, write or inspect snapshots"},
    {"keygen", assay_cmd_keygen, "write a CurveZMQ key pair for a broker or a worker"},
};

int assay_cmd_terms_cli(assay_cli_t *cli, int argc, char **argv)
{
    /* the terms command takes the connection from the config; honour --db */
    if (cli->conninfo && *cli->conninfo) assay_config_set(cli->config, "db", cli->conninfo);
    return assay_cmd_terms(argc, argv, cli->config);
}

static void s_usage(FILE *out)
{
    fprintf(out, "usage: assay [--config FILE] [--db CONNINFO] [--log-level LEVEL] COMMAND [ARGS]\n"
                 "\n"
                 "The operator CLI of assay, the medical reasoning data factory.\n"
                 "\n"
                 "commands:\n");
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        fprintf(out, "  %-10s %s\n", s_commands[i].name, s_commands[i].summary);
    fprintf(out, "\n"
                 "global options:\n"
                 "  --config FILE      configuration file (default: $ASSAY_CONFIG, else ./assay.conf)\n"
                 "  --db CONNINFO      PostgreSQL connection (default: $ASSAY_DB, else config `db`)\n"
                 "  --log-level LEVEL  debug | info | warn | error (default: warn)\n"
                 "  --version          print the version\n"
                 "\n"
                 "`assay COMMAND --help` describes each command.\n"
                 "exit codes: 0 ok, 1 failed, 2 usage error, 3 not found, 4 database error\n");
}

int main(int argc, char **argv)
{
    const char *config_path = NULL, *db = NULL, *level = NULL;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-') break;
        if (assay_cli_is_help(a)) {
            s_usage(stdout);
            return ASSAY_EXIT_OK;
        } else if (strcmp(a, "--version") == 0) {
            printf("assay %s\n", ASSAY_VERSION);
            return ASSAY_EXIT_OK;
        } else if ((strcmp(a, "--config") == 0 || strcmp(a, "--db") == 0 ||
                    strcmp(a, "--log-level") == 0) &&
                   i + 1 < argc) {
            const char **dst = a[2] == 'c' ? &config_path : a[2] == 'd' ? &db : &level;
            *dst = argv[++i];
        } else {
            fprintf(stderr, "assay: unknown option \"%s\"\n", a);
            s_usage(stderr);
            return ASSAY_EXIT_USAGE;
        }
    }
    if (i >= argc) {
        s_usage(stderr);
        return ASSAY_EXIT_USAGE;
    }
    const s_command_t *cmd = NULL;
    for (size_t k = 0; k < sizeof s_commands / sizeof s_commands[0]; k++)
        if (strcmp(s_commands[k].name, argv[i]) == 0) cmd = &s_commands[k];
    if (!cmd) {
        fprintf(stderr, "assay: unknown command \"%s\" (see `assay --help`)\n", argv[i]);
        return ASSAY_EXIT_USAGE;
    }

    assay_cli_t cli = {0};
    cli.config = assay_config_new();
    char err[512];
    if (assay_config_load_default(cli.config, config_path, err, sizeof err) != 0) {
        fprintf(stderr, "assay: %s\n", err);
        assay_config_destroy(&cli.config);
        return ASSAY_EXIT_USAGE;
    }
    assay_log_level_t lv = ASSAY_LOG_WARN;
    const char *lvs = level ? level : assay_config_get(cli.config, "log_level", NULL);
    if (lvs && assay_log_parse_level(lvs, &lv) != 0) {
        fprintf(stderr, "assay: unknown log level \"%s\" (expected debug, info, warn or error)\n",
                lvs);
        assay_config_destroy(&cli.config);
        return ASSAY_EXIT_USAGE;
    }
    const char *fmt = assay_config_get(cli.config, "log_format", "text");
    assay_log_init("assay", lv, strcmp(fmt, "json") == 0);
    cli.conninfo = db ? db : assay_config_get(cli.config, "db", "");
    cli.tty = isatty(STDOUT_FILENO);
    cli.err_tty = isatty(STDERR_FILENO);
    const char *nc = getenv("NO_COLOR");
    cli.color = cli.tty && !(nc && *nc);

    int rc = cmd->fn(&cli, argc - i, argv + i);
    assay_db_destroy(&cli.db);
    assay_config_destroy(&cli.config);
    return rc;
}
