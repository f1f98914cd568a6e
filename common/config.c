/*  config.c: see config.h */
#include "common/config.h"

#include "common/error.h"
#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

typedef struct {
    char *key;
    char *value;
} s_entry_t;

struct assay_config {
    s_entry_t *entries; /* from the file */
    size_t n, cap;
    s_entry_t *overrides; /* from assay_config_set (command-line flags) */
    size_t no, capo;
    char *path;
};

assay_config_t *assay_config_new(void)
{
    return ASSAY_NEW(assay_config_t);
}

void assay_config_destroy(assay_config_t **self_p)
{
    if (!self_p || !*self_p) return;
    assay_config_t *self = *self_p;
    for (size_t i = 0; i < self->n; i++) {
        free(self->entries[i].key);
        free(self->entries[i].value);
    }
    free(self->entries);
    for (size_t i = 0; i < self->no; i++) {
        free(self->overrides[i].key);
        free(self->overrides[i].value);
    }
    free(self->overrides);
    free(self->path);
    free(self);
    *self_p = NULL;
}

static s_entry_t *s_lookup(s_entry_t *entries, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(entries[i].key, key) == 0) return &entries[i];
    return NULL;
}

static s_entry_t *s_find(const assay_config_t *self, const char *key)
{
    return s_lookup(self->entries, self->n, key);
}

static void s_put(s_entry_t **entries, size_t *n, size_t *cap, const char *key, const char *value)
{
    s_entry_t *e = s_lookup(*entries, *n, key);
    if (e) {
        free(e->value);
        e->value = assay_strdup(value);
        return;
    }
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 32;
        *entries = assay_realloc(*entries, *cap * sizeof **entries);
    }
    (*entries)[*n].key = assay_strdup(key);
    (*entries)[*n].value = assay_strdup(value);
    (*n)++;
}

void assay_config_set(assay_config_t *self, const char *key, const char *value)
{
    s_put(&self->overrides, &self->no, &self->capo, key, value);
}

static char *s_trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1])) *--end = '\0';
    return s;
}

int assay_config_load(assay_config_t *self, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "could not open config file \"%s\": %s", path, strerror(errno));
        return ASSAY_EIO;
    }
    char line[4096], section[256] = "";
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            snprintf(err, errlen, "%s:%d: line longer than %zu bytes", path, lineno,
                     sizeof line - 2);
            rc = ASSAY_EPARSE;
            break;
        }
        char *s = s_trim(line);
        if (*s == '\0' || *s == '#' || *s == ';') continue;
        if (*s == '[') {
            char *close = strchr(s, ']');
            if (!close || close[1] != '\0' || close == s + 1) {
                snprintf(err, errlen, "%s:%d: expected a section header like [broker]", path,
                         lineno);
                rc = ASSAY_EPARSE;
                break;
            }
            *close = '\0';
            snprintf(section, sizeof section, "%s", s_trim(s + 1));
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected \"key = value\"", path, lineno);
            rc = ASSAY_EPARSE;
            break;
        }
        *eq = '\0';
        char *key = s_trim(s), *value = s_trim(eq + 1);
        if (*key == '\0') {
            snprintf(err, errlen, "%s:%d: missing key before '='", path, lineno);
            rc = ASSAY_EPARSE;
            break;
        }
        size_t vl = strlen(value);
        if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
            value[vl - 1] = '\0';
            value++;
        }
        char full[512];
        if (section[0])
            snprintf(full, sizeof full, "%s.%s", section, key);
        else
            snprintf(full, sizeof full, "%s", key);
        s_put(&self->entries, &self->n, &self->cap, full, value);
    }
    fclose(f);
    if (rc == 0) {
        free(self->path);
        self->path = assay_strdup(path);
    }
    return rc;
}

int assay_config_load_default(assay_config_t *self, const char *explicit_path, char *err,
                              size_t errlen)
{
    if (explicit_path) return assay_config_load(self, explicit_path, err, errlen);
    const char *env = getenv("ASSAY_CONFIG");
    if (env && *env) return assay_config_load(self, env, err, errlen);
    if (access("assay.conf", R_OK) == 0) return assay_config_load(self, "assay.conf", err, errlen);
    return 0;
}

const char *assay_config_path(const assay_config_t *self)
{
    return self->path;
}

void assay_config_env_name(const char *key, char *out, size_t outlen)
{
    size_t o = 0;
    const char *prefix = "ASSAY_";
    for (const char *p = prefix; *p && o + 1 < outlen; p++) out[o++] = *p;
    for (const char *p = key; *p && o + 1 < outlen; p++) {
        char c = *p;
        out[o++] = (c == '.' || c == '-') ? '_' : (char)toupper((unsigned char)c);
    }
    out[o] = '\0';
}

const char *assay_config_get(const assay_config_t *self, const char *key, const char *def)
{
    if (self) {
        s_entry_t *o = s_lookup(self->overrides, self->no, key);
        if (o) return o->value;
    }
    char env[512];
    assay_config_env_name(key, env, sizeof env);
    const char *v = getenv(env);
    if (v) return v;
    if (self) {
        s_entry_t *e = s_find(self, key);
        if (e) return e->value;
    }
    return def;
}

long assay_config_get_long(const assay_config_t *self, const char *key, long def)
{
    const char *v = assay_config_get(self, key, NULL);
    if (!v || !*v) return def;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end) return def;
    return n;
}

double assay_config_get_double(const assay_config_t *self, const char *key, double def)
{
    const char *v = assay_config_get(self, key, NULL);
    if (!v || !*v) return def;
    char *end;
    double d = strtod(v, &end);
    if (*end) return def;
    return d;
}

int assay_config_sections(const assay_config_t *self, const char *prefix,
                          void (*fn)(const char *name, void *arg), void *arg)
{
    size_t plen = strlen(prefix);
    int count = 0;
    char **seen = NULL;
    size_t nseen = 0;
    for (size_t i = 0; i < self->n; i++) {
        const char *k = self->entries[i].key;
        if (strncmp(k, prefix, plen) != 0) continue;
        const char *rest = k + plen;
        const char *dot = strchr(rest, '.');
        if (!dot) continue;
        char *name = assay_strndup(rest, (size_t)(dot - rest));
        int dup = 0;
        for (size_t j = 0; j < nseen; j++)
            if (strcmp(seen[j], name) == 0) dup = 1;
        if (dup) {
            free(name);
            continue;
        }
        seen = assay_realloc(seen, (nseen + 1) * sizeof *seen);
        seen[nseen++] = name;
        fn(name, arg);
        count++;
    }
    for (size_t j = 0; j < nseen; j++) free(seen[j]);
    free(seen);
    return count;
}
