/*  task_normalize.c: the `normalize` kind links the medical entities of a record's
 *  `text` to ICD codes and adds `codes` and `names` (the standard names) to it.
 *
 *  Params: system = clin2.0 (default) | bj_v601; min_confidence (default 0.3);
 *  exact = true links exact names, aliases and inline codes only (fast, no model);
 *  detail = true also adds `entities` (span, code, name, match kind, confidence) and
 *  `terms_version`. The terminology comes from the runtime setting "terms" (a TSV
 *  directory or a snapshot, see assay_terms_shared); one normaliser per code system
 *  is built on first use and kept for the life of the process.
 *
 *  The linker learns by default from the terminology's known mentions (its chip_cdn
 *  aliases, and chip_cdn_train.jsonl / known_mentions.jsonl found next to its TSVs,
 *  which a snapshot carries; see tests/bench/cdn_eval.sh). The runtime setting
 *  "normalize_examples" may name one more JSONL file of known mentions ({"text",
 *  "normalized": [standard names]}) to learn from as well.
 */
#include "worker/domain/normalize.h"
#include "worker/tasks/runtime.h"
#include "worker/tasks/task.h"
#include "worker/domain/terms.h"

#include "common/log.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const assay_terms_t *terms;
    char *examples;                             /* a JSONL file of known mentions, or NULL */
    assay_normalizer_t *nz[ASSAY_SYS_COUNT][2]; /* [system][exact only] */
    assay_entities_t ents;
} s_state_t;

static int s_setup(assay_runtime_t *rt, void **state, char *err, size_t errlen)
{
    const assay_terms_t *terms = assay_terms_shared(rt, err, errlen);
    if (!terms) return -1;
    s_state_t *st = ASSAY_NEW(s_state_t);
    st->terms = terms;
    const char *ex = assay_runtime_setting(rt, "normalize_examples", NULL);
    st->examples = ex && *ex ? assay_strdup(ex) : NULL;
    assay_entities_init(&st->ents);
    *state = st;
    return 0;
}

static void s_teardown(void *state)
{
    s_state_t *st = state;
    if (!st) return;
    for (int i = 0; i < ASSAY_SYS_COUNT; i++) {
        assay_normalizer_destroy(&st->nz[i][0]);
        assay_normalizer_destroy(&st->nz[i][1]);
    }
    assay_entities_release(&st->ents);
    free(st->examples);
    free(st);
}

static assay_normalizer_t *s_normalizer(s_state_t *st, assay_code_system_t sys, int exact,
                                        char *err, size_t errlen)
{
    if (st->nz[sys][exact]) return st->nz[sys][exact];
    assay_normalize_opts_t opts;
    assay_normalize_opts_default(&opts);
    opts.system = sys;
    opts.exact_only = exact;
    /* the threshold is applied per task below, so keep every plausible entity here */
    opts.min_confidence = 0.0;
    int64_t t0 = assay_clock_us();
    assay_normalizer_t *nz = assay_normalizer_new(st->terms, &opts, err, errlen);
    if (!nz) return NULL;
    size_t added = 0;
    if (st->examples && !exact &&
        assay_normalizer_load_examples(nz, st->examples, &added, err, errlen) < 0) {
        assay_normalizer_destroy(&nz);
        return NULL;
    }
    assay_normalizer_prepare(nz);
    log_info("normalize", "%s normaliser for %s ready in %.0f ms (%zu known mentions from \"%s\")",
             exact ? "exact" : "full", assay_terms_system_name(sys),
             (double)(assay_clock_us() - t0) / 1000.0, added,
             st->examples && !exact ? st->examples : "(none)");
    st->nz[sys][exact] = nz;
    return nz;
}

static void s_run(void *state, assay_task_t *task)
{
    s_state_t *st = state;
    const json_t *in = assay_task_input(task);
    const json_t *jt = json_object_get(in, "text");
    if (!json_is_string(jt)) {
        assay_task_fail(task, 0, "input has no \"text\" string field");
        return;
    }
    const char *sysname = assay_param_str(task, "system", "clin2.0");
    assay_code_system_t sys;
    if (assay_terms_system_parse(sysname, &sys) < 0 ||
        (sys != ASSAY_SYS_CLIN20 && sys != ASSAY_SYS_BJV601)) {
        assay_task_fail(task, 0,
                        "param \"system\": unknown code system \"%s\" (expected clin2.0 "
                        "or bj_v601)",
                        sysname);
        return;
    }
    double min_conf = assay_param_num(task, "min_confidence", 0.3);
    int detail = assay_param_bool(task, "detail", 0);
    int exact = assay_param_bool(task, "exact", 0) ? 1 : 0;
    char err[256];
    assay_normalizer_t *nz = s_normalizer(st, sys, exact, err, sizeof err);
    if (!nz) {
        assay_task_fail(task, 0, "%s", err);
        return;
    }
    const char *text = json_string_value(jt);
    size_t len = json_string_length(jt);
    if (assay_normalize_text(nz, text, len, &st->ents) < 0) {
        assay_task_fail(task, 0, "field \"text\": invalid UTF-8");
        return;
    }
    json_t *codes = json_array(), *names = json_array(), *ents = detail ? json_array() : NULL;
    for (size_t i = 0; i < st->ents.n; i++) {
        const assay_entity_t *e = &st->ents.items[i];
        if (e->confidence < min_conf) continue;
        int dup = 0;
        for (size_t k = 0; k < json_array_size(codes); k++)
            dup |= strcmp(json_string_value(json_array_get(codes, k)), e->code) == 0;
        if (!dup) {
            json_array_append_new(codes, json_string(e->code));
            int dupn = 0;
            for (size_t k = 0; k < json_array_size(names); k++)
                dupn |= strcmp(json_string_value(json_array_get(names, k)), e->name) == 0;
            if (!dupn) json_array_append_new(names, json_string(e->name));
        }
        if (ents) {
            json_t *o = json_object();
            json_object_set_new(o, "text", json_stringn(text + e->start, e->end - e->start));
            json_object_set_new(o, "start", json_integer((json_int_t)e->start));
            json_object_set_new(o, "end", json_integer((json_int_t)e->end));
            json_object_set_new(o, "code", json_string(e->code));
            json_object_set_new(o, "name", json_string(e->name));
            json_object_set_new(o, "match", json_string(assay_match_kind_name(e->kind)));
            json_object_set_new(o, "confidence",
                                json_real((double)(int)(e->confidence * 1000 + 0.5) / 1000.0));
            json_array_append_new(ents, o);
        }
    }
    json_t *out = json_object();
    json_object_set_new(out, "codes", codes);
    json_object_set_new(out, "names", names);
    if (ents) {
        json_object_set_new(out, "entities", ents);
        json_object_set_new(out, "terms_version", json_string(assay_terms_version(st->terms)));
    }
    assay_task_done(task, out);
}

/* the parameters this kind accepts (checked by the executor and `assay submit`) */
static const assay_param_spec_t s_params[] = {
    {"system", ASSAY_PARAM_STRING, 0, 0, 0, "clin2.0|bj_v601", 0, "code system (default clin2.0)"},
    {"min_confidence", ASSAY_PARAM_NUMBER, 0, 1, 0, NULL, 0, "drop links below this confidence (default 0.3)"},
    {"detail", ASSAY_PARAM_BOOL, 0, 0, 0, NULL, 0, "add entities and terms_version"},
    {"exact", ASSAY_PARAM_BOOL, 0, 0, 0, NULL, 0, "exact names, aliases and codes only"},
    {NULL, 0, 0, 0, 0, NULL, 0, NULL}};

const assay_handler_t assay_task_normalize = {
    .kind = "normalize",
    .summary = "link medical entities in `text` to ICD codes (adds codes, names; "
               "param system=clin2.0|bj_v601)",
    .setup = s_setup,
    .teardown = s_teardown,
    .run = s_run,
    .params = s_params,
};
