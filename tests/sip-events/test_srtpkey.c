/** @file test_srtpkey.c  One table of RFC 4568 key-params cases, run through the
 *  srtpkey module and through every consumer's entry point: the key body
 *  (sipev_keybody_parse), the control socket (ka_cmd_parse), the SDP helper
 *  (ka_sdp_parse) and, for what is accepted, the recorder's libsrtp session
 *  (rec_srtp_create).  They must agree on the code, the reason and the key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard.h"
#include "ka.h"
#include "ka_priv.h"
#include "rec.h"
#include "sipev.h"
#include "srtpkey.h"
#include "tap.h"
#include "util.h"

#define K30 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"
#define K30B "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CB"
#define K46 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLQ=="
#define K28 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw=="
#define K44 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKis="
#define K38 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCU="
#define M128 "AES_CM_128_HMAC_SHA1_80"

enum { MAXP = SRTPKEY_MAX_KEYS + 1 };

struct kcase {
    const char *what;
    const char *suite;
    const char *params[MAXP]; /* key-params of one stream, NULL-terminated */
    enum sr_err want;
    uint64_t lifetime;        /* of the first key, when accepted */
    uint32_t mki;
    unsigned mki_len;
    bool cmd_own_why;         /* the control line frames it differently (see below) */
};

/* The module's own reasons are compared, not restated here: the table states
 * the code and the key; the test checks every consumer gives the module's
 * reason. */
static const struct kcase cases[] = {
    /* accepted: every suite */
    { "AES_CM_128_HMAC_SHA1_80", M128, { "inline:" K30 }, SR_OK, 0, 0, 0, false },
    { "AES_CM_128_HMAC_SHA1_32", "AES_CM_128_HMAC_SHA1_32", { "inline:" K30 }, SR_OK, 0, 0, 0, false },
    { "AES_256_CM_HMAC_SHA1_80", "AES_256_CM_HMAC_SHA1_80", { "inline:" K46 }, SR_OK, 0, 0, 0, false },
    { "AES_256_CM_HMAC_SHA1_32", "AES_256_CM_HMAC_SHA1_32", { "inline:" K46 }, SR_OK, 0, 0, 0, false },
    { "AEAD_AES_128_GCM", "AEAD_AES_128_GCM", { "inline:" K28 }, SR_OK, 0, 0, 0, false },
    { "AEAD_AES_256_GCM", "AEAD_AES_256_GCM", { "inline:" K44 }, SR_OK, 0, 0, 0, false },
    /* lifetimes */
    { "lifetime 2^0 = 1 packet", M128, { "inline:" K30 "|2^0" }, SR_OK, 1, 0, 0, false },
    { "lifetime decimal 1", M128, { "inline:" K30 "|1" }, SR_OK, 1, 0, 0, false },
    { "lifetime 2^31", M128, { "inline:" K30 "|2^31" }, SR_OK, 1ull << 31, 0, 0, false },
    { "lifetime 2^48", M128, { "inline:" K30 "|2^48" }, SR_OK, 1ull << 48, 0, 0, false },
    { "lifetime 2^48 decimal", M128, { "inline:" K30 "|281474976710656" }, SR_OK, 1ull << 48, 0, 0,
      false },
    { "lifetime 2^05 (leading zero)", M128, { "inline:" K30 "|2^05" }, SR_OK, 32, 0, 0, false },
    { "lifetime 2^49", M128, { "inline:" K30 "|2^49" }, SR_EPARSE, 0, 0, 0, false },
    { "lifetime 2^48+1", M128, { "inline:" K30 "|281474976710657" }, SR_EPARSE, 0, 0, 0, false },
    { "lifetime 16 digits", M128, { "inline:" K30 "|0000000000000001" }, SR_EPARSE, 0, 0, 0, false },
    { "lifetime 0", M128, { "inline:" K30 "|0" }, SR_EPARSE, 0, 0, 0, false },
    { "lifetime 2^", M128, { "inline:" K30 "|2^" }, SR_EPARSE, 0, 0, 0, false },
    { "lifetime 2^100", M128, { "inline:" K30 "|2^100" }, SR_EPARSE, 0, 0, 0, false },
    { "lifetime -1", M128, { "inline:" K30 "|-1" }, SR_EPARSE, 0, 0, 0, false },
    { "lifetime 1e6", M128, { "inline:" K30 "|1e6" }, SR_EPARSE, 0, 0, 0, false },
    { "lifetime twice", M128, { "inline:" K30 "|5|6" }, SR_EPARSE, 0, 0, 0, false },
    { "lifetime after MKI", M128, { "inline:" K30 "|1:1|2^20" }, SR_EPARSE, 0, 0, 0, false },
    /* MKIs */
    { "MKI 1:1", M128, { "inline:" K30 "|1:1" }, SR_OK, 0, 1, 1, false },
    { "MKI 255:1", M128, { "inline:" K30 "|255:1" }, SR_OK, 0, 255, 1, false },
    { "MKI 0:1", M128, { "inline:" K30 "|0:1" }, SR_OK, 0, 0, 1, false },
    { "MKI 4294967295:4", M128, { "inline:" K30 "|4294967295:4" }, SR_OK, 0, 4294967295u, 4, false },
    { "MKI 007:004 (leading zeros)", M128, { "inline:" K30 "|007:004" }, SR_OK, 0, 7, 4, false },
    { "lifetime and MKI", M128, { "inline:" K30 "|2^20|7:2" }, SR_OK, 1u << 20, 7, 2, false },
    { "MKI 256:1 does not fit", M128, { "inline:" K30 "|256:1" }, SR_EPARSE, 0, 0, 0, false },
    { "MKI 4294967296:4", M128, { "inline:" K30 "|4294967296:4" }, SR_EPARSE, 0, 0, 0, false },
    { "MKI 65536:2", M128, { "inline:" K30 "|65536:2" }, SR_EPARSE, 0, 0, 0, false },
    { "MKI length 0", M128, { "inline:" K30 "|1:0" }, SR_EPARSE, 0, 0, 0, false },
    { "MKI length 5", M128, { "inline:" K30 "|1:5" }, SR_EUNSUPP, 0, 0, 0, false },
    { "MKI length 128", M128, { "inline:" K30 "|1:128" }, SR_EUNSUPP, 0, 0, 0, false },
    { "MKI length 129", M128, { "inline:" K30 "|1:129" }, SR_EPARSE, 0, 0, 0, false },
    { "MKI length 0004", M128, { "inline:" K30 "|1:0004" }, SR_EPARSE, 0, 0, 0, false },
    { "MKI without value", M128, { "inline:" K30 "|:1" }, SR_EPARSE, 0, 0, 0, false },
    { "MKI without length", M128, { "inline:" K30 "|1:" }, SR_EPARSE, 0, 0, 0, false },
    { "MKI hex", M128, { "inline:" K30 "|0x1:1" }, SR_EPARSE, 0, 0, 0, false },
    { "two MKIs", M128, { "inline:" K30 "|1:1|2:1" }, SR_EPARSE, 0, 0, 0, false },
    /* fields and key */
    { "empty field", M128, { "inline:" K30 "|" }, SR_EPARSE, 0, 0, 0, false },
    { "empty lifetime field", M128, { "inline:" K30 "||1:1" }, SR_EPARSE, 0, 0, 0, false },
    { "three fields", M128, { "inline:" K30 "|1|2|3" }, SR_EPARSE, 0, 0, 0, false },
    { "INLINE: upper case", M128, { "INLINE:" K30 }, SR_OK, 0, 0, 0, false },
    { "empty key", M128, { "inline:" }, SR_EPARSE, 0, 0, 0, false },
    { "empty key with lifetime", M128, { "inline:|2^20" }, SR_EPARSE, 0, 0, 0, false },
    { "base64 without padding, 28 bytes for a 30-byte suite", M128,
      { "inline:" "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw" }, SR_EPARSE, 0, 0, 0, false },
    /* rtpengine 10.5 leaves the padding off: restored, the length still checked. */
    { "AEAD_AES_256_GCM without padding (rtpengine)", "AEAD_AES_256_GCM",
      { "inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKis" }, SR_OK, 0, 0, 0,
      false },
    { "AES_256_CM without padding (rtpengine)", "AES_256_CM_HMAC_SHA1_80",
      { "inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLQ" }, SR_OK, 0, 0, 0,
      false },
    { "one '=' where two are due", "AES_256_CM_HMAC_SHA1_80",
      { "inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLQ=" }, SR_EPARSE, 0, 0,
      0, false },
    { "bad base64 character", M128, { "inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxw!" },
      SR_EPARSE, 0, 0, 0, false },
    { "46 bytes for a 30-byte suite", M128, { "inline:" K46 }, SR_EPARSE, 0, 0, 0, false },
    { "30 bytes for AES_256", "AES_256_CM_HMAC_SHA1_80", { "inline:" K30 }, SR_EPARSE, 0, 0, 0,
      false },
    { "28 bytes for AEAD_AES_256_GCM", "AEAD_AES_256_GCM", { "inline:" K28 }, SR_EPARSE, 0, 0, 0,
      false },
    { "30 bytes for AEAD_AES_128_GCM", "AEAD_AES_128_GCM", { "inline:" K30 }, SR_EPARSE, 0, 0, 0,
      false },
    { "key method uri:", M128, { "uri:https://x/y" }, SR_EUNSUPP, 0, 0, 0, false },
    /* A bare key is no key-param at all: the control line reads it as the ROC. */
    { "no key method", M128, { K30 }, SR_EPARSE, 0, 0, 0, true },
    /* suites */
    { "AES_192_CM_HMAC_SHA1_80", "AES_192_CM_HMAC_SHA1_80", { "inline:" K38 }, SR_EUNSUPP, 0, 0, 0,
      false },
    { "AES_192_CM_HMAC_SHA1_32", "AES_192_CM_HMAC_SHA1_32", { "inline:" K38 }, SR_EUNSUPP, 0, 0, 0,
      false },
    { "F8_128_HMAC_SHA1_80", "F8_128_HMAC_SHA1_80", { "inline:" K30 }, SR_EUNSUPP, 0, 0, 0, false },
    { "NULL_HMAC_SHA1_80", "NULL_HMAC_SHA1_80", { "inline:" K30 }, SR_EUNSUPP, 0, 0, 0, false },
    { "unknown suite", "AES_CM_129_HMAC_SHA1_80", { "inline:" K30 }, SR_EUNSUPP, 0, 0, 0, false },
    { "suite names are case-sensitive", "aes_cm_128_hmac_sha1_80", { "inline:" K30 }, SR_EUNSUPP, 0,
      0, 0, false },
    /* several keys of one stream */
    { "two keys, MKI 1 and 2", M128, { "inline:" K30 "|1:1", "inline:" K30B "|2:1" }, SR_OK, 0, 1, 1,
      false },
    { "four keys", M128,
      { "inline:" K30 "|1:2", "inline:" K30B "|2:2", "inline:" K30 "|3:2", "inline:" K30B "|4:2" },
      SR_OK, 0, 1, 2, false },
    { "five keys", M128,
      { "inline:" K30 "|1:1", "inline:" K30B "|2:1", "inline:" K30 "|3:1", "inline:" K30B "|4:1",
        "inline:" K30 "|5:1" },
      SR_ELIMIT, 0, 0, 0, false },
    { "two keys without MKI", M128, { "inline:" K30, "inline:" K30B }, SR_EPARSE, 0, 0, 0, false },
    { "second key without MKI", M128, { "inline:" K30 "|1:1", "inline:" K30B }, SR_EPARSE, 0, 0, 0,
      false },
    { "MKI lengths differ", M128, { "inline:" K30 "|1:1", "inline:" K30B "|2:2" }, SR_EPARSE, 0, 0,
      0, false },
    { "MKI repeated", M128, { "inline:" K30 "|1:1", "inline:" K30B "|1:1" }, SR_EPARSE, 0, 0, 0,
      false },
};

/* --------------------------------------------------------------- module */

struct result {
    enum sr_err err;
    const char *why;
    struct srtpkey_key keys[SRTPKEY_MAX_KEYS];
    size_t n;
};

static size_t n_params(const struct kcase *c)
{
    size_t n = 0;

    while (n < MAXP && c->params[n])
        n++;
    return n;
}

static void via_module(const struct kcase *c, struct result *r)
{
    char joined[1024];
    size_t len = 0;
    enum srtpkey_suite id;

    memset(r, 0, sizeof(*r));
    for (size_t i = 0; i < n_params(c); i++)
        len += (size_t)snprintf(joined + len, sizeof(joined) - len, "%s%s", i ? ";" : "",
                                c->params[i]);
    r->err = srtpkey_suite_parse(slice_cstr(c->suite), &id, &r->why);
    if (!r->err)
        r->err = srtpkey_params_parse(slice_of(guard_copy(joined, len), len), id, r->keys,
                                      SRTPKEY_MAX_KEYS, &r->n, &r->why);
}

/* ------------------------------------------------------------ consumers */

static void from_sipev(struct result *r, const struct sipev_stream *st)
{
    r->n = st->n_keys;
    for (size_t i = 0; i < st->n_keys; i++) {
        memcpy(r->keys[i].master, st->keys[i].master, st->keys[i].master_len);
        r->keys[i].master_len = st->keys[i].master_len;
        r->keys[i].lifetime = st->keys[i].lifetime;
        r->keys[i].mki = st->keys[i].mki;
        r->keys[i].mki_len = st->keys[i].mki_len;
    }
}

static void via_keybody(const struct kcase *c, struct result *r)
{
    static char doc[8192];
    struct sipev_keybody kb;
    size_t n = 0;

    memset(r, 0, sizeof(*r));
    n += (size_t)snprintf(doc + n, sizeof(doc) - n,
                          "<srtp-keys xmlns=\"urn:srtprec:params:xml:ns:srtp-keys\" version=\"1\" "
                          "state=\"full\" entity=\"x\"><dialog call-id=\"c\"><start>"
                          "2026-01-01T00:00:00Z</start><stream id=\"s\" direction=\"send\" "
                          "media=\"audio\">");
    for (size_t i = 0; i < n_params(c); i++)
        n += (size_t)snprintf(doc + n, sizeof(doc) - n, "<key suite=\"%s\">%s</key>", c->suite,
                              c->params[i]);
    n += (size_t)snprintf(doc + n, sizeof(doc) - n, "</stream></dialog></srtp-keys>");
    sipev_keybody_init(&kb);
    r->err = sipev_keybody_parse(guard_copy(doc, n), n, &kb, &r->why);
    if (!r->err)
        from_sipev(r, &kb.dialogs[0].streams[0]);
    sipev_keybody_fini(&kb);
}

static void via_control(const struct kcase *c, struct result *r)
{
    static struct ka_cmd cmd;
    char line[2048];
    size_t n = 0;

    memset(r, 0, sizeof(*r));
    n += (size_t)snprintf(line + n, sizeof(line) - n, "STREAM c1 s1 send - 0 PCMU 8000 - - %s",
                          c->suite);
    for (size_t i = 0; i < n_params(c); i++)
        n += (size_t)snprintf(line + n, sizeof(line) - n, " %s", c->params[i]);
    n += (size_t)snprintf(line + n, sizeof(line) - n, " 0 0");
    r->err = ka_cmd_parse(slice_of(guard_copy(line, n), n), &cmd, &r->why);
    if (!r->err)
        from_sipev(r, &cmd.stream);
    ka_cmd_wipe(&cmd);
}

static void via_sdp(const struct kcase *c, struct result *r)
{
    static struct ka_sdp sdp;
    char text[2048];
    size_t n = 0;

    memset(r, 0, sizeof(*r));
    n += (size_t)snprintf(text + n, sizeof(text) - n,
                          "v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 5004 RTP/SAVP 0\r\na=crypto:1 %s ",
                          c->suite);
    for (size_t i = 0; i < n_params(c); i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "%s%s", i ? ";" : "", c->params[i]);
    n += (size_t)snprintf(text + n, sizeof(text) - n, "\r\n");
    r->err = ka_sdp_parse(guard_copy(text, n), n, &sdp, &r->why);
    if (!r->err) {
        const struct ka_sdp_crypto *cr = &sdp.media[0].crypto[0];
        r->n = cr->n_keys;
        for (size_t i = 0; i < cr->n_keys; i++) {
            memcpy(r->keys[i].master, cr->keys[i].master, cr->keys[i].master_len);
            r->keys[i].master_len = cr->keys[i].master_len;
            r->keys[i].lifetime = cr->keys[i].lifetime;
            r->keys[i].mki = cr->keys[i].mki;
            r->keys[i].mki_len = cr->keys[i].mki_len;
        }
    }
    ka_sdp_wipe(&sdp);
}

/* What the module accepts builds a libsrtp session, and protect/unprotect
 * through it round-trip with each key's MKI. */
static bool via_recorder(const struct kcase *c, const struct result *m)
{
    struct rec_srtp_cfg cfg;
    struct rec_srtp *tx = NULL, *rx = NULL;
    uint8_t pkt[12 + 20 + REC_SRTP_TRAILER_MAX];
    size_t len;
    bool ok;

    memset(&cfg, 0, sizeof(cfg));
    cfg.ssrc = 0x11223344;
    cfg.n_keys = m->n;
    for (size_t i = 0; i < m->n; i++) {
        cfg.keys[i].suite = (enum rec_suite)srtpkey_suite_find(slice_cstr(c->suite))->id;
        memcpy(cfg.keys[i].master, m->keys[i].master, m->keys[i].master_len);
        cfg.keys[i].master_len = m->keys[i].master_len;
        cfg.keys[i].mki = m->keys[i].mki;
        cfg.keys[i].mki_len = m->keys[i].mki_len;
    }
    cfg.sender = true;
    ok = rec_srtp_create(&tx, &cfg) == SR_OK;
    cfg.sender = false;
    ok = ok && rec_srtp_create(&rx, &cfg) == SR_OK;
    memset(pkt, 0, sizeof(pkt));
    pkt[0] = 0x80;
    pkt[3] = 1;
    pkt[8] = 0x11, pkt[9] = 0x22, pkt[10] = 0x33, pkt[11] = 0x44;
    memset(pkt + 12, 0xd5, 20);
    len = 32;
    ok = ok && rec_srtp_protect(tx, pkt, &len, sizeof(pkt)) == SR_OK;
    ok = ok && rec_srtp_unprotect(rx, pkt, &len) == SR_OK && len == 32 && pkt[12] == 0xd5;
    rec_srtp_destroy(tx);
    rec_srtp_destroy(rx);
    sr_wipe(&cfg, sizeof(cfg));
    return ok;
}

static bool same_keys(const struct result *a, const struct result *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (a->keys[i].master_len != b->keys[i].master_len ||
            memcmp(a->keys[i].master, b->keys[i].master, a->keys[i].master_len) != 0 ||
            a->keys[i].lifetime != b->keys[i].lifetime || a->keys[i].mki != b->keys[i].mki ||
            a->keys[i].mki_len != b->keys[i].mki_len)
            return false;
    return true;
}

static bool agree(const char *who, const struct kcase *c, const struct result *m,
                  const struct result *r, bool check_why)
{
    bool ok = r->err == m->err && (m->err ? (!check_why || (r->why && strcmp(r->why, m->why) == 0))
                                          : same_keys(m, r));
    if (!ok)
        tap_diag("%s: %s: %s (%s), module %s (%s)", c->what, who, sr_strerror(r->err),
                 r->why ? r->why : "", sr_strerror(m->err), m->why ? m->why : "");
    return ok;
}

static void table(void)
{
    for (size_t i = 0; i < SR_ARRAY_LEN(cases); i++) {
        const struct kcase *c = &cases[i];
        struct result m, kb, ctl, sdp;

        via_module(c, &m);
        bool ok = m.err == c->want && (m.err == SR_OK || (m.why && m.why[0]));
        if (ok && m.err == SR_OK)
            ok = m.keys[0].lifetime == c->lifetime && m.keys[0].mki == c->mki &&
                 m.keys[0].mki_len == c->mki_len;
        tap_ok(ok, "%s: module %s (%s)", c->what, sr_strerror(m.err), m.err ? m.why : "");

        via_keybody(c, &kb);
        via_control(c, &ctl);
        via_sdp(c, &sdp);
        tap_ok(agree("key body", c, &m, &kb, true) && agree("control", c, &m, &ctl, !c->cmd_own_why) &&
                   agree("sdp", c, &m, &sdp, true),
               "%s: key body, control line and a=crypto agree", c->what);
        if (m.err == SR_OK) {
            tap_ok(via_recorder(c, &m), "%s: recorder session protects and decrypts", c->what);
            /* print -> parse gives the same key */
            bool rt = true;
            for (size_t k = 0; k < m.n && rt; k++) {
                char text[SRTPKEY_PARAM_TEXT];
                struct srtpkey_key back;
                const char *why = NULL;
                size_t n = 0;
                enum srtpkey_suite id = srtpkey_suite_find(slice_cstr(c->suite))->id;
                rt = srtpkey_param_print(&m.keys[k], id, text, sizeof(text), &n) == SR_OK &&
                     srtpkey_param_parse(slice_of(text, n), id, &back, &why) == SR_OK &&
                     memcmp(&back, &m.keys[k], sizeof(back)) == 0;
            }
            tap_ok(rt, "%s: parse(print(k)) == k", c->what);
        }
        sr_wipe(&m, sizeof(m));
        sr_wipe(&kb, sizeof(kb));
        sr_wipe(&ctl, sizeof(ctl));
        sr_wipe(&sdp, sizeof(sdp));
    }
}

/* ----------------------------------------------------------- suite table */

static void suite_table(void)
{
    static const struct {
        const char *name;
        size_t key, salt, tag_rtp, tag_rtcp;
        bool decrypts;
    } want[] = {
        { "AES_CM_128_HMAC_SHA1_80", 16, 14, 10, 10, true },
        { "AES_CM_128_HMAC_SHA1_32", 16, 14, 4, 10, true },
        { "AES_256_CM_HMAC_SHA1_80", 32, 14, 10, 10, true },
        { "AES_256_CM_HMAC_SHA1_32", 32, 14, 4, 10, true },
        { "AEAD_AES_128_GCM", 16, 12, 16, 16, true },
        { "AEAD_AES_256_GCM", 32, 12, 16, 16, true },
        { "AES_192_CM_HMAC_SHA1_80", 24, 14, 10, 10, false },
        { "AES_192_CM_HMAC_SHA1_32", 24, 14, 4, 10, false },
        { "F8_128_HMAC_SHA1_80", 16, 14, 10, 10, false },
        { "NULL_HMAC_SHA1_80", 16, 14, 10, 10, false },
        { "NULL_HMAC_SHA1_32", 16, 14, 4, 10, false },
    };

    for (size_t i = 0; i < SR_ARRAY_LEN(want); i++) {
        const struct srtpkey_suite_info *s = srtpkey_suite_find(slice_cstr(want[i].name));
        size_t k = 99, l = 99;
        bool ok = s && s->key_len == want[i].key && s->salt_len == want[i].salt &&
                  s->tag_rtp == want[i].tag_rtp && s->tag_rtcp == want[i].tag_rtcp &&
                  s->decrypts == want[i].decrypts && (s->decrypts == !s->refused) &&
                  srtpkey_suite(s->id) == s && strcmp(srtpkey_suite_name(s->id), want[i].name) == 0;
        tap_ok(ok, "table row %s", want[i].name);
        if (!s)
            continue;
        /* The consumers' views of the table: sipev and rec. */
        sipev_suite_lengths((enum sipev_suite)s->id, &k, &l);
        bool rec_ok = rec_suite_lengths((enum rec_suite)s->id, NULL, NULL);
        if (s->decrypts)
            ok = k == s->key_len && l == s->salt_len && rec_ok &&
                 sipev_suite_parse(slice_cstr(s->name)) == (enum sipev_suite)s->id &&
                 strcmp(rec_suite_name((enum rec_suite)s->id), s->name) == 0;
        else
            ok = k == 0 && l == 0 && !rec_ok && sipev_suite_parse(slice_cstr(s->name)) == 0 &&
                 sipev_suite_name((enum sipev_suite)s->id) == NULL &&
                 strcmp(rec_suite_name((enum rec_suite)s->id), "?") == 0;
        tap_ok(ok, "%s: sipev and rec agree with the table", want[i].name);
    }
    tap_ok(srtpkey_suite(SRTPKEY_SUITE_NONE) == NULL && srtpkey_suite((enum srtpkey_suite)99) == NULL,
           "no row outside the enum");
}

/* --------------------------------------------------------------- printer */

static void printer(void)
{
    struct srtpkey_key k = { .master_len = 30, .lifetime = 1ull << 31, .mki = 7, .mki_len = 2 };
    char out[SRTPKEY_PARAM_TEXT];
    size_t n = 0;

    for (size_t i = 0; i < 30; i++)
        k.master[i] = (uint8_t)i;
    tap_ok(srtpkey_param_print(&k, SRTPKEY_SUITE_AES_CM_128_HMAC_SHA1_80, out, sizeof(out), &n) ==
                   SR_OK && strcmp(out, "inline:" K30 "|2^31|7:2") == 0 && n == strlen(out),
           "prints inline:key|2^31|7:2 (%s)", out);
    k.lifetime = 1;
    k.mki_len = 0;
    tap_ok(srtpkey_param_print(&k, SRTPKEY_SUITE_AES_CM_128_HMAC_SHA1_80, out, sizeof(out), &n) ==
                   SR_OK && strcmp(out, "inline:" K30 "|1") == 0,
           "lifetime 1 prints as 1, not 2^0 (%s)", out);
    k.lifetime = 1000;
    tap_ok(srtpkey_param_print(&k, SRTPKEY_SUITE_AES_CM_128_HMAC_SHA1_80, out, sizeof(out), &n) ==
                   SR_OK && strcmp(out, "inline:" K30 "|1000") == 0,
           "lifetime 1000 prints decimal");
    tap_ok(srtpkey_param_print(&k, SRTPKEY_SUITE_AES_CM_128_HMAC_SHA1_80, out, 20, &n) ==
                   SR_ELIMIT && out[0] == '\0',
           "short buffer: SR_ELIMIT, nothing left");
    k.mki = 256, k.mki_len = 1;
    tap_ok(srtpkey_param_print(&k, SRTPKEY_SUITE_AES_CM_128_HMAC_SHA1_80, out, sizeof(out), &n) ==
               SR_EINVAL,
           "MKI value that does not fit: SR_EINVAL");
    k.mki = 1, k.mki_len = 5;
    tap_ok(srtpkey_param_print(&k, SRTPKEY_SUITE_AES_CM_128_HMAC_SHA1_80, out, sizeof(out), &n) ==
               SR_EINVAL,
           "MKI of 5 bytes: SR_EINVAL");
    k.mki_len = 0, k.lifetime = (1ull << 48) + 1;
    tap_ok(srtpkey_param_print(&k, SRTPKEY_SUITE_AES_CM_128_HMAC_SHA1_80, out, sizeof(out), &n) ==
               SR_EINVAL,
           "lifetime over 2^48: SR_EINVAL");
    k.lifetime = 0;
    tap_ok(srtpkey_param_print(&k, SRTPKEY_SUITE_AES_256_CM_HMAC_SHA1_80, out, sizeof(out), &n) ==
               SR_EINVAL,
           "30-byte key for AES_256: SR_EINVAL");
    tap_ok(srtpkey_param_print(&k, SRTPKEY_SUITE_F8_128_HMAC_SHA1_80, out, sizeof(out), &n) ==
               SR_EINVAL,
           "refused suite: SR_EINVAL");
    /* the longest text fits SRTPKEY_PARAM_TEXT */
    struct srtpkey_key big = { .master_len = 46, .lifetime = (1ull << 48) - 1, .mki = UINT32_MAX,
                               .mki_len = 4 };
    tap_ok(srtpkey_param_print(&big, SRTPKEY_SUITE_AES_256_CM_HMAC_SHA1_80, out, sizeof(out), &n) ==
               SR_OK,
           "longest key-param fits SRTPKEY_PARAM_TEXT (%zu bytes)", n);
}

/* Every proper prefix of a valid key-param is refused with a reason or is a
 * shorter valid key-param (never a crash, never a read past the end). */
static void prefixes(void)
{
    static const char full[] = "inline:" K30 "|2^20|4294967295:4";
    size_t bad = 0;

    for (size_t i = 0; i <= sizeof(full) - 1; i++) {
        struct srtpkey_key k;
        const char *why = NULL;
        enum sr_err err = srtpkey_param_parse(slice_of(guard_copy(full, i), i),
                                              SRTPKEY_SUITE_AES_CM_128_HMAC_SHA1_80, &k, &why);
        if (err != SR_OK && (!why || !why[0]))
            bad++;
        if (err != SR_OK && (k.master_len || k.lifetime || k.mki_len))
            bad++; /* wiped on failure */
    }
    tap_ok(bad == 0, "every prefix refused with a reason and a wiped key, or accepted");
}

int main(void)
{
    enum rec_srtp_backend be;

    tap_ok(rec_srtp_lib_init(false, &be) == SR_OK, "libsrtp initialised");
    suite_table();
    table();
    printer();
    prefixes();
    rec_srtp_lib_fini();
    return tap_done();
}
