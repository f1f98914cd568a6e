/*  imap.h: an open-addressing hash map from uint64_t keys to pointers, for the
 *  broker's hot lookups (task id -> in-flight record, peer identity hash -> peer).
 *  Key 0 is reserved. The map does not own the values. */
#ifndef ASSAY_IMAP_H
#define ASSAY_IMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct assay_imap assay_imap_t;

assay_imap_t *assay_imap_new(void);
void assay_imap_destroy(assay_imap_t **self_p);
/* insert or replace; returns the previous value or NULL */
void *assay_imap_put(assay_imap_t *self, uint64_t key, void *value);
void *assay_imap_get(const assay_imap_t *self, uint64_t key);
/* remove; returns the value or NULL */
void *assay_imap_del(assay_imap_t *self, uint64_t key);
size_t assay_imap_size(const assay_imap_t *self);
/* call fn for every entry (the map must not change during the walk) */
void assay_imap_each(const assay_imap_t *self, void (*fn)(uint64_t key, void *value, void *arg),
                     void *arg);

#endif
