/** @file xmlmem.c  Wiping expat memory suite and DTD refusal (xmlmem.h). */
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

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset)
{
    struct sr_xml_refusal *rf = ud;

    (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
    rf->refuse(ud, "DOCTYPE not allowed");
}

static void XMLCALL on_entity(void *ud, const XML_Char *name, int is_param, const XML_Char *value,
                              int value_len, const XML_Char *base, const XML_Char *sysid,
                              const XML_Char *pubid, const XML_Char *notation)
{
    struct sr_xml_refusal *rf = ud;

    (void)name, (void)is_param, (void)value, (void)value_len, (void)base, (void)sysid;
    (void)pubid, (void)notation;
    rf->refuse(ud, "entity declarations not allowed");
}

void sr_xml_refuse_dtd(XML_Parser xp)
{
    XML_SetStartDoctypeDeclHandler(xp, on_doctype);
    XML_SetEntityDeclHandler(xp, on_entity);
    XML_SetParamEntityParsing(xp, XML_PARAM_ENTITY_PARSING_NEVER);
}
