/** @file daemon_priv.h  Internals of the srtprec-recorder daemon shared by its
 *  files (subscriber, calls, media, main).  Everything here runs on the
 *  daemon's single loop thread. */
#ifndef REC_DAEMON_PRIV_H
#define REC_DAEMON_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "conf.h"
#include "sipev.h"

/* ---------------------------------------------------------------- epoll */

struct rd_loop;
/** Every fd registered with the loop carries one of these as epoll data. */
struct rd_watch {
    void (*on_event)(struct rd_watch *w, uint32_t events);
    int fd;
};
enum sr_err rd_loop_add(struct rd_loop *l, struct rd_watch *w, uint32_t events);
enum sr_err rd_loop_mod(struct rd_loop *l, struct rd_watch *w, uint32_t events);
void rd_loop_del(struct rd_loop *l, struct rd_watch *w);

/* --------------------------------------------------------------- config */

struct rd_cfg {
    char keyagents[CONF_STR_MAX];  /**< comma list of host:port */
    char identity[CONF_STR_MAX];   /**< our SIP URI (matches our certificate SAN) */
    char tls_cert[CONF_STR_MAX], tls_key[CONF_STR_MAX], tls_ca[CONF_STR_MAX], tls_crl[CONF_STR_MAX];
    char media_listen[CONF_STR_MAX];
    char archive_dir[CONF_STR_MAX];
    char archive_recipients[CONF_STR_MAX]; /**< comma list of PEM certificate files */
    char index[CONF_STR_MAX];
    char log_level[32];
    char metrics_file[CONF_STR_MAX]; /**< Prometheus text file; "" = none */
    unsigned long metrics_interval_ms;
    unsigned long key_wait_ms;
    unsigned long subscribe_expires;
    unsigned long max_streams;
    unsigned long max_held_packets;
    unsigned long max_held_per_stream;
    unsigned long call_linger_ms;
    unsigned long flush_interval_ms;
    unsigned long rcvbuf;
    bool lab_allow_plain_tcp;
    bool allow_nss_libsrtp;
};

/* ---------------------------------------------------------- subscriber */

struct rd_sub;
/** A NOTIFY body arrived on subscription `peer` (the keyagent's identity). */
typedef void rd_keybody_fn(const char *peer, const struct sipev_keybody *kb, void *arg);

struct rd_sub_cfg {
    const char *target;     /**< host:port, or udp:host:port (numeric host; lab only) */
    const char *identity;   /**< our SIP URI */
    SSL_CTX *tls;           /**< NULL: plain TCP or UDP (lab only: main.c runs without TLS
                                 only when lab-allow-plain-tcp=yes, which covers UDP too);
                                 rd_sub_create refuses a udp: target when tls is set */
    unsigned expires;       /**< requested subscription duration, seconds */
    struct rd_loop *loop;
    rd_keybody_fn *on_keybody;
    void *arg;
};
enum sr_err rd_sub_create(struct rd_sub **out, const struct rd_sub_cfg *cfg);
void rd_sub_destroy(struct rd_sub *s);
/** Run timers: connect, refresh, back-off.  Returns the next deadline (us). */
uint64_t rd_sub_tick(struct rd_sub *s, uint64_t now);
/** Send an unsubscribe (Expires: 0) if active; best effort at shutdown. */
void rd_sub_unsubscribe(struct rd_sub *s);
bool rd_sub_active(const struct rd_sub *s);



/* ---------------------------------------------------------------- media */

struct stor_index;
struct rd_media;

/** Owns the UDP sockets, the stream table, the libsrtp sessions, the calls
 *  and their archive writers.  cfg, loop and index outlive it. */
enum sr_err rd_media_create(struct rd_media **out, const struct rd_cfg *cfg, struct rd_loop *loop,
                            struct stor_index *index);
/** Seals every open call's archive, then frees everything.  NULL-safe. */
void rd_media_destroy(struct rd_media *m);
/** Apply a NOTIFY body from keyagent `peer` (rd_keybody_fn). */
void rd_media_keybody(const char *peer, const struct sipev_keybody *kb, void *arg);
/** Flush archives, close calls whose linger expired.  Returns the next deadline. */
uint64_t rd_media_tick(struct rd_media *m, uint64_t now);
/** Whether some keyagent has accepted a subscription since start (main keeps
 *  it true through later outages and refreshes, so they cost no media).
 *  Until then, packets whose key never comes are counted (reason
 *  "unauthorised"), not archived: a recorder nobody has authorised keeps
 *  nobody's media, even encrypted. */
void rd_media_set_authorised(struct rd_media *m, bool authorised);
/** One line of counters for the operator log. */
void rd_media_log_stats(const struct rd_media *m);

#endif
