/*  cmd_run.c: `assay run KIND`: the offline runner. Reads JSONL on stdin, runs
 *  every line through the same handler code assay-worker runs (worker/exec.h), and
 *  writes each line back with the handler's fields added, in input order. */
#include "ops/cli/cli.h"

#include "common/util.h"
#include "worker/exec.h"
#include "worker/handlers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char s_help[] =
    "usage: assay run KIND [--param KEY=VALUE ...] [--terms PATH] [--concurrency N]\n"
    "                 [--timeout-ms MS] < in.jsonl > out.jsonl\n"
    "\n"
    "Run a task kind locally, without broker or database, on one JSON object per input\n"
    "line. Each output line is the input line with the handler's fields added, in input\n"
    "order. A line that fails gets an \"error\" field instead (and a message on stderr);\n"
    "the run goes on, and the exit code is 1 when any line failed.\n"
    "\n"
    "options:\n"
    "  --param KEY=VALUE  a parameter for the handler (VALUE is parsed as JSON when it\n"
    "                     is valid JSON, else taken as a string); repeatable\n"
    "  --terms PATH       terminology: a directory of TSV files or a snapshot file\n"
    "                     (the same as --param terms=PATH)\n"
    "  --concurrency N    tasks in flight at once (default 64; matters for I/O-bound kinds)\n"
    "  --timeout-ms MS    per-task time limit (default none)\n"
    "\n"
    "examples:\n"
    "  assay run noop < items.jsonl\n"
    "  assay run generate --param endpoint=sim --param template=answer_mcq --param n=4 < q.jsonl\n"
    "  assay run verify --terms ../shared/data < samples.jsonl > verified.jsonl\n";

typedef struct {
    json_t *line; /* input + output, NULL until complete */
    int done;
} s_slot_t;

typedef struct {
    s_slot_t *slots; /* ring indexed by seq - base */
    size_t cap;
    uint64_t base; /* first sequence not yet written */
    uint64_t next; /* next sequence to assign */
    long failed;
    long written;
    const char *kind;
} s_run_t;

static void s_on_done(const assay_exec_result_t *r, void *arg)
{
    s_run_t *run = arg;
    uint64_t seq = r->id;
    s_slot_t *slot = &run->slots[seq % run->cap];
    json_t *line = r->user;
    if (r->ok) {
        json_object_update(line, (json_t *)r->output);
    } else {
        run->failed++;
        fprintf(stderr, "assay run %s: stdin:%llu: %s\n", run->kind, (unsigned long long)seq,
                r->reason);
        json_t *e = json_pack("{s:s, s:b}", "reason", r->reason, "retryable", r->retryable);
        json_object_set_new(line, "error", e);
    }
    slot->line = line;
    slot->done = 1;
}

static void s_flush(s_run_t *run)
{
    while (run->base < run->next) {
        s_slot_t *slot = &run->slots[run->base % run->cap];
        if (!slot->done) break;
        if (slot->line) {
            char *text = json_dumps(slot->line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
            fputs(text, stdout);
            fputc('\n', stdout);
            free(text);
            json_decref(slot->line);
        }
        slot->line = NULL;
        slot->done = 0;
        run->base++;
        run->written++;
    }
}

static json_t *s_parse_value(const char *v)
{
    json_error_t jerr;
    json_t *j = json_loads(v, JSON_DECODE_ANY, &jerr);
    return j ? j : json_string(v);
}

int assay_cmd_run(assay_cli_t *cli, int argc, char **argv)
{
    if (argc < 2 || assay_cli_is_help(argv[1])) {
        fputs(s_help, argc < 2 ? stderr : stdout);
        if (argc >= 2) {
            printf("\nkinds in this build:\n");
            for (size_t i = 0; i < assay_handler_count(); i++)
                printf("  %-14s %s\n", assay_handler_at(i)->kind, assay_handler_at(i)->summary);
        }
        return argc < 2 ? ASSAY_EXIT_USAGE : ASSAY_EXIT_OK;
    }
    const char *kind = argv[1];
    json_t *params = json_object();
    long concurrency = 64, timeout_ms = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (assay_cli_is_help(a)) {
            fputs(s_help, stdout);
            json_decref(params);
            return ASSAY_EXIT_OK;
        }
        if (i + 1 >= argc) {
            assay_cli_error("run", "unknown argument or missing value: \"%s\" (see `assay run "
                                   "--help`)", a);
            json_decref(params);
            return ASSAY_EXIT_USAGE;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--param") == 0) {
            const char *eq = strchr(v, '=');
            if (!eq || eq == v) {
                assay_cli_error("run", "--param \"%s\": expected KEY=VALUE", v);
                json_decref(params);
                return ASSAY_EXIT_USAGE;
            }
            char *key = assay_strndup(v, (size_t)(eq - v));
            json_object_set_new(params, key, s_parse_value(eq + 1));
            free(key);
        } else if (strcmp(a, "--terms") == 0) {
            json_object_set_new(params, "terms", json_string(v));
        } else if (strcmp(a, "--concurrency") == 0 || strcmp(a, "--timeout-ms") == 0) {
            char *end;
            long n = strtol(v, &end, 10);
            if (*end || n < (a[2] == 'c' ? 1 : 0) || n > 1000000) {
                assay_cli_error("run", "%s: expected a positive integer, not \"%s\"", a, v);
                json_decref(params);
                return ASSAY_EXIT_USAGE;
            }
            if (a[2] == 'c')
                concurrency = n;
            else
                timeout_ms = n;
        } else {
            assay_cli_error("run", "unknown argument \"%s\" (see `assay run --help`)", a);
            json_decref(params);
            return ASSAY_EXIT_USAGE;
        }
    }
    if (!assay_handler_find(kind)) {
        assay_cli_error("run", "unknown task kind \"%s\" (`assay run --help` lists the kinds)",
                        kind);
        json_decref(params);
        return ASSAY_EXIT_USAGE;
    }

    s_run_t run = {0};
    run.kind = kind;
    run.cap = (size_t)concurrency + 1;
    run.slots = assay_calloc(run.cap, sizeof *run.slots);
    run.base = run.next = 1;
    assay_exec_t *exec = assay_exec_new(cli->config, params, s_on_done, &run);
    char err[1024];
    if (assay_exec_prepare(exec, kind, err, sizeof err) != 0) {
        assay_cli_error("run", "%s: %s", kind, err);
        assay_exec_destroy(&exec);
        free(run.slots);
        return ASSAY_EXIT_FAIL;
    }

    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    int eof = 0;
    struct pollfd fds[4096];
    while (!eof || assay_exec_inflight(exec) > 0) {
        /* read while there is room in the window */
        while (!eof && (long)(run.next - run.base) < concurrency) {
            len = getline(&buf, &cap, stdin);
            if (len < 0) {
                eof = 1;
                break;
            }
            uint64_t seq = run.next++;
            while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) buf[--len] = '\0';
            json_error_t jerr;
            json_t *line = json_loadb(buf, (size_t)len, 0, &jerr);
            s_slot_t *slot = &run.slots[seq % run.cap];
            if (!line || !json_is_object(line)) {
                run.failed++;
                fprintf(stderr, "assay run %s: stdin:%llu: %s\n", kind, (unsigned long long)seq,
                        line ? "expected a JSON object" : jerr.text);
                json_decref(line);
                slot->line = json_pack("{s:{s:s,s:b}}", "error", "reason",
                                       "input line is not a JSON object", "retryable", 0);
                slot->done = 1;
                continue;
            }
            json_t *input = json_deep_copy(line);
            if (assay_exec_start(exec, seq, 1, kind, input, NULL, (uint32_t)timeout_ms, line) !=
                0) {
                run.failed++;
                json_object_set_new(line, "error",
                                    json_pack("{s:s,s:b}", "reason", "could not start task",
                                              "retryable", 0));
                slot->line = line;
                slot->done = 1;
            }
            s_flush(&run);
        }
        s_flush(&run);
        if (assay_exec_inflight(exec) == 0) continue;
        int n = assay_exec_pollfds(exec, fds, (int)(sizeof fds / sizeof fds[0]));
        long t = assay_exec_timeout_ms(exec);
        if (t < 0 || t > 1000) t = 1000;
        poll(fds, (nfds_t)n, (int)t);
        assay_exec_process(exec, fds, n);
        s_flush(&run);
    }
    s_flush(&run);
    fflush(stdout);
    free(buf);
    assay_exec_destroy(&exec);
    free(run.slots);
    if (run.failed) fprintf(stderr, "assay run %s: %ld of %ld lines failed\n", kind, run.failed,
                            run.written);
    return run.failed ? ASSAY_EXIT_FAIL : ASSAY_EXIT_OK;
}
