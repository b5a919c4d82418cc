/** @file authz.h  Allow lists of peer identities (verified certificate SANs)
 *  with optional per-entry call filters: the keyagent's allow list of
 *  subscribers and the recorder's allow list of SIPREC recording clients
 *  share this one grammar and parser (docs/keyagent.md, "allow").
 *
 * No global state, no allocation: every object is a fixed-size value the
 * caller owns.
 */
#ifndef KA_AUTHZ_H
#define KA_AUTHZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "sipev.h"
#include "slice.h"

/* ----------------------------------------------------------------- filter */

/** Which calls one subscriber may receive: a set of items, each an AOR
 *  ("sip:alice@example.net": either party of the call, compared as
 *  identities are), a domain ("example.net": the host of either party's AOR,
 *  exactly, case-insensitive; no subdomains) or a Call-ID (exact).  A call
 *  matches when any item matches; an empty filter matches every call.
 *  Strings live in a fixed pool: no allocation, bounded size. */
enum { KA_FILTER_MAX_ITEMS = 16, KA_FILTER_POOL = 1024, KA_FILTER_BODY_MAX = 4096 };
enum ka_filter_kind { KA_FILTER_AOR = 1, KA_FILTER_DOMAIN, KA_FILTER_CALL_ID };

struct ka_filter {
    struct {
        enum ka_filter_kind kind;
        uint16_t off, len;        /**< in pool */
    } item[KA_FILTER_MAX_ITEMS];
    size_t n;
    char pool[KA_FILTER_POOL];
    size_t used;
};

/** The media type of a SUBSCRIBE body that narrows a subscription. */
#define KA_FILTER_TYPE "application/srtp-filter"

/** Add one item (visible ASCII, no space, 1..SIPEV_STR-1 bytes).
 *  SR_ELIMIT past KA_FILTER_MAX_ITEMS or the pool; SR_EPARSE bad bytes. */
enum sr_err ka_filter_add(struct ka_filter *f, enum ka_filter_kind kind, struct slice value);
/** Parse an application/srtp-filter body (docs/protocol.md "Subscriber
 *  filters"): lines "aor URI", "domain HOST", "call-id ID"; LF or CRLF;
 *  blank lines and lines starting with '#' ignored.  At most
 *  KA_FILTER_BODY_MAX bytes.  Unknown keywords are an error (a typo must
 *  never widen a subscription).  On failure *why is static and *f empty. */
enum sr_err ka_filter_parse_body(struct ka_filter *f, struct slice body, const char **why);
/** True when f is empty or some item matches d. */
bool ka_filter_match(const struct ka_filter *f, const struct sipev_dialog *d);

/* ------------------------------------------------------------------ authz */

enum { KA_AUTHZ_MAX = 64 };

struct ka_authz {
    char ids[KA_AUTHZ_MAX][SIPEV_STR];
    struct ka_filter filter[KA_AUTHZ_MAX]; /**< per entry; empty: every call */
    size_t n;
};

/** Parse "sip:a@x, sip:li@y;aor=sip:t@z;domain=d.example" (commas, optional
 *  spaces; ';'-separated aor=, domain= and call-id= items restrict that
 *  entry to matching calls).  SR_ELIMIT past KA_AUTHZ_MAX entries, filter
 *  bounds or an over-long entry; SR_EPARSE on an empty entry or filter,
 *  a trailing separator, a duplicate identity, an unknown item or a control
 *  character.  An empty list allows nobody. */
enum sr_err ka_authz_parse(struct ka_authz *az, const char *list, const char **why);
/** ka_authz_parse, telling where: the parse is strict (an empty entry or
 *  filter, a trailing ',' or ';', a duplicate identity (ka_identity_eq), an
 *  unknown parameter or a filter without '=' is SR_EPARSE).  On error *col
 *  (if not NULL) is the byte offset in list where the fault starts, and az
 *  is left empty. */
enum sr_err ka_authz_parse_at(struct ka_authz *az, const char *list, const char **why,
                              size_t *col);
/** Where the value of `key` in [section] of an INI file starts, for error
 *  messages: its 1-based line and column.  false if the file does not hold
 *  that value (it came from the command line, say). */
bool ka_conf_locate(const char *path, const char *section, const char *key, const char *value,
                    unsigned *line, unsigned *col);
/** Exact match, except that the URI scheme and host compare case-insensitively
 *  (the user part of a SIP URI is case-sensitive, RFC 3261 19.1.4). */
bool ka_authz_allows(const struct ka_authz *az, const char *identity);
/** The filter of identity's entry, or NULL when identity is not allowed. */
const struct ka_filter *ka_authz_lookup(const struct ka_authz *az, const char *identity);
/** identity_eq as used by the allow list (for filters too). */
bool ka_identity_eq(const char *a, const char *b);

#endif
