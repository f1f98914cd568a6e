/*  runtime.h: what the process offers every handler: configuration, the HTTP
 *  client, and reference data shared by several kinds (the terminology index).
 *
 *  One runtime per process, owned by the executor. Shared objects are loaded
 *  lazily the first time a handler asks for them and freed with the runtime.
 */
#ifndef ASSAY_RUNTIME_H
#define ASSAY_RUNTIME_H

#include "common/config.h"

#include <jansson.h>
#include <stddef.h>

typedef struct assay_runtime assay_runtime_t;
typedef struct assay_http assay_http_t;

/* the process configuration (never NULL) */
const assay_config_t *assay_runtime_config(const assay_runtime_t *rt);
/* process-wide parameters given on the command line (`assay run --param`,
 * `--terms DIR`): a JSON object, never NULL */
const json_t *assay_runtime_params(const assay_runtime_t *rt);
/* a process-wide setting: from the runtime params first, then the config key
 * "worker.<key>", then def */
const char *assay_runtime_setting(const assay_runtime_t *rt, const char *key, const char *def);
/* the shared HTTP client bound to the executor's event loop */
assay_http_t *assay_runtime_http(assay_runtime_t *rt);

/* a shared object by name, created on first use by load (which returns NULL and
 * fills err on failure; a failure is not cached). free is called with the runtime. */
void *assay_runtime_shared(assay_runtime_t *rt, const char *name,
                           void *(*load)(assay_runtime_t *rt, char *err, size_t errlen),
                           void (*free_fn)(void *obj), char *err, size_t errlen);

#endif
