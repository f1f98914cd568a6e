/*  http.h: the HTTP client every model call goes through (wraps libcurl's multi
 *  interface; nothing else in assay includes curl.h).
 *
 *  One assay_http_t belongs to one event loop: it keeps hundreds of requests in
 *  flight on a single thread. The owner of the loop asks which sockets to watch
 *  (assay_http_pollfds) and how long it may sleep (assay_http_timeout_ms), polls,
 *  and hands the result back (assay_http_process), which runs curl's socket
 *  actions and timers and then calls the completion callbacks of finished
 *  requests. With hundreds of sockets, poll the one descriptor assay_http_fd()
 *  instead of the list: a pass then costs what the ready sockets cost. Connections are kept alive and reused; HTTP/2 is negotiated over TLS
 *  when the server offers it (requests to the same host then share a connection).
 *  TLS goes through OpenSSL with certificate verification always on: a request may
 *  name a CA file, never disable verification. Proxies come from the standard
 *  environment variables (http_proxy, https_proxy, HTTPS_PROXY, no_proxy), which
 *  libcurl reads itself, or from the config key http.proxy.
 *
 *  Config keys read by assay_http_new (all optional):
 *    http.max_connections   connection cache size (default 4096)
 *    http.max_host_connections  cap per host, 0 = unlimited (default 0)
 *    http.proxy             proxy URL overriding the environment
 *    http.ca_file           default CA bundle (else the system's)
 *    http.user_agent        (default "assay/VERSION")
 */
#ifndef ASSAY_HTTP_H
#define ASSAY_HTTP_H

#include "common/config.h"

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

typedef struct assay_http assay_http_t;

/* What a finished request yields. Valid only during the completion callback:
 * copy what you keep. */
typedef struct {
    uint64_t id;        /* the id assay_http_start returned */
    int err;            /* 0 when a response was received, else ASSAY_ETIMEOUT,
                           ASSAY_EHTTP (connect/TLS/protocol), ASSAY_ETOOBIG,
                           ASSAY_STATE (cancelled by assay_http_destroy) */
    const char *errmsg; /* transport error for people ("" when err == 0) */
    int timeout_kind;   /* with ASSAY_ETIMEOUT: 1 connect, 2 first byte, 3 total */
    long status;        /* HTTP status, 0 when none was received */
    const char *body;   /* response body, NUL-terminated (empty when streamed) */
    size_t body_len;
    int http_version;     /* 1 or 2 (0 when unknown) */
    double connect_ms;    /* time to TCP (+TLS) established */
    double first_byte_ms; /* time to the first response byte */
    double total_ms;      /* time to completion */
    int cert_error;       /* 1 when TLS certificate verification failed (or the CA
                             file could not be used): a configuration problem */
    const void *priv;     /* internal: header storage for assay_http_header */
} assay_http_response_t;

/* Called once per request that assay_http_start accepted, from inside
 * assay_http_process (or assay_http_destroy, with err = ASSAY_ESTATE). */
typedef void (*assay_http_done_fn)(const assay_http_response_t *resp, void *arg);
/* Optional streaming sink: called with body bytes as they arrive instead of
 * collecting them. Return 0 to go on, non-zero to abort the transfer (it then
 * completes with ASSAY_EHTTP and errmsg "aborted by receiver"). */
typedef int (*assay_http_data_fn)(const char *data, size_t len, void *arg);

typedef struct {
    const char *method; /* "GET", "POST" (default: POST with a body, else GET) */
    const char *url;    /* http:// or https:// */
    const char *body;   /* copied; may be NULL */
    size_t body_len;
    const char *const *headers; /* "Name: value" strings, NULL-terminated; copied */
    const char *ca_file;        /* CA bundle for this request (NULL = default) */
    long connect_timeout_ms;    /* 0 = 10 s */
    long first_byte_timeout_ms; /* 0 = none; time from start to first response byte */
    long total_timeout_ms;      /* 0 = none */
    size_t max_body;            /* 0 = 64 MiB; larger bodies fail with ASSAY_ETOOBIG */
    assay_http_data_fn on_data; /* optional streaming sink (see above) */
    assay_http_done_fn on_done; /* required */
    void *arg;                  /* passed to both callbacks */
} assay_http_request_t;

/* a client configured from cfg (may be NULL); never NULL */
assay_http_t *assay_http_new(const assay_config_t *cfg);
/* completes every request still in flight with ASSAY_ESTATE (callbacks run), then
 * runs every pending timer once, earliest first; meanwhile assay_http_start fails
 * with ASSAY_ESTATE and assay_http_after returns 0. Frees everything and nulls
 * *self_p; safe on NULL */
void assay_http_destroy(assay_http_t **self_p);

/* start a request. Returns 0 and the request id in *id (may be NULL), or a
 * negative code with nothing started (the callback is then never called):
 * ASSAY_EINVAL for a bad request, ASSAY_ESTATE while the client shuts down. */
int assay_http_start(assay_http_t *self, const assay_http_request_t *req, uint64_t *id);
/* abort a request in flight without calling its callback; returns 0 or
 * ASSAY_ENOTFOUND when it already finished */
int assay_http_cancel(assay_http_t *self, uint64_t id);

/* the sockets curl wants watched: fills fds (fd, events = POLLIN/POLLOUT) and
 * returns how many (at most max) */
int assay_http_pollfds(assay_http_t *self, struct pollfd *fds, int max);
/* Alternatively, one descriptor for all of them: an epoll set that polls readable
 * whenever any socket curl watches is ready. Put it in the loop's pollfd set with
 * events = POLLIN and pass it back to assay_http_process like the others; the
 * cost of a pass is then proportional to the ready sockets, not to all of them
 * (what keeps a thousand requests in flight cheap). */
int assay_http_fd(const assay_http_t *self);
/* milliseconds until curl needs a call even without socket activity; -1 = none */
long assay_http_timeout_ms(assay_http_t *self);
/* after poll(): pass back the same fds with revents; runs socket actions and
 * timeouts, then calls the completion callbacks of finished requests */
void assay_http_process(assay_http_t *self, const struct pollfd *fds, int n);
/* requests started and not yet completed */
int assay_http_inflight(const assay_http_t *self);
/* convenience loop for tools and tests: poll and process until nothing is in
 * flight or timeout_ms passes (-1 = no limit); returns the number in flight */
int assay_http_run(assay_http_t *self, long timeout_ms);

/* Timers on the same loop (delayed retries, backoff): fn(arg) runs from inside
 * assay_http_process once ms have passed; assay_http_timeout_ms accounts for them.
 * A pending timer counts as in flight for assay_http_run. Returns the timer id, or
 * 0 while the client shuts down (fn will not run). */
uint64_t assay_http_after(assay_http_t *self, long ms, void (*fn)(void *arg), void *arg);
/* drop a pending timer; returns 0 or ASSAY_ENOTFOUND when it already ran */
int assay_http_after_cancel(assay_http_t *self, uint64_t timer_id);

/* a response header by case-insensitive name (last one wins), or NULL */
const char *assay_http_header(const assay_http_response_t *resp, const char *name);

#endif
