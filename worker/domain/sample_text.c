/*  sample_text.c: see sample_text.h */
#include "worker/domain/sample_text.h"

#include "common/error.h"
#include "worker/domain/textscan.h"

#include <stdio.h>
#include <string.h>

static void s_split(const char *raw, size_t len, assay_sample_text_t *out)
{
    assay_textscan_span_t r, a;
    assay_textscan_split_think(raw, len, &r, &a);
    out->answer = raw + a.off;
    out->answer_len = a.len;
    out->reasoning = r.len ? raw + r.off : NULL;
    out->reasoning_len = r.len;
}

int assay_sample_text_get(const json_t *input, assay_sample_text_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const json_t *s = json_object_get(input, "sample");
    if (s) {
        if (!json_is_object(s)) {
            snprintf(err, errlen,
                     "field \"sample\": expected an object with \"answer\" and "
                     "\"reasoning\"");
            return ASSAY_EINVAL;
        }
        const json_t *a = json_object_get(s, "answer"), *r = json_object_get(s, "reasoning");
        const json_t *raw = json_object_get(s, "response");
        if (a && !json_is_string(a)) {
            snprintf(err, errlen, "field \"sample.answer\": expected a string");
            return ASSAY_EINVAL;
        }
        if (r && !json_is_string(r) && !json_is_null(r)) {
            snprintf(err, errlen, "field \"sample.reasoning\": expected a string");
            return ASSAY_EINVAL;
        }
        if (a) {
            out->answer = json_string_value(a);
            out->answer_len = json_string_length(a);
            if (json_is_string(r)) {
                out->reasoning = json_string_value(r);
                out->reasoning_len = json_string_length(r);
            }
            out->source = "sample";
            return 0;
        }
        if (json_is_string(raw)) {
            s_split(json_string_value(raw), json_string_length(raw), out);
            out->source = "sample.response";
            return 0;
        }
        snprintf(err, errlen,
                 "field \"sample\": expected \"answer\" (a string) or "
                 "\"response\" in it");
        return ASSAY_EINVAL;
    }
    const json_t *raw = json_object_get(input, "response");
    if (raw) {
        if (!json_is_string(raw)) {
            snprintf(err, errlen, "field \"response\": expected a string");
            return ASSAY_EINVAL;
        }
        s_split(json_string_value(raw), json_string_length(raw), out);
        out->source = "response";
        return 0;
    }
    const json_t *pred = json_object_get(input, "prediction");
    if (pred) {
        if (!json_is_string(pred)) {
            snprintf(err, errlen, "field \"prediction\": expected a string");
            return ASSAY_EINVAL;
        }
        out->answer = json_string_value(pred);
        out->answer_len = json_string_length(pred);
        out->source = "prediction";
        return 0;
    }
    snprintf(err, errlen,
             "no sample to check: expected a \"sample\" object ({\"answer\", "
             "\"reasoning\"}), or a \"response\" or \"prediction\" string");
    return ASSAY_EINVAL;
}
