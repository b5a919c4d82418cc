/** @file fuzz_archive_sig.c  Arbitrary bytes as an archive's signature file,
 *  as the seal ledger, or as the archive beside a valid signature, through
 *  stor_archive_check.  Must never crash, leak or hang, and never say
 *  authentic unless the bytes are the ones signed.
 *
 * The first byte picks the role of the rest: 0 the <id>.srec.sig file,
 * 1 the seal ledger (beside a valid signature), 2 the archive itself.
 * The signing key below is a fixed test key (it protects nothing); the
 * archive and its valid signature are made once, in a temporary
 * directory, because the check finds the signature by file name.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "stor.h"
#include "stor_priv.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char key_pem[] = "-----BEGIN PRIVATE KEY-----\n"
                              "MC4CAQAwBQYDK2VwBCIEIDr24/U0PJBLoHy/YyR7Vy9Wcvhz2HwM7JTTAIiZbclX\n"
                              "-----END PRIVATE KEY-----\n";
static const char id_hex[] = "00112233445566778899aabbccddeeff";

/* The harness's fixed files (made on the first input). */
struct fixture {
    char dir[64], archive[128], sig[160], ledger[128], pub[128];
    uint8_t archive_bytes[64], good_sig[STOR_SIG_FILE_LEN];
    bool ready;
};

static struct fixture the_fx; /* the harness's own files, made once */

static void cleanup(void)
{
    unlink(the_fx.archive);
    unlink(the_fx.sig);
    unlink(the_fx.ledger);
    unlink(the_fx.pub);
    rmdir(the_fx.dir);
}

static bool spit(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    bool ok = f && (n == 0 || fwrite(p, 1, n, f) == n);

    if (f && fclose(f) != 0)
        ok = false;
    return ok;
}

static bool setup(struct fixture *f_)
{
    struct fixture *fx = f_;
    char key[128];
    struct stor_signer *s = NULL;
    const char *why = NULL;
    uint8_t id[STOR_ID_LEN], sha[32];
    FILE *f;
    bool ok;

    snprintf(fx->dir, sizeof(fx->dir), "/tmp/fuzz-archive-sig.XXXXXX");
    if (!mkdtemp(fx->dir))
        return false;
    snprintf(key, sizeof(key), "%s/k.pem", fx->dir);
    snprintf(fx->pub, sizeof(fx->pub), "%s/pub.pem", fx->dir);
    snprintf(fx->archive, sizeof(fx->archive), "%s/%s.srec", fx->dir, id_hex);
    snprintf(fx->sig, sizeof(fx->sig), "%s.sig", fx->archive);
    snprintf(fx->ledger, sizeof(fx->ledger), "%s/seals", fx->dir);
    for (size_t i = 0; i < STOR_ID_LEN; i++)
        id[i] = (uint8_t)(0x11 * i);
    memset(fx->archive_bytes, 0xa5, sizeof(fx->archive_bytes));
    memcpy(fx->archive_bytes + 16, id, STOR_ID_LEN); /* the header's id field */
    f = fopen(key, "wb");
    ok = f && fputs(key_pem, f) >= 0;
    if (f)
        fclose(f);
    ok = ok && chmod(key, 0600) == 0 && stor_signer_load(&s, key, &why) == SR_OK &&
         spit(fx->archive, fx->archive_bytes, sizeof(fx->archive_bytes)) &&
         stor_file_sha256(fx->archive, sha) == SR_OK &&
         stor_sig_make(s, id, sha, 1767323045000000ull, fx->good_sig) == SR_OK;
    stor_signer_free(s);
    /* The trusted public key: the signature file carries it at offset 64. */
    if (ok) {
        EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, fx->good_sig + 64, 32);
        f = pk ? fopen(fx->pub, "wb") : NULL;
        ok = f && PEM_write_PUBKEY(f, pk) == 1;
        if (f)
            fclose(f);
        EVP_PKEY_free(pk);
    }
    unlink(key);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct stor_check_cfg cc = { 0 };
    char msg[1024];
    enum stor_authn a;
    unsigned mode;

    if (!the_fx.ready) {
        if (!(the_fx.ready = setup(&the_fx)))
            __builtin_trap();
        atexit(cleanup);
    }
    if (size < 1)
        return 0;
    mode = data[0] % 3;
    data++, size--;
    cc.signer_pub = the_fx.pub;
    unlink(the_fx.ledger);
    if (!spit(the_fx.archive, mode == 2 ? data : the_fx.archive_bytes,
              mode == 2 ? size : sizeof(the_fx.archive_bytes)) ||
        !spit(the_fx.sig, mode == 0 ? data : the_fx.good_sig, mode == 0 ? size : sizeof(the_fx.good_sig)))
        __builtin_trap();
    if (mode == 1) {
        if (!spit(the_fx.ledger, data, size))
            __builtin_trap();
        cc.ledger = the_fx.ledger;
    }
    a = stor_archive_check(the_fx.archive, &cc, msg, sizeof(msg));
    /* Authentic only for the bytes signed. */
    if (a == STOR_AUTHN_OK && mode == 2 &&
        (size != sizeof(the_fx.archive_bytes) || memcmp(data, the_fx.archive_bytes, size) != 0))
        __builtin_trap();
    if (a == STOR_AUTHN_OK && mode == 0 &&
        (size != sizeof(the_fx.good_sig) || memcmp(data, the_fx.good_sig, 96) != 0))
        __builtin_trap();
    return 0;
}
