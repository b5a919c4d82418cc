/** @file test_srs.c  The SIPREC recording server's dialog rules
 *  (recorder/srs.c) with an injected clock and fakes at its edges: a fake
 *  media path (the sockets it is given are counted and closed), a fake key
 *  sink (every key body kept), the real listener on 127.0.0.1 in lab mode
 *  (plain TCP: TLS and the allow list are the integration test's), a
 *  client socket that writes requests and parses the responses.
 *
 * Rules: OPTIONS; 420 with Unsupported; 421; 400 without +sip.src; 422 with
 * Min-SE; 200 with a recvonly answer, one port pair per stream, keys scoped
 * to those ports; re-INVITE with new keys and an added stream; a stale CSeq;
 * CANCEL after the 200; session timer refreshed by UPDATE, then expiring
 * (BYE from the recorder, keys ended, ports closed); BYE; 481.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon_priv.h"
#include "loop_priv.h"
#include "sipev.h"
#include "tap.h"
#include "util.h"

/* ------------------------------------------------------------ fakes */

static size_t socks_live, socks_added;
static uint64_t next_id = 1;

enum sr_err rd_media_add_sock(struct rd_media *m, int fd, size_t spread, uint64_t *id)
{
    (void)m;
    (void)spread;
    close(fd); /* the port stays reserved by the SRS's own table */
    *id = next_id++;
    socks_live++;
    socks_added++;
    return SR_OK;
}

void rd_media_del_sock(struct rd_media *m, uint64_t id)
{
    (void)m;
    (void)id;
    socks_live--;
}

struct keys_seen {
    size_t bodies;
    struct sipev_dialog last;
    char peer[SIPEV_STR];
};
static struct keys_seen seen;

static void on_keys(const char *peer, const struct sipev_keybody *kb, void *arg)
{
    (void)arg;
    seen.bodies++;
    snprintf(seen.peer, sizeof(seen.peer), "%s", peer);
    if (kb->n_dialogs == 1 && !kb->full)
        seen.last = kb->dialogs[0];
}

static uint64_t clock_us = 1000000;
static uint64_t fake_now(void *arg)
{
    (void)arg;
    return clock_us;
}

/* ------------------------------------------------------------ client */

struct cli {
    struct rd_loop *loop;
    struct rd_srs *srs;
    int fd;
    char rx[65536];
    size_t rx_len;
    struct sipev_msg msg;   /* the last message read */
    char copy[65536];
};

static void pump(struct cli *c, int rounds)
{
    for (int i = 0; i < rounds; i++) {
        rd_loop_run_once(c->loop, 5);
        rd_srs_tick(c->srs, clock_us);
    }
}

/* The next complete message from the recorder, or false. */
static bool next_msg(struct cli *c)
{
    for (int tries = 0; tries < 200; tries++) {
        size_t used = 0;
        const char *why;
        if (c->rx_len && sipev_msg_parse(c->rx, c->rx_len, true, &c->msg, &used, &why) == SR_OK) {
            memcpy(c->copy, c->rx, used);
            memmove(c->rx, c->rx + used, c->rx_len - used);
            c->rx_len -= used;
            sipev_msg_parse(c->copy, used, true, &c->msg, &used, &why);
            return true;
        }
        pump(c, 1);
        ssize_t n = recv(c->fd, c->rx + c->rx_len, sizeof(c->rx) - c->rx_len, MSG_DONTWAIT);
        if (n > 0)
            c->rx_len += (size_t)n;
    }
    return false;
}

static bool hdr_has(const struct sipev_msg *m, const char *name, const char *needle)
{
    for (size_t i = 0; i < m->n_hdr; i++)
        if (slice_eq_nocase(m->hdr[i].name, slice_cstr(name))) {
            char v[1024];
            slice_copy_cstr(m->hdr[i].value, v, sizeof(v));
            if (strstr(v, needle))
                return true;
        }
    return false;
}

static const char *key_b64[2] = {
    "inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz",
    "inline:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk",
};

/* A SIPREC INVITE/UPDATE; what to break or add by flags. */
enum { NO_REQUIRE = 1, EXTRA_REQUIRE = 2, NO_SRC = 4, THIRD_STREAM = 8, NEW_KEYS = 16,
       PLAIN_STREAM = 32 };

static unsigned last_cseq;

static void send_req(struct cli *c, const char *method, const char *to_tag, unsigned cseq,
                     unsigned flags, const char *session_expires)
{
    char body[8192], msg[16384];
    int bl = 0;
    const char *k0 = flags & NEW_KEYS ? key_b64[1] : key_b64[0];

    last_cseq = cseq;
    if (strcmp(method, "INVITE") == 0 || strcmp(method, "UPDATE") == 0) {
        bl = snprintf(body, sizeof(body),
                      "--b1\r\nContent-Type: application/sdp\r\n\r\n"
                      "v=0\r\no=sbc 1 %u IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                      "m=audio 9000 RTP/SAVP 0\r\na=label:1\r\na=sendonly\r\n"
                      "a=crypto:1 AES_CM_128_HMAC_SHA1_80 %s\r\n"
                      "m=audio 9002 RTP/SAVP 8\r\na=rtpmap:8 PCMA/8000\r\na=label:2\r\n"
                      "a=sendonly\r\na=crypto:3 AES_CM_128_HMAC_SHA1_80 %s\r\n%s%s"
                      "\r\n--b1--\r\n",
                      cseq, k0, key_b64[1],
                      flags & PLAIN_STREAM ? "m=audio 9006 RTP/AVP 0\r\na=label:4\r\na=sendonly\r\n"
                                           : "",
                      flags & THIRD_STREAM
                          ? "m=audio 9004 RTP/SAVP 0\r\na=label:3\r\na=sendonly\r\n"
                            "a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:"
                            "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk\r\n"
                          : "");
    }
    snprintf(msg, sizeof(msg),
             "%s sip:srs@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK%u%s\r\n"
             "Max-Forwards: 70\r\nFrom: <sip:sbc@example.net>;tag=src1\r\n"
             "To: <sip:srs@example.net>%s%s\r\nCall-ID: call-1@sbc\r\nCSeq: %u %s\r\n"
             "Contact: <sip:sbc@127.0.0.1:5999;transport=tcp>%s\r\n%s%s%s%s%s%s"
             "%sContent-Length: %d\r\n\r\n%.*s",
             method, cseq, method, to_tag ? ";tag=" : "", to_tag ? to_tag : "", cseq, method,
             flags & NO_SRC ? "" : ";+sip.src",
             flags & NO_REQUIRE ? "" : "Require: siprec", flags & EXTRA_REQUIRE ? ", 100rel, foo" : "",
             flags & NO_REQUIRE ? "" : "\r\n",
             session_expires ? "Supported: timer\r\nSession-Expires: " : "",
             session_expires ? session_expires : "", session_expires ? "\r\n" : "",
             bl ? "Content-Type: multipart/mixed;boundary=b1\r\n" : "", bl, bl, body);
    if (send(c->fd, msg, strlen(msg), 0) < 0)
        tap_ok(false, "send: %s", strerror(errno));
}

static unsigned status_of(struct cli *c)
{
    return next_msg(c) ? c->msg.status : 0;
}

int main(void)
{
    static struct rd_cfg cfg;
    struct rd_srs_cfg sc = { 0 };
    struct cli c = { 0 };
    struct sockaddr_in sa = { .sin_family = AF_INET };
    char to_tag[64] = "";
    struct slice tag;
    const char *addr;

    snprintf(cfg.siprec_listen, sizeof(cfg.siprec_listen), "127.0.0.1:0");
    snprintf(cfg.siprec_media_address, sizeof(cfg.siprec_media_address), "127.0.0.1");
    cfg.siprec_port_lo = 43000 + (unsigned)(getpid() % 500) * 40;
    cfg.siprec_port_hi = cfg.siprec_port_lo + 39;
    cfg.siprec_max_sessions = 4;
    cfg.siprec_session_expires = 1800;
    cfg.siprec_min_se = 90;
    cfg.rcvbuf = 65536;
    if (rd_loop_create(&c.loop) != SR_OK)
        return 1;
    sc.cfg = &cfg;
    sc.loop = c.loop;
    sc.on_keybody = on_keys;
    sc.now_us = fake_now;
    tap_ok(rd_srs_create(&c.srs, &sc) == SR_OK, "SRS listening (lab mode)");
    if (!c.srs)
        return tap_done();
    addr = rd_srs_address(c.srs);
    sa.sin_port = htons((uint16_t)atoi(strrchr(addr, ':') + 1));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c.fd = socket(AF_INET, SOCK_STREAM, 0);
    tap_ok(connect(c.fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "client connected to %s", addr);
    pump(&c, 3);

    send_req(&c, "OPTIONS", NULL, 1, 0, NULL);
    tap_ok(status_of(&c) == 200 && hdr_has(&c.msg, "Supported", "siprec"),
           "OPTIONS: 200 with Supported: siprec");
    send_req(&c, "INVITE", NULL, 2, EXTRA_REQUIRE, NULL);
    tap_ok(status_of(&c) == 420 && hdr_has(&c.msg, "Unsupported", "100rel, foo"),
           "an unknown Require option: 420 with Unsupported: 100rel, foo");
    send_req(&c, "INVITE", NULL, 3, NO_REQUIRE, NULL);
    tap_ok(status_of(&c) == 421 && hdr_has(&c.msg, "Require", "siprec"),
           "no Require: siprec: 421 with Require: siprec");
    send_req(&c, "INVITE", NULL, 4, NO_SRC, NULL);
    tap_ok(status_of(&c) == 400 && hdr_has(&c.msg, "Warning", "+sip.src"),
           "Contact without +sip.src: 400, the Warning says so");
    send_req(&c, "INVITE", NULL, 5, 0, "60");
    tap_ok(status_of(&c) == 422 && hdr_has(&c.msg, "Min-SE", "90"),
           "Session-Expires below Min-SE: 422 with Min-SE: 90");
    tap_ok(socks_added == 0 && seen.bodies == 0, "no refusal took a port or disclosed a key");

    send_req(&c, "INVITE", NULL, 6, 0, "90;refresher=uac");
    tap_ok(status_of(&c) == 200, "a SIPREC INVITE: 200");
    tap_ok(hdr_has(&c.msg, "Require", "timer") && hdr_has(&c.msg, "Session-Expires", "90;refresher=uac"),
           "session timer: Require: timer, Session-Expires: 90;refresher=uac");
    {
        char sdp[4096];
        const struct sipev_hdr *to = sipev_msg_hdr(&c.msg, SIPEV_HDR_TO);
        slice_copy_cstr(c.msg.body, sdp, sizeof(sdp));
        tap_ok(strstr(sdp, "a=recvonly") && strstr(sdp, "a=label:1") && strstr(sdp, "a=label:2") &&
                   strstr(sdp, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:") &&
                   strstr(sdp, "a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:") &&
                   !strstr(sdp, key_b64[0] + 7),
               "the answer: recvonly, labels echoed, the offered tags with a key of our own");
        if (to && sipev_param(to->value, "tag", &tag))
            slice_copy_cstr(tag, to_tag, sizeof(to_tag));
    }
    tap_ok(socks_live == 4, "two streams: two RTP/RTCP port pairs (%zu sockets)", socks_live);
    tap_ok(seen.bodies == 1 && seen.last.n_streams == 2 && seen.last.state == SIPEV_DIALOG_ACTIVE &&
               strcmp(seen.last.call_id, "call-1@sbc") == 0 &&
               strcmp(seen.last.streams[0].id, "1") == 0 &&
               strncmp(seen.last.streams[0].dst, "127.0.0.1:", 10) == 0 &&
               strcmp(seen.last.streams[1].codec, "PCMA") == 0 &&
               seen.last.streams[0].n_keys == 1 && seen.last.streams[0].keys[0].master_len == 30,
           "keys to the engine: one dialog, each stream scoped to its port (dst %s)",
           seen.last.streams[0].dst);
    tap_ok(strcmp(seen.peer, "lab:plain-tcp") == 0, "lab mode: the key source says so");
    send_req(&c, "ACK", to_tag, 6, 0, NULL);

    send_req(&c, "CANCEL", NULL, 6, 0, NULL);
    tap_ok(status_of(&c) == 200 && seen.bodies == 1, "CANCEL after the 200: 200, no effect");

    send_req(&c, "INVITE", to_tag, 7, NEW_KEYS | THIRD_STREAM, "90;refresher=uac");
    {
        unsigned st = status_of(&c);
        tap_ok(st == 200 && socks_live == 6,
               "re-INVITE adding a stream: 200, one more port pair (%zu sockets)", socks_live);
    }
    tap_ok(seen.bodies == 2 && seen.last.n_streams == 3 &&
               memcmp(seen.last.streams[0].keys[0].master, seen.last.streams[1].keys[0].master, 30) == 0,
           "re-INVITE: stream 1's new key (the same as stream 2's now) goes to the engine");
    send_req(&c, "INVITE", to_tag, 7, 0, NULL);
    tap_ok(status_of(&c) == 500 && seen.bodies == 2, "a re-INVITE with a stale CSeq: 500, nothing applied");

    /* Timer: refreshed at 50 s by an UPDATE; without one it ends at
     * 90 - 30 s after the refresh. */
    clock_us += 50u * 1000000u;
    send_req(&c, "UPDATE", to_tag, 8, NEW_KEYS | THIRD_STREAM, "90;refresher=uac");
    tap_ok(status_of(&c) == 200 && socks_live == 6, "UPDATE refreshing the session: 200");
    send_req(&c, "UPDATE", to_tag, 9, NEW_KEYS, NULL);
    tap_ok(status_of(&c) == 400 && hdr_has(&c.msg, "Warning", "fewer m= lines") && socks_live == 6,
           "an offer that drops an m= line: 400 (RFC 3264 8), the session unchanged");
    clock_us += 59u * 1000000u;
    pump(&c, 3);
    {
        struct rd_srs_stats st;
        rd_srs_stats(c.srs, &st);
        tap_ok(st.sessions_now == 1, "59 s after the refresh: still open (BYE at 60 s)");
    }
    clock_us += 2u * 1000000u;
    tap_ok(next_msg(&c) && slice_eq(c.msg.method, SLICE_LIT("BYE")),
           "61 s after the refresh: the recorder sends BYE (RFC 4028 10)");
    tap_ok(seen.last.state == SIPEV_DIALOG_ENDED && seen.last.n_streams == 0 && socks_live == 0,
           "the session ended: keys ended, every port closed");

    send_req(&c, "BYE", to_tag, 10, 0, NULL);
    tap_ok(status_of(&c) == 481, "BYE for the ended session: 481");
    /* A plain RTP leg (RTP/AVP): its own ports, a keyless stream scoped to
     * them; with siprec-plain-rtp = no, port 0 and no stream. */
    cfg.siprec_plain_rtp = true;
    send_req(&c, "INVITE", NULL, 20, PLAIN_STREAM, NULL);
    {
        char sdp[4096];
        const struct sipev_hdr *to;
        unsigned st = status_of(&c);
        const struct sipev_stream *p = &seen.last.streams[2];
        slice_copy_cstr(c.msg.body, sdp, sizeof(sdp));
        to = sipev_msg_hdr(&c.msg, SIPEV_HDR_TO);
        if (to && sipev_param(to->value, "tag", &tag))
            slice_copy_cstr(tag, to_tag, sizeof(to_tag));
        tap_ok(st == 200 && strstr(sdp, " RTP/AVP 0\r\n") && !strstr(sdp, "m=audio 0 RTP/AVP") &&
                   socks_live == 6,
               "a plain RTP line: answered with a port pair of its own (%zu sockets)", socks_live);
        tap_ok(seen.last.n_streams == 3 && p->plain && p->n_keys == 0 &&
                   strncmp(p->dst, "127.0.0.1:", 10) == 0 && !seen.last.streams[0].plain,
               "the plain leg goes to the engine keyless, scoped to its port (dst %s)", p->dst);
    }
    cfg.siprec_plain_rtp = false;
    send_req(&c, "INVITE", to_tag, 21, PLAIN_STREAM, NULL);
    {
        char sdp[4096];
        unsigned st = status_of(&c);
        slice_copy_cstr(c.msg.body, sdp, sizeof(sdp));
        tap_ok(st == 200 && strstr(sdp, "m=audio 0 RTP/AVP 0") && seen.last.n_streams == 2 &&
                   socks_live == 4,
               "siprec-plain-rtp = no: the plain line gets port 0, its ports closed, no stream");
    }
    send_req(&c, "BYE", to_tag, 22, 0, NULL);
    tap_ok(status_of(&c) == 200 && socks_live == 0, "BYE: 200, every port closed");

    send_req(&c, "MESSAGE", NULL, 11, 0, NULL);
    tap_ok(status_of(&c) == 405 && hdr_has(&c.msg, "Allow", "INVITE"), "another method: 405 with Allow");

    close(c.fd);
    rd_srs_destroy(c.srs);

    /* UDP (siprec-listen-udp): refused without the lab flag; with it, a
     * session whose retransmitted INVITE is answered from the cache. */
    snprintf(cfg.siprec_listen_udp, sizeof(cfg.siprec_listen_udp), "127.0.0.1:0");
    c.srs = NULL;
    tap_ok(rd_srs_create(&c.srs, &sc) == SR_EINVAL && !c.srs,
           "siprec-listen-udp without lab-allow-plain-tcp: refused at start");
    cfg.lab_allow_plain_tcp = true;
    rd_srs_create(&c.srs, &sc);
    tap_ok(c.srs && rd_srs_udp_address(c.srs)[0], "with lab-allow-plain-tcp: listening on UDP %s",
           c.srs ? rd_srs_udp_address(c.srs) : "");
    if (c.srs) {
        const char *ua = rd_srs_udp_address(c.srs);
        size_t bodies;
        cfg.siprec_plain_rtp = true;
        sa.sin_port = htons((uint16_t)atoi(strrchr(ua, ':') + 1));
        c.fd = socket(AF_INET, SOCK_DGRAM, 0);
        c.rx_len = 0;
        connect(c.fd, (struct sockaddr *)&sa, sizeof(sa));
        send_req(&c, "OPTIONS", NULL, 30, 0, NULL);
        tap_ok(status_of(&c) == 200, "UDP: OPTIONS 200");
        send_req(&c, "INVITE", NULL, 31, 0, NULL);
        tap_ok(status_of(&c) == 200 && strcmp(seen.peer, "lab:udp") == 0 && socks_live == 4,
               "UDP: a SIPREC INVITE 200, keys from key source lab:udp, two port pairs");
        {
            const struct sipev_hdr *to = sipev_msg_hdr(&c.msg, SIPEV_HDR_TO);
            if (to && sipev_param(to->value, "tag", &tag))
                slice_copy_cstr(tag, to_tag, sizeof(to_tag));
        }
        bodies = seen.bodies;
        send_req(&c, "INVITE", NULL, 31, 0, NULL); /* the same transaction again */
        tap_ok(status_of(&c) == 200 && seen.bodies == bodies && socks_live == 4,
               "UDP: a retransmitted INVITE gets the cached 200, no second session");
        send_req(&c, "ACK", to_tag, 31, 0, NULL);
        send_req(&c, "BYE", to_tag, 32, 0, NULL);
        tap_ok(status_of(&c) == 200 && socks_live == 0 && seen.last.state == SIPEV_DIALOG_ENDED,
               "UDP: BYE 200, the session ended, its ports closed");
        close(c.fd);
        rd_srs_destroy(c.srs);
    }
    rd_loop_destroy(c.loop);
    return tap_done();
}
