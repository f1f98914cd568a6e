/*  terms_shared.c: the process-wide terminology handed to handlers through the
 *  runtime (see assay_terms_shared in terms.h). Kept apart from terms.c so the
 *  terminology module links into tools and tests that have no executor. */
#include "worker/tasks/runtime.h"
#include "worker/domain/terms.h"

#include "common/log.h"
#include "common/util.h"

#include <stdio.h>

static void *s_load(assay_runtime_t *rt, char *err, size_t errlen)
{
    const char *path = assay_runtime_setting(rt, "terms", NULL);
    if (!path || !*path) {
        snprintf(err, errlen,
                 "no terminology configured (set --terms DIR|SNAPSHOT or "
                 "worker.terms in the configuration)");
        return NULL;
    }
    int64_t t0 = assay_clock_us();
    assay_terms_t *t = assay_terms_open(path, err, errlen);
    if (!t) return NULL;
    assay_terms_stats_t st;
    assay_terms_stats(t, &st);
    log_info("terms",
             "loaded terminology %s from \"%s\": %zu concepts, %zu aliases, %zu graph "
             "nodes, %zu edges in %.1f ms%s",
             assay_terms_version(t), path, st.concepts, st.aliases, st.kg_nodes, st.kg_edges,
             (double)(assay_clock_us() - t0) / 1000.0, st.mapped ? " (mapped)" : "");
    return t;
}

static void s_free(void *obj)
{
    assay_terms_t *t = obj;
    assay_terms_destroy(&t);
}

const assay_terms_t *assay_terms_shared(assay_runtime_t *rt, char *err, size_t errlen)
{
    return assay_runtime_shared(rt, "terms", s_load, s_free, err, errlen);
}
