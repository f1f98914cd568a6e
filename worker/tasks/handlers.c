/*  handlers.c: the table of every task kind this build knows.
 *  A new kind is one file worker/task_<kind>.c and one line here. */
#include "worker/tasks/handlers.h"

#include <string.h>

extern const assay_handler_t assay_task_noop;
extern const assay_handler_t assay_task_generate;
extern const assay_handler_t assay_task_leak_removal;
extern const assay_handler_t assay_task_normalize;
extern const assay_handler_t assay_task_verify;
extern const assay_handler_t assay_task_hack_check;
extern const assay_handler_t assay_task_tag;
extern const assay_handler_t assay_task_cot_actions;
extern const assay_handler_t assay_task_judge;

static const assay_handler_t *const s_handlers[] = {
    &assay_task_noop,
    &assay_task_generate,
    &assay_task_leak_removal,
    &assay_task_normalize,
    &assay_task_verify,
    &assay_task_hack_check,
    &assay_task_tag,
    &assay_task_cot_actions,
    &assay_task_judge,
};

const assay_handler_t *assay_handler_find(const char *kind)
{
    for (size_t i = 0; i < sizeof s_handlers / sizeof s_handlers[0]; i++)
        if (strcmp(s_handlers[i]->kind, kind) == 0) return s_handlers[i];
    return NULL;
}

size_t assay_handler_count(void)
{
    return sizeof s_handlers / sizeof s_handlers[0];
}

const assay_handler_t *assay_handler_at(size_t i)
{
    return i < assay_handler_count() ? s_handlers[i] : NULL;
}
