/** @file srtprec-loadgen.c  Many simulated endpoints at once: the recorder's load generator.
 *
 * For --calls calls of two streams each (send, recv) it discloses every call
 * and its keys to the REAL srtprec-keyagent through its control socket (the
 * ka client library), then sends --duration-ms of 20 ms G.711 packets per
 * stream at --pps packets per second per stream (50 = real G.711), or as
 * fast as the kernel takes them with --fast=yes, and ENDs the calls.
 *
 * Pre-encryption: SRTP's replay window forbids resending a packet, so a
 * small ring cannot be cycled.  Every packet of the whole run is protected
 * once, before the clock starts, into one array laid out in send order
 * (slot-major: packet p of every stream, then packet p+1), so the sender
 * only walks memory with sendmmsg.  Memory = streams x packets x 184 bytes
 * (4,400 streams x 10 s at 50 pps: 405 MB); --max-mb bounds it.
 *
 * Streams share --sockets source sockets (a stream is (source, SSRC); the
 * disclosed SSRC binds it); stream j uses socket j * sockets / streams, so
 * within a slot each socket's streams are contiguous and one sendmmsg
 * covers up to --batch of them.  SSRCs are distinct by construction.
 *
 * Payloads are pseudo-random bytes (every packet differs), and the plaintext
 * payloads of each stream are hashed in order (SHA-256).  --out receives one
 * line per stream: call_id, stream_id, ssrc, packets, sha256; a checker
 * (srtprec-loadcheck) compares that with what the recorder archived.  On
 * stdout, one summary line of key=value pairs.  --prefixes receives the same
 * line for every prefix of every stream (its first n payloads, n = 1 ..
 * packets): what an archive cut by a crash and recovered must equal
 * (srtprec-loadcheck --prefixes).
 *
 * --ssrc-every=N changes every stream's SSRC after each N packets (as a
 * phone does on hold or transfer), same key, sequence numbers going on: the
 * recorder binds each new SSRC by trial authentication, and a call gets
 * more streams than one archive's serial budget holds (its continuation
 * archives).  --out then has one line per (stream, SSRC).
 *
 * Keys come from sr_random() and go nowhere but the control socket.
 *
 * Hostile disclosures, for the recorder's binding rules (tests/integration/
 * test_rogue.sh): --rogue-control=SOCKET first discloses every call to a
 * second keyagent as "rogue-<Call-ID>", with the same SSRCs and fork
 * addresses but keys of its own (never used to protect anything), waits
 * --settle-ms, then discloses the real calls; the rogue calls are ENDed
 * after the real ones.  --false-ssrc=yes discloses every "rx" stream with an
 * SSRC it does not send (a false a=ssrc in the remote party's SDP); --out
 * still lists the SSRC actually sent.
 *
 * --poll-ms=N: while media is sent, ka_client_poll() every N ms, as an
 * endpoint's timer would: a keyagent that restarts is reconnected to and
 * every live call re-disclosed by the client library (test_ka_restart.sh).
 *
 * --streams-file=FILE replaces the keyagent and the one destination: per
 * stream (2 x --calls lines, tx then rx of each call) a hex master key and an
 * IPv4 ip:port, tab-separated (more fields are ignored); stream j is
 * protected under line j's key and sent to line j's address, nothing is
 * disclosed or ENDed.  This feeds another SRTP receiver the same load, e.g.
 * rtpengine's per-stream ports with the keys given in its SDES offers
 * (tools/bench_peer_rtpengine.sh).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <srtp2/srtp.h>

#include "conf.h"
#include "ka.h"
#include "log.h"
#include "util.h"
#include "version.h"

enum {
    SAMPLES = 160,            /* 20 ms at 8000 Hz */
    RTP_HDR = 12,
    MASTER_LEN = 30,          /* AES_CM_128: 16-byte key || 14-byte salt */
    PKT_LEN = RTP_HDR + SAMPLES + 10, /* + HMAC-SHA1-80 tag */
    STRIDE = 184,             /* PKT_LEN rounded up to 8 */
    MAX_CALLS = 50000,
    MAX_SOCKETS = 64,
    MAX_BATCH = 1024,
};

struct lg_cfg {
    char control[CONF_STR_MAX];
    char recorder[CONF_STR_MAX];
    char mirror[CONF_STR_MAX];
    char out[CONF_STR_MAX];
    char prefixes[CONF_STR_MAX];
    char start_file[CONF_STR_MAX];
    char streams_file[CONF_STR_MAX];
    char log_level[CONF_STR_MAX];
    char rogue_control[CONF_STR_MAX];
    unsigned long calls, duration_ms, pps, sockets, batch, max_mb, settle_ms, end_delay_ms, seed;
    unsigned long ssrc_every, poll_ms;
    bool fast, false_ssrc;
};

#define F(x) offsetof(struct lg_cfg, x)
static const struct conf_item conf_items[] = {
    { "control", CONF_STR, F(control), NULL, 0, 0, "keyagent control socket" },
    { "recorder", CONF_STR, F(recorder), NULL, 0, 0, "where media is forked: IPv4 ip:port" },
    { "mirror", CONF_STR, F(mirror), "", 0, 0,
      "every packet also to this IPv4 ip:port, as a media fork or SPAN copy feeds a second "
      "recorder (dual recording); its send errors are not fatal" },
    { "out", CONF_STR, F(out), NULL, 0, 0, "per-stream results (TSV) go to this file" },
    { "prefixes", CONF_STR, F(prefixes), "", 0, 0,
      "per stream and packet count n: the SHA-256 of its first n payloads (TSV as --out), so "
      "that an archive cut by a crash can be checked as a bit-exact prefix" },
    { "calls", CONF_UINT, F(calls), "100", 1, MAX_CALLS, "concurrent calls (2 streams each)" },
    { "duration-ms", CONF_UINT, F(duration_ms), "5000", 20, 3600000, "media per stream" },
    { "pps", CONF_UINT, F(pps), "50", 1, 100000, "packets per second per stream" },
    { "fast", CONF_BOOL, F(fast), "no", 0, 0, "ignore --pps: send as fast as the kernel takes" },
    { "sockets", CONF_UINT, F(sockets), "4", 1, MAX_SOCKETS, "source UDP sockets" },
    { "batch", CONF_UINT, F(batch), "64", 1, MAX_BATCH, "packets per sendmmsg" },
    { "max-mb", CONF_UINT, F(max_mb), "2048", 1, 65536, "bound on the pre-encrypted packets" },
    { "settle-ms", CONF_UINT, F(settle_ms), "1000", 0, 600000,
      "pause between the last disclosure and the first packet" },
    { "start-file", CONF_STR, F(start_file), "", 0, 0,
      "after disclosing, wait (up to 600 s) until this file exists, instead of --settle-ms" },
    { "end-delay-ms", CONF_UINT, F(end_delay_ms), "200", 0, 600000,
      "pause between the last packet and END" },
    { "seed", CONF_UINT, F(seed), "0", 0, UINT32_MAX,
      "non-zero: reproducible ids, SSRCs and payloads (keys stay random)" },
    { "ssrc-every", CONF_UINT, F(ssrc_every), "0", 0, 1000000,
      "non-zero: every stream takes a new SSRC after each N packets" },
    { "streams-file", CONF_STR, F(streams_file), "", 0, 0,
      "per stream: hex master key<TAB>ip:port; replaces --control and --recorder" },
    { "rogue-control", CONF_STR, F(rogue_control), "", 0, 0,
      "first disclose every call to this keyagent as rogue-<Call-ID>, same SSRCs, wrong keys" },
    { "false-ssrc", CONF_BOOL, F(false_ssrc), "no", 0, 0,
      "disclose every rx stream with an SSRC it does not send" },
    { "poll-ms", CONF_UINT, F(poll_ms), "0", 0, 60000,
      "non-zero: poll the control connection this often while sending (reconnect, re-disclose)" },
    { "log-level", CONF_STR, F(log_level), "notice", 0, 0, "error|warn|notice|info|debug" },
};
#undef F

struct lg_stream {
    char id[4];
    int sock;                 /* index into lg.fds */
    uint32_t ssrc;
    uint8_t master[MASTER_LEN];
    struct sockaddr_in dst;   /* --streams-file: where this stream goes */
};

struct lg_call {
    char call_id[64], local_tag[20], remote_tag[20];
};

struct lg {
    struct lg_cfg cfg;
    uint64_t rng;             /* splitmix64: ids and payloads, never keys */
    struct sockaddr_in recorder;
    struct sockaddr_in mirror; /* --mirror; sin_port 0: none */
    struct ka_client *ka;
    struct ka_client *rogue;  /* --rogue-control */
    size_t n_rogue;           /* rogue calls disclosed */
    uint64_t polls_failed;    /* --poll-ms: polls that found the keyagent unreachable */
    int fds[MAX_SOCKETS];
    char src[MAX_SOCKETS][32];
    struct lg_call *calls;
    struct lg_stream *st;     /* 2 per call: [2i] send, [2i+1] recv */
    size_t n_calls, n_st, n_disclosed;
    uint8_t *pkts;            /* n_pkt packets of STRIDE bytes, in send order */
    uint16_t *lens;
    size_t per_stream, n_pkt;
    size_t n_seg;             /* SSRCs per stream, one after the other (--ssrc-every) */
    uint8_t *seg_sha;         /* n_st x n_seg SHA-256s of the segments' payloads */
    uint8_t *pre_sha;         /* --prefixes: n_st x per_stream SHA-256s of payloads [0, p] */
    uint64_t sent, send_errors, send_us, mirror_sent;
};

static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void rng_hex(uint64_t *state, char *out, size_t digits)
{
    uint8_t b[16];
    uint64_t a = rng_next(state), c = rng_next(state);

    memcpy(b, &a, 8);
    memcpy(b + 8, &c, 8);
    sr_hex_encode(b, digits / 2, out);
}

/* "a.b.c.d:port" (port not 0) into *out. */
static bool ipv4_slice(struct slice addr, struct sockaddr_in *out)
{
    long colon = slice_find(addr, ':');
    struct slice host = colon > 0 ? slice_of(addr.p, (size_t)colon) : SLICE_NULL;
    struct slice port =
        colon > 0 ? slice_of(addr.p + colon + 1, addr.len - (size_t)colon - 1) : SLICE_NULL;
    char h[INET_ADDRSTRLEN];
    uint64_t p;

    if (colon <= 0 || !slice_copy_cstr(host, h, sizeof(h)) ||
        inet_pton(AF_INET, h, &out->sin_addr) != 1 || !slice_to_u64(port, 65535, &p) || p == 0)
        return false;
    out->sin_family = AF_INET;
    out->sin_port = htons((uint16_t)p);
    return true;
}

static bool ipv4_addr(const char *s, struct sockaddr_in *out)
{
    return ipv4_slice(slice_cstr(s), out);
}

static int options(struct lg *g, int argc, char **argv)
{
    char why[512];
    int help = 0, lvl;

    if (conf_load(conf_items, SR_ARRAY_LEN(conf_items), &g->cfg, "loadgen", argc, argv, &help,
                  why, sizeof(why)) != SR_OK) {
        fprintf(stderr, "srtprec-loadgen: %s\n", why);
        return 2;
    }
    if (help == CONF_SHOWN_VERSION) {
        sr_version_print(stdout, "srtprec-loadgen");
        return 1;
    }
    if (help) {
        conf_usage(stdout, "srtprec-loadgen", conf_items, SR_ARRAY_LEN(conf_items));
        return 1;
    }
    lvl = log_level_parse(g->cfg.log_level);
    log_setup(lvl < 0 ? LOG_LVL_NOTICE : (enum log_level)lvl, "srtprec-loadgen", 0);
    if (g->cfg.streams_file[0] && g->cfg.out[0]) {
        /* Destinations come per stream from the file; this one is unused. */
        if (!g->cfg.recorder[0])
            snprintf(g->cfg.recorder, sizeof(g->cfg.recorder), "127.0.0.1:9");
    } else if (!g->cfg.control[0] || !g->cfg.recorder[0] || !g->cfg.out[0]) {
        fprintf(stderr, "srtprec-loadgen: --control, --recorder and --out are required\n");
        return 2;
    }
    if (!ipv4_addr(g->cfg.recorder, &g->recorder)) {
        fprintf(stderr, "srtprec-loadgen: --recorder must be IPv4 ip:port\n");
        return 2;
    }
    if (g->cfg.mirror[0] && !ipv4_addr(g->cfg.mirror, &g->mirror)) {
        fprintf(stderr, "srtprec-loadgen: --mirror must be IPv4 ip:port\n");
        return 2;
    }
    g->n_calls = g->cfg.calls;
    g->n_st = 2 * g->n_calls;
    g->per_stream = (size_t)(g->cfg.duration_ms * g->cfg.pps / 1000);
    if (g->per_stream == 0)
        g->per_stream = 1;
    g->n_pkt = g->n_st * g->per_stream;
    if (g->n_pkt > (size_t)g->cfg.max_mb * 1024 * 1024 / STRIDE) {
        fprintf(stderr, "srtprec-loadgen: %zu packets need %zu MB, over --max-mb=%lu\n", g->n_pkt,
                g->n_pkt * STRIDE / (1024 * 1024) + 1, g->cfg.max_mb);
        return 2;
    }
    g->n_seg = g->cfg.ssrc_every ? (g->per_stream + g->cfg.ssrc_every - 1) / g->cfg.ssrc_every : 1;
    if (g->cfg.prefixes[0] && g->cfg.ssrc_every) {
        fprintf(stderr, "srtprec-loadgen: --prefixes needs one SSRC per stream (no --ssrc-every)\n");
        return 2;
    }
    if (g->cfg.sockets > g->n_st)
        g->cfg.sockets = g->n_st;
    if (g->cfg.seed)
        g->rng = g->cfg.seed;
    else if (sr_random(&g->rng, sizeof(g->rng)) != SR_OK)
        return 2;
    return 0;
}

static enum sr_err sockets_open(struct lg *g)
{
    for (size_t k = 0; k < g->cfg.sockets; k++) {
        struct sockaddr_in local = { .sin_family = AF_INET };
        socklen_t len = sizeof(local);
        char ip[INET_ADDRSTRLEN];
        int sndbuf = 4 << 20;

        local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        g->fds[k] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (g->fds[k] < 0 || bind(g->fds[k], (struct sockaddr *)&local, sizeof(local)) != 0 ||
            (!g->cfg.streams_file[0] &&
             connect(g->fds[k], (struct sockaddr *)&g->recorder, sizeof(g->recorder)) != 0) ||
            getsockname(g->fds[k], (struct sockaddr *)&local, &len) != 0) {
            log_error("UDP socket: %s", strerror(errno));
            return SR_EIO;
        }
        /* Best effort: a larger send buffer only smooths bursts. */
        (void)setsockopt(g->fds[k], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
        inet_ntop(AF_INET, &local.sin_addr, ip, sizeof(ip));
        snprintf(g->src[k], sizeof(g->src[k]), "%s:%u", ip, (unsigned)ntohs(local.sin_port));
    }
    return SR_OK;
}

/* Disclose call i to ka.  rogue: as "rogue-<Call-ID>" with keys of its own
 * (random, used for nothing) for the same SSRCs and fork addresses. */
static enum sr_err disclose(struct lg *g, struct ka_client *ka, size_t i, bool rogue)
{
    struct lg_call *c = &g->calls[i];
    char dst[64], ip[INET_ADDRSTRLEN], laor[64], raor[64], cid[80];
    struct ka_call_info ci = { cid, c->local_tag, c->remote_tag, laor, raor };
    uint8_t wrong[MASTER_LEN];
    enum sr_err err;

    snprintf(cid, sizeof(cid), "%s%s", rogue ? "rogue-" : "", c->call_id);

    snprintf(laor, sizeof(laor), "sip:agent%zu@loadgen.example", i + 1);
    snprintf(raor, sizeof(raor), "sip:customer%zu@pstn.example", i + 1);
    inet_ntop(AF_INET, &g->recorder.sin_addr, ip, sizeof(ip));
    snprintf(dst, sizeof(dst), "%s:%u", ip, (unsigned)ntohs(g->recorder.sin_port));
    err = ka_call_begin(ka, &ci);
    for (int k = 0; k < 2 && !err; k++) {
        struct lg_stream *st = &g->st[2 * i + (size_t)k];
        struct ka_key key = { rogue ? wrong : st->master, MASTER_LEN, 0, 0, 0 };
        /* The top bit flipped: no stream of the run sends that SSRC. */
        uint32_t ssrc = g->cfg.false_ssrc && k == 1 && !rogue ? st->ssrc ^ 0x80000000u : st->ssrc;
        struct ka_stream_info si = {
            .call_id = cid, .stream_id = st->id,
            .direction = k == 0 ? KA_DIR_SEND : KA_DIR_RECV,
            .ssrc_known = true, .ssrc = ssrc, .payload_type = 0, .codec = "PCMU",
            .clock_rate = 8000, .src = g->src[st->sock], .dst = dst,
            .suite = "AES_CM_128_HMAC_SHA1_80", .keys = &key, .n_keys = 1,
            .roc = 0, .seq = 0,
        };
        if (rogue && sr_random(wrong, sizeof(wrong)) != SR_OK)
            err = SR_ECRYPTO;
        else
            err = ka_stream_add(ka, &si);
    }
    sr_wipe(wrong, sizeof(wrong));
    if (err)
        log_error("disclosing call %s: %s%s%s", cid, sr_strerror(err),
                  err == SR_ESTATE ? ": " : "", err == SR_ESTATE ? ka_client_error(ka) : "");
    else if (rogue)
        g->n_rogue++;
    else
        g->n_disclosed++;
    return err;
}

/* Stream j's SSRC during its segment k (consecutive from the stream's
 * first: distinct across the run). */
static uint32_t seg_ssrc(const struct lg *g, size_t j, size_t k)
{
    return g->st[j].ssrc + (uint32_t)(k * g->n_st);
}

static size_t seg_packets(const struct lg *g, size_t k)
{
    size_t every = g->cfg.ssrc_every ? g->cfg.ssrc_every : g->per_stream;
    size_t left = g->per_stream - k * every;

    return left < every ? left : every;
}

/* Stream j's SRTP session and payload hash for its segment k. */
static enum sr_err seg_begin(const struct lg *g, size_t j, size_t k, srtp_t *sess, EVP_MD_CTX *md)
{
    srtp_policy_t pol;

    if (*sess)
        srtp_dealloc(*sess);
    *sess = NULL;
    memset(&pol, 0, sizeof(pol));
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtp);
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtcp);
    pol.ssrc.type = ssrc_specific;
    pol.ssrc.value = seg_ssrc(g, j, k);
    pol.key = (unsigned char *)g->st[j].master;
    pol.window_size = 128;
    if (srtp_create(sess, &pol) != srtp_err_status_ok)
        return SR_ECRYPTO;
    return EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 ? SR_OK : SR_ECRYPTO;
}

static enum sr_err seg_end(struct lg *g, size_t j, size_t k, EVP_MD_CTX *md)
{
    return EVP_DigestFinal_ex(md, g->seg_sha + (j * g->n_seg + k) * 32, NULL) == 1 ? SR_OK
                                                                                 : SR_ECRYPTO;
}

/* Protect every packet of the run, in send order.  Sequence numbers start
 * at 0 (ROC 0 as disclosed) and stay below 65536 for runs up to 21 minutes
 * at 50 pps; longer runs wrap, which libsrtp handles on both sides. */
static enum sr_err prepare(struct lg *g)
{
    srtp_t *sess = calloc(g->n_st, sizeof(*sess));
    EVP_MD_CTX **md = calloc(g->n_st, sizeof(*md));
    EVP_MD_CTX *pre = g->cfg.prefixes[0] ? EVP_MD_CTX_new() : NULL;
    uint32_t *ts = calloc(g->n_st, sizeof(*ts));
    uint64_t prng;
    enum sr_err err = SR_ENOMEM;

    g->pkts = malloc(g->n_pkt * STRIDE);
    g->lens = malloc(g->n_pkt * sizeof(*g->lens));
    g->seg_sha = malloc(g->n_st * g->n_seg * 32);
    if (pre)
        g->pre_sha = malloc(g->n_st * g->per_stream * 32);
    if (!sess || !md || !ts || !g->pkts || !g->lens || !g->seg_sha ||
        (g->cfg.prefixes[0] && (!pre || !g->pre_sha)))
        goto out;
    err = SR_ECRYPTO;
    for (size_t j = 0; j < g->n_st; j++) {
        md[j] = EVP_MD_CTX_new();
        if (!md[j] || seg_begin(g, j, 0, &sess[j], md[j]) != SR_OK)
            goto out;
        ts[j] = (uint32_t)rng_next(&g->rng);
    }
    prng = rng_next(&g->rng);
    for (size_t p = 0; p < g->per_stream; p++) {
        size_t k = g->cfg.ssrc_every ? p / g->cfg.ssrc_every : 0;
        bool seg_start = p == 0 || (g->cfg.ssrc_every && p % g->cfg.ssrc_every == 0);

        for (size_t j = 0; j < g->n_st; j++) {
            size_t at = p * g->n_st + j;
            uint8_t *pkt = g->pkts + at * STRIDE;
            uint32_t ssrc = seg_ssrc(g, j, k), t = ts[j] + (uint32_t)(p * SAMPLES);
            uint16_t seq = (uint16_t)p;
            int len = RTP_HDR + SAMPLES;

            if (p > 0 && seg_start &&
                (seg_end(g, j, k - 1, md[j]) != SR_OK || seg_begin(g, j, k, &sess[j], md[j]) != SR_OK))
                goto out;
            pkt[0] = 0x80;
            pkt[1] = (uint8_t)(seg_start ? 0x80 : 0); /* marker on a segment's first; PT 0 (PCMU) */
            pkt[2] = (uint8_t)(seq >> 8);
            pkt[3] = (uint8_t)seq;
            pkt[4] = (uint8_t)(t >> 24);
            pkt[5] = (uint8_t)(t >> 16);
            pkt[6] = (uint8_t)(t >> 8);
            pkt[7] = (uint8_t)t;
            pkt[8] = (uint8_t)(ssrc >> 24);
            pkt[9] = (uint8_t)(ssrc >> 16);
            pkt[10] = (uint8_t)(ssrc >> 8);
            pkt[11] = (uint8_t)ssrc;
            for (size_t b = 0; b < SAMPLES; b += 8) {
                uint64_t v = rng_next(&prng);
                memcpy(pkt + RTP_HDR + b, &v, 8);
            }
            if (EVP_DigestUpdate(md[j], pkt + RTP_HDR, SAMPLES) != 1 ||
                srtp_protect(sess[j], pkt, &len) != srtp_err_status_ok || len > STRIDE)
                goto out;
            if (pre && (EVP_MD_CTX_copy_ex(pre, md[j]) != 1 ||
                        EVP_DigestFinal_ex(pre, g->pre_sha + (j * g->per_stream + p) * 32, NULL) != 1))
                goto out;
            g->lens[at] = (uint16_t)len;
        }
    }
    for (size_t j = 0; j < g->n_st; j++)
        if (seg_end(g, j, g->n_seg - 1, md[j]) != SR_OK)
            goto out;
    err = SR_OK;
out:
    if (err)
        log_error("preparing %zu packets: %s", g->n_pkt, sr_strerror(err));
    for (size_t j = 0; sess && md && j < g->n_st; j++) {
        if (sess[j])
            srtp_dealloc(sess[j]);
        EVP_MD_CTX_free(md[j]);
    }
    free(sess);
    free(md);
    EVP_MD_CTX_free(pre);
    free(ts);
    return err;
}

/* Send packets [from, to) of the send-order array: each run of consecutive
 * packets on one socket goes out in sendmmsg batches. */
static void send_range(struct lg *g, size_t from, size_t to, struct mmsghdr *msgs,
                       struct iovec *iov)
{
    size_t i = from;

    while (i < to) {
        int sock = g->st[i % g->n_st].sock;
        unsigned n = 0;
        int rc;

        while (i + n < to && n < g->cfg.batch && g->st[(i + n) % g->n_st].sock == sock) {
            iov[n].iov_base = g->pkts + (i + n) * STRIDE;
            iov[n].iov_len = g->lens[i + n];
            memset(&msgs[n], 0, sizeof(msgs[n]));
            if (g->cfg.streams_file[0]) {
                msgs[n].msg_hdr.msg_name = &g->st[(i + n) % g->n_st].dst;
                msgs[n].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
            }
            msgs[n].msg_hdr.msg_iov = &iov[n];
            msgs[n].msg_hdr.msg_iovlen = 1;
            n++;
        }
        rc = sendmmsg(g->fds[sock], msgs, n, 0);
        if (rc > 0 && g->mirror.sin_port) {
            /* The same packets to the second recorder: a failure there
             * (it was killed) is its loss, counted apart. */
            for (int k = 0; k < rc; k++) {
                msgs[k].msg_hdr.msg_name = &g->mirror;
                msgs[k].msg_hdr.msg_namelen = sizeof(g->mirror);
            }
            int mc = sendmmsg(g->fds[sock], msgs, (unsigned)rc, 0);
            g->mirror_sent += mc > 0 ? (uint64_t)mc : 0;
        }
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            /* ECONNREFUSED (the recorder's port closed) or a full buffer:
             * the packet is lost at the sender, and counted. */
            g->send_errors++;
            rc = 1;
        } else {
            g->sent += (uint64_t)rc;
        }
        i += (size_t)rc;
    }
}

/* The due count grows linearly with time at streams x pps packets per
 * second, so every stream gets its packets at an even 1/pps spacing, and
 * the load on the recorder is smooth rather than a burst every 20 ms. */
static enum sr_err media(struct lg *g)
{
    struct mmsghdr *msgs = calloc(g->cfg.batch, sizeof(*msgs));
    struct iovec *iov = calloc(g->cfg.batch, sizeof(*iov));
    double rate = (double)g->n_st * (double)g->cfg.pps; /* packets per us x 1e6 */
    uint64_t start = sr_now_us(), next_poll = start + g->cfg.poll_ms * 1000;
    size_t cursor = 0;

    if (!msgs || !iov) {
        free(msgs);
        free(iov);
        return SR_ENOMEM;
    }
    while (cursor < g->n_pkt) {
        size_t due = g->n_pkt;

        if (!g->cfg.fast) {
            double d = (double)(sr_now_us() - start) * rate / 1e6;
            due = d >= (double)g->n_pkt ? g->n_pkt : (size_t)d + 1;
        }
        if (g->cfg.poll_ms && g->ka && sr_now_us() >= next_poll) {
            /* Blocks only to reconnect and re-disclose, after a restart. */
            if (ka_client_poll(g->ka) != SR_OK)
                g->polls_failed++;
            next_poll = sr_now_us() + g->cfg.poll_ms * 1000;
        }
        if (due > cursor) {
            send_range(g, cursor, due, msgs, iov);
            cursor = due;
        } else {
            struct timespec nap = { 0, 500000 }; /* 0.5 ms: well inside one 20 ms ptime */
            nanosleep(&nap, NULL);
        }
    }
    g->send_us = sr_now_us() - start;
    free(msgs);
    free(iov);
    return SR_OK;
}

/* Keys and destinations per stream from --streams-file (see the top). */
static enum sr_err streams_read(struct lg *g)
{
    FILE *f = fopen(g->cfg.streams_file, "re");
    char line[512];
    size_t j = 0;
    enum sr_err err = SR_OK;

    if (!f) {
        log_error("%s: %s", g->cfg.streams_file, strerror(errno));
        return SR_EIO;
    }
    while (err == SR_OK && fgets(line, sizeof(line), f)) {
        struct slice cur = slice_trim(slice_cstr(line)), key, addr;

        if (slice_is_empty(cur))
            continue;
        key = slice_split(&cur, '\t');
        addr = slice_split(&cur, '\t');
        if (j >= g->n_st || !sr_hex_decode(key, g->st[j].master, MASTER_LEN) ||
            !ipv4_slice(addr, &g->st[j].dst)) {
            log_error("%s: line %zu: want %zu lines of <60 hex digits>\t<IPv4 ip:port>",
                      g->cfg.streams_file, j + 1, g->n_st);
            err = SR_EPARSE;
            break;
        }
        j++;
    }
    if (err == SR_OK && j != g->n_st) {
        log_error("%s: %zu streams, --calls=%zu needs %zu", g->cfg.streams_file, j, g->n_calls,
                  g->n_st);
        err = SR_EPARSE;
    }
    sr_wipe(line, sizeof(line));
    fclose(f);
    return err;
}

static void sleep_ms(unsigned long ms)
{
    struct timespec t = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
}

static enum sr_err setup(struct lg *g)
{
    uint32_t ssrc_base;
    enum sr_err err;

    for (size_t k = 0; k < MAX_SOCKETS; k++)
        g->fds[k] = -1;
    if (srtp_init() != srtp_err_status_ok)
        return SR_ECRYPTO;
    g->calls = calloc(g->n_calls, sizeof(*g->calls));
    g->st = calloc(g->n_st, sizeof(*g->st));
    if (!g->calls || !g->st)
        return SR_ENOMEM;
    err = sockets_open(g);
    if (err)
        return err;
    /* Consecutive SSRCs from a random base: distinct by construction, so no
     * two streams of the run collide in the recorder's SSRC table. */
    ssrc_base = (uint32_t)rng_next(&g->rng);
    for (size_t i = 0; i < g->n_calls; i++) {
        struct lg_call *c = &g->calls[i];
        char hex[33];

        rng_hex(&g->rng, hex, 24);
        snprintf(c->call_id, sizeof(c->call_id), "%s@loadgen.example", hex);
        rng_hex(&g->rng, c->local_tag, 16);
        rng_hex(&g->rng, c->remote_tag, 16);
        for (size_t k = 0; k < 2; k++) {
            size_t j = 2 * i + k;
            struct lg_stream *st = &g->st[j];

            memcpy(st->id, k == 0 ? "tx" : "rx", 3);
            st->sock = (int)(j * g->cfg.sockets / g->n_st);
            st->ssrc = ssrc_base + (uint32_t)j;
            if (!g->cfg.streams_file[0] && sr_random(st->master, sizeof(st->master)) != SR_OK)
                return SR_ECRYPTO;
        }
    }
    if (g->cfg.streams_file[0] && (err = streams_read(g)) != SR_OK)
        return err;
    err = prepare(g);
    if (err)
        return err;
    if (g->cfg.streams_file[0]) {
        for (size_t j = 0; j < g->n_st; j++)
            sr_wipe(g->st[j].master, sizeof(g->st[j].master));
        return SR_OK;
    }
    err = ka_client_connect(&g->ka, g->cfg.control);
    if (err) {
        log_error("control socket %s: %s", g->cfg.control, sr_strerror(err));
        return err;
    }
    if (g->cfg.rogue_control[0]) {
        err = ka_client_connect(&g->rogue, g->cfg.rogue_control);
        if (err)
            log_error("control socket %s: %s", g->cfg.rogue_control, sr_strerror(err));
        for (size_t i = 0; i < g->n_calls && !err; i++)
            err = disclose(g, g->rogue, i, true);
        /* The rogue's keys reach the recorder first. */
        if (!err)
            sleep_ms(g->cfg.settle_ms);
    }
    for (size_t i = 0; i < g->n_calls && !err; i++)
        err = disclose(g, g->ka, i, false);
    /* The keys have left; keep no copy longer than needed. */
    for (size_t j = 0; j < g->n_st; j++)
        sr_wipe(g->st[j].master, sizeof(g->st[j].master));
    return err;
}

static enum sr_err end_calls(struct lg *g)
{
    enum sr_err err = SR_OK;

    for (size_t i = 0; i < g->n_disclosed; i++) {
        enum sr_err e = ka_call_end(g->ka, g->calls[i].call_id);
        if (e) {
            log_error("END %s: %s", g->calls[i].call_id, sr_strerror(e));
            err = e;
        }
    }
    for (size_t i = 0; i < g->n_rogue; i++) {
        char cid[80];
        enum sr_err e;

        snprintf(cid, sizeof(cid), "rogue-%s", g->calls[i].call_id);
        e = ka_call_end(g->rogue, cid);
        if (e) {
            log_error("END %s: %s", cid, sr_strerror(e));
            err = e;
        }
    }
    return err;
}

/* --prefixes: one line per stream and count, the --out format. */
static enum sr_err prefixes_write(const struct lg *g)
{
    FILE *f = fopen(g->cfg.prefixes, "we");

    if (!f) {
        log_error("%s: %s", g->cfg.prefixes, strerror(errno));
        return SR_EIO;
    }
    fprintf(f, "call_id\tstream_id\tssrc\tpackets\tsha256\n");
    for (size_t j = 0; j < g->n_st; j++)
        for (size_t p = 0; p < g->per_stream; p++) {
            char hex[65];

            sr_hex_encode(g->pre_sha + (j * g->per_stream + p) * 32, 32, hex);
            fprintf(f, "%s\t%s\t%08" PRIx32 "\t%zu\t%s\n", g->calls[j / 2].call_id, g->st[j].id,
                    seg_ssrc(g, j, 0), p + 1, hex);
        }
    return fclose(f) == 0 ? SR_OK : SR_EIO;
}

static enum sr_err results_write(struct lg *g)
{
    enum sr_err err = SR_OK;
    FILE *f;

    if (g->cfg.prefixes[0] && prefixes_write(g) != SR_OK)
        return SR_EIO;
    f = fopen(g->cfg.out, "we");

    if (!f) {
        log_error("%s: %s", g->cfg.out, strerror(errno));
        return SR_EIO;
    }
    fprintf(f, "call_id\tstream_id\tssrc\tpackets\tsha256\n");
    for (size_t j = 0; j < g->n_st; j++)
        for (size_t k = 0; k < g->n_seg; k++) {
            char hex[65];

            sr_hex_encode(g->seg_sha + (j * g->n_seg + k) * 32, 32, hex);
            fprintf(f, "%s\t%s\t%08" PRIx32 "\t%zu\t%s\n", g->calls[j / 2].call_id,
                    g->st[j].id, seg_ssrc(g, j, k), seg_packets(g, k), hex);
        }
    if (fclose(f) != 0)
        err = SR_EIO;
    return err;
}

static void cleanup(struct lg *g)
{
    for (size_t k = 0; k < MAX_SOCKETS; k++)
        if (g->fds[k] >= 0)
            close(g->fds[k]);
    if (g->st)
        for (size_t j = 0; j < g->n_st; j++)
            sr_wipe(g->st[j].master, sizeof(g->st[j].master));
    free(g->st);
    free(g->calls);
    free(g->pkts);
    free(g->lens);
    free(g->seg_sha);
    free(g->pre_sha);
    ka_client_close(g->ka);
    ka_client_close(g->rogue);
    srtp_shutdown();
}

int main(int argc, char **argv)
{
    struct lg g = { 0 };
    uint64_t t0;
    int rc = options(&g, argc, argv);

    if (rc)
        return rc == 1 ? 0 : rc;
    signal(SIGPIPE, SIG_IGN);
    rc = 1;
    t0 = sr_now_us();
    if (setup(&g) == SR_OK) {
        log_notice("%zu calls disclosed, %zu packets ready (%zu MB) in %.1f s", g.n_calls,
                   g.n_pkt, g.n_pkt * STRIDE >> 20, (double)(sr_now_us() - t0) / 1e6);
        if (g.cfg.start_file[0]) {
            /* The caller knows when the recorder has every call open (its
             * archives are created off no packet), and says so. */
            for (int i = 0; i < 60000 && access(g.cfg.start_file, F_OK) != 0; i++)
                sleep_ms(10);
        } else {
            sleep_ms(g.cfg.settle_ms);
        }
        if (media(&g) == SR_OK) {
            sleep_ms(g.cfg.end_delay_ms);
            rc = end_calls(&g) == SR_OK && results_write(&g) == SR_OK && g.send_errors == 0 ? 0 : 1;
            printf("calls=%zu streams=%zu packets=%zu sent=%" PRIu64 " send_errors=%" PRIu64
                   " seconds=%.3f rate_pps=%.0f mode=%s rogue_calls=%zu polls_failed=%" PRIu64
                   " mirror_sent=%" PRIu64 "\n",
                   g.n_calls, g.n_st, g.n_pkt, g.sent, g.send_errors, (double)g.send_us / 1e6,
                   g.send_us ? (double)g.sent * 1e6 / (double)g.send_us : 0.0,
                   g.cfg.fast ? "fast" : "paced", g.n_rogue, g.polls_failed, g.mirror_sent);
        }
    } else if (g.ka || g.rogue) {
        (void)end_calls(&g); /* END what was disclosed, so the keyagent forgets the keys */
    }
    cleanup(&g);
    return rc;
}
