/*  cmd_keygen.c: `assay keygen --out PREFIX`: a CurveZMQ key pair for a broker or
 *  a worker (PREFIX.key, private, and PREFIX.pub). */
#include "ops/cli/cli.h"

#include "common/curve.h"

#include <string.h>

static const char s_help[] =
    "usage: assay keygen --out PREFIX [--force]\n"
    "\n"
    "Write a new CurveZMQ key pair: PREFIX.key (mode 0600; both keys, for\n"
    "broker.secret_key_file or worker.key_file) and PREFIX.pub (the public key:\n"
    "give the broker's to workers as worker.broker_public_key; append a worker's to\n"
    "the broker's allowlist, broker.allowed_keys, then send the broker SIGHUP).\n"
    "Prints the public key. Existing files are kept unless --force.\n"
    "\n"
    "example:\n"
    "  assay keygen --out /etc/assay/broker\n"
    "  assay keygen --out /etc/assay/worker-a && cat /etc/assay/worker-a.pub >> /etc/assay/workers.allow\n";

int assay_cmd_keygen(assay_cli_t *cli, int argc, char **argv)
{
    (void)cli;
    const char *out = NULL;
    int force = 0;
    for (int i = 1; i < argc; i++) {
        if (assay_cli_is_help(argv[i])) {
            fputs(s_help, stdout);
            return ASSAY_EXIT_OK;
        } else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
            out = argv[++i];
        } else if (strcmp(argv[i], "--force") == 0) {
            force = 1;
        } else {
            assay_cli_error("keygen", "unknown argument \"%s\" (see `assay keygen --help`)",
                            argv[i]);
            return ASSAY_EXIT_USAGE;
        }
    }
    if (!out || !*out) {
        assay_cli_error("keygen", "where to? (usage: assay keygen --out PREFIX)");
        return ASSAY_EXIT_USAGE;
    }
    assay_curve_keypair_t kp;
    if (assay_curve_keygen(&kp) != 0) {
        assay_cli_error("keygen", "this libzmq was built without CURVE support");
        return ASSAY_EXIT_FAIL;
    }
    char err[512];
    int rc = assay_curve_write_keypair(&kp, out, force, err, sizeof err);
    if (rc == 0) printf("%s\n", kp.public_z85);
    explicit_bzero(&kp, sizeof kp);
    if (rc != 0) {
        assay_cli_error("keygen", "%s", err);
        return ASSAY_EXIT_FAIL;
    }
    return ASSAY_EXIT_OK;
}
