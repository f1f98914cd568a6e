/*  main.c: assay-broker. Loads the configuration, waits to become the active
 *  broker (a standby blocks on the Postgres advisory lock), then schedules until
 *  SIGTERM or SIGINT. */
#include "broker/broker.h"

#include "common/config.h"
#include "common/curve.h"
#include "common/daemon.h"
#include "common/log.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static volatile sig_atomic_t s_stop = 0;

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
    const char *db = NULL, *bind = NULL;
    const assay_daemon_opt_t opts[] = {{"--db", &db}, {"--bind", &bind}, {NULL, NULL}};
    const assay_daemon_spec_t spec = {"assay-broker", s_usage, opts};
    assay_config_t *cfg;
    int st = assay_daemon_init(&spec, argc, argv, &cfg);
    if (!cfg) return st;
    if (db) assay_config_set(cfg, "db", db);
    if (bind) assay_config_set(cfg, "broker.bind", bind);
    assay_daemon_signals(&s_stop);

    char err[1024];
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
