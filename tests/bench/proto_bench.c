/*  proto_bench.c: encode + decode throughput of typical TASK and RESULT messages.
 *
 *  usage: proto_bench [N] [INPUT_BYTES] [OUTPUT_BYTES]
 *  (defaults 200000 messages, a 1500-byte TASK input and a 3000-byte RESULT output,
 *  JSON text mixing ASCII and Chinese like the medical records assay works on).
 *  Prints messages/s and MB/s for encode, decode and both, per command.
 */
#include "common/error.h"
#include "common/proto.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* JSON text of about len bytes: {"text":"..."} with a mixed ASCII/CJK payload */
static char *s_json(size_t len)
{
    static const char *const words[] = {"患者男性，58岁，",         "chest pain for 3 hours, ",
                                        "冠状动脉粥样硬化性心脏病", "BP 150/95 mmHg; ",
                                        "心电图示ST段抬高。",       "troponin I elevated. "};
    assay_buf_t b = ASSAY_BUF_INIT;
    assay_buf_adds(&b, "{\"text\":\"");
    for (size_t i = 0; b.len + 40 < len; i++)
        assay_buf_adds(&b, words[i % ASSAY_ARRAY_LEN(words)]);
    assay_buf_adds(&b, "\"}");
    return assay_buf_detach(&b, NULL);
}

static void s_run(const char *name, const assay_msg_t *m, long n)
{
    unsigned char tag[4], cmd[1];
    char *body;
    size_t len;
    assay_proto_stats_t st = {0};
    if (assay_proto_encode(m, tag, cmd, &body, &len) != 0) {
        fprintf(stderr, "proto_bench: could not encode %s\n", name);
        exit(1);
    }
    free(body);

    int64_t t0 = assay_clock_us();
    for (long i = 0; i < n; i++) {
        assay_proto_encode(m, tag, cmd, &body, &len);
        free(body);
    }
    int64_t t1 = assay_clock_us();

    assay_proto_encode(m, tag, cmd, &body, &len);
    const void *frames[3] = {tag, cmd, body};
    size_t sizes[3] = {4, 1, len};
    int64_t t2 = assay_clock_us();
    for (long i = 0; i < n; i++) {
        assay_msg_t d;
        if (assay_proto_decode(frames, sizes, 3, &d, &st) != 0) exit(1);
        assay_msg_release(&d);
    }
    int64_t t3 = assay_clock_us();
    free(body);

    for (long i = 0; i < n; i++) {
        assay_msg_t d;
        assay_proto_encode(m, tag, cmd, &body, &len);
        frames[2] = body;
        sizes[2] = len;
        if (assay_proto_decode(frames, sizes, 3, &d, &st) != 0) exit(1);
        assay_msg_release(&d);
        free(body);
    }
    int64_t t4 = assay_clock_us();

    double enc = (double)(t1 - t0) / 1e6, dec = (double)(t3 - t2) / 1e6,
           both = (double)(t4 - t3) / 1e6;
    printf("%-7s body %6zu B  encode %9.0f msg/s (%6.0f MB/s)  decode %9.0f msg/s (%6.0f MB/s)  "
           "encode+decode %9.0f msg/s\n",
           name, len, n / enc, n * (double)len / enc / 1e6, n / dec, n * (double)len / dec / 1e6,
           n / both);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000;
    size_t in_len = argc > 2 ? (size_t)atol(argv[2]) : 1500;
    size_t out_len = argc > 3 ? (size_t)atol(argv[3]) : 3000;
    if (n <= 0) {
        fprintf(stderr, "usage: proto_bench [N] [INPUT_BYTES] [OUTPUT_BYTES]\n");
        return 2;
    }
    char *input = s_json(in_len), *output = s_json(out_len);
    const char *params =
        "{\"model\":\"qwen2.5-72b-instruct\",\"temperature\":0.7,\"max_tokens\":2048,"
        "\"prompt\":\"diagnose-v3\",\"endpoint\":\"llm-a\",\"seed\":1234}";

    assay_msg_t task = {.cmd = ASSAY_CMD_TASK};
    task.u.task = (assay_msg_task_t){
        123456789, 1, "generate", input, strlen(input), (char *)params, strlen(params), 120000};
    assay_msg_t result = {.cmd = ASSAY_CMD_RESULT};
    result.u.result = (assay_msg_result_t){123456789, 1, output, strlen(output), 8123456};
    assay_msg_t hb = {.cmd = ASSAY_CMD_HEARTBEAT};
    hb.u.heartbeat.inflight = 12;

    printf("proto_bench: %ld messages each\n", n);
    s_run("TASK", &task, n);
    s_run("RESULT", &result, n);
    s_run("HEARTBEAT", &hb, n);
    free(input);
    free(output);
    return 0;
}
