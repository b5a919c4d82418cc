/** @file capture.h  A capture as one more packet source of the recorder
 *  engine (docs/capture.md): libpcap on one or more interfaces (a mirror
 *  port), or a pcap/pcapng file replayed at its recorded pace or as fast
 *  as possible.  Each captured frame is decapsulated to a UDP datagram with
 *  both addresses and handed to an engine, which matches it by 5-tuple.
 *
 * Life cycle (main.c): rd_cap_open while the process still has CAP_NET_RAW
 * (opening a live interface needs it), then rd_cap_drop_privileges before
 * any thread exists (capabilities are per thread), then the media path
 * attaches every source to an engine (media.c: rd_cap_attach on the engine's
 * own thread and loop), and rd_cap_close after the media path is gone.
 *
 * Threads: a source is driven only by the thread of the engine it is
 * attached to; rd_cap_metrics and rd_cap_done may be called from any thread.
 */
#ifndef REC_CAPTURE_H
#define REC_CAPTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"

struct rd_loop;
struct rec_eng;
struct rd_cap;

struct rd_cap_cfg {
    const char *ifaces;       /**< comma list of interfaces; "" or NULL: none */
    const char *file;         /**< a pcap or pcapng file; "" or NULL: none */
    const char *filter;       /**< BPF expression (pcap-filter(7)); "": everything */
    bool promisc;             /**< promiscuous mode (a SPAN port usually needs none) */
    unsigned long buffer;     /**< kernel ring bytes per interface */
    unsigned long timeout_ms; /**< 0: immediate mode (libpcap then uses TPACKET_V2);
                                   else TPACKET_V3 with blocks retired after this */
    bool fast;                /**< file: as fast as possible, not at its recorded pace */
};

/** Opens every source, compiles and sets the filter.  Errors are logged
 *  with the interface or file and libpcap's message.  SR_EINVAL: neither
 *  ifaces nor file, or both; SR_EIO: an interface or file cannot be opened,
 *  or the filter does not compile. */
enum sr_err rd_cap_open(struct rd_cap **out, const struct rd_cap_cfg *cfg);
/** Every source must have been detached.  NULL-safe. */
void rd_cap_close(struct rd_cap *c);

/** Drop every capability but CAP_NET_RAW (kept only while a live source is
 *  open), from the permitted, effective, inheritable, ambient and (when
 *  allowed: CAP_SETPCAP) bounding sets; lock the securebits so uid 0 gains
 *  none back on exec; no_new_privs.  Call before any thread is started.
 *  SR_EIO when the kernel refused (logged). */
enum sr_err rd_cap_drop_privileges(const struct rd_cap *c);

/** Attach the sources whose index i has i % n_engines == slot to engine e,
 *  on loop (the engine's thread).  The file source goes to slot 0. */
enum sr_err rd_cap_attach(struct rd_cap *c, unsigned slot, unsigned n_engines,
                          struct rd_loop *loop, struct rec_eng *e);
/** Detach slot's sources (same thread as attach). */
void rd_cap_detach(struct rd_cap *c, unsigned slot);
/** slot's periodic work: kernel drop counters (pcap_stats) into the engine
 *  and the metrics; a file source's replay (only once start is true: a
 *  keyagent accepted us and sent its first key state).  Returns the next
 *  deadline (monotonic us). */
uint64_t rd_cap_tick(struct rd_cap *c, unsigned slot, uint64_t now_us, bool start);
/** The file source reached its end (every frame handed to the engine). */
bool rd_cap_done(const struct rd_cap *c);
/** Prometheus text of the capture counters.  NULL-safe (nothing). */
struct prom;
void rd_cap_metrics(const struct rd_cap *c, struct prom *p);

#endif
