/*  cli.c: shared helpers of the `assay` subcommands (see cli.h) */
#include "ops/cli/cli.h"

#include "common/util.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

assay_db_t *assay_cli_db(assay_cli_t *cli)
{
    if (cli->db) return cli->db;
    char err[512];
    cli->db = assay_db_connect(cli->conninfo, "assay-cli", err, sizeof err);
    if (!cli->db) {
        fprintf(stderr, "assay: %s\n", err);
        fprintf(stderr, "hint: set the connection with --db, the ASSAY_DB environment variable "
                        "or `db = ...` in assay.conf (e.g. postgresql://user@host/assay)\n");
    }
    return cli->db;
}

void assay_cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "assay %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int assay_cli_is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

long long assay_cli_job_id(const char *cmd, const char *arg)
{
    char *end;
    long long id = strtoll(arg, &end, 10);
    if (*arg == '\0' || *end || id <= 0) {
        assay_cli_error(cmd, "\"%s\" is not a job id (expected a positive number, see `assay jobs`)",
                        arg);
        return -1;
    }
    return id;
}

void assay_progress_init(assay_progress_t *p, const char *label, long long total, int tty)
{
    p->label = label;
    p->total = total;
    p->done = 0;
    p->start_ms = p->last_ms = assay_clock_ms();
    p->tty = tty;
}

static void s_progress_draw(assay_progress_t *p, int final)
{
    long long now = assay_clock_ms();
    double secs = (now - p->start_ms) / 1000.0;
    double rate = secs > 0 ? p->done / secs : 0;
    char eta[32] = "";
    if (p->total > 0 && rate > 0 && p->done < p->total)
        snprintf(eta, sizeof eta, " ETA %.0fs", (p->total - p->done) / rate);
    if (p->tty) {
        char bar[31];
        int fill = p->total > 0 ? (int)(30.0 * p->done / p->total) : 0;
        if (fill > 30) fill = 30;
        for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        if (p->total > 0)
            fprintf(stderr, "\r%s [%s] %lld/%lld %.0f/s%s\033[K", p->label, bar, p->done, p->total,
                    rate, eta);
        else
            fprintf(stderr, "\r%s %lld %.0f/s\033[K", p->label, p->done, rate);
        if (final) fputc('\n', stderr);
    } else {
        if (p->total > 0)
            fprintf(stderr, "%s: %lld/%lld (%.0f/s)%s\n", p->label, p->done, p->total, rate, eta);
        else
            fprintf(stderr, "%s: %lld (%.0f/s)\n", p->label, p->done, rate);
    }
    fflush(stderr);
}

void assay_progress_update(assay_progress_t *p, long long done)
{
    p->done = done;
    long long now = assay_clock_ms();
    long long every = p->tty ? 100 : 5000;
    if (now - p->last_ms < every) return;
    p->last_ms = now;
    s_progress_draw(p, 0);
}

void assay_progress_finish(assay_progress_t *p)
{
    s_progress_draw(p, 1);
}
