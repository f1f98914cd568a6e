/*  test_curve.c: unit tests for common/curve (key files, allowlists, settings
 *  errors, and the ZAP handler admitting, refusing and reloading over tcp) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/config.h"
#include "common/curve.h"
#include "common/error.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

static char s_dir[256];

static int s_setup(void **state)
{
    (void)state;
    snprintf(s_dir, sizeof s_dir, "/tmp/assay-test-curve.XXXXXX");
    return mkdtemp(s_dir) ? 0 : -1;
}

static int s_teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void s_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", s_dir, name);
}

static void s_write(const char *name, const char *text)
{
    char p[512];
    s_path(p, sizeof p, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_keypair_roundtrip(void **state)
{
    (void)state;
    assay_curve_keypair_t kp, back;
    assert_int_equal(assay_curve_keygen(&kp), 0);
    assert_true(assay_curve_z85_valid(kp.public_z85));
    assert_true(assay_curve_z85_valid(kp.secret_z85));
    char prefix[512], err[512], path[512];
    s_path(prefix, sizeof prefix, "a");
    assert_int_equal(assay_curve_write_keypair(&kp, prefix, 0, err, sizeof err), 0);
    s_path(path, sizeof path, "a.key");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(assay_curve_load_keypair(path, &back, err, sizeof err), 0);
    assert_string_equal(back.public_z85, kp.public_z85);
    assert_string_equal(back.secret_z85, kp.secret_z85);
    /* the .pub file and the bare key both give the public key */
    char pub[ASSAY_CURVE_Z85_LEN + 1];
    s_path(path, sizeof path, "a.pub");
    assert_int_equal(assay_curve_load_public(path, pub, err, sizeof err), 0);
    assert_string_equal(pub, kp.public_z85);
    assert_int_equal(assay_curve_load_public(kp.public_z85, pub, err, sizeof err), 0);
    /* no overwrite without force */
    assert_int_equal(assay_curve_write_keypair(&kp, prefix, 0, err, sizeof err), ASSAY_EIO);
    assert_non_null(strstr(err, "--force"));
    assert_int_equal(assay_curve_write_keypair(&kp, prefix, 1, err, sizeof err), 0);
}

static void test_bad_key_files(void **state)
{
    (void)state;
    assay_curve_keypair_t a, b, kp;
    assay_curve_keygen(&a);
    assay_curve_keygen(&b);
    char text[512], path[512], err[512];
    /* a public key that does not belong to the secret key */
    snprintf(text, sizeof text, "public-key = %s\nsecret-key = %s\n", b.public_z85, a.secret_z85);
    s_write("mixed.key", text);
    s_path(path, sizeof path, "mixed.key");
    assert_int_equal(assay_curve_load_keypair(path, &kp, err, sizeof err), ASSAY_EPARSE);
    assert_non_null(strstr(err, "does not match"));
    assert_null(strstr(err, a.secret_z85));
    /* a truncated secret: the error names the line, never the value */
    snprintf(text, sizeof text, "public-key = %s\nsecret-key = %.30s\n", a.public_z85, a.secret_z85);
    s_write("short.key", text);
    s_path(path, sizeof path, "short.key");
    assert_int_equal(assay_curve_load_keypair(path, &kp, err, sizeof err), ASSAY_EPARSE);
    assert_non_null(strstr(err, "short.key:2"));
    char secret30[31];
    snprintf(secret30, sizeof secret30, "%.30s", a.secret_z85);
    assert_null(strstr(err, secret30));
    /* a .pub file is not a key pair */
    snprintf(text, sizeof text, "public-key = %s\n", a.public_z85);
    s_write("only.pub", text);
    s_path(path, sizeof path, "only.pub");
    assert_int_equal(assay_curve_load_keypair(path, &kp, err, sizeof err), ASSAY_EPARSE);
    assert_non_null(strstr(err, "secret-key"));
    s_path(path, sizeof path, "missing.key");
    assert_int_equal(assay_curve_load_keypair(path, &kp, err, sizeof err), ASSAY_EIO);
    assert_non_null(strstr(err, "could not open key file"));
}

static void test_allowlist(void **state)
{
    (void)state;
    char text[1024], path[512], err[512];
    /* keys with '#' inside (a Z85 character), comments, .pub lines, blank lines */
    snprintf(text, sizeof text,
             "# workers\n"
             "0#(c-nFG*6>fF^T.3+G[L6o3gD(}PUpe+n:pq!E+ gpu-a\n"
             "\n"
             "public-key = 7Dz.!2hOb6jUA9GJiFyn]YTEyH23QC45Ptx/H@N#\n"
             "   ]m$P:Q3)^a([Br*z?OthD4Yk/k>]zuXCyph?r/F8   # spare\n");
    s_write("allow", text);
    s_path(path, sizeof path, "allow");
    char(*keys)[ASSAY_CURVE_Z85_LEN + 1] = NULL;
    int n = assay_curve_allowlist_load(path, &keys, err, sizeof err);
    assert_int_equal(n, 3);
    assert_string_equal(keys[0], "0#(c-nFG*6>fF^T.3+G[L6o3gD(}PUpe+n:pq!E+");
    assert_string_equal(keys[1], "7Dz.!2hOb6jUA9GJiFyn]YTEyH23QC45Ptx/H@N#");
    free(keys);
    s_write("bad", "0#(c-nFG*6>fF^T.3+G[L6o3gD(}PUpe+n:pq!E+\nnot-a-key\n");
    s_path(path, sizeof path, "bad");
    assert_true(assay_curve_allowlist_load(path, &keys, err, sizeof err) < 0);
    assert_non_null(strstr(err, "bad:2"));
    assert_null(keys);
}

static void test_settings_errors(void **state)
{
    (void)state;
    void *ctx = zmq_ctx_new();
    void *sock = zmq_socket(ctx, ZMQ_ROUTER);
    assay_config_t *cfg = assay_config_new();
    assay_curve_zap_t *zap = NULL;
    char err[512];
    /* nothing configured: refuse, and say how to fix it */
    assert_int_equal(assay_curve_server_setup(ctx, sock, cfg, &zap, err, sizeof err),
                     ASSAY_ECONFIG);
    assert_non_null(strstr(err, "broker.secret_key_file"));
    assert_non_null(strstr(err, "curve = off"));
    assert_int_equal(assay_curve_client_setup(sock, cfg, 0, err, sizeof err), ASSAY_ECONFIG);
    assert_non_null(strstr(err, "worker.key_file"));
    assay_config_set(cfg, "curve", "maybe");
    assert_int_equal(assay_curve_server_setup(ctx, sock, cfg, &zap, err, sizeof err),
                     ASSAY_ECONFIG);
    assert_non_null(strstr(err, "expected on or off"));
    assert_int_equal(assay_curve_server_check(cfg, err, sizeof err), ASSAY_ECONFIG);
    assert_non_null(strstr(err, "expected on or off"));
    /* explicit off: plain */
    assay_config_set(cfg, "curve", "off");
    assert_int_equal(assay_curve_server_setup(ctx, sock, cfg, &zap, err, sizeof err), 0);
    assert_null(zap);
    assert_int_equal(assay_curve_client_setup(sock, cfg, 0, err, sizeof err), 0);
    /* a key but no allowlist */
    assay_config_set(cfg, "curve", "on");
    assay_curve_keypair_t kp;
    assay_curve_keygen(&kp);
    char prefix[512], path[512];
    s_path(prefix, sizeof prefix, "srv");
    assay_curve_write_keypair(&kp, prefix, 1, err, sizeof err);
    s_path(path, sizeof path, "srv.key");
    assay_config_set(cfg, "broker.secret_key_file", path);
    assert_int_equal(assay_curve_server_setup(ctx, sock, cfg, &zap, err, sizeof err),
                     ASSAY_ECONFIG);
    assert_non_null(strstr(err, "broker.allowed_keys"));
    assert_int_equal(assay_curve_server_check(cfg, err, sizeof err), ASSAY_ECONFIG);
    assert_non_null(strstr(err, "broker.allowed_keys"));
    char allow[512];
    s_path(allow, sizeof allow, "srv.pub"); /* a .pub file is a valid allowlist */
    assay_config_set(cfg, "broker.allowed_keys", allow);
    assert_int_equal(assay_curve_server_check(cfg, err, sizeof err), 0);
    assay_config_destroy(&cfg);
    zmq_close(sock);
    zmq_ctx_term(ctx);
}

/* a DEALER with key file path sends one message; 1 when the ROUTER got it */
static int s_try(void *ctx, void *router, const char *endpoint, const char *keyfile,
                 const char *server_pub, const char *why_refused)
{
    assay_config_t *cfg = assay_config_new();
    assay_config_set(cfg, "worker.key_file", keyfile);
    assay_config_set(cfg, "worker.broker_public_key", server_pub);
    void *d = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(d, ZMQ_LINGER, &linger, sizeof linger);
    char err[512];
    assert_int_equal(assay_curve_client_setup(d, cfg, 0, err, sizeof err), 0);
    assay_curve_watch_t *watch = assay_curve_watch_new(ctx, d);
    assert_non_null(watch);
    assert_int_equal(zmq_connect(d, endpoint), 0);
    zmq_send(d, "hello", 5, ZMQ_DONTWAIT);
    int got = 0, refused = 0;
    for (int i = 0; i < 40 && !got && !refused; i++) {
        zmq_pollitem_t it = {router, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 25) > 0) {
            char buf[64];
            zmq_recv(router, buf, sizeof buf, 0); /* identity */
            int n = zmq_recv(router, buf, sizeof buf, 0);
            got = n == 5 && !memcmp(buf, "hello", 5);
        }
        refused = assay_curve_watch_failed(watch, err, sizeof err);
    }
    /* the worker can tell what went wrong */
    if (refused) assert_non_null(strstr(err, why_refused ? why_refused : "(none expected)"));
    if (!got && why_refused) assert_true(refused);
    assay_curve_watch_destroy(&watch);
    zmq_close(d);
    assay_config_destroy(&cfg);
    return got;
}

static void test_zap(void **state)
{
    (void)state;
    char err[512], p_srv[400], p_ok[400], p_bad[400], key_ok[512], key_bad[512], pub_srv[512];
    assay_curve_keypair_t srv, ok, bad;
    assay_curve_keygen(&srv);
    assay_curve_keygen(&ok);
    assay_curve_keygen(&bad);
    s_path(p_srv, sizeof p_srv, "zsrv");
    s_path(p_ok, sizeof p_ok, "zok");
    s_path(p_bad, sizeof p_bad, "zbad");
    assay_curve_write_keypair(&srv, p_srv, 1, err, sizeof err);
    assay_curve_write_keypair(&ok, p_ok, 1, err, sizeof err);
    assay_curve_write_keypair(&bad, p_bad, 1, err, sizeof err);
    snprintf(key_ok, sizeof key_ok, "%s.key", p_ok);
    snprintf(key_bad, sizeof key_bad, "%s.key", p_bad);
    snprintf(pub_srv, sizeof pub_srv, "%s.pub", p_srv);
    char allow_text[128], allow[400], srvkey[512];
    snprintf(allow_text, sizeof allow_text, "%s ok\n", ok.public_z85);
    s_write("zallow", allow_text);
    s_path(allow, sizeof allow, "zallow");
    snprintf(srvkey, sizeof srvkey, "%s.key", p_srv);

    void *ctx = zmq_ctx_new();
    void *router = zmq_socket(ctx, ZMQ_ROUTER);
    int linger = 0;
    zmq_setsockopt(router, ZMQ_LINGER, &linger, sizeof linger);
    assay_config_t *cfg = assay_config_new();
    assay_config_set(cfg, "broker.secret_key_file", srvkey);
    assay_config_set(cfg, "broker.allowed_keys", allow);
    assay_curve_zap_t *zap = NULL;
    assert_int_equal(assay_curve_server_setup(ctx, router, cfg, &zap, err, sizeof err), 0);
    assert_non_null(zap);
    assert_int_equal(zmq_bind(router, "tcp://127.0.0.1:*"), 0);
    char endpoint[256];
    size_t elen = sizeof endpoint;
    zmq_getsockopt(router, ZMQ_LAST_ENDPOINT, endpoint, &elen);

    assert_true(s_try(ctx, router, endpoint, key_ok, pub_srv, NULL));
    assert_false(s_try(ctx, router, endpoint, key_bad, pub_srv, "allowlist"));
    /* the right key but the wrong server key: no handshake either */
    char wrong_srv[64];
    snprintf(wrong_srv, sizeof wrong_srv, "%s", bad.public_z85);
    assert_false(s_try(ctx, router, endpoint, key_ok, wrong_srv, "broker_public_key"));
    assay_curve_zap_stats_t st;
    assay_curve_zap_stats(zap, &st);
    assert_int_equal(st.allowed, 1);
    assert_true(st.denied >= 1);
    assert_int_equal(st.keys, 1);

    /* allow the second key and reload: now it gets through */
    snprintf(allow_text, sizeof allow_text, "%s ok\n%s bad\n", ok.public_z85, bad.public_z85);
    s_write("zallow", allow_text);
    assay_curve_zap_reload(zap);
    for (int i = 0; i < 50; i++) {
        assay_curve_zap_stats(zap, &st);
        if (st.keys == 2) break;
        usleep(20000);
    }
    assert_int_equal(st.keys, 2);
    assert_true(s_try(ctx, router, endpoint, key_bad, pub_srv, NULL));
    /* a broken allowlist keeps the previous one */
    s_write("zallow", "garbage\n");
    kill(getpid(), SIGHUP);
    usleep(400000);
    assay_curve_zap_stats(zap, &st);
    assert_int_equal(st.keys, 2);
    assert_true(s_try(ctx, router, endpoint, key_ok, pub_srv, NULL));

    zmq_close(router);
    assay_curve_zap_destroy(&zap);
    assay_curve_zap_destroy(&zap);
    zmq_ctx_term(ctx);
    assay_config_destroy(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keypair_roundtrip), cmocka_unit_test(test_bad_key_files),
        cmocka_unit_test(test_allowlist),         cmocka_unit_test(test_settings_errors),
        cmocka_unit_test(test_zap),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
