/*  zmq_flood.c: a hostile but authenticated peer for the hardening tests. It
 *  connects to the broker like a worker (CurveZMQ settings from the usual
 *  config keys / environment) and sends COUNT malformed messages as fast as it
 *  can: wrong frame counts, bad tags and versions, unknown commands, bodies that
 *  are not the expected msgpack, and every 2000th a body one byte over the
 *  protocol's limit. Prints how many of each it sent, in the broker's
 *  assay_proto_rejected_total reasons (truncated and malformed together).
 *
 *  usage: zmq_flood ENDPOINT COUNT
 */
#include "common/config.h"
#include "common/curve.h"
#include "common/proto.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static void s_frames(void *sock, const void *const *frames, const size_t *sizes, int n)
{
    for (int i = 0; i < n; i++)
        zmq_send(sock, frames[i], sizes[i], i + 1 < n ? ZMQ_SNDMORE : 0);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: zmq_flood ENDPOINT COUNT\n");
        return 2;
    }
    long count = strtol(argv[2], NULL, 10);
    assay_config_t *cfg = assay_config_new();
    void *ctx = zmq_ctx_new();
    void *sock = zmq_socket(ctx, ZMQ_DEALER);
    char err[1024];
    if (assay_curve_client_setup(sock, cfg, 0, err, sizeof err) != 0) {
        fprintf(stderr, "zmq_flood: %s\n", err);
        return 1;
    }
    int linger = 5000;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(sock, argv[1]) != 0) {
        fprintf(stderr, "zmq_flood: could not connect \"%s\": %s\n", argv[1],
                zmq_strerror(zmq_errno()));
        return 1;
    }
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    unsigned char junk[256];
    size_t big_len = ASSAY_PROTO_MAX_BODY + 1;
    unsigned char *big = assay_calloc(1, big_len);
    long sent[6] = {0};
    const char *names[6] = {"bad_frames", "bad_tag", "bad_version", "bad_command", "oversized",
                            "body"};
    for (long i = 0; i < count; i++) {
        for (size_t k = 0; k < sizeof junk; k++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            junk[k] = (unsigned char)rng;
        }
        size_t jl = 1 + rng % sizeof junk;
        unsigned char tag[4] = {'A', 'S', 'Y', ASSAY_PROTO_VERSION};
        unsigned char cmd[1] = {ASSAY_CMD_RESULT};
        int kind = i % 2000 == 1999 ? 4 : (int)(i % 5);
        if (kind == 4 && i % 2000 != 1999) kind = 5;
        const void *f[5];
        size_t s[5];
        int n = 3;
        switch (kind) {
        case 0: /* one or five frames */
            n = (i / 5) % 2 ? 1 : 5;
            for (int k = 0; k < n; k++) f[k] = junk, s[k] = jl;
            break;
        case 1:
            f[0] = junk, s[0] = 4, f[1] = cmd, s[1] = 1, f[2] = junk, s[2] = jl;
            if (!memcmp(junk, "ASY", 3)) junk[0] = 'X';
            break;
        case 2:
            tag[3] = 0x7f;
            f[0] = tag, s[0] = 4, f[1] = cmd, s[1] = 1, f[2] = junk, s[2] = jl;
            break;
        case 3:
            cmd[0] = 0x63;
            f[0] = tag, s[0] = 4, f[1] = cmd, s[1] = 1, f[2] = junk, s[2] = jl;
            break;
        case 4:
            f[0] = tag, s[0] = 4, f[1] = cmd, s[1] = 1, f[2] = big, s[2] = big_len;
            break;
        default: /* a RESULT whose body is random bytes */
            junk[0] = 0x80 | (junk[0] & 0x0f); /* a fixmap: starts like a body */
            f[0] = tag, s[0] = 4, f[1] = cmd, s[1] = 1, f[2] = junk, s[2] = jl;
            break;
        }
        s_frames(sock, f, s, n);
        sent[kind]++;
    }
    long total = 0;
    printf("flood sent");
    for (int k = 0; k < 6; k++) {
        printf(" %s=%ld", names[k], sent[k]);
        total += sent[k];
    }
    printf(" total=%ld\n", total);
    zmq_close(sock);
    zmq_ctx_term(ctx);
    free(big);
    assay_config_destroy(&cfg);
    return 0;
}
