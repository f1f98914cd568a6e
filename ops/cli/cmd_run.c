/*  cmd_run.c: `assay run KIND`: the offline runner. Reads JSONL on stdin, runs
 *  every line through the same handler code assay-worker runs (worker/tasks/exec.h), and
 *  writes each line back with the handler's fields added, in input order.
 *
 *  Per-sample kinds fan out as the broker does after a generate stage
 *  (broker/store.c, s_chain_sql): a line carrying generate output (a "samples"
 *  array, no "sample") runs once per sample, with the line minus "samples" and
 *  "cached" plus "sample": {idx, answer, reasoning, model} as input, and yields one
 *  output line per sample. So `assay run generate | assay run verify` checks every
 *  sample, exactly as the stages do. */
#include "ops/cli/cli.h"

#include "common/util.h"
#include "worker/tasks/exec.h"
#include "worker/tasks/handlers.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
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
    "verify, hack_check, judge and cot_actions check one sample per task. Given\n"
    "`assay run generate` output (a \"samples\" array and no \"sample\"), they run\n"
    "once per sample, as the stages of a job do: the input is the line without\n"
    "\"samples\" and \"cached\", plus \"sample\": {idx, answer, reasoning, model} (the\n"
    "database's \"sample_id\" has no offline counterpart), and each sample gets its\n"
    "own output line, in order; its \"sample\".\"idx\" says which one it is.\n"
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
    "  assay run verify --terms ../shared/data < samples.jsonl > verified.jsonl\n"
    "  assay run generate --param endpoint=sim --param n=4 < q.jsonl |\n"
    "    assay run verify --terms ../shared/data > verified.jsonl   # 4 lines per item\n";

/* the kinds that check one sample: the broker gives them one task per stored sample
 * of the generate stage before them (broker/store.c, s_chain_sql) */
static const char *const s_per_sample_kinds[] = {"verify", "hack_check", "judge", "cot_actions"};

/* one output line: a task, or an input line that could not become one */
typedef struct {
    json_t *line; /* input + output, NULL until complete */
    int done;
    uint64_t lineno; /* the input line it comes from */
    long sample;     /* fanned out: the sample's position in "samples", else -1 */
} s_slot_t;

typedef struct {
    s_slot_t *slots; /* ring indexed by seq - base */
    size_t cap;
    uint64_t base; /* first sequence not yet written */
    uint64_t next; /* next sequence to assign */
    long failed;
    long written;
    const char *kind;
    int per_sample; /* the kind checks one sample: fan generate output out */
    /* the line being fanned out, one sample per task as the window allows */
    json_t *fan;
    size_t fan_next;
    uint64_t fan_lineno;
} s_run_t;

static void s_complain(const s_run_t *run, const s_slot_t *slot, const char *reason)
{
    if (slot->sample >= 0)
        fprintf(stderr, "assay run %s: stdin:%llu: samples[%ld]: %s\n", run->kind,
                (unsigned long long)slot->lineno, slot->sample, reason);
    else
        fprintf(stderr, "assay run %s: stdin:%llu: %s\n", run->kind,
                (unsigned long long)slot->lineno, reason);
}

/* a slot for the next output line, which comes from input line lineno */
static uint64_t s_slot_new(s_run_t *run, uint64_t lineno, long sample)
{
    uint64_t seq = run->next++;
    s_slot_t *slot = &run->slots[seq % run->cap];
    slot->line = NULL;
    slot->done = 0;
    slot->lineno = lineno;
    slot->sample = sample;
    return seq;
}

/* the output line of seq is line, failed with reason (taking line) */
static void s_slot_fail(s_run_t *run, uint64_t seq, json_t *line, const char *reason)
{
    s_slot_t *slot = &run->slots[seq % run->cap];
    run->failed++;
    s_complain(run, slot, reason);
    json_object_set_new(line, "error", json_pack("{s:s,s:b}", "reason", reason, "retryable", 0));
    slot->line = line;
    slot->done = 1;
}

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
        s_complain(run, slot, r->reason);
        json_t *e = json_pack("{s:s, s:b}", "reason", r->reason, "retryable", r->retryable);
        json_object_set_new(line, "error", e);
    }
    slot->line = line;
    slot->done = 1;
}

/* run one task on line (taken), which becomes its output line */
static void s_start(s_run_t *run, assay_exec_t *exec, json_t *line, uint64_t lineno, long sample,
                    long timeout_ms)
{
    uint64_t seq = s_slot_new(run, lineno, sample);
    json_t *input = json_deep_copy(line);
    if (assay_exec_start(exec, seq, 1, run->kind, input, NULL, (uint32_t)timeout_ms, line) != 0)
        s_slot_fail(run, seq, line, "could not start task");
}

/* A JSON value as the broker's assay_jtext() gives it to the next stage: strings as
 * they are, null or missing as null, anything else as its JSON text */
static json_t *s_jtext(const json_t *v)
{
    if (!v || json_is_null(v)) return json_null();
    if (json_is_string(v)) return json_copy((json_t *)v);
    char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    json_t *s = json_string(t ? t : "");
    free(t);
    return s;
}

/* The input of the per-sample task for samples[i] of a generate output line, as the
 * broker builds it from the stored sample: the line without "samples" and "cached",
 * plus "sample": {idx, answer, reasoning, model}; idx is the sample's "index" (or
 * "idx"), else its position. NULL with a message in err when samples[i] is not an
 * object (the broker stores no sample for it). */
static json_t *s_sample_input(const json_t *line, size_t i, char *err, size_t errlen)
{
    const json_t *x = json_array_get(json_object_get(line, "samples"), i);
    if (!json_is_object(x)) {
        snprintf(err, errlen, "expected an object (a sample of generate output), not %s",
                 json_is_array(x)    ? "an array"
                 : json_is_string(x) ? "a string"
                                     : "a scalar");
        return NULL;
    }
    json_int_t idx = (json_int_t)i;
    const json_t *ji = json_object_get(x, "index");
    if (!json_is_number(ji)) ji = json_object_get(x, "idx");
    if (json_is_number(ji) && fabs(json_number_value(ji)) <= 2147483647.0)
        idx = (json_int_t)llround(json_number_value(ji));
    json_t *in = json_copy((json_t *)line);
    json_object_del(in, "samples");
    json_object_del(in, "cached");
    json_object_set_new(in, "sample",
                        json_pack("{s:I,s:o,s:o,s:o}", "idx", idx, "answer",
                                  s_jtext(json_object_get(x, "answer")), "reasoning",
                                  s_jtext(json_object_get(x, "reasoning")), "model",
                                  s_jtext(json_object_get(x, "model"))));
    return in;
}

/* start the next sample task of the line being fanned out; drops the line after
 * its last sample */
static void s_fan_step(s_run_t *run, assay_exec_t *exec, long timeout_ms)
{
    size_t i = run->fan_next++;
    char err[160];
    json_t *in = s_sample_input(run->fan, i, err, sizeof err);
    if (in) {
        s_start(run, exec, in, run->fan_lineno, (long)i, timeout_ms);
    } else {
        uint64_t seq = s_slot_new(run, run->fan_lineno, (long)i);
        json_t *line = json_copy(run->fan);
        json_object_del(line, "samples");
        s_slot_fail(run, seq, line, err);
    }
    if (run->fan_next >= json_array_size(json_object_get(run->fan, "samples"))) {
        json_decref(run->fan);
        run->fan = NULL;
    }
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
    for (size_t i = 0; i < ASSAY_ARRAY_LEN(s_per_sample_kinds); i++)
        if (strcmp(kind, s_per_sample_kinds[i]) == 0) run.per_sample = 1;
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
    uint64_t lineno = 0;
    struct pollfd fds[4096];
    while (!eof || run.fan || assay_exec_inflight(exec) > 0) {
        /* read (or fan out) while there is room in the window */
        while ((run.fan || !eof) && (long)(run.next - run.base) < concurrency) {
            if (run.fan) {
                s_fan_step(&run, exec, timeout_ms);
                s_flush(&run);
                continue;
            }
            len = getline(&buf, &cap, stdin);
            if (len < 0) {
                eof = 1;
                break;
            }
            lineno++;
            while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) buf[--len] = '\0';
            json_error_t jerr;
            json_t *line = json_loadb(buf, (size_t)len, 0, &jerr);
            if (!line || !json_is_object(line)) {
                uint64_t seq = s_slot_new(&run, lineno, -1);
                char why[200];
                if (line)
                    snprintf(why, sizeof why, "input line is not a JSON object");
                else
                    snprintf(why, sizeof why, "input line is not valid JSON: %s", jerr.text);
                json_decref(line);
                s_slot_fail(&run, seq, json_object(), why);
                s_flush(&run);
                continue;
            }
            const json_t *samples = json_object_get(line, "samples");
            if (run.per_sample && !json_object_get(line, "sample") && samples) {
                if (!json_is_array(samples)) {
                    uint64_t seq = s_slot_new(&run, lineno, -1);
                    s_slot_fail(&run, seq, line,
                                "field \"samples\": expected an array (generate output)");
                    s_flush(&run);
                    continue;
                }
                if (json_array_size(samples) > 0) {
                    /* one task per sample, as the window allows */
                    run.fan = line;
                    run.fan_next = 0;
                    run.fan_lineno = lineno;
                    continue;
                }
                /* no sample at all: runs as it is (and fails, as its stage task would) */
            }
            s_start(&run, exec, line, lineno, -1, timeout_ms);
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
    if (run.failed)
        fprintf(stderr, "assay run %s: %ld of %ld output lines failed (%llu input lines)\n", kind,
                run.failed, run.written, (unsigned long long)lineno);
    return run.failed ? ASSAY_EXIT_FAIL : ASSAY_EXIT_OK;
}
