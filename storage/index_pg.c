/** @file index_pg.c  The recording index on PostgreSQL (libpq): not built yet. */
#include <stdio.h>

#include "index_priv.h"

enum sr_err stor_index_pg_open(struct stor_index **out, const char *conninfo,
                               enum stor_index_mode mode)
{
    (void)out;
    (void)conninfo;
    (void)mode;
    return SR_EUNSUPP;
}

void stor_index_pg_describe(const char *conninfo, char *buf, size_t cap)
{
    (void)conninfo;
    snprintf(buf, cap, "postgresql");
}
