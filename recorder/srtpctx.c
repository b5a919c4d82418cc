/** @file srtpctx.c  One libsrtp2 (2.5) session per stream.
 *
 * libsrtp 2.5 keeps a session's streams in a linked list, so a session with
 * thousands of SSRCs costs a list walk per packet; we give every stream its
 * own session with a single ssrc_specific policy and find it through our own
 * hash table (streams.c).  Decryption is in place (2.x API).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <srtp2/srtp.h>

#include "rec_hmac.h"
#include "log.h"
#include "rec.h"
#include "util.h"

struct rec_srtp {
    srtp_t ctx;      /**< owned */
    uint32_t ssrc;
    bool sender;
    bool use_mki;
    bool started;    /**< an RTP packet has authenticated (receiver) */
    uint32_t roc;    /**< disclosure point, for packets before the first success */
    uint16_t seq;
    bool have_seq;
    size_t rtp_min;  /**< tag + MKI bytes an SRTP packet carries at least */
    size_t rtcp_min; /**< header + index + tag + MKI bytes of SRTCP */
};

/* ------------------------------------------------------------------------ */
/* Suites                                                                    */
/* ------------------------------------------------------------------------ */

/* Names, lengths and tag sizes are srtpkey's table; only the libsrtp policy
 * for each suite (suite_policy) is the recorder's own. */
const char *rec_suite_name(enum rec_suite s)
{
    return srtpkey_suite_ok((enum srtpkey_suite)s) ? srtpkey_suite_name((enum srtpkey_suite)s)
                                                   : "?";
}

bool rec_suite_lengths(enum rec_suite s, size_t *key_len, size_t *salt_len)
{
    const struct srtpkey_suite_info *si = srtpkey_suite((enum srtpkey_suite)s);

    if (!si || !si->decrypts)
        return false;
    if (key_len)
        *key_len = si->key_len;
    if (salt_len)
        *salt_len = si->salt_len;
    return true;
}

/* Tag lengths (RTP, RTCP); the caller has checked the suite (cfg_valid). */
static void suite_tags(enum rec_suite s, size_t *rtp, size_t *rtcp)
{
    const struct srtpkey_suite_info *si = srtpkey_suite((enum srtpkey_suite)s);

    *rtp = si ? si->tag_rtp : 10;
    *rtcp = si ? si->tag_rtcp : 10;
}

static void suite_policy(enum rec_suite s, srtp_policy_t *p)
{
    switch (s) {
    case REC_SUITE_AES_CM_128_HMAC_SHA1_80:
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p->rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p->rtcp);
        break;
    case REC_SUITE_AES_CM_128_HMAC_SHA1_32:
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&p->rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p->rtcp);
        break;
    case REC_SUITE_AES_256_CM_HMAC_SHA1_80:
        srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(&p->rtp);
        srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(&p->rtcp);
        break;
    case REC_SUITE_AES_256_CM_HMAC_SHA1_32:
        srtp_crypto_policy_set_aes_cm_256_hmac_sha1_32(&p->rtp);
        srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(&p->rtcp);
        break;
    /* RFC 7714 section 14.2: 16-octet tags. */
    case REC_SUITE_AEAD_AES_128_GCM:
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&p->rtp);
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&p->rtcp);
        break;
    case REC_SUITE_AEAD_AES_256_GCM:
        srtp_crypto_policy_set_aes_gcm_256_16_auth(&p->rtp);
        srtp_crypto_policy_set_aes_gcm_256_16_auth(&p->rtcp);
        break;
    }
}

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

/* Translate once, at the boundary; the detail goes to debug only. */
static enum sr_err rec_err_from_srtp(srtp_err_status_t st, const char *what)
{
    switch (st) {
    case srtp_err_status_ok: return SR_OK;
    case srtp_err_status_auth_fail: return SR_EAUTH;
    case srtp_err_status_replay_fail:
    case srtp_err_status_replay_old:
    case srtp_err_status_pkt_idx_old: return SR_EREPLAY;
    /* An SSRC this session does not serve, or an MKI it does not hold yet:
     * both mean "the key for this packet is not here", which the caller may
     * answer by holding the packet. */
    case srtp_err_status_no_ctx:
    case srtp_err_status_bad_mki: return SR_ENOKEY;
    case srtp_err_status_parse_err: return SR_EPARSE;
    case srtp_err_status_alloc_fail: return SR_ENOMEM;
    default: break;
    }
    log_debug("%s: libsrtp status %d", what, (int)st);
    return SR_ECRYPTO;
}

static void srtp_log_to_ours(srtp_log_level_t level, const char *msg, void *data)
{
    (void)data;
    /* libsrtp prints keys only from debug modules, which stay off. */
    log_debug("libsrtp[%d]: %s", (int)level, msg ? msg : "");
}

/* ------------------------------------------------------------------------ */
/* Library                                                                   */
/* ------------------------------------------------------------------------ */

const char *rec_srtp_backend_name(enum rec_srtp_backend b)
{
    switch (b) {
    case REC_SRTP_BACKEND_UNKNOWN: return "unknown";
    case REC_SRTP_BACKEND_OPENSSL: return "openssl";
    case REC_SRTP_BACKEND_NSS: return "nss";
    case REC_SRTP_BACKEND_MBEDTLS: return "mbedtls";
    case REC_SRTP_BACKEND_INTERNAL: return "internal";
    }
    return "?";
}

static bool module_present(const char *name)
{
    /* "off" is every module's default and we never turn one on, so the probe
     * leaves libsrtp as it was. */
    return srtp_set_debug_module(name, 0) == srtp_err_status_ok;
}

enum rec_srtp_backend rec_srtp_backend_detect(void)
{
    /* Names from libsrtp 2.x crypto/cipher/aes_icm_{ossl,nss,mbedtls}.c,
     * aes_icm.c and crypto/hash/hmac_{ossl,nss,mbedtls}.c, hmac.c.  Both the
     * cipher and the HMAC must agree. */
    if (module_present("aes icm ossl") && module_present("hmac sha-1 openssl"))
        return REC_SRTP_BACKEND_OPENSSL;
    if (module_present("aes icm nss") || module_present("hmac sha-1 nss"))
        return REC_SRTP_BACKEND_NSS;
    if (module_present("aes icm mbedtls") || module_present("hmac sha-1 mbedtls"))
        return REC_SRTP_BACKEND_MBEDTLS;
    if (module_present("aes icm") && module_present("hmac sha-1"))
        return REC_SRTP_BACKEND_INTERNAL;
    return REC_SRTP_BACKEND_UNKNOWN;
}

enum sr_err rec_srtp_lib_init(bool allow_other_backend, enum rec_srtp_backend *backend)
{
    enum rec_srtp_backend b;
    srtp_err_status_t st;
    enum sr_err err;

    if (backend)
        *backend = REC_SRTP_BACKEND_UNKNOWN;
    srtp_install_log_handler(srtp_log_to_ours, NULL);
    st = srtp_init();
    if (st != srtp_err_status_ok)
        return rec_err_from_srtp(st, "srtp_init");
    b = rec_srtp_backend_detect();
    if (backend)
        *backend = b;
    log_debug("libsrtp %s, crypto backend %s", srtp_get_version_string(),
              rec_srtp_backend_name(b));
    if (b != REC_SRTP_BACKEND_OPENSSL && !allow_other_backend) {
        err = SR_EUNSUPP;
        goto fail;
    }
    /* Before the self-test, which then runs the RFC 3711 vectors through it. */
    st = rec_hmac_install();
    if (st != srtp_err_status_ok) {
        err = rec_err_from_srtp(st, "HMAC-SHA1 auth type");
        goto fail;
    }
    err = rec_srtp_self_test();
    if (err)
        goto fail;
    return SR_OK;
fail:
    srtp_shutdown();
    srtp_install_log_handler(NULL, NULL);
    return err;
}

void rec_srtp_lib_fini(void)
{
    srtp_shutdown();
    srtp_install_log_handler(NULL, NULL);
}

/* ------------------------------------------------------------------------ */
/* Sessions                                                                  */
/* ------------------------------------------------------------------------ */

static bool cfg_valid(const struct rec_srtp_cfg *cfg)
{
    struct srtpkey_set set;
    const char *why;
    size_t klen, slen;

    if (cfg->n_keys < 1 || cfg->n_keys > REC_SRTP_MAX_KEYS)
        return false;
    if (cfg->window && (cfg->window < 64 || cfg->window > 0x7fff))
        return false;
    srtpkey_set_init(&set);
    for (size_t i = 0; i < cfg->n_keys; i++) {
        const struct rec_srtp_key *k = &cfg->keys[i];
        if (k->suite != cfg->keys[0].suite || !rec_suite_lengths(k->suite, &klen, &slen))
            return false;
        if (k->master_len != klen + slen)
            return false;
        if (k->mki_len > REC_SRTP_MAX_MKI || (k->mki_len < 4 && k->mki >> (8 * k->mki_len)))
            return false;
        /* libsrtp tells keys apart only by MKI: srtpkey's key-set rules. */
        if (srtpkey_set_add(&set, k->mki, k->mki_len, &why) != SR_OK)
            return false;
    }
    return true;
}

enum sr_err rec_srtp_create(struct rec_srtp **out, const struct rec_srtp_cfg *cfg)
{
    uint8_t master[REC_SRTP_MAX_KEYS][REC_SRTP_MAX_MASTER];
    uint8_t mki[REC_SRTP_MAX_KEYS][REC_SRTP_MAX_MKI];
    srtp_master_key_t mk[REC_SRTP_MAX_KEYS];
    srtp_master_key_t *mkp[REC_SRTP_MAX_KEYS];
    srtp_policy_t policy;
    struct rec_srtp *s = NULL;
    srtp_err_status_t st;
    enum sr_err err;

    if (!out || !cfg || !cfg_valid(cfg))
        return SR_EINVAL;
    s = calloc(1, sizeof(*s));
    if (!s)
        return SR_ENOMEM;
    s->ssrc = cfg->ssrc;
    s->sender = cfg->sender;
    s->use_mki = cfg->keys[0].mki_len > 0;
    s->roc = cfg->roc;
    s->seq = cfg->seq;
    s->have_seq = cfg->have_seq;
    size_t tag_rtp, tag_rtcp;
    suite_tags(cfg->keys[0].suite, &tag_rtp, &tag_rtcp);
    s->rtp_min = tag_rtp + cfg->keys[0].mki_len;
    s->rtcp_min = REC_RTCP_HDR_MIN + 4 + tag_rtcp + cfg->keys[0].mki_len;

    memset(&policy, 0, sizeof(policy));
    memset(master, 0, sizeof(master));
    suite_policy(cfg->keys[0].suite, &policy);
    policy.ssrc.type = ssrc_specific;
    policy.ssrc.value = cfg->ssrc;
    policy.window_size = cfg->window ? cfg->window : 128;
    policy.allow_repeat_tx = 0;
    for (size_t i = 0; i < cfg->n_keys; i++) {
        const struct rec_srtp_key *k = &cfg->keys[i];
        /* libsrtp wants non-const key buffers; this copy is wiped below. */
        memcpy(master[i], k->master, k->master_len);
        for (unsigned b = 0; b < k->mki_len; b++)
            mki[i][b] = (uint8_t)(k->mki >> (8 * (k->mki_len - 1 - b)));
        mk[i].key = master[i];
        mk[i].mki_id = mki[i];
        mk[i].mki_size = k->mki_len;
        mkp[i] = &mk[i];
    }
    if (s->use_mki) {
        policy.keys = mkp;
        policy.num_master_keys = cfg->n_keys;
    } else {
        policy.key = master[0];
    }

    st = srtp_create(&s->ctx, &policy);
    sr_wipe(master, sizeof(master));
    if (st != srtp_err_status_ok) {
        s->ctx = NULL;
        err = rec_err_from_srtp(st, "srtp_create");
        if (err == SR_EPARSE || err == SR_ENOKEY)
            err = SR_ECRYPTO;
        goto fail;
    }
    /* A sender picks up at the disclosed ROC; libsrtp's "pending ROC" moves
     * its index there on the first protect. */
    if (s->sender && cfg->roc) {
        st = srtp_set_stream_roc(s->ctx, s->ssrc, cfg->roc);
        if (st != srtp_err_status_ok) {
            err = rec_err_from_srtp(st, "srtp_set_stream_roc");
            goto fail;
        }
    }
    *out = s;
    return SR_OK;
fail:
    rec_srtp_destroy(s);
    return err;
}

void rec_srtp_destroy(struct rec_srtp *s)
{
    if (!s)
        return;
    if (s->ctx)
        srtp_dealloc(s->ctx);
    free(s);
}

uint32_t rec_srtp_ssrc(const struct rec_srtp *s)
{
    return s ? s->ssrc : 0;
}

enum sr_err rec_srtp_roc(const struct rec_srtp *s, uint32_t *roc)
{
    if (!s || !roc)
        return SR_EINVAL;
    if (!s->sender && !s->started) {
        *roc = s->roc;
        return SR_OK;
    }
    return rec_err_from_srtp(srtp_get_stream_roc(s->ctx, s->ssrc, roc), "srtp_get_stream_roc");
}

/* The ROC of a packet with sequence number seq, given the disclosed
 * (roc, seq) as the highest index seen: RFC 3711 3.3.1, as libsrtp's
 * srtp_index_guess does it.  A packet from just before a wrap that was
 * disclosed after it gets roc - 1. */
static uint32_t guess_roc(const struct rec_srtp *s, uint16_t seq)
{
    int local = s->seq, pkt = seq;

    if (!s->have_seq)
        return s->roc;
    if (local < 0x8000) {
        if (pkt - local > 0x8000)
            return s->roc ? s->roc - 1 : 0;
    } else if (local - 0x8000 > pkt) {
        return s->roc + 1;
    }
    return s->roc;
}

enum sr_err rec_srtp_unprotect(struct rec_srtp *s, uint8_t *pkt, size_t *len)
{
    struct rec_rtp hdr;
    srtp_err_status_t st;
    int n;

    if (!s || !pkt || !len)
        return SR_EINVAL;
    if (*len > 65535)
        return SR_ELIMIT;
    if (rec_rtp_parse(pkt, *len, true, &hdr, NULL) != SR_OK || hdr.payload.len < s->rtp_min)
        return SR_EPARSE;
    if (hdr.ssrc != s->ssrc)
        return SR_ENOKEY;
    if (!s->started) {
        /* Until one packet authenticates, libsrtp's window sits at index 0
         * and cannot place a packet from a call in progress: hand it the ROC
         * we derive from the disclosure.  A pending ROC of 0 means "none",
         * which for a fresh window is the same as ROC 0. */
        st = srtp_set_stream_roc(s->ctx, s->ssrc, guess_roc(s, hdr.seq));
        if (st != srtp_err_status_ok)
            return rec_err_from_srtp(st, "srtp_set_stream_roc");
    }
    n = (int)*len;
    st = srtp_unprotect_mki(s->ctx, pkt, &n, s->use_mki);
    if (st != srtp_err_status_ok)
        return rec_err_from_srtp(st, "srtp_unprotect");
    s->started = true;
    *len = (size_t)n;
    return SR_OK;
}

enum sr_err rec_srtp_unprotect_rtcp(struct rec_srtp *s, uint8_t *pkt, size_t *len)
{
    struct rec_rtcp hdr;
    srtp_err_status_t st;
    int n;

    if (!s || !pkt || !len)
        return SR_EINVAL;
    if (*len > 65535)
        return SR_ELIMIT;
    if (*len < s->rtcp_min || rec_rtcp_parse(pkt, *len, true, &hdr, NULL) != SR_OK)
        return SR_EPARSE;
    if (hdr.ssrc != s->ssrc)
        return SR_ENOKEY;
    n = (int)*len;
    st = srtp_unprotect_rtcp_mki(s->ctx, pkt, &n, s->use_mki);
    if (st != srtp_err_status_ok)
        return rec_err_from_srtp(st, "srtp_unprotect_rtcp");
    *len = (size_t)n;
    return SR_OK;
}

enum sr_err rec_srtp_protect(struct rec_srtp *s, uint8_t *pkt, size_t *len, size_t cap)
{
    struct rec_rtp hdr;
    srtp_err_status_t st;
    int n;

    if (!s || !pkt || !len || !s->sender)
        return SR_EINVAL;
    if (*len > 65535 - REC_SRTP_TRAILER_MAX || cap < *len + REC_SRTP_TRAILER_MAX)
        return SR_ELIMIT;
    if (rec_rtp_parse(pkt, *len, true, &hdr, NULL) != SR_OK)
        return SR_EPARSE;
    n = (int)*len;
    st = srtp_protect_mki(s->ctx, pkt, &n, s->use_mki, 0);
    if (st != srtp_err_status_ok)
        return rec_err_from_srtp(st, "srtp_protect");
    *len = (size_t)n;
    return SR_OK;
}

enum sr_err rec_srtp_protect_rtcp(struct rec_srtp *s, uint8_t *pkt, size_t *len, size_t cap)
{
    struct rec_rtcp hdr;
    srtp_err_status_t st;
    int n;

    if (!s || !pkt || !len || !s->sender)
        return SR_EINVAL;
    if (*len > 65535 - REC_SRTP_TRAILER_MAX || cap < *len + REC_SRTP_TRAILER_MAX)
        return SR_ELIMIT;
    if (rec_rtcp_parse(pkt, *len, true, &hdr, NULL) != SR_OK)
        return SR_EPARSE;
    n = (int)*len;
    st = srtp_protect_rtcp_mki(s->ctx, pkt, &n, s->use_mki, 0);
    if (st != srtp_err_status_ok)
        return rec_err_from_srtp(st, "srtp_protect_rtcp");
    *len = (size_t)n;
    return SR_OK;
}

enum sr_err rec_srtp_trial(const struct rec_srtp_cfg *cands, size_t n, uint8_t *pkt, size_t *len,
                           bool rtcp, size_t *which, struct rec_srtp **winner)
{
    uint8_t scratch[REC_PKT_MAX];
    struct rec_srtp_cfg cfg;
    uint32_t ssrc;
    enum sr_err err;

    if (!cands || !pkt || !len || !which)
        return SR_EINVAL;
    if (n > REC_SRTP_MAX_TRIAL || *len > REC_PKT_MAX)
        return SR_ELIMIT;
    if (rtcp) {
        struct rec_rtcp h;
        if (rec_rtcp_parse(pkt, *len, true, &h, NULL) != SR_OK)
            return SR_EPARSE;
        ssrc = h.ssrc;
    } else {
        struct rec_rtp h;
        if (rec_rtp_parse(pkt, *len, true, &h, NULL) != SR_OK)
            return SR_EPARSE;
        ssrc = h.ssrc;
    }

    for (size_t i = 0; i < n; i++) {
        struct rec_srtp *s = NULL;
        size_t plen = *len;

        memcpy(&cfg, &cands[i], sizeof(cfg));
        cfg.ssrc = ssrc;
        cfg.sender = false;
        err = rec_srtp_create(&s, &cfg);
        sr_wipe(&cfg, sizeof(cfg));
        if (err) {
            log_debug("trial candidate %zu: %s", i, sr_strerror(err));
            continue;
        }
        memcpy(scratch, pkt, plen);
        err = rtcp ? rec_srtp_unprotect_rtcp(s, scratch, &plen)
                   : rec_srtp_unprotect(s, scratch, &plen);
        if (err == SR_OK) {
            memcpy(pkt, scratch, plen);
            sr_wipe(scratch, plen);
            *len = plen;
            *which = i;
            if (winner)
                *winner = s;
            else
                rec_srtp_destroy(s);
            return SR_OK;
        }
        rec_srtp_destroy(s);
    }
    sr_wipe(scratch, *len);
    return SR_EAUTH;
}

enum sr_err rec_srtp_find_roc(const struct rec_srtp_cfg *cand, const uint8_t *pkt, size_t len,
                              uint32_t hi, size_t max_tries, uint32_t *roc, size_t *tries)
{
    uint8_t scratch[REC_PKT_MAX];
    struct rec_srtp_cfg cfg;
    struct rec_srtp *s = NULL;
    struct rec_rtp h;
    enum sr_err err;
    size_t n = 0;

    if (tries)
        *tries = 0;
    if (!cand || !pkt || !roc)
        return SR_EINVAL;
    if (len > REC_PKT_MAX)
        return SR_ELIMIT;
    if (rec_rtp_parse(pkt, len, true, &h, NULL) != SR_OK)
        return SR_EPARSE;
    memcpy(&cfg, cand, sizeof(cfg));
    cfg.ssrc = h.ssrc;
    cfg.sender = false;
    cfg.roc = 0;
    cfg.have_seq = false;
    err = rec_srtp_create(&s, &cfg);
    sr_wipe(&cfg, sizeof(cfg));
    if (err)
        return err == SR_EINVAL ? SR_EINVAL : SR_EAUTH;
    err = SR_EAUTH;
    /* The session never authenticates a packet until one try succeeds, so
     * each try starts from the same state: libsrtp only advances its
     * window after a packet authenticated, and s->roc is handed to it as
     * the pending ROC before every try (rec_srtp_unprotect). */
    for (uint64_t r = hi; n < max_tries; r--) {
        size_t plen = len;
        s->roc = (uint32_t)r;
        memcpy(scratch, pkt, len);
        n++;
        if (rec_srtp_unprotect(s, scratch, &plen) == SR_OK) {
            *roc = (uint32_t)r;
            err = SR_OK;
            break;
        }
        if (r == 0)
            break;
    }
    sr_wipe(scratch, len);
    rec_srtp_destroy(s);
    if (tries)
        *tries = n;
    return err;
}

/* ------------------------------------------------------------------------ */
/* Known-answer tests                                                        */
/* ------------------------------------------------------------------------ */

/* From libsrtp 2.5 test/srtp_driver.c: srtp_validate (test_key, default
 * policy = AES_CM_128_HMAC_SHA1_80), srtp_validate_aes_256 and
 * srtp_validate_gcm (test_key_gcm), all for SSRC 0xcafebabe. */
static const uint8_t kat_key_128[30] = {
    0xe1, 0xf9, 0x7a, 0x0d, 0x3e, 0x01, 0x8b, 0xe0, 0xd6, 0x4f, 0xa3, 0x2c, 0x06, 0xde, 0x41,
    0x39, 0x0e, 0xc6, 0x75, 0xad, 0x49, 0x8a, 0xfe, 0xeb, 0xb6, 0x96, 0x0b, 0x3a, 0xab, 0xe6,
};
static const uint8_t kat_key_256[46] = {
    0xf0, 0xf0, 0x49, 0x14, 0xb5, 0x13, 0xf2, 0x76, 0x3a, 0x1b, 0x1f, 0xa1, 0x30, 0xf1, 0x0e, 0x29,
    0x98, 0xf6, 0xf6, 0xe4, 0x3e, 0x43, 0x09, 0xd1, 0xe6, 0x22, 0xa0, 0xe3, 0x32, 0xb9, 0xf1, 0xb6,
    0x3b, 0x04, 0x80, 0x3d, 0xe5, 0x1e, 0xe7, 0xc9, 0x64, 0x23, 0xab, 0x5b, 0x78, 0xd2,
};
static const uint8_t kat_key_gcm[28] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d,
    0x0e, 0x0f, 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab,
};
static const uint8_t kat_rtp_plain[28] = {
    0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe, 0xba, 0xbe, 0xab, 0xab,
    0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
};
static const uint8_t kat_rtp_128[38] = {
    0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe, 0xba, 0xbe, 0x4e,
    0x55, 0xdc, 0x4c, 0xe7, 0x99, 0x78, 0xd8, 0x8c, 0xa4, 0xd2, 0x15, 0x94, 0x9d,
    0x24, 0x02, 0xb7, 0x8d, 0x6a, 0xcc, 0x99, 0xea, 0x17, 0x9b, 0x8d, 0xbb,
};
static const uint8_t kat_rtp_256[38] = {
    0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe, 0xba, 0xbe, 0xf1,
    0xd9, 0xde, 0x17, 0xff, 0x25, 0x1f, 0xf1, 0xaa, 0x00, 0x77, 0x74, 0xb0, 0xb4,
    0xb4, 0x0d, 0xa0, 0x8d, 0x9d, 0x9a, 0x5b, 0x3a, 0x55, 0xd8, 0x87, 0x3b,
};
static const uint8_t kat_rtp_gcm[44] = {
    0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe, 0xba, 0xbe, 0xc5, 0x00, 0x2e,
    0xde, 0x04, 0xcf, 0xdd, 0x2e, 0xb9, 0x11, 0x59, 0xe0, 0x88, 0x0a, 0xa0, 0x6e, 0xd2, 0x97,
    0x68, 0x26, 0xf7, 0x96, 0xb2, 0x01, 0xdf, 0x31, 0x31, 0xa1, 0x27, 0xe8, 0xa3, 0x92,
};
static const uint8_t kat_rtcp_plain[24] = {
    0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe, 0xab, 0xab, 0xab, 0xab,
    0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
};
static const uint8_t kat_rtcp_128[38] = {
    0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe, 0x71, 0x28, 0x03, 0x5b, 0xe4,
    0x87, 0xb9, 0xbd, 0xbe, 0xf8, 0x90, 0x41, 0xf9, 0x77, 0xa5, 0xa8, 0x80, 0x00,
    0x00, 0x01, 0x99, 0x3e, 0x08, 0xcd, 0x54, 0xd6, 0xc1, 0x23, 0x07, 0x98,
};

static bool kat_one(enum rec_suite suite, const uint8_t *key, size_t key_len, bool rtcp,
                    const uint8_t *cipher, size_t cipher_len, const uint8_t *plain,
                    size_t plain_len)
{
    struct rec_srtp_cfg cfg;
    struct rec_srtp *s = NULL;
    uint8_t buf[64];
    size_t len = cipher_len;
    bool ok;

    memset(&cfg, 0, sizeof(cfg));
    cfg.ssrc = 0xcafebabe;
    cfg.n_keys = 1;
    cfg.keys[0].suite = suite;
    memcpy(cfg.keys[0].master, key, key_len);
    cfg.keys[0].master_len = key_len;
    ok = rec_srtp_create(&s, &cfg) == SR_OK;
    sr_wipe(&cfg, sizeof(cfg));
    memcpy(buf, cipher, cipher_len);
    ok = ok && (rtcp ? rec_srtp_unprotect_rtcp(s, buf, &len) : rec_srtp_unprotect(s, buf, &len)) ==
                   SR_OK;
    ok = ok && len == plain_len && memcmp(buf, plain, plain_len) == 0;
    rec_srtp_destroy(s);
    if (!ok)
        log_debug("self-test failed: %s%s", rec_suite_name(suite), rtcp ? " (SRTCP)" : "");
    return ok;
}

enum sr_err rec_srtp_self_test(void)
{
    bool ok = kat_one(REC_SUITE_AES_CM_128_HMAC_SHA1_80, kat_key_128, sizeof(kat_key_128), false,
                      kat_rtp_128, sizeof(kat_rtp_128), kat_rtp_plain, sizeof(kat_rtp_plain)) &&
              kat_one(REC_SUITE_AES_CM_128_HMAC_SHA1_80, kat_key_128, sizeof(kat_key_128), true,
                      kat_rtcp_128, sizeof(kat_rtcp_128), kat_rtcp_plain,
                      sizeof(kat_rtcp_plain)) &&
              kat_one(REC_SUITE_AES_256_CM_HMAC_SHA1_80, kat_key_256, sizeof(kat_key_256), false,
                      kat_rtp_256, sizeof(kat_rtp_256), kat_rtp_plain, sizeof(kat_rtp_plain)) &&
              kat_one(REC_SUITE_AEAD_AES_128_GCM, kat_key_gcm, sizeof(kat_key_gcm), false,
                      kat_rtp_gcm, sizeof(kat_rtp_gcm), kat_rtp_plain, sizeof(kat_rtp_plain));
    return ok ? SR_OK : SR_ECRYPTO;
}
