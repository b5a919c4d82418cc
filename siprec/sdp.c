/** @file sdp.c  The recording SDP offer (siprec.h): RFC 4566 lines, RFC 4568
 *  a=crypto through srtpkey, RFC 4574 a=label.
 *
 * The SDP arrives from the network: one pass over bounded lines, every
 * count capped by a SIPREC_SDP_* bound, values copied into fixed buffers.
 * Lines and attributes the recorder has no use for are skipped, so SDP
 * extensions (ICE, fmtp, rtcp-fb...) pass.  Keys are wiped from every copy
 * on failure. */
#include <string.h>

#include "sdpline.h"
#include "siprec_priv.h"
#include "util.h"

struct sdp_state {
    struct siprec_sdp *out;
    char sess_addr[SIPREC_SDP_ADDR];
    bool sess_v6;
    enum siprec_dir sess_dir;
    bool sess_dir_set;
    bool dir_set[SIPREC_SDP_MAX_MEDIA];
    bool label_set[SIPREC_SDP_MAX_MEDIA];
    const char **detail;
};

void siprec_sdp_wipe(struct siprec_sdp *sdp)
{
    if (sdp)
        sr_wipe(sdp, sizeof(*sdp));
}

static enum siprec_err fail(struct sdp_state *st, enum siprec_err e, const char *why)
{
    *st->detail = why;
    return e;
}

static const struct {
    const char *name;
    enum siprec_proto proto;
} protos[] = {
    { "RTP/AVP", SIPREC_PROTO_RTP_AVP },   { "RTP/AVPF", SIPREC_PROTO_RTP_AVPF },
    { "RTP/SAVP", SIPREC_PROTO_RTP_SAVP }, { "RTP/SAVPF", SIPREC_PROTO_RTP_SAVPF },
};

static bool proto_is_rtp(enum siprec_proto p)
{
    return p != SIPREC_PROTO_OTHER;
}

static enum siprec_err media_parse(struct sdp_state *st, struct slice v,
                                   struct siprec_sdp_media *m)
{
    struct slice media, proto, fmts, fmt;
    unsigned pt;

    if (sdpline_media(v, &media, &m->port, &proto, &fmts, st->detail))
        return SIPREC_E_SDP_MEDIA;
    if (!slice_copy_cstr(media, m->media, sizeof(m->media)))
        return fail(st, SIPREC_E_SDP_MEDIA, "m=: bad media");
    if (!slice_copy_cstr(proto, m->proto_text, sizeof(m->proto_text)))
        return fail(st, SIPREC_E_SDP_MEDIA, "m=: bad proto");
    /* RFC 5764 / RFC 8842: the keys live in a DTLS handshake between the
     * SRC and whoever terminates it; nothing here could decrypt. */
    if (slice_starts_nocase(proto, SLICE_LIT("UDP/TLS/RTP/")) ||
        slice_starts_nocase(proto, SLICE_LIT("TCP/TLS/RTP/")))
        return fail(st, SIPREC_E_SDP_DTLS, "m=: DTLS-SRTP proto");
    m->proto = SIPREC_PROTO_OTHER;
    for (size_t i = 0; i < SR_ARRAY_LEN(protos); i++)
        if (slice_eq(proto, slice_cstr(protos[i].name)))
            m->proto = protos[i].proto;
    while ((fmt = sdpline_token(&fmts)).len) {
        if (!proto_is_rtp(m->proto)) {
            /* udptl, TCP/BFCP...: formats are not payload types; the first
             * is kept for the answer that rejects the line (RFC 3264 6). */
            if (!m->fmt_other[0] && !slice_copy_cstr(fmt, m->fmt_other, sizeof(m->fmt_other)))
                m->fmt_other[0] = '\0';
            continue;
        }
        if (!sdpline_pt(fmt, &pt))
            return fail(st, SIPREC_E_SDP_MEDIA, "m=: payload type not 0-127");
        for (size_t i = 0; i < m->n_fmt; i++)
            if (m->fmt[i] == pt) /* an answer echoing it would map it twice */
                return fail(st, SIPREC_E_SDP_MEDIA, "m=: payload type listed twice");
        if (m->n_fmt == SIPREC_SDP_MAX_FMT)
            return fail(st, SIPREC_E_SDP_LIMIT, "m=: too many formats");
        m->fmt[m->n_fmt++] = pt;
    }
    if (proto_is_rtp(m->proto) && m->n_fmt == 0)
        return fail(st, SIPREC_E_SDP_MEDIA, "m=: no payload type");
    return SIPREC_OK;
}

static enum siprec_err rtpmap_parse(struct sdp_state *st, struct slice v,
                                    struct siprec_sdp_media *m)
{
    struct siprec_rtpmap *r;
    struct slice name;
    unsigned pt, rate, ch;

    if (!sdpline_rtpmap(v, &pt, &name, &rate, &ch))
        return fail(st, SIPREC_E_SDP_ATTR, "a=rtpmap: malformed");
    for (size_t i = 0; i < m->n_rtpmap; i++)
        if (m->rtpmap[i].pt == pt)
            return fail(st, SIPREC_E_SDP_ATTR, "a=rtpmap: payload type mapped twice");
    if (m->n_rtpmap == SIPREC_SDP_MAX_FMT)
        return fail(st, SIPREC_E_SDP_LIMIT, "a=rtpmap: too many");
    r = &m->rtpmap[m->n_rtpmap];
    if (!slice_copy_cstr(name, r->codec, sizeof(r->codec)))
        return fail(st, SIPREC_E_SDP_ATTR, "a=rtpmap: encoding name too long");
    r->pt = pt;
    r->clock_rate = rate;
    r->channels = ch;
    m->n_rtpmap++;
    return SIPREC_OK;
}

/* RFC 4568 6.3: a session parameter not understood makes the line unusable
 * unless it is marked optional with a leading "-"; those srtprec cannot
 * honour (they change the SRTP transform) make it unusable too. */
static const char *session_params_refusal(struct slice v)
{
    struct slice t;
    uint64_t n;

    while ((t = sdpline_token(&v)).len) {
        if (t.p[0] == '-')
            continue;
        if (slice_starts_nocase(t, SLICE_LIT("WSH=")))
            continue; /* a window-size hint: the engine's replay window rules */
        if (slice_starts_nocase(t, SLICE_LIT("KDR="))) {
            if (slice_to_u64(slice_of(t.p + 4, t.len - 4), 24, &n) && n == 0)
                continue;
            return "a=crypto: key derivation rate not supported";
        }
        if (slice_eq(t, SLICE_LIT("UNENCRYPTED_SRTP")) || slice_eq(t, SLICE_LIT("UNENCRYPTED_SRTCP")) ||
            slice_eq(t, SLICE_LIT("UNAUTHENTICATED_SRTP")))
            return "a=crypto: unencrypted or unauthenticated SRTP not supported";
        if (slice_starts_nocase(t, SLICE_LIT("FEC_ORDER=")) || slice_starts_nocase(t, SLICE_LIT("FEC_KEY=")))
            return "a=crypto: FEC session parameters not supported";
        return "a=crypto: unknown session parameter";
    }
    return NULL;
}

/* "<tag> <suite> <key-params> [<session-params>...]" (RFC 4568 9.1). */
static enum siprec_err crypto_parse(struct sdp_state *st, struct slice v,
                                    struct siprec_sdp_media *m)
{
    struct slice suite, kps, sess;
    const struct srtpkey_suite_info *info;
    struct siprec_crypto *cr;
    const char *why = NULL;
    uint32_t t;
    enum sr_err err;

    if (sdpline_crypto(v, &t, &suite, &kps, &sess, st->detail))
        return SIPREC_E_SDP_CRYPTO;
    for (size_t i = 0; i < m->n_crypto; i++)
        if (m->crypto[i].tag == t)
            return fail(st, SIPREC_E_SDP_CRYPTO, "a=crypto: tag repeated");
    if (m->n_crypto == SIPREC_SDP_MAX_CRYPTO)
        return fail(st, SIPREC_E_SDP_LIMIT, "a=crypto: too many in one m= section");
    cr = &m->crypto[m->n_crypto++];
    cr->tag = t;
    info = srtpkey_suite_find(suite);
    if (!info) {
        cr->refused = "a=crypto: unknown crypto suite";
        return SIPREC_OK;
    }
    cr->suite = info->id;
    if (!info->decrypts) {
        cr->refused = info->refused ? info->refused : "a=crypto: suite not supported";
        return SIPREC_OK;
    }
    err = srtpkey_params_parse(kps, info->id, cr->keys, SR_ARRAY_LEN(cr->keys), &cr->n_keys, &why);
    if (err == SR_EUNSUPP || err == SR_ELIMIT) {
        /* well-formed, but not for srtprec: another line may do */
        cr->refused = why ? why : "a=crypto: key-params not supported";
        return SIPREC_OK;
    }
    if (err)
        return fail(st, SIPREC_E_SDP_CRYPTO, why ? why : "a=crypto: bad key-params");
    cr->refused = session_params_refusal(sess);
    cr->usable = cr->refused == NULL;
    if (!cr->usable) {
        sr_wipe(cr->keys, sizeof(cr->keys));
        cr->n_keys = 0;
    }
    return SIPREC_OK;
}

static enum siprec_err ssrc_parse(struct sdp_state *st, struct slice v,
                                  struct siprec_sdp_media *m)
{
    uint32_t n;

    if (!sdpline_ssrc(v, &n))
        return fail(st, SIPREC_E_SDP_ATTR, "a=ssrc: bad id");
    for (size_t i = 0; i < m->n_ssrc; i++)
        if (m->ssrc[i] == n)
            return SIPREC_OK; /* one line per attribute of the same source */
    if (m->n_ssrc == SIPREC_SDP_MAX_SSRC)
        return fail(st, SIPREC_E_SDP_LIMIT, "a=ssrc: too many sources");
    m->ssrc[m->n_ssrc++] = n;
    return SIPREC_OK;
}

static bool dir_of(struct slice v, enum siprec_dir *d)
{
    static const struct {
        const char *name;
        enum siprec_dir dir;
    } dirs[] = { { "sendrecv", SIPREC_DIR_SENDRECV },
                 { "sendonly", SIPREC_DIR_SENDONLY },
                 { "recvonly", SIPREC_DIR_RECVONLY },
                 { "inactive", SIPREC_DIR_INACTIVE } };

    for (size_t i = 0; i < SR_ARRAY_LEN(dirs); i++)
        if (slice_eq(v, slice_cstr(dirs[i].name))) {
            *d = dirs[i].dir;
            return true;
        }
    return false;
}

static enum siprec_err attr_parse(struct sdp_state *st, struct slice v)
{
    struct siprec_sdp *out = st->out;
    size_t mi = out->n_media - 1;
    struct siprec_sdp_media *m = out->n_media ? &out->media[mi] : NULL;
    enum siprec_dir d;

    if (dir_of(v, &d)) {
        bool *set = m ? &st->dir_set[mi] : &st->sess_dir_set;

        if (*set)
            return fail(st, SIPREC_E_SDP_ATTR, "direction attribute repeated");
        *set = true;
        *(m ? &m->dir : &st->sess_dir) = d;
        return SIPREC_OK;
    }
    if (!m)
        return SIPREC_OK; /* other session-level attributes: none matter here */
    if (slice_starts_nocase(v, SLICE_LIT("crypto:")))
        return crypto_parse(st, slice_of(v.p + 7, v.len - 7), m);
    if (slice_starts_nocase(v, SLICE_LIT("rtpmap:")))
        return rtpmap_parse(st, slice_of(v.p + 7, v.len - 7), m);
    if (slice_starts_nocase(v, SLICE_LIT("ssrc:")))
        return ssrc_parse(st, slice_of(v.p + 5, v.len - 5), m);
    if (slice_eq(v, SLICE_LIT("rtcp-mux"))) {
        m->rtcp_mux = true;
        return SIPREC_OK;
    }
    if (slice_starts_nocase(v, SLICE_LIT("label:"))) {
        struct slice l = slice_of(v.p + 6, v.len - 6);

        if (st->label_set[mi])
            return fail(st, SIPREC_E_SDP_ATTR, "a=label repeated");
        if (!sdpline_visible(l) || !slice_copy_cstr(l, m->label, sizeof(m->label)))
            return fail(st, SIPREC_E_SDP_ATTR, "a=label: empty, not visible ASCII or over 63 bytes");
        st->label_set[mi] = true;
        return SIPREC_OK;
    }
    return SIPREC_OK;
}

/* "o=<username> <sess-id> <sess-version> IN ..": the numbers are kept when
 * they fit 64 bits; the answer does not depend on them. */
static void origin_parse(struct slice v, struct siprec_sdp *out)
{
    uint64_t id, ver;

    sdpline_token(&v);
    if (slice_to_u64(sdpline_token(&v), UINT64_MAX, &id) && slice_to_u64(sdpline_token(&v), UINT64_MAX, &ver)) {
        out->o_sess_id = id;
        out->o_sess_version = ver;
    }
}

static enum siprec_err line_parse(struct sdp_state *st, char type, struct slice v)
{
    struct siprec_sdp *out = st->out;
    struct siprec_sdp_media *m = out->n_media ? &out->media[out->n_media - 1] : NULL;

    switch (type) {
    case 'm':
        if (out->n_media == SIPREC_SDP_MAX_MEDIA)
            return fail(st, SIPREC_E_SDP_LIMIT, "too many m= lines");
        return media_parse(st, v, &out->media[out->n_media++]);
    case 'c':
        if (!sdpline_conn(v, m ? m->addr : st->sess_addr, SIPREC_SDP_ADDR, m ? &m->ipv6 : &st->sess_v6))
            return fail(st, SIPREC_E_SDP_CONN, "c=: not IN IP4/IP6 with one unicast address");
        return SIPREC_OK;
    case 'o':
        if (!m)
            origin_parse(v, out);
        return SIPREC_OK;
    case 'a':
        return attr_parse(st, v);
    default:
        return SIPREC_OK;
    }
}

static enum siprec_err finish(struct sdp_state *st)
{
    struct siprec_sdp *out = st->out;

    if (out->n_media == 0)
        return fail(st, SIPREC_E_SDP_NO_MEDIA, "no m= line");
    for (size_t i = 0; i < out->n_media; i++) {
        struct siprec_sdp_media *m = &out->media[i];

        if (!st->dir_set[i])
            m->dir = st->sess_dir;
        if (!m->addr[0]) { /* RFC 4566 5.7: the session's c= */
            memcpy(m->addr, st->sess_addr, sizeof(m->addr));
            m->ipv6 = st->sess_v6;
        }
        if (!proto_is_rtp(m->proto) || m->port == 0)
            continue;
        if (!m->addr[0])
            return fail(st, SIPREC_E_SDP_CONN, "m= line without c= at media or session level");
        if ((m->proto == SIPREC_PROTO_RTP_SAVP || m->proto == SIPREC_PROTO_RTP_SAVPF) &&
            siprec_sdp_crypto_pick(m) < 0) {
            /* The reason of the first refused line says more than "none". */
            const char *why = "RTP/SAVP m= line without a=crypto";

            if (m->n_crypto && m->crypto[0].refused)
                why = m->crypto[0].refused;
            return fail(st, SIPREC_E_SDP_NO_CRYPTO, why);
        }
    }
    return SIPREC_OK;
}

/* Lines and their grammar: sdpline.h, the one SDP reader. */
static enum siprec_err lines_parse(struct sdp_state *st, struct slice cur)
{
    size_t lineno = 0;
    struct slice v;
    enum siprec_err err;
    enum sr_err e;
    char type;

    /* Empty lines after the last one are a body part's padding. */
    while (slice_trim(cur).len) {
        e = sdpline_next(&cur, SIPREC_SDP_MAX_LINE, &type, &v, st->detail);
        if (e == SR_ELIMIT)
            return SIPREC_E_SDP_LIMIT;
        if (e)
            return SIPREC_E_SDP_SYNTAX;
        if (lineno++ == 0 && (type != 'v' || !slice_eq(v, SLICE_LIT("0"))))
            return fail(st, SIPREC_E_SDP_SYNTAX, "first line is not v=0");
        err = line_parse(st, type, v);
        if (err)
            return err;
    }
    if (lineno == 0)
        return fail(st, SIPREC_E_SDP_SYNTAX, "empty SDP");
    return finish(st);
}

enum siprec_err siprec_sdp_parse(struct slice text, struct siprec_sdp *out, const char **detail)
{
    struct sdp_state st;
    const char *dummy;
    enum siprec_err err;

    if (!detail)
        detail = &dummy;
    if (!out || (!text.p && text.len)) {
        *detail = siprec_strerror(SIPREC_E_INVAL);
        return SIPREC_E_INVAL;
    }
    siprec_sdp_wipe(out);
    memset(&st, 0, sizeof(st));
    st.out = out;
    st.detail = detail;
    *detail = siprec_strerror(SIPREC_OK);
    if (text.len > SIPREC_SDP_MAX)
        err = fail(&st, SIPREC_E_SDP_LIMIT, "SDP larger than 64 KiB");
    else
        err = lines_parse(&st, text);
    if (err)
        siprec_sdp_wipe(out);
    return err;
}

int siprec_sdp_crypto_pick(const struct siprec_sdp_media *m)
{
    if (!m || m->port == 0 ||
        (m->proto != SIPREC_PROTO_RTP_SAVP && m->proto != SIPREC_PROTO_RTP_SAVPF))
        return -1;
    for (size_t i = 0; i < m->n_crypto; i++)
        if (m->crypto[i].usable)
            return (int)i;
    return -1;
}
