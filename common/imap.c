/*  imap.c: see imap.h. Linear probing with backward-shift deletion (no tombstones,
 *  so a long-running broker's map never degrades). */
#include "common/imap.h"

#include "common/hash.h"
#include "common/util.h"

#include <stdlib.h>

typedef struct {
    uint64_t key;
    void *value;
} s_slot_t;

struct assay_imap {
    s_slot_t *slots;
    size_t cap; /* power of two */
    size_t size;
};

static size_t s_hash(uint64_t k)
{
    return (size_t)assay_mix64(k);
}

assay_imap_t *assay_imap_new(void)
{
    assay_imap_t *self = ASSAY_NEW(assay_imap_t);
    self->cap = 64;
    self->slots = assay_calloc(self->cap, sizeof *self->slots);
    return self;
}

void assay_imap_destroy(assay_imap_t **self_p)
{
    if (!self_p || !*self_p) return;
    free((*self_p)->slots);
    free(*self_p);
    *self_p = NULL;
}

static void s_grow(assay_imap_t *self)
{
    s_slot_t *old = self->slots;
    size_t oldcap = self->cap;
    self->cap *= 2;
    self->slots = assay_calloc(self->cap, sizeof *self->slots);
    self->size = 0;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].key) assay_imap_put(self, old[i].key, old[i].value);
    free(old);
}

void *assay_imap_put(assay_imap_t *self, uint64_t key, void *value)
{
    if ((self->size + 1) * 4 > self->cap * 3) s_grow(self);
    size_t mask = self->cap - 1, i = s_hash(key) & mask;
    while (self->slots[i].key) {
        if (self->slots[i].key == key) {
            void *prev = self->slots[i].value;
            self->slots[i].value = value;
            return prev;
        }
        i = (i + 1) & mask;
    }
    self->slots[i].key = key;
    self->slots[i].value = value;
    self->size++;
    return NULL;
}

void *assay_imap_get(const assay_imap_t *self, uint64_t key)
{
    size_t mask = self->cap - 1, i = s_hash(key) & mask;
    while (self->slots[i].key) {
        if (self->slots[i].key == key) return self->slots[i].value;
        i = (i + 1) & mask;
    }
    return NULL;
}

void *assay_imap_del(assay_imap_t *self, uint64_t key)
{
    size_t mask = self->cap - 1, i = s_hash(key) & mask;
    while (self->slots[i].key && self->slots[i].key != key) i = (i + 1) & mask;
    if (!self->slots[i].key) return NULL;
    void *value = self->slots[i].value;
    /* backward shift: move later entries of the cluster into the hole */
    size_t hole = i, j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!self->slots[j].key) break;
        size_t home = s_hash(self->slots[j].key) & mask;
        /* can the entry at j move to hole? only if its home is not in (hole, j] */
        int between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!between) {
            self->slots[hole] = self->slots[j];
            hole = j;
        }
    }
    self->slots[hole].key = 0;
    self->slots[hole].value = NULL;
    self->size--;
    return value;
}

size_t assay_imap_size(const assay_imap_t *self)
{
    return self->size;
}

void assay_imap_each(const assay_imap_t *self, void (*fn)(uint64_t key, void *value, void *arg),
                     void *arg)
{
    for (size_t i = 0; i < self->cap; i++)
        if (self->slots[i].key) fn(self->slots[i].key, self->slots[i].value, arg);
}
