/** @file ipfrag.h  Bounded IPv4/IPv6 fragment reassembly, private to decap.c.
 *
 * A datagram is identified by (version, source, destination, id, and for
 * IPv4 the protocol).  Slots and fragment lists are allocated at create;
 * each datagram's bytes are allocated as its fragments come, charged to one
 * byte budget.  A completed datagram's buffer stays valid (and charged)
 * until ipfrag_release_done, which decap_frame calls before each frame.
 * Timeouts run from a datagram's first fragment; slots form a list in that
 * order, so expiry looks only at its head.
 */
#ifndef REC_IPFRAG_H
#define REC_IPFRAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decap.h"

struct ipfrag_key {
    uint8_t src[16], dst[16];
    uint32_t id;
    uint8_t v6;
    uint8_t proto;  /**< IPv4's protocol; 0 for IPv6 (its next header may differ) */
};

/** One fragment: its offset in the datagram's fragmentable part (bytes),
 *  whether more follow, the next header it names (IPv6; IPv4 repeats proto). */
struct ipfrag_in {
    uint32_t off;
    bool more;
    uint8_t nh;
    const uint8_t *data;
    size_t len;
};

struct ipfrag_cfg {
    size_t max_datagrams, max_frags, max_bytes, max_size;
    uint64_t timeout_us;
    size_t max_done;   /**< completed buffers kept until the next release */
};

struct ipfrag;

enum sr_err ipfrag_create(struct ipfrag **out, const struct ipfrag_cfg *cfg);
void ipfrag_destroy(struct ipfrag *f);

/** DECAP_NEED_MORE, DECAP_UDP (meaning complete: *out, *outlen: the datagram's
 *  fragmentable part, *nh the first fragment's next header), or a refusal:
 *  DECAP_BAD_FRAG, DECAP_FRAG_DUP, DECAP_FRAG_OVERLAP, DECAP_FRAG_TOO_BIG,
 *  DECAP_FRAG_BUDGET.  Expires first. */
enum decap_verdict ipfrag_add(struct ipfrag *f, const struct ipfrag_key *k,
                              const struct ipfrag_in *in, uint64_t now_us,
                              const uint8_t **out, size_t *outlen, uint8_t *nh);

/** Drop datagrams whose first fragment is timeout_us old.  Returns the next
 *  expiry or UINT64_MAX. */
uint64_t ipfrag_expire(struct ipfrag *f, uint64_t now_us);

/** Free the buffers of datagrams completed since the last release. */
void ipfrag_release_done(struct ipfrag *f);

struct ipfrag_stats {
    uint64_t expired, reassembled, dropped, datagrams, bytes;
};
void ipfrag_stats(const struct ipfrag *f, struct ipfrag_stats *out);

#endif
