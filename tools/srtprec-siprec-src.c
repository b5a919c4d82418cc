/** @file srtprec-siprec-src.c  A SIPREC recording client (SRC) for tests:
 *  what an SBC does towards a recording server, over mutual TLS.
 *
 * Sends one INVITE (Require: siprec, Contact with +sip.src) whose
 * multipart/mixed body holds the recording SDP (--streams m= lines,
 * RTP/SAVP, a=crypto AES_CM_128_HMAC_SHA1_80 with a fresh key, a=label,
 * a=sendonly) and RFC 7865 metadata (two participants, each sending
 * alternate streams); reads the answer's ports; ACKs; sends 20 ms PCMU
 * packets protected with libsrtp (rec_srtp) from one UDP socket per stream
 * for --duration-ms; with --rekey, halfway through, a re-INVITE with new
 * keys (and a new label on stream 0 with --relabel) and the rest under the
 * new keys; then BYE.  --out-dir gets, per stream, the payload bytes sent
 * (<label>.ul), manifest.tsv (label, participant AOR, direction, packets,
 * file), and each metadata document as sent (metadata-<n>.xml, n from 0).
 *
 * For refusal tests: --expect=STATUS makes the exit status 0 exactly when
 * the INVITE's final response has that status (its Warning is printed);
 * --plain-streams=N makes the last N streams plain RTP (RTP/AVP, no
 * a=crypto, sent unprotected); --late-metadata (with --rekey) leaves the
 * metadata out of the INVITE and sends it in the re-INVITE;
 * --transfer-streams=N (with --rekey) adds N streams to the re-INVITE, sent
 * by a third participant from then on (streams added on a transfer).
 *
 * --variant=no-require|extra-require|no-src|dtls|no-body|bad-crypto sends a
 * broken INVITE.  Prints "status N" and, on 200, "ports P1 P2 ...".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "log.h"
#include "rec.h"
#include "sipev.h"
#include "srtpkey.h"
#include "util.h"
#include "version.h"

enum { MAX_STREAMS = 8, SAMPLES = 160, MASTER_LEN = 30 };

struct src_cfg {
    char target[CONF_STR_MAX];
    char cert[CONF_STR_MAX], key[CONF_STR_MAX], ca[CONF_STR_MAX];
    char out_dir[CONF_STR_MAX];
    char variant[64];
    char call_id[CONF_STR_MAX];
    unsigned long streams, duration_ms, expect, session_expires, plain_streams, transfer_streams;
    bool rekey, relabel, plain, late_metadata;
};

#define F(x) offsetof(struct src_cfg, x)
static const struct conf_item conf_items[] = {
    { "target", CONF_STR, F(target), NULL, 0, 0, "the SRS: IPv4 host:port" },
    { "cert", CONF_STR, F(cert), "", 0, 0, "our PEM certificate (the SRC identity)" },
    { "key", CONF_STR, F(key), "", 0, 0, "its key" },
    { "ca", CONF_STR, F(ca), "", 0, 0, "CA the SRS certificate chains to" },
    { "plain", CONF_BOOL, F(plain), "no", 0, 0, "plain TCP (the SRS's lab mode)" },
    { "out-dir", CONF_STR, F(out_dir), "", 0, 0, "payload files and manifest.tsv" },
    { "streams", CONF_UINT, F(streams), "2", 1, MAX_STREAMS, "recorded streams (m= lines)" },
    { "duration-ms", CONF_UINT, F(duration_ms), "2000", 0, 600000, "media per stream" },
    { "expect", CONF_UINT, F(expect), "200", 100, 699, "final status the INVITE must get" },
    { "variant", CONF_STR, F(variant), "", 0, 0,
      "no-require|extra-require|no-src|dtls|no-body|bad-crypto|meta-plain (a broken or unusual "
      "INVITE)" },
    { "call-id", CONF_STR, F(call_id), "", 0, 0, "Call-ID (default: random)" },
    { "rekey", CONF_BOOL, F(rekey), "no", 0, 0, "re-INVITE with new keys halfway" },
    { "relabel", CONF_BOOL, F(relabel), "no", 0, 0, "with rekey: stream 0 gets a new label" },
    { "session-expires", CONF_UINT, F(session_expires), "0", 0, 86400,
      "ask for RFC 4028 session timers (0: no)" },
    { "plain-streams", CONF_UINT, F(plain_streams), "0", 0, MAX_STREAMS,
      "the last N streams are plain RTP (RTP/AVP, no a=crypto, sent unprotected)" },
    { "transfer-streams", CONF_UINT, F(transfer_streams), "0", 0, MAX_STREAMS - 1,
      "with rekey: the re-INVITE adds N streams sent by a third participant (a transfer)" },
    { "late-metadata", CONF_BOOL, F(late_metadata), "no", 0, 0,
      "with rekey: the INVITE carries SDP alone, the metadata comes in the re-INVITE "
      "(RFC 7866 allows it)" },
};
#undef F

struct src_stream {
    char label[32];
    char file[40];          /* <first label>.ul */
    const char *aor;
    int fd;
    unsigned port;
    uint32_t ssrc, ts;
    uint16_t seq;
    uint8_t master[MASTER_LEN];
    struct rec_srtp *tx;
    unsigned packets;
    FILE *ul;
};

struct src {
    struct src_cfg cfg;
    SSL_CTX *tls;
    struct sipev_conn *conn;
    struct sockaddr_in srs;
    char call_id[CONF_STR_MAX], from_tag[24], to_tag[128], branch[48], local[64];
    uint32_t cseq;
    unsigned last_status;
    char last_warning[512];
    char answer[8192];
    size_t answer_len;
    bool got_final;
    unsigned n_meta;        /* metadata documents sent (--out-dir: metadata-<n>.xml) */
    unsigned n_active;      /* m= lines offered now (streams, + transfer_streams after the
                               re-INVITE) */
    unsigned n_total;       /* streams + transfer_streams */
    struct src_stream st[MAX_STREAMS];
};

static const char *const aors[3] = { "sip:alice@callcentre.example", "sip:bob@pstn.example",
                                      "sip:carol@transfer.example" };

static bool on_msg(struct sipev_conn *c, const struct sipev_msg *m, void *arg)
{
    struct src *s = arg;
    const struct sipev_hdr *to = sipev_msg_hdr(m, SIPEV_HDR_TO);
    struct slice tag;

    (void)c;
    if (!m->status)
        return true; /* the SRS's BYE or UPDATE: not expected here */
    if (m->status < 200)
        return true;
    s->last_status = m->status;
    s->got_final = true;
    s->last_warning[0] = '\0';
    for (size_t i = 0; i < m->n_hdr; i++)
        if (slice_eq_nocase(m->hdr[i].name, SLICE_LIT("Warning")))
            slice_copy_cstr(m->hdr[i].value, s->last_warning, sizeof(s->last_warning));
    if (to && sipev_param(to->value, "tag", &tag) && !s->to_tag[0])
        slice_copy_cstr(tag, s->to_tag, sizeof(s->to_tag));
    s->answer_len = m->body.len < sizeof(s->answer) - 1 ? m->body.len : 0;
    memcpy(s->answer, m->body.p, s->answer_len);
    s->answer[s->answer_len] = '\0';
    return true;
}

/* Drive the connection until a final response (or the deadline). */
static bool wait_final(struct src *s, int ms)
{
    uint64_t until = sr_now_us() + (uint64_t)ms * 1000u;

    s->got_final = false;
    while (!s->got_final && sr_now_us() < until) {
        struct pollfd p = { sipev_conn_fd(s->conn), POLLIN, 0 };
        if (sipev_conn_want_write(s->conn))
            p.events |= POLLOUT;
        poll(&p, 1, 50);
        if (sipev_conn_io(s->conn) != SR_OK)
            return false;
    }
    return s->got_final;
}

static enum sr_err conn_open(struct src *s)
{
    struct sipev_conn_cfg cc = { 0 };
    struct sockaddr_in local;
    socklen_t ll = sizeof(local);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0 || connect(fd, (struct sockaddr *)&s->srs, sizeof(s->srs)) != 0) {
        log_error("connect %s: %s", s->cfg.target, strerror(errno));
        if (fd >= 0)
            close(fd);
        return SR_EIO;
    }
    getsockname(fd, (struct sockaddr *)&local, &ll);
    snprintf(s->local, sizeof(s->local), "127.0.0.1:%u", (unsigned)ntohs(local.sin_port));
    cc.tls = s->tls;
    cc.fd = fd;
    cc.on_msg = on_msg;
    cc.arg = s;
    if (sipev_conn_create(&s->conn, &cc) != SR_OK) {
        close(fd);
        return SR_EIO;
    }
    return SR_OK;
}

static void key_b64(const uint8_t *master, char *out, size_t cap)
{
    struct srtpkey_key k = { 0 };
    size_t len = 0;

    memcpy(k.master, master, MASTER_LEN);
    k.master_len = MASTER_LEN;
    if (srtpkey_param_print(&k, SRTPKEY_SUITE_AES_CM_128_HMAC_SHA1_80, out, cap, &len) != SR_OK)
        out[0] = '\0';
    srtpkey_key_wipe(&k);
}

static bool stream_plain(const struct src *s, unsigned i)
{
    return i < s->cfg.streams && i + s->cfg.plain_streams >= s->cfg.streams;
}

/* --out-dir: the metadata document exactly as sent (the part's body: the
 * CRLF before the next delimiter belongs to the delimiter, RFC 2046 5.1.1). */
static void metadata_save(struct src *s, const char *doc, size_t len)
{
    char path[CONF_STR_MAX + 32];
    FILE *f;

    if (!s->cfg.out_dir[0])
        return;
    snprintf(path, sizeof(path), "%s/metadata-%u.xml", s->cfg.out_dir, s->n_meta);
    f = fopen(path, "we");
    if (!f || fwrite(doc, 1, len, f) != len)
        log_error("%s: %s", path, strerror(errno));
    if (f)
        fclose(f);
}

static void body_print(struct src *s, struct buf *b, unsigned version, bool with_metadata)
{
    size_t doc_at;

    const char *v = s->cfg.variant;
    bool dtls = strcmp(v, "dtls") == 0;

    buf_printf(b, "--srtprec-boundary-1\r\nContent-Type: application/sdp\r\n\r\n");
    buf_printf(b, "v=0\r\no=sbc 42 %u IN IP4 127.0.0.1\r\ns=SIPREC\r\nc=IN IP4 127.0.0.1\r\n"
                  "t=0 0\r\n", version);
    for (unsigned i = 0; i < s->n_active; i++) {
        char key[128];
        key_b64(s->st[i].master, key, sizeof(key));
        buf_printf(b, "m=audio %u %s 0\r\na=rtpmap:0 PCMU/8000\r\na=label:%s\r\na=sendonly\r\n",
                   9000 + 2 * i,
                   dtls ? "UDP/TLS/RTP/SAVP" : stream_plain(s, i) ? "RTP/AVP" : "RTP/SAVP",
                   s->st[i].label);
        if (dtls)
            buf_printf(b, "a=setup:actpass\r\na=fingerprint:sha-256 "
                          "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:"
                          "89:AB:CD:EF:01:23:45:67:89\r\n");
        else if (stream_plain(s, i))
            buf_printf(b, "a=ptime:20\r\n"); /* RTP/AVP: no a=crypto */
        else if (strcmp(v, "bad-crypto") == 0)
            buf_printf(b, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:notbase64!!\r\n");
        else
            buf_printf(b, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 %s\r\n", key);
        sr_wipe(key, sizeof(key));
    }
    if (!with_metadata) {
        buf_printf(b, "\r\n--srtprec-boundary-1--\r\n");
        return;
    }
    buf_printf(b, "\r\n--srtprec-boundary-1\r\nContent-Type: application/rs-metadata%s\r\n"
                  "Content-Disposition: recording-session\r\n\r\n",
               strcmp(v, "meta-plain") == 0 ? "" : "+xml");
    doc_at = b->len;
    buf_printf(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
                  "<recording xmlns=\"urn:ietf:params:xml:ns:recording:1\">\r\n"
                  "<datamode>complete</datamode>\r\n"
                  "<session session_id=\"c2Vzc2lvbjE=\"><sipSessionID>%s</sipSessionID>"
                  "</session>\r\n", s->call_id);
    for (unsigned p = 0; p < (s->n_active > s->cfg.streams ? 3u : 2u); p++)
        buf_printf(b, "<participant participant_id=\"cGFydDE%u\"><nameID aor=\"%s\">"
                      "<name>Party %u</name></nameID></participant>\r\n",
                   p, aors[p], p);
    for (unsigned i = 0; i < s->n_active; i++)
        buf_printf(b, "<stream stream_id=\"c3RyZWFt%u\" session_id=\"c2Vzc2lvbjE=\">"
                      "<label>%s</label></stream>\r\n", i, s->st[i].label);
    for (unsigned p = 0; p < 2; p++) {
        buf_printf(b, "<participantstreamassoc participant_id=\"cGFydDE%u\">", p);
        for (unsigned i = p; i < s->cfg.streams; i += 2)
            buf_printf(b, "<send>c3RyZWFt%u</send>", i);
        buf_printf(b, "</participantstreamassoc>\r\n");
    }
    if (s->n_active > s->cfg.streams) { /* the transferred-to party sends the added streams */
        buf_printf(b, "<participantstreamassoc participant_id=\"cGFydDE2\">");
        for (unsigned i = (unsigned)s->cfg.streams; i < s->n_active; i++)
            buf_printf(b, "<send>c3RyZWFt%u</send>", i);
        buf_printf(b, "</participantstreamassoc>\r\n");
    }
    buf_printf(b, "</recording>");
    if (b->len > doc_at)
        metadata_save(s, b->p + doc_at, b->len - doc_at);
    s->n_meta++;
    buf_printf(b, "\r\n--srtprec-boundary-1--\r\n");
}

static enum sr_err send_invite(struct src *s, bool initial)
{
    const char *v = s->cfg.variant;
    struct sipev_extra_hdr h[4];
    size_t n = 0;
    struct buf body, out;
    char contact[128], tok[24], se[48];
    struct sipev_req r = { 0 };
    enum sr_err err;

    buf_init(&body, 65536);
    buf_init(&out, 131072);
    if (strcmp(v, "no-body") != 0)
        body_print(s, &body, s->cseq, !(initial && s->cfg.late_metadata));
    if (strcmp(v, "no-require") != 0)
        h[n++] = (struct sipev_extra_hdr){ "Require",
                                           strcmp(v, "extra-require") == 0 ? "siprec, foo-bar"
                                                                            : "siprec" };
    if (s->cfg.session_expires) {
        snprintf(se, sizeof(se), "%lu;refresher=uac", s->cfg.session_expires);
        h[n++] = (struct sipev_extra_hdr){ "Session-Expires", se };
        h[n++] = (struct sipev_extra_hdr){ "Supported", "timer" };
    }
    snprintf(contact, sizeof(contact), "<sip:sbc@%s;transport=tls>%s", s->local,
             strcmp(v, "no-src") == 0 ? "" : ";+sip.src");
    sipev_random_token(tok, sizeof(tok));
    snprintf(s->branch, sizeof(s->branch), "z9hG4bK%s", tok);
    r.method = "INVITE";
    r.ruri = "sip:srs@127.0.0.1";
    r.via_transport = s->tls ? "TLS" : "TCP";
    r.via_host = s->local;
    r.branch = s->branch;
    r.from_uri = "sip:sbc@example.net";
    r.from_tag = s->from_tag;
    r.to_uri = "sip:srs@example.net";
    r.to_tag = initial ? NULL : s->to_tag;
    r.call_id = s->call_id;
    r.cseq = ++s->cseq;
    r.contact = contact;
    r.extra = h;
    r.n_extra = n;
    if (body.len) {
        r.content_type = "multipart/mixed;boundary=srtprec-boundary-1";
        r.body = (const char *)body.p;
        r.body_len = body.len;
    }
    err = sipev_req_print(&out, &r);
    if (!err)
        err = sipev_conn_send(s->conn, out.p, out.len);
    buf_fini(&body);
    buf_fini(&out);
    return err;
}

static void send_simple(struct src *s, const char *method, uint32_t cseq)
{
    struct buf out;
    char tok[24];
    struct sipev_req r = { 0 };

    buf_init(&out, 8192);
    sipev_random_token(tok, sizeof(tok));
    snprintf(s->branch, sizeof(s->branch), "z9hG4bK%s", tok);
    r.method = method;
    r.ruri = "sip:srs@127.0.0.1";
    r.via_transport = s->tls ? "TLS" : "TCP";
    r.via_host = s->local;
    r.branch = s->branch;
    r.from_uri = "sip:sbc@example.net";
    r.from_tag = s->from_tag;
    r.to_uri = "sip:srs@example.net";
    r.to_tag = s->to_tag;
    r.call_id = s->call_id;
    r.cseq = cseq;
    if (sipev_req_print(&out, &r) == SR_OK)
        sipev_conn_send(s->conn, out.p, out.len);
    buf_fini(&out);
}

/* The answer's m= ports, in order; false if there are fewer than streams. */
static bool answer_ports(struct src *s)
{
    unsigned i = 0;
    const char *p = s->answer;

    while (i < s->n_active && (p = strstr(p, "m=audio "))) {
        s->st[i++].port = (unsigned)strtoul(p + 8, NULL, 10);
        p += 8;
    }
    return i == s->n_active;
}

static enum sr_err keys_new(struct src *s)
{
    for (unsigned i = 0; i < s->n_total; i++) {
        struct rec_srtp_cfg c = { 0 };
        struct src_stream *t = &s->st[i];
        rec_srtp_destroy(t->tx);
        t->tx = NULL;
        if (sr_random(t->master, sizeof(t->master)) != SR_OK)
            return SR_ECRYPTO;
        c.ssrc = t->ssrc;
        c.sender = true;
        c.n_keys = 1;
        c.keys[0].suite = REC_SUITE_AES_CM_128_HMAC_SHA1_80;
        memcpy(c.keys[0].master, t->master, MASTER_LEN);
        c.keys[0].master_len = MASTER_LEN;
        /* A new key starts a new SRTP context: the ROC stays (RFC 4568 7.1.4). */
        c.roc = 0;
        if (rec_srtp_create(&t->tx, &c) != SR_OK)
            return SR_ECRYPTO;
    }
    return SR_OK;
}

static void media_send(struct src *s, unsigned packets)
{
    for (unsigned n = 0; n < packets; n++) {
        for (unsigned i = 0; i < s->n_active; i++) {
            struct src_stream *t = &s->st[i];
            uint8_t pkt[12 + SAMPLES + REC_SRTP_TRAILER_MAX];
            size_t len = 12 + SAMPLES;
            struct sockaddr_in to = s->srs;
            pkt[0] = 0x80;
            pkt[1] = t->packets == 0 ? 0x80 : 0;
            pkt[2] = (uint8_t)(t->seq >> 8);
            pkt[3] = (uint8_t)t->seq;
            for (int k = 0; k < 4; k++) {
                pkt[4 + k] = (uint8_t)(t->ts >> (24 - 8 * k));
                pkt[8 + k] = (uint8_t)(t->ssrc >> (24 - 8 * k));
            }
            for (int k = 0; k < SAMPLES; k++) /* a per-stream ramp: never silence */
                pkt[12 + k] = (uint8_t)((i % 2 ? 0x90 : 0x10) + (i / 2) * 7 +
                                        ((t->packets + (unsigned)k) % 0x58));
            fwrite(pkt + 12, 1, SAMPLES, t->ul);
            if (!stream_plain(s, i) && rec_srtp_protect(t->tx, pkt, &len, sizeof(pkt)) != SR_OK)
                continue;
            to.sin_port = htons((uint16_t)t->port);
            sendto(t->fd, pkt, len, 0, (struct sockaddr *)&to, sizeof(to));
            t->seq++;
            t->ts += SAMPLES;
            t->packets++;
        }
        sipev_conn_io(s->conn);
        struct timespec ts = { 0, 20 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
}

static int run(struct src *s)
{
    unsigned total = (unsigned)(s->cfg.duration_ms / 20), half = s->cfg.rekey ? total / 2 : total;
    char path[CONF_STR_MAX + 64];
    FILE *man;

    if (conn_open(s) != SR_OK || send_invite(s, true) != SR_OK || !wait_final(s, 10000)) {
        printf("status 0\n");
        log_error("no final response to the INVITE");
        return 1;
    }
    printf("status %u\n", s->last_status);
    if (s->last_warning[0])
        printf("warning %s\n", s->last_warning);
    if (s->last_status != 200)
        return s->last_status == s->cfg.expect ? 0 : 1;
    if (!answer_ports(s)) {
        log_error("the answer lacks %u m= lines with ports:\n%s", s->n_active, s->answer);
        return 1;
    }
    printf("ports");
    for (unsigned i = 0; i < s->n_active; i++)
        printf(" %u", s->st[i].port);
    printf("\n");
    fflush(stdout);
    send_simple(s, "ACK", s->cseq);
    media_send(s, half);
    if (s->cfg.rekey) {
        if (keys_new(s) != SR_OK)
            return 1;
        if (s->cfg.relabel)
            snprintf(s->st[0].label, sizeof(s->st[0].label), "relabelled0");
        s->n_active = s->n_total; /* a transfer: the added streams */
        if (send_invite(s, false) != SR_OK || !wait_final(s, 10000) || s->last_status != 200 ||
            !answer_ports(s)) {
            log_error("re-INVITE: %u %s", s->last_status, s->last_warning);
            return 1;
        }
        send_simple(s, "ACK", s->cseq);
        media_send(s, total - half);
    }
    send_simple(s, "BYE", ++s->cseq);
    if (!wait_final(s, 10000) || s->last_status != 200) {
        log_error("BYE: %u", s->last_status);
        return 1;
    }
    snprintf(path, sizeof(path), "%s/manifest.tsv", s->cfg.out_dir);
    man = fopen(path, "we");
    if (!man)
        return 1;
    fprintf(man, "label\taor\tdirection\tpackets\tfile\n");
    for (unsigned i = 0; i < s->n_total; i++)
        fprintf(man, "%s\t%s\t%s\t%u\t%s\n", s->st[i].label, s->st[i].aor,
                i % 2 || i >= s->cfg.streams ? "recv" : "send", s->st[i].packets, s->st[i].file);
    fclose(man);
    return s->cfg.expect == 200 ? 0 : 1;
}

static int setup(struct src *s)
{
    struct slice r = slice_cstr(s->cfg.target), host;
    long colon = slice_find(r, ':');
    char h[64], path[CONF_STR_MAX + 64];
    uint64_t port = 0;

    if (colon <= 0 || !slice_copy_cstr(slice_of(r.p, (size_t)colon), h, sizeof(h)) ||
        !slice_to_u64(slice_of(r.p + colon + 1, r.len - (size_t)colon - 1), 65535, &port) ||
        inet_pton(AF_INET, h, &s->srs.sin_addr) != 1) {
        fprintf(stderr, "srtprec-siprec-src: --target must be IPv4 host:port\n");
        return 2;
    }
    (void)host;
    s->srs.sin_family = AF_INET;
    s->srs.sin_port = htons((uint16_t)port);
    if (!s->cfg.plain) {
        struct sipev_tls_cfg tc = { s->cfg.cert, s->cfg.key, s->cfg.ca, NULL, false };
        char twhy[512];
        if (sipev_tls_ctx_create(&s->tls, &tc, twhy, sizeof(twhy)) != SR_OK) {
            fprintf(stderr, "srtprec-siprec-src: TLS setup: %s\n", twhy);
            return 2;
        }
    }
    if (rec_srtp_lib_init(true, NULL) != SR_OK)
        return 2;
    if (s->cfg.call_id[0])
        snprintf(s->call_id, sizeof(s->call_id), "%s", s->cfg.call_id);
    else {
        char tok[24];
        sipev_random_token(tok, sizeof(tok));
        snprintf(s->call_id, sizeof(s->call_id), "%s@sbc.example", tok);
    }
    sipev_random_token(s->from_tag, sizeof(s->from_tag));
    if (s->cfg.out_dir[0] && mkdir(s->cfg.out_dir, 0755) != 0 && errno != EEXIST)
        return 2;
    s->n_total = (unsigned)(s->cfg.streams + s->cfg.transfer_streams);
    s->n_active = (unsigned)s->cfg.streams;
    if (s->n_total > MAX_STREAMS) {
        fprintf(stderr, "srtprec-siprec-src: at most %d streams with the transfer's\n", MAX_STREAMS);
        return 2;
    }
    for (unsigned i = 0; i < s->n_total; i++) {
        struct src_stream *t = &s->st[i];
        struct sockaddr_in local = { .sin_family = AF_INET };
        local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        snprintf(t->label, sizeof(t->label), "%u", i + 1);
        snprintf(t->file, sizeof(t->file), "%u.ul", i + 1);
        t->aor = i < s->cfg.streams ? aors[i % 2] : aors[2];
        t->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (t->fd < 0 || bind(t->fd, (struct sockaddr *)&local, sizeof(local)) != 0)
            return 2;
        sr_random(&t->ssrc, sizeof(t->ssrc));
        sr_random(&t->seq, sizeof(t->seq));
        t->seq &= 0x3fff;
        sr_random(&t->ts, sizeof(t->ts));
        snprintf(path, sizeof(path), "%s/%s", s->cfg.out_dir[0] ? s->cfg.out_dir : ".", t->file);
        t->ul = fopen(s->cfg.out_dir[0] ? path : "/dev/null", "we");
        if (!t->ul)
            return 2;
    }
    return keys_new(s) == SR_OK ? 0 : 2;
}

int main(int argc, char **argv)
{
    static struct src s;
    char why[512];
    int help = 0, rc;

    signal(SIGPIPE, SIG_IGN);
    if (conf_load(conf_items, SR_ARRAY_LEN(conf_items), &s.cfg, "siprec-src", argc, argv, &help,
                  why, sizeof(why)) != SR_OK) {
        fprintf(stderr, "srtprec-siprec-src: %s\n", why);
        return 2;
    }
    if (help == CONF_SHOWN_VERSION) {
        sr_version_print(stdout, "srtprec-siprec-src");
        return 0;
    }
    if (help) {
        conf_usage(stdout, "srtprec-siprec-src", conf_items, SR_ARRAY_LEN(conf_items));
        return 0;
    }
    log_setup(LOG_LVL_NOTICE, "srtprec-siprec-src", 0);
    rc = setup(&s);
    if (rc == 0)
        rc = run(&s);
    for (unsigned i = 0; i < MAX_STREAMS; i++) {
        rec_srtp_destroy(s.st[i].tx);
        if (s.st[i].ul)
            fclose(s.st[i].ul);
        if (s.st[i].fd > 0)
            close(s.st[i].fd);
        sr_wipe(s.st[i].master, sizeof(s.st[i].master));
    }
    sipev_conn_destroy(s.conn);
    if (s.tls)
        SSL_CTX_free(s.tls);
    rec_srtp_lib_fini();
    return rc;
}
