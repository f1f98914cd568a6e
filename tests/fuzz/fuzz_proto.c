/*  fuzz_proto.c: libFuzzer target for the protocol decoder.
 *
 *  Input layout, so the fuzzer can reach every check: byte 0 modulo 5 is the number
 *  of frames; each frame but the last is a length byte and that many bytes (cut
 *  short at the end of the input); the last frame is the rest. Whatever decodes must
 *  re-encode, decode again to an equal message, and re-encode to the same bytes.
 */
#include "common/error.h"
#include "common/proto.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void s_fail(const char *what)
{
    fprintf(stderr, "fuzz_proto: %s\n", what);
    abort();
}

static uint64_t s_total(const assay_proto_stats_t *st)
{
    return st->ok + st->bad_frames + st->bad_tag + st->bad_version + st->bad_command +
           st->oversized + st->truncated + st->malformed;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    size_t nframes = data[0] % 5, pos = 1;
    const void *frames[4];
    size_t sizes[4];
    for (size_t i = 0; i < nframes; i++) {
        size_t len = size - pos;
        if (i + 1 < nframes) {
            len = pos < size ? data[pos++] : 0;
            if (len > size - pos) len = size - pos;
        }
        /* each frame in its own allocation, so ASan catches a read past any of them */
        void *copy = malloc(len ? len : 1);
        memcpy(copy, data + pos, len);
        frames[i] = copy;
        sizes[i] = len;
        pos += len;
    }

    assay_proto_stats_t st = {0};
    assay_msg_t msg;
    int rc = assay_proto_decode(frames, sizes, nframes, &msg, &st);
    if (s_total(&st) != 1) s_fail("decode did not count the message exactly once");
    if (rc == 0) {
        unsigned char tag[4], cmd[1], tag2[4], cmd2[1];
        char *body, *body2;
        size_t len, len2;
        if (assay_proto_encode(&msg, tag, cmd, &body, &len) != 0)
            s_fail("a decoded message does not encode");
        const void *f[3] = {tag, cmd, body};
        size_t s[3] = {4, 1, len};
        assay_msg_t again;
        if (assay_proto_decode(f, s, 3, &again, NULL) != 0)
            s_fail("re-encoded message does not decode");
        if (!assay_msg_equal(&msg, &again)) s_fail("decode(encode(m)) differs from m");
        if (assay_proto_encode(&again, tag2, cmd2, &body2, &len2) != 0 || len2 != len ||
            memcmp(body, body2, len) != 0 || memcmp(tag, tag2, 4) != 0 || cmd[0] != cmd2[0])
            s_fail("encoding is not stable");
        assay_msg_release(&again);
        free(body);
        free(body2);
    } else if (rc != ASSAY_EPROTO && rc != ASSAY_ETRUNC && rc != ASSAY_EVERSION &&
               rc != ASSAY_ETOOBIG) {
        s_fail("unexpected error code");
    }
    assay_msg_release(&msg);
    for (size_t i = 0; i < nframes; i++)
        free((void *)frames[i]);
    return 0;
}
