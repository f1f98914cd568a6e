/*  neardup.h: near-duplicate questions by MinHash over character 5-grams.
 *
 *  Each text (white space dropped) becomes the set of its 5-character shingles; a
 *  64-value MinHash signature estimates the Jaccard similarity of two such sets.
 *  Locality-sensitive hashing (16 bands of 4 values) finds the candidates, so each
 *  check costs about the same however many texts were added. Two texts are near
 *  duplicates when the estimated similarity reaches the threshold.
 */
#ifndef ASSAY_NEARDUP_H
#define ASSAY_NEARDUP_H

#include <stddef.h>

typedef struct assay_neardup assay_neardup_t;

/* threshold: estimated Jaccard similarity in (0, 1] that counts as a duplicate */
assay_neardup_t *assay_neardup_new(double threshold);
void assay_neardup_destroy(assay_neardup_t **self_p);
/* if text nearly duplicates an earlier one, return that one's number (0-based, in
 * the order added) and its similarity in *sim; otherwise add text and return -1 */
long assay_neardup_check_add(assay_neardup_t *self, const char *text, double *sim);

#endif
