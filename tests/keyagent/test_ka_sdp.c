/* SDP helper: valid offer/answer, hostile SDP (every prefix, bad base64,
 * wrong key length, unknown suite, huge lines, too many m=/crypto lines,
 * missing c=), and what ka_sdp_disclose() writes to a fake control socket. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guard.h"
#include "ka.h"
#include "tap.h"
#include "util.h"

#define K30 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"
#define K30B "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0e"
#define K46 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLQ=="
#define K28 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw=="

static const char offer[] =
    "v=0\r\n"
    "o=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\n"
    "s=-\r\n"
    "c=IN IP4 192.0.2.10\r\n"
    "t=0 0\r\n"
    "m=audio 49170 RTP/SAVP 0 8 101\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" K30 "|2^20|1:4\r\n"
    "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:" K30B "\r\n"
    "a=ssrc:3735928559 cname:alice@example\r\n"
    "a=ssrc:42 cname:rtx\r\n"
    "a=sendrecv\r\n"
    "m=video 0 RTP/SAVP 96\r\n";

static const char answer[] =
    "v=0\n"
    "o=bob 1 1 IN IP6 2001:db8::20\n"
    "s=-\n"
    "t=0 0\n"
    "m=audio 3456 RTP/SAVP 8 101\n"
    "c=IN IP6 2001:db8::20\n"
    "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:" K30 " KDR=1 UNENCRYPTED_SRTCP\n"
    "m=video 0 RTP/SAVP 96\n";

static struct ka_sdp a, b;

static enum sr_err parse(const char *s, struct ka_sdp *out, const char **why)
{
    size_t n = strlen(s);
    return ka_sdp_parse(guard_copy(s, n), n, out, why);
}

static enum sr_err parse_one(const char *media_lines, const char **why)
{
    char text[8192];
    snprintf(text, sizeof(text), "v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/SAVP 0\r\n%s",
             media_lines);
    return parse(text, &a, why);
}

static void valid(void)
{
    const char *why = NULL;
    const struct ka_sdp_media *m;

    tap_ok(parse(offer, &a, &why) == SR_OK, "offer parses (%s)", why ? why : "");
    m = &a.media[0];
    tap_ok(a.n_media == 2 && strcmp(m->media, "audio") == 0 && m->port == 49170 &&
               strcmp(m->proto, "RTP/SAVP") == 0 && m->n_fmt == 3 && m->fmt[2] == 101,
           "m= media, port, proto, formats");
    tap_ok(m->n_rtpmap == 1 && m->rtpmap[0].pt == 101 &&
               strcmp(m->rtpmap[0].codec, "telephone-event") == 0 && m->rtpmap[0].clock_rate == 8000,
           "rtpmap");
    tap_ok(strcmp(m->addr, "192.0.2.10") == 0 && !m->ipv6, "session c= inherited");
    tap_ok(m->ssrc_known && m->ssrc == 3735928559u, "first a=ssrc kept");
    tap_ok(m->n_crypto == 2 && m->crypto[0].tag == 1 &&
               strcmp(m->crypto[0].suite, "AES_CM_128_HMAC_SHA1_80") == 0 &&
               m->crypto[0].n_keys == 1 && m->crypto[0].keys[0].master_len == 30 &&
               m->crypto[0].keys[0].master[29] == 29 && m->crypto[0].keys[0].lifetime == (1u << 20) &&
               m->crypto[0].keys[0].mki == 1 && m->crypto[0].keys[0].mki_len == 4,
           "crypto 1: suite, key, lifetime 2^20, MKI 1:4");
    tap_ok(m->crypto[1].tag == 2 && m->crypto[1].keys[0].master[0] == 1 &&
               m->crypto[1].keys[0].lifetime == 0 && m->crypto[1].keys[0].mki_len == 0,
           "crypto 2: no lifetime, no MKI");
    tap_ok(a.media[1].port == 0 && a.media[1].n_crypto == 0, "rejected video section");

    tap_ok(parse(answer, &b, &why) == SR_OK, "answer (LF lines, IPv6, m-level c=) parses (%s)", why ? why : "");
    tap_ok(strcmp(b.media[0].addr, "2001:db8::20") == 0 && b.media[0].ipv6 &&
               b.media[0].crypto[0].session_params && !b.media[0].ssrc_known,
           "IPv6 c=, session params noted");

    tap_ok(parse_one("a=crypto:7 AES_256_CM_HMAC_SHA1_80 inline:" K46 "\r\n", &why) == SR_OK &&
               a.media[0].crypto[0].keys[0].master_len == 46, "AES-256 key of 46 bytes");
    tap_ok(parse_one("a=crypto:7 AEAD_AES_128_GCM inline:" K28 "|281474976710656\r\n", &why) == SR_OK &&
               a.media[0].crypto[0].keys[0].lifetime == 281474976710656ull,
           "GCM key of 28 bytes, lifetime 2^48 in decimal");
    tap_ok(parse_one("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" K30 "|1:1;inline:" K30B "|2:1\r\n",
                     &why) == SR_OK && a.media[0].crypto[0].n_keys == 2 &&
               a.media[0].crypto[0].keys[1].mki == 2,
           "two key-params with MKIs");
    tap_ok(parse("v=0", &a, &why) == SR_OK && a.n_media == 0, "bare v=0 without newline");
}

struct bad {
    const char *lines;
    enum sr_err want;
    const char *what;
};

static void hostile(void)
{
    static const struct bad cases[] = {
        { "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxw!\r\n", SR_EPARSE, "bad base64 character" },
        { "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxw\r\n", SR_EPARSE, "base64 without padding" },
        { "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" K46 "\r\n", SR_EPARSE, "46-byte key for a 30-byte suite" },
        { "a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:" K30 "\r\n", SR_EPARSE, "30-byte key for a 46-byte suite" },
        { "a=crypto:1 AEAD_AES_256_GCM inline:" K28 "\r\n", SR_EPARSE, "28-byte key for AEAD_AES_256_GCM" },
        { "a=crypto:1 F8_128_HMAC_SHA1_80 inline:" K30 "\r\n", SR_EUNSUPP, "unknown suite F8" },
        { "a=crypto:1 AES_192_CM_HMAC_SHA1_80 inline:" K30 "\r\n", SR_EUNSUPP, "AES_192 refused" },
        { "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" K30 "|1:5\r\n", SR_EUNSUPP, "MKI of 5 bytes" },
        { "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" K30 "|256:1\r\n", SR_EPARSE, "MKI value over its length" },
        { "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" K30 "|1:0\r\n", SR_EPARSE, "MKI length 0" },
        { "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" K30 "|2^49\r\n", SR_EPARSE, "lifetime 2^49" },
        { "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" K30 "|0\r\n", SR_EPARSE, "lifetime 0" },
        { "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" K30 "|1:1|2^20\r\n", SR_EPARSE, "lifetime after MKI" },
        { "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" K30 "|1|2|3\r\n", SR_EPARSE, "three fields" },
        { "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" K30 "|\r\n", SR_EPARSE, "empty field" },
        { "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" K30 ";\r\n", SR_EPARSE, "empty key-param after ;" },
        { "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" K30 "||1:1\r\n", SR_EPARSE, "empty lifetime field" },
        { "a=crypto:1 AES_CM_128_HMAC_SHA1_80 uri:https://x/y\r\n", SR_EUNSUPP, "key method other than inline" },
        { "a=crypto:1 AES_CM_128_HMAC_SHA1_80\r\n", SR_EPARSE, "no key-params" },
        { "a=crypto: AES_CM_128_HMAC_SHA1_80 inline:" K30 "\r\n", SR_EPARSE, "empty tag" },
        { "a=crypto:1234567890 AES_CM_128_HMAC_SHA1_80 inline:" K30 "\r\n", SR_EPARSE, "tag of 10 digits" },
        { "a=crypto:-1 AES_CM_128_HMAC_SHA1_80 inline:" K30 "\r\n", SR_EPARSE, "negative tag" },
        { "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" K30 "\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" K30 "\r\n", SR_EPARSE, "tag repeated" },
        { "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" K30 ";inline:" K30B "\r\n", SR_EPARSE, "two keys without MKI" },
        { "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" K30 "|1:1;inline:" K30B "|2:2\r\n", SR_EPARSE, "MKI lengths differ" },
        { "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" K30 "|1:1;inline:" K30 "|2:1;inline:" K30 "|3:1;inline:" K30 "|4:1;inline:" K30 "|5:1\r\n", SR_ELIMIT, "five key-params" },
        { "a=rtpmap:96 opus\r\n", SR_EPARSE, "rtpmap without clock rate" },
        { "a=rtpmap:128 PCMU/8000\r\n", SR_EPARSE, "rtpmap pt 128" },
        { "a=rtpmap:96 opus/0\r\n", SR_EPARSE, "rtpmap clock rate 0" },
        { "a=ssrc:4294967296 cname:x\r\n", SR_EPARSE, "ssrc over 32 bits" },
        { "a=ssrc:x cname:x\r\n", SR_EPARSE, "ssrc not decimal" },
        { "c=IN IP4 239.0.0.1/127\r\n", SR_EPARSE, "multicast c= with ttl" },
        { "c=IN IP4 example.com\r\n", SR_EPARSE, "c= with a host name" },
        { "c=IN IP6 192.0.2.1\r\n", SR_EPARSE, "c= IP6 with an IPv4 address" },
        { "c=IN IP4\r\n", SR_EPARSE, "c= without address" },
        { "m=audio 65536 RTP/SAVP 0\r\n", SR_EPARSE, "port 65536" },
        { "m=audio 4000 RTP/SAVP 0 200\r\n", SR_EPARSE, "payload type 200" },
        { "m=audio 4000\r\n", SR_EPARSE, "m= without proto" },
        { "m=audio 4000/x RTP/SAVP 0\r\n", SR_EPARSE, "bad port count" },
        { "x\r\n", SR_EPARSE, "line without =" },
        { "A=b\r\n", SR_EPARSE, "upper-case type" },
        { "a=x\0y\r\n", SR_OK, "(NUL ends the C string: fine)" },
        { "a=x\ry\r\n", SR_EPARSE, "CR inside a line" },
        { "\r\n", SR_EPARSE, "empty line" },
    };
    const char *why = NULL;
    char big[8192];
    enum sr_err err;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        why = NULL;
        err = parse_one(cases[i].lines, &why);
        tap_ok(err == cases[i].want && (err == SR_OK || (why && why[0])) && (err == SR_OK || a.n_media == 0),
               "%s: %s (%s)", cases[i].what, sr_strerror(err), why ? why : "");
    }

    tap_ok(parse("o=x\r\nv=0\r\n", &a, &why) == SR_EPARSE, "first line not v=0");
    tap_ok(parse("", &a, &why) == SR_EPARSE, "empty SDP");
    tap_ok(ka_sdp_parse(NULL, 0, &a, &why) == SR_EPARSE, "NULL, 0: empty SDP");
    tap_ok(ka_sdp_parse("v=0", 3, NULL, &why) == SR_EINVAL, "NULL output");

    /* Huge line: one over the limit, and exactly at it. */
    memcpy(big, "v=0\na=", 6);
    memset(big + 6, 'x', KA_SDP_MAX_LINE - 2);
    big[6 + KA_SDP_MAX_LINE - 2] = '\0';
    tap_ok(parse(big, &a, &why) == SR_OK, "line of exactly %d bytes", KA_SDP_MAX_LINE);
    big[6 + KA_SDP_MAX_LINE - 2] = 'x';
    big[6 + KA_SDP_MAX_LINE - 1] = '\0';
    tap_ok(parse(big, &a, &why) == SR_ELIMIT, "line of %d bytes: SR_ELIMIT", KA_SDP_MAX_LINE + 1);
    {
        static char huge[KA_SDP_MAX + 2];
        memset(huge, 'x', sizeof(huge));
        memcpy(huge, "v=0\n", 4);
        tap_ok(ka_sdp_parse(huge, sizeof(huge), &a, &why) == SR_ELIMIT, "SDP over 64 KiB: SR_ELIMIT");
    }

    /* Too many m= lines, crypto lines, formats. */
    {
        struct buf_like { char p[16384]; size_t n; } t = { .n = 0 };
        t.n += (size_t)snprintf(t.p + t.n, sizeof(t.p) - t.n, "v=0\r\nc=IN IP4 192.0.2.1\r\n");
        for (int i = 0; i < KA_SDP_MAX_MEDIA; i++)
            t.n += (size_t)snprintf(t.p + t.n, sizeof(t.p) - t.n, "m=audio %d RTP/SAVP 0\r\n", 4000 + 2 * i);
        tap_ok(parse(t.p, &a, &why) == SR_OK && a.n_media == KA_SDP_MAX_MEDIA, "%d m= lines", KA_SDP_MAX_MEDIA);
        snprintf(t.p + t.n, sizeof(t.p) - t.n, "m=audio 9 RTP/SAVP 0\r\n");
        tap_ok(parse(t.p, &a, &why) == SR_ELIMIT && a.n_media == 0, "%d m= lines: SR_ELIMIT (%s)",
               KA_SDP_MAX_MEDIA + 1, why);
        t.n = 0;
        for (int i = 0; i < KA_SDP_MAX_CRYPTO; i++)
            t.n += (size_t)snprintf(t.p + t.n, sizeof(t.p) - t.n,
                                    "a=crypto:%d AES_CM_128_HMAC_SHA1_80 inline:" K30 "\r\n", i + 1);
        tap_ok(parse_one(t.p, &why) == SR_OK && a.media[0].n_crypto == KA_SDP_MAX_CRYPTO, "%d crypto lines",
               KA_SDP_MAX_CRYPTO);
        snprintf(t.p + t.n, sizeof(t.p) - t.n, "a=crypto:99 AES_CM_128_HMAC_SHA1_80 inline:" K30 "\r\n");
        tap_ok(parse_one(t.p, &why) == SR_ELIMIT, "%d crypto lines: SR_ELIMIT", KA_SDP_MAX_CRYPTO + 1);
        t.n = (size_t)snprintf(t.p, sizeof(t.p), "v=0\r\nm=audio 4000 RTP/SAVP");
        for (int i = 0; i <= KA_SDP_MAX_FMT; i++)
            t.n += (size_t)snprintf(t.p + t.n, sizeof(t.p) - t.n, " %d", i);
        tap_ok(parse(t.p, &a, &why) == SR_ELIMIT, "%d formats: SR_ELIMIT", KA_SDP_MAX_FMT + 1);
    }

    /* Every prefix of the offer: no crash or overread (guard page), an
     * answer with a reason, and never more than the whole holds. */
    {
        size_t len = strlen(offer), bad = 0;
        for (size_t i = 0; i <= len; i++) {
            why = NULL;
            err = ka_sdp_parse(guard_copy(offer, i), i, &a, &why);
            /* A cut suite name is an unknown suite (SR_EUNSUPP). */
            if (err != SR_OK && err != SR_EPARSE && err != SR_EUNSUPP)
                bad++;
            else if (err != SR_OK && (!why || !why[0]))
                bad++;
            else if (err == SR_OK && (a.n_media > 2 || a.media[0].n_crypto > 2))
                bad++;
        }
        tap_ok(bad == 0, "every prefix of the offer (%zu): OK, or an error with a reason", len + 1);
    }
}

/* ---- disclosure against a fake keyagent --------------------------------- */

/* How the fake keyagent answers. */
enum {
    FAKE_REFUSE_STREAM = 1, /* "ERR no" to every STREAM */
    FAKE_REVISION_1 = 2,    /* older than VERSION: "ERR unknown command" */
    FAKE_BARE_OK = 4,       /* a broken peer: "OK" to VERSION, no revision */
};

/* The child answers "OK" to every line (VERSION as mode says, "ERR" to a
 * STREAM when asked) and copies the lines but VERSION to out_fd; it exits
 * when the client closes. */
static void fake_keyagent(int lfd, int out_fd, int mode)
{
    int fd = accept(lfd, NULL, NULL);
    char buf[4096];
    ssize_t n;
    size_t have = 0;

    while (fd >= 0 && (n = read(fd, buf + have, sizeof(buf) - have)) > 0) {
        char *nl;
        have += (size_t)n;
        while ((nl = memchr(buf, '\n', have))) {
            size_t l = (size_t)(nl - buf) + 1;
            bool version = l == 8 && memcmp(buf, "VERSION\n", 8) == 0;
            const char *ans = (mode & FAKE_REFUSE_STREAM) && strncmp(buf, "STREAM", 6) == 0
                                  ? "ERR no\n" : "OK\n";
            if (version)
                ans = mode & FAKE_REVISION_1 ? "ERR unknown command\n"
                      : mode & FAKE_BARE_OK  ? "OK\n" : "OK 2\n";
            if ((!version && write(out_fd, buf, l) != (ssize_t)l) || write(fd, ans, strlen(ans)) < 0)
                _exit(1);
            memmove(buf, nl + 1, have - l);
            have -= l;
        }
        if (have == sizeof(buf))
            _exit(1);
    }
    _exit(0);
}

/* Which call discloses: ka_sdp_disclose, ka_sdp_disclose_late (start_us),
 * or ka_sdp_disclose_with(KA_SDP_NO_ADDRESSES). */
enum as { AS_PLAIN, AS_LATE, AS_NO_ADDRESSES };

static enum sr_err disclose_as(const struct ka_sdp *l, const struct ka_sdp *r, int mode,
                               enum as as, uint64_t start_us, char *lines, size_t cap,
                               size_t *n_streams, const char **why)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct ka_call_info call = { "c1@pbx", "lt", "rt", "sip:alice@example.com", "sip:bob@example.com" };
    struct ka_client *c = NULL;
    int lfd, pfd[2];
    pid_t pid;
    enum sr_err err = SR_EIO;
    size_t got = 0;
    ssize_t n;

    snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/ka-sdp-test.%ld", (long)getpid());
    unlink(sa.sun_path);
    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 1) != 0 ||
        pipe(pfd) != 0)
        return SR_EIO;
    pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        alarm(10); /* bounded whatever the parent does */
        fake_keyagent(lfd, pfd[1], mode);
    }
    close(pfd[1]);
    if (pid > 0 && (err = ka_client_connect(&c, sa.sun_path)) == SR_OK) {
        err = as == AS_LATE ? ka_sdp_disclose_late(c, &call, start_us, l, r, n_streams, why)
              : as == AS_NO_ADDRESSES
                  ? ka_sdp_disclose_with(c, &call, KA_SDP_NO_ADDRESSES, 0, l, r, n_streams, why)
                  : ka_sdp_disclose(c, &call, l, r, n_streams, why);
        ka_client_close(c);
    }
    while (got + 1 < cap && (n = read(pfd[0], lines + got, cap - got - 1)) > 0)
        got += (size_t)n;
    lines[got] = '\0';
    close(pfd[0]);
    close(lfd);
    unlink(sa.sun_path);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    return err;
}

static enum sr_err disclose(const struct ka_sdp *l, const struct ka_sdp *r, bool refuse, char *lines,
                            size_t cap, size_t *n_streams, const char **why)
{
    return disclose_as(l, r, refuse ? FAKE_REFUSE_STREAM : 0, AS_PLAIN, 0, lines, cap, n_streams,
                       why);
}

static void disclosure(void)
{
    static char lines[8192];
    const char *why = "";
    size_t n = 0;
    enum sr_err err;

    parse(offer, &a, &why);
    parse(answer, &b, &why);
    err = disclose(&a, &b, false, lines, sizeof(lines), &n, &why);
    tap_ok(err == SR_OK && n == 2, "offer/answer disclosed: 2 streams (%s, %s)", sr_strerror(err), why);
    tap_ok(strstr(lines, "CALL c1@pbx lt rt sip:alice@example.com sip:bob@example.com\n") == lines,
           "CALL first");
    /* Tag 2 is the one the answer chose: the offer's tag-2 key protects what
     * the local endpoint sends; the answer's key what it receives.  The
     * answer's first format (8) that the offer lists is the codec. */
    tap_ok(strstr(lines, "STREAM c1@pbx audio0-tx send deadbeef 8 PCMA 8000 192.0.2.10:49170 "
                         "[2001:db8::20]:3456 AES_CM_128_HMAC_SHA1_32 inline:" K30B " 0 0\n") != NULL,
           "send stream: local key, local SSRC, local -> remote");
    tap_ok(strstr(lines, "STREAM c1@pbx audio0-rx recv - 8 PCMA 8000 [2001:db8::20]:3456 "
                         "192.0.2.10:49170 AES_CM_128_HMAC_SHA1_32 inline:" K30 " 0 0\n") != NULL,
           "recv stream: remote key, remote -> local");
    tap_ok(strstr(lines, "video") == NULL, "rejected video section not disclosed");

    /* Late: the ROC is not known, the dialog's start is when given. */
    err = disclose_as(&a, &b, 0, AS_LATE, 1796234400000000ull, lines, sizeof(lines), &n, &why);
    tap_ok(err == SR_OK && n == 2 &&
               strstr(lines, "CALL c1@pbx lt rt sip:alice@example.com sip:bob@example.com "
                             "2026-12-02T18:00:00") == lines &&
               strstr(lines, "inline:" K30B " - 0\n") && strstr(lines, "inline:" K30 " - 0\n"),
           "late disclosure: CALL with the dialog's start, every ROC unknown (-)");
    err = disclose_as(&a, &b, 0, AS_LATE, 0, lines, sizeof(lines), &n, &why);
    tap_ok(err == SR_OK &&
               strstr(lines, "CALL c1@pbx lt rt sip:alice@example.com sip:bob@example.com\n") ==
                   lines && strstr(lines, " - 0\n"),
           "late disclosure without a start: CALL as before, ROC unknown");
    /* A keyagent of revision 1 takes neither the start nor "-": the
     * client says what revision 1 could (docs/protocol.md, "Revisions"). */
    err = disclose_as(&a, &b, FAKE_REVISION_1, AS_LATE, 1796234400000000ull, lines, sizeof(lines),
                      &n, &why);
    tap_ok(err == SR_OK && n == 2 &&
               strstr(lines, "CALL c1@pbx lt rt sip:alice@example.com sip:bob@example.com\n") ==
                   lines && strstr(lines, "inline:" K30B " 0 0\n") &&
               strstr(lines, "inline:" K30 " 0 0\n") && !strstr(lines, " - 0\n"),
           "revision-1 keyagent: no start, ROC 0 for unknown (%s)", sr_strerror(err));
    err = disclose_as(&a, &b, FAKE_BARE_OK, AS_LATE, 0, lines, sizeof(lines), &n, &why);
    tap_ok(err == SR_EPARSE && lines[0] == '\0',
           "VERSION answered without a revision: the connection is refused, nothing sent (%s)",
           sr_strerror(err));

    /* A NATed endpoint (issue 16): src and dst unknown, the rest as before. */
    err = disclose_as(&a, &b, 0, AS_NO_ADDRESSES, 0, lines, sizeof(lines), &n, &why);
    tap_ok(err == SR_OK && n == 2 &&
               strstr(lines, "STREAM c1@pbx audio0-tx send deadbeef 8 PCMA 8000 - - "
                             "AES_CM_128_HMAC_SHA1_32 inline:" K30B " 0 0\n") &&
               strstr(lines, "STREAM c1@pbx audio0-rx recv - 8 PCMA 8000 - - "
                             "AES_CM_128_HMAC_SHA1_32 inline:" K30 " 0 0\n"),
           "KA_SDP_NO_ADDRESSES: every stream's src and dst '-' (%s)", sr_strerror(err));
    err = ka_sdp_disclose_with(NULL, NULL, 1u << 7, 0, &a, &b, &n, &why);
    tap_ok(err == SR_EINVAL, "ka_sdp_disclose_with: unknown flags refused (%s)", why);
    err = ka_sdp_disclose_with(NULL, NULL, KA_SDP_LATE | KA_SDP_NO_ADDRESSES, 0, &a, &b, &n, &why);
    tap_ok(err == SR_OK && n == 2, "ka_sdp_disclose_with: dry run counts 2 streams (%s)", why);

    err = disclose(&b, &a, false, lines, sizeof(lines), &n, &why);
    tap_ok(err == SR_OK && strstr(lines, "audio0-tx send - 8 PCMA 8000 [2001:db8::20]:3456 "
                                         "192.0.2.10:49170 AES_CM_128_HMAC_SHA1_32 inline:" K30 " ") != NULL,
           "answerer's side: directions swap");

    err = disclose(&a, &a, false, lines, sizeof(lines), &n, &why);
    tap_ok(err == SR_EINVAL && lines[0] == '\0' && why[0], "two offers: refused before CALL (%s)", why ? why : "");
    parse("v=0\r\nm=audio 3456 RTP/SAVP 8\r\na=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:" K30 "\r\n"
          "m=video 0 RTP/SAVP 96\r\n", &b, &why);
    err = disclose(&a, &b, false, lines, sizeof(lines), &n, &why);
    tap_ok(err == SR_EINVAL && lines[0] == '\0', "missing c=: refused before CALL (%s)", why ? why : "");
    parse("v=0\r\nc=IN IP4 192.0.2.20\r\nm=audio 3456 RTP/SAVP 8\r\n"
          "a=crypto:3 AES_CM_128_HMAC_SHA1_32 inline:" K30 "\r\nm=video 0 RTP/SAVP 96\r\n", &b, &why);
    err = disclose(&a, &b, false, lines, sizeof(lines), &n, &why);
    tap_ok(err == SR_EINVAL && lines[0] == '\0', "no shared tag: refused (%s)", why ? why : "");
    parse("v=0\r\nc=IN IP4 192.0.2.20\r\nm=audio 3456 RTP/SAVP 96\r\n"
          "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:" K30 "\r\nm=video 0 RTP/SAVP 96\r\n", &b, &why);
    err = disclose(&a, &b, false, lines, sizeof(lines), &n, &why);
    tap_ok(err == SR_EINVAL && lines[0] == '\0', "no common payload type: refused (%s)", why ? why : "");
    parse("v=0\r\nc=IN IP4 192.0.2.20\r\nm=audio 3456 RTP/SAVP 8\r\n"
          "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:" K30 "\r\n", &b, &why);
    err = disclose(&a, &b, false, lines, sizeof(lines), &n, &why);
    tap_ok(err == SR_EINVAL && lines[0] == '\0', "different m= counts: refused (%s)", why ? why : "");
    parse(answer, &b, &why);
    err = disclose(&a, &b, true, lines, sizeof(lines), &n, &why);
    tap_ok(err == SR_ESTATE && n == 0 && strncmp(lines, "CALL ", 5) == 0, "keyagent refuses STREAM: SR_ESTATE");
    ka_sdp_wipe(&a);
    ka_sdp_wipe(&b);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    valid();
    hostile();
    disclosure();
    return tap_done();
}
