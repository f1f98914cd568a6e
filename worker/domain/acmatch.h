/*  acmatch.h: Aho-Corasick dictionary matching over UTF-8 bytes.
 *
 *  A matcher holds a set of patterns (byte strings, normally normalised names) and
 *  finds every occurrence of any of them in a text in one pass over its bytes,
 *  whatever the number of patterns. On top of "all matches" it offers the
 *  leftmost-longest cover used for entity linking: scanning left to right, at each
 *  position take the longest pattern that starts there, then continue after it.
 *
 *  The automaton is stored as flat arrays (nodes with a sorted edge range, failure
 *  and dictionary-suffix links), so it is compact and cheap to walk; a matcher is
 *  immutable once built and may be shared by threads.
 *
 *  Pattern ids are dense, in order of first insertion; adding the same bytes again
 *  returns the existing id. Callers keep their own id → payload mapping.
 */
#ifndef ASSAY_ACMATCH_H
#define ASSAY_ACMATCH_H

#include <stddef.h>
#include <stdint.h>

typedef struct assay_acmatch assay_acmatch_t;
typedef struct assay_acmatch_builder assay_acmatch_builder_t;

/* a match: bytes [start, end) of the text are pattern */
typedef struct {
    size_t start, end;
    uint32_t pattern;
} assay_acmatch_hit_t;

/* match flags */
#define ASSAY_AC_ASCII_WORDS                                                                       \
    0x01 /* a pattern that begins (ends) with an ASCII letter or                                   \
          * digit must not be preceded (followed) by one: "ca"                                     \
          * matches in "肺ca" but not in "cancer" */

assay_acmatch_builder_t *assay_acmatch_builder_new(void);
void assay_acmatch_builder_destroy(assay_acmatch_builder_t **self_p);
/* add a pattern of len bytes (len > 0); returns its id (an existing id for a repeated
 * pattern), or -1 for an empty pattern */
int64_t assay_acmatch_builder_add(assay_acmatch_builder_t *self, const char *pattern, size_t len);
/* build the automaton; consumes (destroys) the builder and nulls *self_p */
assay_acmatch_t *assay_acmatch_builder_finish(assay_acmatch_builder_t **self_p);

void assay_acmatch_destroy(assay_acmatch_t **self_p);

size_t assay_acmatch_pattern_count(const assay_acmatch_t *self);
/* the pattern's length in bytes (0 for an unknown id) */
size_t assay_acmatch_pattern_len(const assay_acmatch_t *self, uint32_t pattern);
/* bytes used by the automaton */
size_t assay_acmatch_memory(const assay_acmatch_t *self);

/* call fn for every occurrence of every pattern (ordered by end, then longest first);
 * fn returns 0 to go on, non-zero to stop. Returns the number of calls made. */
size_t assay_acmatch_scan(const assay_acmatch_t *self, const char *text, size_t len, int flags,
                          int (*fn)(void *arg, const assay_acmatch_hit_t *hit), void *arg);
/* the leftmost-longest non-overlapping cover: writes up to max hits ordered by start
 * and returns how many there are */
size_t assay_acmatch_longest(const assay_acmatch_t *self, const char *text, size_t len, int flags,
                             assay_acmatch_hit_t *out, size_t max);

#endif
