/** @file sdpline.h  The SDP line grammar (RFC 4566, RFC 4568 9.1): one
 *  place for every SDP reader in srtprec.
 *
 * Two readers sit on it with their own policies: the endpoint helper
 * (keyagent/sdp.c: disclosure from an offer/answer pair; refuses what it
 * cannot disclose) and the SIPREC recording offer (siprec/sdp.c: keeps
 * refused a=crypto lines so the answer can pick another).  This module
 * only says what a line or value means; it keeps nothing, allocates
 * nothing, and depends on common/ alone (the endpoint client library links
 * it).  Values are slices into the caller's text; *why (never NULL) gets a
 * static reason on failure.
 */
#ifndef SDPLINE_H
#define SDPLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "slice.h"

/** Next line of *cur: the break (LF, or CRLF) removed, *cur advanced.
 *  SR_OK with *type ('a'..'z') and *value (after "="); SR_EAGAIN when *cur
 *  is empty; SR_ELIMIT for a line over max_line bytes; SR_EPARSE when it is
 *  not <letter>=<value> or holds NUL or CR. */
enum sr_err sdpline_next(struct slice *cur, size_t max_line, char *type, struct slice *value,
                         const char **why);

/** Next SP-separated token of *cur (leading spaces skipped); empty at the end. */
struct slice sdpline_token(struct slice *cur);
/** Non-empty and visible ASCII (0x21..0x7e) only. */
bool sdpline_visible(struct slice t);

/** c= value "IN IP4|IP6 <address>": one literal unicast address (a /ttl or
 *  /count is multicast: refused) copied into addr[addrlen]. */
bool sdpline_conn(struct slice v, char *addr, size_t addrlen, bool *ipv6);

/** m= value "<media> <port>[/<count>] <proto> <fmt>...": *fmts is what follows
 *  proto.  SR_EPARSE (bad media, port, proto). */
enum sr_err sdpline_media(struct slice v, struct slice *media, unsigned *port, struct slice *proto,
                          struct slice *fmts, const char **why);
/** True for a proto whose formats are RTP payload types ("RTP/...", "UDP/TLS/RTP/..."). */
bool sdpline_proto_rtp(struct slice proto);
/** An RTP payload type 0..127. */
bool sdpline_pt(struct slice tok, unsigned *pt);

/** a=rtpmap value "<pt> <name>/<rate>[/<channels>]": rate 1..384000,
 *  channels 1..255 (1 when absent). */
bool sdpline_rtpmap(struct slice v, unsigned *pt, struct slice *name, unsigned *rate,
                    unsigned *channels);

/** a=crypto value "<tag> <suite> <key-params> [<session-params>]" (RFC 4568
 *  9.1: tag 1*9DIGIT).  *session_params is the rest (may be empty).
 *  SR_EPARSE for a bad tag or a missing suite or key-params. */
enum sr_err sdpline_crypto(struct slice v, uint32_t *tag, struct slice *suite, struct slice *kps,
                           struct slice *session_params, const char **why);

/** a=ssrc value "<id> <attribute>[:<value>]": the id, 0..2^32-1. */
bool sdpline_ssrc(struct slice v, uint32_t *id);

#endif
