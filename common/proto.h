/*  proto.h: the broker <-> worker wire protocol (ZeroMQ ROUTER/DEALER, msgpack bodies).
 *
 *  A message is three frames after the ROUTER identity:
 *      frame 1  tag + version: the 4 bytes 'A' 'S' 'Y' ASSAY_PROTO_VERSION
 *      frame 2  command: 1 byte (assay_cmd_t)
 *      frame 3  body: one msgpack map, at most ASSAY_PROTO_MAX_BODY bytes
 *  common/PROTOCOL.md is the normative description; keep both in step and bump
 *  ASSAY_PROTO_VERSION on any incompatible change.
 *
 *  The decoder never trusts its input: malformed, truncated, oversized or
 *  wrong-version messages return a negative code and bump a counter in
 *  assay_proto_stats_t; they never crash or abort.
 *
 *  Ownership: assay_proto_decode() fills an assay_msg_t whose strings and arrays
 *  are owned by the message; assay_msg_release() frees them. Encoders copy.
 */
#ifndef ASSAY_PROTO_H
#define ASSAY_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define ASSAY_PROTO_VERSION 1
#define ASSAY_PROTO_MAX_BODY (16u * 1024u * 1024u)
#define ASSAY_PROTO_MAX_KINDS 64

typedef enum {
    ASSAY_CMD_READY = 1,      /* W->B: I am here, these are my kinds and slots */
    ASSAY_CMD_WELCOME = 2,    /* B->W: accepted; negotiated heartbeat */
    ASSAY_CMD_TASK = 3,       /* B->W: run this task */
    ASSAY_CMD_RESULT = 4,     /* W->B: task finished with an output */
    ASSAY_CMD_FAIL = 5,       /* W->B: task failed (retryable or not) */
    ASSAY_CMD_HEARTBEAT = 6,  /* both ways: still alive */
    ASSAY_CMD_DISCONNECT = 7, /* both ways: going away (or: you are not welcome) */
    ASSAY_CMD__MAX = 7
} assay_cmd_t;

typedef struct {
    char *kind;     /* task kind, e.g. "generate" */
    uint32_t slots; /* how many of this kind the worker runs at once */
} assay_slot_t;

typedef struct {
    uint32_t version;      /* the worker's protocol version */
    char *worker;          /* worker name (host:pid or --name) */
    uint32_t heartbeat_ms; /* interval the worker proposes */
    assay_slot_t *slots;   /* nslots entries */
    uint32_t nslots;
} assay_msg_ready_t;

typedef struct {
    uint32_t heartbeat_ms; /* interval both sides use from now on */
    uint32_t liveness;     /* missed intervals before the peer counts as dead */
    char *broker;          /* broker instance id */
    uint32_t lease_grace_ms; /* an attempt expires to + this after its TASK; 0 = not told */
} assay_msg_welcome_t;

typedef struct {
    uint64_t id;        /* task id (tasks.id) */
    uint32_t attempt;   /* attempt number; (id, attempt) is the idempotency key */
    char *kind;         /* task kind */
    char *input;        /* JSON text: the item / record the task works on */
    size_t input_len;
    char *params;       /* JSON text: stage parameters */
    size_t params_len;
    uint32_t timeout_ms; /* how long the task may run before the worker gives up */
} assay_msg_task_t;

typedef struct {
    uint64_t id;
    uint32_t attempt;
    char *output;       /* JSON text: the handler's output object */
    size_t output_len;
    uint64_t elapsed_us; /* time spent in the handler */
} assay_msg_result_t;

typedef struct {
    uint64_t id;
    uint32_t attempt;
    uint8_t retryable;       /* 1 = try again later, 0 = permanent */
    char *reason;            /* what went wrong, for people (never contains secrets) */
    uint32_t retry_after_ms; /* 0 = let the broker's backoff decide */
    char *endpoint;          /* endpoint that pushed back (429), or NULL */
    uint64_t elapsed_us;
    uint8_t declined; /* 1 = the worker never started the attempt (draining, no slot,
                         kind not offered): handed back without counting an attempt */
} assay_msg_fail_t;

typedef struct {
    uint32_t inflight; /* tasks the sender currently runs (worker) or 0 */
} assay_msg_heartbeat_t;

typedef struct {
    char *reason; /* why the sender is leaving, or NULL */
} assay_msg_disconnect_t;

typedef struct {
    assay_cmd_t cmd;
    union {
        assay_msg_ready_t ready;
        assay_msg_welcome_t welcome;
        assay_msg_task_t task;
        assay_msg_result_t result;
        assay_msg_fail_t fail;
        assay_msg_heartbeat_t heartbeat;
        assay_msg_disconnect_t disconnect;
    } u;
} assay_msg_t;

/* counters of rejected input, by reason; owned by the caller, bumped by the decoder */
typedef struct {
    uint64_t ok;
    uint64_t bad_frames;  /* wrong number of frames */
    uint64_t bad_tag;     /* frame 1 is not "ASY" + version byte */
    uint64_t bad_version; /* tag right, version unsupported */
    uint64_t bad_command; /* unknown command byte */
    uint64_t oversized;   /* body larger than ASSAY_PROTO_MAX_BODY */
    uint64_t truncated;   /* body ends inside a msgpack object */
    uint64_t malformed;   /* body is msgpack but not the expected shape */
} assay_proto_stats_t;

/* decode a message from its frames (identity already removed).
 * Returns 0 and fills msg, or a negative ASSAY_E* code (EPROTO, EVERSION, ETOOBIG,
 * ETRUNC) and bumps the matching counter in stats (which may be NULL).
 * On error msg holds nothing that needs releasing. */
int assay_proto_decode(const void *const frames[], const size_t sizes[], size_t nframes,
                       assay_msg_t *msg, assay_proto_stats_t *stats);

/* encode msg into the three frames; *body is a new malloc'd buffer the caller frees.
 * tag must have room for 4 bytes; cmd for 1. Returns 0 or ASSAY_EINVAL/ETOOBIG.
 * The encoder applies the decoder's rules (EINVAL for a NULL required string, NUL or
 * invalid UTF-8 in a string, an out-of-range value, duplicate or too many kinds), so
 * whatever it produces decodes. A zero input_len/params_len/output_len means strlen();
 * a zero ready.version means ASSAY_PROTO_VERSION. */
int assay_proto_encode(const assay_msg_t *msg, unsigned char tag[4], unsigned char cmd[1],
                       char **body, size_t *body_len);

/* send msg on a ZeroMQ socket; for a ROUTER pass the peer's identity, else NULL/0.
 * Returns 0, or a negative code (ASSAY_EAGAIN when the socket would block with
 * ZMQ_DONTWAIT in flags or a signal interrupted the call, ASSAY_EIO otherwise, with
 * zmq_errno() telling why, e.g. EHOSTUNREACH for an unknown peer on a ROUTER with
 * ZMQ_ROUTER_MANDATORY), or an encode error. */
int assay_proto_send(void *socket, const void *identity, size_t identity_len,
                     const assay_msg_t *msg, int flags);

/* receive one message; for a ROUTER the identity is copied into identity
 * (*identity_len in: capacity, out: length), else pass NULL. All frames of the
 * message are consumed even when it is rejected, and the identity is filled for a
 * rejected message too (so the broker can answer DISCONNECT). Returns 0, ASSAY_EAGAIN
 * when nothing is waiting (ZMQ_DONTWAIT) or a signal interrupted the wait, ASSAY_EIO
 * on a socket error, ASSAY_EINVAL when the identity does not fit (*identity_len then
 * holds its length; the message was consumed), or a decode error (the message was
 * dropped and counted). */
int assay_proto_recv(void *socket, void *identity, size_t *identity_len, assay_msg_t *msg,
                     assay_proto_stats_t *stats, int flags);

/* free what a decoded message owns and zero it; safe to call twice */
void assay_msg_release(assay_msg_t *msg);

/* 1 when a and b carry the same command and field values (strings by content), else 0 */
int assay_msg_equal(const assay_msg_t *a, const assay_msg_t *b);

/* "READY", "TASK", ... or "?" */
const char *assay_cmd_name(int cmd);

#endif
