/*  fuzz_judge_reply.c: libFuzzer target for the judge reply parser (worker/domain/judge.h).
 *
 *  A judge's reply is text from a remote model: whatever it is, the parser must
 *  return either a clear error or scores that all lie in [0, 1] with a comment.
 */
#include "common/error.h"
#include "worker/domain/judge.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void s_fail(const char *what)
{
    fprintf(stderr, "fuzz_judge_reply: %s\n", what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    assay_judge_reply_t r;
    char err[256];
    err[0] = '\0';
    int rc = assay_judge_parse((const char *)data, size, &r, err, sizeof err);
    if (rc == 0) {
        if (!(r.score >= 0 && r.score <= 1)) s_fail("score outside [0, 1]");
        if (!r.comment || !r.method) s_fail("no comment or method");
        if (r.ndims < 0 || r.ndims > ASSAY_JUDGE_MAX_DIMS) s_fail("dimension count");
        for (int i = 0; i < r.ndims; i++) {
            if (!(r.dims[i].value >= 0 && r.dims[i].value <= 1)) s_fail("dimension outside [0, 1]");
            if (!r.dims[i].name[0]) s_fail("unnamed dimension");
        }
        assay_judge_reply_release(&r);
    } else {
        if (rc != ASSAY_EPARSE) s_fail("unexpected return code");
        if (!err[0]) s_fail("an error without a reason");
        if (r.comment) s_fail("a failed parse left a comment");
    }
    return 0;
}
