/*  spec.c: see spec.h */
#include "ops/cli/spec.h"

#include "common/util.h"
#include "worker/handlers.h"

#include <stdio.h>
#include <string.h>

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
            for (const char *const *k = keys; *k; k++) {
                json_t *pv = fp ? json_object_get(fp, *k) : NULL;
                if (pv && (!json_is_number(pv) || json_number_value(pv) < 0 || json_number_value(pv) > 1)) {
                    snprintf(err, errlen, "%sparams.%s: expected a number from 0 to 1", where, *k);
                    return -1;
                }
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
