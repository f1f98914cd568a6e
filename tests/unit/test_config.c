/*  test_config.c: unit tests for common/config */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/config.h"
#include "common/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *s_write(const char *text)
{
    char *path = strdup("/tmp/assay-config-test-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void s_count(const char *name, void *arg)
{
    char *names = arg;
    strcat(names, name);
    strcat(names, ",");
}

static void test_load_and_env(void **state)
{
    (void)state;
    char *path = s_write("# comment\n"
                         "db = postgresql:///x\n"
                         "\n"
                         "[broker]\n"
                         "bind = tcp://*:1\n"
                         "lease_seconds = 30\n"
                         "[endpoint.sim]\n"
                         "base_url = \"http://127.0.0.1:9/v1\"\n"
                         "[endpoint.o3]\n"
                         "model = o3\n");
    assay_config_t *c = assay_config_new();
    char err[256];
    assert_int_equal(assay_config_load(c, path, err, sizeof err), 0);
    unsetenv("ASSAY_DB");
    assert_string_equal(assay_config_get(c, "db", NULL), "postgresql:///x");
    assert_int_equal(assay_config_get_long(c, "broker.lease_seconds", 1), 30);
    assert_string_equal(assay_config_get(c, "endpoint.sim.base_url", NULL), "http://127.0.0.1:9/v1");
    assert_null(assay_config_get(c, "nothing", NULL));
    setenv("ASSAY_BROKER_BIND", "tcp://*:2", 1);
    assert_string_equal(assay_config_get(c, "broker.bind", NULL), "tcp://*:2");
    /* a value the program sets (a command-line flag) wins over the environment */
    setenv("ASSAY_BROKER_BIND", "tcp://*:2", 1);
    assay_config_set(c, "broker.bind", "tcp://*:3");
    assert_string_equal(assay_config_get(c, "broker.bind", NULL), "tcp://*:3");
    unsetenv("ASSAY_BROKER_BIND");
    char names[64] = "";
    assert_int_equal(assay_config_sections(c, "endpoint.", s_count, names), 2);
    assert_string_equal(names, "sim,o3,");
    char env[64];
    assay_config_env_name("endpoint.sim.base-url", env, sizeof env);
    assert_string_equal(env, "ASSAY_ENDPOINT_SIM_BASE_URL");
    assay_config_destroy(&c);
    assert_null(c);
    assay_config_destroy(&c);
    unlink(path);
    free(path);
}

static void test_errors(void **state)
{
    (void)state;
    char *path = s_write("db = x\nthis line has no equals\n");
    assay_config_t *c = assay_config_new();
    char err[256];
    assert_int_equal(assay_config_load(c, path, err, sizeof err), ASSAY_EPARSE);
    assert_non_null(strstr(err, ":2:"));
    assert_non_null(strstr(err, "key = value"));
    unlink(path);
    free(path);
    assert_int_equal(assay_config_load(c, "/nonexistent/assay.conf", err, sizeof err), ASSAY_EIO);
    assert_non_null(strstr(err, "could not open config file"));
    path = s_write("[broken\n");
    assert_int_equal(assay_config_load(c, path, err, sizeof err), ASSAY_EPARSE);
    unlink(path);
    free(path);
    assay_config_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_and_env),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
