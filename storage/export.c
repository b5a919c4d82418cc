/** @file export.c  Decrypted exports: the Ogg plaintext, G.711 and Opus to a stereo, mixed or
 *  one-stream WAV, the waveform's peaks, Ogg Opus.
 *
 * WAV export reads the archive twice: the first pass places every stream on
 * its channel's timeline and fixes the length for the RIFF sizes; the second
 * decodes into a bounded window that is written out as it slides, so memory
 * does not grow with the call.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ogg/ogg.h>
#include <opus.h>

#include "log.h"
#include "stor_priv.h"
#include "util.h"

enum {
    G711_RATE = 8000,
    OPUS_RATE = 48000,        /* RFC 7587: the Opus RTP clock, whatever the audio band */
    OPUS_PRESKIP = 312,       /* 6.5 ms at 48 kHz, what libopus asks for: the first samples a
                                 decoder gives after joining a stream mid-way are its warm-up */
    OPUS_MAX_FRAME = 5760,    /* 120 ms at 48 kHz, the longest Opus packet (RFC 6716) */
    OPUS_PLC_MAX = 4800,      /* 100 ms at 48 kHz: longer gaps (DTX, hold) stay silence */
    OUT_FRAMES = 2048,        /* frames per write to the sink */
    WINDOW_8K = 64 * OUT_FRAMES, /* ~16 s held for packets late in file order; scaled with the
                                    rate, a multiple of OUT_FRAMES so that every write but the
                                    last is whole */
    MAX_SECONDS = 86400,      /* 24 h keeps the RIFF sizes far below 4 GiB */
    PCM_BUF = 8192,           /* decoded frames handed on at once (>= OPUS_MAX_FRAME) */
    WAV_HDR = 44,
};

/* ITU-T G.711 expansion to 16-bit linear (the 14/13-bit code points scaled
 * to 16 bits, as in the reference implementation's ulaw2linear/alaw2linear). */
static int16_t ulaw_decode(uint8_t u)
{
    int t;

    u = (uint8_t)~u;
    t = ((u & 0x0f) << 3) + 0x84;
    t <<= (u & 0x70) >> 4;
    return (int16_t)((u & 0x80) ? 0x84 - t : t - 0x84);
}

static int16_t alaw_decode(uint8_t a)
{
    int t, seg;

    a ^= 0x55;
    t = (a & 0x0f) << 4;
    seg = (a & 0x70) >> 4;
    if (seg == 0)
        t += 8;
    else if (seg == 1)
        t += 0x108;
    else
        t = (t + 0x108) << (seg - 1);
    return (int16_t)((a & 0x80) ? t : -t);
}

/* Samples at 48 kHz in one Opus packet, from its TOC (RFC 6716 section 3.1);
 * 0 when malformed. */
static unsigned opus_samples(const uint8_t *p, size_t len)
{
    static const unsigned silk[4] = { 480, 960, 1920, 2880 };
    static const unsigned celt[4] = { 120, 240, 480, 960 };
    unsigned config, frame, count;

    if (len < 1)
        return 0;
    config = p[0] >> 3;
    frame = config < 12 ? silk[config & 3] : config < 16 ? (config & 1 ? 960 : 480)
                                                         : celt[config & 3];
    switch (p[0] & 3) {
    case 0: count = 1; break;
    case 1:
    case 2: count = 2; break;
    default:
        if (len < 2)
            return 0;
        count = p[1] & 0x3f;
        break;
    }
    /* RFC 6716: at most 120 ms per packet. */
    return count && frame * count <= OPUS_MAX_FRAME ? frame * count : 0;
}

/* ------------------------------------------------------- decoded timeline */

/* WAV export and the waveform share one decoder: two passes over the
 * archive, the first placing every stream on the call's timeline (by the
 * arrival of its first packet, then by RTP timestamp) and fixing the
 * length, the second decoding each packet to 16-bit PCM at the output rate
 * and handing it on, to the sliding WAV window or to the peak buckets.
 *
 * The output rate: 8 kHz when every stream is G.711; 48 kHz as soon as one
 * Opus stream has audio (Opus is decoded at its full band; G.711 in such a
 * call is repeated sample by sample, which keeps every stream's timing
 * exact).  The waveform asks for 8 kHz: libopus then decodes at 8 kHz and
 * the buckets see a sixth of the samples (the decoding itself costs nearly
 * as much: docs/benchmarks.md, "Opus export and waveform"). */
enum xcodec { XC_NONE, XC_PCMU, XC_PCMA, XC_OPUS };

struct xstream {
    enum xcodec codec;
    struct stor_stream_info info;
    unsigned clock;   /* RTP clock: 8000 (G.711) or 48000 (Opus) */
    bool have_first;
    uint64_t first_arrival, first_ts;
    uint64_t span;    /* RTP units from the first packet's timestamp to the end of the last */
    uint64_t offset;  /* the first packet's frame on the output timeline */
    OpusDecoder *dec; /* Opus: created at the first packet of pass 2 */
    bool dec_live;    /* dec has decoded a packet: next_ts is its continuation */
    uint64_t next_ts; /* Opus: where the last decoded packet ended */
};

struct wav {
    stor_write_fn *out;
    void *arg;
    struct xstream *xs;
    size_t n_xs;
    unsigned rate;     /* output Hz; 0 until pass 1 chooses (the waveform fixes it) */
    uint64_t total;    /* frames */
    unsigned channels; /* 2: send left, recv right; 1: the one stream `only`, or all mixed */
    bool one;
    unsigned only;
    int16_t *win;      /* win_frames frames, channels interleaved */
    uint64_t win_frames, win_start;
    uint64_t late;     /* samples dropped: behind the window, or behind an Opus decoder */
    uint16_t *peaks;   /* waveform: points per stream, max |sample|; NULL for WAV */
    unsigned points;
    int16_t lut[2][256]; /* G.711 expansion: [0] mu-law, [1] A-law */
    int16_t pcm[PCM_BUF];
    uint8_t obuf[OUT_FRAMES * 4];
};

static enum sr_err xs_sync(struct wav *wv, const struct stor_reader *r)
{
    size_t n = stor_reader_n_streams(r);
    struct xstream *nx;

    if (n <= wv->n_xs)
        return SR_OK;
    nx = realloc(wv->xs, n * sizeof(*nx));
    if (!nx)
        return SR_ENOMEM;
    for (size_t i = wv->n_xs; i < n; i++) {
        const struct stor_stream_info *si = stor_reader_stream(r, i);
        memset(&nx[i], 0, sizeof(*nx));
        nx[i].info = *si;
        nx[i].clock = si->clock_rate;
        if (si->clock_rate == G711_RATE && strcmp(si->codec, "PCMU") == 0)
            nx[i].codec = XC_PCMU;
        else if (si->clock_rate == G711_RATE && strcmp(si->codec, "PCMA") == 0)
            nx[i].codec = XC_PCMA;
        else if (si->clock_rate == OPUS_RATE && strcasecmp(si->codec, "opus") == 0)
            nx[i].codec = XC_OPUS;
    }
    wv->xs = nx;
    wv->n_xs = n;
    return SR_OK;
}

static bool pkt_usable(const struct wav *wv, unsigned idx, const struct stor_pkt *p)
{
    return idx < wv->n_xs && wv->xs[idx].codec != XC_NONE && (!wv->one || idx == wv->only) &&
           !(p->flags & STOR_PKT_ENCRYPTED) && p->payload_len > 0;
}

/* RTP units one packet lasts; 0: nothing to decode. */
static unsigned pkt_duration(const struct xstream *x, const struct stor_pkt *p)
{
    if (x->codec == XC_OPUS)
        return opus_samples(p->payload, p->payload_len);
    return p->payload_len > UINT16_MAX ? 0 : (unsigned)p->payload_len;
}

/* RTP units of stream x as frames at the output rate (both clocks divide it
 * or are divided by it: 8 or 48 kHz each). */
static uint64_t to_frames(const struct wav *wv, const struct xstream *x, uint64_t units)
{
    return units * wv->rate / x->clock;
}

static enum sr_err pass1(struct wav *wv, struct stor_reader *r, const char **why)
{
    uint64_t origin = UINT64_MAX;
    bool opus = false;
    struct stor_pkt p;
    unsigned idx;
    enum sr_err err;

    while ((err = stor_reader_next(r, &idx, &p, why)) == SR_OK) {
        struct xstream *x;
        unsigned d;
        if ((err = xs_sync(wv, r)))
            return err;
        if (!pkt_usable(wv, idx, &p))
            continue;
        x = &wv->xs[idx];
        if (!(d = pkt_duration(x, &p)))
            continue;
        if (!x->have_first) {
            x->have_first = true;
            x->first_arrival = p.arrival_wall_us;
            x->first_ts = p.ext_ts;
        }
        if (p.ext_ts >= x->first_ts && p.ext_ts - x->first_ts < (uint64_t)MAX_SECONDS * x->clock &&
            p.ext_ts - x->first_ts + d > x->span)
            x->span = p.ext_ts - x->first_ts + d;
    }
    if (err != SR_ECLOSED)
        return err;
    if ((err = xs_sync(wv, r)))
        return err;
    if (wv->one && wv->only >= wv->n_xs) {
        *why = "no such stream";
        return SR_ENOTFOUND;
    }
    if (wv->one && wv->xs[wv->only].codec == XC_NONE) {
        *why = "stream is neither G.711 (PCMU/PCMA) at 8 kHz nor Opus at 48 kHz";
        return SR_EUNSUPP;
    }
    for (size_t i = 0; i < wv->n_xs; i++) {
        if (!wv->xs[i].have_first)
            continue;
        opus |= wv->xs[i].codec == XC_OPUS;
        if (wv->xs[i].first_arrival < origin)
            origin = wv->xs[i].first_arrival;
    }
    if (!wv->rate)
        wv->rate = opus ? OPUS_RATE : G711_RATE;
    wv->total = 0;
    for (size_t i = 0; i < wv->n_xs; i++) {
        struct xstream *x = &wv->xs[i];
        const unsigned align = wv->rate / 50; /* 20 ms: streams started together line up */
        uint64_t d, frames;
        if (!x->have_first)
            continue;
        d = x->first_arrival - origin;
        if (d > (uint64_t)MAX_SECONDS * 1000000)
            d = (uint64_t)MAX_SECONDS * 1000000;
        frames = (d * wv->rate + 500000) / 1000000;
        x->offset = (frames + align / 2) / align * align;
        frames = to_frames(wv, x, x->span);
        if (x->codec == XC_OPUS) /* its decoder's warm-up is not played (decode()) */
            frames -= frames < to_frames(wv, x, OPUS_PRESKIP) ? frames : to_frames(wv, x, OPUS_PRESKIP);
        if (x->offset + frames > wv->total)
            wv->total = x->offset + frames;
    }
    if (wv->total > (uint64_t)MAX_SECONDS * wv->rate) {
        *why = "export longer than 24 hours (timestamp jump?)";
        return SR_ELIMIT;
    }
    return SR_OK;
}

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put_le32(uint8_t *p, uint32_t v)
{
    put_le16(p, (uint16_t)v);
    put_le16(p + 2, (uint16_t)(v >> 16));
}

static enum sr_err wav_header(struct wav *wv)
{
    uint8_t h[WAV_HDR];
    uint32_t data = (uint32_t)(wv->total * 2 * wv->channels);

    memcpy(h, "RIFF", 4);
    put_le32(h + 4, 36 + data);
    memcpy(h + 8, "WAVEfmt ", 8);
    put_le32(h + 16, 16);
    put_le16(h + 20, 1); /* PCM */
    put_le16(h + 22, (uint16_t)wv->channels);
    put_le32(h + 24, wv->rate);
    put_le32(h + 28, wv->rate * 2 * wv->channels);
    put_le16(h + 32, (uint16_t)(2 * wv->channels));
    put_le16(h + 34, 16);
    memcpy(h + 36, "data", 4);
    put_le32(h + 40, data);
    return wv->out(h, sizeof(h), wv->arg) ? SR_OK : SR_EIO;
}

/* Write frames [win_start, upto) and free their window slots, in pieces of
 * at most OUT_FRAMES that never wrap around the window. */
static enum sr_err slide(struct wav *wv, uint64_t upto)
{
    if (upto > wv->total)
        upto = wv->total;
    while (wv->win_start < upto) {
        size_t at = (size_t)(wv->win_start % wv->win_frames), n = OUT_FRAMES, ch = wv->channels;
        int16_t *f = &wv->win[at * ch];
        if (n > upto - wv->win_start)
            n = (size_t)(upto - wv->win_start);
        if (n > wv->win_frames - at)
            n = (size_t)(wv->win_frames - at);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(wv->obuf, f, n * 2 * ch); /* WAV samples are little-endian int16 */
#else
        for (size_t i = 0; i < ch * n; i++)
            put_le16(wv->obuf + i * 2, (uint16_t)f[i]);
#endif
        memset(f, 0, n * ch * sizeof(*f));
        wv->win_start += n;
        if (!wv->out(wv->obuf, n * 2 * ch, wv->arg))
            return SR_EIO;
    }
    return SR_OK;
}

static int16_t sat_add(int16_t a, int16_t b)
{
    int s = a + b;
    return (int16_t)(s > INT16_MAX ? INT16_MAX : s < INT16_MIN ? INT16_MIN : s);
}

/* Decoded frames handed on: 16-bit PCM, or G.711 codes and their expansion
 * table (expanded as they are summed: a copy through a PCM buffer cost a
 * quarter of a G.711 export's CPU time). */
struct frames {
    const int16_t *pcm;
    const uint8_t *codes;
    const int16_t *lut;
    size_t n;
};

static int16_t frame_at(const struct frames *in, size_t i)
{
    return in->codes ? in->lut[in->codes[i]] : in->pcm[i];
}

/* Add the frames at frame pos of channel ch into the window: summed with
 * what the channel already holds there, clipped. */
static enum sr_err mix(struct wav *wv, unsigned ch, uint64_t pos, const struct frames *in)
{
    unsigned nch = wv->channels;
    uint64_t end = pos + in->n, k = 0, f;
    enum sr_err err;

    if (end > wv->total)
        end = wv->total;
    if (pos >= end)
        return SR_OK;
    /* Bounds once per packet, not per sample.  Slide by OUT_FRAMES at
     * least: sliding by the one frame needed handed the sink 4 bytes per
     * sample once the window was full (a write(2) per sample behind a pipe). */
    if (end > wv->win_start + wv->win_frames &&
        (err = slide(wv, (end - wv->win_frames + OUT_FRAMES - 1) / OUT_FRAMES * OUT_FRAMES)))
        return err;
    if (pos < wv->win_start) {
        k = wv->win_start - pos < end - pos ? wv->win_start - pos : end - pos;
        wv->late += k; /* behind the window: already written out */
    }
    f = pos + k;
    /* At most two runs: up to the window's end, then from its start. */
    while (f < end) {
        size_t slot = (size_t)(f % wv->win_frames), m = (size_t)(end - f);
        int16_t *s = &wv->win[slot * nch + ch];
        if (m > wv->win_frames - slot)
            m = (size_t)(wv->win_frames - slot);
        if (in->codes)
            for (size_t i = 0; i < m; i++)
                s[nch * i] = sat_add(s[nch * i], in->lut[in->codes[k + i]]);
        else
            for (size_t i = 0; i < m; i++)
                s[nch * i] = sat_add(s[nch * i], in->pcm[k + i]);
        f += m;
        k += m;
    }
    return SR_OK;
}

/* Keep each bucket's largest magnitude: bucket b covers frames
 * [b * total / points, (b + 1) * total / points). */
static void peak(struct wav *wv, unsigned idx, uint64_t pos, const struct frames *in)
{
    uint16_t *pk = wv->peaks + (size_t)idx * wv->points;

    for (size_t i = 0; i < in->n && pos + i < wv->total; i++) {
        size_t b = (size_t)((pos + i) * wv->points / wv->total);
        int v = frame_at(in, i);
        v = v < 0 ? -v : v;
        if (v > INT16_MAX)
            v = INT16_MAX;
        if (v > pk[b])
            pk[b] = (uint16_t)v;
    }
}

/* Decoded frames of stream idx starting at frame at of the output timeline
 * (negative: the start falls before it and is dropped). */
static enum sr_err emit(struct wav *wv, const struct stor_reader *r, unsigned idx, int64_t at,
                        struct frames in)
{
    unsigned ch;

    if (at < 0) {
        size_t cut = (size_t)-at;
        if (cut >= in.n)
            return SR_OK;
        if (in.codes)
            in.codes += cut;
        else
            in.pcm += cut;
        in.n -= cut;
        at = 0;
    }
    if (wv->peaks) {
        peak(wv, idx, (uint64_t)at, &in);
        return SR_OK;
    }
    ch = wv->channels == 1 || stor_reader_stream(r, idx)->direction == STOR_DIR_SEND ? 0 : 1;
    return mix(wv, ch, (uint64_t)at, &in);
}

static enum sr_err g711_packet(struct wav *wv, const struct stor_reader *r, unsigned idx,
                               int64_t at, const struct stor_pkt *p)
{
    const int16_t *lut = wv->lut[wv->xs[idx].codec == XC_PCMA];
    const size_t rep = wv->rate / G711_RATE, per = PCM_BUF / rep;
    enum sr_err err;

    if (rep == 1) /* an all-G.711 call: expanded as it is summed */
        return emit(wv, r, idx, at,
                    (struct frames){ .codes = p->payload, .lut = lut, .n = p->payload_len });
    for (size_t i = 0; i < p->payload_len; i += per) {
        size_t m = p->payload_len - i < per ? p->payload_len - i : per;
        for (size_t j = 0; j < m; j++)
            for (size_t k = 0; k < rep; k++)
                wv->pcm[j * rep + k] = lut[p->payload[i + j]];
        if ((err = emit(wv, r, idx, at + (int64_t)(i * rep),
                        (struct frames){ .pcm = wv->pcm, .n = m * rep })))
            return err;
    }
    return SR_OK;
}

/* Opus is decoded in timestamp order by a decoder with state: a gap up to
 * OPUS_PLC_MAX is concealed by libopus (the next packet's FEC for its last
 * packet's worth, PLC before it), a longer one stays silence;
 * a packet behind what was decoded (duplicate, or late in file order) is
 * dropped, as the decoder cannot go back.  The first OPUS_PRESKIP samples
 * of the stream are the decoder's warm-up: the stream starts after them,
 * as in the Ogg Opus export, so both give the same samples. */
static enum sr_err opus_decode_packet(struct wav *wv, const struct stor_reader *r, unsigned idx,
                               int64_t base, const struct stor_pkt *p)
{
    struct xstream *x = &wv->xs[idx];
    const int max = (int)(OPUS_MAX_FRAME * (uint64_t)wv->rate / OPUS_RATE),
              quantum = (int)(wv->rate / 400); /* 2.5 ms, the PLC's granularity */
    unsigned n48 = opus_samples(p->payload, p->payload_len);
    enum sr_err err;
    int n;

    if (!n48)
        return SR_OK;
    if (!x->dec) {
        int e;
        x->dec = opus_decoder_create((opus_int32)wv->rate, 1, &e); /* stereo Opus is downmixed */
        if (!x->dec)
            return e == OPUS_ALLOC_FAIL ? SR_ENOMEM : SR_EINVAL;
    }
    if (x->dec_live && p->ext_ts < x->next_ts) {
        wv->late += to_frames(wv, x, n48);
        return SR_OK;
    }
    if (x->dec_live && p->ext_ts - x->next_ts <= OPUS_PLC_MAX) {
        uint64_t left = to_frames(wv, x, p->ext_ts - x->next_ts) / (unsigned)quantum * (unsigned)quantum,
                 at = to_frames(wv, x, x->next_ts - x->first_ts),
                 fec = left < to_frames(wv, x, n48) ? left : to_frames(wv, x, n48);
        /* The last lost packet's worth from this packet's in-band FEC
         * (LBRR, RFC 6716 section 4.2.4): libopus conceals instead when the
         * packet carries none.  What is before it: PLC. */
        while (left > 0) {
            bool from_fec = left <= fec;
            int m = left < (uint64_t)max ? (int)left : max;
            if (!from_fec && (uint64_t)m > left - fec)
                m = (int)(left - fec);
            if ((n = from_fec ? opus_decode(x->dec, p->payload, (opus_int32)p->payload_len, wv->pcm,
                                            m, 1)
                              : opus_decode(x->dec, NULL, 0, wv->pcm, m, 0)) <= 0)
                break;
            if ((err = emit(wv, r, idx, base + (int64_t)at,
                            (struct frames){ .pcm = wv->pcm, .n = (size_t)n })))
                return err;
            at += (unsigned)n;
            left -= (unsigned)n < left ? (unsigned)n : left;
        }
    }
    n = opus_decode(x->dec, p->payload, (opus_int32)p->payload_len, wv->pcm, max, 0);
    if (n <= 0)
        return SR_OK; /* corrupt: the next packet conceals it */
    x->dec_live = true;
    x->next_ts = p->ext_ts + n48;
    return emit(wv, r, idx, base + (int64_t)to_frames(wv, x, p->ext_ts - x->first_ts),
                (struct frames){ .pcm = wv->pcm, .n = (size_t)n });
}

static enum sr_err decode(struct wav *wv, const struct stor_reader *r, unsigned idx,
                          const struct stor_pkt *p)
{
    const struct xstream *x = &wv->xs[idx];
    int64_t base;

    if (!x->have_first || p->ext_ts < x->first_ts ||
        p->ext_ts - x->first_ts >= (uint64_t)MAX_SECONDS * x->clock)
        return SR_OK;
    base = (int64_t)x->offset;
    if (x->codec == XC_OPUS)
        return opus_decode_packet(wv, r, idx, base - (int64_t)to_frames(wv, x, OPUS_PRESKIP), p);
    return g711_packet(wv, r, idx, base + (int64_t)to_frames(wv, x, p->ext_ts - x->first_ts), p);
}

static enum sr_err pass2(struct wav *wv, struct stor_reader *r, const char **why)
{
    struct stor_pkt p;
    unsigned idx;
    enum sr_err err;

    if (!wv->peaks && (err = wav_header(wv)))
        return err;
    while ((err = stor_reader_next(r, &idx, &p, why)) == SR_OK)
        if (pkt_usable(wv, idx, &p) && (err = decode(wv, r, idx, &p)))
            return err;
    if (err != SR_ECLOSED)
        return err;
    if (wv->late)
        log_debug("decode: %llu samples behind the reorder window or an Opus decoder dropped",
                  (unsigned long long)wv->late);
    return wv->peaks ? SR_OK : slide(wv, wv->total);
}

static const char *why_static(enum sr_err err, const char *why, const struct stor_reader *r)
{
    /* Reader-made reasons die with the reader; these outlive it. */
    if (!r || !why)
        return why;
    switch (err) {
    case SR_EAUTH: return "a chunk failed authentication (tampered, reordered or wrong key)";
    case SR_EPARSE: return "archive truncated or malformed (run verify for details)";
    case SR_EIO: return "output aborted";
    case SR_ELIMIT: return "export longer than 24 hours (timestamp jump?) or too many streams";
    case SR_ENOTFOUND: /* only the exports' own literals: no such stream, wrong codec */
    case SR_EUNSUPP: return why;
    default: return sr_strerror(err);
    }
}

static void wav_free(struct wav *wv)
{
    if (!wv)
        return;
    if (wv->win)
        sr_wipe(wv->win, (size_t)wv->win_frames * wv->channels * sizeof(*wv->win));
    sr_wipe(wv->obuf, sizeof(wv->obuf));
    sr_wipe(wv->pcm, sizeof(wv->pcm));
    for (size_t i = 0; i < wv->n_xs; i++)
        opus_decoder_destroy(wv->xs[i].dec);
    free(wv->win);
    free(wv->peaks);
    free(wv->xs);
    free(wv);
}

/* Both passes over the archive at path; the window or the buckets are
 * allocated once pass 1 knows the rate and the streams. */
static enum sr_err run(struct wav *wv, const char *path, const char *cert_file,
                       const char *key_file, const char **why)
{
    struct stor_reader *r = NULL;
    const char *w = NULL;
    enum sr_err err;

    *why = NULL;
    for (unsigned i = 0; i < 256; i++) {
        wv->lut[0][i] = ulaw_decode((uint8_t)i);
        wv->lut[1][i] = alaw_decode((uint8_t)i);
    }
    if ((err = stor_reader_open(&r, path, cert_file, key_file, &w)))
        goto out;
    /* Pass 1 only measures; pass 2 runs every check on the same
     * authenticated bytes before the export counts as good. */
    stor_reader_first_pass(r);
    if ((err = pass1(wv, r, &w)))
        goto out;
    stor_reader_close(r);
    r = NULL;
    if (wv->points) {
        wv->peaks = calloc(wv->n_xs ? wv->n_xs * wv->points : 1, sizeof(*wv->peaks));
        err = wv->peaks ? SR_OK : SR_ENOMEM;
    } else {
        wv->win_frames = (uint64_t)WINDOW_8K * (wv->rate / G711_RATE);
        wv->win = calloc((size_t)wv->win_frames * wv->channels, sizeof(*wv->win));
        err = wv->win ? SR_OK : SR_ENOMEM;
    }
    if (err)
        goto out;
    /* Pass 2 sees the same authenticated bytes: the streams are known again
     * as their headers come by, in the same order. */
    if ((err = stor_reader_open(&r, path, cert_file, key_file, &w)))
        goto out;
    err = pass2(wv, r, &w);
out:
    if (err)
        *why = why_static(err, w, r);
    stor_reader_close(r);
    return err;
}

static enum sr_err export_wav(const char *path, const char *cert_file, const char *key_file,
                              unsigned channels, bool one, unsigned stream_idx,
                              stor_write_fn *out, void *arg, const char **why)
{
    const char *dummy;
    struct wav *wv;
    enum sr_err err;

    if (!why)
        why = &dummy;
    *why = NULL;
    if (!out)
        return SR_EINVAL;
    wv = calloc(1, sizeof(*wv));
    if (!wv)
        return SR_ENOMEM;
    wv->out = out;
    wv->arg = arg;
    wv->one = one;
    wv->only = stream_idx;
    wv->channels = channels;
    err = run(wv, path, cert_file, key_file, why);
    wav_free(wv);
    return err;
}

enum sr_err stor_export_wav(const char *path, const char *cert_file, const char *key_file,
                            stor_write_fn *out, void *arg, const char **why)
{
    return export_wav(path, cert_file, key_file, 2, false, 0, out, arg, why);
}

enum sr_err stor_export_wav_mixed(const char *path, const char *cert_file, const char *key_file,
                                  stor_write_fn *out, void *arg, const char **why)
{
    return export_wav(path, cert_file, key_file, 1, false, 0, out, arg, why);
}

enum sr_err stor_export_wav_stream(const char *path, const char *cert_file, const char *key_file,
                                   unsigned stream_idx, stor_write_fn *out, void *arg,
                                   const char **why)
{
    return export_wav(path, cert_file, key_file, 1, true, stream_idx, out, arg, why);
}

enum sr_err stor_waveform(const char *path, const char *cert_file, const char *key_file,
                          unsigned points, struct stor_waveform **wfp, const char **why)
{
    const char *dummy;
    struct stor_waveform *wf = NULL;
    struct wav *wv;
    enum sr_err err;
    size_t n = 0;

    if (!why)
        why = &dummy;
    *why = NULL;
    if (!wfp)
        return SR_EINVAL;
    *wfp = NULL;
    if (points < 1 || points > STOR_WAVE_POINTS_MAX)
        return SR_EINVAL;
    wv = calloc(1, sizeof(*wv));
    if (!wv)
        return SR_ENOMEM;
    wv->rate = G711_RATE;
    wv->points = points;
    wv->channels = 1;
    if ((err = run(wv, path, cert_file, key_file, why)))
        goto out;
    err = SR_ENOMEM;
    if (!(wf = calloc(1, sizeof(*wf))))
        goto out;
    for (size_t i = 0; i < wv->n_xs; i++)
        n += wv->xs[i].have_first;
    if (n && !(wf->streams = calloc(n, sizeof(*wf->streams))))
        goto out;
    if (n && !(wf->peaks = calloc(n * points, sizeof(*wf->peaks))))
        goto out;
    wf->rate = wv->rate;
    wf->frames = wv->total;
    wf->points = points;
    for (size_t i = 0; i < wv->n_xs; i++) {
        struct stor_wave_stream *s;
        if (!wv->xs[i].have_first)
            continue; /* no audio we decode */
        s = &wf->streams[wf->n_streams];
        s->index = (unsigned)i;
        s->info = wv->xs[i].info;
        s->peaks = wf->peaks + wf->n_streams * points;
        for (unsigned b = 0; b < points; b++)
            s->peaks[b] = (float)wv->peaks[i * points + b] / 32767.0f;
        wf->n_streams++;
    }
    err = SR_OK;
out:
    if (err) {
        stor_waveform_free(wf);
        wf = NULL;
    }
    *wfp = wf;
    wav_free(wv);
    return err;
}

void stor_waveform_free(struct stor_waveform *wf)
{
    if (!wf)
        return;
    free(wf->streams);
    free(wf->peaks);
    free(wf);
}

/* ------------------------------------------------------------------- Ogg */

/* The archive's packets again, as one chain link: every BOS page first,
 * then each stream's Info and Tags page, then the packet records in file
 * order, then one EOS page per stream (docs/archive-format.md, "Ogg
 * export").  The archive itself chains (a stream added after data ends the
 * link), which RFC 3533 allows but stock tools handle badly: oggz-validate
 * 1.1.1 drops the writer it re-muxes into at each chain end and, when the
 * first link ends inside its first 1 KiB read (an SRTCP report before the
 * audio), has written nothing and reports "File contains no Ogg packets".
 * Two passes, as for WAV: the first learns every stream and where it
 * starts, the second writes. */
struct ostream {
    bool used;        /* exported (all, or the one asked for) */
    bool have_first;
    uint64_t first_arrival, first_ts;
    int64_t granule;
    struct stor_stream_info info;
    ogg_stream_state os;
    bool os_live;
    int64_t packetno;
};

struct ogg_out {
    stor_write_fn *out;
    void *arg;
    struct ostream *st;
    size_t n;
    uint64_t origin;  /* the earliest first arrival over all streams */
    uint8_t *rec;     /* one packet record: header + payload */
};

static enum sr_err ost_sync(struct ogg_out *o, const struct stor_reader *r, bool one,
                            unsigned only)
{
    size_t n = stor_reader_n_streams(r);
    struct ostream *ns;

    if (n <= o->n)
        return SR_OK;
    ns = realloc(o->st, n * sizeof(*ns));
    if (!ns)
        return SR_ENOMEM;
    for (size_t i = o->n; i < n; i++) {
        memset(&ns[i], 0, sizeof(ns[i]));
        ns[i].info = *stor_reader_stream(r, i);
        ns[i].used = !one || i == only;
    }
    o->st = ns;
    o->n = n;
    return SR_OK;
}

static enum sr_err ogg_pass1(struct ogg_out *o, struct stor_reader *r, bool one, unsigned only,
                             const char **why)
{
    struct stor_pkt p;
    unsigned idx;
    enum sr_err err;

    while ((err = stor_reader_next(r, &idx, &p, why)) == SR_OK) {
        struct ostream *s;
        if ((err = ost_sync(o, r, one, only)))
            return err;
        s = &o->st[idx];
        if (!s->have_first) {
            s->have_first = true;
            s->first_arrival = p.arrival_wall_us;
            s->first_ts = p.ext_ts;
        }
    }
    if (err != SR_ECLOSED)
        return err;
    if ((err = ost_sync(o, r, one, only)))
        return err;
    if (one && only >= o->n) {
        *why = "no such stream";
        return SR_ENOTFOUND;
    }
    o->origin = UINT64_MAX;
    for (size_t i = 0; i < o->n; i++)
        if (o->st[i].have_first && o->st[i].first_arrival < o->origin)
            o->origin = o->st[i].first_arrival;
    return SR_OK;
}

/* The pages libogg has ready (flush: also a partial one) to the sink; the
 * Ogg and the Ogg Opus exports both write through these two. */
static enum sr_err ogg_pages_out(ogg_stream_state *os, stor_write_fn *out, void *arg, bool flush)
{
    ogg_page og;

    while (flush ? ogg_stream_flush(os, &og) : ogg_stream_pageout(os, &og))
        if (!out(og.header, (size_t)og.header_len, arg) ||
            !out(og.body, (size_t)og.body_len, arg))
            return SR_EIO;
    return SR_OK;
}

static enum sr_err ogg_packet_in(ogg_stream_state *os, int64_t *packetno, const uint8_t *d,
                                 size_t len, bool bos, bool eos, int64_t granule)
{
    ogg_packet op = {
        .packet = (unsigned char *)(uintptr_t)d, /* libogg copies; never writes */
        .bytes = (long)len,
        .b_o_s = bos,
        .e_o_s = eos,
        .granulepos = granule,
        .packetno = (*packetno)++,
    };
    return ogg_stream_packetin(os, &op) == 0 ? SR_OK : SR_ENOMEM;
}

static enum sr_err ost_pages(struct ogg_out *o, struct ostream *s, bool flush)
{
    return ogg_pages_out(&s->os, o->out, o->arg, flush);
}

static enum sr_err ost_packet(struct ostream *s, const uint8_t *d, size_t len, bool bos,
                              bool eos, int64_t granule)
{
    return ogg_packet_in(&s->os, &s->packetno, d, len, bos, eos, granule);
}

/* As the writer computes it (writer.c granule_of): media time in the
 * stream's clock units since the origin, never decreasing. */
static int64_t ost_granule(const struct ogg_out *o, struct ostream *s, const struct stor_pkt *p)
{
    uint64_t rate = s->info.clock_rate ? s->info.clock_rate : 8000;
    uint64_t off = s->first_arrival > o->origin ? s->first_arrival - o->origin : 0;
    uint64_t delta = p->ext_ts > s->first_ts ? p->ext_ts - s->first_ts : 0;
    int64_t g;

    if (off > 1000000ull * 86400 * 366)
        off = 1000000ull * 86400 * 366;
    if (delta > (1ull << 52))
        delta = 1ull << 52;
    g = (int64_t)(off / 1000000 * rate + off % 1000000 * rate / 1000000) + (int64_t)delta;
    if (g > s->granule)
        s->granule = g;
    return s->granule;
}

static enum sr_err ogg_headers(struct ogg_out *o)
{
    uint8_t id[STOR_OGG_ID_LEN], info[STOR_OGG_INFO_MAX], tags[STOR_OGG_TAGS_MAX];
    enum sr_err err;

    /* Serials: the stream number above a fixed base, distinct in the link. */
    for (size_t i = 0; i < o->n; i++) {
        struct ostream *s = &o->st[i];
        if (!s->used)
            continue;
        if (ogg_stream_init(&s->os, (int)(0x53524543 + i)) != 0)
            return SR_ENOMEM;
        s->os_live = true;
        stor_ogg_id_encode(id, (unsigned)i, false);
        if ((err = ost_packet(s, id, sizeof(id), true, false, 0)) || (err = ost_pages(o, s, true)))
            return err;
    }
    for (size_t i = 0; i < o->n; i++) {
        struct ostream *s = &o->st[i];
        if (!s->used)
            continue;
        if ((err = ost_packet(s, info, stor_ogg_info_encode(info, &s->info), false, false, 0)) ||
            (err = ost_packet(s, tags, stor_ogg_tags_encode(tags, &s->info), false, false, 0)) ||
            (err = ost_pages(o, s, true)))
            return err;
    }
    return SR_OK;
}

static enum sr_err ogg_pass2(struct ogg_out *o, struct stor_reader *r, const char **why)
{
    struct stor_pkt p;
    unsigned idx;
    enum sr_err err;

    if ((err = ogg_headers(o)))
        return err;
    while ((err = stor_reader_next(r, &idx, &p, why)) == SR_OK) {
        struct ostream *s = idx < o->n ? &o->st[idx] : NULL;
        if (!s || !s->used)
            continue;
        stor_ogg_pkt_encode(o->rec, &p);
        memcpy(o->rec + STOR_PKT_HDR_LEN, p.payload, p.payload_len);
        if ((err = ost_packet(s, o->rec, STOR_PKT_HDR_LEN + p.payload_len, false, false,
                              ost_granule(o, s, &p))) ||
            (err = ost_pages(o, s, false)))
            return err;
    }
    if (err != SR_ECLOSED)
        return err;
    for (size_t i = 0; i < o->n; i++) {
        struct ostream *s = &o->st[i];
        if (s->used && ((err = ost_packet(s, NULL, 0, false, true, s->granule)) ||
                        (err = ost_pages(o, s, true))))
            return err;
    }
    return SR_OK;
}

static enum sr_err export_ogg(const char *path, const char *cert_file, const char *key_file,
                              bool one, unsigned stream_idx, stor_write_fn *out, void *arg,
                              const char **why)
{
    struct ogg_out o = { .out = out, .arg = arg };
    struct stor_reader *r = NULL;
    const char *w = NULL, *dummy;
    enum sr_err err;

    if (!why)
        why = &dummy;
    *why = NULL;
    if (!out)
        return SR_EINVAL;
    if (!(o.rec = malloc(STOR_PKT_HDR_LEN + STOR_MAX_PAYLOAD)))
        return SR_ENOMEM;
    if ((err = stor_reader_open(&r, path, cert_file, key_file, &w)))
        goto out;
    /* Pass 1 only measures; pass 2 runs every check on the same bytes, and
     * what it writes counts only once it returns SR_OK (stor.h). */
    stor_reader_first_pass(r);
    if ((err = ogg_pass1(&o, r, one, stream_idx, &w)))
        goto out;
    stor_reader_close(r);
    r = NULL;
    if ((err = stor_reader_open(&r, path, cert_file, key_file, &w)))
        goto out;
    err = ogg_pass2(&o, r, &w);
out:
    if (err)
        *why = why_static(err, w, r);
    stor_reader_close(r);
    for (size_t i = 0; i < o.n; i++)
        if (o.st[i].os_live)
            ogg_stream_clear(&o.st[i].os);
    sr_wipe(o.rec, STOR_PKT_HDR_LEN + STOR_MAX_PAYLOAD);
    free(o.rec);
    free(o.st);
    return err;
}

enum sr_err stor_export_ogg(const char *path, const char *cert_file, const char *key_file,
                            stor_write_fn *out, void *arg, const char **why)
{
    return export_ogg(path, cert_file, key_file, false, 0, out, arg, why);
}

enum sr_err stor_export_ogg_stream(const char *path, const char *cert_file, const char *key_file,
                                   unsigned stream_idx, stor_write_fn *out, void *arg,
                                   const char **why)
{
    return export_ogg(path, cert_file, key_file, true, stream_idx, out, arg, why);
}

/* ------------------------------------------------------------------ Opus */

struct opus_out {
    stor_write_fn *out;
    void *arg;
    ogg_stream_state os;
    int64_t packetno;
    bool started;
    uint64_t first_ts;
    int64_t granule;
    uint8_t *held;   /* the last packet, written when the next comes (or with EOS) */
    size_t held_len;
    int64_t held_granule;
};

static enum sr_err opus_pages(struct opus_out *o, bool flush)
{
    return ogg_pages_out(&o->os, o->out, o->arg, flush);
}

static enum sr_err opus_packet(struct opus_out *o, const uint8_t *d, size_t len, bool bos,
                               bool eos, int64_t granule)
{
    return ogg_packet_in(&o->os, &o->packetno, d, len, bos, eos, granule);
}

/* RFC 7845 section 5: OpusHead alone on the first page, OpusTags ending
 * the second; audio starts on a fresh page. */
static enum sr_err opus_headers(struct opus_out *o, unsigned channels)
{
    static const char vendor[] = "srtprec";
    uint8_t head[19], tags[8 + 4 + sizeof(vendor) - 1 + 4];
    enum sr_err err;

    memcpy(head, "OpusHead", 8);
    head[8] = 1;                /* version */
    head[9] = (uint8_t)channels;
    put_le16(head + 10, OPUS_PRESKIP); /* see stor.h */
    put_le32(head + 12, 48000); /* input rate, informational */
    put_le16(head + 16, 0);     /* output gain */
    head[18] = 0;               /* mapping family 0: mono or stereo */
    memcpy(tags, "OpusTags", 8);
    put_le32(tags + 8, sizeof(vendor) - 1);
    memcpy(tags + 12, vendor, sizeof(vendor) - 1);
    put_le32(tags + 12 + sizeof(vendor) - 1, 0); /* no comments */
    if ((err = opus_packet(o, head, sizeof(head), true, false, 0)) ||
        (err = opus_pages(o, true)) ||
        (err = opus_packet(o, tags, sizeof(tags), false, false, 0)))
        return err;
    return opus_pages(o, true);
}

enum sr_err stor_export_opus(const char *path, const char *cert_file, const char *key_file,
                             unsigned stream_idx, stor_write_fn *out, void *arg,
                             const char **why)
{
    struct opus_out o = { .out = out, .arg = arg };
    struct stor_reader *r = NULL;
    const char *w = NULL, *dummy;
    struct stor_pkt p;
    unsigned idx;
    enum sr_err err;
    bool os_live = false, checked = false;

    if (!why)
        why = &dummy;
    *why = NULL;
    if (!out)
        return SR_EINVAL;
    if ((err = stor_reader_open(&r, path, cert_file, key_file, &w))) {
        *why = w;
        return err;
    }
    if (ogg_stream_init(&o.os, (int)(0x5352 + stream_idx)) != 0) {
        err = SR_ENOMEM;
        goto out;
    }
    os_live = true;
    o.held = malloc(STOR_MAX_PAYLOAD);
    if (!o.held) {
        err = SR_ENOMEM;
        goto out;
    }
    while ((err = stor_reader_next(r, &idx, &p, &w)) == SR_OK) {
        unsigned n;
        int64_t g;
        for (size_t i = 0; stream_idx == STOR_STREAM_FIRST_OPUS && i < stor_reader_n_streams(r); i++)
            if (strcasecmp(stor_reader_stream(r, i)->codec, "opus") == 0)
                stream_idx = (unsigned)i;
        if (!checked && stor_reader_n_streams(r) > stream_idx) {
            const struct stor_stream_info *si = stor_reader_stream(r, stream_idx);
            checked = true;
            if (strcasecmp(si->codec, "opus") != 0) {
                err = SR_EUNSUPP;
                w = "stream is not Opus";
                goto out;
            }
            /* the serial names the stream, however it was chosen */
            if (ogg_stream_reset_serialno(&o.os, (int)(0x5352 + stream_idx)) != 0) {
                err = SR_ENOMEM;
                goto out;
            }
        }
        if (idx != stream_idx || (p.flags & STOR_PKT_ENCRYPTED) || !p.payload_len)
            continue;
        n = opus_samples(p.payload, p.payload_len);
        if (!n)
            continue; /* not a valid Opus packet: nothing a decoder could use */
        if (!o.started) {
            o.started = true;
            o.first_ts = p.ext_ts;
            if ((err = opus_headers(&o, (p.payload[0] & 4) ? 2 : 1)))
                goto out;
        }
        /* Granule: 48 kHz samples to the end of this packet, from its RTP
         * timestamp (RFC 7587: the Opus RTP clock is always 48 kHz). */
        g = OPUS_PRESKIP + (int64_t)(p.ext_ts >= o.first_ts ? p.ext_ts - o.first_ts : 0) + n;
        if (g < o.granule)
            g = o.granule;
        o.granule = g;
        /* One packet is held back so the last can carry EOS (RFC 7845
         * forbids an empty Opus packet). */
        if (o.held_len && ((err = opus_packet(&o, o.held, o.held_len, false, false,
                                              o.held_granule)) ||
                           (err = opus_pages(&o, false))))
            goto out;
        memcpy(o.held, p.payload, p.payload_len);
        o.held_len = p.payload_len;
        o.held_granule = g;
    }
    if (err != SR_ECLOSED)
        goto out;
    err = SR_OK;
    if (!checked) {
        err = SR_ENOTFOUND;
        w = stream_idx == STOR_STREAM_FIRST_OPUS ? "no Opus stream" : "no such stream";
        goto out;
    }
    if (!o.started && (err = opus_headers(&o, 1)))
        goto out;
    if ((err = opus_packet(&o, o.held, o.held_len, false, true, o.held_granule)) ||
        (err = opus_pages(&o, true)))
        goto out;
out:
    if (err)
        *why = why_static(err, w, r);
    if (os_live)
        ogg_stream_clear(&o.os);
    if (o.held)
        sr_wipe(o.held, o.held_len);
    free(o.held);
    stor_reader_close(r);
    return err;
}
