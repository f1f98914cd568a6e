/*  hash.h: the 64-bit hash mix every hash table and sketch in assay uses.
 *
 *  assay_mix64 is the finaliser of MurmurHash3 (fmix64): a bijection on 64-bit
 *  integers whose every output bit depends on every input bit, so integer keys,
 *  n-gram hashes and seeds spread evenly over power-of-two tables. Byte strings
 *  are hashed with assay_hash64 (common/util.h).
 */
#ifndef ASSAY_HASH_H
#define ASSAY_HASH_H

#include <stdint.h>

static inline uint64_t assay_mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

#endif
