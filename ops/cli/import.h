/*  import.h: validation of one input item (a JSONL line) before it is imported.
 *
 *  Accepted fields: id, kind (mcq|case|open, inferred when absent), question,
 *  text (case record; stands for question), context, options ({"A": "...", ...}),
 *  answer (diagnosis and reference_answer are accepted as its synonyms), gold_codes
 *  (array of strings), category, tags (array of strings), source, fields (named
 *  sections of a case record), priority (an integer: higher runs first; anything
 *  else is an error, not 0). Other fields are kept verbatim in items.record.
 */
#ifndef ASSAY_IMPORT_H
#define ASSAY_IMPORT_H

#include "common/util.h"

#include <jansson.h>
#include <stddef.h>

typedef struct {
    const char *kind;     /* points into static storage */
    const char *question; /* borrowed from the parsed item */
    char hash[65];        /* content hash (hex SHA-256) */
} assay_item_info_t;

/* validate a parsed line; returns 0 and fills info, or -1 with "field "x": what is
 * wrong (expected ...)" in err */
int assay_item_check(const json_t *item, assay_item_info_t *info, char *err, size_t errlen);

/* The columns of items that an import fills, in the order of the COPY rows that
 * assay_item_copy_row() writes. */
#define ASSAY_ITEM_COPY_COLUMNS                                                                    \
    "dataset, ext_id, kind, question, context, options, answer, gold_codes, category, tags,"       \
    " source, record, content_hash"

/* append the COPY text-format row (ASSAY_ITEM_COPY_COLUMNS, newline-terminated) of a
 * line that passed assay_item_check(): the fields are extracted here so the server
 * does no per-row JSON work. The values equal what the SQL extraction gives:
 * ext_id = record->>'id', answer = the first of answer, diagnosis, reference_answer,
 * options only when an object, gold_codes and tags '{}' when absent. line (len bytes)
 * is the verbatim record. */
void assay_item_copy_row(assay_buf_t *row, const char *dataset, const json_t *item,
                         const assay_item_info_t *info, const char *line, size_t len);

/* the largest line accepted (bytes) */
#define ASSAY_ITEM_MAX_BYTES (4u * 1024u * 1024u)

#endif
