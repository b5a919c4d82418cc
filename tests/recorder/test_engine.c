/** @file test_engine.c  Every rule of the recorder engine (recorder/engine.h),
 *  deterministically: a fake clock, a fake archive that keeps every write in
 *  memory, and real SRTP from libsrtp2 sender sessions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "sipev.h"
#include "stor.h"
#include "tap.h"
#include "util.h"

/* ---------------------------------------------------------- fake clock */

struct fclock {
    uint64_t mono, wall;
};

static uint64_t f_mono(void *arg)
{
    return ((struct fclock *)arg)->mono;
}

static uint64_t f_wall(void *arg)
{
    return ((struct fclock *)arg)->wall;
}

/* -------------------------------------------------------- fake archive */

enum { MAX_ARCH = 64, MAX_ST = 1100, MAX_PK = 4096 };

struct fpkt {
    unsigned stream;
    uint16_t seq;
    uint64_t ext_seq, arrival;
    uint32_t flags;
    uint8_t data[256];
    size_t len;
};

struct farch {
    char source[64], call_id[SIPEV_STR];
    bool unmatched, released, retired;
    int refs;
    struct stor_stream_info st[MAX_ST];
    size_t n_st, max_st;
    struct fpkt *pk;
    size_t n_pk;
    struct stor_counts counts;
    bool fail_packets;
    size_t n_parties;          /* parties ops received */
    char party[2][SIPEV_STR];  /* the last ones */
};

struct fstore {
    struct farch a[MAX_ARCH];
    size_t n;
    size_t unmatched_max_st; /* add_stream refuses past this in unmatched archives */
    size_t unmatched_full_opens; /* the next so many unmatched archives open already full,
                                    as other workers sharing them would leave them */
    bool fail_open;
};

static enum sr_err fa_open(void *arg, const char *source, const struct stor_call_info *ci,
                           bool unmatched, void **arch)
{
    struct fstore *fs = arg;
    struct farch *a;

    if (fs->fail_open)
        return SR_EIO;
    for (size_t i = 0; i < fs->n && !unmatched; i++)
        if (!fs->a[i].released && strcmp(fs->a[i].source, source) == 0 &&
            strcmp(fs->a[i].call_id, ci->call_id) == 0) {
            fs->a[i].refs++;
            *arch = &fs->a[i];
            return SR_OK;
        }
    if (fs->n == MAX_ARCH)
        return SR_ELIMIT;
    a = &fs->a[fs->n++];
    memset(a, 0, sizeof(*a));
    snprintf(a->source, sizeof(a->source), "%s", source);
    snprintf(a->call_id, sizeof(a->call_id), "%s", ci->call_id);
    a->unmatched = unmatched;
    a->refs = 1;
    a->max_st = unmatched ? fs->unmatched_max_st : MAX_ST;
    if (unmatched && fs->unmatched_full_opens) {
        fs->unmatched_full_opens--;
        a->n_st = a->max_st;
    }
    a->pk = calloc(MAX_PK, sizeof(*a->pk));
    *arch = a;
    return SR_OK;
}

static enum sr_err fa_add_stream(void *arg, void *arch, const struct stor_stream_info *si,
                                 unsigned *idx)
{
    struct farch *a = arch;

    (void)arg;
    if (a->retired || a->n_st >= a->max_st)
        return SR_ELIMIT;
    a->st[a->n_st] = *si;
    *idx = (unsigned)a->n_st++;
    return SR_OK;
}

static enum sr_err fa_packet(void *arg, void *arch, unsigned idx, const struct stor_pkt *p,
                             enum rec_pkt_kind kind)
{
    struct farch *a = arch;
    struct fpkt *f;

    (void)arg;
    (void)kind;
    if (a->fail_packets)
        return SR_EIO;
    if (a->n_pk == MAX_PK)
        return SR_ELIMIT;
    f = &a->pk[a->n_pk++];
    f->stream = idx;
    f->seq = p->seq;
    f->ext_seq = p->ext_seq;
    f->arrival = p->arrival_wall_us;
    f->flags = p->flags;
    f->len = p->payload_len < sizeof(f->data) ? p->payload_len : sizeof(f->data);
    memcpy(f->data, p->payload, f->len);
    return SR_OK;
}

static void fa_release(void *arg, void *arch, const struct stor_counts *c)
{
    struct farch *a = arch;

    (void)arg;
    a->counts.packets += c->packets;
    a->counts.auth_fail += c->auth_fail;
    a->counts.replay += c->replay;
    a->counts.malformed += c->malformed;
    a->counts.overload += c->overload;
    a->counts.encrypted_kept += c->encrypted_kept;
    if (--a->refs == 0)
        a->released = true;
}

static void fa_retire(void *arg, void *arch)
{
    (void)arg;
    ((struct farch *)arch)->retired = true;
}

/* The parties a later body named (an archive records them as received). */
static void fa_parties(void *arg, void *arch, const char *local_aor, const char *remote_aor)
{
    struct farch *a = arch;

    (void)arg;
    a->n_parties++;
    snprintf(a->party[0], sizeof(a->party[0]), "%s", local_aor);
    snprintf(a->party[1], sizeof(a->party[1]), "%s", remote_aor);
}

static const struct rec_eng_archive_ops fops = { fa_open, fa_add_stream, fa_packet, fa_release,
                                                 fa_retire, fa_parties };

static void fstore_free(struct fstore *fs)
{
    for (size_t i = 0; i < fs->n; i++)
        free(fs->a[i].pk);
    memset(fs, 0, sizeof(*fs));
}

static struct farch *arch_of(struct fstore *fs, const char *call_id)
{
    for (size_t i = 0; i < fs->n; i++)
        if (strcmp(fs->a[i].call_id, call_id) == 0)
            return &fs->a[i];
    return NULL;
}

static size_t n_unmatched(const struct fstore *fs)
{
    size_t n = 0;
    for (size_t i = 0; i < fs->n; i++)
        n += fs->a[i].unmatched;
    return n;
}

/* ------------------------------------------------------------- fixture */

struct fx {
    struct fclock clk;
    struct fstore fs;
    struct rec_eng_cfg cfg;
    struct rec_eng *e;
};

static void fx_cfg(struct fx *x)
{
    memset(x, 0, sizeof(*x));
    x->clk.mono = 1000000000ull;
    x->clk.wall = 1700000000000000ull;
    x->fs.unmatched_max_st = 64;
    x->cfg.ops = &fops;
    x->cfg.ops_arg = &x->fs;
    x->cfg.clock = (struct rec_eng_clock){ f_mono, f_wall, &x->clk };
    x->cfg.key_wait_ms = 2000;
    x->cfg.call_linger_ms = 1000;
    x->cfg.tick_ms = 100;
    x->cfg.max_streams = 2000;
    x->cfg.max_held_packets = 4096;
    x->cfg.max_held_per_stream = 256;
}

static void fx_start(struct fx *x)
{
    if (rec_eng_create(&x->e, &x->cfg) != SR_OK) {
        tap_ok(false, "engine created");
        exit(1);
    }
    rec_eng_set_authorised(x->e, true);
}

static void fx_advance(struct fx *x, uint64_t ms)
{
    /* Tick at the engine's cadence, as the daemon's loop does. */
    for (uint64_t t = 0; t < ms; t += 10) {
        x->clk.mono += 10000;
        x->clk.wall += 10000;
        rec_eng_tick(x->e, x->clk.mono);
    }
}

static struct rec_eng_stats fx_stats(struct fx *x)
{
    struct rec_eng_stats st;
    rec_eng_stats(x->e, &st);
    return st;
}

static void fx_stop(struct fx *x)
{
    rec_eng_destroy(x->e, NULL);
    x->e = NULL;
}

/* ------------------------------------------------------------- senders */

struct sender {
    struct rec_srtp *tx;
    uint8_t master[30];
    uint32_t ssrc;
    uint16_t seq;
    uint32_t ts;
    struct rec_flow from;
    struct rec_flow to;       /* destination; all zero: unknown (a wildcard socket) */
    bool plain;               /* sends plain RTP (a SIPREC RTP/AVP leg): no protect */
};

static struct rec_flow v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
    struct rec_flow f;
    memset(&f, 0, sizeof(f));
    f.addr[10] = 0xff;
    f.addr[11] = 0xff;
    f.addr[12] = a;
    f.addr[13] = b;
    f.addr[14] = c;
    f.addr[15] = d;
    f.port = port;
    return f;
}

/* A sender of key seed keyseed whose session has already run `roc` wraps
 * and sends seq next. */
static void sender_at(struct sender *s, uint8_t keyseed, uint32_t ssrc, uint32_t roc,
                      uint16_t seq, struct rec_flow from)
{
    struct rec_srtp_cfg c = { 0 };

    memset(s, 0, sizeof(*s));
    for (size_t i = 0; i < sizeof(s->master); i++)
        s->master[i] = (uint8_t)(keyseed * 31 + i * 7);
    c.ssrc = ssrc;
    c.sender = true;
    c.n_keys = 1;
    c.keys[0].suite = REC_SUITE_AES_CM_128_HMAC_SHA1_80;
    memcpy(c.keys[0].master, s->master, 30);
    c.keys[0].master_len = 30;
    c.roc = roc;
    if (rec_srtp_create(&s->tx, &c) != SR_OK) {
        tap_ok(false, "sender session");
        exit(1);
    }
    s->ssrc = ssrc;
    s->seq = seq;
    s->ts = 1000;
    s->from = from;
}

static void sender_init(struct sender *s, uint8_t keyseed, uint32_t ssrc, uint16_t seq,
                        struct rec_flow from)
{
    sender_at(s, keyseed, ssrc, 0, seq, from);
}

static void sender_fini(struct sender *s)
{
    rec_srtp_destroy(s->tx);
}

/* The payload of packet seq: 160 bytes any test can recompute. */
static void payload_of(uint32_t ssrc, uint16_t seq, uint8_t out[160])
{
    for (size_t i = 0; i < 160; i++)
        out[i] = (uint8_t)(ssrc ^ (seq * 13u) ^ (i * 3u));
}

static void send_one(struct fx *x, struct sender *s)
{
    uint8_t pkt[256];
    size_t len = 12 + 160;
    struct rec_eng_pkt p;

    pkt[0] = 0x80;
    pkt[1] = 0;
    pkt[2] = (uint8_t)(s->seq >> 8);
    pkt[3] = (uint8_t)s->seq;
    pkt[4] = (uint8_t)(s->ts >> 24);
    pkt[5] = (uint8_t)(s->ts >> 16);
    pkt[6] = (uint8_t)(s->ts >> 8);
    pkt[7] = (uint8_t)s->ts;
    pkt[8] = (uint8_t)(s->ssrc >> 24);
    pkt[9] = (uint8_t)(s->ssrc >> 16);
    pkt[10] = (uint8_t)(s->ssrc >> 8);
    pkt[11] = (uint8_t)s->ssrc;
    payload_of(s->ssrc, s->seq, pkt + 12);
    if (!s->plain && rec_srtp_protect(s->tx, pkt, &len, sizeof(pkt)) != SR_OK)
        tap_ok(false, "protect seq %u", s->seq);
    s->seq++;
    s->ts += 160;
    memset(&p, 0, sizeof(p));
    p.data = pkt;
    p.len = len;
    p.src = s->from;
    p.dst = s->to;
    p.arrival_wall_us = x->clk.wall;
    rec_eng_packet(x->e, &p);
}

/* The next packet of s, protected, into pkt; returns its length. */
static size_t build_one(struct sender *s, uint8_t pkt[256])
{
    size_t len = 12 + 160;

    pkt[0] = 0x80;
    pkt[1] = 0;
    pkt[2] = (uint8_t)(s->seq >> 8);
    pkt[3] = (uint8_t)s->seq;
    pkt[4] = (uint8_t)(s->ts >> 24);
    pkt[5] = (uint8_t)(s->ts >> 16);
    pkt[6] = (uint8_t)(s->ts >> 8);
    pkt[7] = (uint8_t)s->ts;
    pkt[8] = (uint8_t)(s->ssrc >> 24);
    pkt[9] = (uint8_t)(s->ssrc >> 16);
    pkt[10] = (uint8_t)(s->ssrc >> 8);
    pkt[11] = (uint8_t)s->ssrc;
    payload_of(s->ssrc, s->seq, pkt + 12);
    if (rec_srtp_protect(s->tx, pkt, &len, 256) != SR_OK)
        tap_ok(false, "protect seq %u", s->seq);
    s->seq++;
    s->ts += 160;
    return len;
}

/* Hand the engine a copy of pkt (it decrypts in place) as sent by s. */
static void deliver_copy(struct fx *x, const struct sender *s, const uint8_t *pkt, size_t len)
{
    uint8_t buf[256];
    struct rec_eng_pkt p = { 0 };

    memcpy(buf, pkt, len);
    p.data = buf;
    p.len = len;
    p.src = s->from;
    p.dst = s->to;
    p.arrival_wall_us = x->clk.wall;
    rec_eng_packet(x->e, &p);
}

/* An SRTCP receiver report (no report blocks) of s's SSRC, from `from`. */
static void send_rr(struct fx *x, struct sender *s, struct rec_flow from)
{
    uint8_t rtcp[64] = { 0x80, 201, 0, 1 };
    size_t len = 8;
    struct rec_eng_pkt p = { 0 };

    rtcp[4] = (uint8_t)(s->ssrc >> 24);
    rtcp[5] = (uint8_t)(s->ssrc >> 16);
    rtcp[6] = (uint8_t)(s->ssrc >> 8);
    rtcp[7] = (uint8_t)s->ssrc;
    rec_srtp_protect_rtcp(s->tx, rtcp, &len, sizeof(rtcp));
    p.data = rtcp;
    p.len = len;
    p.src = from;
    p.arrival_wall_us = x->clk.wall;
    rec_eng_packet(x->e, &p);
}

static void send_n(struct fx *x, struct sender *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        send_one(x, s);
        fx_advance(x, 20);
    }
}

/* Raw bytes from somewhere (a flood). */
static void send_raw(struct fx *x, uint32_t ssrc, struct rec_flow from)
{
    uint8_t pkt[12 + 160 + 10] = { 0x80, 0 };
    struct rec_eng_pkt p = { 0 };

    pkt[8] = (uint8_t)(ssrc >> 24);
    pkt[9] = (uint8_t)(ssrc >> 16);
    pkt[10] = (uint8_t)(ssrc >> 8);
    pkt[11] = (uint8_t)ssrc;
    p.data = pkt;
    p.len = sizeof(pkt);
    p.src = from;
    p.arrival_wall_us = x->clk.wall;
    rec_eng_packet(x->e, &p);
}

/* ---------------------------------------------------------- key bodies */

struct kstream {
    const char *id;
    const struct sender *s;   /* its key and SSRC */
    bool ssrc_known;
    uint32_t ssrc_override;   /* disclose this SSRC instead (a false a=ssrc) */
    const char *src;          /* fork source, or NULL */
    uint8_t wrong_key;        /* disclose a key of this seed instead (a rogue) */
    uint32_t roc;
    uint16_t seq;
    enum sipev_stream_state state;
};

/* A key body with one dialog (call_id NULL: none) started at start_us
 * (wall clock; 0: the engine's clock when it opens the call), whose
 * streams' ROC the discloser knows or not (roc_unknown: a late SBC). */
static void disclose_at(struct fx *x, const char *source, const char *call_id, bool full,
                        bool ended, uint64_t start_us, bool roc_unknown,
                        const struct kstream *ks, size_t n)
{
    struct sipev_keybody kb;
    struct sipev_dialog *d;

    sipev_keybody_init(&kb);
    kb.full = full;
    if (call_id) {
        sipev_keybody_add_dialog(&kb, &d);
        snprintf(d->call_id, sizeof(d->call_id), "%s", call_id);
        snprintf(d->local_aor, sizeof(d->local_aor), "sip:a@example.com");
        snprintf(d->remote_aor, sizeof(d->remote_aor), "sip:b@example.com");
        d->state = ended ? SIPEV_DIALOG_ENDED : SIPEV_DIALOG_ACTIVE;
        d->start_wall_us = start_us;
        for (size_t i = 0; i < n; i++) {
            struct sipev_stream *st = &d->streams[d->n_streams++];
            snprintf(st->id, sizeof(st->id), "%s", ks[i].id);
            snprintf(st->codec, sizeof(st->codec), "PCMU");
            snprintf(st->media, sizeof(st->media), "audio");
            st->clock_rate = 8000;
            st->ssrc_known = ks[i].ssrc_known;
            st->ssrc = ks[i].ssrc_override ? ks[i].ssrc_override : ks[i].s->ssrc;
            if (ks[i].src)
                snprintf(st->src, sizeof(st->src), "%s", ks[i].src);
            st->n_keys = 1;
            st->keys[0].suite = SIPEV_SUITE_AES_CM_128_HMAC_SHA1_80;
            st->keys[0].master_len = 30;
            if (ks[i].wrong_key) {
                for (size_t k = 0; k < 30; k++)
                    st->keys[0].master[k] = (uint8_t)(ks[i].wrong_key * 31 + k * 7);
            } else {
                memcpy(st->keys[0].master, ks[i].s->master, 30);
            }
            st->roc = ks[i].roc;
            st->seq = ks[i].seq;
            st->state = ks[i].state;
            st->roc_unknown = roc_unknown;
        }
    }
    rec_eng_keybody(x->e, source, &kb);
    sipev_keybody_fini(&kb);
}

static void disclose(struct fx *x, const char *source, const char *call_id, bool full,
                     bool ended, const struct kstream *ks, size_t n)
{
    disclose_at(x, source, call_id, full, ended, 0, false, ks, n);
}

/* Packets of stream `label` in a: all decrypted, bit-exact, seq first..first+n-1 in order. */
static bool stream_exact(const struct farch *a, const char *label, uint32_t ssrc, uint16_t first,
                         size_t n)
{
    size_t got = 0;
    unsigned idx = (unsigned)-1;

    for (size_t i = 0; i < a->n_st; i++)
        if (strcmp(a->st[i].label, label) == 0 && a->st[i].ssrc == ssrc && idx == (unsigned)-1)
            idx = (unsigned)i;
    if (idx == (unsigned)-1)
        return false;
    for (size_t i = 0; i < a->n_pk; i++) {
        const struct fpkt *p = &a->pk[i];
        uint8_t want[160];
        if (p->stream != idx)
            continue;
        payload_of(ssrc, (uint16_t)(first + got), want);
        if (p->flags & STOR_PKT_ENCRYPTED || p->seq != (uint16_t)(first + got) || p->len != 160 ||
            memcmp(p->data, want, 160) != 0)
            return false;
        got++;
    }
    return got == n;
}

static size_t count_ssrc_streams(const struct farch *a, uint32_t ssrc, const char *codec)
{
    size_t n = 0;
    for (size_t i = 0; i < a->n_st; i++)
        n += a->st[i].ssrc == ssrc && strcmp(a->st[i].codec, codec) == 0;
    return n;
}

/* --------------------------------------------------------------- rules */

static void t_basic(void)
{
    struct fx x;
    struct sender a, b;
    struct farch *ar;

    fx_cfg(&x);
    fx_start(&x);
    sender_init(&a, 1, 0x1111, 100, v4(10, 0, 0, 1, 4000));
    sender_init(&b, 2, 0x2222, 500, v4(10, 0, 0, 2, 4002));
    disclose(&x, "ka1", "call-1", false, false,
             (struct kstream[]){ { "a-1", &a, true, 0, "10.0.0.1:4000", 0, 0, 0, 0 },
                                 { "b-1", &b, true, 0, NULL, 0, 0, 0, 0 } },
             2);
    for (int i = 0; i < 50; i++) {
        send_one(&x, &a);
        send_one(&x, &b);
        fx_advance(&x, 20);
    }
    ar = arch_of(&x.fs, "call-1");
    tap_ok(ar && stream_exact(ar, "a-1", 0x1111, 100, 50) && stream_exact(ar, "b-1", 0x2222, 500, 50),
           "basic: both streams recorded bit-exact and in order");
    tap_ok(fx_stats(&x).recorded == 100 && fx_stats(&x).held == 0, "basic: 100 recorded, none held");
    disclose(&x, "ka1", "call-1", false, true, NULL, 0); /* the dialog ended */
    fx_advance(&x, 900);
    tap_ok(!ar->released, "basic: an ended call lingers call-linger-ms");
    fx_advance(&x, 200);
    tap_ok(ar->released && ar->counts.packets == 100, "basic: then released with 100 packets");
    tap_ok(x.fs.n == 1, "basic: one archive, no unmatched");
    fx_stop(&x);
    sender_fini(&a);
    sender_fini(&b);
    fstore_free(&x.fs);
}

static void t_hold_then_key(void)
{
    struct fx x;
    struct sender a;
    struct farch *ar;

    fx_cfg(&x);
    fx_start(&x);
    sender_init(&a, 3, 0x3333, 7, v4(10, 0, 0, 3, 4000));
    send_n(&x, &a, 40); /* 0.8 s before the key */
    tap_ok(fx_stats(&x).held == 40 && x.fs.n == 0, "hold: 40 packets held before the key");
    disclose(&x, "ka1", "call-h", false, false,
             (struct kstream[]){ { "a-1", &a, true, 0, NULL, 0, 0, 0, 0 } }, 1);
    send_n(&x, &a, 10);
    ar = arch_of(&x.fs, "call-h");
    tap_ok(ar && stream_exact(ar, "a-1", 0x3333, 7, 50), "hold: the key came: all 50 recorded in order");
    tap_ok(fx_stats(&x).held_now == 0 && fx_stats(&x).encrypted_kept == 0, "hold: pool empty, nothing kept encrypted");
    fx_stop(&x);
    sender_fini(&a);
    fstore_free(&x.fs);
}

static void t_key_wait_expiry(void)
{
    struct fx x;
    struct sender a;
    struct rec_eng_stats st;

    fx_cfg(&x);
    fx_start(&x);
    sender_init(&a, 4, 0x4444, 1, v4(10, 0, 0, 4, 4000));
    send_n(&x, &a, 20);
    fx_advance(&x, 2100);
    st = fx_stats(&x);
    tap_ok(st.encrypted_kept == 20 && n_unmatched(&x.fs) == 1,
           "key wait: 20 held packets kept encrypted in an unmatched archive after key-wait-ms");
    send_n(&x, &a, 5);
    tap_ok(fx_stats(&x).encrypted_kept == 25, "key wait: later packets go straight to it");
    fx_advance(&x, 3100);
    st = fx_stats(&x);
    tap_ok(st.reaped == 1 && st.streams == 0 && st.unbound_now == 0,
           "reaping: the idle unbound stream is freed after key-wait + linger");
    tap_ok(x.fs.a[0].released && x.fs.a[0].counts.encrypted_kept == 25,
           "unmatched: sealed when idle, trailer counts 25 kept encrypted");
    fx_stop(&x);
    sender_fini(&a);
    fstore_free(&x.fs);

    /* Nobody authorised this recorder: nothing of anybody is kept. */
    fx_cfg(&x);
    fx_start(&x);
    rec_eng_set_authorised(x.e, false);
    sender_init(&a, 4, 0x4444, 1, v4(10, 0, 0, 4, 4000));
    send_n(&x, &a, 10);
    fx_advance(&x, 2100);
    tap_ok(fx_stats(&x).unauthorised == 10 && x.fs.n == 0, "unauthorised: counted, not archived");
    fx_stop(&x);
    sender_fini(&a);
    fstore_free(&x.fs);
}

static void t_trial(void)
{
    struct fx x;
    struct sender a;
    struct farch *ar;

    fx_cfg(&x);
    fx_start(&x);
    sender_init(&a, 5, 0x5555, 10, v4(10, 0, 0, 5, 4000));
    disclose(&x, "ka1", "call-t", false, false,
             (struct kstream[]){ { "a-1", &a, false, 0, NULL, 0, 0, 0, 0 } }, 1);
    send_n(&x, &a, 30);
    ar = arch_of(&x.fs, "call-t");
    tap_ok(ar && stream_exact(ar, "a-1", 0x5555, 10, 30) && fx_stats(&x).trial_bound == 1,
           "trial: a key without an SSRC binds by authentication");
    fx_stop(&x);
    sender_fini(&a);
    fstore_free(&x.fs);
}

static void t_rogue(void)
{
    struct fx x;
    struct sender a;
    struct farch *victim, *rogue;

    fx_cfg(&x);
    fx_start(&x);
    sender_init(&a, 6, 0x6666, 20, v4(10, 0, 0, 6, 4000));
    /* ka-rogue discloses the victim's SSRC with a wrong key, first. */
    disclose(&x, "ka-rogue", "fake", false, false,
             (struct kstream[]){ { "r-1", &a, true, 0, NULL, 99, 0, 0, 0 } }, 1);
    disclose(&x, "ka1", "call-v", false, false,
             (struct kstream[]){ { "a-1", &a, true, 0, NULL, 0, 0, 0, 0 } }, 1);
    send_n(&x, &a, 40);
    victim = arch_of(&x.fs, "call-v");
    rogue = arch_of(&x.fs, "fake");
    tap_ok(victim && stream_exact(victim, "a-1", 0x6666, 20, 40),
           "rogue key source: the victim's call is recorded bit-exact");
    tap_ok(rogue && rogue->n_pk == 0 && rogue->n_st == 0, "rogue key source: its call gets nothing");
    fx_stop(&x);
    sender_fini(&a);
    fstore_free(&x.fs);

    /* The same when packets come before either key. */
    fx_cfg(&x);
    fx_start(&x);
    sender_init(&a, 6, 0x6666, 20, v4(10, 0, 0, 6, 4000));
    send_n(&x, &a, 10);
    disclose(&x, "ka-rogue", "fake", false, false,
             (struct kstream[]){ { "r-1", &a, true, 0, NULL, 99, 0, 0, 0 } }, 1);
    send_n(&x, &a, 10);
    disclose(&x, "ka1", "call-v", false, false,
             (struct kstream[]){ { "a-1", &a, true, 0, NULL, 0, 0, 0, 0 } }, 1);
    send_n(&x, &a, 10);
    victim = arch_of(&x.fs, "call-v");
    tap_ok(victim && stream_exact(victim, "a-1", 0x6666, 20, 30),
           "rogue key source first, packets before both keys: 30 recorded bit-exact");
    fx_stop(&x);
    sender_fini(&a);
    fstore_free(&x.fs);
}

static void t_false_ssrc_and_scope(void)
{
    struct fx x;
    struct sender a, b;
    struct farch *ar;

    fx_cfg(&x);
    fx_start(&x);
    sender_init(&a, 7, 0x7777, 1, v4(10, 0, 0, 7, 4000));
    /* The disclosure (say, a remote party's SDP) names SSRC 0xBAD. */
    disclose(&x, "ka1", "call-f", false, false,
             (struct kstream[]){ { "a-1", &a, true, 0xBAD, NULL, 0, 0, 0, 0 } }, 1);
    send_n(&x, &a, 30);
    ar = arch_of(&x.fs, "call-f");
    tap_ok(ar && stream_exact(ar, "a-1", 0x7777, 1, 30),
           "false a=ssrc: the stream is still recorded (trial against the call's keys)");
    fx_stop(&x);
    sender_fini(&a);
    fstore_free(&x.fs);

    /* A key that names a fork source binds only packets from it. */
    fx_cfg(&x);
    fx_start(&x);
    sender_init(&a, 8, 0x8888, 1, v4(10, 0, 0, 8, 4000));
    sender_init(&b, 8, 0x8888, 1, v4(10, 9, 9, 9, 4000)); /* same key and SSRC, elsewhere */
    disclose(&x, "ka1", "call-s", false, false,
             (struct kstream[]){ { "a-1", &a, true, 0, "10.0.0.8:4000", 0, 0, 0, 0 } }, 1);
    send_n(&x, &b, 10);
    send_n(&x, &a, 10);
    ar = arch_of(&x.fs, "call-s");
    tap_ok(ar && stream_exact(ar, "a-1", 0x8888, 1, 10) && fx_stats(&x).unbound_now == 1,
           "fork source: packets from another address do not bind the key");
    fx_stop(&x);
    sender_fini(&a);
    sender_fini(&b);
    fstore_free(&x.fs);
}

/* One stream's key scoped to fork destination dst, as a SIPREC session discloses it. */
static void disclose_to(struct fx *x, const char *call_id, const char *id, const struct sender *s,
                        const char *dst, bool plain)
{
    struct sipev_keybody kb;
    struct sipev_dialog *d;
    struct sipev_stream *st;

    sipev_keybody_init(&kb);
    kb.full = false; /* one session's state: the others go on */
    sipev_keybody_add_dialog(&kb, &d);
    snprintf(d->call_id, sizeof(d->call_id), "%s", call_id);
    st = &d->streams[d->n_streams++];
    snprintf(st->id, sizeof(st->id), "%s", id);
    snprintf(st->codec, sizeof(st->codec), "PCMU");
    snprintf(st->media, sizeof(st->media), "audio");
    snprintf(st->dst, sizeof(st->dst), "%s", dst);
    st->clock_rate = 8000;
    if (plain) {
        st->plain = true; /* a SIPREC RTP/AVP leg: no SSRC in its SDP, no keys */
    } else {
        st->ssrc_known = true;
        st->ssrc = s->ssrc;
        st->n_keys = 1;
        st->keys[0].suite = SIPEV_SUITE_AES_CM_128_HMAC_SHA1_80;
        st->keys[0].master_len = 30;
        memcpy(st->keys[0].master, s->master, 30);
    }
    rec_eng_keybody(x->e, "sip:sbc@example.net", &kb);
    sipev_keybody_fini(&kb);
}

/* A key that names a fork destination (a SIPREC session's media port)
 * binds only packets sent there: two sessions from one SBC source address,
 * same SSRC and key, each recorded in its own call; a packet whose
 * destination is unknown binds neither. */
static void t_dest_scope(void)
{
    struct fx x;
    struct sender a, b, c;
    struct farch *ar1, *ar2;

    fx_cfg(&x);
    fx_start(&x);
    sender_init(&a, 9, 0x9999, 1, v4(10, 0, 0, 9, 5000));
    a.to = v4(127, 0, 0, 1, 41000);
    sender_init(&b, 9, 0x9999, 1, v4(10, 0, 0, 9, 5002)); /* same SBC, SSRC and key */
    b.to = v4(127, 0, 0, 1, 41002);
    sender_init(&c, 9, 0x9999, 1, v4(10, 0, 0, 9, 5004)); /* destination unknown */
    disclose_to(&x, "siprec-1", "s1", &a, "127.0.0.1:41000", false);
    disclose_to(&x, "siprec-2", "s2", &b, "127.0.0.1:41002", false);
    send_n(&x, &b, 10);
    send_n(&x, &a, 12);
    send_n(&x, &c, 5);
    ar1 = arch_of(&x.fs, "siprec-1");
    ar2 = arch_of(&x.fs, "siprec-2");
    tap_ok(ar1 && stream_exact(ar1, "s1", 0x9999, 1, 12) && ar1->n_st == 1,
           "fork destination: session 1's key binds only packets to its port (12 bit-exact)");
    tap_ok(ar2 && stream_exact(ar2, "s2", 0x9999, 1, 10) && ar2->n_st == 1,
           "fork destination: session 2's packets land in session 2's call (10 bit-exact)");
    tap_ok(fx_stats(&x).unbound_now == 1 && fx_stats(&x).recorded == 22,
           "fork destination: a packet to an unknown destination binds no scoped key");
    fx_stop(&x);
    sender_fini(&a);
    sender_fini(&b);
    sender_fini(&c);
    fstore_free(&x.fs);
}

/* The same with every packet held before the keys come, as a media relay
 * passing SRTP through shows it (rtpengine copies the caller's key into its
 * offer: both legs carry one SSRC under one key, each disclosed as its own
 * call): a disclosure binds only the held streams sent to its destination,
 * not every held stream its key authenticates. */
static void t_dest_scope_held(void)
{
    struct fx x;
    struct sender a, b;
    struct farch *ar1, *ar2;

    fx_cfg(&x);
    fx_start(&x);
    sender_init(&a, 9, 0x9999, 1, v4(10, 0, 0, 9, 5000));
    a.to = v4(127, 0, 0, 1, 41000);
    sender_init(&b, 9, 0x9999, 1, v4(10, 0, 0, 9, 5002)); /* same SSRC, key and sequence */
    b.to = v4(127, 0, 0, 1, 41002);
    send_n(&x, &b, 10);
    send_n(&x, &a, 12);
    tap_ok(fx_stats(&x).held == 22 && x.fs.n == 0, "held fork destinations: 22 packets held before the keys");
    disclose_to(&x, "leg-1", "s1", &a, "127.0.0.1:41000", false);
    disclose_to(&x, "leg-2", "s2", &b, "127.0.0.1:41002", false);
    ar1 = arch_of(&x.fs, "leg-1");
    ar2 = arch_of(&x.fs, "leg-2");
    tap_ok(ar1 && stream_exact(ar1, "s1", 0x9999, 1, 12) && ar1->n_st == 1,
           "held fork destinations: the first disclosure binds only its leg's 12 held packets");
    tap_ok(ar2 && stream_exact(ar2, "s2", 0x9999, 1, 10) && ar2->n_st == 1,
           "held fork destinations: the other leg's 10 held packets land in its own call");
    fx_stop(&x);
    sender_fini(&a);
    sender_fini(&b);
    fstore_free(&x.fs);
}

/* A plain RTCP sender report of ssrc from `from` to `to`. */
static void send_plain_sr(struct fx *x, uint32_t ssrc, struct rec_flow from, struct rec_flow to)
{
    uint8_t pkt[28] = { 0x80, 200, 0, 6 };
    struct rec_eng_pkt p = { 0 };

    pkt[4] = (uint8_t)(ssrc >> 24);
    pkt[5] = (uint8_t)(ssrc >> 16);
    pkt[6] = (uint8_t)(ssrc >> 8);
    pkt[7] = (uint8_t)ssrc;
    p.data = pkt;
    p.len = sizeof(pkt);
    p.src = from;
    p.dst = to;
    p.arrival_wall_us = x->clk.wall;
    rec_eng_packet(x->e, &p);
}

/* A plain (keyless) binding, as a SIPREC session discloses an RTP/AVP leg:
 * it takes the packets sent to its destination, as received (held ones
 * too), RTCP from the port above and a new SSRC from the same address; a
 * second sender address to that port is not mixed in (kept apart as
 * received once key-wait is over); a plain binding without a destination
 * binds nothing. */
static void t_plain(void)
{
    struct fx x;
    struct sender a, a2, stranger, lost;
    struct farch *ar;
    struct rec_eng_stats st;
    size_t enc = 0, rtcp_streams = 0;

    fx_cfg(&x);
    fx_start(&x);
    sender_init(&a, 1, 0x1111, 100, v4(10, 0, 0, 1, 6000));
    a.to = v4(127, 0, 0, 1, 41010);
    a.plain = true;
    sender_init(&a2, 1, 0x2222, 7, v4(10, 0, 0, 1, 6000)); /* the SBC's new SSRC (transfer) */
    a2.to = a.to;
    a2.plain = true;
    sender_init(&stranger, 1, 0x3333, 1, v4(10, 9, 9, 9, 6000));
    stranger.to = a.to;
    stranger.plain = true;
    sender_init(&lost, 1, 0x4444, 1, v4(10, 0, 0, 1, 6100)); /* to a port nobody disclosed */
    lost.to = v4(127, 0, 0, 1, 41020);
    lost.plain = true;
    send_n(&x, &a, 5); /* before the INVITE's keys: held */
    tap_ok(fx_stats(&x).held == 5, "plain: packets before the session's disclosure are held");
    disclose_to(&x, "siprec-p", "p1", &a, "127.0.0.1:41010", true);
    disclose_to(&x, "siprec-q", "q1", &lost, "", true); /* no destination: ignored */
    send_n(&x, &a, 10);
    send_plain_sr(&x, 0x1111, v4(10, 0, 0, 1, 6001), a.to);
    send_n(&x, &a2, 4);
    send_n(&x, &stranger, 6);
    send_n(&x, &lost, 3);
    fx_advance(&x, 2500); /* key-wait over: the stranger's packets are kept apart */
    ar = arch_of(&x.fs, "siprec-p");
    tap_ok(ar && stream_exact(ar, "p1", 0x1111, 100, 15),
           "plain: 15 packets (5 held) recorded as received, bit-exact, in order");
    tap_ok(ar && stream_exact(ar, "p1", 0x2222, 7, 4),
           "plain: a new SSRC from the same address is the same leg");
    {
        size_t marked = 0;
        for (size_t i = 0; ar && i < ar->n_st; i++)
            marked += ar->st[i].plain;
        tap_ok(ar && ar->n_st == 4 && marked == 3,
               "plain: its streams (RTP, RTCP, the new SSRC) are marked plain in the archive, the "
               "stranger's kept-apart stream is not (%zu of %zu)", marked, ar ? ar->n_st : 0);
    }
    for (size_t i = 0; ar && i < ar->n_pk; i++)
        enc += (ar->pk[i].flags & STOR_PKT_ENCRYPTED) != 0;
    for (size_t i = 0; ar && i < ar->n_st; i++)
        rtcp_streams += strcmp(ar->st[i].codec, "rtcp") == 0;
    tap_ok(ar && enc == 6 && count_ssrc_streams(ar, 0x3333, "PCMU") == 0,
           "plain: a second sender address to the port is not recorded as the leg (6 kept apart)");
    st = fx_stats(&x);
    tap_ok(st.rtcp == 1 && rtcp_streams == 1, "plain: RTCP from the port above is recorded");
    tap_ok(st.plain_bound == 2 && st.recorded == 19 && st.trial_tries == 0,
           "plain: 2 streams bound without trial authentication, 19 packets recorded");
    tap_ok(!arch_of(&x.fs, "siprec-q") || arch_of(&x.fs, "siprec-q")->n_st == 0,
           "plain: a plain stream without a destination binds nothing");
    fx_stop(&x);
    sender_fini(&a);
    sender_fini(&a2);
    sender_fini(&stranger);
    sender_fini(&lost);
    fstore_free(&x.fs);
}

/* A body naming only a call's parties (no streams), as a SIPREC session's
 * re-INVITE with its first metadata does. */
static void disclose_parties(struct fx *x, const char *call_id, const char *local,
                             const char *remote, bool ended)
{
    struct sipev_keybody kb;
    struct sipev_dialog *d;

    sipev_keybody_init(&kb);
    sipev_keybody_add_dialog(&kb, &d);
    snprintf(d->call_id, sizeof(d->call_id), "%s", call_id);
    snprintf(d->local_aor, sizeof(d->local_aor), "%s", local);
    snprintf(d->remote_aor, sizeof(d->remote_aor), "%s", remote);
    d->state = ended ? SIPEV_DIALOG_ENDED : SIPEV_DIALOG_ACTIVE;
    rec_eng_keybody(x->e, "sip:sbc@example.net", &kb);
    sipev_keybody_fini(&kb);
}

/* Parties that change after the archive opened reach the archive once per
 * change (every engine of a daemon reports it; the archive ignores what it
 * holds); a body without parties, or ending the call, says nothing; the
 * recording goes on in the same archive. */
static void t_late_parties(void)
{
    struct fx x;
    struct sender a;
    struct farch *ar;

    fx_cfg(&x);
    fx_start(&x);
    sender_init(&a, 5, 0x5151, 1, v4(10, 0, 0, 5, 5000));
    a.to = v4(127, 0, 0, 1, 41030);
    disclose_to(&x, "late-1", "s1", &a, "127.0.0.1:41030", false); /* no parties yet */
    send_n(&x, &a, 4);
    ar = arch_of(&x.fs, "late-1");
    tap_ok(ar && ar->n_parties == 0, "late parties: a body without parties tells the archive none");
    disclose_parties(&x, "late-1", "sip:alice@callcentre.example", "sip:bob@pstn.example", false);
    disclose_parties(&x, "late-1", "sip:alice@callcentre.example", "sip:bob@pstn.example", false);
    tap_ok(ar && ar->n_parties == 1 && strcmp(ar->party[0], "sip:alice@callcentre.example") == 0 &&
               strcmp(ar->party[1], "sip:bob@pstn.example") == 0,
           "late parties: the archive is told once per change (%zu)", ar ? ar->n_parties : 0);
    disclose_parties(&x, "late-1", "sip:carol@example.org", "sip:bob@pstn.example", false);
    send_n(&x, &a, 4);
    tap_ok(ar && ar->n_parties == 2 && strcmp(ar->party[0], "sip:carol@example.org") == 0 &&
               stream_exact(ar, "s1", 0x5151, 1, 8) && x.fs.n == 1,
           "late parties: a transfer's new party too; the recording goes on in one archive");
    disclose_parties(&x, "late-1", "sip:mallory@example.org", "", true);
    tap_ok(ar && ar->n_parties == 2, "late parties: the body that ends the call changes none");
    fx_stop(&x);
    sender_fini(&a);
    fstore_free(&x.fs);
}

/* Both directions of a call as a capture sees them, keyed the way
 * srtprec-sdp-disclose discloses an offer/answer: each stream's src is its
 * sender's c=/m= address, dst the other side's. */
static void disclose_pair(struct fx *x, const char *call_id, const struct sender *a,
                          const struct sender *b)
{
    struct sipev_keybody kb;
    struct sipev_dialog *d;
    const struct sender *ss[2] = { a, b };

    sipev_keybody_init(&kb);
    sipev_keybody_add_dialog(&kb, &d);
    snprintf(d->call_id, sizeof(d->call_id), "%s", call_id);
    for (int i = 0; i < 2; i++) {
        struct sipev_stream *st = &d->streams[d->n_streams++];
        snprintf(st->id, sizeof(st->id), "audio0-%s", i ? "rx" : "tx");
        st->direction = i ? SIPEV_DIR_RECV : SIPEV_DIR_SEND;
        snprintf(st->codec, sizeof(st->codec), "PCMU");
        snprintf(st->media, sizeof(st->media), "audio");
        st->clock_rate = 8000;
        snprintf(st->src, sizeof(st->src), "10.0.0.%u:%u", i ? 2u : 1u, i ? 5000u : 4000u);
        snprintf(st->dst, sizeof(st->dst), "10.0.0.%u:%u", i ? 1u : 2u, i ? 4000u : 5000u);
        st->n_keys = 1;
        st->keys[0].suite = SIPEV_SUITE_AES_CM_128_HMAC_SHA1_80;
        st->keys[0].master_len = 30;
        memcpy(st->keys[0].master, ss[i]->master, 30);
    }
    rec_eng_keybody(x->e, "ka1", &kb);
    sipev_keybody_fini(&kb);
}

/* A mirror port: both directions of a call by 5-tuple, every packet seen
 * twice (ingress and egress), some before the key came.  Each stream is
 * recorded once, bit-exact; the second copies are counted as duplicates,
 * not replays; a packet replayed long after is still a replay.  Capture
 * drops go to the trailer of the call open at the time. */
/* A destination homes unbound media only for keys scoped by destination
 * alone: with src+dst keys (a fork or capture to a shared port) a stranger
 * sending to the same destination is kept in an unmatched archive, never in
 * the call that discloses that address (recorder_flood found it). */
static void t_shared_dst_junk(void)
{
    struct fx x;
    struct sender a, b, junk;
    struct farch *ar;

    fx_cfg(&x);
    fx_start(&x);
    sender_init(&a, 11, 0x1111, 1, v4(10, 0, 0, 1, 4000));
    a.to = v4(10, 0, 0, 2, 5000);
    sender_init(&b, 12, 0x2222, 1, v4(10, 0, 0, 2, 5000));
    b.to = v4(10, 0, 0, 1, 4000);
    sender_init(&junk, 13, 0x6666, 1, v4(10, 0, 0, 66, 7000));
    junk.to = v4(10, 0, 0, 2, 5000);
    disclose_pair(&x, "shared-dst@x", &a, &b);
    send_n(&x, &a, 5);
    send_n(&x, &junk, 7);
    fx_advance(&x, 2100);
    ar = arch_of(&x.fs, "shared-dst@x");
    tap_ok(ar && ar->n_st == 1 && stream_exact(ar, "audio0-tx", 0x1111, 1, 5),
           "shared destination: the call holds only its own stream (%zu streams)",
           ar ? ar->n_st : 0);
    tap_ok(fx_stats(&x).encrypted_kept == 7 && n_unmatched(&x.fs) == 1,
           "shared destination: the stranger's 7 packets are kept in an unmatched archive");
    fx_stop(&x);
    sender_fini(&a);
    sender_fini(&b);
    sender_fini(&junk);
    fstore_free(&x.fs);
}

/* A NATed phone disclosed with --no-addresses (issue 16): every key with
 * src and dst unknown and no SSRC.  Its packets come from the NAT's public
 * address, which no disclosure names; each key binds the stream it
 * authenticates, another unscoped call's keys keep to that call's packets,
 * and a stranger with a key nobody disclosed, sending to the same
 * destination, stays out of both (kept encrypted, unmatched). */
static void t_unscoped(void)
{
    struct fx x;
    struct sender a, b, c, stranger;
    struct farch *ar, *other;
    struct rec_eng_stats st;

    fx_cfg(&x);
    fx_start(&x);
    sender_init(&a, 41, 0x4101, 1, v4(203, 0, 113, 7, 31000)); /* the NAT's side */
    a.to = v4(10, 0, 0, 2, 5000);
    sender_init(&b, 42, 0x4202, 1, v4(10, 0, 0, 2, 5000));
    b.to = v4(203, 0, 113, 7, 31000);
    sender_init(&c, 43, 0x4303, 1, v4(198, 51, 100, 9, 32000));
    c.to = v4(10, 0, 0, 3, 5000);
    sender_init(&stranger, 44, 0x4404, 1, v4(203, 0, 113, 7, 31002));
    stranger.to = v4(10, 0, 0, 2, 5000);
    disclose(&x, "ka1", "nat@x", false, false,
             (struct kstream[]){ { "audio0-tx", &a, false, 0, NULL, 0, 0, 0, 0 },
                                 { "audio0-rx", &b, false, 0, NULL, 0, 0, 0, 0 } }, 2);
    disclose(&x, "ka1", "other@x", false, false,
             (struct kstream[]){ { "audio0-tx", &c, false, 0, NULL, 0, 0, 0, 0 } }, 1);
    send_n(&x, &stranger, 6);
    send_n(&x, &a, 10);
    send_n(&x, &c, 10);
    send_n(&x, &b, 10);
    send_n(&x, &stranger, 6);
    fx_advance(&x, 2100); /* key-wait over for the stranger */
    ar = arch_of(&x.fs, "nat@x");
    other = arch_of(&x.fs, "other@x");
    st = fx_stats(&x);
    tap_ok(ar && ar->n_st == 2 && stream_exact(ar, "audio0-tx", 0x4101, 1, 10) &&
               stream_exact(ar, "audio0-rx", 0x4202, 1, 10),
           "unscoped keys: both streams of the NATed leg bound by authentication, bit-exact");
    tap_ok(other && other->n_st == 1 && stream_exact(other, "audio0-tx", 0x4303, 1, 10),
           "unscoped keys: another unscoped call keeps its own stream only");
    tap_ok(st.trial_bound == 3 && st.encrypted_kept == 12 && n_unmatched(&x.fs) == 1,
           "unscoped keys: a stranger's 12 packets are kept apart (trial_bound %llu, kept %llu)",
           (unsigned long long)st.trial_bound, (unsigned long long)st.encrypted_kept);
    fx_stop(&x);
    sender_fini(&a);
    sender_fini(&b);
    sender_fini(&c);
    sender_fini(&stranger);
    fstore_free(&x.fs);
}

static void t_capture_pair_duplicates(void)
{
    struct fx x;
    struct sender a, b;
    struct farch *ar;
    uint8_t pkt[256], old[256];
    size_t len, old_len = 0;

    fx_cfg(&x);
    fx_start(&x);
    sender_init(&a, 21, 0x2101, 10, v4(10, 0, 0, 1, 4000));
    a.to = v4(10, 0, 0, 2, 5000);
    sender_init(&b, 22, 0x2202, 70, v4(10, 0, 0, 2, 5000));
    b.to = v4(10, 0, 0, 1, 4000);
    for (int i = 0; i < 5; i++) { /* before the key: held, twice */
        len = build_one(&a, pkt);
        deliver_copy(&x, &a, pkt, len);
        deliver_copy(&x, &a, pkt, len);
        fx_advance(&x, 20);
    }
    disclose_pair(&x, "cap-1", &a, &b);
    for (int i = 0; i < 40; i++) {
        len = build_one(&a, pkt);
        deliver_copy(&x, &a, pkt, len);
        deliver_copy(&x, &a, pkt, len);
        if (i == 0) {
            memcpy(old, pkt, len);
            old_len = len;
        }
        len = build_one(&b, pkt);
        deliver_copy(&x, &b, pkt, len);
        deliver_copy(&x, &b, pkt, len);
        fx_advance(&x, 20);
    }
    ar = arch_of(&x.fs, "cap-1");
    tap_ok(ar && stream_exact(ar, "audio0-tx", 0x2101, 10, 45) &&
               stream_exact(ar, "audio0-rx", 0x2202, 70, 40) && ar->n_st == 2,
           "capture: both directions matched by 5-tuple, each stream once, bit-exact");
    tap_ok(fx_stats(&x).duplicates == 85 && fx_stats(&x).replay == 0 &&
               fx_stats(&x).recorded == 85,
           "capture: 85 second copies counted as duplicates, none as replays");
    deliver_copy(&x, &a, old, old_len); /* 39 packets later: out of the window */
    tap_ok(fx_stats(&x).replay == 1 && fx_stats(&x).duplicates == 85,
           "capture: a packet replayed after the duplicate window is a replay");
    rec_eng_count_source_drops(x.e, 7);
    disclose(&x, "ka1", "cap-1", false, true, NULL, 0);
    fx_advance(&x, 1200);
    tap_ok(ar->released && ar->counts.overload == 7 && ar->counts.replay == 1 &&
               fx_stats(&x).kernel_drops == 7,
           "capture: ring drops while the call was open are in its trailer (overload 7)");
    fx_stop(&x);
    sender_fini(&a);
    sender_fini(&b);
    fstore_free(&x.fs);
}

static void t_rekey_ssrc_change_roc(void)
{
    struct fx x;
    struct sender a, a2, c;
    struct farch *ar;

    /* Re-key: the old key's late packets still decrypt (grace). */
    fx_cfg(&x);
    fx_start(&x);
    sender_init(&a, 9, 0x9999, 1, v4(10, 0, 0, 9, 4000));
    disclose(&x, "ka1", "call-r", false, false,
             (struct kstream[]){ { "a-1", &a, true, 0, NULL, 0, 0, 0, 0 } }, 1);
    send_n(&x, &a, 10);
    sender_init(&a2, 10, 0x9999, 11, v4(10, 0, 0, 9, 4000));
    {
        /* The new key, positioned where the stream is (ROC 0). */
        struct rec_srtp_cfg sc = { 0 };
        rec_srtp_destroy(a2.tx);
        sc.ssrc = 0x9999;
        sc.sender = true;
        sc.n_keys = 1;
        sc.keys[0].suite = REC_SUITE_AES_CM_128_HMAC_SHA1_80;
        memcpy(sc.keys[0].master, a2.master, 30);
        sc.keys[0].master_len = 30;
        rec_srtp_create(&a2.tx, &sc);
    }
    disclose(&x, "ka1", "call-r", false, false,
             (struct kstream[]){ { "a-1", &a2, true, 0, NULL, 0, 0, 0, 0 } }, 1);
    send_n(&x, &a2, 10);
    ar = arch_of(&x.fs, "call-r");
    tap_ok(ar && stream_exact(ar, "a-1", 0x9999, 1, 20) && fx_stats(&x).rekeys == 1,
           "re-key: 10 packets under each key, one stream, no gap");
    fx_stop(&x);
    sender_fini(&a);
    sender_fini(&a2);
    fstore_free(&x.fs);

    /* SSRC change: same source, same key, new SSRC (ROC 0, new sequence). */
    fx_cfg(&x);
    fx_start(&x);
    sender_init(&a, 11, 0xA1, 100, v4(10, 0, 0, 11, 4000));
    disclose(&x, "ka1", "call-c", false, false,
             (struct kstream[]){ { "a-1", &a, true, 0, NULL, 0, 0, 0, 0 } }, 1);
    send_n(&x, &a, 10);
    sender_init(&c, 11, 0xA2, 5000, v4(10, 0, 0, 11, 4000));
    send_n(&x, &c, 10);
    ar = arch_of(&x.fs, "call-c");
    tap_ok(ar && stream_exact(ar, "a-1", 0xA1, 100, 10) && stream_exact(ar, "a-1", 0xA2, 5000, 10) &&
               fx_stats(&x).ssrc_changes == 1,
           "SSRC change: the new SSRC is the same stream of the same call");
    fx_stop(&x);
    sender_fini(&a);
    sender_fini(&c);
    fstore_free(&x.fs);

    /* ROC join: disclosed mid-call after a wrap (ROC 2, seq 65530). */
    fx_cfg(&x);
    fx_start(&x);
    sender_at(&a, 12, 0xB1, 2, 65531, v4(10, 0, 0, 12, 4000));
    disclose(&x, "ka1", "call-roc", false, false,
             (struct kstream[]){ { "a-1", &a, true, 0, NULL, 0, 2, 65530, 0 } }, 1);
    send_n(&x, &a, 10); /* wraps into ROC 3 after 5 packets */
    ar = arch_of(&x.fs, "call-roc");
    tap_ok(ar && stream_exact(ar, "a-1", 0xB1, 65531, 10) && ar->pk[9].ext_seq == (3ull << 16 | 4),
           "ROC join: decrypted across the wrap from the disclosed ROC");
    tap_ok(fx_stats(&x).roc_tries == 0, "ROC join: a disclosed ROC costs no ROC search");
    fx_stop(&x);
    sender_fini(&a);
    fstore_free(&x.fs);
}

/* A call of age_s seconds whose stream (sender a: key seed, ssrc, at roc
 * and seq) a party that does not know the ROC discloses now (an SBC that
 * first saw it mid-way); wrong_key: that party discloses another key.
 * held: a sends that many packets before the disclosure. */
static void roc_call(struct fx *x, struct sender *a, uint64_t age_s, uint8_t seed, uint32_t ssrc,
                     uint32_t roc, uint16_t seq, const char *call_id, uint8_t wrong_key,
                     size_t held)
{
    uint64_t start;

    fx_cfg(x);
    start = x->clk.wall;
    x->clk.wall += age_s * 1000000u;
    fx_start(x);
    sender_at(a, seed, ssrc, roc, seq, v4(10, 0, 0, seed, 4000));
    send_n(x, a, held);
    disclose_at(x, "ka1", call_id, false, false, start, true,
                (struct kstream[]){ { "a-1", a, true, 0, NULL, wrong_key, 0, 0, 0 } }, 1);
}

static void roc_done(struct fx *x, struct sender *a)
{
    fx_stop(x);
    sender_fini(a);
    fstore_free(&x->fs);
}

/* A call disclosed late with its ROC unknown after `wraps` wraps at 50
 * packets a second: the first packets are held, the key comes, the engine
 * searches the ROCs the call's age allows and records every packet. */
static void roc_late(unsigned wraps, uint16_t seq0, size_t n_before, size_t n_after)
{
    static struct fx x; /* large: t_roc_search has one on the stack already */
    struct sender a;
    struct farch *ar;
    struct rec_eng_stats st;
    uint64_t age_s = (uint64_t)wraps * 65536u / 50u + 60u;
    uint32_t hi = (uint32_t)((age_s * 50u + 65535u) / 65536u + 1u);
    size_t n = n_before + n_after, last = n - 1;
    uint64_t want_last = ((uint64_t)wraps << 16) + seq0 + last;
    char id[32];

    if (hi < 4)
        hi = 4; /* the window's floor: a discloser that gave no start */
    snprintf(id, sizeof(id), "call-roc-late-%u", wraps);
    roc_call(&x, &a, age_s, 40, 0xC0DE0000u + wraps, wraps, seq0, id, 0, n_before);
    send_n(&x, &a, n_after);
    ar = arch_of(&x.fs, id);
    st = fx_stats(&x);
    tap_ok(ar && stream_exact(ar, "a-1", a.ssrc, seq0, n) && ar->pk[last].ext_seq == want_last,
           "ROC unknown, %u wraps: every packet recorded bit-exact from the held ones on "
           "(ext seq %llx)", wraps, ar ? (unsigned long long)ar->pk[last].ext_seq : 0ull);
    /* Searched from the window's top (hi) down to the ROC the first
     * packet had: hi - wraps + 1 attempts, once for the stream. */
    tap_ok(st.roc_found == 1 && st.roc_failed == 0 && st.roc_tries == hi - wraps + 1 &&
               st.auth_fail == 0,
           "ROC unknown, %u wraps: found once, %llu attempts counted (window 0..%u)", wraps,
           (unsigned long long)st.roc_tries, hi);
    roc_done(&x, &a);
}

static void t_roc_search(void)
{
    struct fx x;
    struct sender a;
    struct rec_eng_stats st;
    struct farch *ar;

    roc_late(1, 1000, 5, 20);
    roc_late(3, 65530, 3, 12); /* the fourth wrap comes during the test */

    /* A wrong key of unknown ROC for the stream's SSRC: each packet searches
     * the whole window (0..5 at 4,000 s: 6 attempts) until the stream's
     * budget is spent; then the stream is given up (counted once) and costs
     * nothing more. */
    roc_call(&x, &a, 4000, 41, 0xBAD0, 3, 100, "call-roc-wrong", 77, 0);
    send_n(&x, &a, 60);
    st = fx_stats(&x);
    tap_ok(st.roc_tries == 256 && st.roc_found == 0 && st.roc_failed == 1 && st.trial_bound == 0,
           "ROC unknown, wrong key: the stream's budget (256 attempts) is spent and counted, "
           "then given up (%llu attempts, %llu failed)",
           (unsigned long long)st.roc_tries, (unsigned long long)st.roc_failed);
    roc_done(&x, &a);

    /* The bound: a dialog 100 s old allows ROC 0..2, raised to the floor
     * 0..4; a stream at ROC 5 is not found there (5 attempts a packet). */
    roc_call(&x, &a, 100, 42, 0xB0D0, 5, 100, "call-roc-bound", 0, 0);
    send_n(&x, &a, 2);
    st = fx_stats(&x);
    tap_ok(st.roc_tries == 10 && st.roc_found == 0 && st.trial_bound == 0,
           "ROC unknown: the search stays within the window (0..4 for a young dialog)");
    roc_done(&x, &a);

    /* The window grows with the dialog's age: 6 wraps in, at 50 a second,
     * a call is found (0..8); with no start given it would not be. */
    roc_call(&x, &a, 6u * 65536u / 50u + 60u, 44, 0xB0D1, 6, 100, "call-roc-old", 0, 0);
    send_n(&x, &a, 2);
    st = fx_stats(&x);
    tap_ok(st.roc_found == 1 && st.roc_tries == 3 && st.trial_bound == 1,
           "ROC unknown, 6 wraps: above the floor, found from the dialog's age (ROC 8, 7, 6)");
    roc_done(&x, &a);

    /* The same call disclosed without its start (the keyagent's clock, age
     * 0: srtprec-kamailio-disclose when Kamailio's dialog module does not
     * know the dialog): only the floor's 0..4 is searched, and it is missed.
     * Kamailio's Srtprec-Dialog-Start is what finds it. */
    roc_call(&x, &a, 0, 45, 0xB0D2, 6, 100, "call-roc-nostart", 0, 0);
    send_n(&x, &a, 2);
    st = fx_stats(&x);
    tap_ok(st.roc_found == 0 && st.roc_tries == 10 && st.trial_bound == 0,
           "ROC unknown, 6 wraps, no start: not found in the floor's window (0..4)");
    roc_done(&x, &a);

    /* Bound first by SRTCP (its index is in the packet, the ROC does not
     * matter) under a key of unknown ROC: the first RTP packet searches. */
    roc_call(&x, &a, 2000, 43, 0x5C7C, 1, 500, "call-roc-rtcp", 0, 0);
    send_rr(&x, &a, a.from);
    send_n(&x, &a, 5);
    ar = arch_of(&x.fs, "call-roc-rtcp");
    st = fx_stats(&x);
    tap_ok(ar && stream_exact(ar, "a-1", 0x5C7C, 500, 5) && st.rtcp == 1 && st.roc_found == 1 &&
               st.auth_fail == 0,
           "ROC unknown, bound by SRTCP first: the first RTP packet finds the ROC, all recorded");
    roc_done(&x, &a);
}

static void t_pause(void)
{
    struct fx x;
    struct sender a;
    struct farch *ar;

    fx_cfg(&x);
    fx_start(&x);
    sender_init(&a, 13, 0xC1, 1, v4(10, 0, 0, 13, 4000));
    disclose(&x, "ka1", "call-p", false, false,
             (struct kstream[]){ { "a-1", &a, true, 0, NULL, 0, 0, 0, SIPEV_STREAM_ACTIVE } }, 1);
    send_n(&x, &a, 10);
    disclose(&x, "ka1", "call-p", false, false,
             (struct kstream[]){ { "a-1", &a, true, 0, NULL, 0, 0, 0, SIPEV_STREAM_PAUSED } }, 1);
    send_n(&x, &a, 10);
    disclose(&x, "ka1", "call-p", false, false,
             (struct kstream[]){ { "a-1", &a, true, 0, NULL, 0, 0, 0, SIPEV_STREAM_ACTIVE } }, 1);
    send_n(&x, &a, 10);
    ar = arch_of(&x.fs, "call-p");
    tap_ok(ar && ar->n_pk == 20 && ar->pk[10].seq == 21 && fx_stats(&x).paused == 10,
           "pause/resume: the 10 packets sent while paused are counted, not recorded");
    fx_stop(&x);
    sender_fini(&a);
    fstore_free(&x.fs);
}

static void t_flood(void)
{
    struct fx x;
    struct sender a;
    struct farch *ar;
    struct rec_eng_stats st;
    uint32_t rnd = 12345;

    fx_cfg(&x);
    x.cfg.max_streams = 1000;
    x.cfg.max_unbound = 200;
    x.cfg.unmatched_streams_per_min = 32;
    fx_start(&x);
    sender_init(&a, 14, 0xD1, 1, v4(10, 0, 0, 14, 4000));
    disclose(&x, "ka1", "call-victim", false, false,
             (struct kstream[]){ { "a-1", &a, true, 0, NULL, 0, 0, 0, 0 } }, 1);
    for (int i = 0; i < 100; i++) {
        /* 100,000 random SSRCs from random (spoofed) sources around each packet. */
        for (int k = 0; k < 1000; k++) {
            rnd = rnd * 1103515245u + 12345u;
            send_raw(&x, rnd, v4(192, (uint8_t)(rnd >> 8), (uint8_t)(rnd >> 16), 1, (uint16_t)rnd));
        }
        send_one(&x, &a);
        fx_advance(&x, 20);
    }
    ar = arch_of(&x.fs, "call-victim");
    st = fx_stats(&x);
    tap_ok(ar && stream_exact(ar, "a-1", 0xD1, 1, 100),
           "flood: the disclosed call is recorded complete and bit-exact");
    tap_ok(st.unbound_now <= 200 && st.unbound_full > 90000,
           "flood: unbound streams capped at 200 (%llu refused)", (unsigned long long)st.unbound_full);
    tap_ok(n_unmatched(&x.fs) <= 1, "flood: at most one unmatched archive (%zu)", n_unmatched(&x.fs));
    fx_advance(&x, 6000);
    st = fx_stats(&x);
    tap_ok(st.unbound_now == 0 && st.streams == 1 && st.held_now == 0,
           "flood: back to baseline after key-wait + linger (streams %llu)",
           (unsigned long long)st.streams);
    tap_ok(st.unmatched_budget > 0 && st.encrypted_kept <= 32,
           "flood: unmatched streams kept within the per-minute budget (%llu kept)",
           (unsigned long long)st.encrypted_kept);
    fx_stop(&x);
    sender_fini(&a);
    fstore_free(&x.fs);

    /* One address starting many flows hits its own cap, not everyone's. */
    fx_cfg(&x);
    x.cfg.max_unbound_per_source = 50;
    fx_start(&x);
    for (uint32_t k = 0; k < 300; k++)
        send_raw(&x, 0x10000 + k, v4(10, 1, 1, 1, (uint16_t)(5000 + k)));
    send_raw(&x, 0x99, v4(10, 2, 2, 2, 5000));
    st = fx_stats(&x);
    tap_ok(st.source_full == 250 && st.unbound_now == 51, "per-source cap: 250 refused from one address, others go on");
    fx_stop(&x);
    fstore_free(&x.fs);
}

static void t_restart_orphan(void)
{
    struct fx x;
    struct sender a, b;
    struct farch *ar, *br;

    fx_cfg(&x);
    fx_start(&x);
    sender_init(&a, 15, 0xE1, 1, v4(10, 0, 0, 15, 4000));
    sender_init(&b, 16, 0xE2, 1, v4(10, 0, 0, 16, 4000));
    disclose(&x, "ka1", "call-live", false, false,
             (struct kstream[]){ { "a-1", &a, true, 0, NULL, 0, 0, 0, 0 } }, 1);
    disclose(&x, "ka1", "call-quiet", false, false,
             (struct kstream[]){ { "b-1", &b, true, 0, NULL, 0, 0, 0, 0 } }, 1);
    send_n(&x, &b, 5);
    fx_advance(&x, 5000); /* call-quiet's media stopped long ago */
    send_n(&x, &a, 10);
    /* The keyagent restarted: its first full state lists nothing. */
    disclose(&x, "ka1", NULL, true, false, NULL, 0);
    send_n(&x, &a, 150); /* 3 s of media */
    ar = arch_of(&x.fs, "call-live");
    br = arch_of(&x.fs, "call-quiet");
    tap_ok(!ar->released && stream_exact(ar, "a-1", 0xE1, 1, 160) && fx_stats(&x).calls_kept == 1,
           "restart: a call omitted by a full state goes on while its media flows");
    tap_ok(br->released, "restart: an omitted call without media ends");
    fx_advance(&x, 1500);
    tap_ok(ar->released && ar->counts.packets == 160, "restart: the orphan ends once its media stopped");
    fx_stop(&x);
    sender_fini(&a);
    sender_fini(&b);
    fstore_free(&x.fs);
}

static void t_quota(void)
{
    struct fx x;
    struct sender a;
    char id[32];
    struct rec_eng_stats st;

    fx_cfg(&x);
    x.cfg.max_calls_per_source = 5;
    fx_start(&x);
    sender_init(&a, 17, 0xF1, 1, v4(10, 0, 0, 17, 4000));
    for (int i = 0; i < 8; i++) {
        snprintf(id, sizeof(id), "greedy-%d", i);
        disclose(&x, "ka-greedy", id, false, false,
                 (struct kstream[]){ { "g-1", &a, false, 0, NULL, (uint8_t)(50 + i), 0, 0, 0 } }, 1);
    }
    disclose(&x, "ka1", "call-fair", false, false,
             (struct kstream[]){ { "a-1", &a, true, 0, NULL, 0, 0, 0, 0 } }, 1);
    send_n(&x, &a, 5);
    st = fx_stats(&x);
    tap_ok(st.quota_refused == 3 && arch_of(&x.fs, "greedy-5") == NULL,
           "quota: a key source past its calls gets no more archives");
    tap_ok(stream_exact(arch_of(&x.fs, "call-fair"), "a-1", 0xF1, 1, 5),
           "quota: another key source is not starved");
    fx_stop(&x);
    sender_fini(&a);
    fstore_free(&x.fs);

    /* Archive opens per second. */
    fx_cfg(&x);
    x.cfg.opens_per_source_per_s = 4;
    fx_start(&x);
    sender_init(&a, 18, 0xF2, 1, v4(10, 0, 0, 18, 4000));
    for (int i = 0; i < 6; i++) {
        /* burst-4 carries a's key; the others keys of their own. */
        snprintf(id, sizeof(id), "burst-%d", i);
        disclose(&x, "ka1", id, false, false,
                 (struct kstream[]){ { "a-1", &a, false, 0, NULL, i == 4 ? 0 : (uint8_t)(60 + i),
                                       0, 0, 0 } },
                 1);
    }
    /* burst-5 ends before it could open; burst-4 learns its SSRC meanwhile. */
    disclose(&x, "ka1", "burst-5", false, true, NULL, 0);
    disclose(&x, "ka1", "burst-4", false, false,
             (struct kstream[]){ { "a-1", &a, true, 0, NULL, 0, 0, 0, 0 } }, 1);
    tap_ok(fx_stats(&x).calls_deferred == 2 && fx_stats(&x).quota_refused == 0 && x.fs.n == 4,
           "opens per second: 4 open now, 2 are deferred, none refused");
    send_n(&x, &a, 5);
    fx_advance(&x, 1000);
    tap_ok(x.fs.n == 5 && arch_of(&x.fs, "burst-4") && !arch_of(&x.fs, "burst-5"),
           "opens per second: the deferred call opens the next second; one that ended meanwhile never opens");
    send_n(&x, &a, 5);
    tap_ok(stream_exact(arch_of(&x.fs, "burst-4"), "a-1", 0xF2, 1, 10),
           "opens per second: the deferred call records from its first packet (held until it opened)");
    fx_stop(&x);
    sender_fini(&a);
    fstore_free(&x.fs);
}

static void t_unmatched_rotation_and_storage(void)
{
    struct fx x;
    struct sender a;
    struct farch *ar;
    struct rec_eng_stats st;

    fx_cfg(&x);
    x.fs.unmatched_max_st = 4;
    fx_start(&x);
    for (uint32_t k = 0; k < 10; k++)
        send_raw(&x, 0x500 + k, v4(10, 3, 3, (uint8_t)k, 6000));
    fx_advance(&x, 2100);
    st = fx_stats(&x);
    tap_ok(st.encrypted_kept == 10 && n_unmatched(&x.fs) == 3 && x.fs.a[0].retired,
           "unmatched rotation: 10 streams in archives of 4 (3 opened, full ones retired)");
    fx_stop(&x);
    fstore_free(&x.fs);

    /* The shared unmatched archive opened next was filled by other
     * workers meanwhile, twice: the stream still finds room. */
    fx_cfg(&x);
    x.fs.unmatched_max_st = 4;
    fx_start(&x);
    for (uint32_t k = 0; k < 4; k++)
        send_raw(&x, 0x600 + k, v4(10, 3, 4, (uint8_t)k, 6000));
    fx_advance(&x, 2100);
    x.fs.unmatched_full_opens = 2;
    send_raw(&x, 0x700, v4(10, 3, 5, 1, 6000));
    fx_advance(&x, 2100);
    st = fx_stats(&x);
    tap_ok(st.encrypted_kept == 5 && st.storage_err == 0 && n_unmatched(&x.fs) == 4,
           "unmatched rotation past archives others filled: 5 kept, no storage drop (%llu kept, "
           "%llu storage, %zu archives)", (unsigned long long)st.encrypted_kept,
           (unsigned long long)st.storage_err, n_unmatched(&x.fs));
    fx_stop(&x);
    fstore_free(&x.fs);

    /* A storage failure is counted, in the metrics and in the trailer. */
    fx_cfg(&x);
    fx_start(&x);
    sender_init(&a, 19, 0x1234, 1, v4(10, 0, 0, 19, 4000));
    disclose(&x, "ka1", "call-io", false, false,
             (struct kstream[]){ { "a-1", &a, true, 0, NULL, 0, 0, 0, 0 } }, 1);
    send_n(&x, &a, 5);
    ar = arch_of(&x.fs, "call-io");
    ar->fail_packets = true;
    send_n(&x, &a, 5);
    fx_stop(&x);
    tap_ok(ar->released && ar->counts.packets == 5 && ar->counts.overload == 5,
           "storage errors: 5 recorded, 5 counted overload in the trailer");
    sender_fini(&a);
    fstore_free(&x.fs);
}

static void t_shutdown_rtcp_sibling(void)
{
    struct fx x;
    struct sender a;
    struct farch *ar;

    /* RTCP without rtcp-mux, from port + 1, before the RTP: at shutdown it
     * must not become a second (encrypted) stream of the same SSRC. */
    fx_cfg(&x);
    fx_start(&x);
    sender_init(&a, 20, 0x4321, 1, v4(10, 0, 0, 20, 4000));
    disclose(&x, "ka1", "call-sd", false, false,
             (struct kstream[]){ { "a-1", &a, true, 0, "10.0.0.20:4000", 0, 0, 0, 0 } }, 1);
    for (uint32_t k = 0; k < 3; k++) /* never keyed: held until shutdown */
        send_raw(&x, 0x700 + k, v4(10, 7, 7, (uint8_t)k, 7000));
    send_rr(&x, &a, v4(10, 0, 0, 20, 4001));
    send_n(&x, &a, 10);
    ar = arch_of(&x.fs, "call-sd");
    fx_stop(&x);
    tap_ok(ar && count_ssrc_streams(ar, 0x4321, "PCMU") == 1 && count_ssrc_streams(ar, 0x4321, "SRTP") == 0 &&
               count_ssrc_streams(ar, 0x4321, "rtcp") == 1 && ar->n_st == 2,
           "shutdown: RTCP from port + 1 joins its stream: one RTP and one RTCP stream, none encrypted (%zu)",
           ar ? ar->n_st : 0);
    {
        size_t kept = 0;
        for (size_t i = 0; i < x.fs.n; i++)
            if (x.fs.a[i].unmatched)
                kept += x.fs.a[i].n_pk;
        tap_ok(kept == 3, "shutdown: the other streams' held packets are kept encrypted, none lost (%zu)",
               kept);
    }
    sender_fini(&a);
    fstore_free(&x.fs);
}

int main(void)
{
    if (rec_srtp_lib_init(true, NULL) != SR_OK) {
        tap_ok(false, "libsrtp init");
        return tap_done();
    }
    t_basic();
    t_hold_then_key();
    t_key_wait_expiry();
    t_trial();
    t_rogue();
    t_false_ssrc_and_scope();
    t_dest_scope();
    t_dest_scope_held();
    t_plain();
    t_late_parties();
    t_capture_pair_duplicates();
    t_shared_dst_junk();
    t_unscoped();
    t_rekey_ssrc_change_roc();
    t_roc_search();
    t_pause();
    t_flood();
    t_restart_orphan();
    t_quota();
    t_unmatched_rotation_and_storage();
    t_shutdown_rtcp_sibling();
    rec_srtp_lib_fini();
    return tap_done();
}
