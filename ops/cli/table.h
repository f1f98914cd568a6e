/*  table.h: query results of the read commands as aligned terminal tables or as
 *  JSON (arrays of objects typed from the column types), so every read command
 *  prints both forms the same way. Display widths count East Asian wide
 *  characters (categories and intents are Chinese) as two columns.
 */
#ifndef ASSAY_CLI_TABLE_H
#define ASSAY_CLI_TABLE_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>

/* print res as a table under an optional title (bold when color); numbers are
 * right-aligned, NULL shows as "-", an empty result as "(none)" */
void assay_cli_table_print(FILE *out, const PGresult *res, const char *title, int color);

/* res as a new JSON array of objects keyed by column name: integer, float and
 * boolean columns become JSON numbers and booleans, NULL becomes null. The caller
 * owns the reference. */
json_t *assay_cli_table_json(const PGresult *res);

/* true when column col of res holds numbers (shown right-aligned) */
int assay_cli_table_numeric(const PGresult *res, int col);

/* the display width of a UTF-8 string in terminal columns */
int assay_cli_display_width(const char *s);

#endif
