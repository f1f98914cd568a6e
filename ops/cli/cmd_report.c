/*  cmd_report.c: `assay report [JOB] [--json] [--html FILE]`: the figures of the
 *  SQL reporting views (sql/020_reporting.sql) for one job or all jobs, as terminal
 *  tables, as JSON, or as one self-contained HTML file whose charts are inline SVG
 *  drawn here (no script, no style sheet or font from the network).
 */
#include "ops/cli/cli.h"
#include "ops/cli/table.h"

#include "common/util.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char s_help[] =
    "usage: assay report [JOB] [--json] [--html FILE]\n"
    "\n"
    "The reporting figures of one job (or of every job without JOB), read from the\n"
    "report_* views: the funnel by stage, pass rates per round (summary and\n"
    "histogram), category / intent / tag mix of the items and of exported datasets,\n"
    "token spend and cost per endpoint, job and day, throughput and latency\n"
    "percentiles per task kind and worker, retries, dead tasks and stalled stages\n"
    "by reason, leak removal (spans by reason category), and score distributions\n"
    "per scorer.\n"
    "\n"
    "  --json        every section as a JSON array of rows, in one object\n"
    "  --html FILE   write one self-contained HTML file with SVG charts (funnel,\n"
    "                pass-rate histograms per round, cost over time, throughput per\n"
    "                task kind, score distributions) and the tables; it needs no\n"
    "                network to view. Written under a temporary name and renamed.\n"
    "\n"
    "examples:\n"
    "  assay report 12\n"
    "  assay report 12 --html report-12.html && xdg-open report-12.html\n"
    "  assay report --json | jq '.spend_by_endpoint'\n";

/* $1 is the job id, or NULL for every job */
#define S_JOB "($1::bigint IS NULL OR job_id = $1::bigint)"

typedef struct {
    const char *key;
    const char *title;
    const char *sql;
} s_section_t;

static const s_section_t s_sections[] = {
    {"funnel", "Funnel by stage (report_job_funnel)",
     "SELECT job_id, stage_idx, stage, kind, round, job_items, items_in, items_done,"
     " round(100.0 * items_done / nullif(job_items, 0), 1) AS pct_items_done,"
     " tasks, done, dead, cancelled, open, samples"
     " FROM report_job_funnel WHERE " S_JOB " ORDER BY job_id, stage_idx"},
    {"pass_rate", "Pass rate per round (report_pass_rate)",
     "SELECT job_id, round, count(*) AS items, sum(samples)::bigint AS samples,"
     " round(avg(pass_rate)::numeric, 3) AS mean_pass_rate,"
     " count(*) FILTER (WHERE pass_rate = 0) AS none_passed,"
     " count(*) FILTER (WHERE pass_rate = 1) AS all_passed"
     " FROM report_pass_rate WHERE " S_JOB " GROUP BY job_id, round ORDER BY job_id, round"},
    {"pass_rate_histogram", "Pass-rate histogram per round (report_pass_rate_histogram)",
     "SELECT job_id, round, bucket, lo, hi, items FROM report_pass_rate_histogram"
     " WHERE " S_JOB " ORDER BY job_id, round, bucket"},
    {"item_mix", "Item mix of the job's dataset (report_item_mix; top 12 per dimension)",
     "SELECT dataset, dimension, value, items, round(share::numeric, 3) AS share FROM ("
     " SELECT m.*, row_number() OVER (PARTITION BY dataset, dimension"
     "  ORDER BY items DESC, value) AS rank FROM report_item_mix m"
     " WHERE $1::bigint IS NULL OR dataset IN (SELECT j.dataset FROM report_jobs j WHERE j.job_id = "
     "$1::bigint)"
     ") x WHERE rank <= 12 ORDER BY dataset, dimension, items DESC, value"},
    {"dataset_mix", "Mix of exported datasets (report_dataset_mix; top 12 per dimension)",
     "SELECT dataset_id, dataset, format, dimension, value, rows,"
     " round(share::numeric, 3) AS share FROM ("
     " SELECT m.*, row_number() OVER (PARTITION BY dataset_id, dimension"
     "  ORDER BY rows DESC, value) AS rank FROM report_dataset_mix m WHERE " S_JOB
     ") x WHERE rank <= 12 ORDER BY dataset_id, dimension, rows DESC, value"},
    {"spend_by_endpoint", "Spend per endpoint (report_spend)",
     "SELECT endpoint, model, sum(samples)::bigint AS samples, sum(cached)::bigint AS cached,"
     " sum(prompt_tokens)::bigint AS prompt_tokens,"
     " sum(completion_tokens)::bigint AS completion_tokens,"
     " sum(reasoning_tokens)::bigint AS reasoning_tokens,"
     " round(sum(cost_usd)::numeric, 4) AS cost_usd"
     " FROM report_spend WHERE " S_JOB
     " GROUP BY endpoint, model ORDER BY cost_usd DESC, endpoint"},
    {"spend_by_job", "Spend per job (report_spend)",
     "SELECT job_id, sum(samples)::bigint AS samples,"
     " sum(prompt_tokens + completion_tokens)::bigint AS tokens,"
     " round(sum(cost_usd)::numeric, 4) AS cost_usd"
     " FROM report_spend WHERE " S_JOB " GROUP BY job_id ORDER BY job_id"},
    {"spend_by_day", "Spend per day (report_spend)",
     "SELECT day::text AS day, sum(samples)::bigint AS samples,"
     " sum(prompt_tokens + completion_tokens)::bigint AS tokens,"
     " round(sum(cost_usd)::numeric, 4) AS cost_usd"
     " FROM report_spend WHERE " S_JOB " GROUP BY day ORDER BY day"},
    {"latency", "Throughput and latency per task kind and worker (report_task_latency)",
     "SELECT job_id, kind, coalesce(worker, '(all)') AS worker, done,"
     " round(per_second::numeric, 2) AS per_second, round(mean_ms::numeric, 1) AS mean_ms,"
     " round(p50_ms::numeric, 1) AS p50_ms, round(p90_ms::numeric, 1) AS p90_ms,"
     " round(p99_ms::numeric, 1) AS p99_ms, round(max_ms::numeric, 1) AS max_ms"
     " FROM report_task_latency WHERE " S_JOB " ORDER BY job_id, kind, worker IS NOT NULL, worker"},
    {"failures", "Retries, dead tasks and stalled stages by reason (report_failures)",
     "SELECT job_id, stage, kind, reason, tasks, dead, recovered, retrying, extra_attempts,"
     " left(example, 80) AS example"
     " FROM report_failures WHERE " S_JOB " ORDER BY job_id, tasks DESC, reason"},
    {"leak_removal", "Leak removal (report_leak_removal)",
     "SELECT job_id, stage, cases, cases_with_removals, spans_removed,"
     " round(spans_per_case::numeric, 2) AS spans_per_case, residual_flagged,"
     " round(residual_leak_mean::numeric, 3) AS residual_leak_mean,"
     " round(residual_leak_max::numeric, 3) AS residual_leak_max"
     " FROM report_leak_removal WHERE " S_JOB " ORDER BY job_id, stage"},
    {"leak_reasons", "Removed spans by reason category (report_leak_reasons)",
     "SELECT job_id, stage, reason, spans, cases, distinct_reasons, left(example, 60) AS example"
     " FROM report_leak_reasons WHERE " S_JOB " ORDER BY job_id, stage, spans DESC, reason"},
    {"scores", "Scores per scorer (report_score_summary)",
     "SELECT job_id, scorer, scores, valued, round(mean::numeric, 3) AS mean,"
     " round(min::numeric, 3) AS min, round(median::numeric, 3) AS median,"
     " round(max::numeric, 3) AS max"
     " FROM report_score_summary WHERE " S_JOB " ORDER BY job_id, scorer"},
    {"score_distribution", "Score distribution per scorer (report_score_distribution)",
     "SELECT job_id, scorer, bucket, lo, hi, scores FROM report_score_distribution"
     " WHERE " S_JOB " ORDER BY job_id, scorer, bucket"},
};

#define S_NSECTIONS (sizeof s_sections / sizeof s_sections[0])

static PGresult *s_find(PGresult **res, const char *key)
{
    for (size_t i = 0; i < S_NSECTIONS; i++)
        if (strcmp(s_sections[i].key, key) == 0) return res[i];
    return NULL;
}

static const char *s_val(const PGresult *res, int row, const char *col)
{
    int c = PQfnumber(res, col);
    return c < 0 || PQgetisnull(res, row, c) ? "" : PQgetvalue(res, row, c);
}

static double s_num(const PGresult *res, int row, const char *col)
{
    return strtod(s_val(res, row, col), NULL);
}

/* ------------------------------------------------------------------ HTML */

static void s_esc(assay_buf_t *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            assay_buf_adds(b, "&lt;");
            break;
        case '>':
            assay_buf_adds(b, "&gt;");
            break;
        case '&':
            assay_buf_adds(b, "&amp;");
            break;
        case '"':
            assay_buf_adds(b, "&quot;");
            break;
        default:
            assay_buf_addc(b, *s);
        }
    }
}

typedef struct {
    char label[96];
    double value;
    char note[64]; /* text shown by the bar; empty = the value */
} s_bar_t;

static void s_fmt(char *out, size_t len, double v)
{
    if (v != 0 && (v < 0.01 && v > -0.01))
        snprintf(out, len, "%.2g", v);
    else if (v > -1e15 && v < 1e15 && v == (double)(long long)v)
        snprintf(out, len, "%lld", (long long)v);
    else
        snprintf(out, len, "%.3g", v);
}

/* a vertical bar chart (histograms, series over time) */
static void s_svg_vbars(assay_buf_t *b, const char *title, const char *yname, const s_bar_t *bars,
                        size_t n)
{
    const double W = 520, H = 240, L = 48, R = 12, T = 28, B = 48;
    double max = 0;
    for (size_t i = 0; i < n; i++)
        if (bars[i].value > max) max = bars[i].value;
    if (max <= 0) max = 1;
    double slot = (W - L - R) / (double)(n ? n : 1), bw = slot * 0.8;
    assay_buf_addf(b,
                   "<figure class=\"chart\"><svg xmlns=\"http://www.w3.org/2000/svg\" "
                   "width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\">",
                   W, H, W, H);
    assay_buf_adds(b, "<title>");
    s_esc(b, title);
    assay_buf_adds(b, "</title><text class=\"t\" x=\"8\" y=\"18\">");
    s_esc(b, title);
    assay_buf_addf(b,
                   "</text><line class=\"axis\" x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\"/>",
                   L, H - B, W - R, H - B);
    assay_buf_addf(b, "<line class=\"axis\" x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\"/>", L,
                   T, L, H - B);
    char mx[32];
    s_fmt(mx, sizeof mx, max);
    assay_buf_addf(b, "<text class=\"y\" x=\"%.0f\" y=\"%.0f\">%s</text>", L - 4, T + 4, mx);
    assay_buf_addf(b, "<text class=\"y\" x=\"%.0f\" y=\"%.0f\">0</text>", L - 4, H - B + 4);
    assay_buf_addf(b, "<text class=\"yn\" x=\"10\" y=\"%.0f\" transform=\"rotate(-90 10 %.0f)\">",
                   (T + H - B) / 2, (T + H - B) / 2);
    s_esc(b, yname);
    assay_buf_adds(b, "</text>");
    for (size_t i = 0; i < n; i++) {
        double h = (H - B - T) * bars[i].value / max;
        double x = L + slot * (double)i + (slot - bw) / 2, y = H - B - h;
        assay_buf_addf(b,
                       "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\">"
                       "<title>",
                       x, y, bw, h);
        s_esc(b, bars[i].label);
        char v[32];
        s_fmt(v, sizeof v, bars[i].value);
        assay_buf_addf(b, ": %s</title></rect>", v);
        assay_buf_addf(b, "<text class=\"v\" x=\"%.1f\" y=\"%.1f\">%s</text>", x + bw / 2, y - 3,
                       bars[i].note[0] ? bars[i].note : v);
        /* slanted labels fit many narrow bars */
        assay_buf_addf(
            b, "<text class=\"x\" x=\"%.1f\" y=\"%.1f\" transform=\"rotate(-30 %.1f %.1f)\">",
            x + bw / 2, H - B + 14, x + bw / 2, H - B + 14);
        s_esc(b, bars[i].label);
        assay_buf_adds(b, "</text>");
    }
    assay_buf_adds(b, "</svg></figure>\n");
}

/* a horizontal bar chart (funnel, per-kind figures); max <= 0 = the largest value */
static void s_svg_hbars(assay_buf_t *b, const char *title, const s_bar_t *bars, size_t n,
                        double max)
{
    const double W = 620, L = 190, R = 120, T = 30, row = 26;
    double H = T + row * (double)n + 10;
    if (max <= 0)
        for (size_t i = 0; i < n; i++)
            if (bars[i].value > max) max = bars[i].value;
    if (max <= 0) max = 1;
    assay_buf_addf(b,
                   "<figure class=\"chart\"><svg xmlns=\"http://www.w3.org/2000/svg\" "
                   "width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\">",
                   W, H, W, H);
    assay_buf_adds(b, "<title>");
    s_esc(b, title);
    assay_buf_adds(b, "</title><text class=\"t\" x=\"8\" y=\"18\">");
    s_esc(b, title);
    assay_buf_adds(b, "</text>");
    for (size_t i = 0; i < n; i++) {
        double y = T + row * (double)i, w = (W - L - R) * bars[i].value / max;
        char v[32];
        s_fmt(v, sizeof v, bars[i].value);
        assay_buf_addf(b, "<text class=\"l\" x=\"%.0f\" y=\"%.1f\">", L - 6, y + 16);
        s_esc(b, bars[i].label);
        assay_buf_addf(b,
                       "</text><rect class=\"track\" x=\"%.0f\" y=\"%.1f\" width=\"%.1f\" "
                       "height=\"18\"/>",
                       L, y + 3, W - L - R);
        assay_buf_addf(b,
                       "<rect class=\"bar\" x=\"%.0f\" y=\"%.1f\" width=\"%.1f\" height=\"18\">"
                       "<title>",
                       L, y + 3, w);
        s_esc(b, bars[i].label);
        assay_buf_addf(b, ": %s</title></rect>", v);
        assay_buf_addf(b, "<text class=\"hv\" x=\"%.1f\" y=\"%.1f\">", L + w + 6, y + 16);
        s_esc(b, bars[i].note[0] ? bars[i].note : v);
        assay_buf_adds(b, "</text>");
    }
    assay_buf_adds(b, "</svg></figure>\n");
}

static void s_html_table(assay_buf_t *b, const PGresult *res)
{
    int nf = PQnfields(res), nr = PQntuples(res);
    if (nr == 0) {
        assay_buf_adds(b, "<p class=\"none\">no rows</p>\n");
        return;
    }
    assay_buf_adds(b, "<table><thead><tr>");
    for (int c = 0; c < nf; c++) {
        assay_buf_adds(b, "<th>");
        s_esc(b, PQfname(res, c));
        assay_buf_adds(b, "</th>");
    }
    assay_buf_adds(b, "</tr></thead><tbody>\n");
    for (int r = 0; r < nr; r++) {
        assay_buf_adds(b, "<tr>");
        for (int c = 0; c < nf; c++) {
            assay_buf_adds(b, assay_cli_table_numeric(res, c) ? "<td class=\"n\">" : "<td>");
            s_esc(b, PQgetisnull(res, r, c) ? "-" : PQgetvalue(res, r, c));
            assay_buf_adds(b, "</td>");
        }
        assay_buf_adds(b, "</tr>\n");
    }
    assay_buf_adds(b, "</tbody></table>\n");
}

/* bars for one group of a 10-bucket histogram (rows where col group_col equals
 * the first row's value, starting at *row); advances *row past the group */
static void s_histogram(assay_buf_t *b, const PGresult *res, int *row, const char *what,
                        const char *group_col, const char *count_col)
{
    int nr = PQntuples(res);
    const char *job = s_val(res, *row, "job_id");
    char group[128];
    snprintf(group, sizeof group, "%s", s_val(res, *row, group_col));
    s_bar_t bars[10];
    memset(bars, 0, sizeof bars);
    for (int k = 0; k < 10; k++)
        snprintf(bars[k].label, sizeof bars[k].label, "%.1f-%.1f", k / 10.0, (k + 1) / 10.0);
    char jobs[32];
    snprintf(jobs, sizeof jobs, "%s", job);
    while (*row < nr && strcmp(s_val(res, *row, "job_id"), jobs) == 0 &&
           strcmp(s_val(res, *row, group_col), group) == 0) {
        int k = atoi(s_val(res, *row, "bucket"));
        if (k >= 0 && k < 10) bars[k].value = s_num(res, *row, count_col);
        (*row)++;
    }
    char title[256];
    snprintf(title, sizeof title, "Job %s, %s %s: %s", jobs, group_col, group, what);
    s_svg_vbars(b, title, count_col, bars, 10);
}

static void s_html_charts(assay_buf_t *b, PGresult **res, const char *key)
{
    if (strcmp(key, "funnel") == 0) {
        PGresult *r = s_find(res, "funnel");
        for (int i = 0; i < PQntuples(r);) {
            char job[32];
            snprintf(job, sizeof job, "%s", s_val(r, i, "job_id"));
            double items = s_num(r, i, "job_items");
            size_t n = 0;
            s_bar_t *bars = NULL;
            for (; i < PQntuples(r) && strcmp(s_val(r, i, "job_id"), job) == 0; i++, n++) {
                bars = assay_realloc(bars, (n + 1) * sizeof *bars);
                snprintf(bars[n].label, sizeof bars[n].label, "%s (%s)", s_val(r, i, "stage"),
                         s_val(r, i, "kind"));
                bars[n].value = s_num(r, i, "items_done");
                snprintf(bars[n].note, sizeof bars[n].note, "%s / %.0f items",
                         s_val(r, i, "items_done"), items);
            }
            char title[96];
            snprintf(title, sizeof title, "Job %s funnel: items through each stage", job);
            s_svg_hbars(b, title, bars, n, items);
            free(bars);
        }
    } else if (strcmp(key, "pass_rate_histogram") == 0) {
        PGresult *r = s_find(res, key);
        for (int i = 0; i < PQntuples(r);)
            s_histogram(b, r, &i, "items by pass rate", "round", "items");
    } else if (strcmp(key, "spend_by_day") == 0) {
        PGresult *r = s_find(res, key);
        int n = PQntuples(r);
        if (n == 0) return;
        s_bar_t *bars = assay_malloc((size_t)n * sizeof *bars);
        for (int i = 0; i < n; i++) {
            snprintf(bars[i].label, sizeof bars[i].label, "%s", s_val(r, i, "day"));
            bars[i].value = s_num(r, i, "cost_usd");
            snprintf(bars[i].note, sizeof bars[i].note, "$%s", s_val(r, i, "cost_usd"));
        }
        s_svg_vbars(b, "Cost over time (USD per day)", "USD", bars, (size_t)n);
        free(bars);
    } else if (strcmp(key, "latency") == 0) {
        PGresult *r = s_find(res, key);
        size_t n = 0;
        s_bar_t *bars = NULL;
        for (int i = 0; i < PQntuples(r); i++) {
            if (strcmp(s_val(r, i, "worker"), "(all)") != 0) continue;
            bars = assay_realloc(bars, (n + 1) * sizeof *bars);
            snprintf(bars[n].label, sizeof bars[n].label, "job %s %s", s_val(r, i, "job_id"),
                     s_val(r, i, "kind"));
            bars[n].value = s_num(r, i, "per_second");
            snprintf(bars[n].note, sizeof bars[n].note, "%s/s, p50 %s ms",
                     s_val(r, i, "per_second"), s_val(r, i, "p50_ms"));
            n++;
        }
        if (n) s_svg_hbars(b, "Throughput per task kind (tasks per second)", bars, n, 0);
        free(bars);
    } else if (strcmp(key, "score_distribution") == 0) {
        PGresult *r = s_find(res, key);
        for (int i = 0; i < PQntuples(r);)
            s_histogram(b, r, &i, "score distribution", "scorer", "scores");
    }
}

static const char s_css[] =
    "body{font-family:sans-serif,\"Noto Sans CJK SC\",\"WenQuanYi Zen "
    "Hei\";margin:24px;color:#1d2330;background:#fff}"
    "h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #d5d9e0}"
    "table{border-collapse:collapse;font-size:13px;margin:8px 0}"
    "th,td{border:1px solid #d5d9e0;padding:3px "
    "8px;text-align:left}td.n{text-align:right}th{background:#eef1f6}"
    "figure.chart{display:inline-block;margin:8px 16px 8px 0}"
    "svg .bar{fill:#3b6fd6}svg .track{fill:#eef1f6}svg .axis{stroke:#555;stroke-width:1}"
    "svg text{font-size:11px;fill:#1d2330}svg .t{font-size:13px;font-weight:bold}"
    "svg .v,svg .x{text-anchor:middle}svg .x{text-anchor:end}svg .y{text-anchor:end}"
    "svg .l{text-anchor:end}svg .yn{text-anchor:middle}p.none{color:#777}"
    "nav a{margin-right:10px}\n";

static int s_write_html(const char *path, PGresult **res, const char *heading)
{
    assay_buf_t b;
    assay_buf_init(&b);
    assay_buf_adds(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                       "<link rel=\"icon\" href=\"data:,\"><title>");
    s_esc(&b, heading);
    assay_buf_addf(&b, "</title><style>%s</style></head><body>\n<h1>", s_css);
    s_esc(&b, heading);
    char when[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
    assay_buf_addf(&b, "</h1>\n<p>generated %s by assay %s</p>\n<nav>", when, ASSAY_VERSION);
    for (size_t i = 0; i < S_NSECTIONS; i++)
        assay_buf_addf(&b, "<a href=\"#%s\">%s</a> ", s_sections[i].key, s_sections[i].key);
    assay_buf_adds(&b, "</nav>\n");
    for (size_t i = 0; i < S_NSECTIONS; i++) {
        assay_buf_addf(&b, "<section id=\"%s\"><h2>", s_sections[i].key);
        s_esc(&b, s_sections[i].title);
        assay_buf_adds(&b, "</h2>\n");
        s_html_charts(&b, res, s_sections[i].key);
        s_html_table(&b, res[i]);
        assay_buf_adds(&b, "</section>\n");
    }
    assay_buf_adds(&b, "</body></html>\n");

    char *tmp = assay_sprintf("%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "w");
    int rc = ASSAY_EXIT_OK;
    if (!f) {
        assay_cli_error("report", "could not create \"%s\": %s", tmp, strerror(errno));
        rc = ASSAY_EXIT_FAIL;
    } else {
        size_t w = fwrite(b.data, 1, b.len, f);
        if (fclose(f) != 0 || w != b.len) {
            assay_cli_error("report", "could not write \"%s\": %s", tmp, strerror(errno));
            rc = ASSAY_EXIT_FAIL;
        } else if (rename(tmp, path) != 0) {
            assay_cli_error("report", "could not rename \"%s\" to \"%s\": %s", tmp, path,
                            strerror(errno));
            rc = ASSAY_EXIT_FAIL;
        }
        if (rc != ASSAY_EXIT_OK) unlink(tmp);
    }
    free(tmp);
    assay_buf_release(&b);
    return rc;
}

/* ------------------------------------------------------------------ command */

int assay_cmd_report(assay_cli_t *cli, int argc, char **argv)
{
    long long job = 0;
    int json = 0;
    const char *html = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (assay_cli_is_help(a)) {
            fputs(s_help, stdout);
            return ASSAY_EXIT_OK;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--html") == 0) {
            if (i + 1 >= argc || argv[i + 1][0] == '\0') {
                assay_cli_error("report", "--html needs a file name (e.g. --html report.html)");
                return ASSAY_EXIT_USAGE;
            }
            html = argv[++i];
        } else if (a[0] != '-' && !job) {
            job = assay_cli_job_id("report", a);
            if (job < 0) return ASSAY_EXIT_USAGE;
        } else {
            assay_cli_error("report", "unknown argument \"%s\" (see `assay report --help`)", a);
            return ASSAY_EXIT_USAGE;
        }
    }
    if (json && html) {
        assay_cli_error("report", "--json and --html exclude each other (pick one)");
        return ASSAY_EXIT_USAGE;
    }
    assay_db_t *db = assay_cli_db(cli);
    if (!db) return ASSAY_EXIT_DB;

    char jid[32], heading[256];
    snprintf(jid, sizeof jid, "%lld", job);
    const char *p[] = {job ? jid : NULL};
    snprintf(heading, sizeof heading, "assay report: all jobs");
    if (job) {
        PGresult *jr = assay_db_query(db, "SELECT name, state FROM report_jobs WHERE job_id = $1", 1, p);
        if (!jr) {
            assay_cli_error("report", "%s", assay_db_error(db));
            return ASSAY_EXIT_DB;
        }
        if (PQntuples(jr) == 0) {
            PQclear(jr);
            assay_cli_error("report", "job %lld does not exist (see `assay jobs`)", job);
            return ASSAY_EXIT_NOTFOUND;
        }
        snprintf(heading, sizeof heading, "assay report: job %lld %s [%s]", job,
                 PQgetvalue(jr, 0, 0), PQgetvalue(jr, 0, 1));
        PQclear(jr);
    }

    PGresult *res[S_NSECTIONS] = {0};
    int rc = ASSAY_EXIT_OK;
    for (size_t i = 0; i < S_NSECTIONS; i++) {
        res[i] = assay_db_query(db, s_sections[i].sql, 1, p);
        if (!res[i]) {
            assay_cli_error("report", "could not read section %s: %s%s", s_sections[i].key,
                            assay_db_error(db),
                            strstr(assay_db_error(db), "does not exist")
                                ? " (run `assay db migrate` to create the reporting views)"
                                : "");
            rc = ASSAY_EXIT_DB;
            goto out;
        }
    }
    if (html) {
        rc = s_write_html(html, res, heading);
        if (rc == ASSAY_EXIT_OK) printf("wrote %s\n", html);
    } else if (json) {
        json_t *o = json_object();
        json_object_set_new(o, "job", job ? json_integer(job) : json_null());
        for (size_t i = 0; i < S_NSECTIONS; i++)
            json_object_set_new(o, s_sections[i].key, assay_cli_table_json(res[i]));
        char *s = json_dumps(o, JSON_COMPACT);
        puts(s);
        free(s);
        json_decref(o);
    } else {
        printf("%s%s%s\n\n", cli->color ? "\033[1m" : "", heading, cli->color ? "\033[0m" : "");
        for (size_t i = 0; i < S_NSECTIONS; i++)
            assay_cli_table_print(stdout, res[i], s_sections[i].title, cli->color);
    }
out:
    for (size_t i = 0; i < S_NSECTIONS; i++)
        PQclear(res[i]);
    return rc;
}
