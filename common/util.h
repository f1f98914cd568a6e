/*  util.h: allocation that never returns NULL, clocks, and a growable byte buffer.
 *
 *  Out-of-memory is not a recoverable condition in assay: every allocation goes
 *  through assay_malloc() and friends, which log and abort on failure, so the rest
 *  of the code never checks for NULL from an allocator.
 */
#ifndef ASSAY_UTIL_H
#define ASSAY_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

void *assay_malloc(size_t size);
void *assay_calloc(size_t n, size_t size);
void *assay_realloc(void *p, size_t size);
char *assay_strdup(const char *s);
char *assay_strndup(const char *s, size_t n);
/* printf into a new string; the caller frees it */
char *assay_sprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define ASSAY_NEW(type) ((type *)assay_calloc(1, sizeof(type)))
#define ASSAY_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* milliseconds on the monotonic clock (for timers and deadlines) */
int64_t assay_clock_ms(void);
/* microseconds on the monotonic clock (for latency measurement) */
int64_t assay_clock_us(void);
/* milliseconds since the Unix epoch (for timestamps shown to people) */
int64_t assay_wallclock_ms(void);

/*  A growable byte buffer that is always NUL-terminated.
 *  assay_buf_init() makes an empty buffer; assay_buf_release() frees its storage;
 *  assay_buf_detach() hands the storage to the caller and leaves the buffer empty. */
typedef struct {
    char *data;
    size_t len;
    size_t cap;
} assay_buf_t;

#define ASSAY_BUF_INIT {NULL, 0, 0}

void assay_buf_init(assay_buf_t *b);
void assay_buf_release(assay_buf_t *b);
char *assay_buf_detach(assay_buf_t *b, size_t *len);
void assay_buf_reset(assay_buf_t *b);
void assay_buf_grow(assay_buf_t *b, size_t extra);
void assay_buf_add(assay_buf_t *b, const void *data, size_t len);
void assay_buf_adds(assay_buf_t *b, const char *s);
void assay_buf_addc(assay_buf_t *b, char c);
void assay_buf_addf(assay_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void assay_buf_vaddf(assay_buf_t *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* FNV-1a 64-bit hash, for in-memory tables (not for anything an attacker controls) */
uint64_t assay_hash64(const void *data, size_t len);
/* hex SHA-256 of data into out (65 bytes incl. NUL) */
void assay_sha256_hex(const void *data, size_t len, char out[65]);

/* true when s is valid UTF-8 of length len */
int assay_utf8_valid(const char *s, size_t len);

#endif
