/** @file sdpline.c  SDP line grammar (sdpline.h). */
#include "sdpline.h"

#include <arpa/inet.h>
#include <string.h>

enum sr_err sdpline_next(struct slice *cur, size_t max_line, char *type, struct slice *value,
                         const char **why)
{
    struct slice line;

    if (cur->len == 0)
        return SR_EAGAIN;
    line = slice_split(cur, '\n');
    if (line.len && line.p[line.len - 1] == '\r')
        line.len--;
    if (line.len > max_line)
        return (*why = "SDP line too long"), SR_ELIMIT;
    if (line.len < 2 || line.p[1] != '=' || line.p[0] < 'a' || line.p[0] > 'z')
        return (*why = "line is not <letter>=<value>"), SR_EPARSE;
    if (memchr(line.p, '\0', line.len) || memchr(line.p, '\r', line.len))
        return (*why = "NUL or CR inside a line"), SR_EPARSE;
    *type = line.p[0];
    *value = slice_of(line.p + 2, line.len - 2);
    return SR_OK;
}

struct slice sdpline_token(struct slice *cur)
{
    while (cur->len && cur->p[0] == ' ')
        slice_skip(cur, 1);
    return slice_split(cur, ' ');
}

bool sdpline_visible(struct slice t)
{
    if (t.len == 0)
        return false;
    for (size_t i = 0; i < t.len; i++)
        if ((unsigned char)t.p[i] < 0x21 || (unsigned char)t.p[i] > 0x7e)
            return false;
    return true;
}

bool sdpline_conn(struct slice v, char *addr, size_t addrlen, bool *ipv6)
{
    struct slice nettype = sdpline_token(&v), atype = sdpline_token(&v), a = sdpline_token(&v);
    unsigned char bin[16];

    if (!slice_eq(nettype, SLICE_LIT("IN")) || sdpline_token(&v).len || a.len == 0 ||
        !slice_copy_cstr(a, addr, addrlen))
        return false;
    if (slice_eq(atype, SLICE_LIT("IP4")))
        *ipv6 = false;
    else if (slice_eq(atype, SLICE_LIT("IP6")))
        *ipv6 = true;
    else
        return false;
    return inet_pton(*ipv6 ? AF_INET6 : AF_INET, addr, bin) == 1;
}

enum sr_err sdpline_media(struct slice v, struct slice *media, unsigned *port, struct slice *proto,
                          struct slice *fmts, const char **why)
{
    struct slice p;
    struct slice portnum;
    uint64_t n, count;

    *media = sdpline_token(&v);
    p = sdpline_token(&v);
    *proto = sdpline_token(&v);
    *fmts = v;
    portnum = slice_split(&p, '/');
    if (!sdpline_visible(*media))
        return (*why = "m=: bad media"), SR_EPARSE;
    /* "<port>/<number of ports>": the count is checked, then unused. */
    if (!slice_to_u64(portnum, 65535, &n) || (p.len && !slice_to_u64(p, 65535, &count)))
        return (*why = "m=: bad port"), SR_EPARSE;
    if (!sdpline_visible(*proto))
        return (*why = "m=: bad proto"), SR_EPARSE;
    *port = (unsigned)n;
    return SR_OK;
}

bool sdpline_proto_rtp(struct slice proto)
{
    return slice_starts_nocase(proto, SLICE_LIT("RTP/")) ||
           slice_starts_nocase(proto, SLICE_LIT("UDP/TLS/RTP/")) ||
           slice_starts_nocase(proto, SLICE_LIT("TCP/TLS/RTP/"));
}

bool sdpline_pt(struct slice tok, unsigned *pt)
{
    uint64_t n;

    if (!slice_to_u64(tok, 127, &n))
        return false;
    *pt = (unsigned)n;
    return true;
}

bool sdpline_rtpmap(struct slice v, unsigned *pt, struct slice *name, unsigned *rate,
                    unsigned *channels)
{
    struct slice p = sdpline_token(&v), enc = sdpline_token(&v);
    struct slice r;
    uint64_t cr, ch = 1;

    *name = slice_split(&enc, '/');
    r = slice_split(&enc, '/');
    if (!sdpline_pt(p, pt) || !sdpline_visible(*name) || !slice_to_u64(r, 384000, &cr) || cr == 0 ||
        (enc.len && (!slice_to_u64(enc, 255, &ch) || ch == 0)) || sdpline_token(&v).len)
        return false;
    *rate = (unsigned)cr;
    *channels = (unsigned)ch;
    return true;
}

enum sr_err sdpline_crypto(struct slice v, uint32_t *tag, struct slice *suite, struct slice *kps,
                           struct slice *session_params, const char **why)
{
    struct slice t = sdpline_token(&v);
    uint64_t n;

    *suite = sdpline_token(&v);
    *kps = sdpline_token(&v);
    *session_params = v;
    if (t.len > 9 || !slice_to_u64(t, 999999999, &n))
        return (*why = "a=crypto: bad tag"), SR_EPARSE;
    if (!sdpline_visible(*suite) || !sdpline_visible(*kps))
        return (*why = "a=crypto: missing suite or key-params"), SR_EPARSE;
    *tag = (uint32_t)n;
    return SR_OK;
}

bool sdpline_ssrc(struct slice v, uint32_t *id)
{
    uint64_t n;

    if (!slice_to_u64(sdpline_token(&v), UINT32_MAX, &n))
        return false;
    *id = (uint32_t)n;
    return true;
}
