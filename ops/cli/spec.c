/*  spec.c: see spec.h */
#include "ops/cli/spec.h"

#include "common/util.h"
#include "worker/tasks/exec.h"
#include "worker/tasks/handlers.h"
#include "worker/llm/prompt.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int s_int_field(const json_t *obj, const char *key, long lo, long hi, const char *where,
                       char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    if (!v) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        snprintf(err, errlen, "%s%s: expected an integer from %ld to %ld", where, key, lo, hi);
        return -1;
    }
    return 0;
}

static int s_known_key(const char *key, const char *const *keys)
{
    for (; *keys; keys++)
        if (strcmp(key, *keys) == 0) return 1;
    return 0;
}

static void s_kind_list(char *out, size_t outlen)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < assay_handler_count(); i++) {
        int n = snprintf(out + o, outlen - o, "%s%s", i ? ", " : "", assay_handler_at(i)->kind);
        if (n < 0 || (size_t)n >= outlen - o) break;
        o += (size_t)n;
    }
}

int assay_spec_validate(const json_t *spec, char *err, size_t errlen)
{
    static const char *const top_keys[] = {"name", "description", "weight", "priority",
                                           "stages", "composite", NULL};
    static const char *const stage_keys[] = {"name",      "kind",  "params", "max_attempts",
                                             "timeout_s", "round", "description", NULL};
    if (!json_is_object(spec)) {
        snprintf(err, errlen, "expected a JSON object at the top level");
        return -1;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)spec, key, v)
    {
        if (!s_known_key(key, top_keys)) {
            snprintf(err, errlen, "%s: unknown field (expected name, description, weight, "
                                  "priority, stages, composite)", key);
            return -1;
        }
    }
    json_t *name = json_object_get(spec, "name");
    if (!json_is_string(name) || json_string_length(name) == 0) {
        snprintf(err, errlen, "name: expected a non-empty string naming the job");
        return -1;
    }
    if (s_int_field(spec, "weight", 1, 1000, "", err, errlen) ||
        s_int_field(spec, "priority", -1000, 1000, "", err, errlen))
        return -1;
    /* composite: {"default" | CATEGORY: {SCORER: weight >= 0, ...}, ...} */
    json_t *comp = json_object_get(spec, "composite");
    if (comp) {
        if (!json_is_object(comp)) {
            snprintf(err, errlen, "composite: expected an object of weights per category");
            return -1;
        }
        const char *cat;
        json_t *ws;
        json_object_foreach(comp, cat, ws)
        {
            const char *sc;
            json_t *wv;
            if (!json_is_object(ws) || json_object_size(ws) == 0) {
                snprintf(err, errlen, "composite.%s: expected an object of scorer weights like "
                                      "{\"verify\": 0.7, \"process\": 0.3}", cat);
                return -1;
            }
            json_object_foreach(ws, sc, wv)
            {
                if (!json_is_number(wv) || json_number_value(wv) < 0) {
                    snprintf(err, errlen, "composite.%s.%s: expected a number >= 0", cat, sc);
                    return -1;
                }
            }
        }
    }
    json_t *stages = json_object_get(spec, "stages");
    if (!json_is_array(stages) || json_array_size(stages) == 0) {
        snprintf(err, errlen, "stages: expected a non-empty array of stages");
        return -1;
    }
    size_t i;
    json_t *st;
    json_array_foreach(stages, i, st)
    {
        char where[64];
        snprintf(where, sizeof where, "stages[%zu].", i);
        if (!json_is_object(st)) {
            snprintf(err, errlen, "stages[%zu]: expected an object with name and kind", i);
            return -1;
        }
        json_object_foreach(st, key, v)
        {
            if (!s_known_key(key, stage_keys)) {
                snprintf(err, errlen, "%s%s: unknown field (expected name, kind, params, "
                                      "max_attempts, timeout_s, round, description)", where, key);
                return -1;
            }
        }
        json_t *sn = json_object_get(st, "name");
        if (!json_is_string(sn) || json_string_length(sn) == 0) {
            snprintf(err, errlen, "%sname: expected a non-empty string", where);
            return -1;
        }
        for (size_t j = 0; j < i; j++)
            if (json_equal(json_object_get(json_array_get(stages, j), "name"), sn)) {
                snprintf(err, errlen, "%sname: \"%s\" is already the name of stages[%zu]", where,
                         json_string_value(sn), j);
                return -1;
            }
        json_t *kind = json_object_get(st, "kind");
        if (!json_is_string(kind)) {
            snprintf(err, errlen, "%skind: expected a string naming the task kind", where);
            return -1;
        }
        const char *kname = json_string_value(kind);
        if (!strcmp(kname, "filter")) {
            /* a broker stage: keeps items whose pass rate over the previous stage's
             * scores lies inside a band (difficulty filtering) */
            const char *prev = i ? json_string_value(json_object_get(json_array_get(stages, i - 1),
                                                                     "kind"))
                                 : NULL;
            if (!prev || (strcmp(prev, "verify") && strcmp(prev, "judge") && strcmp(prev, "hack_check"))) {
                snprintf(err, errlen, "%skind: a filter stage must follow a scoring stage "
                                      "(verify, judge or hack_check)", where);
                return -1;
            }
            json_t *fp = json_object_get(st, "params");
            static const char *const keys[] = {"min_pass_rate", "max_pass_rate", "threshold", NULL};
            const char *fk;
            json_t *fv;
            json_object_foreach(json_is_object(fp) ? fp : NULL, fk, fv)
            {
                if (!s_known_key(fk, keys)) {
                    snprintf(err, errlen, "%sparams: unknown parameter \"%s\" for a filter stage "
                                          "(accepted: min_pass_rate, max_pass_rate, threshold)",
                             where, fk);
                    return -1;
                }
            }
            for (const char *const *k = keys; *k; k++) {
                json_t *pv = fp ? json_object_get(fp, *k) : NULL;
                if (pv && (!json_is_number(pv) || json_number_value(pv) < 0 || json_number_value(pv) > 1)) {
                    snprintf(err, errlen, "%sparams.%s: expected a number from 0 to 1", where, *k);
                    return -1;
                }
            }
            /* the broker's defaults: 0.05 .. 0.95 */
            json_t *lo = json_object_get(fp, "min_pass_rate"), *hi = json_object_get(fp, "max_pass_rate");
            double min = lo ? json_number_value(lo) : 0.05, max = hi ? json_number_value(hi) : 0.95;
            if (min > max) {
                snprintf(err, errlen, "%sparams: min_pass_rate %g is above max_pass_rate %g: the "
                                      "band keeps no item (expected min_pass_rate <= "
                                      "max_pass_rate)", where, min, max);
                return -1;
            }
        } else if (!assay_handler_find(kname)) {
            char kinds[512];
            s_kind_list(kinds, sizeof kinds);
            snprintf(err, errlen, "%skind: unknown stage kind \"%s\" (expected one of: %s, filter)",
                     where, json_string_value(kind), kinds);
            return -1;
        }
        json_t *params = json_object_get(st, "params");
        if (params && !json_is_object(params)) {
            snprintf(err, errlen, "%sparams: expected an object of stage parameters", where);
            return -1;
        }
        /* the same declarations the executor checks every task against */
        char why[512];
        if (strcmp(kname, "filter") != 0 &&
            assay_exec_check_params(kname, params, 0, why, sizeof why) != 0) {
            snprintf(err, errlen, "%sparams: %s", where, why);
            return -1;
        }
        if (s_int_field(st, "max_attempts", 1, 100, where, err, errlen) ||
            s_int_field(st, "timeout_s", 1, 86400, where, err, errlen) ||
            s_int_field(st, "round", 1, 100, where, err, errlen))
            return -1;
    }
    return 0;
}

json_t *assay_spec_load(const char *path, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *spec = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!spec) {
        if (jerr.line <= 0)
            snprintf(err, errlen, "could not read spec \"%s\": %s", path, jerr.text);
        else
            snprintf(err, errlen, "%s:%d:%d: invalid JSON: %s", path, jerr.line, jerr.column,
                     jerr.text);
        return NULL;
    }
    char why[768];
    if (assay_spec_validate(spec, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s: %s", path, why);
        json_decref(spec);
        return NULL;
    }
    return spec;
}

/* ---- what the spec names, against the configuration ------------------------------ */

typedef struct {
    const char *want;
    int found;
    assay_buf_t names;
} s_ep_seek_t;

static void s_ep_section(const char *name, void *arg)
{
    s_ep_seek_t *k = arg;
    if (strcmp(name, k->want) == 0) k->found = 1;
    if (k->names.len) assay_buf_adds(&k->names, ", ");
    assay_buf_adds(&k->names, name);
}

/* an endpoint is configured when the configuration has its [endpoint.NAME] section
 * or its base_url (ASSAY_ENDPOINT_NAME_BASE_URL included), as workers load it */
static int s_check_endpoint(const assay_config_t *cfg, const char *name, const char *where,
                            const char *key, char *err, size_t errlen)
{
    s_ep_seek_t k = {name, 0, ASSAY_BUF_INIT};
    assay_config_sections(cfg, "endpoint.", s_ep_section, &k);
    /* and those defined by the environment alone (ASSAY_ENDPOINT_NAME_BASE_URL) */
    for (char **e = environ; *e; e++) {
        static const char pre[] = "ASSAY_ENDPOINT_", post[] = "_BASE_URL=";
        const char *eq = strchr(*e, '=');
        size_t pl = sizeof pre - 1, ql = sizeof post - 1;
        if (!eq || strncmp(*e, pre, pl) != 0 || (size_t)(eq + 1 - *e) < pl + ql + 1 ||
            strncmp(eq + 1 - ql, post, ql) != 0)
            continue;
        char lower[128];
        size_t n = (size_t)(eq + 1 - ql - (*e + pl));
        if (n >= sizeof lower) continue;
        for (size_t j = 0; j < n; j++)
            lower[j] = (char)tolower((unsigned char)(*e)[pl + j]);
        lower[n] = '\0';
        if (k.names.data && strstr(k.names.data, lower)) continue; /* listed by its section */
        if (k.names.len) assay_buf_adds(&k.names, ", ");
        assay_buf_adds(&k.names, lower);
    }
    char full[300];
    snprintf(full, sizeof full, "endpoint.%s.base_url", name);
    if (!k.found && assay_config_get(cfg, full, NULL)) k.found = 1;
    if (!k.found) {
        char env[300];
        assay_config_env_name(full, env, sizeof env);
        snprintf(err, errlen,
                 "%sparams.%s: endpoint \"%s\" is not configured (configured: %s; define "
                 "[endpoint.%s] in the configuration or %s)",
                 where, key, name, k.names.len ? k.names.data : "none", name, env);
    }
    assay_buf_release(&k.names);
    return k.found ? 0 : -1;
}

static int s_check_template(const char *dir, const char *name, const json_t *version,
                            const char *where, const char *key, char *err, size_t errlen)
{
    char why[600];
    assay_prompt_t *p = assay_prompt_load(dir, name, why, sizeof why);
    if (!p) {
        snprintf(err, errlen, "%sparams.%s: %s", where, key, why);
        return -1;
    }
    int rc = 0;
    /* the declaration made it an integer, as a JSON number or a numeric string */
    double want = json_is_number(version) ? json_number_value(version)
                  : json_is_string(version) ? strtod(json_string_value(version), NULL)
                                            : 0;
    if (version && want != assay_prompt_version(p)) {
        snprintf(err, errlen, "%sparams.template_version: template \"%s\" is version %d", where,
                 name, assay_prompt_version(p));
        rc = -1;
    }
    assay_prompt_destroy(&p);
    return rc;
}

const char *assay_spec_prompts_dir(const assay_config_t *cfg)
{
    return assay_config_get(cfg, "worker.prompts_dir", assay_prompts_default_dir());
}

int assay_spec_check_config(const json_t *spec, const assay_config_t *cfg, char *err,
                            size_t errlen)
{
    const char *dir = assay_spec_prompts_dir(cfg);
    size_t i;
    json_t *st;
    json_array_foreach(json_object_get(spec, "stages"), i, st)
    {
        char where[64];
        snprintf(where, sizeof where, "stages[%zu].", i);
        const char *kind = json_string_value(json_object_get(st, "kind"));
        json_t *params = json_object_get(st, "params");
        const char *key;
        json_t *v;
        json_object_foreach(params, key, v)
        {
            const assay_param_spec_t *ps = assay_exec_param_spec(kind, key);
            if (!ps || !json_is_string(v)) continue;
            if (ps->names == ASSAY_PARAM_NAMES_ENDPOINT &&
                s_check_endpoint(cfg, json_string_value(v), where, key, err, errlen) != 0)
                return -1;
            if (ps->names == ASSAY_PARAM_NAMES_TEMPLATE &&
                s_check_template(dir, json_string_value(v),
                                 strcmp(key, "template") ? NULL
                                                         : json_object_get(params, "template_version"),
                                 where, key, err, errlen) != 0)
                return -1;
        }
        /* a judge without a template reads judge_<judge> */
        const char *judge = json_string_value(json_object_get(params, "judge"));
        if (kind && !strcmp(kind, "judge") && !json_object_get(params, "template")) {
            char name[160];
            snprintf(name, sizeof name, "judge_%s", judge ? judge : "outcome");
            if (s_check_template(dir, name, json_object_get(params, "template_version"), where,
                                 "judge", err, errlen) != 0)
                return -1;
        }
    }
    return 0;
}

/* ---- what the pipeline needs from each item ------------------------------------- */

struct assay_spec_needs {
    const json_t *spec;
    assay_prompts_t *prompts;
};

assay_spec_needs_t *assay_spec_needs_new(const json_t *spec, const char *prompts_dir)
{
    assay_spec_needs_t *self = ASSAY_NEW(assay_spec_needs_t);
    self->spec = spec;
    self->prompts = assay_prompts_new(prompts_dir);
    return self;
}

void assay_spec_needs_destroy(assay_spec_needs_t **self_p)
{
    if (!self_p || !*self_p) return;
    assay_prompts_destroy(&(*self_p)->prompts);
    free(*self_p);
    *self_p = NULL;
}

/* a judge stage that compares with the gold answer: the outcome judge's template */
static int s_outcome_judge(const char *kind, const json_t *params)
{
    if (strcmp(kind, "judge") != 0 || json_object_get(params, "template")) return 0;
    const char *judge = json_string_value(json_object_get(params, "judge"));
    return !judge || !strcmp(judge, "outcome");
}

/* a non-empty string, or a non-empty array, at key */
static int s_has(const json_t *item, const char *key)
{
    const json_t *v = json_object_get(item, key);
    return (json_is_string(v) && json_string_length(v) > 0) ||
           (json_is_array(v) && json_array_size(v) > 0) || json_is_object(v);
}

static const char *s_what(const json_t *item, const char *key)
{
    const json_t *v = json_object_get(item, key);
    return !v ? "missing" : json_is_null(v) ? "null" : "empty";
}

int assay_spec_needs_check(assay_spec_needs_t *self, const json_t *item, const char *kind,
                           char *err, size_t errlen)
{
    int mcq = !strcmp(kind, "mcq");
    int changed = 0; /* an earlier stage adds fields the item itself lacks */
    size_t i;
    json_t *st;
    json_array_foreach(json_object_get(self->spec, "stages"), i, st)
    {
        const char *sk = json_string_value(json_object_get(st, "kind"));
        const char *sn = json_string_value(json_object_get(st, "name"));
        json_t *params = json_object_get(st, "params");
        if (!sk) continue;
        if (!strcmp(sk, "generate") && !changed) {
            const char *t = json_string_value(json_object_get(params, "template"));
            if (!t) t = assay_prompt_default_name(item);
            char fitted[160];
            if (!json_object_get(params, "template_version"))
                t = assay_prompt_fit_name(t, item, fitted, sizeof fitted);
            char why[600], field[128];
            const assay_prompt_t *p = assay_prompts_get(self->prompts, t, why, sizeof why);
            if (!p) {
                snprintf(err, errlen, "stage \"%s\": %s", sn, why);
                return -1;
            }
            if (assay_prompt_missing_field(p, item, field, sizeof field)) {
                snprintf(err, errlen,
                         "field \"%s\": %s, but template \"%s\" of stage \"%s\" needs it", field,
                         s_what(item, field), t, sn);
                return -1;
            }
        } else if (!strcmp(sk, "verify") || s_outcome_judge(sk, params)) {
            /* the gold answer a verifier or an outcome judge compares with */
            if (mcq && !s_has(item, "answer")) {
                snprintf(err, errlen,
                         "field \"answer\": %s, but stage \"%s\" (%s) needs the gold option letters "
                         "of an mcq item",
                         s_what(item, "answer"), sn, sk);
                return -1;
            }
            if (mcq && !json_is_object(json_object_get(item, "options"))) {
                snprintf(err, errlen, "field \"options\": %s, but stage \"%s\" (%s) needs them",
                         s_what(item, "options"), sn, sk);
                return -1;
            }
            if (!mcq && !s_has(item, "answer") && !s_has(item, "diagnosis") &&
                !s_has(item, "reference_answer") && !(!strcmp(sk, "verify") && s_has(item, "gold_codes"))) {
                snprintf(err, errlen,
                         "field \"answer\": %s, but stage \"%s\" (%s) needs a gold answer "
                         "(\"answer\", \"diagnosis\" or \"reference_answer\"%s)",
                         s_what(item, "answer"), sn, sk, strcmp(sk, "verify") ? "" : ", or \"gold_codes\"");
                return -1;
            }
        } else if (!strcmp(sk, "leak_removal") && !changed) {
            if (!s_has(item, "diagnosis") && !s_has(item, "answer") && !s_has(item, "diagnosis_codes")) {
                snprintf(err, errlen, "field \"diagnosis\": %s, but stage \"%s\" (leak_removal) needs "
                                      "the gold diagnosis", s_what(item, "diagnosis"), sn);
                return -1;
            }
        } else if (!strcmp(sk, "normalize") && !changed && !json_is_string(json_object_get(item, "text"))) {
            snprintf(err, errlen, "field \"text\": %s, but stage \"%s\" (normalize) needs a string",
                     s_what(item, "text"), sn);
            return -1;
        }
        if (!strcmp(sk, "leak_removal") || !strcmp(sk, "normalize") || !strcmp(sk, "tag")) changed = 1;
    }
    return 0;
}
