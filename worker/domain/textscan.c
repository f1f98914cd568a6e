/*  textscan.c: see textscan.h */
#include "worker/domain/textscan.h"

#include <string.h>

#define S_DICE_MAX 64

uint32_t assay_textscan_next_slow(const char *s, size_t len, size_t *i)
{
    if (*i >= len) return 0;
    const unsigned char *p = (const unsigned char *)s + *i;
    size_t left = len - *i;
    uint32_t c = p[0];
    if (c < 0x80) {
        *i += 1;
        return c;
    }
    size_t n;
    uint32_t min;
    if ((c & 0xE0) == 0xC0) {
        n = 2;
        c &= 0x1F;
        min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3;
        c &= 0x0F;
        min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4;
        c &= 0x07;
        min = 0x10000;
    } else {
        *i += 1;
        return 0xFFFD;
    }
    if (left < n) {
        *i += 1;
        return 0xFFFD;
    }
    for (size_t k = 1; k < n; k++) {
        if ((p[k] & 0xC0) != 0x80) {
            *i += 1;
            return 0xFFFD;
        }
        c = (c << 6) | (p[k] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
        *i += 1;
        return 0xFFFD;
    }
    *i += n;
    return c;
}

uint32_t assay_textscan_prev(const char *s, size_t end, size_t *start)
{
    if (end == 0) {
        *start = 0;
        return 0;
    }
    size_t b = end - 1;
    /* back over at most three continuation bytes to a lead byte */
    for (int k = 0; k < 3 && b > 0 && ((unsigned char)s[b] & 0xC0) == 0x80; k++)
        b--;
    size_t i = b;
    uint32_t cp = assay_textscan_next(s, end, &i);
    if (i != end) {
        /* not a well-formed sequence ending at end: treat the last byte alone */
        *start = end - 1;
        return 0xFFFD;
    }
    *start = b;
    return cp;
}

uint32_t assay_textscan_fold(uint32_t cp)
{
    if (cp >= 0xFF01 && cp <= 0xFF5E)
        cp -= 0xFEE0;
    else if (cp == 0x3000)
        cp = ' ';
    if (cp >= 'A' && cp <= 'Z') cp += 32;
    return cp;
}

int assay_textscan_is_space(uint32_t cp)
{
    return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || cp == 0xA0 || cp == 0x3000 ||
           (cp >= 0x2000 && cp <= 0x200B) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0xFEFF;
}

int assay_textscan_is_punct(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) ||
               (cp >= 0x5B && cp <= 0x60) || (cp >= 0x7B && cp <= 0x7E);
    return (cp >= 0x2010 && cp <= 0x205E) || /* general punctuation */
           (cp >= 0x2460 && cp <= 0x24FF) || /* circled numbers used as list marks */
           (cp >= 0x25A0 && cp <= 0x25FF) || /* geometric shapes (bullets) */
           (cp >= 0x3001 && cp <= 0x303F) || /* CJK punctuation */
           (cp >= 0xFF01 && cp <= 0xFF0F) || (cp >= 0xFF1A && cp <= 0xFF20) ||
           (cp >= 0xFF3B && cp <= 0xFF40) || (cp >= 0xFF5B && cp <= 0xFF65) || cp == 0xB7 ||
           cp == 0xFFFD;
}

int assay_textscan_is_han(uint32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0xF900 && cp <= 0xFAFF);
}

size_t assay_textscan_key(const char *s, size_t len, uint32_t *out, size_t cap)
{
    size_t n = 0, i = 0;
    while (i < len && n < cap) {
        uint32_t cp = assay_textscan_fold(assay_textscan_next(s, len, &i));
        if (assay_textscan_is_space(cp) || assay_textscan_is_punct(cp)) continue;
        out[n++] = cp;
    }
    return n;
}

size_t assay_textscan_count(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) n++;
    return n;
}

double assay_textscan_dice(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    if (na == 0 || nb == 0) return 0.0;
    if (na > S_DICE_MAX) na = S_DICE_MAX;
    if (nb > S_DICE_MAX) nb = S_DICE_MAX;
    if (na == nb && memcmp(a, b, na * sizeof *a) == 0) return 1.0;
    uint64_t used = 0; /* bit k: gram k of b already matched (multiset Dice) */
    size_t match = 0;
    if (na == 1 || nb == 1) {
        for (size_t i = 0; i < na; i++)
            for (size_t j = 0; j < nb; j++)
                if (!(used >> j & 1) && a[i] == b[j]) {
                    used |= (uint64_t)1 << j;
                    match++;
                    break;
                }
        return 2.0 * (double)match / (double)(na + nb);
    }
    for (size_t i = 0; i + 1 < na; i++)
        for (size_t j = 0; j + 1 < nb; j++)
            if (!(used >> j & 1) && a[i] == b[j] && a[i + 1] == b[j + 1]) {
                used |= (uint64_t)1 << j;
                match++;
                break;
            }
    return 2.0 * (double)match / (double)(na - 1 + nb - 1);
}

double assay_textscan_similarity(const char *a, size_t alen, const char *b, size_t blen)
{
    uint32_t ka[S_DICE_MAX], kb[S_DICE_MAX];
    size_t na = assay_textscan_key(a, alen, ka, S_DICE_MAX);
    size_t nb = assay_textscan_key(b, blen, kb, S_DICE_MAX);
    return assay_textscan_dice(ka, na, kb, nb);
}

static int s_is_digit(uint32_t cp)
{
    return cp >= '0' && cp <= '9';
}

/* trim space on both sides of [start, end); 0 when nothing is left */
static int s_trim(const char *s, size_t start, size_t end, assay_textscan_span_t *out)
{
    size_t i = start;
    while (i < end) {
        size_t j = i;
        uint32_t cp = assay_textscan_next(s, end, &j);
        if (!assay_textscan_is_space(cp)) break;
        i = j;
    }
    size_t e = end;
    while (e > i) {
        size_t b;
        uint32_t cp = assay_textscan_prev(s, e, &b);
        if (!assay_textscan_is_space(cp)) break;
        e = b;
    }
    if (e <= i) return 0;
    out->off = (uint32_t)i;
    out->len = (uint32_t)(e - i);
    return 1;
}

int assay_textscan_next_sentence(const char *s, size_t len, size_t *pos, assay_textscan_span_t *out)
{
    while (*pos < len) {
        size_t start = *pos, i = *pos;
        uint32_t prev = 0, prev2 = 0;
        int cut = 0;
        while (i < len && !cut) {
            uint32_t cp = assay_textscan_next(s, len, &i);
            switch (cp) {
            case 0x3002: /* 。 */
            case 0xFF01: /* ！ */
            case 0xFF1F: /* ？ */
            case 0xFF1B: /* ； */
            case '!':
            case '?':
            case ';':
            case '\n':
                cut = 1;
                break;
            case '.': {
                /* an English full stop ends a sentence; "3.5", "e.g." and list
                 * numbers ("1. ") do not */
                size_t j = i;
                uint32_t next = assay_textscan_next(s, len, &j);
                cut = (next == 0 || assay_textscan_is_space(next)) && !s_is_digit(prev) &&
                      prev2 != '.';
                break;
            }
            default:
                break;
            }
            prev2 = prev;
            prev = cp;
        }
        /* keep closing marks (。” or ?!) with the sentence they close */
        while (cut && i < len) {
            size_t j = i;
            uint32_t c2 = assay_textscan_next(s, len, &j);
            if (c2 == 0x201D || c2 == 0x300D || c2 == 0xFF09 || c2 == ')' || c2 == '"' ||
                c2 == 0x3002 || c2 == '!' || c2 == '?' || c2 == 0xFF01 || c2 == 0xFF1F)
                i = j;
            else
                break;
        }
        *pos = i;
        if (s_trim(s, start, i, out)) return 1;
    }
    return 0;
}

size_t assay_textscan_sentences(const char *s, size_t len, assay_textscan_span_t *out, size_t cap)
{
    size_t n = 0, pos = 0;
    assay_textscan_span_t span;
    while (assay_textscan_next_sentence(s, len, &pos, &span)) {
        if (n < cap) out[n] = span;
        n++;
    }
    return n;
}

const char *assay_textscan_find(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
    if (nlen == 0) return hay;
    if (nlen > hlen) return NULL;
    return memmem(hay, hlen, needle, nlen);
}

int assay_textscan_has(const char *s, size_t len, const char *needle)
{
    return assay_textscan_find(s, len, needle, strlen(needle)) != NULL;
}

int assay_textscan_count_any(const char *s, size_t len, const char *const *needles)
{
    int n = 0;
    for (; *needles; needles++)
        if (assay_textscan_has(s, len, *needles)) n++;
    return n;
}

void assay_textscan_split_think(const char *s, size_t len, assay_textscan_span_t *reasoning,
                                assay_textscan_span_t *answer)
{
    static const char close[] = "</think>", open_tag[] = "<think>";
    const size_t cl = sizeof close - 1, ol = sizeof open_tag - 1;
    const char *last = NULL;
    for (const char *p = s; (p = assay_textscan_find(p, len - (size_t)(p - s), close, cl)); p += cl)
        last = p;
    if (!last) {
        reasoning->off = reasoning->len = 0;
        answer->off = 0;
        answer->len = (uint32_t)len;
        return;
    }
    size_t start = 0;
    const char *o = assay_textscan_find(s, (size_t)(last - s), open_tag, ol);
    if (o) start = (size_t)(o - s) + ol;
    reasoning->off = (uint32_t)start;
    reasoning->len = (uint32_t)((size_t)(last - s) - start);
    answer->off = (uint32_t)((size_t)(last - s) + cl);
    answer->len = (uint32_t)(len - answer->off);
}
