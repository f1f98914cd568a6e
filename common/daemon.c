/*  daemon.c: see daemon.h */
#include "common/daemon.h"

#include "common/log.h"

#include <string.h>

static volatile sig_atomic_t *s_stop_flag;

static void s_on_signal(int sig)
{
    (void)sig;
    if (s_stop_flag) *s_stop_flag = 1;
}

void assay_daemon_signals(volatile sig_atomic_t *stop)
{
    s_stop_flag = stop;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int assay_daemon_init(const assay_daemon_spec_t *spec, int argc, char **argv,
                      assay_config_t **cfg_out)
{
    const char *config_path = NULL, *level = NULL;
    *cfg_out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            spec->usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--version")) {
            printf("%s %s\n", spec->program, ASSAY_VERSION);
            return 0;
        }
        const char **slot = NULL;
        if (!strcmp(a, "--config"))
            slot = &config_path;
        else if (!strcmp(a, "--log-level"))
            slot = &level;
        for (const assay_daemon_opt_t *o = spec->opts; !slot && o && o->flag; o++)
            if (!strcmp(a, o->flag)) slot = o->value;
        if (!slot) {
            fprintf(stderr, "%s: unknown option \"%s\"\n", spec->program, a);
            spec->usage(stderr);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "%s: option \"%s\" needs a value\n", spec->program, a);
            spec->usage(stderr);
            return 2;
        }
        *slot = argv[++i];
    }
    assay_config_t *cfg = assay_config_new();
    char err[1024];
    if (assay_config_load_default(cfg, config_path, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", spec->program, err);
        assay_config_destroy(&cfg);
        return 2;
    }
    assay_log_level_t lv = ASSAY_LOG_INFO;
    const char *lvs = level ? level : assay_config_get(cfg, "log_level", "info");
    if (assay_log_parse_level(lvs, &lv) != 0) {
        fprintf(stderr, "%s: unknown log level \"%s\"\n", spec->program, lvs);
        assay_config_destroy(&cfg);
        return 2;
    }
    assay_log_init(spec->program, lv, !strcmp(assay_config_get(cfg, "log_format", "text"), "json"));
    *cfg_out = cfg;
    return 0;
}
