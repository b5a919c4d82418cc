/** @file objstore_list.h  One page of an S3 ListObjectsV2 answer
 * (ListBucketResult): the objects' keys and sizes, whether more pages
 * follow, and the token that asks for the next one.
 *
 * Strict, since an index is rebuilt from what it says: the root must be
 * ListBucketResult; every Contents needs one Key (1..OBJSTORE_KEY_MAX
 * bytes, no control characters) and one Size (a decimal up to S3's 5 TiB
 * object limit); IsTruncated is "true" or "false"; a truncated page must
 * carry a NextContinuationToken.  More than OBJSTORE_LIST_PAGE_MAX
 * objects, a token over OBJSTORE_LIST_TOKEN_MAX bytes, a document over
 * OBJSTORE_XML_MAX or deeper than OBJSTORE_XML_DEPTH is SR_ELIMIT; DTDs
 * and entities are refused (xmlmem.h).  Elements match by local name.
 */
#ifndef SR_OBJSTORE_LIST_H
#define SR_OBJSTORE_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "objstore.h"

enum {
    /** max-keys the client asks for: 40 entries with 1,024-byte keys stay
     *  under the OBJSTORE_XML_MAX the client keeps of a body. */
    OBJSTORE_LIST_PAGE_MAX = 40,
    OBJSTORE_LIST_TOKEN_MAX = 1024,
};

struct objstore_list_entry {
    char key[OBJSTORE_KEY_MAX + 1];
    uint64_t size;
};

/** About 41 KiB: allocate it. */
struct objstore_list_page {
    size_t n;                     /**< entries used */
    struct objstore_list_entry entries[OBJSTORE_LIST_PAGE_MAX];
    bool truncated;               /**< IsTruncated: more pages follow */
    char next_token[OBJSTORE_LIST_TOKEN_MAX + 1]; /**< NextContinuationToken; "" if none */
};

/** Parse doc[0..len) into out (zeroed first, and zeroed again on failure).
 *  SR_EPARSE: not well-formed, a DTD, another root, a Contents without
 *  Key or Size, a bad number or flag, a truncated page without a token;
 *  SR_ELIMIT: a bound above; SR_ENOMEM. */
enum sr_err objstore_list_parse(const char *doc, size_t len, struct objstore_list_page *out);

#endif
