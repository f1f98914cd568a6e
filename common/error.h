/*  error.h: the one table of assay error codes.
 *
 *  Functions return 0 on success or a negative ASSAY_E* code. The table below
 *  generates the enum, assay_strerror() and assay_err_name() so they never drift.
 */
#ifndef ASSAY_ERROR_H
#define ASSAY_ERROR_H

#define ASSAY_ERRNO_MAP(X)                                                                        \
    X(INVAL, "invalid argument")                                                                  \
    X(PROTO, "malformed protocol message")                                                        \
    X(VERSION, "unsupported protocol version")                                                    \
    X(TOOBIG, "message too large")                                                                \
    X(TRUNC, "truncated message")                                                                 \
    X(IO, "input/output error")                                                                   \
    X(DB, "database error")                                                                       \
    X(HTTP, "HTTP error")                                                                         \
    X(TIMEOUT, "timed out")                                                                       \
    X(NOTFOUND, "not found")                                                                      \
    X(PARSE, "parse error")                                                                       \
    X(CONFIG, "configuration error")                                                              \
    X(STATE, "operation not allowed in the current state")                                        \
    X(AGAIN, "resource temporarily unavailable")                                                  \
    X(UNSUPPORTED, "not supported")

enum {
    ASSAY_OK = 0,
#define X(name, msg) ASSAY_E_##name##_IDX,
    ASSAY_E__BASE = 0,
    ASSAY_ERRNO_MAP(X)
#undef X
};

enum {
#define X(name, msg) ASSAY_E##name = -ASSAY_E_##name##_IDX,
    ASSAY_ERRNO_MAP(X)
#undef X
};

/* human-readable message for an error code ("unknown error" for anything else) */
const char *assay_strerror(int err);
/* the code's symbolic name, e.g. "EPROTO" */
const char *assay_err_name(int err);

#endif
