/** @file sipev_priv.h  Helpers shared by the sip-events sources; not a public contract. */
#ifndef SIPEV_PRIV_H
#define SIPEV_PRIV_H

#include <stdbool.h>
#include <stddef.h>

#include "sipev.h"

/** RFC 3261 token character / non-empty token. */
bool sipev_is_token_char(char c);
bool sipev_is_token(struct slice s);

/** Header name (a token) to id, compact forms included. */
enum sipev_hdr_id sipev_hdr_lookup(const char *name, size_t len);

#endif
