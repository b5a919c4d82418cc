/** @file answer.c  The SRS's SDP answer (siprec.h): recvonly, one a=crypto
 *  per SRTP line with a fresh key. */
#include <arpa/inet.h>
#include <openssl/rand.h>
#include <string.h>

#include "siprec_priv.h"
#include "util.h"

static bool rand_openssl(void *ctx, uint8_t *out, size_t len)
{
    (void)ctx;
    return len <= (size_t)INT32_MAX && RAND_bytes(out, (int)len) == 1;
}

static bool addr_ok(const struct siprec_answer_cfg *cfg)
{
    unsigned char bin[16];

    return cfg->addr && strlen(cfg->addr) < SIPREC_SDP_ADDR &&
           inet_pton(cfg->ipv6 ? AF_INET6 : AF_INET, cfg->addr, bin) == 1;
}

static const struct siprec_rtpmap *rtpmap_of(const struct siprec_sdp_media *m, unsigned pt)
{
    for (size_t i = 0; i < m->n_rtpmap; i++)
        if (m->rtpmap[i].pt == pt)
            return &m->rtpmap[i];
    return NULL;
}

/* a=crypto with the picked line's tag and suite and a key of our own. */
static enum sr_err crypto_print(struct buf *out, const struct siprec_crypto *cr,
                                const struct siprec_answer_cfg *cfg)
{
    const struct srtpkey_suite_info *info = srtpkey_suite(cr->suite);
    struct srtpkey_key k;
    char text[SRTPKEY_PARAM_TEXT];
    siprec_rand_fn rnd = cfg->rand ? cfg->rand : rand_openssl;
    enum sr_err err;

    memset(&k, 0, sizeof(k));
    if (!info)
        return SR_EINVAL;
    k.master_len = info->key_len + info->salt_len;
    if (!rnd(cfg->rand_ctx, k.master, k.master_len))
        return SR_ECRYPTO;
    err = srtpkey_param_print(&k, cr->suite, text, sizeof(text), NULL);
    if (!err)
        err = buf_printf(out, "a=crypto:%u %s %s\r\n", (unsigned)cr->tag, info->name, text);
    srtpkey_key_wipe(&k);
    sr_wipe(text, sizeof(text));
    return err;
}

static enum sr_err media_print(struct buf *out, const struct siprec_sdp_media *m, unsigned port,
                               int pick, const struct siprec_answer_cfg *cfg)
{
    bool rtp = m->proto != SIPREC_PROTO_OTHER;
    enum sr_err err = buf_printf(out, "m=%s %u %s", m->media, port, m->proto_text);

    if (!rtp) {
        /* RFC 3264 6: a rejected stream keeps one format of the offer
         * ("0" only when the offer's was too long to keep). */
        return err ? err
                   : buf_printf(out, " %s\r\na=inactive\r\n", m->fmt_other[0] ? m->fmt_other : "0");
    }
    for (size_t i = 0; !err && i < m->n_fmt; i++)
        err = buf_printf(out, " %u", m->fmt[i]);
    if (!err)
        err = buf_printf(out, "\r\n");
    for (size_t i = 0; !err && port && i < m->n_fmt; i++) {
        const struct siprec_rtpmap *r = rtpmap_of(m, m->fmt[i]);

        if (r && r->channels > 1)
            err = buf_printf(out, "a=rtpmap:%u %s/%u/%u\r\n", r->pt, r->codec, r->clock_rate,
                             r->channels);
        else if (r)
            err = buf_printf(out, "a=rtpmap:%u %s/%u\r\n", r->pt, r->codec, r->clock_rate);
    }
    if (!err && m->label[0])
        err = buf_printf(out, "a=label:%s\r\n", m->label);
    /* RFC 3264 6.1: recvonly answers sendonly or sendrecv; an offer that
     * does not send (recvonly, inactive) has nothing to record. */
    if (!err)
        err = buf_printf(out, "%s\r\n",
                         port == 0 || m->dir == SIPREC_DIR_INACTIVE || m->dir == SIPREC_DIR_RECVONLY
                             ? "a=inactive"
                             : "a=recvonly");
    if (!err && port && m->rtcp_mux && cfg->rtcp_mux)
        err = buf_printf(out, "a=rtcp-mux\r\n");
    if (!err && port && pick >= 0)
        err = crypto_print(out, &m->crypto[pick], cfg);
    return err;
}

enum siprec_err siprec_sdp_answer_print(const struct siprec_sdp *offer,
                                        const struct siprec_answer_cfg *cfg, struct buf *out,
                                        int chosen[SIPREC_SDP_MAX_MEDIA])
{
    const char *at;
    size_t start;
    enum sr_err err;

    if (!offer || !cfg || !out || offer->n_media > SIPREC_SDP_MAX_MEDIA)
        return SIPREC_E_INVAL;
    if (!addr_ok(cfg))
        return SIPREC_E_SDP_ANSWER;
    start = out->len;
    at = cfg->ipv6 ? "IP6" : "IP4";
    err = buf_printf(out, "v=0\r\no=srtprec %llu %llu IN %s %s\r\ns=-\r\nc=IN %s %s\r\nt=0 0\r\n",
                     (unsigned long long)cfg->sess_id, (unsigned long long)cfg->sess_version, at,
                     cfg->addr, at, cfg->addr);
    for (size_t i = 0; !err && i < offer->n_media; i++) {
        const struct siprec_sdp_media *m = &offer->media[i];
        int pick = siprec_sdp_crypto_pick(m);
        bool srtp = m->proto == SIPREC_PROTO_RTP_SAVP || m->proto == SIPREC_PROTO_RTP_SAVPF;
        unsigned port = cfg->port[i];

        if (port > 65535) {
            err = SR_EINVAL;
            break;
        }
        if (m->port == 0 || m->proto == SIPREC_PROTO_OTHER || (srtp && pick < 0))
            port = 0;
        if (port == 0)
            pick = -1;
        if (chosen)
            chosen[i] = pick;
        err = media_print(out, m, port, pick, cfg);
    }
    if (err) {
        if (out->len > start) {
            sr_wipe(out->p + start, out->len - start);
            out->len = start;
        }
        return SIPREC_E_SDP_ANSWER;
    }
    return SIPREC_OK;
}
