/*  endpoint.h: named model endpoints, read from configuration.
 *
 *  An endpoint is a `[endpoint.NAME]` section (every key can also come from the
 *  environment, e.g. ASSAY_ENDPOINT_SIM_BASE_URL):
 *
 *    base_url            e.g. https://api.example.com/v1 (required; /chat/completions
 *                        is appended)
 *    model               model name sent in requests (required)
 *    style               r1 | o3 | plain (default plain): how reasoning is requested
 *                        and returned (see llm.h)
 *    api_key_env         name of the environment variable holding the API key
 *    api_key_file        or a file whose first line is the key
 *    price_in_per_mtok   price per million prompt tokens (default 0)
 *    price_out_per_mtok  price per million completion tokens, reasoning included
 *    rpm, tpm            rate limits (enforced globally by the broker; 0 = none)
 *    max_concurrency     requests in flight from one worker process (default 64)
 *    supports_n          1 when one request may return n choices (default 0)
 *    stream              1 to request server-sent events (default 0)
 *    ca_file             CA bundle for this endpoint (default: http.ca_file / system)
 *    connect_timeout_ms, first_byte_timeout_ms, total_timeout_ms
 *                        (defaults 10000, 0 = none, 600000)
 *
 *  The API key is read when the endpoint is loaded and kept only in memory: it is
 *  never stored in the database, never logged, and assay_endpoint_redact() removes
 *  it from any text (error bodies echo headers at times) before that text goes
 *  anywhere.
 */
#ifndef ASSAY_ENDPOINT_H
#define ASSAY_ENDPOINT_H

#include "common/config.h"

#include <stddef.h>

typedef enum { ASSAY_STYLE_PLAIN = 0, ASSAY_STYLE_R1 = 1, ASSAY_STYLE_O3 = 2 } assay_llm_style_t;

typedef struct {
    char *name;
    char *base_url; /* without a trailing slash */
    char *url;      /* base_url + "/chat/completions" */
    char *model;
    assay_llm_style_t style;
    double price_in_per_mtok;
    double price_out_per_mtok;
    long rpm, tpm;
    long max_concurrency;
    int supports_n;
    int stream;
    char *ca_file; /* NULL = default trust store */
    long connect_timeout_ms, first_byte_timeout_ms, total_timeout_ms;
    char *api_key;     /* secret; NULL when the endpoint needs none */
    char *auth_header; /* "Authorization: Bearer ..." (secret) or NULL */
    int inflight;      /* requests in flight from this process (kept by llm.c) */
} assay_endpoint_t;

/* Load endpoint name from cfg. Returns a new endpoint, or NULL with the reason
 * in err (missing base_url or model, bad style, unreadable key file, unset key
 * variable). Free with assay_endpoint_destroy. */
assay_endpoint_t *assay_endpoint_load(const assay_config_t *cfg, const char *name, char *err,
                                      size_t errlen);
/* frees the endpoint (and scrubs the key) and nulls *self_p; safe on NULL */
void assay_endpoint_destroy(assay_endpoint_t **self_p);

/* copy text into out (at most outlen bytes incl. NUL) with the endpoint's API key
 * and any "Bearer xxx" token replaced by "[redacted]"; returns out */
char *assay_endpoint_redact(const assay_endpoint_t *self, const char *text, char *out,
                            size_t outlen);

/* "r1", "o3", "plain" */
const char *assay_llm_style_name(assay_llm_style_t style);
/* parse a style name; returns 0 or ASSAY_EINVAL */
int assay_llm_style_parse(const char *s, assay_llm_style_t *out);

/* A process-wide table of endpoints loaded on first use (one per name). */
typedef struct assay_endpoints assay_endpoints_t;
assay_endpoints_t *assay_endpoints_new(const assay_config_t *cfg);
void assay_endpoints_destroy(assay_endpoints_t **self_p);
/* the endpoint called name, loading it on first use; NULL with err on failure
 * (failures are not cached, so fixing the environment and retrying works) */
assay_endpoint_t *assay_endpoints_get(assay_endpoints_t *self, const char *name, char *err,
                                      size_t errlen);

#endif
