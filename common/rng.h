/*  rng.h: small, fast pseudo-random numbers for jitter, sampling and synthetic
 *  data. Not for anything secret (keys and tokens come from OpenSSL's RAND_bytes).
 *
 *  The caller owns the state (a uint64_t), so threads and tasks never share one.
 */
#ifndef ASSAY_RNG_H
#define ASSAY_RNG_H

#include <stdint.h>

/* xorshift64*: the next number from *state (a zero state is replaced by a fixed
 * non-zero seed, so any value is a valid state) */
static inline uint64_t assay_rand64(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ULL;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* splitmix64: a counter-based generator whose sequence is fixed by the seed,
 * for reproducible data (every state, zero included, is valid) */
static inline uint64_t assay_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

#endif
