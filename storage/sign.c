/** @file sign.c  Archive signatures (Ed25519, detached <id>.srec.sig) and the seal ledger.
 *
 * The recorder holds only recipients' public keys, so anyone with the same
 * certificates can write an archive that decrypts and verifies.  What such a
 * forger lacks is the recorder's signing key: each sealed archive's file
 * SHA-256 is signed with it, and the seal is recorded in a hash-chained
 * ledger (chainlog, tag SEAL1).  The signature is a file of its own, not in
 * the trailer: the trailer is inside the archive whose hash it would have to
 * cover, and a detached file leaves the archive format (and every reader of
 * older archives) unchanged.  docs/archive-format.md, "Signature file".
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "chainlog.h"
#include "log.h"
#include "stor.h"
#include "stor_priv.h"
#include "util.h"

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static const uint8_t sig_magic[8] = { 'S', 'R', 'E', 'C', 'S', 'I', 'G', '1' };
/* Domain separation: these bytes are never signed for anything else. */
static const char sig_context[] = "srtprec archive seal v1";

enum { PUB_LEN = 32, SIG_BYTES = 64, SIGNED_LEN = 8 + STOR_ID_LEN + 32 + 8 + PUB_LEN };

struct stor_signer {
    EVP_PKEY *pk;
    uint8_t pub[PUB_LEN];
    char key_id[STOR_KEY_ID_HEX];
};

static void key_id_of(const uint8_t pub[PUB_LEN], char out[STOR_KEY_ID_HEX])
{
    uint8_t h[32];
    unsigned hl = 0;

    EVP_Digest(pub, PUB_LEN, h, &hl, EVP_sha256(), NULL);
    sr_hex_encode(h, (STOR_KEY_ID_HEX - 1) / 2, out);
}

enum sr_err stor_signer_load(struct stor_signer **out, const char *key_file, const char **why)
{
    struct stor_signer *s = NULL;
    struct stat st;
    size_t pl = PUB_LEN;
    BIO *b = NULL;
    int fd;

    *out = NULL;
    fd = open(key_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || fstat(fd, &st) != 0) {
        *why = "cannot open signing key file";
        if (fd >= 0)
            close(fd);
        return SR_EIO;
    }
    /* A signing key others can read signs for them too. */
    if (st.st_mode & 077) {
        close(fd);
        *why = "signing key file is readable or writable by group or others (chmod 600)";
        return SR_EAUTH;
    }
    b = BIO_new_fd(fd, BIO_CLOSE);
    if (!b) {
        close(fd);
        return SR_ENOMEM;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        BIO_free(b);
        return SR_ENOMEM;
    }
    s->pk = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    ERR_clear_error();
    if (!s->pk) {
        free(s);
        *why = "signing key is not a PEM private key (or is passphrase-protected)";
        return SR_EPARSE;
    }
    if (!EVP_PKEY_is_a(s->pk, "ED25519") ||
        EVP_PKEY_get_raw_public_key(s->pk, s->pub, &pl) != 1 || pl != PUB_LEN) {
        stor_signer_free(s);
        *why = "signing key is not Ed25519";
        return SR_EUNSUPP;
    }
    key_id_of(s->pub, s->key_id);
    *out = s;
    return SR_OK;
}

void stor_signer_free(struct stor_signer *s)
{
    if (!s)
        return;
    EVP_PKEY_free(s->pk);
    free(s);
}

const char *stor_signer_key_id(const struct stor_signer *s)
{
    return s->key_id;
}

enum sr_err stor_file_sha256(const char *path, uint8_t out[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    enum sr_err err = SR_OK;
    uint8_t buf[65536];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        EVP_MD_CTX_free(md);
        return sr_err_from_errno(errno);
    }
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        err = SR_ECRYPTO;
        goto done;
    }
    while ((n = read(fd, buf, sizeof(buf))) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            err = sr_err_from_errno(errno);
            goto done;
        }
        EVP_DigestUpdate(md, buf, (size_t)n);
    }
    if (EVP_DigestFinal_ex(md, out, NULL) != 1)
        err = SR_ECRYPTO;
done:
    close(fd);
    EVP_MD_CTX_free(md);
    return err;
}

/* The bytes an Ed25519 signature covers: context string, then the record
 * without its signature. */
static bool signed_message(const uint8_t rec[SIGNED_LEN], uint8_t *msg, size_t *len)
{
    memcpy(msg, sig_context, sizeof(sig_context));
    memcpy(msg + sizeof(sig_context), rec, SIGNED_LEN);
    *len = sizeof(sig_context) + SIGNED_LEN;
    return true;
}

enum sr_err stor_sig_make(const struct stor_signer *s, const uint8_t id[STOR_ID_LEN],
                          const uint8_t sha[32], uint64_t sealed_wall_us,
                          uint8_t out[STOR_SIG_FILE_LEN])
{
    uint8_t msg[sizeof(sig_context) + SIGNED_LEN];
    size_t ml, sl = SIG_BYTES;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    enum sr_err err = SR_ECRYPTO;

    memcpy(out, sig_magic, 8);
    memcpy(out + 8, id, STOR_ID_LEN);
    memcpy(out + 8 + STOR_ID_LEN, sha, 32);
    put_be64(out + 8 + STOR_ID_LEN + 32, sealed_wall_us);
    memcpy(out + 8 + STOR_ID_LEN + 40, s->pub, PUB_LEN);
    signed_message(out, msg, &ml);
    if (md && EVP_DigestSignInit(md, NULL, NULL, NULL, s->pk) == 1 &&
        EVP_DigestSign(md, out + SIGNED_LEN, &sl, msg, ml) == 1 && sl == SIG_BYTES)
        err = SR_OK;
    EVP_MD_CTX_free(md);
    ERR_clear_error();
    return err;
}

bool stor_sig_parse(const uint8_t *p, size_t len, struct stor_sig *out)
{
    if (len != STOR_SIG_FILE_LEN || memcmp(p, sig_magic, 8) != 0)
        return false;
    memcpy(out->id, p + 8, STOR_ID_LEN);
    memcpy(out->sha, p + 8 + STOR_ID_LEN, 32);
    out->sealed_wall_us = get_be64(p + 8 + STOR_ID_LEN + 32);
    memcpy(out->pub, p + 8 + STOR_ID_LEN + 40, PUB_LEN);
    memcpy(out->sig, p + SIGNED_LEN, SIG_BYTES);
    key_id_of(out->pub, out->key_id);
    return true;
}

static bool sig_valid(const struct stor_sig *sg, EVP_PKEY *pub)
{
    uint8_t rec[SIGNED_LEN], msg[sizeof(sig_context) + SIGNED_LEN];
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    size_t ml;
    bool ok;

    memcpy(rec, sig_magic, 8);
    memcpy(rec + 8, sg->id, STOR_ID_LEN);
    memcpy(rec + 8 + STOR_ID_LEN, sg->sha, 32);
    put_be64(rec + 8 + STOR_ID_LEN + 32, sg->sealed_wall_us);
    memcpy(rec + 8 + STOR_ID_LEN + 40, sg->pub, PUB_LEN);
    signed_message(rec, msg, &ml);
    ok = md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, pub) == 1 &&
         EVP_DigestVerify(md, sg->sig, SIG_BYTES, msg, ml) == 1;
    EVP_MD_CTX_free(md);
    ERR_clear_error();
    return ok;
}

static enum sr_err write_all_sync(const char *path, const uint8_t *p, size_t len, bool sync)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    enum sr_err err = SR_OK;

    if (fd < 0)
        return sr_err_from_errno(errno);
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            err = n < 0 ? sr_err_from_errno(errno) : SR_EIO;
            break;
        }
        p += n;
        len -= (size_t)n;
    }
    if (!err && sync && fsync(fd) != 0)
        err = sr_err_from_errno(errno);
    if (close(fd) != 0 && !err)
        err = SR_EIO;
    return err;
}

enum sr_err stor_sig_write(const char *archive_path, const uint8_t sig[STOR_SIG_FILE_LEN],
                           bool sync)
{
    char tmp[4200], fin[4200];
    enum sr_err err;

    if ((size_t)snprintf(fin, sizeof(fin), "%s.sig", archive_path) >= sizeof(fin) ||
        (size_t)snprintf(tmp, sizeof(tmp), "%s.sig.tmp", archive_path) >= sizeof(tmp))
        return SR_ELIMIT;
    if ((err = write_all_sync(tmp, sig, STOR_SIG_FILE_LEN, sync)))
        return err;
    if (rename(tmp, fin) != 0) {
        err = sr_err_from_errno(errno);
        unlink(tmp);
    }
    return err;
}

/* A PEM public key, or a certificate carrying one. */
static EVP_PKEY *load_pub(const char *file)
{
    BIO *b = BIO_new_file(file, "r");
    EVP_PKEY *pk = NULL;
    X509 *x;

    if (!b)
        return NULL;
    pk = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
    if (!pk) {
        (void)BIO_reset(b);
        x = PEM_read_bio_X509(b, NULL, NULL, NULL);
        if (x)
            pk = X509_get_pubkey(x);
        X509_free(x);
    }
    BIO_free(b);
    ERR_clear_error();
    return pk;
}

enum sr_err stor_ledger_append(struct chainlog *cl, const char *id_hex, const uint8_t sha[32],
                               const char *key_id, uint64_t sealed_wall_us)
{
    char hex[65], when[24];
    struct chainlog_field f[4];

    sr_hex_encode(sha, 32, hex);
    snprintf(when, sizeof(when), "%llu", (unsigned long long)sealed_wall_us);
    f[0] = (struct chainlog_field){ "id", id_hex };
    f[1] = (struct chainlog_field){ "sha256", hex };
    f[2] = (struct chainlog_field){ "key", key_id };
    f[3] = (struct chainlog_field){ "sealed_us", when };
    return chainlog_append(cl, sealed_wall_us, f, 4);
}

static bool field(const struct chainlog_record *r, const char *name, char *out, size_t outlen)
{
    size_t used;
    for (size_t i = 0; i < r->n_fields; i++)
        if (slice_eq(r->name[i], slice_cstr(name)))
            return chainlog_value_decode(r->value[i], out, outlen, &used);
    return false;
}

enum sr_err stor_ledger_find(const char *ledger, const char *id_hex, const char *file_sha_hex,
                             struct stor_ledger_hit *hit, const char **why)
{
    struct chainlog_verdict v;
    enum sr_err err;
    char line[CHAINLOG_LINE_MAX + 1];
    FILE *f;

    memset(hit, 0, sizeof(*hit));
    err = chainlog_verify(ledger, STOR_LEDGER_TAG, NULL, &v);
    if (err == SR_EIO && access(ledger, F_OK) != 0 && errno == ENOENT)
        return SR_ENOTFOUND; /* no seal yet: an empty ledger */
    if (err) {
        *why = v.why && *v.why ? v.why : "cannot read the seal ledger";
        return err;
    }
    /* Verified above, read again here: a line appended in between is
     * whole (one write per record) and only adds seals. */
    f = fopen(ledger, "r");
    if (!f) {
        *why = "cannot read the seal ledger";
        return SR_EIO;
    }
    while (fgets(line, sizeof(line), f)) {
        struct chainlog_record r;
        const char *pw;
        char id[STOR_ID_HEX], sha[65];
        size_t n = strlen(line);
        if (n && line[n - 1] == '\n')
            line[--n] = 0;
        if (!chainlog_line_parse(slice_of(line, n), &r, &pw) || !field(&r, "id", id, sizeof(id)) ||
            !field(&r, "sha256", sha, sizeof(sha)))
            continue;
        if (strcmp(id, id_hex) == 0) {
            memcpy(hit->sha_hex, sha, sizeof(sha)); /* the last seal of an id wins */
            hit->found = true;
        }
        if (file_sha_hex && strcmp(sha, file_sha_hex) == 0)
            memcpy(hit->other_id, id, sizeof(id));
    }
    fclose(f);
    return SR_OK;
}

enum sr_err stor_ledger_each(const char *ledger, stor_seal_fn *fn, void *arg, const char **why)
{
    struct chainlog_verdict v;
    char line[CHAINLOG_LINE_MAX + 1];
    enum sr_err err = chainlog_verify(ledger, STOR_LEDGER_TAG, NULL, &v);
    FILE *f;

    if (err) {
        *why = v.why && *v.why ? v.why : "cannot read the seal ledger";
        return err;
    }
    f = fopen(ledger, "r");
    if (!f) {
        *why = "cannot read the seal ledger";
        return SR_EIO;
    }
    while (fgets(line, sizeof(line), f)) {
        struct chainlog_record r;
        const char *pw;
        char id[STOR_ID_HEX], sha[65];
        size_t n = strlen(line);
        if (n && line[n - 1] == '\n')
            line[--n] = 0;
        if (chainlog_line_parse(slice_of(line, n), &r, &pw) && field(&r, "id", id, sizeof(id)) &&
            field(&r, "sha256", sha, sizeof(sha)) && !fn(id, sha, arg))
            break;
    }
    fclose(f);
    return SR_OK;
}

const char *stor_authn_name(enum stor_authn a)
{
    switch (a) {
    case STOR_AUTHN_OK: return "authentic";
    case STOR_AUTHN_UNSIGNED: return "unsigned";
    case STOR_AUTHN_FORGED: return "forged";
    case STOR_AUTHN_SWAPPED: return "swapped";
    case STOR_AUTHN_DELETED: return "deleted";
    case STOR_AUTHN_ERROR: break;
    }
    return "error";
}

static enum stor_authn say(char *msg, size_t len, enum stor_authn a, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static enum stor_authn say(char *msg, size_t len, enum stor_authn a, const char *fmt, ...)
{
    static const char *const verdict[] = { "AUTHENTIC", "UNSIGNED", "FORGED",
                                           "SWAPPED",   "DELETED",  "ERROR" };
    va_list ap;
    int n = snprintf(msg, len, "%s: ", verdict[a]);

    if (n < 0 || (size_t)n >= len)
        return a;
    va_start(ap, fmt);
    vsnprintf(msg + n, len - (size_t)n, fmt, ap);
    va_end(ap);
    return a;
}

/* The archive id from the file's header (offset 16), as hex. */
static bool header_id(const char *path, char out[STOR_ID_HEX])
{
    uint8_t h[32];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    bool ok = fd >= 0 && pread(fd, h, sizeof(h), 0) == (ssize_t)sizeof(h);

    if (fd >= 0)
        close(fd);
    if (ok)
        sr_hex_encode(h + 16, STOR_ID_LEN, out);
    return ok;
}

/* A trusted signer's raw Ed25519 public key, from a PEM key or certificate. */
static bool trusted_pub(const char *file, uint8_t out[PUB_LEN])
{
    EVP_PKEY *pk = load_pub(file);
    size_t l = PUB_LEN;
    bool ok = pk && EVP_PKEY_is_a(pk, "ED25519") &&
              EVP_PKEY_get_raw_public_key(pk, out, &l) == 1 && l == PUB_LEN;

    EVP_PKEY_free(pk);
    ERR_clear_error();
    return ok;
}

static enum stor_authn read_sig(const char *path, struct stor_sig *sg, bool *absent)
{
    char sigpath[4200];
    uint8_t raw[STOR_SIG_FILE_LEN + 1];
    ssize_t n;
    int fd;

    *absent = false;
    if ((size_t)snprintf(sigpath, sizeof(sigpath), "%s.sig", path) >= sizeof(sigpath))
        return STOR_AUTHN_ERROR;
    fd = open(sigpath, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *absent = errno == ENOENT;
        return *absent ? STOR_AUTHN_UNSIGNED : STOR_AUTHN_ERROR;
    }
    n = read(fd, raw, sizeof(raw));
    close(fd);
    if (n < 0 || !stor_sig_parse(raw, (size_t)n, sg))
        return STOR_AUTHN_FORGED;
    return STOR_AUTHN_OK;
}

/* Whether <dir of path>/<id>.srec.sig is the trusted key's valid signature
 * of these bytes (file_hex) under id: the file is then id's genuine
 * archive, moved. */
static bool signed_beside(const char *path, const char *id, const char *file_hex,
                          const uint8_t tpub[PUB_LEN])
{
    const char *slash = strrchr(path, '/');
    char other[4200], hex[65], sid[STOR_ID_HEX];
    struct stor_sig sg;
    EVP_PKEY *pub;
    bool absent, ok;

    if ((size_t)snprintf(other, sizeof(other), "%.*s%s.srec", slash ? (int)(slash - path + 1) : 0,
                         path, id) >= sizeof(other) ||
        read_sig(other, &sg, &absent) != STOR_AUTHN_OK || memcmp(sg.pub, tpub, PUB_LEN) != 0)
        return false;
    sr_hex_encode(sg.sha, 32, hex);
    sr_hex_encode(sg.id, STOR_ID_LEN, sid);
    if (strcmp(hex, file_hex) != 0 || strcmp(sid, id) != 0)
        return false;
    pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, tpub, PUB_LEN);
    ok = pub && sig_valid(&sg, pub);
    EVP_PKEY_free(pub);
    ERR_clear_error();
    return ok;
}

/* The order matters: whether the recorder signed these bytes at all comes
 * first (forged), then whether they are the recording asked for (swapped),
 * so that a forgery is never reported as a mere swap. */
/* Whether sg is a valid signature by the key in signer_pub (whose raw key
 * goes to tpub): STOR_AUTHN_OK, else ERROR (no key) or FORGED, said in msg. */
static enum stor_authn by_trusted_key(const struct stor_sig *sg, const char *signer_pub,
                                      uint8_t tpub[PUB_LEN], char *msg, size_t msglen)
{
    EVP_PKEY *pub;
    bool ok;

    if (!signer_pub || !trusted_pub(signer_pub, tpub))
        return say(msg, msglen, STOR_AUTHN_ERROR,
                   "cannot load the recorder's signing certificate %s (Ed25519)",
                   signer_pub ? signer_pub : "(none given)");
    if (memcmp(tpub, sg->pub, PUB_LEN) != 0) {
        char tid[STOR_KEY_ID_HEX];
        key_id_of(tpub, tid);
        return say(msg, msglen, STOR_AUTHN_FORGED,
                   "signed by key %s, not by the recorder's key %s", sg->key_id, tid);
    }
    pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, tpub, PUB_LEN);
    ok = pub && sig_valid(sg, pub);
    EVP_PKEY_free(pub);
    ERR_clear_error();
    if (!ok)
        return say(msg, msglen, STOR_AUTHN_FORGED,
                   "the signature does not verify with the recorder's key");
    return STOR_AUTHN_OK;
}

enum stor_authn stor_sig_check(const uint8_t *sig, size_t len, const char *signer_pub,
                               const char *id, const char *sha256_hex, char *msg, size_t msglen)
{
    char sig_hex[65], sid[STOR_ID_HEX];
    uint8_t tpub[PUB_LEN];
    struct stor_sig sg;
    enum stor_authn a;

    if (!sig)
        return sha256_hex && *sha256_hex
                   ? say(msg, msglen, STOR_AUTHN_FORGED,
                         "signature stripped: no signature beside the archive, but the index "
                         "records the seal of %s", id)
                   : say(msg, msglen, STOR_AUTHN_UNSIGNED, "no signature and no recorded seal");
    if (!stor_sig_parse(sig, len, &sg))
        return say(msg, msglen, STOR_AUTHN_FORGED, "the signature is malformed");
    if ((a = by_trusted_key(&sg, signer_pub, tpub, msg, msglen)) != STOR_AUTHN_OK)
        return a;
    sr_hex_encode(sg.sha, 32, sig_hex);
    sr_hex_encode(sg.id, STOR_ID_LEN, sid);
    if (strcmp(sid, id) != 0)
        return say(msg, msglen, STOR_AUTHN_SWAPPED,
                   "a genuine signature of recording %s, under the name of %s", sid, id);
    if (!sha256_hex || strcmp(sig_hex, sha256_hex) != 0)
        return say(msg, msglen, STOR_AUTHN_FORGED,
                   "the recorder signed SHA-256 %s, the index records %s", sig_hex,
                   sha256_hex && *sha256_hex ? sha256_hex : "none");
    return say(msg, msglen, STOR_AUTHN_OK, "signed by %s, sha256 %s", sg.key_id, sig_hex);
}

enum stor_authn stor_archive_check(const char *path, const struct stor_check_cfg *c,
                                   char *msg, size_t msglen)
{
    char file_hex[65], sig_hex[65], hid[STOR_ID_HEX], sid[STOR_ID_HEX], name_id[STOR_ID_HEX] = "";
    const char *why = NULL, *base, *dot, *where;
    uint8_t sha[32], tpub[PUB_LEN];
    struct stor_ledger_hit led = { 0 };
    struct stor_sig sg;
    bool recorded, absent, gone;
    enum stor_authn a;
    enum sr_err err;

    /* What the file name says the recording is. */
    base = strrchr(path, '/');
    base = base ? base + 1 : path;
    dot = strchr(base, '.');
    if (dot && dot - base == STOR_ID_HEX - 1)
        memcpy(name_id, base, STOR_ID_HEX - 1), name_id[STOR_ID_HEX - 1] = 0;
    if (c->id && *c->id)
        snprintf(name_id, sizeof(name_id), "%s", c->id);

    errno = 0;
    err = stor_file_sha256(path, sha);
    gone = err && errno == ENOENT;
    if (err && !gone)
        return say(msg, msglen, STOR_AUTHN_ERROR, "cannot read %s: %s", path, sr_strerror(err));
    if (!gone)
        sr_hex_encode(sha, 32, file_hex);
    if (c->ledger && *name_id) {
        err = stor_ledger_find(c->ledger, name_id, gone ? NULL : file_hex, &led, &why);
        if (err && err != SR_ENOTFOUND)
            return say(msg, msglen, STOR_AUTHN_ERROR, "seal ledger %s: %s", c->ledger, why);
    }
    recorded = (c->expected_sha256 && *c->expected_sha256) || led.found;
    where = led.found ? "the seal ledger" : c->expected_from ? c->expected_from : "the index";
    if (gone)
        return recorded ? say(msg, msglen, STOR_AUTHN_DELETED,
                              "archive %s is gone, but %s records its seal", name_id, where)
                        : say(msg, msglen, STOR_AUTHN_ERROR, "cannot read %s: no such file",
                              path);
    if (!header_id(path, hid))
        return say(msg, msglen, STOR_AUTHN_FORGED, "%s has no archive header", path);

    a = read_sig(path, &sg, &absent);
    if (a == STOR_AUTHN_ERROR)
        return say(msg, msglen, a, "cannot read %s.sig", path);
    if (a == STOR_AUTHN_UNSIGNED)
        /* A forger would rather drop a signature than fail it: an archive
         * whose seal is recorded had one. */
        return recorded ? say(msg, msglen, STOR_AUTHN_FORGED,
                              "signature stripped: %s.sig is missing, but %s records the seal "
                              "of %s", path, where, name_id)
                        : say(msg, msglen, STOR_AUTHN_UNSIGNED,
                              "no signature and no recorded seal (written before archives were "
                              "signed, closed by crash recovery, or not by a signing recorder)");
    if (a == STOR_AUTHN_FORGED)
        return say(msg, msglen, a, "signature file %s.sig is malformed", path);
    if ((a = by_trusted_key(&sg, c->signer_pub, tpub, msg, msglen)) != STOR_AUTHN_OK)
        return a;
    sr_hex_encode(sg.sha, 32, sig_hex);
    sr_hex_encode(sg.id, STOR_ID_LEN, sid);
    if (strcmp(sig_hex, file_hex) != 0) {
        /* The bytes are not the ones signed for this name; another
         * recording's genuine archive put here is a swap, anything else
         * a forgery or a change. */
        if (led.other_id[0] && strcmp(led.other_id, name_id) != 0)
            return say(msg, msglen, STOR_AUTHN_SWAPPED,
                       "the file is the sealed archive of recording %s (per the seal ledger), "
                       "not %s", led.other_id, name_id);
        if (strcmp(hid, name_id) != 0 && signed_beside(path, hid, file_hex, tpub))
            return say(msg, msglen, STOR_AUTHN_SWAPPED,
                       "the file is the sealed archive of recording %s (its own signature "
                       "says so), not %s", hid, name_id);
        return say(msg, msglen, STOR_AUTHN_FORGED,
                   "bytes changed since the seal: SHA-256 %s, the recorder signed %s", file_hex,
                   sig_hex);
    }
    if (strcmp(sid, hid) != 0)
        return say(msg, msglen, STOR_AUTHN_FORGED,
                   "the signature names recording %s, the archive header %s", sid, hid);
    if (*name_id && strcmp(sid, name_id) != 0)
        return say(msg, msglen, STOR_AUTHN_SWAPPED,
                   "a genuine archive of recording %s, under the name of %s", sid, name_id);
    if (c->expected_sha256 && *c->expected_sha256 && strcmp(c->expected_sha256, file_hex) != 0)
        return say(msg, msglen, STOR_AUTHN_SWAPPED, "SHA-256 %s is not the one %s records (%s)",
                   file_hex, c->expected_from ? c->expected_from : "the index",
                   c->expected_sha256);
    if (c->ledger && !led.found)
        return say(msg, msglen, STOR_AUTHN_FORGED,
                   "signed, but the seal ledger has no record of %s (the signing key was used "
                   "outside the recorder, or the ledger lost lines)", sid);
    if (led.found && strcmp(led.sha_hex, file_hex) != 0)
        return say(msg, msglen, STOR_AUTHN_SWAPPED,
                   "SHA-256 %s is not the one the seal ledger records (%s)", file_hex,
                   led.sha_hex);
    return say(msg, msglen, STOR_AUTHN_OK, "signed by %s, sha256 %s%s", sg.key_id, file_hex,
               c->ledger ? ", in the seal ledger" : "");
}
