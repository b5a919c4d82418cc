/** @file xmlmem.c  Wiping expat memory suite (xmlmem.h). */
#include "xmlmem.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* A size header in front of each block lets the free wipe it first. */
typedef union {
    size_t n;
    max_align_t align;
} xm_hdr;

static void *xm_malloc(size_t n)
{
    xm_hdr *h;

    if (n > SIZE_MAX - sizeof(*h) || !(h = malloc(sizeof(*h) + n)))
        return NULL;
    h->n = n;
    return h + 1;
}

static void xm_free(void *p)
{
    xm_hdr *h = p;

    if (!p)
        return;
    h--;
    sr_wipe(h, sizeof(*h) + h->n);
    free(h);
}

/* Not realloc: the old block must be wiped before it goes back. */
static void *xm_realloc(void *p, size_t n)
{
    void *np;
    size_t old;

    if (!p)
        return xm_malloc(n);
    np = xm_malloc(n);
    if (!np)
        return NULL;
    old = ((xm_hdr *)p - 1)->n;
    memcpy(np, p, old < n ? old : n);
    xm_free(p);
    return np;
}

const XML_Memory_Handling_Suite sr_xml_wiped_mem = { xm_malloc, xm_realloc, xm_free };
