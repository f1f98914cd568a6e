/*  cmd_endpoints.c: `assay endpoints`: the model endpoints of the configuration
 *  ([endpoint.NAME] sections, loaded with worker/llm/endpoint.h exactly as workers load
 *  them), so an operator sees what the workers will use and which endpoints would
 *  fail to load. API keys are never printed: only whether one is configured. */
#include "ops/cli/cli.h"

#include "common/util.h"
#include "worker/llm/endpoint.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char s_help[] =
    "usage: assay endpoints [--json]\n"
    "\n"
    "List the endpoints configured as [endpoint.NAME] sections (or ASSAY_ENDPOINT_*\n"
    "variables for sections the file names): URL, model, reasoning style, prices per\n"
    "million tokens, rate limits, and whether an API key is set. Each endpoint is\n"
    "loaded as a worker would load it; one that fails (missing base_url or model, key\n"
    "variable unset, unreadable key file) is listed with the reason, and the command\n"
    "exits with 1. No database is needed. API keys are never shown.\n"
    "\n"
    "examples:\n"
    "  assay endpoints\n"
    "  assay --config /etc/assay/assay.conf endpoints --json | jq '.[].name'\n";

typedef struct {
    char **names;
    size_t n;
} s_names_t;

static void s_collect(const char *name, void *arg)
{
    s_names_t *ns = arg;
    ns->names = assay_realloc(ns->names, (ns->n + 1) * sizeof *ns->names);
    ns->names[ns->n++] = assay_strdup(name);
}

int assay_cmd_endpoints(assay_cli_t *cli, int argc, char **argv)
{
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (assay_cli_is_help(argv[i])) {
            fputs(s_help, stdout);
            return ASSAY_EXIT_OK;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else {
            assay_cli_error("endpoints", "unknown argument \"%s\" (see `assay endpoints --help`)",
                            argv[i]);
            return ASSAY_EXIT_USAGE;
        }
    }
    s_names_t ns = {0};
    assay_config_sections(cli->config, "endpoint.", s_collect, &ns);
    int bad = 0;
    json_t *arr = json_array();
    if (!json && ns.n)
        printf("%-12s %-5s %-40s %-24s %-5s %9s %9s %6s %8s %5s  %s\n", "NAME", "OK", "URL",
               "MODEL", "STYLE", "$IN/MTOK", "$OUT/MTOK", "RPM", "TPM", "CONC", "API KEY");
    for (size_t k = 0; k < ns.n; k++) {
        char err[512];
        assay_endpoint_t *ep = assay_endpoint_load(cli->config, ns.names[k], err, sizeof err);
        if (!ep) {
            bad = 1;
            if (json)
                json_array_append_new(
                    arr, json_pack("{s:s,s:b,s:s}", "name", ns.names[k], "ok", 0, "error", err));
            else
                printf("%-12s %-5s %s\n", ns.names[k], "no", err);
            continue;
        }
        const char *key = ep->api_key ? "set" : "none";
        if (json)
            json_array_append_new(
                arr, json_pack("{s:s,s:b,s:s,s:s,s:s,s:f,s:f,s:I,s:I,s:I,s:b,s:b,s:s}", "name",
                               ep->name, "ok", 1, "url", ep->url, "model", ep->model, "style",
                               assay_llm_style_name(ep->style), "price_in_per_mtok",
                               ep->price_in_per_mtok, "price_out_per_mtok", ep->price_out_per_mtok,
                               "rpm", (json_int_t)ep->rpm, "tpm", (json_int_t)ep->tpm,
                               "max_concurrency", (json_int_t)ep->max_concurrency, "supports_n",
                               ep->supports_n, "stream", ep->stream, "api_key", key));
        else
            printf("%-12s %-5s %-40s %-24s %-5s %9.2f %9.2f %6ld %8ld %5ld  %s\n", ep->name, "yes",
                   ep->url, ep->model, assay_llm_style_name(ep->style), ep->price_in_per_mtok,
                   ep->price_out_per_mtok, ep->rpm, ep->tpm, ep->max_concurrency, key);
        assay_endpoint_destroy(&ep);
    }
    if (json) {
        char *s = json_dumps(arr, JSON_COMPACT);
        puts(s);
        free(s);
    } else if (ns.n == 0) {
        const char *path = assay_config_path(cli->config);
        printf("no endpoints configured (add an [endpoint.NAME] section with base_url and model "
               "to %s)\n",
               path ? path : "assay.conf");
    }
    json_decref(arr);
    for (size_t k = 0; k < ns.n; k++)
        free(ns.names[k]);
    free(ns.names);
    if (bad) {
        fprintf(stderr, "assay endpoints: some endpoints cannot be loaded (see above); workers "
                        "fail the tasks that use them\n");
        return ASSAY_EXIT_FAIL;
    }
    return ASSAY_EXIT_OK;
}
