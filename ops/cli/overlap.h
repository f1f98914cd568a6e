/*  overlap.h: decontamination against an evaluation set by long shared substrings.
 *
 *  Every run of `window` characters (Unicode code points, white space dropped) of
 *  the evaluation texts goes into a hash set; a text that contains any such run
 *  overlaps the set. With the usual window of 64 characters this is the
 *  "64-character overlap" rule: too long to match by chance, short enough to catch a
 *  copied question stem. Hashes are 64-bit rolling hashes; a false hit needs a 64-bit
 *  collision.
 */
#ifndef ASSAY_OVERLAP_H
#define ASSAY_OVERLAP_H

#include <stddef.h>

typedef struct assay_overlap assay_overlap_t;

assay_overlap_t *assay_overlap_new(size_t window);
void assay_overlap_destroy(assay_overlap_t **self_p);
/* add every window of text (UTF-8) */
void assay_overlap_add(assay_overlap_t *self, const char *text);
/* 1 when text contains a window that was added, else 0 */
int assay_overlap_hits(const assay_overlap_t *self, const char *text);
/* windows stored */
size_t assay_overlap_size(const assay_overlap_t *self);

#endif
