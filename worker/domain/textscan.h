/*  textscan.h: UTF-8 scanning shared by the verifier, hack checks, tagger and
 *  reasoning-action labeller: code point decoding, character classes, folding,
 *  normalised match keys, sentence spans and string similarity.
 *
 *  Everything here is a pure function over caller-owned memory: nothing
 *  allocates, so the verifier's hot path can use it freely. Invalid UTF-8 never
 *  fails: a bad byte decodes as U+FFFD and scanning moves on by one byte.
 */
#ifndef ASSAY_TEXTSCAN_H
#define ASSAY_TEXTSCAN_H

#include <stddef.h>
#include <stdint.h>

/* the code point at s[*i] (len bytes in s); advances *i past it. U+FFFD for a
 * malformed sequence (advancing one byte); 0 when *i >= len. Inline: the
 * verifier decodes every byte it looks at, mostly ASCII and three-byte Han. */
uint32_t assay_textscan_next_slow(const char *s, size_t len, size_t *i);
static inline uint32_t assay_textscan_next(const char *s, size_t len, size_t *i)
{
    if (*i >= len) return 0;
    const unsigned char *p = (const unsigned char *)s + *i;
    if (p[0] < 0x80) {
        *i += 1;
        return p[0];
    }
    /* a well-formed three-byte sequence (U+0800..U+FFFF without surrogates) */
    if ((p[0] & 0xF0) == 0xE0 && len - *i >= 3 && (p[1] & 0xC0) == 0x80 &&
        (p[2] & 0xC0) == 0x80) {
        uint32_t c = ((uint32_t)(p[0] & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) |
                     (uint32_t)(p[2] & 0x3F);
        if (c >= 0x800 && (c < 0xD800 || c > 0xDFFF)) {
            *i += 3;
            return c;
        }
    }
    return assay_textscan_next_slow(s, len, i);
}
/* the code point that ends just before s[end] and its start offset in *start
 * (0 and *start = 0 when end is 0) */
uint32_t assay_textscan_prev(const char *s, size_t end, size_t *start);

/* fold for matching: full-width ASCII to ASCII, ideographic space to space,
 * ASCII upper case to lower case; other code points unchanged */
uint32_t assay_textscan_fold(uint32_t cp);
/* white space of any width (ASCII, NBSP, ideographic space, zero-width) */
int assay_textscan_is_space(uint32_t cp);
/* punctuation or a symbol that carries no term content (ASCII and CJK
 * punctuation, full-width forms, bullets, circled numbers) */
int assay_textscan_is_punct(uint32_t cp);
/* a CJK ideograph */
int assay_textscan_is_han(uint32_t cp);

/* the match key of s: folded code points without space and punctuation, at
 * most cap of them written to out. Returns how many were written. */
size_t assay_textscan_key(const char *s, size_t len, uint32_t *out, size_t cap);
/* number of code points in s */
size_t assay_textscan_count(const char *s, size_t len);

/* string similarity of two keys in [0,1]: Dice coefficient over code point
 * bigrams (unigrams when either key is one code point long). 1 for equal keys,
 * 0 when either is empty. Keys longer than 64 code points are truncated. */
double assay_textscan_dice(const uint32_t *a, size_t na, const uint32_t *b, size_t nb);
/* assay_textscan_dice over the keys of two UTF-8 strings */
double assay_textscan_similarity(const char *a, size_t alen, const char *b, size_t blen);

/* a byte range [off, off + len) of some text */
typedef struct {
    uint32_t off;
    uint32_t len;
} assay_textscan_span_t;

/* split text into sentences at 。！？!?；; and line breaks (and at '.' that ends
 * an English sentence, not a decimal point); spans are trimmed of space and never
 * empty. Writes at most cap spans and returns the total number found (which may
 * exceed cap). */
size_t assay_textscan_sentences(const char *s, size_t len, assay_textscan_span_t *out, size_t cap);

/* the next sentence at or after *pos (as assay_textscan_sentences splits); 1 with
 * *out filled and *pos moved past it, 0 at the end of the text */
int assay_textscan_next_sentence(const char *s, size_t len, size_t *pos,
                                 assay_textscan_span_t *out);

/* split a raw model response into reasoning and answer: the text before the last
 * "</think>" is the reasoning (an opening "<think>" dropped), the rest the answer;
 * without the tag all of it is the answer and the reasoning is empty. Spans point
 * into s. */
void assay_textscan_split_think(const char *s, size_t len, assay_textscan_span_t *reasoning,
                                assay_textscan_span_t *answer);

/* first occurrence of needle (nlen bytes) in hay (hlen bytes), or NULL */
const char *assay_textscan_find(const char *hay, size_t hlen, const char *needle, size_t nlen);
/* true when s (len bytes) contains the NUL-terminated needle */
int assay_textscan_has(const char *s, size_t len, const char *needle);
/* how many of the NUL-terminated needles (list ends with NULL) occur in s */
int assay_textscan_count_any(const char *s, size_t len, const char *const *needles);

#endif
