/*  config.h: configuration shared by every assay binary.
 *
 *  One file in INI form (`key = value`, `[section]`, `# comment`) plus environment
 *  overrides. A key "section.key" is overridden by the environment variable
 *  ASSAY_SECTION_KEY (upper case, '.' and '-' become '_'): `db` by ASSAY_DB,
 *  `broker.bind` by ASSAY_BROKER_BIND, `endpoint.sim.base_url` by
 *  ASSAY_ENDPOINT_SIM_BASE_URL. Lookup order: values set by the program (its
 *  command-line flags, assay_config_set), environment, file, caller's default.
 *
 *  The file is found at --config FILE, else $ASSAY_CONFIG, else ./assay.conf when
 *  present; running without a file is fine (defaults and environment only).
 */
#ifndef ASSAY_CONFIG_H
#define ASSAY_CONFIG_H

#include <stddef.h>

typedef struct assay_config assay_config_t;

assay_config_t *assay_config_new(void);
/* frees the config and nulls *self_p; safe on NULL */
void assay_config_destroy(assay_config_t **self_p);

/* load a file; on error returns ASSAY_EIO or ASSAY_EPARSE and writes
 * "FILE:LINE: what was wrong" into err */
int assay_config_load(assay_config_t *self, const char *path, char *err, size_t errlen);
/* find the file as described above (explicit may be NULL) and load it */
int assay_config_load_default(assay_config_t *self, const char *explicit_path, char *err,
                              size_t errlen);
/* the path of the loaded file, or NULL */
const char *assay_config_path(const assay_config_t *self);

/* set a value that wins over the environment and the file (command-line flags) */
void assay_config_set(assay_config_t *self, const char *key, const char *value);
/* the value for key, or def; the string is owned by the config (or the environment) */
const char *assay_config_get(const assay_config_t *self, const char *key, const char *def);
long assay_config_get_long(const assay_config_t *self, const char *key, long def);
double assay_config_get_double(const assay_config_t *self, const char *key, double def);

/* names of sections that start with prefix (e.g. "endpoint." yields "sim", "o3"):
 * calls fn for each distinct name once; returns the count */
int assay_config_sections(const assay_config_t *self, const char *prefix,
                          void (*fn)(const char *name, void *arg), void *arg);

/* the environment variable that overrides key, written into out */
void assay_config_env_name(const char *key, char *out, size_t outlen);

#endif
