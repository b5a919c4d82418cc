/* kb_samples: write key bodies as the keyagent prints them, for schema checks.
 *
 *   kb_samples OUTDIR
 *
 * Applies control lines to a callstore (every suite, lifetime, MKI, several
 * keys, SSRC, IPv4/IPv6 fork addresses, pause, end) and writes, after each
 * step, the full and the partial state that a subscriber would receive, as
 * OUTDIR/NN-full.xml and OUTDIR/NN-partial.xml.  Exit 0 when every line was
 * accepted and every body printed.  The keys are test constants. */
#include <stdio.h>
#include <string.h>

#include "ka_priv.h"

#define K30 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"
#define K46 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLQ=="
#define K28 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw=="
#define K44 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKis="

static const char *const steps[] = {
    "CALL c1@pbx.example ltag rtag sip:agent1@cc.example sip:cust1@pstn.example",
    "STREAM c1@pbx.example tx send 0badf00d 0 PCMU 8000 192.0.2.1:4000 192.0.2.2:5000 "
    "AES_CM_128_HMAC_SHA1_80 inline:" K30 "|2^20|1:4 0 100",
    "STREAM c1@pbx.example rx recv - 8 PCMA 8000 [2001:db8::1]:4002 [2001:db8::2]:5002 "
    "AES_CM_128_HMAC_SHA1_32 inline:" K30 "|1:1 inline:" K30 "|2:1 4294967295 65535",
    "CALL c2&<x>@pbx - - tel:+15551234567 sips:bob@example.com",
    "STREAM c2&<x>@pbx a-1 send 1 96 opus 48000 - - AES_256_CM_HMAC_SHA1_80 inline:" K46 "|1048575 0 0",
    "STREAM c2&<x>@pbx a-2 send - 9 G722 8000 - - AES_256_CM_HMAC_SHA1_32 inline:" K46 " 0 0",
    "STREAM c2&<x>@pbx a-3 recv ffffffff 0 PCMU 8000 - - AEAD_AES_128_GCM inline:" K28 " 0 0",
    "STREAM c2&<x>@pbx a-4 recv - 0 PCMU 8000 - - AEAD_AES_256_GCM inline:" K44 "|2^48|255:1 0 0",
    "PAUSE c1@pbx.example rx",
    "REKEY c1@pbx.example tx AES_CM_128_HMAC_SHA1_80 inline:" K30 " 7 8",
    "END c1@pbx.example",
    /* A late disclosure: the dialog's start, a ROC the client does not know. */
    "CALL c3@sbc.example - - sip:a@sbc.example sip:b@sbc.example 2025-11-24T10:00:00Z",
    "STREAM c3@sbc.example a0-tx send - 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30 " - 0",
};

static int write_body(const char *dir, unsigned step, bool full, const struct ka_callstore *cs)
{
    struct sipev_keybody kb;
    struct buf out;
    char path[512];
    FILE *f;
    int rc = 1;

    sipev_keybody_init(&kb);
    buf_init(&out, 1 << 20);
    if (ka_callstore_fill(cs, &kb, full, NULL, NULL) != SR_OK)
        goto out;
    kb.version = step;
    kb.full = full;
    snprintf(kb.entity, sizeof(kb.entity), "sip:keyagent@example.net");
    if (sipev_keybody_print(&out, &kb) != SR_OK)
        goto out;
    snprintf(path, sizeof(path), "%s/%02u-%s.xml", dir, step, full ? "full" : "partial");
    f = fopen(path, "w");
    if (!f)
        goto out;
    rc = fwrite(out.p, 1, out.len, f) == out.len ? 0 : 1;
    if (fclose(f) != 0)
        rc = 1;
out:
    buf_fini(&out);
    sipev_keybody_fini(&kb);
    return rc;
}

int main(int argc, char **argv)
{
    struct ka_callstore *cs = NULL;
    int rc = 0;

    if (argc != 2 || ka_callstore_create(&cs, 16) != SR_OK)
        return 2;
    for (unsigned i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        struct ka_cmd cmd;
        const char *why = "";

        if (ka_cmd_parse(slice_cstr(steps[i]), &cmd, &why) != SR_OK ||
            ka_callstore_apply(cs, &cmd, 1764000000000000ull + i, &why) != SR_OK) {
            fprintf(stderr, "kb_samples: step %u refused: %s\n", i, why);
            rc = 1;
        }
        ka_cmd_wipe(&cmd);
        rc |= write_body(argv[1], i, false, cs) | write_body(argv[1], i, true, cs);
        ka_callstore_settle(cs);
    }
    ka_callstore_destroy(cs);
    return rc;
}
