/*  test_proto.c: unit tests for common/proto (encoding, decoding, rejection
 *  counters and the ZeroMQ transport over an inproc ROUTER/DEALER pair) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/error.h"
#include "common/proto.h"
#include "common/util.h"

#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* ---- helpers ---- */

typedef struct {
    unsigned char tag[4];
    unsigned char cmd[1];
    char *body;
    size_t len;
} enc_t;

static assay_slot_t s_slots[] = {{"generate", 8}, {"verify", 2}, {"translate", 1}};

/* a message of every command with every optional field set (full) or not */
static void s_sample(int cmd, int full, assay_msg_t *m)
{
    memset(m, 0, sizeof(*m));
    m->cmd = (assay_cmd_t)cmd;
    switch (cmd) {
    case ASSAY_CMD_READY:
        m->u.ready = (assay_msg_ready_t){1, "node7:4242", 1000, s_slots, full ? 3 : 0};
        break;
    case ASSAY_CMD_WELCOME:
        m->u.welcome = (assay_msg_welcome_t){2500, 3, "broker-a1", full ? 30000 : 0};
        break;
    case ASSAY_CMD_TASK:
        m->u.task.id = full ? UINT64_C(18446744073709551615) : 42;
        m->u.task.attempt = 3;
        m->u.task.kind = "generate";
        m->u.task.input = "{\"case\":\"胸痛 3 小时，冠心病史\"}";
        m->u.task.input_len = strlen(m->u.task.input);
        m->u.task.params = full ? "{\"model\":\"m1\",\"temperature\":0.7}" : "";
        m->u.task.params_len = strlen(m->u.task.params);
        m->u.task.timeout_ms = full ? 120000 : 0;
        break;
    case ASSAY_CMD_RESULT:
        m->u.result = (assay_msg_result_t){7, 1, "{\"answer\":\"ok\"}", 0, 1234567};
        break;
    case ASSAY_CMD_FAIL:
        m->u.fail = (assay_msg_fail_t){
            9,  2,           1, "endpoint returned 429", full ? 30000 : 0, full ? "llm-a" : NULL,
            55, full ? 1 : 0};
        break;
    case ASSAY_CMD_HEARTBEAT:
        m->u.heartbeat.inflight = full ? 17 : 0;
        break;
    case ASSAY_CMD_DISCONNECT:
        m->u.disconnect.reason = full ? "shutting down" : NULL;
        break;
    }
}

static void s_encode(const assay_msg_t *m, enc_t *e)
{
    assert_int_equal(assay_proto_encode(m, e->tag, e->cmd, &e->body, &e->len), 0);
}

static int s_decode3(const void *tag, size_t taglen, const void *cmd, size_t cmdlen,
                     const void *body, size_t len, assay_msg_t *m, assay_proto_stats_t *st)
{
    const void *frames[3] = {tag, cmd, body};
    size_t sizes[3] = {taglen, cmdlen, len};
    return assay_proto_decode(frames, sizes, 3, m, st);
}

static int s_decode_body(int cmd, const void *body, size_t len, assay_msg_t *m,
                         assay_proto_stats_t *st)
{
    unsigned char tag[4] = {'A', 'S', 'Y', ASSAY_PROTO_VERSION}, c = (unsigned char)cmd;
    return s_decode3(tag, 4, &c, 1, body, len, m, st);
}

static uint64_t s_total(const assay_proto_stats_t *st)
{
    return st->ok + st->bad_frames + st->bad_tag + st->bad_version + st->bad_command +
           st->oversized + st->truncated + st->malformed;
}

/* decodes body and expects rc with exactly one bump of *counter */
static void s_expect(int cmd, const void *body, size_t len, int rc, size_t counter_off)
{
    assay_proto_stats_t st = {0};
    assay_msg_t m;
    assert_int_equal(s_decode_body(cmd, body, len, &m, &st), rc);
    assert_int_equal(*(uint64_t *)((char *)&st + counter_off), 1);
    assert_int_equal(s_total(&st), 1);
    assay_msg_release(&m);
}
#define EXPECT_MALFORMED(cmd, sb)                                                                  \
    s_expect(cmd, (sb)->data, (sb)->size, ASSAY_EPROTO, offsetof(assay_proto_stats_t, malformed))

static void s_pack_cstr(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

/* ---- round trips ---- */

static void test_round_trip(void **state)
{
    (void)state;
    for (int cmd = 1; cmd <= ASSAY_CMD__MAX; cmd++) {
        for (int full = 0; full <= 1; full++) {
            assay_msg_t m, d, d2;
            enc_t e, e2;
            assay_proto_stats_t st = {0};
            s_sample(cmd, full, &m);
            s_encode(&m, &e);
            assert_memory_equal(e.tag, "ASY\x01", 4);
            assert_int_equal(e.cmd[0], cmd);
            assert_int_equal(s_decode3(e.tag, 4, e.cmd, 1, e.body, e.len, &d, &st), 0);
            assert_int_equal(st.ok, 1);
            assert_int_equal(s_total(&st), 1);
            assert_true(assay_msg_equal(&m, &d));
            /* re-encoding what was decoded gives the same bytes */
            s_encode(&d, &e2);
            assert_int_equal(e2.len, e.len);
            assert_memory_equal(e2.body, e.body, e.len);
            assert_int_equal(s_decode3(e2.tag, 4, e2.cmd, 1, e2.body, e2.len, &d2, &st), 0);
            assert_true(assay_msg_equal(&d, &d2));
            assay_msg_release(&d);
            assay_msg_release(&d); /* safe twice */
            assay_msg_release(&d2);
            free(e.body);
            free(e2.body);
        }
    }
}

static void test_decoded_fields(void **state)
{
    (void)state;
    assay_msg_t m, d;
    enc_t e;
    s_sample(ASSAY_CMD_TASK, 1, &m);
    s_encode(&m, &e);
    assert_int_equal(s_decode_body(ASSAY_CMD_TASK, e.body, e.len, &d, NULL), 0);
    assert_int_equal(d.cmd, ASSAY_CMD_TASK);
    assert_true(d.u.task.id == UINT64_MAX);
    assert_int_equal(d.u.task.attempt, 3);
    assert_string_equal(d.u.task.kind, "generate");
    assert_int_equal(d.u.task.input_len, strlen(m.u.task.input));
    assert_int_equal(d.u.task.input[d.u.task.input_len], '\0');
    assert_string_equal(d.u.task.input, m.u.task.input);
    assert_int_equal(d.u.task.params[d.u.task.params_len], '\0');
    assert_int_equal(d.u.task.timeout_ms, 120000);
    assert_ptr_not_equal(d.u.task.kind, m.u.task.kind); /* a copy */
    assay_msg_release(&d);
    assert_null(d.u.task.kind);
    free(e.body);

    s_sample(ASSAY_CMD_FAIL, 0, &m);
    s_encode(&m, &e);
    assert_int_equal(s_decode_body(ASSAY_CMD_FAIL, e.body, e.len, &d, NULL), 0);
    assert_null(d.u.fail.endpoint);
    assert_int_equal(d.u.fail.retry_after_ms, 0);
    assert_int_equal(d.u.fail.retryable, 1);
    assay_msg_release(&d);
    free(e.body);

    s_sample(ASSAY_CMD_READY, 1, &m);
    s_encode(&m, &e);
    assert_int_equal(s_decode_body(ASSAY_CMD_READY, e.body, e.len, &d, NULL), 0);
    assert_int_equal(d.u.ready.nslots, 3);
    assert_string_equal(d.u.ready.slots[2].kind, "translate");
    assert_int_equal(d.u.ready.slots[0].slots, 8);
    assay_msg_release(&d);
    free(e.body);

    /* version 0 in READY is sent as the library's version */
    s_sample(ASSAY_CMD_READY, 1, &m);
    m.u.ready.version = 0;
    s_encode(&m, &e);
    assert_int_equal(s_decode_body(ASSAY_CMD_READY, e.body, e.len, &d, NULL), 0);
    assert_int_equal(d.u.ready.version, ASSAY_PROTO_VERSION);
    assay_msg_release(&d);
    free(e.body);

    /* a zero text length means strlen() */
    s_sample(ASSAY_CMD_RESULT, 1, &m);
    m.u.result.output_len = 0;
    s_encode(&m, &e);
    assert_int_equal(s_decode_body(ASSAY_CMD_RESULT, e.body, e.len, &d, NULL), 0);
    assert_int_equal(d.u.result.output_len, strlen(m.u.result.output));
    assay_msg_release(&d);
    free(e.body);
}

/* ---- the worked examples of common/PROTOCOL.md §9, byte for byte ---- */

typedef struct {
    char name[16];          /* command name on the header line */
    unsigned char tag[4];   /* from the header line */
    unsigned char cmd;      /* from the header line */
    unsigned char body[96]; /* the hex lines */
    size_t len;
    size_t said_len; /* "body (N bytes)" */
} s_example_t;

static const char s_w2b[] = "W\xe2\x86\x92" /* W→B */
                            "B ";
static const char s_b2w[] = "B\xe2\x86\x92" /* B→W */
                            "W ";

/* reads every example block of the document: a header line "W→B NAME  tag .. cmd ..
 * body (N bytes)", then indented lines of hex bytes */
static size_t s_read_examples(s_example_t *ex, size_t max)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/common/PROTOCOL.md", ASSAY_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[512];
    size_t n = 0;
    s_example_t *cur = NULL;
    while (fgets(line, sizeof line, f)) {
        unsigned t[4], c;
        size_t said;
        char name[16];
        if ((!strncmp(line, s_w2b, 6) || !strncmp(line, s_b2w, 6)) &&
            sscanf(line + 6, "%15s tag %x %x %x %x cmd %x body (%zu bytes)", name, &t[0], &t[1],
                   &t[2], &t[3], &c, &said) == 7) {
            assert_true(n < max);
            cur = &ex[n++];
            memset(cur, 0, sizeof *cur);
            snprintf(cur->name, sizeof cur->name, "%s", name);
            for (int i = 0; i < 4; i++)
                cur->tag[i] = (unsigned char)t[i];
            cur->cmd = (unsigned char)c;
            cur->said_len = said;
            continue;
        }
        if (cur && !strncmp(line, "    ", 4) && line[4] != '=') {
            const char *p = line + 4;
            unsigned v;
            int used;
            while (sscanf(p, "%2x%n", &v, &used) == 1) {
                assert_true(cur->len < sizeof cur->body);
                cur->body[cur->len++] = (unsigned char)v;
                p += used;
                while (*p == ' ')
                    p++;
            }
            continue;
        }
        cur = NULL;
    }
    fclose(f);
    return n;
}

static void test_worked_example(void **state)
{
    (void)state;
    /* the messages of §9, in the order they appear there */
    assay_slot_t slots[] = {{"noop", 4}};
    assay_msg_t m[9];
    memset(m, 0, sizeof(m));
    m[0].cmd = ASSAY_CMD_READY;
    m[0].u.ready = (assay_msg_ready_t){1, "n1:77", 1000, slots, 1};
    m[1].cmd = ASSAY_CMD_WELCOME;
    m[1].u.welcome = (assay_msg_welcome_t){2000, 3, "b1", 30000};
    m[2].cmd = ASSAY_CMD_TASK;
    m[2].u.task = (assay_msg_task_t){42, 1, "noop", "{\"x\":1}", 7, "{}", 2, 30000};
    m[3].cmd = ASSAY_CMD_HEARTBEAT;
    m[3].u.heartbeat.inflight = 1;
    m[4].cmd = ASSAY_CMD_RESULT;
    m[4].u.result = (assay_msg_result_t){42, 1, "{\"ok\":true}", 11, 1500};
    m[5].cmd = ASSAY_CMD_FAIL;
    m[5].u.fail = (assay_msg_fail_t){43, 2, 1, "HTTP 429", 5000, "sim", 800, 0};
    m[6].cmd = ASSAY_CMD_DISCONNECT;
    m[6].u.disconnect.reason = "draining";
    m[7].cmd = ASSAY_CMD_FAIL;
    m[7].u.fail = (assay_msg_fail_t){44, 1, 1, "worker is shutting down", 0, NULL, 0, 1};
    m[8].cmd = ASSAY_CMD_DISCONNECT;
    m[8].u.disconnect.reason = "bye";

    s_example_t ex[16];
    size_t n = s_read_examples(ex, 16);
    assert_int_equal(n, 9);
    for (size_t i = 0; i < n; i++) {
        enc_t e;
        assay_msg_t d;
        assay_proto_stats_t st = {0};
        /* the header agrees with itself and with the code */
        assert_string_equal(ex[i].name, assay_cmd_name(m[i].cmd));
        assert_int_equal(ex[i].cmd, m[i].cmd);
        assert_int_equal(ex[i].len, ex[i].said_len);
        /* encoding gives exactly the document's bytes */
        s_encode(&m[i], &e);
        assert_memory_equal(e.tag, ex[i].tag, 4);
        assert_int_equal(e.cmd[0], ex[i].cmd);
        assert_int_equal(e.len, ex[i].len);
        assert_memory_equal(e.body, ex[i].body, ex[i].len);
        free(e.body);
        /* and decoding the document's bytes gives the message back */
        const void *frames[3] = {ex[i].tag, &ex[i].cmd, ex[i].body};
        size_t sizes[3] = {4, 1, ex[i].len};
        assert_int_equal(assay_proto_decode(frames, sizes, 3, &d, &st), 0);
        assert_true(assay_msg_equal(&d, &m[i]));
        assay_msg_release(&d);
    }
}

/* optional keys with a zero default (WELCOME lg, FAIL dr) are left out when zero,
 * decode to zero when absent, and round-trip when set */
static void test_optional_zero_keys(void **state)
{
    (void)state;
    assay_msg_t m, d;
    enc_t e;
    memset(&m, 0, sizeof m);
    m.cmd = ASSAY_CMD_FAIL;
    m.u.fail = (assay_msg_fail_t){5, 1, 1, "x", 0, NULL, 0, 0};
    s_encode(&m, &e);
    assert_null(memmem(e.body, e.len,
                       "\xa2"
                       "dr",
                       3));
    assert_int_equal(s_decode_body(ASSAY_CMD_FAIL, e.body, e.len, &d, NULL), 0);
    assert_int_equal(d.u.fail.declined, 0);
    assay_msg_release(&d);
    free(e.body);
    m.u.fail.declined = 1;
    s_encode(&m, &e);
    assert_non_null(memmem(e.body, e.len,
                           "\xa2"
                           "dr\xc3",
                           4));
    assert_int_equal(s_decode_body(ASSAY_CMD_FAIL, e.body, e.len, &d, NULL), 0);
    assert_int_equal(d.u.fail.declined, 1);
    assay_msg_release(&d);
    free(e.body);
    /* dr must be a bool, like every bool */
    const unsigned char bad[] = {0x86, 0xa2, 'i', 'd',  0x05, 0xa2, 'a', 't', 0x01,
                                 0xa2, 'r',  't', 0xc3, 0xa3, 'w',  'h', 'y', 0xa1,
                                 'x',  0xa2, 'u', 's',  0x00, 0xa2, 'd', 'r', 0x01};
    assay_proto_stats_t st = {0};
    assert_int_equal(s_decode_body(ASSAY_CMD_FAIL, bad, sizeof bad, &d, &st), ASSAY_EPROTO);
    assert_int_equal(st.malformed, 1);

    memset(&m, 0, sizeof m);
    m.cmd = ASSAY_CMD_WELCOME;
    m.u.welcome = (assay_msg_welcome_t){1000, 5, "b", 0};
    s_encode(&m, &e);
    assert_null(memmem(e.body, e.len,
                       "\xa2"
                       "lg",
                       3));
    free(e.body);
    m.u.welcome.lease_grace_ms = 30000;
    s_encode(&m, &e);
    assert_int_equal(s_decode_body(ASSAY_CMD_WELCOME, e.body, e.len, &d, NULL), 0);
    assert_int_equal(d.u.welcome.lease_grace_ms, 30000);
    assay_msg_release(&d);
    free(e.body);
}

/* ---- frame-level rejection ---- */

static void test_bad_frames(void **state)
{
    (void)state;
    assay_msg_t m, d;
    enc_t e;
    s_sample(ASSAY_CMD_HEARTBEAT, 1, &m);
    s_encode(&m, &e);
    const void *frames[5] = {e.tag, e.cmd, e.body, e.body, e.body};
    size_t sizes[5] = {4, 1, e.len, e.len, e.len};
    assay_proto_stats_t st = {0};
    size_t counts[] = {0, 1, 2, 4, 5};
    for (size_t i = 0; i < ASSAY_ARRAY_LEN(counts); i++) {
        assert_int_equal(assay_proto_decode(frames, sizes, counts[i], &d, &st), ASSAY_EPROTO);
        assert_int_equal(st.bad_frames, i + 1);
    }
    assert_int_equal(s_total(&st), ASSAY_ARRAY_LEN(counts));
    assert_int_equal(assay_proto_decode(NULL, NULL, 0, &d, &st), ASSAY_EPROTO);
    assert_int_equal(assay_proto_decode(frames, sizes, 3, NULL, &st), ASSAY_EINVAL);
    assert_int_equal(assay_proto_decode(frames, sizes, 3, &d, NULL), 0); /* stats optional */
    assay_msg_release(&d);

    /* tag */
    static const struct {
        const char *tag;
        size_t len;
    } bad_tags[] = {{"ASX\x01", 4}, {"asy\x01", 4}, {"ASY", 3}, {"ASY\x01\x01", 5}, {"", 0}};
    memset(&st, 0, sizeof(st));
    for (size_t i = 0; i < ASSAY_ARRAY_LEN(bad_tags); i++) {
        assert_int_equal(
            s_decode3(bad_tags[i].tag, bad_tags[i].len, e.cmd, 1, e.body, e.len, &d, &st),
            ASSAY_EPROTO);
        assert_int_equal(st.bad_tag, i + 1);
    }
    assert_int_equal(s_total(&st), ASSAY_ARRAY_LEN(bad_tags));

    /* version */
    memset(&st, 0, sizeof(st));
    assert_int_equal(s_decode3("ASY\x02", 4, e.cmd, 1, e.body, e.len, &d, &st), ASSAY_EVERSION);
    assert_int_equal(s_decode3("ASY\x00", 4, e.cmd, 1, e.body, e.len, &d, &st), ASSAY_EVERSION);
    assert_int_equal(s_decode3("ASY\xff", 4, e.cmd, 1, e.body, e.len, &d, &st), ASSAY_EVERSION);
    assert_int_equal(st.bad_version, 3);
    assert_int_equal(s_total(&st), 3);

    /* command */
    memset(&st, 0, sizeof(st));
    unsigned char cmds[] = {0, 8, 0x7f, 0xff};
    for (size_t i = 0; i < sizeof(cmds); i++)
        assert_int_equal(s_decode3(e.tag, 4, &cmds[i], 1, e.body, e.len, &d, &st), ASSAY_EPROTO);
    assert_int_equal(s_decode3(e.tag, 4, "", 0, e.body, e.len, &d, &st), ASSAY_EPROTO);
    assert_int_equal(s_decode3(e.tag, 4, "\x06\x06", 2, e.body, e.len, &d, &st), ASSAY_EPROTO);
    assert_int_equal(st.bad_command, sizeof(cmds) + 2);
    assert_int_equal(s_total(&st), sizeof(cmds) + 2);
    free(e.body);

    assert_string_equal(assay_cmd_name(ASSAY_CMD_READY), "READY");
    assert_string_equal(assay_cmd_name(ASSAY_CMD_DISCONNECT), "DISCONNECT");
    assert_string_equal(assay_cmd_name(0), "?");
    assert_string_equal(assay_cmd_name(8), "?");
}

static void test_oversized(void **state)
{
    (void)state;
    size_t len = ASSAY_PROTO_MAX_BODY + 1;
    char *body = assay_calloc(1, len);
    s_expect(ASSAY_CMD_RESULT, body, len, ASSAY_ETOOBIG, offsetof(assay_proto_stats_t, oversized));

    /* the encoder refuses what the decoder would */
    memset(body, 'a', len - 1);
    assay_msg_t m = {.cmd = ASSAY_CMD_RESULT};
    m.u.result = (assay_msg_result_t){1, 1, body, len - 1, 0};
    unsigned char tag[4], cmd[1];
    char *out = NULL;
    size_t outlen;
    assert_int_equal(assay_proto_encode(&m, tag, cmd, &out, &outlen), ASSAY_ETOOBIG);
    /* a body just under the limit goes through */
    m.u.result.output_len = ASSAY_PROTO_MAX_BODY - 64;
    assert_int_equal(assay_proto_encode(&m, tag, cmd, &out, &outlen), 0);
    assert_true(outlen <= ASSAY_PROTO_MAX_BODY);
    assay_msg_t d;
    assert_int_equal(s_decode_body(ASSAY_CMD_RESULT, out, outlen, &d, NULL), 0);
    assert_int_equal(d.u.result.output_len, ASSAY_PROTO_MAX_BODY - 64);
    assay_msg_release(&d);
    free(out);
    free(body);
}

/* ---- body-level rejection ---- */

static void test_truncated(void **state)
{
    (void)state;
    for (int cmd = 1; cmd <= ASSAY_CMD__MAX; cmd++) {
        for (int full = 0; full <= 1; full++) {
            assay_msg_t m, d;
            enc_t e;
            assay_proto_stats_t st = {0};
            s_sample(cmd, full, &m);
            s_encode(&m, &e);
            for (size_t len = 0; len < e.len; len++) {
                /* a copy of exactly len bytes, so ASan sees any read past the end */
                char *prefix = assay_malloc(len);
                memcpy(prefix, e.body, len);
                assert_int_equal(s_decode_body(cmd, prefix, len, &d, &st), ASSAY_ETRUNC);
                free(prefix);
            }
            assert_int_equal(st.truncated, e.len);
            assert_int_equal(s_total(&st), e.len);
            free(e.body);
        }
    }
}

static void test_trailing(void **state)
{
    (void)state;
    for (int cmd = 1; cmd <= ASSAY_CMD__MAX; cmd++) {
        assay_msg_t m;
        enc_t e;
        s_sample(cmd, 1, &m);
        s_encode(&m, &e);
        char *body = assay_malloc(e.len + 1);
        memcpy(body, e.body, e.len);
        body[e.len] = '\0';
        s_expect(cmd, body, e.len + 1, ASSAY_EPROTO, offsetof(assay_proto_stats_t, malformed));
        body[e.len] = (char)0x80; /* a complete second map */
        s_expect(cmd, body, e.len + 1, ASSAY_EPROTO, offsetof(assay_proto_stats_t, malformed));
        free(body);
        free(e.body);
    }
}

typedef enum { OMIT, WRONG_TYPE, NEGATIVE, FLOAT, TOO_BIG, DUPLICATE } edit_t;

/* re-packs a valid body with key number keyi edited; returns 0 when the edit does
 * not apply to that key's type */
static int s_repack(const char *body, size_t len, uint32_t keyi, edit_t edit, msgpack_sbuffer *sb)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&u, body, len, &off), MSGPACK_UNPACK_SUCCESS);
    msgpack_object_map map = u.data.via.map;
    assert_int_equal(u.data.type, MSGPACK_OBJECT_MAP);
    const msgpack_object *val = &map.ptr[keyi].val;
    int applies = 1;
    if (edit == NEGATIVE || edit == FLOAT || edit == TOO_BIG)
        applies = val->type == MSGPACK_OBJECT_POSITIVE_INTEGER;
    if (edit == TOO_BIG) { /* only the 32-bit fields have a bound below 2^64 */
        msgpack_object_str k = map.ptr[keyi].key.via.str;
        if ((k.size == 2 && !memcmp(k.ptr, "id", 2)) || (k.size == 2 && !memcmp(k.ptr, "us", 2)))
            applies = 0;
    }
    if (applies) {
        msgpack_packer pk;
        msgpack_sbuffer_init(sb);
        msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, map.size + (edit == DUPLICATE) - (edit == OMIT));
        for (uint32_t i = 0; i < map.size; i++) {
            if (i != keyi) {
                msgpack_pack_object(&pk, map.ptr[i].key);
                msgpack_pack_object(&pk, map.ptr[i].val);
                continue;
            }
            if (edit == OMIT) continue;
            msgpack_pack_object(&pk, map.ptr[i].key);
            switch (edit) {
            case DUPLICATE:
                msgpack_pack_object(&pk, *val);
                msgpack_pack_object(&pk, map.ptr[i].key);
                msgpack_pack_object(&pk, *val);
                break;
            case NEGATIVE:
                msgpack_pack_int64(&pk, -1);
                break;
            case FLOAT:
                msgpack_pack_double(&pk, 1.0);
                break;
            case TOO_BIG:
                msgpack_pack_uint64(&pk, UINT64_C(1) << 32);
                break;
            default:
                if (val->type == MSGPACK_OBJECT_STR)
                    msgpack_pack_int(&pk, 7);
                else if (val->type == MSGPACK_OBJECT_MAP)
                    msgpack_pack_array(&pk, 0);
                else
                    s_pack_cstr(&pk, "7");
                break;
            }
        }
    }
    msgpack_unpacked_destroy(&u);
    return applies;
}

static void test_missing_and_wrong_types(void **state)
{
    (void)state;
    /* keys the decoder may do without */
    static const char *optional[] = {"ra", "ep", "why@7", "lg", "dr"};
    for (int cmd = 1; cmd <= ASSAY_CMD__MAX; cmd++) {
        assay_msg_t m;
        enc_t e;
        s_sample(cmd, 1, &m);
        s_encode(&m, &e);
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        size_t off = 0;
        assert_int_equal(msgpack_unpack_next(&u, e.body, e.len, &off), MSGPACK_UNPACK_SUCCESS);
        uint32_t nkeys = u.data.via.map.size;
        assert_true(nkeys > 0);
        for (uint32_t k = 0; k < nkeys; k++) {
            char key[16];
            msgpack_object_str ks = u.data.via.map.ptr[k].key.via.str;
            snprintf(key, sizeof(key), "%.*s", (int)ks.size, ks.ptr);
            char keycmd[24];
            snprintf(keycmd, sizeof(keycmd), "%s@%d", key, cmd);
            int is_optional = 0;
            for (size_t o = 0; o < ASSAY_ARRAY_LEN(optional); o++)
                if (!strcmp(optional[o], key) || !strcmp(optional[o], keycmd)) is_optional = 1;

            msgpack_sbuffer sb;
            s_repack(e.body, e.len, k, OMIT, &sb);
            if (is_optional) {
                assay_msg_t d;
                assert_int_equal(s_decode_body(cmd, sb.data, sb.size, &d, NULL), 0);
                assay_msg_release(&d);
            } else {
                EXPECT_MALFORMED(cmd, &sb);
            }
            msgpack_sbuffer_destroy(&sb);

            edit_t edits[] = {WRONG_TYPE, NEGATIVE, FLOAT, TOO_BIG, DUPLICATE};
            for (size_t x = 0; x < ASSAY_ARRAY_LEN(edits); x++) {
                if (!s_repack(e.body, e.len, k, edits[x], &sb)) continue;
                EXPECT_MALFORMED(cmd, &sb);
                msgpack_sbuffer_destroy(&sb);
            }
        }
        msgpack_unpacked_destroy(&u);
        free(e.body);
    }
}

/* a TASK body with the given kind, crafted past the encoder's checks */
static void s_task_with_kind(msgpack_sbuffer *sb, const char *kind, size_t kindlen)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 6);
    s_pack_cstr(&pk, "id");
    msgpack_pack_uint64(&pk, 1);
    s_pack_cstr(&pk, "at");
    msgpack_pack_uint32(&pk, 1);
    s_pack_cstr(&pk, "k");
    msgpack_pack_str(&pk, kindlen);
    msgpack_pack_str_body(&pk, kind, kindlen);
    s_pack_cstr(&pk, "in");
    s_pack_cstr(&pk, "{}");
    s_pack_cstr(&pk, "pa");
    s_pack_cstr(&pk, "{}");
    s_pack_cstr(&pk, "to");
    msgpack_pack_uint32(&pk, 0);
}

static void test_string_rules(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    assay_msg_t d;
    s_task_with_kind(&sb, "noop", 4);
    assert_int_equal(s_decode_body(ASSAY_CMD_TASK, sb.data, sb.size, &d, NULL), 0);
    assay_msg_release(&d);
    msgpack_sbuffer_destroy(&sb);

    static const struct {
        const char *s;
        size_t len;
    } bad[] = {
        {"no\0op", 5},       /* NUL inside */
        {"noop\0", 5},       /* NUL at the end */
        {"", 0},             /* empty kind */
        {"\xc3\x28", 2},     /* invalid UTF-8 */
        {"\xed\xa0\x80", 3}, /* surrogate */
        {"\xc0\xaf", 2},     /* overlong */
        {"abc\xe4\xb8", 5},  /* cut multibyte sequence */
    };
    for (size_t i = 0; i < ASSAY_ARRAY_LEN(bad); i++) {
        s_task_with_kind(&sb, bad[i].s, bad[i].len);
        EXPECT_MALFORMED(ASSAY_CMD_TASK, &sb);
        msgpack_sbuffer_destroy(&sb);
    }

    /* random strings, biased to UTF-8 lead and continuation bytes, are accepted
     * exactly when they are non-empty, NUL-free and valid by assay_utf8_valid */
    uint64_t seed = 12345;
    static const unsigned char pick[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0,
                                         0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe4, 0xed,
                                         0xef, 0xf0, 0xf4, 0xf5, 0xff, 0xb8, 0xad};
    size_t accepted = 0;
    for (int i = 0; i < 50000; i++) {
        char kind[24];
        size_t len = 1 + (size_t)(seed % 20);
        for (size_t j = 0; j < len; j++) {
            seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
            kind[j] = (char)(seed % 3 == 0 ? 'a' + seed % 26 : pick[(seed >> 8) % sizeof(pick)]);
        }
        int valid = !memchr(kind, 0, len) && assay_utf8_valid(kind, len);
        s_task_with_kind(&sb, kind, len);
        int rc = s_decode_body(ASSAY_CMD_TASK, sb.data, sb.size, &d, NULL);
        assert_int_equal(rc, valid ? 0 : ASSAY_EPROTO);
        if (rc == 0) {
            assert_memory_equal(d.u.task.kind, kind, len);
            accepted++;
        }
        assay_msg_release(&d);
        msgpack_sbuffer_destroy(&sb);
    }
    assert_true(accepted > 1000 && accepted < 49000);

    /* the encoder refuses the same */
    assay_msg_t m;
    unsigned char tag[4], cmd[1];
    char *body;
    size_t len;
    s_sample(ASSAY_CMD_TASK, 1, &m);
    m.u.task.input = "{\"a\":1}\0{}";
    m.u.task.input_len = 10;
    assert_int_equal(assay_proto_encode(&m, tag, cmd, &body, &len), ASSAY_EINVAL);
    m.u.task.input = "{\"a\":\"\xff\"}";
    m.u.task.input_len = 0;
    assert_int_equal(assay_proto_encode(&m, tag, cmd, &body, &len), ASSAY_EINVAL);
    s_sample(ASSAY_CMD_TASK, 1, &m);
    m.u.task.kind = "";
    assert_int_equal(assay_proto_encode(&m, tag, cmd, &body, &len), ASSAY_EINVAL);
    m.u.task.kind = NULL;
    assert_int_equal(assay_proto_encode(&m, tag, cmd, &body, &len), ASSAY_EINVAL);
    s_sample(ASSAY_CMD_TASK, 1, &m);
    m.u.task.params = NULL;
    assert_int_equal(assay_proto_encode(&m, tag, cmd, &body, &len), ASSAY_EINVAL);
    s_sample(ASSAY_CMD_WELCOME, 1, &m);
    m.u.welcome.heartbeat_ms = 0;
    assert_int_equal(assay_proto_encode(&m, tag, cmd, &body, &len), ASSAY_EINVAL);
    s_sample(ASSAY_CMD_FAIL, 1, &m);
    m.u.fail.retryable = 2;
    assert_int_equal(assay_proto_encode(&m, tag, cmd, &body, &len), ASSAY_EINVAL);
    m.cmd = 0;
    assert_int_equal(assay_proto_encode(&m, tag, cmd, &body, &len), ASSAY_EINVAL);
    m.cmd = 8;
    assert_int_equal(assay_proto_encode(&m, tag, cmd, &body, &len), ASSAY_EINVAL);
    assert_int_equal(assay_proto_encode(NULL, tag, cmd, &body, &len), ASSAY_EINVAL);
}

/* a READY body with n kinds "k0".. of the given slots, crafted past the encoder */
static void s_ready_with(msgpack_sbuffer *sb, uint32_t n, uint32_t slots, int dup)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    s_pack_cstr(&pk, "v");
    msgpack_pack_uint32(&pk, 1);
    s_pack_cstr(&pk, "w");
    s_pack_cstr(&pk, "w1");
    s_pack_cstr(&pk, "hb");
    msgpack_pack_uint32(&pk, 1000);
    s_pack_cstr(&pk, "s");
    msgpack_pack_map(&pk, n);
    for (uint32_t i = 0; i < n; i++) {
        char kind[16];
        snprintf(kind, sizeof(kind), "k%u", dup && i == n - 1 ? 0 : i);
        s_pack_cstr(&pk, kind);
        msgpack_pack_uint32(&pk, slots);
    }
}

static void test_slots(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    assay_msg_t d;
    s_ready_with(&sb, ASSAY_PROTO_MAX_KINDS, 4, 0);
    assert_int_equal(s_decode_body(ASSAY_CMD_READY, sb.data, sb.size, &d, NULL), 0);
    assert_int_equal(d.u.ready.nslots, ASSAY_PROTO_MAX_KINDS);
    assert_string_equal(d.u.ready.slots[63].kind, "k63");
    assay_msg_release(&d);
    msgpack_sbuffer_destroy(&sb);

    s_ready_with(&sb, ASSAY_PROTO_MAX_KINDS + 1, 4, 0); /* too many kinds */
    EXPECT_MALFORMED(ASSAY_CMD_READY, &sb);
    msgpack_sbuffer_destroy(&sb);
    s_ready_with(&sb, 3, 0, 0); /* zero slots */
    EXPECT_MALFORMED(ASSAY_CMD_READY, &sb);
    msgpack_sbuffer_destroy(&sb);
    s_ready_with(&sb, 3, 4, 1); /* the same kind twice */
    EXPECT_MALFORMED(ASSAY_CMD_READY, &sb);
    msgpack_sbuffer_destroy(&sb);

    /* the encoder refuses the same */
    assay_slot_t many[ASSAY_PROTO_MAX_KINDS + 1];
    char names[ASSAY_PROTO_MAX_KINDS + 1][8];
    for (int i = 0; i <= ASSAY_PROTO_MAX_KINDS; i++) {
        snprintf(names[i], sizeof(names[i]), "k%d", i);
        many[i] = (assay_slot_t){names[i], 1};
    }
    assay_msg_t m;
    unsigned char tag[4], cmd[1];
    char *body;
    size_t len;
    s_sample(ASSAY_CMD_READY, 1, &m);
    m.u.ready.slots = many;
    m.u.ready.nslots = ASSAY_PROTO_MAX_KINDS + 1;
    assert_int_equal(assay_proto_encode(&m, tag, cmd, &body, &len), ASSAY_EINVAL);
    m.u.ready.nslots = ASSAY_PROTO_MAX_KINDS;
    assert_int_equal(assay_proto_encode(&m, tag, cmd, &body, &len), 0);
    free(body);
    many[1].kind = "k0";
    assert_int_equal(assay_proto_encode(&m, tag, cmd, &body, &len), ASSAY_EINVAL);
    many[1].kind = names[1];
    many[2].slots = 0;
    assert_int_equal(assay_proto_encode(&m, tag, cmd, &body, &len), ASSAY_EINVAL);
}

/* other encoders may pick other (valid) formats; unknown keys are skipped */
static void test_forward_compatible(void **state)
{
    (void)state;
    static const unsigned char body[] = {
        0xde, 0x00, 0x05,                                                       /* map16, 5 pairs */
        0xa1, 'x',  0x92, 0x81, 0xa1, 'y',  0xc0, 0xc7, 0x02, 0x05, 0x01, 0x02, /* x: [{y: nil},
                                                                                   ext] */
        0xdb, 0x00, 0x00, 0x00, 0x01, 'n',                                      /* str32 "n" */
        0xcf, 0,    0,    0,    0,    0,    0,    0,    5,                      /* uint64 5 */
        0xd9, 0x02, 'z',  'z',  0xcb, 0,    0,    0,    0,    0,    0,    0,    0, /* zz: float64 */
        0xa2, 'z',  'b',  0xc5, 0x00, 0x01, 0xff,                                  /* zb: bin16 */
        0xa2, 'z',  'e',  0xd8, 0x01, 0,    0,    0,    0,    0,    0,    0,    0,
        0,    0,    0,    0,    0,    0,    0,    0,
    };
    assay_msg_t d;
    assay_proto_stats_t st = {0};
    assert_int_equal(s_decode_body(ASSAY_CMD_HEARTBEAT, body, sizeof(body), &d, &st), 0);
    assert_int_equal(d.u.heartbeat.inflight, 5);
    assert_int_equal(st.ok, 1);
    /* every prefix is truncated, including inside the skipped values */
    for (size_t len = 0; len < sizeof(body); len++)
        assert_int_equal(s_decode_body(ASSAY_CMD_HEARTBEAT, body, len, &d, &st), ASSAY_ETRUNC);
    assert_int_equal(st.truncated, sizeof(body));

    /* signed formats with non-negative values, nil for an optional string */
    static const unsigned char fail[] = {0x86, 0xa2, 'i', 'd',  0xd3, 0,   0,   0,    0,
                                         0,    0,    0,   9,    0xa2, 'a', 't', 0xd0, 2,
                                         0xa2, 'r',  't', 0xc2, 0xa3, 'w', 'h', 'y',  0xa0,
                                         0xa2, 'e',  'p', 0xc0, 0xa2, 'u', 's', 0x00};
    assert_int_equal(s_decode_body(ASSAY_CMD_FAIL, fail, sizeof(fail), &d, &st), 0);
    assert_true(d.u.fail.id == 9);
    assert_int_equal(d.u.fail.attempt, 2);
    assert_int_equal(d.u.fail.retryable, 0);
    assert_string_equal(d.u.fail.reason, "");
    assert_null(d.u.fail.endpoint);
    assay_msg_release(&d);

    /* a key that is not a string, the reserved byte 0xc1, a top-level array */
    static const unsigned char intkey[] = {0x81, 0x01, 0x02};
    s_expect(ASSAY_CMD_DISCONNECT, intkey, sizeof(intkey), ASSAY_EPROTO,
             offsetof(assay_proto_stats_t, malformed));
    static const unsigned char reserved[] = {0x81, 0xa1, 'q', 0xc1};
    s_expect(ASSAY_CMD_DISCONNECT, reserved, sizeof(reserved), ASSAY_EPROTO,
             offsetof(assay_proto_stats_t, malformed));
    static const unsigned char array[] = {0x90};
    s_expect(ASSAY_CMD_DISCONNECT, array, sizeof(array), ASSAY_EPROTO,
             offsetof(assay_proto_stats_t, malformed));
    /* containers declaring more elements than there are bytes: no huge allocation */
    static const unsigned char huge[] = {0x81, 0xa1, 'q', 0xdd, 0xff, 0xff, 0xff, 0xff, 0x01};
    s_expect(ASSAY_CMD_DISCONNECT, huge, sizeof(huge), ASSAY_ETRUNC,
             offsetof(assay_proto_stats_t, truncated));
    static const unsigned char hugemap[] = {0xdf, 0xff, 0xff, 0xff, 0xff};
    s_expect(ASSAY_CMD_DISCONNECT, hugemap, sizeof(hugemap), ASSAY_ETRUNC,
             offsetof(assay_proto_stats_t, truncated));
    static const unsigned char hugestr[] = {0x81, 0xa3, 'w',  'h',  'y',
                                            0xdb, 0xff, 0xff, 0xff, 0xff};
    s_expect(ASSAY_CMD_DISCONNECT, hugestr, sizeof(hugestr), ASSAY_ETRUNC,
             offsetof(assay_proto_stats_t, truncated));
}

static uint64_t s_rand(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static void test_random_bytes(void **state)
{
    (void)state;
    uint64_t seed = 0x9e3779b97f4a7c15u;
    assay_proto_stats_t st = {0};
    size_t n = 0;
    /* pure noise, then valid bodies with a few bytes changed */
    for (int i = 0; i < 20000; i++, n++) {
        size_t len = s_rand(&seed) % 48;
        unsigned char *body = assay_malloc(len);
        for (size_t j = 0; j < len; j++)
            body[j] = (unsigned char)s_rand(&seed);
        if (len && (i & 1)) body[0] = (unsigned char)(0x80 | (body[0] & 0x0f)); /* a fixmap */
        assay_msg_t d;
        int cmd = 1 + (int)(s_rand(&seed) % ASSAY_CMD__MAX);
        int rc = s_decode_body(cmd, body, len, &d, &st);
        assert_true(rc == 0 || rc == ASSAY_EPROTO || rc == ASSAY_ETRUNC);
        assay_msg_release(&d);
        free(body);
    }
    for (int i = 0; i < 20000; i++, n++) {
        int cmd = 1 + (int)(s_rand(&seed) % ASSAY_CMD__MAX);
        assay_msg_t m, d;
        enc_t e;
        s_sample(cmd, (int)(s_rand(&seed) & 1), &m);
        s_encode(&m, &e);
        for (int k = 0; k < 3; k++)
            e.body[s_rand(&seed) % e.len] = (char)s_rand(&seed);
        int rc = s_decode_body(cmd, e.body, e.len, &d, &st);
        assert_true(rc == 0 || rc == ASSAY_EPROTO || rc == ASSAY_ETRUNC);
        if (rc == 0) { /* whatever decodes re-encodes to something that decodes the same */
            enc_t e2;
            assay_msg_t d2;
            s_encode(&d, &e2);
            assert_int_equal(s_decode_body(cmd, e2.body, e2.len, &d2, NULL), 0);
            assert_true(assay_msg_equal(&d, &d2));
            assay_msg_release(&d2);
            free(e2.body);
        }
        assay_msg_release(&d);
        free(e.body);
    }
    assert_int_equal(s_total(&st), n);
    assert_true(st.malformed > 0 && st.truncated > 0 && st.ok > 0);
}

/* ---- transport ---- */

static void s_send_raw(void *sock, const char *const parts[], const size_t lens[], size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_true(zmq_send(sock, parts[i], lens[i], i + 1 < n ? ZMQ_SNDMORE : 0) >= 0);
}

static void test_send_recv(void **state)
{
    (void)state;
    void *ctx = zmq_ctx_new();
    void *router = zmq_socket(ctx, ZMQ_ROUTER);
    void *dealer = zmq_socket(ctx, ZMQ_DEALER);
    assert_int_equal(zmq_bind(router, "inproc://test-proto"), 0);
    assert_int_equal(zmq_setsockopt(dealer, ZMQ_ROUTING_ID, "w1", 2), 0);
    assert_int_equal(zmq_connect(dealer, "inproc://test-proto"), 0);
    int timeout = 2000;
    zmq_setsockopt(router, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
    zmq_setsockopt(dealer, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));

    assay_proto_stats_t st = {0};
    assay_msg_t m, d;
    char id[256];
    size_t idlen = sizeof(id);

    /* nothing waiting */
    assert_int_equal(assay_proto_recv(router, id, &idlen, &d, &st, ZMQ_DONTWAIT), ASSAY_EAGAIN);

    /* worker -> broker */
    s_sample(ASSAY_CMD_READY, 1, &m);
    assert_int_equal(assay_proto_send(dealer, NULL, 0, &m, 0), 0);
    assert_int_equal(assay_proto_recv(router, id, &idlen, &d, &st, 0), 0);
    assert_int_equal(idlen, 2);
    assert_memory_equal(id, "w1", 2);
    assert_true(assay_msg_equal(&m, &d));
    assay_msg_release(&d);

    /* broker -> worker, addressed by identity */
    s_sample(ASSAY_CMD_TASK, 1, &m);
    assert_int_equal(assay_proto_send(router, id, idlen, &m, ZMQ_DONTWAIT), 0);
    assert_int_equal(assay_proto_recv(dealer, NULL, NULL, &d, &st, 0), 0);
    assert_true(assay_msg_equal(&m, &d));
    assay_msg_release(&d);
    assert_int_equal(st.ok, 2);

    /* bad messages are drained whole and counted; the identity still comes back */
    const char *two[] = {"ASY\x01", "\x06"};
    size_t twolen[] = {4, 1};
    s_send_raw(dealer, two, twolen, 2);
    const char *five[] = {"ASY\x01", "\x06", "\x81\xa1n\x00", "x", "y"};
    size_t fivelen[] = {4, 1, 4, 1, 1};
    s_send_raw(dealer, five, fivelen, 5);
    const char *v2[] = {"ASY\x02", "\x06", "\x81\xa1n\x00"};
    size_t v2len[] = {4, 1, 4};
    s_send_raw(dealer, v2, v2len, 3);
    const char *cut[] = {"ASY\x01", "\x06", "\x81\xa1n"};
    size_t cutlen[] = {4, 1, 3};
    s_send_raw(dealer, cut, cutlen, 3);
    const char *empty[] = {""};
    size_t emptylen[] = {0};
    s_send_raw(dealer, empty, emptylen, 1);

    idlen = sizeof(id);
    memset(id, 0, sizeof(id));
    assert_int_equal(assay_proto_recv(router, id, &idlen, &d, &st, 0), ASSAY_EPROTO);
    assert_int_equal(idlen, 2);
    assert_memory_equal(id, "w1", 2);
    assert_int_equal(st.bad_frames, 1);
    idlen = sizeof(id);
    assert_int_equal(assay_proto_recv(router, id, &idlen, &d, &st, 0), ASSAY_EPROTO);
    assert_int_equal(st.bad_frames, 2);
    idlen = sizeof(id);
    assert_int_equal(assay_proto_recv(router, id, &idlen, &d, &st, 0), ASSAY_EVERSION);
    assert_int_equal(st.bad_version, 1);
    idlen = sizeof(id);
    assert_int_equal(assay_proto_recv(router, id, &idlen, &d, &st, 0), ASSAY_ETRUNC);
    assert_int_equal(st.truncated, 1);
    idlen = sizeof(id);
    assert_int_equal(assay_proto_recv(router, id, &idlen, &d, &st, 0), ASSAY_EPROTO);
    assert_int_equal(st.bad_frames, 3);

    /* the raw HEARTBEAT body above is valid when whole */
    const char *hb[] = {"ASY\x01", "\x06", "\x81\xa1n\x05"};
    size_t hblen[] = {4, 1, 4};
    s_send_raw(dealer, hb, hblen, 3);
    idlen = sizeof(id);
    assert_int_equal(assay_proto_recv(router, id, &idlen, &d, &st, 0), 0);
    assert_int_equal(d.cmd, ASSAY_CMD_HEARTBEAT);
    assert_int_equal(d.u.heartbeat.inflight, 5);

    /* an identity buffer too small: message consumed, length reported */
    s_send_raw(dealer, hb, hblen, 3);
    s_send_raw(dealer, hb, hblen, 3);
    idlen = 1;
    assert_int_equal(assay_proto_recv(router, id, &idlen, &d, &st, 0), ASSAY_EINVAL);
    assert_int_equal(idlen, 2);
    idlen = sizeof(id);
    assert_int_equal(assay_proto_recv(router, id, &idlen, &d, &st, 0), 0);
    assert_int_equal(assay_proto_recv(router, id, &idlen, &d, &st, ZMQ_DONTWAIT), ASSAY_EAGAIN);
    assert_int_equal(st.ok, 4);
    assert_int_equal(s_total(&st), 9);

    /* an invalid message is refused before anything is sent */
    s_sample(ASSAY_CMD_WELCOME, 1, &m);
    m.u.welcome.broker = NULL;
    assert_int_equal(assay_proto_send(router, id, idlen, &m, 0), ASSAY_EINVAL);
    assert_int_equal(assay_proto_recv(dealer, NULL, NULL, &d, &st, ZMQ_DONTWAIT), ASSAY_EAGAIN);

    zmq_close(dealer);
    zmq_close(router);
    zmq_ctx_term(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),         cmocka_unit_test(test_decoded_fields),
        cmocka_unit_test(test_worked_example),     cmocka_unit_test(test_bad_frames),
        cmocka_unit_test(test_oversized),          cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_trailing),           cmocka_unit_test(test_missing_and_wrong_types),
        cmocka_unit_test(test_string_rules),       cmocka_unit_test(test_slots),
        cmocka_unit_test(test_forward_compatible), cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_send_recv),          cmocka_unit_test(test_optional_zero_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
