/** @file sdp.c  SDP offer/answer helper: parse a=crypto (RFC 4568) and disclose (ka.h).
 *
 * SDP arrives from the network through the endpoint, so the parser treats it
 * as hostile: one pass over bounded lines, every count capped by a KA_SDP_MAX_*
 * ceiling, values copied into fixed buffers.  It reads only what disclosure
 * needs and skips every other line type, so SDP extensions pass through.  The
 * line grammar is sip-events/sdpline.h, shared with the SIPREC offer parser;
 * the policy (refuse what cannot be disclosed) is this file's. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "ka.h"
#include "slice.h"
#include "sdpline.h"
#include "srtpkey.h"
#include "util.h"

/* ka.h's sizes are srtpkey's (ka.h cannot include it: endpoints compile
 * against ka.h alone). */
_Static_assert((int)KA_SDP_MASTER_MAX == (int)SRTPKEY_MAX_MASTER, "key || salt size");
_Static_assert((int)KA_SDP_MAX_KEYS == (int)SRTPKEY_MAX_KEYS, "keys per a=crypto");

/* Static payload types (RFC 3551 table 4) an answer may use without rtpmap. */
static const struct {
    unsigned pt;
    const char *codec;
    unsigned clock_rate;
} static_pts[] = {
    { 0, "PCMU", 8000 }, { 3, "GSM", 8000 },  { 4, "G723", 8000 },
    { 8, "PCMA", 8000 }, { 9, "G722", 8000 }, { 18, "G729", 8000 },
};

void ka_sdp_wipe(struct ka_sdp *sdp)
{
    if (sdp)
        sr_wipe(sdp, sizeof(*sdp));
}

/* "c=IN IP4 192.0.2.1" (sdpline.h; an optional /ttl or /count is refused:
 * multicast media cannot be forked to a recorder). */
static enum sr_err media_parse(struct slice v, struct ka_sdp_media *m, const char **why)
{
    struct slice media, proto, fmts, fmt;
    unsigned pt;
    enum sr_err err = sdpline_media(v, &media, &m->port, &proto, &fmts, why);

    if (err)
        return err;
    if (!slice_copy_cstr(media, m->media, sizeof(m->media)))
        return (*why = "m=: bad media"), SR_EPARSE;
    if (!slice_copy_cstr(proto, m->proto, sizeof(m->proto)))
        return (*why = "m=: bad proto"), SR_EPARSE;
    while ((fmt = sdpline_token(&fmts)).len) {
        if (m->n_fmt == KA_SDP_MAX_FMT)
            return (*why = "m=: too many formats"), SR_ELIMIT;
        /* Non-RTP protos have non-numeric formats: keep none of them. */
        if (sdpline_pt(fmt, &pt))
            m->fmt[m->n_fmt++] = pt;
        else if (strncmp(m->proto, "RTP/", 4) == 0)
            return (*why = "m=: payload type not 0-127"), SR_EPARSE;
    }
    return SR_OK;
}

static enum sr_err rtpmap_parse(struct slice v, struct ka_sdp_media *m, const char **why)
{
    struct ka_sdp_rtpmap *r;
    struct slice name;
    unsigned pt, rate, channels;

    if (!sdpline_rtpmap(v, &pt, &name, &rate, &channels))
        return (*why = "a=rtpmap: malformed"), SR_EPARSE;
    if (m->n_rtpmap == KA_SDP_MAX_FMT)
        return (*why = "a=rtpmap: too many"), SR_ELIMIT;
    r = &m->rtpmap[m->n_rtpmap];
    if (!slice_copy_cstr(name, r->codec, sizeof(r->codec)))
        return (*why = "a=rtpmap: encoding name too long"), SR_EPARSE;
    r->pt = pt;
    r->clock_rate = rate;
    m->n_rtpmap++;
    return SR_OK;
}

/* "a=crypto:<tag> <suite> <key-params> [<session-params>...]" (RFC 4568 9.1). */
static enum sr_err crypto_parse(struct slice v, struct ka_sdp_media *m, const char **why)
{
    struct slice suite, kps, sess;
    struct srtpkey_key keys[KA_SDP_MAX_KEYS];
    struct ka_sdp_crypto *cr;
    enum srtpkey_suite id;
    size_t n = 0;
    uint32_t t;
    enum sr_err err = sdpline_crypto(v, &t, &suite, &kps, &sess, why);

    if (err)
        return err;
    if (m->n_crypto == KA_SDP_MAX_CRYPTO)
        return (*why = "a=crypto: too many in one m= section"), SR_ELIMIT;
    for (size_t i = 0; i < m->n_crypto; i++)
        if (m->crypto[i].tag == t)
            return (*why = "a=crypto: tag repeated"), SR_EPARSE;
    err = srtpkey_suite_parse(suite, &id, why);
    if (err)
        return err;
    cr = &m->crypto[m->n_crypto];
    cr->tag = t;
    slice_copy_cstr(suite, cr->suite, sizeof(cr->suite));
    /* key-params (srtpkey.h): the same parser and key-set rules as the
     * control socket and the key body, so the line disclosed is one the
     * keyagent takes. */
    err = srtpkey_params_parse(kps, id, keys, SR_ARRAY_LEN(keys), &n, why);
    for (size_t i = 0; !err && i < n; i++) {
        memcpy(cr->keys[i].master, keys[i].master, keys[i].master_len);
        cr->keys[i].master_len = keys[i].master_len;
        cr->keys[i].lifetime = keys[i].lifetime;
        cr->keys[i].mki = keys[i].mki;
        cr->keys[i].mki_len = keys[i].mki_len;
    }
    cr->n_keys = n;
    sr_wipe(keys, sizeof(keys));
    if (err)
        goto fail;
    /* Session params (KDR, UNENCRYPTED_SRTP, FEC_ORDER, WSH...) are ignored:
     * the control protocol has no field for them.  The flag lets a caller say so. */
    cr->session_params = sdpline_token(&sess).len > 0;
    m->n_crypto++;
    return SR_OK;
fail:
    sr_wipe(cr, sizeof(*cr));
    return err;
}

/* "a=ssrc:<id> <attribute>[:<value>]": only the first id counts; later ones
 * are retransmission or FEC streams, which the recorder does not keep. */
static enum sr_err ssrc_parse(struct slice v, struct ka_sdp_media *m, const char **why)
{
    uint32_t id;

    if (!sdpline_ssrc(v, &id))
        return (*why = "a=ssrc: bad id"), SR_EPARSE;
    if (!m->ssrc_known) {
        m->ssrc_known = true;
        m->ssrc = id;
    }
    return SR_OK;
}

static enum sr_err line_parse(char type, struct slice v, struct ka_sdp *out, char *sess_addr,
                              bool *sess_v6, const char **why)
{
    struct ka_sdp_media *m = out->n_media ? &out->media[out->n_media - 1] : NULL;

    switch (type) {
    case 'm':
        if (out->n_media == KA_SDP_MAX_MEDIA)
            return (*why = "too many m= lines"), SR_ELIMIT;
        m = &out->media[out->n_media++];
        return media_parse(v, m, why);
    case 'c':
        if (!sdpline_conn(v, m ? m->addr : sess_addr, 48, m ? &m->ipv6 : sess_v6))
            return (*why = "c=: not IN IP4/IP6 with a unicast address"), SR_EPARSE;
        return SR_OK;
    case 'a':
        if (!m)
            return SR_OK; /* session-level attributes: none matter here */
        if (slice_starts_nocase(v, SLICE_LIT("crypto:")))
            return crypto_parse(slice_of(v.p + 7, v.len - 7), m, why);
        if (slice_starts_nocase(v, SLICE_LIT("rtpmap:")))
            return rtpmap_parse(slice_of(v.p + 7, v.len - 7), m, why);
        if (slice_starts_nocase(v, SLICE_LIT("ssrc:")))
            return ssrc_parse(slice_of(v.p + 5, v.len - 5), m, why);
        return SR_OK;
    default:
        return SR_OK;
    }
}

enum sr_err ka_sdp_parse(const char *text, size_t len, struct ka_sdp *out, const char **why)
{
    struct slice cur, v;
    char sess_addr[48] = "", type;
    bool sess_v6 = false;
    size_t lineno = 0;
    enum sr_err err = SR_OK;
    const char *dummy;

    if (!why)
        why = &dummy;
    *why = "";
    if (!out || (!text && len))
        return (*why = "bad arguments"), SR_EINVAL;
    ka_sdp_wipe(out);
    if (len > KA_SDP_MAX)
        return (*why = "SDP larger than 64 KiB"), SR_ELIMIT;
    cur = slice_of(text, len);
    /* Lines and their grammar: sdpline.h, the one SDP reader. */
    while ((err = sdpline_next(&cur, KA_SDP_MAX_LINE, &type, &v, why)) == SR_OK) {
        if (lineno++ == 0 && (type != 'v' || !slice_eq(v, SLICE_LIT("0")))) {
            *why = "first line is not v=0";
            err = SR_EPARSE;
            goto out;
        }
        err = line_parse(type, v, out, sess_addr, &sess_v6, why);
        if (err)
            goto out;
    }
    if (err != SR_EAGAIN)
        goto out;
    err = SR_OK;
    if (lineno == 0) {
        *why = "empty SDP";
        err = SR_EPARSE;
        goto out;
    }
    /* RFC 4566 5.7: a section without c= uses the session's. */
    for (size_t i = 0; i < out->n_media; i++)
        if (!out->media[i].addr[0]) {
            memcpy(out->media[i].addr, sess_addr, sizeof(sess_addr));
            out->media[i].ipv6 = sess_v6;
        }
out:
    if (err)
        ka_sdp_wipe(out);
    return err;
}

/* ---- disclosure --------------------------------------------------------- */

static const struct ka_sdp_crypto *crypto_by_tag(const struct ka_sdp_media *m, uint32_t tag)
{
    for (size_t i = 0; i < m->n_crypto; i++)
        if (m->crypto[i].tag == tag)
            return &m->crypto[i];
    return NULL;
}

/* The codec both sides use: the first of a's formats that b also lists (an
 * answer keeps the offer's formats in its order of preference, RFC 3264 6.1),
 * named by a's rtpmap or the static table. */
static bool codec_pick(const struct ka_sdp_media *a, const struct ka_sdp_media *b, unsigned *pt,
                       const char **codec, unsigned *rate)
{
    for (size_t i = 0; i < a->n_fmt; i++)
        for (size_t j = 0; j < b->n_fmt; j++) {
            if (a->fmt[i] != b->fmt[j])
                continue;
            *pt = a->fmt[i];
            for (size_t k = 0; k < a->n_rtpmap; k++)
                if (a->rtpmap[k].pt == *pt) {
                    *codec = a->rtpmap[k].codec;
                    *rate = a->rtpmap[k].clock_rate;
                    return true;
                }
            for (size_t k = 0; k < sizeof(static_pts) / sizeof(static_pts[0]); k++)
                if (static_pts[k].pt == *pt) {
                    *codec = static_pts[k].codec;
                    *rate = static_pts[k].clock_rate;
                    return true;
                }
            return false; /* a dynamic type without rtpmap names no codec */
        }
    return false;
}

static void addr_fmt(const struct ka_sdp_media *m, char *out, size_t outlen)
{
    snprintf(out, outlen, m->ipv6 ? "[%s]:%u" : "%s:%u", m->addr, m->port);
}

struct plan {
    struct ka_stream_info info[2 * KA_SDP_MAX_MEDIA];
    struct ka_key keys[2 * KA_SDP_MAX_MEDIA][KA_SDP_MAX_KEYS];
    char ids[2 * KA_SDP_MAX_MEDIA][32];
    char addrs[KA_SDP_MAX_MEDIA][2][64];
    size_t n;
};

static void plan_keys(struct plan *p, const struct ka_sdp_crypto *cr)
{
    struct ka_stream_info *s = &p->info[p->n];

    for (size_t k = 0; k < cr->n_keys; k++)
        p->keys[p->n][k] = (struct ka_key){ .master = cr->keys[k].master,
                                            .master_len = cr->keys[k].master_len,
                                            .lifetime = cr->keys[k].lifetime,
                                            .mki = cr->keys[k].mki,
                                            .mki_len = cr->keys[k].mki_len };
    s->suite = cr->suite;
    s->keys = p->keys[p->n];
    s->n_keys = cr->n_keys;
}

/* Build every STREAM before the CALL goes out, so that a pair that cannot be
 * disclosed is refused without telling subscribers anything. */
static enum sr_err plan_build(struct plan *p, const char *call_id, const struct ka_sdp *local,
                              const struct ka_sdp *remote, uint32_t roc, bool addresses,
                              const char **why)
{
    if (local->n_media != remote->n_media)
        return (*why = "offer and answer have different numbers of m= lines"), SR_EINVAL;
    for (size_t i = 0; i < local->n_media; i++) {
        const struct ka_sdp_media *l = &local->media[i], *r = &remote->media[i];
        const struct ka_sdp_crypto *lc, *rc;
        unsigned pt = 0, rate = 0;
        const char *codec = NULL;

        if (strcmp(l->media, r->media) != 0)
            return (*why = "m= lines of offer and answer do not match"), SR_EINVAL;
        /* Only audio is recorded; a rejected (port 0) or unencrypted
         * section has no keys to disclose. */
        if (strcmp(l->media, "audio") != 0 || l->port == 0 || r->port == 0 ||
            (l->n_crypto == 0 && r->n_crypto == 0))
            continue;
        if (l->n_crypto == 0 || r->n_crypto == 0)
            return (*why = "a=crypto on one side only"), SR_EINVAL;
        if (l->n_crypto != 1 && r->n_crypto != 1)
            return (*why = "neither side has exactly one a=crypto (no answer)"), SR_EINVAL;
        lc = l->n_crypto == 1 ? &l->crypto[0] : crypto_by_tag(l, r->crypto[0].tag);
        rc = r->n_crypto == 1 ? &r->crypto[0] : crypto_by_tag(r, l->crypto[0].tag);
        if (!lc || !rc || lc->tag != rc->tag)
            return (*why = "no a=crypto tag shared by offer and answer"), SR_EINVAL;
        if (strcmp(lc->suite, rc->suite) != 0)
            return (*why = "offer and answer use different suites for one tag"), SR_EINVAL;
        if (!l->addr[0] || !r->addr[0])
            return (*why = "m= section without c= (and no session c=)"), SR_EINVAL;
        if (!codec_pick(l, r, &pt, &codec, &rate))
            return (*why = "no common payload type with a known codec"), SR_EINVAL;
        addr_fmt(l, p->addrs[i][0], sizeof(p->addrs[i][0]));
        addr_fmt(r, p->addrs[i][1], sizeof(p->addrs[i][1]));
        for (int dir = 0; dir < 2; dir++) {
            struct ka_stream_info *s = &p->info[p->n];
            const struct ka_sdp_media *own = dir == 0 ? l : r;

            snprintf(p->ids[p->n], sizeof(p->ids[p->n]), "%.8s%u-%s", l->media, (unsigned)i,
                     dir == 0 ? "tx" : "rx");
            *s = (struct ka_stream_info){
                .call_id = call_id, .stream_id = p->ids[p->n],
                .direction = dir == 0 ? KA_DIR_SEND : KA_DIR_RECV,
                .ssrc_known = own->ssrc_known, .ssrc = own->ssrc,
                .payload_type = pt, .codec = codec, .clock_rate = rate,
                /* NULL: "-" on the wire, the recorder binds by authentication. */
                .src = addresses ? p->addrs[i][dir] : NULL,
                .dst = addresses ? p->addrs[i][1 - dir] : NULL,
                .roc = roc, .seq = 0,
            };
            plan_keys(p, dir == 0 ? lc : rc);
            p->n++;
        }
    }
    return SR_OK;
}

/* roc: 0 for a pair disclosed as the call starts, KA_ROC_UNKNOWN for one
 * disclosed at any time (start_wall_us: the dialog's start, 0 unknown). */
static enum sr_err sdp_disclose(struct ka_client *c, const struct ka_call_info *call,
                                uint32_t roc, bool addresses, uint64_t start_wall_us,
                                const struct ka_sdp *local,
                                const struct ka_sdp *remote, size_t *n_streams, const char **why)
{
    struct plan p = { .n = 0 };
    enum sr_err err;
    const char *dummy;
    size_t ok = 0;

    if (!why)
        why = &dummy;
    *why = "";
    if (n_streams)
        *n_streams = 0;
    if ((c && (!call || !call->call_id)) || !local || !remote)
        return (*why = "bad arguments"), SR_EINVAL;
    err = plan_build(&p, c ? call->call_id : "-", local, remote, roc, addresses, why);
    if (!err && p.n == 0) {
        *why = "no audio m= line with a=crypto on both sides";
        err = SR_EINVAL;
    }
    if (err)
        goto out;
    if (!c) {
        if (n_streams)
            *n_streams = p.n; /* dry run */
        goto out;
    }
    /* One write: subscribers get the call with all its keys in one NOTIFY. */
    err = ka_call_begin_streams_at(c, call, start_wall_us, p.info, p.n, &ok);
    if (err == SR_ESTATE)
        *why = ok == 0 ? "CALL refused" : "STREAM refused";
    else if (err)
        *why = "control socket failed";
    if (n_streams && ok)
        *n_streams = ok - 1;
out:
    /* p holds only pointers into the caller's SDPs; nothing secret to wipe. */
    return err;
}

enum sr_err ka_sdp_disclose(struct ka_client *c, const struct ka_call_info *call,
                            const struct ka_sdp *local, const struct ka_sdp *remote,
                            size_t *n_streams, const char **why)
{
    return sdp_disclose(c, call, 0, true, 0, local, remote, n_streams, why);
}

enum sr_err ka_sdp_disclose_late(struct ka_client *c, const struct ka_call_info *call,
                                 uint64_t start_wall_us, const struct ka_sdp *local,
                                 const struct ka_sdp *remote, size_t *n_streams,
                                 const char **why)
{
    return sdp_disclose(c, call, KA_ROC_UNKNOWN, true, start_wall_us, local, remote, n_streams,
                        why);
}

enum sr_err ka_sdp_disclose_with(struct ka_client *c, const struct ka_call_info *call,
                                 unsigned flags, uint64_t start_wall_us,
                                 const struct ka_sdp *local, const struct ka_sdp *remote,
                                 size_t *n_streams, const char **why)
{
    bool late = flags & KA_SDP_LATE;

    if (flags & ~(unsigned)(KA_SDP_LATE | KA_SDP_NO_ADDRESSES)) {
        if (why)
            *why = "unknown flags";
        return SR_EINVAL;
    }
    return sdp_disclose(c, call, late ? KA_ROC_UNKNOWN : 0, !(flags & KA_SDP_NO_ADDRESSES),
                        late ? start_wall_us : 0, local, remote, n_streams, why);
}

enum sr_err ka_sdp_rekey(struct ka_client *c, const char *call_id, const struct ka_sdp *local,
                         const struct ka_sdp *remote, size_t *n_streams, const char **why)
{
    struct plan p = { .n = 0 };
    enum sr_err err;
    const char *dummy;

    if (!why)
        why = &dummy;
    *why = "";
    if (n_streams)
        *n_streams = 0;
    if (!c || !call_id || !local || !remote)
        return (*why = "bad arguments"), SR_EINVAL;
    err = plan_build(&p, call_id, local, remote, 0, true, why);
    if (!err && p.n == 0)
        return (*why = "no audio m= line with a=crypto on both sides"), SR_EINVAL;
    /* A re-INVITE that keeps its keys (hold, unhold) is sent too: the
     * recorder ignores a REKEY whose keys it already has. */
    for (size_t i = 0; !err && i < p.n; i++) {
        err = ka_rekey(c, call_id, p.info[i].stream_id, p.info[i].suite, p.info[i].keys,
                       p.info[i].n_keys);
        if (err)
            *why = err == SR_ESTATE ? "REKEY refused" : "control socket failed";
        else if (n_streams)
            (*n_streams)++;
    }
    return err;
}
