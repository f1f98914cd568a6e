/*  util.c: see util.h */
#include "common/util.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void s_oom(size_t size)
{
    fprintf(stderr, "assay: out of memory allocating %zu bytes\n", size);
    abort();
}

void *assay_malloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p) s_oom(size);
    return p;
}

void *assay_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) s_oom(n * size);
    return p;
}

void *assay_realloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (!q) s_oom(size);
    return q;
}

char *assay_strdup(const char *s)
{
    return assay_strndup(s, strlen(s));
}

char *assay_strndup(const char *s, size_t n)
{
    char *p = assay_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *assay_sprintf(const char *fmt, ...)
{
    assay_buf_t b = ASSAY_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    assay_buf_vaddf(&b, fmt, ap);
    va_end(ap);
    if (!b.data) assay_buf_grow(&b, 0);
    return assay_buf_detach(&b, NULL);
}

int64_t assay_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t assay_clock_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t assay_wallclock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void assay_buf_init(assay_buf_t *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
}

void assay_buf_release(assay_buf_t *b)
{
    free(b->data);
    assay_buf_init(b);
}

char *assay_buf_detach(assay_buf_t *b, size_t *len)
{
    if (!b->data) assay_buf_grow(b, 0);
    char *p = b->data;
    if (len) *len = b->len;
    assay_buf_init(b);
    return p;
}

void assay_buf_reset(assay_buf_t *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

void assay_buf_grow(assay_buf_t *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap *= 2;
    b->data = assay_realloc(b->data, cap);
    if (b->cap == 0) b->data[0] = '\0';
    b->cap = cap;
}

void assay_buf_add(assay_buf_t *b, const void *data, size_t len)
{
    assay_buf_grow(b, len);
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void assay_buf_adds(assay_buf_t *b, const char *s)
{
    assay_buf_add(b, s, strlen(s));
}

void assay_buf_addc(assay_buf_t *b, char c)
{
    assay_buf_add(b, &c, 1);
}

void assay_buf_vaddf(assay_buf_t *b, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    assay_buf_grow(b, 64);
    int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, cp);
    va_end(cp);
    if (n < 0) return;
    if ((size_t)n >= b->cap - b->len) {
        assay_buf_grow(b, (size_t)n);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    }
    b->len += (size_t)n;
}

void assay_buf_addf(assay_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    assay_buf_vaddf(b, fmt, ap);
    va_end(ap);
}

uint64_t assay_hash64(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

void assay_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

int assay_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p;
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if ((size_t)(end - p) <= n) return 0;
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        p += n + 1;
    }
    return 1;
}
