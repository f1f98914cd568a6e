/*  proto.c: encoding, decoding and ZeroMQ transport of broker <-> worker messages.
 *
 *  The body keys of every command live in one table per command (s_fields_*); the
 *  encoder, the decoder, assay_msg_release() and assay_msg_equal() all walk the same
 *  tables, so they cannot drift apart. common/PROTOCOL.md documents the same keys.
 *
 *  Encoding uses the msgpack-c packer. Decoding uses a small bounds-checked reader
 *  instead of msgpack-c's unpacker, for two reasons: msgpack-c allocates the
 *  storage of an array or map from its declared length before reading the
 *  elements, so a five-byte body declaring 2^32 elements asks for ~96 GB; and the
 *  object tree costs a zone allocation per message on a path that runs tens of
 *  thousands of times a second. The reader works on the frame in place and
 *  allocates only the decoded strings.
 */
#include "common/proto.h"

#include "common/error.h"
#include "common/util.h"

#include <errno.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* --------------------------------------------------------------------------
 * The body schema
 */

typedef enum {
    S_U32,    /* uint32_t; msgpack unsigned integer */
    S_U64,    /* uint64_t; msgpack unsigned integer */
    S_BOOL,   /* uint8_t 0/1; msgpack bool */
    S_STR,    /* char *, NUL-terminated; msgpack str */
    S_TEXT,   /* char * + size_t length (len_off); msgpack str */
    S_OPTSTR, /* char * or NULL; msgpack str, nil or absent */
    S_SLOTS   /* assay_slot_t * + uint32_t count (len_off); msgpack map str -> uint */
} s_ftype_t;

enum {
    S_REQ = 1,      /* the key must be present */
    S_NONEMPTY = 2, /* the string must not be empty */
    S_OMIT0 = 4,    /* optional; the encoder leaves it out when it is 0 / false */
};

typedef struct {
    const char *key;
    uint8_t keylen;
    uint8_t type;
    uint8_t flags;
    uint32_t min;   /* S_U32: smallest allowed value */
    size_t off;     /* offset of the field in assay_msg_t */
    size_t len_off; /* S_TEXT, S_SLOTS: offset of the length / count */
} s_field_t;

/* one field per line reads as the schema */
/* clang-format off */
#define S_F(k, t, fl, mn, member)                                                                  \
    {k, (uint8_t)(sizeof(k) - 1), t, fl, mn, offsetof(assay_msg_t, u.member), 0}
#define S_FL(k, t, fl, member, lenmember)                                                          \
    {k, (uint8_t)(sizeof(k) - 1), t, fl, 0, offsetof(assay_msg_t, u.member),                      \
     offsetof(assay_msg_t, u.lenmember)}

static const s_field_t s_fields_ready[] = {
    S_F("v", S_U32, S_REQ, 1, ready.version),
    S_F("w", S_STR, S_REQ | S_NONEMPTY, 0, ready.worker),
    S_F("hb", S_U32, S_REQ, 1, ready.heartbeat_ms),
    S_FL("s", S_SLOTS, S_REQ, ready.slots, ready.nslots),
};
static const s_field_t s_fields_welcome[] = {
    S_F("hb", S_U32, S_REQ, 1, welcome.heartbeat_ms),
    S_F("l", S_U32, S_REQ, 1, welcome.liveness),
    S_F("b", S_STR, S_REQ | S_NONEMPTY, 0, welcome.broker),
    S_F("lg", S_U32, S_OMIT0, 0, welcome.lease_grace_ms),
};
static const s_field_t s_fields_task[] = {
    S_F("id", S_U64, S_REQ, 0, task.id),
    S_F("at", S_U32, S_REQ, 0, task.attempt),
    S_F("k", S_STR, S_REQ | S_NONEMPTY, 0, task.kind),
    S_FL("in", S_TEXT, S_REQ, task.input, task.input_len),
    S_FL("pa", S_TEXT, S_REQ, task.params, task.params_len),
    S_F("to", S_U32, S_REQ, 0, task.timeout_ms),
};
static const s_field_t s_fields_result[] = {
    S_F("id", S_U64, S_REQ, 0, result.id),
    S_F("at", S_U32, S_REQ, 0, result.attempt),
    S_FL("out", S_TEXT, S_REQ, result.output, result.output_len),
    S_F("us", S_U64, S_REQ, 0, result.elapsed_us),
};
static const s_field_t s_fields_fail[] = {
    S_F("id", S_U64, S_REQ, 0, fail.id),
    S_F("at", S_U32, S_REQ, 0, fail.attempt),
    S_F("rt", S_BOOL, S_REQ, 0, fail.retryable),
    S_F("why", S_STR, S_REQ, 0, fail.reason),
    S_F("ra", S_U32, 0, 0, fail.retry_after_ms),
    S_F("ep", S_OPTSTR, 0, 0, fail.endpoint),
    S_F("us", S_U64, S_REQ, 0, fail.elapsed_us),
    S_F("dr", S_BOOL, S_OMIT0, 0, fail.declined),
};
static const s_field_t s_fields_heartbeat[] = {
    S_F("n", S_U32, S_REQ, 0, heartbeat.inflight),
};
static const s_field_t s_fields_disconnect[] = {
    S_F("why", S_OPTSTR, 0, 0, disconnect.reason),
};

typedef struct {
    const char *name;
    const s_field_t *fields;
    size_t nfields;
} s_schema_t;

#define S_SCHEMA(name, f) {name, f, ASSAY_ARRAY_LEN(f)}
static const s_schema_t s_schemas[ASSAY_CMD__MAX + 1] = {
    [ASSAY_CMD_READY] = S_SCHEMA("READY", s_fields_ready),
    [ASSAY_CMD_WELCOME] = S_SCHEMA("WELCOME", s_fields_welcome),
    [ASSAY_CMD_TASK] = S_SCHEMA("TASK", s_fields_task),
    [ASSAY_CMD_RESULT] = S_SCHEMA("RESULT", s_fields_result),
    [ASSAY_CMD_FAIL] = S_SCHEMA("FAIL", s_fields_fail),
    [ASSAY_CMD_HEARTBEAT] = S_SCHEMA("HEARTBEAT", s_fields_heartbeat),
    [ASSAY_CMD_DISCONNECT] = S_SCHEMA("DISCONNECT", s_fields_disconnect),
};

/* clang-format on */

static const s_schema_t *s_schema(int cmd)
{
    if (cmd < 1 || cmd > ASSAY_CMD__MAX) return NULL;
    return &s_schemas[cmd];
}

const char *assay_cmd_name(int cmd)
{
    const s_schema_t *schema = s_schema(cmd);
    return schema ? schema->name : "?";
}

/* typed access to a field of the message through its table offset */
#define S_AT(msg, off, type) ((type *)((char *)(msg) + (off)))
#define S_CAT(msg, off, type) ((const type *)((const char *)(msg) + (off)))

/* true when s[0..len) holds no NUL and is valid UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF: the rules of assay_utf8_valid). This runs
 * over every string of every message, so ASCII runs, the common case in JSON
 * text, are checked eight bytes at a time and multibyte sequences inline. */
static bool s_text_valid(const char *s, size_t len)
{
    const uint64_t high = UINT64_C(0x8080808080808080), ones = UINT64_C(0x0101010101010101);
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        while ((size_t)(end - p) >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            if ((w & high) || ((w - ones) & ~w & high)) break; /* non-ASCII or a zero byte */
            p += 8;
        }
        if (p == end) break;
        unsigned c = p[0];
        size_t left = (size_t)(end - p);
        if (c < 0x80) {
            if (c == 0) return false;
            p++;
        } else if (c < 0xC2) { /* a continuation byte, or an overlong 2-byte form */
            return false;
        } else if (c < 0xE0) {
            if (left < 2 || (p[1] & 0xC0) != 0x80) return false;
            p += 2;
        } else if (c < 0xF0) {
            if (left < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return false;
            if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0)) return false;
            p += 3;
        } else if (c < 0xF5) {
            if (left < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
                return false;
            if ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90)) return false;
            p += 4;
        } else {
            return false;
        }
    }
    return true;
}

/* the effective length of an S_TEXT field: 0 means "use strlen" */
static size_t s_text_len(const char *s, size_t len)
{
    return len == 0 && s ? strlen(s) : len;
}

/* --------------------------------------------------------------------------
 * Encoding
 */

static int s_buf_write(void *data, const char *buf, size_t len)
{
    assay_buf_add(data, buf, len);
    return 0;
}

static void s_pack_str(msgpack_packer *pk, const char *s, size_t len)
{
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, s, len);
}

/* check one field of msg before encoding; adds its worst-case encoded size to
 * *size. Returns 0 or ASSAY_EINVAL / ASSAY_ETOOBIG. */
static int s_check_field(const assay_msg_t *msg, const s_field_t *f, size_t *size)
{
    *size += 1 + f->keylen + 9;
    switch (f->type) {
    case S_U32:
        if (*S_CAT(msg, f->off, uint32_t) < f->min) return ASSAY_EINVAL;
        return 0;
    case S_U64:
        return 0;
    case S_BOOL:
        return *S_CAT(msg, f->off, uint8_t) > 1 ? ASSAY_EINVAL : 0;
    case S_STR:
    case S_OPTSTR:
    case S_TEXT: {
        const char *s = *S_CAT(msg, f->off, char *);
        if (!s) return f->type == S_OPTSTR ? 0 : ASSAY_EINVAL;
        size_t len = f->type == S_TEXT ? s_text_len(s, *S_CAT(msg, f->len_off, size_t)) : strlen(s);
        if (len > ASSAY_PROTO_MAX_BODY) return ASSAY_ETOOBIG;
        if ((f->flags & S_NONEMPTY) && len == 0) return ASSAY_EINVAL;
        if (!s_text_valid(s, len)) return ASSAY_EINVAL;
        *size += len;
        return 0;
    }
    case S_SLOTS: {
        const assay_slot_t *slots = *S_CAT(msg, f->off, assay_slot_t *);
        uint32_t n = *S_CAT(msg, f->len_off, uint32_t);
        if (n > ASSAY_PROTO_MAX_KINDS || (n > 0 && !slots)) return ASSAY_EINVAL;
        for (uint32_t i = 0; i < n; i++) {
            const char *kind = slots[i].kind;
            if (!kind || slots[i].slots == 0) return ASSAY_EINVAL;
            size_t len = strlen(kind);
            if (len == 0 || len > ASSAY_PROTO_MAX_BODY || !s_text_valid(kind, len))
                return ASSAY_EINVAL;
            for (uint32_t j = 0; j < i; j++)
                if (strcmp(slots[j].kind, kind) == 0) return ASSAY_EINVAL;
            *size += len + 5 + 5;
        }
        return 0;
    }
    }
    return ASSAY_EINVAL;
}

/* true when the encoder writes this field (optional strings are left out when NULL) */
static bool s_field_present(const assay_msg_t *msg, const s_field_t *f)
{
    if (f->type == S_OPTSTR) return *S_CAT(msg, f->off, char *) != NULL;
    if (f->flags & S_OMIT0) {
        if (f->type == S_BOOL) return *S_CAT(msg, f->off, uint8_t) != 0;
        if (f->type == S_U32) return *S_CAT(msg, f->off, uint32_t) != 0;
    }
    return true;
}

static void s_pack_field(msgpack_packer *pk, const assay_msg_t *msg, const s_field_t *f)
{
    s_pack_str(pk, f->key, f->keylen);
    switch (f->type) {
    case S_U32:
        msgpack_pack_uint32(pk, *S_CAT(msg, f->off, uint32_t));
        break;
    case S_U64:
        msgpack_pack_uint64(pk, *S_CAT(msg, f->off, uint64_t));
        break;
    case S_BOOL:
        if (*S_CAT(msg, f->off, uint8_t))
            msgpack_pack_true(pk);
        else
            msgpack_pack_false(pk);
        break;
    case S_STR:
    case S_OPTSTR: {
        const char *s = *S_CAT(msg, f->off, char *);
        s_pack_str(pk, s, strlen(s));
        break;
    }
    case S_TEXT: {
        const char *s = *S_CAT(msg, f->off, char *);
        s_pack_str(pk, s, s_text_len(s, *S_CAT(msg, f->len_off, size_t)));
        break;
    }
    case S_SLOTS: {
        const assay_slot_t *slots = *S_CAT(msg, f->off, assay_slot_t *);
        uint32_t n = *S_CAT(msg, f->len_off, uint32_t);
        msgpack_pack_map(pk, n);
        for (uint32_t i = 0; i < n; i++) {
            s_pack_str(pk, slots[i].kind, strlen(slots[i].kind));
            msgpack_pack_uint32(pk, slots[i].slots);
        }
        break;
    }
    }
}

int assay_proto_encode(const assay_msg_t *msg, unsigned char tag[4], unsigned char cmd[1],
                       char **body, size_t *body_len)
{
    if (!msg || !tag || !cmd || !body || !body_len) return ASSAY_EINVAL;
    const s_schema_t *schema = s_schema((int)msg->cmd);
    if (!schema) return ASSAY_EINVAL;

    /* READY's version 0 stands for "the version this library speaks" */
    assay_msg_t fixed;
    if (msg->cmd == ASSAY_CMD_READY && msg->u.ready.version == 0) {
        fixed = *msg;
        fixed.u.ready.version = ASSAY_PROTO_VERSION;
        msg = &fixed;
    }

    size_t size = 5, present = 0;
    for (size_t i = 0; i < schema->nfields; i++) {
        int rc = s_check_field(msg, &schema->fields[i], &size);
        if (rc) return rc;
        if (s_field_present(msg, &schema->fields[i])) present++;
    }
    if (size > ASSAY_PROTO_MAX_BODY + (size_t)1024) return ASSAY_ETOOBIG;

    assay_buf_t b = ASSAY_BUF_INIT;
    assay_buf_grow(&b, size);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &b, s_buf_write);
    msgpack_pack_map(&pk, present);
    for (size_t i = 0; i < schema->nfields; i++)
        if (s_field_present(msg, &schema->fields[i])) s_pack_field(&pk, msg, &schema->fields[i]);
    if (b.len > ASSAY_PROTO_MAX_BODY) {
        assay_buf_release(&b);
        return ASSAY_ETOOBIG;
    }
    tag[0] = 'A';
    tag[1] = 'S';
    tag[2] = 'Y';
    tag[3] = ASSAY_PROTO_VERSION;
    cmd[0] = (unsigned char)msg->cmd;
    *body = assay_buf_detach(&b, body_len);
    return 0;
}

/* --------------------------------------------------------------------------
 * Decoding: a bounds-checked msgpack reader over one frame. Every function
 * returns 0, ASSAY_ETRUNC when the input ends inside the object, or
 * ASSAY_EPROTO when the object is not what the schema expects.
 */

typedef struct {
    const unsigned char *p;
    const unsigned char *end;
} s_reader_t;

static size_t s_left(const s_reader_t *r)
{
    return (size_t)(r->end - r->p);
}

static uint64_t s_be(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* reads a 1-byte type, then an n-byte big-endian length or value */
static int s_read_be(s_reader_t *r, size_t n, uint64_t *out)
{
    if (s_left(r) < 1 + n) return ASSAY_ETRUNC;
    *out = s_be(r->p + 1, n);
    r->p += 1 + n;
    return 0;
}

/* a non-negative integer in any msgpack integer format */
static int s_read_uint(s_reader_t *r, uint64_t *out)
{
    if (s_left(r) == 0) return ASSAY_ETRUNC;
    unsigned c = *r->p;
    if (c <= 0x7f) {
        *out = c;
        r->p++;
        return 0;
    }
    size_t n;
    bool is_signed = false;
    /* clang-format off */
    switch (c) {
    case 0xcc: n = 1; break;
    case 0xcd: n = 2; break;
    case 0xce: n = 4; break;
    case 0xcf: n = 8; break;
    case 0xd0: n = 1; is_signed = true; break;
    case 0xd1: n = 2; is_signed = true; break;
    case 0xd2: n = 4; is_signed = true; break;
    case 0xd3: n = 8; is_signed = true; break;
    default: return ASSAY_EPROTO;
    }
    /* clang-format on */
    if (s_left(r) < 1 + n) return ASSAY_ETRUNC;
    if (is_signed && (r->p[1] & 0x80)) return ASSAY_EPROTO; /* negative */
    return s_read_be(r, n, out);
}

static int s_read_str(s_reader_t *r, const char **s, size_t *len)
{
    if (s_left(r) == 0) return ASSAY_ETRUNC;
    unsigned c = *r->p;
    uint64_t n;
    int rc;
    if (c >= 0xa0 && c <= 0xbf) {
        n = c & 0x1f;
        r->p++;
    } else if (c >= 0xd9 && c <= 0xdb) {
        if ((rc = s_read_be(r, (size_t)1 << (c - 0xd9), &n))) return rc;
    } else {
        return ASSAY_EPROTO;
    }
    if (s_left(r) < n) return ASSAY_ETRUNC;
    *s = (const char *)r->p;
    *len = (size_t)n;
    r->p += n;
    return 0;
}

static int s_read_map(s_reader_t *r, uint64_t *n)
{
    if (s_left(r) == 0) return ASSAY_ETRUNC;
    unsigned c = *r->p;
    if (c >= 0x80 && c <= 0x8f) {
        *n = c & 0x0f;
        r->p++;
        return 0;
    }
    if (c == 0xde) return s_read_be(r, 2, n);
    if (c == 0xdf) return s_read_be(r, 4, n);
    return ASSAY_EPROTO;
}

/* skips one object of any type (the value of an unknown key); iterative, so
 * deep nesting cannot exhaust the stack */
static int s_skip(s_reader_t *r)
{
    uint64_t pending = 1;
    while (pending > 0) {
        if (s_left(r) == 0) return ASSAY_ETRUNC;
        unsigned c = *r->p;
        size_t lenbytes = 0; /* bytes of length after the type byte */
        uint64_t fixed = 0;  /* bytes of payload after the header */
        int what = 0;        /* how the length counts: 1 bytes, 2 ext, 3 items, 4 pairs */
        if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
            /* positive / negative fixint, nil, bool */
        } else if (c <= 0x8f) {
            pending += 2u * (c & 0x0f);
        } else if (c <= 0x9f) {
            pending += c & 0x0f;
        } else if (c <= 0xbf) {
            fixed = c & 0x1f;
        } else {
            /* clang-format off */
            switch (c) {
            case 0xc4: case 0xd9: lenbytes = 1; what = 1; break;
            case 0xc5: case 0xda: lenbytes = 2; what = 1; break;
            case 0xc6: case 0xdb: lenbytes = 4; what = 1; break;
            case 0xc7: lenbytes = 1; what = 2; break;
            case 0xc8: lenbytes = 2; what = 2; break;
            case 0xc9: lenbytes = 4; what = 2; break;
            case 0xca: fixed = 4; break;
            case 0xcb: fixed = 8; break;
            case 0xcc: case 0xd0: fixed = 1; break;
            case 0xcd: case 0xd1: fixed = 2; break;
            case 0xce: case 0xd2: fixed = 4; break;
            case 0xcf: case 0xd3: fixed = 8; break;
            case 0xd4: fixed = 2; break; /* fixext: type byte + data */
            case 0xd5: fixed = 3; break;
            case 0xd6: fixed = 5; break;
            case 0xd7: fixed = 9; break;
            case 0xd8: fixed = 17; break;
            case 0xdc: lenbytes = 2; what = 3; break;
            case 0xdd: lenbytes = 4; what = 3; break;
            case 0xde: lenbytes = 2; what = 4; break;
            case 0xdf: lenbytes = 4; what = 4; break;
            default: return ASSAY_EPROTO; /* 0xc1 is never used */
            }
        }
        uint64_t n = 0;
        if (lenbytes) {
            int rc = s_read_be(r, lenbytes, &n);
            if (rc) return rc;
        } else {
            r->p++;
        }
        switch (what) {
        case 1: fixed = n; break;
        case 2: fixed = n + 1; break;
        case 3: pending += n; break;
        case 4: pending += 2 * n; break;
        default: break;
        }
        /* clang-format on */
        if (s_left(r) < fixed) return ASSAY_ETRUNC;
        r->p += fixed;
        pending--;
        /* every pending object needs at least one more byte */
        if (pending > s_left(r)) return ASSAY_ETRUNC;
    }
    return 0;
}

static char *s_copy(const char *s, size_t len)
{
    char *copy = assay_malloc(len + 1);
    memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

/* reads a str into a new NUL-terminated copy, checking the schema's rules */
static int s_read_text(s_reader_t *r, const s_field_t *f, char **out, size_t *out_len)
{
    const char *s;
    size_t len;
    int rc = s_read_str(r, &s, &len);
    if (rc) return rc;
    if ((f->flags & S_NONEMPTY) && len == 0) return ASSAY_EPROTO;
    if (!s_text_valid(s, len)) return ASSAY_EPROTO;
    *out = s_copy(s, len);
    if (out_len) *out_len = len;
    return 0;
}

static int s_read_slots(s_reader_t *r, assay_msg_t *msg, const s_field_t *f)
{
    uint64_t n;
    int rc = s_read_map(r, &n);
    if (rc) return rc;
    if (n > ASSAY_PROTO_MAX_KINDS) return ASSAY_EPROTO;
    assay_slot_t *slots = assay_calloc(n ? (size_t)n : 1, sizeof(*slots));
    uint32_t *count = S_AT(msg, f->len_off, uint32_t);
    *S_AT(msg, f->off, assay_slot_t *) = slots;
    *count = 0;
    for (uint32_t i = 0; i < n; i++) {
        const char *kind;
        size_t len;
        uint64_t v;
        if ((rc = s_read_str(r, &kind, &len))) return rc;
        if (len == 0 || !s_text_valid(kind, len)) return ASSAY_EPROTO;
        for (uint32_t j = 0; j < i; j++)
            if (strlen(slots[j].kind) == len && memcmp(slots[j].kind, kind, len) == 0)
                return ASSAY_EPROTO; /* the same kind twice */
        slots[i].kind = s_copy(kind, len);
        *count = i + 1; /* from here on assay_msg_release() frees the copy */
        if ((rc = s_read_uint(r, &v))) return rc;
        if (v == 0 || v > UINT32_MAX) return ASSAY_EPROTO;
        slots[i].slots = (uint32_t)v;
    }
    return 0;
}

static int s_read_field(s_reader_t *r, assay_msg_t *msg, const s_field_t *f)
{
    uint64_t v;
    int rc;
    switch (f->type) {
    case S_U32:
        if ((rc = s_read_uint(r, &v))) return rc;
        if (v > UINT32_MAX || v < f->min) return ASSAY_EPROTO;
        *S_AT(msg, f->off, uint32_t) = (uint32_t)v;
        return 0;
    case S_U64:
        if ((rc = s_read_uint(r, &v))) return rc;
        *S_AT(msg, f->off, uint64_t) = v;
        return 0;
    case S_BOOL:
        if (s_left(r) == 0) return ASSAY_ETRUNC;
        if (*r->p != 0xc2 && *r->p != 0xc3) return ASSAY_EPROTO;
        *S_AT(msg, f->off, uint8_t) = *r->p == 0xc3;
        r->p++;
        return 0;
    case S_OPTSTR:
        if (s_left(r) > 0 && *r->p == 0xc0) { /* nil: same as absent */
            r->p++;
            return 0;
        }
        return s_read_text(r, f, S_AT(msg, f->off, char *), NULL);
    case S_STR:
        return s_read_text(r, f, S_AT(msg, f->off, char *), NULL);
    case S_TEXT:
        return s_read_text(r, f, S_AT(msg, f->off, char *), S_AT(msg, f->len_off, size_t));
    case S_SLOTS:
        return s_read_slots(r, msg, f);
    }
    return ASSAY_EPROTO;
}

static int s_decode_body(const s_schema_t *schema, const unsigned char *body, size_t len,
                         assay_msg_t *msg)
{
    s_reader_t r = {body, body + len};
    uint64_t npairs;
    uint32_t seen = 0;
    int rc = s_read_map(&r, &npairs);
    if (rc) return rc;
    for (uint64_t i = 0; i < npairs; i++) {
        const char *key;
        size_t keylen;
        if ((rc = s_read_str(&r, &key, &keylen))) return rc;
        const s_field_t *f = NULL;
        size_t fi;
        for (fi = 0; fi < schema->nfields; fi++) {
            if (schema->fields[fi].keylen == keylen &&
                memcmp(schema->fields[fi].key, key, keylen) == 0) {
                f = &schema->fields[fi];
                break;
            }
        }
        if (!f) { /* unknown key: a newer peer's addition */
            if ((rc = s_skip(&r))) return rc;
            continue;
        }
        if (seen & (1u << fi)) return ASSAY_EPROTO; /* the same key twice */
        seen |= 1u << fi;
        if ((rc = s_read_field(&r, msg, f))) return rc;
    }
    if (r.p != r.end) return ASSAY_EPROTO; /* bytes after the map */
    for (size_t fi = 0; fi < schema->nfields; fi++)
        if ((schema->fields[fi].flags & S_REQ) && !(seen & (1u << fi))) return ASSAY_EPROTO;
    return 0;
}

int assay_proto_decode(const void *const frames[], const size_t sizes[], size_t nframes,
                       assay_msg_t *msg, assay_proto_stats_t *stats)
{
    assay_proto_stats_t ignored;
    if (!stats) stats = &ignored;
    if (!msg) return ASSAY_EINVAL;
    memset(msg, 0, sizeof(*msg));
    if (nframes != 3) {
        stats->bad_frames++;
        return ASSAY_EPROTO;
    }
    if (!frames || !sizes) return ASSAY_EINVAL;
    const unsigned char *tag = frames[0], *cmd = frames[1];
    if (sizes[0] != 4 || !tag || memcmp(tag, "ASY", 3) != 0) {
        stats->bad_tag++;
        return ASSAY_EPROTO;
    }
    if (tag[3] != ASSAY_PROTO_VERSION) {
        stats->bad_version++;
        return ASSAY_EVERSION;
    }
    const s_schema_t *schema = sizes[1] == 1 && cmd ? s_schema(cmd[0]) : NULL;
    if (!schema) {
        stats->bad_command++;
        return ASSAY_EPROTO;
    }
    if (sizes[2] > ASSAY_PROTO_MAX_BODY) {
        stats->oversized++;
        return ASSAY_ETOOBIG;
    }
    if (!frames[2] && sizes[2] > 0) return ASSAY_EINVAL;
    msg->cmd = (assay_cmd_t)cmd[0];
    int rc = s_decode_body(schema, frames[2] ? frames[2] : "", sizes[2], msg);
    if (rc) {
        assay_msg_release(msg);
        if (rc == ASSAY_ETRUNC)
            stats->truncated++;
        else
            stats->malformed++;
        return rc;
    }
    stats->ok++;
    return 0;
}

void assay_msg_release(assay_msg_t *msg)
{
    if (!msg) return;
    const s_schema_t *schema = s_schema((int)msg->cmd);
    for (size_t i = 0; schema && i < schema->nfields; i++) {
        const s_field_t *f = &schema->fields[i];
        if (f->type == S_STR || f->type == S_TEXT || f->type == S_OPTSTR) {
            free(*S_AT(msg, f->off, char *));
        } else if (f->type == S_SLOTS) {
            assay_slot_t *slots = *S_AT(msg, f->off, assay_slot_t *);
            uint32_t n = *S_AT(msg, f->len_off, uint32_t);
            for (uint32_t j = 0; slots && j < n; j++)
                free(slots[j].kind);
            free(slots);
        }
    }
    memset(msg, 0, sizeof(*msg));
}

static bool s_str_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    if (!a || !b) return a == b;
    return alen == blen && memcmp(a, b, alen) == 0;
}

int assay_msg_equal(const assay_msg_t *a, const assay_msg_t *b)
{
    if (!a || !b || a->cmd != b->cmd) return 0;
    const s_schema_t *schema = s_schema((int)a->cmd);
    if (!schema) return 0;
    for (size_t i = 0; i < schema->nfields; i++) {
        const s_field_t *f = &schema->fields[i];
        switch (f->type) {
        case S_U32:
            if (*S_CAT(a, f->off, uint32_t) != *S_CAT(b, f->off, uint32_t)) return 0;
            break;
        case S_U64:
            if (*S_CAT(a, f->off, uint64_t) != *S_CAT(b, f->off, uint64_t)) return 0;
            break;
        case S_BOOL:
            if (*S_CAT(a, f->off, uint8_t) != *S_CAT(b, f->off, uint8_t)) return 0;
            break;
        case S_STR:
        case S_OPTSTR: {
            const char *x = *S_CAT(a, f->off, char *), *y = *S_CAT(b, f->off, char *);
            if (!s_str_equal(x, x ? strlen(x) : 0, y, y ? strlen(y) : 0)) return 0;
            break;
        }
        case S_TEXT: {
            const char *x = *S_CAT(a, f->off, char *), *y = *S_CAT(b, f->off, char *);
            size_t xl = s_text_len(x, *S_CAT(a, f->len_off, size_t));
            size_t yl = s_text_len(y, *S_CAT(b, f->len_off, size_t));
            if (!s_str_equal(x, xl, y, yl)) return 0;
            break;
        }
        case S_SLOTS: {
            const assay_slot_t *x = *S_CAT(a, f->off, assay_slot_t *);
            const assay_slot_t *y = *S_CAT(b, f->off, assay_slot_t *);
            uint32_t n = *S_CAT(a, f->len_off, uint32_t);
            if (n != *S_CAT(b, f->len_off, uint32_t)) return 0;
            for (uint32_t j = 0; j < n; j++) {
                if (x[j].slots != y[j].slots) return 0;
                if (!s_str_equal(x[j].kind, x[j].kind ? strlen(x[j].kind) : 0, y[j].kind,
                                 y[j].kind ? strlen(y[j].kind) : 0))
                    return 0;
            }
            break;
        }
        }
    }
    return 1;
}

/* --------------------------------------------------------------------------
 * ZeroMQ transport
 */

/* maps a failed zmq call on the first frame of a message; errno keeps zmq's code */
static int s_zmq_error(void)
{
    return errno == EAGAIN || errno == EINTR ? ASSAY_EAGAIN : ASSAY_EIO;
}

/* sends one frame; frames after the first are never refused for lack of room
 * (ZeroMQ admits a message whole), so EINTR there is retried */
static int s_send_frame(void *socket, const void *data, size_t len, int flags, bool first)
{
    for (;;) {
        if (zmq_send(socket, data, len, flags) >= 0) return 0;
        if (first) return s_zmq_error();
        if (errno != EINTR) return ASSAY_EIO;
    }
}

int assay_proto_send(void *socket, const void *identity, size_t identity_len,
                     const assay_msg_t *msg, int flags)
{
    if (!socket) return ASSAY_EINVAL;
    unsigned char tag[4], cmd[1];
    char *body;
    size_t body_len;
    int rc = assay_proto_encode(msg, tag, cmd, &body, &body_len);
    if (rc) return rc;
    flags &= ZMQ_DONTWAIT;
    bool first = true;
    if (identity) {
        rc = s_send_frame(socket, identity, identity_len, flags | ZMQ_SNDMORE, first);
        first = false;
    }
    if (!rc) rc = s_send_frame(socket, tag, sizeof(tag), flags | ZMQ_SNDMORE, first);
    if (!rc) rc = s_send_frame(socket, cmd, sizeof(cmd), flags | ZMQ_SNDMORE, false);
    if (!rc) rc = s_send_frame(socket, body, body_len, flags, false);
    int saved = errno;
    free(body);
    errno = saved;
    return rc;
}

/* receives one frame into m; see s_send_frame for the EINTR rule */
static int s_recv_frame(void *socket, zmq_msg_t *m, int flags, bool first)
{
    for (;;) {
        if (zmq_msg_recv(m, socket, first ? flags : 0) >= 0) return 0;
        if (first) return s_zmq_error();
        if (errno != EINTR) return ASSAY_EIO;
    }
}

int assay_proto_recv(void *socket, void *identity, size_t *identity_len, assay_msg_t *msg,
                     assay_proto_stats_t *stats, int flags)
{
    if (!socket || !msg || (identity && !identity_len)) return ASSAY_EINVAL;
    memset(msg, 0, sizeof(*msg));
    flags &= ZMQ_DONTWAIT;

    zmq_msg_t parts[4]; /* identity (ROUTER only), tag, command, body */
    zmq_msg_t extra;    /* frames beyond the expected ones, drained and counted */
    size_t nparts = 0, nframes = 0;
    bool first = true, more = true;
    int rc = 0;
    zmq_msg_init(&extra);

    if (identity) {
        zmq_msg_init(&parts[0]);
        nparts = 1;
        if ((rc = s_recv_frame(socket, &parts[0], flags, true))) goto out;
        first = false;
        more = zmq_msg_more(&parts[0]);
    }
    size_t base = nparts;
    while (more) {
        zmq_msg_t *m = &extra;
        if (nparts < ASSAY_ARRAY_LEN(parts)) {
            m = &parts[nparts++];
            zmq_msg_init(m);
        }
        if ((rc = s_recv_frame(socket, m, flags, first))) goto out;
        first = false;
        nframes++;
        more = zmq_msg_more(m);
    }

    if (identity) {
        size_t size = zmq_msg_size(&parts[0]);
        size_t cap = *identity_len;
        *identity_len = size;
        if (size > cap) {
            rc = ASSAY_EINVAL;
            goto out;
        }
        memcpy(identity, zmq_msg_data(&parts[0]), size);
    }
    if (nframes != 3) {
        rc = assay_proto_decode(NULL, NULL, nframes > 3 ? 4 : nframes, msg, stats);
        goto out;
    }
    const void *frames[3];
    size_t sizes[3];
    for (size_t i = 0; i < 3; i++) {
        frames[i] = zmq_msg_data(&parts[base + i]);
        sizes[i] = zmq_msg_size(&parts[base + i]);
    }
    rc = assay_proto_decode(frames, sizes, 3, msg, stats);

out:
    for (size_t i = 0; i < nparts; i++)
        zmq_msg_close(&parts[i]);
    zmq_msg_close(&extra);
    return rc;
}
