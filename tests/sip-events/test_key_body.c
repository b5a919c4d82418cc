/** @file test_key_body.c  application/srtp-keys+xml: round trips and hostile documents. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard.h"
#include "sipev.h"
#include "tap.h"

static const enum sipev_suite all_suites[] = {
    SIPEV_SUITE_AES_CM_128_HMAC_SHA1_80, SIPEV_SUITE_AES_CM_128_HMAC_SHA1_32,
    SIPEV_SUITE_AES_256_CM_HMAC_SHA1_80, SIPEV_SUITE_AES_256_CM_HMAC_SHA1_32,
    SIPEV_SUITE_AEAD_AES_128_GCM,        SIPEV_SUITE_AEAD_AES_256_GCM,
};

static void fill_key(struct sipev_key *k, enum sipev_suite s, uint8_t seed)
{
    size_t kl, sl;

    sipev_suite_lengths(s, &kl, &sl);
    k->suite = s;
    k->master_len = kl + sl;
    for (size_t i = 0; i < k->master_len; i++)
        k->master[i] = (uint8_t)(seed + i * 7);
}

static bool same(const struct sipev_keybody *a, const struct sipev_keybody *b)
{
    if (a->version != b->version || a->full != b->full || strcmp(a->entity, b->entity) != 0 ||
        a->n_dialogs != b->n_dialogs)
        return false;
    for (size_t i = 0; i < a->n_dialogs; i++) {
        const unsigned char *x = (const void *)&a->dialogs[i], *y = (const void *)&b->dialogs[i];
        for (size_t k = 0; k < sizeof(a->dialogs[i]); k++)
            if (x[k] != y[k]) {
                tap_diag("dialog %zu differs at byte %zu", i, k);
                return false;
            }
    }
    return true;
}

static bool round_trip(const struct sipev_keybody *kb, const char *label)
{
    struct buf out;
    struct sipev_keybody back;
    const char *why = NULL;
    enum sr_err e1, e2 = SR_EINVAL;
    bool ok;

    buf_init(&out, 16u << 20);
    sipev_keybody_init(&back);
    e1 = sipev_keybody_print(&out, kb);
    if (e1 == SR_OK)
        e2 = sipev_keybody_parse(guard_copy(out.p, out.len), out.len, &back, &why);
    ok = e1 == SR_OK && e2 == SR_OK && same(kb, &back);
    tap_ok(ok, "%s: parse(print(x)) == x (%s/%s %s)", label, sr_strerror(e1), sr_strerror(e2),
           why ? why : "");
    sipev_keybody_fini(&back);
    buf_fini(&out);
    return ok;
}

/* A dialog zeroed first, so memcmp compares padding and unused bytes too. */
static struct sipev_dialog *add(struct sipev_keybody *kb, const char *cid)
{
    struct sipev_dialog *d = NULL;

    if (sipev_keybody_add_dialog(kb, &d) != SR_OK)
        return NULL;
    snprintf(d->call_id, sizeof(d->call_id), "%s", cid);
    snprintf(d->local_tag, sizeof(d->local_tag), "lt-%s", cid);
    snprintf(d->remote_tag, sizeof(d->remote_tag), "rt");
    snprintf(d->local_aor, sizeof(d->local_aor), "sips:alice@example.net");
    snprintf(d->remote_aor, sizeof(d->remote_aor), "sip:bob@example.org;user=phone");
    d->start_wall_us = 1795600800123456ull;
    return d;
}

static struct sipev_stream *add_stream(struct sipev_dialog *d, const char *id)
{
    struct sipev_stream *s = &d->streams[d->n_streams++];

    snprintf(s->id, sizeof(s->id), "%s", id);
    snprintf(s->media, sizeof(s->media), "audio");
    snprintf(s->codec, sizeof(s->codec), "PCMU");
    s->clock_rate = 8000;
    snprintf(s->src, sizeof(s->src), "192.0.2.10:40000");
    snprintf(s->dst, sizeof(s->dst), "[2001:db8::5]:30000");
    return s;
}

static void round_trips(void)
{
    struct sipev_keybody kb;
    char label[96];

    sipev_keybody_init(&kb);
    kb.version = 1;
    snprintf(kb.entity, sizeof(kb.entity), "sips:ka@pbx.example.net");
    round_trip(&kb, "empty full document");

    /* every suite, with and without lifetime and MKI */
    for (size_t i = 0; i < sizeof(all_suites) / sizeof(all_suites[0]); i++) {
        struct sipev_dialog *d;
        struct sipev_stream *s;
        sipev_keybody_fini(&kb);
        kb.version = 100 + i;
        kb.full = i % 2 == 0;
        snprintf(kb.entity, sizeof(kb.entity), "sip:ka@x");
        d = add(&kb, "suite");
        s = add_stream(d, "a-1");
        s->ssrc_known = true;
        s->ssrc = 0xdeadbeef;
        s->roc = 3;
        s->seq = 65535;
        fill_key(&s->keys[0], all_suites[i], (uint8_t)i);
        s->keys[0].lifetime = (uint64_t)1 << 31;
        /* Several keys: an MKI each, of one length (srtpkey_set_add). */
        s->keys[0].mki = 1;
        s->keys[0].mki_len = 4;
        fill_key(&s->keys[1], all_suites[i], (uint8_t)(i + 50));
        s->keys[1].lifetime = 1000000;
        s->keys[1].mki = 0xfffffffe;
        s->keys[1].mki_len = 4;
        fill_key(&s->keys[2], all_suites[i], (uint8_t)(i + 90));
        s->keys[2].mki = 0;
        s->keys[2].mki_len = 4;
        s->n_keys = 3;
        snprintf(label, sizeof(label), "suite %s", sipev_suite_name(all_suites[i]));
        round_trip(&kb, label);
    }

    /* many dialogs and streams, every state, direction, ROC/SEQ extremes */
    sipev_keybody_fini(&kb);
    kb.version = UINT64_MAX;
    kb.full = false;
    snprintf(kb.entity, sizeof(kb.entity), "sips:a&b<c>\"'@example.net");
    for (int i = 0; i < 40; i++) {
        char cid[64];
        struct sipev_dialog *d;
        snprintf(cid, sizeof(cid), "call-%d@host", i);
        d = add(&kb, cid);
        d->state = i % 2 ? SIPEV_DIALOG_ENDED : SIPEV_DIALOG_ACTIVE;
        d->start_wall_us = (uint64_t)i * 86400000000ull * 400 + 7;
        if (i == 3) {
            memset(d->local_tag, 0, sizeof(d->local_tag));
            memset(d->remote_tag, 0, sizeof(d->remote_tag));
            memset(d->local_aor, 0, sizeof(d->local_aor));
            memset(d->remote_aor, 0, sizeof(d->remote_aor));
        }
        for (int j = 0; j < (i == 0 ? SIPEV_MAX_STREAMS : 2); j++) {
            char sid[16];
            struct sipev_stream *s;
            snprintf(sid, sizeof(sid), "s%d", j);
            s = add_stream(d, sid);
            s->direction = j % 2 ? SIPEV_DIR_RECV : SIPEV_DIR_SEND;
            s->state = (enum sipev_stream_state)(j % 3);
            s->payload_type = (unsigned)(j % 128);
            s->roc = UINT32_MAX - (uint32_t)j;
            s->seq = (uint16_t)j;
            if (j == 4) { /* a discloser that does not know the ROC */
                s->roc = 0;
                s->roc_unknown = true;
            }
            s->ssrc_known = j % 2 == 0;
            s->ssrc = s->ssrc_known ? (uint32_t)j : 0;
            if (j == 1) { /* whole fields, so memcmp sees no leftovers */
                memset(s->src, 0, sizeof(s->src));
                memset(s->dst, 0, sizeof(s->dst));
                memset(s->codec, 0, sizeof(s->codec));
            }
            if (s->state != SIPEV_STREAM_ENDED || j == 2) {
                fill_key(&s->keys[0], all_suites[j % 6], (uint8_t)j);
                s->n_keys = 1;
            }
        }
    }
    round_trip(&kb, "40 dialogs, 16 streams, every state, escaped entity");
    sipev_keybody_fini(&kb);
    tap_ok(kb.dialogs == NULL && kb.n_dialogs == 0, "fini empties");

    /* limits of the container */
    sipev_keybody_init(&kb);
    {
        struct sipev_dialog *d;
        enum sr_err err = SR_OK;
        size_t n = 0;
        while (err == SR_OK) {
            err = sipev_keybody_add_dialog(&kb, &d);
            n += err == SR_OK;
        }
        tap_ok(err == SR_ELIMIT && n == SIPEV_MAX_DIALOGS, "add_dialog stops at SIPEV_MAX_DIALOGS");
    }
    sipev_keybody_fini(&kb);

    /* printer refuses what it cannot represent */
    {
        struct buf out;
        struct sipev_dialog *d;
        struct sipev_stream *s;
        buf_init(&out, 1 << 20);
        sipev_keybody_init(&kb);
        d = add(&kb, "c");
        s = add_stream(d, "s");
        fill_key(&s->keys[0], SIPEV_SUITE_AES_CM_128_HMAC_SHA1_80, 1);
        s->n_keys = 1;
        s->keys[0].master_len = 29;
        tap_ok(sipev_keybody_print(&out, &kb) == SR_EINVAL && out.len == 0,
               "print refuses a wrong key length");
        s->keys[0].master_len = 30;
        snprintf(d->call_id, sizeof(d->call_id), "bad\x01id");
        tap_ok(sipev_keybody_print(&out, &kb) == SR_EINVAL, "print refuses control characters");
        sipev_keybody_fini(&kb);
        buf_fini(&out);
    }
}

#define NS "urn:srtprec:params:xml:ns:srtp-keys"
#define ROOT "<srtp-keys xmlns=\"" NS "\" version=\"1\" state=\"full\" entity=\"x\">"
#define DLG "<dialog call-id=\"c\"><start>2026-01-01T00:00:00Z</start>"
#define STREAM "<stream id=\"s\" direction=\"send\" media=\"audio\">"
#define K80 "inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"
#define KEYDOC(suite, key) ROOT DLG STREAM "<key suite=\"" suite "\">" key "</key></stream></dialog></srtp-keys>"

static void expect(const char *label, const char *doc, size_t len, enum sr_err want,
                   const char *why_part)
{
    struct sipev_keybody kb;
    const char *why = NULL;
    enum sr_err err;

    sipev_keybody_init(&kb);
    err = sipev_keybody_parse(guard_copy(doc, len), len, &kb, &why);
    tap_ok(err == want && (!why_part || (why && strstr(why, why_part))) &&
               (err == SR_OK || (kb.n_dialogs == 0 && kb.dialogs == NULL)),
           "%s: %s (%s)", label, sr_strerror(err), why ? why : "-");
    sipev_keybody_fini(&kb);
}

#define EXPECT(label, doc, want, part) expect(label, doc, sizeof(doc) - 1, want, part)

static void parse_details(void)
{
    struct sipev_keybody kb;
    const char *why = NULL;
    static const char doc[] = KEYDOC("AES_CM_128_HMAC_SHA1_80", K80 "|2^20|7:2");

    sipev_keybody_init(&kb);
    tap_ok(sipev_keybody_parse(doc, sizeof(doc) - 1, &kb, &why) == SR_OK, "minimal key doc (%s)",
           why ? why : "");
    if (kb.n_dialogs == 1) {
        const struct sipev_key *k = &kb.dialogs[0].streams[0].keys[0];
        tap_ok(k->master_len == 30 && k->master[0] == 0 && k->master[29] == 29, "key bytes");
        tap_ok(k->lifetime == (1u << 20) && k->mki == 7 && k->mki_len == 2, "lifetime and MKI");
        tap_ok(kb.dialogs[0].start_wall_us == 1767225600000000ull, "start time");
        tap_ok(!kb.dialogs[0].streams[0].ssrc_known, "ssrc unknown when absent");
    } else {
        tap_ok(false, "one dialog");
    }
    sipev_keybody_fini(&kb);

    static const char ssrc_dec[] =
        ROOT DLG "<stream id=\"s\" direction=\"recv\" media=\"audio\" ssrc=\"3735928559\">"
                 "<key suite=\"AES_CM_128_HMAC_SHA1_32\">" K80 "</key></stream></dialog></srtp-keys>";
    sipev_keybody_init(&kb);
    tap_ok(sipev_keybody_parse(ssrc_dec, sizeof(ssrc_dec) - 1, &kb, &why) == SR_OK &&
               kb.dialogs[0].streams[0].ssrc_known &&
               kb.dialogs[0].streams[0].ssrc == 0xdeadbeef,
           "decimal ssrc");
    sipev_keybody_fini(&kb);

    /* A body from before roc-known (roc alone) keeps its meaning; an
     * unknown ROC is roc-known="false", whatever roc says. */
    static const char roc_old[] =
        ROOT DLG "<stream id=\"s\" direction=\"recv\" media=\"audio\" roc=\"5\" seq=\"9\">"
                 "<key suite=\"AES_CM_128_HMAC_SHA1_32\">" K80 "</key></stream></dialog></srtp-keys>";
    static const char roc_unknown[] =
        ROOT DLG "<stream id=\"s\" direction=\"recv\" media=\"audio\" roc=\"5\" roc-known=\"false\">"
                 "<key suite=\"AES_CM_128_HMAC_SHA1_32\">" K80 "</key></stream></dialog></srtp-keys>";
    sipev_keybody_init(&kb);
    tap_ok(sipev_keybody_parse(roc_old, sizeof(roc_old) - 1, &kb, &why) == SR_OK &&
               kb.dialogs[0].streams[0].roc == 5 && !kb.dialogs[0].streams[0].roc_unknown,
           "roc without roc-known: a known ROC, as before");
    sipev_keybody_fini(&kb);
    sipev_keybody_init(&kb);
    tap_ok(sipev_keybody_parse(roc_unknown, sizeof(roc_unknown) - 1, &kb, &why) == SR_OK &&
               kb.dialogs[0].streams[0].roc == 0 && kb.dialogs[0].streams[0].roc_unknown,
           "roc-known=\"false\": ROC unknown (roc ignored)");
    sipev_keybody_fini(&kb);
    EXPECT("roc-known neither true nor false",
           ROOT DLG "<stream id=\"s\" direction=\"recv\" media=\"audio\" roc-known=\"no\">"
                    "<key suite=\"AES_CM_128_HMAC_SHA1_32\">" K80 "</key></stream></dialog></srtp-keys>",
           SR_EPARSE, "unknown value");

    static const char ext[] =
        ROOT "<x:meta xmlns:x=\"urn:example:ext\"><x:deep><x:deeper/></x:deep></x:meta>" DLG
             "</dialog></srtp-keys>";
    EXPECT("foreign-namespace extension skipped", ext, SR_OK, NULL);
    static const char fmt2[] = "<srtp-keys xmlns=\"" NS "\" format-version=\"2\" version=\"1\" "
                               "state=\"full\" entity=\"x\"/>";
    EXPECT("format-version 2", fmt2, SR_EUNSUPP, "format-version");
    static const char other_ns[] =
        "<srtp-keys xmlns=\"urn:srtprec:params:xml:ns:srtp-keys-v2\" version=\"1\" state=\"full\" "
        "entity=\"x\"/>";
    EXPECT("unknown namespace", other_ns, SR_EUNSUPP, "namespace");
    static const char no_ns[] = "<srtp-keys version=\"1\" state=\"full\" entity=\"x\"/>";
    EXPECT("no namespace", no_ns, SR_EUNSUPP, "namespace");
}

static void hostile(void)
{
    EXPECT("unknown suite", KEYDOC("AES_192_CM_HMAC_SHA1_80", K80), SR_EUNSUPP, "suite");
    EXPECT("suite missing", ROOT DLG STREAM "<key>" K80 "</key></stream></dialog></srtp-keys>",
           SR_EPARSE, "suite");
    EXPECT("wrong key length for suite", KEYDOC("AES_256_CM_HMAC_SHA1_80", K80), SR_EPARSE,
           "length");
    EXPECT("GCM salt is 12 bytes", KEYDOC("AEAD_AES_128_GCM", K80), SR_EPARSE, "length");
    EXPECT("bad base64", KEYDOC("AES_CM_128_HMAC_SHA1_80", "inline:AAEC!wQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"),
           SR_EPARSE, "base64");
    EXPECT("not inline", KEYDOC("AES_CM_128_HMAC_SHA1_80", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"),
           SR_EPARSE, "inline");
    EXPECT("lifetime 2^49", KEYDOC("AES_CM_128_HMAC_SHA1_80", K80 "|2^49"), SR_EPARSE, "lifetime");
    EXPECT("lifetime 0", KEYDOC("AES_CM_128_HMAC_SHA1_80", K80 "|0"), SR_EPARSE, "lifetime");
    EXPECT("empty parameter", KEYDOC("AES_CM_128_HMAC_SHA1_80", K80 "|"), SR_EPARSE, "empty");
    EXPECT("MKI too long", KEYDOC("AES_CM_128_HMAC_SHA1_80", K80 "|1:5"), SR_EUNSUPP, "MKI");
    EXPECT("MKI overflows length", KEYDOC("AES_CM_128_HMAC_SHA1_80", K80 "|256:1"), SR_EPARSE,
           "MKI");
    EXPECT("two MKIs", KEYDOC("AES_CM_128_HMAC_SHA1_80", K80 "|1:1|2:1"), SR_EPARSE, "MKI");
    EXPECT("lifetime after MKI", KEYDOC("AES_CM_128_HMAC_SHA1_80", K80 "|1:1|2^20"), SR_EPARSE,
           "lifetime");
    EXPECT("stream without key",
           ROOT DLG STREAM "</stream></dialog></srtp-keys>", SR_EPARSE, "key");
    EXPECT("dialog without start",
           ROOT "<dialog call-id=\"c\"></dialog></srtp-keys>", SR_EPARSE, "start");
    EXPECT("bad start time",
           ROOT "<dialog call-id=\"c\"><start>2026-02-30T00:00:00Z</start></dialog></srtp-keys>",
           SR_EPARSE, "RFC 3339");
    EXPECT("local time offset refused",
           ROOT "<dialog call-id=\"c\"><start>2026-02-03T00:00:00+01:00</start></dialog></srtp-keys>",
           SR_EPARSE, "RFC 3339");
    EXPECT("two starts",
           ROOT DLG "<start>2026-01-01T00:00:00Z</start></dialog></srtp-keys>", SR_EPARSE,
           "repeated");
    EXPECT("key outside stream", ROOT DLG "<key suite=\"AEAD_AES_128_GCM\">x</key></dialog></srtp-keys>",
           SR_EPARSE, "misplaced");
    EXPECT("unknown element", ROOT "<bogus/></srtp-keys>", SR_EPARSE, "unknown element");
    EXPECT("stray text", ROOT "hello</srtp-keys>", SR_EPARSE, "text");
    EXPECT("bad direction",
           ROOT DLG "<stream id=\"s\" direction=\"up\" media=\"audio\"/></dialog></srtp-keys>",
           SR_EPARSE, "unknown value");
    EXPECT("payload-type 128",
           ROOT DLG "<stream id=\"s\" direction=\"send\" media=\"audio\" payload-type=\"128\"/>"
                    "</dialog></srtp-keys>",
           SR_EPARSE, "range");
    EXPECT("seq 65536",
           ROOT DLG "<stream id=\"s\" direction=\"send\" media=\"audio\" seq=\"65536\"/>"
                    "</dialog></srtp-keys>",
           SR_EPARSE, "range");
    EXPECT("ssrc 0x1ffffffff",
           ROOT DLG "<stream id=\"s\" direction=\"send\" media=\"audio\" ssrc=\"0x1ffffffff\"/>"
                    "</dialog></srtp-keys>",
           SR_EPARSE, "ssrc");
    EXPECT("duplicate stream id",
           ROOT DLG STREAM "<key suite=\"AES_CM_128_HMAC_SHA1_80\">" K80 "</key></stream>" STREAM
                           "<key suite=\"AES_CM_128_HMAC_SHA1_80\">" K80
                           "</key></stream></dialog></srtp-keys>",
           SR_EPARSE, "duplicate");
    EXPECT("missing version", "<srtp-keys xmlns=\"" NS "\" state=\"full\" entity=\"x\"/>",
           SR_EPARSE, "missing");
    EXPECT("bad state", "<srtp-keys xmlns=\"" NS "\" version=\"1\" state=\"some\" entity=\"x\"/>",
           SR_EPARSE, "unknown value");
    EXPECT("not well-formed", ROOT "<dialog>", SR_EPARSE, NULL);
    EXPECT("empty document", "", SR_EPARSE, NULL);
    EXPECT("undefined entity", ROOT "&foo;</srtp-keys>", SR_EPARSE, NULL);
    EXPECT("billion laughs",
           "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [<!ENTITY lol \"lol\">"
           "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
           "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>"
           "<srtp-keys xmlns=\"" NS "\" version=\"1\" state=\"full\" entity=\"&lol3;\"/>",
           SR_EPARSE, "DOCTYPE");
    EXPECT("external entity",
           "<!DOCTYPE r SYSTEM \"file:///etc/passwd\"><srtp-keys xmlns=\"" NS
           "\" version=\"1\" state=\"full\" entity=\"x\"/>",
           SR_EPARSE, "DOCTYPE");
    EXPECT("wrong root in our namespace", "<dialog xmlns=\"" NS "\"/>", SR_EPARSE, "root");

    /* deep nesting inside a foreign extension */
    {
        size_t n = 0, cap = 200000;
        char *doc = malloc(cap);
        n += (size_t)snprintf(doc + n, cap - n, "%s", ROOT);
        for (int i = 0; i < 5000; i++)
            n += (size_t)snprintf(doc + n, cap - n, "<x:a xmlns:x=\"urn:e\">");
        expect("5000 nested elements", doc, n, SR_ELIMIT, "deep");
        free(doc);
    }
    /* a huge attribute */
    {
        size_t cap = 2000000, n;
        char *doc = malloc(cap);
        n = (size_t)snprintf(doc, cap, "<srtp-keys xmlns=\"" NS "\" version=\"1\" state=\"full\" entity=\"");
        memset(doc + n, 'a', 1000000);
        n += 1000000;
        n += (size_t)snprintf(doc + n, cap - n, "\"/>");
        expect("1 MB attribute", doc, n, SR_ELIMIT, "too long");
        free(doc);
    }
    /* long text in <source> */
    {
        size_t cap = 10000, n;
        char *doc = malloc(cap);
        n = (size_t)snprintf(doc, cap, "%s", ROOT DLG STREAM "<source>");
        memset(doc + n, '1', 5000);
        n += 5000;
        n += (size_t)snprintf(doc + n, cap - n, "</source></stream></dialog></srtp-keys>");
        expect("5000-byte source", doc, n, SR_ELIMIT, "too long");
        free(doc);
    }
    /* too many streams */
    {
        size_t cap = 100000, n;
        char *doc = malloc(cap);
        n = (size_t)snprintf(doc, cap, "%s", ROOT DLG);
        for (int i = 0; i < SIPEV_MAX_STREAMS + 1; i++)
            n += (size_t)snprintf(doc + n, cap - n,
                                  "<stream id=\"s%d\" direction=\"send\" media=\"audio\" "
                                  "state=\"ended\"/>",
                                  i);
        n += (size_t)snprintf(doc + n, cap - n, "</dialog></srtp-keys>");
        expect("17 streams", doc, n, SR_ELIMIT, "streams");
        free(doc);
    }
    /* too many keys */
    {
        size_t cap = 100000, n;
        char *doc = malloc(cap);
        n = (size_t)snprintf(doc, cap, "%s", ROOT DLG STREAM);
        for (int i = 0; i < SIPEV_MAX_KEYS + 1; i++)
            n += (size_t)snprintf(doc + n, cap - n,
                                  "<key suite=\"AES_CM_128_HMAC_SHA1_80\">%s|%d:1</key>", K80, i + 1);
        n += (size_t)snprintf(doc + n, cap - n, "</stream></dialog></srtp-keys>");
        expect("5 keys", doc, n, SR_ELIMIT, "keys");
        free(doc);
    }
    /* a failed parse leaves a previously filled kb empty */
    {
        struct sipev_keybody kb;
        const char *why;
        static const char good[] = KEYDOC("AES_CM_128_HMAC_SHA1_80", K80);
        sipev_keybody_init(&kb);
        sipev_keybody_parse(good, sizeof(good) - 1, &kb, &why);
        tap_ok(sipev_keybody_parse("<x", 2, &kb, &why) == SR_EPARSE && kb.n_dialogs == 0 &&
                   kb.dialogs == NULL,
               "failed parse leaves kb empty");
        sipev_keybody_fini(&kb);
    }
}

static void suites_api(void)
{
    size_t k, s;

    for (size_t i = 0; i < sizeof(all_suites) / sizeof(all_suites[0]); i++)
        tap_ok(sipev_suite_parse(slice_cstr(sipev_suite_name(all_suites[i]))) == all_suites[i],
               "suite name round trip %s", sipev_suite_name(all_suites[i]));
    tap_ok(sipev_suite_parse(SLICE_LIT("AES_192_CM_HMAC_SHA1_80")) == 0, "AES_192 not offered");
    tap_ok(sipev_suite_parse(SLICE_LIT("aes_cm_128_hmac_sha1_80")) == 0, "names are case-sensitive");
    sipev_suite_lengths(SIPEV_SUITE_AEAD_AES_256_GCM, &k, &s);
    tap_ok(k == 32 && s == 12, "AEAD_AES_256_GCM 32+12");
    sipev_suite_lengths(SIPEV_SUITE_AES_CM_128_HMAC_SHA1_32, &k, &s);
    tap_ok(k == 16 && s == 14, "AES_CM_128 16+14");
    tap_ok(sipev_suite_name(0) == NULL, "no name for 0");
}

int main(void)
{
    suites_api();
    round_trips();
    parse_details();
    hostile();
    return tap_done();
}
