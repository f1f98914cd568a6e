/*  import.h: validation of one input item (a JSONL line) before it is imported.
 *
 *  Accepted fields: id, kind (mcq|case|open, inferred when absent), question,
 *  text (case record; stands for question), context, options ({"A": "...", ...}),
 *  answer (diagnosis and reference_answer are accepted as its synonyms), gold_codes
 *  (array of strings), category, tags (array of strings), source, fields (named
 *  sections of a case record). Other fields are kept verbatim in items.record.
 */
#ifndef ASSAY_IMPORT_H
#define ASSAY_IMPORT_H

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

/* the largest line accepted (bytes) */
#define ASSAY_ITEM_MAX_BYTES (4u * 1024u * 1024u)

#endif
