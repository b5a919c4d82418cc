/** @file test_sign.c  Archive signatures and the seal ledger: each verdict of
 *  stor_archive_check (authentic, unsigned, forged, swapped, deleted,
 *  error), the signing key's checks, the ledger record. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "chainlog.h"
#include "stor.h"
#include "tap.h"
#include "testcert.h"

struct fx {
    char dir[4096], crt[4096], key[4096], ledger[4200];
    char sk[4200], sk_pub[4200], sk2[4200], sk2_pub[4200];
    struct stor_signer *signer, *signer2;
};

/* An Ed25519 key (0600) and its public half. */
static bool make_key(const char *key, const char *pub, int mode)
{
    EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    FILE *f = pk ? fopen(key, "w") : NULL;
    bool ok = f && PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL) == 1;

    if (f)
        fclose(f);
    ok = ok && chmod(key, (mode_t)mode) == 0;
    f = ok ? fopen(pub, "w") : NULL;
    ok = f && PEM_write_PUBKEY(f, pk) == 1;
    if (f)
        fclose(f);
    EVP_PKEY_free(pk);
    return ok;
}

/* One sealed archive in dir (a stream, a few packets), signed by s into
 * ledger cl when given; its path and the hash the writer reports. */
static bool write_archive(struct fx *fx, const struct stor_signer *s, struct chainlog *cl,
                          const char *dir, char *path, char sha[65])
{
    const char *recips[] = { fx->crt };
    struct stor_writer_cfg cfg = { dir, recips, 1, 0, 0, STOR_SYNC_CLOSE, NULL };
    struct stor_call_info call = { 0 };
    struct stor_stream_info si = { 0x1234, 0, "PCMU", 8000, STOR_DIR_SEND, "s", false };
    struct stor_counts counts = { 0 };
    struct stor_writer *w;
    uint8_t data[160];
    char id[STOR_ID_HEX];
    unsigned idx;
    bool ok;

    snprintf(call.call_id, sizeof(call.call_id), "sign-test@host");
    snprintf(call.local_aor, sizeof(call.local_aor), "sip:a@example.net");
    snprintf(call.remote_aor, sizeof(call.remote_aor), "sip:b@example.org");
    call.start_wall_us = 1700000000000000ull;
    memset(data, 0x55, sizeof(data));
    if (stor_writer_open(&w, &cfg, &call, id) != SR_OK)
        return false;
    if (s)
        stor_writer_sign(w, s, cl);
    ok = stor_writer_add_stream(w, &si, &idx) == SR_OK;
    for (unsigned i = 0; ok && i < 10; i++) {
        struct stor_pkt p = { .seq = (uint16_t)i, .ext_seq = i, .ext_ts = i * 160u,
                              .arrival_wall_us = call.start_wall_us + i * 20000u,
                              .payload = data, .payload_len = sizeof(data) };
        ok = stor_writer_packet(w, idx, &p) == SR_OK;
    }
    counts.packets = 10;
    ok = ok && stor_writer_seal(w, &counts, STOR_END_COMPLETE, path, 4096) == SR_OK;
    if (ok && sha) {
        const char *h = stor_writer_file_sha256(w);
        snprintf(sha, 65, "%s", h ? h : "");
    }
    stor_writer_abandon(w);
    return ok;
}

static bool copy(const char *from, const char *to)
{
    size_t n;
    unsigned char *b = testcert_slurp(from, &n);
    bool ok = b && testcert_spit(to, b, n);

    free(b);
    return ok;
}

static enum stor_authn check(const struct fx *fx, const char *path, const char *id,
                             const char *sha, bool ledger, char *msg, size_t len)
{
    struct stor_check_cfg c = { fx->sk_pub, id, sha, ledger ? fx->ledger : NULL, NULL };
    enum stor_authn a = stor_archive_check(path, &c, msg, len);

    tap_diag("%s", msg);
    return a;
}

static void id_of(const char *path, char id[STOR_ID_HEX])
{
    const char *b = strrchr(path, '/');
    snprintf(id, STOR_ID_HEX, "%.32s", b ? b + 1 : path);
}

static void test_key_checks(struct fx *fx)
{
    char k[4200], p[4200], ecc[4096], eck[4096];
    struct stor_signer *s = NULL;
    const char *why = NULL;

    snprintf(k, sizeof(k), "%s/loose.key", fx->dir);
    snprintf(p, sizeof(p), "%s/loose.pub", fx->dir);
    tap_ok(make_key(k, p, 0640), "a loose key made");
    tap_ok(stor_signer_load(&s, k, &why) == SR_EAUTH && !s,
           "a signing key readable by the group is refused (%s)", why);
    tap_ok(testcert_make(fx->dir, "eckey", TESTCERT_EC, ecc, eck) && chmod(eck, 0600) == 0,
           "an EC key made");
    tap_ok(stor_signer_load(&s, eck, &why) == SR_EUNSUPP, "a P-256 key is not Ed25519 (%s)",
           why);
    tap_ok(stor_signer_load(&s, ecc, &why) == SR_EAUTH || stor_signer_load(&s, ecc, &why) ==
           SR_EPARSE, "a certificate is not a signing key (%s)", why);
    snprintf(k, sizeof(k), "%s/none.key", fx->dir);
    tap_ok(stor_signer_load(&s, k, &why) == SR_EIO, "a missing key file: SR_EIO (%s)", why);
    tap_ok(stor_signer_load(&fx->signer, fx->sk, &why) == SR_OK &&
               strlen(stor_signer_key_id(fx->signer)) == 16,
           "the 0600 Ed25519 key loads, key id %s", fx->signer ? stor_signer_key_id(fx->signer) : "");
    tap_ok(stor_signer_load(&fx->signer2, fx->sk2, &why) == SR_OK, "a second (foreign) key");
}

int main(void)
{
    struct fx fx = { 0 };
    char a[4096], b[4096], u[4096], x[4096], d[4096], msg[1024], sha_a[65], sha_b[65],
        sha_d[65], id_a[STOR_ID_HEX], id_b[STOR_ID_HEX], scratch[4200], p1[4300], p2[4300],
        sig1[4400], sig2[4400], other[4200];
    struct chainlog *cl = NULL;
    struct chainlog_cfg lc = { 0 };
    struct chainlog_verdict v;

    if (!tap_ok(testcert_tmpdir(fx.dir), "temp dir"))
        return tap_done();
    tap_ok(testcert_make(fx.dir, "auditor", TESTCERT_EC, fx.crt, fx.key), "recipient cert");
    snprintf(fx.sk, sizeof(fx.sk), "%s/sign.key", fx.dir);
    snprintf(fx.sk_pub, sizeof(fx.sk_pub), "%s/sign.pub", fx.dir);
    snprintf(fx.sk2, sizeof(fx.sk2), "%s/sign2.key", fx.dir);
    snprintf(fx.sk2_pub, sizeof(fx.sk2_pub), "%s/sign2.pub", fx.dir);
    snprintf(fx.ledger, sizeof(fx.ledger), "%s/seals.log", fx.dir);
    tap_ok(make_key(fx.sk, fx.sk_pub, 0600) && make_key(fx.sk2, fx.sk2_pub, 0600),
           "two Ed25519 signing keys");
    test_key_checks(&fx);
    if (!fx.signer || !fx.signer2)
        return tap_done();

    lc.path = fx.ledger;
    lc.tag = STOR_LEDGER_TAG;
    tap_ok(chainlog_open(&cl, &lc, &v) == SR_OK, "seal ledger opened");
    tap_ok(write_archive(&fx, fx.signer, cl, fx.dir, a, sha_a) && strlen(sha_a) == 64,
           "archive A sealed and signed, sha256 %s", sha_a);
    tap_ok(write_archive(&fx, fx.signer, cl, fx.dir, b, sha_b), "archive B sealed and signed");
    tap_ok(chainlog_records(cl) == 2, "the ledger has one seal record per archive");
    chainlog_close(cl);
    tap_ok(chainlog_verify(fx.ledger, STOR_LEDGER_TAG, NULL, &v) == SR_OK && v.records == 2,
           "the ledger verifies as a SEAL1 chain");
    {
        /* The ledger record carries id, hash, signer and time. */
        size_t n;
        char *t = (char *)testcert_slurp(fx.ledger, &n);
        id_of(a, id_a);
        tap_ok(t && strstr(t, id_a) && strstr(t, sha_a) &&
                   strstr(t, stor_signer_key_id(fx.signer)) && strstr(t, "sealed_us="),
               "the record names id, sha256, signer key and seal time");
        free(t);
    }
    id_of(b, id_b);
    {
        uint8_t h[32];
        char hex[65];
        static const char digits[] = "0123456789abcdef";
        tap_ok(stor_file_sha256(a, h) == SR_OK, "file hash");
        for (int i = 0; i < 32; i++)
            hex[2 * i] = digits[h[i] >> 4], hex[2 * i + 1] = digits[h[i] & 15];
        hex[64] = 0;
        tap_ok(strcmp(hex, sha_a) == 0, "the writer reports the sealed file's SHA-256");
    }
    snprintf(p1, sizeof(p1), "%s.sig", a);
    tap_ok(access(p1, F_OK) == 0, "a signature file beside the archive");

    tap_ok(check(&fx, a, NULL, sha_a, true, msg, sizeof(msg)) == STOR_AUTHN_OK &&
               strncmp(msg, "AUTHENTIC", 9) == 0,
           "A: authentic (signature, index hash and ledger)");
    tap_ok(check(&fx, a, NULL, NULL, false, msg, sizeof(msg)) == STOR_AUTHN_OK,
           "A: authentic on its signature alone");
    tap_ok(check(&fx, a, NULL, sha_b, true, msg, sizeof(msg)) == STOR_AUTHN_SWAPPED,
           "A under an index row that records B's hash: swapped");

    /* Each attack on copies in a scratch directory, named as the original. */
    snprintf(scratch, sizeof(scratch), "%s/s", fx.dir);
    mkdir(scratch, 0700);
    snprintf(p1, sizeof(p1), "%s/%s.srec", scratch, id_a);
    snprintf(sig1, sizeof(sig1), "%s.sig", p1);
    snprintf(p2, sizeof(p2), "%s/%s.srec", scratch, id_b);
    snprintf(sig2, sizeof(sig2), "%s.sig", p2);
    snprintf(other, sizeof(other), "%s.sig", a);

    /* Tamper one byte (in the middle: a chunk). */
    {
        size_t n;
        unsigned char *buf = testcert_slurp(a, &n);
        buf[n / 2] ^= 1;
        tap_ok(testcert_spit(p1, buf, n) && copy(other, sig1), "A copied with one byte changed");
        free(buf);
    }
    tap_ok(check(&fx, p1, NULL, sha_a, true, msg, sizeof(msg)) == STOR_AUTHN_FORGED &&
               strstr(msg, "bytes changed"),
           "a changed byte: forged (bytes changed since the seal)");
    /* Strip the signature. */
    tap_ok(copy(a, p1) && unlink(sig1) == 0, "A copied without its signature");
    tap_ok(check(&fx, p1, NULL, NULL, true, msg, sizeof(msg)) == STOR_AUTHN_FORGED &&
               strstr(msg, "stripped"),
           "stripped signature, seal in the ledger: forged");
    tap_ok(check(&fx, p1, NULL, sha_a, false, msg, sizeof(msg)) == STOR_AUTHN_FORGED &&
               strstr(msg, "stripped"),
           "stripped signature, hash in the index: forged");
    /* An archive written with the public certificate only, put in A's place. */
    tap_ok(write_archive(&fx, NULL, NULL, fx.dir, x, NULL), "a forger's archive (public cert only)");
    tap_ok(copy(x, p1) && copy(other, sig1), "... under A's name, beside A's signature");
    tap_ok(check(&fx, p1, NULL, sha_a, true, msg, sizeof(msg)) == STOR_AUTHN_FORGED,
           "the forgery beside A's signature: forged");
    unlink(sig1);
    tap_ok(check(&fx, p1, NULL, sha_a, true, msg, sizeof(msg)) == STOR_AUTHN_FORGED,
           "the forgery without a signature: forged (the seal is recorded)");
    /* The forger signs with a key of their own. */
    {
        char fsig[4200], ffile[4200];
        snprintf(ffile, sizeof(ffile), "%s/f", fx.dir);
        mkdir(ffile, 0700);
        tap_ok(write_archive(&fx, fx.signer2, NULL, ffile, d, NULL), "an archive signed by a foreign key");
        snprintf(fsig, sizeof(fsig), "%s.sig", d);
        tap_ok(copy(d, p1) && copy(fsig, sig1), "... put in A's place");
        tap_ok(check(&fx, p1, NULL, sha_a, true, msg, sizeof(msg)) == STOR_AUTHN_FORGED &&
                   strstr(msg, "not by the recorder's key"),
               "signed by another key: forged");
    }
    /* A signature file that is not one. */
    tap_ok(copy(a, p1) && testcert_spit(sig1, "SRECSIG1 short", 14), "A with a truncated .sig");
    tap_ok(check(&fx, p1, NULL, sha_a, true, msg, sizeof(msg)) == STOR_AUTHN_FORGED &&
               strstr(msg, "malformed"),
           "a malformed signature file: forged");

    /* Swap two valid archives, with their signatures. */
    {
        char bsig[4200];
        snprintf(bsig, sizeof(bsig), "%s.sig", b);
        tap_ok(copy(b, p1) && copy(bsig, sig1) && copy(a, p2) && copy(other, sig2),
               "A and B swapped, signatures with them");
        tap_ok(check(&fx, p1, NULL, sha_a, true, msg, sizeof(msg)) == STOR_AUTHN_SWAPPED &&
                   strstr(msg, id_b),
               "A's name holds B: swapped, naming B");
        tap_ok(check(&fx, p2, NULL, sha_b, true, msg, sizeof(msg)) == STOR_AUTHN_SWAPPED,
               "B's name holds A: swapped");
        tap_ok(check(&fx, p1, NULL, NULL, false, msg, sizeof(msg)) == STOR_AUTHN_SWAPPED,
               "swapped, found on the signature alone (no index hash, no ledger)");
        /* Only the archives swapped, each signature left in place. */
        tap_ok(copy(other, sig1) && copy(bsig, sig2), "signatures back in place");
        tap_ok(check(&fx, p1, NULL, sha_a, true, msg, sizeof(msg)) == STOR_AUTHN_SWAPPED,
               "archives swapped under their old signatures: swapped (ledger)");
        tap_ok(check(&fx, p1, NULL, NULL, false, msg, sizeof(msg)) == STOR_AUTHN_SWAPPED,
               "... and without the ledger: swapped (the header names B)");
    }
    /* Delete one. */
    unlink(p1);
    unlink(sig1);
    tap_ok(check(&fx, p1, NULL, NULL, true, msg, sizeof(msg)) == STOR_AUTHN_DELETED,
           "A gone, its seal in the ledger: deleted");
    tap_ok(check(&fx, p1, NULL, sha_a, false, msg, sizeof(msg)) == STOR_AUTHN_DELETED,
           "A gone, its hash in the index: deleted");
    tap_ok(check(&fx, p1, NULL, NULL, false, msg, sizeof(msg)) == STOR_AUTHN_ERROR,
           "a file that is not there and was never recorded: error");

    /* Unsigned: written before signing; then checked against the ledger. */
    tap_ok(write_archive(&fx, NULL, NULL, fx.dir, u, NULL), "an unsigned archive");
    tap_ok(check(&fx, u, NULL, NULL, true, msg, sizeof(msg)) == STOR_AUTHN_UNSIGNED,
           "no signature, nothing recorded: unsigned");
    /* Signed by the recorder's key, but the ledger never saw it. */
    tap_ok(write_archive(&fx, fx.signer, NULL, fx.dir, d, sha_d), "signed without the ledger");
    tap_ok(check(&fx, d, NULL, sha_d, true, msg, sizeof(msg)) == STOR_AUTHN_FORGED &&
               strstr(msg, "no record"),
           "signed but not in the ledger: forged");
    tap_ok(check(&fx, d, NULL, sha_d, false, msg, sizeof(msg)) == STOR_AUTHN_OK,
           "... authentic when no ledger is checked");
    /* No trusted key to check with. */
    {
        struct stor_check_cfg c = { NULL, NULL, NULL, NULL, NULL };
        tap_ok(stor_archive_check(a, &c, msg, sizeof(msg)) == STOR_AUTHN_ERROR,
               "no signer certificate given: error");
        c.signer_pub = fx.crt;
        tap_ok(stor_archive_check(a, &c, msg, sizeof(msg)) == STOR_AUTHN_ERROR,
               "an EC certificate as the signer: error (%s)", msg);
    }
    /* A broken ledger chain: error, never authentic. */
    {
        size_t n;
        char *t = (char *)testcert_slurp(fx.ledger, &n);
        char *p = t ? strstr(t, "sealed_us=") : NULL;
        if (p)
            p[10] = p[10] == '1' ? '2' : '1';
        tap_ok(p && testcert_spit(fx.ledger, t, n), "a ledger line edited");
        free(t);
        tap_ok(check(&fx, a, NULL, sha_a, true, msg, sizeof(msg)) == STOR_AUTHN_ERROR &&
                   strstr(msg, "seal ledger"),
               "an edited ledger: error naming the ledger");
    }
    {
        /* stor_sig_check: a signature without its archive's bytes (a ranged
         * download from the object store), against the id and index hash. */
        char sp[4200], ida[STOR_ID_HEX], idb[STOR_ID_HEX];
        size_t n;
        uint8_t *sg;
        snprintf(sp, sizeof(sp), "%s.sig", a);
        sg = testcert_slurp(sp, &n);
        id_of(a, ida);
        id_of(b, idb);
        tap_ok(sg && stor_sig_check(sg, n, fx.sk_pub, ida, sha_a, msg, sizeof(msg)) ==
                         STOR_AUTHN_OK,
               "sig_check: A's signature, A's id and hash: authentic (%s)", msg);
        tap_ok(stor_sig_check(sg, n, fx.sk_pub, idb, sha_b, msg, sizeof(msg)) == STOR_AUTHN_SWAPPED,
               "sig_check: A's signature offered for B: swapped (%s)", msg);
        tap_ok(stor_sig_check(sg, n, fx.sk_pub, ida, sha_b, msg, sizeof(msg)) == STOR_AUTHN_FORGED,
               "sig_check: over another hash than the index's: forged (%s)", msg);
        tap_ok(stor_sig_check(sg, n, fx.sk2_pub, ida, sha_a, msg, sizeof(msg)) == STOR_AUTHN_FORGED,
               "sig_check: not the trusted key: forged (%s)", msg);
        tap_ok(stor_sig_check(sg, n - 1, fx.sk_pub, ida, sha_a, msg, sizeof(msg)) ==
                   STOR_AUTHN_FORGED,
               "sig_check: truncated: forged");
        tap_ok(stor_sig_check(NULL, 0, fx.sk_pub, ida, sha_a, msg, sizeof(msg)) == STOR_AUTHN_FORGED &&
                   stor_sig_check(NULL, 0, fx.sk_pub, ida, "", msg, sizeof(msg)) ==
                       STOR_AUTHN_UNSIGNED,
               "sig_check: none while a hash is recorded: forged (stripped); none and none: unsigned");
        free(sg);
    }
    tap_ok(strcmp(stor_authn_name(STOR_AUTHN_SWAPPED), "swapped") == 0 &&
               strcmp(stor_authn_name(STOR_AUTHN_OK), "authentic") == 0,
           "verdict names");
    stor_signer_free(fx.signer);
    stor_signer_free(fx.signer2);
    {
        char cmd[8400];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx.dir);
        if (system(cmd) != 0)
            tap_diag("cleanup of %s failed", fx.dir);
    }
    return tap_done();
}
