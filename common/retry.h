/*  retry.h: the retry policy: exponential backoff with jitter.
 *
 *  After attempt n fails, the task waits d/2 + random(0, d/2) milliseconds with
 *  d = min(max_ms, base_ms * 2^(n-1)) ("equal jitter": spreads a thundering herd
 *  while keeping a floor), or at least what the endpoint asked for in Retry-After.
 *  A task is dead once attempt >= max_attempts or the failure is permanent.
 */
#ifndef ASSAY_RETRY_H
#define ASSAY_RETRY_H

#include "common/rng.h"

#include <stdint.h>

typedef struct {
    uint32_t base_ms; /* first delay scale (default 1000) */
    uint32_t max_ms;  /* cap (default 300000) */
} assay_retry_policy_t;

/* delay before the next attempt after attempt `attempt` (1-based) failed.
 * retry_after_ms is the server's request (0 = none). rng is the caller's state. */
uint32_t assay_retry_delay_ms(const assay_retry_policy_t *p, uint32_t attempt,
                              uint32_t retry_after_ms, uint64_t *rng);


#endif
