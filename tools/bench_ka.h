/** @file bench_ka.h  The real srtprec-keyagent for a benchmark: start, stop,
 *  mutual-TLS subscribers.
 *
 * bench_disclose and bench_notify_hidden measure the keyagent from outside:
 * both start the daemon on 127.0.0.1 with a port file and a control socket,
 * connect SIP-over-TLS subscribers to it and SUBSCRIBE.  Only the allow list
 * and the limits differ, and the caller passes those.
 */
#ifndef SR_BENCH_KA_H
#define SR_BENCH_KA_H

#include <stddef.h>
#include <sys/types.h>

#include "sipev.h"

/** Writes DIR/ka.conf ([keyagent] on 127.0.0.1:0, CERTS/keyagent.{crt,key},
 *  CERTS/ca.crt, control socket DIR/ka.sock, disclosure log and port file
 *  in DIR, log level warn, then conf_extra: the allow list and limits, each
 *  line ending in \n), starts KEYAGENT with its stderr in DIR/ka.log and
 *  waits (10 s at most) for its port file and control socket.  Returns the
 *  pid with *port and sock set, or -1 (the child is killed). */
pid_t bench_ka_start(const char *keyagent, const char *dir, const char *certs,
                     const char *conf_extra, char *sock, size_t socklen, unsigned *port);

/** SIGTERM, up to 5 s for the exit, then SIGKILL. */
void bench_ka_stop(pid_t pid);

/** A TCP connection to 127.0.0.1:port (TCP_NODELAY) as a TLS sipev_conn
 *  with on_msg(arg).  0 or -1. */
int bench_ka_connect(struct sipev_conn **conn, SSL_CTX *ctx, unsigned port, sipev_msg_fn *on_msg,
                     void *arg);

/** Sends an initial SUBSCRIBE (srtp-keys, Expires 600) from FROM, contact
 *  CONTACT, Call-ID "<call_id_prefix>-<idx>@127.0.0.1", From tag "t<idx>". */
void bench_ka_subscribe(struct sipev_conn *conn, const char *from, const char *contact,
                        const char *call_id_prefix, unsigned idx);

#endif
