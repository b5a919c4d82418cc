/** @file srtprec-endpoint-sim.c  An endpoint that places SRTP calls and discloses them.
 *
 * For each of --calls concurrent calls it announces the dialog and two
 * streams (send, recv) to srtprec-keyagent over its control socket, BEFORE any
 * media, then sends 20 ms G.711 mu-law packets of a tone sequence (one
 * frequency per call and direction, stepping every 200 ms), each protected
 * with libsrtp, from one UDP socket per stream on 127.0.0.1 to --recorder.
 * After --duration-ms it ENDs the calls.  --out-dir receives, per stream, the
 * exact payload bytes sent (<call-id>.<stream-id>.ul) and a manifest.tsv, so a
 * test can compare what the recorder archived with what was sent.
 *
 * Keys are fresh from sr_random() and are never written anywhere but the
 * control socket.  --seed makes everything else (Call-IDs, tags, SSRCs,
 * sequence numbers, timestamps) reproducible.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <srtp2/srtp.h>

#include "conf.h"
#include "ka.h"
#include "log.h"
#include "util.h"
#include "version.h"

enum {
    PTIME_MS = 20,
    SAMPLES = 160,            /* 20 ms at 8000 Hz */
    RTP_HDR = 12,
    MASTER_LEN = 30,          /* AES_CM_128: 16-byte key || 14-byte salt */
    TONE_STEP_MS = 200,
    MAX_CALLS = 1000,
};

struct sim_cfg {
    char control[CONF_STR_MAX];
    char recorder[CONF_STR_MAX];
    char out_dir[CONF_STR_MAX];
    unsigned long calls, duration_ms, seed, call_age_s;
    bool roc_unknown;
    char log_level[CONF_STR_MAX];
};

#define F(x) offsetof(struct sim_cfg, x)
static const struct conf_item conf_items[] = {
    { "control", CONF_STR, F(control), NULL, 0, 0, "keyagent control socket" },
    { "recorder", CONF_STR, F(recorder), NULL, 0, 0, "where media is forked: IPv4 ip:port" },
    { "calls", CONF_UINT, F(calls), "3", 1, MAX_CALLS, "concurrent calls" },
    { "duration-ms", CONF_UINT, F(duration_ms), "3000", PTIME_MS, 600000, "media per call" },
    { "out-dir", CONF_STR, F(out_dir), NULL, 0, 0, "payload files and manifest.tsv go here" },
    { "seed", CONF_UINT, F(seed), "0", 0, UINT32_MAX,
      "non-zero: reproducible ids, SSRCs and sequence numbers (keys stay random)" },
    { "call-age-s", CONF_UINT, F(call_age_s), "0", 0, 604800,
      "the calls began this long ago (50 packets a second): streams start that many packets on, "
      "past their wraps" },
    { "roc-unknown", CONF_BOOL, F(roc_unknown), "no", 0, 0,
      "disclose late as an SBC would: every ROC unknown, the call's start given (call-age-s ago)" },
    { "log-level", CONF_STR, F(log_level), "notice", 0, 0, "error|warn|notice|info|debug" },
};
#undef F

struct sim_stream {
    char id[8];
    enum ka_direction dir;
    int fd;
    char src[64];
    uint32_t ssrc, ts;
    uint16_t seq, first_seq;
    uint32_t roc;           /* rollover counter the stream starts at (call-age-s) */
    uint8_t master[MASTER_LEN];
    srtp_t srtp;
    double phase;
    unsigned packets;
    FILE *ul;               /* payload bytes, in order */
    char file[300];
};

struct sim_call {
    char call_id[64], local_tag[20], remote_tag[20];
    char local_aor[64], remote_aor[64];
    struct sim_stream st[2];
};

struct sim {
    struct sim_cfg cfg;
    uint64_t rng;           /* splitmix64 state: ids, never keys */
    struct sockaddr_in recorder;
    struct ka_client *ka;
    struct sim_call *calls;
    size_t n_calls;
};

static uint64_t rng_next(struct sim *s)
{
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void rng_hex(struct sim *s, char *out, size_t digits)
{
    uint8_t b[16];
    uint64_t a = rng_next(s), c = rng_next(s);

    memcpy(b, &a, 8);
    memcpy(b + 8, &c, 8);
    sr_hex_encode(b, digits / 2, out);
}

/* G.711 mu-law (ITU-T G.711, the Sun reference algorithm): bias, segment
 * from the top set bit, 4 mantissa bits, all bits inverted. */
static uint8_t ulaw_encode(int16_t pcm)
{
    const int bias = 0x84, clip = 32635;
    int sample = pcm, sign = 0, exponent = 7, mantissa;

    if (sample < 0) {
        sample = -sample;
        sign = 0x80;
    }
    if (sample > clip)
        sample = clip;
    sample += bias;
    for (int mask = 0x4000; (sample & mask) == 0 && exponent > 0; mask >>= 1)
        exponent--;
    mantissa = (sample >> (exponent + 3)) & 0x0f;
    return (uint8_t)~(sign | (exponent << 4) | mantissa);
}

/* A tone per call and direction that steps every TONE_STEP_MS through four
 * frequencies, so each stream and its timing are recognisable when decoded. */
static double tone_hz(size_t call, enum ka_direction dir, unsigned packet)
{
    static const double step[4] = { 0, 150, 300, 150 };
    unsigned slot = (packet * PTIME_MS / TONE_STEP_MS) % 4;
    return 400.0 + 50.0 * (double)(call % 16) + (dir == KA_DIR_RECV ? 900.0 : 0.0) + step[slot];
}

static int options(struct sim *s, int argc, char **argv)
{
    char why[512];
    int help = 0, lvl;
    struct slice r, host, port;
    char h[64];
    uint64_t p;
    long colon;

    if (conf_load(conf_items, SR_ARRAY_LEN(conf_items), &s->cfg, "endpoint-sim", argc, argv,
                  &help, why, sizeof(why)) != SR_OK) {
        fprintf(stderr, "srtprec-endpoint-sim: %s\n", why);
        return 2;
    }
    if (help == CONF_SHOWN_VERSION) {
        sr_version_print(stdout, "srtprec-endpoint-sim");
        return 1;
    }
    if (help) {
        conf_usage(stdout, "srtprec-endpoint-sim", conf_items, SR_ARRAY_LEN(conf_items));
        return 1;
    }
    lvl = log_level_parse(s->cfg.log_level);
    log_setup(lvl < 0 ? LOG_LVL_NOTICE : (enum log_level)lvl, "srtprec-endpoint-sim", 0);
    if (!s->cfg.control[0] || !s->cfg.recorder[0] || !s->cfg.out_dir[0]) {
        fprintf(stderr, "srtprec-endpoint-sim: --control, --recorder and --out-dir are required\n");
        return 2;
    }
    r = slice_cstr(s->cfg.recorder);
    colon = slice_find(r, ':');
    host = colon > 0 ? slice_of(r.p, (size_t)colon) : SLICE_NULL;
    port = colon > 0 ? slice_of(r.p + colon + 1, r.len - (size_t)colon - 1) : SLICE_NULL;
    s->recorder.sin_family = AF_INET;
    if (colon <= 0 || !slice_copy_cstr(host, h, sizeof(h)) ||
        inet_pton(AF_INET, h, &s->recorder.sin_addr) != 1 || !slice_to_u64(port, 65535, &p) ||
        p == 0) {
        fprintf(stderr, "srtprec-endpoint-sim: --recorder must be IPv4 ip:port\n");
        return 2;
    }
    s->recorder.sin_port = htons((uint16_t)p);
    if (s->cfg.seed)
        s->rng = s->cfg.seed;
    else if (sr_random(&s->rng, sizeof(s->rng)) != SR_OK)
        return 2;
    return 0;
}

static enum sr_err stream_setup(struct sim *s, struct sim_call *c, struct sim_stream *st)
{
    struct sockaddr_in local = { .sin_family = AF_INET };
    socklen_t len = sizeof(local);
    srtp_policy_t pol;
    char ip[INET_ADDRSTRLEN];

    local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    st->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (st->fd < 0 || bind(st->fd, (struct sockaddr *)&local, sizeof(local)) != 0 ||
        connect(st->fd, (struct sockaddr *)&s->recorder, sizeof(s->recorder)) != 0 ||
        getsockname(st->fd, (struct sockaddr *)&local, &len) != 0) {
        log_error("UDP socket: %s", strerror(errno));
        return SR_EIO;
    }
    inet_ntop(AF_INET, &local.sin_addr, ip, sizeof(ip));
    snprintf(st->src, sizeof(st->src), "%s:%u", ip, (unsigned)ntohs(local.sin_port));
    st->ssrc = (uint32_t)rng_next(s);
    st->seq = st->first_seq = (uint16_t)(rng_next(s) % 65000);
    {
        /* A call that began call-age-s ago has sent that many packets. */
        uint64_t ext = st->seq + (uint64_t)s->cfg.call_age_s * (1000u / PTIME_MS);
        st->roc = (uint32_t)(ext >> 16);
        st->seq = st->first_seq = (uint16_t)ext;
    }
    st->ts = (uint32_t)rng_next(s);
    if (sr_random(st->master, sizeof(st->master)) != SR_OK)
        return SR_ECRYPTO;

    memset(&pol, 0, sizeof(pol));
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtp);
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtcp);
    pol.ssrc.type = ssrc_specific;
    pol.ssrc.value = st->ssrc;
    pol.key = st->master;
    pol.window_size = 128;
    if (srtp_create(&st->srtp, &pol) != srtp_err_status_ok) {
        log_error("srtp_create failed");
        return SR_ECRYPTO;
    }
    /* libsrtp's pending ROC: the first protect moves the index there. */
    if (st->roc && srtp_set_stream_roc(st->srtp, st->ssrc, st->roc) != srtp_err_status_ok) {
        log_error("srtp_set_stream_roc failed");
        return SR_ECRYPTO;
    }
    snprintf(st->file, sizeof(st->file), "%s.%s.ul", c->call_id, st->id);
    {
        char path[CONF_STR_MAX + 320];
        snprintf(path, sizeof(path), "%s/%s", s->cfg.out_dir, st->file);
        st->ul = fopen(path, "wbe");
        if (!st->ul) {
            log_error("%s: %s", path, strerror(errno));
            return SR_EIO;
        }
    }
    return SR_OK;
}

static enum sr_err disclose(struct sim *s, struct sim_call *c)
{
    char dst[64], ip[INET_ADDRSTRLEN];
    struct ka_call_info ci = { c->call_id, c->local_tag, c->remote_tag, c->local_aor, c->remote_aor };
    uint64_t start = s->cfg.roc_unknown ? sr_wall_us() - s->cfg.call_age_s * 1000000u : 0;
    enum sr_err err = ka_call_begin_streams_at(s->ka, &ci, start, NULL, 0, NULL);

    inet_ntop(AF_INET, &s->recorder.sin_addr, ip, sizeof(ip));
    snprintf(dst, sizeof(dst), "%s:%u", ip, (unsigned)ntohs(s->recorder.sin_port));
    for (int i = 0; i < 2 && !err; i++) {
        struct sim_stream *st = &c->st[i];
        struct ka_key key = { st->master, MASTER_LEN, 0, 0, 0 };
        struct ka_stream_info si = {
            .call_id = c->call_id, .stream_id = st->id, .direction = st->dir,
            .ssrc_known = true, .ssrc = st->ssrc, .payload_type = 0, .codec = "PCMU",
            .clock_rate = 8000, .src = st->src, .dst = dst,
            .suite = "AES_CM_128_HMAC_SHA1_80", .keys = &key, .n_keys = 1,
            .roc = s->cfg.roc_unknown ? KA_ROC_UNKNOWN : st->roc, .seq = st->seq,
        };
        err = ka_stream_add(s->ka, &si);
    }
    if (err)
        log_error("disclosing call %s: %s%s%s", c->call_id, sr_strerror(err),
                  err == SR_ESTATE ? ": " : "", err == SR_ESTATE ? ka_client_error(s->ka) : "");
    return err;
}

static enum sr_err setup(struct sim *s)
{
    enum sr_err err;

    if (mkdir(s->cfg.out_dir, 0755) != 0 && errno != EEXIST) {
        log_error("out-dir %s: %s", s->cfg.out_dir, strerror(errno));
        return SR_EIO;
    }
    if (srtp_init() != srtp_err_status_ok)
        return SR_ECRYPTO;
    err = ka_client_connect(&s->ka, s->cfg.control);
    if (err) {
        log_error("control socket %s: %s", s->cfg.control, sr_strerror(err));
        return err;
    }
    s->calls = calloc(s->cfg.calls, sizeof(*s->calls));
    if (!s->calls)
        return SR_ENOMEM;
    for (size_t i = 0; i < s->cfg.calls; i++) {
        struct sim_call *c = &s->calls[i];
        char hex[33];

        s->n_calls++;
        c->st[0].fd = c->st[1].fd = -1;
        rng_hex(s, hex, 24);
        snprintf(c->call_id, sizeof(c->call_id), "%s@sim.callcentre.example", hex);
        rng_hex(s, c->local_tag, 16);
        rng_hex(s, c->remote_tag, 16);
        snprintf(c->local_aor, sizeof(c->local_aor), "sip:agent%zu@callcentre.example", i + 1);
        snprintf(c->remote_aor, sizeof(c->remote_aor), "sip:customer%zu@pstn.example", i + 1);
        memcpy(c->st[0].id, "tx", 3);
        c->st[0].dir = KA_DIR_SEND;
        memcpy(c->st[1].id, "rx", 3);
        c->st[1].dir = KA_DIR_RECV;
        err = stream_setup(s, c, &c->st[0]);
        if (!err)
            err = stream_setup(s, c, &c->st[1]);
        if (!err)
            err = disclose(s, c);
        if (err)
            return err;
    }
    log_notice("%zu calls disclosed; sending media for %lu ms", s->n_calls, s->cfg.duration_ms);
    return SR_OK;
}

static void packet_send(struct sim_stream *st, size_t call_index, bool first)
{
    uint8_t pkt[RTP_HDR + SAMPLES + SRTP_MAX_TRAILER_LEN];
    uint8_t *payload = pkt + RTP_HDR;
    double hz = tone_hz(call_index, st->dir, st->packets);
    int len = RTP_HDR + SAMPLES;

    for (int i = 0; i < SAMPLES; i++) {
        payload[i] = ulaw_encode((int16_t)lrint(8000.0 * sin(st->phase)));
        st->phase += 2.0 * M_PI * hz / 8000.0;
        if (st->phase > 2.0 * M_PI)
            st->phase -= 2.0 * M_PI;
    }
    /* The plaintext payload is what a recorder must reproduce bit-exactly. */
    fwrite(payload, 1, SAMPLES, st->ul);
    pkt[0] = 0x80;
    pkt[1] = (uint8_t)((first ? 0x80 : 0) | 0); /* marker on the first packet; PT 0 (PCMU) */
    pkt[2] = (uint8_t)(st->seq >> 8);
    pkt[3] = (uint8_t)st->seq;
    pkt[4] = (uint8_t)(st->ts >> 24);
    pkt[5] = (uint8_t)(st->ts >> 16);
    pkt[6] = (uint8_t)(st->ts >> 8);
    pkt[7] = (uint8_t)st->ts;
    pkt[8] = (uint8_t)(st->ssrc >> 24);
    pkt[9] = (uint8_t)(st->ssrc >> 16);
    pkt[10] = (uint8_t)(st->ssrc >> 8);
    pkt[11] = (uint8_t)st->ssrc;
    if (srtp_protect(st->srtp, pkt, &len) != srtp_err_status_ok) {
        log_warn("srtp_protect failed");
        return;
    }
    /* A loopback send fails only when the recorder port is unreachable
     * (ICMP): keep pacing, the recorder may come up late. */
    (void)send(st->fd, pkt, (size_t)len, 0);
    st->packets++;
    st->seq++;
    st->ts += SAMPLES;
}

static void media(struct sim *s)
{
    struct timespec next;
    unsigned total = (unsigned)(s->cfg.duration_ms / PTIME_MS);

    clock_gettime(CLOCK_MONOTONIC, &next);
    for (unsigned p = 0; p < total; p++) {
        for (size_t i = 0; i < s->n_calls; i++)
            for (int k = 0; k < 2; k++)
                packet_send(&s->calls[i].st[k], i, p == 0);
        /* Absolute schedule: a late wakeup does not push every later packet. */
        next.tv_nsec += PTIME_MS * 1000000L;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
            ;
    }
}

static enum sr_err finish(struct sim *s)
{
    char path[CONF_STR_MAX + 32];
    enum sr_err err = SR_OK;
    FILE *m;

    for (size_t i = 0; i < s->n_calls; i++) {
        enum sr_err e = ka_call_end(s->ka, s->calls[i].call_id);
        if (e) {
            log_error("END %s: %s", s->calls[i].call_id, sr_strerror(e));
            err = e;
        }
    }
    snprintf(path, sizeof(path), "%s/manifest.tsv", s->cfg.out_dir);
    m = fopen(path, "we");
    if (!m) {
        log_error("%s: %s", path, strerror(errno));
        return SR_EIO;
    }
    fprintf(m, "call_id\tstream_id\tdirection\tssrc\tpackets\tfile\n");
    for (size_t i = 0; i < s->n_calls; i++)
        for (int k = 0; k < 2; k++) {
            struct sim_stream *st = &s->calls[i].st[k];
            if (st->ul && fflush(st->ul) != 0)
                err = SR_EIO;
            fprintf(m, "%s\t%s\t%s\t%08lx\t%u\t%s\n", s->calls[i].call_id, st->id,
                    st->dir == KA_DIR_SEND ? "send" : "recv", (unsigned long)st->ssrc, st->packets,
                    st->file);
        }
    if (fclose(m) != 0)
        err = SR_EIO;
    return err;
}

static void cleanup(struct sim *s)
{
    for (size_t i = 0; i < s->n_calls; i++)
        for (int k = 0; k < 2; k++) {
            struct sim_stream *st = &s->calls[i].st[k];
            if (st->srtp)
                srtp_dealloc(st->srtp);
            if (st->fd >= 0)
                close(st->fd);
            if (st->ul)
                fclose(st->ul);
            sr_wipe(st->master, sizeof(st->master));
        }
    free(s->calls);
    ka_client_close(s->ka);
    srtp_shutdown();
}

int main(int argc, char **argv)
{
    struct sim s = { 0 };
    int rc = options(&s, argc, argv);

    if (rc)
        return rc == 1 ? 0 : rc;
    signal(SIGPIPE, SIG_IGN);
    rc = 1;
    if (setup(&s) == SR_OK) {
        media(&s);
        rc = finish(&s) == SR_OK ? 0 : 1;
    }
    cleanup(&s);
    if (rc == 0)
        log_notice("done: %zu calls, %zu streams, files in %s", s.n_calls, 2 * s.n_calls,
                   s.cfg.out_dir);
    return rc;
}
