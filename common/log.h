/*  log.h: levelled logging to stderr, as text for people or JSON lines for machines.
 *
 *  The macros check the level before formatting, so a disabled debug line costs a
 *  comparison. Every line carries the process name (set once by assay_log_init) and
 *  the caller's component ("broker", "sched", "http", ...). Secrets never belong in a
 *  log line: callers pass redacted values.
 */
#ifndef ASSAY_LOG_H
#define ASSAY_LOG_H

typedef enum {
    ASSAY_LOG_DEBUG = 0,
    ASSAY_LOG_INFO = 1,
    ASSAY_LOG_WARN = 2,
    ASSAY_LOG_ERROR = 3,
    ASSAY_LOG_OFF = 4
} assay_log_level_t;

/* the current threshold; read-only outside log.c */
extern assay_log_level_t assay_log_threshold;

/* set the process name, threshold and format (json != 0 for JSON lines) */
void assay_log_init(const char *process, assay_log_level_t level, int json);
/* parse "debug|info|warn|error|off"; returns 0 or ASSAY_EINVAL */
int assay_log_parse_level(const char *s, assay_log_level_t *out);
void assay_log_write(assay_log_level_t level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define ASSAY_LOG(level, comp, ...)                                                                \
    do {                                                                                           \
        if ((level) >= assay_log_threshold) assay_log_write((level), (comp), __VA_ARGS__);        \
    } while (0)
#define log_debug(comp, ...) ASSAY_LOG(ASSAY_LOG_DEBUG, comp, __VA_ARGS__)
#define log_info(comp, ...) ASSAY_LOG(ASSAY_LOG_INFO, comp, __VA_ARGS__)
#define log_warn(comp, ...) ASSAY_LOG(ASSAY_LOG_WARN, comp, __VA_ARGS__)
#define log_error(comp, ...) ASSAY_LOG(ASSAY_LOG_ERROR, comp, __VA_ARGS__)

#endif
