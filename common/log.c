/*  log.c: see log.h */
#include "common/log.h"

#include "common/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

assay_log_level_t assay_log_threshold = ASSAY_LOG_INFO;
static char s_process[32] = "assay";
static int s_json = 0;

static const char *s_names[] = {"debug", "info", "warn", "error", "off"};

void assay_log_init(const char *process, assay_log_level_t level, int json)
{
    if (process) snprintf(s_process, sizeof s_process, "%s", process);
    assay_log_threshold = level;
    s_json = json;
}

int assay_log_parse_level(const char *s, assay_log_level_t *out)
{
    for (int i = 0; i <= ASSAY_LOG_OFF; i++)
        if (strcasecmp(s, s_names[i]) == 0) {
            *out = (assay_log_level_t)i;
            return 0;
        }
    if (strcasecmp(s, "warning") == 0) {
        *out = ASSAY_LOG_WARN;
        return 0;
    }
    return -1;
}

static void s_json_escape(assay_buf_t *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            assay_buf_adds(b, "\\\"");
            break;
        case '\\':
            assay_buf_adds(b, "\\\\");
            break;
        case '\n':
            assay_buf_adds(b, "\\n");
            break;
        case '\t':
            assay_buf_adds(b, "\\t");
            break;
        case '\r':
            assay_buf_adds(b, "\\r");
            break;
        default:
            if (*p < 0x20)
                assay_buf_addf(b, "\\u%04x", *p);
            else
                assay_buf_addc(b, (char)*p);
        }
    }
}

void assay_log_write(assay_log_level_t level, const char *component, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[64];
    snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000));

    assay_buf_t b = ASSAY_BUF_INIT;
    if (s_json) {
        assay_buf_addf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"proc\":\"%s\",\"pid\":%d,\"comp\":\"",
                       when, s_names[level], s_process, (int)getpid());
        s_json_escape(&b, component ? component : "");
        assay_buf_adds(&b, "\",\"msg\":\"");
        s_json_escape(&b, msg);
        assay_buf_adds(&b, "\"}\n");
    } else {
        assay_buf_addf(&b, "%s %-5s %s[%d] %s: %s\n", when, s_names[level], s_process,
                       (int)getpid(), component ? component : "-", msg);
    }
    fwrite(b.data, 1, b.len, stderr);
    fflush(stderr);
    assay_buf_release(&b);
}
