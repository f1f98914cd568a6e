/*  endpoint.c: named endpoints from configuration (see endpoint.h). */
#include "worker/llm/endpoint.h"

#include "common/error.h"
#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *assay_llm_style_name(assay_llm_style_t style)
{
    switch (style) {
    case ASSAY_STYLE_R1:
        return "r1";
    case ASSAY_STYLE_O3:
        return "o3";
    default:
        return "plain";
    }
}

int assay_llm_style_parse(const char *s, assay_llm_style_t *out)
{
    if (!s) return ASSAY_EINVAL;
    if (strcasecmp(s, "r1") == 0)
        *out = ASSAY_STYLE_R1;
    else if (strcasecmp(s, "o3") == 0)
        *out = ASSAY_STYLE_O3;
    else if (strcasecmp(s, "plain") == 0)
        *out = ASSAY_STYLE_PLAIN;
    else
        return ASSAY_EINVAL;
    return 0;
}

/* a numeric key, or def when absent; a present but malformed value is an error */
static int s_get_num(const assay_config_t *cfg, const char *name, const char *key, double def,
                     double min, double *out, char *err, size_t errlen)
{
    char full[256];
    snprintf(full, sizeof full, "endpoint.%s.%s", name, key);
    const char *v = assay_config_get(cfg, full, NULL);
    if (!v || !*v) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || *end || d < min) {
        snprintf(err, errlen,
                 "endpoint \"%s\": invalid value \"%s\" for %s (expected a number >= %g)", name, v,
                 key, min);
        return ASSAY_ECONFIG;
    }
    *out = d;
    return 0;
}

static const char *s_get(const assay_config_t *cfg, const char *name, const char *key)
{
    char full[256];
    snprintf(full, sizeof full, "endpoint.%s.%s", name, key);
    const char *v = assay_config_get(cfg, full, NULL);
    return v && *v ? v : NULL;
}

static int s_read_key_file(const char *name, const char *path, char **out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "endpoint \"%s\": could not open key file \"%s\": %s", name, path,
                 strerror(errno));
        return ASSAY_EIO;
    }
    char line[4096];
    if (!fgets(line, sizeof line, f)) line[0] = '\0';
    fclose(f);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
        n--;
    line[n] = '\0';
    if (n == 0) {
        snprintf(err, errlen, "endpoint \"%s\": key file \"%s\" is empty", name, path);
        return ASSAY_ECONFIG;
    }
    *out = assay_strdup(line);
    /* the stack copy held the secret too */
    memset(line, 0, sizeof line);
    return 0;
}

assay_endpoint_t *assay_endpoint_load(const assay_config_t *cfg, const char *name, char *err,
                                      size_t errlen)
{
    if (!name || !*name) {
        snprintf(err, errlen, "endpoint name is empty");
        return NULL;
    }
    const char *base = s_get(cfg, name, "base_url");
    const char *model = s_get(cfg, name, "model");
    if (!base) {
        snprintf(err, errlen, "endpoint \"%s\" has no base_url (set endpoint.%s.base_url)", name,
                 name);
        return NULL;
    }
    if (strncasecmp(base, "http://", 7) != 0 && strncasecmp(base, "https://", 8) != 0) {
        snprintf(err, errlen,
                 "endpoint \"%s\": base_url \"%s\" must start with http:// or https://", name,
                 base);
        return NULL;
    }
    if (!model) {
        snprintf(err, errlen, "endpoint \"%s\" has no model (set endpoint.%s.model)", name, name);
        return NULL;
    }
    assay_endpoint_t *ep = ASSAY_NEW(assay_endpoint_t);
    ep->name = assay_strdup(name);
    size_t blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    ep->base_url = assay_strndup(base, blen);
    ep->url = assay_sprintf("%s/chat/completions", ep->base_url);
    ep->model = assay_strdup(model);

    const char *style = s_get(cfg, name, "style");
    if (style && assay_llm_style_parse(style, &ep->style) != 0) {
        snprintf(err, errlen, "endpoint \"%s\": unknown style \"%s\" (expected r1, o3 or plain)",
                 name, style);
        goto fail;
    }
    double v;
    if (s_get_num(cfg, name, "price_in_per_mtok", 0, 0, &ep->price_in_per_mtok, err, errlen) ||
        s_get_num(cfg, name, "price_out_per_mtok", 0, 0, &ep->price_out_per_mtok, err, errlen))
        goto fail;
    if (s_get_num(cfg, name, "rpm", 0, 0, &v, err, errlen)) goto fail;
    ep->rpm = (long)v;
    if (s_get_num(cfg, name, "tpm", 0, 0, &v, err, errlen)) goto fail;
    ep->tpm = (long)v;
    if (s_get_num(cfg, name, "max_concurrency", 64, 1, &v, err, errlen)) goto fail;
    ep->max_concurrency = (long)v;
    if (s_get_num(cfg, name, "supports_n", 0, 0, &v, err, errlen)) goto fail;
    ep->supports_n = v != 0;
    if (s_get_num(cfg, name, "stream", 0, 0, &v, err, errlen)) goto fail;
    ep->stream = v != 0;
    if (s_get_num(cfg, name, "connect_timeout_ms", 10000, 1, &v, err, errlen)) goto fail;
    ep->connect_timeout_ms = (long)v;
    if (s_get_num(cfg, name, "first_byte_timeout_ms", 0, 0, &v, err, errlen)) goto fail;
    ep->first_byte_timeout_ms = (long)v;
    if (s_get_num(cfg, name, "total_timeout_ms", 600000, 0, &v, err, errlen)) goto fail;
    ep->total_timeout_ms = (long)v;
    const char *ca = s_get(cfg, name, "ca_file");
    if (ca) ep->ca_file = assay_strdup(ca);

    const char *key_env = s_get(cfg, name, "api_key_env");
    const char *key_file = s_get(cfg, name, "api_key_file");
    if (key_env) {
        const char *k = getenv(key_env);
        if (!k || !*k) {
            snprintf(err, errlen,
                     "endpoint \"%s\": environment variable \"%s\" (api_key_env) is not set", name,
                     key_env);
            goto fail;
        }
        ep->api_key = assay_strdup(k);
    } else if (key_file) {
        if (s_read_key_file(name, key_file, &ep->api_key, err, errlen) != 0) goto fail;
    }
    if (ep->api_key) ep->auth_header = assay_sprintf("Authorization: Bearer %s", ep->api_key);
    return ep;
fail:
    assay_endpoint_destroy(&ep);
    return NULL;
}

static void s_scrub_free(char *s)
{
    if (!s) return;
    volatile char *p = s;
    while (*p)
        *p++ = '\0';
    free(s);
}

void assay_endpoint_destroy(assay_endpoint_t **self_p)
{
    if (!self_p || !*self_p) return;
    assay_endpoint_t *ep = *self_p;
    free(ep->name);
    free(ep->base_url);
    free(ep->url);
    free(ep->model);
    free(ep->ca_file);
    s_scrub_free(ep->api_key);
    s_scrub_free(ep->auth_header);
    free(ep);
    *self_p = NULL;
}

char *assay_endpoint_redact(const assay_endpoint_t *self, const char *text, char *out,
                            size_t outlen)
{
    if (outlen == 0) return out;
    assay_buf_t b = ASSAY_BUF_INIT;
    const char *key = self ? self->api_key : NULL;
    size_t klen = key ? strlen(key) : 0;
    const char *p = text ? text : "";
    while (*p) {
        if (klen >= 4 && strncmp(p, key, klen) == 0) {
            assay_buf_adds(&b, "[redacted]");
            p += klen;
            continue;
        }
        /* any bearer token, whoever's it is */
        if (strncasecmp(p, "bearer ", 7) == 0) {
            assay_buf_add(&b, p, 7);
            p += 7;
            while (*p == ' ')
                p++;
            if (*p && *p != '"' && *p != '\'' && *p != '\n') assay_buf_adds(&b, "[redacted]");
            while (*p && *p != ' ' && *p != '"' && *p != '\'' && *p != '\n' && *p != ',')
                p++;
            continue;
        }
        assay_buf_addc(&b, *p++);
    }
    size_t n = b.len < outlen - 1 ? b.len : outlen - 1;
    /* do not cut a UTF-8 sequence in half */
    while (n > 0 && n < b.len && ((unsigned char)b.data[n] & 0xC0) == 0x80)
        n--;
    if (n) memcpy(out, b.data, n);
    out[n] = '\0';
    assay_buf_release(&b);
    return out;
}

/* ---- table ----------------------------------------------------------------------- */

struct assay_endpoints {
    const assay_config_t *cfg;
    assay_endpoint_t **items;
    int n, cap;
};

assay_endpoints_t *assay_endpoints_new(const assay_config_t *cfg)
{
    assay_endpoints_t *self = ASSAY_NEW(assay_endpoints_t);
    self->cfg = cfg;
    return self;
}

void assay_endpoints_destroy(assay_endpoints_t **self_p)
{
    if (!self_p || !*self_p) return;
    assay_endpoints_t *self = *self_p;
    for (int i = 0; i < self->n; i++)
        assay_endpoint_destroy(&self->items[i]);
    free(self->items);
    free(self);
    *self_p = NULL;
}

assay_endpoint_t *assay_endpoints_get(assay_endpoints_t *self, const char *name, char *err,
                                      size_t errlen)
{
    for (int i = 0; i < self->n; i++)
        if (strcmp(self->items[i]->name, name) == 0) return self->items[i];
    assay_endpoint_t *ep = assay_endpoint_load(self->cfg, name, err, errlen);
    if (!ep) return NULL;
    if (self->n == self->cap) {
        self->cap = self->cap ? self->cap * 2 : 8;
        self->items = assay_realloc(self->items, (size_t)self->cap * sizeof *self->items);
    }
    self->items[self->n++] = ep;
    return ep;
}
