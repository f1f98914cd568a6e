/*  curve.c: see curve.h */
#include "common/curve.h"

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define S_MAX_KEYS 100000

typedef char s_key_t[ASSAY_CURVE_Z85_LEN + 1];

/* SIGHUP only bumps this generation number; the ZAP thread notices the change
 * and re-reads the allowlist outside the signal handler */
static volatile sig_atomic_t s_hup_generation = 0;

static void s_on_sighup(int sig)
{
    (void)sig;
    s_hup_generation++;
}

struct assay_curve_zap {
    void *ctx;
    void *sock;
    char *allowlist;
    pthread_t thread;
    int started;
    atomic_int stop;
    atomic_int reload;
    pthread_mutex_t lock; /* guards keys, nkeys and the counters */
    s_key_t *keys;
    size_t nkeys;
    assay_curve_zap_stats_t stats;
};

int assay_curve_z85_valid(const char *s)
{
    if (!s || strlen(s) != ASSAY_CURVE_Z85_LEN) return 0;
    uint8_t bin[32];
    return zmq_z85_decode(bin, s) != NULL;
}

int assay_curve_keygen(assay_curve_keypair_t *kp)
{
    if (!zmq_has("curve")) return ASSAY_EUNSUPPORTED;
    if (zmq_curve_keypair(kp->public_z85, kp->secret_z85) != 0) return ASSAY_EUNSUPPORTED;
    return 0;
}

static int s_write_file(const char *path, const char *text, mode_t mode, int force, char *err,
                        size_t errlen)
{
    int flags = O_WRONLY | O_CREAT | (force ? O_TRUNC : O_EXCL);
    int fd = open(path, flags, mode);
    if (fd < 0) {
        snprintf(err, errlen, "could not create key file \"%s\": %s%s", path, strerror(errno),
                 errno == EEXIST ? " (use --force to replace it)" : "");
        return ASSAY_EIO;
    }
    /* an existing file keeps its mode under O_TRUNC: enforce ours */
    if (fchmod(fd, mode) != 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) ||
        fsync(fd) != 0) {
        snprintf(err, errlen, "could not write key file \"%s\": %s", path, strerror(errno));
        close(fd);
        return ASSAY_EIO;
    }
    close(fd);
    return 0;
}

int assay_curve_write_keypair(const assay_curve_keypair_t *kp, const char *prefix, int force,
                              char *err, size_t errlen)
{
    char path[4096], text[512];
    snprintf(path, sizeof path, "%s.key", prefix);
    snprintf(text, sizeof text,
             "# assay CurveZMQ key pair: keep this file private\n"
             "public-key = %s\nsecret-key = %s\n",
             kp->public_z85, kp->secret_z85);
    int rc = s_write_file(path, text, 0600, force, err, errlen);
    explicit_bzero(text, sizeof text);
    if (rc != 0) return rc;
    snprintf(path, sizeof path, "%s.pub", prefix);
    snprintf(text, sizeof text, "# assay CurveZMQ public key\npublic-key = %s\n", kp->public_z85);
    return s_write_file(path, text, 0644, force, err, errlen);
}

/* read "public-key = ..." / "secret-key = ..." lines of a key file */
static int s_read_keys(const char *path, char pub[ASSAY_CURVE_Z85_LEN + 1],
                       char sec[ASSAY_CURVE_Z85_LEN + 1], char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "could not open key file \"%s\": %s", path, strerror(errno));
        return ASSAY_EIO;
    }
    char line[512];
    int lineno = 0, rc = 0;
    pub[0] = sec[0] = '\0';
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        if (*s == '#' || *s == '\n' || *s == '\0') continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected \"public-key = KEY\" or \"secret-key = KEY\"",
                     path, lineno);
            rc = ASSAY_EPARSE;
            break;
        }
        char *v = eq + 1;
        while (*v == ' ' || *v == '\t') v++;
        size_t vl = strcspn(v, " \t\r\n");
        v[vl] = '\0';
        char *out = !strncmp(s, "public-key", 10) ? pub : !strncmp(s, "secret-key", 10) ? sec : NULL;
        if (!out) {
            snprintf(err, errlen, "%s:%d: unknown entry (expected public-key or secret-key)",
                     path, lineno);
            rc = ASSAY_EPARSE;
            break;
        }
        if (!assay_curve_z85_valid(v)) {
            /* never echo the value: it may be a secret */
            snprintf(err, errlen, "%s:%d: not a key (expected 40 characters of Z85 text)", path,
                     lineno);
            rc = ASSAY_EPARSE;
            break;
        }
        memcpy(out, v, ASSAY_CURVE_Z85_LEN + 1);
    }
    explicit_bzero(line, sizeof line);
    fclose(f);
    return rc;
}

int assay_curve_load_keypair(const char *path, assay_curve_keypair_t *kp, char *err,
                             size_t errlen)
{
    int rc = s_read_keys(path, kp->public_z85, kp->secret_z85, err, errlen);
    if (rc != 0) return rc;
    if (!kp->public_z85[0] || !kp->secret_z85[0]) {
        snprintf(err, errlen, "key file \"%s\" lacks the %s (expected a .key file from assay keygen)",
                 path, kp->secret_z85[0] ? "public-key line" : "secret-key line");
        return ASSAY_EPARSE;
    }
    /* the public key must belong to the secret one, or peers would never agree */
    uint8_t sec[32];
    char derived[ASSAY_CURVE_Z85_LEN + 1];
    if (!zmq_z85_decode(sec, kp->secret_z85) || zmq_curve_public(derived, kp->secret_z85) != 0 ||
        strcmp(derived, kp->public_z85) != 0) {
        explicit_bzero(sec, sizeof sec);
        snprintf(err, errlen, "key file \"%s\": the public key does not match the secret key",
                 path);
        return ASSAY_EPARSE;
    }
    explicit_bzero(sec, sizeof sec);
    return 0;
}

int assay_curve_load_public(const char *value_or_path, char out[ASSAY_CURVE_Z85_LEN + 1],
                            char *err, size_t errlen)
{
    if (assay_curve_z85_valid(value_or_path)) {
        memcpy(out, value_or_path, ASSAY_CURVE_Z85_LEN + 1);
        return 0;
    }
    char sec[ASSAY_CURVE_Z85_LEN + 1];
    int rc = s_read_keys(value_or_path, out, sec, err, errlen);
    explicit_bzero(sec, sizeof sec);
    if (rc != 0) return rc;
    if (!out[0]) {
        snprintf(err, errlen, "key file \"%s\" has no public-key line", value_or_path);
        return ASSAY_EPARSE;
    }
    return 0;
}

int assay_curve_allowlist_load(const char *path, char (**keys)[ASSAY_CURVE_Z85_LEN + 1],
                               char *err, size_t errlen)
{
    *keys = NULL;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "could not open allowlist \"%s\": %s", path, strerror(errno));
        return ASSAY_EIO;
    }
    s_key_t *list = NULL;
    size_t n = 0, cap = 0;
    char line[1024];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        if (*s == '#' || *s == '\n' || *s == '\r' || *s == '\0') continue;
        /* a .pub file's "public-key = KEY" line is accepted too, so allowlists
         * can be built with cat */
        if (!strncmp(s, "public-key", 10)) {
            char *eq = strchr(s, '=');
            s = eq ? eq + 1 : s + 10;
            while (*s == ' ' || *s == '\t') s++;
        }
        /* '#' is a Z85 character: a comment after the key needs a blank first */
        size_t kl = strcspn(s, " \t\r\n");
        s[kl] = '\0';
        if (!assay_curve_z85_valid(s)) {
            snprintf(err, errlen,
                     "%s:%d: expected a public key (40 characters of Z85 text) at the start of "
                     "the line",
                     path, lineno);
            free(list);
            fclose(f);
            return ASSAY_EPARSE;
        }
        if (n == S_MAX_KEYS) {
            snprintf(err, errlen, "%s: more than %d keys", path, S_MAX_KEYS);
            free(list);
            fclose(f);
            return ASSAY_EPARSE;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            list = assay_realloc(list, cap * sizeof *list);
        }
        memcpy(list[n++], s, ASSAY_CURVE_Z85_LEN + 1);
    }
    fclose(f);
    *keys = list;
    return (int)n;
}

/* ---- ZAP handler (RFC 27) ---- */

static int s_zap_load(assay_curve_zap_t *self, char *err, size_t errlen)
{
    s_key_t *keys = NULL;
    int n = assay_curve_allowlist_load(self->allowlist, &keys, err, errlen);
    if (n < 0) return n;
    pthread_mutex_lock(&self->lock);
    free(self->keys);
    self->keys = keys;
    self->nkeys = (size_t)n;
    self->stats.keys = (uint64_t)n;
    self->stats.reloads++;
    pthread_mutex_unlock(&self->lock);
    return 0;
}

static int s_zap_allowed(assay_curve_zap_t *self, const char *z85)
{
    int ok = 0;
    pthread_mutex_lock(&self->lock);
    for (size_t i = 0; i < self->nkeys && !ok; i++)
        if (memcmp(self->keys[i], z85, ASSAY_CURVE_Z85_LEN) == 0) ok = 1;
    if (ok)
        self->stats.allowed++;
    else
        self->stats.denied++;
    pthread_mutex_unlock(&self->lock);
    return ok;
}

static void s_zap_reply(void *sock, zmq_msg_t *reqid, const char *code, const char *text,
                        const char *user)
{
    zmq_send(sock, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(sock, zmq_msg_data(reqid), zmq_msg_size(reqid), ZMQ_SNDMORE);
    zmq_send(sock, code, strlen(code), ZMQ_SNDMORE);
    zmq_send(sock, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(sock, user, strlen(user), ZMQ_SNDMORE);
    zmq_send(sock, "", 0, 0);
}

static void s_zap_handle(assay_curve_zap_t *self, int64_t *last_denied_log, uint64_t *quiet)
{
    /* frames: version, request id, domain, address, identity, mechanism, credentials */
    zmq_msg_t frames[8];
    int n = 0, more = 1;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, self->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            break;
        }
        more = zmq_msg_more(&m);
        if (n < 8)
            frames[n++] = m;
        else
            zmq_msg_close(&m);
    }
    if (n < 6) {
        /* a REP socket must answer; without a request id there is nothing sane to say */
        for (int i = 0; i < n; i++) zmq_msg_close(&frames[i]);
        if (n >= 2) s_zap_reply(self->sock, &frames[1], "500", "malformed ZAP request", "");
        return;
    }
    const char *mech = zmq_msg_data(&frames[5]);
    size_t mlen = zmq_msg_size(&frames[5]);
    char addr[64] = "";
    snprintf(addr, sizeof addr, "%.*s", (int)(zmq_msg_size(&frames[3]) < 63 ? zmq_msg_size(&frames[3]) : 63),
             (const char *)zmq_msg_data(&frames[3]));
    if (mlen == 5 && !memcmp(mech, "CURVE", 5) && n >= 7 && zmq_msg_size(&frames[6]) == 32) {
        char z85[ASSAY_CURVE_Z85_LEN + 1];
        zmq_z85_encode(z85, zmq_msg_data(&frames[6]), 32);
        if (s_zap_allowed(self, z85)) {
            /* the user id names the key, so the broker could tell peers apart by it */
            s_zap_reply(self->sock, &frames[1], "200", "OK", z85);
        } else {
            int64_t now = assay_clock_ms();
            if (now - *last_denied_log >= 1000) {
                log_warn("curve", "rejected a client key not in the allowlist: %s from %s%s",
                         z85, addr[0] ? addr : "?",
                         *quiet ? " (more rejections in the last second not logged)" : "");
                *last_denied_log = now;
                *quiet = 0;
            } else {
                (*quiet)++;
            }
            s_zap_reply(self->sock, &frames[1], "400", "client key not allowed", "");
        }
    } else {
        pthread_mutex_lock(&self->lock);
        self->stats.denied++;
        pthread_mutex_unlock(&self->lock);
        s_zap_reply(self->sock, &frames[1], "400", "CURVE required", "");
    }
    for (int i = 0; i < n; i++) zmq_msg_close(&frames[i]);
}

static void *s_zap_thread(void *arg)
{
    assay_curve_zap_t *self = arg;
    /* signals go to the main thread, whose poll loop tolerates EINTR */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    int seen = s_hup_generation;
    int64_t last_denied_log = 0;
    uint64_t quiet = 0;
    while (!atomic_load(&self->stop)) {
        int gen = s_hup_generation;
        if (gen != seen || atomic_exchange(&self->reload, 0)) {
            seen = gen;
            char err[512];
            if (s_zap_load(self, err, sizeof err) != 0)
                log_error("curve", "allowlist not reloaded, keeping the previous one: %s", err);
            else
                log_info("curve", "allowlist \"%s\" reloaded: %llu keys", self->allowlist,
                         (unsigned long long)self->stats.keys);
        }
        zmq_pollitem_t it = {self->sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 200) > 0 && (it.revents & ZMQ_POLLIN))
            s_zap_handle(self, &last_denied_log, &quiet);
    }
    return NULL;
}

static assay_curve_zap_t *s_zap_new(void *ctx, const char *allowlist, char *err, size_t errlen)
{
    assay_curve_zap_t *self = ASSAY_NEW(assay_curve_zap_t);
    self->ctx = ctx;
    self->allowlist = assay_strdup(allowlist);
    pthread_mutex_init(&self->lock, NULL);
    if (s_zap_load(self, err, errlen) != 0) {
        assay_curve_zap_destroy(&self);
        return NULL;
    }
    self->stats.reloads = 0;
    self->sock = zmq_socket(ctx, ZMQ_REP);
    int linger = 0;
    zmq_setsockopt(self->sock, ZMQ_LINGER, &linger, sizeof linger);
    if (!self->sock || zmq_bind(self->sock, S_ZAP_ENDPOINT) != 0) {
        snprintf(err, errlen, "could not start the ZAP handler on %s: %s", S_ZAP_ENDPOINT,
                 zmq_strerror(zmq_errno()));
        assay_curve_zap_destroy(&self);
        return NULL;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_sighup;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGHUP, &sa, NULL);
    if (pthread_create(&self->thread, NULL, s_zap_thread, self) != 0) {
        snprintf(err, errlen, "could not start the ZAP handler thread");
        assay_curve_zap_destroy(&self);
        return NULL;
    }
    self->started = 1;
    return self;
}

void assay_curve_zap_destroy(assay_curve_zap_t **self_p)
{
    if (!self_p || !*self_p) return;
    assay_curve_zap_t *self = *self_p;
    if (self->started) {
        atomic_store(&self->stop, 1);
        pthread_join(self->thread, NULL);
    }
    if (self->sock) zmq_close(self->sock);
    pthread_mutex_destroy(&self->lock);
    free(self->keys);
    free(self->allowlist);
    free(self);
    *self_p = NULL;
}

void assay_curve_zap_stats(assay_curve_zap_t *self, assay_curve_zap_stats_t *out)
{
    memset(out, 0, sizeof *out);
    if (!self) return;
    pthread_mutex_lock(&self->lock);
    *out = self->stats;
    pthread_mutex_unlock(&self->lock);
}

void assay_curve_zap_reload(assay_curve_zap_t *self)
{
    if (self) atomic_store(&self->reload, 1);
}

/* ---- socket setup ---- */

/* 1 on, 0 off, or ASSAY_ECONFIG for a value that is neither */
static int s_mode(const assay_config_t *cfg, char *err, size_t errlen)
{
    const char *v = assay_config_get(cfg, "curve", NULL);
    if (!v || !*v) return 1;
    if (!strcasecmp(v, "on") || !strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes"))
        return 1;
    if (!strcasecmp(v, "off") || !strcasecmp(v, "false") || !strcmp(v, "0") ||
        !strcasecmp(v, "no"))
        return 0;
    snprintf(err, errlen, "curve = \"%s\": expected on or off", v);
    return ASSAY_ECONFIG;
}

int assay_curve_server_setup(void *ctx, void *sock, const assay_config_t *cfg,
                             assay_curve_zap_t **zap, char *err, size_t errlen)
{
    *zap = NULL;
    int mode = s_mode(cfg, err, errlen);
    if (mode < 0) return mode;
    if (mode == 0) {
        log_warn("curve", "curve = off: workers connect over plain TCP without authentication or "
                          "encryption; use this only for local development");
        return 0;
    }
    const char *keyfile = assay_config_get(cfg, "broker.secret_key_file", NULL);
    const char *allow = assay_config_get(cfg, "broker.allowed_keys", NULL);
    if (!keyfile || !*keyfile) {
        snprintf(err, errlen,
                 "no broker key: set broker.secret_key_file (create one with `assay keygen "
                 "--out broker`), or curve = off for local development");
        return ASSAY_ECONFIG;
    }
    if (!allow || !*allow) {
        snprintf(err, errlen,
                 "no worker allowlist: set broker.allowed_keys to a file of worker public keys");
        return ASSAY_ECONFIG;
    }
    assay_curve_keypair_t kp;
    char why[512];
    if (assay_curve_load_keypair(keyfile, &kp, why, sizeof why) != 0) {
        snprintf(err, errlen, "broker.secret_key_file: %s", why);
        return ASSAY_ECONFIG;
    }
    *zap = s_zap_new(ctx, allow, why, sizeof why);
    if (!*zap) {
        explicit_bzero(&kp, sizeof kp);
        snprintf(err, errlen, "broker.allowed_keys: %s", why);
        return ASSAY_ECONFIG;
    }
    int one = 1;
    int rc = zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one);
    if (rc == 0) rc = zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, kp.secret_z85, ASSAY_CURVE_Z85_LEN);
    if (rc == 0) rc = zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, "assay", 5);
    char pub[ASSAY_CURVE_Z85_LEN + 1];
    memcpy(pub, kp.public_z85, sizeof pub);
    explicit_bzero(&kp, sizeof kp);
    if (rc != 0) {
        snprintf(err, errlen, "could not enable CURVE on the broker socket: %s",
                 zmq_strerror(zmq_errno()));
        assay_curve_zap_destroy(zap);
        return ASSAY_ECONFIG;
    }
    assay_curve_zap_stats_t st;
    assay_curve_zap_stats(*zap, &st);
    log_info("curve", "CURVE on: broker public key %s, %llu worker keys allowed (%s)", pub,
             (unsigned long long)st.keys, allow);
    return 0;
}

int assay_curve_server_check(const assay_config_t *cfg, char *err, size_t errlen)
{
    int mode = s_mode(cfg, err, errlen);
    if (mode <= 0) return mode;
    const char *keyfile = assay_config_get(cfg, "broker.secret_key_file", NULL);
    const char *allow = assay_config_get(cfg, "broker.allowed_keys", NULL);
    if (!keyfile || !*keyfile) {
        snprintf(err, errlen,
                 "no broker key: set broker.secret_key_file (create one with `assay keygen "
                 "--out broker`), or curve = off for local development");
        return ASSAY_ECONFIG;
    }
    if (!allow || !*allow) {
        snprintf(err, errlen,
                 "no worker allowlist: set broker.allowed_keys to a file of worker public keys");
        return ASSAY_ECONFIG;
    }
    assay_curve_keypair_t kp;
    char why[512];
    int rc = assay_curve_load_keypair(keyfile, &kp, why, sizeof why);
    explicit_bzero(&kp, sizeof kp);
    if (rc != 0) {
        snprintf(err, errlen, "broker.secret_key_file: %s", why);
        return ASSAY_ECONFIG;
    }
    char(*keys)[ASSAY_CURVE_Z85_LEN + 1] = NULL;
    int n = assay_curve_allowlist_load(allow, &keys, why, sizeof why);
    free(keys);
    if (n < 0) {
        snprintf(err, errlen, "broker.allowed_keys: %s", why);
        return ASSAY_ECONFIG;
    }
    return 0;
}

int assay_curve_client_setup(void *sock, const assay_config_t *cfg, int warn, char *err,
                             size_t errlen)
{
    int mode = s_mode(cfg, err, errlen);
    if (mode < 0) return mode;
    if (mode == 0) {
        if (warn)
            log_warn("curve", "curve = off: talking to the broker over plain TCP without "
                              "authentication or encryption; use this only for local development");
        return 0;
    }
    const char *keyfile = assay_config_get(cfg, "worker.key_file", NULL);
    const char *server = assay_config_get(cfg, "worker.broker_public_key", NULL);
    if (!keyfile || !*keyfile || !server || !*server) {
        snprintf(err, errlen,
                 "no %s: set worker.key_file and worker.broker_public_key (see `assay keygen`), "
                 "or curve = off for local development",
                 (!keyfile || !*keyfile) ? "worker key" : "broker public key");
        return ASSAY_ECONFIG;
    }
    assay_curve_keypair_t kp;
    char spub[ASSAY_CURVE_Z85_LEN + 1], why[512];
    if (assay_curve_load_keypair(keyfile, &kp, why, sizeof why) != 0) {
        snprintf(err, errlen, "worker.key_file: %s", why);
        return ASSAY_ECONFIG;
    }
    if (assay_curve_load_public(server, spub, why, sizeof why) != 0) {
        explicit_bzero(&kp, sizeof kp);
        snprintf(err, errlen, "worker.broker_public_key: %s", why);
        return ASSAY_ECONFIG;
    }
    int rc = zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, spub, ASSAY_CURVE_Z85_LEN);
    if (rc == 0) rc = zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, kp.public_z85, ASSAY_CURVE_Z85_LEN);
    if (rc == 0) rc = zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, kp.secret_z85, ASSAY_CURVE_Z85_LEN);
    explicit_bzero(&kp, sizeof kp);
    if (rc != 0) {
        snprintf(err, errlen, "could not enable CURVE on the broker connection: %s",
                 zmq_strerror(zmq_errno()));
        return ASSAY_ECONFIG;
    }
    return 0;
}

/* ---- handshake watch (client side) ---- */

struct assay_curve_watch {
    void *pair;
};

assay_curve_watch_t *assay_curve_watch_new(void *ctx, void *sock)
{
    char ep[96];
    /* the time keeps the name unique when a new socket reuses an old address */
    snprintf(ep, sizeof ep, "inproc://assay-curve-watch-%p-%lld", sock, (long long)assay_clock_us());
    if (zmq_socket_monitor(sock, ep,
                           ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0)
        return NULL;
    assay_curve_watch_t *self = ASSAY_NEW(assay_curve_watch_t);
    self->pair = zmq_socket(ctx, ZMQ_PAIR);
    int linger = 0;
    zmq_setsockopt(self->pair, ZMQ_LINGER, &linger, sizeof linger);
    if (!self->pair || zmq_connect(self->pair, ep) != 0) {
        if (self->pair) zmq_close(self->pair);
        free(self);
        return NULL;
    }
    return self;
}

int assay_curve_watch_failed(assay_curve_watch_t *self, char *why, size_t whylen)
{
    if (!self) return 0;
    int failed = 0;
    for (;;) {
        zmq_msg_t ev;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, self->pair, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            break;
        }
        /* frame 1: event (u16) + value (u32); frame 2: the endpoint */
        uint16_t event = 0;
        uint32_t value = 0;
        if (zmq_msg_size(&ev) >= 6) {
            memcpy(&event, zmq_msg_data(&ev), 2);
            memcpy(&value, (const uint8_t *)zmq_msg_data(&ev) + 2, 4);
        }
        int more = zmq_msg_more(&ev);
        zmq_msg_close(&ev);
        while (more) {
            zmq_msg_t rest;
            zmq_msg_init(&rest);
            if (zmq_msg_recv(&rest, self->pair, 0) < 0) more = 0;
            else more = zmq_msg_more(&rest);
            zmq_msg_close(&rest);
        }
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
            snprintf(why, whylen,
                     "the broker rejected this worker's key (status %u): is its public key in "
                     "the broker's allowlist (broker.allowed_keys)?",
                     value);
            failed = 1;
        } else if (event) {
            snprintf(why, whylen,
                     "the CurveZMQ handshake with the broker failed: do worker.broker_public_key "
                     "and the curve setting match the broker's?");
            failed = 1;
        }
    }
    return failed;
}

void assay_curve_watch_destroy(assay_curve_watch_t **self_p)
{
    if (!self_p || !*self_p) return;
    zmq_close((*self_p)->pair);
    free(*self_p);
    *self_p = NULL;
}
