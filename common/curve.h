/*  curve.h: CurveZMQ authentication and encryption between the broker and its
 *  workers.
 *
 *  Keys are Curve25519 pairs written by `assay keygen` as small text files:
 *    NAME.key  (mode 0600)  "public-key = <z85>" and "secret-key = <z85>"
 *    NAME.pub               "public-key = <z85>"
 *  The broker holds a long-term pair (broker.secret_key_file) and admits only the
 *  client public keys listed in an allowlist file (broker.allowed_keys: one z85
 *  key per line, optionally followed by a name; '#' starts a comment). A ZAP
 *  handler thread owned by assay_curve_zap_t answers libzmq's authentication
 *  requests on "inproc://zeromq.zap.01" and re-reads the allowlist on SIGHUP.
 *
 *  Config `curve` = on | off. Unset means on, and the keys must be configured: a
 *  peer without keys refuses to start. `curve = off` (local development only)
 *  runs plain TCP and says so with a warning in the log.
 *
 *  Secret keys never appear in logs or error messages; only public keys do.
 */
#ifndef ASSAY_CURVE_H
#define ASSAY_CURVE_H

#include "common/config.h"

#include <stddef.h>
#include <stdint.h>

#define ASSAY_CURVE_Z85_LEN 40

typedef struct {
    char public_z85[ASSAY_CURVE_Z85_LEN + 1];
    char secret_z85[ASSAY_CURVE_Z85_LEN + 1];
} assay_curve_keypair_t;

/* a new random key pair; 0 or ASSAY_EUNSUPPORTED (libzmq built without CURVE) */
int assay_curve_keygen(assay_curve_keypair_t *kp);
/* write PREFIX.key (0600, refuses to overwrite unless force) and PREFIX.pub */
int assay_curve_write_keypair(const assay_curve_keypair_t *kp, const char *prefix, int force,
                              char *err, size_t errlen);
/* read a .key file (both keys) */
int assay_curve_load_keypair(const char *path, assay_curve_keypair_t *kp, char *err,
                             size_t errlen);
/* a public key given either as its 40 z85 characters or as a path to a .pub or
 * .key file; out gets the z85 text */
int assay_curve_load_public(const char *value_or_path, char out[ASSAY_CURVE_Z85_LEN + 1],
                            char *err, size_t errlen);
/* 1 when s is exactly 40 characters of the z85 alphabet that decode to a key */
int assay_curve_z85_valid(const char *s);

/* the allowlist: parse a file into z85 keys (test hook and used by the ZAP
 * thread); returns the count or a negative code with err set */
int assay_curve_allowlist_load(const char *path, char (**keys)[ASSAY_CURVE_Z85_LEN + 1],
                               char *err, size_t errlen);

typedef struct assay_curve_zap assay_curve_zap_t;

typedef struct {
    uint64_t allowed;
    uint64_t denied;
    uint64_t reloads;
    uint64_t keys; /* keys in the current allowlist */
} assay_curve_zap_stats_t;

/* Resolve the broker's settings from cfg and make sock a CURVE server. When curve
 * is on this starts the ZAP handler on ctx (*zap set; destroy it after closing
 * sock and before terminating ctx). When `curve = off`, logs a warning and leaves
 * *zap NULL. Returns 0, or ASSAY_ECONFIG with the reason in err. */
int assay_curve_server_setup(void *ctx, void *sock, const assay_config_t *cfg,
                             assay_curve_zap_t **zap, char *err, size_t errlen);
/* check the broker's settings (mode, key file, allowlist) without starting
 * anything, so a misconfigured standby fails at start and not at takeover */
int assay_curve_server_check(const assay_config_t *cfg, char *err, size_t errlen);
/* Make sock a CURVE client of the broker (worker.key_file,
 * worker.broker_public_key); with `curve = off` does nothing (quiet unless
 * warn). Returns 0 or ASSAY_ECONFIG with err. */
int assay_curve_client_setup(void *sock, const assay_config_t *cfg, int warn, char *err,
                             size_t errlen);

/* Watch a client socket's handshakes so a worker can say why it gets nothing:
 * assay_curve_watch_failed() returns 1 (once per failure) after the broker
 * rejected our key or the handshake failed (mismatched curve settings), with a
 * description in why. Free the watch before closing the socket's context. */
typedef struct assay_curve_watch assay_curve_watch_t;
assay_curve_watch_t *assay_curve_watch_new(void *ctx, void *sock);
int assay_curve_watch_failed(assay_curve_watch_t *self, char *why, size_t whylen);
void assay_curve_watch_destroy(assay_curve_watch_t **self_p);

/* stops the handler thread and closes its socket; nulls *self_p; safe on NULL */
void assay_curve_zap_destroy(assay_curve_zap_t **self_p);
/* a copy of the counters (thread safe; zeros for NULL) */
void assay_curve_zap_stats(assay_curve_zap_t *self, assay_curve_zap_stats_t *out);
/* ask the handler to re-read the allowlist (what SIGHUP does) */
void assay_curve_zap_reload(assay_curve_zap_t *self);

#endif
