/** @file test_sdp_rec.c  The recording SDP offer parser and the SRS answer:
 *  an rtpengine-style SIPREC offer, keys through srtpkey, every error. */
#include <stdio.h>
#include <string.h>

#include "siprec.h"
#include "tap.h"

#define K128 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"                                 /* 0..29 */
#define K256 "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoOEhYaHiImKi4yNjo+QkQ==" /* 100..145 */
#define KGCM "MjM0NTY3ODk6Ozw9Pj9AQUJDREVGR0hJSktMTQ=="                         /* 50..77 */

/* Two streams, one per participant, as rtpengine's siprec subscription and
 * SBCs send them: session-level c= and sendonly, labels, SDES with an MKI
 * and lifetime, a refused suite listed first. */
static const char offer_text[] =
    "v=0\r\n"
    "o=- 1730000000 2 IN IP4 192.0.2.10\r\n"
    "s=rtpengine\r\n"
    "c=IN IP4 192.0.2.10\r\n"
    "t=0 0\r\n"
    "a=sendonly\r\n"
    "m=audio 30000 RTP/SAVP 0 8 101\r\n"
    "a=label:1\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-15\r\n"
    "a=ssrc:305419896 cname:x\r\n"
    "a=ssrc:305419896 msid:y\r\n"
    "a=ssrc:1122867 cname:x\r\n"
    "a=crypto:1 AES_192_CM_HMAC_SHA1_80 inline:" K128 "\r\n"
    "a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:" K128 "|2^31|1:4\r\n"
    "a=crypto:3 AES_256_CM_HMAC_SHA1_80 inline:" K256 "\r\n"
    "a=rtcp-mux\r\n"
    "m=audio 30002 RTP/SAVPF 111\r\n"
    "c=IN IP6 2001:db8::1\r\n"
    "a=label:2\r\n"
    "a=inactive\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "a=crypto:7 AEAD_AES_128_GCM inline:" KGCM " WSH=64 -OPT\r\n"
    "m=video 0 RTP/AVP 96\r\n"
    "m=image 30004 udptl t38\n" /* a bare LF line too */
    "\r\n";

static bool seq_rand(void *ctx, uint8_t *out, size_t len)
{
    uint8_t *seed = ctx;

    for (size_t i = 0; i < len; i++)
        out[i] = (*seed)++;
    return true;
}

static bool fail_rand(void *ctx, uint8_t *out, size_t len)
{
    (void)ctx, (void)out, (void)len;
    return false;
}

static void test_offer(void)
{
    static struct siprec_sdp o;
    const char *why = NULL;
    enum siprec_err e = siprec_sdp_parse(slice_cstr(offer_text), &o, &why);
    const struct siprec_sdp_media *a = &o.media[0], *b = &o.media[1];
    bool keys = true;

    tap_ok(e == SIPREC_OK, "SIPREC offer parses: %s (%s)", siprec_strerror(e), why);
    tap_ok(o.n_media == 4 && o.o_sess_id == 1730000000 && o.o_sess_version == 2, "4 m= lines, o= numbers");
    tap_ok(strcmp(a->media, "audio") == 0 && a->port == 30000 && a->proto == SIPREC_PROTO_RTP_SAVP,
           "m=audio 30000 RTP/SAVP");
    tap_ok(a->n_fmt == 3 && a->fmt[2] == 101 && a->n_rtpmap == 3 &&
           strcmp(a->rtpmap[2].codec, "telephone-event") == 0, "formats and rtpmap");
    tap_ok(strcmp(a->addr, "192.0.2.10") == 0 && !a->ipv6, "session-level c=");
    tap_ok(strcmp(b->addr, "2001:db8::1") == 0 && b->ipv6, "media-level c= (IP6)");
    tap_ok(strcmp(a->label, "1") == 0 && strcmp(b->label, "2") == 0, "a=label");
    tap_ok(a->dir == SIPREC_DIR_SENDONLY && b->dir == SIPREC_DIR_INACTIVE,
           "session-level sendonly, media-level inactive overrides");
    tap_ok(a->n_ssrc == 2 && a->ssrc[0] == 305419896u && a->ssrc[1] == 1122867u, "distinct a=ssrc ids");
    tap_ok(a->rtcp_mux && !b->rtcp_mux, "a=rtcp-mux");
    tap_ok(a->n_crypto == 3 && !a->crypto[0].usable && a->crypto[0].refused &&
           a->crypto[0].suite == SRTPKEY_SUITE_AES_192_CM_HMAC_SHA1_80, "AES_192 kept, refused: %s",
           a->crypto[0].refused ? a->crypto[0].refused : "-");
    tap_ok(a->crypto[1].usable && a->crypto[1].tag == 2 && a->crypto[1].n_keys == 1 &&
           a->crypto[1].keys[0].lifetime == (1ull << 31) && a->crypto[1].keys[0].mki == 1 &&
           a->crypto[1].keys[0].mki_len == 4, "AES_CM_128 with lifetime and MKI (srtpkey)");
    for (size_t i = 0; i < 30; i++)
        keys = keys && a->crypto[1].keys[0].master[i] == i;
    tap_ok(keys && a->crypto[1].keys[0].master_len == 30, "key bytes");
    tap_ok(a->crypto[2].usable && a->crypto[2].keys[0].master_len == 46, "AES_256 key");
    tap_ok(siprec_sdp_crypto_pick(a) == 1, "first usable a=crypto picked");
    tap_ok(b->crypto[0].usable && b->crypto[0].suite == SRTPKEY_SUITE_AEAD_AES_128_GCM,
           "GCM with WSH and an optional -parameter usable");
    tap_ok(b->rtpmap[0].channels == 2 && b->rtpmap[0].clock_rate == 48000, "opus/48000/2");
    tap_ok(o.media[2].port == 0 && o.media[2].proto == SIPREC_PROTO_RTP_AVP &&
           siprec_sdp_crypto_pick(&o.media[2]) == -1, "disabled video line");
    tap_ok(o.media[3].proto == SIPREC_PROTO_OTHER && o.media[3].n_fmt == 0 &&
           strcmp(o.media[3].fmt_other, "t38") == 0, "udptl line kept as other, its format noted");
    siprec_sdp_wipe(&o);
}

static void test_answer(void)
{
    static struct siprec_sdp o, back;
    struct siprec_answer_cfg cfg = { .addr = "198.51.100.7", .sess_id = 42, .sess_version = 3,
                                     .port = { 40000, 40002, 40004, 40006 }, .rtcp_mux = true,
                                     .rand = seq_rand };
    uint8_t seed = 200;
    int chosen[SIPREC_SDP_MAX_MEDIA];
    struct buf out;
    const char *why = NULL;
    enum siprec_err e;

    cfg.rand_ctx = &seed;
    buf_init(&out, 8192);
    siprec_sdp_parse(slice_cstr(offer_text), &o, NULL);
    e = siprec_sdp_answer_print(&o, &cfg, &out, chosen);
    tap_ok(e == SIPREC_OK, "answer written: %s", siprec_strerror(e));
    tap_ok(chosen[0] == 1 && chosen[1] == 0 && chosen[2] == -1 && chosen[3] == -1, "chosen crypto per line");
    tap_ok(out.len && strstr(out.p, "o=srtprec 42 3 IN IP4 198.51.100.7\r\n") &&
           strstr(out.p, "c=IN IP4 198.51.100.7\r\n"), "o= and c= from the config");
    tap_ok(strstr(out.p, "m=audio 40000 RTP/SAVP 0 8 101\r\n") && strstr(out.p, "a=label:1\r\n") &&
           strstr(out.p, "a=rtcp-mux\r\n"), "first line: port, formats, label, rtcp-mux");
    tap_ok(strstr(out.p, "m=video 0 RTP/AVP 96\r\n") && strstr(out.p, "m=image 0 udptl t38\r\na=inactive\r\n"),
           "disabled and non-RTP lines answered with port 0");
    e = siprec_sdp_parse(slice_of(out.p, out.len), &back, &why);
    tap_ok(e == SIPREC_OK && back.n_media == 4, "answer parses back: %s (%s)", siprec_strerror(e), why);
    tap_ok(back.media[0].dir == SIPREC_DIR_RECVONLY && back.media[1].dir == SIPREC_DIR_INACTIVE &&
           back.media[2].dir == SIPREC_DIR_INACTIVE, "recvonly, inactive where the offer was or port 0");
    tap_ok(back.media[0].n_crypto == 1 && back.media[0].crypto[0].tag == 2 &&
           back.media[0].crypto[0].suite == SRTPKEY_SUITE_AES_CM_128_HMAC_SHA1_80 &&
           back.media[0].crypto[0].keys[0].mki_len == 0 && back.media[0].crypto[0].keys[0].lifetime == 0,
           "one a=crypto: the picked tag and suite, no MKI, no lifetime");
    tap_ok(back.media[0].crypto[0].keys[0].master[0] == 200 &&
           memcmp(back.media[0].crypto[0].keys[0].master, o.media[0].crypto[1].keys[0].master, 30) != 0,
           "the answer's key is fresh (from the random source), not the offer's");
    tap_ok(back.media[1].crypto[0].suite == SRTPKEY_SUITE_AEAD_AES_128_GCM &&
           back.media[1].crypto[0].keys[0].master_len == 28, "GCM answer key length");
    tap_ok(back.media[0].rtpmap[1].pt == 8 && strcmp(back.media[1].rtpmap[0].codec, "opus") == 0 &&
           back.media[1].rtpmap[0].channels == 2, "rtpmap echoed");

    /* port 0 from the SRS rejects a stream */
    cfg.port[0] = 0;
    buf_reset(&out);
    e = siprec_sdp_answer_print(&o, &cfg, &out, chosen);
    tap_ok(e == SIPREC_OK && chosen[0] == -1 && strstr(out.p, "m=audio 0 RTP/SAVP 0 8 101\r\n") &&
           !strstr(out.p, "a=crypto:2"), "SRS rejects a stream with port 0: no key in the answer");
    cfg.port[0] = 40000;

    /* errors: address, random source, bound, port */
    size_t before = out.len;
    cfg.addr = "not-an-address";
    tap_ok(siprec_sdp_answer_print(&o, &cfg, &out, NULL) == SIPREC_E_SDP_ANSWER && out.len == before,
           "bad address: refused, out untouched");
    cfg.addr = "198.51.100.7";
    cfg.ipv6 = true;
    tap_ok(siprec_sdp_answer_print(&o, &cfg, &out, NULL) == SIPREC_E_SDP_ANSWER, "IP4 address as IP6");
    cfg.ipv6 = false;
    cfg.rand = fail_rand;
    tap_ok(siprec_sdp_answer_print(&o, &cfg, &out, NULL) == SIPREC_E_SDP_ANSWER && out.len == before,
           "random source failure: nothing written");
    cfg.rand = NULL; /* OpenSSL */
    buf_reset(&out);
    tap_ok(siprec_sdp_answer_print(&o, &cfg, &out, NULL) == SIPREC_OK, "default random source");
    cfg.port[1] = 70000;
    tap_ok(siprec_sdp_answer_print(&o, &cfg, &out, NULL) == SIPREC_E_SDP_ANSWER, "port over 65535");
    cfg.port[1] = 40002;
    buf_fini(&out);
    buf_init(&out, 64);
    tap_ok(siprec_sdp_answer_print(&o, &cfg, &out, NULL) == SIPREC_E_SDP_ANSWER && out.len == 0,
           "buffer bound");
    tap_ok(siprec_sdp_answer_print(NULL, &cfg, &out, NULL) == SIPREC_E_INVAL, "NULL offer");
    buf_fini(&out);
    siprec_sdp_wipe(&o);
    siprec_sdp_wipe(&back);
}

static void test_plain_rtp(void)
{
    static struct siprec_sdp o;
    struct siprec_answer_cfg cfg = { .addr = "::1", .ipv6 = true, .port = { 5000 } };
    struct buf out;
    int chosen[SIPREC_SDP_MAX_MEDIA];
    enum siprec_err e = siprec_sdp_parse(
        SLICE_LIT("v=0\nc=IN IP4 127.0.0.1\nm=audio 4000 RTP/AVP 0\n"
                  "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" K128 "\n"),
        &o, NULL);

    tap_ok(e == SIPREC_OK && o.media[0].crypto[0].usable && siprec_sdp_crypto_pick(&o.media[0]) == -1,
           "a=crypto on RTP/AVP parsed, never used");
    buf_init(&out, 4096);
    e = siprec_sdp_answer_print(&o, &cfg, &out, chosen);
    tap_ok(e == SIPREC_OK && chosen[0] == -1 && !strstr(out.p, "a=crypto") &&
           strstr(out.p, "c=IN IP6 ::1\r\n") && strstr(out.p, "m=audio 5000 RTP/AVP 0\r\na=recvonly\r\n"),
           "plain RTP answer over IPv6");
    e = siprec_sdp_parse(SLICE_LIT("v=0\nc=IN IP4 127.0.0.1\nm=audio 4000 RTP/AVP 0\na=recvonly\n"), &o, NULL);
    buf_reset(&out);
    tap_ok(e == SIPREC_OK && siprec_sdp_answer_print(&o, &cfg, &out, NULL) == SIPREC_OK &&
           strstr(out.p, "a=inactive\r\n") && !strstr(out.p, "a=recvonly"),
           "a recvonly offer line is answered inactive (RFC 3264 6.1)");
    buf_fini(&out);
}

static void expect(const char *sdp, enum siprec_err want, const char *what)
{
    static struct siprec_sdp o;
    const char *why = NULL;
    enum siprec_err e = siprec_sdp_parse(slice_cstr(sdp), &o, &why);

    tap_ok(e == want && why && why[0] && o.n_media == 0, "%s: %s (%s)", what, siprec_strerror(e),
           why ? why : "-");
}

#define HEAD "v=0\r\nc=IN IP4 192.0.2.1\r\n"
#define M "m=audio 4000 RTP/SAVP 0\r\n"
#define CR "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" K128 "\r\n"

static void test_errors(void)
{
    static char big[SIPREC_SDP_MAX + 16];
    size_t n;

    expect("", SIPREC_E_SDP_SYNTAX, "empty");
    expect("v=1\r\n", SIPREC_E_SDP_SYNTAX, "first line not v=0");
    expect(HEAD "junk\r\n", SIPREC_E_SDP_SYNTAX, "not <letter>=");
    expect(HEAD "A=x\r\n", SIPREC_E_SDP_SYNTAX, "upper-case type");
    expect(HEAD "s=a\rb\r\n", SIPREC_E_SDP_SYNTAX, "CR inside a line");
    expect(HEAD "\r\n" M, SIPREC_E_SDP_SYNTAX, "empty line in the middle");
    expect("v=0\r\ns=-\r\n", SIPREC_E_SDP_NO_MEDIA, "no m= line");
    expect(HEAD "m=audio x RTP/AVP 0\r\n", SIPREC_E_SDP_MEDIA, "bad port");
    expect(HEAD "m=audio 70000 RTP/AVP 0\r\n", SIPREC_E_SDP_MEDIA, "port over 65535");
    expect(HEAD "m=audio 4000/x RTP/AVP 0\r\n", SIPREC_E_SDP_MEDIA, "bad port count");
    expect(HEAD "m=audio 4000 RTP/AVP 128\r\n", SIPREC_E_SDP_MEDIA, "payload type 128");
    expect(HEAD "m=audio 4000 RTP/AVP\r\n", SIPREC_E_SDP_MEDIA, "no payload type");
    expect(HEAD "m=audio 4000 RTP/AVP 0 8 0\r\n", SIPREC_E_SDP_MEDIA, "payload type listed twice");
    expect(HEAD "m=audio 4000\r\n", SIPREC_E_SDP_MEDIA, "no proto");
    expect(HEAD "m=\r\n", SIPREC_E_SDP_MEDIA, "empty m=");
    expect(HEAD "m=audio 4000 UDP/TLS/RTP/SAVPF 111\r\na=fingerprint:sha-256 AB\r\n", SIPREC_E_SDP_DTLS,
           "DTLS-SRTP (SAVPF)");
    expect(HEAD "m=audio 4000 UDP/TLS/RTP/SAVP 0\r\n", SIPREC_E_SDP_DTLS, "DTLS-SRTP (SAVP)");
    expect("v=0\r\nc=IN IP4 224.2.1.1/127\r\n" M CR, SIPREC_E_SDP_CONN, "multicast c=");
    expect("v=0\r\nc=IN IP4 host.example\r\n" M CR, SIPREC_E_SDP_CONN, "host name in c=");
    expect("v=0\r\nc=IN IP6 192.0.2.1\r\n" M CR, SIPREC_E_SDP_CONN, "IP4 address as IP6");
    expect("v=0\r\nc=ATM NSAP x\r\n" M CR, SIPREC_E_SDP_CONN, "not IN");
    expect("v=0\r\n" M CR, SIPREC_E_SDP_CONN, "no c= anywhere");
    expect(HEAD M "a=rtpmap:0 PCMU\r\n" CR, SIPREC_E_SDP_ATTR, "rtpmap without rate");
    expect(HEAD M "a=rtpmap:0 PCMU/8000\r\na=rtpmap:0 PCMA/8000\r\n" CR, SIPREC_E_SDP_ATTR,
           "rtpmap twice for one payload type");
    expect(HEAD M "a=rtpmap:0 PCMU/8000/0\r\n" CR, SIPREC_E_SDP_ATTR, "zero channels");
    expect(HEAD M "a=rtpmap:0 PCMUPCMUPCMUPCMUPCMUPCMUPCMUPCMU1/8000\r\n" CR, SIPREC_E_SDP_ATTR,
           "encoding name too long");
    expect(HEAD M "a=label:1\r\na=label:2\r\n" CR, SIPREC_E_SDP_ATTR, "label twice");
    expect(HEAD M "a=label:\r\n" CR, SIPREC_E_SDP_ATTR, "empty label");
    expect(HEAD M "a=label:a b\r\n" CR, SIPREC_E_SDP_ATTR, "label with a space");
    expect(HEAD M "a=ssrc:x cname:y\r\n" CR, SIPREC_E_SDP_ATTR, "bad ssrc");
    expect(HEAD M "a=sendonly\r\na=recvonly\r\n" CR, SIPREC_E_SDP_ATTR, "two directions");
    expect(HEAD "a=sendonly\r\na=sendonly\r\n" M CR, SIPREC_E_SDP_ATTR, "two session directions");
    expect(HEAD M "a=crypto:x AES_CM_128_HMAC_SHA1_80 inline:" K128 "\r\n", SIPREC_E_SDP_CRYPTO, "bad tag");
    expect(HEAD M "a=crypto:99999999999 AES_CM_128_HMAC_SHA1_80 inline:" K128 "\r\n", SIPREC_E_SDP_CRYPTO, "eleven-digit tag");
    expect(HEAD M "a=crypto:1234567890 AES_CM_128_HMAC_SHA1_80 inline:" K128 "\r\n", SIPREC_E_SDP_CRYPTO,
           "ten-digit tag");
    expect(HEAD M "a=crypto:1 AES_CM_128_HMAC_SHA1_80\r\n", SIPREC_E_SDP_CRYPTO, "no key-params");
    expect(HEAD M CR CR, SIPREC_E_SDP_CRYPTO, "tag repeated");
    expect(HEAD M "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAAA\r\n", SIPREC_E_SDP_CRYPTO,
           "short key (srtpkey's reason)");
    expect(HEAD M "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" K128 "|0\r\n", SIPREC_E_SDP_CRYPTO,
           "lifetime 0");
    expect(HEAD M, SIPREC_E_SDP_NO_CRYPTO, "SAVP without a=crypto");
    expect(HEAD M "a=crypto:1 AES_192_CM_HMAC_SHA1_80 inline:" K128 "\r\n", SIPREC_E_SDP_NO_CRYPTO,
           "only a refused suite");
    expect(HEAD M "a=crypto:1 FOO_BAR inline:" K128 "\r\n", SIPREC_E_SDP_NO_CRYPTO, "only an unknown suite");
    expect(HEAD M "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" K128 "|1:5\r\n", SIPREC_E_SDP_NO_CRYPTO,
           "only a 5-byte MKI");
    expect(HEAD M "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" K128 " UNENCRYPTED_SRTP\r\n",
           SIPREC_E_SDP_NO_CRYPTO, "UNENCRYPTED_SRTP");
    expect(HEAD M "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" K128 " KDR=1\r\n", SIPREC_E_SDP_NO_CRYPTO,
           "KDR 1");
    expect(HEAD M "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" K128 " FEC_ORDER=FEC_SRTP\r\n",
           SIPREC_E_SDP_NO_CRYPTO, "FEC_ORDER");
    expect(HEAD M "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" K128 " NEW_PARAM\r\n", SIPREC_E_SDP_NO_CRYPTO,
           "unknown mandatory session parameter");

    /* bounds */
    n = (size_t)snprintf(big, sizeof(big), HEAD);
    for (int i = 0; i <= SIPREC_SDP_MAX_MEDIA; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "m=audio 0 RTP/AVP 0\r\n");
    expect(big, SIPREC_E_SDP_LIMIT, "too many m= lines");
    n = (size_t)snprintf(big, sizeof(big), HEAD "m=audio 4000 RTP/AVP");
    for (int i = 0; i <= SIPREC_SDP_MAX_FMT; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, " %d", i);
    snprintf(big + n, sizeof(big) - n, "\r\n");
    expect(big, SIPREC_E_SDP_LIMIT, "too many formats");
    n = (size_t)snprintf(big, sizeof(big), HEAD "m=audio 4000 RTP/AVP 0\r\n");
    for (int i = 0; i <= SIPREC_SDP_MAX_FMT; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "a=rtpmap:%d X/8000\r\n", i);
    expect(big, SIPREC_E_SDP_LIMIT, "too many rtpmap");
    n = (size_t)snprintf(big, sizeof(big), HEAD M);
    for (int i = 1; i <= SIPREC_SDP_MAX_CRYPTO + 1; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n,
                              "a=crypto:%d AES_CM_128_HMAC_SHA1_80 inline:" K128 "\r\n", i);
    expect(big, SIPREC_E_SDP_LIMIT, "too many a=crypto");
    n = (size_t)snprintf(big, sizeof(big), HEAD M CR);
    for (int i = 1; i <= SIPREC_SDP_MAX_SSRC + 1; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "a=ssrc:%d cname:x\r\n", i);
    expect(big, SIPREC_E_SDP_LIMIT, "too many ssrc");
    n = (size_t)snprintf(big, sizeof(big), HEAD "s=");
    memset(big + n, 'x', SIPREC_SDP_MAX_LINE);
    big[n + SIPREC_SDP_MAX_LINE] = '\0';
    expect(big, SIPREC_E_SDP_LIMIT, "line over 2048 bytes");
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    expect(big, SIPREC_E_SDP_LIMIT, "SDP over 64 KiB");

    tap_ok(siprec_sdp_parse(SLICE_LIT("v=0"), NULL, NULL) == SIPREC_E_INVAL, "NULL out");
    /* NUL inside a line (slice_cstr would stop at it) */
    {
        static struct siprec_sdp o;
        static const char nul[] = "v=0\r\ns=a\0b\r\n";
        tap_ok(siprec_sdp_parse(slice_of(nul, sizeof(nul) - 1), &o, NULL) == SIPREC_E_SDP_SYNTAX,
               "NUL inside a line");
    }
}

int main(void)
{
    test_offer();
    test_answer();
    test_plain_rtp();
    test_errors();
    return tap_done();
}
