/*  broker.h: the scheduler: one event loop that owns the ROUTER socket, the
 *  connected workers and their credits, the dispatch queue and the store.
 *
 *  One pass of the loop: poll (the socket, the Postgres notification socket, the
 *  earliest timer) -> read every waiting message -> flush results and failures to
 *  Postgres in one transaction -> claim more tasks where credit is free -> hand
 *  tasks to workers with credit -> heartbeats, liveness, timers.
 */
#ifndef ASSAY_BROKER_H
#define ASSAY_BROKER_H

#include "common/config.h"

#include <signal.h>

typedef struct assay_broker assay_broker_t;

/* a broker configured from cfg (borrowed; must outlive the broker). Connects to
 * Postgres; NULL with the reason in err. */
assay_broker_t *assay_broker_new(const assay_config_t *cfg, char *err, size_t errlen);
void assay_broker_destroy(assay_broker_t **self_p);

/* wait until this broker holds the active-broker lock (a standby blocks here while
 * another broker is active). Returns 0 when active, -1 when stop became set or on
 * a fatal error. */
int assay_broker_wait_active(assay_broker_t *self, volatile sig_atomic_t *stop);

/* run until *stop becomes non-zero; then release what is queued, flush, and
 * return 0 (or -1 on a fatal error) */
int assay_broker_run(assay_broker_t *self, volatile sig_atomic_t *stop);

#endif
