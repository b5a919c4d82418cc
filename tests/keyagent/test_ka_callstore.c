/* Callstore: command semantics, limits, partial/full fills, forgetting ended calls. */
#include <stdio.h>
#include <string.h>

#include "ka_priv.h"
#include "tap.h"

#define K30 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"
#define K30B "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0e"

static enum sr_err run(struct ka_callstore *cs, const char *line, const char **why)
{
    struct ka_cmd cmd;
    enum sr_err err = ka_cmd_parse(slice_cstr(line), &cmd, why);

    if (!err)
        err = ka_callstore_apply(cs, &cmd, 1700000000000000ull, why);
    ka_cmd_wipe(&cmd);
    return err;
}

static size_t fill_filtered(struct ka_callstore *cs, bool full, size_t *keys,
                            const struct ka_filter *f1, const struct ka_filter *f2)
{
    struct sipev_keybody kb;
    size_t n;

    sipev_keybody_init(&kb);
    ka_callstore_fill(cs, &kb, full, f1, f2);
    n = kb.n_dialogs;
    *keys = 0;
    for (size_t i = 0; i < kb.n_dialogs; i++)
        for (size_t s = 0; s < kb.dialogs[i].n_streams; s++)
            *keys += kb.dialogs[i].streams[s].n_keys;
    sipev_keybody_fini(&kb);
    return n;
}

static size_t fill_count(struct ka_callstore *cs, bool full, size_t *keys)
{
    return fill_filtered(cs, full, keys, NULL, NULL);
}

/* Release hook: count released calls and any that still hold key bytes. */
struct released {
    size_t calls, dirty;
};

static void on_release(const void *p, size_t len, void *arg)
{
    struct released *r = arg;
    const uint8_t *b = p;
    /* K30 decodes to 00 01 02 ... 1d; K30B to 01 02 ... 1e: look for any
     * 8-byte run of it. */
    static const uint8_t run1[8] = { 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f };
    static const uint8_t run2[8] = { 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17 };

    r->calls++;
    for (size_t i = 0; i + 8 <= len; i++)
        if (memcmp(b + i, run1, 8) == 0 || memcmp(b + i, run2, 8) == 0) {
            r->dirty++;
            return;
        }
}

static void test_filters_and_wipe(void)
{
    struct ka_callstore *cs = NULL;
    static struct ka_filter entry, body;
    struct released rel = { 0 };
    const char *why = "";
    size_t keys;

    ka_callstore_create(&cs, 8);
    ka_callstore_set_release_hook(cs, on_release, &rel);
    run(cs, "CALL t1 l r sip:agent@cc.example sip:target@pstn.example", &why);
    run(cs, "CALL t2 l r sip:target@pstn.example sip:bank@other.example", &why);
    run(cs, "CALL o1 l r sip:agent@cc.example sip:someone@pstn.example", &why);
    run(cs, "STREAM t1 a send - 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30 " 0 1", &why);
    run(cs, "STREAM o1 a send - 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30B " 0 1",
        &why);
    ka_filter_add(&entry, KA_FILTER_AOR, SLICE_LIT("sip:target@PSTN.example"));
    tap_ok(fill_filtered(cs, true, &keys, &entry, NULL) == 2 && keys == 1,
           "entry filter by AOR: the target's 2 calls, host case folded");
    tap_ok(ka_filter_parse_body(&body, SLICE_LIT("# narrow\r\ncall-id t2\r\n"), &why) == SR_OK,
           "body filter parses");
    tap_ok(fill_filtered(cs, true, &keys, &entry, &body) == 1 && keys == 0,
           "body narrows to t2 only");
    ka_filter_parse_body(&body, SLICE_LIT("call-id o1\n"), &why);
    tap_ok(fill_filtered(cs, true, &keys, &entry, &body) == 0,
           "body cannot widen to a call outside the entry filter");
    memset(&entry, 0, sizeof(entry));
    ka_filter_add(&entry, KA_FILTER_DOMAIN, SLICE_LIT("other.example"));
    tap_ok(fill_filtered(cs, true, &keys, &entry, NULL) == 1, "domain filter");
    memset(&entry, 0, sizeof(entry));
    ka_filter_add(&entry, KA_FILTER_DOMAIN, SLICE_LIT("example"));
    tap_ok(fill_filtered(cs, true, &keys, &entry, NULL) == 0, "domain filter: no suffix match");
    ka_callstore_settle(cs);

    run(cs, "END t1", &why);
    ka_callstore_settle(cs);
    tap_ok(rel.calls == 1 && rel.dirty == 0, "an ended call's memory is wiped before free");
    ka_callstore_destroy(cs);
    tap_ok(rel.calls == 3 && rel.dirty == 0, "destroy wipes every call (%zu released)", rel.calls);
}

/* A late disclosure: CALL with the dialog's start (never in the future), a
 * stream whose ROC the client does not know, a REKEY that states one. */
static void test_start_and_roc(void)
{
    struct ka_callstore *cs = NULL;
    const struct sipev_dialog *d;
    const char *why = NULL;

    ka_callstore_create(&cs, 4);
    tap_ok(run(cs, "CALL s1 l r sip:a@x sip:b@y 2023-11-14T21:00:00Z", &why) == SR_OK &&
               (d = ka_callstore_find(cs, "s1")) && d->start_wall_us == 1699995600000000ull,
           "CALL with a start: the dialog starts then");
    tap_ok(run(cs, "CALL s2 l r sip:a@x sip:b@y 2030-01-01T00:00:00Z", &why) == SR_OK &&
               (d = ka_callstore_find(cs, "s2")) && d->start_wall_us == 1700000000000000ull,
           "CALL with a start in the future: the keyagent's clock");
    tap_ok(run(cs, "STREAM s1 a send 1 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30
                   " - 0", &why) == SR_OK &&
               (d = ka_callstore_find(cs, "s1")) && d->streams[0].roc_unknown,
           "STREAM with roc -: ROC unknown");
    tap_ok(run(cs, "REKEY s1 a AES_CM_128_HMAC_SHA1_80 inline:" K30B " 5 9", &why) == SR_OK &&
               (d = ka_callstore_find(cs, "s1")) && !d->streams[0].roc_unknown &&
               d->streams[0].roc == 5,
           "REKEY with a ROC: known from then on");
    ka_callstore_destroy(cs);
}

static void test_filter_parse(void)
{
    static struct ka_filter f;
    char big[KA_FILTER_BODY_MAX + 2];
    const char *why = "";
    size_t n = 0;

    tap_ok(ka_filter_parse_body(&f, SLICE_LIT("aor sip:a@b\ndomain x.example\ncall-id c1"), &why) ==
               SR_OK && f.n == 3, "three items, last without LF");
    tap_ok(ka_filter_parse_body(&f, SLICE_LIT("aor sip:a@b\nuser bob\n"), &why) == SR_EPARSE &&
               f.n == 0, "unknown keyword refused, filter left empty");
    tap_ok(ka_filter_parse_body(&f, SLICE_LIT("aor \n"), &why) == SR_EPARSE, "empty value refused");
    tap_ok(ka_filter_parse_body(&f, SLICE_LIT("aor a b\n"), &why) == SR_EPARSE, "space in value");
    tap_ok(ka_filter_parse_body(&f, SLICE_LIT("aor a\x01\n"), &why) == SR_EPARSE, "control byte");
    tap_ok(ka_filter_parse_body(&f, SLICE_LIT("AOR sip:a@b\n"), &why) == SR_EPARSE,
           "keywords are case-sensitive");
    for (int i = 0; i < KA_FILTER_MAX_ITEMS + 1; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "call-id c%d\n", i);
    tap_ok(ka_filter_parse_body(&f, slice_of(big, n), &why) == SR_ELIMIT, "too many items");
    memset(big, '#', sizeof(big));
    tap_ok(ka_filter_parse_body(&f, slice_of(big, sizeof(big)), &why) == SR_ELIMIT,
           "body over KA_FILTER_BODY_MAX");
    memset(big, 'x', sizeof(big));
    memcpy(big, "aor ", 4);
    tap_ok(ka_filter_parse_body(&f, slice_of(big, SIPEV_STR + 10), &why) == SR_ELIMIT,
           "over-long value");
    tap_ok(ka_filter_parse_body(&f, SLICE_LIT(""), &why) == SR_OK && f.n == 0,
           "empty body: no narrowing");
}

int main(void)
{
    struct ka_callstore *cs = NULL;
    const struct sipev_dialog *d;
    const char *why = NULL;
    size_t keys;

    tap_ok(ka_callstore_create(&cs, 2) == SR_OK, "create with 2 calls max");
    tap_ok(ka_callstore_create(&(struct ka_callstore *){ NULL }, 0) == SR_EINVAL, "0 calls refused");
    tap_ok(run(cs, "STREAM nope a send - 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30
                   " 0 0", &why) == SR_ENOTFOUND, "STREAM before CALL: not found");
    tap_ok(run(cs, "CALL c1 l r sip:a@x sip:b@y", &why) == SR_OK, "CALL c1");
    tap_ok(ka_callstore_changed(cs), "store changed");
    tap_ok(run(cs, "CALL c1 l r sip:a@x sip:b@y", &why) == SR_ESTATE, "duplicate CALL refused");
    tap_ok(run(cs, "CALL c2 l r sip:a@x sip:b@y", &why) == SR_OK, "CALL c2");
    tap_ok(run(cs, "CALL c3 l r sip:a@x sip:b@y", &why) == SR_ELIMIT, "third call over the limit");
    tap_ok(run(cs, "STREAM c1 a send 1234 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30
                   " 0 100", &why) == SR_OK, "STREAM c1/a");
    tap_ok(run(cs, "STREAM c1 a recv 1234 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30
                   " 0 100", &why) == SR_ESTATE, "duplicate stream refused");
    tap_ok(run(cs, "STREAM c1 b recv - 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30B
                   " 0 7", &why) == SR_OK, "STREAM c1/b");
    tap_ok(fill_count(cs, true, &keys) == 2 && keys == 2, "full fill: 2 calls, 2 keys");
    ka_callstore_settle(cs);
    tap_ok(!ka_callstore_changed(cs) && ka_callstore_count(cs) == 2, "settled, both kept");
    tap_ok(fill_count(cs, false, &keys) == 0, "partial fill after settle: nothing");

    tap_ok(run(cs, "REKEY c1 a AES_CM_128_HMAC_SHA1_80 inline:" K30B " 0 500", &why) == SR_OK,
           "REKEY c1/a");
    d = ka_callstore_find(cs, "c1");
    tap_ok(d && d->streams[0].keys[0].master[0] == 1 && d->streams[0].seq == 500,
           "REKEY replaced the key and position");
    tap_ok(run(cs, "REKEY c1 zz AES_CM_128_HMAC_SHA1_80 inline:" K30B, &why) == SR_ENOTFOUND,
           "REKEY of unknown stream");
    tap_ok(fill_count(cs, false, &keys) == 1, "partial fill: only the changed call");
    ka_callstore_settle(cs);

    tap_ok(run(cs, "PAUSE c1 b", &why) == SR_OK && d->streams[1].state == SIPEV_STREAM_PAUSED,
           "PAUSE");
    tap_ok(run(cs, "PAUSE c1 b", &why) == SR_OK, "PAUSE again is idempotent");
    tap_ok(run(cs, "RESUME c1 b", &why) == SR_OK && d->streams[1].state == SIPEV_STREAM_ACTIVE,
           "RESUME");
    ka_callstore_settle(cs);

    tap_ok(run(cs, "END c1", &why) == SR_OK, "END c1");
    tap_ok(run(cs, "END c1", &why) == SR_ESTATE, "END twice refused");
    tap_ok(run(cs, "PAUSE c1 a", &why) == SR_ESTATE, "commands on an ended call refused");
    d = ka_callstore_find(cs, "c1");
    tap_ok(d && d->state == SIPEV_DIALOG_ENDED && d->streams[0].state == SIPEV_STREAM_ENDED,
           "ended call and streams are marked ended");
    tap_ok(fill_count(cs, false, &keys) == 1 && keys == 0, "ended call reported without keys");
    ka_callstore_settle(cs);
    tap_ok(ka_callstore_count(cs) == 1 && !ka_callstore_find(cs, "c1"), "ended call forgotten");
    tap_ok(run(cs, "CALL c3 l r sip:a@x sip:b@y", &why) == SR_OK, "its slot is free again");

    ka_callstore_destroy(cs);
    ka_callstore_destroy(NULL);
    test_filters_and_wipe();
    test_filter_parse();
    test_start_and_roc();
    return tap_done();
}
