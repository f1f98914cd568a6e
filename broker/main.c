/*  main.c: assay-broker. Loads the configuration, waits to become the active
 *  broker (a standby blocks on the Postgres advisory lock), then schedules until
 *  SIGTERM or SIGINT. */
#include "broker/broker.h"

#include "common/config.h"
#include "common/curve.h"
#include "common/log.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static volatile sig_atomic_t s_stop = 0;

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: assay-broker [--config FILE] [--db CONNINFO] [--bind ENDPOINT]\n"
            "                    [--log-level LEVEL]\n"
            "\n"
            "Schedule assay tasks from Postgres to workers over ZeroMQ. Start a second\n"
            "broker on the same database as a standby: it waits and takes over when the\n"
            "active one dies.\n"
            "\n"
            "  --db CONNINFO      PostgreSQL connection (config `db`, env ASSAY_DB)\n"
            "  --bind ENDPOINT    where workers connect (config broker.bind, env\n"
            "                     ASSAY_BROKER_BIND; default tcp://127.0.0.1:5555)\n"
            "  --log-level LEVEL  debug | info | warn | error (config log_level)\n"
            "\n"
            "Other settings (config file [broker] section or ASSAY_BROKER_* variables):\n"
            "  heartbeat_ms (1000), heartbeat_min_ms / heartbeat_max_ms (bounds of a\n"
            "  worker's proposed interval; both heartbeat_ms by default), liveness (5),\n"
            "  claim_max (8000), retry_base_ms (1000),\n"
            "  retry_max_ms (300000), max_pending_writes (50000), drain_ms (2000: on\n"
            "  SIGTERM, time running tasks get to report),\n"
            "  secret_key_file, allowed_keys (CurveZMQ; or curve = off for local\n"
            "  development), metrics (HOST:PORT for /metrics, /healthz, /readyz)\n");
}

int main(int argc, char **argv)
{
    const char *config_path = NULL, *db = NULL, *bind = NULL, *level = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            s_usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--version")) {
            printf("assay-broker %s\n", ASSAY_VERSION);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "assay-broker: unknown option or missing value \"%s\"\n", a);
            s_usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--config"))
            config_path = v;
        else if (!strcmp(a, "--db"))
            db = v;
        else if (!strcmp(a, "--bind"))
            bind = v;
        else if (!strcmp(a, "--log-level"))
            level = v;
        else {
            fprintf(stderr, "assay-broker: unknown option \"%s\"\n", a);
            s_usage(stderr);
            return 2;
        }
    }
    assay_config_t *cfg = assay_config_new();
    char err[1024];
    if (assay_config_load_default(cfg, config_path, err, sizeof err) != 0) {
        fprintf(stderr, "assay-broker: %s\n", err);
        return 2;
    }
    if (db) assay_config_set(cfg, "db", db);
    if (bind) assay_config_set(cfg, "broker.bind", bind);
    assay_log_level_t lv = ASSAY_LOG_INFO;
    const char *lvs = level ? level : assay_config_get(cfg, "log_level", "info");
    if (assay_log_parse_level(lvs, &lv) != 0) {
        fprintf(stderr, "assay-broker: unknown log level \"%s\"\n", lvs);
        return 2;
    }
    assay_log_init("assay-broker", lv, !strcmp(assay_config_get(cfg, "log_format", "text"), "json"));

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (assay_curve_server_check(cfg, err, sizeof err) != 0) {
        log_error("broker", "%s", err);
        assay_config_destroy(&cfg);
        return 2;
    }
    assay_broker_t *broker = assay_broker_new(cfg, err, sizeof err);
    if (!broker) {
        log_error("broker", "%s", err);
        assay_config_destroy(&cfg);
        return 1;
    }
    int rc = 0;
    if (assay_broker_wait_active(broker, &s_stop) == 0)
        rc = assay_broker_run(broker, &s_stop) == 0 ? 0 : 1;
    assay_broker_destroy(&broker);
    assay_config_destroy(&cfg);
    return rc;
}
