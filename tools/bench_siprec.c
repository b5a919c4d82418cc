/** @file bench_siprec.c  SIPREC session set-up rate against a running
 *  srtprec-recorder over mutual TLS (docs/benchmarks.md).
 *
 *   bench_siprec --target=127.0.0.1:P --cert=C --key=K --ca=CA
 *                [--conns=8] [--seconds=10] [--rate=500]
 *
 * --conns TLS connections (one recording client identity); on each, one
 * session at a time: INVITE (two SDES streams, RFC 7865 metadata, the body
 * an SBC sends), the 200's latency measured from the INVITE's send, ACK,
 * BYE, its 200.  New INVITEs are paced to --rate per second in all (0:
 * as fast as the server answers).  Prints sessions/s and the INVITE->200
 * latency min, p50, p99, max.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "log.h"
#include "sipev.h"
#include "util.h"

enum { MAX_CONNS = 256 };

struct bcfg {
    char target[CONF_STR_MAX], cert[CONF_STR_MAX], key[CONF_STR_MAX], ca[CONF_STR_MAX];
    unsigned long conns, seconds, rate;
};

#define F(x) offsetof(struct bcfg, x)
static const struct conf_item items[] = {
    { "target", CONF_STR, F(target), NULL, 0, 0, "the SRS: IPv4 host:port" },
    { "cert", CONF_STR, F(cert), NULL, 0, 0, "client certificate (an allowed SRC)" },
    { "key", CONF_STR, F(key), NULL, 0, 0, "its key" },
    { "ca", CONF_STR, F(ca), NULL, 0, 0, "CA" },
    { "conns", CONF_UINT, F(conns), "8", 1, MAX_CONNS, "TLS connections" },
    { "seconds", CONF_UINT, F(seconds), "10", 1, 3600, "duration" },
    { "rate", CONF_UINT, F(rate), "500", 0, 1000000, "INVITEs per second in all; 0: unpaced" },
};
#undef F

enum phase { IDLE, INVITING, BYEING };

struct bconn {
    struct sipev_conn *c;
    enum phase ph;
    char call_id[64], to_tag[128], local[32];
    uint64_t sent_us;
    unsigned n;
};

static uint64_t *lat;
static size_t n_lat, cap_lat;
static uint64_t failures;

static bool on_msg(struct sipev_conn *sc, const struct sipev_msg *m, void *arg)
{
    struct bconn *b = arg;
    const struct sipev_hdr *to = sipev_msg_hdr(m, SIPEV_HDR_TO);
    struct slice tag;

    (void)sc;
    if (!m->status || m->status < 200)
        return true;
    if (b->ph == INVITING) {
        if (m->status != 200) {
            failures++;
            b->ph = IDLE;
            return true;
        }
        if (n_lat < cap_lat)
            lat[n_lat++] = sr_now_us() - b->sent_us;
        if (to && sipev_param(to->value, "tag", &tag))
            slice_copy_cstr(tag, b->to_tag, sizeof(b->to_tag));
        b->ph = BYEING; /* the main loop sends ACK and BYE */
        b->sent_us = 0;
    } else if (b->ph == BYEING) {
        b->ph = IDLE;
    }
    return true;
}

static void send_req(struct bconn *b, const char *method, uint32_t cseq, const char *to_tag,
                     const char *ctype, const char *body, size_t body_len)
{
    struct buf out;
    char branch[48], tok[24], contact[96];
    struct sipev_extra_hdr h[1] = { { "Require", "siprec" } };
    struct sipev_req r = { 0 };

    buf_init(&out, 65536);
    sipev_random_token(tok, sizeof(tok));
    snprintf(branch, sizeof(branch), "z9hG4bK%s", tok);
    snprintf(contact, sizeof(contact), "<sip:sbc@%s;transport=tls>;+sip.src", b->local);
    r.method = method;
    r.ruri = "sip:srs@127.0.0.1";
    r.via_transport = "TLS";
    r.via_host = b->local;
    r.branch = branch;
    r.from_uri = "sip:sbc@example.net";
    r.from_tag = "bench";
    r.to_uri = "sip:srs@example.net";
    r.to_tag = to_tag;
    r.call_id = b->call_id;
    r.cseq = cseq;
    r.contact = contact;
    r.extra = h;
    r.n_extra = strcmp(method, "INVITE") == 0 ? 1 : 0;
    r.content_type = ctype;
    r.body = body;
    r.body_len = body_len;
    if (sipev_req_print(&out, &r) == SR_OK)
        sipev_conn_send(b->c, out.p, out.len);
    buf_fini(&out);
}

static const char *body_of(size_t *len)
{
    static char b[4096];
    int n = snprintf(b, sizeof(b),
        "--bb\r\nContent-Type: application/sdp\r\n\r\n"
        "v=0\r\no=sbc 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        "m=audio 9000 RTP/SAVP 0\r\na=label:1\r\na=sendonly\r\n"
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n"
        "m=audio 9002 RTP/SAVP 0\r\na=label:2\r\na=sendonly\r\n"
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk\r\n"
        "\r\n--bb\r\nContent-Type: application/rs-metadata+xml\r\n"
        "Content-Disposition: recording-session\r\n\r\n"
        "<?xml version=\"1.0\"?><recording xmlns=\"urn:ietf:params:xml:ns:recording:1\">"
        "<datamode>complete</datamode><session session_id=\"c2U=\"/>"
        "<participant participant_id=\"cDA=\"><nameID aor=\"sip:a@x.example\"/></participant>"
        "<participant participant_id=\"cDE=\"><nameID aor=\"sip:b@y.example\"/></participant>"
        "<stream stream_id=\"czE=\" session_id=\"c2U=\"><label>1</label></stream>"
        "<stream stream_id=\"czI=\" session_id=\"c2U=\"><label>2</label></stream>"
        "<participantstreamassoc participant_id=\"cDA=\"><send>czE=</send></participantstreamassoc>"
        "<participantstreamassoc participant_id=\"cDE=\"><send>czI=</send></participantstreamassoc>"
        "</recording>\r\n--bb--\r\n");
    *len = (size_t)n;
    return b;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    static struct bcfg cfg;
    static struct bconn bc[MAX_CONNS];
    struct sipev_tls_cfg tc;
    struct sockaddr_in sa = { .sin_family = AF_INET };
    SSL_CTX *tls = NULL;
    char why[256], host[64];
    int help = 0;
    uint64_t start, end, next_at, sessions = 0, step;
    size_t blen;
    const char *body = body_of(&blen);
    const char *colon;

    signal(SIGPIPE, SIG_IGN);
    if (conf_load(items, SR_ARRAY_LEN(items), &cfg, "bench-siprec", argc, argv, &help, why,
                  sizeof(why)) != SR_OK || help) {
        fprintf(stderr, "bench_siprec: %s\n", help ? "see the file comment" : why);
        return 2;
    }
    log_setup(LOG_LVL_WARN, "bench_siprec", 0);
    colon = strrchr(cfg.target, ':');
    snprintf(host, sizeof(host), "%.*s", colon ? (int)(colon - cfg.target) : 0, cfg.target);
    if (!colon || inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return 2;
    sa.sin_port = htons((uint16_t)atoi(colon + 1));
    tc = (struct sipev_tls_cfg){ cfg.cert, cfg.key, cfg.ca, NULL, false };
    if (sipev_tls_ctx_create(&tls, &tc, NULL, 0) != SR_OK)
        return 2;
    cap_lat = cfg.seconds * (cfg.rate ? cfg.rate : 20000) + 1024;
    lat = calloc(cap_lat, sizeof(*lat));
    for (size_t i = 0; i < cfg.conns; i++) {
        struct sipev_conn_cfg cc = { 0 };
        struct sockaddr_in l;
        socklen_t ll = sizeof(l);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
            return 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        getsockname(fd, (struct sockaddr *)&l, &ll);
        snprintf(bc[i].local, sizeof(bc[i].local), "127.0.0.1:%u", (unsigned)ntohs(l.sin_port));
        cc.tls = tls;
        cc.fd = fd;
        cc.on_msg = on_msg;
        cc.arg = &bc[i];
        if (sipev_conn_create(&bc[i].c, &cc) != SR_OK)
            return 1;
    }
    step = cfg.rate ? 1000000u / cfg.rate : 0;
    start = next_at = sr_now_us();
    end = start + cfg.seconds * 1000000u;
    while (sr_now_us() < end) {
        struct pollfd p[MAX_CONNS];
        uint64_t now = sr_now_us();
        for (size_t i = 0; i < cfg.conns; i++) {
            struct bconn *b = &bc[i];
            if (b->ph == BYEING && b->sent_us == 0) {
                send_req(b, "ACK", 1, b->to_tag, NULL, NULL, 0);
                send_req(b, "BYE", 2, b->to_tag, NULL, NULL, 0);
                b->sent_us = now;
                sessions++;
            } else if (b->ph == IDLE && sipev_conn_established(b->c) && now >= next_at) {
                snprintf(b->call_id, sizeof(b->call_id), "bench-%zu-%u@sbc", i, b->n++);
                b->to_tag[0] = '\0';
                b->ph = INVITING;
                b->sent_us = now;
                send_req(b, "INVITE", 1, NULL, "multipart/mixed;boundary=bb", body, blen);
                next_at = step ? next_at + step : now;
                if (next_at + 100000u < now)
                    next_at = now; /* behind: no catch-up burst */
            }
            if (sipev_conn_established(b->c) == false && now > start + 5000000u)
                return 1;
            p[i].fd = sipev_conn_fd(b->c);
            p[i].events = POLLIN | (sipev_conn_want_write(b->c) ? POLLOUT : 0);
        }
        poll(p, cfg.conns, 1);
        for (size_t i = 0; i < cfg.conns; i++)
            if (sipev_conn_io(bc[i].c) != SR_OK) {
                fprintf(stderr, "bench_siprec: connection %zu failed\n", i);
                return 1;
            }
    }
    qsort(lat, n_lat, sizeof(*lat), cmp_u64);
    if (!n_lat) {
        fprintf(stderr, "bench_siprec: no session answered (%llu failures)\n",
                (unsigned long long)failures);
        return 1;
    }
    printf("sessions=%llu seconds=%lu rate=%.1f/s failures=%llu answer_us min=%llu p50=%llu "
           "p99=%llu max=%llu\n",
           (unsigned long long)sessions, cfg.seconds, (double)sessions / (double)cfg.seconds,
           (unsigned long long)failures, (unsigned long long)lat[0],
           (unsigned long long)lat[n_lat / 2], (unsigned long long)lat[n_lat * 99 / 100],
           (unsigned long long)lat[n_lat - 1]);
    for (size_t i = 0; i < cfg.conns; i++)
        sipev_conn_destroy(bc[i].c);
    SSL_CTX_free(tls);
    free(lat);
    return failures ? 1 : 0;
}
