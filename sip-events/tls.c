/** @file tls.c  OpenSSL 3 contexts for mutual TLS, and the peer's SIP identity.
 *
 * Keys travel only over mutually authenticated TLS 1.2+ (docs/protocol.md),
 * so both roles verify the peer against the configured CA, and a server
 * refuses a client without a certificate.  Identity comes from the
 * certificate's subjectAltName, as RFC 5922 7.1 asks: a SIP/SIPS URI first,
 * else a DNS name; the subject CN is never used.
 */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "sipev.h"

/* The failed part and OpenSSL's reasons ("certificate /etc/x.crt: no such
 * file (system library: No such file or directory)"), queue cleared. */
static void tls_why(char *why, size_t whylen, const char *part, const char *file)
{
    unsigned long e;
    size_t at;
    int n;

    if (!why || !whylen) {
        ERR_clear_error();
        return;
    }
    n = snprintf(why, whylen, "%s %s:", part, file ? file : "");
    at = n < 0 ? 0 : (size_t)n < whylen ? (size_t)n : whylen - 1;
    /* Earliest first: the root cause, then what it made fail. */
    while ((e = ERR_get_error()) != 0) {
        const char *r = ERR_reason_error_string(e), *lib = ERR_lib_error_string(e);
        char num[32];
        if (!r) {
            snprintf(num, sizeof(num), "error %d", ERR_GET_REASON(e));
            r = num;
        }
        if (ERR_SYSTEM_ERROR(e))
            lib = "system", r = strerror((int)ERR_GET_REASON(e));
        if (at + 1 < whylen) {
            n = snprintf(why + at, whylen - at, " %s%s%s%s;", r, lib ? " (" : "",
                         lib ? lib : "", lib ? ")" : "");
            at += n < 0 ? 0 : (size_t)n < whylen - at ? (size_t)n : whylen - at - 1;
        }
    }
    if (at > 0 && why[at - 1] == ';')
        why[at - 1] = '\0';
    else if (at > 0 && why[at - 1] == ':')
        snprintf(why + at - 1, whylen - at + 1, ": rejected");
}

/* Revocation policy for an expired CRL (docs/keyagent.md, "CRLs"): it is
 * still applied (every certificate it lists stays refused) but its age alone
 * refuses nobody.  Failing closed would turn a CRL published late into the
 * loss of every call's keys, while the stale list still names everything
 * revoked up to its issue; the operator is warned at each load and renews the
 * file in place, then SIGHUP.  Every other verification error stands. */
static int verify_cb(int ok, X509_STORE_CTX *x)
{
    if (!ok && X509_STORE_CTX_get_error(x) == X509_V_ERR_CRL_HAS_EXPIRED) {
        X509_STORE_CTX_set_error(x, X509_V_OK);
        return 1;
    }
    return ok;
}

/* Every CRL in the PEM file into the store; each one past its nextUpdate is
 * named in a warning.  A file with no CRL is an error (a typo must not turn
 * revocation checking into "everything is unknown"). */
static enum sr_err load_crl(SSL_CTX *ctx, const char *crl_file)
{
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    BIO *in = BIO_new_file(crl_file, "r");
    X509_CRL *crl;
    unsigned n = 0;
    enum sr_err err = SR_OK;

    if (!in)
        return SR_EIO;
    while ((crl = PEM_read_bio_X509_CRL(in, NULL, NULL, NULL)) != NULL) {
        const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);

        if (next && X509_cmp_current_time(next) < 0) {
            char issuer[256];
            X509_NAME_oneline(X509_CRL_get_issuer(crl), issuer, sizeof(issuer));
            log_warn("CRL %s (issuer %s) is past its nextUpdate: still applied, but renew it "
                     "and SIGHUP", crl_file, issuer);
        }
        if (X509_STORE_add_crl(store, crl) != 1)
            err = SR_ECRYPTO;
        X509_CRL_free(crl);
        n++;
    }
    ERR_clear_error(); /* the PEM reader ends on "no start line" */
    BIO_free(in);
    if (err || n == 0)
        return SR_ECRYPTO;
    /* Check the whole chain: a revoked intermediate must fail too. */
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    return SR_OK;
}

/* Certificate, key, then whether they are a pair: each failure named
 * apart (OpenSSL 3 already compares the key with the certificate when the
 * key is loaded, which is still a pair failure, not a bad key). */
static bool load_pair(SSL_CTX *ctx, const struct sipev_tls_cfg *cfg, char *why, size_t whylen)
{
    unsigned long e;

    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert_file) != 1) {
        tls_why(why, whylen, "certificate", cfg->cert_file);
        return false;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->key_file, SSL_FILETYPE_PEM) != 1) {
        e = ERR_peek_last_error();
        tls_why(why, whylen,
                ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH ? "key does not match certificate"
                                                                : "key",
                cfg->key_file);
        return false;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        tls_why(why, whylen, "key does not match certificate", cfg->key_file);
        return false;
    }
    return true;
}

enum sr_err sipev_tls_ctx_create(SSL_CTX **out, const struct sipev_tls_cfg *cfg, char *why,
                                 size_t whylen)
{
    SSL_CTX *ctx;
    enum sr_err err = SR_ECRYPTO;

    if (why && whylen)
        why[0] = '\0';
    if (!out || !cfg || !cfg->cert_file || !cfg->key_file || !cfg->ca_file)
        return SR_EINVAL;
    *out = NULL;
    ERR_clear_error();
    ctx = SSL_CTX_new(cfg->server ? TLS_server_method() : TLS_client_method());
    if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        /* TLS 1.2: forward secrecy and AEAD only (no CBC, no SHA-1 MAC, no
         * static RSA); TLS 1.3 suites are all of that already. */
        SSL_CTX_set_cipher_list(ctx, SIPEV_TLS12_CIPHERS) != 1) {
        tls_why(why, whylen, "context", "");
        goto fail;
    }
    /* Renegotiation and compression only add attack surface here. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* Key bodies arrive in the clear in OpenSSL's record buffer: cleansed
     * once read, not left until the next record overwrites them. */
    SSL_CTX_set_options(ctx, SSL_OP_CLEANSE_PLAINTEXT);
    /* conn.c writes from a buffer that may move between retries. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (!load_pair(ctx, cfg, why, whylen))
        goto fail;
    if (SSL_CTX_load_verify_locations(ctx, cfg->ca_file, NULL) != 1) {
        tls_why(why, whylen, "CA", cfg->ca_file);
        goto fail;
    }
    if (cfg->crl_file && cfg->crl_file[0]) {
        err = load_crl(ctx, cfg->crl_file);
        if (err) {
            tls_why(why, whylen, "CRL", cfg->crl_file);
            goto fail;
        }
        err = SR_ECRYPTO;
    }
    SSL_CTX_set_verify(ctx,
                       SSL_VERIFY_PEER | (cfg->server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                       verify_cb);
    SSL_CTX_set_verify_depth(ctx, 8);
    if (cfg->server) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->ca_file);
        if (!names) {
            tls_why(why, whylen, "CA (client CA names)", cfg->ca_file);
            goto fail;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
        /* No session resumption: every connection proves its certificate anew. */
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_num_tickets(ctx, 0);
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    }
    *out = ctx;
    return SR_OK;
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return err;
}

/* Split "sip:user@host;params" into scheme, user part and the rest (host and
 * beyond).  A DNS-name identity is all "rest". */
static void uri_parts(const char *s, struct slice *scheme, struct slice *user, struct slice *rest)
{
    const char *colon = strchr(s, ':');
    const char *at;

    *scheme = SLICE_NULL;
    *user = SLICE_NULL;
    if (colon && (strncasecmp(s, "sip:", 4) == 0 || strncasecmp(s, "sips:", 5) == 0)) {
        *scheme = slice_of(s, (size_t)(colon - s));
        s = colon + 1;
        at = strchr(s, '@');
        if (at) {
            *user = slice_of(s, (size_t)(at - s));
            s = at + 1;
        }
    }
    *rest = slice_cstr(s);
}

bool sipev_identity_eq(const char *a, const char *b)
{
    struct slice sa, ua, ra, sb, ub, rb;

    if (!a || !b)
        return false;
    uri_parts(a, &sa, &ua, &ra);
    uri_parts(b, &sb, &ub, &rb);
    return slice_eq_nocase(sa, sb) && slice_eq(ua, ub) && slice_eq_nocase(ra, rb);
}

/* An IA5String usable as an identity: no NUL, no controls, fits. */
static bool copy_ia5(const ASN1_IA5STRING *s, char *out, size_t outlen)
{
    const unsigned char *p = ASN1_STRING_get0_data(s);
    int n = ASN1_STRING_length(s);

    if (!p || n <= 0 || (size_t)n >= outlen)
        return false;
    for (int i = 0; i < n; i++)
        if (p[i] < 0x21 || p[i] > 0x7e)
            return false;
    memcpy(out, p, (size_t)n);
    out[n] = '\0';
    return true;
}

static bool is_sip_uri(const ASN1_IA5STRING *s)
{
    const unsigned char *p = ASN1_STRING_get0_data(s);
    int n = ASN1_STRING_length(s);

    if (!p)
        return false;
    return (n > 4 && strncasecmp((const char *)p, "sip:", 4) == 0) ||
           (n > 5 && strncasecmp((const char *)p, "sips:", 5) == 0);
}

enum sr_err sipev_tls_peer_identity(SSL *ssl, char *out, size_t outlen)
{
    X509 *cert;
    GENERAL_NAMES *names;
    enum sr_err err = SR_EAUTH;

    if (!ssl || !out || outlen == 0)
        return SR_EINVAL;
    out[0] = '\0';
    cert = SSL_get0_peer_certificate(ssl);
    if (!cert || SSL_get_verify_result(ssl) != X509_V_OK)
        return SR_EAUTH;
    names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    if (!names)
        return SR_EAUTH;
    for (int pass = 0; pass < 2 && err; pass++) {
        for (int i = 0; i < sk_GENERAL_NAME_num(names) && err; i++) {
            const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
            if (pass == 0 && gn->type == GEN_URI && is_sip_uri(gn->d.uniformResourceIdentifier) &&
                copy_ia5(gn->d.uniformResourceIdentifier, out, outlen))
                err = SR_OK;
            if (pass == 1 && gn->type == GEN_DNS && copy_ia5(gn->d.dNSName, out, outlen))
                err = SR_OK;
        }
    }
    GENERAL_NAMES_free(names);
    return err;
}
