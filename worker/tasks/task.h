/*  task.h: the contract between the executor and the code of one task kind.
 *
 *  Every task kind (generate, verify, leak_removal, ...) is an assay_handler_t in
 *  its own file worker/tasks/task_<kind>.c, listed once in worker/tasks/handlers.c. The same
 *  handler runs inside assay-worker (tasks from the broker) and inside
 *  `assay run KIND` (lines from stdin), so whatever a user debugs offline is
 *  exactly what the fleet runs.
 *
 *  A task's input is a JSON object (the item or record: question, options, answer,
 *  text, diagnosis, samples, ...) and its params a JSON object (the stage's
 *  parameters, or `--param key=value` offline). The handler produces an output
 *  object holding the fields it adds; `assay run` writes input + output fields as
 *  one line, the broker stores the output.
 *
 *  A handler calls assay_task_done() or assay_task_fail() exactly once per task,
 *  either before run() returns (CPU-bound kinds) or later from a callback on the
 *  executor's event loop (I/O-bound kinds such as generate). The task object stays
 *  valid until then, and must not be touched afterwards.
 */
#ifndef ASSAY_TASK_H
#define ASSAY_TASK_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct assay_task assay_task_t;
typedef struct assay_runtime assay_runtime_t;

/* The parameters a kind accepts, declared once next to its handler. The executor
 * checks every task's params (and the process-wide ones of `assay run --param`)
 * against them before the handler runs, and `assay submit` checks every stage of a
 * spec against the same table, so an unknown name, a wrong type or a value out of
 * range is refused with the parameter named, never ignored or crashed on. */
typedef enum {
    ASSAY_PARAM_STRING = 1, /* a non-empty JSON string (allowed: "a|b|c" limits it) */
    ASSAY_PARAM_INT,        /* an integer (a JSON number or a numeric string) in [min, max] */
    ASSAY_PARAM_NUMBER,     /* a finite number (JSON number or numeric string) in [min, max] */
    ASSAY_PARAM_BOOL,       /* true/false, 0/1, or "true" "false" "yes" "no" "1" "0" */
    ASSAY_PARAM_RANGE       /* [low, high]: two numbers in [min, max] with low <= high */
} assay_param_type_t;

typedef struct {
    const char *name; /* NULL ends a table */
    assay_param_type_t type;
    double min, max;     /* INT and NUMBER: the inclusive range */
    int required;        /* 1: a task without it is refused */
    const char *allowed; /* STRING: the accepted values "a|b|c", or NULL for any */
    int names;           /* STRING: what the value names, checked at submit */
    const char *help;    /* one line for people */
} assay_param_spec_t;

/* what a STRING parameter names (assay_param_spec_t.names) */
enum { ASSAY_PARAM_NAMES_NOTHING = 0, ASSAY_PARAM_NAMES_ENDPOINT, ASSAY_PARAM_NAMES_TEMPLATE };

typedef struct {
    const char *kind;    /* the task kind name, e.g. "verify" */
    const char *summary; /* one line for `assay run --help` */
    /* once per process before the first task of this kind; may be NULL.
     * *state is the handler's own. Returns 0, or a negative code with a message in err. */
    int (*setup)(assay_runtime_t *rt, void **state, char *err, size_t errlen);
    /* frees what setup made; may be NULL */
    void (*teardown)(void *state);
    /* run one task (see the contract above) */
    void (*run)(void *state, assay_task_t *task);
    /* the parameters it accepts, ended by an entry with name NULL */
    const assay_param_spec_t *params;
} assay_handler_t;

/* the record the task works on (borrowed; valid until done/fail) */
const json_t *assay_task_input(const assay_task_t *task);
/* the stage parameters (borrowed; an empty object when there are none) */
const json_t *assay_task_params(const assay_task_t *task);
uint64_t assay_task_id(const assay_task_t *task);
assay_runtime_t *assay_task_runtime(const assay_task_t *task);

/* finish the task with output (a JSON object; the call steals the reference) */
void assay_task_done(assay_task_t *task, json_t *output);
/* fail the task: retryable = 1 to try again later, 0 for a permanent error
 * (bad input). The reason is for people and must not contain secrets. */
void assay_task_fail(assay_task_t *task, int retryable, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* like assay_task_fail for a retryable error an endpoint pushed back with
 * (429): endpoint names it, retry_after_ms is what the server asked for (0 = unknown) */
void assay_task_fail_ratelimited(assay_task_t *task, const char *endpoint,
                                 uint32_t retry_after_ms, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* helpers for handlers: a string / number / bool parameter, or def when absent or
 * of another type */
const char *assay_param_str(const assay_task_t *task, const char *key, const char *def);
double assay_param_num(const assay_task_t *task, const char *key, double def);
int assay_param_bool(const assay_task_t *task, const char *key, int def);

#endif
