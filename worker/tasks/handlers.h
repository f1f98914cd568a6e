/*  handlers.h: look up task kinds compiled into this build (see handlers.c). */
#ifndef ASSAY_HANDLERS_H
#define ASSAY_HANDLERS_H

#include "worker/tasks/task.h"

/* the handler for kind, or NULL when this build has none */
const assay_handler_t *assay_handler_find(const char *kind);
size_t assay_handler_count(void);
const assay_handler_t *assay_handler_at(size_t i);

#endif
