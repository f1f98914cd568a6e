/*  retry.c: see retry.h */
#include "common/retry.h"

uint32_t assay_retry_delay_ms(const assay_retry_policy_t *p, uint32_t attempt,
                              uint32_t retry_after_ms, uint64_t *rng)
{
    uint64_t base = p->base_ms ? p->base_ms : 1000, cap = p->max_ms ? p->max_ms : 300000;
    if (attempt < 1) attempt = 1;
    uint64_t d = base;
    for (uint32_t i = 1; i < attempt && d < cap; i++) d *= 2;
    if (d > cap) d = cap;
    uint64_t half = d / 2;
    uint64_t delay = half + (half ? assay_rand64(rng) % (half + 1) : 0);
    if (retry_after_ms > delay) delay = retry_after_ms;
    return (uint32_t)delay;
}
