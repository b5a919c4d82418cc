/** @file fuzz_engine.c  The recorder engine (recorder/engine.h) driven by a
 *  sequence of operations read from the input, with a fake clock and a fake
 *  archive that checks how the engine uses it.
 *
 * Input: operations, each one opcode byte and its operands (missing bytes
 * read as 0, so every input is a valid program):
 *   0 datagram   src(1) len(1) bytes(len)          raw bytes from source src
 *   1 srtp       sender(1) src(1) flip(1)          sender's next SRTP packet,
 *                                                  byte flip-1 inverted if flip
 *   2 srtcp      sender(1) src(1)                  sender's next SRTCP packet
 *   3 key body   see keybody_build                 built from bytes
 *   4 XML body   source(1) len(2) bytes(len)       sipev_keybody_parse, applied if it parses
 *   5 advance    ms(2)                             clocks move; the engine ticks each 10 ms
 *   6 tick       -                                 one tick now
 *   7 authorise  on(1)
 * Senders are four fixed SRTP sessions (their keys known to op 3), so
 * programs reach binding, trial authentication, SSRC changes, re-keys and
 * pauses as well as floods and garbage.
 *
 * Invariants checked after every operation (abort on violation):
 * - counters never decrease;
 * - unbound streams <= max-unbound + (disclosed SSRCs x sources): only a
 *   flow whose SSRC a key source disclosed may pass the cap;
 * - held packets <= max-held-packets;
 * - every packet is accounted for: received = recorded + RTCP recorded +
 *   kept encrypted + every drop + held now;
 * - the archive side: no write to, or release of, an archive after its
 *   last reference went; stream indexes are the archive's own; every
 *   archive released once the engine is destroyed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "log.h"
#include "sipev.h"
#include "stor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Destroying the engine accounts for every held packet: a stream bound by
 * unbound_give_up's last trial used to end rec_eng_destroy's walk of the
 * unbound list, and the streams after it were freed with their held
 * packets uncounted (found by this target; corpus/engine/engine_destroy_loss). */
enum { CHECK_DESTROY_ACCOUNTING = 1 };

enum {
    N_SENDERS = 4,
    N_SOURCES = 6,
    MAX_ARCH = 256,
    ARCH_STREAMS = 8,   /* small, so unmatched rotation and add_stream refusals happen */
    MAX_UNBOUND = 16,
    MAX_HELD = 64,
    MAX_DISCLOSED = 512,
    MAX_OPS = 4096,
};

/* ---------------------------------------------------------------- input */

struct in {
    const uint8_t *p;
    size_t n;
};

static uint8_t in_u8(struct in *in)
{
    uint8_t v = 0;

    if (in->n) {
        v = *in->p++;
        in->n--;
    }
    return v;
}

static uint16_t in_u16(struct in *in)
{
    uint16_t hi = in_u8(in);
    return (uint16_t)(hi << 8 | in_u8(in));
}

/* ---------------------------------------------------------- fake world */

struct farch {
    bool used, unmatched, retired;
    int refs;
    size_t n_st, max_st;
    uint64_t packets;
};

struct world {
    uint64_t mono, wall;
    struct farch a[MAX_ARCH];
    size_t n_arch;
    uint32_t disclosed[MAX_DISCLOSED];
    size_t n_disclosed;
};

static void fail(const char *why)
{
    fprintf(stderr, "fuzz_engine: invariant broken: %s\n", why);
    abort();
}

static uint64_t w_mono(void *arg)
{
    return ((struct world *)arg)->mono;
}

static uint64_t w_wall(void *arg)
{
    return ((struct world *)arg)->wall;
}

static struct farch *live(struct world *w, void *arch)
{
    struct farch *a = arch;

    if (a < w->a || a >= w->a + w->n_arch || !a->used || a->refs <= 0)
        fail("use of an archive that is not open");
    return a;
}

static enum sr_err fa_open(void *arg, const char *source, const struct stor_call_info *ci,
                           bool unmatched, void **arch)
{
    struct world *w = arg;
    struct farch *a;

    (void)source;
    if (!ci || !ci->call_id[0])
        fail("open without a Call-ID");
    if (w->n_arch == MAX_ARCH)
        return SR_ELIMIT; /* a store that refuses: the engine must cope */
    a = &w->a[w->n_arch++];
    memset(a, 0, sizeof(*a));
    a->used = true;
    a->unmatched = unmatched;
    a->refs = 1;
    a->max_st = ARCH_STREAMS;
    *arch = a;
    return SR_OK;
}

static enum sr_err fa_add_stream(void *arg, void *arch, const struct stor_stream_info *si,
                                 unsigned *idx)
{
    struct farch *a = live(arg, arch);

    (void)si;
    if (a->retired || a->n_st >= a->max_st)
        return SR_ELIMIT;
    *idx = (unsigned)a->n_st++;
    return SR_OK;
}

static enum sr_err fa_packet(void *arg, void *arch, unsigned idx, const struct stor_pkt *p,
                             enum rec_pkt_kind kind)
{
    struct farch *a = live(arg, arch);

    if (idx >= a->n_st)
        fail("a packet for a stream the archive never added");
    if ((unsigned)kind >= REC_PKT_KINDS)
        fail("a packet of no kind");
    if (p->payload_len && !p->payload)
        fail("a payload without bytes");
    if (a->packets > 2000)
        return SR_EIO; /* a full disk, sometimes */
    a->packets++;
    return SR_OK;
}

static void fa_release(void *arg, void *arch, const struct stor_counts *c)
{
    struct farch *a = live(arg, arch);

    (void)c;
    a->refs--;
}

static void fa_retire(void *arg, void *arch)
{
    live(arg, arch)->retired = true;
}

static const struct rec_eng_archive_ops fops = { fa_open, fa_add_stream, fa_packet, fa_release,
                                                 fa_retire, NULL };

/* -------------------------------------------------------------- senders */

struct sender {
    struct rec_srtp *tx;
    uint8_t master[30];
    uint32_t ssrc;
    uint16_t seq;
    uint32_t ts;
};

static const uint32_t sender_ssrc[N_SENDERS] = { 0x1111, 0x2222, 0x3333, 0x1112 };

static void master_of(unsigned k, uint8_t out[30])
{
    for (size_t i = 0; i < 30; i++)
        out[i] = (uint8_t)(k * 31 + i * 7 + 1);
}

static bool senders_init(struct sender *s)
{
    for (unsigned k = 0; k < N_SENDERS; k++) {
        struct rec_srtp_cfg c = { 0 };

        memset(&s[k], 0, sizeof(s[k]));
        master_of(k, s[k].master);
        c.ssrc = sender_ssrc[k];
        c.sender = true;
        c.n_keys = 1;
        c.keys[0].suite = REC_SUITE_AES_CM_128_HMAC_SHA1_80;
        memcpy(c.keys[0].master, s[k].master, 30);
        c.keys[0].master_len = 30;
        if (rec_srtp_create(&s[k].tx, &c) != SR_OK)
            return false;
        s[k].ssrc = sender_ssrc[k];
        s[k].seq = (uint16_t)(100 * k);
        s[k].ts = 1000;
    }
    return true;
}

static void senders_fini(struct sender *s)
{
    for (unsigned k = 0; k < N_SENDERS; k++)
        rec_srtp_destroy(s[k].tx);
}

static struct rec_flow source_of(unsigned i)
{
    struct rec_flow f;

    i %= N_SOURCES;
    memset(&f, 0, sizeof(f));
    f.addr[10] = 0xff;
    f.addr[11] = 0xff;
    f.addr[12] = 10;
    f.addr[15] = (uint8_t)(1 + i / 2); /* two ports per address: RTP and RTP + 1 */
    f.port = (uint16_t)(4000 + i % 2);
    return f;
}

/* Where source i's datagrams are sent: a port of its own (SIPREC session
 * ports), so plain bindings (op 3, state bit 0x40) can scope to it. */
static struct rec_flow dest_of(unsigned i)
{
    struct rec_flow f;

    memset(&f, 0, sizeof(f));
    f.addr[10] = 0xff;
    f.addr[11] = 0xff;
    f.addr[12] = 127;
    f.addr[15] = 1;
    f.port = (uint16_t)(41000 + i % N_SOURCES);
    return f;
}

static void source_str(unsigned i, char *out, size_t cap)
{
    struct rec_flow f = source_of(i);
    snprintf(out, cap, "10.0.0.%u:%u", (unsigned)f.addr[15], (unsigned)f.port);
}

/* ------------------------------------------------------------ the state */

struct fz {
    struct world w;
    struct sender snd[N_SENDERS];
    struct rec_eng_cfg cfg;
    struct rec_eng *e;
    struct rec_eng_stats last;
};

static void datagram(struct fz *z, uint8_t *pkt, size_t len, unsigned src)
{
    struct rec_eng_pkt p;

    memset(&p, 0, sizeof(p));
    p.data = pkt;
    p.len = len;
    p.src = source_of(src);
    p.dst = dest_of(src);
    p.arrival_wall_us = z->w.wall;
    rec_eng_packet(z->e, &p);
}

static void op_srtp(struct fz *z, struct in *in, bool rtcp)
{
    struct sender *s = &z->snd[in_u8(in) % N_SENDERS];
    unsigned src = in_u8(in);
    uint8_t flip = rtcp ? 0 : in_u8(in);
    uint8_t pkt[256];
    size_t len;
    enum sr_err err;

    memset(pkt, 0, sizeof(pkt));
    if (rtcp) {
        /* A sender report (RFC 3550 6.4.1) without report blocks. */
        pkt[0] = 0x80;
        pkt[1] = 200;
        pkt[3] = 6;
        pkt[4] = (uint8_t)(s->ssrc >> 24);
        pkt[5] = (uint8_t)(s->ssrc >> 16);
        pkt[6] = (uint8_t)(s->ssrc >> 8);
        pkt[7] = (uint8_t)s->ssrc;
        len = 28;
        err = rec_srtp_protect_rtcp(s->tx, pkt, &len, sizeof(pkt));
    } else {
        pkt[0] = 0x80;
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
        for (size_t i = 12; i < 12 + 160; i++)
            pkt[i] = (uint8_t)(s->seq ^ i);
        len = 12 + 160;
        err = rec_srtp_protect(s->tx, pkt, &len, sizeof(pkt));
        s->seq++;
        s->ts += 160;
    }
    if (err != SR_OK)
        return;
    if (flip && flip - 1u < len)
        pkt[flip - 1u] ^= 0xff;
    datagram(z, pkt, len, src);
}

static void op_raw(struct fz *z, struct in *in)
{
    uint8_t pkt[256] = { 0 };
    unsigned src = in_u8(in);
    size_t len = in_u8(in);

    size_t take = len < in->n ? len : in->n;

    /* One copy, not a byte loop: gcc -O3 vectorised the loop into a false
     * stringop-overflow (an error with -Werror).  Bytes past the input stay 0,
     * as in_u8 would give them. */
    memcpy(pkt, in->p, take);
    in->p += take;
    in->n -= take;
    datagram(z, pkt, len, src);
}

static void note_disclosed(struct fz *z, uint32_t ssrc)
{
    for (size_t i = 0; i < z->w.n_disclosed; i++)
        if (z->w.disclosed[i] == ssrc)
            return;
    if (z->w.n_disclosed < MAX_DISCLOSED)
        z->w.disclosed[z->w.n_disclosed++] = ssrc;
}

static void keybody_apply(struct fz *z, const char *source, const struct sipev_keybody *kb)
{
    for (size_t i = 0; i < kb->n_dialogs; i++)
        for (size_t j = 0; j < kb->dialogs[i].n_streams; j++)
            if (kb->dialogs[i].streams[j].ssrc_known)
                note_disclosed(z, kb->dialogs[i].streams[j].ssrc);
    rec_eng_keybody(z->e, source, kb);
}

/* Op 3: source(1) flags(1) [call(1) state(1) n_streams(1) {stream}*]
 * flags: bit 0 full, bits 1-2 dialogs (0..3); per stream 4 bytes:
 * key(1: sender, or +4 a wrong key), ssrc mode(1: 0 none, 1 the sender's,
 * 2 false, 3 another sender's), src(1: 0 none, else source-1), state(1: bits
 * 0-1 state, 0x10 id, 0x20 direction, 0x40 plain: no keys, dst = source
 * src-1's destination, no src: a SIPREC RTP/AVP leg). */
static void op_keybody(struct fz *z, struct in *in)
{
    static const char *const sources[] = { "ka1", "ka2", "unmatched" };
    const char *source = sources[in_u8(in) % 3];
    uint8_t flags = in_u8(in);
    struct sipev_keybody kb;

    sipev_keybody_init(&kb);
    kb.full = flags & 1u;
    for (unsigned i = 0; i < ((flags >> 1) & 3u); i++) {
        struct sipev_dialog *d;
        uint8_t call = in_u8(in), state = in_u8(in), n = in_u8(in) % 4;

        if (sipev_keybody_add_dialog(&kb, &d) != SR_OK)
            break;
        snprintf(d->call_id, sizeof(d->call_id), "call-%u", call % 8u);
        snprintf(d->local_aor, sizeof(d->local_aor), "sip:a@example.com");
        snprintf(d->remote_aor, sizeof(d->remote_aor), "sip:b@example.com");
        d->state = state & 1u ? SIPEV_DIALOG_ENDED : SIPEV_DIALOG_ACTIVE;
        for (unsigned j = 0; j < n; j++) {
            struct sipev_stream *st = &d->streams[d->n_streams++];
            uint8_t key = in_u8(in), mode = in_u8(in) % 4, src = in_u8(in), sst = in_u8(in);
            unsigned k = key % N_SENDERS;

            snprintf(st->id, sizeof(st->id), "s-%u", j + (sst & 0x10u ? 4u : 0u));
            snprintf(st->codec, sizeof(st->codec), "PCMU");
            snprintf(st->media, sizeof(st->media), "audio");
            st->clock_rate = 8000;
            st->direction = sst & 0x20u ? SIPEV_DIR_RECV : SIPEV_DIR_SEND;
            st->ssrc_known = mode != 0;
            st->ssrc = mode == 1 ? sender_ssrc[k]
                     : mode == 2 ? 0x7000u + key
                                 : sender_ssrc[(k + 1) % N_SENDERS];
            if (sst & 0x40u) {
                struct rec_flow dd = dest_of(src ? (unsigned)src - 1u : 0u);
                st->plain = true;
                snprintf(st->dst, sizeof(st->dst), "127.0.0.1:%u", (unsigned)dd.port);
                st->state = (enum sipev_stream_state)((sst & 3u) % 3u);
                continue;
            }
            if (src)
                source_str((unsigned)src - 1u, st->src, sizeof(st->src));
            st->n_keys = 1;
            st->keys[0].suite = SIPEV_SUITE_AES_CM_128_HMAC_SHA1_80;
            st->keys[0].master_len = 30;
            master_of(key & 4u ? k + 8u : k, st->keys[0].master);
            st->roc = 0;
            st->roc_unknown = (sst & 0x40u) != 0; /* the ROC search */
            st->seq = (uint16_t)(100 * k);
            st->state = (enum sipev_stream_state)((sst & 3u) % 3u);
        }
    }
    keybody_apply(z, source, &kb);
    sipev_keybody_fini(&kb);
}

static void op_xml(struct fz *z, struct in *in)
{
    const char *source = in_u8(in) & 1u ? "ka2" : "ka1";
    size_t len = in_u16(in) % 4096u;
    struct sipev_keybody kb;
    const char *why = NULL;
    char *text;

    if (len > in->n)
        len = in->n;
    text = malloc(len + 1);
    if (!text)
        return;
    memcpy(text, in->p, len);
    in->p += len;
    in->n -= len;
    sipev_keybody_init(&kb);
    if (sipev_keybody_parse(text, len, &kb, &why) == SR_OK)
        keybody_apply(z, source, &kb);
    sipev_keybody_fini(&kb);
    free(text);
}

static void advance(struct fz *z, unsigned ms)
{
    for (unsigned t = 0; t < ms; t += 10) {
        z->w.mono += 10000;
        z->w.wall += 10000;
        rec_eng_tick(z->e, z->w.mono);
    }
}

static void stats_print(const char *what, const struct rec_eng_stats *st, size_t n_arch)
{
    fprintf(stderr, "%s: rx %llu recorded %llu rtcp %llu kept %llu held %llu held_now %llu "
            "auth %llu replay %llu malformed %llu overload %llu storage %llu unauthorised %llu "
            "trial %llu unbound_full %llu source_full %llu budget %llu paused %llu "
            "calls_kept %llu rekeys %llu ssrc_changes %llu reaped %llu archives %zu\n",
            what, (unsigned long long)st->rx, (unsigned long long)st->recorded,
            (unsigned long long)st->rtcp, (unsigned long long)st->encrypted_kept,
            (unsigned long long)st->held, (unsigned long long)st->held_now,
            (unsigned long long)st->auth_fail, (unsigned long long)st->replay,
            (unsigned long long)st->malformed, (unsigned long long)st->no_stream_slot,
            (unsigned long long)st->storage_err, (unsigned long long)st->unauthorised,
            (unsigned long long)st->trial_bound, (unsigned long long)st->unbound_full,
            (unsigned long long)st->source_full, (unsigned long long)st->unmatched_budget,
            (unsigned long long)st->paused, (unsigned long long)st->calls_kept,
            (unsigned long long)st->rekeys, (unsigned long long)st->ssrc_changes,
            (unsigned long long)st->reaped, n_arch);
}

static uint64_t accounted(const struct rec_eng_stats *st)
{
    return st->recorded + st->rtcp + st->encrypted_kept + st->auth_fail + st->replay +
           st->malformed + st->no_stream_slot + st->storage_err + st->unauthorised +
           st->unbound_full + st->source_full + st->unmatched_budget + st->paused + st->duplicates;
}

static void check(struct fz *z)
{
    struct rec_eng_stats st;
    const uint64_t *now = (const uint64_t *)&st, *was = (const uint64_t *)&z->last;

    rec_eng_stats(z->e, &st);
    for (size_t i = 0; i < REC_ENG_FIRST_GAUGE / sizeof(uint64_t); i++)
        if (now[i] < was[i])
            fail("a counter went down");
    if (st.unbound_now > z->cfg.max_unbound + z->w.n_disclosed * N_SOURCES)
        fail("more unbound streams than the cap lets through");
    if (st.held_now > z->cfg.max_held_packets)
        fail("more held packets than max-held-packets");
    if (accounted(&st) + st.held_now != st.rx) {
        stats_print("now", &st, z->w.n_arch);
        fail("received != recorded + kept + drops + held");
    }
    z->last = st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int initialised; /* libFuzzer calls us in one process, forever */
    struct fz z;
    struct in in = { data, size };
    struct rec_eng_stats fin;

    if (!initialised) {
        /* The engine's flood and binding notices would be most of the run. */
        log_setup(LOG_LVL_ERR, "fuzz_engine", 0);
        if (rec_srtp_lib_init(true, NULL) != SR_OK)
            abort();
        initialised = 1;
    }

    memset(&z, 0, sizeof(z));
    z.w.mono = 1000000000ull;
    z.w.wall = 1700000000000000ull;
    if (!senders_init(z.snd))
        abort();
    z.cfg.ops = &fops;
    z.cfg.ops_arg = &z.w;
    z.cfg.clock = (struct rec_eng_clock){ w_mono, w_wall, &z.w };
    z.cfg.key_wait_ms = 500;
    z.cfg.call_linger_ms = 300;
    z.cfg.tick_ms = 50;
    z.cfg.max_streams = 64;
    z.cfg.max_unbound = MAX_UNBOUND;
    z.cfg.max_unbound_per_source = 6;
    z.cfg.max_held_packets = MAX_HELD;
    z.cfg.max_held_bytes = 64 * 1024;
    z.cfg.max_held_per_stream = 16;
    z.cfg.unmatched_streams_per_min = 12;
    z.cfg.max_calls_per_source = 6;
    z.cfg.max_streams_per_source = 24;
    z.cfg.opens_per_source_per_s = 4;
    if (rec_eng_create(&z.e, &z.cfg) != SR_OK)
        abort();
    rec_eng_set_authorised(z.e, true);
    for (unsigned n = 0; in.n && n < MAX_OPS; n++) {
        switch (in_u8(&in) % 8) {
        case 0: op_raw(&z, &in); break;
        case 1: op_srtp(&z, &in, false); break;
        case 2: op_srtp(&z, &in, true); break;
        case 3: op_keybody(&z, &in); break;
        case 4: op_xml(&z, &in); break;
        case 5: advance(&z, in_u16(&in) % 5000u); break;
        case 6: rec_eng_tick(z.e, z.w.mono); break;
        default: rec_eng_set_authorised(z.e, in_u8(&in) & 1u); break;
        }
        check(&z);
    }
    memset(&fin, 0, sizeof(fin));
    rec_eng_destroy(z.e, &fin);
    /* Destroying keeps every held packet encrypted: nothing is left over. */
    if (getenv("FUZZ_ENGINE_STATS")) /* what a corpus file reaches */
        stats_print("final", &fin, z.w.n_arch);
    if (CHECK_DESTROY_ACCOUNTING && fin.rx != accounted(&fin)) {
        stats_print("final", &fin, z.w.n_arch);
        stats_print("before destroy", &z.last, z.w.n_arch);
        fail("at destroy: received != recorded + kept + drops");
    }
    for (size_t i = 0; i < z.w.n_arch; i++)
        if (z.w.a[i].refs != 0)
            fail("an archive the engine never released");
    senders_fini(z.snd);
    return 0;
}
